//! Blocking list commands with several live connections: FIFO serving,
//! timeouts, multiple keys, BLMOVE, disconnects, pipelines behind a
//! blocked command.

mod common;

use std::thread::sleep;
use std::time::{Duration, Instant};

use common::{RawConn, Resp, TestServer};

fn bulk(s: &str) -> Resp {
    Resp::Bulk(Some(s.as_bytes().to_vec()))
}

fn arr(items: Vec<Resp>) -> Resp {
    Resp::Array(Some(items))
}

fn send(c: &mut RawConn, line: &str) {
    let args: Vec<&[u8]> = line.split_whitespace().map(|s| s.as_bytes()).collect();
    c.send(&args);
}

/// Gives the server time to register a command just sent.
fn settle() {
    sleep(Duration::from_millis(150));
}

#[test]
fn fifo_order_among_three_clients() {
    let server = TestServer::start(&[]);
    let mut clients: Vec<RawConn> = (0..3).map(|_| server.raw()).collect();
    for c in clients.iter_mut() {
        send(c, "BLPOP q 0");
        settle();
    }
    let mut p = server.raw();
    // The push replies with the length before any waiter is served.
    assert_eq!(p.cmd_str("RPUSH q a b c"), Resp::Int(3));
    for (c, want) in clients.iter_mut().zip(["a", "b", "c"]) {
        assert_eq!(c.read(), arr(vec![bulk("q"), bulk(want)]));
    }
    assert_eq!(p.cmd_str("EXISTS q"), Resp::Int(0));
}

#[test]
fn waiter_not_served_keeps_its_place() {
    let server = TestServer::start(&[]);
    let mut a = server.raw();
    let mut b = server.raw();
    send(&mut a, "BRPOP k 0");
    settle();
    send(&mut b, "BRPOP k 0");
    settle();
    let mut p = server.raw();
    assert_eq!(p.cmd_str("RPUSH k 1"), Resp::Int(1));
    assert_eq!(a.read(), arr(vec![bulk("k"), bulk("1")]));
    // b is still blocked; the next push is for it.
    assert_eq!(p.cmd_str("LLEN k"), Resp::Int(0));
    assert_eq!(p.cmd_str("LPUSH k 2"), Resp::Int(1));
    assert_eq!(b.read(), arr(vec![bulk("k"), bulk("2")]));
}

#[test]
fn timeouts_return_nil_on_time() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    let t = Instant::now();
    assert_eq!(c.cmd_str("BLPOP nokey 0.1"), Resp::Array(None));
    let e = t.elapsed();
    assert!(e >= Duration::from_millis(95), "{e:?}");
    assert!(e < Duration::from_millis(5000), "{e:?}");
    // Redis 7.0: a timed-out BLMOVE also answers with a null array.
    let t = Instant::now();
    assert_eq!(
        c.cmd_str("BLMOVE nokey dst LEFT RIGHT 0.05"),
        Resp::Array(None)
    );
    assert!(t.elapsed() >= Duration::from_millis(45));
    assert_eq!(c.cmd_str("BLMPOP 0.05 2 x y LEFT"), Resp::Array(None));
    assert_eq!(c.cmd_str("BRPOPLPUSH x y 0.02"), Resp::Array(None));
    // The connection works normally afterwards.
    assert_eq!(c.cmd_str("RPUSH nokey v"), Resp::Int(1));
    assert_eq!(
        c.cmd_str("BLPOP nokey 0.1"),
        arr(vec![bulk("nokey"), bulk("v")])
    );
}

#[test]
fn timeout_zero_waits_for_a_push() {
    let server = TestServer::start(&[]);
    let port = server.port;
    let pusher = std::thread::spawn(move || {
        sleep(Duration::from_millis(300));
        let mut p = RawConn::connect(port);
        p.cmd_str("RPUSH late v")
    });
    let mut c = server.raw();
    let t = Instant::now();
    assert_eq!(
        c.cmd_str("BLPOP late 0"),
        arr(vec![bulk("late"), bulk("v")])
    );
    assert!(t.elapsed() >= Duration::from_millis(280));
    assert_eq!(pusher.join().expect("pusher"), Resp::Int(1));
}

