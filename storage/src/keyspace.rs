//! The keyspace: numbered databases of keys with values, expiry and LFU.
//!
//! Expiry follows Redis: a key with a deadline lives in `expires` too (so
//! active expiry can sample only keys that have one). It is removed lazily
//! when a lookup finds it past its deadline, and actively by
//! [`Db::active_expire`], which samples and stops within a time budget.
//!
//! Every key removed by expiry is appended to `Db::expired`, which the
//! server drains after each command to emit `expired` notifications,
//! invalidate WATCH, and propagate a DEL to the AOF. The engine never
//! knows about those consumers.

use bytes::Bytes;
use rand::rngs::SmallRng;
use rand::SeedableRng;

use crate::dict::Dict;
use crate::glob::glob_match;
use crate::lfu::{Lfu, LfuParams};
use crate::value::{Value, ValueType};

/// A key's value with its LFU state.
#[derive(Clone, Debug)]
pub struct Entry {
    pub value: Value,
    pub lfu: Lfu,
}

/// How a lookup treats the key's access statistics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Touch {
    /// A command reading or writing the value: bump LFU.
    Yes,
    /// Introspection (TYPE, OBJECT, TTL...): leave LFU alone.
    No,
}

/// One database (`SELECT n`).
pub struct Db {
    keys: Dict<Bytes, Entry>,
    expires: Dict<Bytes, i64>,
    /// Keys removed by expiry since the last drain (lazy or active).
    pub expired: Vec<Bytes>,
    pub lfu: LfuParams,
    rng: SmallRng,
    /// Running average TTL of sampled keys (INFO keyspace `avg_ttl`).
    pub avg_ttl: i64,
}

impl Default for Db {
    fn default() -> Self {
        Db::new(0)
    }
}

/// Outcome of one active expiry pass over a database.
#[derive(Clone, Copy, Debug, Default)]
pub struct ExpireStats {
    pub sampled: usize,
    pub expired: usize,
}

impl Db {
    pub fn new(seed: u64) -> Db {
        Db {
            keys: Dict::new(),
            expires: Dict::new(),
            expired: Vec::new(),
            lfu: LfuParams::default(),
            rng: SmallRng::seed_from_u64(seed),
            avg_ttl: 0,
        }
    }

    /// Number of keys (including keys past their deadline not yet removed).
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Number of keys with a deadline.
    pub fn expires_len(&self) -> usize {
        self.expires.len()
    }

    /// Removes `key` if its deadline has passed. Returns true if removed.
    fn expire_if_needed(&mut self, key: &[u8], now_ms: i64) -> bool {
        match self.expires.get(key) {
            Some(&at) if at <= now_ms => {
                self.expires.remove(key);
                if let Some((k, _)) = self.keys.remove(key) {
                    self.expired.push(k);
                }
                true
            }
            _ => false,
        }
    }

    /// Finds a live key for reading or writing its value.
    pub fn get_mut(&mut self, key: &[u8], now_ms: i64, touch: Touch) -> Option<&mut Entry> {
        if self.expire_if_needed(key, now_ms) {
            return None;
        }
        let params = self.lfu;
        let entry = self.keys.get_mut(key)?;
        if touch == Touch::Yes {
            entry.lfu.touch(now_ms, params, &mut self.rng);
        }
        Some(entry)
    }

    /// Finds a live key (touching LFU as requested).
    pub fn get(&mut self, key: &[u8], now_ms: i64, touch: Touch) -> Option<&Entry> {
        self.get_mut(key, now_ms, touch).map(|e| &*e)
    }

    /// True if the key exists and is live.
    pub fn contains(&mut self, key: &[u8], now_ms: i64) -> bool {
        !self.expire_if_needed(key, now_ms) && self.keys.contains_key(key)
    }

    /// Looks a key up without any side effect (may return an expired key).
    pub fn peek(&self, key: &[u8]) -> Option<&Entry> {
        self.keys.get(key)
    }

    /// Sets a key to `value`, clearing any deadline (SET semantics).
    pub fn set(&mut self, key: Bytes, value: Value, now_ms: i64) {
        self.expires.remove(&key[..]);
        self.set_keep_ttl(key, value, now_ms);
    }

