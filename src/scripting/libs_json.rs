//! cjson (lua-cjson 2.1.0 as bundled with Redis).

use mlua::{Lua, Table};

pub fn cjson(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("_NAME", "cjson")?;
    t.raw_set("_VERSION", "2.1.0")?;
    Ok(t)
}
