//! Randomized differential test: a seeded generator of command sequences
//! over a small key set, run against Debian's redis-server and Strata,
//! compared reply by reply. The seed is printed on failure; rerun with
//! `RANDOM_DIFF_SEED=<seed>` (and `RANDOM_DIFF_OPS=<n>` for longer runs).

mod common;

use common::{RawConn, RedisServer, TestServer};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// One generated command and whether its reply order is unspecified.
struct Op {
    args: Vec<String>,
    unordered: bool,
}

fn pick<'a>(rng: &mut SmallRng, items: &[&'a str]) -> &'a str {
    items[rng.random_range(0..items.len())]
}

fn key(rng: &mut SmallRng) -> String {
    format!("k{}", rng.random_range(0..6))
}

fn member(rng: &mut SmallRng) -> String {
    // Mostly small integers (intset paths), sometimes words.
    if rng.random_bool(0.6) {
        rng.random_range(-3..12).to_string()
    } else {
        format!("m{}", rng.random_range(0..8))
    }
}

fn int(rng: &mut SmallRng) -> String {
    match rng.random_range(0..10) {
        0 => "9223372036854775807".into(),
        1 => "-9223372036854775808".into(),
        2 => "abc".into(),
        _ => rng.random_range(-5..20).to_string(),
    }
}

fn float(rng: &mut SmallRng) -> String {
    match rng.random_range(0..12) {
        0 => "inf".into(),
        1 => "-inf".into(),
        2 => "nan".into(),
        3 => "1e400".into(),
        4 => "x".into(),
        5 => "0.1".into(),
        _ => format!("{}", rng.random_range(-50..50) as f64 / 4.0),
    }
}

fn index(rng: &mut SmallRng) -> String {
    rng.random_range(-8..8).to_string()
}

fn score_bound(rng: &mut SmallRng) -> String {
    match rng.random_range(0..6) {
        0 => "-inf".into(),
        1 => "+inf".into(),
        2 => format!("({}", rng.random_range(-3..12)),
        _ => rng.random_range(-3..12).to_string(),
    }
}

fn lex_bound(rng: &mut SmallRng) -> String {
    match rng.random_range(0..5) {
        0 => "-".into(),
        1 => "+".into(),
        2 => format!("({}", member(rng)),
        _ => format!("[{}", member(rng)),
    }
}