    /// Sets a key's value, keeping its deadline if it has one.
    pub fn set_keep_ttl(&mut self, key: Bytes, value: Value, now_ms: i64) {
        let lfu = match self.keys.get(&key[..]) {
            Some(e) => e.lfu,
            None => Lfu::new(now_ms),
        };
        self.keys.insert(key, Entry { value, lfu });
    }

    /// Inserts a whole entry (with its LFU state) and an optional deadline.
    pub fn insert_entry(&mut self, key: Bytes, entry: Entry, expire_at: Option<i64>) {
        match expire_at {
            Some(at) => {
                self.expires.insert(key.clone(), at);
            }
            None => {
                self.expires.remove(&key[..]);
            }
        }
        self.keys.insert(key, entry);
    }

    /// Removes a key; returns its entry and deadline.
    pub fn remove(&mut self, key: &[u8]) -> Option<(Entry, Option<i64>)> {
        let (_, entry) = self.keys.remove(key)?;
        let at = self.expires.remove(key).map(|(_, at)| at);
        Some((entry, at))
    }

    /// Deadline of a key in unix milliseconds, if any.
    pub fn expire_at(&self, key: &[u8]) -> Option<i64> {
        self.expires.get(key).copied()
    }

    /// Sets a deadline on an existing key. Returns false if no such key.
    pub fn set_expire(&mut self, key: &[u8], at_ms: i64) -> bool {
        match self.keys.get_key_value(key) {
            Some((k, _)) => {
                let k = k.clone();
                self.expires.insert(k, at_ms);
                true
            }
            None => false,
        }
    }

    /// Removes a deadline. Returns true if one was removed.
    pub fn persist(&mut self, key: &[u8]) -> bool {
        self.expires.remove(key).is_some()
    }

    /// Removes every key.
    pub fn clear(&mut self) {
        self.keys.clear();
        self.expires.clear();
    }

    /// Iterates over every key (expired ones included; callers check).
    pub fn iter(&self) -> impl Iterator<Item = (&Bytes, &Entry)> {
        self.keys.iter()
    }

    /// One SCAN step over the keyspace; collects matching live keys into
    /// `out` and returns the next cursor.
    ///
    /// Visits at least `count` buckets' worth of keys (bounded at
    /// `count * 10` buckets so a sparse table cannot make one call loop for
    /// long), as Redis does.
    pub fn scan(
        &mut self,
        mut cursor: u64,
        count: usize,
        pattern: Option<&[u8]>,
        typ: Option<ValueType>,
        now_ms: i64,
        out: &mut Vec<Bytes>,
    ) -> u64 {
        let mut candidates: Vec<Bytes> = Vec::new();
        let mut iterations = count.saturating_mul(10).max(1);
        loop {
            cursor = self.keys.scan(cursor, |k, _| candidates.push(k.clone()));
            iterations -= 1;
            if cursor == 0 || iterations == 0 || candidates.len() >= count {
                break;
            }
        }
        for k in candidates {
            if let Some(p) = pattern {
                if !glob_match(p, &k, false) {
                    continue;
                }
            }
            if !self.contains(&k, now_ms) {
                continue;
            }
            if let Some(t) = typ {
                match self.keys.get(&k[..]) {
                    Some(e) if e.value.value_type() == t => {}
                    _ => continue,
                }
            }
            out.push(k);
        }
        cursor
    }

    /// A random live key (RANDOMKEY). Bounded attempts when most sampled
    /// keys turn out expired.
    pub fn random_key(&mut self, now_ms: i64) -> Option<Bytes> {
        for _ in 0..100 {
            let key = self.keys.random_entry(&mut self.rng)?.0.clone();
            if self.contains(&key, now_ms) {
                return Some(key);
            }
        }
        // Everything sampled was expired; report any key (as Redis does
        // after too many tries) if one still exists.
        self.keys
            .random_entry(&mut self.rng)
            .map(|(k, _)| k.clone())
    }

    /// A random key together with its entry, for samplers (eviction).
    pub fn random_entry(&mut self) -> Option<(&Bytes, &Entry)> {
        self.keys.random_entry(&mut self.rng)
    }

