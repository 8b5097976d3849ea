//! Server introspection and administration: INFO, CONFIG (GET/SET/REWRITE,
//! the config file and command line), MONITOR, SLOWLOG, MEMORY USAGE,
//! DEBUG.

mod common;

use std::time::{Duration, Instant};

use common::{free_port, RawConn, Resp, ServerProcess, TestServer};
use strata::config::{Config, OPTIONS};

fn bulk_text(r: &Resp) -> String {
    match r {
        Resp::Bulk(Some(b)) | Resp::Verbatim(_, b) => String::from_utf8_lossy(b).into_owned(),
        other => panic!("expected text, got {other:?}"),
    }
}

fn info(raw: &mut RawConn, args: &str) -> String {
    bulk_text(&raw.cmd_str(&format!("INFO {args}")))
}

fn field(info: &str, name: &str) -> Option<String> {
    info.split("\r\n")
        .find_map(|l| l.strip_prefix(&format!("{name}:")).map(|v| v.to_string()))
}

fn conf_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/strata.conf")
}

#[test]
fn default_config_file_loads_and_covers_every_option() {
    let path = conf_path();
    let text = std::fs::read_to_string(&path).expect("config/strata.conf");
    let mut c = Config::new();
    c.load_args(&[path.display().to_string()])
        .expect("strata.conf must load");
    for spec in OPTIONS {
        let active = text
            .lines()
            .any(|l| l.split_whitespace().next() == Some(spec.name));
        let commented = text.lines().any(|l| {
            l.strip_prefix("# ")
                .and_then(|r| r.split_whitespace().next())
                == Some(spec.name)
        });
        assert!(
            active || commented,
            "option {} missing from strata.conf",
            spec.name
        );
        // The file documents the defaults: loading it changes nothing.
        assert_eq!(c.get(spec.name), spec.default, "option {}", spec.name);
    }
    assert_eq!(c.file.as_deref(), Some(path.as_path()));
}

