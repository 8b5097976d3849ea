//! List commands: LPUSH, LPOP, LRANGE, LMOVE, BLPOP and the rest of the
//! Redis 7.0 list family (t_list.c), with its checks in Redis's order.

use bytes::Bytes;
use strata_storage::list::{End, List};
use strata_storage::value::Value;

use crate::blocking::{block_on_keys, parse_timeout, TimeoutReply};
use crate::command::{CommandSpec, Ctx, Flags, Keys};
use crate::error::{CmdResult, Error};

/// A stored copy of an argument. Arguments are slices of the connection's
/// read buffer; keeping them would pin that whole buffer for as long as
/// the element lives.
fn own(b: &[u8]) -> Bytes {
    Bytes::copy_from_slice(b)
}

/// Finds a list for writing: `Ok(None)` if missing, WRONGTYPE otherwise.
fn list_write<'c>(ctx: &'c mut Ctx, key: &[u8]) -> Result<Option<&'c mut List>, Error> {
    match ctx.lookup_write(key) {
        None => Ok(None),
        Some(e) => match &mut e.value {
            Value::List(l) => Ok(Some(l)),
            _ => Err(Error::WrongType),
        },
    }
}

/// Finds a list for reading (counts hits/misses).
fn list_read<'c>(ctx: &'c mut Ctx, key: &[u8]) -> Result<Option<&'c mut List>, Error> {
    match ctx.lookup_read(key) {
        None => Ok(None),
        Some(e) => match &mut e.value {
            Value::List(l) => Ok(Some(l)),
            _ => Err(Error::WrongType),
        },
    }
}

/// LEFT|RIGHT (syntax error otherwise).
fn parse_end(arg: &[u8]) -> Result<End, Error> {
    if crate::args::is(arg, "left") {
        Ok(End::Left)
    } else if crate::args::is(arg, "right") {
        Ok(End::Right)
    } else {
        Err(Error::Syntax)
    }
}

fn pop_name(end: End) -> &'static str {
    match end {
        End::Left => "lpop",
        End::Right => "rpop",
    }
}

fn push_name(end: End) -> &'static str {
    match end {
        End::Left => "lpush",
        End::Right => "rpush",
    }
}

/// Deletes `key` if its list became empty (with the `del` event).
fn delete_if_empty(ctx: &mut Ctx, key: &[u8]) {
    let empty = matches!(
        ctx.db().peek(key).map(|e| &e.value),
        Some(Value::List(l)) if l.is_empty()
    );
    if empty {
        ctx.db().remove(key);
        ctx.notify('g', "del", key);
    }
}

/// Pushes `values` onto `key` at `end`, creating the list. Returns the
/// new length. `xx`: only if the key exists (returns 0 otherwise).
fn push_values(
    ctx: &mut Ctx,
    key: &Bytes,
    end: End,
    values: &[Bytes],
    xx: bool,
) -> Result<i64, Error> {
    let len = match list_write(ctx, key)? {
        Some(l) => {
            for v in values {
                l.push(end, own(v));
            }
            l.len()
        }
        None => {
            if xx {
                return Ok(0);
            }
            let mut l = List::new();
            for v in values {
                l.push(end, own(v));
            }
            let n = l.len();
            let now = ctx.now_ms;
            ctx.db().set(own(key), Value::List(l), now);
            n
        }
    };
    ctx.add_dirty(values.len() as u64);
    ctx.signal_modified(key);
    ctx.notify('l', push_name(end), key);
    ctx.signal_key_ready(key);
    Ok(len as i64)
}

fn push_cmd(ctx: &mut Ctx, end: End, xx: bool) -> CmdResult {
    let key = ctx.arg(1).clone();
    let args = ctx.args;
    let n = push_values(ctx, &key, end, &args[2..], xx)?;
    ctx.reply.int(n);
    Ok(())
}

/// LPUSH key element [element ...]
fn lpush(ctx: &mut Ctx) -> CmdResult {
    push_cmd(ctx, End::Left, false)
}

/// RPUSH key element [element ...]
fn rpush(ctx: &mut Ctx) -> CmdResult {
    push_cmd(ctx, End::Right, false)
}

/// LPUSHX key element [element ...]
fn lpushx(ctx: &mut Ctx) -> CmdResult {
    push_cmd(ctx, End::Left, true)
}

/// RPUSHX key element [element ...]
fn rpushx(ctx: &mut Ctx) -> CmdResult {
    push_cmd(ctx, End::Right, true)
}

