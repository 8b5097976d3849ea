//! Persistence commands: SAVE, BGSAVE.

use crate::command::{CommandSpec, Ctx, Flags, Keys};
use crate::error::{CmdResult, Error};

/// SAVE
fn save(ctx: &mut Ctx) -> CmdResult {
    if ctx.state.rdb.bgsave_running {
        return Err(Error::err("Background save already in progress"));
    }
    match crate::persist::save(ctx.state) {
        Ok(()) => {
            ctx.reply.ok();
            Ok(())
        }
        Err(e) => {
            crate::log::warning(&format!("Failed saving the DB: {e}"));
            Err(Error::err(
                "Errors trying to save the DB, check the server logs for details",
            ))
        }
    }
}

/// BGSAVE [SCHEDULE]
fn bgsave(ctx: &mut Ctx) -> CmdResult {
    let schedule = match ctx.args.len() {
        1 => false,
        2 if crate::args::is(&ctx.args[1], "schedule") => true,
        _ => return Err(Error::Syntax),
    };
    if ctx.state.rdb.bgsave_running {
        if schedule {
            ctx.reply.simple("Background saving scheduled");
            return Ok(());
        }
        return Err(Error::err("Background save already in progress"));
    }
    match crate::persist::bgsave(ctx.state) {
        Ok(()) => {
            ctx.reply.simple("Background saving started");
            Ok(())
        }
        Err(e) => {
            crate::log::warning(&format!("Can't save in background: {e}"));
            Err(Error::err(
                "Background save failed, check the server logs for details",
            ))
        }
    }
}

/// BGREWRITEAOF
fn bgrewriteaof(ctx: &mut Ctx) -> CmdResult {
    if ctx.state.aof.rw.in_progress {
        return Err(Error::err(
            "Background append only file rewriting already in progress",
        ));
    }
    let mode = if ctx.state.aof.io.is_failed() {
        crate::aof::rewrite::Mode::Recover
    } else {
        crate::aof::rewrite::Mode::Normal
    };
    match crate::aof::rewrite::start(ctx.state, mode, None) {
        Ok(()) => {
            ctx.reply
                .simple("Background append only file rewriting started");
            Ok(())
        }
        Err(e) => {
            crate::log::warning(&format!("Can't rewrite the AOF: {e}"));
            Err(Error::err(
                "Can't execute an AOF background rewriting. Please check the server logs for more information.",
            ))
        }
    }
}

const SAVE_FLAGS: Flags = Flags::ADMIN.or(Flags::NOSCRIPT).or(Flags::NO_MULTI);

pub static TABLE: &[CommandSpec] = &[
    CommandSpec::new("save", 1, SAVE_FLAGS, Keys::None, save).doc(
        "server",
        "1.0.0",
        "Synchronously saves the database(s) to disk.",
    ),
    CommandSpec::new(
        "bgsave",
        -1,
        Flags::ADMIN.or(Flags::NOSCRIPT),
        Keys::None,
        bgsave,
    )
    .doc(
        "server",
        "1.0.0",
        "Asynchronously saves the database(s) to disk.",
    ),
    CommandSpec::new(
        "bgrewriteaof",
        1,
        Flags::ADMIN.or(Flags::NOSCRIPT),
        Keys::None,
        bgrewriteaof,
    )
    .doc(
        "server",
        "1.0.0",
        "Asynchronously rewrites the append-only file to disk.",
    ),
];