#[test]
fn command_line_like_redis_and_unknown_options_fail() {
    let dir = tempfile::tempdir().expect("tempdir");
    let args: Vec<String> = [
        "--port",
        "7777",
        "--dir",
        &dir.path().display().to_string(),
        "--maxmemory",
        "1gb",
        "--save",
        "",
        "--appendonly",
        "yes",
        "--maxmemory-policy",
        "allkeys-lfu",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut c = Config::new();
    c.load_args(&args).expect("valid command line");
    assert_eq!(c.get("port"), "7777");
    assert_eq!(c.get("maxmemory"), "1073741824");
    assert_eq!(c.get("save"), "");
    assert_eq!(c.get("appendonly"), "yes");
    assert_eq!(c.get("maxmemory-policy"), "allkeys-lfu");

    // A config file first, then overrides.
    let args = vec![
        conf_path().display().to_string(),
        "--port".to_string(),
        "7001".to_string(),
    ];
    let mut c = Config::new();
    c.load_args(&args).expect("file plus override");
    assert_eq!(c.get("port"), "7001");

    let mut c = Config::new();
    let err = c
        .load_args(&["--no-such-option".to_string(), "1".to_string()])
        .expect_err("unknown option");
    assert!(err.contains("no-such-option"), "{err}");
    let err = c
        .load_args(&["--port".to_string(), "99999".to_string()])
        .expect_err("bad port");
    assert!(err.contains("port"), "{err}");
    let err = c
        .load_text("maxmemory 1gb\nbogus-directive yes\n")
        .expect_err("bad directive");
    assert!(
        err.contains("line 2") && err.contains("bogus-directive"),
        "{err}"
    );
}

#[test]
fn info_format_and_sections() {
    let server = TestServer::start(&[]);
    let mut raw = server.raw();
    let text = info(&mut raw, "");
    assert!(text.starts_with("# Server\r\n"), "{text:?}");
    assert!(text.ends_with("\r\n") && !text.ends_with("\r\n\r\n"));
    let headers: Vec<&str> = text.split("\r\n").filter(|l| l.starts_with("# ")).collect();
    assert_eq!(
        headers,
        [
            "# Server",
            "# Clients",
            "# Memory",
            "# Persistence",
            "# Stats",
            "# Replication",
            "# CPU",
            "# Modules",
            "# Errorstats",
            "# Cluster",
            "# Keyspace"
        ]
    );
    // Every section but the first is preceded by exactly one blank line;
    // every other line is key:value.
    let lines: Vec<&str> = text.trim_end_matches("\r\n").split("\r\n").collect();
    for (i, l) in lines.iter().enumerate() {
        if l.is_empty() {
            assert!(
                lines[i + 1].starts_with("# "),
                "blank line before {:?}",
                lines[i + 1]
            );
        } else if !l.starts_with("# ") {
            assert!(l.contains(':'), "bad line {l:?}");
        }
    }
    assert_eq!(field(&text, "redis_version").as_deref(), Some("7.0.15"));
    assert_eq!(
        field(&text, "strata_version").as_deref(),
        Some(env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(field(&text, "redis_mode").as_deref(), Some("standalone"));
    assert_eq!(field(&text, "tcp_port"), Some(server.port.to_string()));
    assert_eq!(
        field(&text, "process_id"),
        Some(std::process::id().to_string())
    );
    assert_eq!(field(&text, "role").as_deref(), Some("master"));
    assert_eq!(field(&text, "connected_slaves").as_deref(), Some("0"));
    assert_eq!(field(&text, "run_id").map(|r| r.len()), Some(40));
    assert_eq!(field(&text, "master_replid").map(|r| r.len()), Some(40));
    assert_eq!(field(&text, "blocked_clients").as_deref(), Some("0"));
    assert_eq!(field(&text, "maxclients").as_deref(), Some("10000"));
    assert_eq!(
        field(&text, "maxmemory_policy").as_deref(),
        Some("noeviction")
    );
    let used: u64 = field(&text, "used_memory")
        .and_then(|v| v.parse().ok())
        .expect("used_memory");
    assert!(used > 0);
    let rss: u64 = field(&text, "used_memory_rss")
        .and_then(|v| v.parse().ok())
        .expect("used_memory_rss");
    assert!(rss > 0);
    assert!(field(&text, "used_memory_human").is_some());
    assert!(field(&text, "mem_fragmentation_ratio").is_some());
    assert!(field(&text, "used_cpu_user").is_some());
    assert!(
        field(&text, "cmdstat_info").is_none(),
        "commandstats not in default"
    );

    // Sections by name, any case, fixed order, unknown ignored.
    let t = info(&mut raw, "KEYSPACE server nosuch");
    assert!(t.starts_with("# Server\r\n"));
    assert!(t.ends_with("# Keyspace\r\n"), "{t:?}");
    assert_eq!(info(&mut raw, "nosuch"), "");

    // Keyspace and command statistics.
    assert_eq!(raw.cmd_str("SET k v"), Resp::Simple("OK".into()));
    raw.cmd_str("GET k");
    raw.cmd_str("GET missing");
    raw.cmd_str("GET");
    assert_eq!(
        info(&mut raw, "keyspace"),
        "# Keyspace\r\ndb0:keys=1,expires=0,avg_ttl=0\r\n"
    );
    let stats = info(&mut raw, "commandstats");
    let get = field(&stats, "cmdstat_get").expect("cmdstat_get");
    assert!(
        get.starts_with("calls=2,usec=") && get.ends_with(",rejected_calls=1,failed_calls=0"),
        "{get}"
    );
    assert!(get.contains(",usec_per_call="));
    let s = info(&mut raw, "stats");
    assert_eq!(field(&s, "keyspace_hits").as_deref(), Some("1"));
    assert_eq!(field(&s, "keyspace_misses").as_deref(), Some("1"));
    assert_eq!(field(&s, "total_error_replies").as_deref(), Some("1"));
    assert_eq!(
        field(&info(&mut raw, "errorstats"), "errorstat_ERR").as_deref(),
        Some("count=1")
    );
    let all = info(&mut raw, "everything");
    assert!(all.contains("# Commandstats\r\n") && all.contains("# Keyspace\r\n"));
    assert!(info(&mut raw, "all").contains("cmdstat_set:calls=1"));
    assert!(info(&mut raw, "default").contains("# Errorstats"));

    // RESETSTAT clears command and error statistics.
    assert_eq!(raw.cmd_str("CONFIG RESETSTAT"), Resp::Simple("OK".into()));
    let stats = info(&mut raw, "commandstats errorstats");
    assert!(!stats.contains("cmdstat_get"), "{stats}");
    assert!(!stats.contains("errorstat_ERR"), "{stats}");

    // RESP3 (when HELLO is available): a verbatim string.
    if let Resp::Map(_) = raw.cmd_str("HELLO 3") {
        match raw.cmd_str("INFO keyspace") {
            Resp::Verbatim(f, _) => assert_eq!(f, "txt"),
            other => panic!("expected verbatim, got {other:?}"),
        }
    }
}

#[test]
fn config_set_is_atomic_and_applies() {
    let server = TestServer::start(&[]);
    let mut raw = server.raw();
    assert!(matches!(
        raw.cmd_str("CONFIG SET maxmemory 10mb hz abc"),
        Resp::Error(e) if e.contains("'hz'")
    ));
    let got = raw.cmd_str("CONFIG GET maxmemory");
    assert_eq!(
        got,
        Resp::Array(Some(vec![
            Resp::Bulk(Some(b"maxmemory".to_vec())),
            Resp::Bulk(Some(b"0".to_vec()))
        ]))
    );
    assert_eq!(
        raw.cmd_str("CONFIG SET maxmemory 10mb maxmemory-policy allkeys-lru"),
        Resp::Simple("OK".into())
    );
    let text = info(&mut raw, "memory");
    assert_eq!(field(&text, "maxmemory").as_deref(), Some("10485760"));
    assert_eq!(field(&text, "maxmemory_human").as_deref(), Some("10.00M"));
    assert_eq!(
        field(&text, "maxmemory_policy").as_deref(),
        Some("allkeys-lru")
    );
    // slowlog-max-len applies through config_changed.
    assert_eq!(raw.cmd_str("CONFIG SET hz 20"), Resp::Simple("OK".into()));
    assert_eq!(
        field(&info(&mut raw, "server"), "hz").as_deref(),
        Some("20")
    );
    assert!(matches!(
        raw.cmd_str("CONFIG REWRITE"),
        Resp::Error(e) if e == "ERR The server is running without a config file"
    ));
}

#[test]
fn config_rewrite_round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("strata.conf");
    std::fs::write(
        &path,
        "# My settings\nport 6390\n\n# snapshots\nsave 900 1\nsave 300 10\nmaxmemory 1mb\n# trailing comment\nhz 15\n",
    )
    .expect("write");
    let mut config = Config::new();
    config
        .load_args(&[path.display().to_string()])
        .expect("load");
    let tmp = tempfile::tempdir().expect("tempdir");
    config
        .set("dir", &tmp.path().display().to_string(), true)
        .expect("dir");
    let server = common::TestServer::start_config(config).expect("start");
    let mut raw = RawConn::connect(server.port);
    assert_eq!(
        raw.cmd_str("CONFIG SET maxmemory 2gb save \"\" maxmemory-policy allkeys-lru hash-max-ziplist-entries 100"),
        Resp::Simple("OK".into())
    );
    assert_eq!(
        raw.cmd_str("CONFIG SET notify-keyspace-events KEA"),
        Resp::Simple("OK".into())
    );
    let text = field(&info(&mut raw, "server"), "config_file").expect("config_file");
    assert_eq!(text, path.display().to_string());
    assert_eq!(raw.cmd_str("CONFIG REWRITE"), Resp::Simple("OK".into()));
    let rewritten = std::fs::read_to_string(&path).expect("read");
    // Comments and order kept; changed values replaced in place; new ones
    // appended; save collapsed to its new value.
    assert!(
        rewritten.starts_with("# My settings\nport 6390\n"),
        "{rewritten}"
    );
    assert!(
        rewritten.contains("# snapshots\nsave \"\"\nmaxmemory 2gb\n# trailing comment\nhz 15\n"),
        "{rewritten}"
    );
    assert!(!rewritten.contains("save 300 10"), "{rewritten}");
    assert!(
        rewritten.contains("# Generated by CONFIG REWRITE\n"),
        "{rewritten}"
    );
    assert!(
        rewritten.contains("\nmaxmemory-policy allkeys-lru\n"),
        "{rewritten}"
    );
    assert!(
        rewritten.contains("\nhash-max-listpack-entries 100\n"),
        "{rewritten}"
    );
    assert!(
        rewritten.contains("\nnotify-keyspace-events AKE\n"),
        "{rewritten}"
    );
    // The rewritten file loads back to the same values.
    let mut again = Config::new();
    again
        .load_args(&[path.display().to_string()])
        .expect("reload");
    assert_eq!(again.get("maxmemory"), "2147483648");
    assert_eq!(again.get("save"), "");
    assert_eq!(again.get("maxmemory-policy"), "allkeys-lru");
    assert_eq!(again.get("hash-max-listpack-entries"), "100");
    assert_eq!(again.get("notify-keyspace-events"), "AKE");
    assert_eq!(again.get("hz"), "15");
    assert_eq!(again.get("port"), "6390");
    // A second rewrite is stable.
    assert_eq!(raw.cmd_str("CONFIG REWRITE"), Resp::Simple("OK".into()));
    assert_eq!(std::fs::read_to_string(&path).expect("read"), rewritten);

    // The shipped default file survives a rewrite of itself unchanged in
    // meaning.
    let mut c = Config::new();
    c.load_args(&[conf_path().display().to_string()])
        .expect("load");
    let text = std::fs::read_to_string(conf_path()).expect("read");
    let out = c.rewrite_text(&text);
    let mut back = Config::new();
    back.load_text(&out).expect("reload rewritten default");
    for spec in OPTIONS {
        assert_eq!(back.get(spec.name), spec.default, "{}", spec.name);
    }
}

#[test]
fn monitor_streams_commands_of_other_clients() {
    let server = TestServer::start(&[]);
    let mut mon = server.raw();
    let mut other = server.raw();
    assert_eq!(mon.cmd_str("MONITOR"), Resp::Simple("OK".into()));
    assert_eq!(
        other.cmd(&[b"SET", b"foo", b"bar baz"]),
        Resp::Simple("OK".into())
    );
    other.cmd_str("SELECT 3");
    other.cmd_str("GET foo");
    let line = match mon.read() {
        Resp::Simple(s) => s,
        other => panic!("expected a monitor line, got {other:?}"),
    };
    // +1700000000.123456 [0 127.0.0.1:54321] "SET" "foo" "bar baz"
    let (ts, rest) = line.split_once(' ').expect("timestamp");
    let (secs, micros) = ts.split_once('.').expect("dot");
    assert!(secs.parse::<u64>().is_ok() && micros.len() == 6, "{line}");
    assert!(rest.starts_with("[0 127.0.0.1:"), "{line}");
    assert!(rest.ends_with("] \"SET\" \"foo\" \"bar baz\""), "{line}");
    let _select = mon.read();
    match mon.read() {
        Resp::Simple(s) => assert!(
            s.contains("[3 127.0.0.1:") && s.ends_with("\"GET\" \"foo\""),
            "{s}"
        ),
        other => panic!("{other:?}"),
    }
    let info_text = info(&mut other, "clients");
    assert_eq!(field(&info_text, "connected_clients").as_deref(), Some("2"));
}

#[test]
fn slowlog_records_and_resets() {
    let server = TestServer::start(&[]);
    let mut raw = server.raw();
    assert_eq!(raw.cmd_str("SLOWLOG RESET"), Resp::Simple("OK".into()));
    assert_eq!(
        raw.cmd_str("CONFIG SET slowlog-log-slower-than 0"),
        Resp::Simple("OK".into())
    );
    raw.cmd_str("CLIENT SETNAME slowpoke");
    raw.cmd_str("SET slowkey value");
    let Resp::Array(Some(entries)) = raw.cmd_str("SLOWLOG GET 1") else {
        panic!("array")
    };
    assert_eq!(entries.len(), 1);
    let Resp::Array(Some(e)) = &entries[0] else {
        panic!("entry")
    };
    assert_eq!(e.len(), 6);
    assert!(matches!(e[0], Resp::Int(_)));
    assert!(matches!(e[1], Resp::Int(t) if t > 1_600_000_000));
    assert_eq!(
        e[3],
        Resp::Array(Some(vec![
            Resp::Bulk(Some(b"SET".to_vec())),
            Resp::Bulk(Some(b"slowkey".to_vec())),
            Resp::Bulk(Some(b"value".to_vec())),
        ]))
    );
    assert!(bulk_text(&e[4]).starts_with("127.0.0.1:"));
    let Resp::Int(n) = raw.cmd_str("SLOWLOG LEN") else {
        panic!("int")
    };
    assert!(n >= 2);
    let Resp::Array(Some(all)) = raw.cmd_str("SLOWLOG GET -1") else {
        panic!("array")
    };
    assert!(all.len() as i64 > n);
    // Newest first, ids decreasing.
    let ids: Vec<i64> = all
        .iter()
        .map(|x| match x {
            Resp::Array(Some(v)) => match v[0] {
                Resp::Int(i) => i,
                _ => -1,
            },
            _ => -1,
        })
        .collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "{ids:?}");
    raw.cmd_str("CONFIG SET slowlog-log-slower-than -1");
    assert_eq!(raw.cmd_str("SLOWLOG RESET"), Resp::Simple("OK".into()));
    assert_eq!(raw.cmd_str("SLOWLOG LEN"), Resp::Int(0));
    // slowlog-max-len trims.
    raw.cmd_str("CONFIG SET slowlog-log-slower-than 0");
    for i in 0..10 {
        raw.cmd_str(&format!("SET k{i} v"));
    }
    raw.cmd_str("CONFIG SET slowlog-max-len 3");
    assert_eq!(raw.cmd_str("SLOWLOG LEN"), Resp::Int(3));
}

#[test]
fn memory_usage_matches_redis_for_strings() {
    let server = TestServer::start(&[]);
    let mut raw = server.raw();
    assert_eq!(raw.cmd_str("MEMORY USAGE nokey"), Resp::Bulk(None));
    // Values measured on redis-server 7.0.15 (jemalloc size classes).
    let cases: &[(&str, usize, i64)] = &[
        ("k", 1, 64),
        ("k", 10, 64),
        ("k", 30, 96),
        ("k", 50, 112),
        ("k", 100, 160),
        ("k", 1000, 1072),
        ("kkkkkkkkkk", 1, 72),
        ("kkkkkkkkkkkkkkkkkkkk", 50, 136),
        ("kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk", 100, 200),
    ];
    for (key, vlen, want) in cases {
        let value = "v".repeat(*vlen);
        raw.cmd(&[b"SET", key.as_bytes(), value.as_bytes()]);
        assert_eq!(
            raw.cmd(&[b"MEMORY", b"USAGE", key.as_bytes()]),
            Resp::Int(*want),
            "key {key} value {vlen}"
        );
    }
    raw.cmd_str("SET kk 123");
    assert_eq!(raw.cmd_str("MEMORY USAGE kk SAMPLES 0"), Resp::Int(48));
    raw.cmd_str("SET kk 12345678901234567890");
    assert_eq!(raw.cmd_str("MEMORY USAGE kk"), Resp::Int(80));
    assert!(
        matches!(raw.cmd_str("MEMORY USAGE kk SAMPLES"), Resp::Error(e) if e == "ERR syntax error")
    );
    // MEMORY STATS is a map with the allocator figures.
    let Resp::Array(Some(stats)) = raw.cmd_str("MEMORY STATS") else {
        panic!("array")
    };
    let names: Vec<String> = stats.iter().step_by(2).map(bulk_text).collect();
    for want in [
        "peak.allocated",
        "total.allocated",
        "keys.count",
        "dataset.bytes",
        "fragmentation",
        "db.0",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} in {names:?}");
    }
    match raw.cmd_str("MEMORY DOCTOR") {
        Resp::Bulk(Some(b)) => assert!(b.starts_with(b"Hi Sam")),
        other => panic!("{other:?}"),
    }
    assert!(bulk_text(&raw.cmd_str("MEMORY MALLOC-STATS")).contains("jemalloc"));
    assert_eq!(raw.cmd_str("MEMORY PURGE"), Resp::Simple("OK".into()));
}

