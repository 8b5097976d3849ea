//! Server commands: INFO, CONFIG, COMMAND, TIME, LASTSAVE, SHUTDOWN,
//! DEBUG, SLOWLOG, MEMORY, MONITOR.

use bytes::Bytes;
use strata_storage::num::parse_i64;
use strata_storage::value::{Str, Value};

use crate::command::{table, CommandSpec, Ctx, Flags, Keys};
use crate::config::{self, Mutability};
use crate::error::{CmdResult, Error};
use crate::reply::Reply;

/// Redis's `addReplyHelp`: the header line, the command's lines, then
/// the HELP entry, all as status replies.
fn help(reply: &mut Reply, cmd: &str, lines: &[&str]) {
    reply.array(lines.len() + 3);
    reply.simple(&format!(
        "{cmd} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    ));
    for l in lines {
        reply.simple(l);
    }
    reply.simple("HELP");
    reply.simple("    Prints this help.");
}

/// `ERR unknown subcommand or wrong number of arguments for 'x'. Try X HELP.`
fn subcommand_syntax(ctx: &Ctx) -> Error {
    Error::err(format!(
        "unknown subcommand or wrong number of arguments for '{}'. Try {} HELP.",
        crate::error::sanitize(ctx.arg(1), 128),
        String::from_utf8_lossy(ctx.arg(0)).to_ascii_uppercase()
    ))
}

fn is_local(ctx: &Ctx) -> bool {
    ctx.client
        .addr
        .parse::<std::net::SocketAddr>()
        .map(|a| a.ip().is_loopback())
        .unwrap_or(false)
}

/// Container commands never run themselves (the dispatcher routes to a
/// subcommand or refuses); this answers if one ever does.
fn container(ctx: &mut Ctx) -> CmdResult {
    let name = String::from_utf8_lossy(ctx.arg(0)).to_ascii_lowercase();
    Err(Error::unknown_subcommand(
        &name,
        ctx.args.get(1).map(|a| a.as_ref()).unwrap_or(b""),
    ))
}

// ---------------------------------------------------------------- INFO

/// INFO [section [section ...]]
fn info(ctx: &mut Ctx) -> CmdResult {
    let sections: Vec<&[u8]> = ctx.args[1..].iter().map(|a| a.as_ref()).collect();
    let text = crate::info::render(ctx.state, &sections, ctx.now_ms);
    ctx.reply.verbatim("txt", text.as_bytes());
    Ok(())
}

// -------------------------------------------------------------- CONFIG

/// CONFIG GET parameter [parameter ...]
fn config_get(ctx: &mut Ctx) -> CmdResult {
    let patterns: Vec<&[u8]> = ctx.args[2..].iter().map(|a| a.as_ref()).collect();
    let found = ctx.state.config.get_matching(&patterns);
    ctx.reply.map(found.len());
    for (name, value) in found {
        ctx.reply.bulk(name.as_bytes());
        ctx.reply.bulk(value.as_bytes());
    }
    Ok(())
}

/// Options the startup load depends on: CONFIG SET of them is refused
/// until its end (see [`crate::loading`]).
const HELD_WHILE_LOADING: &[&str] = &["dir", "dbfilename", "appendonly"];

/// CONFIG SET parameter value [parameter value ...]
fn config_set(ctx: &mut Ctx) -> CmdResult {
    if ctx.args.len() % 2 == 1 {
        return Err(Error::Syntax);
    }
    let failed = |name: &str, msg: &str| {
        Error::err(format!(
            "CONFIG SET failed (possibly related to argument '{name}') - {msg}"
        ))
    };
    // First pass, as Redis: names, mutability, duplicates.
    let mut pairs: Vec<(String, &'static config::OptionSpec, String)> = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for pair in ctx.args[2..].chunks(2) {
        let name = String::from_utf8_lossy(&pair[0]).into_owned();
        let Some((_, spec)) = config::find(&name) else {
            return Err(Error::err(format!(
                "Unknown option or number of arguments for CONFIG SET - '{}'",
                crate::error::sanitize(&pair[0], 128)
            )));
        };
        if spec.mutability == Mutability::Immutable {
            return Err(failed(&name, "can't set immutable config"));
        }
        if spec.mutability == Mutability::Protected {
            let allow = ctx.state.config.get("enable-protected-configs");
            if allow == "no" || (allow == "local" && !is_local(ctx)) {
                return Err(failed(&name, "can't set protected config"));
            }
        }
        if ctx.state.loading.is_some() && HELD_WHILE_LOADING.contains(&spec.name) {
            return Err(failed(&name, "not allowed while the dataset is loading"));
        }
        let lower = name.to_ascii_lowercase();
        if seen.contains(&lower) {
            return Err(failed(&name, "duplicate parameter"));
        }
        seen.push(lower);
        let value = String::from_utf8_lossy(&pair[1]).into_owned();
        pairs.push((name, spec, value));
    }
    // Second pass: apply to a copy, so a failure changes nothing.
    let mut next = ctx.state.config.clone();
    for (name, spec, value) in &pairs {
        next.set(spec.name, value, false)
            .map_err(|e| failed(name, &e))?;
    }
    ctx.state.config = next;
    for (_, spec, _) in &pairs {
        ctx.state.config_changed(spec.name);
    }
    ctx.reply.ok();
    Ok(())
}

/// CONFIG RESETSTAT
fn config_resetstat(ctx: &mut Ctx) -> CmdResult {
    ctx.state.stats = crate::server::Stats::default();
    ctx.reply.ok();
    Ok(())
}

/// CONFIG REWRITE
fn config_rewrite(ctx: &mut Ctx) -> CmdResult {
    ctx.state.config.rewrite().map_err(Error::err)?;
    crate::log::notice("CONFIG REWRITE executed with success.");
    ctx.reply.ok();
    Ok(())
}

/// CONFIG HELP
fn config_help(ctx: &mut Ctx) -> CmdResult {
    help(
        ctx.reply,
        "CONFIG",
        &[
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "REWRITE",
            "    Rewrite the configuration file.",
        ],
    );
    Ok(())
}

// ------------------------------------------------------------- COMMAND

/// Redis's own metadata for a command (see `server_meta.rs`).
struct Meta {
    name: &'static str,
    cats: &'static [&'static str],
    tips: &'static [&'static str],
    specs: &'static [KeySpec],
}

/// One Redis 7.0 key specification.
struct KeySpec {
    notes: Option<&'static str>,
    flags: &'static [&'static str],
    begin: Begin,
    find: Find,
}

