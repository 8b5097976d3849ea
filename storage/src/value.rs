//! The value stored under a key.

use bytes::Bytes;

use crate::hash::Hash;
use crate::list::List;
use crate::set::Set;
use crate::stream::Stream;
use crate::zset::ZSet;

/// Values up to this size are stored in an exact-size private copy.
const COMPACT_MAX: usize = 4096;

/// An exact-size, unshared copy of small byte strings: what arrives from
/// the network may be a clone (a shared buffer with an extra header) or a
/// slice with spare capacity; storing it as is would cost memory per key.
pub fn compact(b: Bytes) -> Bytes {
    if b.len() <= COMPACT_MAX {
        Bytes::copy_from_slice(&b)
    } else {
        b
    }
}

/// A string value. Small integers are kept as `Int` (Redis's `int`
/// encoding): no allocation, and INCR works in place.
#[derive(Clone, Debug, PartialEq)]
pub enum Str {
    Int(i64),
    Raw(Bytes),
}

impl Str {
    /// Builds a string value, choosing the integer encoding when the bytes
    /// are a canonical i64 (as Redis's `tryObjectEncoding`).
    pub fn from_bytes(b: Bytes) -> Str {
        if b.len() <= 20 {
            if let Some(i) = crate::num::parse_i64(&b) {
                return Str::Int(i);
            }
        }
        Str::Raw(compact(b))
    }

    /// The string's bytes (formats integers).
    pub fn to_bytes(&self) -> Bytes {
        match self {
            Str::Int(i) => Bytes::from(crate::num::format_i64(*i)),
            Str::Raw(b) => b.clone(),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Str::Int(i) => itoa::Buffer::new().format(*i).len(),
            Str::Raw(b) => b.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Redis's OBJECT ENCODING for strings: `int`, `embstr` (<= 44 bytes)
    /// or `raw`.
    pub fn encoding(&self) -> &'static str {
        match self {
            Str::Int(_) => "int",
            Str::Raw(b) if b.len() <= 44 => "embstr",
            Str::Raw(_) => "raw",
        }
    }
}

/// Any value a key can hold.
#[derive(Clone, Debug)]
pub enum Value {
    Str(Str),
    List(List),
    Hash(Hash),
    Set(Set),
    ZSet(ZSet),
    /// Boxed: streams are rare and their header is large.
    Stream(Box<Stream>),
}

/// The value types, as TYPE and SCAN TYPE name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueType {
    String,
    List,
    Hash,
    Set,
    ZSet,
    Stream,
}

impl ValueType {
    pub fn name(self) -> &'static str {
        match self {
            ValueType::String => "string",
            ValueType::List => "list",
            ValueType::Hash => "hash",
            ValueType::Set => "set",
            ValueType::ZSet => "zset",
            ValueType::Stream => "stream",
        }
    }

    pub fn from_name(name: &[u8]) -> Option<ValueType> {
        let n = name.to_ascii_lowercase();
        Some(match n.as_slice() {
            b"string" => ValueType::String,
            b"list" => ValueType::List,
            b"hash" => ValueType::Hash,
            b"set" => ValueType::Set,
            b"zset" => ValueType::ZSet,
            b"stream" => ValueType::Stream,
            _ => return None,
        })
    }
}

impl Value {
    pub fn value_type(&self) -> ValueType {
        match self {
            Value::Str(_) => ValueType::String,
            Value::List(_) => ValueType::List,
            Value::Hash(_) => ValueType::Hash,
            Value::Set(_) => ValueType::Set,
            Value::ZSet(_) => ValueType::ZSet,
            Value::Stream(_) => ValueType::Stream,
        }
    }

    /// OBJECT ENCODING answer.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Str(s) => s.encoding(),
            Value::List(l) => l.encoding(),
            Value::Hash(h) => h.encoding(),
            Value::Set(s) => s.encoding(),
            Value::ZSet(z) => z.encoding(),
            Value::Stream(_) => "stream",
        }
    }

    /// Approximate heap bytes used by the value (MEMORY USAGE).
    pub fn mem_usage(&self) -> usize {
        match self {
            Value::Str(Str::Int(_)) => 0,
            Value::Str(Str::Raw(b)) => b.len(),
            Value::List(l) => l.mem_usage(),
            Value::Hash(h) => h.mem_usage(),
            Value::Set(s) => s.mem_usage(),
            Value::ZSet(z) => z.mem_usage(),
            Value::Stream(s) => s.mem_usage(),
        }
    }
}
