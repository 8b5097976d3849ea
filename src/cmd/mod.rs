//! Command families, one file each; every file ends with its `TABLE`.
//! Adding a command touches only its family file.

use crate::command::CommandSpec;

pub mod connection;
pub mod keys;
pub mod server;
pub mod strings;

/// Every family's table, gathered by [`crate::command::table`].
pub static FAMILIES: &[&[CommandSpec]] = &[
    connection::TABLE,
    keys::TABLE,
    server::TABLE,
    strings::TABLE,
];
