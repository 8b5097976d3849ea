//! Configuration: every option declared once, in [`OPTIONS`].
//!
//! The same table serves the config file (`config/strata.conf`, redis.conf
//! syntax), command-line overrides (`--port 7000`), `CONFIG GET`,
//! `CONFIG SET`, `CONFIG REWRITE` and `INFO`. Values are kept as
//! validated strings in canonical form (what `CONFIG GET` prints); typed
//! accessors parse them, and [`Config::hot`] caches the few that sit on
//! hot paths.

use std::collections::BTreeMap;

use strata_storage::num::parse_i64;

/// How an option's value is parsed and validated.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// `yes` / `no`.
    Bool,
    /// An integer within bounds.
    Int { min: i64, max: i64 },
    /// A byte size with optional unit (`1gb`, `64mb`, `100k`), within bounds.
    Memory { min: i64, max: i64 },
    /// One of a fixed set of words.
    Enum(&'static [&'static str]),
    /// Free text, validated by a function.
    Text(fn(&str) -> Result<String, String>),
}

/// Option flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mutability {
    /// CONFIG SET may change it at run time.
    Runtime,
    /// Only the config file or the command line may set it.
    Immutable,
    /// CONFIG SET may change it only when `enable-protected-configs`
    /// allows (Redis's `PROTECTED_CONFIG`: `dir`, `dbfilename`).
    Protected,
}

/// One configuration option.
#[derive(Debug)]
pub struct OptionSpec {
    pub name: &'static str,
    /// Other names accepted everywhere (Redis's old `ziplist` names...).
    pub aliases: &'static [&'static str],
    pub kind: Kind,
    pub default: &'static str,
    pub mutability: Mutability,
}

const fn opt(name: &'static str, kind: Kind, default: &'static str) -> OptionSpec {
    OptionSpec {
        name,
        aliases: &[],
        kind,
        default,
        mutability: Mutability::Runtime,
    }
}

const fn fixed(name: &'static str, kind: Kind, default: &'static str) -> OptionSpec {
    OptionSpec {
        name,
        aliases: &[],
        kind,
        default,
        mutability: Mutability::Immutable,
    }
}

const fn protected(name: &'static str, kind: Kind, default: &'static str) -> OptionSpec {
    OptionSpec {
        name,
        aliases: &[],
        kind,
        default,
        mutability: Mutability::Protected,
    }
}

const fn alias(
    name: &'static str,
    aliases: &'static [&'static str],
    kind: Kind,
    default: &'static str,
) -> OptionSpec {
    OptionSpec {
        name,
        aliases,
        kind,
        default,
        mutability: Mutability::Runtime,
    }
}

const BOOL: Kind = Kind::Bool;
const fn int(min: i64, max: i64) -> Kind {
    Kind::Int { min, max }
}
const fn mem(min: i64, max: i64) -> Kind {
    Kind::Memory { min, max }
}
const I32: i64 = i32::MAX as i64;
const LL: i64 = i64::MAX;

fn any_text(s: &str) -> Result<String, String> {
    Ok(s.to_string())
}

/// `save "<seconds> <changes> [...]"` or `""`: Redis splits on single
/// spaces; seconds must be >= 1 and changes >= 0.
fn save_points(s: &str) -> Result<String, String> {
    let s = s.trim_matches('\n');
    if s.is_empty() || s == "\"\"" || s == "''" {
        return Ok(String::new());
    }
    let words: Vec<&str> = s.split(' ').collect();
    if words.len() % 2 != 0 {
        return Err("Invalid save parameters".into());
    }
    let mut out = Vec::with_capacity(words.len());
    for (j, w) in words.iter().enumerate() {
        let n = if w.is_empty() {
            Some(0)
        } else {
            parse_i64(w.as_bytes())
        };
        match n {
            Some(n) if (j % 2 == 0 && n >= 1) || (j % 2 == 1 && n >= 0) => out.push(n.to_string()),
            _ => return Err("Invalid save parameters".into()),
        }
    }
    Ok(out.join(" "))
}

/// `client-output-buffer-limit <class> <hard> <soft> <seconds> [...]`.
fn output_buffer_limits(s: &str) -> Result<String, String> {
    let words: Vec<&str> = s.split_whitespace().collect();
    if words.is_empty() || words.len() % 4 != 0 {
        return Err("Wrong number of arguments in buffer limit configuration.".into());
    }
    let mut current: BTreeMap<&str, [i64; 3]> = BTreeMap::new();
    current.insert("normal", [0, 0, 0]);
    current.insert("slave", [256 << 20, 64 << 20, 60]);
    current.insert("pubsub", [32 << 20, 8 << 20, 60]);
    for chunk in words.chunks(4) {
        let class = match chunk[0].to_ascii_lowercase().as_str() {
            "normal" => "normal",
            "slave" | "replica" => "slave",
            "pubsub" => "pubsub",
            _ => {
                return Err("Invalid client class specified in buffer limit configuration.".into())
            }
        };
        let hard = parse_memory(chunk[1])
            .ok_or("Error in hard, soft or soft_seconds setting in buffer limit configuration.")?;
        let soft = parse_memory(chunk[2])
            .ok_or("Error in hard, soft or soft_seconds setting in buffer limit configuration.")?;
        let secs = parse_i64(chunk[3].as_bytes())
            .filter(|n| *n >= 0)
            .ok_or("Error in hard, soft or soft_seconds setting in buffer limit configuration.")?;
        current.insert(class, [hard, soft, secs]);
    }
    Ok(["normal", "slave", "pubsub"]
        .iter()
        .map(|c| {
            let [h, s, t] = current[c];
            format!("{c} {h} {s} {t}")
        })
        .collect::<Vec<_>>()
        .join(" "))
}

