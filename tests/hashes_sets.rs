//! Hashes and sets: invariants of the random commands (which the
//! differential scripts can only skip) and encoding conversions seen from
//! the outside (a compact encoding answers HSCAN/SSCAN in one call).

mod common;

use std::collections::{HashMap, HashSet};

use common::{Resp, TestServer};
use redis::Connection;

fn conn(s: &TestServer) -> Connection {
    s.client().get_connection().expect("connect")
}

fn q<T: redis::FromRedisValue>(c: &mut Connection, args: &[&str]) -> T {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(c).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn err(c: &mut Connection, args: &[&str]) -> String {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    match cmd.query::<redis::Value>(c) {
        Ok(v) => panic!("{args:?}: expected an error, got {v:?}"),
        Err(e) => e.to_string(),
    }
}

fn fill_set(c: &mut Connection, key: &str, members: &[String]) {
    let mut cmd = redis::cmd("SADD");
    cmd.arg(key);
    for m in members {
        cmd.arg(m);
    }
    let _: i64 = cmd.query(c).expect("sadd");
}

fn fill_hash(c: &mut Connection, key: &str, n: usize) {
    let mut cmd = redis::cmd("HSET");
    cmd.arg(key);
    for i in 0..n {
        cmd.arg(format!("f{i}")).arg(format!("v{i}"));
    }
    let _: i64 = cmd.query(c).expect("hset");
}

#[test]
fn srandmember_counts() {
    let s = TestServer::start(&[]);
    let mut c = conn(&s);
    for (key, members) in [
        ("ints", (0..50).map(|i| i.to_string()).collect::<Vec<_>>()),
        ("strs", (0..50).map(|i| format!("m{i}")).collect::<Vec<_>>()),
        (
            "bigstrs",
            (0..1000).map(|i| format!("m{i}")).collect::<Vec<_>>(),
        ),
    ] {
        fill_set(&mut c, key, &members);
        let all: HashSet<String> = members.iter().cloned().collect();
        // Positive counts: distinct members of the set, min(count, size).
        for count in [1usize, 2, 10, 20, 40, 49, 50, 51, 2000] {
            let got: Vec<String> = q(&mut c, &["SRANDMEMBER", key, &count.to_string()]);
            assert_eq!(got.len(), count.min(members.len()), "{key} {count}");
            let distinct: HashSet<&String> = got.iter().collect();
            assert_eq!(distinct.len(), got.len(), "{key} {count}: repeats");
            assert!(got.iter().all(|m| all.contains(m)));
        }
        // Negative counts: exactly |count| members, repeats allowed.
        let got: Vec<String> = q(&mut c, &["SRANDMEMBER", key, "-5000"]);
        assert_eq!(got.len(), 5000);
        assert!(got.iter().all(|m| all.contains(m)));
        let distinct: HashSet<&String> = got.iter().collect();
        assert!(distinct.len() < got.len());
        // Huge counts: bounded.
        let e = err(&mut c, &["SRANDMEMBER", key, "-9223372036854775807"]);
        assert!(e.contains("value is out of range"), "{e}");
        let e = err(&mut c, &["SRANDMEMBER", key, "-9223372036854775808"]);
        assert!(e.contains("value is out of range"), "{e}");
        let got: Vec<String> = q(&mut c, &["SRANDMEMBER", key, "9223372036854775807"]);
        assert_eq!(got.len(), members.len());
        let one: String = q(&mut c, &["SRANDMEMBER", key]);
        assert!(all.contains(&one));
    }
}

#[test]
fn hrandfield_counts() {
    let s = TestServer::start(&[]);
    let mut c = conn(&s);
    for (key, n) in [("small", 20usize), ("big", 1000)] {
        fill_hash(&mut c, key, n);
        for count in [1usize, 3, 10, 19, 20, 21, 400, 5000] {
            let got: Vec<String> = q(&mut c, &["HRANDFIELD", key, &count.to_string()]);
            assert_eq!(got.len(), count.min(n), "{key} {count}");
            let distinct: HashSet<&String> = got.iter().collect();
            assert_eq!(distinct.len(), got.len(), "{key} {count}: repeats");
            let with: Vec<String> = q(
                &mut c,
                &["HRANDFIELD", key, &count.to_string(), "WITHVALUES"],
            );
            assert_eq!(with.len(), 2 * count.min(n));
            for pair in with.chunks(2) {
                assert_eq!(pair[1], pair[0].replace('f', "v"));
            }
        }
        let got: Vec<String> = q(&mut c, &["HRANDFIELD", key, "-3000", "WITHVALUES"]);
        assert_eq!(got.len(), 6000);
        let fields: Vec<&String> = got.iter().step_by(2).collect();
        let distinct: HashSet<&&String> = fields.iter().collect();
        assert!(distinct.len() < fields.len());
        for pair in got.chunks(2) {
            assert_eq!(pair[1], pair[0].replace('f', "v"));
        }
        let e = err(&mut c, &["HRANDFIELD", key, "-9223372036854775807"]);
        assert!(e.contains("value is out of range"), "{e}");
        let e = err(
            &mut c,
            &["HRANDFIELD", key, "-4611686018427387904", "WITHVALUES"],
        );
        assert!(e.contains("value is out of range"), "{e}");
        let e = err(
            &mut c,
            &["HRANDFIELD", key, "-4611686018427387903", "WITHVALUES"],
        );
        assert!(e.contains("value is out of range"), "{e}");
        let got: Vec<String> = q(
            &mut c,
            &["HRANDFIELD", key, "4611686018427387903", "WITHVALUES"],
        );
        assert_eq!(got.len(), 2 * n);
    }
}

#[test]
fn spop_count_paths() {
    let s = TestServer::start(&[]);
    let mut c = conn(&s);
    // Sizes and counts exercising: pop a few, pop most (rebuild), pop all.
    for (n, count, ints) in [
        (100usize, 3usize, true),
        (100, 90, true),
        (100, 100, true),
        (1000, 10, false),
        (1000, 990, false),
        (1000, 5000, false),
    ] {
        let members: Vec<String> = (0..n)
            .map(|i| if ints { i.to_string() } else { format!("m{i}") })
            .collect();
        fill_set(&mut c, "p", &members);
        let popped: Vec<String> = q(&mut c, &["SPOP", "p", &count.to_string()]);
        assert_eq!(popped.len(), count.min(n));
        let popped: HashSet<String> = popped.into_iter().collect();
        assert_eq!(popped.len(), count.min(n), "distinct");
        let rest: Vec<String> = if count >= n {
            assert_eq!(q::<i64>(&mut c, &["EXISTS", "p"]), 0);
            Vec::new()
        } else {
            q(&mut c, &["SMEMBERS", "p"])
        };
        assert_eq!(rest.len(), n - count.min(n));
        for m in &rest {
            assert!(!popped.contains(m));
        }
        let union: HashSet<String> = popped.into_iter().chain(rest).collect();
        assert_eq!(union, members.into_iter().collect::<HashSet<_>>());
        let _: i64 = q(&mut c, &["DEL", "p"]);
    }
}

fn scan_all(c: &mut Connection, cmd: &str, key: &str, count: &str) -> (Vec<String>, usize) {
    let mut cursor = "0".to_string();
    let mut out = Vec::new();
    let mut calls = 0;
    loop {
        let (next, items): (String, Vec<String>) = q(c, &[cmd, key, &cursor, "COUNT", count]);
        out.extend(items);
        calls += 1;
        if next == "0" {
            return (out, calls);
        }
        cursor = next;
        assert!(calls < 100_000);
    }
}

#[test]
fn scans_and_encoding_conversions() {
    let s = TestServer::start(&[
        ("hash-max-listpack-entries", "8"),
        ("hash-max-listpack-value", "16"),
        ("set-max-intset-entries", "8"),
    ]);
    let mut c = conn(&s);
    // Within the limits: one call returns everything (listpack / intset).
    fill_hash(&mut c, "h", 8);
    let (items, calls) = scan_all(&mut c, "HSCAN", "h", "1");
    assert_eq!((items.len(), calls), (16, 1));
    let ints: Vec<String> = (0..8).map(|i| (i * 3).to_string()).collect();
    fill_set(&mut c, "s", &ints);
    let (items, calls) = scan_all(&mut c, "SSCAN", "s", "1");
    assert_eq!((items.len(), calls), (8, 1));
    assert_eq!(items, ints, "intset order is ascending");

    // One more entry converts: scans take several calls, and nothing is lost.
    fill_hash(&mut c, "h", 200);
    let (items, calls) = scan_all(&mut c, "HSCAN", "h", "1");
    assert!(calls > 1);
    let map: HashMap<String, String> = items
        .chunks(2)
        .map(|p| (p[0].clone(), p[1].clone()))
        .collect();
    assert_eq!(map.len(), 200);
    assert_eq!(map.get("f150").map(String::as_str), Some("v150"));
    fill_set(
        &mut c,
        "s",
        &(0..300).map(|i| i.to_string()).collect::<Vec<_>>(),
    );
    let (items, calls) = scan_all(&mut c, "SSCAN", "s", "5");
    assert!(calls > 1);
    assert_eq!(items.iter().collect::<HashSet<_>>().len(), 300);

    // A long value converts a small hash; it never converts back.
    let _: i64 = q(&mut c, &["HSET", "lv", "a", "1", "b", "2", "c", "3"]);
    let (_, calls) = scan_all(&mut c, "HSCAN", "lv", "1");
    assert_eq!(calls, 1);
    let _: i64 = q(&mut c, &["HSET", "lv", "long", "x_longer_than_sixteen"]);
    let _: i64 = q(&mut c, &["HDEL", "lv", "long"]);
    let _: i64 = q(
        &mut c,
        &["HSET", "lv", "d", "4", "e", "5", "f", "6", "g", "7"],
    );
    let mut multi = false;
    for _ in 0..20 {
        let (_, calls) = scan_all(&mut c, "HSCAN", "lv", "1");
        multi |= calls > 1;
    }
    assert!(multi, "hashtable encoding kept after the long value left");

    // A non-integer member converts an intset.
    fill_set(&mut c, "mix", &["1".into(), "2".into(), "3".into()]);
    let (_, calls) = scan_all(&mut c, "SSCAN", "mix", "1");
    assert_eq!(calls, 1);
    fill_set(&mut c, "mix", &["a".into()]);
    let _: i64 = q(&mut c, &["SREM", "mix", "a"]);
    let members: HashSet<String> = q(&mut c, &["SMEMBERS", "mix"]);
    assert_eq!(members.len(), 3);
}

#[test]
fn hincrbyfloat_and_raw_shapes() {
    let s = TestServer::start(&[]);
    let mut raw = s.raw();
    assert_eq!(
        raw.cmd_str("HINCRBYFLOAT h f 1.5"),
        Resp::Bulk(Some(b"1.5".to_vec()))
    );
    assert_eq!(
        raw.cmd_str("HINCRBYFLOAT h f 1"),
        Resp::Bulk(Some(b"2.5".to_vec()))
    );
    assert_eq!(
        raw.cmd_str("HINCRBY h f 1"),
        Resp::Error("ERR hash value is not an integer".into())
    );
    assert_eq!(
        raw.cmd_str("HINCRBYFLOAT h f inf"),
        Resp::Error("ERR value is NaN or Infinity".into())
    );
    assert_eq!(
        raw.cmd_str("HINCRBYFLOAT h2 f x"),
        Resp::Error("ERR value is not a valid float".into())
    );
    assert_eq!(raw.cmd_str("EXISTS h2"), Resp::Int(0));
    assert_eq!(
        raw.cmd_str("HSCAN nokey 0"),
        Resp::Array(Some(vec![
            Resp::Bulk(Some(b"0".to_vec())),
            Resp::Array(Some(vec![]))
        ]))
    );
}
