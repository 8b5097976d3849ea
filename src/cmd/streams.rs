//! Stream commands (Redis 7.0's `t_stream.c`): XADD, XLEN, XRANGE,
//! XREVRANGE, XDEL, XTRIM, XREAD, XREADGROUP, XGROUP, XACK, XPENDING,
//! XCLAIM, XAUTOCLAIM, XINFO, XSETID.
//!
//! The data structure lives in `strata_storage::stream`. Replies, error
//! texts, argument parsing order and keyspace events follow Redis 7.0.15.
//!
//! Blocking XREAD/XREADGROUP park on their keys through
//! [`crate::blocking`]; XADD signals the key ready and the parked command
//! runs again, cut down to the ready key. A run from the blocked state
//! (`ctx.client.blocked` is set) follows Redis's
//! `serveClientsBlockedOnStreamKey`: a default COUNT of 1000, served as
//! soon as the stream's last ID passes the one waited for, and a group
//! deleted meanwhile is an error.

use bytes::Bytes;
use strata_storage::stream::{
    self, AppendError, Entry, Group, NodeLimits, Stream, StreamId, Trim, INVALID_ENTRIES_READ,
};
use strata_storage::value::Value;

use crate::args;
use crate::blocking::{block_on_keys, TimeoutReply};
use crate::command::{CommandSpec, Ctx, Flags, Keys};
use crate::error::{sanitize, CmdResult, Error};
use crate::reply::Reply;

// ------------------------------------------------------------- helpers

fn invalid_id() -> Error {
    Error::err("Invalid stream ID specified as stream command argument")
}

/// `streamParseStrictIDOrReply` (no `-`/`+`).
fn strict_id(arg: &[u8]) -> Result<StreamId, Error> {
    stream::parse_id(arg, 0, true, false)
        .map(|(id, _)| id)
        .ok_or_else(invalid_id)
}

/// `streamParseIDOrReply` (`-` and `+` allowed).
fn any_id(arg: &[u8], missing_seq: u64) -> Result<StreamId, Error> {
    stream::parse_id(arg, missing_seq, false, false)
        .map(|(id, _)| id)
        .ok_or_else(invalid_id)
}

/// `streamParseIntervalIDOrReply`: an ID, or `(ID` for an open bound.
fn interval_id(arg: &[u8], missing_seq: u64) -> Result<(StreamId, bool), Error> {
    if arg.len() > 1 && arg[0] == b'(' {
        let id = stream::parse_id(&arg[1..], missing_seq, true, false)
            .map(|(id, _)| id)
            .ok_or_else(invalid_id)?;
        Ok((id, true))
    } else {
        Ok((any_id(arg, missing_seq)?, false))
    }
}

/// A range's start (`(` moves it up).
fn range_start(arg: &[u8]) -> Result<StreamId, Error> {
    let (id, ex) = interval_id(arg, 0)?;
    if ex {
        return id
            .incr()
            .ok_or_else(|| Error::err("invalid start ID for the interval"));
    }
    Ok(id)
}

/// A range's end (`(` moves it down).
fn range_end(arg: &[u8]) -> Result<StreamId, Error> {
    let (id, ex) = interval_id(arg, u64::MAX)?;
    if ex {
        return id
            .decr()
            .ok_or_else(|| Error::err("invalid end ID for the interval"));
    }
    Ok(id)
}

/// `getLongLongFromObjectOrReply` with a custom message.
fn int_or(arg: &[u8], msg: &str) -> Result<i64, Error> {
    strata_storage::num::parse_i64(arg).ok_or_else(|| Error::err(msg))
}

/// Redis's `addReplyErrorFormat` text with a leading `-CODE`: arguments
/// lose CR/LF.
fn fmt_err(line: String) -> Error {
    Error::custom(line)
}

/// An argument as `%s` shows it: up to a NUL byte, CR/LF as spaces.
fn show(b: &[u8]) -> String {
    sanitize(stream::cstr(b), usize::MAX)
}

fn subcommand_syntax(ctx: &Ctx) -> Error {
    Error::err(format!(
        "unknown subcommand or wrong number of arguments for '{}'. Try {} HELP.",
        sanitize(ctx.arg(1), 128),
        String::from_utf8_lossy(ctx.arg(0)).to_ascii_uppercase()
    ))
}

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

fn node_limits(ctx: &Ctx) -> NodeLimits {
    NodeLimits {
        max_bytes: ctx.state.config.get_int("stream-node-max-bytes").max(0) as usize,
        max_entries: ctx.state.config.get_int("stream-node-max-entries").max(0),
    }
}

fn stream_read<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<Option<&'a mut Stream>, Error> {
    match ctx.lookup_read(key) {
        None => Ok(None),
        Some(e) => match &mut e.value {
            Value::Stream(s) => Ok(Some(s)),
            _ => Err(Error::WrongType),
        },
    }
}

/// The NOGROUP error unless `key` is a stream with the group `name`.
fn require_group(ctx: &mut Ctx, key: &[u8], name: &[u8]) -> Result<(), Error> {
    match stream_read(ctx, key)? {
        Some(s) if s.groups.contains_key(name) => Ok(()),
        _ => Err(fmt_err(format!(
            "NOGROUP No such key '{}' or consumer group '{}'",
            show(key),
            show(name)
        ))),
    }
}

fn stream_write<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<Option<&'a mut Stream>, Error> {
    match ctx.lookup_write(key) {
        None => Ok(None),
        Some(e) => match &mut e.value {
            Value::Stream(s) => Ok(Some(s)),
            _ => Err(Error::WrongType),
        },
    }
}

/// The stream at `key` for a command that must find one (already type
/// checked by the caller in the same command).
fn stream_mut<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Option<&'a mut Stream> {
    let now = ctx.now_ms;
    match ctx
        .db()
        .get_mut(key, now, strata_storage::keyspace::Touch::No)
    {
        Some(e) => match &mut e.value {
            Value::Stream(s) => Some(s),
            _ => None,
        },
        None => None,
    }
}

fn reply_id(reply: &mut Reply, id: StreamId) {
    reply.bulk(id.format().as_bytes());
}

/// One entry: `[id, [field, value, ...]]`.
fn reply_entry(reply: &mut Reply, e: &Entry) {
    reply.array(2);
    reply_id(reply, e.id);
    reply.array(e.fields.len() * 2);
    for (f, v) in &e.fields {
        f.with_bytes(|b| reply.bulk(b));
        v.with_bytes(|b| reply.bulk(b));
    }
}

fn reply_entries(reply: &mut Reply, entries: &[Entry]) {
    reply.array(entries.len());
    for e in entries {
        reply_entry(reply, e);
    }
}

// ---------------------------------------------------------------- XADD

/// Parsed XADD/XTRIM options (`streamAddTrimArgs`).
#[derive(Default)]
struct AddTrim {
    /// XADD's ID: `None` for `*`; the bool is "sequence given".
    id: Option<(StreamId, bool)>,
    no_mkstream: bool,
    trim: Option<Trim>,
    approx: bool,
    limit: i64,
    /// Index of the ID argument (XADD).
    idpos: usize,
}

