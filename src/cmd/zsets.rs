//! Zsets commands. (Filled in by the collections work.)

use crate::command::CommandSpec;

pub static TABLE: &[CommandSpec] = &[];
