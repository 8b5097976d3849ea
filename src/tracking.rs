//! Server-assisted client-side caching: CLIENT TRACKING and invalidation.
//!
//! Default mode remembers, per key, the tracking clients that read it
//! (read-only commands, through their key positions in the command
//! table); a write to the key (`State::key_modified`) sends each of them
//! one invalidation and forgets them. BCAST mode instead matches every
//! modified key against the client's prefixes. Messages go to the client
//! itself over RESP3 (`>2 invalidate [keys]`) or to its REDIRECT client:
//! as a push for RESP3, or as a `__redis__:invalidate` pub/sub message for
//! a RESP2 client subscribed to that channel.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;

use crate::args;
use crate::client::ClientIo;
use crate::command::Ctx;
use crate::error::{CmdResult, Error};

/// The pub/sub channel RESP2 redirect clients receive invalidations on.
pub const INVALIDATE_CHANNEL: &[u8] = b"__redis__:invalidate";

/// One tracking client's options.
pub struct Tracker {
    /// Where the client's own pushes go.
    pub io: Arc<ClientIo>,
    /// REDIRECT target id (0 = none) and its connection.
    pub redirect: u64,
    pub redirect_io: Option<Arc<ClientIo>>,
    pub bcast: bool,
    pub optin: bool,
    pub optout: bool,
    pub noloop: bool,
    pub prefixes: Vec<Bytes>,
}

/// All tracking state.
#[derive(Default)]
pub struct Tracking {
    pub clients: HashMap<u64, Tracker>,
    /// Key -> ids of clients that may cache it (default mode).
    pub table: HashMap<Bytes, HashSet<u64>>,
    /// Number of BCAST clients (fast path when none).
    pub bcast_clients: usize,
}

impl Tracking {
    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }

    /// Remembers that client `id` read `key`.
    pub fn remember(&mut self, id: u64, key: &[u8], max_keys: usize) {
        if let Some(set) = self.table.get_mut(key) {
            set.insert(id);
            return;
        }
        if max_keys > 0 && self.table.len() >= max_keys {
            // Redis evicts tracked keys (sending invalidations) to stay
            // within tracking-table-max-keys; evict an arbitrary one.
            if let Some(victim) = self.table.keys().next().cloned() {
                self.invalidate(&victim, None, None);
            }
        }
        self.table
            .entry(Bytes::copy_from_slice(key))
            .or_default()
            .insert(id);
    }

    /// Sends invalidations for `key` (modified by client `by`, if any).
    /// `channel_subscribed` tells whether a RESP2 redirect target listens
    /// on `__redis__:invalidate`.
    pub fn invalidate(
        &mut self,
        key: &[u8],
        by: Option<u64>,
        channel_subscribed: Option<&dyn Fn(u64) -> bool>,
    ) {
        if let Some(ids) = self.table.remove(key) {
            for id in ids {
                if let Some(t) = self.clients.get(&id) {
                    if t.bcast || (t.noloop && Some(id) == by) {
                        continue;
                    }
                    send(t, Some(&[key]), channel_subscribed);
                }
            }
        }
        if self.bcast_clients > 0 {
            for (&id, t) in &self.clients {
                if !t.bcast || (t.noloop && Some(id) == by) {
                    continue;
                }
                if t.prefixes.is_empty() || t.prefixes.iter().any(|p| key.starts_with(p)) {
                    send(t, Some(&[key]), channel_subscribed);
                }
            }
        }
    }

    /// FLUSHDB/FLUSHALL: every tracking client gets a null invalidation.
    pub fn flush(&mut self, channel_subscribed: Option<&dyn Fn(u64) -> bool>) {
        self.table.clear();
        for t in self.clients.values() {
            send(t, None, channel_subscribed);
        }
    }

    pub fn disable(&mut self, id: u64) {
        if let Some(t) = self.clients.remove(&id) {
            if t.bcast {
                self.bcast_clients -= 1;
            }
        }
    }
}

fn bulk(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(format!("${}\r\n", b.len()).as_bytes());
    out.extend_from_slice(b);
    out.extend_from_slice(b"\r\n");
}

