//! AOF rewrite: a new base from a snapshot, a new incremental file opened
//! at the same moment, and the manifest switched over atomically.
//!
//! Under the state lock (the only time clients wait): the pending records
//! are written, the dataset is encoded ([`crate::persist::snapshot_with`]
//! for an RDB base, or RESP commands with `aof-use-rdb-preamble no`), and
//! appending moves to a new incremental file. Everything else runs on a
//! background thread:
//!
//! 1. (`Mode::Normal`) the manifest is persisted with the new incremental
//!    file added after the old ones, so records written from now on are
//!    part of the AOF at once (until then they do not count as fsynced);
//! 2. the base is written to `temp-rewriteaof-bg-<pid>.aof`, fsynced,
//!    renamed to `<appendfilename>.<n>.base.rdb|aof`, the directory fsynced;
//! 3. the manifest becomes: new base + new incremental file (temp file,
//!    fsync, rename, directory fsync);
//! 4. the old base and incremental files are deleted (kept as `history`
//!    entries with `aof-disable-auto-gc yes`).
//!
//! A crash at any point leaves a manifest that names a complete AOF: the
//! old one (plus the new incremental file after step 1) or the new one.
//!
//! `Mode::Enable` (CONFIG SET appendonly yes) and `Mode::Recover` (after a
//! write/fsync error) skip step 1: the new incremental file is named only
//! together with the base. In recovery, records appended meanwhile count
//! as written only once the base is in place.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use strata_storage::rdb::convert;
use strata_storage::rdb::RdbValue;

use super::manifest::{self, Manifest, Part};
use super::{format, AofIo};
use crate::server::{now_ms, State};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// BGREWRITEAOF, automatic rewrite.
    Normal,
    /// CONFIG SET appendonly yes: the first base of a new AOF.
    Enable,
    /// After a write or fsync error.
    Recover,
}

/// A base file's contents.
pub enum Base {
    /// An RDB image (`.base.rdb`); with a cold tier, the hot tier only and
    /// the checkpoint of the cold store taken with it.
    Rdb(Vec<u8>, Option<ColdCheckpoint>),
    /// The same, written by the rewrite thread from an incremental
    /// snapshot (see `persist::begin_background`).
    RdbStream(
        parking_lot::Mutex<Option<crate::persist::Snapshot>>,
        Option<ColdCheckpoint>,
    ),
    /// RESP commands (`.base.aof`).
    Resp(Vec<u8>),
}

/// A cold-store checkpoint taken with a base, waiting in `tmp` to be made
/// durable as `name` (next to the base, in the AOF directory) just before
/// the base itself is written.
pub struct ColdCheckpoint {
    pub tmp: PathBuf,
    pub name: String,
}

impl Base {
    fn is_rdb(&self) -> bool {
        !matches!(self, Base::Resp(..))
    }

    fn cold(&self) -> Option<&ColdCheckpoint> {
        match self {
            Base::Rdb(_, c) | Base::RdbStream(_, c) => c.as_ref(),
            Base::Resp(_) => None,
        }
    }

    /// Writes the contents to `out`.
    fn write_to<W: std::io::Write>(&self, mut out: W) -> std::io::Result<W> {
        match self {
            Base::Rdb(b, _) | Base::Resp(b) => {
                out.write_all(b)?;
                Ok(out)
            }
            Base::RdbStream(snap, _) => snap
                .lock()
                .take()
                .ok_or_else(|| std::io::Error::other("the base was already written"))?
                .write_to(out),
        }
    }

    /// Drops a checkpoint not (yet) made durable.
    pub fn discard(&self) {
        if let Some(c) = self.cold() {
            let _ = std::fs::remove_dir_all(&c.tmp);
        }
    }
}

/// Suffix of cold-store checkpoint directories in the AOF directory.
pub const COLD_SUFFIX: &str = ".cold";

