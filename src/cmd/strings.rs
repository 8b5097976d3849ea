//! String commands: GET, SET and the rest of the Redis 7.0 string family.

use bytes::Bytes;
use strata_storage::value::{Str, Value};

use crate::command::{CommandSpec, Ctx, Flags, Keys};
use crate::error::{CmdResult, Error};

/// Reads a string key: `Ok(None)` if missing, WRONGTYPE if not a string.
pub fn get_str(ctx: &mut Ctx, key: &[u8]) -> Result<Option<Bytes>, Error> {
    match ctx.lookup_read(key) {
        None => Ok(None),
        Some(e) => match &e.value {
            Value::Str(s) => Ok(Some(s.to_bytes())),
            _ => Err(Error::WrongType),
        },
    }
}

/// GET key
fn get(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.arg(1).clone();
    match get_str(ctx, &key)? {
        Some(v) => ctx.reply.bulk(&v),
        None => ctx.reply.null(),
    }
    Ok(())
}

/// SET key value
fn set(ctx: &mut Ctx) -> CmdResult {
    let key = ctx.arg(1).clone();
    let value = Str::from_bytes(ctx.arg(2).clone());
    let now = ctx.now_ms;
    ctx.db().set(key.clone(), Value::Str(value), now);
    ctx.signal_modified(&key);
    ctx.notify('$', "set", &key);
    ctx.add_dirty(1);
    ctx.reply.ok();
    Ok(())
}

const W: Flags = Flags::WRITE;
const R: Flags = Flags::READONLY;

pub static TABLE: &[CommandSpec] = &[
    CommandSpec::new("get", 2, R.or(Flags::FAST), Keys::one(), get).doc("string", "1.0.0", "Returns the string value of a key."),
    CommandSpec::new("set", -3, W.or(Flags::DENYOOM), Keys::one(), set).doc("string", "1.0.0", "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist."),
];
