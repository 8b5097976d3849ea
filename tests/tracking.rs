//! Client-side caching invalidations across connections.

mod common;

use common::{Resp, TestServer};

fn bulk(s: &str) -> Resp {
    Resp::Bulk(Some(s.as_bytes().to_vec()))
}

#[test]
fn resp3_client_gets_invalidation_after_another_client_writes() {
    let server = TestServer::start(&[]);
    let mut a = server.raw();
    let mut b = server.raw();
    assert!(matches!(a.cmd_str("HELLO 3"), Resp::Map(_)));
    assert_eq!(a.cmd_str("CLIENT TRACKING on"), Resp::Simple("OK".into()));
    b.cmd_str("SET k 1");
    assert_eq!(a.cmd_str("GET k"), bulk("1"));
    b.cmd_str("SET k 2");
    assert_eq!(
        a.read(),
        Resp::Push(vec![bulk("invalidate"), Resp::Array(Some(vec![bulk("k")]))])
    );
    // Forgotten after one invalidation until read again.
    b.cmd_str("SET k 3");
    assert_eq!(a.cmd_str("PING"), Resp::Simple("PONG".into()));
}

#[test]
fn resp2_redirect_through_invalidate_channel() {
    let server = TestServer::start(&[]);
    let mut listener = server.raw();
    let id = match listener.cmd_str("CLIENT ID") {
        Resp::Int(i) => i,
        other => panic!("{other:?}"),
    };
    listener.send(&[b"SUBSCRIBE", b"__redis__:invalidate"]);
    listener.read();
    let mut a = server.raw();
    assert_eq!(
        a.cmd_str(&format!("CLIENT TRACKING on REDIRECT {id}")),
        Resp::Simple("OK".into())
    );
    assert_eq!(a.cmd_str("CLIENT GETREDIR"), Resp::Int(id));
    a.cmd_str("GET x");
    let mut b = server.raw();
    b.cmd_str("SET x 1");
    assert_eq!(
        listener.read(),
        Resp::Array(Some(vec![
            bulk("message"),
            bulk("__redis__:invalidate"),
            Resp::Array(Some(vec![bulk("x")]))
        ]))
    );
    b.cmd_str("FLUSHALL");
    assert_eq!(
        listener.read(),
        Resp::Array(Some(vec![
            bulk("message"),
            bulk("__redis__:invalidate"),
            Resp::Array(None)
        ]))
    );
}

#[test]
fn bcast_prefixes_and_noloop() {
    let server = TestServer::start(&[]);
    let mut a = server.raw();
    a.cmd_str("HELLO 3");
    assert_eq!(
        a.cmd_str("CLIENT TRACKING on BCAST PREFIX user: NOLOOP"),
        Resp::Simple("OK".into())
    );
    let mut b = server.raw();
    b.cmd_str("SET other 1");
    b.cmd_str("SET user:1 x");
    assert_eq!(
        a.read(),
        Resp::Push(vec![
            bulk("invalidate"),
            Resp::Array(Some(vec![bulk("user:1")]))
        ])
    );
    // NOLOOP: own writes are not reported.
    assert_eq!(a.cmd_str("SET user:2 y"), Resp::Simple("OK".into()));
    assert_eq!(a.cmd_str("PING"), Resp::Simple("PONG".into()));
}

#[test]
fn optin_tracks_only_after_caching_yes() {
    let server = TestServer::start(&[]);
    let mut a = server.raw();
    a.cmd_str("HELLO 3");
    a.cmd_str("CLIENT TRACKING on OPTIN");
    let mut b = server.raw();
    a.cmd_str("GET k1");
    a.cmd_str("CLIENT CACHING yes");
    a.cmd_str("GET k2");
    b.cmd_str("SET k1 1");
    b.cmd_str("SET k2 1");
    assert_eq!(
        a.read(),
        Resp::Push(vec![
            bulk("invalidate"),
            Resp::Array(Some(vec![bulk("k2")]))
        ])
    );
}
