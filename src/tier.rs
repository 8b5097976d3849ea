//! The server side of tiering: memory accounting against `maxmemory`,
//! eviction (spill to the cold tier, or delete as Redis when `tiering no`),
//! the spiller thread, and the "warm the cold keys off the lock" step that
//! runs before a command touching cold keys.
//!
//! The engine side (`strata_storage::keyspace::Db`) keeps every cold-tier
//! invariant: exact counts, in-flight spills, the record format. This file
//! decides *when* and *what* to spill.
//!
//! Spilling runs on its own thread in bounded rounds: under the lock it
//! picks victims (LFU pool) and encodes them (the DUMP payload, a memcpy
//! for strings); off the lock it compresses them with zstd and writes one
//! RocksDB batch; under the lock again it commits each key that nobody
//! touched meanwhile. A command that finds memory far over the limit
//! (the spiller falling behind) spills one small round itself.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex as StdMutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use strata_storage::cold::{self, ColdStore, Store};
use strata_storage::evict::{Policy, Pool};
use strata_storage::keyspace::{ColdTicket, ExpiryRead, ExpiryTicket, Prefetched, SpillJob};

use crate::command::{CommandSpec, Flags};
use crate::error::Error;
use crate::server::{now_ms, Shared, State};

/// Directory of the cold store under `dir`.
pub const COLD_DIR: &str = "strata-cold";

/// Tiering state kept in [`State`].
#[derive(Default)]
pub struct Tier {
    pub store: Option<Store>,
    /// Used memory as last measured, and when.
    used: u64,
    measured: Option<Instant>,
    /// The cold store's memory as last asked, and when (RocksDB sums it
    /// over every table reader: too dear to ask every few milliseconds).
    store_mem: u64,
    store_measured: Option<Instant>,
    pool: Pool,
    /// Wakes the spiller thread.
    pub kick: Arc<Kick>,
    pub spiller_running: bool,
    /// Disk budget reached: spilling stops (see `tier-max-disk`).
    pub disk_full: bool,
    /// Bytes held only by cold-tier checkpoints in the AOF directory (see
    /// [`checkpoint_only_bytes`]), and when they were measured.
    pub checkpoint_bytes: u64,
    checkpoint_measured: Option<Instant>,
    /// Synchronous spill rounds run by commands (spiller behind).
    pub sync_rounds: u64,
    pub last_error: Option<String>,
    /// The last spill write failed (a full or failing disk; a mere write
    /// stall does not count), and when; cleared by the next spill that
    /// succeeds. Meanwhile spills are retried every `SPILL_RETRY`, and
    /// memory may not grow past the hard limit (see [`before_command`]).
    pub spill_failed: Option<Instant>,
    /// Spill writes that failed (INFO tiering `spill_errors`).
    pub spill_errors: u64,
    /// Bytes not to count as used memory (the dump file image while
    /// loading it).
    pub discount: u64,
    /// Cold records are read off the lock on the connection's own task
    /// (the store has been answering fast: page-cache hits) instead of
    /// on the blocking pool.
    pub inline_reads: bool,
    /// Consecutive off-lock read rounds whose slowest read was fast.
    fast_warms: u32,
    /// The last inline spill round met a write stall.
    pub stalled: bool,
    /// An active expiry read of cold records is running (one at a time).
    expiring: bool,
    /// The checkpoint (directory name in the AOF directory) the cold tier
    /// was restored from at startup.
    pub restored_from: Option<String>,
}

/// Time between spill attempts while spill writes fail.
const SPILL_RETRY: Duration = Duration::from_millis(250);

/// Fast off-lock read rounds needed before reads move onto the
/// connection's own task.
const FAST_ROUNDS: u32 = 32;
/// A read this slow went to the disk (a page-cache hit takes
/// microseconds; a preempted one on a busy machine may take a
/// millisecond or so).
const SLOW_READ: Duration = Duration::from_millis(2);

/// Records an off-lock read round (`slowest`: its slowest read): after
/// `FAST_ROUNDS` fast rounds in a row, reads run on the connection's task
/// (no hand-off to the blocking pool); one slow round (the disk is really
/// read) sends them back to the pool, so a slow disk never holds up a
/// runtime thread that other clients need.
fn read_round_done(state: &mut State, slowest: Duration) {
    if slowest < SLOW_READ {
        state.tier.fast_warms = state.tier.fast_warms.saturating_add(1);
        if state.tier.fast_warms >= FAST_ROUNDS {
            state.tier.inline_reads = true;
        }
    } else {
        state.tier.fast_warms = 0;
        state.tier.inline_reads = false;
    }
}

/// Condvar-based wake-up for the spiller thread.
#[derive(Default)]
pub struct Kick {
    pending: StdMutex<bool>,
    /// A wake-up is pending and not yet taken: further wakes are no-ops
    /// (commands call `wake` while memory is over the limit; each
    /// condvar notify is a system call).
    signalled: AtomicBool,
    cv: Condvar,
    pub stop: AtomicBool,
    /// Spill rounds run by the thread (INFO tiering).
    pub rounds: AtomicU64,
}

impl Kick {
    pub fn wake(&self) {
        if self.signalled.swap(true, Ordering::AcqRel) {
            return;
        }
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        *p = true;
        self.cv.notify_one();
    }

