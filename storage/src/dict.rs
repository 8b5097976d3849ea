//! A chained hash table with Redis's `dict` semantics.
//!
//! Why not `std::collections::HashMap`: the keyspace (and hash/set values)
//! need three things std does not give:
//!
//! * **SCAN's contract**: a cursor that returns every element present for
//!   the whole scan at least once, even while the table grows, shrinks or
//!   rehashes. This uses Redis's reverse-binary cursor over bucket indexes.
//! * **Random sampling** in O(1) expected time (RANDOMKEY, active expiry,
//!   eviction sampling, SRANDMEMBER, HRANDFIELD).
//! * **Incremental rehashing**, so growing a table of millions of keys never
//!   stalls a client: each write moves a few buckets from the old table.
//!
//! Invariants:
//! * `tables[0]` is the main table; `tables[1]` is non-empty only while
//!   rehashing, in which case buckets `< rehash_idx` of `tables[0]` are empty.
//! * Table sizes are zero or powers of two.

use std::borrow::Borrow;
use std::hash::{BuildHasher, Hash};

use rand::Rng;

type Link<K, V> = Option<Box<Node<K, V>>>;

struct Node<K, V> {
    key: K,
    value: V,
    next: Link<K, V>,
    /// The key's hash: compared before the key (skipping most key
    /// comparisons and the cache misses they cost) and reused when
    /// rehashing. Fits in the allocator's size class of the node.
    hash: u64,
}

struct Table<K, V> {
    buckets: Vec<Link<K, V>>,
    used: usize,
}

impl<K, V> Table<K, V> {
    fn empty() -> Self {
        Table {
            buckets: Vec::new(),
            used: 0,
        }
    }

    fn with_size(size: usize) -> Self {
        let mut buckets = Vec::with_capacity(size);
        buckets.resize_with(size, || None);
        Table { buckets, used: 0 }
    }

    fn mask(&self) -> u64 {
        (self.buckets.len() as u64).wrapping_sub(1)
    }
}

/// Buckets moved per write operation while rehashing.
const REHASH_STEP: usize = 1;
/// Empty buckets visited at most per rehash step (bounds the work).
const REHASH_EMPTY_VISITS: usize = 10;
const INITIAL_SIZE: usize = 4;

/// A hash table keyed by `K` with Redis-compatible scan and sampling.
///
/// `S` chooses the hash function. Value dicts use the default
/// (foldhash, fast, fixed seed); the keyspace uses [`KeyHasher`], a stable
/// documented hash, because the cold tier orders its records by the same
/// hash so that SCAN covers both tiers with one cursor.
pub struct Dict<K, V, S = DefaultHasher> {
    tables: [Table<K, V>; 2],
    /// Next bucket of `tables[0]` to move, or `None` when not rehashing.
    rehash_idx: Option<usize>,
    hasher: S,
}

/// The hash of value dicts (hash and set members).
#[derive(Clone, Debug)]
pub struct DefaultHasher(foldhash::fast::FixedState);

impl Default for DefaultHasher {
    fn default() -> Self {
        DefaultHasher(foldhash::fast::FixedState::with_seed(0x5eed_cafe))
    }
}

impl BuildHasher for DefaultHasher {
    type Hasher = foldhash::fast::FoldHasher<'static>;
    fn build_hasher(&self) -> Self::Hasher {
        self.0.build_hasher()
    }
}

/// The keyspace hash: XXH3-64 (seed 0) of the key bytes, nothing else
/// (length prefixes that `Hash for [u8]` feeds are ignored). Stable across
/// versions and platforms: the cold tier stores it on disk, bit-reversed,
/// as the position of each record (see `docs/formats/cold-value.md`).
#[derive(Clone, Copy, Debug, Default)]
pub struct KeyHasher;

/// Hasher state for [`KeyHasher`].
#[derive(Clone, Copy, Debug, Default)]
pub struct KeyHasherState(u64);

impl std::hash::Hasher for KeyHasherState {
    fn write(&mut self, bytes: &[u8]) {
        self.0 = xxhash_rust::xxh3::xxh3_64_with_seed(bytes, self.0);
    }
    fn write_usize(&mut self, _: usize) {}
    fn finish(&self) -> u64 {
        self.0
    }
}

impl BuildHasher for KeyHasher {
    type Hasher = KeyHasherState;
    fn build_hasher(&self) -> KeyHasherState {
        KeyHasherState(0)
    }
}

