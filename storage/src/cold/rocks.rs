//! The RocksDB cold store.
//!
//! Values arrive already zstd-compressed (per record, see [`super`]), so
//! RocksDB's own block compression is off. Bloom filters (10 bits/key)
//! answer most "not there" lookups without touching the disk (the last
//! level, where nearly every lookup that reaches it finds its key, has
//! none). Index and filter blocks live in the table readers, outside the
//! block cache (`tier-block-cache-size`), which point reads of values do
//! not fill; all three are counted, with the memtables, inside
//! `maxmemory`. The WAL is off: the cold tier is made
//! durable by the server's checkpoints, not record by record.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Instant;

use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamilyDescriptor, DBCompressionType, Options, ReadOptions,
    WriteBatch, WriteOptions, DB,
};

use super::{Cf, Chunk, ColdError, ColdStore, Dictionaries, Fetch, Op};

/// Tuning knobs from the server's configuration.
#[derive(Clone, Debug)]
pub struct RocksConfig {
    pub block_cache_bytes: usize,
    pub write_buffer_bytes: usize,
    /// Data block size. Each point read copies and checksums one block
    /// from the page cache, so small blocks keep it cheap; the index
    /// grows as they shrink (`benches/cold_read.rs` compares layouts).
    pub block_size: usize,
    /// Index entries between restart points (RocksDB's
    /// `index_block_restart_interval`): with 8, a point read's binary
    /// search touches 8 times fewer index entries (each a likely cache
    /// miss) and then decodes a few neighbours in one cache line, and
    /// the index is about half as large (its keys are delta-encoded).
    pub index_restart_interval: i32,
}

impl Default for RocksConfig {
    fn default() -> Self {
        RocksConfig {
            block_cache_bytes: 32 << 20,
            write_buffer_bytes: 8 << 20,
            block_size: 2 << 10,
            index_restart_interval: 8,
        }
    }
}

pub struct RocksStore {
    db: Arc<DB>,
    cache: Cache,
    dicts: Arc<Dictionaries>,
    /// The table readers' memory, as last read ([`RocksStore::readers_mem`]).
    readers: ReadersMem,
}

/// The table readers' memory figure, read at most every
/// [`READERS_MEASURE_MS`]: reading it walks every table file's
/// properties (1.7% of W3's CPU when `used_memory` read it every 50 ms),
/// while it changes only as files come and go. The memtables' and block
/// cache's figures are cheap and stay exact.
struct ReadersMem {
    bytes: AtomicU64,
    /// Milliseconds since `born` at the last read, plus one (0: never).
    at_ms: AtomicU64,
    born: Instant,
}

const READERS_MEASURE_MS: u64 = 250;

fn err(e: rocksdb::Error) -> ColdError {
    ColdError(e.into_string())
}

/// Column families. A store made before `meta` existed gets it when
/// opened (`create_missing_column_families`).
const CF_NAMES: [&str; 3] = ["data", "ttl", "meta"];

fn cf_name(cf: Cf) -> &'static str {
    match cf {
        Cf::Data => CF_NAMES[0],
        Cf::Ttl => CF_NAMES[1],
        Cf::Meta => CF_NAMES[2],
    }
}

