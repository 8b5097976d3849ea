//! `strata-loadgen`: load generator for Strata's tiering benchmarks (W3 and
//! W3s in docs/benchmarks.md), usable against any Redis-protocol server.
//!
//! Keys are `<prefix>:<index>` for index in `0..--keys`. Each request draws a
//! key rank from a Zipf distribution (rank 0 = hottest; uniform with
//! `--zipf 0`), maps it to an index through a fixed permutation (so hot keys
//! are scattered over the keyspace), and is a GET or (with probability
//! `1 - --get-ratio`) a SET of a value of `--value-size` bytes whose first
//! `--compressibility` fraction is repetitive text and the rest random bytes.
//!
//! Latency is measured per request, from the write of its pipelined batch to
//! the read that completed its reply, into HDR histograms: all requests, hot
//! ones (rank < `--hot-keys`) and cold ones. `--sweep` adds one connection
//! walking the keyspace with SCAN + GET for the whole run.

mod resp;
mod zipf;

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use hdrhistogram::Histogram;
use rand::rngs::SmallRng;
use rand::{Rng, RngCore, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use resp::{Kind, Reply};

#[derive(Parser, Debug, Clone)]
#[command(
    name = "strata-loadgen",
    version,
    about = "Zipf GET/SET load generator with hot/cold HDR latency and an optional SCAN sweep",
    after_help = "Without --duration or --requests: runs 10 s, or with --fill only fills and exits.\n\
                  With --json the text report goes to stderr and one JSON line to stdout.\n\
                  Exit status: 0 ok, 1 connection or protocol error, 2 bad arguments."
)]
struct Args {
    /// Server host.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Server port.
    #[arg(long, short = 'p', default_value_t = 6379)]
    port: u16,
    /// Concurrent connections of the main load (also used by --fill).
    #[arg(long, short = 'c', default_value_t = 50)]
    connections: usize,
    /// Requests per pipelined batch on each connection.
    #[arg(long, short = 'P', default_value_t = 1)]
    pipeline: usize,
    /// Seconds of measured load (after --warmup).
    #[arg(long)]
    duration: Option<f64>,
    /// Total measured requests over all connections.
    #[arg(long, short = 'n')]
    requests: Option<u64>,
    /// Seconds of unmeasured load before measuring starts.
    #[arg(long, default_value_t = 0.0)]
    warmup: f64,
    /// Keyspace size: keys are <prefix>:0 .. <prefix>:<keys-1>.
    #[arg(long, default_value_t = 100_000)]
    keys: u64,
    /// Key prefix.
    #[arg(long, default_value = "key")]
    key_prefix: String,
    /// Value size in bytes (SET and --fill).
    #[arg(long, default_value_t = 100)]
    value_size: usize,
    /// Fraction of each value that is repetitive text; the rest is random bytes.
    #[arg(long, default_value_t = 0.5)]
    compressibility: f64,
    /// Zipf exponent of key popularity (0 = uniform).
    #[arg(long, default_value_t = 0.0)]
    zipf: f64,
    /// Fraction of requests that are GET (the rest are SET).
    #[arg(long, default_value_t = 0.9)]
    get_ratio: f64,
    /// First SET every key once (pipelined); exits afterwards unless
    /// --duration or --requests is given.
    #[arg(long)]
    fill: bool,
    /// Pipeline depth of --fill.
    #[arg(long, default_value_t = 64)]
    fill_pipeline: usize,
    /// Requests whose key rank is below this are "hot" (default: keys/100).
    #[arg(long)]
    hot_keys: Option<u64>,
    /// One extra connection sweeping the keyspace (SCAN + GET) during the load.
    #[arg(long)]
    sweep: bool,
    /// COUNT of the sweep's SCAN.
    #[arg(long, default_value_t = 100)]
    sweep_count: usize,
    /// Print a one-line JSON summary on stdout (text report on stderr).
    #[arg(long)]
    json: bool,
    /// Runtime worker threads of the load generator.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Random seed (fill values depend only on it and the key index).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Seconds to wait for a connect, a write or a reply before giving up.
    #[arg(long, default_value_t = 30.0)]
    timeout: f64,
}

