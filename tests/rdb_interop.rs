//! dump.rdb interop with Debian's redis-server: Redis's dumps load into
//! Strata, Strata's dumps pass redis-check-rdb and load into Redis, and
//! corrupt files are refused with their name and offset.

mod common;

use std::time::{Duration, Instant};

use common::{which, RawConn, RedisServer, Resp, TestServer};

/// Fills a server with every type, small and large encodings, with TTLs.
fn fill(c: &mut RawConn) {
    c.cmd_str("SET s hello");
    c.cmd_str("SET i 12345");
    c.cmd(&[b"SET", b"big", "z".repeat(5000).as_bytes()]);
    c.cmd_str("SET ttl v");
    c.cmd_str("PEXPIRE ttl 100000");
    c.cmd_str("RPUSH l a b 1 2");
    c.cmd_str("HSET h f v n 1");
    c.cmd_str("SADD si 1 2 3");
    c.cmd_str("SADD ss a b c");
    c.cmd_str("ZADD z 1 a 2.5 b");
    c.cmd_str("XADD x 1-1 f v n 7");
    c.cmd_str("XADD x 2-0 f w n 8");
    c.cmd_str("XADD x 3-0 other 1");
    c.cmd_str("XDEL x 2-0");
    c.cmd_str("XGROUP CREATE x g 0");
    c.cmd_str("XREADGROUP GROUP g alice COUNT 1 STREAMS x >");
    c.cmd_str("XGROUP CREATECONSUMER x g bob");
    c.cmd_str("XGROUP CREATE xempty g $ MKSTREAM");
    c.cmd_str("SELECT 3");
    c.cmd_str("SET other db3");
    c.cmd_str("SELECT 0");
    for i in 0..600 {
        let m = format!("member:{i}");
        c.cmd(&[b"RPUSH", b"lbig", m.as_bytes()]);
        c.cmd(&[b"HSET", b"hbig", m.as_bytes(), i.to_string().as_bytes()]);
        c.cmd(&[b"SADD", b"sbig", m.as_bytes()]);
        c.cmd(&[b"XADD", b"xbig", b"*", b"member", m.as_bytes()]);
        c.cmd(&[
            b"ZADD",
            b"zbig",
            (i as f64 / 3.0).to_string().as_bytes(),
            m.as_bytes(),
        ]);
    }
}

fn keys_of(c: &mut RawConn) -> Vec<Vec<u8>> {
    match c.cmd_str("KEYS *") {
        Resp::Array(Some(v)) => {
            let mut k: Vec<Vec<u8>> = v
                .into_iter()
                .map(|r| {
                    if let Resp::Bulk(Some(b)) = r {
                        b
                    } else {
                        Vec::new()
                    }
                })
                .collect();
            k.sort();
            k
        }
        other => panic!("{other:?}"),
    }
}

fn contents(c: &mut RawConn, key: &[u8]) -> Resp {
    let t = c.cmd(&[b"TYPE", key]);
    let v = match &t {
        Resp::Simple(s) if s == "string" => c.cmd(&[b"GET", key]),
        Resp::Simple(s) if s == "list" => c.cmd(&[b"LRANGE", key, b"0", b"-1"]),
        Resp::Simple(s) if s == "hash" => c.cmd(&[b"HGETALL", key]).sorted(),
        Resp::Simple(s) if s == "set" => c.cmd(&[b"SMEMBERS", key]).sorted(),
        Resp::Simple(s) if s == "zset" => c.cmd(&[b"ZRANGE", key, b"0", b"-1", b"WITHSCORES"]),
        Resp::Simple(s) if s == "stream" => Resp::Array(Some(vec![
            c.cmd(&[b"XRANGE", key, b"-", b"+"]),
            c.cmd(&[b"XINFO", b"STREAM", key]),
            c.cmd(&[b"XINFO", b"GROUPS", key]),
        ])),
        other => panic!("type {other:?}"),
    };
    let ttl = match c.cmd(&[b"PTTL", key]) {
        Resp::Int(ms) if ms > 0 => Resp::Int(1),
        other => other,
    };
    Resp::Array(Some(vec![t, v, ttl]))
}