/// Pops up to `count` elements from an existing list, with events and
/// deletion of the emptied key. `None` if the key is missing or empty.
fn pop_from(
    ctx: &mut Ctx,
    key: &Bytes,
    end: End,
    count: usize,
) -> Result<Option<Vec<Bytes>>, Error> {
    let popped = match list_write(ctx, key)? {
        Some(l) if !l.is_empty() => l.pop_many(end, count),
        _ => return Ok(None),
    };
    ctx.add_dirty(popped.len() as u64);
    ctx.notify('l', pop_name(end), key);
    delete_if_empty(ctx, key);
    ctx.signal_modified(key);
    Ok(Some(popped))
}

fn pop_cmd(ctx: &mut Ctx, end: End) -> CmdResult {
    if ctx.args.len() > 3 {
        return Err(Error::wrong_arity(ctx.cmd.name));
    }
    let key = ctx.arg(1).clone();
    let count = if ctx.args.len() == 3 {
        let c = crate::args::int(ctx.arg(2))
            .ok()
            .filter(|c| *c >= 0)
            .ok_or_else(|| Error::err("value is out of range, must be positive"))?;
        Some(c as usize)
    } else {
        None
    };
    let exists = list_write(ctx, &key)?.is_some();
    if !exists {
        match count {
            Some(_) => ctx.reply.null_array(),
            None => ctx.reply.null(),
        }
        return Ok(());
    }
    match count {
        Some(0) => ctx.reply.array(0),
        Some(c) => {
            let v = pop_from(ctx, &key, end, c)?.unwrap_or_default();
            ctx.reply.array(v.len());
            for e in &v {
                ctx.reply.bulk(e);
            }
        }
        None => match pop_from(ctx, &key, end, 1)?.and_then(|mut v| v.pop()) {
            Some(e) => ctx.reply.bulk(&e),
            None => ctx.reply.null(),
        },
    }
    Ok(())
}

/// LPOP key [count]
fn lpop(ctx: &mut Ctx) -> CmdResult {
    pop_cmd(ctx, End::Left)
}

/// RPOP key [count]
fn rpop(ctx: &mut Ctx) -> CmdResult {
    pop_cmd(ctx, End::Right)
}

/// LLEN key
fn llen(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.arg(1).clone();
    let n = list_read(ctx, &key)?.map_or(0, |l| l.len());
    ctx.reply.int(n as i64);
    Ok(())
}

/// LRANGE key start stop
fn lrange(ctx: &mut Ctx) -> CmdResult {
    let start = crate::args::int(ctx.arg(2))?;
    let stop = crate::args::int(ctx.arg(3))?;
    let key = ctx.arg(1).clone();
    let items: Vec<Bytes> = match list_read(ctx, &key)? {
        Some(l) => l.range(start, stop).cloned().collect(),
        None => Vec::new(),
    };
    ctx.reply.array(items.len());
    for e in &items {
        ctx.reply.bulk(e);
    }
    Ok(())
}

/// LINDEX key index
fn lindex(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.arg(1).clone();
    let idx_arg = ctx.arg(2).clone();
    let item = match list_read(ctx, &key)? {
        None => None,
        Some(l) => {
            let i = crate::args::int(&idx_arg)?;
            l.get(i).cloned()
        }
    };
    match item {
        Some(e) => ctx.reply.bulk(&e),
        None => ctx.reply.null(),
    }
    Ok(())
}

/// LSET key index element
fn lset(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.arg(1).clone();
    let idx_arg = ctx.arg(2).clone();
    let value = ctx.arg(3).clone();
    match list_write(ctx, &key)? {
        None => return Err(Error::NoSuchKey),
        Some(l) => {
            let i = crate::args::int(&idx_arg)?;
            if !l.set(i, own(&value)) {
                return Err(Error::IndexOutOfRange);
            }
        }
    }
    ctx.signal_modified(&key);
    ctx.notify('l', "lset", &key);
    ctx.add_dirty(1);
    ctx.reply.ok();
    Ok(())
}

