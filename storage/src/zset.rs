//! Sorted set values (Redis's `t_zset.c` data side).
//!
//! Two encodings, as Redis 7.0:
//! * **listpack**: a `Vec<(score, member)>` kept sorted, used while the set
//!   has at most `zset-max-listpack-entries` members of at most
//!   `zset-max-listpack-value` bytes. Operations are O(n) on a small n.
//! * **skiplist**: a [`SkipList`] with spans (O(log n) rank, access by
//!   rank and range seeks) plus a member -> score [`Dict`] (O(1) ZSCORE,
//!   SCAN cursor contract).
//!
//! A set is converted from listpack to skiplist when it outgrows the limits
//! and never back (as Redis). Ordering is by score, then member bytes.
//! NaN is never stored: operations that would produce it report it.
//!
//! Range walks reproduce Redis's algorithms (first element in range, then
//! walk while still in range), so even lexicographic ranges over members
//! with different scores answer as Redis does for the listpack encoding.

use bytes::Bytes;
use rand::Rng;

use crate::dict::Dict;
use crate::skiplist::{SkipList, NIL};

/// Encoding limits (`zset-max-listpack-entries`, `zset-max-listpack-value`).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_entries: usize,
    pub max_value: usize,
}

/// A score interval (`zrangespec`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScoreRange {
    pub min: f64,
    pub max: f64,
    pub minex: bool,
    pub maxex: bool,
}

impl ScoreRange {
    #[inline]
    pub fn gte_min(&self, v: f64) -> bool {
        if self.minex {
            v > self.min
        } else {
            v >= self.min
        }
    }

    #[inline]
    pub fn lte_max(&self, v: f64) -> bool {
        if self.maxex {
            v < self.max
        } else {
            v <= self.max
        }
    }

    /// True when no score can be in the range.
    pub fn is_empty(&self) -> bool {
        self.min > self.max || (self.min == self.max && (self.minex || self.maxex))
    }

    /// Parses `min` and `max` as ZRANGEBYSCORE does (`(` prefix for an
    /// exclusive bound, C `strtod` syntax, no NaN).
    pub fn parse(min: &[u8], max: &[u8]) -> Option<ScoreRange> {
        fn item(s: &[u8]) -> Option<(f64, bool)> {
            let (ex, body) = match s.first() {
                Some(b'(') => (true, &s[1..]),
                _ => (false, s),
            };
            let (v, used, _) = strtod(body);
            if used != body.len() || v.is_nan() {
                return None;
            }
            Some((v, ex))
        }
        let (min, minex) = item(min)?;
        let (max, maxex) = item(max)?;
        Some(ScoreRange {
            min,
            max,
            minex,
            maxex,
        })
    }
}

/// One end of a lexicographic range: `-`, `+` or a member.
#[derive(Clone, Debug, PartialEq)]
pub enum LexItem {
    Min,
    Max,
    Str(Bytes),
}

impl LexItem {
    /// Redis's sdscmplex with `v` a plain member.
    fn cmp_member(&self, v: &[u8]) -> std::cmp::Ordering {
        use std::cmp::Ordering::*;
        match self {
            LexItem::Min => Less,
            LexItem::Max => Greater,
            LexItem::Str(s) => s[..].cmp(v),
        }
    }

    fn cmp(&self, other: &LexItem) -> std::cmp::Ordering {
        use std::cmp::Ordering::*;
        match (self, other) {
            (LexItem::Min, LexItem::Min) | (LexItem::Max, LexItem::Max) => Equal,
            (LexItem::Min, _) | (_, LexItem::Max) => Less,
            (LexItem::Max, _) | (_, LexItem::Min) => Greater,
            (LexItem::Str(a), LexItem::Str(b)) => a.cmp(b),
        }
    }

    fn parse(s: &[u8]) -> Option<(LexItem, bool)> {
        match s.first()? {
            b'+' if s.len() == 1 => Some((LexItem::Max, true)),
            b'-' if s.len() == 1 => Some((LexItem::Min, true)),
            b'(' => Some((LexItem::Str(Bytes::copy_from_slice(&s[1..])), true)),
            b'[' => Some((LexItem::Str(Bytes::copy_from_slice(&s[1..])), false)),
            _ => None,
        }
    }
}

/// A lexicographic interval (`zlexrangespec`).
#[derive(Clone, Debug, PartialEq)]
pub struct LexRange {
    pub min: LexItem,
    pub max: LexItem,
    pub minex: bool,
    pub maxex: bool,
}

impl LexRange {
    pub fn parse(min: &[u8], max: &[u8]) -> Option<LexRange> {
        let (min, minex) = LexItem::parse(min)?;
        let (max, maxex) = LexItem::parse(max)?;
        Some(LexRange {
            min,
            max,
            minex,
            maxex,
        })
    }

    #[inline]
    pub fn gte_min(&self, v: &[u8]) -> bool {
        // value vs min: cmp(value, min) = reverse of min.cmp_member(value)
        let c = self.min.cmp_member(v).reverse();
        if self.minex {
            c.is_gt()
        } else {
            c.is_ge()
        }
    }

    #[inline]
    pub fn lte_max(&self, v: &[u8]) -> bool {
        let c = self.max.cmp_member(v).reverse();
        if self.maxex {
            c.is_lt()
        } else {
            c.is_le()
        }
    }

    pub fn is_empty(&self) -> bool {
        let c = self.min.cmp(&self.max);
        c.is_gt() || (c.is_eq() && (self.minex || self.maxex))
    }
}

