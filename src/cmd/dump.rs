//! DUMP and RESTORE: values as Redis 7.0 DUMP payloads (RDB object
//! encoding + RDB version + CRC64), byte-compatible with Redis both ways.
//! RESTORE validates the payload deeply before anything is stored.

use bytes::Bytes;
use strata_storage::hash::HashLimits;
use strata_storage::keyspace::Entry;
use strata_storage::lfu::Lfu;
use strata_storage::rdb::convert::{self, Limits};
use strata_storage::rdb::{restore_payload, PayloadError};

use crate::args::{self, Cursor};
use crate::command::{CommandSpec, Ctx, Flags, Keys};
use crate::error::{CmdResult, Error};

/// Encoding thresholds from the configuration.
pub fn limits(ctx: &Ctx) -> Limits {
    let e = ctx.state.config.hot.encodings;
    Limits {
        hash: HashLimits {
            max_entries: e.hash_max_listpack_entries,
            max_value: e.hash_max_listpack_value,
        },
        zset: strata_storage::zset::Limits {
            max_entries: e.zset_max_listpack_entries,
            max_value: e.zset_max_listpack_value,
        },
        set_max_intset_entries: e.set_max_intset_entries,
    }
}

/// DUMP key
fn dump(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.arg(1).clone();
    let payload = ctx.lookup_read(&key).map(|e| convert::dump(&e.value));
    match payload {
        Some(p) => ctx.reply.bulk(&p),
        None => ctx.reply.null(),
    }
    Ok(())
}

/// RESTORE key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]
fn restore(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.arg(1).clone();
    let (mut replace, mut absttl) = (false, false);
    let mut idle: Option<i64> = None;
    let mut freq: Option<i64> = None;
    let mut c = Cursor::new(ctx.args, 4);
    while let Some(a) = c.next() {
        let more = c.remaining() >= 1;
        if args::is(a, "replace") {
            replace = true;
        } else if args::is(a, "absttl") {
            absttl = true;
        } else if args::is(a, "idletime") && more && freq.is_none() {
            let v = c.int()?;
            if v < 0 {
                return Err(Error::err("Invalid IDLETIME value, must be >= 0"));
            }
            idle = Some(v);
        } else if args::is(a, "freq") && more && idle.is_none() {
            let v = c.int()?;
            if !(0..=255).contains(&v) {
                return Err(Error::err("Invalid FREQ value, must be >= 0 and <= 255"));
            }
            freq = Some(v);
        } else {
            return Err(Error::Syntax);
        }
    }
    let now = ctx.now_ms;
    if !replace && ctx.db().contains(&key, now) {
        return Err(Error::custom("BUSYKEY Target key name already exists."));
    }
    let ttl = args::int(ctx.arg(2))?;
    if ttl < 0 {
        return Err(Error::err("Invalid TTL value, must be >= 0"));
    }
    let rdb = restore_payload(ctx.arg(3)).map_err(|e| match e {
        PayloadError::VersionOrChecksum => Error::err("DUMP payload version or checksum are wrong"),
        PayloadError::BadData => Error::err("Bad data format"),
    })?;
    let limits = limits(ctx);
    let value = convert::from_rdb(rdb, limits).ok_or_else(|| Error::err("Bad data format"))?;
    let deleted = replace && ctx.db().remove(&key).is_some();
    let deadline = if ttl == 0 {
        None
    } else if absttl {
        Some(ttl)
    } else {
        Some(ttl.saturating_add(now))
    };
    if deadline.is_some_and(|at| at <= now) {
        if deleted {
            let del = crate::propagate::del_or_unlink(ctx.state, "lazyfree-lazy-server-del");
            ctx.propagate_rewrite(vec![del, key.clone()]);
            ctx.signal_modified(&key);
            ctx.notify('g', "del", &key);
            ctx.add_dirty(1);
        }
        ctx.reply.ok();
        return Ok(());
    }
    let mut entry = Entry::new(value, now);
    if let Some(f) = freq {
        entry.lfu = Lfu((u32::from(strata_storage::lfu::minutes(now)) << 8) | f as u32);
    }
    if let Some(secs) = idle {
        entry.set_idle(now, secs);
    }
    if let (Some(at), false, true) = (deadline, absttl, ctx.propagating()) {
        // Propagate the TTL as an absolute time.
        let mut argv = ctx.args.to_vec();
        argv[2] = crate::propagate::int_arg(at);
        argv.push(Bytes::from_static(b"ABSTTL"));
        ctx.propagate_rewrite(argv);
    }
    ctx.db()
        .insert_entry(Bytes::copy_from_slice(&key), entry, deadline);
    ctx.signal_modified(&key);
    ctx.notify('g', "restore", &key);
    ctx.signal_key_ready(&key);
    ctx.add_dirty(1);
    ctx.reply.ok();
    Ok(())
}

pub static TABLE: &[CommandSpec] = &[
    CommandSpec::new("dump", 2, Flags::READONLY, Keys::one(), dump).doc(
        "generic",
        "2.6.0",
        "Returns a serialized representation of the value stored at a key.",
    ),
    CommandSpec::new(
        "restore",
        -4,
        Flags::WRITE.or(Flags::DENYOOM),
        Keys::one(),
        restore,
    )
    .doc(
        "generic",
        "2.6.0",
        "Creates a key from the serialized representation of a value.",
    ),
];
