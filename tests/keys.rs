//! Generic keyspace commands against a live server: the SCAN guarantee
//! under concurrent writes, KEYS with abusive patterns, RANDOMKEY, and the
//! semantics of COPY, MOVE and SWAPDB.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Resp, TestServer};

type Conn = redis::Connection;

fn conn(server: &TestServer) -> Conn {
    server.client().get_connection().expect("connection")
}

fn scan_all(c: &mut Conn, extra: &[&str], count: usize) -> (Vec<String>, usize) {
    let mut cursor: u64 = 0;
    let mut keys = Vec::new();
    let mut calls = 0;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("COUNT")
            .arg(count)
            .arg(extra)
            .query(c)
            .expect("scan");
        keys.extend(batch);
        calls += 1;
        cursor = next;
        if cursor == 0 {
            return (keys, calls);
        }
        assert!(calls < 1_000_000, "SCAN did not terminate");
    }
}

fn fill(c: &mut Conn, prefix: &str, range: std::ops::Range<usize>) {
    let mut pipe = redis::pipe();
    for i in range {
        pipe.cmd("SET").arg(format!("{prefix}{i}")).arg(i).ignore();
    }
    pipe.query::<()>(c).expect("fill");
}

#[test]
fn scan_returns_every_key_present_for_the_whole_scan_despite_concurrent_writes() {
    let server = TestServer::start(&[]);
    let mut c = conn(&server);
    fill(&mut c, "stable:", 0..5000);
    let stop = Arc::new(AtomicBool::new(false));
    let rounds = Arc::new(AtomicUsize::new(0));
    let writer = {
        let stop = stop.clone();
        let rounds = rounds.clone();
        let mut w = conn(&server);
        std::thread::spawn(move || {
            // Waves of inserts and deletes force the table to grow, shrink
            // and rehash while the scans run.
            let mut round = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let base = (round % 4) * 20_000;
                fill(&mut w, "churn:", base..base + 20_000);
                let mut pipe = redis::pipe();
                for i in base..base + 20_000 {
                    pipe.cmd("DEL").arg(format!("churn:{i}")).ignore();
                }
                pipe.query::<()>(&mut w).expect("churn del");
                round += 1;
                rounds.store(round, Ordering::Relaxed);
            }
        })
    };
    // Scan repeatedly until the writer has completed several waves during
    // the scans; every scan must return every stable key.
    let mut scans = 0;
    let first_round = rounds.load(Ordering::Relaxed);
    while scans < 3 || rounds.load(Ordering::Relaxed) < first_round + 2 {
        let (keys, _) = scan_all(&mut c, &[], 7);
        let seen: HashSet<&str> = keys.iter().map(|s| s.as_str()).collect();
        for i in 0..5000 {
            assert!(
                seen.contains(format!("stable:{i}").as_str()),
                "stable:{i} missed in scan {scans}"
            );
        }
        scans += 1;
        assert!(scans < 200, "writer made no progress");
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().expect("writer");
}

#[test]
fn scan_options_and_full_iteration() {
    let server = TestServer::start(&[]);
    let mut c = conn(&server);
    fill(&mut c, "user:", 0..300);
    fill(&mut c, "item:", 0..200);
    let (keys, calls) = scan_all(&mut c, &[], 10);
    let set: HashSet<String> = keys.iter().cloned().collect();
    assert_eq!(set.len(), 500);
    assert!(calls > 10, "COUNT 10 should need many calls, took {calls}");
    let (keys, _) = scan_all(&mut c, &["MATCH", "user:1*"], 10);
    let set: HashSet<String> = keys.into_iter().collect();
    let want: HashSet<String> = (0..300)
        .map(|i| format!("user:{i}"))
        .filter(|k| k.starts_with("user:1"))
        .collect();
    assert_eq!(set, want);
    let (keys, _) = scan_all(&mut c, &["TYPE", "string"], 50);
    assert_eq!(keys.iter().collect::<HashSet<_>>().len(), 500);
    let (keys, _) = scan_all(&mut c, &["TYPE", "list"], 50);
    assert!(keys.is_empty());
    // One call with a large COUNT returns everything.
    let (cursor, keys): (u64, Vec<String>) = redis::cmd("SCAN")
        .arg(0)
        .arg("COUNT")
        .arg(100_000)
        .query(&mut c)
        .expect("scan");
    assert_eq!(cursor, 0);
    assert_eq!(keys.len(), 500);
    // Expired keys are not returned.
    redis::cmd("PEXPIRE")
        .arg("user:0")
        .arg(1)
        .query::<i64>(&mut c)
        .expect("pexpire");
    std::thread::sleep(Duration::from_millis(20));
    let (keys, _) = scan_all(&mut c, &[], 1000);
    assert!(!keys.iter().any(|k| k == "user:0"));
    let mut raw = server.raw();
    assert_eq!(
        raw.cmd_str("SCAN 0 COUNT 0"),
        Resp::Error("ERR syntax error".into())
    );
    assert_eq!(
        raw.cmd_str("SCAN abc"),
        Resp::Error("ERR invalid cursor".into())
    );
}

