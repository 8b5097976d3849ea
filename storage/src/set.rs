//! Set values: Redis 7.0's two encodings.
//!
//! * `intset`: a sorted array of integers stored at the narrowest width
//!   (2, 4 or 8 bytes) that fits every member, searched by bisection. Used
//!   while every member is a canonical integer (`string2ll`) and there are
//!   at most `set-max-intset-entries` members.
//! * `hashtable`: a [`Dict`] (SCAN cursor contract, random sampling).
//!
//! Redis 7.0 has no listpack sets (that came in 7.2). Conversions never go
//! back, as in Redis.

use bytes::Bytes;
use rand::Rng;

use crate::dict::Dict;
pub use crate::hash::Elem;
use crate::num::parse_i64;

/// Redis caps the intset at 2^30 entries whatever the configuration.
const INTSET_HARD_MAX: usize = 1 << 30;

/// Bytes of members kept inside the value itself (no allocation): up to
/// 14 two-byte, 7 four-byte or 3 eight-byte members.
const INLINE: usize = 28;

/// A sorted integer array at the narrowest width fitting all members.
/// Small ones live inline; bigger ones in an exactly sized allocation.
#[derive(Clone, Debug)]
pub enum IntSet {
    Inline {
        /// Bytes per member: 2, 4 or 8.
        width: u8,
        len: u8,
        buf: [u8; INLINE],
    },
    Heap {
        width: u8,
        data: Vec<u8>,
    },
}

impl Default for IntSet {
    fn default() -> Self {
        IntSet::Inline {
            width: 2,
            len: 0,
            buf: [0; INLINE],
        }
    }
}

fn width_for(v: i64) -> u8 {
    if i16::try_from(v).is_ok() {
        2
    } else if i32::try_from(v).is_ok() {
        4
    } else {
        8
    }
}

impl IntSet {
    fn width(&self) -> u8 {
        match self {
            IntSet::Inline { width, .. } | IntSet::Heap { width, .. } => *width,
        }
    }

    fn raw(&self) -> &[u8] {
        match self {
            IntSet::Inline { len, buf, .. } => &buf[..*len as usize],
            IntSet::Heap { data, .. } => data,
        }
    }

    /// Replaces the contents (choosing inline storage when it fits).
    fn set_raw(&mut self, width: u8, bytes: &[u8]) {
        if bytes.len() <= INLINE {
            let mut buf = [0u8; INLINE];
            buf[..bytes.len()].copy_from_slice(bytes);
            *self = IntSet::Inline {
                width,
                len: bytes.len() as u8,
                buf,
            };
        } else {
            *self = IntSet::Heap {
                width,
                data: bytes.to_vec(),
            };
        }
    }

    /// Replaces `range` of the raw bytes with `with`.
    fn splice(&mut self, range: std::ops::Range<usize>, with: &[u8]) {
        let width = self.width();
        let new_len = self.raw().len() - (range.end - range.start) + with.len();
        if let (IntSet::Heap { data, .. }, true) = (&mut *self, new_len > INLINE) {
            if new_len > data.len() {
                data.reserve_exact(new_len - data.len());
            }
            data.splice(range, with.iter().copied());
            if data.capacity() > data.len() + 16 {
                data.shrink_to_fit();
            }
            return;
        }
        let old = self.raw();
        let mut v = Vec::with_capacity(new_len);
        v.extend_from_slice(&old[..range.start]);
        v.extend_from_slice(with);
        v.extend_from_slice(&old[range.end..]);
        self.set_raw(width, &v);
    }

    pub fn len(&self) -> usize {
        self.raw().len() / self.width() as usize
    }

    pub fn is_empty(&self) -> bool {
        self.raw().is_empty()
    }

    /// Heap bytes used (0 when inline).
    pub fn bytes(&self) -> usize {
        match self {
            IntSet::Inline { .. } => 0,
            IntSet::Heap { data, .. } => data.capacity(),
        }
    }

