//! INFO: the report Redis clients, tools and dashboards parse.
//!
//! Sections, field names and formatting follow Redis 7.0 (`# Server`
//! headers, `key:value` lines ended by CRLF, one blank line between
//! sections). Memory figures are jemalloc's own statistics; CPU times and
//! RSS come from `/proc/self`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use crate::server::State;

/// Sections printed by `INFO` / `INFO default`, in output order.
const DEFAULT: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "errorstats",
    "cluster",
    "keyspace",
];

/// Every section, in output order (`INFO all` / `INFO everything`).
const ALL: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "commandstats",
    "errorstats",
    "cluster",
    "keyspace",
    "tiering",
];

/// Memory figures from the allocator.
#[derive(Clone, Copy, Debug, Default)]
pub struct MemStats {
    pub allocated: u64,
    pub active: u64,
    pub resident: u64,
    pub mapped: u64,
    pub rss: u64,
    pub peak: u64,
    pub startup: u64,
}

static PEAK: AtomicU64 = AtomicU64::new(0);
static STARTUP: AtomicU64 = AtomicU64::new(0);

/// Bytes allocated right now (jemalloc): used memory, the RDB
/// `used-mem` field.
pub fn allocated_bytes() -> u64 {
    // Only the allocator's counter: the eviction path asks every few
    // milliseconds, and RSS costs a read of /proc.
    use tikv_jemalloc_ctl::{epoch, stats};
    let _ = epoch::advance();
    let allocated = stats::allocated::read().unwrap_or(0) as u64;
    PEAK.fetch_max(allocated, Ordering::Relaxed);
    allocated
}

/// Reads jemalloc's statistics (advancing its epoch first) and the
/// process RSS; tracks the peak.
pub fn mem_stats() -> MemStats {
    use tikv_jemalloc_ctl::{epoch, stats};
    let _ = epoch::advance();
    let allocated = stats::allocated::read().unwrap_or(0) as u64;
    let active = stats::active::read().unwrap_or(0) as u64;
    let resident = stats::resident::read().unwrap_or(0) as u64;
    let mapped = stats::mapped::read().unwrap_or(0) as u64;
    let peak = PEAK.fetch_max(allocated, Ordering::Relaxed).max(allocated);
    let _ = STARTUP.compare_exchange(0, allocated, Ordering::Relaxed, Ordering::Relaxed);
    MemStats {
        allocated,
        active,
        resident,
        mapped,
        rss: rss_bytes(),
        peak,
        startup: STARTUP.load(Ordering::Relaxed),
    }
}

/// Samples the allocator: records `used_memory_startup` on the first
/// call and keeps `used_memory_peak` current (State::new and the cron
/// call it).
pub fn sample_memory() {
    let _ = mem_stats();
}

/// Resident set size from `/proc/self/statm` (pages of 4 KiB).
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u64>().ok())
        })
        .map(|pages| pages * 4096)
        .unwrap_or(0)
}

/// Redis's `bytesToHuman`.
pub fn human(n: u64) -> String {
    let d = n as f64;
    const K: f64 = 1024.0;
    if n < 1024 {
        format!("{n}B")
    } else if d < K * K {
        format!("{:.2}K", d / K)
    } else if d < K * K * K {
        format!("{:.2}M", d / (K * K))
    } else if d < K * K * K * K {
        format!("{:.2}G", d / (K * K * K))
    } else if d < K * K * K * K * K {
        format!("{:.2}T", d / (K * K * K * K))
    } else if d < K * K * K * K * K * K {
        format!("{:.2}P", d / (K * K * K * K * K))
    } else {
        format!("{:.2}E", d / (K * K * K * K * K * K))
    }
}

/// User and system CPU seconds of the process and of its children, from
/// `/proc/self/stat` (clock ticks of 1/100 s). `getrusage` would need
/// `unsafe`, which the crate forbids.
pub fn cpu_times() -> (f64, f64, f64, f64) {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return (0.0, 0.0, 0.0, 0.0);
    };
    // Fields after the parenthesised command name start at field 3.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|x| x.parse::<f64>().unwrap_or(0.0))
        .collect();
    // utime is field 14: index 11 here.
    let get = |i: usize| f.get(i).copied().unwrap_or(0.0) / 100.0;
    (get(11), get(12), get(13), get(14))
}

fn total_system_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