#[test]
fn debug_gating_and_subcommands() {
    let refused = TestServer::start(&[]);
    let mut raw = refused.raw();
    assert!(matches!(
        raw.cmd_str("DEBUG SLEEP 0"),
        Resp::Error(e) if e.starts_with("ERR DEBUG command not allowed.")
    ));

    let local = TestServer::start(&[("enable-debug-command", "local")]);
    let mut raw = local.raw();
    assert_eq!(raw.cmd_str("DEBUG SLEEP 0"), Resp::Simple("OK".into()));

    let server = TestServer::start(&[("enable-debug-command", "yes")]);
    let mut raw = server.raw();
    let started = std::time::Instant::now();
    assert_eq!(raw.cmd_str("DEBUG SLEEP 0.2"), Resp::Simple("OK".into()));
    assert!(started.elapsed() >= Duration::from_millis(190));
    raw.cmd_str("SET k hello");
    match raw.cmd_str("DEBUG OBJECT k") {
        Resp::Simple(s) => assert!(s.contains("encoding:embstr"), "{s}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(raw.cmd_str("DEBUG OBJECT nokey"), Resp::Error(e) if e == "ERR no such key"));
    assert!(matches!(raw.cmd_str("DEBUG HELP"), Resp::Array(Some(_))));
    // DEBUG PROTOCOL in RESP2, as redis-server 7.0 answers.
    for (ty, want) in [
        ("string", Resp::Bulk(Some(b"Hello World".to_vec()))),
        ("integer", Resp::Int(12345)),
        ("double", Resp::Bulk(Some(b"3.141".to_vec()))),
        (
            "bignum",
            Resp::Bulk(Some(b"1234567999999999999999999999999999999".to_vec())),
        ),
        ("null", Resp::Bulk(None)),
        (
            "array",
            Resp::Array(Some(vec![Resp::Int(0), Resp::Int(1), Resp::Int(2)])),
        ),
        (
            "map",
            Resp::Array(Some(vec![
                Resp::Int(0),
                Resp::Int(0),
                Resp::Int(1),
                Resp::Int(1),
                Resp::Int(2),
                Resp::Int(0),
            ])),
        ),
        ("true", Resp::Int(1)),
        (
            "attrib",
            Resp::Bulk(Some(b"Some real reply following the attribute".to_vec())),
        ),
        (
            "push",
            Resp::Error("ERR RESP2 is not supported by this command".into()),
        ),
        (
            "verbatim",
            Resp::Bulk(Some(b"This is a verbatim\nstring".to_vec())),
        ),
    ] {
        assert_eq!(raw.cmd_str(&format!("DEBUG PROTOCOL {ty}")), want, "{ty}");
    }
    assert!(matches!(
        raw.cmd_str("DEBUG PROTOCOL nosuch"),
        Resp::Error(e) if e.starts_with("ERR Wrong protocol type name.")
    ));
    assert!(matches!(
        raw.cmd_str("DEBUG nosuch"),
        Resp::Error(e) if e == "ERR unknown subcommand or wrong number of arguments for 'nosuch'. Try DEBUG HELP."
    ));

    assert_eq!(
        raw.cmd_str("DEBUG SET-ACTIVE-EXPIRE 0"),
        Resp::Simple("OK".into())
    );
    assert_eq!(
        raw.cmd_str("DEBUG SET-ACTIVE-EXPIRE 1"),
        Resp::Simple("OK".into())
    );
}

#[test]
fn active_expire_flag_is_honoured_by_cron() {
    use bytes::Bytes;
    use strata::server::{now_ms, State};
    use strata_storage::value::{Str, Value};
    let mut st = State::new(Config::new());
    let now = now_ms();
    let key = Bytes::from_static(b"e");
    st.keyspace.db(0).set(
        key.clone(),
        Value::Str(Str::Raw(Bytes::from_static(b"v"))),
        now,
    );
    st.keyspace.db(0).set_expire(&key, now - 1000);
    st.active_expire_enabled = false;
    for _ in 0..5 {
        st.cron(now);
    }
    assert_eq!(st.keyspace.dbs[0].len(), 1, "expiry ran while disabled");
    st.active_expire_enabled = true;
    for _ in 0..5 {
        st.cron(now);
    }
    assert_eq!(st.keyspace.dbs[0].len(), 0, "expiry did not run");
    assert_eq!(st.stats.expired_keys, 1);
}

#[test]
fn time_lastsave_shutdown_and_command_count() {
    let server = TestServer::start(&[]);
    let mut raw = server.raw();
    let Resp::Array(Some(t)) = raw.cmd_str("TIME") else {
        panic!("array")
    };
    let secs: u64 = bulk_text(&t[0]).parse().expect("secs");
    let micros: u64 = bulk_text(&t[1]).parse().expect("micros");
    assert!(secs > 1_600_000_000 && micros < 1_000_000);
    assert!(matches!(raw.cmd_str("LASTSAVE"), Resp::Int(n) if n > 1_600_000_000));
    let Resp::Int(count) = raw.cmd_str("COMMAND COUNT") else {
        panic!("int")
    };
    let Resp::Array(Some(all)) = raw.cmd_str("COMMAND") else {
        panic!("array")
    };
    assert_eq!(all.len() as i64, count);
    let Resp::Array(Some(list)) = raw.cmd_str("COMMAND LIST") else {
        panic!("array")
    };
    assert!(list.contains(&Resp::Bulk(Some(b"config|get".to_vec()))));
    assert!(
        matches!(raw.cmd_str("SHUTDOWN ABORT"), Resp::Error(e) if e == "ERR No shutdown in progress.")
    );
    // SHUTDOWN NOSAVE closes the connection and stops the server.
    raw.send(&[b"SHUTDOWN", b"NOSAVE"]);
    assert!(raw.is_closed());
}

#[test]
fn binary_starts_from_the_default_config_and_rejects_unknown_options() {
    let bin = env!("CARGO_BIN_EXE_strata-server");
    let dir = tempfile::tempdir().expect("tempdir");
    let port = common::free_port();
    let mut child = std::process::Command::new(bin)
        .arg(conf_path())
        .args(["--port", &port.to_string(), "--save", "", "--dir"])
        .arg(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn strata-server");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("strata-server did not start");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut raw = RawConn::connect(port);
    let text = info(&mut raw, "server");
    assert_eq!(
        field(&text, "config_file"),
        Some(conf_path().display().to_string())
    );
    assert_eq!(field(&text, "tcp_port"), Some(port.to_string()));
    assert_eq!(
        raw.cmd_str("CONFIG GET save"),
        Resp::Array(Some(vec![
            Resp::Bulk(Some(b"save".to_vec())),
            Resp::Bulk(Some(Vec::new()))
        ]))
    );
    raw.send(&[b"SHUTDOWN", b"NOSAVE"]);
    assert!(raw.is_closed());
    let status = child.wait().expect("wait");
    assert!(status.success(), "{status:?}");

    let out = std::process::Command::new(bin)
        .args(["--port", "0", "--no-such-option", "1"])
        .output()
        .expect("run strata-server");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no-such-option"), "{err}");
}

#[test]
fn debian_redis_conf_loads() {
    // Debian's stock /etc/redis/redis.conf, when installed, minus
    // `daemonize yes` (Strata runs under a supervisor instead).
    let Ok(text) = std::fs::read_to_string("/etc/redis/redis.conf") else {
        return;
    };
    let text: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("daemonize"))
        .map(|l| format!("{l}\n"))
        .collect();
    let mut c = Config::new();
    c.load_text(&text).expect("Debian's redis.conf");
    assert_eq!(c.get("port"), "6379");
}

#[test]
fn command_line_save_lines_accumulate_and_values_are_quoted() {
    let args: Vec<String> = [
        "--save",
        "900",
        "1",
        "--save",
        "300",
        "10",
        "--requirepass",
        "with space \"quoted\"",
        "--list-max-listpack-size",
        "-3",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut c = Config::new();
    c.load_args(&args).expect("valid");
    assert_eq!(c.get("save"), "900 1 300 10");
    assert_eq!(c.get("requirepass"), "with space \"quoted\"");
    assert_eq!(c.get("list-max-listpack-size"), "-3");
    let mut c = Config::new();
    c.load_args(&["--save".to_string()]).expect("bare --save");
    assert_eq!(c.get("save"), "");
}

#[test]
fn clients_are_served_while_the_aof_replays() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let s = TestServer::start_in(dir.path(), &[("appendonly", "yes")]).expect("start");
        let mut raw = s.raw();
        for i in 0..100 {
            raw.cmd(&[b"SET", format!("k{i}").as_bytes(), b"v"]);
        }
        // A transaction replays whole: nobody runs in its middle.
        raw.cmd_str("MULTI");
        raw.cmd_str("SET t1 a");
        raw.cmd_str("SET t2 b");
        assert!(matches!(raw.cmd_str("EXEC"), Resp::Array(Some(_))));
    }
    // 100 commands x 20 ms: the replay takes about 2 s.
    let started = Instant::now();
    let s = TestServer::start_loading(
        dir.path(),
        &[("appendonly", "yes"), ("key-load-delay", "20000")],
    );
    let mut raw = s.raw();
    let loading = Resp::Error("LOADING Redis is loading the dataset in memory".into());
    assert_eq!(raw.cmd_str("GET k1"), loading);
    let mut seen_progress = false;
    loop {
        let Resp::Bulk(Some(info)) = raw.cmd_str("INFO persistence") else {
            panic!("INFO");
        };
        let info = String::from_utf8_lossy(&info).into_owned();
        if info.contains("\nloading:0\r\n") {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{info}");
        if info.contains("loading_loaded_bytes:0\r\n") {
            continue;
        }
        assert!(info.contains("\nloading:1\r\n"), "{info}");
        assert!(!info.contains("loading_total_bytes:0\r\n"), "{info}");
        seen_progress = true;
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(seen_progress, "INFO ran only after the replay");
    assert_eq!(raw.cmd_str("DBSIZE"), Resp::Int(102));
    assert_eq!(raw.cmd_str("GET t2"), Resp::Bulk(Some(b"b".to_vec())));
}

/// A directory holding a dump.rdb of keys k0..k149 (value "v"): with
/// `key-load-delay 20000` (20 ms per key) its load takes about 3 s.
fn dump_of_150_keys() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = TestServer::start_in(dir.path(), &[]).expect("start");
    let mut raw = s.raw();
    for i in 0..150 {
        raw.cmd(&[b"SET", format!("k{i}").as_bytes(), b"v"]);
    }
    assert_eq!(raw.cmd_str("SAVE"), Resp::Simple("OK".into()));
    dir
}

#[test]
fn with_a_password_clients_authenticate_during_the_load() {
    let dir = dump_of_150_keys();
    let s = TestServer::start_loading(
        dir.path(),
        &[("key-load-delay", "20000"), ("requirepass", "pw")],
    );
    let mut raw = s.raw();
    assert_eq!(
        raw.cmd_str("INFO"),
        Resp::Error("NOAUTH Authentication required.".into())
    );
    assert_eq!(raw.cmd_str("AUTH pw"), Resp::Simple("OK".into()));
    let Resp::Bulk(Some(info)) = raw.cmd_str("INFO persistence") else {
        panic!("INFO");
    };
    assert!(
        String::from_utf8_lossy(&info).contains("\nloading:1\r\n"),
        "answered during the load"
    );
    assert_eq!(
        raw.cmd_str("GET k1"),
        Resp::Error("LOADING Redis is loading the dataset in memory".into())
    );
    assert!(s.shared.loading.is_active());
    // A new connection is still asked for the password first.
    assert_eq!(
        s.raw().cmd_str("GET k1"),
        Resp::Error("NOAUTH Authentication required.".into())
    );
    // The gate that answers new connections sees a password change made
    // during the load at once.
    assert_eq!(
        raw.cmd(&[b"CONFIG", b"SET", b"requirepass", b""]),
        Resp::Simple("OK".into())
    );
    assert_eq!(
        s.raw().cmd_str("GET k1"),
        Resp::Error("LOADING Redis is loading the dataset in memory".into())
    );
    assert_eq!(
        raw.cmd_str("CONFIG SET requirepass pw2"),
        Resp::Simple("OK".into())
    );
    assert_eq!(
        s.raw().cmd_str("GET k1"),
        Resp::Error("NOAUTH Authentication required.".into())
    );
    assert!(s.shared.loading.is_active(), "still loading");
}

#[test]
fn shutdown_during_the_load_exits_at_once_without_saving() {
    let dir = dump_of_150_keys();
    let dump = dir.path().join("dump.rdb");
    let before = std::fs::read(&dump).expect("dump");
    let port = free_port();
    // 150 keys x 20 ms: the load would take about 3 s; a save point that
    // a SHUTDOWN out of the load would honour.
    let mut p = ServerProcess::spawn(
        dir.path(),
        port,
        &["--key-load-delay", "20000", "--save", "3600 1"],
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "not listening:\n{}", p.log());
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut raw = RawConn::connect(port);
    assert_eq!(
        raw.cmd_str("PING"),
        Resp::Error("LOADING Redis is loading the dataset in memory".into())
    );
    let started = Instant::now();
    raw.send_raw(b"*1\r\n$8\r\nSHUTDOWN\r\n");
    assert!(raw.is_closed());
    let status = loop {
        if let Some(st) = p.child.try_wait().expect("wait") {
            break st;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "still running");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(status.success(), "{status}:\n{}", p.log());
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "waited for the load: {:?}",
        started.elapsed()
    );
    assert!(
        p.log().contains("Shutdown requested during loading"),
        "{}",
        p.log()
    );
    assert_eq!(
        std::fs::read(&dump).expect("dump"),
        before,
        "the partial dataset was saved"
    );
}

#[test]
fn clients_get_loading_errors_while_the_dataset_loads() {
    let dir = dump_of_150_keys();
    // 150 keys x 20 ms: the load takes about 3 s.
    let started = std::time::Instant::now();
    let s = TestServer::start_loading(dir.path(), &[("key-load-delay", "20000")]);
    let mut raw = s.raw();
    let loading = Resp::Error("LOADING Redis is loading the dataset in memory".into());
    assert_eq!(raw.cmd_str("PING"), loading);
    assert_eq!(raw.cmd_str("GET k1"), loading);
    assert_eq!(
        raw.cmd_str("NOSUCH x"),
        Resp::Error("ERR unknown command 'NOSUCH', with args beginning with: 'x' ".into())
    );
    assert_eq!(
        raw.cmd_str("GET"),
        Resp::Error("ERR wrong number of arguments for 'get' command".into())
    );
    assert!(s.shared.loading.is_active(), "answered during the load");
    assert!(started.elapsed() < Duration::from_secs(2));
    // Commands allowed while loading run during the load: the connection
    // is admitted, and the dispatcher refuses the others.
    assert_eq!(
        raw.cmd_str("CLIENT SETNAME early"),
        Resp::Simple("OK".into())
    );
    let field = |info: &str, name: &str| -> f64 {
        info.split("\r\n")
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} in {info}"))
    };
    // The first keys are in after 20 ms or so.
    let info = loop {
        let Resp::Bulk(Some(info)) = raw.cmd_str("INFO persistence") else {
            panic!("INFO");
        };
        let info = String::from_utf8_lossy(&info).into_owned();
        assert!(info.contains("\nloading:1\r\n"), "{info}");
        if field(&info, "loading_loaded_bytes:") > 0.0 {
            break info;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let field = |name: &str| field(&info, name);
    let total = field("loading_total_bytes:");
    assert!(total > 0.0, "{info}");
    assert!(field("loading_loaded_bytes:") <= total, "{info}");
    assert!(field("loading_loaded_perc:") < 100.0, "{info}");
    assert!(field("loading_rdb_used_mem:") > 0.0, "{info}");
    assert_eq!(raw.cmd_str("DBSIZE"), loading);
    assert_eq!(
        raw.cmd_str("CONFIG SET appendonly yes"),
        Resp::Error(
            "ERR CONFIG SET failed (possibly related to argument 'appendonly') - not allowed while the dataset is loading"
                .into()
        )
    );
    // Refused inside MULTI: the transaction fails, as in Redis.
    assert_eq!(raw.cmd_str("MULTI"), Resp::Simple("OK".into()));
    assert_eq!(raw.cmd_str("SET k1 changed"), loading);
    assert_eq!(
        raw.cmd_str("EXEC"),
        Resp::Error("EXECABORT Transaction discarded because of previous errors.".into())
    );
    assert!(s.shared.loading.is_active(), "served during the load");
    assert!(started.elapsed() < Duration::from_secs(2));
    // Once the load is over, everything runs.
    while raw.cmd_str("PING") == loading {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(started.elapsed() >= Duration::from_millis(2900));
    assert_eq!(raw.cmd_str("DBSIZE"), Resp::Int(150));
    assert_eq!(raw.cmd_str("GET k1"), Resp::Bulk(Some(b"v".to_vec())));
    assert_eq!(
        raw.cmd_str("CLIENT GETNAME"),
        Resp::Bulk(Some(b"early".to_vec()))
    );
    let Resp::Bulk(Some(info)) = raw.cmd_str("INFO persistence") else {
        panic!("INFO");
    };
    let info = String::from_utf8_lossy(&info).into_owned();
    assert!(info.contains("\nloading:0\r\n"), "{info}");
    assert!(!info.contains("loading_total_bytes"), "{info}");
    // A connection made after the load is served as usual.
    assert_eq!(s.raw().cmd_str("GET k149"), Resp::Bulk(Some(b"v".to_vec())));
}
