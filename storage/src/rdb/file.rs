//! dump.rdb files: the stream of opcodes around the objects.
//!
//! ```text
//! "REDIS0010"
//! AUX (0xFA) <string key> <string value>         repeated: redis-ver, redis-bits, ctime, used-mem, aof-base
//! FUNCTION2 (0xF5) <string library code>         repeated (Functions)
//! SELECTDB (0xFE) <length db>
//! RESIZEDB (0xFB) <length keys> <length expires>
//!   [EXPIRETIME_MS (0xFC) <i64 LE unix ms>]
//!   [IDLE (0xF8) <length seconds> | FREQ (0xF9) <u8 LFU counter>]
//!   <type u8> <string key> <object body>        repeated
//! EOF (0xFF) <CRC64 LE of everything before it, 0 when rdbchecksum is off>
//! ```
//!
//! [`RdbFileWriter`] streams entries into any `io::Write`, so a dump never
//! needs the whole dataset in memory at once; [`RdbFileReader`] pulls
//! entries one at a time and reports corruption with its byte offset.

use std::io::{self, Read, Write};

use bytes::Bytes;

use super::{crc64, opcodes, Compact, RdbError, RdbValue, Reader, Writer, RDB_VERSION};

/// One key as stored in an RDB file.
#[derive(Clone, Debug, PartialEq)]
pub struct RdbEntry {
    pub db: u32,
    pub key: Bytes,
    pub value: RdbValue,
    /// Absolute expiry in unix milliseconds.
    pub expire_ms: Option<i64>,
    /// LFU counter (FREQ opcode) if known.
    pub lfu_freq: Option<u8>,
    /// Idle seconds (IDLE opcode) if known.
    pub idle_secs: Option<u64>,
}

/// Writes a dump.rdb stream.
pub struct RdbFileWriter<W: Write> {
    out: W,
    crc: u64,
    checksum: bool,
    compress: bool,
    current_db: Option<u32>,
    pub bytes_written: u64,
}

impl<W: Write> RdbFileWriter<W> {
    /// Writes the header and AUX fields.
    pub fn new(out: W, aux: &[(&str, String)], compress: bool, checksum: bool) -> io::Result<Self> {
        let mut w = RdbFileWriter {
            out,
            crc: 0,
            checksum,
            compress,
            current_db: None,
            bytes_written: 0,
        };
        w.raw(format!("REDIS{RDB_VERSION:04}").as_bytes())?;
        for (k, v) in aux {
            let mut e = Writer::new(false);
            e.buf.push(opcodes::AUX);
            e.string(k.as_bytes());
            e.string(v.as_bytes());
            w.raw(&e.buf)?;
        }
        Ok(w)
    }

    fn raw(&mut self, b: &[u8]) -> io::Result<()> {
        if self.checksum {
            self.crc = crc64::crc64(self.crc, b);
        }
        self.bytes_written += b.len() as u64;
        self.out.write_all(b)
    }

    /// A Functions library (FUNCTION2 opcode).
    pub fn function(&mut self, code: &[u8]) -> io::Result<()> {
        let mut e = Writer::new(self.compress);
        e.buf.push(opcodes::FUNCTION2);
        e.string(code);
        self.raw(&e.buf)
    }

    /// Starts database `db` with size hints (RESIZEDB).
    pub fn select_db(&mut self, db: u32, keys: u64, expires: u64) -> io::Result<()> {
        let mut e = Writer::new(false);
        e.buf.push(opcodes::SELECTDB);
        e.len(u64::from(db));
        e.buf.push(opcodes::RESIZEDB);
        e.len(keys);
        e.len(expires);
        self.current_db = Some(db);
        self.raw(&e.buf)
    }

    /// Writes one key (its db must have been selected).
    pub fn entry(&mut self, e: &RdbEntry, compact: Compact) -> io::Result<()> {
        if self.current_db != Some(e.db) {
            self.select_db(e.db, 0, 0)?;
        }
        let b = encode_entry(e, compact, self.compress);
        self.raw(&b)
    }

    /// Writes bytes already encoded by [`encode_entry`] or
    /// [`encode_payload_entry`] (for the current database).
    pub fn encoded(&mut self, b: &[u8]) -> io::Result<()> {
        self.raw(b)
    }
}

/// The bytes [`RdbFileWriter::entry`] writes for `e`: optional
/// EXPIRETIME_MS and FREQ/IDLE, then type, key and object body.
pub fn encode_entry(e: &RdbEntry, compact: Compact, compress: bool) -> Vec<u8> {
    let mut w = Writer::new(compress);
    entry_prefix(&mut w, e.expire_ms, e.lfu_freq, e.idle_secs);
    // Object: type byte, key, body. `object` writes type + body, so
    // splice the key in after the type byte.
    let mut obj = Writer::new(compress);
    let t = obj.object(&e.value, compact);
    w.buf.push(t);
    w.string(&e.key);
    w.buf.extend_from_slice(&obj.buf[1..]);
    w.buf
}

