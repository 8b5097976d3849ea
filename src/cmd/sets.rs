//! Set commands: SADD, SREM, SPOP, SINTER, SUNION, SDIFF, SSCAN and the
//! rest of the Redis 7.0 set family.

use bytes::Bytes;
use strata_storage::glob::glob_match;
use strata_storage::set::{Elem, Set};
use strata_storage::value::Value;

use crate::args;
use crate::cmd::hashes::{
    lookup, parse_cursor, parse_scan_opts, random_count, reply_elem, reply_scan, MAX_RANDOM_REPEATS,
};
use crate::command::{CommandSpec, Ctx, Flags, Keys};
use crate::error::{CmdResult, Error};
use crate::reply::Reply;

fn max_intset(ctx: &Ctx) -> usize {
    ctx.state.config.hot.encodings.set_max_intset_entries
}

/// The set at `key` (`Ok(None)` if missing, WRONGTYPE if not a set).
fn get_set<'a>(ctx: &'a mut Ctx, key: &[u8], read: bool) -> Result<Option<&'a mut Set>, Error> {
    let (db, now) = (ctx.client.db, ctx.now_ms);
    match lookup(ctx.state, db, key, now, read) {
        None => Ok(None),
        Some(e) => match &mut e.value {
            Value::Set(s) => Ok(Some(s)),
            _ => Err(Error::WrongType),
        },
    }
}

/// Same as [`get_set`] but leaves `ctx.reply` usable.
fn get_set_split<'a>(
    state: &'a mut crate::server::State,
    db: usize,
    now: i64,
    key: &[u8],
    read: bool,
) -> Result<Option<&'a mut Set>, Error> {
    match lookup(state, db, key, now, read) {
        None => Ok(None),
        Some(e) => match &mut e.value {
            Value::Set(s) => Ok(Some(s)),
            _ => Err(Error::WrongType),
        },
    }
}

/// SADD key member [member ...]
fn sadd(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.arg(1).clone();
    let max = max_intset(ctx);
    let args = ctx.args;
    let now = ctx.now_ms;
    if get_set(ctx, &key, false)?.is_none() {
        ctx.db().set(
            Bytes::copy_from_slice(&key),
            Value::Set(Set::new_for(&args[2])),
            now,
        );
    }
    let Some(set) = get_set(ctx, &key, false)? else {
        return Err(Error::WrongType);
    };
    let mut added = 0;
    for m in &args[2..] {
        if set.add(m, max) {
            added += 1;
        }
    }
    if added > 0 {
        ctx.signal_modified(&key);
        ctx.notify('s', "sadd", &key);
    }
    ctx.add_dirty(added as u64);
    ctx.reply.int(added);
    Ok(())
}

/// SREM key member [member ...]
fn srem(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.arg(1).clone();
    let args = ctx.args;
    let Some(set) = get_set(ctx, &key, false)? else {
        ctx.reply.int(0);
        return Ok(());
    };
    let mut deleted = 0;
    let mut removed = false;
    for m in &args[2..] {
        if set.remove(m) {
            deleted += 1;
            if set.is_empty() {
                removed = true;
                break;
            }
        }
    }
    ctx.after_removal(&key, 's', "srem", deleted as usize, removed);
    ctx.reply.int(deleted);
    Ok(())
}

/// SISMEMBER key member
fn sismember(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.arg(1).clone();
    let args = ctx.args;
    let found = get_set(ctx, &key, true)?.is_some_and(|s| s.contains(&args[2]));
    ctx.reply.int(i64::from(found));
    Ok(())
}

/// SMISMEMBER key member [member ...]
fn smismember(ctx: &mut Ctx) -> CmdResult {
    let (db, now) = (ctx.client.db, ctx.now_ms);
    let reply = &mut *ctx.reply;
    let set = get_set_split(ctx.state, db, now, &ctx.args[1], true)?;
    let members = &ctx.args[2..];
    reply.array(members.len());
    for m in members {
        reply.int(i64::from(set.as_ref().is_some_and(|s| s.contains(m))));
    }
    Ok(())
}

/// SCARD key
fn scard(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.arg(1).clone();
    let n = get_set(ctx, &key, true)?.map_or(0, |s| s.len());
    ctx.reply.int(n as i64);
    Ok(())
}

/// Writes every member of `set` as a RESP3 set / RESP2 array.
fn reply_members(reply: &mut Reply, set: &Set) {
    reply.set(set.len());
    for e in set.iter() {
        reply_elem(reply, e);
    }
}

