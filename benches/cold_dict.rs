//! Cold-record compression: plain zstd vs a trained per-type dictionary.
//!
//! Two string values, as the spiller's DUMP payloads (no LZF):
//!
//! * `loadgen`: 512 bytes of a repeated English phrase at a random offset
//!   then 512 random bytes (`tools/loadgen --compressibility 0.5`);
//! * `json`: a realistic ~250-byte JSON-ish document.
//!
//! For each, a dictionary is trained as the server does (1000 sampled
//! payloads, 80/20 split, adopted only if it beats plain zstd) and the
//! average record sizes on 1000 fresh values are printed; then criterion
//! times `encode/{plain,dict}` and `decode/{plain,dict}` per record at
//! level 3 (the default `tier-compression-level`).
//!
//! Run: `cargo bench --bench cold_dict` (release profile).

use std::time::Duration;

use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use rand::rngs::SmallRng;
use rand::{Rng, RngCore, SeedableRng};
use strata_storage::cold::{self, ColdStore, Dictionaries, MemStore};
use strata_storage::rdb::convert;
use strata_storage::value::{Str, Value};

const LEVEL: i32 = 3;
const PHRASE: &[u8] = b"strata tiering benchmark: the quick brown fox jumps over the lazy dog. ";

fn payload(v: Vec<u8>) -> Vec<u8> {
    convert::dump_plain(&Value::Str(Str::Raw(Bytes::from(v))))
}

fn loadgen(rng: &mut SmallRng) -> Vec<u8> {
    let text: Vec<u8> = PHRASE
        .iter()
        .copied()
        .cycle()
        .take(512 + PHRASE.len())
        .collect();
    let off = rng.random_range(0..PHRASE.len());
    let mut v = text[off..off + 512].to_vec();
    let mut r = vec![0u8; 512];
    rng.fill_bytes(&mut r);
    v.extend_from_slice(&r);
    payload(v)
}

fn json(rng: &mut SmallRng) -> Vec<u8> {
    let first = ["Alice", "Bob", "Carol", "Dave", "Eve", "Mallory", "Trent"];
    let cities = [
        "Springfield",
        "Shelbyville",
        "Ogdenville",
        "North Haverbrook",
    ];
    let name = first[rng.random_range(0..first.len())];
    let v = format!(
        r#"{{"id":{},"name":"{name}","email":"{}{}@example.com","active":{},"balance":{}.{:02},"city":"{}","created_at":"2024-{:02}-{:02}T{:02}:{:02}:{:02}Z","tags":["customer","tier-{}"],"last_login_ip":"10.{}.{}.{}"}}"#,
        rng.random_range(0..10_000_000u32),
        name.to_lowercase(),
        rng.random_range(0..10_000u32),
        rng.random_bool(0.5),
        rng.random_range(0..100_000u32),
        rng.random_range(0..100u32),
        cities[rng.random_range(0..cities.len())],
        rng.random_range(1..13u32),
        rng.random_range(1..29u32),
        rng.random_range(0..24u32),
        rng.random_range(0..60u32),
        rng.random_range(0..60u32),
        rng.random_range(1..4u32),
        rng.random_range(0..256u32),
        rng.random_range(0..256u32),
        rng.random_range(0..256u32),
    );
    payload(v.into_bytes())
}

fn bench_kind(c: &mut Criterion, name: &str, make: fn(&mut SmallRng) -> Vec<u8>) {
    let mut rng = SmallRng::seed_from_u64(42);
    let store = MemStore::new();
    let dicts = store.dicts().clone();
    let samples: Vec<Vec<u8>> = (0..1000).map(|_| make(&mut rng)).collect();
    let started = std::time::Instant::now();
    let report = dicts.train_class(&store, 0, samples, LEVEL);
    let trained_in = started.elapsed();
    let values: Vec<Vec<u8>> = (0..1000).map(|_| make(&mut rng)).collect();
    let raw: usize = values.iter().map(Vec::len).sum();
    let enc = |d: Option<&Dictionaries>| -> Vec<Vec<u8>> {
        values
            .iter()
            .map(|p| cold::encode_record_with(p, None, 0, LEVEL, d).expect("encode"))
            .collect()
    };
    let plain = enc(None);
    let dict = enc(Some(&dicts));
    let total = |r: &[Vec<u8>]| r.iter().map(Vec::len).sum::<usize>();
    let n = values.len() as f64;
    println!(
        "{name}: payload {:.0} B, record plain {:.1} B, with dictionary {:.1} B ({:.1}%); \
         dictionary {:?} trained in {} ms (held-out: plain {} B, dict {} B)",
        raw as f64 / n,
        total(&plain) as f64 / n,
        total(&dict) as f64 / n,
        100.0 * total(&dict) as f64 / total(&plain) as f64,
        report.adopted,
        trained_in.as_millis(),
        report.plain,
        report.dict,
    );
    let mut g = c.benchmark_group(format!("cold_record/{name}"));
    g.throughput(Throughput::Elements(1));
    let one = &values[0];
    g.bench_function("encode/plain", |b| {
        b.iter(|| cold::encode_record_with(black_box(one), None, 0, LEVEL, None))
    });
    g.bench_function("encode/dict", |b| {
        b.iter(|| cold::encode_record_with(black_box(one), None, 0, LEVEL, Some(&dicts)))
    });
    let (p, d) = (&plain[0], &dict[0]);
    g.bench_function("decode/plain", |b| {
        b.iter(|| cold::decode_record(black_box(p)).and_then(|r| r.payload(&dicts)))
    });
    g.bench_function("decode/dict", |b| {
        b.iter(|| cold::decode_record(black_box(d)).and_then(|r| r.payload(&dicts)))
    });
    g.finish();
}

fn records(c: &mut Criterion) {
    bench_kind(c, "loadgen", loadgen);
    bench_kind(c, "json", json);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = records
}
criterion_main!(benches);
