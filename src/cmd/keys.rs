//! Generic keyspace commands: DEL, EXISTS, EXPIRE, SCAN, OBJECT, ...
//!
//! Semantics follow Redis 7.0's `db.c`, `expire.c` and `object.c` byte for
//! byte: lookups expire keys lazily, every change signals the key, emits
//! Redis's keyspace event and counts towards `dirty`.

use bytes::Bytes;
use strata_storage::keyspace::{key_match, pattern_can_match, Entry, KeysFilter, Touch};
use strata_storage::value::{Str, Value};

use crate::command::{CommandSpec, Ctx, Flags, Keys};
use crate::error::{sanitize, CmdResult, Error};

/// Looks a key up without touching its access statistics (Redis's
/// `LOOKUP_NOTOUCH`), still counting a keyspace hit or miss.
fn lookup_notouch<'c>(ctx: &'c mut Ctx, key: &[u8]) -> Option<&'c mut Entry> {
    let now = ctx.now_ms;
    let db = ctx.client.db;
    if ctx.state.keyspace.db(db).contains(key, now) {
        ctx.state.stats.keyspace_hits += 1;
    } else {
        ctx.state.stats.keyspace_misses += 1;
    }
    ctx.state.keyspace.db(db).get_mut(key, now, Touch::No)
}

/// Existence for a command that changes only metadata (EXPIRE,
/// PERSIST): touches a resident key's access clocks as a write lookup,
/// and never promotes a cold one.
fn exists_write(ctx: &mut Ctx, key: &[u8]) -> bool {
    if ctx.db().is_resident(key) {
        return ctx.lookup_write(key).is_some();
    }
    let db = ctx.client.db;
    exists_in(ctx, db, key)
}

/// EXISTS-style check counting a keyspace hit or miss, never promoting.
fn exists_counted(ctx: &mut Ctx, key: &[u8]) -> bool {
    let found = exists_in(ctx, ctx.client.db, key);
    if found {
        ctx.state.stats.keyspace_hits += 1;
    } else {
        ctx.state.stats.keyspace_misses += 1;
    }
    found
}

/// True if `key` is live in database `db` (expiring it lazily if due).
fn exists_in(ctx: &mut Ctx, db: usize, key: &[u8]) -> bool {
    let now = ctx.now_ms;
    ctx.state.keyspace.db(db).contains(key, now)
}

/// Parses a database index like Redis's `getIntFromObjectOrReply`: an
/// integer that fits in a C int, else `msg` (default: not an integer).
fn db_index_arg(arg: &[u8], msg: Option<&str>) -> Result<i64, Error> {
    match strata_storage::num::parse_i64(arg) {
        Some(v) if i64::from(i32::MIN) <= v && v <= i64::from(i32::MAX) => Ok(v),
        Some(_) => Err(msg.map_or_else(
            || Error::err("value is out of range, value must between -2147483648 and 2147483647"),
            Error::err,
        )),
        None => Err(msg.map_or(Error::NotInteger, Error::err)),
    }
}

/// Checks a db index against `databases` (Redis's `selectDb`).
fn check_db(ctx: &Ctx, id: i64) -> Result<usize, Error> {
    if id < 0 || id as usize >= ctx.state.keyspace.dbs.len() {
        return Err(Error::DbIndexOutOfRange);
    }
    Ok(id as usize)
}

/// DEL key [key ...] and UNLINK key [key ...]
fn del_generic(ctx: &mut Ctx) -> CmdResult {
    let mut n = 0;
    let now = ctx.now_ms;
    for i in 1..ctx.args.len() {
        let key = ctx.args[i].clone();
        ctx.db().expire_if_needed(&key, now);
        // A cold key is deleted without reading its value.
        if ctx.db().delete(&key, now) {
            ctx.signal_modified(&key);
            ctx.notify('g', "del", &key);
            ctx.add_dirty(1);
            n += 1;
        }
    }
    ctx.reply.int(n);
    Ok(())
}

/// DEL key [key ...]
fn del(ctx: &mut Ctx) -> CmdResult {
    del_generic(ctx)
}

/// UNLINK key [key ...]
fn unlink(ctx: &mut Ctx) -> CmdResult {
    // Same as DEL: values are dropped when removed.
    del_generic(ctx)
}

