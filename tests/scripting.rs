//! Lua scripting: sandbox escapes, busy scripts and SCRIPT KILL, memory
//! limits, RESP3 conversions of script replies.

mod common;

use std::time::{Duration, Instant};

use common::{Resp, TestServer};

/// Timing-sensitive tests (busy scripts) and the memory-heavy one run
/// one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn eval(conn: &mut common::RawConn, script: &str) -> Resp {
    conn.cmd(&[b"EVAL", script.as_bytes(), b"0"])
}

fn is_error(r: &Resp) -> bool {
    matches!(r, Resp::Error(_))
}

fn error_text(r: &Resp) -> String {
    match r {
        Resp::Error(e) => e.clone(),
        other => panic!("expected an error, got {}", other.show()),
    }
}

#[test]
fn sandbox_escapes_fail() {
    let _serial = serial();
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    let escapes = [
        "return os.execute('true')",
        "return io.open('/etc/passwd')",
        "return package.loadlib('libc.so.6', 'system')",
        "return dofile('/etc/passwd')",
        "return loadfile('/etc/passwd')",
        "return require('os')",
        "return debug.getinfo(1)",
        "return getfenv(0)",
        "return setfenv(1, {})",
        "return newproxy(true)",
        "return print('x')",
        "return module('x')",
        "return loadstring('return os')().execute('true')",
        "return loadstring('return io')()",
        "return load(function() return nil end)() .. os",
        "getmetatable(_G).__index = nil",
        "getmetatable(_G).__newindex = nil",
        "setmetatable(_G, nil)",
        "rawset(_G, 'os', {})",
        "rawset(redis, 'call', function() return 'hijacked' end)",
        "redis.call = function() return 'hijacked' end",
        "string.rep = function() return 'hijacked' end",
        "getmetatable('').__index = {}",
        "getmetatable('').__index.rep = nil",
        "_G.newglobal = 1",
        "newglobal = 1",
        "return loadstring(string.dump(function() return 1 end))()",
        "cjson.encode = nil",
        "math.random = nil",
        "table.insert = nil",
    ];
    for s in escapes {
        let r = eval(&mut c, s);
        assert!(is_error(&r), "{s:?} should fail, got {}", r.show());
    }
    // Nothing leaked into later scripts.
    assert_eq!(
        eval(&mut c, "return type(os)").show(),
        eval(&mut c, "return type(os)").show()
    );
    assert!(error_text(&eval(&mut c, "return newglobal"))
        .contains("Script attempted to access nonexistent global variable 'newglobal'"));
    assert_eq!(
        eval(&mut c, "return redis.call('ping')"),
        Resp::Simple("PONG".into())
    );
    assert_eq!(
        eval(&mut c, "return string.rep('ab', 2)"),
        Resp::Bulk(Some(b"abab".to_vec()))
    );
    assert_eq!(
        eval(&mut c, "return ('x'):rep(3)"),
        Resp::Bulk(Some(b"xxx".to_vec()))
    );
    // The exact Redis texts.
    assert_eq!(
        error_text(&eval(&mut c, "x=1")),
        "ERR user_script:1: Attempt to modify a readonly table script: 7caf6056913504f0508c65faf2dc3f94ff65bcfd, on @user_script:1."
    );
    assert_eq!(
        error_text(&eval(&mut c, "return x")),
        "ERR user_script:1: Script attempted to access nonexistent global variable 'x' script: 03c387736bb5cc009ff35151572cee04677aa374, on @user_script:1."
    );
    assert_eq!(
        c.cmd_str("PING"),
        Resp::Simple("PONG".into()),
        "server keeps serving"
    );
}

#[test]
fn busy_script_is_killed_from_another_connection() {
    let _serial = serial();
    let server = TestServer::start(&[("busy-reply-threshold", "100")]);
    let mut runner = server.raw();
    let mut killer = server.raw();
    let mut other = server.raw();
    assert_eq!(
        killer.cmd_str("SCRIPT KILL"),
        Resp::Error("NOTBUSY No scripts in execution right now.".into())
    );
    // Every connection is set up and idle before the script starts.
    for c in [&mut runner, &mut killer, &mut other] {
        assert_eq!(c.cmd_str("PING"), Resp::Simple("PONG".into()));
    }
    std::thread::sleep(Duration::from_millis(100));
    // A script that loops forever, even catching errors with pcall.
    runner.send(&[
        b"EVAL",
        b"while true do pcall(function() while true do end end) end",
        b"0",
    ]);
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(
        other.cmd_str("GET k"),
        Resp::Error(
            "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
                .into()
        )
    );
    assert_eq!(killer.cmd_str("SCRIPT KILL"), Resp::Simple("OK".into()));
    let started = Instant::now();
    let reply = runner.read();
    assert!(started.elapsed() < Duration::from_secs(5));
    let text = error_text(&reply);
    assert!(
        text.starts_with("ERR Script killed by user with SCRIPT KILL... script: "),
        "{text}"
    );
    assert_eq!(other.cmd_str("PING"), Resp::Simple("PONG".into()));
    assert_eq!(
        killer.cmd_str("SCRIPT KILL"),
        Resp::Error("NOTBUSY No scripts in execution right now.".into())
    );
    // The runner's connection still works.
    assert_eq!(eval(&mut runner, "return 7"), Resp::Int(7));
}

