//! Per-type zstd dictionaries in the cold tier: spilled values train a
//! dictionary, later spills use it (INFO tiering `dictionary_records`,
//! `dictionaries`), every value reads back intact, a BGSAVE of
//! dictionary-compressed cold keys loads into redis-server with the same
//! data, and the dictionaries survive a restart through the cold
//! checkpoint (AOF on), so records written with them still decode.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::ServerProcess as Proc;
use common::{info_field, TestServer};
use redis::Connection;
use strata_storage::cold::{self, Cf, ColdStore};

fn info_num(c: &mut Connection, section: &str, field: &str) -> i64 {
    let v = info_field(c, section, field);
    v.parse()
        .unwrap_or_else(|_| panic!("INFO {section} {field}: {v:?}"))
}

fn wait_until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Spills every key (`maxmemory 1`) until `want` keys are cold, then
/// freezes the tiers (`maxmemory 0`).
fn spill_all(c: &mut Connection, want: i64) {
    common::config_set(c, "maxmemory", "1");
    wait_until("keys to spill", 60, || {
        let _: i64 = redis::cmd("DBSIZE").query(c).expect("dbsize");
        info_num(c, "tiering", "cold_keys") >= want
    });
    common::config_set(c, "maxmemory", "0");
}

fn mix(i: u64) -> u64 {
    i.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17) ^ (i >> 3)
}

/// A JSON-ish document, similar from key to key.
fn json(i: u64) -> String {
    let r = mix(i);
    let plans = ["free", "pro", "team", "enterprise"];
    format!(
        r#"{{"id":{i},"user":"user{}","email":"user{}@example.com","active":{},"plan":"{}","created":"2024-{:02}-{:02}T{:02}:{:02}:00Z","tags":["alpha","beta","gamma"],"address":{{"street":"{} Evergreen Terrace","city":"Springfield","zip":"{:05}"}},"note":"the quick brown fox jumps over the lazy dog"}}"#,
        r % 100_000,
        (r >> 20) % 100_000,
        r & 1 == 0,
        plans[(r >> 7) as usize % 4],
        1 + (r >> 11) % 12,
        1 + (r >> 15) % 28,
        (r >> 19) % 24,
        (r >> 23) % 60,
        (r >> 29) % 1000,
        (r >> 37) % 100_000,
    )
}

fn hash_fields(i: u64) -> Vec<(String, String)> {
    let r = mix(i + 1_000_000);
    vec![
        ("name".into(), format!("customer number {}", r % 10_000)),
        ("email".into(), format!("c{}@example.org", r % 77_777)),
        ("city".into(), "Shelbyville".into()),
        ("visits".into(), ((r >> 9) % 500).to_string()),
    ]
}

fn write_strings(c: &mut Connection, range: std::ops::Range<u64>) {
    let mut pipe = redis::pipe();
    for i in range {
        pipe.cmd("SET").arg(format!("s{i}")).arg(json(i)).ignore();
    }
    pipe.query::<()>(c).expect("set");
}

fn write_hashes(c: &mut Connection, range: std::ops::Range<u64>) {
    let mut pipe = redis::pipe();
    for i in range {
        pipe.cmd("HSET")
            .arg(format!("h{i}"))
            .arg(hash_fields(i))
            .ignore();
    }
    pipe.query::<()>(c).expect("hset");
}

fn check_strings(c: &mut Connection, range: std::ops::Range<u64>) {
    let keys: Vec<u64> = range.collect();
    for chunk in keys.chunks(500) {
        let names: Vec<String> = chunk.iter().map(|i| format!("s{i}")).collect();
        let vals: Vec<Option<String>> = redis::cmd("MGET").arg(&names).query(c).expect("mget");
        for (i, v) in chunk.iter().zip(vals) {
            assert_eq!(v.as_deref(), Some(json(*i).as_str()), "s{i}");
        }
    }
}

fn check_hashes(c: &mut Connection, range: std::ops::Range<u64>) {
    for i in range {
        let got: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(format!("h{i}"))
            .query(c)
            .expect("hgetall");
        let want: HashMap<String, String> = hash_fields(i).into_iter().collect();
        assert_eq!(got, want, "h{i}");
    }
}

const FIRST: u64 = 6000;
const SECOND: u64 = 3000;
const HASHES: u64 = 500;

/// Writes enough similar strings to train a dictionary, waits for it,
/// then writes and spills more, which use it.
fn fill_with_dictionary(c: &mut Connection) {
    write_strings(c, 0..FIRST);
    write_hashes(c, 0..HASHES);
    spill_all(c, (FIRST + HASHES) as i64);
    wait_until("a dictionary", 30, || {
        info_num(c, "tiering", "dictionaries") >= 1
    });
    write_strings(c, FIRST..FIRST + SECOND);
    spill_all(c, (FIRST + SECOND + HASHES) as i64);
    assert!(info_num(c, "tiering", "dictionary_records") > 0);
    assert!(info_num(c, "tiering", "dictionary_trainings") >= 1);
}

/// Cold records of database 0 by dictionary id.
fn records_by_dict(store: &dyn ColdStore, id: u16) -> HashMap<u32, usize> {
    let mut out = HashMap::new();
    let (from, to) = cold::db_range(id);
    store
        .scan(Cf::Data, &from, &to, &mut |_, v| {
            let r = cold::decode_record(v).expect("record");
            *out.entry(r.dict_id).or_default() += 1;
            true
        })
        .expect("scan");
    out
}

