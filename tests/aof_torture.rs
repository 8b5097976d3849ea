//! CI-sized crash torture: `strata-torture` SIGKILLs `strata-server` at
//! random moments under a mixed write load and checks, after each
//! restart, that no acknowledged write was lost, nothing never written
//! appeared and MULTI blocks were all or nothing. 20 cycles each for
//! `appendfsync always` and `everysec` (the latter with rewrites racing
//! the kills), and both again with tiering spilling every key and
//! rewrites checkpointing the cold tier. `tools/torture.sh` runs longer campaigns.

use std::process::Command;

fn torture(args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_strata-torture"))
        .args(["--server", env!("CARGO_BIN_EXE_strata-server")])
        .args(args)
        .output()
        .expect("run strata-torture");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "torture {args:?} failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("torture passed"), "{stdout}");
}

#[test]
fn kill9_torture_always() {
    torture(&["--fsync", "always", "--cycles", "20", "--clients", "6"]);
}

#[test]
fn kill9_torture_everysec_with_rewrites() {
    torture(&[
        "--fsync",
        "everysec",
        "--cycles",
        "20",
        "--clients",
        "6",
        "--rewrites",
        "--max-ms",
        "600",
    ]);
}

/// The same with a memory limit far below the data: tiering spills and
/// promotes keys throughout, and rewrites checkpoint the cold tier in
/// place: after a kill the cold tier is rolled back to the last
/// checkpoint and the AOF tail replayed on it, and must rebuild exactly
/// what was acknowledged (no INCR, APPEND or LPUSH applied twice).
fn tiering_torture(fsync: &str) {
    torture(&[
        "--fsync",
        fsync,
        "--cycles",
        "20",
        "--clients",
        "6",
        "--maxmemory",
        "1",
        "--rewrites",
        "--max-ms",
        "600",
    ]);
}

#[test]
fn kill9_torture_everysec_while_tiering_spills() {
    tiering_torture("everysec");
}

#[test]
fn kill9_torture_always_while_tiering_spills() {
    tiering_torture("always");
}
