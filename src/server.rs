//! The server: shared state, the accept loop, the periodic cron, shutdown.
//!
//! All data lives in one [`State`] behind one mutex. A connection task
//! parses a batch of pipelined commands without the lock, takes the lock
//! once, runs the whole batch, releases it and writes the replies. Every
//! command therefore runs atomically, and so does a MULTI/EXEC block or a
//! script (they run inside one lock hold). See `docs/architecture.md`.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use parking_lot::Mutex;
use strata_storage::keyspace::Keyspace;
use strata_storage::lfu::LfuParams;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::client::Client;
use crate::command::{CommandSpec, Flags};
use crate::config::Config;

/// Unix time in milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Per-command counters (INFO commandstats).
#[derive(Default, Clone, Debug)]
pub struct CommandStat {
    pub calls: u64,
    pub usec: u64,
    pub rejected_calls: u64,
    pub failed_calls: u64,
}

/// Server-wide counters (INFO stats).
#[derive(Default, Debug)]
pub struct Stats {
    pub commands: HashMap<&'static str, CommandStat, foldhash::fast::RandomState>,
    pub errors: HashMap<String, u64>,
    pub total_commands_processed: u64,
    pub total_connections_received: u64,
    pub rejected_connections: u64,
    pub expired_keys: u64,
    pub evicted_keys: u64,
    pub keyspace_hits: u64,
    pub keyspace_misses: u64,
    pub total_error_replies: u64,
    pub unexpected_error_replies: u64,
    /// Ops/sec samples for `instantaneous_ops_per_sec` (cron fills it).
    pub ops_samples: VecDeque<u64>,
    pub last_sample_ops: u64,
}

impl Stats {
    pub fn called(&mut self, name: &'static str, usec: u64, failed: bool) {
        let s = self.commands.entry(name).or_default();
        s.calls += 1;
        s.usec += usec;
        if failed {
            s.failed_calls += 1;
        }
        self.total_commands_processed += 1;
    }

    pub fn rejected(&mut self, name: &'static str) {
        self.commands.entry(name).or_default().rejected_calls += 1;
    }

    pub fn unknown_command(&mut self) {}

    pub fn count_errors(&mut self, codes: Vec<String>) {
        for code in codes {
            self.total_error_replies += 1;
            *self.errors.entry(code).or_default() += 1;
        }
    }

    pub fn instantaneous_ops(&self) -> u64 {
        if self.ops_samples.is_empty() {
            0
        } else {
            self.ops_samples.iter().sum::<u64>() / self.ops_samples.len() as u64
        }
    }
}

/// One slow log entry.
#[derive(Clone, Debug)]
pub struct SlowLogEntry {
    pub id: u64,
    pub time_s: i64,
    pub micros: u64,
    pub args: Vec<Bytes>,
    pub addr: String,
    pub name: String,
}

