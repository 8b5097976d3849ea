//! Hash values: Redis 7.0's two encodings.
//!
//! * `listpack`: one contiguous byte buffer of alternating field and value
//!   entries, searched linearly. Used while the hash has at most
//!   `hash-max-listpack-entries` fields and every field and value is at
//!   most `hash-max-listpack-value` bytes. Canonical integers are stored as
//!   integers (1 to 9 bytes), other strings with a 1, 5 or 9 byte length
//!   header, so a small hash costs about what Redis's listpack costs.
//! * `hashtable`: a [`Dict`] (SCAN cursor contract, random sampling).
//!
//! As in Redis, a hash converts from listpack to hashtable when a limit is
//! exceeded and never converts back. The limits are parameters
//! ([`HashLimits`]) so the server passes its live configuration.

use bytes::Bytes;
use rand::Rng;

use crate::dict::Dict;
use crate::num::parse_i64;

/// One element read from a compact encoding: either bytes or an integer
/// stored as such (formatting it gives back the exact original bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Elem<'a> {
    Str(&'a [u8]),
    Int(i64),
}

impl Elem<'_> {
    /// The element as an owned, independent byte string.
    pub fn to_bytes(&self) -> Bytes {
        match *self {
            Elem::Str(s) => Bytes::copy_from_slice(s),
            Elem::Int(i) => Bytes::from(crate::num::format_i64(i)),
        }
    }

    pub fn to_vec(&self) -> Vec<u8> {
        match *self {
            Elem::Str(s) => s.to_vec(),
            Elem::Int(i) => crate::num::format_i64(i),
        }
    }

    /// Length of the element's string form.
    pub fn len(&self) -> usize {
        match *self {
            Elem::Str(s) => s.len(),
            Elem::Int(i) => itoa::Buffer::new().format(i).len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Compares with `bytes`, whose integer reading (`parse_i64`) is
    /// `as_int`.
    fn matches(&self, bytes: &[u8], as_int: Option<i64>) -> bool {
        match *self {
            Elem::Str(s) => s == bytes,
            Elem::Int(i) => as_int == Some(i),
        }
    }

    /// The integer value if the element is a canonical integer.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Elem::Str(s) => parse_i64(s),
            Elem::Int(i) => Some(i),
        }
    }
}

// Entry encoding of the compact buffer (first byte):
const STR_SMALL_MAX: u8 = 0xBF; // 0..=191: string of that length
const INT_SMALL_BASE: u8 = 0xC0; // 0xC0..=0xEF: integer 0..=47
const INT_SMALL_MAX: i64 = 47;
const INT16: u8 = 0xF0;
const INT32: u8 = 0xF1;
const INT64: u8 = 0xF2;
const STR32: u8 = 0xF3;
const STR64: u8 = 0xF4;

/// Appends the encoding of `s` to `out`.
fn encode_into(out: &mut Vec<u8>, s: &[u8]) {
    if s.len() <= 20 {
        if let Some(i) = parse_i64(s) {
            if (0..=INT_SMALL_MAX).contains(&i) {
                out.push(INT_SMALL_BASE + i as u8);
            } else if let Ok(v) = i16::try_from(i) {
                out.push(INT16);
                out.extend_from_slice(&v.to_le_bytes());
            } else if let Ok(v) = i32::try_from(i) {
                out.push(INT32);
                out.extend_from_slice(&v.to_le_bytes());
            } else {
                out.push(INT64);
                out.extend_from_slice(&i.to_le_bytes());
            }
            return;
        }
    }
    if s.len() <= STR_SMALL_MAX as usize {
        out.push(s.len() as u8);
    } else if let Ok(n) = u32::try_from(s.len()) {
        out.push(STR32);
        out.extend_from_slice(&n.to_le_bytes());
    } else {
        out.push(STR64);
        out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    }
    out.extend_from_slice(s);
}