/// The keyspace hash of `key` (equal to what [`KeyHasher`] gives a
/// `Bytes` or `[u8]` key).
pub fn key_hash(key: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(key)
}

impl<K: Hash + Eq, V, S: BuildHasher + Default> Default for Dict<K, V, S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Hash + Eq, V, S: BuildHasher + Default> Dict<K, V, S> {
    pub fn new() -> Self {
        Dict {
            tables: [Table::empty(), Table::empty()],
            rehash_idx: None,
            hasher: S::default(),
        }
    }

    /// The largest table mask (`size - 1`), 0 when empty.
    pub fn max_mask(&self) -> u64 {
        self.tables
            .iter()
            .filter(|t| !t.buckets.is_empty())
            .map(|t| t.mask())
            .max()
            .unwrap_or(0)
    }

    /// Visits the entries whose position (the bit-reversed hash) lies in
    /// `[lo, lo + 2^(64 - bits))`, for a range no wider than one bucket of
    /// either table (`2^bits` >= table size). Used by the two-tier SCAN.
    pub fn scan_positions(&self, lo: u64, bits: u32, mut f: impl FnMut(&K, &V)) {
        for t in &self.tables {
            if t.buckets.is_empty() {
                continue;
            }
            let idx = lo.reverse_bits() & t.mask();
            let mut link = &t.buckets[idx as usize];
            while let Some(node) = link {
                let pos = node.hash.reverse_bits();
                if bits == 0 || (pos >> (64 - bits)) == (lo >> (64 - bits)) {
                    f(&node.key, &node.value);
                }
                link = &node.next;
            }
        }
    }

