//! Read-aheads for KEYS and RANDOMKEY.
//!
//! Both commands read the cold tier. Under the state lock, a slow disk
//! would hold up every other client for as long as they read, so the
//! connection first takes a ticket ([`Db::keys_ticket`],
//! [`Db::random_ticket`]), reads the records off the lock
//! ([`KeysPlan::read`], [`RandomPlan::read`]), and the command, under the
//! lock, uses what was read as far as the database's change log shows it
//! still true:
//!
//! * KEYS keeps the records read ahead whose key did not change since,
//!   and takes the changed ones as they are now from the database's
//!   [`KeysWatch`]: while KEYS read-aheads are out, every change to a
//!   cold record notes what the record became, so however long the read
//!   took and however many records changed meanwhile, the call needs no
//!   store read under the lock (but for a change whose outcome was not
//!   noted, read again by key). Without a watch (it overflowed, or a
//!   flush cleared everything), it reads again the positions the change
//!   log's ring shows changed, or if the ring cannot tell either, the
//!   whole tier under the lock.
//! * RANDOMKEY draws hot or cold when the ticket is taken; a cold draw
//!   reads the first few live records from a random position, and the
//!   command returns the first of them whose record is unchanged since
//!   and still live. Otherwise it draws under the lock as before.

use bytes::Bytes;
use rand::Rng;
use std::collections::HashMap;
use std::sync::{Arc, Weak};

use super::{key_match, pattern_can_match, ColdDb, ColdTicket, Db};
use crate::cold::{self, Cf, ColdStore};

/// Which keys KEYS returns: every key for a lone `*`, else those matching
/// the pattern by Redis's rules ([`key_match`]).
pub struct KeysFilter {
    pattern: Bytes,
    all: bool,
    /// The pattern nests too deep to match a non-empty key.
    hopeless: bool,
}

impl KeysFilter {
    pub fn new(pattern: Bytes) -> KeysFilter {
        KeysFilter {
            all: &pattern[..] == b"*",
            hopeless: !pattern_can_match(&pattern),
            pattern,
        }
    }

    pub fn matches(&self, key: &[u8]) -> bool {
        self.all
            || if self.hopeless {
                key.is_empty() && self.pattern.is_empty()
            } else {
                key_match(&self.pattern, key)
            }
    }
}

/// A readable cold record a read-ahead found: position, key, deadline.
type Live = (u64, Bytes, Option<i64>);

/// The records a KEYS call will read ([`Db::keys_ticket`]).
pub(super) struct KeysPlan {
    filter: KeysFilter,
    id: u16,
    /// The watch noting changes meanwhile: its id, and a hold on it.
    watch: (u64, Arc<()>),
}

/// What a cold record changed while a [`KeysWatch`] was on became.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Watched {
    /// Logged as changing, outcome not noted (yet): read it again.
    Unknown,
    /// Gone (deleted, or ignored until its delete is redone).
    Absent,
    /// There, with this deadline.
    Present(Option<i64>),
}

/// Every change to a database's cold records while KEYS read-aheads are
/// out, with what each changed key's record became (the last change
/// wins). A KEYS over a large tier reads for a second or more while
/// writes go on; with the watch it brings its read up to date however
/// many records changed meanwhile, instead of reading the whole tier
/// again under the lock. The watch ends when the last read-ahead holding
/// it is gone, or past [`KEYS_WATCH_MAX`] keys.
pub(super) struct KeysWatch {
    id: u64,
    /// Upgrades while a read-ahead holds the watch.
    holders: Weak<()>,
    changes: HashMap<Bytes, Watched>,
}

/// Keys a [`KeysWatch`] holds at most (about 100 bytes each).
pub(super) const KEYS_WATCH_MAX: usize = 1 << 16;

static NEXT_WATCH: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl KeysWatch {
    /// Notes what `key`'s record became. False if the watch must end:
    /// nobody holds it any more, or it is full.
    pub(super) fn note(&mut self, key: &[u8], now: Watched) -> bool {
        if self.holders.strong_count() == 0 {
            return false;
        }
        if let Some(w) = self.changes.get_mut(key) {
            *w = now;
            return true;
        }
        if self.changes.len() >= KEYS_WATCH_MAX {
            return false;
        }
        self.changes.insert(Bytes::copy_from_slice(key), now);
        true
    }
}

/// A KEYS call's cold records read off the lock, with the change log's
/// position at the ticket.
pub(super) struct KeysRead {
    generation: u64,
    seq: u64,
    /// The pattern read for (a pipeline may hold several KEYS).
    pattern: Bytes,
    /// The readable records whose key matches, in position order.
    records: Vec<Live>,
    /// The watch that notes changes since the read's ticket.
    watch: (u64, Arc<()>),
}