/// LINSERT key BEFORE|AFTER pivot element
fn linsert(ctx: &mut Ctx) -> CmdResult {
    let after = if crate::args::is(ctx.arg(2), "after") {
        true
    } else if crate::args::is(ctx.arg(2), "before") {
        false
    } else {
        return Err(Error::Syntax);
    };
    let key = ctx.arg(1).clone();
    let pivot = ctx.arg(3).clone();
    let value = ctx.arg(4).clone();
    let (inserted, len) = match list_write(ctx, &key)? {
        None => {
            ctx.reply.int(0);
            return Ok(());
        }
        Some(l) => (l.insert(after, &pivot, own(&value)), l.len()),
    };
    if !inserted {
        ctx.reply.int(-1);
        return Ok(());
    }
    ctx.signal_modified(&key);
    ctx.notify('l', "linsert", &key);
    ctx.add_dirty(1);
    ctx.reply.int(len as i64);
    Ok(())
}

/// LREM key count element
fn lrem(ctx: &mut Ctx) -> CmdResult {
    let count = crate::args::int(ctx.arg(2))?;
    let key = ctx.arg(1).clone();
    let value = ctx.arg(3).clone();
    let removed = match list_write(ctx, &key)? {
        None => 0,
        Some(l) => l.remove(count, &value),
    };
    if removed > 0 {
        ctx.notify('l', "lrem", &key);
        delete_if_empty(ctx, &key);
        ctx.signal_modified(&key);
        ctx.add_dirty(removed as u64);
    }
    ctx.reply.int(removed as i64);
    Ok(())
}

/// LTRIM key start stop
fn ltrim(ctx: &mut Ctx) -> CmdResult {
    let start = crate::args::int(ctx.arg(2))?;
    let stop = crate::args::int(ctx.arg(3))?;
    let key = ctx.arg(1).clone();
    let removed = match list_write(ctx, &key)? {
        None => {
            ctx.reply.ok();
            return Ok(());
        }
        Some(l) => l.trim(start, stop),
    };
    ctx.notify('l', "ltrim", &key);
    delete_if_empty(ctx, &key);
    ctx.signal_modified(&key);
    ctx.add_dirty(removed as u64);
    ctx.reply.ok();
    Ok(())
}

/// LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]
fn lpos(ctx: &mut Ctx) -> CmdResult {
    let mut rank: i64 = 1;
    let mut count: Option<i64> = None;
    let mut maxlen: i64 = 0;
    let args = ctx.args;
    let mut j = 3;
    while j < args.len() {
        let opt = &args[j];
        let more = j + 1 < args.len();
        if crate::args::is(opt, "rank") && more {
            j += 1;
            rank = crate::args::int(&args[j])?;
            if rank == 0 {
                return Err(Error::err(
                    "RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
                ));
            }
        } else if crate::args::is(opt, "count") && more {
            j += 1;
            let c = crate::args::int(&args[j])
                .ok()
                .filter(|c| *c >= 0)
                .ok_or_else(|| Error::err("COUNT can't be negative"))?;
            count = Some(c);
        } else if crate::args::is(opt, "maxlen") && more {
            j += 1;
            maxlen = crate::args::int(&args[j])
                .ok()
                .filter(|c| *c >= 0)
                .ok_or_else(|| Error::err("MAXLEN can't be negative"))?;
        } else {
            return Err(Error::Syntax);
        }
        j += 1;
    }
    let key = ctx.arg(1).clone();
    let elem = ctx.arg(2).clone();
    let found = match list_read(ctx, &key)? {
        None => None,
        Some(l) => {
            let mut want = match count {
                Some(c) => c as usize,
                None => 1,
            };
            if rank == i64::MIN {
                // 7.0 negates LONG_MIN into itself: every match from the
                // tail qualifies and a COUNT never stops the scan.
                rank = -1;
                if count.is_some() {
                    want = 0;
                }
            }
            Some(l.positions(&elem, rank, want, maxlen as usize))
        }
    };
    match (count, found) {
        (Some(_), None) => ctx.reply.array(0),
        (None, None) => ctx.reply.null(),
        (Some(_), Some(v)) => {
            ctx.reply.array(v.len());
            for i in v {
                ctx.reply.int(i as i64);
            }
        }
        (None, Some(v)) => match v.first() {
            Some(&i) => ctx.reply.int(i as i64),
            None => ctx.reply.null(),
        },
    }
    Ok(())
}