fn encoded_len(s: &[u8]) -> usize {
    if s.len() <= 20 {
        if let Some(i) = parse_i64(s) {
            return if (0..=INT_SMALL_MAX).contains(&i) {
                1
            } else if i16::try_from(i).is_ok() {
                3
            } else if i32::try_from(i).is_ok() {
                5
            } else {
                9
            };
        }
    }
    if s.len() <= STR_SMALL_MAX as usize {
        1 + s.len()
    } else if u32::try_from(s.len()).is_ok() {
        5 + s.len()
    } else {
        9 + s.len()
    }
}

fn read_array<const N: usize>(buf: &[u8], pos: usize) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&buf[pos..pos + N]);
    a
}

/// Decodes the entry at `pos`; returns it and the position after it.
/// The buffer is only ever written by [`encode_into`], so it is well formed.
fn decode_at(buf: &[u8], pos: usize) -> (Elem<'_>, usize) {
    let h = buf[pos];
    match h {
        0..=STR_SMALL_MAX => {
            let start = pos + 1;
            let end = start + h as usize;
            (Elem::Str(&buf[start..end]), end)
        }
        INT16 => (
            Elem::Int(i64::from(i16::from_le_bytes(read_array(buf, pos + 1)))),
            pos + 3,
        ),
        INT32 => (
            Elem::Int(i64::from(i32::from_le_bytes(read_array(buf, pos + 1)))),
            pos + 5,
        ),
        INT64 => (
            Elem::Int(i64::from_le_bytes(read_array(buf, pos + 1))),
            pos + 9,
        ),
        STR32 => {
            let n = u32::from_le_bytes(read_array(buf, pos + 1)) as usize;
            let start = pos + 5;
            (Elem::Str(&buf[start..start + n]), start + n)
        }
        STR64 => {
            let n = u64::from_le_bytes(read_array(buf, pos + 1)) as usize;
            let start = pos + 9;
            (Elem::Str(&buf[start..start + n]), start + n)
        }
        _ => (Elem::Int(i64::from(h - INT_SMALL_BASE)), pos + 1),
    }
}

/// A compact sequence of (field, value) pairs in one buffer.
#[derive(Clone, Default)]
pub struct Listpack {
    buf: Vec<u8>,
    pairs: u32,
}

/// Location of one pair inside a [`Listpack`].
struct PairPos {
    start: usize,
    value: usize,
    end: usize,
}

impl Listpack {
    pub fn len(&self) -> usize {
        self.pairs as usize
    }

    pub fn is_empty(&self) -> bool {
        self.pairs == 0
    }

    /// Bytes of the buffer (memory figures).
    pub fn bytes(&self) -> usize {
        self.buf.capacity()
    }

    fn find(&self, field: &[u8]) -> Option<PairPos> {
        let as_int = if field.len() <= 20 {
            parse_i64(field)
        } else {
            None
        };
        let mut pos = 0;
        while pos < self.buf.len() {
            let (f, vpos) = decode_at(&self.buf, pos);
            let (_, end) = decode_at(&self.buf, vpos);
            if f.matches(field, as_int) {
                return Some(PairPos {
                    start: pos,
                    value: vpos,
                    end,
                });
            }
            pos = end;
        }
        None
    }

    pub fn get(&self, field: &[u8]) -> Option<Elem<'_>> {
        let p = self.find(field)?;
        Some(decode_at(&self.buf, p.value).0)
    }

    /// Replaces `range` of the buffer with `with`, keeping the allocation
    /// exact (as a listpack reallocation would).
    fn splice(&mut self, range: std::ops::Range<usize>, with: &[u8]) {
        let removed = range.end - range.start;
        if with.len() > removed {
            self.buf.reserve_exact(with.len() - removed);
        }
        self.buf.splice(range, with.iter().copied());
        if self.buf.capacity() > self.buf.len() + 16 {
            self.buf.shrink_to_fit();
        }
    }

    /// Sets a field; returns true if it was added (not updated).
    pub fn set(&mut self, field: &[u8], value: &[u8]) -> bool {
        match self.find(field) {
            Some(p) => {
                let mut enc = Vec::with_capacity(encoded_len(value));
                encode_into(&mut enc, value);
                self.splice(p.value..p.end, &enc);
                false
            }
            None => {
                self.buf
                    .reserve_exact(encoded_len(field) + encoded_len(value));
                encode_into(&mut self.buf, field);
                encode_into(&mut self.buf, value);
                self.pairs += 1;
                true
            }
        }
    }

    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self.find(field) {
            Some(p) => {
                self.splice(p.start..p.end, &[]);
                self.pairs -= 1;
                true
            }
            None => false,
        }
    }

    pub fn iter(&self) -> ListpackIter<'_> {
        ListpackIter {
            buf: &self.buf,
            pos: 0,
        }
    }
}

