//! String commands: the Redis 7.0 string family (t_string.c).
//!
//! Every handler follows Redis's order of checks (argument parsing, key
//! lookup, type check, value validation), because that order decides which
//! error a client sees when several things are wrong at once.

use bytes::{Bytes, BytesMut};
use strata_storage::longdouble::{incr_by_float, IncrFloatError};
use strata_storage::num::parse_i64;
use strata_storage::value::{Str, Value};

use crate::args;
use crate::command::{CommandSpec, Ctx, Flags, Keys};
use crate::error::{CmdResult, Error};

/// Reads a string key: `Ok(None)` if missing, WRONGTYPE if not a string.
pub fn get_str(ctx: &mut Ctx, key: &[u8]) -> Result<Option<Bytes>, Error> {
    match ctx.lookup_read(key) {
        None => Ok(None),
        Some(e) => match &e.value {
            Value::Str(s) => Ok(Some(s.to_bytes())),
            _ => Err(Error::WrongType),
        },
    }
}

/// Redis's `getGenericCommand`: replies with the value or nil; WRONGTYPE
/// (and nothing sent) for a non-string.
fn get_generic(ctx: &mut Ctx, key: &[u8]) -> Result<bool, Error> {
    // Replies straight from the stored bytes: no clone of the value (a
    // clone would also turn it into a shared buffer, costing memory).
    let (now, db) = (ctx.now_ms, ctx.client.db);
    let state = &mut *ctx.state;
    match state
        .keyspace
        .db(db)
        .get_mut(key, now, strata_storage::keyspace::Touch::Yes)
    {
        None => {
            state.stats.keyspace_misses += 1;
            ctx.reply.null();
            Ok(false)
        }
        Some(e) => {
            state.stats.keyspace_hits += 1;
            match &e.value {
                Value::Str(Str::Raw(b)) => ctx.reply.bulk(b),
                Value::Str(Str::Int(i)) => ctx.reply.bulk_int(*i),
                _ => return Err(Error::WrongType),
            }
            Ok(true)
        }
    }
}

/// GET key
fn get(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.arg(1).clone();
    get_generic(ctx, &key).map(|_| ())
}

// Option flags of SET and GETEX (Redis's OBJ_* flags).
const NX: u32 = 1 << 0;
const XX: u32 = 1 << 1;
const EX: u32 = 1 << 2;
const PX: u32 = 1 << 3;
const KEEPTTL: u32 = 1 << 4;
const GET: u32 = 1 << 5;
const EXAT: u32 = 1 << 6;
const PXAT: u32 = 1 << 7;
const PERSIST: u32 = 1 << 8;

/// The argument as C sees it (`argv[j]->ptr`): up to the first NUL byte.
/// Redis compares option names with C string functions.
fn cstr(b: &[u8]) -> &[u8] {
    match b.iter().position(|c| *c == 0) {
        Some(p) => &b[..p],
        None => b,
    }
}

/// Parsed options of SET / GETEX.
struct ExtOpts {
    flags: u32,
    /// The expire argument, with its unit (true = seconds).
    expire: Option<(Bytes, bool)>,
}

/// Redis's `parseExtendedStringArgumentsOrReply`, with its exact conflict
/// rules (`for_set` selects COMMAND_SET, otherwise COMMAND_GET).
fn parse_ext(args: &[Bytes], for_set: bool) -> Result<ExtOpts, Error> {
    let mut flags = 0u32;
    let mut expire = None;
    let mut j = if for_set { 3 } else { 2 };
    let any = |f: u32, mask: u32| f & mask != 0;
    while j < args.len() {
        let opt = cstr(&args[j]);
        let next = args.get(j + 1);
        if args::is(opt, "NX") && !any(flags, XX) && for_set {
            flags |= NX;
        } else if args::is(opt, "XX") && !any(flags, NX) && for_set {
            flags |= XX;
        } else if args::is(opt, "GET") && for_set {
            flags |= GET;
        } else if args::is(opt, "KEEPTTL")
            && !any(flags, PERSIST | EX | EXAT | PX | PXAT)
            && for_set
        {
            flags |= KEEPTTL;
        } else if args::is(opt, "PERSIST")
            && !for_set
            && !any(flags, EX | EXAT | PX | PXAT | KEEPTTL)
        {
            flags |= PERSIST;
        } else if let (true, Some(next)) = (args::is(opt, "EX"), next) {
            if any(flags, KEEPTTL | PERSIST | EXAT | PX | PXAT) {
                return Err(Error::Syntax);
            }
            flags |= EX;
            expire = Some((next.clone(), true));
            j += 1;
        } else if let (true, Some(next)) = (args::is(opt, "PX"), next) {
            if any(flags, KEEPTTL | PERSIST | EX | EXAT | PXAT) {
                return Err(Error::Syntax);
            }
            flags |= PX;
            expire = Some((next.clone(), false));
            j += 1;
        } else if let (true, Some(next)) = (args::is(opt, "EXAT"), next) {
            if any(flags, KEEPTTL | PERSIST | EX | PX | PXAT) {
                return Err(Error::Syntax);
            }
            flags |= EXAT;
            expire = Some((next.clone(), true));
            j += 1;
        } else if let (true, Some(next)) = (args::is(opt, "PXAT"), next) {
            if any(flags, KEEPTTL | PERSIST | EX | EXAT | PX) {
                return Err(Error::Syntax);
            }
            flags |= PXAT;
            expire = Some((next.clone(), false));
            j += 1;
        } else {
            return Err(Error::Syntax);
        }
        j += 1;
    }
    Ok(ExtOpts { flags, expire })
}

