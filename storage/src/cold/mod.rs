//! The cold tier: values moved out of memory, zstd-compressed, in an
//! ordered key-value store (RocksDB in production, [`MemStore`] in tests).
//!
//! Layout (drawn byte by byte in `docs/formats/cold-value.md`):
//!
//! * **data** records: key `[db u16 BE][pos u64 BE][user key]`, value a
//!   [`Record`] (header + zstd frame of the value's DUMP payload, which is
//!   the project's one value codec and carries its own CRC64).
//!   `pos` is the bit-reversed keyspace hash ([`crate::dict::key_hash`]),
//!   the same order the in-memory table's SCAN cursor walks, so one SCAN
//!   cursor covers both tiers.
//! * **ttl** index: key `[db u16 BE][expire-at ms u64 BE][pos u64 BE][user
//!   key]`, empty value: lets active expiry find expired cold records in
//!   deadline order without reading them.
//! * **meta**: key `b"dict" [id u32 BE]`, value a stored zstd dictionary
//!   ([`zdict`]): records whose header names a dictionary id are
//!   compressed with it. Never range-deleted (FLUSHALL keeps it).
//!
//! The store knows nothing of the keyspace: [`crate::keyspace::Db`] keeps
//! the counts and decides what to write.

pub mod cut;
pub mod rocks;
pub mod zdict;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::dict::key_hash;
pub use zdict::Dictionaries;

/// Column families (key spaces) of the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Cf {
    Data,
    Ttl,
    /// Store-wide metadata: trained dictionaries.
    Meta,
}

/// One write in a batch. Batches apply atomically and in order.
#[derive(Clone, Debug)]
pub enum Op {
    Put(Cf, Vec<u8>, Vec<u8>),
    Delete(Cf, Vec<u8>),
    /// Deletes every key in `[from, to)`.
    DeleteRange(Cf, Vec<u8>, Vec<u8>),
}

/// Result of a point read.
#[derive(Debug)]
pub enum Fetch {
    Found(Vec<u8>),
    Missing,
}

/// A cold-tier failure: I/O, corruption, or a full disk.
#[derive(Clone, Debug)]
pub struct ColdError(pub String);

impl ColdError {
    /// The store refused a [`ColdStore::write_or_fail`] only because it
    /// is stalled (RocksDB's `Result incomplete: Write stall`, the prefix
    /// the rocksdb crate also maps to `ErrorKind::Incomplete`): nothing is
    /// wrong with the disk, a later write may succeed.
    pub fn is_stall(&self) -> bool {
        self.0.starts_with("Result incomplete")
    }
}

impl fmt::Display for ColdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ColdError {}

/// Chunks of `(key, value)` pairs streamed from a point-in-time view.
pub type Chunk = Vec<(Vec<u8>, Vec<u8>)>;

/// An ordered key-value store for cold records.
pub trait ColdStore: Send + Sync {
    /// Point read.
    fn get(&self, cf: Cf, key: &[u8]) -> Result<Fetch, ColdError>;
    /// Applies a batch atomically.
    fn write(&self, ops: Vec<Op>) -> Result<(), ColdError>;
    /// Like [`ColdStore::write`], but fails at once instead of waiting
    /// when the store is stalled (a full disk, compaction far behind):
    /// spills use it, so a sick disk never blocks the server; the values
    /// simply stay in memory.
    fn write_or_fail(&self, ops: Vec<Op>) -> Result<(), ColdError> {
        self.write(ops)
    }
    /// Calls `f` for keys in `[from, to)` in order until it returns false.
    fn scan(
        &self,
        cf: Cf,
        from: &[u8],
        to: &[u8],
        f: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), ColdError>;
    /// Streams `[from, to)` of `cf` as it is at the moment of the call
    /// (returns once that point-in-time view is taken), in chunks, through
    /// a bounded channel, from another thread.
    fn snapshot_stream(
        &self,
        cf: Cf,
        from: Vec<u8>,
        to: Vec<u8>,
    ) -> Result<std::sync::mpsc::Receiver<Result<Chunk, ColdError>>, ColdError>;
    /// Bytes on disk (SST files and logs).
    fn disk_bytes(&self) -> u64;
    /// Bytes of memory the store uses (memtables, block cache, indexes;
    /// for RocksDB also zstd's contexts and digested dictionaries, which
    /// are process-wide).
    fn mem_bytes(&self) -> u64;
    /// Human-readable name for INFO.
    fn kind(&self) -> &'static str;
    /// The parts of [`ColdStore::mem_bytes`], for INFO.
    fn mem_detail(&self) -> Vec<(&'static str, u64)> {
        Vec::new()
    }
    /// Writes an openable copy of the store as it is now into `dir`
    /// (which must not exist yet): every write applied before the call is
    /// in it, none made after it returns. Stores that cannot outlive the
    /// process say so.
    fn checkpoint(&self, dir: &std::path::Path) -> Result<(), ColdError> {
        Err(ColdError(format!(
            "the {} store keeps no checkpoints ({})",
            self.kind(),
            dir.display()
        )))
    }
    /// The store's compression dictionaries (loaded when it was opened):
    /// every reader of its records decodes through them.
    fn dicts(&self) -> &Arc<Dictionaries>;
}

