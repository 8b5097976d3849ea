//! The append-only file, in Redis 7.0's multi-part layout.
//!
//! `dir/appenddirname/` holds a manifest (`appendonly.aof.manifest`), one
//! base file (an RDB image, `appendonly.aof.<n>.base.rdb`, or RESP
//! commands, `.base.aof`, with `aof-use-rdb-preamble no`) and incremental
//! files (`appendonly.aof.<n>.incr.aof`) of RESP commands with `#`
//! annotation lines. See `docs/formats/aof.md`.
//!
//! **Writing.** Commands reach [`feed`] through the propagation layer
//! (`src/propagate.rs`) and collect in [`Aof::buf`] while the state lock
//! is held. When a connection finishes its batch (or the cron its tick),
//! [`batch_end`] queues the buffer plus a `#CRC64` annotation in
//! `AofIo::pending` (execution order, still under the lock). After the
//! lock is released, [`complete`] writes everything queued if nobody did
//! yet ([`AofIo::write_through`]: the first connection to take the writer
//! mutex writes the batches of all the others with one `write(2)`), so no
//! `write(2)` happens under the state lock. Durability is counted in
//! logical byte offsets (everything ever appended since start):
//! `appended`, `written` and `synced` in [`AofIo`]. The connection gets a
//! ticket (an offset) and holds its replies until the offset is covered:
//!
//! * `appendfsync always`: until `synced` reaches it. A syncer thread
//!   fsyncs whatever has been written when it wakes, so every client whose
//!   records were written meanwhile shares one fsync (group commit). Reads
//!   in a batch also wait for writes still being fsynced, so nobody sees a
//!   value that a crash could take back.
//! * `everysec` / `no`: until `written` reaches it, which `complete` does
//!   itself; the syncer fsyncs every second (`everysec`) or never (`no`).
//!
//! **Failures are never hidden.** A failed `write(2)` or fsync puts the
//! AOF in the failed state: write commands (and PING, as Redis) get
//! `-MISCONF Errors writing to the AOF file: <error>`, reads keep working,
//! replies of writes not yet covered stay held, and nothing more is
//! written to the damaged file. The cron then tries, once a second, a
//! recovery rewrite: a new base from memory (which holds every write,
//! including the ones that failed to reach the file) plus a new
//! incremental file, listed in the manifest only once the base is durable.
//! When it succeeds, held replies are released and writes are accepted
//! again. (Retrying the failed fsync itself is not trusted: after a failed
//! fsync Linux may drop the dirty pages and report the next fsync as a
//! success.)
//!
//! **Rewrite** (`BGREWRITEAOF`, automatic growth, recovery): see
//! [`rewrite`]. **Loading**: see [`load`].
//!
//! Seams for checkpoints spanning the cold tier:
//! [`rewrite::checkpoint_begin`] (new incremental file at the snapshot's
//! position), [`rewrite::write_base`] ("write a base snapshot") and
//! [`rewrite::drop_parts_before`] ("after a checkpoint at position X, drop
//! older parts"); [`rewrite::start`] also takes a caller-made base.

pub mod check;
pub mod format;
pub mod load;
pub mod manifest;
pub mod rewrite;

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::{Condvar, Mutex};
use strata_storage::rdb::crc64::crc64;

pub use load::load_at_startup;

use crate::client::{Client, ClientIo};
use crate::command::{CommandSpec, Flags};
use crate::config::Config;
use crate::error::Error;
use crate::failpoint::Failpoints;
use crate::server::{Shared, State};

/// `appendfsync`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fsync {
    Always,
    Everysec,
    No,
}

impl Fsync {
    pub fn from_config(v: &str) -> Fsync {
        match v {
            "always" => Fsync::Always,
            "no" => Fsync::No,
            _ => Fsync::Everysec,
        }
    }

    fn to_u8(self) -> u8 {
        match self {
            Fsync::Always => 0,
            Fsync::Everysec => 1,
            Fsync::No => 2,
        }
    }