fn entry_prefix(w: &mut Writer, expire_ms: Option<i64>, lfu: Option<u8>, idle: Option<u64>) {
    if let Some(at) = expire_ms {
        w.buf.push(opcodes::EXPIRETIME_MS);
        w.buf.extend_from_slice(&at.to_le_bytes());
    }
    if let Some(f) = lfu {
        w.buf.push(opcodes::FREQ);
        w.buf.push(f);
    } else if let Some(idle) = idle {
        w.buf.push(opcodes::IDLE);
        w.len(idle);
    }
}

/// An entry from a DUMP payload (`<type><body><version><crc>`), without
/// decoding the value: the cold tier stores exactly these payloads.
/// `None` if the payload is too short to hold a footer.
pub fn encode_payload_entry(
    key: &[u8],
    expire_ms: Option<i64>,
    lfu: Option<u8>,
    payload: &[u8],
) -> Option<Vec<u8>> {
    if payload.len() < 11 {
        return None;
    }
    let object = &payload[..payload.len() - 10];
    let mut w = Writer::new(false);
    entry_prefix(&mut w, expire_ms, lfu, None);
    w.buf.push(object[0]);
    w.string(key);
    w.buf.extend_from_slice(&object[1..]);
    Some(w.buf)
}

impl<W: Write> RdbFileWriter<W> {
    /// Writes EOF and the checksum; returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.raw(&[opcodes::EOF])?;
        let crc = if self.checksum { self.crc } else { 0 };
        self.out.write_all(&crc.to_le_bytes())?;
        self.bytes_written += 8;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// What the reader found next.
#[derive(Debug, PartialEq)]
pub enum RdbItem {
    Aux(Bytes, Bytes),
    Function(Bytes),
    ResizeDb {
        db: u32,
        keys: u64,
        expires: u64,
    },
    Entry(RdbEntry),
    /// End of file; the checksum was verified (or was zero).
    Eof,
}

/// Reads a whole dump.rdb held in memory, entry by entry.
///
/// (Files are read into memory in chunks by the caller; the reader only
/// needs a contiguous slice. For files larger than memory the import path
/// feeds it file segments; see `docs/formats/rdb.md`.)
pub struct RdbFileReader<'a> {
    r: Reader<'a>,
    db: u32,
    done: bool,
    pub version: u16,
}

impl<'a> RdbFileReader<'a> {
    /// Checks the magic and version.
    pub fn new(data: &'a [u8]) -> Result<Self, RdbError> {
        if data.len() < 9 || &data[..5] != b"REDIS" {
            return Err(RdbError {
                offset: 0,
                what: "not an RDB file (bad magic)",
            });
        }
        let version: u16 = std::str::from_utf8(&data[5..9])
            .ok()
            .and_then(|v| v.parse().ok())
            .ok_or(RdbError {
                offset: 5,
                what: "bad RDB version",
            })?;
        if version < 1 || version > RDB_VERSION {
            return Err(RdbError {
                offset: 5,
                what: "unsupported RDB version",
            });
        }
        let mut r = Reader::new(data);
        r.pos = 9;
        Ok(RdbFileReader {
            r,
            db: 0,
            done: false,
            version,
        })
    }

    /// Current byte offset (for progress and error messages).
    pub fn offset(&self) -> usize {
        self.r.pos
    }

