//! The command table and the dispatcher.
//!
//! Every command is declared once, as a [`CommandSpec`]: name, arity,
//! typed flags, where its keys are, and its handler. Each family file in
//! `src/cmd/` ends with its own table; [`table`] gathers them. The
//! dispatcher enforces existence, arity and authentication before any
//! handler runs, so handlers never count their arguments, and the same
//! table answers `COMMAND`, `COMMAND INFO`, `COMMAND DOCS` and
//! `COMMAND GETKEYS`.
//!
//! Key positions ([`Keys`]) are what everything that needs a command's keys
//! uses: WATCH, keyspace notifications, the cold tier's "make these keys
//! resident first" step, and later cluster slots.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Instant;

use bytes::Bytes;

use crate::client::Client;
use crate::error::{CmdResult, Error};
use crate::reply::Reply;
use crate::server::State;

/// Command flags, as Redis declares them (`COMMAND INFO` shows their names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flags(pub u32);

impl Flags {
    pub const NONE: Flags = Flags(0);
    /// May modify the keyspace.
    pub const WRITE: Flags = Flags(1 << 0);
    /// Only reads data.
    pub const READONLY: Flags = Flags(1 << 1);
    /// May grow memory: refused under OOM.
    pub const DENYOOM: Flags = Flags(1 << 2);
    /// Administrative.
    pub const ADMIN: Flags = Flags(1 << 3);
    /// Pub/sub related.
    pub const PUBSUB: Flags = Flags(1 << 4);
    /// Not allowed from scripts.
    pub const NOSCRIPT: Flags = Flags(1 << 5);
    /// May block the client.
    pub const BLOCKING: Flags = Flags(1 << 6);
    /// Allowed while loading the dataset.
    pub const LOADING: Flags = Flags(1 << 7);
    /// Allowed on a stale replica.
    pub const STALE: Flags = Flags(1 << 8);
    /// Not shown to MONITOR.
    pub const SKIP_MONITOR: Flags = Flags(1 << 9);
    /// Not recorded in the slow log.
    pub const SKIP_SLOWLOG: Flags = Flags(1 << 10);
    /// O(1) or O(log n).
    pub const FAST: Flags = Flags(1 << 11);
    /// Allowed before AUTH.
    pub const NO_AUTH: Flags = Flags(1 << 12);
    /// May propagate even though it is not a write (e.g. scripts).
    pub const MAY_REPLICATE: Flags = Flags(1 << 13);
    /// Not allowed inside MULTI.
    pub const NO_MULTI: Flags = Flags(1 << 14);
    /// Allowed while a script is busy.
    pub const ALLOW_BUSY: Flags = Flags(1 << 15);
    /// Keys are optional (the command may run with none).
    pub const NO_MANDATORY_KEYS: Flags = Flags(1 << 16);

    pub const fn or(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }

    pub const fn has(self, other: Flags) -> bool {
        self.0 & other.0 != 0
    }

    /// Flag names for `COMMAND INFO`, in Redis's order.
    pub fn names(self, movable_keys: bool) -> Vec<&'static str> {
        const NAMES: [(Flags, &str); 17] = [
            (Flags::WRITE, "write"),
            (Flags::READONLY, "readonly"),
            (Flags::DENYOOM, "denyoom"),
            (Flags::ADMIN, "admin"),
            (Flags::PUBSUB, "pubsub"),
            (Flags::NOSCRIPT, "noscript"),
            (Flags::BLOCKING, "blocking"),
            (Flags::LOADING, "loading"),
            (Flags::STALE, "stale"),
            (Flags::SKIP_MONITOR, "skip_monitor"),
            (Flags::SKIP_SLOWLOG, "skip_slowlog"),
            (Flags::FAST, "fast"),
            (Flags::NO_AUTH, "no_auth"),
            (Flags::MAY_REPLICATE, "may_replicate"),
            (Flags::NO_MANDATORY_KEYS, "no_mandatory_keys"),
            (Flags::NO_MULTI, "no_multi"),
            (Flags::ALLOW_BUSY, "allow_busy"),
        ];
        let mut out: Vec<&'static str> = NAMES
            .iter()
            .filter(|(f, _)| self.has(*f))
            .map(|(_, n)| *n)
            .collect();
        if movable_keys {
            out.push("movablekeys");
        }
        out
    }
}

impl std::ops::BitOr for Flags {
    type Output = Flags;
    fn bitor(self, rhs: Flags) -> Flags {
        self.or(rhs)
    }
}

