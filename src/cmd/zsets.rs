//! Sorted set commands: the Redis 7.0 `t_zset.c` family.
//!
//! The data structure lives in `strata_storage::zset`; this file parses
//! arguments in Redis's order (so the same bad command fails with the same
//! error), looks keys up, and shapes replies for RESP2 and RESP3.

use bytes::Bytes;
use rand::Rng;
use strata_storage::num::parse_i64;
use strata_storage::set::Set;
use strata_storage::value::Value;
use strata_storage::zset::{parse_score, AddFlags, AddOutcome, LexRange, Limits, ScoreRange, ZSet};

use crate::args::is;
use crate::blocking::{block_on_keys, parse_timeout, TimeoutReply};
use crate::command::{CommandSpec, Ctx, Flags, Keys};
use crate::error::{CmdResult, Error};
use crate::reply::Reply;

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

fn limits(ctx: &Ctx) -> Limits {
    let e = &ctx.state.config.hot.encodings;
    Limits {
        max_entries: e.zset_max_listpack_entries,
        max_value: e.zset_max_listpack_value,
    }
}

fn not_float_range() -> Error {
    Error::MinMaxNotFloat
}

fn not_lex_range() -> Error {
    Error::err("min or max not valid string range item")
}

/// `getLongFromObjectOrReply`.
fn long(b: &[u8]) -> Result<i64, Error> {
    parse_i64(b).ok_or(Error::NotInteger)
}

/// `getPositiveLongFromObjectOrReply` with Redis's default message (used
/// for both a non-integer and a negative value).
fn positive_long(b: &[u8]) -> Result<i64, Error> {
    match parse_i64(b) {
        Some(v) if v >= 0 => Ok(v),
        _ => Err(Error::err("value is out of range, must be positive")),
    }
}

/// Looks a sorted set up for reading (hit/miss statistics).
fn zset_read<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<Option<&'a mut ZSet>, Error> {
    match ctx.lookup_read(key) {
        None => Ok(None),
        Some(e) => match &mut e.value {
            Value::ZSet(z) => Ok(Some(z)),
            _ => Err(Error::WrongType),
        },
    }
}

/// Looks a sorted set up for writing.
fn zset_write<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<Option<&'a mut ZSet>, Error> {
    match ctx.lookup_write(key) {
        None => Ok(None),
        Some(e) => match &mut e.value {
            Value::ZSet(z) => Ok(Some(z)),
            _ => Err(Error::WrongType),
        },
    }
}

/// Deletes `key` when its sorted set became empty; returns true if so.
fn delete_if_empty(ctx: &mut Ctx, key: &[u8]) -> bool {
    let now = ctx.now_ms;
    let empty = matches!(
        ctx.db().get_mut(key, now, strata_storage::keyspace::Touch::No),
        Some(e) if matches!(&e.value, Value::ZSet(z) if z.is_empty())
    );
    if empty {
        ctx.db().remove(key);
    }
    empty
}

/// Writes elements as ZRANGE does: with scores, a flat array in RESP2 and
/// an array of [member, score] pairs in RESP3.
fn reply_elements(reply: &mut Reply, items: &[(Bytes, f64)], withscores: bool) {
    if withscores && !reply.resp3 {
        reply.array(items.len() * 2);
    } else {
        reply.array(items.len());
    }
    for (m, s) in items {
        if withscores && reply.resp3 {
            reply.array(2);
        }
        reply.bulk(m);
        if withscores {
            reply.double(*s);
        }
    }
}

/// Stores `items` at `dst` as a sorted set (store commands), or deletes
/// `dst` when empty. Replies with the stored count.
fn store_result(ctx: &mut Ctx, dst: &Bytes, items: Vec<(Bytes, f64)>, event: &str) {
    let n = items.len();
    if n > 0 {
        let z = ZSet::from_entries(items, limits(ctx));
        let now = ctx.now_ms;
        ctx.db().set(dst.clone(), Value::ZSet(z), now);
        ctx.signal_modified(dst);
        ctx.signal_key_ready(dst);
        ctx.reply.int(n as i64);
        ctx.notify('z', event, dst);
        ctx.add_dirty(1);
    } else {
        ctx.reply.int(0);
        let now = ctx.now_ms;
        if ctx.db().contains(dst, now) {
            ctx.db().remove(dst);
            ctx.signal_modified(dst);
            ctx.notify('g', "del", dst);
            ctx.add_dirty(1);
        }
    }
}

// Sets as inputs of ZUNION/ZINTER/ZDIFF (score 1). Kept in one place so
// the set type's API can change without touching the algorithms.
fn set_len(s: &Set) -> usize {
    s.len()
}

fn set_members(s: &Set) -> Vec<Bytes> {
    s.iter().map(|e| e.to_bytes()).collect()
}

fn set_contains(s: &Set, m: &[u8]) -> bool {
    s.contains(m)
}

/// One input of the set operations.
enum Src<'a> {
    Missing,
    Z(&'a ZSet),
    S(&'a Set),
}

impl Src<'_> {
    fn len(&self) -> usize {
        match self {
            Src::Missing => 0,
            Src::Z(z) => z.len(),
            Src::S(s) => set_len(s),
        }
    }

    fn items(&self) -> Vec<(Bytes, f64)> {
        match self {
            Src::Missing => Vec::new(),
            Src::Z(z) => z.iter().map(|(m, s)| (m.clone(), s)).collect(),
            Src::S(s) => set_members(s).into_iter().map(|m| (m, 1.0)).collect(),
        }
    }

    fn find(&self, m: &[u8]) -> Option<f64> {
        match self {
            Src::Missing => None,
            Src::Z(z) => z.score(m),
            Src::S(s) => set_contains(s, m).then_some(1.0),
        }
    }
}

// ---------------------------------------------------------------------------
// ZADD / ZINCRBY
// ---------------------------------------------------------------------------

