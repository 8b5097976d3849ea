//! Pub/sub registry, message delivery with output buffer limits, and
//! keyspace notifications.
//!
//! Subscribers are kept with their [`ClientIo`], so PUBLISH delivers
//! straight into each subscriber's outbox whether or not that client is
//! running commands at the moment. A subscriber whose outbox grows past
//! `client-output-buffer-limit pubsub` (hard limit, or soft limit for
//! longer than its seconds) is disconnected, so a slow reader cannot grow
//! server memory without bound.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;

use crate::client::ClientIo;

/// One subscription's receiver.
#[derive(Clone)]
pub struct Subscriber {
    pub id: u64,
    pub io: Arc<ClientIo>,
}

/// `client-output-buffer-limit pubsub <hard> <soft> <seconds>`.
#[derive(Clone, Copy, Debug, Default)]
pub struct OutputLimit {
    pub hard: usize,
    pub soft: usize,
    pub soft_seconds: i64,
}

impl OutputLimit {
    /// Parses the `pubsub` class out of the canonical option value
    /// (`normal h s t slave h s t pubsub h s t`).
    pub fn pubsub_from_config(value: &str) -> OutputLimit {
        let words: Vec<&str> = value.split_whitespace().collect();
        for chunk in words.chunks(4) {
            if chunk.len() == 4 && chunk[0] == "pubsub" {
                return OutputLimit {
                    hard: chunk[1].parse().unwrap_or(0),
                    soft: chunk[2].parse().unwrap_or(0),
                    soft_seconds: chunk[3].parse().unwrap_or(0),
                };
            }
        }
        OutputLimit::default()
    }
}

/// Which kind of channel: classic (SUBSCRIBE) or shard (SSUBSCRIBE).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelKind {
    Classic,
    Shard,
}

/// All subscriptions of the server.
#[derive(Default)]
pub struct PubSub {
    pub channels: HashMap<Bytes, Vec<Subscriber>>,
    pub shard_channels: HashMap<Bytes, Vec<Subscriber>>,
    pub patterns: HashMap<Bytes, Vec<Subscriber>>,
    pub limit: OutputLimit,
}