impl KeysPlan {
    /// Reads every record of the database whose key matches; `None` if
    /// the store failed (the call then reads it under the lock).
    pub(super) fn read(self, store: &dyn ColdStore, generation: u64, seq: u64) -> Option<KeysRead> {
        let (from, to) = cold::db_range(self.id);
        let pattern = self.filter.pattern.clone();
        let mut records = Vec::new();
        store
            .scan(Cf::Data, &from, &to, &mut |k, v| {
                if let Some(live) = matching(&self.filter, k, v) {
                    records.push(live);
                }
                true
            })
            .ok()?;
        Some(KeysRead {
            generation,
            seq,
            pattern,
            records,
            watch: self.watch,
        })
    }
}

/// The record `(k, v)` if it is readable and its key passes `filter`.
fn matching(filter: &KeysFilter, k: &[u8], v: &[u8]) -> Option<Live> {
    let key = cold::user_key(k);
    if !filter.matches(key) {
        return None;
    }
    let rec = cold::decode_record(v).ok()?;
    Some((
        cold::record_position(k),
        Bytes::copy_from_slice(key),
        rec.expire_at,
    ))
}

/// Candidates a RANDOMKEY read-ahead keeps: the command needs one whose
/// record is unchanged since and still live.
const RANDOM_CANDIDATES: usize = 8;

/// A RANDOMKEY draw ([`Db::random_ticket`]).
pub(super) struct RandomPlan {
    /// The draw picked the cold tier (else memory: nothing to read).
    cold: bool,
    id: u16,
    /// Where the cold draw starts.
    pos: u64,
    /// The draw's time: records already expired are passed over.
    now_ms: i64,
}

/// Which tier a RANDOMKEY draw picked ([`Db::stashed_random`]).
pub(super) enum Draw {
    Hot,
    Cold(Option<Bytes>),
}

/// A RANDOMKEY draw, with the cold records read off the lock and the
/// change log's position at the ticket.
pub(super) struct RandomRead {
    generation: u64,
    seq: u64,
    cold: bool,
    /// The first live records from the drawn position (wrapping round).
    pub(super) candidates: Vec<Live>,
}

impl RandomPlan {
    pub(super) fn read(self, store: &dyn ColdStore, generation: u64, seq: u64) -> RandomRead {
        let mut candidates = Vec::new();
        if self.cold {
            let (start, end) = cold::db_range(self.id);
            let at = cold::data_bound(self.id, self.pos);
            let all = KeysFilter::new(Bytes::from_static(b"*"));
            for (from, to) in [(&at, &end), (&start, &at)] {
                let _ = store.scan(Cf::Data, from, to, &mut |k, v| {
                    if let Some(live) = matching(&all, k, v) {
                        if live.2.is_none_or(|at| at > self.now_ms) {
                            candidates.push(live);
                        }
                    }
                    candidates.len() < RANDOM_CANDIDATES
                });
                if candidates.len() >= RANDOM_CANDIDATES {
                    break;
                }
            }
        }
        RandomRead {
            generation,
            seq,
            cold: self.cold,
            candidates,
        }
    }
}

impl ColdDb {
    /// The cold keys KEYS returns, from a read-ahead: brought up to date
    /// from the watch if it has been on since the ticket; else its records
    /// at the positions no change was logged for since, and the records
    /// at the changed positions read again now. `None` if the log cannot
    /// tell.
    fn keys_from(&self, r: KeysRead, filter: &KeysFilter) -> Option<Vec<Live>> {
        let log = &self.log;
        let watched = log.watch.as_ref().filter(|w| {
            w.id == r.watch.0
                && r.generation == log.generation
                && r.seq >= log.barrier
                && r.seq <= log.seq
        });
        if let Some(w) = watched {
            return Some(self.keys_watched(r.records, w, filter));
        }
        let mut changed: Vec<u64> = self
            .log
            .changes_since(r.generation, r.seq)?
            .map(u64::reverse_bits)
            .collect();
        if changed.is_empty() {
            return Some(r.records);
        }
        changed.sort_unstable();
        changed.dedup();
        let mut fresh = Vec::new();
        for &pos in &changed {
            let from = cold::data_bound(self.id, pos);
            let to = match pos.checked_add(1) {
                Some(next) => cold::data_bound(self.id, next),
                None => cold::db_end(self.id),
            };
            self.locked_read();
            self.store
                .scan(Cf::Data, &from, &to, &mut |k, v| {
                    fresh.extend(matching(filter, k, v));
                    true
                })
                .ok()?;
        }
        let mut out: Vec<Live> = r
            .records
            .into_iter()
            .filter(|(pos, _, _)| changed.binary_search(pos).is_err())
            .collect();
        out.extend(fresh);
        out.sort_by_key(|(pos, _, _)| *pos);
        Some(out)
    }