/// Shared handle to a store.
pub type Store = Arc<dyn ColdStore>;

/// Current record format version.
pub const RECORD_VERSION: u8 = 1;
const FLAG_EXPIRE: u8 = 1;
const FLAG_ZSTD: u8 = 2;
/// Fixed part of the header.
const HEADER: usize = 12;

/// A decoded record header plus its (still compressed) body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// RDB type byte of the value (TYPE answers without decompressing).
    pub rdb_type: u8,
    pub lfu: u8,
    pub dict_id: u32,
    pub raw_len: u32,
    pub expire_at: Option<i64>,
    pub compressed: bool,
    pub body: &'a [u8],
}

/// Bytes zstd holds outside the Rust allocator (its contexts and the
/// digested dictionaries allocate through the C library), as zstd itself
/// reports them: counted into the store's memory, so into `used_memory`.
static ZSTD_BYTES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Bytes held by zstd contexts and prepared dictionaries (see
/// `ZSTD_BYTES`).
pub fn zstd_memory() -> u64 {
    ZSTD_BYTES.load(std::sync::atomic::Ordering::Relaxed) as u64
}

/// A size counted in `ZSTD_BYTES` while this lives.
#[derive(Default, Debug)]
pub(crate) struct ZstdBytes(usize);

impl ZstdBytes {
    pub(crate) fn new(n: usize) -> ZstdBytes {
        let mut z = ZstdBytes(0);
        z.set(n);
        z
    }

    /// Updates the counted size (a context grows with the largest input
    /// it has seen).
    pub(crate) fn set(&mut self, n: usize) {
        use std::sync::atomic::Ordering::Relaxed;
        if n > self.0 {
            ZSTD_BYTES.fetch_add(n - self.0, Relaxed);
        } else if n < self.0 {
            ZSTD_BYTES.fetch_sub(self.0 - n, Relaxed);
        }
        self.0 = n;
    }
}

impl Drop for ZstdBytes {
    fn drop(&mut self) {
        self.set(0);
    }
}

/// A zstd context with its counted size.
pub(crate) struct Ctx<T> {
    pub ctx: T,
    mem: ZstdBytes,
}

/// zstd contexts shared by every thread (creating one per record costs
/// more than compressing a 1 KiB value): a call takes one, or makes one,
/// and gives it back; at most `POOL_MAX` are kept. So their memory follows
/// the calls running at once, not every thread that ever ran one (the
/// blocking pool may hold 16 threads).
pub(crate) struct Pool<T> {
    free: std::sync::Mutex<Vec<Ctx<T>>>,
}

/// Contexts a [`Pool`] keeps between calls.
const POOL_MAX: usize = 4;

/// A kind of zstd context: how to make one, and its size as zstd
/// reports it.
pub(crate) trait ZstdContext: Sized {
    fn create() -> Option<Self>;
    fn size(&self) -> usize;
}

impl ZstdContext for zstd::zstd_safe::CCtx<'static> {
    fn create() -> Option<Self> {
        Self::try_create()
    }
    fn size(&self) -> usize {
        self.sizeof()
    }
}