/// EXISTS key [key ...]
fn exists(ctx: &mut Ctx) -> CmdResult {
    let mut n = 0;
    for i in 1..ctx.args.len() {
        let key = ctx.args[i].clone();
        // Answered from the cold record's header: no promotion.
        if exists_counted(ctx, &key) {
            n += 1;
        }
    }
    ctx.reply.int(n);
    Ok(())
}

/// TYPE key
fn type_(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.arg(1).clone();
    let now = ctx.now_ms;
    let t = ctx.db().key_type(&key, now);
    if t.is_some() {
        ctx.state.stats.keyspace_hits += 1;
    } else {
        ctx.state.stats.keyspace_misses += 1;
    }
    let name = t.map_or("none", |t| t.name());
    ctx.reply.simple(name);
    Ok(())
}

/// RENAME key newkey / RENAMENX key newkey
fn rename_generic(ctx: &mut Ctx, nx: bool) -> CmdResult {
    let src = ctx.arg(1).clone();
    let dst = ctx.arg(2).clone();
    // Cold keys are renamed without reading their values.
    if !exists_write(ctx, &src) {
        return Err(Error::NoSuchKey);
    }
    if src == dst {
        if nx {
            ctx.reply.int(0);
        } else {
            ctx.reply.ok();
        }
        return Ok(());
    }
    if exists_write(ctx, &dst) && nx {
        ctx.reply.int(0);
        return Ok(());
    }
    ctx.db().rename(&src, dst.clone());
    ctx.signal_modified(&src);
    ctx.signal_modified(&dst);
    ctx.notify('g', "rename_from", &src);
    ctx.notify('g', "rename_to", &dst);
    ctx.add_dirty(1);
    if nx {
        ctx.reply.int(1);
    } else {
        ctx.reply.ok();
    }
    Ok(())
}

/// RENAME key newkey
fn rename(ctx: &mut Ctx) -> CmdResult {
    rename_generic(ctx, false)
}

/// RENAMENX key newkey
fn renamenx(ctx: &mut Ctx) -> CmdResult {
    rename_generic(ctx, true)
}

/// COPY source destination [DB destination-db] [REPLACE]
fn copy(ctx: &mut Ctx) -> CmdResult {
    let src_db = ctx.client.db;
    let mut dst_db = src_db;
    let mut replace = false;
    let mut j = 3;
    while j < ctx.args.len() {
        let additional = ctx.args.len() - j - 1;
        if crate::args::is(&ctx.args[j], "replace") {
            replace = true;
        } else if crate::args::is(&ctx.args[j], "db") && additional >= 1 {
            let id = db_index_arg(&ctx.args[j + 1], None)?;
            dst_db = check_db(ctx, id)?;
            j += 1;
        } else {
            return Err(Error::Syntax);
        }
        j += 1;
    }
    let src = ctx.arg(1).clone();
    let dst = ctx.arg(2).clone();
    if src_db == dst_db && src == dst {
        return Err(Error::err("source and destination objects are the same"));
    }
    let now = ctx.now_ms;
    let Some(entry) = ctx.lookup_read(&src) else {
        ctx.reply.int(0);
        return Ok(());
    };
    // A fresh object, as Redis's per-type dup: new access statistics, and
    // a small integer is a private copy rather than the shared object.
    let mut copied = Entry::new(entry.value.clone(), now);
    copied.set_unshared(matches!(copied.value, Value::Str(Str::Int(_))));
    let expire = ctx.db().expire_at(&src);
    if exists_in(ctx, dst_db, &dst) {
        if !replace {
            ctx.reply.int(0);
            return Ok(());
        }
        ctx.state.keyspace.db(dst_db).remove(&dst);
    }
    ctx.state
        .keyspace
        .db(dst_db)
        .insert_entry(dst.clone(), copied, expire);
    ctx.state.key_modified(dst_db, &dst);
    ctx.state
        .notify_keyspace_event('g', "copy_to", &dst, dst_db);
    ctx.add_dirty(1);
    ctx.reply.int(1);
    Ok(())
}

