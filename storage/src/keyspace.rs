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

use std::collections::{HashMap, HashSet};

use crate::admit::{self, FreqSketch};
use crate::cold::{self, Cf, ColdError, Fetch, Op, Store};
use crate::dict::{key_hash, Dict, KeyHasher};
use crate::glob::glob_match;
use crate::lfu::{Lfu, LfuParams};
use crate::rdb;
use crate::value::{Str, Value, ValueType};

mod ahead;
pub use ahead::KeysFilter;

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
/// Entry flag: the value is being written to the cold tier. Any access
/// clears it, which cancels the spill (the key stays in memory).
const SPILLING: u32 = 1 << 30;
/// Entry flag: the entry's snapshot mark. It equals the database's
/// `snap_mark` once the entry is in the running snapshot (or was created
/// after its cut, or no snapshot runs); see [`Db::snap_begin`].
const SNAP: u32 = 1 << 29;
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

    /// True while a spill of this entry is in flight.
    pub fn is_spilling(&self) -> bool {
        self.lru & SPILLING != 0
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
    _keys: Dict<Bytes, Entry, KeyHasher>,
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
    keys: Dict<Bytes, Entry, KeyHasher>,
    expires: Dict<Bytes, i64>,
    /// Keys removed by expiry since the last drain (lazy or active).
    pub expired: Vec<Bytes>,
    pub lfu: LfuParams,
    rng: SmallRng,
    /// Running average TTL of sampled keys (INFO keyspace `avg_ttl`).
    pub avg_ttl: i64,
    /// The cold tier of this database, when tiering is on.
    cold: Option<Box<ColdDb>>,
    /// The `SNAP` bit value meaning "already in the running snapshot".
    snap_mark: u32,
    /// The running incremental snapshot, if any.
    snap: Option<Box<SnapState>>,
}

/// How a snapshot encodes entries.
#[derive(Clone, Copy, Debug)]
pub struct SnapOptions {
    /// The snapshot's instant: keys past their deadline then are left out.
    pub now_ms: i64,
    pub save_lfu: bool,
    pub save_lru: bool,
    pub compress: bool,
}

/// An incremental (forkless) snapshot of a database's memory tier: the
/// state of every key at the cut, gathered after it. A background walker
/// encodes keys not yet saved ([`Db::snap_step`]); any change to a key not
/// yet saved (write, delete, expiry, deadline change, spill) first saves
/// its value as it was at the cut. Keys created after the cut are marked
/// saved at birth, so they never enter it.
struct SnapState {
    /// Snapshot id (to tell a walker its snapshot is still this one).
    id: u64,
    /// Database number at the cut (SWAPDB moves the state with the `Db`).
    origin: u32,
    opts: SnapOptions,
    cursor: u64,
    done: bool,
    /// Encoded RDB entries not yet taken by the writer.
    pending: Vec<u8>,
    /// Cleared by the writer when it goes away (failed or dropped): the
    /// snapshot then ends at the next touch instead of gathering forever.
    alive: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// Encodes one key as a dump.rdb entry (the RDB object encoding), or
/// `None` if it is past its deadline at `opts.now_ms`.
pub fn encode_rdb_entry(
    db_index: u32,
    key: &[u8],
    entry: &Entry,
    expire_ms: Option<i64>,
    lfu: LfuParams,
    opts: &SnapOptions,
) -> Option<Vec<u8>> {
    if expire_ms.is_some_and(|at| at <= opts.now_ms) {
        return None;
    }
    let (value, compact) = rdb::convert::to_rdb(&entry.value);
    let e = rdb::file::RdbEntry {
        db: db_index,
        // A copy, not a clone: cloning a key `Bytes` made from a `Vec`
        // promotes it to the shared form, which costs an allocation that
        // stays with the key for good.
        key: Bytes::copy_from_slice(key),
        value,
        expire_ms,
        lfu_freq: opts.save_lfu.then(|| entry.lfu.decayed(opts.now_ms, lfu)),
        idle_secs: opts.save_lru.then(|| entry.idle_ms(opts.now_ms) / 1000),
    };
    Some(rdb::file::encode_entry(&e, compact, opts.compress))
}

/// Counters of one database's cold tier (INFO tiering).
#[derive(Clone, Debug)]
pub struct ColdStats {
    pub spills: u64,
    pub spill_bytes_raw: u64,
    pub spill_bytes_stored: u64,
    pub promotions: u64,
    pub cold_hits: u64,
    pub cold_misses: u64,
    pub expired: u64,
    pub errors: u64,
    /// Evictions of promoted keys that were unchanged: no write needed.
    pub clean_drops: u64,
    /// Cold keys read for a command but not admitted to memory (rarer
    /// than what eviction is choosing): dropped again after their batch.
    pub not_admitted: u64,
    /// Reads that took over two milliseconds (disk, not cache).
    pub slow_reads: u64,
    /// Writes made under the state lock that a stalled store refused
    /// (flushes or compactions behind): each took its refused path at
    /// once (see [`ColdDb::write_now`]) instead of making every client
    /// wait for the stall to pass.
    pub write_stalls: u64,
    /// Deletes the store refused, not yet redone (records ignored
    /// meanwhile; a gauge, not a counter).
    pub pending_deletes: u64,
    /// Store reads made with the state lock held, every other client
    /// waiting: records no read-ahead covered (see `Db::cold_ticket`),
    /// and records the active expiry reads again because its read off
    /// the lock is too old to check (see `Db::cold_expire_apply`).
    pub locked_reads: u64,
    /// Cold read latencies, log2 buckets of microseconds.
    pub read_us: [u64; 40],
}

impl Default for ColdStats {
    fn default() -> Self {
        ColdStats {
            spills: 0,
            spill_bytes_raw: 0,
            spill_bytes_stored: 0,
            promotions: 0,
            cold_hits: 0,
            cold_misses: 0,
            expired: 0,
            errors: 0,
            clean_drops: 0,
            not_admitted: 0,
            slow_reads: 0,
            write_stalls: 0,
            pending_deletes: 0,
            locked_reads: 0,
            read_us: [0; 40],
        }
    }
}

impl ColdStats {
    /// Records one cold read's latency.
    pub fn record_read(&mut self, micros: u64) {
        let b = (64 - micros.leading_zeros()) as usize;
        self.read_us[b.min(39)] += 1;
    }

    /// Approximate latency percentile in microseconds (bucket upper bound).
    pub fn read_percentile(&self, p: f64) -> u64 {
        let total: u64 = self.read_us.iter().sum();
        if total == 0 {
            return 0;
        }
        let want = ((total as f64) * p).ceil() as u64;
        let mut seen = 0;
        for (i, n) in self.read_us.iter().enumerate() {
            seen += n;
            if seen >= want {
                return if i == 0 { 1 } else { 1u64 << i };
            }
        }
        1 << 39
    }

    pub fn merge(&mut self, o: &ColdStats) {
        self.spills += o.spills;
        self.spill_bytes_raw += o.spill_bytes_raw;
        self.spill_bytes_stored += o.spill_bytes_stored;
        self.promotions += o.promotions;
        self.cold_hits += o.cold_hits;
        self.cold_misses += o.cold_misses;
        self.expired += o.expired;
        self.errors += o.errors;
        self.clean_drops += o.clean_drops;
        self.not_admitted += o.not_admitted;
        self.slow_reads += o.slow_reads;
        self.write_stalls += o.write_stalls;
        self.pending_deletes += o.pending_deletes;
        self.locked_reads += o.locked_reads;
        for (a, b) in self.read_us.iter_mut().zip(o.read_us.iter()) {
            *a += b;
        }
    }
}

/// A database's handle on the cold store.
struct ColdDb {
    store: Store,
    /// This database's id in the store's keys (moves with the `Db` on
    /// SWAPDB, so swapping is O(1)).
    id: u16,
    /// Records in the store (exact: every put and delete goes through
    /// `Db`).
    keys: u64,
    /// Records with a deadline.
    expires: u64,
    /// Keys whose spill is in flight: still in memory, maybe already
    /// written. A cold lookup of such a key answers "absent": memory (or
    /// its absence) is the truth until the spill commits.
    in_flight: HashSet<Bytes>,
    /// Keys whose record could not be deleted (the store refused the
    /// write: a full or failing disk). They count as gone: every lookup
    /// ignores the record, and the cron deletes it once the store
    /// accepts writes again (a new record for the key replaces it).
    dead: HashSet<Bytes>,
    /// Keys in memory whose cold record is still on disk, unchanged since
    /// promotion ("shadowed"): payload hash and length, and the record's
    /// deadline. Evicting such a key again only drops it from memory.
    /// Any removal from memory deletes the record too.
    clean: std::collections::HashMap<Bytes, (u64, usize, Option<i64>)>,
    /// Shadowed records with a deadline.
    clean_expires: u64,
    limits: rdb::convert::Limits,
    stats: ColdStats,
    /// `ColdStats::locked_reads`, counted by `&self` readers too.
    locked_reads: std::sync::atomic::AtomicU64,
    /// Cold-tier problems not yet logged by the server.
    errors: Vec<String>,
    /// Validates reads made off the lock: see [`ColdLog`].
    log: ColdLog,
    /// What was read off the lock for the batch about to run
    /// ([`Db::stash_prefetched`]): decoded values, which a promotion takes
    /// instead of reading the store, and raw records (or their absence),
    /// which [`Db::cold_fetch`] takes for commands that need only a
    /// header (EXISTS, TTL, SET over a cold key...); each only while its
    /// record has not changed since ([`ColdDb::fresh`]).
    stash: std::collections::HashMap<Bytes, Stashed>,
    /// SCAN calls' cold records read off the lock, for the batch about
    /// to run ([`Db::scan_ticket`]); a pipeline or a transaction may
    /// hold several calls, each finds its own by cursor and COUNT.
    scan_stash: Vec<ScanRead>,
    /// KEYS calls' cold records read off the lock ([`Db::keys_ticket`]);
    /// each call takes the first read of its pattern.
    keys_stash: Vec<ahead::KeysRead>,
    /// RANDOMKEY draws made with their tickets ([`Db::random_ticket`]),
    /// taken in the order of the calls.
    random_stash: std::collections::VecDeque<ahead::RandomRead>,
    /// Recent accesses of this database's keys, for admission (see
    /// [`crate::admit`]); made at the first access once the database has
    /// cold records, and sized up with the keys in memory.
    sketch: Option<FreqSketch>,
    /// Sketch frequency of the keys eviction chose lately, times 16 (a
    /// moving average; 0 while memory is not full: every key is admitted).
    victim_freq: u32,
    /// Keys promoted for a command but not admitted: dropped again (if
    /// unchanged) once their batch has run ([`Db::drop_transients`]).
    transient: Vec<Bytes>,
    /// The last cold record found unreadable, with why (see
    /// [`Db::prepare_key`] and [`Db::take_corrupt`]).
    corrupt: Option<(Bytes, String)>,
}

/// Source of [`ColdLog::generation`]: unique per attached store handle,
/// so a read made against one `ColdDb` never validates against another
/// (SWAPDB, a store restored from a checkpoint).
static COLD_GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Recent cold-record changes, for reads made off the lock. A connection
/// notes `(generation, seq)` under the lock, reads and decodes the record
/// without it, and under the lock again uses the result only if no change
/// to that key was logged since (or the log cannot tell: it wrapped, or a
/// range delete cleared everything).
///
/// Two views of the same changes: a ring of the last [`COLD_LOG`] key
/// hashes, walked by range checks (SCAN, KEYS: which positions changed),
/// and, for point checks (one key's read-ahead), each key hash's latest
/// change in two maps that together cover the last [`COLD_LOG_POINT`] to
/// twice that many changes. During a bulk load the spiller commits 512
/// keys at a time, so a read-ahead can see thousands of changes before
/// its command runs; the maps answer those in O(1) where the ring would
/// have given up and sent the lookup to the store under the lock.
struct ColdLog {
    generation: u64,
    /// Changes logged so far.
    seq: u64,
    /// `seq` of the last range delete: reads noted before it are void.
    barrier: u64,
    /// Key hash of change `n` at `ring[n % COLD_LOG]`.
    ring: Vec<u64>,
    /// Latest change of each key hash logged since `recent_from`.
    recent: HashMap<u64, u64, IdentityHasher>,
    recent_from: u64,
    /// The same for the changes from `older_from` to `recent_from`.
    older: HashMap<u64, u64, IdentityHasher>,
    older_from: u64,
    /// What each record changed while KEYS read-aheads are out became
    /// (see [`ahead::KeysWatch`]).
    watch: Option<ahead::KeysWatch>,
}

const COLD_LOG: usize = 2048;
/// Changes per map of [`ColdLog`]'s point checks (each map holds at most
/// this many entries, 16 bytes each plus the table's slack).
const COLD_LOG_POINT: u64 = 8192;

/// Key hashes are already XXH3: the point-check maps use them as is.
#[derive(Clone, Copy, Default)]
struct IdentityHasher;

impl std::hash::BuildHasher for IdentityHasher {
    type Hasher = IdentityHash;
    fn build_hasher(&self) -> IdentityHash {
        IdentityHash(0)
    }
}

struct IdentityHash(u64);

impl std::hash::Hasher for IdentityHash {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

impl ColdLog {
    fn new() -> ColdLog {
        ColdLog {
            generation: COLD_GENERATION.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            seq: 0,
            barrier: 0,
            ring: vec![0; COLD_LOG],
            recent: HashMap::default(),
            recent_from: 0,
            older: HashMap::default(),
            older_from: 0,
            watch: None,
        }
    }

    /// A record of `key` is about to change (put, delete, new deadline).
    fn changed(&mut self, key: &[u8]) {
        let h = key_hash(key);
        self.ring[(self.seq % COLD_LOG as u64) as usize] = h;
        if self.seq - self.recent_from >= COLD_LOG_POINT {
            std::mem::swap(&mut self.recent, &mut self.older);
            self.recent.clear();
            self.older_from = self.recent_from;
            self.recent_from = self.seq;
        }
        self.recent.insert(h, self.seq);
        self.seq += 1;
        if let Some(w) = self.watch.as_mut() {
            if !w.note(key, ahead::Watched::Unknown) {
                self.watch = None;
            }
        }
    }

    /// What the record of `key`, logged as changing by
    /// [`ColdLog::changed`], now is: `Some(deadline)` if it exists, `None`
    /// if it is gone (deleted, or ignored until its delete is redone).
    fn settled(&mut self, key: &[u8], record: Option<Option<i64>>) {
        if let Some(w) = self.watch.as_mut() {
            let now = match record {
                Some(at) => ahead::Watched::Present(at),
                None => ahead::Watched::Absent,
            };
            if !w.note(key, now) {
                self.watch = None;
            }
        }
    }

    /// Every record may have changed (range delete).
    fn changed_all(&mut self) {
        self.seq += 1;
        self.barrier = self.seq;
        self.recent.clear();
        self.older.clear();
        self.recent_from = self.seq;
        self.older_from = self.seq;
        self.watch = None;
    }

    /// The key hashes of the records changed since `(generation, seq)`,
    /// or `None` if that is not known any more (another generation, a
    /// range delete since, or more changes than the ring holds).
    fn changes_since(&self, generation: u64, seq: u64) -> Option<impl Iterator<Item = u64> + '_> {
        if generation != self.generation || seq < self.barrier || seq > self.seq {
            return None;
        }
        if self.seq - seq > COLD_LOG as u64 {
            return None;
        }
        Some((seq..self.seq).map(|n| self.ring[(n % COLD_LOG as u64) as usize]))
    }

    /// True if no record with a position in `[from, to)` (`to` `None`: to
    /// the end) changed since `(generation, seq)`.
    fn range_unchanged_since(&self, from: u64, to: Option<u64>, generation: u64, seq: u64) -> bool {
        self.changes_since(generation, seq)
            .is_some_and(|mut hashes| {
                hashes.all(|h| {
                    let pos = h.reverse_bits();
                    pos < from || to.is_some_and(|to| pos >= to)
                })
            })
    }

    /// True if point checks ([`ColdLog::unchanged_since`]) can tell what
    /// changed since `(generation, seq)`.
    fn tracks(&self, generation: u64, seq: u64) -> bool {
        generation == self.generation
            && seq >= self.barrier
            && seq <= self.seq
            && seq >= self.older_from
    }