/// Redis's `getExpireMillisecondsOrReply`: the absolute deadline in ms.
fn expire_ms(ctx: &Ctx, arg: &[u8], seconds: bool, relative: bool) -> Result<i64, Error> {
    let mut ms = args::int(arg)?;
    if ms <= 0 || (seconds && ms > i64::MAX / 1000) {
        return Err(Error::invalid_expire(ctx.cmd.name));
    }
    if seconds {
        ms *= 1000;
    }
    if relative {
        ms = ms.wrapping_add(ctx.now_ms);
    }
    if ms <= 0 {
        return Err(Error::invalid_expire(ctx.cmd.name));
    }
    Ok(ms)
}

/// What SET-like commands reply when they set or abort.
#[derive(Clone, Copy)]
enum SetReply {
    /// `+OK` / nil (SET, SETEX, PSETEX).
    OkNil,
    /// `:1` / `:0` (SETNX).
    OneZero,
}

/// Redis's `setGenericCommand`.
fn set_generic(
    ctx: &mut Ctx,
    flags: u32,
    key: Bytes,
    value: Bytes,
    expire: Option<(Bytes, bool)>,
    replies: SetReply,
) -> CmdResult {
    let deadline = match &expire {
        Some((arg, seconds)) => Some(expire_ms(ctx, arg, *seconds, flags & (EX | PX) != 0)?),
        None => None,
    };
    if flags & GET != 0 {
        get_generic(ctx, &key)?;
    }
    // A cold key is not read back just to be overwritten: its record's
    // header answers NX/XX (and lazy expiry), and the overwrite keeps its
    // LFU counter (`Db::set`).
    let now = ctx.now_ms;
    let found = if ctx.db().is_resident(&key) {
        ctx.lookup_write(&key).is_some()
    } else {
        ctx.db().contains(&key, now)
    };
    if (flags & NX != 0 && found) || (flags & XX != 0 && !found) {
        if flags & GET == 0 {
            match replies {
                SetReply::OkNil => ctx.reply.null(),
                SetReply::OneZero => ctx.reply.int(0),
            }
        }
        return Ok(());
    }
    if ctx.propagating() {
        // Redis 7.0: an expire becomes `SET key value PXAT <ms>`; otherwise
        // GET is dropped.
        if let Some(at) = deadline {
            let argv = vec![
                Bytes::from_static(b"SET"),
                key.clone(),
                value.clone(),
                Bytes::from_static(b"PXAT"),
                crate::propagate::int_arg(at),
            ];
            ctx.propagate_rewrite(argv);
        } else if flags & GET != 0 {
            let argv: Vec<Bytes> = ctx
                .args
                .iter()
                .enumerate()
                .filter(|(j, a)| *j < 3 || !args::is(a, "get"))
                .map(|(_, a)| a.clone())
                .collect();
            ctx.propagate_rewrite(argv);
        }
    }
    let v = Value::Str(Str::from_bytes(value));
    if !found {
        ctx.db().set_absent(key.clone(), v, now);
    } else if flags & KEEPTTL != 0 {
        ctx.db().set_keep_ttl(key.clone(), v, now);
    } else {
        ctx.db().set(key.clone(), v, now);
    }
    ctx.signal_modified(&key);
    ctx.add_dirty(1);
    ctx.notify('$', "set", &key);
    if let Some(at) = deadline {
        ctx.db().set_expire(&key, at);
        ctx.notify('g', "expire", &key);
    }
    if flags & GET == 0 {
        match replies {
            SetReply::OkNil => ctx.reply.ok(),
            SetReply::OneZero => ctx.reply.int(1),
        }
    }
    Ok(())
}

/// SET key value [NX | XX] [GET] [EX seconds | PX milliseconds |
/// EXAT unix-time-seconds | PXAT unix-time-milliseconds | KEEPTTL]
fn set(ctx: &mut Ctx) -> CmdResult {
    let opts = parse_ext(ctx.args, true)?;
    let key = ctx.arg(1).clone();
    let value = ctx.arg(2).clone();
    set_generic(ctx, opts.flags, key, value, opts.expire, SetReply::OkNil)
}

/// SETNX key value
fn setnx(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.arg(1).clone();
    let value = ctx.arg(2).clone();
    set_generic(ctx, NX, key, value, None, SetReply::OneZero)
}

