//! Redis's LFU: an 8-bit logarithmic counter plus a 16-bit decay clock.
//!
//! Layout of the 24 bits kept per key (as in Redis's `evict.c`):
//!
//! ```text
//!       16 bits      8 bits
//! +----------------+--------+
//! + Last decr time | LOG_C  |
//! +----------------+--------+
//! ```
//!
//! `LOG_C` grows logarithmically with accesses (`lfu-log-factor`) and is
//! decremented by one per `lfu-decay-time` minutes elapsed.
//! The time is kept in minutes, modulo 2^16.

use rand::Rng;

/// Initial counter value for new keys, so they are not evicted at once.
pub const LFU_INIT_VAL: u8 = 5;

/// Packed LFU state: `(minutes << 8) | counter`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lfu(pub u32);

/// Parameters from the config (`lfu-log-factor`, `lfu-decay-time`).
#[derive(Clone, Copy, Debug)]
pub struct LfuParams {
    pub log_factor: u32,
    pub decay_time: u32,
}

impl Default for LfuParams {
    fn default() -> Self {
        LfuParams {
            log_factor: 10,
            decay_time: 1,
        }
    }
}

/// Current time in minutes, modulo 2^16.
pub fn minutes(now_ms: i64) -> u16 {
    ((now_ms / 60_000) & 0xffff) as u16
}

fn elapsed_minutes(now: u16, last: u16) -> u32 {
    if now >= last {
        u32::from(now - last)
    } else {
        65535 - u32::from(last) + u32::from(now)
    }
}

impl Lfu {
    pub fn new(now_ms: i64) -> Self {
        Lfu((u32::from(minutes(now_ms)) << 8) | u32::from(LFU_INIT_VAL))
    }

    pub fn counter(self) -> u8 {
        (self.0 & 0xff) as u8
    }

    pub fn last_decrement(self) -> u16 {
        (self.0 >> 8) as u16
    }

    /// The counter after applying decay up to `now_ms`, without storing it
    /// (what `OBJECT FREQ` and the eviction sampler see).
    pub fn decayed(self, now_ms: i64, params: LfuParams) -> u8 {
        let periods = if params.decay_time == 0 {
            0
        } else {
            elapsed_minutes(minutes(now_ms), self.last_decrement()) / params.decay_time
        };
        let c = u32::from(self.counter());
        if periods > c {
            0
        } else {
            (c - periods) as u8
        }
    }

    /// Records one access: decay, then a probabilistic increment.
    pub fn touch<R: Rng + ?Sized>(&mut self, now_ms: i64, params: LfuParams, rng: &mut R) {
        let mut c = self.decayed(now_ms, params);
        if c < 255 {
            let base = f64::from(c.saturating_sub(LFU_INIT_VAL));
            let p = 1.0 / (base * f64::from(params.log_factor) + 1.0);
            if rng.random::<f64>() < p {
                c += 1;
            }
        }
        self.0 = (u32::from(minutes(now_ms)) << 8) | u32::from(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn grows_logarithmically_and_decays() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(3);
        let p = LfuParams::default();
        let mut l = Lfu::new(0);
        assert_eq!(l.counter(), LFU_INIT_VAL);
        for _ in 0..1000 {
            l.touch(0, p, &mut rng);
        }
        let c = l.counter();
        assert!(c > 10 && c < 40, "counter {c}");
        // Ten minutes later the counter has lost ten.
        assert_eq!(l.decayed(10 * 60_000, p), c - 10);
    }
}
