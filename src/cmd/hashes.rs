//! Hash commands: HSET, HGET, HINCRBY, HRANDFIELD, HSCAN and the rest of
//! the Redis 7.0 hash family.

use bytes::Bytes;
use rand::Rng;
use strata_storage::glob::glob_match;
use strata_storage::hash::{Elem, Hash, HashLimits};
use strata_storage::keyspace::{Entry, Touch};
use strata_storage::longdouble::{incr_by_float, IncrFloatError};
use strata_storage::value::Value;

use crate::args;
use crate::command::{CommandSpec, Ctx, Flags, Keys};
use crate::error::{CmdResult, Error};
use crate::reply::Reply;
use crate::server::State;

/// Largest repeat count (negative COUNT) HRANDFIELD and SRANDMEMBER serve.
/// Redis has no bound and would build a reply of unbounded size; Strata
/// refuses with `ERR value is out of range` instead of exhausting memory.
pub(crate) const MAX_RANDOM_REPEATS: u64 = 1 << 24;

/// Looks `key` up in the client's database, as `lookupKeyRead` (counting a
/// hit or miss) or `lookupKeyWrite`. Takes the state alone so the caller
/// can write the reply while holding the entry.
pub(crate) fn lookup<'a>(
    state: &'a mut State,
    db: usize,
    key: &[u8],
    now: i64,
    read: bool,
) -> Option<&'a mut Entry> {
    let d = state.keyspace.db(db);
    if read {
        let found = d.contains(key, now);
        if found {
            state.stats.keyspace_hits += 1;
        } else {
            state.stats.keyspace_misses += 1;
        }
    }
    state.keyspace.db(db).get_mut(key, now, Touch::Yes)
}

/// Writes one element as a bulk string.
pub(crate) fn reply_elem(reply: &mut Reply, e: Elem<'_>) {
    match e {
        Elem::Str(s) => reply.bulk(s),
        Elem::Int(i) => reply.bulk_int(i),
    }
}

fn limits(ctx: &Ctx) -> HashLimits {
    let e = &ctx.state.config.hot.encodings;
    HashLimits {
        max_entries: e.hash_max_listpack_entries,
        max_value: e.hash_max_listpack_value,
    }
}

/// The hash at `key` for reading: `Ok(None)` if missing.
fn read_hash<'a>(
    state: &'a mut State,
    db: usize,
    key: &[u8],
    now: i64,
) -> Result<Option<&'a mut Hash>, Error> {
    match lookup(state, db, key, now, true) {
        None => Ok(None),
        Some(e) => match &mut e.value {
            Value::Hash(h) => Ok(Some(h)),
            _ => Err(Error::WrongType),
        },
    }
}

/// The hash at `key` for writing, created empty if missing (Redis's
/// `hashTypeLookupWriteOrCreate`). Callers must delete it again if it is
/// left empty.
fn write_hash<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<&'a mut Hash, Error> {
    let now = ctx.now_ms;
    let db = ctx.client.db;
    let exists = match lookup(ctx.state, db, key, now, false) {
        None => false,
        Some(e) => match e.value {
            Value::Hash(_) => true,
            _ => return Err(Error::WrongType),
        },
    };
    if !exists {
        ctx.state
            .keyspace
            .db(db)
            .set(Bytes::copy_from_slice(key), Value::Hash(Hash::new()), now);
    }
    match lookup(ctx.state, db, key, now, false).map(|e| &mut e.value) {
        Some(Value::Hash(h)) => Ok(h),
        _ => Err(Error::WrongType),
    }
}

/// Deletes `key` if it holds an empty hash (after a failed write on a key
/// `write_hash` created).
fn drop_if_empty(ctx: &mut Ctx, key: &[u8]) {
    let now = ctx.now_ms;
    let empty = matches!(
        ctx.db().get(key, now, Touch::No).map(|e| &e.value),
        Some(Value::Hash(h)) if h.is_empty()
    );
    if empty {
        ctx.db().remove(key);
    }
}

/// HSET key field value [field value ...]  /  HMSET (same, replies OK)
fn hset(ctx: &mut Ctx) -> CmdResult {
    if ctx.args.len() % 2 == 1 {
        return Err(Error::wrong_arity(ctx.cmd.name));
    }
    let key = ctx.arg(1).clone();
    let lim = limits(ctx);
    let args = ctx.args;
    let h = write_hash(ctx, &key)?;
    h.try_conversion(args[2..].iter().map(|a| &a[..]), lim);
    let mut created = 0;
    for pair in args[2..].chunks(2) {
        if h.set(&pair[0], &pair[1], lim) {
            created += 1;
        }
    }
    if ctx.cmd.name == "hset" {
        ctx.reply.int(created);
    } else {
        ctx.reply.ok();
    }
    ctx.signal_modified(&key);
    ctx.notify('h', "hset", &key);
    ctx.add_dirty(((args.len() - 2) / 2) as u64);
    Ok(())
}

