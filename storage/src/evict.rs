//! Victim choice under `maxmemory`, as Redis's `evict.c`: sample
//! `maxmemory-samples` keys per database into a pool of the 16 best
//! candidates ordered by "idle" score, and take the best one still there.
//!
//! The score depends on the policy: LFU uses `255 - decayed counter`
//! (ties broken by the admission sketch's recent count, where the
//! database has one: [`lfu_score`]), LRU the idle time, `volatile-ttl`
//! the inverse deadline. The random
//! policies pick a random key directly. With tiering on, the victim is
//! spilled to the cold tier; with it off, it is deleted.

use bytes::Bytes;

use crate::keyspace::Db;

/// `maxmemory-policy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    VolatileLru,
    VolatileLfu,
    VolatileRandom,
    VolatileTtl,
    AllkeysLru,
    AllkeysLfu,
    AllkeysRandom,
    NoEviction,
}

impl Policy {
    pub fn from_name(name: &str) -> Policy {
        match name {
            "volatile-lru" => Policy::VolatileLru,
            "volatile-lfu" => Policy::VolatileLfu,
            "volatile-random" => Policy::VolatileRandom,
            "volatile-ttl" => Policy::VolatileTtl,
            "allkeys-lru" => Policy::AllkeysLru,
            "allkeys-lfu" => Policy::AllkeysLfu,
            "allkeys-random" => Policy::AllkeysRandom,
            _ => Policy::NoEviction,
        }
    }

    fn volatile(self) -> bool {
        matches!(
            self,
            Policy::VolatileLru
                | Policy::VolatileLfu
                | Policy::VolatileRandom
                | Policy::VolatileTtl
        )
    }

    fn random(self) -> bool {
        matches!(self, Policy::VolatileRandom | Policy::AllkeysRandom)
    }
}

/// Redis's EVPOOL_SIZE.
const POOL_SIZE: usize = 16;

/// The eviction pool: best candidates first (highest score last, as
/// Redis keeps it, so the best is popped from the end).
#[derive(Default)]
pub struct Pool {
    entries: Vec<(u64, usize, Bytes)>,
    next_random_db: usize,
}

/// An LFU score: `255 - decayed counter`, then fewer recent accesses
/// (by the admission sketch) first among keys with the same counter.
fn lfu_score(db: &Db, key: &[u8], decayed: u8) -> u64 {
    (255 - u64::from(decayed)) * 16 + 15 - u64::from(db.recent_frequency(key))
}

fn score(db: &Db, key: &[u8], policy: Policy, now_ms: i64) -> Option<u64> {
    let e = db.entry(key)?;
    if e.is_spilling() {
        return None;
    }
    Some(match policy {
        Policy::AllkeysLfu | Policy::VolatileLfu => {
            lfu_score(db, key, e.lfu.decayed(now_ms, db.lfu))
        }
        Policy::VolatileTtl => u64::MAX - db.hot_expire_at(key).unwrap_or(i64::MAX).max(0) as u64,
        _ => e.idle_ms(now_ms),
    })
}

impl Pool {
    pub fn new() -> Pool {
        Pool::default()
    }

    fn insert(&mut self, idle: u64, db: usize, key: Bytes) {
        if self.entries.iter().any(|(_, d, k)| *d == db && *k == key) {
            return;
        }
        // Sorted ascending by score; full pool drops the worst (first).
        let pos = self.entries.partition_point(|(s, _, _)| *s < idle);
        if self.entries.len() >= POOL_SIZE {
            if pos == 0 {
                return;
            }
            self.entries.remove(0);
            self.entries.insert(pos - 1, (idle, db, key));
        } else {
            self.entries.insert(pos, (idle, db, key));
        }
    }

    /// Samples every database (Redis's `evictionPoolPopulate`).
    fn populate(&mut self, dbs: &mut [Db], policy: Policy, samples: usize, now_ms: i64) {
        for (i, db) in dbs.iter_mut().enumerate() {
            if db.hot_len() == 0 {
                continue;
            }
            if policy.volatile() {
                for _ in 0..samples {
                    let Some((key, _)) = db.random_volatile() else {
                        break;
                    };
                    if let Some(s) = score(db, &key, policy, now_ms) {
                        self.insert(s, i, key);
                    }
                }
            } else {
                let lfu = db.lfu;
                // A full pool takes only a better score than its worst.
                let floor = (self.entries.len() >= POOL_SIZE).then(|| self.entries[0].0);
                let mut found = Vec::with_capacity(samples);
                db.sample_entries(samples, |k, e| {
                    if e.is_spilling() {
                        return;
                    }
                    let s = match policy {
                        Policy::AllkeysLfu => u64::from(e.lfu.decayed(now_ms, lfu)),
                        _ => e.idle_ms(now_ms),
                    };
                    found.push((s, k.clone()));
                });
                for (s, key) in found {
                    let s = match policy {
                        Policy::AllkeysLfu => lfu_score(db, &key, s as u8),
                        _ => s,
                    };
                    if floor.is_none_or(|f| s > f) {
                        self.insert(s, i, key);
                    }
                }
            }
        }
    }

