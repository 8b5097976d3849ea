//! Redis Functions commands: FCALL, FCALL_RO and FUNCTION
//! (LOAD, LIST, DELETE, FLUSH, DUMP, RESTORE, STATS, KILL, HELP).
//! The engine is in `crate::scripting::functions`.

use bytes::Bytes;

use crate::command::{CommandSpec, Ctx, Flags, Keys};
use crate::error::CmdResult;
use crate::scripting::functions as f;

/// Keys of FCALL: `numkeys` keys after argument 2 (as EVAL).
fn fcall_keys(args: &[Bytes]) -> Vec<usize> {
    let Some(n) = args.get(2).and_then(|a| strata_storage::num::parse_i64(a)) else {
        return Vec::new();
    };
    if n <= 0 || n as usize > args.len().saturating_sub(3) {
        return Vec::new();
    }
    (3..3 + n as usize).collect()
}

/// What MONITOR is fed for FCALL (before the commands it runs, as Redis
/// does; the spec itself skips MONITOR so the line is not repeated).
static MONITOR_LINE: CommandSpec = CommandSpec::new("fcall", -3, Flags::NONE, Keys::None, fcall);

fn feed_monitors(ctx: &mut Ctx) {
    let (args, now) = (ctx.args, ctx.now_ms);
    ctx.state
        .feed_monitors(ctx.client, args, now, &MONITOR_LINE);
}

/// FCALL function numkeys [key ...] [arg ...]
fn fcall(ctx: &mut Ctx) -> CmdResult {
    feed_monitors(ctx);
    f::fcall(ctx, false)
}

/// FCALL_RO function numkeys [key ...] [arg ...]
fn fcall_ro(ctx: &mut Ctx) -> CmdResult {
    feed_monitors(ctx);
    f::fcall(ctx, true)
}

/// FUNCTION LOAD [REPLACE] function-code
fn function_load(ctx: &mut Ctx) -> CmdResult {
    f::function_load(ctx)
}

/// FUNCTION DELETE library-name
fn function_delete(ctx: &mut Ctx) -> CmdResult {
    f::function_delete(ctx)
}

/// FUNCTION FLUSH [ASYNC|SYNC]
fn function_flush(ctx: &mut Ctx) -> CmdResult {
    f::function_flush(ctx)
}

/// FUNCTION LIST [LIBRARYNAME library-name-pattern] [WITHCODE]
fn function_list(ctx: &mut Ctx) -> CmdResult {
    f::function_list(ctx)
}

/// FUNCTION DUMP
fn function_dump(ctx: &mut Ctx) -> CmdResult {
    f::function_dump(ctx)
}

/// FUNCTION RESTORE serialized-value [FLUSH|APPEND|REPLACE]
fn function_restore(ctx: &mut Ctx) -> CmdResult {
    f::function_restore(ctx)
}

/// FUNCTION STATS
fn function_stats(ctx: &mut Ctx) -> CmdResult {
    f::function_stats(ctx)
}

/// FUNCTION KILL
fn function_kill(ctx: &mut Ctx) -> CmdResult {
    f::function_kill(ctx)
}

/// FUNCTION HELP
fn function_help(ctx: &mut Ctx) -> CmdResult {
    f::function_help(ctx)
}

/// FUNCTION (container)
fn function(ctx: &mut Ctx) -> CmdResult {
    f::function_help(ctx)
}

const FCALL_KEYS: Keys = Keys::Custom {
    legacy: (0, 0, 0),
    find: fcall_keys,
};

const FCALL_FLAGS: Flags = Flags::NOSCRIPT
    .or(Flags::SKIP_MONITOR)
    .or(Flags::NO_MANDATORY_KEYS)
    .or(Flags::STALE);
const FCALL_RO_FLAGS: Flags = FCALL_FLAGS.or(Flags::READONLY);

static FUNCTION_SUBS: &[CommandSpec] = &[
    CommandSpec::new(
        "function|dump",
        2,
        Flags::NOSCRIPT,
        Keys::None,
        function_dump,
    )
    .doc(
        "scripting",
        "7.0.0",
        "Dumps all libraries into a serialized binary payload.",
    ),
    CommandSpec::new(
        "function|delete",
        3,
        Flags::NOSCRIPT.or(Flags::WRITE),
        Keys::None,
        function_delete,
    )
    .doc("scripting", "7.0.0", "Deletes a library and its functions."),
    CommandSpec::new(
        "function|list",
        -2,
        Flags::NOSCRIPT,
        Keys::None,
        function_list,
    )
    .doc(
        "scripting",
        "7.0.0",
        "Returns information about all libraries.",
    ),
    CommandSpec::new(
        "function|flush",
        -2,
        Flags::NOSCRIPT.or(Flags::WRITE),
        Keys::None,
        function_flush,
    )
    .doc("scripting", "7.0.0", "Deletes all libraries and functions."),
    CommandSpec::new(
        "function|kill",
        2,
        Flags::NOSCRIPT.or(Flags::ALLOW_BUSY),
        Keys::None,
        function_kill,
    )
    .doc(
        "scripting",
        "7.0.0",
        "Terminates a function during execution.",
    ),
    CommandSpec::new(
        "function|stats",
        2,
        Flags::NOSCRIPT.or(Flags::ALLOW_BUSY),
        Keys::None,
        function_stats,
    )
    .doc(
        "scripting",
        "7.0.0",
        "Returns information about a function during execution.",
    ),
    CommandSpec::new(
        "function|load",
        -3,
        Flags::NOSCRIPT.or(Flags::WRITE).or(Flags::DENYOOM),
        Keys::None,
        function_load,
    )
    .doc("scripting", "7.0.0", "Creates a library."),
    CommandSpec::new(
        "function|help",
        2,
        Flags::LOADING.or(Flags::STALE),
        Keys::None,
        function_help,
    )
    .doc(
        "scripting",
        "7.0.0",
        "Returns helpful text about the different subcommands.",
    ),
    CommandSpec::new(
        "function|restore",
        -3,
        Flags::NOSCRIPT.or(Flags::WRITE).or(Flags::DENYOOM),
        Keys::None,
        function_restore,
    )
    .doc(
        "scripting",
        "7.0.0",
        "Restores all libraries from a payload.",
    ),
];

pub static TABLE: &[CommandSpec] = &[
    CommandSpec::new("fcall", -3, FCALL_FLAGS, FCALL_KEYS, fcall).doc(
        "scripting",
        "7.0.0",
        "Invokes a function.",
    ),
    CommandSpec::new("fcall_ro", -3, FCALL_RO_FLAGS, FCALL_KEYS, fcall_ro).doc(
        "scripting",
        "7.0.0",
        "Invokes a read-only function.",
    ),
    CommandSpec::new("function", -2, Flags::NONE, Keys::None, function)
        .doc("scripting", "7.0.0", "A container for function commands.")
        .subs(FUNCTION_SUBS),
];