/// Moves one element from `src` (existing, non-empty) to `dst`. Replies
/// with the element, or null if `src` is missing.
fn lmove_generic(ctx: &mut Ctx, src: &Bytes, dst: &Bytes, from: End, to: End) -> CmdResult {
    if list_write(ctx, src)?.is_none_or(|l| l.is_empty()) {
        ctx.reply.null();
        return Ok(());
    }
    // The destination must be a list (or missing) before anything moves.
    list_write(ctx, dst)?;
    let Some(value) = list_write(ctx, src)?.and_then(|l| l.pop(from)) else {
        ctx.reply.null();
        return Ok(());
    };
    // Push (Redis's lmoveHandlePush), then the pop events on the source.
    match list_write(ctx, dst)? {
        Some(l) => l.push(to, value.clone()),
        None => {
            let mut l = List::new();
            l.push(to, value.clone());
            let now = ctx.now_ms;
            ctx.db().set(own(dst), Value::List(l), now);
        }
    }
    ctx.signal_modified(dst);
    ctx.notify('l', push_name(to), dst);
    ctx.signal_key_ready(dst);
    ctx.reply.bulk(&value);
    ctx.notify('l', pop_name(from), src);
    delete_if_empty(ctx, src);
    ctx.signal_modified(src);
    ctx.add_dirty(1);
    Ok(())
}

/// LMOVE source destination LEFT|RIGHT LEFT|RIGHT
fn lmove(ctx: &mut Ctx) -> CmdResult {
    let from = parse_end(ctx.arg(3))?;
    let to = parse_end(ctx.arg(4))?;
    let (src, dst) = (ctx.arg(1).clone(), ctx.arg(2).clone());
    lmove_generic(ctx, &src, &dst, from, to)
}

/// RPOPLPUSH source destination
fn rpoplpush(ctx: &mut Ctx) -> CmdResult {
    let (src, dst) = (ctx.arg(1).clone(), ctx.arg(2).clone());
    lmove_generic(ctx, &src, &dst, End::Right, End::Left)
}

/// Parsed `numkeys key [key ...] LEFT|RIGHT [COUNT count]` of LMPOP and
/// BLMPOP, starting at argument `at`.
struct Mpop {
    keys: Vec<Bytes>,
    end: End,
    count: usize,
}

fn parse_mpop(args: &[Bytes], at: usize) -> Result<Mpop, Error> {
    let numkeys = crate::args::int(&args[at])
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| Error::err("numkeys should be greater than 0"))?;
    let where_idx = (at as u64)
        .checked_add(numkeys as u64)
        .and_then(|n| n.checked_add(1))
        .filter(|n| *n < args.len() as u64)
        .ok_or(Error::Syntax)? as usize;
    let end = parse_end(&args[where_idx])?;
    let mut count: i64 = -1;
    let mut j = where_idx + 1;
    while j < args.len() {
        let more = j + 1 < args.len();
        if count == -1 && crate::args::is(&args[j], "count") && more {
            j += 1;
            count = crate::args::int(&args[j])
                .ok()
                .filter(|c| *c >= 1)
                .ok_or_else(|| Error::err("count should be greater than 0"))?;
        } else {
            return Err(Error::Syntax);
        }
        j += 1;
    }
    Ok(Mpop {
        keys: args[at + 1..where_idx].to_vec(),
        end,
        count: if count == -1 { 1 } else { count as usize },
    })
}

/// Pops from the first non-empty list of `keys`, replying
/// `[key, [elements]]`. Returns false (nothing written) if all are empty.
fn mpop_first(ctx: &mut Ctx, keys: &[Bytes], end: End, count: usize) -> Result<bool, Error> {
    for key in keys {
        if let Some(v) = pop_from(ctx, key, end, count)? {
            // LMPOP / BLMPOP are propagated as `LPOP|RPOP key count`.
            let name = match end {
                End::Left => Bytes::from_static(b"LPOP"),
                End::Right => Bytes::from_static(b"RPOP"),
            };
            ctx.propagate_rewrite(vec![
                name,
                key.clone(),
                crate::propagate::int_arg(count as i64),
            ]);
            ctx.reply.array(2);
            ctx.reply.bulk(key);
            ctx.reply.array(v.len());
            for e in &v {
                ctx.reply.bulk(e);
            }
            return Ok(true);
        }
    }
    Ok(false)
}

/// LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]
fn lmpop(ctx: &mut Ctx) -> CmdResult {
    let p = parse_mpop(ctx.args, 1)?;
    if !mpop_first(ctx, &p.keys, p.end, p.count)? {
        ctx.reply.null_array();
    }
    Ok(())
}