/// Where a command's keys are.
#[derive(Clone, Copy)]
pub enum Keys {
    /// No keys.
    None,
    /// Keys at `first..=last` (negative `last` counts from the end:
    /// -1 is the last argument) every `step` arguments.
    Range { first: i32, last: i32, step: i32 },
    /// Keys found by a function of the arguments (numkeys, STORE...).
    /// `legacy` is the (first, last, step) that COMMAND INFO reports.
    Custom {
        legacy: (i32, i32, i32),
        find: fn(&[Bytes]) -> Vec<usize>,
    },
}

impl Keys {
    pub const fn one() -> Keys {
        Keys::Range {
            first: 1,
            last: 1,
            step: 1,
        }
    }

    pub const fn all_from(first: i32) -> Keys {
        Keys::Range {
            first,
            last: -1,
            step: 1,
        }
    }

    /// Indexes of the keys in `args` (args[0] is the command name).
    pub fn positions(&self, args: &[Bytes]) -> Vec<usize> {
        match *self {
            Keys::None => Vec::new(),
            Keys::Range { first, last, step } => {
                let n = args.len() as i32;
                let last = if last < 0 { n + last } else { last.min(n - 1) };
                if first <= 0 || first > last || step <= 0 {
                    return Vec::new();
                }
                (first..=last)
                    .step_by(step as usize)
                    .map(|i| i as usize)
                    .collect()
            }
            Keys::Custom { find, .. } => find(args),
        }
    }

    /// Calls `f` with the index of each key in `args`, stopping at the
    /// first error (no allocation for fixed key positions).
    pub fn try_each<E>(
        &self,
        args: &[Bytes],
        mut f: impl FnMut(usize) -> Result<(), E>,
    ) -> Result<(), E> {
        match *self {
            Keys::None => Ok(()),
            Keys::Range { first, last, step } => {
                let n = args.len() as i32;
                let last = if last < 0 { n + last } else { last.min(n - 1) };
                if first <= 0 || step <= 0 {
                    return Ok(());
                }
                let mut i = first;
                while i <= last {
                    f(i as usize)?;
                    i += step;
                }
                Ok(())
            }
            Keys::Custom { find, .. } => find(args).into_iter().try_for_each(f),
        }
    }

    /// (first, last, step) as COMMAND INFO reports them.
    pub fn legacy(&self) -> (i32, i32, i32) {
        match *self {
            Keys::None => (0, 0, 0),
            Keys::Range { first, last, step } => (first, last, step),
            Keys::Custom { legacy, .. } => legacy,
        }
    }

    pub fn movable(&self) -> bool {
        matches!(self, Keys::Custom { .. })
    }
}

/// Runs `cmd`'s handler, nothing else (no statistics, propagation or
/// tiering: see [`call`]).
pub fn run_handler(
    state: &mut State,
    client: &mut Client,
    reply: &mut Reply,
    cmd: &'static CommandSpec,
    args: &[Bytes],
    now_ms: i64,
) -> CmdResult {
    let mut ctx = Ctx {
        state,
        client,
        reply,
        args,
        cmd,
        now_ms,
    };
    (cmd.handler)(&mut ctx)
}

/// A command handler. Arguments are in `ctx.args` (name included).
pub type Handler = fn(&mut Ctx) -> CmdResult;

/// One command, declared once.
pub struct CommandSpec {
    /// Lower-case name (`get`; subcommands `config|get`).
    pub name: &'static str,
    /// Argument count including the name; negative means "at least".
    pub arity: i32,
    pub flags: Flags,
    pub keys: Keys,
    pub handler: Handler,
    /// Command group for COMMAND DOCS (`string`, `generic`, `server`...).
    pub group: &'static str,
    /// One-line summary for COMMAND DOCS.
    pub summary: &'static str,
    /// Redis version that introduced it.
    pub since: &'static str,
    /// Subcommands (CONFIG GET, CLIENT LIST...), dispatched by `args[1]`.
    pub subcommands: &'static [CommandSpec],
}

impl CommandSpec {
    /// A command with the given shape; fill group/summary with `.doc()`.
    pub const fn new(
        name: &'static str,
        arity: i32,
        flags: Flags,
        keys: Keys,
        handler: Handler,
    ) -> CommandSpec {
        CommandSpec {
            name,
            arity,
            flags,
            keys,
            handler,
            group: "",
            summary: "",
            since: "1.0.0",
            subcommands: &[],
        }
    }

    pub const fn doc(
        mut self,
        group: &'static str,
        since: &'static str,
        summary: &'static str,
    ) -> CommandSpec {
        self.group = group;
        self.since = since;
        self.summary = summary;
        self
    }

