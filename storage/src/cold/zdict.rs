//! Per-type zstd dictionaries for cold records.
//!
//! Cold values are small (a DUMP payload of a few hundred bytes to a few
//! KiB), too small for zstd to find much redundancy inside one value; a
//! dictionary trained on values of the same kind supplies what they have
//! in common. [`Dictionaries`] is the registry of one store:
//!
//! * **Classes.** One per value family, from the payload's first byte
//!   (its RDB type): string, list, set, zset, hash, stream.
//! * **Sampling.** Every record encoded with the registry offers its
//!   payload: one in [`SAMPLE_EVERY`] is copied (payloads over
//!   [`MAX_SAMPLE_LEN`] are skipped), up to [`MAX_SAMPLES`] /
//!   [`MAX_SAMPLE_BYTES`] per class. A class with [`TRAIN_SAMPLES`]
//!   samples or [`TRAIN_BYTES`] bytes of them is ready to train.
//! * **Training** (off every lock that matters: [`train_in_background`]
//!   runs it on a short-lived thread): a dictionary of at most
//!   [`DICT_MAX_SIZE`] bytes is trained on 80% of the samples and
//!   evaluated on the other 20% at the configured level. It is adopted
//!   only if it compresses them to at most [`ADOPT_PERCENT`]% of plain
//!   zstd's total (and of the class's current dictionary's, when
//!   retraining). A rejected class is not retried before
//!   `RETRY_AFTER_REJECT` x its sample count more spills; an adopted one
//!   is retrained after `RETRY_AFTER_ADOPT` x. At most [`MAX_DICTS`]
//!   dictionaries per store; none is ever deleted (records may use it).
//! * **Persistence.** An adopted dictionary is written to the `meta`
//!   column family *before* it becomes the class's current one, so no
//!   record (and no checkpoint) can reference a dictionary the store does
//!   not hold. Opening a store loads them all ([`Dictionaries::load`]);
//!   a damaged one is reported with its id and byte offset, and only the
//!   records that need it fail to decode.
//!
//! Ids are non-zero u32, increasing; the id is also stamped into the
//! dictionary's own zstd header, so each frame names it (one byte for ids
//! under 256) and zstd refuses to decode a frame with another dictionary.
//!
//! Speed: dictionaries are prepared once (`CDict` per level, `DDict`),
//! shared by every thread, and used through per-thread contexts, so a
//! record compressed with a dictionary costs no more than one without.
//! The record format and the meta record are drawn in
//! `docs/formats/cold-value.md`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock};

use zstd::zstd_safe::{self, CDict, DDict};

use super::ZstdBytes;

use super::{Cf, ColdError, ColdStore, Op, Store};

/// Value families, one dictionary sequence each.
pub const CLASSES: usize = 6;
/// Names of the classes (INFO, logs), indexed by class.
pub const CLASS_NAMES: [&str; CLASSES] = ["string", "list", "set", "zset", "hash", "stream"];

/// One payload in this many is kept as a sample.
pub const SAMPLE_EVERY: u64 = 4;
/// Payloads longer than this are not sampled.
pub const MAX_SAMPLE_LEN: usize = 16 << 10;
/// Most samples kept per class.
pub const MAX_SAMPLES: usize = 2000;
/// Most sample bytes kept per class.
pub const MAX_SAMPLE_BYTES: usize = 2 << 20;
/// A class with this many samples is ready to train...
pub const TRAIN_SAMPLES: usize = 1000;
/// ...or with this many bytes of samples.
pub const TRAIN_BYTES: usize = 1 << 20;
/// Largest dictionary trained.
pub const DICT_MAX_SIZE: usize = 16 << 10;
/// Most dictionaries per store (valid or damaged).
pub const MAX_DICTS: usize = 64;
/// A dictionary is adopted if its total is at most this share (%) of
/// plain zstd's on the held-out samples.
pub const ADOPT_PERCENT: u64 = 95;
/// Spills of a class (x its sample count) before retrying a rejection.
const RETRY_AFTER_REJECT: u64 = 100;
/// Spills of a class (x its sample count) before trying to improve on an
/// adopted dictionary.
const RETRY_AFTER_ADOPT: u64 = 1000;

/// Version byte of a stored dictionary record.
pub const META_VERSION: u8 = 1;
/// Key prefix of dictionary records in the `meta` column family.
pub const META_PREFIX: &[u8] = b"dict";
/// Fixed bytes of a dictionary record before the dictionary.
const META_HEADER: usize = 10;
/// zstd dictionary magic number, as stored (LE).
const ZSTD_DICT_MAGIC: [u8; 4] = 0xEC30_A437u32.to_le_bytes();
/// Largest dictionary accepted when loading (sanity bound on `len`).
const META_MAX_DICT: usize = 1 << 20;