/// HSETNX key field value
fn hsetnx(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.arg(1).clone();
    let lim = limits(ctx);
    let args = ctx.args;
    let h = write_hash(ctx, &key)?;
    if h.contains(&args[2]) {
        ctx.reply.int(0);
        return Ok(());
    }
    h.try_conversion([&args[2][..], &args[3][..]], lim);
    h.set(&args[2], &args[3], lim);
    ctx.reply.int(1);
    ctx.signal_modified(&key);
    ctx.notify('h', "hset", &key);
    ctx.add_dirty(1);
    Ok(())
}

/// HGET key field
fn hget(ctx: &mut Ctx) -> CmdResult {
    let (db, now) = (ctx.client.db, ctx.now_ms);
    let reply = &mut *ctx.reply;
    match read_hash(ctx.state, db, &ctx.args[1], now)?.and_then(|h| h.get(&ctx.args[2])) {
        Some(v) => reply_elem(reply, v),
        None => reply.null(),
    }
    Ok(())
}

/// HMGET key field [field ...]
fn hmget(ctx: &mut Ctx) -> CmdResult {
    let (db, now) = (ctx.client.db, ctx.now_ms);
    let reply = &mut *ctx.reply;
    let h = read_hash(ctx.state, db, &ctx.args[1], now)?;
    let fields = &ctx.args[2..];
    reply.array(fields.len());
    for f in fields {
        match h.as_ref().and_then(|h| h.get(f)) {
            Some(v) => reply_elem(reply, v),
            None => reply.null(),
        }
    }
    Ok(())
}

/// HDEL key field [field ...]
fn hdel(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.arg(1).clone();
    let (db, now) = (ctx.client.db, ctx.now_ms);
    let args = ctx.args;
    let h = match lookup(ctx.state, db, &key, now, false) {
        None => {
            ctx.reply.int(0);
            return Ok(());
        }
        Some(e) => match &mut e.value {
            Value::Hash(h) => h,
            _ => return Err(Error::WrongType),
        },
    };
    let mut deleted = 0;
    let mut removed = false;
    for f in &args[2..] {
        if h.remove(f) {
            deleted += 1;
            if h.is_empty() {
                removed = true;
                break;
            }
        }
    }
    ctx.after_removal(&key, 'h', "hdel", deleted as usize, removed);
    ctx.reply.int(deleted);
    Ok(())
}

/// HLEN key
fn hlen(ctx: &mut Ctx) -> CmdResult {
    let (db, now) = (ctx.client.db, ctx.now_ms);
    let n = read_hash(ctx.state, db, &ctx.args[1], now)?.map_or(0, |h| h.len());
    ctx.reply.int(n as i64);
    Ok(())
}

/// HSTRLEN key field
fn hstrlen(ctx: &mut Ctx) -> CmdResult {
    let (db, now) = (ctx.client.db, ctx.now_ms);
    let n = read_hash(ctx.state, db, &ctx.args[1], now)?
        .and_then(|h| h.get(&ctx.args[2]).map(|v| v.len()))
        .unwrap_or(0);
    ctx.reply.int(n as i64);
    Ok(())
}

/// HEXISTS key field
fn hexists(ctx: &mut Ctx) -> CmdResult {
    let (db, now) = (ctx.client.db, ctx.now_ms);
    let found =
        read_hash(ctx.state, db, &ctx.args[1], now)?.is_some_and(|h| h.contains(&ctx.args[2]));
    ctx.reply.int(i64::from(found));
    Ok(())
}

#[derive(Clone, Copy, PartialEq)]
enum Part {
    Keys,
    Vals,
    All,
}

fn getall(ctx: &mut Ctx, part: Part) -> CmdResult {
    let (db, now) = (ctx.client.db, ctx.now_ms);
    let reply = &mut *ctx.reply;
    let Some(h) = read_hash(ctx.state, db, &ctx.args[1], now)? else {
        if part == Part::All {
            reply.map(0);
        } else {
            reply.array(0);
        }
        return Ok(());
    };
    if part == Part::All {
        reply.map(h.len());
    } else {
        reply.array(h.len());
    }
    for (f, v) in h.iter() {
        if part != Part::Vals {
            reply_elem(reply, f);
        }
        if part != Part::Keys {
            reply_elem(reply, v);
        }
    }
    Ok(())
}

