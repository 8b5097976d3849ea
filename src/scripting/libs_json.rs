//! cjson: lua-cjson 2.1.0 as bundled with Redis (default settings:
//! 14-digit numbers, sparse arrays refused beyond ratio 2 / safe 10,
//! NaN/Inf refused on encode, depth 1000).

use mlua::{Lua, MultiValue, Table, Value, Variadic};

use super::lib_err;

const MAX_DEPTH: usize = 1000;

fn null_value() -> Value {
    Value::LightUserData(mlua::LightUserData(std::ptr::null_mut()))
}

fn is_null(v: &Value) -> bool {
    matches!(v, Value::LightUserData(p) if p.0.is_null())
}

fn fmt_number(n: f64) -> String {
    strata_storage::num::format_g(n, 14)
}

fn type_name(v: &Value) -> &'static str {
    super::type_name(Some(v))
}

fn encode_string(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &c in s {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            c if c < 0x20 || c == 0x7f => out.extend_from_slice(format!("\\u{:04x}", c).as_bytes()),
            c => out.push(c),
        }
    }
    out.push(b'"');
}

fn number_of(v: &Value) -> Option<f64> {
    match v {
        Value::Integer(i) => Some(*i as f64),
        Value::Number(n) => Some(*n),
        _ => None,
    }
}

fn encode_number(lua: &Lua, out: &mut Vec<u8>, n: f64) -> mlua::Result<()> {
    if !n.is_finite() {
        return Err(lib_err(
            lua,
            "Cannot serialise number: must not be NaN or Inf",
        ));
    }
    out.extend_from_slice(fmt_number(n).as_bytes());
    Ok(())
}

/// lua-cjson's `lua_array_length`: Some(max) for an array, None for an
/// object.
fn array_length(lua: &Lua, t: &Table) -> mlua::Result<Option<usize>> {
    let mut max = 0f64;
    let mut items = 0usize;
    for pair in t.pairs::<Value, Value>() {
        let (k, _) = pair?;
        match number_of(&k) {
            Some(n) if n >= 1.0 && n.floor() == n => {
                if n > max {
                    max = n;
                }
                items += 1;
            }
            _ => return Ok(None),
        }
    }
    if max > (items * 2) as f64 && max > 10.0 {
        return Err(lib_err(
            lua,
            "Cannot serialise table: excessively sparse array",
        ));
    }
    Ok(Some(max as usize))
}

fn encode_value(lua: &Lua, out: &mut Vec<u8>, v: &Value, depth: usize) -> mlua::Result<()> {
    match v {
        Value::String(s) => encode_string(out, &s.as_bytes()),
        Value::Integer(_) | Value::Number(_) => {
            encode_number(lua, out, number_of(v).unwrap_or(0.0))?
        }
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Nil => out.extend_from_slice(b"null"),
        v if is_null(v) => out.extend_from_slice(b"null"),
        Value::Table(t) => {
            let depth = depth + 1;
            if depth > MAX_DEPTH {
                return Err(lib_err(
                    lua,
                    format!("Cannot serialise, excessive nesting ({depth})"),
                ));
            }
            match array_length(lua, t)? {
                Some(len) if len > 0 => {
                    out.push(b'[');
                    for i in 1..=len {
                        if i > 1 {
                            out.push(b',');
                        }
                        let item: Value = t.raw_get(i)?;
                        encode_value(lua, out, &item, depth)?;
                    }
                    out.push(b']');
                }
                _ => {
                    out.push(b'{');
                    let mut first = true;
                    for pair in t.pairs::<Value, Value>() {
                        let (k, val) = pair?;
                        if !first {
                            out.push(b',');
                        }
                        first = false;
                        match &k {
                            Value::String(s) => encode_string(out, &s.as_bytes()),
                            Value::Integer(_) | Value::Number(_) => {
                                out.push(b'"');
                                encode_number(lua, out, number_of(&k).unwrap_or(0.0))?;
                                out.push(b'"');
                            }
                            other => {
                                return Err(lib_err(
                                    lua,
                                    format!(
                                        "Cannot serialise {}: table key must be a number or string",
                                        type_name(other)
                                    ),
                                ))
                            }
                        }
                        out.push(b':');
                        encode_value(lua, out, &val, depth)?;
                    }
                    out.push(b'}');
                }
            }
        }
        other => {
            return Err(lib_err(
                lua,
                format!("Cannot serialise {}: type not supported", type_name(other)),
            ))
        }
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Tok {
    ObjBegin,
    ObjEnd,
    ArrBegin,
    ArrEnd,
    Str,
    Num,
    Bool,
    Null,
    Colon,
    Comma,
    End,
    Error,
}

impl Tok {
    fn name(self) -> &'static str {
        match self {
            Tok::ObjBegin => "T_OBJ_BEGIN",
            Tok::ObjEnd => "T_OBJ_END",
            Tok::ArrBegin => "T_ARR_BEGIN",
            Tok::ArrEnd => "T_ARR_END",
            Tok::Str => "T_STRING",
            Tok::Num => "T_NUMBER",
            Tok::Bool => "T_BOOLEAN",
            Tok::Null => "T_NULL",
            Tok::Colon => "T_COLON",
            Tok::Comma => "T_COMMA",
            Tok::End => "T_END",
            Tok::Error => "T_ERROR",
        }
    }
}

struct Token {
    kind: Tok,
    index: usize,
    s: Vec<u8>,
    n: f64,
    b: bool,
    err: &'static str,
}

struct Parser<'a> {
    data: &'a [u8],
    pos: usize,
    depth: usize,
}

