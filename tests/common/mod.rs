//! Test support: start Strata in-process on port 0, start Debian's
//! redis-server for differential tests, and a tiny raw RESP client that
//! keeps replies exactly as sent.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use strata::config::Config;
use strata::server::Server;

/// A Strata server running on its own runtime thread; stops on drop.
pub struct TestServer {
    pub port: u16,
    /// The server's shared state (tests may read statistics directly).
    pub shared: std::sync::Arc<strata::server::Shared>,
    /// The server's `dir` (dump files go here).
    pub dir: std::path::PathBuf,
    _tmp: Option<tempfile::TempDir>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    /// Starts Strata with default config plus `overrides` (`("save", "")`).
    pub fn start(overrides: &[(&str, &str)]) -> TestServer {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().to_path_buf();
        let mut s = TestServer::start_in(&dir, overrides).expect("start");
        s._tmp = Some(tmp);
        s
    }

    /// Starts Strata with `dir` set to `dir`, loading a dump.rdb found
    /// there. Returns the load error if the file is refused.
    pub fn start_in(
        dir: &std::path::Path,
        overrides: &[(&str, &str)],
    ) -> Result<TestServer, String> {
        TestServer::start_config(config_in(dir, overrides))
    }

    /// Starts Strata with a complete `Config` (a config file loaded by the
    /// test, for instance), loading a dump.rdb found in its `dir`.
    pub fn start_config(config: Config) -> Result<TestServer, String> {
        TestServer::spawn(config, false)
    }

    /// Starts Strata as the binary does: serving at once while the
    /// dataset in `dir` loads (`-LOADING` meanwhile). A load error stops
    /// the server (connections are then refused).
    pub fn start_loading(dir: &std::path::Path, overrides: &[(&str, &str)]) -> TestServer {
        TestServer::spawn(config_in(dir, overrides), true).expect("start")
    }