/// `streamParseAddOrTrimArgsOrReply`.
fn parse_add_trim(ctx: &Ctx, xadd: bool) -> Result<AddTrim, Error> {
    let a = ctx.args;
    let argc = a.len();
    let mut t = AddTrim::default();
    let mut limit_given = false;
    let mut i = 2;
    while i < argc {
        let more = argc - 1 - i;
        let opt = &a[i];
        if xadd && opt.as_ref() == b"*" {
            break;
        } else if (args::is(opt, "maxlen") || args::is(opt, "minid")) && more > 0 {
            if t.trim.is_some() {
                return Err(Error::err(
                    "syntax error, MAXLEN and MINID options at the same time are not compatible",
                ));
            }
            t.approx = false;
            let next = &a[i + 1];
            if more >= 2 && next.as_ref() == b"~" {
                t.approx = true;
                i += 1;
            } else if more >= 2 && next.as_ref() == b"=" {
                i += 1;
            }
            let value = &a[i + 1];
            t.trim = Some(if args::is(opt, "maxlen") {
                let n = args::int(value)?;
                if n < 0 {
                    return Err(Error::err("The MAXLEN argument must be >= 0."));
                }
                Trim::MaxLen(n as u64)
            } else {
                Trim::MinId(strict_id(value)?)
            });
            i += 1;
        } else if args::is(opt, "limit") && more > 0 {
            let n = args::int(&a[i + 1])?;
            if n < 0 {
                return Err(Error::err("The LIMIT argument must be >= 0."));
            }
            t.limit = n;
            limit_given = true;
            i += 1;
        } else if xadd && args::is(opt, "nomkstream") {
            t.no_mkstream = true;
        } else if xadd {
            let (id, seq_given) = stream::parse_id(opt, 0, true, true).ok_or_else(invalid_id)?;
            t.id = Some((id, seq_given));
            break;
        } else {
            return Err(Error::Syntax);
        }
        i += 1;
    }
    t.idpos = i;
    if t.limit != 0 && t.trim.is_none() {
        return Err(Error::err(
            "syntax error, LIMIT cannot be used without specifying a trimming strategy",
        ));
    }
    if !xadd && t.trim.is_none() {
        return Err(Error::err(
            "syntax error, XTRIM must be called with a trimming strategy",
        ));
    }
    if limit_given {
        if !t.approx {
            return Err(Error::err(
                "syntax error, LIMIT cannot be used without the special ~ option",
            ));
        }
    } else if t.approx {
        let per_node = ctx.state.config.get_int("stream-node-max-entries");
        let mut l = per_node.saturating_mul(100);
        if l <= 0 {
            l = 10000;
        }
        if l > 1_000_000 {
            l = 1_000_000;
        }
        t.limit = l;
    } else {
        t.limit = 0;
    }
    Ok(t)
}

/// XADD key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]] *|id field value [field value ...]
fn xadd(ctx: &mut Ctx) -> CmdResult {
    let t = parse_add_trim(ctx, true)?;
    let field_pos = t.idpos + 1;
    let argc = ctx.args.len();
    if argc < field_pos + 2 || (argc - field_pos) % 2 == 1 {
        return Err(Error::wrong_arity("xadd"));
    }
    if let Some((id, true)) = t.id {
        if id.is_zero() {
            return Err(Error::err(
                "The ID specified in XADD must be greater than 0-0",
            ));
        }
    }
    let key = ctx.arg(1).clone();
    if stream_write(ctx, &key)?.is_none() {
        if t.no_mkstream {
            ctx.reply.null();
            return Ok(());
        }
        let now = ctx.now_ms;
        ctx.db()
            .set(key.clone(), Value::Stream(Box::default()), now);
    }
    let limits = node_limits(ctx);
    let now = ctx.now_ms.max(0) as u64;
    let args = ctx.args;
    let Some(s) = stream_mut(ctx, &key) else {
        return Ok(());
    };
    if s.last_id == StreamId::MAX {
        return Err(Error::err(
            "The stream has exhausted the last possible ID, unable to add more items",
        ));
    }
    let id = match s.append(&args[field_pos..], t.id, now, limits) {
        Ok(id) => id,
        Err(AppendError::IdTooSmall) => {
            return Err(Error::err(
                "The ID specified in XADD is equal or smaller than the target stream top item",
            ))
        }
        Err(AppendError::TooLarge) => {
            return Err(Error::err("Elements are too large to be stored"))
        }
    };
    let trimmed = match t.trim {
        Some(how) => s.trim(how, t.approx, t.limit),
        None => 0,
    };
    reply_id(ctx.reply, id);
    ctx.signal_modified(&key);
    ctx.notify('t', "xadd", &key);
    ctx.add_dirty(1);
    if trimmed != 0 {
        ctx.notify('t', "xtrim", &key);
    }
    ctx.signal_key_ready(&key);
    Ok(())
}

/// XTRIM key MAXLEN|MINID [=|~] threshold [LIMIT count]
fn xtrim(ctx: &mut Ctx) -> CmdResult {
    let t = parse_add_trim(ctx, false)?;
    let key = ctx.arg(1).clone();
    let Some(s) = stream_write(ctx, &key)? else {
        ctx.reply.int(0);
        return Ok(());
    };
    let deleted = match t.trim {
        Some(how) => s.trim(how, t.approx, t.limit),
        None => 0,
    };
    if deleted != 0 {
        ctx.notify('t', "xtrim", &key);
        ctx.signal_modified(&key);
        ctx.add_dirty(deleted as u64);
    }
    ctx.reply.int(deleted);
    Ok(())
}

// ----------------------------------------------------- XLEN, XRANGE, XDEL

/// XLEN key
fn xlen(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.arg(1).clone();
    let n = stream_read(ctx, &key)?.map(|s| s.len()).unwrap_or(0);
    ctx.reply.int(n as i64);
    Ok(())
}

fn xrange_generic(ctx: &mut Ctx, rev: bool) -> CmdResult {
    let resp3 = ctx.reply.resp3;
    let (startarg, endarg) = if rev {
        (ctx.arg(3).clone(), ctx.arg(2).clone())
    } else {
        (ctx.arg(2).clone(), ctx.arg(3).clone())
    };
    let start = range_start(&startarg)?;
    let end = range_end(&endarg)?;
    let mut count: i64 = -1;
    let a = ctx.args;
    let mut j = 4;
    while j < a.len() {
        let additional = a.len() - j - 1;
        if args::is(&a[j], "count") && additional >= 1 {
            count = args::int(&a[j + 1])?.max(0);
            j += 1;
        } else {
            return Err(Error::Syntax);
        }
        j += 1;
    }
    let key = ctx.arg(1).clone();
    let Some(s) = stream_read(ctx, &key)? else {
        ctx.reply.array(0);
        return Ok(());
    };
    if count == 0 {
        ctx.reply.null_array();
        return Ok(());
    }
    let n = if count < 0 { 0 } else { count as usize };
    let s: &Stream = s;
    let entries = s.range(start, end, rev, n);
    let mut out = Reply::new(resp3);
    reply_entries(&mut out, &entries);
    drop(entries);
    ctx.reply.raw(&out.buf);
    Ok(())
}

/// XRANGE key start end [COUNT count]
fn xrange(ctx: &mut Ctx) -> CmdResult {
    xrange_generic(ctx, false)
}

/// XREVRANGE key end start [COUNT count]
fn xrevrange(ctx: &mut Ctx) -> CmdResult {
    xrange_generic(ctx, true)
}

/// XDEL key id [id ...]
fn xdel(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.arg(1).clone();
    if stream_write(ctx, &key)?.is_none() {
        ctx.reply.int(0);
        return Ok(());
    }
    let ids = ctx.args[2..]
        .iter()
        .map(|a| strict_id(a))
        .collect::<Result<Vec<_>, _>>()?;
    let Some(s) = stream_mut(ctx, &key) else {
        return Ok(());
    };
    let deleted = s.delete_ids(&ids);
    if deleted > 0 {
        ctx.signal_modified(&key);
        ctx.notify('t', "xdel", &key);
        ctx.add_dirty(deleted);
    }
    ctx.reply.int(deleted as i64);
    Ok(())
}

// ------------------------------------------------------ XREAD/XREADGROUP

/// Keys of XREAD/XREADGROUP from their key specs (what Redis 7.0 uses):
/// the first `STREAMS` from argument `from` on, then the first half of
/// the arguments after it.
fn stream_keys(a: &[Bytes], from: usize) -> Vec<usize> {
    let Some(kw) = (from..a.len()).find(|&i| args::is(&a[i], "streams")) else {
        return Vec::new();
    };
    let first = kw + 1;
    let n = a.len().saturating_sub(first) / 2;
    (first..first + n).collect()
}

