//! RESTORE payloads are attacker-controlled bytes parsed as RDB objects:
//! decoding must never panic, and whatever decodes must rebuild into a
//! value and re-encode to a payload that decodes to the same contents.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_storage::rdb::convert::{self, Limits};
use strata_storage::rdb::{crc64, restore_payload, RDB_VERSION};

fuzz_target!(|data: &[u8]| {
    // Fuzz the object body: wrap it in a valid footer so the checksum
    // does not reject almost every input.
    let mut p = data.to_vec();
    p.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64::crc64(0, &p);
    p.extend_from_slice(&crc.to_le_bytes());
    let Ok(v) = restore_payload(&p) else { return };
    let Some(value) = convert::from_rdb(v, Limits::default()) else { return };
    let again = convert::dump(&value);
    assert!(restore_payload(&again).is_ok(), "re-encoded payload must decode");
});
