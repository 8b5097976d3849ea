//! Forkless snapshots: BGSAVE and BGREWRITEAOF gather the memory tier
//! after the cut (no copy at the cut), and must still hold exactly the
//! dataset as it was at the cut, whatever clients change meanwhile:
//! overwrites, deletions, expiry changes, renames, new keys, SWAPDB,
//! FLUSHALL.

mod common;

use std::time::{Duration, Instant};

use common::{info_field, TestServer};
use redis::Connection;

const KEYS: u64 = 200_000;

fn fill(c: &mut Connection) {
    for chunk in 0..KEYS / 10_000 {
        let mut pipe = redis::pipe();
        for i in chunk * 10_000..(chunk + 1) * 10_000 {
            pipe.cmd("SET").arg(format!("k{i}")).arg(i).ignore();
        }
        pipe.query::<()>(c).expect("fill");
    }
    let mut pipe = redis::pipe();
    for i in 0..100u64 {
        pipe.cmd("RPUSH").arg(format!("l{i}")).arg("a").ignore();
        pipe.cmd("SET")
            .arg(format!("t{i}"))
            .arg("x")
            .arg("EX")
            .arg(1000)
            .ignore();
    }
    pipe.cmd("SELECT").arg(1).ignore();
    pipe.cmd("SET").arg("in-db1").arg("1").ignore();
    pipe.cmd("SELECT").arg(0).ignore();
    pipe.query::<()>(c).expect("fill");
}

