//! Redis Functions (7.0): libraries of Lua functions loaded with
//! FUNCTION LOAD and called with FCALL / FCALL_RO.
//!
//! Libraries live in their own Lua VM (as Redis's function engine has its
//! own `lua_State`), built from the same sandbox as EVAL's
//! ([`super::Engine`]). Every library's code runs with one shared,
//! read-only globals table whose reads go through to:
//!
//! * while loading (FUNCTION LOAD / RESTORE / dump.rdb): the library API,
//!   which holds nothing but `redis` with `register_function`, `log`, the
//!   `LOG_*` levels and the version fields;
//! * while a function runs: the EVAL globals (the full `redis` API,
//!   `string`, `cjson`...), minus `KEYS`/`ARGV`: functions get their keys
//!   and arguments as their two parameters.
//!
//! A function runs like a script ([`super::execute`]): same `redis.call`,
//! same busy-script machinery ([`super::ScriptStatus`] with `function`
//! set, so other clients get the FUNCTION KILL flavour of `-BUSY`).
//!
//! The API other modules use: [`dump_all`] (every library's code, for
//! dump.rdb and later AOF rewrites) and [`load_code`] (create a library
//! from its code, as when loading dump.rdb or replaying FUNCTION LOAD).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use mlua::{Function, HookTriggers, MultiValue, Table, Value, Variadic, VmState};

use super::{
    convert, error_text, execute, raise, root_message, Engine, Run, ScriptStatus, HOOK_EVERY,
    KILL_MARK,
};
use crate::command::Ctx;
use crate::error::{CmdResult, Error};
use crate::reply::Reply;
use crate::server::State;

/// The one engine, as FUNCTION LIST and FUNCTION STATS name it.
pub const ENGINE: &str = "LUA";
/// FUNCTION LOAD gives up on library code running longer than this.
const LOAD_TIMEOUT: Duration = Duration::from_millis(500);
/// Instructions between two checks of the load timeout (Redis's value).
const LOAD_HOOK_EVERY: u32 = 100_000;

/// Function flags, in Redis's order (`scripts_flags_def`).
pub const FLAGS: [(u8, &str); 5] = [
    (NO_WRITES, "no-writes"),
    (1 << 1, "allow-oom"),
    (1 << 2, "allow-stale"),
    (1 << 3, "no-cluster"),
    (1 << 4, "allow-cross-slot-keys"),
];
pub const NO_WRITES: u8 = 1;

/// Redis 7.0 uses this text for invalid function names too.
const BAD_NAME: &str = "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long";

/// One registered function.
pub struct FunctionDef {
    pub name: Bytes,
    pub desc: Option<Bytes>,
    pub flags: u8,
    func: Function,
}

/// One library: its code as loaded and its functions in registration
/// order.
pub struct Library {
    pub name: Bytes,
    pub code: Bytes,
    pub functions: Vec<FunctionDef>,
}

/// A set of libraries with the index of their function names (function
/// names are unique across libraries, compared without case, as Redis's
/// functions dictionary does).
#[derive(Default)]
struct LibSet {
    libraries: BTreeMap<Bytes, Library>,
    index: HashMap<Vec<u8>, Bytes>,
}

fn lower(b: &[u8]) -> Vec<u8> {
    b.to_ascii_lowercase()
}

impl LibSet {
    fn link(&mut self, lib: Library) {
        for f in &lib.functions {
            self.index.insert(lower(&f.name), lib.name.clone());
        }
        self.libraries.insert(lib.name.clone(), lib);
    }

    fn unlink(&mut self, name: &[u8]) -> Option<Library> {
        let lib = self.libraries.remove(name)?;
        for f in &lib.functions {
            self.index.remove(&lower(&f.name));
        }
        Some(lib)
    }

    fn function(&self, name: &[u8]) -> Option<&FunctionDef> {
        let lib = self.index.get(&lower(name))?;
        self.libraries
            .get(lib)?
            .functions
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
    }

    fn function_count(&self) -> usize {
        self.index.len()
    }
}

/// The functions' Lua VM.
struct Vm {
    engine: Engine,
    /// Metatable of the libraries' globals: `__index` is the library API
    /// while loading, the EVAL globals while running.
    env_mt: Table,
    env: Table,
    lib_api: Table,
    /// Where each run binds `call`, `pcall` and `setresp` (the `redis`
    /// table's own entries forward to it).
    current: Table,
    /// `f, h, keys, args` -> `xpcall(function() return f(keys, args) end, h)`.
    runner: Function,
    /// `f` -> `pcall(f)`.
    loader: Function,
    /// Functions registered by the library being loaded; `None` outside
    /// a load (register_function then fails, as in Redis).
    loading: Arc<Mutex<Option<Vec<FunctionDef>>>>,
    status: Arc<ScriptStatus>,
}