/// SETEX key seconds value
fn setex(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.arg(1).clone();
    let value = ctx.arg(3).clone();
    let expire = Some((ctx.arg(2).clone(), true));
    set_generic(ctx, EX, key, value, expire, SetReply::OkNil)
}

/// PSETEX key milliseconds value
fn psetex(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.arg(1).clone();
    let value = ctx.arg(3).clone();
    let expire = Some((ctx.arg(2).clone(), false));
    set_generic(ctx, PX, key, value, expire, SetReply::OkNil)
}

/// GETEX key [EX seconds | PX milliseconds | EXAT unix-time-seconds |
/// PXAT unix-time-milliseconds | PERSIST]
fn getex(ctx: &mut Ctx) -> CmdResult {
    let opts = parse_ext(ctx.args, false)?;
    let key = ctx.arg(1).clone();
    let Some(value) = get_str(ctx, &key)? else {
        ctx.reply.null();
        return Ok(());
    };
    let deadline = match &opts.expire {
        Some((arg, seconds)) => Some(expire_ms(ctx, arg, *seconds, opts.flags & (EX | PX) != 0)?),
        None => None,
    };
    ctx.reply.bulk(&value);
    let absolute = opts.flags & (EXAT | PXAT) != 0;
    match deadline {
        Some(at) if absolute && at <= ctx.now_ms => {
            let del = crate::propagate::del_or_unlink(ctx.state, "lazyfree-lazy-expire");
            ctx.propagate_rewrite(vec![del, key.clone()]);
            ctx.db().remove(&key);
            ctx.signal_modified(&key);
            ctx.notify('g', "del", &key);
            ctx.add_dirty(1);
        }
        Some(at) => {
            ctx.propagate_rewrite(vec![
                Bytes::from_static(b"PEXPIREAT"),
                key.clone(),
                crate::propagate::int_arg(at),
            ]);
            ctx.db().set_expire(&key, at);
            ctx.signal_modified(&key);
            ctx.notify('g', "expire", &key);
            ctx.add_dirty(1);
        }
        None => {
            ctx.propagate_rewrite(vec![Bytes::from_static(b"PERSIST"), key.clone()]);
            if opts.flags & PERSIST != 0 && ctx.db().persist(&key) {
                ctx.signal_modified(&key);
                ctx.notify('g', "persist", &key);
                ctx.add_dirty(1);
            }
        }
    }
    Ok(())
}

/// GETDEL key
fn getdel(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.arg(1).clone();
    if get_generic(ctx, &key)? {
        let del = crate::propagate::del_or_unlink(ctx.state, "lazyfree-lazy-user-del");
        ctx.propagate_rewrite(vec![del, key.clone()]);
        ctx.db().remove(&key);
        ctx.signal_modified(&key);
        ctx.notify('g', "del", &key);
        ctx.add_dirty(1);
    }
    Ok(())
}

/// GETSET key value
fn getset(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.arg(1).clone();
    get_generic(ctx, &key)?;
    let value = Value::Str(Str::from_bytes(ctx.arg(2).clone()));
    let now = ctx.now_ms;
    ctx.db().set(key.clone(), value, now);
    ctx.signal_modified(&key);
    ctx.notify('$', "set", &key);
    ctx.add_dirty(1);
    Ok(())
}

/// MGET key [key ...]
fn mget(ctx: &mut Ctx) -> CmdResult {
    let n = ctx.args.len() - 1;
    ctx.reply.array(n);
    for i in 1..=n {
        let key = ctx.args[i].clone();
        match ctx.lookup_read(&key) {
            Some(e) => match &e.value {
                Value::Str(s) => {
                    let b = s.to_bytes();
                    ctx.reply.bulk(&b);
                }
                _ => ctx.reply.null(),
            },
            None => ctx.reply.null(),
        }
    }
    Ok(())
}

/// MSET / MSETNX body.
fn mset_generic(ctx: &mut Ctx, nx: bool) -> CmdResult {
    if ctx.args.len() & 1 == 0 {
        return Err(Error::wrong_arity(ctx.cmd.name));
    }
    if nx {
        for j in (1..ctx.args.len()).step_by(2) {
            let key = ctx.args[j].clone();
            if ctx.lookup_write(&key).is_some() {
                ctx.reply.int(0);
                return Ok(());
            }
        }
    }
    let now = ctx.now_ms;
    for j in (1..ctx.args.len()).step_by(2) {
        let key = ctx.args[j].clone();
        let value = Value::Str(Str::from_bytes(ctx.args[j + 1].clone()));
        ctx.db().set(key.clone(), value, now);
        ctx.signal_modified(&key);
        ctx.notify('$', "set", &key);
    }
    ctx.add_dirty(((ctx.args.len() - 1) / 2) as u64);
    if nx {
        ctx.reply.int(1);
    } else {
        ctx.reply.ok();
    }
    Ok(())
}

/// MSET key value [key value ...]
fn mset(ctx: &mut Ctx) -> CmdResult {
    mset_generic(ctx, false)
}