/// HKEYS key
fn hkeys(ctx: &mut Ctx) -> CmdResult {
    getall(ctx, Part::Keys)
}

/// HVALS key
fn hvals(ctx: &mut Ctx) -> CmdResult {
    getall(ctx, Part::Vals)
}

/// HGETALL key
fn hgetall(ctx: &mut Ctx) -> CmdResult {
    getall(ctx, Part::All)
}

/// HINCRBY key field increment
fn hincrby(ctx: &mut Ctx) -> CmdResult {
    let incr = args::int(ctx.arg(3))?;
    let key = ctx.arg(1).clone();
    let lim = limits(ctx);
    let args = ctx.args;
    let h = write_hash(ctx, &key)?;
    let old = match h.get(&args[2]) {
        None => 0,
        Some(v) => match v.as_i64() {
            Some(i) => i,
            None => return Err(Error::err("hash value is not an integer")),
        },
    };
    let Some(new) = old.checked_add(incr) else {
        return Err(Error::Overflow);
    };
    h.set(&args[2], itoa::Buffer::new().format(new).as_bytes(), lim);
    ctx.reply.int(new);
    ctx.signal_modified(&key);
    ctx.notify('h', "hincrby", &key);
    ctx.add_dirty(1);
    Ok(())
}

/// HINCRBYFLOAT key field increment
fn hincrbyfloat(ctx: &mut Ctx) -> CmdResult {
    let incr = ctx.arg(3).clone();
    // Validate the increment alone first (Redis parses it before looking
    // the key up): adding it to zero tells a bad float from an infinite one.
    match incr_by_float(b"0", &incr) {
        Ok(_) => {}
        Err(IncrFloatError::NotFloat) => return Err(Error::NotFloat),
        Err(IncrFloatError::NanOrInfinity) => return Err(Error::err("value is NaN or Infinity")),
    }
    let key = ctx.arg(1).clone();
    let lim = limits(ctx);
    let args = ctx.args;
    let h = match write_hash(ctx, &key) {
        Ok(h) => h,
        Err(e) => return Err(e),
    };
    let current = h.get(&args[2]).map(|v| v.to_vec());
    let result = incr_by_float(current.as_deref().unwrap_or(b"0"), &incr);
    let new = match result {
        Ok(v) => v,
        Err(e) => {
            drop_if_empty(ctx, &key);
            return Err(match e {
                IncrFloatError::NotFloat => Error::err("hash value is not a float"),
                IncrFloatError::NanOrInfinity => Error::NanOrInfinity,
            });
        }
    };
    h.set(&args[2], &new, lim);
    ctx.reply.bulk(&new);
    // Replicas and the AOF get the result, not the float arithmetic.
    ctx.propagate_rewrite(vec![
        Bytes::from_static(b"HSET"),
        key.clone(),
        args[2].clone(),
        Bytes::copy_from_slice(&new),
    ]);
    ctx.signal_modified(&key);
    ctx.notify('h', "hincrbyfloat", &key);
    ctx.add_dirty(1);
    Ok(())
}