    fn from_u8(v: u8) -> Fsync {
        match v {
            0 => Fsync::Always,
            2 => Fsync::No,
            _ => Fsync::Everysec,
        }
    }
}

/// Text of an I/O error as `strerror` prints it.
pub fn strerror(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// State guarded by [`AofIo::ctl`].
struct Ctl {
    /// The incremental file being appended to, and its size.
    file: Option<Arc<File>>,
    file_size: u64,
    /// Older incremental files whose last records are not fsynced yet.
    retired: Vec<Arc<File>>,
    /// The write or fsync error that put the AOF in the failed state.
    failed: Option<String>,
    /// A recovery rewrite runs: records go to a new file that counts only
    /// once the rewrite is done (`shadow_written`).
    recovering: bool,
    shadow_written: u64,
    /// The syncer thread must exit.
    shutdown: bool,
    last_sync: Instant,
}

/// The part of the AOF shared with the syncer thread, rewrite threads and
/// connections (which wait on it without the state lock).
pub struct AofIo {
    pub failpoints: Failpoints,
    /// The AOF is on.
    pub on: AtomicBool,
    /// Logical end of every record handed to the AOF.
    pub appended: AtomicU64,
    /// Records before this offset reached a file with `write(2)`.
    pub written: AtomicU64,
    /// Records before this offset are durable.
    pub synced: AtomicU64,
    /// Records at or past this offset are in a file that no persisted
    /// manifest names yet (between a rewrite's rotation and its first
    /// manifest update): they count neither as written nor as synced, since
    /// a restart would not load them. `u64::MAX` when there is none.
    pub limit: AtomicU64,
    /// Mirror of `Ctl::failed.is_some()`, read on every write command.
    failed: AtomicBool,
    policy: AtomicU8,
    ctl: Mutex<Ctl>,
    cv: Condvar,
    /// Bumped whenever `written`/`synced` advance or the state changes.
    progress: tokio::sync::watch::Sender<u64>,
    /// The manifest as last persisted.
    pub manifest: Mutex<manifest::Manifest>,
    /// Records handed over by [`flush`] and not written yet; `appended` is
    /// the logical offset of their end.
    pub(crate) pending: Mutex<Vec<u8>>,
}

impl AofIo {
    fn new(policy: Fsync) -> AofIo {
        AofIo {
            failpoints: Failpoints::from_env(),
            on: AtomicBool::new(false),
            appended: AtomicU64::new(0),
            written: AtomicU64::new(0),
            synced: AtomicU64::new(0),
            limit: AtomicU64::new(u64::MAX),
            failed: AtomicBool::new(false),
            policy: AtomicU8::new(policy.to_u8()),
            ctl: Mutex::new(Ctl {
                file: None,
                file_size: 0,
                retired: Vec::new(),
                failed: None,
                recovering: false,
                shadow_written: 0,
                shutdown: false,
                last_sync: Instant::now(),
            }),
            cv: Condvar::new(),
            progress: tokio::sync::watch::channel(0).0,
            manifest: Mutex::new(manifest::Manifest::default()),
            pending: Mutex::new(Vec::new()),
        }
    }

    pub fn policy(&self) -> Fsync {
        Fsync::from_u8(self.policy.load(Ordering::Relaxed))
    }

    /// True while writes are refused (`MISCONF`).
    pub fn is_failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }

    /// The error text behind the failed state.
    pub fn error(&self) -> Option<String> {
        self.ctl.lock().failed.clone()
    }

    fn bump(&self) {
        self.progress.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// Is the record ending at `ticket` covered (written or synced as the
    /// policy requires)? Always true when the AOF is off.
    pub fn covered(&self, ticket: u64) -> bool {
        if !self.on.load(Ordering::Acquire) {
            return true;
        }
        match self.policy() {
            Fsync::Always => self.synced.load(Ordering::Acquire) >= ticket,
            _ => {
                self.written
                    .load(Ordering::Acquire)
                    .min(self.limit.load(Ordering::Acquire))
                    >= ticket
            }
        }
    }

    /// Enters the failed state with `err`.
    fn fail(&self, ctl: &mut Ctl, what: &str, err: &std::io::Error) {
        let text = strerror(err);
        if ctl.failed.is_none() {
            crate::log::warning(&format!(
                "Error {what} the AOF file: {text}. Refusing writes until a rewrite of the AOF succeeds."
            ));
        }
        ctl.failed = Some(text);
        self.failed.store(true, Ordering::Relaxed);
        self.bump();
    }

    /// Makes the records up to `point` count as written and synced (a
    /// durable base covers them) and leaves the failed state.
    fn recovered(&self, point: u64) {
        let mut ctl = self.ctl.lock();
        let w = point.max(ctl.shadow_written);
        ctl.recovering = false;
        ctl.failed = None;
        self.limit.store(u64::MAX, Ordering::Release);
        self.failed.store(false, Ordering::Relaxed);
        self.written.fetch_max(w, Ordering::AcqRel);
        self.synced.fetch_max(point, Ordering::AcqRel);
        drop(ctl);
        self.cv.notify_all();
        self.bump();
    }

    /// Waits until `ticket` is covered (see [`AofIo::covered`]).
    pub async fn wait(&self, ticket: u64) {
        let mut rx = self.progress.subscribe();
        while !self.covered(ticket) {
            if rx.changed().await.is_err() {
                return;
            }
        }
    }
}

/// Rewrite bookkeeping (INFO persistence).
#[derive(Default)]
pub struct RewriteStatus {
    pub in_progress: bool,
    pub started_ms: i64,
    pub last_secs: i64,
    pub last_ok: bool,
    pub rewrites: u64,
    pub consecutive_failures: u64,
    /// Filled by the rewrite thread.
    pub outcome: Arc<Mutex<Option<rewrite::Outcome>>>,
    /// Last recovery attempt (unix ms).
    pub last_recovery_ms: i64,
}

/// The AOF's part of [`State`].
pub struct Aof {
    pub io: Arc<AofIo>,
    /// Records of the running batch, not written yet.
    pub buf: Vec<u8>,
    /// Database of the last SELECT written to the current file.
    pub selected_db: Option<usize>,
    /// Checksum segment of the current file: CRC and length of the bytes
    /// since its last `#CRC64` line.
    seg: (u64, u64),
    pub fsync: Fsync,
    timestamps: bool,
    last_ts: i64,
    /// `dir/appenddirname`, and `appendfilename`.
    pub dir: PathBuf,
    pub prefix: String,
    /// Sequence number of the current incremental file.
    pub incr_seq: u64,
    /// Sizes: base file, older incremental files, the current one.
    pub base_size: u64,
    pub older_incr_size: u64,
    pub incr_size: u64,
    /// `aof_current_size` when the last rewrite finished (auto rewrite).
    pub rewrite_base_size: u64,
    pub rw: RewriteStatus,
    syncer: Option<std::thread::JoinHandle<()>>,
}

impl Aof {
    pub fn new(config: &Config) -> Aof {
        let policy = Fsync::from_config(config.get("appendfsync"));
        Aof {
            io: Arc::new(AofIo::new(policy)),
            buf: Vec::new(),
            selected_db: None,
            seg: (0, 0),
            fsync: policy,
            timestamps: config.get_bool("aof-timestamp-enabled"),
            last_ts: 0,
            dir: Path::new(config.get("dir")).join(config.get("appenddirname")),
            prefix: config.get("appendfilename").to_string(),
            incr_seq: 0,
            base_size: 0,
            older_incr_size: 0,
            incr_size: 0,
            rewrite_base_size: 0,
            rw: RewriteStatus {
                last_ok: true,
                ..Default::default()
            },
            syncer: None,
        }
    }

    pub fn is_on(&self) -> bool {
        self.io.on.load(Ordering::Relaxed)
    }

    /// `aof_current_size`.
    pub fn current_size(&self) -> u64 {
        self.base_size + self.older_incr_size + self.incr_size
    }
}

/// Appends `argv` (in database `db`) to the pending records.
pub fn feed(state: &mut State, db: usize, argv: &[Bytes]) {
    let aof = &mut state.aof;
    if !aof.is_on() {
        return;
    }
    if aof.timestamps {
        let s = crate::server::now_ms() / 1000;
        if s != aof.last_ts {
            aof.last_ts = s;
            aof.buf.extend_from_slice(format!("#TS:{s}\r\n").as_bytes());
        }
    }
    if aof.selected_db != Some(db) {
        let n = itoa::Buffer::new().format(db).as_bytes().to_vec();
        format::encode(&mut aof.buf, &[&b"SELECT"[..], &n]);
        aof.selected_db = Some(db);
    }
    format::encode(&mut aof.buf, argv);
}

/// Hands the records of the running batch (plus their `#CRC64` line) to
/// the writer: they join `AofIo::pending`, in execution order, and are
/// written by [`AofIo::write_through`]. Returns true if there were records.
pub fn flush(state: &mut State) -> bool {
    let aof = &mut state.aof;
    if aof.buf.is_empty() {
        return false;
    }
    let mut data = std::mem::take(&mut aof.buf);
    let crc = crc64(aof.seg.0, &data);
    let len = aof.seg.1 + data.len() as u64;
    data.extend_from_slice(format::crc_line(crc, len).as_bytes());
    aof.seg = (0, 0);
    let n = data.len() as u64;
    aof.incr_size += n;
    // `appended` moves with `pending`, under its lock (flushes themselves
    // are serialized by the state lock).
    let mut p = aof.io.pending.lock();
    if p.is_empty() && p.capacity() < data.capacity() {
        *p = data;
    } else {
        p.extend_from_slice(&data);
    }
    let end = aof.io.appended.load(Ordering::Relaxed) + n;
    aof.io.appended.store(end, Ordering::Release);
    true
}

impl AofIo {
    /// Makes sure the records before `ticket` went through `write(2)`:
    /// whoever comes first writes everything pending, for every batch
    /// queued so far (one `write(2)` for many connections). Runs without
    /// the state lock; `ctl` orders the writes.
    pub fn write_through(&self, ticket: u64) {
        if self.written.load(Ordering::Acquire) >= ticket {
            return;
        }
        let mut ctl = self.ctl.lock();
        self.write_pending(&mut ctl);
    }

    /// Writes everything pending to the current file (`ctl` held).
    fn write_pending(&self, ctl: &mut Ctl) {
        let (data, end) = {
            let mut p = self.pending.lock();
            (
                std::mem::take(&mut *p),
                self.appended.load(Ordering::Acquire),
            )
        };
        if data.is_empty() {
            return;
        }
        if ctl.failed.is_some() && !ctl.recovering {
            // Nothing more goes to a damaged file; the recovery rewrite's
            // snapshot covers these records.
            return;
        }
        let Some(file) = ctl.file.clone() else {
            return;
        };
        let result = self
            .failpoints
            .check("aof.write")
            .and_then(|()| (&*file).write_all(&data));
        match result {
            Ok(()) => {
                ctl.file_size += data.len() as u64;
                if ctl.recovering {
                    ctl.shadow_written = end;
                } else {
                    self.written.store(end, Ordering::Release);
                }
                if self.policy() == Fsync::Always {
                    self.cv.notify_one();
                }
            }
            Err(e) => {
                // Cut a partial write back so the file ends on a whole record.
                let good = ctl.file_size;
                if self.failpoints.check("aof.truncate").is_err() || file.set_len(good).is_err() {
                    crate::log::warning("Could not remove the partial AOF write with ftruncate");
                }
                self.fail(ctl, "writing", &e);
            }
        }
        let mut p = self.pending.lock();
        if p.is_empty() && p.capacity() < data.capacity() && data.capacity() <= 1 << 20 {
            // Keep the buffer for the next batches.
            let mut data = data;
            data.clear();
            *p = data;
        }
    }
}

/// Called when a connection finished a batch (still under the lock):
/// queues the batch's records and returns the ticket its replies must
/// wait for, if any; the connection then calls [`complete`] without the
/// lock (see the module docs).
pub fn batch_end(state: &mut State) -> Option<u64> {
    let wrote = flush(state);
    let io = &state.aof.io;
    if !io.on.load(Ordering::Relaxed) {
        return None;
    }
    if !wrote && (io.is_failed() || state.aof.fsync != Fsync::Always) {
        return None;
    }
    let t = io.appended.load(Ordering::Acquire);
    (!io.covered(t)).then_some(t)
}

/// Completes a ticket from [`batch_end`] (without the state lock): writes
/// the pending records if nobody did yet, then waits until the ticket is
/// covered. Returns false when the connection must close.
pub async fn complete(io: &AofIo, ticket: u64, client: &ClientIo) -> bool {
    io.write_through(ticket);
    wait_ticket(io, ticket, client).await
}

/// Waits for a ticket from [`batch_end`]; gives up if the client is
/// killed meanwhile. Returns false when the connection must close.
pub async fn wait_ticket(io: &AofIo, ticket: u64, client: &ClientIo) -> bool {
    if io.covered(ticket) {
        return true;
    }
    let killed = async {
        while !client.is_killed() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::select! {
        _ = io.wait(ticket) => !client.is_killed(),
        _ = killed => false,
    }
}

/// Before a connection writes bytes other clients queued for it (a served
/// blocking command's reply, say): waits until the records of the batch
/// that produced them are covered. Returns false when the connection must
/// close.
pub async fn before_outbox(shared: &Arc<Shared>, client: &ClientIo) -> bool {
    let io = {
        let st = shared.state.lock();
        if !st.aof.is_on() || st.aof.io.is_failed() {
            return true;
        }
        // Holding the lock means the batch that queued the bytes is over,
        // so its records are counted in `appended`.
        let t = st.aof.io.appended.load(Ordering::Acquire);
        if st.aof.io.covered(t) {
            return true;
        }
        (st.aof.io.clone(), t)
    };
    complete(&io.0, io.1, client).await
}

/// `MISCONF` for a write command while the AOF is failing, or after a
/// failed background save (`crate::persist::writes_denied`, checked first
/// as Redis's `writeCommandsDeniedByDiskError` does): write commands, EXEC
/// of a transaction with writes, and PING.
pub fn deny_write(state: &State, client: &Client, cmd: &CommandSpec) -> Option<Error> {
    let io = &state.aof.io;
    let aof_failed = io.is_failed() && io.on.load(Ordering::Relaxed);
    let rdb_failed = crate::persist::writes_denied(state);
    if !aof_failed && !rdb_failed {
        return None;
    }
    let write = cmd.flags.has(Flags::WRITE)
        || cmd.name == "ping"
        || (cmd.name == "exec"
            && client
                .multi
                .as_ref()
                .is_some_and(|m| m.queued.iter().any(|(c, _)| c.flags.has(Flags::WRITE))));
    if !write {
        return None;
    }
    if rdb_failed {
        return Some(Error::custom(crate::persist::BGSAVE_ERR));
    }
    let err = io.error().unwrap_or_else(|| "Unknown error".into());
    Some(Error::custom(format!(
        "MISCONF Errors writing to the AOF file: {err}"
    )))
}

/// The syncer thread: fsyncs per the policy, never under the state lock.
fn syncer(io: Arc<AofIo>) {
    let mut ctl = io.ctl.lock();
    loop {
        if ctl.shutdown {
            return;
        }
        let policy = io.policy();
        let written = io.written.load(Ordering::Acquire);
        let target = written.min(io.limit.load(Ordering::Acquire));
        let synced = io.synced.load(Ordering::Acquire);
        let every = Duration::from_secs(1);
        let due = match policy {
            Fsync::Always => target > synced,
            Fsync::Everysec => target > synced && ctl.last_sync.elapsed() >= every,
            Fsync::No => false,
        };
        if !due || ctl.failed.is_some() || ctl.recovering {
            let wait = match policy {
                Fsync::Everysec if target > synced => every.saturating_sub(ctl.last_sync.elapsed()),
                _ => every,
            };
            io.cv.wait_for(&mut ctl, wait.max(Duration::from_millis(1)));
            continue;
        }
        let mut files: Vec<Arc<File>> = std::mem::take(&mut ctl.retired);
        if let Some(f) = ctl.file.clone() {
            files.push(f);
        }
        let result = parking_lot::MutexGuard::unlocked(&mut ctl, || {
            io.failpoints.check("aof.fsync")?;
            for f in &files {
                f.sync_data()?;
            }
            Ok::<(), std::io::Error>(())
        });
        ctl.last_sync = Instant::now();
        match result {
            Ok(()) => {
                io.synced.fetch_max(target, Ordering::AcqRel);
                io.bump();
            }
            Err(e) => io.fail(&mut ctl, "fsyncing", &e),
        }
    }
}

/// Opens `name` in the AOF directory for appending (creating it).
fn open_append(dir: &Path, name: &str) -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(name))
}