/// MSETNX key value [key value ...]
fn msetnx(ctx: &mut Ctx) -> CmdResult {
    mset_generic(ctx, true)
}

/// Redis's `checkStringLength`: the resulting size must fit in
/// proto-max-bulk-len (and must not overflow).
fn check_string_length(ctx: &Ctx, size: i64, append: usize) -> CmdResult {
    let append = append as i64;
    let total = (size as u64).wrapping_add(append as u64) as i64;
    if total > ctx.state.config.hot.proto_max_bulk_len || total < size || total < append {
        return Err(Error::StringTooLong);
    }
    Ok(())
}

/// Takes a string value out of an entry as a growable buffer, without
/// copying when the buffer is not shared.
fn take_buffer(value: &mut Value) -> BytesMut {
    match std::mem::replace(value, Value::Str(Str::Int(0))) {
        Value::Str(Str::Raw(b)) => b
            .try_into_mut()
            .unwrap_or_else(|shared| BytesMut::from(&shared[..])),
        Value::Str(s) => BytesMut::from(&s.to_bytes()[..]),
        // Callers check the type first; keep any other value intact.
        other => {
            *value = other;
            BytesMut::new()
        }
    }
}

/// APPEND key value
fn append(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.arg(1).clone();
    let tail = ctx.arg(2).clone();
    let now = ctx.now_ms;
    let total;
    let olen = match ctx.lookup_write(&key) {
        None => None,
        Some(e) => match &e.value {
            Value::Str(s) => Some(s.len()),
            _ => return Err(Error::WrongType),
        },
    };
    match olen {
        None => {
            total = tail.len();
            ctx.db()
                .set(key.clone(), Value::Str(Str::from_bytes(tail)), now);
        }
        Some(olen) => {
            check_string_length(ctx, olen as i64, tail.len())?;
            let e = ctx
                .lookup_write(&key)
                .expect("key checked present above in the same command");
            let mut buf = take_buffer(&mut e.value);
            buf.extend_from_slice(&tail);
            total = buf.len();
            e.value = Value::Str(Str::Raw(buf.freeze()));
        }
    }
    ctx.signal_modified(&key);
    ctx.notify('$', "append", &key);
    ctx.add_dirty(1);
    ctx.reply.int(total as i64);
    Ok(())
}

/// STRLEN key
fn strlen(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.arg(1).clone();
    let n = match ctx.lookup_read(&key) {
        None => 0,
        Some(e) => match &e.value {
            Value::Str(s) => s.len(),
            _ => return Err(Error::WrongType),
        },
    };
    ctx.reply.int(n as i64);
    Ok(())
}

/// GETRANGE key start end (and SUBSTR)
fn getrange(ctx: &mut Ctx) -> CmdResult {
    let mut start = args::int(ctx.arg(2))?;
    let mut end = args::int(ctx.arg(3))?;
    let key = ctx.arg(1).clone();
    let Some(s) = get_str(ctx, &key)? else {
        ctx.reply.bulk(b"");
        return Ok(());
    };
    let len = s.len() as i64;
    if start < 0 && end < 0 && start > end {
        ctx.reply.bulk(b"");
        return Ok(());
    }
    if start < 0 {
        start = len.wrapping_add(start);
    }
    if end < 0 {
        end = len.wrapping_add(end);
    }
    start = start.max(0);
    end = end.max(0);
    if end >= len {
        end = len - 1;
    }
    if start > end || len == 0 {
        ctx.reply.bulk(b"");
    } else {
        ctx.reply.bulk(&s[start as usize..=end as usize]);
    }
    Ok(())
}

/// SETRANGE key offset value
fn setrange(ctx: &mut Ctx) -> CmdResult {
    let offset = args::int(ctx.arg(2))?;
    if offset < 0 {
        return Err(Error::OffsetOutOfRange);
    }
    let key = ctx.arg(1).clone();
    let value = ctx.arg(3).clone();
    let now = ctx.now_ms;
    let olen = match ctx.lookup_write(&key) {
        None => None,
        Some(e) => match &e.value {
            Value::Str(s) => Some(s.len()),
            _ => return Err(Error::WrongType),
        },
    };
    let total = match olen {
        None => {
            if value.is_empty() {
                ctx.reply.int(0);
                return Ok(());
            }
            check_string_length(ctx, offset, value.len())?;
            let off = offset as usize;
            let mut buf = BytesMut::zeroed(off + value.len());
            buf[off..].copy_from_slice(&value);
            let n = buf.len();
            ctx.db()
                .set(key.clone(), Value::Str(Str::Raw(buf.freeze())), now);
            n
        }
        Some(olen) => {
            if value.is_empty() {
                ctx.reply.int(olen as i64);
                return Ok(());
            }
            check_string_length(ctx, offset, value.len())?;
            let off = offset as usize;
            let e = ctx
                .lookup_write(&key)
                .expect("key checked present above in the same command");
            let mut buf = take_buffer(&mut e.value);
            let need = off + value.len();
            if buf.len() < need {
                buf.resize(need, 0);
            }
            buf[off..need].copy_from_slice(&value);
            let n = buf.len();
            e.value = Value::Str(Str::Raw(buf.freeze()));
            n
        }
    };
    ctx.signal_modified(&key);
    ctx.notify('$', "setrange", &key);
    ctx.add_dirty(1);
    ctx.reply.int(total as i64);
    Ok(())
}