/// Parses a count as `getPositiveLongFromObjectOrReply`.
fn positive_count(arg: &[u8]) -> Result<u64, Error> {
    let bad = || Error::err("value is out of range, must be positive");
    let l = args::int(arg).map_err(|_| bad())?;
    if l < 0 {
        return Err(bad());
    }
    Ok(l as u64)
}

/// SPOP key [count]
fn spop(ctx: &mut Ctx) -> CmdResult {
    match ctx.args.len() {
        2 => {}
        3 => return spop_count(ctx),
        _ => return Err(Error::Syntax),
    }
    let key = ctx.arg(1).clone();
    let Some(set) = get_set(ctx, &key, false)? else {
        ctx.reply.null();
        return Ok(());
    };
    let Some(member) = set.pop_random(&mut rand::rng()) else {
        ctx.reply.null();
        return Ok(());
    };
    let empty = set.is_empty();
    // Propagated as SREM of the popped member.
    ctx.propagate_rewrite(vec![
        Bytes::from_static(b"SREM"),
        key.clone(),
        member.clone(),
    ]);
    ctx.notify('s', "spop", &key);
    ctx.reply.bulk(&member);
    if empty {
        ctx.db().remove(&key);
        ctx.notify('g', "del", &key);
    }
    ctx.signal_modified(&key);
    ctx.add_dirty(1);
    Ok(())
}

fn spop_count(ctx: &mut Ctx) -> CmdResult {
    let count = positive_count(ctx.arg(2))?;
    let key = ctx.arg(1).clone();
    let max = max_intset(ctx);
    let now = ctx.now_ms;
    let Some(set) = get_set(ctx, &key, false)? else {
        ctx.reply.set(0);
        return Ok(());
    };
    if count == 0 {
        ctx.reply.set(0);
        return Ok(());
    }
    let size = set.len() as u64;
    let mut rng = rand::rng();
    if count >= size {
        // CASE 1: the whole set, as SUNION of it would return it.
        let mut all = Set::new();
        for e in set.iter() {
            all.add(&e.to_vec(), max);
        }
        ctx.notify('s', "spop", &key);
        ctx.add_dirty(size);
        let del = crate::propagate::del_or_unlink(ctx.state, "lazyfree-lazy-server-del");
        ctx.propagate_rewrite(vec![del, key.clone()]);
        reply_members(ctx.reply, &all);
        ctx.db().remove(&key);
        ctx.notify('g', "del", &key);
        ctx.signal_modified(&key);
        return Ok(());
    }
    let remaining = size - count;
    let mut out: Vec<Bytes> = Vec::with_capacity(count as usize);
    if remaining * 5 > count {
        // CASE 2: pop `count` random members.
        for _ in 0..count {
            if let Some(m) = set.pop_random(&mut rng) {
                out.push(m);
            }
        }
    } else {
        // CASE 3: move the `remaining` survivors to a new set and return
        // what is left of the old one.
        let mut newset: Option<Set> = None;
        for _ in 0..remaining {
            if let Some(m) = set.pop_random(&mut rng) {
                let ns = newset.get_or_insert_with(|| Set::new_for(&m));
                ns.add(&m, max);
            }
        }
        out.extend(set.iter().map(|e| e.to_bytes()));
        if let Some(ns) = newset {
            *set = ns;
        }
    }
    ctx.notify('s', "spop", &key);
    ctx.add_dirty(count);
    // One SREM per popped member (in one MULTI/EXEC), not the SPOP.
    if ctx.propagating() {
        for m in &out {
            ctx.also_propagate(vec![Bytes::from_static(b"SREM"), key.clone(), m.clone()]);
        }
    }
    ctx.prevent_propagation();
    ctx.reply.set(out.len());
    for m in &out {
        ctx.reply.bulk(m);
    }
    let _ = now;
    ctx.signal_modified(&key);
    Ok(())
}

/// SRANDMEMBER key [count]
fn srandmember(ctx: &mut Ctx) -> CmdResult {
    match ctx.args.len() {
        2 => {}
        3 => return srandmember_count(ctx),
        _ => return Err(Error::Syntax),
    }
    let (db, now) = (ctx.client.db, ctx.now_ms);
    let reply = &mut *ctx.reply;
    match get_set_split(ctx.state, db, now, &ctx.args[1], true)? {
        None => reply.null(),
        Some(s) => match s.random(&mut rand::rng()) {
            Some(e) => reply_elem(reply, e),
            None => reply.null(),
        },
    }
    Ok(())
}