    /// The next item, or an error naming the offset.
    pub fn next_item(&mut self) -> Result<RdbItem, RdbError> {
        if self.done {
            return Ok(RdbItem::Eof);
        }
        let mut expire_ms = None;
        let mut lfu_freq = None;
        let mut idle_secs = None;
        loop {
            let op_at = self.r.pos;
            let op = self.r.byte()?;
            match op {
                opcodes::AUX => {
                    let k = self.r.string()?;
                    let v = self.r.string()?;
                    return Ok(RdbItem::Aux(k, v));
                }
                opcodes::FUNCTION2 => return Ok(RdbItem::Function(self.r.string()?)),
                super::functions::FUNCTION_PRE_GA => {
                    return super::functions::read_pre_ga(&mut self.r)
                        .map(RdbItem::Function)
                        .map_err(|what| RdbError {
                            offset: op_at,
                            what,
                        })
                }
                opcodes::MODULE_AUX => return Err(self.r.err("module data is not supported")),
                opcodes::SELECTDB => {
                    let db = self.r.len()?;
                    self.db = u32::try_from(db).map_err(|_| RdbError {
                        offset: op_at,
                        what: "database index too large",
                    })?;
                }
                opcodes::RESIZEDB => {
                    let keys = self.r.len()?;
                    let expires = self.r.len()?;
                    return Ok(RdbItem::ResizeDb {
                        db: self.db,
                        keys,
                        expires,
                    });
                }
                opcodes::EXPIRETIME_MS => {
                    let b = self.r.take(8)?;
                    let mut a = [0u8; 8];
                    a.copy_from_slice(b);
                    expire_ms = Some(i64::from_le_bytes(a));
                }
                opcodes::EXPIRETIME => {
                    let b = self.r.take(4)?;
                    expire_ms =
                        Some(i64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])) * 1000);
                }
                opcodes::FREQ => lfu_freq = Some(self.r.byte()?),
                opcodes::IDLE => idle_secs = Some(self.r.len()?),
                opcodes::EOF => {
                    let body_end = self.r.pos;
                    if self.version >= 5 {
                        let b = self.r.take(8).map_err(|_| RdbError {
                            offset: body_end,
                            what: "truncated checksum",
                        })?;
                        let mut a = [0u8; 8];
                        a.copy_from_slice(b);
                        let stored = u64::from_le_bytes(a);
                        if stored != 0 && crc64::crc64(0, &self.r.data[..body_end]) != stored {
                            return Err(RdbError {
                                offset: body_end,
                                what: "RDB checksum mismatch",
                            });
                        }
                    }
                    if self.r.pos != self.r.data.len() {
                        return Err(RdbError {
                            offset: self.r.pos,
                            what: "trailing bytes after EOF",
                        });
                    }
                    self.done = true;
                    return Ok(RdbItem::Eof);
                }
                t => {
                    let key = self.r.string()?;
                    let value = self.r.object(t)?;
                    return Ok(RdbItem::Entry(RdbEntry {
                        db: self.db,
                        key,
                        value,
                        expire_ms,
                        lfu_freq,
                        idle_secs,
                    }));
                }
            }
        }
    }
}

/// Reads a whole file into memory (dump files are streamed by callers that
/// need to; this serves tests and small files).
pub fn read_all(mut r: impl Read) -> io::Result<Vec<u8>> {
    let mut v = Vec::new();
    r.read_to_end(&mut v)?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut w = RdbFileWriter::new(
            Vec::new(),
            &[("redis-ver", "7.0.15".into()), ("redis-bits", "64".into())],
            true,
            true,
        )
        .expect("header");
        w.select_db(0, 2, 1).expect("db");
        w.entry(
            &RdbEntry {
                db: 0,
                key: Bytes::from_static(b"s"),
                value: RdbValue::String(Bytes::from_static(b"hello")),
                expire_ms: Some(1_900_000_000_000),
                lfu_freq: Some(7),
                idle_secs: None,
            },
            Compact::Yes,
        )
        .expect("entry");
        w.entry(
            &RdbEntry {
                db: 3,
                key: Bytes::from_static(b"h"),
                value: RdbValue::Hash(vec![(Bytes::from_static(b"f"), Bytes::from_static(b"v"))]),
                expire_ms: None,
                lfu_freq: None,
                idle_secs: None,
            },
            Compact::Yes,
        )
        .expect("entry");
        w.finish().expect("finish")
    }

    #[test]
    fn write_then_read() {
        let data = sample();
        let mut r = RdbFileReader::new(&data).expect("header");
        let mut entries = Vec::new();
        loop {
            match r.next_item().expect("valid") {
                RdbItem::Eof => break,
                RdbItem::Entry(e) => entries.push(e),
                _ => {}
            }
        }
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].expire_ms, Some(1_900_000_000_000));
        assert_eq!(entries[0].lfu_freq, Some(7));
        assert_eq!(entries[1].db, 3);
    }

    #[test]
    fn corruption_is_reported_with_offset() {
        let data = sample();
        // Truncations anywhere fail (never a panic, never a silent success).
        for cut in 9..data.len() {
            let mut r = RdbFileReader::new(&data[..cut]).expect("header");
            let mut failed = false;
            for _ in 0..100 {
                match r.next_item() {
                    Ok(RdbItem::Eof) => break,
                    Ok(_) => {}
                    Err(_) => {
                        failed = true;
                        break;
                    }
                }
            }
            assert!(failed, "truncation at {cut} not detected");
        }
        // A flipped byte is caught by the checksum or the structure.
        for i in 9..data.len() - 8 {
            let mut bad = data.clone();
            bad[i] ^= 0x55;
            let Ok(mut r) = RdbFileReader::new(&bad) else {
                continue;
            };
            let mut failed = false;
            for _ in 0..100 {
                match r.next_item() {
                    Ok(RdbItem::Eof) => break,
                    Ok(_) => {}
                    Err(_) => {
                        failed = true;
                        break;
                    }
                }
            }
            assert!(failed, "flip at {i} not detected");
        }
    }
}
