//! Stream values (Redis 7.0's `t_stream.c` data structure).
//!
//! Entries live in **nodes**: listpacks keyed by their master entry ID in
//! a `BTreeMap` (Redis uses a radix tree of the same listpacks). Each node
//! is one contiguous byte buffer laid out exactly as Redis lays it out, so
//! the RDB encoding (and DUMP) writes the buffers as they are, byte for
//! byte what Redis writes for the same history of commands:
//!
//! ```text
//! master entry: count | deleted | num-fields | field_1 ... field_N | 0
//! entry:        flags | ms-delta | seq-delta | [num-fields | field_1 value_1 ...
//!               | ...] or, with SAMEFIELDS, value_1 ... value_N | lp-count
//! ```
//!
//! `flags` has bit 0 (deleted: a tombstone, skipped when reading) and bit 1
//! (same fields as the master entry: field names omitted). IDs are deltas
//! from the node key, computed with wrapping 64-bit arithmetic as Redis
//! does. `lp-count` is the number of listpack elements of the entry minus
//! one, so entries can be walked backwards.
//!
//! A node holds up to `stream-node-max-entries` entries (live or deleted)
//! and about `stream-node-max-bytes`; XDEL only flags entries (a node goes
//! away with its last live entry) and trimming removes whole nodes, then
//! flags entries in the first remaining one.
//!
//! Consumer groups keep Redis's model: per group a last delivered ID, a
//! logical read counter and a pending entries list (PEL) of ID ->
//! (consumer, delivery time, delivery count); per consumer a seen time and
//! its own PEL (the IDs it owns).
//!
//! Nothing here panics on odd contents: node buffers come from this
//! module's own writes or from RDB data validated by [`validate_node`].

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use crate::rdb::listpack::{backlen_size, encode_entry};