/// Class of a payload from its RDB type byte (the mapping of
/// `keyspace::rdb_value_type`).
pub fn class_of(rdb_type: u8) -> usize {
    match rdb_type {
        0 => 0,
        1 | 10 | 14 | 18 => 1,
        2 | 11 | 20 => 2,
        3 | 5 | 12 | 17 => 3,
        15 | 19 | 21 => 5,
        _ => 4,
    }
}

/// Key of dictionary `id` in the `meta` column family.
pub fn meta_key(id: u32) -> Vec<u8> {
    let mut k = META_PREFIX.to_vec();
    k.extend_from_slice(&id.to_be_bytes());
    k
}

/// Encodes a stored dictionary record:
/// `[version u8][class u8][id u32 LE][len u32 LE][dict][xxh3-64 LE]`.
pub fn encode_meta(id: u32, class: u8, dict: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(META_HEADER + dict.len() + 8);
    v.push(META_VERSION);
    v.push(class);
    v.extend_from_slice(&id.to_le_bytes());
    v.extend_from_slice(&(dict.len() as u32).to_le_bytes());
    v.extend_from_slice(dict);
    let sum = xxhash_rust::xxh3::xxh3_64(&v);
    v.extend_from_slice(&sum.to_le_bytes());
    v
}

/// Parses a stored dictionary record for `id`: `(class, dictionary)`.
/// Errors name the byte offset of the problem.
pub fn decode_meta(id: u32, v: &[u8]) -> Result<(u8, &[u8]), String> {
    if v.len() < META_HEADER + 8 {
        return Err(format!(
            "truncated at offset {}: {} bytes, header and checksum need {}",
            v.len(),
            v.len(),
            META_HEADER + 8
        ));
    }
    if v[0] != META_VERSION {
        return Err(format!(
            "version {} at offset 0 (expected {META_VERSION})",
            v[0]
        ));
    }
    let class = v[1];
    if class as usize >= CLASSES {
        return Err(format!("class {class} at offset 1"));
    }
    let word = |at: usize| u32::from_le_bytes([v[at], v[at + 1], v[at + 2], v[at + 3]]);
    if word(2) != id {
        return Err(format!(
            "id {} at offset 2 does not match its key ({id})",
            word(2)
        ));
    }
    let len = word(6) as usize;
    if len > META_MAX_DICT || META_HEADER + len + 8 != v.len() {
        return Err(format!(
            "length {len} at offset 6 does not fit the record ({} bytes)",
            v.len()
        ));
    }
    let end = META_HEADER + len;
    let mut s = [0u8; 8];
    s.copy_from_slice(&v[end..end + 8]);
    let stored = u64::from_le_bytes(s);
    let computed = xxhash_rust::xxh3::xxh3_64(&v[..end]);
    if stored != computed {
        return Err(format!(
            "checksum mismatch at offset {end}: stored {stored:016x}, computed {computed:016x}"
        ));
    }
    Ok((class, &v[META_HEADER..end]))
}

/// One loaded dictionary.
pub struct Dict {
    pub id: u32,
    pub class: u8,
    bytes: Vec<u8>,
    ddict: DDict<'static>,
    /// The digested form's size, counted in [`super::zstd_memory`].
    _mem: ZstdBytes,
}

/// A dictionary digested for compression at one level.
pub(crate) struct Prepared {
    cdict: CDict<'static>,
    _mem: ZstdBytes,
}

impl Dict {
    fn new(id: u32, class: u8, bytes: Vec<u8>) -> Result<Dict, String> {
        let ddict = DDict::try_create(&bytes)
            .ok_or_else(|| format!("zstd refuses the dictionary (offset {META_HEADER})"))?;
        let mem = ZstdBytes::new(ddict.sizeof());
        Ok(Dict {
            id,
            class,
            bytes,
            ddict,
            _mem: mem,
        })
    }

    /// The dictionary's bytes (as stored).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    fn cdict(&self, level: i32) -> Option<Arc<Prepared>> {
        CDict::try_create(&self.bytes, level).map(|cdict| {
            let mem = ZstdBytes::new(cdict.sizeof());
            Arc::new(Prepared { cdict, _mem: mem })
        })
    }
}

/// The dictionary a class compresses with, prepared for one level.
struct Current {
    dict: Arc<Dict>,
    level: i32,
    cdict: Option<Arc<Prepared>>,
}

/// Sampling state of a class.
#[derive(Default)]
struct Class {
    samples: Vec<Vec<u8>>,
    bytes: usize,
    /// Payloads offered (spills of this class).
    seen: u64,
    /// Sampling resumes once `seen` reaches this.
    resume_at: u64,
    /// Enough samples: waiting for the trainer.
    ready: bool,
    /// The trainer holds this class's samples.
    training: bool,
    current: Option<Current>,
}