/// Encodes a push frame of bulk strings (RESP3 `>` or RESP2 `*`).
pub fn frame(resp3: bool, parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + parts.iter().map(|p| p.len() + 16).sum::<usize>());
    out.push(if resp3 { b'>' } else { b'*' });
    out.extend_from_slice(parts.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
    for p in parts {
        out.push(b'$');
        out.extend_from_slice(p.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(p);
        out.extend_from_slice(b"\r\n");
    }
    out
}

impl PubSub {
    fn map(&mut self, kind: ChannelKind) -> &mut HashMap<Bytes, Vec<Subscriber>> {
        match kind {
            ChannelKind::Classic => &mut self.channels,
            ChannelKind::Shard => &mut self.shard_channels,
        }
    }

    /// Adds a subscription; returns false if it already existed.
    pub fn subscribe(&mut self, kind: ChannelKind, channel: &Bytes, sub: Subscriber) -> bool {
        let list = self.map(kind).entry(channel.clone()).or_default();
        if list.iter().any(|s| s.id == sub.id) {
            return false;
        }
        list.push(sub);
        true
    }

    /// Removes a subscription; returns false if there was none.
    pub fn unsubscribe(&mut self, kind: ChannelKind, channel: &[u8], id: u64) -> bool {
        let map = self.map(kind);
        let Some(list) = map.get_mut(channel) else {
            return false;
        };
        let before = list.len();
        list.retain(|s| s.id != id);
        let removed = list.len() != before;
        if list.is_empty() {
            map.remove(channel);
        }
        removed
    }

    pub fn psubscribe(&mut self, pattern: &Bytes, sub: Subscriber) -> bool {
        let list = self.patterns.entry(pattern.clone()).or_default();
        if list.iter().any(|s| s.id == sub.id) {
            return false;
        }
        list.push(sub);
        true
    }

    pub fn punsubscribe(&mut self, pattern: &[u8], id: u64) -> bool {
        let Some(list) = self.patterns.get_mut(pattern) else {
            return false;
        };
        let before = list.len();
        list.retain(|s| s.id != id);
        let removed = list.len() != before;
        if list.is_empty() {
            self.patterns.remove(pattern);
        }
        removed
    }

    /// Delivers `frame` to one subscriber, enforcing the output limit.
    fn deliver(&self, sub: &Subscriber, data: &[u8], now_ms: i64) {
        if sub.io.is_killed() {
            return;
        }
        sub.io.send(data);
        let len = sub.io.outbox_len.load(Ordering::Relaxed);
        let limit = self.limit;
        if limit.hard > 0 && len > limit.hard {
            crate::log::warning(&format!(
                "Client id={} scheduled to be closed ASAP for overcoming of output buffer limits.",
                sub.id
            ));
            sub.io.kill();
        } else if limit.soft > 0 && len > limit.soft {
            let since = sub.io.soft_limit_since.load(Ordering::Relaxed);
            if since == 0 {
                sub.io.soft_limit_since.store(now_ms, Ordering::Relaxed);
            } else if now_ms - since > limit.soft_seconds * 1000 {
                crate::log::warning(&format!("Client id={} scheduled to be closed ASAP for overcoming of output buffer limits.", sub.id));
                sub.io.kill();
            }
        } else {
            sub.io.soft_limit_since.store(0, Ordering::Relaxed);
        }
    }

    /// PUBLISH / SPUBLISH: returns the number of receivers.
    pub fn publish(&self, kind: ChannelKind, channel: &[u8], message: &[u8], now_ms: i64) -> usize {
        let mut receivers = 0;
        let (map, word): (&HashMap<Bytes, Vec<Subscriber>>, &[u8]) = match kind {
            ChannelKind::Classic => (&self.channels, b"message"),
            ChannelKind::Shard => (&self.shard_channels, b"smessage"),
        };
        if let Some(list) = map.get(channel) {
            for sub in list.iter().filter(|s| !s.io.is_killed()) {
                let data = frame(
                    sub.io.resp3.load(Ordering::Relaxed),
                    &[word, channel, message],
                );
                self.deliver(sub, &data, now_ms);
                receivers += 1;
            }
        }
        if kind == ChannelKind::Classic && !self.patterns.is_empty() {
            for (pattern, list) in &self.patterns {
                if !strata_storage::glob::glob_match(pattern, channel, false) {
                    continue;
                }
                for sub in list.iter().filter(|s| !s.io.is_killed()) {
                    let data = frame(
                        sub.io.resp3.load(Ordering::Relaxed),
                        &[b"pmessage", pattern, channel, message],
                    );
                    self.deliver(sub, &data, now_ms);
                    receivers += 1;
                }
            }
        }
        receivers
    }
}

/// `notify-keyspace-events` classes as bits.
pub mod events {
    pub const KEYSPACE: u32 = 1 << 0; // K
    pub const KEYEVENT: u32 = 1 << 1; // E
    pub const GENERIC: u32 = 1 << 2; // g
    pub const STRING: u32 = 1 << 3; // $
    pub const LIST: u32 = 1 << 4; // l
    pub const SET: u32 = 1 << 5; // s
    pub const HASH: u32 = 1 << 6; // h
    pub const ZSET: u32 = 1 << 7; // z
    pub const EXPIRED: u32 = 1 << 8; // x
    pub const EVICTED: u32 = 1 << 9; // e
    pub const STREAM: u32 = 1 << 10; // t
    pub const KEY_MISS: u32 = 1 << 11; // m
    pub const MODULE: u32 = 1 << 12; // d
    pub const NEW: u32 = 1 << 13; // n
    /// `A`: every class but m and n.
    pub const ALL: u32 =
        GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;

    /// The bit of one class letter.
    pub fn class(c: char) -> u32 {
        match c {
            'K' => KEYSPACE,
            'E' => KEYEVENT,
            'g' => GENERIC,
            '$' => STRING,
            'l' => LIST,
            's' => SET,
            'h' => HASH,
            'z' => ZSET,
            'x' => EXPIRED,
            'e' => EVICTED,
            't' => STREAM,
            'm' => KEY_MISS,
            'd' => MODULE,
            'n' => NEW,
            'A' => ALL,
            _ => 0,
        }
    }

    /// Parses the option value into bits.
    pub fn parse(s: &str) -> u32 {
        s.chars().fold(0, |acc, c| acc | class(c))
    }

    /// Canonical text, as CONFIG GET shows it (Redis's
    /// `keyspaceEventsFlagsToString`).
    pub fn to_string(flags: u32) -> String {
        let mut s = String::new();
        if flags & ALL == ALL {
            s.push('A');
        } else {
            for (bit, c) in [
                (GENERIC, 'g'),
                (STRING, '$'),
                (LIST, 'l'),
                (SET, 's'),
                (HASH, 'h'),
                (ZSET, 'z'),
                (EXPIRED, 'x'),
                (EVICTED, 'e'),
                (STREAM, 't'),
                (MODULE, 'd'),
            ] {
                if flags & bit != 0 {
                    s.push(c);
                }
            }
        }
        for (bit, c) in [
            (KEYSPACE, 'K'),
            (KEYEVENT, 'E'),
            (KEY_MISS, 'm'),
            (NEW, 'n'),
        ] {
            if flags & bit != 0 {
                s.push(c);
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_flags_round_trip() {
        assert_eq!(events::to_string(events::parse("KEA")), "AKE");
        assert_eq!(events::to_string(events::parse("Kx")), "xK");
        assert_eq!(events::to_string(events::parse("")), "");
        assert_eq!(events::to_string(events::parse("g$lshzxetdKE")), "AKE");
    }

    #[test]
    fn pubsub_limit_parse() {
        let l = OutputLimit::pubsub_from_config(
            "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
        );
        assert_eq!(l.hard, 33554432);
        assert_eq!(l.soft_seconds, 60);
    }
}