    fn wait(&self, timeout: Duration) {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if !*p {
            p = self
                .cv
                .wait_timeout(p, timeout)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
        *p = false;
        self.signalled.store(false, Ordering::Release);
    }
}

/// How long a measurement of used memory stays fresh. Refreshing
/// jemalloc's statistics merges every arena's counters (3.5% of the
/// server's CPU in W3 at one refresh per millisecond, 2.4% at one per
/// 4 ms); 10 ms of drift (about 300 KB at W3's write rate) is far inside
/// the 10% + 1 MB slack before commands spill inline.
const MEASURE_EVERY: Duration = Duration::from_millis(10);

/// How long the cold store's memory figure stays fresh: its memtables
/// and caches are bounded and move slowly next to the allocator's count
/// (the store itself rereads its costly table-readers figure less often).
const STORE_MEASURE_EVERY: Duration = Duration::from_millis(50);

/// Used memory: jemalloc's allocated bytes plus the cold store's
/// memtables, block cache and indexes, re-measured at most every
/// [`MEASURE_EVERY`].
fn used_memory(state: &mut State) -> u64 {
    let fresh = state
        .tier
        .measured
        .is_some_and(|t| t.elapsed() < MEASURE_EVERY);
    if !fresh {
        let store_fresh = state
            .tier
            .store_measured
            .is_some_and(|t| t.elapsed() < STORE_MEASURE_EVERY);
        if !store_fresh {
            state.tier.store_mem = state.tier.store.as_ref().map_or(0, |s| s.mem_bytes());
            state.tier.store_measured = Some(Instant::now());
        }
        state.tier.used = (crate::info::allocated_bytes() + state.tier.store_mem)
            .saturating_sub(state.tier.discount);
        state.tier.measured = Some(Instant::now());
    }
    state.tier.used
}

/// Makes the next [`used_memory`] measure afresh (memory is growing fast:
/// loading a dump).
pub fn remeasure(state: &mut State) {
    state.tier.measured = None;
}

fn policy(state: &State) -> Policy {
    Policy::from_name(state.config.get("maxmemory-policy"))
}

/// True when victims go to the cold tier rather than being deleted.
fn spilling_enabled(state: &State) -> bool {
    state.config.get_bool("tiering") && !state.tier.disk_full
}

/// Encoding thresholds for values rebuilt from the cold tier.
pub fn limits(state: &State) -> strata_storage::rdb::convert::Limits {
    crate::persist::limits(state)
}

/// Opens the cold store and attaches it to every database: fresh, or,
/// with `checkpoint` (the one the AOF base names), as a copy of that
/// checkpoint with the counts of its cut file. The live store never
/// outlives the process on its own: after a crash its contents are
/// unknown, so it is always rebuilt from a checkpoint or started empty.
/// (A `maxmemory` set at run time opens it here, under the lock, once.)
pub fn open(state: &mut State, checkpoint: Option<&std::path::Path>) -> Result<(), String> {
    if state.tier.store.is_some() {
        return Ok(());
    }
    let (path, cfg) = store_plan(state);
    let opened = open_store(&path, &cfg, checkpoint)?;
    install(state, &path, &cfg, checkpoint, opened)
}

/// [`open`] during the startup load: the store is opened (and the
/// checkpoint copied) with the state lock released, so the clients served
/// meanwhile do not wait for the disk.
pub fn open_loading(
    state: &mut crate::loading::Guard<'_>,
    checkpoint: Option<&std::path::Path>,
) -> Result<(), String> {
    if state.tier.store.is_some() {
        return Ok(());
    }
    let (path, cfg) = store_plan(state);
    let opened = parking_lot::MutexGuard::unlocked(state, || open_store(&path, &cfg, checkpoint))?;
    if state.tier.store.is_some() {
        return Ok(());
    }
    install(state, &path, &cfg, checkpoint, opened)
}

/// Where the cold store lives and how large its memory parts are.
fn store_plan(state: &State) -> (std::path::PathBuf, cold::rocks::RocksConfig) {
    let path = std::path::Path::new(state.config.get("dir")).join(COLD_DIR);
    let maxmemory = state.config.hot.maxmemory.max(0) as usize;
    let configured = state.config.get_int("tier-block-cache-size").max(0) as usize;
    // RocksDB's memory counts inside maxmemory: keep it a small share.
    let block_cache = if configured > 0 {
        configured
    } else if maxmemory > 0 {
        (maxmemory / 16).clamp(256 << 10, 1 << 30)
    } else {
        32 << 20
    };
    let write_buffer = if maxmemory > 0 {
        (maxmemory / 64).clamp(256 << 10, 16 << 20)
    } else {
        8 << 20
    };
    let cfg = cold::rocks::RocksConfig {
        block_cache_bytes: block_cache,
        write_buffer_bytes: write_buffer,
        ..Default::default()
    };
    (path, cfg)
}

/// A store opened, not yet attached; with the checkpoint's cut, if any.
struct Opened {
    store: cold::rocks::RocksStore,
    cut: Option<Vec<cold::cut::DbCut>>,
    started: Instant,
}

/// The disk part of [`open`] (no state needed).
fn open_store(
    path: &std::path::Path,
    cfg: &cold::rocks::RocksConfig,
    checkpoint: Option<&std::path::Path>,
) -> Result<Opened, String> {
    let started = Instant::now();
    let Some(ckpt) = checkpoint else {
        let store = cold::rocks::RocksStore::open(path, cfg, true).map_err(|e| e.to_string())?;
        return Ok(Opened {
            store,
            cut: None,
            started,
        });
    };
    let cut_path = ckpt.join(cold::cut::CUT_FILE);
    let cut = std::fs::read(&cut_path)
        .map_err(|e| e.to_string())
        .and_then(|b| cold::cut::decode(&b).map_err(|e| e.0))
        .map_err(|e| format!("Bad cold tier cut file {}: {e}", cut_path.display()))?;
    let store = cold::rocks::RocksStore::open_from_checkpoint(ckpt, path, cfg)
        .map_err(|e| format!("can't restore the cold tier from {}: {e}", ckpt.display()))?;
    Ok(Opened {
        store,
        cut: Some(cut),
        started,
    })
}

/// Attaches an opened store to every database (restoring each one's
/// counts from the cut).
fn install(
    state: &mut State,
    path: &std::path::Path,
    cfg: &cold::rocks::RocksConfig,
    checkpoint: Option<&std::path::Path>,
    opened: Opened,
) -> Result<(), String> {
    let Opened {
        store,
        cut,
        started,
    } = opened;
    let (Some(ckpt), Some(cut)) = (checkpoint, cut) else {
        crate::log::notice(&format!(
            "Cold tier opened at {} (block cache {} bytes)",
            path.display(),
            cfg.block_cache_bytes
        ));
        attach(state, Arc::new(store));
        return Ok(());
    };
    let cut_path = ckpt.join(cold::cut::CUT_FILE);
    for e in store.dicts().load_errors() {
        crate::log::warning(&e);
    }
    let dictionaries = store.dicts().stats().dictionaries;
    let store: Store = Arc::new(store);
    let limits = limits(state);
    let databases = state.keyspace.dbs.len();
    if let Some(d) = cut
        .iter()
        .find(|d| d.index as usize >= databases && d.keys > 0)
    {
        return Err(format!(
            "{}: database {} holds cold keys but only {databases} databases are configured",
            cut_path.display(),
            d.index
        ));
    }
    let mut used: std::collections::HashSet<u16> = cut.iter().map(|d| d.id).collect();
    let (mut keys, mut next_id) = (0u64, 0u16);
    for (i, db) in state.keyspace.dbs.iter_mut().enumerate() {
        match cut.iter().find(|d| d.index as usize == i) {
            Some(d) => {
                db.attach_cold_restored(store.clone(), d.id, limits, d)
                    .map_err(|e| format!("can't restore the cold tier: {e}"))?;
                keys += d.keys;
            }
            None => {
                while used.contains(&next_id) {
                    next_id += 1;
                }
                used.insert(next_id);
                db.attach_cold(store.clone(), next_id, limits);
            }
        }
    }
    state.tier.store = Some(store);
    state.tier.restored_from = ckpt.file_name().map(|n| n.to_string_lossy().into_owned());
    crate::log::notice(&format!(
        "Cold tier restored at {} from checkpoint {}: {keys} records, {} dictionaries in {} ms",
        path.display(),
        ckpt.display(),
        dictionaries,
        started.elapsed().as_millis()
    ));
    Ok(())
}

/// Attaches `store` to every database (tests pass a fault-injecting one).
pub fn attach(state: &mut State, store: Store) {
    let limits = limits(state);
    for (i, db) in state.keyspace.dbs.iter_mut().enumerate() {
        db.attach_cold(store.clone(), i as u16, limits);
    }
    state.tier.store = Some(store);
}

/// Starts the spiller thread (once).
pub fn start_spiller(shared: &Arc<Shared>) {
    let kick = {
        let mut st = shared.state.lock();
        if st.tier.spiller_running {
            return;
        }
        st.tier.spiller_running = true;
        st.tier.kick.clone()
    };
    let weak = Arc::downgrade(shared);
    let spawned = std::thread::Builder::new()
        .name("spiller".into())
        .spawn(move || loop {
            kick.wait(Duration::from_millis(100));
            if kick.stop.load(Ordering::Relaxed) {
                return;
            }
            let Some(shared) = weak.upgrade() else {
                return;
            };
            // Rounds until under the limit (each round releases the lock).
            for _ in 0..10_000 {
                if !spill_round(&shared, 512, 4 << 20) {
                    break;
                }
                kick.rounds.fetch_add(1, Ordering::Relaxed);
            }
        });
    if let Err(e) = spawned {
        crate::log::warning(&format!("can't start the spiller thread: {e}"));
        shared.state.lock().tier.spiller_running = false;
    }
}

/// How many bytes over the limit we are (0 when under or no limit).
fn excess(state: &mut State) -> u64 {
    let max = state.config.hot.maxmemory;
    if max <= 0 {
        return 0;
    }
    used_memory(state).saturating_sub(max as u64)
}

/// Picks and prepares victims worth about `want` bytes (at most
/// `max_keys`, `max_bytes` of payload), marking them in flight.
fn prepare(
    state: &mut State,
    want: u64,
    max_keys: usize,
    max_bytes: usize,
) -> Vec<(usize, SpillJob)> {
    let now = now_ms();
    let pol = policy(state);
    let pol = if pol == Policy::NoEviction {
        // With tiering, noeviction still never loses data: spill by LFU.
        Policy::AllkeysLfu
    } else {
        pol
    };
    let samples = state.config.get_int("maxmemory-samples").max(1) as usize;
    let started = Instant::now();
    let mut jobs = Vec::new();
    let (mut freed, mut bytes) = (0u64, 0usize);
    let mut pool = std::mem::take(&mut state.tier.pool);
    while freed < want && jobs.len() < max_keys && bytes < max_bytes {
        let Some((db, key)) = pool.pick(&mut state.keyspace.dbs, pol, samples, now) else {
            break;
        };
        state.keyspace.dbs[db].note_victim(&key);
        match state.keyspace.dbs[db].spill_prepare_or_drop(&key, now) {
            Some(Ok(job)) => {
                freed += job.mem as u64;
                bytes += job.payload.len();
                jobs.push((db, job));
            }
            // Unchanged since promotion: dropped from memory, no write.
            Some(Err(mem)) => freed += mem as u64,
            None => {}
        }
        if started.elapsed() > Duration::from_micros(500) {
            break;
        }
    }
    state.tier.pool = pool;
    jobs
}

/// Compresses and writes a round's records (off the lock). With `dict`
/// (`tier-compression-dict`), records use their class's dictionary and
/// feed its training, which runs on a thread of its own.
fn write_jobs(
    store: &Store,
    jobs: &[(usize, SpillJob)],
    (level, dict): (i32, bool),
    fp: &crate::failpoint::Failpoints,
) -> (Result<(), cold::ColdError>, Vec<usize>) {
    if let Err(e) = fp.check("tier.spill") {
        return (
            Err(cold::ColdError(format!("spill write: {e}"))),
            Vec::new(),
        );
    }
    let mut ops = Vec::with_capacity(jobs.len() * 2);
    let mut sizes = Vec::with_capacity(jobs.len());
    let dicts = dict.then(|| store.dicts().as_ref());
    for (_, job) in jobs {
        match cold::encode_record_with(&job.payload, job.expire_at, job.lfu, level, dicts) {
            Ok(rec) => {
                sizes.push(rec.len());
                ops.extend(job.ops(rec));
            }
            Err(e) => return (Err(e), sizes),
        }
    }
    if dict {
        cold::zdict::train_in_background(store, level);
    }
    (store.write_or_fail(ops), sizes)
}

/// Compression settings: level and whether dictionaries are used.
fn compression(state: &State) -> (i32, bool) {
    (
        state.config.get_int("tier-compression-level") as i32,
        state.config.get_bool("tier-compression-dict"),
    )
}

/// Records the outcome of a spill write (logged when it changes). A
/// stalled store (flushes or compactions behind) is not a failure: the
/// keys stay in memory and the next round tries again.
fn spill_outcome(state: &mut State, result: Result<(), cold::ColdError>) {
    match result {
        Ok(()) => {
            if state.tier.spill_failed.take().is_some() {
                crate::log::notice("Cold tier writes succeed again: spilling resumed");
            }
        }
        Err(e) if e.is_stall() => {}
        Err(e) => {
            if state.tier.spill_failed.is_none() {
                crate::log::warning(&format!(
                    "Cold tier write failed: {e}. Keys stay in memory; retrying, and refusing to grow past maxmemory meanwhile"
                ));
            }
            state.tier.spill_failed = Some(Instant::now());
            state.tier.spill_errors += 1;
            state.tier.last_error = Some(e.0);
        }
    }
}

/// False while spill writes fail and the last attempt is recent.
fn spill_retry_due(state: &State) -> bool {
    state
        .tier
        .spill_failed
        .is_none_or(|at| at.elapsed() >= SPILL_RETRY)
}

/// Commits a round under the lock.
fn commit(state: &mut State, jobs: &[(usize, SpillJob)], written: bool, sizes: &[usize]) {
    for (i, (_, job)) in jobs.iter().enumerate() {
        // SWAPDB may have moved the database: find it by its cold id.
        let Some(db) = state
            .keyspace
            .dbs
            .iter_mut()
            .find(|d| d.cold_store().is_some_and(|(_, id)| id == job.cold_id()))
        else {
            continue;
        };
        db.spill_commit(job, written, sizes.get(i).copied().unwrap_or(0));
    }
    state.tier.measured = None;
}

/// One spill round from the spiller thread. Returns true if it spilled
/// something and more may be needed.
fn spill_round(shared: &Arc<Shared>, max_keys: usize, max_bytes: usize) -> bool {
    let (store, jobs, level) = {
        let mut st = shared.state.lock();
        let Some(store) = st.tier.store.clone() else {
            return false;
        };
        if !spilling_enabled(&st) || !spill_retry_due(&st) {
            return false;
        }
        let over = excess(&mut st);
        if over == 0 {
            return false;
        }
        check_disk(&mut st);
        if st.tier.disk_full {
            return false;
        }
        // A little below the limit, so commands do not hit it at once.
        let slack = (st.config.hot.maxmemory.max(0) as u64 / 50).min(1 << 20);
        let jobs = prepare(&mut st, over + slack, max_keys, max_bytes);
        (store, jobs, compression(&st))
    };
    if jobs.is_empty() {
        return false;
    }
    let (result, sizes) = write_jobs(&store, &jobs, level, &shared.aof.failpoints);
    let ok = result.is_ok();
    let mut st = shared.state.lock();
    spill_outcome(&mut st, result);
    commit(&mut st, &jobs, ok, &sizes);
    log_cold_errors(&mut st);
    ok
}

/// How long the checkpoints' disk figure stays fresh (it walks their
/// directories).
const CHECKPOINT_MEASURE_EVERY: Duration = Duration::from_secs(1);

/// Bytes of the files in the cold-tier checkpoints of `aof_dir` (`*.cold`
/// directories) that the live store at `live` no longer shares: a
/// checkpoint hard-links the live store's table files, and keeps them
/// once compaction has replaced them in the live store. Each file is
/// counted once, however many checkpoints link it.
pub fn checkpoint_only_bytes(live: &std::path::Path, aof_dir: &std::path::Path) -> u64 {
    use std::collections::HashSet;
    use std::os::unix::fs::MetadataExt;
    let files = |dir: &std::path::Path| {
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.metadata().ok())
            .filter(|m| m.is_file())
    };
    let live_files: HashSet<(u64, u64)> = files(live).map(|m| (m.dev(), m.ino())).collect();
    let mut seen = HashSet::new();
    let mut total = 0;
    let checkpoints = std::fs::read_dir(aof_dir).into_iter().flatten().flatten();
    for cp in checkpoints.filter(|e| {
        e.file_name()
            .to_string_lossy()
            .ends_with(crate::aof::rewrite::COLD_SUFFIX)
    }) {
        for m in files(&cp.path()) {
            let id = (m.dev(), m.ino());
            if !live_files.contains(&id) && seen.insert(id) {
                total += m.len();
            }
        }
    }
    total
}