/// `notify-keyspace-events`: letters from `KEg$lshzxetmdnA`, normalised
/// as Redis's `keyspaceEventsFlagsToString` does (`A` for all types).
fn keyspace_events(s: &str) -> Result<String, String> {
    const TYPES: &str = "g$lshzxetdn";
    let mut seen = std::collections::HashSet::new();
    for c in s.chars() {
        match c {
            'A' => {
                for t in "g$lshzxetd".chars() {
                    seen.insert(t);
                }
            }
            c if TYPES.contains(c) || "KEm".contains(c) => {
                seen.insert(c);
            }
            _ => return Err("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".into()),
        }
    }
    let mut out = String::new();
    if "g$lshzxetd".chars().all(|c| seen.contains(&c)) {
        // As Redis: `A` hides `n` (new-key events are not part of `A`).
        out.push('A');
    } else {
        out.extend("g$lshzxetdn".chars().filter(|c| seen.contains(c)));
    }
    out.extend("KEm".chars().filter(|c| seen.contains(c)));
    Ok(out)
}

/// `latency-tracking-info-percentiles`: floats in 0..=100.
fn percentiles(s: &str) -> Result<String, String> {
    let mut out = Vec::new();
    for w in s.split(' ').filter(|w| !w.is_empty()) {
        match strata_storage::num::parse_f64(w.as_bytes()) {
            Some(f) if (0.0..=100.0).contains(&f) => out.push(w.to_string()),
            Some(_) => {
                return Err(
                    "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"
                        .into(),
                )
            }
            None => return Err("Invalid latency-tracking-info-percentiles parameters".into()),
        }
    }
    Ok(out.join(" "))
}

/// `shutdown-on-sigint` / `shutdown-on-sigterm`.
fn shutdown_on_signal(s: &str) -> Result<String, String> {
    let mut words: Vec<String> = Vec::new();
    for w in s.split(' ').filter(|w| !w.is_empty()) {
        let w = w.to_ascii_lowercase();
        if !["default", "save", "nosave", "now", "force"].contains(&w.as_str()) {
            return Err(
                "argument(s) must be one of the following: default, save, nosave, now, force"
                    .into(),
            );
        }
        words.push(w);
    }
    if words.is_empty() {
        return Err(
            "argument(s) must be one of the following: default, save, nosave, now, force".into(),
        );
    }
    Ok(words.join(" "))
}

/// `maxmemory-clients`: a memory value or a percentage of `maxmemory`.
fn memory_or_percent(s: &str) -> Result<String, String> {
    if let Some(p) = s.strip_suffix('%') {
        return match parse_i64(p.as_bytes()) {
            Some(n) if n >= 0 => Ok(format!("{n}%")),
            _ => Err("argument must be a memory or percent value".into()),
        };
    }
    parse_memory(s)
        .map(|n| n.to_string())
        .ok_or_else(|| "argument must be a memory or percent value".into())
}

const POLICIES: &[&str] = &[
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "noeviction",
];

