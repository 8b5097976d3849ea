//! Streams in the RDB encoding: `RDB_TYPE_STREAM_LISTPACKS_2` (19, what
//! Redis 7.0 writes), and reading of types 15 (Redis 5/6) and 21 (7.2's,
//! with consumer active times). Layout drawn in `docs/formats/rdb.md`.
//!
//! Reading validates deeply: every node listpack entry by entry
//! ([`crate::stream::validate_node`]), the nodes against each other and
//! the stored length and last ID, and the consumer group PELs (every
//! pending entry owned by exactly one consumer).

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use super::{types, RdbError, Reader, Writer};
use crate::stream::{self, Consumer, Group, Meta, Nack, Stream, StreamId};

impl Writer {
    /// A stream body (after its type byte).
    pub fn stream(&mut self, s: &Stream) {
        self.len(s.node_count() as u64);
        for (k, lp) in s.nodes() {
            self.string(&k.to_be_bytes());
            self.string(lp);
        }
        self.len(s.length);
        self.len(s.last_id.ms);
        self.len(s.last_id.seq);
        self.len(s.first_id.ms);
        self.len(s.first_id.seq);
        self.len(s.max_deleted_entry_id.ms);
        self.len(s.max_deleted_entry_id.seq);
        self.len(s.entries_added);
        self.len(s.groups.len() as u64);
        for (name, g) in &s.groups {
            self.string(name);
            self.len(g.last_id.ms);
            self.len(g.last_id.seq);
            self.len(g.entries_read as u64);
            self.len(g.pel.len() as u64);
            for (id, n) in &g.pel {
                self.buf.extend_from_slice(&id.to_be_bytes());
                self.buf.extend_from_slice(&n.delivery_time.to_le_bytes());
                self.len(n.delivery_count);
            }
            self.len(g.consumers.len() as u64);
            for (cname, c) in &g.consumers {
                self.string(cname);
                self.buf.extend_from_slice(&c.seen_time.to_le_bytes());
                self.len(c.pel.len() as u64);
                for id in &c.pel {
                    self.buf.extend_from_slice(&id.to_be_bytes());
                }
            }
        }
    }
}