fn os_line() -> String {
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    let ostype = read("/proc/sys/kernel/ostype");
    let ostype = if ostype.is_empty() {
        "Linux".to_string()
    } else {
        ostype
    };
    format!(
        "{} {} {}",
        ostype,
        read("/proc/sys/kernel/osrelease"),
        std::env::consts::ARCH
    )
}

/// Replication id (40 hex digits), fixed for the life of the process.
pub fn master_replid() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        (0..40)
            .map(|_| char::from(b"0123456789abcdef"[rand::random_range(0..16usize)]))
            .collect()
    })
}

pub fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// Selected sections; `default`, `all` and `everything` expand as Redis
/// does. Unknown names select nothing. Output order is fixed.
fn selected(args: &[&[u8]]) -> Vec<&'static str> {
    if args.is_empty() {
        return DEFAULT.to_vec();
    }
    let mut want: Vec<&'static str> = Vec::new();
    for a in args {
        let lower = String::from_utf8_lossy(a).to_ascii_lowercase();
        match lower.as_str() {
            "default" => want.extend(DEFAULT),
            "all" | "everything" => want.extend(ALL),
            other => {
                if let Some(s) = ALL.iter().find(|s| **s == other) {
                    want.push(s);
                }
            }
        }
    }
    ALL.iter().copied().filter(|s| want.contains(s)).collect()
}

/// The INFO text for `sections` (the command's arguments).
pub fn render(st: &State, sections: &[&[u8]], now_ms: i64) -> String {
    let mut out = String::new();
    for (n, section) in selected(sections).into_iter().enumerate() {
        if n > 0 {
            out.push_str("\r\n");
        }
        section_text(st, section, now_ms, &mut out);
    }
    out
}

macro_rules! line {
    ($out:expr, $($arg:tt)*) => {{
        let _ = write!($out, $($arg)*);
        $out.push_str("\r\n");
    }};
}

fn section_text(st: &State, section: &str, now_ms: i64, out: &mut String) {
    match section {
        "server" => server(st, now_ms, out),
        "clients" => clients(st, out),
        "memory" => memory(st, out),
        "persistence" => persistence(st, now_ms, out),
        "stats" => stats(st, out),
        "replication" => replication(st, out),
        "cpu" => cpu(out),
        "modules" => out.push_str("# Modules\r\n"),
        "commandstats" => commandstats(st, out),
        "errorstats" => errorstats(st, out),
        "cluster" => {
            out.push_str("# Cluster\r\n");
            line!(out, "cluster_enabled:0");
        }
        "keyspace" => keyspace(st, out),
        "tiering" => crate::tier::info(st, out),
        _ => {}
    }
}

fn server(st: &State, now_ms: i64, out: &mut String) {
    let uptime = (now_ms - st.start_ms).max(0) / 1000;
    out.push_str("# Server\r\n");
    line!(out, "redis_version:7.0.15");
    line!(out, "strata_version:{}", env!("CARGO_PKG_VERSION"));
    line!(out, "redis_git_sha1:00000000");
    line!(out, "redis_git_dirty:0");
    line!(out, "redis_build_id:{}", st.run_id.get(..16).unwrap_or("0"));
    line!(out, "redis_mode:standalone");
    line!(out, "os:{}", os_line());
    line!(out, "arch_bits:{}", usize::BITS);
    line!(out, "monotonic_clock:POSIX clock_gettime");
    line!(out, "multiplexing_api:epoll");
    line!(out, "atomicvar_api:c11-builtin");
    line!(out, "gcc_version:0.0.0");
    line!(out, "process_id:{}", std::process::id());
    line!(out, "process_supervised:no");
    line!(out, "run_id:{}", st.run_id);
    line!(out, "tcp_port:{}", st.port);
    line!(out, "server_time_usec:{}", now_ms * 1000);
    line!(out, "uptime_in_seconds:{uptime}");
    line!(out, "uptime_in_days:{}", uptime / 86400);
    line!(out, "hz:{}", st.config.hot.hz);
    line!(out, "configured_hz:{}", st.config.get("hz"));
    line!(out, "lru_clock:{}", (now_ms / 1000) & ((1 << 24) - 1));
    line!(out, "executable:{}", st.executable);
    line!(out, "config_file:{}", st.config_file);
    line!(out, "io_threads_active:0");
}

fn clients(st: &State, out: &mut String) {
    out.push_str("# Clients\r\n");
    line!(out, "connected_clients:{}", st.connected);
    line!(out, "cluster_connections:0");
    line!(out, "maxclients:{}", st.config.hot.maxclients);
    line!(out, "client_recent_max_input_buffer:0");
    line!(out, "client_recent_max_output_buffer:0");
    line!(out, "blocked_clients:{}", st.blocked_clients());
    line!(out, "tracking_clients:0");
    line!(out, "clients_in_timeout_table:0");
}

