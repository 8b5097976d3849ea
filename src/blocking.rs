//! Blocking commands (BLPOP, BLMOVE, BZPOPMIN, ...): API used by the
//! command families. (Provisional body: blocking is not wired yet, so a
//! blocking command with no data answers as if it timed out at once.)

use bytes::Bytes;

use crate::command::Ctx;
use crate::error::Error;

/// What a blocked command replies when its timeout expires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeoutReply {
    /// `*-1` (RESP3 `_`): BLPOP, BRPOP, BLMPOP, BZPOPMIN, BZPOPMAX, BZMPOP.
    NullArray,
    /// `$-1` (RESP3 `_`): BLMOVE, BRPOPLPUSH.
    NullBulk,
}

/// Parses a blocking timeout in seconds (float allowed) into an absolute
/// deadline in unix ms; `None` means wait forever (timeout 0).
/// Errors exactly as Redis: `ERR timeout is not a float or out of range`,
/// `ERR timeout is negative`.
pub fn parse_timeout(arg: &[u8], now_ms: i64) -> Result<Option<i64>, Error> {
    let secs = strata_storage::num::parse_f64(arg)
        .filter(|v| v.is_finite())
        .ok_or_else(|| Error::err("timeout is not a float or out of range"))?;
    if secs < 0.0 {
        return Err(Error::err("timeout is negative"));
    }
    let ms = (secs * 1000.0).ceil();
    if ms > (i64::MAX / 2) as f64 {
        return Err(Error::err("timeout is out of range"));
    }
    if ms == 0.0 {
        Ok(None)
    } else {
        Ok(Some(now_ms + ms as i64))
    }
}

/// Blocks the running command's client on `keys` until one of them is
/// signalled ready (see [`Ctx::signal_key_ready`]) or `deadline` passes;
/// the command is then run again from the start. The handler must return
/// `Ok(())` right after calling this, without writing a reply.
///
/// Where blocking is not allowed (inside MULTI/EXEC or a script:
/// `ctx.client.deny_blocking`), the timeout reply is written at once.
pub fn block_on_keys(
    ctx: &mut Ctx,
    keys: &[Bytes],
    deadline: Option<i64>,
    timeout_reply: TimeoutReply,
) {
    let _ = (keys, deadline);
    match timeout_reply {
        TimeoutReply::NullArray => ctx.reply.null_array(),
        TimeoutReply::NullBulk => ctx.reply.null(),
    }
}
