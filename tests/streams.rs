//! Streams with live connections: blocking XREAD/XREADGROUP wake-ups and
//! timeouts, consumer group flows, persistence (SAVE + restart), DUMP and
//! RESTORE against redis-server both ways, corrupt payloads refused.

mod common;

use std::thread::sleep;
use std::time::{Duration, Instant};

use common::{RawConn, RedisServer, Resp, TestServer};

fn bulk(s: &str) -> Resp {
    Resp::Bulk(Some(s.as_bytes().to_vec()))
}

fn arr(items: Vec<Resp>) -> Resp {
    Resp::Array(Some(items))
}

fn ok() -> Resp {
    Resp::Simple("OK".into())
}

fn send(c: &mut RawConn, line: &str) {
    let args: Vec<&[u8]> = line.split_whitespace().map(|s| s.as_bytes()).collect();
    c.send(&args);
}

/// Gives the server time to register a command just sent.
fn settle() {
    sleep(Duration::from_millis(150));
}

/// `[[key, [[id, [f, v]]]]]`: one stream with one entry of one field.
fn one(key: &str, id: &str, f: &str, v: &str) -> Resp {
    arr(vec![arr(vec![
        bulk(key),
        arr(vec![arr(vec![bulk(id), arr(vec![bulk(f), bulk(v)])])]),
    ])])
}

fn payload(r: Resp) -> Vec<u8> {
    match r {
        Resp::Bulk(Some(b)) => b,
        other => panic!("expected a payload, got {other:?}"),
    }
}

#[test]
fn xread_block_wakes_on_xadd_and_dollar_is_resolved_at_block_time() {
    let server = TestServer::start(&[]);
    let mut p = server.raw();
    assert_eq!(p.cmd_str("XADD s 1-0 old 1"), bulk("1-0"));
    let mut a = server.raw();
    send(&mut a, "XREAD BLOCK 0 STREAMS s $");
    settle();
    // A second reader on two keys, served by the one that gets data.
    let mut b = server.raw();
    send(&mut b, "XREAD BLOCK 0 STREAMS other s $ $");
    settle();
    assert_eq!(p.cmd_str("XADD s 2-0 new 2"), bulk("2-0"));
    assert_eq!(a.read(), one("s", "2-0", "new", "2"));
    assert_eq!(b.read(), one("s", "2-0", "new", "2"));
    // Both are unblocked: they answer commands again.
    assert_eq!(a.cmd_str("PING"), Resp::Simple("PONG".into()));
    assert_eq!(b.cmd_str("PING"), Resp::Simple("PONG".into()));
}

#[test]
fn xread_block_times_out_with_a_null_array() {
    let server = TestServer::start(&[]);
    let mut a = server.raw();
    let t = Instant::now();
    assert_eq!(a.cmd_str("XREAD BLOCK 200 STREAMS s $"), Resp::Array(None));
    assert!(t.elapsed() >= Duration::from_millis(190));
    // A missing key waited on with an explicit ID is served by creation.
    send(&mut a, "XREAD BLOCK 5000 STREAMS s 0-0");
    settle();
    let mut p = server.raw();
    p.cmd_str("XADD s 5-5 k v");
    assert_eq!(a.read(), one("s", "5-5", "k", "v"));
    // An ID ahead of the stream keeps waiting until an entry passes it.
    send(&mut a, "XREAD BLOCK 0 STREAMS s 7-0");
    settle();
    p.cmd_str("XADD s 6-0 k v");
    settle();
    p.cmd_str("XADD s 8-0 k w");
    assert_eq!(a.read(), one("s", "8-0", "k", "w"));
}

#[test]
fn xreadgroup_block_flow_and_fifo_between_consumers() {
    let server = TestServer::start(&[]);
    let mut p = server.raw();
    assert_eq!(p.cmd_str("XGROUP CREATE q g $ MKSTREAM"), ok());
    let mut a = server.raw();
    let mut b = server.raw();
    send(&mut a, "XREADGROUP GROUP g alice BLOCK 0 STREAMS q >");
    settle();
    send(&mut b, "XREADGROUP GROUP g bob BLOCK 0 STREAMS q >");
    settle();
    p.cmd_str("XADD q 1-0 job 1");
    assert_eq!(a.read(), one("q", "1-0", "job", "1"));
    // Bob still waits: the entry went to alice.
    p.cmd_str("XADD q 2-0 job 2");
    assert_eq!(b.read(), one("q", "2-0", "job", "2"));
    assert_eq!(
        p.cmd_str("XPENDING q g"),
        arr(vec![
            Resp::Int(2),
            bulk("1-0"),
            bulk("2-0"),
            arr(vec![
                arr(vec![bulk("alice"), bulk("1")]),
                arr(vec![bulk("bob"), bulk("1")]),
            ]),
        ])
    );
    assert_eq!(p.cmd_str("XACK q g 1-0 2-0"), Resp::Int(2));
    // NOACK readers leave nothing pending.
    send(&mut a, "XREADGROUP GROUP g alice BLOCK 0 NOACK STREAMS q >");
    settle();
    p.cmd_str("XADD q 3-0 job 3");
    assert_eq!(a.read(), one("q", "3-0", "job", "3"));
    assert_eq!(p.cmd_str("XPENDING q g").sorted(), {
        let r = arr(vec![
            Resp::Int(0),
            Resp::Bulk(None),
            Resp::Bulk(None),
            Resp::Array(None),
        ]);
        r.sorted()
    });
    // Timeout.
    assert_eq!(
        a.cmd_str("XREADGROUP GROUP g alice BLOCK 100 STREAMS q >"),
        Resp::Array(None)
    );
}

