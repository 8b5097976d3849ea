//! Loading the AOF at startup.
//!
//! With `appendonly yes` and a manifest in `dir/appenddirname`, the base
//! (RDB image or RESP) and then every incremental file are replayed in
//! manifest order; the AOF takes precedence over dump.rdb, as in Redis.
//! Commands run through the normal command handlers with a fake client,
//! with the clock held at 0 so that nothing expires during the replay (a
//! key with a past deadline may still be touched by later records, as in
//! Redis, which does not expire keys while loading); normal expiry resumes
//! once loading is done.
//!
//! A torn tail of the last file (it ends inside a command or a MULTI
//! block, or with zero bytes) is cut back to the last whole command when
//! `aof-load-truncated yes` (logged with file, offset and bytes cut; the
//! file is truncated on disk so appends continue on a record boundary),
//! and refused otherwise. Damage anywhere else (a `#CRC64` mismatch,
//! malformed bytes, a truncated file that is not the last one) stops
//! startup with the file name and byte offset.
//!
//! Without an AOF: a dump.rdb (or a pre-7.0 single `appendonly.aof`) is
//! loaded and the multi-part AOF is created from it (base + empty
//! incremental file + manifest), so switching `appendonly` on keeps the
//! data.

use std::fs;
use std::path::Path;

use bytes::Bytes;

use super::format;
use super::manifest::{self, Manifest, Part};
use crate::client::Client;
use crate::command::Ctx;
use crate::loading::Guard;
use crate::reply::Reply;
use crate::server::{now_ms, State};