enum Begin {
    Index(i64),
    Keyword(&'static str, i64),
    Unknown,
}

enum Find {
    /// lastkey, keystep, limit
    Range(i64, i64, i64),
    /// keynumidx, firstkey, keystep
    Keynum(i64, i64, i64),
    Unknown,
}

include!("server_meta.rs");

fn meta(name: &str) -> Option<&'static Meta> {
    REDIS_META.iter().find(|m| m.name == name)
}

fn write_key_spec(reply: &mut Reply, ks: &KeySpec) {
    reply.map(if ks.notes.is_some() { 4 } else { 3 });
    if let Some(n) = ks.notes {
        reply.bulk(b"notes");
        reply.bulk(n.as_bytes());
    }
    reply.bulk(b"flags");
    reply.set(ks.flags.len());
    for f in ks.flags {
        reply.simple(f);
    }
    reply.bulk(b"begin_search");
    reply.map(2);
    reply.bulk(b"type");
    match ks.begin {
        Begin::Index(i) => {
            reply.bulk(b"index");
            reply.bulk(b"spec");
            reply.map(1);
            reply.bulk(b"index");
            reply.int(i);
        }
        Begin::Keyword(kw, from) => {
            reply.bulk(b"keyword");
            reply.bulk(b"spec");
            reply.map(2);
            reply.bulk(b"keyword");
            reply.bulk(kw.as_bytes());
            reply.bulk(b"startfrom");
            reply.int(from);
        }
        Begin::Unknown => {
            reply.bulk(b"unknown");
            reply.bulk(b"spec");
            reply.map(0);
        }
    }
    reply.bulk(b"find_keys");
    reply.map(2);
    reply.bulk(b"type");
    match ks.find {
        Find::Range(last, step, limit) => {
            reply.bulk(b"range");
            reply.bulk(b"spec");
            reply.map(3);
            reply.bulk(b"lastkey");
            reply.int(last);
            reply.bulk(b"keystep");
            reply.int(step);
            reply.bulk(b"limit");
            reply.int(limit);
        }
        Find::Keynum(idx, first, step) => {
            reply.bulk(b"keynum");
            reply.bulk(b"spec");
            reply.map(3);
            reply.bulk(b"keynumidx");
            reply.int(idx);
            reply.bulk(b"firstkey");
            reply.int(first);
            reply.bulk(b"keystep");
            reply.int(step);
        }
        Find::Unknown => {
            reply.bulk(b"unknown");
            reply.bulk(b"spec");
            reply.map(0);
        }
    }
}

/// Flag names as COMMAND shows them (Redis hides `may_replicate` and
/// prints `movablekeys` before `allow_busy`).
fn flag_names(spec: &CommandSpec) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = spec
        .flags
        .names(false)
        .into_iter()
        .filter(|n| *n != "may_replicate")
        .collect();
    if spec.keys.movable() {
        let at = names
            .iter()
            .position(|n| *n == "allow_busy")
            .unwrap_or(names.len());
        names.insert(at, "movablekeys");
    }
    names
}

/// ACL categories, derived as Redis's `setImplicitACLCategories` plus the
/// command group, in Redis's category order.
fn acl_categories(spec: &CommandSpec) -> Vec<&'static str> {
    if let Some(m) = meta(spec.name) {
        return m.cats.to_vec();
    }
    let f = spec.flags;
    let mut cats: Vec<&'static str> = Vec::new();
    match spec.group {
        "generic" => cats.push("keyspace"),
        "string" => cats.push("string"),
        "list" => cats.push("list"),
        "hash" => cats.push("hash"),
        "set" => cats.push("set"),
        "sorted_set" => cats.push("sortedset"),
        "bitmap" => cats.push("bitmap"),
        "hyperloglog" => cats.push("hyperloglog"),
        "geo" => cats.push("geo"),
        "stream" => cats.push("stream"),
        "connection" => cats.push("connection"),
        "transactions" => cats.push("transaction"),
        "scripting" => cats.push("scripting"),
        _ => {}
    }
    if f.has(Flags::WRITE) {
        cats.push("write");
    }
    if f.has(Flags::READONLY) && spec.group != "scripting" {
        cats.push("read");
    }
    if f.has(Flags::ADMIN) {
        cats.push("admin");
        cats.push("dangerous");
    }
    if f.has(Flags::PUBSUB) {
        cats.push("pubsub");
    }
    if f.has(Flags::FAST) {
        cats.push("fast");
    } else {
        cats.push("slow");
    }
    if f.has(Flags::BLOCKING) {
        cats.push("blocking");
    }
    const DANGEROUS: &[&str] = &[
        "flushdb", "flushall", "keys", "info", "swapdb", "sort", "migrate", "restore",
    ];
    if DANGEROUS.contains(&spec.name) {
        cats.push("dangerous");
    }
    const ORDER: &[&str] = &[
        "keyspace",
        "read",
        "write",
        "set",
        "sortedset",
        "list",
        "hash",
        "string",
        "bitmap",
        "hyperloglog",
        "geo",
        "stream",
        "pubsub",
        "admin",
        "fast",
        "slow",
        "blocking",
        "dangerous",
        "connection",
        "transaction",
        "scripting",
    ];
    ORDER.iter().copied().filter(|c| cats.contains(c)).collect()
}

/// Key access flags (best effort: RO/access for read commands, RW/update
/// for writes).
fn key_flags(spec: &CommandSpec) -> &'static [&'static str] {
    if let Some(ks) = meta(spec.name).and_then(|m| m.specs.first()) {
        return ks.flags;
    }
    if spec.flags.has(Flags::WRITE) {
        &["RW", "update"]
    } else if spec.flags.has(Flags::READONLY) {
        &["RO", "access"]
    } else {
        &["RO"]
    }
}

fn key_specs(reply: &mut Reply, spec: &CommandSpec) {
    if let Some(m) = meta(spec.name) {
        reply.set(m.specs.len());
        for ks in m.specs {
            write_key_spec(reply, ks);
        }
        return;
    }
    let Keys::Range { first, last, step } = spec.keys else {
        reply.set(0);
        return;
    };
    reply.set(1);
    reply.map(3);
    reply.bulk(b"flags");
    let flags = key_flags(spec);
    reply.set(flags.len());
    for f in flags {
        reply.simple(f);
    }
    reply.bulk(b"begin_search");
    reply.map(2);
    reply.bulk(b"type");
    reply.bulk(b"index");
    reply.bulk(b"spec");
    reply.map(1);
    reply.bulk(b"index");
    reply.int(i64::from(first));
    reply.bulk(b"find_keys");
    reply.map(2);
    reply.bulk(b"type");
    reply.bulk(b"range");
    reply.bulk(b"spec");
    reply.map(3);
    reply.bulk(b"lastkey");
    reply.int(i64::from(if last < 0 { last } else { last - first }));
    reply.bulk(b"keystep");
    reply.int(i64::from(step));
    reply.bulk(b"limit");
    reply.int(0);
}

