//! struct: Roberto Ierusalimschy's struct library as bundled with Redis
//! (pack, unpack, size; formats `<>!= x bBhHlLT iI[n] fd c[n] s`).

use mlua::{Lua, MultiValue, Table, Value, Variadic};

use super::{check_number, lib_err};

const MAXINTSIZE: usize = 32;
const MAXALIGN: usize = 8;

struct Header {
    little: bool,
    align: usize,
}

struct Fmt<'a> {
    f: &'a [u8],
    i: usize,
}

impl Fmt<'_> {
    fn getnum(&mut self, default: usize) -> usize {
        if self.i >= self.f.len() || !self.f[self.i].is_ascii_digit() {
            return default;
        }
        let mut a: usize = 0;
        while self.i < self.f.len() && self.f[self.i].is_ascii_digit() {
            a = a
                .saturating_mul(10)
                .saturating_add((self.f[self.i] - b'0') as usize);
            self.i += 1;
        }
        a
    }
}

/// Size of option `opt` (reading its count digits).
fn optsize(lua: &Lua, opt: u8, fmt: &mut Fmt, f: &str) -> mlua::Result<usize> {
    Ok(match opt {
        b'B' | b'b' => 1,
        b'H' | b'h' => 2,
        b'L' | b'l' | b'T' => 8,
        b'f' => 4,
        b'd' => 8,
        b'x' => 1,
        b'c' => fmt.getnum(1),
        b'i' | b'I' => {
            let sz = fmt.getnum(4);
            if sz > MAXINTSIZE {
                return Err(lib_err(
                    lua,
                    format!("integral size {sz} is larger than limit of {MAXINTSIZE}"),
                ));
            }
            sz
        }
        _ => {
            let _ = f;
            0
        }
    })
}

fn gettoalign(len: usize, h: &Header, opt: u8, size: usize) -> usize {
    if size == 0 || opt == b'c' {
        return 0;
    }
    let size = size.min(h.align);
    (size - (len & (size - 1))) & (size - 1)
}

/// Applies a control option; returns false if `opt` is not one.
fn controloptions(
    lua: &Lua,
    opt: u8,
    fmt: &mut Fmt,
    h: &mut Header,
    f: &str,
) -> mlua::Result<bool> {
    match opt {
        b' ' => {}
        b'>' => h.little = false,
        b'<' | b'=' => h.little = true,
        b'!' => {
            let a = fmt.getnum(MAXALIGN);
            if a == 0 || !a.is_power_of_two() {
                return Err(lib_err(lua, format!("alignment {a} is not a power of 2")));
            }
            h.align = a;
        }
        b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' | b'f' | b'd' | b'x'
        | b'c' | b's' => return Ok(false),
        other => {
            return Err(lib_err(
                lua,
                format!(
                    "bad argument #1 to '{f}' (invalid format option '{}')",
                    other as char
                ),
            ))
        }
    }
    Ok(true)
}

fn put_int(out: &mut Vec<u8>, n: f64, little: bool, size: usize) {
    let mut value: u64 = if n < 0.0 { (n as i64) as u64 } else { n as u64 };
    let mut buf = vec![0u8; size];
    if little {
        for b in buf.iter_mut() {
            *b = (value & 0xff) as u8;
            value >>= 8;
        }
    } else {
        for b in buf.iter_mut().rev() {
            *b = (value & 0xff) as u8;
            value >>= 8;
        }
    }
    out.extend_from_slice(&buf);
}

fn get_int(d: &[u8], little: bool, signed: bool, size: usize) -> f64 {
    let mut l: u64 = 0;
    if little {
        for &b in d.iter().rev() {
            l = (l << 8) | b as u64;
        }
    } else {
        for &b in d {
            l = (l << 8) | b as u64;
        }
    }
    if !signed {
        return l as f64;
    }
    if size * 8 >= 1 && size * 8 - 1 < 64 {
        let mask: u64 = u64::MAX << (size * 8 - 1);
        if l & mask != 0 {
            l |= mask;
        }
    }
    (l as i64) as f64
}

fn number_arg(lua: &Lua, args: &[Value], i: usize, f: &str) -> mlua::Result<f64> {
    // struct.c pushes a placeholder first, so a missing argument reads
    // as nil rather than "no value".
    let v = args.get(i).or(Some(&Value::Nil));
    check_number(v).ok_or_else(|| lib_err(lua, super::bad_number(i + 1, f, v)))
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

fn pack(lua: &Lua, args: Variadic<Value>) -> mlua::Result<mlua::String> {
    let fmtb = string_arg(lua, &args, 0, "pack")?;
    let mut fmt = Fmt { f: &fmtb, i: 0 };
    let mut h = Header {
        little: true,
        align: 1,
    };
    let mut arg = 1;
    let mut out: Vec<u8> = Vec::new();
    while fmt.i < fmt.f.len() {
        let opt = fmt.f[fmt.i];
        fmt.i += 1;
        if controloptions(lua, opt, &mut fmt, &mut h, "pack")? {
            continue;
        }
        let size = optsize(lua, opt, &mut fmt, "pack")?;
        let toalign = gettoalign(out.len(), &h, opt, size);
        out.extend(std::iter::repeat(0u8).take(toalign));
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let n = number_arg(lua, &args, arg, "pack")?;
                arg += 1;
                put_int(&mut out, n, h.little, size);
            }
            b'x' => out.push(0),
            b'f' => {
                let n = number_arg(lua, &args, arg, "pack")? as f32;
                arg += 1;
                if h.little {
                    out.extend_from_slice(&n.to_le_bytes());
                } else {
                    out.extend_from_slice(&n.to_be_bytes());
                }
            }
            b'd' => {
                let n = number_arg(lua, &args, arg, "pack")?;
                arg += 1;
                if h.little {
                    out.extend_from_slice(&n.to_le_bytes());
                } else {
                    out.extend_from_slice(&n.to_be_bytes());
                }
            }
            b'c' | b's' => {
                let s = string_arg(lua, &args, arg, "pack")?;
                arg += 1;
                let mut size = size;
                if size == 0 || opt == b's' {
                    size = s.len();
                }
                if s.len() < size {
                    return Err(lib_err(
                        lua,
                        format!("bad argument #{arg} to 'pack' (string too short)"),
                    ));
                }
                out.extend_from_slice(&s[..size]);
                if opt == b's' {
                    out.push(0);
                }
            }
            _ => {}
        }
    }
    lua.create_string(&out)
}

