//! Lua scripting (EVAL, EVALSHA, SCRIPT), as Redis 7.0 runs it.
//!
//! One Lua 5.1 VM (mlua, vendored) lives in [`State::scripting`], created
//! on first use and dropped by SCRIPT FLUSH. Scripts are compiled once
//! (chunk name `@user_script`) and cached by SHA1. A script runs inside
//! the EVAL handler, under the state lock, so it is atomic; the
//! functions it calls (`redis.call`...) are created per run with
//! [`mlua::Lua::scope`] so they can borrow the state and the client.
//!
//! The sandbox (`init.lua`) reproduces Redis's globals and read-only
//! tables. The bundled libraries (cjson, cmsgpack, bit, struct) are in
//! [`libs`]; RESP <-> Lua conversions in [`convert`].
//!
//! Busy scripts: [`ScriptStatus`] holds atomics shared with the
//! connection tasks (through `Shared::script`). While a script runs
//! longer than `busy-reply-threshold`, [`busy_gate`] answers other
//! clients `-BUSY` without taking the state lock, and handles SCRIPT
//! KILL by setting a flag the Lua hook checks.

pub mod convert;
pub mod functions;
pub mod libs;
mod libs_json;
mod libs_msgpack;
mod libs_struct;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use mlua::{
    Function, HookTriggers, LightUserData, Lua, LuaOptions, MultiValue, StdLib, Table, Value,
    Variadic, VmState,
};

use crate::client::Client;
use crate::command::{Ctx, Flags};
use crate::error::{CmdResult, Error};
use crate::reply::Reply;
use crate::server::State;

/// Redis version reported to scripts.
pub const REDIS_VERSION: &str = "7.0.15";
pub const REDIS_VERSION_NUM: i64 = 0x0007_000f;
/// Lua heap limit: a script allocating more fails with "not enough memory".
pub const LUA_MEMORY_LIMIT: usize = 1024 * 1024 * 1024;
/// Lua instructions between two checks of the kill flag.
const HOOK_EVERY: u32 = 10_000;
const KILL_MARK: &str = "\u{1}strata-script-killed";
/// Prefix of errors raised with a complete Redis error text (`ERR ...`),
/// as Redis raises its `{err=...}` tables.
const FULL_ERR: char = '\u{2}';

/// An error raised to the script with a full error text ("ERR ..."),
/// like Redis's `luaPushError` + `luaError`.
pub(crate) fn raise(msg: impl std::fmt::Display) -> mlua::Error {
    mlua::Error::RuntimeError(format!("{FULL_ERR}{msg}"))
}
const BUSY: &[u8] =
    b"-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n";
const BUSY_FUNCTION: &[u8] =
    b"-BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.\r\n";
const UNKILLABLE: &[u8] = b"-UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.\r\n";

/// What other connections may see of the running script, without the
/// state lock.
#[derive(Default, Debug)]
pub struct ScriptStatus {
    /// Unix ms when the running script started; 0 when none runs.
    pub running_since: AtomicI64,
    /// `busy-reply-threshold` when the script started (ms; 0 = never busy).
    pub threshold_ms: AtomicI64,
    /// The script ran a write command (SCRIPT KILL refuses then).
    pub wrote: AtomicBool,
    /// SCRIPT KILL asked the script to stop.
    pub kill: AtomicBool,
    /// The running script is a function (FCALL): the BUSY text and which
    /// KILL subcommand applies differ.
    pub function: AtomicBool,
    /// The running function's name and command line (FUNCTION STATS).
    pub current: Mutex<Option<(Bytes, Vec<Bytes>)>>,
    /// Loaded libraries and functions (FUNCTION STATS while busy).
    pub libraries: AtomicU64,
    pub functions: AtomicU64,
}

/// Scripting state kept in [`State`].
#[derive(Default)]
pub struct Scripting {
    pub status: Arc<ScriptStatus>,
    /// The Lua VM and script cache; `None` until the first script, and
    /// taken out while a script runs.
    pub engine: Option<Engine>,
    /// SHA1s of cached scripts (kept outside the engine so SCRIPT EXISTS
    /// works while the engine is checked out).
    pub shas: HashMap<String, ()>,
    /// Redis Functions: libraries and their own Lua VM.
    pub functions: functions::Functions,
}

struct Cached {
    func: Function,
    no_writes: bool,
}

/// The Lua VM with its sandbox and compiled scripts.
pub struct Engine {
    lua: Lua,
    genv: Table,
    globals: Table,
    /// The real `redis` table (call/pcall/setresp are set per run).
    redis: Table,
    runner: Function,
    handler: Function,
    scripts: HashMap<String, Cached>,
}

/// SHA1 of a script body, lower-case hex.
pub fn sha1hex(data: &[u8]) -> String {
    sha1_smol::Sha1::from(data).digest().to_string()
}

/// Redis's PRNG state for math.random: process-wide, starting from
/// rand48's default seed and never reset between scripts (7.0).
static RAND48: std::sync::LazyLock<Arc<AtomicU64>> =
    std::sync::LazyLock::new(|| Arc::new(AtomicU64::new(0x1234_ABCD_330E)));