/// One COMMAND / COMMAND INFO entry (10 fields, as Redis 7.0).
fn command_info(reply: &mut Reply, spec: &CommandSpec) {
    reply.array(10);
    reply.bulk(spec.name.as_bytes());
    reply.int(i64::from(spec.arity));
    let flags = flag_names(spec);
    reply.set(flags.len());
    for f in flags {
        reply.simple(f);
    }
    let (first, last, step) = spec.keys.legacy();
    reply.int(i64::from(first));
    reply.int(i64::from(last));
    reply.int(i64::from(step));
    let cats = acl_categories(spec);
    reply.set(cats.len());
    for c in cats {
        reply.simple(&format!("@{c}"));
    }
    let tips = meta(spec.name).map(|m| m.tips).unwrap_or(&[]);
    reply.set(tips.len());
    for t in tips {
        reply.bulk(t.as_bytes());
    }
    key_specs(reply, spec);
    if spec.subcommands.is_empty() {
        reply.set(0);
    } else {
        reply.array(spec.subcommands.len());
        for sub in spec.subcommands {
            command_info(reply, sub);
        }
    }
}

fn command_docs_one(reply: &mut Reply, spec: &CommandSpec) {
    reply.bulk(spec.name.as_bytes());
    let fields = if spec.subcommands.is_empty() { 3 } else { 4 };
    reply.map(fields);
    reply.bulk(b"summary");
    reply.bulk(spec.summary.as_bytes());
    reply.bulk(b"since");
    reply.bulk(spec.since.as_bytes());
    reply.bulk(b"group");
    reply.bulk(spec.group.as_bytes());
    if !spec.subcommands.is_empty() {
        reply.bulk(b"subcommands");
        reply.map(spec.subcommands.len());
        for sub in spec.subcommands {
            command_docs_one(reply, sub);
        }
    }
}

/// Finds `name` or `container|sub`.
fn lookup_command(name: &[u8]) -> Option<&'static CommandSpec> {
    let text = String::from_utf8_lossy(name);
    match text.split_once('|') {
        Some((base, sub)) => table().get(base.as_bytes())?.subcommand(sub.as_bytes()),
        None => table().get(name),
    }
}

fn sorted_commands() -> Vec<&'static CommandSpec> {
    let mut all: Vec<&'static CommandSpec> = table().iter().collect();
    all.sort_by_key(|c| c.name);
    all
}

/// COMMAND
fn command_all(ctx: &mut Ctx) -> CmdResult {
    let all = sorted_commands();
    ctx.reply.array(all.len());
    for spec in all {
        command_info(ctx.reply, spec);
    }
    Ok(())
}

/// COMMAND COUNT
fn command_count(ctx: &mut Ctx) -> CmdResult {
    ctx.reply.int(table().by_name.len() as i64);
    Ok(())
}

/// COMMAND INFO [command-name [command-name ...]]
fn command_info_cmd(ctx: &mut Ctx) -> CmdResult {
    if ctx.args.len() == 2 {
        return command_all(ctx);
    }
    ctx.reply.array(ctx.args.len() - 2);
    for name in &ctx.args[2..] {
        match lookup_command(name) {
            Some(spec) => command_info(ctx.reply, spec),
            None => ctx.reply.null(),
        }
    }
    Ok(())
}

/// Redis 7.0's own `COMMAND DOCS` reply (RESP3), captured from Debian's
/// redis-server 7.0.15: summaries, complexity, arguments and history of
/// every Redis command, so clients and tools get Redis's documentation.
static REDIS_DOCS: &[u8] = include_bytes!("server_docs.resp3");

/// Parses one RESP3 value at `at`; returns the offset after it.
fn resp3_skip(b: &[u8], at: usize) -> Option<usize> {
    let nl = at + memchr::memchr(b'\n', b.get(at..)?)?;
    let head = std::str::from_utf8(b.get(at + 1..nl.checked_sub(1)?)?).ok()?;
    let after = nl + 1;
    match *b.get(at)? {
        b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => Some(after),
        b'$' | b'=' => Some(after + head.parse::<usize>().ok()? + 2),
        b'*' | b'~' | b'>' | b'%' => {
            let mut n = head.parse::<usize>().ok()?;
            if b[at] == b'%' {
                n *= 2;
            }
            let mut p = after;
            for _ in 0..n {
                p = resp3_skip(b, p)?;
            }
            Some(p)
        }
        _ => None,
    }
}

/// The bulk string at `at` and the offset after it.
fn resp3_bulk(b: &[u8], at: usize) -> Option<(&[u8], usize)> {
    let end = resp3_skip(b, at)?;
    let nl = at + memchr::memchr(b'\n', &b[at..])?;
    Some((b.get(nl + 1..end.checked_sub(2)?)?, end))
}

/// Indexes a docs map (name -> doc map byte range), recursing into
/// `subcommands`.
fn index_docs(b: &[u8], at: usize, out: &mut std::collections::HashMap<String, (usize, usize)>) {
    let Some(nl) = memchr::memchr(b'\n', &b[at..]).map(|i| at + i) else {
        return;
    };
    if b.get(at) != Some(&b'%') {
        return;
    }
    let n: usize = std::str::from_utf8(&b[at + 1..nl - 1])
        .ok()
        .and_then(|x| x.parse().ok())
        .unwrap_or(0);
    let mut p = nl + 1;
    for _ in 0..n {
        let Some((name, vstart)) = resp3_bulk(b, p) else {
            return;
        };
        let Some(vend) = resp3_skip(b, vstart) else {
            return;
        };
        out.insert(String::from_utf8_lossy(name).into_owned(), (vstart, vend));
        // Look for "subcommands" among this doc map's fields.
        if let Some(fnl) = memchr::memchr(b'\n', &b[vstart..]).map(|i| vstart + i) {
            let fields: usize = std::str::from_utf8(&b[vstart + 1..fnl - 1])
                .ok()
                .and_then(|x| x.parse().ok())
                .unwrap_or(0);
            let mut q = fnl + 1;
            for _ in 0..fields {
                let Some((key, val)) = resp3_bulk(b, q) else {
                    break;
                };
                if key == b"subcommands" {
                    index_docs(b, val, out);
                }
                match resp3_skip(b, val) {
                    Some(next) => q = next,
                    None => break,
                }
            }
        }
        p = vend;
    }
}