/// Everything the workers share, read-only.
struct Cfg {
    addr: String,
    prefix: Vec<u8>,
    keys: u64,
    pipeline: usize,
    fill_pipeline: usize,
    get_ratio: f64,
    hot_keys: u64,
    sweep_count: usize,
    timeout: Duration,
    seed: u64,
    sampler: zipf::Sampler,
    perm: zipf::Permutation,
    values: ValueGen,
}

/// Run-time coordination of the load workers.
struct Shared {
    stop: AtomicBool,
    budget: Option<AtomicU64>,
    record_start: Instant,
    deadline: Option<Instant>,
}

impl Shared {
    /// Claims up to `want` measured requests from the budget.
    fn claim(&self, want: u64) -> u64 {
        match &self.budget {
            None => want,
            Some(b) => match b.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |cur| {
                (cur > 0).then(|| cur - cur.min(want))
            }) {
                Ok(prev) => prev.min(want),
                Err(_) => 0,
            },
        }
    }
}

// ---------------------------------------------------------------------------
// Values

const PHRASE: &[u8] = b"strata tiering benchmark: the quick brown fox jumps over the lazy dog. ";

/// Builds values: `text_len` bytes of a repeated phrase, then random bytes.
struct ValueGen {
    size: usize,
    text_len: usize,
    text: Vec<u8>,
}

impl ValueGen {
    fn new(size: usize, compressibility: f64) -> ValueGen {
        let text_len = ((size as f64) * compressibility).round() as usize;
        let text_len = text_len.min(size);
        let mut text = Vec::with_capacity(text_len + PHRASE.len());
        while text.len() < text_len + PHRASE.len() {
            text.extend_from_slice(PHRASE);
        }
        ValueGen {
            size,
            text_len,
            text,
        }
    }

    /// Appends one value to `out`.
    #[inline]
    fn append<R: RngCore>(&self, rng: &mut R, out: &mut Vec<u8>) {
        let off = (rng.next_u32() as usize) % PHRASE.len();
        out.extend_from_slice(&self.text[off..off + self.text_len]);
        let start = out.len();
        out.resize(start + self.size - self.text_len, 0);
        rng.fill_bytes(&mut out[start..]);
    }
}

/// Appends `*3 SET <prefix:idx> <value>`; the value is a function of `rng`.
fn encode_set<R: RngCore>(cfg: &Cfg, key: &[u8], rng: &mut R, out: &mut Vec<u8>) {
    out.extend_from_slice(b"*3\r\n$3\r\nSET\r\n");
    resp::bulk_header(out, key.len());
    out.extend_from_slice(key);
    out.extend_from_slice(b"\r\n");
    resp::bulk_header(out, cfg.values.size);
    cfg.values.append(rng, out);
    out.extend_from_slice(b"\r\n");
}

fn make_key(cfg: &Cfg, idx: u64, key: &mut Vec<u8>) {
    key.clear();
    key.extend_from_slice(&cfg.prefix);
    key.push(b':');
    resp::push_u64(key, idx);
}