fn hex4(d: &[u8]) -> Option<u32> {
    if d.len() < 4 {
        return None;
    }
    let s = std::str::from_utf8(&d[..4]).ok()?;
    u32::from_str_radix(s, 16).ok()
}

fn push_utf8(out: &mut Vec<u8>, cp: u32) {
    if let Some(c) = char::from_u32(cp) {
        let mut b = [0u8; 4];
        out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
    }
}

/// C's strtod prefix: the longest prefix of `d` that parses.
fn strtod(d: &[u8]) -> Option<(f64, usize)> {
    let mut i = 0;
    if i < d.len() && (d[i] == b'-' || d[i] == b'+') {
        i += 1;
    }
    let rest = &d[i..];
    let lower: Vec<u8> = rest
        .iter()
        .take(8)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let neg = i > 0 && d[0] == b'-';
    if lower.starts_with(b"0x") {
        let mut j = 2;
        while j < rest.len() && rest[j].is_ascii_hexdigit() {
            j += 1;
        }
        if j > 2 {
            let v = u64::from_str_radix(std::str::from_utf8(&rest[2..j]).ok()?, 16).ok()? as f64;
            return Some((if neg { -v } else { v }, i + j));
        }
        return Some((0.0, i + 1));
    }
    if lower.starts_with(b"infinity") {
        return Some((
            if neg {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            },
            i + 8,
        ));
    }
    if lower.starts_with(b"inf") {
        return Some((
            if neg {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            },
            i + 3,
        ));
    }
    if lower.starts_with(b"nan") {
        return Some((f64::NAN, i + 3));
    }
    let mut j = 0;
    let digits = |j: &mut usize| {
        let s = *j;
        while *j < rest.len() && rest[*j].is_ascii_digit() {
            *j += 1;
        }
        *j - s
    };
    let mut nd = digits(&mut j);
    if j < rest.len() && rest[j] == b'.' {
        j += 1;
        nd += digits(&mut j);
    }
    if nd == 0 {
        return None;
    }
    if j < rest.len() && (rest[j] == b'e' || rest[j] == b'E') {
        let mut k = j + 1;
        if k < rest.len() && (rest[k] == b'-' || rest[k] == b'+') {
            k += 1;
        }
        if digits(&mut k) > 0 {
            j = k;
        }
    }
    let text = std::str::from_utf8(&d[..i + j]).ok()?;
    let v = text.parse::<f64>().ok()?;
    Some((v, i + j))
}