fn redis_docs(name: &str) -> Option<&'static [u8]> {
    static INDEX: std::sync::OnceLock<std::collections::HashMap<String, (usize, usize)>> =
        std::sync::OnceLock::new();
    let index = INDEX.get_or_init(|| {
        let mut m = std::collections::HashMap::new();
        index_docs(REDIS_DOCS, 0, &mut m);
        m
    });
    index.get(name).map(|&(a, z)| &REDIS_DOCS[a..z])
}

/// Rewrites RESP3 aggregates as RESP2 (maps flatten, sets become arrays).
fn resp3_to_resp2(b: &[u8], out: &mut Vec<u8>) {
    let mut p = 0;
    while p < b.len() {
        let Some(nl) = memchr::memchr(b'\n', &b[p..]).map(|i| p + i) else {
            break;
        };
        let head = &b[p + 1..nl.saturating_sub(1)];
        match b[p] {
            b'%' => {
                let n: usize = std::str::from_utf8(head)
                    .ok()
                    .and_then(|x| x.parse().ok())
                    .unwrap_or(0);
                out.push(b'*');
                out.extend_from_slice(itoa::Buffer::new().format(2 * n).as_bytes());
                out.extend_from_slice(b"\r\n");
                p = nl + 1;
            }
            b'~' | b'>' => {
                out.push(b'*');
                out.extend_from_slice(head);
                out.extend_from_slice(b"\r\n");
                p = nl + 1;
            }
            b'$' | b'=' => {
                let end = resp3_skip(b, p).unwrap_or(b.len());
                out.push(b'$');
                out.extend_from_slice(&b[p + 1..end]);
                p = end;
            }
            _ => {
                out.extend_from_slice(&b[p..=nl]);
                p = nl + 1;
            }
        }
    }
}

/// COMMAND DOCS [command-name [command-name ...]]
fn command_docs(ctx: &mut Ctx) -> CmdResult {
    let specs: Vec<&'static CommandSpec> = if ctx.args.len() == 2 {
        sorted_commands()
    } else {
        ctx.args[2..]
            .iter()
            .filter_map(|n| lookup_command(n))
            .collect()
    };
    ctx.reply.map(specs.len());
    for spec in specs {
        match redis_docs(spec.name) {
            Some(doc) => {
                ctx.reply.bulk(spec.name.as_bytes());
                if ctx.reply.resp3 {
                    ctx.reply.raw(doc);
                } else {
                    let mut out = Vec::with_capacity(doc.len());
                    resp3_to_resp2(doc, &mut out);
                    ctx.reply.raw(&out);
                }
            }
            None => command_docs_one(ctx.reply, spec),
        }
    }
    Ok(())
}

/// The keys of the command line in `args[2..]` (COMMAND GETKEYS).
fn getkeys_of(ctx: &Ctx) -> Result<(&'static CommandSpec, Vec<usize>), Error> {
    let line = &ctx.args[2..];
    let mut spec = table()
        .get(&line[0])
        .ok_or_else(|| Error::err("Invalid command specified"))?;
    if !spec.subcommands.is_empty() && line.len() >= 2 {
        spec = spec
            .subcommand(&line[1])
            .ok_or_else(|| Error::err("Invalid command specified"))?;
    }
    if matches!(spec.keys, Keys::None) {
        return Err(Error::err("The command has no key arguments"));
    }
    if !spec.arity_ok(line.len()) {
        return Err(Error::err(
            "Invalid number of arguments specified for command",
        ));
    }
    let keys = spec.keys.positions(line);
    if keys.is_empty() && !spec.flags.has(Flags::NO_MANDATORY_KEYS) {
        return Err(Error::err("Invalid arguments specified for command"));
    }
    Ok((spec, keys))
}

/// COMMAND GETKEYS command [arg [arg ...]]
fn command_getkeys(ctx: &mut Ctx) -> CmdResult {
    let (_, keys) = getkeys_of(ctx)?;
    ctx.reply.array(keys.len());
    for i in keys {
        ctx.reply.bulk(&ctx.args[2 + i]);
    }
    Ok(())
}

/// Access flags of the key at `pos` of `line` (COMMAND GETKEYSANDFLAGS):
/// from the key spec covering it, with SET's variable flags resolved as
/// Redis's `setGetKeys` does.
fn flags_for_key(spec: &CommandSpec, line: &[Bytes], pos: usize) -> Vec<&'static str> {
    let Some(m) = meta(spec.name) else {
        return key_flags(spec).to_vec();
    };
    if spec.name == "set" {
        let get = line[3..].iter().any(|a| crate::args::is(a, "get"));
        return if get {
            vec!["RW", "access", "update"]
        } else {
            vec!["OW", "update"]
        };
    }
    let argc = line.len() as i64;
    for ks in m.specs {
        if let (Begin::Index(first), Find::Range(last, step, _)) = (&ks.begin, &ks.find) {
            let end = if *last >= 0 {
                first + last
            } else {
                argc + last
            };
            let p = pos as i64;
            if p >= *first && p <= end && *step > 0 && (p - first) % step == 0 {
                return ks.flags.to_vec();
            }
        }
    }
    m.specs
        .first()
        .map(|ks| ks.flags.to_vec())
        .unwrap_or_default()
}

/// COMMAND GETKEYSANDFLAGS command [arg [arg ...]]
fn command_getkeysandflags(ctx: &mut Ctx) -> CmdResult {
    let (spec, keys) = getkeys_of(ctx)?;
    let line = &ctx.args[2..];
    ctx.reply.array(keys.len());
    for i in keys {
        let flags = flags_for_key(spec, line, i);
        ctx.reply.array(2);
        ctx.reply.bulk(&line[i]);
        ctx.reply.set(flags.len());
        for f in flags {
            ctx.reply.simple(f);
        }
    }
    Ok(())
}

/// COMMAND LIST [FILTERBY MODULE module-name|ACLCAT category|PATTERN pattern]
fn command_list(ctx: &mut Ctx) -> CmdResult {
    enum Filter {
        All,
        None,
        Cat(String),
        Pattern(Bytes),
    }
    let filter = match ctx.args.len() {
        2 => Filter::All,
        5 if crate::args::is(&ctx.args[2], "filterby") => {
            let kind = &ctx.args[3];
            if crate::args::is(kind, "module") {
                Filter::None
            } else if crate::args::is(kind, "aclcat") {
                Filter::Cat(String::from_utf8_lossy(&ctx.args[4]).to_ascii_lowercase())
            } else if crate::args::is(kind, "pattern") {
                Filter::Pattern(ctx.args[4].clone())
            } else {
                return Err(Error::Syntax);
            }
        }
        _ => return Err(Error::Syntax),
    };
    let mut names: Vec<&'static CommandSpec> = Vec::new();
    for spec in sorted_commands() {
        names.push(spec);
        names.extend(spec.subcommands.iter());
    }
    let keep = |spec: &CommandSpec| match &filter {
        Filter::All => true,
        Filter::None => false,
        Filter::Cat(c) => acl_categories(spec).contains(&c.as_str()),
        Filter::Pattern(p) => strata_storage::glob::glob_match(p, spec.name.as_bytes(), true),
    };
    let kept: Vec<&'static str> = names
        .into_iter()
        .filter(|s| keep(s))
        .map(|s| s.name)
        .collect();
    ctx.reply.array(kept.len());
    for n in kept {
        ctx.reply.bulk(n.as_bytes());
    }
    Ok(())
}

