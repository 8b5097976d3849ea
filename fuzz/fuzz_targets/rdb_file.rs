//! The dump.rdb reader on arbitrary bytes: errors are fine, panics and
//! unbounded allocations are not.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_storage::rdb::file::{RdbFileReader, RdbItem};

fuzz_target!(|data: &[u8]| {
    let mut input = b"REDIS0010".to_vec();
    input.extend_from_slice(data);
    let Ok(mut r) = RdbFileReader::new(&input) else { return };
    for _ in 0..100_000 {
        match r.next_item() {
            Ok(RdbItem::Eof) | Err(_) => return,
            Ok(_) => {}
        }
    }
});
