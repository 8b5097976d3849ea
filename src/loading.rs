//! Serving clients while the dataset loads at startup.
//!
//! The server accepts connections as soon as it listens; the loader holds
//! the state lock while it reads dump.rdb or the AOF, and hands it over
//! between keys (between commands of an AOF) to whoever waits for it
//! ([`let_clients_in`]), so clients are served during the load as Redis
//! serves them, on the partial dataset:
//!
//! * an unknown command or a wrong argument count gets its usual error;
//! * with `requirepass` set, a command other than AUTH/HELLO gets
//!   `-NOAUTH`;
//! * a command Redis refuses while loading (no `loading` flag: PING, GET,
//!   SET, EVAL...) gets `-LOADING Redis is loading the dataset in memory`
//!   (inside MULTI it also fails the transaction, as Redis does);
//! * a command allowed while loading (INFO, AUTH, HELLO, CONFIG, CLIENT,
//!   SELECT, MULTI, SHUTDOWN...) runs at the next hand-over. INFO
//!   persistence shows `loading:1` and the progress (`loading_*`). The few
//!   allowed commands that could upset the load are held back: CONFIG SET
//!   of the files and directories the load uses, and SHUTDOWN's final
//!   save (Redis too exits without saving a partial dataset).
//!
//! A connection accepted during the load first passes through [`gate`],
//! which answers the errors above without the state lock until a command
//! that may run comes; the connection is then admitted as usual and
//! [`crate::command::dispatch`] keeps refusing what must wait.
//!
//! Non-local clients under protected mode are refused at once, as always.
//! Only whole commands within the first 64 KiB the client sent are
//! answered by the gate; a longer one is admitted and answered by the
//! dispatcher.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::command::Flags;
use crate::reply::Reply;

/// Whether the dataset is loading, readable without the state lock, and
/// the settings [`gate`] needs (kept current by CONFIG SET of
/// `requirepass` and `protected-mode`, see [`LoadingStatus::settings`]).
#[derive(Default, Debug)]
pub struct LoadingStatus {
    active: AtomicBool,
    protected_mode: AtomicBool,
    requirepass: AtomicBool,
}

impl LoadingStatus {
    /// Marks the load as started.
    pub fn begin(&self, config: &crate::config::Config) {
        self.settings(config);
        self.active.store(true, Ordering::Release);
    }

    /// Takes the gate's settings from `config` (at the start of the load
    /// and after a CONFIG SET of either, so the gate answers new
    /// connections as Redis would at once).
    pub fn settings(&self, config: &crate::config::Config) {
        self.protected_mode
            .store(config.hot.protected_mode, Ordering::Relaxed);
        self.requirepass
            .store(config.hot.requirepass.is_some(), Ordering::Relaxed);
    }

    /// Marks the load as finished (or failed).
    pub fn end(&self) {
        self.active.store(false, Ordering::Release);
    }

    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    /// Waits (without blocking the worker thread) until the load is over.
    pub async fn wait_done(&self) {
        while self.is_active() {
            tokio::time::sleep(POLL).await;
        }
    }
}

const POLL: Duration = Duration::from_millis(5);
const PEEK: usize = 64 * 1024;
/// The reply to a command refused while loading.
pub const LOADING: &str = "LOADING Redis is loading the dataset in memory";

/// The state lock as the loader holds it.
pub type Guard<'a> = parking_lot::MutexGuard<'a, crate::server::State>;

/// How far the startup load is (INFO persistence `loading_*`).
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// Unix time (seconds) the load started.
    pub start_s: i64,
    /// Bytes of every file to load.
    pub total_bytes: u64,
    /// Bytes of the files done before the current one.
    pub done_bytes: u64,
    /// Bytes read so far, all files counted.
    pub loaded_bytes: u64,
    /// Memory the dataset used when it was saved (the RDB's `used-mem`).
    pub rdb_used_mem: u64,
}

impl Progress {
    pub fn new(start_s: i64) -> Progress {
        Progress {
            start_s,
            ..Progress::default()
        }
    }

    /// Percentage loaded and the estimated seconds left, as Redis
    /// computes them (1 s while nothing is known yet).
    pub fn estimate(&self, now_s: i64) -> (f64, i64) {
        let perc = self.loaded_bytes as f64 * 100.0 / (self.total_bytes + 1) as f64;
        let elapsed = (now_s - self.start_s).max(0) as u64;
        let remaining = self.total_bytes.saturating_sub(self.loaded_bytes);
        let eta = if elapsed == 0 {
            1
        } else {
            elapsed.saturating_mul(remaining) / (self.loaded_bytes + 1)
        };
        (perc, eta.min(i64::MAX as u64) as i64)
    }
}

/// Starts counting a file of `len` bytes (a file the total did not
/// include, such as the only one, is added to it).
pub fn file_started(state: &mut crate::server::State, len: u64) {
    if let Some(p) = state.loading.as_mut() {
        p.done_bytes = p.loaded_bytes;
        if p.done_bytes + len > p.total_bytes {
            p.total_bytes = p.done_bytes + len;
        }
    }
}

/// Reads a whole file to load with the state lock released, so the
/// clients served during the load do not wait for the disk (the dataset
/// is whole between files).
pub fn read_file(state: &mut Guard<'_>, path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    parking_lot::MutexGuard::unlocked(state, || std::fs::read(path))
}

/// Records `offset` bytes of the current file as read and hands the lock
/// to the clients waiting for it, if any (they run before the load goes
/// on). Called only where the dataset is whole: between keys, between
/// commands outside a transaction.
pub fn let_clients_in(state: &mut Guard<'_>, offset: u64) {
    if let Some(p) = state.loading.as_mut() {
        p.loaded_bytes = p.done_bytes + offset;
    }
    hand_over(state);
}