/// Iterator over the pairs of a [`Listpack`], in order.
pub struct ListpackIter<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for ListpackIter<'a> {
    type Item = (Elem<'a>, Elem<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.buf.len() {
            return None;
        }
        let (f, vpos) = decode_at(self.buf, self.pos);
        let (v, end) = decode_at(self.buf, vpos);
        self.pos = end;
        Some((f, v))
    }
}

/// Encoding thresholds (`hash-max-listpack-entries`, `-value`).
#[derive(Clone, Copy, Debug)]
pub struct HashLimits {
    pub max_entries: usize,
    pub max_value: usize,
}

impl Default for HashLimits {
    fn default() -> Self {
        HashLimits {
            max_entries: 128,
            max_value: 64,
        }
    }
}

/// A hash value.
pub enum Hash {
    Listpack(Listpack),
    Table(Box<Dict<Bytes, Bytes>>),
}

impl Default for Hash {
    fn default() -> Self {
        Hash::Listpack(Listpack::default())
    }
}

impl Clone for Hash {
    fn clone(&self) -> Self {
        match self {
            Hash::Listpack(lp) => Hash::Listpack(lp.clone()),
            Hash::Table(d) => Hash::Table(Box::new(clone_dict(d))),
        }
    }
}

pub(crate) fn clone_dict<K: Clone + std::hash::Hash + Eq, V: Clone>(d: &Dict<K, V>) -> Dict<K, V> {
    let mut out = Dict::new();
    for (k, v) in d.iter() {
        out.insert(k.clone(), v.clone());
    }
    out
}

impl std::fmt::Debug for Hash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Hash({} fields, {})", self.len(), self.encoding())
    }
}

impl Hash {
    pub fn new() -> Hash {
        Hash::default()
    }

    pub fn len(&self) -> usize {
        match self {
            Hash::Listpack(lp) => lp.len(),
            Hash::Table(d) => d.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// OBJECT ENCODING.
    pub fn encoding(&self) -> &'static str {
        match self {
            Hash::Listpack(_) => "listpack",
            Hash::Table(_) => "hashtable",
        }
    }

    pub fn is_listpack(&self) -> bool {
        matches!(self, Hash::Listpack(_))
    }

    /// Approximate heap bytes (MEMORY USAGE).
    pub fn mem_usage(&self) -> usize {
        match self {
            Hash::Listpack(lp) => lp.bytes(),
            Hash::Table(d) => {
                d.bucket_count() * 8 + d.iter().map(|(k, v)| k.len() + v.len() + 72).sum::<usize>()
            }
        }
    }

    /// Converts to the hashtable encoding (no-op if already there).
    pub fn convert_to_table(&mut self) {
        if let Hash::Listpack(lp) = self {
            let mut d = Dict::new();
            for (f, v) in lp.iter() {
                d.insert(f.to_bytes(), v.to_bytes());
            }
            *self = Hash::Table(Box::new(d));
        }
    }

    /// Redis's `hashTypeTryConversion`: converts before a write whose
    /// arguments (fields and values) include one longer than the limit.
    pub fn try_conversion<'a>(
        &mut self,
        args: impl IntoIterator<Item = &'a [u8]>,
        limits: HashLimits,
    ) {
        if self.is_listpack() && args.into_iter().any(|a| a.len() > limits.max_value) {
            self.convert_to_table();
        }
    }