/// A stream entry ID: milliseconds and sequence number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    pub const fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    pub fn is_zero(&self) -> bool {
        self.ms == 0 && self.seq == 0
    }

    /// The next ID (`streamIncrID`); `None` past the maximum.
    pub fn incr(self) -> Option<StreamId> {
        if self.seq == u64::MAX {
            if self.ms == u64::MAX {
                None
            } else {
                Some(StreamId::new(self.ms + 1, 0))
            }
        } else {
            Some(StreamId::new(self.ms, self.seq + 1))
        }
    }

    /// The previous ID (`streamDecrID`); `None` before the minimum.
    pub fn decr(self) -> Option<StreamId> {
        if self.seq == 0 {
            if self.ms == 0 {
                None
            } else {
                Some(StreamId::new(self.ms - 1, u64::MAX))
            }
        } else {
            Some(StreamId::new(self.ms, self.seq - 1))
        }
    }

    /// 128-bit big-endian form (radix tree keys, RDB PEL entries).
    pub fn to_be_bytes(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.ms.to_be_bytes());
        b[8..].copy_from_slice(&self.seq.to_be_bytes());
        b
    }

    pub fn from_be_bytes(b: &[u8]) -> Option<StreamId> {
        if b.len() != 16 {
            return None;
        }
        let mut ms = [0u8; 8];
        let mut seq = [0u8; 8];
        ms.copy_from_slice(&b[..8]);
        seq.copy_from_slice(&b[8..]);
        Some(StreamId::new(
            u64::from_be_bytes(ms),
            u64::from_be_bytes(seq),
        ))
    }

    /// `<ms>-<seq>` text.
    pub fn format(&self) -> String {
        format!("{}-{}", self.ms, self.seq)
    }
}

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// Redis's `string2ull`: `string2ll` for non-negative values, otherwise
/// C's `strtoull` (leading spaces, a sign, wrapping negation) on the
/// whole string.
pub fn string2ull(s: &[u8]) -> Option<u64> {
    if let Some(v) = crate::num::parse_i64(s) {
        return u64::try_from(v).ok();
    }
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
        i += 1;
    }
    let mut neg = false;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        neg = s[i] == b'-';
        i += 1;
    }
    let start = i;
    let mut v: u64 = 0;
    while i < s.len() && s[i].is_ascii_digit() {
        v = v.checked_mul(10)?.checked_add(u64::from(s[i] - b'0'))?;
        i += 1;
    }
    if i == start || i != s.len() {
        return None;
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

/// The bytes of a C string argument: up to the first NUL (Redis parses
/// IDs from a NUL-terminated copy).
pub fn cstr(b: &[u8]) -> &[u8] {
    match b.iter().position(|&c| c == 0) {
        Some(n) => &b[..n],
        None => b,
    }
}

/// Redis's `streamGenericParseIDOrReply`. `strict` refuses `-` and `+`;
/// `seq_star` accepts `<ms>-*` (XADD). Returns the ID and whether the
/// sequence was given (false only for `<ms>-*`).
pub fn parse_id(
    arg: &[u8],
    missing_seq: u64,
    strict: bool,
    seq_star: bool,
) -> Option<(StreamId, bool)> {
    if arg.len() > 127 {
        return None;
    }
    let buf = cstr(arg);
    if strict && (buf == b"-" || buf == b"+") {
        return None;
    }
    if buf == b"-" {
        return Some((StreamId::MIN, true));
    }
    if buf == b"+" {
        return Some((StreamId::MAX, true));
    }
    match buf.iter().position(|&c| c == b'-') {
        Some(dash) => {
            let ms = string2ull(&buf[..dash])?;
            let rest = &buf[dash + 1..];
            if seq_star && rest == b"*" {
                return Some((StreamId::new(ms, 0), false));
            }
            let seq = string2ull(rest)?;
            Some((StreamId::new(ms, seq), true))
        }
        None => Some((StreamId::new(string2ull(buf)?, missing_seq), true)),
    }
}

/// Listpack operations on a node buffer (Redis's `listpack.c`, only what
/// streams need). Positions are byte offsets of elements.
mod lp {
    use super::{backlen_size, encode_entry};

    pub const HDR: usize = 6;

    /// One element: an integer or a string.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Val<'a> {
        Int(i64),
        Str(&'a [u8]),
    }

    pub fn new() -> Vec<u8> {
        let mut v = vec![0u8; HDR];
        v.push(0xff);
        set_total(&mut v);
        v
    }

    fn set_total(lp: &mut [u8]) {
        let t = (lp.len() as u32).to_le_bytes();
        if lp.len() >= 4 {
            lp[..4].copy_from_slice(&t);
        }
    }

    fn numele(lp: &[u8]) -> u16 {
        match lp.get(4..6) {
            Some(b) => u16::from_le_bytes([b[0], b[1]]),
            None => 0,
        }
    }

    fn set_numele(lp: &mut [u8], n: u16) {
        if lp.len() >= HDR {
            lp[4..6].copy_from_slice(&n.to_le_bytes());
        }
    }

    /// Length of the encoding and data of the element at `p`.
    pub fn enc_len(lp: &[u8], p: usize) -> Option<usize> {
        let b = *lp.get(p)?;
        let n = if b & 0x80 == 0 {
            1
        } else if b & 0xc0 == 0x80 {
            1 + usize::from(b & 0x3f)
        } else if b & 0xe0 == 0xc0 {
            2
        } else if b & 0xf0 == 0xe0 {
            2 + ((usize::from(b & 0x0f) << 8) | usize::from(*lp.get(p + 1)?))
        } else {
            match b {
                0xf0 => {
                    let l = lp.get(p + 1..p + 5)?;
                    5 + u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as usize
                }
                0xf1 => 3,
                0xf2 => 4,
                0xf3 => 5,
                0xf4 => 9,
                _ => return None,
            }
        };
        Some(n)
    }

    /// Total bytes of the element at `p` (backlen included).
    fn elem_len(lp: &[u8], p: usize) -> Option<usize> {
        let l = enc_len(lp, p)?;
        Some(l + backlen_size(l))
    }

    pub fn first(lp: &[u8]) -> Option<usize> {
        match lp.get(HDR) {
            Some(0xff) | None => None,
            Some(_) => Some(HDR),
        }
    }

    pub fn next(lp: &[u8], p: usize) -> Option<usize> {
        let q = p.checked_add(elem_len(lp, p)?)?;
        match lp.get(q) {
            Some(0xff) | None => None,
            Some(_) => Some(q),
        }
    }

    pub fn get(lp: &[u8], p: usize) -> Val<'_> {
        get_checked(lp, p).unwrap_or(Val::Int(0))
    }

    pub fn get_checked(lp: &[u8], p: usize) -> Option<Val<'_>> {
        let b = *lp.get(p)?;
        Some(if b & 0x80 == 0 {
            Val::Int(i64::from(b))
        } else if b & 0xc0 == 0x80 {
            let n = usize::from(b & 0x3f);
            Val::Str(lp.get(p + 1..p + 1 + n)?)
        } else if b & 0xe0 == 0xc0 {
            let lo = *lp.get(p + 1)?;
            let u = (u16::from(b & 0x1f) << 8) | u16::from(lo);
            Val::Int(i64::from((u << 3) as i16 >> 3))
        } else if b & 0xf0 == 0xe0 {
            let n = (usize::from(b & 0x0f) << 8) | usize::from(*lp.get(p + 1)?);
            Val::Str(lp.get(p + 2..p + 2 + n)?)
        } else {
            match b {
                0xf0 => {
                    let l = lp.get(p + 1..p + 5)?;
                    let n = u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as usize;
                    Val::Str(lp.get(p + 5..(p + 5).checked_add(n)?)?)
                }
                0xf1 => {
                    let s = lp.get(p + 1..p + 3)?;
                    Val::Int(i64::from(i16::from_le_bytes([s[0], s[1]])))
                }
                0xf2 => {
                    let s = lp.get(p + 1..p + 4)?;
                    Val::Int(i64::from(i32::from_le_bytes([0, s[0], s[1], s[2]]) >> 8))
                }
                0xf3 => {
                    let s = lp.get(p + 1..p + 5)?;
                    Val::Int(i64::from(i32::from_le_bytes([s[0], s[1], s[2], s[3]])))
                }
                0xf4 => {
                    let s = lp.get(p + 1..p + 9)?;
                    let mut a = [0u8; 8];
                    a.copy_from_slice(s);
                    Val::Int(i64::from_le_bytes(a))
                }
                _ => return None,
            }
        })
    }

    /// An element as an integer (`lpGetIntegerIfValid`).
    pub fn get_int_checked(lp: &[u8], p: usize) -> Option<i64> {
        match get_checked(lp, p)? {
            Val::Int(i) => Some(i),
            Val::Str(s) => crate::num::parse_i64(s),
        }
    }

    pub fn get_int(lp: &[u8], p: usize) -> i64 {
        get_int_checked(lp, p).unwrap_or(0)
    }

    /// `lpAppend`.
    pub fn append(lp: &mut Vec<u8>, s: &[u8]) {
        if lp.last() == Some(&0xff) {
            lp.pop();
        }
        encode_entry(lp, s);
        lp.push(0xff);
        set_total(lp);
        let n = numele(lp);
        if n != u16::MAX {
            set_numele(lp, n + 1);
        }
    }

    pub fn append_int(lp: &mut Vec<u8>, v: i64) {
        append(lp, itoa::Buffer::new().format(v).as_bytes());
    }

    /// `lpReplaceInteger`: re-encodes the element at `p`.
    pub fn replace_int(lp: &mut Vec<u8>, p: usize, v: i64) {
        let Some(old) = elem_len(lp, p) else {
            return;
        };
        let Some(end) = p.checked_add(old).filter(|e| *e <= lp.len()) else {
            return;
        };
        let mut enc = Vec::with_capacity(10);
        encode_entry(&mut enc, itoa::Buffer::new().format(v).as_bytes());
        if enc.len() == old {
            lp[p..end].copy_from_slice(&enc);
        } else {
            lp.splice(p..end, enc);
            set_total(lp);
        }
    }

    /// Walks and validates a whole listpack (header, every element and
    /// back-length, terminator, element count); returns element offsets.
    pub fn validate(lp: &[u8]) -> Option<Vec<usize>> {
        if lp.len() < HDR + 1 {
            return None;
        }
        let total = u32::from_le_bytes([lp[0], lp[1], lp[2], lp[3]]) as usize;
        if total != lp.len() || lp[lp.len() - 1] != 0xff {
            return None;
        }
        let declared = numele(lp);
        let end = lp.len() - 1;
        let mut out = Vec::new();
        let mut p = HDR;
        while p < end {
            let l = enc_len(lp, p)?;
            get_checked(lp, p)?;
            let n = backlen_size(l);
            let mut expect = Vec::with_capacity(5);
            crate::rdb::listpack::push_backlen(&mut expect, l);
            let bl = p.checked_add(l)?;
            if lp.get(bl..bl.checked_add(n)?)? != expect.as_slice() {
                return None;
            }
            out.push(p);
            p = bl + n;
        }
        if p != end {
            return None;
        }
        if declared != u16::MAX && usize::from(declared) != out.len() {
            return None;
        }
        Some(out)
    }
}

