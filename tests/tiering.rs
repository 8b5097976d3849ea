//! Tiering: values spill to the cold tier under `maxmemory` and every
//! command keeps working on them.
//!
//! These servers run inside the test process, whose allocator figures
//! include everything else the process does, so tests drive spilling
//! with `maxmemory 1` (everything goes cold) and then lift the limit
//! (`maxmemory 0`) to freeze the split between tiers.

mod common;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use common::TestServer;
use redis::Connection;

fn info_field(c: &mut Connection, section: &str, field: &str) -> i64 {
    let text: String = redis::cmd("INFO").arg(section).query(c).expect("info");
    for line in text.lines() {
        if let Some(v) = line.strip_prefix(&format!("{field}:")) {
            return v.trim().parse().unwrap_or(-1);
        }
    }
    panic!("no {field} in INFO {section}");
}

/// A new connection to the server on `port` (for another client thread).
fn connect(port: u16) -> Connection {
    redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .expect("client")
        .get_connection()
        .expect("conn")
}

fn cold_keys(c: &mut Connection) -> i64 {
    info_field(c, "tiering", "cold_keys")
}

fn promotions(c: &mut Connection) -> i64 {
    info_field(c, "tiering", "promotions")
}

/// Spills (nearly) everything, then freezes tiers.
/// Sets `<prefix><i>` to `i` for every `i` below `n`.
fn set_numbered(c: &mut Connection, prefix: &str, n: u32) {
    for i in 0..n {
        let _: () = redis::cmd("SET")
            .arg(format!("{prefix}{i}"))
            .arg(i)
            .query(c)
            .expect("set");
    }
}

/// [`spill_all`], then a resident key `hot` (= "h") that other clients
/// read while the cold ones are slow.
fn spill_all_but_hot(c: &mut Connection, expect_cold: i64) {
    spill_all(c, expect_cold);
    let _: () = redis::cmd("SET").arg("hot").arg("h").query(c).expect("set");
}

/// Sets `t<i>` to `i` for every `i` below `n`, each expiring in `px` ms.
fn set_expiring(c: &mut Connection, n: u32, px: u64) {
    for i in 0..n {
        let _: () = redis::cmd("SET")
            .arg(format!("t{i}"))
            .arg(i)
            .arg("PX")
            .arg(px)
            .query(c)
            .expect("set");
    }
}

fn spill_all(c: &mut Connection, expect_cold: i64) {
    common::config_set(c, "maxmemory", "1");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        // Any command gives the spiller a nudge.
        let _: i64 = redis::cmd("DBSIZE").query(c).expect("dbsize");
        if cold_keys(c) >= expect_cold {
            break;
        }
        assert!(Instant::now() < deadline, "keys never spilled");
        std::thread::sleep(Duration::from_millis(20));
    }
    common::config_set(c, "maxmemory", "0");
}

#[test]
fn values_of_every_type_survive_a_round_trip_through_the_cold_tier() {
    let s = TestServer::start(&[]);
    let mut c = s.client().get_connection().expect("conn");
    let big = "x".repeat(5000);
    redis::pipe()
        .cmd("SET")
        .arg("str")
        .arg("hello")
        .cmd("SET")
        .arg("int")
        .arg(12345)
        .cmd("SET")
        .arg("big")
        .arg(&big)
        .cmd("RPUSH")
        .arg("list")
        .arg(&["a", "b", "c"])
        .cmd("HSET")
        .arg("hash")
        .arg(&["f1", "v1", "f2", "v2"])
        .cmd("SADD")
        .arg("set")
        .arg(&["1", "2", "3"])
        .cmd("SADD")
        .arg("sset")
        .arg(&["x", "y"])
        .cmd("ZADD")
        .arg("zset")
        .arg(&["1", "a", "2.5", "b"])
        .query::<()>(&mut c)
        .expect("fill");
    for i in 0..600 {
        let _: () = redis::cmd("HSET")
            .arg("bighash")
            .arg(format!("f{i}"))
            .arg(i)
            .query(&mut c)
            .expect("hset");
    }
    let _: () = redis::cmd("EXPIRE")
        .arg("str")
        .arg(1000)
        .query(&mut c)
        .expect("expire");
    let before: i64 = redis::cmd("DBSIZE").query(&mut c).expect("dbsize");
    assert_eq!(before, 9);
    spill_all(&mut c, 9);
    assert_eq!(info_field(&mut c, "tiering", "hot_keys"), 0);
    // Counts stay exact across tiers.
    assert_eq!(
        redis::cmd("DBSIZE").query::<i64>(&mut c).expect("dbsize"),
        9
    );
    let ks: String = redis::cmd("INFO")
        .arg("keyspace")
        .query(&mut c)
        .expect("info");
    assert!(ks.contains("db0:keys=9,expires=1,"), "{ks}");
    // Commands that need no value do not promote.
    let p0 = promotions(&mut c);
    assert_eq!(
        redis::cmd("EXISTS")
            .arg(&["str", "list", "nope"])
            .query::<i64>(&mut c)
            .expect("exists"),
        2
    );
    assert_eq!(
        redis::cmd("TYPE")
            .arg("zset")
            .query::<String>(&mut c)
            .expect("type"),
        "zset"
    );
    assert_eq!(
        redis::cmd("TYPE")
            .arg("hash")
            .query::<String>(&mut c)
            .expect("type"),
        "hash"
    );
    assert_eq!(
        redis::cmd("TYPE")
            .arg("set")
            .query::<String>(&mut c)
            .expect("type"),
        "set"
    );
    assert_eq!(
        redis::cmd("TYPE")
            .arg("list")
            .query::<String>(&mut c)
            .expect("type"),
        "list"
    );
    assert_eq!(
        redis::cmd("TYPE")
            .arg("int")
            .query::<String>(&mut c)
            .expect("type"),
        "string"
    );
    let ttl: i64 = redis::cmd("TTL").arg("str").query(&mut c).expect("ttl");
    assert!((990..=1000).contains(&ttl), "{ttl}");
    assert_eq!(
        redis::cmd("TTL")
            .arg("int")
            .query::<i64>(&mut c)
            .expect("ttl"),
        -1
    );
    assert_eq!(
        redis::cmd("EXPIRE")
            .arg("int")
            .arg(500)
            .query::<i64>(&mut c)
            .expect("expire"),
        1
    );
    assert_eq!(
        redis::cmd("PERSIST")
            .arg("int")
            .query::<i64>(&mut c)
            .expect("persist"),
        1
    );
    assert_eq!(
        redis::cmd("TTL")
            .arg("int")
            .query::<i64>(&mut c)
            .expect("ttl"),
        -1
    );
    let ks: String = redis::cmd("INFO")
        .arg("keyspace")
        .query(&mut c)
        .expect("info");
    assert!(ks.contains("db0:keys=9,expires=1,"), "{ks}");
    assert_eq!(promotions(&mut c), p0, "metadata commands promoted a key");
    // Values read back exactly.
    assert_eq!(
        redis::cmd("GET")
            .arg("str")
            .query::<String>(&mut c)
            .expect("get"),
        "hello"
    );
    assert_eq!(
        redis::cmd("INCR")
            .arg("int")
            .query::<i64>(&mut c)
            .expect("incr"),
        12346
    );
    assert_eq!(
        redis::cmd("GET")
            .arg("big")
            .query::<String>(&mut c)
            .expect("get"),
        big
    );
    assert_eq!(
        redis::cmd("LRANGE")
            .arg("list")
            .arg(0)
            .arg(-1)
            .query::<Vec<String>>(&mut c)
            .expect("lrange"),
        vec!["a", "b", "c"]
    );
    let h: HashMap<String, String> = redis::cmd("HGETALL")
        .arg("hash")
        .query(&mut c)
        .expect("hgetall");
    assert_eq!(h.get("f2").map(String::as_str), Some("v2"));
    assert_eq!(
        redis::cmd("HLEN")
            .arg("bighash")
            .query::<i64>(&mut c)
            .expect("hlen"),
        600
    );
    assert_eq!(
        redis::cmd("OBJECT")
            .arg("ENCODING")
            .arg("bighash")
            .query::<String>(&mut c)
            .expect("enc"),
        "hashtable"
    );
    assert_eq!(
        redis::cmd("OBJECT")
            .arg("ENCODING")
            .arg("set")
            .query::<String>(&mut c)
            .expect("enc"),
        "intset"
    );
    let mut members: Vec<String> = redis::cmd("SMEMBERS")
        .arg("sset")
        .query(&mut c)
        .expect("smembers");
    members.sort();
    assert_eq!(members, vec!["x", "y"]);
    assert_eq!(
        redis::cmd("ZSCORE")
            .arg("zset")
            .arg("b")
            .query::<f64>(&mut c)
            .expect("zscore"),
        2.5
    );
    let ttl: i64 = redis::cmd("TTL").arg("str").query(&mut c).expect("ttl");
    assert!(
        (990..=1000).contains(&ttl),
        "deadline lost on promotion: {ttl}"
    );
    assert!(promotions(&mut c) > p0);
    assert_eq!(
        redis::cmd("DBSIZE").query::<i64>(&mut c).expect("dbsize"),
        9
    );
}