/// Every option Strata knows, with Redis's names and defaults.
pub static OPTIONS: &[OptionSpec] = &[
    // Network.
    // CONFIG SET bind is accepted (Redis allows it) but the listener is
    // only bound at startup.
    opt("bind", Kind::Text(any_text), "127.0.0.1"),
    fixed("bind-source-addr", Kind::Text(any_text), ""),
    opt("port", int(0, 65535), "6379"),
    opt("protected-mode", BOOL, "yes"),
    fixed("tcp-backlog", int(0, I32), "511"),
    fixed("unixsocket", Kind::Text(any_text), ""),
    fixed("unixsocketperm", int(0, 0o777), "0"),
    opt("timeout", int(0, I32), "0"),
    opt("tcp-keepalive", int(0, I32), "300"),
    opt("socket-mark-id", int(0, u32::MAX as i64), "0"),
    opt("maxclients", int(1, u32::MAX as i64), "10000"),
    // General.
    fixed("daemonize", BOOL, "no"),
    fixed("pidfile", Kind::Text(any_text), ""),
    opt(
        "loglevel",
        Kind::Enum(&["debug", "verbose", "notice", "warning"]),
        "notice",
    ),
    fixed("logfile", Kind::Text(any_text), ""),
    fixed("syslog-enabled", BOOL, "no"),
    fixed("syslog-ident", Kind::Text(any_text), "redis"),
    fixed("syslog-facility", Kind::Text(any_text), "local0"),
    fixed("databases", int(1, I32), "16"),
    fixed("io-threads", int(1, 128), "1"),
    fixed("io-threads-do-reads", BOOL, "no"),
    opt("hz", int(0, I32), "10"),
    opt("dynamic-hz", BOOL, "yes"),
    fixed(
        "enable-debug-command",
        Kind::Enum(&["no", "yes", "local"]),
        "no",
    ),
    fixed(
        "enable-protected-configs",
        Kind::Enum(&["no", "yes", "local"]),
        "no",
    ),
    fixed(
        "enable-module-command",
        Kind::Enum(&["no", "yes", "local"]),
        "no",
    ),
    fixed(
        "supervised",
        Kind::Enum(&["upstart", "systemd", "auto", "no"]),
        "no",
    ),
    fixed("always-show-logo", BOOL, "no"),
    opt("set-proc-title", BOOL, "yes"),
    opt(
        "proc-title-template",
        Kind::Text(any_text),
        "{title} {listen-addr} {server-mode}",
    ),
    opt("crash-log-enabled", BOOL, "yes"),
    opt("crash-memcheck-enabled", BOOL, "yes"),
    fixed("disable-thp", BOOL, "yes"),
    opt("latency-tracking", BOOL, "yes"),
    opt(
        "latency-tracking-info-percentiles",
        Kind::Text(percentiles),
        "50 99 99.9",
    ),
    opt(
        "shutdown-on-sigint",
        Kind::Text(shutdown_on_signal),
        "default",
    ),
    opt(
        "shutdown-on-sigterm",
        Kind::Text(shutdown_on_signal),
        "default",
    ),
    opt("shutdown-timeout", int(0, I32), "10"),
    opt("ignore-warnings", Kind::Text(any_text), ""),
    opt(
        "oom-score-adj",
        Kind::Enum(&["no", "yes", "relative", "absolute"]),
        "no",
    ),
    opt("oom-score-adj-values", Kind::Text(any_text), "0 200 800"),
    // Security.
    opt("requirepass", Kind::Text(any_text), ""),
    fixed("aclfile", Kind::Text(any_text), ""),
    opt("acllog-max-len", int(0, LL), "128"),
    opt(
        "acl-pubsub-default",
        Kind::Enum(&["allchannels", "resetchannels"]),
        "resetchannels",
    ),
    // Limits.
    opt("proto-max-bulk-len", mem(1024 * 1024, LL), "536870912"),
    opt(
        "client-query-buffer-limit",
        mem(1024 * 1024, LL),
        "1073741824",
    ),
    opt(
        "client-output-buffer-limit",
        Kind::Text(output_buffer_limits),
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
    ),
    opt("maxmemory-clients", Kind::Text(memory_or_percent), "0"),
    // Memory and eviction.
    opt("maxmemory", mem(0, LL), "0"),
    opt("maxmemory-policy", Kind::Enum(POLICIES), "noeviction"),
    opt("maxmemory-samples", int(1, I32), "5"),
    opt("maxmemory-eviction-tenacity", int(0, 100), "10"),
    opt("lfu-log-factor", int(0, I32), "10"),
    opt("lfu-decay-time", int(0, I32), "1"),
    opt("active-expire-effort", int(1, 10), "1"),
    // Testing aid, as in Redis: microseconds to sleep per key loaded (a
    // negative n sleeps 1 us every -n keys).
    opt("key-load-delay", int(i32::MIN as i64, I32), "0"),
    opt("activerehashing", BOOL, "yes"),
    opt("activedefrag", BOOL, "no"),
    opt("active-defrag-ignore-bytes", mem(1, LL), "104857600"),
    opt("active-defrag-threshold-lower", int(0, 1000), "10"),
    opt("active-defrag-threshold-upper", int(0, 1000), "100"),
    opt("active-defrag-cycle-min", int(1, 99), "1"),
    opt("active-defrag-cycle-max", int(1, 99), "25"),
    opt("active-defrag-max-scan-fields", int(1, LL), "1000"),
    opt("lazyfree-lazy-eviction", BOOL, "no"),
    opt("lazyfree-lazy-expire", BOOL, "no"),
    opt("lazyfree-lazy-server-del", BOOL, "no"),
    opt("lazyfree-lazy-user-del", BOOL, "no"),
    opt("lazyfree-lazy-user-flush", BOOL, "no"),
    opt("jemalloc-bg-thread", BOOL, "yes"),
    // Tiering (Strata's own options).
    opt("tiering", BOOL, "yes"),
    opt("tier-compression-level", int(1, 22), "3"),
    opt("tier-compression-dict", BOOL, "yes"),
    opt("tier-max-disk", mem(0, LL), "0"),
    fixed("tier-block-cache-size", mem(0, LL), "0"),
    // Persistence.
    opt("save", Kind::Text(save_points), "3600 1 300 100 60 10000"),
    protected("dbfilename", Kind::Text(any_text), "dump.rdb"),
    protected("dir", Kind::Text(any_text), "./"),
    opt("rdbcompression", BOOL, "yes"),
    opt("rdbchecksum", BOOL, "yes"),
    opt("rdb-del-sync-files", BOOL, "no"),
    opt("stop-writes-on-bgsave-error", BOOL, "yes"),
    opt(
        "sanitize-dump-payload",
        Kind::Enum(&["no", "yes", "clients"]),
        "no",
    ),
    opt("appendonly", BOOL, "no"),
    fixed("appendfilename", Kind::Text(any_text), "appendonly.aof"),
    fixed("appenddirname", Kind::Text(any_text), "appendonlydir"),
    opt(
        "appendfsync",
        Kind::Enum(&["everysec", "always", "no"]),
        "everysec",
    ),
    opt("no-appendfsync-on-rewrite", BOOL, "no"),
    opt("auto-aof-rewrite-percentage", int(0, I32), "100"),
    opt("auto-aof-rewrite-min-size", mem(0, LL), "67108864"),
    opt("aof-load-truncated", BOOL, "yes"),
    opt("aof-use-rdb-preamble", BOOL, "yes"),
    opt("aof-timestamp-enabled", BOOL, "no"),
    opt("aof-disable-auto-gc", BOOL, "no"),
    opt("aof-rewrite-incremental-fsync", BOOL, "yes"),
    opt("rdb-save-incremental-fsync", BOOL, "yes"),
    // Events, scripting, diagnostics.
    opt("notify-keyspace-events", Kind::Text(keyspace_events), ""),
    alias(
        "busy-reply-threshold",
        &["lua-time-limit"],
        int(0, LL),
        "5000",
    ),
    opt("slowlog-log-slower-than", int(-1, LL), "10000"),
    opt("slowlog-max-len", int(0, LL), "128"),
    opt("latency-monitor-threshold", int(0, LL), "0"),
    opt("tracking-table-max-keys", int(0, LL), "1000000"),
    // Encodings.
    alias(
        "hash-max-listpack-entries",
        &["hash-max-ziplist-entries"],
        int(0, LL),
        "512",
    ),
    alias(
        "hash-max-listpack-value",
        &["hash-max-ziplist-value"],
        int(0, LL),
        "64",
    ),
    alias(
        "list-max-listpack-size",
        &["list-max-ziplist-size"],
        int(i32::MIN as i64, I32),
        "-2",
    ),
    opt("list-compress-depth", int(0, I32), "0"),
    opt("set-max-intset-entries", int(0, LL), "512"),
    alias(
        "zset-max-listpack-entries",
        &["zset-max-ziplist-entries"],
        int(0, LL),
        "128",
    ),
    alias(
        "zset-max-listpack-value",
        &["zset-max-ziplist-value"],
        int(0, LL),
        "64",
    ),
    opt("hll-sparse-max-bytes", mem(0, LL), "3000"),
    opt("stream-node-max-bytes", mem(0, LL), "4096"),
    opt("stream-node-max-entries", int(0, LL), "100"),
    // Replication (parsed and validated; replication is not built yet).
    alias("replicaof", &["slaveof"], Kind::Text(any_text), ""),
    opt("masterauth", Kind::Text(any_text), ""),
    opt("masteruser", Kind::Text(any_text), ""),
    alias("replica-read-only", &["slave-read-only"], BOOL, "yes"),
    alias(
        "replica-serve-stale-data",
        &["slave-serve-stale-data"],
        BOOL,
        "yes",
    ),
    alias(
        "replica-ignore-maxmemory",
        &["slave-ignore-maxmemory"],
        BOOL,
        "yes",
    ),
    alias("replica-lazy-flush", &["slave-lazy-flush"], BOOL, "no"),
    alias("replica-priority", &["slave-priority"], int(0, I32), "100"),
    alias(
        "replica-announce-ip",
        &["slave-announce-ip"],
        Kind::Text(any_text),
        "",
    ),
    alias(
        "replica-announce-port",
        &["slave-announce-port"],
        int(0, 65535),
        "0",
    ),
    opt("replica-announced", BOOL, "yes"),
    opt("replica-ignore-disk-write-errors", BOOL, "no"),
    opt("repl-backlog-size", mem(1, LL), "1048576"),
    opt("repl-backlog-ttl", int(0, I32), "3600"),
    opt("repl-timeout", int(1, I32), "60"),
    alias(
        "repl-ping-replica-period",
        &["repl-ping-slave-period"],
        int(1, I32),
        "10",
    ),
    opt("repl-disable-tcp-nodelay", BOOL, "no"),
    opt("repl-diskless-sync", BOOL, "yes"),
    opt("repl-diskless-sync-delay", int(0, I32), "5"),
    opt("repl-diskless-sync-max-replicas", int(0, I32), "0"),
    opt(
        "repl-diskless-load",
        Kind::Enum(&["disabled", "on-empty-db", "swapdb"]),
        "disabled",
    ),
    alias(
        "min-replicas-to-write",
        &["min-slaves-to-write"],
        int(0, I32),
        "0",
    ),
    alias(
        "min-replicas-max-lag",
        &["min-slaves-max-lag"],
        int(0, I32),
        "10",
    ),
    opt(
        "propagation-error-behavior",
        Kind::Enum(&["ignore", "panic", "panic-on-replicas"]),
        "ignore",
    ),
    fixed("cluster-enabled", BOOL, "no"),
    // CPU affinity lists (accepted, not applied).
    fixed("server_cpulist", Kind::Text(any_text), ""),
    fixed("bio_cpulist", Kind::Text(any_text), ""),
    fixed("aof_rewrite_cpulist", Kind::Text(any_text), ""),
    fixed("bgsave_cpulist", Kind::Text(any_text), ""),
];