/// Hands the lock to the clients waiting for it, if any, during the load
/// (progress unchanged): for work between or after the files.
pub fn hand_over(state: &mut Guard<'_>) {
    if state.loading.is_some() {
        parking_lot::MutexGuard::bump(state);
    }
}

/// How [`answer`] left a run of commands.
enum Answered {
    /// Bytes of whole commands answered.
    Consumed(usize),
    /// As many bytes, then a command allowed while loading (the connection
    /// is admitted for it).
    Allowed(usize),
}

/// Answers the whole commands at the front of `data`, up to the first one
/// allowed while loading, appending their replies (errors) to `out`.
fn answer(status: &LoadingStatus, data: &[u8], out: &mut Reply) -> Answered {
    let mut buf = BytesMut::from(data);
    let mut parser = crate::resp::Parser::new();
    let limits = crate::resp::Limits {
        max_bulk: PEEK as i64,
        authenticated: true,
    };
    let mut consumed = 0;
    while let Ok(Some(args)) = parser.next(&mut buf, limits) {
        if args.is_empty() {
            consumed = data.len() - buf.len();
            continue;
        }
        match crate::command::resolve(&args) {
            Err((_, e)) => out.error(&e.text()),
            Ok(cmd)
                if status.requirepass.load(Ordering::Relaxed) && !cmd.flags.has(Flags::NO_AUTH) =>
            {
                out.error(&crate::error::Error::NoAuth.text())
            }
            Ok(cmd) if cmd.flags.has(Flags::LOADING) => return Answered::Allowed(consumed),
            Ok(_) => out.error(LOADING),
        }
        consumed = data.len() - buf.len();
    }
    Answered::Consumed(consumed)
}

/// For a connection accepted while the dataset loads: answers what it
/// sends until the load is over or a command allowed while loading comes
/// (see the module docs). Returns false if the connection is done (closed, or
/// refused by protected mode).
pub async fn gate(status: &LoadingStatus, socket: &mut TcpStream) -> bool {
    if !status.is_active() {
        return true;
    }
    if status.protected_mode.load(Ordering::Relaxed)
        && !status.requirepass.load(Ordering::Relaxed)
        && !socket
            .peer_addr()
            .is_ok_and(|p| crate::connection::is_local(&p))
    {
        let _ = socket
            .write_all(crate::connection::PROTECTED_MODE_ERROR.as_bytes())
            .await;
        return false;
    }
    let mut peeked = vec![0u8; PEEK];
    while status.is_active() {
        let n = tokio::select! {
            r = socket.peek(&mut peeked) => match r {
                Ok(n) if n > 0 => n,
                _ => return false,
            },
            _ = tokio::time::sleep(POLL) => continue,
        };
        let mut out = Reply::new(false);
        let consumed = match answer(status, &peeked[..n], &mut out) {
            Answered::Consumed(c) => c,
            Answered::Allowed(0) => return true,
            Answered::Allowed(c) => c,
        };
        if consumed == 0 {
            // Only part of a command so far.
            tokio::time::sleep(POLL).await;
            continue;
        }
        let mut drain = vec![0u8; consumed];
        if socket.read_exact(&mut drain).await.is_err() || socket.write_all(&out.buf).await.is_err()
        {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(requirepass: bool) -> LoadingStatus {
        let s = LoadingStatus::default();
        s.requirepass.store(requirepass, Ordering::Relaxed);
        s.active.store(true, Ordering::Relaxed);
        s
    }

    fn run(s: &LoadingStatus, input: &[u8]) -> (String, Option<usize>, usize) {
        let mut out = Reply::new(false);
        let (waits, consumed) = match answer(s, input, &mut out) {
            Answered::Consumed(c) => (None, c),
            Answered::Allowed(c) => (Some(c), c),
        };
        (
            String::from_utf8_lossy(&out.buf).into_owned(),
            waits,
            consumed,
        )
    }

    #[test]
    fn refused_commands_get_loading_and_allowed_ones_pass() {
        let s = status(false);
        let ping = b"*1\r\n$4\r\nPING\r\n";
        let info = b"*1\r\n$4\r\nINFO\r\n";
        let mut input = Vec::new();
        input.extend_from_slice(ping);
        input.extend_from_slice(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
        input.extend_from_slice(b"*1\r\n$5\r\nNOPE!\r\n");
        input.extend_from_slice(b"*1\r\n$3\r\nGET\r\n");
        let answered = input.len();
        input.extend_from_slice(info);
        input.extend_from_slice(ping);
        let (out, waits, consumed) = run(&s, &input);
        assert_eq!(waits, Some(answered));
        assert_eq!(consumed, answered);
        assert_eq!(
            out,
            "-LOADING Redis is loading the dataset in memory\r\n\
             -LOADING Redis is loading the dataset in memory\r\n\
             -ERR unknown command 'NOPE!', with args beginning with: \r\n\
             -ERR wrong number of arguments for 'get' command\r\n"
        );
    }

    #[test]
    fn partial_commands_are_left_alone() {
        let s = status(false);
        let (out, waits, consumed) = run(&s, b"*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGE");
        assert_eq!(waits, None);
        assert_eq!(consumed, 14);
        assert!(out.starts_with("-LOADING"));
        let (out, _, consumed) = run(&s, b"*2\r\n$3\r\nGET");
        assert_eq!((out.as_str(), consumed), ("", 0));
    }

    #[test]
    fn without_auth_only_auth_and_hello_go_through() {
        let s = status(true);
        let (out, waits, _) = run(&s, b"*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nAUTH\r\n$1\r\np\r\n");
        assert_eq!(out, "-NOAUTH Authentication required.\r\n");
        assert_eq!(waits, Some(14));
    }
}