/// Stops spilling when the cold tier (the live store and what only its
/// checkpoints hold) reaches `tier-max-disk`.
fn check_disk(state: &mut State) {
    let max = state.config.get_int("tier-max-disk");
    if state.tier.store.is_none() {
        return;
    }
    let stale = state
        .tier
        .checkpoint_measured
        .is_none_or(|t| t.elapsed() >= CHECKPOINT_MEASURE_EVERY);
    if stale {
        let live = std::path::Path::new(state.config.get("dir")).join(COLD_DIR);
        state.tier.checkpoint_bytes = checkpoint_only_bytes(&live, &state.aof.dir);
        state.tier.checkpoint_measured = Some(Instant::now());
    }
    let Some(store) = state.tier.store.as_ref() else {
        return;
    };
    let used = store.disk_bytes() + store.mem_bytes() / 2 + state.tier.checkpoint_bytes;
    let full = max > 0 && used >= max as u64;
    if full && !state.tier.disk_full {
        crate::log::warning(
            "Cold tier reached tier-max-disk: evicting by maxmemory-policy instead of spilling",
        );
    }
    state.tier.disk_full = full;
}

/// Logs cold-tier problems the engine recorded.
pub fn log_cold_errors(state: &mut State) {
    for db in state.keyspace.dbs.iter_mut() {
        for e in db.take_cold_errors() {
            crate::log::warning(&e);
        }
    }
}