    /// The next victim `(db index, key)` among keys in memory, or `None`
    /// when the policy finds nothing (no keys, or no volatile keys).
    pub fn pick(
        &mut self,
        dbs: &mut [Db],
        policy: Policy,
        samples: usize,
        now_ms: i64,
    ) -> Option<(usize, Bytes)> {
        if policy.random() {
            let n = dbs.len();
            for _ in 0..n {
                let i = self.next_random_db % n;
                self.next_random_db = (i + 1) % n;
                let db = &mut dbs[i];
                for _ in 0..8 {
                    let key = if policy.volatile() {
                        db.random_volatile().map(|(k, _)| k)
                    } else {
                        db.random_entry().map(|(k, _)| k.clone())
                    };
                    let Some(key) = key else { break };
                    if db.entry(&key).is_some_and(|e| !e.is_spilling()) {
                        return Some((i, key));
                    }
                }
            }
            return None;
        }
        for _ in 0..4 {
            self.populate(dbs, policy, samples.max(1), now_ms);
            while let Some((_, db, key)) = self.entries.pop() {
                if dbs[db].entry(&key).is_some_and(|e| !e.is_spilling()) {
                    return Some((db, key));
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyspace::Touch;
    use crate::value::{Str, Value};

    #[test]
    fn lfu_picks_the_least_used_keys() {
        let mut dbs = vec![Db::new(1)];
        for i in 0..200 {
            dbs[0].set(Bytes::from(format!("k{i}")), Value::Str(Str::Int(i)), 0);
        }
        // Make k0..k99 hot.
        for _ in 0..50 {
            for i in 0..100 {
                dbs[0].get(format!("k{i}").as_bytes(), 0, Touch::Yes);
            }
        }
        let cold_picks = lfu_picks_from_k100_up(&mut dbs);
        assert!(cold_picks >= 45, "{cold_picks}");
    }

    /// Of 50 victims `k<n>` LFU picks (removing each), how many have
    /// n >= 100.
    fn lfu_picks_from_k100_up(dbs: &mut [Db]) -> usize {
        let mut pool = Pool::new();
        let mut picks = 0;
        for _ in 0..50 {
            let (_, k) = pool.pick(dbs, Policy::AllkeysLfu, 5, 0).expect("victim");
            let n: i64 = std::str::from_utf8(&k[1..])
                .expect("utf8")
                .parse()
                .expect("num");
            if n >= 100 {
                picks += 1;
            }
            dbs[0].remove(&k);
        }
        picks
    }

    #[test]
    fn lfu_ties_go_to_the_keys_read_least_lately() {
        let store: crate::cold::Store = std::sync::Arc::new(crate::cold::MemStore::new());
        let mut dbs = vec![Db::new(4)];
        let db = &mut dbs[0];
        db.attach_cold(store.clone(), 0, crate::rdb::convert::Limits::default());
        for i in 0..201 {
            db.set(Bytes::from(format!("k{i}")), Value::Str(Str::Int(i)), 0);
        }
        // One key in the cold tier: the sketch counts accesses from now.
        let job = db
            .spill_prepare_or_drop(b"k200", 0)
            .expect("in memory")
            .expect("a write");
        let rec = crate::cold::encode_record(&job.payload, job.expire_at, job.lfu, 1).expect("rec");
        store.write(job.ops(rec)).expect("write");
        assert!(db.spill_commit(&job, true, 0));
        // k0..k99 read lately (their LFU counters do not move: the same
        // counter for every key).
        for _ in 0..3 {
            for i in 0..100 {
                db.prepare_key(format!("k{i}").as_bytes(), 0, || false)
                    .expect("prepare");
            }
        }
        let unread_picks = lfu_picks_from_k100_up(&mut dbs);
        assert!(unread_picks >= 45, "{unread_picks}");
    }

    #[test]
    fn volatile_policies_only_pick_keys_with_ttl() {
        let mut dbs = vec![Db::new(2), Db::new(3)];
        for i in 0..50 {
            dbs[1].set(Bytes::from(format!("k{i}")), Value::Str(Str::Int(i)), 0);
        }
        dbs[1].set_expire(b"k7", 1000);
        let mut pool = Pool::new();
        for p in [
            Policy::VolatileLru,
            Policy::VolatileTtl,
            Policy::VolatileRandom,
        ] {
            assert_eq!(pool.pick(&mut dbs, p, 5, 0), Some((1, Bytes::from("k7"))));
        }
        dbs[1].persist(b"k7");
        assert_eq!(pool.pick(&mut dbs, Policy::VolatileLfu, 5, 0), None);
    }
}
