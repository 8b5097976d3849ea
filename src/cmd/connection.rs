//! Connection commands: PING, ECHO, QUIT, SELECT, HELLO, AUTH, RESET and
//! CLIENT (ID, SETNAME, GETNAME, LIST, INFO, KILL, NO-EVICT, REPLY, HELP).
//!
//! Texts and argument handling follow Redis 7.0's `networking.c`
//! (`clientCommand`, `helloCommand`, `resetCommand`), `acl.c`
//! (`authCommand`) and `server.c` (`pingCommand`, `echoCommand`).
//!
//! CLIENT PAUSE, UNPAUSE, UNBLOCK, TRACKING, CACHING, GETREDIR and
//! TRACKINGINFO live with the features they drive; they are declared by
//! adding their specs to [`CLIENT_SUBS`].

use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;

use crate::args;
use crate::client::{Client, ReplyMode};
use crate::command::{CommandSpec, Ctx, Flags, Keys};
use crate::error::{sanitize, CmdResult, Error};

/// Protected mode lets a connection in only from these addresses (Redis
/// compares the peer's text form with `127.0.0.1` and `::1`, so the rest
/// of 127.0.0.0/8 and IPv4-mapped loopback are not local).
pub fn is_local_peer(peer: &SocketAddr) -> bool {
    match peer.ip() {
        IpAddr::V4(ip) => ip.octets() == [127, 0, 0, 1],
        IpAddr::V6(ip) => ip.is_loopback(),
    }
}

/// Whether protected mode refuses a connection from `peer`: protected
/// mode on, no password for the default user, and a non-loopback peer.
pub fn protected_mode_refuses(protected_mode: bool, has_password: bool, peer: &SocketAddr) -> bool {
    protected_mode && !has_password && !is_local_peer(peer)
}

/// PING [message]
fn ping(ctx: &mut Ctx) -> CmdResult {
    if ctx.args.len() <= 2 && ctx.client.in_pubsub_mode() {
        // RESP2 subscribed mode answers with a ["pong", message] array.
        let msg = ctx.args.get(1).cloned().unwrap_or_default();
        ctx.reply.array(2);
        ctx.reply.bulk(b"pong");
        ctx.reply.bulk(&msg);
        return Ok(());
    }
    match ctx.args.len() {
        1 => ctx.reply.simple("PONG"),
        2 => {
            let msg = ctx.arg(1).clone();
            ctx.reply.bulk(&msg);
        }
        _ => return Err(Error::wrong_arity("ping")),
    }
    Ok(())
}

/// ECHO message
fn echo(ctx: &mut Ctx) -> CmdResult {
    let msg = ctx.arg(1).clone();
    ctx.reply.bulk(&msg);
    Ok(())
}

/// QUIT
fn quit(ctx: &mut Ctx) -> CmdResult {
    ctx.reply.ok();
    ctx.client.close_after_reply = true;
    Ok(())
}

/// SELECT index
fn select(ctx: &mut Ctx) -> CmdResult {
    // getIntFromObjectOrReply: a long long that must also fit an int.
    let idx = args::int(ctx.arg(1))?;
    if idx < i64::from(i32::MIN) || idx > i64::from(i32::MAX) {
        return Err(Error::err(
            "value is out of range, value must between -2147483648 and 2147483647",
        ));
    }
    if idx < 0 || idx as usize >= ctx.state.keyspace.dbs.len() {
        return Err(Error::DbIndexOutOfRange);
    }
    ctx.client.db = idx as usize;
    ctx.reply.ok();
    Ok(())
}

/// Checks a user name and password against the default user (the only
/// user Strata has). Without `requirepass` the default user is `nopass`:
/// any password is accepted. On success the client is authenticated.
fn authenticate(ctx: &mut Ctx, user: &[u8], pass: &[u8]) -> CmdResult {
    let ok = user == b"default"
        && match &ctx.state.config.hot.requirepass {
            None => true,
            Some(p) => p.as_bytes() == pass,
        };
    if !ok {
        return Err(Error::wrong_pass());
    }
    ctx.client.authenticated = true;
    Ok(())
}

