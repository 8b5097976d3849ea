//! A small failpoint registry: named sites in the I/O paths (every AOF
//! write, fsync and rename, dump.rdb, spills) that tests can make fail on
//! purpose.
//!
//! Each registry belongs to one server (tests run several servers in one
//! process). Sites call [`Failpoints::check`], which costs one relaxed
//! atomic load while nothing is armed. A point is armed with
//! [`Failpoints::set`] or, for the server binary, with the environment
//! variable `STRATA_FAILPOINTS`: `name=spec[,name=spec...]` where spec is
//! `off`, `error` (EIO), `enospc` (ENOSPC), and may be prefixed with
//! `N*` to fail only the next N hits (`aof.fsync=2*error`).
//!
//! Sites: `aof.write`, `aof.fsync`, `aof.rename`, `aof.base.write`,
//! `aof.base.fsync`, `aof.manifest.write`, `aof.manifest.fsync`,
//! `aof.dir.fsync`, `aof.truncate`, `aof.cold.checkpoint` (making a cold
//! checkpoint durable), `rdb.write`, `rdb.fsync`, `rdb.rename` (dump.rdb),
//! `tier.spill` (a spill batch written to the cold store).

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Armed {
    errno: i32,
    /// Remaining failures; `None` fails until disarmed.
    times: Option<u32>,
}

/// The failpoints of one server.
#[derive(Default, Debug)]
pub struct Failpoints {
    any: AtomicBool,
    points: Mutex<HashMap<String, Armed>>,
}

const EIO: i32 = 5;
const ENOSPC: i32 = 28;

impl Failpoints {
    /// A registry armed from `STRATA_FAILPOINTS`, if set.
    pub fn from_env() -> Failpoints {
        let f = Failpoints::default();
        if let Ok(spec) = std::env::var("STRATA_FAILPOINTS") {
            for item in spec.split(',').filter(|s| !s.trim().is_empty()) {
                let (name, what) = item.split_once('=').unwrap_or((item, "error"));
                if let Err(e) = f.set(name.trim(), what.trim()) {
                    crate::log::warning(&format!("STRATA_FAILPOINTS: {e}"));
                }
            }
        }
        f
    }

    /// Arms (or with `off` disarms) the failpoint `name`.
    ///
    /// # Errors
    /// An unknown spec.
    pub fn set(&self, name: &str, spec: &str) -> Result<(), String> {
        let (times, what) = match spec.split_once('*') {
            Some((n, w)) => (
                Some(
                    n.trim()
                        .parse::<u32>()
                        .map_err(|_| format!("bad failpoint count in {spec:?}"))?,
                ),
                w.trim(),
            ),
            None => (None, spec.trim()),
        };
        let mut points = self.points.lock();
        match what {
            "off" => {
                points.remove(name);
            }
            "error" | "eio" => {
                points.insert(name.to_string(), Armed { errno: EIO, times });
            }
            "enospc" => {
                points.insert(
                    name.to_string(),
                    Armed {
                        errno: ENOSPC,
                        times,
                    },
                );
            }
            _ => return Err(format!("unknown failpoint action {spec:?}")),
        }
        self.any.store(!points.is_empty(), Ordering::Relaxed);
        Ok(())
    }

    /// Disarms everything.
    pub fn clear(&self) {
        self.points.lock().clear();
        self.any.store(false, Ordering::Relaxed);
    }

    /// Fails with the armed error if `name` is armed.
    ///
    /// # Errors
    /// The injected error.
    pub fn check(&self, name: &str) -> io::Result<()> {
        if !self.any.load(Ordering::Relaxed) {
            return Ok(());
        }
        let mut points = self.points.lock();
        let Some(a) = points.get_mut(name) else {
            return Ok(());
        };
        let errno = a.errno;
        if let Some(t) = a.times.as_mut() {
            *t = t.saturating_sub(1);
            if *t == 0 {
                points.remove(name);
                self.any.store(!points.is_empty(), Ordering::Relaxed);
            }
        }
        Err(io::Error::from_raw_os_error(errno))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arm_count_disarm() {
        let f = Failpoints::default();
        assert!(f.check("a").is_ok());
        f.set("a", "2*error").expect("set");
        assert!(f.check("a").is_err());
        assert!(f.check("b").is_ok());
        assert!(f.check("a").is_err());
        assert!(f.check("a").is_ok());
        f.set("a", "enospc").expect("set");
        assert_eq!(f.check("a").err().and_then(|e| e.raw_os_error()), Some(28));
        f.set("a", "off").expect("set");
        assert!(f.check("a").is_ok());
        assert!(f.set("a", "explode").is_err());
    }
}