    /// True if `key`'s record is unchanged since `(generation, seq)`.
    fn unchanged_since(&self, key: &[u8], generation: u64, seq: u64) -> bool {
        if !self.tracks(generation, seq) {
            return false;
        }
        let h = key_hash(key);
        // `recent` holds the latest change of a hash it has; `older` the
        // latest before `recent_from`.
        let last = self.recent.get(&h).or_else(|| self.older.get(&h));
        last.is_none_or(|&n| n < seq)
    }
}

/// What a cold read off the lock found.
enum Found {
    /// The decoded value, its header and fingerprint (for a command that
    /// reads the value).
    Value(Value, ColdMeta, (u64, usize)),
    /// The raw record (for a command that needs only its header), or
    /// `None`: there was no record.
    Record(Option<Vec<u8>>),
}

/// A cold read off the lock, kept for the batch about to run.
struct Stashed {
    found: Found,
    generation: u64,
    seq: u64,
}

/// A cold record to read off the lock ([`Db::cold_ticket`]).
pub struct ColdTicket {
    key: Bytes,
    data_key: Vec<u8>,
    generation: u64,
    seq: u64,
    limits: rdb::convert::Limits,
    /// A range of records to read instead of one record (SCAN, KEYS,
    /// RANDOMKEY).
    ahead: Option<Ahead>,
    /// The command needs the header only: keep the raw record, do not
    /// decode the value.
    header_only: bool,
}

/// Due cold records to find off the lock ([`Db::cold_expiry_ticket`]).
pub struct ExpiryTicket {
    id: u16,
    from: Vec<u8>,
    to: Vec<u8>,
    max: usize,
    generation: u64,
    seq: u64,
}

/// What [`ExpiryTicket::read`] found, for [`Db::cold_expire_apply`].
pub struct ExpiryRead {
    /// The database's id in the store (SWAPDB moves it with the data).
    id: u16,
    generation: u64,
    seq: u64,
    /// Index entries in deadline order: deadline, key, its record.
    due: Vec<(i64, Bytes, DueRecord)>,
    /// The index could not be read.
    error: Option<ColdError>,
}

/// A due index entry's record, as read.
enum DueRecord {
    /// Present with this deadline (or a header that cannot be read: the
    /// index tells its deadline).
    Current,
    /// Absent, or with another deadline.
    Stray,
    /// The read failed: left for a later round.
    Unread,
}

impl DueRecord {
    /// Reads the record of a due index entry (`at`, `key`).
    fn read(store: &dyn cold::ColdStore, id: u16, at: i64, key: &[u8]) -> DueRecord {
        match store.get(Cf::Data, &cold::data_key(id, key)) {
            Ok(Fetch::Found(rec)) => {
                if cold::decode_record(&rec).map_or(true, |r| r.expire_at == Some(at)) {
                    DueRecord::Current
                } else {
                    DueRecord::Stray
                }
            }
            Ok(Fetch::Missing) => DueRecord::Stray,
            Err(_) => DueRecord::Unread,
        }
    }
}

impl ExpiryTicket {
    /// Reads the due index entries and their records' headers (no lock
    /// held).
    pub fn read(self, store: &dyn cold::ColdStore) -> ExpiryRead {
        let mut entries: Vec<(i64, Bytes)> = Vec::new();
        let scanned = store.scan(Cf::Ttl, &self.from, &self.to, &mut |k, _| {
            if let Some((at, key)) = cold::parse_ttl_key(k) {
                entries.push((at, Bytes::copy_from_slice(key)));
            }
            entries.len() < self.max
        });
        let due = entries
            .into_iter()
            .map(|(at, key)| {
                let found = DueRecord::read(store, self.id, at, &key);
                (at, key, found)
            })
            .collect();
        ExpiryRead {
            id: self.id,
            generation: self.generation,
            seq: self.seq,
            due,
            error: scanned.err(),
        }
    }
}

/// The outcome of [`ColdTicket::read`], for [`Db::stash_prefetched`].
pub struct Prefetched {
    key: Bytes,
    generation: u64,
    seq: u64,
    micros: u64,
    /// What a range ticket read.
    ahead: Option<AheadRead>,
    /// `None`: the read failed or the record is unreadable (the lookup
    /// under the lock then reads it again and reports the problem).
    found: Option<Found>,
}

impl ColdTicket {
    /// A long range read (KEYS, SCAN with a large COUNT): one for the
    /// blocking pool, never for the connection's own task, and not a
    /// measure of how fast point reads are.
    pub fn is_bulk(&self) -> bool {
        match &self.ahead {
            Some(Ahead::Keys(_)) => true,
            Some(Ahead::Scan(plan)) => plan.count > SCAN_INLINE_MAX,
            _ => false,
        }
    }

    /// Reads and decodes the record (no lock needed: the store is shared,
    /// decoding is pure).
    pub fn read(self, store: &dyn cold::ColdStore) -> Prefetched {
        let started = std::time::Instant::now();
        if let Some(plan) = self.ahead {
            let (generation, seq) = (self.generation, self.seq);
            let read = match plan {
                Ahead::Scan(plan) => AheadRead::Scan(plan.read(store, generation, seq)),
                Ahead::Keys(plan) => AheadRead::Keys(plan.read(store, generation, seq)),
                Ahead::Random(plan) => AheadRead::Random(plan.read(store, generation, seq)),
            };
            return Prefetched {
                key: self.key,
                generation,
                seq,
                micros: started.elapsed().as_micros() as u64,
                ahead: Some(read),
                found: None,
            };
        }
        let got = store.get(Cf::Data, &self.data_key);
        let micros = started.elapsed().as_micros() as u64;
        let found = match got {
            Ok(Fetch::Found(rec)) if self.header_only => Some(Found::Record(Some(rec))),
            Ok(Fetch::Found(rec)) => decode_cold(&rec, self.limits, store.dicts())
                .ok()
                .map(|(v, meta, fingerprint)| Found::Value(v, meta, fingerprint)),
            // No record: the lookup under the lock need not ask again.
            Ok(Fetch::Missing) => Some(Found::Record(None)),
            Err(_) => None,
        };
        Prefetched {
            key: self.key,
            generation: self.generation,
            seq: self.seq,
            micros,
            ahead: None,
            found,
        }
    }
}

/// Records a command reads by range, to read off the lock first.
enum Ahead {
    Scan(ScanPlan),
    Keys(ahead::KeysPlan),
    Random(ahead::RandomPlan),
}

/// What an [`Ahead`] read.
enum AheadRead {
    Scan(ScanRead),
    /// `None`: the store failed (the call reads it under the lock).
    Keys(Option<ahead::KeysRead>),
    Random(ahead::RandomRead),
}

/// The range a SCAN call will read from the store ([`Db::scan_ticket`]).
struct ScanPlan {
    cursor: u64,
    count: usize,
    bits: u32,
    /// First position of the call's first bucket.
    first: u64,
    from: Vec<u8>,
    to: Vec<u8>,
}

/// A SCAN call's cold records, read off the lock.
struct ScanRead {
    cursor: u64,
    count: usize,
    bits: u32,
    /// The change log's generation and sequence number at the ticket.
    generation: u64,
    seq: u64,
    /// In position order: position, key, whether the header reads.
    records: Vec<(u64, Bytes, bool)>,
    /// Every record below this position was read (`None`: the whole
    /// range).
    upto: Option<u64>,
}

/// Range reads of SCANs with a larger COUNT (and of KEYS) are long: they
/// go to the blocking pool even while point reads run on the
/// connection's task, and do not count as a slow point read.
const SCAN_INLINE_MAX: usize = 1000;

impl ScanPlan {
    /// Reads the call's records until `count` readable ones, the rest of
    /// the bucket where that happens, and the first record after it (the
    /// call cannot go further: each of those keys is returned, unless it
    /// is in memory, a case the run under the lock completes from the
    /// store). A failed read reads nothing ahead.
    fn read(self, store: &dyn cold::ColdStore, generation: u64, seq: u64) -> ScanRead {
        let width = 1u128 << (64 - self.bits);
        let first = u128::from(self.first);
        let mut records = Vec::new();
        let (mut readable, mut stop_at, mut upto) = (0usize, None::<u128>, None);
        let read = store.scan(Cf::Data, &self.from, &self.to, &mut |k, v| {
            let pos = cold::record_position(k);
            let ok = cold::decode_record(v).is_ok();
            records.push((pos, Bytes::copy_from_slice(cold::user_key(k)), ok));
            if let Some(end) = stop_at {
                if u128::from(pos) >= end {
                    // The first record past the bucket is kept too: it
                    // is what tells the call the bucket is over, so the
                    // call need not read the store for it.
                    upto = pos.checked_add(1);
                    return false;
                }
            }
            if ok {
                readable += 1;
                if readable >= self.count && stop_at.is_none() {
                    let bucket = (u128::from(pos).saturating_sub(first)) / width;
                    stop_at = Some(first + (bucket + 1) * width);
                }
            }
            true
        });
        if read.is_err() {
            // Nothing read ahead: the call reads the store itself.
            records.clear();
            upto = Some(self.first);
        }
        ScanRead {
            cursor: self.cursor,
            count: self.count,
            bits: self.bits,
            generation,
            seq,
            records,
            upto,
        }
    }
}

impl Prefetched {
    /// The key read.
    pub fn key(&self) -> &[u8] {
        &self.key
    }

    /// The decoded value read, if the read found one.
    pub fn value(&self) -> Option<&Value> {
        match &self.found {
            Some(Found::Value(v, _, _)) => Some(v),
            _ => None,
        }
    }

    /// How long the store read took.
    pub fn read_time(&self) -> std::time::Duration {
        std::time::Duration::from_micros(self.micros)
    }
}

/// Decodes a cold record: the value, its header, and the fingerprint of
/// its payload (to tell later whether the value changed in memory).
fn decode_cold(
    rec: &[u8],
    limits: rdb::convert::Limits,
    dicts: &cold::zdict::Dictionaries,
) -> Result<(Value, ColdMeta, (u64, usize)), ColdError> {
    let r = cold::decode_record(rec)?;
    let meta = ColdMeta {
        value_type: rdb_value_type(r.rdb_type),
        expire_at: r.expire_at,
        lfu: r.lfu,
    };
    let p = r.payload(dicts)?;
    let v = rdb::restore_payload(&p)
        .map_err(|_| ColdError("payload fails its checksum or format".into()))?;
    let v =
        rdb::convert::from_rdb(v, limits).ok_or_else(|| ColdError("empty collection".into()))?;
    let fingerprint = value_fingerprint(&v).unwrap_or_else(|| payload_fingerprint(&p));
    Ok((v, meta, fingerprint))
}

/// Fingerprint of a string value, from its bytes alone (no encoding):
/// what tells an evicted key unchanged since its promotion, cheaply.
/// Other types are fingerprinted by their DUMP payload.
fn value_fingerprint(v: &Value) -> Option<(u64, usize)> {
    match v {
        Value::Str(Str::Raw(b)) => Some((xxhash_rust::xxh3::xxh3_64_with_seed(b, 1), b.len())),
        Value::Str(Str::Int(i)) => {
            Some((xxhash_rust::xxh3::xxh3_64_with_seed(&i.to_le_bytes(), 2), 8))
        }
        _ => None,
    }
}

fn payload_fingerprint(p: &[u8]) -> (u64, usize) {
    (xxhash_rust::xxh3::xxh3_64(p), p.len())
}

/// Most keys waiting in [`ColdDb::transient`]; past it, promoted keys are
/// admitted whatever their frequency.
const MAX_TRANSIENT: usize = 4096;

impl ColdDb {
    /// Writes `ops` with the state lock held, without waiting: a stalled
    /// store (RocksDB's flushes or compactions behind) refuses at once,
    /// as a failing one does, and the caller takes its refused path (a
    /// delete is redone later, a rewrite goes through memory). False if
    /// refused; a failure (not a stall) is counted and logged as `what`.
    fn write_now(&mut self, ops: Vec<Op>, what: &str) -> bool {
        match self.store.write_or_fail(ops) {
            Ok(()) => true,
            Err(e) if e.is_stall() => {
                self.stats.write_stalls += 1;
                false
            }
            Err(e) => {
                self.stats.errors += 1;
                self.errors.push(format!("{what}: {e}"));
                false
            }
        }
    }

    /// Counts a read of the store made under the state lock.
    fn locked_read(&self) {
        self.locked_reads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// A ticket to read a range of records off the lock, noting the
    /// change log's position now.
    fn range_ticket(&self, ahead: Ahead) -> ColdTicket {
        ColdTicket {
            key: Bytes::new(),
            data_key: Vec::new(),
            generation: self.log.generation,
            seq: self.log.seq,
            limits: self.limits,
            header_only: true,
            ahead: Some(ahead),
        }
    }

    /// True if `key`, just read from the cold tier, may stay in memory:
    /// it is read more often than the keys eviction has been choosing.
    fn admits(&self, key: &[u8]) -> bool {
        if self.victim_freq == 0 || self.transient.len() >= MAX_TRANSIENT {
            return true;
        }
        match &self.sketch {
            Some(s) => u32::from(s.frequency(admit::key_hash(key))) * 16 > self.victim_freq,
            None => true,
        }
    }

    /// True if the store's record of `key` must be ignored: a spill in
    /// flight (memory is the truth) or a delete not yet carried out.
    fn ignored(&self, key: &[u8]) -> bool {
        self.in_flight.contains(key) || self.dead.contains(key)
    }

    /// What was read off the lock for `key`, if its record has not changed
    /// since the read.
    fn fresh(&self, key: &[u8]) -> Option<&Found> {
        let s = self.stash.get(key)?;
        self.log
            .unchanged_since(key, s.generation, s.seq)
            .then_some(&s.found)
    }
}

/// A value on its way to the cold tier (see [`Db::spill_prepare`]).
pub struct SpillJob {
    pub key: Bytes,
    /// The value's DUMP payload (compressed off the lock by the caller).
    pub payload: Vec<u8>,
    pub expire_at: Option<i64>,
    pub lfu: u8,
    /// Estimated memory the spill frees.
    pub mem: usize,
    cold_id: u16,
}

impl SpillJob {
    /// The writes that store this job's record (`record` = the encoded
    /// [`cold::Record`]).
    pub fn ops(&self, record: Vec<u8>) -> Vec<Op> {
        let mut ops = vec![Op::Put(
            Cf::Data,
            cold::data_key(self.cold_id, &self.key),
            record,
        )];
        if let Some(at) = self.expire_at {
            ops.push(Op::Put(
                Cf::Ttl,
                cold::ttl_key(self.cold_id, at, &self.key),
                Vec::new(),
            ));
        }
        ops
    }

    /// The cold database id this job writes to.
    pub fn cold_id(&self) -> u16 {
        self.cold_id
    }
}

/// A cold record looked up by key.
enum ColdLookup {
    Absent,
    /// Data key, record, header.
    Live(Vec<u8>, Vec<u8>, ColdMeta),
    /// Data key of a record whose header cannot be read.
    Damaged(Vec<u8>),
}

/// What the cold tier holds for a key, read without decompressing.
#[derive(Clone, Copy, Debug)]
pub struct ColdMeta {
    pub value_type: ValueType,
    pub expire_at: Option<i64>,
    pub lfu: u8,
}

fn rdb_value_type(t: u8) -> ValueType {
    match t {
        0 => ValueType::String,
        1 | 10 | 14 | 18 => ValueType::List,
        2 | 11 | 20 => ValueType::Set,
        3 | 5 | 12 | 17 => ValueType::ZSet,
        15 | 19 | 21 => ValueType::Stream,
        _ => ValueType::Hash,
    }
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
            cold: None,
            snap_mark: 0,
            snap: None,
        }
    }

    // ----- incremental snapshots ---------------------------------------

    /// Starts an incremental snapshot of the memory tier at this instant
    /// (`origin`: this database's number; `id`: the snapshot's). O(1):
    /// flipping the mark makes every entry "not yet saved".
    ///
    /// # Panics
    /// Never; a snapshot already running is finished first (saving every
    /// key it had not reached, so it stays complete).
    pub fn snap_begin(
        &mut self,
        id: u64,
        origin: u32,
        opts: SnapOptions,
        alive: std::sync::Arc<std::sync::atomic::AtomicBool>,
    ) {
        if self.snap.is_some() {
            while !self.snap_step(usize::MAX) {}
        }
        self.snap_mark ^= SNAP;
        self.snap = Some(Box::new(SnapState {
            id,
            origin,
            opts,
            cursor: 0,
            done: false,
            pending: Vec::new(),
            alive,
        }));
    }

