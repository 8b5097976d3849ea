//! List values: a double-ended sequence of byte strings.
//!
//! Backed by a `VecDeque<Bytes>`: O(1) push and pop at both ends and O(1)
//! indexing, which is what every list command needs (LINDEX/LSET are O(1)
//! here where Redis's quicklist is O(n)). Redis 7.0 always reports the
//! `quicklist` encoding for lists, whatever their size (the listpack list
//! encoding only arrived in 7.2), so [`List::encoding`] does too.

use std::collections::VecDeque;

use bytes::Bytes;

/// Which end of a list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The head (LEFT, LPUSH/LPOP).
    Left,
    /// The tail (RIGHT, RPUSH/RPOP).
    Right,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct List {
    pub items: VecDeque<Bytes>,
}

/// Normalises a Redis `start`/`stop` pair against a list of `len`
/// elements (LRANGE semantics). Returns `None` for an empty range, else
/// the inclusive `(start, stop)` indexes.
pub fn normalize_range(start: i64, stop: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let mut start = if start < 0 {
        len.saturating_add(start)
    } else {
        start
    };
    let mut stop = if stop < 0 {
        len.saturating_add(stop)
    } else {
        stop
    };
    if start < 0 {
        start = 0;
    }
    if start > stop || start >= len {
        return None;
    }
    if stop >= len {
        stop = len - 1;
    }
    Some((start as usize, stop as usize))
}

impl List {
    pub fn new() -> List {
        List::default()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// OBJECT ENCODING: Redis 7.0 lists are always `quicklist`.
    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }

    pub fn mem_usage(&self) -> usize {
        self.items
            .iter()
            .map(|b| b.len() + std::mem::size_of::<Bytes>())
            .sum()
    }

    pub fn push(&mut self, end: End, value: Bytes) {
        match end {
            End::Left => self.items.push_front(value),
            End::Right => self.items.push_back(value),
        }
    }

    pub fn pop(&mut self, end: End) -> Option<Bytes> {
        match end {
            End::Left => self.items.pop_front(),
            End::Right => self.items.pop_back(),
        }
    }

    /// Pops up to `count` elements from `end`, in pop order.
    pub fn pop_many(&mut self, end: End, count: usize) -> Vec<Bytes> {
        let n = count.min(self.items.len());
        match end {
            End::Left => self.items.drain(..n).collect(),
            End::Right => {
                let at = self.items.len() - n;
                let mut v: Vec<Bytes> = self.items.drain(at..).collect();
                v.reverse();
                v
            }
        }
    }

    /// Resolves a possibly negative Redis index to a position.
    pub fn resolve(&self, index: i64) -> Option<usize> {
        let len = self.items.len() as i64;
        let i = if index < 0 {
            len.checked_add(index)?
        } else {
            index
        };
        if i < 0 || i >= len {
            None
        } else {
            Some(i as usize)
        }
    }

    /// Element at a Redis index (negative counts from the tail).
    pub fn get(&self, index: i64) -> Option<&Bytes> {
        self.resolve(index).and_then(|i| self.items.get(i))
    }

    /// Replaces the element at a Redis index; false if out of range.
    pub fn set(&mut self, index: i64, value: Bytes) -> bool {
        match self.resolve(index) {
            Some(i) => {
                self.items[i] = value;
                true
            }
            None => false,
        }
    }

