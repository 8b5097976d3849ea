//! Point reads of cold records from RocksDB, as a W3 cold read does them
//! (records of about 560 bytes, the files in the OS page cache), for the
//! table layouts worth comparing: data block size and index restart
//! interval.
//!
//! Run: `cargo bench --bench cold_read` (release profile). Building each
//! store takes a few seconds before its measurements.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use rand::rngs::SmallRng;
use rand::{Rng, RngCore, SeedableRng};
use strata_storage::cold::rocks::{RocksConfig, RocksStore};
use strata_storage::cold::{self, Cf, ColdStore, Fetch, Op};

const RECORDS: usize = 200_000;
const RECORD_BYTES: usize = 560;

fn key(i: usize) -> Vec<u8> {
    cold::data_key(0, format!("key:{i}").as_bytes())
}

fn build(dir: &std::path::Path, cfg: &RocksConfig) -> RocksStore {
    let store = RocksStore::open(dir, cfg, true).expect("open");
    let mut rng = SmallRng::seed_from_u64(7);
    let mut batch = Vec::new();
    for i in 0..RECORDS {
        let mut v = vec![0u8; RECORD_BYTES];
        rng.fill_bytes(&mut v);
        batch.push(Op::Put(Cf::Data, key(i), v));
        if batch.len() == 1000 {
            store.write(std::mem::take(&mut batch)).expect("write");
        }
    }
    store.write(batch).expect("write");
    // Let flushes and compactions settle, as in a long-running server.
    std::thread::sleep(std::time::Duration::from_secs(5));
    store
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("cold_read");
    for (block, restart) in [(4096usize, 1i32), (2048, 8), (1024, 16)] {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = RocksConfig {
            block_size: block,
            index_restart_interval: restart,
            ..RocksConfig::default()
        };
        let store = build(dir.path(), &cfg);
        eprintln!(
            "block {block} restart {restart}: memory {:?}, disk {} bytes",
            store.mem_detail(),
            store.disk_bytes()
        );
        let mut rng = SmallRng::seed_from_u64(1);
        g.bench_function(
            BenchmarkId::new("get", format!("block{block}-restart{restart}")),
            |b| {
                b.iter(|| {
                    let k = key(rng.random_range(0..RECORDS));
                    match store.get(Cf::Data, black_box(&k)) {
                        Ok(Fetch::Found(v)) => v.len(),
                        _ => panic!("missing"),
                    }
                })
            },
        );
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = bench
}
criterion_main!(benches);
