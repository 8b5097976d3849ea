//! A really full filesystem (ENOSPC from a small tmpfs, not a failpoint)
//! under the AOF, the cold tier and BGSAVE: writes are refused with the
//! documented errors, reads keep working, nothing acknowledged is lost,
//! and everything recovers once space is freed.
//!
//! Each test mounts its own tmpfs (root only; elsewhere the test prints
//! `skipping: cannot mount tmpfs (...)` and passes), fills it with a
//! filler file to leave a little room, and deletes the filler to "recover
//! the disk". The injected-error variants of the AOF paths live in
//! `tests/aof.rs`.

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{RawConn, Resp, TestServer};

/// A tmpfs of a fixed size mounted on a fresh temporary directory,
/// unmounted on drop.
struct Tmpfs {
    path: PathBuf,
    // Dropped after the unmount (field order): removes the empty dir.
    _dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Result<Tmpfs, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount exited with {}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Tmpfs {
            path: dir.path().to_path_buf(),
            _dir: dir,
        })
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn filler(&self) -> PathBuf {
        self.path.join("filler")
    }

    /// Fills the filesystem with a filler file, then gives back `room`
    /// bytes of it.
    fn fill(&self, room: u64) {
        let mut f = std::fs::File::create(self.filler()).expect("create filler");
        let chunk = vec![0x5au8; 256 << 10];
        loop {
            match f.write_all(&chunk) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(28) => break,
                Err(e) => panic!("filling the tmpfs: {e}"),
            }
        }
        let len = f.metadata().expect("filler size").len();
        f.set_len(len.saturating_sub(room)).expect("shrink filler");
    }

    /// Deletes the filler: the disk has room again.
    fn recover(&self) {
        std::fs::remove_file(self.filler()).expect("remove filler");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(&self.path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Mounts a tmpfs of `size`, or skips the test (returns) when this
/// machine does not allow it (not root, a container without the right).
macro_rules! tmpfs_or_skip {
    ($size:expr) => {
        match Tmpfs::mount($size) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("skipping: cannot mount tmpfs ({e})");
                return;
            }
        }
    };
}