/// Redis's `redisSrand48`.
fn srand48(seed: i32) -> u64 {
    ((seed as u32 as u64) << 16) | 0x330E
}

/// Redis's `redisLrand48`: the next 31-bit value.
fn lrand48(state: &AtomicU64) -> i64 {
    let x = state.load(Ordering::Relaxed);
    let next = (x.wrapping_mul(0x5_DEEC_E66D).wrapping_add(0xB)) & 0xFFFF_FFFF_FFFF;
    state.store(next, Ordering::Relaxed);
    (next >> 17) as i64
}

/// A library error, raised as a plain string (as `luaL_error` in C).
pub(crate) fn lib_error(lua: &Lua, msg: impl AsRef<[u8]>) -> mlua::Result<MultiValue> {
    Err(lib_err(lua, msg))
}

/// `luaL_error` from a library function: the caller's position, then
/// the message.
pub(crate) fn lib_err(lua: &Lua, msg: impl AsRef<[u8]>) -> mlua::Error {
    let mut text = String::new();
    if let Some(d) = lua.inspect_stack(1) {
        let line = d.curr_line();
        if line > 0 {
            let src = d.source();
            let short = src.short_src.as_deref().unwrap_or("?").to_string();
            text.push_str(&format!("{short}:{line}: "));
        }
    }
    text.push_str(&String::from_utf8_lossy(msg.as_ref()));
    mlua::Error::RuntimeError(text)
}

/// luaL_checkint-like: a number or numeric string, truncated.
pub(crate) fn check_number(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Integer(i) => Some(*i as f64),
        Value::Number(n) => Some(*n),
        Value::String(s) => {
            let b = s.as_bytes();
            let t = std::str::from_utf8(&b).ok()?.trim();
            if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
                return i64::from_str_radix(h, 16).ok().map(|i| i as f64);
            }
            t.parse::<f64>().ok()
        }
        _ => None,
    }
}

/// Lua 5.1 type name of a value (for "bad argument" messages).
pub(crate) fn type_name(v: Option<&Value>) -> &'static str {
    match v {
        None => "no value",
        Some(Value::Nil) => "nil",
        Some(Value::Boolean(_)) => "boolean",
        Some(Value::Integer(_)) | Some(Value::Number(_)) => "number",
        Some(Value::String(_)) => "string",
        Some(Value::Table(_)) => "table",
        Some(Value::Function(_)) => "function",
        Some(Value::Thread(_)) => "thread",
        Some(Value::LightUserData(_)) | Some(Value::UserData(_)) => "userdata",
        _ => "userdata",
    }
}

/// `bad argument #n to 'f' (number expected, got x)`.
pub(crate) fn bad_number(n: usize, f: &str, v: Option<&Value>) -> String {
    format!(
        "bad argument #{n} to '{f}' (number expected, got {})",
        type_name(v)
    )
}

fn root_message(e: &mlua::Error) -> String {
    match e {
        mlua::Error::CallbackError { cause, .. } => root_message(cause),
        mlua::Error::RuntimeError(s) => s.clone(),
        mlua::Error::MemoryError(s) => s.clone(),
        mlua::Error::WithContext { cause, .. } => root_message(cause),
        other => other.to_string(),
    }
}

impl Engine {
    /// Bytes used by this VM's Lua heap.
    pub fn used_memory(&self) -> usize {
        self.lua.used_memory()
    }