    /// Redis's active expire cycle for one database: sample up to
    /// `per_loop` keys with a deadline, remove the expired ones, and repeat
    /// while more than 10% of the sample was expired and `keep_going`
    /// allows (checked between loops; the caller enforces its time budget).
    pub fn active_expire(
        &mut self,
        now_ms: i64,
        per_loop: usize,
        mut keep_going: impl FnMut() -> bool,
    ) -> ExpireStats {
        let mut stats = ExpireStats::default();
        loop {
            if self.expires.is_empty() {
                return stats;
            }
            let n = per_loop.min(self.expires.len());
            let mut expired_now = 0;
            let mut ttl_sum: i64 = 0;
            let mut ttl_samples: i64 = 0;
            for _ in 0..n {
                let Some((k, &at)) = self.expires.random_entry(&mut self.rng) else {
                    break;
                };
                stats.sampled += 1;
                if at <= now_ms {
                    let k = k.clone();
                    if self.expire_if_needed(&k, now_ms) {
                        expired_now += 1;
                    }
                } else {
                    ttl_sum += at - now_ms;
                    ttl_samples += 1;
                }
            }
            if ttl_samples > 0 {
                let avg = ttl_sum / ttl_samples;
                self.avg_ttl = if self.avg_ttl == 0 {
                    avg
                } else {
                    (self.avg_ttl / 50) * 49 + avg / 50
                };
            }
            stats.expired += expired_now;
            // Redis stops when 10% or fewer of the sample were stale.
            if expired_now * 10 <= n || !keep_going() {
                return stats;
            }
        }
    }
}

/// All databases.
pub struct Keyspace {
    pub dbs: Vec<Db>,
}

impl Keyspace {
    pub fn new(databases: usize) -> Keyspace {
        Keyspace {
            dbs: (0..databases)
                .map(|i| Db::new(0x9e37_79b9 ^ i as u64))
                .collect(),
        }
    }

    pub fn db(&mut self, index: usize) -> &mut Db {
        &mut self.dbs[index]
    }

    /// Swaps two databases' contents (SWAPDB).
    pub fn swap(&mut self, a: usize, b: usize) {
        self.dbs.swap(a, b);
    }

    pub fn set_lfu_params(&mut self, params: LfuParams) {
        for db in &mut self.dbs {
            db.lfu = params;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Str;

    fn s(v: &str) -> Value {
        Value::Str(Str::Raw(Bytes::copy_from_slice(v.as_bytes())))
    }

    #[test]
    fn lazy_expiry_reports_key() {
        let mut db = Db::new(1);
        db.set(Bytes::from_static(b"a"), s("1"), 0);
        assert!(db.set_expire(b"a", 100));
        assert!(db.get(b"a", 99, Touch::Yes).is_some());
        assert!(db.get(b"a", 100, Touch::Yes).is_none());
        assert_eq!(db.expired, vec![Bytes::from_static(b"a")]);
        assert_eq!(db.len(), 0);
        assert_eq!(db.expires_len(), 0);
    }

    #[test]
    fn active_expiry_removes_most_stale_keys() {
        let mut db = Db::new(2);
        for i in 0..1000 {
            let k = Bytes::from(format!("k{i}"));
            db.set(k.clone(), s("v"), 0);
            db.set_expire(&k, if i % 2 == 0 { 10 } else { 1_000_000 });
        }
        // Several ticks of the cycle remove nearly all stale keys.
        let mut total = 0;
        for _ in 0..50 {
            total += db.active_expire(20, 20, || true).expired;
        }
        assert!(total > 450, "expired {total}");
        assert!(db.len() < 550);
    }

    #[test]
    fn set_clears_ttl_keep_ttl_keeps_it() {
        let mut db = Db::new(3);
        db.set(Bytes::from_static(b"a"), s("1"), 0);
        db.set_expire(b"a", 500);
        db.set_keep_ttl(Bytes::from_static(b"a"), s("2"), 0);
        assert_eq!(db.expire_at(b"a"), Some(500));
        db.set(Bytes::from_static(b"a"), s("3"), 0);
        assert_eq!(db.expire_at(b"a"), None);
    }
}