/// MOVE key db
fn move_(ctx: &mut Ctx) -> CmdResult {
    let src_db = ctx.client.db;
    let id = db_index_arg(ctx.arg(2), None)?;
    let dst_db = check_db(ctx, id)?;
    if src_db == dst_db {
        return Err(Error::err("source and destination objects are the same"));
    }
    let key = ctx.arg(1).clone();
    if ctx.lookup_write(&key).is_none() {
        ctx.reply.int(0);
        return Ok(());
    }
    if exists_in(ctx, dst_db, &key) {
        ctx.reply.int(0);
        return Ok(());
    }
    let Some((entry, expire)) = ctx.db().remove(&key) else {
        ctx.reply.int(0);
        return Ok(());
    };
    ctx.state
        .keyspace
        .db(dst_db)
        .insert_entry(key.clone(), entry, expire);
    ctx.state.key_modified(src_db, &key);
    ctx.state.key_modified(dst_db, &key);
    ctx.state
        .notify_keyspace_event('g', "move_from", &key, src_db);
    ctx.state
        .notify_keyspace_event('g', "move_to", &key, dst_db);
    ctx.add_dirty(1);
    ctx.reply.int(1);
    Ok(())
}

/// SWAPDB index1 index2
fn swapdb(ctx: &mut Ctx) -> CmdResult {
    let a = db_index_arg(ctx.arg(1), Some("invalid first DB index"))?;
    let b = db_index_arg(ctx.arg(2), Some("invalid second DB index"))?;
    let a = check_db(ctx, a)?;
    let b = check_db(ctx, b)?;
    if a != b {
        ctx.state.keyspace.swap(a, b);
        ctx.state.whole_db_changed(a, Some(b));
        ctx.state.whole_db_changed(b, Some(a));
    }
    ctx.add_dirty(1);
    ctx.reply.ok();
    Ok(())
}

/// Parses the optional ASYNC|SYNC of FLUSHDB/FLUSHALL; true means free
/// the old data in the background.
fn flush_async(ctx: &Ctx) -> Result<bool, Error> {
    match ctx.args.len() {
        1 => Ok(ctx.state.config.get_bool("lazyfree-lazy-user-flush")),
        2 if crate::args::is(&ctx.args[1], "sync") => Ok(false),
        2 if crate::args::is(&ctx.args[1], "async") => Ok(true),
        _ => Err(Error::Syntax),
    }
}

/// Frees flushed data: on a background thread when asked to (the lock is
/// then held only for O(1) table swaps), else right here.
fn free_flushed(data: Vec<strata_storage::keyspace::Flushed>, background: bool) {
    if background && !data.is_empty() {
        let spawned = std::thread::Builder::new()
            .name("strata-lazyfree".into())
            .spawn(move || drop(data));
        if let Err(e) = spawned {
            crate::log::warning(&format!("lazyfree thread failed: {e}"));
        }
    }
}

/// The cold tier refused to delete a database's records (a failing or
/// full disk): the flush stops there, so no flushed key comes back.
fn flush_refused(e: strata_storage::cold::ColdError) -> Error {
    Error::err(format!(
        "the cold tier refused the flush ({e}); the database was not flushed"
    ))
}

/// FLUSHDB [ASYNC|SYNC]
fn flushdb(ctx: &mut Ctx) -> CmdResult {
    let background = flush_async(ctx)?;
    ctx.db().flush_cold().map_err(flush_refused)?;
    let db = ctx.client.db;
    ctx.state.whole_db_changed(db, None);
    ctx.state.tracking_flush();
    let n = ctx.db().len() as u64;
    let data = ctx.db().flush();
    free_flushed(vec![data], background);
    ctx.add_dirty(n);
    // Propagated even when the database was already empty (as Redis).
    ctx.force_propagation();
    ctx.reply.ok();
    Ok(())
}

/// FLUSHALL [ASYNC|SYNC]
fn flushall(ctx: &mut Ctx) -> CmdResult {
    let background = flush_async(ctx)?;
    // Every database's cold records go in one atomic range delete: a
    // store that refuses it (a failing or full disk) fails the command
    // before anything is flushed.
    ctx.state.keyspace.flush_cold_all().map_err(flush_refused)?;
    ctx.state.tracking_flush();
    let mut n = 0;
    let mut data = Vec::new();
    for i in 0..ctx.state.keyspace.dbs.len() {
        if ctx.state.keyspace.dbs[i].is_empty() {
            continue;
        }
        ctx.state.whole_db_changed(i, None);
        let db = ctx.state.keyspace.db(i);
        n += db.len() as u64;
        data.push(db.flush());
    }
    free_flushed(data, background);
    // Redis also counts the flush itself (and saves an RDB when save
    // points are configured: the persistence layer hooks in on `dirty`).
    ctx.add_dirty(n + 1);
    ctx.reply.ok();
    Ok(())
}