impl ZstdContext for zstd::zstd_safe::DCtx<'static> {
    fn create() -> Option<Self> {
        Self::try_create()
    }
    fn size(&self) -> usize {
        self.sizeof()
    }
}

impl<T: ZstdContext> Pool<T> {
    const fn new() -> Pool<T> {
        Pool {
            free: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// Runs `f` with a context (a new one when none is free; `None` if
    /// zstd cannot make one).
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        let taken = self.free.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut ctx = match taken {
            Some(c) => c,
            None => Ctx {
                ctx: T::create()?,
                mem: ZstdBytes::default(),
            },
        };
        let r = f(&mut ctx.ctx);
        // A context grows with the largest input it has seen.
        let size = ctx.ctx.size();
        ctx.mem.set(size);
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        if free.len() < POOL_MAX {
            free.push(ctx);
        }
        Some(r)
    }
}

/// Compression contexts (plain and dictionary frames alike).
pub(crate) static CCTXS: Pool<zstd::zstd_safe::CCtx<'static>> = Pool::new();
/// Decompression contexts (plain and dictionary frames alike).
pub(crate) static DCTXS: Pool<zstd::zstd_safe::DCtx<'static>> = Pool::new();

fn zstd_error(what: &str, code: usize) -> std::io::Error {
    std::io::Error::other(format!("{what}: {}", zstd::zstd_safe::get_error_name(code)))
}

fn zstd_compress(data: &[u8], level: i32) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    zstd_compress_into(data, level, &mut out)?;
    Ok(out)
}

/// Appends a plain zstd frame of `data` to `out`; returns its length.
fn zstd_compress_into(data: &[u8], level: i32, out: &mut Vec<u8>) -> std::io::Result<usize> {
    CCTXS
        .with(|z| {
            out.reserve(zstd::zstd_safe::compress_bound(data.len()));
            let mut cur = std::io::Cursor::new(std::mem::take(out));
            cur.set_position(cur.get_ref().len() as u64);
            let r = z.compress(&mut cur, data, level);
            *out = cur.into_inner();
            r.map_err(|code| zstd_error("zstd compression", code))
        })
        .unwrap_or_else(|| Err(std::io::Error::other("can't create a zstd context")))
}

fn zstd_decompress(data: &[u8], capacity: usize) -> std::io::Result<Vec<u8>> {
    DCTXS
        .with(|z| {
            let mut out = Vec::with_capacity(capacity);
            z.decompress(&mut out, data)
                .map_err(|code| zstd_error("zstd decompression", code))?;
            Ok(out)
        })
        .unwrap_or_else(|| Err(std::io::Error::other("can't create a zstd context")))
}

/// Builds a record from a DUMP payload (plain zstd, no dictionary).
pub fn encode_record(
    payload: &[u8],
    expire_at: Option<i64>,
    lfu: u8,
    level: i32,
) -> Result<Vec<u8>, ColdError> {
    encode_record_with(payload, expire_at, lfu, level, None)
}

/// Builds a record from a DUMP payload. With `dicts`, the payload is
/// offered as a training sample and compressed with its class's current
/// dictionary, if any (its id goes into the header).
pub fn encode_record_with(
    payload: &[u8],
    expire_at: Option<i64>,
    lfu: u8,
    level: i32,
    dicts: Option<&Dictionaries>,
) -> Result<Vec<u8>, ColdError> {
    let rdb_type = payload.first().copied().unwrap_or(0);
    let dict = dicts.and_then(|d| d.encoder_for(payload, level));
    let mut out = Vec::with_capacity(HEADER + 8 + zstd::zstd_safe::compress_bound(payload.len()));
    out.push(RECORD_VERSION);
    out.push(if expire_at.is_some() { FLAG_EXPIRE } else { 0 });
    out.push(rdb_type);
    out.push(lfu);
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    if let Some(at) = expire_at {
        out.extend_from_slice(&at.to_le_bytes());
    }
    let start = out.len();
    let (dict_id, len) = match &dict {
        Some((id, cdict)) => (*id, zdict::compress_into(cdict, payload, &mut out)?),
        None => (
            0,
            zstd_compress_into(payload, level, &mut out).map_err(|e| ColdError(e.to_string()))?,
        ),
    };
    if len < payload.len() {
        out[1] |= FLAG_ZSTD;
        out[4..8].copy_from_slice(&dict_id.to_le_bytes());
        if dict_id != 0 {
            if let Some(d) = dicts {
                d.note_record();
            }
        }
    } else {
        out.truncate(start);
        out.extend_from_slice(payload);
    }
    Ok(out)
}

