//! SORT and SORT_RO: sort the elements of a list, set or sorted set,
//! optionally by external keys (`BY weight_*`, `BY hash_*->field`), and
//! fetch external values (`GET #`, `GET obj_*`, `GET hash_*->field`).

use std::cmp::Ordering;

use bytes::Bytes;
use strata_storage::keyspace::Db;
use strata_storage::list::{End, List};
use strata_storage::value::Value;

use crate::args::{self, Cursor};
use crate::command::{CommandSpec, Ctx, Flags, Keys};
use crate::error::{CmdResult, Error};

/// The key a SORT pattern names for element `subst` (the first `*`
/// replaced by it) and the hash field after `->`, if any. `None` for `#`
/// (the element itself) and for a pattern without `*`.
fn pattern_key<'p>(pattern: &'p [u8], subst: &[u8]) -> Option<(Vec<u8>, Option<&'p [u8]>)> {
    if pattern == b"#" {
        return None;
    }
    let star = pattern.iter().position(|&c| c == b'*')?;
    let arrow = pattern[star + 1..]
        .windows(2)
        .position(|w| w == b"->")
        .map(|i| star + 1 + i);
    let (key_pattern, field) = match arrow {
        Some(a) if a + 2 < pattern.len() => (&pattern[..a], Some(&pattern[a + 2..])),
        _ => (pattern, None),
    };
    let mut key = Vec::with_capacity(key_pattern.len() + subst.len());
    key.extend_from_slice(&key_pattern[..star]);
    key.extend_from_slice(subst);
    key.extend_from_slice(&key_pattern[star + 1..]);
    Some((key, field))
}

/// Redis's `lookupKeyByPattern`: reads the key `pattern` names for
/// `subst` (a string), or that hash's field after `->`. `#` is the
/// element itself. A pattern without `*` finds nothing.
fn lookup_by_pattern(ctx: &mut Ctx, pattern: &[u8], subst: &Bytes) -> Option<Bytes> {
    if pattern == b"#" {
        return Some(subst.clone());
    }
    let (key, field) = pattern_key(pattern, subst)?;
    let entry = ctx.lookup_read(&key)?;
    match (&entry.value, field) {
        (Value::Hash(h), Some(f)) => h.get(f).map(|e| e.to_bytes()),
        (Value::Str(s), None) => Some(s.to_bytes()),
        _ => None,
    }
}

/// The keys a SORT's BY and GET patterns name for the elements of its
/// source, if the source is in memory (the tiering reads them ahead, off
/// the lock); within the bounds of [`pattern_keys_of`].
pub fn pattern_keys(db: &Db, args: &[Bytes], max: PatternReads) -> Vec<Vec<u8>> {
    match args.get(1).and_then(|k| db.peek(k)) {
        Some(entry) => pattern_keys_of(&entry.value, args, max),
        None => Vec::new(),
    }
}

/// How many pattern keys one SORT reads ahead at most.
#[derive(Clone, Copy, Debug)]
pub struct PatternReads {
    /// Keys BY names: the sort needs every one of them.
    pub by: usize,
    /// Keys GET names: LIMIT may need only a few, so more are read as
    /// the command runs.
    pub get: usize,
}

/// The keys a SORT's BY and GET patterns name for the elements of
/// `source`: BY's if they are at most `max.by`, GET's if they are at most
/// `max.get`. The arguments are looked at as SORT parses them; a wrong
/// guess costs only a wasted read.
pub fn pattern_keys_of(source: &Value, args: &[Bytes], max: PatternReads) -> Vec<Vec<u8>> {
    let (mut by, mut get): (Vec<&[u8]>, Vec<&[u8]>) = (Vec::new(), Vec::new());
    let mut i = 2;
    while i < args.len() {
        let left = args.len() - i - 1;
        let a = &args[i];
        if args::is(a, "by") && left >= 1 {
            by.push(&args[i + 1]);
            i += 2;
        } else if args::is(a, "get") && left >= 1 {
            get.push(&args[i + 1]);
            i += 2;
        } else if args::is(a, "limit") && left >= 2 {
            i += 3;
        } else if args::is(a, "store") && left >= 1 {
            i += 2;
        } else {
            i += 1;
        }
    }
    let len = match source {
        Value::List(l) => l.len(),
        Value::Set(s) => s.len(),
        Value::ZSet(z) => z.len(),
        _ => return Vec::new(),
    };
    let mut patterns: Vec<&[u8]> = Vec::new();
    for (pats, max) in [(by, max.by), (get, max.get)] {
        let pats: Vec<&[u8]> = pats.into_iter().filter(|p| p.contains(&b'*')).collect();
        if len.saturating_mul(pats.len()) <= max {
            patterns.extend(pats);
        }
    }
    if patterns.is_empty() {
        return Vec::new();
    }
    let elems: Vec<Bytes> = match source {
        Value::List(l) => l.iter().cloned().collect(),
        Value::Set(s) => s.iter().map(|e| e.to_bytes()).collect(),
        Value::ZSet(z) => z.iter().map(|(m, _)| m.clone()).collect(),
        _ => return Vec::new(),
    };
    let mut keys = Vec::with_capacity(elems.len() * patterns.len());
    for p in &patterns {
        keys.extend(
            elems
                .iter()
                .filter_map(|e| pattern_key(p, e).map(|(k, _)| k)),
        );
    }
    keys.sort_unstable();
    keys.dedup();
    keys
}