    fn new(status: Arc<ScriptStatus>) -> mlua::Result<Engine> {
        let lua = Lua::new_with(
            StdLib::TABLE | StdLib::STRING | StdLib::MATH,
            LuaOptions::default(),
        )?;
        let rand = RAND48.clone();

        let r = lua.create_table()?;
        r.raw_set("version", REDIS_VERSION)?;
        r.raw_set("version_num", REDIS_VERSION_NUM)?;
        r.raw_set(
            "null",
            Value::LightUserData(LightUserData(std::ptr::null_mut())),
        )?;
        r.raw_set(
            "sha1hex",
            lua.create_function(|_, args: Variadic<Value>| {
                if args.len() != 1 {
                    return Err(raise("ERR wrong number of arguments"));
                }
                Ok(match &args[0] {
                    Value::String(s) => sha1hex(&s.as_bytes()),
                    v @ (Value::Integer(_) | Value::Number(_)) => {
                        sha1hex(convert::lua_tostring_number(v).as_bytes())
                    }
                    _ => sha1hex(b""),
                })
            })?,
        )?;
        r.raw_set(
            "log",
            lua.create_function(|_, args: Variadic<Value>| {
                if args.len() < 2 {
                    return Err(raise("ERR redis.log() requires two arguments or more."));
                }
                let Some(level) = check_number(args.first()) else {
                    return Err(raise("ERR First argument must be a number (log level)."));
                };
                let level = level.trunc() as i64;
                if !(0..=3).contains(&level) {
                    return Err(raise("ERR Invalid debug level."));
                }
                let mut parts = Vec::new();
                for v in &args[1..] {
                    match v {
                        Value::String(s) => {
                            parts.push(String::from_utf8_lossy(&s.as_bytes()).into_owned())
                        }
                        Value::Integer(_) | Value::Number(_) => {
                            parts.push(convert::lua_tostring_number(v))
                        }
                        _ => {}
                    }
                }
                let text = parts.join(" ");
                match level {
                    3 => crate::log::warning(&text),
                    2 => crate::log::notice(&text),
                    _ => {}
                }
                Ok(())
            })?,
        )?;
        r.raw_set(
            "set_repl",
            lua.create_function(|_, args: Variadic<Value>| {
                if args.len() != 1 {
                    return Err(raise("ERR redis.set_repl() requires two arguments."));
                }
                let v = check_number(args.first()).unwrap_or(0.0).trunc() as i64;
                if v & !3 != 0 {
                    return Err(raise("ERR Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE."));
                }
                Ok(())
            })?,
        )?;
        r.raw_set(
            "errmsg",
            lua.create_function(|_, v: Value| {
                Ok(match v {
                    Value::Error(e) => Some(error_text(&e)),
                    _ => None,
                })
            })?,
        )?;
        let backing = lua.create_table()?;
        let weak = lua.create_table()?;
        weak.raw_set("__mode", "k")?;
        backing.set_metatable(Some(weak));
        lua.set_named_registry_value("strata.backing", backing.clone())?;
        r.raw_set("backing", backing)?;
        r.raw_set(
            "rawset",
            lua.create_function(|lua, (t, k, v): (Table, Value, Value)| {
                let backing: Table = lua.named_registry_value("strata.backing")?;
                if !backing.raw_get::<Value>(t.clone())?.is_nil() {
                    return Err(mlua::Error::RuntimeError(
                        "Attempt to modify a readonly table".into(),
                    ));
                }
                t.raw_set(k, v)?;
                Ok(t)
            })?,
        )?;
        r.raw_set(
            "setmetatable",
            lua.create_function(|lua, (t, m): (Table, Option<Table>)| {
                let backing: Table = lua.named_registry_value("strata.backing")?;
                if !backing.raw_get::<Value>(t.clone())?.is_nil() {
                    return Err(mlua::Error::RuntimeError(
                        "Attempt to modify a readonly table".into(),
                    ));
                }
                if let Some(mt) = t.metatable() {
                    if !mt.raw_get::<Value>("__metatable")?.is_nil() {
                        return Err(mlua::Error::RuntimeError(
                            "cannot change a protected metatable".into(),
                        ));
                    }
                }
                t.set_metatable(m);
                Ok(t)
            })?,
        )?;
        let rs = rand.clone();
        r.raw_set(
            "random",
            lua.create_function(move |lua, args: Variadic<Value>| {
                let max = i32::MAX as i64;
                let r = (lrand48(&rs) % max) as f64 / max as f64;
                let v = match args.len() {
                    0 => r,
                    1 => {
                        let Some(u) = check_number(args.first()) else {
                            return lib_error(lua, bad_number(1, "random", args.first()));
                        };
                        let u = u.trunc() as i64 as i32;
                        if u < 1 {
                            return lib_error(
                                lua,
                                "bad argument #1 to 'random' (interval is empty)",
                            );
                        }
                        (r * u as f64).floor() + 1.0
                    }
                    2 => {
                        let Some(l) = check_number(args.first()) else {
                            return lib_error(lua, bad_number(1, "random", args.first()));
                        };
                        let Some(u) = check_number(args.get(1)) else {
                            return lib_error(lua, bad_number(2, "random", args.get(1)));
                        };
                        let (l, u) = (l.trunc() as i64 as i32, u.trunc() as i64 as i32);
                        if l > u {
                            return lib_error(
                                lua,
                                "bad argument #2 to 'random' (interval is empty)",
                            );
                        }
                        (r * (u as f64 - l as f64 + 1.0)).floor() + l as f64
                    }
                    _ => return lib_error(lua, "wrong number of arguments"),
                };
                Ok(MultiValue::from_iter([Value::Number(v)]))
            })?,
        )?;
        let rs = rand.clone();
        r.raw_set(
            "randomseed",
            lua.create_function(move |lua, args: Variadic<Value>| {
                let Some(s) = check_number(args.first()) else {
                    return lib_error(lua, bad_number(1, "randomseed", args.first()));
                };
                rs.store(srand48(s.trunc() as i64 as i32), Ordering::Relaxed);
                Ok(MultiValue::new())
            })?,
        )?;
        r.raw_set(
            "acl_check_cmd",
            lua.create_function(|_, args: Variadic<Value>| {
                if args.is_empty() {
                    return Err(raise(
                        "ERR Please specify at least one argument for this redis lib call",
                    ));
                }
                let Some(argv) = convert::lua_args(&args) else {
                    return Err(raise(
                        "ERR Lua redis lib command arguments must be strings or integers",
                    ));
                };
                match resolve_for_script(&argv) {
                    Ok(_) | Err(ResolveError::Arity) => Ok(true),
                    Err(ResolveError::Unknown) => {
                        Err(raise("ERR Invalid command passed to redis.acl_check_cmd()"))
                    }
                }
            })?,
        )?;
        r.raw_set("handler", lua.create_function(error_handler)?)?;
        let st = status.clone();
        r.raw_set(
            "killed",
            lua.create_function(move |_, ()| Ok(st.kill.load(Ordering::Relaxed)))?,
        )?;
        r.raw_set(
            "rekill",
            lua.create_function(|_, ()| -> mlua::Result<()> {
                Err(mlua::Error::RuntimeError(KILL_MARK.to_string()))
            })?,
        )?;
        r.raw_set("cjson", libs::cjson(&lua)?)?;
        r.raw_set("cmsgpack", libs::cmsgpack(&lua)?)?;
        r.raw_set("bit", libs::bit(&lua)?)?;
        r.raw_set("struct", libs::structlib(&lua)?)?;

        let (genv, globals, redis): (Table, Table, Table) = lua
            .load(include_str!("init.lua"))
            .set_name("=strata")
            .call(r)?;
        let handler: Function = globals.raw_get("__redis__err__handler")?;
        let runner = lua
            .load("local f, h = ... return xpcall(f, h)")
            .set_name("=strata")
            .into_function()?;
        let st = status.clone();
        lua.set_hook(
            HookTriggers::new().every_nth_instruction(HOOK_EVERY),
            move |_, _| {
                if st.kill.load(Ordering::Relaxed) {
                    Err(mlua::Error::RuntimeError(KILL_MARK.to_string()))
                } else {
                    Ok(VmState::Continue)
                }
            },
        );
        lua.set_memory_limit(LUA_MEMORY_LIMIT)?;
        Ok(Engine {
            lua,
            genv,
            globals,
            redis,
            runner,
            handler,
            scripts: HashMap::new(),
        })
    }

