//! Blocking commands (BLPOP, BLMOVE, BZPOPMIN, ...) and CLIENT PAUSE.
//!
//! A blocking command that finds no data calls [`block_on_keys`]: the
//! client is recorded in the [`Registry`] (per key, a FIFO of waiting
//! client ids) and in `Client::blocked` (its keys, deadline and full
//! command). The connection task (`src/connection.rs`) sees the client is
//! blocked, stops running its pipeline and waits, costing no thread.
//!
//! Serving follows Redis 7.0 (`handleClientsBlockedOnKeys`): after a
//! top-level command (or a whole EXEC/script) every key signalled ready by
//! [`Ctx::signal_key_ready`] is visited in signal order; for each, its
//! waiters in FIFO order have their command run again, restricted to that
//! key (7.0 serves a client from the key that became ready, not from the
//! first of its keys that has data). A client served gets its reply in its
//! outbox and is removed from every key it waited on; a command that
//! blocks again keeps its place in line.
//!
//! Timeouts are enforced by the waiting connection with a timer; a client
//! disconnecting while blocked is unregistered by the connection.
//!
//! CLIENT PAUSE: while a pause is in effect the connection checks, before
//! each command, whether that command must wait ([`must_postpone`]); the
//! client then waits (in `Registry::postponed`) until UNPAUSE or the end.

use std::collections::{HashMap, HashSet, VecDeque};

use bytes::Bytes;
use strata_storage::keyspace::Touch;
use strata_storage::value::ValueType;

use crate::client::{Client, ReplyMode};
use crate::command::{Ctx, Flags, Keys};
use crate::error::{CmdResult, Error};
use crate::reply::Reply;
use crate::server::State;

/// What a blocking command replies when it may not block (MULTI, scripts).
/// A client that did block and timed out (or got CLIENT UNBLOCK ... TIMEOUT)
/// always gets a null array, as Redis 7.0's `replyToBlockedClientTimedOut`
/// (BLMOVE included).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeoutReply {
    /// `*-1` (RESP3 `_`): BLPOP, BRPOP, BLMPOP, BZPOPMIN, BZPOPMAX, BZMPOP.
    NullArray,
    /// `$-1` (RESP3 `_`): BLMOVE, BRPOPLPUSH.
    NullBulk,
}

impl TimeoutReply {
    fn write(self, reply: &mut Reply) {
        match self {
            TimeoutReply::NullArray => reply.null_array(),
            TimeoutReply::NullBulk => reply.null(),
        }
    }
}

/// A blocked client's wait (kept in `Client::blocked`).
#[derive(Clone, Debug)]
pub struct Blocked {
    pub db: usize,
    /// Distinct keys waited on, in argument order.
    pub keys: Vec<Bytes>,
    /// Unix ms; `None` waits forever.
    pub deadline: Option<i64>,
    pub timeout_reply: TimeoutReply,
    /// The whole command, run again when a key is ready.
    pub args: Vec<Bytes>,
    /// The value type that can serve it (list or sorted set).
    pub wants: ValueType,
}

/// Who waits for what.
#[derive(Default, Debug)]
pub struct Registry {
    /// (db, key) -> ids of clients blocked on it, oldest first.
    pub by_key: HashMap<(usize, Bytes), VecDeque<u64>>,
    /// id -> (db, keys) of every client blocked on keys.
    pub by_client: HashMap<u64, (usize, Vec<Bytes>)>,
    /// Clients waiting for a CLIENT PAUSE to end.
    pub postponed: HashSet<u64>,
}

impl Registry {
    fn unregister(&mut self, id: u64) {
        let Some((db, keys)) = self.by_client.remove(&id) else {
            return;
        };
        for key in keys {
            let k = (db, key);
            if let Some(q) = self.by_key.get_mut(&k) {
                q.retain(|c| *c != id);
                if q.is_empty() {
                    self.by_key.remove(&k);
                }
            }
        }
    }

    /// Clients blocked on keys plus clients waiting for a pause.
    pub fn count(&self) -> usize {
        self.by_client.len() + self.postponed.len()
    }
}

/// A CLIENT PAUSE in effect.
#[derive(Clone, Copy, Debug)]
pub struct Pause {
    /// Unix ms when the pause ends.
    pub end_ms: i64,
    /// ALL (every command) rather than WRITE.
    pub all: bool,
}

