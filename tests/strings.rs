//! String family integration tests: expiry through SET/GETEX and friends,
//! size limits (SETRANGE, APPEND, LCS), and LCS results checked against a
//! reference implementation.

mod common;

use std::thread::sleep;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{RawConn, Resp, TestServer};

fn bulk(s: &str) -> Resp {
    Resp::Bulk(Some(s.as_bytes().to_vec()))
}

fn nil() -> Resp {
    Resp::Bulk(None)
}

fn ok() -> Resp {
    Resp::Simple("OK".into())
}

fn err(s: &str) -> Resp {
    Resp::Error(s.into())
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis()
}

fn c(raw: &mut RawConn, args: &[&str]) -> Resp {
    let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
    raw.cmd(&a)
}

const WAIT: Duration = Duration::from_millis(250);

#[test]
fn set_expire_options() {
    let server = TestServer::start(&[]);
    let mut r = server.raw();
    assert_eq!(c(&mut r, &["SET", "px", "v", "PX", "150"]), ok());
    assert_eq!(c(&mut r, &["SET", "ex", "v", "EX", "100"]), ok());
    let at = (now_ms() + 150).to_string();
    assert_eq!(c(&mut r, &["SET", "pxat", "v", "PXAT", &at]), ok());
    assert_eq!(c(&mut r, &["SET", "past", "v", "PXAT", "1"]), ok());
    assert_eq!(c(&mut r, &["GET", "past"]), nil());
    assert_eq!(c(&mut r, &["GET", "px"]), bulk("v"));
    assert_eq!(c(&mut r, &["GET", "pxat"]), bulk("v"));
    sleep(WAIT);
    assert_eq!(c(&mut r, &["GET", "px"]), nil());
    assert_eq!(c(&mut r, &["GET", "pxat"]), nil());
    assert_eq!(c(&mut r, &["GET", "ex"]), bulk("v"));
}

#[test]
fn keepttl_and_plain_set() {
    let server = TestServer::start(&[]);
    let mut r = server.raw();
    c(&mut r, &["SET", "keep", "v", "PX", "150"]);
    assert_eq!(c(&mut r, &["SET", "keep", "w", "KEEPTTL"]), ok());
    c(&mut r, &["SET", "clear", "v", "PX", "150"]);
    assert_eq!(c(&mut r, &["SET", "clear", "w"]), ok());
    c(&mut r, &["SET", "getset", "v", "PX", "150"]);
    assert_eq!(c(&mut r, &["GETSET", "getset", "w"]), bulk("v"));
    c(&mut r, &["SET", "mset", "v", "PX", "150"]);
    assert_eq!(c(&mut r, &["MSET", "mset", "w"]), ok());
    // In-place updates keep the deadline.
    c(&mut r, &["SET", "incr", "1", "PX", "150"]);
    assert_eq!(c(&mut r, &["INCR", "incr"]), Resp::Int(2));
    c(&mut r, &["SET", "float", "1", "PX", "150"]);
    assert_eq!(c(&mut r, &["INCRBYFLOAT", "float", "0.5"]), bulk("1.5"));
    c(&mut r, &["SET", "append", "a", "PX", "150"]);
    assert_eq!(c(&mut r, &["APPEND", "append", "b"]), Resp::Int(2));
    c(&mut r, &["SET", "setrange", "abc", "PX", "150"]);
    assert_eq!(c(&mut r, &["SETRANGE", "setrange", "1", "X"]), Resp::Int(3));
    assert_eq!(c(&mut r, &["GET", "setrange"]), bulk("aXc"));
    sleep(WAIT);
    for gone in ["keep", "incr", "float", "append", "setrange"] {
        assert_eq!(c(&mut r, &["GET", gone]), nil(), "{gone}");
    }
    assert_eq!(c(&mut r, &["GET", "clear"]), bulk("w"));
    assert_eq!(c(&mut r, &["GET", "getset"]), bulk("w"));
    assert_eq!(c(&mut r, &["GET", "mset"]), bulk("w"));
}

#[test]
fn setex_psetex_setnx() {
    let server = TestServer::start(&[]);
    let mut r = server.raw();
    assert_eq!(c(&mut r, &["PSETEX", "p", "150", "v"]), ok());
    assert_eq!(c(&mut r, &["SETEX", "s", "100", "v"]), ok());
    assert_eq!(c(&mut r, &["SETNX", "p", "w"]), Resp::Int(0));
    assert_eq!(
        c(&mut r, &["SETEX", "s", "0", "v"]),
        err("ERR invalid expire time in 'setex' command")
    );
    assert_eq!(
        c(&mut r, &["PSETEX", "s", "-1", "v"]),
        err("ERR invalid expire time in 'psetex' command")
    );
    sleep(WAIT);
    assert_eq!(c(&mut r, &["GET", "p"]), nil());
    assert_eq!(c(&mut r, &["SETNX", "p", "w"]), Resp::Int(1));
    assert_eq!(c(&mut r, &["GET", "p"]), bulk("w"));
    assert_eq!(c(&mut r, &["GET", "s"]), bulk("v"));
}