pub use lp::Val;

impl Val<'_> {
    /// Runs `f` on the element's bytes (integers formatted).
    pub fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            Val::Str(s) => f(s),
            Val::Int(i) => f(itoa::Buffer::new().format(*i).as_bytes()),
        }
    }

    pub fn to_bytes(&self) -> Bytes {
        self.with_bytes(Bytes::copy_from_slice)
    }
}

const FLAG_DELETED: i64 = 1;
const FLAG_SAMEFIELDS: i64 = 2;

/// Cap on a node's size whatever `stream-node-max-bytes` says.
const LISTPACK_MAX_SIZE: usize = 1 << 30;

/// Where one entry sits in its node.
#[derive(Clone, Copy, Debug)]
struct EntryPos {
    id: StreamId,
    flags: i64,
    flags_pos: usize,
    /// First field (or first value with SAMEFIELDS).
    fields_pos: usize,
    numfields: usize,
}

/// A parsed node: the master entry and the positions of its entries.
struct NodeView<'a> {
    key: StreamId,
    lp: &'a [u8],
    count: i64,
    deleted: i64,
    master_fields: usize,
    master_fields_pos: Option<usize>,
    entries: Vec<EntryPos>,
}

fn parse_node(master: StreamId, lp: &[u8]) -> NodeView<'_> {
    let mut v = NodeView {
        key: master,
        lp,
        count: 0,
        deleted: 0,
        master_fields: 0,
        master_fields_pos: None,
        entries: Vec::new(),
    };
    let Some(p) = lp::first(lp) else { return v };
    v.count = lp::get_int(lp, p);
    let Some(p) = lp::next(lp, p) else { return v };
    v.deleted = lp::get_int(lp, p);
    let Some(p) = lp::next(lp, p) else { return v };
    v.master_fields = usize::try_from(lp::get_int(lp, p)).unwrap_or(0);
    let Some(mut p) = lp::next(lp, p) else {
        return v;
    };
    v.master_fields_pos = Some(p);
    for _ in 0..v.master_fields {
        let Some(q) = lp::next(lp, p) else { return v };
        p = q;
    }
    // p: the master terminator.
    let mut cur = lp::next(lp, p);
    while let Some(p) = cur {
        let flags = lp::get_int(lp, p);
        let Some(p1) = lp::next(lp, p) else { break };
        let msd = lp::get_int(lp, p1);
        let Some(p2) = lp::next(lp, p1) else { break };
        let sqd = lp::get_int(lp, p2);
        let Some(mut q) = lp::next(lp, p2) else { break };
        let numfields;
        let skip;
        if flags & FLAG_SAMEFIELDS != 0 {
            numfields = v.master_fields;
            skip = numfields;
        } else {
            numfields = usize::try_from(lp::get_int(lp, q)).unwrap_or(0);
            let Some(q2) = lp::next(lp, q) else { break };
            q = q2;
            skip = numfields.saturating_mul(2);
        }
        let fields_pos = q;
        let mut ok = true;
        for _ in 0..skip {
            match lp::next(lp, q) {
                Some(n) => q = n,
                None => {
                    ok = false;
                    break;
                }
            }
        }
        if !ok {
            break;
        }
        v.entries.push(EntryPos {
            id: StreamId::new(
                master.ms.wrapping_add(msd as u64),
                master.seq.wrapping_add(sqd as u64),
            ),
            flags,
            flags_pos: p,
            fields_pos,
            numfields,
        });
        // q: lp-count.
        cur = lp::next(lp, q);
    }
    v
}

impl<'a> NodeView<'a> {
    fn fields(&self, e: &EntryPos) -> Vec<(Val<'a>, Val<'a>)> {
        let lp = self.lp;
        let mut out = Vec::with_capacity(e.numfields);
        if e.flags & FLAG_SAMEFIELDS != 0 {
            let (Some(mut f), mut v) = (self.master_fields_pos, Some(e.fields_pos)) else {
                return out;
            };
            for i in 0..e.numfields {
                let Some(vp) = v else { break };
                out.push((lp::get(lp, f), lp::get(lp, vp)));
                if i + 1 < e.numfields {
                    match lp::next(lp, f) {
                        Some(n) => f = n,
                        None => break,
                    }
                    v = lp::next(lp, vp);
                }
            }
        } else {
            let mut p = Some(e.fields_pos);
            for _ in 0..e.numfields {
                let Some(fp) = p else { break };
                let Some(vp) = lp::next(lp, fp) else { break };
                out.push((lp::get(lp, fp), lp::get(lp, vp)));
                p = lp::next(lp, vp);
            }
        }
        out
    }
}

/// One entry read from a stream: its ID and field/value pairs (borrowed
/// from the node).
#[derive(Debug)]
pub struct Entry<'a> {
    pub id: StreamId,
    pub fields: Vec<(Val<'a>, Val<'a>)>,
}

/// A pending entry of a consumer group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nack {
    /// Name of the owning consumer.
    pub consumer: Bytes,
    /// Unix ms of the last delivery.
    pub delivery_time: i64,
    pub delivery_count: u64,
}