/// Parses a blocking timeout in seconds (float allowed) into an absolute
/// deadline in unix ms; `None` means wait forever (timeout 0).
/// Errors exactly as Redis 7.0: `ERR timeout is not a float or out of
/// range`, `ERR timeout is negative` (also for values whose milliseconds do
/// not fit a 64-bit integer, as 7.0's cast yields LLONG_MIN).
pub fn parse_timeout(arg: &[u8], now_ms: i64) -> Result<Option<i64>, Error> {
    let not_float = || Error::err("timeout is not a float or out of range");
    let secs = match strata_storage::num::parse_f64(arg) {
        Some(v) => v,
        // Redis parses a long double: values beyond a double's range
        // (1e400, 1e-400) are still numbers there.
        None => match std::str::from_utf8(arg).ok().map(|t| (t, t.parse::<f64>())) {
            Some((t, Ok(v)))
                if !t.starts_with(|c: char| c.is_ascii_whitespace())
                    && !t.to_ascii_lowercase().contains("inf")
                    && !t.to_ascii_lowercase().contains("nan") =>
            {
                if v == 0.0 && t.starts_with('-') {
                    -0.0
                } else if v == 0.0 {
                    f64::MIN_POSITIVE
                } else {
                    v
                }
            }
            _ => return Err(not_float()),
        },
    };
    let ms = (secs * 1000.0).ceil();
    // `(long long) ceill(x)` for x out of range is LLONG_MIN on x86.
    if !(0.0..9.223_372_036_854_776e18).contains(&ms) {
        return Err(Error::err("timeout is negative"));
    }
    let ms = ms as i64;
    if ms == 0 {
        return Ok(None);
    }
    // Redis's overflowing sum waits forever in practice.
    Ok(Some(now_ms.checked_add(ms).unwrap_or(i64::MAX)))
}

fn wanted_type(cmd_name: &str) -> ValueType {
    if cmd_name.starts_with("bz") {
        ValueType::ZSet
    } else if cmd_name.starts_with("xread") {
        ValueType::Stream
    } else {
        ValueType::List
    }
}

/// Blocks the running command's client on `keys` until one of them is
/// signalled ready (see [`Ctx::signal_key_ready`]) or `deadline` passes;
/// the command is then run again from the start. The handler must return
/// `Ok(())` right after calling this, without writing a reply.
///
/// Where blocking is not allowed (inside MULTI/EXEC or a script:
/// `ctx.client.deny_blocking`), the timeout reply is written at once.
pub fn block_on_keys(
    ctx: &mut Ctx,
    keys: &[Bytes],
    deadline: Option<i64>,
    timeout_reply: TimeoutReply,
) {
    if ctx.client.deny_blocking {
        timeout_reply.write(ctx.reply);
        return;
    }
    if ctx.client.blocked.is_some() {
        // Run again on a ready key and still nothing: keep the place in
        // every queue (Redis leaves such a client blocked as it was).
        return;
    }
    let db = ctx.client.db;
    let id = ctx.client.id;
    let mut distinct: Vec<Bytes> = Vec::with_capacity(keys.len());
    for k in keys {
        if !distinct.contains(k) {
            distinct.push(k.clone());
        }
    }
    for k in &distinct {
        ctx.state
            .blocking
            .by_key
            .entry((db, k.clone()))
            .or_default()
            .push_back(id);
    }
    ctx.state
        .blocking
        .by_client
        .insert(id, (db, distinct.clone()));
    ctx.client.blocked = Some(Blocked {
        db,
        keys: distinct,
        deadline,
        timeout_reply,
        args: ctx.args.to_vec(),
        wants: wanted_type(ctx.cmd.name),
    });
}

/// The command to run again for a client served by `key`: when it waits
/// on several keys, its key list is cut down to `key` alone.
fn args_for_key(b: &Blocked, key: &Bytes) -> Vec<Bytes> {
    if b.keys.len() <= 1 {
        return b.args.clone();
    }
    let Some(cmd) = b.args.first().and_then(|n| crate::command::table().get(n)) else {
        return b.args.clone();
    };
    if b.wants == ValueType::Stream {
        // XREAD/XREADGROUP: STREAMS key id, for the ready key only.
        return crate::cmd::streams::args_for_key(&b.args, key);
    }
    let pos = cmd.keys.positions(&b.args);
    let (Some(&first), Some(&last)) = (pos.first(), pos.last()) else {
        return b.args.clone();
    };
    let mut out = Vec::with_capacity(b.args.len());
    match cmd.keys {
        Keys::Custom { .. } if first >= 2 => {
            // numkeys key [key ...]: numkeys sits right before the keys.
            out.extend_from_slice(&b.args[..first - 1]);
            out.push(Bytes::from_static(b"1"));
            out.push(key.clone());
            out.extend_from_slice(&b.args[last + 1..]);
        }
        _ => {
            for (i, a) in b.args.iter().enumerate() {
                if i == first {
                    out.push(key.clone());
                } else if !pos.contains(&i) {
                    out.push(a.clone());
                }
            }
        }
    }
    out
}