/// A whole spill round under the lock (commands, when the spiller is
/// behind; loading a dump). Returns how many keys it spilled: 0 when
/// nothing could be (callers looping until memory is under the limit
/// must stop). A round refused by a write stall (flushes behind, passes
/// in milliseconds) also sets `Tier::stalled`, for callers that may wait
/// and retry.
pub fn spill_now(state: &mut State, max_keys: usize) -> usize {
    let Some(store) = state.tier.store.clone() else {
        return 0;
    };
    if !spill_retry_due(state) {
        return 0;
    }
    let over = excess(state);
    if over == 0 {
        return 0;
    }
    let jobs = prepare(state, over, max_keys, 1 << 20);
    if jobs.is_empty() {
        return 0;
    }
    let (result, sizes) = write_jobs(&store, &jobs, compression(state), &state.aof.io.failpoints);
    let ok = result.is_ok();
    // A stall (flushes behind) passes in milliseconds: worth retrying.
    let stalled = matches!(&result, Err(e) if e.is_stall());
    spill_outcome(state, result);
    commit(state, &jobs, ok, &sizes);
    state.tier.sync_rounds += 1;
    state.tier.stalled |= stalled;
    if ok {
        jobs.len()
    } else {
        0
    }
}

/// Redis's `performEvictions` before a command, with tiering: wake the
/// spiller; spill inline only when far over the limit (the hard limit,
/// 10% + 1 MB over). Without tiering, with the disk budget reached, or
/// past the hard limit while spill writes fail (a full or failing disk):
/// delete victims per policy, and refuse commands that would grow memory
/// when nothing can be evicted.
pub fn before_command(state: &mut State, cmd: &'static CommandSpec) -> Result<(), Error> {
    if state.config.hot.maxmemory <= 0 {
        return Ok(());
    }
    let mut over = excess(state);
    if over > 0 && state.tier.spill_failed.is_some() {
        // Spills are failing, so memory must stop at the hard limit: a
        // figure up to MEASURE_EVERY old lets a fast client write past
        // it, so measure afresh (only in this degraded state).
        remeasure(state);
        state.tier.store_measured = None;
        over = excess(state);
    }
    if over == 0 {
        return Ok(());
    }
    let max = state.config.hot.maxmemory as u64;
    if state.config.get_bool("tiering") {
        if state.tier.store.is_none() {
            if let Err(e) = open(state, None) {
                crate::log::warning(&format!("Can't open the cold tier: {e}"));
                state.tier.last_error = Some(e);
                state.tier.disk_full = true;
            }
        }
        if spilling_enabled(state) {
            state.tier.kick.wake();
            let hard = over > max / 10 + (1 << 20);
            if hard {
                spill_now(state, 64);
            }
            // Values that cannot be spilled stay in memory, but memory
            // must not grow without bound while the disk refuses them.
            if !(hard && state.tier.spill_failed.is_some()) {
                return Ok(());
            }
        }
    }
    // As Redis's performEvictions: only a policy that forbids eviction,
    // or no candidates left, refuse the command; running out of time
    // (EVICT_RUNNING) lets it run, and the next command evicts more.
    let exhausted = evict_by_deletion(state);
    if exhausted && excess(state) > 0 && cmd.flags.has(Flags::DENYOOM) {
        return Err(Error::custom(
            "OOM command not allowed when used memory > 'maxmemory'.",
        ));
    }
    Ok(())
}