    pub fn len(&self) -> usize {
        self.tables[0].used + self.tables[1].used
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of buckets (both tables), for memory figures.
    pub fn bucket_count(&self) -> usize {
        self.tables[0].buckets.len() + self.tables[1].buckets.len()
    }

    fn hash<Q: Hash + ?Sized>(&self, key: &Q) -> u64 {
        self.hasher.hash_one(key)
    }

    pub fn is_rehashing(&self) -> bool {
        self.rehash_idx.is_some()
    }

    /// Moves up to `n` buckets from the old table to the new one.
    /// Returns false when rehashing is complete.
    pub fn rehash(&mut self, n: usize) -> bool {
        let Some(mut idx) = self.rehash_idx else {
            return false;
        };
        let mut empty_visits = n * REHASH_EMPTY_VISITS;
        let mut moved = 0;
        while moved < n && self.tables[0].used > 0 {
            while self.tables[0].buckets[idx].is_none() {
                idx += 1;
                empty_visits -= 1;
                if empty_visits == 0 {
                    self.rehash_idx = Some(idx);
                    return true;
                }
            }
            let mut chain = self.tables[0].buckets[idx].take();
            while let Some(mut node) = chain {
                chain = node.next.take();
                let h = node.hash;
                let t1 = &mut self.tables[1];
                let slot = (h & t1.mask()) as usize;
                node.next = t1.buckets[slot].take();
                t1.buckets[slot] = Some(node);
                t1.used += 1;
                self.tables[0].used -= 1;
            }
            idx += 1;
            moved += 1;
        }
        if self.tables[0].used == 0 {
            self.tables.swap(0, 1);
            self.tables[1] = Table::empty();
            self.rehash_idx = None;
            return false;
        }
        self.rehash_idx = Some(idx);
        true
    }

    fn step(&mut self) {
        if self.rehash_idx.is_some() {
            self.rehash(REHASH_STEP);
        }
    }

    fn start_resize(&mut self, size: usize) {
        if self.rehash_idx.is_some() {
            return;
        }
        let size = size.max(INITIAL_SIZE).next_power_of_two();
        if size == self.tables[0].buckets.len() {
            return;
        }
        if self.tables[0].used == 0 {
            self.tables[0] = Table::with_size(size);
            return;
        }
        self.tables[1] = Table::with_size(size);
        self.rehash_idx = Some(0);
    }

    fn expand_if_needed(&mut self) {
        if self.rehash_idx.is_some() {
            return;
        }
        let size = self.tables[0].buckets.len();
        if size == 0 {
            self.start_resize(INITIAL_SIZE);
        } else if self.tables[0].used >= size {
            self.start_resize(self.tables[0].used + 1);
        }
    }

    /// Shrinks when the table is under 1/8 full (Redis's HASHTABLE_MIN_FILL).
    pub fn shrink_if_needed(&mut self) {
        if self.rehash_idx.is_some() {
            return;
        }
        let size = self.tables[0].buckets.len();
        if size > INITIAL_SIZE && self.tables[0].used * 8 < size {
            if self.tables[0].used == 0 {
                self.tables[0] = Table::empty();
            } else {
                self.start_resize(self.tables[0].used);
            }
        }
    }

    fn find<Q>(&self, key: &Q) -> Option<&Node<K, V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if self.is_empty() {
            return None;
        }
        let h = self.hash(key);
        for t in 0..2 {
            let table = &self.tables[t];
            if table.buckets.is_empty() {
                continue;
            }
            let mut link = &table.buckets[(h & table.mask()) as usize];
            while let Some(node) = link {
                if node.hash == h && node.key.borrow() == key {
                    return Some(node);
                }
                link = &node.next;
            }
            if self.rehash_idx.is_none() {
                break;
            }
        }
        None
    }

    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.find(key).map(|n| &n.value)
    }

    pub fn get_key_value<Q>(&self, key: &Q) -> Option<(&K, &V)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.find(key).map(|n| (&n.key, &n.value))
    }

    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.find(key).is_some()
    }

    pub fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if self.is_empty() {
            return None;
        }
        // Lookups help rehashing along too (as Redis's dictFind).
        self.step();
        let h = self.hash(key);
        let rehashing = self.rehash_idx.is_some();
        for table in self.tables.iter_mut() {
            if table.buckets.is_empty() {
                continue;
            }
            let slot = (h & table.mask()) as usize;
            let mut link = &mut table.buckets[slot];
            while let Some(node) = link {
                if node.hash == h && node.key.borrow() == key {
                    return Some(&mut node.value);
                }
                link = &mut node.next;
            }
            if !rehashing {
                break;
            }
        }
        None
    }

    /// Inserts or replaces; returns the previous value.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        self.step();
        if let Some(v) = self.get_mut(&key) {
            return Some(std::mem::replace(v, value));
        }
        self.expand_if_needed();
        let h = self.hash(&key);
        let t = if self.rehash_idx.is_some() { 1 } else { 0 };
        let table = &mut self.tables[t];
        let slot = (h & table.mask()) as usize;
        let next = table.buckets[slot].take();
        table.buckets[slot] = Some(Box::new(Node {
            key,
            value,
            next,
            hash: h,
        }));
        table.used += 1;
        None
    }

    /// Removes a key, returning the stored key and value.
    pub fn remove<Q>(&mut self, key: &Q) -> Option<(K, V)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if self.is_empty() {
            return None;
        }
        self.step();
        let h = self.hash(key);
        let rehashing = self.rehash_idx.is_some();
        let mut found = None;
        for table in self.tables.iter_mut() {
            if table.buckets.is_empty() {
                continue;
            }
            let slot = (h & table.mask()) as usize;
            let mut link = &mut table.buckets[slot];
            loop {
                match link {
                    None => break,
                    Some(node) if node.hash == h && node.key.borrow() == key => {
                        let mut node = link.take().expect("matched Some above");
                        *link = node.next.take();
                        table.used -= 1;
                        found = Some((node.key, node.value));
                        break;
                    }
                    Some(node) => link = &mut node.next,
                }
            }
            if found.is_some() || !rehashing {
                break;
            }
        }
        if found.is_some() {
            self.shrink_if_needed();
        }
        found
    }

    pub fn clear(&mut self) {
        self.tables = [Table::empty(), Table::empty()];
        self.rehash_idx = None;
    }

    /// Iterates every entry (no particular order).
    pub fn iter(&self) -> Iter<'_, K, V, S> {
        Iter {
            dict: self,
            table: 0,
            bucket: 0,
            node: None,
        }
    }

    /// Redis's `dictScan`: visits every entry of the bucket(s) addressed by
    /// `cursor` and returns the next cursor (0 when the scan is complete).
    ///
    /// Guarantee: an element present from the first call to the last is
    /// visited at least once, whatever resizes happen in between; elements
    /// may be visited more than once.
    pub fn scan(&self, cursor: u64, mut f: impl FnMut(&K, &V)) -> u64 {
        if self.is_empty() {
            return 0;
        }
        let mut v = cursor;
        let visit = |table: &Table<K, V>, idx: u64, f: &mut dyn FnMut(&K, &V)| {
            let mut link = &table.buckets[idx as usize];
            while let Some(node) = link {
                f(&node.key, &node.value);
                link = &node.next;
            }
        };
        let rehashing = self.rehash_idx.is_some() && !self.tables[1].buckets.is_empty();
        if !rehashing {
            let t0 = &self.tables[0];
            let m0 = t0.mask();
            visit(t0, v & m0, &mut f);
            v |= !m0;
            v = v.reverse_bits().wrapping_add(1).reverse_bits();
        } else {
            let (small, large) = if self.tables[0].buckets.len() <= self.tables[1].buckets.len() {
                (&self.tables[0], &self.tables[1])
            } else {
                (&self.tables[1], &self.tables[0])
            };
            let m0 = small.mask();
            let m1 = large.mask();
            visit(small, v & m0, &mut f);
            loop {
                visit(large, v & m1, &mut f);
                v |= !m1;
                v = v.reverse_bits().wrapping_add(1).reverse_bits();
                if v & (m0 ^ m1) == 0 {
                    break;
                }
            }
        }
        v
    }

    /// Visits up to `count` entries found from a random bucket on, walking
    /// consecutive buckets (both tables while rehashing), as Redis's
    /// `dictGetSomeKeys`: cheaper than `count` random draws (neighbouring
    /// buckets share cache lines), and the eviction pool only needs a fair
    /// sample. Gives up after `10 * count` buckets, so a sparse table
    /// costs bounded work; may visit fewer entries, never more.
    pub fn for_some<R: Rng + ?Sized>(&self, rng: &mut R, count: usize, mut f: impl FnMut(&K, &V)) {
        if self.is_empty() || count == 0 {
            return;
        }
        let tables: &[usize] = if self.rehash_idx.is_some() {
            &[0, 1]
        } else {
            &[0]
        };
        let largest = tables
            .iter()
            .map(|&t| self.tables[t].buckets.len())
            .max()
            .unwrap_or(0);
        if largest == 0 {
            return;
        }
        let mut idx = rng.random_range(0..largest);
        let mut seen = 0usize;
        let mut steps = 0usize;
        while seen < count && steps < count * 10 {
            for &t in tables {
                let table = &self.tables[t];
                if idx >= table.buckets.len() {
                    continue;
                }
                if t == 0 && self.rehash_idx.is_some_and(|r| idx < r) {
                    // Already moved to the new table.
                    continue;
                }
                let mut link = &table.buckets[idx];
                while let Some(n) = link {
                    if seen >= count {
                        return;
                    }
                    f(&n.key, &n.value);
                    seen += 1;
                    link = &n.next;
                }
            }
            idx = (idx + 1) % largest;
            steps += 1;
        }
    }

    /// A random entry, roughly uniform (chain-length bias as in Redis).
    pub fn random_entry<R: Rng + ?Sized>(&self, rng: &mut R) -> Option<(&K, &V)> {
        if self.is_empty() {
            return None;
        }
        // Pick a random non-empty bucket across both tables, then a random
        // node of its chain.
        let start = self.rehash_idx.unwrap_or(0);
        loop {
            let (table, idx) = if self.rehash_idx.is_some() {
                let s0 = self.tables[0].buckets.len();
                let s1 = self.tables[1].buckets.len();
                let i = rng.random_range(start..s0 + s1);
                if i < s0 {
                    (&self.tables[0], i)
                } else {
                    (&self.tables[1], i - s0)
                }
            } else {
                let s0 = self.tables[0].buckets.len();
                (&self.tables[0], rng.random_range(0..s0))
            };
            if let Some(first) = &table.buckets[idx] {
                let mut len = 0usize;
                let mut link = &table.buckets[idx];
                while let Some(n) = link {
                    len += 1;
                    link = &n.next;
                }
                let mut pick = rng.random_range(0..len);
                let mut node: &Node<K, V> = first;
                while pick > 0 {
                    node = node.next.as_deref().expect("chain length counted above");
                    pick -= 1;
                }
                return Some((&node.key, &node.value));
            }
        }
    }
}