/// Looks an option up by name or alias (case-insensitive).
pub fn find(name: &str) -> Option<(usize, &'static OptionSpec)> {
    let lower = name.to_ascii_lowercase();
    OPTIONS
        .iter()
        .enumerate()
        .find(|(_, o)| o.name == lower || o.aliases.contains(&lower.as_str()))
}

/// Redis's `memtoull`: a byte count with optional `b`, `k`, `kb`, `m`,
/// `mb`, `g`, `gb` unit (case-insensitive; `k` = 1000, `kb` = 1024).
pub fn parse_memory(s: &str) -> Option<i64> {
    let lower = s.to_ascii_lowercase();
    let split = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '-'))
        .unwrap_or(lower.len());
    let (digits, unit) = lower.split_at(split);
    let mul: i64 = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    let n = parse_i64(digits.as_bytes())?;
    if n < 0 {
        return None;
    }
    n.checked_mul(mul)
}

/// Validates `raw` for option `spec`, returning its canonical form.
pub fn validate(spec: &OptionSpec, raw: &str) -> Result<String, String> {
    match spec.kind {
        Kind::Bool => match raw.to_ascii_lowercase().as_str() {
            "yes" => Ok("yes".into()),
            "no" => Ok("no".into()),
            _ => Err("argument must be 'yes' or 'no'".into()),
        },
        Kind::Int { min, max } => {
            let n = parse_i64(raw.as_bytes())
                .ok_or_else(|| "argument couldn't be parsed into an integer".to_string())?;
            if n < min || n > max {
                return Err(format!(
                    "argument must be between {min} and {max} inclusive"
                ));
            }
            Ok(n.to_string())
        }
        Kind::Memory { min, max } => {
            let n =
                parse_memory(raw).ok_or_else(|| "argument must be a memory value".to_string())?;
            if n < min || n > max {
                return Err(format!(
                    "argument must be between {min} and {max} inclusive"
                ));
            }
            Ok(n.to_string())
        }
        Kind::Enum(words) => {
            let lower = raw.to_ascii_lowercase();
            if words.contains(&lower.as_str()) {
                Ok(lower)
            } else {
                Err("argument(s) must be one of the following: ".to_string() + &words.join(", "))
            }
        }
        Kind::Text(check) => check(raw),
    }
}