/// Removes cold-store checkpoints of the AOF directory other than `keep`
/// (older bases' ones, and unfinished ones left by a crash). With
/// `only_unfinished`, finished ones stay (history is kept).
pub fn remove_stale_cold(dir: &Path, keep: Option<&str>, only_unfinished: bool) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        // RocksDB builds a checkpoint in `<target>.tmp` first.
        let unfinished = name.starts_with("temp-") && name.contains(COLD_SUFFIX);
        if !(unfinished || name.ends_with(COLD_SUFFIX)) || Some(name.as_str()) == keep {
            continue;
        }
        if only_unfinished && !unfinished {
            continue;
        }
        crate::log::notice(&format!(
            "Removing the {} cold tier checkpoint {name}",
            if unfinished { "unfinished" } else { "old" }
        ));
        let _ = std::fs::remove_dir_all(e.path());
    }
}

/// What the rewrite thread reports to the cron.
#[derive(Debug)]
pub struct Outcome {
    pub ok: bool,
    pub base_size: u64,
    pub secs: i64,
}

/// Where the AOF is: the current incremental file and the logical offset
/// of the records written so far (for checkpoints).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    pub incr_seq: u64,
    pub offset: u64,
}

/// The dataset as a base: RDB image or RESP commands per
/// `aof-use-rdb-preamble`. With `background`, an RDB image is gathered
/// incrementally by the thread that writes it (which must not be the one
/// holding the state lock).
///
/// # Errors
/// Encoding failed.
pub fn snapshot(state: &mut State, background: bool) -> std::io::Result<Base> {
    let begin = |state: &mut State, cold: Option<(&Path, &str)>| {
        if background {
            crate::persist::begin_background(state, true, cold)
        } else {
            crate::persist::begin_snapshot_in(state, true, cold, false)
        }
    };
    if state.config.get_bool("aof-use-rdb-preamble") {
        // With a store that persists, the cold tier is checkpointed in
        // place rather than copied into the base.
        let durable_cold = state
            .tier
            .store
            .as_ref()
            .is_some_and(|s| s.kind() == "rocksdb");
        if !durable_cold {
            let snap = begin(state, None)?;
            return Ok(Base::RdbStream(parking_lot::Mutex::new(Some(snap)), None));
        }
        let name = format!(
            "{}.{}-{}{COLD_SUFFIX}",
            state.aof.prefix,
            now_ms(),
            std::process::id()
        );
        let tmp = state.aof.dir.join(format!("temp-{name}"));
        let snap = begin(state, Some((&tmp, &name)))?;
        Ok(Base::RdbStream(
            parking_lot::Mutex::new(Some(snap)),
            Some(ColdCheckpoint { tmp, name }),
        ))
    } else {
        Ok(Base::Resp(resp_snapshot(state)))
    }
}

/// Items per command in a RESP base (Redis's AOF_REWRITE_ITEMS_PER_CMD).
const ITEMS_PER_CMD: usize = 64;

