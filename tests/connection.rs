//! Connection commands on a live server: HELLO, AUTH with requirepass,
//! RESET, CLIENT LIST/INFO/KILL/ID/SETNAME/NO-EVICT, and a `redis-cli`
//! round trip.

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{RawConn, RedisServer, Resp, TestServer};

fn ok() -> Resp {
    Resp::Simple("OK".into())
}

fn text(r: Resp) -> String {
    match r {
        Resp::Bulk(Some(b)) | Resp::Verbatim(_, b) => String::from_utf8_lossy(&b).into_owned(),
        other => panic!("expected a string reply, got {other:?}"),
    }
}

/// `key=value` fields of one CLIENT LIST line, in order.
fn fields(line: &str) -> Vec<(String, String)> {
    line.split(' ')
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k.to_string(), v.to_string())
        })
        .collect()
}

fn field_map(line: &str) -> HashMap<String, String> {
    fields(line).into_iter().collect()
}

fn info(c: &mut RawConn) -> HashMap<String, String> {
    field_map(text(c.cmd_str("CLIENT INFO")).trim_end())
}

fn id_of(c: &mut RawConn) -> i64 {
    match c.cmd_str("CLIENT ID") {
        Resp::Int(i) => i,
        other => panic!("CLIENT ID: {other:?}"),
    }
}

/// Waits until `c` reads EOF.
fn assert_closed(c: &mut RawConn) {
    assert!(c.is_closed(), "connection still open");
}

const FIELD_ORDER: &[&str] = &[
    "id",
    "addr",
    "laddr",
    "fd",
    "name",
    "age",
    "idle",
    "flags",
    "db",
    "sub",
    "psub",
    "ssub",
    "multi",
    "qbuf",
    "qbuf-free",
    "argv-mem",
    "multi-mem",
    "rbs",
    "rbp",
    "obl",
    "oll",
    "omem",
    "tot-mem",
    "events",
    "cmd",
    "user",
    "redir",
    "resp",
];

#[test]
fn hello_reply_and_protocol_switch() {
    let s = TestServer::start(&[]);
    let mut c = s.raw();
    let id = id_of(&mut c);
    let want2 = |proto: i64| {
        Resp::Array(Some(vec![
            Resp::Bulk(Some(b"server".to_vec())),
            Resp::Bulk(Some(b"redis".to_vec())),
            Resp::Bulk(Some(b"version".to_vec())),
            Resp::Bulk(Some(b"7.0.15".to_vec())),
            Resp::Bulk(Some(b"proto".to_vec())),
            Resp::Int(proto),
            Resp::Bulk(Some(b"id".to_vec())),
            Resp::Int(id),
            Resp::Bulk(Some(b"mode".to_vec())),
            Resp::Bulk(Some(b"standalone".to_vec())),
            Resp::Bulk(Some(b"role".to_vec())),
            Resp::Bulk(Some(b"master".to_vec())),
            Resp::Bulk(Some(b"modules".to_vec())),
            Resp::Array(Some(vec![])),
        ]))
    };
    assert_eq!(c.cmd_str("HELLO"), want2(2));
    assert_eq!(c.cmd_str("HELLO 2 SETNAME first"), want2(2));
    assert_eq!(
        c.cmd_str("CLIENT GETNAME"),
        Resp::Bulk(Some(b"first".to_vec()))
    );
    match c.cmd_str("HELLO 3 AUTH default whatever") {
        Resp::Map(pairs) => {
            assert_eq!(pairs.len(), 7);
            assert_eq!(pairs[3].1, Resp::Int(id));
            assert_eq!(pairs[2].1, Resp::Int(3));
            assert_eq!(pairs[6].1, Resp::Array(Some(vec![])));
        }
        other => panic!("HELLO 3: {other:?}"),
    }
    // HELLO without a version keeps RESP3.
    assert!(matches!(c.cmd_str("HELLO"), Resp::Map(_)));
    assert_eq!(c.cmd_str("GET nokey"), Resp::Null);
    assert_eq!(info(&mut c)["resp"], "3");
    assert_eq!(c.cmd_str("HELLO 2"), want2(2));
    assert_eq!(c.cmd_str("GET nokey"), Resp::Bulk(None));
    assert_eq!(
        c.cmd_str("HELLO 3 SETNAME bad\nname"),
        Resp::Error("ERR Syntax error in HELLO option 'name'".into())
    );
}

