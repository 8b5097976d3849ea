//! dump.rdb: SAVE, BGSAVE, save points, save on shutdown, load at start.
//!
//! SAVE encodes the memory tier under the state lock and writes it
//! inline. BGSAVE (and the AOF rewrite) take a forkless incremental
//! snapshot ([`begin_background`]): the cut is O(1) under the lock, then
//! the writer thread walks each database in short lock slices, while any
//! change to a key it has not reached first saves that key as of the cut
//! (see `strata_storage::keyspace::Db::snap_begin`). No copy of the
//! dataset is made and clients never wait for more than one slice. The
//! cold tier is read from a RocksDB snapshot taken at the cut (or, for an
//! AOF base, checkpointed in place). Files are written to a temporary
//! name, fsynced, renamed over `dir/dbfilename`, and the directory is
//! fsynced, so a crash never leaves a half-written dump under the real
//! name.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;
use strata_storage::rdb::convert::{self, Limits};
use strata_storage::rdb::file::{RdbFileReader, RdbFileWriter, RdbItem};

use crate::loading::Guard;
use crate::server::{now_ms, State};

/// Outcome of a background save, picked up by the cron.
#[derive(Debug)]
pub struct SaveOutcome {
    pub ok: bool,
    pub dirty_at_start: u64,
    pub finished_s: i64,
    pub secs: i64,
}

/// RDB save bookkeeping (INFO persistence).
#[derive(Default)]
pub struct RdbStatus {
    pub bgsave_running: bool,
    pub bgsave_started_ms: i64,
    pub last_bgsave_ok: bool,
    pub last_bgsave_secs: i64,
    pub saves: u64,
    /// Filled by the background writer thread.
    pub outcome: Arc<Mutex<Option<SaveOutcome>>>,
    /// When the last background save started (unix seconds): after a
    /// failure, save points retry only `BGSAVE_RETRY_DELAY_S` later.
    pub last_try_s: i64,
    /// Keys loaded at startup.
    pub loaded_keys: u64,
    pub loaded_expired: u64,
}

/// `dir/dbfilename`.
pub fn rdb_path(state: &State) -> PathBuf {
    Path::new(state.config.get("dir")).join(state.config.get("dbfilename"))
}

pub fn limits(state: &State) -> Limits {
    let e = state.config.hot.encodings;
    Limits {
        hash: strata_storage::hash::HashLimits {
            max_entries: e.hash_max_listpack_entries,
            max_value: e.hash_max_listpack_value,
        },
        zset: strata_storage::zset::Limits {
            max_entries: e.zset_max_listpack_entries,
            max_value: e.zset_max_listpack_value,
        },
        set_max_intset_entries: e.set_max_intset_entries,
    }
}