/// Bits of the EXPIRE options.
const EXPIRE_NX: u8 = 1;
const EXPIRE_XX: u8 = 2;
const EXPIRE_GT: u8 = 4;
const EXPIRE_LT: u8 = 8;

/// Parses NX|XX|GT|LT (Redis's `parseExtendedExpireArgumentsOrReply`).
fn expire_flags(args: &[Bytes]) -> Result<u8, Error> {
    let mut flags = 0u8;
    for a in args.iter().skip(3) {
        flags |= if crate::args::is(a, "nx") {
            EXPIRE_NX
        } else if crate::args::is(a, "xx") {
            EXPIRE_XX
        } else if crate::args::is(a, "gt") {
            EXPIRE_GT
        } else if crate::args::is(a, "lt") {
            EXPIRE_LT
        } else {
            return Err(Error::err(format!(
                "Unsupported option {}",
                sanitize(a, usize::MAX)
            )));
        };
    }
    if flags & EXPIRE_NX != 0 && flags & (EXPIRE_XX | EXPIRE_GT | EXPIRE_LT) != 0 {
        return Err(Error::err(
            "NX and XX, GT or LT options at the same time are not compatible",
        ));
    }
    if flags & EXPIRE_GT != 0 && flags & EXPIRE_LT != 0 {
        return Err(Error::err(
            "GT and LT options at the same time are not compatible",
        ));
    }
    Ok(flags)
}

/// EXPIRE / PEXPIRE / EXPIREAT / PEXPIREAT (Redis's
/// `expireGenericCommand`): `basetime` is added to the argument, which is
/// in seconds when `seconds`.
fn expire_generic(ctx: &mut Ctx, basetime: i64, seconds: bool) -> CmdResult {
    let flags = expire_flags(ctx.args)?;
    let mut when = crate::args::int(ctx.arg(2))?;
    let name = ctx.cmd.name;
    if seconds {
        if !(i64::MIN / 1000..=i64::MAX / 1000).contains(&when) {
            return Err(Error::invalid_expire(name));
        }
        when *= 1000;
    }
    if when > i64::MAX - basetime {
        return Err(Error::invalid_expire(name));
    }
    when += basetime;
    let key = ctx.arg(1).clone();
    if !exists_write(ctx, &key) {
        ctx.reply.int(0);
        return Ok(());
    }
    if flags != 0 {
        let current = ctx.db().expire_at(&key);
        let refused = (flags & EXPIRE_NX != 0 && current.is_some())
            || (flags & EXPIRE_XX != 0 && current.is_none())
            // No deadline counts as infinite: GT always fails on it.
            || (flags & EXPIRE_GT != 0 && !matches!(current, Some(c) if when > c))
            || (flags & EXPIRE_LT != 0 && matches!(current, Some(c) if when >= c));
        if refused {
            ctx.reply.int(0);
            return Ok(());
        }
    }
    if when <= ctx.now_ms {
        // A deadline in the past deletes the key (propagated as DEL).
        let del = crate::propagate::del_or_unlink(ctx.state, "lazyfree-lazy-expire");
        ctx.propagate_rewrite(vec![del, key.clone()]);
        ctx.db().delete(&key, i64::MIN);
        ctx.add_dirty(1);
        ctx.signal_modified(&key);
        ctx.notify('g', "del", &key);
    } else {
        // Propagated as PEXPIREAT with the absolute deadline.
        if ctx.propagating() {
            let mut argv = ctx.args.to_vec();
            argv[0] = Bytes::from_static(b"PEXPIREAT");
            argv[2] = crate::propagate::int_arg(when);
            ctx.propagate_rewrite(argv);
        }
        ctx.db().set_expire(&key, when);
        ctx.signal_modified(&key);
        ctx.notify('g', "expire", &key);
        ctx.add_dirty(1);
    }
    ctx.reply.int(1);
    Ok(())
}

/// EXPIRE key seconds [NX|XX|GT|LT]
fn expire(ctx: &mut Ctx) -> CmdResult {
    let now = ctx.now_ms;
    expire_generic(ctx, now, true)
}

/// PEXPIRE key milliseconds [NX|XX|GT|LT]
fn pexpire(ctx: &mut Ctx) -> CmdResult {
    let now = ctx.now_ms;
    expire_generic(ctx, now, false)
}

/// EXPIREAT key unix-time-seconds [NX|XX|GT|LT]
fn expireat(ctx: &mut Ctx) -> CmdResult {
    expire_generic(ctx, 0, true)
}

