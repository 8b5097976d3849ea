//! Protocol robustness: malformed requests get Redis's exact
//! `-ERR Protocol error: ...` and the connection closes; huge declared
//! sizes reserve nothing; the query buffer limit, inline commands, long
//! pipelines, maxclients and RESP3 shapes.
//!
//! Where Debian's `redis-server` is installed, every byte-level case is
//! also run against it and the two byte streams must be identical.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{RedisServer, TestServer};

/// What a connection saw: every byte the server sent, and whether it
/// closed the connection.
#[derive(Debug, PartialEq)]
struct Seen {
    out: Vec<u8>,
    closed: bool,
}

/// Sends `data` in one write and collects replies until the server closes
/// the connection or stays quiet for `quiet`.
fn exchange(port: u16, data: &[u8], quiet: Duration) -> Seen {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_nodelay(true).expect("nodelay");
    let writer = {
        let mut w = s.try_clone().expect("clone");
        let data = data.to_vec();
        // A separate writer: the server may answer (or close) before
        // the whole request is written.
        std::thread::spawn(move || {
            let _ = w.write_all(&data);
        })
    };
    s.set_read_timeout(Some(quiet)).expect("timeout");
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let deadline = Instant::now() + Duration::from_secs(30);
    let closed = loop {
        match s.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                break false
            }
            // Reset by the server closing with unread input.
            Err(_) => break true,
        }
        assert!(Instant::now() < deadline, "reply never ended");
    };
    let _ = writer.join();
    Seen { out, closed }
}

fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(&b[..b.len().min(300)]).into_owned()
}

/// One byte-level case: input, the exact output, whether the server
/// closes the connection.
struct Case {
    input: Vec<u8>,
    want: Vec<u8>,
    closed: bool,
}

fn case(input: &[u8], want: &[u8], closed: bool) -> Case {
    Case {
        input: input.to_vec(),
        want: want.to_vec(),
        closed,
    }
}

