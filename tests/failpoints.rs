//! Injected I/O errors (EIO) at the dump.rdb, spill and cold-checkpoint
//! sites: each failure is reported, leaves the previous durable state in
//! force, and the server recovers once the fault clears. (AOF sites are
//! covered in `tests/aof.rs`, a really full disk in `tests/enospc.rs`.)

mod common;

use std::time::{Duration, Instant};

use common::{info_field, TestServer};
use redis::Connection;

fn wait_for(c: &mut Connection, section: &str, field: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while info_field(c, section, field) != want {
        assert!(
            Instant::now() < deadline,
            "{field} never became {want}: {}",
            info_field(c, section, field)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn fill(c: &mut Connection, n: u64) {
    let mut pipe = redis::pipe();
    for i in 0..n {
        pipe.cmd("SET")
            .arg(format!("k{i}"))
            .arg(format!("{i}-{}", "x".repeat(500)))
            .ignore();
    }
    pipe.query::<()>(c).expect("fill");
}

fn names(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_failed_bgsave_fsync_keeps_the_previous_dump() {
    let tmp = tempfile::tempdir().expect("tmp");
    let s = TestServer::start_in(tmp.path(), &[]).expect("start");
    let mut c = s.client().get_connection().expect("conn");
    fill(&mut c, 100);
    let _: () = redis::cmd("SAVE").query(&mut c).expect("save");
    let before = std::fs::read(tmp.path().join("dump.rdb")).expect("dump");
    let _: () = redis::cmd("SET")
        .arg("later")
        .arg("1")
        .query(&mut c)
        .expect("set");
    for site in ["rdb.write", "rdb.fsync", "rdb.rename"] {
        s.shared.aof.failpoints.set(site, "1*error").expect("arm");
        let _: String = redis::cmd("BGSAVE").query(&mut c).expect("bgsave");
        wait_for(&mut c, "persistence", "rdb_bgsave_in_progress", "0");
        assert_eq!(
            info_field(&mut c, "persistence", "rdb_last_bgsave_status"),
            "err",
            "{site}"
        );
        assert_eq!(
            std::fs::read(tmp.path().join("dump.rdb")).expect("dump"),
            before,
            "{site}: the previous dump stays"
        );
        assert!(
            !names(tmp.path()).iter().any(|n| n.starts_with("temp-")),
            "{site}: {:?}",
            names(tmp.path())
        );
    }
    // The fault cleared: the next BGSAVE succeeds.
    let _: String = redis::cmd("BGSAVE").query(&mut c).expect("bgsave");
    wait_for(&mut c, "persistence", "rdb_bgsave_in_progress", "0");
    assert_eq!(
        info_field(&mut c, "persistence", "rdb_last_bgsave_status"),
        "ok"
    );
    drop(c);
    drop(s);
    let s = TestServer::start_in(tmp.path(), &[]).expect("restart");
    let mut c = s.client().get_connection().expect("conn");
    let n: u64 = redis::cmd("DBSIZE").query(&mut c).expect("dbsize");
    assert_eq!(n, 101);
}

#[test]
fn failed_spills_keep_values_in_memory_until_the_store_recovers() {
    let tmp = tempfile::tempdir().expect("tmp");
    let s = TestServer::start_in(tmp.path(), &[("maxmemory", "1")]).expect("start");
    s.shared
        .aof
        .failpoints
        .set("tier.spill", "error")
        .expect("arm");
    let mut c = s.client().get_connection().expect("conn");
    // Writes keep working while memory stays bounded... or are refused
    // with the OOM error once far over the limit; nothing is lost.
    let mut acked = Vec::new();
    for i in 0..300u64 {
        let r: redis::RedisResult<()> = redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg(format!("{i}-{}", "x".repeat(500)))
            .query(&mut c);
        match r {
            Ok(()) => acked.push(i),
            Err(e) => assert!(e.to_string().contains("OOM"), "{e}"),
        }
    }
    wait_for(&mut c, "tiering", "spill_failing", "1");
    assert_eq!(info_field(&mut c, "tiering", "cold_keys"), "0");
    s.shared
        .aof
        .failpoints
        .set("tier.spill", "off")
        .expect("disarm");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let _: () = redis::cmd("SET")
            .arg("poke")
            .arg("1")
            .query(&mut c)
            .unwrap_or(());
        let cold: u64 = info_field(&mut c, "tiering", "cold_keys")
            .parse()
            .unwrap_or(0);
        if cold > 0 && info_field(&mut c, "tiering", "spill_failing") == "0" {
            break;
        }
        assert!(Instant::now() < deadline, "spilling never resumed");
        std::thread::sleep(Duration::from_millis(100));
    }
    for i in acked {
        let v: String = redis::cmd("GET")
            .arg(format!("k{i}"))
            .query(&mut c)
            .expect("get");
        assert!(v.starts_with(&format!("{i}-")), "k{i}");
    }
}

#[test]
fn a_failed_cold_checkpoint_keeps_the_previous_one_in_force() {
    let tmp = tempfile::tempdir().expect("tmp");
    let opts = [
        ("maxmemory", "1"),
        ("appendonly", "yes"),
        ("appendfsync", "always"),
    ];
    let s = TestServer::start_in(tmp.path(), &opts).expect("start");
    let mut c = s.client().get_connection().expect("conn");
    fill(&mut c, 2000);
    let _: String = redis::cmd("BGREWRITEAOF").query(&mut c).expect("rewrite");
    wait_for(&mut c, "persistence", "aof_rewrite_in_progress", "0");
    let aof = tmp.path().join("appendonlydir");
    let before: Vec<String> = names(&aof)
        .into_iter()
        .filter(|n| n.ends_with(".cold"))
        .collect();
    assert_eq!(before.len(), 1, "{:?}", names(&aof));
    let _: u64 = redis::cmd("INCR").arg("n").query(&mut c).expect("incr");
    s.shared
        .aof
        .failpoints
        .set("aof.cold.checkpoint", "1*error")
        .expect("arm");
    let _: String = redis::cmd("BGREWRITEAOF").query(&mut c).expect("rewrite");
    wait_for(&mut c, "persistence", "aof_rewrite_in_progress", "0");
    assert_eq!(
        info_field(&mut c, "persistence", "aof_last_bgrewrite_status"),
        "err"
    );
    let after: Vec<String> = names(&aof)
        .into_iter()
        .filter(|n| n.contains(".cold"))
        .collect();
    assert_eq!(after, before, "only the checkpoint in force remains");
    let _: u64 = redis::cmd("INCR").arg("n").query(&mut c).expect("incr");
    drop(c);
    drop(s);
    let s = TestServer::start_in(tmp.path(), &opts).expect("restart");
    let mut c = s.client().get_connection().expect("conn");
    let n: u64 = redis::cmd("GET").arg("n").query(&mut c).expect("get");
    assert_eq!(n, 2);
    let keys: u64 = redis::cmd("DBSIZE").query(&mut c).expect("dbsize");
    assert_eq!(keys, 2001);
}

/// A cold record whose zstd frame is damaged: the read is refused by the
/// frame's checksum, reported (`cold_errors`, the log names the key), a
/// command reading the key gets an error naming it (never a nil, as if
/// the value were absent), the record stays on disk for inspection until
/// the key is deleted or overwritten; no panic, and every other key is
/// intact.
#[test]
fn a_damaged_cold_record_is_reported_not_served() {
    use strata_storage::cold::{self, Cf, Fetch, Op};
    let tmp = tempfile::tempdir().expect("tmp");
    let s = TestServer::start_in(tmp.path(), &[("maxmemory", "1")]).expect("start");
    let mut c = s.client().get_connection().expect("conn");
    fill(&mut c, 200);
    let deadline = Instant::now() + Duration::from_secs(20);
    while info_field(&mut c, "tiering", "cold_keys") != "200" {
        assert!(Instant::now() < deadline, "keys did not spill");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (store, id) = {
        let st = s.shared.state.lock();
        st.keyspace.dbs[0].cold_store().expect("cold store")
    };
    let dk = cold::data_key(id, b"k7");
    let Ok(Fetch::Found(mut rec)) = store.get(Cf::Data, &dk) else {
        panic!("no record for k7");
    };
    let at = rec.len() - 3;
    rec[at] ^= 0x5a;
    store
        .write(vec![Op::Put(Cf::Data, dk.clone(), rec.clone())])
        .expect("write");
    let err = redis::cmd("GET")
        .arg("k7")
        .query::<Option<String>>(&mut c)
        .expect_err("a damaged record is an error");
    assert!(
        err.to_string()
            .contains("corrupt cold record for key \"k7\""),
        "{err}"
    );
    let err = redis::cmd("APPEND")
        .arg("k7")
        .arg("x")
        .query::<i64>(&mut c)
        .expect_err("writes that read the value fail too");
    assert!(err.to_string().contains("k7"), "{err}");
    let errors: u64 = info_field(&mut c, "tiering", "cold_errors")
        .parse()
        .unwrap_or(0);
    assert!(errors >= 1, "cold_errors {errors}");
    assert!(
        matches!(store.get(Cf::Data, &dk), Ok(Fetch::Found(r)) if r == rec),
        "the damaged record stays for inspection"
    );
    // Commands that do not read the value still work: the key exists,
    // and SET replaces the damaged record.
    let n: i64 = redis::cmd("EXISTS")
        .arg("k7")
        .query(&mut c)
        .expect("exists");
    assert_eq!(n, 1);
    let _: () = redis::cmd("SET")
        .arg("k7")
        .arg("new")
        .query(&mut c)
        .expect("set");
    let v: String = redis::cmd("GET").arg("k7").query(&mut c).expect("get");
    assert_eq!(v, "new");
    // A damaged header: commands that read only the header fail too, and
    // DEL removes the record.
    let dk9 = cold::data_key(id, b"k9");
    let Ok(Fetch::Found(mut rec9)) = store.get(Cf::Data, &dk9) else {
        panic!("no record for k9");
    };
    rec9[0] = 0xee;
    store
        .write(vec![Op::Put(Cf::Data, dk9.clone(), rec9)])
        .expect("write");
    for cmd in ["EXISTS", "TYPE", "TTL", "OBJECT FREQ"] {
        let mut q = redis::cmd(cmd.split(' ').next().unwrap_or(cmd));
        if let Some(sub) = cmd.split(' ').nth(1) {
            q.arg(sub);
        }
        let err = q
            .arg("k9")
            .query::<redis::Value>(&mut c)
            .expect_err("a damaged header is an error");
        assert!(
            err.to_string()
                .contains("corrupt cold record for key \"k9\": cold record version 238"),
            "{cmd}: {err}"
        );
    }
    let n: i64 = redis::cmd("DEL").arg("k9").query(&mut c).expect("del");
    assert_eq!(n, 1);
    assert!(matches!(store.get(Cf::Data, &dk9), Ok(Fetch::Missing)));
    let n: i64 = redis::cmd("EXISTS")
        .arg("k9")
        .query(&mut c)
        .expect("exists");
    assert_eq!(n, 0);
    let n: i64 = redis::cmd("DBSIZE").query(&mut c).expect("dbsize");
    assert_eq!(n, 199);
    for i in (0..200u64).filter(|i| *i != 7 && *i != 9) {
        let v: String = redis::cmd("GET")
            .arg(format!("k{i}"))
            .query(&mut c)
            .expect("get");
        assert!(v.starts_with(&format!("{i}-")), "k{i}");
    }
}