#[test]
fn keys_with_abusive_patterns_returns_quickly() {
    let server = TestServer::start(&[]);
    let mut c = conn(&server);
    let long_a = "a".repeat(10_000);
    redis::cmd("SET")
        .arg(&long_a)
        .arg("v")
        .query::<()>(&mut c)
        .expect("set");
    fill(&mut c, "a", 0..1000);
    let mut raw = server.raw();
    let patterns = [
        format!("{}b", "a*".repeat(5000)),
        "*?".repeat(50_000),
        format!("{}b", "*a".repeat(900)),
        format!("{}b", "a*".repeat(999)),
    ];
    for p in &patterns {
        let t = Instant::now();
        let reply = raw.cmd(&[b"KEYS", p.as_bytes()]);
        assert_eq!(reply, Resp::Array(Some(vec![])), "pattern len {}", p.len());
        assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
        let t = Instant::now();
        let reply = raw.cmd(&[b"SCAN", b"0", b"MATCH", p.as_bytes(), b"COUNT", b"100000"]);
        assert_eq!(
            reply,
            Resp::Array(Some(vec![
                Resp::Bulk(Some(b"0".to_vec())),
                Resp::Array(Some(vec![]))
            ]))
        );
        assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    }
    // Deep but allowed nesting still matches (1000 `*` groups).
    let p = format!("{}a", "a*".repeat(1000));
    let reply = raw.cmd(&[b"KEYS", p.as_bytes()]);
    assert_eq!(
        reply,
        Resp::Array(Some(vec![Resp::Bulk(Some(long_a.clone().into_bytes()))]))
    );
    let p = format!("{}a", "a*".repeat(1001));
    assert_eq!(raw.cmd(&[b"KEYS", p.as_bytes()]), Resp::Array(Some(vec![])));
}

#[test]
fn randomkey_dbsize_touch() {
    let server = TestServer::start(&[]);
    let mut raw = server.raw();
    assert_eq!(raw.cmd_str("RANDOMKEY"), Resp::Bulk(None));
    assert_eq!(raw.cmd_str("DBSIZE"), Resp::Int(0));
    raw.cmd_str("SET only v");
    for _ in 0..10 {
        assert_eq!(raw.cmd_str("RANDOMKEY"), Resp::Bulk(Some(b"only".to_vec())));
    }
    // RANDOMKEY draws every key eventually.
    let mut c = conn(&server);
    fill(&mut c, "r", 0..20);
    let mut seen = HashSet::new();
    for _ in 0..2000 {
        let k: String = redis::cmd("RANDOMKEY").query(&mut c).expect("randomkey");
        seen.insert(k);
    }
    assert_eq!(seen.len(), 21);
    // Only expired keys left: RANDOMKEY removes them and answers nil.
    raw.cmd_str("FLUSHALL");
    for i in 0..50 {
        raw.cmd_str(&format!("SET e{i} v"));
        raw.cmd_str(&format!("PEXPIRE e{i} 1"));
    }
    std::thread::sleep(Duration::from_millis(10));
    assert_eq!(raw.cmd_str("RANDOMKEY"), Resp::Bulk(None));
    assert_eq!(raw.cmd_str("DBSIZE"), Resp::Int(0));
}

#[test]
fn object_idletime_and_touch() {
    let server = TestServer::start(&[]);
    let mut raw = server.raw();
    raw.cmd_str("SET k hello");
    raw.cmd_str("SET other hello");
    std::thread::sleep(Duration::from_millis(2100));
    let idle =
        |raw: &mut common::RawConn, k: &str| match raw.cmd_str(&format!("OBJECT IDLETIME {k}")) {
            Resp::Int(i) => i,
            other => panic!("{other:?}"),
        };
    assert!(idle(&mut raw, "k") >= 2);
    // Introspection does not reset the clock; TOUCH and GET do.
    assert_eq!(raw.cmd_str("TYPE k"), Resp::Simple("string".into()));
    assert_eq!(raw.cmd_str("EXISTS k"), Resp::Int(1));
    assert!(idle(&mut raw, "k") >= 2);
    assert_eq!(raw.cmd_str("TOUCH k nokey k"), Resp::Int(2));
    // (At most 1: a second may tick between the two commands.)
    assert!(idle(&mut raw, "k") <= 1);
    raw.cmd_str("GET other");
    assert!(idle(&mut raw, "other") <= 1);
    assert_eq!(
        raw.cmd_str("OBJECT FREQ k"),
        Resp::Error("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.".into())
    );
}