/// Runs a blocked client's command again (no stats, MONITOR or slow log:
/// Redis serves blocked clients outside `call()`).
fn rerun(state: &mut State, client: &mut Client, reply: &mut Reply, args: &[Bytes], now: i64) {
    let Some(cmd) = args.first().and_then(|n| crate::command::table().get(n)) else {
        return;
    };
    let frame = crate::propagate::enter(state);
    let result = crate::command::run_handler(state, client, reply, cmd, args, now);
    crate::propagate::leave(state, frame, client.db, cmd, args);
    if let Err(e) = result {
        reply.error(&e.text());
    }
    state.stats.count_errors(reply.take_errors());
    state.after_command();
    // Each served client is its own unit (Redis propagates after each).
    crate::propagate::end_unit(state);
}

/// Serves clients blocked on keys signalled ready (Redis's
/// `handleClientsBlockedOnKeys`). Called after every top-level command.
pub fn handle_ready_keys(state: &mut State) {
    if state.blocking.by_key.is_empty() {
        state.ready_keys.clear();
        return;
    }
    while !state.ready_keys.is_empty() {
        let batch = std::mem::take(&mut state.ready_keys);
        let mut seen: HashSet<(usize, Bytes)> = HashSet::with_capacity(batch.len());
        for rk in batch {
            if seen.insert(rk.clone()) {
                serve_key(state, rk.0, &rk.1);
            }
        }
    }
}

fn serve_key(state: &mut State, db: usize, key: &Bytes) {
    let waiters: Vec<u64> = match state.blocking.by_key.get(&(db, key.clone())) {
        Some(q) => q.iter().copied().collect(),
        None => return,
    };
    for id in waiters {
        let now = crate::server::now_ms();
        let ty = state
            .keyspace
            .db(db)
            .get(key, now, Touch::No)
            .map(|e| e.value.value_type());
        if ty != Some(ValueType::Stream) {
            // The stream was deleted or replaced: XREADGROUP waiters fail
            // at once (Redis's `unblockDeletedStreamReadgroupClients`).
            unblock_deleted_stream_reader(state, id);
        }
        let Some(ty) = ty else {
            state.after_command();
            continue;
        };
        let Some(mut client) = state.clients.remove(&id) else {
            continue;
        };
        let args = match client.blocked.as_ref() {
            Some(b) if b.wants == ty => args_for_key(b, key),
            _ => {
                state.clients.insert(id, client);
                continue;
            }
        };
        let mut reply = Reply::new(client.resp3);
        rerun(state, &mut client, &mut reply, &args, now);
        if !reply.is_empty() {
            state.blocking.unregister(id);
            client.blocked = None;
            if client.reply_mode != ReplyMode::Off {
                client.io.send(&reply.buf);
            }
        }
        state.clients.insert(id, client);
    }
}

/// Answers a client blocked in XREADGROUP whose stream is gone with
/// `-UNBLOCKED the stream key no longer exists` and unblocks it.
fn unblock_deleted_stream_reader(state: &mut State, id: u64) {
    let Some(client) = state.clients.get_mut(&id) else {
        return;
    };
    let readgroup = client
        .blocked
        .as_ref()
        .and_then(|b| b.args.first())
        .is_some_and(|n| n.eq_ignore_ascii_case(b"xreadgroup"));
    if !readgroup {
        return;
    }
    client.blocked = None;
    let mut reply = Reply::new(client.resp3);
    reply.error("UNBLOCKED the stream key no longer exists");
    if client.reply_mode != ReplyMode::Off {
        client.io.send(&reply.buf);
    }
    state.stats.count_errors(reply.take_errors());
    state.blocking.unregister(id);
}

/// Signals every key of database `db` that clients wait on, whether it
/// exists or not (FLUSHDB/FLUSHALL/SWAPDB: waiters on streams that went
/// away must be told, Redis's `scanDatabaseForDeletedStreams`).
pub fn signal_all_waited_keys(state: &mut State, db: usize) {
    let keys: Vec<Bytes> = state
        .blocking
        .by_key
        .keys()
        .filter(|(d, _)| *d == db)
        .map(|(_, k)| k.clone())
        .collect();
    for k in keys {
        state.ready_keys.push((db, k));
    }
}