fn memory(st: &State, out: &mut String) {
    let m = mem_stats();
    // The cold store's memtables, block cache and indexes count too.
    let used = m.allocated + st.tier.store.as_ref().map_or(0, |s| s.mem_bytes());
    let overhead = m.startup.min(used);
    let dataset = used - overhead;
    let net = used.saturating_sub(m.startup);
    let sysmem = total_system_memory();
    let maxmemory = st.config.hot.maxmemory.max(0) as u64;
    let diff = |a: u64, b: u64| a as i64 - b as i64;
    out.push_str("# Memory\r\n");
    line!(out, "used_memory:{used}");
    line!(out, "used_memory_human:{}", human(used));
    line!(out, "used_memory_rss:{}", m.rss);
    line!(out, "used_memory_rss_human:{}", human(m.rss));
    line!(out, "used_memory_peak:{}", m.peak);
    line!(out, "used_memory_peak_human:{}", human(m.peak));
    line!(
        out,
        "used_memory_peak_perc:{:.2}%",
        ratio(used, m.peak) * 100.0
    );
    line!(out, "used_memory_overhead:{overhead}");
    line!(out, "used_memory_startup:{}", m.startup);
    line!(out, "used_memory_dataset:{dataset}");
    line!(
        out,
        "used_memory_dataset_perc:{:.2}%",
        ratio(dataset, net) * 100.0
    );
    line!(out, "allocator_allocated:{}", m.allocated);
    line!(out, "allocator_active:{}", m.active);
    line!(out, "allocator_resident:{}", m.resident);
    line!(out, "total_system_memory:{sysmem}");
    line!(out, "total_system_memory_human:{}", human(sysmem));
    let functions = &st.scripting.functions;
    let vm_eval = st
        .scripting
        .engine
        .as_ref()
        .map_or(0, |e| e.used_memory() as u64);
    let vm_functions = functions.vm_memory() as u64;
    let scripts_eval = 0u64;
    let functions_mem = functions.memory() as u64;
    line!(out, "used_memory_lua:{vm_eval}");
    line!(out, "used_memory_vm_eval:{vm_eval}");
    line!(out, "used_memory_lua_human:{}", human(vm_eval));
    line!(out, "used_memory_scripts_eval:{scripts_eval}");
    line!(out, "number_of_cached_scripts:{}", st.scripting.shas.len());
    line!(out, "number_of_functions:{}", functions.function_count());
    line!(out, "number_of_libraries:{}", functions.library_count());
    line!(out, "used_memory_vm_functions:{vm_functions}");
    line!(out, "used_memory_vm_total:{}", vm_eval + vm_functions);
    line!(
        out,
        "used_memory_vm_total_human:{}",
        human(vm_eval + vm_functions)
    );
    line!(out, "used_memory_functions:{functions_mem}");
    line!(out, "used_memory_scripts:{}", scripts_eval + functions_mem);
    line!(
        out,
        "used_memory_scripts_human:{}",
        human(scripts_eval + functions_mem)
    );
    line!(out, "maxmemory:{maxmemory}");
    line!(out, "maxmemory_human:{}", human(maxmemory));
    line!(
        out,
        "maxmemory_policy:{}",
        st.config.get("maxmemory-policy")
    );
    line!(
        out,
        "allocator_frag_ratio:{:.2}",
        ratio(m.active, m.allocated)
    );
    line!(out, "allocator_frag_bytes:{}", diff(m.active, m.allocated));
    line!(
        out,
        "allocator_rss_ratio:{:.2}",
        ratio(m.resident, m.active)
    );
    line!(out, "allocator_rss_bytes:{}", diff(m.resident, m.active));
    line!(out, "rss_overhead_ratio:{:.2}", ratio(m.rss, m.resident));
    line!(out, "rss_overhead_bytes:{}", diff(m.rss, m.resident));
    line!(out, "mem_fragmentation_ratio:{:.2}", ratio(m.rss, used));
    line!(out, "mem_fragmentation_bytes:{}", diff(m.rss, used));
    for zero in [
        "mem_not_counted_for_evict:0",
        "mem_replication_backlog:0",
        "mem_total_replication_buffers:0",
        "mem_clients_slaves:0",
        "mem_clients_normal:0",
        "mem_cluster_links:0",
        "mem_aof_buffer:0",
        "mem_allocator:jemalloc-5.3.0",
        "active_defrag_running:0",
        "lazyfree_pending_objects:0",
        "lazyfreed_objects:0",
    ] {
        line!(out, "{zero}");
    }
}