/// A consumer of a group.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Consumer {
    /// Unix ms of the last interaction.
    pub seen_time: i64,
    /// IDs this consumer owns (each is in the group PEL too).
    pub pel: BTreeSet<StreamId>,
}

/// `entries_read` value meaning "unknown".
pub const INVALID_ENTRIES_READ: i64 = -1;

/// A consumer group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub last_id: StreamId,
    /// Logical read counter; [`INVALID_ENTRIES_READ`] when unknown.
    pub entries_read: i64,
    pub pel: BTreeMap<StreamId, Nack>,
    pub consumers: BTreeMap<Bytes, Consumer>,
}

impl Group {
    pub fn new(last_id: StreamId, entries_read: i64) -> Group {
        Group {
            last_id,
            entries_read,
            pel: BTreeMap::new(),
            consumers: BTreeMap::new(),
        }
    }

    /// Creates a consumer; false if it exists.
    pub fn create_consumer(&mut self, name: &[u8], now: i64) -> bool {
        if self.consumers.contains_key(name) {
            return false;
        }
        self.consumers.insert(
            Bytes::copy_from_slice(name),
            Consumer {
                seen_time: now,
                pel: BTreeSet::new(),
            },
        );
        true
    }

    /// Deletes a consumer and its pending entries; returns how many
    /// entries it had pending, or `None` if there was no such consumer.
    pub fn delete_consumer(&mut self, name: &[u8]) -> Option<usize> {
        let c = self.consumers.remove(name)?;
        for id in &c.pel {
            self.pel.remove(id);
        }
        Some(c.pel.len())
    }

    /// Acknowledges `id`: removes it from the group and owner PELs.
    pub fn ack(&mut self, id: StreamId) -> bool {
        match self.pel.remove(&id) {
            Some(n) => {
                if let Some(c) = self.consumers.get_mut(&n.consumer) {
                    c.pel.remove(&id);
                }
                true
            }
            None => false,
        }
    }

    /// Gives the pending entry `id` to `consumer` (which must exist),
    /// creating the NACK if needed.
    pub fn assign(&mut self, id: StreamId, consumer: &Bytes, delivery_time: i64, count: u64) {
        if let Some(old) = self.pel.get(&id) {
            if old.consumer != *consumer {
                let prev = old.consumer.clone();
                if let Some(c) = self.consumers.get_mut(&prev) {
                    c.pel.remove(&id);
                }
            }
        }
        self.pel.insert(
            id,
            Nack {
                consumer: consumer.clone(),
                delivery_time,
                delivery_count: count,
            },
        );
        if let Some(c) = self.consumers.get_mut(consumer) {
            c.pel.insert(id);
        }
    }
}

/// How XADD/XTRIM trim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trim {
    MaxLen(u64),
    MinId(StreamId),
}

/// Node size limits (`stream-node-max-bytes`, `stream-node-max-entries`).
#[derive(Clone, Copy, Debug)]
pub struct NodeLimits {
    pub max_bytes: usize,
    pub max_entries: i64,
}

impl Default for NodeLimits {
    fn default() -> Self {
        NodeLimits {
            max_bytes: 4096,
            max_entries: 100,
        }
    }
}

/// Why XADD could not append.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppendError {
    /// The ID is not greater than the stream's last ID.
    IdTooSmall,
    /// Fields and values exceed what a node can hold.
    TooLarge,
}

/// A stream.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stream {
    nodes: BTreeMap<StreamId, Vec<u8>>,
    pub length: u64,
    pub last_id: StreamId,
    pub first_id: StreamId,
    pub max_deleted_entry_id: StreamId,
    pub entries_added: u64,
    pub groups: BTreeMap<Bytes, Group>,
}

impl Stream {
    pub fn new() -> Stream {
        Stream::default()
    }

    pub fn len(&self) -> u64 {
        self.length
    }

    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    /// Nodes (radix tree keys) in the stream.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The nodes as (master ID, listpack), in order.
    pub fn nodes(&self) -> impl Iterator<Item = (&StreamId, &Vec<u8>)> {
        self.nodes.iter()
    }

    /// Builds a stream from validated parts (RDB loading).
    pub(crate) fn from_parts(nodes: BTreeMap<StreamId, Vec<u8>>) -> Stream {
        Stream {
            nodes,
            ..Stream::default()
        }
    }