/// COMMAND HELP
fn command_help(ctx: &mut Ctx) -> CmdResult {
    help(
        ctx.reply,
        "COMMAND",
        &[
            "(no subcommand)",
            "    Return details about all Redis commands.",
            "COUNT",
            "    Return the total number of commands in this Redis server.",
            "LIST",
            "    Return a list of all commands in this Redis server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "GETKEYS <full-command>",
            "    Return the keys from a full Redis command.",
            "GETKEYSANDFLAGS <full-command>",
            "    Return the keys and the access flags from a full Redis command.",
        ],
    );
    Ok(())
}

// ------------------------------------------------- TIME, LASTSAVE, SHUTDOWN

/// TIME
fn time(ctx: &mut Ctx) -> CmdResult {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    ctx.reply.array(2);
    ctx.reply.bulk_int(now.as_secs() as i64);
    ctx.reply.bulk_int(i64::from(now.subsec_micros()));
    Ok(())
}

/// LASTSAVE
fn lastsave(ctx: &mut Ctx) -> CmdResult {
    ctx.reply.int(ctx.state.lastsave_s);
    Ok(())
}

/// SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]
fn shutdown(ctx: &mut Ctx) -> CmdResult {
    let (mut save, mut nosave, mut other, mut abort) = (false, false, false, false);
    for a in &ctx.args[1..] {
        if crate::args::is(a, "nosave") {
            nosave = true;
        } else if crate::args::is(a, "save") {
            save = true;
        } else if crate::args::is(a, "now") || crate::args::is(a, "force") {
            other = true;
        } else if crate::args::is(a, "abort") {
            abort = true;
        } else {
            return Err(Error::Syntax);
        }
    }
    if (abort && (save || nosave || other)) || (save && nosave) {
        return Err(Error::Syntax);
    }
    if abort {
        return Err(Error::err("No shutdown in progress."));
    }
    crate::log::warning("User requested shutdown...");
    if ctx.state.loading.is_some() {
        // As Redis: a partial dataset is never saved over the files it
        // comes from.
        nosave = true;
    }
    if !nosave && (save || crate::persist::has_save_points(ctx.state)) {
        crate::log::notice("Saving the final RDB snapshot before exiting.");
        if let Err(e) = crate::persist::save(ctx.state) {
            crate::log::warning(&format!("Error trying to save the DB, can't exit: {e}"));
            if !other {
                return Err(Error::err("Errors trying to SHUTDOWN. Check logs."));
            }
        }
    }
    // Saved (or not wanted): the exit path must not save again.
    ctx.state.shutdown_nosave = true;
    let _ = ctx.state.shutdown.send(true);
    ctx.client.close_after_reply = true;
    Ok(())
}

// --------------------------------------------------------------- DEBUG

/// DEBUG subcommand [arg ...]
fn debug(ctx: &mut Ctx) -> CmdResult {
    let allowed = match ctx.state.config.get("enable-debug-command") {
        "yes" => true,
        "local" => is_local(ctx),
        _ => false,
    };
    if !allowed {
        return Err(Error::err(
            "DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.",
        ));
    }
    let sub = String::from_utf8_lossy(ctx.arg(1)).to_ascii_lowercase();
    let argc = ctx.args.len();
    match (sub.as_str(), argc) {
        ("help", 2) => {
            help(
                ctx.reply,
                "DEBUG",
                &[
                    "CHANGE-REPL-ID",
                    "    Change the replication IDs of the instance.",
                    "    Dangerous: should be used only for testing the replication subsystem.",
                    "OBJECT <key>",
                    "    Show low level info about the key and associated value.",
                    "PROTOCOL <type>",
                    "    Reply with a test value of the specified type. <type> can be: string,",
                    "    integer, double, bignum, null, array, set, map, attrib, push, verbatim,",
                    "    true, false.",
                    "SET-ACTIVE-EXPIRE <0|1>",
                    "    Setting it to 0 disables expiring keys in background when they are not",
                    "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
                    "    default.",
                    "SLEEP <seconds>",
                    "    Stop the server for <seconds>. Decimals allowed.",
                ],
            );
            Ok(())
        }
        ("sleep", 3) => {
            let secs = strata_storage::num::parse_f64(ctx.arg(2))
                .filter(|s| s.is_finite() && *s > 0.0)
                .unwrap_or(0.0);
            std::thread::sleep(std::time::Duration::from_secs_f64(secs.min(3600.0)));
            ctx.reply.ok();
            Ok(())
        }
        ("change-repl-id", 2) => {
            ctx.reply.ok();
            Ok(())
        }
        ("protocol", 3) => debug_protocol(ctx),
        ("set-active-expire", 3) => {
            ctx.state.active_expire_enabled = atoi(ctx.arg(2)) != 0;
            ctx.reply.ok();
            Ok(())
        }
        ("object", 3) => {
            let key = ctx.args[2].clone();
            let db = ctx.client.db;
            let now = ctx.now_ms;
            let Some(entry) =
                ctx.state
                    .keyspace
                    .db(db)
                    .get(&key, now, strata_storage::keyspace::Touch::No)
            else {
                return Err(Error::NoSuchKey);
            };
            let line = format!(
                "Value at:0x0 refcount:1 encoding:{} serializedlength:{} lru:0 lru_seconds_idle:0",
                entry.value.encoding(),
                serialized_length(&entry.value)
            );
            ctx.reply.simple(&line);
            Ok(())
        }
        _ => Err(subcommand_syntax(ctx)),
    }
}