/// Encodes and queues one invalidation (`keys` None = flush).
fn send(t: &Tracker, keys: Option<&[&[u8]]>, channel_subscribed: Option<&dyn Fn(u64) -> bool>) {
    let (target, redirected) = match (&t.redirect_io, t.redirect) {
        (Some(io), r) if r != 0 => (io.clone(), true),
        _ => (t.io.clone(), false),
    };
    if redirected && target.is_killed() {
        // The redirect client is gone: tell the tracking client (RESP3).
        if t.io.resp3.load(Ordering::Relaxed) {
            let mut out = b">2\r\n".to_vec();
            bulk(&mut out, b"tracking-redir-broken");
            out.extend_from_slice(format!(":{}\r\n", t.redirect).as_bytes());
            t.io.send(&out);
        }
        return;
    }
    let resp3 = target.resp3.load(Ordering::Relaxed);
    let mut out = Vec::with_capacity(64);
    if resp3 {
        out.extend_from_slice(b">2\r\n");
        bulk(&mut out, b"invalidate");
    } else if redirected && channel_subscribed.is_some_and(|f| f(t.redirect)) {
        out.extend_from_slice(b"*3\r\n");
        bulk(&mut out, b"message");
        bulk(&mut out, INVALIDATE_CHANNEL);
    } else {
        // RESP2 without a subscribed redirect: nowhere to deliver.
        return;
    }
    match keys {
        Some(keys) => {
            out.extend_from_slice(format!("*{}\r\n", keys.len()).as_bytes());
            for k in keys {
                bulk(&mut out, k);
            }
        }
        None if resp3 => out.extend_from_slice(b"_\r\n"),
        None => out.extend_from_slice(b"*-1\r\n"),
    }
    target.send(&out);
}

/// CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p ...] [BCAST] [OPTIN] [OPTOUT] [NOLOOP]
pub fn client_tracking(ctx: &mut Ctx) -> CmdResult {
    let on = if args::is(&ctx.args[2], "on") {
        true
    } else if args::is(&ctx.args[2], "off") {
        false
    } else {
        return Err(Error::Syntax);
    };
    let (mut redirect, mut bcast, mut optin, mut optout, mut noloop) =
        (0u64, false, false, false, false);
    let mut prefixes: Vec<Bytes> = Vec::new();
    let mut i = 3;
    while i < ctx.args.len() {
        let a = &ctx.args[i];
        let has_next = i + 1 < ctx.args.len();
        if args::is(a, "redirect") && has_next {
            if redirect != 0 {
                return Err(Error::err(
                    "A client can only redirect to a single other client",
                ));
            }
            i += 1;
            let id = args::int(&ctx.args[i])?;
            redirect = id.max(0) as u64;
        } else if args::is(a, "bcast") {
            bcast = true;
        } else if args::is(a, "optin") {
            optin = true;
        } else if args::is(a, "optout") {
            optout = true;
        } else if args::is(a, "noloop") {
            noloop = true;
        } else if args::is(a, "prefix") && has_next {
            i += 1;
            prefixes.push(ctx.args[i].clone());
        } else {
            return Err(Error::Syntax);
        }
        i += 1;
    }
    let id = ctx.client.id;
    if !on {
        ctx.state.tracking.disable(id);
        ctx.client.tracking_caching = None;
        ctx.reply.ok();
        return Ok(());
    }
    let existing = ctx.state.tracking.clients.get(&id);
    if optin && optout {
        return Err(Error::err(
            "You can't specify both OPTIN mode and OPTOUT mode",
        ));
    }
    if !prefixes.is_empty() && !bcast {
        return Err(Error::err(
            "PREFIX option requires BCAST mode to be enabled",
        ));
    }
    if let Some(t) = existing {
        if t.bcast != bcast {
            return Err(Error::err(
                "You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.",
            ));
        }
        if (t.optin && optout) || (t.optout && optin) {
            return Err(Error::err(
                "You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode.",
            ));
        }
    }
    if bcast && (optin || optout) {
        return Err(Error::err("OPTIN and OPTOUT are not compatible with BCAST"));
    }
    let held: Vec<Bytes> = existing.map(|t| t.prefixes.clone()).unwrap_or_default();
    for p in &prefixes {
        for h in &held {
            if p.starts_with(h) || h.starts_with(p) {
                return Err(Error::err(format!(
                    "Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a single client must not overlap.",
                    String::from_utf8_lossy(p),
                    String::from_utf8_lossy(h)
                )));
            }
        }
    }
    for (a, p) in prefixes.iter().enumerate() {
        for (b, q) in prefixes.iter().enumerate() {
            if a != b && (p.starts_with(q) || q.starts_with(p)) {
                return Err(Error::err(format!(
                    "Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a single client must not overlap.",
                    String::from_utf8_lossy(p),
                    String::from_utf8_lossy(q)
                )));
            }
        }
    }
    let redirect_io = if redirect != 0 {
        match ctx.state.clients.get(&redirect) {
            Some(c) => Some(c.io.clone()),
            None if redirect == id => Some(ctx.client.io.clone()),
            None => {
                return Err(Error::err(
                    "The client ID you want redirect to does not exist",
                ))
            }
        }
    } else {
        None
    };
    ctx.client
        .io
        .resp3
        .store(ctx.client.resp3, Ordering::Relaxed);
    let tracking = &mut ctx.state.tracking;
    match tracking.clients.get_mut(&id) {
        Some(t) => {
            t.redirect = redirect;
            t.redirect_io = redirect_io;
            t.optin |= optin;
            t.optout |= optout;
            t.noloop |= noloop;
            t.prefixes.extend(prefixes);
        }
        None => {
            if bcast {
                tracking.bcast_clients += 1;
            }
            if bcast && prefixes.is_empty() {
                prefixes.push(Bytes::new());
            }
            tracking.clients.insert(
                id,
                Tracker {
                    io: ctx.client.io.clone(),
                    redirect,
                    redirect_io,
                    bcast,
                    optin,
                    optout,
                    noloop,
                    prefixes,
                },
            );
        }
    }
    ctx.reply.ok();
    Ok(())
}