/// `len` pseudo-random (incompressible) bytes, a function of `i`.
fn value(i: u64, len: usize) -> Vec<u8> {
    let mut x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn key(i: u64) -> String {
    format!("k{i}")
}

fn ok() -> Resp {
    Resp::Simple("OK".into())
}

fn bulk(v: Vec<u8>) -> Resp {
    Resp::Bulk(Some(v))
}

/// One field of `INFO <section>`.
fn info(c: &mut RawConn, section: &str, field: &str) -> String {
    let text = match c.cmd_str(&format!("INFO {section}")) {
        Resp::Bulk(Some(b)) => String::from_utf8_lossy(&b).into_owned(),
        other => panic!("INFO {section}: {other:?}"),
    };
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in INFO {section}"))
        .to_string()
}

fn int(r: Resp) -> i64 {
    match r {
        Resp::Int(i) => i,
        other => panic!("expected an integer, got {other:?}"),
    }
}

/// Polls `f` every 50 ms until it returns true; panics with `what` after
/// `secs` seconds.
fn wait_for(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------------
// AOF on a full disk
// ---------------------------------------------------------------------

const AOF_ENOSPC: &str = "MISCONF Errors writing to the AOF file: No space left on device";

/// What happened to the write that met the full disk.
enum Stopped {
    /// Its reply is held (the records could not be written).
    Held(u64),
    /// It was refused at once (an earlier write had failed).
    Refused(u64),
}

/// `appendonly yes` with `appendfsync <fsync>` on a tmpfs: SETs until the
/// disk is full, then the documented failed state, recovery once space is
/// freed, and a restart on the same directory that finds every
/// acknowledged write.
fn aof_on_a_full_disk(fsync: &str) {
    let fs = tmpfs_or_skip!("8m");
    let opts = [("appendonly", "yes"), ("appendfsync", fsync)];
    let s = TestServer::start_in(fs.path(), &opts).expect("start");
    let mut c = s.raw();
    for i in 0..50 {
        assert_eq!(c.cmd(&[b"SET", key(i).as_bytes(), &value(i, 1000)]), ok());
    }
    let mut acked: BTreeSet<u64> = (0..50).collect();
    fs.fill(300 << 10);

    // One writer, one SET at a time; a reply that does not come is held.
    let (tx, rx) = mpsc::channel::<(u64, Resp)>();
    let port = s.port;
    let writer = std::thread::spawn(move || {
        let mut w = RawConn::connect(port);
        for i in 50..100_000u64 {
            let r = w.cmd(&[b"SET", key(i).as_bytes(), &value(i, 1000)]);
            let done = r != ok();
            if tx.send((i, r)).is_err() || done {
                return;
            }
        }
    });
    let stopped = loop {
        match rx.recv_timeout(Duration::from_secs(2)) {
            Ok((i, r)) if r == ok() => {
                acked.insert(i);
            }
            Ok((i, r)) => {
                assert_eq!(r, Resp::Error(AOF_ENOSPC.into()), "write {i}");
                break Stopped::Refused(i);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                break Stopped::Held(acked.last().map_or(0, |l| l + 1));
            }
            Err(e) => panic!("writer gone: {e}"),
        }
    };
    assert!(acked.len() > 100, "the disk filled too early");
    eprintln!(
        "appendfsync {fsync}: {} writes acknowledged, then write {}",
        acked.len(),
        match stopped {
            Stopped::Held(i) => format!("{i} held"),
            Stopped::Refused(i) => format!("{i} refused"),
        }
    );

    // The failed state: writes (and PING) refused with the real errno's
    // text, reads keep working.
    assert_eq!(c.cmd_str("SET probe 1"), Resp::Error(AOF_ENOSPC.into()));
    assert_eq!(c.cmd_str("PING"), Resp::Error(AOF_ENOSPC.into()));
    for i in [0, 49, 50, *acked.last().expect("acked")] {
        assert_eq!(c.cmd_str(&format!("GET {}", key(i))), bulk(value(i, 1000)));
    }
    assert_eq!(info(&mut c, "persistence", "aof_last_write_status"), "err");
    // The recovery rewrite cannot succeed while the disk is full.
    wait_for(5, "a failed recovery rewrite", || {
        info(&mut c, "persistence", "aof_last_bgrewrite_status") == "err"
    });
    assert_eq!(c.cmd_str("SET probe 1"), Resp::Error(AOF_ENOSPC.into()));

    fs.recover();
    wait_for(10, "writes accepted again", || {
        c.cmd_str("SET after 1") == ok()
    });
    assert_eq!(info(&mut c, "persistence", "aof_last_write_status"), "ok");
    match stopped {
        Stopped::Held(i) => {
            // The held reply is released once a rewrite made it durable.
            let (j, r) = rx
                .recv_timeout(Duration::from_secs(10))
                .expect("held reply released");
            assert_eq!((j, r), (i, ok()));
            acked.insert(i);
        }
        Stopped::Refused(i) => {
            // Never acknowledged, never applied.
            assert_eq!(c.cmd_str(&format!("EXISTS {}", key(i))), Resp::Int(0));
        }
    }
    // The writer goes on after a released reply; stop it at a known point.
    drop(rx);
    let _ = writer.join();
    let mut extra: Vec<u64> = Vec::new();
    let last = *acked.last().expect("acked");
    for i in last + 1..last + 100_000 {
        if int(c.cmd_str(&format!("EXISTS {}", key(i)))) == 0 {
            break;
        }
        // Written by the writer after its last reply we read: its reply
        // was sent, so it counts as acknowledged.
        extra.push(i);
    }
    acked.extend(extra);
    drop(c);
    drop(s);
    // The failed recovery attempts left nothing behind: one base, one
    // incremental file, the manifest.
    let mut files: Vec<String> = std::fs::read_dir(fs.path().join("appendonlydir"))
        .expect("aof dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files.len(), 3, "{files:?}");
    assert!(files[0].ends_with(".base.rdb"), "{files:?}");
    assert!(files[1].ends_with(".incr.aof"), "{files:?}");
    assert_eq!(files[2], "appendonly.aof.manifest");

    // Restart on the same directory: every acknowledged write is there.
    let s = TestServer::start_in(fs.path(), &opts).expect("restart");
    let mut c = s.raw();
    for &i in &acked {
        assert_eq!(
            c.cmd_str(&format!("GET {}", key(i))),
            bulk(value(i, 1000)),
            "acknowledged write {i} lost"
        );
    }
    assert_eq!(c.cmd_str("GET after"), bulk(b"1".to_vec()));
    assert_eq!(c.cmd_str("EXISTS probe"), Resp::Int(0));
    assert_eq!(int(c.cmd_str("DBSIZE")), acked.len() as i64 + 1);
}

#[test]
fn aof_always_on_a_full_disk_refuses_writes_and_loses_nothing() {
    aof_on_a_full_disk("always");
}

#[test]
fn aof_everysec_on_a_full_disk_refuses_writes_and_loses_nothing() {
    aof_on_a_full_disk("everysec");
}

// ---------------------------------------------------------------------
// BGSAVE on a full disk
// ---------------------------------------------------------------------

fn bgsave_done(c: &mut RawConn) {
    wait_for(10, "BGSAVE finished", || {
        info(c, "persistence", "rdb_bgsave_in_progress") == "0"
    });
}

fn rdb_temp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("read dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("temp-"))
        .collect()
}

#[test]
fn bgsave_on_a_full_disk_fails_cleanly_and_succeeds_once_space_is_freed() {
    let fs = tmpfs_or_skip!("8m");
    // The previous dump, from an earlier run.
    {
        let s = TestServer::start_in(fs.path(), &[]).expect("start");
        let mut c = s.raw();
        for i in 0..300 {
            assert_eq!(c.cmd(&[b"SET", key(i).as_bytes(), &value(i, 1000)]), ok());
        }
        assert_eq!(c.cmd_str("SAVE"), ok());
    }
    let dump = fs.path().join("dump.rdb");
    let before = std::fs::read(&dump).expect("dump.rdb");
    let s = TestServer::start_in(fs.path(), &[]).expect("restart");
    let mut c = s.raw();
    assert_eq!(int(c.cmd_str("DBSIZE")), 300);
    let lastsave = int(c.cmd_str("LASTSAVE"));
    for i in 300..600 {
        assert_eq!(c.cmd(&[b"SET", key(i).as_bytes(), &value(i, 1000)]), ok());
    }
    fs.fill(100 << 10);

    assert_eq!(
        c.cmd_str("BGSAVE"),
        Resp::Simple("Background saving started".into())
    );
    bgsave_done(&mut c);
    assert_eq!(info(&mut c, "persistence", "rdb_last_bgsave_status"), "err");
    assert_eq!(int(c.cmd_str("LASTSAVE")), lastsave);
    assert_eq!(std::fs::read(&dump).expect("dump.rdb"), before);
    assert_eq!(rdb_temp_files(fs.path()), Vec::<String>::new());
    assert_eq!(
        info(&mut c, "persistence", "rdb_changes_since_last_save"),
        "300"
    );
    // No save points: writes go on, as in Redis.
    assert_eq!(c.cmd_str("SET x 1"), ok());
    assert_eq!(c.cmd_str("GET k0"), bulk(value(0, 1000)));

    fs.recover();
    // LASTSAVE has a one-second resolution.
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(
        c.cmd_str("BGSAVE"),
        Resp::Simple("Background saving started".into())
    );
    bgsave_done(&mut c);
    assert_eq!(info(&mut c, "persistence", "rdb_last_bgsave_status"), "ok");
    assert!(int(c.cmd_str("LASTSAVE")) > lastsave);
    assert_eq!(
        info(&mut c, "persistence", "rdb_changes_since_last_save"),
        "0"
    );
    assert_eq!(rdb_temp_files(fs.path()), Vec::<String>::new());
    drop(c);
    drop(s);
    let s = TestServer::start_in(fs.path(), &[]).expect("restart");
    let mut c = s.raw();
    assert_eq!(int(c.cmd_str("DBSIZE")), 601);
    for i in 0..600 {
        assert_eq!(c.cmd_str(&format!("GET {}", key(i))), bulk(value(i, 1000)));
    }
}

const RDB_MISCONF: &str = "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.";

#[test]
fn failed_bgsave_with_save_points_refuses_writes_like_redis() {
    let fs = tmpfs_or_skip!("4m");
    // A save point that is never due by itself during the test.
    let s = TestServer::start_in(fs.path(), &[("save", "3600 1")]).expect("start");
    let mut c = s.raw();
    for i in 0..300 {
        assert_eq!(c.cmd(&[b"SET", key(i).as_bytes(), &value(i, 1000)]), ok());
    }
    fs.fill(64 << 10);
    assert_eq!(
        c.cmd_str("BGSAVE"),
        Resp::Simple("Background saving started".into())
    );
    bgsave_done(&mut c);
    assert_eq!(info(&mut c, "persistence", "rdb_last_bgsave_status"), "err");
    // Redis's writeCommandsDeniedByDiskError: writes and PING refused,
    // reads served, a transaction with a refused write aborted.
    assert_eq!(c.cmd_str("SET x 1"), Resp::Error(RDB_MISCONF.into()));
    assert_eq!(c.cmd_str("PING"), Resp::Error(RDB_MISCONF.into()));
    assert_eq!(c.cmd_str("GET k1"), bulk(value(1, 1000)));
    assert_eq!(c.cmd_str("MULTI"), ok());
    assert_eq!(c.cmd_str("SET x 1"), Resp::Error(RDB_MISCONF.into()));
    assert_eq!(
        c.cmd_str("EXEC"),
        Resp::Error("EXECABORT Transaction discarded because of previous errors.".into())
    );
    match c.cmd(&[b"EVAL", b"return redis.call('set','x','1')", b"0"]) {
        Resp::Error(e) => assert!(e.starts_with(&format!("{RDB_MISCONF} script: ")), "{e}"),
        other => panic!("{other:?}"),
    }
    // Without the option (or without save points) writes are accepted.
    assert_eq!(c.cmd_str("CONFIG SET stop-writes-on-bgsave-error no"), ok());
    assert_eq!(c.cmd_str("SET x 1"), ok());
    assert_eq!(
        c.cmd_str("CONFIG SET stop-writes-on-bgsave-error yes"),
        ok()
    );
    assert_eq!(c.cmd_str("SET x 2"), Resp::Error(RDB_MISCONF.into()));
    // A successful BGSAVE lifts the refusal.
    fs.recover();
    assert_eq!(
        c.cmd_str("BGSAVE"),
        Resp::Simple("Background saving started".into())
    );
    bgsave_done(&mut c);
    assert_eq!(info(&mut c, "persistence", "rdb_last_bgsave_status"), "ok");
    assert_eq!(c.cmd_str("SET x 3"), ok());
}

// ---------------------------------------------------------------------
// The cold tier on a full disk (a real server process: `maxmemory` is
// measured on the process's own allocator)
// ---------------------------------------------------------------------

/// A `strata-server` process, killed on drop (its log is printed if the
/// test failed).
struct Proc {
    child: Child,
    port: u16,
    log: tempfile::NamedTempFile,
}

impl Proc {
    fn start(dir: &Path, args: &[&str]) -> Proc {
        let port = common::free_port();
        let log = tempfile::NamedTempFile::new().expect("log file");
        let out = log.reopen().expect("log file");
        let err = log.reopen().expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_strata-server"))
            .args(["--port", &port.to_string(), "--save", ""])
            .arg("--dir")
            .arg(dir)
            .args(args)
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("spawn strata-server");
        let mut p = Proc { child, port, log };
        wait_for(10, "strata-server answering PING", || {
            assert!(p.alive(), "strata-server exited");
            ping(port)
        });
        p
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn raw(&self) -> RawConn {
        RawConn::connect(self.port)
    }
}

/// True if a server on `port` answers PING within half a second (it
/// listens before loading its data, and answers only once loaded).
fn ping(port: u16) -> bool {
    use std::io::Read;
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let t = Some(Duration::from_millis(500));
    if s.set_read_timeout(t).is_err() || s.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 7];
    s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.log.path()).unwrap_or_default();
            eprintln!("--- strata-server log ---\n{log}--- end of log ---");
        }
    }
}