/// Deletes victims until under the limit or out of candidates (1 ms at
/// most per call, as Redis's eviction time limit). Returns false if it
/// stopped for lack of time, true otherwise (under the limit, no
/// candidate left, or `noeviction`).
fn evict_by_deletion(state: &mut State) -> bool {
    let pol = policy(state);
    if pol == Policy::NoEviction {
        return true;
    }
    let samples = state.config.get_int("maxmemory-samples").max(1) as usize;
    let started = Instant::now();
    let now = now_ms();
    let mut pool = std::mem::take(&mut state.tier.pool);
    let mut exhausted = true;
    while excess(state) > 0 {
        if started.elapsed() >= Duration::from_millis(1) {
            exhausted = false;
            break;
        }
        let Some((db, key)) = pool.pick(&mut state.keyspace.dbs, pol, samples, now) else {
            break;
        };
        if state.keyspace.dbs[db].delete(&key, now) {
            state.stats.evicted_keys += 1;
            crate::propagate::evicted(state, db, &key);
            state.key_modified(db, &key);
            state.notify_keyspace_event('e', "evicted", &key, db);
        }
        state.tier.measured = None;
    }
    state.tier.pool = pool;
    exhausted
}

/// Cold records the command at hand may promote (EXEC: those of every
/// queued command; scripts: their declared KEYS; SORT: also the keys its
/// BY and GET patterns name) or walk (SCAN, KEYS, RANDOMKEY), as tickets
/// to read and decode off the lock, so neither the disk nor
/// decompression holds up other clients. Keys in memory need none.
pub fn command_tickets(
    state: &mut State,
    client: &crate::client::Client,
    args: &[Bytes],
    out: &mut Vec<(usize, ColdTicket)>,
) {
    if state.tier.store.is_none() || args.is_empty() {
        return;
    }
    let db = client.db;
    if state.keyspace.dbs[db].cold_len() == 0 {
        return;
    }
    let mut add = |state: &mut State, args: &[Bytes]| {
        let d = &mut state.keyspace.dbs[db];
        // SCAN, KEYS and RANDOMKEY (commands without keys): the records
        // the call will walk.
        if let Some(ticket) = range_ticket(d, args) {
            out.extend(ticket.map(|t| (db, t)));
            return;
        }
        let Some(cmd) = crate::command::lookup(args) else {
            return;
        };
        // Commands that never read the value still read the record's
        // header (or learn there is none): off the lock too.
        let header_only = !reads_value(cmd, args);
        let _ = cmd.keys.try_each(args, |i| {
            if let Some(t) = args.get(i).and_then(|k| d.cold_ticket(k, header_only)) {
                out.push((db, t));
            }
            Ok::<(), ()>(())
        });
        // SORT's BY and GET patterns name keys by the source's elements.
        if matches!(cmd.name, "sort" | "sort_ro") {
            for k in crate::cmd::sort::pattern_keys(d, args, SORT_AHEAD_MAX) {
                if let Some(t) = d.cold_ticket(&k, false) {
                    out.push((db, t));
                }
            }
        }
    };
    match &client.multi {
        // A transaction's commands run together at EXEC: read ahead for
        // all of them.
        Some(m) if args[0].eq_ignore_ascii_case(b"exec") => {
            for (_, a) in &m.queued {
                add(state, a);
            }
        }
        Some(_) => {}
        None => add(state, args),
    }
}

