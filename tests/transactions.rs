//! Transactions across clients: WATCH invalidated by another client,
//! EXEC atomicity, blocking commands inside MULTI.

mod common;

use common::{Resp, TestServer};

#[test]
fn watched_key_modified_by_another_client_aborts_exec() {
    let server = TestServer::start(&[]);
    let mut a = server.raw();
    let mut b = server.raw();
    assert_eq!(a.cmd_str("SET k 1"), Resp::Simple("OK".into()));
    assert_eq!(a.cmd_str("WATCH k"), Resp::Simple("OK".into()));
    assert_eq!(b.cmd_str("SET k 2"), Resp::Simple("OK".into()));
    assert_eq!(a.cmd_str("MULTI"), Resp::Simple("OK".into()));
    assert_eq!(a.cmd_str("SET k 3"), Resp::Simple("QUEUED".into()));
    assert_eq!(a.cmd_str("EXEC"), Resp::Array(None));
    assert_eq!(a.cmd_str("GET k"), Resp::Bulk(Some(b"2".to_vec())));
    // Unwatched after EXEC: a new transaction goes through.
    assert_eq!(a.cmd_str("MULTI"), Resp::Simple("OK".into()));
    a.cmd_str("SET k 3");
    assert_eq!(
        a.cmd_str("EXEC"),
        Resp::Array(Some(vec![Resp::Simple("OK".into())]))
    );
}

#[test]
fn watched_key_expiring_aborts_exec() {
    let server = TestServer::start(&[]);
    let mut a = server.raw();
    a.cmd_str("SET k 1");
    a.cmd_str("PEXPIRE k 50");
    a.cmd_str("WATCH k");
    std::thread::sleep(std::time::Duration::from_millis(120));
    a.cmd_str("MULTI");
    a.cmd_str("PING");
    assert_eq!(a.cmd_str("EXEC"), Resp::Array(None));
}

#[test]
fn exec_is_atomic_for_other_clients() {
    let server = TestServer::start(&[]);
    let port = server.port;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut r = common::RawConn::connect(port);
            let mut seen_partial = false;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let v = r.cmd_str("MGET x y");
                if let Resp::Array(Some(items)) = v {
                    if items[0] != items[1] {
                        seen_partial = true;
                    }
                }
            }
            seen_partial
        })
    };
    let mut w = server.raw();
    for i in 0..300 {
        w.cmd_str("MULTI");
        w.cmd(&[b"SET", b"x", i.to_string().as_bytes()]);
        w.cmd(&[b"SET", b"y", i.to_string().as_bytes()]);
        w.cmd_str("EXEC");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(
        !reader.join().expect("reader"),
        "a reader saw x != y between SETs of one EXEC"
    );
}
