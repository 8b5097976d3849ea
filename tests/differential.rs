//! Differential test: every script in `tests/diff/*.txt` runs against
//! Debian's `redis-server` and against Strata; replies must be identical.
//!
//! Script syntax, one command per line (redis-cli quoting rules):
//! * `# ...` comments and blank lines are ignored.
//! * `!sort CMD ...` compares the reply with aggregate elements sorted.
//! * `!skip CMD ...` runs the command on both but does not compare.
//! * `!sleep MS` pauses both.
//! * `!untiered CMD ...` compares only in the plain run (for replies
//!   that legitimately depend on `maxmemory`, such as CONFIG GET).
//! Each script starts on fresh connections after FLUSHALL.
//!
//! Every script runs twice: against a plain Strata, and against one with
//! a tiny `maxmemory`, where nearly every key is spilled to the cold tier
//! between commands and read back by the next one.

mod common;

use common::{RawConn, RedisServer, Resp, TestServer};

fn split(line: &str) -> Vec<Vec<u8>> {
    strata::resp::split_args(line.as_bytes())
        .unwrap_or_else(|| panic!("bad quoting in script line {line:?}"))
}

/// Runs one script; returns mismatch descriptions.
fn run_script(
    name: &str,
    text: &str,
    redis_port: u16,
    strata_port: u16,
    tiered: bool,
) -> Vec<String> {
    let mut r = RawConn::connect(redis_port);
    let mut s = RawConn::connect(strata_port);
    assert_eq!(r.cmd(&[b"FLUSHALL"]), Resp::Simple("OK".into()));
    assert_eq!(s.cmd(&[b"FLUSHALL"]), Resp::Simple("OK".into()));
    let mut failures = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (mut mode, mut cmdline) = match line.split_once(' ') {
            Some((m, rest)) if m.starts_with('!') => (m, rest),
            _ if line.starts_with('!') => (line, ""),
            _ => ("", line),
        };
        if mode == "!untiered" {
            if tiered {
                continue;
            }
            (mode, cmdline) = match cmdline.split_once(' ') {
                Some((m, rest)) if m.starts_with('!') => (m, rest),
                _ => ("", cmdline),
            };
        }
        if mode == "!sleep" {
            let ms: u64 = cmdline.trim().parse().expect("sleep ms");
            std::thread::sleep(std::time::Duration::from_millis(ms));
            continue;
        }
        let args = split(cmdline);
        let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
        let mut want = r.cmd(&refs);
        let mut got = s.cmd(&refs);
        match mode {
            "" => {}
            "!sort" => {
                want = want.sorted();
                got = got.sorted();
            }
            "!skip" => continue,
            other => panic!("{name}:{}: unknown directive {other}", n + 1),
        }
        if want != got {
            failures.push(format!(
                "{name}:{}: {cmdline}\n    redis:  {}\n    strata: {}",
                n + 1,
                want.show(),
                got.show()
            ));
        }
    }
    failures
}

#[test]
fn differential_scripts_match_redis() {
    run_all(&[], false);
}

#[test]
fn differential_scripts_match_redis_with_everything_spilled() {
    run_all(&[("maxmemory", "1")], true);
}

fn run_all(overrides: &[(&str, &str)], tiered: bool) {
    let Some(redis) = RedisServer::require() else {
        return;
    };
    let strata = TestServer::start(overrides);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/diff");
    let mut scripts: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/diff")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    scripts.sort();
    assert!(!scripts.is_empty());
    let only = std::env::var("DIFF_ONLY").ok();
    let mut failures = Vec::new();
    let mut count = 0;
    for path in scripts {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if only.as_ref().is_some_and(|o| !name.contains(o.as_str())) {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("script");
        count += text
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.trim().starts_with('#'))
            .count();
        failures.extend(run_script(&name, &text, redis.port, strata.port, tiered));
    }
    eprintln!(
        "differential (tiered: {tiered}): {count} commands compared, {} mismatches",
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