/// The dataset as RESP commands (Redis's `rewriteAppendOnlyFileRio`),
/// with a `#CRC64` annotation every 64 KiB and at the end.
pub fn resp_snapshot(state: &State) -> Vec<u8> {
    let now = now_ms();
    let mut out = Vec::new();
    let mut seg_start = 0usize;
    if state.config.get_bool("aof-timestamp-enabled") {
        out.extend_from_slice(format!("#TS:{}\r\n", now / 1000).as_bytes());
    }
    let annotate = |out: &mut Vec<u8>, seg_start: &mut usize| {
        let seg = &out[*seg_start..];
        let line = format::crc_line(strata_storage::rdb::crc64::crc64(0, seg), seg.len() as u64);
        out.extend_from_slice(line.as_bytes());
        *seg_start = out.len();
    };
    for (i, db) in state.keyspace.dbs.iter().enumerate() {
        if db.is_empty() {
            continue;
        }
        let n = i.to_string();
        format::encode(&mut out, &[&b"SELECT"[..], n.as_bytes()]);
        for (key, entry) in db.iter() {
            let expire = db.hot_expire_at(key);
            if expire.is_some_and(|at| at <= now) {
                continue;
            }
            let k: &[u8] = key;
            match convert::to_rdb(&entry.value).0 {
                RdbValue::String(v) => format::encode(&mut out, &[&b"SET"[..], k, &v]),
                RdbValue::List(items) => {
                    for chunk in items.chunks(ITEMS_PER_CMD) {
                        let mut argv: Vec<&[u8]> = vec![b"RPUSH", k];
                        argv.extend(chunk.iter().map(|b| &b[..]));
                        format::encode(&mut out, &argv);
                    }
                }
                RdbValue::Set(items) => {
                    for chunk in items.chunks(ITEMS_PER_CMD) {
                        let mut argv: Vec<&[u8]> = vec![b"SADD", k];
                        argv.extend(chunk.iter().map(|b| &b[..]));
                        format::encode(&mut out, &argv);
                    }
                }
                RdbValue::Hash(pairs) => {
                    for chunk in pairs.chunks(ITEMS_PER_CMD) {
                        let mut argv: Vec<&[u8]> = vec![b"HMSET", k];
                        for (f, v) in chunk {
                            argv.push(f);
                            argv.push(v);
                        }
                        format::encode(&mut out, &argv);
                    }
                }
                RdbValue::ZSet(pairs) => {
                    for chunk in pairs.chunks(ITEMS_PER_CMD) {
                        let scores: Vec<String> = chunk
                            .iter()
                            .map(|(_, s)| strata_storage::num::format_double(*s))
                            .collect();
                        let mut argv: Vec<&[u8]> = vec![b"ZADD", k];
                        for ((m, _), s) in chunk.iter().zip(&scores) {
                            argv.push(s.as_bytes());
                            argv.push(m);
                        }
                        format::encode(&mut out, &argv);
                    }
                }
                RdbValue::Stream(_) => {
                    // Streams (groups, PEL...) as one RESTORE of their
                    // DUMP payload: both Redis and Strata load it.
                    let payload = convert::dump(&entry.value);
                    format::encode(&mut out, &[&b"RESTORE"[..], k, b"0", &payload, b"REPLACE"]);
                }
            }
            if let Some(at) = expire {
                let ms = at.to_string();
                format::encode(&mut out, &[&b"PEXPIREAT"[..], k, ms.as_bytes()]);
            }
            if out.len() - seg_start >= 64 * 1024 {
                annotate(&mut out, &mut seg_start);
            }
        }
        // Cold keys: their DUMP payloads, restored as they are.
        if let Some(Ok(rx)) = db.cold_snapshot() {
            let in_flight = db.shadowed_keys();
            let dicts = db
                .cold_store()
                .map(|(s, _)| s.dicts().clone())
                .unwrap_or_default();
            for chunk in rx {
                let Ok(chunk) = chunk else { break };
                for (dk, rec) in chunk {
                    let k = strata_storage::cold::user_key(&dk);
                    if in_flight.contains(k) {
                        continue;
                    }
                    let Ok(r) = strata_storage::cold::decode_record(&rec) else {
                        continue;
                    };
                    if r.expire_at.is_some_and(|at| at <= now) {
                        continue;
                    }
                    let Ok(payload) = r.payload(&dicts) else {
                        continue;
                    };
                    format::encode(&mut out, &[&b"RESTORE"[..], k, b"0", &payload, b"REPLACE"]);
                    if let Some(at) = r.expire_at {
                        let ms = at.to_string();
                        format::encode(&mut out, &[&b"PEXPIREAT"[..], k, ms.as_bytes()]);
                    }
                    if out.len() - seg_start >= 64 * 1024 {
                        annotate(&mut out, &mut seg_start);
                    }
                }
            }
        }
    }
    if out.len() > seg_start {
        annotate(&mut out, &mut seg_start);
    }
    out
}