fn compare(a: &mut RawConn, b: &mut RawConn) {
    for db in ["0", "3"] {
        a.cmd(&[b"SELECT", db.as_bytes()]);
        b.cmd(&[b"SELECT", db.as_bytes()]);
        let keys = keys_of(a);
        assert!(!keys.is_empty());
        assert_eq!(keys, keys_of(b), "db {db} key sets differ");
        for k in keys {
            assert_eq!(
                contents(a, &k),
                contents(b, &k),
                "key {}",
                String::from_utf8_lossy(&k)
            );
        }
    }
}

#[test]
fn redis_dump_loads_into_strata() {
    let Some(redis) = RedisServer::require() else {
        return;
    };
    let mut r = RawConn::connect(redis.port);
    fill(&mut r);
    assert_eq!(r.cmd_str("SAVE"), Resp::Simple("OK".into()));
    let dir = tempfile::tempdir().expect("tempdir");
    let dump = match r.cmd_str("CONFIG GET dir") {
        Resp::Array(Some(v)) => match &v[1] {
            Resp::Bulk(Some(d)) => {
                std::path::PathBuf::from(String::from_utf8_lossy(d).into_owned()).join("dump.rdb")
            }
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    };
    std::fs::copy(&dump, dir.path().join("dump.rdb")).expect("copy dump");
    let strata = TestServer::start_in(dir.path(), &[]).expect("Strata loads Redis's dump");
    let mut s = strata.raw();
    compare(&mut r, &mut s);
}

fn wait_bgsave(c: &mut RawConn) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Resp::Bulk(Some(info)) = c.cmd_str("INFO persistence") {
            let text = String::from_utf8_lossy(&info).into_owned();
            if text.contains("rdb_bgsave_in_progress:0") && !text.contains("rdb_saves:0") {
                return;
            }
        }
        assert!(Instant::now() < deadline, "BGSAVE did not finish");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn strata_dump_passes_redis_check_rdb_and_loads_into_redis() {
    let strata = TestServer::start(&[]);
    let mut s = strata.raw();
    fill(&mut s);
    assert_eq!(
        s.cmd_str("BGSAVE"),
        Resp::Simple("Background saving started".into())
    );
    wait_bgsave(&mut s);
    let file = strata.dir.join("dump.rdb");
    assert!(file.exists());
    if let Some(check) = which("redis-check-rdb") {
        let out = std::process::Command::new(check)
            .arg(&file)
            .output()
            .expect("redis-check-rdb");
        assert!(
            out.status.success(),
            "redis-check-rdb: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    } else {
        assert!(
            std::env::var("CI").is_err(),
            "redis-check-rdb must be installed in CI"
        );
    }
    let Some(redis) = RedisServer::load_dump(&file) else {
        return;
    };
    let mut r = RawConn::connect(redis.port);
    compare(&mut s, &mut r);
    // And Strata reloads its own dump.
    assert_eq!(s.cmd_str("SAVE"), Resp::Simple("OK".into()));
    let again = TestServer::start_in(&strata.dir, &[]).expect("reload");
    let mut s2 = again.raw();
    compare(&mut s, &mut s2);
}

#[test]
fn corrupt_dumps_are_refused_with_offset() {
    let strata = TestServer::start(&[]);
    let mut s = strata.raw();
    fill(&mut s);
    assert_eq!(s.cmd_str("SAVE"), Resp::Simple("OK".into()));
    let good = std::fs::read(strata.dir.join("dump.rdb")).expect("dump");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("dump.rdb");
    let try_load = |bytes: &[u8]| -> Result<(), String> {
        std::fs::write(&path, bytes).expect("write");
        TestServer::start_in(dir.path(), &[]).map(|_| ())
    };
    // Truncated file.
    let err = try_load(&good[..good.len() / 2]).expect_err("truncated");
    assert!(err.contains("dump.rdb") && err.contains("offset"), "{err}");
    // Zero-filled tail.
    let mut zeroed = good.clone();
    let n = zeroed.len();
    zeroed[n - 40..].fill(0);
    assert!(try_load(&zeroed).is_err());
    // Wrong CRC.
    let mut crc = good.clone();
    let n = crc.len();
    crc[n - 1] ^= 0xff;
    let err = try_load(&crc).expect_err("crc");
    assert!(err.contains("checksum"), "{err}");
    // Flipped bytes in every part of the file.
    for i in (9..good.len() - 8).step_by(good.len() / 50) {
        let mut bad = good.clone();
        bad[i] ^= 0x5a;
        assert!(try_load(&bad).is_err(), "flip at {i} loaded");
    }
    // The good file still loads.
    assert!(try_load(&good).is_ok());
}
