//! Command propagation: the stream of writes the AOF (and, later,
//! replication) sees, as Redis 7.0 produces it.
//!
//! After a command runs and changed the dataset (`State::dirty` grew),
//! its argv is queued as an op of the running *execution unit* (Redis's
//! `server.also_propagate`), in the client's selected database. A handler
//! can change what is queued:
//!
//! * [`Ctx::propagate_rewrite`]: propagate another argv instead of its own
//!   (Redis's `rewriteClientCommandVector`): relative TTLs become absolute
//!   (`SET k v PXAT ms`, `PEXPIREAT`), INCRBYFLOAT becomes a SET of the
//!   result, a served BLPOP becomes LPOP...
//! * [`Ctx::also_propagate`]: queue an extra op before its own (SPOP with
//!   a count queues one SREM per member);
//! * [`Ctx::prevent_propagation`]: do not queue its own argv;
//! * [`Ctx::force_propagation`]: queue it even if nothing changed
//!   (FLUSHDB on an empty database, as Redis).
//!
//! When the top-level command (a whole EXEC or script included) finishes,
//! [`end_unit`] emits the unit: one op alone, several wrapped in
//! `MULTI` ... `EXEC` (Redis 7.0's `propagatePendingCommands`). EXEC and
//! scripts are never propagated themselves: their effects are (effects
//! replication). Keys a command finds expired are deleted with a `DEL`
//! (or `UNLINK` with `lazyfree-lazy-expire`) queued in the same unit before
//! the command; keys removed by the active expiry cycle or by eviction are
//! emitted at once, each alone, as Redis 7.0 does.
//!
//! Emitting means feeding [`crate::aof::feed`], which adds `SELECT` when
//! the database differs from the last one it wrote.

use bytes::Bytes;

use crate::command::{CommandSpec, Ctx};
use crate::server::State;

/// One propagated command.
#[derive(Clone, Debug)]
pub struct Op {
    pub db: usize,
    pub argv: Vec<Bytes>,
}

/// What the running command asked for (saved and restored around nested
/// calls: EXEC and scripts run commands inside a command).
#[derive(Default, Debug)]
pub struct Directives {
    prevent: bool,
    force: bool,
    rewrite: Option<Vec<Bytes>>,
}

/// Propagation state, in [`State::prop`].
#[derive(Default, Debug)]
pub struct Propagation {
    /// A consumer exists (the AOF is on). When false nothing is queued,
    /// so commands pay nothing for propagation.
    pub enabled: bool,
    /// Ops of the running execution unit.
    pub ops: Vec<Op>,
    /// Directives of the running command.
    cur: Directives,
    /// Commands running (nesting): keys expiring meanwhile join the unit.
    depth: u32,
}

/// Saved around one `call` (see [`enter`] and [`leave`]).
pub struct Frame {
    dirty_before: u64,
    outer: Directives,
}

/// Commands that are never propagated themselves (their inner commands
/// are).
fn never_propagated(name: &str) -> bool {
    matches!(
        name,
        "exec" | "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro"
    )
}

/// Before a handler runs.
pub fn enter(state: &mut State) -> Frame {
    state.prop.depth += 1;
    Frame {
        dirty_before: state.dirty,
        outer: std::mem::take(&mut state.prop.cur),
    }
}

/// After a handler ran: queues its op if it changed the dataset (or asked
/// to be forced), unless it prevented it.
pub fn leave(state: &mut State, frame: Frame, db: usize, cmd: &CommandSpec, args: &[Bytes]) {
    let cur = std::mem::replace(&mut state.prop.cur, frame.outer);
    if state.prop.enabled {
        // Keys the command found expired are deleted first (Redis 7.0
        // queues their DEL in the same unit, before the command).
        state.after_command();
        if !never_propagated(cmd.name)
            && !cur.prevent
            && (state.dirty > frame.dirty_before || cur.force)
        {
            let argv = cur.rewrite.unwrap_or_else(|| args.to_vec());
            state.prop.ops.push(Op { db, argv });
        }
    }
    state.prop.depth -= 1;
}

