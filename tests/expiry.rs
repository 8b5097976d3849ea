//! Expiry: TTL precision, EXPIRE options, PERSIST, TTLs carried through
//! RENAME/COPY/MOVE, lazy expiry on every access path, and active expiry
//! from the cron (keys vanish without being accessed, counted in
//! `expired_keys`, without stalling other clients).

mod common;

use std::time::{Duration, Instant};

use common::{RawConn, Resp};

/// The common in-process server; tests read statistics from its state.
type Live = common::TestServer;

fn expired_keys(s: &Live) -> u64 {
    s.shared.state.lock().stats.expired_keys
}

fn int(r: Resp) -> i64 {
    match r {
        Resp::Int(i) => i,
        other => panic!("expected integer, got {other:?}"),
    }
}

fn pipeline(raw: &mut RawConn, cmds: &[Vec<Vec<u8>>]) {
    for c in cmds {
        let refs: Vec<&[u8]> = c.iter().map(|a| a.as_slice()).collect();
        raw.send(&refs);
    }
    for _ in cmds {
        raw.read();
    }
}

fn args(parts: &[&str]) -> Vec<Vec<u8>> {
    parts.iter().map(|p| p.as_bytes().to_vec()).collect()
}

#[test]
fn ttl_precision_and_rounding() {
    let s = Live::start(&[]);
    let mut r = s.raw();
    r.cmd_str("SET k v");
    assert_eq!(r.cmd_str("PEXPIRE k 1600"), Resp::Int(1));
    let pttl = int(r.cmd_str("PTTL k"));
    assert!(pttl > 1400 && pttl <= 1600, "{pttl}");
    // TTL rounds to the nearest second, as Redis: (ms + 500) / 1000.
    assert_eq!(r.cmd_str("TTL k"), Resp::Int(2));
    r.cmd_str("PEXPIRE k 1400");
    assert_eq!(r.cmd_str("TTL k"), Resp::Int(1));
    r.cmd_str("PEXPIRE k 400");
    assert_eq!(r.cmd_str("TTL k"), Resp::Int(0));
    r.cmd_str("EXPIRE k 100");
    assert_eq!(r.cmd_str("TTL k"), Resp::Int(100));
    let pttl = int(r.cmd_str("PTTL k"));
    assert!(pttl > 99_000 && pttl <= 100_000, "{pttl}");
    // Absolute deadlines round-trip exactly.
    r.cmd_str("PEXPIREAT k 33177117420123");
    assert_eq!(r.cmd_str("PEXPIRETIME k"), Resp::Int(33_177_117_420_123));
    assert_eq!(r.cmd_str("EXPIRETIME k"), Resp::Int(33_177_117_420));
    r.cmd_str("EXPIREAT k 33177117420");
    assert_eq!(r.cmd_str("PEXPIRETIME k"), Resp::Int(33_177_117_420_000));
    // Missing key -2, no deadline -1.
    assert_eq!(r.cmd_str("TTL nokey"), Resp::Int(-2));
    assert_eq!(r.cmd_str("PEXPIRETIME nokey"), Resp::Int(-2));
    r.cmd_str("SET plain v");
    assert_eq!(r.cmd_str("PTTL plain"), Resp::Int(-1));
    assert_eq!(r.cmd_str("EXPIRETIME plain"), Resp::Int(-1));
    // The key is gone right after its deadline.
    r.cmd_str("PEXPIRE plain 50");
    std::thread::sleep(Duration::from_millis(80));
    assert_eq!(r.cmd_str("GET plain"), Resp::Bulk(None));
    assert_eq!(r.cmd_str("TTL plain"), Resp::Int(-2));
}