    pub fn get(&self, field: &[u8]) -> Option<Elem<'_>> {
        match self {
            Hash::Listpack(lp) => lp.get(field),
            Hash::Table(d) => d.get(field).map(|v| Elem::Str(v)),
        }
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        self.get(field).is_some()
    }

    /// Sets `field` to `value` (Redis's `hashTypeSet`), converting the
    /// encoding when a limit is exceeded. Returns true if the field is new.
    pub fn set(&mut self, field: &[u8], value: &[u8], limits: HashLimits) -> bool {
        if self.is_listpack() && (field.len() > limits.max_value || value.len() > limits.max_value)
        {
            self.convert_to_table();
        }
        match self {
            Hash::Listpack(lp) => {
                let added = lp.set(field, value);
                if lp.len() > limits.max_entries {
                    self.convert_to_table();
                }
                added
            }
            Hash::Table(d) => {
                if let Some(v) = d.get_mut(field) {
                    *v = Bytes::copy_from_slice(value);
                    false
                } else {
                    d.insert(Bytes::copy_from_slice(field), Bytes::copy_from_slice(value));
                    true
                }
            }
        }
    }

    /// Removes a field; returns true if it existed.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self {
            Hash::Listpack(lp) => lp.remove(field),
            Hash::Table(d) => d.remove(field).is_some(),
        }
    }

    /// Every (field, value), in encoding order.
    pub fn iter(&self) -> HashIter<'_> {
        match self {
            Hash::Listpack(lp) => HashIter::Listpack(lp.iter()),
            Hash::Table(d) => HashIter::Table(d.iter()),
        }
    }

    /// A random pair (with replacement; `None` when empty).
    pub fn random_pair<R: Rng + ?Sized>(&self, rng: &mut R) -> Option<(Elem<'_>, Elem<'_>)> {
        match self {
            Hash::Listpack(lp) => {
                if lp.is_empty() {
                    return None;
                }
                let i = rng.random_range(0..lp.len());
                lp.iter().nth(i)
            }
            Hash::Table(d) => d
                .random_entry(rng)
                .map(|(k, v)| (Elem::Str(&k[..]), Elem::Str(&v[..]))),
        }
    }

    /// One HSCAN step: calls `f` for each visited pair and returns the next
    /// cursor. A listpack is returned whole with cursor 0 (as Redis).
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(Elem<'_>, Elem<'_>)) -> u64 {
        match self {
            Hash::Listpack(lp) => {
                for (k, v) in lp.iter() {
                    f(k, v);
                }
                0
            }
            Hash::Table(d) => {
                // Redis doubles COUNT for hashes (fields and values) and
                // stops after count*10 extra steps.
                let want = count.saturating_mul(2);
                let mut max_iter = want.saturating_mul(10);
                let mut got = 0usize;
                let mut cursor = cursor;
                loop {
                    cursor = d.scan(cursor, |k, v| {
                        got += 2;
                        f(Elem::Str(&k[..]), Elem::Str(&v[..]));
                    });
                    if cursor == 0 || max_iter == 0 || got >= want {
                        break;
                    }
                    max_iter -= 1;
                }
                cursor
            }
        }
    }
}