fn srandmember_count(ctx: &mut Ctx) -> CmdResult {
    let l = random_count(ctx.arg(2))?;
    let (db, now) = (ctx.client.db, ctx.now_ms);
    let reply = &mut *ctx.reply;
    let Some(set) = get_set_split(ctx.state, db, now, &ctx.args[1], true)? else {
        reply.array(0);
        return Ok(());
    };
    let uniq = l >= 0;
    let count = l.unsigned_abs();
    let size = set.len() as u64;
    if count == 0 || size == 0 {
        reply.array(0);
        return Ok(());
    }
    let mut rng = rand::rng();
    // CASE 1: repeats allowed (or one element).
    if !uniq || count == 1 {
        if count > MAX_RANDOM_REPEATS {
            return Err(Error::err("value is out of range"));
        }
        reply.array(count as usize);
        for _ in 0..count {
            if let Some(e) = set.random(&mut rng) {
                reply_elem(reply, e);
            }
        }
        return Ok(());
    }
    // CASE 2: the whole set.
    if count >= size {
        reply.array(size as usize);
        for e in set.iter() {
            reply_elem(reply, e);
        }
        return Ok(());
    }
    let count = count as usize;
    reply.array(count);
    if count * 3 > size as usize || set.is_intset() {
        // CASE 3: distinct positions out of all members.
        let all: Vec<Elem<'_>> = set.iter().collect();
        for i in rand::seq::index::sample(&mut rng, all.len(), count) {
            reply_elem(reply, all[i]);
        }
        return Ok(());
    }
    // CASE 4: big set, few members: sample until enough distinct ones.
    let mut seen: std::collections::HashSet<&[u8]> = std::collections::HashSet::new();
    while seen.len() < count {
        match set.random(&mut rng) {
            Some(Elem::Str(s)) => {
                if seen.insert(s) {
                    reply.bulk(s);
                }
            }
            Some(Elem::Int(_)) => continue,
            None => break,
        }
    }
    Ok(())
}

/// SMOVE source destination member
fn smove(ctx: &mut Ctx) -> CmdResult {
    let src = ctx.arg(1).clone();
    let dst = ctx.arg(2).clone();
    let member = ctx.arg(3).clone();
    let max = max_intset(ctx);
    let now = ctx.now_ms;
    let src_exists = get_set(ctx, &src, false).map(|s| s.is_some());
    let dst_state = get_set(ctx, &dst, false).map(|s| s.is_some());
    match src_exists {
        Ok(false) => {
            ctx.reply.int(0);
            return Ok(());
        }
        Err(e) => return Err(e),
        Ok(true) => {}
    }
    let dst_exists = dst_state?;
    if src == dst {
        let is = get_set(ctx, &src, false)?.is_some_and(|s| s.contains(&member));
        ctx.reply.int(i64::from(is));
        return Ok(());
    }
    let Some(set) = get_set(ctx, &src, false)? else {
        ctx.reply.int(0);
        return Ok(());
    };
    if !set.remove(&member) {
        ctx.reply.int(0);
        return Ok(());
    }
    let empty = set.is_empty();
    ctx.notify('s', "srem", &src);
    if empty {
        ctx.db().remove(&src);
        ctx.notify('g', "del", &src);
    }
    if !dst_exists {
        ctx.db().set(
            Bytes::copy_from_slice(&dst),
            Value::Set(Set::new_for(&member)),
            now,
        );
    }
    ctx.signal_modified(&src);
    ctx.add_dirty(1);
    let added = match get_set(ctx, &dst, false)? {
        Some(d) => d.add(&member, max),
        None => false,
    };
    if added {
        ctx.add_dirty(1);
        ctx.signal_modified(&dst);
        ctx.notify('s', "sadd", &dst);
    }
    ctx.reply.int(1);
    Ok(())
}

/// Looks every source key up (Redis's per-key `lookupKeyRead`/`Write` and
/// type check, in argument order). Returns which ones exist.
fn lookup_sources(ctx: &mut Ctx, keys: &[Bytes], read: bool) -> Result<Vec<bool>, Error> {
    let mut exists = Vec::with_capacity(keys.len());
    for k in keys {
        exists.push(get_set(ctx, k, read)?.is_some());
    }
    Ok(exists)
}

