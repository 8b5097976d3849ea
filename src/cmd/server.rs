//! Server commands: INFO, CONFIG, COMMAND, SHUTDOWN, DEBUG, ...

use crate::command::{CommandSpec, Ctx, Flags, Keys};
use crate::error::CmdResult;

/// SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]
fn shutdown(ctx: &mut Ctx) -> CmdResult {
    crate::log::warning("User requested shutdown...");
    let _ = ctx.state.shutdown.send(true);
    ctx.client.close_after_reply = true;
    Ok(())
}

pub static TABLE: &[CommandSpec] = &[CommandSpec::new(
    "shutdown",
    -1,
    Flags::ADMIN
        .or(Flags::NOSCRIPT)
        .or(Flags::LOADING)
        .or(Flags::STALE)
        .or(Flags::NO_MULTI),
    Keys::None,
    shutdown,
)
.doc(
    "server",
    "1.0.0",
    "Synchronously saves the database(s) to disk and shuts down the Redis server.",
)];