const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";

fn used_memory(c: &mut RawConn) -> u64 {
    info(c, "memory", "used_memory")
        .parse()
        .expect("used_memory")
}

fn info_u64(c: &mut RawConn, section: &str, field: &str) -> u64 {
    info(c, section, field)
        .parse()
        .unwrap_or_else(|e| panic!("{field}: {e}"))
}

/// The hard limit past which a tiering server falls back to its policy
/// while spills fail (`src/tier.rs`: 10% + 1 MB over `maxmemory`), plus
/// room for what one command adds past the check.
fn memory_ceiling(maxmemory: u64) -> u64 {
    maxmemory + maxmemory / 10 + (1 << 20) + (256 << 10)
}

/// Every key of `keys` reads back intact, or is gone (when `may_be_gone`);
/// returns the ones present.
fn check_keys(c: &mut RawConn, keys: &[u64], len: usize, may_be_gone: bool) -> Vec<u64> {
    let mut present = Vec::new();
    for &i in keys {
        match c.cmd_str(&format!("GET {}", key(i))) {
            Resp::Bulk(None) if may_be_gone => {}
            r => {
                assert_eq!(r, bulk(value(i, len)), "key {i}");
                present.push(i);
            }
        }
    }
    present
}

#[test]
fn cold_tier_on_a_full_disk_refuses_writes_instead_of_growing_memory() {
    const MAXMEMORY: u64 = 4 << 20;
    const LEN: usize = 1000;
    // RocksDB resumes after a no-space error only once 64 MB are free.
    let fs = tmpfs_or_skip!("80m");
    let mut p = Proc::start(fs.path(), &["--maxmemory", &MAXMEMORY.to_string()]);
    let mut c = p.raw();
    fs.fill(1 << 20);

    // Spills succeed until RocksDB meets the full disk; then memory may
    // not grow past the hard limit: with `noeviction`, Redis's OOM error.
    let mut acked: Vec<u64> = Vec::new();
    let mut refused = None;
    for i in 0..40_000u64 {
        match c.cmd(&[b"SET", key(i).as_bytes(), &value(i, LEN)]) {
            r if r == ok() => acked.push(i),
            Resp::Error(e) => {
                assert_eq!(e, OOM, "write {i}");
                refused = Some(i);
                break;
            }
            other => panic!("write {i}: {other:?}"),
        }
    }
    let used = used_memory(&mut c);
    let Some(refused) = refused else {
        panic!("40 MB written with maxmemory 4 MB on a full disk and never refused (used_memory {used})");
    };
    assert!(p.alive(), "strata-server died");
    assert!(used < memory_ceiling(MAXMEMORY), "used_memory {used}");
    assert!(
        info_u64(&mut c, "tiering", "cold_keys") > 0,
        "nothing spilled before the disk filled"
    );
    assert_eq!(info(&mut c, "tiering", "spill_failing"), "1");
    assert!(info_u64(&mut c, "tiering", "spill_errors") > 0);
    // Not the disk budget: that one is tier-max-disk.
    assert_eq!(info(&mut c, "tiering", "tier_disk_full"), "0");
    // Still refused.
    assert_eq!(
        c.cmd(&[b"SET", key(refused).as_bytes(), b"v"]),
        Resp::Error(OOM.into())
    );
    assert_eq!(int(c.cmd_str("DBSIZE")), acked.len() as i64);
    assert_eq!(
        c.cmd_str(&format!("GET {}", key(refused))),
        Resp::Bulk(None)
    );

    // An eviction policy deletes victims instead, as with tier-max-disk.
    // (Before any read promotes a cold key: deleting a promoted key needs
    // a cold-tier write, see `cold_keys_deleted_while_the_disk_refuses_writes_stay_deleted`.)
    assert_eq!(c.cmd_str("CONFIG SET maxmemory-policy allkeys-lru"), ok());
    let mut next = refused;
    for _ in 0..1000 {
        assert_eq!(
            c.cmd(&[b"SET", key(next).as_bytes(), &value(next, LEN)]),
            ok()
        );
        acked.push(next);
        next += 1;
    }
    assert!(info_u64(&mut c, "stats", "evicted_keys") > 0);
    let used = used_memory(&mut c);
    assert!(used < memory_ceiling(MAXMEMORY), "used_memory {used}");
    // Back to noeviction: the room freed is used, then OOM again.
    assert_eq!(c.cmd_str("CONFIG SET maxmemory-policy noeviction"), ok());
    loop {
        match c.cmd(&[b"SET", key(next).as_bytes(), &value(next, LEN)]) {
            r if r == ok() => acked.push(next),
            r => {
                assert_eq!(r, Resp::Error(OOM.into()));
                break;
            }
        }
        next += 1;
        assert!(next - refused < 10_000, "never refused again");
    }
    // Reads of both tiers keep working: every acknowledged key that was
    // not evicted is intact.
    let present = check_keys(&mut c, &acked, LEN, true);
    assert!(present.len() < acked.len());
    assert_eq!(int(c.cmd_str("DBSIZE")), present.len() as i64);
    acked = present;

    // The disk comes back: RocksDB resumes, spilling too, and writes are
    // accepted again.
    fs.recover();
    // A write may be accepted before spills resume (memory between the
    // limit and the hard limit): wait for the spills.
    wait_for(
        20,
        "spills and writes resumed after the disk recovered",
        || match c.cmd(&[b"SET", key(next).as_bytes(), &value(next, LEN)]) {
            r if r == ok() => {
                acked.push(next);
                next += 1;
                info(&mut c, "tiering", "spill_failing") == "0"
            }
            Resp::Error(e) => {
                assert_eq!(e, OOM);
                false
            }
            other => panic!("{other:?}"),
        },
    );
    for i in next..next + 2000 {
        assert_eq!(c.cmd(&[b"SET", key(i).as_bytes(), &value(i, LEN)]), ok());
        acked.push(i);
    }
    assert_eq!(info(&mut c, "tiering", "spill_failing"), "0");
    let used = used_memory(&mut c);
    assert!(used < memory_ceiling(MAXMEMORY), "used_memory {used}");
    assert_eq!(int(c.cmd_str("DBSIZE")), acked.len() as i64);
    check_keys(&mut c, &acked, LEN, false);
    assert!(p.alive());
}