/// Iterator over all entries of a [`Dict`].
pub struct Iter<'a, K, V, S = DefaultHasher> {
    dict: &'a Dict<K, V, S>,
    table: usize,
    bucket: usize,
    node: Option<&'a Node<K, V>>,
}

impl<'a, K, V, S> Iterator for Iter<'a, K, V, S> {
    type Item = (&'a K, &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(n) = self.node {
                self.node = n.next.as_deref();
                return Some((&n.key, &n.value));
            }
            if self.table >= 2 {
                return None;
            }
            let t = &self.dict.tables[self.table];
            if self.bucket >= t.buckets.len() {
                self.table += 1;
                self.bucket = 0;
                continue;
            }
            self.node = t.buckets[self.bucket].as_deref();
            self.bucket += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use std::collections::HashSet;

    #[test]
    fn insert_get_remove() {
        let mut d: Dict<Vec<u8>, u32> = Dict::new();
        for i in 0..10_000u32 {
            assert!(d.insert(i.to_string().into_bytes(), i).is_none());
        }
        assert_eq!(d.len(), 10_000);
        for i in 0..10_000u32 {
            assert_eq!(d.get(i.to_string().as_bytes()), Some(&i));
        }
        for i in (0..10_000u32).step_by(2) {
            assert_eq!(d.remove(i.to_string().as_bytes()).map(|x| x.1), Some(i));
        }
        assert_eq!(d.len(), 5_000);
        assert_eq!(d.iter().count(), 5_000);
        assert!(d.get(b"0".as_slice()).is_none());
        assert_eq!(d.get(b"1".as_slice()), Some(&1));
    }

