//! struct (Roberto Ierusalimschy's struct library as bundled with Redis).

use mlua::{Lua, Table};

pub fn structlib(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    Ok(t)
}