    pub const fn subs(mut self, subcommands: &'static [CommandSpec]) -> CommandSpec {
        self.subcommands = subcommands;
        self
    }

    pub fn arity_ok(&self, argc: usize) -> bool {
        let argc = argc as i64;
        let arity = i64::from(self.arity);
        if arity >= 0 {
            argc == arity
        } else {
            argc >= -arity
        }
    }

    /// Finds the subcommand named by `args[1]`.
    pub fn subcommand(&self, name: &[u8]) -> Option<&'static CommandSpec> {
        let lower = name.to_ascii_lowercase();
        self.subcommands
            .iter()
            .find(|s| s.name.split('|').nth(1).map(|n| n.as_bytes()) == Some(lower.as_slice()))
    }
}

/// The full command table: name -> spec.
pub struct CommandTable {
    pub by_name: HashMap<&'static str, &'static CommandSpec, foldhash::fast::RandomState>,
}

impl CommandTable {
    /// Finds a command by (case-insensitive) name without allocating for
    /// the common short-name case.
    pub fn get(&self, name: &[u8]) -> Option<&'static CommandSpec> {
        let mut buf = [0u8; 32];
        if name.len() <= buf.len() {
            for (d, s) in buf.iter_mut().zip(name) {
                *d = s.to_ascii_lowercase();
            }
            let lower = std::str::from_utf8(&buf[..name.len()]).ok()?;
            return self.by_name.get(lower).copied();
        }
        None
    }

    pub fn iter(&self) -> impl Iterator<Item = &'static CommandSpec> + '_ {
        self.by_name.values().copied()
    }
}

/// The process-wide command table, built once from the family tables.
pub fn table() -> &'static CommandTable {
    static TABLE: OnceLock<CommandTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut by_name = HashMap::with_hasher(foldhash::fast::RandomState::default());
        for family in crate::cmd::FAMILIES {
            for spec in family.iter() {
                by_name.insert(spec.name, spec);
            }
        }
        CommandTable { by_name }
    })
}

/// Everything a handler may touch while it runs. The state lock is held
/// for the whole command, so a handler sees (and leaves) a consistent
/// keyspace.
pub struct Ctx<'a> {
    pub state: &'a mut State,
    pub client: &'a mut Client,
    pub reply: &'a mut Reply,
    pub args: &'a [Bytes],
    /// The command being run (the subcommand for container commands).
    pub cmd: &'static CommandSpec,
    /// One logical "now" per command (unix milliseconds).
    pub now_ms: i64,
}

impl<'a> Ctx<'a> {
    /// The client's selected database.
    pub fn db(&mut self) -> &mut strata_storage::keyspace::Db {
        let i = self.client.db;
        self.state.keyspace.db(i)
    }

    /// Argument `i` (the dispatcher has checked arity, so indexes within
    /// the declared arity are present).
    pub fn arg(&self, i: usize) -> &Bytes {
        &self.args[i]
    }

    /// Looks a key up for reading: counts a keyspace hit or miss and
    /// bumps its LFU counter.
    pub fn lookup_read(&mut self, key: &[u8]) -> Option<&mut strata_storage::keyspace::Entry> {
        let now = self.now_ms;
        let db = self.client.db;
        let stats = &mut self.state.stats;
        let found =
            self.state
                .keyspace
                .db(db)
                .get_mut(key, now, strata_storage::keyspace::Touch::Yes);
        if found.is_some() {
            stats.keyspace_hits += 1;
        } else {
            stats.keyspace_misses += 1;
        }
        found
    }

    /// Looks a key up for writing (no hit/miss accounting).
    pub fn lookup_write(&mut self, key: &[u8]) -> Option<&mut strata_storage::keyspace::Entry> {
        let now = self.now_ms;
        let db = self.client.db;
        self.state
            .keyspace
            .db(db)
            .get_mut(key, now, strata_storage::keyspace::Touch::Yes)
    }

    /// Must be called by every command that changes `key` (Redis's
    /// `signalModifiedKey`): invalidates WATCH and client tracking.
    pub fn signal_modified(&mut self, key: &[u8]) {
        let db = self.client.db;
        self.state.key_modified(db, key);
    }

    /// Emits a keyspace notification of class `class` (a letter of
    /// `notify-keyspace-events`) for `event` on `key`.
    pub fn notify(&mut self, class: char, event: &str, key: &[u8]) {
        let db = self.client.db;
        self.state.notify_keyspace_event(class, event, key, db);
    }

