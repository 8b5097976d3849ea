//! FUNCTION DUMP / FUNCTION RESTORE payloads (Redis 7.0).
//!
//! ```text
//! FUNCTION2 (0xF5) <string library code>    repeated, one per library
//! <RDB version u16 LE> <CRC64 u64 LE of everything before it>
//! ```
//!
//! The same FUNCTION2 records appear in dump.rdb before the first
//! SELECTDB (see `file.rs`). Library code is an ordinary RDB string, so
//! it is LZF-compressed when `rdbcompression` would compress it.

use bytes::Bytes;

use super::{crc64, opcodes, PayloadError, Reader, Writer, RDB_VERSION};

/// The function opcode of Redis 7.0 release candidates (before RC3):
/// name, engine, optional description and body as separate strings.
pub const FUNCTION_PRE_GA: u8 = 246;

/// Reads a pre-GA function record (after its opcode) and translates it
/// to library code, as Redis 7.0 does: `#!<engine> name=<name>\n<body>`.
/// Errors are Redis's texts.
pub fn read_pre_ga(r: &mut Reader) -> Result<Bytes, &'static str> {
    let name = r.string().map_err(|_| "Failed loading library name")?;
    let engine = r.string().map_err(|_| "Failed loading engine name")?;
    let has_desc = r
        .len()
        .map_err(|_| "Failed loading library description indicator")?;
    if has_desc != 0 {
        r.string()
            .map_err(|_| "Failed loading library description")?;
    }
    let body = r.string().map_err(|_| "Failed loading library blob")?;
    let mut code = b"#!".to_vec();
    code.extend_from_slice(&engine);
    code.extend_from_slice(b" name=");
    code.extend_from_slice(&name);
    code.push(b'\n');
    code.extend_from_slice(&body);
    Ok(Bytes::from(code))
}

/// FUNCTION DUMP: every library's code, then the version and checksum.
pub fn dump(codes: &[Bytes], compress: bool) -> Vec<u8> {
    let mut w = Writer::new(compress);
    for code in codes {
        w.buf.push(opcodes::FUNCTION2);
        w.string(code);
    }
    w.buf.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64::crc64(0, &w.buf);
    w.buf.extend_from_slice(&crc.to_le_bytes());
    w.buf
}

/// What FUNCTION RESTORE read from a payload.
#[derive(Debug, PartialEq, Eq)]
pub struct Restored {
    /// Library codes, in payload order.
    pub codes: Vec<Bytes>,
    /// The error met after the last good record, if any (Redis's text,
    /// without the `ERR` prefix). Libraries before it are still
    /// created first, so their own errors take precedence, as in Redis.
    pub error: Option<&'static str>,
}

