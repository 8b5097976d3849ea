//! Command families, one file each; every file ends with its `TABLE`.
//! Adding a command touches only its family file.

use crate::command::CommandSpec;

pub mod connection;
pub mod hashes;
pub mod keys;
pub mod lists;
pub mod pubsub;
pub mod scripting;
pub mod server;
pub mod sets;
pub mod strings;
pub mod transactions;
pub mod zsets;

/// Every family's table, gathered by [`crate::command::table`].
pub static FAMILIES: &[&[CommandSpec]] = &[
    connection::TABLE,
    hashes::TABLE,
    keys::TABLE,
    lists::TABLE,
    pubsub::TABLE,
    scripting::TABLE,
    server::TABLE,
    sets::TABLE,
    strings::TABLE,
    transactions::TABLE,
    zsets::TABLE,
];
