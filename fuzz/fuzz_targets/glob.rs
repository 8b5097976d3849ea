//! The glob matcher (KEYS, SCAN MATCH, PSUBSCRIBE, CONFIG GET) must never
//! panic and never take super-linear stack: input is
//! `<flags byte><pattern>\0<subject>`; bit 0 of flags is nocase.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_storage::glob::glob_match;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let (pattern, subject) = match rest.iter().position(|&b| b == 0) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &b""[..]),
    };
    let nocase = flags & 1 != 0;
    let m = glob_match(pattern, subject, nocase);
    // A pattern always matches itself once its special bytes are escaped.
    let mut escaped = Vec::with_capacity(subject.len() * 2);
    for &b in subject {
        if matches!(b, b'*' | b'?' | b'[' | b']' | b'\\') {
            escaped.push(b'\\');
        }
        escaped.push(b);
    }
    if !subject.is_empty() {
        assert!(glob_match(&escaped, subject, nocase), "escaped literal");
    }
    let _ = m;
});
