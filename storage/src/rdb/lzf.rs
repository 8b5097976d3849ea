//! LZF, the compression Redis uses for long strings in RDB files.
//!
//! Format: a sequence of runs. Control byte `c`:
//! * `c < 32`: a literal run of `c + 1` bytes follows.
//! * otherwise a back reference: length `c >> 5` (7 means one more length
//!   byte follows and is added), offset `((c & 0x1f) << 8) + next byte + 1`
//!   back from the output end; `length + 2` bytes are copied.

/// Decompresses `input` into exactly `expected_len` bytes. Returns `None`
/// on any inconsistency (truncated input, reference before the start,
/// output longer or shorter than announced).
pub fn decompress(input: &[u8], expected_len: usize) -> Option<Vec<u8>> {
    let mut out: Vec<u8> = Vec::with_capacity(expected_len.min(1 << 26));
    let mut i = 0;
    while i < input.len() {
        let ctrl = usize::from(input[i]);
        i += 1;
        if ctrl < 32 {
            let n = ctrl + 1;
            let lit = input.get(i..i + n)?;
            if out.len() + n > expected_len {
                return None;
            }
            out.extend_from_slice(lit);
            i += n;
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                len += usize::from(*input.get(i)?);
                i += 1;
            }
            let back = ((ctrl & 0x1f) << 8) + usize::from(*input.get(i)?) + 1;
            i += 1;
            let len = len + 2;
            if back > out.len() || out.len() + len > expected_len {
                return None;
            }
            let start = out.len() - back;
            for k in 0..len {
                let b = out[start + k];
                out.push(b);
            }
        }
    }
    if out.len() == expected_len {
        Some(out)
    } else {
        None
    }
}

// Compression: a port of liblzf 3.6's `lzf_compress` with Redis's
// settings (`HLOG` 16, `VERY_FAST`, hash table of input offsets), so
// payloads and dump files are byte-identical to Redis's.
const HLOG: u32 = 16;
const HSIZE: u32 = 1 << HLOG;
const MAX_LIT: usize = 1 << 5;
const MAX_OFF: usize = 1 << 13;
const MAX_REF: usize = (1 << 8) + (1 << 3);

fn idx(h: u32) -> usize {
    ((h >> (3 * 8 - HLOG)).wrapping_sub(h.wrapping_mul(5)) & (HSIZE - 1)) as usize
}

/// liblzf's `lzf_compress` into at most `out_len` bytes; `None` where it
/// returns 0 (the output would not fit).
/// A hash table reused across calls: a slot holds `base + position`,
/// and values not above the current call's `base` are stale, so the table
/// never needs clearing (zeroing 512 KiB per value dominated small
/// values).
struct Htab {
    slots: Vec<u64>,
    base: u64,
}

impl Htab {
    /// The position stored in `slot` by this call, 0 if none ("position
    /// 0 or never set": liblzf only accepts references strictly after the
    /// start of the input).
    fn get(&self, slot: usize) -> usize {
        let v = self.slots[slot];
        if v > self.base {
            (v - self.base) as usize
        } else {
            0
        }
    }

    fn set(&mut self, slot: usize, pos: usize) {
        self.slots[slot] = self.base + pos as u64;
    }
}

thread_local! {
    static HTAB: std::cell::RefCell<Htab> = std::cell::RefCell::new(Htab {
        slots: vec![0; HSIZE as usize],
        base: 0,
    });
}

fn lzf_compress(input: &[u8], out_len: usize) -> Option<Vec<u8>> {
    if input.is_empty() || out_len == 0 {
        return None;
    }
    HTAB.with(|t| {
        let mut t = t.borrow_mut();
        let out = lzf_compress_with(&mut t, input, out_len);
        // Everything stored by this call is now stale.
        t.base += input.len() as u64 + 1;
        out
    })
}