    /// Appends an entry (`streamAppendItem`). `id` is `None` for an auto
    /// ID (from `now_ms`), or the given ID with `seq_given` false for
    /// `<ms>-*`. `fv` holds field, value, field, value...
    pub fn append<B: AsRef<[u8]>>(
        &mut self,
        fv: &[B],
        id: Option<(StreamId, bool)>,
        now_ms: u64,
        limits: NodeLimits,
    ) -> Result<StreamId, AppendError> {
        let id = match id {
            Some((id, true)) => id,
            Some((id, false)) => {
                if self.last_id.ms == id.ms {
                    if self.last_id.seq == u64::MAX {
                        return Err(AppendError::IdTooSmall);
                    }
                    StreamId::new(id.ms, self.last_id.seq + 1)
                } else {
                    id
                }
            }
            None => {
                if now_ms > self.last_id.ms {
                    StreamId::new(now_ms, 0)
                } else {
                    self.last_id.incr().unwrap_or(StreamId::MIN)
                }
            }
        };
        if id <= self.last_id {
            return Err(AppendError::IdTooSmall);
        }
        let numfields = fv.len() / 2;
        let totelelen: usize = fv.iter().map(|b| b.as_ref().len()).sum();
        if totelelen > LISTPACK_MAX_SIZE {
            return Err(AppendError::TooLarge);
        }
        let mut tail: Option<StreamId> = self.nodes.keys().next_back().copied();
        if let Some(k) = tail {
            let mut new_node = false;
            if let Some(lp) = self.nodes.get_mut(&k) {
                let max_bytes = if limits.max_bytes == 0 || limits.max_bytes > LISTPACK_MAX_SIZE {
                    LISTPACK_MAX_SIZE
                } else {
                    limits.max_bytes
                };
                if lp.len() + totelelen >= max_bytes {
                    new_node = true;
                } else if limits.max_entries != 0 {
                    let c = lp::first(lp).map(|p| {
                        let a = lp::get_int(lp, p);
                        let b = lp::next(lp, p).map(|q| lp::get_int(lp, q)).unwrap_or(0);
                        a.wrapping_add(b)
                    });
                    if c.unwrap_or(0) >= limits.max_entries {
                        new_node = true;
                    }
                }
                if new_node {
                    lp.shrink_to_fit();
                }
            }
            if new_node {
                tail = None;
            }
        }
        let mut flags = 0i64;
        let master;
        let lp: &mut Vec<u8> = match tail {
            None => {
                master = id;
                let mut lp = lp::new();
                lp::append_int(&mut lp, 1);
                lp::append_int(&mut lp, 0);
                lp::append_int(&mut lp, numfields as i64);
                for i in 0..numfields {
                    lp::append(&mut lp, fv[2 * i].as_ref());
                }
                lp::append_int(&mut lp, 0);
                flags |= FLAG_SAMEFIELDS;
                self.nodes.entry(id).or_insert(lp)
            }
            Some(k) => {
                master = k;
                let Some(lp) = self.nodes.get_mut(&k) else {
                    return Err(AppendError::IdTooSmall);
                };
                if let Some(p) = lp::first(lp) {
                    let count = lp::get_int(lp, p);
                    lp::replace_int(lp, p, count.wrapping_add(1));
                    let mf = lp::next(lp, p)
                        .and_then(|q| lp::next(lp, q))
                        .map(|q| (q, lp::get_int(lp, q)));
                    if let Some((q, mfc)) = mf {
                        if mfc == numfields as i64 {
                            let mut same = true;
                            let mut f = lp::next(lp, q);
                            for i in 0..numfields {
                                let Some(fp) = f else {
                                    same = false;
                                    break;
                                };
                                let eq = lp::get(lp, fp).with_bytes(|b| b == fv[2 * i].as_ref());
                                if !eq {
                                    same = false;
                                    break;
                                }
                                f = lp::next(lp, fp);
                            }
                            if same {
                                flags |= FLAG_SAMEFIELDS;
                            }
                        }
                    }
                }
                lp
            }
        };
        lp::append_int(lp, flags);
        lp::append_int(lp, id.ms.wrapping_sub(master.ms) as i64);
        lp::append_int(lp, id.seq.wrapping_sub(master.seq) as i64);
        let same = flags & FLAG_SAMEFIELDS != 0;
        if !same {
            lp::append_int(lp, numfields as i64);
        }
        for i in 0..numfields {
            if !same {
                lp::append(lp, fv[2 * i].as_ref());
            }
            lp::append(lp, fv[2 * i + 1].as_ref());
        }
        let mut lp_count = numfields as i64 + 3;
        if !same {
            lp_count += numfields as i64 + 1;
        }
        lp::append_int(lp, lp_count);
        self.length += 1;
        self.entries_added = self.entries_added.wrapping_add(1);
        self.last_id = id;
        if self.length == 1 {
            self.first_id = id;
        }
        Ok(id)
    }

    /// Node keys to visit, in iteration order, for the range.
    fn node_keys(&self, start: StreamId, end: StreamId, rev: bool) -> Vec<StreamId> {
        if !rev {
            let from = if start.is_zero() {
                None
            } else {
                self.nodes.range(..=start).next_back().map(|(k, _)| *k)
            };
            match from {
                Some(k) => self.nodes.range(k..).map(|(k, _)| *k).collect(),
                None => self.nodes.keys().copied().collect(),
            }
        } else {
            let from = if end.is_zero() {
                None
            } else {
                self.nodes.range(..=end).next_back().map(|(k, _)| *k)
            };
            match from {
                Some(k) => self.nodes.range(..=k).rev().map(|(k, _)| *k).collect(),
                None => self.nodes.keys().rev().copied().collect(),
            }
        }
    }

    /// Visits entries with `start <= id <= end` (tombstones skipped unless
    /// `tombstones`), forward or backward, as Redis's stream iterator
    /// does; `f` returns false to stop.
    fn visit<'a>(
        &'a self,
        start: StreamId,
        end: StreamId,
        rev: bool,
        tombstones: bool,
        mut f: impl FnMut(&NodeView<'a>, &EntryPos) -> bool,
    ) {
        for k in self.node_keys(start, end, rev) {
            let Some(lp) = self.nodes.get(&k) else {
                continue;
            };
            let node = parse_node(k, lp);
            let order: Box<dyn Iterator<Item = &EntryPos>> = if rev {
                Box::new(node.entries.iter().rev())
            } else {
                Box::new(node.entries.iter())
            };
            for e in order {
                if !tombstones && e.flags & FLAG_DELETED != 0 {
                    continue;
                }
                if !rev {
                    if e.id < start {
                        continue;
                    }
                    if e.id > end {
                        return;
                    }
                } else {
                    if e.id > end {
                        continue;
                    }
                    if e.id < start {
                        return;
                    }
                }
                if !f(&node, e) {
                    return;
                }
            }
        }
    }

