//! CRC-64/Jones (the DUMP payload, RDB and AOF checksum): the SIMD path
//! `crc64` uses from 128 bytes up, against the slicing-by-8 tables, at the
//! sizes that matter (a short string's DUMP payload, a 1 KiB cold record,
//! an AOF segment chunk).
//!
//! Run: `cargo bench --bench crc64` (release profile).

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use strata_storage::rdb::crc64::{crc64, crc64_sliced};

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("crc64");
    for size in [16usize, 100, 256, 1024, 64 << 10] {
        let data: Vec<u8> = (0..size as u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
            .collect();
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_with_input(BenchmarkId::new("crc64", size), &data, |b, d| {
            b.iter(|| crc64(0, black_box(d)))
        });
        g.bench_with_input(BenchmarkId::new("tables", size), &data, |b, d| {
            b.iter(|| crc64_sliced(0, black_box(d)))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