fn persistence(st: &State, now_ms: i64, out: &mut String) {
    out.push_str("# Persistence\r\n");
    line!(out, "loading:{}", i32::from(st.loading.is_some()));
    for fixed in [
        "async_loading:0",
        "current_cow_peak:0",
        "current_cow_size:0",
        "current_cow_size_age:0",
        "current_fork_perc:0.00",
        "current_save_keys_processed:0",
        "current_save_keys_total:0",
    ] {
        line!(out, "{fixed}");
    }
    line!(out, "rdb_changes_since_last_save:{}", st.dirty);
    line!(
        out,
        "rdb_bgsave_in_progress:{}",
        i32::from(st.rdb.bgsave_running)
    );
    line!(out, "rdb_last_save_time:{}", st.lastsave_s);
    line!(
        out,
        "rdb_last_bgsave_status:{}",
        if st.rdb.last_bgsave_ok { "ok" } else { "err" }
    );
    line!(
        out,
        "rdb_last_bgsave_time_sec:{}",
        if st.rdb.saves == 0 {
            -1
        } else {
            st.rdb.last_bgsave_secs
        }
    );
    line!(
        out,
        "rdb_current_bgsave_time_sec:{}",
        if st.rdb.bgsave_running {
            (now_ms - st.rdb.bgsave_started_ms) / 1000
        } else {
            -1
        }
    );
    line!(out, "rdb_saves:{}", st.rdb.saves);
    line!(out, "rdb_last_cow_size:0");
    line!(out, "rdb_last_load_keys_expired:{}", st.rdb.loaded_expired);
    line!(out, "rdb_last_load_keys_loaded:{}", st.rdb.loaded_keys);
    crate::aof::info(st, now_ms, out);
    if let Some(p) = &st.loading {
        let (perc, eta) = p.estimate(now_ms / 1000);
        line!(out, "loading_start_time:{}", p.start_s);
        line!(out, "loading_total_bytes:{}", p.total_bytes);
        line!(out, "loading_rdb_used_mem:{}", p.rdb_used_mem);
        line!(out, "loading_loaded_bytes:{}", p.loaded_bytes);
        line!(out, "loading_loaded_perc:{perc:.2}");
        line!(out, "loading_eta_seconds:{eta}");
    }
}

fn stats(st: &State, out: &mut String) {
    let s = &st.stats;
    out.push_str("# Stats\r\n");
    line!(
        out,
        "total_connections_received:{}",
        s.total_connections_received
    );
    line!(
        out,
        "total_commands_processed:{}",
        s.total_commands_processed
    );
    line!(out, "instantaneous_ops_per_sec:{}", s.instantaneous_ops());
    for fixed in [
        "total_net_input_bytes:0",
        "total_net_output_bytes:0",
        "total_net_repl_input_bytes:0",
        "total_net_repl_output_bytes:0",
        "instantaneous_input_kbps:0.00",
        "instantaneous_output_kbps:0.00",
        "instantaneous_input_repl_kbps:0.00",
        "instantaneous_output_repl_kbps:0.00",
    ] {
        line!(out, "{fixed}");
    }
    line!(out, "rejected_connections:{}", s.rejected_connections);
    line!(out, "sync_full:0");
    line!(out, "sync_partial_ok:0");
    line!(out, "sync_partial_err:0");
    line!(out, "expired_keys:{}", s.expired_keys);
    line!(out, "expired_stale_perc:0.00");
    line!(out, "expired_time_cap_reached_count:0");
    line!(out, "expire_cycle_cpu_milliseconds:0");
    line!(out, "evicted_keys:{}", s.evicted_keys);
    line!(out, "evicted_clients:0");
    line!(out, "total_eviction_exceeded_time:0");
    line!(out, "current_eviction_exceeded_time:0");
    line!(out, "keyspace_hits:{}", s.keyspace_hits);
    line!(out, "keyspace_misses:{}", s.keyspace_misses);
    for fixed in [
        "pubsub_channels:0",
        "pubsub_patterns:0",
        "pubsubshard_channels:0",
        "latest_fork_usec:0",
        "total_forks:0",
        "migrate_cached_sockets:0",
        "slave_expires_tracked_keys:0",
        "active_defrag_hits:0",
        "active_defrag_misses:0",
        "active_defrag_key_hits:0",
        "active_defrag_key_misses:0",
        "total_active_defrag_time:0",
        "current_active_defrag_time:0",
        "tracking_total_keys:0",
        "tracking_total_items:0",
        "tracking_total_prefixes:0",
    ] {
        line!(out, "{fixed}");
    }
    line!(
        out,
        "unexpected_error_replies:{}",
        s.unexpected_error_replies
    );
    line!(out, "total_error_replies:{}", s.total_error_replies);
    for fixed in [
        "dump_payload_sanitizations:0",
        "total_reads_processed:0",
        "total_writes_processed:0",
        "io_threaded_reads_processed:0",
        "io_threaded_writes_processed:0",
        "reply_buffer_shrinks:0",
        "reply_buffer_expands:0",
    ] {
        line!(out, "{fixed}");
    }
}