/// Creates `name` empty for appending. A file of that name can only be an
/// orphan no manifest names (left by a crash between opening it and
/// listing it): its records were never acknowledged, and appending after
/// them would resurrect them, so it is replaced.
fn open_new(dir: &Path, name: &str) -> std::io::Result<File> {
    match std::fs::remove_file(dir.join(name)) {
        Ok(()) => crate::log::notice(&format!("Removed the orphan AOF file {name}")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    std::fs::OpenOptions::new()
        .create_new(true)
        .append(true)
        .open(dir.join(name))
}

/// Starts appending to incremental file `seq` (the existing last file of
/// the AOF, or a `new` one) of size `size`, whose trailing bytes since its
/// last `#CRC64` line have checksum state `seg`. Turns the AOF and
/// propagation on.
pub fn start_writing(
    state: &mut State,
    seq: u64,
    size: u64,
    seg: (u64, u64),
    new: bool,
) -> std::io::Result<()> {
    let name = manifest::incr_name(&state.aof.prefix, seq);
    let file = if new {
        open_new(&state.aof.dir, &name)?
    } else {
        open_append(&state.aof.dir, &name)?
    };
    let aof = &mut state.aof;
    aof.incr_seq = seq;
    aof.incr_size = size;
    aof.seg = seg;
    aof.selected_db = None;
    aof.fsync = Fsync::from_config(state.config.get("appendfsync"));
    aof.io.policy.store(aof.fsync.to_u8(), Ordering::Relaxed);
    {
        let mut ctl = aof.io.ctl.lock();
        aof.io.write_pending(&mut ctl);
        ctl.file = Some(Arc::new(file));
        ctl.file_size = size;
        ctl.shutdown = false;
    }
    let end = aof.io.appended.load(Ordering::Acquire);
    aof.io.written.store(end, Ordering::Release);
    aof.io.synced.store(end, Ordering::Release);
    aof.io.on.store(true, Ordering::Release);
    if aof.syncer.is_none() {
        let io = aof.io.clone();
        aof.syncer = Some(
            std::thread::Builder::new()
                .name("aof-fsync".into())
                .spawn(move || syncer(io))?,
        );
    }
    state.prop.enabled = true;
    Ok(())
}

/// Switches appending to a new incremental file `seq` (a rewrite's
/// rotation). `keep_old`: the old file stays part of the AOF (its last
/// records must still be fsynced); otherwise it is abandoned.
fn rotate(state: &mut State, seq: u64, keep_old: bool, recovering: bool) -> std::io::Result<()> {
    flush(state);
    let name = manifest::incr_name(&state.aof.prefix, seq);
    let file = open_new(&state.aof.dir, &name)?;
    let aof = &mut state.aof;
    let point = aof.io.appended.load(Ordering::Acquire);
    let mut ctl = aof.io.ctl.lock();
    // Records before the rotation point go to the old file.
    aof.io.write_pending(&mut ctl);
    let old = ctl.file.replace(Arc::new(file));
    ctl.file_size = 0;
    if let Some(old) = old {
        if keep_old && aof.fsync != Fsync::No {
            ctl.retired.push(old);
        }
    }
    if recovering {
        ctl.recovering = true;
        ctl.shadow_written = point;
    } else {
        aof.io.limit.store(point, Ordering::Release);
    }
    drop(ctl);
    aof.older_incr_size += aof.incr_size;
    aof.incr_size = 0;
    aof.incr_seq = seq;
    aof.selected_db = None;
    aof.seg = (0, 0);
    Ok(())
}

/// Turns the AOF off (CONFIG SET appendonly no): flushes, fsyncs, closes
/// the file and releases every waiter.
pub fn stop(state: &mut State) {
    flush(state);
    let io = state.aof.io.clone();
    io.on.store(false, Ordering::Release);
    state.prop.enabled = false;
    let mut ctl = io.ctl.lock();
    io.write_pending(&mut ctl);
    let mut files = std::mem::take(&mut ctl.retired);
    files.extend(ctl.file.take());
    for f in files {
        let _ = f.sync_data();
    }
    drop(ctl);
    let end = io.appended.load(Ordering::Acquire);
    io.written.fetch_max(end, Ordering::AcqRel);
    io.synced.fetch_max(end, Ordering::AcqRel);
    io.bump();
}

/// SHUTDOWN / exit: flushes and fsyncs, stops the syncer thread.
pub fn shutdown(state: &mut State) {
    // With a cold tier, shutdown is a checkpoint: the next start reopens
    // the cold tier and replays no tail.
    let durable_cold = state
        .tier
        .store
        .as_ref()
        .is_some_and(|s| s.kind() == "rocksdb");
    if state.aof.is_on()
        && durable_cold
        && !state.aof.rw.in_progress
        && state.config.get_bool("aof-use-rdb-preamble")
    {
        crate::log::notice("Taking a checkpoint of both tiers before exiting.");
        if let Err(e) = rewrite::checkpoint_at_shutdown(state) {
            crate::log::warning(&format!("Checkpoint at shutdown failed: {e}"));
        }
    }
    if state.aof.is_on() {
        flush(state);
        let io = state.aof.io.clone();
        let mut ctl = io.ctl.lock();
        io.write_pending(&mut ctl);
        if ctl.failed.is_none() {
            let r = io
                .failpoints
                .check("aof.fsync")
                .and_then(|()| match &ctl.file {
                    Some(f) => f.sync_data(),
                    None => Ok(()),
                });
            if let Err(e) = r {
                crate::log::warning(&format!(
                    "Error fsyncing the AOF on shutdown: {}",
                    strerror(&e)
                ));
            } else {
                crate::log::notice("Calling fsync() on the AOF file.");
            }
        }
    }
    let mut ctl = state.aof.io.ctl.lock();
    ctl.shutdown = true;
    drop(ctl);
    state.aof.io.cv.notify_all();
    if let Some(t) = state.aof.syncer.take() {
        let _ = t.join();
    }
}

/// CONFIG SET of an AOF option.
pub fn config_changed(state: &mut State, name: &str) {
    match name {
        "appendfsync" => {
            let p = Fsync::from_config(state.config.get("appendfsync"));
            state.aof.fsync = p;
            state.aof.io.policy.store(p.to_u8(), Ordering::Relaxed);
            state.aof.io.cv.notify_all();
        }
        "aof-timestamp-enabled" => {
            state.aof.timestamps = state.config.get_bool("aof-timestamp-enabled");
        }
        "appendonly" => {
            let want = state.config.get_bool("appendonly");
            if want && !state.aof.is_on() {
                if let Err(e) = rewrite::enable(state) {
                    crate::log::warning(&format!("Can't turn the AOF on: {e}"));
                }
            } else if !want && state.aof.is_on() {
                stop(state);
                crate::log::notice("Background append only file rewriting stopped; AOF off");
            }
        }
        _ => {}
    }
}

/// Cron: writes pending records (active expiry), collects a finished
/// rewrite, recovers from a failure, starts an automatic rewrite.
pub fn cron(state: &mut State, now_ms: i64) {
    if flush(state) {
        let t = state.aof.io.appended.load(Ordering::Acquire);
        state.aof.io.write_through(t);
    }
    rewrite::collect(state, now_ms);
    if !state.aof.is_on() || state.aof.rw.in_progress {
        return;
    }
    if state.aof.io.is_failed() {
        if now_ms - state.aof.rw.last_recovery_ms >= 1000 {
            state.aof.rw.last_recovery_ms = now_ms;
            crate::log::notice("Trying to recover the AOF with a rewrite");
            if let Err(e) = rewrite::start(state, rewrite::Mode::Recover, None) {
                crate::log::warning(&format!("AOF recovery rewrite failed to start: {e}"));
            }
        }
        return;
    }
    let perc = state.config.get_int("auto-aof-rewrite-percentage");
    let min = state.config.get_int("auto-aof-rewrite-min-size").max(0) as u64;
    let size = state.aof.current_size();
    if perc > 0 && size > min {
        let base = state.aof.rewrite_base_size.max(1);
        let growth = (size * 100 / base) as i64 - 100;
        if growth >= perc {
            crate::log::notice(&format!(
                "Starting automatic rewriting of AOF on {growth}% growth"
            ));
            if let Err(e) = rewrite::start(state, rewrite::Mode::Normal, None) {
                crate::log::warning(&format!("Can't rewrite the AOF: {e}"));
            }
        }
    }
}

/// The `aof_*` lines of INFO persistence.
pub fn info(state: &State, now_ms: i64, out: &mut String) {
    let a = &state.aof;
    let on = a.is_on();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push_str("\r\n");
    };
    line(format!("aof_enabled:{}", i32::from(on)));
    line(format!(
        "aof_rewrite_in_progress:{}",
        i32::from(a.rw.in_progress)
    ));
    line("aof_rewrite_scheduled:0".into());
    line(format!(
        "aof_last_rewrite_time_sec:{}",
        if a.rw.rewrites == 0 && a.rw.consecutive_failures == 0 {
            -1
        } else {
            a.rw.last_secs
        }
    ));
    line(format!(
        "aof_current_rewrite_time_sec:{}",
        if a.rw.in_progress {
            (now_ms - a.rw.started_ms) / 1000
        } else {
            -1
        }
    ));
    line(format!(
        "aof_last_bgrewrite_status:{}",
        if a.rw.last_ok { "ok" } else { "err" }
    ));
    line(format!("aof_rewrites:{}", a.rw.rewrites));
    line(format!(
        "aof_rewrites_consecutive_failures:{}",
        a.rw.consecutive_failures
    ));
    line(format!(
        "aof_last_write_status:{}",
        if a.io.is_failed() { "err" } else { "ok" }
    ));
    line("aof_last_cow_size:0".into());
    line("module_fork_in_progress:0".into());
    line("module_fork_last_cow_size:0".into());
    if on {
        line(format!("aof_current_size:{}", a.current_size()));
        line(format!("aof_base_size:{}", a.base_size));
        line("aof_pending_rewrite:0".into());
        line(format!("aof_buffer_length:{}", a.buf.len()));
        line("aof_pending_bio_fsync:0".into());
        line("aof_delayed_fsync:0".into());
    }
}
