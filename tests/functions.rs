//! Redis Functions: libraries in dump.rdb (restart, interop with
//! redis-server both ways), FUNCTION DUMP/RESTORE payloads exchanged with
//! Redis, busy functions and FUNCTION KILL, FCALL_RO refusing writes.

mod common;

use std::time::{Duration, Instant};

use common::{which, RawConn, RedisServer, Resp, TestServer};

/// Timing-sensitive tests (busy functions) run one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

const LIB: &str = "#!lua name=mylib\n\
    redis.register_function('hello', function(keys, args) return 'hello ' .. args[1] end)\n\
    redis.register_function{function_name='getk', callback=function(keys) return redis.call('get', keys[1]) end, \
    flags={'no-writes'}, description='reads one key'}";

/// Long enough for its code to be LZF-compressed in dumps.
const LIB2: &str = "#!lua name=counter\n\
    local prefix = 'counter:'\n\
    redis.register_function{function_name='bump', callback=function(keys, args) \
    return redis.call('incrby', prefix .. keys[1], args[1] or 1) end, flags={'allow-oom'}}\n\
    redis.register_function('peek', function(keys) return redis.call('get', prefix .. keys[1]) end)";

const BUSY_FUNCTION: &str =
    "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.";
const BUSY_SCRIPT: &str =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
const NOTBUSY: &str = "NOTBUSY No scripts in execution right now.";
const UNKILLABLE: &str = "UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.";

fn load(c: &mut RawConn, code: &str) -> Resp {
    c.cmd(&[b"FUNCTION", b"LOAD", code.as_bytes()])
}

fn bulk(s: &str) -> Resp {
    Resp::Bulk(Some(s.as_bytes().to_vec()))
}

fn ok() -> Resp {
    Resp::Simple("OK".into())
}

fn load_both_libraries(c: &mut RawConn) {
    assert_eq!(load(c, LIB), bulk("mylib"));
    assert_eq!(load(c, LIB2), bulk("counter"));
}

/// What the libraries do, checked on any server holding them.
fn check_libraries(c: &mut RawConn) {
    assert_eq!(c.cmd_str("FCALL hello 0 world"), bulk("hello world"));
    assert_eq!(c.cmd_str("SET k v"), ok());
    assert_eq!(c.cmd_str("FCALL_RO getk 1 k"), bulk("v"));
    assert_eq!(c.cmd_str("FCALL bump 1 x 5"), Resp::Int(5));
    assert_eq!(c.cmd_str("FCALL peek 1 x"), bulk("5"));
    assert_eq!(
        c.cmd_str("FCALL_RO bump 1 x"),
        Resp::Error("ERR Can not execute a script with write flag using *_ro command.".into())
    );
}

/// FUNCTION LIST WITHCODE with libraries, and the functions of each, in
/// name order (Redis lists them in its dictionaries' order).
fn listing(c: &mut RawConn) -> Resp {
    let Resp::Array(Some(libs)) = c.cmd_str("FUNCTION LIST WITHCODE") else {
        panic!("FUNCTION LIST");
    };
    let libs = libs
        .into_iter()
        .map(|lib| match lib {
            Resp::Array(Some(fields)) => Resp::Array(Some(
                fields
                    .into_iter()
                    .map(|f| match f {
                        Resp::Array(Some(_)) => f.sorted(),
                        other => other,
                    })
                    .collect(),
            )),
            other => other,
        })
        .collect();
    Resp::Array(Some(libs)).sorted()
}

fn assert_listing_eq(a: &mut RawConn, b: &mut RawConn) {
    let (x, y) = (listing(a), listing(b));
    assert!(x == y, "{}\n  !=\n{}", x.show(), y.show());
}