    /// Compiles and caches a script; returns its SHA1.
    fn compile(&mut self, body: &[u8]) -> Result<String, Error> {
        let sha = sha1hex(body);
        if self.scripts.contains_key(&sha) {
            return Ok(sha);
        }
        let (code, no_writes) = parse_shebang(body)?;
        let func = self
            .lua
            .load(code)
            .set_name("@user_script")
            .set_environment(self.genv.clone())
            .into_function()
            .map_err(|e| {
                let msg = match &e {
                    mlua::Error::SyntaxError { message, .. } => message.clone(),
                    other => root_message(other),
                };
                Error::err(format!("Error compiling script (new function): {msg}"))
            })?;
        self.scripts.insert(sha.clone(), Cached { func, no_writes });
        Ok(sha)
    }
}

/// Splits a `#!lua flags=...` first line off; the line itself becomes
/// empty so line numbers in errors stay right.
fn parse_shebang(body: &[u8]) -> Result<(&[u8], bool), Error> {
    if !body.starts_with(b"#!") {
        return Ok((body, false));
    }
    let end = body.iter().position(|&b| b == b'\n').unwrap_or(body.len());
    let line = String::from_utf8_lossy(&body[..end]).into_owned();
    let mut parts = line.split(' ').filter(|p| !p.is_empty());
    let engine = parts.next().unwrap_or("");
    if engine != "#!lua" {
        return Err(Error::err(format!(
            "Unexpected engine in script shebang: {engine}"
        )));
    }
    let mut no_writes = false;
    for p in parts {
        let Some(flags) = p.strip_prefix("flags=") else {
            return Err(Error::err(format!("Unknown lua shebang option: {p}")));
        };
        for f in flags.split(',').filter(|f| !f.is_empty()) {
            match f {
                "no-writes" => no_writes = true,
                "allow-oom" | "allow-stale" | "no-cluster" | "allow-cross-slot-keys" => {}
                _ => {
                    return Err(Error::err(format!(
                        "Unexpected flag in script shebang: {f}"
                    )))
                }
            }
        }
    }
    Ok((&body[end..], no_writes))
}

/// The error handler scripts run under (`__redis__err__handler`): turns
/// the error into `{err=..., source=..., line=...}` with the position of
/// the user code that raised it.
/// The text a raised mlua error stands for ("ERR ..." included).
fn error_text(e: &mlua::Error) -> String {
    let m = root_message(e);
    if m == KILL_MARK {
        "ERR Script killed by user with SCRIPT KILL...".to_string()
    } else if let Some(full) = m.strip_prefix(FULL_ERR) {
        full.to_string()
    } else {
        format!("ERR {m}")
    }
}