#[test]
fn auth_with_requirepass() {
    let s = TestServer::start(&[("requirepass", "s3cret")]);
    let mut c = s.raw();
    let noauth = Resp::Error("NOAUTH Authentication required.".into());
    let wrongpass =
        Resp::Error("WRONGPASS invalid username-password pair or user is disabled.".into());
    assert_eq!(c.cmd_str("PING"), noauth);
    assert_eq!(c.cmd_str("CLIENT ID"), noauth);
    assert_eq!(c.cmd_str("SELECT 1"), noauth);
    // Unknown commands and arity are reported before authentication.
    assert!(matches!(c.cmd_str("NOSUCH"), Resp::Error(e) if e.starts_with("ERR unknown command")));
    assert_eq!(
        c.cmd_str("AUTH"),
        Resp::Error("ERR wrong number of arguments for 'auth' command".into())
    );
    assert_eq!(c.cmd_str("AUTH wrong"), wrongpass);
    assert_eq!(c.cmd_str("AUTH default wrong"), wrongpass);
    assert_eq!(c.cmd_str("AUTH bob s3cret"), wrongpass);
    assert_eq!(
        c.cmd_str("AUTH a b c"),
        Resp::Error("ERR syntax error".into())
    );
    assert!(
        matches!(c.cmd_str("HELLO 3"), Resp::Error(e) if e.starts_with("NOAUTH HELLO must be called"))
    );
    assert_eq!(c.cmd_str("HELLO 3 AUTH default nope"), wrongpass);
    assert_eq!(c.cmd_str("PING"), noauth);
    assert_eq!(c.cmd_str("AUTH s3cret"), ok());
    assert_eq!(c.cmd_str("PING"), Resp::Simple("PONG".into()));
    // A failed AUTH later does not log the client out.
    assert_eq!(c.cmd_str("AUTH wrong"), wrongpass);
    assert_eq!(c.cmd_str("PING"), Resp::Simple("PONG".into()));
    // RESET logs out.
    assert_eq!(c.cmd_str("RESET"), Resp::Simple("RESET".into()));
    assert_eq!(c.cmd_str("PING"), noauth);
    assert_eq!(c.cmd_str("AUTH default s3cret"), ok());
    assert_eq!(c.cmd_str("PING"), Resp::Simple("PONG".into()));
    assert_eq!(c.cmd_str("RESET"), Resp::Simple("RESET".into()));
    // HELLO AUTH authenticates and switches protocol in one go.
    assert!(matches!(
        c.cmd_str("HELLO 3 AUTH default s3cret SETNAME me"),
        Resp::Map(_)
    ));
    assert_eq!(
        c.cmd_str("CLIENT GETNAME"),
        Resp::Bulk(Some(b"me".to_vec()))
    );
    // QUIT works without authentication.
    let mut q = s.raw();
    assert_eq!(q.cmd_str("QUIT"), ok());
    assert_closed(&mut q);

    // Without requirepass: the one-argument form is an error, the
    // default user accepts any password.
    let open = TestServer::start(&[]);
    let mut c = open.raw();
    assert_eq!(
        c.cmd_str("AUTH x"),
        Resp::Error("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?".into())
    );
    assert_eq!(c.cmd_str("AUTH default anything"), ok());
    assert_eq!(c.cmd_str("AUTH other anything"), wrongpass);
}