/// AUTH [username] password
fn auth(ctx: &mut Ctx) -> CmdResult {
    if ctx.args.len() > 3 {
        return Err(Error::Syntax);
    }
    let (user, pass) = if ctx.args.len() == 2 {
        if ctx.state.config.hot.requirepass.is_none() {
            return Err(Error::auth_without_password());
        }
        (Bytes::from_static(b"default"), ctx.arg(1).clone())
    } else {
        (ctx.arg(1).clone(), ctx.arg(2).clone())
    };
    authenticate(ctx, &user, &pass)?;
    ctx.reply.ok();
    Ok(())
}

/// Validates a client name (CLIENT SETNAME, HELLO SETNAME): every byte
/// must be printable ASCII other than space (`!`..=`~`). An empty name
/// clears the name.
fn set_client_name(client: &mut Client, name: &Bytes) -> CmdResult {
    if name.iter().any(|&b| !(b'!'..=b'~').contains(&b)) {
        return Err(Error::bad_client_name());
    }
    client.name = if name.is_empty() {
        None
    } else {
        Some(name.clone())
    };
    Ok(())
}

/// HELLO [protover [AUTH username password] [SETNAME clientname]]
fn hello(ctx: &mut Ctx) -> CmdResult {
    let mut ver = 0;
    let mut next = 1;
    if ctx.args.len() >= 2 {
        ver = args::int(ctx.arg(1))
            .map_err(|_| Error::err("Protocol version is not an integer or out of range"))?;
        next = 2;
        if !(2..=3).contains(&ver) {
            return Err(Error::no_proto());
        }
    }
    // Options apply in order, as in Redis 7.0: a name set before a bad
    // option or a failed AUTH stays set.
    let argc = ctx.args.len();
    let mut j = next;
    while j < argc {
        let more = argc - 1 - j;
        let opt = ctx.arg(j).clone();
        if args::is(&opt, "AUTH") && more >= 2 {
            let (user, pass) = (ctx.arg(j + 1).clone(), ctx.arg(j + 2).clone());
            authenticate(ctx, &user, &pass)?;
            j += 3;
        } else if args::is(&opt, "SETNAME") && more >= 1 {
            let name = ctx.arg(j + 1).clone();
            set_client_name(ctx.client, &name)?;
            j += 2;
        } else {
            return Err(Error::err(format!(
                "Syntax error in HELLO option '{}'",
                sanitize(&opt, opt.len())
            )));
        }
    }
    if !ctx.client.authenticated {
        return Err(Error::hello_noauth());
    }
    if ver != 0 {
        ctx.client.resp3 = ver == 3;
        ctx.reply.resp3 = ctx.client.resp3;
    }
    let r = &mut *ctx.reply;
    r.map(7);
    r.bulk(b"server");
    r.bulk(b"redis");
    r.bulk(b"version");
    r.bulk(b"7.0.15");
    r.bulk(b"proto");
    r.int(if ctx.client.resp3 { 3 } else { 2 });
    r.bulk(b"id");
    r.int(ctx.client.id as i64);
    r.bulk(b"mode");
    r.bulk(b"standalone");
    r.bulk(b"role");
    r.bulk(b"master");
    r.bulk(b"modules");
    r.array(0);
    Ok(())
}

/// RESET
fn reset(ctx: &mut Ctx) -> CmdResult {
    // Leave MULTI, forget WATCHed keys and every subscription.
    ctx.client.multi = None;
    ctx.state.forget_client(ctx.client);
    let id = ctx.client.id;
    let c = &mut *ctx.client;
    if c.monitor {
        ctx.state.monitors.retain(|m| *m != id);
        c.monitor = false;
    }
    c.db = 0;
    c.resp3 = false;
    ctx.reply.resp3 = false;
    c.authenticated = ctx.state.config.hot.requirepass.is_none();
    c.name = None;
    c.no_evict = false;
    // Redis clears REPLY_OFF and REPLY_SKIP_NEXT; a skip already applying
    // to this very command stays.
    if c.reply_mode != ReplyMode::Skip {
        c.reply_mode = ReplyMode::On;
    }
    ctx.reply.simple("RESET");
    Ok(())
}