/// Writes a base file `<prefix>.<seq>.base.rdb|aof` durably (temporary
/// file, fsync, rename, directory fsync). Returns its name.
///
/// # Errors
/// Any I/O error (or injected failure).
pub fn write_base(
    io: &AofIo,
    dir: &Path,
    prefix: &str,
    seq: u64,
    base: &Base,
) -> std::io::Result<(String, u64)> {
    use std::io::Write;
    let mut size = 0;
    let name = manifest::base_name(prefix, seq, base.is_rdb());
    let tmp = dir.join(format!("temp-rewriteaof-bg-{}.aof", std::process::id()));
    let fp = &io.failpoints;
    let result = (|| {
        if let Some(c) = base.cold() {
            fp.check("aof.cold.checkpoint")?;
            crate::persist::finish_cold_checkpoint(&c.tmp, dir, &c.name)?;
        }
        let f = std::fs::File::create(&tmp)?;
        fp.check("aof.base.write")?;
        let mut w = base.write_to(std::io::BufWriter::with_capacity(1 << 20, f))?;
        w.flush()?;
        let f = w.into_inner().map_err(|e| e.into_error())?;
        fp.check("aof.base.fsync")?;
        f.sync_all()?;
        size = f.metadata()?.len();
        fp.check("aof.rename")?;
        std::fs::rename(&tmp, dir.join(&name))?;
        manifest::sync_dir(dir, fp)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
        if let Some(c) = base.cold() {
            let _ = std::fs::remove_dir_all(&c.tmp);
            let _ = std::fs::remove_dir_all(dir.join(&c.name));
        }
    }
    result.map(|()| (name, size))
}

/// Starts a checkpoint (for a snapshot taken by the caller in the same
/// lock hold): appending moves to a new incremental file, and the manifest
/// names it before this returns (one small fsynced file written under the
/// lock). The returned position is where the snapshot stands: after the
/// caller wrote its base ([`write_base`]), [`drop_parts_before`] with this
/// position makes the AOF `base + incrementals from here`.
///
/// # Errors
/// The AOF is off, a rewrite runs, or the file or manifest could not be
/// written (the AOF then enters the failed state, as for a rewrite).
pub fn checkpoint_begin(state: &mut State) -> Result<Position, String> {
    if !state.aof.is_on() {
        return Err("the AOF is off".into());
    }
    if state.aof.rw.in_progress {
        return Err("Background append only file rewriting already in progress".into());
    }
    let seq = next_incr_seq(state);
    super::rotate(state, seq, true, false)
        .map_err(|e| format!("can't create the new AOF incr file: {e}"))?;
    let point = state.aof.io.limit.load(Ordering::Acquire);
    let io = state.aof.io.clone();
    let mut m = io.manifest.lock().clone();
    m.incrs.push(Part {
        name: manifest::incr_name(&state.aof.prefix, seq),
        seq,
    });
    if let Err(e) = manifest::persist(&state.aof.dir, &state.aof.prefix, &m, &io.failpoints) {
        let mut ctl = io.ctl.lock();
        io.fail(&mut ctl, "writing the manifest of", &e);
        return Err(format!(
            "can't persist the AOF manifest: {}",
            super::strerror(&e)
        ));
    }
    *io.manifest.lock() = m;
    io.limit.store(u64::MAX, Ordering::Release);
    io.cv.notify_all();
    io.bump();
    Ok(Position {
        incr_seq: seq,
        offset: point,
    })
}

/// The sequence number of the next incremental file: past every one
/// the manifest names and the one being written.
fn next_incr_seq(state: &State) -> u64 {
    state
        .aof
        .io
        .manifest
        .lock()
        .next_incr_seq()
        .max(state.aof.incr_seq + 1)
}

/// Where the AOF is now (pending records written first).
pub fn position(state: &mut State) -> Position {
    super::flush(state);
    Position {
        incr_seq: state.aof.incr_seq,
        offset: state.aof.io.appended.load(Ordering::Acquire),
    }
}

/// After a checkpoint whose base (`base`, already written durably) holds
/// everything before position `pos`: persists a manifest naming that base
/// and the incremental files from `pos.incr_seq` on, then deletes the
/// older parts (unless `keep` is set: they stay as history entries).
///
/// # Errors
/// Persisting the manifest failed (the old manifest stays in force).
pub fn drop_parts_before(
    io: &AofIo,
    dir: &Path,
    prefix: &str,
    base: Part,
    pos: Position,
    keep: bool,
) -> std::io::Result<()> {
    let old = io.manifest.lock().clone();
    let mut dropped: Vec<Part> = Vec::new();
    dropped.extend(old.base.iter().filter(|b| b.name != base.name).cloned());
    dropped.extend(old.history.iter().cloned());
    let incrs: Vec<Part> = old
        .incrs
        .iter()
        .filter(|p| {
            if p.seq >= pos.incr_seq {
                true
            } else {
                dropped.push((*p).clone());
                false
            }
        })
        .cloned()
        .collect();
    let next = Manifest {
        base: Some(base),
        history: if keep { dropped.clone() } else { Vec::new() },
        incrs,
    };
    manifest::persist(dir, prefix, &next, &io.failpoints)?;
    *io.manifest.lock() = next;
    if !keep {
        for p in dropped {
            crate::log::notice(&format!("Removing the history file {}", p.name));
            let _ = std::fs::remove_file(dir.join(&p.name));
        }
    }
    Ok(())
}

struct Job {
    io: Arc<AofIo>,
    dir: PathBuf,
    prefix: String,
    base: Base,
    new_incr: Option<Part>,
    mode: Mode,
    /// Logical offset where the new incremental file starts.
    point: u64,
    keep_history: bool,
    outcome: Arc<parking_lot::Mutex<Option<Outcome>>>,
    started_ms: i64,
}

/// Starts a rewrite (see the module docs). `base`: the base contents to
/// write, or `None` for a snapshot of the dataset now.
///
/// # Errors
/// A rewrite is already running, or the snapshot or the new incremental
/// file could not be made.
pub fn start(state: &mut State, mode: Mode, base: Option<Base>) -> Result<(), String> {
    start_with(state, mode, base, false)
}

fn start_with(
    state: &mut State,
    mode: Mode,
    base: Option<Base>,
    inline: bool,
) -> Result<(), String> {
    if state.aof.rw.in_progress {
        return Err("Background append only file rewriting already in progress".into());
    }
    std::fs::create_dir_all(&state.aof.dir)
        .map_err(|e| format!("can't create {}: {e}", state.aof.dir.display()))?;
    super::flush(state);
    let base = match base {
        Some(b) => b,
        None => snapshot(state, true).map_err(|e| format!("snapshot failed: {e}"))?,
    };
    let on = state.aof.is_on();
    if !on {
        // BGREWRITEAOF with appendonly no: replace whatever AOF is on disk.
        *state.aof.io.manifest.lock() = read_manifest(&state.aof.dir, &state.aof.prefix);
    }
    let new_incr = if on && mode != Mode::Enable {
        let seq = next_incr_seq(state);
        if let Err(e) = super::rotate(state, seq, mode == Mode::Normal, mode == Mode::Recover) {
            base.discard();
            return Err(format!("can't create the new AOF incr file: {e}"));
        }
        crate::log::notice(&format!(
            "Creating AOF incr file {} on background rewrite",
            manifest::incr_name(&state.aof.prefix, seq)
        ));
        Some(Part {
            name: manifest::incr_name(&state.aof.prefix, seq),
            seq,
        })
    } else if on {
        Some(Part {
            name: manifest::incr_name(&state.aof.prefix, state.aof.incr_seq),
            seq: state.aof.incr_seq,
        })
    } else {
        None
    };
    let point = state.aof.io.appended.load(Ordering::Acquire);
    let started = now_ms();
    let job = Job {
        io: state.aof.io.clone(),
        dir: state.aof.dir.clone(),
        prefix: state.aof.prefix.clone(),
        base,
        new_incr,
        mode,
        point,
        keep_history: state.config.get_bool("aof-disable-auto-gc"),
        outcome: state.aof.rw.outcome.clone(),
        started_ms: started,
    };
    state.aof.rw.in_progress = true;
    state.aof.rw.started_ms = started;
    if inline {
        run(job);
        collect(state, now_ms());
        return if state.aof.rw.last_ok {
            Ok(())
        } else {
            Err("the checkpoint failed".into())
        };
    }
    std::thread::Builder::new()
        .name("aof-rewrite".into())
        .spawn(move || run(job))
        .map_err(|e| {
            state.aof.rw.in_progress = false;
            format!("can't start the rewrite thread: {e}")
        })?;
    crate::log::notice("Background append only file rewriting started");
    Ok(())
}

/// A checkpoint at shutdown, with a cold tier: the same steps as a
/// rewrite, run here (the memory tier encoded at once, no clients left),
/// so the next start reopens the cold tier and replays no tail.
///
/// # Errors
/// As [`start`]; the AOF as it was stays in force.
pub fn checkpoint_at_shutdown(state: &mut State) -> Result<(), String> {
    let base = snapshot(state, false).map_err(|e| format!("snapshot failed: {e}"))?;
    start_with(state, Mode::Normal, Some(base), true)
}

/// The manifest on disk, or an empty one when there is none (or it is
/// unreadable: the rewrite then replaces it).
fn read_manifest(dir: &Path, prefix: &str) -> Manifest {
    std::fs::read(dir.join(manifest::manifest_name(prefix)))
        .ok()
        .and_then(|t| Manifest::parse(&t).ok())
        .unwrap_or_default()
}

/// CONFIG SET appendonly yes: opens a new incremental file and writes the
/// first base.
///
/// # Errors
/// The directory or the file could not be created, or a rewrite runs.
pub fn enable(state: &mut State) -> Result<(), String> {
    if state.aof.rw.in_progress {
        return Err("Background append only file rewriting already in progress".into());
    }
    let dir = state.aof.dir.clone();
    std::fs::create_dir_all(&dir).map_err(|e| format!("can't create {}: {e}", dir.display()))?;
    let on_disk = read_manifest(&dir, &state.aof.prefix);
    let seq = on_disk.next_incr_seq().max(state.aof.incr_seq + 1);
    *state.aof.io.manifest.lock() = on_disk;
    super::start_writing(state, seq, 0, (0, 0), true)
        .map_err(|e| format!("can't open the AOF: {e}"))?;
    {
        let point = state.aof.io.appended.load(Ordering::Acquire);
        state.aof.io.limit.store(point, Ordering::Release);
    }
    state.aof.older_incr_size = 0;
    start(state, Mode::Enable, None)
}

fn run(job: Job) {
    let result = run_steps(&job);
    let io = &job.io;
    let ok = match result {
        Ok(size) => {
            crate::log::notice("Background AOF rewrite terminated with success");
            Some(size)
        }
        Err(e) => {
            crate::log::warning(&format!("Background AOF rewrite failed: {e}"));
            job.base.discard();
            match job.mode {
                Mode::Recover => {
                    let mut ctl = io.ctl.lock();
                    ctl.recovering = false;
                    ctl.file = None;
                    drop(ctl);
                    if let Some(p) = &job.new_incr {
                        let _ = std::fs::remove_file(job.dir.join(&p.name));
                    }
                }
                Mode::Enable => {
                    let mut ctl = io.ctl.lock();
                    let err = std::io::Error::other(e);
                    io.fail(&mut ctl, "creating", &err);
                }
                Mode::Normal => {}
            }
            None
        }
    };
    *job.outcome.lock() = Some(Outcome {
        ok: ok.is_some(),
        base_size: ok.unwrap_or(0),
        secs: (now_ms() - job.started_ms) / 1000,
    });
}

fn run_steps(job: &Job) -> Result<u64, String> {
    let io = &job.io;
    let fp = &io.failpoints;
    let mut m = io.manifest.lock().clone();
    // 1. Name the new incremental file right away.
    if let (Mode::Normal, Some(p)) = (job.mode, &job.new_incr) {
        let mut m1 = m.clone();
        if !m1.incrs.iter().any(|x| x.name == p.name) {
            m1.incrs.push(p.clone());
        }
        if let Err(e) = manifest::persist(&job.dir, &job.prefix, &m1, fp) {
            // Records now go to a file no manifest names: refuse writes
            // until a recovery rewrite.
            let mut ctl = io.ctl.lock();
            io.fail(&mut ctl, "writing the manifest of", &e);
            return Err(format!(
                "can't persist the AOF manifest: {}",
                super::strerror(&e)
            ));
        }
        *io.manifest.lock() = m1.clone();
        m = m1;
        io.limit.store(u64::MAX, Ordering::Release);
        io.cv.notify_all();
        io.bump();
    }
    // 2. The base.
    let seq = m.next_base_seq();
    let (name, size) = write_base(io, &job.dir, &job.prefix, seq, &job.base)
        .map_err(|e| format!("can't write the AOF base file: {}", super::strerror(&e)))?;
    crate::log::notice(&format!(
        "Successfully renamed the temporary AOF base file into {name}"
    ));
    // 3. The new manifest.
    let mut old: Vec<Part> = Vec::new();
    old.extend(m.base.iter().cloned());
    old.extend(m.history.iter().cloned());
    old.extend(
        m.incrs
            .iter()
            .filter(|p| job.new_incr.as_ref().is_none_or(|n| n.name != p.name))
            .cloned(),
    );
    let next = Manifest {
        base: Some(Part {
            name: name.clone(),
            seq,
        }),
        history: if job.keep_history {
            old.clone()
        } else {
            Vec::new()
        },
        incrs: job.new_incr.iter().cloned().collect(),
    };
    manifest::persist(&job.dir, &job.prefix, &next, fp)
        .map_err(|e| format!("can't persist the AOF manifest: {}", super::strerror(&e)))?;
    *io.manifest.lock() = next;
    match job.mode {
        Mode::Recover => {
            io.recovered(job.point);
            crate::log::notice("AOF recovered: writes are accepted again");
        }
        Mode::Enable => {
            io.limit.store(u64::MAX, Ordering::Release);
            io.cv.notify_all();
            io.bump();
        }
        Mode::Normal => {}
    }
    // 4. Old parts.
    remove_stale_cold(
        &job.dir,
        job.base.cold().map(|c| c.name.as_str()),
        job.keep_history,
    );
    if !job.keep_history {
        for p in old {
            if p.name != name {
                crate::log::notice(&format!("Removing the history file {}", p.name));
                let _ = std::fs::remove_file(job.dir.join(&p.name));
            }
        }
    }
    Ok(size)
}

/// Cron: picks up a finished rewrite.
pub fn collect(state: &mut State, _now_ms: i64) {
    let Some(o) = state.aof.rw.outcome.lock().take() else {
        return;
    };
    let rw = &mut state.aof.rw;
    rw.in_progress = false;
    rw.last_secs = o.secs;
    if o.ok {
        rw.last_ok = true;
        rw.rewrites += 1;
        rw.consecutive_failures = 0;
        state.aof.base_size = o.base_size;
        state.aof.older_incr_size = 0;
        state.aof.rewrite_base_size = state.aof.current_size();
        crate::log::notice("Background AOF rewrite finished successfully");
    } else {
        rw.last_ok = false;
        rw.consecutive_failures += 1;
    }
}