fn error_handler(lua: &Lua, err: Value) -> mlua::Result<Table> {
    let t = match err {
        Value::Table(t) => t,
        Value::Error(e) => {
            let t = lua.create_table()?;
            t.set("err", error_text(&e))?;
            t
        }
        v => {
            let tostring: Function = lua.globals().raw_get("tostring")?;
            let s: mlua::String = tostring.call(v)?;
            let mut m = b"ERR ".to_vec();
            m.extend_from_slice(&s.as_bytes());
            let t = lua.create_table()?;
            t.set("err", lua.create_string(&m)?)?;
            t
        }
    };
    let mut level = 1;
    while let Some(d) = lua.inspect_stack(level) {
        level += 1;
        let src = d.source();
        // C functions and the "(tail call)" marks of tail calls made by
        // the sandbox (pcall) are not where the user code is.
        if src.what == "C" || src.what == "tail" {
            continue;
        }
        let source = src.source.as_deref().unwrap_or("").to_string();
        if source.starts_with("=strata") {
            continue;
        }
        let line = d.curr_line();
        t.set("source", source)?;
        t.set("line", line)?;
        break;
    }
    Ok(t)
}

pub(crate) enum ResolveError {
    Unknown,
    Arity,
}

/// Finds the command a script calls (subcommands included) and checks
/// its arity.
pub(crate) fn resolve_for_script(
    argv: &[Bytes],
) -> Result<&'static crate::command::CommandSpec, ResolveError> {
    let Some(cmd) = crate::command::table().get(&argv[0]) else {
        return Err(ResolveError::Unknown);
    };
    let cmd = if !cmd.subcommands.is_empty() && argv.len() >= 2 {
        match cmd.subcommand(&argv[1]) {
            Some(sub) => sub,
            None if argv[1].eq_ignore_ascii_case(b"help") => cmd,
            None => return Err(ResolveError::Unknown),
        }
    } else {
        cmd
    };
    if !cmd.arity_ok(argv.len()) {
        return Err(ResolveError::Arity);
    }
    Ok(cmd)
}

/// What the per-run functions borrow.
struct RunEnv<'a> {
    state: &'a mut State,
    client: &'a mut Client,
    resp: i64,
    read_only: bool,
    status: Arc<ScriptStatus>,
}

/// `redis.call` / `redis.pcall`: runs one command and converts its reply.
/// Returns (value, raise) where raise tells redis.call to raise `value`.
fn script_call(
    lua: &Lua,
    env: &mut RunEnv,
    raise_err: bool,
    args: Variadic<Value>,
) -> mlua::Result<Value> {
    let fail = |msg: &str| -> mlua::Result<Value> {
        let t = convert::error_table(lua, msg.as_bytes())?;
        if raise_err {
            let text: String = t.raw_get("err")?;
            return Err(raise(text));
        }
        Ok(Value::Table(t))
    };
    if args.is_empty() {
        return fail("Please specify at least one argument for this redis lib call");
    }
    let Some(argv) = convert::lua_args(&args) else {
        return fail("Lua redis lib command arguments must be strings or integers");
    };
    let cmd = match resolve_for_script(&argv) {
        Ok(c) => c,
        Err(ResolveError::Unknown) => return fail("Unknown Redis command called from script"),
        Err(ResolveError::Arity) => {
            return fail("Wrong number of args calling Redis command from script")
        }
    };
    if cmd.flags.has(Flags::NOSCRIPT) {
        env.state.stats.rejected(cmd.name);
        return fail("This Redis command is not allowed from script");
    }
    // Read-only scripts refuse may-replicate commands too (PUBLISH...).
    if env.read_only && cmd.flags.has(Flags::WRITE.or(Flags::MAY_REPLICATE)) {
        env.state.stats.rejected(cmd.name);
        return fail("Write commands are not allowed from read-only scripts.");
    }
    if cmd.flags.has(Flags::WRITE) {
        // The AOF is failing: MISCONF, as Redis's scriptVerifyWriteCommandAllow.
        if let Some(e) = crate::aof::deny_write(env.state, env.client, cmd) {
            env.state.stats.rejected(cmd.name);
            // With its code (Redis's message starts with "-MISCONF").
            return fail(&format!("-{}", e.text()));
        }
        env.status.wrote.store(true, Ordering::Relaxed);
    }
    let resp3 = env.resp == 3;
    let mut reply = Reply::new(resp3);
    let saved_resp3 = env.client.resp3;
    env.client.resp3 = resp3;
    let now = crate::server::now_ms();
    crate::command::call(env.state, env.client, &mut reply, cmd, &argv, now);
    env.client.resp3 = saved_resp3;
    let is_err = reply.buf.first() == Some(&b'-');
    let mut pos = 0;
    let v = convert::resp_to_lua(lua, &reply.buf, &mut pos)?;
    if raise_err && is_err {
        if let Value::Table(t) = &v {
            let text: mlua::String = t.raw_get("err")?;
            return Err(raise(String::from_utf8_lossy(&text.as_bytes())));
        }
    }
    Ok(v)
}

/// Which EVAL variant runs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum EvalKind {
    Eval,
    EvalSha,
}