    /// Must be called by every command that adds elements to a list or
    /// sorted set, or creates one (Redis's `signalKeyAsReady`): clients
    /// blocked on `key` are served after this command.
    pub fn signal_key_ready(&mut self, key: &[u8]) {
        // Nobody waits: nobody can start waiting before the ready keys are
        // handled (right after this top-level command), so skip the copy.
        if self.state.blocking.by_key.is_empty() {
            return;
        }
        let db = self.client.db;
        self.state
            .ready_keys
            .push((db, Bytes::copy_from_slice(key)));
    }

    /// Finishes a command that removed `count` elements from the
    /// collection at `key` (HDEL, SREM, ...): deletes the key if it became
    /// empty, then signals, notifies `event` (class `class`) and `del` as
    /// Redis does, and counts the changes.
    pub fn after_removal(
        &mut self,
        key: &[u8],
        class: char,
        event: &str,
        count: usize,
        emptied: bool,
    ) {
        if emptied {
            self.db().remove(key);
        }
        if count > 0 {
            self.signal_modified(key);
            self.notify(class, event, key);
            if emptied {
                self.notify('g', "del", key);
            }
            self.add_dirty(count as u64);
        }
    }

    /// Counts `n` changes towards the save points (Redis's `server.dirty`).
    pub fn add_dirty(&mut self, n: u64) {
        self.state.dirty += n;
    }
}

/// The command (or subcommand) `args` names, if it exists with a valid
/// arity.
pub fn lookup(args: &[Bytes]) -> Option<&'static CommandSpec> {
    if args.is_empty() {
        return None;
    }
    resolve(args).ok()
}

/// Finds the command (or subcommand) for `args` and checks its arity.
pub(crate) fn resolve(
    args: &[Bytes],
) -> Result<&'static CommandSpec, (Option<&'static str>, Error)> {
    let name = &args[0];
    let Some(cmd) = table().get(name) else {
        return Err((None, Error::unknown_command(name, &args[1..])));
    };
    if !cmd.arity_ok(args.len()) {
        return Err((Some(cmd.name), Error::wrong_arity(cmd.name)));
    }
    if cmd.subcommands.is_empty() || args.len() < 2 {
        return Ok(cmd);
    }
    match cmd.subcommand(&args[1]) {
        Some(sub) if sub.arity_ok(args.len()) => Ok(sub),
        Some(sub) => Err((Some(sub.name), Error::wrong_arity(sub.name))),
        None if args[1].eq_ignore_ascii_case(b"help") => Ok(cmd),
        None => Err((
            Some(cmd.name),
            Error::unknown_subcommand(cmd.name, &args[1]),
        )),
    }
}

/// Commands a RESP2 client may run while subscribed.
const PUBSUB_MODE_ALLOWED: &[&str] = &[
    "subscribe",
    "ssubscribe",
    "psubscribe",
    "unsubscribe",
    "sunsubscribe",
    "punsubscribe",
    "ping",
    "quit",
    "reset",
];

/// Commands that run at once even inside MULTI.
const MULTI_IMMEDIATE: &[&str] = &["exec", "discard", "multi", "watch", "quit", "reset"];

fn reject(state: &mut State, reply: &mut Reply, name: Option<&'static str>, e: Error) {
    if let Some(n) = name {
        state.stats.rejected(n);
    }
    reply.error(&e.text());
    state.stats.count_errors(reply.take_errors());
}

/// A command refused for the server's state (persistence failing:
/// `MISCONF ...`; loading: `LOADING ...`), as Redis's `rejectCommand`:
/// flags a transaction being queued; a refused EXEC discards it
/// (`EXECABORT Transaction discarded because of: ...`).
fn reject_command(
    state: &mut State,
    client: &mut Client,
    reply: &mut Reply,
    cmd: &'static CommandSpec,
    e: Error,
) {
    if cmd.name == "exec" {
        client.multi = None;
        state.unwatch_all(client);
        let text = format!("EXECABORT Transaction discarded because of: {}", e.text());
        return reject(state, reply, Some(cmd.name), Error::custom(text));
    }
    if let Some(m) = client.multi.as_mut() {
        m.failed = true;
    }
    reject(state, reply, Some(cmd.name), e)
}