#[test]
fn script_that_wrote_is_unkillable() {
    let _serial = serial();
    let server = TestServer::start(&[("busy-reply-threshold", "100")]);
    let mut runner = server.raw();
    let mut killer = server.raw();
    for c in [&mut runner, &mut killer] {
        assert_eq!(c.cmd_str("PING"), Resp::Simple("PONG".into()));
    }
    std::thread::sleep(Duration::from_millis(100));
    // Writes, then spins for a while (bounded).
    runner.send(&[
        b"EVAL",
        b"redis.call('set', 'w', '1') local n = 0 for i = 1, 1500000000 do n = n + 1 end return n",
        b"0",
    ]);
    std::thread::sleep(Duration::from_millis(300));
    // On a loaded machine the script may not have started yet: retry.
    let mut r = killer.cmd_str("SCRIPT KILL");
    for _ in 0..100 {
        if r != Resp::Error("NOTBUSY No scripts in execution right now.".into()) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
        r = killer.cmd_str("SCRIPT KILL");
    }
    assert_eq!(
        r,
        Resp::Error("UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.".into())
    );
    assert_eq!(runner.read(), Resp::Int(1_500_000_000));
    assert_eq!(killer.cmd_str("GET w"), Resp::Bulk(Some(b"1".to_vec())));
}

#[test]
fn huge_allocation_fails_cleanly() {
    let _serial = serial();
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    let r = eval(
        &mut c,
        "local s = string.rep('x', 100 * 1024 * 1024) local t = {} for i = 1, 40 do t[i] = s .. i end return #t",
    );
    let text = error_text(&r);
    assert!(text.contains("not enough memory"), "{text}");
    let r = eval(&mut c, "return string.rep('x', 2000000000)");
    assert!(is_error(&r), "{}", r.show());
    // The server and the Lua VM keep working.
    assert_eq!(c.cmd_str("PING"), Resp::Simple("PONG".into()));
    assert_eq!(
        eval(
            &mut c,
            "local t = {} for i = 1, 1000 do t[i] = i end return #t"
        ),
        Resp::Int(1000)
    );
    assert_eq!(
        eval(&mut c, "return string.rep('y', 1024 * 1024):len()"),
        Resp::Int(1024 * 1024)
    );
}

#[test]
fn resp3_conversions_under_resp2_client() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    // Replies parsed with RESP3 rules inside the script.
    assert_eq!(
        eval(
            &mut c,
            "redis.setresp(3); return type(redis.call('get', 'nokey'))"
        ),
        Resp::Bulk(Some(b"nil".to_vec()))
    );
    assert_eq!(
        eval(
            &mut c,
            "redis.setresp(2); return type(redis.call('get', 'nokey'))"
        ),
        Resp::Bulk(Some(b"boolean".to_vec()))
    );
    assert_eq!(
        eval(&mut c, "redis.setresp(3); return redis.call('ping')"),
        Resp::Simple("PONG".into())
    );
    // Script returns with RESP3-only shapes, as a RESP2 client sees them.
    assert_eq!(eval(&mut c, "redis.setresp(3); return true"), Resp::Int(1));
    assert_eq!(eval(&mut c, "redis.setresp(3); return false"), Resp::Int(0));
    assert_eq!(eval(&mut c, "return false"), Resp::Bulk(None));
    assert_eq!(
        eval(&mut c, "return {double = 1.5}"),
        Resp::Bulk(Some(b"1.5".to_vec()))
    );
    assert_eq!(
        eval(&mut c, "return {map = {a = 1}}"),
        Resp::Array(Some(vec![Resp::Bulk(Some(b"a".to_vec())), Resp::Int(1)]))
    );
    assert_eq!(
        eval(&mut c, "return {set = {x = true}}"),
        Resp::Array(Some(vec![Resp::Bulk(Some(b"x".to_vec()))]))
    );
    assert_eq!(
        eval(
            &mut c,
            "return {big_number = '123456789012345678901234567890'}"
        ),
        Resp::Bulk(Some(b"123456789012345678901234567890".to_vec()))
    );
    // HELLO 3, where this build has it: the same script replies natively.
    if let Resp::Map(_) | Resp::Array(Some(_)) = c.cmd_str("HELLO 3") {
        assert_eq!(
            eval(&mut c, "return {double = 1.5}"),
            Resp::Double("1.5".into())
        );
        assert_eq!(
            eval(&mut c, "redis.setresp(3); return true"),
            Resp::Bool(true)
        );
        assert_eq!(eval(&mut c, "return nil"), Resp::Null);
    }
}

#[test]
fn scripts_are_cached_and_flushed() {
    let server = TestServer::start(&[]);
    let mut c = server.raw();
    let sha = match c.cmd(&[b"SCRIPT", b"LOAD", b"return ARGV[1] .. KEYS[1]"]) {
        Resp::Bulk(Some(s)) => String::from_utf8(s).expect("hex"),
        other => panic!("{}", other.show()),
    };
    assert_eq!(sha.len(), 40);
    assert_eq!(
        c.cmd(&[b"EVALSHA", sha.as_bytes(), b"1", b"k", b"a"]),
        Resp::Bulk(Some(b"ak".to_vec()))
    );
    assert_eq!(c.cmd_str("SCRIPT FLUSH"), Resp::Simple("OK".into()));
    assert_eq!(
        c.cmd(&[b"EVALSHA", sha.as_bytes(), b"1", b"k", b"a"]),
        Resp::Error("NOSCRIPT No matching script. Please use EVAL.".into())
    );
    // Lua globals reset with the VM: scripts still run after a flush.
    assert_eq!(eval(&mut c, "return 1"), Resp::Int(1));
}