/// Loads the dataset at startup and, with `appendonly yes`, starts the
/// AOF writer.
///
/// # Errors
/// Anything that prevents a faithful load, with file name and offset.
pub fn load_at_startup(state: &mut Guard<'_>) -> Result<(), String> {
    if !state.config.get_bool("appendonly") {
        return crate::persist::load_at_startup(state);
    }
    let dir = state.aof.dir.clone();
    let prefix = state.aof.prefix.clone();
    let mpath = dir.join(manifest::manifest_name(&prefix));
    let m = match fs::read(&mpath) {
        Ok(text) => Some(
            Manifest::parse(&text)
                .map_err(|e| format!("Bad AOF manifest {}: {e}", mpath.display()))?,
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(format!("can't read {}: {e}", mpath.display())),
    };
    state.prop.enabled = false;
    let started = now_ms();
    match m {
        Some(m) if !m.is_empty() => {
            let last = load_files(state, &dir, &m)?;
            *state.aof.io.manifest.lock() = m.clone();
            match last {
                Some((seq, size, tail)) => super::start_writing(state, seq, size, tail, false)
                    .map_err(|e| format!("can't open the AOF for appending: {e}"))?,
                None => {
                    // A base without incremental file (BGREWRITEAOF with
                    // appendonly no): add one.
                    let seq = m.next_incr_seq();
                    let mut next = m.clone();
                    next.incrs.push(Part {
                        name: manifest::incr_name(&prefix, seq),
                        seq,
                    });
                    super::start_writing(state, seq, 0, (0, 0), true)
                        .map_err(|e| format!("can't open the AOF for appending: {e}"))?;
                    manifest::persist(&dir, &prefix, &next, &state.aof.io.failpoints)
                        .map_err(|e| format!("can't persist {}: {e}", mpath.display()))?;
                    *state.aof.io.manifest.lock() = next;
                }
            }
            super::rewrite::remove_stale_cold(
                &dir,
                state.tier.restored_from.as_deref(),
                state.config.get_bool("aof-disable-auto-gc"),
            );
            crate::log::notice(&format!(
                "DB loaded from append only file: {:.3} seconds",
                (now_ms() - started) as f64 / 1000.0
            ));
        }
        _ => {
            refuse_orphans(&dir, &prefix)?;
            let old = Path::new(state.config.get("dir")).join(&prefix);
            if old.is_file() {
                crate::log::notice(&format!(
                    "Loading the pre-7.0 AOF {} to upgrade it",
                    old.display()
                ));
                let data = crate::loading::read_file(state, &old)
                    .map_err(|e| format!("can't read {}: {e}", old.display()))?;
                crate::loading::file_started(state, data.len() as u64);
                load_one(state, &data, &old.display().to_string(), true, false)?;
            } else {
                crate::persist::load_at_startup(state)?;
            }
            create_fresh(state)?;
        }
    }
    state.aof.rewrite_base_size = state.aof.current_size();
    state.dirty = 0;
    fix_clocks(state);
    Ok(())
}

fn base_cold_name(base: &super::rewrite::Base) -> Option<String> {
    match base {
        super::rewrite::Base::Rdb(_, Some(c)) | super::rewrite::Base::RdbStream(_, Some(c)) => {
            Some(c.name.clone())
        }
        _ => None,
    }
}

/// The cold-store checkpoint the AOF base names (`strata-cold` aux field),
/// if `appendonly yes` and the base has one: the cold tier is restored
/// from it before anything is loaded. Problems with the manifest or the
/// base are left to [`load_at_startup`], which reports them.
///
/// # Errors
/// The base names a checkpoint directory that is not there.
pub fn cold_checkpoint(state: &State) -> Result<Option<std::path::PathBuf>, String> {
    use std::io::Read;
    if !state.config.get_bool("appendonly") {
        return Ok(None);
    }
    let dir = &state.aof.dir;
    let mpath = dir.join(manifest::manifest_name(&state.aof.prefix));
    let Some(base) = fs::read(&mpath)
        .ok()
        .and_then(|t| Manifest::parse(&t).ok())
        .and_then(|m| m.base)
    else {
        return Ok(None);
    };
    let path = dir.join(&base.name);
    let mut head = Vec::new();
    let Ok(f) = fs::File::open(&path) else {
        return Ok(None);
    };
    if f.take(1 << 20).read_to_end(&mut head).is_err() || !head.starts_with(b"REDIS") {
        return Ok(None);
    }
    let Ok(mut reader) = strata_storage::rdb::file::RdbFileReader::new(&head) else {
        return Ok(None);
    };
    while let Ok(strata_storage::rdb::file::RdbItem::Aux(k, v)) = reader.next_item() {
        if &k[..] != crate::persist::COLD_AUX.as_bytes() {
            continue;
        }
        let name = String::from_utf8_lossy(&v).into_owned();
        let ckpt = dir.join(&name);
        if name.contains('/') || !ckpt.is_dir() {
            return Err(format!(
                "The AOF base {} needs its cold tier checkpoint {}, which is missing",
                path.display(),
                ckpt.display()
            ));
        }
        return Ok(Some(ckpt));
    }
    Ok(None)
}

/// An AOF directory with AOF files but no manifest is not "no AOF":
/// starting empty would lose them.
fn refuse_orphans(dir: &Path, prefix: &str) -> Result<(), String> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(());
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with(prefix) && (name.contains(".incr.") || name.contains(".base.")) {
            return Err(format!(
                "{} holds AOF file {name} but no manifest {}: refusing to start with an empty dataset (write the manifest back, see docs/formats/aof.md)",
                dir.display(),
                manifest::manifest_name(prefix)
            ));
        }
    }
    Ok(())
}