/// Redis's `incrDecrCommand`.
fn incr_decr(ctx: &mut Ctx, incr: i64) -> CmdResult {
    let key = ctx.arg(1).clone();
    let now = ctx.now_ms;
    let current = match ctx.lookup_write(&key) {
        None => None,
        Some(e) => match &e.value {
            Value::Str(Str::Int(i)) => Some(*i),
            Value::Str(Str::Raw(b)) => Some(parse_i64(b).ok_or(Error::NotInteger)?),
            _ => return Err(Error::WrongType),
        },
    };
    let old = current.unwrap_or(0);
    let value = old.checked_add(incr).ok_or(Error::Overflow)?;
    match ctx.lookup_write(&key) {
        Some(e) => e.value = Value::Str(Str::Int(value)),
        None => ctx.db().set(key.clone(), Value::Str(Str::Int(value)), now),
    }
    ctx.signal_modified(&key);
    ctx.notify('$', "incrby", &key);
    ctx.add_dirty(1);
    ctx.reply.int(value);
    Ok(())
}

/// INCR key
fn incr(ctx: &mut Ctx) -> CmdResult {
    incr_decr(ctx, 1)
}

/// DECR key
fn decr(ctx: &mut Ctx) -> CmdResult {
    incr_decr(ctx, -1)
}

/// INCRBY key increment
fn incrby(ctx: &mut Ctx) -> CmdResult {
    let n = args::int(ctx.arg(2))?;
    incr_decr(ctx, n)
}

/// DECRBY key decrement
fn decrby(ctx: &mut Ctx) -> CmdResult {
    let n = args::int(ctx.arg(2))?;
    if n == i64::MIN {
        return Err(Error::err("decrement would overflow"));
    }
    incr_decr(ctx, -n)
}

/// INCRBYFLOAT key increment
fn incrbyfloat(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.arg(1).clone();
    let incr = ctx.arg(2).clone();
    let now = ctx.now_ms;
    let current = match ctx.lookup_write(&key) {
        None => None,
        Some(e) => match &e.value {
            Value::Str(s) => Some(s.to_bytes()),
            _ => return Err(Error::WrongType),
        },
    };
    let cur: &[u8] = current.as_deref().unwrap_or(b"0");
    let sum = incr_by_float(cur, &incr).map_err(|e| match e {
        IncrFloatError::NotFloat => Error::NotFloat,
        IncrFloatError::NanOrInfinity => Error::NanOrInfinity,
    })?;
    let sum = Bytes::from(sum);
    let v = Value::Str(Str::Raw(sum.clone()));
    match ctx.lookup_write(&key) {
        Some(e) => e.value = v,
        None => ctx.db().set(key.clone(), v, now),
    }
    ctx.signal_modified(&key);
    ctx.notify('$', "incrbyfloat", &key);
    ctx.add_dirty(1);
    // Replicas and the AOF get the result, not the float arithmetic.
    ctx.propagate_rewrite(vec![
        Bytes::from_static(b"SET"),
        key.clone(),
        sum.clone(),
        Bytes::from_static(b"KEEPTTL"),
    ]);
    ctx.reply.bulk(&sum);
    Ok(())
}