fn replication(st: &State, out: &mut String) {
    out.push_str("# Replication\r\n");
    line!(out, "role:master");
    line!(out, "connected_slaves:0");
    line!(out, "master_failover_state:no-failover");
    line!(out, "master_replid:{}", master_replid());
    line!(
        out,
        "master_replid2:0000000000000000000000000000000000000000"
    );
    line!(out, "master_repl_offset:0");
    line!(out, "second_repl_offset:-1");
    line!(out, "repl_backlog_active:0");
    line!(
        out,
        "repl_backlog_size:{}",
        st.config.get("repl-backlog-size")
    );
    line!(out, "repl_backlog_first_byte_offset:0");
    line!(out, "repl_backlog_histlen:0");
}

fn cpu(out: &mut String) {
    let (user, sys, cuser, csys) = cpu_times();
    out.push_str("# CPU\r\n");
    line!(out, "used_cpu_sys:{sys:.6}");
    line!(out, "used_cpu_user:{user:.6}");
    line!(out, "used_cpu_sys_children:{csys:.6}");
    line!(out, "used_cpu_user_children:{cuser:.6}");
    line!(out, "used_cpu_sys_main_thread:{sys:.6}");
    line!(out, "used_cpu_user_main_thread:{user:.6}");
}

fn commandstats(st: &State, out: &mut String) {
    out.push_str("# Commandstats\r\n");
    let mut names: Vec<&&'static str> = st.stats.commands.keys().collect();
    names.sort();
    for name in names {
        let c = &st.stats.commands[*name];
        if c.calls == 0 && c.rejected_calls == 0 && c.failed_calls == 0 {
            continue;
        }
        let per = if c.calls == 0 {
            0.0
        } else {
            c.usec as f64 / c.calls as f64
        };
        line!(
            out,
            "cmdstat_{}:calls={},usec={},usec_per_call={:.2},rejected_calls={},failed_calls={}",
            name,
            c.calls,
            c.usec,
            per,
            c.rejected_calls,
            c.failed_calls
        );
    }
}

fn errorstats(st: &State, out: &mut String) {
    out.push_str("# Errorstats\r\n");
    let mut codes: Vec<(&String, &u64)> = st.stats.errors.iter().collect();
    codes.sort();
    for (code, n) in codes {
        line!(out, "errorstat_{code}:count={n}");
    }
}

fn keyspace(st: &State, out: &mut String) {
    out.push_str("# Keyspace\r\n");
    for (i, db) in st.keyspace.dbs.iter().enumerate() {
        if db.is_empty() {
            continue;
        }
        line!(
            out,
            "db{}:keys={},expires={},avg_ttl={}",
            i,
            db.len(),
            db.expires_len(),
            if db.expires_len() == 0 { 0 } else { db.avg_ttl }
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_like_redis() {
        assert_eq!(human(0), "0B");
        assert_eq!(human(1023), "1023B");
        assert_eq!(human(1289072), "1.23M");
        assert_eq!(human(12324864), "11.75M");
        assert_eq!(human(25276510208), "23.54G");
    }

    #[test]
    fn section_selection() {
        assert_eq!(selected(&[]), DEFAULT.to_vec());
        assert_eq!(
            selected(&[b"KEYSPACE".as_slice(), b"server".as_slice()]),
            vec!["server", "keyspace"]
        );
        assert!(selected(&[b"foo".as_slice()]).is_empty());
        assert!(selected(&[b"all".as_slice()]).contains(&"commandstats"));
    }
}