/// Signals every key of database `db` that clients wait on and that now
/// holds a value (Redis's `scanDatabaseForReadyKeys`): for SWAPDB (both
/// databases) and anything else that replaces a database's contents.
pub fn signal_db_ready(state: &mut State, db: usize) {
    let now = crate::server::now_ms();
    let keys: Vec<Bytes> = state
        .blocking
        .by_key
        .keys()
        .filter(|(d, _)| *d == db)
        .map(|(_, k)| k.clone())
        .collect();
    for k in keys {
        if state.keyspace.db(db).contains(&k, now) {
            state.ready_keys.push((db, k));
        }
    }
}

/// Called by a blocked client's connection when its deadline passed:
/// unblocks it and returns the timeout reply to write, or `None` if it is
/// no longer blocked or the deadline is still ahead.
pub fn expire_client(state: &mut State, id: u64, now: i64) -> Option<Vec<u8>> {
    let client = state.clients.get_mut(&id)?;
    let b = client.blocked.as_ref()?;
    if b.deadline.is_none_or(|d| now < d) {
        return None;
    }
    let mut reply = Reply::new(client.resp3);
    reply.null_array();
    client.blocked = None;
    let off = client.reply_mode == ReplyMode::Off;
    state.blocking.unregister(id);
    Some(if off { Vec::new() } else { reply.buf })
}

/// A connection is closing: forget its waits.
pub fn client_gone(state: &mut State, id: u64) {
    state.blocking.unregister(id);
    state.blocking.postponed.remove(&id);
}

/// True while a pause is in effect (clearing it once its end has passed).
pub fn paused(state: &mut State, now: i64) -> Option<Pause> {
    let p = state.pause?;
    if now >= p.end_ms {
        state.pause = None;
        return None;
    }
    Some(p)
}

/// Whether the next command (`args`) of `client` must wait for the pause
/// to end: every command under ALL; under WRITE, commands flagged `write`
/// or `may_replicate`. Commands the dispatcher will reject anyway (unknown,
/// wrong arity, not authenticated) are not held, as in Redis.
pub fn must_postpone(state: &mut State, client: &Client, args: &[Bytes], now: i64) -> bool {
    let Some(p) = paused(state, now) else {
        return false;
    };
    let Some(mut cmd) = args.first().and_then(|n| crate::command::table().get(n)) else {
        return false;
    };
    if !cmd.arity_ok(args.len()) {
        return false;
    }
    if !cmd.subcommands.is_empty() && args.len() >= 2 {
        match cmd.subcommand(&args[1]) {
            Some(sub) if sub.arity_ok(args.len()) => cmd = sub,
            Some(_) => return false,
            None => {}
        }
    }
    if !client.authenticated
        && !cmd.flags.has(Flags::NO_AUTH)
        && state.config.hot.requirepass.is_some()
    {
        return false;
    }
    p.all || cmd.flags.has(Flags::WRITE.or(Flags::MAY_REPLICATE))
}

/// CLIENT UNBLOCK client-id [TIMEOUT|ERROR]
pub fn client_unblock(ctx: &mut Ctx) -> CmdResult {
    if ctx.args.len() > 4 {
        return Err(Error::err(
            "unknown subcommand or wrong number of arguments for 'unblock'. Try CLIENT HELP.",
        ));
    }
    let mut error = false;
    if ctx.args.len() == 4 {
        if crate::args::is(&ctx.args[3], "timeout") {
            error = false;
        } else if crate::args::is(&ctx.args[3], "error") {
            error = true;
        } else {
            return Err(Error::err(
                "CLIENT UNBLOCK reason should be TIMEOUT or ERROR",
            ));
        }
    }
    let id = crate::args::int(ctx.arg(2))?;
    let target = u64::try_from(id)
        .ok()
        .and_then(|id| ctx.state.clients.get_mut(&id));
    let Some(target) = target else {
        ctx.reply.int(0);
        return Ok(());
    };
    if target.blocked.take().is_none() {
        ctx.reply.int(0);
        return Ok(());
    }
    let mut reply = Reply::new(target.resp3);
    if error {
        reply.error("UNBLOCKED client unblocked via CLIENT UNBLOCK");
    } else {
        reply.null_array();
    }
    if target.reply_mode != ReplyMode::Off {
        target.io.send(&reply.buf);
    }
    let tid = target.id;
    ctx.state.stats.count_errors(reply.take_errors());
    ctx.state.blocking.unregister(tid);
    ctx.reply.int(1);
    Ok(())
}