    /// Entries in `start..=end` (at most `count` when non-zero).
    pub fn range(&self, start: StreamId, end: StreamId, rev: bool, count: usize) -> Vec<Entry<'_>> {
        let mut out = Vec::new();
        self.visit(start, end, rev, false, |node, e| {
            out.push(Entry {
                id: e.id,
                fields: node.fields(e),
            });
            count == 0 || out.len() < count
        });
        out
    }

    /// The entry with this exact ID, if live.
    pub fn get(&self, id: StreamId) -> Option<Entry<'_>> {
        self.range(id, id, false, 1).into_iter().next()
    }

    pub fn contains(&self, id: StreamId) -> bool {
        let mut found = false;
        self.visit(id, id, false, false, |_, _| {
            found = true;
            false
        });
        found
    }

    /// First or last entry ID (`streamGetEdgeID`): with no entry, MAX for
    /// the first and MIN for the last.
    pub fn edge_id(&self, first: bool, skip_tombstones: bool) -> StreamId {
        let mut found = None;
        self.visit(
            StreamId::MIN,
            StreamId::MAX,
            !first,
            !skip_tombstones,
            |_, e| {
                found = Some(e.id);
                false
            },
        );
        found.unwrap_or(if first { StreamId::MAX } else { StreamId::MIN })
    }

    /// Last live ID (`streamLastValidID`); MIN when empty.
    pub fn last_valid_id(&self) -> StreamId {
        self.edge_id(false, true)
    }

    /// Deletes a live entry (XDEL, `streamDeleteItem`).
    pub fn delete(&mut self, id: StreamId) -> bool {
        // Found as Redis's iterator finds it: the first live entry at or
        // after `id`, from the node whose key is at most `id`.
        let mut found: Option<(StreamId, EntryPos)> = None;
        self.visit(id, id, false, false, |node, e| {
            found = Some((node.key, *e));
            false
        });
        let Some((k, e)) = found else {
            return false;
        };
        let Some(lp) = self.nodes.get_mut(&k) else {
            return false;
        };
        let node = parse_node(k, lp);
        let count = node.count;
        lp::replace_int(lp, e.flags_pos, e.flags | FLAG_DELETED);
        if count == 1 {
            self.nodes.remove(&k);
        } else if let Some(p) = lp::first(lp) {
            lp::replace_int(lp, p, count.wrapping_sub(1));
            if let Some(q) = lp::next(lp, p) {
                let d = lp::get_int(lp, q);
                lp::replace_int(lp, q, d.wrapping_add(1));
            }
        }
        self.length = self.length.saturating_sub(1);
        true
    }

    /// XDEL of several IDs with Redis's bookkeeping (first ID and maximal
    /// tombstone); returns how many were deleted.
    pub fn delete_ids(&mut self, ids: &[StreamId]) -> u64 {
        let mut deleted = 0;
        let mut first_entry = false;
        for id in ids {
            if self.delete(*id) {
                if *id == self.first_id {
                    first_entry = true;
                }
                if *id > self.max_deleted_entry_id {
                    self.max_deleted_entry_id = *id;
                }
                deleted += 1;
            }
        }
        if deleted > 0 {
            if self.length == 0 {
                self.first_id = StreamId::MIN;
            } else if first_entry {
                self.first_id = self.edge_id(true, true);
            }
        }
        deleted
    }

    /// Trims (`streamTrim`); `limit` 0 means no limit. Returns how many
    /// entries were removed.
    pub fn trim(&mut self, how: Trim, approx: bool, limit: i64) -> i64 {
        let mut deleted: i64 = 0;
        let keys: Vec<StreamId> = self.nodes.keys().copied().collect();
        for k in keys {
            if let Trim::MaxLen(maxlen) = how {
                if self.length <= maxlen {
                    break;
                }
            }
            let Some(lp) = self.nodes.get_mut(&k) else {
                continue;
            };
            let Some(first) = lp::first(lp) else { break };
            let entries = lp::get_int(lp, first);
            if limit != 0 && deleted.wrapping_add(entries) > limit {
                break;
            }
            let remove_node = match how {
                Trim::MaxLen(maxlen) => self.length.wrapping_sub(entries as u64) >= maxlen,
                Trim::MinId(min) => {
                    let node = parse_node(k, lp);
                    let last = node.entries.last().map(|e| e.id).unwrap_or(StreamId::MIN);
                    last < min
                }
            };
            if remove_node {
                self.nodes.remove(&k);
                self.length = self.length.wrapping_sub(entries as u64);
                deleted = deleted.wrapping_add(entries);
                continue;
            }
            if approx {
                break;
            }
            let node = parse_node(k, lp);
            let marked_before = node.deleted;
            let positions: Vec<EntryPos> = node.entries.clone();
            let mut deleted_from_lp: i64 = 0;
            for e in positions {
                let stop = match how {
                    Trim::MaxLen(maxlen) => self.length <= maxlen,
                    Trim::MinId(min) => e.id >= min,
                };
                if stop {
                    break;
                }
                if e.flags & FLAG_DELETED == 0 {
                    // Same size (flags stay one byte): positions hold.
                    lp::replace_int(lp, e.flags_pos, e.flags | FLAG_DELETED);
                    deleted_from_lp += 1;
                    self.length = self.length.saturating_sub(1);
                }
            }
            deleted += deleted_from_lp;
            if let Some(p) = lp::first(lp) {
                lp::replace_int(lp, p, entries.wrapping_sub(deleted_from_lp));
                if let Some(q) = lp::next(lp, p) {
                    lp::replace_int(lp, q, marked_before.wrapping_add(deleted_from_lp));
                }
            }
            break;
        }
        if self.length == 0 {
            self.first_id = StreamId::MIN;
        } else if deleted != 0 {
            self.first_id = self.edge_id(true, true);
        }
        deleted
    }

    /// `streamRangeHasTombstones`.
    pub fn range_has_tombstones(&self, start: StreamId, end: StreamId) -> bool {
        if self.length == 0 || self.max_deleted_entry_id.is_zero() {
            return false;
        }
        if self.first_id > self.max_deleted_entry_id {
            // The latest tombstone is before the first entry.
            return false;
        }
        start <= self.max_deleted_entry_id && self.max_deleted_entry_id <= end
    }

    /// `streamEstimateDistanceFromFirstEverEntry`: the logical read counter
    /// of `id`, or `None` when it cannot be known.
    pub fn estimate_distance(&self, id: StreamId) -> Option<i64> {
        let added = self.entries_added as i64;
        if self.entries_added == 0 {
            return Some(0);
        }
        if self.length == 0 && id <= self.last_id {
            return Some(added);
        }
        match id.cmp(&self.last_id) {
            std::cmp::Ordering::Equal => return Some(added),
            std::cmp::Ordering::Greater => return None,
            std::cmp::Ordering::Less => {}
        }
        if self.max_deleted_entry_id.is_zero() || self.max_deleted_entry_id < self.first_id {
            match id.cmp(&self.first_id) {
                std::cmp::Ordering::Less => {
                    return Some(added.wrapping_sub(self.length as i64));
                }
                std::cmp::Ordering::Equal => {
                    return Some(added.wrapping_sub(self.length as i64).wrapping_add(1));
                }
                std::cmp::Ordering::Greater => {}
            }
        }
        None
    }

    /// A group's lag (`streamReplyWithCGLag`); `None` when unknown.
    pub fn group_lag(&self, g: &Group) -> Option<i64> {
        let added = self.entries_added as i64;
        if self.entries_added == 0 {
            return Some(0);
        }
        if g.entries_read != INVALID_ENTRIES_READ
            && !self.range_has_tombstones(g.last_id, StreamId::MAX)
        {
            return Some(added.wrapping_sub(g.entries_read));
        }
        self.estimate_distance(g.last_id)
            .filter(|d| *d != INVALID_ENTRIES_READ)
            .map(|d| added.wrapping_sub(d))
    }

    /// Updates a group's last ID and read counter for a delivered `id`
    /// (the first part of `streamReplyWithRange`'s group handling).
    pub fn advance_group(&mut self, group: &[u8], id: StreamId) {
        let has_tomb = self.range_has_tombstones(id, StreamId::MAX);
        let estimate = self.estimate_distance(id);
        let added = self.entries_added;
        let Some(g) = self.groups.get_mut(group) else {
            return;
        };
        if id > g.last_id {
            if g.entries_read != INVALID_ENTRIES_READ && !has_tomb {
                g.entries_read = g.entries_read.wrapping_add(1);
            } else if added != 0 {
                g.entries_read = estimate.unwrap_or(INVALID_ENTRIES_READ);
            }
            g.last_id = id;
        }
    }

    /// Number of radix tree nodes Redis would use for the node keys
    /// (XINFO STREAM `radix-tree-nodes`): a rax is canonical for its key
    /// set, so this counts its nodes from the sorted keys.
    pub fn rax_nodes(&self) -> u64 {
        let keys: Vec<[u8; 16]> = self.nodes.keys().map(|k| k.to_be_bytes()).collect();
        if keys.is_empty() {
            return 1;
        }
        rax_count(&keys, 0)
    }

    /// Approximate heap bytes (MEMORY USAGE).
    pub fn mem_usage(&self) -> usize {
        let mut n = 64 + self.nodes.len() * 48;
        for lp in self.nodes.values() {
            n += lp.capacity();
        }
        for (name, g) in &self.groups {
            n += 96 + name.len() + g.pel.len() * 64;
            for (cname, c) in &g.consumers {
                n += 64 + cname.len() + c.pel.len() * 24;
            }
        }
        n
    }
}