/// Everything the commands operate on. Guarded by [`Shared::state`].
pub struct State {
    pub keyspace: Keyspace,
    pub config: Config,
    pub stats: Stats,
    /// Clients not currently running a batch (see [`crate::client`]).
    pub clients: HashMap<u64, Client>,
    /// Number of connected clients (including checked-out ones).
    pub connected: usize,
    /// Ids of clients in MONITOR mode.
    pub monitors: Vec<u64>,
    pub slowlog: VecDeque<SlowLogEntry>,
    pub slowlog_next_id: u64,
    /// Changes since the last save (Redis's `server.dirty`).
    pub dirty: u64,
    pub lastsave_s: i64,
    pub start_ms: i64,
    pub started: Instant,
    pub run_id: String,
    /// Port actually bound (INFO, CONFIG GET port with port 0).
    pub port: u16,
    /// The server's shared handle (background snapshot writers lock the
    /// state through it); empty for a `State` made outside a server.
    pub shared: std::sync::Weak<Shared>,
    /// Set by SHUTDOWN; the accept loop watches it.
    pub shutdown: watch::Sender<bool>,
    /// Pub/sub subscriptions.
    pub pubsub: crate::pubsub::PubSub,
    /// WATCHed keys: (db, key) -> (client id, its dirty flag).
    pub watched_keys: HashMap<(usize, Bytes), Vec<(u64, Arc<std::sync::atomic::AtomicBool>)>>,
    /// dump.rdb save/load bookkeeping.
    pub rdb: crate::persist::RdbStatus,
    /// SHUTDOWN NOSAVE was asked for.
    pub shutdown_nosave: bool,
    /// CLIENT TRACKING state.
    pub tracking: crate::tracking::Tracking,
    /// Id of the client whose command is running (NOLOOP tracking).
    pub current_client: u64,
    /// Parsed `notify-keyspace-events`.
    pub notify_flags: u32,
    /// Keys signalled ready for blocked clients by the running command.
    pub ready_keys: Vec<(usize, Bytes)>,
    /// Clients blocked on keys and clients waiting for a pause.
    pub blocking: crate::blocking::Registry,
    /// CLIENT PAUSE in effect, if any.
    pub pause: Option<crate::blocking::Pause>,
    /// Nesting of [`crate::command::dispatch`] (EXEC and scripts call it
    /// inside a command); blocked clients are served at depth 0 only.
    pub dispatch_depth: u32,
    /// Executable path (INFO server `executable`).
    pub executable: String,
    pub config_file: String,
    /// Active expiry in the cron (DEBUG SET-ACTIVE-EXPIRE 0 turns it off).
    pub active_expire_enabled: bool,
    /// Lua scripting: the VM, the script cache, the busy-script status.
    pub scripting: crate::scripting::Scripting,
    /// Tiering: the cold store, memory accounting, the spiller.
    pub tier: crate::tier::Tier,
    /// Command propagation (what the AOF sees).
    pub prop: crate::propagate::Propagation,
    /// The append-only file.
    pub aof: crate::aof::Aof,
    /// The startup load in progress, if any: commands without the
    /// `loading` flag are refused meanwhile (see [`crate::loading`]).
    pub loading: Option<crate::loading::Progress>,
}

impl State {
    pub fn new(config: Config) -> State {
        let mut keyspace = Keyspace::new(config.hot.databases);
        keyspace.set_lfu_params(LfuParams {
            log_factor: config.get_int("lfu-log-factor").max(0) as u32,
            decay_time: config.get_int("lfu-decay-time").max(0) as u32,
        });
        let now = now_ms();
        let run_id: String = (0..40)
            .map(|_| char::from(b"0123456789abcdef"[rand::random_range(0..16usize)]))
            .collect();
        let (shutdown, _) = watch::channel(false);
        let pubsub = crate::pubsub::PubSub {
            limit: crate::pubsub::OutputLimit::pubsub_from_config(
                config.get("client-output-buffer-limit"),
            ),
            ..Default::default()
        };
        let notify_flags = crate::pubsub::events::parse(config.get("notify-keyspace-events"));
        crate::info::sample_memory();
        let aof = crate::aof::Aof::new(&config);
        State {
            prop: crate::propagate::Propagation::default(),
            aof,
            keyspace,
            config_file: config
                .file
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            config,
            stats: Stats::default(),
            clients: HashMap::new(),
            connected: 0,
            monitors: Vec::new(),
            slowlog: VecDeque::new(),
            slowlog_next_id: 0,
            dirty: 0,
            lastsave_s: now / 1000,
            start_ms: now,
            started: Instant::now(),
            run_id,
            port: 0,
            shared: std::sync::Weak::new(),
            shutdown,
            ready_keys: Vec::new(),
            pubsub,
            watched_keys: HashMap::new(),
            tracking: crate::tracking::Tracking::default(),
            rdb: crate::persist::RdbStatus {
                last_bgsave_ok: true,
                ..Default::default()
            },
            shutdown_nosave: false,
            loading: None,
            current_client: 0,
            notify_flags,
            blocking: crate::blocking::Registry::default(),
            pause: None,
            dispatch_depth: 0,
            scripting: crate::scripting::Scripting::default(),
            executable: std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            active_expire_enabled: true,
            tier: crate::tier::Tier::default(),
        }
    }

