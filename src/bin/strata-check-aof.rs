//! `strata-check-aof [--fix] <appendonly.aof.manifest | file>`
//!
//! Checks a Strata (or Redis 7) AOF directory through its manifest, or a
//! single AOF file: reports the first problem with the file and byte
//! offset. `--fix` truncates a torn tail of the last file (the bytes after
//! the last whole command); damage in the middle is never "fixed".
//! Exit status: 0 when valid (or fixed), 1 otherwise.

use std::path::PathBuf;

fn main() {
    let mut fix = false;
    let mut target: Option<PathBuf> = None;
    for a in std::env::args().skip(1) {
        match a.as_str() {
            "--fix" => fix = true,
            "-h" | "--help" => {
                println!("Usage: strata-check-aof [--fix] <file.manifest|file.aof|file.rdb>");
                return;
            }
            _ => target = Some(PathBuf::from(a)),
        }
    }
    let Some(path) = target else {
        eprintln!("Usage: strata-check-aof [--fix] <file.manifest|file.aof|file.rdb>");
        std::process::exit(1);
    };
    let reports = match strata::aof::check::check(&path, fix) {
        Ok(r) => r,
        Err(e) => {
            println!("Error: {e}");
            std::process::exit(1);
        }
    };
    let mut ok = true;
    for r in &reports {
        println!(
            "AOF analyzed: filename={}, size={}, ok_up_to={}, diff={}, items={}, checksums={}",
            r.path.display(),
            r.size,
            r.ok_up_to,
            r.size - r.ok_up_to.min(r.size),
            r.items,
            r.checksums
        );
        match (&r.problem, r.fixed) {
            (None, _) => println!("AOF {} is valid", r.path.display()),
            (Some(p), true) => println!(
                "{}: {p}\nSuccessfully truncated AOF {} to {} bytes",
                r.path.display(),
                r.path.display(),
                r.ok_up_to
            ),
            (Some(p), false) => {
                ok = false;
                println!("{}: {p}", r.path.display());
                if r.torn {
                    println!("This is a torn tail: run with --fix to cut it (or start with aof-load-truncated yes).");
                } else {
                    println!("AOF {} is not valid: the damage is not a torn tail and can't be fixed by truncation.", r.path.display());
                }
            }
        }
    }
    if !ok {
        std::process::exit(1);
    }
}