fn zadd_generic(ctx: &mut Ctx, incr_cmd: bool) -> CmdResult {
    let key = ctx.arg(1).clone();
    let mut flags = AddFlags {
        incr: incr_cmd,
        ..AddFlags::default()
    };
    let mut ch = false;
    let mut idx = 2;
    while idx < ctx.args.len() {
        let a = &ctx.args[idx];
        if is(a, "nx") {
            flags.nx = true;
        } else if is(a, "xx") {
            flags.xx = true;
        } else if is(a, "ch") {
            ch = true;
        } else if is(a, "incr") {
            flags.incr = true;
        } else if is(a, "gt") {
            flags.gt = true;
        } else if is(a, "lt") {
            flags.lt = true;
        } else {
            break;
        }
        idx += 1;
    }
    let elements = ctx.args.len() - idx;
    if elements & 1 == 1 || elements == 0 {
        return Err(Error::Syntax);
    }
    let elements = elements / 2;
    if flags.nx && flags.xx {
        return Err(Error::err(
            "XX and NX options at the same time are not compatible",
        ));
    }
    if (flags.nx && (flags.gt || flags.lt)) || (flags.gt && flags.lt) {
        return Err(Error::err(
            "GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if flags.incr && elements > 1 {
        return Err(Error::err(
            "INCR option supports a single increment-element pair",
        ));
    }
    let mut scores = Vec::with_capacity(elements);
    for j in 0..elements {
        scores.push(parse_score(&ctx.args[idx + j * 2]).ok_or(Error::NotFloat)?);
    }
    let lim = limits(ctx);
    let exists = zset_write(ctx, &key)?.is_some();
    let (mut added, mut updated, mut processed) = (0i64, 0i64, 0i64);
    let mut last_score = 0.0;
    let mut nan = false;
    if exists || !flags.xx {
        if !exists {
            let z = ZSet::new_for(ctx.args[idx + 1].len(), lim);
            let now = ctx.now_ms;
            ctx.db().set(key.clone(), Value::ZSet(z), now);
            ctx.signal_key_ready(&key);
        }
        let args = ctx.args;
        let z = zset_write(ctx, &key)?.expect("present: just checked or created");
        for (j, &score) in scores.iter().enumerate() {
            let member = &args[idx + 1 + j * 2];
            match z.add(score, member, flags, lim) {
                AddOutcome::Nan => {
                    nan = true;
                    break;
                }
                AddOutcome::Nop => {}
                AddOutcome::Added(s) => {
                    added += 1;
                    processed += 1;
                    last_score = s;
                }
                AddOutcome::Updated(s) => {
                    updated += 1;
                    processed += 1;
                    last_score = s;
                }
                AddOutcome::Unchanged(s) => {
                    processed += 1;
                    last_score = s;
                }
            }
        }
    }
    if nan {
        ctx.reply.error("ERR resulting score is not a number (NaN)");
    } else if flags.incr {
        if processed > 0 {
            ctx.reply.double(last_score);
        } else {
            ctx.reply.null();
        }
    } else {
        ctx.reply.int(if ch { added + updated } else { added });
    }
    ctx.add_dirty((added + updated) as u64);
    if added > 0 || updated > 0 {
        ctx.signal_modified(&key);
        if added > 0 {
            ctx.signal_key_ready(&key);
        }
        ctx.notify('z', if flags.incr { "zincr" } else { "zadd" }, &key);
    }
    Ok(())
}

/// ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]
fn zadd(ctx: &mut Ctx) -> CmdResult {
    zadd_generic(ctx, false)
}

/// ZINCRBY key increment member
fn zincrby(ctx: &mut Ctx) -> CmdResult {
    zadd_generic(ctx, true)
}

// ---------------------------------------------------------------------------
// ZREM, ZCARD, ZSCORE, ZMSCORE, ZRANK, ZCOUNT, ZLEXCOUNT
// ---------------------------------------------------------------------------

/// ZREM key member [member ...]
fn zrem(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.arg(1).clone();
    let args = ctx.args;
    let Some(z) = zset_write(ctx, &key)? else {
        ctx.reply.int(0);
        return Ok(());
    };
    let mut deleted = 0i64;
    for m in &args[2..] {
        if z.remove(m) {
            deleted += 1;
            if z.is_empty() {
                break;
            }
        }
    }
    let removed = delete_if_empty(ctx, &key);
    if deleted > 0 {
        ctx.notify('z', "zrem", &key);
        if removed {
            ctx.notify('g', "del", &key);
        }
        ctx.signal_modified(&key);
        ctx.add_dirty(deleted as u64);
    }
    ctx.reply.int(deleted);
    Ok(())
}

/// ZCARD key
fn zcard(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.arg(1).clone();
    let n = zset_read(ctx, &key)?.map_or(0, |z| z.len());
    ctx.reply.int(n as i64);
    Ok(())
}

/// ZSCORE key member
fn zscore(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.arg(1).clone();
    let member = ctx.arg(2).clone();
    match zset_read(ctx, &key)?.and_then(|z| z.score(&member)) {
        Some(s) => ctx.reply.double(s),
        None => ctx.reply.null(),
    }
    Ok(())
}

/// ZMSCORE key member [member ...]
fn zmscore(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.arg(1).clone();
    let args = ctx.args;
    let scores: Vec<Option<f64>> = match zset_read(ctx, &key)? {
        Some(z) => args[2..].iter().map(|m| z.score(m)).collect(),
        None => vec![None; args.len() - 2],
    };
    ctx.reply.array(scores.len());
    for s in scores {
        match s {
            Some(s) => ctx.reply.double(s),
            None => ctx.reply.null(),
        }
    }
    Ok(())
}

fn zrank_generic(ctx: &mut Ctx, rev: bool) -> CmdResult {
    let key = ctx.arg(1).clone();
    let member = ctx.arg(2).clone();
    match zset_read(ctx, &key)?.and_then(|z| z.rank(&member, rev)) {
        Some(r) => ctx.reply.int(r as i64),
        None => ctx.reply.null(),
    }
    Ok(())
}

/// ZRANK key member
fn zrank(ctx: &mut Ctx) -> CmdResult {
    zrank_generic(ctx, false)
}

/// ZREVRANK key member
fn zrevrank(ctx: &mut Ctx) -> CmdResult {
    zrank_generic(ctx, true)
}

/// ZCOUNT key min max
fn zcount(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.arg(1).clone();
    let range = ScoreRange::parse(ctx.arg(2), ctx.arg(3)).ok_or_else(not_float_range)?;
    let n = zset_read(ctx, &key)?.map_or(0, |z| z.count_by_score(&range));
    ctx.reply.int(n as i64);
    Ok(())
}

/// ZLEXCOUNT key min max
fn zlexcount(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.arg(1).clone();
    let range = LexRange::parse(ctx.arg(2), ctx.arg(3)).ok_or_else(not_lex_range)?;
    let n = zset_read(ctx, &key)?.map_or(0, |z| z.count_by_lex(&range));
    ctx.reply.int(n as i64);
    Ok(())
}

// ---------------------------------------------------------------------------
// ZRANGE family
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum RangeType {
    Auto,
    Rank,
    Score,
    Lex,
}

/// Clamps a rank range as Redis; `None` when empty.
fn clamp_ranks(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let llen = len as i64;
    let mut start = if start < 0 { llen + start } else { start };
    let mut end = if end < 0 { llen + end } else { end };
    if start < 0 {
        start = 0;
    }
    if start > end || start >= llen {
        return None;
    }
    if end >= llen {
        end = llen - 1;
    }
    Some((start as usize, end as usize))
}

/// Redis's zrangeGenericCommand. `first` is the index of the source key.
fn zrange_generic(
    ctx: &mut Ctx,
    first: usize,
    store: bool,
    mut rt: RangeType,
    mut rev: Option<bool>,
) -> CmdResult {
    let args = ctx.args;
    let key = args[first].clone();
    let mut minidx = first + 1;
    let mut maxidx = first + 2;
    let mut withscores = false;
    let mut offset: i64 = 0;
    let mut limit: i64 = -1;
    let mut j = first + 3;
    while j < args.len() {
        let left = args.len() - j - 1;
        let a = &args[j];
        if !store && is(a, "withscores") {
            withscores = true;
        } else if is(a, "limit") && left >= 2 {
            offset = long(&args[j + 1])?;
            limit = long(&args[j + 2])?;
            j += 2;
        } else if rev.is_none() && is(a, "rev") {
            rev = Some(true);
        } else if rt == RangeType::Auto && is(a, "bylex") {
            rt = RangeType::Lex;
        } else if rt == RangeType::Auto && is(a, "byscore") {
            rt = RangeType::Score;
        } else {
            return Err(Error::Syntax);
        }
        j += 1;
    }
    let rev = rev.unwrap_or(false);
    if rt == RangeType::Auto {
        rt = RangeType::Rank;
    }
    if limit != -1 && rt == RangeType::Rank {
        return Err(Error::err(
            "syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if withscores && rt == RangeType::Lex {
        return Err(Error::err(
            "syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    if rev && rt != RangeType::Rank {
        std::mem::swap(&mut minidx, &mut maxidx);
    }
    enum Parsed {
        Rank(i64, i64),
        Score(ScoreRange),
        Lex(LexRange),
    }
    let parsed = match rt {
        RangeType::Score => Parsed::Score(
            ScoreRange::parse(&args[minidx], &args[maxidx]).ok_or_else(not_float_range)?,
        ),
        RangeType::Lex => {
            Parsed::Lex(LexRange::parse(&args[minidx], &args[maxidx]).ok_or_else(not_lex_range)?)
        }
        _ => Parsed::Rank(long(&args[minidx])?, long(&args[maxidx])?),
    };
    let items = match zset_read(ctx, &key)? {
        None => Vec::new(),
        Some(z) => match &parsed {
            Parsed::Rank(s, e) => match clamp_ranks(*s, *e, z.len()) {
                Some((s, e)) => z.range_by_rank(s, e, rev),
                None => Vec::new(),
            },
            Parsed::Score(r) => z.range_by_score(r, rev, offset, limit),
            Parsed::Lex(r) => z.range_by_lex(r, rev, offset, limit),
        },
    };
    if store {
        let dst = args[1].clone();
        store_result(ctx, &dst, items, "zrangestore");
    } else {
        reply_elements(ctx.reply, &items, withscores);
    }
    Ok(())
}

/// ZRANGE key start stop [BYSCORE|BYLEX] [REV] [LIMIT offset count] [WITHSCORES]
fn zrange(ctx: &mut Ctx) -> CmdResult {
    zrange_generic(ctx, 1, false, RangeType::Auto, None)
}

/// ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]
fn zrangestore(ctx: &mut Ctx) -> CmdResult {
    zrange_generic(ctx, 2, true, RangeType::Auto, None)
}

/// ZREVRANGE key start stop [WITHSCORES]
fn zrevrange(ctx: &mut Ctx) -> CmdResult {
    zrange_generic(ctx, 1, false, RangeType::Rank, Some(true))
}

/// ZRANGEBYSCORE key min max [WITHSCORES] [LIMIT offset count]
fn zrangebyscore(ctx: &mut Ctx) -> CmdResult {
    zrange_generic(ctx, 1, false, RangeType::Score, Some(false))
}

/// ZREVRANGEBYSCORE key max min [WITHSCORES] [LIMIT offset count]
fn zrevrangebyscore(ctx: &mut Ctx) -> CmdResult {
    zrange_generic(ctx, 1, false, RangeType::Score, Some(true))
}

/// ZRANGEBYLEX key min max [LIMIT offset count]
fn zrangebylex(ctx: &mut Ctx) -> CmdResult {
    zrange_generic(ctx, 1, false, RangeType::Lex, Some(false))
}

/// ZREVRANGEBYLEX key max min [LIMIT offset count]
fn zrevrangebylex(ctx: &mut Ctx) -> CmdResult {
    zrange_generic(ctx, 1, false, RangeType::Lex, Some(true))
}

// ---------------------------------------------------------------------------
// ZREMRANGEBY*
// ---------------------------------------------------------------------------

fn zremrange_generic(ctx: &mut Ctx, rt: RangeType) -> CmdResult {
    let key = ctx.arg(1).clone();
    enum Parsed {
        Rank(i64, i64),
        Score(ScoreRange),
        Lex(LexRange),
    }
    let parsed = match rt {
        RangeType::Score => {
            Parsed::Score(ScoreRange::parse(ctx.arg(2), ctx.arg(3)).ok_or_else(not_float_range)?)
        }
        RangeType::Lex => {
            Parsed::Lex(LexRange::parse(ctx.arg(2), ctx.arg(3)).ok_or_else(not_lex_range)?)
        }
        _ => Parsed::Rank(long(ctx.arg(2))?, long(ctx.arg(3))?),
    };
    let Some(z) = zset_write(ctx, &key)? else {
        ctx.reply.int(0);
        return Ok(());
    };
    let deleted = match &parsed {
        Parsed::Rank(s, e) => match clamp_ranks(*s, *e, z.len()) {
            Some((s, e)) => z.remove_range_by_rank(s, e),
            None => 0,
        },
        Parsed::Score(r) => z.remove_range_by_score(r),
        Parsed::Lex(r) => z.remove_range_by_lex(r),
    };
    let removed = delete_if_empty(ctx, &key);
    if deleted > 0 {
        ctx.signal_modified(&key);
        let event = match rt {
            RangeType::Score => "zremrangebyscore",
            RangeType::Lex => "zremrangebylex",
            _ => "zremrangebyrank",
        };
        ctx.notify('z', event, &key);
        if removed {
            ctx.notify('g', "del", &key);
        }
    }
    ctx.add_dirty(deleted as u64);
    ctx.reply.int(deleted as i64);
    Ok(())
}

/// ZREMRANGEBYRANK key start stop
fn zremrangebyrank(ctx: &mut Ctx) -> CmdResult {
    zremrange_generic(ctx, RangeType::Rank)
}

/// ZREMRANGEBYSCORE key min max
fn zremrangebyscore(ctx: &mut Ctx) -> CmdResult {
    zremrange_generic(ctx, RangeType::Score)
}

/// ZREMRANGEBYLEX key min max
fn zremrangebylex(ctx: &mut Ctx) -> CmdResult {
    zremrange_generic(ctx, RangeType::Lex)
}

// ---------------------------------------------------------------------------
// Pops
// ---------------------------------------------------------------------------

/// Pops from the sorted set at `key` (known to exist) and replies, as
/// Redis's genericZpopCommand once a candidate key is found.
/// `count` -1 means a plain single pop.
fn pop_and_reply(ctx: &mut Ctx, key: &Bytes, max: bool, count: i64, emitkey: bool, nested: bool) {
    let n = if count == -1 { 1 } else { count as usize };
    let popped = match zset_write(ctx, key) {
        Ok(Some(z)) => z.pop(max, n),
        _ => Vec::new(),
    };
    let r = &mut *ctx.reply;
    match (nested, emitkey) {
        (false, false) => r.array(popped.len() * 2),
        (true, false) => r.array(popped.len()),
        (false, true) => {
            r.array(popped.len() * 2 + 1);
            r.bulk(key);
        }
        (true, true) => {
            r.array(2);
            r.bulk(key);
            r.array(popped.len());
        }
    }
    for (m, s) in &popped {
        if nested {
            r.array(2);
        }
        r.bulk(m);
        r.double(*s);
    }
    if !popped.is_empty() {
        // Blocking and multi-key pops are propagated as ZPOPMIN/ZPOPMAX.
        let name = if max {
            Bytes::from_static(b"ZPOPMAX")
        } else {
            Bytes::from_static(b"ZPOPMIN")
        };
        match ctx.cmd.name {
            "bzpopmin" | "bzpopmax" => ctx.propagate_rewrite(vec![name, key.clone()]),
            "zmpop" | "bzmpop" => {
                ctx.propagate_rewrite(vec![name, key.clone(), crate::propagate::int_arg(n as i64)])
            }
            _ => {}
        }
        ctx.notify('z', if max { "zpopmax" } else { "zpopmin" }, key);
        ctx.signal_modified(key);
        ctx.add_dirty(popped.len() as u64);
    }
    if delete_if_empty(ctx, key) {
        ctx.notify('g', "del", key);
    }
}

/// genericZpopCommand: finds the first non-empty key among `keys`.
fn zpop_generic(
    ctx: &mut Ctx,
    keys: &[Bytes],
    max: bool,
    emitkey: bool,
    count: i64,
    nested: bool,
    nil_when_empty: bool,
) -> CmdResult {
    let mut found = None;
    for k in keys {
        if zset_write(ctx, k)?.is_some() {
            found = Some(k.clone());
            break;
        }
    }
    let Some(key) = found else {
        if nil_when_empty {
            ctx.reply.null_array();
        } else {
            ctx.reply.array(0);
        }
        return Ok(());
    };
    if count == 0 {
        ctx.reply.array(0);
        return Ok(());
    }
    pop_and_reply(ctx, &key, max, count, emitkey, nested);
    Ok(())
}

fn zpop_minmax(ctx: &mut Ctx, max: bool) -> CmdResult {
    if ctx.args.len() > 3 {
        return Err(Error::Syntax);
    }
    let count = if ctx.args.len() == 3 {
        positive_long(ctx.arg(2))?
    } else {
        -1
    };
    let nested = ctx.reply.resp3 && count != -1;
    let keys = [ctx.arg(1).clone()];
    zpop_generic(ctx, &keys, max, false, count, nested, false)
}

/// ZPOPMIN key [count]
fn zpopmin(ctx: &mut Ctx) -> CmdResult {
    zpop_minmax(ctx, false)
}

/// ZPOPMAX key [count]
fn zpopmax(ctx: &mut Ctx) -> CmdResult {
    zpop_minmax(ctx, true)
}

/// blockingGenericZpopCommand.
fn blocking_zpop(
    ctx: &mut Ctx,
    keys: Vec<Bytes>,
    max: bool,
    timeout_idx: usize,
    count: i64,
    nested: bool,
) -> CmdResult {
    let deadline = parse_timeout(ctx.arg(timeout_idx), ctx.now_ms)?;
    for k in &keys {
        let Some(z) = zset_write(ctx, k)? else {
            continue;
        };
        if z.is_empty() {
            continue;
        }
        let k = k.clone();
        pop_and_reply(ctx, &k, max, count, true, nested);
        return Ok(());
    }
    block_on_keys(ctx, &keys, deadline, TimeoutReply::NullArray);
    Ok(())
}

fn bzpop_minmax(ctx: &mut Ctx, max: bool) -> CmdResult {
    let n = ctx.args.len();
    let keys = ctx.args[1..n - 1].to_vec();
    blocking_zpop(ctx, keys, max, n - 1, -1, false)
}

/// BZPOPMIN key [key ...] timeout
fn bzpopmin(ctx: &mut Ctx) -> CmdResult {
    bzpop_minmax(ctx, false)
}

/// BZPOPMAX key [key ...] timeout
fn bzpopmax(ctx: &mut Ctx) -> CmdResult {
    bzpop_minmax(ctx, true)
}

/// zmpopGenericCommand.
fn zmpop_generic(ctx: &mut Ctx, numkeys_idx: usize, block: bool) -> CmdResult {
    let args = ctx.args;
    let numkeys_err = || Error::err("numkeys should be greater than 0");
    let numkeys = parse_i64(&args[numkeys_idx]).ok_or_else(numkeys_err)?;
    if numkeys < 1 {
        return Err(numkeys_err());
    }
    let where_idx = (numkeys_idx as u64).saturating_add(numkeys as u64) + 1;
    if where_idx >= args.len() as u64 {
        return Err(Error::Syntax);
    }
    let where_idx = where_idx as usize;
    let max = if is(&args[where_idx], "min") {
        false
    } else if is(&args[where_idx], "max") {
        true
    } else {
        return Err(Error::Syntax);
    };
    let mut count: i64 = -1;
    let mut j = where_idx + 1;
    while j < args.len() {
        let more = args.len() - 1 - j;
        if count == -1 && is(&args[j], "count") && more > 0 {
            j += 1;
            let c_err = || Error::err("count should be greater than 0");
            let c = parse_i64(&args[j]).ok_or_else(c_err)?;
            if c < 1 {
                return Err(c_err());
            }
            count = c;
        } else {
            return Err(Error::Syntax);
        }
        j += 1;
    }
    if count == -1 {
        count = 1;
    }
    let keys = args[numkeys_idx + 1..where_idx].to_vec();
    if block {
        blocking_zpop(ctx, keys, max, 1, count, true)
    } else {
        zpop_generic(ctx, &keys, max, true, count, true, true)
    }
}

/// ZMPOP numkeys key [key ...] MIN|MAX [COUNT count]
fn zmpop(ctx: &mut Ctx) -> CmdResult {
    zmpop_generic(ctx, 1, false)
}

/// BZMPOP timeout numkeys key [key ...] MIN|MAX [COUNT count]
fn bzmpop(ctx: &mut Ctx) -> CmdResult {
    zmpop_generic(ctx, 2, true)
}

// ---------------------------------------------------------------------------
// ZUNION / ZINTER / ZDIFF (+STORE), ZINTERCARD
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

fn aggregate(target: &mut f64, val: f64, agg: Aggregate) {
    match agg {
        Aggregate::Sum => {
            *target += val;
            if target.is_nan() {
                *target = 0.0;
            }
        }
        Aggregate::Min => {
            if val < *target {
                *target = val;
            }
        }
        Aggregate::Max => {
            if val > *target {
                *target = val;
            }
        }
    }
}

fn sort_items(items: &mut [(Bytes, f64)]) {
    items.sort_by(|a, b| {
        a.1.partial_cmp(&b.1)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.0.cmp(&b.0))
    });
}

/// zunionInterDiffGenericCommand.
fn set_op_generic(
    ctx: &mut Ctx,
    dst: Option<Bytes>,
    numkeys_idx: usize,
    op: SetOp,
    card_only: bool,
) -> CmdResult {
    let args = ctx.args;
    let setnum = long(&args[numkeys_idx])?;
    if setnum < 1 {
        return Err(Error::err(format!(
            "at least 1 input key is needed for '{}' command",
            ctx.cmd.name
        )));
    }
    if setnum as u64 > (args.len() - numkeys_idx - 1) as u64 {
        return Err(Error::Syntax);
    }
    let setnum = setnum as usize;
    let first = numkeys_idx + 1;
    let keys = &args[first..first + setnum];
    for k in keys {
        let e = if dst.is_some() {
            ctx.lookup_write(k)
        } else {
            ctx.lookup_read(k)
        };
        if let Some(e) = e {
            if !matches!(e.value, Value::ZSet(_) | Value::Set(_)) {
                return Err(Error::WrongType);
            }
        }
    }
    let mut weights = vec![1.0f64; setnum];
    let mut agg = Aggregate::Sum;
    let mut withscores = false;
    let mut limit: i64 = 0;
    let mut j = first + setnum;
    while j < args.len() {
        let remaining = args.len() - j;
        let a = &args[j];
        if op != SetOp::Diff && !card_only && remaining > setnum && is(a, "weights") {
            j += 1;
            for w in weights.iter_mut() {
                *w = parse_score(&args[j])
                    .ok_or_else(|| Error::err("weight value is not a float"))?;
                j += 1;
            }
        } else if op != SetOp::Diff && !card_only && remaining >= 2 && is(a, "aggregate") {
            let v = &args[j + 1];
            agg = if is(v, "sum") {
                Aggregate::Sum
            } else if is(v, "min") {
                Aggregate::Min
            } else if is(v, "max") {
                Aggregate::Max
            } else {
                return Err(Error::Syntax);
            };
            j += 2;
        } else if dst.is_none() && !card_only && is(a, "withscores") {
            withscores = true;
            j += 1;
        } else if card_only && remaining >= 2 && is(a, "limit") {
            limit = match parse_i64(&args[j + 1]) {
                Some(v) if v >= 0 => v,
                _ => return Err(Error::err("LIMIT can't be negative")),
            };
            j += 2;
        } else {
            return Err(Error::Syntax);
        }
    }

    // Gather the inputs (already looked up: expired keys are gone).
    let db = &*ctx.db();
    let mut srcs: Vec<(Src, f64)> = keys
        .iter()
        .zip(weights.iter())
        .map(|(k, &w)| {
            let s = match db.peek(k).map(|e| &e.value) {
                Some(Value::ZSet(z)) => Src::Z(z),
                Some(Value::Set(s)) => Src::S(s),
                _ => Src::Missing,
            };
            (s, w)
        })
        .collect();
    if op != SetOp::Diff {
        srcs.sort_by_key(|(s, _)| s.len());
    }
    let mut cardinality = 0i64;
    let mut result: Vec<(Bytes, f64)> = Vec::new();
    match op {
        SetOp::Inter => {
            if srcs[0].0.len() > 0 {
                for (m, s0) in srcs[0].0.items() {
                    let mut score = srcs[0].1 * s0;
                    if score.is_nan() {
                        score = 0.0;
                    }
                    let mut all = true;
                    for (src, w) in &srcs[1..] {
                        match src.find(&m) {
                            Some(v) => aggregate(&mut score, v * w, agg),
                            None => {
                                all = false;
                                break;
                            }
                        }
                    }
                    if !all {
                        continue;
                    }
                    if card_only {
                        cardinality += 1;
                        if limit > 0 && cardinality >= limit {
                            break;
                        }
                    } else {
                        result.push((m, score));
                    }
                }
            }
        }
        SetOp::Union => {
            let mut acc: std::collections::HashMap<Bytes, f64> = std::collections::HashMap::new();
            for (src, w) in &srcs {
                for (m, s) in src.items() {
                    let mut score = w * s;
                    if score.is_nan() {
                        score = 0.0;
                    }
                    match acc.get_mut(&m) {
                        Some(t) => aggregate(t, score, agg),
                        None => {
                            acc.insert(m, score);
                        }
                    }
                }
            }
            result = acc.into_iter().collect();
        }
        SetOp::Diff => {
            for (m, s) in srcs[0].0.items() {
                if srcs[1..].iter().all(|(src, _)| src.find(&m).is_none()) {
                    result.push((m, s));
                }
            }
        }
    }
    sort_items(&mut result);

    if let Some(dst) = dst {
        let event = match op {
            SetOp::Union => "zunionstore",
            SetOp::Inter => "zinterstore",
            SetOp::Diff => "zdiffstore",
        };
        store_result(ctx, &dst, result, event);
    } else if card_only {
        ctx.reply.int(cardinality);
    } else {
        reply_elements(ctx.reply, &result, withscores);
    }
    Ok(())
}

/// ZUNION numkeys key [key ...] [WEIGHTS weight ...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]
fn zunion(ctx: &mut Ctx) -> CmdResult {
    set_op_generic(ctx, None, 1, SetOp::Union, false)
}

/// ZINTER numkeys key [key ...] [WEIGHTS weight ...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]
fn zinter(ctx: &mut Ctx) -> CmdResult {
    set_op_generic(ctx, None, 1, SetOp::Inter, false)
}

/// ZDIFF numkeys key [key ...] [WITHSCORES]
fn zdiff(ctx: &mut Ctx) -> CmdResult {
    set_op_generic(ctx, None, 1, SetOp::Diff, false)
}

/// ZUNIONSTORE destination numkeys key [key ...] [WEIGHTS weight ...] [AGGREGATE SUM|MIN|MAX]
fn zunionstore(ctx: &mut Ctx) -> CmdResult {
    let dst = ctx.arg(1).clone();
    set_op_generic(ctx, Some(dst), 2, SetOp::Union, false)
}

/// ZINTERSTORE destination numkeys key [key ...] [WEIGHTS weight ...] [AGGREGATE SUM|MIN|MAX]
fn zinterstore(ctx: &mut Ctx) -> CmdResult {
    let dst = ctx.arg(1).clone();
    set_op_generic(ctx, Some(dst), 2, SetOp::Inter, false)
}

/// ZDIFFSTORE destination numkeys key [key ...]
fn zdiffstore(ctx: &mut Ctx) -> CmdResult {
    let dst = ctx.arg(1).clone();
    set_op_generic(ctx, Some(dst), 2, SetOp::Diff, false)
}

/// ZINTERCARD numkeys key [key ...] [LIMIT limit]
fn zintercard(ctx: &mut Ctx) -> CmdResult {
    set_op_generic(ctx, None, 1, SetOp::Inter, true)
}

// ---------------------------------------------------------------------------
// ZRANDMEMBER, ZSCAN
// ---------------------------------------------------------------------------

/// Largest number of elements a negative ZRANDMEMBER count may ask for.
const MAX_RANDMEMBER_REPEATS: i64 = 100_000_000;

/// ZRANDMEMBER key [count [WITHSCORES]]
fn zrandmember(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.arg(1).clone();
    if ctx.args.len() == 2 {
        match zset_read(ctx, &key)?.and_then(|z| z.random(&mut rand::rng())) {
            Some((m, _)) => ctx.reply.bulk(&m),
            None => ctx.reply.null(),
        }
        return Ok(());
    }
    let l = long(ctx.arg(2))?;
    if l == i64::MIN {
        return Err(Error::err(
            "value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    let withscores = match ctx.args.len() {
        3 => false,
        4 if is(ctx.arg(3), "withscores") => {
            if !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&l) {
                return Err(Error::err("value is out of range"));
            }
            true
        }
        _ => return Err(Error::Syntax),
    };
    let resp3 = ctx.reply.resp3;
    let Some(z) = zset_read(ctx, &key)? else {
        ctx.reply.array(0);
        return Ok(());
    };
    // Redis 7.0 would try to build any reply a negative count asks for
    // (and hang or run out of memory); refuse absurd sizes instead.
    if l < -MAX_RANDMEMBER_REPEATS {
        return Err(Error::err("value is out of range"));
    }
    let size = z.len();
    let mut rng = rand::rng();
    let items: Vec<(Bytes, f64)> = if l == 0 {
        Vec::new()
    } else if l < 0 || l == 1 {
        let n = l.unsigned_abs() as usize;
        let mut v = Vec::with_capacity(n.min(1 << 20));
        for _ in 0..n {
            if let Some(e) = z.random(&mut rng) {
                v.push(e);
            }
        }
        v
    } else if l as u64 >= size as u64 {
        // The whole set, walked from the tail as Redis's zui iterator does.
        let mut v: Vec<(Bytes, f64)> = z.iter().map(|(m, s)| (m.clone(), s)).collect();
        v.reverse();
        v
    } else {
        let n = l as usize;
        if n * 3 > size {
            // Most of the set: a partial shuffle of all of it.
            let mut all: Vec<(Bytes, f64)> = z.iter().map(|(m, s)| (m.clone(), s)).collect();
            for i in 0..n {
                let j = rng.random_range(i..size);
                all.swap(i, j);
            }
            all.truncate(n);
            all
        } else {
            distinct_random(z, n, &mut rng)
        }
    };
    write_random_reply(ctx.reply, &items, withscores, resp3);
    Ok(())
}

/// `n` distinct random elements (n well below the set's size), by rank.
fn distinct_random(z: &ZSet, n: usize, rng: &mut impl Rng) -> Vec<(Bytes, f64)> {
    let size = z.len();
    let mut picked = std::collections::HashSet::with_capacity(n);
    let mut v = Vec::with_capacity(n);
    while v.len() < n {
        let r = rng.random_range(0..size);
        if picked.insert(r) {
            if let Some(e) = z.get_by_rank(r) {
                v.push(e);
            }
        }
    }
    v
}

fn write_random_reply(r: &mut Reply, items: &[(Bytes, f64)], withscores: bool, resp3: bool) {
    if withscores && !resp3 {
        r.array(items.len() * 2);
    } else {
        r.array(items.len());
    }
    for (m, s) in items {
        if withscores && resp3 {
            r.array(2);
        }
        r.bulk(m);
        if withscores {
            r.double(*s);
        }
    }
}

/// `parseScanCursorOrReply` (C strtoul, whole string, no leading space).
fn parse_cursor(b: &[u8]) -> Option<u64> {
    if b.is_empty() {
        return Some(0);
    }
    if b[0].is_ascii_whitespace() || b[0] == 0x0b {
        return None;
    }
    let (neg, digits) = match b[0] {
        b'-' => (true, &b[1..]),
        b'+' => (false, &b[1..]),
        _ => (false, b),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

/// ZSCAN key cursor [MATCH pattern] [COUNT count]
fn zscan(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.arg(1).clone();
    let cursor = parse_cursor(ctx.arg(2)).ok_or_else(|| Error::err("invalid cursor"))?;
    let args = ctx.args;
    if zset_read(ctx, &key)?.is_none() {
        ctx.reply.array(2);
        ctx.reply.bulk(b"0");
        ctx.reply.array(0);
        return Ok(());
    }
    let mut count: i64 = 10;
    let mut pattern: Option<Bytes> = None;
    let mut i = 3;
    while i < args.len() {
        let left = args.len() - i;
        if is(&args[i], "count") && left >= 2 {
            count = long(&args[i + 1])?;
            if count < 1 {
                return Err(Error::Syntax);
            }
            i += 2;
        } else if is(&args[i], "match") && left >= 2 {
            let p = args[i + 1].clone();
            pattern = if &p[..] == b"*" { None } else { Some(p) };
            i += 2;
        } else {
            return Err(Error::Syntax);
        }
    }
    let mut items: Vec<(Bytes, f64)> = Vec::new();
    // Already looked up (and counted) above: no second hit.
    let now = ctx.now_ms;
    let entry = ctx
        .db()
        .get_mut(&key, now, strata_storage::keyspace::Touch::No);
    let next = match entry.map(|e| &e.value) {
        Some(Value::ZSet(z)) => z.scan(cursor, count as usize, |m, s| {
            let keep = match &pattern {
                Some(p) => strata_storage::glob::glob_match(p, m, false),
                None => true,
            };
            if keep {
                items.push((m.clone(), s));
            }
        }),
        _ => 0,
    };
    let r = &mut *ctx.reply;
    r.array(2);
    r.bulk(itoa::Buffer::new().format(next).as_bytes());
    r.array(items.len() * 2);
    for (m, s) in &items {
        r.bulk(m);
        r.bulk(strata_storage::num::format_double(*s).as_bytes());
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Key positions and the table
// ---------------------------------------------------------------------------

/// Keys of a numkeys-style command: `numkeys` at `at`, keys right after,
/// plus an optional destination first.
fn numkeys_positions(args: &[Bytes], at: usize, dest: Option<usize>) -> Vec<usize> {
    let mut out: Vec<usize> = dest.into_iter().filter(|d| *d < args.len()).collect();
    if let Some(n) = args.get(at).and_then(|a| parse_i64(a)) {
        let first = at + 1;
        if n >= 1 && (n as u64) <= args.len().saturating_sub(first) as u64 {
            out.extend(first..first + n as usize);
        }
    }
    out
}

fn keys_numkeys_at1(args: &[Bytes]) -> Vec<usize> {
    numkeys_positions(args, 1, None)
}

fn keys_store(args: &[Bytes]) -> Vec<usize> {
    numkeys_positions(args, 2, Some(1))
}

fn keys_bzmpop(args: &[Bytes]) -> Vec<usize> {
    numkeys_positions(args, 2, None)
}

const NUMKEYS1: Keys = Keys::Custom {
    legacy: (0, 0, 0),
    find: keys_numkeys_at1,
};
const STORE: Keys = Keys::Custom {
    legacy: (1, 1, 1),
    find: keys_store,
};
const BZMPOP_KEYS: Keys = Keys::Custom {
    legacy: (0, 0, 0),
    find: keys_bzmpop,
};

const W: Flags = Flags::WRITE;
const R: Flags = Flags::READONLY;
const F: Flags = Flags::FAST;
const DOOM: Flags = Flags::DENYOOM;
const G: &str = "sorted-set";

#[rustfmt::skip]
pub static TABLE: &[CommandSpec] = &[
    CommandSpec::new("zadd", -4, W.or(DOOM).or(F), Keys::one(), zadd).doc(G, "1.2.0", "Adds one or more members to a sorted set, or updates their scores. Creates the key if it doesn't exist."),
    CommandSpec::new("zincrby", 4, W.or(DOOM).or(F), Keys::one(), zincrby).doc(G, "1.2.0", "Increments the score of a member in a sorted set."),
    CommandSpec::new("zrem", -3, W.or(F), Keys::one(), zrem).doc(G, "1.2.0", "Removes one or more members from a sorted set. Deletes the sorted set if all members were removed."),
    CommandSpec::new("zcard", 2, R.or(F), Keys::one(), zcard).doc(G, "1.2.0", "Returns the number of members in a sorted set."),
    CommandSpec::new("zcount", 4, R.or(F), Keys::one(), zcount).doc(G, "2.0.0", "Returns the count of members in a sorted set that have scores within a range."),
    CommandSpec::new("zlexcount", 4, R.or(F), Keys::one(), zlexcount).doc(G, "2.8.9", "Returns the number of members in a sorted set within a lexicographical range."),
    CommandSpec::new("zscore", 3, R.or(F), Keys::one(), zscore).doc(G, "1.2.0", "Returns the score of a member in a sorted set."),
    CommandSpec::new("zmscore", -3, R.or(F), Keys::one(), zmscore).doc(G, "6.2.0", "Returns the score of one or more members in a sorted set."),
    CommandSpec::new("zrank", 3, R.or(F), Keys::one(), zrank).doc(G, "2.0.0", "Returns the index of a member in a sorted set ordered by ascending scores."),
    CommandSpec::new("zrevrank", 3, R.or(F), Keys::one(), zrevrank).doc(G, "2.0.0", "Returns the index of a member in a sorted set ordered by descending scores."),
    CommandSpec::new("zrange", -4, R, Keys::one(), zrange).doc(G, "1.2.0", "Returns members in a sorted set within a range of indexes."),
    CommandSpec::new("zrangebyscore", -4, R, Keys::one(), zrangebyscore).doc(G, "1.0.5", "Returns members in a sorted set within a range of scores."),
    CommandSpec::new("zrevrangebyscore", -4, R, Keys::one(), zrevrangebyscore).doc(G, "2.2.0", "Returns members in a sorted set within a range of scores in reverse order."),
    CommandSpec::new("zrangebylex", -4, R, Keys::one(), zrangebylex).doc(G, "2.8.9", "Returns members in a sorted set within a lexicographical range."),
    CommandSpec::new("zrevrangebylex", -4, R, Keys::one(), zrevrangebylex).doc(G, "2.8.9", "Returns members in a sorted set within a lexicographical range in reverse order."),
    CommandSpec::new("zrevrange", -4, R, Keys::one(), zrevrange).doc(G, "1.2.0", "Returns members in a sorted set within a range of indexes in reverse order."),
    CommandSpec::new("zrangestore", -5, W.or(DOOM), Keys::Range { first: 1, last: 2, step: 1 }, zrangestore).doc(G, "6.2.0", "Stores a range of members from sorted set in a key."),
    CommandSpec::new("zremrangebyrank", 4, W, Keys::one(), zremrangebyrank).doc(G, "2.0.0", "Removes members in a sorted set within a range of indexes. Deletes the sorted set if all members were removed."),
    CommandSpec::new("zremrangebyscore", 4, W, Keys::one(), zremrangebyscore).doc(G, "1.2.0", "Removes members in a sorted set within a range of scores. Deletes the sorted set if all members were removed."),
    CommandSpec::new("zremrangebylex", 4, W, Keys::one(), zremrangebylex).doc(G, "2.8.9", "Removes members in a sorted set within a lexicographical range. Deletes the sorted set if all members were removed."),
    CommandSpec::new("zpopmin", -2, W.or(F), Keys::one(), zpopmin).doc(G, "5.0.0", "Returns the lowest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped."),
    CommandSpec::new("zpopmax", -2, W.or(F), Keys::one(), zpopmax).doc(G, "5.0.0", "Returns the highest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped."),
    CommandSpec::new("zmpop", -4, W, NUMKEYS1, zmpop).doc(G, "7.0.0", "Returns the highest- or lowest-scoring members from one or more sorted sets after removing them. Deletes the sorted set if the last member was popped."),
    CommandSpec::new("bzpopmin", -3, W.or(Flags::NOSCRIPT).or(Flags::BLOCKING).or(F), Keys::Range { first: 1, last: -2, step: 1 }, bzpopmin).doc(G, "5.0.0", "Removes and returns the member with the lowest score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped."),
    CommandSpec::new("bzpopmax", -3, W.or(Flags::NOSCRIPT).or(Flags::BLOCKING).or(F), Keys::Range { first: 1, last: -2, step: 1 }, bzpopmax).doc(G, "5.0.0", "Removes and returns the member with the highest score from one or more sorted sets. Blocks until a member available otherwise.  Deletes the sorted set if the last element was popped."),
    CommandSpec::new("bzmpop", -5, W.or(Flags::BLOCKING), BZMPOP_KEYS, bzmpop).doc(G, "7.0.0", "Removes and returns a member by score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped."),
    CommandSpec::new("zunion", -3, R, NUMKEYS1, zunion).doc(G, "6.2.0", "Returns the union of multiple sorted sets."),
    CommandSpec::new("zinter", -3, R, NUMKEYS1, zinter).doc(G, "6.2.0", "Returns the intersect of multiple sorted sets."),
    CommandSpec::new("zdiff", -3, R, NUMKEYS1, zdiff).doc(G, "6.2.0", "Returns the difference between multiple sorted sets."),
    CommandSpec::new("zunionstore", -4, W.or(DOOM), STORE, zunionstore).doc(G, "2.0.0", "Stores the union of multiple sorted sets in a key."),
    CommandSpec::new("zinterstore", -4, W.or(DOOM), STORE, zinterstore).doc(G, "2.0.0", "Stores the intersect of multiple sorted sets in a key."),
    CommandSpec::new("zdiffstore", -4, W.or(DOOM), STORE, zdiffstore).doc(G, "6.2.0", "Stores the difference of multiple sorted sets in a key."),
    CommandSpec::new("zintercard", -3, R, NUMKEYS1, zintercard).doc(G, "7.0.0", "Returns the number of members of the intersect of multiple sorted sets."),
    CommandSpec::new("zrandmember", -2, R, Keys::one(), zrandmember).doc(G, "6.2.0", "Returns one or more random members from a sorted set."),
    CommandSpec::new("zscan", -3, R, Keys::one(), zscan).doc(G, "2.8.0", "Iterates over members and scores of a sorted set."),
];

#[cfg(test)]
mod tests {
    use crate::client::Client;
    use crate::command::dispatch;
    use crate::config::Config;
    use crate::reply::Reply;
    use crate::server::State;

    /// Runs `line` in RESP3 and returns the raw reply bytes.
    fn run3(state: &mut State, client: &mut Client, line: &str) -> String {
        let args: Vec<bytes::Bytes> = line
            .split_whitespace()
            .map(|a| bytes::Bytes::copy_from_slice(a.as_bytes()))
            .collect();
        let mut reply = Reply::new(true);
        dispatch(state, client, &mut reply, &args, 1_000_000);
        String::from_utf8_lossy(&reply.buf).into_owned()
    }

    /// Reply bytes captured from redis-server 7.0.15 after HELLO 3.
    #[test]
    fn resp3_shapes_match_redis_7_0() {
        let mut state = State::new(Config::new());
        let mut client = Client::new(1, "a".into(), "b".into(), 0, true);
        client.resp3 = true;
        let mut t = |line: &str| run3(&mut state, &mut client, line);
        assert_eq!(t("ZADD t 1.5 a 2 b -0 c"), ":3\r\n");
        assert_eq!(
            t("ZRANGE t 0 -1 WITHSCORES"),
            "*3\r\n*2\r\n$1\r\nc\r\n,0\r\n*2\r\n$1\r\na\r\n,1.5\r\n*2\r\n$1\r\nb\r\n,2\r\n"
        );
        assert_eq!(t("ZSCORE t a"), ",1.5\r\n");
        assert_eq!(t("ZPOPMIN t 1"), "*1\r\n*2\r\n$1\r\nc\r\n,0\r\n");
        assert_eq!(t("ZPOPMIN t"), "*2\r\n$1\r\na\r\n,1.5\r\n");
        assert_eq!(
            t("ZRANDMEMBER t 5 WITHSCORES"),
            "*1\r\n*2\r\n$1\r\nb\r\n,2\r\n"
        );
        assert_eq!(t("ZUNION 1 t WITHSCORES"), "*1\r\n*2\r\n$1\r\nb\r\n,2\r\n");
        assert_eq!(t("BZPOPMIN t 0"), "*3\r\n$1\r\nt\r\n$1\r\nb\r\n,2\r\n");
        assert_eq!(t("ZADD t 1 q 2 r"), ":2\r\n");
        assert_eq!(
            t("ZMPOP 1 t MIN"),
            "*2\r\n$1\r\nt\r\n*1\r\n*2\r\n$1\r\nq\r\n,1\r\n"
        );
        assert_eq!(
            t("ZSCAN t 0"),
            "*2\r\n$1\r\n0\r\n*2\r\n$1\r\nr\r\n$1\r\n2\r\n"
        );
        assert_eq!(t("ZMSCORE t q z"), "*2\r\n_\r\n_\r\n");
        assert_eq!(t("ZRANK t zz"), "_\r\n");
        assert_eq!(t("ZADD t inf i"), ":1\r\n");
        assert_eq!(t("ZSCORE t i"), ",inf\r\n");
        assert_eq!(
            t("ZRANGEBYSCORE t -inf +inf WITHSCORES"),
            "*2\r\n*2\r\n$1\r\nr\r\n,2\r\n*2\r\n$1\r\ni\r\n,inf\r\n"
        );
        assert_eq!(t("ZADD t INCR 1 r"), ",3\r\n");
        assert_eq!(t("ZPOPMIN nokey"), "*0\r\n");
        assert_eq!(t("ZMPOP 1 nokey MIN"), "_\r\n");
        assert_eq!(t("ZRANDMEMBER nokey"), "_\r\n");
        assert_eq!(t("ZPOPMIN t 0"), "*0\r\n");
    }
}
