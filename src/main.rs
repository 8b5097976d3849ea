//! `strata-server [config-file] [--option value ...]`

use strata::config::Config;
use strata::server::{Ended, Server};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-v" || a == "--version") {
        println!(
            "Strata server v={} (Redis 7.0 compatible)",
            env!("CARGO_PKG_VERSION")
        );
        return;
    }
    let mut config = Config::new();
    if let Err(e) = config.load_args(&args) {
        eprintln!(
            "\n*** FATAL CONFIG FILE ERROR (Strata {}) ***\n{e}",
            env!("CARGO_PKG_VERSION")
        );
        std::process::exit(1);
    }
    // The blocking pool serves cold reads while the store is slow: a
    // bounded queue depth for the disk, and idle threads (each with its
    // allocator cache, counted in used_memory) gone after a second.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(16)
        .thread_keep_alive(std::time::Duration::from_secs(1))
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("can't start the runtime: {e}");
            std::process::exit(1);
        }
    };
    runtime.block_on(async move {
        let (server, listener) = match Server::bind(config).await {
            Ok(x) => x,
            Err(e) => {
                strata::log::warning(&format!(
                    "Could not create server TCP listening socket: {e}"
                ));
                std::process::exit(1);
            }
        };
        strata::log::notice(&format!(
            "Strata version={} started, listening on {}",
            env!("CARGO_PKG_VERSION"),
            server.addr
        ));
        let shared = server.shared.clone();
        match server.run_loading(listener, shutdown_signal(shared)).await {
            Ok(Ended::Served) => {}
            Ok(Ended::DuringLoad) => std::process::exit(0),
            Err(e) => {
                strata::log::warning(&format!("Fatal error loading the DB: {e}. Exiting."));
                std::process::exit(1);
            }
        }
    });
}

/// Resolves on SIGTERM or SIGINT. During the startup load the process
/// exits at once, as Redis does: nothing has been written yet, and the
/// files it loads from are left as they were.
async fn shutdown_signal(shared: std::sync::Arc<strata::server::Shared>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => strata::log::warning("Received SIGTERM scheduling shutdown..."),
        _ = int.recv() => strata::log::warning("Received SIGINT scheduling shutdown..."),
    }
    if shared.loading.is_active() {
        strata::log::warning("Shutdown requested during loading: exiting now.");
        std::process::exit(0);
    }
}
