//! Hash values. (Type API filled in by the collections work.)

use bytes::Bytes;

use crate::dict::Dict;

#[derive(Default)]
pub struct Hash {
    pub fields: Dict<Bytes, Bytes>,
}

impl Clone for Hash {
    fn clone(&self) -> Self {
        let mut fields = Dict::new();
        for (k, v) in self.fields.iter() {
            fields.insert(k.clone(), v.clone());
        }
        Hash { fields }
    }
}

impl std::fmt::Debug for Hash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Hash({} fields)", self.fields.len())
    }
}

impl Hash {
    pub fn len(&self) -> usize {
        self.fields.len()
    }
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
    pub fn encoding(&self) -> &'static str {
        "hashtable"
    }
    pub fn mem_usage(&self) -> usize {
        self.fields
            .iter()
            .map(|(k, v)| k.len() + v.len() + 32)
            .sum()
    }
}
