//! The offline checker behind `strata-check-aof` (shares the loader's
//! scanner, so it accepts and refuses exactly what startup does).

use std::fs;
use std::path::{Path, PathBuf};

use strata_storage::rdb::file::{RdbFileReader, RdbItem};

use super::format::{self, ProblemKind};
use super::manifest::Manifest;

/// Verdict on one file.
#[derive(Debug, Clone)]
pub struct FileReport {
    pub path: PathBuf,
    pub size: u64,
    /// Commands (RESP) or keys (RDB) read.
    pub items: u64,
    /// `#CRC64` annotations verified.
    pub checksums: u64,
    /// Bytes that are fine from the start.
    pub ok_up_to: u64,
    /// The first problem, with its offset.
    pub problem: Option<String>,
    /// The problem is a torn tail (`--fix` can cut it; the server cuts it
    /// with `aof-load-truncated yes` when it is in the last file).
    pub torn: bool,
    /// `--fix` truncated the file to `ok_up_to`.
    pub fixed: bool,
}

impl FileReport {
    pub fn ok(&self) -> bool {
        self.problem.is_none() || self.fixed
    }
}

/// Checks an RDB image (an RDB base).
fn check_rdb(path: &Path, data: &[u8]) -> FileReport {
    let mut r = FileReport {
        path: path.to_path_buf(),
        size: data.len() as u64,
        items: 0,
        checksums: 0,
        ok_up_to: 0,
        problem: None,
        torn: false,
        fixed: false,
    };
    let mut reader = match RdbFileReader::new(data) {
        Ok(x) => x,
        Err(e) => {
            r.problem = Some(e.to_string());
            return r;
        }
    };
    loop {
        match reader.next_item() {
            Ok(RdbItem::Eof) => {
                r.ok_up_to = data.len() as u64;
                r.checksums = 1;
                return r;
            }
            Ok(RdbItem::Entry(_)) => r.items += 1,
            Ok(_) => {}
            Err(e) => {
                r.ok_up_to = reader.offset() as u64;
                r.problem = Some(e.to_string());
                return r;
            }
        }
    }
}

/// Checks one file; `last` allows (and with `fix` cuts) a torn tail.
///
/// # Errors
/// The file can't be read (or truncated).
pub fn check_file(path: &Path, base: bool, last: bool, fix: bool) -> Result<FileReport, String> {
    let data = fs::read(path).map_err(|e| format!("can't read {}: {e}", path.display()))?;
    if base && data.starts_with(b"REDIS") {
        return Ok(check_rdb(path, &data));
    }
    let scan = format::scan(&data, |_, _| Ok(()))?;
    let mut r = FileReport {
        path: path.to_path_buf(),
        size: data.len() as u64,
        items: scan.commands,
        checksums: scan.checksums,
        ok_up_to: scan.valid_up_to as u64,
        problem: scan.problem.as_ref().map(|p| {
            let kind = match p.kind {
                ProblemKind::Truncated | ProblemKind::ZeroTail => "torn tail",
                ProblemKind::Garbage => "format error",
                ProblemKind::Checksum => "checksum error",
            };
            format!("{kind}: {p}")
        }),
        torn: scan.problem.as_ref().is_some_and(|p| p.kind.is_torn()),
        fixed: false,
    };
    if r.torn && !last {
        r.problem = r
            .problem
            .map(|p| format!("{p} (not allowed: this is not the last file of the AOF)"));
        r.torn = false;
    }
    if fix && r.torn {
        let f = fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| format!("can't open {}: {e}", path.display()))?;
        f.set_len(r.ok_up_to)
            .and_then(|()| f.sync_all())
            .map_err(|e| format!("can't truncate {}: {e}", path.display()))?;
        r.fixed = true;
    }
    Ok(r)
}

/// Checks a manifest and every file it names (or one AOF file).
///
/// # Errors
/// A missing or unreadable manifest or file, a bad manifest line.
pub fn check(path: &Path, fix: bool) -> Result<Vec<FileReport>, String> {
    let is_manifest = path
        .file_name()
        .is_some_and(|n| n.to_string_lossy().ends_with(".manifest"));
    if !is_manifest {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let base = name.contains(".base.");
        return Ok(vec![check_file(path, base, true, fix)?]);
    }
    let text = fs::read(path).map_err(|e| format!("can't read {}: {e}", path.display()))?;
    let m = Manifest::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut files: Vec<(PathBuf, bool)> = Vec::new();
    if let Some(b) = &m.base {
        files.push((dir.join(&b.name), true));
    }
    files.extend(m.incrs.iter().map(|p| (dir.join(&p.name), false)));
    let mut out = Vec::new();
    let n = files.len();
    for (i, (p, base)) in files.into_iter().enumerate() {
        if !p.exists() {
            return Err(format!(
                "{} names {} which doesn't exist",
                path.display(),
                p.display()
            ));
        }
        let r = check_file(&p, base, i + 1 == n, fix)?;
        let stop = !r.ok();
        out.push(r);
        if stop {
            break;
        }
    }
    Ok(out)
}