impl<'a> Parser<'a> {
    fn next_token(&mut self) -> Token {
        let d = self.data;
        while self.pos < d.len() && matches!(d[self.pos], b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
        let index = self.pos;
        let mut t = Token {
            kind: Tok::Error,
            index,
            s: Vec::new(),
            n: 0.0,
            b: false,
            err: "",
        };
        if self.pos >= d.len() || d[self.pos] == 0 {
            t.kind = Tok::End;
            return t;
        }
        let c = d[self.pos];
        let simple = match c {
            b'{' => Some(Tok::ObjBegin),
            b'}' => Some(Tok::ObjEnd),
            b'[' => Some(Tok::ArrBegin),
            b']' => Some(Tok::ArrEnd),
            b',' => Some(Tok::Comma),
            b':' => Some(Tok::Colon),
            _ => None,
        };
        if let Some(k) = simple {
            self.pos += 1;
            t.kind = k;
            return t;
        }
        if c == b'"' {
            return self.string_token(t);
        }
        let rest = &d[self.pos..];
        if c == b'-' || c.is_ascii_digit() {
            return self.number_token(t);
        }
        if rest.starts_with(b"true") {
            self.pos += 4;
            t.kind = Tok::Bool;
            t.b = true;
            return t;
        }
        if rest.starts_with(b"false") {
            self.pos += 5;
            t.kind = Tok::Bool;
            return t;
        }
        if rest.starts_with(b"null") {
            self.pos += 4;
            t.kind = Tok::Null;
            return t;
        }
        let lower: Vec<u8> = rest
            .iter()
            .take(3)
            .map(|c| c.to_ascii_lowercase())
            .collect();
        if lower == b"inf" || lower == b"nan" || (c == b'+') {
            return self.number_token(t);
        }
        t.err = "invalid token";
        t
    }

    fn number_token(&mut self, mut t: Token) -> Token {
        match strtod(&self.data[self.pos..]) {
            Some((v, used)) if used > 0 => {
                self.pos += used;
                t.kind = Tok::Num;
                t.n = v;
            }
            _ => t.err = "invalid number",
        }
        t
    }

    fn string_token(&mut self, mut t: Token) -> Token {
        let d = self.data;
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            if self.pos >= d.len() {
                t.index = self.pos;
                t.err = "unexpected end of string";
                return t;
            }
            let c = d[self.pos];
            if c == b'"' {
                self.pos += 1;
                break;
            }
            if c == b'\\' {
                let esc = self.pos;
                let Some(&e) = d.get(self.pos + 1) else {
                    t.index = self.pos + 1;
                    t.err = "unexpected end of string";
                    return t;
                };
                match e {
                    b'"' => out.push(b'"'),
                    b'\\' => out.push(b'\\'),
                    b'/' => out.push(b'/'),
                    b'b' => out.push(8),
                    b'f' => out.push(12),
                    b'n' => out.push(b'\n'),
                    b'r' => out.push(b'\r'),
                    b't' => out.push(b'\t'),
                    b'u' => {
                        let Some(hi) = hex4(&d[self.pos + 2..]) else {
                            t.index = esc;
                            t.err = "invalid unicode escape code";
                            return t;
                        };
                        let mut cp = hi;
                        let mut used = 6;
                        if (0xD800..0xDC00).contains(&hi) {
                            let tail = &d[(self.pos + 6).min(d.len())..];
                            let lo = if tail.len() >= 6 && tail[0] == b'\\' && tail[1] == b'u' {
                                hex4(&tail[2..])
                            } else {
                                None
                            };
                            match lo {
                                Some(lo) if (0xDC00..0xE000).contains(&lo) => {
                                    cp = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                                    used = 12;
                                }
                                _ => {
                                    t.index = esc;
                                    t.err = "invalid unicode escape code";
                                    return t;
                                }
                            }
                        } else if (0xDC00..0xE000).contains(&hi) {
                            t.index = esc;
                            t.err = "invalid unicode escape code";
                            return t;
                        }
                        push_utf8(&mut out, cp);
                        self.pos += used;
                        continue;
                    }
                    _ => {
                        t.index = esc;
                        t.err = "invalid escape code";
                        return t;
                    }
                }
                self.pos += 2;
                continue;
            }
            out.push(c);
            self.pos += 1;
        }
        t.kind = Tok::Str;
        t.s = out;
        t
    }

    fn fail(&self, lua: &Lua, expected: &str, t: &Token) -> mlua::Error {
        let found = if t.kind == Tok::Error {
            t.err
        } else {
            t.kind.name()
        };
        lib_err(
            lua,
            format!(
                "Expected {expected} but found {found} at character {}",
                t.index + 1
            ),
        )
    }