/// Runs one command for `client`, writing its reply into `reply`.
///
/// Order of checks, as Redis's `processCommand`: unknown command, arity,
/// authentication, pub/sub mode, persistence errors, loading, then MULTI
/// queuing or execution.
pub fn dispatch(
    state: &mut State,
    client: &mut Client,
    reply: &mut Reply,
    args: &[Bytes],
    now_ms: i64,
) {
    if args.is_empty() {
        return;
    }
    let cmd = match resolve(args) {
        Ok(cmd) => cmd,
        Err((name, e)) => {
            if let Some(m) = client.multi.as_mut() {
                m.failed = true;
            }
            return reject(state, reply, name, e);
        }
    };
    if !client.authenticated
        && !cmd.flags.has(Flags::NO_AUTH)
        && state.config.hot.requirepass.is_some()
    {
        return reject(state, reply, Some(cmd.name), Error::NoAuth);
    }
    if client.in_pubsub_mode() && !PUBSUB_MODE_ALLOWED.contains(&cmd.name) {
        let e = Error::err(format!(
            "Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
            cmd.name
        ));
        return reject(state, reply, Some(cmd.name), e);
    }
    if let Some(e) = crate::aof::deny_write(state, client, cmd) {
        return reject_command(state, client, reply, cmd, e);
    }
    if state.loading.is_some() && !cmd.flags.has(Flags::LOADING) {
        let e = Error::custom(crate::loading::LOADING);
        return reject_command(state, client, reply, cmd, e);
    }
    if client.multi.is_some() && !MULTI_IMMEDIATE.contains(&cmd.name) {
        if cmd.flags.has(Flags::NO_MULTI) {
            if let Some(m) = client.multi.as_mut() {
                m.failed = true;
            }
            return reject(
                state,
                reply,
                Some(cmd.name),
                Error::err("Command not allowed inside a transaction"),
            );
        }
        if let Some(m) = client.multi.as_mut() {
            m.queued.push((cmd, args.to_vec()));
        }
        reply.simple("QUEUED");
        return;
    }
    if state.config.hot.maxmemory > 0 {
        if let Err(e) = crate::tier::before_command(state, cmd) {
            return reject(state, reply, Some(cmd.name), e);
        }
    }
    call(state, client, reply, cmd, args, now_ms);
}

/// Executes a resolved command: the handler, then statistics, the slow
/// log and MONITOR. EXEC (and later scripts) call this for each inner
/// command.
pub fn call(
    state: &mut State,
    client: &mut Client,
    reply: &mut Reply,
    cmd: &'static CommandSpec,
    args: &[Bytes],
    now_ms: i64,
) {
    state.feed_monitors(client, args, now_ms, cmd);
    state.current_client = client.id;
    let started = Instant::now();
    let errors_before = reply.error_count();
    state.dispatch_depth += 1;
    let frame = crate::propagate::enter(state);
    let mark = reply.len();
    let mut result = crate::tier::prepare_keys(state, client.db, cmd, args, now_ms)
        .and_then(|()| run_handler(state, client, reply, cmd, args, now_ms));
    if result.is_ok() && state.tier.store.is_some() {
        if let Some(e) = crate::tier::damaged_key(state, client.db, cmd, args) {
            reply.truncate(mark);
            result = Err(e);
        }
    }
    crate::propagate::leave(state, frame, client.db, cmd, args);
    state.dispatch_depth -= 1;
    if let Err(e) = result {
        reply.error(&e.text());
    }
    let micros = started.elapsed().as_micros() as u64;
    let failed = reply.error_count() > errors_before;
    state.stats.called(cmd.name, micros, failed);
    state.stats.count_errors(reply.take_errors());
    state.slowlog_record(client, args, now_ms, micros, cmd);
    if !state.tracking.is_empty() {
        track_reads(state, client, cmd, args);
    }
    state.after_command();
    client.last_cmd = cmd.name;
    if state.dispatch_depth == 0 {
        crate::propagate::end_unit(state);
    }
    // Redis serves clients blocked on keys made ready by this command (or
    // EXEC/script) right after it, before any other client runs.
    if state.dispatch_depth == 0 && !state.ready_keys.is_empty() {
        crate::blocking::handle_ready_keys(state);
    }
}

/// Client tracking: remember the keys a tracking client read, honouring
/// OPTIN/OPTOUT and CLIENT CACHING (which lasts for one command, or for
/// the whole transaction inside MULTI).
fn track_reads(state: &mut State, client: &mut Client, cmd: &'static CommandSpec, args: &[Bytes]) {
    let Some(t) = state.tracking.clients.get(&client.id) else {
        return;
    };
    let caching = client.tracking_caching;
    let record = cmd.flags.has(Flags::READONLY)
        && !t.bcast
        && (!t.optin || caching == Some(true))
        && (!t.optout || caching != Some(false));
    if record {
        let max = state.config.get_int("tracking-table-max-keys").max(0) as usize;
        for i in cmd.keys.positions(args) {
            state.tracking.remember(client.id, &args[i], max);
        }
    }
    if cmd.name != "client|caching" && client.multi.is_none() && cmd.name != "exec" {
        client.tracking_caching = None;
    }
}