#[test]
fn delete_rename_flush_and_swapdb_work_on_cold_keys() {
    let s = TestServer::start(&[]);
    let mut c = s.client().get_connection().expect("conn");
    set_numbered(&mut c, "k", 100);
    let _: () = redis::cmd("SELECT").arg(1).query(&mut c).expect("select");
    let _: () = redis::cmd("SET")
        .arg("other")
        .arg("db1")
        .query(&mut c)
        .expect("set");
    let _: () = redis::cmd("SELECT").arg(0).query(&mut c).expect("select");
    spill_all(&mut c, 101);
    let p0 = promotions(&mut c);
    assert_eq!(
        redis::cmd("DEL")
            .arg(&["k1", "k2", "missing"])
            .query::<i64>(&mut c)
            .expect("del"),
        2
    );
    assert_eq!(
        redis::cmd("UNLINK")
            .arg("k3")
            .query::<i64>(&mut c)
            .expect("unlink"),
        1
    );
    assert_eq!(
        redis::cmd("DBSIZE").query::<i64>(&mut c).expect("dbsize"),
        97
    );
    let _: () = redis::cmd("RENAME")
        .arg("k4")
        .arg("renamed")
        .query(&mut c)
        .expect("rename");
    assert_eq!(
        redis::cmd("EXISTS")
            .arg("k4")
            .query::<i64>(&mut c)
            .expect("exists"),
        0
    );
    assert_eq!(promotions(&mut c), p0, "DEL/RENAME promoted");
    assert_eq!(
        redis::cmd("GET")
            .arg("renamed")
            .query::<String>(&mut c)
            .expect("get"),
        "4"
    );
    // RENAME onto an existing cold key replaces it.
    let _: () = redis::cmd("RENAME")
        .arg("k5")
        .arg("k6")
        .query(&mut c)
        .expect("rename");
    assert_eq!(
        redis::cmd("GET")
            .arg("k6")
            .query::<String>(&mut c)
            .expect("get"),
        "5"
    );
    assert_eq!(
        redis::cmd("DBSIZE").query::<i64>(&mut c).expect("dbsize"),
        96
    );
    // SET over a cold key replaces it; counts stay exact.
    let _: () = redis::cmd("SET")
        .arg("k7")
        .arg("new")
        .query(&mut c)
        .expect("set");
    assert_eq!(
        redis::cmd("DBSIZE").query::<i64>(&mut c).expect("dbsize"),
        96
    );
    assert_eq!(
        redis::cmd("GET")
            .arg("k7")
            .query::<String>(&mut c)
            .expect("get"),
        "new"
    );
    // SWAPDB across tiers.
    let _: () = redis::cmd("SWAPDB")
        .arg(0)
        .arg(1)
        .query(&mut c)
        .expect("swapdb");
    assert_eq!(
        redis::cmd("DBSIZE").query::<i64>(&mut c).expect("dbsize"),
        1
    );
    assert_eq!(
        redis::cmd("GET")
            .arg("other")
            .query::<String>(&mut c)
            .expect("get"),
        "db1"
    );
    let _: () = redis::cmd("SELECT").arg(1).query(&mut c).expect("select");
    assert_eq!(
        redis::cmd("DBSIZE").query::<i64>(&mut c).expect("dbsize"),
        96
    );
    assert_eq!(
        redis::cmd("GET")
            .arg("k50")
            .query::<String>(&mut c)
            .expect("get"),
        "50"
    );
    // FLUSHDB clears both tiers.
    let _: () = redis::cmd("FLUSHDB").query(&mut c).expect("flushdb");
    assert_eq!(
        redis::cmd("DBSIZE").query::<i64>(&mut c).expect("dbsize"),
        0
    );
    assert_eq!(
        redis::cmd("GET")
            .arg("k60")
            .query::<Option<String>>(&mut c)
            .expect("get"),
        None
    );
    assert_eq!(
        redis::cmd("KEYS")
            .arg("*")
            .query::<Vec<String>>(&mut c)
            .expect("keys")
            .len(),
        0
    );
    let _: () = redis::cmd("SELECT").arg(0).query(&mut c).expect("select");
    assert_eq!(
        redis::cmd("DBSIZE").query::<i64>(&mut c).expect("dbsize"),
        1
    );
}

#[test]
fn scan_returns_every_key_while_keys_move_between_tiers() {
    let s = TestServer::start(&[]);
    let mut c = s.client().get_connection().expect("conn");
    let n = 2000;
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        let mut p = redis::pipe();
        for i in chunk {
            p.cmd("SET").arg(format!("key:{i}")).arg(i).ignore();
        }
        p.query::<()>(&mut c).expect("fill");
    }
    spill_all(&mut c, n / 2);
    let mut seen: HashSet<String> = HashSet::new();
    let mut cursor: u64 = 0;
    let mut calls = 0;
    let mut other = s.client().get_connection().expect("conn");
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("COUNT")
            .arg(50)
            .query(&mut c)
            .expect("scan");
        seen.extend(keys);
        calls += 1;
        // Between calls: promote some keys, spill others.
        for j in 0..5 {
            let k = format!("key:{}", (calls * 37 + j * 101) % n);
            let _: Option<String> = redis::cmd("GET").arg(&k).query(&mut other).expect("get");
        }
        if calls % 10 == 0 {
            common::config_set(&mut other, "maxmemory", "1");
            std::thread::sleep(Duration::from_millis(5));
            common::config_set(&mut other, "maxmemory", "0");
        }
        cursor = next;
        if cursor == 0 {
            break;
        }
        assert!(calls < 10_000, "scan does not terminate");
    }
    for i in 0..n {
        assert!(seen.contains(&format!("key:{i}")), "SCAN missed key:{i}");
    }
    // KEYS and RANDOMKEY see both tiers too.
    let all: Vec<String> = redis::cmd("KEYS").arg("key:*").query(&mut c).expect("keys");
    assert_eq!(all.len(), n as usize);
    let r: String = redis::cmd("RANDOMKEY").query(&mut c).expect("randomkey");
    assert!(r.starts_with("key:"));
    // SCAN TYPE filters cold keys by their record's type.
    let _: () = redis::cmd("RPUSH")
        .arg("alist")
        .arg("x")
        .query(&mut c)
        .expect("rpush");
    spill_all(&mut c, 1);
    let mut lists = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("COUNT")
            .arg(1000)
            .arg("TYPE")
            .arg("list")
            .query(&mut c)
            .expect("scan");
        lists.extend(keys);
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    assert_eq!(lists, vec!["alist".to_string()]);
}