/// Encoding thresholds of the collection types (Redis's listpack and
/// intset limits), kept parsed for the write paths.
#[derive(Clone, Copy, Debug)]
pub struct Encodings {
    pub hash_max_listpack_entries: usize,
    pub hash_max_listpack_value: usize,
    /// Positive: max entries per list node; negative -1..-5: node size
    /// limit 4/8/16/32/64 KiB.
    pub list_max_listpack_size: i64,
    pub set_max_intset_entries: usize,
    pub zset_max_listpack_entries: usize,
    pub zset_max_listpack_value: usize,
}

/// Values read often enough to keep parsed.
#[derive(Clone, Debug)]
pub struct Hot {
    pub encodings: Encodings,
    pub proto_max_bulk_len: i64,
    pub client_query_buffer_limit: i64,
    pub requirepass: Option<String>,
    pub protected_mode: bool,
    pub maxmemory: i64,
    pub maxclients: i64,
    pub slowlog_slower_than: i64,
    pub slowlog_max_len: usize,
    pub databases: usize,
    pub hz: i64,
}

/// The server's configuration: one canonical string per option.
#[derive(Clone, Debug)]
pub struct Config {
    values: Vec<String>,
    /// Path of the config file, for CONFIG REWRITE.
    pub file: Option<std::path::PathBuf>,
    pub hot: Hot,
}

impl Default for Config {
    fn default() -> Self {
        Config::new()
    }
}

/// Bumped by every option change: connections cache the limits they
/// apply while reading and re-read them when this moves (no lock needed
/// to notice).
static GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The current option generation (see `GENERATION`).
pub fn generation() -> u64 {
    GENERATION.load(std::sync::atomic::Ordering::Relaxed)
}

impl Config {
    pub fn new() -> Config {
        let values = OPTIONS.iter().map(|o| o.default.to_string()).collect();
        let mut c = Config {
            values,
            file: None,
            hot: placeholder_hot(),
        };
        c.refresh_hot();
        c
    }

    /// The canonical value of an option, by its primary name.
    pub fn get(&self, name: &str) -> &str {
        match find(name) {
            Some((i, _)) => &self.values[i],
            None => "",
        }
    }

    pub fn get_int(&self, name: &str) -> i64 {
        parse_i64(self.get(name).as_bytes()).unwrap_or(0)
    }

    pub fn get_bool(&self, name: &str) -> bool {
        self.get(name) == "yes"
    }