#[test]
fn several_keys_served_from_the_pushed_one() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    send(&mut c, "BLPOP k1 k2 k3 0");
    settle();
    let mut p = server.raw();
    p.cmd_str("RPUSH k3 third");
    assert_eq!(c.read(), arr(vec![bulk("k3"), bulk("third")]));
    // Data already present: the first key in argument order wins.
    p.cmd_str("RPUSH k2 two");
    p.cmd_str("RPUSH k3 three");
    assert_eq!(
        c.cmd_str("BLPOP k1 k2 k3 0"),
        arr(vec![bulk("k2"), bulk("two")])
    );
    // Served once even if it waits on the same key twice.
    send(&mut c, "BLPOP d d d 0");
    settle();
    p.cmd_str("RPUSH d 1 2");
    assert_eq!(c.read(), arr(vec![bulk("d"), bulk("1")]));
    assert_eq!(p.cmd_str("LRANGE d 0 -1"), arr(vec![bulk("2")]));
}

#[test]
fn blmpop_served_with_count() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    send(&mut c, "BLMPOP 0 2 a b RIGHT COUNT 2");
    settle();
    let mut p = server.raw();
    p.cmd_str("RPUSH b 1 2 3");
    assert_eq!(
        c.read(),
        arr(vec![bulk("b"), arr(vec![bulk("3"), bulk("2")])])
    );
    assert_eq!(p.cmd_str("LRANGE b 0 -1"), arr(vec![bulk("1")]));
}

#[test]
fn blmove_wakes_and_moves() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    send(&mut c, "BLMOVE src dst RIGHT LEFT 0");
    settle();
    let mut p = server.raw();
    assert_eq!(p.cmd_str("RPUSH src x"), Resp::Int(1));
    assert_eq!(c.read(), bulk("x"));
    assert_eq!(p.cmd_str("EXISTS src"), Resp::Int(0));
    assert_eq!(p.cmd_str("LRANGE dst 0 -1"), arr(vec![bulk("x")]));
    // A chain: a BLPOP on dst2 is woken by a served BRPOPLPUSH.
    let mut w = server.raw();
    send(&mut c, "BRPOPLPUSH s2 dst2 0");
    settle();
    send(&mut w, "BLPOP dst2 0");
    settle();
    p.cmd_str("LPUSH s2 y");
    assert_eq!(c.read(), bulk("y"));
    assert_eq!(w.read(), arr(vec![bulk("dst2"), bulk("y")]));
    assert_eq!(p.cmd_str("EXISTS s2 dst2"), Resp::Int(0));
}

#[test]
fn blocked_client_disconnecting_is_forgotten() {
    let server = TestServer::start(&[]);
    {
        let mut gone = server.raw();
        send(&mut gone, "BLPOP k 0");
        settle();
    }
    settle();
    let mut c = server.raw();
    send(&mut c, "BLPOP k 0");
    settle();
    let mut p = server.raw();
    p.cmd_str("RPUSH k v");
    assert_eq!(c.read(), arr(vec![bulk("k"), bulk("v")]));
    assert_eq!(p.cmd_str("EXISTS k"), Resp::Int(0));
    // Nobody is left waiting: the next element stays.
    p.cmd_str("RPUSH k w");
    assert_eq!(p.cmd_str("LLEN k"), Resp::Int(1));
}

#[test]
fn pipeline_behind_a_blocked_command_waits() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    let mut pipe = Vec::new();
    for cmd in [&["BLPOP", "k", "0"][..], &["SET", "after", "1"], &["PING"]] {
        pipe.extend_from_slice(format!("*{}\r\n", cmd.len()).as_bytes());
        for a in cmd {
            pipe.extend_from_slice(format!("${}\r\n{}\r\n", a.len(), a).as_bytes());
        }
    }
    c.send_raw(&pipe);
    settle();
    let mut p = server.raw();
    // The SET queued behind the BLPOP has not run.
    assert_eq!(p.cmd_str("GET after"), Resp::Bulk(None));
    p.cmd_str("RPUSH k v");
    assert_eq!(c.read(), arr(vec![bulk("k"), bulk("v")]));
    assert_eq!(c.read(), Resp::Simple("OK".into()));
    assert_eq!(c.read(), Resp::Simple("PONG".into()));
    assert_eq!(p.cmd_str("GET after"), bulk("1"));
}

