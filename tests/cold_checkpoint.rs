//! The cold tier across crashes: an AOF rewrite checkpoints the cold
//! store in place (the base holds the hot tier only), and after a SIGKILL
//! the cold tier is rolled back to that checkpoint and the AOF tail
//! replayed on it, so every write after the checkpoint (to keys spilled,
//! promoted and changed, deleted or renamed since) is applied exactly
//! once. Damaged or missing checkpoint files stop startup with their name.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::info_field;
use common::ServerProcess as Proc;
use redis::Connection;

const TIERED: &[&str] = &[
    "--maxmemory",
    "2mb",
    "--appendonly",
    "yes",
    "--appendfsync",
    "always",
];

/// Waits for the server to exit on its own; returns its log.
fn expect_exit(mut p: Proc) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(Some(st)) = p.child.try_wait() {
            assert!(!st.success(), "server exited successfully:\n{}", p.log());
            return p.log();
        }
        assert!(Instant::now() < deadline, "server kept running");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn value(i: u64) -> Vec<u8> {
    let mut v = format!("value-{i}-").into_bytes();
    while v.len() < 1000 {
        v.extend_from_slice(b"the quick brown fox jumps over the lazy dog ");
    }
    v.truncate(1000);
    v
}

fn kill9(mut p: Proc) {
    let _ = p.child.kill();
    let _ = p.child.wait();
}

fn files(dir: &Path) -> Vec<(String, u64)> {
    std::fs::read_dir(dir.join("appendonlydir"))
        .expect("aof dir")
        .flatten()
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                e.metadata().map(|m| m.len()).unwrap_or(0),
            )
        })
        .collect()
}

const KEYS: u64 = 3000;

/// Fills a dataset far larger than the 2 MB budget and checkpoints it.
fn fill_and_checkpoint(c: &mut Connection) {
    let mut pipe = redis::pipe();
    for i in 0..KEYS {
        pipe.cmd("SET").arg(format!("k{i}")).arg(value(i)).ignore();
    }
    for i in 0..200u64 {
        pipe.cmd("SET").arg(format!("n{i}")).arg(i).ignore();
    }
    for i in 0..50u64 {
        pipe.cmd("RPUSH")
            .arg(format!("l{i}"))
            .arg("a")
            .arg("b")
            .ignore();
        pipe.cmd("SET")
            .arg(format!("t{i}"))
            .arg(value(i))
            .arg("EX")
            .arg(1000)
            .ignore();
    }
    pipe.query::<()>(c).expect("fill");
    common::bgrewriteaof_and_wait(c);
}

