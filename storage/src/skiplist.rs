//! Redis's `zskiplist`, arena-allocated: nodes live in a `Vec` and link to
//! each other by `u32` index, so the structure is safe Rust with no
//! reference counting. Every forward link carries a span (how many
//! elements it jumps over), which gives O(log n) rank and access by rank.
//!
//! Ordering: by score, then by member bytes (memcmp, shorter first on a
//! common prefix), exactly as Redis. The list never holds NaN scores.
//!
//! Node 0 is the header; `NIL` is the null link. Freed slots are reused.

use bytes::Bytes;

/// The null link.
pub const NIL: u32 = u32::MAX;
const HEAD: u32 = 0;
/// Redis's ZSKIPLIST_MAXLEVEL.
pub const MAX_LEVEL: usize = 32;

#[derive(Clone, Copy, Debug)]
struct Level {
    forward: u32,
    span: u32,
}

#[derive(Clone, Debug)]
struct Node {
    member: Bytes,
    score: f64,
    backward: u32,
    // Most nodes have one or two levels: keep those inline with the node
    // so a traversal step touches one cache line, as in Redis.
    levels: smallvec::SmallVec<[Level; 2]>,
}

/// A skiplist ordered by (score, member).
#[derive(Clone, Debug)]
pub struct SkipList {
    nodes: Vec<Node>,
    free: Vec<u32>,
    tail: u32,
    len: usize,
    level: usize,
    rng: u64,
}

impl Default for SkipList {
    fn default() -> Self {
        Self::new()
    }
}

#[inline]
fn less(s1: f64, m1: &[u8], s2: f64, m2: &[u8]) -> bool {
    s1 < s2 || (s1 == s2 && m1 < m2)
}