/// EVAL / EVALSHA / EVAL_RO / EVALSHA_RO.
pub fn eval(ctx: &mut Ctx, kind: EvalKind, read_only: bool) -> CmdResult {
    let numkeys = crate::args::int(ctx.arg(2))?;
    if numkeys > (ctx.args.len() - 3) as i64 {
        return Err(Error::err(
            "Number of keys can't be greater than number of args",
        ));
    }
    if numkeys < 0 {
        return Err(Error::err("Number of keys can't be negative"));
    }
    let numkeys = numkeys as usize;
    // The script counts as running from here (other connections check
    // this without the lock), compilation included.
    let status = ctx.state.scripting.status.clone();
    status.start(ctx.state.config.get_int("busy-reply-threshold"));
    let result = run_long(|| eval_inner(ctx, kind, read_only, numkeys));
    status.running_since.store(0, Ordering::Relaxed);
    status.kill.store(false, Ordering::Relaxed);
    result
}

impl ScriptStatus {
    /// Marks a script (or function) as running from now: other
    /// connections read this without the lock (BUSY, SCRIPT KILL).
    pub fn start(&self, threshold_ms: i64) {
        self.wrote.store(false, Ordering::Relaxed);
        self.kill.store(false, Ordering::Relaxed);
        self.threshold_ms.store(threshold_ms, Ordering::Relaxed);
        self.running_since
            .store(crate::server::now_ms().max(1), Ordering::Relaxed);
    }
}

/// Runs a script body. It may run long while this worker thread holds the
/// state lock: on a multi-threaded runtime this worker's other tasks are
/// handed to another thread so the runtime keeps serving (BUSY replies,
/// SCRIPT KILL).
pub fn run_long<R>(f: impl FnOnce() -> R) -> R {
    let multi_thread = tokio::runtime::Handle::try_current()
        .map(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread)
        .unwrap_or(false);
    if multi_thread {
        tokio::task::block_in_place(f)
    } else {
        f()
    }
}

fn eval_inner(ctx: &mut Ctx, kind: EvalKind, read_only: bool, numkeys: usize) -> CmdResult {
    let mut engine = match ctx.state.scripting.engine.take() {
        Some(e) => e,
        None => Engine::new(ctx.state.scripting.status.clone())
            .map_err(|e| Error::err(format!("Failed to start Lua: {e}")))?,
    };
    let result = run(ctx, &mut engine, kind, read_only, numkeys);
    ctx.state.scripting.engine = Some(engine);
    result
}

fn run(
    ctx: &mut Ctx,
    engine: &mut Engine,
    kind: EvalKind,
    read_only: bool,
    numkeys: usize,
) -> CmdResult {
    let sha = match kind {
        EvalKind::Eval => {
            let body = ctx.arg(1).clone();
            let sha = engine.compile(&body)?;
            ctx.state.scripting.shas.insert(sha.clone(), ());
            sha
        }
        EvalKind::EvalSha => {
            let sha = String::from_utf8_lossy(ctx.arg(1)).to_ascii_lowercase();
            if sha.len() != 40 || !engine.scripts.contains_key(&sha) {
                return Err(Error::custom(
                    "NOSCRIPT No matching script. Please use EVAL.",
                ));
            }
            sha
        }
    };
    let Some(cached) = engine.scripts.get(&sha) else {
        return Err(Error::custom(
            "NOSCRIPT No matching script. Please use EVAL.",
        ));
    };
    let func = cached.func.clone();
    let read_only = read_only || cached.no_writes;

    let lua = engine.lua.clone();
    let to_lua_err =
        |e: mlua::Error| Error::err(format!("Error running script {sha}, {}", root_message(&e)));
    let keys = lua.create_table().map_err(to_lua_err)?;
    for (i, k) in ctx.args[3..3 + numkeys].iter().enumerate() {
        keys.raw_set(i + 1, lua.create_string(k).map_err(to_lua_err)?)
            .map_err(to_lua_err)?;
    }
    let argv = lua.create_table().map_err(to_lua_err)?;
    for (i, a) in ctx.args[3 + numkeys..].iter().enumerate() {
        argv.raw_set(i + 1, lua.create_string(a).map_err(to_lua_err)?)
            .map_err(to_lua_err)?;
    }
    engine.globals.raw_set("KEYS", keys).map_err(to_lua_err)?;
    engine.globals.raw_set("ARGV", argv).map_err(to_lua_err)?;
    let args = MultiValue::from_iter([
        Value::Function(func),
        Value::Function(engine.handler.clone()),
    ]);
    execute(
        ctx,
        Run {
            lua: &lua,
            redis: &engine.redis,
            runner: &engine.runner,
            args,
            name: &sha,
            read_only,
        },
    )
}

/// One script or function call, ready to run.
pub(crate) struct Run<'a> {
    pub lua: &'a Lua,
    /// The VM's real `redis` table (call/pcall/setresp are set per run).
    pub redis: &'a Table,
    /// Lua function returning `xpcall(...)`'s first two results.
    pub runner: &'a Function,
    /// The runner's arguments.
    pub args: MultiValue,
    /// Script SHA1 or function name, for error texts.
    pub name: &'a str,
    pub read_only: bool,
}