fn rax_count(keys: &[[u8; 16]], d: usize) -> u64 {
    if d >= 16 || keys.is_empty() {
        return 1;
    }
    let (first, last) = (&keys[0], &keys[keys.len() - 1]);
    let mut l = 0;
    while d + l < 16 && first[d + l] == last[d + l] {
        l += 1;
    }
    if l > 0 {
        return 1 + rax_count(keys, d + l);
    }
    let mut total = 1;
    let mut i = 0;
    while i < keys.len() {
        let c = keys[i][d];
        let mut j = i;
        while j < keys.len() && keys[j][d] == c {
            j += 1;
        }
        total += rax_count(&keys[i..j], d + 1);
        i = j;
    }
    total
}

/// What [`validate_node`] learned about a node.
#[derive(Clone, Copy, Debug, Default)]
pub struct NodeInfo {
    pub live: u64,
    pub first_live: Option<StreamId>,
    pub last_live: Option<StreamId>,
}

/// Deep validation of one node (Redis's `streamValidateListpackIntegrity`
/// and more): a well-formed listpack whose elements form a master entry
/// and `count + deleted` entries with consistent flags, field counts and
/// `lp-count`s, the first entry at the node key, live entries in strictly
/// increasing order, and header counts that match the flags.
pub fn validate_node(key: StreamId, lp: &[u8]) -> Option<NodeInfo> {
    let pos = lp::validate(lp)?;
    let mut it = pos.into_iter();
    let int = |p: usize| lp::get_int_checked(lp, p);
    let count = int(it.next()?)?;
    let deleted = int(it.next()?)?;
    let master_fields = int(it.next()?)?;
    if count < 0 || deleted < 0 || master_fields < 0 {
        return None;
    }
    for _ in 0..master_fields {
        it.next()?;
    }
    if int(it.next()?)? != 0 {
        return None;
    }
    let total = count.checked_add(deleted)?;
    if total == 0 {
        return None;
    }
    let mut info = NodeInfo::default();
    let (mut live, mut dead) = (0i64, 0i64);
    for i in 0..total {
        let flags = int(it.next()?)?;
        if flags & !(FLAG_DELETED | FLAG_SAMEFIELDS) != 0 {
            return None;
        }
        let msd = int(it.next()?)?;
        let sqd = int(it.next()?)?;
        let id = StreamId::new(
            key.ms.wrapping_add(msd as u64),
            key.seq.wrapping_add(sqd as u64),
        );
        // The entry that created the node is its key. Later ones are
        // normally above it, but XSETID on an emptied stream can move the
        // last ID back, and Redis then appends below the key: allowed.
        if i == 0 && id != key {
            return None;
        }
        let mut fields = master_fields;
        let mut extra = 3;
        if flags & FLAG_SAMEFIELDS == 0 {
            fields = int(it.next()?)?;
            if fields < 0 {
                return None;
            }
            for _ in 0..fields {
                it.next()?;
            }
            extra += fields + 1;
        }
        for _ in 0..fields {
            it.next()?;
        }
        if int(it.next()?)? != fields + extra {
            return None;
        }
        if flags & FLAG_DELETED != 0 {
            dead += 1;
        } else {
            live += 1;
            if info.last_live.is_some_and(|l| id <= l) {
                return None;
            }
            if info.first_live.is_none() {
                info.first_live = Some(id);
            }
            info.last_live = Some(id);
        }
    }
    if it.next().is_some() || live != count || dead != deleted {
        return None;
    }
    info.live = live as u64;
    Some(info)
}

