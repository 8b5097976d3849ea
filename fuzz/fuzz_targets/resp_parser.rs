//! Feeds arbitrary bytes to the RESP request parser, cut into chunks, as
//! a socket would deliver them. The parser must never panic, must never
//! hand back a command without consuming input, and, once it reports a
//! protocol error, the connection is closed (we stop feeding).
//!
//! Input layout: byte 0 picks the limits (bit 0: authenticated; bit 1: a
//! small proto-max-bulk-len), byte 1 seeds the chunk sizes, the rest is
//! the stream.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use strata::resp::{Limits, Parser};

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let limits = Limits {
        max_bulk: if data[0] & 2 != 0 {
            64
        } else {
            512 * 1024 * 1024
        },
        authenticated: data[0] & 1 != 0,
    };
    let mut seed = u32::from(data[1]) | 1;
    let stream = &data[2..];
    let mut parser = Parser::new();
    let mut buf = BytesMut::new();
    let mut at = 0;
    while at < stream.len() {
        // xorshift chunk sizes of 1..=32 bytes
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        let n = (seed as usize % 32 + 1).min(stream.len() - at);
        buf.extend_from_slice(&stream[at..at + n]);
        at += n;
        loop {
            let before = buf.len();
            match parser.next(&mut buf, limits) {
                Ok(Some(args)) => {
                    assert!(buf.len() < before, "command out of no input");
                    assert!(!args.is_empty(), "empty command returned");
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
    let _ = parser.pending_bytes();
});