fn config_dir(c: &mut RawConn) -> std::path::PathBuf {
    match c.cmd_str("CONFIG GET dir") {
        Resp::Array(Some(v)) => match &v[1] {
            Resp::Bulk(Some(d)) => {
                std::path::PathBuf::from(String::from_utf8_lossy(d).into_owned())
            }
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
}

fn wait_bgsave(c: &mut RawConn) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Resp::Bulk(Some(info)) = c.cmd_str("INFO persistence") {
            let text = String::from_utf8_lossy(&info).into_owned();
            if text.contains("rdb_bgsave_in_progress:0") && !text.contains("rdb_saves:0") {
                return;
            }
        }
        assert!(Instant::now() < deadline, "BGSAVE did not finish");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn libraries_persist_across_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let before = {
        let s = TestServer::start_in(dir.path(), &[]).expect("start");
        let mut c = s.raw();
        assert_eq!(load(&mut c, LIB), bulk("mylib"));
        assert_eq!(c.cmd_str("SAVE"), ok());
        listing(&mut c)
    };
    {
        let s = TestServer::start_in(dir.path(), &[]).expect("reload after SAVE");
        let mut c = s.raw();
        let after = listing(&mut c);
        assert!(after == before, "{}", after.show());
        assert_eq!(c.cmd_str("FCALL hello 0 again"), bulk("hello again"));
        // BGSAVE writes them too.
        assert_eq!(load(&mut c, LIB2), bulk("counter"));
        assert_eq!(
            c.cmd_str("BGSAVE"),
            Resp::Simple("Background saving started".into())
        );
        wait_bgsave(&mut c);
    }
    let s = TestServer::start_in(dir.path(), &[]).expect("reload after BGSAVE");
    let mut c = s.raw();
    check_libraries(&mut c);
    let info = match c.cmd_str("INFO memory") {
        Resp::Bulk(Some(b)) => String::from_utf8_lossy(&b).into_owned(),
        other => panic!("{other:?}"),
    };
    assert!(info.contains("number_of_libraries:2\r\n"), "{info}");
    assert!(info.contains("number_of_functions:4\r\n"), "{info}");
    // FUNCTION FLUSH is saved as well.
    assert_eq!(c.cmd_str("FUNCTION FLUSH"), ok());
    assert_eq!(c.cmd_str("SAVE"), ok());
    drop(s);
    let s = TestServer::start_in(dir.path(), &[]).expect("reload after FLUSH");
    let mut c = s.raw();
    assert_eq!(c.cmd_str("FUNCTION LIST"), Resp::Array(Some(vec![])));
}

#[test]
fn redis_dump_with_functions_loads_into_strata() {
    let Some(redis) = RedisServer::require() else {
        return;
    };
    let mut r = RawConn::connect(redis.port);
    load_both_libraries(&mut r);
    assert_eq!(r.cmd_str("SET k v"), ok());
    assert_eq!(r.cmd_str("SAVE"), ok());
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(
        config_dir(&mut r).join("dump.rdb"),
        dir.path().join("dump.rdb"),
    )
    .expect("copy dump");
    let strata = TestServer::start_in(dir.path(), &[]).expect("Strata loads Redis's dump");
    let mut s = strata.raw();
    assert_listing_eq(&mut s, &mut r);
    assert_eq!(s.cmd_str("GET k"), bulk("v"));
    check_libraries(&mut s);
}

#[test]
fn strata_dump_with_functions_loads_into_redis() {
    let strata = TestServer::start(&[]);
    let mut s = strata.raw();
    load_both_libraries(&mut s);
    assert_eq!(s.cmd_str("SAVE"), ok());
    let file = strata.dir.join("dump.rdb");
    if let Some(check) = which("redis-check-rdb") {
        let out = std::process::Command::new(check)
            .arg(&file)
            .output()
            .expect("redis-check-rdb");
        assert!(
            out.status.success(),
            "redis-check-rdb: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    let Some(redis) = RedisServer::load_dump(&file) else {
        return;
    };
    let mut r = RawConn::connect(redis.port);
    assert_listing_eq(&mut r, &mut s);
    check_libraries(&mut r);
}

#[test]
fn function_dump_payloads_cross_restore() {
    let Some(redis) = RedisServer::require() else {
        return;
    };
    let strata = TestServer::start(&[]);
    let mut r = RawConn::connect(redis.port);
    let mut s = strata.raw();
    // One library at a time: the payload bytes are identical.
    for code in [LIB, LIB2] {
        assert_eq!(r.cmd_str("FUNCTION FLUSH"), ok());
        assert_eq!(s.cmd_str("FUNCTION FLUSH"), ok());
        load(&mut r, code);
        load(&mut s, code);
        assert_eq!(s.cmd_str("FUNCTION DUMP"), r.cmd_str("FUNCTION DUMP"));
    }
    // Redis's payload of two libraries restores into Strata...
    load(&mut r, LIB);
    let Resp::Bulk(Some(from_redis)) = r.cmd_str("FUNCTION DUMP") else {
        panic!("FUNCTION DUMP");
    };
    assert_eq!(
        s.cmd(&[b"FUNCTION", b"RESTORE", &from_redis, b"FLUSH"]),
        ok()
    );
    check_libraries(&mut s);
    assert_listing_eq(&mut s, &mut r);
    // ...and Strata's into Redis.
    let Resp::Bulk(Some(from_strata)) = s.cmd_str("FUNCTION DUMP") else {
        panic!("FUNCTION DUMP");
    };
    assert_eq!(r.cmd_str("FUNCTION FLUSH"), ok());
    assert_eq!(r.cmd(&[b"FUNCTION", b"RESTORE", &from_strata]), ok());
    assert_listing_eq(&mut r, &mut s);
    // A payload whose libraries already exist is refused, all or nothing
    // (which library is named depends on Redis's dictionary order).
    let before = listing(&mut s);
    for c in [&mut s, &mut r] {
        let reply = c.cmd(&[b"FUNCTION", b"RESTORE", &from_redis]);
        assert!(
            matches!(&reply, Resp::Error(e) if e.starts_with("ERR Library ") && e.ends_with(" already exists")),
            "{}",
            reply.show()
        );
    }
    assert!(listing(&mut s) == before);
}

#[test]
fn rdb_with_a_broken_library_is_refused() {
    use strata_storage::rdb::file::RdbFileWriter;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut w = RdbFileWriter::new(Vec::new(), &[], true, true).expect("header");
    w.function(b"#!lua name=broken\n-- registers nothing")
        .expect("function");
    let data = w.finish().expect("finish");
    std::fs::write(dir.path().join("dump.rdb"), data).expect("write");
    let err = match TestServer::start_in(dir.path(), &[]) {
        Err(e) => e,
        Ok(_) => panic!("a library without functions must not load"),
    };
    assert!(
        err.contains("Failed loading library") && err.contains("No functions registered"),
        "{err}"
    );
}

const SPIN_LIB: &str = "#!lua name=spin\n\
    redis.register_function('spin', function() while true do pcall(function() while true do end end) end end)\n\
    redis.register_function('wspin', function(keys) redis.call('set', keys[1], '1') \
    local n = 0 for i = 1, 1500000000 do n = n + 1 end return n end)";

/// Retries `cmd` while it answers NOTBUSY (the function may not have
/// started yet on a loaded machine).
fn once_busy(c: &mut RawConn, cmd: &str) -> Resp {
    let mut r = c.cmd_str(cmd);
    for _ in 0..100 {
        if r != Resp::Error(NOTBUSY.into()) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
        r = c.cmd_str(cmd);
    }
    r
}

#[test]
fn busy_function_is_killed_by_function_kill() {
    let _serial = serial();
    let server = TestServer::start(&[("busy-reply-threshold", "100")]);
    let mut runner = server.raw();
    let mut killer = server.raw();
    let mut other = server.raw();
    assert_eq!(load(&mut runner, SPIN_LIB), bulk("spin"));
    assert_eq!(killer.cmd_str("FUNCTION KILL"), Resp::Error(NOTBUSY.into()));
    for c in [&mut runner, &mut killer, &mut other] {
        assert_eq!(c.cmd_str("PING"), Resp::Simple("PONG".into()));
    }
    std::thread::sleep(Duration::from_millis(100));
    runner.send(&[b"FCALL", b"spin", b"0"]);
    std::thread::sleep(Duration::from_millis(400));
    // SCRIPT KILL does not kill functions.
    assert_eq!(
        once_busy(&mut killer, "SCRIPT KILL"),
        Resp::Error(BUSY_FUNCTION.into())
    );
    assert_eq!(other.cmd_str("GET k"), Resp::Error(BUSY_FUNCTION.into()));
    assert_eq!(
        other.cmd_str("EVAL \"return 1\" 0"),
        Resp::Error(BUSY_FUNCTION.into())
    );
    // FUNCTION STATS reports the running function.
    let Resp::Array(Some(stats)) = killer.cmd_str("FUNCTION STATS") else {
        panic!("FUNCTION STATS");
    };
    assert_eq!(stats[0], bulk("running_script"));
    let Resp::Array(Some(running)) = &stats[1] else {
        panic!("running_script: {}", stats[1].show());
    };
    assert_eq!(running[0], bulk("name"));
    assert_eq!(running[1], bulk("spin"));
    assert_eq!(
        running[3],
        Resp::Array(Some(vec![bulk("FCALL"), bulk("spin"), bulk("0")]))
    );
    assert_eq!(running[4], bulk("duration_ms"));
    assert!(
        matches!(running[5], Resp::Int(ms) if ms >= 100),
        "{running:?}"
    );
    assert_eq!(
        stats[3],
        Resp::Array(Some(vec![
            bulk("LUA"),
            Resp::Array(Some(vec![
                bulk("libraries_count"),
                Resp::Int(1),
                bulk("functions_count"),
                Resp::Int(2)
            ]))
        ]))
    );
    assert_eq!(killer.cmd_str("FUNCTION KILL"), ok());
    let started = Instant::now();
    let reply = runner.read();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        reply,
        Resp::Error(
            "ERR Script killed by user with SCRIPT KILL... script: spin, on @user_function:2."
                .into()
        )
    );
    assert_eq!(other.cmd_str("PING"), Resp::Simple("PONG".into()));
    assert_eq!(killer.cmd_str("FUNCTION KILL"), Resp::Error(NOTBUSY.into()));
    let Resp::Array(Some(stats)) = killer.cmd_str("FUNCTION STATS") else {
        panic!("FUNCTION STATS");
    };
    assert_eq!(stats[1], Resp::Bulk(None));
    assert_eq!(
        runner.cmd_str("FCALL_RO spin 0"),
        Resp::Error("ERR Can not execute a script with write flag using *_ro command.".into())
    );
}

#[test]
fn function_that_wrote_is_unkillable() {
    let _serial = serial();
    let server = TestServer::start(&[("busy-reply-threshold", "100")]);
    let mut runner = server.raw();
    let mut killer = server.raw();
    assert_eq!(load(&mut runner, SPIN_LIB), bulk("spin"));
    for c in [&mut runner, &mut killer] {
        assert_eq!(c.cmd_str("PING"), Resp::Simple("PONG".into()));
    }
    std::thread::sleep(Duration::from_millis(100));
    runner.send(&[b"FCALL", b"wspin", b"1", b"w"]);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        once_busy(&mut killer, "FUNCTION KILL"),
        Resp::Error(UNKILLABLE.into())
    );
    assert_eq!(
        killer.cmd_str("SCRIPT KILL"),
        Resp::Error(UNKILLABLE.into())
    );
    assert_eq!(runner.read(), Resp::Int(1_500_000_000));
    assert_eq!(killer.cmd_str("GET w"), bulk("1"));
}

