//! Connection commands: PING, ECHO, QUIT, SELECT, HELLO, AUTH, CLIENT, RESET.

use crate::command::{CommandSpec, Ctx, Flags, Keys};
use crate::error::{CmdResult, Error};

/// PING [message]
fn ping(ctx: &mut Ctx) -> CmdResult {
    match ctx.args.len() {
        1 => ctx.reply.simple("PONG"),
        2 => {
            let msg = ctx.arg(1).clone();
            ctx.reply.bulk(&msg);
        }
        _ => return Err(Error::wrong_arity("ping")),
    }
    Ok(())
}

/// ECHO message
fn echo(ctx: &mut Ctx) -> CmdResult {
    let msg = ctx.arg(1).clone();
    ctx.reply.bulk(&msg);
    Ok(())
}

/// QUIT
fn quit(ctx: &mut Ctx) -> CmdResult {
    ctx.reply.ok();
    ctx.client.close_after_reply = true;
    Ok(())
}

/// SELECT index
fn select(ctx: &mut Ctx) -> CmdResult {
    let idx = crate::args::int(ctx.arg(1))
        .map_err(|_| Error::err("value is not an integer or out of range"))?;
    if idx < 0 || idx as usize >= ctx.state.keyspace.dbs.len() {
        return Err(Error::DbIndexOutOfRange);
    }
    ctx.client.db = idx as usize;
    ctx.reply.ok();
    Ok(())
}

const CONN: Flags = Flags::FAST.or(Flags::LOADING).or(Flags::STALE);

pub static TABLE: &[CommandSpec] = &[
    CommandSpec::new("ping", -1, CONN, Keys::None, ping).doc(
        "connection",
        "1.0.0",
        "Returns the server's liveliness response.",
    ),
    CommandSpec::new("echo", 2, CONN, Keys::None, echo).doc(
        "connection",
        "1.0.0",
        "Returns the given string.",
    ),
    CommandSpec::new(
        "quit",
        -1,
        Flags::ALLOW_BUSY
            .or(Flags::NOSCRIPT)
            .or(Flags::LOADING)
            .or(Flags::STALE)
            .or(Flags::FAST)
            .or(Flags::NO_AUTH),
        Keys::None,
        quit,
    )
    .doc("connection", "1.0.0", "Closes the connection."),
    CommandSpec::new("select", 2, CONN, Keys::None, select).doc(
        "connection",
        "1.0.0",
        "Changes the selected database.",
    ),
];
