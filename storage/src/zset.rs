//! Sorted set values. (Type API filled in by the collections work.)

use std::collections::BTreeMap;

use bytes::Bytes;

#[derive(Clone, Debug, Default)]
pub struct ZSet {
    pub scores: BTreeMap<Bytes, f64>,
}

impl ZSet {
    pub fn len(&self) -> usize {
        self.scores.len()
    }
    pub fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }
    pub fn encoding(&self) -> &'static str {
        "skiplist"
    }
    pub fn mem_usage(&self) -> usize {
        self.scores.keys().map(|k| k.len() + 40).sum()
    }
}