fn lzf_compress_with(htab: &mut Htab, input: &[u8], out_len: usize) -> Option<Vec<u8>> {
    let in_len = input.len();
    let mut out = vec![0u8; out_len + 8];
    let out_end = out_len;
    let mut ip = 0usize;
    let mut op = 1usize; // start run
    let mut lit = 0usize;
    let at = |i: usize| u32::from(input[i]);
    let mut hval = (at(0) << 8) | at(1);
    while ip + 2 < in_len {
        hval = (hval << 8) | at(ip + 2);
        let slot = idx(hval);
        let r = htab.get(slot);
        htab.set(slot, ip);
        let matched = r > 0
            && r < ip
            && ip - r - 1 < MAX_OFF
            && input[r + 2] == input[ip + 2]
            && input[r] == input[ip]
            && input[r + 1] == input[ip + 1];
        if matched {
            let off = ip - r - 1;
            let mut len = 2usize;
            let maxlen = (in_len - ip - len).min(MAX_REF);
            if op + 3 + 1 >= out_end && op - usize::from(lit == 0) + 3 + 1 >= out_end {
                return None;
            }
            out[op - lit - 1] = (lit as u8).wrapping_sub(1); // stop run
            op -= usize::from(lit == 0); // undo run if length is zero
                                         // liblzf first compares up to 16 more bytes unrolled, without
                                         // the `maxlen` bound (a match may run up to the input's end).
            let mut mismatch = false;
            if maxlen > 16 {
                for _ in 0..16 {
                    len += 1;
                    if input[r + len] != input[ip + len] {
                        mismatch = true;
                        break;
                    }
                }
            }
            if !mismatch {
                loop {
                    len += 1;
                    if !(len < maxlen && input[r + len] == input[ip + len]) {
                        break;
                    }
                }
            }
            len -= 2; // #octets - 1
            ip += 1;
            if len < 7 {
                out[op] = ((off >> 8) + (len << 5)) as u8;
                op += 1;
            } else {
                out[op] = ((off >> 8) + (7 << 5)) as u8;
                out[op + 1] = (len - 7) as u8;
                op += 2;
            }
            out[op] = off as u8;
            op += 1;
            lit = 0;
            op += 1; // start run
            ip += len + 1;
            if ip + 2 >= in_len {
                break;
            }
            // VERY_FAST: hash the last two positions of the match.
            ip -= 2;
            hval = (at(ip) << 8) | at(ip + 1);
            hval = (hval << 8) | at(ip + 2);
            htab.set(idx(hval), ip);
            ip += 1;
            hval = (hval << 8) | at(ip + 2);
            htab.set(idx(hval), ip);
            ip += 1;
        } else {
            if op >= out_end {
                return None;
            }
            lit += 1;
            out[op] = input[ip];
            op += 1;
            ip += 1;
            if lit == MAX_LIT {
                out[op - lit - 1] = (lit - 1) as u8; // stop run
                lit = 0;
                op += 1; // start run
            }
        }
    }
    if op + 3 > out_end {
        return None;
    }
    while ip < in_len {
        lit += 1;
        out[op] = input[ip];
        op += 1;
        ip += 1;
        if lit == MAX_LIT {
            out[op - lit - 1] = (lit - 1) as u8;
            lit = 0;
            op += 1;
        }
    }
    out[op - lit - 1] = (lit as u8).wrapping_sub(1); // end run
    op -= usize::from(lit == 0);
    out.truncate(op);
    Some(out)
}

/// Compresses `input` as Redis's `rdbSaveLzfStringObject` does: only
/// when the result saves at least four bytes; `None` means "store the
/// string uncompressed".
pub fn compress(input: &[u8]) -> Option<Vec<u8>> {
    if input.len() <= 4 {
        return None;
    }
    lzf_compress(input, input.len() - 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let data: Vec<u8> = b"hello hello hello hello world world world ".repeat(50);
        let c = compress(&data).expect("compressible");
        assert!(c.len() < data.len());
        assert_eq!(decompress(&c, data.len()).expect("valid"), data);
        assert!(compress(b"abcdefgh").is_none());
    }

    #[test]
    fn rejects_bad_references() {
        assert!(decompress(&[0x20, 0x05], 10).is_none());
        assert!(decompress(&[0x01, b'a'], 2).is_none());
    }
}
