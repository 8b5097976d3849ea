//! Serving clients while the dataset loads at startup.
//!
//! The server accepts connections as soon as it listens; the loader holds
//! the state lock until the dataset (dump.rdb or the AOF, and the cold
//! tier) is in. A connection accepted meanwhile passes through [`gate`]
//! before its admission (which needs the lock), and its commands are
//! answered as Redis answers them while loading, in order:
//!
//! * an unknown command or a wrong argument count gets its usual error;
//! * with `requirepass` set, a command other than AUTH/HELLO gets
//!   `-NOAUTH`;
//! * a command Redis refuses while loading (no `loading` flag: PING, GET,
//!   SET...) gets `-LOADING Redis is loading the dataset in memory`;
//! * the first command Redis allows while loading (INFO, AUTH, HELLO,
//!   CONFIG, CLIENT, SHUTDOWN, MULTI...) waits, with everything sent after
//!   it, until the load is done: the connection is then admitted and runs
//!   them as usual.
//!
//! Non-local clients under protected mode are refused at once, as always.
//! Only whole commands within the first 64 KiB the client sent are
//! answered early; a longer one waits for the end of the load.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::command::Flags;
use crate::reply::Reply;

/// Whether the dataset is loading, readable without the state lock, and
/// the settings [`gate`] needs (taken when the load starts: nothing can
/// change them before it ends).
#[derive(Default, Debug)]
pub struct LoadingStatus {
    active: AtomicBool,
    protected_mode: AtomicBool,
    requirepass: AtomicBool,
}

impl LoadingStatus {
    /// Marks the load as started.
    pub fn begin(&self, config: &crate::config::Config) {
        self.protected_mode
            .store(config.hot.protected_mode, Ordering::Relaxed);
        self.requirepass
            .store(config.hot.requirepass.is_some(), Ordering::Relaxed);
        self.active.store(true, Ordering::Release);
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
const LOADING: &str = "LOADING Redis is loading the dataset in memory";

/// How [`answer`] left a run of commands.
enum Answered {
    /// Bytes of whole commands answered.
    Consumed(usize),
    /// As many bytes, then a command that waits for the load.
    Waits(usize),
}

/// Answers the whole commands at the front of `data` that do not wait for
/// the load, appending their replies to `out`.
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
            Ok(cmd) if cmd.flags.has(Flags::LOADING) => return Answered::Waits(consumed),
            Ok(_) => out.error(LOADING),
        }
        consumed = data.len() - buf.len();
    }
    Answered::Consumed(consumed)
}

/// For a connection accepted while the dataset loads: answers what it
/// sends until the load is over or a command must wait for it (see the
/// module docs). Returns false if the connection is done (closed, or
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
            Answered::Waits(0) => {
                status.wait_done().await;
                return true;
            }
            Answered::Waits(c) => c,
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
            Answered::Waits(c) => (Some(c), c),
        };
        (
            String::from_utf8_lossy(&out.buf).into_owned(),
            waits,
            consumed,
        )
    }

    #[test]
    fn refused_commands_get_loading_and_allowed_ones_wait() {
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