/// FUNCTION RESTORE: checks the footer (the only `Err` is
/// [`PayloadError::VersionOrChecksum`]), then reads the records as Redis
/// does: while more than the 10 footer bytes remain.
pub fn restore(p: &[u8]) -> Result<Restored, PayloadError> {
    if p.len() < 10 {
        return Err(PayloadError::VersionOrChecksum);
    }
    let footer = &p[p.len() - 10..];
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    if version > RDB_VERSION {
        return Err(PayloadError::VersionOrChecksum);
    }
    let mut crc = [0u8; 8];
    crc.copy_from_slice(&footer[2..]);
    if crc64::crc64(0, &p[..p.len() - 8]) != u64::from_le_bytes(crc) {
        return Err(PayloadError::VersionOrChecksum);
    }
    let mut r = Reader::new(p);
    let mut codes = Vec::new();
    while p.len() - r.pos > 10 {
        let error = match r.byte() {
            Err(_) => "can not read data type",
            Ok(FUNCTION_PRE_GA) => match read_pre_ga(&mut r) {
                Ok(code) => {
                    codes.push(code);
                    continue;
                }
                Err(e) => e,
            },
            Ok(opcodes::FUNCTION2) => match r.string() {
                Ok(code) => {
                    codes.push(code);
                    continue;
                }
                Err(_) => "Failed loading library payload",
            },
            Ok(_) => "given type is not a function",
        };
        return Ok(Restored {
            codes,
            error: Some(error),
        });
    }
    Ok(Restored { codes, error: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    }

    /// `FUNCTION DUMP` outputs of Redis 7.0.15: two small libraries
    /// (stored raw), and one long enough to be LZF-compressed.
    #[test]
    fn matches_redis_dump() {
        let two = unhex(concat!(
            "f5404523216c7561206e616d653d610a72656469732e72656769737465725f66",
            "756e6374696f6e28276661272c2066756e6374696f6e28292072657475726e20",
            "27612720656e6429f5404523216c7561206e616d653d620a72656469732e7265",
            "6769737465725f66756e6374696f6e28276662272c2066756e6374696f6e2829",
            "2072657475726e2027622720656e64290a00dbdd364ebd49c1fd"
        ));
        let r = restore(&two).expect("valid payload");
        assert_eq!(r.error, None);
        assert_eq!(
            r.codes[0],
            Bytes::from_static(
                b"#!lua name=a\nredis.register_function('fa', function() return 'a' end)"
            )
        );
        assert_eq!(dump(&r.codes, true), two);
        let lzf = unhex(concat!(
            "f5c3408340911f23216c7561206e616d653d740a72656469732e726567697374",
            "65725f66756e630474696f6e7bc008005f60270d2766272c2063616c6c626163",
            "6b3dc01b0c286b2c2061292072657475726e20064049007040250828277075626c",
            "697368203501276340041c6d272920656e642c20666c6167733d7b276e6f2d77",
            "7269746573277d7d0a000cc420afb4a251d9"
        ));
        let r = restore(&lzf).expect("valid payload");
        assert_eq!(
            r.codes,
            vec![Bytes::from_static(
                b"#!lua name=t\nredis.register_function{function_name='f', callback=function(k, a) return redis.pcall('publish', 'c', 'm') end, flags={'no-writes'}}"
            )]
        );
        assert_eq!(dump(&r.codes, true), lzf);
    }

    #[test]
    fn round_trip_and_errors() {
        let codes = vec![
            Bytes::from_static(b"#!lua name=x\nredis.register_function('f', function() return 1 end) -- padding padding"),
            Bytes::from_static(b"#!lua name=y\n"),
        ];
        for compress in [false, true] {
            let p = dump(&codes, compress);
            assert_eq!(
                restore(&p),
                Ok(Restored {
                    codes: codes.clone(),
                    error: None
                })
            );
            let mut bad = p.clone();
            bad[3] ^= 1;
            assert_eq!(restore(&bad), Err(PayloadError::VersionOrChecksum));
        }
        assert_eq!(restore(b"short"), Err(PayloadError::VersionOrChecksum));
        // A pre-GA record becomes library code.
        let mut w = Writer::new(false);
        w.buf.push(FUNCTION_PRE_GA);
        w.string(b"mylib");
        w.string(b"LUA");
        w.len(1);
        w.string(b"a description");
        w.string(b"redis.register_function('f', function() return 1 end)");
        w.buf.extend_from_slice(&RDB_VERSION.to_le_bytes());
        let crc = crc64::crc64(0, &w.buf);
        w.buf.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(
            restore(&w.buf).map(|r| r.codes),
            Ok(vec![Bytes::from_static(
                b"#!LUA name=mylib\nredis.register_function('f', function() return 1 end)"
            )])
        );
        let empty = dump(&[], true);
        assert_eq!(empty.len(), 10);
        assert_eq!(
            restore(&empty),
            Ok(Restored {
                codes: vec![],
                error: None
            })
        );
        // A key record is not a function.
        let mut w = Writer::new(false);
        w.buf.extend_from_slice(&[0, 1, b'k', 1, b'v']);
        w.buf.extend_from_slice(&RDB_VERSION.to_le_bytes());
        let crc = crc64::crc64(0, &w.buf);
        w.buf.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(
            restore(&w.buf).map(|r| r.error),
            Ok(Some("given type is not a function"))
        );
    }
}
