//! The AOF record format: RESP commands plus `#` annotation lines, and
//! the scanner that reads it back (shared by the loader and
//! `strata-check-aof`). Byte-level description: `docs/formats/aof.md`.
//!
//! Records are RESP arrays of bulk strings (`*<argc>\r\n` then
//! `$<len>\r\n<bytes>\r\n` per argument). A line starting with `#` where
//! a command would start is an annotation: Redis 7 skips it on load.
//! Strata writes two kinds:
//!
//! * `#TS:<unix seconds>\r\n` (Redis's, with `aof-timestamp-enabled`);
//! * `#CRC64:<16 lowercase hex>:<decimal length>\r\n` after every batch of
//!   records: CRC-64/Jones (the RDB checksum) of exactly the `<length>`
//!   bytes that precede the line, which are all the bytes since the end
//!   of the previous `#CRC64` line (or the start of the file).
//!
//! Scanning tells apart a torn tail (the file ends inside a command, or
//! only zero bytes follow the last whole command: what a crash leaves) from
//! damage in the middle (a checksum mismatch, or malformed bytes), and a
//! torn-looking end is only accepted as such when no genuine `#CRC64`
//! line (one whose checksum verifies) follows the point where parsing
//! stopped: a flipped length that swallows the rest of the file is
//! therefore reported as corruption, not silently cut.

use strata_storage::rdb::crc64::crc64;

/// Prefix of the checksum annotation.
pub const CRC_PREFIX: &[u8] = b"#CRC64:";
/// Longest annotation line accepted (Redis reads them with a 1024-byte
/// buffer).
pub const MAX_ANNOTATION: usize = 1024;

