//! Minimal Redis-style logging to stderr: `pid:M dd Mon HH:MM:SS.mmm * msg`.

use std::io::Write;

fn line(level: char, msg: &str) {
    let now = crate::server::now_ms();
    let secs = now / 1000;
    let ms = now % 1000;
    let (h, m, s) = ((secs / 3600) % 24, (secs / 60) % 60, secs % 60);
    let _ = writeln!(
        std::io::stderr(),
        "{}:M {:02}:{:02}:{:02}.{:03} {} {}",
        std::process::id(),
        h,
        m,
        s,
        ms,
        level,
        msg
    );
}

pub fn notice(msg: &str) {
    line('*', msg);
}

pub fn warning(msg: &str) {
    line('#', msg);
}