/// Functions state kept in [`super::Scripting`].
#[derive(Default)]
pub struct Functions {
    vm: Option<Vm>,
    set: LibSet,
}

const SANDBOX: &str = r#"
local G, register, log, version, version_num, backing = ...
local error, tostring, setmetatable = error, tostring, setmetatable
local function ro_newindex()
  error("Attempt to modify a readonly table", 2)
end
local function missing(_, k)
  error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
end
local function view(t)
  local p = {}
  setmetatable(p, { __index = t, __newindex = ro_newindex, __metatable = false })
  backing[p] = t
  return p
end
local api = {
  register_function = register, log = log,
  LOG_DEBUG = 0, LOG_VERBOSE = 1, LOG_NOTICE = 2, LOG_WARNING = 3,
  REDIS_VERSION = version, REDIS_VERSION_NUM = version_num,
}
setmetatable(api, { __index = missing })
local lib = { redis = view(api) }
setmetatable(lib, { __index = missing })
local LIB = view(lib)
local env = {}
local mt = { __index = G, __newindex = ro_newindex, __metatable = false }
setmetatable(env, mt)
backing[env] = {}
return env, mt, LIB
"#;

const RUNNER: &str = "local f, h, k, a = ... \
    return xpcall(function() local r = f(k, a) return r end, h)";

impl Vm {
    fn new(status: Arc<ScriptStatus>) -> mlua::Result<Vm> {
        let engine = Engine::new(status.clone())?;
        let lua = engine.lua.clone();
        let loading: Arc<Mutex<Option<Vec<FunctionDef>>>> = Arc::new(Mutex::new(None));
        let slot = loading.clone();
        let register = lua.create_function(move |_, args: Variadic<Value>| {
            let mut guard = slot
                .lock()
                .map_err(|_| mlua::Error::runtime("function load poisoned"))?;
            let Some(list) = guard.as_mut() else {
                return Err(raise(
                    "ERR redis.register_function can only be called on FUNCTION LOAD command",
                ));
            };
            let f = read_registration(&args).map_err(|m| raise(format!("ERR {m}")))?;
            if !valid_name(&f.name) {
                return Err(raise(format!("ERR {BAD_NAME}")));
            }
            if list.iter().any(|g| g.name.eq_ignore_ascii_case(&f.name)) {
                return Err(raise("ERR Function already exists in the library"));
            }
            list.push(f);
            Ok(())
        })?;
        let log: Function = engine.redis.raw_get("log")?;
        let backing: Table = lua.named_registry_value("strata.backing")?;
        let current = lua.create_table()?;
        let (env, env_mt, lib_api): (Table, Table, Table) =
            lua.load(SANDBOX).set_name("=strata").call((
                engine.genv.clone(),
                register,
                log,
                super::REDIS_VERSION,
                super::REDIS_VERSION_NUM,
                backing,
            ))?;
        // Library code may keep redis.call & co. (in upvalues) across
        // calls: the real functions are bound per run in `current`, and
        // these forwarders (C functions, like Redis's, so a tail call to
        // them keeps the caller's frame for error positions) stay valid.
        for name in ["call", "pcall", "setresp"] {
            let slot = current.clone();
            let forward = lua.create_function(move |_, args: MultiValue| {
                let f: Function = slot.raw_get(name)?;
                f.call::<MultiValue>(args)
            })?;
            engine.redis.raw_set(name, forward)?;
        }
        let runner = lua.load(RUNNER).set_name("=strata").into_function()?;
        let loader = lua
            .load("local f = ... return pcall(f)")
            .set_name("=strata")
            .into_function()?;
        Ok(Vm {
            engine,
            env_mt,
            env,
            lib_api,
            current,
            runner,
            loader,
            loading,
            status,
        })
    }

    /// The hook while functions run: stop when FUNCTION KILL asks.
    fn run_hook(&self) {
        let st = self.status.clone();
        self.engine.lua.set_hook(
            HookTriggers::new().every_nth_instruction(HOOK_EVERY),
            move |_, _| {
                if st.kill.load(Ordering::Relaxed) {
                    Err(mlua::Error::RuntimeError(KILL_MARK.to_string()))
                } else {
                    Ok(VmState::Continue)
                }
            },
        );
    }