/// Parses a record header. Errors name the offset of the problem.
pub fn decode_record(rec: &[u8]) -> Result<Record<'_>, ColdError> {
    if rec.len() < HEADER {
        return Err(ColdError(format!(
            "cold record truncated: {} bytes, header needs {HEADER}",
            rec.len()
        )));
    }
    if rec[0] != RECORD_VERSION {
        return Err(ColdError(format!(
            "cold record version {} at offset 0 (expected {RECORD_VERSION})",
            rec[0]
        )));
    }
    let flags = rec[1];
    if flags & !(FLAG_EXPIRE | FLAG_ZSTD) != 0 {
        return Err(ColdError(format!(
            "cold record flags {flags:#x} at offset 1"
        )));
    }
    let word = |at: usize| u32::from_le_bytes([rec[at], rec[at + 1], rec[at + 2], rec[at + 3]]);
    let mut pos = HEADER;
    let expire_at = if flags & FLAG_EXPIRE != 0 {
        let Some(b) = rec.get(pos..pos + 8) else {
            return Err(ColdError(format!("cold record truncated at offset {pos}")));
        };
        pos += 8;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Some(i64::from_le_bytes(a))
    } else {
        None
    };
    Ok(Record {
        rdb_type: rec[2],
        lfu: rec[3],
        dict_id: word(4),
        raw_len: word(8),
        expire_at,
        compressed: flags & FLAG_ZSTD != 0,
        body: &rec[pos..],
    })
}

/// Upper bound on a record's uncompressed payload (matches the largest
/// value a client can build under `proto-max-bulk-len`-style limits).
pub const MAX_RAW_LEN: u32 = 1 << 31;

impl Record<'_> {
    /// The DUMP payload inside (decompressed, with the dictionary the
    /// header names, from `dicts`: the registry of the store the record
    /// came from). The payload's own CRC64 is checked by the codec when
    /// it is restored.
    pub fn payload(&self, dicts: &Dictionaries) -> Result<Vec<u8>, ColdError> {
        if !self.compressed {
            if self.dict_id != 0 {
                return Err(ColdError(format!(
                    "cold record stored raw names dictionary {} at offset 4",
                    self.dict_id
                )));
            }
            return Ok(self.body.to_vec());
        }
        if self.raw_len > MAX_RAW_LEN {
            return Err(ColdError(format!(
                "cold record claims {} bytes uncompressed",
                self.raw_len
            )));
        }
        let out = if self.dict_id == 0 {
            zstd_decompress(self.body, self.raw_len as usize)
                .map_err(|e| ColdError(format!("bad zstd frame in cold record: {e}")))?
        } else {
            dicts.decompress(self.dict_id, self.body, self.raw_len as usize)?
        };
        if out.len() != self.raw_len as usize {
            return Err(ColdError(format!(
                "cold record decompressed to {} bytes, header says {}",
                out.len(),
                self.raw_len
            )));
        }
        Ok(out)
    }

    /// The same record with another deadline (EXPIRE on a cold key, no
    /// decompression).
    pub fn with_expire(&self, expire_at: Option<i64>) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER + 8 + self.body.len());
        out.push(RECORD_VERSION);
        out.push(
            if expire_at.is_some() { FLAG_EXPIRE } else { 0 }
                | if self.compressed { FLAG_ZSTD } else { 0 },
        );
        out.push(self.rdb_type);
        out.push(self.lfu);
        out.extend_from_slice(&self.dict_id.to_le_bytes());
        out.extend_from_slice(&self.raw_len.to_le_bytes());
        if let Some(at) = expire_at {
            out.extend_from_slice(&at.to_le_bytes());
        }
        out.extend_from_slice(self.body);
        out
    }
}

