//! List values. (Type API filled in by the collections work.)

use std::collections::VecDeque;

use bytes::Bytes;

#[derive(Clone, Debug, Default)]
pub struct List {
    pub items: VecDeque<Bytes>,
}

impl List {
    pub fn len(&self) -> usize {
        self.items.len()
    }
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }
    pub fn mem_usage(&self) -> usize {
        self.items.iter().map(|b| b.len() + 16).sum()
    }
}