#[test]
fn xreadgroup_waiters_fail_when_group_or_stream_goes_away() {
    let server = TestServer::start(&[]);
    let mut p = server.raw();
    p.cmd_str("XGROUP CREATE q g $ MKSTREAM");
    let mut a = server.raw();
    send(&mut a, "XREADGROUP GROUP g c BLOCK 0 STREAMS q >");
    settle();
    assert_eq!(p.cmd_str("XGROUP DESTROY q g"), Resp::Int(1));
    match a.read() {
        Resp::Error(e) => assert_eq!(
            e,
            "NOGROUP the consumer group this client was blocked on no longer exists"
        ),
        other => panic!("{other:?}"),
    }
    p.cmd_str("XGROUP CREATE q g $");
    send(&mut a, "XREADGROUP GROUP g c BLOCK 0 STREAMS q >");
    settle();
    assert_eq!(p.cmd_str("DEL q"), Resp::Int(1));
    match a.read() {
        Resp::Error(e) => assert_eq!(e, "UNBLOCKED the stream key no longer exists"),
        other => panic!("{other:?}"),
    }
    // Overwritten by another type, and FLUSHALL, likewise.
    p.cmd_str("XGROUP CREATE q g $ MKSTREAM");
    send(&mut a, "XREADGROUP GROUP g c BLOCK 0 STREAMS q >");
    settle();
    assert_eq!(p.cmd_str("SET q x"), ok());
    assert!(matches!(a.read(), Resp::Error(e) if e.starts_with("UNBLOCKED")));
    p.cmd_str("DEL q");
    p.cmd_str("XGROUP CREATE q g $ MKSTREAM");
    send(&mut a, "XREADGROUP GROUP g c BLOCK 0 STREAMS q >");
    settle();
    assert_eq!(p.cmd_str("FLUSHALL"), ok());
    assert!(matches!(a.read(), Resp::Error(e) if e.starts_with("UNBLOCKED")));
    // Plain XREAD waiters are not affected by a deletion.
    send(&mut a, "XREAD BLOCK 0 STREAMS q $");
    settle();
    p.cmd_str("XADD q 1-0 a b");
    p.cmd_str("DEL q");
    assert_eq!(a.read(), one("q", "1-0", "a", "b"));
}

#[test]
fn blocked_reads_inside_multi_answer_at_once() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    assert_eq!(c.cmd_str("MULTI"), ok());
    assert_eq!(
        c.cmd_str("XREAD BLOCK 0 STREAMS s $"),
        Resp::Simple("QUEUED".into())
    );
    assert_eq!(c.cmd_str("EXEC"), arr(vec![Resp::Array(None)]));
    // XADD inside MULTI wakes readers when EXEC ends.
    let mut r = server.raw();
    send(&mut r, "XREAD BLOCK 0 STREAMS s $");
    settle();
    c.cmd_str("MULTI");
    c.cmd_str("XADD s 1-0 a 1");
    c.cmd_str("XADD s 2-0 a 2");
    c.cmd_str("EXEC");
    assert_eq!(
        r.read(),
        arr(vec![arr(vec![
            bulk("s"),
            arr(vec![
                arr(vec![bulk("1-0"), arr(vec![bulk("a"), bulk("1")])]),
                arr(vec![bulk("2-0"), arr(vec![bulk("a"), bulk("2")])]),
            ]),
        ])])
    );
}