struct Item {
    elem: Bytes,
    score: f64,
    by: Option<Bytes>,
}

/// SORT key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC|DESC] [ALPHA] [STORE destination]
fn sort(ctx: &mut Ctx) -> CmdResult {
    sort_generic(ctx, false)
}

/// SORT_RO key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC|DESC] [ALPHA]
fn sort_ro(ctx: &mut Ctx) -> CmdResult {
    sort_generic(ctx, true)
}

fn sort_generic(ctx: &mut Ctx, read_only: bool) -> CmdResult {
    let key = ctx.arg(1).clone();
    let (mut desc, mut alpha) = (false, false);
    let (mut offset, mut count) = (0i64, -1i64);
    let mut sortby: Option<Bytes> = None;
    let mut dontsort = false;
    let mut store: Option<Bytes> = None;
    let mut gets: Vec<Bytes> = Vec::new();
    let mut c = Cursor::new(ctx.args, 2);
    while let Some(a) = c.next() {
        let left = c.remaining();
        if args::is(a, "asc") {
            desc = false;
        } else if args::is(a, "desc") {
            desc = true;
        } else if args::is(a, "alpha") {
            alpha = true;
        } else if args::is(a, "limit") && left >= 2 {
            offset = c.int()?;
            count = c.int()?;
        } else if args::is(a, "store") && left >= 1 && !read_only {
            store = Some(c.value()?.clone());
        } else if args::is(a, "by") && left >= 1 {
            let p = c.value()?.clone();
            // A pattern without '*' means "don't sort".
            if !p.contains(&b'*') {
                dontsort = true;
            }
            sortby = Some(p);
        } else if args::is(a, "get") && left >= 1 {
            gets.push(c.value()?.clone());
        } else {
            return Err(Error::Syntax);
        }
    }

    // The source: a list, set or sorted set (missing = empty).
    let mut is_set = false;
    let elems: Vec<Bytes> = match ctx.lookup_read(&key).map(|e| &e.value) {
        None => Vec::new(),
        Some(Value::List(l)) => l.iter().cloned().collect(),
        Some(Value::Set(s)) => {
            is_set = true;
            s.iter().map(|e| e.to_bytes()).collect()
        }
        Some(Value::ZSet(z)) => z.iter().map(|(m, _)| m.clone()).collect(),
        Some(_) => return Err(Error::WrongType),
    };
    // Sets have no order: sort them anyway when storing (determinism).
    if dontsort && is_set && store.is_some() {
        dontsort = false;
        alpha = true;
        sortby = None;
    }

    let len = elems.len() as i64;
    let start = offset.max(0);
    let mut end = if count < 0 {
        len - 1
    } else {
        start.saturating_add(count).saturating_sub(1)
    };
    let (start, end_adj) = if start >= len {
        (len - 1, len - 2)
    } else {
        (start, end)
    };
    end = end_adj.min(len - 1);
    let outlen = if end >= start {
        (end - start + 1) as usize
    } else {
        0
    };

    let mut items: Vec<Item> = elems
        .into_iter()
        .map(|elem| Item {
            elem,
            score: 0.0,
            by: None,
        })
        .collect();
    if !dontsort {
        let bypattern = sortby.is_some();
        for it in items.iter_mut() {
            let byval = match &sortby {
                Some(p) => {
                    let p = p.clone();
                    match lookup_by_pattern(ctx, &p, &it.elem) {
                        Some(v) => v,
                        None => continue,
                    }
                }
                None => it.elem.clone(),
            };
            if alpha {
                if bypattern {
                    it.by = Some(byval);
                }
            } else {
                let (v, used, range) = strata_storage::zset::strtod(&byval);
                if used != byval.len() || range || v.is_nan() {
                    return Err(Error::err(
                        "One or more scores can't be converted into double",
                    ));
                }
                it.score = v;
            }
        }
        let cmp = |a: &Item, b: &Item| -> Ordering {
            let o = if !alpha {
                a.score
                    .partial_cmp(&b.score)
                    .unwrap_or(Ordering::Equal)
                    .then_with(|| a.elem.cmp(&b.elem))
            } else if bypattern {
                match (&a.by, &b.by) {
                    (None, None) => Ordering::Equal,
                    (None, Some(_)) => Ordering::Less,
                    (Some(_), None) => Ordering::Greater,
                    (Some(x), Some(y)) => x.cmp(y),
                }
            } else {
                a.elem.cmp(&b.elem)
            };
            if desc {
                o.reverse()
            } else {
                o
            }
        };
        items.sort_by(cmp);
    } else if desc && !is_set {
        items.reverse();
    }

    let selected: Vec<Bytes> = if outlen == 0 {
        Vec::new()
    } else {
        items
            .into_iter()
            .skip(start as usize)
            .take(outlen)
            .map(|i| i.elem)
            .collect()
    };

    match store {
        None => {
            let per = gets.len().max(1);
            ctx.reply.array(selected.len() * per);
            for e in &selected {
                if gets.is_empty() {
                    ctx.reply.bulk(e);
                    continue;
                }
                for g in gets.clone() {
                    match lookup_by_pattern(ctx, &g, e) {
                        Some(v) => ctx.reply.bulk(&v),
                        None => ctx.reply.null(),
                    }
                }
            }
        }
        Some(dst) => {
            let mut list = List::new();
            for e in &selected {
                if gets.is_empty() {
                    list.push(End::Right, e.clone());
                    continue;
                }
                for g in gets.clone() {
                    let v = lookup_by_pattern(ctx, &g, e).unwrap_or_default();
                    list.push(End::Right, v);
                }
            }
            let n = list.len();
            let now = ctx.now_ms;
            if n > 0 {
                ctx.db()
                    .set(Bytes::copy_from_slice(&dst), Value::List(list), now);
                ctx.signal_modified(&dst);
                ctx.notify('l', "sortstore", &dst);
                ctx.signal_key_ready(&dst);
                ctx.add_dirty(n as u64);
            } else if ctx.db().contains(&dst, now) {
                ctx.db().remove(&dst);
                ctx.signal_modified(&dst);
                ctx.notify('g', "del", &dst);
                ctx.add_dirty(1);
            }
            ctx.reply.int(n as i64);
        }
    }
    Ok(())
}

/// SORT's keys: the source, plus the STORE destination if any.
fn sort_keys(args: &[Bytes]) -> Vec<usize> {
    let mut keys = vec![1];
    let mut i = 2;
    while i < args.len() {
        let a = &args[i];
        if args::is(a, "limit") {
            i += 3;
            continue;
        }
        if (args::is(a, "by") || args::is(a, "get")) && i + 1 < args.len() {
            i += 2;
            continue;
        }
        if args::is(a, "store") && i + 1 < args.len() {
            keys.push(i + 1);
            i += 2;
            continue;
        }
        i += 1;
    }
    keys
}

pub static TABLE: &[CommandSpec] = &[
    CommandSpec::new(
        "sort",
        -2,
        Flags::WRITE.or(Flags::DENYOOM),
        Keys::Custom {
            legacy: (1, 1, 1),
            find: sort_keys,
        },
        sort,
    )
    .doc(
        "generic",
        "1.0.0",
        "Sorts the elements in a list, a set, or a sorted set, optionally storing the result.",
    ),
    CommandSpec::new("sort_ro", -2, Flags::READONLY, Keys::one(), sort_ro).doc(
        "generic",
        "7.0.0",
        "Returns the sorted elements of a list, a set, or a sorted set.",
    ),
];