impl RocksStore {
    /// Opens (creating if needed) the store at `path`. With `fresh`, any
    /// previous contents are destroyed first. Its compression
    /// dictionaries are loaded (damaged ones are listed in
    /// `dicts().load_errors()`).
    pub fn open(path: &Path, cfg: &RocksConfig, fresh: bool) -> Result<RocksStore, ColdError> {
        let cache = Cache::new_lru_cache(cfg.block_cache_bytes.max(256 << 10));
        let mut table = BlockBasedOptions::default();
        table.set_block_cache(&cache);
        table.set_bloom_filter(10.0, false);
        // 2 KiB blocks, index restart interval 8 (see `RocksConfig`):
        // `benches/cold_read.rs` measured a point read 12% faster than
        // with 4 KiB and 1, with a fifth less index memory; 16 KiB
        // blocks cost 5-10% more CPU per request in W3.
        table.set_block_size(cfg.block_size.max(256));
        table.set_index_block_restart_interval(cfg.index_restart_interval.max(1));
        // Index and filter blocks held by the table readers: every read
        // needs them, and looking them up in the LRU cache (a hash probe
        // and a mutex per level) cost about 7% of W3's throughput. Their
        // memory (about 4.6 bytes per cold key in W3) is counted as
        // `tier_memory_table_readers`.
        table.set_cache_index_and_filter_blocks(false);
        // A hash index in each data block: a point read finds its key
        // without the binary search over the block's restart points.
        table.set_data_block_index_type(rocksdb::DataBlockIndexType::BinaryAndHash);
        table.set_data_block_hash_ratio(0.75);
        let mut cf_opts = Options::default();
        cf_opts.set_block_based_table_factory(&table);
        cf_opts.set_compression_type(DBCompressionType::None);
        cf_opts.set_write_buffer_size(cfg.write_buffer_bytes.max(256 << 10));
        cf_opts.set_max_write_buffer_number(2);
        cf_opts.set_level_compaction_dynamic_level_bytes(true);
        // Filters on every level, the last one included: a key that is in
        // neither tier (a SET of a new key looks it up under the state
        // lock, to keep the counts exact) is answered by the filters
        // instead of a data block read. It costs about 1.3 bytes of RAM
        // per cold key (inside maxmemory) and a filter probe per cold
        // read: 15-22% faster ingest of new keys, W3 within noise (-2% to
        // -5%; W3 never misses).
        cf_opts.set_optimize_filters_for_hits(false);
        // A bloom filter over the memtable's keys (10% of its size): most
        // point reads miss the memtable, and the filter answers that
        // without walking the skip list.
        cf_opts.set_memtable_whole_key_filtering(true);
        cf_opts.set_memtable_prefix_bloom_ratio(0.1);
        // Keys are spread uniformly (hashed prefix), so every L0 file
        // overlaps the whole base level: a small base level and small
        // files keep each compaction (and the write amplification) small.
        cf_opts.set_max_bytes_for_level_base(8 << 20);
        cf_opts.set_target_file_size_base(4 << 20);
        let mut opts = cf_opts.clone();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_max_background_jobs(2);
        // The WAL is off: flushing every column family together keeps a
        // checkpoint (and a crash) consistent across them.
        opts.set_atomic_flush(true);
        if fresh && path.exists() {
            DB::destroy(&opts, path).map_err(err)?;
            let _ = std::fs::remove_dir_all(path);
        }
        std::fs::create_dir_all(path).map_err(|e| ColdError(format!("{}: {e}", path.display())))?;
        let cfs = CF_NAMES
            .iter()
            .map(|n| ColumnFamilyDescriptor::new(*n, cf_opts.clone()));
        let db = DB::open_cf_descriptors(&opts, path, cfs)
            .map_err(|e| ColdError(format!("{}: {}", path.display(), e.into_string())))?;
        let store = RocksStore {
            db: Arc::new(db),
            cache,
            dicts: Arc::default(),
            readers: ReadersMem {
                bytes: AtomicU64::new(0),
                at_ms: AtomicU64::new(0),
                born: Instant::now(),
            },
        };
        store
            .dicts
            .load(&store)
            .map_err(|e| ColdError(format!("{}: loading dictionaries: {e}", path.display())))?;
        Ok(store)
    }

    /// Opens the store at `live` as a copy of the checkpoint `checkpoint`
    /// (whatever `live` held is discarded). Table files are immutable, so
    /// they are hard-linked (copied across file systems); the small
    /// metadata files are copied, so the checkpoint stays untouched.
    pub fn open_from_checkpoint(
        checkpoint: &Path,
        live: &Path,
        cfg: &RocksConfig,
    ) -> Result<RocksStore, ColdError> {
        let io = |p: &Path, e: std::io::Error| ColdError(format!("{}: {e}", p.display()));
        if live.exists() {
            std::fs::remove_dir_all(live).map_err(|e| io(live, e))?;
        }
        std::fs::create_dir_all(live).map_err(|e| io(live, e))?;
        let entries = std::fs::read_dir(checkpoint).map_err(|e| io(checkpoint, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| io(checkpoint, e))?;
            let from = entry.path();
            if !from.is_file() {
                continue;
            }
            let to = live.join(entry.file_name());
            let is_table = from.extension().is_some_and(|x| x == "sst");
            if !(is_table && std::fs::hard_link(&from, &to).is_ok()) {
                std::fs::copy(&from, &to).map_err(|e| io(&from, e))?;
            }
        }
        Self::open(live, cfg, false)
    }

