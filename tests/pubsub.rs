//! Pub/sub and keyspace notifications with real connections.

mod common;

use common::{Resp, TestServer};

fn bulk(s: &str) -> Resp {
    Resp::Bulk(Some(s.as_bytes().to_vec()))
}

#[test]
fn subscribe_publish_unsubscribe() {
    let server = TestServer::start(&[]);
    let mut sub = server.raw();
    let mut publ = server.raw();
    sub.send(&[b"SUBSCRIBE", b"a", b"b"]);
    assert_eq!(
        sub.read(),
        Resp::Array(Some(vec![bulk("subscribe"), bulk("a"), Resp::Int(1)]))
    );
    assert_eq!(
        sub.read(),
        Resp::Array(Some(vec![bulk("subscribe"), bulk("b"), Resp::Int(2)]))
    );
    assert_eq!(publ.cmd_str("PUBLISH a hello"), Resp::Int(1));
    assert_eq!(
        sub.read(),
        Resp::Array(Some(vec![bulk("message"), bulk("a"), bulk("hello")]))
    );
    // RESP2 subscribed mode refuses other commands.
    assert_eq!(
        sub.cmd_str("GET x"),
        Resp::Error("ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context".into())
    );
    sub.send(&[b"PSUBSCRIBE", b"n*"]);
    assert_eq!(
        sub.read(),
        Resp::Array(Some(vec![bulk("psubscribe"), bulk("n*"), Resp::Int(3)]))
    );
    assert_eq!(publ.cmd_str("PUBLISH news x"), Resp::Int(1));
    assert_eq!(
        sub.read(),
        Resp::Array(Some(vec![
            bulk("pmessage"),
            bulk("n*"),
            bulk("news"),
            bulk("x")
        ]))
    );
    assert_eq!(
        publ.cmd_str("PUBSUB NUMSUB a c"),
        Resp::Array(Some(vec![bulk("a"), Resp::Int(1), bulk("c"), Resp::Int(0)]))
    );
    assert_eq!(publ.cmd_str("PUBSUB NUMPAT"), Resp::Int(1));
    sub.send(&[b"UNSUBSCRIBE"]);
    let got = [sub.read(), sub.read()];
    for g in &got {
        let Resp::Array(Some(items)) = g else {
            panic!("{g:?}")
        };
        assert_eq!(items[0], bulk("unsubscribe"));
    }
    assert_eq!(
        got[1],
        Resp::Array(Some(vec![
            bulk("unsubscribe"),
            match &got[1] {
                Resp::Array(Some(i)) => i[1].clone(),
                _ => Resp::Null,
            },
            Resp::Int(1)
        ]))
    );
    sub.send(&[b"PUNSUBSCRIBE"]);
    assert_eq!(
        sub.read(),
        Resp::Array(Some(vec![bulk("punsubscribe"), bulk("n*"), Resp::Int(0)]))
    );
    assert_eq!(sub.cmd_str("GET x"), Resp::Bulk(None));
    assert_eq!(publ.cmd_str("PUBLISH a hello"), Resp::Int(0));
}

#[test]
fn resp3_push_messages() {
    let server = TestServer::start(&[]);
    let mut sub = server.raw();
    let mut publ = server.raw();
    assert!(matches!(sub.cmd_str("HELLO 3"), Resp::Map(_)));
    sub.send(&[b"SUBSCRIBE", b"c"]);
    assert_eq!(
        sub.read(),
        Resp::Push(vec![bulk("subscribe"), bulk("c"), Resp::Int(1)])
    );
    // RESP3 clients may run commands while subscribed.
    assert_eq!(sub.cmd_str("SET x 1"), Resp::Simple("OK".into()));
    publ.cmd_str("PUBLISH c m");
    assert_eq!(
        sub.read(),
        Resp::Push(vec![bulk("message"), bulk("c"), bulk("m")])
    );
}

#[test]
fn keyspace_notifications() {
    let server = TestServer::start(&[("notify-keyspace-events", "KEA")]);
    let mut sub = server.raw();
    let mut c = server.raw();
    sub.send(&[b"PSUBSCRIBE", b"__key*__:*"]);
    sub.read();
    c.cmd_str("SET k v");
    assert_eq!(
        sub.read(),
        Resp::Array(Some(vec![
            bulk("pmessage"),
            bulk("__key*__:*"),
            bulk("__keyspace@0__:k"),
            bulk("set")
        ]))
    );
    assert_eq!(
        sub.read(),
        Resp::Array(Some(vec![
            bulk("pmessage"),
            bulk("__key*__:*"),
            bulk("__keyevent@0__:set"),
            bulk("k")
        ]))
    );
    c.cmd_str("DEL k");
    assert_eq!(
        sub.read(),
        Resp::Array(Some(vec![
            bulk("pmessage"),
            bulk("__key*__:*"),
            bulk("__keyspace@0__:k"),
            bulk("del")
        ]))
    );
    sub.read();
    c.cmd_str("SET e v");
    sub.read();
    sub.read();
    c.cmd_str("PEXPIRE e 30");
    let ev = sub.read();
    assert_eq!(
        ev,
        Resp::Array(Some(vec![
            bulk("pmessage"),
            bulk("__key*__:*"),
            bulk("__keyspace@0__:e"),
            bulk("expire")
        ]))
    );
    sub.read();
    // Expired by the active cycle, without any access.
    let ev = sub.read();
    assert_eq!(
        ev,
        Resp::Array(Some(vec![
            bulk("pmessage"),
            bulk("__key*__:*"),
            bulk("__keyspace@0__:e"),
            bulk("expired")
        ]))
    );
}

#[test]
fn slow_subscriber_is_disconnected_and_memory_stays_bounded() {
    let server = TestServer::start(&[("client-output-buffer-limit", "pubsub 1mb 512kb 1")]);
    // A subscriber that never reads.
    let mut sub = server.raw();
    sub.send(&[b"SUBSCRIBE", b"flood"]);
    sub.read();
    let mut publ = server.raw();
    let payload = vec![b'x'; 64 * 1024];
    let mut delivered_to_zero = false;
    for _ in 0..2000 {
        if let Resp::Int(0) = publ.cmd(&[b"PUBLISH", b"flood", &payload]) {
            delivered_to_zero = true;
            break;
        }
    }
    assert!(
        delivered_to_zero,
        "the slow subscriber was never disconnected"
    );
}
