//! The manifest of a multi-part AOF (Redis 7.0 `aof_manifest`): one line
//! per file, `file <name> seq <n> type <b|h|i>`, base first, then history
//! files (to delete), then incremental files in sequence order.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use crate::failpoint::Failpoints;

/// One file of the AOF.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    pub name: String,
    pub seq: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    pub base: Option<Part>,
    /// Files replaced by a rewrite and not yet deleted.
    pub history: Vec<Part>,
    /// Incremental files, oldest first.
    pub incrs: Vec<Part>,
}

/// Redis's `sdsneedsrepr`.
fn needs_repr(s: &str) -> bool {
    s.is_empty()
        || s.bytes().any(|b| {
            matches!(b, b'\\' | b'"' | b'\n' | b'\r' | b'\t' | 7 | 8)
                || !(0x20..=0x7e).contains(&b)
                || b == b' '
        })
}

/// Redis's `sdscatrepr`.
fn repr(s: &str) -> String {
    let mut out = String::from("\"");
    for b in s.bytes() {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            7 => out.push_str("\\a"),
            8 => out.push_str("\\b"),
            0x20..=0x7e => out.push(char::from(b)),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push('"');
    out
}

impl Manifest {
    /// The text written to disk.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let mut line = |p: &Part, t: char| {
            let name = if needs_repr(&p.name) {
                repr(&p.name)
            } else {
                p.name.clone()
            };
            out.push_str(&format!("file {name} seq {} type {t}\n", p.seq));
        };
        if let Some(b) = &self.base {
            line(b, 'b');
        }
        for h in &self.history {
            line(h, 'h');
        }
        for i in &self.incrs {
            line(i, 'i');
        }
        out
    }

    /// Parses a manifest (Redis's `aofLoadManifestFromFile` rules).
    ///
    /// # Errors
    /// The first bad line, with its number and the reason.
    pub fn parse(text: &[u8]) -> Result<Manifest, String> {
        let mut m = Manifest::default();
        let mut last_incr = 0u64;
        for (n, raw) in text.split(|b| *b == b'\n').enumerate() {
            let lineno = n + 1;
            if raw.len() > 1024 {
                return Err(format!(
                    "line {lineno}: the AOF manifest file contains too long line"
                ));
            }
            let line = raw.strip_suffix(b"\r").unwrap_or(raw);
            if line.iter().all(|b| b.is_ascii_whitespace()) || line.first() == Some(&b'#') {
                continue;
            }
            let bad =
                |why: &str| format!("line {lineno}: invalid AOF manifest file format ({why})");
            let args = crate::resp::split_args(line).ok_or_else(|| bad("unbalanced quotes"))?;
            if args.len() < 6 || args.len() % 2 != 0 {
                return Err(bad("expected `file <name> seq <n> type <t>`"));
            }
            let (mut name, mut seq, mut kind) = (None, None, None);
            for kv in args.chunks(2) {
                match kv[0].as_slice() {
                    b"file" => name = Some(String::from_utf8_lossy(&kv[1]).into_owned()),
                    b"seq" => {
                        seq = Some(
                            std::str::from_utf8(&kv[1])
                                .ok()
                                .and_then(|s| s.parse::<u64>().ok())
                                .ok_or_else(|| bad("bad seq"))?,
                        )
                    }
                    b"type" => kind = Some(kv[1].clone()),
                    _ => {} // unknown keys are skipped, as Redis does
                }
            }
            let (Some(name), Some(seq), Some(kind)) = (name, seq, kind) else {
                return Err(bad("missing file, seq or type"));
            };
            if name.is_empty() || name.contains('/') || name == "." || name == ".." {
                return Err(format!(
                    "line {lineno}: file {name:?} in the AOF manifest can't be a path, just a filename"
                ));
            }
            let part = Part { name, seq };
            match kind.as_slice() {
                b"b" => {
                    if m.base.is_some() {
                        return Err(format!(
                            "line {lineno}: found duplicate base file information"
                        ));
                    }
                    m.base = Some(part);
                }
                b"h" => m.history.push(part),
                b"i" => {
                    if seq <= last_incr {
                        return Err(format!(
                            "line {lineno}: found a non-monotonic sequence number"
                        ));
                    }
                    last_incr = seq;
                    m.incrs.push(part);
                }
                other => {
                    return Err(format!(
                        "line {lineno}: unknown AOF file type {:?}",
                        String::from_utf8_lossy(other)
                    ))
                }
            }
        }
        Ok(m)
    }

    pub fn is_empty(&self) -> bool {
        self.base.is_none() && self.incrs.is_empty()
    }

    /// Next incremental sequence number.
    pub fn next_incr_seq(&self) -> u64 {
        self.incrs.last().map(|p| p.seq + 1).unwrap_or(1)
    }

    /// Next base sequence number.
    pub fn next_base_seq(&self) -> u64 {
        self.base.as_ref().map(|p| p.seq + 1).unwrap_or(1)
    }
}