/// Emits the ops of the finished execution unit (Redis's
/// `propagatePendingCommands`): one alone, several inside MULTI/EXEC.
pub fn end_unit(state: &mut State) {
    if state.prop.ops.is_empty() {
        return;
    }
    let ops = std::mem::take(&mut state.prop.ops);
    let wrap = ops.len() > 1;
    if wrap {
        crate::aof::feed(state, ops[0].db, &[Bytes::from_static(b"MULTI")]);
    }
    let last_db = ops[ops.len() - 1].db;
    for op in &ops {
        crate::aof::feed(state, op.db, &op.argv);
    }
    if wrap {
        crate::aof::feed(state, last_db, &[Bytes::from_static(b"EXEC")]);
    }
}

/// Emits a single op right away (outside the running unit).
pub fn now(state: &mut State, db: usize, argv: &[Bytes]) {
    if state.prop.enabled {
        crate::aof::feed(state, db, argv);
    }
}

/// A key was deleted because it expired: `DEL key` (`UNLINK key` with
/// `lazyfree-lazy-expire yes`), part of the running unit when a command
/// found it expired, emitted alone when the active cycle removed it.
pub fn expired(state: &mut State, db: usize, key: &Bytes) {
    if !state.prop.enabled {
        return;
    }
    let argv = vec![del_or_unlink(state, "lazyfree-lazy-expire"), key.clone()];
    if state.prop.depth > 0 {
        state.prop.ops.push(Op { db, argv });
    } else {
        now(state, db, &argv);
    }
}

/// A key was evicted (for the memory manager): `DEL key`, or `UNLINK key`
/// with `lazyfree-lazy-eviction yes`.
pub fn evicted(state: &mut State, db: usize, key: &Bytes) {
    if !state.prop.enabled {
        return;
    }
    let cmd = del_or_unlink(state, "lazyfree-lazy-eviction");
    now(state, db, &[cmd, key.clone()]);
}

/// `DEL`, or `UNLINK` when the boolean option `lazyfree` is on.
pub fn del_or_unlink(state: &State, lazyfree: &str) -> Bytes {
    if state.config.get_bool(lazyfree) {
        Bytes::from_static(b"UNLINK")
    } else {
        Bytes::from_static(b"DEL")
    }
}

/// `Bytes` of a decimal integer.
pub fn int_arg(v: i64) -> Bytes {
    Bytes::copy_from_slice(itoa::Buffer::new().format(v).as_bytes())
}

impl Ctx<'_> {
    /// True when propagated commands are consumed (handlers may skip
    /// building a rewritten argv otherwise).
    pub fn propagating(&self) -> bool {
        self.state.prop.enabled
    }

    /// Propagate `argv` instead of this command's own arguments (Redis's
    /// `rewriteClientCommandVector`). Effective only if the command
    /// changes the dataset (or forces propagation).
    pub fn propagate_rewrite(&mut self, argv: Vec<Bytes>) {
        if self.state.prop.enabled {
            self.state.prop.cur.rewrite = Some(argv);
        }
    }

    /// Propagate `argv` too, in the selected database, before this
    /// command's own op (Redis's `alsoPropagate`).
    pub fn also_propagate(&mut self, argv: Vec<Bytes>) {
        let db = self.client.db;
        self.also_propagate_db(db, argv);
    }

    /// [`Ctx::also_propagate`] in database `db`.
    pub fn also_propagate_db(&mut self, db: usize, argv: Vec<Bytes>) {
        if self.state.prop.enabled {
            self.state.prop.ops.push(Op { db, argv });
        }
    }

    /// Do not propagate this command's own argv (Redis's
    /// `preventCommandPropagation`); ops queued with `also_propagate`
    /// still go.
    pub fn prevent_propagation(&mut self) {
        self.state.prop.cur.prevent = true;
    }

    /// Propagate this command even if it changed nothing (Redis's
    /// `forceCommandPropagation`).
    pub fn force_propagation(&mut self) {
        self.state.prop.cur.force = true;
    }
}