const CLIENT_HELP: &[&str] = &[
    "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CACHING (YES|NO)",
    "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
    "GETREDIR",
    "    Return the client ID we are redirecting to when tracking is enabled.",
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are:",
    "    * ADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made from the specified address",
    "    * LADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made to specified local address",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Kill connections by type.",
    "    * USER <username>",
    "      Kill connections authenticated by <username>.",
    "    * SKIPME (YES|NO)",
    "      Skip killing current connection (default: yes).",
    "LIST [options ...]",
    "    Return information about client connections. Options:",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Return clients of specified type.",
    "UNPAUSE",
    "    Stop the current client pause, resuming traffic.",
    "PAUSE <timeout> [WRITE|ALL]",
    "    Suspend all, or just write, clients for <timeout> milliseconds.",
    "REPLY (ON|OFF|SKIP)",
    "    Control the replies sent to the current connection.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "UNBLOCK <clientid> [TIMEOUT|ERROR]",
    "    Unblock the specified blocked client.",
    "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
    "         [OPTIN] [OPTOUT] [NOLOOP]",
    "    Control server assisted client side caching.",
    "TRACKINGINFO",
    "    Report tracking status for the current connection.",
    "NO-EVICT (ON|OFF)",
    "    Protect current client connection from eviction.",
    "HELP",
    "    Prints this help.",
];

/// CLIENT HELP
fn client_help(ctx: &mut Ctx) -> CmdResult {
    ctx.reply.array(CLIENT_HELP.len());
    for line in CLIENT_HELP {
        ctx.reply.simple(line);
    }
    Ok(())
}

/// CLIENT ID
fn client_id(ctx: &mut Ctx) -> CmdResult {
    ctx.reply.int(ctx.client.id as i64);
    Ok(())
}

/// CLIENT SETNAME connection-name
fn client_setname(ctx: &mut Ctx) -> CmdResult {
    let name = ctx.arg(2).clone();
    set_client_name(ctx.client, &name)?;
    ctx.reply.ok();
    Ok(())
}

/// CLIENT GETNAME
fn client_getname(ctx: &mut Ctx) -> CmdResult {
    match &ctx.client.name {
        Some(n) => {
            let n = n.clone();
            ctx.reply.bulk(&n);
        }
        None => ctx.reply.null(),
    }
    Ok(())
}

/// `getClientTypeByName`: the canonical type name, or None.
fn client_type_by_name(name: &[u8]) -> Option<&'static str> {
    if args::is(name, "normal") {
        Some("normal")
    } else if args::is(name, "slave") || args::is(name, "replica") {
        Some("replica")
    } else if args::is(name, "pubsub") {
        Some("pubsub")
    } else if args::is(name, "master") {
        Some("master")
    } else {
        None
    }
}

fn unknown_type(name: &[u8]) -> Error {
    Error::err(format!(
        "Unknown client type '{}'",
        sanitize(name, name.len())
    ))
}

/// Whether another client is on its way out: killed, or done with its
/// last command and closing (QUIT, a protocol error) though its task has
/// not unregistered it yet. Redis has freed such clients already.
fn is_gone(c: &Client) -> bool {
    c.io.is_killed() || c.close_after_reply
}

/// Every live client (the running one included), in connection order.
fn live_clients<'a>(ctx: &'a Ctx) -> Vec<&'a Client> {
    let mut all: Vec<&Client> = ctx
        .state
        .clients
        .values()
        .filter(|c| c.id != ctx.client.id && !is_gone(c))
        .collect();
    all.push(&*ctx.client);
    all.sort_by_key(|c| c.id);
    all
}

/// CLIENT INFO
fn client_info(ctx: &mut Ctx) -> CmdResult {
    ctx.client.last_cmd = ctx.cmd.name;
    let mut line = ctx.client.info_line(ctx.now_ms);
    line.push('\n');
    ctx.reply.verbatim("txt", line.as_bytes());
    Ok(())
}