/// Writes `LEN`-byte values from `from` until the first error, which
/// must be Redis's OOM error. Returns the keys acknowledged and the one
/// refused.
fn write_until_oom(c: &mut RawConn, from: u64, len: usize) -> (Vec<u64>, u64) {
    let mut acked = Vec::new();
    for i in from..from + 40_000 {
        match c.cmd(&[b"SET", key(i).as_bytes(), &value(i, len)]) {
            r if r == ok() => acked.push(i),
            r => {
                assert_eq!(r, Resp::Error(OOM.into()), "write {i}");
                return (acked, i);
            }
        }
    }
    panic!("40 MB written and never refused");
}

#[test]
fn tier_max_disk_budget_refuses_writes_with_redis_oom_error_until_raised() {
    const MAXMEMORY: u64 = 4 << 20;
    const LEN: usize = 1000;
    // A normal disk, a 1 MB budget for the cold tier.
    let tmp = tempfile::tempdir().expect("tmp");
    let mut p = Proc::start(
        tmp.path(),
        &[
            "--maxmemory",
            &MAXMEMORY.to_string(),
            "--tier-max-disk",
            "1mb",
        ],
    );
    let mut c = p.raw();
    let (mut acked, refused) = write_until_oom(&mut c, 0, LEN);
    assert_eq!(info(&mut c, "tiering", "tier_disk_full"), "1");
    assert_eq!(info(&mut c, "tiering", "spill_failing"), "0");
    assert!(info_u64(&mut c, "tiering", "cold_keys") > 0);
    let used = used_memory(&mut c);
    assert!(used < memory_ceiling(MAXMEMORY), "used_memory {used}");
    // Reads (which bring cold keys back into memory) keep working.
    assert_eq!(int(c.cmd_str("DBSIZE")), acked.len() as i64);
    check_keys(&mut c, &acked, LEN, false);
    // Raising the budget lets spilling go on.
    assert_eq!(c.cmd_str("CONFIG SET tier-max-disk 0"), ok());
    let mut next = refused;
    wait_for(10, "writes accepted after raising tier-max-disk", || {
        if c.cmd(&[b"SET", key(next).as_bytes(), &value(next, LEN)]) != ok() {
            return false;
        }
        acked.push(next);
        next += 1;
        true
    });
    for i in next..next + 2000 {
        assert_eq!(c.cmd(&[b"SET", key(i).as_bytes(), &value(i, LEN)]), ok());
        acked.push(i);
    }
    assert_eq!(info(&mut c, "tiering", "tier_disk_full"), "0");
    assert_eq!(int(c.cmd_str("DBSIZE")), acked.len() as i64);
    check_keys(&mut c, &acked, LEN, false);
    assert!(p.alive());
}