    /// Member at index `i` (ascending order).
    pub fn get(&self, i: usize) -> i64 {
        let w = self.width() as usize;
        let s = &self.raw()[i * w..(i + 1) * w];
        match w {
            2 => i64::from(i16::from_le_bytes([s[0], s[1]])),
            4 => i64::from(i32::from_le_bytes([s[0], s[1], s[2], s[3]])),
            _ => i64::from_le_bytes([s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]]),
        }
    }

    fn encode(width: u8, v: i64, out: &mut [u8]) {
        match width {
            2 => out.copy_from_slice(&(v as i16).to_le_bytes()),
            4 => out.copy_from_slice(&(v as i32).to_le_bytes()),
            _ => out.copy_from_slice(&v.to_le_bytes()),
        }
    }

    fn search(&self, v: i64) -> Result<usize, usize> {
        if width_for(v) > self.width() {
            // Out of the current range: below or above every member.
            return Err(if v < 0 { 0 } else { self.len() });
        }
        let (mut lo, mut hi) = (0usize, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let m = self.get(mid);
            if m == v {
                return Ok(mid);
            } else if m < v {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Err(lo)
    }

    pub fn contains(&self, v: i64) -> bool {
        self.search(v).is_ok()
    }

    /// Inserts `v`; returns false if already present.
    pub fn insert(&mut self, v: i64) -> bool {
        let need = width_for(v);
        if need > self.width() {
            // Upgrade every member to the wider encoding (Redis's
            // intsetUpgradeAndAdd).
            let n = self.len();
            let mut data = Vec::with_capacity((n + 1) * need as usize);
            data.resize((n + 1) * need as usize, 0);
            let w = need as usize;
            let offset = usize::from(v < 0);
            for i in 0..n {
                let x = self.get(i);
                Self::encode(need, x, &mut data[(i + offset) * w..(i + offset + 1) * w]);
            }
            let at = if v < 0 { 0 } else { n };
            Self::encode(need, v, &mut data[at * w..(at + 1) * w]);
            self.set_raw(need, &data);
            return true;
        }
        match self.search(v) {
            Ok(_) => false,
            Err(at) => {
                let w = self.width() as usize;
                let mut enc = [0u8; 8];
                Self::encode(self.width(), v, &mut enc[..w]);
                self.splice(at * w..at * w, &enc[..w]);
                true
            }
        }
    }

    /// Removes `v`; returns false if absent. The width never shrinks.
    pub fn remove(&mut self, v: i64) -> bool {
        match self.search(v) {
            Ok(i) => {
                self.remove_at(i);
                true
            }
            Err(_) => false,
        }
    }

    fn remove_at(&mut self, i: usize) {
        let w = self.width() as usize;
        self.splice(i * w..(i + 1) * w, &[]);
    }

    pub fn iter(&self) -> impl Iterator<Item = i64> + '_ {
        (0..self.len()).map(move |i| self.get(i))
    }
}

/// A set value.
pub enum Set {
    Ints(IntSet),
    Table(Box<Dict<Bytes, ()>>),
}

impl Default for Set {
    fn default() -> Self {
        Set::Ints(IntSet::default())
    }
}

impl Clone for Set {
    fn clone(&self) -> Self {
        match self {
            Set::Ints(i) => Set::Ints(i.clone()),
            Set::Table(d) => {
                let mut out = Dict::new();
                for (k, _) in d.iter() {
                    out.insert(k.clone(), ());
                }
                Set::Table(Box::new(out))
            }
        }
    }
}

impl std::fmt::Debug for Set {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Set({} members, {})", self.len(), self.encoding())
    }
}

fn as_int(member: &[u8]) -> Option<i64> {
    if member.len() <= 20 {
        parse_i64(member)
    } else {
        None
    }
}

impl Set {
    /// An empty intset (Redis's `createIntsetObject`).
    pub fn new() -> Set {
        Set::default()
    }