    /// Compiles and runs a library body (the code after the shebang
    /// line), collecting the functions it registers.
    fn load(&self, body: &[u8], timeout: bool) -> Result<Vec<FunctionDef>, String> {
        let lua = &self.engine.lua;
        let chunk = lua
            .load(body)
            .set_name("@user_function")
            .set_environment(self.env.clone())
            .into_function()
            .map_err(|e| {
                let msg = match &e {
                    mlua::Error::SyntaxError { message, .. } => message.clone(),
                    other => root_message(other),
                };
                format!("Error compiling function: {msg}")
            })?;
        let set_loading = |v: Option<Vec<FunctionDef>>| -> Option<Vec<FunctionDef>> {
            match self.loading.lock() {
                Ok(mut g) => std::mem::replace(&mut *g, v),
                Err(_) => None,
            }
        };
        set_loading(Some(Vec::new()));
        let _ = self.env_mt.raw_set("__index", self.lib_api.clone());
        let started = Instant::now();
        lua.set_hook(
            HookTriggers::new().every_nth_instruction(LOAD_HOOK_EVERY),
            move |_, _| {
                if timeout && started.elapsed() > LOAD_TIMEOUT {
                    Err(raise("ERR FUNCTION LOAD timeout"))
                } else {
                    Ok(VmState::Continue)
                }
            },
        );
        let outcome = self.loader.call::<(bool, Value)>(chunk);
        self.run_hook();
        let _ = self.env_mt.raw_set("__index", self.engine.genv.clone());
        let registered = set_loading(None).unwrap_or_default();
        let msg = match outcome {
            Ok((true, _)) => return Ok(registered),
            Ok((false, Value::String(s))) => format!("ERR {}", s.to_string_lossy()),
            Ok((false, Value::Error(e))) => error_text(&e),
            Ok((false, Value::Table(t))) => match t.raw_get::<Value>("err") {
                Ok(Value::String(s)) => s.to_string_lossy(),
                _ => "ERR unknown error".to_string(),
            },
            Ok((false, v @ (Value::Integer(_) | Value::Number(_)))) => {
                format!("ERR {}", convert::lua_tostring_number(&v))
            }
            Ok((false, _)) => "ERR unknown error".to_string(),
            Err(e) => error_text(&e),
        };
        Err(format!("Error registering functions: {msg}"))
    }
}

/// `[A-Za-z0-9_]+`.
fn valid_name(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'_')
}

/// `luaGetStringSds`: strings and numbers (converted as Lua does).
fn lua_string(v: &Value) -> Option<Bytes> {
    match v {
        Value::String(s) => Some(Bytes::copy_from_slice(&s.as_bytes())),
        Value::Integer(_) | Value::Number(_) => {
            Some(Bytes::from(convert::lua_tostring_number(v).into_bytes()))
        }
        _ => None,
    }
}

/// The arguments of `redis.register_function`: `(name, callback)` or one
/// table of named arguments. Errors are Redis's texts (without `ERR`).
fn read_registration(args: &[Value]) -> Result<FunctionDef, &'static str> {
    match args {
        [named] => read_named(named),
        [name, callback] => {
            let name = lua_string(name)
                .ok_or("first argument to redis.register_function must be a string")?;
            let Value::Function(func) = callback else {
                return Err("second argument to redis.register_function must be a function");
            };
            Ok(FunctionDef {
                name,
                desc: None,
                flags: 0,
                func: func.clone(),
            })
        }
        _ => Err("wrong number of arguments to redis.register_function"),
    }
}

