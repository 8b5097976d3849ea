//! Conversions between RESP replies and Lua values, by Redis 7.0's rules.
//!
//! Command reply -> Lua (what `redis.call` returns): integer -> number,
//! bulk -> string, nil bulk / nil array -> false, array -> table, status
//! -> `{ok=...}`, error -> `{err=...}`; RESP3 (after `redis.setresp(3)`):
//! map -> `{map={...}}`, set -> `{set={k=true}}`, null -> nil, boolean ->
//! boolean, double -> `{double=n}`, big number -> `{big_number=s}`,
//! verbatim -> `{verbatim_string={format=, string=}}`.
//!
//! Lua -> client reply (what a script returns): see [`lua_to_reply`].

use bytes::Bytes;
use mlua::{Lua, Table, Value};

use crate::reply::Reply;

/// `%.17g` of a Lua number (how numbers become command arguments).
pub fn lua_number_string(v: &Value) -> String {
    match v {
        Value::Integer(i) => strata_storage::num::format_g17(*i as f64),
        Value::Number(n) => strata_storage::num::format_g17(*n),
        _ => String::new(),
    }
}

/// Script arguments to command arguments: strings and numbers only.
pub fn lua_args(args: &[Value]) -> Option<Vec<Bytes>> {
    let mut out = Vec::with_capacity(args.len());
    for a in args {
        match a {
            Value::String(s) => out.push(Bytes::copy_from_slice(&s.as_bytes())),
            Value::Integer(_) | Value::Number(_) => out.push(Bytes::from(lua_number_string(a))),
            _ => return None,
        }
    }
    Some(out)
}

/// Redis's `luaPushErrorBuff`: `{err="CODE msg"}` from "-CODE msg" or
/// "msg" (code ERR), trimmed of CR/LF.
pub fn error_table(lua: &Lua, buf: &[u8]) -> mlua::Result<Table> {
    let (code, msg): (&[u8], &[u8]) = if buf.first() == Some(&b'-') {
        match buf.iter().position(|&b| b == b' ') {
            None => (b"ERR", &buf[1..]),
            Some(sp) => (&buf[1..sp], &buf[sp + 1..]),
        }
    } else {
        (b"ERR", buf)
    };
    let is_crlf = |b: &u8| *b == b'\r' || *b == b'\n';
    let start = msg.iter().position(|b| !is_crlf(b)).unwrap_or(msg.len());
    let end = msg
        .iter()
        .rposition(|b| !is_crlf(b))
        .map(|p| p + 1)
        .unwrap_or(start);
    let msg = &msg[start..end.max(start)];
    let mut text = code.to_vec();
    text.push(b' ');
    text.extend_from_slice(msg);
    let t = lua.create_table()?;
    t.raw_set("err", lua.create_string(&text)?)?;
    Ok(t)
}

fn line<'a>(buf: &'a [u8], pos: &mut usize) -> &'a [u8] {
    let start = *pos;
    let rest = &buf[start.min(buf.len())..];
    match memchr::memmem::find(rest, b"\r\n") {
        Some(i) => {
            *pos = start + i + 2;
            &rest[..i]
        }
        None => {
            *pos = buf.len();
            rest
        }
    }
}

fn num(b: &[u8]) -> i64 {
    strata_storage::num::parse_i64(b).unwrap_or(0)
}