    /// The running snapshot, ended first if its writer went away.
    fn snap_live(&mut self) -> Option<&mut SnapState> {
        if self
            .snap
            .as_ref()
            .is_some_and(|s| !s.alive.load(std::sync::atomic::Ordering::Acquire))
        {
            self.snap = None;
        }
        self.snap.as_deref_mut()
    }

    /// Saves `key` into the running snapshot if it is in memory and not
    /// yet saved (called before anything changes or removes it).
    fn snap_guard(&mut self, key: &[u8]) {
        if self.snap.is_none() || self.snap_live().is_none() {
            return;
        }
        let Some(s) = self.snap.as_deref_mut() else {
            return;
        };
        let mark = self.snap_mark;
        let Some((k, e)) = self.keys.get_key_value(key) else {
            return;
        };
        if e.lru & SNAP == mark {
            return;
        }
        let at = self.expires.get(key).copied();
        if let Some(b) = encode_rdb_entry(s.origin, k, e, at, self.lfu, &s.opts) {
            s.pending.extend_from_slice(&b);
        }
        if let Some(e) = self.keys.get_mut(key) {
            e.lru = (e.lru & !SNAP) | mark;
        }
    }

    /// Marks an entry about to be inserted as outside the running
    /// snapshot (it did not exist at the cut).
    fn snap_mark_new(&self, entry: &mut Entry) {
        entry.lru = (entry.lru & !SNAP) | self.snap_mark;
    }

    /// Walks the memory table from the snapshot's cursor, saving keys not
    /// yet saved, until about `budget` keys were looked at. Returns true
    /// once the walk is complete (or no snapshot runs).
    pub fn snap_step(&mut self, budget: usize) -> bool {
        let Some(s) = self.snap_live() else {
            return true;
        };
        if s.done {
            return true;
        }
        let mut cursor = s.cursor;
        let mut seen = 0usize;
        let mark = self.snap_mark;
        let lfu = self.lfu;
        let Db {
            keys,
            expires,
            snap,
            ..
        } = self;
        let Some(s) = snap.as_deref_mut() else {
            return true;
        };
        // Keys encoded by this step, to be marked afterwards (copied:
        // see `encode_rdb_entry` on cloning keys).
        let mut saved: Vec<u8> = Vec::new();
        let mut lens: Vec<usize> = Vec::new();
        loop {
            cursor = keys.scan(cursor, |k, e| {
                seen += 1;
                if e.lru & SNAP == mark {
                    return;
                }
                let at = expires.get(&k[..]).copied();
                if let Some(b) = encode_rdb_entry(s.origin, k, e, at, lfu, &s.opts) {
                    s.pending.extend_from_slice(&b);
                }
                saved.extend_from_slice(k);
                lens.push(k.len());
            });
            seen += 1;
            if cursor == 0 || seen >= budget {
                break;
            }
        }
        let mut at = 0;
        for len in lens {
            if let Some(e) = keys.get_mut(&saved[at..at + len]) {
                e.lru = (e.lru & !SNAP) | mark;
            }
            at += len;
        }
        let Some(s) = self.snap.as_mut() else {
            return true;
        };
        s.cursor = cursor;
        s.done = cursor == 0;
        s.done
    }

    /// Takes the encoded entries gathered so far: (database number at the
    /// cut, bytes).
    pub fn snap_take(&mut self) -> Option<(u32, Vec<u8>)> {
        let s = self.snap.as_mut()?;
        Some((s.origin, std::mem::take(&mut s.pending)))
    }

    /// The running snapshot's id.
    pub fn snap_id(&self) -> Option<u64> {
        self.snap.as_ref().map(|s| s.id)
    }

    /// Ends the snapshot `id` (after its last [`Db::snap_take`]).
    pub fn snap_end(&mut self, id: u64) {
        if self.snap.as_ref().is_some_and(|s| s.id == id) {
            self.snap = None;
        }
    }

    /// Saves every key the running snapshot has not reached (before the
    /// whole table is dropped).
    fn snap_save_all(&mut self) {
        if self.snap.is_some() {
            while !self.snap_step(usize::MAX) {}
        }
    }