#[test]
fn cold_keys_expire_lazily_and_actively_with_events() {
    let s = TestServer::start(&[("notify-keyspace-events", "Ex")]);
    let mut c = s.client().get_connection().expect("conn");
    let mut sub = s.raw();
    sub.cmd_str("SUBSCRIBE __keyevent@0__:expired");
    set_expiring(&mut c, 20, 300);
    let _: () = redis::cmd("SET")
        .arg("lazy")
        .arg(1)
        .arg("PX")
        .arg(300)
        .query(&mut c)
        .expect("set");
    let _: () = redis::cmd("SET")
        .arg("keep")
        .arg(1)
        .query(&mut c)
        .expect("set");
    spill_all(&mut c, 22);
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(
        redis::cmd("GET")
            .arg("lazy")
            .query::<Option<String>>(&mut c)
            .expect("get"),
        None
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while redis::cmd("DBSIZE").query::<i64>(&mut c).expect("dbsize") > 1 {
        assert!(Instant::now() < deadline, "cold keys never expired");
        std::thread::sleep(Duration::from_millis(50));
    }
    let ks: String = redis::cmd("INFO")
        .arg("keyspace")
        .query(&mut c)
        .expect("info");
    assert!(ks.contains("db0:keys=1,expires=0,"), "{ks}");
    let mut expired = HashSet::new();
    for _ in 0..21 {
        let msg = sub.read();
        expired.insert(msg.show());
    }
    assert_eq!(expired.len(), 21);
}

#[test]
fn transactions_and_scripts_see_cold_keys() {
    let s = TestServer::start(&[]);
    let mut c = s.client().get_connection().expect("conn");
    let _: () = redis::cmd("SET")
        .arg("a")
        .arg(1)
        .query(&mut c)
        .expect("set");
    let _: () = redis::cmd("RPUSH")
        .arg("l")
        .arg(&["x", "y"])
        .query(&mut c)
        .expect("rpush");
    spill_all(&mut c, 2);
    let (a, l): (i64, i64) = redis::pipe()
        .atomic()
        .cmd("INCR")
        .arg("a")
        .cmd("LPUSH")
        .arg("l")
        .arg("w")
        .query(&mut c)
        .expect("exec");
    assert_eq!((a, l), (2, 3));
    spill_all(&mut c, 2);
    let v: i64 = redis::cmd("EVAL")
        .arg("return redis.call('INCRBY', KEYS[1], 10) + redis.call('LLEN', KEYS[2])")
        .arg(2)
        .arg("a")
        .arg("l")
        .query(&mut c)
        .expect("eval");
    assert_eq!(v, 15);
    spill_all(&mut c, 2);
    // An undeclared key inside a script is read synchronously.
    let v: String = redis::cmd("EVAL")
        .arg("return redis.call('LINDEX', 'l', 0)")
        .arg(0)
        .query(&mut c)
        .expect("eval");
    assert_eq!(v, "w");
}

#[test]
fn cold_keys_wait_for_access_while_active_expiry_is_off() {
    let s = TestServer::start(&[("enable-debug-command", "yes")]);
    let mut c = s.client().get_connection().expect("conn");
    let _: () = redis::cmd("DEBUG")
        .arg("SET-ACTIVE-EXPIRE")
        .arg(0)
        .query(&mut c)
        .expect("debug");
    set_expiring(&mut c, 10, 100);
    spill_all(&mut c, 10);
    std::thread::sleep(Duration::from_millis(500));
    // As in Redis: still counted until something touches them.
    assert_eq!(info_field(&mut c, "tiering", "cold_expired"), 0);
    assert_eq!(
        redis::cmd("DBSIZE").query::<i64>(&mut c).expect("dbsize"),
        10
    );
    let v: Option<String> = redis::cmd("GET").arg("t3").query(&mut c).expect("get");
    assert_eq!(v, None);
    assert_eq!(
        redis::cmd("DBSIZE").query::<i64>(&mut c).expect("dbsize"),
        9
    );
    // Back on: the cron removes the rest.
    let _: () = redis::cmd("DEBUG")
        .arg("SET-ACTIVE-EXPIRE")
        .arg(1)
        .query(&mut c)
        .expect("debug");
    let deadline = Instant::now() + Duration::from_secs(10);
    while redis::cmd("DBSIZE").query::<i64>(&mut c).expect("dbsize") > 0 {
        assert!(Instant::now() < deadline, "cold keys never expired");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A server whose cold tier is `store` (a test store: slow, refusing or
/// stalling writes on demand).
fn server_with_store(
    store: strata_storage::cold::MemStore,
) -> (TestServer, std::sync::Arc<strata_storage::cold::MemStore>) {
    let s = TestServer::start(&[]);
    let store = std::sync::Arc::new(store);
    strata::tier::attach(&mut s.shared.state.lock(), store.clone());
    (s, store)
}

#[test]
fn a_flush_the_cold_tier_refuses_flushes_nothing() {
    let (s, store) = server_with_store(strata_storage::cold::MemStore::new());
    let mut c = s.client().get_connection().expect("conn");
    // Cold keys in two databases: FLUSHALL's range deletes are one write.
    let _: () = redis::cmd("SELECT").arg(1).query(&mut c).expect("select");
    set_numbered(&mut c, "one", 10);
    let _: () = redis::cmd("SELECT").arg(0).query(&mut c).expect("select");
    set_numbered(&mut c, "k", 30);
    spill_all_but_hot(&mut c, 40);
    // A disk that refuses writes: both flushes fail, and every key stays.
    store
        .fail_writes
        .store(true, std::sync::atomic::Ordering::Relaxed);
    for cmd in ["FLUSHDB", "FLUSHALL"] {
        let err = redis::cmd(cmd).query::<()>(&mut c).expect_err(cmd);
        assert!(
            err.to_string().contains("the cold tier refused the flush"),
            "{cmd}: {err}"
        );
        assert_eq!(
            redis::cmd("DBSIZE").query::<i64>(&mut c).expect("dbsize"),
            31
        );
        let v: String = redis::cmd("GET").arg("k7").query(&mut c).expect("get");
        assert_eq!(v, "7");
        let _: () = redis::cmd("SELECT").arg(1).query(&mut c).expect("select");
        assert_eq!(
            redis::cmd("DBSIZE").query::<i64>(&mut c).expect("dbsize"),
            10,
            "{cmd}"
        );
        let _: () = redis::cmd("SELECT").arg(0).query(&mut c).expect("select");
    }
    // Writes accepted again: the flush goes through.
    store
        .fail_writes
        .store(false, std::sync::atomic::Ordering::Relaxed);
    let _: () = redis::cmd("FLUSHDB").query(&mut c).expect("flushdb");
    assert_eq!(
        redis::cmd("DBSIZE").query::<i64>(&mut c).expect("dbsize"),
        0
    );
    let v: Option<String> = redis::cmd("GET").arg("k9").query(&mut c).expect("get");
    assert_eq!(v, None);
    assert_eq!(cold_keys(&mut c), 10);
    let _: () = redis::cmd("FLUSHALL").query(&mut c).expect("flushall");
    assert_eq!(cold_keys(&mut c), 0);
    assert!(store.is_empty() || store.len(strata_storage::cold::Cf::Data) == 0);
}

/// Names of the cold records the store holds for database 0.
fn stored_keys(store: &strata_storage::cold::MemStore) -> HashSet<String> {
    use strata_storage::cold::{Cf, ColdStore};
    let (from, to) = strata_storage::cold::db_range(0);
    let mut names = HashSet::new();
    store
        .scan(Cf::Data, &from, &to, &mut |k, _| {
            // [db id: 2][position: 8][key]
            names.insert(String::from_utf8_lossy(&k[10..]).into_owned());
            true
        })
        .expect("scan");
    names
}

#[test]
fn cold_writes_on_a_stalled_store_do_not_delay_other_clients() {
    let (s, store) = server_with_store(strata_storage::cold::MemStore::new());
    let mut c = s.client().get_connection().expect("conn");
    set_numbered(&mut c, "k", 40);
    spill_all_but_hot(&mut c, 40);
    assert!(stored_keys(&store).contains("k0"));
    // Flushes and compactions behind: every write would wait 300 ms.
    *store.write_stall.lock().expect("stall") = Duration::from_millis(300);
    let port = s.port;
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut c = connect(port);
            for i in 0..10 {
                let n: i64 = redis::cmd(if i % 2 == 0 { "DEL" } else { "UNLINK" })
                    .arg(format!("k{i}"))
                    .query(&mut c)
                    .expect("del");
                assert_eq!(n, 1, "k{i}");
            }
            for i in 10..20 {
                let n: i64 = redis::cmd("PEXPIRE")
                    .arg(format!("k{i}"))
                    .arg(100_000)
                    .query(&mut c)
                    .expect("pexpire");
                assert_eq!(n, 1, "k{i}");
            }
            for i in 20..25 {
                let _: () = redis::cmd("RENAME")
                    .arg(format!("k{i}"))
                    .arg(format!("r{i}"))
                    .query(&mut c)
                    .expect("rename");
            }
            done.store(true, std::sync::atomic::Ordering::Relaxed);
        })
    };
    let mut max = Duration::ZERO;
    while !done.load(std::sync::atomic::Ordering::Relaxed) {
        let t = Instant::now();
        let v: String = redis::cmd("GET").arg("hot").query(&mut c).expect("get");
        assert_eq!(v, "h");
        max = max.max(t.elapsed());
        std::thread::sleep(Duration::from_millis(2));
    }
    writer.join().expect("writer");
    // 25 writes of 300 ms each would have held the lock for 7.5 s, any
    // one of them making a resident read wait about 300 ms.
    assert!(
        max < Duration::from_millis(250),
        "a resident read waited {max:?} behind a stalled cold write"
    );
    assert!(info_field(&mut c, "tiering", "cold_write_stalls") >= 15);
    assert_eq!(info_field(&mut c, "tiering", "cold_errors"), 0);
    // The refused deletes are pending; their records are ignored.
    assert_eq!(info_field(&mut c, "tiering", "cold_deletes_pending"), 15);
    assert_eq!(
        redis::cmd("DBSIZE").query::<i64>(&mut c).expect("dbsize"),
        31
    );
    let gone: i64 = redis::cmd("EXISTS")
        .arg(&["k0", "k5", "k9", "k20", "k24"])
        .query(&mut c)
        .expect("exists");
    assert_eq!(gone, 0);
    let v: String = redis::cmd("GET").arg("r22").query(&mut c).expect("get");
    assert_eq!(v, "22");
    let ttl: i64 = redis::cmd("PTTL").arg("k13").query(&mut c).expect("pttl");
    assert!(ttl > 90_000 && ttl <= 100_000, "{ttl}");
    let mut seen = HashSet::new();
    let mut cursor = 0u64;
    loop {
        let (next, page): (u64, Vec<String>) =
            redis::cmd("SCAN").arg(cursor).query(&mut c).expect("scan");
        seen.extend(page);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    assert_eq!(seen.len(), 31);
    assert!(!seen.contains("k3") && !seen.contains("k21") && seen.contains("r21"));
    // The stall over, the cron redoes the deletes.
    *store.write_stall.lock().expect("stall") = Duration::ZERO;
    let deadline = Instant::now() + Duration::from_secs(10);
    while info_field(&mut c, "tiering", "cold_deletes_pending") > 0 {
        assert!(Instant::now() < deadline, "refused deletes never redone");
        std::thread::sleep(Duration::from_millis(20));
    }
    let stored = stored_keys(&store);
    for i in (0..10).chain(20..25) {
        assert!(!stored.contains(&format!("k{i}")), "k{i} still stored");
    }
    assert!(stored.contains("k30"));
    assert_eq!(
        redis::cmd("DBSIZE").query::<i64>(&mut c).expect("dbsize"),
        31
    );
    let v: String = redis::cmd("GET").arg("k30").query(&mut c).expect("get");
    assert_eq!(v, "30");
}

#[test]
fn blocked_pop_is_served_from_a_cold_list() {
    let s = TestServer::start(&[]);
    let mut c = s.client().get_connection().expect("conn");
    let _: () = redis::cmd("RPUSH")
        .arg("q")
        .arg(&["1", "2"])
        .query(&mut c)
        .expect("rpush");
    spill_all(&mut c, 1);
    let v: (String, String) = redis::cmd("BLPOP")
        .arg("q")
        .arg(1)
        .query(&mut c)
        .expect("blpop");
    assert_eq!(v, ("q".into(), "1".into()));
}

#[test]
fn tiering_off_evicts_like_redis() {
    let s = TestServer::start(&[("tiering", "no"), ("maxmemory-policy", "allkeys-lru")]);
    let mut c = s.client().get_connection().expect("conn");
    set_numbered(&mut c, "k", 50);
    common::config_set(&mut c, "maxmemory", "1");
    // Everything is evicted; the process still uses more than 1 byte, so
    // the write itself may then be refused, as Redis would.
    let _ = redis::cmd("SET")
        .arg("x")
        .arg(1)
        .query::<redis::Value>(&mut c);
    common::config_set(&mut c, "maxmemory", "0");
    let n: i64 = redis::cmd("DBSIZE").query(&mut c).expect("dbsize");
    assert!(n < 51, "nothing evicted");
    assert!(info_field(&mut c, "stats", "evicted_keys") > 0);
    // noeviction refuses writes over the limit, reads still work.
    common::config_set(&mut c, "maxmemory-policy", "noeviction");
    common::config_set(&mut c, "maxmemory", "1");
    let e = redis::cmd("SET")
        .arg("y")
        .arg(1)
        .query::<()>(&mut c)
        .expect_err("oom");
    assert!(
        e.to_string()
            .contains("command not allowed when used memory"),
        "{e}"
    );
    let _: Option<String> = redis::cmd("GET").arg("x").query(&mut c).expect("get works");
    common::config_set(&mut c, "maxmemory", "0");
}

/// Runs `slow_client` (with 40 keys `cold0..cold39` in a cold store whose
/// reads take 100 ms, `what` it reads) against a client reading a resident
/// key meanwhile: `slow_client` must have waited for at least 20 cold
/// reads, and the resident reads' p99 must stay under 10 ms.
fn assert_resident_reads_not_delayed(what: &str, slow_client: fn(&mut Connection)) {
    assert_resident_reads_not_delayed_with(what, move |c, _| slow_client(c));
}

/// [`assert_resident_reads_not_delayed`], the slow client also holding
/// the store (to drop its simulated page cache).
fn assert_resident_reads_not_delayed_with(
    what: &str,
    slow_client: impl FnOnce(&mut Connection, &strata_storage::cold::MemStore) + Send + 'static,
) {
    assert_resident_reads_not_delayed_over(what, 40, slow_client)
}

/// [`assert_resident_reads_not_delayed_with`] over `cold` cold keys.
fn assert_resident_reads_not_delayed_over(
    what: &str,
    cold: u32,
    slow_client: impl FnOnce(&mut Connection, &strata_storage::cold::MemStore) + Send + 'static,
) {
    assert_resident_reads_not_delayed_after(what, cold, |_| 0, slow_client)
}

/// [`assert_resident_reads_not_delayed_over`], `setup` first making more
/// keys (it returns how many) that go cold with the others.
fn assert_resident_reads_not_delayed_after(
    what: &str,
    cold: u32,
    setup: impl FnOnce(&mut Connection) -> i64,
    slow_client: impl FnOnce(&mut Connection, &strata_storage::cold::MemStore) + Send + 'static,
) {
    let (s, store) = server_with_store(strata_storage::cold::MemStore::slow(
        Duration::from_millis(100),
    ));
    let mut c = s.client().get_connection().expect("conn");
    set_numbered(&mut c, "cold", cold);
    let more = setup(&mut c);
    spill_all_but_hot(&mut c, i64::from(cold) + more);
    let locked = info_field(&mut c, "tiering", "cold_reads_locked");
    let port = s.port;
    let slow = std::thread::spawn(move || {
        let mut c = connect(port);
        let started = Instant::now();
        slow_client(&mut c, &store);
        started.elapsed()
    });
    let mut lat = Vec::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(1500) {
        let t = Instant::now();
        let v: String = redis::cmd("GET").arg("hot").query(&mut c).expect("get");
        assert_eq!(v, "h");
        lat.push(t.elapsed());
        std::thread::sleep(Duration::from_millis(2));
    }
    let cold_time = slow.join().expect("slow client");
    // Every store read the slow client caused was made off the lock.
    assert_eq!(
        info_field(&mut c, "tiering", "cold_reads_locked"),
        locked,
        "{what} read the store under the lock"
    );
    lat.sort();
    let p99 = lat[lat.len() * 99 / 100];
    assert!(
        cold_time >= Duration::from_millis(20 * 100),
        "cold reads were not slow: {cold_time:?}"
    );
    assert!(
        p99 < Duration::from_millis(10),
        "hot p99 {p99:?} while {what} take 100 ms"
    );
    // One long stall is a single slow sample of this sequential loop:
    // the longest wait tells.
    let max = lat[lat.len() - 1];
    assert!(
        max < Duration::from_millis(500),
        "a hot read waited {max:?} while {what} take 100 ms"
    );
}

#[test]
fn resident_reads_are_not_delayed_by_slow_cold_reads() {
    assert_resident_reads_not_delayed("cold reads", |c| {
        for i in 0..20 {
            let v: String = redis::cmd("GET")
                .arg(format!("cold{i}"))
                .query(c)
                .expect("get");
            assert_eq!(v, i.to_string());
        }
    });
}

#[test]
fn a_pipeline_of_cold_keys_on_a_slow_store_reads_them_in_parallel() {
    assert_resident_reads_not_delayed_over("a pipeline's cold reads", 192, |c, _| {
        // 16 cold GETs in one pipeline, 100 ms a read: in turn they would
        // take 1.6 s, spread over 8 threads about 0.2 s.
        let mut spans = Vec::new();
        for round in 0..12 {
            let mut p = redis::pipe();
            for i in 0..16 {
                p.cmd("GET").arg(format!("cold{}", round * 16 + i));
            }
            let started = Instant::now();
            let got: Vec<String> = p.query(c).expect("pipeline");
            spans.push(started.elapsed());
            let want: Vec<String> = (0..16).map(|i| (round * 16 + i).to_string()).collect();
            assert_eq!(got, want);
        }
        spans.sort();
        assert!(
            spans[6] < Duration::from_millis(1000),
            "pipelines of 16 cold reads took {spans:?}"
        );
    });
}

#[test]
fn active_expiry_of_cold_keys_on_a_slow_store_does_not_delay_other_clients() {
    assert_resident_reads_not_delayed_with("the active expiry's cold reads", |c, store| {
        // Deadlines on every cold key (their headers read in parallel),
        // then a cold store again: the cron finds the due records with
        // 100 ms reads, off the lock, and deletes them under it.
        let mut p = redis::pipe();
        for i in 0..40 {
            p.cmd("PEXPIRE").arg(format!("cold{i}")).arg(300);
        }
        let set: Vec<i64> = p.query(c).expect("pexpire");
        assert_eq!(set, vec![1; 40]);
        store.cool();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let n: i64 = redis::cmd("DBSIZE").query(c).expect("dbsize");
            if n == 1 {
                break;
            }
            assert!(Instant::now() < deadline, "{n} keys left");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(info_field(c, "tiering", "cold_expired"), 40);
    });
}

#[test]
fn commands_reading_only_cold_headers_or_missing_keys_do_not_delay_other_clients() {
    assert_resident_reads_not_delayed("cold header reads", |c| {
        // (command, keys cold<i>, arguments after the key, reply)
        let steps: [(&str, std::ops::Range<u32>, &[&str], Option<&str>); 6] = [
            ("EXISTS", 0..4, &[], Some("1")),
            ("TTL", 4..8, &[], Some("-1")),
            ("TYPE", 8..12, &[], Some("string")),
            ("SET", 12..16, &["new"], Some("OK")),
            ("DEL", 16..20, &[], Some("1")),
            // Keys in neither tier do not hold others up either.
            ("GET", 40..44, &[], None),
        ];
        for (cmd, keys, extra, want) in steps {
            for i in keys {
                let got: Option<String> = redis::cmd(cmd)
                    .arg(format!("cold{i}"))
                    .arg(extra)
                    .query(c)
                    .expect(cmd);
                assert_eq!(got.as_deref(), want, "{cmd} cold{i}");
            }
        }
        let n: i64 = redis::cmd("DBSIZE").query(c).expect("dbsize");
        assert_eq!(n, 37);
    });
}

#[test]
fn scan_over_slow_cold_records_does_not_delay_other_clients() {
    assert_resident_reads_not_delayed("SCAN's cold record reads", |c| {
        // COUNT 1 over 41 keys: over 20 calls read records not read
        // before (100 ms each), off the lock.
        let mut cursor = 0u64;
        let mut seen = std::collections::HashSet::new();
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("COUNT")
                .arg(1)
                .query(c)
                .expect("scan");
            seen.extend(keys);
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        assert_eq!(seen.len(), 41);
    });
}

#[test]
fn scan_with_a_large_count_does_not_delay_other_clients() {
    assert_resident_reads_not_delayed_with("SCAN COUNT 5000's cold reads", |c, store| {
        // Each call walks every key in one range read, off the lock.
        for _ in 0..20 {
            store.cool();
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(0)
                .arg("COUNT")
                .arg(5000)
                .query(c)
                .expect("scan");
            assert_eq!((next, keys.len()), (0, 41));
        }
    });
}

#[test]
fn keys_over_slow_cold_records_does_not_delay_other_clients() {
    assert_resident_reads_not_delayed_with("KEYS's cold reads", |c, store| {
        for round in 0..20 {
            store.cool();
            let mut keys: Vec<String> = redis::cmd("KEYS").arg("cold1*").query(c).expect("keys");
            keys.sort();
            let mut want: Vec<String> = (0..40)
                .map(|i| format!("cold{i}"))
                .filter(|k| k.starts_with("cold1"))
                .collect();
            want.sort();
            assert_eq!(keys, want, "round {round}");
        }
    });
}

#[test]
fn randomkey_over_slow_cold_records_does_not_delay_other_clients() {
    assert_resident_reads_not_delayed_with("RANDOMKEY's cold reads", |c, store| {
        // 40 cold keys and one in memory: most draws read the cold tier.
        let mut cold_draws = 0;
        while cold_draws < 20 {
            store.cool();
            let k: String = redis::cmd("RANDOMKEY").query(c).expect("randomkey");
            assert!(k == "hot" || k.starts_with("cold"), "{k}");
            cold_draws += usize::from(k != "hot");
        }
    });
}

#[test]
fn sort_by_and_get_patterns_over_slow_cold_keys_do_not_delay_other_clients() {
    assert_resident_reads_not_delayed_over("SORT's pattern keys", 200, |c, _| {
        // Lists in memory whose elements name cold keys: BY and GET read
        // them ahead, off the lock (100 reads of 100 ms per SORT).
        for half in 0..2u32 {
            let ids: Vec<u32> = (half * 100..half * 100 + 100).rev().collect();
            let list = format!("ids{half}");
            let _: () = redis::cmd("RPUSH")
                .arg(&list)
                .arg(&ids)
                .query(c)
                .expect("rpush");
            let got: Vec<String> = redis::cmd("SORT")
                .arg(&list)
                .arg("BY")
                .arg("cold*")
                .arg("GET")
                .arg("#")
                .arg("GET")
                .arg("cold*")
                .query(c)
                .expect("sort");
            let want: Vec<String> = (half * 100..half * 100 + 100)
                .flat_map(|i| [i.to_string(), i.to_string()])
                .collect();
            assert_eq!(got, want);
        }
    });
}

#[test]
fn sort_by_the_weights_of_a_long_list_reads_them_all_ahead() {
    // BY needs the weight of every element: up to 16384 weight keys are
    // read ahead, off the lock (GET's only up to 1024, as LIMIT may use a
    // few).
    let (s, _store) = server_with_store(strata_storage::cold::MemStore::slow(
        Duration::from_millis(1),
    ));
    let mut c = s.client().get_connection().expect("conn");
    let mut p = redis::pipe();
    for i in 0..3000u32 {
        p.cmd("SET").arg(format!("w{i}")).arg(3000 - i).ignore();
    }
    let () = p.query(&mut c).expect("weights");
    spill_all(&mut c, 3000);
    let _: () = redis::cmd("RPUSH")
        .arg("ids")
        .arg((0..3000u32).collect::<Vec<_>>())
        .query(&mut c)
        .expect("rpush");
    let locked = info_field(&mut c, "tiering", "cold_reads_locked");
    let got: Vec<String> = redis::cmd("SORT")
        .arg("ids")
        .arg("BY")
        .arg("w*")
        .query(&mut c)
        .expect("sort");
    let want: Vec<String> = (0..3000u32).rev().map(|i| i.to_string()).collect();
    assert_eq!(got, want);
    assert_eq!(
        info_field(&mut c, "tiering", "cold_reads_locked"),
        locked,
        "SORT read weights under the lock"
    );
}

#[test]
fn sort_patterns_over_a_cold_source_do_not_delay_other_clients() {
    assert_resident_reads_not_delayed_after(
        "SORT's pattern keys of a cold source",
        200,
        |c| {
            // Lists whose elements name cold keys, cold themselves: the
            // patterns' keys are known only once the list is read.
            for half in 0..2u32 {
                let ids: Vec<u32> = (half * 100..half * 100 + 100).rev().collect();
                let _: () = redis::cmd("RPUSH")
                    .arg(format!("ids{half}"))
                    .arg(&ids)
                    .query(c)
                    .expect("rpush");
            }
            2
        },
        |c, _| {
            let sort = |list: &str| cmd(&["SORT", list, "BY", "cold*", "GET", "#", "GET", "cold*"]);
            let want = |half: u32| -> Vec<String> {
                (half * 100..half * 100 + 100)
                    .flat_map(|i| [i.to_string(), i.to_string()])
                    .collect()
            };
            let got: Vec<String> = sort("ids0").query(c).expect("sort");
            assert_eq!(got, want(0));
            // In a transaction too.
            let got: Vec<Vec<String>> = transaction(c, &[sort("ids1")]);
            assert_eq!(got, vec![want(1)]);
        },
    );
}

/// Runs `cmds` in MULTI/EXEC, each sent on its own (so the commands are
/// queued before EXEC arrives), and returns EXEC's replies.
fn transaction<T: redis::FromRedisValue>(c: &mut Connection, cmds: &[redis::Cmd]) -> T {
    let _: () = redis::cmd("MULTI").query(c).expect("multi");
    for cmd in cmds {
        let queued: String = cmd.query(c).expect("queue");
        assert_eq!(queued, "QUEUED");
    }
    redis::cmd("EXEC").query(c).expect("exec")
}

fn cmd(args: &[&str]) -> redis::Cmd {
    let mut c = redis::cmd(args[0]);
    for a in &args[1..] {
        c.arg(*a);
    }
    c
}

#[test]
fn scan_keys_and_randomkey_in_a_transaction_do_not_delay_other_clients() {
    assert_resident_reads_not_delayed_with("a transaction's range reads", |c, store| {
        // EXEC reads ahead for every queued command, SCAN, KEYS and
        // RANDOMKEY included.
        for round in 0..20 {
            store.cool();
            let (mut keys, (next, scanned), random): (Vec<String>, (u64, Vec<String>), String) =
                transaction(
                    c,
                    &[
                        cmd(&["KEYS", "cold1*"]),
                        cmd(&["SCAN", "0", "COUNT", "5000"]),
                        cmd(&["RANDOMKEY"]),
                    ],
                );
            keys.sort();
            let want: Vec<String> = (0..40)
                .map(|i| format!("cold{i}"))
                .filter(|k| k.starts_with("cold1"))
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            assert_eq!(keys, want, "round {round}");
            assert_eq!((next, scanned.len()), (0, 41), "round {round}");
            assert!(random == "hot" || random.starts_with("cold"), "{random}");
        }
    });
}

#[test]
fn pipelined_scans_each_use_their_own_read_ahead() {
    assert_resident_reads_not_delayed_with("a pipeline's SCANs", |c, store| {
        // The walk's pages, one call at a time (the store warmed first by
        // one long SCAN).
        let (_, all): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(0)
            .arg("COUNT")
            .arg(5000)
            .query(c)
            .expect("scan");
        assert_eq!(all.len(), 41);
        let mut pages: Vec<(u64, (u64, Vec<String>))> = Vec::new();
        let mut cursor = 0u64;
        loop {
            let page: (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("COUNT")
                .arg(2)
                .query(c)
                .expect("scan");
            pages.push((cursor, page.clone()));
            cursor = page.0;
            if cursor == 0 {
                break;
            }
        }
        assert!(pages.len() >= 10, "{} pages", pages.len());
        // The first and the middle page in one pipeline, cold again: each
        // SCAN finds its own range read ahead (the other's does not cover
        // it), so neither reads under the lock.
        let mid = pages.len() / 2;
        for _ in 0..20 {
            store.cool();
            let got: Vec<(u64, Vec<String>)> = redis::pipe()
                .cmd("SCAN")
                .arg(pages[0].0)
                .arg("COUNT")
                .arg(2)
                .cmd("SCAN")
                .arg(pages[mid].0)
                .arg("COUNT")
                .arg(2)
                .query(c)
                .expect("pipeline");
            assert_eq!(got, vec![pages[0].1.clone(), pages[mid].1.clone()]);
        }
    });
}

#[test]
fn range_reads_ahead_in_a_transaction_see_its_own_writes() {
    let s = TestServer::start(&[]);
    let mut c = s.client().get_connection().expect("conn");
    set_numbered(&mut c, "k", 100);
    spill_all(&mut c, 100);
    // The commands before KEYS and SCAN in the transaction change the
    // keyspace their records were read ahead from. Queued one by one (read
    // ahead at EXEC) and pipelined (read ahead before MULTI runs).
    let cmds = [
        cmd(&["DEL", "k10", "k11"]),
        cmd(&["SET", "k1x", "v"]),
        cmd(&["DBSIZE"]),
        cmd(&["KEYS", "k1?"]),
        cmd(&["SCAN", "0", "COUNT", "1000"]),
        cmd(&["KEYS", "k9*"]),
    ];
    type Replies = (
        i64,
        String,
        i64,
        Vec<String>,
        (u64, Vec<String>),
        Vec<String>,
    );
    for pipelined in [false, true] {
        let (_, _, n, mut b, (_, mut scanned), mut c2): Replies = if pipelined {
            let mut p = redis::pipe();
            p.atomic();
            for q in &cmds {
                p.add_command(q.clone());
            }
            p.query(&mut c).expect("exec")
        } else {
            transaction(&mut c, &cmds)
        };
        assert_eq!(n, 99, "pipelined {pipelined}");
        b.sort();
        let want: Vec<String> = [
            "k12", "k13", "k14", "k15", "k16", "k17", "k18", "k19", "k1x",
        ]
        .iter()
        .map(|k| k.to_string())
        .collect();
        assert_eq!(b, want, "pipelined {pipelined}");
        scanned.sort();
        let mut all: Vec<String> = (0..100)
            .filter(|i| *i != 10 && *i != 11)
            .map(|i| format!("k{i}"))
            .chain(["k1x".to_string()])
            .collect();
        all.sort();
        assert_eq!(scanned, all, "pipelined {pipelined}");
        c2.sort();
        let mut nines: Vec<String> = std::iter::once(9)
            .chain(90..100)
            .map(|i| format!("k{i}"))
            .collect();
        nines.sort();
        assert_eq!(c2, nines, "pipelined {pipelined}");
        // Put the deleted keys back, cold, for the next round.
        set_numbered(&mut c, "k", 12);
        let _: () = redis::cmd("DEL").arg("k1x").query(&mut c).expect("del");
        spill_all(&mut c, 100);
    }
    // A pipeline of SCANs from different cursors, each with its own read.
    let mut cursor = 0u64;
    let mut seen = std::collections::BTreeSet::new();
    loop {
        let pages: Vec<(u64, Vec<String>)> = redis::pipe()
            .cmd("SCAN")
            .arg(cursor)
            .arg("COUNT")
            .arg(7)
            .cmd("SCAN")
            .arg(cursor)
            .arg("COUNT")
            .arg(7)
            .query(&mut c)
            .expect("scan");
        assert_eq!(pages[0], pages[1]);
        seen.extend(pages[0].1.iter().cloned());
        cursor = pages[0].0;
        if cursor == 0 {
            break;
        }
    }
    assert_eq!(seen.len(), 100);
}

#[test]
fn keys_brings_a_long_read_ahead_up_to_date_without_reading_under_the_lock() {
    // KEYS reads a slow tier for a second while another client changes
    // 3500 of its records (more than the change log's ring holds): the
    // reply is the keyspace of its moment, and the tier is not read
    // again under the lock (a whole-tier read there would stall every
    // client for as long).
    let (s, store) = server_with_store(strata_storage::cold::MemStore::slow(Duration::ZERO));
    let mut c = s.client().get_connection().expect("conn");
    set_numbered(&mut c, "k", 3000);
    spill_all(&mut c, 3000);
    let _: () = redis::cmd("SET")
        .arg("zz")
        .arg("v")
        .query(&mut c)
        .expect("set");
    spill_all(&mut c, 3001);
    // Every record read once (in the simulated page cache) but `zz`'s, so
    // only a scan of the whole tier is slow.
    store.cool();
    let mut exists = redis::cmd("EXISTS");
    for i in 0..3000 {
        exists.arg(format!("k{i}"));
    }
    let n: i64 = exists.query(&mut c).expect("exists");
    assert_eq!(n, 3000);
    let locked = info_field(&mut c, "tiering", "cold_reads_locked");
    *store.read_delay.lock().expect("delay") = Duration::from_millis(1000);
    let port = s.port;
    let keys = std::thread::spawn(move || {
        let mut c = connect(port);
        let mut keys: Vec<String> = redis::cmd("KEYS").arg("k*").query(&mut c).expect("keys");
        keys.sort();
        (keys, Instant::now())
    });
    std::thread::sleep(Duration::from_millis(150));
    let mut p = redis::pipe();
    for i in 0..500 {
        p.cmd("DEL").arg(format!("k{i}")).ignore();
    }
    for i in 0..3000 {
        p.cmd("PEXPIRE").arg(format!("k{i}")).arg(100_000).ignore();
    }
    let () = p.query(&mut c).expect("pipeline");
    let changed = Instant::now();
    let (got, answered) = keys.join().expect("keys thread");
    assert!(
        changed < answered,
        "the changes did not land during KEYS's read"
    );
    let mut want: Vec<String> = (500..3000).map(|i| format!("k{i}")).collect();
    want.sort();
    assert_eq!(got, want);
    assert_eq!(cold_keys(&mut c), 2501);
    assert_eq!(
        info_field(&mut c, "tiering", "cold_reads_locked"),
        locked,
        "KEYS read the store under the lock"
    );
    let ttl: i64 = redis::cmd("PTTL").arg("k2999").query(&mut c).expect("pttl");
    assert!(ttl > 90_000, "{ttl}");
}

#[test]
fn keys_and_randomkey_read_ahead_see_changes_made_meanwhile() {
    let s = TestServer::start(&[]);
    let mut c = s.client().get_connection().expect("conn");
    set_numbered(&mut c, "k", 300);
    spill_all(&mut c, 300);
    let port = s.port;
    // Another client deletes, writes and expires keys while this one
    // runs KEYS and RANDOMKEY: every reply matches the keyspace of its
    // moment (the writer pauses while it is checked).
    for round in 0..30 {
        let _: () = redis::cmd("DEL")
            .arg(format!("k{round}"))
            .query(&mut c)
            .expect("del");
        let _: () = redis::cmd("SET")
            .arg(format!("new{round}"))
            .arg("v")
            .query(&mut c)
            .expect("set");
        let _: () = redis::cmd("PEXPIRE")
            .arg(format!("k{}", 100 + round))
            .arg(1)
            .query(&mut c)
            .expect("pexpire");
        std::thread::sleep(Duration::from_millis(3));
        if round % 10 == 0 {
            spill_all(&mut c, 300 - 2 * (round + 1) as i64);
        }
        let mut keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut c).expect("keys");
        keys.sort();
        let mut want: Vec<String> = (round + 1..300)
            .filter(|i| !(100..=100 + round).contains(i))
            .map(|i| format!("k{i}"))
            .chain((0..=round).map(|i| format!("new{i}")))
            .collect();
        want.sort();
        assert_eq!(keys, want, "round {round}");
        let mut other = connect(port);
        for _ in 0..20 {
            let k: String = redis::cmd("RANDOMKEY")
                .query(&mut other)
                .expect("randomkey");
            assert!(want.binary_search(&k).is_ok(), "round {round}: {k}");
        }
    }
    // Several KEYS in one pipeline: each gets its own pattern's keys.
    let (mut a, mut b): (Vec<String>, Vec<String>) = redis::pipe()
        .cmd("KEYS")
        .arg("k29?")
        .cmd("KEYS")
        .arg("new1?")
        .query(&mut c)
        .expect("pipeline");
    a.sort();
    b.sort();
    assert_eq!(a, (290..300).map(|i| format!("k{i}")).collect::<Vec<_>>());
    assert_eq!(b, (10..20).map(|i| format!("new{i}")).collect::<Vec<_>>());
}

#[test]
fn bgsave_covers_both_tiers_and_redis_loads_it() {
    let Some(_) = common::which("redis-check-rdb") else {
        eprintln!("redis-check-rdb missing: skipped");
        return;
    };
    let s = TestServer::start(&[]);
    let mut c = s.client().get_connection().expect("conn");
    for i in 0..200 {
        let _: () = redis::cmd("SET")
            .arg(format!("s{i}"))
            .arg(format!("value-{i}").repeat(10))
            .query(&mut c)
            .expect("set");
    }
    let _: () = redis::cmd("HSET")
        .arg("h")
        .arg(&["a", "1", "b", "2"])
        .query(&mut c)
        .expect("hset");
    let _: () = redis::cmd("EXPIRE")
        .arg("s7")
        .arg(5000)
        .query(&mut c)
        .expect("expire");
    spill_all(&mut c, 150);
    let _: () = redis::cmd("SET")
        .arg("hot")
        .arg("yes")
        .query(&mut c)
        .expect("set");
    let _: () = redis::cmd("SAVE").query(&mut c).expect("save");
    let path = s.dir.join("dump.rdb");
    let out = std::process::Command::new("redis-check-rdb")
        .arg(&path)
        .output()
        .expect("check");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let Some(redis) = common::RedisServer::load_dump(&path) else {
        return;
    };
    let mut r = redis.connection();
    assert_eq!(
        redis::cmd("DBSIZE").query::<i64>(&mut r).expect("dbsize"),
        202
    );
    for i in 0..200 {
        let v: String = redis::cmd("GET")
            .arg(format!("s{i}"))
            .query(&mut r)
            .expect("get");
        assert_eq!(v, format!("value-{i}").repeat(10));
    }
    let ttl: i64 = redis::cmd("TTL").arg("s7").query(&mut r).expect("ttl");
    assert!(ttl > 4000);
    assert_eq!(
        redis::cmd("HGET")
            .arg("h")
            .arg("b")
            .query::<String>(&mut r)
            .expect("hget"),
        "2"
    );
}

#[test]
fn a_dump_larger_than_maxmemory_imports_by_spilling() {
    let Some(redis) = common::RedisServer::start() else {
        return;
    };
    let mut r = redis.connection();
    let value = "v".repeat(1000);
    for chunk in (0..20_000).collect::<Vec<_>>().chunks(1000) {
        let mut p = redis::pipe();
        for i in chunk {
            p.cmd("SET")
                .arg(format!("imp:{i}"))
                .arg(format!("{i}:{value}"))
                .ignore();
        }
        p.query::<()>(&mut r).expect("fill");
    }
    let _: () = redis::cmd("SAVE").query(&mut r).expect("save");
    let dump: String = redis::cmd("CONFIG")
        .arg("GET")
        .arg("dir")
        .query::<Vec<String>>(&mut r)
        .expect("dir")[1]
        .clone();
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::copy(
        std::path::Path::new(&dump).join("dump.rdb"),
        dir.path().join("dump.rdb"),
    )
    .expect("copy");
    // ~20 MB of values with a limit far below it.
    let s = TestServer::start_in(dir.path(), &[("maxmemory", "1")]).expect("start");
    let mut c = s.client().get_connection().expect("conn");
    assert_eq!(
        redis::cmd("DBSIZE").query::<i64>(&mut c).expect("dbsize"),
        20_000
    );
    assert!(cold_keys(&mut c) > 10_000, "import did not spill");
    common::config_set(&mut c, "maxmemory", "0");
    for i in (0..20_000).step_by(97) {
        let v: String = redis::cmd("GET")
            .arg(format!("imp:{i}"))
            .query(&mut c)
            .expect("get");
        assert_eq!(v, format!("{i}:{value}"));
    }
}

#[test]
fn a_full_disk_tier_falls_back_to_the_eviction_policy() {
    // A tiny disk budget: once reached, spilling stops; with the default
    // `noeviction`, writes that need memory get Redis's OOM error while
    // reads (of both tiers) keep working.
    let s = TestServer::start(&[("tier-max-disk", "64kb")]);
    let mut c = s.client().get_connection().expect("conn");
    common::config_set(&mut c, "maxmemory", "1");
    let mut refused = None;
    for i in 0..5000u32 {
        // Incompressible values fill the disk budget quickly.
        let v: String = (0..1000u32)
            .map(|j| {
                char::from(b'a' + ((i.wrapping_mul(7919) ^ j.wrapping_mul(104_729)) % 26) as u8)
            })
            .collect();
        match redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg(v)
            .query::<()>(&mut c)
        {
            Ok(()) => {}
            Err(e) => {
                refused = Some((i, e.to_string()));
                break;
            }
        }
    }
    let (at, err) = refused.expect("the disk budget never stopped writes");
    assert!(
        err.contains("command not allowed when used memory"),
        "{err}"
    );
    assert_eq!(info_field(&mut c, "tiering", "tier_disk_full"), 1);
    assert!(cold_keys(&mut c) > 0);
    // Everything written before is still readable.
    let n: i64 = redis::cmd("DBSIZE").query(&mut c).expect("dbsize");
    assert_eq!(n, i64::from(at));
    let v: Option<String> = redis::cmd("GET").arg("k0").query(&mut c).expect("get");
    assert_eq!(v.map(|v| v.len()), Some(1000));
    common::config_set(&mut c, "maxmemory", "0");
    let _: () = redis::cmd("SET")
        .arg("after")
        .arg("1")
        .query(&mut c)
        .expect("writes work under the limit");
}
