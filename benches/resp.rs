//! Protocol micro-benchmarks: request parsing and reply encoding.
//!
//! * `parse/*`: a pipelined batch of 1000 commands (alternating
//!   `GET key:N` and `SET key:N <100 bytes>`) parsed by Strata's
//!   incremental [`strata::resp::Parser`] and by the `redis-protocol`
//!   crate's RESP2 decoder (`decode_bytes_mut`, zero-copy frames). Both
//!   produce argument byte strings that share the input buffer.
//! * `encode/*`: reply encoding with [`strata::reply::Reply`] (1000 bulk
//!   replies of 100 bytes; one 1000-element array of short bulks, as
//!   LRANGE/MGET produce; a RESP3 map), next to `redis-protocol`'s encoder
//!   for the same bulk array.
//!
//! Run: `cargo bench --bench resp` (release profile). Kept short: 20
//! samples, 2 s of measurement per benchmark.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use redis_protocol::resp2::decode::decode_bytes_mut;
use redis_protocol::resp2::encode::extend_encode;
use redis_protocol::resp2::types::BytesFrame;
use strata::reply::Reply;
use strata::resp::{Limits, Parser};

const COMMANDS: usize = 1000;

fn pipeline() -> Vec<u8> {
    let value = vec![b'x'; 100];
    let mut out = Vec::new();
    for i in 0..COMMANDS {
        let key = format!("key:{:08}", i * 7919 % 1_000_000);
        let args: Vec<&[u8]> = if i % 2 == 0 {
            vec![b"GET", key.as_bytes()]
        } else {
            vec![b"SET", key.as_bytes(), &value]
        };
        out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
    }
    out
}

fn parse(c: &mut Criterion) {
    let wire = pipeline();
    let limits = Limits {
        max_bulk: 512 * 1024 * 1024,
        authenticated: true,
    };
    let mut g = c.benchmark_group("parse");
    g.throughput(Throughput::Bytes(wire.len() as u64));
    g.bench_function("strata_pipeline_get_set", |b| {
        b.iter_batched(
            || BytesMut::from(&wire[..]),
            |mut buf| {
                let mut parser = Parser::new();
                let mut n = 0;
                while let Ok(Some(args)) = parser.next(&mut buf, limits) {
                    n += args.len();
                    black_box(&args);
                }
                assert_eq!(n, COMMANDS / 2 * 5);
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("redis_protocol_pipeline_get_set", |b| {
        b.iter_batched(
            || BytesMut::from(&wire[..]),
            |mut buf| {
                let mut n = 0;
                while let Ok(Some((frame, _, _))) = decode_bytes_mut(&mut buf) {
                    if let BytesFrame::Array(items) = &frame {
                        n += items.len();
                    }
                    black_box(&frame);
                }
                assert_eq!(n, COMMANDS / 2 * 5);
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn encode(c: &mut Criterion) {
    let value = vec![b'v'; 100];
    let items: Vec<Bytes> = (0..COMMANDS)
        .map(|i| Bytes::from(format!("element:{i}")))
        .collect();
    let mut g = c.benchmark_group("encode");
    g.throughput(Throughput::Elements(COMMANDS as u64));
    g.bench_function("strata_1000_bulk_100b", |b| {
        b.iter(|| {
            let mut r = Reply::new(false);
            for _ in 0..COMMANDS {
                r.bulk(black_box(&value));
            }
            black_box(r.buf.len())
        })
    });
    g.bench_function("strata_array_1000_bulks", |b| {
        b.iter(|| {
            let mut r = Reply::new(false);
            r.array(items.len());
            for it in &items {
                r.bulk(it);
            }
            black_box(r.buf.len())
        })
    });
    g.bench_function("strata_array_1000_deferred", |b| {
        b.iter(|| {
            let mut r = Reply::new(false);
            let at = r.defer();
            for it in &items {
                r.bulk(it);
            }
            r.finish_array(at, items.len());
            black_box(r.buf.len())
        })
    });
    g.bench_function("strata_resp3_map_500_pairs", |b| {
        b.iter(|| {
            let mut r = Reply::new(true);
            r.map(items.len() / 2);
            for pair in items.chunks(2) {
                r.bulk(&pair[0]);
                r.int(pair[1].len() as i64);
            }
            black_box(r.buf.len())
        })
    });
    let frame = BytesFrame::Array(items.iter().cloned().map(BytesFrame::BulkString).collect());
    g.bench_function("redis_protocol_array_1000_bulks", |b| {
        b.iter(|| {
            let mut buf = BytesMut::new();
            let n = extend_encode(&mut buf, black_box(&frame), false).unwrap_or(0);
            black_box(n)
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = parse, encode
}
criterion_main!(benches);
