//! Redis's bundled Lua libraries, in Rust: `bit` (LuaBitOp), `cjson`,
//! `cmsgpack` and `struct`. Errors are raised as plain strings, as the C
//! libraries' `luaL_error` does.

use mlua::{Lua, MultiValue, Table, Value, Variadic};

use super::{bad_number, check_number, lib_error};

fn one(v: Value) -> mlua::Result<MultiValue> {
    Ok(MultiValue::from_iter([v]))
}

/// LuaBitOp's argument conversion: numbers wrap modulo 2^32.
fn tobit(n: f64) -> i32 {
    // LuaBitOp adds 2^52+2^51 and takes the low 32 bits: round half even
    // to integer, then wrap.
    let r = n.round_ties_even();
    if !r.is_finite() {
        return 0;
    }
    (r.rem_euclid(4_294_967_296.0) as u64 as u32) as i32
}

fn bitarg(lua: &Lua, args: &[Value], i: usize, f: &str) -> Result<i32, mlua::Result<MultiValue>> {
    match check_number(args.get(i)) {
        Some(n) => Ok(tobit(n)),
        None => Err(lib_error(lua, bad_number(i + 1, f, args.get(i)))),
    }
}

macro_rules! bitfn {
    ($lua:expr, $t:expr, $name:literal, |$args:ident, $l:ident| $body:expr) => {
        $t.raw_set(
            $name,
            $lua.create_function(
                |$l: &Lua, $args: Variadic<Value>| -> mlua::Result<MultiValue> { $body },
            )?,
        )?;
    };
}

/// LuaBitOp 1.0.2.
pub fn bit(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    bitfn!(lua, t, "tobit", |a, l| {
        match bitarg(l, &a, 0, "tobit") {
            Ok(x) => one(Value::Number(x as f64)),
            Err(e) => e,
        }
    });
    bitfn!(lua, t, "bnot", |a, l| {
        match bitarg(l, &a, 0, "bnot") {
            Ok(x) => one(Value::Number((!x) as f64)),
            Err(e) => e,
        }
    });
    bitfn!(lua, t, "bswap", |a, l| {
        match bitarg(l, &a, 0, "bswap") {
            Ok(x) => one(Value::Number(x.swap_bytes() as f64)),
            Err(e) => e,
        }
    });
    fn fold(l: &Lua, a: &[Value], name: &str, op: fn(i32, i32) -> i32) -> mlua::Result<MultiValue> {
        let mut acc = match bitarg(l, a, 0, name) {
            Ok(x) => x,
            Err(e) => return e,
        };
        for i in 1..a.len() {
            match bitarg(l, a, i, name) {
                Ok(x) => acc = op(acc, x),
                Err(e) => return e,
            }
        }
        one(Value::Number(acc as f64))
    }
    bitfn!(lua, t, "band", |a, l| fold(l, &a, "band", |x, y| x & y));
    bitfn!(lua, t, "bor", |a, l| fold(l, &a, "bor", |x, y| x | y));
    bitfn!(lua, t, "bxor", |a, l| fold(l, &a, "bxor", |x, y| x ^ y));
    fn shift(
        l: &Lua,
        a: &[Value],
        name: &str,
        op: fn(u32, u32) -> u32,
    ) -> mlua::Result<MultiValue> {
        let x = match bitarg(l, a, 0, name) {
            Ok(x) => x as u32,
            Err(e) => return e,
        };
        let n = match bitarg(l, a, 1, name) {
            Ok(n) => (n as u32) & 31,
            Err(e) => return e,
        };
        one(Value::Number(op(x, n) as i32 as f64))
    }
    bitfn!(lua, t, "lshift", |a, l| shift(l, &a, "lshift", |x, n| x
        << n));
    bitfn!(lua, t, "rshift", |a, l| shift(l, &a, "rshift", |x, n| x
        >> n));
    bitfn!(lua, t, "arshift", |a, l| shift(
        l,
        &a,
        "arshift",
        |x, n| ((x as i32) >> n) as u32
    ));
    bitfn!(lua, t, "rol", |a, l| shift(l, &a, "rol", |x, n| x
        .rotate_left(n)));
    bitfn!(lua, t, "ror", |a, l| shift(l, &a, "ror", |x, n| x
        .rotate_right(n)));
    bitfn!(lua, t, "tohex", |a, l| {
        let x = match bitarg(l, &a, 0, "tohex") {
            Ok(x) => x as u32,
            Err(e) => return e,
        };
        let mut n: i32 = if a.len() > 1 && !a[1].is_nil() {
            match bitarg(l, &a, 1, "tohex") {
                Ok(n) => n,
                Err(e) => return e,
            }
        } else {
            8
        };
        let upper = n < 0;
        if upper {
            n = -n;
        }
        let n = n.clamp(0, 8) as usize;
        let full = if upper {
            format!("{x:08X}")
        } else {
            format!("{x:08x}")
        };
        one(Value::String(l.create_string(&full[8 - n..])?))
    });
    Ok(t)
}

pub fn cjson(lua: &Lua) -> mlua::Result<Table> {
    super::libs_json::cjson(lua)
}

pub fn cmsgpack(lua: &Lua) -> mlua::Result<Table> {
    super::libs_msgpack::cmsgpack(lua)
}

pub fn structlib(lua: &Lua) -> mlua::Result<Table> {
    super::libs_struct::structlib(lua)
}