/// CLIENT LIST [TYPE NORMAL|MASTER|REPLICA|PUBSUB] [ID client-id ...]
fn client_list(ctx: &mut Ctx) -> CmdResult {
    ctx.client.last_cmd = ctx.cmd.name;
    let argc = ctx.args.len();
    let mut out = String::new();
    if argc == 4 && args::is(ctx.arg(2), "type") {
        let ty = client_type_by_name(ctx.arg(3)).ok_or_else(|| unknown_type(ctx.arg(3)))?;
        for c in live_clients(ctx) {
            if c.client_type() == ty {
                out.push_str(&c.info_line(ctx.now_ms));
                out.push('\n');
            }
        }
    } else if argc > 3 && args::is(ctx.arg(2), "id") {
        let mut ids = Vec::with_capacity(argc - 3);
        for a in &ctx.args[3..] {
            ids.push(args::int(a).map_err(|_| Error::err("Invalid client ID"))?);
        }
        let all = live_clients(ctx);
        for id in ids {
            if let Some(c) = all.iter().find(|c| c.id as i64 == id) {
                out.push_str(&c.info_line(ctx.now_ms));
                out.push('\n');
            }
        }
    } else if argc != 2 {
        return Err(Error::Syntax);
    } else {
        for c in live_clients(ctx) {
            out.push_str(&c.info_line(ctx.now_ms));
            out.push('\n');
        }
    }
    ctx.reply.verbatim("txt", out.as_bytes());
    Ok(())
}

/// CLIENT KILL ip:port | CLIENT KILL [ID id] [TYPE type] [ADDR ip:port]
/// [LADDR ip:port] [USER username] [SKIPME yes|no] ...
fn client_kill(ctx: &mut Ctx) -> CmdResult {
    let argc = ctx.args.len();
    let mut addr: Option<Bytes> = None;
    let mut laddr: Option<Bytes> = None;
    let mut ty: Option<&'static str> = None;
    let mut id: Option<u64> = None;
    let mut skipme = true;
    if argc == 3 {
        // Old form: an address, and a client may kill itself.
        addr = Some(ctx.arg(2).clone());
        skipme = false;
    } else {
        let mut i = 2;
        while i < argc {
            let more = argc > i + 1;
            let opt = ctx.arg(i);
            if !more {
                return Err(Error::Syntax);
            }
            let val = ctx.arg(i + 1);
            if args::is(opt, "id") {
                let n = args::int(val)
                    .ok()
                    .filter(|&n| n >= 1)
                    .ok_or_else(|| Error::err("client-id should be greater than 0"))?;
                id = Some(n as u64);
            } else if args::is(opt, "type") {
                ty = Some(client_type_by_name(val).ok_or_else(|| unknown_type(val))?);
            } else if args::is(opt, "addr") {
                addr = Some(val.clone());
            } else if args::is(opt, "laddr") {
                laddr = Some(val.clone());
            } else if args::is(opt, "user") {
                // Only the default user exists, and every client uses it.
                if val.as_ref() != b"default" {
                    return Err(Error::err(format!(
                        "No such user '{}'",
                        sanitize(val, val.len())
                    )));
                }
            } else if args::is(opt, "skipme") {
                if args::is(val, "yes") {
                    skipme = true;
                } else if args::is(val, "no") {
                    skipme = false;
                } else {
                    return Err(Error::Syntax);
                }
            } else {
                return Err(Error::Syntax);
            }
            i += 2;
        }
    }
    let matches = |c: &Client| {
        (addr.is_none() || addr.as_deref() == Some(c.addr.as_bytes()))
            && (laddr.is_none() || laddr.as_deref() == Some(c.laddr.as_bytes()))
            && (ty.is_none() || ty == Some(c.client_type()))
            && (id.is_none() || id == Some(c.id))
    };
    let mut killed = 0i64;
    let me = ctx.client.id;
    for c in ctx.state.clients.values() {
        if c.id == me || is_gone(c) || !matches(c) {
            continue;
        }
        c.io.kill();
        killed += 1;
    }
    if !skipme && matches(&*ctx.client) {
        ctx.client.close_after_reply = true;
        killed += 1;
    }
    if argc == 3 {
        if killed == 0 {
            return Err(Error::err("No such client"));
        }
        ctx.reply.ok();
    } else {
        ctx.reply.int(killed);
    }
    Ok(())
}