/// Everything a loaded stream needs besides its nodes.
#[derive(Clone, Debug, Default)]
pub struct Meta {
    pub length: u64,
    pub last_id: StreamId,
    pub first_id: StreamId,
    pub max_deleted_entry_id: StreamId,
    pub entries_added: u64,
}

impl Stream {
    /// Assembles a loaded stream from nodes validated one by one by
    /// [`validate_node`]: checks the cross-node invariants (node keys after
    /// every earlier live entry, live entries in order, the length, the
    /// last ID). `None` if they do not hold.
    pub fn assemble(
        nodes: BTreeMap<StreamId, Vec<u8>>,
        infos: &[NodeInfo],
        meta: Meta,
    ) -> Option<Stream> {
        if nodes.len() != infos.len() {
            return None;
        }
        let mut live = 0u64;
        let mut last_live: Option<StreamId> = None;
        for (k, info) in nodes.keys().zip(infos) {
            if last_live.is_some_and(|l| *k <= l) {
                return None;
            }
            if info.last_live.is_some() {
                last_live = info.last_live;
            }
            live = live.checked_add(info.live)?;
        }
        if live != meta.length {
            return None;
        }
        if last_live.is_some_and(|l| l > meta.last_id) {
            return None;
        }
        let mut s = Stream::from_parts(nodes);
        s.length = meta.length;
        s.last_id = meta.last_id;
        s.first_id = meta.first_id;
        s.max_deleted_entry_id = meta.max_deleted_entry_id;
        s.entries_added = meta.entries_added;
        Some(s)
    }

    /// Checks that every pending entry of every group has exactly one
    /// owner, listed in that consumer's PEL.
    pub fn groups_consistent(groups: &BTreeMap<Bytes, Group>) -> bool {
        for g in groups.values() {
            for (id, n) in &g.pel {
                match g.consumers.get(&n.consumer) {
                    Some(owner) if owner.pel.contains(id) => {}
                    _ => return false,
                }
            }
            let owned: usize = g.consumers.values().map(|c| c.pel.len()).sum();
            if owned != g.pel.len() {
                return false;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(s: &mut Stream, ms: u64, seq: u64, fv: &[&str]) -> Result<StreamId, AppendError> {
        s.append(
            fv,
            Some((StreamId::new(ms, seq), true)),
            0,
            NodeLimits::default(),
        )
    }

    fn ids(s: &Stream) -> Vec<StreamId> {
        s.range(StreamId::MIN, StreamId::MAX, false, 0)
            .iter()
            .map(|e| e.id)
            .collect()
    }

    #[test]
    fn append_range_delete_trim() {
        let mut s = Stream::new();
        for i in 1..=250u64 {
            add(&mut s, i, 0, &["a", "1", "b", "2"]).expect("append");
        }
        add(&mut s, 251, 0, &["x", "y"]).expect("append");
        assert_eq!(s.len(), 251);
        assert_eq!(s.node_count(), 3);
        let r = s.range(StreamId::new(5, 0), StreamId::new(7, 0), false, 0);
        assert_eq!(r.len(), 3);
        assert_eq!(r[0].fields[1].1, Val::Int(2));
        let r = s.range(StreamId::MIN, StreamId::MAX, true, 2);
        assert_eq!(r[0].id, StreamId::new(251, 0));
        assert_eq!(r[0].fields[0].0, Val::Str(b"x"));
        assert!(s.delete(StreamId::new(3, 0)));
        assert!(!s.delete(StreamId::new(3, 0)));
        assert_eq!(s.len(), 250);
        assert_eq!(add(&mut s, 5, 0, &["a", "b"]), Err(AppendError::IdTooSmall));
        let n = s.trim(Trim::MaxLen(100), false, 0);
        assert_eq!(n, 150);
        assert_eq!(s.len(), 100);
        assert_eq!(ids(&s)[0], StreamId::new(152, 0));
        assert_eq!(s.first_id, StreamId::new(152, 0));
        for (k, lp) in s.nodes() {
            assert!(validate_node(*k, lp).is_some());
        }
        let n = s.trim(Trim::MinId(StreamId::new(200, 0)), false, 0);
        assert_eq!(n, 48);
        assert_eq!(s.edge_id(true, true), StreamId::new(200, 0));
    }

    #[test]
    fn ids_parse_like_redis() {
        assert_eq!(
            parse_id(b"5", 7, false, false),
            Some((StreamId::new(5, 7), true))
        );
        assert_eq!(
            parse_id(b"5-*", 0, true, true),
            Some((StreamId::new(5, 0), false))
        );
        assert_eq!(parse_id(b"5-*", 0, true, false), None);
        assert_eq!(parse_id(b"-", 0, false, false), Some((StreamId::MIN, true)));
        assert_eq!(parse_id(b"+", 0, true, false), None);
        assert_eq!(parse_id(b"1--1", 0, true, false), None);
        assert_eq!(
            parse_id(b"1--01", 0, true, false),
            Some((StreamId::new(1, u64::MAX), true))
        );
        assert_eq!(
            parse_id(b" 1- 2", 0, true, false),
            Some((StreamId::new(1, 2), true))
        );
        assert_eq!(parse_id(b"18446744073709551616", 0, true, false), None);
        assert_eq!(parse_id(b"abc", 0, true, false), None);
    }

    #[test]
    fn rax_node_counts() {
        let mut s = Stream::new();
        assert_eq!(s.rax_nodes(), 1);
        for i in 1..=101u64 {
            add(&mut s, i, 0, &["a", "1"]).expect("append");
        }
        // Two keys (1-0, 101-0): prefix, branch, two chains, two leaves.
        assert_eq!(s.node_count(), 2);
        assert_eq!(s.rax_nodes(), 6);
    }
}