/// Loaded dictionaries, by id.
#[derive(Default)]
struct Loaded {
    dicts: HashMap<u32, Arc<Dict>>,
    /// Damaged records: id and what is wrong.
    broken: HashMap<u32, String>,
    /// Next id to assign (ids are never reused).
    next_id: u32,
    /// Problems met by the last [`Dictionaries::load`].
    errors: Vec<String>,
}

/// Counters for INFO tiering.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DictStats {
    /// Dictionaries loaded or adopted (usable ones).
    pub dictionaries: u64,
    /// Records written with a dictionary since the store was opened.
    pub records: u64,
    /// Trainings run (adopted or not).
    pub trainings: u64,
    /// Trainings whose dictionary was not adopted.
    pub rejections: u64,
}

/// What one training did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrainReport {
    pub class: usize,
    /// Id of the adopted dictionary, or None if rejected.
    pub adopted: Option<u32>,
    pub samples: usize,
    /// Held-out bytes: raw, plain zstd, with the new dictionary, with the
    /// class's current dictionary (when retraining).
    pub raw: u64,
    pub plain: u64,
    pub dict: u64,
    pub current: Option<u64>,
    /// Why it was not adopted.
    pub reason: Option<String>,
}

/// The dictionary registry of one store (see the module docs).
#[derive(Default)]
pub struct Dictionaries {
    loaded: RwLock<Loaded>,
    classes: Mutex<[Class; CLASSES]>,
    /// Some class is ready to train.
    pending: AtomicBool,
    /// A trainer thread is running.
    training: AtomicBool,
    /// Serializes trainings (id assignment).
    train_lock: Mutex<()>,
    records: AtomicU64,
    trainings: AtomicU64,
    rejections: AtomicU64,
}

fn zerr(what: &str, code: usize) -> ColdError {
    ColdError(format!("{what}: {}", zstd_safe::get_error_name(code)))
}

/// Compresses `src` with a prepared dictionary, appending the frame to
/// `out`. Returns the frame's length.
pub(crate) fn compress_into(
    prepared: &Prepared,
    src: &[u8],
    out: &mut Vec<u8>,
) -> Result<usize, ColdError> {
    super::CCTXS
        .with(|cctx| {
            out.reserve(zstd_safe::compress_bound(src.len()));
            let mut cur = std::io::Cursor::new(std::mem::take(out));
            cur.set_position(cur.get_ref().len() as u64);
            let r = cctx.compress_using_cdict(&mut cur, src, &prepared.cdict);
            *out = cur.into_inner();
            r.map_err(|code| zerr("zstd compression with a dictionary", code))
        })
        .unwrap_or_else(|| Err(ColdError("can't create a zstd context".into())))
}

fn decompress_with(ddict: &DDict<'static>, src: &[u8], cap: usize) -> Result<Vec<u8>, String> {
    super::DCTXS
        .with(|dctx| {
            let mut out = Vec::with_capacity(cap);
            dctx.decompress_using_ddict(&mut out, src, ddict)
                .map_err(|code| zstd_safe::get_error_name(code).to_string())?;
            Ok(out)
        })
        .unwrap_or_else(|| Err("can't create a zstd context".into()))
}