#[test]
fn getex_options() {
    let server = TestServer::start(&[]);
    let mut r = server.raw();
    c(&mut r, &["SET", "a", "v"]);
    assert_eq!(c(&mut r, &["GETEX", "a", "PX", "150"]), bulk("v"));
    c(&mut r, &["SET", "b", "v", "PX", "150"]);
    assert_eq!(c(&mut r, &["GETEX", "b", "PERSIST"]), bulk("v"));
    c(&mut r, &["SET", "c", "v", "PX", "150"]);
    assert_eq!(c(&mut r, &["GETEX", "c"]), bulk("v"));
    c(&mut r, &["SET", "d", "v"]);
    let at = (now_ms() / 1000 + 100).to_string();
    assert_eq!(c(&mut r, &["GETEX", "d", "EXAT", &at]), bulk("v"));
    c(&mut r, &["SET", "e", "v"]);
    assert_eq!(c(&mut r, &["GETEX", "e", "EXAT", "1"]), bulk("v"));
    assert_eq!(c(&mut r, &["EXISTS", "e"]), Resp::Int(0));
    assert_eq!(
        c(&mut r, &["GETEX", "d", "EX", "10", "PERSIST"]),
        err("ERR syntax error")
    );
    sleep(WAIT);
    assert_eq!(c(&mut r, &["GET", "a"]), nil());
    assert_eq!(c(&mut r, &["GET", "b"]), bulk("v"));
    assert_eq!(c(&mut r, &["GET", "c"]), nil());
    assert_eq!(c(&mut r, &["GET", "d"]), bulk("v"));
}

#[test]
fn set_get_option_and_conflicts() {
    let server = TestServer::start(&[]);
    let mut r = server.raw();
    assert_eq!(c(&mut r, &["SET", "k", "v1", "GET"]), nil());
    assert_eq!(c(&mut r, &["SET", "k", "v2", "GET", "XX"]), bulk("v1"));
    assert_eq!(c(&mut r, &["SET", "k", "v3", "NX", "GET"]), bulk("v2"));
    assert_eq!(c(&mut r, &["GET", "k"]), bulk("v2"));
    assert_eq!(
        c(&mut r, &["SET", "k", "v", "NX", "XX"]),
        err("ERR syntax error")
    );
    assert_eq!(
        c(&mut r, &["SET", "k", "v", "KEEPTTL", "EX", "1"]),
        err("ERR syntax error")
    );
    assert_eq!(
        c(&mut r, &["SET", "k", "v", "EX", "0"]),
        err("ERR invalid expire time in 'set' command")
    );
    assert_eq!(
        c(&mut r, &["SET", "k", "v", "EX", "9223372036854775"]),
        err("ERR invalid expire time in 'set' command")
    );
    assert_eq!(
        c(&mut r, &["SET", "k", "v", "EX", "x"]),
        err("ERR value is not an integer or out of range")
    );
}