/// The second round of a batch's cold reads: for each SORT (or SORT_RO,
/// or one queued in the transaction `args` execs) whose source was cold
/// and is among the values `read` in the first round, tickets for the
/// cold keys its BY and GET patterns name that `read` does not hold.
pub fn sort_tickets(
    state: &State,
    client: &crate::client::Client,
    args: &[Bytes],
    read: &ColdValues,
    out: &mut Vec<(usize, ColdTicket)>,
) {
    if state.tier.store.is_none() || args.is_empty() {
        return;
    }
    let db = client.db;
    let d = &state.keyspace.dbs[db];
    let mut add = |args: &[Bytes]| {
        let is_sort = args
            .first()
            .is_some_and(|n| n.eq_ignore_ascii_case(b"sort") || n.eq_ignore_ascii_case(b"sort_ro"));
        let Some(source) = args.get(1).filter(|_| is_sort) else {
            return;
        };
        if d.peek(source).is_some() {
            // In memory: the first round read its pattern keys.
            return;
        }
        let Some(value) = read.value(db, source) else {
            return;
        };
        // Up to 16384 pattern keys: look the first round's values up by
        // hash, not by a walk of them per key.
        let done = read.keys_of(db);
        for k in crate::cmd::sort::pattern_keys_of(value, args, SORT_AHEAD_MAX) {
            if !done.contains(&k[..]) {
                if let Some(t) = d.cold_ticket(&k, false) {
                    out.push((db, t));
                }
            }
        }
    };
    match &client.multi {
        Some(m) if args[0].eq_ignore_ascii_case(b"exec") => {
            for (_, a) in &m.queued {
                add(a);
            }
        }
        Some(_) => {}
        None => add(args),
    }
}

/// Keys named by one SORT's patterns read ahead at most. BY's are all
/// needed (the sort weighs every element); GET's beyond 1024 are read as
/// the command runs, as a call with LIMIT may use a few.
const SORT_AHEAD_MAX: crate::cmd::sort::PatternReads = crate::cmd::sort::PatternReads {
    by: 16384,
    get: 1024,
};

/// Point reads of one round run on the connection's own task (when reads
/// have been fast) up to this many; more go to the blocking pool.
const INLINE_READS_MAX: usize = 16;

/// For SCAN, KEYS and RANDOMKEY, the ticket for the cold records the call
/// will walk (`Some(None)` if it needs none); `None` for other commands.
fn range_ticket(
    d: &mut strata_storage::keyspace::Db,
    args: &[Bytes],
) -> Option<Option<ColdTicket>> {
    let name = args.first()?;
    if name.eq_ignore_ascii_case(b"scan") {
        Some(
            crate::cmd::keys::parse_scan_args(args)
                .ok()
                .and_then(|a| d.scan_ticket(a.cursor, a.count)),
        )
    } else if name.eq_ignore_ascii_case(b"keys") && args.len() == 2 {
        Some(d.keys_ticket(args[1].clone()))
    } else if name.eq_ignore_ascii_case(b"randomkey") && args.len() == 1 {
        Some(d.random_ticket(crate::server::now_ms()))
    } else {
        None
    }
}

/// Before a command runs (see `Db::prepare_key`): counts its keys'
/// accesses for admission and brings the cold keys whose value it reads
/// into memory (values read off the lock are used). An unreadable cold
/// record fails the command instead of reading as an absent key.
pub fn prepare_keys(
    state: &mut State,
    db: usize,
    cmd: &CommandSpec,
    args: &[Bytes],
    now_ms: i64,
) -> Result<(), Error> {
    if state.tier.store.is_none() {
        return Ok(());
    }
    let Some(d) = state.keyspace.dbs.get_mut(db) else {
        return Ok(());
    };
    let mut read = None;
    cmd.keys.try_each(args, |i| match args.get(i) {
        Some(k) => d
            .prepare_key(k, now_ms, || {
                *read.get_or_insert_with(|| reads_value(cmd, args))
            })
            .map_err(Error::err),
        None => Ok(()),
    })
}

/// After a read-only command: an error if it met a cold record of one of
/// its keys whose header cannot be read (it answered as if the key were
/// absent). Commands that write keep their reply: they may have changed
/// other keys, and overwriting or deleting removes such a record anyway.
pub fn damaged_key(
    state: &mut State,
    db: usize,
    cmd: &CommandSpec,
    args: &[Bytes],
) -> Option<Error> {
    let d = state.keyspace.dbs.get_mut(db)?;
    let (key, why) = d.take_corrupt()?;
    if !cmd.flags.has(crate::command::Flags::READONLY) {
        return None;
    }
    let mut named = false;
    let _ = cmd.keys.try_each(args, |i| {
        named |= args.get(i).is_some_and(|k| *k == key);
        Ok::<(), ()>(())
    });
    named.then(|| Error::err(why))
}

/// False for commands that never read a cold key's value: they answer
/// from the record's header, move the record, or replace the value
/// (SET without GET). Their records are read ahead raw (header only),
/// and the value is neither decompressed nor brought into memory.
fn reads_value(cmd: &CommandSpec, args: &[Bytes]) -> bool {
    match cmd.name {
        "exists" | "type" | "ttl" | "pttl" | "expiretime" | "pexpiretime" | "expire"
        | "pexpire" | "expireat" | "pexpireat" | "persist" | "del" | "unlink" | "touch"
        | "object" | "rename" | "renamenx" | "setex" | "psetex" | "mset" | "setnx" | "msetnx" => {
            false
        }
        "set" => args.iter().skip(3).any(|a| a.eq_ignore_ascii_case(b"get")),
        _ => true,
    }
}

/// Off-lock cold reads for one batch.
pub struct ColdReads {
    tickets: Vec<(usize, ColdTicket)>,
    store: Store,
    /// Run them on the caller's task (reads have been fast).
    pub in_task: bool,
    /// Off the task, split them over several threads (reads have been
    /// slow).
    parallel: bool,
}

