//! Set values. (Type API filled in by the collections work.)

use bytes::Bytes;

use crate::dict::Dict;

#[derive(Default)]
pub struct Set {
    pub members: Dict<Bytes, ()>,
}

impl Clone for Set {
    fn clone(&self) -> Self {
        let mut members = Dict::new();
        for (k, _) in self.members.iter() {
            members.insert(k.clone(), ());
        }
        Set { members }
    }
}

impl std::fmt::Debug for Set {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Set({} members)", self.members.len())
    }
}

impl Set {
    pub fn len(&self) -> usize {
        self.members.len()
    }
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }
    pub fn encoding(&self) -> &'static str {
        "hashtable"
    }
    pub fn mem_usage(&self) -> usize {
        self.members.iter().map(|(k, _)| k.len() + 24).sum()
    }
}