    /// `records` read ahead, brought up to date from the watch `w` that
    /// was on since their ticket.
    fn keys_watched(&self, records: Vec<Live>, w: &KeysWatch, filter: &KeysFilter) -> Vec<Live> {
        let mut out: Vec<Live> = records
            .into_iter()
            .filter(|(_, key, _)| !w.changes.contains_key(key))
            .collect();
        for (key, now) in &w.changes {
            if !filter.matches(key) {
                continue;
            }
            match *now {
                Watched::Absent => {}
                Watched::Present(at) => out.push((cold::position(key), key.clone(), at)),
                Watched::Unknown => {
                    self.locked_read();
                    let dk = cold::data_key(self.id, key);
                    if let Ok(crate::cold::Fetch::Found(v)) = self.store.get(Cf::Data, &dk) {
                        out.extend(matching(filter, &dk, &v));
                    }
                }
            }
        }
        out.sort_by_key(|(pos, _, _)| *pos);
        out
    }
}

impl Db {
    /// A ticket to read, off the lock, the cold records `KEYS pattern`
    /// would read (`None`: no cold tier, or nothing in it).
    pub fn keys_ticket(&mut self, pattern: Bytes) -> Option<ColdTicket> {
        if self.cold_len() == 0 {
            return None;
        }
        let c = self.cold.as_mut()?;
        // Join the watch on, or start one.
        let held = c
            .log
            .watch
            .as_ref()
            .and_then(|w| Some((w.id, w.holders.upgrade()?)));
        let watch = match held {
            Some(h) => h,
            None => {
                let hold = Arc::new(());
                let id = NEXT_WATCH.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                c.log.watch = Some(KeysWatch {
                    id,
                    holders: Arc::downgrade(&hold),
                    changes: HashMap::new(),
                });
                (id, hold)
            }
        };
        let plan = KeysPlan {
            filter: KeysFilter::new(pattern),
            id: c.id,
            watch,
        };
        Some(c.range_ticket(super::Ahead::Keys(plan)))
    }

    /// A ticket for RANDOMKEY: the draw between the tiers happens now
    /// (each key equally likely to be drawn's tier), and a cold draw's
    /// records are read off the lock (`None`: no cold keys).
    pub fn random_ticket(&mut self, now_ms: i64) -> Option<ColdTicket> {
        let cold_keys = self.cold_len();
        if cold_keys == 0 {
            return None;
        }
        let hot = self.keys.len();
        let cold = self.rng.random_range(0..hot + cold_keys) >= hot;
        let pos: u64 = self.rng.random();
        let c = self.cold.as_ref()?;
        let plan = RandomPlan {
            cold,
            id: c.id,
            pos,
            now_ms,
        };
        Some(c.range_ticket(super::Ahead::Random(plan)))
    }

    /// Every live cold key KEYS returns for `filter` (not in memory, not
    /// expired at `now_ms`), in position order, from the read-ahead
    /// stashed for this call if the change log can bring it up to date,
    /// else from the store.
    pub fn cold_keys_matching(
        &mut self,
        filter: &KeysFilter,
        now_ms: i64,
        mut f: impl FnMut(&[u8]),
    ) {
        let Some(c) = self.cold.as_mut() else {
            return;
        };
        let stashed = c
            .keys_stash
            .iter()
            .position(|r| r.pattern == filter.pattern)
            .map(|i| c.keys_stash.remove(i));
        if c.keys == 0 {
            return;
        }
        let c = &**c;
        let mut visit = |key: &[u8], expire_at: Option<i64>| {
            if expire_at.is_none_or(|at| at > now_ms)
                && !c.ignored(key)
                && !self.keys.contains_key(key)
            {
                f(key);
            }
        };
        if let Some(records) = stashed.and_then(|r| c.keys_from(r, filter)) {
            for (_, key, expire_at) in &records {
                visit(key, *expire_at);
            }
            return;
        }
        let (from, to) = cold::db_range(c.id);
        c.locked_read();
        let _ = c.store.scan(Cf::Data, &from, &to, &mut |k, v| {
            if let Some((_, key, expire_at)) = matching(filter, k, v) {
                visit(&key, expire_at);
            }
            true
        });
    }

    /// The RANDOMKEY draw made with this call's ticket, if any: memory,
    /// or the cold tier with the first key read ahead whose record is
    /// unchanged since and still live (`None` inside if there is none
    /// left: the command reads the tier under the lock).
    pub(super) fn stashed_random(&mut self, now_ms: i64) -> Option<Draw> {
        let c = self.cold.as_mut()?;
        let r = c.random_stash.pop_front()?;
        if !r.cold {
            return Some(Draw::Hot);
        }
        let c = &**c;
        let key = r
            .candidates
            .into_iter()
            .find(|(_, key, expire_at)| {
                expire_at.is_none_or(|at| at > now_ms)
                    && c.log.unchanged_since(key, r.generation, r.seq)
                    && !c.ignored(key)
            })
            .map(|(_, key, _)| key);
        Some(Draw::Cold(key))
    }
}