#[test]
fn a_crash_replays_the_tail_once_on_the_checkpointed_cold_tier() {
    let dir = tempfile::tempdir().expect("tmp");
    let port = common::free_port();
    let mut p = Proc::spawn(dir.path(), port, TIERED);
    let mut c = p.connect(port);
    fill_and_checkpoint(&mut c);
    let cold: u64 = info_field(&mut c, "tiering", "cold_keys")
        .parse()
        .unwrap_or(0);
    assert!(cold > KEYS / 2, "most keys are cold: {cold}");
    // The base holds the hot tier only; the cold tier is a checkpoint
    // directory next to it.
    let fs = files(dir.path());
    let base = fs
        .iter()
        .find(|(n, _)| n.ends_with(".base.rdb"))
        .expect("base");
    assert!(base.1 < KEYS * 1000 / 4, "base holds the hot tier: {fs:?}");
    assert!(fs.iter().any(|(n, _)| n.ends_with(".cold")), "{fs:?}");

    // After the checkpoint: changes to cold keys (promoted, changed,
    // spilled again), deletions, renames, new keys, new deadlines.
    let mut pipe = redis::pipe();
    for i in 0..200u64 {
        pipe.cmd("INCR").arg(format!("n{i}")).ignore();
    }
    for i in 0..100u64 {
        pipe.cmd("APPEND").arg(format!("k{i}")).arg("+").ignore();
    }
    for i in 100..200u64 {
        pipe.cmd("DEL").arg(format!("k{i}")).ignore();
    }
    for i in 0..50u64 {
        pipe.cmd("LPUSH").arg(format!("l{i}")).arg("c").ignore();
        pipe.cmd("EXPIRE").arg(format!("t{i}")).arg(2000).ignore();
    }
    pipe.cmd("RENAME").arg("k300").arg("renamed").ignore();
    for i in 0..1000u64 {
        pipe.cmd("SET")
            .arg(format!("new{i}"))
            .arg(value(i + 7))
            .ignore();
    }
    pipe.query::<()>(&mut c).expect("changes");
    let spills: u64 = info_field(&mut c, "tiering", "spills").parse().unwrap_or(0);
    assert!(spills > KEYS, "changed keys were spilled again: {spills}");
    let dbsize: u64 = redis::cmd("DBSIZE").query(&mut c).expect("dbsize");
    assert_eq!(dbsize, KEYS - 100 + 200 + 100 + 1000);
    kill9(p);

    for generation in 1..=2u64 {
        let mut p = Proc::spawn(dir.path(), port, TIERED);
        let mut c = p.connect(port);
        assert!(p.log().contains("Cold tier restored"), "{}", p.log());
        let after: u64 = redis::cmd("DBSIZE").query(&mut c).expect("dbsize");
        assert_eq!(after, dbsize, "generation {generation}");
        for i in 0..200u64 {
            let n: u64 = redis::cmd("GET")
                .arg(format!("n{i}"))
                .query(&mut c)
                .expect("get");
            assert_eq!(n, i + generation, "n{i} in generation {generation}");
        }
        for i in (0..100u64).step_by(7) {
            let v: Vec<u8> = redis::cmd("GET")
                .arg(format!("k{i}"))
                .query(&mut c)
                .expect("get");
            let mut want = value(i);
            want.push(b'+');
            assert_eq!(v, want, "k{i}");
        }
        for i in (100..200u64).step_by(9) {
            let e: u64 = redis::cmd("EXISTS")
                .arg(format!("k{i}"))
                .query(&mut c)
                .expect("exists");
            assert_eq!(e, 0, "k{i} was deleted");
        }
        for i in (0..50u64).step_by(5) {
            let l: Vec<String> = redis::cmd("LRANGE")
                .arg(format!("l{i}"))
                .arg(0)
                .arg(-1)
                .query(&mut c)
                .expect("lrange");
            assert_eq!(l, ["c", "a", "b"], "l{i}");
            let ttl: i64 = redis::cmd("TTL")
                .arg(format!("t{i}"))
                .query(&mut c)
                .expect("ttl");
            assert!(ttl > 1000 && ttl <= 2000, "t{i} ttl {ttl}");
        }
        let renamed: Vec<u8> = redis::cmd("GET").arg("renamed").query(&mut c).expect("get");
        assert_eq!(renamed, value(300));
        let gone: u64 = redis::cmd("EXISTS")
            .arg("k300")
            .query(&mut c)
            .expect("exists");
        assert_eq!(gone, 0);
        let v: Vec<u8> = redis::cmd("GET").arg("new999").query(&mut c).expect("get");
        assert_eq!(v, value(999 + 7));
        // Next generation: a checkpoint, one more INCR each, a kill.
        common::bgrewriteaof_and_wait(&mut c);
        let mut pipe = redis::pipe();
        for i in 0..200u64 {
            pipe.cmd("INCR").arg(format!("n{i}")).ignore();
        }
        pipe.query::<()>(&mut c).expect("incr");
        kill9(p);
    }
    // Old checkpoints are removed once a newer base is in force.
    let mut p = Proc::spawn(dir.path(), port, TIERED);
    let mut c = p.connect(port);
    let colds = files(dir.path())
        .into_iter()
        .filter(|(n, _)| n.contains(".cold"))
        .count();
    assert_eq!(colds, 1);
    // A graceful shutdown is a checkpoint: nothing left to replay.
    let n: u64 = redis::cmd("INCR").arg("n0").query(&mut c).expect("incr");
    let _ = redis::cmd("SHUTDOWN").query::<()>(&mut c);
    let log = {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !matches!(p.child.try_wait(), Ok(Some(_))) {
            assert!(Instant::now() < deadline, "SHUTDOWN did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
        p.log()
    };
    assert!(log.contains("Taking a checkpoint of both tiers"), "{log}");
    let incr: u64 = files(dir.path())
        .iter()
        .filter(|(f, _)| f.ends_with(".incr.aof"))
        .map(|(_, len)| *len)
        .sum();
    assert!(
        incr < 1024,
        "tail left after a shutdown checkpoint: {incr} bytes"
    );
    let mut p = Proc::spawn(dir.path(), port, TIERED);
    let mut c = p.connect(port);
    let again: u64 = redis::cmd("GET").arg("n0").query(&mut c).expect("get");
    assert_eq!(again, n);
    let after: u64 = redis::cmd("DBSIZE").query(&mut c).expect("dbsize");
    assert_eq!(after, dbsize);
}

#[test]
fn damaged_or_missing_checkpoints_stop_startup_with_their_name() {
    let dir = tempfile::tempdir().expect("tmp");
    let port = common::free_port();
    let mut p = Proc::spawn(dir.path(), port, TIERED);
    let mut c = p.connect(port);
    fill_and_checkpoint(&mut c);
    kill9(p);
    let aof = dir.path().join("appendonlydir");
    let ckpt = files(dir.path())
        .into_iter()
        .find(|(n, _)| n.ends_with(".cold"))
        .map(|(n, _)| aof.join(n))
        .expect("checkpoint");
    let cut = ckpt.join("strata-cut");
    let good = std::fs::read(&cut).expect("cut");

    // A bit flip in the cut file.
    let mut bad = good.clone();
    bad[12] ^= 0x40;
    std::fs::write(&cut, &bad).expect("write");
    let log = expect_exit(Proc::spawn(dir.path(), port, TIERED));
    assert!(
        log.contains("Bad cold tier cut file") && log.contains("strata-cut"),
        "{log}"
    );
    assert!(log.contains("checksum mismatch"), "{log}");

    // A truncated one.
    std::fs::write(&cut, &good[..good.len() / 2]).expect("write");
    let log = expect_exit(Proc::spawn(dir.path(), port, TIERED));
    assert!(log.contains("strata-cut"), "{log}");

    // The checkpoint directory missing.
    std::fs::write(&cut, &good).expect("write");
    let moved = dir.path().join("moved.cold");
    std::fs::rename(&ckpt, &moved).expect("rename");
    let log = expect_exit(Proc::spawn(dir.path(), port, TIERED));
    assert!(
        log.contains("needs its cold tier checkpoint") && log.contains(".cold"),
        "{log}"
    );

    // A hot-only base loaded as a dump.rdb is refused, not half-loaded.
    let base = files(dir.path())
        .into_iter()
        .find(|(n, _)| n.ends_with(".base.rdb"))
        .map(|(n, _)| aof.join(n))
        .expect("base");
    let other = tempfile::tempdir().expect("tmp");
    std::fs::copy(&base, other.path().join("dump.rdb")).expect("copy");
    let log = expect_exit(Proc::spawn(other.path(), port, &[]));
    assert!(log.contains("holds only the hot tier"), "{log}");

    // Put back, everything loads.
    std::fs::rename(&moved, &ckpt).expect("rename back");
    let mut p = Proc::spawn(dir.path(), port, TIERED);
    let mut c = p.connect(port);
    let n: u64 = redis::cmd("DBSIZE").query(&mut c).expect("dbsize");
    assert_eq!(n, KEYS + 300);
}