/// Builds a stream with deletions, trimming, several nodes, groups,
/// consumers and pending entries.
fn build(c: &mut RawConn) {
    c.cmd_str("CONFIG SET stream-node-max-entries 5");
    for i in 1..=40 {
        let id = format!("{i}-0");
        let v = format!("value-{i}");
        if i % 3 == 0 {
            c.cmd(&[b"XADD", b"st", id.as_bytes(), b"other", v.as_bytes()]);
        } else {
            c.cmd(&[
                b"XADD",
                b"st",
                id.as_bytes(),
                b"f",
                v.as_bytes(),
                b"n",
                b"42",
            ]);
        }
    }
    c.cmd_str("XDEL st 7-0 8-0 20-0");
    c.cmd_str("XTRIM st MAXLEN 33");
    c.cmd_str("XGROUP CREATE st g1 0");
    c.cmd_str("XGROUP CREATE st g2 $");
    c.cmd_str("XGROUP CREATE st 12345 10-0");
    c.cmd_str("XREADGROUP GROUP g1 alice COUNT 3 STREAMS st >");
    c.cmd_str("XREADGROUP GROUP g1 bob COUNT 2 STREAMS st >");
    c.cmd_str("XGROUP CREATECONSUMER g1 idle");
    c.cmd_str("XGROUP CREATECONSUMER st g1 idle");
    c.cmd_str("XREADGROUP GROUP 12345 carol STREAMS st >");
    c.cmd_str("XACK st 12345 11-0 12-0");
    c.cmd_str("XADD empty 1-0 a b");
    c.cmd_str("XDEL empty 1-0");
    c.cmd_str("XGROUP CREATE mk g $ MKSTREAM");
    c.cmd_str("CONFIG SET stream-node-max-entries 100");
}

/// A stream's observable contents (times excluded).
fn contents(c: &mut RawConn, key: &str) -> Vec<Resp> {
    let k = key.as_bytes();
    let mut out = vec![
        c.cmd(&[b"TYPE", k]),
        c.cmd(&[b"XRANGE", k, b"-", b"+"]),
        c.cmd(&[b"XINFO", b"STREAM", k]),
        c.cmd(&[b"XINFO", b"GROUPS", k]),
    ];
    if let Resp::Array(Some(groups)) = c.cmd(&[b"XINFO", b"GROUPS", k]) {
        for g in groups {
            let Resp::Array(Some(fields)) = g else {
                continue;
            };
            let name = fields[1].clone();
            let Resp::Bulk(Some(name)) = name else {
                continue;
            };
            out.push(c.cmd(&[b"XPENDING", k, &name]));
            let cons = match c.cmd(&[b"XINFO", b"CONSUMERS", k, &name]) {
                Resp::Array(Some(v)) => v
                    .into_iter()
                    .map(|m| match m {
                        Resp::Array(Some(f)) => arr(f[..4].to_vec()),
                        other => other,
                    })
                    .collect(),
                _ => Vec::new(),
            };
            out.push(arr(cons));
            if let Resp::Array(Some(p)) = c.cmd(&[b"XPENDING", k, &name, b"-", b"+", b"100"]) {
                // Owner and delivery count of each pending entry.
                out.push(arr(p
                    .into_iter()
                    .map(|e| match e {
                        Resp::Array(Some(f)) => arr(vec![f[0].clone(), f[1].clone(), f[3].clone()]),
                        other => other,
                    })
                    .collect()));
            }
        }
    }
    out
}

const KEYS: &[&str] = &["st", "empty", "mk"];

#[test]
fn save_and_restart_keeps_streams_and_groups() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    build(&mut c);
    let before: Vec<Vec<Resp>> = KEYS.iter().map(|k| contents(&mut c, k)).collect();
    let dumps: Vec<Resp> = KEYS
        .iter()
        .map(|k| c.cmd(&[b"DUMP", k.as_bytes()]))
        .collect();
    assert_eq!(c.cmd_str("SAVE"), ok());
    let again = TestServer::start_in(&server.dir, &[]).expect("reload");
    let mut c2 = again.raw();
    let after: Vec<Vec<Resp>> = KEYS.iter().map(|k| contents(&mut c2, k)).collect();
    assert_eq!(before, after);
    // Byte for byte the same encoding after the round trip.
    for (k, d) in KEYS.iter().zip(dumps) {
        assert_eq!(c2.cmd(&[b"DUMP", k.as_bytes()]), d, "{k}");
    }
}