    fn cf(&self, cf: Cf) -> Result<&rocksdb::ColumnFamily, ColdError> {
        let name = cf_name(cf);
        self.db
            .cf_handle(name)
            .ok_or_else(|| ColdError(format!("column family {name} missing")))
    }

    fn batch(&self, ops: Vec<Op>) -> Result<WriteBatch, ColdError> {
        let mut b = WriteBatch::default();
        for op in ops {
            match op {
                Op::Put(cf, k, v) => b.put_cf(self.cf(cf)?, k, v),
                Op::Delete(cf, k) => b.delete_cf(self.cf(cf)?, k),
                Op::DeleteRange(cf, from, to) => b.delete_range_cf(self.cf(cf)?, from, to),
            }
        }
        Ok(b)
    }

    /// The table readers' memory (index and filter blocks), read from
    /// RocksDB at most every [`READERS_MEASURE_MS`].
    fn readers_mem(&self) -> u64 {
        let r = &self.readers;
        let now = r.born.elapsed().as_millis() as u64 + 1;
        let at = r.at_ms.load(Ordering::Relaxed);
        if at != 0 && now.saturating_sub(at) < READERS_MEASURE_MS {
            return r.bytes.load(Ordering::Relaxed);
        }
        let bytes = self.prop("rocksdb.estimate-table-readers-mem");
        r.bytes.store(bytes, Ordering::Relaxed);
        r.at_ms.store(now, Ordering::Relaxed);
        bytes
    }

    fn prop(&self, name: &str) -> u64 {
        let mut total = 0;
        for n in CF_NAMES {
            if let Some(cf) = self.db.cf_handle(n) {
                total += self
                    .db
                    .property_int_value_cf(cf, name)
                    .ok()
                    .flatten()
                    .unwrap_or(0);
            }
        }
        total
    }
}

fn write_opts() -> WriteOptions {
    let mut w = WriteOptions::default();
    w.disable_wal(true);
    w
}

impl ColdStore for RocksStore {
    fn get(&self, cf: Cf, key: &[u8]) -> Result<Fetch, ColdError> {
        let mut ro = ReadOptions::default();
        if cf == Cf::Data {
            // Point reads of values go to the OS page cache: the block
            // cache is a small share of maxmemory and keeps the index and
            // filter blocks every read needs, which value blocks read once
            // would only push out.
            ro.fill_cache(false);
        }
        match self.db.get_pinned_cf_opt(self.cf(cf)?, key, &ro) {
            Ok(Some(v)) => Ok(Fetch::Found(v.to_vec())),
            Ok(None) => Ok(Fetch::Missing),
            Err(e) => Err(err(e)),
        }
    }

    fn write(&self, ops: Vec<Op>) -> Result<(), ColdError> {
        self.db
            .write_opt(self.batch(ops)?, &write_opts())
            .map_err(err)
    }

    fn write_or_fail(&self, ops: Vec<Op>) -> Result<(), ColdError> {
        let mut w = write_opts();
        w.set_no_slowdown(true);
        self.db.write_opt(self.batch(ops)?, &w).map_err(err)
    }

    fn scan(
        &self,
        cf: Cf,
        from: &[u8],
        to: &[u8],
        f: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), ColdError> {
        let mut ro = ReadOptions::default();
        ro.set_iterate_upper_bound(to.to_vec());
        if cf == Cf::Data {
            // Value blocks met by SCAN, KEYS or RANDOMKEY are read once
            // (a sweep never comes back): kept out of the block cache,
            // whose memory counts inside maxmemory, at the hot keys'
            // expense.
            ro.fill_cache(false);
        }
        let mut it = self.db.raw_iterator_cf_opt(self.cf(cf)?, ro);
        it.seek(from);
        while it.valid() {
            let (Some(k), Some(v)) = (it.key(), it.value()) else {
                break;
            };
            if !f(k, v) {
                return Ok(());
            }
            it.next();
        }
        it.status().map_err(err)
    }