    /// Clients blocked on keys or waiting for a CLIENT PAUSE to end
    /// (INFO `blocked_clients`).
    pub fn blocked_clients(&self) -> usize {
        self.blocking.count()
    }

    /// A key changed (Redis's `signalModifiedKey`): invalidates WATCH.
    /// Client tracking hooks in here too.
    pub fn key_modified(&mut self, db: usize, key: &[u8]) {
        // A client may wait on this key (XREADGROUP must learn that its
        // stream was deleted or replaced): serve it after this command.
        if !self.blocking.by_key.is_empty() {
            let k = (db, Bytes::copy_from_slice(key));
            if self.blocking.by_key.contains_key(&k) {
                self.ready_keys.push(k);
            }
        }
        if !self.tracking.is_empty() {
            let by = self.current_client;
            let pubsub = &self.pubsub;
            let subscribed = |id: u64| {
                pubsub
                    .channels
                    .get(crate::tracking::INVALIDATE_CHANNEL)
                    .is_some_and(|l| l.iter().any(|s| s.id == id))
            };
            self.tracking.invalidate(key, Some(by), Some(&subscribed));
        }
        if self.watched_keys.is_empty() {
            return;
        }
        if let Some(list) = self.watched_keys.get(&(db, Bytes::copy_from_slice(key))) {
            for (_, dirty) in list {
                dirty.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }

    /// Marks every watcher of a key that exists in `db` (FLUSHDB,
    /// FLUSHALL, SWAPDB: Redis's `touchAllWatchedKeysInDb`). Call before
    /// the flush/swap; `other` is the second db of SWAPDB.
    pub fn touch_all_watched(&mut self, db: usize, other: Option<usize>) {
        if self.watched_keys.is_empty() {
            return;
        }
        let now = now_ms();
        let keys: Vec<(usize, Bytes)> = self
            .watched_keys
            .keys()
            .filter(|(d, _)| *d == db)
            .cloned()
            .collect();
        for (d, key) in keys {
            let exists = self.keyspace.db(d).contains(&key, now)
                || other.is_some_and(|o| self.keyspace.db(o).contains(&key, now));
            if exists {
                self.key_modified(d, &key);
            }
        }
    }

    /// FLUSHDB/FLUSHALL: tracking clients get a null invalidation.
    pub fn tracking_flush(&mut self) {
        if self.tracking.is_empty() {
            return;
        }
        let pubsub = &self.pubsub;
        let subscribed = |id: u64| {
            pubsub
                .channels
                .get(crate::tracking::INVALIDATE_CHANNEL)
                .is_some_and(|l| l.iter().any(|s| s.id == id))
        };
        self.tracking.flush(Some(&subscribed));
    }

    /// WATCH `key` in the client's db.
    pub fn watch(&mut self, client: &mut Client, key: Bytes) {
        let entry = (client.db, key);
        if client.watched.contains(&entry) {
            return;
        }
        self.watched_keys
            .entry(entry.clone())
            .or_default()
            .push((client.id, client.dirty_cas.clone()));
        client.watched.push(entry);
    }

    /// Forgets all of a client's watched keys (EXEC, DISCARD, UNWATCH,
    /// disconnect) and clears its dirty flag.
    pub fn unwatch_all(&mut self, client: &mut Client) {
        for entry in client.watched.drain(..) {
            if let Some(list) = self.watched_keys.get_mut(&entry) {
                list.retain(|(id, _)| *id != client.id);
                if list.is_empty() {
                    self.watched_keys.remove(&entry);
                }
            }
        }
        client
            .dirty_cas
            .store(false, std::sync::atomic::Ordering::Relaxed);
    }

    /// True if a watched key is logically expired (EXEC must abort).
    pub fn watched_key_expired(&mut self, client: &Client, now_ms: i64) -> bool {
        client.watched.iter().any(|(db, key)| {
            self.keyspace
                .db(*db)
                .expire_at(key)
                .is_some_and(|at| at <= now_ms)
        })
    }

    /// Drops everything registered for a disconnecting client.
    pub fn forget_client(&mut self, client: &mut Client) {
        self.unwatch_all(client);
        let id = client.id;
        for ch in client.subscriptions.drain() {
            self.pubsub
                .unsubscribe(crate::pubsub::ChannelKind::Classic, &ch, id);
        }
        for ch in client.shard_subscriptions.drain() {
            self.pubsub
                .unsubscribe(crate::pubsub::ChannelKind::Shard, &ch, id);
        }
        for p in client.pattern_subscriptions.drain() {
            self.pubsub.punsubscribe(&p, id);
        }
        self.monitors.retain(|m| *m != id);
        self.tracking.disable(id);
    }

    /// Emits a keyspace notification (`notify-keyspace-events`): to
    /// `__keyspace@<db>__:<key>` (message: the event) if K is on, and to
    /// `__keyevent@<db>__:<event>` (message: the key) if E is on.
    pub fn notify_keyspace_event(&mut self, class: char, event: &str, key: &[u8], db: usize) {
        use crate::pubsub::events;
        let flags = self.notify_flags;
        if flags & events::class(class) == 0 {
            return;
        }
        let now = now_ms();
        if flags & events::KEYSPACE != 0 {
            let mut ch = format!("__keyspace@{db}__:").into_bytes();
            ch.extend_from_slice(key);
            self.pubsub.publish(
                crate::pubsub::ChannelKind::Classic,
                &ch,
                event.as_bytes(),
                now,
            );
        }
        if flags & events::KEYEVENT != 0 {
            let ch = format!("__keyevent@{db}__:{event}");
            self.pubsub
                .publish(crate::pubsub::ChannelKind::Classic, ch.as_bytes(), key, now);
        }
    }

    /// A whole database changed at once (Redis's `touchAllWatchedKeysInDb`
    /// and, for SWAPDB, `scanDatabaseForReadyKeys`): called by FLUSHDB and
    /// FLUSHALL before emptying `db` (`other` is None), and by SWAPDB after
    /// swapping, once per side (`other` is the db it swapped with). WATCH
    /// (a watched key existing in `db` or `other` is touched) and client
    /// tracking hook in here, so flushing stays O(watched keys), not O(keys).
    pub fn whole_db_changed(&mut self, db: usize, other: Option<usize>) {
        self.touch_all_watched(db, other);
        // Streams that clients wait on in XREADGROUP may be gone.
        crate::blocking::signal_all_waited_keys(self, db);
        if other.is_some() {
            // SWAPDB: keys clients wait on may now exist.
            crate::blocking::signal_db_ready(self, db);
        }
    }

    /// Work done after every command: account keys removed by lazy
    /// expiry (notifications and propagation hook in here).
    pub fn after_command(&mut self) {
        for i in 0..self.keyspace.dbs.len() {
            if self.keyspace.dbs[i].expired.is_empty() {
                continue;
            }
            let expired = std::mem::take(&mut self.keyspace.dbs[i].expired);
            self.stats.expired_keys += expired.len() as u64;
            for key in expired {
                self.key_modified(i, &key);
                self.notify_keyspace_event('x', "expired", &key, i);
                crate::propagate::expired(self, i, &key);
            }
        }
    }

    /// Sends the command line to every MONITOR client.
    pub fn feed_monitors(
        &mut self,
        client: &Client,
        args: &[Bytes],
        now_ms: i64,
        cmd: &CommandSpec,
    ) {
        if self.monitors.is_empty() || cmd.flags.has(Flags::SKIP_MONITOR) {
            return;
        }
        let mut line = format!(
            "+{}.{:06} [{} {}]",
            now_ms / 1000,
            (now_ms % 1000) * 1000,
            client.db,
            client.addr
        );
        for a in args {
            line.push(' ');
            line.push('"');
            for &b in a.iter() {
                match b {
                    b'\\' => line.push_str("\\\\"),
                    b'"' => line.push_str("\\\""),
                    b'\n' => line.push_str("\\n"),
                    b'\r' => line.push_str("\\r"),
                    b'\t' => line.push_str("\\t"),
                    7 => line.push_str("\\a"),
                    8 => line.push_str("\\b"),
                    0x20..=0x7e => line.push(char::from(b)),
                    _ => line.push_str(&format!("\\x{b:02x}")),
                }
            }
            line.push('"');
        }
        line.push_str("\r\n");
        let monitors = self.monitors.clone();
        for id in monitors {
            if id == client.id {
                continue;
            }
            if let Some(m) = self.clients.get(&id) {
                m.io.send(line.as_bytes());
            }
        }
    }

    /// Records a slow command (`slowlog-log-slower-than`).
    pub fn slowlog_record(
        &mut self,
        client: &Client,
        args: &[Bytes],
        now_ms: i64,
        micros: u64,
        cmd: &CommandSpec,
    ) {
        let threshold = self.config.hot.slowlog_slower_than;
        if threshold < 0 || (micros as i64) < threshold || cmd.flags.has(Flags::SKIP_SLOWLOG) {
            return;
        }
        // Redis keeps at most 32 arguments, each cut to 128 bytes.
        let mut kept: Vec<Bytes> = Vec::new();
        for (i, a) in args.iter().enumerate() {
            if i == 31 && args.len() > 32 {
                kept.push(Bytes::from(format!(
                    "... ({} more arguments)",
                    args.len() - 31
                )));
                break;
            }
            if a.len() > 128 {
                kept.push(Bytes::from(format!(
                    "{}... ({} more bytes)",
                    String::from_utf8_lossy(&a[..128]),
                    a.len() - 128
                )));
            } else {
                kept.push(a.clone());
            }
        }
        self.slowlog.push_front(SlowLogEntry {
            id: self.slowlog_next_id,
            time_s: now_ms / 1000,
            micros,
            args: kept,
            addr: client.addr.clone(),
            name: client
                .name
                .as_ref()
                .map(|n| String::from_utf8_lossy(n).into_owned())
                .unwrap_or_default(),
        });
        self.slowlog_next_id += 1;
        let max = self.config.hot.slowlog_max_len;
        self.slowlog.truncate(max);
    }

    /// Applies side effects of a config change made by CONFIG SET.
    pub fn config_changed(&mut self, name: &str) {
        match name {
            "lfu-log-factor" | "lfu-decay-time" => {
                let params = LfuParams {
                    log_factor: self.config.get_int("lfu-log-factor").max(0) as u32,
                    decay_time: self.config.get_int("lfu-decay-time").max(0) as u32,
                };
                self.keyspace.set_lfu_params(params);
            }
            "notify-keyspace-events" => {
                self.notify_flags =
                    crate::pubsub::events::parse(self.config.get("notify-keyspace-events"));
            }
            "client-output-buffer-limit" => {
                self.pubsub.limit = crate::pubsub::OutputLimit::pubsub_from_config(
                    self.config.get("client-output-buffer-limit"),
                );
            }
            "hash-max-listpack-entries"
            | "hash-max-listpack-value"
            | "zset-max-listpack-entries"
            | "zset-max-listpack-value"
            | "set-max-intset-entries" => {
                let limits = crate::tier::limits(self);
                for db in self.keyspace.dbs.iter_mut() {
                    db.set_cold_limits(limits);
                }
            }
            "maxmemory" | "tiering" => {
                self.tier.kick.wake();
            }
            "appendonly" | "appendfsync" | "aof-timestamp-enabled" => {
                crate::aof::config_changed(self, name);
            }
            "slowlog-max-len" => {
                let max = self.config.hot.slowlog_max_len;
                self.slowlog.truncate(max);
            }
            "requirepass" | "protected-mode" => {
                if let Some(shared) = self.shared.upgrade() {
                    shared.loading.settings(&self.config);
                }
            }
            _ => {}
        }
    }

    /// One tick of the periodic cron (Redis's `serverCron` at `hz`):
    /// active expiry within a time budget, ops/sec sampling.
    pub fn cron(&mut self, now_ms: i64) {
        // Redis: ACTIVE_EXPIRE_CYCLE_SLOW_TIME_PERC (25%) of each tick,
        // raised with active-expire-effort.
        let effort = self.config.get_int("active-expire-effort").clamp(1, 10) as u64;
        let tick_us = 1_000_000 / self.config.hot.hz.max(1) as u64;
        let budget = Duration::from_micros(tick_us * (25 + 2 * (effort - 1)) / 100);
        let per_loop = 20 + 5 * (effort as usize - 1);
        let started = Instant::now();
        if self.active_expire_enabled {
            self.keyspace
                .active_expire_cycle(now_ms, per_loop, || started.elapsed() < budget);
        }
        crate::tier::cron(self);
        self.after_command();
        crate::persist::cron(self, now_ms);
        crate::aof::cron(self, now_ms);
        crate::info::sample_memory();
        let ops = self.stats.total_commands_processed;
        let delta = ops - self.stats.last_sample_ops;
        self.stats.last_sample_ops = ops;
        let per_sec = delta * self.config.hot.hz.max(1) as u64;
        self.stats.ops_samples.push_back(per_sec);
        if self.stats.ops_samples.len() > 16 {
            self.stats.ops_samples.pop_front();
        }
    }
}

/// Loads `dir/dbfilename` (the import path from Redis) or the AOF, and
/// opens the cold tier. The loader holds the state lock but lets clients
/// in wherever the dataset is whole (see [`crate::loading`]); file reads
/// and the opening of the cold store run with the lock released.
fn load(shared: &Arc<Shared>) -> Result<(), String> {
    {
        let mut st = shared.state.lock();
        // A cold tier checkpointed with the AOF base is opened whatever
        // the limits are now: part of the data lives there.
        let checkpoint = crate::aof::load::cold_checkpoint(&st)?;
        if checkpoint.is_some() || (st.config.get_bool("tiering") && st.config.hot.maxmemory > 0) {
            crate::tier::open_loading(&mut st, checkpoint.as_deref())?;
        }
    }
    if shared.state.lock().config.get_bool("tiering") {
        crate::tier::start_spiller(shared);
    }
    crate::aof::load_at_startup(&mut shared.state.lock())
}

/// The state lock. Commands hold it for microseconds, so a thread that
/// finds it taken first spins (on a machine with more than one CPU)
/// for up to [`SPIN_MAX_US`] before sleeping: sleeping and being woken
/// costs two system calls and two context switches, more than most
/// holds last. Where spinning keeps failing (long holds: big sorted-set
/// inserts, SAVE, a script), the budget halves at each failure down to
/// none, and one contended acquisition in [`SPIN_PROBE`] tries the full
/// budget again (`docs/benchmarks.md`, "State lock").
pub struct StateLock {
    m: Mutex<State>,
    /// Current spin budget, microseconds.
    spin_us: std::sync::atomic::AtomicU32,
    /// Contended acquisitions so far.
    contended: AtomicU64,
    /// More than one CPU: spinning can see the holder finish.
    multi_cpu: bool,
}

/// Longest spin before sleeping on the state lock.
const SPIN_MAX_US: u32 = 20;
/// With no spin budget left, one contended acquisition in this many
/// spins anyway, to learn whether holds got short again.
const SPIN_PROBE: u64 = 32;

impl StateLock {
    pub fn new(state: State) -> StateLock {
        StateLock {
            m: Mutex::new(state),
            spin_us: std::sync::atomic::AtomicU32::new(SPIN_MAX_US),
            contended: AtomicU64::new(0),
            multi_cpu: std::thread::available_parallelism().is_ok_and(|n| n.get() > 1),
        }
    }

    #[inline]
    pub fn lock(&self) -> parking_lot::MutexGuard<'_, State> {
        match self.m.try_lock() {
            Some(g) => g,
            None => self.lock_contended(),
        }
    }

    pub fn try_lock(&self) -> Option<parking_lot::MutexGuard<'_, State>> {
        self.m.try_lock()
    }