/// Stores `result` at `dst` (or deletes `dst` when empty) and replies with
/// the cardinality, as the *STORE commands do.
fn store_result(ctx: &mut Ctx, dst: &Bytes, result: Set, event: &str) {
    let now = ctx.now_ms;
    if !result.is_empty() {
        let n = result.len();
        ctx.db()
            .set(Bytes::copy_from_slice(dst), Value::Set(result), now);
        ctx.signal_modified(dst);
        ctx.reply.int(n as i64);
        ctx.notify('s', event, dst);
        ctx.add_dirty(1);
    } else {
        ctx.reply.int(0);
        if ctx.db().contains(dst, now) {
            ctx.db().remove(dst);
            ctx.add_dirty(1);
            ctx.signal_modified(dst);
            ctx.notify('g', "del", dst);
        }
    }
}

/// Redis's `sinterGenericCommand`.
fn sinter_generic(
    ctx: &mut Ctx,
    keys: &[Bytes],
    dst: Option<&Bytes>,
    card_only: bool,
    limit: u64,
) -> CmdResult {
    let exists = lookup_sources(ctx, keys, dst.is_none())?;
    if exists.iter().any(|e| !e) {
        if let Some(dst) = dst {
            let now = ctx.now_ms;
            if ctx.db().contains(dst, now) {
                ctx.db().remove(dst);
                ctx.signal_modified(dst);
                ctx.notify('g', "del", dst);
                ctx.add_dirty(1);
            }
            ctx.reply.int(0);
        } else if card_only {
            ctx.reply.int(0);
        } else {
            ctx.reply.set(0);
        }
        return Ok(());
    }
    let max = max_intset(ctx);
    let db = ctx.client.db;
    let reply = &mut *ctx.reply;
    let d = ctx.state.keyspace.db(db);
    let mut sets: Vec<&Set> = Vec::with_capacity(keys.len());
    for k in keys {
        match d.peek(k).map(|e| &e.value) {
            Some(Value::Set(s)) => sets.push(s),
            _ => return Err(Error::WrongType),
        }
    }
    sets.sort_by_key(|s| s.len());
    let mut result = dst.map(|_| Set::new());
    let at = reply.defer();
    let mut cardinality: u64 = 0;
    for e in sets[0].iter() {
        let all = sets[1..]
            .iter()
            .all(|s| std::ptr::eq(*s, sets[0]) || s.contains_elem(e));
        if !all {
            continue;
        }
        if card_only {
            cardinality += 1;
            if limit != 0 && cardinality >= limit {
                break;
            }
        } else if let Some(r) = result.as_mut() {
            r.add(&e.to_vec(), max);
        } else {
            reply_elem(reply, e);
            cardinality += 1;
        }
    }
    if card_only {
        reply.int(cardinality as i64);
    } else if let (Some(dst), Some(r)) = (dst, result) {
        store_result(ctx, dst, r, "sinterstore");
    } else {
        reply.finish_set(at, cardinality as usize);
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Union,
    Diff,
}

/// Redis's `sunionDiffGenericCommand`.
fn sunion_diff(ctx: &mut Ctx, keys: &[Bytes], dst: Option<&Bytes>, op: Op) -> CmdResult {
    lookup_sources(ctx, keys, dst.is_none())?;
    let max = max_intset(ctx);
    let db = ctx.client.db;
    let d = ctx.state.keyspace.db(db);
    let mut sets: Vec<Option<&Set>> = Vec::with_capacity(keys.len());
    let mut sameset = false;
    for (j, k) in keys.iter().enumerate() {
        match d.peek(k).map(|e| &e.value) {
            Some(Value::Set(s)) => {
                if j > 0 && sets[0].is_some_and(|s0| std::ptr::eq(s0, s)) {
                    sameset = true;
                }
                sets.push(Some(s));
            }
            Some(_) => return Err(Error::WrongType),
            None => sets.push(None),
        }
    }
    let size = |s: &Option<&Set>| s.map_or(0, |s| s.len());
    let mut algo = 1;
    if op == Op::Diff && sets[0].is_some() && !sameset {
        let mut one: u64 = 0;
        let mut two: u64 = 0;
        for s in sets.iter().flatten() {
            one += size(&sets[0]) as u64;
            two += s.len() as u64;
        }
        one /= 2;
        algo = if one <= two { 1 } else { 2 };
        if algo == 1 && sets.len() > 1 {
            sets[1..].sort_by_key(|s| std::cmp::Reverse(size(s)));
        }
    }
    let mut out = Set::new();
    match op {
        Op::Union => {
            for s in sets.iter().flatten() {
                for e in s.iter() {
                    out.add(&e.to_vec(), max);
                }
            }
        }
        Op::Diff if sameset => {}
        Op::Diff => {
            if let Some(first) = sets[0] {
                if algo == 1 {
                    'outer: for e in first.iter() {
                        for s in sets[1..].iter().flatten() {
                            if std::ptr::eq(*s, first) || s.contains_elem(e) {
                                continue 'outer;
                            }
                        }
                        out.add(&e.to_vec(), max);
                    }
                } else {
                    for (j, s) in sets.iter().enumerate() {
                        let Some(s) = s else { continue };
                        for e in s.iter() {
                            let m = e.to_vec();
                            if j == 0 {
                                out.add(&m, max);
                            } else {
                                out.remove(&m);
                            }
                        }
                        if out.is_empty() {
                            break;
                        }
                    }
                }
            }
        }
    }
    match dst {
        None => reply_members(ctx.reply, &out),
        Some(dst) => store_result(
            ctx,
            dst,
            out,
            if op == Op::Union {
                "sunionstore"
            } else {
                "sdiffstore"
            },
        ),
    }
    Ok(())
}

