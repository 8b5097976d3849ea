//! The AOF scanner (startup loading and strata-check-aof) must never panic
//! on any file, must stop within the input, and must report a cut point
//! that rescans cleanly; the manifest parser must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata::aof::format::scan;
use strata::aof::manifest::Manifest;

fuzz_target!(|data: &[u8]| {
    let _ = Manifest::parse(data);
    let Ok(s) = scan(data, |argv, offset| {
        assert!(!argv.is_empty() && offset < data.len());
        Ok(())
    }) else {
        return;
    };
    assert!(s.valid_up_to <= data.len());
    if s.problem.as_ref().is_some_and(|p| p.kind.is_torn()) {
        // What a torn tail is cut back to must load without a problem.
        let again = scan(&data[..s.valid_up_to], |_, _| Ok(())).expect("rescan");
        assert!(again.problem.is_none(), "{:?}", again.problem);
        assert_eq!(again.commands, s.commands);
    }
});
