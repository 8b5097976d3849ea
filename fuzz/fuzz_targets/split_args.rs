//! `split_args` (Redis's sdssplitargs: inline commands, config lines)
//! must never panic, and whatever it returns must survive a round trip:
//! re-quoting every word with `\xHH` escapes and splitting again gives the
//! same words.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata::resp::split_args;

fuzz_target!(|data: &[u8]| {
    let Some(words) = split_args(data) else {
        return;
    };
    let mut line = Vec::new();
    for w in &words {
        line.push(b'"');
        for b in w {
            line.extend_from_slice(format!("\\x{b:02x}").as_bytes());
        }
        line.extend_from_slice(b"\" ");
    }
    assert_eq!(split_args(&line), Some(words));
});