#[test]
fn reset_restores_connection_defaults() {
    let s = TestServer::start(&[]);
    let mut c = s.raw();
    assert_eq!(c.cmd_str("SELECT 5"), ok());
    assert_eq!(c.cmd_str("SET k five"), ok());
    assert_eq!(c.cmd_str("CLIENT SETNAME named"), ok());
    assert_eq!(c.cmd_str("CLIENT NO-EVICT on"), ok());
    assert!(matches!(c.cmd_str("HELLO 3"), Resp::Map(_)));
    let before = info(&mut c);
    assert_eq!(before["db"], "5");
    assert_eq!(before["name"], "named");
    assert_eq!(before["flags"], "e");
    assert_eq!(before["resp"], "3");
    assert_eq!(c.cmd_str("RESET"), Resp::Simple("RESET".into()));
    let after = info(&mut c);
    assert_eq!(after["db"], "0");
    assert_eq!(after["name"], "");
    assert_eq!(after["flags"], "N");
    assert_eq!(after["resp"], "2");
    assert_eq!(c.cmd_str("GET k"), Resp::Bulk(None));
    assert_eq!(c.cmd_str("CLIENT GETNAME"), Resp::Bulk(None));
    // CLIENT REPLY OFF is cleared too.
    c.send_raw(b"CLIENT REPLY OFF\r\nPING\r\nRESET\r\nPING\r\n");
    assert_eq!(c.read(), Resp::Simple("RESET".into()));
    assert_eq!(c.read(), Resp::Simple("PONG".into()));
}

#[test]
fn client_list_and_info() {
    let s = TestServer::start(&[]);
    let mut a = s.raw();
    let mut b = s.raw();
    let ida = id_of(&mut a);
    let idb = id_of(&mut b);
    assert_eq!(b.cmd_str("CLIENT SETNAME bee"), ok());
    assert_eq!(b.cmd_str("SELECT 2"), ok());

    let list = text(a.cmd_str("CLIENT LIST"));
    assert!(list.ends_with('\n'));
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 2, "{list}");
    for line in &lines {
        let keys: Vec<String> = fields(line).into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, FIELD_ORDER, "{line}");
    }
    let la = field_map(lines[0]);
    let lb = field_map(lines[1]);
    assert_eq!(la["id"], ida.to_string());
    assert_eq!(lb["id"], idb.to_string());
    assert_eq!(la["cmd"], "client|list");
    assert_eq!(lb["cmd"], "select");
    assert_eq!(lb["name"], "bee");
    assert_eq!(lb["db"], "2");
    assert_eq!(la["flags"], "N");
    assert_eq!(la["user"], "default");
    assert_eq!(la["resp"], "2");
    assert!(la["addr"].starts_with("127.0.0.1:"));
    assert_eq!(la["laddr"], format!("127.0.0.1:{}", s.port));

    // CLIENT INFO is this client's line.
    let mine = info(&mut b);
    assert_eq!(mine["id"], idb.to_string());
    assert_eq!(mine["cmd"], "client|info");

    // ID filter: in the order given, unknown ids skipped.
    let by_id = text(a.cmd(&[
        b"CLIENT",
        b"LIST",
        b"ID",
        idb.to_string().as_bytes(),
        b"999999",
        ida.to_string().as_bytes(),
    ]));
    let ids: Vec<String> = by_id.lines().map(|l| field_map(l)["id"].clone()).collect();
    assert_eq!(ids, vec![idb.to_string(), ida.to_string()]);
    assert_eq!(
        text(a.cmd_str("CLIENT LIST TYPE normal")).lines().count(),
        2
    );
    assert_eq!(text(a.cmd_str("CLIENT LIST TYPE pubsub")), "");
    assert_eq!(text(a.cmd_str("CLIENT LIST TYPE replica")), "");

    // The same fields, in the same order, as the real server.
    if let Some(redis) = RedisServer::start() {
        let mut r = RawConn::connect(redis.port);
        let line = text(r.cmd_str("CLIENT INFO"));
        let keys: Vec<String> = fields(line.trim_end())
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(keys, FIELD_ORDER);
    }
}