    fn snapshot_stream(
        &self,
        cf: Cf,
        from: Vec<u8>,
        to: Vec<u8>,
    ) -> Result<mpsc::Receiver<Result<Chunk, ColdError>>, ColdError> {
        let db = self.db.clone();
        let name = cf_name(cf);
        let (tx, rx) = mpsc::sync_channel::<Result<Chunk, ColdError>>(4);
        let (taken_tx, taken_rx) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("cold-snapshot".into())
            .spawn(move || {
                let Some(handle) = db.cf_handle(name) else {
                    let _ = taken_tx.send(());
                    let _ = tx.send(Err(ColdError(format!("column family {name} missing"))));
                    return;
                };
                let snap = db.snapshot();
                let _ = taken_tx.send(());
                let mut ro = ReadOptions::default();
                ro.set_iterate_upper_bound(to);
                ro.fill_cache(false);
                let mut it = snap.raw_iterator_cf_opt(handle, ro);
                it.seek(&from);
                let mut chunk: Chunk = Vec::new();
                let mut bytes = 0usize;
                while it.valid() {
                    if let (Some(k), Some(v)) = (it.key(), it.value()) {
                        bytes += k.len() + v.len();
                        chunk.push((k.to_vec(), v.to_vec()));
                    }
                    if chunk.len() >= 1024 || bytes >= 4 << 20 {
                        if tx.send(Ok(std::mem::take(&mut chunk))).is_err() {
                            return;
                        }
                        bytes = 0;
                    }
                    it.next();
                }
                if let Err(e) = it.status() {
                    let _ = tx.send(Err(err(e)));
                    return;
                }
                if !chunk.is_empty() {
                    let _ = tx.send(Ok(chunk));
                }
            })
            .map_err(|e| ColdError(e.to_string()))?;
        taken_rx
            .recv()
            .map_err(|_| ColdError("snapshot thread failed".into()))?;
        Ok(rx)
    }

    fn disk_bytes(&self) -> u64 {
        self.prop("rocksdb.total-sst-files-size")
    }

    fn mem_bytes(&self) -> u64 {
        self.prop("rocksdb.cur-size-all-mem-tables")
            + self.cache.get_usage() as u64
            + self.readers_mem()
            + super::zstd_memory()
    }