/// Position of a key: its keyspace hash, bit-reversed.
pub fn position(key: &[u8]) -> u64 {
    key_hash(key).reverse_bits()
}

/// Data-record key for `key` in cold database `db`.
pub fn data_key(db: u16, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(10 + key.len());
    k.extend_from_slice(&db.to_be_bytes());
    k.extend_from_slice(&position(key).to_be_bytes());
    k.extend_from_slice(key);
    k
}

/// First data key of position `pos` in `db`.
pub fn data_bound(db: u16, pos: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(10);
    k.extend_from_slice(&db.to_be_bytes());
    k.extend_from_slice(&pos.to_be_bytes());
    k
}

/// Range of every key of `db` in either column family.
pub fn db_range(db: u16) -> (Vec<u8>, Vec<u8>) {
    (db.to_be_bytes().to_vec(), db_end(db))
}

/// End bound of `db` (exclusive), handling the last id.
pub fn db_end(db: u16) -> Vec<u8> {
    if db == u16::MAX {
        vec![0xff, 0xff, 0xff]
    } else {
        (db + 1).to_be_bytes().to_vec()
    }
}

/// The position inside a data key (0 for a key too short to hold one).
pub fn record_position(data_key: &[u8]) -> u64 {
    data_key
        .get(2..10)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map_or(0, u64::from_be_bytes)
}

/// The user key inside a data key.
pub fn user_key(data_key: &[u8]) -> &[u8] {
    data_key.get(10..).unwrap_or(&[])
}

/// TTL-index key.
pub fn ttl_key(db: u16, at: i64, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(18 + key.len());
    k.extend_from_slice(&db.to_be_bytes());
    k.extend_from_slice(&(at.max(0) as u64).to_be_bytes());
    k.extend_from_slice(&position(key).to_be_bytes());
    k.extend_from_slice(key);
    k
}

/// Deadline and user key of a TTL-index key.
pub fn parse_ttl_key(k: &[u8]) -> Option<(i64, &[u8])> {
    let at = u64::from_be_bytes(k.get(2..10)?.try_into().ok()?);
    Some((at.min(i64::MAX as u64) as i64, k.get(18..)?))
}

/// In-memory store: tests, and the fault-injection wrapper's backing.
#[derive(Default)]
pub struct MemStore {
    maps: parking_lot_free::Maps,
    dicts: Arc<Dictionaries>,
    /// Delay applied to the first read of each key (fault injection).
    pub read_delay: std::sync::Mutex<std::time::Duration>,
    /// Keys read before (what a page cache would hold).
    warm: std::sync::Mutex<std::collections::HashSet<Vec<u8>>>,
    /// When true, the first read of a key takes `read_delay`, as a disk
    /// store would (and a scan of values meeting any key not read
    /// before, once).
    pub simulate_cache: bool,
    /// When true, every write is refused (a failing or full disk).
    pub fail_writes: std::sync::atomic::AtomicBool,
    /// When non-zero, the store is stalled (as RocksDB with flushes or
    /// compactions behind): a write waits this long, and
    /// [`ColdStore::write_or_fail`] refuses at once.
    pub write_stall: std::sync::Mutex<std::time::Duration>,
}

mod parking_lot_free {
    use super::Cf;
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    #[derive(Default)]
    pub struct Maps {
        pub m: Mutex<[BTreeMap<Vec<u8>, Vec<u8>>; 3]>,
    }

    pub fn idx(cf: Cf) -> usize {
        match cf {
            Cf::Data => 0,
            Cf::Ttl => 1,
            Cf::Meta => 2,
        }
    }
}

impl MemStore {
    pub fn new() -> MemStore {
        MemStore::default()
    }

    /// A store that behaves like a disk: reads not yet warmed need I/O,
    /// and I/O takes `delay`.
    pub fn slow(delay: std::time::Duration) -> MemStore {
        MemStore {
            read_delay: std::sync::Mutex::new(delay),
            simulate_cache: true,
            ..MemStore::default()
        }
    }

