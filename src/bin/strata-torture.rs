//! Crash torture for the AOF: `strata-torture [options]`
//!
//! Each cycle starts `strata-server` with `appendonly yes` and the chosen
//! `appendfsync`, checks the whole dataset against the model, runs a mixed
//! write load (SET, INCR, APPEND, LPUSH, HSET, DEL, MULTI blocks) from
//! several clients, each recording every acknowledged write in its part of
//! the model, then SIGKILLs the server at a random moment and starts over.
//! After every restart: nothing acknowledged is lost, nothing that was
//! never written appears, and a MULTI block is all or nothing. The one
//! command each client had in flight when the server died may or may not
//! have been applied (as a whole, for MULTI).
//!
//! Options: `--server PATH` (default: `strata-server` next to this
//! binary), `--fsync always|everysec|no`, `--cycles N` (20), `--clients N`
//! (4), `--seed N`, `--dir PATH` (default: a fresh temporary directory),
//! `--min-ms N` / `--max-ms N` (load duration before the kill, 50 / 400),
//! `--rewrites` (small auto-rewrite thresholds so rewrites race the
//! kills). Exit status 0 when every check passed.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

#[derive(Clone, Debug, PartialEq, Eq)]
enum Val {
    Str(String),
    List(Vec<String>),
    Hash(BTreeMap<String, String>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Reply {
    Ok(String),
    Err(String),
    Int(i64),
    Bulk(Option<String>),
    Array(Vec<Reply>),
}

struct Conn {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Conn {
    fn connect(port: u16) -> std::io::Result<Conn> {
        let s = TcpStream::connect(("127.0.0.1", port))?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        Ok(Conn {
            r: BufReader::new(s.try_clone()?),
            w: s,
        })
    }

    fn send(&mut self, cmds: &[Vec<String>]) -> std::io::Result<()> {
        let mut out = Vec::new();
        for argv in cmds {
            out.extend_from_slice(format!("*{}\r\n", argv.len()).as_bytes());
            for a in argv {
                out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
            }
        }
        self.w.write_all(&out)
    }

    fn read(&mut self) -> std::io::Result<Reply> {
        let mut line = String::new();
        if self.r.read_line(&mut line)? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "closed",
            ));
        }
        let line = line.trim_end_matches("\r\n").to_string();
        let bad = || std::io::Error::other(format!("bad reply {line:?}"));
        let (t, rest) = line.split_at(1.min(line.len()));
        Ok(match t {
            "+" => Reply::Ok(rest.into()),
            "-" => Reply::Err(rest.into()),
            ":" => Reply::Int(rest.parse().map_err(|_| bad())?),
            "$" => {
                let n: i64 = rest.parse().map_err(|_| bad())?;
                if n < 0 {
                    Reply::Bulk(None)
                } else {
                    let mut b = vec![0u8; n as usize + 2];
                    self.r.read_exact(&mut b)?;
                    b.truncate(n as usize);
                    Reply::Bulk(Some(String::from_utf8_lossy(&b).into_owned()))
                }
            }
            "*" => {
                let n: i64 = rest.parse().map_err(|_| bad())?;
                let mut v = Vec::new();
                for _ in 0..n.max(0) {
                    v.push(self.read()?);
                }
                Reply::Array(v)
            }
            _ => return Err(bad()),
        })
    }

    fn cmd(&mut self, argv: &[&str]) -> std::io::Result<Reply> {
        self.send(&[argv.iter().map(|s| s.to_string()).collect()])?;
        self.read()
    }
}

/// The one write a client had in flight when the server died: the keys it
/// touches with their values before and after.
type Pending = Vec<(String, Option<Val>, Option<Val>)>;

struct Opts {
    server: PathBuf,
    fsync: String,
    cycles: usize,
    clients: usize,
    seed: u64,
    dir: Option<PathBuf>,
    min_ms: u64,
    max_ms: u64,
    rewrites: bool,
    /// `--maxmemory` for the server: small values keep tiering spilling
    /// and promoting during the run.
    maxmemory: Option<String>,
}

fn parse_opts() -> Result<Opts, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut o = Opts {
        server: exe.with_file_name("strata-server"),
        fsync: "always".into(),
        cycles: 20,
        clients: 4,
        seed: rand::random(),
        dir: None,
        min_ms: 50,
        max_ms: 400,
        rewrites: false,
        maxmemory: None,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let val = |i: usize| {
            args.get(i + 1)
                .cloned()
                .ok_or(format!("{} needs a value", args[i]))
        };
        let num = |i: usize| -> Result<u64, String> {
            val(i)?
                .parse()
                .map_err(|_| format!("{} needs a number", args[i]))
        };
        match args[i].as_str() {
            "--server" => o.server = PathBuf::from(val(i)?),
            "--fsync" => o.fsync = val(i)?,
            "--cycles" => o.cycles = num(i)? as usize,
            "--clients" => o.clients = num(i)? as usize,
            "--seed" => o.seed = num(i)?,
            "--dir" => o.dir = Some(PathBuf::from(val(i)?)),
            "--min-ms" => o.min_ms = num(i)?,
            "--max-ms" => o.max_ms = num(i)?,
            "--maxmemory" => o.maxmemory = Some(val(i)?),
            "--rewrites" => {
                o.rewrites = true;
                i += 1;
                continue;
            }
            other => return Err(format!("unknown option {other}")),
        }
        i += 2;
    }
    Ok(o)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(17999)
}