fn read_named(v: &Value) -> Result<FunctionDef, &'static str> {
    let Value::Table(t) = v else {
        return Err("calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).");
    };
    let (mut name, mut desc, mut func, mut flags) = (None, None, None, 0u8);
    for pair in t.clone().pairs::<Value, Value>() {
        let Ok((k, v)) = pair else {
            return Err("named argument key given to redis.register_function is not a string");
        };
        let key = lua_string(&k)
            .ok_or("named argument key given to redis.register_function is not a string")?;
        if key.eq_ignore_ascii_case(b"function_name") {
            name = Some(lua_string(&v).ok_or(
                "function_name argument given to redis.register_function must be a string",
            )?);
        } else if key.eq_ignore_ascii_case(b"description") {
            desc =
                Some(lua_string(&v).ok_or(
                    "description argument given to redis.register_function must be a string",
                )?);
        } else if key.eq_ignore_ascii_case(b"callback") {
            let Value::Function(f) = v else {
                return Err(
                    "callback argument given to redis.register_function must be a function",
                );
            };
            func = Some(f);
        } else if key.eq_ignore_ascii_case(b"flags") {
            let Value::Table(list) = v else {
                return Err("flags argument to redis.register_function must be a table representing function flags");
            };
            flags = read_flags(&list).ok_or("unknown flag given")?;
        } else {
            return Err("unknown argument given to redis.register_function");
        }
    }
    let name = name.ok_or("redis.register_function must get a function name argument")?;
    let func = func.ok_or("redis.register_function must get a callback argument")?;
    Ok(FunctionDef {
        name,
        desc,
        flags,
        func,
    })
}

/// `flags={...}`: names from index 1 up to the first nil.
fn read_flags(list: &Table) -> Option<u8> {
    let mut flags = 0;
    for i in 1.. {
        let v: Value = list.raw_get(i).ok()?;
        if v.is_nil() {
            break;
        }
        let s = lua_string(&v)?;
        let (bit, _) = FLAGS
            .iter()
            .find(|(_, n)| s.eq_ignore_ascii_case(n.as_bytes()))?;
        flags |= bit;
    }
    Some(flags)
}

/// Library metadata from the shebang line: (name, engine, body offset).
fn metadata(code: &[u8]) -> Result<(Bytes, Vec<u8>, usize), String> {
    if !code.starts_with(b"#!") {
        return Err("Missing library metadata".into());
    }
    // strchr: a NUL before the newline ends the C string.
    let end = match code.iter().position(|&b| b == b'\n' || b == 0) {
        Some(i) if code[i] == b'\n' => i,
        _ => return Err("Invalid library metadata".into()),
    };
    let parts = match crate::resp::split_args(&code[..end]) {
        Some(p) if !p.is_empty() => p,
        _ => return Err("Invalid library metadata".into()),
    };
    let engine = parts[0].get(2..).unwrap_or_default().to_vec();
    let mut name = None;
    for part in &parts[1..] {
        if part.len() >= 5 && part[..5].eq_ignore_ascii_case(b"name=") {
            if name.is_some() {
                return Err(
                    "Invalid metadata value, name argument was given multiple times".into(),
                );
            }
            name = Some(Bytes::copy_from_slice(&part[5..]));
            continue;
        }
        return Err(format!(
            "Invalid metadata value given: {}",
            String::from_utf8_lossy(part)
        ));
    }
    let name = name.ok_or("Library name was not given")?;
    Ok((name, engine, end))
}

/// `functionsCreateWithLibraryCtx`: creates a library from its code in
/// `set`. Returns the library name, or Redis's error text (no `ERR`).
fn create(
    vm: &Vm,
    set: &mut LibSet,
    code: &Bytes,
    replace: bool,
    timeout: bool,
) -> Result<Bytes, String> {
    let (name, engine, body) = metadata(code)?;
    if !valid_name(&name) {
        return Err(BAD_NAME.into());
    }
    if !engine.eq_ignore_ascii_case(ENGINE.as_bytes()) {
        return Err(format!(
            "Engine '{}' not found",
            String::from_utf8_lossy(&engine)
        ));
    }
    let old = if set.libraries.contains_key(&name) {
        if !replace {
            return Err(format!(
                "Library '{}' already exists",
                String::from_utf8_lossy(&name)
            ));
        }
        set.unlink(&name)
    } else {
        None
    };
    let built = vm.load(&code[body..], timeout).and_then(|functions| {
        if functions.is_empty() {
            return Err("No functions registered".to_string());
        }
        if let Some(f) = functions
            .iter()
            .find(|f| set.index.contains_key(&lower(&f.name)))
        {
            return Err(format!(
                "Function {} already exists",
                String::from_utf8_lossy(&f.name)
            ));
        }
        Ok(Library {
            name: name.clone(),
            code: code.clone(),
            functions,
        })
    });
    match built {
        Ok(lib) => {
            set.link(lib);
            Ok(name)
        }
        Err(e) => {
            if let Some(old) = old {
                set.link(old);
            }
            Err(e)
        }
    }
}