/// C `strtod` on a byte string: returns the value, how many bytes were
/// consumed (0 when no conversion was possible) and whether the result
/// over- or underflowed (ERANGE).
pub fn strtod(s: &[u8]) -> (f64, usize, bool) {
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
        i += 1;
    }
    let start = i;
    let neg = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let sign = if neg { -1.0 } else { 1.0 };
    let rest = &s[i..];
    let lower: Vec<u8> = rest
        .iter()
        .take(8)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if lower.starts_with(b"infinity") {
        return (sign * f64::INFINITY, i + 8, false);
    }
    if lower.starts_with(b"inf") {
        return (sign * f64::INFINITY, i + 3, false);
    }
    if lower.starts_with(b"nan") {
        let mut j = i + 3;
        if s.get(j) == Some(&b'(') {
            let mut k = j + 1;
            while k < s.len() && (s[k].is_ascii_alphanumeric() || s[k] == b'_') {
                k += 1;
            }
            if s.get(k) == Some(&b')') {
                j = k + 1;
            }
        }
        return (f64::NAN, j, false);
    }
    if (lower.starts_with(b"0x")) && rest.len() > 2 {
        if let Some((v, used)) = hex_float(&rest[2..]) {
            return (sign * v, i + 2 + used, v.is_infinite());
        }
        // "0x" without hex digits: strtod reads the "0".
        return (sign * 0.0, i + 1, false);
    }
    let mut j = i;
    let mut digits = 0;
    while j < s.len() && s[j].is_ascii_digit() {
        j += 1;
        digits += 1;
    }
    if j < s.len() && s[j] == b'.' {
        j += 1;
        while j < s.len() && s[j].is_ascii_digit() {
            j += 1;
            digits += 1;
        }
    }
    if digits == 0 {
        return (0.0, 0, false);
    }
    if j < s.len() && (s[j] == b'e' || s[j] == b'E') {
        let mut k = j + 1;
        if k < s.len() && (s[k] == b'+' || s[k] == b'-') {
            k += 1;
        }
        let ds = k;
        while k < s.len() && s[k].is_ascii_digit() {
            k += 1;
        }
        if k > ds {
            j = k;
        }
    }
    let text = std::str::from_utf8(&s[start..j]).unwrap_or("0");
    let v: f64 = text.parse().unwrap_or(0.0);
    let mantissa_nonzero = s[i..j]
        .iter()
        .take_while(|c| **c != b'e' && **c != b'E')
        .any(|c| (b'1'..=b'9').contains(c));
    let erange = v.is_infinite()
        || (v == 0.0 && mantissa_nonzero)
        || (v != 0.0 && v.abs() < f64::MIN_POSITIVE);
    (v, j, erange)
}

/// Hex float body after `0x`: digits, optional fraction, optional `p` exp.
fn hex_float(s: &[u8]) -> Option<(f64, usize)> {
    let mut j = 0;
    let mut v = 0.0f64;
    let mut digits = 0;
    let mut exp: i64 = 0;
    while j < s.len() && s[j].is_ascii_hexdigit() {
        v = v * 16.0 + f64::from((s[j] as char).to_digit(16)?);
        j += 1;
        digits += 1;
    }
    if j < s.len() && s[j] == b'.' {
        j += 1;
        while j < s.len() && s[j].is_ascii_hexdigit() {
            v = v * 16.0 + f64::from((s[j] as char).to_digit(16)?);
            exp -= 4;
            j += 1;
            digits += 1;
        }
    }
    if digits == 0 {
        return None;
    }
    if j < s.len() && (s[j] == b'p' || s[j] == b'P') {
        let mut k = j + 1;
        let mut eneg = false;
        if k < s.len() && (s[k] == b'+' || s[k] == b'-') {
            eneg = s[k] == b'-';
            k += 1;
        }
        let ds = k;
        let mut e: i64 = 0;
        while k < s.len() && s[k].is_ascii_digit() {
            e = (e * 10 + i64::from(s[k] - b'0')).min(100_000);
            k += 1;
        }
        if k > ds {
            exp += if eneg { -e } else { e };
            j = k;
        }
    }
    Some((v * 2f64.powi(exp.clamp(-5000, 5000) as i32), j))
}

/// Redis's `getDoubleFromObject`: the whole string is a float, no leading
/// space, no NaN, no overflow or underflow to zero.
pub fn parse_score(s: &[u8]) -> Option<f64> {
    if s.is_empty() || matches!(s[0], b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
        return None;
    }
    let (v, used, erange) = strtod(s);
    if used != s.len() || v.is_nan() {
        return None;
    }
    if erange && (v.is_infinite() || v == 0.0) {
        return None;
    }
    Some(v)
}

/// ZADD's option flags.
#[derive(Clone, Copy, Debug, Default)]
pub struct AddFlags {
    pub nx: bool,
    pub xx: bool,
    pub gt: bool,
    pub lt: bool,
    pub incr: bool,
}

/// What [`ZSet::add`] did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AddOutcome {
    /// The resulting score would be NaN; nothing changed.
    Nan,
    /// Not performed because of NX/XX/GT/LT.
    Nop,
    /// New member, with its score.
    Added(f64),
    /// Existing member whose score changed.
    Updated(f64),
    /// Existing member, score unchanged (still "processed").
    Unchanged(f64),
}

#[derive(Clone, Debug)]
enum Repr {
    Listpack(Vec<(f64, Bytes)>),
    Skiplist(Box<Sl>),
}

struct Sl {
    list: SkipList,
    dict: Dict<Bytes, f64>,
}

impl Clone for Sl {
    fn clone(&self) -> Self {
        let mut dict = Dict::new();
        for (k, v) in self.dict.iter() {
            dict.insert(k.clone(), *v);
        }
        Sl {
            list: self.list.clone(),
            dict,
        }
    }
}

impl std::fmt::Debug for Sl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Skiplist({} members)", self.list.len())
    }
}

/// A sorted set.
#[derive(Clone, Debug)]
pub struct ZSet {
    repr: Repr,
}

impl Default for ZSet {
    fn default() -> Self {
        ZSet::new()
    }
}