/// CLIENT CACHING YES|NO
pub fn client_caching(ctx: &mut Ctx) -> CmdResult {
    let Some(t) = ctx
        .state
        .tracking
        .clients
        .get(&ctx.client.id)
        .filter(|t| t.optin || t.optout)
    else {
        return Err(Error::err(
            "CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled",
        ));
    };
    let (optin, optout) = (t.optin, t.optout);
    if args::is(&ctx.args[2], "yes") {
        if !optin {
            return Err(Error::err(
                "CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
            ));
        }
        ctx.client.tracking_caching = Some(true);
    } else if args::is(&ctx.args[2], "no") {
        if !optout {
            return Err(Error::err(
                "CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
            ));
        }
        ctx.client.tracking_caching = Some(false);
    } else {
        return Err(Error::Syntax);
    }
    ctx.reply.ok();
    Ok(())
}

/// CLIENT GETREDIR
pub fn client_getredir(ctx: &mut Ctx) -> CmdResult {
    let v = match ctx.state.tracking.clients.get(&ctx.client.id) {
        Some(t) => t.redirect as i64,
        None => -1,
    };
    ctx.reply.int(v);
    Ok(())
}

/// CLIENT TRACKINGINFO
pub fn client_trackinginfo(ctx: &mut Ctx) -> CmdResult {
    let caching = ctx.client.tracking_caching;
    let t = ctx.state.tracking.clients.get(&ctx.client.id);
    let mut flags: Vec<&str> = Vec::new();
    let (redirect, prefixes) = match t {
        None => {
            flags.push("off");
            (-1, Vec::new())
        }
        Some(t) => {
            flags.push("on");
            if t.bcast {
                flags.push("bcast");
            }
            if t.optin {
                flags.push("optin");
                if caching == Some(true) {
                    flags.push("caching-yes");
                }
            }
            if t.optout {
                flags.push("optout");
                if caching == Some(false) {
                    flags.push("caching-no");
                }
            }
            if t.noloop {
                flags.push("noloop");
            }
            if t.redirect != 0 && t.redirect_io.as_ref().is_some_and(|io| io.is_killed()) {
                flags.push("broken_redirect");
            }
            let mut p: Vec<Bytes> = if t.bcast {
                t.prefixes
                    .iter()
                    .filter(|p| !p.is_empty())
                    .cloned()
                    .collect()
            } else {
                Vec::new()
            };
            p.sort();
            (t.redirect as i64, p)
        }
    };
    ctx.reply.map(3);
    ctx.reply.bulk(b"flags");
    ctx.reply.set(flags.len());
    for f in flags {
        ctx.reply.bulk(f.as_bytes());
    }
    ctx.reply.bulk(b"redirect");
    ctx.reply.int(redirect);
    ctx.reply.bulk(b"prefixes");
    ctx.reply.array(prefixes.len());
    for p in prefixes {
        ctx.reply.bulk(&p);
    }
    Ok(())
}