/// DEBUG PROTOCOL <type>: one test value of each reply type.
// Redis's literal test value 3.141 (not PI).
#[allow(clippy::approx_constant)]
fn debug_protocol(ctx: &mut Ctx) -> CmdResult {
    let name = String::from_utf8_lossy(ctx.arg(2)).to_ascii_lowercase();
    let r = &mut *ctx.reply;
    match name.as_str() {
        "string" => r.bulk(b"Hello World"),
        "integer" => r.int(12345),
        "double" => r.double(3.141),
        "bignum" => {
            let n = "1234567999999999999999999999999999999";
            if r.resp3 {
                r.raw(format!("({n}\r\n").as_bytes());
            } else {
                r.bulk(n.as_bytes());
            }
        }
        "null" => r.null(),
        "array" | "set" => {
            if name == "set" {
                r.set(3);
            } else {
                r.array(3);
            }
            for j in 0..3 {
                r.int(j);
            }
        }
        "map" => {
            r.map(3);
            for j in 0..3 {
                r.int(j);
                r.boolean(j == 1);
            }
        }
        "attrib" => {
            if r.resp3 {
                r.raw(b"|1\r\n");
                r.bulk(b"key-popularity");
                r.array(2);
                r.bulk(b"key:123");
                r.int(90);
            }
            r.bulk(b"Some real reply following the attribute");
        }
        "push" => {
            if !r.resp3 {
                return Err(Error::err("RESP2 is not supported by this command"));
            }
            r.push(2);
            r.bulk(b"server-cpu-usage");
            r.int(42);
            r.bulk(b"Some real reply following the push reply");
        }
        "true" => r.boolean(true),
        "false" => r.boolean(false),
        "verbatim" => r.verbatim("txt", b"This is a verbatim\nstring"),
        _ => {
            return Err(Error::err(
                "Wrong protocol type name. Please use one of the following: string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false",
            ))
        }
    }
    Ok(())
}

/// C's `atoi`: optional sign and leading digits, 0 otherwise.
fn atoi(b: &[u8]) -> i64 {
    let s = String::from_utf8_lossy(b);
    let t = s.trim_start();
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let n: i64 = digits
        .bytes()
        .take_while(|c| c.is_ascii_digit())
        .fold(0i64, |acc, c| {
            acc.wrapping_mul(10).wrapping_add(i64::from(c - b'0'))
        });
    if neg {
        -n
    } else {
        n
    }
}

/// Rough RDB length of a value (DEBUG OBJECT `serializedlength`).
fn serialized_length(v: &Value) -> usize {
    match v {
        Value::Str(Str::Int(i)) => {
            if (-128..128).contains(i) {
                2
            } else if (-32768..32768).contains(i) {
                3
            } else if (i32::MIN as i64..=i32::MAX as i64).contains(i) {
                5
            } else {
                let len = itoa::Buffer::new().format(*i).len();
                len + 1
            }
        }
        Value::Str(Str::Raw(b)) => b.len() + if b.len() < 64 { 1 } else { 2 },
        other => other.mem_usage(),
    }
}

// ------------------------------------------------------------- SLOWLOG

/// SLOWLOG GET [count]
fn slowlog_get(ctx: &mut Ctx) -> CmdResult {
    if ctx.args.len() > 3 {
        return Err(subcommand_syntax(ctx));
    }
    let count = if ctx.args.len() == 3 {
        match parse_i64(ctx.arg(2)) {
            Some(n) if n >= -1 => n,
            _ => return Err(Error::err("count should be greater than or equal to -1")),
        }
    } else {
        10
    };
    let n = if count == -1 {
        ctx.state.slowlog.len()
    } else {
        (count as usize).min(ctx.state.slowlog.len())
    };
    ctx.reply.array(n);
    for e in ctx.state.slowlog.iter().take(n) {
        ctx.reply.array(6);
        ctx.reply.int(e.id as i64);
        ctx.reply.int(e.time_s);
        ctx.reply.int(e.micros as i64);
        ctx.reply.array(e.args.len());
        for a in &e.args {
            ctx.reply.bulk(a);
        }
        ctx.reply.bulk(e.addr.as_bytes());
        ctx.reply.bulk(e.name.as_bytes());
    }
    Ok(())
}

/// SLOWLOG LEN
fn slowlog_len(ctx: &mut Ctx) -> CmdResult {
    ctx.reply.int(ctx.state.slowlog.len() as i64);
    Ok(())
}

/// SLOWLOG RESET
fn slowlog_reset(ctx: &mut Ctx) -> CmdResult {
    ctx.state.slowlog.clear();
    ctx.reply.ok();
    Ok(())
}

/// SLOWLOG HELP
fn slowlog_help(ctx: &mut Ctx) -> CmdResult {
    help(
        ctx.reply,
        "SLOWLOG",
        &[
            "GET [<count>]",
            "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
            "    Entries are made of:",
            "    id, timestamp, time in microseconds, arguments array, client IP and port,",
            "    client name",
            "LEN",
            "    Return the length of the slowlog.",
            "RESET",
            "    Reset the slowlog.",
        ],
    );
    Ok(())
}

// -------------------------------------------------------------- MEMORY

/// jemalloc's size class for an allocation of `n` bytes.
fn size_class(n: usize) -> usize {
    if n <= 8 {
        return 8;
    }
    if n <= 128 {
        return n.div_ceil(16) * 16;
    }
    let lg = usize::BITS - (n - 1).leading_zeros(); // 2^lg >= n
    let step = 1usize << (lg - 3);
    n.div_ceil(step) * step
}

/// Allocation size of an sds string of `len` bytes (Redis's header types).
fn sds_size(len: usize, allow_type5: bool) -> usize {
    let hdr = if len < 32 && allow_type5 {
        1
    } else if len < 256 {
        3
    } else if len < 65536 {
        5
    } else if (len as u64) < (1u64 << 32) {
        9
    } else {
        17
    };
    size_class(hdr + len + 1)
}

/// Redis's MEMORY USAGE estimate: the value object, the key's sds and
/// the dict entry (24 bytes). Exact for strings; collections add the
/// engine's own estimate to the object header.
pub fn memory_usage(key_len: usize, value: &Value) -> usize {
    const ROBJ: usize = 16;
    const DICT_ENTRY: usize = 24;
    let v = match value {
        Value::Str(Str::Int(_)) => ROBJ,
        Value::Str(Str::Raw(b)) if b.len() <= 44 => size_class(ROBJ + 3 + b.len() + 1),
        Value::Str(Str::Raw(b)) => ROBJ + sds_size(b.len(), false),
        other => ROBJ + other.mem_usage(),
    };
    v + sds_size(key_len, true) + DICT_ENTRY
}