/// Deleting a key whose cold record cannot be deleted (the store refuses
/// writes) must not answer 0 for an existing key, nor let the deleted
/// key come back from its record: the engine remembers such records,
/// ignores them on every lookup, and deletes them once the disk recovers.
#[test]
fn cold_keys_deleted_while_the_disk_refuses_writes_stay_deleted() {
    const LEN: usize = 1000;
    let fs = tmpfs_or_skip!("80m");
    let p = Proc::start(fs.path(), &["--maxmemory", "4mb"]);
    let mut c = p.raw();
    fs.fill(1 << 20);
    let (acked, _) = write_until_oom(&mut c, 0, LEN);
    assert_eq!(info(&mut c, "tiering", "spill_failing"), "1");
    // DEL without reading the value first (cold keys stay cold)...
    for &i in &acked[..20] {
        assert_eq!(
            c.cmd_str(&format!("DEL {}", key(i))),
            Resp::Int(1),
            "DEL {i}"
        );
        assert_eq!(
            c.cmd_str(&format!("EXISTS {}", key(i))),
            Resp::Int(0),
            "{i}"
        );
    }
    // ... and after a read promoted them (their record stays on disk).
    for &i in &acked[20..40] {
        assert_eq!(c.cmd_str(&format!("GET {}", key(i))), bulk(value(i, LEN)));
        assert_eq!(
            c.cmd_str(&format!("DEL {}", key(i))),
            Resp::Int(1),
            "DEL {i}"
        );
        assert_eq!(
            c.cmd_str(&format!("GET {}", key(i))),
            Resp::Bulk(None),
            "{i}"
        );
    }
    assert_eq!(int(c.cmd_str("DBSIZE")), acked.len() as i64 - 40);
    let keys = c.cmd_str("KEYS *");
    let Resp::Array(Some(keys)) = keys else {
        panic!("KEYS: {keys:?}");
    };
    assert_eq!(keys.len(), acked.len() - 40);
    // The disk recovers: the deletes are redone, nothing comes back.
    fs.recover();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    for &i in &acked[..40] {
        assert_eq!(
            c.cmd_str(&format!("EXISTS {}", key(i))),
            Resp::Int(0),
            "{i}"
        );
    }
    assert_eq!(int(c.cmd_str("DBSIZE")), acked.len() as i64 - 40);
}

