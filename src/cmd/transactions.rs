//! Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH.
//!
//! Queuing happens in the dispatcher (`crate::command::dispatch`): while a
//! client is in MULTI, every command but EXEC, DISCARD, MULTI, WATCH, QUIT
//! and RESET is checked (existence, arity, NO_MULTI) and queued. EXEC runs
//! the queue inside the one lock hold of the EXEC command itself, so no
//! other client observes an intermediate state, and blocking commands run
//! as non-blocking (`deny_blocking`).
//!
//! WATCH registers `(db, key)` in `State::watched_keys` with the client's
//! shared dirty flag; `State::key_modified` (called for every write,
//! expiry and flush) sets it, and EXEC aborts with a null reply.

use std::sync::atomic::Ordering;

use crate::command::{CommandSpec, Ctx, Flags, Keys};
use crate::error::{CmdResult, Error};

/// Queued commands of a client in MULTI.
#[derive(Default)]
pub struct MultiState {
    pub queued: Vec<(&'static CommandSpec, Vec<bytes::Bytes>)>,
    /// A command failed to queue: EXEC answers EXECABORT.
    pub failed: bool,
}

/// MULTI
fn multi(ctx: &mut Ctx) -> CmdResult {
    if ctx.client.multi.is_some() {
        return Err(Error::err("MULTI calls can not be nested"));
    }
    ctx.client.multi = Some(MultiState::default());
    ctx.reply.ok();
    Ok(())
}

/// DISCARD
fn discard(ctx: &mut Ctx) -> CmdResult {
    if ctx.client.multi.take().is_none() {
        return Err(Error::err("DISCARD without MULTI"));
    }
    ctx.state.unwatch_all(ctx.client);
    ctx.reply.ok();
    Ok(())
}

/// EXEC
fn exec(ctx: &mut Ctx) -> CmdResult {
    let Some(multi) = ctx.client.multi.take() else {
        return Err(Error::err("EXEC without MULTI"));
    };
    if multi.failed {
        ctx.state.unwatch_all(ctx.client);
        return Err(Error::custom(
            "EXECABORT Transaction discarded because of previous errors.",
        ));
    }
    let expired = ctx.state.watched_key_expired(ctx.client, ctx.now_ms);
    if expired || ctx.client.dirty_cas.load(Ordering::Relaxed) {
        ctx.state.unwatch_all(ctx.client);
        ctx.reply.null_array();
        return Ok(());
    }
    ctx.state.unwatch_all(ctx.client);
    ctx.reply.array(multi.queued.len());
    let deny = ctx.client.deny_blocking;
    ctx.client.deny_blocking = true;
    for (cmd, args) in &multi.queued {
        let now = crate::server::now_ms();
        crate::command::call(ctx.state, ctx.client, ctx.reply, cmd, args, now);
    }
    ctx.client.deny_blocking = deny;
    Ok(())
}

/// WATCH key [key ...]
fn watch(ctx: &mut Ctx) -> CmdResult {
    if ctx.client.multi.is_some() {
        return Err(Error::err("WATCH inside MULTI is not allowed"));
    }
    for i in 1..ctx.args.len() {
        let key = ctx.args[i].clone();
        ctx.state.watch(ctx.client, key);
    }
    ctx.reply.ok();
    Ok(())
}

/// UNWATCH
fn unwatch(ctx: &mut Ctx) -> CmdResult {
    ctx.state.unwatch_all(ctx.client);
    ctx.reply.ok();
    Ok(())
}

const TX: Flags = Flags::NOSCRIPT
    .or(Flags::LOADING)
    .or(Flags::STALE)
    .or(Flags::FAST)
    .or(Flags::ALLOW_BUSY);

pub static TABLE: &[CommandSpec] = &[
    CommandSpec::new("multi", 1, TX, Keys::None, multi).doc(
        "transactions",
        "1.2.0",
        "Starts a transaction.",
    ),
    CommandSpec::new(
        "exec",
        1,
        Flags::NOSCRIPT
            .or(Flags::LOADING)
            .or(Flags::STALE)
            .or(Flags::SKIP_SLOWLOG),
        Keys::None,
        exec,
    )
    .doc(
        "transactions",
        "1.2.0",
        "Executes all commands in a transaction.",
    ),
    CommandSpec::new("discard", 1, TX, Keys::None, discard).doc(
        "transactions",
        "2.0.0",
        "Discards a transaction.",
    ),
    CommandSpec::new("watch", -2, TX, Keys::all_from(1), watch).doc(
        "transactions",
        "2.2.0",
        "Monitors changes to keys to determine the execution of a transaction.",
    ),
    CommandSpec::new("unwatch", 1, TX, Keys::None, unwatch).doc(
        "transactions",
        "2.2.0",
        "Forgets about watched keys of a transaction.",
    ),
];