    /// An empty set in the encoding Redis's `setTypeCreate` picks for a
    /// first member `member`.
    pub fn new_for(member: &[u8]) -> Set {
        if as_int(member).is_some() {
            Set::default()
        } else {
            Set::Table(Box::new(Dict::new()))
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Set::Ints(i) => i.len(),
            Set::Table(d) => d.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// OBJECT ENCODING.
    pub fn encoding(&self) -> &'static str {
        match self {
            Set::Ints(_) => "intset",
            Set::Table(_) => "hashtable",
        }
    }

    pub fn is_intset(&self) -> bool {
        matches!(self, Set::Ints(_))
    }

    /// Approximate heap bytes (MEMORY USAGE).
    pub fn mem_usage(&self) -> usize {
        match self {
            Set::Ints(i) => i.bytes(),
            Set::Table(d) => {
                d.bucket_count() * 8 + d.iter().map(|(k, _)| k.len() + 48).sum::<usize>()
            }
        }
    }

    pub fn convert_to_table(&mut self) {
        if let Set::Ints(ints) = self {
            let mut d = Dict::new();
            for v in ints.iter() {
                d.insert(Bytes::from(crate::num::format_i64(v)), ());
            }
            *self = Set::Table(Box::new(d));
        }
    }

    /// Adds a member (Redis's `setTypeAdd`); returns true if it was new.
    /// `max_intset` is `set-max-intset-entries`.
    pub fn add(&mut self, member: &[u8], max_intset: usize) -> bool {
        if let Set::Ints(ints) = self {
            match as_int(member) {
                Some(v) => {
                    if !ints.insert(v) {
                        return false;
                    }
                    if ints.len() > max_intset.min(INTSET_HARD_MAX) {
                        self.convert_to_table();
                    }
                    return true;
                }
                None => self.convert_to_table(),
            }
        }
        match self {
            Set::Table(d) => {
                if d.contains_key(member) {
                    false
                } else {
                    d.insert(Bytes::copy_from_slice(member), ());
                    true
                }
            }
            Set::Ints(_) => false,
        }
    }

    /// Removes a member; returns true if it was present.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self {
            Set::Ints(ints) => match as_int(member) {
                Some(v) => ints.remove(v),
                None => false,
            },
            Set::Table(d) => d.remove(member).is_some(),
        }
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        match self {
            Set::Ints(ints) => as_int(member).is_some_and(|v| ints.contains(v)),
            Set::Table(d) => d.contains_key(member),
        }
    }

    /// Membership test for an element of another set.
    pub fn contains_elem(&self, e: Elem<'_>) -> bool {
        match (self, e) {
            (Set::Ints(ints), Elem::Int(v)) => ints.contains(v),
            (Set::Ints(_), Elem::Str(s)) => self.contains(s),
            (Set::Table(d), Elem::Str(s)) => d.contains_key(s),
            (Set::Table(d), Elem::Int(v)) => d.contains_key(&crate::num::format_i64(v)[..]),
        }
    }

    /// Every member: ascending for an intset, table order otherwise.
    pub fn iter(&self) -> SetIter<'_> {
        match self {
            Set::Ints(ints) => SetIter::Ints(ints, 0),
            Set::Table(d) => SetIter::Table(d.iter()),
        }
    }

    /// A random member (`None` when empty).
    pub fn random<R: Rng + ?Sized>(&self, rng: &mut R) -> Option<Elem<'_>> {
        match self {
            Set::Ints(ints) => {
                if ints.is_empty() {
                    None
                } else {
                    Some(Elem::Int(ints.get(rng.random_range(0..ints.len()))))
                }
            }
            Set::Table(d) => d.random_entry(rng).map(|(k, _)| Elem::Str(&k[..])),
        }
    }

    /// Removes and returns a random member.
    pub fn pop_random<R: Rng + ?Sized>(&mut self, rng: &mut R) -> Option<Bytes> {
        match self {
            Set::Ints(ints) => {
                if ints.is_empty() {
                    return None;
                }
                let i = rng.random_range(0..ints.len());
                let v = ints.get(i);
                ints.remove_at(i);
                Some(Bytes::from(crate::num::format_i64(v)))
            }
            Set::Table(d) => {
                let k = d.random_entry(rng)?.0.clone();
                d.remove(&k[..]);
                Some(k)
            }
        }
    }

    /// One SSCAN step; an intset is returned whole with cursor 0 (as Redis).
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(Elem<'_>)) -> u64 {
        match self {
            Set::Ints(ints) => {
                for v in ints.iter() {
                    f(Elem::Int(v));
                }
                0
            }
            Set::Table(d) => {
                let mut max_iter = count.saturating_mul(10);
                let mut got = 0usize;
                let mut cursor = cursor;
                loop {
                    cursor = d.scan(cursor, |k, _| {
                        got += 1;
                        f(Elem::Str(&k[..]));
                    });
                    if cursor == 0 || max_iter == 0 || got >= count {
                        break;
                    }
                    max_iter -= 1;
                }
                cursor
            }
        }
    }
}