    /// Sets an option from text (validated). `startup` allows immutable
    /// options (config file and command line).
    pub fn set(&mut self, name: &str, raw: &str, startup: bool) -> Result<(), String> {
        GENERATION.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (i, spec) = find(name)
            .ok_or_else(|| "Unknown option or number of arguments for CONFIG SET".to_string())?;
        if !startup && spec.mutability == Mutability::Immutable {
            return Err("can't set immutable config".into());
        }
        if !startup
            && spec.mutability == Mutability::Protected
            && self.get("enable-protected-configs") == "no"
        {
            return Err("can't set protected config".into());
        }
        if spec.name == "daemonize" && raw.eq_ignore_ascii_case("yes") {
            return Err("daemonize is not supported; run under a supervisor".into());
        }
        // Each class given replaces only that class (Redis applies
        // `client-output-buffer-limit` incrementally).
        let v = if spec.name == "client-output-buffer-limit" {
            let words = raw.split_whitespace().count();
            if words == 0 || words % 4 != 0 {
                return Err("Wrong number of arguments in buffer limit configuration.".into());
            }
            validate(spec, &format!("{} {}", self.values[i], raw))?
        } else if spec.name == "hz" {
            // Redis stores the clamped value (CONFIG_MIN_HZ..CONFIG_MAX_HZ).
            let n = parse_i64(validate(spec, raw)?.as_bytes()).unwrap_or(10);
            n.clamp(1, 500).to_string()
        } else {
            validate(spec, raw)?
        };
        self.values[i] = v;
        self.refresh_hot();
        Ok(())
    }

    /// Iterates `(name, value)` for every option.
    pub fn iter(&self) -> impl Iterator<Item = (&'static OptionSpec, &str)> {
        OPTIONS.iter().zip(self.values.iter().map(|s| s.as_str()))
    }

    fn refresh_hot(&mut self) {
        let pass = self.get("requirepass");
        let size = |name: &str| self.get_int(name).max(0) as usize;
        let encodings = Encodings {
            hash_max_listpack_entries: size("hash-max-listpack-entries"),
            hash_max_listpack_value: size("hash-max-listpack-value"),
            list_max_listpack_size: self.get_int("list-max-listpack-size"),
            set_max_intset_entries: size("set-max-intset-entries"),
            zset_max_listpack_entries: size("zset-max-listpack-entries"),
            zset_max_listpack_value: size("zset-max-listpack-value"),
        };
        self.hot = Hot {
            encodings,
            proto_max_bulk_len: self.get_int("proto-max-bulk-len"),
            client_query_buffer_limit: self.get_int("client-query-buffer-limit"),
            requirepass: if pass.is_empty() {
                None
            } else {
                Some(pass.to_string())
            },
            protected_mode: self.get_bool("protected-mode"),
            maxmemory: self.get_int("maxmemory"),
            maxclients: self.get_int("maxclients"),
            slowlog_slower_than: self.get_int("slowlog-log-slower-than"),
            slowlog_max_len: self.get_int("slowlog-max-len").max(0) as usize,
            databases: self.get_int("databases").max(1) as usize,
            // Redis clamps the configured hz to 1..=500 (CONFIG_MIN_HZ/MAX_HZ).
            hz: self.get_int("hz").clamp(1, 500),
        };
    }

    /// Applies a redis.conf-style text. Errors name the line, as Redis does.
    pub fn load_text(&mut self, text: &str) -> Result<(), String> {
        let mut saves: Option<Vec<String>> = None;
        for (n, line) in text.lines().enumerate() {
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let fail = |msg: &str| {
                format!(
                    "Reading the configuration file, at line {}\n>>> '{}'\n{}",
                    n + 1,
                    trimmed,
                    msg
                )
            };
            let words = crate::resp::split_args(trimmed.as_bytes())
                .ok_or_else(|| fail("Unbalanced quotes in configuration line"))?;
            let words: Vec<String> = words
                .into_iter()
                .map(|w| String::from_utf8_lossy(&w).into_owned())
                .collect();
            let Some((name, args)) = words.split_first() else {
                continue;
            };
            let name = name.to_ascii_lowercase();
            if args.is_empty() {
                return Err(fail("wrong number of arguments"));
            }
            // Several `save` lines accumulate, as in redis.conf.
            if name == "save" {
                let list = saves.get_or_insert_with(Vec::new);
                if args.len() == 1 && args[0].is_empty() {
                    list.clear();
                } else {
                    list.push(args.join(" "));
                }
                continue;
            }
            if find(&name).is_none() {
                return Err(fail("Bad directive or wrong number of arguments"));
            }
            self.set(&name, &args.join(" "), true)
                .map_err(|e| fail(&e))?;
        }
        if let Some(list) = saves {
            self.set("save", &list.join(" "), true)
                .map_err(|e| format!("save: {e}"))?;
        }
        Ok(())
    }