/// Appends the RESP encoding of `argv`.
pub fn encode<A: AsRef<[u8]>>(out: &mut Vec<u8>, argv: &[A]) {
    let mut n = itoa::Buffer::new();
    out.push(b'*');
    out.extend_from_slice(n.format(argv.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    for a in argv {
        let a = a.as_ref();
        out.push(b'$');
        out.extend_from_slice(n.format(a.len()).as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// The checksum annotation for `len` bytes with CRC `crc`.
pub fn crc_line(crc: u64, len: u64) -> String {
    format!("#CRC64:{crc:016x}:{len}\r\n")
}

/// Parses a checksum annotation line (without its `\r\n`).
fn parse_crc_line(line: &[u8]) -> Option<(u64, u64)> {
    let rest = line.strip_prefix(CRC_PREFIX)?;
    let text = std::str::from_utf8(rest).ok()?;
    let (hex, len) = text.split_once(':')?;
    // Lowercase only: an uppercase digit is a flipped bit (0x20).
    if hex.len() != 16 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    if len.is_empty() || !len.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((u64::from_str_radix(hex, 16).ok()?, len.parse().ok()?))
}

/// What went wrong, where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Byte offset in the file.
    pub offset: usize,
    pub kind: ProblemKind,
    pub detail: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProblemKind {
    /// The file ends inside a command, or inside a MULTI block: a torn
    /// tail. `aof-load-truncated yes` cuts it.
    Truncated,
    /// Only zero bytes from here to the end: a torn tail (crash with
    /// allocated but unwritten blocks).
    ZeroTail,
    /// Malformed bytes.
    Garbage,
    /// A `#CRC64` annotation does not match the bytes before it.
    Checksum,
}

impl ProblemKind {
    /// A torn tail (cut back to the last whole command), as opposed to
    /// damage that stops loading.
    pub fn is_torn(self) -> bool {
        matches!(self, ProblemKind::Truncated | ProblemKind::ZeroTail)
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at offset {}", self.detail, self.offset)
    }
}

/// Result of scanning one file.
#[derive(Clone, Debug)]
pub struct Scan {
    /// Commands delivered (MULTI/EXEC blocks count their inner commands).
    pub commands: u64,
    /// `#CRC64` annotations verified.
    pub checksums: u64,
    /// End of the last whole command outside an unfinished MULTI block:
    /// where a torn file is cut back to (the file length when clean).
    pub valid_up_to: usize,
    /// The first problem, if any. When it is a torn tail, everything from
    /// `valid_up_to` on is dropped.
    pub problem: Option<Problem>,
    /// Running checksum state of the bytes between the last `#CRC64` line
    /// and `valid_up_to`: (crc, length). A writer appending to this file
    /// continues from it so its next annotation covers them.
    pub tail_crc: (u64, u64),
}

enum Step<'a> {
    Command(Vec<&'a [u8]>),
    Annotation,
    End,
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

/// Why a read stopped.
enum Stop {
    /// End of data inside an item.
    Eof,
    /// Malformed byte at the offset.
    Bad(usize, &'static str),
}

impl<'a> Reader<'a> {
    /// A line without its `\r\n` (or `\n`); Eof if no newline.
    fn line(&mut self, max: usize) -> Result<&'a [u8], Stop> {
        let rest = &self.data[self.pos..];
        let window = &rest[..rest.len().min(max + 2)];
        match memchr::memchr(b'\n', window) {
            Some(i) => {
                let line = &rest[..i];
                self.pos += i + 1;
                Ok(line.strip_suffix(b"\r").unwrap_or(line))
            }
            None if rest.len() > max + 1 => Err(Stop::Bad(self.pos, "line too long")),
            None => Err(Stop::Eof),
        }
    }

    fn number(&mut self, prefix: u8, what: &'static str) -> Result<i64, Stop> {
        let at = self.pos;
        let line = self.line(32)?;
        if line.first() != Some(&prefix) {
            return Err(Stop::Bad(at, what));
        }
        strata_storage::num::parse_i64(&line[1..]).ok_or(Stop::Bad(at, what))
    }

    fn step(&mut self) -> Result<Step<'a>, Stop> {
        let Some(&first) = self.data.get(self.pos) else {
            return Ok(Step::End);
        };
        if first == b'#' {
            self.line(MAX_ANNOTATION)?;
            return Ok(Step::Annotation);
        }
        let argc = self.number(b'*', "expected '*' (start of a command)")?;
        if !(1..=1024 * 1024).contains(&argc) {
            return Err(Stop::Bad(self.pos, "bad argument count"));
        }
        let mut argv = Vec::with_capacity(argc as usize);
        for _ in 0..argc {
            let len = self.number(b'$', "expected '$' (bulk length)")?;
            if !(0..=4 * 1024 * 1024 * 1024).contains(&len) {
                return Err(Stop::Bad(self.pos, "bad bulk length"));
            }
            let len = len as usize;
            let start = self.pos;
            let end = start.checked_add(len).ok_or(Stop::Eof)?;
            if end + 2 > self.data.len() {
                return Err(Stop::Eof);
            }
            if &self.data[end..end + 2] != b"\r\n" {
                return Err(Stop::Bad(end, "bulk string not followed by CRLF"));
            }
            argv.push(&self.data[start..end]);
            self.pos = end + 2;
        }
        Ok(Step::Command(argv))
    }
}

/// True if a genuine `#CRC64` line (one whose checksum verifies against
/// the bytes before it) starts anywhere after `from`.
fn genuine_checksum_after(data: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    while let Some(i) = memchr::memmem::find(&data[at..], CRC_PREFIX) {
        let p = at + i;
        at = p + 1;
        let rest = &data[p..];
        let Some(nl) = memchr::memchr(b'\n', &rest[..rest.len().min(64)]) else {
            continue;
        };
        let line = &rest[..nl];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some((crc, len)) = parse_crc_line(line) {
            if let Some(start) = p.checked_sub(len as usize) {
                if crc64(0, &data[start..p]) == crc {
                    return Some(p);
                }
            }
        }
    }
    None
}

/// A command inside an open MULTI block, with its offset.
type Queued<'a> = (Vec<&'a [u8]>, usize);

/// Scans `data`, calling `on_command` with every command in order. Inner
/// commands of a `MULTI` ... `EXEC` block are delivered together when the
/// `EXEC` is read (MULTI and EXEC themselves are not delivered), so an
/// unfinished block is never applied. `on_command` returning an error
/// stops the scan with that error.
///
/// # Errors
/// What `on_command` returned.
pub fn scan<'a>(
    data: &'a [u8],
    mut on_command: impl FnMut(&[&'a [u8]], usize) -> Result<(), String>,
) -> Result<Scan, String> {
    let mut r = Reader { data, pos: 0 };
    let mut out = Scan {
        commands: 0,
        checksums: 0,
        valid_up_to: 0,
        problem: None,
        tail_crc: (0, 0),
    };
    // Start of the current checksum segment.
    let mut seg_start = 0usize;
    // Open MULTI block: its start offset and buffered commands.
    let mut multi: Option<(usize, Vec<Queued<'a>>)> = None;
    loop {
        let at = r.pos;
        match r.step() {
            Ok(Step::End) => {
                if let Some((start, _)) = multi {
                    out.valid_up_to = start;
                    out.problem = Some(Problem {
                        offset: start,
                        kind: ProblemKind::Truncated,
                        detail: "MULTI without EXEC at the end of the file".into(),
                    });
                } else {
                    out.valid_up_to = data.len();
                }
                break;
            }
            Ok(Step::Annotation) => {
                let line = &data[at..r.pos];
                let line = line.strip_suffix(b"\n").unwrap_or(line);
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if line.starts_with(CRC_PREFIX) {
                    let Some((crc, len)) = parse_crc_line(line) else {
                        out.problem = Some(Problem {
                            offset: at,
                            kind: ProblemKind::Garbage,
                            detail: "malformed #CRC64 annotation".into(),
                        });
                        break;
                    };
                    let span = (at - seg_start) as u64;
                    if len != span {
                        out.problem = Some(Problem {
                            offset: at,
                            kind: ProblemKind::Checksum,
                            detail: format!(
                                "#CRC64 annotation covers {len} bytes but {span} bytes (from offset {seg_start}) precede it"
                            ),
                        });
                        break;
                    }
                    let actual = crc64(0, &data[seg_start..at]);
                    if actual != crc {
                        out.problem = Some(Problem {
                            offset: seg_start,
                            kind: ProblemKind::Checksum,
                            detail: format!(
                                "checksum mismatch: bytes {seg_start}..{at} have CRC64 {actual:016x}, the annotation at offset {at} says {crc:016x}"
                            ),
                        });
                        break;
                    }
                    out.checksums += 1;
                    seg_start = r.pos;
                }
                if multi.is_none() {
                    out.valid_up_to = r.pos;
                }
            }
            Ok(Step::Command(argv)) => {
                let name = argv[0];
                if name.eq_ignore_ascii_case(b"multi") {
                    if multi.is_some() {
                        out.problem = Some(Problem {
                            offset: at,
                            kind: ProblemKind::Garbage,
                            detail: "nested MULTI".into(),
                        });
                        break;
                    }
                    multi = Some((at, Vec::new()));
                } else if name.eq_ignore_ascii_case(b"exec") {
                    let Some((_, queued)) = multi.take() else {
                        out.problem = Some(Problem {
                            offset: at,
                            kind: ProblemKind::Garbage,
                            detail: "EXEC without MULTI".into(),
                        });
                        break;
                    };
                    for (argv, offset) in &queued {
                        on_command(argv, *offset)?;
                        out.commands += 1;
                    }
                    out.valid_up_to = r.pos;
                } else if let Some((_, queued)) = multi.as_mut() {
                    queued.push((argv, at));
                } else {
                    on_command(&argv, at)?;
                    out.commands += 1;
                    out.valid_up_to = r.pos;
                }
            }
            Err(stop) => {
                let (offset, kind, detail) = match stop {
                    Stop::Eof => (
                        at,
                        ProblemKind::Truncated,
                        if data.get(at) == Some(&b'#') {
                            "unexpected end of file inside an annotation line".to_string()
                        } else {
                            "unexpected end of file inside a command".to_string()
                        },
                    ),
                    Stop::Bad(off, what) => {
                        if data[at..].iter().all(|b| *b == 0) {
                            (
                                at,
                                ProblemKind::ZeroTail,
                                "zero bytes to the end of the file".into(),
                            )
                        } else {
                            (
                                off,
                                ProblemKind::Garbage,
                                format!("bad file format: {what}"),
                            )
                        }
                    }
                };
                // A torn-looking stop followed by a genuine checksum line
                // is damage in the middle (a flipped length, say).
                let (kind, detail) = match genuine_checksum_after(data, at) {
                    Some(p) if kind.is_torn() => (
                        ProblemKind::Garbage,
                        format!("{detail}, but a valid #CRC64 annotation follows at offset {p}: the file is damaged, not torn"),
                    ),
                    _ => (kind, detail),
                };
                if let Some((start, _)) = multi {
                    out.valid_up_to = start;
                }
                out.problem = Some(Problem {
                    offset,
                    kind,
                    detail,
                });
                break;
            }
        }
    }
    if out.valid_up_to >= seg_start {
        out.tail_crc = (
            crc64(0, &data[seg_start..out.valid_up_to]),
            (out.valid_up_to - seg_start) as u64,
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(argv: &[&str]) -> Vec<u8> {
        let mut v = Vec::new();
        encode(&mut v, argv);
        v
    }

    fn with_crc(body: &[u8]) -> Vec<u8> {
        let mut v = body.to_vec();
        v.extend_from_slice(crc_line(crc64(0, body), body.len() as u64).as_bytes());
        v
    }

    fn names(data: &[u8]) -> (Vec<String>, Scan) {
        let mut got = Vec::new();
        let s = scan(data, |argv, _| {
            got.push(
                argv.iter()
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect::<Vec<_>>()
                    .join(" "),
            );
            Ok(())
        })
        .expect("scan");
        (got, s)
    }

    #[test]
    fn clean_file_with_annotations() {
        let mut f = with_crc(&cmd(&["SET", "a", "1"]));
        f.extend_from_slice(b"#TS:1700000000\r\n");
        let mut batch = cmd(&["MULTI"]);
        batch.extend(cmd(&["INCR", "a"]));
        batch.extend(cmd(&["EXEC"]));
        let seg = {
            let mut s = b"#TS:1700000000\r\n".to_vec();
            s.extend_from_slice(&batch);
            s
        };
        f.extend_from_slice(&batch);
        f.extend_from_slice(crc_line(crc64(0, &seg), seg.len() as u64).as_bytes());
        let (got, s) = names(&f);
        assert_eq!(got, ["SET a 1", "INCR a"]);
        assert!(s.problem.is_none(), "{:?}", s.problem);
        assert_eq!(s.checksums, 2);
        assert_eq!(s.valid_up_to, f.len());
        assert_eq!(s.tail_crc, (0, 0));
    }

    #[test]
    fn torn_tail_and_unfinished_multi() {
        let mut f = with_crc(&cmd(&["SET", "a", "1"]));
        let good = f.len();
        f.extend(cmd(&["MULTI"]));
        f.extend(cmd(&["SET", "b", "2"]));
        let (got, s) = names(&f);
        assert_eq!(got, ["SET a 1"]);
        assert_eq!(s.valid_up_to, good);
        assert_eq!(s.problem.map(|p| p.kind), Some(ProblemKind::Truncated));
        let mut g = with_crc(&cmd(&["SET", "a", "1"]));
        g.extend_from_slice(&cmd(&["SET", "b", "2"])[..7]);
        let (_, s) = names(&g);
        assert_eq!(s.valid_up_to, good);
        assert!(s.problem.is_some_and(|p| p.kind == ProblemKind::Truncated));
        let mut z = with_crc(&cmd(&["SET", "a", "1"]));
        z.extend_from_slice(&[0u8; 100]);
        let (_, s) = names(&z);
        assert_eq!(s.valid_up_to, good);
        assert!(s.problem.is_some_and(|p| p.kind == ProblemKind::ZeroTail));
    }

    #[test]
    fn flips_are_detected() {
        let mut f = with_crc(&cmd(&["SET", "key", "value"]));
        f.extend(with_crc(&cmd(&["SET", "other", "thing"])));
        let (clean, _) = names(&f);
        for i in 0..f.len() {
            for bit in 0..8 {
                let mut g = f.clone();
                g[i] ^= 1 << bit;
                let (got, s) = names(&g);
                // Undetected only if no record changed (a flip inside an
                // annotation's name turns it into an unknown annotation).
                let Some(p) = s.problem else {
                    assert_eq!(got, clean, "flip at {i} bit {bit} changed data unseen");
                    continue;
                };
                assert!(
                    !p.kind.is_torn() || s.valid_up_to >= f.len() / 2,
                    "flip at {i} bit {bit} taken for a torn tail: {p:?}"
                );
            }
        }
    }

    /// In-tree stand-in for the `aof_scan` fuzz target: random damage to a
    /// valid file never panics, and a torn tail's cut point rescans clean.
    #[test]
    fn random_damage_properties() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
        let mut good = Vec::new();
        for i in 0..40 {
            let mut batch = cmd(&["SET", &format!("k{i}"), &"v".repeat(i % 7)]);
            if i % 5 == 0 {
                batch = [cmd(&["MULTI"]), batch, cmd(&["INCR", "n"]), cmd(&["EXEC"])].concat();
            }
            good.extend(with_crc(&batch));
        }
        for _ in 0..3000 {
            let mut f = good.clone();
            match rng.random_range(0..4) {
                0 => f.truncate(rng.random_range(0..f.len())),
                1 => {
                    let i = rng.random_range(0..f.len());
                    f[i] ^= 1 << rng.random_range(0..8);
                }
                2 => f.extend(vec![0u8; rng.random_range(1..600)]),
                _ => {
                    let i = rng.random_range(0..f.len());
                    f[i] = rng.random();
                    f.truncate(rng.random_range(i..f.len() + 1));
                }
            }
            let s = scan(&f, |argv, off| {
                assert!(!argv.is_empty() && off < f.len());
                Ok(())
            })
            .expect("scan");
            assert!(s.valid_up_to <= f.len());
            if s.problem.as_ref().is_some_and(|p| p.kind.is_torn()) {
                let again = scan(&f[..s.valid_up_to], |_, _| Ok(())).expect("rescan");
                assert!(again.problem.is_none(), "{:?}", again.problem);
                assert_eq!(again.commands, s.commands);
            }
        }
    }

    #[test]
    fn continuing_checksum() {
        let a = cmd(&["SET", "a", "1"]);
        let (_, s) = names(&a);
        assert_eq!(s.tail_crc, (crc64(0, &a), a.len() as u64));
    }
}