#[test]
fn busy_eval_is_not_killed_by_function_kill() {
    let _serial = serial();
    let server = TestServer::start(&[("busy-reply-threshold", "100")]);
    let mut runner = server.raw();
    let mut killer = server.raw();
    for c in [&mut runner, &mut killer] {
        assert_eq!(c.cmd_str("PING"), Resp::Simple("PONG".into()));
    }
    std::thread::sleep(Duration::from_millis(100));
    runner.send(&[b"EVAL", b"while true do end", b"0"]);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        once_busy(&mut killer, "FUNCTION KILL"),
        Resp::Error(BUSY_SCRIPT.into())
    );
    assert_eq!(
        killer.cmd_str("FUNCTION STATS"),
        Resp::Error(BUSY_SCRIPT.into())
    );
    assert_eq!(killer.cmd_str("SCRIPT KILL"), ok());
    let reply = runner.read();
    assert!(
        matches!(&reply, Resp::Error(e) if e.starts_with("ERR Script killed by user with SCRIPT KILL...")),
        "{}",
        reply.show()
    );
}

#[test]
fn fcall_ro_rejects_writes() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    let lib = "#!lua name=rw\n\
        redis.register_function('setter', function(keys, args) return redis.call('set', keys[1], args[1]) end)\n\
        redis.register_function{function_name='sneaky', callback=function(keys, args) return redis.call('set', keys[1], args[1]) end, flags={'no-writes'}}\n\
        redis.register_function{function_name='reader', callback=function(keys) return redis.call('get', keys[1]) end, flags={'no-writes'}}";
    assert_eq!(load(&mut c, lib), bulk("rw"));
    assert_eq!(
        c.cmd_str("FCALL_RO setter 1 a 1"),
        Resp::Error("ERR Can not execute a script with write flag using *_ro command.".into())
    );
    for cmd in ["FCALL_RO sneaky 1 a 1", "FCALL sneaky 1 a 1"] {
        assert_eq!(
            c.cmd_str(cmd),
            Resp::Error(
                "ERR Write commands are not allowed from read-only scripts. script: sneaky, on @user_function:3."
                    .into()
            ),
            "{cmd}"
        );
    }
    assert_eq!(c.cmd_str("EXISTS a"), Resp::Int(0));
    assert_eq!(c.cmd_str("FCALL setter 1 a 1"), ok());
    assert_eq!(c.cmd_str("FCALL_RO reader 1 a"), bulk("1"));
    // The key positions are the numkeys ones, as EVAL's.
    assert_eq!(
        c.cmd_str("COMMAND GETKEYS FCALL setter 2 a b c"),
        Resp::Array(Some(vec![bulk("a"), bulk("b")]))
    );
}