#[test]
fn expire_options_nx_xx_gt_lt() {
    let s = Live::start(&[]);
    let mut r = s.raw();
    r.cmd_str("SET k v");
    // No deadline: NX sets, XX and GT refuse, LT sets.
    assert_eq!(r.cmd_str("EXPIRE k 100 XX"), Resp::Int(0));
    assert_eq!(r.cmd_str("EXPIRE k 100 GT"), Resp::Int(0));
    assert_eq!(r.cmd_str("TTL k"), Resp::Int(-1));
    assert_eq!(r.cmd_str("EXPIRE k 100 LT"), Resp::Int(1));
    assert_eq!(r.cmd_str("PERSIST k"), Resp::Int(1));
    assert_eq!(r.cmd_str("EXPIRE k 100 NX"), Resp::Int(1));
    assert_eq!(r.cmd_str("EXPIRE k 200 NX"), Resp::Int(0));
    assert_eq!(r.cmd_str("TTL k"), Resp::Int(100));
    // With a deadline.
    assert_eq!(r.cmd_str("EXPIRE k 200 XX"), Resp::Int(1));
    assert_eq!(r.cmd_str("EXPIRE k 150 GT"), Resp::Int(0));
    assert_eq!(r.cmd_str("EXPIRE k 300 GT"), Resp::Int(1));
    assert_eq!(r.cmd_str("EXPIRE k 400 LT"), Resp::Int(0));
    assert_eq!(r.cmd_str("EXPIRE k 50 LT"), Resp::Int(1));
    assert_eq!(r.cmd_str("EXPIRE k 60 XX GT"), Resp::Int(1));
    assert_eq!(r.cmd_str("TTL k"), Resp::Int(60));
    // Errors, checked before the key.
    assert_eq!(
        r.cmd_str("EXPIRE nokey 10 NX XX"),
        Resp::Error("ERR NX and XX, GT or LT options at the same time are not compatible".into())
    );
    assert_eq!(
        r.cmd_str("EXPIRE nokey 10 GT LT"),
        Resp::Error("ERR GT and LT options at the same time are not compatible".into())
    );
    assert_eq!(
        r.cmd_str("EXPIRE nokey 10 bogus"),
        Resp::Error("ERR Unsupported option bogus".into())
    );
    assert_eq!(
        r.cmd_str("EXPIRE k 9223372036854775807"),
        Resp::Error("ERR invalid expire time in 'expire' command".into())
    );
    assert_eq!(
        r.cmd_str("PEXPIRE k 9223372036854775807"),
        Resp::Error("ERR invalid expire time in 'pexpire' command".into())
    );
    assert_eq!(r.cmd_str("TTL k"), Resp::Int(60));
    // A deadline in the past deletes the key, even via LT.
    assert_eq!(r.cmd_str("EXPIRE k -1 LT"), Resp::Int(1));
    assert_eq!(r.cmd_str("EXISTS k"), Resp::Int(0));
    assert_eq!(r.cmd_str("EXPIRE k 10"), Resp::Int(0));
}

#[test]
fn persist_and_overwrite() {
    let s = Live::start(&[]);
    let mut r = s.raw();
    r.cmd_str("SET k v");
    assert_eq!(r.cmd_str("PERSIST k"), Resp::Int(0));
    r.cmd_str("EXPIRE k 100");
    assert_eq!(r.cmd_str("PERSIST k"), Resp::Int(1));
    assert_eq!(r.cmd_str("TTL k"), Resp::Int(-1));
    assert_eq!(r.cmd_str("PERSIST nokey"), Resp::Int(0));
    // SET clears the deadline.
    r.cmd_str("EXPIRE k 100");
    r.cmd_str("SET k other");
    assert_eq!(r.cmd_str("TTL k"), Resp::Int(-1));
    // An expired key cannot be persisted back to life.
    r.cmd_str("PEXPIRE k 20");
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(r.cmd_str("PERSIST k"), Resp::Int(0));
    assert_eq!(r.cmd_str("EXISTS k"), Resp::Int(0));
}

#[test]
fn deadlines_follow_rename_copy_move() {
    let s = Live::start(&[]);
    let mut r = s.raw();
    r.cmd_str("SET k v");
    r.cmd_str("PEXPIRE k 300");
    assert_eq!(r.cmd_str("RENAME k k2"), Resp::Simple("OK".into()));
    let t = int(r.cmd_str("PTTL k2"));
    assert!(t > 200 && t <= 300, "{t}");
    assert_eq!(r.cmd_str("COPY k2 k3"), Resp::Int(1));
    let t = int(r.cmd_str("PTTL k3"));
    assert!(t > 200 && t <= 300, "{t}");
    assert_eq!(r.cmd_str("RENAMENX k3 k4"), Resp::Int(1));
    assert_eq!(r.cmd_str("MOVE k4 1"), Resp::Int(1));
    // Renaming onto a key with a deadline replaces the deadline too.
    r.cmd_str("SET plain v");
    r.cmd_str("SET victim v");
    r.cmd_str("EXPIRE victim 1000");
    r.cmd_str("RENAME plain victim");
    assert_eq!(r.cmd_str("TTL victim"), Resp::Int(-1));
    std::thread::sleep(Duration::from_millis(350));
    assert_eq!(r.cmd_str("EXISTS k2 k3"), Resp::Int(0));
    assert_eq!(
        r.cmd_str("RENAME k2 x"),
        Resp::Error("ERR no such key".into())
    );
    assert_eq!(r.cmd_str("COPY k2 x"), Resp::Int(0));
    r.cmd_str("SELECT 1");
    assert_eq!(r.cmd_str("GET k4"), Resp::Bulk(None));
}