/// PEXPIREAT key unix-time-milliseconds [NX|XX|GT|LT]
fn pexpireat(ctx: &mut Ctx) -> CmdResult {
    expire_generic(ctx, 0, false)
}

/// TTL / PTTL / EXPIRETIME / PEXPIRETIME (Redis's `ttlGenericCommand`).
fn ttl_generic(ctx: &mut Ctx, ms: bool, absolute: bool) -> CmdResult {
    let key = ctx.arg(1).clone();
    if !exists_counted(ctx, &key) {
        ctx.reply.int(-2);
        return Ok(());
    }
    match ctx.db().expire_at(&key) {
        None => ctx.reply.int(-1),
        Some(at) => {
            let ttl = if absolute { at } else { at - ctx.now_ms }.max(0);
            ctx.reply.int(if ms { ttl } else { (ttl + 500) / 1000 });
        }
    }
    Ok(())
}

/// TTL key
fn ttl(ctx: &mut Ctx) -> CmdResult {
    ttl_generic(ctx, false, false)
}

/// PTTL key
fn pttl(ctx: &mut Ctx) -> CmdResult {
    ttl_generic(ctx, true, false)
}

/// EXPIRETIME key
fn expiretime(ctx: &mut Ctx) -> CmdResult {
    ttl_generic(ctx, false, true)
}

/// PEXPIRETIME key
fn pexpiretime(ctx: &mut Ctx) -> CmdResult {
    ttl_generic(ctx, true, true)
}

/// PERSIST key
fn persist(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.arg(1).clone();
    if exists_write(ctx, &key) && ctx.db().persist(&key) {
        ctx.signal_modified(&key);
        ctx.notify('g', "persist", &key);
        ctx.add_dirty(1);
        ctx.reply.int(1);
    } else {
        ctx.reply.int(0);
    }
    Ok(())
}

/// KEYS pattern
fn keys(ctx: &mut Ctx) -> CmdResult {
    let filter = KeysFilter::new(ctx.arg(1).clone());
    let now = ctx.now_ms;
    let db = ctx.db();
    // Expired keys are skipped, not removed (Redis's `keyIsExpired`).
    let mut found: Vec<Bytes> = db
        .iter()
        .filter(|(k, _)| filter.matches(k) && !db.is_expired(k, now))
        .map(|(k, _)| k.clone())
        .collect();
    // The cold records were read ahead off the lock (`tier::command_tickets`).
    db.cold_keys_matching(&filter, now, |k| found.push(Bytes::copy_from_slice(k)));
    ctx.reply.array(found.len());
    for k in &found {
        ctx.reply.bulk(k);
    }
    Ok(())
}

/// Parses a SCAN cursor exactly as Redis's `parseScanCursorOrReply`
/// (`strtoul` in base 10: optional sign, a negative value wraps, no
/// leading space, nothing after the digits; the text ends at a NUL byte).
pub fn parse_scan_cursor(arg: &[u8]) -> Result<u64, Error> {
    let invalid = || Error::err("invalid cursor");
    let s = match arg.iter().position(|&b| b == 0) {
        Some(i) => &arg[..i],
        None => arg,
    };
    let Some(&first) = s.first() else {
        return Ok(0);
    };
    if matches!(first, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r') {
        return Err(invalid());
    }
    let (negative, digits) = match first {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(invalid());
    }
    let mut v: u64 = 0;
    for &d in digits {
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(d - b'0')))
            .ok_or_else(invalid)?;
    }
    Ok(if negative { v.wrapping_neg() } else { v })
}

/// SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]
/// SCAN's arguments: `SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]`.
pub struct ScanArgs {
    pub cursor: u64,
    pub count: usize,
    pub pattern: Option<Bytes>,
    pub typename: Option<Bytes>,
}

/// Parses SCAN's arguments (`args[0]` is the command name).
pub fn parse_scan_args(args: &[Bytes]) -> Result<ScanArgs, Error> {
    let cursor = parse_scan_cursor(args.get(1).map_or(&[][..], |a| &a[..]))?;
    let mut count: i64 = 10;
    let mut pattern: Option<Bytes> = None;
    let mut typename: Option<Bytes> = None;
    let mut i = 2;
    while i < args.len() {
        let left = args.len() - i;
        let a = &args[i];
        if crate::args::is(a, "count") && left >= 2 {
            count = crate::args::int(&args[i + 1])?;
            if count < 1 {
                return Err(Error::Syntax);
            }
        } else if crate::args::is(a, "match") && left >= 2 {
            let p = args[i + 1].clone();
            // A lone `*` is not applied at all.
            pattern = if &p[..] == b"*" { None } else { Some(p) };
        } else if crate::args::is(a, "type") && left >= 2 {
            typename = Some(args[i + 1].clone());
        } else {
            return Err(Error::Syntax);
        }
        i += 2;
    }
    Ok(ScanArgs {
        cursor,
        count: usize::try_from(count).unwrap_or(usize::MAX),
        pattern,
        typename,
    })
}