impl Functions {
    fn vm(&mut self, status: &Arc<ScriptStatus>) -> Result<&Vm, Error> {
        if self.vm.is_none() {
            let vm = Vm::new(status.clone())
                .map_err(|e| Error::err(format!("Failed to start Lua: {e}")))?;
            self.vm = Some(vm);
        }
        self.vm
            .as_ref()
            .ok_or_else(|| Error::err("Failed to start Lua"))
    }

    /// Publishes the counts FUNCTION STATS reads while a function runs.
    fn counted(&self, status: &ScriptStatus) {
        status
            .libraries
            .store(self.set.libraries.len() as u64, Ordering::Relaxed);
        status
            .functions
            .store(self.set.function_count() as u64, Ordering::Relaxed);
    }

    pub fn library_count(&self) -> usize {
        self.set.libraries.len()
    }

    pub fn function_count(&self) -> usize {
        self.set.function_count()
    }

    /// Bytes of the functions VM (`used_memory_vm_functions`).
    pub fn vm_memory(&self) -> usize {
        self.vm.as_ref().map_or(0, |v| v.engine.lua.used_memory())
    }

    /// Bookkeeping estimate (`used_memory_functions`): library code,
    /// names and descriptions plus fixed per-entry overheads.
    pub fn memory(&self) -> usize {
        200 + self
            .set
            .libraries
            .values()
            .map(|l| {
                96 + l.name.len()
                    + l.code.len()
                    + l.functions
                        .iter()
                        .map(|f| 112 + 2 * f.name.len() + f.desc.as_ref().map_or(0, |d| d.len()))
                        .sum::<usize>()
            })
            .sum::<usize>()
    }
}

/// Every library's code (for dump.rdb, FUNCTION DUMP and AOF rewrites).
pub fn dump_all(state: &State) -> Vec<Bytes> {
    state
        .scripting
        .functions
        .set
        .libraries
        .values()
        .map(|l| l.code.clone())
        .collect()
}

/// Creates a library from its code, as loading dump.rdb (or replaying
/// FUNCTION LOAD) does: no load timeout. Returns the library name or
/// Redis's error text.
pub fn load_code(state: &mut State, code: &Bytes, replace: bool) -> Result<Bytes, String> {
    let status = state.scripting.status.clone();
    let f = &mut state.scripting.functions;
    f.vm(&status).map_err(|e| e.text().into_owned())?;
    let Functions { vm: Some(vm), set } = f else {
        return Err("Failed to start Lua".into());
    };
    let r = create(vm, set, code, replace, false);
    f.counted(&status);
    r
}

// ------------------------------------------------------------- commands

/// FUNCTION LOAD [REPLACE] code
pub fn function_load(ctx: &mut Ctx) -> CmdResult {
    let mut replace = false;
    let mut i = 2;
    while i < ctx.args.len() - 1 {
        if ctx.args[i].eq_ignore_ascii_case(b"replace") {
            replace = true;
            i += 1;
            continue;
        }
        return Err(Error::err(format!(
            "Unknown option given: {}",
            String::from_utf8_lossy(&ctx.args[i])
        )));
    }
    let code = ctx.args[i].clone();
    let status = ctx.state.scripting.status.clone();
    let f = &mut ctx.state.scripting.functions;
    f.vm(&status)?;
    let Functions { vm: Some(vm), set } = f else {
        return Err(Error::err("Failed to start Lua"));
    };
    let r = create(vm, set, &code, replace, true);
    f.counted(&status);
    let name = r.map_err(Error::err)?;
    ctx.state.dirty += 1;
    ctx.reply.bulk(&name);
    Ok(())
}

/// FUNCTION DELETE library-name
pub fn function_delete(ctx: &mut Ctx) -> CmdResult {
    let status = ctx.state.scripting.status.clone();
    let f = &mut ctx.state.scripting.functions;
    if f.set.unlink(ctx.args[2].as_ref()).is_none() {
        return Err(Error::err("Library not found"));
    }
    f.counted(&status);
    ctx.state.dirty += 1;
    ctx.reply.ok();
    Ok(())
}

fn subcommand_syntax_error(ctx: &Ctx) -> Error {
    Error::err(format!(
        "unknown subcommand or wrong number of arguments for '{}'. Try {} HELP.",
        String::from_utf8_lossy(&ctx.args[1]),
        String::from_utf8_lossy(&ctx.args[0]).to_uppercase()
    ))
}