/// Takes the tickets to read off the lock (`None` if there are none).
pub fn cold_reads(state: &State, tickets: &mut Vec<(usize, ColdTicket)>) -> Option<ColdReads> {
    if tickets.is_empty() {
        return None;
    }
    let store = state.tier.store.clone()?;
    // Long range reads go to the blocking pool whatever the point reads do.
    let in_task = state.tier.inline_reads
        && tickets.len() <= INLINE_READS_MAX
        && !tickets.iter().any(|(_, t)| t.is_bulk());
    Some(ColdReads {
        tickets: std::mem::take(tickets),
        store,
        in_task,
        // No fast round since the last slow one: the store is reading a
        // disk, whose queue serves several reads at once.
        parallel: state.tier.fast_warms == 0,
    })
}

/// Reads of one round that go to the disk run on up to this many
/// blocking-pool threads at once.
const PARALLEL_READS: usize = 8;

/// Values read off the lock, to hand to the databases.
pub struct ColdValues {
    values: Vec<(usize, Prefetched)>,
    slowest: Duration,
}

impl ColdReads {
    /// Reads and decodes every ticket (no lock held).
    pub fn run(self) -> ColdValues {
        read_all(&*self.store, self.tickets)
    }

    /// Reads and decodes every ticket on the blocking pool: in turn, or,
    /// while the store is slow, spread over up to [`PARALLEL_READS`]
    /// threads (a pipeline of cold keys on a disk then waits for about
    /// one read per thread instead of one per key). `None` if a read
    /// panicked.
    pub async fn run_blocking(self) -> Option<ColdValues> {
        let ColdReads {
            tickets,
            store,
            parallel,
            ..
        } = self;
        if !parallel || tickets.len() < 2 {
            return tokio::task::spawn_blocking(move || read_all(&*store, tickets))
                .await
                .ok();
        }
        // Consecutive tickets to each thread: the values come back in
        // the tickets' order.
        let per = tickets.len().div_ceil(PARALLEL_READS);
        let mut tickets = tickets.into_iter();
        let mut reads = Vec::new();
        loop {
            let group: Vec<(usize, ColdTicket)> = tickets.by_ref().take(per).collect();
            if group.is_empty() {
                break;
            }
            let store = store.clone();
            reads.push(tokio::task::spawn_blocking(move || {
                read_all(&*store, group)
            }));
        }
        let mut values = Vec::new();
        let mut slowest = Duration::ZERO;
        for r in reads {
            let part = r.await.ok()?;
            slowest = slowest.max(part.slowest);
            values.extend(part.values);
        }
        Some(ColdValues { values, slowest })
    }
}

impl ColdValues {
    /// The decoded value read for `key` of database `db`, if any.
    fn value(&self, db: usize, key: &[u8]) -> Option<&strata_storage::value::Value> {
        self.values
            .iter()
            .find(|(d, p)| *d == db && p.key() == key)
            .and_then(|(_, p)| p.value())
    }

    /// The keys of database `db` whose value was read.
    fn keys_of(&self, db: usize) -> std::collections::HashSet<&[u8]> {
        self.values
            .iter()
            .filter(|(d, p)| *d == db && p.value().is_some())
            .map(|(_, p)| p.key())
            .collect()
    }

    /// Adds the values of a later round (the batch runs on both).
    pub fn extend(&mut self, later: ColdValues) {
        self.values.extend(later.values);
        self.slowest = self.slowest.max(later.slowest);
    }
}

/// Reads and decodes `tickets` in turn; the slowest point read's time.
fn read_all(store: &dyn ColdStore, tickets: Vec<(usize, ColdTicket)>) -> ColdValues {
    let mut slowest = Duration::ZERO;
    let values = tickets
        .into_iter()
        .map(|(db, t)| {
            let bulk = t.is_bulk();
            let p = t.read(store);
            if !bulk {
                slowest = slowest.max(p.read_time());
            }
            (db, p)
        })
        .collect();
    ColdValues { values, slowest }
}

/// Hands values read off the lock to their databases, for the batch
/// about to run; [`clear_stash`] drops those it did not use.
pub fn stash(state: &mut State, v: ColdValues) {
    read_round_done(state, v.slowest);
    for (db, p) in v.values {
        if let Some(d) = state.keyspace.dbs.get_mut(db) {
            d.stash_prefetched(p);
        }
    }
}

/// Drops stashed values no command promoted.
pub fn clear_stash(state: &mut State) {
    for d in &mut state.keyspace.dbs {
        d.clear_stash();
    }
}

/// After a batch: drops the cold keys its commands read but that were not
/// admitted to memory (see `strata_storage::admit`), if unchanged.
pub fn drop_transients(state: &mut State) {
    if state.tier.store.is_none() {
        return;
    }
    for d in &mut state.keyspace.dbs {
        d.drop_transients();
    }
}

/// Due cold records looked up per database and cron tick.
const EXPIRE_PER_TICK: usize = 64;

/// Active expiry of cold records, read off the lock: the databases'
/// tickets ([`Db::cold_expiry_ticket`]), taken under the lock.
///
/// [`Db::cold_expiry_ticket`]: strata_storage::keyspace::Db::cold_expiry_ticket
pub struct ColdExpiry {
    store: Store,
    tickets: Vec<(usize, ExpiryTicket)>,
}

/// Tickets for the cron's active expiry of cold records (`None`: nothing
/// is due to be looked up, the last read is still running, or active
/// expiry is off: DEBUG SET-ACTIVE-EXPIRE 0).
pub fn expiry_tickets(state: &mut State, now: i64) -> Option<ColdExpiry> {
    if state.tier.expiring || !state.active_expire_enabled {
        return None;
    }
    let store = state.tier.store.clone()?;
    let tickets: Vec<_> = state
        .keyspace
        .dbs
        .iter()
        .enumerate()
        .filter_map(|(i, d)| d.cold_expiry_ticket(now, EXPIRE_PER_TICK).map(|t| (i, t)))
        .collect();
    state.tier.expiring = !tickets.is_empty();
    (!tickets.is_empty()).then_some(ColdExpiry { store, tickets })
}

impl ColdExpiry {
    /// Reads the due index entries and their records (no lock held).
    pub fn read(self) -> Vec<(usize, ExpiryRead)> {
        let store = self.store;
        self.tickets
            .into_iter()
            .map(|(db, t)| (db, t.read(&*store)))
            .collect()
    }
}

