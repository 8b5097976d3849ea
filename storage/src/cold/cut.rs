//! The cut file of a cold-tier checkpoint (`strata-cut`, drawn byte by
//! byte in `docs/formats/checkpoint.md`).
//!
//! A checkpoint of the cold tier is a copy of the store taken at the same
//! instant as the hot-tier image (both under the state lock). The store's
//! copy cannot say how many keys each database holds, nor which of its
//! records belong to spills that were still in flight at that instant
//! (written, maybe, but not yet committed: the value was still in memory
//! and so is in the hot image). The cut file says both.

use bytes::Bytes;

use super::ColdError;

/// File name of the cut inside a checkpoint directory.
pub const CUT_FILE: &str = "strata-cut";
const MAGIC: &[u8; 8] = b"STRACUT1";

/// One database at the cut.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DbCut {
    /// Database index (what SELECT names).
    pub index: u32,
    /// The database's id in the store's keys (moves with SWAPDB).
    pub id: u16,
    /// Records in the store for this id (cold keys and shadowed records).
    pub keys: u64,
    /// Of which with a deadline.
    pub expires: u64,
    /// Keys whose spill was in flight: any record of theirs is stale.
    pub in_flight: Vec<Bytes>,
}

/// Encodes a cut (little-endian, trailed by an XXH3-64 of everything
/// before it).
pub fn encode(dbs: &[DbCut]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(dbs.len() as u32).to_le_bytes());
    for d in dbs {
        out.extend_from_slice(&d.index.to_le_bytes());
        out.extend_from_slice(&d.id.to_le_bytes());
        out.extend_from_slice(&d.keys.to_le_bytes());
        out.extend_from_slice(&d.expires.to_le_bytes());
        out.extend_from_slice(&(d.in_flight.len() as u32).to_le_bytes());
        for k in &d.in_flight {
            out.extend_from_slice(&(k.len() as u32).to_le_bytes());
            out.extend_from_slice(k);
        }
    }
    let sum = xxhash_rust::xxh3::xxh3_64(&out);
    out.extend_from_slice(&sum.to_le_bytes());
    out
}

struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], ColdError> {
        if self.data.len() - self.at < n {
            return Err(ColdError(format!(
                "truncated at offset {} reading {what}",
                self.at
            )));
        }
        let s = &self.data[self.at..self.at + n];
        self.at += n;
        Ok(s)
    }

    fn u16(&mut self, what: &str) -> Result<u16, ColdError> {
        let b = self.take(2, what)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self, what: &str) -> Result<u32, ColdError> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self, what: &str) -> Result<u64, ColdError> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
}

/// Decodes a cut. Errors name the byte offset.
pub fn decode(data: &[u8]) -> Result<Vec<DbCut>, ColdError> {
    if data.len() < MAGIC.len() + 4 + 8 || &data[..MAGIC.len()] != MAGIC {
        return Err(ColdError("bad magic at offset 0 (not a cut file)".into()));
    }
    let body = &data[..data.len() - 8];
    let mut sum = [0u8; 8];
    sum.copy_from_slice(&data[data.len() - 8..]);
    if xxhash_rust::xxh3::xxh3_64(body) != u64::from_le_bytes(sum) {
        return Err(ColdError(format!(
            "checksum mismatch (checksum at offset {})",
            body.len()
        )));
    }
    let mut r = Reader {
        data: body,
        at: MAGIC.len(),
    };
    let n = r.u32("database count")? as usize;
    // Each database takes at least 26 bytes: bound the count first.
    if n > body.len() / 26 {
        return Err(ColdError(format!(
            "database count {n} too large at offset 8"
        )));
    }
    let mut dbs = Vec::with_capacity(n);
    for _ in 0..n {
        let index = r.u32("database index")?;
        let id = r.u16("database id")?;
        let keys = r.u64("key count")?;
        let expires = r.u64("expire count")?;
        let m = r.u32("in-flight count")? as usize;
        if m > (body.len() - r.at) / 4 {
            return Err(ColdError(format!(
                "in-flight count {m} too large at offset {}",
                r.at - 4
            )));
        }
        let mut in_flight = Vec::with_capacity(m);
        for _ in 0..m {
            let len = r.u32("key length")? as usize;
            in_flight.push(Bytes::copy_from_slice(r.take(len, "key")?));
        }
        dbs.push(DbCut {
            index,
            id,
            keys,
            expires,
            in_flight,
        });
    }
    if r.at != body.len() {
        return Err(ColdError(format!(
            "{} stray bytes at offset {}",
            body.len() - r.at,
            r.at
        )));
    }
    Ok(dbs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_every_corruption_is_an_error() {
        let dbs = vec![
            DbCut {
                index: 0,
                id: 3,
                keys: 10,
                expires: 2,
                in_flight: vec![Bytes::from_static(b"k1"), Bytes::from_static(b"")],
            },
            DbCut {
                index: 3,
                id: 0,
                ..Default::default()
            },
        ];
        let enc = encode(&dbs);
        assert_eq!(decode(&enc).expect("decode"), dbs);
        for cut in 0..enc.len() {
            assert!(decode(&enc[..cut]).is_err(), "truncated at {cut}");
        }
        for i in 0..enc.len() {
            let mut bad = enc.clone();
            bad[i] ^= 0x10;
            assert!(decode(&bad).is_err(), "bit flip at {i}");
        }
    }
}