#[test]
fn client_kill_forms() {
    let s = TestServer::start(&[]);
    let mut me = s.raw();
    let mut victim = s.raw();
    let vid = id_of(&mut victim);
    // New form by ID kills the other client.
    assert_eq!(
        me.cmd(&[b"CLIENT", b"KILL", b"ID", vid.to_string().as_bytes()]),
        Resp::Int(1)
    );
    assert_closed(&mut victim);
    assert!(!text(me.cmd_str("CLIENT LIST")).contains(&format!("id={vid} ")));
    assert_eq!(
        me.cmd(&[b"CLIENT", b"KILL", b"ID", vid.to_string().as_bytes()]),
        Resp::Int(0)
    );

    // Old form by address.
    let mut victim = s.raw();
    let addr = info(&mut victim)["addr"].clone();
    assert_eq!(me.cmd(&[b"CLIENT", b"KILL", addr.as_bytes()]), ok());
    assert_closed(&mut victim);
    assert_eq!(
        me.cmd(&[b"CLIENT", b"KILL", addr.as_bytes()]),
        Resp::Error("ERR No such client".into())
    );

    // ADDR / LADDR / TYPE / USER filters; SKIPME defaults to yes.
    let mut v1 = s.raw();
    let mut v2 = s.raw();
    let a1 = info(&mut v1)["addr"].clone();
    let _ = id_of(&mut v2);
    assert_eq!(
        me.cmd(&[
            b"CLIENT",
            b"KILL",
            b"ADDR",
            a1.as_bytes(),
            b"TYPE",
            b"master"
        ]),
        Resp::Int(0)
    );
    assert_eq!(
        me.cmd(&[
            b"CLIENT",
            b"KILL",
            b"ADDR",
            a1.as_bytes(),
            b"USER",
            b"default"
        ]),
        Resp::Int(1)
    );
    assert_closed(&mut v1);
    let laddr = format!("127.0.0.1:{}", s.port);
    assert_eq!(
        me.cmd(&[b"CLIENT", b"KILL", b"LADDR", laddr.as_bytes()]),
        Resp::Int(1)
    );
    assert_closed(&mut v2);
    let _ = id_of(&mut me);

    // Killing oneself: the reply arrives, then the connection closes.
    let myid = id_of(&mut me);
    assert_eq!(
        me.cmd(&[
            b"CLIENT",
            b"KILL",
            b"ID",
            myid.to_string().as_bytes(),
            b"SKIPME",
            b"yes"
        ]),
        Resp::Int(0)
    );
    assert_eq!(
        me.cmd(&[
            b"CLIENT",
            b"KILL",
            b"ID",
            myid.to_string().as_bytes(),
            b"SKIPME",
            b"no"
        ]),
        Resp::Int(1)
    );
    assert_closed(&mut me);
    let mut me = s.raw();
    let my_addr = info(&mut me)["addr"].clone();
    assert_eq!(me.cmd(&[b"CLIENT", b"KILL", my_addr.as_bytes()]), ok());
    assert_closed(&mut me);

    // TYPE normal kills everyone else.
    let mut boss = s.raw();
    let mut others: Vec<RawConn> = (0..3).map(|_| s.raw()).collect();
    for o in &mut others {
        let _ = id_of(o);
    }
    assert_eq!(boss.cmd_str("CLIENT KILL TYPE normal"), Resp::Int(3));
    for o in &mut others {
        assert_closed(o);
    }
    assert_eq!(boss.cmd_str("PING"), Resp::Simple("PONG".into()));
}