    /// A new store holding a copy of this one's records, with its
    /// dictionaries loaded from them (what reopening a disk store does).
    pub fn reopen(&self) -> MemStore {
        let copy = MemStore::default();
        *copy.lock() = self.lock().clone();
        // A MemStore scan cannot fail; damage is kept in load_errors.
        let _ = copy.dicts.load(&copy);
        copy
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, [BTreeMap<Vec<u8>, Vec<u8>>; 3]> {
        self.maps.m.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Number of records in `cf`.
    pub fn len(&self, cf: Cf) -> usize {
        self.lock()[parking_lot_free::idx(cf)].len()
    }

    /// Forgets which records were read before (a dropped page cache):
    /// with `simulate_cache`, the next read of each takes the delay again.
    pub fn cool(&self) {
        self.warm.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// True if the store holds no record.
    pub fn is_empty(&self) -> bool {
        self.lock().iter().all(|m| m.is_empty())
    }
}

impl ColdStore for MemStore {
    fn get(&self, cf: Cf, key: &[u8]) -> Result<Fetch, ColdError> {
        if self.simulate_cache {
            let mut warm = self.warm.lock().unwrap_or_else(|p| p.into_inner());
            if !warm.contains(key) {
                let delay = *self.read_delay.lock().unwrap_or_else(|p| p.into_inner());
                drop(warm);
                std::thread::sleep(delay);
                warm = self.warm.lock().unwrap_or_else(|p| p.into_inner());
                warm.insert(key.to_vec());
            }
        }
        Ok(match self.lock()[parking_lot_free::idx(cf)].get(key) {
            Some(v) => Fetch::Found(v.clone()),
            None => Fetch::Missing,
        })
    }

    fn write_or_fail(&self, ops: Vec<Op>) -> Result<(), ColdError> {
        if !self
            .write_stall
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_zero()
        {
            return Err(ColdError(
                "Result incomplete: Write stall (injected)".into(),
            ));
        }
        self.write(ops)
    }

    fn write(&self, ops: Vec<Op>) -> Result<(), ColdError> {
        if self.fail_writes.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(ColdError("write refused (injected)".into()));
        }
        let stall = *self.write_stall.lock().unwrap_or_else(|p| p.into_inner());
        if !stall.is_zero() {
            std::thread::sleep(stall);
        }
        let mut maps = self.lock();
        for op in ops {
            match op {
                Op::Put(cf, k, v) => {
                    maps[parking_lot_free::idx(cf)].insert(k, v);
                }
                Op::Delete(cf, k) => {
                    maps[parking_lot_free::idx(cf)].remove(&k);
                }
                Op::DeleteRange(cf, from, to) => {
                    let m = &mut maps[parking_lot_free::idx(cf)];
                    let doomed: Vec<Vec<u8>> = m.range(from..to).map(|(k, _)| k.clone()).collect();
                    for k in doomed {
                        m.remove(&k);
                    }
                }
            }
        }
        Ok(())
    }

    fn scan(
        &self,
        cf: Cf,
        from: &[u8],
        to: &[u8],
        f: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), ColdError> {
        if self.simulate_cache && cf == Cf::Data {
            // The records are copied out, the delay taken without the
            // maps' lock (writes go on meanwhile, as on a disk store).
            let records: Vec<(Vec<u8>, Vec<u8>)> = self.lock()[parking_lot_free::idx(cf)]
                .range(from.to_vec()..to.to_vec())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let mut warm = self.warm.lock().unwrap_or_else(|p| p.into_inner());
            if records.iter().any(|(k, _)| !warm.contains(k)) {
                warm.extend(records.iter().map(|(k, _)| k.clone()));
                drop(warm);
                std::thread::sleep(*self.read_delay.lock().unwrap_or_else(|p| p.into_inner()));
            }
            for (k, v) in &records {
                if !f(k, v) {
                    break;
                }
            }
            return Ok(());
        }
        let maps = self.lock();
        for (k, v) in maps[parking_lot_free::idx(cf)].range(from.to_vec()..to.to_vec()) {
            if !f(k, v) {
                break;
            }
        }
        Ok(())
    }

    fn snapshot_stream(
        &self,
        cf: Cf,
        from: Vec<u8>,
        to: Vec<u8>,
    ) -> Result<std::sync::mpsc::Receiver<Result<Chunk, ColdError>>, ColdError> {
        let all: Chunk = self.lock()[parking_lot_free::idx(cf)]
            .range(from..to)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let (tx, rx) = std::sync::mpsc::sync_channel(4);
        std::thread::spawn(move || {
            for c in all.chunks(256) {
                if tx.send(Ok(c.to_vec())).is_err() {
                    return;
                }
            }
        });
        Ok(rx)
    }

    fn disk_bytes(&self) -> u64 {
        self.lock()
            .iter()
            .flat_map(|m| m.iter())
            .map(|(k, v)| (k.len() + v.len()) as u64)
            .sum()
    }

    fn mem_bytes(&self) -> u64 {
        0
    }

    fn kind(&self) -> &'static str {
        "memory"
    }

    fn dicts(&self) -> &Arc<Dictionaries> {
        &self.dicts
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn zstd_contexts_are_pooled_and_count_their_size() {
        let payload: Vec<u8> = (0..4096u32).map(|i| (i % 251) as u8).collect();
        // Many threads, one call each: the contexts outlive them in the
        // pools, at most POOL_MAX of each kind.
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let payload = payload.clone();
                std::thread::spawn(move || {
                    let frame = super::zstd_compress(&payload, 3).expect("compress");
                    let back = super::zstd_decompress(&frame, payload.len()).expect("decompress");
                    assert_eq!(back, payload);
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
        assert!(super::zstd_memory() > 0);
        let free = super::CCTXS.free.lock().expect("pool");
        assert!(free.len() <= super::POOL_MAX);
        for c in free.iter() {
            assert_eq!(c.mem.0, c.ctx.sizeof());
        }
        drop(free);
        let free = super::DCTXS.free.lock().expect("pool");
        assert!(free.len() <= super::POOL_MAX);
        for c in free.iter() {
            assert_eq!(c.mem.0, c.ctx.sizeof());
        }
    }
    use super::*;

    #[test]
    fn record_round_trip_and_expire_rewrite() {
        let payload = b"\x00\x05hello\x0a\x00abcdefgh".repeat(20);
        let rec = encode_record(&payload, Some(12345), 7, 3).expect("encode");
        let r = decode_record(&rec).expect("decode");
        assert_eq!(r.expire_at, Some(12345));
        assert_eq!(r.lfu, 7);
        assert!(r.compressed);
        assert_eq!(r.payload(Dictionaries::empty()).expect("payload"), payload);
        let rec2 = r.with_expire(None);
        let r2 = decode_record(&rec2).expect("decode");
        assert_eq!(r2.expire_at, None);
        assert_eq!(r2.payload(Dictionaries::empty()).expect("payload"), payload);
    }

    #[test]
    fn corrupt_records_are_errors_not_panics() {
        let payload = b"\x00\x05hello".repeat(30);
        let rec = encode_record(&payload, Some(1), 1, 3).expect("encode");
        for cut in 0..rec.len() {
            if let Ok(r) = decode_record(&rec[..cut]) {
                let _ = r.payload(Dictionaries::empty());
            }
        }
        let mut bad = rec.clone();
        let last = bad.len() - 3;
        bad[last] ^= 0xff;
        let r = decode_record(&bad).expect("header intact");
        let d = Dictionaries::empty();
        assert!(r.payload(d).is_err() || r.payload(d).ok() != Some(payload.clone()));
        let mut v = rec.clone();
        v[0] = 9;
        assert!(decode_record(&v).is_err());
    }

    #[test]
    fn keys_order_by_db_then_position() {
        let a = data_key(1, b"x");
        let b = data_key(2, b"a");
        assert!(a < b);
        let (lo, hi) = db_range(1);
        assert!(a.as_slice() >= lo.as_slice() && a.as_slice() < hi.as_slice());
        assert_eq!(user_key(&a), b"x");
        let t = ttl_key(3, 99, b"key");
        assert_eq!(parse_ttl_key(&t), Some((99, &b"key"[..])));
    }
}