    fn descend(&mut self, lua: &Lua, t: &Token) -> mlua::Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(lib_err(
                lua,
                format!(
                    "Found too many nested data structures ({}) at character {}",
                    self.depth,
                    t.index + 1
                ),
            ));
        }
        Ok(())
    }

    fn value(&mut self, lua: &Lua, t: Token) -> mlua::Result<Value> {
        Ok(match t.kind {
            Tok::Str => Value::String(lua.create_string(&t.s)?),
            Tok::Num => Value::Number(t.n),
            Tok::Bool => Value::Boolean(t.b),
            Tok::Null => null_value(),
            Tok::ObjBegin => {
                self.descend(lua, &t)?;
                let tbl = lua.create_table()?;
                let mut tok = self.next_token();
                if tok.kind != Tok::ObjEnd {
                    loop {
                        if tok.kind != Tok::Str {
                            return Err(self.fail(lua, "object key string", &tok));
                        }
                        let key = lua.create_string(&tok.s)?;
                        let colon = self.next_token();
                        if colon.kind != Tok::Colon {
                            return Err(self.fail(lua, "colon", &colon));
                        }
                        let vt = self.next_token();
                        let v = self.value(lua, vt)?;
                        tbl.raw_set(key, v)?;
                        let sep = self.next_token();
                        match sep.kind {
                            Tok::ObjEnd => break,
                            Tok::Comma => tok = self.next_token(),
                            _ => return Err(self.fail(lua, "comma or object end", &sep)),
                        }
                    }
                }
                self.depth -= 1;
                Value::Table(tbl)
            }
            Tok::ArrBegin => {
                self.descend(lua, &t)?;
                let tbl = lua.create_table()?;
                let mut tok = self.next_token();
                if tok.kind != Tok::ArrEnd {
                    let mut i = 1;
                    loop {
                        let v = self.value(lua, tok)?;
                        tbl.raw_set(i, v)?;
                        i += 1;
                        let sep = self.next_token();
                        match sep.kind {
                            Tok::ArrEnd => break,
                            Tok::Comma => tok = self.next_token(),
                            _ => return Err(self.fail(lua, "comma or array end", &sep)),
                        }
                    }
                }
                self.depth -= 1;
                Value::Table(tbl)
            }
            _ => return Err(self.fail(lua, "value", &t)),
        })
    }
}

fn expect_one(lua: &Lua, args: &Variadic<Value>, f: &str) -> mlua::Result<()> {
    if args.len() != 1 {
        return Err(lib_err(
            lua,
            format!("bad argument #1 to '{f}' (expected 1 argument)"),
        ));
    }
    Ok(())
}

pub fn cjson(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("_NAME", "cjson")?;
    t.raw_set("_VERSION", "2.1.0")?;
    t.raw_set(
        "encode",
        lua.create_function(|lua, args: Variadic<Value>| {
            expect_one(lua, &args, "encode")?;
            let mut out = Vec::new();
            encode_value(lua, &mut out, &args[0], 0)?;
            lua.create_string(&out)
        })?,
    )?;
    t.raw_set(
        "decode",
        lua.create_function(|lua, args: Variadic<Value>| {
            expect_one(lua, &args, "decode")?;
            let data: Vec<u8> = match &args[0] {
                Value::String(s) => s.as_bytes().to_vec(),
                v @ (Value::Integer(_) | Value::Number(_)) => {
                    super::convert::lua_tostring_number(v).into_bytes()
                }
                other => {
                    return Err(lib_err(
                        lua,
                        format!(
                            "bad argument #1 to 'decode' (string expected, got {})",
                            type_name(other)
                        ),
                    ))
                }
            };
            let mut p = Parser {
                data: &data,
                pos: 0,
                depth: 0,
            };
            let first = p.next_token();
            let v = p.value(lua, first)?;
            let end = p.next_token();
            if end.kind != Tok::End {
                return Err(p.fail(lua, "the end", &end));
            }
            Ok(v)
        })?,
    )?;
    // Configuration functions: Strata keeps Redis's defaults and reports
    // them.
    let cfg: &[(&str, &[Value])] = &[];
    let _ = cfg;
    t.raw_set(
        "encode_keep_buffer",
        lua.create_function(|_, _: MultiValue| Ok(true))?,
    )?;
    t.raw_set(
        "encode_max_depth",
        lua.create_function(|_, _: MultiValue| Ok(MAX_DEPTH as i64))?,
    )?;
    t.raw_set(
        "decode_max_depth",
        lua.create_function(|_, _: MultiValue| Ok(MAX_DEPTH as i64))?,
    )?;
    t.raw_set(
        "encode_number_precision",
        lua.create_function(|_, _: MultiValue| Ok(14))?,
    )?;
    t.raw_set(
        "encode_sparse_array",
        lua.create_function(|_, _: MultiValue| Ok((false, 2, 10)))?,
    )?;
    t.raw_set(
        "encode_invalid_numbers",
        lua.create_function(|_, _: MultiValue| Ok(false))?,
    )?;
    t.raw_set(
        "decode_invalid_numbers",
        lua.create_function(|_, _: MultiValue| Ok(true))?,
    )?;
    let me = t.clone();
    let _ = me;
    t.raw_set(
        "new",
        lua.create_function(|lua, _: MultiValue| {
            let g: Table = lua.named_registry_value("strata.cjson")?;
            Ok(g)
        })?,
    )?;
    lua.set_named_registry_value("strata.cjson", t.clone())?;
    Ok(t)
}