    /// Elements in an LRANGE-style range.
    pub fn range(&self, start: i64, stop: i64) -> impl Iterator<Item = &Bytes> {
        let (a, n) = match normalize_range(start, stop, self.items.len()) {
            Some((a, b)) => (a, b - a + 1),
            None => (0, 0),
        };
        self.items.range(a..a + n)
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Bytes> {
        self.items.iter()
    }

    /// LINSERT: inserts `value` before or after the first element equal to
    /// `pivot`. Returns false if there is no such element.
    pub fn insert(&mut self, after: bool, pivot: &[u8], value: Bytes) -> bool {
        match self.items.iter().position(|e| e[..] == *pivot) {
            Some(i) => {
                self.items.insert(if after { i + 1 } else { i }, value);
                true
            }
            None => false,
        }
    }

    /// LREM: removes elements equal to `value`: the first `count` from the
    /// head if `count > 0`, the last `-count` from the tail if negative,
    /// all if 0. Returns how many were removed.
    pub fn remove(&mut self, count: i64, value: &[u8]) -> usize {
        let limit = if count == 0 {
            usize::MAX
        } else {
            count.unsigned_abs().min(usize::MAX as u64) as usize
        };
        let mut removed = 0;
        if count >= 0 {
            let mut i = 0;
            while i < self.items.len() && removed < limit {
                if self.items[i][..] == *value {
                    self.items.remove(i);
                    removed += 1;
                } else {
                    i += 1;
                }
            }
        } else {
            let mut i = self.items.len();
            while i > 0 && removed < limit {
                i -= 1;
                if self.items[i][..] == *value {
                    self.items.remove(i);
                    removed += 1;
                }
            }
        }
        removed
    }

    /// LTRIM: keeps only the LRANGE-style range. Returns how many elements
    /// were removed.
    pub fn trim(&mut self, start: i64, stop: i64) -> usize {
        let len = self.items.len();
        match normalize_range(start, stop, len) {
            None => {
                self.items.clear();
                len
            }
            Some((a, b)) => {
                self.items.truncate(b + 1);
                self.items.drain(..a);
                len - (b - a + 1)
            }
        }
    }

    /// LPOS: indexes (from the head) of elements equal to `value`.
    /// `rank` (non-zero) picks the first match to report (negative:
    /// search from the tail), `count` is how many to report (0 = all),
    /// `maxlen` bounds the comparisons (0 = unbounded).
    pub fn positions(&self, value: &[u8], rank: i64, count: usize, maxlen: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let skip = rank.unsigned_abs().saturating_sub(1);
        let mut matches: u64 = 0;
        let limit = if maxlen == 0 { usize::MAX } else { maxlen };
        let len = self.items.len();
        for step in 0..len.min(limit) {
            let i = if rank < 0 { len - 1 - step } else { step };
            if self.items[i][..] == *value {
                matches += 1;
                if matches > skip {
                    out.push(i);
                    if count != 0 && out.len() >= count {
                        break;
                    }
                }
            }
        }
        out
    }
}

impl FromIterator<Bytes> for List {
    fn from_iter<T: IntoIterator<Item = Bytes>>(iter: T) -> Self {
        List {
            items: iter.into_iter().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(items: &[&str]) -> List {
        items
            .iter()
            .map(|s| Bytes::copy_from_slice(s.as_bytes()))
            .collect()
    }

    fn v(list: &List) -> Vec<String> {
        list.iter()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect()
    }

    #[test]
    fn ranges_and_trim() {
        let list = l(&["a", "b", "c", "d"]);
        let r: Vec<_> = list.range(1, -1).cloned().collect();
        assert_eq!(r.len(), 3);
        assert_eq!(list.range(5, 10).count(), 0);
        assert_eq!(list.range(-100, 100).count(), 4);
        assert_eq!(list.range(2, 1).count(), 0);
        let mut t = list.clone();
        assert_eq!(t.trim(1, 2), 2);
        assert_eq!(v(&t), ["b", "c"]);
        let mut t = list.clone();
        assert_eq!(t.trim(3, 1), 4);
        assert!(t.is_empty());
        assert_eq!(list.range(i64::MIN, i64::MAX).count(), 4);
    }

    #[test]
    fn remove_and_positions() {
        let mut list = l(&["a", "b", "a", "c", "a"]);
        assert_eq!(list.positions(b"a", 1, 0, 0), vec![0, 2, 4]);
        assert_eq!(list.positions(b"a", -1, 2, 0), vec![4, 2]);
        assert_eq!(list.positions(b"a", 2, 1, 0), vec![2]);
        assert_eq!(list.positions(b"a", 1, 0, 2), vec![0]);
        assert_eq!(list.positions(b"a", i64::MIN, 0, 0), Vec::<usize>::new());
        assert_eq!(list.remove(-2, b"a"), 2);
        assert_eq!(v(&list), ["a", "b", "c"]);
        assert_eq!(list.remove(0, b"x"), 0);
        let mut all = l(&["a", "a", "b"]);
        assert_eq!(all.remove(0, b"a"), 2);
        assert_eq!(v(&all), ["b"]);
    }

    #[test]
    fn pops_and_index() {
        let mut list = l(&["a", "b", "c"]);
        assert_eq!(list.get(-1).map(|b| &b[..]), Some(&b"c"[..]));
        assert_eq!(list.get(3), None);
        assert_eq!(list.get(i64::MIN), None);
        let p = list.pop_many(End::Right, 2);
        assert_eq!(p, vec![Bytes::from("c"), Bytes::from("b")]);
        assert!(list.insert(true, b"a", Bytes::from("z")));
        assert_eq!(v(&list), ["a", "z"]);
    }
}