/// Parses a random-command count as Redis's
/// `getRangeLongFromObjectOrReply(-LONG_MAX, LONG_MAX)`.
pub(crate) fn random_count(arg: &[u8]) -> Result<i64, Error> {
    let l = args::int(arg)?;
    if l == i64::MIN {
        return Err(Error::err(
            "value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    Ok(l)
}

/// HRANDFIELD key [count [WITHVALUES]]
fn hrandfield(ctx: &mut Ctx) -> CmdResult {
    let (db, now) = (ctx.client.db, ctx.now_ms);
    if ctx.args.len() >= 3 {
        let l = random_count(ctx.arg(2))?;
        let mut withvalues = false;
        if ctx.args.len() > 4 || (ctx.args.len() == 4 && !args::is(ctx.arg(3), "withvalues")) {
            return Err(Error::Syntax);
        } else if ctx.args.len() == 4 {
            withvalues = true;
            if !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&l) {
                return Err(Error::err("value is out of range"));
            }
        }
        return hrandfield_count(ctx, l, withvalues);
    }
    let reply = &mut *ctx.reply;
    match read_hash(ctx.state, db, &ctx.args[1], now)? {
        None => reply.null(),
        Some(h) => match h.random_pair(&mut rand::rng()) {
            Some((f, _)) => reply_elem(reply, f),
            None => reply.null(),
        },
    }
    Ok(())
}

fn hrandfield_count(ctx: &mut Ctx, l: i64, withvalues: bool) -> CmdResult {
    let (db, now) = (ctx.client.db, ctx.now_ms);
    let reply = &mut *ctx.reply;
    let resp3 = reply.resp3;
    let Some(h) = read_hash(ctx.state, db, &ctx.args[1], now)? else {
        reply.array(0);
        return Ok(());
    };
    let size = h.len() as u64;
    let uniq = l >= 0;
    let count = l.unsigned_abs();
    if count == 0 || size == 0 {
        reply.array(0);
        return Ok(());
    }
    let emit = |reply: &mut Reply, f: Elem<'_>, v: Elem<'_>| {
        if withvalues && resp3 {
            reply.array(2);
        }
        reply_elem(reply, f);
        if withvalues {
            reply_elem(reply, v);
        }
    };
    let header = |reply: &mut Reply, n: u64| {
        let n = n as usize;
        reply.array(if withvalues && !resp3 { n * 2 } else { n });
    };
    let mut rng = rand::rng();
    // CASE 1: repeats allowed (or a single element): sample each time.
    if !uniq || count == 1 {
        if count > MAX_RANDOM_REPEATS {
            return Err(Error::err("value is out of range"));
        }
        header(reply, count);
        if h.is_listpack() {
            let pairs: Vec<(Elem<'_>, Elem<'_>)> = h.iter().collect();
            for _ in 0..count {
                let (f, v) = pairs[rng.random_range(0..pairs.len())];
                emit(reply, f, v);
            }
        } else {
            for _ in 0..count {
                if let Some((f, v)) = h.random_pair(&mut rng) {
                    emit(reply, f, v);
                }
            }
        }
        return Ok(());
    }
    // CASE 2: asking for at least the whole hash: return it all.
    if count >= size {
        header(reply, size);
        for (f, v) in h.iter() {
            emit(reply, f, v);
        }
        return Ok(());
    }
    header(reply, count);
    let count = count as usize;
    if count * 3 > size as usize || h.is_listpack() {
        // CASE 3 (and small listpacks): pick `count` distinct positions.
        let pairs: Vec<(Elem<'_>, Elem<'_>)> = h.iter().collect();
        let mut idx: Vec<usize> = rand::seq::index::sample(&mut rng, pairs.len(), count).into_vec();
        idx.sort_unstable();
        for i in idx {
            let (f, v) = pairs[i];
            emit(reply, f, v);
        }
        return Ok(());
    }
    // CASE 4: big hash, few elements: sample until enough distinct ones.
    let mut seen: std::collections::HashSet<&[u8]> = std::collections::HashSet::new();
    while seen.len() < count {
        let Some((f, v)) = h.random_pair(&mut rng) else {
            break;
        };
        let Elem::Str(fs) = f else { continue };
        if seen.insert(fs) {
            emit(reply, f, v);
        }
    }
    Ok(())
}

/// Redis's `parseScanCursorOrReply` (`strtoul`: optional sign, wraps
/// negative values, no leading space, whole string).
pub(crate) fn parse_cursor(b: &[u8]) -> Result<u64, Error> {
    let invalid = || Error::err("invalid cursor");
    if b.first().is_some_and(|c| c.is_ascii_whitespace()) {
        return Err(invalid());
    }
    let (neg, digits) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        Some(b'+') => (false, &b[1..]),
        _ => (false, b),
    };
    if digits.is_empty() {
        // strtoul("") parses nothing and leaves the end at the start,
        // which is the (empty) end of the string; a lone sign is invalid.
        return if b.is_empty() { Ok(0) } else { Err(invalid()) };
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return Err(invalid());
        }
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(c - b'0')))
            .ok_or_else(invalid)?;
    }
    Ok(if neg { v.wrapping_neg() } else { v })
}

/// Options of HSCAN/SSCAN after the cursor: COUNT n, MATCH pattern.
pub(crate) struct ScanOpts {
    pub count: usize,
    pub pattern: Option<Bytes>,
}

pub(crate) fn parse_scan_opts(a: &[Bytes], start: usize) -> Result<ScanOpts, Error> {
    let mut opts = ScanOpts {
        count: 10,
        pattern: None,
    };
    let mut i = start;
    while i < a.len() {
        let more = a.len() - i >= 2;
        if args::is(&a[i], "count") && more {
            let c = args::int(&a[i + 1])?;
            if c < 1 {
                return Err(Error::Syntax);
            }
            opts.count = c as usize;
            i += 2;
        } else if args::is(&a[i], "match") && more {
            let p = a[i + 1].clone();
            opts.pattern = if &p[..] == b"*" { None } else { Some(p) };
            i += 2;
        } else {
            return Err(Error::Syntax);
        }
    }
    Ok(opts)
}

