//! Memory per small hash and small set, Strata against redis-server.
//!
//! Loads the same keys into both (small hashes of 10 short fields, small
//! sets of 10 integers) and compares bytes per key: Strata's allocated
//! bytes (jemalloc, this process hosts the server) against Redis's
//! `used_memory`. Prints the figures; asserts a loose bound so a blow-up
//! (e.g. losing the compact encodings) fails the test, while the exact
//! comparison is left to the benchmark.

mod common;

use common::{RawConn, RedisServer, Resp, TestServer};

const KEYS: usize = 50_000;

fn allocated() -> usize {
    let _ = tikv_jemalloc_ctl::epoch::advance();
    tikv_jemalloc_ctl::stats::allocated::read().unwrap_or(0)
}

fn redis_used(c: &mut RawConn) -> usize {
    match c.cmd(&[b"INFO", b"memory"]) {
        Resp::Bulk(Some(b)) => String::from_utf8_lossy(&b)
            .lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0),
        _ => 0,
    }
}

fn load(c: &mut RawConn, make: &dyn Fn(usize) -> Vec<Vec<u8>>) {
    // Pipelined in batches.
    for chunk in (0..KEYS).collect::<Vec<_>>().chunks(500) {
        for &i in chunk {
            let args = make(i);
            let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
            c.send(&refs);
        }
        for _ in chunk {
            let r = c.read();
            assert!(matches!(r, Resp::Int(_)), "{r:?}");
        }
    }
}

fn hash_cmd(i: usize) -> Vec<Vec<u8>> {
    let mut v = vec![b"HSET".to_vec(), format!("user:{i}").into_bytes()];
    for j in 0..10 {
        v.push(format!("field{j}").into_bytes());
        v.push(format!("value{j}").into_bytes());
    }
    v
}

fn set_cmd(i: usize) -> Vec<Vec<u8>> {
    let mut v = vec![b"SADD".to_vec(), format!("set:{i}").into_bytes()];
    for j in 0..10 {
        v.push((j * 7 + i % 100).to_string().into_bytes());
    }
    v
}

#[test]
fn small_collections_memory_per_key() {
    let Some(redis) = RedisServer::require() else {
        return;
    };
    let strata = TestServer::start(&[]);
    let mut r = RawConn::connect(redis.port);
    let mut s = RawConn::connect(strata.port);
    for (name, make) in [
        ("hash", &hash_cmd as &dyn Fn(usize) -> Vec<Vec<u8>>),
        ("set", &set_cmd),
    ] {
        r.cmd(&[b"FLUSHALL"]);
        s.cmd(&[b"FLUSHALL"]);
        let r0 = redis_used(&mut r);
        let s0 = allocated();
        load(&mut r, make);
        load(&mut s, make);
        let r_per = (redis_used(&mut r).saturating_sub(r0)) / KEYS;
        let s_per = allocated().saturating_sub(s0) / KEYS;
        eprintln!("{name}: strata {s_per} bytes/key, redis {r_per} bytes/key");
        assert!(
            s_per <= r_per * 3 / 2,
            "{name}: strata {s_per} bytes/key vs redis {r_per}"
        );
    }
}
