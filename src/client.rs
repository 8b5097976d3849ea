//! Per-connection client state.
//!
//! A [`Client`] lives in [`crate::server::State::clients`] while its
//! connection is idle or blocked, so other clients' commands can see it
//! (CLIENT LIST, CLIENT KILL, serving a blocked client when a key it waits
//! on is pushed). While its connection runs a batch of commands the
//! connection task checks it out of the map and puts it back afterwards.
//!
//! [`ClientIo`] is the part shared with the connection task without the
//! state lock: an outbox for replies and messages produced by other
//! clients (MONITOR lines, pub/sub messages, a blocked command's reply)
//! and a kill switch.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::Notify;

/// What CLIENT REPLY asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyMode {
    On,
    Off,
    /// Skip the reply of the next command only.
    SkipNext,
    /// Skipping the current command's reply.
    Skip,
}

/// Bytes and wake-ups sent to a connection from outside its own commands.
#[derive(Default)]
pub struct ClientIo {
    /// Encoded RESP waiting to be written to the socket.
    pub outbox: Mutex<Vec<u8>>,
    /// Bytes in `outbox` (readable without the lock, for buffer limits).
    pub outbox_len: AtomicUsize,
    /// Signalled when `outbox` has data or the client must close.
    pub wake: Notify,
    /// Set by CLIENT KILL, output buffer limits, SHUTDOWN.
    pub killed: AtomicBool,
}

impl ClientIo {
    /// Appends encoded bytes for the connection to send, and wakes it.
    pub fn send(&self, data: &[u8]) {
        let mut out = self.outbox.lock();
        out.extend_from_slice(data);
        self.outbox_len.store(out.len(), Ordering::Relaxed);
        drop(out);
        self.wake.notify_one();
    }

    /// Takes everything queued for the socket.
    pub fn take(&self) -> Vec<u8> {
        let mut out = self.outbox.lock();
        self.outbox_len.store(0, Ordering::Relaxed);
        std::mem::take(&mut *out)
    }

    /// Asks the connection to close.
    pub fn kill(&self) {
        self.killed.store(true, Ordering::Relaxed);
        self.wake.notify_one();
    }

    pub fn is_killed(&self) -> bool {
        self.killed.load(Ordering::Relaxed)
    }
}

/// Everything Strata knows about one connection.
pub struct Client {
    pub id: u64,
    /// Peer address `ip:port`.
    pub addr: String,
    /// Local address `ip:port`.
    pub laddr: String,
    pub name: Option<Bytes>,
    /// Selected database.
    pub db: usize,
    /// RESP3 after `HELLO 3`.
    pub resp3: bool,
    pub authenticated: bool,
    /// Unix ms of connection and of the last command.
    pub created_ms: i64,
    pub last_interaction_ms: i64,
    /// Name of the last command run (CLIENT LIST `cmd=`).
    pub last_cmd: &'static str,
    pub reply_mode: ReplyMode,
    /// Close once the pending replies are written (QUIT, protocol error).
    pub close_after_reply: bool,
    /// CLIENT NO-EVICT.
    pub no_evict: bool,
    /// In MONITOR mode.
    pub monitor: bool,
    /// Blocking commands must not block (inside MULTI/EXEC or a script).
    pub deny_blocking: bool,
    /// Set while blocked on keys by a blocking command (BLPOP...).
    pub blocked: Option<crate::blocking::Blocked>,
    /// Bytes waiting in the query buffer (CLIENT LIST `qbuf=`).
    pub query_buf: usize,
    pub io: Arc<ClientIo>,
}

impl Client {
    pub fn new(id: u64, addr: String, laddr: String, now_ms: i64, authenticated: bool) -> Client {
        Client {
            id,
            addr,
            laddr,
            name: None,
            db: 0,
            resp3: false,
            authenticated,
            created_ms: now_ms,
            last_interaction_ms: now_ms,
            last_cmd: "NULL",
            reply_mode: ReplyMode::On,
            close_after_reply: false,
            no_evict: false,
            monitor: false,
            deny_blocking: false,
            blocked: None,
            query_buf: 0,
            io: Arc::new(ClientIo::default()),
        }
    }

    /// CLIENT LIST `flags=` letters.
    pub fn flags(&self) -> String {
        let mut f = String::new();
        if self.monitor {
            f.push('O');
        }
        if self.blocked.is_some() {
            f.push('b');
        }
        if self.no_evict {
            f.push('e');
        }
        if self.close_after_reply {
            f.push('c');
        }
        if f.is_empty() {
            f.push('N');
        }
        f
    }

    /// One CLIENT LIST / CLIENT INFO line (without the trailing newline).
    pub fn info_line(&self, now_ms: i64) -> String {
        let name = self
            .name
            .as_ref()
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .unwrap_or_default();
        format!(
            "id={} addr={} laddr={} fd=8 name={} age={} idle={} flags={} db={} sub=0 psub=0 ssub=0 multi=-1 qbuf={} qbuf-free=0 argv-mem=0 multi-mem=0 rbs=1024 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd={} user=default redir=-1 resp={}",
            self.id,
            self.addr,
            self.laddr,
            name,
            (now_ms - self.created_ms).max(0) / 1000,
            (now_ms - self.last_interaction_ms).max(0) / 1000,
            self.flags(),
            self.db,
            self.query_buf,
            self.last_cmd,
            if self.resp3 { 3 } else { 2 },
        )
    }
}