fn generate(rng: &mut SmallRng) -> Op {
    let k = key(rng);
    let ordered = |args: Vec<String>| Op {
        args,
        unordered: false,
    };
    let unordered = |args: Vec<String>| Op {
        args,
        unordered: true,
    };
    let s = |x: &str| x.to_string();
    match rng.random_range(0..60) {
        // Strings.
        0 => ordered(vec![s("SET"), k, member(rng)]),
        1 => ordered(vec![s("GET"), k]),
        2 => ordered(vec![s("INCRBY"), k, int(rng)]),
        3 => ordered(vec![s("APPEND"), k, member(rng)]),
        4 => ordered(vec![s("GETRANGE"), k, index(rng), index(rng)]),
        5 => ordered(vec![
            s("SETRANGE"),
            k,
            rng.random_range(0..6).to_string(),
            member(rng),
        ]),
        6 => ordered(vec![s("STRLEN"), k]),
        7 => ordered(vec![s("INCRBYFLOAT"), k, float(rng)]),
        8 => ordered(vec![s("MSET"), k, member(rng), key(rng), member(rng)]),
        9 => ordered(vec![s("GETDEL"), k]),
        // Keys.
        10 => ordered(vec![s("DEL"), k, key(rng)]),
        11 => ordered(vec![s("EXISTS"), k, key(rng)]),
        12 => ordered(vec![s("TYPE"), k]),
        13 => ordered(vec![s("RENAME"), k, key(rng)]),
        14 => ordered(vec![
            s("COPY"),
            k,
            key(rng),
            s(pick(rng, &["REPLACE", "DB", "x"])),
            s("0"),
        ]),
        // Absolute deadlines (year 2100 plus a few choices): relative
        // EXPIRE with GT/LT would compare two clocks a millisecond apart.
        15 => ordered(vec![
            s("EXPIREAT"),
            k,
            s(pick(rng, &["4102444800", "4102444900", "4102445000"])),
            s(pick(rng, &["NX", "XX", "GT", "LT"])),
        ]),
        16 => ordered(vec![s("PERSIST"), k]),
        17 => ordered(vec![s("EXPIRETIME"), k]),
        // Lists.
        18 => ordered(vec![
            s(pick(rng, &["LPUSH", "RPUSH", "LPUSHX", "RPUSHX"])),
            k,
            member(rng),
            member(rng),
        ]),
        19 => ordered(vec![s(pick(rng, &["LPOP", "RPOP"])), k]),
        20 => ordered(vec![
            s(pick(rng, &["LPOP", "RPOP"])),
            k,
            rng.random_range(0..4).to_string(),
        ]),
        21 => ordered(vec![s("LRANGE"), k, index(rng), index(rng)]),
        22 => ordered(vec![s("LINDEX"), k, index(rng)]),
        23 => ordered(vec![s("LSET"), k, index(rng), member(rng)]),
        24 => ordered(vec![
            s("LINSERT"),
            k,
            s(pick(rng, &["BEFORE", "AFTER"])),
            member(rng),
            member(rng),
        ]),
        25 => ordered(vec![s("LREM"), k, index(rng), member(rng)]),
        26 => ordered(vec![s("LTRIM"), k, index(rng), index(rng)]),
        27 => ordered(vec![
            s("LPOS"),
            k,
            member(rng),
            s("RANK"),
            s(pick(rng, &["1", "-1", "2", "0"])),
        ]),
        28 => ordered(vec![
            s("LMOVE"),
            k,
            key(rng),
            s(pick(rng, &["LEFT", "RIGHT"])),
            s(pick(rng, &["LEFT", "RIGHT"])),
        ]),
        29 => ordered(vec![s("LLEN"), k]),
        // Hashes.
        30 => ordered(vec![
            s("HSET"),
            k,
            member(rng),
            member(rng),
            member(rng),
            member(rng),
        ]),
        31 => ordered(vec![s("HGET"), k, member(rng)]),
        32 => ordered(vec![s("HDEL"), k, member(rng), member(rng)]),
        33 => ordered(vec![s("HINCRBY"), k, member(rng), int(rng)]),
        34 => ordered(vec![s("HINCRBYFLOAT"), k, member(rng), float(rng)]),
        35 => unordered(vec![s(pick(rng, &["HKEYS", "HVALS", "HGETALL"])), k]),
        36 => ordered(vec![s("HMGET"), k, member(rng), member(rng)]),
        37 => ordered(vec![
            s(pick(rng, &["HLEN", "HSTRLEN", "HEXISTS", "HSETNX"])),
            k,
            member(rng),
            member(rng),
        ]),
        // Sets.
        38 => ordered(vec![s("SADD"), k, member(rng), member(rng), member(rng)]),
        39 => ordered(vec![s("SREM"), k, member(rng), member(rng)]),
        40 => unordered(vec![s("SMEMBERS"), k]),
        41 => ordered(vec![
            s(pick(rng, &["SISMEMBER", "SMISMEMBER"])),
            k,
            member(rng),
        ]),
        42 => unordered(vec![
            s(pick(rng, &["SINTER", "SUNION", "SDIFF"])),
            k,
            key(rng),
        ]),
        43 => ordered(vec![
            s(pick(rng, &["SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"])),
            k,
            key(rng),
            key(rng),
        ]),
        44 => ordered(vec![s("SMOVE"), k, key(rng), member(rng)]),
        45 => ordered(vec![s("SINTERCARD"), s("2"), k, key(rng)]),
        46 => ordered(vec![s("SCARD"), k]),
        // Sorted sets.
        47 => ordered(vec![
            s("ZADD"),
            k,
            float(rng),
            member(rng),
            rng.random_range(-3..12).to_string(),
            member(rng),
        ]),
        48 => ordered(vec![
            s("ZADD"),
            k,
            s(pick(rng, &["NX", "XX", "GT", "LT", "CH", "INCR"])),
            float(rng),
            member(rng),
        ]),
        49 => ordered(vec![s("ZINCRBY"), k, float(rng), member(rng)]),
        50 => ordered(vec![s("ZREM"), k, member(rng), member(rng)]),
        51 => ordered(vec![
            s("ZRANGE"),
            k,
            index(rng),
            index(rng),
            s("WITHSCORES"),
        ]),
        52 => ordered(vec![
            s("ZRANGEBYSCORE"),
            k,
            score_bound(rng),
            score_bound(rng),
            s("LIMIT"),
            index(rng),
            index(rng),
        ]),
        53 => ordered(vec![s("ZRANGEBYLEX"), k, lex_bound(rng), lex_bound(rng)]),
        54 => ordered(vec![
            s(pick(rng, &["ZRANK", "ZREVRANK", "ZSCORE"])),
            k,
            member(rng),
        ]),
        55 => ordered(vec![
            s(pick(rng, &["ZPOPMIN", "ZPOPMAX"])),
            k,
            rng.random_range(0..3).to_string(),
        ]),
        56 => ordered(vec![
            s(pick(rng, &["ZUNIONSTORE", "ZINTERSTORE", "ZDIFFSTORE"])),
            k,
            s("2"),
            key(rng),
            key(rng),
        ]),
        57 => ordered(vec![s("ZCOUNT"), k, score_bound(rng), score_bound(rng)]),
        58 => ordered(vec![
            s(pick(rng, &["ZREMRANGEBYRANK", "ZREMRANGEBYSCORE"])),
            k,
            score_bound(rng),
            score_bound(rng),
        ]),
        _ => ordered(vec![s("ZCARD"), k]),
    }
}