/// A snapshot at one instant: the hot tier encoded under the lock, the
/// cold tier as point-in-time streams read later by the writer, so the
/// cold tier is never loaded into memory.
pub struct Snapshot {
    /// Set when the memory tier is gathered incrementally after the cut
    /// (see [`start_incremental`]) rather than encoded into `hot`.
    incremental: Option<Incremental>,
    aux: Vec<(&'static str, String)>,
    /// Functions libraries (FUNCTION2 records, before the keys).
    functions: Vec<bytes::Bytes>,
    compress: bool,
    checksum: bool,
    save_lfu: bool,
    now: i64,
    dbs: Vec<DbSnapshot>,
}

struct DbSnapshot {
    index: u32,
    keys: u64,
    expires: u64,
    hot: Vec<u8>,
    cold: Option<
        std::sync::mpsc::Receiver<
            Result<strata_storage::cold::Chunk, strata_storage::cold::ColdError>,
        >,
    >,
    /// Keys whose spill was in flight at the cut: they are in `hot`.
    in_flight: std::collections::HashSet<bytes::Bytes>,
    /// The cold store's dictionaries (to decompress `cold` records).
    dicts: std::sync::Arc<strata_storage::cold::Dictionaries>,
}

/// Aux field of an AOF base naming the cold-tier checkpoint taken with it.
pub const COLD_AUX: &str = "strata-cold";

/// Takes a snapshot of the whole dataset (both tiers) at this instant.
pub fn begin_snapshot(state: &State, aof_base: bool) -> std::io::Result<Snapshot> {
    begin_snapshot_in(state, aof_base, None, false)
}

/// An incremental snapshot's link to the server: its writer locks the
/// state in short slices to walk the memory tier.
struct Incremental {
    shared: std::sync::Weak<crate::server::Shared>,
    id: u64,
    /// Databases whose walk is not finished.
    remaining: usize,
    alive: Arc<std::sync::atomic::AtomicBool>,
}

impl Drop for Incremental {
    fn drop(&mut self) {
        // A writer that fails or is dropped ends the snapshot (the
        // databases notice at their next touch).
        self.alive
            .store(false, std::sync::atomic::Ordering::Release);
    }
}

/// Keys looked at per lock hold by an incremental snapshot's writer.
const WALK_BUDGET: usize = 256;

/// A snapshot for a background writer (BGSAVE, AOF rewrite): the memory
/// tier is gathered incrementally when possible (no copy of it is made at
/// the cut; clients wait only for the O(1) cut and short walk slices),
/// else encoded now (another incremental snapshot already runs, or no
/// server to walk with).
pub fn begin_background(
    state: &mut State,
    aof_base: bool,
    cold_checkpoint: Option<(&Path, &str)>,
) -> std::io::Result<Snapshot> {
    let busy = state.keyspace.dbs.iter().any(|d| d.snap_id().is_some());
    let shared = state.shared.clone();
    let incremental = !busy && shared.upgrade().is_some();
    let mut snap = begin_snapshot_in(state, aof_base, cold_checkpoint, incremental)?;
    if incremental {
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let alive = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let opts = strata_storage::keyspace::SnapOptions {
            now_ms: snap.now,
            save_lfu: snap.save_lfu,
            save_lru: state.config.get("maxmemory-policy").contains("lru"),
            compress: snap.compress,
        };
        let mut remaining = 0;
        for (i, db) in state.keyspace.dbs.iter_mut().enumerate() {
            db.snap_begin(id, i as u32, opts, alive.clone());
            remaining += 1;
        }
        snap.incremental = Some(Incremental {
            shared,
            id,
            remaining,
            alive,
        });
    }
    Ok(snap)
}

/// [`begin_snapshot`]; with `cold_checkpoint` (a directory that does not
/// exist yet, and the name it will have once made durable) and a cold
/// store, the cold tier is not streamed: the store is checkpointed into
/// that directory in the same lock hold, with its cut file, and the image
/// holds the hot tier only plus an aux field (`strata-cold`) naming it. Such an image is an AOF base,
/// meaningful only next to its checkpoint.
pub fn begin_snapshot_in(
    state: &State,
    aof_base: bool,
    cold_checkpoint: Option<(&Path, &str)>,
    defer_hot: bool,
) -> std::io::Result<Snapshot> {
    let now = now_ms();
    let policy = state.config.get("maxmemory-policy");
    let save_lfu = policy.contains("lfu");
    let save_lru = policy.contains("lru");
    let aux = vec![
        ("redis-ver", "7.0.15".to_string()),
        ("redis-bits", "64".to_string()),
        ("ctime", (now / 1000).to_string()),
        ("used-mem", crate::info::allocated_bytes().to_string()),
        ("aof-base", if aof_base { "1" } else { "0" }.to_string()),
    ];
    let mut aux = aux;
    let checkpointed = match (cold_checkpoint, &state.tier.store) {
        (Some((dir, name)), Some(store)) => {
            checkpoint_cold(state, store, dir)?;
            aux.push((COLD_AUX, name.to_string()));
            true
        }
        _ => false,
    };
    let compress = state.config.get_bool("rdbcompression");
    let checksum = state.config.get_bool("rdbchecksum");
    let functions = crate::scripting::functions::dump_all(state);
    let mut dbs = Vec::new();
    for (i, db) in state.keyspace.dbs.iter().enumerate() {
        let empty = if checkpointed {
            db.hot_len() == 0
        } else {
            db.is_empty()
        };
        if empty {
            continue;
        }
        let mut hot = Vec::new();
        let opts = strata_storage::keyspace::SnapOptions {
            now_ms: now,
            save_lfu,
            save_lru,
            compress,
        };
        let walk_now = if defer_hot { None } else { Some(db.iter()) };
        for (key, entry) in walk_now.into_iter().flatten() {
            let at = db.hot_expire_at(key);
            if let Some(b) =
                strata_storage::keyspace::encode_rdb_entry(i as u32, key, entry, at, db.lfu, &opts)
            {
                hot.extend_from_slice(&b);
            }
        }
        let cold = match db.cold_snapshot() {
            _ if checkpointed => None,
            Some(Ok(rx)) => Some(rx),
            Some(Err(e)) => return Err(std::io::Error::other(format!("cold tier: {e}"))),
            None => None,
        };
        let (keys, expires) = if checkpointed {
            (db.hot_len(), db.hot_expires_len())
        } else {
            (db.len(), db.expires_len())
        };
        dbs.push(DbSnapshot {
            index: i as u32,
            keys: keys as u64,
            expires: expires as u64,
            hot,
            in_flight: if cold.is_some() {
                db.shadowed_keys()
            } else {
                Default::default()
            },
            cold,
            dicts: db
                .cold_store()
                .map(|(s, _)| s.dicts().clone())
                .unwrap_or_default(),
        });
    }
    Ok(Snapshot {
        incremental: None,
        aux,
        functions,
        compress,
        checksum,
        save_lfu,
        now,
        dbs,
    })
}

/// Checkpoints the cold store into `dir` and writes the cut file there
/// (called under the state lock, so no spill commits and no cold write
/// from a command happens meanwhile). Files are made durable later, by
/// [`finish_cold_checkpoint`].
fn checkpoint_cold(
    state: &State,
    store: &strata_storage::cold::Store,
    dir: &Path,
) -> std::io::Result<()> {
    use strata_storage::cold::cut;
    let started = std::time::Instant::now();
    store
        .checkpoint(dir)
        .map_err(|e| std::io::Error::other(format!("cold tier checkpoint: {e}")))?;
    let dbs: Vec<cut::DbCut> = state
        .keyspace
        .dbs
        .iter()
        .enumerate()
        .filter_map(|(i, db)| db.cold_cut(i as u32))
        .collect();
    let result = fs::write(dir.join(cut::CUT_FILE), cut::encode(&dbs));
    if result.is_err() {
        let _ = fs::remove_dir_all(dir);
    }
    result?;
    crate::log::notice(&format!(
        "Cold tier checkpoint {} taken in {} us",
        dir.display(),
        started.elapsed().as_micros()
    ));
    Ok(())
}

/// Makes a cold checkpoint taken into `tmp` durable under its final name
/// `dir/name` (every file fsynced, renamed, the directory fsynced).
pub fn finish_cold_checkpoint(tmp: &Path, dir: &Path, name: &str) -> std::io::Result<()> {
    for entry in fs::read_dir(tmp)? {
        let path = entry?.path();
        if path.is_file() {
            File::open(&path)?.sync_all()?;
        }
    }
    File::open(tmp)?.sync_all()?;
    fs::rename(tmp, dir.join(name))?;
    File::open(dir)?.sync_all()
}

impl Snapshot {
    /// Writes the dump.rdb image to `out` (streaming the cold tier).
    pub fn write_to<W: Write>(mut self, out: W) -> std::io::Result<W> {
        let mut w = RdbFileWriter::new(out, &self.aux, self.compress, self.checksum)?;
        for code in &self.functions {
            w.function(code)?;
        }
        if let Some(inc) = self.incremental.take() {
            let hints: Vec<(u32, u64, u64)> = self
                .dbs
                .iter()
                .map(|d| (d.index, d.keys, d.expires))
                .collect();
            walk(inc, &mut w, &hints)?;
        }
        for db in self.dbs {
            if db.hot.is_empty() && db.cold.is_none() {
                continue;
            }
            w.select_db(db.index, db.keys, db.expires)?;
            w.encoded(&db.hot)?;
            let Some(rx) = db.cold else { continue };
            for chunk in rx {
                let chunk = chunk.map_err(|e| std::io::Error::other(format!("cold tier: {e}")))?;
                for (k, v) in chunk {
                    let key = strata_storage::cold::user_key(&k);
                    if db.in_flight.contains(key) {
                        continue;
                    }
                    let bad = |e: String| {
                        std::io::Error::other(format!(
                            "cold tier record for key {:?}: {e}",
                            String::from_utf8_lossy(key)
                        ))
                    };
                    let rec = strata_storage::cold::decode_record(&v).map_err(|e| bad(e.0))?;
                    if rec.expire_at.is_some_and(|at| at <= self.now) {
                        continue;
                    }
                    let payload = rec.payload(&db.dicts).map_err(|e| bad(e.0))?;
                    let lfu = self.save_lfu.then_some(rec.lfu);
                    let b = strata_storage::rdb::file::encode_payload_entry(
                        key,
                        rec.expire_at,
                        lfu,
                        &payload,
                    )
                    .ok_or_else(|| bad("short payload".into()))?;
                    w.encoded(&b)?;
                }
            }
        }
        w.finish()
    }
}

/// Gathers an incremental snapshot's memory tier: short slices under the
/// state lock walk each database (and collect the values saved by
/// changes meanwhile); the bytes are written outside the lock.
fn walk<W: Write>(
    mut inc: Incremental,
    w: &mut RdbFileWriter<W>,
    hints: &[(u32, u64, u64)],
) -> std::io::Result<()> {
    let mut current: Option<u32> = None;
    while inc.remaining > 0 {
        let shared = inc
            .shared
            .upgrade()
            .ok_or_else(|| std::io::Error::other("the server went away"))?;
        let mut chunks: Vec<(u32, Vec<u8>)> = Vec::new();
        {
            let mut st = shared.state.lock();
            let mut stepped = false;
            let mut found = 0;
            for db in st.keyspace.dbs.iter_mut() {
                if db.snap_id() != Some(inc.id) {
                    continue;
                }
                found += 1;
                let done = if stepped {
                    false
                } else {
                    stepped = true;
                    db.snap_step(WALK_BUDGET)
                };
                if let Some(c) = db.snap_take() {
                    if !c.1.is_empty() {
                        chunks.push(c);
                    }
                }
                if done {
                    db.snap_end(inc.id);
                    inc.remaining -= 1;
                    stepped = false;
                }
            }
            if found == 0 && inc.remaining > 0 {
                return Err(std::io::Error::other(
                    "the dataset was replaced while the snapshot was written",
                ));
            }
        }
        drop(shared);
        // Let clients waiting for the lock in before the next slice.
        std::thread::yield_now();
        for (origin, bytes) in chunks {
            if current != Some(origin) {
                let (k, e) = hints
                    .iter()
                    .find(|h| h.0 == origin)
                    .map_or((0, 0), |h| (h.1, h.2));
                w.select_db(origin, k, e)?;
                current = Some(origin);
            }
            w.encoded(&bytes)?;
        }
    }
    Ok(())
}

/// Encodes the whole dataset (both tiers) as a dump.rdb image.
pub fn snapshot(state: &State) -> std::io::Result<Vec<u8>> {
    snapshot_with(state, false)
}

/// [`snapshot`], marked as an AOF base (`aof-base` aux field 1) when
/// `aof_base`.
pub fn snapshot_with(state: &State, aof_base: bool) -> std::io::Result<Vec<u8>> {
    begin_snapshot(state, aof_base)?.write_to(Vec::new())
}

/// Writes a snapshot to `path` atomically (temp file, fsync, rename,
/// fsync dir). Returns the bytes written.
pub fn write_snapshot_atomically(
    path: &Path,
    snap: Snapshot,
    fp: &crate::failpoint::Failpoints,
) -> std::io::Result<u64> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = dir.join(format!("temp-{}-{}.rdb", std::process::id(), now_ms()));
    let result = (|| {
        let f = File::create(&tmp)?;
        fp.check("rdb.write")?;
        let w = snap.write_to(std::io::BufWriter::with_capacity(1 << 20, f))?;
        let f = w.into_inner().map_err(|e| e.into_error())?;
        let len = f.metadata()?.len();
        fp.check("rdb.fsync")?;
        f.sync_all()?;
        fp.check("rdb.rename")?;
        fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()?;
        Ok(len)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// SAVE: snapshot and write now, under the lock.
pub fn save(state: &mut State) -> std::io::Result<()> {
    let started = now_ms();
    let snap = begin_snapshot(state, false)?;
    let path = rdb_path(state);
    let written = write_snapshot_atomically(&path, snap, &state.aof.io.failpoints)?;
    state.dirty = 0;
    state.lastsave_s = now_ms() / 1000;
    state.rdb.saves += 1;
    state.rdb.last_bgsave_ok = true;
    crate::log::notice(&format!(
        "DB saved on disk ({} bytes, {} ms)",
        written,
        now_ms() - started
    ));
    Ok(())
}

/// BGSAVE: snapshot now, write on a background thread.
pub fn bgsave(state: &mut State) -> std::io::Result<()> {
    let snap = begin_background(state, false, None)?;
    let path = rdb_path(state);
    let outcome = state.rdb.outcome.clone();
    let io = state.aof.io.clone();
    let dirty_at_start = state.dirty;
    let started = now_ms();
    state.rdb.bgsave_running = true;
    state.rdb.bgsave_started_ms = started;
    state.rdb.last_try_s = started / 1000;
    crate::log::notice("Background saving started");
    std::thread::Builder::new()
        .name("bgsave".into())
        .spawn(move || {
            let ok = match write_snapshot_atomically(&path, snap, &io.failpoints) {
                Ok(_) => true,
                Err(e) => {
                    crate::log::warning(&format!(
                        "Background saving error: {}: {e}",
                        path.display()
                    ));
                    false
                }
            };
            let now = now_ms();
            *outcome.lock() = Some(SaveOutcome {
                ok,
                dirty_at_start,
                finished_s: now / 1000,
                secs: (now - started) / 1000,
            });
        })?;
    Ok(())
}

/// Cron: collect a finished BGSAVE and start one when a save point is due.
pub fn cron(state: &mut State, now: i64) {
    if let Some(o) = state.rdb.outcome.lock().take() {
        state.rdb.bgsave_running = false;
        state.rdb.last_bgsave_ok = o.ok;
        state.rdb.last_bgsave_secs = o.secs;
        if o.ok {
            state.dirty = state.dirty.saturating_sub(o.dirty_at_start);
            state.lastsave_s = o.finished_s;
            state.rdb.saves += 1;
            crate::log::notice("Background saving terminated with success");
        }
    }
    if state.rdb.bgsave_running || state.dirty == 0 {
        return;
    }
    let points: Vec<i64> = state
        .config
        .get("save")
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    let elapsed = now / 1000 - state.lastsave_s;
    // After a failed save, retry only every few seconds (Redis's
    // CONFIG_BGSAVE_RETRY_DELAY), not on every tick.
    if !state.rdb.last_bgsave_ok && now / 1000 - state.rdb.last_try_s <= BGSAVE_RETRY_DELAY_S {
        return;
    }
    for p in points.chunks(2) {
        if let [secs, changes] = *p {
            if state.dirty as i64 >= changes && elapsed >= secs {
                crate::log::notice(&format!("{changes} changes in {secs} seconds. Saving..."));
                if let Err(e) = bgsave(state) {
                    crate::log::warning(&format!("Can't save in background: {e}"));
                }
                return;
            }
        }
    }
}

/// Seconds between save-point retries after a failed background save.
const BGSAVE_RETRY_DELAY_S: i64 = 5;

/// Redis's `shared.bgsaveerr`.
pub const BGSAVE_ERR: &str = "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.";

/// Writes are refused because the last background save failed (Redis's
/// `stop-writes-on-bgsave-error`, which only applies with save points)
/// until a save succeeds.
pub fn writes_denied(state: &State) -> bool {
    !state.rdb.last_bgsave_ok
        && has_save_points(state)
        && state.config.get_bool("stop-writes-on-bgsave-error")
}

/// True when save points are configured (SHUTDOWN then saves).
pub fn has_save_points(state: &State) -> bool {
    !state.config.get("save").trim().is_empty()
}

/// `key-load-delay` (a testing aid, as in Redis): sleeps that many
/// microseconds per key loaded; a negative `-n` sleeps 1 us every n keys.
/// `delay` is the option's value, read once per load.
pub fn key_load_delay(delay: i64, count: u64) {
    let micros = match delay {
        0 => return,
        d if d > 0 => d as u64,
        d if count.is_multiple_of(d.unsigned_abs()) => 1,
        _ => return,
    };
    std::thread::sleep(std::time::Duration::from_micros(micros));
}

/// Loads `dir/dbfilename` if present. A corrupt file is an error naming
/// the file and the byte offset; nothing is half-loaded silently.
pub fn load_at_startup(state: &mut Guard<'_>) -> Result<(), String> {
    let path = rdb_path(state);
    let data = match crate::loading::read_file(state, &path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("can't read {}: {e}", path.display())),
    };
    crate::loading::file_started(state, data.len() as u64);
    let (loaded, expired) = load_rdb_bytes(state, &data, &path.display().to_string(), false)?;
    state.rdb.loaded_keys = loaded;
    state.rdb.loaded_expired = expired;
    Ok(())
}

/// Loads an RDB image (`name` names it in messages) into the keyspace.
/// Keys already expired are skipped unless `keep_expired` (an AOF base:
/// commands after it may still touch them, as Redis loads preambles).
/// Returns (keys loaded, expired keys skipped).
///
/// # Errors
/// A corrupt image, naming the file and the byte offset.
pub fn load_rdb_bytes(
    state: &mut Guard<'_>,
    data: &[u8],
    name: &str,
    keep_expired: bool,
) -> Result<(u64, u64), String> {
    let started = now_ms();
    // The file image is not dataset memory.
    state.tier.discount = data.len() as u64;
    let fail = |e: strata_storage::rdb::RdbError| {
        format!("{}: {} (file size {} bytes)", name, e, data.len())
    };
    let mut reader = RdbFileReader::new(data).map_err(fail)?;
    let limits = limits(state);
    let now = now_ms();
    let databases = state.keyspace.dbs.len();
    let (mut loaded, mut expired) = (0u64, 0u64);
    let load_delay = state.config.get_int("key-load-delay");
    // Reader offset at the last fresh measurement of used memory.
    let mut measured_at = 0;
    let mut last_report = started;
    loop {
        let at = reader.offset();
        match reader.next_item().map_err(fail)? {
            RdbItem::Eof => break,
            RdbItem::Entry(e) => {
                let db = e.db as usize;
                if db >= databases {
                    return Err(format!(
                        "{}: database {} out of range at offset {at}",
                        name, e.db
                    ));
                }
                if !keep_expired && e.expire_ms.is_some_and(|t| t <= now) {
                    expired += 1;
                    continue;
                }
                let value = convert::from_rdb(e.value, limits)
                    .ok_or_else(|| format!("{}: empty collection at offset {at}", name))?;
                let mut entry = strata_storage::keyspace::Entry::new(value, now);
                if let Some(f) = e.lfu_freq {
                    entry.lfu = strata_storage::lfu::Lfu(
                        (u32::from(strata_storage::lfu::minutes(now)) << 8) | u32::from(f),
                    );
                }
                if let Some(idle) = e.idle_secs {
                    entry.set_idle(now, idle.min(i64::MAX as u64) as i64);
                }
                state
                    .keyspace
                    .db(db)
                    .insert_entry(e.key, entry, e.expire_ms);
                loaded += 1;
                key_load_delay(load_delay, loaded);
                // Import beyond maxmemory: spill as we go.
                if loaded % 256 == 0 && state.config.hot.maxmemory > 0 && state.tier.store.is_some()
                {
                    // A load grows memory faster than a measurement stays
                    // fresh: measure again after every MB read.
                    if reader.offset() - measured_at >= 1 << 20 {
                        crate::tier::remeasure(state);
                        measured_at = reader.offset();
                    }
                    loop {
                        state.tier.stalled = false;
                        if crate::tier::spill_now(state, 1024) > 0 {
                            continue;
                        }
                        if !state.tier.stalled {
                            break;
                        }
                        // Loading: waiting out a write stall holds up nobody.
                        std::thread::sleep(std::time::Duration::from_millis(1));
                    }
                }
            }
            RdbItem::Function(code) => {
                crate::scripting::functions::load_code(state, &code, false)
                    .map_err(|e| format!("{name}: Failed loading library, {e} (at offset {at})"))?;
            }
            RdbItem::Aux(k, v) if &k[..] == COLD_AUX.as_bytes() => {
                // The image holds the hot tier only: without its cold
                // checkpoint it would be a silent half-load.
                if state.tier.restored_from.as_deref().map(str::as_bytes) != Some(&v[..]) {
                    return Err(format!(
                        "{name}: this image holds only the hot tier of a checkpoint whose cold tier ({}) was not restored; load it through its AOF manifest (offset {at})",
                        String::from_utf8_lossy(&v)
                    ));
                }
            }
            RdbItem::Aux(k, v) if &k[..] == b"used-mem" => {
                if let (Some(p), Some(mem)) = (
                    state.loading.as_mut(),
                    std::str::from_utf8(&v).ok().and_then(|t| t.parse().ok()),
                ) {
                    p.rdb_used_mem = mem;
                }
            }
            RdbItem::Aux(..) | RdbItem::ResizeDb { .. } => {}
        }
        crate::loading::let_clients_in(state, reader.offset() as u64);
        let t = now_ms();
        if t - last_report > 1000 {
            last_report = t;
            crate::log::notice(&format!(
                "Loading RDB: {} of {} bytes ({:.0}%), {} keys, {:.0} keys/s",
                reader.offset(),
                data.len(),
                reader.offset() as f64 * 100.0 / data.len().max(1) as f64,
                loaded,
                loaded as f64 * 1000.0 / (t - started).max(1) as f64
            ));
        }
    }
    state.tier.discount = 0;
    crate::log::notice(&format!(
        "DB loaded from disk: {} keys ({} expired skipped), {} bytes in {} ms",
        loaded,
        expired,
        data.len(),
        now_ms() - started
    ));
    Ok((loaded, expired))
}
