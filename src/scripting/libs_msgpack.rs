//! cmsgpack: lua-cmsgpack 0.4.0 as bundled with Redis.

use mlua::{Lua, MultiValue, Table, Value, Variadic};

use super::lib_err;

/// Tables nested deeper than this encode as nil.
const MAX_NESTING: usize = 16;

fn number_of(v: &Value) -> Option<f64> {
    match v {
        Value::Integer(i) => Some(*i as f64),
        Value::Number(n) => Some(*n),
        _ => None,
    }
}

fn encode_int(out: &mut Vec<u8>, n: i64) {
    if n >= 0 {
        let u = n as u64;
        if u <= 127 {
            out.push(u as u8);
        } else if u <= 0xff {
            out.extend_from_slice(&[0xcc, u as u8]);
        } else if u <= 0xffff {
            out.push(0xcd);
            out.extend_from_slice(&(u as u16).to_be_bytes());
        } else if u <= 0xffff_ffff {
            out.push(0xce);
            out.extend_from_slice(&(u as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&u.to_be_bytes());
        }
    } else if n >= -32 {
        out.push(n as i8 as u8);
    } else if n >= -128 {
        out.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if n >= -32768 {
        out.push(0xd1);
        out.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= -2_147_483_648 {
        out.push(0xd2);
        out.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn encode_number(out: &mut Vec<u8>, n: f64) {
    // IS_INT64_EQUIVALENT: finite and (int64_t)n == n.
    if n.is_finite()
        && n >= -9.223_372_036_854_775_808e18
        && n < 9.223_372_036_854_775_808e18
        && n.trunc() == n
    {
        // Positive values above i64 range cannot get here; 2^63..2^64
        // would be uint64 in C but (int64_t) of them is not equal.
        encode_int(out, n as i64);
        return;
    }
    let f = n as f32;
    if f as f64 == n || n.is_nan() {
        out.push(0xca);
        out.extend_from_slice(&f.to_be_bytes());
    } else {
        out.push(0xcb);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn encode_bytes(out: &mut Vec<u8>, s: &[u8]) {
    let l = s.len();
    if l < 32 {
        out.push(0xa0 | l as u8);
    } else if l <= 0xff {
        out.extend_from_slice(&[0xd9, l as u8]);
    } else if l <= 0xffff {
        out.push(0xda);
        out.extend_from_slice(&(l as u16).to_be_bytes());
    } else {
        out.push(0xdb);
        out.extend_from_slice(&(l as u32).to_be_bytes());
    }
    out.extend_from_slice(s);
}

/// lua-cmsgpack's `table_is_an_array`: keys 1..n exactly.
fn array_len(t: &Table) -> mlua::Result<Option<usize>> {
    let mut count = 0usize;
    let mut max = 0f64;
    for pair in t.pairs::<Value, Value>() {
        let (k, _) = pair?;
        match number_of(&k) {
            Some(n) if n >= 1.0 && n.trunc() == n => {
                count += 1;
                if n > max {
                    max = n;
                }
            }
            _ => return Ok(None),
        }
    }
    Ok(if max == count as f64 {
        Some(count)
    } else {
        None
    })
}

fn encode(out: &mut Vec<u8>, v: &Value, level: usize) -> mlua::Result<()> {
    match v {
        Value::String(s) => encode_bytes(out, &s.as_bytes()),
        Value::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(_) | Value::Number(_) => encode_number(out, number_of(v).unwrap_or(0.0)),
        Value::Table(t) if level < MAX_NESTING => match array_len(t)? {
            Some(n) => {
                if n <= 15 {
                    out.push(0x90 | n as u8);
                } else if n <= 0xffff {
                    out.push(0xdc);
                    out.extend_from_slice(&(n as u16).to_be_bytes());
                } else {
                    out.push(0xdd);
                    out.extend_from_slice(&(n as u32).to_be_bytes());
                }
                for i in 1..=n {
                    let item: Value = t.raw_get(i)?;
                    encode(out, &item, level + 1)?;
                }
            }
            None => {
                let mut pairs = Vec::new();
                for pair in t.pairs::<Value, Value>() {
                    pairs.push(pair?);
                }
                let n = pairs.len();
                if n <= 15 {
                    out.push(0x80 | n as u8);
                } else if n <= 0xffff {
                    out.push(0xde);
                    out.extend_from_slice(&(n as u16).to_be_bytes());
                } else {
                    out.push(0xdf);
                    out.extend_from_slice(&(n as u32).to_be_bytes());
                }
                for (k, val) in pairs {
                    encode(out, &k, level + 1)?;
                    encode(out, &val, level + 1)?;
                }
            }
        },
        _ => out.push(0xc0),
    }
    Ok(())
}

enum DecErr {
    Eof,
    BadFmt,
}

struct Cur<'a> {
    d: &'a [u8],
    p: usize,
}

impl<'a> Cur<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecErr> {
        if self.d.len() - self.p < n {
            return Err(DecErr::Eof);
        }
        let s = &self.d[self.p..self.p + n];
        self.p += n;
        Ok(s)
    }
    fn uint(&mut self, n: usize) -> Result<u64, DecErr> {
        let b = self.take(n)?;
        Ok(b.iter().fold(0u64, |acc, &x| (acc << 8) | x as u64))
    }
}

fn decode(lua: &Lua, c: &mut Cur) -> Result<mlua::Result<Value>, DecErr> {
    let t = c.take(1)?[0];
    let num = |n: f64| Ok(Ok(Value::Number(n)));
    match t {
        0x00..=0x7f => num(t as f64),
        0xe0..=0xff => num((t as i8) as f64),
        0xcc => num(c.uint(1)? as f64),
        0xcd => num(c.uint(2)? as f64),
        0xce => num(c.uint(4)? as f64),
        0xcf => num(c.uint(8)? as f64),
        0xd0 => num(c.uint(1)? as u8 as i8 as f64),
        0xd1 => num(c.uint(2)? as u16 as i16 as f64),
        0xd2 => num(c.uint(4)? as u32 as i32 as f64),
        0xd3 => num(c.uint(8)? as i64 as f64),
        0xc0 => Ok(Ok(Value::Nil)),
        0xc2 => Ok(Ok(Value::Boolean(false))),
        0xc3 => Ok(Ok(Value::Boolean(true))),
        0xca => num(f32::from_bits(c.uint(4)? as u32) as f64),
        0xcb => num(f64::from_bits(c.uint(8)?)),
        0xa0..=0xbf | 0xd9 | 0xda | 0xdb => {
            let n = match t {
                0xd9 => c.uint(1)?,
                0xda => c.uint(2)?,
                0xdb => c.uint(4)?,
                _ => (t & 0x1f) as u64,
            } as usize;
            let s = c.take(n)?;
            Ok(lua.create_string(s).map(Value::String))
        }
        0x90..=0x9f | 0xdc | 0xdd => {
            let n = match t {
                0xdc => c.uint(2)?,
                0xdd => c.uint(4)?,
                _ => (t & 0x0f) as u64,
            };
            let tbl = match lua.create_table() {
                Ok(t) => t,
                Err(e) => return Ok(Err(e)),
            };
            for i in 0..n {
                let v = match decode(lua, c)? {
                    Ok(v) => v,
                    Err(e) => return Ok(Err(e)),
                };
                if let Err(e) = tbl.raw_set(i + 1, v) {
                    return Ok(Err(e));
                }
            }
            Ok(Ok(Value::Table(tbl)))
        }
        0x80..=0x8f | 0xde | 0xdf => {
            let n = match t {
                0xde => c.uint(2)?,
                0xdf => c.uint(4)?,
                _ => (t & 0x0f) as u64,
            };
            let tbl = match lua.create_table() {
                Ok(t) => t,
                Err(e) => return Ok(Err(e)),
            };
            for _ in 0..n {
                let k = match decode(lua, c)? {
                    Ok(v) => v,
                    Err(e) => return Ok(Err(e)),
                };
                let v = match decode(lua, c)? {
                    Ok(v) => v,
                    Err(e) => return Ok(Err(e)),
                };
                if !k.is_nil() {
                    if let Err(e) = tbl.raw_set(k, v) {
                        return Ok(Err(e));
                    }
                }
            }
            Ok(Ok(Value::Table(tbl)))
        }
        _ => Err(DecErr::BadFmt),
    }
}

fn string_arg(lua: &Lua, args: &[Value], i: usize, f: &str) -> mlua::Result<Vec<u8>> {
    match args.get(i) {
        Some(Value::String(s)) => Ok(s.as_bytes().to_vec()),
        Some(v @ (Value::Integer(_) | Value::Number(_))) => {
            Ok(super::convert::lua_tostring_number(v).into_bytes())
        }
        other => Err(lib_err(
            lua,
            format!(
                "bad argument #{} to '{f}' (string expected, got {})",
                i + 1,
                super::type_name(other)
            ),
        )),
    }
}

/// Decodes up to `limit` objects (0 = all) from `offset`; returns the
/// values and the offset after them.
fn unpack_full(
    lua: &Lua,
    data: &[u8],
    limit: usize,
    offset: usize,
) -> mlua::Result<(Vec<Value>, usize)> {
    let mut c = Cur {
        d: data,
        p: offset.min(data.len()),
    };
    let mut out = Vec::new();
    while c.p < data.len() && (limit == 0 || out.len() < limit) {
        match decode(lua, &mut c) {
            Ok(v) => out.push(v?),
            Err(DecErr::Eof) => return Err(lib_err(lua, "Missing bytes in input.")),
            Err(DecErr::BadFmt) => return Err(lib_err(lua, "Bad data format in input.")),
        }
    }
    Ok((out, c.p))
}

fn int_arg(args: &[Value], i: usize) -> i64 {
    super::check_number(args.get(i))
        .map(|n| n.trunc() as i64)
        .unwrap_or(0)
}

pub fn cmsgpack(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("_NAME", "cmsgpack")?;
    t.raw_set("_VERSION", "lua-cmsgpack 0.4.0")?;
    t.raw_set("_COPYRIGHT", "Copyright (C) 2012, Salvatore Sanfilippo")?;
    t.raw_set("_DESCRIPTION", "MessagePack C implementation for Lua")?;
    t.raw_set(
        "pack",
        lua.create_function(|lua, args: Variadic<Value>| {
            if args.is_empty() {
                return Err(lib_err(
                    lua,
                    "bad argument #0 to 'pack' (MessagePack pack needs input.)",
                ));
            }
            let mut out = Vec::new();
            for a in args.iter() {
                encode(&mut out, a, 0)?;
            }
            lua.create_string(&out)
        })?,
    )?;
    t.raw_set(
        "unpack",
        lua.create_function(|lua, args: Variadic<Value>| {
            let data = string_arg(lua, &args, 0, "unpack")?;
            let (vals, _) = unpack_full(lua, &data, 0, 0)?;
            Ok(MultiValue::from_iter(vals))
        })?,
    )?;
    t.raw_set(
        "unpack_one",
        lua.create_function(|lua, args: Variadic<Value>| {
            let data = string_arg(lua, &args, 0, "unpack_one")?;
            let offset = int_arg(&args, 1).max(0) as usize;
            let (vals, end) = unpack_full(lua, &data, 1, offset)?;
            let next = if end >= data.len() { -1 } else { end as i64 };
            let mut out = vec![Value::Number(next as f64)];
            out.extend(vals);
            Ok(MultiValue::from_iter(out))
        })?,
    )?;
    t.raw_set(
        "unpack_limit",
        lua.create_function(|lua, args: Variadic<Value>| {
            let data = string_arg(lua, &args, 0, "unpack_limit")?;
            let limit = int_arg(&args, 1).max(0) as usize;
            let offset = int_arg(&args, 2).max(0) as usize;
            let (vals, end) = unpack_full(lua, &data, limit, offset)?;
            let next = if end >= data.len() { -1 } else { end as i64 };
            let mut out = vec![Value::Number(next as f64)];
            out.extend(vals);
            Ok(MultiValue::from_iter(out))
        })?,
    )?;
    Ok(t)
}