#[test]
fn random_command_sequences_match_redis() {
    run(&[]);
}

/// The same with a tiny `maxmemory`: nearly every key goes to the cold
/// tier between commands.
#[test]
fn random_command_sequences_match_redis_with_everything_spilled() {
    run(&[("maxmemory", "1")]);
}

fn run(overrides: &[(&str, &str)]) {
    let Some(redis) = RedisServer::require() else {
        return;
    };
    let strata = TestServer::start(overrides);
    let seed: u64 = std::env::var("RANDOM_DIFF_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    let ops: usize = std::env::var("RANDOM_DIFF_OPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5000);
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut r = RawConn::connect(redis.port);
    let mut s = RawConn::connect(strata.port);
    r.cmd(&[b"FLUSHALL"]);
    s.cmd(&[b"FLUSHALL"]);
    let mut history: Vec<String> = Vec::new();
    for step in 0..ops {
        let op = generate(&mut rng);
        let args: Vec<&[u8]> = op.args.iter().map(|a| a.as_bytes()).collect();
        let mut want = r.cmd(&args);
        let mut got = s.cmd(&args);
        if op.unordered {
            want = want.sorted();
            got = got.sorted();
        }
        history.push(op.args.join(" "));
        if want != got {
            let start = history.len().saturating_sub(15);
            panic!(
                "seed {seed}: step {step}: {}\n  redis:  {}\n  strata: {}\nrecent commands:\n  {}\nrerun with RANDOM_DIFF_SEED={seed}",
                op.args.join(" "),
                want.show(),
                got.show(),
                history[start..].join("\n  ")
            );
        }
    }
    eprintln!("random differential: seed {seed}, {ops} commands, all replies identical");
}