#[test]
fn client_setname_getname_and_flags() {
    let s = TestServer::start(&[]);
    let mut c = s.raw();
    assert_eq!(c.cmd_str("CLIENT GETNAME"), Resp::Bulk(None));
    assert_eq!(c.cmd_str("CLIENT SETNAME worker-1"), ok());
    assert_eq!(
        c.cmd_str("CLIENT GETNAME"),
        Resp::Bulk(Some(b"worker-1".to_vec()))
    );
    let bad = Resp::Error(
        "ERR Client names cannot contain spaces, newlines or special characters.".into(),
    );
    assert_eq!(c.cmd(&[b"CLIENT", b"SETNAME", b"a b"]), bad);
    assert_eq!(c.cmd(&[b"CLIENT", b"SETNAME", b"a\nb"]), bad);
    assert_eq!(c.cmd(&[b"CLIENT", b"SETNAME", b"\xc3\xa9"]), bad);
    assert_eq!(info(&mut c)["name"], "worker-1");
    assert_eq!(c.cmd(&[b"CLIENT", b"SETNAME", b""]), ok());
    assert_eq!(c.cmd_str("CLIENT GETNAME"), Resp::Bulk(None));
    assert_eq!(c.cmd_str("CLIENT NO-EVICT on"), ok());
    assert_eq!(info(&mut c)["flags"], "e");
    assert_eq!(c.cmd_str("CLIENT NO-EVICT off"), ok());
    assert_eq!(info(&mut c)["flags"], "N");
    // Help is an array of status lines.
    match c.cmd_str("CLIENT HELP") {
        Resp::Array(Some(lines)) => {
            assert_eq!(lines.len(), 48);
            assert_eq!(
                lines[0],
                Resp::Simple(
                    "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:".into()
                )
            );
        }
        other => panic!("CLIENT HELP: {other:?}"),
    }
}

/// `redis-cli` talks to Strata: single commands, and a `--pipe` upload.
#[test]
fn redis_cli_round_trip() {
    let Some(cli) = common::which("redis-cli") else {
        assert!(
            std::env::var("CI").is_err(),
            "redis-cli must be installed in CI"
        );
        eprintln!("redis-cli not installed: round trip skipped");
        return;
    };
    let s = TestServer::start(&[]);
    let port = s.port.to_string();
    let run = |args: &[&str]| -> String {
        let out = Command::new(&cli)
            .args(["-p", &port])
            .args(args)
            .output()
            .expect("run redis-cli");
        assert!(out.status.success(), "redis-cli {args:?} failed");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(run(&["ping"]), "PONG\n");
    assert_eq!(run(&["set", "greeting", "hello world"]), "OK\n");
    assert_eq!(run(&["get", "greeting"]), "hello world\n");
    assert_eq!(run(&["get", "missing"]), "\n");
    assert_eq!(run(&["--no-raw", "get", "missing"]), "(nil)\n");
    assert_eq!(run(&["-n", "3", "set", "k", "in3"]), "OK\n");
    assert_eq!(run(&["-n", "3", "get", "k"]), "in3\n");
    assert_eq!(run(&["client", "setname", "cli"]), "OK\n");
    assert!(run(&["client", "info"]).contains(" cmd=client|info "));
    assert_eq!(
        run(&["--no-raw", "select", "99"]),
        "(error) ERR DB index is out of range\n"
    );
    assert!(run(&["-3", "hello"]).contains("7.0.15"));

    // Several commands on stdin, one per line.
    let mut child = Command::new(&cli)
        .args(["-p", &port])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn redis-cli");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"set a 1\nget a\necho \"two words\"\nping\n")
        .expect("write");
    let out = child.wait_with_output().expect("redis-cli");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "OK\n1\ntwo words\nPONG\n"
    );

    // Mass insertion with --pipe (RESP on stdin, an ECHO marker at the end).
    let mut data = Vec::new();
    let n = 5000;
    for i in 0..n {
        let (k, v) = (format!("pk{i}"), format!("pv{i}"));
        data.extend_from_slice(
            format!(
                "*3\r\n$3\r\nSET\r\n${}\r\n{k}\r\n${}\r\n{v}\r\n",
                k.len(),
                v.len()
            )
            .as_bytes(),
        );
    }
    let mut child = Command::new(&cli)
        .args(["-p", &port, "--pipe"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn redis-cli --pipe");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&data)
        .expect("write");
    let started = Instant::now();
    let out = child.wait_with_output().expect("redis-cli --pipe");
    assert!(started.elapsed() < Duration::from_secs(60));
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        report.contains(&format!("errors: 0, replies: {n}")),
        "{report}"
    );
    assert_eq!(run(&["get", "pk4999"]), "pv4999\n");
}