impl Reader<'_> {
    fn ms_time(&mut self) -> Result<i64, RdbError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_le_bytes(a))
    }

    fn raw_id(&mut self) -> Result<StreamId, RdbError> {
        let b = self.take(16)?;
        StreamId::from_be_bytes(b).ok_or_else(|| self.err("bad stream ID"))
    }

    fn len_id(&mut self) -> Result<StreamId, RdbError> {
        let ms = self.len()?;
        let seq = self.len()?;
        Ok(StreamId::new(ms, seq))
    }

    /// A stream body of type `t` (15, 19 or 21).
    pub fn stream(&mut self, t: u8) -> Result<Stream, RdbError> {
        let start = self.pos;
        let bad = |what: &'static str| RdbError {
            offset: start,
            what,
        };
        let n = self.len()?;
        let mut nodes = BTreeMap::new();
        let mut infos = Vec::new();
        let mut prev: Option<StreamId> = None;
        for _ in 0..n {
            let key = self.string()?;
            let key = StreamId::from_be_bytes(&key)
                .ok_or_else(|| bad("stream node key is not the size of a stream ID"))?;
            let lp = self.string()?;
            let info = stream::validate_node(key, &lp)
                .ok_or_else(|| bad("stream listpack integrity check failed"))?;
            if prev.is_some_and(|p| key <= p) {
                return Err(bad("stream nodes out of order"));
            }
            prev = Some(key);
            nodes.insert(key, lp.to_vec());
            infos.push(info);
        }
        let length = self.len()?;
        let last_id = self.len_id()?;
        let mut meta = Meta {
            length,
            last_id,
            ..Meta::default()
        };
        let v2 = t != types::STREAM_LISTPACKS;
        if v2 {
            meta.first_id = self.len_id()?;
            meta.max_deleted_entry_id = self.len_id()?;
            meta.entries_added = self.len()?;
        } else {
            meta.entries_added = length;
        }
        let mut s = Stream::assemble(nodes, &infos, meta)
            .ok_or_else(|| bad("stream metadata inconsistent with its nodes"))?;
        if !v2 {
            s.first_id = if s.length == 0 {
                StreamId::MIN
            } else {
                s.edge_id(true, true)
            };
        }
        let ngroups = self.len()?;
        let mut groups: BTreeMap<Bytes, Group> = BTreeMap::new();
        for _ in 0..ngroups {
            let name = self.string()?;
            let last = self.len_id()?;
            let entries_read = if v2 {
                self.len()? as i64
            } else {
                s.estimate_distance(last)
                    .unwrap_or(stream::INVALID_ENTRIES_READ)
            };
            if groups.contains_key(&name) {
                return Err(bad("duplicated consumer group name"));
            }
            let mut g = Group::new(last, entries_read);
            let npel = self.len()?;
            for _ in 0..npel {
                let id = self.raw_id()?;
                let delivery_time = self.ms_time()?;
                let delivery_count = self.len()?;
                if g.pel.contains_key(&id) {
                    return Err(bad("duplicated global PEL entry"));
                }
                g.pel.insert(
                    id,
                    Nack {
                        consumer: Bytes::new(),
                        delivery_time,
                        delivery_count,
                    },
                );
            }
            let mut owned: BTreeSet<StreamId> = BTreeSet::new();
            let nconsumers = self.len()?;
            for _ in 0..nconsumers {
                let cname = self.string()?;
                let seen_time = self.ms_time()?;
                if t == types::STREAM_LISTPACKS_3 {
                    self.ms_time()?;
                }
                if g.consumers.contains_key(&cname) {
                    return Err(bad("duplicate stream consumer"));
                }
                let mut c = Consumer {
                    seen_time,
                    pel: BTreeSet::new(),
                };
                let n = self.len()?;
                for _ in 0..n {
                    let id = self.raw_id()?;
                    let nack = g
                        .pel
                        .get_mut(&id)
                        .ok_or_else(|| bad("consumer entry not found in group PEL"))?;
                    if !owned.insert(id) || !c.pel.insert(id) {
                        return Err(bad("duplicated consumer PEL entry"));
                    }
                    nack.consumer = cname.clone();
                }
                g.consumers.insert(cname, c);
            }
            if owned.len() != g.pel.len() {
                return Err(bad("stream group PEL entry without consumer"));
            }
            groups.insert(name, g);
        }
        if !Stream::groups_consistent(&groups) {
            return Err(bad("inconsistent stream consumer groups"));
        }
        s.groups = groups;
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{dump_payload, restore_payload, Compact, PayloadError, RdbValue};
    use super::*;
    use crate::stream::NodeLimits;

    fn unhex(h: &str) -> Vec<u8> {
        (0..h.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&h[i..i + 2], 16).expect("hex"))
            .collect()
    }

    fn sample() -> Stream {
        let mut s = Stream::new();
        for i in 1..=150u64 {
            s.append(
                &["field", "value", "n", &i.to_string()],
                Some((StreamId::new(i, 0), true)),
                0,
                NodeLimits::default(),
            )
            .expect("append");
        }
        s.delete_ids(&[StreamId::new(2, 0), StreamId::new(149, 0)]);
        let mut g = Group::new(StreamId::new(10, 0), 10);
        g.create_consumer(b"alice", 1000);
        g.create_consumer(b"bob", 2000);
        let alice = Bytes::from_static(b"alice");
        g.assign(StreamId::new(5, 0), &alice, 1234, 2);
        g.assign(StreamId::new(7, 0), &alice, 1235, 1);
        s.groups.insert(Bytes::from_static(b"g1"), g);
        s
    }

    #[test]
    fn streams_round_trip() {
        let s = sample();
        let p = dump_payload(&RdbValue::Stream(Box::new(s.clone())), Compact::Yes);
        assert_eq!(p[0], types::STREAM_LISTPACKS_2);
        match restore_payload(&p) {
            Ok(RdbValue::Stream(back)) => assert_eq!(*back, s),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_corruption_is_refused_or_harmless() {
        let s = sample();
        let mut w = Writer::new(false);
        w.buf.push(types::STREAM_LISTPACKS_2);
        w.stream(&s);
        let body = w.buf.clone();
        for i in 1..body.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut b = body.clone();
                b[i] ^= flip;
                b.extend_from_slice(&super::super::RDB_VERSION.to_le_bytes());
                let crc = super::super::crc64::crc64(0, &b);
                b.extend_from_slice(&crc.to_le_bytes());
                if let Ok(RdbValue::Stream(st)) = restore_payload(&b) {
                    // Whatever loads must be readable end to end.
                    let _ = st.range(StreamId::MIN, StreamId::MAX, false, 0);
                    let _ = st.range(StreamId::MIN, StreamId::MAX, true, 0);
                }
            }
        }
        // Truncations never load.
        for cut in 1..body.len() {
            let mut b = body[..cut].to_vec();
            b.extend_from_slice(&super::super::RDB_VERSION.to_le_bytes());
            let crc = super::super::crc64::crc64(0, &b);
            b.extend_from_slice(&crc.to_le_bytes());
            assert_eq!(restore_payload(&b), Err(PayloadError::BadData), "cut {cut}");
        }
    }

    /// `XADD s 1-1 a 1` then `XADD s 2-0 a 2 b 3` and `DUMP s` on Redis
    /// 7.0.15.
    #[test]
    fn redis_payload_fixture() {
        let p = unhex(FIXTURE);
        let v = restore_payload(&p).expect("Redis payload restores");
        let RdbValue::Stream(s) = &v else {
            panic!("{v:?}")
        };
        assert_eq!(s.len(), 2);
        let e = s.range(StreamId::MIN, StreamId::MAX, false, 0);
        assert_eq!(e[1].id, StreamId::new(2, 0));
        assert_eq!(e[1].fields.len(), 2);
        assert_eq!(dump_payload(&v, Compact::Yes), p);
    }

    const FIXTURE: &str = "13011000000000000000010000000000000001c32b31103100000013000201000101018161020001400a400c0004600503dfff02024017200406620203010801ff0202000101000002000a00421dff6e94530464";
}