#[test]
fn lazy_expiry_on_every_access_path() {
    let s = Live::start(&[("hz", "1")]);
    let mut r = s.raw();
    let before = expired_keys(&s);
    let probes = [
        "GET k",
        "EXISTS k",
        "TYPE k",
        "TTL k",
        "PTTL k",
        "EXPIRETIME k",
        "PERSIST k",
        "EXPIRE k 100",
        "TOUCH k",
        "DEL k",
        "UNLINK k",
        "OBJECT ENCODING k",
        "RENAMENX k other",
        "MOVE k 1",
        "COPY k other",
        "SCAN 0 COUNT 1000",
    ];
    let mut n = 0;
    for probe in probes {
        r.cmd_str("SET k v");
        r.cmd_str("PEXPIRE k 10");
        std::thread::sleep(Duration::from_millis(25));
        r.cmd_str(probe);
        n += 1;
        // The probe removed the key (DBSIZE counts stale keys too).
        assert_eq!(r.cmd_str("DBSIZE"), Resp::Int(0), "after {probe}");
    }
    assert_eq!(expired_keys(&s) - before, n);
    // KEYS skips expired keys without removing them.
    r.cmd_str("SET k v");
    r.cmd_str("PEXPIRE k 10");
    std::thread::sleep(Duration::from_millis(25));
    assert_eq!(r.cmd_str("KEYS *"), Resp::Array(Some(vec![])));
}

#[test]
fn active_expiry_removes_keys_nobody_reads() {
    let s = Live::start(&[]);
    let mut r = s.raw();
    let before = expired_keys(&s);
    let cmds: Vec<Vec<Vec<u8>>> = (0..1000)
        .flat_map(|i| {
            let k = format!("ttl:{i}");
            [args(&["SET", &k, "v"]), args(&["PEXPIRE", &k, "100"])]
        })
        .collect();
    pipeline(&mut r, &cmds);
    r.cmd_str("SET keeper v");
    assert_eq!(r.cmd_str("DBSIZE"), Resp::Int(1001));
    let start = Instant::now();
    loop {
        if int(r.cmd_str("DBSIZE")) == 1 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_millis(1500),
            "active expiry too slow: {:?}",
            r.cmd_str("DBSIZE")
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(expired_keys(&s) - before, 1000);
    assert_eq!(r.cmd_str("GET keeper"), Resp::Bulk(Some(b"v".to_vec())));
}

#[test]
fn active_expiry_is_bounded_per_tick() {
    let s = Live::start(&[]);
    let mut r = s.raw();
    let n = 400_000usize;
    let keys: Vec<usize> = (0..n).collect();
    for chunk in keys.chunks(20_000) {
        let cmds: Vec<Vec<Vec<u8>>> = chunk
            .iter()
            .flat_map(|i| {
                let k = format!("bulk:{i}");
                [args(&["SET", &k, "v"]), args(&["EXPIRE", &k, "1000"])]
            })
            .collect();
        pipeline(&mut r, &cmds);
    }
    assert_eq!(int(r.cmd_str("DBSIZE")), n as i64);
    // Run cron ticks by hand, as if every key were past its deadline.
    // One tick must stop within its time budget (25% of 1/hz = 25ms),
    // long before it could remove 400k keys; repeated ticks finish.
    let future = strata::server::now_ms() + 10_000_000;
    let mut st = s.shared.state.lock();
    let before = st.stats.expired_keys;
    let t = Instant::now();
    st.cron(future);
    let first = t.elapsed();
    let left = st.keyspace.db(0).len();
    assert!(left > 0, "one tick removed all {n} keys");
    assert!(left < n, "one tick removed nothing");
    assert!(first < Duration::from_millis(150), "tick took {first:?}");
    let mut ticks = 1;
    while !st.keyspace.db(0).is_empty() {
        st.cron(future);
        ticks += 1;
        assert!(ticks < 10_000, "active expiry made no progress");
    }
    assert!(ticks > 1);
    assert_eq!(st.stats.expired_keys - before, n as u64);
    drop(st);
    assert_eq!(r.cmd_str("DBSIZE"), Resp::Int(0));
}