/// Iterator over a set's members.
pub enum SetIter<'a> {
    Ints(&'a IntSet, usize),
    Table(crate::dict::Iter<'a, Bytes, ()>),
}

impl<'a> Iterator for SetIter<'a> {
    type Item = Elem<'a>;

    fn next(&mut self) -> Option<Elem<'a>> {
        match self {
            SetIter::Ints(ints, i) => {
                if *i >= ints.len() {
                    return None;
                }
                let v = ints.get(*i);
                *i += 1;
                Some(Elem::Int(v))
            }
            SetIter::Table(it) => it.next().map(|(k, _)| Elem::Str(&k[..])),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intset_widths_and_order() {
        let mut s = IntSet::default();
        assert!(s.insert(5));
        assert!(s.insert(-3));
        assert!(!s.insert(5));
        assert_eq!(s.bytes(), 0, "inline");
        assert!(s.insert(100_000));
        assert!(s.insert(-(1 << 40)));
        assert!(s.insert(7));
        assert_eq!(
            s.iter().collect::<Vec<_>>(),
            vec![-(1 << 40), -3, 5, 7, 100_000]
        );
        assert!(s.contains(100_000) && !s.contains(6) && !s.contains(i64::MAX));
        assert!(s.remove(5));
        assert!(!s.remove(5));
        assert_eq!(s.len(), 4);
        assert!(s.insert(i64::MAX) && s.insert(i64::MIN));
        assert_eq!(s.get(0), i64::MIN);
        assert_eq!(s.get(s.len() - 1), i64::MAX);
    }

    #[test]
    fn intset_upgrade_keeps_sorted() {
        let mut s = IntSet::default();
        for v in [3, 1, 2] {
            s.insert(v);
        }
        s.insert(70_000);
        s.insert(-70_000);
        s.insert(1 << 35);
        assert_eq!(
            s.iter().collect::<Vec<_>>(),
            vec![-70_000, 1, 2, 3, 70_000, 1 << 35]
        );
        // Values narrower than the width are still found.
        assert!(s.contains(2));
    }

    #[test]
    fn set_conversions() {
        let mut s = Set::new_for(b"1");
        assert_eq!(s.encoding(), "intset");
        for i in 0..4 {
            assert!(s.add(i.to_string().as_bytes(), 4));
        }
        assert_eq!(s.encoding(), "intset");
        assert!(!s.add(b"3", 4));
        assert!(s.add(b"4", 4));
        assert_eq!(s.encoding(), "hashtable");
        assert!(s.contains(b"4") && s.contains(b"0"));

        let mut s = Set::new();
        s.add(b"1", 512);
        s.add(b"01", 512);
        assert_eq!(s.encoding(), "hashtable");
        assert!(s.remove(b"01"));
        assert_eq!(s.encoding(), "hashtable");
        assert_eq!(Set::new_for(b"a").encoding(), "hashtable");
        assert!(!s.contains(b"a"));

        let mut s = Set::new();
        s.add(b"1", 0);
        assert_eq!(s.encoding(), "hashtable");
    }

    #[test]
    fn elem_membership_across_encodings() {
        let mut a = Set::new();
        a.add(b"10", 512);
        let mut b = Set::new();
        b.add(b"x", 512);
        b.add(b"10", 512);
        assert!(b.contains_elem(Elem::Int(10)));
        assert!(a.contains_elem(Elem::Str(b"10")));
        assert!(!a.contains_elem(Elem::Str(b"010")));
    }

    #[test]
    fn small_intset_is_compact() {
        let mut s = Set::new();
        for i in 0..10 {
            s.add(i.to_string().as_bytes(), 512);
        }
        assert_eq!(s.mem_usage(), 0, "10 small integers are stored inline");
        s.add(b"70000", 512);
        assert!(s.mem_usage() >= 44);
        // The width never shrinks (as Redis), so 9 four-byte members stay
        // on the heap.
        s.remove(b"70000");
        s.remove(b"0");
        assert!((36..=44).contains(&s.mem_usage()));
        assert_eq!(s.len(), 9);
        assert!(s.contains(b"9") && !s.contains(b"0"));
        assert!(std::mem::size_of::<Set>() <= 32);
    }

    #[test]
    fn pop_and_scan() {
        use rand::SeedableRng;
        let mut rng = rand::rngs::SmallRng::seed_from_u64(9);
        let mut s = Set::new();
        for i in 0..1000 {
            s.add(format!("m{i}").as_bytes(), 512);
        }
        let mut seen = std::collections::HashSet::new();
        let mut c = 0;
        loop {
            c = s.scan(c, 10, |e| {
                seen.insert(e.to_vec());
            });
            if c == 0 {
                break;
            }
        }
        assert_eq!(seen.len(), 1000);
        let mut popped = std::collections::HashSet::new();
        while let Some(m) = s.pop_random(&mut rng) {
            assert!(popped.insert(m));
        }
        assert_eq!(popped.len(), 1000);
        assert!(s.is_empty());
    }
}
