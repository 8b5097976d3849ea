//! Scripting commands: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO, SCRIPT.
//! The engine is in `crate::scripting`.

use bytes::Bytes;

use crate::command::{CommandSpec, Ctx, Flags, Keys};
use crate::error::{CmdResult, Error};
use crate::scripting::{self, EvalKind};

/// Keys of EVAL-style commands: `numkeys` keys after argument 2.
fn eval_keys(args: &[Bytes]) -> Vec<usize> {
    let Some(n) = args.get(2).and_then(|a| strata_storage::num::parse_i64(a)) else {
        return Vec::new();
    };
    if n <= 0 || n as usize > args.len().saturating_sub(3) {
        return Vec::new();
    }
    (3..3 + n as usize).collect()
}

/// EVAL script numkeys [key ...] [arg ...]
fn eval(ctx: &mut Ctx) -> CmdResult {
    scripting::eval(ctx, EvalKind::Eval, false)
}

/// EVALSHA sha1 numkeys [key ...] [arg ...]
fn evalsha(ctx: &mut Ctx) -> CmdResult {
    scripting::eval(ctx, EvalKind::EvalSha, false)
}

/// EVAL_RO script numkeys [key ...] [arg ...]
fn eval_ro(ctx: &mut Ctx) -> CmdResult {
    scripting::eval(ctx, EvalKind::Eval, true)
}

/// EVALSHA_RO sha1 numkeys [key ...] [arg ...]
fn evalsha_ro(ctx: &mut Ctx) -> CmdResult {
    scripting::eval(ctx, EvalKind::EvalSha, true)
}

/// SCRIPT LOAD script
fn script_load(ctx: &mut Ctx) -> CmdResult {
    scripting::script_load(ctx)
}

/// SCRIPT EXISTS sha1 [sha1 ...]
fn script_exists(ctx: &mut Ctx) -> CmdResult {
    let n = ctx.args.len() - 2;
    ctx.reply.array(n);
    for i in 2..ctx.args.len() {
        let found = scripting::script_exists(ctx.state, &ctx.args[i]);
        ctx.reply.int(i64::from(found));
    }
    Ok(())
}

/// SCRIPT FLUSH [ASYNC|SYNC]
fn script_flush(ctx: &mut Ctx) -> CmdResult {
    if ctx.args.len() > 3
        || (ctx.args.len() == 3
            && !ctx.arg(2).eq_ignore_ascii_case(b"sync")
            && !ctx.arg(2).eq_ignore_ascii_case(b"async"))
    {
        return Err(Error::err("SCRIPT FLUSH only support SYNC|ASYNC option"));
    }
    scripting::script_flush(ctx.state);
    ctx.reply.ok();
    Ok(())
}

/// SCRIPT KILL
fn script_kill(_ctx: &mut Ctx) -> CmdResult {
    // A running script holds the state lock, so a SCRIPT KILL that gets
    // here found none: busy scripts are killed by the connection's busy
    // gate (`crate::scripting::busy_gate`).
    Err(Error::custom("NOTBUSY No scripts in execution right now."))
}

/// SCRIPT HELP
fn script_help(ctx: &mut Ctx) -> CmdResult {
    const LINES: &[&str] = &[
        "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "DEBUG (YES|SYNC|NO)",
        "    Set the debug mode for subsequent scripts executed.",
        "EXISTS <sha1> [<sha1> ...]",
        "    Return information about the existence of the scripts in the script cache.",
        "FLUSH [ASYNC|SYNC]",
        "    Flush the Lua scripts cache. Very dangerous on replicas.",
        "    When called without the optional mode argument, the behavior is determined by the",
        "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
        "    * ASYNC: Asynchronously flush the scripts cache.",
        "    * SYNC: Synchronously flush the scripts cache.",
        "KILL",
        "    Kill the currently executing Lua script.",
        "LOAD <script>",
        "    Load a script into the scripts cache without executing it.",
        "HELP",
        "    Prints this help.",
    ];
    ctx.reply.array(LINES.len());
    for l in LINES {
        ctx.reply.simple(l);
    }
    Ok(())
}

/// SCRIPT (container)
fn script(ctx: &mut Ctx) -> CmdResult {
    script_help(ctx)
}

const EVAL_KEYS: Keys = Keys::Custom {
    legacy: (0, 0, 0),
    find: eval_keys,
};

const EVAL_FLAGS: Flags = Flags::NOSCRIPT
    .or(Flags::SKIP_MONITOR)
    .or(Flags::MAY_REPLICATE)
    .or(Flags::NO_MANDATORY_KEYS)
    .or(Flags::STALE);
const EVAL_RO_FLAGS: Flags = Flags::NOSCRIPT
    .or(Flags::SKIP_MONITOR)
    .or(Flags::NO_MANDATORY_KEYS)
    .or(Flags::STALE)
    .or(Flags::READONLY);

static SCRIPT_SUBS: &[CommandSpec] = &[
    CommandSpec::new(
        "script|load",
        3,
        Flags::NOSCRIPT.or(Flags::STALE),
        Keys::None,
        script_load,
    )
    .doc(
        "scripting",
        "2.6.0",
        "Loads a server-side Lua script to the script cache.",
    ),
    CommandSpec::new(
        "script|exists",
        -3,
        Flags::NOSCRIPT,
        Keys::None,
        script_exists,
    )
    .doc(
        "scripting",
        "2.6.0",
        "Determines whether server-side Lua scripts exist in the script cache.",
    ),
    CommandSpec::new(
        "script|flush",
        -2,
        Flags::NOSCRIPT,
        Keys::None,
        script_flush,
    )
    .doc(
        "scripting",
        "2.6.0",
        "Removes all server-side Lua scripts from the script cache.",
    ),
    CommandSpec::new(
        "script|kill",
        2,
        Flags::NOSCRIPT.or(Flags::ALLOW_BUSY),
        Keys::None,
        script_kill,
    )
    .doc(
        "scripting",
        "2.6.0",
        "Terminates a server-side Lua script during execution.",
    ),
    CommandSpec::new(
        "script|help",
        2,
        Flags::LOADING.or(Flags::STALE),
        Keys::None,
        script_help,
    )
    .doc(
        "scripting",
        "5.0.0",
        "Returns helpful text about the different subcommands.",
    ),
];

pub static TABLE: &[CommandSpec] = &[
    CommandSpec::new("eval", -3, EVAL_FLAGS, EVAL_KEYS, eval).doc(
        "scripting",
        "2.6.0",
        "Executes a server-side Lua script.",
    ),
    CommandSpec::new("evalsha", -3, EVAL_FLAGS, EVAL_KEYS, evalsha).doc(
        "scripting",
        "2.6.0",
        "Executes a server-side Lua script by SHA1 digest.",
    ),
    CommandSpec::new("eval_ro", -3, EVAL_RO_FLAGS, EVAL_KEYS, eval_ro).doc(
        "scripting",
        "7.0.0",
        "Executes a read-only server-side Lua script.",
    ),
    CommandSpec::new("evalsha_ro", -3, EVAL_RO_FLAGS, EVAL_KEYS, evalsha_ro).doc(
        "scripting",
        "7.0.0",
        "Executes a read-only server-side Lua script by SHA1 digest.",
    ),
    CommandSpec::new("script", -2, Flags::NONE, Keys::None, script)
        .doc(
            "scripting",
            "2.6.0",
            "A container for Lua scripts management commands.",
        )
        .subs(SCRIPT_SUBS),
];