/// SMEMBERS key
fn smembers(ctx: &mut Ctx) -> CmdResult {
    let keys = &ctx.args[1..2];
    sinter_generic(ctx, keys, None, false, 0)
}

/// SINTER key [key ...]
fn sinter(ctx: &mut Ctx) -> CmdResult {
    let keys = &ctx.args[1..];
    sinter_generic(ctx, keys, None, false, 0)
}

/// SINTERSTORE destination key [key ...]
fn sinterstore(ctx: &mut Ctx) -> CmdResult {
    let keys = &ctx.args[2..];
    let dst = &ctx.args[1];
    sinter_generic(ctx, keys, Some(dst), false, 0)
}

/// SINTERCARD numkeys key [key ...] [LIMIT limit]
fn sintercard(ctx: &mut Ctx) -> CmdResult {
    let bad = || Error::err("numkeys should be greater than 0");
    let numkeys = args::int(ctx.arg(1)).map_err(|_| bad())?;
    if numkeys < 1 {
        return Err(bad());
    }
    if numkeys > ctx.args.len() as i64 - 2 {
        return Err(Error::err(
            "Number of keys can't be greater than number of args",
        ));
    }
    let numkeys = numkeys as usize;
    let mut limit: u64 = 0;
    let mut j = 2 + numkeys;
    while j < ctx.args.len() {
        let more = ctx.args.len() - 1 - j;
        if args::is(&ctx.args[j], "limit") && more > 0 {
            j += 1;
            let neg = || Error::err("LIMIT can't be negative");
            let l = args::int(&ctx.args[j]).map_err(|_| neg())?;
            if l < 0 {
                return Err(neg());
            }
            limit = l as u64;
        } else {
            return Err(Error::Syntax);
        }
        j += 1;
    }
    let keys = &ctx.args[2..2 + numkeys];
    sinter_generic(ctx, keys, None, true, limit)
}

/// SUNION key [key ...]
fn sunion(ctx: &mut Ctx) -> CmdResult {
    let keys = &ctx.args[1..];
    sunion_diff(ctx, keys, None, Op::Union)
}

/// SUNIONSTORE destination key [key ...]
fn sunionstore(ctx: &mut Ctx) -> CmdResult {
    let keys = &ctx.args[2..];
    let dst = &ctx.args[1];
    sunion_diff(ctx, keys, Some(dst), Op::Union)
}

/// SDIFF key [key ...]
fn sdiff(ctx: &mut Ctx) -> CmdResult {
    let keys = &ctx.args[1..];
    sunion_diff(ctx, keys, None, Op::Diff)
}

/// SDIFFSTORE destination key [key ...]
fn sdiffstore(ctx: &mut Ctx) -> CmdResult {
    let keys = &ctx.args[2..];
    let dst = &ctx.args[1];
    sunion_diff(ctx, keys, Some(dst), Op::Diff)
}

/// SSCAN key cursor [MATCH pattern] [COUNT count]
fn sscan(ctx: &mut Ctx) -> CmdResult {
    let cursor = parse_cursor(ctx.arg(2))?;
    let (db, now) = (ctx.client.db, ctx.now_ms);
    let reply = &mut *ctx.reply;
    let Some(set) = get_set_split(ctx.state, db, now, &ctx.args[1], true)? else {
        reply_scan(reply, 0, &[]);
        return Ok(());
    };
    let opts = parse_scan_opts(ctx.args, 3)?;
    let mut items = Vec::new();
    let next = set.scan(cursor, opts.count, |e| {
        let m = e.to_vec();
        if let Some(p) = &opts.pattern {
            if !glob_match(p, &m, false) {
                return;
            }
        }
        items.push(m);
    });
    reply_scan(reply, next, &items);
    Ok(())
}