/// `<appendfilename>.<seq>.incr.aof`
pub fn incr_name(prefix: &str, seq: u64) -> String {
    format!("{prefix}.{seq}.incr.aof")
}

/// `<appendfilename>.<seq>.base.rdb` (RDB preamble) or `.base.aof`.
pub fn base_name(prefix: &str, seq: u64, rdb: bool) -> String {
    format!("{prefix}.{seq}.base.{}", if rdb { "rdb" } else { "aof" })
}

/// `<appendfilename>.manifest`
pub fn manifest_name(prefix: &str) -> String {
    format!("{prefix}.manifest")
}

/// fsync of a directory (makes renames and new files durable).
pub fn sync_dir(dir: &Path, fp: &Failpoints) -> std::io::Result<()> {
    fp.check("aof.dir.fsync")?;
    File::open(dir)?.sync_all()
}

/// Writes `data` to `dir/name` atomically: a temporary file, fsync,
/// rename over the name, fsync of the directory.
pub fn write_atomically(
    dir: &Path,
    name: &str,
    data: &[u8],
    fp: &Failpoints,
    site: &str,
) -> std::io::Result<()> {
    let tmp = dir.join(format!("temp-{name}"));
    let result = (|| {
        let mut f = File::create(&tmp)?;
        fp.check(&format!("{site}.write"))?;
        f.write_all(data)?;
        fp.check(&format!("{site}.fsync"))?;
        f.sync_all()?;
        fp.check("aof.rename")?;
        fs::rename(&tmp, dir.join(name))?;
        sync_dir(dir, fp)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Persists `m` as the manifest of `dir`.
pub fn persist(dir: &Path, prefix: &str, m: &Manifest, fp: &Failpoints) -> std::io::Result<()> {
    write_atomically(
        dir,
        &manifest_name(prefix),
        m.to_text().as_bytes(),
        fp,
        "aof.manifest",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_errors() {
        let text = b"file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\nfile appendonly.aof.2.incr.aof seq 2 type i\n";
        let m = Manifest::parse(text).expect("parse");
        assert_eq!(m.to_text().as_bytes(), text);
        assert_eq!(m.next_incr_seq(), 3);
        assert_eq!(m.next_base_seq(), 2);
        let m = Manifest::parse(b"# comment\n\nfile \"a b\" seq 1 type b\n").expect("quoted");
        assert_eq!(m.base.as_ref().map(|p| p.name.as_str()), Some("a b"));
        assert!(m.to_text().contains("\"a b\""));
        for bad in [
            &b"file a seq 1\n"[..],
            b"file a seq 1 type b\nfile c seq 2 type b\n",
            b"file a seq 2 type i\nfile b seq 1 type i\n",
            b"file a seq x type i\n",
            b"file a seq 1 type z\n",
            b"file ../x seq 1 type i\n",
            b"file \"a seq 1 type i\n",
        ] {
            assert!(
                Manifest::parse(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
