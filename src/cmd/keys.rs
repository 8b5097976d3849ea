//! Generic keyspace commands: DEL, EXISTS, EXPIRE, SCAN, ...

use crate::command::CommandSpec;

pub static TABLE: &[CommandSpec] = &[];
