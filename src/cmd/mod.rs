//! Command families, one file each; every file ends with its `TABLE`.
//! Adding a command touches only its family file.

use crate::command::CommandSpec;

pub mod connection;
pub mod dump;
pub mod functions;
pub mod hashes;
pub mod keys;
pub mod lists;
pub mod persistence;
pub mod pubsub;
pub mod scripting;
pub mod server;
pub mod sets;
pub mod sort;
pub mod streams;
pub mod strings;
pub mod transactions;
pub mod zsets;

/// Every family's table, gathered by [`crate::command::table`].
pub static FAMILIES: &[&[CommandSpec]] = &[
    connection::TABLE,
    dump::TABLE,
    functions::TABLE,
    hashes::TABLE,
    keys::TABLE,
    lists::TABLE,
    persistence::TABLE,
    pubsub::TABLE,
    scripting::TABLE,
    server::TABLE,
    sets::TABLE,
    sort::TABLE,
    streams::TABLE,
    strings::TABLE,
    transactions::TABLE,
    zsets::TABLE,
];