/// LCS key1 key2 [LEN] [IDX] [MINMATCHLEN min-match-len] [WITHMATCHLEN]
fn lcs(ctx: &mut Ctx) -> CmdResult {
    let ka = ctx.arg(1).clone();
    let kb = ctx.arg(2).clone();
    let string_of = |ctx: &mut Ctx, k: &[u8]| -> Option<Option<Bytes>> {
        match ctx.lookup_read(k) {
            None => Some(None),
            Some(e) => match &e.value {
                Value::Str(s) => Some(Some(s.to_bytes())),
                _ => None,
            },
        }
    };
    let a = string_of(ctx, &ka);
    let b = string_of(ctx, &kb);
    let (Some(a), Some(b)) = (a, b) else {
        return Err(Error::err("The specified keys must contain string values"));
    };
    let a = a.unwrap_or_default();
    let b = b.unwrap_or_default();

    let mut getidx = false;
    let mut getlen = false;
    let mut withmatchlen = false;
    let mut minmatchlen: i64 = 0;
    let mut j = 3;
    while j < ctx.args.len() {
        let opt = cstr(&ctx.args[j]);
        let more = j + 1 < ctx.args.len();
        if args::is(opt, "IDX") {
            getidx = true;
        } else if args::is(opt, "LEN") {
            getlen = true;
        } else if args::is(opt, "WITHMATCHLEN") {
            withmatchlen = true;
        } else if args::is(opt, "MINMATCHLEN") && more {
            minmatchlen = args::int(&ctx.args[j + 1])?.max(0);
            j += 1;
        } else {
            return Err(Error::Syntax);
        }
        j += 1;
    }
    if getidx && getlen {
        return Err(Error::err(
            "If you want both the length and indexes, please just use IDX.",
        ));
    }
    if a.len() >= (u32::MAX - 1) as usize || b.len() >= (u32::MAX - 1) as usize {
        return Err(Error::err("String too long for LCS"));
    }
    let alen = a.len();
    let blen = b.len();
    let cells = (alen as u64 + 1).checked_mul(blen as u64 + 1);
    let bytes = cells.and_then(|c| c.checked_mul(4));
    let (Some(cells), Some(bytes)) = (cells, bytes) else {
        return Err(Error::err(
            "Insufficient memory, failed allocating transient memory for LCS",
        ));
    };
    if bytes > ctx.state.config.hot.proto_max_bulk_len.max(0) as u64 {
        return Err(Error::err(
            "Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len",
        ));
    }
    let mut table: Vec<u32> = Vec::new();
    if usize::try_from(cells)
        .ok()
        .and_then(|c| table.try_reserve_exact(c).ok())
        .is_none()
    {
        return Err(Error::err(
            "Insufficient memory, failed allocating transient memory for LCS",
        ));
    }
    table.resize(cells as usize, 0);
    let w = blen + 1;
    for i in 1..=alen {
        for jj in 1..=blen {
            table[i * w + jj] = if a[i - 1] == b[jj - 1] {
                table[(i - 1) * w + jj - 1] + 1
            } else {
                table[(i - 1) * w + jj].max(table[i * w + jj - 1])
            };
        }
    }
    let total = table[alen * w + blen];
    let computelcs = getidx || !getlen;
    let mut result = vec![0u8; if computelcs { total as usize } else { 0 }];
    let mut idx = total as usize;
    let mut at = None;
    let mut ranges = 0usize;
    if getidx {
        ctx.reply.map(2);
        ctx.reply.bulk(b"matches");
        at = Some(ctx.reply.defer());
    }
    // Range tracking exactly as Redis does it (`alen` means "unset").
    let unset = alen;
    let (mut as_, mut ae, mut bs, mut be) = (unset, 0usize, 0usize, 0usize);
    let (mut i, mut jj) = (alen, blen);
    while computelcs && i > 0 && jj > 0 {
        let mut emit = false;
        if a[i - 1] == b[jj - 1] {
            result[idx - 1] = a[i - 1];
            if as_ == unset {
                as_ = i - 1;
                ae = i - 1;
                bs = jj - 1;
                be = jj - 1;
            } else if as_ == i && bs == jj {
                as_ -= 1;
                bs -= 1;
            } else {
                emit = true;
            }
            if as_ == 0 || bs == 0 {
                emit = true;
            }
            idx -= 1;
            i -= 1;
            jj -= 1;
        } else {
            let l1 = table[(i - 1) * w + jj];
            let l2 = table[i * w + jj - 1];
            if l1 > l2 {
                i -= 1;
            } else {
                jj -= 1;
            }
            if as_ != unset {
                emit = true;
            }
        }
        if emit {
            let match_len = (ae as u32).wrapping_sub(as_ as u32).wrapping_add(1);
            if (minmatchlen == 0 || i64::from(match_len) >= minmatchlen) && at.is_some() {
                ctx.reply.array(2 + usize::from(withmatchlen));
                ctx.reply.array(2);
                ctx.reply.int(as_ as i64);
                ctx.reply.int(ae as i64);
                ctx.reply.array(2);
                ctx.reply.int(bs as i64);
                ctx.reply.int(be as i64);
                if withmatchlen {
                    ctx.reply.int(i64::from(match_len));
                }
                ranges += 1;
            }
            as_ = unset;
        }
    }
    if let Some(at) = at {
        ctx.reply.finish_array(at, ranges);
        ctx.reply.bulk(b"len");
        ctx.reply.int(i64::from(total));
    } else if getlen {
        ctx.reply.int(i64::from(total));
    } else {
        ctx.reply.bulk(&result);
    }
    Ok(())
}

/// MSET/MSETNX keys: every other argument from 1.
const MSET_KEYS: Keys = Keys::Range {
    first: 1,
    last: -1,
    step: 2,
};

const LCS_KEYS: Keys = Keys::Range {
    first: 1,
    last: 2,
    step: 1,
};

const W: Flags = Flags::WRITE;
const R: Flags = Flags::READONLY;
const WD: Flags = W.or(Flags::DENYOOM);
const WDF: Flags = WD.or(Flags::FAST);
const WF: Flags = W.or(Flags::FAST);
const RF: Flags = R.or(Flags::FAST);