    /// Applies command-line arguments: an optional config file first, then
    /// `--name value [value...]` overrides. As Redis does, the overrides
    /// become config lines appended to the file's text, so `save` lines
    /// accumulate and errors quote the offending line.
    pub fn load_args(&mut self, args: &[String]) -> Result<(), String> {
        let mut text = String::new();
        let mut i = 0;
        let read = |path: &str| {
            std::fs::read_to_string(path)
                .map_err(|e| format!("Fatal error, can't open config file '{path}': {e}"))
        };
        if let Some(first) = args.first() {
            if !first.starts_with("--") {
                text.push_str(&read(first)?);
                text.push('\n');
                self.file = Some(absolute(first));
                i = 1;
            }
        }
        while i < args.len() {
            let Some(name) = args[i].strip_prefix("--") else {
                return Err(format!(
                    "Invalid argument '{}': options start with --",
                    args[i]
                ));
            };
            i += 1;
            let mut values = Vec::new();
            while i < args.len() && !(args[i].starts_with("--") && args[i].len() > 2) {
                values.push(args[i].clone());
                i += 1;
            }
            if name == "config" || name == "config-file" {
                let path = values.first().ok_or("--config needs a file name")?;
                text.push_str(&read(path)?);
                text.push('\n');
                self.file = Some(absolute(path));
                continue;
            }
            if find(name).is_none() {
                return Err(format!(
                    "Bad directive or wrong number of arguments: '--{name}'"
                ));
            }
            text.push_str(name);
            if values.is_empty() {
                // `--save` alone means `save ""`, as in Redis.
                text.push_str(" \"\"");
            }
            for v in &values {
                text.push(' ');
                text.push_str(&quote(v));
            }
            text.push('\n');
        }
        self.load_text(&text)
    }
}

/// The config file's absolute path (Redis's `getAbsolutePath`), so
/// CONFIG REWRITE works whatever the working directory becomes.
fn absolute(path: &str) -> std::path::PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| std::path::PathBuf::from(path))
}

/// Does `pattern` use glob characters (CONFIG GET looks such names up
/// by matching, others exactly)?
fn is_pattern(p: &str) -> bool {
    p.contains(['*', '?', '['])
}

impl Config {
    /// CONFIG GET semantics (Redis 7.0): every pattern is matched
    /// case-insensitively against option names and aliases; a pattern
    /// without glob characters is an exact lookup answered under the name
    /// asked. Each option appears once (first name that matched).
    pub fn get_matching(&self, patterns: &[&[u8]]) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        let mut seen: Vec<String> = Vec::new();
        for pat in patterns {
            let text = String::from_utf8_lossy(pat);
            if !is_pattern(&text) {
                let lower = text.to_ascii_lowercase();
                if seen.contains(&lower) {
                    continue;
                }
                if let Some((i, _)) = find(&lower) {
                    seen.push(lower);
                    out.push((text.into_owned(), self.shown(i)));
                }
                continue;
            }
            for (i, spec) in OPTIONS.iter().enumerate() {
                for name in std::iter::once(&spec.name).chain(spec.aliases.iter()) {
                    if seen.iter().any(|s| s == name) {
                        continue;
                    }
                    if strata_storage::glob::glob_match(pat, name.as_bytes(), true) {
                        seen.push(name.to_string());
                        out.push((name.to_string(), self.shown(i)));
                    }
                }
            }
        }
        out
    }

    /// Value of option `i` as CONFIG GET shows it: `dir` is the absolute
    /// directory, as Redis answers with its working directory.
    fn shown(&self, i: usize) -> String {
        let v = &self.values[i];
        if OPTIONS[i].name == "dir" {
            if let Ok(p) = std::fs::canonicalize(v) {
                return p.display().to_string();
            }
        }
        v.clone()
    }

    /// Lines a config file needs to reproduce option `spec`'s current
    /// value (`save` and `client-output-buffer-limit` take several).
    pub fn file_lines(&self, spec: &OptionSpec) -> Vec<String> {
        let v = self.get(spec.name);
        match spec.name {
            "save" => {
                if v.is_empty() {
                    return vec!["save \"\"".to_string()];
                }
                let w: Vec<&str> = v.split(' ').collect();
                w.chunks(2)
                    .map(|c| format!("save {}", c.join(" ")))
                    .collect()
            }
            "client-output-buffer-limit" => {
                let w: Vec<&str> = v.split(' ').collect();
                w.chunks(4)
                    .map(|c| {
                        let mem = |x: &str| format_memory(parse_i64(x.as_bytes()).unwrap_or(0));
                        format!(
                            "client-output-buffer-limit {} {} {} {}",
                            c.first().copied().unwrap_or(""),
                            mem(c.get(1).copied().unwrap_or("0")),
                            mem(c.get(2).copied().unwrap_or("0")),
                            c.get(3).copied().unwrap_or("0")
                        )
                    })
                    .collect()
            }
            _ => {
                let shown = match spec.kind {
                    Kind::Memory { .. } => format_memory(parse_i64(v.as_bytes()).unwrap_or(0)),
                    Kind::Text(_) => quote(v),
                    _ => v.to_string(),
                };
                vec![format!("{} {}", spec.name, shown)]
            }
        }
    }

    /// CONFIG REWRITE on text: keeps comments and unknown lines, replaces
    /// the first line of every known option with its current value
    /// (dropping later duplicates), and appends options that differ from
    /// their defaults and were not in the file.
    pub fn rewrite_text(&self, old: &str) -> String {
        const MARK: &str = "# Generated by CONFIG REWRITE";
        let mut done = vec![false; OPTIONS.len()];
        let mut out: Vec<String> = Vec::new();
        let mut has_mark = false;
        for line in old.lines() {
            let trimmed = line.trim();
            if trimmed == MARK {
                has_mark = true;
            }
            let name = if trimmed.is_empty() || trimmed.starts_with('#') {
                None
            } else {
                crate::resp::split_args(trimmed.as_bytes())
                    .and_then(|w| w.into_iter().next())
                    .map(|w| String::from_utf8_lossy(&w).to_ascii_lowercase())
            };
            match name.as_deref().and_then(find) {
                Some((i, spec)) => {
                    if !done[i] {
                        done[i] = true;
                        out.extend(self.file_lines(spec));
                    }
                }
                None => out.push(line.to_string()),
            }
        }
        while out.last().is_some_and(|l| l.trim().is_empty()) {
            out.pop();
        }
        let mut appended = false;
        for (i, spec) in OPTIONS.iter().enumerate() {
            if done[i] || self.values[i] == spec.default {
                continue;
            }
            if !appended && !has_mark {
                out.push(MARK.to_string());
            }
            appended = true;
            out.extend(self.file_lines(spec));
        }
        let mut text = out.join("\n");
        text.push('\n');
        text
    }

    /// CONFIG REWRITE: rewrites the config file in place.
    pub fn rewrite(&self) -> Result<(), String> {
        let Some(path) = &self.file else {
            return Err("The server is running without a config file".into());
        };
        let old = std::fs::read_to_string(path).unwrap_or_default();
        let new = self.rewrite_text(&old);
        let tmp = path.with_extension("rewrite.tmp");
        std::fs::write(&tmp, new)
            .and_then(|_| std::fs::rename(&tmp, path))
            .map_err(|e| format!("Rewriting config file: {e}"))
    }
}