/// Key positions of SINTERCARD: `numkeys` keys after the count.
fn numkeys_at_1(args: &[Bytes]) -> Vec<usize> {
    let Some(n) = args.get(1).and_then(|a| strata_storage::num::parse_i64(a)) else {
        return Vec::new();
    };
    if n < 1 {
        return Vec::new();
    }
    let end = (2usize.saturating_add(n as usize)).min(args.len());
    (2..end).collect()
}

const R: Flags = Flags::READONLY;
const RF: Flags = Flags::READONLY.or(Flags::FAST);
const WF: Flags = Flags::WRITE.or(Flags::FAST);
const WD: Flags = Flags::WRITE.or(Flags::DENYOOM);
const STORE: Keys = Keys::all_from(1);

pub static TABLE: &[CommandSpec] = &[
    CommandSpec::new("sadd", -3, WD.or(Flags::FAST), Keys::one(), sadd).doc(
        "set",
        "1.0.0",
        "Adds one or more members to a set. Creates the key if it doesn't exist.",
    ),
    CommandSpec::new("srem", -3, WF, Keys::one(), srem).doc(
        "set",
        "1.0.0",
        "Removes one or more members from a set. Deletes the set if the last member was removed.",
    ),
    CommandSpec::new("smembers", 2, R, Keys::one(), smembers).doc(
        "set",
        "1.0.0",
        "Returns all members of a set.",
    ),
    CommandSpec::new("sismember", 3, RF, Keys::one(), sismember).doc(
        "set",
        "1.0.0",
        "Determines whether a member belongs to a set.",
    ),
    CommandSpec::new("smismember", -3, RF, Keys::one(), smismember).doc(
        "set",
        "6.2.0",
        "Determines whether multiple members belong to a set.",
    ),
    CommandSpec::new("scard", 2, RF, Keys::one(), scard).doc(
        "set",
        "1.0.0",
        "Returns the number of members in a set.",
    ),
    CommandSpec::new("spop", -2, WF, Keys::one(), spop).doc(
        "set",
        "1.0.0",
        "Returns one or more random members from a set after removing them. Deletes the set if the last member was popped.",
    ),
    CommandSpec::new("srandmember", -2, R, Keys::one(), srandmember).doc(
        "set",
        "1.0.0",
        "Get one or multiple random members from a set",
    ),
    CommandSpec::new(
        "smove",
        4,
        WF,
        Keys::Range {
            first: 1,
            last: 2,
            step: 1,
        },
        smove,
    )
    .doc(
        "set",
        "1.0.0",
        "Moves a member from one set to another.",
    ),
    CommandSpec::new("sinter", -2, R, Keys::all_from(1), sinter).doc(
        "set",
        "1.0.0",
        "Returns the intersect of multiple sets.",
    ),
    CommandSpec::new(
        "sintercard",
        -3,
        R,
        Keys::Custom {
            legacy: (0, 0, 0),
            find: numkeys_at_1,
        },
        sintercard,
    )
    .doc(
        "set",
        "7.0.0",
        "Returns the number of members of the intersect of multiple sets.",
    ),
    CommandSpec::new("sinterstore", -3, WD, STORE, sinterstore).doc(
        "set",
        "1.0.0",
        "Stores the intersect of multiple sets in a key.",
    ),
    CommandSpec::new("sunion", -2, R, Keys::all_from(1), sunion).doc(
        "set",
        "1.0.0",
        "Returns the union of multiple sets.",
    ),
    CommandSpec::new("sunionstore", -3, WD, STORE, sunionstore).doc(
        "set",
        "1.0.0",
        "Stores the union of multiple sets in a key.",
    ),
    CommandSpec::new("sdiff", -2, R, Keys::all_from(1), sdiff).doc(
        "set",
        "1.0.0",
        "Returns the difference of multiple sets.",
    ),
    CommandSpec::new("sdiffstore", -3, WD, STORE, sdiffstore).doc(
        "set",
        "1.0.0",
        "Stores the difference of multiple sets in a key.",
    ),
    CommandSpec::new("sscan", -3, R, Keys::one(), sscan).doc(
        "set",
        "2.6.0",
        "Iterates over members of a set.",
    ),
];