/// Runs a script or function body with `redis.call` & co. bound to this
/// client, and writes its reply (or error, in Redis's format).
pub(crate) fn execute(ctx: &mut Ctx, run: Run) -> CmdResult {
    let Run {
        lua,
        redis,
        runner,
        args,
        name: sha,
        read_only,
    } = run;
    let status = ctx.state.scripting.status.clone();
    status.wrote.store(false, Ordering::Relaxed);
    status.kill.store(false, Ordering::Relaxed);
    status.threshold_ms.store(
        ctx.state.config.get_int("busy-reply-threshold"),
        Ordering::Relaxed,
    );
    status
        .running_since
        .store(ctx.now_ms.max(1), Ordering::Relaxed);

    let saved_db = ctx.client.db;
    let saved_deny = ctx.client.deny_blocking;
    ctx.client.deny_blocking = true;
    let env = Mutex::new(RunEnv {
        state: &mut *ctx.state,
        client: &mut *ctx.client,
        resp: 2,
        read_only,
        status: status.clone(),
    });
    let outcome: mlua::Result<(bool, Value, i64)> = lua.scope(|scope| {
        let call = scope.create_function(|lua, args: Variadic<Value>| {
            let mut env = env
                .lock()
                .map_err(|_| mlua::Error::runtime("script env poisoned"))?;
            script_call(lua, &mut env, true, args)
        })?;
        let pcall = scope.create_function(|lua, args: Variadic<Value>| {
            let mut env = env
                .lock()
                .map_err(|_| mlua::Error::runtime("script env poisoned"))?;
            script_call(lua, &mut env, false, args)
        })?;
        let setresp = scope.create_function(|_, args: Variadic<Value>| {
            if args.len() != 1 {
                return Err(raise("ERR redis.setresp() requires one argument."));
            }
            let v = check_number(args.first()).unwrap_or(0.0).trunc() as i64;
            if v != 2 && v != 3 {
                return Err(raise("ERR RESP version must be 2 or 3."));
            }
            if let Ok(mut env) = env.lock() {
                env.resp = v;
            }
            Ok(())
        })?;
        redis.raw_set("call", call)?;
        redis.raw_set("pcall", pcall)?;
        redis.raw_set("setresp", setresp)?;
        let res = runner.call::<(bool, Value)>(args);
        let (ok, v) = res?;
        let resp = env.lock().map(|e| e.resp).unwrap_or(2);
        Ok((ok, v, resp))
    });
    drop(env);
    ctx.client.db = saved_db;
    ctx.client.deny_blocking = saved_deny;
    let result = match outcome {
        Ok((true, v, resp)) => {
            convert::lua_to_reply(ctx.reply, &v, resp == 3, 0);
            Ok(())
        }
        Ok((false, Value::Table(t), _)) => {
            let msg = match t.get::<Value>("err") {
                Ok(Value::String(s)) => String::from_utf8_lossy(&s.as_bytes()).into_owned(),
                Ok(v @ (Value::Integer(_) | Value::Number(_))) => convert::lua_number_string(&v),
                _ => "ERR unknown error".to_string(),
            };
            let source = t.get::<Option<mlua::String>>("source").ok().flatten();
            let line = t.get::<Value>("line").ok();
            let mut text = msg;
            if let (Some(source), Some(line)) = (source, line) {
                let line = match &line {
                    Value::Integer(_) | Value::Number(_) => Some(convert::lua_number_string(&line)),
                    Value::String(s) => Some(String::from_utf8_lossy(&s.as_bytes()).into_owned()),
                    _ => None,
                };
                if let Some(line) = line {
                    text.push_str(&format!(
                        " script: {sha}, on {}:{line}.",
                        String::from_utf8_lossy(&source.as_bytes())
                    ));
                }
            }
            Err(Error::custom(text))
        }
        Ok((false, v, _)) => {
            let msg = match &v {
                Value::String(s) => String::from_utf8_lossy(&s.as_bytes()).into_owned(),
                _ => "execution failure".to_string(),
            };
            let msg: String = msg.chars().take(100).collect();
            Err(Error::err(format!(
                "Error running script {sha}, {}",
                msg.trim_end_matches(['\r', '\n'])
            )))
        }
        Err(e) => Err(Error::err(format!(
            "Error running script {sha}, {}",
            root_message(&e)
        ))),
    };
    if lua.used_memory() > LUA_MEMORY_LIMIT / 4 {
        let _ = lua.gc_collect();
        let _ = lua.gc_collect();
    }
    result
}

/// SCRIPT LOAD body
pub fn script_load(ctx: &mut Ctx) -> CmdResult {
    let mut engine = match ctx.state.scripting.engine.take() {
        Some(e) => e,
        None => Engine::new(ctx.state.scripting.status.clone())
            .map_err(|e| Error::err(format!("Failed to start Lua: {e}")))?,
    };
    let body = ctx.arg(2).clone();
    let res = engine.compile(&body);
    ctx.state.scripting.engine = Some(engine);
    let sha = res?;
    ctx.state.scripting.shas.insert(sha.clone(), ());
    ctx.reply.bulk(sha.as_bytes());
    Ok(())
}

/// Whether a script is cached.
pub fn script_exists(state: &State, sha: &[u8]) -> bool {
    let sha = String::from_utf8_lossy(sha).to_ascii_lowercase();
    state.scripting.shas.contains_key(&sha)
}