    /// Number of keys in both tiers (including keys past their deadline
    /// not yet removed).
    pub fn len(&self) -> usize {
        self.keys.len() + self.cold_len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of keys in memory.
    pub fn hot_len(&self) -> usize {
        self.keys.len()
    }

    /// Number of keys in the cold tier.
    pub fn cold_len(&self) -> usize {
        self.cold
            .as_ref()
            .map_or(0, |c| (c.keys as usize).saturating_sub(c.clean.len()))
    }

    /// Number of keys in memory with a deadline.
    pub fn hot_expires_len(&self) -> usize {
        self.expires.len()
    }

    /// Number of keys with a deadline (both tiers).
    pub fn expires_len(&self) -> usize {
        self.expires.len()
            + self
                .cold
                .as_ref()
                .map_or(0, |c| c.expires.saturating_sub(c.clean_expires) as usize)
    }

    /// A key left memory: if its record was shadowed, the record goes too.
    fn drop_shadow(&mut self, key: &[u8]) {
        let Some(c) = self.cold.as_mut() else {
            return;
        };
        let Some((_, _, at)) = c.clean.remove(key) else {
            return;
        };
        if at.is_some() {
            c.clean_expires -= 1;
        }
        let dk = cold::data_key(c.id, key);
        self.cold_delete(dk, key, at);
    }

    /// Keys whose cold record must be ignored (their value is in memory):
    /// spills in flight and shadowed records. Snapshots skip them.
    pub fn shadowed_keys(&self) -> HashSet<Bytes> {
        let Some(c) = self.cold.as_ref() else {
            return HashSet::new();
        };
        let mut out = c.in_flight.clone();
        out.extend(c.clean.keys().cloned());
        out.extend(c.dead.iter().cloned());
        out
    }

    // ----- cold tier ---------------------------------------------------

    /// Attaches the cold store; `id` names this database in it. The store
    /// must hold nothing for `id` (the server opens it fresh).
    pub fn attach_cold(&mut self, store: Store, id: u16, limits: rdb::convert::Limits) {
        self.cold = Some(Box::new(ColdDb {
            store,
            id,
            keys: 0,
            expires: 0,
            in_flight: HashSet::new(),
            dead: HashSet::new(),
            clean: std::collections::HashMap::new(),
            clean_expires: 0,
            limits,
            stats: ColdStats::default(),
            locked_reads: std::sync::atomic::AtomicU64::new(0),
            errors: Vec::new(),
            log: ColdLog::new(),
            stash: std::collections::HashMap::new(),
            scan_stash: Vec::new(),
            keys_stash: Vec::new(),
            random_stash: std::collections::VecDeque::new(),
            sketch: None,
            victim_freq: 0,
            transient: Vec::new(),
            corrupt: None,
        }));
    }

    /// Attaches a store restored from a checkpoint, where this database
    /// (id `id`) holds `keys` records, `expires` of them with a deadline.
    /// Records of spills that were in flight at the checkpoint are stale
    /// (their values are in the hot image): they are deleted first.
    pub fn attach_cold_restored(
        &mut self,
        store: Store,
        id: u16,
        limits: rdb::convert::Limits,
        cut: &cold::cut::DbCut,
    ) -> Result<(), ColdError> {
        let ops: Vec<Op> = cut
            .in_flight
            .iter()
            .map(|k| Op::Delete(Cf::Data, cold::data_key(id, k)))
            .collect();
        if !ops.is_empty() {
            store.write(ops)?;
        }
        self.attach_cold(store, id, limits);
        if let Some(c) = self.cold.as_mut() {
            c.keys = cut.keys;
            c.expires = cut.expires;
        }
        Ok(())
    }

    /// This database's part of a checkpoint's cut (see
    /// [`cold::cut::DbCut`]), taken in the same lock hold as the
    /// checkpoint of the store itself.
    pub fn cold_cut(&self, index: u32) -> Option<cold::cut::DbCut> {
        let c = self.cold.as_ref()?;
        Some(cold::cut::DbCut {
            index,
            id: c.id,
            keys: c.keys,
            expires: c.expires,
            in_flight: c.in_flight.iter().chain(c.dead.iter()).cloned().collect(),
        })
    }

    /// The cold store and this database's id in it.
    pub fn cold_store(&self) -> Option<(Store, u16)> {
        self.cold.as_ref().map(|c| (c.store.clone(), c.id))
    }

    /// Encoding thresholds used to rebuild promoted values.
    pub fn set_cold_limits(&mut self, limits: rdb::convert::Limits) {
        if let Some(c) = self.cold.as_mut() {
            c.limits = limits;
        }
    }

    /// Cold-tier counters.
    pub fn cold_stats(&self) -> Option<ColdStats> {
        self.cold.as_ref().map(|c| ColdStats {
            locked_reads: c.locked_reads.load(std::sync::atomic::Ordering::Relaxed),
            pending_deletes: c.dead.len() as u64,
            ..c.stats.clone()
        })
    }

    /// Cold-tier problems since the last call (for the log).
    pub fn take_cold_errors(&mut self) -> Vec<String> {
        self.cold
            .as_mut()
            .map(|c| std::mem::take(&mut c.errors))
            .unwrap_or_default()
    }

    /// The cold record of `key` (raw), if the tier may hold it. Keys with
    /// a spill in flight read as absent.
    fn cold_fetch(&mut self, key: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
        let c = self.cold.as_mut()?;
        if c.keys == 0 || c.ignored(key) {
            return None;
        }
        let dk = cold::data_key(c.id, key);
        if let Some(Found::Record(record)) = c.fresh(key) {
            return record.clone().map(|rec| (dk, rec));
        }
        let started = std::time::Instant::now();
        c.locked_read();
        let r = c.store.get(Cf::Data, &dk);
        let micros = started.elapsed().as_micros() as u64;
        c.stats.record_read(micros);
        if micros > 2000 {
            c.stats.slow_reads += 1;
        }
        match r {
            Ok(Fetch::Found(v)) => Some((dk, v)),
            Ok(Fetch::Missing) => None,
            Err(e) => {
                c.stats.errors += 1;
                c.errors.push(format!("cold read of a key failed: {e}"));
                None
            }
        }
    }

    /// An unreadable cold record: logged (with the key and the reason)
    /// and kept for the command that wanted it.
    fn cold_corrupt(&mut self, key: &[u8], e: &dyn std::fmt::Display) {
        let what = format!(
            "corrupt cold record for key {:?}: {e}",
            String::from_utf8_lossy(key)
        );
        if let Some(c) = self.cold.as_mut() {
            c.corrupt = Some((Bytes::copy_from_slice(key), what.clone()));
        }
        self.cold_error(what);
    }

    fn cold_error(&mut self, what: String) {
        if let Some(c) = self.cold.as_mut() {
            c.stats.errors += 1;
            c.errors.push(what);
        }
    }

    /// The deadline the TTL index holds for `key`, found by scanning this
    /// database's index: for a record whose header cannot be read (rare:
    /// damage), so that deleting it keeps `expires` exact.
    fn cold_indexed_deadline(&mut self, key: &[u8]) -> Option<i64> {
        let c = self.cold.as_mut()?;
        if c.expires == 0 {
            return None;
        }
        let (from, to) = cold::db_range(c.id);
        let mut found = None;
        c.locked_read();
        let scanned = c.store.scan(
            Cf::Ttl,
            &from,
            &to,
            &mut |k, _| match cold::parse_ttl_key(k) {
                Some((at, user_key)) if user_key == key => {
                    found = Some(at);
                    false
                }
                _ => true,
            },
        );
        if let Err(e) = scanned {
            c.stats.errors += 1;
            c.errors.push(format!("cold TTL index scan failed: {e}"));
        }
        found
    }

    /// Deletes a cold record (data and TTL index) and counts it gone.
    fn cold_delete(&mut self, dk: Vec<u8>, key: &[u8], expire_at: Option<i64>) -> bool {
        let Some(c) = self.cold.as_mut() else {
            return false;
        };
        let mut ops = vec![Op::Delete(Cf::Data, dk)];
        if let Some(at) = expire_at {
            ops.push(Op::Delete(Cf::Ttl, cold::ttl_key(c.id, at, key)));
        }
        c.log.changed(key);
        // A read-ahead of the key learns there is no record now: a later
        // lookup in the batch (SET looks twice) need not ask the store.
        let (generation, seq) = (c.log.generation, c.log.seq);
        if let Some(s) = c.stash.get_mut(key) {
            *s = Stashed {
                found: Found::Record(None),
                generation,
                seq,
            };
        }
        if !c.write_now(ops, "cold delete failed (retried later)") {
            // The key is gone all the same: its record is ignored until
            // the delete can be redone.
            c.dead.insert(Bytes::copy_from_slice(key));
        }
        c.log.settled(key, None);
        c.keys = c.keys.saturating_sub(1);
        if expire_at.is_some() {
            c.expires = c.expires.saturating_sub(1);
        }
        true
    }

    /// Redoes deletes the store refused (cron). Returns how many are left.
    pub fn cold_retry_deletes(&mut self) -> usize {
        let Some(c) = self.cold.as_mut() else {
            return 0;
        };
        if c.dead.is_empty() {
            return 0;
        }
        let keys: Vec<Bytes> = c.dead.iter().take(256).cloned().collect();
        let ops = keys
            .iter()
            .map(|k| Op::Delete(Cf::Data, cold::data_key(c.id, k)))
            .collect();
        for k in &keys {
            c.log.changed(k);
        }
        if c.store.write_or_fail(ops).is_ok() {
            for k in &keys {
                c.dead.remove(k);
            }
        }
        // Gone either way: deleted, or still ignored.
        for k in &keys {
            c.log.settled(k, None);
        }
        c.dead.len()
    }

    /// The live cold record of `key`: header parsed, expired records
    /// removed (reported in `expired`). A record whose header cannot be
    /// read is logged, noted for [`Db::take_corrupt`] and reads as absent
    /// here.
    fn cold_live(&mut self, key: &[u8], now_ms: i64) -> Option<(Vec<u8>, Vec<u8>, ColdMeta)> {
        match self.cold_lookup(key, now_ms) {
            ColdLookup::Live(dk, rec, meta) => Some((dk, rec, meta)),
            ColdLookup::Absent | ColdLookup::Damaged(_) => None,
        }
    }

    /// [`Db::cold_live`], telling an absent record from a damaged one.
    fn cold_lookup(&mut self, key: &[u8], now_ms: i64) -> ColdLookup {
        let Some((dk, rec)) = self.cold_fetch(key) else {
            return ColdLookup::Absent;
        };
        let meta = match cold::decode_record(&rec) {
            Ok(r) => ColdMeta {
                value_type: rdb_value_type(r.rdb_type),
                expire_at: r.expire_at,
                lfu: r.lfu,
            },
            Err(e) => {
                self.cold_corrupt(key, &e);
                return ColdLookup::Damaged(dk);
            }
        };
        if let Some(at) = meta.expire_at {
            if at <= now_ms {
                if self.cold_delete(dk, key, Some(at)) {
                    if let Some(c) = self.cold.as_mut() {
                        c.stats.expired += 1;
                    }
                    self.expired.push(Bytes::copy_from_slice(key));
                }
                return ColdLookup::Absent;
            }
        }
        ColdLookup::Live(dk, rec, meta)
    }

    /// The cold record found unreadable during the current command, if
    /// any: (key, why). Cleared by [`Db::prepare_key`].
    pub fn take_corrupt(&mut self) -> Option<(Bytes, String)> {
        self.cold.as_mut().and_then(|c| c.corrupt.take())
    }

    /// Type, deadline and LFU of a cold key, without promoting it.
    pub fn cold_meta(&mut self, key: &[u8], now_ms: i64) -> Option<ColdMeta> {
        if self.keys.contains_key(key) {
            return None;
        }
        self.cold_live(key, now_ms).map(|(_, _, m)| m)
    }

    /// Moves a cold key into memory. Returns true if it is now resident.
    pub fn promote(&mut self, key: &[u8], now_ms: i64) -> bool {
        if let Some(done) = self.promote_stashed(key, now_ms) {
            return done;
        }
        let Some((_, rec, _)) = self.cold_live(key, now_ms) else {
            if let Some(c) = self.cold.as_mut() {
                if c.keys > 0 {
                    c.stats.cold_misses += 1;
                }
            }
            return false;
        };
        let Some(c) = self.cold.as_ref() else {
            return false;
        };
        match decode_cold(&rec, c.limits, c.store.dicts()) {
            Ok((value, meta, fingerprint)) => {
                self.install_promoted(key, value, meta, fingerprint, now_ms);
                true
            }
            Err(e) => {
                self.cold_corrupt(key, &e);
                false
            }
        }
    }

    /// Promotes `key` from a value decoded off the lock, if one is stashed
    /// and its record has not changed since it was read. `None`: no usable
    /// value (read the store).
    fn promote_stashed(&mut self, key: &[u8], now_ms: i64) -> Option<bool> {
        let c = self.cold.as_mut()?;
        if c.ignored(key) || !matches!(c.fresh(key), Some(Found::Value(..))) {
            return None;
        }
        let Some(Stashed {
            found: Found::Value(value, meta, fingerprint),
            ..
        }) = c.stash.remove(key)
        else {
            return None;
        };
        if meta.expire_at.is_some_and(|at| at <= now_ms) {
            // Expired: the store path deletes it and reports the event.
            return None;
        }
        self.install_promoted(key, value, meta, fingerprint, now_ms);
        Some(true)
    }

    /// Puts a decoded cold value in memory. Its record stays on disk,
    /// shadowed: evicting the key again while unchanged costs no write.
    fn install_promoted(
        &mut self,
        key: &[u8],
        value: Value,
        meta: ColdMeta,
        fingerprint: (u64, usize),
        now_ms: i64,
    ) {
        let mut entry = Entry::new(value, now_ms);
        entry.lfu = Lfu((u32::from(crate::lfu::minutes(now_ms)) << 8) | u32::from(meta.lfu));
        // Cold at the cut: a snapshot gets it from the cold tier.
        self.snap_mark_new(&mut entry);
        let key = Bytes::copy_from_slice(key);
        if let Some(at) = meta.expire_at {
            self.expires.insert(key.clone(), at);
        }
        self.keys.insert(key.clone(), entry);
        if let Some(c) = self.cold.as_mut() {
            c.stats.promotions += 1;
            c.stats.cold_hits += 1;
            if !c.admits(&key) {
                c.stats.not_admitted += 1;
                c.transient.push(key.clone());
            }
            c.clean
                .insert(key, (fingerprint.0, fingerprint.1, meta.expire_at));
            if meta.expire_at.is_some() {
                c.clean_expires += 1;
            }
        }
    }

    /// A ticket to read `key`'s cold record off the lock, if the key is
    /// not in memory and the cold tier may hold it. Nothing is probed: a
    /// key absent from both tiers costs one wasted read off the lock.
    /// With `header_only` the record is kept raw, for commands that need
    /// only its header (or whether it exists).
    pub fn cold_ticket(&self, key: &[u8], header_only: bool) -> Option<ColdTicket> {
        let c = self.cold.as_ref()?;
        if c.keys == 0 || c.ignored(key) || self.keys.contains_key(key) {
            return None;
        }
        Some(ColdTicket {
            key: Bytes::copy_from_slice(key),
            data_key: cold::data_key(c.id, key),
            generation: c.log.generation,
            seq: c.log.seq,
            limits: c.limits,
            header_only,
            ahead: None,
        })
    }

    /// Keeps a value read off the lock for the next promotion of its key
    /// (until [`Db::clear_stash`]).
    pub fn stash_prefetched(&mut self, p: Prefetched) {
        let Some(c) = self.cold.as_mut() else {
            return;
        };
        // Range reads are used only as far as the change log shows them
        // unchanged (`scan_keys_tiered`, `cold_keys_matching`,
        // `stashed_random`).
        if let Some(read) = p.ahead {
            match read {
                AheadRead::Scan(scan) => c.scan_stash.push(scan),
                AheadRead::Keys(keys) => c.keys_stash.extend(keys),
                AheadRead::Random(draw) => c.random_stash.push_back(draw),
            }
            return;
        }
        c.stats.record_read(p.micros);
        if p.micros > 2000 {
            c.stats.slow_reads += 1;
        }
        let Some(found) = p.found else {
            return;
        };
        if p.generation != c.log.generation {
            return;
        }
        c.stash.insert(
            p.key,
            Stashed {
                found,
                generation: p.generation,
                seq: p.seq,
            },
        );
    }

    /// Drops values and records read off the lock that no command used.
    pub fn clear_stash(&mut self) {
        if let Some(c) = self.cold.as_mut() {
            if !c.stash.is_empty() {
                c.stash.clear();
            }
            c.scan_stash.clear();
            c.keys_stash.clear();
            c.random_stash.clear();
        }
    }

    /// Removes `key` from the cold tier if it is there (a write is about
    /// to replace it). Returns its deadline (`None` inside if it had none)
    /// and LFU counter, `None` if absent.
    ///
    /// A record whose header cannot be read is removed all the same (the
    /// key existed; DEL and overwrites must be able to clear it). Its
    /// deadline is unknown: a TTL index entry it had is left to the expiry
    /// cycle, which drops entries that no longer match a record.
    fn take_cold(&mut self, key: &[u8], now_ms: i64) -> Option<(Option<i64>, u8)> {
        let (dk, meta) = match self.cold_lookup(key, now_ms) {
            ColdLookup::Live(dk, _, meta) => (dk, meta),
            ColdLookup::Absent => return None,
            ColdLookup::Damaged(dk) => {
                if let Some(c) = self.cold.as_mut() {
                    c.corrupt = None;
                }
                self.cold_error(format!(
                    "removed the damaged cold record of key {:?}",
                    String::from_utf8_lossy(key)
                ));
                // Its deadline, if it had one, is in the TTL index only.
                let at = self.cold_indexed_deadline(key);
                return self.cold_delete(dk, key, at).then_some((None, 0));
            }
        };
        if self.cold_delete(dk, key, meta.expire_at) {
            Some((meta.expire_at, meta.lfu))
        } else {
            None
        }
    }

    /// A value written over a cold key keeps the key's LFU counter, as an
    /// overwrite in memory does (Redis's `dbOverwrite`), counting this
    /// write as an access (the lookup Redis makes first).
    fn carry_cold_lfu(&mut self, key: &[u8], lfu: u8, now_ms: i64) {
        let params = self.lfu;
        if let Some(e) = self.keys.get_mut(key) {
            e.lfu = Lfu((u32::from(crate::lfu::minutes(now_ms)) << 8) | u32::from(lfu));
            e.lfu.touch(now_ms, params, &mut self.rng);
        }
    }

    /// Starts spilling `key`: encodes its value (the DUMP payload) and
    /// marks it in flight. The caller compresses and writes the record
    /// off the lock, then calls [`Db::spill_commit`].
    pub fn spill_prepare(&mut self, key: &[u8], now_ms: i64) -> Option<SpillJob> {
        self.spill_prepare_or_drop(key, now_ms).and_then(|r| r.ok())
    }

    /// [`Db::spill_prepare`], or, for a key whose record is still on disk
    /// unchanged, drop it from memory at once (`Err(bytes freed)`).
    pub fn spill_prepare_or_drop(
        &mut self,
        key: &[u8],
        now_ms: i64,
    ) -> Option<Result<SpillJob, usize>> {
        let params = self.lfu;
        if self.cold.as_ref()?.in_flight.contains(key) {
            return None;
        }
        self.snap_guard(key);
        let (k, e) = self.keys.get_key_value(key)?;
        let k = k.clone();
        let lfu = e.lfu.decayed(now_ms, params);
        let mem = e.value.mem_usage() + k.len() + 96;
        let expire_at = self.expires.get(key).copied();
        let mut payload = None;
        if let Some((unchanged, p)) = self.shadow_check(key) {
            if unchanged {
                // Unchanged since promotion: the record on disk is it.
                self.forget_shadowed(key);
                return Some(Err(mem));
            }
            // Changed: the old record goes now, the new one is written.
            payload = p;
            self.drop_shadow(key);
        }
        let payload = match payload {
            Some(p) => p,
            None => rdb::convert::dump_plain(&self.keys.get(key)?.value),
        };
        let c = self.cold.as_mut()?;
        if let Some(e) = self.keys.get_mut(key) {
            e.lru |= SPILLING;
        }
        c.in_flight.insert(k.clone());
        Some(Ok(SpillJob {
            key: k,
            payload,
            expire_at,
            lfu,
            mem,
            cold_id: c.id,
        }))
    }

    /// For a promoted key whose record is still on disk (shadowed): is
    /// it unchanged since (value and deadline)? With the DUMP payload, if
    /// telling needed it (values other than strings). `None`: not
    /// shadowed.
    fn shadow_check(&self, key: &[u8]) -> Option<(bool, Option<Vec<u8>>)> {
        let &(hash, len, at) = self.cold.as_ref()?.clean.get(key)?;
        let e = self.keys.get(key)?;
        let mut payload = None;
        let fingerprint = value_fingerprint(&e.value).unwrap_or_else(|| {
            let p = rdb::convert::dump_plain(&e.value);
            let f = payload_fingerprint(&p);
            payload = Some(p);
            f
        });
        let unchanged = at == self.expires.get(key).copied() && fingerprint == (hash, len);
        Some((unchanged, payload))
    }

    /// Drops a promoted key that is unchanged since its promotion from
    /// memory (its record on disk is still its value). False if it is not
    /// such a key, or is being spilled.
    fn drop_if_clean(&mut self, key: &[u8]) -> bool {
        if self.cold.as_ref().is_none_or(|c| c.in_flight.contains(key))
            || !matches!(self.shadow_check(key), Some((true, _)))
        {
            return false;
        }
        self.snap_guard(key);
        self.forget_shadowed(key);
        true
    }

    /// Removes an unchanged promoted key from memory, keeping its record.
    fn forget_shadowed(&mut self, key: &[u8]) {
        let Some(c) = self.cold.as_mut() else {
            return;
        };
        if let Some((_, _, at)) = c.clean.remove(key) {
            if at.is_some() {
                c.clean_expires -= 1;
            }
        }
        self.keys.remove(key);
        self.expires.remove(key);
        c.stats.clean_drops += 1;
    }

    /// Before a command runs on `key`: counts the access for admission
    /// and, with `read` (the command reads the value), brings a cold key
    /// into memory. A cold record that cannot be read is an error: the
    /// command must not run as if the key were absent.
    /// (`read` is asked only for a key that is cold.)
    pub fn prepare_key(
        &mut self,
        key: &[u8],
        now_ms: i64,
        read: impl FnOnce() -> bool,
    ) -> Result<(), String> {
        if self.cold.is_none() {
            return Ok(());
        }
        self.count_access(key);
        if let Some(c) = self.cold.as_mut() {
            c.corrupt = None;
        }
        if self.cold_len() == 0 || self.keys.contains_key(key) || !read() {
            return Ok(());
        }
        self.promote(key, now_ms);
        match self.take_corrupt() {
            Some((_, why)) => Err(why),
            None => Ok(()),
        }
    }

    /// Counts an access of `key` in the admission sketch (only while the
    /// database has a cold tier in use).
    fn count_access(&mut self, key: &[u8]) {
        let Some(c) = self.cold.as_mut() else {
            return;
        };
        if c.keys == 0 && c.sketch.is_none() {
            return;
        }
        let resident = self.keys.len();
        let sketch = c.sketch.get_or_insert_with(|| FreqSketch::new(resident));
        sketch.increment(admit::key_hash(key));
    }

    /// Notes a key eviction has chosen, for admission: cold keys read
    /// less often than such keys are not admitted. Also grows the sketch
    /// with the number of keys in memory.
    pub fn note_victim(&mut self, key: &[u8]) {
        let resident = self.keys.len();
        let Some(c) = self.cold.as_mut() else {
            return;
        };
        let Some(sketch) = c.sketch.as_mut() else {
            return;
        };
        if resident > 2 * sketch.words() {
            *sketch = FreqSketch::new(resident);
            c.victim_freq = 0;
        }
        let f = u32::from(sketch.frequency(admit::key_hash(key)));
        // Moving average over about the last 8 victims, times 16.
        c.victim_freq = c.victim_freq - c.victim_freq / 8 + 2 * f;
    }

    /// The admission sketch's estimate of `key`'s recent accesses (0 to
    /// 15; 0 without a sketch). Eviction breaks ties of the LFU counter
    /// with it: in the long tail, Redis's logarithmic counter hardly
    /// tells a key read a few times a minute from one read once.
    pub fn recent_frequency(&self, key: &[u8]) -> u8 {
        self.cold
            .as_ref()
            .and_then(|c| c.sketch.as_ref())
            .map_or(0, |s| s.frequency(admit::key_hash(key)))
    }

    /// Memory is not full: admit every cold key again.
    pub fn admit_all(&mut self) {
        if let Some(c) = self.cold.as_mut() {
            c.victim_freq = 0;
        }
    }

    /// Drops the keys promoted but not admitted since the last call, if
    /// unchanged (see [`crate::admit`]).
    pub fn drop_transients(&mut self) {
        let keys = match self.cold.as_mut() {
            Some(c) if !c.transient.is_empty() => std::mem::take(&mut c.transient),
            _ => return,
        };
        for k in &keys {
            self.drop_if_clean(k);
        }
    }

    /// Finishes a spill whose record was written (`written`) or not. The
    /// value leaves memory only if nothing touched the key meanwhile;
    /// otherwise the written record is deleted again. Returns true if the
    /// key is now cold.
    pub fn spill_commit(&mut self, job: &SpillJob, written: bool, stored_len: usize) -> bool {
        let Some(c) = self.cold.as_mut() else {
            return false;
        };
        c.in_flight.remove(&job.key[..]);
        if written {
            // Either the record just written becomes the key's, or it is
            // deleted again below.
            c.log.changed(&job.key);
        }
        let untouched = matches!(self.keys.get(&job.key[..]), Some(e) if e.lru & SPILLING != 0);
        if !written {
            if let Some(e) = self.keys.get_mut(&job.key[..]) {
                e.lru &= !SPILLING;
            }
            return false;
        }
        let same_expiry = self.expires.get(&job.key[..]).copied() == job.expire_at;
        if untouched && same_expiry && c.id == job.cold_id {
            // A snapshot cut since the prepare has not seen it yet.
            self.snap_guard(&job.key);
            let Some(c) = self.cold.as_mut() else {
                return false;
            };
            self.keys.remove(&job.key[..]);
            self.expires.remove(&job.key[..]);
            // The new record replaced any record a failed delete left.
            c.dead.remove(&job.key[..]);
            c.log.settled(&job.key, Some(job.expire_at));
            c.keys += 1;
            if job.expire_at.is_some() {
                c.expires += 1;
            }
            c.stats.spills += 1;
            c.stats.spill_bytes_raw += job.payload.len() as u64;
            c.stats.spill_bytes_stored += stored_len as u64;
            return true;
        }
        if let Some(e) = self.keys.get_mut(&job.key[..]) {
            e.lru &= !SPILLING;
        }
        // Stale: the record must not survive.
        let mut ops = vec![Op::Delete(Cf::Data, cold::data_key(job.cold_id, &job.key))];
        if let Some(at) = job.expire_at {
            ops.push(Op::Delete(
                Cf::Ttl,
                cold::ttl_key(job.cold_id, at, &job.key),
            ));
        }
        if !c.write_now(ops, "cold delete of a stale spill failed") {
            c.dead.insert(job.key.clone());
        }
        c.log.settled(&job.key, None);
        false
    }

    /// A ticket to find, off the lock, up to `max` cold records whose
    /// deadline is at or before `now_ms` (active expiry); `None` if the
    /// database has no cold record with a deadline.
    pub fn cold_expiry_ticket(&self, now_ms: i64, max: usize) -> Option<ExpiryTicket> {
        let c = self.cold.as_ref()?;
        if c.expires == 0 {
            return None;
        }
        let from = c.id.to_be_bytes().to_vec();
        let mut to = from.clone();
        to.extend_from_slice(&((now_ms.max(0) as u64) + 1).to_be_bytes());
        Some(ExpiryTicket {
            id: c.id,
            from,
            to,
            max,
            generation: c.log.generation,
            seq: c.log.seq,
        })
    }

    /// Applies an [`ExpiryRead`]: deletes the due records (reporting them
    /// in `expired`) and the stray index entries it found, for keys whose
    /// record the change log shows unchanged since the read (a changed
    /// one is left to a later round). If the log cannot tell any more,
    /// each entry's record is read again here, so expiry still advances.
    /// Returns how many keys expired.
    pub fn cold_expire_apply(&mut self, read: ExpiryRead) -> usize {
        let Some(c) = self.cold.as_mut() else {
            return 0;
        };
        if read.id != c.id {
            // Swapped meanwhile: the read was of another database's keys.
            return 0;
        }
        if let Some(e) = read.error {
            c.stats.errors += 1;
            c.errors.push(format!("cold expiry scan failed: {e}"));
            return 0;
        }
        let trusted = c.log.tracks(read.generation, read.seq);
        let mut n = 0;
        for (at, key, found) in read.due {
            if self.keys.contains_key(&key[..]) {
                // In memory (shadowed): memory's own expiry decides.
                continue;
            }
            let Some(c) = self.cold.as_mut() else { break };
            if c.ignored(&key[..]) {
                continue;
            }
            let found = if !trusted {
                c.locked_read();
                DueRecord::read(&*c.store, c.id, at, &key)
            } else if c.log.unchanged_since(&key, read.generation, read.seq) {
                found
            } else {
                continue;
            };
            match found {
                DueRecord::Current => {
                    let dk = cold::data_key(c.id, &key);
                    if self.cold_delete(dk, &key, Some(at)) {
                        if let Some(c) = self.cold.as_mut() {
                            c.stats.expired += 1;
                        }
                        self.expired.push(key);
                        n += 1;
                    }
                }
                DueRecord::Stray => {
                    // No record, or one with another deadline: the index
                    // entry is dropped.
                    let _ = c
                        .store
                        .write_or_fail(vec![Op::Delete(Cf::Ttl, cold::ttl_key(c.id, at, &key))]);
                }
                DueRecord::Unread => {}
            }
        }
        n
    }

    /// Streams the cold tier as of now (BGSAVE/SAVE). `None` without one.
    pub fn cold_snapshot(
        &self,
    ) -> Option<Result<std::sync::mpsc::Receiver<Result<cold::Chunk, ColdError>>, ColdError>> {
        let c = self.cold.as_ref()?;
        if c.keys == 0 {
            return None;
        }
        let (from, to) = cold::db_range(c.id);
        Some(c.store.snapshot_stream(Cf::Data, from, to))
    }

    /// Removes `key` if its deadline has passed (Redis's
    /// `expireIfNeeded`). Returns true if removed; the key is reported in
    /// `expired`.
    pub fn expire_if_needed(&mut self, key: &[u8], now_ms: i64) -> bool {
        match self.expires.get(key) {
            Some(&at) if at <= now_ms => {
                self.snap_guard(key);
                self.expires.remove(key);
                if let Some((k, _)) = self.keys.remove(key) {
                    self.drop_shadow(key);
                    self.expired.push(k);
                }
                true
            }
            _ => false,
        }
    }

    /// One step of giving the entries in memory whose access clocks are
    /// still 0 (made by an AOF replay) fresh clocks at `now_ms`: visits
    /// buckets from `cursor` until about `budget` entries were seen and
    /// returns the next cursor (0 when the table is done). Steps follow
    /// SCAN's rules, so the table may change between them (the loader
    /// lets clients in between steps).
    pub fn fix_zero_clocks(&mut self, mut cursor: u64, now_ms: i64, budget: usize) -> u64 {
        let mut stale: Vec<Bytes> = Vec::new();
        let mut seen = 0usize;
        loop {
            cursor = self.keys.scan(cursor, |k, e| {
                seen += 1;
                if e.lru_clock() == 0 {
                    stale.push(k.clone());
                }
            });
            seen += 1;
            if cursor == 0 || seen >= budget {
                break;
            }
        }
        for k in stale {
            self.snap_guard(&k);
            if let Some(e) = self.keys.get_mut(&k[..]) {
                e.lfu = Lfu::new(now_ms);
                e.touch_lru(now_ms);
            }
        }
        cursor
    }

    /// Finds a live key for reading or writing its value.
    pub fn get_mut(&mut self, key: &[u8], now_ms: i64, touch: Touch) -> Option<&mut Entry> {
        if self.expire_if_needed(key, now_ms) {
            return None;
        }
        let params = self.lfu;
        if self.cold_len() > 0 && !self.keys.contains_key(key) && !self.promote(key, now_ms) {
            return None;
        }
        self.snap_guard(key);
        let entry = self.keys.get_mut(key)?;
        entry.lru &= !SPILLING;
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

    /// True if the key exists and is live (in either tier; a cold key is
    /// not promoted).
    pub fn contains(&mut self, key: &[u8], now_ms: i64) -> bool {
        if self.expire_if_needed(key, now_ms) {
            return false;
        }
        self.keys.contains_key(key) || self.cold_meta(key, now_ms).is_some()
    }

    /// Type of a live key in either tier, without promoting it.
    pub fn key_type(&mut self, key: &[u8], now_ms: i64) -> Option<ValueType> {
        if self.expire_if_needed(key, now_ms) {
            return None;
        }
        match self.keys.get(key) {
            Some(e) => Some(e.value.value_type()),
            None => self.cold_meta(key, now_ms).map(|m| m.value_type),
        }
    }

    /// True if `key` is in memory.
    pub fn is_resident(&self, key: &[u8]) -> bool {
        self.keys.contains_key(key)
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
        self.snap_guard(&key);
        let cold = if self.cold_len() > 0 && !self.keys.contains_key(&key[..]) {
            self.take_cold(&key, i64::MIN)
        } else {
            None
        };
        self.expires.remove(&key[..]);
        self.set_keep_ttl(key.clone(), value, now_ms);
        if let Some((_, lfu)) = cold {
            self.carry_cold_lfu(&key, lfu, now_ms);
        }
    }

    /// Sets a key the caller has just found absent in both tiers, in the
    /// same lock hold (SET after its NX/XX lookup): no second cold lookup.
    pub fn set_absent(&mut self, key: Bytes, value: Value, now_ms: i64) {
        if self.keys.contains_key(&key[..]) {
            return self.set(key, value, now_ms);
        }
        self.expires.remove(&key[..]);
        let mut entry = Entry::new(value, now_ms);
        self.snap_mark_new(&mut entry);
        self.keys.insert(crate::value::compact(key), entry);
    }

    /// Sets a key's value, keeping its deadline if it has one. An
    /// overwritten key keeps its LFU counter (as Redis's `dbOverwrite`);
    /// the access clock restarts.
    pub fn set_keep_ttl(&mut self, key: Bytes, value: Value, now_ms: i64) {
        self.snap_guard(&key);
        let mark = self.snap_mark;
        if let Some(e) = self.keys.get_mut(&key[..]) {
            let lfu = e.lfu;
            *e = Entry::new(value, now_ms);
            e.lfu = lfu;
            e.lru = (e.lru & !SNAP) | mark;
            return;
        }
        let cold = if self.cold_len() > 0 {
            self.take_cold(&key, now_ms)
        } else {
            None
        };
        if let Some((Some(at), _)) = cold {
            self.expires.insert(crate::value::compact(key.clone()), at);
        }
        let mut entry = Entry::new(value, now_ms);
        self.snap_mark_new(&mut entry);
        self.keys.insert(crate::value::compact(key.clone()), entry);
        if let Some((_, lfu)) = cold {
            self.carry_cold_lfu(&key, lfu, now_ms);
        }
    }

    /// Inserts a whole entry (with its LFU state) and an optional deadline.
    pub fn insert_entry(&mut self, key: Bytes, mut entry: Entry, expire_at: Option<i64>) {
        let key = crate::value::compact(key);
        entry.lru &= !SPILLING;
        self.snap_guard(&key);
        self.snap_mark_new(&mut entry);
        if self.cold_len() > 0 && !self.keys.contains_key(&key[..]) {
            self.take_cold(&key, i64::MIN);
        }
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

    /// Removes a key; returns its entry and deadline. A cold key is read
    /// back first (use [`Db::delete`] when the value is not needed).
    pub fn remove(&mut self, key: &[u8]) -> Option<(Entry, Option<i64>)> {
        if self.cold_len() > 0 && !self.keys.contains_key(key) {
            self.promote(key, i64::MIN);
        }
        self.snap_guard(key);
        let (_, entry) = self.keys.remove(key)?;
        self.drop_shadow(key);
        let at = self.expires.remove(key).map(|(_, at)| at);
        Some((entry, at))
    }

    /// Removes a key from either tier without reading a cold value (DEL,
    /// UNLINK). Returns true if it existed (a cold key past its deadline
    /// is expired instead). In-memory expiry is the caller's job.
    pub fn delete(&mut self, key: &[u8], now_ms: i64) -> bool {
        self.snap_guard(key);
        if self.keys.remove(key).is_some() {
            self.expires.remove(key);
            self.drop_shadow(key);
            return true;
        }
        if self.cold_len() == 0 {
            return false;
        }
        self.take_cold(key, now_ms).is_some()
    }

    /// Deadline of a key in unix milliseconds, if any (a cold key's comes
    /// from its record header).
    pub fn expire_at(&mut self, key: &[u8]) -> Option<i64> {
        if let Some(at) = self.expires.get(key) {
            return Some(*at);
        }
        if self.cold.is_some() && !self.keys.contains_key(key) {
            return self.cold_meta(key, i64::MIN).and_then(|m| m.expire_at);
        }
        None
    }

    /// Rewrites a cold record's deadline without reading its value:
    /// `Some(false)` if there is no live record, `None` if the store
    /// refused the write (the caller then moves the key to memory).
    fn cold_set_expire(&mut self, key: &[u8], at: Option<i64>) -> Option<bool> {
        let Some((dk, rec, meta)) = self.cold_live(key, i64::MIN) else {
            return Some(false);
        };
        let Ok(r) = cold::decode_record(&rec) else {
            return Some(false);
        };
        let c = self.cold.as_mut()?;
        let mut ops = Vec::with_capacity(3);
        if let Some(old) = meta.expire_at {
            ops.push(Op::Delete(Cf::Ttl, cold::ttl_key(c.id, old, key)));
        }
        if let Some(new) = at {
            ops.push(Op::Put(Cf::Ttl, cold::ttl_key(c.id, new, key), Vec::new()));
        }
        ops.push(Op::Put(Cf::Data, dk, r.with_expire(at)));
        c.log.changed(key);
        if !c.write_now(ops, "cold write failed (the key moves to memory)") {
            // Refused whole: the record is as it was.
            c.log.settled(key, Some(meta.expire_at));
            return None;
        }
        c.log.settled(key, Some(at));
        match (meta.expire_at.is_some(), at.is_some()) {
            (false, true) => c.expires += 1,
            (true, false) => c.expires = c.expires.saturating_sub(1),
            _ => {}
        }
        Some(true)
    }

    /// Sets a deadline on an existing key. Returns false if no such key.
    pub fn set_expire(&mut self, key: &[u8], at_ms: i64) -> bool {
        self.snap_guard(key);
        match self.keys.get_key_value(key) {
            Some((k, _)) => {
                let k = k.clone();
                self.expires.insert(k, at_ms);
                if let Some(e) = self.keys.get_mut(key) {
                    e.lru &= !SPILLING;
                }
                true
            }
            None if self.cold.is_some() => match self.cold_set_expire(key, Some(at_ms)) {
                Some(done) => done,
                // The store refused the write (a failing or full disk):
                // the key takes its deadline in memory.
                None => self.promote(key, i64::MIN) && self.set_expire(key, at_ms),
            },
            None => false,
        }
    }

    /// Removes a deadline. Returns true if one was removed.
    pub fn persist(&mut self, key: &[u8]) -> bool {
        self.snap_guard(key);
        if self.keys.contains_key(key) {
            if let Some(e) = self.keys.get_mut(key) {
                e.lru &= !SPILLING;
            }
            return self.expires.remove(key).is_some();
        }
        if self.cold.is_some()
            && matches!(self.cold_meta(key, i64::MIN), Some(m) if m.expire_at.is_some())
        {
            return match self.cold_set_expire(key, None) {
                Some(done) => done,
                // Refused by the store: in memory instead.
                None => self.promote(key, i64::MIN) && self.persist(key),
            };
        }
        false
    }

    /// Removes every key (both tiers).
    pub fn clear(&mut self) {
        self.snap_save_all();
        self.keys.clear();
        self.expires.clear();
        let _ = self.flush_cold();
    }

    /// Range-deletes this database's cold records (FLUSHDB/FLUSHALL do
    /// it first: if the store refuses, they flush nothing). A flush is
    /// rare and Redis's own blocks the server: this write waits out a
    /// stalled store rather than fail the command.
    pub fn flush_cold(&mut self) -> Result<(), ColdError> {
        let Some((store, ops)) = self.cold_flush_ops() else {
            return Ok(());
        };
        let result = store.write(ops);
        self.cold_flushed(&result);
        result
    }

    /// The store and the range deletes that clear this database's cold
    /// records (`None` if it has none).
    fn cold_flush_ops(&self) -> Option<(Store, Vec<Op>)> {
        let c = self.cold.as_ref()?;
        if c.keys == 0 && c.in_flight.is_empty() {
            return None;
        }
        let (from, to) = cold::db_range(c.id);
        Some((
            c.store.clone(),
            vec![
                Op::DeleteRange(Cf::Data, from.clone(), to.clone()),
                Op::DeleteRange(Cf::Ttl, from, to),
            ],
        ))
    }

    /// After the write of [`Db::cold_flush_ops`]: the counts, if it went
    /// through. Either way, reads made off the lock before are void.
    fn cold_flushed(&mut self, result: &Result<(), ColdError>) {
        let Some(c) = self.cold.as_mut() else {
            return;
        };
        c.log.changed_all();
        c.stash.clear();
        match result {
            Ok(()) => {
                c.keys = 0;
                c.expires = 0;
                c.dead.clear();
                c.clean.clear();
                c.clean_expires = 0;
            }
            Err(e) => {
                c.stats.errors += 1;
                c.errors.push(format!("cold flush failed: {e}"));
            }
        }
    }

    /// Removes every key and hands the old tables to the caller, so the
    /// memory can be freed elsewhere (FLUSHALL ASYNC). O(1); the cold
    /// tier is cleared with a range delete.
    pub fn flush(&mut self) -> Flushed {
        self.snap_save_all();
        let _ = self.flush_cold();
        Flushed {
            _keys: std::mem::take(&mut self.keys),
            _expires: std::mem::take(&mut self.expires),
        }
    }

    /// Moves a key (value, access statistics and deadline) to `to`,
    /// replacing whatever `to` held. Returns false if `from` is missing.
    /// Expiry is not checked: callers look both keys up first.
    pub fn rename(&mut self, from: &[u8], to: Bytes) -> bool {
        if from == &to[..] {
            // A no-op (the command layer answers it before; a cold record
            // must not be deleted and re-put under its own name).
            return self.keys.contains_key(from) || self.cold_meta(from, i64::MIN).is_some();
        }
        if self.cold_len() > 0 && !self.keys.contains_key(from) {
            // A spill of `to` in flight would delete a record written
            // under its name: then move the value through memory.
            let to_in_flight = self
                .cold
                .as_ref()
                .is_some_and(|c| c.in_flight.contains(&to[..]));
            if !to_in_flight {
                // `None`: the store refused the move (a failing or full
                // disk); the value moves through memory instead.
                if let Some(done) = self.cold_rename(from, to.clone()) {
                    return done;
                }
            }
            self.promote(from, i64::MIN);
        }
        match self.remove(from) {
            Some((entry, at)) => {
                self.remove(&to[..]);
                self.insert_entry(to, entry, at);
                true
            }
            None => false,
        }
    }

    /// RENAME of a cold key: moves the record, value untouched.
    /// `Some(false)` if there is no such key, `None` if the store refused
    /// the write.
    fn cold_rename(&mut self, from: &[u8], to: Bytes) -> Option<bool> {
        let Some((dk, rec, meta)) = self.cold_live(from, i64::MIN) else {
            return Some(false);
        };
        self.delete(&to[..], i64::MIN);
        let c = self.cold.as_mut()?;
        let mut ops = vec![
            Op::Delete(Cf::Data, dk),
            Op::Put(Cf::Data, cold::data_key(c.id, &to), rec),
        ];
        if let Some(at) = meta.expire_at {
            ops.push(Op::Delete(Cf::Ttl, cold::ttl_key(c.id, at, from)));
            ops.push(Op::Put(Cf::Ttl, cold::ttl_key(c.id, at, &to), Vec::new()));
        }
        c.log.changed(from);
        c.log.changed(&to);
        if !c.write_now(ops, "cold rename failed (moved through memory)") {
            // Refused whole: `from` keeps its record; `to`'s was deleted
            // above.
            c.log.settled(from, Some(meta.expire_at));
            c.log.settled(&to, None);
            return None;
        }
        c.dead.remove(&to[..]);
        c.log.settled(from, None);
        c.log.settled(&to, Some(meta.expire_at));
        Some(true)
    }

    /// Iterates over every key in memory (expired ones included; callers
    /// check). Cold keys: [`Db::cold_keys_matching`], [`Db::cold_snapshot`].
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
                if self.key_type(&k, now_ms) != Some(t) {
                    continue;
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
        if self.cold_len() > 0 {
            return self.scan_keys_tiered(cursor, count);
        }
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

    /// SCAN over both tiers with one cursor. The cursor walks positions
    /// (bit-reversed key hashes) in Redis's reverse-binary order over a
    /// virtual table of `2^bits` buckets, at least as large as the memory
    /// table and about as large as the key count; each virtual bucket
    /// covers one contiguous position range, looked up in memory (one
    /// bucket of the table, filtered by position) and in the cold store
    /// (one key range). A key moving between tiers keeps its position, so
    /// a key present for the whole scan is returned whatever spills or
    /// promotions happen between calls. Cold records whose spill is in
    /// flight are skipped (the key is still in memory). Expired cold
    /// records are skipped here and removed by expiry.
    ///
    /// Successive buckets are successive position ranges, so one call
    /// reads the cold store with one range scan (one RocksDB iterator)
    /// across every bucket it visits, stopping where Redis's loop stops.
    fn scan_keys_tiered(&self, cursor: u64, count: usize) -> (u64, Vec<Bytes>) {
        let bits = self.scan_bits();
        let Some(c) = self.cold.as_ref() else {
            return (0, Vec::new());
        };
        let mut walk = ScanWalk {
            cursor,
            mask: (1u64 << bits) - 1,
            bits,
            count,
            max_iterations: count.saturating_mul(10),
            keys: Vec::new(),
            bucket_cold: Vec::new(),
        };
        let first = walk.lo();
        let (from, to, range_end) = scan_range(c.id, first, bits, walk.max_iterations);
        // Records read off the lock for this very call, if none of that
        // range changed since.
        let pre = c.scan_stash.iter().find(|r| {
            r.cursor == cursor
                && r.count == count
                && r.bits == bits
                && c.log
                    .range_unchanged_since(first, r.upto.or(range_end), r.generation, r.seq)
        });
        let stopped = std::cell::Cell::new(false);
        let mut visit = |pos: u64, key: &[u8], readable: bool| {
            // Records past the current bucket: finish the buckets before.
            while walk.end().is_some_and(|end| pos >= end) {
                if walk.finish_bucket(&self.keys) {
                    stopped.set(true);
                    return false;
                }
            }
            if readable && !c.ignored(key) && !self.keys.contains_key(key) {
                walk.bucket_cold.push(Bytes::copy_from_slice(key));
            }
            true
        };
        let mut resume = Some(from);
        if let Some(r) = pre {
            for (pos, key, readable) in &r.records {
                if !visit(*pos, key, *readable) {
                    break;
                }
            }
            resume = r.upto.map(|u| cold::data_bound(c.id, u));
        }
        if let Some(from) = resume.filter(|_| !stopped.get()) {
            c.locked_read();
            let _ = c.store.scan(Cf::Data, &from, &to, &mut |k, v| {
                visit_record(&mut visit, k, v)
            });
        }
        // Buckets left without cold records (or a store that failed to
        // read: memory's part is still returned).
        let mut stopped = stopped.get();
        while !stopped {
            stopped = walk.finish_bucket(&self.keys);
        }
        (walk.cursor, walk.keys)
    }

    /// The virtual table's size (as a power of two) for a tiered SCAN: at
    /// least the memory table's and about the key count.
    fn scan_bits(&self) -> u32 {
        let total = (self.keys.len() + self.cold_len()).max(1) as u64;
        let size = (self.keys.max_mask() + 1)
            .max(total.next_power_of_two())
            .max(4);
        size.trailing_zeros()
    }

    /// A ticket to read, off the lock, the cold records a `SCAN cursor
    /// COUNT count` call would read (`None`: nothing to read ahead).
    pub fn scan_ticket(&self, cursor: u64, count: usize) -> Option<ColdTicket> {
        let c = self.cold.as_ref()?;
        if self.cold_len() == 0 {
            return None;
        }
        let bits = self.scan_bits();
        let first = (cursor & ((1u64 << bits) - 1)).reverse_bits();
        let (from, to, _) = scan_range(c.id, first, bits, count.saturating_mul(10));
        Some(c.range_ticket(Ahead::Scan(ScanPlan {
            cursor,
            count,
            bits,
            first,
            from,
            to,
        })))
    }

    /// A random key of the cold tier, if any.
    fn random_cold_key(&mut self, now_ms: i64) -> Option<Bytes> {
        use rand::Rng;
        let pos: u64 = self.rng.random();
        let c = self.cold.as_ref()?;
        let (start, end) = cold::db_range(c.id);
        let mut found: Option<Bytes> = None;
        for from in [cold::data_bound(c.id, pos), start] {
            c.locked_read();
            let _ = c.store.scan(Cf::Data, &from, &end, &mut |k, v| {
                let key = cold::user_key(k);
                let live = cold::decode_record(v)
                    .map(|r| r.expire_at.is_none_or(|at| at > now_ms))
                    .unwrap_or(false);
                if live && !c.ignored(key) {
                    found = Some(Bytes::copy_from_slice(key));
                    return false;
                }
                true
            });
            if found.is_some() {
                break;
            }
        }
        found
    }

    /// A random live key (RANDOMKEY). Expired keys drawn are removed and
    /// the draw repeats, as Redis's `dbRandomKey` on a master: every miss
    /// removes a key, so this ends.
    pub fn random_key(&mut self, now_ms: i64) -> Option<Bytes> {
        let cold = self.cold_len();
        if cold > 0 {
            use rand::Rng;
            let hot = self.keys.len();
            // The draw made with the ticket, if there was one.
            let cold_draw = match self.stashed_random(now_ms) {
                Some(ahead::Draw::Cold(Some(key))) => return Some(key),
                Some(ahead::Draw::Cold(None)) => true,
                Some(ahead::Draw::Hot) => false,
                None => self.rng.random_range(0..hot + cold) >= hot,
            };
            if cold_draw {
                if let Some(k) = self.random_cold_key(now_ms) {
                    return Some(k);
                }
            }
            if hot == 0 {
                return self.random_cold_key(now_ms);
            }
        }
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

    /// Visits up to `count` keys in memory from a random spot (the
    /// eviction pool's sample, as Redis's `dictGetSomeKeys`).
    pub fn sample_entries(&mut self, count: usize, f: impl FnMut(&Bytes, &Entry)) {
        self.keys.for_some(&mut self.rng, count, f);
    }

    /// A random key with a deadline, with its entry (volatile policies).
    pub fn random_volatile(&mut self) -> Option<(Bytes, i64)> {
        self.expires
            .random_entry(&mut self.rng)
            .map(|(k, at)| (k.clone(), *at))
    }

    /// Deadline of an in-memory key (no cold lookup).
    pub fn hot_expire_at(&self, key: &[u8]) -> Option<i64> {
        self.expires.get(key).copied()
    }

    /// The in-memory entry of `key` without side effects.
    pub fn entry(&self, key: &[u8]) -> Option<&Entry> {
        self.keys.get(key)
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
    /// Range-deletes every database's cold records in one atomic write
    /// (FLUSHALL does it first): if the store refuses, no database's
    /// records are gone, and the command can fail without flushing
    /// anything. Databases on different stores (none in the server)
    /// get one write per store.
    pub fn flush_cold_all(&mut self) -> Result<(), ColdError> {
        let mut writes: Vec<(Store, Vec<Op>, Vec<usize>)> = Vec::new();
        for (i, db) in self.dbs.iter().enumerate() {
            let Some((store, ops)) = db.cold_flush_ops() else {
                continue;
            };
            match writes
                .iter_mut()
                .find(|w| std::sync::Arc::ptr_eq(&w.0, &store))
            {
                Some(w) => {
                    w.1.extend(ops);
                    w.2.push(i);
                }
                None => writes.push((store, ops, vec![i])),
            }
        }
        let mut outcome = Ok(());
        for (store, ops, dbs) in writes {
            let result = store.write(ops);
            for i in dbs {
                self.dbs[i].cold_flushed(&result);
            }
            if outcome.is_ok() {
                outcome = result;
            }
        }
        outcome
    }

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

/// The store keys bounding a SCAN call's records: the call's first bucket
/// starts at position `first`, and it visits at most `max_iterations + 1`
/// buckets of `2^(64 - bits)` positions each. Also the end position
/// (`None`: the end of the position space).
fn scan_range(
    id: u16,
    first: u64,
    bits: u32,
    max_iterations: usize,
) -> (Vec<u8>, Vec<u8>, Option<u64>) {
    let width = 1u128 << (64 - bits);
    let span = (max_iterations as u128 + 1) * width;
    let end = u64::try_from(u128::from(first) + span).ok();
    let to = match end {
        Some(end) => cold::data_bound(id, end),
        None => cold::db_end(id),
    };
    (cold::data_bound(id, first), to, end)
}

/// Feeds one store record to a SCAN walk's visitor.
fn visit_record(visit: &mut impl FnMut(u64, &[u8], bool) -> bool, k: &[u8], v: &[u8]) -> bool {
    visit(
        cold::record_position(k),
        cold::user_key(k),
        cold::decode_record(v).is_ok(),
    )
}

/// One SCAN call's walk over the virtual buckets of
/// `Db::scan_keys_tiered`: Redis's loop, one bucket at a time.
struct ScanWalk {
    cursor: u64,
    mask: u64,
    bits: u32,
    count: usize,
    max_iterations: usize,
    keys: Vec<Bytes>,
    /// Cold keys met in the current bucket (returned after its memory
    /// keys).
    bucket_cold: Vec<Bytes>,
}

impl ScanWalk {
    /// First position of the current bucket.
    fn lo(&self) -> u64 {
        (self.cursor & self.mask).reverse_bits()
    }

    /// First position past the current bucket (`None` for the last one).
    fn end(&self) -> Option<u64> {
        self.lo().checked_add(1u64 << (64 - self.bits))
    }

    /// Returns the current bucket's keys (memory, then cold) and moves to
    /// the next one; true when the call ends (as Redis's loop: the cursor
    /// is done, enough keys, or the bucket budget spent).
    fn finish_bucket(&mut self, mem: &Dict<Bytes, Entry, KeyHasher>) -> bool {
        let (lo, keys) = (self.lo(), &mut self.keys);
        mem.scan_positions(lo, self.bits, |k, _| keys.push(k.clone()));
        keys.append(&mut self.bucket_cold);
        self.cursor |= !self.mask;
        self.cursor = self.cursor.reverse_bits().wrapping_add(1).reverse_bits();
        if self.cursor == 0 || self.max_iterations == 0 || self.keys.len() >= self.count {
            return true;
        }
        self.max_iterations -= 1;
        false
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
    fn cold_log_point_checks_reach_past_the_ring() {
        let mut log = ColdLog::new();
        let g = log.generation;
        log.changed(b"before");
        let seq = log.seq;
        // More changes than the ring holds: range checks give up, point
        // checks still answer exactly.
        for i in 0..(COLD_LOG as u64 * 3) {
            log.changed(format!("other{i}").as_bytes());
        }
        log.changed(b"changed");
        assert!(log.changes_since(g, seq).is_none());
        assert!(!log.range_unchanged_since(0, None, g, seq));
        assert!(log.tracks(g, seq));
        assert!(log.unchanged_since(b"before", g, seq));
        assert!(log.unchanged_since(b"untouched", g, seq));
        assert!(!log.unchanged_since(b"changed", g, seq));
        assert!(!log.unchanged_since(b"other7", g, seq));
        // Another generation, or a read noted in the future, is unknown.
        assert!(!log.unchanged_since(b"untouched", g + 1, seq));
        assert!(!log.unchanged_since(b"untouched", g, log.seq + 1));

        // A key changed early stays changed while it is tracked; past
        // both maps' span nothing is known.
        let mut log = ColdLog::new();
        let g = log.generation;
        log.changed(b"early");
        for i in 0..(COLD_LOG_POINT + 10) {
            log.changed(format!("k{i}").as_bytes());
        }
        assert!(log.tracks(g, 0));
        assert!(!log.unchanged_since(b"early", g, 0));
        assert!(log.unchanged_since(b"untouched", g, 0));
        let late = log.seq;
        for i in 0..COLD_LOG_POINT {
            log.changed(format!("j{i}").as_bytes());
        }
        assert!(!log.tracks(g, 0));
        assert!(!log.unchanged_since(b"untouched", g, 0));
        assert!(log.tracks(g, late));
        assert!(!log.unchanged_since(b"j5", g, late));
        assert!(log.unchanged_since(b"k5", g, late));
        // The same key changed in both maps: the later change counts.
        let mid = log.seq;
        log.changed(b"j1");
        assert!(!log.unchanged_since(b"j1", g, mid));
        assert!(log.unchanged_since(b"j2", g, mid));

        // A range delete voids every earlier read.
        let before = log.seq;
        log.changed_all();
        assert!(!log.tracks(g, before));
        assert!(!log.unchanged_since(b"untouched", g, before));
        assert!(log.unchanged_since(b"untouched", g, log.seq));
        // The maps hold at most one span's keys each.
        assert!(log.recent.len() as u64 <= COLD_LOG_POINT);
        assert!(log.older.len() as u64 <= COLD_LOG_POINT);
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
    fn zero_access_clocks_are_fixed_in_bounded_steps() {
        let mut db = Db::new(6);
        // Made at time 0, as an AOF replay makes them...
        for i in 0..300 {
            db.set(Bytes::from(format!("old{i}")), s("v"), 0);
        }
        // ...and one touched later, which keeps its clock.
        let later = 5_000_000;
        db.set(Bytes::from_static(b"new"), s("v"), later);
        let now = 9_000_000;
        let (mut cursor, mut steps) = (0, 0);
        loop {
            cursor = db.fix_zero_clocks(cursor, now, 32);
            steps += 1;
            // Keys added between steps (clients may run) are fine too.
            if steps == 3 {
                db.set(Bytes::from_static(b"between"), s("v"), 0);
            }
            if cursor == 0 {
                break;
            }
        }
        assert!(steps > 5, "{steps} steps for 300 keys at 32 per step");
        for i in 0..300 {
            let e = db.entry(format!("old{i}").as_bytes()).expect("entry");
            assert_eq!(e.lru_clock(), lru_clock(now), "old{i}");
        }
        let e = db.entry(b"new").expect("entry");
        assert_eq!(e.lru_clock(), lru_clock(later));
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

    /// A database with a cold tier in memory.
    fn tiered_db() -> (crate::cold::Store, Db) {
        let store: crate::cold::Store = std::sync::Arc::new(crate::cold::MemStore::new());
        let mut db = Db::new(9);
        db.attach_cold(store.clone(), 0, rdb::convert::Limits::default());
        (store, db)
    }

    /// Spills `k` of `db` into `store` at once (an unchanged promoted key
    /// is only dropped: its record is kept).
    fn spill_key(store: &crate::cold::Store, db: &mut Db, k: &[u8]) {
        let Ok(job) = db.spill_prepare_or_drop(k, 0).expect("in memory") else {
            return;
        };
        let rec =
            crate::cold::encode_record(&job.payload, job.expire_at, job.lfu, 1).expect("encode");
        store.write(job.ops(rec)).expect("write");
        assert!(db.spill_commit(&job, true, 0));
    }

    /// Tiered SCAN as first written: one store scan per virtual bucket
    /// (the reference `scan_keys_tiered` must match call for call).
    fn scan_per_bucket(db: &Db, mut cursor: u64, count: usize) -> (u64, Vec<Bytes>) {
        let total = (db.keys.len() + db.cold_len()).max(1) as u64;
        let size = (db.keys.max_mask() + 1)
            .max(total.next_power_of_two())
            .max(4);
        let bits = size.trailing_zeros();
        let mask = size - 1;
        let c = db.cold.as_ref().expect("tiered");
        let mut keys: Vec<Bytes> = Vec::new();
        let mut max_iterations = count.saturating_mul(10);
        loop {
            let lo = (cursor & mask).reverse_bits();
            db.keys
                .scan_positions(lo, bits, |k, _| keys.push(k.clone()));
            let from = cold::data_bound(c.id, lo);
            let width = 1u64 << (64 - bits);
            let to = match lo.checked_add(width) {
                Some(hi) => cold::data_bound(c.id, hi),
                None => cold::db_end(c.id),
            };
            let _ = c.store.scan(Cf::Data, &from, &to, &mut |k, v| {
                let key = cold::user_key(k);
                if cold::decode_record(v).is_ok() && !c.ignored(key) && !db.keys.contains_key(key) {
                    keys.push(Bytes::copy_from_slice(key));
                }
                true
            });
            cursor |= !mask;
            cursor = cursor.reverse_bits().wrapping_add(1).reverse_bits();
            if cursor == 0 || max_iterations == 0 || keys.len() >= count {
                break;
            }
            max_iterations -= 1;
        }
        (cursor, keys)
    }

    #[test]
    fn tiered_scan_with_one_store_scan_per_call_matches_one_per_bucket() {
        let (store, mut db) = tiered_db();
        let mut rng = SmallRng::seed_from_u64(11);
        for round in 0..6 {
            // Keys in both tiers, in proportions that change per round
            // (sparse and dense tables, mostly hot, mostly cold).
            let n = [40, 300, 1000, 7, 2500, 600][round];
            for i in 0..n {
                db.set(Bytes::from(format!("r{round}k{i}")), s("v"), 0);
            }
            let keys: Vec<Bytes> = db.iter().map(|(k, _)| k.clone()).collect();
            for k in keys {
                if rand::Rng::random_range(&mut rng, 0..100u32) < [50, 90, 10, 100, 97, 0][round] {
                    spill_key(&store, &mut db, &k);
                }
            }
            for count in [1usize, 3, 10, 100] {
                let (mut cursor, mut seen) = (0u64, 0usize);
                loop {
                    let want = scan_per_bucket(&db, cursor, count);
                    let got = db.scan_keys_tiered(cursor, count);
                    assert_eq!(got, want, "round {round} count {count} cursor {cursor}");
                    seen += got.1.len();
                    cursor = got.0;
                    if cursor == 0 {
                        break;
                    }
                }
                assert_eq!(seen, db.len(), "round {round} count {count}");
            }
        }
    }

    /// A tiered database of `n` keys `k<i>`, 85% of them spilled; with
    /// its keys and the random source that chose.
    fn mostly_cold_db(n: usize, seed: u64) -> (crate::cold::Store, Db, Vec<Bytes>, SmallRng) {
        let (store, mut db) = tiered_db();
        let mut rng = SmallRng::seed_from_u64(seed);
        for i in 0..n {
            db.set(Bytes::from(format!("k{i}")), s("v"), 0);
        }
        let keys: Vec<Bytes> = db.iter().map(|(k, _)| k.clone()).collect();
        for k in &keys {
            if rand::Rng::random_range(&mut rng, 0..100u32) < 85 {
                spill_key(&store, &mut db, k);
            }
        }
        (store, db, keys, rng)
    }

    #[test]
    fn scan_records_read_ahead_are_used_only_while_their_range_is_unchanged() {
        let (store, mut db, keys, mut rng) = mostly_cold_db(3000, 12);
        let (mut used, mut n) = (0, 0);
        for count in [1usize, 5, 10, 50] {
            let mut cursor = 0u64;
            loop {
                let Some(t) = db.scan_ticket(cursor, count) else {
                    panic!("no ticket");
                };
                let p = t.read(&*store);
                db.stash_prefetched(p);
                // Changes after the read ahead, through the keyspace (so
                // logged): a spill, a delete, a new key, or none.
                let pick = keys[rand::Rng::random_range(&mut rng, 0..keys.len())].clone();
                match rand::Rng::random_range(&mut rng, 0..4u32) {
                    0 if db.hot_len() > 0 && db.keys.contains_key(&pick[..]) => {
                        spill_key(&store, &mut db, &pick)
                    }
                    1 => {
                        db.remove(&pick);
                    }
                    2 => db.set(Bytes::from(format!("new{n}")), s("v"), 0),
                    _ => {}
                }
                // A record written behind the keyspace's back (never
                // logged), in the call's first bucket: visible to the
                // store, so to the reference walk, but not to a read ahead
                // that is used.
                let bits = db.scan_bits();
                let first = (cursor & ((1u64 << bits) - 1)).reverse_bits();
                let sneaky = (0..)
                    .map(|j| Bytes::from(format!("sneaky{n}.{j}")))
                    .find(|k| (cold::position(k) >> (64 - bits)) == (first >> (64 - bits)))
                    .expect("a key in the bucket");
                n += 1;
                let want_fresh = scan_per_bucket(&db, cursor, count);
                let rec =
                    crate::cold::encode_record(b"\x00\x01v\x0a\x00", None, 0, 1).expect("rec");
                let id = db.cold.as_ref().expect("cold").id;
                store
                    .write(vec![Op::Put(Cf::Data, cold::data_key(id, &sneaky), rec)])
                    .expect("write");
                let got = db.scan_keys_tiered(cursor, count);
                if got.1.contains(&sneaky) {
                    // Read from the store: the same as the reference.
                    assert_eq!(got, scan_per_bucket(&db, cursor, count));
                    db.clear_stash();
                    let again = db.scan_keys_tiered(cursor, count);
                    assert_eq!(again, got);
                } else {
                    // The read ahead: the same as the reference before
                    // the sneaky record.
                    used += 1;
                    assert_eq!(got, want_fresh, "count {count} cursor {cursor}");
                }
                store
                    .write(vec![Op::Delete(Cf::Data, cold::data_key(id, &sneaky))])
                    .expect("delete");
                db.clear_stash();
                cursor = got.0;
                if cursor == 0 {
                    break;
                }
            }
        }
        assert!(
            used > n / 2 && used < n,
            "read ahead used {used} times of {n}"
        );
    }

    /// KEYS from the store as it is now (no read ahead), sorted.
    fn keys_now(db: &mut Db, filter: &KeysFilter, now: i64) -> Vec<Bytes> {
        db.clear_stash();
        let mut out = Vec::new();
        db.cold_keys_matching(filter, now, |k| out.push(Bytes::copy_from_slice(k)));
        out.sort();
        out
    }

    /// One logged change to `db`'s cold records, by `kind` (0 to 3): a
    /// spill of a random key of `keys` in memory, a delete, a new cold key
    /// `new_key`, or a deadline already past at time 10.
    fn cold_change(
        store: &crate::cold::Store,
        db: &mut Db,
        keys: &[Bytes],
        rng: &mut SmallRng,
        kind: u32,
        new_key: Bytes,
    ) {
        let pick = &keys[rand::Rng::random_range(rng, 0..keys.len())];
        match kind {
            0 if db.keys.contains_key(&pick[..]) => spill_key(store, db, pick),
            1 => {
                db.delete(pick, 0);
            }
            2 => {
                db.set(new_key.clone(), s("v"), 0);
                spill_key(store, db, &new_key);
            }
            _ => {
                db.set_expire(pick, 5);
            }
        }
    }

    /// [`keys_now`], leaving the KEYS read-aheads stashed in `db` alone.
    fn keys_now_keeping_stash(db: &mut Db, filter: &KeysFilter, now: i64) -> Vec<Bytes> {
        let stash = db
            .cold
            .as_mut()
            .map(|c| std::mem::take(&mut c.keys_stash))
            .unwrap_or_default();
        let want = keys_now(db, filter, now);
        db.cold.as_mut().expect("cold").keys_stash = stash;
        want
    }

    #[test]
    fn keys_read_ahead_is_brought_up_to_date_from_the_change_log() {
        let (store, mut db, keys, mut rng) = mostly_cold_db(2000, 5);
        let id = db.cold.as_ref().expect("cold").id;
        let (mut used, mut n) = (0, 0);
        // With the watch on, and (`ring_only`) from the change log's ring.
        for (pattern, ring_only) in ["*", "k1*", "k?5", "new*"]
            .into_iter()
            .flat_map(|p| [(p, false), (p, true)])
        {
            let filter = KeysFilter::new(Bytes::from(pattern));
            for _ in 0..25 {
                let t = db.keys_ticket(Bytes::from(pattern)).expect("ticket");
                db.stash_prefetched(t.read(&*store));
                if ring_only {
                    db.cold.as_mut().expect("cold").log.watch = None;
                }
                // Logged changes after the read ahead: spills, deletes,
                // new cold keys, a deadline now past.
                for _ in 0..rand::Rng::random_range(&mut rng, 0..6) {
                    let kind = rand::Rng::random_range(&mut rng, 0..4u32);
                    let new_key = Bytes::from(format!("new{n}.{}", db.len()));
                    cold_change(&store, &mut db, &keys, &mut rng, kind, new_key);
                }
                // What the call must return: the store as it is now...
                let want = keys_now_keeping_stash(&mut db, &filter, 10);
                // ...but for a record written behind the keyspace's back
                // (never logged), which a read ahead brought up to date
                // cannot see.
                let sneaky = Bytes::from(format!("new-sneaky{n}"));
                n += 1;
                let rec =
                    crate::cold::encode_record(b"\x00\x01v\x0a\x00", None, 0, 1).expect("rec");
                store
                    .write(vec![Op::Put(Cf::Data, cold::data_key(id, &sneaky), rec)])
                    .expect("write");
                let mut got = Vec::new();
                db.cold_keys_matching(&filter, 10, |k| got.push(Bytes::copy_from_slice(k)));
                got.sort();
                if filter.matches(&sneaky) && !got.contains(&sneaky) {
                    used += 1;
                }
                got.retain(|k| k != &sneaky);
                assert_eq!(got, want, "pattern {pattern}");
                store
                    .write(vec![Op::Delete(Cf::Data, cold::data_key(id, &sneaky))])
                    .expect("delete");
            }
        }
        // The read ahead was used by every call that could show it: the
        // 25 calls of each pattern matching the sneaky key (`*`, `new*`),
        // both ways.
        assert_eq!(used, 100, "read ahead used {used} times");
        // A log that cannot tell (a flush) sends the call to the store.
        let t = db.keys_ticket(Bytes::from_static(b"*")).expect("ticket");
        db.stash_prefetched(t.read(&*store));
        db.flush();
        let mut got = Vec::new();
        db.cold_keys_matching(&KeysFilter::new(Bytes::from_static(b"*")), 10, |k| {
            got.push(Bytes::copy_from_slice(k))
        });
        assert!(got.is_empty(), "{got:?}");
    }

    #[test]
    fn keys_read_ahead_outlasts_more_changes_than_the_ring_holds() {
        let (store, mut db, keys, mut rng) = mostly_cold_db(2000, 7);
        let locked = |db: &Db| {
            db.cold
                .as_ref()
                .expect("cold")
                .locked_reads
                .load(std::sync::atomic::Ordering::Relaxed)
        };
        for pattern in ["*", "k1*", "new*"] {
            let filter = KeysFilter::new(Bytes::from(pattern));
            let t = db.keys_ticket(Bytes::from(pattern)).expect("ticket");
            let read = t.read(&*store);
            // While it was read: more changes than the ring's 2048.
            for i in 0..5000u32 {
                let new_key = Bytes::from(format!("new{pattern}{i}"));
                cold_change(&store, &mut db, &keys, &mut rng, i % 4, new_key);
            }
            db.stash_prefetched(read);
            let want = keys_now_keeping_stash(&mut db, &filter, 10);
            let before = locked(&db);
            let mut got = Vec::new();
            db.cold_keys_matching(&filter, 10, |k| got.push(Bytes::copy_from_slice(k)));
            got.sort();
            assert_eq!(got, want, "pattern {pattern}");
            assert!(!want.is_empty());
            assert_eq!(
                locked(&db),
                before,
                "pattern {pattern}: store read under the lock"
            );
        }
        // Nobody holds the watch any more: the next change ends it.
        assert!(db.cold.as_ref().expect("cold").log.watch.is_some());
        db.set(Bytes::from_static(b"last"), s("v"), 0);
        spill_key(&store, &mut db, b"last");
        assert!(db.cold.as_ref().expect("cold").log.watch.is_none());
    }

    #[test]
    fn randomkey_draws_read_ahead_return_only_keys_still_there() {
        let (store, mut db) = tiered_db();
        for i in 0..200 {
            db.set(Bytes::from(format!("k{i}")), s("v"), 0);
        }
        let keys: Vec<Bytes> = db.iter().map(|(k, _)| k.clone()).collect();
        for k in &keys {
            spill_key(&store, &mut db, k);
        }
        for round in 0..60 {
            // No key in memory: every draw is cold.
            let t = db.random_ticket(0).expect("ticket");
            db.stash_prefetched(t.read(&*store));
            let first = db
                .cold
                .as_ref()
                .and_then(|c| c.random_stash.front())
                .map(|r| r.candidates[0].1.clone())
                .expect("candidates");
            if round % 2 == 0 {
                // Deleted after the read ahead: another key is drawn.
                assert!(db.delete(&first, 0));
                let got = db.random_key(0).expect("a key");
                assert_ne!(got, first);
                assert!(db.contains(&got, 0), "{got:?}");
            } else {
                assert_eq!(db.random_key(0), Some(first));
            }
            db.clear_stash();
        }
    }

    #[test]
    fn a_record_with_a_damaged_header_can_be_deleted_with_its_index_entry() {
        let (store, mut db) = tiered_db();
        db.set(Bytes::from("k"), s("old"), 0);
        assert!(db.set_expire(b"k", 1000));
        spill_key(&store, &mut db, b"k");
        let (_, id) = db.cold_store().expect("store");
        let dk = cold::data_key(id, b"k");
        let Ok(Fetch::Found(mut rec)) = store.get(Cf::Data, &dk) else {
            panic!("no record");
        };
        rec[0] = 0xee;
        store
            .write(vec![Op::Put(Cf::Data, dk.clone(), rec)])
            .expect("write");
        // Reading the header fails: absent here, noted for the command.
        assert_eq!(db.key_type(b"k", 0), None);
        let (key, why) = db.take_corrupt().expect("noted");
        assert_eq!(&key[..], b"k");
        assert!(why.contains("cold record version 238"), "{why}");
        // DEL removes it, and the key counts follow (its deadline was in
        // the index only).
        assert_eq!(db.expires_len(), 1);
        assert!(db.delete(b"k", 0));
        assert!(db.take_corrupt().is_none());
        assert!(matches!(store.get(Cf::Data, &dk), Ok(Fetch::Missing)));
        assert_eq!(db.len(), 0);
        assert_eq!(db.expires_len(), 0);
        // A new value without a deadline, spilled: the old index entry
        // (deadline 1000) must not expire it.
        db.set(Bytes::from("k"), s("new"), 0);
        spill_key(&store, &mut db, b"k");
        let expired = db
            .cold_expiry_ticket(5000, 100)
            .map_or(0, |t| db.cold_expire_apply(t.read(&*store)));
        assert_eq!(expired, 0);
        assert!(db.contains(b"k", 5000));
        assert_eq!(db.len(), 1);
    }

    #[test]
    fn deadlines_and_renames_of_cold_keys_hold_when_the_store_refuses_writes() {
        let mem = std::sync::Arc::new(crate::cold::MemStore::new());
        let store: crate::cold::Store = mem.clone();
        let mut db = Db::new(9);
        db.attach_cold(store.clone(), 0, rdb::convert::Limits::default());
        for k in ["a", "b", "c"] {
            db.set(Bytes::from(k), s(k), 0);
            spill_key(&store, &mut db, k.as_bytes());
        }
        assert!(db.set_expire(b"b", 9000));
        assert_eq!((db.cold_len(), db.expires_len()), (3, 1));
        mem.fail_writes
            .store(true, std::sync::atomic::Ordering::Relaxed);
        // Each change still takes effect, in memory.
        assert!(db.set_expire(b"a", 5000));
        assert_eq!(db.expire_at(b"a"), Some(5000));
        assert!(db.persist(b"b"));
        assert_eq!(db.expire_at(b"b"), None);
        assert!(db.rename(b"c", Bytes::from("d")));
        assert!(!db.contains(b"c", 0));
        let d = db.get(b"d", 0, Touch::No).map(|e| match &e.value {
            Value::Str(v) => v.to_bytes(),
            _ => Bytes::new(),
        });
        assert_eq!(d, Some(Bytes::from("c")));
        // Missing keys are still missing.
        assert!(!db.set_expire(b"nope", 5000));
        assert!(!db.rename(b"nope", Bytes::from("x")));
        assert_eq!(db.len(), 3);
        // The key expires at its new deadline.
        assert!(!db.contains(b"a", 6000));
    }

    #[test]
    fn active_expiry_read_off_the_lock_spares_keys_changed_meanwhile() {
        let (store, mut db) = tiered_db();
        for k in ["a", "b", "c", "d", "e"] {
            db.set(Bytes::from(k), s("v"), 0);
            assert!(db.set_expire(k.as_bytes(), 1000));
            spill_key(&store, &mut db, k.as_bytes());
        }
        assert_eq!((db.cold_len(), db.expires_len()), (5, 5));
        // Read at 2000, when all five are due; before the deletes run:
        let read = db.cold_expiry_ticket(2000, 64).expect("due").read(&*store);
        // b loses its deadline, c gets a new value, d is deleted, e is read
        // into memory.
        assert!(db.persist(b"b"));
        db.set(Bytes::from("c"), s("new"), 0);
        assert!(db.delete(b"d", 0));
        assert!(db.get(b"e", 0, Touch::No).is_some());
        db.expired.clear();
        assert_eq!(db.cold_expire_apply(read), 1);
        assert_eq!(db.expired, vec![Bytes::from("a")]);
        assert!(!db.contains(b"a", 2000));
        assert!(db.contains(b"b", 2000));
        assert!(db.contains(b"c", 2000));
        // e in memory: memory's own expiry decides (it is due).
        assert!(!db.contains(b"e", 2000));
        // A read the change log can no longer vouch for (more changes
        // since than it holds): the records are read again, so expiry
        // still advances.
        db.set(Bytes::from("f"), s("v"), 0);
        assert!(db.set_expire(b"f", 1000));
        spill_key(&store, &mut db, b"f");
        let read = db.cold_expiry_ticket(2000, 64).expect("due").read(&*store);
        for _ in 0..3000 {
            db.set(Bytes::from("churn"), s("v"), 0);
            spill_key(&store, &mut db, b"churn");
        }
        db.expired.clear();
        assert_eq!(db.cold_expire_apply(read), 1);
        assert_eq!(db.expired, vec![Bytes::from("f")]);
    }

    #[test]
    fn a_value_read_off_the_lock_is_used_only_while_its_record_is_unchanged() {
        let (store, mut db) = tiered_db();
        let spill = |db: &mut Db, k: &[u8]| spill_key(&store, db, k);
        let get = |db: &mut Db, k: &[u8]| {
            db.get(k, 0, Touch::No).map(|e| match &e.value {
                Value::Str(s) => s.to_bytes(),
                _ => Bytes::new(),
            })
        };
        db.set(Bytes::from("a"), s("one"), 0);
        spill(&mut db, b"a");
        assert!(
            db.cold_ticket(b"missing", false).is_some(),
            "no probe: any absent key"
        );
        // Unchanged: the promotion takes the stashed value, not the store
        // (the record is removed behind the database's back to prove it).
        let t = db.cold_ticket(b"a", false).expect("cold");
        let p = t.read(store.as_ref());
        store
            .write(vec![Op::Delete(Cf::Data, cold::data_key(0, b"a"))])
            .expect("delete");
        db.stash_prefetched(p);
        assert_eq!(get(&mut db, b"a").as_deref(), Some(&b"one"[..]));
        assert!(db.cold_ticket(b"a", false).is_none(), "resident now");
        // Changed after the ticket (new value, spilled again): the stale
        // value is ignored and the store is read.
        db.set(Bytes::from("a"), s("two"), 0);
        spill(&mut db, b"a");
        let t = db.cold_ticket(b"a", false).expect("cold");
        let p = t.read(store.as_ref());
        assert!(db.promote(b"a", 0));
        db.set(Bytes::from("a"), s("three"), 0);
        spill(&mut db, b"a");
        db.stash_prefetched(p);
        assert_eq!(get(&mut db, b"a").as_deref(), Some(&b"three"[..]));
        // A range delete voids every earlier ticket.
        spill(&mut db, b"a");
        let t = db.cold_ticket(b"a", false).expect("cold");
        let p = t.read(store.as_ref());
        db.clear();
        db.stash_prefetched(p);
        assert_eq!(get(&mut db, b"a"), None);
        // Another database's ticket (SWAPDB) is not this one's.
        let mut other = Db::new(10);
        other.attach_cold(store.clone(), 1, rdb::convert::Limits::default());
        db.set(Bytes::from("b"), s("bee"), 0);
        spill(&mut db, b"b");
        let p = db
            .cold_ticket(b"b", false)
            .expect("cold")
            .read(store.as_ref());
        other.stash_prefetched(p);
        assert!(other.cold.as_ref().is_some_and(|c| c.stash.is_empty()));
    }

    #[test]
    fn cold_keys_read_rarely_are_not_admitted() {
        let (store, mut db) = tiered_db();
        let spill = |db: &mut Db, k: &[u8]| spill_key(&store, db, k);
        for k in ["hot", "rare", "popular"] {
            db.set(Bytes::from(k), s(k), 0);
        }
        spill(&mut db, b"rare");
        spill(&mut db, b"popular");
        // Memory not full yet (no victim noted): every key is admitted.
        assert!(db.prepare_key(b"rare", 0, || true).is_ok());
        assert!(db.get(b"rare", 0, Touch::Yes).is_some());
        db.drop_transients();
        assert!(db.is_resident(b"rare"));
        spill(&mut db, b"rare");
        // Eviction has been choosing keys read about 4 times.
        for _ in 0..4 {
            assert!(db.prepare_key(b"hot", 0, || true).is_ok());
        }
        for _ in 0..8 {
            db.note_victim(b"hot");
        }
        // Read once more: rarer than that, served and dropped again.
        assert!(db.prepare_key(b"rare", 0, || true).is_ok());
        assert!(db.is_resident(b"rare"), "resident while its batch runs");
        db.drop_transients();
        assert!(!db.is_resident(b"rare"));
        assert_eq!(db.cold_len(), 2, "its record stays");
        assert_eq!(db.len(), 3);
        // Read often: admitted.
        for _ in 0..7 {
            assert!(db.prepare_key(b"popular", 0, || true).is_ok());
            db.drop_transients();
        }
        assert!(db.is_resident(b"popular"));
        // A key changed while it was in memory is never dropped.
        assert!(db.prepare_key(b"rare", 0, || true).is_ok());
        db.set_keep_ttl(Bytes::from("rare"), s("changed"), 0);
        db.drop_transients();
        assert!(db.is_resident(b"rare"));
        let not_admitted = db.cold_stats().map_or(0, |c| c.not_admitted);
        assert!(not_admitted >= 2, "{not_admitted}");
        // Memory no longer full: admitted again.
        db.admit_all();
        spill(&mut db, b"rare");
        assert!(db.prepare_key(b"rare", 0, || true).is_ok());
        db.drop_transients();
        assert!(db.is_resident(b"rare"));
        // An unreadable record fails the command that reads it.
        spill(&mut db, b"rare");
        let dk = cold::data_key(0, b"rare");
        let Ok(Fetch::Found(mut rec)) = store.get(Cf::Data, &dk) else {
            panic!("no record");
        };
        let at = rec.len() - 2;
        rec[at] ^= 0x5a;
        store
            .write(vec![Op::Put(Cf::Data, dk, rec)])
            .expect("write");
        let err = db.prepare_key(b"rare", 0, || true).expect_err("corrupt");
        assert!(err.contains("rare"), "{err}");
        assert!(
            db.prepare_key(b"rare", 0, || false).is_ok(),
            "no read, no error"
        );
    }

    #[test]
    fn tiered_keyspace_matches_a_model_with_spills_in_flight() {
        use rand::Rng;
        use std::collections::{HashMap, VecDeque};
        let store: crate::cold::Store = std::sync::Arc::new(crate::cold::MemStore::new());
        let mut rng = SmallRng::seed_from_u64(4242);
        let mut db = Db::new(8);
        db.attach_cold(store.clone(), 0, rdb::convert::Limits::default());
        let mut model: HashMap<Bytes, (String, Option<i64>)> = HashMap::new();
        // Jobs prepared, and whether their record was written yet.
        let mut flight: VecDeque<(SpillJob, bool)> = VecDeque::new();
        // Cold reads made "off the lock": tickets not yet read, and values
        // read but not yet stashed. Any of them may be stale by the time
        // it is used; the model check catches a stale value served.
        let mut tickets: VecDeque<ColdTicket> = VecDeque::new();
        let mut reads: Vec<Prefetched> = Vec::new();
        let mut stash_uses = 0u64;
        let val = |db: &mut Db, k: &[u8]| -> Option<String> {
            db.get(k, 0, Touch::Yes).map(|e| match &e.value {
                Value::Str(s) => String::from_utf8_lossy(&s.to_bytes()).into_owned(),
                _ => "?".into(),
            })
        };
        for step in 0..60_000u32 {
            let k = Bytes::from(format!("k{}", rng.random_range(0..40u32)));
            let action = rng.random_range(0..20u32);
            match action {
                0..=2 => {
                    let v = format!("v{step}");
                    db.set(k.clone(), s(&v), 0);
                    model.insert(k, (v, None));
                }
                3 => {
                    let v = format!("w{step}");
                    db.set_keep_ttl(k.clone(), s(&v), 0);
                    let ttl = model.get(&k).and_then(|(_, t)| *t);
                    model.insert(k, (v, ttl));
                }
                4 => assert_eq!(db.delete(&k, 0), model.remove(&k).is_some(), "step {step}"),
                5 => assert_eq!(
                    db.remove(&k).is_some(),
                    model.remove(&k).is_some(),
                    "step {step}"
                ),
                6 => {
                    let to = Bytes::from(format!("k{}", rng.random_range(0..40u32)));
                    let ok = db.rename(&k, to.clone());
                    assert_eq!(ok, model.contains_key(&k), "step {step}");
                    if let Some(v) = model.remove(&k) {
                        model.insert(to, v);
                    }
                }
                7 => {
                    let at = 1_000_000 + i64::from(step);
                    assert_eq!(db.set_expire(&k, at), model.contains_key(&k), "step {step}");
                    if let Some(e) = model.get_mut(&k) {
                        e.1 = Some(at);
                    }
                }
                8 => {
                    let had = model.get(&k).is_some_and(|(_, t)| t.is_some());
                    assert_eq!(db.persist(&k), had, "step {step}");
                    if let Some(e) = model.get_mut(&k) {
                        e.1 = None;
                    }
                }
                9 => {
                    assert_eq!(db.contains(&k, 0), model.contains_key(&k), "step {step}");
                    assert_eq!(
                        db.expire_at(&k),
                        model.get(&k).and_then(|(_, t)| *t),
                        "step {step}"
                    );
                }
                10 => assert_eq!(
                    val(&mut db, &k),
                    model.get(&k).map(|(v, _)| v.clone()),
                    "step {step} {k:?}"
                ),
                11 | 12 => {
                    if let Some(job) = db.spill_prepare(&k, 0) {
                        flight.push_back((job, false));
                    }
                }
                13 => {
                    // Write the oldest unwritten record (off the lock).
                    if let Some(f) = flight.iter_mut().find(|f| !f.1) {
                        let rec =
                            crate::cold::encode_record(&f.0.payload, f.0.expire_at, f.0.lfu, 1)
                                .expect("encode");
                        store.write(f.0.ops(rec)).expect("write");
                        f.1 = true;
                    }
                }
                14 => {
                    if flight.front().is_some_and(|f| f.1) {
                        if let Some((job, _)) = flight.pop_front() {
                            db.spill_commit(&job, true, 0);
                        }
                    }
                }
                15 => {
                    // A cold key if there is one (any key otherwise).
                    let mut cold = Vec::new();
                    db.cold_keys_matching(&KeysFilter::new(Bytes::from_static(b"*")), 0, |c| {
                        cold.push(Bytes::copy_from_slice(c))
                    });
                    let pick = if cold.is_empty() {
                        k.clone()
                    } else {
                        cold[rng.random_range(0..cold.len())].clone()
                    };
                    if let Some(t) = db.cold_ticket(&pick, rng.random_bool(0.5)) {
                        tickets.push_back(t);
                    }
                }
                16 | 17 => {
                    if let Some(t) = tickets.pop_front() {
                        reads.push(t.read(store.as_ref()));
                    }
                }
                18 => {
                    let values = |db: &Db| {
                        db.cold.as_ref().map_or(0, |c| {
                            c.stash
                                .values()
                                .filter(|s| matches!(s.found, Found::Value(..)))
                                .count()
                        })
                    };
                    let before = values(&db);
                    for p in reads.drain(..) {
                        db.stash_prefetched(p);
                    }
                    stash_uses += values(&db) as u64 - before as u64;
                }
                _ => {
                    if rng.random_range(0..8u32) == 0 {
                        db.clear_stash();
                    }
                    // Admission: eviction's choices raise the bar, and
                    // keys read but not admitted leave memory again.
                    match rng.random_range(0..6u32) {
                        0 => db.note_victim(&k),
                        1 => db.drop_transients(),
                        2 if rng.random_range(0..10u32) == 0 => db.admit_all(),
                        _ => {}
                    }
                    if rng.random_range(0..50u32) == 0 {
                        db.flush();
                        model.clear();
                    }
                }
            }
            if step % 500 == 0 {
                assert_eq!(db.len(), model.len(), "step {step}");
                assert_eq!(
                    db.expires_len(),
                    model.values().filter(|(_, t)| t.is_some()).count(),
                    "step {step}"
                );
            }
        }
        // Drain: every record written or committed, then everything agrees.
        while let Some((job, written)) = flight.pop_front() {
            if !written {
                let rec = crate::cold::encode_record(&job.payload, job.expire_at, job.lfu, 1)
                    .expect("encode");
                store.write(job.ops(rec)).expect("write");
            }
            db.spill_commit(&job, true, 0);
        }
        let spills = db.cold_stats().map_or(0, |c| c.spills);
        assert!(spills > 100, "only {spills} spills");
        assert!(stash_uses > 100, "only {stash_uses} values stashed");
        assert_eq!(db.len(), model.len());
        // Half the keys go cold, so the reads below promote them.
        for k in model.keys().step_by(2) {
            if let Some(Ok(job)) = db.spill_prepare_or_drop(k, 0) {
                let rec = crate::cold::encode_record(&job.payload, job.expire_at, job.lfu, 1)
                    .expect("encode");
                store.write(job.ops(rec)).expect("write");
                assert!(db.spill_commit(&job, true, 0));
            }
        }
        assert!(db.cold_len() > 0);
        for (k, (v, t)) in &model {
            assert_eq!(db.expire_at(k), *t);
            assert_eq!(val(&mut db, k).as_deref(), Some(v.as_str()));
        }
        assert_eq!(db.cold_len(), 0);
        // Evict everything again: unchanged keys drop without a write,
        // then every value still reads back.
        let keys: Vec<Bytes> = model.keys().cloned().collect();
        let mut drops = 0;
        for k in &keys {
            match db.spill_prepare_or_drop(k, 0) {
                Some(Err(_)) => drops += 1,
                Some(Ok(job)) => {
                    let rec = crate::cold::encode_record(&job.payload, job.expire_at, job.lfu, 1)
                        .expect("encode");
                    store.write(job.ops(rec)).expect("write");
                    assert!(db.spill_commit(&job, true, 0));
                }
                None => panic!("{k:?} not in memory"),
            }
        }
        assert!(drops > 0);
        assert_eq!(db.hot_len(), 0);
        assert_eq!(db.len(), model.len());
        for (k, (v, t)) in &model {
            assert_eq!(db.expire_at(k), *t);
            assert_eq!(val(&mut db, k).as_deref(), Some(v.as_str()));
            assert!(db.delete(k, 0));
        }
        assert_eq!(db.len(), 0);
        assert_eq!(db.expires_len(), 0);
    }
}