    #[cold]
    fn lock_contended(&self) -> parking_lot::MutexGuard<'_, State> {
        if self.multi_cpu {
            let n = self.contended.fetch_add(1, Ordering::Relaxed);
            let mut budget = self.spin_us.load(Ordering::Relaxed);
            if budget == 0 && n.is_multiple_of(SPIN_PROBE) {
                budget = SPIN_MAX_US;
            }
            if budget > 0 {
                if let Some(g) = self.spin(budget) {
                    self.spin_us.store(SPIN_MAX_US, Ordering::Relaxed);
                    return g;
                }
                self.spin_us.store(budget / 2, Ordering::Relaxed);
            }
        }
        self.m.lock()
    }

    /// Spins up to `us` microseconds for the lock.
    fn spin(&self, us: u32) -> Option<parking_lot::MutexGuard<'_, State>> {
        let until = Instant::now() + Duration::from_micros(u64::from(us));
        loop {
            for _ in 0..32 {
                std::hint::spin_loop();
                if !self.m.is_locked() {
                    if let Some(g) = self.m.try_lock() {
                        return Some(g);
                    }
                }
            }
            if Instant::now() >= until {
                return None;
            }
        }
    }
}

/// State shared by every task.
pub struct Shared {
    pub state: StateLock,
    pub next_client_id: AtomicU64,
    /// The running script's status, readable without the state lock.
    pub script: Arc<crate::scripting::ScriptStatus>,
    /// The AOF's durability counters, readable without the state lock.
    pub aof: Arc<crate::aof::AofIo>,
    /// Whether the dataset is still loading (see [`Server::run_loading`]).
    pub loading: crate::loading::LoadingStatus,
}