    fn kind(&self) -> &'static str {
        "rocksdb"
    }

    fn checkpoint(&self, dir: &Path) -> Result<(), ColdError> {
        let cp = rocksdb::checkpoint::Checkpoint::new(self.db.as_ref()).map_err(err)?;
        cp.create_checkpoint(dir)
            .map_err(|e| ColdError(format!("{}: {}", dir.display(), e.into_string())))
    }

    fn dicts(&self) -> &Arc<Dictionaries> {
        &self.dicts
    }

    fn mem_detail(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("memtables", self.prop("rocksdb.cur-size-all-mem-tables")),
            ("block_cache", self.cache.get_usage() as u64),
            ("table_readers", self.readers_mem()),
            ("zstd", super::zstd_memory()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_get_scan_delete_range_snapshot() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = RocksStore::open(dir.path(), &RocksConfig::default(), true).expect("open");
        let k1 = super::super::data_key(0, b"a");
        let k2 = super::super::data_key(0, b"b");
        let k3 = super::super::data_key(1, b"c");
        s.write(vec![
            Op::Put(Cf::Data, k1.clone(), b"1".to_vec()),
            Op::Put(Cf::Data, k2.clone(), b"2".to_vec()),
            Op::Put(Cf::Data, k3.clone(), b"3".to_vec()),
        ])
        .expect("write");
        assert!(matches!(s.get(Cf::Data, &k1), Ok(Fetch::Found(v)) if v == b"1"));
        let (lo, hi) = super::super::db_range(0);
        let mut n = 0;
        s.scan(Cf::Data, &lo, &hi, &mut |_, _| {
            n += 1;
            true
        })
        .expect("scan");
        assert_eq!(n, 2);
        let rx = s
            .snapshot_stream(Cf::Data, lo.clone(), hi.clone())
            .expect("snap");
        s.write(vec![Op::DeleteRange(Cf::Data, lo.clone(), hi.clone())])
            .expect("range delete");
        assert!(matches!(s.get(Cf::Data, &k1), Ok(Fetch::Missing)));
        assert!(matches!(s.get(Cf::Data, &k3), Ok(Fetch::Found(_))));
        // The snapshot still sees what was there when it was taken.
        let seen: usize = rx.iter().map(|c| c.expect("chunk").len()).sum();
        assert_eq!(seen, 2);
    }

    /// Similar JSON-ish string payloads (type 0), for training.
    fn samples(n: usize) -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| {
                let body = format!(
                    r#"{{"id":{i},"name":"user{}","city":"Springfield","tags":["a","b"],"n":{}}}"#,
                    i * 7919 % 10007,
                    i * 31 % 977
                );
                let mut p = vec![0u8, body.len() as u8];
                p.extend_from_slice(body.as_bytes());
                p.extend_from_slice(&[10, 0]);
                p.extend_from_slice(&(i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15).to_le_bytes());
                p
            })
            .collect()
    }

    #[test]
    fn a_store_made_before_the_meta_family_opens() {
        let dir = tempfile::tempdir().expect("tempdir");
        let k = super::super::data_key(0, b"a");
        {
            let mut opts = Options::default();
            opts.create_if_missing(true);
            opts.create_missing_column_families(true);
            let db = DB::open_cf(&opts, dir.path(), ["data", "ttl"]).expect("old store");
            let cf = db.cf_handle("data").expect("data");
            db.put_cf(cf, &k, b"1").expect("put");
            db.flush_cf(cf).expect("flush");
        }
        let s = RocksStore::open(dir.path(), &RocksConfig::default(), false).expect("open");
        assert!(matches!(s.get(Cf::Data, &k), Ok(Fetch::Found(v)) if v == b"1"));
        assert_eq!(s.dicts().stats().dictionaries, 0);
        s.write(vec![Op::Put(Cf::Meta, b"x".to_vec(), b"y".to_vec())])
            .expect("meta usable");
    }

    #[test]
    fn dictionaries_survive_reopen_checkpoint_and_flush() {
        use super::super::{decode_record, encode_record_with};
        let dir = tempfile::tempdir().expect("tempdir");
        let live = dir.path().join("live");
        let cfg = RocksConfig::default();
        let payload = samples(1001).pop().expect("one");
        let rec = {
            let s = RocksStore::open(&live, &cfg, true).expect("open");
            let r = s.dicts().train_class(&s, 0, samples(1000), 3);
            assert_eq!(r.adopted, Some(1), "{r:?}");
            let rec = encode_record_with(&payload, None, 0, 3, Some(s.dicts())).expect("enc");
            assert_eq!(decode_record(&rec).expect("h").dict_id, 1);
            // FLUSHALL range-deletes data and ttl only.
            let (lo, hi) = super::super::db_range(0);
            s.write(vec![
                Op::DeleteRange(Cf::Data, lo.clone(), hi.clone()),
                Op::DeleteRange(Cf::Ttl, lo, hi),
            ])
            .expect("flush");
            s.checkpoint(&dir.path().join("ckpt")).expect("checkpoint");
            rec
        };
        let reopened = RocksStore::open(&live, &cfg, false).expect("reopen");
        assert_eq!(reopened.dicts().stats().dictionaries, 1);
        let r = decode_record(&rec).expect("h");
        assert_eq!(r.payload(reopened.dicts()).expect("payload"), payload);
        drop(reopened);
        let restored =
            RocksStore::open_from_checkpoint(&dir.path().join("ckpt"), &dir.path().join("r"), &cfg)
                .expect("restore");
        assert_eq!(restored.dicts().current_id(0), Some(1));
        assert_eq!(r.payload(restored.dicts()).expect("payload"), payload);
        drop(restored);
        // A fresh store starts without dictionaries.
        let fresh = RocksStore::open(&live, &cfg, true).expect("fresh");
        assert_eq!(fresh.dicts().stats().dictionaries, 0);
        assert!(r.payload(fresh.dicts()).is_err());
    }
}