    #[test]
    fn scan_returns_every_stable_element_across_resizes() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
        let mut d: Dict<u64, ()> = Dict::new();
        for i in 0..2_000u64 {
            d.insert(i, ());
        }
        let mut seen = HashSet::new();
        let mut cursor = 0;
        let mut step = 0u64;
        loop {
            cursor = d.scan(cursor, |k, _| {
                seen.insert(*k);
            });
            step += 1;
            // Churn: a burst that forces growth, later its removal that
            // forces shrinking; keys < 1000 stay for the whole scan.
            if step == 20 {
                for k in 10_000..30_000u64 {
                    d.insert(k, ());
                }
            }
            if step == 200 {
                for k in 10_000..30_000u64 {
                    d.remove(&k);
                }
            }
            for _ in 0..3 {
                let k = rng.random_range(1000..2000u64);
                d.remove(&k);
                d.insert(rng.random_range(1000..2000u64), ());
            }
            if cursor == 0 {
                break;
            }
            assert!(step < 1_000_000, "scan did not terminate");
        }
        for i in 0..1000u64 {
            assert!(seen.contains(&i), "missed {i}");
        }
    }

    #[test]
    fn for_some_samples_fairly_and_within_count() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
        let mut d: Dict<u64, ()> = Dict::new();
        for i in 0..1000u64 {
            d.insert(i, ());
        }
        let mut seen = HashSet::new();
        for _ in 0..2000 {
            let mut n = 0;
            d.for_some(&mut rng, 5, |k, _| {
                seen.insert(*k);
                n += 1;
            });
            assert!((1..=5).contains(&n), "{n}");
        }
        assert!(seen.len() > 950, "{}", seen.len());
        // While rehashing both tables are sampled.
        for i in 1000..3000u64 {
            d.insert(i, ());
        }
        let mut seen = HashSet::new();
        for _ in 0..5000 {
            d.for_some(&mut rng, 5, |k, _| {
                seen.insert(*k);
            });
        }
        assert!(seen.len() > 2500, "{}", seen.len());
        let empty: Dict<u64, ()> = Dict::new();
        empty.for_some(&mut rng, 5, |_, _| panic!("empty"));
    }

    #[test]
    fn random_entry_hits_all() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
        let mut d: Dict<u64, ()> = Dict::new();
        for i in 0..16u64 {
            d.insert(i, ());
        }
        let mut seen = HashSet::new();
        for _ in 0..2000 {
            seen.insert(*d.random_entry(&mut rng).expect("non-empty").0);
        }
        assert_eq!(seen.len(), 16);
    }
}

#[cfg(test)]
mod chain_tests {
    use super::*;

    #[test]
    fn chains_stay_short_for_redis_benchmark_keys() {
        let mut d: Dict<bytes::Bytes, u32> = Dict::new();
        for i in 0..200_000u32 {
            d.insert(bytes::Bytes::from(format!("key:{:012}", i * 5)), i);
        }
        while d.rehash(1000) {}
        let t = &d.tables[0];
        let mut longest = 0;
        let mut total = 0usize;
        let mut nonempty = 0usize;
        for b in &t.buckets {
            let mut n = 0;
            let mut link = b;
            while let Some(node) = link {
                n += 1;
                link = &node.next;
            }
            longest = longest.max(n);
            total += n;
            if n > 0 {
                nonempty += 1;
            }
        }
        eprintln!(
            "buckets {} used {} nonempty {} longest {}",
            t.buckets.len(),
            total,
            nonempty,
            longest
        );
        assert!(longest < 20, "longest chain {longest}");
    }
}
