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
use crate::value::{Str, Value, ValueType};

/// A key's value with its access statistics.
///
/// `lru` packs Redis's 24-bit LRU clock (seconds modulo 2^24, for OBJECT
/// IDLETIME and LRU eviction) in its low bits and entry flags above; with
/// `lfu` it fills the 8 bytes after `value`, so Entry is no larger than
/// `value` plus the LFU word rounded up to alignment.
#[derive(Clone, Debug)]
pub struct Entry {
    pub value: Value,
    pub lfu: Lfu,
    pub lru: u32,
}

/// Redis's LRU clock: 24 bits of seconds.
pub const LRU_CLOCK_MAX: u32 = (1 << 24) - 1;
/// Entry flag (in `Entry::lru`): the value is a private copy of a small
/// integer, not Redis's shared integer object (COPY makes one), so OBJECT
/// REFCOUNT says 1 instead of `i32::MAX`.
const UNSHARED: u32 = 1 << 31;
/// Redis's OBJ_SHARED_INTEGERS: integers in `0..10000` are shared objects.
pub const SHARED_INTEGERS: i64 = 10_000;

/// The LRU clock value for `now_ms` (Redis's `LRU_CLOCK()`).
pub fn lru_clock(now_ms: i64) -> u32 {
    ((now_ms.max(0) / 1000) as u64 & u64::from(LRU_CLOCK_MAX)) as u32
}

impl Entry {
    /// A fresh entry: new LFU counter, access clock at `now_ms`.
    pub fn new(value: Value, now_ms: i64) -> Entry {
        Entry {
            value,
            lfu: Lfu::new(now_ms),
            lru: lru_clock(now_ms),
        }
    }

    /// The 24-bit access clock.
    pub fn lru_clock(&self) -> u32 {
        self.lru & LRU_CLOCK_MAX
    }

    /// Records an access for LRU purposes (keeps the flag bits).
    pub fn touch_lru(&mut self, now_ms: i64) {
        self.lru = (self.lru & !LRU_CLOCK_MAX) | lru_clock(now_ms);
    }

    /// Milliseconds since the last access, at the clock's one-second
    /// resolution (Redis's `estimateObjectIdleTime`).
    pub fn idle_ms(&self, now_ms: i64) -> u64 {
        let now = lru_clock(now_ms);
        let then = self.lru_clock();
        let secs = if now >= then {
            now - then
        } else {
            now + (LRU_CLOCK_MAX - then)
        };
        u64::from(secs) * 1000
    }

    /// Sets the access clock as if the key was last used `secs` seconds
    /// ago (RESTORE ... IDLETIME).
    pub fn set_idle(&mut self, now_ms: i64, secs: i64) {
        let at = now_ms.saturating_sub(secs.saturating_mul(1000));
        self.lru = (self.lru & !LRU_CLOCK_MAX) | lru_clock(at);
    }

    /// Marks a small-integer value as a private copy (see [`UNSHARED`]).
    pub fn set_unshared(&mut self, unshared: bool) {
        if unshared {
            self.lru |= UNSHARED;
        } else {
            self.lru &= !UNSHARED;
        }
    }

    /// True if Redis would hold this value as a shared integer object
    /// (given a maxmemory policy that allows sharing).
    pub fn is_shared_integer(&self) -> bool {
        matches!(self.value, Value::Str(Str::Int(i)) if (0..SHARED_INTEGERS).contains(&i))
            && self.lru & UNSHARED == 0
    }
}

/// What a flush removed: dropping it frees the memory, so a caller may
/// drop it on another thread (FLUSHALL ASYNC).
pub struct Flushed {
    _keys: Dict<Bytes, Entry>,
    _expires: Dict<Bytes, i64>,
}

/// Maximum `*` nesting Redis's matcher follows (Debian's 7.0.15 carries
/// the CVE-2024-31228 fix: deeper patterns never match).
const MAX_STAR_NESTING: usize = 1000;

/// Number of `*` groups a successful match recurses into in Redis's
/// `stringmatchlen`: every maximal run of unescaped stars outside a
/// character class, except a run that ends the pattern.
fn star_nesting(p: &[u8]) -> usize {
    let (mut i, mut groups) = (0usize, 0usize);
    let len = p.len();
    while i < len {
        match p[i] {
            b'*' => {
                while i < len && p[i] == b'*' {
                    i += 1;
                }
                if i < len {
                    groups += 1;
                }
            }
            b'\\' => i += if len - i >= 2 { 2 } else { 1 },
            b'[' => {
                i += 1;
                if i < len && p[i] == b'^' {
                    i += 1;
                }
                while i < len {
                    if p[i] == b'\\' && len - i >= 2 {
                        i += 2;
                    } else if p[i] == b']' {
                        i += 1;
                        break;
                    } else if len - i >= 3 && p[i + 1] == b'-' {
                        i += 3;
                    } else {
                        i += 1;
                    }
                }
            }
            _ => i += 1,
        }
    }
    groups
}

