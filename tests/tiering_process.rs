//! Tiering measured on a real `strata-server` process (its own allocator
//! and RSS): ten times `maxmemory` of data loads, RSS stays within
//! `maxmemory` plus a fixed overhead, every key reads back, DBSIZE is
//! exact and cold keys expire.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// A value of `size` bytes, half repetitive text, half pseudo-random.
fn value(i: u64, size: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(size);
    while v.len() < size / 2 {
        v.extend_from_slice(b"the quick brown fox jumps over the lazy dog ");
    }
    v.truncate(size / 2);
    let mut x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    while v.len() < size {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.push(b'a' + (x % 26) as u8);
    }
    v
}

#[test]
fn ten_times_maxmemory_loads_with_bounded_rss() {
    const MAXMEMORY: u64 = 16 << 20;
    /// Process overhead beyond the budget: allocator retention, thread
    /// stacks, RocksDB's code and background buffers, page-cache-backed
    /// maps.
    const OVERHEAD: u64 = 64 << 20;
    let keys: u64 = 170_000;
    let size = 1024;
    let dir = tempfile::tempdir().expect("tmp");
    let port = common::free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_strata-server"))
        .args([
            "--port",
            &port.to_string(),
            "--dir",
            &dir.path().display().to_string(),
            "--save",
            "",
            "--maxmemory",
            &MAXMEMORY.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn strata-server");
    let pid = child.id();
    let _guard = Proc(child);
    let url = format!("redis://127.0.0.1:{port}/");
    let deadline = Instant::now() + Duration::from_secs(10);
    // Ready once PING answers PONG (-LOADING while the store opens).
    let mut c = loop {
        let ready = redis::Client::open(url.as_str())
            .and_then(|c| c.get_connection())
            .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c).map(|_| c));
        match ready {
            Ok(c) => break c,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => panic!("server did not start: {e}"),
        }
    };
    let mut peak_rss = 0;
    for start in (0..keys).step_by(1000) {
        let mut p = redis::pipe();
        for i in start..(start + 1000).min(keys) {
            p.cmd("SET")
                .arg(format!("key:{i}"))
                .arg(value(i, size))
                .ignore();
        }
        p.query::<()>(&mut c).expect("fill");
        peak_rss = peak_rss.max(rss_bytes(pid));
    }
    let raw = keys * size as u64;
    assert!(raw >= 10 * MAXMEMORY - (1 << 20));
    assert_eq!(
        redis::cmd("DBSIZE").query::<u64>(&mut c).expect("dbsize"),
        keys
    );
    let info: String = redis::cmd("INFO")
        .arg("tiering")
        .query(&mut c)
        .expect("info");
    let cold: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("cold_keys:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("cold_keys");
    assert!(cold > keys * 8 / 10, "only {cold} of {keys} keys went cold");
    assert!(
        peak_rss <= MAXMEMORY + OVERHEAD,
        "RSS peaked at {peak_rss} bytes for maxmemory {MAXMEMORY}"
    );
    // A deadline on every 100th key (mostly cold: the record header is
    // rewritten), let them expire, then read everything back.
    let mut p = redis::pipe();
    for i in (0..keys).step_by(100) {
        p.cmd("PEXPIRE").arg(format!("key:{i}")).arg(500).ignore();
    }
    p.query::<()>(&mut c).expect("pexpire");
    std::thread::sleep(Duration::from_millis(1200));
    for start in (0..keys).step_by(1000) {
        let mut p = redis::pipe();
        for i in start..(start + 1000).min(keys) {
            p.cmd("GET").arg(format!("key:{i}"));
        }
        let got: Vec<Option<Vec<u8>>> = p.query(&mut c).expect("read back");
        for (j, v) in got.into_iter().enumerate() {
            let i = start + j as u64;
            if i % 100 == 0 {
                assert_eq!(v, None, "key:{i} should have expired");
            } else {
                assert_eq!(v.as_deref(), Some(&value(i, size)[..]), "key:{i}");
            }
        }
        peak_rss = peak_rss.max(rss_bytes(pid));
    }
    assert_eq!(
        redis::cmd("DBSIZE").query::<u64>(&mut c).expect("dbsize"),
        keys - keys / 100
    );
    assert!(
        peak_rss <= MAXMEMORY + OVERHEAD,
        "RSS peaked at {peak_rss} bytes for maxmemory {MAXMEMORY}"
    );
    eprintln!(
        "10x maxmemory: {keys} keys, {raw} payload bytes, peak RSS {peak_rss} (maxmemory {MAXMEMORY})"
    );
}