#[test]
fn a_dump_larger_than_maxmemory_loads_onto_a_full_disk() {
    const MAXMEMORY: u64 = 4 << 20;
    const LEN: usize = 1000;
    const KEYS: u64 = 10_000;
    let fs = tmpfs_or_skip!("80m");
    // A 10 MB dump, made while the disk has room.
    {
        let s = TestServer::start_in(fs.path(), &[]).expect("start");
        let mut c = s.raw();
        for i in 0..KEYS {
            c.send(&[b"SET", key(i).as_bytes(), &value(i, LEN)]);
        }
        for _ in 0..KEYS {
            assert_eq!(c.read(), ok());
        }
        assert_eq!(c.cmd_str("SAVE"), ok());
    }
    fs.fill(512 << 10);
    // Loading spills what exceeds maxmemory; once the disk refuses the
    // spills, the rest is loaded into memory (as Redis loads a dump
    // whatever its maxmemory) instead of retrying forever.
    let mut p = Proc::start(fs.path(), &["--maxmemory", &MAXMEMORY.to_string()]);
    let mut c = p.raw();
    assert_eq!(info(&mut c, "tiering", "spill_failing"), "1");
    assert_eq!(int(c.cmd_str("DBSIZE")), KEYS as i64);
    let all: Vec<u64> = (0..KEYS).collect();
    check_keys(&mut c, &all, LEN, false);
    // Far over maxmemory with the disk refusing spills: writes get OOM.
    assert_eq!(c.cmd_str("SET x 1"), Resp::Error(OOM.into()));
    assert!(p.alive());
}