/// Changes sent right after the cut, in several batches so some land
/// before the walk reaches their keys and some after.
fn mutate(c: &mut Connection) {
    for round in 0..4u64 {
        let mut pipe = redis::pipe();
        for i in (round..KEYS).step_by(97) {
            pipe.cmd("INCRBY").arg(format!("k{i}")).arg(1000).ignore();
        }
        for i in (round..KEYS).step_by(1013) {
            pipe.cmd("DEL").arg(format!("k{i}")).ignore();
            pipe.cmd("SET").arg(format!("new{i}")).arg("x").ignore();
        }
        if round == 0 {
            for i in 0..100u64 {
                pipe.cmd("LPUSH").arg(format!("l{i}")).arg("b").ignore();
                pipe.cmd("PERSIST").arg(format!("t{i}")).ignore();
            }
            pipe.cmd("RENAME").arg("k5").arg("renamed").ignore();
            pipe.cmd("SWAPDB").arg(0).arg(1).ignore();
            pipe.cmd("SWAPDB").arg(0).arg(1).ignore();
        }
        pipe.query::<()>(c).expect("mutate");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// What the dataset looked like at the cut.
fn check_cut_image(c: &mut Connection) {
    let n: u64 = redis::cmd("DBSIZE").query(c).expect("dbsize");
    assert_eq!(n, KEYS + 200);
    for i in (0..KEYS).step_by(89) {
        let v: u64 = redis::cmd("GET")
            .arg(format!("k{i}"))
            .query(c)
            .expect("get");
        assert_eq!(v, i, "k{i}");
    }
    let renamed: u64 = redis::cmd("EXISTS").arg("renamed").query(c).expect("e");
    assert_eq!(renamed, 0);
    let newk: u64 = redis::cmd("EXISTS").arg("new0").query(c).expect("e");
    assert_eq!(newk, 0);
    for i in 0..100u64 {
        let l: Vec<String> = redis::cmd("LRANGE")
            .arg(format!("l{i}"))
            .arg(0)
            .arg(-1)
            .query(c)
            .expect("lrange");
        assert_eq!(l, ["a"]);
        let ttl: i64 = redis::cmd("TTL")
            .arg(format!("t{i}"))
            .query(c)
            .expect("ttl");
        assert!(ttl > 900, "t{i} {ttl}");
    }
    let _: () = redis::cmd("SELECT").arg(1).query(c).expect("select");
    let n: u64 = redis::cmd("DBSIZE").query(c).expect("dbsize");
    assert_eq!(n, 1);
    let _: () = redis::cmd("SELECT").arg(0).query(c).expect("select");
}

fn wait_bgsave(c: &mut Connection) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while info_field(c, "persistence", "rdb_bgsave_in_progress") != "0" {
        assert!(Instant::now() < deadline, "BGSAVE did not finish");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(info_field(c, "persistence", "rdb_last_bgsave_status"), "ok");
}

/// Restarts on the same directory (loading the dump) and checks it.
fn restart_and_check(s: TestServer, c: Connection) {
    let dir = s.dir.clone();
    drop(c);
    drop(s);
    let s = TestServer::start_in(&dir, &[]).expect("restart");
    let mut c = s.client().get_connection().expect("conn");
    check_cut_image(&mut c);
}

#[test]
fn bgsave_holds_the_dataset_at_the_cut_while_clients_change_it() {
    let tmp = tempfile::tempdir().expect("tmp");
    let s = TestServer::start_in(tmp.path(), &[]).expect("start");
    let mut c = s.client().get_connection().expect("conn");
    fill(&mut c);
    let _: String = redis::cmd("BGSAVE").query(&mut c).expect("bgsave");
    mutate(&mut c);
    wait_bgsave(&mut c);
    // The live dataset has the changes.
    let v: u64 = redis::cmd("GET").arg("k97").query(&mut c).expect("get");
    assert_eq!(v, 1097);
    restart_and_check(s, c);
}

#[test]
fn flushall_during_a_snapshot_keeps_the_image_whole() {
    let tmp = tempfile::tempdir().expect("tmp");
    let s = TestServer::start_in(tmp.path(), &[]).expect("start");
    let mut c = s.client().get_connection().expect("conn");
    fill(&mut c);
    let mut pipe = redis::pipe();
    pipe.cmd("BGSAVE").ignore();
    pipe.cmd("FLUSHALL").ignore();
    pipe.cmd("SET").arg("after").arg("1").ignore();
    pipe.query::<()>(&mut c).expect("bgsave+flushall");
    wait_bgsave(&mut c);
    restart_and_check(s, c);
}

#[test]
fn an_aof_rewrite_base_is_the_cut_and_the_tail_replays_once() {
    let tmp = tempfile::tempdir().expect("tmp");
    let s = TestServer::start_in(
        tmp.path(),
        &[("appendonly", "yes"), ("appendfsync", "always")],
    )
    .expect("start");
    let mut c = s.client().get_connection().expect("conn");
    fill(&mut c);
    let before: u64 = info_field(&mut c, "persistence", "aof_rewrites")
        .parse()
        .unwrap_or(0);
    let _: String = redis::cmd("BGREWRITEAOF").query(&mut c).expect("rewrite");
    mutate(&mut c);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let n: u64 = info_field(&mut c, "persistence", "aof_rewrites")
            .parse()
            .unwrap_or(0);
        if n > before && info_field(&mut c, "persistence", "aof_rewrite_in_progress") == "0" {
            break;
        }
        assert!(Instant::now() < deadline, "rewrite did not finish");
        std::thread::sleep(Duration::from_millis(10));
    }
    let want: u64 = redis::cmd("DBSIZE").query(&mut c).expect("dbsize");
    let dir = s.dir.clone();
    drop(c);
    drop(s);
    let s = TestServer::start_in(&dir, &[("appendonly", "yes")]).expect("restart");
    let mut c = s.client().get_connection().expect("conn");
    let n: u64 = redis::cmd("DBSIZE").query(&mut c).expect("dbsize");
    assert_eq!(n, want);
    for i in (0..KEYS).step_by(97 * 3) {
        let v: Option<u64> = redis::cmd("GET")
            .arg(format!("k{i}"))
            .query(&mut c)
            .expect("get");
        if i % 1013 < 4 || i == 5 {
            continue;
        }
        // 97 divides i: INCRBY once per round whose offset matches.
        let incrs = (0..4u64).filter(|r| i >= *r && (i - r) % 97 == 0).count() as u64;
        assert_eq!(v, Some(i + 1000 * incrs), "k{i}");
    }
    let l: Vec<String> = redis::cmd("LRANGE")
        .arg("l3")
        .arg(0)
        .arg(-1)
        .query(&mut c)
        .expect("lrange");
    assert_eq!(l, ["b", "a"]);
}