/// BLPOP/BRPOP: keys at 1..len-1, timeout last.
fn bpop(ctx: &mut Ctx, end: End) -> CmdResult {
    let args = ctx.args;
    let deadline = parse_timeout(&args[args.len() - 1], ctx.now_ms)?;
    let keys = &args[1..args.len() - 1];
    for key in keys {
        if let Some(mut v) = pop_from(ctx, key, end, 1)? {
            // Propagated as the non-blocking pop.
            let name = match end {
                End::Left => Bytes::from_static(b"LPOP"),
                End::Right => Bytes::from_static(b"RPOP"),
            };
            ctx.propagate_rewrite(vec![name, key.clone()]);
            if let Some(e) = v.pop() {
                ctx.reply.array(2);
                ctx.reply.bulk(key);
                ctx.reply.bulk(&e);
                return Ok(());
            }
        }
    }
    block_on_keys(ctx, keys, deadline, TimeoutReply::NullArray);
    Ok(())
}

/// BLPOP key [key ...] timeout
fn blpop(ctx: &mut Ctx) -> CmdResult {
    bpop(ctx, End::Left)
}

/// BRPOP key [key ...] timeout
fn brpop(ctx: &mut Ctx) -> CmdResult {
    bpop(ctx, End::Right)
}

fn blmove_generic(ctx: &mut Ctx, from: End, to: End, deadline: Option<i64>) -> CmdResult {
    let (src, dst) = (ctx.arg(1).clone(), ctx.arg(2).clone());
    if list_write(ctx, &src)?.is_none() {
        block_on_keys(ctx, &[src], deadline, TimeoutReply::NullBulk);
        return Ok(());
    }
    // Propagated as LMOVE / RPOPLPUSH.
    if ctx.propagating() {
        let argv = if ctx.cmd.name == "brpoplpush" {
            vec![Bytes::from_static(b"RPOPLPUSH"), src.clone(), dst.clone()]
        } else {
            let mut v = vec![Bytes::from_static(b"LMOVE")];
            v.extend_from_slice(&ctx.args[1..5]);
            v
        };
        ctx.propagate_rewrite(argv);
    }
    lmove_generic(ctx, &src, &dst, from, to)
}

/// BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout
fn blmove(ctx: &mut Ctx) -> CmdResult {
    let from = parse_end(ctx.arg(3))?;
    let to = parse_end(ctx.arg(4))?;
    let deadline = parse_timeout(ctx.arg(5), ctx.now_ms)?;
    blmove_generic(ctx, from, to, deadline)
}

/// BRPOPLPUSH source destination timeout
fn brpoplpush(ctx: &mut Ctx) -> CmdResult {
    let deadline = parse_timeout(ctx.arg(3), ctx.now_ms)?;
    blmove_generic(ctx, End::Right, End::Left, deadline)
}

/// BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT count]
fn blmpop(ctx: &mut Ctx) -> CmdResult {
    let p = parse_mpop(ctx.args, 2)?;
    let deadline = parse_timeout(ctx.arg(1), ctx.now_ms)?;
    if !mpop_first(ctx, &p.keys, p.end, p.count)? {
        block_on_keys(ctx, &p.keys, deadline, TimeoutReply::NullArray);
    }
    Ok(())
}

/// Keys of LMPOP (`numkeys` at 1).
fn lmpop_keys(args: &[Bytes]) -> Vec<usize> {
    numkeys_keys(args, 1)
}

/// Keys of BLMPOP (`numkeys` at 2).
fn blmpop_keys(args: &[Bytes]) -> Vec<usize> {
    numkeys_keys(args, 2)
}

fn numkeys_keys(args: &[Bytes], at: usize) -> Vec<usize> {
    let Some(n) = args
        .get(at)
        .and_then(|a| strata_storage::num::parse_i64(a))
        .filter(|n| *n > 0)
    else {
        return Vec::new();
    };
    let n = (n as u64).min(args.len() as u64) as usize;
    (at + 1..at + 1 + n).filter(|i| *i < args.len()).collect()
}

const W: Flags = Flags::WRITE;
const R: Flags = Flags::READONLY;
const WD: Flags = Flags::WRITE.or(Flags::DENYOOM);
const WDF: Flags = WD.or(Flags::FAST);
const WF: Flags = W.or(Flags::FAST);
const WB: Flags = W.or(Flags::BLOCKING);
const WSB: Flags = WB.or(Flags::NOSCRIPT);
const WDSB: Flags = WD.or(Flags::NOSCRIPT).or(Flags::BLOCKING);