/// CLIENT PAUSE timeout [WRITE|ALL]
pub fn client_pause(ctx: &mut Ctx) -> CmdResult {
    if ctx.args.len() > 4 {
        return Err(Error::err(
            "unknown subcommand or wrong number of arguments for 'pause'. Try CLIENT HELP.",
        ));
    }
    let mut all = true;
    if ctx.args.len() == 4 {
        if crate::args::is(&ctx.args[3], "write") {
            all = false;
        } else if !crate::args::is(&ctx.args[3], "all") {
            return Err(Error::err("CLIENT PAUSE mode must be WRITE or ALL"));
        }
    }
    let ms = strata_storage::num::parse_i64(ctx.arg(2))
        .ok_or_else(|| Error::err("timeout is not an integer or out of range"))?;
    if ms < 0 {
        return Err(Error::err("timeout is negative"));
    }
    let now = ctx.now_ms;
    let end = if ms > 0 {
        if ms > i64::MAX - now {
            return Err(Error::err("timeout is out of range"));
        }
        ms + now
    } else {
        0
    };
    let pause = match paused(ctx.state, now) {
        Some(p) => Pause {
            end_ms: p.end_ms.max(end),
            all: p.all || all,
        },
        None => Pause { end_ms: end, all },
    };
    ctx.state.pause = Some(pause);
    ctx.reply.ok();
    Ok(())
}

/// CLIENT UNPAUSE
pub fn client_unpause(ctx: &mut Ctx) -> CmdResult {
    ctx.state.pause = None;
    wake_postponed(ctx.state);
    ctx.reply.ok();
    Ok(())
}

/// Wakes every client waiting for a pause so it checks again.
pub fn wake_postponed(state: &mut State) {
    for id in &state.blocking.postponed {
        if let Some(c) = state.clients.get(id) {
            c.io.wake.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_parse_like_redis_7_0() {
        assert_eq!(parse_timeout(b"0", 1000), Ok(None));
        assert_eq!(parse_timeout(b"-0", 1000), Ok(None));
        assert_eq!(parse_timeout(b"-0.0001", 1000), Ok(None));
        assert_eq!(parse_timeout(b"0.0001", 1000), Ok(Some(1001)));
        assert_eq!(parse_timeout(b"1e-400", 1000), Ok(Some(1001)));
        assert_eq!(parse_timeout(b"1.5", 1000), Ok(Some(2500)));
        let neg = Err(Error::err("timeout is negative"));
        assert_eq!(parse_timeout(b"-1", 0), neg);
        assert_eq!(parse_timeout(b"inf", 0), neg);
        assert_eq!(parse_timeout(b"1e20", 0), neg);
        assert_eq!(parse_timeout(b"1e400", 0), neg);
        let nf = Err(Error::err("timeout is not a float or out of range"));
        assert_eq!(parse_timeout(b"nan", 0), nf);
        assert_eq!(parse_timeout(b"", 0), nf);
        assert_eq!(parse_timeout(b" 1", 0), nf);
        assert_eq!(parse_timeout(b"1x", 0), nf);
    }

    fn blocked(args: &[&str], keys: &[&str]) -> Blocked {
        Blocked {
            db: 0,
            keys: keys.iter().map(|k| Bytes::from(k.to_string())).collect(),
            deadline: None,
            timeout_reply: TimeoutReply::NullArray,
            args: args.iter().map(|a| Bytes::from(a.to_string())).collect(),
            wants: ValueType::List,
        }
    }

    fn strs(v: Vec<Bytes>) -> Vec<String> {
        v.iter()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect()
    }

    #[test]
    fn rerun_is_cut_down_to_the_ready_key() {
        let k = Bytes::from("b");
        let b = blocked(&["BLPOP", "a", "b", "c", "0"], &["a", "b", "c"]);
        assert_eq!(strs(args_for_key(&b, &k)), ["BLPOP", "b", "0"]);
        let b = blocked(
            &["BLMPOP", "0", "2", "a", "b", "LEFT", "COUNT", "3"],
            &["a", "b"],
        );
        assert_eq!(
            strs(args_for_key(&b, &k)),
            ["BLMPOP", "0", "1", "b", "LEFT", "COUNT", "3"]
        );
        let b = blocked(&["BLMOVE", "b", "d", "LEFT", "LEFT", "0"], &["b"]);
        assert_eq!(
            strs(args_for_key(&b, &k)),
            ["BLMOVE", "b", "d", "LEFT", "LEFT", "0"]
        );
    }
}
