//! Strata: a Redis-compatible server whose values live in memory and,
//! when `maxmemory` is reached, spill to a compressed disk tier.
//!
//! Map of the server crate (the engine is the `strata-storage` crate):
//! * [`resp`]: request parsing (RESP multibulk and inline), with limits.
//! * [`reply`]: reply encoding for RESP2 and RESP3.
//! * [`error`]: every error text a client can see.
//! * [`command`]: the command table (one declaration per command), the
//!   dispatcher and the handler context.
//! * [`cmd`]: command families, one file each, each ending with its table.
//! * [`config`]: the option table behind the config file, CONFIG and INFO.
//! * [`info`]: the INFO report (sections, memory and CPU figures).
//! * [`client`]: per-connection state.
//! * [`connection`]: the per-connection task (read, run batch, write).
//! * [`server`]: shared state, accept loop, cron, shutdown.
//! * [`loading`]: answering clients while the dataset loads at startup.
//!
//! `docs/architecture.md` explains the execution model.

/// jemalloc for every binary linking the server (the server and the
/// tests): its statistics give INFO's `used_memory` and, later, the
/// `maxmemory` accounting.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

pub mod aof;
pub mod args;
pub mod blocking;
pub mod client;
pub mod cmd;
pub mod command;
pub mod config;
pub mod connection;
pub mod error;
pub mod failpoint;
pub mod info;
pub mod loading;
pub mod log;
pub mod persist;
pub mod propagate;
pub mod pubsub;
pub mod reply;
pub mod resp;
pub mod scripting;
pub mod server;
pub mod tier;
pub mod tracking;