const fn keys(first: i32, last: i32, step: i32) -> Keys {
    Keys::Range { first, last, step }
}

pub static TABLE: &[CommandSpec] = &[
    CommandSpec::new("lpush", -3, WDF, Keys::one(), lpush).doc("list", "1.0.0", "Prepends one or more elements to a list. Creates the key if it doesn't exist."),
    CommandSpec::new("rpush", -3, WDF, Keys::one(), rpush).doc("list", "1.0.0", "Appends one or more elements to a list. Creates the key if it doesn't exist."),
    CommandSpec::new("lpushx", -3, WDF, Keys::one(), lpushx).doc("list", "2.2.0", "Prepends one or more elements to a list only when the list exists."),
    CommandSpec::new("rpushx", -3, WDF, Keys::one(), rpushx).doc("list", "2.2.0", "Appends an element to a list only when the list exists."),
    CommandSpec::new("lpop", -2, WF, Keys::one(), lpop).doc("list", "1.0.0", "Returns the first elements in a list after removing it. Deletes the list if the last element was popped."),
    CommandSpec::new("rpop", -2, WF, Keys::one(), rpop).doc("list", "1.0.0", "Returns and removes the last elements of a list. Deletes the list if the last element was popped."),
    CommandSpec::new("llen", 2, R.or(Flags::FAST), Keys::one(), llen).doc("list", "1.0.0", "Returns the length of a list."),
    CommandSpec::new("lrange", 4, R, Keys::one(), lrange).doc("list", "1.0.0", "Returns a range of elements from a list."),
    CommandSpec::new("lindex", 3, R, Keys::one(), lindex).doc("list", "1.0.0", "Returns an element from a list by its index."),
    CommandSpec::new("lset", 4, WD, Keys::one(), lset).doc("list", "1.0.0", "Sets the value of an element in a list by its index."),
    CommandSpec::new("linsert", 5, WD, Keys::one(), linsert).doc("list", "2.2.0", "Inserts an element before or after another element in a list."),
    CommandSpec::new("lrem", 4, W, Keys::one(), lrem).doc("list", "1.0.0", "Removes elements from a list. Deletes the list if the last element was removed."),
    CommandSpec::new("ltrim", 4, W, Keys::one(), ltrim).doc("list", "1.0.0", "Removes elements from both ends a list. Deletes the list if all elements were trimmed."),
    CommandSpec::new("lpos", -3, R, Keys::one(), lpos).doc("list", "6.0.6", "Returns the index of matching elements in a list."),
    CommandSpec::new("lmove", 5, WD, keys(1, 2, 1), lmove).doc("list", "6.2.0", "Returns an element after popping it from one list and pushing it to another. Deletes the list if the last element was moved."),
    CommandSpec::new("rpoplpush", 3, WD, keys(1, 2, 1), rpoplpush).doc("list", "1.2.0", "Returns the last element of a list after removing and pushing it to another list. Deletes the list if the last element was popped."),
    CommandSpec::new("lmpop", -4, W, Keys::Custom { legacy: (0, 0, 0), find: lmpop_keys }, lmpop).doc("list", "7.0.0", "Returns multiple elements from a list after removing them. Deletes the list if the last element was popped."),
    CommandSpec::new("blpop", -3, WSB, keys(1, -2, 1), blpop).doc("list", "2.0.0", "Removes and returns the first element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped."),
    CommandSpec::new("brpop", -3, WSB, keys(1, -2, 1), brpop).doc("list", "2.0.0", "Removes and returns the last element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped."),
    CommandSpec::new("blmove", 6, WDSB, keys(1, 2, 1), blmove).doc("list", "6.2.0", "Pops an element from a list, pushes it to another list and returns it. Blocks until an element is available otherwise. Deletes the list if the last element was moved."),
    CommandSpec::new("brpoplpush", 4, WDSB, keys(1, 2, 1), brpoplpush).doc("list", "2.2.0", "Pops an element from a list, pushes it to another list and returns it. Block until an element is available otherwise. Deletes the list if the last element was popped."),
    CommandSpec::new("blmpop", -5, WB, Keys::Custom { legacy: (0, 0, 0), find: blmpop_keys }, blmpop).doc("list", "7.0.0", "Pops the first element from one of multiple lists. Blocks until an element is available otherwise. Deletes the list if the last element was popped."),
];