/// Redis's `rewriteConfigFormatMemory`: `1gb`, `64mb`, `100kb` when exact.
pub fn format_memory(n: i64) -> String {
    const GB: i64 = 1024 * 1024 * 1024;
    const MB: i64 = 1024 * 1024;
    const KB: i64 = 1024;
    if n != 0 && n % GB == 0 {
        format!("{}gb", n / GB)
    } else if n != 0 && n % MB == 0 {
        format!("{}mb", n / MB)
    } else if n != 0 && n % KB == 0 {
        format!("{}kb", n / KB)
    } else {
        n.to_string()
    }
}

/// Quotes a string value for a config file when it needs it (Redis's
/// `sdscatrepr`): empty, spaces, quotes or control characters.
pub fn quote(v: &str) -> String {
    let plain = !v.is_empty()
        && v.bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\'' && b != b'\\');
    if plain {
        return v.to_string();
    }
    let mut s = String::from("\"");
    for b in v.bytes() {
        match b {
            b'\\' => s.push_str("\\\\"),
            b'"' => s.push_str("\\\""),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            0x20..=0x7e => s.push(char::from(b)),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s.push('"');
    s
}

fn placeholder_hot() -> Hot {
    Hot {
        encodings: Encodings {
            hash_max_listpack_entries: 128,
            hash_max_listpack_value: 64,
            list_max_listpack_size: -2,
            set_max_intset_entries: 512,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
        },
        proto_max_bulk_len: 512 << 20,
        client_query_buffer_limit: 1 << 30,
        requirepass: None,
        protected_mode: true,
        maxmemory: 0,
        maxclients: 10000,
        slowlog_slower_than: 10000,
        slowlog_max_len: 128,
        databases: 16,
        hz: 10,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_like_redis() {
        let mut c = Config::new();
        let args: Vec<String> = [
            "--port",
            "7000",
            "--dir",
            "/data",
            "--maxmemory",
            "1gb",
            "--save",
            "",
            "--appendonly",
            "yes",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        c.load_args(&args).expect("valid");
        assert_eq!(c.get("port"), "7000");
        assert_eq!(c.get("maxmemory"), "1073741824");
        assert_eq!(c.get("save"), "");
        assert_eq!(c.get("appendonly"), "yes");
        assert_eq!(c.hot.maxmemory, 1 << 30);
    }

    #[test]
    fn aliases_bounds_and_immutables() {
        let mut c = Config::new();
        c.set("hash-max-ziplist-entries", "256", false)
            .expect("alias");
        assert_eq!(c.get("hash-max-listpack-entries"), "256");
        assert!(c.set("port", "70000", false).is_err());
        assert!(c.set("databases", "4", false).is_err());
        assert!(c.set("maxmemory-policy", "bogus", false).is_err());
        assert!(c.set("appendonly", "maybe", false).is_err());
    }

    #[test]
    fn config_file_text() {
        let mut c = Config::new();
        c.load_text("# comment\nport 7001\nsave 900 1\nsave 300 10\nmaxmemory 64mb\n")
            .expect("valid");
        assert_eq!(c.get("save"), "900 1 300 10");
        assert_eq!(c.hot.maxmemory, 64 << 20);
        let err = c.load_text("bogus-option 1\n").expect_err("bad");
        assert!(err.contains("line 1"), "{err}");
    }
}