pub static TABLE: &[CommandSpec] = &[
    CommandSpec::new("get", 2, RF, Keys::one(), get).doc(
        "string",
        "1.0.0",
        "Get the value of a key",
    ),
    CommandSpec::new("set", -3, WD, Keys::one(), set).doc(
        "string",
        "1.0.0",
        "Set the string value of a key",
    ),
    CommandSpec::new("setnx", 3, WDF, Keys::one(), setnx).doc(
        "string",
        "1.0.0",
        "Set the value of a key, only if the key does not exist",
    ),
    CommandSpec::new("setex", 4, WD, Keys::one(), setex).doc(
        "string",
        "2.0.0",
        "Set the value and expiration of a key",
    ),
    CommandSpec::new("psetex", 4, WD, Keys::one(), psetex).doc(
        "string",
        "2.6.0",
        "Set the value and expiration in milliseconds of a key",
    ),
    CommandSpec::new("getex", -2, WF, Keys::one(), getex).doc(
        "string",
        "6.2.0",
        "Get the value of a key and optionally set its expiration",
    ),
    CommandSpec::new("getdel", 2, WF, Keys::one(), getdel).doc(
        "string",
        "6.2.0",
        "Get the value of a key and delete the key",
    ),
    CommandSpec::new("getset", 3, WDF, Keys::one(), getset).doc(
        "string",
        "1.0.0",
        "Set the string value of a key and return its old value",
    ),
    CommandSpec::new("mget", -2, RF, Keys::all_from(1), mget).doc(
        "string",
        "1.0.0",
        "Get the values of all the given keys",
    ),
    CommandSpec::new("mset", -3, WD, MSET_KEYS, mset).doc(
        "string",
        "1.0.1",
        "Set multiple keys to multiple values",
    ),
    CommandSpec::new("msetnx", -3, WD, MSET_KEYS, msetnx).doc(
        "string",
        "1.0.1",
        "Set multiple keys to multiple values, only if none of the keys exist",
    ),
    CommandSpec::new("append", 3, WDF, Keys::one(), append).doc(
        "string",
        "2.0.0",
        "Append a value to a key",
    ),
    CommandSpec::new("strlen", 2, RF, Keys::one(), strlen).doc(
        "string",
        "2.2.0",
        "Get the length of the value stored in a key",
    ),
    CommandSpec::new("getrange", 4, R, Keys::one(), getrange).doc(
        "string",
        "2.4.0",
        "Get a substring of the string stored at a key",
    ),
    CommandSpec::new("substr", 4, R, Keys::one(), getrange).doc(
        "string",
        "1.0.0",
        "Get a substring of the string stored at a key",
    ),
    CommandSpec::new("setrange", 4, WD, Keys::one(), setrange).doc(
        "string",
        "2.2.0",
        "Overwrite part of a string at key starting at the specified offset",
    ),
    CommandSpec::new("incr", 2, WDF, Keys::one(), incr).doc(
        "string",
        "1.0.0",
        "Increment the integer value of a key by one",
    ),
    CommandSpec::new("decr", 2, WDF, Keys::one(), decr).doc(
        "string",
        "1.0.0",
        "Decrement the integer value of a key by one",
    ),
    CommandSpec::new("incrby", 3, WDF, Keys::one(), incrby).doc(
        "string",
        "1.0.0",
        "Increment the integer value of a key by the given amount",
    ),
    CommandSpec::new("decrby", 3, WDF, Keys::one(), decrby).doc(
        "string",
        "1.0.0",
        "Decrement the integer value of a key by the given number",
    ),
    CommandSpec::new("incrbyfloat", 3, WDF, Keys::one(), incrbyfloat).doc(
        "string",
        "2.6.0",
        "Increment the float value of a key by the given amount",
    ),
    CommandSpec::new("lcs", -3, R, LCS_KEYS, lcs).doc(
        "string",
        "7.0.0",
        "Find longest common substring",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Client;
    use crate::config::Config;
    use crate::reply::Reply;
    use crate::server::State;

    /// A server state and one client, driven through the real dispatcher.
    struct Harness {
        state: State,
        client: Client,
    }

    impl Harness {
        fn new() -> Harness {
            Harness {
                state: State::new(Config::new()),
                client: Client::new(1, "test".into(), "test".into(), 0, true),
            }
        }

        fn run(&mut self, args: &[&str]) -> String {
            let args: Vec<Bytes> = args
                .iter()
                .map(|a| Bytes::copy_from_slice(a.as_bytes()))
                .collect();
            let mut reply = Reply::new(self.client.resp3);
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock")
                .as_millis() as i64;
            crate::command::dispatch(&mut self.state, &mut self.client, &mut reply, &args, now);
            String::from_utf8_lossy(&reply.buf).into_owned()
        }

        /// Plants a non-string value (there is no list command yet).
        fn plant_list(&mut self, key: &str) {
            let key = Bytes::copy_from_slice(key.as_bytes());
            self.state
                .keyspace
                .db(0)
                .set(key, Value::List(Default::default()), 0);
        }
    }

    const WT: &str = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";

    #[test]
    fn wrongtype_paths_match_redis() {
        let mut h = Harness::new();
        h.plant_list("wl");
        h.run(&["SET", "la", "ohmytext"]);
        let not_int = "-ERR value is not an integer or out of range\r\n";
        let lcs_err = "-ERR The specified keys must contain string values\r\n";
        let cases: &[(&[&str], &str)] = &[
            (&["GET", "wl"], WT),
            (&["SET", "wl", "v", "GET"], WT),
            (
                &["SET", "wl", "v", "EX", "0", "GET"],
                "-ERR invalid expire time in 'set' command\r\n",
            ),
            (&["SET", "wl", "v", "XX", "GET"], WT),
            (&["SET", "wl", "v", "NX", "GET"], WT),
            (&["GETSET", "wl", "v"], WT),
            (&["GETDEL", "wl"], WT),
            (&["GETEX", "wl"], WT),
            (&["GETEX", "wl", "EX", "abc"], WT),
            (&["GETEX", "wl", "FOO"], "-ERR syntax error\r\n"),
            (&["APPEND", "wl", "x"], WT),
            (&["STRLEN", "wl"], WT),
            (&["GETRANGE", "wl", "0", "-1"], WT),
            (&["GETRANGE", "wl", "a", "0"], not_int),
            (&["SETRANGE", "wl", "0", "x"], WT),
            (
                &["SETRANGE", "wl", "-1", "x"],
                "-ERR offset is out of range\r\n",
            ),
            (&["SETRANGE", "wl", "0", ""], WT),
            (&["INCR", "wl"], WT),
            (&["INCRBY", "wl", "abc"], not_int),
            (&["DECRBY", "wl", "1"], WT),
            (
                &["DECRBY", "wl", "-9223372036854775808"],
                "-ERR decrement would overflow\r\n",
            ),
            (&["INCRBYFLOAT", "wl", "1"], WT),
            (&["INCRBYFLOAT", "wl", "abc"], WT),
            (&["LCS", "wl", "la"], lcs_err),
            (&["LCS", "la", "wl", "foo"], lcs_err),
            (&["LCS", "wl", "nokey"], lcs_err),
            (&["MGET", "wl", "la"], "*2\r\n$-1\r\n$8\r\nohmytext\r\n"),
            (&["SET", "wl", "v", "NX"], "$-1\r\n"),
            (&["SETNX", "wl", "v"], ":0\r\n"),
            (&["MSETNX", "wl", "v", "x", "y"], ":0\r\n"),
            (&["EXISTS", "x"], ":0\r\n"),
            (&["SET", "wl", "v", "KEEPTTL"], "+OK\r\n"),
            (&["GET", "wl"], "$1\r\nv\r\n"),
        ];
        for (args, want) in cases {
            assert_eq!(h.run(args), *want, "{args:?}");
        }
    }

    #[test]
    fn lcs_idx_is_a_map_in_resp3() {
        let mut h = Harness::new();
        h.run(&["MSET", "a", "ohmytext", "b", "mynewtext"]);
        h.client.resp3 = true;
        assert_eq!(
            h.run(&["LCS", "a", "b", "IDX", "MINMATCHLEN", "4", "WITHMATCHLEN"]),
            "%2\r\n$7\r\nmatches\r\n*1\r\n*3\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n:4\r\n\
             $3\r\nlen\r\n:6\r\n"
        );
        assert_eq!(h.run(&["GETEX", "nokey"]), "_\r\n");
        assert_eq!(h.run(&["MGET", "nokey"]), "*1\r\n_\r\n");
    }

    #[test]
    fn dirty_counts() {
        let mut h = Harness::new();
        let d0 = h.state.dirty;
        h.run(&["MSET", "a", "1", "b", "2", "c", "3"]);
        assert_eq!(h.state.dirty - d0, 3);
        h.run(&["INCR", "a"]);
        h.run(&["SETRANGE", "b", "0", ""]); // no change
        h.run(&["SET", "x", "1", "NX", "GET"]);
        h.run(&["SET", "a", "1", "NX"]); // aborted
        h.run(&["GETEX", "a", "PERSIST"]); // no TTL: no change
        h.run(&["GETEX", "a", "EX", "100"]);
        h.run(&["GETEX", "a", "PERSIST"]);
        assert_eq!(h.state.dirty - d0, 7);
    }

    #[test]
    fn int_encoding_where_redis_uses_it() {
        let mut h = Harness::new();
        h.run(&["SET", "i", "123"]);
        h.run(&["INCRBYFLOAT", "f", "3"]);
        h.run(&["APPEND", "s", "12"]);
        h.run(&["APPEND", "s", "3"]);
        let db = h.state.keyspace.db(0);
        let enc = |db: &mut strata_storage::keyspace::Db, k: &[u8]| {
            db.peek(k).map(|e| e.value.encoding())
        };
        assert_eq!(enc(db, b"i"), Some("int"));
        assert_eq!(enc(db, b"f"), Some("embstr"));
        assert_ne!(enc(db, b"s"), Some("int"));
    }
}
