//! DUMP in one server, RESTORE in the other, for every type and encoding.

mod common;

use common::{RawConn, RedisServer, Resp, TestServer};

/// Commands that build one key of each type and encoding.
const SETUP: &[&str] = &[
    "SET str hello",
    "SET int 123456",
    "SET long-string-that-compresses-well-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa x",
    "RPUSH list a b c 1 2 3",
    "HSET hsmall f1 v1 f2 2",
    "SADD sint 1 2 3 -100 70000",
    "SADD sstr a b c",
    "ZADD zsmall 1 a 2.5 b -3 c",
    "XADD stream 1-0 f v n 1",
    "XADD stream 2-5 f w n 2",
    "XADD stream 3-0 other x",
    "XDEL stream 2-5",
];

fn bulk_of(r: &Resp) -> Vec<u8> {
    match r {
        Resp::Bulk(Some(b)) => b.clone(),
        other => panic!("expected a payload, got {other:?}"),
    }
}

fn build(c: &mut RawConn) {
    for line in SETUP {
        c.cmd_str(line);
    }
    c.cmd_str("SET big x");
    let long = "y".repeat(300);
    c.cmd(&[b"SET", b"bigstr", long.as_bytes()]);
    for i in 0..300 {
        let m = format!("member-{i}");
        c.cmd(&[b"HSET", b"hbig", m.as_bytes(), b"v"]);
        c.cmd(&[b"SADD", b"sbig", m.as_bytes()]);
        c.cmd(&[b"ZADD", b"zbig", i.to_string().as_bytes(), m.as_bytes()]);
        c.cmd(&[b"RPUSH", b"lbig", m.as_bytes()]);
    }
}

fn keys() -> Vec<&'static str> {
    vec![
        "str", "int", "bigstr", "list", "hsmall", "sint", "sstr", "zsmall", "hbig", "sbig", "zbig",
        "lbig", "stream",
    ]
}

/// Reads a key's full contents in a comparable form.
fn contents(c: &mut RawConn, key: &str) -> Resp {
    let t = c.cmd(&[b"TYPE", key.as_bytes()]);
    let r = match &t {
        Resp::Simple(s) if s == "string" => c.cmd(&[b"GET", key.as_bytes()]),
        Resp::Simple(s) if s == "list" => c.cmd(&[b"LRANGE", key.as_bytes(), b"0", b"-1"]),
        Resp::Simple(s) if s == "hash" => c.cmd(&[b"HGETALL", key.as_bytes()]).sorted(),
        Resp::Simple(s) if s == "set" => c.cmd(&[b"SMEMBERS", key.as_bytes()]).sorted(),
        Resp::Simple(s) if s == "zset" => {
            c.cmd(&[b"ZRANGE", key.as_bytes(), b"0", b"-1", b"WITHSCORES"])
        }
        Resp::Simple(s) if s == "stream" => Resp::Array(Some(vec![
            c.cmd(&[b"XRANGE", key.as_bytes(), b"-", b"+"]),
            c.cmd(&[b"XINFO", b"STREAM", key.as_bytes()]),
        ])),
        other => panic!("{key}: type {other:?}"),
    };
    Resp::Array(Some(vec![t, r]))
}

#[test]
fn dump_restore_both_directions() {
    let Some(redis) = RedisServer::require() else {
        return;
    };
    let strata = TestServer::start(&[]);
    let mut r = RawConn::connect(redis.port);
    let mut s = strata.raw();
    build(&mut r);
    build(&mut s);
    for key in keys() {
        let from_redis = bulk_of(&r.cmd(&[b"DUMP", key.as_bytes()]));
        let from_strata = bulk_of(&s.cmd(&[b"DUMP", key.as_bytes()]));
        let target = format!("{key}:restored");
        // Redis's payload into Strata and Strata's into Redis.
        assert_eq!(
            s.cmd(&[b"RESTORE", target.as_bytes(), b"0", &from_redis]),
            Resp::Simple("OK".into()),
            "{key} into strata"
        );
        assert_eq!(
            r.cmd(&[b"RESTORE", target.as_bytes(), b"0", &from_strata]),
            Resp::Simple("OK".into()),
            "{key} into redis"
        );
        let want = contents(&mut r, key);
        assert_eq!(
            contents(&mut s, &target),
            want,
            "{key}: Redis payload restored in Strata"
        );
        assert_eq!(
            contents(&mut r, &target),
            want,
            "{key}: Strata payload restored in Redis"
        );
        assert_eq!(
            s.cmd(&[b"OBJECT", b"ENCODING", target.as_bytes()]),
            r.cmd(&[b"OBJECT", b"ENCODING", key.as_bytes()]),
            "{key}: encoding after restore"
        );
    }
    // TTL and REPLACE.
    let p = bulk_of(&r.cmd_str("DUMP str"));
    assert_eq!(
        s.cmd(&[b"RESTORE", b"str", b"5000", &p, b"REPLACE"]),
        Resp::Simple("OK".into())
    );
    match s.cmd_str("PTTL str") {
        Resp::Int(ms) => assert!(ms > 4000 && ms <= 5000, "{ms}"),
        other => panic!("{other:?}"),
    }
    // An absolute TTL in the past stores nothing.
    assert_eq!(
        s.cmd(&[b"RESTORE", b"gone", b"1", &p, b"ABSTTL"]),
        Resp::Simple("OK".into())
    );
    assert_eq!(s.cmd_str("EXISTS gone"), Resp::Int(0));
}

#[test]
fn corrupt_payloads_never_crash() {
    let strata = TestServer::start(&[]);
    let mut s = strata.raw();
    s.cmd_str("HSET h a 1 b 2 c 3");
    s.cmd_str("ZADD z 1 a 2 b");
    s.cmd_str("RPUSH l x y z");
    s.cmd_str("XADD x 1-0 a 1 b 2");
    s.cmd_str("XADD x 2-0 a 3");
    s.cmd_str("XGROUP CREATE x g 0");
    s.cmd_str("XREADGROUP GROUP g c COUNT 1 STREAMS x >");
    for key in ["h", "z", "l", "x"] {
        let good = bulk_of(&s.cmd(&[b"DUMP", key.as_bytes()]));
        for i in 0..good.len() {
            for bit in [0x01u8, 0x80] {
                let mut bad = good.clone();
                bad[i] ^= bit;
                let reply = s.cmd(&[b"RESTORE", b"t", b"0", &bad, b"REPLACE"]);
                match reply {
                    Resp::Error(e) => assert!(
                        e == "ERR DUMP payload version or checksum are wrong"
                            || e == "ERR Bad data format",
                        "{e}"
                    ),
                    Resp::Simple(_) => {}
                    other => panic!("{other:?}"),
                }
            }
        }
        // Truncations.
        for n in 0..good.len() {
            let reply = s.cmd(&[b"RESTORE", b"t", b"0", &good[..n], b"REPLACE"]);
            assert!(
                matches!(reply, Resp::Error(_)),
                "truncated at {n}: {reply:?}"
            );
        }
    }
    assert_eq!(s.cmd_str("PING"), Resp::Simple("PONG".into()));
}