#[inline]
fn lp_less(a: &(f64, Bytes), score: f64, member: &[u8]) -> bool {
    a.0 < score || (a.0 == score && a.1[..] < *member)
}

/// Position inside a set while walking a range.
#[derive(Clone, Copy)]
enum Pos {
    Lp(usize),
    Sl(u32),
}

impl ZSet {
    /// An empty listpack-encoded set.
    pub fn new() -> ZSet {
        ZSet {
            repr: Repr::Listpack(Vec::new()),
        }
    }

    /// An empty skiplist-encoded set.
    pub fn new_skiplist() -> ZSet {
        ZSet {
            repr: Repr::Skiplist(Box::new(Sl {
                list: SkipList::new(),
                dict: Dict::new(),
            })),
        }
    }

    /// The set ZADD creates for a new key whose first member is
    /// `first_member_len` bytes long (Redis 7.0 rule).
    pub fn new_for(first_member_len: usize, limits: Limits) -> ZSet {
        if limits.max_entries == 0 || first_member_len > limits.max_value {
            ZSet::new_skiplist()
        } else {
            ZSet::new()
        }
    }

    /// Builds a set from distinct members (store commands): listpack when
    /// it fits the limits, otherwise skiplist.
    pub fn from_entries(entries: Vec<(Bytes, f64)>, limits: Limits) -> ZSet {
        let maxlen = entries.iter().map(|(m, _)| m.len()).max().unwrap_or(0);
        if entries.len() <= limits.max_entries && maxlen <= limits.max_value {
            let mut v: Vec<(f64, Bytes)> = entries
                .into_iter()
                .map(|(m, s)| (if s == 0.0 { 0.0 } else { s }, m))
                .collect();
            // partial_cmp: -0 and 0 are equal scores, as in Redis.
            v.sort_by(|a, b| {
                a.0.partial_cmp(&b.0)
                    .unwrap_or(std::cmp::Ordering::Equal)
                    .then_with(|| a.1.cmp(&b.1))
            });
            ZSet {
                repr: Repr::Listpack(v),
            }
        } else {
            let mut z = ZSet::new_skiplist();
            if let Repr::Skiplist(sl) = &mut z.repr {
                for (m, s) in entries {
                    sl.list.insert(s, m.clone());
                    sl.dict.insert(m, s);
                }
            }
            z
        }
    }

    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Listpack(v) => v.len(),
            Repr::Skiplist(sl) => sl.list.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// OBJECT ENCODING answer.
    pub fn encoding(&self) -> &'static str {
        match &self.repr {
            Repr::Listpack(_) => "listpack",
            Repr::Skiplist(_) => "skiplist",
        }
    }

    pub fn mem_usage(&self) -> usize {
        match &self.repr {
            Repr::Listpack(v) => v.iter().map(|(_, m)| m.len() + 11).sum(),
            Repr::Skiplist(sl) => {
                sl.list.mem_usage() + sl.dict.bucket_count() * 8 + sl.dict.len() * 40
            }
        }
    }

    /// Converts a listpack set to the skiplist encoding.
    pub fn convert_to_skiplist(&mut self) {
        if let Repr::Listpack(v) = &mut self.repr {
            let v = std::mem::take(v);
            let mut sl = Sl {
                list: SkipList::new(),
                dict: Dict::new(),
            };
            for (s, m) in v {
                sl.list.insert(s, m.clone());
                sl.dict.insert(m, s);
            }
            self.repr = Repr::Skiplist(Box::new(sl));
        }
    }

    /// Score of `member`.
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match &self.repr {
            Repr::Listpack(v) => v.iter().find(|(_, m)| m[..] == *member).map(|e| e.0),
            Repr::Skiplist(sl) => sl.dict.get(member).copied(),
        }
    }

    fn lp_insert(v: &mut Vec<(f64, Bytes)>, score: f64, member: Bytes) {
        // A listpack stores scores as text through Redis 7.0's d2string,
        // whose integer fast path turns -0 into "0".
        let score = if score == 0.0 { 0.0 } else { score };
        let at = v.partition_point(|e| lp_less(e, score, &member));
        v.insert(at, (score, member));
    }

    /// Redis's `zsetAdd`: adds or updates `member` honouring the flags.
    pub fn add(
        &mut self,
        score: f64,
        member: &[u8],
        flags: AddFlags,
        limits: Limits,
    ) -> AddOutcome {
        if score.is_nan() {
            return AddOutcome::Nan;
        }
        let mut score = score;
        if let Some(cur) = self.score(member) {
            if flags.nx {
                return AddOutcome::Nop;
            }
            if flags.incr {
                score += cur;
                if score.is_nan() {
                    return AddOutcome::Nan;
                }
            }
            if (flags.lt && score >= cur) || (flags.gt && score <= cur) {
                return AddOutcome::Nop;
            }
            if score == cur {
                return AddOutcome::Unchanged(score);
            }
            match &mut self.repr {
                Repr::Listpack(v) => {
                    if let Some(i) = v.iter().position(|(_, m)| m[..] == *member) {
                        let (_, m) = v.remove(i);
                        Self::lp_insert(v, score, m);
                    }
                }
                Repr::Skiplist(sl) => {
                    sl.list.update_score(cur, member, score);
                    if let Some(s) = sl.dict.get_mut(member) {
                        *s = score;
                    }
                }
            }
            return AddOutcome::Updated(score);
        }
        if flags.xx {
            return AddOutcome::Nop;
        }
        if let Repr::Listpack(v) = &self.repr {
            if v.len() + 1 > limits.max_entries || member.len() > limits.max_value {
                self.convert_to_skiplist();
            }
        }
        let m = Bytes::copy_from_slice(member);
        match &mut self.repr {
            Repr::Listpack(v) => Self::lp_insert(v, score, m),
            Repr::Skiplist(sl) => {
                sl.list.insert(score, m.clone());
                sl.dict.insert(m, score);
            }
        }
        AddOutcome::Added(score)
    }

    /// Removes `member`. Returns true if it was present.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match &mut self.repr {
            Repr::Listpack(v) => match v.iter().position(|(_, m)| m[..] == *member) {
                Some(i) => {
                    v.remove(i);
                    true
                }
                None => false,
            },
            Repr::Skiplist(sl) => match sl.dict.remove(member) {
                Some((m, s)) => {
                    sl.list.delete(s, &m);
                    true
                }
                None => false,
            },
        }
    }

    /// 0-based rank of `member` (from the highest when `rev`).
    pub fn rank(&self, member: &[u8], rev: bool) -> Option<usize> {
        let len = self.len();
        let r = match &self.repr {
            Repr::Listpack(v) => v.iter().position(|(_, m)| m[..] == *member)?,
            Repr::Skiplist(sl) => {
                let s = *sl.dict.get(member)?;
                let r = sl.list.rank(s, member);
                if r == 0 {
                    return None;
                }
                r - 1
            }
        };
        Some(if rev { len - 1 - r } else { r })
    }

    /// Member and score at 0-based rank `i` (ascending).
    pub fn get_by_rank(&self, i: usize) -> Option<(Bytes, f64)> {
        match &self.repr {
            Repr::Listpack(v) => v.get(i).map(|(s, m)| (m.clone(), *s)),
            Repr::Skiplist(sl) => {
                let x = sl.list.by_rank(i + 1);
                if x == NIL {
                    None
                } else {
                    Some((sl.list.member(x).clone(), sl.list.score(x)))
                }
            }
        }
    }

    /// Iterates in ascending order.
    pub fn iter(&self) -> Iter<'_> {
        match &self.repr {
            Repr::Listpack(v) => Iter {
                inner: IterInner::Lp(v.iter()),
            },
            Repr::Skiplist(sl) => Iter {
                inner: IterInner::Sl(&sl.list, sl.list.first()),
            },
        }
    }

    // ---- positions ----

    fn entry_at(&self, p: Pos) -> (&Bytes, f64) {
        match (&self.repr, p) {
            (Repr::Listpack(v), Pos::Lp(i)) => (&v[i].1, v[i].0),
            (Repr::Skiplist(sl), Pos::Sl(x)) => (sl.list.member(x), sl.list.score(x)),
            _ => unreachable!("position of the other encoding"),
        }
    }

    fn step(&self, p: Pos, rev: bool) -> Option<Pos> {
        match (&self.repr, p) {
            (Repr::Listpack(v), Pos::Lp(i)) => {
                if rev {
                    i.checked_sub(1).map(Pos::Lp)
                } else if i + 1 < v.len() {
                    Some(Pos::Lp(i + 1))
                } else {
                    None
                }
            }
            (Repr::Skiplist(sl), Pos::Sl(x)) => {
                let n = if rev {
                    sl.list.prev(x)
                } else {
                    sl.list.next(x)
                };
                (n != NIL).then_some(Pos::Sl(n))
            }
            _ => None,
        }
    }

    /// Moves `n` steps (O(log n) on a skiplist).
    fn skip(&self, p: Pos, n: usize, rev: bool) -> Option<Pos> {
        if n == 0 {
            return Some(p);
        }
        match (&self.repr, p) {
            (Repr::Listpack(v), Pos::Lp(i)) => {
                if rev {
                    i.checked_sub(n).map(Pos::Lp)
                } else {
                    i.checked_add(n).filter(|j| *j < v.len()).map(Pos::Lp)
                }
            }
            (Repr::Skiplist(sl), Pos::Sl(x)) => {
                let r = sl.list.rank(sl.list.score(x), sl.list.member(x));
                let target = if rev {
                    r.checked_sub(n)?
                } else {
                    r.checked_add(n)?
                };
                if target == 0 || target > sl.list.len() {
                    return None;
                }
                Some(Pos::Sl(sl.list.by_rank(target)))
            }
            _ => None,
        }
    }

    fn first_pos(&self) -> Option<Pos> {
        match &self.repr {
            Repr::Listpack(v) => (!v.is_empty()).then_some(Pos::Lp(0)),
            Repr::Skiplist(sl) => {
                let x = sl.list.first();
                (x != NIL).then_some(Pos::Sl(x))
            }
        }
    }

    fn last_pos(&self) -> Option<Pos> {
        match &self.repr {
            Repr::Listpack(v) => v.len().checked_sub(1).map(Pos::Lp),
            Repr::Skiplist(sl) => {
                let x = sl.list.last();
                (x != NIL).then_some(Pos::Sl(x))
            }
        }
    }

    fn rank_pos(&self, i: usize) -> Option<Pos> {
        match &self.repr {
            Repr::Listpack(v) => (i < v.len()).then_some(Pos::Lp(i)),
            Repr::Skiplist(sl) => {
                let x = sl.list.by_rank(i + 1);
                (x != NIL).then_some(Pos::Sl(x))
            }
        }
    }

    fn pos_rank(&self, p: Pos) -> usize {
        match (&self.repr, p) {
            (Repr::Listpack(_), Pos::Lp(i)) => i,
            (Repr::Skiplist(sl), Pos::Sl(x)) => {
                sl.list.rank(sl.list.score(x), sl.list.member(x)) - 1
            }
            _ => 0,
        }
    }

    /// Redis's zsl/zzlIsInRange.
    fn in_score_range(&self, r: &ScoreRange) -> bool {
        if r.is_empty() {
            return false;
        }
        match (self.first_pos(), self.last_pos()) {
            (Some(f), Some(l)) => r.gte_min(self.entry_at(l).1) && r.lte_max(self.entry_at(f).1),
            _ => false,
        }
    }

    fn first_in_score_range(&self, r: &ScoreRange) -> Option<Pos> {
        if !self.in_score_range(r) {
            return None;
        }
        let p = match &self.repr {
            Repr::Listpack(v) => {
                let i = v.partition_point(|e| !r.gte_min(e.0));
                (i < v.len()).then_some(Pos::Lp(i))?
            }
            Repr::Skiplist(sl) => {
                let x = sl.list.first_where_not(|s, _| !r.gte_min(s));
                (x != NIL).then_some(Pos::Sl(x))?
            }
        };
        r.lte_max(self.entry_at(p).1).then_some(p)
    }

    fn last_in_score_range(&self, r: &ScoreRange) -> Option<Pos> {
        if !self.in_score_range(r) {
            return None;
        }
        let p = match &self.repr {
            Repr::Listpack(v) => {
                let i = v.partition_point(|e| r.lte_max(e.0));
                Pos::Lp(i.checked_sub(1)?)
            }
            Repr::Skiplist(sl) => {
                let x = sl.list.last_where(|s, _| r.lte_max(s));
                (x != NIL).then_some(Pos::Sl(x))?
            }
        };
        r.gte_min(self.entry_at(p).1).then_some(p)
    }

    fn in_lex_range(&self, r: &LexRange) -> bool {
        if r.is_empty() {
            return false;
        }
        match (self.first_pos(), self.last_pos()) {
            (Some(f), Some(l)) => r.gte_min(self.entry_at(l).0) && r.lte_max(self.entry_at(f).0),
            _ => false,
        }
    }

    fn first_in_lex_range(&self, r: &LexRange) -> Option<Pos> {
        if !self.in_lex_range(r) {
            return None;
        }
        let p = match &self.repr {
            Repr::Listpack(v) => Pos::Lp(v.iter().position(|e| r.gte_min(&e.1))?),
            Repr::Skiplist(sl) => {
                let x = sl.list.first_where_not(|_, m| !r.gte_min(m));
                (x != NIL).then_some(Pos::Sl(x))?
            }
        };
        r.lte_max(self.entry_at(p).0).then_some(p)
    }

    fn last_in_lex_range(&self, r: &LexRange) -> Option<Pos> {
        if !self.in_lex_range(r) {
            return None;
        }
        let p = match &self.repr {
            Repr::Listpack(v) => Pos::Lp(v.iter().rposition(|e| r.lte_max(&e.1))?),
            Repr::Skiplist(sl) => {
                let x = sl.list.last_where(|_, m| r.lte_max(m));
                (x != NIL).then_some(Pos::Sl(x))?
            }
        };
        r.gte_min(self.entry_at(p).0).then_some(p)
    }

    // ---- ranges ----

    /// Elements at 0-based ranks `start..=end` (already clamped:
    /// `start <= end < len`), from the highest when `rev`.
    pub fn range_by_rank(&self, start: usize, end: usize, rev: bool) -> Vec<(Bytes, f64)> {
        let len = self.len();
        if start > end || end >= len {
            return Vec::new();
        }
        let n = end - start + 1;
        let mut out = Vec::with_capacity(n);
        let mut p = if rev {
            self.rank_pos(len - 1 - start)
        } else {
            self.rank_pos(start)
        };
        while let Some(q) = p {
            if out.len() == n {
                break;
            }
            let (m, s) = self.entry_at(q);
            out.push((m.clone(), s));
            p = self.step(q, rev);
        }
        out
    }

    /// ZRANGEBYSCORE's walk: `offset` elements skipped (a negative offset
    /// skips everything), then up to `limit` (negative: no limit).
    pub fn range_by_score(
        &self,
        r: &ScoreRange,
        rev: bool,
        offset: i64,
        limit: i64,
    ) -> Vec<(Bytes, f64)> {
        if offset > 0 && offset as u64 >= self.len() as u64 {
            return Vec::new();
        }
        let start = if rev {
            self.last_in_score_range(r)
        } else {
            self.first_in_score_range(r)
        };
        self.walk(start, rev, offset, limit, |z, p| {
            let s = z.entry_at(p).1;
            if rev {
                r.gte_min(s)
            } else {
                r.lte_max(s)
            }
        })
    }

    /// ZRANGEBYLEX's walk (see [`ZSet::range_by_score`]).
    pub fn range_by_lex(
        &self,
        r: &LexRange,
        rev: bool,
        offset: i64,
        limit: i64,
    ) -> Vec<(Bytes, f64)> {
        if offset > 0 && offset as u64 >= self.len() as u64 {
            return Vec::new();
        }
        let start = if rev {
            self.last_in_lex_range(r)
        } else {
            self.first_in_lex_range(r)
        };
        self.walk(start, rev, offset, limit, |z, p| {
            let m = z.entry_at(p).0;
            if rev {
                r.gte_min(m)
            } else {
                r.lte_max(m)
            }
        })
    }

    fn walk(
        &self,
        start: Option<Pos>,
        rev: bool,
        offset: i64,
        limit: i64,
        inside: impl Fn(&ZSet, Pos) -> bool,
    ) -> Vec<(Bytes, f64)> {
        let Some(p) = start else {
            return Vec::new();
        };
        if offset < 0 {
            return Vec::new();
        }
        let mut p = self.skip(p, offset as usize, rev);
        let mut out = Vec::new();
        let mut left = limit;
        while let Some(q) = p {
            if left == 0 {
                break;
            }
            left -= 1;
            if !inside(self, q) {
                break;
            }
            let (m, s) = self.entry_at(q);
            out.push((m.clone(), s));
            p = self.step(q, rev);
        }
        out
    }

    /// ZCOUNT.
    pub fn count_by_score(&self, r: &ScoreRange) -> usize {
        let Some(first) = self.first_in_score_range(r) else {
            return 0;
        };
        match &self.repr {
            Repr::Listpack(_) => {
                let mut n = 0;
                let mut p = Some(first);
                while let Some(q) = p {
                    if !r.lte_max(self.entry_at(q).1) {
                        break;
                    }
                    n += 1;
                    p = self.step(q, false);
                }
                n
            }
            Repr::Skiplist(_) => {
                let a = self.pos_rank(first);
                match self.last_in_score_range(r) {
                    Some(l) => self.pos_rank(l) + 1 - a,
                    None => 0,
                }
            }
        }
    }

    /// ZLEXCOUNT.
    pub fn count_by_lex(&self, r: &LexRange) -> usize {
        let Some(first) = self.first_in_lex_range(r) else {
            return 0;
        };
        match &self.repr {
            Repr::Listpack(_) => {
                let mut n = 0;
                let mut p = Some(first);
                while let Some(q) = p {
                    if !r.lte_max(self.entry_at(q).0) {
                        break;
                    }
                    n += 1;
                    p = self.step(q, false);
                }
                n
            }
            Repr::Skiplist(_) => {
                let a = self.pos_rank(first);
                match self.last_in_lex_range(r) {
                    Some(l) => (self.pos_rank(l) + 1).saturating_sub(a),
                    None => 0,
                }
            }
        }
    }

    /// ZREMRANGEBYRANK over clamped 0-based ranks. Returns the count.
    pub fn remove_range_by_rank(&mut self, start: usize, end: usize) -> usize {
        if start > end || end >= self.len() {
            return 0;
        }
        match &mut self.repr {
            Repr::Listpack(v) => {
                v.drain(start..=end);
                end - start + 1
            }
            Repr::Skiplist(sl) => {
                let removed = sl.list.delete_rank_range(start + 1, end + 1);
                for m in &removed {
                    sl.dict.remove(&m[..]);
                }
                removed.len()
            }
        }
    }

    /// ZREMRANGEBYSCORE.
    pub fn remove_range_by_score(&mut self, r: &ScoreRange) -> usize {
        match &mut self.repr {
            Repr::Listpack(_) => {
                let Some(Pos::Lp(i)) = self.first_in_score_range(r) else {
                    return 0;
                };
                let Repr::Listpack(v) = &mut self.repr else {
                    return 0;
                };
                let j = i + v[i..].iter().take_while(|e| r.lte_max(e.0)).count();
                v.drain(i..j);
                j - i
            }
            Repr::Skiplist(sl) => {
                let removed = sl
                    .list
                    .delete_run(|s, _| !r.gte_min(s), |s, _| r.lte_max(s));
                for m in &removed {
                    sl.dict.remove(&m[..]);
                }
                removed.len()
            }
        }
    }

    /// ZREMRANGEBYLEX.
    pub fn remove_range_by_lex(&mut self, r: &LexRange) -> usize {
        match &mut self.repr {
            Repr::Listpack(_) => {
                let Some(Pos::Lp(i)) = self.first_in_lex_range(r) else {
                    return 0;
                };
                let Repr::Listpack(v) = &mut self.repr else {
                    return 0;
                };
                let j = i + v[i..].iter().take_while(|e| r.lte_max(&e.1)).count();
                v.drain(i..j);
                j - i
            }
            Repr::Skiplist(sl) => {
                let removed = sl
                    .list
                    .delete_run(|_, m| !r.gte_min(m), |_, m| r.lte_max(m));
                for m in &removed {
                    sl.dict.remove(&m[..]);
                }
                removed.len()
            }
        }
    }

    /// Removes and returns up to `count` lowest (or highest when `max`)
    /// elements, in pop order.
    pub fn pop(&mut self, max: bool, count: usize) -> Vec<(Bytes, f64)> {
        let n = count.min(self.len());
        let mut out = Vec::with_capacity(n);
        match &mut self.repr {
            Repr::Listpack(v) => {
                if max {
                    for _ in 0..n {
                        if let Some((s, m)) = v.pop() {
                            out.push((m, s));
                        }
                    }
                } else {
                    out.extend(v.drain(..n).map(|(s, m)| (m, s)));
                }
            }
            Repr::Skiplist(sl) => {
                for _ in 0..n {
                    let x = if max { sl.list.last() } else { sl.list.first() };
                    if x == NIL {
                        break;
                    }
                    let m = sl.list.member(x).clone();
                    let s = sl.list.score(x);
                    sl.list.delete(s, &m);
                    sl.dict.remove(&m[..]);
                    out.push((m, s));
                }
            }
        }
        out
    }

    /// A uniformly random element.
    pub fn random<R: Rng + ?Sized>(&self, rng: &mut R) -> Option<(Bytes, f64)> {
        let len = self.len();
        if len == 0 {
            return None;
        }
        self.get_by_rank(rng.random_range(0..len))
    }

    /// One ZSCAN step: calls `f` for each visited element and returns the
    /// next cursor. The listpack encoding returns everything at once
    /// (cursor 0), as Redis.
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(&Bytes, f64)) -> u64 {
        match &self.repr {
            Repr::Listpack(v) => {
                for (s, m) in v {
                    f(m, *s);
                }
                0
            }
            Repr::Skiplist(sl) => {
                let mut cursor = cursor;
                let mut visited = 0usize;
                let mut iterations = count.saturating_mul(10).max(1);
                loop {
                    cursor = sl.dict.scan(cursor, |m, s| {
                        visited += 1;
                        f(m, *s)
                    });
                    iterations -= 1;
                    // Redis counts members and scores in its reply list.
                    if cursor == 0 || iterations == 0 || visited * 2 >= count {
                        break;
                    }
                }
                cursor
            }
        }
    }

    /// Checks internal invariants (tests).
    pub fn check(&self) {
        match &self.repr {
            Repr::Listpack(v) => {
                for w in v.windows(2) {
                    assert!(lp_less(&w[0], w[1].0, &w[1].1));
                }
            }
            Repr::Skiplist(sl) => {
                sl.list.check();
                assert_eq!(sl.dict.len(), sl.list.len());
                for (m, s) in self.iter() {
                    assert_eq!(sl.dict.get(&m[..]).copied(), Some(s));
                }
            }
        }
    }
}