/// How [`Server::run_loading`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The dataset loaded and the server ran until SHUTDOWN or `stop`.
    Served,
    /// SHUTDOWN came during the load, which goes on in the background:
    /// the process should exit now.
    DuringLoad,
}

/// A running server, as tests and `main` see it.
pub struct Server {
    pub shared: Arc<Shared>,
    pub addr: SocketAddr,
}

impl Server {
    /// Binds per the config (`bind`, `port`) and returns the server ready
    /// to [`Server::run`].
    pub async fn bind(config: Config) -> std::io::Result<(Server, TcpListener)> {
        let host = config
            .get("bind")
            .split_whitespace()
            .next()
            .unwrap_or("127.0.0.1")
            .trim_start_matches('-')
            .to_string();
        let port = config.get_int("port") as u16;
        let listener = TcpListener::bind((host.as_str(), port)).await?;
        Ok(Server::with_listener(config, listener))
    }

    /// Loads the dataset (dump.rdb or the AOF, and the cold tier) before
    /// serving: connections wait for the end of the load.
    ///
    /// # Errors
    /// A corrupt or unreadable file, named with the byte offset.
    pub fn load_data(&self) -> Result<(), String> {
        load(&self.shared)
    }

    /// Accepts connections at once and loads the dataset meanwhile:
    /// clients are served as Redis serves them during a load (see
    /// [`crate::loading`]), then everything runs as usual until SHUTDOWN
    /// or `stop`.
    ///
    /// # Errors
    /// The load failed (the server stops accepting connections).
    pub async fn run_loading(
        self,
        listener: TcpListener,
        stop: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<Ended, String> {
        let shared = self.shared.clone();
        let shutdown_rx = {
            let mut st = shared.state.lock();
            shared.loading.begin(&st.config);
            st.loading = Some(crate::loading::Progress::new(now_ms() / 1000));
            st.shutdown.subscribe()
        };
        let mut shutdown = shutdown_rx.clone();
        let mut serving = tokio::spawn(self.accept_loop(listener, stop, shutdown_rx));
        let loader = shared.clone();
        let loading = tokio::task::spawn_blocking(move || load(&loader));
        let loaded = tokio::select! {
            r = loading => r
                .map_err(|e| format!("the loader failed: {e}"))
                .and_then(|r| r),
            _ = shutdown.wait_for(|down| *down) => {
                // SHUTDOWN during the load: nothing to save (see
                // `crate::loading`); the load is abandoned.
                let _ = (&mut serving).await;
                crate::log::warning("Shutdown requested during loading: exiting now.");
                return Ok(Ended::DuringLoad);
            }
        };
        shared.state.lock().loading = None;
        shared.loading.end();
        if let Err(e) = loaded {
            serving.abort();
            return Err(e);
        }
        crate::log::notice("Ready to accept connections tcp");
        let _ = serving.await;
        Ok(Ended::Served)
    }

    /// Wraps an already bound listener (tests bind port 0).
    pub fn with_listener(config: Config, listener: TcpListener) -> (Server, TcpListener) {
        let addr = listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)));
        let mut state = State::new(config);
        state.port = addr.port();
        let script = state.scripting.status.clone();
        let aof = state.aof.io.clone();
        let shared = Arc::new(Shared {
            script,
            aof,
            state: StateLock::new(state),
            next_client_id: AtomicU64::new(1),
            loading: Default::default(),
        });
        shared.state.lock().shared = Arc::downgrade(&shared);
        (Server { shared, addr }, listener)
    }

    /// Accepts connections until SHUTDOWN or `stop` resolves.
    pub async fn run(self, listener: TcpListener, stop: impl std::future::Future<Output = ()>) {
        let shutdown_rx = self.shared.state.lock().shutdown.subscribe();
        self.accept_loop(listener, stop, shutdown_rx).await
    }

    /// [`Server::run`] with its SHUTDOWN subscription taken (under the
    /// state lock, which the accept loop itself never takes: it keeps
    /// accepting while the loader holds the lock).
    async fn accept_loop(
        self,
        listener: TcpListener,
        stop: impl std::future::Future<Output = ()>,
        mut shutdown_rx: tokio::sync::watch::Receiver<bool>,
    ) {
        let shared = self.shared.clone();
        let cron = tokio::spawn(cron_loop(shared.clone()));
        tokio::pin!(stop);
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    match accepted {
                        Ok((mut socket, peer)) => {
                            let id = shared.next_client_id.fetch_add(1, Ordering::Relaxed);
                            let sh = shared.clone();
                            tokio::spawn(async move {
                                // Admission takes the state lock: not while
                                // the dataset loads or a script runs.
                                if crate::loading::gate(&sh.loading, &mut socket).await
                                    && crate::scripting::admission_gate(&sh.script, &mut socket).await
                                {
                                    crate::connection::serve(sh, socket, peer, id).await
                                }
                            });
                        }
                        Err(e) => {
                            crate::log::warning(&format!("accept failed: {e}"));
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    }
                }
                _ = shutdown_rx.changed() => break,
                _ = &mut stop => break,
            }
        }
        cron.abort();
        // Close every connection.
        let mut st = shared.state.lock();
        if !st.shutdown_nosave && crate::persist::has_save_points(&st) {
            crate::log::notice("Saving the final RDB snapshot before exiting.");
            if let Err(e) = crate::persist::save(&mut st) {
                crate::log::warning(&format!("Error trying to save the DB: {e}"));
            }
        }
        crate::aof::shutdown(&mut st);
        for c in st.clients.values() {
            c.io.kill();
        }
        crate::log::notice("Strata is now ready to exit, bye bye...");
    }
}

async fn cron_loop(shared: Arc<Shared>) {
    shared.loading.wait_done().await;
    loop {
        crate::scripting::wait_idle(&shared.script).await;
        let hz = shared.state.lock().config.hot.hz.max(1) as u64;
        tokio::time::sleep(Duration::from_millis(1000 / hz)).await;
        // A running script holds the lock: don't block a worker thread on it.
        crate::scripting::wait_idle(&shared.script).await;
        let expiry = {
            let mut st = shared.state.lock();
            let now = now_ms();
            st.cron(now);
            crate::tier::expiry_tickets(&mut st, now)
        };
        // Due cold records are read with the lock released (a slow disk
        // must not hold up clients), then deleted under it; the ticks go
        // on meanwhile.
        if let Some(e) = expiry {
            let shared = shared.clone();
            tokio::spawn(async move {
                let reads = tokio::task::spawn_blocking(move || e.read()).await.ok();
                crate::scripting::wait_idle(&shared.script).await;
                crate::tier::expiry_apply(&mut shared.state.lock(), reads);
            });
        }
    }
}