fn protocol_cases() -> Vec<Case> {
    let err = |m: &str| format!("-ERR Protocol error: {m}\r\n").into_bytes();
    let mut cases = vec![
        case(b"*x\r\n", &err("invalid multibulk length"), true),
        case(b"*\r\n", &err("invalid multibulk length"), true),
        case(b"*2147483648\r\n", &err("invalid multibulk length"), true),
        case(b"*+1\r\n$4\r\nPING\r\n", &err("invalid multibulk length"), true),
        case(b"*01\r\n$4\r\nPING\r\n", &err("invalid multibulk length"), true),
        case(b"*1\r\n$-1\r\n", &err("invalid bulk length"), true),
        case(b"*1\r\n$x\r\n", &err("invalid bulk length"), true),
        case(b"*1\r\n$\r\n", &err("invalid bulk length"), true),
        case(b"*1\r\n$ 4\r\nPING\r\n", &err("invalid bulk length"), true),
        case(b"*1\r\n$+4\r\nPING\r\n", &err("invalid bulk length"), true),
        case(b"*2\r\n$4\r\nECHO\r\n$-0\r\nx\r\n", &err("invalid bulk length"), true),
        // Larger than proto-max-bulk-len (512mb).
        case(b"*1\r\n$536870913\r\n", &err("invalid bulk length"), true),
        case(b"*2147483647\r\n$4294967296\r\n", &err("invalid bulk length"), true),
        case(b"*1\r\n+PING\r\n", &err("expected '$', got '+'"), true),
        // Redis ends a header at the first `\r` and skips one more byte.
        case(b"*3\rabc\r\n", &err("expected '$', got 'b'"), true),
        case(b"SET a \"b\r\n", &err("unbalanced quotes in request"), true),
        case(b"SET a \"b\"c\r\n", &err("unbalanced quotes in request"), true),
        case(b"SET a 'b\r\n", &err("unbalanced quotes in request"), true),
        case(b"ECHO \"a\\\r\n", &err("unbalanced quotes in request"), true),
        // Commands before the bad one are answered first.
        case(
            b"PING\r\n*1\r\n$4\r\nPING\r\n*a\r\n",
            &[b"+PONG\r\n+PONG\r\n".as_slice(), &err("invalid multibulk length")].concat(),
            true,
        ),
        // QUIT stops before the bad request: no error reply.
        case(b"QUIT\r\n*a\r\n", b"+OK\r\n", true),
        case(b"QUIT\r\nPING\r\n", b"+OK\r\n", true),
        // Inline commands.
        case(
            b"PING\r\nPING\nECHO 'a b'\r\n",
            b"+PONG\r\n+PONG\r\n$3\r\na b\r\n",
            false,
        ),
        case(
            b"ECHO \"\\x41\\x4\" \"\\t\"\r\n",
            b"-ERR wrong number of arguments for 'echo' command\r\n",
            false,
        ),
        case(b"ECHO \"\\x41\\x4\"\r\n", b"$3\r\nAx4\r\n", false),
        case(b"ECHO a\x0bb\r\n", b"$3\r\na\x0bb\r\n", false),
        case(b"ECHO a\"b c\"d\r\n", &err("unbalanced quotes in request"), true),
        case(b"ECHO a\"b c\"\r\n", b"$4\r\nab c\r\n", false),
        case(b"\r\n\r\n \t\r\nPING\r\n", b"+PONG\r\n", false),
        // A NUL before the end of a line hides the end (C strchr).
        case(b"PING\x00abc\r\n", b"", false),
        case(b"*1\x00\r\n$4\r\nPING\r\n", b"", false),
        // Empty multibulks are skipped; the CRLF after bulk data is not
        // checked.
        case(b"*-5\r\n*0\r\nPING\r\n", b"+PONG\r\n", false),
        case(b"*1\r\n$4\r\nPINGxx*1\r\n$4\r\nPING\r\n", b"+PONG\r\n+PONG\r\n", false),
        // Partial requests just wait.
        case(b"*2\r\n$4\r\nECHO\r\n$5\r\nab", b"", false),
        // CLIENT REPLY OFF / SKIP / ON.
        case(
            b"CLIENT REPLY SKIP\r\nPING\r\nECHO a\r\nCLIENT REPLY OFF\r\nPING\r\nCLIENT REPLY SKIP\r\nPING\r\nCLIENT REPLY ON\r\nECHO b\r\n",
            b"$1\r\na\r\n+OK\r\n$1\r\nb\r\n",
            false,
        ),
        case(
            b"CLIENT REPLY OFF\r\nRESET\r\nPING\r\n",
            b"+RESET\r\n+PONG\r\n",
            false,
        ),
        case(
            b"CLIENT REPLY SKIP\r\nRESET\r\nPING\r\n",
            b"+PONG\r\n",
            false,
        ),
        case(
            b"CLIENT REPLY SKIP\r\nCLIENT REPLY SKIP\r\nPING\r\nECHO x\r\n",
            b"$1\r\nx\r\n",
            false,
        ),
    ];
    // Header lines and inline requests longer than 64KiB.
    let mut long_inline = vec![b'x'; 100_000];
    long_inline.extend_from_slice(b"\r\n");
    cases.push(case(&long_inline, &err("too big inline request"), true));
    cases.push(case(&[b'x'; 70_000], &err("too big inline request"), true));
    let mut long_count = b"*".to_vec();
    long_count.extend(std::iter::repeat_n(b'1', 70_000));
    cases.push(case(&long_count, &err("too big mbulk count string"), true));
    let mut long_bulk = b"*1\r\n$".to_vec();
    long_bulk.extend(std::iter::repeat_n(b'1', 70_000));
    cases.push(case(&long_bulk, &err("too big bulk count string"), true));
    cases
}

fn run_cases(port: u16, cases: &[Case], against: &str) -> Vec<String> {
    let mut failures = Vec::new();
    for c in cases {
        let quiet = Duration::from_millis(if c.closed { 5000 } else { 300 });
        let seen = exchange(port, &c.input, quiet);
        if seen.out != c.want || seen.closed != c.closed {
            failures.push(format!(
                "{against}: input {:?}\n   want {:?} closed={}\n   got  {:?} closed={}",
                show(&c.input),
                show(&c.want),
                c.closed,
                show(&seen.out),
                seen.closed
            ));
        }
    }
    failures
}

