//! Conversion between in-memory values and [`RdbValue`]s.
//!
//! Writing keeps Redis's encodings: a listpack hash is written as a
//! listpack, an intset as an intset, so DUMP output matches Redis's for the
//! same encoding. Reading rebuilds values under the configured encoding
//! thresholds, choosing the compact form when the contents fit.

use super::{Compact, RdbValue};
use crate::hash::{Hash, HashLimits};
use crate::list::{End, List};
use crate::set::Set;
use crate::value::{Str, Value};
use crate::zset::{self, ZSet};

/// Encoding thresholds used when rebuilding values.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub hash: HashLimits,
    pub zset: zset::Limits,
    pub set_max_intset_entries: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            hash: HashLimits::default(),
            zset: zset::Limits {
                max_entries: 128,
                max_value: 64,
            },
            set_max_intset_entries: 512,
        }
    }
}

/// A transient copy of stored bytes. Not a clone: cloning a `Bytes` made
/// from a `Vec` converts it to the shared form for good, an allocation
/// that would stay with every value a snapshot, DUMP or spill touched.
fn copy(b: &bytes::Bytes) -> bytes::Bytes {
    bytes::Bytes::copy_from_slice(b)
}

/// Describes a value for the codec, with the compactness of its encoding.
pub fn to_rdb(v: &Value) -> (RdbValue, Compact) {
    match v {
        Value::Str(Str::Raw(b)) => (RdbValue::String(copy(b)), Compact::Yes),
        Value::Str(s) => (RdbValue::String(s.to_bytes()), Compact::Yes),
        Value::List(l) => (RdbValue::List(l.iter().map(copy).collect()), Compact::Yes),
        Value::Hash(h) => {
            let pairs = h
                .iter()
                .map(|(f, v)| (f.to_bytes(), v.to_bytes()))
                .collect();
            (
                RdbValue::Hash(pairs),
                if h.is_listpack() {
                    Compact::Yes
                } else {
                    Compact::No
                },
            )
        }
        Value::Set(s) => {
            let members = s.iter().map(|e| e.to_bytes()).collect();
            (
                RdbValue::Set(members),
                if s.is_intset() {
                    Compact::Yes
                } else {
                    Compact::No
                },
            )
        }
        Value::Stream(s) => (RdbValue::Stream(s.clone()), Compact::Yes),
        Value::ZSet(z) => {
            let members = z.iter().map(|(m, s)| (copy(m), s)).collect();
            (
                RdbValue::ZSet(members),
                if z.encoding() == "listpack" {
                    Compact::Yes
                } else {
                    Compact::No
                },
            )
        }
    }
}

/// Rebuilds a value. `None` for an empty collection (Redis refuses those
/// as corrupt).
pub fn from_rdb(r: RdbValue, limits: Limits) -> Option<Value> {
    Some(match r {
        RdbValue::String(b) => Value::Str(Str::from_bytes(b)),
        RdbValue::List(items) => {
            if items.is_empty() {
                return None;
            }
            let mut l = List::new();
            for it in items {
                l.push(End::Right, it);
            }
            Value::List(l)
        }
        RdbValue::Hash(pairs) => {
            if pairs.is_empty() {
                return None;
            }
            let mut h = Hash::new();
            for (f, v) in pairs {
                h.set(&f, &v, limits.hash);
            }
            Value::Hash(h)
        }
        RdbValue::Set(members) => {
            if members.is_empty() {
                return None;
            }
            let mut s = Set::new();
            for m in members {
                s.add(&m, limits.set_max_intset_entries);
            }
            Value::Set(s)
        }
        // An empty stream is a valid value (XADD then XDEL, MKSTREAM).
        RdbValue::Stream(s) => Value::Stream(s),
        RdbValue::ZSet(members) => {
            if members.is_empty() {
                return None;
            }
            Value::ZSet(ZSet::from_entries(members, limits.zset))
        }
    })
}

/// A DUMP payload for a value.
pub fn dump(v: &Value) -> Vec<u8> {
    let (r, compact) = to_rdb(v);
    super::dump_payload(&r, compact)
}

/// A DUMP payload without LZF (for the cold tier, which uses zstd).
pub fn dump_plain(v: &Value) -> Vec<u8> {
    let (r, compact) = to_rdb(v);
    super::dump_payload_with(&r, compact, false)
}