/// CLIENT NO-EVICT ON|OFF
fn client_no_evict(ctx: &mut Ctx) -> CmdResult {
    let v = ctx.arg(2);
    if args::is(v, "on") {
        ctx.client.no_evict = true;
    } else if args::is(v, "off") {
        ctx.client.no_evict = false;
    } else {
        return Err(Error::Syntax);
    }
    ctx.reply.ok();
    Ok(())
}

/// CLIENT REPLY ON|OFF|SKIP
fn client_reply(ctx: &mut Ctx) -> CmdResult {
    let v = ctx.arg(2);
    if args::is(v, "on") {
        ctx.client.reply_mode = ReplyMode::On;
        ctx.reply.ok();
    } else if args::is(v, "off") {
        ctx.client.reply_mode = ReplyMode::Off;
    } else if args::is(v, "skip") {
        if ctx.client.reply_mode != ReplyMode::Off {
            ctx.client.reply_mode = ReplyMode::SkipNext;
        }
    } else {
        return Err(Error::Syntax);
    }
    Ok(())
}

const CONN: Flags = Flags::FAST.or(Flags::LOADING).or(Flags::STALE);
/// Flags of AUTH, HELLO, RESET and QUIT.
const PRE_AUTH: Flags = Flags::NOSCRIPT
    .or(Flags::LOADING)
    .or(Flags::STALE)
    .or(Flags::FAST)
    .or(Flags::NO_AUTH)
    .or(Flags::ALLOW_BUSY);
const SUB: Flags = Flags::NOSCRIPT.or(Flags::LOADING).or(Flags::STALE);
const SUB_ADMIN: Flags = SUB.or(Flags::ADMIN);

/// The CLIENT subcommands. Features that own other subcommands (PAUSE,
/// UNPAUSE, UNBLOCK, TRACKING, CACHING, GETREDIR, TRACKINGINFO) add their
/// specs here.
pub static CLIENT_SUBS: &[CommandSpec] = &[
    CommandSpec::new(
        "client|help",
        2,
        Flags::LOADING.or(Flags::STALE),
        Keys::None,
        client_help,
    )
    .doc(
        "connection",
        "5.0.0",
        "Show helpful text about the different subcommands",
    ),
    CommandSpec::new("client|id", 2, SUB, Keys::None, client_id).doc(
        "connection",
        "5.0.0",
        "Returns the client ID for the current connection",
    ),
    CommandSpec::new("client|info", 2, SUB, Keys::None, client_info).doc(
        "connection",
        "6.2.0",
        "Returns information about the current client connection.",
    ),
    CommandSpec::new("client|list", -2, SUB_ADMIN, Keys::None, client_list).doc(
        "connection",
        "2.4.0",
        "Get the list of client connections",
    ),
    CommandSpec::new("client|kill", -3, SUB_ADMIN, Keys::None, client_kill).doc(
        "connection",
        "2.4.0",
        "Kill the connection of a client",
    ),
    CommandSpec::new("client|setname", 3, SUB, Keys::None, client_setname).doc(
        "connection",
        "2.6.9",
        "Set the current connection name",
    ),
    CommandSpec::new(
        "client|unblock",
        -3,
        SUB_ADMIN,
        Keys::None,
        crate::blocking::client_unblock,
    )
    .doc(
        "connection",
        "5.0.0",
        "Unblocks a client blocked by a blocking command from a different connection.",
    ),
    CommandSpec::new(
        "client|pause",
        -3,
        SUB_ADMIN,
        Keys::None,
        crate::blocking::client_pause,
    )
    .doc("connection", "3.0.0", "Suspends commands processing."),
    CommandSpec::new(
        "client|unpause",
        2,
        SUB_ADMIN,
        Keys::None,
        crate::blocking::client_unpause,
    )
    .doc(
        "connection",
        "6.2.0",
        "Resumes processing commands from paused clients.",
    ),
    CommandSpec::new(
        "client|tracking",
        -3,
        SUB,
        Keys::None,
        crate::tracking::client_tracking,
    )
    .doc(
        "connection",
        "6.0.0",
        "Controls server-assisted client-side caching for the connection.",
    ),
    CommandSpec::new(
        "client|caching",
        3,
        SUB,
        Keys::None,
        crate::tracking::client_caching,
    )
    .doc(
        "connection",
        "6.0.0",
        "Instructs the server whether to track the keys in the next request.",
    ),
    CommandSpec::new(
        "client|getredir",
        2,
        SUB,
        Keys::None,
        crate::tracking::client_getredir,
    )
    .doc(
        "connection",
        "6.0.0",
        "Returns the client ID to which the connection's tracking notifications are redirected.",
    ),
    CommandSpec::new(
        "client|trackinginfo",
        2,
        SUB,
        Keys::None,
        crate::tracking::client_trackinginfo,
    )
    .doc(
        "connection",
        "6.2.0",
        "Returns information about server-assisted client-side caching for the connection.",
    ),
    CommandSpec::new("client|getname", 2, SUB, Keys::None, client_getname).doc(
        "connection",
        "2.6.9",
        "Get the current connection name",
    ),
    CommandSpec::new("client|reply", 3, SUB, Keys::None, client_reply).doc(
        "connection",
        "3.2.0",
        "Instruct the server whether to reply to commands",
    ),
    CommandSpec::new("client|no-evict", 3, SUB_ADMIN, Keys::None, client_no_evict).doc(
        "connection",
        "7.0.0",
        "Set client eviction mode for the current connection",
    ),
];