impl Dictionaries {
    /// A registry that never holds a dictionary (decoding plain records
    /// where no store is at hand).
    pub fn empty() -> &'static Dictionaries {
        static EMPTY: OnceLock<Dictionaries> = OnceLock::new();
        EMPTY.get_or_init(Dictionaries::default)
    }

    fn loaded(&self) -> std::sync::RwLockReadGuard<'_, Loaded> {
        self.loaded.read().unwrap_or_else(|p| p.into_inner())
    }

    fn loaded_mut(&self) -> std::sync::RwLockWriteGuard<'_, Loaded> {
        self.loaded.write().unwrap_or_else(|p| p.into_inner())
    }

    fn classes(&self) -> MutexGuard<'_, [Class; CLASSES]> {
        self.classes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Loads every dictionary record of `store`'s `meta` column family
    /// (replacing what the registry held). A damaged record is remembered
    /// (records needing it fail to decode, naming it) and listed in
    /// [`Dictionaries::load_errors`]; only a failing scan is an error.
    pub fn load(&self, store: &dyn ColdStore) -> Result<(), ColdError> {
        let mut found: Vec<(u32, Vec<u8>)> = Vec::new();
        let mut errors = Vec::new();
        let (from, to) = (META_PREFIX.to_vec(), b"dicu".to_vec());
        store.scan(Cf::Meta, &from, &to, &mut |k, v| {
            match k.get(META_PREFIX.len()..).and_then(|b| b.try_into().ok()) {
                Some(b) if k.len() == META_PREFIX.len() + 4 => {
                    found.push((u32::from_be_bytes(b), v.to_vec()));
                }
                _ => errors.push(format!(
                    "cold dictionary record with a malformed key {:?} ignored",
                    String::from_utf8_lossy(k)
                )),
            }
            true
        })?;
        let mut loaded = Loaded {
            next_id: 1,
            ..Loaded::default()
        };
        for (id, v) in found {
            loaded.next_id = loaded.next_id.max(id.saturating_add(1));
            let parsed = if id == 0 {
                Err("id 0 is reserved (plain zstd)".to_string())
            } else {
                decode_meta(id, &v).and_then(|(class, bytes)| Dict::new(id, class, bytes.to_vec()))
            };
            match parsed {
                Ok(d) => {
                    loaded.dicts.insert(id, Arc::new(d));
                }
                Err(e) => {
                    errors.push(format!("cold dictionary {id} is damaged: {e}"));
                    loaded.broken.insert(id, e);
                }
            }
        }
        loaded.errors = errors;
        // Each class compresses with its newest valid dictionary.
        let mut newest: [Option<Arc<Dict>>; CLASSES] = Default::default();
        for d in loaded.dicts.values() {
            let slot = &mut newest[d.class as usize];
            if slot.as_ref().is_none_or(|s| s.id < d.id) {
                *slot = Some(d.clone());
            }
        }
        let mut classes = self.classes();
        for (c, d) in classes.iter_mut().zip(newest) {
            *c = Class::default();
            if let Some(dict) = d {
                c.resume_at = RETRY_AFTER_ADOPT * TRAIN_SAMPLES as u64;
                c.current = Some(Current {
                    dict,
                    level: i32::MIN,
                    cdict: None,
                });
            }
        }
        *self.loaded_mut() = loaded;
        Ok(())
    }

    /// Problems found by the last [`Dictionaries::load`] (for the log).
    pub fn load_errors(&self) -> Vec<String> {
        self.loaded().errors.clone()
    }

    /// Counters for INFO.
    pub fn stats(&self) -> DictStats {
        DictStats {
            dictionaries: self.loaded().dicts.len() as u64,
            records: self.records.load(Ordering::Relaxed),
            trainings: self.trainings.load(Ordering::Relaxed),
            rejections: self.rejections.load(Ordering::Relaxed),
        }
    }

    /// The dictionary `id`, if loaded.
    pub fn get(&self, id: u32) -> Option<Arc<Dict>> {
        self.loaded().dicts.get(&id).cloned()
    }

    /// Id of the dictionary class `class` compresses with now.
    pub fn current_id(&self, class: usize) -> Option<u32> {
        self.classes()
            .get(class)
            .and_then(|c| c.current.as_ref().map(|c| c.dict.id))
    }

    pub(crate) fn note_record(&self) {
        self.records.fetch_add(1, Ordering::Relaxed);
    }

    /// Offers `payload` as a sample and returns the dictionary to
    /// compress it with (prepared for `level`), if its class has one.
    pub(crate) fn encoder_for(&self, payload: &[u8], level: i32) -> Option<(u32, Arc<Prepared>)> {
        let class = class_of(payload.first().copied().unwrap_or(0));
        let mut classes = self.classes();
        let c = &mut classes[class];
        c.seen += 1;
        if c.seen >= c.resume_at
            && !c.training
            && payload.len() <= MAX_SAMPLE_LEN
            && c.seen % SAMPLE_EVERY == 0
            && c.samples.len() < MAX_SAMPLES
            && c.bytes + payload.len() <= MAX_SAMPLE_BYTES
        {
            c.samples.push(payload.to_vec());
            c.bytes += payload.len();
            if !c.ready && (c.samples.len() >= TRAIN_SAMPLES || c.bytes >= TRAIN_BYTES) {
                c.ready = true;
                self.pending.store(true, Ordering::Release);
            }
        }
        let cur = c.current.as_mut()?;
        if cur.level != level || cur.cdict.is_none() {
            cur.cdict = cur.dict.cdict(level);
            cur.level = level;
        }
        cur.cdict.clone().map(|cd| (cur.dict.id, cd))
    }

    /// Decompresses a frame made with dictionary `id`.
    pub(crate) fn decompress(&self, id: u32, src: &[u8], cap: usize) -> Result<Vec<u8>, ColdError> {
        let dict = {
            let loaded = self.loaded();
            match loaded.dicts.get(&id) {
                Some(d) => d.clone(),
                None => {
                    return Err(ColdError(match loaded.broken.get(&id) {
                        Some(e) => {
                            format!("cold record needs dictionary {id}, which is damaged: {e}")
                        }
                        None => {
                            format!("cold record needs dictionary {id}, which is not in the store")
                        }
                    }))
                }
            }
        };
        decompress_with(&dict.ddict, src, cap).map_err(|e| {
            ColdError(format!(
                "bad zstd frame in cold record (dictionary {id}): {e}"
            ))
        })
    }

    /// Trains every class that is ready (the trainer thread's work).
    pub fn train_ready(&self, store: &dyn ColdStore, level: i32) -> Vec<TrainReport> {
        let mut out = Vec::new();
        loop {
            let job = {
                let mut classes = self.classes();
                classes
                    .iter_mut()
                    .enumerate()
                    .find(|(_, c)| c.ready)
                    .map(|(i, c)| {
                        c.ready = false;
                        c.training = true;
                        c.bytes = 0;
                        (i, std::mem::take(&mut c.samples))
                    })
            };
            let Some((class, samples)) = job else {
                return out;
            };
            let report = self.train_class(store, class, samples, level);
            self.classes()[class].training = false;
            out.push(report);
        }
    }

    /// Trains a dictionary for `class` on `samples` (80% train, 20%
    /// held out), adopts and persists it if it beats plain zstd (and the
    /// current one) by enough, and schedules the class's next try.
    pub fn train_class(
        &self,
        store: &dyn ColdStore,
        class: usize,
        samples: Vec<Vec<u8>>,
        level: i32,
    ) -> TrainReport {
        let _serial = self.train_lock.lock().unwrap_or_else(|p| p.into_inner());
        self.trainings.fetch_add(1, Ordering::Relaxed);
        let n = samples.len();
        let mut report = TrainReport {
            class,
            adopted: None,
            samples: n,
            raw: 0,
            plain: 0,
            dict: 0,
            current: None,
            reason: None,
        };
        let outcome = self.train_inner(store, class, samples, level, &mut report);
        let factor = match outcome {
            Ok(id) => {
                report.adopted = Some(id);
                RETRY_AFTER_ADOPT
            }
            Err(reason) => {
                report.reason = Some(reason);
                self.rejections.fetch_add(1, Ordering::Relaxed);
                RETRY_AFTER_REJECT
            }
        };
        if let Some(c) = self.classes().get_mut(class) {
            c.resume_at = c.seen + factor * (n.max(1) as u64);
        }
        report
    }

    fn train_inner(
        &self,
        store: &dyn ColdStore,
        class: usize,
        samples: Vec<Vec<u8>>,
        level: i32,
        report: &mut TrainReport,
    ) -> Result<u32, String> {
        if class >= CLASSES {
            return Err(format!("no class {class}"));
        }
        if samples.len() < 10 {
            return Err(format!("too few samples ({})", samples.len()));
        }
        let id = {
            let loaded = self.loaded();
            if loaded.dicts.len() + loaded.broken.len() >= MAX_DICTS {
                return Err(format!("the store holds {MAX_DICTS} dictionaries already"));
            }
            loaded.next_id.max(1)
        };
        let (mut train, mut held) = (Vec::new(), Vec::new());
        for (i, s) in samples.into_iter().enumerate() {
            if i % 5 == 4 {
                held.push(s);
            } else {
                train.push(s);
            }
        }
        let train_bytes: usize = train.iter().map(Vec::len).sum();
        let size = (train_bytes / 8).clamp(1024, DICT_MAX_SIZE);
        let mut bytes =
            zstd::dict::from_samples(&train, size).map_err(|e| format!("training failed: {e}"))?;
        drop(train);
        if bytes.len() >= 8 && bytes[..4] == ZSTD_DICT_MAGIC {
            bytes[4..8].copy_from_slice(&id.to_le_bytes());
        }
        let dict = Dict::new(id, class as u8, bytes)?;
        let cdict = dict
            .cdict(level)
            .ok_or_else(|| "zstd refuses the trained dictionary".to_string())?;
        let current = self
            .classes()
            .get(class)
            .and_then(|c| c.current.as_ref().map(|c| c.dict.clone()));
        let current_cdict = current.as_ref().and_then(|d| d.cdict(level));
        let mut buf = Vec::new();
        let mut cur_total = 0u64;
        for s in &held {
            let raw = s.len() as u64;
            report.raw += raw;
            let plain = super::zstd_compress(s, level)
                .map_err(|e| format!("plain zstd failed: {e}"))?
                .len() as u64;
            report.plain += plain.min(raw);
            buf.clear();
            let with = compress_into(&cdict, s, &mut buf).map_err(|e| e.0)? as u64;
            report.dict += with.min(raw);
            let back = decompress_with(&dict.ddict, &buf, s.len())
                .map_err(|e| format!("round trip failed: {e}"))?;
            if back != *s {
                return Err("round trip changed a sample".into());
            }
            if let Some(cd) = &current_cdict {
                buf.clear();
                cur_total += (compress_into(cd, s, &mut buf).map_err(|e| e.0)? as u64).min(raw);
            }
        }
        if current_cdict.is_some() {
            report.current = Some(cur_total);
        }
        if report.dict * 100 > report.plain * ADOPT_PERCENT {
            return Err(format!(
                "{} bytes with the dictionary vs {} plain: not {ADOPT_PERCENT}% or less",
                report.dict, report.plain
            ));
        }
        if let Some(cur) = report.current {
            if report.dict * 100 > cur * ADOPT_PERCENT {
                return Err(format!(
                    "{} bytes with the new dictionary vs {cur} with the current one",
                    report.dict
                ));
            }
        }
        // Durable first: no record may name a dictionary the store lacks.
        store
            .write(vec![Op::Put(
                Cf::Meta,
                meta_key(id),
                encode_meta(id, class as u8, &dict.bytes),
            )])
            .map_err(|e| format!("can't store dictionary {id}: {e}"))?;
        let dict = Arc::new(dict);
        {
            let mut loaded = self.loaded_mut();
            loaded.dicts.insert(id, dict.clone());
            loaded.next_id = id.saturating_add(1);
        }
        self.classes()[class].current = Some(Current {
            dict,
            level,
            cdict: Some(cdict),
        });
        Ok(id)
    }
}