fn scan(ctx: &mut Ctx) -> CmdResult {
    let ScanArgs {
        cursor,
        count,
        pattern,
        typename,
    } = parse_scan_args(ctx.args)?;
    let now = ctx.now_ms;
    let (next, candidates) = ctx.db().scan_keys(cursor, count);
    let hopeless = pattern.as_ref().is_some_and(|p| !pattern_can_match(p));
    let mut out = Vec::with_capacity(candidates.len());
    for k in candidates {
        if let Some(p) = &pattern {
            if hopeless || !key_match(p, &k) {
                continue;
            }
        }
        if let Some(t) = &typename {
            // As Redis: a key found expired here is removed and reads as
            // "none" (and then passes the expiry filter below).
            let name = match ctx.db().key_type(&k, now) {
                Some(t) => t.name(),
                None => "none",
            };
            if !t.eq_ignore_ascii_case(name.as_bytes()) {
                continue;
            }
        }
        if ctx.db().expire_if_needed(&k, now) {
            continue;
        }
        out.push(k);
    }
    ctx.reply.array(2);
    ctx.reply.bulk_int(next as i64);
    ctx.reply.array(out.len());
    for k in &out {
        ctx.reply.bulk(k);
    }
    Ok(())
}

/// RANDOMKEY
fn randomkey(ctx: &mut Ctx) -> CmdResult {
    let now = ctx.now_ms;
    match ctx.db().random_key(now) {
        Some(k) => ctx.reply.bulk(&k),
        None => ctx.reply.null(),
    }
    Ok(())
}

/// DBSIZE
fn dbsize(ctx: &mut Ctx) -> CmdResult {
    let n = ctx.db().len() as i64;
    ctx.reply.int(n);
    Ok(())
}

/// TOUCH key [key ...]
fn touch(ctx: &mut Ctx) -> CmdResult {
    let mut n = 0;
    for i in 1..ctx.args.len() {
        let key = ctx.args[i].clone();
        if ctx.lookup_read(&key).is_some() {
            n += 1;
        }
    }
    ctx.reply.int(n);
    Ok(())
}

/// True if `maxmemory-policy` is an LFU policy.
fn lfu_policy(ctx: &Ctx) -> bool {
    ctx.state.config.get("maxmemory-policy").contains("lfu")
}

/// OBJECT <subcommand>: the container. The dispatcher routes every
/// subcommand (HELP included), so this only answers an unknown one.
fn object(ctx: &mut Ctx) -> CmdResult {
    Err(Error::unknown_subcommand("object", ctx.arg(1)))
}

/// OBJECT ENCODING key
fn object_encoding(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.arg(2).clone();
    match lookup_notouch(ctx, &key) {
        Some(e) => {
            let enc = e.value.encoding();
            ctx.reply.bulk(enc.as_bytes());
        }
        None => ctx.reply.null(),
    }
    Ok(())
}

/// OBJECT FREQ's error when the policy does not track frequency.
fn no_lfu_error() -> Error {
    Error::err("An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.")
}

/// OBJECT FREQ key
fn object_freq(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.arg(2).clone();
    let now = ctx.now_ms;
    let params = ctx.db().lfu;
    if !ctx.db().is_resident(&key) {
        // A cold key: the counter saved in its record, no promotion.
        if let Some(m) = ctx.db().cold_meta(&key, now) {
            if !lfu_policy(ctx) {
                return Err(no_lfu_error());
            }
            ctx.reply.int(i64::from(m.lfu));
            return Ok(());
        }
    }
    let Some(e) = lookup_notouch(ctx, &key) else {
        ctx.reply.null();
        return Ok(());
    };
    let counter = e.lfu;
    if !lfu_policy(ctx) {
        return Err(no_lfu_error());
    }
    ctx.reply.int(i64::from(counter.decayed(now, params)));
    Ok(())
}

