//! Cold-tier records come back from disk: a damaged record must be
//! refused (header, zstd frame, payload checks) and never panic; one that
//! passes must rebuild into a value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_storage::cold::decode_record;
use strata_storage::rdb::convert::{self, Limits};
use strata_storage::rdb::restore_payload;

fuzz_target!(|data: &[u8]| {
    let Ok(rec) = decode_record(data) else { return };
    let _ = rec.with_expire(Some(1));
    let Ok(payload) = rec.payload(strata_storage::cold::Dictionaries::empty()) else {
        return;
    };
    let Ok(v) = restore_payload(&payload) else {
        return;
    };
    let _ = convert::from_rdb(v, Limits::default());
});