#[test]
fn malformed_requests_get_redis_errors_and_close() {
    let cases = protocol_cases();
    let strata = TestServer::start(&[]);
    let mut failures = run_cases(strata.port, &cases, "strata");
    if let Some(redis) = RedisServer::start() {
        failures.extend(run_cases(redis.port, &cases, "redis-server"));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The server is still fine.
    assert_eq!(
        exchange(strata.port, b"PING\r\n", Duration::from_millis(300)).out,
        b"+PONG\r\n"
    );
}

#[test]
fn unauthenticated_limits_before_auth() {
    let err = |m: &str| format!("-ERR Protocol error: {m}\r\n").into_bytes();
    let mut eleven = b"*11\r\n$3\r\nDEL\r\n".to_vec();
    for i in 0..10 {
        eleven.extend_from_slice(format!("$2\r\nk{i}\r\n").as_bytes());
    }
    let big = [
        b"*2\r\n$4\r\nECHO\r\n$20000\r\n".as_slice(),
        &vec![b'a'; 20000],
        b"\r\n",
    ]
    .concat();
    let cases = vec![
        case(b"*11\r\n", &err("unauthenticated multibulk length"), true),
        case(b"*10\r\n", b"", false),
        case(b"*1\r\n$16385\r\n", &err("unauthenticated bulk length"), true),
        case(b"*1\r\n$16384\r\n", b"", false),
        case(b"PING\r\n", b"-NOAUTH Authentication required.\r\n", false),
        // After a successful AUTH in the same write, the limits are gone.
        case(
            &[b"AUTH secret\r\n".as_slice(), &eleven].concat(),
            b"+OK\r\n:0\r\n",
            false,
        ),
        case(
            &[b"*2\r\n$4\r\nAUTH\r\n$6\r\nsecret\r\n".as_slice(), &big].concat(),
            &[b"+OK\r\n$20000\r\n".as_slice(), &vec![b'a'; 20000], b"\r\n"].concat(),
            false,
        ),
        // A failed AUTH keeps them.
        case(
            &[b"AUTH wrong\r\n".as_slice(), &eleven].concat(),
            &[
                b"-WRONGPASS invalid username-password pair or user is disabled.\r\n".as_slice(),
                &err("unauthenticated multibulk length"),
            ]
            .concat(),
            true,
        ),
        case(b"QUIT\r\n", b"+OK\r\n", true),
        case(
            b"HELLO 3\r\n",
            b"-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time\r\n",
            false,
        ),
    ];
    let strata = TestServer::start(&[("requirepass", "secret")]);
    let mut failures = run_cases(strata.port, &cases, "strata");
    if let Some(redis) = RedisServer::start() {
        let mut r = common::RawConn::connect(redis.port);
        assert_eq!(
            r.cmd(&[b"CONFIG", b"SET", b"requirepass", b"secret"]),
            common::Resp::Simple("OK".into())
        );
        failures.extend(run_cases(redis.port, &cases, "redis-server"));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Resident set size of this process (the server runs in-process).
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// Bytes allocated through jemalloc (the global allocator of everything
/// linking the server, this test binary included).
fn allocated_bytes() -> u64 {
    let _ = tikv_jemalloc_ctl::epoch::advance();
    tikv_jemalloc_ctl::stats::allocated::read().unwrap_or(0) as u64
}

#[test]
fn huge_declared_sizes_reserve_no_memory() {
    if !std::path::Path::new("/proc/self/statm").exists() {
        eprintln!("no /proc/self/statm: memory check skipped");
        return;
    }
    let strata = TestServer::start(&[]);
    // Warm up allocator and runtime.
    assert_eq!(
        exchange(strata.port, b"PING\r\n", Duration::from_millis(200)).out,
        b"+PONG\r\n"
    );
    let before = rss_bytes();
    let allocated_before = allocated_bytes();
    let mut conns = Vec::new();
    for _ in 0..50 {
        let mut s = TcpStream::connect(("127.0.0.1", strata.port)).expect("connect");
        // 1M arguments announced, the first one 512MB long: nothing of it
        // may be reserved before the bytes arrive.
        s.write_all(b"*1048576\r\n$536870912\r\nabc")
            .expect("write");
        conns.push(s);
    }
    // And one at the multibulk limit.
    let mut s = TcpStream::connect(("127.0.0.1", strata.port)).expect("connect");
    s.write_all(b"*2147483647\r\n$3\r\nGET\r\n").expect("write");
    conns.push(s);
    std::thread::sleep(Duration::from_millis(500));
    // Everything is still served.
    assert_eq!(
        exchange(strata.port, b"PING\r\n", Duration::from_millis(300)).out,
        b"+PONG\r\n"
    );
    let after = rss_bytes();
    let grown = after.saturating_sub(before);
    assert!(
        grown < 64 << 20,
        "RSS grew by {} MB for 51 huge declarations",
        grown >> 20
    );
    // RSS misses reservations never touched; jemalloc's count does not.
    let allocated = allocated_bytes().saturating_sub(allocated_before);
    assert!(
        allocated < 64 << 20,
        "{} MB allocated for 51 huge declarations",
        allocated >> 20
    );
    // The connections are all open and waiting.
    let mut c = common::RawConn::connect(strata.port);
    let list = match c.cmd_str("CLIENT LIST") {
        common::Resp::Bulk(Some(b)) => String::from_utf8_lossy(&b).into_owned(),
        other => panic!("CLIENT LIST: {other:?}"),
    };
    assert!(list.lines().count() >= 52, "{list}");
    drop(conns);
}

#[test]
fn query_buffer_limit_closes_client() {
    let strata = TestServer::start(&[("client-query-buffer-limit", "1mb")]);
    // A 3MB bulk, 2MB of it sent: the command never completes, the
    // buffered bytes pass the limit and the server closes the connection
    // without a reply.
    let mut data = b"*2\r\n$4\r\nECHO\r\n$3000000\r\n".to_vec();
    data.extend(std::iter::repeat_n(b'z', 2 << 20));
    let seen = exchange(strata.port, &data, Duration::from_secs(10));
    assert!(seen.closed, "connection left open");
    assert!(seen.out.is_empty(), "{}", show(&seen.out));
    // Many small pipelined commands below the limit are fine.
    let seen = exchange(
        strata.port,
        &b"PING\r\n".repeat(200_000),
        Duration::from_millis(500),
    );
    assert!(!seen.closed);
    assert_eq!(seen.out.len(), 7 * 200_000);
    // Other clients are unaffected.
    assert_eq!(
        exchange(strata.port, b"PING\r\n", Duration::from_millis(300)).out,
        b"+PONG\r\n"
    );
}

#[test]
fn inline_commands_work() {
    let strata = TestServer::start(&[]);
    let seen = exchange(
        strata.port,
        b"PING\r\nSET a \"b c\"\r\nGET a\r\nSET 'q' 'it\\'s'\nGET q\r\nGET \"\\x71\"\r\n",
        Duration::from_millis(300),
    );
    assert_eq!(
        seen.out,
        b"+PONG\r\n+OK\r\n$3\r\nb c\r\n+OK\r\n$4\r\nit's\r\n$4\r\nit's\r\n"
    );
}

#[test]
fn huge_pipeline_answered_in_order() {
    let strata = TestServer::start(&[]);
    let n = 10_000;
    let mut data = Vec::new();
    let mut want = Vec::new();
    for i in 0..n {
        let v = format!("v{i}");
        data.extend_from_slice(
            format!(
                "*3\r\n$3\r\nSET\r\n${}\r\nk{i}\r\n${}\r\n{v}\r\n",
                1 + i.to_string().len(),
                v.len()
            )
            .as_bytes(),
        );
        want.extend_from_slice(b"+OK\r\n");
        data.extend_from_slice(
            format!(
                "*2\r\n$3\r\nGET\r\n${}\r\nk{i}\r\n",
                1 + i.to_string().len()
            )
            .as_bytes(),
        );
        want.extend_from_slice(format!("${}\r\n{v}\r\n", v.len()).as_bytes());
        // Mixed with inline commands.
        data.extend_from_slice(format!("ECHO {i}\r\n").as_bytes());
        want.extend_from_slice(format!("${}\r\n{i}\r\n", i.to_string().len()).as_bytes());
    }
    // And a protocol error at the very end: after all 30k replies.
    data.extend_from_slice(b"*x\r\n");
    want.extend_from_slice(b"-ERR Protocol error: invalid multibulk length\r\n");
    let seen = exchange(strata.port, &data, Duration::from_secs(10));
    assert!(seen.closed);
    assert_eq!(seen.out.len(), want.len());
    assert!(seen.out == want, "replies out of order");
}

#[test]
fn maxclients_rejects_extra_connections() {
    let strata = TestServer::start(&[("maxclients", "3")]);
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut c = common::RawConn::connect(strata.port);
        assert_eq!(c.cmd_str("PING"), common::Resp::Simple("PONG".into()));
        held.push(c);
    }
    let seen = exchange(strata.port, b"PING\r\n", Duration::from_secs(5));
    assert_eq!(seen.out, b"-ERR max number of clients reached\r\n");
    assert!(seen.closed);
    // A slot frees up when a client leaves.
    let mut gone = held.pop().expect("client");
    gone.send_raw(b"QUIT\r\n");
    assert_eq!(gone.read(), common::Resp::Simple("OK".into()));
    assert!(gone.is_closed());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let seen = exchange(strata.port, b"PING\r\n", Duration::from_millis(300));
        if seen.out == b"+PONG\r\n" {
            break;
        }
        assert!(Instant::now() < deadline, "slot never freed");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn resp3_shapes_after_hello_3() {
    let strata = TestServer::start(&[]);
    let mut c = common::RawConn::connect(strata.port);
    c.send_raw(b"HELLO 3\r\n");
    match c.read() {
        common::Resp::Map(pairs) => {
            assert_eq!(pairs.len(), 7);
            assert_eq!(
                pairs[2],
                (
                    common::Resp::Bulk(Some(b"proto".to_vec())),
                    common::Resp::Int(3)
                )
            );
        }
        other => panic!("HELLO 3 is not a map: {other:?}"),
    }
    // Exact bytes from here on.
    let seen_null = {
        c.send_raw(b"GET nosuchkey\r\nCLIENT GETNAME\r\nPING\r\n");
        (c.read(), c.read(), c.read())
    };
    assert_eq!(
        seen_null,
        (
            common::Resp::Null,
            common::Resp::Null,
            common::Resp::Simple("PONG".into())
        )
    );
    match c.cmd_str("CLIENT INFO") {
        common::Resp::Verbatim(f, text) => {
            assert_eq!(f, "txt");
            assert!(String::from_utf8_lossy(&text).ends_with("resp=3\n"));
        }
        other => panic!("CLIENT INFO in RESP3: {other:?}"),
    }
    // Byte-exact map header and RESP2 again after HELLO 2.
    let seen = exchange(
        strata.port,
        b"HELLO 3\r\nHELLO 2\r\nGET x\r\n",
        Duration::from_millis(300),
    );
    assert!(seen.out.starts_with(b"%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:"));
    assert!(seen.out.ends_with(b"$7\r\nmodules\r\n*0\r\n$-1\r\n"));
    assert!(seen.out.windows(4).any(|w| w == b"*14\r"));
}

#[test]
fn resp3_double_encoding() {
    // No command in this crate's connection family returns a double; the
    // encoder is what every such command uses.
    let mut r = strata::reply::Reply::new(true);
    r.double(1.5);
    r.double(0.1);
    r.double(f64::INFINITY);
    r.double(f64::NEG_INFINITY);
    r.null();
    r.map(1);
    assert_eq!(
        r.buf,
        b",1.5\r\n,0.10000000000000001\r\n,inf\r\n,-inf\r\n_\r\n%1\r\n".to_vec()
    );
}

/// Connects to 127.0.0.1:`port` from the source address `src` (another
/// loopback address such as 127.0.0.2, which protected mode treats as
/// remote, as Redis does), reads until the server closes or goes quiet.
fn read_from_source(src: &str, port: u16, send: &[u8]) -> Seen {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let stream = rt.block_on(async {
        let sock = tokio::net::TcpSocket::new_v4().expect("socket");
        sock.bind(format!("{src}:0").parse().expect("addr"))
            .expect("bind source");
        sock.connect(([127, 0, 0, 1], port).into())
            .await
            .expect("connect")
            .into_std()
            .expect("std stream")
    });
    stream.set_nonblocking(false).expect("blocking");
    stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    let mut s = stream;
    // Wait for an unprompted reply first (DENIED is sent on accept).
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let mut sent = false;
    let closed = loop {
        match s.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                if sent {
                    break false;
                }
                s.write_all(send).expect("write");
                sent = true;
            }
            Err(_) => break true,
        }
    };
    Seen { out, closed }
}

#[test]
fn protected_mode_refuses_non_loopback_peers() {
    let denied_prefix = b"-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user.";
    let strata = TestServer::start(&[]);
    let seen = read_from_source("127.0.0.2", strata.port, b"PING\r\n");
    assert!(seen.closed, "protected mode let 127.0.0.2 in");
    assert!(seen.out.starts_with(denied_prefix), "{}", show(&seen.out));
    assert!(seen
        .out
        .ends_with(b"accepting connections from the outside.\r\n"));
    // 127.0.0.1 itself is fine.
    assert_eq!(
        read_from_source("127.0.0.1", strata.port, b"PING\r\n").out,
        b"+PONG\r\n"
    );
    if let Some(redis) = RedisServer::start() {
        let want = read_from_source("127.0.0.2", redis.port, b"PING\r\n");
        assert_eq!(seen, want, "DENIED text differs from redis-server");
    }
    // With a password, or protected mode off, remote peers may connect.
    let with_pass = TestServer::start(&[("requirepass", "pw")]);
    assert_eq!(
        read_from_source("127.0.0.2", with_pass.port, b"PING\r\n").out,
        b"-NOAUTH Authentication required.\r\n"
    );
    let open = TestServer::start(&[("protected-mode", "no")]);
    assert_eq!(
        read_from_source("127.0.0.2", open.port, b"PING\r\n").out,
        b"+PONG\r\n"
    );
}