/// Ascending iterator over (member, score).
pub struct Iter<'a> {
    inner: IterInner<'a>,
}

enum IterInner<'a> {
    Lp(std::slice::Iter<'a, (f64, Bytes)>),
    Sl(&'a SkipList, u32),
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a Bytes, f64);

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.inner {
            IterInner::Lp(it) => it.next().map(|(s, m)| (m, *s)),
            IterInner::Sl(list, x) => {
                if *x == NIL {
                    return None;
                }
                let cur = *x;
                *x = list.next(cur);
                Some((list.member(cur), list.score(cur)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    const SMALL: Limits = Limits {
        max_entries: 16,
        max_value: 64,
    };

    fn sorted_model(m: &std::collections::HashMap<Bytes, f64>) -> Vec<(Bytes, f64)> {
        let mut v: Vec<(Bytes, f64)> = m.iter().map(|(k, s)| (k.clone(), *s)).collect();
        v.sort_by(|a, b| {
            a.1.partial_cmp(&b.1)
                .unwrap_or(std::cmp::Ordering::Equal)
                .then_with(|| a.0.cmp(&b.0))
        });
        v
    }

    fn run_model(seed: u64, ops: usize, limits: Limits) {
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut z = ZSet::new();
        let mut model: std::collections::HashMap<Bytes, f64> = std::collections::HashMap::new();
        for step in 0..ops {
            let member = Bytes::from(format!("m{}", rng.random_range(0..300u32)));
            let score = f64::from(rng.random_range(-20i32..20)) / 2.0;
            match rng.random_range(0..10u32) {
                0..=4 => {
                    let out = z.add(score, &member, AddFlags::default(), limits);
                    let prev = model.insert(member.clone(), score);
                    match prev {
                        None => assert_eq!(out, AddOutcome::Added(score)),
                        Some(p) if p == score => assert_eq!(out, AddOutcome::Unchanged(score)),
                        Some(_) => assert_eq!(out, AddOutcome::Updated(score)),
                    }
                }
                5 => {
                    let flags = AddFlags {
                        incr: true,
                        ..AddFlags::default()
                    };
                    z.add(score, &member, flags, limits);
                    let e = model.entry(member.clone()).or_insert(0.0);
                    *e += score;
                    assert_eq!(z.score(&member), Some(*e), "seed {seed} step {step}");
                }
                6 => {
                    assert_eq!(z.remove(&member), model.remove(&member).is_some());
                }
                7 => {
                    let len = model.len();
                    if len > 0 {
                        let a = rng.random_range(0..len);
                        let b = rng.random_range(a..len);
                        let n = z.remove_range_by_rank(a, b);
                        assert_eq!(n, b - a + 1);
                        for (m, _) in sorted_model(&model)[a..=b].iter() {
                            model.remove(m);
                        }
                    }
                }
                8 => {
                    let r = ScoreRange {
                        min: score,
                        max: score + 2.0,
                        minex: rng.random(),
                        maxex: rng.random(),
                    };
                    let want: Vec<_> = sorted_model(&model)
                        .into_iter()
                        .filter(|(_, s)| r.gte_min(*s) && r.lte_max(*s))
                        .collect();
                    assert_eq!(z.count_by_score(&r), want.len(), "seed {seed} step {step}");
                    assert_eq!(
                        z.range_by_score(&r, false, 0, -1),
                        want,
                        "seed {seed} step {step}"
                    );
                    let mut rev = want.clone();
                    rev.reverse();
                    assert_eq!(
                        z.range_by_score(&r, true, 0, -1),
                        rev,
                        "seed {seed} step {step}"
                    );
                    let off = rng.random_range(0..4i64);
                    let lim = rng.random_range(-1..4i64);
                    let sliced: Vec<_> = want
                        .iter()
                        .skip(off as usize)
                        .take(if lim < 0 { usize::MAX } else { lim as usize })
                        .cloned()
                        .collect();
                    assert_eq!(
                        z.range_by_score(&r, false, off, lim),
                        sliced,
                        "seed {seed} step {step}"
                    );
                    if rng.random_range(0..4) == 0 {
                        let n = z.remove_range_by_score(&r);
                        assert_eq!(n, want.len());
                        for (m, _) in want {
                            model.remove(&m);
                        }
                    }
                }
                _ => {
                    let n = rng.random_range(0..3usize);
                    let max = rng.random();
                    let got = z.pop(max, n);
                    let mut sorted = sorted_model(&model);
                    if max {
                        sorted.reverse();
                    }
                    let want: Vec<_> = sorted.into_iter().take(n).collect();
                    assert_eq!(got, want, "seed {seed} step {step}");
                    for (m, _) in want {
                        model.remove(&m);
                    }
                }
            }
            // Rank and range by index against the model.
            let sorted = sorted_model(&model);
            assert_eq!(z.len(), sorted.len(), "seed {seed} step {step}");
            if step % 7 == 0 {
                z.check();
                let got: Vec<(Bytes, f64)> = z.iter().map(|(m, s)| (m.clone(), s)).collect();
                assert_eq!(got, sorted, "seed {seed} step {step}");
                for (i, (m, _)) in sorted.iter().enumerate() {
                    assert_eq!(z.rank(m, false), Some(i), "seed {seed} step {step}");
                    assert_eq!(z.rank(m, true), Some(sorted.len() - 1 - i));
                }
            }
            if !sorted.is_empty() {
                let a = rng.random_range(0..sorted.len());
                let b = rng.random_range(a..sorted.len());
                assert_eq!(
                    z.range_by_rank(a, b, false),
                    sorted[a..=b].to_vec(),
                    "seed {seed} step {step}"
                );
                let mut rev = sorted.clone();
                rev.reverse();
                assert_eq!(
                    z.range_by_rank(a, b, true),
                    rev[a..=b].to_vec(),
                    "seed {seed} step {step}"
                );
                assert_eq!(z.get_by_rank(a), Some(sorted[a].clone()));
            }
        }
    }

    #[test]
    fn random_ops_match_naive_model() {
        let base: u64 = std::env::var("ZSET_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0x5eed);
        for i in 0..6 {
            let seed = base + i;
            let limits = if i % 2 == 0 {
                SMALL
            } else {
                Limits {
                    max_entries: 0,
                    max_value: 64,
                }
            };
            let result = std::panic::catch_unwind(|| run_model(seed, 4000, limits));
            if result.is_err() {
                panic!("model mismatch with seed {seed} (rerun with ZSET_SEED={seed})");
            }
        }
    }

    #[test]
    fn lex_ranges_on_equal_scores() {
        for limits in [
            SMALL,
            Limits {
                max_entries: 0,
                max_value: 64,
            },
        ] {
            let mut z = ZSet::new_for(1, limits);
            for m in ["a", "b", "c", "d", "e", "f", "g"] {
                z.add(0.0, m.as_bytes(), AddFlags::default(), limits);
            }
            let r = LexRange::parse(b"[b", b"(e").expect("valid");
            let got: Vec<_> = z
                .range_by_lex(&r, false, 0, -1)
                .into_iter()
                .map(|e| e.0)
                .collect();
            assert_eq!(got, vec!["b", "c", "d"]);
            let got: Vec<_> = z
                .range_by_lex(&r, true, 1, 1)
                .into_iter()
                .map(|e| e.0)
                .collect();
            assert_eq!(got, vec!["c"]);
            assert_eq!(z.count_by_lex(&r), 3);
            assert_eq!(
                z.count_by_lex(&LexRange::parse(b"-", b"+").expect("valid")),
                7
            );
            assert_eq!(
                z.count_by_lex(&LexRange::parse(b"+", b"-").expect("valid")),
                0
            );
            assert_eq!(z.remove_range_by_lex(&r), 3);
            assert_eq!(z.len(), 4);
            z.check();
        }
        assert!(LexRange::parse(b"a", b"+").is_none());
        assert!(LexRange::parse(b"+x", b"+").is_none());
    }

    #[test]
    fn encodings_and_conversion() {
        let limits = Limits {
            max_entries: 3,
            max_value: 5,
        };
        let mut z = ZSet::new_for(1, limits);
        for (i, m) in ["a", "b", "c"].iter().enumerate() {
            z.add(i as f64, m.as_bytes(), AddFlags::default(), limits);
        }
        assert_eq!(z.encoding(), "listpack");
        z.add(9.0, b"d", AddFlags::default(), limits);
        assert_eq!(z.encoding(), "skiplist");
        z.pop(false, 3);
        assert_eq!(z.encoding(), "skiplist");
        let mut z = ZSet::new_for(1, limits);
        z.add(1.0, b"toolongvalue", AddFlags::default(), limits);
        assert_eq!(z.encoding(), "skiplist");
        assert_eq!(ZSet::new_for(9, limits).encoding(), "skiplist");
    }

    #[test]
    fn add_flags_and_nan() {
        let l = SMALL;
        let mut z = ZSet::new();
        let f = |nx, xx, gt, lt, incr| AddFlags {
            nx,
            xx,
            gt,
            lt,
            incr,
        };
        assert_eq!(
            z.add(1.0, b"a", f(false, true, false, false, false), l),
            AddOutcome::Nop
        );
        assert_eq!(
            z.add(1.0, b"a", f(true, false, false, false, false), l),
            AddOutcome::Added(1.0)
        );
        assert_eq!(
            z.add(5.0, b"a", f(true, false, false, false, false), l),
            AddOutcome::Nop
        );
        assert_eq!(
            z.add(0.0, b"a", f(false, false, true, false, false), l),
            AddOutcome::Nop
        );
        assert_eq!(
            z.add(3.0, b"a", f(false, false, true, false, false), l),
            AddOutcome::Updated(3.0)
        );
        assert_eq!(
            z.add(2.0, b"a", f(false, false, false, false, true), l),
            AddOutcome::Updated(5.0)
        );
        z.add(f64::INFINITY, b"b", AddFlags::default(), l);
        assert_eq!(
            z.add(
                f64::NEG_INFINITY,
                b"b",
                f(false, false, false, false, true),
                l
            ),
            AddOutcome::Nan
        );
        assert_eq!(z.score(b"b"), Some(f64::INFINITY));
    }

    #[test]
    fn score_parsing() {
        assert_eq!(parse_score(b"1.5"), Some(1.5));
        assert_eq!(parse_score(b"0x10"), Some(16.0));
        assert_eq!(parse_score(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_score(b"nan"), None);
        assert_eq!(parse_score(b" 1"), None);
        assert_eq!(parse_score(b"1e400"), None);
        assert_eq!(parse_score(b""), None);
        let r = ScoreRange::parse(b"(1", b"+inf").expect("valid");
        assert!(r.minex && !r.maxex && r.max == f64::INFINITY);
        assert!(ScoreRange::parse(b"", b"(").is_some());
        assert!(ScoreRange::parse(b"nan", b"1").is_none());
        assert!(ScoreRange::parse(b"1 ", b"1").is_none());
        assert_eq!(
            ScoreRange::parse(b" 1", b"1e400").map(|r| r.max),
            Some(f64::INFINITY)
        );
    }
}