/// Drops every library and the functions VM (a new one starts with the
/// next load).
fn flush(state: &mut State) {
    let status = state.scripting.status.clone();
    state.scripting.functions = Functions::default();
    state.scripting.functions.counted(&status);
}

/// FUNCTION FLUSH [ASYNC|SYNC]
pub fn function_flush(ctx: &mut Ctx) -> CmdResult {
    if ctx.args.len() > 3 {
        return Err(subcommand_syntax_error(ctx));
    }
    if ctx.args.len() == 3
        && !ctx.args[2].eq_ignore_ascii_case(b"sync")
        && !ctx.args[2].eq_ignore_ascii_case(b"async")
    {
        return Err(Error::err("FUNCTION FLUSH only supports SYNC|ASYNC option"));
    }
    flush(ctx.state);
    ctx.state.dirty += 1;
    ctx.reply.ok();
    Ok(())
}

/// FUNCTION LIST [LIBRARYNAME library-name-pattern] [WITHCODE]
pub fn function_list(ctx: &mut Ctx) -> CmdResult {
    let mut with_code = false;
    let mut pattern: Option<&Bytes> = None;
    let mut i = 2;
    while i < ctx.args.len() {
        let a = &ctx.args[i];
        if !with_code && a.eq_ignore_ascii_case(b"withcode") {
            with_code = true;
        } else if pattern.is_none() && a.eq_ignore_ascii_case(b"libraryname") {
            if i >= ctx.args.len() - 1 {
                return Err(Error::err("library name argument was not given"));
            }
            i += 1;
            pattern = Some(&ctx.args[i]);
        } else {
            return Err(Error::err(format!(
                "Unknown argument {}",
                String::from_utf8_lossy(a)
            )));
        }
        i += 1;
    }
    let libs: Vec<&Library> = ctx
        .state
        .scripting
        .functions
        .set
        .libraries
        .values()
        .filter(|l| pattern.is_none_or(|p| strata_storage::glob::glob_match(p, &l.name, true)))
        .collect();
    let reply = &mut *ctx.reply;
    reply.array(libs.len());
    for lib in libs {
        reply.map(if with_code { 4 } else { 3 });
        reply.bulk(b"library_name");
        reply.bulk(&lib.name);
        reply.bulk(b"engine");
        reply.bulk(ENGINE.as_bytes());
        reply.bulk(b"functions");
        reply.array(lib.functions.len());
        for f in &lib.functions {
            reply.map(3);
            reply.bulk(b"name");
            reply.bulk(&f.name);
            reply.bulk(b"description");
            match &f.desc {
                Some(d) => reply.bulk(d),
                None => reply.null(),
            }
            reply.bulk(b"flags");
            let names: Vec<&str> = FLAGS
                .iter()
                .filter(|(bit, _)| f.flags & bit != 0)
                .map(|(_, n)| *n)
                .collect();
            reply.set(names.len());
            for n in names {
                reply.simple(n);
            }
        }
        if with_code {
            reply.bulk(b"library_code");
            reply.bulk(&lib.code);
        }
    }
    Ok(())
}

/// FUNCTION DUMP
pub fn function_dump(ctx: &mut Ctx) -> CmdResult {
    let codes = dump_all(ctx.state);
    let compress = ctx.state.config.get_bool("rdbcompression");
    let payload = strata_storage::rdb::functions::dump(&codes, compress);
    ctx.reply.bulk(&payload);
    Ok(())
}

/// FUNCTION RESTORE serialized-value [FLUSH|APPEND|REPLACE]
pub fn function_restore(ctx: &mut Ctx) -> CmdResult {
    if ctx.args.len() > 4 {
        return Err(subcommand_syntax_error(ctx));
    }
    #[derive(PartialEq)]
    enum Policy {
        Append,
        Replace,
        Flush,
    }
    let policy = match ctx.args.get(3) {
        None => Policy::Append,
        Some(p) if p.eq_ignore_ascii_case(b"append") => Policy::Append,
        Some(p) if p.eq_ignore_ascii_case(b"replace") => Policy::Replace,
        Some(p) if p.eq_ignore_ascii_case(b"flush") => Policy::Flush,
        Some(_) => {
            return Err(Error::err(
                "Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
            ))
        }
    };
    let restored = strata_storage::rdb::functions::restore(&ctx.args[2])
        .map_err(|_| Error::err("DUMP payload version or checksum are wrong"))?;
    let status = ctx.state.scripting.status.clone();
    let f = &mut ctx.state.scripting.functions;
    f.vm(&status)?;
    let Functions { vm: Some(vm), set } = f else {
        return Err(Error::err("Failed to start Lua"));
    };
    let mut incoming = LibSet::default();
    for code in &restored.codes {
        create(vm, &mut incoming, code, false, false).map_err(Error::err)?;
    }
    if let Some(e) = restored.error {
        return Err(Error::err(e));
    }
    if policy == Policy::Flush {
        *set = incoming;
    } else {
        join(set, incoming, policy == Policy::Replace).map_err(Error::err)?;
    }
    f.counted(&status);
    ctx.state.dirty += 1;
    ctx.reply.ok();
    Ok(())
}