/// MEMORY USAGE key [SAMPLES count]
fn memory_usage_cmd(ctx: &mut Ctx) -> CmdResult {
    let mut j = 3;
    while j < ctx.args.len() {
        if crate::args::is(&ctx.args[j], "samples") && j + 1 < ctx.args.len() {
            let n = parse_i64(&ctx.args[j + 1]).ok_or(Error::NotInteger)?;
            if n < 0 {
                return Err(Error::Syntax);
            }
            j += 2;
        } else {
            return Err(Error::Syntax);
        }
    }
    let key = ctx.args[2].clone();
    let db = ctx.client.db;
    match ctx.state.keyspace.db(db).peek(&key) {
        Some(entry) => {
            let n = memory_usage(key.len(), &entry.value);
            ctx.reply.int(n as i64);
        }
        None => ctx.reply.null(),
    }
    Ok(())
}

/// MEMORY STATS
fn memory_stats(ctx: &mut Ctx) -> CmdResult {
    let m = crate::info::mem_stats();
    let keys: usize = ctx.state.keyspace.dbs.iter().map(|d| d.len()).sum();
    let overhead = m.startup.min(m.allocated);
    let dataset = m.allocated - overhead;
    let net = m.allocated.saturating_sub(m.startup);
    let r = &mut *ctx.reply;
    let at = r.defer();
    let mut n = 0;
    let int = |r: &mut Reply, k: &str, v: i64| {
        r.bulk(k.as_bytes());
        r.int(v);
    };
    for (k, v) in [
        ("peak.allocated", m.peak as i64),
        ("total.allocated", m.allocated as i64),
        ("startup.allocated", m.startup as i64),
        ("replication.backlog", 0),
        ("clients.slaves", 0),
        ("clients.normal", 0),
        ("cluster.links", 0),
        ("aof.buffer", 0),
        ("lua.caches", 0),
        ("functions.caches", 0),
    ] {
        int(r, k, v);
        n += 1;
    }
    for (i, db) in ctx.state.keyspace.dbs.iter().enumerate() {
        if db.is_empty() {
            continue;
        }
        r.bulk(format!("db.{i}").as_bytes());
        r.map(2);
        r.bulk(b"overhead.hashtable.main");
        r.int((db.len() * 24) as i64);
        r.bulk(b"overhead.hashtable.expires");
        r.int((db.expires_len() * 24) as i64);
        n += 1;
    }
    int(r, "overhead.total", overhead as i64);
    int(r, "keys.count", keys as i64);
    int(
        r,
        "keys.bytes-per-key",
        (net as usize).checked_div(keys).unwrap_or(0) as i64,
    );
    int(r, "dataset.bytes", dataset as i64);
    n += 4;
    let ratio = crate::info::ratio;
    let dbl = |r: &mut Reply, k: &str, v: f64| {
        r.bulk(k.as_bytes());
        r.double(v);
    };
    dbl(r, "dataset.percentage", ratio(dataset, net) * 100.0);
    dbl(r, "peak.percentage", ratio(m.allocated, m.peak) * 100.0);
    n += 2;
    let d = |a: u64, b: u64| a as i64 - b as i64;
    int(r, "allocator.allocated", m.allocated as i64);
    int(r, "allocator.active", m.active as i64);
    int(r, "allocator.resident", m.resident as i64);
    n += 3;
    dbl(
        r,
        "allocator-fragmentation.ratio",
        ratio(m.active, m.allocated),
    );
    int(r, "allocator-fragmentation.bytes", d(m.active, m.allocated));
    dbl(r, "allocator.rss-ratio", ratio(m.resident, m.active));
    int(r, "allocator.rss-bytes", d(m.resident, m.active));
    dbl(r, "rss-overhead.ratio", ratio(m.rss, m.resident));
    int(r, "rss-overhead.bytes", d(m.rss, m.resident));
    dbl(r, "fragmentation", ratio(m.rss, m.allocated));
    int(r, "fragmentation.bytes", d(m.rss, m.allocated));
    n += 8;
    r.finish_map(at, n);
    Ok(())
}

/// MEMORY DOCTOR
fn memory_doctor(ctx: &mut Ctx) -> CmdResult {
    let m = crate::info::mem_stats();
    let text = if m.allocated < 5 * 1024 * 1024 {
        "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting.\n"
    } else {
        "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.\n"
    };
    ctx.reply.verbatim("txt", text.as_bytes());
    Ok(())
}

/// MEMORY MALLOC-STATS (jemalloc's global counters; the full
/// `malloc_stats_print` report needs a jemalloc-ctl feature not enabled).
fn memory_malloc_stats(ctx: &mut Ctx) -> CmdResult {
    let m = crate::info::mem_stats();
    let text = format!(
        "___ Begin jemalloc statistics ___\nAllocated: {}, active: {}, resident: {}, mapped: {}\n--- End jemalloc statistics ---\n",
        m.allocated, m.active, m.resident, m.mapped
    );
    ctx.reply.verbatim("txt", text.as_bytes());
    Ok(())
}

/// MEMORY PURGE
fn memory_purge(ctx: &mut Ctx) -> CmdResult {
    ctx.reply.ok();
    Ok(())
}

/// MEMORY HELP
fn memory_help(ctx: &mut Ctx) -> CmdResult {
    help(
        ctx.reply,
        "MEMORY",
        &[
            "DOCTOR",
            "    Return memory problems reports.",
            "MALLOC-STATS",
            "    Return internal statistics report from the memory allocator.",
            "PURGE",
            "    Attempt to purge dirty pages for reclamation by the allocator.",
            "STATS",
            "    Return information about the memory usage of the server.",
            "USAGE <key> [SAMPLES <count>]",
            "    Return memory in bytes used by <key> and its value. Nested values are",
            "    sampled up to <count> times (default: 5, 0 means sample all).",
        ],
    );
    Ok(())
}

// ------------------------------------------------------------- MONITOR

/// MONITOR
fn monitor(ctx: &mut Ctx) -> CmdResult {
    if ctx.client.deny_blocking {
        return Err(Error::err("MONITOR isn't allowed for DENY BLOCKING client"));
    }
    if ctx.client.monitor {
        // Redis ignores a repeated MONITOR silently.
        return Ok(());
    }
    ctx.client.monitor = true;
    let id = ctx.client.id;
    if !ctx.state.monitors.contains(&id) {
        ctx.state.monitors.push(id);
    }
    ctx.reply.ok();
    Ok(())
}

// --------------------------------------------------------------- table

const LS: Flags = Flags::LOADING.or(Flags::STALE);
const ADM: Flags = Flags::ADMIN.or(Flags::NOSCRIPT).or(LS);

