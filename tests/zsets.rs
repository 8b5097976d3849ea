//! Sorted set integration tests: the skiplist encoding against Redis (the
//! differential script only sees the defaults, where small sets are
//! listpacks), ZSCAN's cursor contract, ZRANDMEMBER's properties, and rank
//! and range answers on a large set.

mod common;

use std::collections::{BTreeMap, HashSet};

use common::{RawConn, RedisServer, Resp, TestServer};

fn bulk_strings(r: &Resp) -> Vec<String> {
    match r {
        Resp::Array(Some(v)) => v
            .iter()
            .map(|x| match x {
                Resp::Bulk(Some(b)) => String::from_utf8_lossy(b).into_owned(),
                other => panic!("not a bulk string: {other:?}"),
            })
            .collect(),
        other => panic!("not an array: {other:?}"),
    }
}

/// Replays `tests/diff/zsets.txt` with `zset-max-listpack-entries 0` on
/// both servers, so every set is a skiplist.
#[test]
fn skiplist_encoding_matches_redis() {
    let Some(redis) = RedisServer::require() else {
        return;
    };
    let strata = TestServer::start(&[("zset-max-listpack-entries", "0")]);
    let mut r = RawConn::connect(redis.port);
    let mut s = RawConn::connect(strata.port);
    assert_eq!(
        r.cmd_str("CONFIG SET zset-max-listpack-entries 0"),
        Resp::Simple("OK".into())
    );
    let script = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/diff/zsets.txt"),
    )
    .expect("script");
    let mut failures = Vec::new();
    let mut compared = 0;
    for (n, raw) in script.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (skip, sort, cmd) = if let Some(rest) = line.strip_prefix("!skip ") {
            (true, false, rest)
        } else if let Some(rest) = line.strip_prefix("!sort ") {
            (false, true, rest)
        } else {
            (false, false, line)
        };
        // Unordered (ZSCAN over a hash table) or structure-dependent
        // (lexicographic walks over members with different scores) replies.
        let unordered = cmd.starts_with("ZSCAN") || cmd.contains("mixed");
        let args = strata::resp::split_args(cmd.as_bytes()).expect("quoting");
        let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
        let mut want = r.cmd(&refs);
        let mut got = s.cmd(&refs);
        if skip || unordered {
            continue;
        }
        if sort {
            want = want.sorted();
            got = got.sorted();
        }
        compared += 1;
        if want != got {
            failures.push(format!(
                "zsets.txt:{}: {cmd}\n    redis:  {}\n    strata: {}",
                n + 1,
                want.show(),
                got.show()
            ));
        }
    }
    eprintln!(
        "skiplist replay: {compared} commands compared, {} mismatches",
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn zscan_returns_every_member_of_a_skiplist() {
    let server = TestServer::start(&[("zset-max-listpack-entries", "0")]);
    let mut c = server.raw();
    for chunk in (0..2000).collect::<Vec<_>>().chunks(200) {
        let mut args: Vec<Vec<u8>> = vec![b"ZADD".to_vec(), b"k".to_vec()];
        for i in chunk {
            args.push(format!("{}", i % 17).into_bytes());
            args.push(format!("member:{i}").into_bytes());
        }
        let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
        assert_eq!(c.cmd(&refs), Resp::Int(chunk.len() as i64));
    }
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let mut cursor = "0".to_string();
    let mut rounds = 0;
    loop {
        let reply = c.cmd_str(&format!("ZSCAN k {cursor} COUNT 7"));
        let Resp::Array(Some(parts)) = reply else {
            panic!("bad ZSCAN reply");
        };
        cursor = match &parts[0] {
            Resp::Bulk(Some(b)) => String::from_utf8_lossy(b).into_owned(),
            other => panic!("bad cursor {other:?}"),
        };
        let items = bulk_strings(&parts[1]);
        assert_eq!(items.len() % 2, 0);
        for pair in items.chunks(2) {
            seen.insert(pair[0].clone(), pair[1].clone());
        }
        rounds += 1;
        if cursor == "0" {
            break;
        }
        assert!(rounds < 10_000, "ZSCAN did not finish");
    }
    assert!(rounds > 1, "a skiplist scan takes several calls");
    assert_eq!(seen.len(), 2000);
    for i in 0..2000 {
        assert_eq!(seen[&format!("member:{i}")], format!("{}", i % 17));
    }
    // MATCH filters members, not scores.
    let reply = c.cmd_str("ZSCAN k 0 MATCH member:1999 COUNT 100000");
    let Resp::Array(Some(parts)) = reply else {
        panic!("bad ZSCAN reply");
    };
    assert_eq!(bulk_strings(&parts[1]), vec!["member:1999", "10"]);
}

#[test]
fn zrandmember_properties() {
    for entries in ["128", "0"] {
        let server = TestServer::start(&[("zset-max-listpack-entries", entries)]);
        let mut c = server.raw();
        c.cmd_str("ZADD k 1 a 2 b 3 c 4 d 5 e 6 f 7 g 8 h 9 i 10 j");
        for count in 1..=10 {
            let got = bulk_strings(&c.cmd_str(&format!("ZRANDMEMBER k {count}")));
            assert_eq!(got.len(), count);
            let distinct: HashSet<_> = got.iter().collect();
            assert_eq!(
                distinct.len(),
                count,
                "distinct members for a positive count"
            );
        }
        let got = bulk_strings(&c.cmd_str("ZRANDMEMBER k -50"));
        assert_eq!(got.len(), 50);
        assert!(got.iter().all(|m| m.len() == 1 && m.as_str() <= "j"));
        let got = bulk_strings(&c.cmd_str("ZRANDMEMBER k -7 WITHSCORES"));
        assert_eq!(got.len(), 14);
        for pair in got.chunks(2) {
            let expect = (pair[0].as_bytes()[0] - b'a' + 1).to_string();
            assert_eq!(pair[1], expect);
        }
        let got = bulk_strings(&c.cmd_str("ZRANDMEMBER k 3 WITHSCORES"));
        assert_eq!(got.len(), 6);
        match c.cmd_str("ZRANDMEMBER k") {
            Resp::Bulk(Some(m)) => assert_eq!(m.len(), 1),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn large_set_ranks_and_ranges() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    let n = 20_000usize;
    // score = i / 10 (many ties), member = zero-padded i: the order is i.
    for start in (0..n).step_by(500) {
        let mut args: Vec<Vec<u8>> = vec![b"ZADD".to_vec(), b"big".to_vec()];
        for i in start..start + 500 {
            args.push(format!("{}", i / 10).into_bytes());
            args.push(format!("m{i:06}").into_bytes());
        }
        let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
        c.cmd(&refs);
    }
    assert_eq!(c.cmd_str("ZCARD big"), Resp::Int(n as i64));
    for i in [0usize, 1, 9, 10, 4321, 12_345, 19_999] {
        assert_eq!(
            c.cmd_str(&format!("ZRANK big m{i:06}")),
            Resp::Int(i as i64)
        );
        assert_eq!(
            c.cmd_str(&format!("ZREVRANK big m{i:06}")),
            Resp::Int((n - 1 - i) as i64)
        );
    }
    let got = bulk_strings(&c.cmd_str("ZRANGE big 10000 10004"));
    assert_eq!(
        got,
        (10000..10005)
            .map(|i| format!("m{i:06}"))
            .collect::<Vec<_>>()
    );
    let got = bulk_strings(&c.cmd_str("ZRANGE big 0 2 REV"));
    assert_eq!(got, vec!["m019999", "m019998", "m019997"]);
    let got = bulk_strings(&c.cmd_str("ZRANGE big (500 +inf BYSCORE LIMIT 7 3"));
    assert_eq!(got, vec!["m005017", "m005018", "m005019"]);
    let got = bulk_strings(&c.cmd_str("ZRANGE big +inf (500 BYSCORE REV LIMIT 10000 2"));
    assert_eq!(got, vec!["m009999", "m009998"]);
    assert_eq!(c.cmd_str("ZCOUNT big 100 (200"), Resp::Int(1000));
    // Remove every other thousand by rank and check ranks shift.
    assert_eq!(c.cmd_str("ZREMRANGEBYRANK big 0 999"), Resp::Int(1000));
    assert_eq!(c.cmd_str("ZRANK big m001000"), Resp::Int(0));
    assert_eq!(c.cmd_str("ZREMRANGEBYSCORE big 150 (250"), Resp::Int(1000));
    assert_eq!(c.cmd_str("ZRANK big m002500"), Resp::Int(500));
    assert_eq!(c.cmd_str("ZCARD big"), Resp::Int((n - 2000) as i64));
}

#[test]
fn blocking_pop_without_data_times_out_with_nil() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    assert_eq!(c.cmd_str("BZPOPMIN nokey 0.05"), Resp::Array(None));
    assert_eq!(c.cmd_str("BZMPOP 0.05 1 nokey MIN"), Resp::Array(None));
    c.cmd_str("ZADD k 1 a 2 b");
    assert_eq!(
        bulk_strings(&c.cmd_str("BZPOPMAX nokey k 0")),
        vec!["k", "b", "2"]
    );
}

#[test]
fn zrandmember_refuses_absurd_negative_counts() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    c.cmd_str("ZADD k 1 a");
    assert_eq!(
        c.cmd_str("ZRANDMEMBER k -9223372036854775807"),
        Resp::Error("ERR value is out of range".into())
    );
    assert_eq!(
        c.cmd_str("ZRANDMEMBER nokey -9223372036854775807"),
        Resp::Array(Some(vec![]))
    );
}