/// `libraryJoin`: adds `src`'s libraries to `dst`, replacing same-named
/// ones when `replace`; all or nothing.
fn join(dst: &mut LibSet, src: LibSet, replace: bool) -> Result<(), String> {
    let mut old = Vec::new();
    let mut failure = None;
    for name in src.libraries.keys() {
        if dst.libraries.contains_key(name) {
            if !replace {
                failure = Some(format!(
                    "Library {} already exists",
                    String::from_utf8_lossy(name)
                ));
                break;
            }
            old.extend(dst.unlink(name));
        }
    }
    if failure.is_none() {
        failure = src
            .libraries
            .values()
            .flat_map(|l| l.functions.iter())
            .find(|f| dst.index.contains_key(&lower(&f.name)))
            .map(|f| {
                format!(
                    "Function {} already exists",
                    String::from_utf8_lossy(&f.name)
                )
            });
    }
    if let Some(e) = failure {
        for lib in old {
            dst.link(lib);
        }
        return Err(e);
    }
    for (_, lib) in src.libraries {
        dst.link(lib);
    }
    Ok(())
}

/// Writes the engines part of FUNCTION STATS.
fn stats_engines(reply: &mut Reply, libraries: u64, functions: u64) {
    reply.bulk(b"engines");
    reply.map(1);
    reply.bulk(ENGINE.as_bytes());
    reply.map(2);
    reply.bulk(b"libraries_count");
    reply.int(libraries as i64);
    reply.bulk(b"functions_count");
    reply.int(functions as i64);
}

/// FUNCTION STATS (no function is running: a running one holds the lock
/// and is reported by [`busy_stats`]).
pub fn function_stats(ctx: &mut Ctx) -> CmdResult {
    let f = &ctx.state.scripting.functions;
    let (l, n) = (f.library_count() as u64, f.function_count() as u64);
    ctx.reply.map(2);
    ctx.reply.bulk(b"running_script");
    ctx.reply.null();
    stats_engines(ctx.reply, l, n);
    Ok(())
}

/// FUNCTION STATS answered by the busy gate while a function runs
/// (RESP2 shapes: the gate does not know the client's protocol).
pub(crate) fn busy_stats(status: &ScriptStatus, out: &mut Vec<u8>) {
    let mut reply = Reply::new(false);
    reply.map(2);
    reply.bulk(b"running_script");
    let current = status.current.lock().ok().and_then(|c| c.clone());
    match current {
        Some((name, argv)) => {
            reply.map(3);
            reply.bulk(b"name");
            reply.bulk(&name);
            reply.bulk(b"command");
            reply.array(argv.len());
            for a in &argv {
                reply.bulk(a);
            }
            reply.bulk(b"duration_ms");
            let since = status.running_since.load(Ordering::Relaxed);
            reply.int((crate::server::now_ms() - since).max(0));
        }
        None => reply.null(),
    }
    stats_engines(
        &mut reply,
        status.libraries.load(Ordering::Relaxed),
        status.functions.load(Ordering::Relaxed),
    );
    out.extend_from_slice(&reply.buf);
}

/// FUNCTION KILL: a running function holds the state lock, so one that
/// gets here found none (busy functions are killed by the busy gate).
pub fn function_kill(_ctx: &mut Ctx) -> CmdResult {
    Err(Error::custom("NOTBUSY No scripts in execution right now."))
}