#[test]
fn spills_train_and_use_a_dictionary_and_redis_loads_the_dump() {
    let s = TestServer::start(&[]);
    let mut c = s.client().get_connection().expect("conn");
    fill_with_dictionary(&mut c);
    let total = FIRST + SECOND + HASHES;
    let (store, id) = {
        let st = s.shared.state.lock();
        st.keyspace.dbs[0].cold_store().expect("cold store")
    };
    let by_dict = records_by_dict(store.as_ref(), id);
    let with_dict: usize = by_dict
        .iter()
        .filter(|(d, _)| **d != 0)
        .map(|(_, n)| n)
        .sum();
    assert!(with_dict as u64 >= SECOND / 2, "{by_dict:?}");
    assert_eq!(by_dict.values().sum::<usize>() as u64, total);
    // Every value reads back (promoting it) intact.
    check_strings(&mut c, 0..FIRST + SECOND);
    check_hashes(&mut c, 0..HASHES);
    assert!(info_num(&mut c, "tiering", "promotions") >= total as i64);
    assert_eq!(info_num(&mut c, "tiering", "cold_errors"), 0);

    // Everything cold again (unchanged keys drop, their dictionary
    // records stay), then a BGSAVE streams the records through the
    // dictionaries into a dump that redis-server loads.
    spill_all(&mut c, total as i64);
    assert!(
        records_by_dict(store.as_ref(), id)
            .iter()
            .any(|(d, n)| *d != 0 && *n > 0),
        "dictionary records cold at BGSAVE"
    );
    let saves = info_num(&mut c, "persistence", "rdb_saves");
    let _: String = redis::cmd("BGSAVE").query(&mut c).expect("bgsave");
    wait_until("BGSAVE", 60, || {
        info_num(&mut c, "persistence", "rdb_saves") > saves
            && info_num(&mut c, "persistence", "rdb_bgsave_in_progress") == 0
    });
    assert_eq!(
        info_field(&mut c, "persistence", "rdb_last_bgsave_status"),
        "ok"
    );
    let dump = s.dir.join("dump.rdb");
    let Some(redis) = common::RedisServer::load_dump(&dump) else {
        return;
    };
    let mut r = redis.connection();
    assert_eq!(
        redis::cmd("DBSIZE").query::<i64>(&mut r).expect("dbsize"),
        total as i64
    );
    check_strings(&mut r, 0..FIRST + SECOND);
    check_hashes(&mut r, 0..HASHES);
}

#[test]
fn turning_dictionaries_off_writes_plain_records_and_keeps_old_ones_readable() {
    let s = TestServer::start(&[]);
    let mut c = s.client().get_connection().expect("conn");
    fill_with_dictionary(&mut c);
    let before = info_num(&mut c, "tiering", "dictionary_records");
    common::config_set(&mut c, "tier-compression-dict", "no");
    let mut pipe = redis::pipe();
    for i in 0..1000u64 {
        pipe.cmd("SET").arg(format!("p{i}")).arg(json(i)).ignore();
    }
    pipe.query::<()>(&mut c).expect("set");
    spill_all(&mut c, (FIRST + SECOND + HASHES + 1000) as i64);
    assert_eq!(
        info_num(&mut c, "tiering", "dictionary_records"),
        before,
        "no dictionary records while off"
    );
    check_strings(&mut c, 0..FIRST + SECOND);
    for i in (0..1000u64).step_by(37) {
        let v: String = redis::cmd("GET")
            .arg(format!("p{i}"))
            .query(&mut c)
            .expect("get");
        assert_eq!(v, json(i));
    }
}

// ---------------------------------------------------------------------
// Restart through the cold checkpoint (a real server process).

const AOF: &[&str] = &["--appendonly", "yes", "--appendfsync", "everysec"];

#[test]
fn dictionaries_survive_a_restart_through_the_cold_checkpoint() {
    let dir = tempfile::tempdir().expect("tmp");
    let port = common::free_port();
    let mut p = Proc::spawn(dir.path(), port, AOF);
    let mut c = p.connect(port);
    fill_with_dictionary(&mut c);
    let dictionaries = info_num(&mut c, "tiering", "dictionaries");
    common::bgrewriteaof_and_wait(&mut c);
    assert!(
        info_num(&mut c, "tiering", "cold_keys") >= (FIRST + SECOND + HASHES) as i64,
        "still cold after the rewrite"
    );
    drop(c);
    drop(p); // SIGKILL: the cold tier comes back from the checkpoint

    let mut p = Proc::spawn(dir.path(), port, AOF);
    let mut c = p.connect(port);
    let log = p.log();
    assert!(log.contains("Cold tier restored"), "{log}");
    assert!(
        log.contains(&format!("{dictionaries} dictionaries")),
        "{log}"
    );
    assert_eq!(info_num(&mut c, "tiering", "dictionaries"), dictionaries);
    assert!(info_num(&mut c, "tiering", "cold_keys") >= (FIRST + SECOND + HASHES) as i64);
    check_strings(&mut c, 0..FIRST + SECOND);
    check_hashes(&mut c, 0..HASHES);
    assert_eq!(info_num(&mut c, "tiering", "cold_errors"), 0);
    // New spills use the restored dictionary at once, without training.
    let mut pipe = redis::pipe();
    for i in 0..500u64 {
        pipe.cmd("SET")
            .arg(format!("n{i}"))
            .arg(json(i + 50_000))
            .ignore();
    }
    pipe.query::<()>(&mut c).expect("set");
    spill_all(&mut c, (FIRST + SECOND + HASHES + 500) as i64);
    assert!(info_num(&mut c, "tiering", "dictionary_records") >= 400);
    assert_eq!(info_num(&mut c, "tiering", "dictionary_trainings"), 0);
    for i in (0..500u64).step_by(13) {
        let v: String = redis::cmd("GET")
            .arg(format!("n{i}"))
            .query(&mut c)
            .expect("get");
        assert_eq!(v, json(i + 50_000));
    }
}