/// Parses one RESP value at `pos` of `buf` into a Lua value.
pub fn resp_to_lua(lua: &Lua, buf: &[u8], pos: &mut usize) -> mlua::Result<Value> {
    if *pos >= buf.len() {
        return Ok(Value::Nil);
    }
    let kind = buf[*pos];
    *pos += 1;
    let head = line(buf, pos);
    Ok(match kind {
        b':' => Value::Number(num(head) as f64),
        b'$' => {
            let n = num(head);
            if n < 0 {
                Value::Boolean(false)
            } else {
                let n = n as usize;
                let start = *pos;
                let end = (start + n).min(buf.len());
                *pos = (end + 2).min(buf.len());
                Value::String(lua.create_string(&buf[start..end])?)
            }
        }
        b'+' => {
            let t = lua.create_table()?;
            t.raw_set("ok", lua.create_string(head)?)?;
            Value::Table(t)
        }
        b'-' => {
            let mut e = b"-".to_vec();
            e.extend_from_slice(head);
            let t = error_table(lua, &e)?;
            t.raw_set("ignore_error_stats_update", true)?;
            Value::Table(t)
        }
        b'*' | b'>' => {
            let n = num(head);
            if n < 0 {
                Value::Boolean(false)
            } else {
                let t = lua.create_table()?;
                for i in 0..n {
                    let v = resp_to_lua(lua, buf, pos)?;
                    t.raw_set(i + 1, v)?;
                }
                Value::Table(t)
            }
        }
        b'%' => {
            let n = num(head);
            let inner = lua.create_table()?;
            for _ in 0..n {
                let k = resp_to_lua(lua, buf, pos)?;
                let v = resp_to_lua(lua, buf, pos)?;
                if !k.is_nil() {
                    inner.raw_set(k, v)?;
                }
            }
            let t = lua.create_table()?;
            t.raw_set("map", inner)?;
            Value::Table(t)
        }
        b'~' => {
            let n = num(head);
            let inner = lua.create_table()?;
            for _ in 0..n {
                let k = resp_to_lua(lua, buf, pos)?;
                if !k.is_nil() {
                    inner.raw_set(k, true)?;
                }
            }
            let t = lua.create_table()?;
            t.raw_set("set", inner)?;
            Value::Table(t)
        }
        b'_' => Value::Nil,
        b'#' => Value::Boolean(head == b"t"),
        b',' => {
            let s = std::str::from_utf8(head).unwrap_or("0");
            let d = match s {
                "inf" => f64::INFINITY,
                "-inf" => f64::NEG_INFINITY,
                "nan" => f64::NAN,
                _ => s.parse::<f64>().unwrap_or(0.0),
            };
            let t = lua.create_table()?;
            t.raw_set("double", d)?;
            Value::Table(t)
        }
        b'(' => {
            let t = lua.create_table()?;
            t.raw_set("big_number", lua.create_string(head)?)?;
            Value::Table(t)
        }
        b'=' => {
            let n = num(head).max(0) as usize;
            let start = *pos;
            let end = (start + n).min(buf.len());
            *pos = (end + 2).min(buf.len());
            let body = &buf[start..end];
            let (format, text) = if body.len() >= 4 {
                (&body[..3], &body[4..])
            } else {
                (&b"txt"[..], body)
            };
            let inner = lua.create_table()?;
            inner.raw_set("string", lua.create_string(text)?)?;
            inner.raw_set("format", lua.create_string(format)?)?;
            let t = lua.create_table()?;
            t.raw_set("verbatim_string", inner)?;
            Value::Table(t)
        }
        b'|' => {
            let n = num(head);
            for _ in 0..n {
                resp_to_lua(lua, buf, pos)?;
                resp_to_lua(lua, buf, pos)?;
            }
            resp_to_lua(lua, buf, pos)?
        }
        _ => Value::Nil,
    })
}

/// C's `(long long)` of a double as x86-64 does it: out of range and NaN
/// give i64::MIN.
fn to_i64(n: f64) -> i64 {
    if n.is_nan() || n >= 9.223_372_036_854_775_807e18 || n < -9.223_372_036_854_775_808e18 {
        i64::MIN
    } else {
        n as i64
    }
}

/// `lua_tostring` of a number (`%.14g`).
pub fn lua_tostring_number(v: &Value) -> String {
    match v {
        Value::Integer(i) => strata_storage::num::format_g(*i as f64, 14),
        Value::Number(n) => strata_storage::num::format_g(*n, 14),
        _ => String::new(),
    }
}