/// OBJECT IDLETIME key
fn object_idletime(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.arg(2).clone();
    let now = ctx.now_ms;
    let Some(e) = lookup_notouch(ctx, &key) else {
        ctx.reply.null();
        return Ok(());
    };
    let idle = e.idle_ms(now);
    if lfu_policy(ctx) {
        return Err(Error::err(
            "An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.",
        ));
    }
    ctx.reply.int((idle / 1000) as i64);
    Ok(())
}

/// OBJECT REFCOUNT key
fn object_refcount(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.arg(2).clone();
    let Some(e) = lookup_notouch(ctx, &key) else {
        ctx.reply.null();
        return Ok(());
    };
    let shared = e.is_shared_integer();
    // Redis shares small integers unless an LRU/LFU policy is in force
    // with a memory limit (each key then needs its own access clock).
    let policy = ctx.state.config.get("maxmemory-policy");
    let sharing =
        ctx.state.config.hot.maxmemory == 0 || !(policy.contains("lru") || policy.contains("lfu"));
    ctx.reply.int(if shared && sharing {
        i64::from(i32::MAX)
    } else {
        1
    });
    Ok(())
}

const OBJECT_HELP: &[&str] = &[
    "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
    "HELP",
    "    Prints this help.",
];

/// OBJECT HELP
fn object_help(ctx: &mut Ctx) -> CmdResult {
    ctx.reply.array(OBJECT_HELP.len());
    for line in OBJECT_HELP {
        ctx.reply.simple(line);
    }
    Ok(())
}

const W: Flags = Flags::WRITE;
const R: Flags = Flags::READONLY;
const F: Flags = Flags::FAST;

/// Keys of COPY and RENAME: the first two arguments.
const TWO_KEYS: Keys = Keys::Range {
    first: 1,
    last: 2,
    step: 1,
};

/// Key of OBJECT's subcommands: the argument after the subcommand.
const SUB_KEY: Keys = Keys::Range {
    first: 2,
    last: 2,
    step: 1,
};

static OBJECT_SUBS: &[CommandSpec] = &[
    CommandSpec::new("object|encoding", 3, R, SUB_KEY, object_encoding).doc(
        "generic",
        "2.2.3",
        "Inspect the internal encoding of a Redis object",
    ),
    CommandSpec::new("object|freq", 3, R, SUB_KEY, object_freq).doc(
        "generic",
        "4.0.0",
        "Get the logarithmic access frequency counter of a Redis object",
    ),
    CommandSpec::new("object|idletime", 3, R, SUB_KEY, object_idletime).doc(
        "generic",
        "2.2.3",
        "Get the time since a Redis object was last accessed",
    ),
    CommandSpec::new("object|refcount", 3, R, SUB_KEY, object_refcount).doc(
        "generic",
        "2.2.3",
        "Get the number of references to the value of the key",
    ),
    CommandSpec::new(
        "object|help",
        2,
        Flags::LOADING.or(Flags::STALE),
        Keys::None,
        object_help,
    )
    .doc(
        "generic",
        "6.2.0",
        "Show helpful text about the different subcommands",
    ),
];