#[test]
fn object_freq_under_lfu_policy() {
    let server = TestServer::start(&[("maxmemory-policy", "allkeys-lfu")]);
    let mut raw = server.raw();
    raw.cmd_str("SET k hello");
    assert_eq!(raw.cmd_str("OBJECT FREQ k"), Resp::Int(5));
    for _ in 0..200 {
        raw.cmd_str("GET k");
    }
    match raw.cmd_str("OBJECT FREQ k") {
        Resp::Int(f) => assert!(f > 5, "freq {f}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        raw.cmd_str("OBJECT IDLETIME k"),
        Resp::Error("ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.".into())
    );
    assert_eq!(raw.cmd_str("OBJECT FREQ nokey"), Resp::Bulk(None));
}

#[test]
fn copy_move_swapdb_semantics() {
    let server = TestServer::start(&[]);
    let mut raw = server.raw();
    // COPY: independent value, keeps TTL, into another db, REPLACE.
    raw.cmd_str("SET src v1");
    raw.cmd_str("PEXPIRE src 100000");
    assert_eq!(raw.cmd_str("COPY src dst"), Resp::Int(1));
    raw.cmd_str("SET src v2");
    assert_eq!(raw.cmd_str("GET dst"), Resp::Bulk(Some(b"v1".to_vec())));
    match raw.cmd_str("PTTL dst") {
        Resp::Int(t) => assert!(t > 90_000 && t <= 100_000, "{t}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(raw.cmd_str("TTL src"), Resp::Int(-1));
    assert_eq!(raw.cmd_str("COPY src dst"), Resp::Int(0));
    assert_eq!(raw.cmd_str("COPY src dst REPLACE"), Resp::Int(1));
    assert_eq!(raw.cmd_str("TTL dst"), Resp::Int(-1));
    assert_eq!(raw.cmd_str("COPY src dst DB 3"), Resp::Int(1));
    raw.cmd_str("SELECT 3");
    assert_eq!(raw.cmd_str("GET dst"), Resp::Bulk(Some(b"v2".to_vec())));
    raw.cmd_str("SELECT 0");
    // MOVE: refuses an existing destination, moves TTL along.
    raw.cmd_str("SET m here");
    raw.cmd_str("EXPIRE m 1000");
    assert_eq!(raw.cmd_str("MOVE m 3"), Resp::Int(1));
    assert_eq!(raw.cmd_str("EXISTS m"), Resp::Int(0));
    raw.cmd_str("SET m again");
    assert_eq!(raw.cmd_str("MOVE m 3"), Resp::Int(0));
    assert_eq!(raw.cmd_str("GET m"), Resp::Bulk(Some(b"again".to_vec())));
    raw.cmd_str("SELECT 3");
    assert_eq!(raw.cmd_str("GET m"), Resp::Bulk(Some(b"here".to_vec())));
    match raw.cmd_str("TTL m") {
        Resp::Int(t) => assert!(t > 990 && t <= 1000, "{t}"),
        other => panic!("{other:?}"),
    }
    // SWAPDB: a connection on db 3 sees db 0's data afterwards, TTLs too.
    let mut other = server.raw();
    assert_eq!(other.cmd_str("DBSIZE"), Resp::Int(3));
    assert_eq!(raw.cmd_str("DBSIZE"), Resp::Int(2));
    assert_eq!(other.cmd_str("SWAPDB 0 3"), Resp::Simple("OK".into()));
    assert_eq!(other.cmd_str("DBSIZE"), Resp::Int(2));
    assert_eq!(raw.cmd_str("DBSIZE"), Resp::Int(3));
    assert_eq!(other.cmd_str("GET m"), Resp::Bulk(Some(b"here".to_vec())));
    match other.cmd_str("TTL m") {
        Resp::Int(t) => assert!(t > 990 && t <= 1000, "{t}"),
        other => panic!("{other:?}"),
    }
    // FLUSHALL of a big keyspace (ASYNC frees in the background).
    let mut c = conn(&server);
    fill(&mut c, "big:", 0..100_000);
    let t = Instant::now();
    assert_eq!(other.cmd_str("FLUSHALL ASYNC"), Resp::Simple("OK".into()));
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    assert_eq!(other.cmd_str("DBSIZE"), Resp::Int(0));
    assert_eq!(raw.cmd_str("DBSIZE"), Resp::Int(0));
}