/// Writes a SCAN-family reply: the cursor and the elements.
pub(crate) fn reply_scan(reply: &mut Reply, cursor: u64, items: &[Vec<u8>]) {
    reply.array(2);
    reply.bulk(itoa::Buffer::new().format(cursor).as_bytes());
    reply.array(items.len());
    for it in items {
        reply.bulk(it);
    }
}

/// HSCAN key cursor [MATCH pattern] [COUNT count]
fn hscan(ctx: &mut Ctx) -> CmdResult {
    let cursor = parse_cursor(ctx.arg(2))?;
    let (db, now) = (ctx.client.db, ctx.now_ms);
    let reply = &mut *ctx.reply;
    let Some(h) = read_hash(ctx.state, db, &ctx.args[1], now)? else {
        reply_scan(reply, 0, &[]);
        return Ok(());
    };
    let opts = parse_scan_opts(ctx.args, 3)?;
    let mut items = Vec::new();
    let next = h.scan(cursor, opts.count, |f, v| {
        let f = f.to_vec();
        if let Some(p) = &opts.pattern {
            if !glob_match(p, &f, false) {
                return;
            }
        }
        items.push(f);
        items.push(v.to_vec());
    });
    reply_scan(reply, next, &items);
    Ok(())
}

const W: Flags = Flags::WRITE;
const R: Flags = Flags::READONLY;
const WDF: Flags = Flags::WRITE.or(Flags::DENYOOM).or(Flags::FAST);
const RF: Flags = Flags::READONLY.or(Flags::FAST);

pub static TABLE: &[CommandSpec] = &[
    CommandSpec::new("hset", -4, WDF, Keys::one(), hset).doc(
        "hash",
        "2.0.0",
        "Creates or modifies the value of a field in a hash.",
    ),
    CommandSpec::new("hmset", -4, WDF, Keys::one(), hset).doc(
        "hash",
        "2.0.0",
        "Sets the values of multiple fields.",
    ),
    CommandSpec::new("hsetnx", 4, WDF, Keys::one(), hsetnx).doc(
        "hash",
        "2.0.0",
        "Sets the value of a field in a hash only when the field doesn't exist.",
    ),
    CommandSpec::new("hget", 3, RF, Keys::one(), hget).doc(
        "hash",
        "2.0.0",
        "Returns the value of a field in a hash.",
    ),
    CommandSpec::new("hmget", -3, RF, Keys::one(), hmget).doc(
        "hash",
        "2.0.0",
        "Returns the values of all fields in a hash.",
    ),
    CommandSpec::new("hdel", -3, W.or(Flags::FAST), Keys::one(), hdel).doc(
        "hash",
        "2.0.0",
        "Deletes one or more fields and their values from a hash. Deletes the hash if no fields remain.",
    ),
    CommandSpec::new("hlen", 2, RF, Keys::one(), hlen).doc(
        "hash",
        "2.0.0",
        "Returns the number of fields in a hash.",
    ),
    CommandSpec::new("hstrlen", 3, RF, Keys::one(), hstrlen).doc(
        "hash",
        "3.2.0",
        "Returns the length of the value of a field.",
    ),
    CommandSpec::new("hexists", 3, RF, Keys::one(), hexists).doc(
        "hash",
        "2.0.0",
        "Determines whether a field exists in a hash.",
    ),
    CommandSpec::new("hkeys", 2, R, Keys::one(), hkeys).doc(
        "hash",
        "2.0.0",
        "Returns all fields in a hash.",
    ),
    CommandSpec::new("hvals", 2, R, Keys::one(), hvals).doc(
        "hash",
        "2.0.0",
        "Returns all values in a hash.",
    ),
    CommandSpec::new("hgetall", 2, R, Keys::one(), hgetall).doc(
        "hash",
        "2.0.0",
        "Returns all fields and values in a hash.",
    ),
    CommandSpec::new("hincrby", 4, WDF, Keys::one(), hincrby).doc(
        "hash",
        "2.0.0",
        "Increments the integer value of a field in a hash by a number. Uses 0 as initial value if the field doesn't exist.",
    ),
    CommandSpec::new("hincrbyfloat", 4, WDF, Keys::one(), hincrbyfloat).doc(
        "hash",
        "2.6.0",
        "Increments the floating point value of a field by a number. Uses 0 as initial value if the field doesn't exist.",
    ),
    CommandSpec::new("hrandfield", -2, R, Keys::one(), hrandfield).doc(
        "hash",
        "6.2.0",
        "Returns one or more random fields from a hash.",
    ),
    CommandSpec::new("hscan", -3, R, Keys::one(), hscan).doc(
        "hash",
        "2.8.0",
        "Iterates over fields and values of a hash.",
    ),
];