/// FCALL / FCALL_RO function numkeys [key ...] [arg ...]
pub fn fcall(ctx: &mut Ctx, ro_command: bool) -> CmdResult {
    let Some(def) = ctx.state.scripting.functions.set.function(&ctx.args[1]) else {
        return Err(Error::err("Function not found"));
    };
    let numkeys = strata_storage::num::parse_i64(&ctx.args[2])
        .ok_or_else(|| Error::err("Bad number of keys provided"))?;
    if numkeys > (ctx.args.len() - 3) as i64 {
        return Err(Error::err(
            "Number of keys can't be greater than number of args",
        ));
    }
    if numkeys < 0 {
        return Err(Error::err("Number of keys can't be negative"));
    }
    let no_writes = def.flags & NO_WRITES != 0;
    if !no_writes && ro_command {
        return Err(Error::err(
            "Can not execute a script with write flag using *_ro command.",
        ));
    }
    let func = def.func.clone();
    let name = def.name.clone();
    let status = ctx.state.scripting.status.clone();
    if let Ok(mut c) = status.current.lock() {
        *c = Some((name.clone(), ctx.args.to_vec()));
    }
    status.function.store(true, Ordering::Relaxed);
    status.start(ctx.state.config.get_int("busy-reply-threshold"));
    let numkeys = numkeys as usize;
    let result = super::run_long(|| run(ctx, func, &name, numkeys, ro_command || no_writes));
    status.running_since.store(0, Ordering::Relaxed);
    status.kill.store(false, Ordering::Relaxed);
    status.function.store(false, Ordering::Relaxed);
    if let Ok(mut c) = status.current.lock() {
        *c = None;
    }
    result
}

fn run(ctx: &mut Ctx, func: Function, name: &[u8], numkeys: usize, read_only: bool) -> CmdResult {
    let name = String::from_utf8_lossy(name).into_owned();
    let Some(vm) = ctx.state.scripting.functions.vm.as_ref() else {
        return Err(Error::err("Function not found"));
    };
    let lua = vm.engine.lua.clone();
    let redis = vm.current.clone();
    let runner = vm.runner.clone();
    let handler = vm.engine.handler.clone();
    let to_err =
        |e: mlua::Error| Error::err(format!("Error running script {name}, {}", root_message(&e)));
    let keys = lua.create_table().map_err(to_err)?;
    for (i, k) in ctx.args[3..3 + numkeys].iter().enumerate() {
        keys.raw_set(i + 1, lua.create_string(k).map_err(to_err)?)
            .map_err(to_err)?;
    }
    let argv = lua.create_table().map_err(to_err)?;
    for (i, a) in ctx.args[3 + numkeys..].iter().enumerate() {
        argv.raw_set(i + 1, lua.create_string(a).map_err(to_err)?)
            .map_err(to_err)?;
    }
    let args = MultiValue::from_iter([
        Value::Function(func),
        Value::Function(handler),
        Value::Table(keys),
        Value::Table(argv),
    ]);
    execute(
        ctx,
        Run {
            lua: &lua,
            redis: &redis,
            runner: &runner,
            args,
            name: &name,
            read_only,
        },
    )
}

/// FUNCTION HELP
pub fn function_help(ctx: &mut Ctx) -> CmdResult {
    const LINES: &[&str] = &[
        "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "LOAD [REPLACE] <FUNCTION CODE>",
        "    Create a new library with the given library name and code.",
        "DELETE <LIBRARY NAME>",
        "    Delete the given library.",
        "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
        "    Return general information on all the libraries:",
        "    * Library name",
        "    * The engine used to run the Library",
        "    * Library description",
        "    * Functions list",
        "    * Library code (if WITHCODE is given)",
        "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
        "STATS",
        "    Return information about the current function running:",
        "    * Function name",
        "    * Command used to run the function",
        "    * Duration in MS that the function is running",
        "    If no function is running, return nil",
        "    In addition, returns a list of available engines.",
        "KILL",
        "    Kill the current running function.",
        "FLUSH [ASYNC|SYNC]",
        "    Delete all the libraries.",
        "    When called without the optional mode argument, the behavior is determined by the",
        "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
        "    * ASYNC: Asynchronously flush the libraries.",
        "    * SYNC: Synchronously flush the libraries.",
        "DUMP",
        "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
        "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
        "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
        "    control how to handle existing libraries (default APPEND):",
        "    * FLUSH: delete all existing libraries.",
        "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
        "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
        "      libraries with the new libraries (notice that even on this option there is a chance of failure",
        "      in case of functions name collision with another library).",
        "HELP",
        "    Prints this help.",
    ];
    ctx.reply.array(LINES.len());
    for l in LINES {
        ctx.reply.simple(l);
    }
    Ok(())
}
