//! Generic keyspace commands: DEL, EXISTS, EXPIRE, SCAN, ...

use crate::command::{CommandSpec, Ctx, Flags, Keys};
use crate::error::{CmdResult, Error};

/// DEL key [key ...]
fn del(ctx: &mut Ctx) -> CmdResult {
    let mut n = 0;
    for i in 1..ctx.args.len() {
        let key = ctx.args[i].clone();
        let now = ctx.now_ms;
        if ctx.db().contains(&key, now) {
            ctx.db().remove(&key);
            ctx.signal_modified(&key);
            ctx.notify('g', "del", &key);
            ctx.add_dirty(1);
            n += 1;
        }
    }
    ctx.reply.int(n);
    Ok(())
}

/// EXISTS key [key ...]
fn exists(ctx: &mut Ctx) -> CmdResult {
    let mut n = 0;
    for i in 1..ctx.args.len() {
        let key = ctx.args[i].clone();
        let now = ctx.now_ms;
        if ctx.db().contains(&key, now) {
            n += 1;
        }
    }
    ctx.reply.int(n);
    Ok(())
}

/// Parses the optional ASYNC|SYNC of FLUSHDB/FLUSHALL.
fn flush_mode(ctx: &Ctx) -> CmdResult {
    match ctx.args.len() {
        1 => Ok(()),
        2 if crate::args::is(&ctx.args[1], "async") || crate::args::is(&ctx.args[1], "sync") => {
            Ok(())
        }
        _ => Err(Error::Syntax),
    }
}

/// FLUSHDB [ASYNC|SYNC]
fn flushdb(ctx: &mut Ctx) -> CmdResult {
    flush_mode(ctx)?;
    let db = ctx.client.db;
    ctx.state.touch_all_watched(db, None);
    let n = ctx.db().len() as u64;
    ctx.db().clear();
    ctx.add_dirty(n);
    ctx.reply.ok();
    Ok(())
}

/// FLUSHALL [ASYNC|SYNC]
fn flushall(ctx: &mut Ctx) -> CmdResult {
    flush_mode(ctx)?;
    for db in 0..ctx.state.keyspace.dbs.len() {
        ctx.state.touch_all_watched(db, None);
    }
    let mut n = 0;
    for db in ctx.state.keyspace.dbs.iter_mut() {
        n += db.len() as u64;
        db.clear();
    }
    ctx.add_dirty(n);
    ctx.reply.ok();
    Ok(())
}

const W: Flags = Flags::WRITE;
const R: Flags = Flags::READONLY;

pub static TABLE: &[CommandSpec] = &[
    CommandSpec::new("del", -2, W, Keys::all_from(1), del).doc(
        "generic",
        "1.0.0",
        "Deletes one or more keys.",
    ),
    CommandSpec::new("exists", -2, R.or(Flags::FAST), Keys::all_from(1), exists).doc(
        "generic",
        "1.0.0",
        "Determines whether one or more keys exist.",
    ),
    CommandSpec::new("flushdb", -1, W, Keys::None, flushdb).doc(
        "server",
        "1.0.0",
        "Removes all keys from the current database.",
    ),
    CommandSpec::new("flushall", -1, W, Keys::None, flushall).doc(
        "server",
        "1.0.0",
        "Removes all keys from all databases.",
    ),
];
