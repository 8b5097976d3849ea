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

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
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
    /// The client speaks RESP3 (pushes are framed with `>`).
    pub resp3: AtomicBool,
    /// Unix ms when the outbox first went over the soft output limit
    /// (0 = under it).
    pub soft_limit_since: AtomicI64,
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
    /// CLIENT CACHING yes/no for the next command (OPTIN/OPTOUT tracking).
    pub tracking_caching: Option<bool>,
    /// Commands queued by MULTI.
    pub multi: Option<crate::cmd::transactions::MultiState>,
    /// Keys this client WATCHes, as (db, key).
    pub watched: Vec<(usize, Bytes)>,
    /// Set when a watched key is modified: EXEC will abort.
    pub dirty_cas: Arc<AtomicBool>,
    /// SUBSCRIBE channels, PSUBSCRIBE patterns, SSUBSCRIBE channels.
    pub subscriptions: HashSet<Bytes>,
    pub pattern_subscriptions: HashSet<Bytes>,
    pub shard_subscriptions: HashSet<Bytes>,
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
            tracking_caching: None,
            multi: None,
            watched: Vec::new(),
            dirty_cas: Arc::new(AtomicBool::new(false)),
            subscriptions: HashSet::new(),
            pattern_subscriptions: HashSet::new(),
            shard_subscriptions: HashSet::new(),
        }
    }

    /// Channel plus pattern subscriptions (what SUBSCRIBE replies count).
    pub fn subscription_count(&self) -> usize {
        self.subscriptions.len() + self.pattern_subscriptions.len()
    }

    /// In RESP2 subscribed mode (only pub/sub commands allowed).
    pub fn in_pubsub_mode(&self) -> bool {
        !self.resp3 && (self.subscription_count() > 0 || !self.shard_subscriptions.is_empty())
    }

    /// CLIENT LIST `flags=` letters, in Redis's order (`O` monitor, ...,
    /// `c` close after reply, `A` close asap, ..., `e` no-evict; `N` when
    /// none applies).
    pub fn flags(&self) -> String {
        let mut f = String::new();
        if self.monitor {
            f.push('O');
        }
        if self.subscription_count() > 0 || !self.shard_subscriptions.is_empty() {
            f.push('P');
        }
        if self.multi.is_some() {
            f.push('x');
        }
        if self.blocked.is_some() {
            f.push('b');
        }
        if self.dirty_cas.load(Ordering::Relaxed) {
            f.push('d');
        }
        if self.close_after_reply {
            f.push('c');
        }
        if self.io.is_killed() {
            f.push('A');
        }
        if self.no_evict {
            f.push('e');
        }
        if f.is_empty() {
            f.push('N');
        }
        f
    }

    /// CLIENT LIST / CLIENT KILL `TYPE`: `normal`, `master`, `replica` or
    /// `pubsub` (a MONITOR client is `normal`, as in Redis).
    pub fn client_type(&self) -> &'static str {
        if self.subscription_count() > 0 || !self.shard_subscriptions.is_empty() {
            "pubsub"
        } else {
            "normal"
        }
    }

    /// One CLIENT LIST / CLIENT INFO line (without the trailing newline).
    pub fn info_line(&self, now_ms: i64) -> String {
        let name = self
            .name
            .as_ref()
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .unwrap_or_default();
        format!(
            "id={} addr={} laddr={} fd=8 name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi={} qbuf={} qbuf-free=0 argv-mem=0 multi-mem=0 rbs=1024 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd={} user=default redir=-1 resp={}",
            self.id,
            self.addr,
            self.laddr,
            name,
            (now_ms / 1000 - self.created_ms / 1000).max(0),
            (now_ms / 1000 - self.last_interaction_ms / 1000).max(0),
            self.flags(),
            self.db,
            self.subscriptions.len(),
            self.pattern_subscriptions.len(),
            self.shard_subscriptions.len(),
            self.multi.as_ref().map(|m| m.queued.len() as i64).unwrap_or(-1),
            self.query_buf,
            self.last_cmd,
            if self.resp3 { 3 } else { 2 },
        )
    }
}
