//! Admission of cold keys into memory (TinyLFU).
//!
//! Redis's 8-bit LFU counter grows logarithmically: after a few seconds of
//! a Zipf workload, keys read once a second and keys read once a minute
//! both sit at 5 to 7, so choosing which cold key deserves memory by that
//! counter alone lets one-off reads push out keys that are read far more
//! often. A [`FreqSketch`] counts recent accesses of every key, in memory
//! or not, in a few bits each (a count-min sketch of 4-bit counters that
//! are halved every `10 x width` accesses, so it forgets old popularity).
//!
//! A cold key that a command reads is brought into memory either way (the
//! command runs on a resident value), but it is *admitted* (left in
//! memory) only if the sketch says it is read more often than the keys
//! eviction has recently been choosing; otherwise it is dropped again
//! once its batch has run (it is unchanged, and its record is still on
//! disk), and it pushes nothing out. A sweep over every key (SCAN plus
//! GET) is then served without flushing the hot set.

/// A count-min sketch of 4-bit counters, packed 16 to a word. Each key
/// has one counter in each of four words; its estimate is the smallest.
/// The four words lie in one 64-byte block of eight (row `i` in words
/// `2i` or `2i + 1` of the block), so counting an access costs one cache
/// miss, not four.
pub struct FreqSketch {
    table: Vec<u64>,
    /// Increments since the last halving.
    additions: u32,
    /// Increments between halvings.
    sample: u32,
}

const SEEDS: [u64; 4] = [
    0xc3a5_c85c_97cb_3127,
    0xb492_b66f_be98_f273,
    0x9ae1_6a3b_2f90_404f,
    0xcbf2_9ce4_8422_2325,
];

/// Words per block (one 64-byte cache line).
const BLOCK: usize = 8;

/// Smallest table (words).
const MIN_WORDS: usize = 256;
/// Largest table (words): 8 MiB.
const MAX_WORDS: usize = 1 << 20;

impl FreqSketch {
    /// A sketch sized for about `keys` keys in memory (one word per key,
    /// rounded up to a power of two, within 2 KiB and 8 MiB).
    pub fn new(keys: usize) -> FreqSketch {
        let words = keys.clamp(MIN_WORDS, MAX_WORDS).next_power_of_two();
        FreqSketch {
            table: vec![0; words],
            additions: 0,
            sample: (words as u32).saturating_mul(10),
        }
    }

    /// Words in the table.
    pub fn words(&self) -> usize {
        self.table.len()
    }

    /// Bytes the table takes.
    pub fn mem_usage(&self) -> usize {
        self.table.len() * 8
    }

    #[inline]
    fn slot(&self, hash: u64, i: usize) -> (usize, u32) {
        // The key's block, from the hash's low bits (the same for every
        // row)...
        let block = (hash as usize) & (self.table.len() / BLOCK - 1);
        // ...and, per row, one of its two words and the counter within
        // (16 of them, 4 bits each).
        let h = (hash ^ SEEDS[i]).wrapping_mul(SEEDS[(i + 1) & 3]);
        let h = h ^ (h >> 29);
        let word = block * BLOCK + 2 * i + (h >> 63) as usize;
        let shift = ((h >> 58) as u32 & 15) * 4;
        (word, shift)
    }

    /// Counts one access of the key with hash `hash` (conservative
    /// update: only the key's smallest counters grow, which keeps keys
    /// sharing a counter from inflating each other's estimates).
    pub fn increment(&mut self, hash: u64) {
        let slots = [0, 1, 2, 3].map(|i| self.slot(hash, i));
        let min = slots
            .iter()
            .map(|&(w, s)| (self.table[w] >> s) & 15)
            .min()
            .unwrap_or(15);
        if min == 15 {
            return;
        }
        for (w, s) in slots {
            if (self.table[w] >> s) & 15 == min {
                self.table[w] += 1 << s;
            }
        }
        self.additions += 1;
        if self.additions >= self.sample {
            self.halve();
        }
    }

    /// Estimated recent accesses (0 to 15) of the key with hash `hash`.
    pub fn frequency(&self, hash: u64) -> u8 {
        let mut f = 15u64;
        for i in 0..4 {
            let (w, s) = self.slot(hash, i);
            f = f.min((self.table[w] >> s) & 15);
        }
        f as u8
    }

    /// Ages every counter (halves it).
    fn halve(&mut self) {
        for w in &mut self.table {
            *w = (*w >> 1) & 0x7777_7777_7777_7777;
        }
        self.additions /= 2;
    }
}

/// A key's hash for the sketch.
#[inline]
pub fn key_hash(key: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_saturates() {
        let mut s = FreqSketch::new(1024);
        let a = key_hash(b"a");
        assert_eq!(s.frequency(a), 0);
        for n in 1..=20u8 {
            s.increment(a);
            assert_eq!(s.frequency(a), n.min(15));
        }
        assert_eq!(s.frequency(key_hash(b"b")), 0);
    }

    #[test]
    fn frequent_keys_outrank_rare_ones() {
        let mut s = FreqSketch::new(1024);
        // 200 keys read 8 times each among 5,000 keys read once.
        for round in 0..8 {
            for k in 0..200u32 {
                s.increment(key_hash(format!("hot:{k}").as_bytes()));
            }
            for k in 0..625u32 {
                s.increment(key_hash(format!("cold:{}", round * 625 + k).as_bytes()));
            }
        }
        let hot: u32 = (0..200u32)
            .map(|k| u32::from(s.frequency(key_hash(format!("hot:{k}").as_bytes()))))
            .min()
            .unwrap_or(0);
        let rare_above_1 = (0..5000u32)
            .filter(|k| s.frequency(key_hash(format!("cold:{k}").as_bytes())) > 1)
            .count();
        assert!(hot >= 4, "hot keys estimated at {hot}");
        assert!(
            rare_above_1 < 500,
            "{rare_above_1} rare keys over-estimated"
        );
    }

    #[test]
    fn halving_forgets() {
        let mut s = FreqSketch::new(256);
        let a = key_hash(b"a");
        for _ in 0..12 {
            s.increment(a);
        }
        assert_eq!(s.frequency(a), 12);
        // Enough other traffic to trigger a halving.
        for k in 0..(256 * 10) as u64 {
            s.increment(key_hash(&k.to_le_bytes()));
        }
        assert!(s.frequency(a) <= 8, "{}", s.frequency(a));
    }

    #[test]
    fn sizes_are_bounded() {
        assert_eq!(FreqSketch::new(0).words(), MIN_WORDS);
        assert_eq!(FreqSketch::new(40_000).words(), 65_536);
        assert_eq!(FreqSketch::new(usize::MAX).words(), MAX_WORDS);
    }
}