/// SCRIPT FLUSH: drops the VM (a new one starts with the next script).
pub fn script_flush(state: &mut State) {
    state.scripting.engine = None;
    state.scripting.shas.clear();
}

/// Waits (without blocking the worker thread) until no script runs.
pub async fn wait_idle(status: &ScriptStatus) {
    while status.running_since.load(Ordering::Relaxed) != 0 {
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
}

/// Answers one command received while a script is busy.
fn busy_reply(status: &ScriptStatus, args: &[Bytes], out: &mut Vec<u8>) {
    let is = |i: usize, word: &[u8]| args.get(i).is_some_and(|a| a.eq_ignore_ascii_case(word));
    let sub = |cmd: &[u8], name: &[u8]| args.len() == 2 && is(0, cmd) && is(1, name);
    let function = status.function.load(Ordering::Relaxed);
    let script_kill = sub(b"script", b"kill");
    let function_kill = sub(b"function", b"kill");
    let busy = if function { BUSY_FUNCTION } else { BUSY };
    if sub(b"function", b"stats") && function {
        functions::busy_stats(status, out);
    } else if !script_kill && !function_kill {
        out.extend_from_slice(busy);
    } else if status.running_since.load(Ordering::Relaxed) == 0 {
        out.extend_from_slice(b"-NOTBUSY No scripts in execution right now.\r\n");
    } else if status.wrote.load(Ordering::Relaxed) {
        out.extend_from_slice(UNKILLABLE);
    } else if script_kill && function {
        out.extend_from_slice(BUSY_FUNCTION);
    } else if function_kill && !function {
        out.extend_from_slice(BUSY);
    } else {
        status.kill.store(true, Ordering::Relaxed);
        out.extend_from_slice(b"+OK\r\n");
    }
}

fn busy_limits() -> crate::resp::Limits {
    crate::resp::Limits {
        max_bulk: 512 * 1024 * 1024,
        authenticated: true,
    }
}

/// For a connection accepted while a script runs (its admission needs
/// the state lock): waits without the lock and, once the script is busy,
/// answers the complete commands it sends (BUSY, SCRIPT KILL), consuming
/// only those bytes so the connection starts normally afterwards.
/// Returns false if the peer closed meanwhile (nothing to admit).
pub async fn admission_gate(status: &ScriptStatus, socket: &mut tokio::net::TcpStream) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut peeked = vec![0u8; 64 * 1024];
    loop {
        let since = status.running_since.load(Ordering::Relaxed);
        if since == 0 {
            return true;
        }
        let threshold = status.threshold_ms.load(Ordering::Relaxed);
        if threshold <= 0 || crate::server::now_ms() - since < threshold {
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            continue;
        }
        let n = tokio::select! {
            r = socket.peek(&mut peeked) => match r {
                Ok(n) if n > 0 => n,
                _ => return false,
            },
            _ = tokio::time::sleep(std::time::Duration::from_millis(5)) => continue,
        };
        let mut buf = BytesMut::from(&peeked[..n]);
        let mut parser = crate::resp::Parser::new();
        let mut out = Vec::new();
        let mut complete = 0;
        while let Ok(Some(args)) = parser.next(&mut buf, busy_limits()) {
            busy_reply(status, &args, &mut out);
            complete = n - buf.len();
        }
        if complete == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            continue;
        }
        let mut drain = vec![0u8; complete];
        if socket.read_exact(&mut drain).await.is_err() || socket.write_all(&out).await.is_err() {
            return false;
        }
    }
}

/// Called by a connection before it takes the state lock: while a script
/// runs, waits without the lock, and once the script has run longer than
/// `busy-reply-threshold` answers queued commands with `-BUSY` (SCRIPT
/// KILL is handled here). Returns false when the connection closed.
pub async fn busy_gate(
    status: &ScriptStatus,
    rd: &mut tokio::net::tcp::OwnedReadHalf,
    wr: &mut tokio::net::tcp::OwnedWriteHalf,
    buf: &mut BytesMut,
    parser: &mut crate::resp::Parser,
) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    loop {
        let since = status.running_since.load(Ordering::Relaxed);
        if since == 0 {
            return true;
        }
        let threshold = status.threshold_ms.load(Ordering::Relaxed);
        if threshold <= 0 {
            return true;
        }
        if crate::server::now_ms() - since < threshold {
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            continue;
        }
        let mut out = Vec::new();
        while let Ok(Some(args)) = parser.next(buf, busy_limits()) {
            busy_reply(status, &args, &mut out);
        }
        if !out.is_empty() && wr.write_all(&out).await.is_err() {
            // The connection's cleanup takes the lock: wait for the script.
            wait_idle(status).await;
            return false;
        }
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(16 * 1024);
        }
        tokio::select! {
            n = rd.read_buf(buf) => {
                if !matches!(n, Ok(k) if k > 0) {
                    wait_idle(status).await;
                    return false;
                }
            }
            _ = tokio::time::sleep(std::time::Duration::from_millis(5)) => {}
        }
    }
}