fn xread_keys(a: &[Bytes]) -> Vec<usize> {
    stream_keys(a, 1)
}

fn xreadgroup_keys(a: &[Bytes]) -> Vec<usize> {
    stream_keys(a, 4)
}

/// The command to run again for a client blocked on several streams when
/// `key` is ready: `STREAMS key id` with that key's ID only.
pub fn args_for_key(args: &[Bytes], key: &Bytes) -> Vec<Bytes> {
    let group = args.first().is_some_and(|n| n.len() == 10);
    let pos = if group {
        xreadgroup_keys(args)
    } else {
        xread_keys(args)
    };
    let (Some(&first), Some(&last)) = (pos.first(), pos.last()) else {
        return args.to_vec();
    };
    let n = pos.len();
    let mut out: Vec<Bytes> = args[..first].to_vec();
    for p in first..=last {
        if args[p] == *key {
            out.push(args[p].clone());
            out.push(args[p + n].clone());
            return out;
        }
    }
    args.to_vec()
}

/// Whether a script is running (XREAD BLOCK is refused there).
fn in_script(ctx: &Ctx) -> bool {
    ctx.state
        .scripting
        .status
        .running_since
        .load(std::sync::atomic::Ordering::Relaxed)
        != 0
}

const XREAD_BLOCKED_DEFAULT_COUNT: usize = 1000;