/// Iterator over a hash's pairs.
pub enum HashIter<'a> {
    Listpack(ListpackIter<'a>),
    Table(crate::dict::Iter<'a, Bytes, Bytes>),
}

impl<'a> Iterator for HashIter<'a> {
    type Item = (Elem<'a>, Elem<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            HashIter::Listpack(it) => it.next(),
            HashIter::Table(it) => it
                .next()
                .map(|(k, v)| (Elem::Str(&k[..]), Elem::Str(&v[..]))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lim(e: usize, v: usize) -> HashLimits {
        HashLimits {
            max_entries: e,
            max_value: v,
        }
    }

    #[test]
    fn listpack_roundtrip_all_encodings() {
        let mut h = Hash::new();
        let l = lim(1000, 1 << 20);
        let big = "x".repeat(300);
        let samples: Vec<String> = vec![
            "".into(),
            "0".into(),
            "47".into(),
            "48".into(),
            "-1".into(),
            "32767".into(),
            "-32769".into(),
            "2147483648".into(),
            "-9223372036854775808".into(),
            "9223372036854775807".into(),
            "01".into(),
            "-0".into(),
            " 1".into(),
            "abc".into(),
            "y".repeat(191),
            "y".repeat(192),
            big.clone(),
        ];
        for (i, s) in samples.iter().enumerate() {
            assert!(h.set(s.as_bytes(), format!("v{i}").as_bytes(), l));
        }
        for (i, s) in samples.iter().enumerate() {
            assert!(h.set(format!("f{i}").as_bytes(), s.as_bytes(), l));
        }
        assert!(h.is_listpack());
        assert_eq!(h.len(), samples.len() * 2);
        for (i, s) in samples.iter().enumerate() {
            assert_eq!(
                h.get(s.as_bytes()).map(|e| e.to_vec()),
                Some(format!("v{i}").into_bytes())
            );
            assert_eq!(
                h.get(format!("f{i}").as_bytes()).map(|e| e.to_vec()),
                Some(s.clone().into_bytes())
            );
        }
        // Iteration order is insertion order; values round trip exactly.
        let keys: Vec<Vec<u8>> = h.iter().map(|(k, _)| k.to_vec()).collect();
        assert_eq!(keys[0], b"".to_vec());
        assert_eq!(keys[11], b"-0".to_vec());
        // Update in place keeps position; remove shifts.
        assert!(!h.set(b"47", b"changed", l));
        assert_eq!(
            h.iter().nth(2).map(|(_, v)| v.to_vec()),
            Some(b"changed".to_vec())
        );
        assert!(h.remove(b"abc"));
        assert!(!h.remove(b"abc"));
        assert!(h.get(b"abc").is_none());
        assert_eq!(h.len(), samples.len() * 2 - 1);
        assert!(h.get(b"47").is_some() && h.get(b"047").is_none());
    }

    #[test]
    fn converts_on_entries_and_value_length() {
        let l = lim(4, 8);
        let mut h = Hash::new();
        for i in 0..4 {
            h.set(format!("f{i}").as_bytes(), b"v", l);
        }
        assert_eq!(h.encoding(), "listpack");
        h.set(b"f4", b"v", l);
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.len(), 5);
        // Never converts back.
        for i in 0..5 {
            h.remove(format!("f{i}").as_bytes());
        }
        h.set(b"a", b"b", l);
        assert_eq!(h.encoding(), "hashtable");

        let mut h = Hash::new();
        h.set(b"f", b"12345678", l);
        assert_eq!(h.encoding(), "listpack");
        h.set(b"f", b"123456789", l);
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.get(b"f").map(|e| e.to_vec()), Some(b"123456789".to_vec()));

        let mut h = Hash::new();
        h.try_conversion([&b"short"[..], b"way too long"], l);
        assert_eq!(h.encoding(), "hashtable");

        let mut h = Hash::new();
        h.set(b"a", b"1", lim(0, 64));
        assert_eq!(h.encoding(), "hashtable");
    }

    #[test]
    fn small_hash_is_compact() {
        let mut h = Hash::new();
        for i in 0..10 {
            h.set(
                format!("field{i}").as_bytes(),
                format!("{}", i * 1000).as_bytes(),
                HashLimits::default(),
            );
        }
        // 10 * (7 bytes field + 3 bytes int value)
        assert!(h.mem_usage() <= 110, "{}", h.mem_usage());
        assert!(std::mem::size_of::<Hash>() <= 32);
    }

    #[test]
    fn table_scan_and_random() {
        use rand::SeedableRng;
        let mut rng = rand::rngs::SmallRng::seed_from_u64(3);
        let mut h = Hash::new();
        for i in 0..500 {
            h.set(format!("f{i}").as_bytes(), b"v", HashLimits::default());
        }
        assert_eq!(h.encoding(), "hashtable");
        let mut seen = std::collections::HashSet::new();
        let mut c = 0;
        loop {
            c = h.scan(c, 10, |k, _| {
                seen.insert(k.to_vec());
            });
            if c == 0 {
                break;
            }
        }
        assert_eq!(seen.len(), 500);
        assert!(h.random_pair(&mut rng).is_some());
    }
}