/// Key pattern matching exactly as Redis's KEYS and SCAN MATCH: glob
/// syntax, plus two quirks of `stringmatchlen`: an empty key matches only
/// the empty pattern (even `*` fails; KEYS and SCAN special-case a lone
/// `*`), and patterns nesting more than 1000 `*` never match.
pub fn key_match(pattern: &[u8], key: &[u8]) -> bool {
    if key.is_empty() {
        return pattern.is_empty();
    }
    pattern_can_match(pattern) && glob_match(pattern, key, false)
}

/// False if `pattern` nests too many `*` for Redis to ever match it with
/// a non-empty key. O(pattern); commands matching many keys against one
/// pattern check it once, which also makes abusive patterns
/// (`*?` x 50000) cost nothing per key.
pub fn pattern_can_match(pattern: &[u8]) -> bool {
    star_nesting(pattern) <= MAX_STAR_NESTING
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

    /// Removes `key` if its deadline has passed (Redis's
    /// `expireIfNeeded`). Returns true if removed; the key is reported in
    /// `expired`.
    pub fn expire_if_needed(&mut self, key: &[u8], now_ms: i64) -> bool {
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
            entry.touch_lru(now_ms);
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

    /// True if the key has a deadline that has passed (Redis's
    /// `keyIsExpired`); removes nothing.
    pub fn is_expired(&self, key: &[u8], now_ms: i64) -> bool {
        matches!(self.expires.get(key), Some(&at) if at <= now_ms)
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

    /// Sets a key's value, keeping its deadline if it has one. An
    /// overwritten key keeps its LFU counter (as Redis's `dbOverwrite`);
    /// the access clock restarts.
    pub fn set_keep_ttl(&mut self, key: Bytes, value: Value, now_ms: i64) {
        if let Some(e) = self.keys.get_mut(&key[..]) {
            let lfu = e.lfu;
            *e = Entry::new(value, now_ms);
            e.lfu = lfu;
            return;
        }
        self.keys
            .insert(crate::value::compact(key), Entry::new(value, now_ms));
    }

    /// Inserts a whole entry (with its LFU state) and an optional deadline.
    pub fn insert_entry(&mut self, key: Bytes, entry: Entry, expire_at: Option<i64>) {
        let key = crate::value::compact(key);
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

    /// Removes every key and hands the old tables to the caller, so the
    /// memory can be freed elsewhere (FLUSHALL ASYNC). O(1).
    pub fn flush(&mut self) -> Flushed {
        Flushed {
            _keys: std::mem::take(&mut self.keys),
            _expires: std::mem::take(&mut self.expires),
        }
    }

    /// Moves a key (value, access statistics and deadline) to `to`,
    /// replacing whatever `to` held. Returns false if `from` is missing.
    /// Expiry is not checked: callers look both keys up first.
    pub fn rename(&mut self, from: &[u8], to: Bytes) -> bool {
        match self.remove(from) {
            Some((entry, at)) => {
                self.remove(&to[..]);
                self.insert_entry(to, entry, at);
                true
            }
            None => false,
        }
    }

    /// Iterates over every key (expired ones included; callers check).
    pub fn iter(&self) -> impl Iterator<Item = (&Bytes, &Entry)> {
        self.keys.iter()
    }

    /// One SCAN step over the keyspace; collects matching live keys into
    /// `out` and returns the next cursor. Expired keys met are removed.
    pub fn scan(
        &mut self,
        cursor: u64,
        count: usize,
        pattern: Option<&[u8]>,
        typ: Option<ValueType>,
        now_ms: i64,
        out: &mut Vec<Bytes>,
    ) -> u64 {
        let (cursor, candidates) = self.scan_keys(cursor, count);
        for k in candidates {
            if let Some(p) = pattern {
                if !key_match(p, &k) {
                    continue;
                }
            }
            if self.expire_if_needed(&k, now_ms) {
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

    /// The unfiltered part of one SCAN call, exactly Redis's loop: visit
    /// the cursor's buckets, then keep going while the cursor is not done,
    /// fewer than `count` keys were collected, and at most `count * 10`
    /// more buckets were visited (so a sparse table cannot make one call
    /// loop for long). Returns the next cursor and the keys seen, expired
    /// ones included.
    pub fn scan_keys(&self, mut cursor: u64, count: usize) -> (u64, Vec<Bytes>) {
        let mut keys: Vec<Bytes> = Vec::new();
        let mut max_iterations = count.saturating_mul(10);
        loop {
            cursor = self.keys.scan(cursor, |k, _| keys.push(k.clone()));
            if cursor == 0 || max_iterations == 0 || keys.len() >= count {
                break;
            }
            max_iterations -= 1;
        }
        (cursor, keys)
    }

    /// A random live key (RANDOMKEY). Expired keys drawn are removed and
    /// the draw repeats, as Redis's `dbRandomKey` on a master: every miss
    /// removes a key, so this ends.
    pub fn random_key(&mut self, now_ms: i64) -> Option<Bytes> {
        loop {
            let key = self.keys.random_entry(&mut self.rng)?.0.clone();
            if !self.expire_if_needed(&key, now_ms) {
                return Some(key);
            }
        }
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
                self.avg_ttl = 0;
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
    /// Where the next active expire cycle starts (round-robin).
    next_expire_db: usize,
}

impl Keyspace {
    pub fn new(databases: usize) -> Keyspace {
        Keyspace {
            dbs: (0..databases)
                .map(|i| Db::new(0x9e37_79b9 ^ i as u64))
                .collect(),
            next_expire_db: 0,
        }
    }

    /// Redis's slow `activeExpireCycle`: runs [`Db::active_expire`] on the
    /// databases round-robin, starting after the one the previous cycle
    /// stopped in, so one database full of stale keys cannot starve the
    /// others. `time_left` bounds the work: it is asked before each
    /// database and every 16 sampling loops within one.
    pub fn active_expire_cycle(
        &mut self,
        now_ms: i64,
        per_loop: usize,
        mut time_left: impl FnMut() -> bool,
    ) -> ExpireStats {
        let n = self.dbs.len();
        let mut total = ExpireStats::default();
        for _ in 0..n {
            if !time_left() {
                break;
            }
            let i = self.next_expire_db % n;
            self.next_expire_db = (i + 1) % n;
            let mut loops = 0u32;
            let s = self.dbs[i].active_expire(now_ms, per_loop, || {
                loops += 1;
                loops & 15 != 0 || time_left()
            });
            total.sampled += s.sampled;
            total.expired += s.expired;
        }
        total
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

    #[test]
    fn entry_access_clock_does_not_grow_entry() {
        // Value, then the LFU word and the LRU word share one 8-byte slot.
        assert!(
            std::mem::size_of::<Entry>() <= std::mem::size_of::<Value>() + 8,
            "Entry {} bytes, Value {} bytes",
            std::mem::size_of::<Entry>(),
            std::mem::size_of::<Value>()
        );
    }

    #[test]
    fn lru_clock_idle_time_and_touch() {
        let mut db = Db::new(4);
        db.set(Bytes::from_static(b"a"), s("1"), 10_000);
        let e = db.get(b"a", 10_000, Touch::No).expect("a");
        assert_eq!(e.idle_ms(10_999), 0);
        assert_eq!(e.idle_ms(13_000), 3000);
        // Introspection does not touch; access does.
        db.get(b"a", 20_000, Touch::No);
        assert_eq!(db.peek(b"a").expect("a").idle_ms(20_000), 10_000);
        db.get(b"a", 20_000, Touch::Yes);
        assert_eq!(db.peek(b"a").expect("a").idle_ms(21_000), 1000);
        // The clock wraps at 2^24 seconds.
        let mut e = Entry::new(s("x"), i64::from(LRU_CLOCK_MAX) * 1000);
        assert_eq!(e.idle_ms(i64::from(LRU_CLOCK_MAX + 3) * 1000), 2000);
        e.set_unshared(true);
        e.touch_lru(5000);
        assert_eq!(e.lru_clock(), 5);
    }

    #[test]
    fn shared_integers() {
        let int = |i| Value::Str(Str::Int(i));
        assert!(Entry::new(int(0), 0).is_shared_integer());
        assert!(Entry::new(int(9999), 0).is_shared_integer());
        assert!(!Entry::new(int(10_000), 0).is_shared_integer());
        assert!(!Entry::new(int(-1), 0).is_shared_integer());
        assert!(!Entry::new(s("abc"), 0).is_shared_integer());
        let mut e = Entry::new(int(5), 0);
        e.set_unshared(true);
        assert!(!e.is_shared_integer());
        e.touch_lru(99_000);
        assert!(!e.is_shared_integer());
    }

    #[test]
    fn key_match_follows_redis_quirks() {
        assert!(key_match(b"", b""));
        assert!(!key_match(b"*", b""));
        assert!(!key_match(b"?", b""));
        assert!(key_match(b"*", b"a"));
        assert!(key_match(b"h[ae]llo", b"hallo"));
        let key = vec![b'a'; 2000];
        let mut p = b"a*".repeat(1000);
        p.push(b'a');
        assert!(key_match(&p, &key));
        let mut p = b"a*".repeat(1001);
        p.push(b'a');
        assert!(!key_match(&p, &key));
        // A trailing star run does not nest; escaped or bracketed stars
        // are not stars.
        assert!(key_match(&b"a*".repeat(1001), &key));
        assert_eq!(star_nesting(b"a\\*b[*]c*"), 0);
        assert_eq!(star_nesting(b"**a**b*"), 2);
        assert_eq!(star_nesting(b"[*"), 0);
    }

    #[test]
    fn random_key_removes_expired_draws() {
        let mut db = Db::new(5);
        assert_eq!(db.random_key(0), None);
        for i in 0..100 {
            let k = Bytes::from(format!("k{i}"));
            db.set(k.clone(), s("v"), 0);
            db.set_expire(&k, 10);
        }
        db.set(Bytes::from_static(b"live"), s("v"), 0);
        assert_eq!(db.random_key(20), Some(Bytes::from_static(b"live")));
        db.remove(b"live");
        assert_eq!(db.random_key(20), None);
        assert_eq!(db.len(), 0);
        assert_eq!(db.expired.len(), 100);
    }

    #[test]
    fn scan_keys_completes_and_rename_keeps_ttl() {
        let mut db = Db::new(6);
        for i in 0..500 {
            db.set(Bytes::from(format!("k{i}")), s("v"), 0);
        }
        let mut seen = std::collections::HashSet::new();
        let mut cursor = 0;
        loop {
            let (next, keys) = db.scan_keys(cursor, 10);
            seen.extend(keys);
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        assert_eq!(seen.len(), 500);
        db.set_expire(b"k1", 1000);
        assert!(db.rename(b"k1", Bytes::from_static(b"k2")));
        assert_eq!(db.expire_at(b"k2"), Some(1000));
        assert_eq!(db.expire_at(b"k1"), None);
        assert!(!db.rename(b"k1", Bytes::from_static(b"k3")));
        let flushed = db.flush();
        drop(flushed);
        assert_eq!(db.len(), 0);
        assert_eq!(db.expires_len(), 0);
    }

    #[test]
    fn expire_cycle_rotates_and_respects_budget() {
        let mut ks = Keyspace::new(4);
        for d in 0..4 {
            for i in 0..100 {
                let k = Bytes::from(format!("k{i}"));
                ks.db(d).set(k.clone(), s("v"), 0);
                ks.db(d).set_expire(&k, 10);
            }
        }
        // No time at all: nothing is done.
        assert_eq!(ks.active_expire_cycle(20, 20, || false).sampled, 0);
        // A budget of one database per cycle still reaches every db.
        for _ in 0..4 {
            let mut calls = 0;
            ks.active_expire_cycle(20, 20, || {
                calls += 1;
                calls == 1
            });
        }
        for d in 0..4 {
            assert!(ks.db(d).len() < 100, "db {d} never visited");
        }
        ks.active_expire_cycle(20, 20, || true);
        assert!(ks.dbs.iter().all(|db| db.is_empty()));
    }

    #[test]
    fn keyspace_matches_a_model_under_random_churn() {
        use rand::Rng;
        let mut rng = SmallRng::seed_from_u64(99);
        let mut db = Db::new(7);
        let mut model: std::collections::HashMap<Bytes, Option<i64>> = Default::default();
        for step in 0..200_000u32 {
            let k = Bytes::from(format!("k{}", rng.random_range(0..3000u32)));
            match rng.random_range(0..10u32) {
                0..=3 => {
                    db.set(k.clone(), s("v"), 0);
                    model.insert(k, None);
                }
                4..=6 => {
                    assert_eq!(db.remove(&k).is_some(), model.remove(&k).is_some());
                }
                7 => {
                    let ok = db.set_expire(&k, 1_000_000 + i64::from(step));
                    assert_eq!(ok, model.contains_key(&k));
                    if ok {
                        model.insert(k, Some(1_000_000 + i64::from(step)));
                    }
                }
                8 => {
                    assert_eq!(db.contains(&k, 0), model.contains_key(&k));
                    assert_eq!(db.expire_at(&k), model.get(&k).copied().flatten());
                }
                _ => {
                    if let Some(k) = db.random_key(0) {
                        assert!(model.contains_key(&k));
                    } else {
                        assert!(model.is_empty());
                    }
                }
            }
            if step % 20_000 == 0 {
                assert_eq!(db.len(), model.len());
                assert_eq!(
                    db.expires_len(),
                    model.values().filter(|v| v.is_some()).count()
                );
                let mut seen = std::collections::HashSet::new();
                let mut cursor = 0;
                loop {
                    let (next, keys) = db.scan_keys(cursor, 3);
                    seen.extend(keys);
                    cursor = next;
                    if cursor == 0 {
                        break;
                    }
                }
                assert_eq!(seen.len(), model.len());
                assert_eq!(db.iter().count(), model.len());
            }
        }
    }
}