#[test]
fn dump_restore_both_directions_with_redis() {
    let Some(redis) = RedisServer::require() else {
        return;
    };
    let strata = TestServer::start(&[]);
    let mut r = RawConn::connect(redis.port);
    let mut s = strata.raw();
    build(&mut r);
    build(&mut s);
    for key in KEYS {
        let from_redis = payload(r.cmd(&[b"DUMP", key.as_bytes()]));
        let from_strata = payload(s.cmd(&[b"DUMP", key.as_bytes()]));
        let target = format!("{key}:restored");
        let t = target.as_bytes();
        assert_eq!(s.cmd(&[b"RESTORE", t, b"0", &from_redis]), ok(), "{key}");
        assert_eq!(r.cmd(&[b"RESTORE", t, b"0", &from_strata]), ok(), "{key}");
        assert_eq!(
            contents(&mut r, &target),
            contents(&mut s, &target),
            "{key}"
        );
        assert_eq!(contents(&mut r, key), contents(&mut s, key), "{key}");
        // Without consumer groups (no clock in them), the bytes match.
        if *key == "empty" {
            assert_eq!(from_redis, from_strata, "{key}");
        }
    }
    // Streams without groups: identical payloads.
    for c in [&mut r, &mut s] {
        c.cmd_str("CONFIG SET stream-node-max-entries 7");
        for i in 1..=50 {
            let id = format!("{i}-{}", i % 4);
            c.cmd(&[
                b"XADD",
                b"plain",
                id.as_bytes(),
                b"a",
                id.as_bytes(),
                b"b",
                b"x",
            ]);
        }
        c.cmd_str("XDEL plain 3-3 10-2 11-3");
        c.cmd_str("XTRIM plain MINID 9");
        c.cmd_str("CONFIG SET stream-node-max-entries 100");
    }
    assert_eq!(
        payload(r.cmd_str("DUMP plain")),
        payload(s.cmd_str("DUMP plain"))
    );
}

#[test]
fn corrupt_stream_payloads_are_refused() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    build(&mut c);
    let good = payload(c.cmd_str("DUMP st"));
    let crc = |b: &mut Vec<u8>| {
        let n = b.len();
        let sum = strata_storage::rdb::crc64::crc64(0, &b[..n - 8]);
        b[n - 8..].copy_from_slice(&sum.to_le_bytes());
    };
    let mut refused = 0;
    for i in 1..good.len() - 10 {
        let mut bad = good.clone();
        bad[i] ^= 0x21;
        crc(&mut bad);
        match c.cmd(&[b"RESTORE", b"x", b"0", &bad, b"REPLACE"]) {
            Resp::Error(e) => {
                assert_eq!(e, "ERR Bad data format", "flip at {i}");
                refused += 1;
            }
            Resp::Simple(_) => {
                // Accepted: it must be fully usable.
                c.cmd_str("XRANGE x - +");
                c.cmd_str("XREVRANGE x + -");
                c.cmd_str("XINFO STREAM x FULL");
                c.cmd_str("XADD x * f v");
                c.cmd_str("XTRIM x MAXLEN 3");
                c.cmd_str("XREADGROUP GROUP g1 z STREAMS x 0");
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(refused > good.len() / 2, "only {refused} refused");
    // Truncated.
    let mut cut = good[..good.len() / 2].to_vec();
    cut.extend_from_slice(&good[good.len() - 10..]);
    crc(&mut cut);
    assert_eq!(
        c.cmd(&[b"RESTORE", b"x", b"0", &cut, b"REPLACE"]),
        Resp::Error("ERR Bad data format".into())
    );
    assert_eq!(c.cmd_str("PING"), Resp::Simple("PONG".into()));
}

/// Redis can leave a node of tombstones and, after XSETID moves the last
/// ID back, append entries below the node key: such payloads load.
#[test]
fn entries_below_their_node_key_load_both_ways() {
    let Some(redis) = RedisServer::require() else {
        return;
    };
    let strata = TestServer::start(&[]);
    let mut r = RawConn::connect(redis.port);
    let mut s = strata.raw();
    for c in [&mut r, &mut s] {
        for line in [
            "XADD w 1-0 a 1",
            "XADD w 2-0 a 2",
            "XDEL w 2-0",
            "XTRIM w MINID 2",
            "XSETID w 0-5",
            "XADD w 0-6 a 3",
        ] {
            c.cmd_str(line);
        }
    }
    let pr = payload(r.cmd_str("DUMP w"));
    let ps = payload(s.cmd_str("DUMP w"));
    assert_eq!(pr, ps);
    assert_eq!(s.cmd(&[b"RESTORE", b"w2", b"0", &pr]), ok());
    assert_eq!(r.cmd(&[b"RESTORE", b"w2", b"0", &ps]), ok());
    assert_eq!(s.cmd_str("XRANGE w2 - +"), r.cmd_str("XRANGE w2 - +"));
    assert_eq!(s.cmd_str("XDEL w2 0-6"), Resp::Int(1));
    assert_eq!(s.cmd_str("SAVE"), ok());
    let again = TestServer::start_in(&strata.dir, &[]).expect("reload");
    assert_eq!(again.raw().cmd_str("XLEN w"), Resp::Int(1));
}