static CONFIG_SUBS: &[CommandSpec] = &[
    CommandSpec::new("config|get", -3, ADM, Keys::None, config_get).doc(
        "server",
        "2.0.0",
        "Returns the effective values of configuration parameters.",
    ),
    CommandSpec::new("config|set", -4, ADM, Keys::None, config_set).doc(
        "server",
        "2.0.0",
        "Sets configuration parameters in-flight.",
    ),
    CommandSpec::new("config|resetstat", 2, ADM, Keys::None, config_resetstat).doc(
        "server",
        "2.0.0",
        "Resets the server's statistics.",
    ),
    CommandSpec::new("config|rewrite", 2, ADM, Keys::None, config_rewrite).doc(
        "server",
        "2.8.0",
        "Persists the effective configuration to file.",
    ),
    CommandSpec::new("config|help", 2, LS, Keys::None, config_help).doc(
        "server",
        "5.0.0",
        "Returns helpful text about the different subcommands.",
    ),
];

static COMMAND_SUBS: &[CommandSpec] = &[
    CommandSpec::new("command|count", 2, LS, Keys::None, command_count).doc(
        "server",
        "2.8.13",
        "Returns a count of commands.",
    ),
    CommandSpec::new("command|list", -2, LS, Keys::None, command_list).doc(
        "server",
        "7.0.0",
        "Returns a list of command names.",
    ),
    CommandSpec::new("command|info", -2, LS, Keys::None, command_info_cmd).doc(
        "server",
        "2.8.13",
        "Returns information about one, multiple or all commands.",
    ),
    CommandSpec::new("command|docs", -2, LS, Keys::None, command_docs).doc(
        "server",
        "7.0.0",
        "Returns documentary information about one, multiple or all commands.",
    ),
    CommandSpec::new("command|getkeys", -4, LS, Keys::None, command_getkeys).doc(
        "server",
        "2.8.13",
        "Extracts the key names from an arbitrary command.",
    ),
    CommandSpec::new(
        "command|getkeysandflags",
        -4,
        LS,
        Keys::None,
        command_getkeysandflags,
    )
    .doc(
        "server",
        "7.0.0",
        "Extracts the key names and access flags for an arbitrary command.",
    ),
    CommandSpec::new("command|help", 2, LS, Keys::None, command_help).doc(
        "server",
        "5.0.0",
        "Returns helpful text about the different subcommands.",
    ),
];

static SLOWLOG_SUBS: &[CommandSpec] = &[
    CommandSpec::new(
        "slowlog|get",
        -2,
        Flags::ADMIN.or(LS),
        Keys::None,
        slowlog_get,
    )
    .doc("server", "2.2.12", "Returns the slow log's entries."),
    CommandSpec::new(
        "slowlog|len",
        2,
        Flags::ADMIN.or(LS),
        Keys::None,
        slowlog_len,
    )
    .doc(
        "server",
        "2.2.12",
        "Returns the number of entries in the slow log.",
    ),
    CommandSpec::new(
        "slowlog|reset",
        2,
        Flags::ADMIN.or(LS),
        Keys::None,
        slowlog_reset,
    )
    .doc("server", "2.2.12", "Clears all entries from the slow log."),
    CommandSpec::new("slowlog|help", 2, LS, Keys::None, slowlog_help).doc(
        "server",
        "6.2.0",
        "Show helpful text about the different subcommands",
    ),
];

static MEMORY_SUBS: &[CommandSpec] = &[
    CommandSpec::new(
        "memory|usage",
        -3,
        Flags::READONLY,
        Keys::Range {
            first: 2,
            last: 2,
            step: 1,
        },
        memory_usage_cmd,
    )
    .doc("server", "4.0.0", "Estimates the memory usage of a key."),
    CommandSpec::new("memory|stats", 2, Flags::NONE, Keys::None, memory_stats).doc(
        "server",
        "4.0.0",
        "Returns details about memory usage.",
    ),
    CommandSpec::new("memory|doctor", 2, Flags::NONE, Keys::None, memory_doctor).doc(
        "server",
        "4.0.0",
        "Outputs a memory problems report.",
    ),
    CommandSpec::new(
        "memory|malloc-stats",
        2,
        Flags::NONE,
        Keys::None,
        memory_malloc_stats,
    )
    .doc("server", "4.0.0", "Returns the allocator statistics."),
    CommandSpec::new("memory|purge", 2, Flags::NONE, Keys::None, memory_purge).doc(
        "server",
        "4.0.0",
        "Asks the allocator to release memory.",
    ),
    CommandSpec::new("memory|help", 2, LS, Keys::None, memory_help).doc(
        "server",
        "4.0.0",
        "Outputs helpful text about the different subcommands.",
    ),
];

pub static TABLE: &[CommandSpec] = &[
    CommandSpec::new("info", -1, LS, Keys::None, info).doc(
        "server",
        "1.0.0",
        "Returns information and statistics about the server.",
    ),
    CommandSpec::new("config", -2, Flags::NONE, Keys::None, container)
        .doc(
            "server",
            "2.0.0",
            "A container for server configuration commands.",
        )
        .subs(CONFIG_SUBS),
    CommandSpec::new("command", -1, LS, Keys::None, command_all)
        .doc(
            "server",
            "2.8.13",
            "Returns detailed information about all commands.",
        )
        .subs(COMMAND_SUBS),
    CommandSpec::new("time", 1, LS.or(Flags::FAST), Keys::None, time).doc(
        "server",
        "2.6.0",
        "Returns the server time.",
    ),
    CommandSpec::new("lastsave", 1, LS.or(Flags::FAST), Keys::None, lastsave).doc(
        "server",
        "1.0.0",
        "Returns the Unix timestamp of the last successful save to disk.",
    ),
    CommandSpec::new(
        "shutdown",
        -1,
        Flags::ADMIN
            .or(Flags::NOSCRIPT)
            .or(Flags::LOADING)
            .or(Flags::STALE)
            .or(Flags::NO_MULTI)
            .or(Flags::ALLOW_BUSY),
        Keys::None,
        shutdown,
    )
    .doc(
        "server",
        "1.0.0",
        "Synchronously saves the database(s) to disk and shuts down the Redis server.",
    ),
    CommandSpec::new("debug", -2, ADM, Keys::None, debug).doc(
        "server",
        "1.0.0",
        "A container for debugging commands.",
    ),
    CommandSpec::new("slowlog", -2, Flags::NONE, Keys::None, container)
        .doc("server", "2.2.12", "A container for slow log commands.")
        .subs(SLOWLOG_SUBS),
    CommandSpec::new("memory", -2, Flags::NONE, Keys::None, container)
        .doc(
            "server",
            "4.0.0",
            "A container for memory diagnostics commands.",
        )
        .subs(MEMORY_SUBS),
    CommandSpec::new("monitor", 1, ADM, Keys::None, monitor).doc(
        "server",
        "1.0.0",
        "Listens for all requests received by the server in real-time.",
    ),
];