/// The generator of the value `--fill` writes for key `idx`.
fn fill_rng(seed: u64, idx: u64) -> SmallRng {
    SmallRng::seed_from_u64(seed ^ idx.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// Sum of the key lengths of `<prefix>:0 .. <prefix>:<n-1>`.
fn key_bytes(prefix_len: usize, n: u64) -> u64 {
    let mut total = n * (prefix_len as u64 + 1);
    let mut lo = 0u64;
    let mut hi = 10u64;
    let mut digits = 1u64;
    while lo < n {
        total += (hi.min(n) - lo) * digits;
        lo = hi;
        hi = hi.saturating_mul(10);
        digits += 1;
    }
    total
}

// ---------------------------------------------------------------------------
// Connection

struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    timeout: Duration,
}

impl Conn {
    async fn connect(addr: &str, timeout: Duration) -> Result<Conn, String> {
        let stream = match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Err(_) => return Err(format!("connect {addr}: timed out")),
            Ok(Err(e)) => return Err(format!("connect {addr}: {e}")),
            Ok(Ok(s)) => s,
        };
        stream
            .set_nodelay(true)
            .map_err(|e| format!("set_nodelay: {e}"))?;
        Ok(Conn {
            stream,
            buf: vec![0; 64 * 1024],
            start: 0,
            end: 0,
            timeout,
        })
    }

    async fn send(&mut self, data: &[u8]) -> Result<(), String> {
        match tokio::time::timeout(self.timeout, self.stream.write_all(data)).await {
            Err(_) => Err("write: timed out".into()),
            Ok(Err(e)) => Err(format!("write: {e}")),
            Ok(Ok(())) => Ok(()),
        }
    }

    /// Reads more bytes into the buffer; EOF and timeouts are errors.
    async fn fill(&mut self) -> Result<(), String> {
        const MIN_ROOM: usize = 16 * 1024;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        if self.buf.len() - self.end < MIN_ROOM {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if self.buf.len() - self.end < MIN_ROOM {
                let n = self.buf.len() * 2;
                self.buf.resize(n, 0);
            }
        }
        let read = self.stream.read(&mut self.buf[self.end..]);
        match tokio::time::timeout(self.timeout, read).await {
            Err(_) => Err(format!(
                "no reply within {:.1} s (--timeout)",
                self.timeout.as_secs_f64()
            )),
            Ok(Err(e)) => Err(format!("read: {e}")),
            Ok(Ok(0)) => Err("connection closed by the server".into()),
            Ok(Ok(n)) => {
                self.end += n;
                Ok(())
            }
        }
    }

    fn pending(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    async fn read_reply(&mut self) -> Result<Reply, String> {
        loop {
            if let Some((r, n)) = resp::parse(self.pending())? {
                self.start += n;
                return Ok(r);
            }
            self.fill().await?;
        }
    }

    /// Reads `n` replies with [`resp::skip`], calling `each(i, kind, text,
    /// completed_at)` for each (`text` is the error text of error replies).
    async fn read_replies<F>(
        &mut self,
        n: usize,
        sent_at: Instant,
        mut each: F,
    ) -> Result<(), String>
    where
        F: FnMut(usize, Kind, &[u8], Instant),
    {
        let mut got = 0;
        let mut t = sent_at;
        while got < n {
            while got < n {
                let pending = self.pending();
                match resp::skip(pending)? {
                    None => break,
                    Some((kind, len)) => {
                        let text = match kind {
                            Kind::Error { start, end } => &pending[start..end],
                            _ => &[][..],
                        };
                        each(got, kind, text, t);
                        self.start += len;
                        got += 1;
                    }
                }
            }
            if got < n {
                self.fill().await?;
                t = Instant::now();
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Statistics

/// Highest latency recorded (microseconds); larger values saturate.
const HIST_MAX_US: u64 = 600_000_000;

fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIST_MAX_US, 3).expect("valid histogram bounds")
}

fn micros(from: Instant, to: Instant) -> u64 {
    to.saturating_duration_since(from).as_micros() as u64
}

#[derive(Default)]
struct Errors {
    count: u64,
    first: Option<String>,
}

impl Errors {
    fn add(&mut self, text: &[u8]) {
        self.count += 1;
        if self.first.is_none() {
            self.first = Some(String::from_utf8_lossy(text).into_owned());
        }
    }

    fn merge(&mut self, o: &Errors) {
        self.count += o.count;
        if self.first.is_none() {
            self.first.clone_from(&o.first);
        }
    }
}

struct LoadStats {
    all: Histogram<u64>,
    hot: Histogram<u64>,
    cold: Histogram<u64>,
    gets: u64,
    sets: u64,
    nulls: u64,
    errors: Errors,
    last_reply: Option<Instant>,
}

impl LoadStats {
    fn new() -> LoadStats {
        LoadStats {
            all: new_hist(),
            hot: new_hist(),
            cold: new_hist(),
            gets: 0,
            sets: 0,
            nulls: 0,
            errors: Errors::default(),
            last_reply: None,
        }
    }

    fn merge(&mut self, o: &LoadStats) {
        // Same bounds everywhere: add cannot fail.
        let _ = self.all.add(&o.all);
        let _ = self.hot.add(&o.hot);
        let _ = self.cold.add(&o.cold);
        self.gets += o.gets;
        self.sets += o.sets;
        self.nulls += o.nulls;
        self.errors.merge(&o.errors);
        self.last_reply = match (self.last_reply, o.last_reply) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
}

// ---------------------------------------------------------------------------
// Workers

#[derive(Clone, Copy)]
struct Meta {
    hot: bool,
    get: bool,
}

async fn load_worker(id: usize, cfg: Arc<Cfg>, sh: Arc<Shared>) -> Result<LoadStats, String> {
    let mut conn = Conn::connect(&cfg.addr, cfg.timeout).await?;
    let mut rng = SmallRng::seed_from_u64(
        cfg.seed
            .wrapping_mul(0x2545_F491_4F6C_DD1D)
            .wrapping_add(id as u64 + 1),
    );
    let mut stats = LoadStats::new();
    let mut out = Vec::with_capacity(cfg.pipeline * (cfg.values.size + 64));
    let mut meta = Vec::with_capacity(cfg.pipeline);
    let mut key = Vec::with_capacity(cfg.prefix.len() + 24);
    loop {
        if sh.stop.load(Ordering::Relaxed) {
            break;
        }
        let now = Instant::now();
        if sh.deadline.is_some_and(|d| now >= d) {
            break;
        }
        let measured = now >= sh.record_start;
        let n = if measured {
            sh.claim(cfg.pipeline as u64) as usize
        } else {
            cfg.pipeline
        };
        if n == 0 {
            break;
        }
        out.clear();
        meta.clear();
        for _ in 0..n {
            let rank = cfg.sampler.sample(&mut rng);
            make_key(&cfg, cfg.perm.index(rank), &mut key);
            let get = rng.random::<f64>() < cfg.get_ratio;
            if get {
                resp::encode(&mut out, &[b"GET", &key]);
            } else {
                encode_set(&cfg, &key, &mut rng, &mut out);
            }
            meta.push(Meta {
                hot: rank < cfg.hot_keys,
                get,
            });
        }
        let sent = Instant::now();
        conn.send(&out).await?;
        let st = &mut stats;
        conn.read_replies(n, sent, |i, kind, text, at| {
            if !measured {
                return;
            }
            let m = meta[i];
            match kind {
                Kind::Null if m.get => st.nulls += 1,
                Kind::Error { .. } => st.errors.add(text),
                _ => {}
            }
            if m.get {
                st.gets += 1;
            } else {
                st.sets += 1;
            }
            let us = micros(sent, at);
            st.all.saturating_record(us);
            if m.hot {
                st.hot.saturating_record(us);
            } else {
                st.cold.saturating_record(us);
            }
            st.last_reply = Some(at);
        })
        .await?;
    }
    Ok(stats)
}

struct SweepStats {
    keys: u64,
    passes: u64,
    elapsed: Duration,
    get: Histogram<u64>,
    errors: Errors,
}

/// Walks the keyspace with SCAN + pipelined GETs of each returned batch,
/// over and over, until the load stops.
async fn sweep_worker(cfg: Arc<Cfg>, sh: Arc<Shared>) -> Result<SweepStats, String> {
    let mut conn = Conn::connect(&cfg.addr, cfg.timeout).await?;
    let started = Instant::now();
    let count = cfg.sweep_count.to_string();
    let mut cursor = b"0".to_vec();
    let mut out = Vec::new();
    let mut st = SweepStats {
        keys: 0,
        passes: 0,
        elapsed: Duration::ZERO,
        get: new_hist(),
        errors: Errors::default(),
    };
    while !sh.stop.load(Ordering::Relaxed) {
        out.clear();
        resp::encode(&mut out, &[b"SCAN", &cursor, b"COUNT", count.as_bytes()]);
        conn.send(&out).await?;
        let (next, batch) = match conn.read_reply().await? {
            Reply::Array(v) => match <[Reply; 2]>::try_from(v) {
                Ok([Reply::Bulk(c), Reply::Array(keys)]) => (c, keys),
                _ => return Err("SCAN: unexpected reply shape".into()),
            },
            Reply::Error(e) => return Err(format!("SCAN: {}", String::from_utf8_lossy(&e))),
            other => return Err(format!("SCAN: unexpected reply {other:?}")),
        };
        out.clear();
        let mut n = 0;
        for k in &batch {
            if let Reply::Bulk(k) = k {
                resp::encode(&mut out, &[b"GET", k]);
                n += 1;
            }
        }
        if n > 0 {
            let sent = Instant::now();
            conn.send(&out).await?;
            let (hist, errors) = (&mut st.get, &mut st.errors);
            conn.read_replies(n, sent, |_, kind, text, at| {
                if let Kind::Error { .. } = kind {
                    errors.add(text);
                }
                hist.saturating_record(micros(sent, at));
            })
            .await?;
            st.keys += n as u64;
        }
        if next == b"0" {
            st.passes += 1;
        }
        cursor = next;
    }
    st.elapsed = started.elapsed();
    Ok(st)
}

struct FillStats {
    keys: u64,
    errors: Errors,
}

async fn fill_worker(
    cfg: Arc<Cfg>,
    next: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) -> Result<FillStats, String> {
    let mut conn = Conn::connect(&cfg.addr, cfg.timeout).await?;
    let chunk = cfg.fill_pipeline as u64;
    let mut out = Vec::with_capacity(cfg.fill_pipeline * (cfg.values.size + 64));
    let mut key = Vec::new();
    let mut st = FillStats {
        keys: 0,
        errors: Errors::default(),
    };
    while !stop.load(Ordering::Relaxed) {
        let first = next.fetch_add(chunk, Ordering::Relaxed);
        if first >= cfg.keys {
            break;
        }
        let last = (first + chunk).min(cfg.keys);
        out.clear();
        for idx in first..last {
            make_key(&cfg, idx, &mut key);
            encode_set(&cfg, &key, &mut fill_rng(cfg.seed, idx), &mut out);
        }
        let n = (last - first) as usize;
        conn.send(&out).await?;
        let errors = &mut st.errors;
        conn.read_replies(n, Instant::now(), |_, kind, text, _| {
            if let Kind::Error { .. } = kind {
                errors.add(text);
            }
        })
        .await?;
        st.keys += n as u64;
    }
    Ok(st)
}

/// Awaits every task; the first failures are returned as one message.
async fn join_all<T>(
    handles: Vec<tokio::task::JoinHandle<Result<T, String>>>,
    stop: &AtomicBool,
) -> Result<Vec<T>, String> {
    let mut ok = Vec::with_capacity(handles.len());
    let mut errs: Vec<String> = Vec::new();
    for (i, h) in handles.into_iter().enumerate() {
        match h.await {
            Ok(Ok(v)) => ok.push(v),
            Ok(Err(e)) => {
                stop.store(true, Ordering::Relaxed);
                errs.push(format!("connection {i}: {e}"));
            }
            Err(e) => {
                stop.store(true, Ordering::Relaxed);
                errs.push(format!("connection {i}: task failed: {e}"));
            }
        }
    }
    if errs.is_empty() {
        Ok(ok)
    } else {
        let more = errs.len().saturating_sub(3);
        errs.truncate(3);
        if more > 0 {
            errs.push(format!("... and {more} more"));
        }
        Err(errs.join("; "))
    }
}

// ---------------------------------------------------------------------------
// Report

/// Builds the text report and the flat JSON object side by side.
struct Report {
    text: String,
    json: Vec<(String, String)>,
}

impl Report {
    fn num(&mut self, k: &str, v: impl std::fmt::Display) {
        self.json.push((k.to_string(), v.to_string()));
    }

    fn float(&mut self, k: &str, v: f64, decimals: usize) {
        let s = if v.is_finite() {
            format!("{v:.decimals$}")
        } else {
            "null".to_string()
        };
        self.json.push((k.to_string(), s));
    }

    fn str(&mut self, k: &str, v: &str) {
        self.json.push((k.to_string(), json_string(v)));
    }

    fn line(&mut self, s: &str) {
        self.text.push_str(s);
        self.text.push('\n');
    }

    fn hist(&mut self, name: &str, label: &str, h: &Histogram<u64>) {
        let q = |p: f64| {
            if h.is_empty() {
                0
            } else {
                h.value_at_quantile(p)
            }
        };
        let ms = |us: u64| us as f64 / 1000.0;
        let (p50, p90, p99, p999, max) = (q(0.5), q(0.9), q(0.99), q(0.999), h.max());
        self.line(&format!(
            "{label:<16} {:>11} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9.3}",
            h.len(),
            h.mean() / 1000.0,
            ms(p50),
            ms(p90),
            ms(p99),
            ms(p999),
            ms(max)
        ));
        self.num(&format!("{name}_count"), h.len());
        self.float(&format!("{name}_mean_us"), h.mean(), 1);
        for (k, v) in [
            ("p50", p50),
            ("p90", p90),
            ("p99", p99),
            ("p999", p999),
            ("max", max),
        ] {
            self.num(&format!("{name}_{k}_us"), v);
        }
    }

    fn json_line(&self) -> String {
        let body: Vec<String> = self
            .json
            .iter()
            .map(|(k, v)| format!("{}:{}", json_string(k), v))
            .collect();
        format!("{{{}}}", body.join(","))
    }
}

fn json_string(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn rate(n: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        n as f64 / secs
    } else {
        0.0
    }
}

// ---------------------------------------------------------------------------
// Main

fn validate(a: &Args) -> Result<(), String> {
    let checks: [(bool, &str); 12] = [
        (a.connections >= 1, "--connections must be >= 1"),
        (a.pipeline >= 1, "--pipeline must be >= 1"),
        (a.fill_pipeline >= 1, "--fill-pipeline must be >= 1"),
        (a.keys >= 1, "--keys must be >= 1"),
        (
            (0.0..=1.0).contains(&a.compressibility),
            "--compressibility must be in [0, 1]",
        ),
        (
            a.zipf.is_finite() && a.zipf >= 0.0,
            "--zipf must be a finite number >= 0",
        ),
        (
            (0.0..=1.0).contains(&a.get_ratio),
            "--get-ratio must be in [0, 1]",
        ),
        (
            !matches!(a.duration, Some(d) if !(d.is_finite() && d > 0.0)),
            "--duration must be > 0",
        ),
        (
            a.warmup.is_finite() && a.warmup >= 0.0,
            "--warmup must be >= 0",
        ),
        (
            a.timeout.is_finite() && a.timeout > 0.0,
            "--timeout must be > 0",
        ),
        (a.threads >= 1, "--threads must be >= 1"),
        (
            a.value_size <= 512 * 1024 * 1024,
            "--value-size must be <= 512 MiB",
        ),
    ];
    for (ok, msg) in checks {
        if !ok {
            return Err(msg.to_string());
        }
    }
    if a.sweep_count == 0 {
        return Err("--sweep-count must be >= 1".into());
    }
    if a.requests == Some(0) {
        return Err("--requests must be >= 1".into());
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(e) = validate(&args) {
        eprintln!("strata-loadgen: {e}");
        return ExitCode::from(2);
    }
    let rt = if args.threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()
    };
    let rt = match rt {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("strata-loadgen: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("strata-loadgen: {e}");
            ExitCode::from(1)
        }
    }
}

async fn run(a: Args) -> Result<(), String> {
    let hot_keys = a.hot_keys.unwrap_or((a.keys / 100).max(1));
    let cfg = Arc::new(Cfg {
        addr: format!("{}:{}", a.host, a.port),
        prefix: a.key_prefix.as_bytes().to_vec(),
        keys: a.keys,
        pipeline: a.pipeline,
        fill_pipeline: a.fill_pipeline,
        get_ratio: a.get_ratio,
        hot_keys,
        sweep_count: a.sweep_count,
        timeout: Duration::from_secs_f64(a.timeout),
        seed: a.seed,
        sampler: zipf::Sampler::new(a.keys, a.zipf),
        perm: zipf::Permutation::new(a.keys),
        values: ValueGen::new(a.value_size, a.compressibility),
    });
    let load = a.duration.is_some() || a.requests.is_some() || !a.fill;
    let duration = match (a.duration, a.requests) {
        (None, None) => Some(10.0),
        (d, _) => d,
    };

    let mut rep = Report {
        text: String::new(),
        json: Vec::new(),
    };
    rep.line(&format!(
        "strata-loadgen {}: {} connections, pipeline {}, keys {} (\"{}:<n>\"), value {} B \
         (compressibility {:.2}), zipf {}, get ratio {:.2}, hot = rank < {}{}",
        cfg.addr,
        a.connections,
        a.pipeline,
        a.keys,
        a.key_prefix,
        a.value_size,
        a.compressibility,
        a.zipf,
        a.get_ratio,
        hot_keys,
        if a.sweep { ", sweep" } else { "" }
    ));
    rep.str("host", &a.host);
    rep.num("port", a.port);
    rep.num("connections", a.connections);
    rep.num("pipeline", a.pipeline);
    rep.num("keys", a.keys);
    rep.num("value_size", a.value_size);
    rep.float("compressibility", a.compressibility, 3);
    rep.float("zipf", a.zipf, 3);
    rep.float("get_ratio", a.get_ratio, 3);
    rep.num("hot_keys", hot_keys);
    let payload = key_bytes(cfg.prefix.len(), a.keys) + a.keys * a.value_size as u64;
    rep.num("dataset_payload_bytes", payload);

    if a.fill {
        let next = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let t0 = Instant::now();
        let handles = (0..a.connections)
            .map(|_| tokio::spawn(fill_worker(cfg.clone(), next.clone(), stop.clone())))
            .collect();
        let res = join_all(handles, &stop)
            .await
            .map_err(|e| format!("fill: {e}"))?;
        let secs = t0.elapsed().as_secs_f64();
        let mut errors = Errors::default();
        let mut keys = 0;
        for r in &res {
            keys += r.keys;
            errors.merge(&r.errors);
        }
        rep.line(&format!(
            "fill:  {keys} keys in {secs:.2} s: {:.0} keys/s, {:.1} MB/s of payload, errors {}",
            rate(keys, secs),
            payload as f64 / 1e6 / secs.max(1e-9),
            errors.count
        ));
        if let Some(e) = &errors.first {
            rep.line(&format!("       first error: {e}"));
        }
        rep.num("fill_keys", keys);
        rep.float("fill_seconds", secs, 3);
        rep.float("fill_keys_per_s", rate(keys, secs), 0);
        rep.num("fill_payload_bytes", payload);
        rep.num("fill_errors", errors.count);
        if let Some(e) = &errors.first {
            rep.str("fill_first_error", e);
        }
    }

    if load {
        let start = Instant::now();
        let record_start = start + Duration::from_secs_f64(a.warmup);
        let sh = Arc::new(Shared {
            stop: AtomicBool::new(false),
            budget: a.requests.map(AtomicU64::new),
            record_start,
            deadline: duration.map(|d| record_start + Duration::from_secs_f64(d)),
        });
        let sweep = a
            .sweep
            .then(|| tokio::spawn(sweep_worker(cfg.clone(), sh.clone())));
        let handles = (0..a.connections)
            .map(|i| tokio::spawn(load_worker(i, cfg.clone(), sh.clone())))
            .collect();
        let res = join_all(handles, &sh.stop).await;
        sh.stop.store(true, Ordering::Relaxed);
        let sweep = match sweep {
            None => Ok(None),
            Some(h) => match h.await {
                Ok(Ok(s)) => Ok(Some(s)),
                Ok(Err(e)) => Err(format!("sweep: {e}")),
                Err(e) => Err(format!("sweep: task failed: {e}")),
            },
        };
        let (res, sweep) = match (res, sweep) {
            (Ok(r), Ok(s)) => (r, s),
            (Err(e), Ok(_)) | (Ok(_), Err(e)) => return Err(e),
            (Err(e), Err(s)) => return Err(format!("{e}; {s}")),
        };
        let mut st = LoadStats::new();
        for r in &res {
            st.merge(r);
        }
        let end = st.last_reply.unwrap_or(record_start).max(record_start);
        let secs = end.duration_since(record_start).as_secs_f64();
        let n = st.all.len();
        rep.line(&format!(
            "load:  {secs:.2} s, {n} requests, {:.0} req/s (GET {}, null {}; SET {}), errors {}",
            rate(n, secs),
            st.gets,
            st.nulls,
            st.sets,
            st.errors.count
        ));
        if let Some(e) = &st.errors.first {
            rep.line(&format!("       first error: {e}"));
        }
        rep.float("seconds", secs, 3);
        rep.num("requests", n);
        rep.float("rps", rate(n, secs), 0);
        rep.num("gets", st.gets);
        rep.num("get_nulls", st.nulls);
        rep.num("sets", st.sets);
        rep.num("errors", st.errors.count);
        if let Some(e) = &st.errors.first {
            rep.str("first_error", e);
        }
        rep.line(&format!(
            "{:<16} {:>11} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "latency ms", "count", "mean", "p50", "p90", "p99", "p99.9", "max"
        ));
        rep.hist("all", "all", &st.all);
        rep.hist("hot", &format!("hot (<{hot_keys})"), &st.hot);
        rep.hist("cold", "cold", &st.cold);
        if let Some(sw) = sweep {
            let s = sw.elapsed.as_secs_f64();
            rep.line(&format!(
                "sweep: {} keys in {s:.2} s ({} full passes): {:.0} keys/s, GET p99 {:.3} ms, errors {}",
                sw.keys,
                sw.passes,
                rate(sw.keys, s),
                sw.get.value_at_quantile(0.99) as f64 / 1000.0,
                sw.errors.count
            ));
            if let Some(e) = &sw.errors.first {
                rep.line(&format!("       first error: {e}"));
            }
            rep.num("sweep_keys", sw.keys);
            rep.num("sweep_passes", sw.passes);
            rep.float("sweep_seconds", s, 3);
            rep.float("sweep_keys_per_s", rate(sw.keys, s), 0);
            rep.num("sweep_get_p99_us", sw.get.value_at_quantile(0.99));
            rep.num("sweep_errors", sw.errors.count);
        }
    }

    if a.json {
        eprint!("{}", rep.text);
        println!("{}", rep.json_line());
    } else {
        print!("{}", rep.text);
    }
    Ok(())
}