#[test]
fn commands_sent_while_blocked_run_after() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    let t = Instant::now();
    send(&mut c, "BLPOP k 0.3");
    settle();
    send(&mut c, "PING");
    assert_eq!(c.read(), Resp::Array(None));
    assert_eq!(c.read(), Resp::Simple("PONG".into()));
    // The PING waited for the BLPOP's timeout.
    assert!(t.elapsed() >= Duration::from_millis(290));
}

#[test]
fn blocking_is_per_database() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    assert_eq!(c.cmd_str("SELECT 1"), Resp::Simple("OK".into()));
    send(&mut c, "BLPOP k 0");
    settle();
    let mut p = server.raw();
    p.cmd_str("RPUSH k db0");
    settle();
    assert_eq!(p.cmd_str("LLEN k"), Resp::Int(1));
    p.cmd_str("SELECT 1");
    p.cmd_str("RPUSH k db1");
    assert_eq!(c.read(), arr(vec![bulk("k"), bulk("db1")]));
}

#[test]
fn wrong_type_after_block_does_not_serve() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    send(&mut c, "BLPOP k 0");
    settle();
    let mut p = server.raw();
    p.cmd_str("SET k str");
    p.cmd_str("DEL k");
    p.cmd_str("RPUSH k v");
    assert_eq!(c.read(), arr(vec![bulk("k"), bulk("v")]));
}

#[test]
fn push_inside_multi_wakes_blocked_client_after_exec() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    send(&mut c, "BLPOP q 0");
    settle();
    let mut p = server.raw();
    assert_eq!(p.cmd_str("MULTI"), Resp::Simple("OK".into()));
    assert_eq!(p.cmd_str("RPUSH q a b"), Resp::Simple("QUEUED".into()));
    assert_eq!(p.cmd_str("LPOP q"), Resp::Simple("QUEUED".into()));
    assert_eq!(
        p.cmd_str("EXEC"),
        Resp::Array(Some(vec![Resp::Int(2), bulk("a")]))
    );
    // Served after the whole transaction: it sees the state EXEC left.
    assert_eq!(c.read(), arr(vec![bulk("q"), bulk("b")]));
    // Blocking commands inside MULTI do not block.
    p.cmd_str("MULTI");
    p.cmd_str("BLPOP nothing 0");
    assert_eq!(
        p.cmd_str("EXEC"),
        Resp::Array(Some(vec![Resp::Array(None)]))
    );
}

#[test]
fn client_unblock_and_pause() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    let id = match c.cmd_str("CLIENT ID") {
        Resp::Int(i) => i,
        other => panic!("{other:?}"),
    };
    send(&mut c, "BLPOP q 0");
    settle();
    let mut p = server.raw();
    assert_eq!(p.cmd_str(&format!("CLIENT UNBLOCK {id}")), Resp::Int(1));
    assert_eq!(c.read(), Resp::Array(None));
    send(&mut c, "BLPOP q 0");
    settle();
    assert_eq!(
        p.cmd_str(&format!("CLIENT UNBLOCK {id} ERROR")),
        Resp::Int(1)
    );
    assert_eq!(
        c.read(),
        Resp::Error("UNBLOCKED client unblocked via CLIENT UNBLOCK".into())
    );
    assert_eq!(p.cmd_str("CLIENT UNBLOCK 999999"), Resp::Int(0));
    // CLIENT PAUSE WRITE holds writes, not reads.
    let t = Instant::now();
    assert_eq!(
        p.cmd_str("CLIENT PAUSE 300 WRITE"),
        Resp::Simple("OK".into())
    );
    assert_eq!(c.cmd_str("GET x"), Resp::Bulk(None));
    assert!(t.elapsed() < Duration::from_millis(250));
    assert_eq!(c.cmd_str("SET x 1"), Resp::Simple("OK".into()));
    assert!(t.elapsed() >= Duration::from_millis(290));
}