#[test]
fn size_limits() {
    let server = TestServer::start(&[("proto-max-bulk-len", "1048576")]);
    let mut r = server.raw();
    let too_big = err("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
    assert_eq!(
        c(&mut r, &["SETRANGE", "k", "1048575", "x"]),
        Resp::Int(1048576)
    );
    assert_eq!(c(&mut r, &["STRLEN", "k"]), Resp::Int(1048576));
    assert_eq!(c(&mut r, &["SETRANGE", "k", "1048576", "x"]), too_big);
    assert_eq!(c(&mut r, &["SETRANGE", "k", "1048575", "xy"]), too_big);
    assert_eq!(c(&mut r, &["SETRANGE", "new", "1048576", "x"]), too_big);
    assert_eq!(c(&mut r, &["EXISTS", "new"]), Resp::Int(0));
    assert_eq!(
        c(&mut r, &["SETRANGE", "new", "99999999999", ""]),
        Resp::Int(0)
    );
    assert_eq!(
        c(&mut r, &["SETRANGE", "k", "9223372036854775807", "x"]),
        too_big
    );
    assert_eq!(
        c(&mut r, &["SETRANGE", "k", "-1", "x"]),
        err("ERR offset is out of range")
    );
    assert_eq!(c(&mut r, &["APPEND", "k", "x"]), too_big);
    assert_eq!(
        c(&mut r, &["SETRANGE", "k", "0", "abc"]),
        Resp::Int(1048576)
    );
    assert_eq!(c(&mut r, &["GETRANGE", "k", "0", "3"]), bulk("abc\0"));

    // LCS: the DP table would need (1001 * 1001 * 4) bytes > 1 MiB.
    let a = "a".repeat(1000);
    assert_eq!(c(&mut r, &["MSET", "x", &a, "y", &a]), ok());
    assert_eq!(
        c(&mut r, &["LCS", "x", "y", "LEN"]),
        err("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len")
    );
    let b = "b".repeat(400);
    assert_eq!(c(&mut r, &["MSET", "x", &b, "y", &b]), ok());
    assert_eq!(c(&mut r, &["LCS", "x", "y", "LEN"]), Resp::Int(400));
}

#[test]
fn lcs_default_limit_refuses_huge_tables() {
    let server = TestServer::start(&[]);
    let mut r = server.raw();
    // 20k x 20k cells would need 1.6 GB: refused before allocating.
    let a = "x".repeat(20_000);
    assert_eq!(c(&mut r, &["MSET", "a", &a, "b", &a]), ok());
    assert_eq!(
        c(&mut r, &["LCS", "a", "b"]),
        err("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len")
    );
}

/// Reference LCS length.
fn lcs_len(a: &[u8], b: &[u8]) -> usize {
    let mut prev = vec![0usize; b.len() + 1];
    for &x in a {
        let mut cur = vec![0usize; b.len() + 1];
        for (j, &y) in b.iter().enumerate() {
            cur[j + 1] = if x == y {
                prev[j] + 1
            } else {
                prev[j + 1].max(cur[j])
            };
        }
        prev = cur;
    }
    prev[b.len()]
}

fn is_subsequence(s: &[u8], of: &[u8]) -> bool {
    let mut it = of.iter();
    s.iter().all(|c| it.any(|x| x == c))
}

#[test]
fn lcs_matches_reference() {
    let server = TestServer::start(&[]);
    let mut r = server.raw();
    // Small deterministic pseudo-random strings over a tiny alphabet.
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..60 {
        let la = (next() % 40) as usize;
        let lb = (next() % 40) as usize;
        let a: String = (0..la)
            .map(|_| (b'a' + (next() % 4) as u8) as char)
            .collect();
        let b: String = (0..lb)
            .map(|_| (b'a' + (next() % 4) as u8) as char)
            .collect();
        c(&mut r, &["MSET", "a", &a, "b", &b]);
        let want = lcs_len(a.as_bytes(), b.as_bytes());
        assert_eq!(c(&mut r, &["LCS", "a", "b", "LEN"]), Resp::Int(want as i64));
        let Resp::Bulk(Some(s)) = c(&mut r, &["LCS", "a", "b"]) else {
            panic!("LCS reply")
        };
        assert_eq!(s.len(), want);
        assert!(is_subsequence(&s, a.as_bytes()) && is_subsequence(&s, b.as_bytes()));
        // IDX: the ranges cover exactly the LCS, and are equal slices.
        let Resp::Array(Some(v)) = c(&mut r, &["LCS", "a", "b", "IDX", "WITHMATCHLEN"]) else {
            panic!("IDX reply")
        };
        assert_eq!(v[0], bulk("matches"));
        assert_eq!(v[2], bulk("len"));
        assert_eq!(v[3], Resp::Int(want as i64));
        let Resp::Array(Some(matches)) = &v[1] else {
            panic!("matches")
        };
        let mut covered = 0;
        for m in matches {
            let Resp::Array(Some(m)) = m else {
                panic!("match")
            };
            let range = |x: &Resp| match x {
                Resp::Array(Some(p)) => match (&p[0], &p[1]) {
                    (Resp::Int(s), Resp::Int(e)) => (*s as usize, *e as usize),
                    _ => panic!("range"),
                },
                _ => panic!("range"),
            };
            let (as_, ae) = range(&m[0]);
            let (bs, be) = range(&m[1]);
            assert_eq!(a.as_bytes()[as_..=ae], b.as_bytes()[bs..=be]);
            assert_eq!(m[2], Resp::Int((ae - as_ + 1) as i64));
            covered += ae - as_ + 1;
        }
        assert_eq!(covered, want);
    }
}

#[test]
fn incr_and_float_through_redis_crate() {
    let server = TestServer::start(&[]);
    let mut con = server.client().get_connection().expect("connect");
    let v: i64 = redis::cmd("INCRBY")
        .arg("n")
        .arg(41)
        .query(&mut con)
        .expect("incrby");
    assert_eq!(v, 41);
    let v: i64 = redis::cmd("DECR").arg("n").query(&mut con).expect("decr");
    assert_eq!(v, 40);
    let f: String = redis::cmd("INCRBYFLOAT")
        .arg("f")
        .arg("10.5")
        .query(&mut con)
        .expect("incrbyfloat");
    assert_eq!(f, "10.5");
    let f: String = redis::cmd("INCRBYFLOAT")
        .arg("f")
        .arg("0.1")
        .query(&mut con)
        .expect("incrbyfloat");
    assert_eq!(f, "10.6");
    let e = redis::cmd("DECRBY")
        .arg("n")
        .arg(i64::MIN)
        .query::<i64>(&mut con)
        .expect_err("overflow");
    assert!(e.to_string().contains("decrement would overflow"), "{e}");
    let all: Vec<Option<String>> = redis::cmd("MGET")
        .arg("n")
        .arg("missing")
        .arg("f")
        .query(&mut con)
        .expect("mget");
    assert_eq!(all, vec![Some("40".into()), None, Some("10.6".into())]);
}