/// Starts a short-lived thread training the classes that are ready, if
/// any and none is running. Cheap when there is nothing to do: callers
/// may call it after every spill round (even under the server's lock:
/// the training itself runs on its own thread).
pub fn train_in_background(store: &Store, level: i32) {
    let d = store.dicts();
    if !d.pending.load(Ordering::Acquire) || d.training.swap(true, Ordering::AcqRel) {
        return;
    }
    let s = store.clone();
    let spawned = std::thread::Builder::new()
        .name("cold-dict".into())
        .spawn(move || {
            let d = s.dicts().clone();
            loop {
                d.pending.store(false, Ordering::Release);
                d.train_ready(s.as_ref(), level);
                d.training.store(false, Ordering::Release);
                // A class that became ready meanwhile: go on if no other
                // trainer took over.
                if !d.pending.load(Ordering::Acquire) || d.training.swap(true, Ordering::AcqRel) {
                    return;
                }
            }
        });
    if spawned.is_err() {
        d.training.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::super::{decode_record, encode_record_with, MemStore};
    use super::*;
    use rand::{Rng, RngCore, SeedableRng};

    const PHRASE: &[u8] =
        b"strata tiering benchmark: the quick brown fox jumps over the lazy dog. ";

    /// A DUMP-like string payload: type 0, a JSON-ish body.
    /// A store whose string class was trained on 1000 JSON-like payloads
    /// (`seed` drives them), with the training's report.
    fn store_with_json_dict(
        seed: u64,
    ) -> (
        MemStore,
        Arc<Dictionaries>,
        rand::rngs::SmallRng,
        TrainReport,
    ) {
        let store = MemStore::new();
        let d = store.dicts().clone();
        let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
        let samples: Vec<Vec<u8>> = (0..1000).map(|i| json_payload(i, &mut rng)).collect();
        let r = d.train_class(&store, 0, samples, 3);
        (store, d, rng, r)
    }

    fn json_payload(i: u64, rng: &mut rand::rngs::SmallRng) -> Vec<u8> {
        let body = format!(
            r#"{{"id":{i},"user":"user{}","email":"user{}@example.com","active":{},"score":{},"tags":["alpha","beta","gamma"],"address":{{"city":"Springfield","zip":"{:05}"}}}}"#,
            rng.random_range(0..100_000u32),
            rng.random_range(0..100_000u32),
            rng.random_bool(0.5),
            rng.random_range(0..1000u32),
            rng.random_range(0..99_999u32),
        );
        let mut p = vec![0u8, body.len() as u8];
        p.extend_from_slice(body.as_bytes());
        p.extend_from_slice(&[10, 0]);
        p.extend_from_slice(&rng.next_u64().to_le_bytes());
        p
    }

    fn random_payload(rng: &mut rand::rngs::SmallRng) -> Vec<u8> {
        let mut p = vec![0u8; 300];
        rng.fill_bytes(&mut p[1..]);
        p[0] = 0;
        p
    }

    #[test]
    fn similar_samples_adopt_a_dictionary_that_beats_plain() {
        let (store, d, mut rng, r) = store_with_json_dict(7);
        let id = r.adopted.unwrap_or_else(|| panic!("rejected: {r:?}"));
        assert_eq!(id, 1);
        assert!(r.dict * 100 <= r.plain * ADOPT_PERCENT, "{r:?}");
        assert_eq!(d.current_id(0), Some(1));
        assert_eq!(d.current_id(1), None);
        assert_eq!(store.len(Cf::Meta), 1);
        let st = d.stats();
        assert_eq!((st.dictionaries, st.trainings, st.rejections), (1, 1, 0));
        // New records of the class use it, and shrink.
        let p = json_payload(5000, &mut rng);
        let plain = encode_record_with(&p, None, 0, 3, None).expect("plain");
        let rec = encode_record_with(&p, Some(9), 4, 3, Some(&d)).expect("dict");
        assert!(rec.len() < plain.len(), "{} vs {}", rec.len(), plain.len());
        let r = decode_record(&rec).expect("header");
        assert_eq!(r.dict_id, 1);
        assert_eq!(r.expire_at, Some(9));
        assert_eq!(r.payload(&d).expect("payload"), p);
        assert_eq!(d.stats().records, 1);
        // A plain record still decodes with the registry; a list payload
        // (no dictionary for its class) is written plain.
        assert_eq!(decode_record(&plain).expect("h").payload(&d).expect("p"), p);
        let mut list = p.clone();
        list[0] = 18;
        let rec = encode_record_with(&list, None, 0, 3, Some(&d)).expect("list");
        assert_eq!(decode_record(&rec).expect("h").dict_id, 0);
    }

    #[test]
    fn random_samples_are_rejected_and_not_retried_soon() {
        let store = MemStore::new();
        let d = store.dicts().clone();
        let mut rng = rand::rngs::SmallRng::seed_from_u64(8);
        let samples: Vec<Vec<u8>> = (0..1000).map(|_| random_payload(&mut rng)).collect();
        let r = d.train_class(&store, 0, samples, 3);
        assert_eq!(r.adopted, None, "{r:?}");
        assert!(r.reason.is_some());
        assert_eq!(d.current_id(0), None);
        assert!(store.len(Cf::Meta) == 0);
        let st = d.stats();
        assert_eq!((st.dictionaries, st.trainings, st.rejections), (0, 1, 1));
        // Sampling is paused for the class: thousands of spills offer
        // nothing.
        for _ in 0..20_000 {
            let p = random_payload(&mut rng);
            let _ = encode_record_with(&p, None, 0, 3, Some(&d)).expect("enc");
        }
        assert!(!d.pending.load(Ordering::Relaxed));
        assert!(d.classes()[0].samples.is_empty());
    }

    #[test]
    fn spills_sample_train_and_use_the_dictionary() {
        let store: Store = Arc::new(MemStore::new());
        let d = store.dicts().clone();
        let mut rng = rand::rngs::SmallRng::seed_from_u64(9);
        let mut recs = Vec::new();
        for i in 0..4200 {
            let p = json_payload(i, &mut rng);
            recs.push((
                p.clone(),
                encode_record_with(&p, None, 0, 3, Some(&d)).expect("enc"),
            ));
        }
        assert!(d.pending.load(Ordering::Relaxed));
        let reports = d.train_ready(store.as_ref(), 3);
        assert_eq!(reports.len(), 1, "{reports:?}");
        assert_eq!(reports[0].adopted, Some(1), "{reports:?}");
        for i in 0..100 {
            let p = json_payload(10_000 + i, &mut rng);
            recs.push((
                p.clone(),
                encode_record_with(&p, None, 0, 3, Some(&d)).expect("enc"),
            ));
        }
        assert_eq!(d.stats().records, 100);
        for (p, rec) in &recs {
            assert_eq!(&decode_record(rec).expect("h").payload(&d).expect("p"), p);
        }
    }

    #[test]
    fn background_training_adopts_off_thread() {
        let store: Store = Arc::new(MemStore::new());
        let d = store.dicts().clone();
        let mut rng = rand::rngs::SmallRng::seed_from_u64(10);
        for i in 0..4200 {
            let p = json_payload(i, &mut rng);
            encode_record_with(&p, None, 0, 3, Some(&d)).expect("enc");
        }
        train_in_background(&store, 3);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while d.current_id(0).is_none() {
            assert!(std::time::Instant::now() < deadline, "never adopted");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(d.stats().dictionaries, 1);
    }

    #[test]
    fn unknown_and_damaged_dictionaries_are_clear_errors() {
        let (store, d, mut rng, r) = store_with_json_dict(11);
        assert_eq!(r.adopted, Some(1));
        let p = json_payload(1, &mut rng);
        let rec = encode_record_with(&p, None, 0, 3, Some(&d)).expect("enc");
        // Another store (no dictionaries): the id is named.
        let other = MemStore::new();
        let e = decode_record(&rec)
            .expect("h")
            .payload(other.dicts())
            .expect_err("needs the dictionary");
        assert!(
            e.0.contains("dictionary 1") && e.0.contains("not in the store"),
            "{e}"
        );
        let e = decode_record(&rec)
            .expect("h")
            .payload(Dictionaries::empty())
            .expect_err("needs the dictionary");
        assert!(e.0.contains("dictionary 1"), "{e}");
        // Damage the stored dictionary: reopening reports it with its id
        // and offset, and the record fails naming it; no panic anywhere.
        let key = meta_key(1);
        let Ok(super::super::Fetch::Found(mut v)) = store.get(Cf::Meta, &key) else {
            panic!("dictionary not stored");
        };
        v[100] ^= 0x40;
        store
            .write(vec![Op::Put(Cf::Meta, key.clone(), v.clone())])
            .expect("write");
        let reopened = store.reopen();
        let errs = reopened.dicts().load_errors();
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(
            errs[0].contains("dictionary 1") && errs[0].contains("checksum mismatch at offset"),
            "{errs:?}"
        );
        let e = decode_record(&rec)
            .expect("h")
            .payload(reopened.dicts())
            .expect_err("damaged");
        assert!(
            e.0.contains("dictionary 1") && e.0.contains("damaged"),
            "{e}"
        );
        assert_eq!(reopened.dicts().stats().dictionaries, 0);
        // A new dictionary never reuses the damaged one's id.
        let samples: Vec<Vec<u8>> = (0..1000).map(|i| json_payload(i, &mut rng)).collect();
        assert_eq!(
            reopened
                .dicts()
                .train_class(&reopened, 0, samples, 3)
                .adopted,
            Some(2)
        );
        // Every truncation and bit flip of a meta record is an error.
        for cut in 0..v.len() {
            assert!(decode_meta(1, &v[..cut]).is_err());
        }
        for (at, want) in [
            (0, "offset 0"),
            (1, "offset 1"),
            (3, "offset 2"),
            (7, "offset 6"),
        ] {
            let mut bad = encode_meta(1, 0, b"abc");
            bad[at] ^= 0x11;
            let e = decode_meta(1, &bad).expect_err("bad");
            assert!(e.contains(want), "{at}: {e}");
        }
        assert!(decode_meta(2, &encode_meta(1, 0, b"abc")).is_err());
        // Header bit flips in a record with a dictionary: errors only.
        for i in 0..rec.len() {
            let mut bad = rec.clone();
            bad[i] ^= 0x01;
            if let Ok(r) = decode_record(&bad) {
                if let Ok(back) = r.payload(&d) {
                    assert!(back == p || i >= 12, "flip at {i} gave a wrong payload");
                }
            }
        }
    }

    #[test]
    fn registry_survives_reopen() {
        let (store, d, mut rng, r) = store_with_json_dict(12);
        assert_eq!(r.adopted, Some(1));
        let hashes: Vec<Vec<u8>> = (0..1000)
            .map(|i| {
                let mut p = json_payload(i, &mut rng);
                p[0] = 16;
                p
            })
            .collect();
        assert_eq!(d.train_class(&store, 4, hashes, 3).adopted, Some(2));
        let mut recs = Vec::new();
        for i in 0..50 {
            let mut p = json_payload(i, &mut rng);
            if i % 2 == 1 {
                p[0] = 16;
            }
            let rec = encode_record_with(&p, None, 0, 3, Some(&d)).expect("enc");
            assert_eq!(decode_record(&rec).expect("h").dict_id, 1 + (i as u32 % 2));
            recs.push((p, rec));
        }
        let reopened = store.reopen();
        let r = reopened.dicts();
        assert!(r.load_errors().is_empty());
        assert_eq!(r.stats().dictionaries, 2);
        assert_eq!((r.current_id(0), r.current_id(4)), (Some(1), Some(2)));
        for (p, rec) in &recs {
            assert_eq!(&decode_record(rec).expect("h").payload(r).expect("p"), p);
        }
        // New records after reopening use the loaded dictionaries at
        // once, at any level.
        let p = json_payload(77, &mut rng);
        let rec = encode_record_with(&p, None, 0, 9, Some(r)).expect("enc");
        assert_eq!(decode_record(&rec).expect("h").dict_id, 1);
        assert_eq!(decode_record(&rec).expect("h").payload(r).expect("p"), p);
    }

    #[test]
    fn the_loadgen_value_is_adopted() {
        let store = MemStore::new();
        let d = store.dicts().clone();
        let mut rng = rand::rngs::SmallRng::seed_from_u64(13);
        let text: Vec<u8> = PHRASE
            .iter()
            .copied()
            .cycle()
            .take(512 + PHRASE.len())
            .collect();
        let samples: Vec<Vec<u8>> = (0..1000)
            .map(|_| {
                let off = rng.random_range(0..PHRASE.len());
                let mut v = text[off..off + 512].to_vec();
                let mut r = vec![0u8; 512];
                rng.fill_bytes(&mut r);
                v.extend_from_slice(&r);
                let mut p = vec![0u8, 0x44, 0x00];
                p.extend_from_slice(&v);
                p.extend_from_slice(&[10, 0]);
                p.extend_from_slice(&rng.next_u64().to_le_bytes());
                p
            })
            .collect();
        let r = d.train_class(&store, 0, samples, 3);
        assert!(r.adopted.is_some(), "{r:?}");
    }
}