fn start_server(
    o: &Opts,
    dir: &std::path::Path,
    port: u16,
    log: &std::path::Path,
) -> Result<Child, String> {
    let logf = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| e.to_string())?;
    let mut cmd = Command::new(&o.server);
    cmd.args([
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
    ])
    .args(["--appendonly", "yes", "--appendfsync", &o.fsync])
    .arg("--dir")
    .arg(dir);
    if let Some(m) = &o.maxmemory {
        cmd.args(["--maxmemory", m]);
    }
    if o.rewrites {
        cmd.args([
            "--auto-aof-rewrite-min-size",
            "32768",
            "--auto-aof-rewrite-percentage",
            "50",
        ]);
    }
    let mut child = cmd
        .stdout(Stdio::from(logf.try_clone().map_err(|e| e.to_string())?))
        .stderr(Stdio::from(logf))
        .spawn()
        .map_err(|e| format!("can't start {}: {e}", o.server.display()))?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "server exited during startup ({status}); see {}",
                log.display()
            ));
        }
        if let Ok(mut c) = Conn::connect(port) {
            if matches!(c.cmd(&["PING"]), Ok(Reply::Ok(_))) {
                return Ok(child);
            }
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err("server did not start".into());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Reads a key's value from the server.
fn read_val(c: &mut Conn, key: &str) -> std::io::Result<Option<Val>> {
    let t = match c.cmd(&["TYPE", key])? {
        Reply::Ok(t) => t,
        other => return Err(std::io::Error::other(format!("TYPE: {other:?}"))),
    };
    Ok(match t.as_str() {
        "none" => None,
        "string" => match c.cmd(&["GET", key])? {
            Reply::Bulk(Some(s)) => Some(Val::Str(s)),
            _ => None,
        },
        "list" => match c.cmd(&["LRANGE", key, "0", "-1"])? {
            Reply::Array(v) => Some(Val::List(
                v.into_iter()
                    .filter_map(|r| match r {
                        Reply::Bulk(Some(s)) => Some(s),
                        _ => None,
                    })
                    .collect(),
            )),
            _ => None,
        },
        "hash" => match c.cmd(&["HGETALL", key])? {
            Reply::Array(v) => {
                let mut m = BTreeMap::new();
                for p in v.chunks(2) {
                    if let [Reply::Bulk(Some(f)), Reply::Bulk(Some(x))] = p {
                        m.insert(f.clone(), x.clone());
                    }
                }
                Some(Val::Hash(m))
            }
            _ => None,
        },
        other => return Err(std::io::Error::other(format!("unexpected type {other}"))),
    })
}

/// One client's load until the connection dies. Returns its in-flight
/// write (if any) and the number of acknowledged writes.
fn client_load(
    port: u16,
    id: usize,
    model: &mut HashMap<String, Option<Val>>,
    seq: &mut u64,
    rng: &mut SmallRng,
) -> Result<(Option<Pending>, u64), String> {
    let Ok(mut c) = Conn::connect(port) else {
        return Ok((None, 0));
    };
    let mut acked = 0u64;
    loop {
        *seq += 1;
        let s = *seq;
        let n = rng.random_range(0..8);
        let key = |kind: &str| format!("c{id}:{kind}{n}");
        // (commands, keys touched with their new values, expected replies)
        let get = |m: &HashMap<String, Option<Val>>, k: &str| m.get(k).cloned().flatten();
        let op = rng.random_range(0..100);
        let mut cmds: Vec<Vec<String>> = Vec::new();
        let mut after: Vec<(String, Option<Val>)> = Vec::new();
        let mut expect: Vec<Reply> = Vec::new();
        let str_of = |v: Option<Val>| match v {
            Some(Val::Str(s)) => s,
            _ => String::new(),
        };
        match op {
            0..=24 => {
                let k = key("s");
                let v = format!("v{id}.{s}");
                cmds.push(vec!["SET".into(), k.clone(), v.clone()]);
                after.push((k, Some(Val::Str(v))));
                expect.push(Reply::Ok("OK".into()));
            }
            25..=44 => {
                let k = key("n");
                let cur: i64 = str_of(get(model, &k)).parse().unwrap_or(0);
                cmds.push(vec!["INCR".into(), k.clone()]);
                after.push((k, Some(Val::Str((cur + 1).to_string()))));
                expect.push(Reply::Int(cur + 1));
            }
            45..=59 => {
                let k = key("a");
                let cur = str_of(get(model, &k));
                let add = format!("<{id}.{s}>");
                cmds.push(vec!["APPEND".into(), k.clone(), add.clone()]);
                let next = format!("{cur}{add}");
                expect.push(Reply::Int(next.len() as i64));
                after.push((k, Some(Val::Str(next))));
            }
            60..=72 => {
                let k = key("l");
                let mut cur = match get(model, &k) {
                    Some(Val::List(l)) => l,
                    _ => Vec::new(),
                };
                let v = format!("{id}.{s}");
                cmds.push(vec!["LPUSH".into(), k.clone(), v.clone()]);
                cur.insert(0, v);
                expect.push(Reply::Int(cur.len() as i64));
                after.push((k, Some(Val::List(cur))));
            }
            73..=84 => {
                let k = key("h");
                let mut cur = match get(model, &k) {
                    Some(Val::Hash(h)) => h,
                    _ => BTreeMap::new(),
                };
                let f = format!("f{}", rng.random_range(0..5));
                let v = format!("{id}.{s}");
                cmds.push(vec!["HSET".into(), k.clone(), f.clone(), v.clone()]);
                let new = i64::from(!cur.contains_key(&f));
                cur.insert(f, v);
                expect.push(Reply::Int(new));
                after.push((k, Some(Val::Hash(cur))));
            }
            85..=88 => {
                let k = key(["s", "a", "l", "h"][rng.random_range(0..4)]);
                let existed = get(model, &k).is_some();
                cmds.push(vec!["DEL".into(), k.clone()]);
                expect.push(Reply::Int(i64::from(existed)));
                after.push((k, None));
            }
            _ => {
                // MULTI: a SET, an INCR and an LPUSH applied together.
                let (ks, kn, kl) = (
                    format!("c{id}:ms"),
                    format!("c{id}:mn"),
                    format!("c{id}:ml"),
                );
                let v = format!("t{id}.{s}");
                let cur: i64 = str_of(get(model, &kn)).parse().unwrap_or(0);
                let mut list = match get(model, &kl) {
                    Some(Val::List(l)) => l,
                    _ => Vec::new(),
                };
                list.insert(0, v.clone());
                cmds.push(vec!["MULTI".into()]);
                cmds.push(vec!["SET".into(), ks.clone(), v.clone()]);
                cmds.push(vec!["INCR".into(), kn.clone()]);
                cmds.push(vec!["LPUSH".into(), kl.clone(), v.clone()]);
                cmds.push(vec!["EXEC".into()]);
                expect.push(Reply::Ok("OK".into()));
                for _ in 0..3 {
                    expect.push(Reply::Ok("QUEUED".into()));
                }
                expect.push(Reply::Array(vec![
                    Reply::Ok("OK".into()),
                    Reply::Int(cur + 1),
                    Reply::Int(list.len() as i64),
                ]));
                after.push((ks, Some(Val::Str(v))));
                after.push((kn, Some(Val::Str((cur + 1).to_string()))));
                after.push((kl, Some(Val::List(list))));
            }
        }
        let pending: Pending = after
            .iter()
            .map(|(k, v)| (k.clone(), get(model, k), v.clone()))
            .collect();
        if c.send(&cmds).is_err() {
            return Ok((Some(pending), acked));
        }
        for want in &expect {
            match c.read() {
                Ok(got) if &got == want => {}
                Ok(got) => {
                    return Err(format!(
                        "client {id}: {cmds:?} replied {got:?}, the model expects {want:?}"
                    ))
                }
                Err(_) => return Ok((Some(pending), acked)),
            }
        }
        for (k, v) in after {
            model.insert(k, v);
        }
        acked += 1;
    }
}

/// Checks the server's data against the model; resolves in-flight writes.
fn verify(
    port: u16,
    models: &mut [HashMap<String, Option<Val>>],
    pending: &mut [Option<Pending>],
) -> Result<(), String> {
    let mut c = Conn::connect(port).map_err(|e| e.to_string())?;
    let io = |e: std::io::Error| e.to_string();
    for (id, model) in models.iter_mut().enumerate() {
        let mut keys: Vec<String> = model.keys().cloned().collect();
        if let Some(p) = &pending[id] {
            keys.extend(p.iter().map(|(k, _, _)| k.clone()));
        }
        keys.sort();
        keys.dedup();
        let mut actual = HashMap::new();
        for k in &keys {
            actual.insert(k.clone(), read_val(&mut c, k).map_err(io)?);
        }
        // The in-flight write: entirely before or entirely after.
        if let Some(p) = pending[id].take() {
            let all_before = p.iter().all(|(k, b, _)| actual.get(k) == Some(b));
            let all_after = p.iter().all(|(k, _, a)| actual.get(k) == Some(a));
            if !all_before && !all_after {
                return Err(format!(
                    "client {id}: in-flight write half applied: {p:?}, server has {:?}",
                    p.iter().map(|(k, _, _)| actual.get(k)).collect::<Vec<_>>()
                ));
            }
            for (k, _, a) in p {
                if all_after {
                    model.insert(k, a);
                }
            }
        }
        for k in &keys {
            let want = model.get(k).cloned().flatten();
            let got = actual.get(k).cloned().flatten();
            if want != got {
                return Err(format!(
                    "client {id}: key {k}: acknowledged {want:?}, server has {got:?}"
                ));
            }
        }
    }
    // Nothing that was never written.
    let expected: usize = models
        .iter()
        .map(|m| m.values().filter(|v| v.is_some()).count())
        .sum();
    match c.cmd(&["DBSIZE"]).map_err(io)? {
        Reply::Int(n) if n as usize == expected => Ok(()),
        other => Err(format!(
            "DBSIZE is {other:?}, the model has {expected} keys"
        )),
    }
}

fn run(o: &Opts) -> Result<(), String> {
    let tmp;
    let dir = match &o.dir {
        Some(d) => {
            std::fs::create_dir_all(d).map_err(|e| e.to_string())?;
            d.clone()
        }
        None => {
            tmp = std::env::temp_dir().join(format!(
                "strata-torture-{}-{}",
                std::process::id(),
                o.seed
            ));
            std::fs::create_dir_all(&tmp).map_err(|e| e.to_string())?;
            tmp
        }
    };
    let log = dir.join("server.log");
    println!(
        "torture: fsync={} cycles={} clients={} seed={} dir={}",
        o.fsync,
        o.cycles,
        o.clients,
        o.seed,
        dir.display()
    );
    let mut rng = SmallRng::seed_from_u64(o.seed);
    let mut models: Vec<HashMap<String, Option<Val>>> = vec![HashMap::new(); o.clients];
    let mut pending: Vec<Option<Pending>> = vec![None; o.clients];
    let mut seqs = vec![0u64; o.clients];
    let mut total_acked = 0u64;
    for cycle in 0..o.cycles {
        let port = free_port();
        let mut child = start_server(o, &dir, port, &log)?;
        verify(port, &mut models, &mut pending).map_err(|e| format!("cycle {cycle}: {e}"))?;
        let run_ms = rng.random_range(o.min_ms..=o.max_ms.max(o.min_ms));
        let seeds: Vec<u64> = (0..o.clients).map(|_| rng.random()).collect();
        let results = std::thread::scope(|scope| {
            let handles: Vec<_> = models
                .iter_mut()
                .zip(seqs.iter_mut())
                .zip(seeds)
                .enumerate()
                .map(|(id, ((model, seq), s))| {
                    scope.spawn(move || {
                        let mut r = SmallRng::seed_from_u64(s);
                        client_load(port, id, model, seq, &mut r)
                    })
                })
                .collect();
            std::thread::sleep(Duration::from_millis(run_ms));
            // SIGKILL: no shutdown, no final fsync.
            let _ = child.kill();
            let _ = child.wait();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err("client panicked".into())))
                .collect::<Vec<_>>()
        });
        let mut acked = 0;
        for (id, r) in results.into_iter().enumerate() {
            let (p, n) = r.map_err(|e| format!("cycle {cycle}: {e}"))?;
            pending[id] = p;
            acked += n;
        }
        total_acked += acked;
        println!("cycle {cycle}: {run_ms} ms of load, {acked} acknowledged writes, killed");
    }
    let port = free_port();
    let mut child = start_server(o, &dir, port, &log)?;
    let r = verify(port, &mut models, &mut pending);
    let _ = child.kill();
    let _ = child.wait();
    r.map_err(|e| format!("final check: {e}"))?;
    println!(
        "torture passed: {} cycles, {total_acked} acknowledged writes, nothing lost",
        o.cycles
    );
    if o.dir.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}

fn main() {
    let o = match parse_opts() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("strata-torture: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(&o) {
        // Keep the report readable: long values are cut.
        let e: String = if e.len() > 4000 {
            let mut cut = 4000;
            while !e.is_char_boundary(cut) {
                cut -= 1;
            }
            format!("{}... ({} more bytes)", &e[..cut], e.len() - cut)
        } else {
            e
        };
        eprintln!("TORTURE FAILED (seed {}): {e}", o.seed);
        std::process::exit(1);
    }
}