/// Deletes the due cold records found off the lock (`expired` events and
/// propagation follow as for any expiry); `None` if the read failed.
pub fn expiry_apply(state: &mut State, reads: Option<Vec<(usize, ExpiryRead)>>) {
    state.tier.expiring = false;
    for (db, read) in reads.into_iter().flatten() {
        if let Some(d) = state.keyspace.dbs.get_mut(db) {
            d.cold_expire_apply(read);
        }
    }
    state.after_command();
}

/// Cron work: failed deletes retried, disk budget, wake-ups (active
/// expiry of cold records: [`expiry_tickets`]).
pub fn cron(state: &mut State) {
    if state.tier.store.is_none() {
        return;
    }
    for db in state.keyspace.dbs.iter_mut() {
        db.cold_retry_deletes();
    }
    drop_transients(state);
    // No limit, or memory well below it: every cold key read is admitted.
    let max = state.config.hot.maxmemory;
    if max <= 0 || used_memory(state) < (max as u64) / 10 * 9 {
        for db in state.keyspace.dbs.iter_mut() {
            db.admit_all();
        }
    }
    check_disk(state);
    if excess(state) > 0 {
        state.tier.kick.wake();
    }
    log_cold_errors(state);
}

/// INFO tiering.
pub fn info(state: &State, out: &mut String) {
    let mut stats = strata_storage::keyspace::ColdStats::default();
    let (mut hot, mut cold_keys) = (0usize, 0usize);
    for db in &state.keyspace.dbs {
        hot += db.hot_len();
        cold_keys += db.cold_len();
        if let Some(s) = db.cold_stats() {
            stats.merge(&s);
        }
    }
    let (disk, mem, kind) = match &state.tier.store {
        Some(s) => (s.disk_bytes(), s.mem_bytes(), s.kind()),
        None => (0, 0, "none"),
    };
    let ratio = if stats.spill_bytes_stored > 0 {
        stats.spill_bytes_raw as f64 / stats.spill_bytes_stored as f64
    } else {
        0.0
    };
    out.push_str("# Tiering\r\n");
    let mut line = |s: String| {
        out.push_str(&s);
        out.push_str("\r\n");
    };
    line(format!(
        "tiering_enabled:{}",
        u8::from(state.config.get_bool("tiering"))
    ));
    line(format!("tier_store:{kind}"));
    line(format!("hot_keys:{hot}"));
    line(format!("cold_keys:{cold_keys}"));
    line(format!("spills:{}", stats.spills));
    line(format!("promotions:{}", stats.promotions));
    line(format!("cold_hits:{}", stats.cold_hits));
    line(format!("cold_misses:{}", stats.cold_misses));
    line(format!("cold_expired:{}", stats.expired));
    line(format!("cold_errors:{}", stats.errors));
    line(format!("clean_drops:{}", stats.clean_drops));
    line(format!("not_admitted:{}", stats.not_admitted));
    line(format!("cold_read_p50_us:{}", stats.read_percentile(0.5)));
    line(format!("cold_read_p99_us:{}", stats.read_percentile(0.99)));
    line(format!("spilled_raw_bytes:{}", stats.spill_bytes_raw));
    line(format!("spilled_stored_bytes:{}", stats.spill_bytes_stored));
    line(format!("compression_ratio:{ratio:.2}"));
    let dicts = state
        .tier
        .store
        .as_ref()
        .map(|s| s.dicts().stats())
        .unwrap_or_default();
    line(format!("dictionary_records:{}", dicts.records));
    line(format!("dictionaries:{}", dicts.dictionaries));
    line(format!("dictionary_trainings:{}", dicts.trainings));
    line(format!("dictionary_rejections:{}", dicts.rejections));
    line(format!("tier_disk_bytes:{disk}"));
    line(format!(
        "tier_checkpoint_disk_bytes:{}",
        state.tier.checkpoint_bytes
    ));
    line(format!("tier_memory_bytes:{mem}"));
    if let Some(st) = &state.tier.store {
        for (name, v) in st.mem_detail() {
            line(format!("tier_memory_{name}:{v}"));
        }
    }
    line(format!("tier_disk_full:{}", u8::from(state.tier.disk_full)));
    line(format!(
        "spill_failing:{}",
        u8::from(state.tier.spill_failed.is_some())
    ));
    line(format!("spill_errors:{}", state.tier.spill_errors));
    line(format!("sync_spill_rounds:{}", state.tier.sync_rounds));
    line(format!(
        "cold_reads_inline:{}",
        u8::from(state.tier.inline_reads)
    ));
    line(format!("fast_warm_rounds:{}", state.tier.fast_warms));
    line(format!("slow_cold_reads:{}", stats.slow_reads));
    line(format!("cold_reads_locked:{}", stats.locked_reads));
    line(format!("cold_write_stalls:{}", stats.write_stalls));
    line(format!("cold_deletes_pending:{}", stats.pending_deletes));
    line(format!(
        "spiller_rounds:{}",
        state.tier.kick.rounds.load(Ordering::Relaxed)
    ));
}

#[cfg(test)]
mod tests {
    #[test]
    fn checkpoint_bytes_count_files_the_live_store_no_longer_shares() {
        let tmp = tempfile::tempdir().expect("tmp");
        let live = tmp.path().join("strata-cold");
        let aof = tmp.path().join("appendonlydir");
        let (cp1, cp2) = (aof.join("a.1.base.rdb.cold"), aof.join("a.2.base.rdb.cold"));
        for d in [&live, &cp1, &cp2] {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        std::fs::write(live.join("1.sst"), [0u8; 100]).expect("write");
        std::fs::write(cp1.join("2.sst"), [0u8; 30]).expect("write");
        std::fs::write(cp1.join("MANIFEST"), [0u8; 7]).expect("write");
        // Shared with the live store: not counted.
        std::fs::hard_link(live.join("1.sst"), cp1.join("1.sst")).expect("link");
        // Linked by two checkpoints: counted once.
        std::fs::hard_link(cp1.join("2.sst"), cp2.join("2.sst")).expect("link");
        // Not a checkpoint directory.
        std::fs::write(aof.join("a.1.incr.aof"), [0u8; 1000]).expect("write");
        assert_eq!(super::checkpoint_only_bytes(&live, &aof), 37);
        assert_eq!(
            super::checkpoint_only_bytes(&live, &tmp.path().join("none")),
            0
        );
    }
}