impl SkipList {
    pub fn new() -> SkipList {
        let head = Node {
            member: Bytes::new(),
            score: 0.0,
            backward: NIL,
            levels: smallvec::smallvec![
                Level {
                    forward: NIL,
                    span: 0
                };
                MAX_LEVEL
            ],
        };
        SkipList {
            nodes: vec![head],
            free: Vec::new(),
            tail: NIL,
            len: 0,
            level: 1,
            rng: 0x9e37_79b9_7f4a_7c15,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Redis's zslRandomLevel: P = 1/4, at most MAX_LEVEL.
    fn random_level(&mut self) -> usize {
        let mut level = 1;
        loop {
            // xorshift64*
            self.rng ^= self.rng >> 12;
            self.rng ^= self.rng << 25;
            self.rng ^= self.rng >> 27;
            let r = self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32;
            if (r & 0xFFFF) < 0x4000 && level < MAX_LEVEL {
                level += 1;
            } else {
                return level;
            }
        }
    }

    fn alloc(&mut self, node: Node) -> u32 {
        if let Some(i) = self.free.pop() {
            self.nodes[i as usize] = node;
            i
        } else {
            self.nodes.push(node);
            (self.nodes.len() - 1) as u32
        }
    }

    #[inline]
    fn fwd(&self, x: u32, i: usize) -> u32 {
        self.nodes[x as usize].levels[i].forward
    }

    #[inline]
    fn span(&self, x: u32, i: usize) -> u32 {
        self.nodes[x as usize].levels[i].span
    }

    /// Score of node `x`.
    #[inline]
    pub fn score(&self, x: u32) -> f64 {
        self.nodes[x as usize].score
    }

    /// Member of node `x`.
    #[inline]
    pub fn member(&self, x: u32) -> &Bytes {
        &self.nodes[x as usize].member
    }

    /// First node (lowest), or NIL.
    pub fn first(&self) -> u32 {
        self.fwd(HEAD, 0)
    }

    /// Last node (highest), or NIL.
    pub fn last(&self) -> u32 {
        self.tail
    }

    /// Next node in order, or NIL.
    pub fn next(&self, x: u32) -> u32 {
        self.fwd(x, 0)
    }

    /// Previous node in order, or NIL.
    pub fn prev(&self, x: u32) -> u32 {
        self.nodes[x as usize].backward
    }

    /// Inserts a member known not to be present. Returns its node.
    pub fn insert(&mut self, score: f64, member: Bytes) -> u32 {
        let mut update = [HEAD; MAX_LEVEL];
        let mut rank = [0u32; MAX_LEVEL];
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            rank[i] = if i == self.level - 1 { 0 } else { rank[i + 1] };
            loop {
                let f = self.fwd(x, i);
                if f != NIL && less(self.score(f), self.member(f), score, &member) {
                    rank[i] += self.span(x, i);
                    x = f;
                } else {
                    break;
                }
            }
            update[i] = x;
        }
        let level = self.random_level();
        if level > self.level {
            for i in self.level..level {
                rank[i] = 0;
                update[i] = HEAD;
                self.nodes[HEAD as usize].levels[i].span = self.len as u32;
            }
            self.level = level;
        }
        let new = self.alloc(Node {
            member,
            score,
            backward: NIL,
            levels: smallvec::smallvec![
                Level {
                    forward: NIL,
                    span: 0
                };
                level
            ],
        });
        for i in 0..level {
            let u = update[i] as usize;
            let ul = self.nodes[u].levels[i];
            let d = rank[0] - rank[i];
            self.nodes[new as usize].levels[i] = Level {
                forward: ul.forward,
                span: ul.span - d,
            };
            self.nodes[u].levels[i] = Level {
                forward: new,
                span: d + 1,
            };
        }
        for (i, &u) in update.iter().enumerate().take(self.level).skip(level) {
            self.nodes[u as usize].levels[i].span += 1;
        }
        self.nodes[new as usize].backward = if update[0] == HEAD { NIL } else { update[0] };
        let f0 = self.fwd(new, 0);
        if f0 != NIL {
            self.nodes[f0 as usize].backward = new;
        } else {
            self.tail = new;
        }
        self.len += 1;
        new
    }

    /// Unlinks `x` given the update vector; frees its slot and returns its
    /// member and score.
    fn delete_node(&mut self, x: u32, update: &[u32; MAX_LEVEL]) -> (Bytes, f64) {
        for (i, &u) in update.iter().enumerate().take(self.level) {
            let u = u as usize;
            if self.nodes[u].levels[i].forward == x {
                let xl = self.nodes[x as usize].levels[i];
                self.nodes[u].levels[i].span += xl.span;
                self.nodes[u].levels[i].span -= 1;
                self.nodes[u].levels[i].forward = xl.forward;
            } else {
                self.nodes[u].levels[i].span -= 1;
            }
        }
        let f0 = self.fwd(x, 0);
        let back = self.nodes[x as usize].backward;
        if f0 != NIL {
            self.nodes[f0 as usize].backward = back;
        } else {
            self.tail = back;
        }
        while self.level > 1 && self.fwd(HEAD, self.level - 1) == NIL {
            self.level -= 1;
        }
        self.len -= 1;
        let node = &mut self.nodes[x as usize];
        let member = std::mem::take(&mut node.member);
        let score = node.score;
        node.levels = smallvec::SmallVec::new();
        self.free.push(x);
        (member, score)
    }

    /// Gives memory back after mass deletions: when under a quarter of the
    /// arena's slots are live, rebuilds the list densely. Node indices
    /// change, so callers never keep them across a deleting call.
    fn maybe_compact(&mut self) {
        if self.nodes.len() <= 64 || self.len * 4 >= self.nodes.len() {
            return;
        }
        let mut fresh = SkipList::new();
        fresh.rng = self.rng;
        fresh.nodes.reserve(self.len + 1);
        let mut x = self.first();
        while x != NIL {
            let next = self.next(x);
            let member = std::mem::take(&mut self.nodes[x as usize].member);
            fresh.insert(self.nodes[x as usize].score, member);
            x = next;
        }
        *self = fresh;
    }

    /// Update vector for the position just before (score, member).
    fn find_update(&self, score: f64, member: &[u8]) -> [u32; MAX_LEVEL] {
        let mut update = [HEAD; MAX_LEVEL];
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let f = self.fwd(x, i);
                if f != NIL && less(self.score(f), self.member(f), score, member) {
                    x = f;
                } else {
                    break;
                }
            }
            update[i] = x;
        }
        update
    }

    /// Deletes (score, member). Returns true if it was present.
    pub fn delete(&mut self, score: f64, member: &[u8]) -> bool {
        let update = self.find_update(score, member);
        let x = self.fwd(update[0], 0);
        if x != NIL && self.score(x) == score && self.member(x)[..] == *member {
            self.delete_node(x, &update);
            self.maybe_compact();
            true
        } else {
            false
        }
    }

    /// Changes the score of a present (cur, member) (Redis's
    /// zslUpdateScore: in place when the order is unchanged).
    pub fn update_score(&mut self, cur: f64, member: &[u8], new: f64) -> u32 {
        let update = self.find_update(cur, member);
        let x = self.fwd(update[0], 0);
        assert!(
            x != NIL && self.score(x) == cur && self.member(x)[..] == *member,
            "update_score of a missing element"
        );
        let back = self.prev(x);
        let f0 = self.fwd(x, 0);
        if (back == NIL || self.score(back) < new) && (f0 == NIL || self.score(f0) > new) {
            self.nodes[x as usize].score = new;
            return x;
        }
        let (m, _) = self.delete_node(x, &update);
        self.insert(new, m)
    }

    /// 1-based rank of (score, member), 0 if absent.
    pub fn rank(&self, score: f64, member: &[u8]) -> usize {
        let mut x = HEAD;
        let mut rank = 0usize;
        for i in (0..self.level).rev() {
            loop {
                let f = self.fwd(x, i);
                if f != NIL
                    && (self.score(f) < score
                        || (self.score(f) == score && self.member(f)[..] <= *member))
                {
                    rank += self.span(x, i) as usize;
                    x = f;
                } else {
                    break;
                }
            }
            if x != HEAD && self.member(x)[..] == *member {
                return rank;
            }
        }
        0
    }

    /// Node at 1-based `rank`, or NIL.
    pub fn by_rank(&self, rank: usize) -> u32 {
        let mut x = HEAD;
        let mut traversed = 0usize;
        for i in (0..self.level).rev() {
            loop {
                let f = self.fwd(x, i);
                if f != NIL && traversed + self.span(x, i) as usize <= rank {
                    traversed += self.span(x, i) as usize;
                    x = f;
                } else {
                    break;
                }
            }
            if traversed == rank {
                return if x == HEAD { NIL } else { x };
            }
        }
        NIL
    }

    /// First node for which `before` is false (the list is assumed
    /// partitioned by `before`, as Redis assumes for its range walks).
    pub fn first_where_not(&self, before: impl Fn(f64, &[u8]) -> bool) -> u32 {
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let f = self.fwd(x, i);
                if f != NIL && before(self.score(f), self.member(f)) {
                    x = f;
                } else {
                    break;
                }
            }
        }
        self.fwd(x, 0)
    }

    /// Last node for which `upto` is true (or NIL if none / the header).
    pub fn last_where(&self, upto: impl Fn(f64, &[u8]) -> bool) -> u32 {
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let f = self.fwd(x, i);
                if f != NIL && upto(self.score(f), self.member(f)) {
                    x = f;
                } else {
                    break;
                }
            }
        }
        if x == HEAD {
            NIL
        } else {
            x
        }
    }

    /// Deletes the run of nodes starting at the first node where `before`
    /// is false and going on while `inside` holds (Redis's
    /// zslDeleteRangeByScore/Lex). Returns the removed members.
    pub fn delete_run(
        &mut self,
        before: impl Fn(f64, &[u8]) -> bool,
        inside: impl Fn(f64, &[u8]) -> bool,
    ) -> Vec<Bytes> {
        let mut update = [HEAD; MAX_LEVEL];
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let f = self.fwd(x, i);
                if f != NIL && before(self.score(f), self.member(f)) {
                    x = f;
                } else {
                    break;
                }
            }
            update[i] = x;
        }
        let mut removed = Vec::new();
        let mut x = self.fwd(x, 0);
        while x != NIL && inside(self.score(x), self.member(x)) {
            let next = self.fwd(x, 0);
            removed.push(self.delete_node(x, &update).0);
            x = next;
        }
        self.maybe_compact();
        removed
    }

    /// Deletes 1-based ranks `start..=end`; returns the removed members.
    pub fn delete_rank_range(&mut self, start: usize, end: usize) -> Vec<Bytes> {
        let mut update = [HEAD; MAX_LEVEL];
        let mut x = HEAD;
        let mut traversed = 0usize;
        for i in (0..self.level).rev() {
            loop {
                let f = self.fwd(x, i);
                if f != NIL && traversed + (self.span(x, i) as usize) < start {
                    traversed += self.span(x, i) as usize;
                    x = f;
                } else {
                    break;
                }
            }
            update[i] = x;
        }
        traversed += 1;
        let mut removed = Vec::new();
        let mut x = self.fwd(x, 0);
        while x != NIL && traversed <= end {
            let next = self.fwd(x, 0);
            removed.push(self.delete_node(x, &update).0);
            traversed += 1;
            x = next;
        }
        self.maybe_compact();
        removed
    }

    /// Approximate heap bytes.
    pub fn mem_usage(&self) -> usize {
        self.nodes
            .iter()
            .map(|n| n.member.len() + 48 + n.levels.len() * 8)
            .sum()
    }

    /// Checks every structural invariant (tests).
    pub fn check(&self) {
        let mut x = self.first();
        let mut prev = NIL;
        let mut n = 0;
        while x != NIL {
            assert_eq!(self.prev(x), prev, "backward link");
            if prev != NIL {
                assert!(less(
                    self.score(prev),
                    self.member(prev),
                    self.score(x),
                    self.member(x)
                ));
            }
            n += 1;
            assert_eq!(self.rank(self.score(x), self.member(x)), n);
            assert_eq!(self.by_rank(n), x);
            prev = x;
            x = self.next(x);
        }
        assert_eq!(self.tail, prev);
        assert_eq!(n, self.len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_spans_and_compaction() {
        let mut sl = SkipList::new();
        for i in 0..1000u32 {
            sl.insert(f64::from(i % 10), Bytes::from(format!("m{i:04}")));
        }
        sl.check();
        assert_eq!(sl.len(), 1000);
        // Order is (score, member): score 0 holds m0000, m0010, ...
        let x = sl.by_rank(2);
        assert_eq!(&sl.member(x)[..], b"m0010");
        assert_eq!(sl.rank(0.0, b"m0010"), 2);
        assert_eq!(sl.rank(9.0, b"m0999"), 1000);
        assert_eq!(sl.rank(9.0, b"nope"), 0);
        let removed = sl.delete_rank_range(1, 100);
        assert_eq!(removed.len(), 100);
        sl.check();
        // Mass deletion compacts the arena.
        let removed = sl.delete_run(|s, _| s < 1.0, |s, _| s < 9.0);
        assert_eq!(removed.len(), 800);
        sl.check();
        assert_eq!(sl.len(), 100);
        assert!(sl.nodes.len() <= 4 * 100 + 1, "arena not compacted");
        for i in (9..1000u32).step_by(10) {
            assert!(sl.delete(9.0, format!("m{i:04}").as_bytes()));
        }
        assert!(sl.is_empty());
        assert_eq!(sl.first(), NIL);
        assert_eq!(sl.last(), NIL);
        sl.check();
        // In-place and moving score updates keep the order.
        for i in 0..10u32 {
            sl.insert(f64::from(i), Bytes::from(format!("k{i}")));
        }
        sl.update_score(3.0, b"k3", 3.5);
        sl.update_score(5.0, b"k5", -1.0);
        sl.check();
        assert_eq!(&sl.member(sl.first())[..], b"k5");
        assert_eq!(sl.rank(3.5, b"k3"), 5);
    }
}
