//! Strata's storage engine: values, keyspace, expiry and LFU.
//!
//! No networking and no protocol live here; the server crate (`src/`) owns
//! RESP, connections and the command table, and calls the typed APIs below.
//!
//! Map of the crate:
//! * [`admit`]: which cold keys earn a place in memory (TinyLFU sketch).
//! * [`dict`]: Redis-style chained hash table (SCAN cursor contract,
//!   random sampling, incremental rehash). Backs the keyspace and the
//!   hash/set values.
//! * [`keyspace`]: the 16 databases, lazy and active expiry, key lookup with
//!   LFU bookkeeping.
//! * [`value`]: the value enum (string, list, hash, set, sorted set).
//! * [`list`], [`hash`], [`set`], [`zset`]: type APIs for collections.
//! * [`stream`]: stream values (listpack nodes, consumer groups).
//! * [`lfu`]: Redis's 8-bit logarithmic access counter and decay clock.
//! * [`glob`]: Redis-compatible glob matching without exponential blow-up.
//! * [`num`]: number parsing and formatting exactly as Redis does it.

pub mod admit;
pub mod cold;
pub mod dict;
pub mod evict;
pub mod glob;
pub mod hash;
pub mod keyspace;
pub mod lfu;
pub mod list;
pub mod longdouble;
pub mod num;
pub mod rdb;
pub mod set;
pub mod skiplist;
pub mod stream;
pub mod value;
pub mod zset;

/// Keys and binary-safe strings. Cheap to clone (reference counted).
pub type Bytes = bytes::Bytes;