/// XREAD [COUNT count] [BLOCK milliseconds] STREAMS key [key ...] id [id ...]
/// (also XREADGROUP GROUP group consumer [COUNT count] [BLOCK milliseconds] [NOACK] STREAMS key [key ...] id [id ...])
fn xread(ctx: &mut Ctx) -> CmdResult {
    let a = ctx.args;
    let argc = a.len();
    let xreadgroup = a[0].len() == 10;
    let mut timeout: Option<Option<i64>> = None;
    let mut count: i64 = 0;
    let mut streams_arg = 0usize;
    let mut streams_count = 0usize;
    let mut noack = false;
    let mut group: Option<Bytes> = None;
    let mut consumer: Option<Bytes> = None;
    let mut i = 1;
    while i < argc {
        let more = argc - i - 1;
        let o = &a[i];
        if args::is(o, "block") && more > 0 {
            if in_script(ctx) {
                return Err(Error::err(format!(
                    "{} command is not allowed with BLOCK option from scripts",
                    String::from_utf8_lossy(stream::cstr(&a[0]))
                )));
            }
            i += 1;
            let t = strata_storage::num::parse_i64(&a[i])
                .ok_or_else(|| Error::err("timeout is not an integer or out of range"))?;
            if t < 0 {
                return Err(Error::err("timeout is negative"));
            }
            timeout = Some(if t > 0 {
                Some(ctx.now_ms.saturating_add(t))
            } else {
                None
            });
        } else if args::is(o, "count") && more > 0 {
            i += 1;
            count = args::int(&a[i])?.max(0);
        } else if args::is(o, "streams") && more > 0 {
            streams_arg = i + 1;
            let n = argc - streams_arg;
            if !n.is_multiple_of(2) {
                return Err(Error::err(
                    "Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.",
                ));
            }
            streams_count = n / 2;
            break;
        } else if args::is(o, "group") && more >= 2 {
            if !xreadgroup {
                return Err(Error::err(
                    "The GROUP option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            group = Some(a[i + 1].clone());
            consumer = Some(a[i + 2].clone());
            i += 2;
        } else if args::is(o, "noack") {
            if !xreadgroup {
                return Err(Error::err(
                    "The NOACK option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            noack = true;
        } else {
            return Err(Error::Syntax);
        }
        i += 1;
    }
    if streams_arg == 0 {
        return Err(Error::Syntax);
    }
    if xreadgroup && group.is_none() {
        return Err(Error::err("Missing GROUP option for XREADGROUP"));
    }
    let rerun = ctx.client.blocked.is_some();
    // Parse the IDs and check the keys, in argument order.
    let mut ids: Vec<StreamId> = Vec::with_capacity(streams_count);
    for k in 0..streams_count {
        let key = a[streams_arg + k].clone();
        let idarg = stream::cstr(&a[streams_arg + streams_count + k]);
        let s = stream_read(ctx, &key)?;
        if let Some(g) = &group {
            let found = s.as_ref().is_some_and(|s| s.groups.contains_key(g));
            if !found {
                if rerun && s.is_some() {
                    return Err(Error::custom(
                        "NOGROUP the consumer group this client was blocked on no longer exists",
                    ));
                }
                return Err(fmt_err(format!(
                    "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
                    show(&key),
                    show(g)
                )));
            }
        }
        if idarg == b"$" {
            if xreadgroup {
                return Err(Error::err(
                    "The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.",
                ));
            }
            ids.push(s.map(|s| s.last_id).unwrap_or(StreamId::MIN));
            continue;
        } else if idarg == b">" {
            if !xreadgroup {
                return Err(Error::err(
                    "The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.",
                ));
            }
            ids.push(StreamId::MAX);
            continue;
        }
        ids.push(strict_id(&a[streams_arg + streams_count + k])?);
    }
    let count = if rerun && count == 0 {
        XREAD_BLOCKED_DEFAULT_COUNT
    } else {
        count as usize
    };
    // Serve what can be served now.
    let resp3 = ctx.reply.resp3;
    let mut out = Reply::new(resp3);
    let mut served = 0usize;
    for k in 0..streams_count {
        let key = a[streams_arg + k].clone();
        let now = ctx.now_ms;
        let Some(s) = stream_read(ctx, &key)? else {
            continue;
        };
        let mut gt = ids[k];
        let mut serve = false;
        let mut history = false;
        if let Some(g) = &group {
            let Some(glast) = s.groups.get(g).map(|g| g.last_id) else {
                return Err(Error::custom(
                    "NOGROUP the consumer group this client was blocked on no longer exists",
                ));
            };
            if rerun {
                gt = glast;
                serve = s.last_id > gt;
            } else if gt != StreamId::MAX {
                serve = true;
                history = true;
            } else if s.length > 0 && s.last_valid_id() > glast {
                serve = true;
                gt = glast;
            }
        } else if rerun {
            serve = s.last_id > gt;
        } else if s.length > 0 && s.last_valid_id() > gt {
            serve = true;
        }
        if !serve {
            continue;
        }
        served += 1;
        let start = gt.incr().unwrap_or(StreamId::MIN);
        if !resp3 {
            out.array(2);
        }
        out.bulk(&key);
        match (&group, &consumer) {
            (Some(g), Some(c)) => {
                let created = read_group(s, g, c, start, count, noack, history, now, &mut out);
                if created {
                    ctx.notify('t', "xgroup-createconsumer", &key);
                    ctx.add_dirty(1);
                }
                ctx.signal_modified(&key);
                ctx.add_dirty(1);
            }
            _ => {
                let s: &Stream = s;
                let entries = s.range(start, StreamId::MAX, false, count);
                reply_entries(&mut out, &entries);
            }
        }
    }
    if served > 0 {
        if resp3 {
            ctx.reply.map(served);
        } else {
            ctx.reply.array(served);
        }
        ctx.reply.raw(&out.buf);
        return Ok(());
    }
    if let Some(deadline) = timeout {
        let keys: Vec<Bytes> = a[streams_arg..streams_arg + streams_count].to_vec();
        let was_blocked = ctx.client.blocked.is_some();
        block_on_keys(ctx, &keys, deadline, TimeoutReply::NullArray);
        // `$` waits for entries after the last ID at block time.
        if !was_blocked && !xreadgroup {
            if let Some(b) = ctx.client.blocked.as_mut() {
                for (k, id) in ids.iter().enumerate() {
                    if let Some(slot) = b.args.get_mut(streams_arg + streams_count + k) {
                        *slot = Bytes::from(id.format());
                    }
                }
            }
        }
        return Ok(());
    }
    ctx.reply.null_array();
    Ok(())
}

/// Serves one stream to a consumer of a group (`streamReplyWithRange`
/// with a group, or its consumer-PEL history form). Returns true if the
/// consumer was created.
#[allow(clippy::too_many_arguments)]
fn read_group(
    s: &mut Stream,
    group: &Bytes,
    consumer: &Bytes,
    start: StreamId,
    count: usize,
    noack: bool,
    history: bool,
    now: i64,
    out: &mut Reply,
) -> bool {
    let mut created = false;
    if let Some(g) = s.groups.get_mut(group) {
        match g.consumers.get_mut(consumer) {
            Some(c) => c.seen_time = now,
            None => {
                g.create_consumer(consumer, now);
                created = true;
            }
        }
    }
    if history {
        let ids: Vec<StreamId> = s
            .groups
            .get(group)
            .and_then(|g| g.consumers.get(consumer))
            .map(|c| {
                c.pel
                    .range(start..)
                    .take(if count == 0 { usize::MAX } else { count })
                    .copied()
                    .collect()
            })
            .unwrap_or_default();
        out.array(ids.len());
        let mut delivered = Vec::new();
        {
            let sr: &Stream = s;
            for id in &ids {
                match sr.get(*id) {
                    Some(e) => {
                        reply_entry(out, &e);
                        delivered.push(*id);
                    }
                    None => {
                        out.array(2);
                        reply_id(out, *id);
                        out.null_array();
                    }
                }
            }
        }
        if let Some(g) = s.groups.get_mut(group) {
            for id in delivered {
                if let Some(n) = g.pel.get_mut(&id) {
                    n.delivery_time = now;
                    n.delivery_count = n.delivery_count.wrapping_add(1);
                }
            }
        }
        return created;
    }
    let ids: Vec<StreamId> = {
        let sr: &Stream = s;
        let entries = sr.range(start, StreamId::MAX, false, count);
        reply_entries(out, &entries);
        entries.iter().map(|e| e.id).collect()
    };
    for id in ids {
        s.advance_group(group, id);
        if !noack {
            if let Some(g) = s.groups.get_mut(group) {
                g.assign(id, consumer, now, 1);
            }
        }
    }
    created
}

// ---------------------------------------------------------------- XGROUP

const XGROUP_HELP: &[&str] = &[
    "CREATE <key> <groupname> <id|$> [option]",
    "    Create a new consumer group. Options are:",
    "    * MKSTREAM",
    "      Create the empty stream if it does not exist.",
    "    * ENTRIESREAD entries_read",
    "      Set the group's entries_read counter (internal use).",
    "CREATECONSUMER <key> <groupname> <consumer>",
    "    Create a new consumer in the specified group.",
    "DELCONSUMER <key> <groupname> <consumer>",
    "    Remove the specified consumer.",
    "DESTROY <key> <groupname>",
    "    Remove the specified group.",
    "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
    "    Set the current group ID and entries_read counter.",
];

/// XGROUP HELP
fn xgroup_help(ctx: &mut Ctx) -> CmdResult {
    help(ctx.reply, "XGROUP", XGROUP_HELP);
    Ok(())
}

/// What every XGROUP subcommand checks first (`xgroupCommand`'s prelude).
struct GroupArgs {
    mkstream: bool,
    entries_read: i64,
    exists: bool,
    group_exists: bool,
}

fn xgroup_prelude(ctx: &mut Ctx, sub: &str) -> Result<GroupArgs, Error> {
    let a = ctx.args;
    let create = sub == "create";
    let setid = sub == "setid";
    let mut g = GroupArgs {
        mkstream: false,
        entries_read: INVALID_ENTRIES_READ,
        exists: false,
        group_exists: false,
    };
    let mut i = 5;
    while i < a.len() {
        if create && args::is(&a[i], "mkstream") {
            g.mkstream = true;
            i += 1;
        } else if (create || setid) && args::is(&a[i], "entriesread") && i + 1 < a.len() {
            let v = args::int(&a[i + 1])?;
            if v < 0 && v != INVALID_ENTRIES_READ {
                return Err(Error::err("value for ENTRIESREAD must be positive or -1"));
            }
            g.entries_read = v;
            i += 2;
        } else {
            return Err(subcommand_syntax(ctx));
        }
    }
    let key = a[2].clone();
    let grp = a[3].clone();
    if let Some(s) = stream_write(ctx, &key)? {
        g.exists = true;
        g.group_exists = s.groups.contains_key(&grp);
    }
    if !g.mkstream {
        if !g.exists {
            return Err(Error::err(
                "The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.",
            ));
        }
        if !g.group_exists && matches!(sub, "setid" | "createconsumer" | "delconsumer") {
            return Err(fmt_err(format!(
                "NOGROUP No such consumer group '{}' for key name '{}'",
                show(&grp),
                show(&key)
            )));
        }
    }
    Ok(g)
}

/// XGROUP CREATE key group id|$ [MKSTREAM] [ENTRIESREAD entries-read]
fn xgroup_create(ctx: &mut Ctx) -> CmdResult {
    let g = xgroup_prelude(ctx, "create")?;
    if ctx.args.len() > 8 {
        return Err(subcommand_syntax(ctx));
    }
    let key = ctx.arg(2).clone();
    let name = ctx.arg(3).clone();
    let idarg = ctx.arg(4).clone();
    let id = if stream::cstr(&idarg) == b"$" {
        stream_mut(ctx, &key)
            .map(|s| s.last_id)
            .unwrap_or(StreamId::MIN)
    } else {
        strict_id(&idarg)?
    };
    if !g.exists {
        let now = ctx.now_ms;
        ctx.db()
            .set(key.clone(), Value::Stream(Box::default()), now);
        ctx.signal_modified(&key);
    }
    let Some(s) = stream_mut(ctx, &key) else {
        return Ok(());
    };
    if s.groups.contains_key(&name) {
        return Err(Error::custom(
            "BUSYGROUP Consumer Group name already exists",
        ));
    }
    s.groups.insert(name, Group::new(id, g.entries_read));
    ctx.reply.ok();
    ctx.add_dirty(1);
    ctx.signal_modified(&key);
    ctx.notify('t', "xgroup-create", &key);
    Ok(())
}

/// XGROUP SETID key group id|$ [ENTRIESREAD entries-read]
fn xgroup_setid(ctx: &mut Ctx) -> CmdResult {
    let g = xgroup_prelude(ctx, "setid")?;
    let argc = ctx.args.len();
    if argc != 5 && argc != 7 {
        return Err(subcommand_syntax(ctx));
    }
    let key = ctx.arg(2).clone();
    let name = ctx.arg(3).clone();
    let idarg = ctx.arg(4).clone();
    let last = stream_mut(ctx, &key)
        .map(|s| s.last_id)
        .unwrap_or(StreamId::MIN);
    let id = if stream::cstr(&idarg) == b"$" {
        last
    } else {
        any_id(&idarg, 0)?
    };
    let Some(grp) = stream_mut(ctx, &key).and_then(|s| s.groups.get_mut(&name)) else {
        return Ok(());
    };
    grp.last_id = id;
    grp.entries_read = g.entries_read;
    ctx.reply.ok();
    ctx.add_dirty(1);
    ctx.signal_modified(&key);
    ctx.notify('t', "xgroup-setid", &key);
    Ok(())
}

/// XGROUP DESTROY key group
fn xgroup_destroy(ctx: &mut Ctx) -> CmdResult {
    xgroup_prelude(ctx, "destroy")?;
    let key = ctx.arg(2).clone();
    let name = ctx.arg(3).clone();
    let removed = stream_mut(ctx, &key)
        .map(|s| s.groups.remove(&name).is_some())
        .unwrap_or(false);
    if removed {
        ctx.reply.int(1);
        ctx.add_dirty(1);
        ctx.signal_modified(&key);
        ctx.notify('t', "xgroup-destroy", &key);
        ctx.signal_key_ready(&key);
    } else {
        ctx.reply.int(0);
    }
    Ok(())
}

/// XGROUP CREATECONSUMER key group consumer
fn xgroup_createconsumer(ctx: &mut Ctx) -> CmdResult {
    xgroup_prelude(ctx, "createconsumer")?;
    let key = ctx.arg(2).clone();
    let name = ctx.arg(3).clone();
    let consumer = ctx.arg(4).clone();
    let now = ctx.now_ms;
    let created = stream_mut(ctx, &key)
        .and_then(|s| s.groups.get_mut(&name))
        .map(|g| g.create_consumer(&consumer, now))
        .unwrap_or(false);
    if created {
        ctx.add_dirty(1);
        ctx.signal_modified(&key);
        ctx.notify('t', "xgroup-createconsumer", &key);
    }
    ctx.reply.int(i64::from(created));
    Ok(())
}

/// XGROUP DELCONSUMER key group consumer
fn xgroup_delconsumer(ctx: &mut Ctx) -> CmdResult {
    xgroup_prelude(ctx, "delconsumer")?;
    let key = ctx.arg(2).clone();
    let name = ctx.arg(3).clone();
    let consumer = ctx.arg(4).clone();
    let pending = stream_mut(ctx, &key)
        .and_then(|s| s.groups.get_mut(&name))
        .and_then(|g| g.delete_consumer(&consumer));
    if let Some(n) = pending {
        ctx.add_dirty(1);
        ctx.signal_modified(&key);
        ctx.notify('t', "xgroup-delconsumer", &key);
        ctx.reply.int(n as i64);
    } else {
        ctx.reply.int(0);
    }
    Ok(())
}

// ---------------------------------------------------------------- XSETID

/// XSETID key last-id [ENTRIESADDED entries-added] [MAXDELETEDID max-deleted-id]
fn xsetid(ctx: &mut Ctx) -> CmdResult {
    let a = ctx.args;
    let id = strict_id(&a[2])?;
    let mut entries_added: i64 = -1;
    let mut max_xdel = StreamId::MIN;
    let mut i = 3;
    while i < a.len() {
        let more = a.len() - 1 - i;
        if args::is(&a[i], "entriesadded") && more > 0 {
            let v = args::int(&a[i + 1])?;
            if v < 0 {
                return Err(Error::err("entries_added must be positive"));
            }
            entries_added = v;
            i += 2;
        } else if args::is(&a[i], "maxdeletedid") && more > 0 {
            max_xdel = strict_id(&a[i + 1])?;
            if id < max_xdel {
                return Err(Error::err(
                    "The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
                ));
            }
            i += 2;
        } else {
            return Err(Error::Syntax);
        }
    }
    let key = a[1].clone();
    let Some(s) = stream_write(ctx, &key)? else {
        return Err(Error::NoSuchKey);
    };
    if s.length > 0 {
        if id < s.last_valid_id() {
            return Err(Error::err(
                "The ID specified in XSETID is smaller than the target stream top item",
            ));
        }
        if entries_added != -1 && s.length > entries_added as u64 {
            return Err(Error::err(
                "The entries_added specified in XSETID is smaller than the target stream length",
            ));
        }
    }
    s.last_id = id;
    if entries_added != -1 {
        s.entries_added = entries_added as u64;
    }
    if !max_xdel.is_zero() {
        s.max_deleted_entry_id = max_xdel;
    }
    ctx.reply.ok();
    ctx.add_dirty(1);
    ctx.signal_modified(&key);
    ctx.notify('t', "xsetid", &key);
    Ok(())
}

// ------------------------------------------------------------------ XACK

/// XACK key group id [id ...]
fn xack(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.arg(1).clone();
    let name = ctx.arg(2).clone();
    let has_group = match stream_read(ctx, &key)? {
        Some(s) => s.groups.contains_key(&name),
        None => false,
    };
    if !has_group {
        ctx.reply.int(0);
        return Ok(());
    }
    let ids = ctx.args[3..]
        .iter()
        .map(|a| strict_id(a))
        .collect::<Result<Vec<_>, _>>()?;
    let mut acked = 0i64;
    if let Some(g) = stream_mut(ctx, &key).and_then(|s| s.groups.get_mut(&name)) {
        for id in ids {
            if g.ack(id) {
                acked += 1;
            }
        }
    }
    if acked > 0 {
        ctx.add_dirty(acked as u64);
        ctx.signal_modified(&key);
    }
    ctx.reply.int(acked);
    Ok(())
}

// -------------------------------------------------------------- XPENDING

/// XPENDING key group [[IDLE min-idle-time] start end count [consumer]]
fn xpending(ctx: &mut Ctx) -> CmdResult {
    let resp3 = ctx.reply.resp3;
    let a = ctx.args;
    let argc = a.len();
    let justinfo = argc == 3;
    if argc != 3 && !(6..=9).contains(&argc) {
        return Err(Error::Syntax);
    }
    let mut minidle: i64 = 0;
    let mut count: i64 = 0;
    let (mut start, mut end) = (StreamId::MIN, StreamId::MAX);
    let mut consumer: Option<Bytes> = None;
    if argc >= 6 {
        let mut startidx = 3;
        if args::is(&a[3], "idle") {
            minidle = args::int(&a[4])?;
            if argc < 8 {
                return Err(Error::Syntax);
            }
            startidx += 2;
        }
        count = args::int(&a[startidx + 2])?.max(0);
        start = range_start(&a[startidx])?;
        end = range_end(&a[startidx + 1])?;
        if startidx + 3 < argc {
            consumer = Some(a[startidx + 3].clone());
        }
    }
    let key = a[1].clone();
    let name = a[2].clone();
    let now = ctx.now_ms;
    let s = stream_read(ctx, &key)?;
    let Some(g) = s.and_then(|s| s.groups.get(&name)) else {
        return Err(fmt_err(format!(
            "NOGROUP No such key '{}' or consumer group '{}'",
            show(&key),
            show(&name)
        )));
    };
    let mut out = Reply::new(resp3);
    if justinfo {
        out.array(4);
        out.int(g.pel.len() as i64);
        match (g.pel.keys().next(), g.pel.keys().next_back()) {
            (Some(first), Some(last)) => {
                reply_id(&mut out, *first);
                reply_id(&mut out, *last);
                let with: Vec<(&Bytes, usize)> = g
                    .consumers
                    .iter()
                    .filter(|(_, c)| !c.pel.is_empty())
                    .map(|(n, c)| (n, c.pel.len()))
                    .collect();
                out.array(with.len());
                for (n, c) in with {
                    out.array(2);
                    out.bulk(n);
                    out.bulk_int(c as i64);
                }
            }
            _ => {
                out.null();
                out.null();
                out.null_array();
            }
        }
    } else {
        let ids: Vec<StreamId> = match &consumer {
            Some(c) => match g.consumers.get(c) {
                Some(c) => {
                    if start <= end {
                        c.pel.range(start..=end).copied().collect()
                    } else {
                        Vec::new()
                    }
                }
                None => {
                    out.array(0);
                    ctx.reply.raw(&out.buf);
                    return Ok(());
                }
            },
            None => {
                if start <= end {
                    g.pel.range(start..=end).map(|(k, _)| *k).collect()
                } else {
                    Vec::new()
                }
            }
        };
        let at = out.defer();
        let mut n = 0usize;
        for id in ids {
            if count == 0 {
                break;
            }
            let Some(nack) = g.pel.get(&id) else { continue };
            if minidle != 0 && now.wrapping_sub(nack.delivery_time) < minidle {
                continue;
            }
            n += 1;
            count -= 1;
            out.array(4);
            reply_id(&mut out, id);
            out.bulk(&nack.consumer);
            out.int(now.wrapping_sub(nack.delivery_time).max(0));
            out.int(nack.delivery_count as i64);
        }
        out.finish_array(at, n);
    }
    ctx.reply.raw(&out.buf);
    Ok(())
}

// ---------------------------------------------------------------- XCLAIM

/// XCLAIM key group consumer min-idle-time id [id ...] [IDLE ms] [TIME unix-time-milliseconds] [RETRYCOUNT count] [FORCE] [JUSTID] [LASTID lastid]
fn xclaim(ctx: &mut Ctx) -> CmdResult {
    let resp3 = ctx.reply.resp3;
    let a = ctx.args;
    let key = a[1].clone();
    let name = a[2].clone();
    let cname = a[3].clone();
    require_group(ctx, &key, &name)?;
    let minidle = int_or(&a[4], "Invalid min-idle-time argument for XCLAIM")?.max(0);
    let mut ids = Vec::new();
    let mut j = 5;
    while j < a.len() {
        match stream::parse_id(&a[j], 0, true, false) {
            Some((id, _)) => ids.push(id),
            None => break,
        }
        j += 1;
    }
    let now = ctx.now_ms;
    let mut deliverytime: i64 = -1;
    let mut retrycount: i64 = -1;
    let mut force = false;
    let mut justid = false;
    let mut last_id = StreamId::MIN;
    while j < a.len() {
        let more = a.len() - 1 - j;
        let opt = &a[j];
        if args::is(opt, "force") {
            force = true;
        } else if args::is(opt, "justid") {
            justid = true;
        } else if args::is(opt, "idle") && more > 0 {
            j += 1;
            let v = int_or(&a[j], "Invalid IDLE option argument for XCLAIM")?;
            deliverytime = now.wrapping_sub(v);
        } else if args::is(opt, "time") && more > 0 {
            j += 1;
            deliverytime = int_or(&a[j], "Invalid TIME option argument for XCLAIM")?;
        } else if args::is(opt, "retrycount") && more > 0 {
            j += 1;
            retrycount = int_or(&a[j], "Invalid RETRYCOUNT option argument for XCLAIM")?;
        } else if args::is(opt, "lastid") && more > 0 {
            j += 1;
            last_id = strict_id(&a[j])?;
        } else {
            return Err(Error::err(format!(
                "Unrecognized XCLAIM option '{}'",
                show(stream::cstr(opt))
            )));
        }
        j += 1;
    }
    let Some(s) = stream_mut(ctx, &key) else {
        return Ok(());
    };
    let mut dirty = 0u64;
    let mut propagate_last_id = false;
    if let Some(g) = s.groups.get_mut(&name) {
        if last_id > g.last_id {
            g.last_id = last_id;
            propagate_last_id = true;
        }
    }
    if deliverytime != -1 {
        if deliverytime < 0 || deliverytime > now {
            deliverytime = now;
        }
    } else {
        deliverytime = now;
    }
    let mut claimed: Vec<StreamId> = Vec::new();
    let mut created = false;
    let mut consumer_ready = false;
    for id in ids {
        let exists = s.contains(id);
        let Some(g) = s.groups.get_mut(&name) else {
            break;
        };
        if !exists {
            if g.pel.contains_key(&id) {
                g.ack(id);
                propagate_last_id = false;
                dirty += 1;
            }
            continue;
        }
        let mut fresh = false;
        if force && !g.pel.contains_key(&id) {
            fresh = true;
        }
        let Some(nack) = g.pel.get(&id).cloned().or_else(|| {
            fresh.then(|| stream::Nack {
                consumer: Bytes::new(),
                delivery_time: now,
                delivery_count: 1,
            })
        }) else {
            continue;
        };
        if !fresh && minidle != 0 && now.wrapping_sub(nack.delivery_time) < minidle {
            continue;
        }
        if !consumer_ready {
            match g.consumers.get_mut(&cname) {
                Some(c) => c.seen_time = now,
                None => {
                    g.create_consumer(&cname, now);
                    created = true;
                }
            }
            consumer_ready = true;
        }
        let count = if retrycount >= 0 {
            retrycount as u64
        } else if !justid {
            nack.delivery_count.wrapping_add(1)
        } else {
            nack.delivery_count
        };
        g.assign(id, &cname, deliverytime, count);
        claimed.push(id);
        propagate_last_id = false;
        dirty += 1;
    }
    if propagate_last_id {
        dirty += 1;
    }
    let mut out = Reply::new(resp3);
    out.array(claimed.len());
    {
        let sr: &Stream = s;
        for id in &claimed {
            if justid {
                reply_id(&mut out, *id);
            } else if let Some(e) = sr.get(*id) {
                reply_entry(&mut out, &e);
            }
        }
    }
    if created {
        ctx.notify('t', "xgroup-createconsumer", &key);
        dirty += 1;
    }
    if dirty > 0 {
        ctx.add_dirty(dirty);
        ctx.signal_modified(&key);
    }
    ctx.reply.raw(&out.buf);
    Ok(())
}

/// XAUTOCLAIM key group consumer min-idle-time start [COUNT count] [JUSTID]
fn xautoclaim(ctx: &mut Ctx) -> CmdResult {
    let resp3 = ctx.reply.resp3;
    let a = ctx.args;
    let minidle = int_or(&a[4], "Invalid min-idle-time argument for XAUTOCLAIM")?.max(0);
    let start = range_start(&a[5])?;
    let mut count: i64 = 100;
    let mut justid = false;
    let max_count = i64::MAX / 16;
    let mut j = 6;
    while j < a.len() {
        let more = a.len() - 1 - j;
        if args::is(&a[j], "count") && more > 0 {
            count = match strata_storage::num::parse_i64(&a[j + 1]) {
                Some(v) if (1..=max_count).contains(&v) => v,
                _ => return Err(Error::err("COUNT must be > 0")),
            };
            j += 1;
        } else if args::is(&a[j], "justid") {
            justid = true;
        } else {
            return Err(Error::Syntax);
        }
        j += 1;
    }
    let key = a[1].clone();
    let name = a[2].clone();
    let cname = a[3].clone();
    require_group(ctx, &key, &name)?;
    // Redis allocates COUNT stream IDs up front.
    if count.saturating_mul(16) > 1 << 40 {
        return Err(Error::err(
            "Insufficient memory, failed allocating transient memory, COUNT too high.",
        ));
    }
    let now = ctx.now_ms;
    let Some(s) = stream_mut(ctx, &key) else {
        return Ok(());
    };
    let mut attempts = count.saturating_mul(10);
    let mut claimed: Vec<StreamId> = Vec::new();
    let mut deleted: Vec<StreamId> = Vec::new();
    let mut created = false;
    let mut consumer_ready = false;
    let mut dirty = 0u64;
    // The first PEL ID not yet visited (None once past the last ID).
    let mut cursor = Some(start);
    let pel_next = |s: &Stream, from: Option<StreamId>| -> Option<StreamId> {
        let from = from?;
        s.groups
            .get(&name)
            .and_then(|g| g.pel.range(from..).next().map(|(k, _)| *k))
    };
    let next = loop {
        if attempts == 0 || count == 0 {
            break pel_next(s, cursor);
        }
        let Some(id) = pel_next(s, cursor) else {
            break None;
        };
        attempts -= 1;
        let exists = s.contains(id);
        let Some(g) = s.groups.get_mut(&name) else {
            break None;
        };
        process_autoclaim(
            g,
            id,
            exists,
            minidle,
            now,
            justid,
            &cname,
            &mut claimed,
            &mut deleted,
            &mut count,
            &mut created,
            &mut consumer_ready,
            &mut dirty,
        );
        cursor = id.incr();
    };
    let endid = next.unwrap_or(StreamId::MIN);
    let mut out = Reply::new(resp3);
    out.array(3);
    reply_id(&mut out, endid);
    out.array(claimed.len());
    {
        let sr: &Stream = s;
        for id in &claimed {
            if justid {
                reply_id(&mut out, *id);
            } else if let Some(e) = sr.get(*id) {
                reply_entry(&mut out, &e);
            }
        }
    }
    out.array(deleted.len());
    for id in &deleted {
        reply_id(&mut out, *id);
    }
    if created {
        ctx.notify('t', "xgroup-createconsumer", &key);
        dirty += 1;
    }
    if dirty > 0 {
        ctx.add_dirty(dirty);
        ctx.signal_modified(&key);
    }
    ctx.reply.raw(&out.buf);
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn process_autoclaim(
    g: &mut Group,
    id: StreamId,
    exists: bool,
    minidle: i64,
    now: i64,
    justid: bool,
    cname: &Bytes,
    claimed: &mut Vec<StreamId>,
    deleted: &mut Vec<StreamId>,
    count: &mut i64,
    created: &mut bool,
    consumer_ready: &mut bool,
    dirty: &mut u64,
) {
    if !exists {
        g.ack(id);
        deleted.push(id);
        *count -= 1;
        *dirty += 1;
        return;
    }
    let Some(nack) = g.pel.get(&id).cloned() else {
        return;
    };
    if minidle != 0 && now.wrapping_sub(nack.delivery_time) < minidle {
        return;
    }
    if !*consumer_ready {
        match g.consumers.get_mut(cname) {
            Some(c) => c.seen_time = now,
            None => {
                g.create_consumer(cname, now);
                *created = true;
            }
        }
        *consumer_ready = true;
    }
    let n = if justid {
        nack.delivery_count
    } else {
        nack.delivery_count.wrapping_add(1)
    };
    g.assign(id, cname, now, n);
    claimed.push(id);
    *count -= 1;
    *dirty += 1;
}

// ----------------------------------------------------------------- XINFO

const XINFO_HELP: &[&str] = &[
    "CONSUMERS <key> <groupname>",
    "    Show consumers of <groupname>.",
    "GROUPS <key>",
    "    Show the stream consumer groups.",
    "STREAM <key> [FULL [COUNT <count>]",
    "    Show information about the stream.",
];

/// XINFO HELP
fn xinfo_help(ctx: &mut Ctx) -> CmdResult {
    help(ctx.reply, "XINFO", XINFO_HELP);
    Ok(())
}

/// The stream of an XINFO subcommand (`ERR no such key` when missing).
fn xinfo_stream_of<'a>(ctx: &'a mut Ctx) -> Result<&'a mut Stream, Error> {
    let key = ctx.arg(2).clone();
    stream_read(ctx, &key)?.ok_or(Error::NoSuchKey)
}

/// XINFO CONSUMERS key group
fn xinfo_consumers(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.arg(2).clone();
    let name = ctx.arg(3).clone();
    let now = ctx.now_ms;
    let resp3 = ctx.reply.resp3;
    let s = xinfo_stream_of(ctx)?;
    let Some(g) = s.groups.get(&name) else {
        return Err(fmt_err(format!(
            "NOGROUP No such consumer group '{}' for key name '{}'",
            show(&name),
            show(&key)
        )));
    };
    let mut out = Reply::new(resp3);
    out.array(g.consumers.len());
    for (cname, c) in &g.consumers {
        out.map(3);
        out.bulk(b"name");
        out.bulk(cname);
        out.bulk(b"pending");
        out.int(c.pel.len() as i64);
        out.bulk(b"idle");
        out.int(now.wrapping_sub(c.seen_time).max(0));
    }
    ctx.reply.raw(&out.buf);
    Ok(())
}

fn reply_lag(out: &mut Reply, s: &Stream, g: &Group) {
    match s.group_lag(g) {
        Some(l) => out.int(l),
        None => out.null(),
    }
}

fn reply_entries_read(out: &mut Reply, g: &Group) {
    if g.entries_read != INVALID_ENTRIES_READ {
        out.int(g.entries_read);
    } else {
        out.null();
    }
}

/// XINFO GROUPS key
fn xinfo_groups(ctx: &mut Ctx) -> CmdResult {
    let resp3 = ctx.reply.resp3;
    let s = xinfo_stream_of(ctx)?;
    let mut out = Reply::new(resp3);
    out.array(s.groups.len());
    for (name, g) in &s.groups {
        out.map(6);
        out.bulk(b"name");
        out.bulk(name);
        out.bulk(b"consumers");
        out.int(g.consumers.len() as i64);
        out.bulk(b"pending");
        out.int(g.pel.len() as i64);
        out.bulk(b"last-delivered-id");
        reply_id(&mut out, g.last_id);
        out.bulk(b"entries-read");
        reply_entries_read(&mut out, g);
        out.bulk(b"lag");
        reply_lag(&mut out, s, g);
    }
    ctx.reply.raw(&out.buf);
    Ok(())
}

/// XINFO STREAM key [FULL [COUNT count]]
fn xinfo_stream(ctx: &mut Ctx) -> CmdResult {
    let a = ctx.args;
    let optc = a.len() - 3;
    let mut full = true;
    let mut count: i64 = 10;
    if optc == 0 {
        full = false;
    } else {
        if (optc != 1 && optc != 3) || !args::is(&a[3], "full") {
            return Err(subcommand_syntax(ctx));
        }
        if optc == 3 {
            if !args::is(&a[4], "count") {
                return Err(subcommand_syntax(ctx));
            }
            count = args::int(&a[5])?;
            if count < 0 {
                count = 10;
            }
        }
    }
    let resp3 = ctx.reply.resp3;
    let s: &Stream = xinfo_stream_of(ctx)?;
    let mut out = Reply::new(resp3);
    out.map(if full { 9 } else { 10 });
    out.bulk(b"length");
    out.int(s.length as i64);
    out.bulk(b"radix-tree-keys");
    out.int(s.node_count() as i64);
    out.bulk(b"radix-tree-nodes");
    out.int(s.rax_nodes() as i64);
    out.bulk(b"last-generated-id");
    reply_id(&mut out, s.last_id);
    out.bulk(b"max-deleted-entry-id");
    reply_id(&mut out, s.max_deleted_entry_id);
    out.bulk(b"entries-added");
    out.int(s.entries_added as i64);
    out.bulk(b"recorded-first-entry-id");
    reply_id(&mut out, s.first_id);
    if !full {
        out.bulk(b"groups");
        out.int(s.groups.len() as i64);
        for (label, rev) in [(&b"first-entry"[..], false), (&b"last-entry"[..], true)] {
            out.bulk(label);
            match s.range(StreamId::MIN, StreamId::MAX, rev, 1).first() {
                Some(e) => reply_entry(&mut out, e),
                None => out.null(),
            }
        }
    } else {
        let limit = |n: usize| count == 0 || (n as i64) < count;
        out.bulk(b"entries");
        let entries = s.range(StreamId::MIN, StreamId::MAX, false, count as usize);
        reply_entries(&mut out, &entries);
        drop(entries);
        out.bulk(b"groups");
        out.array(s.groups.len());
        for (name, g) in &s.groups {
            out.map(7);
            out.bulk(b"name");
            out.bulk(name);
            out.bulk(b"last-delivered-id");
            reply_id(&mut out, g.last_id);
            out.bulk(b"entries-read");
            reply_entries_read(&mut out, g);
            out.bulk(b"lag");
            reply_lag(&mut out, s, g);
            out.bulk(b"pel-count");
            out.int(g.pel.len() as i64);
            out.bulk(b"pending");
            let at = out.defer();
            let mut n = 0;
            for (id, nack) in &g.pel {
                if !limit(n) {
                    break;
                }
                out.array(4);
                reply_id(&mut out, *id);
                out.bulk(&nack.consumer);
                out.int(nack.delivery_time);
                out.int(nack.delivery_count as i64);
                n += 1;
            }
            out.finish_array(at, n);
            out.bulk(b"consumers");
            out.array(g.consumers.len());
            for (cname, c) in &g.consumers {
                out.map(4);
                out.bulk(b"name");
                out.bulk(cname);
                out.bulk(b"seen-time");
                out.int(c.seen_time);
                out.bulk(b"pel-count");
                out.int(c.pel.len() as i64);
                out.bulk(b"pending");
                let at = out.defer();
                let mut n = 0;
                for id in &c.pel {
                    if !limit(n) {
                        break;
                    }
                    let (t, cnt) = g
                        .pel
                        .get(id)
                        .map(|x| (x.delivery_time, x.delivery_count))
                        .unwrap_or((0, 0));
                    out.array(3);
                    reply_id(&mut out, *id);
                    out.int(t);
                    out.int(cnt as i64);
                    n += 1;
                }
                out.finish_array(at, n);
            }
        }
    }
    ctx.reply.raw(&out.buf);
    Ok(())
}

// ------------------------------------------------------------------ table

const W: Flags = Flags::WRITE;
const R: Flags = Flags::READONLY;
const F: Flags = Flags::FAST;
const D: Flags = Flags::DENYOOM;

/// XGROUP and XINFO subcommands: the key is the argument after the
/// subcommand name.
const SUB_KEY: Keys = Keys::Range {
    first: 2,
    last: 2,
    step: 1,
};

const XREAD_KEYS: Keys = Keys::Custom {
    legacy: (0, 0, 0),
    find: xread_keys,
};

const XREADGROUP_KEYS: Keys = Keys::Custom {
    legacy: (0, 0, 0),
    find: xreadgroup_keys,
};

/// In the order Redis 7.0 lists them (COMMAND INFO).
static XGROUP_SUBS: &[CommandSpec] = &[
    CommandSpec::new("xgroup|destroy", 4, W, SUB_KEY, xgroup_destroy).doc(
        "stream",
        "5.0.0",
        "Destroys a consumer group.",
    ),
    CommandSpec::new("xgroup|setid", -5, W, SUB_KEY, xgroup_setid).doc(
        "stream",
        "5.0.0",
        "Sets the last-delivered ID of a consumer group.",
    ),
    CommandSpec::new(
        "xgroup|createconsumer",
        5,
        W.or(D),
        SUB_KEY,
        xgroup_createconsumer,
    )
    .doc("stream", "6.2.0", "Creates a consumer in a consumer group."),
    CommandSpec::new(
        "xgroup|help",
        2,
        Flags::LOADING.or(Flags::STALE),
        Keys::None,
        xgroup_help,
    )
    .doc(
        "stream",
        "5.0.0",
        "Returns helpful text about the different subcommands.",
    ),
    CommandSpec::new("xgroup|create", -5, W.or(D), SUB_KEY, xgroup_create).doc(
        "stream",
        "5.0.0",
        "Creates a consumer group.",
    ),
    CommandSpec::new("xgroup|delconsumer", 5, W, SUB_KEY, xgroup_delconsumer).doc(
        "stream",
        "5.0.0",
        "Deletes a consumer from a consumer group.",
    ),
];

static XINFO_SUBS: &[CommandSpec] = &[
    CommandSpec::new(
        "xinfo|help",
        2,
        Flags::LOADING.or(Flags::STALE),
        Keys::None,
        xinfo_help,
    )
    .doc(
        "stream",
        "5.0.0",
        "Returns helpful text about the different subcommands.",
    ),
    CommandSpec::new("xinfo|groups", 3, R, SUB_KEY, xinfo_groups).doc(
        "stream",
        "5.0.0",
        "Returns a list of the consumer groups of a stream.",
    ),
    CommandSpec::new("xinfo|consumers", 4, R, SUB_KEY, xinfo_consumers).doc(
        "stream",
        "5.0.0",
        "Returns a list of the consumers in a consumer group.",
    ),
    CommandSpec::new("xinfo|stream", -3, R, SUB_KEY, xinfo_stream).doc(
        "stream",
        "5.0.0",
        "Returns information about a stream.",
    ),
];

fn container(ctx: &mut Ctx) -> CmdResult {
    let name = String::from_utf8_lossy(ctx.arg(0)).to_ascii_lowercase();
    Err(Error::unknown_subcommand(
        &name,
        ctx.args.get(1).map(|a| a.as_ref()).unwrap_or(b""),
    ))
}

pub static TABLE: &[CommandSpec] = &[
    CommandSpec::new("xadd", -5, W.or(D).or(F), Keys::one(), xadd).doc(
        "stream",
        "5.0.0",
        "Appends a new message to a stream. Creates the key if it doesn't exist.",
    ),
    CommandSpec::new("xlen", 2, R.or(F), Keys::one(), xlen).doc(
        "stream",
        "5.0.0",
        "Return the number of messages in a stream.",
    ),
    CommandSpec::new("xrange", -4, R, Keys::one(), xrange).doc(
        "stream",
        "5.0.0",
        "Returns the messages from a stream within a range of IDs.",
    ),
    CommandSpec::new("xrevrange", -4, R, Keys::one(), xrevrange).doc(
        "stream",
        "5.0.0",
        "Returns the messages from a stream within a range of IDs in reverse order.",
    ),
    CommandSpec::new("xdel", -3, W.or(F), Keys::one(), xdel).doc(
        "stream",
        "5.0.0",
        "Returns the number of messages after removing them from a stream.",
    ),
    CommandSpec::new("xtrim", -4, W, Keys::one(), xtrim).doc(
        "stream",
        "5.0.0",
        "Deletes messages from the beginning of a stream.",
    ),
    CommandSpec::new("xread", -4, R.or(Flags::BLOCKING), XREAD_KEYS, xread).doc(
        "stream",
        "5.0.0",
        "Returns messages from multiple streams with IDs greater than the ones requested. Blocks until a message is available otherwise.",
    ),
    CommandSpec::new("xreadgroup", -7, W.or(Flags::BLOCKING), XREADGROUP_KEYS, xread).doc(
        "stream",
        "5.0.0",
        "Returns new or historical messages from a stream for a consumer in a group. Blocks until a message is available otherwise.",
    ),
    CommandSpec::new("xgroup", -2, Flags::NONE, Keys::None, container)
        .doc("stream", "5.0.0", "A container for consumer groups commands.")
        .subs(XGROUP_SUBS),
    CommandSpec::new("xack", -4, W.or(F), Keys::one(), xack).doc(
        "stream",
        "5.0.0",
        "Returns the number of messages that were successfully acknowledged by the consumer group member of a stream.",
    ),
    CommandSpec::new("xpending", -3, R, Keys::one(), xpending).doc(
        "stream",
        "5.0.0",
        "Returns the information and entries from a stream consumer group's pending entries list.",
    ),
    CommandSpec::new("xclaim", -6, W.or(F), Keys::one(), xclaim).doc(
        "stream",
        "5.0.0",
        "Changes, or acquires, ownership of a message in a consumer group, as if the message was delivered a consumer group member.",
    ),
    CommandSpec::new("xautoclaim", -6, W.or(F), Keys::one(), xautoclaim).doc(
        "stream",
        "6.2.0",
        "Changes, or acquires, ownership of messages in a consumer group, as if the messages were delivered to as consumer group member.",
    ),
    CommandSpec::new("xinfo", -2, Flags::NONE, Keys::None, container)
        .doc("stream", "5.0.0", "A container for stream introspection commands.")
        .subs(XINFO_SUBS),
    CommandSpec::new("xsetid", -3, W.or(D).or(F), Keys::one(), xsetid).doc(
        "stream",
        "5.0.0",
        "An internal command for replicating stream values.",
    ),
];