fn unpack(lua: &Lua, args: Variadic<Value>) -> mlua::Result<MultiValue> {
    let fmtb = string_arg(lua, &args, 0, "unpack")?;
    let data = string_arg(lua, &args, 1, "unpack")?;
    let ld = data.len();
    let init = match args.get(2) {
        None | Some(Value::Nil) => 1.0,
        _ => number_arg(lua, &args, 2, "unpack")?,
    };
    let mut pos = (init.trunc() as i64 - 1).max(0) as usize;
    if init < 1.0 {
        return Err(lib_err(
            lua,
            "bad argument #3 to 'unpack' (offset must be 1 or greater)",
        ));
    }
    let mut fmt = Fmt { f: &fmtb, i: 0 };
    let mut h = Header {
        little: true,
        align: 1,
    };
    let mut out: Vec<Value> = Vec::new();
    while fmt.i < fmt.f.len() {
        let opt = fmt.f[fmt.i];
        fmt.i += 1;
        if controloptions(lua, opt, &mut fmt, &mut h, "unpack")? {
            continue;
        }
        let mut size = optsize(lua, opt, &mut fmt, "unpack")?;
        pos += gettoalign(pos, &h, opt, size);
        if pos + size > ld {
            return Err(lib_err(
                lua,
                "bad argument #2 to 'unpack' (data string too short)",
            ));
        }
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let signed = opt.is_ascii_lowercase();
                out.push(Value::Number(get_int(
                    &data[pos..pos + size],
                    h.little,
                    signed,
                    size,
                )));
            }
            b'x' => {}
            b'f' => {
                let mut b = [0u8; 4];
                b.copy_from_slice(&data[pos..pos + 4]);
                let f = if h.little {
                    f32::from_le_bytes(b)
                } else {
                    f32::from_be_bytes(b)
                };
                out.push(Value::Number(f as f64));
            }
            b'd' => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&data[pos..pos + 8]);
                let f = if h.little {
                    f64::from_le_bytes(b)
                } else {
                    f64::from_be_bytes(b)
                };
                out.push(Value::Number(f));
            }
            b'c' => {
                if size == 0 {
                    let prev = out.last().and_then(|v| check_number(Some(v)));
                    let Some(n) = prev else {
                        return Err(lib_err(lua, "format 'c0' needs a previous size"));
                    };
                    out.pop();
                    size = n.max(0.0) as usize;
                    if pos + size > ld {
                        return Err(lib_err(
                            lua,
                            "bad argument #2 to 'unpack' (data string too short)",
                        ));
                    }
                }
                out.push(Value::String(lua.create_string(&data[pos..pos + size])?));
            }
            b's' => {
                let Some(e) = data[pos..].iter().position(|&b| b == 0) else {
                    return Err(lib_err(lua, "unfinished string in data"));
                };
                out.push(Value::String(lua.create_string(&data[pos..pos + e])?));
                size = e + 1;
            }
            _ => {}
        }
        pos += size;
    }
    out.push(Value::Number((pos + 1) as f64));
    Ok(MultiValue::from_iter(out))
}

fn size(lua: &Lua, args: Variadic<Value>) -> mlua::Result<f64> {
    let fmtb = string_arg(lua, &args, 0, "size")?;
    let mut fmt = Fmt { f: &fmtb, i: 0 };
    let mut h = Header {
        little: true,
        align: 1,
    };
    let mut pos = 0usize;
    while fmt.i < fmt.f.len() {
        let opt = fmt.f[fmt.i];
        fmt.i += 1;
        if controloptions(lua, opt, &mut fmt, &mut h, "size")? {
            continue;
        }
        let size = optsize(lua, opt, &mut fmt, "size")?;
        pos += gettoalign(pos, &h, opt, size);
        if opt == b's' || (opt == b'c' && size == 0) {
            return Err(lib_err(
                lua,
                "bad argument #1 to 'size' (options 'c0' - 's' have undefined sizes)",
            ));
        }
        pos += size;
    }
    Ok(pos as f64)
}

pub fn structlib(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("pack", lua.create_function(pack)?)?;
    t.raw_set("unpack", lua.create_function(unpack)?)?;
    t.raw_set("size", lua.create_function(size)?)?;
    Ok(t)
}