pub static TABLE: &[CommandSpec] = &[
    CommandSpec::new("del", -2, W, Keys::all_from(1), del).doc("generic", "1.0.0", "Delete a key"),
    CommandSpec::new("unlink", -2, W.or(F), Keys::all_from(1), unlink).doc(
        "generic",
        "4.0.0",
        "Delete a key asynchronously in another thread. Otherwise it is just as DEL, but non blocking.",
    ),
    CommandSpec::new("exists", -2, R.or(F), Keys::all_from(1), exists).doc(
        "generic",
        "1.0.0",
        "Determine if a key exists",
    ),
    CommandSpec::new("type", 2, R.or(F), Keys::one(), type_).doc(
        "generic",
        "1.0.0",
        "Determine the type stored at key",
    ),
    CommandSpec::new("rename", 3, W, TWO_KEYS, rename).doc("generic", "1.0.0", "Rename a key"),
    CommandSpec::new("renamenx", 3, W.or(F), TWO_KEYS, renamenx).doc(
        "generic",
        "1.0.0",
        "Rename a key, only if the new key does not exist",
    ),
    CommandSpec::new("copy", -3, W.or(Flags::DENYOOM), TWO_KEYS, copy).doc(
        "generic",
        "6.2.0",
        "Copy a key",
    ),
    CommandSpec::new("move", 3, W.or(F), Keys::one(), move_).doc(
        "generic",
        "1.0.0",
        "Move a key to another database",
    ),
    CommandSpec::new("swapdb", 3, W.or(F), Keys::None, swapdb).doc(
        "server",
        "4.0.0",
        "Swaps two Redis databases",
    ),
    CommandSpec::new("flushdb", -1, W, Keys::None, flushdb).doc(
        "server",
        "1.0.0",
        "Remove all keys from the current database",
    ),
    CommandSpec::new("flushall", -1, W, Keys::None, flushall).doc(
        "server",
        "1.0.0",
        "Remove all keys from all databases",
    ),
    CommandSpec::new("expire", -3, W.or(F), Keys::one(), expire).doc(
        "generic",
        "1.0.0",
        "Set a key's time to live in seconds",
    ),
    CommandSpec::new("pexpire", -3, W.or(F), Keys::one(), pexpire).doc(
        "generic",
        "2.6.0",
        "Set a key's time to live in milliseconds",
    ),
    CommandSpec::new("expireat", -3, W.or(F), Keys::one(), expireat).doc(
        "generic",
        "1.2.0",
        "Set the expiration for a key as a UNIX timestamp",
    ),
    CommandSpec::new("pexpireat", -3, W.or(F), Keys::one(), pexpireat).doc(
        "generic",
        "2.6.0",
        "Set the expiration for a key as a UNIX timestamp specified in milliseconds",
    ),
    CommandSpec::new("expiretime", 2, R.or(F), Keys::one(), expiretime).doc(
        "generic",
        "7.0.0",
        "Get the expiration Unix timestamp for a key",
    ),
    CommandSpec::new("pexpiretime", 2, R.or(F), Keys::one(), pexpiretime).doc(
        "generic",
        "7.0.0",
        "Get the expiration Unix timestamp for a key in milliseconds",
    ),
    CommandSpec::new("ttl", 2, R.or(F), Keys::one(), ttl).doc(
        "generic",
        "1.0.0",
        "Get the time to live for a key in seconds",
    ),
    CommandSpec::new("pttl", 2, R.or(F), Keys::one(), pttl).doc(
        "generic",
        "2.6.0",
        "Get the time to live for a key in milliseconds",
    ),
    CommandSpec::new("persist", 2, W.or(F), Keys::one(), persist).doc(
        "generic",
        "2.2.0",
        "Remove the expiration from a key",
    ),
    CommandSpec::new("keys", 2, R, Keys::None, keys).doc(
        "generic",
        "1.0.0",
        "Find all keys matching the given pattern",
    ),
    CommandSpec::new("scan", -2, R, Keys::None, scan).doc(
        "generic",
        "2.8.0",
        "Incrementally iterate the keys space",
    ),
    CommandSpec::new("randomkey", 1, R, Keys::None, randomkey).doc(
        "generic",
        "1.0.0",
        "Return a random key from the keyspace",
    ),
    CommandSpec::new("dbsize", 1, R.or(F), Keys::None, dbsize).doc(
        "server",
        "1.0.0",
        "Return the number of keys in the selected database",
    ),
    CommandSpec::new("touch", -2, R.or(F), Keys::all_from(1), touch).doc(
        "generic",
        "3.2.1",
        "Alters the last access time of a key(s). Returns the number of existing keys specified.",
    ),
    CommandSpec::new("object", -2, Flags::NONE, Keys::None, object)
        .doc(
            "generic",
            "2.2.3",
            "A container for object introspection commands",
        )
        .subs(OBJECT_SUBS),
];

#[cfg(test)]
mod tests {
    use super::parse_scan_cursor as p;

    #[test]
    fn scan_cursor_like_strtoul() {
        assert_eq!(p(b"0"), Ok(0));
        assert_eq!(p(b""), Ok(0));
        assert_eq!(p(b"+7"), Ok(7));
        assert_eq!(p(b"-1"), Ok(u64::MAX));
        assert_eq!(p(b"-0"), Ok(0));
        assert_eq!(p(b"18446744073709551615"), Ok(u64::MAX));
        assert!(p(b"18446744073709551616").is_err());
        assert!(p(b" 1").is_err());
        assert!(p(b"1 ").is_err());
        assert!(p(b"0x1").is_err());
        assert!(p(b"+").is_err());
        assert!(p(b"-").is_err());
        assert!(p(b"abc").is_err());
        assert_eq!(p(b"5\0zz"), Ok(5));
    }
}