fn bytes_of(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::String(s) => Some(s.as_bytes().to_vec()),
        Value::Integer(_) | Value::Number(_) => Some(
            // lua_tostring of a number: %.14g
            strata_storage::num::format_g(
                match v {
                    Value::Integer(i) => *i as f64,
                    Value::Number(n) => *n,
                    _ => 0.0,
                },
                14,
            )
            .into_bytes(),
        ),
        _ => None,
    }
}

fn map_crlf(b: &[u8]) -> String {
    String::from_utf8_lossy(b)
        .chars()
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .collect()
}

/// Writes a script's return value (Redis's `luaReplyToRedisReply`).
/// `script_resp3`: the script called `redis.setresp(3)`.
pub fn lua_to_reply(reply: &mut Reply, v: &Value, script_resp3: bool, depth: usize) {
    if depth > 1000 {
        reply.error("ERR reached lua stack limit");
        return;
    }
    match v {
        Value::String(s) => reply.bulk(&s.as_bytes()),
        Value::Boolean(b) => {
            if script_resp3 {
                reply.boolean(*b);
            } else if *b {
                reply.int(1);
            } else {
                reply.null();
            }
        }
        Value::Integer(i) => reply.int(*i),
        Value::Number(n) => reply.int(to_i64(*n)),
        Value::Table(t) => table_to_reply(reply, t, script_resp3, depth),
        _ => reply.null(),
    }
}

fn table_to_reply(reply: &mut Reply, t: &Table, script_resp3: bool, depth: usize) {
    if let Ok(Value::String(_)) = t.raw_get::<Value>("err") {
        let msg = match t.get::<Value>("err") {
            Ok(v) => bytes_of(&v).unwrap_or_default(),
            Err(_) => Vec::new(),
        };
        reply.error(&String::from_utf8_lossy(&msg));
        return;
    }
    if let Ok(Value::String(s)) = t.raw_get::<Value>("ok") {
        reply.simple(&map_crlf(&s.as_bytes()));
        return;
    }
    match t.raw_get::<Value>("double") {
        Ok(Value::Number(n)) => return reply.double(n),
        Ok(Value::Integer(i)) => return reply.double(i as f64),
        _ => {}
    }
    if let Ok(Value::String(s)) = t.raw_get::<Value>("big_number") {
        let text = map_crlf(&s.as_bytes());
        if reply.resp3 {
            reply.raw(format!("({text}\r\n").as_bytes());
        } else {
            reply.bulk(text.as_bytes());
        }
        return;
    }
    if let Ok(Value::Table(vt)) = t.raw_get::<Value>("verbatim_string") {
        if let (Ok(Value::String(f)), Ok(Value::String(s))) =
            (vt.raw_get::<Value>("format"), vt.raw_get::<Value>("string"))
        {
            reply.verbatim(&String::from_utf8_lossy(&f.as_bytes()), &s.as_bytes());
            return;
        }
    }
    if let Ok(Value::Table(m)) = t.raw_get::<Value>("map") {
        let at = reply.defer();
        let mut n = 0;
        for (k, v) in m.pairs::<Value, Value>().flatten() {
            lua_to_reply(reply, &k, script_resp3, depth + 1);
            lua_to_reply(reply, &v, script_resp3, depth + 1);
            n += 1;
        }
        reply.finish_map(at, n);
        return;
    }
    if let Ok(Value::Table(s)) = t.raw_get::<Value>("set") {
        let at = reply.defer();
        let mut n = 0;
        for (k, _) in s.pairs::<Value, Value>().flatten() {
            lua_to_reply(reply, &k, script_resp3, depth + 1);
            n += 1;
        }
        reply.finish_set(at, n);
        return;
    }
    let at = reply.defer();
    let mut n = 0;
    let mut j = 1i64;
    loop {
        match t.raw_get::<Value>(j) {
            Ok(Value::Nil) | Err(_) => break,
            Ok(v) => lua_to_reply(reply, &v, script_resp3, depth + 1),
        }
        n += 1;
        j += 1;
    }
    reply.finish_array(at, n);
}