    /// Runs the server on its own runtime thread; with `while_loading`
    /// it serves during the load, else it loads first.
    fn spawn(config: Config, while_loading: bool) -> Result<TestServer, String> {
        let dir = std::path::PathBuf::from(config.get("dir"));
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind");
                let (server, listener) = Server::with_listener(config, listener);
                if !while_loading {
                    if let Err(e) = server.load_data() {
                        port_tx.send(Err(e)).expect("port");
                        return;
                    }
                }
                port_tx
                    .send(Ok((server.addr.port(), server.shared.clone())))
                    .expect("port");
                let stop = async {
                    let _ = stop_rx.await;
                };
                if !while_loading {
                    return server.run(listener, stop).await;
                }
                if let Err(e) = server.run_loading(listener, stop).await {
                    eprintln!("load failed: {e}");
                }
            });
        });
        let (port, shared) = match port_rx.recv().expect("server port") {
            Ok(p) => p,
            Err(e) => {
                let _ = thread.join();
                return Err(e);
            }
        };
        Ok(TestServer {
            port,
            shared,
            dir,
            _tmp: None,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub fn client(&self) -> redis::Client {
        redis::Client::open(self.url()).expect("client")
    }

    pub fn raw(&self) -> RawConn {
        RawConn::connect(self.port)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The default config with `save ""`, `dir` and `overrides`.
fn config_in(dir: &std::path::Path, overrides: &[(&str, &str)]) -> Config {
    let mut config = Config::new();
    config.set("save", "", true).expect("save");
    config
        .set("dir", &dir.display().to_string(), true)
        .expect("dir");
    for (k, v) in overrides {
        config
            .set(k, v, true)
            .unwrap_or_else(|e| panic!("config {k}={v}: {e}"));
    }
    config
}

/// One field of `INFO <section>` (empty if absent).
#[allow(dead_code)]
pub fn info_field(c: &mut redis::Connection, section: &str, field: &str) -> String {
    let info: String = redis::cmd("INFO").arg(section).query(c).expect("INFO");
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// Finds a free TCP port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// Debian's redis-server on a free port, for differential tests.
pub struct RedisServer {
    pub port: u16,
    child: Child,
    dir: tempfile::TempDir,
}

impl RedisServer {
    /// A `redis` crate connection to this server.
    pub fn connection(&self) -> redis::Connection {
        redis::Client::open(format!("redis://127.0.0.1:{}/", self.port))
            .expect("client")
            .get_connection()
            .expect("connect to redis-server")
    }

    /// Starts `redis-server`, or returns None if it is not installed
    /// (CI installs it; there a missing binary is a failure).
    pub fn start() -> Option<RedisServer> {
        let dir = tempfile::tempdir().expect("tempdir");
        RedisServer::start_in(dir)
    }

    /// Starts redis-server on a copy of the dump at `dump` (in a fresh
    /// directory). `None` if redis-server is not installed, which CI
    /// refuses.
    pub fn load_dump(dump: &std::path::Path) -> Option<RedisServer> {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::copy(dump, dir.path().join("dump.rdb")).expect("copy the dump");
        let redis = RedisServer::start_in(dir);
        if redis.is_none() {
            assert!(
                std::env::var("CI").is_err(),
                "redis-server must be installed in CI"
            );
            eprintln!("redis-server missing: dump check skipped");
        }
        redis
    }

    /// Starts redis-server with `--dir` in `dir` (it loads a dump.rdb
    /// found there).
    pub fn start_in(dir: tempfile::TempDir) -> Option<RedisServer> {
        let bin = which("redis-server")?;
        // The port is free when chosen but another test may bind it
        // before redis-server does: check that the server answering is
        // this child, and retry on another port otherwise.
        for _ in 0..10 {
            let port = free_port();
            let mut child = Command::new(&bin)
                .args([
                    "--port",
                    &port.to_string(),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ])
                .arg("--dir")
                .arg(dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn redis-server");
            let deadline = Instant::now() + Duration::from_secs(10);
            let mut ours = false;
            loop {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
                    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                    let _ = s.write_all(b"INFO server\r\n");
                    let mut buf = vec![0u8; 8192];
                    let n = std::io::Read::read(&mut s, &mut buf).unwrap_or(0);
                    let text = String::from_utf8_lossy(&buf[..n]);
                    ours = text.contains(&format!("process_id:{}\r\n", child.id()));
                    break;
                }
                assert!(Instant::now() < deadline, "redis-server did not start");
                std::thread::sleep(Duration::from_millis(20));
            }
            if ours {
                return Some(RedisServer { port, child, dir });
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("redis-server did not start on a free port after 10 attempts");
    }

    /// Like [`RedisServer::start`] but fails when running in CI.
    pub fn require() -> Option<RedisServer> {
        let r = RedisServer::start();
        if r.is_none() {
            assert!(
                std::env::var("CI").is_err(),
                "redis-server must be installed in CI"
            );
            eprintln!("redis-server not installed: differential test skipped");
        }
        r
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = &self.dir;
    }
}

pub fn which(name: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| std::path::Path::new(d).join(name))
        .find(|p| p.is_file())
}

/// A RESP value as read off the wire.
#[derive(Debug, Clone, PartialEq)]
pub enum Resp {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Resp>>),
    Null,
    Double(String),
    Bool(bool),
    Map(Vec<(Resp, Resp)>),
    Set(Vec<Resp>),
    Push(Vec<Resp>),
    Verbatim(String, Vec<u8>),
    BigNumber(String),
}

impl Resp {
    /// Sorts aggregate elements (for replies whose order is unspecified).
    pub fn sorted(mut self) -> Resp {
        fn key(r: &Resp) -> String {
            format!("{r:?}")
        }
        match &mut self {
            Resp::Array(Some(v)) | Resp::Set(v) | Resp::Push(v) => v.sort_by_key(key),
            Resp::Map(v) => v.sort_by_key(|(k, _)| key(k)),
            _ => {}
        }
        self
    }

    /// Human-readable form for diffs.
    pub fn show(&self) -> String {
        match self {
            Resp::Simple(s) => format!("+{s}"),
            Resp::Error(s) => format!("-{s}"),
            Resp::Int(i) => format!(":{i}"),
            Resp::Bulk(None) => "(nil)".into(),
            Resp::Bulk(Some(b)) => format!("{:?}", String::from_utf8_lossy(b)),
            Resp::Array(None) => "(nil array)".into(),
            Resp::Array(Some(v)) => format!(
                "[{}]",
                v.iter().map(|x| x.show()).collect::<Vec<_>>().join(", ")
            ),
            Resp::Null => "_".into(),
            Resp::Double(d) => format!(",{d}"),
            Resp::Bool(b) => format!("#{b}"),
            Resp::Map(v) => format!(
                "{{{}}}",
                v.iter()
                    .map(|(k, x)| format!("{}: {}", k.show(), x.show()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Resp::Set(v) => format!(
                "~[{}]",
                v.iter().map(|x| x.show()).collect::<Vec<_>>().join(", ")
            ),
            Resp::Push(v) => format!(
                ">[{}]",
                v.iter().map(|x| x.show()).collect::<Vec<_>>().join(", ")
            ),
            Resp::Verbatim(f, b) => format!("={f}:{:?}", String::from_utf8_lossy(b)),
            Resp::BigNumber(s) => format!("({s})"),
        }
    }
}

/// A raw RESP connection (no client-side interpretation of replies).
pub struct RawConn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl RawConn {
    pub fn connect(port: u16) -> RawConn {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        s.set_nodelay(true).expect("nodelay");
        RawConn {
            reader: BufReader::new(s.try_clone().expect("clone")),
            writer: s,
        }
    }

    /// Sends one command as a RESP multibulk.
    pub fn send(&mut self, args: &[&[u8]]) {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        self.writer.write_all(&out).expect("write");
    }

    pub fn send_raw(&mut self, data: &[u8]) {
        self.writer.write_all(data).expect("write");
    }

    /// Sends a command and reads one reply.
    pub fn cmd(&mut self, args: &[&[u8]]) -> Resp {
        self.send(args);
        self.read()
    }

    /// Convenience: whitespace-separated command.
    pub fn cmd_str(&mut self, line: &str) -> Resp {
        let args: Vec<&[u8]> = line.split_whitespace().map(|s| s.as_bytes()).collect();
        self.cmd(&args)
    }

    fn line(&mut self) -> String {
        let mut l = String::new();
        self.reader.read_line(&mut l).expect("read line");
        assert!(l.ends_with("\r\n"), "truncated reply line {l:?}");
        l.truncate(l.len() - 2);
        l
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut b = vec![0u8; n + 2];
        self.reader.read_exact(&mut b).expect("read bulk");
        b.truncate(n);
        b
    }

    /// Reads one reply (blocking).
    pub fn read(&mut self) -> Resp {
        let l = self.line();
        let (t, rest) = l.split_at(1);
        let num = || rest.parse::<i64>().expect("number");
        match t {
            "+" => Resp::Simple(rest.into()),
            "-" => Resp::Error(rest.into()),
            ":" => Resp::Int(num()),
            "$" => {
                let n = num();
                if n < 0 {
                    Resp::Bulk(None)
                } else {
                    Resp::Bulk(Some(self.bytes(n as usize)))
                }
            }
            "*" => {
                let n = num();
                if n < 0 {
                    Resp::Array(None)
                } else {
                    Resp::Array(Some((0..n).map(|_| self.read()).collect()))
                }
            }
            "_" => Resp::Null,
            "," => Resp::Double(rest.into()),
            "#" => Resp::Bool(rest == "t"),
            "(" => Resp::BigNumber(rest.into()),
            "%" => Resp::Map((0..num()).map(|_| (self.read(), self.read())).collect()),
            "~" => Resp::Set((0..num()).map(|_| self.read()).collect()),
            ">" => Resp::Push((0..num()).map(|_| self.read()).collect()),
            "=" => {
                let b = self.bytes(num() as usize);
                Resp::Verbatim(String::from_utf8_lossy(&b[..3]).into(), b[4..].to_vec())
            }
            other => panic!("unknown reply type {other:?} in {l:?}"),
        }
    }

    /// True if the server closed the connection (reads EOF).
    pub fn is_closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        matches!(self.reader.read(&mut b), Ok(0) | Err(_))
    }
}

/// A `strata-server` process (killed when dropped) writing its output to
/// a log file in its directory: for tests that restart or crash it.
pub struct ServerProcess {
    pub child: Child,
    log: std::path::PathBuf,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ServerProcess {
    /// Starts the server on `dir` and `port` (no RDB saves) with `extra`
    /// arguments; each start gets its own log file.
    pub fn spawn(dir: &std::path::Path, port: u16, extra: &[&str]) -> ServerProcess {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let log = dir.join(format!("server-{n}.log"));
        let f = std::fs::File::create(&log).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_strata-server"))
            .args(["--port", &port.to_string(), "--save", ""])
            .arg("--dir")
            .arg(dir)
            .args(extra)
            .stdout(Stdio::from(f.try_clone().expect("log")))
            .stderr(Stdio::from(f))
            .spawn()
            .expect("spawn strata-server");
        ServerProcess { child, log }
    }

    /// Everything the server wrote so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A connection once the server answers PING (panics with its log if
    /// it exits first).
    pub fn connect(&mut self, port: u16) -> redis::Connection {
        let url = format!("redis://127.0.0.1:{port}/");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!("server exited ({st}):\n{}", self.log());
            }
            if let Ok(mut c) = redis::Client::open(url.as_str()).and_then(|c| c.get_connection()) {
                if redis::cmd("PING").query::<String>(&mut c).is_ok() {
                    return c;
                }
            }
            assert!(Instant::now() < deadline, "server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Starts BGREWRITEAOF (retrying while another rewrite runs) and waits
/// until it has finished.
pub fn bgrewriteaof_and_wait(c: &mut redis::Connection) {
    let count = |c: &mut redis::Connection| -> u64 {
        info_field(c, "persistence", "aof_rewrites")
            .parse()
            .unwrap_or(0)
    };
    let before = count(c);
    let deadline = Instant::now() + Duration::from_secs(60);
    while redis::cmd("BGREWRITEAOF").query::<String>(c).is_err() {
        assert!(Instant::now() < deadline, "BGREWRITEAOF never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    while count(c) <= before || info_field(c, "persistence", "aof_rewrite_in_progress") != "0" {
        assert!(Instant::now() < deadline, "rewrite did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// CONFIG SET through a `redis` crate connection (panics on an error).
pub fn config_set(c: &mut redis::Connection, name: &str, value: &str) {
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg(name)
        .arg(value)
        .query(c)
        .expect("config set");
}