pub static TABLE: &[CommandSpec] = &[
    CommandSpec::new("ping", -1, Flags::FAST, Keys::None, ping).doc(
        "connection",
        "1.0.0",
        "Ping the server",
    ),
    CommandSpec::new("echo", 2, CONN, Keys::None, echo).doc(
        "connection",
        "1.0.0",
        "Echo the given string",
    ),
    CommandSpec::new("quit", -1, PRE_AUTH, Keys::None, quit).doc(
        "connection",
        "1.0.0",
        "Close the connection",
    ),
    CommandSpec::new("select", 2, CONN, Keys::None, select).doc(
        "connection",
        "1.0.0",
        "Change the selected database for the current connection",
    ),
    CommandSpec::new("auth", -2, PRE_AUTH, Keys::None, auth).doc(
        "connection",
        "1.0.0",
        "Authenticate to the server",
    ),
    CommandSpec::new("hello", -1, PRE_AUTH, Keys::None, hello).doc(
        "connection",
        "6.0.0",
        "Handshake with Redis",
    ),
    CommandSpec::new("reset", 1, PRE_AUTH, Keys::None, reset).doc(
        "connection",
        "6.2.0",
        "Reset the connection",
    ),
    CommandSpec::new("client", -2, Flags::NONE, Keys::None, client_help)
        .doc(
            "connection",
            "2.4.0",
            "A container for client connection commands",
        )
        .subs(CLIENT_SUBS),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protected_mode_decision() {
        let local4: SocketAddr = "127.0.0.1:5000".parse().expect("addr");
        let local6: SocketAddr = "[::1]:5000".parse().expect("addr");
        let other_loop: SocketAddr = "127.0.0.2:5000".parse().expect("addr");
        let remote: SocketAddr = "10.1.2.3:5000".parse().expect("addr");
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:5000".parse().expect("addr");
        for peer in [&local4, &local6] {
            assert!(!protected_mode_refuses(true, false, peer));
        }
        for peer in [&other_loop, &remote, &mapped] {
            assert!(protected_mode_refuses(true, false, peer));
            // A password or protected-mode off lets everyone in.
            assert!(!protected_mode_refuses(true, true, peer));
            assert!(!protected_mode_refuses(false, false, peer));
        }
    }

    #[test]
    fn client_names() {
        let mut c = Client::new(1, "a".into(), "b".into(), 0, true);
        assert!(set_client_name(&mut c, &Bytes::from_static(b"~ok!")).is_ok());
        assert_eq!(c.name.as_deref(), Some(&b"~ok!"[..]));
        for bad in [&b"a b"[..], b"a\nb", b"\x01", "é".as_bytes(), b"a\x7f"] {
            assert_eq!(
                set_client_name(&mut c, &Bytes::copy_from_slice(bad)),
                Err(Error::bad_client_name())
            );
        }
        assert!(set_client_name(&mut c, &Bytes::new()).is_ok());
        assert_eq!(c.name, None);
    }
}