/// First start with `appendonly yes`: base from the dataset, empty
/// incremental file, manifest.
fn create_fresh(state: &mut State) -> Result<(), String> {
    let dir = state.aof.dir.clone();
    let prefix = state.aof.prefix.clone();
    fs::create_dir_all(&dir).map_err(|e| format!("can't create {}: {e}", dir.display()))?;
    let base =
        super::rewrite::snapshot(state, false).map_err(|e| format!("snapshot failed: {e}"))?;
    let io = state.aof.io.clone();
    let (name, size) = super::rewrite::write_base(&io, &dir, &prefix, 1, &base)
        .map_err(|e| format!("can't write the AOF base file: {e}"))?;
    crate::log::notice(&format!("Creating AOF base file {name} on server start"));
    let incr = Part {
        name: manifest::incr_name(&prefix, 1),
        seq: 1,
    };
    super::start_writing(state, 1, 0, (0, 0), true)
        .map_err(|e| format!("can't create the AOF incr file: {e}"))?;
    crate::log::notice(&format!(
        "Creating AOF incr file {} on server start",
        incr.name
    ));
    let m = Manifest {
        base: Some(Part { name, seq: 1 }),
        history: Vec::new(),
        incrs: vec![incr],
    };
    manifest::persist(&dir, &prefix, &m, &io.failpoints)
        .map_err(|e| format!("can't persist the AOF manifest: {e}"))?;
    *io.manifest.lock() = m;
    state.aof.base_size = size;
    super::rewrite::remove_stale_cold(&dir, base_cold_name(&base).as_deref(), false);
    Ok(())
}

/// (sequence, size, checksum tail state) of the last incremental file.
type LastIncr = Option<(u64, u64, (u64, u64))>;

fn load_files(state: &mut Guard<'_>, dir: &Path, m: &Manifest) -> Result<LastIncr, String> {
    let mut parts: Vec<(&Part, bool)> = Vec::new();
    if let Some(b) = &m.base {
        parts.push((b, true));
    }
    parts.extend(m.incrs.iter().map(|p| (p, false)));
    let mut last_incr = None;
    let n = parts.len();
    if let Some(p) = state.loading.as_mut() {
        p.total_bytes = parts
            .iter()
            .filter_map(|(part, _)| fs::metadata(dir.join(&part.name)).ok())
            .map(|m| m.len())
            .sum();
    }
    for (i, (part, is_base)) in parts.into_iter().enumerate() {
        let last = i + 1 == n;
        let path = dir.join(&part.name);
        let shown = path.display().to_string();
        let data = match crate::loading::read_file(state, &path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(format!(
                    "The AOF file {} named in the manifest ({} file, seq {}) doesn't exist",
                    shown,
                    if is_base { "base" } else { "incr" },
                    part.seq
                ))
            }
            Err(e) => return Err(format!("can't read {shown}: {e}")),
        };
        crate::log::notice(&format!(
            "Loading the AOF {} file {} ({} bytes)",
            if is_base { "base" } else { "incr" },
            part.name,
            data.len()
        ));
        crate::loading::file_started(state, data.len() as u64);
        let (size, tail) = load_one(state, &data, &shown, last, !is_base)?;
        if is_base {
            state.aof.base_size = size;
        } else {
            if let Some((_, s, _)) = last_incr {
                state.aof.older_incr_size += s;
            }
            last_incr = Some((part.seq, size, tail));
        }
    }
    Ok(last_incr)
}

/// Loads one file (RDB image or RESP). Returns its size after any cut of
/// a torn tail, and the checksum state of its last bytes.
fn load_one(
    state: &mut Guard<'_>,
    data: &[u8],
    shown: &str,
    last: bool,
    incr: bool,
) -> Result<(u64, (u64, u64)), String> {
    if !incr && data.starts_with(b"REDIS") {
        crate::persist::load_rdb_bytes(state, data, shown, true)?;
        return Ok((data.len() as u64, (0, 0)));
    }
    let scan = replay(state, data, shown)?;
    let Some(p) = scan.problem else {
        return Ok((data.len() as u64, scan.tail_crc));
    };
    if !p.kind.is_torn() {
        return Err(format!(
            "Bad file format reading the append only file {shown}: {p}. Make a backup of the AOF directory and check it with strata-check-aof"
        ));
    }
    if !last {
        return Err(format!(
            "The AOF file {shown} is truncated ({p}) but it is not the last file of the AOF"
        ));
    }
    let cut = data.len() - scan.valid_up_to;
    if !state.config.get_bool("aof-load-truncated") {
        return Err(format!(
            "Unexpected end of file reading the append only file {shown}: {p} ({cut} bytes after offset {}). You can: 1) Make a backup of your AOF file, then use strata-check-aof --fix <file>. 2) Alternatively you can set the 'aof-load-truncated' configuration option to yes and restart the server.",
            scan.valid_up_to
        ));
    }
    crate::log::warning(&format!(
        "!!! Warning: short read while loading the AOF file {shown}!!!"
    ));
    crate::log::warning(&format!(
        "AOF {shown} loaded anyway because aof-load-truncated is enabled: cut {cut} bytes at offset {} ({p})",
        scan.valid_up_to
    ));
    let f = fs::OpenOptions::new()
        .write(true)
        .open(shown)
        .map_err(|e| format!("can't open {shown} to truncate it: {e}"))?;
    f.set_len(scan.valid_up_to as u64)
        .and_then(|()| f.sync_all())
        .map_err(|e| format!("can't truncate {shown}: {e}"))?;
    let kept = &data[..scan.valid_up_to];
    let tail = format::scan(kept, |_, _| Ok(()))?.tail_crc;
    Ok((kept.len() as u64, tail))
}

/// Replays the RESP commands of one file with a fake client.
fn replay(state: &mut Guard<'_>, data: &[u8], shown: &str) -> Result<format::Scan, String> {
    let mut client = Client::new(u64::MAX, "aof".into(), String::new(), 0, true);
    client.deny_blocking = true;
    let mut reply = Reply::new(false);
    let started = now_ms();
    let mut last_report = started;
    let total = data.len().max(1);
    let mut replayed = 0u64;
    let load_delay = state.config.get_int("key-load-delay");
    format::scan(data, |argv, offset| {
        let args: Vec<Bytes> = argv.iter().map(|a| Bytes::copy_from_slice(a)).collect();
        let name = String::from_utf8_lossy(&args[0]).into_owned();
        let Some(mut cmd) = crate::command::table().get(&args[0]) else {
            return Err(format!(
                "Unknown command '{name}' reading the append only file {shown} at offset {offset}"
            ));
        };
        if !cmd.subcommands.is_empty() && args.len() >= 2 {
            if let Some(sub) = cmd.subcommand(&args[1]) {
                cmd = sub;
            }
        }
        if !cmd.arity_ok(args.len()) {
            return Err(format!(
                "Wrong number of arguments for '{name}' reading the append only file {shown} at offset {offset}"
            ));
        }
        {
            let mut ctx = Ctx {
                state: &mut *state,
                client: &mut client,
                reply: &mut reply,
                args: &args,
                cmd,
                // Nothing expires while loading (see the module docs).
                now_ms: 0,
            };
            // Errors of replayed commands are ignored, as Redis does.
            let _ = (cmd.handler)(&mut ctx);
        }
        reply.truncate(0);
        let _ = reply.take_errors();
        state.after_command();
        state.ready_keys.clear();
        if client.multi.is_none() {
            crate::loading::let_clients_in(state, offset as u64);
        }
        replayed += 1;
        crate::persist::key_load_delay(load_delay, replayed);
        let t = now_ms();
        if t - last_report >= 1000 {
            last_report = t;
            let keys: usize = state.keyspace.dbs.iter().map(|d| d.len()).sum();
            crate::log::notice(&format!(
                "Loading AOF {shown}: {offset} of {} bytes ({:.0}%), {keys} keys",
                data.len(),
                offset as f64 * 100.0 / total as f64
            ));
        }
        Ok(())
    })
}

/// Entries created during the replay carry access clocks of time 0:
/// give them the load time instead, a few thousand at a time with the
/// clients let in between (a replay of many keys must not hold them up).
fn fix_clocks(state: &mut Guard<'_>) {
    let now = now_ms();
    for db in 0..state.keyspace.dbs.len() {
        let mut cursor = 0;
        loop {
            cursor = state.keyspace.dbs[db].fix_zero_clocks(cursor, now, 4096);
            if cursor == 0 {
                break;
            }
            crate::loading::hand_over(state);
        }
    }
}
