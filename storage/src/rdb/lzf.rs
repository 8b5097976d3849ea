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

const HLOG: u32 = 16;
const HSIZE: usize = 1 << HLOG;
const MAX_LIT: usize = 1 << 5;
const MAX_OFF: usize = 1 << 13;
const MAX_REF: usize = (1 << 8) + (1 << 3);

/// liblzf's `IDX` with `VERY_FAST` (Redis's settings, `HLOG` 16).
fn idx(h: u32) -> usize {
    ((h >> (3 * 8 - HLOG)).wrapping_sub(h.wrapping_mul(5)) as usize) & (HSIZE - 1)
}

/// Compresses `input` exactly as Redis's `lzf_compress` (liblzf 3.6 with
/// `HLOG` 16, `VERY_FAST`) into at most `len - 4` bytes, as
/// `rdbSaveLzfStringObject` asks; `None` when it does not fit (Redis then
/// stores the string uncompressed). Same bytes as Redis, so DUMP payloads
/// and dump.rdb files match.
pub fn compress(input: &[u8]) -> Option<Vec<u8>> {
    let in_len = input.len();
    if in_len <= 4 {
        return None;
    }
    let out_end = in_len - 4;
    // Slack for the run headers liblzf reserves ahead of its checks.
    let mut out = vec![0u8; out_end + 8];
    // Slots hold position + 1 (0 = empty, as an untouched liblzf slot
    // that never points inside the input).
    let mut htab = vec![0usize; HSIZE];
    let in_end = in_len;
    let mut ip = 0usize;
    let mut op = 1usize; // start run
    let mut lit = 0usize;
    let mut hval: u32 = (u32::from(input[0]) << 8) | u32::from(input[1]);
    while ip + 2 < in_end {
        hval = (hval << 8) | u32::from(input[ip + 2]);
        let slot = idx(hval);
        let r = htab[slot];
        htab[slot] = ip + 1;
        let matched = r != 0 && {
            let r = r - 1;
            r < ip
                && ip - r - 1 < MAX_OFF
                && r > 0
                && input[r + 2] == input[ip + 2]
                && input[r] == input[ip]
                && input[r + 1] == input[ip + 1]
        };
        if matched {
            let r = r - 1;
            let off = ip - r - 1;
            let mut len = 2usize;
            let maxlen = (in_end - ip - len).min(MAX_REF);
            if op + 3 + 1 >= out_end && op - usize::from(lit == 0) + 3 + 1 >= out_end {
                return None;
            }
            out[op - lit - 1] = (lit as u8).wrapping_sub(1); // stop run
            op -= usize::from(lit == 0); // undo run if length is zero
            'ext: {
                if maxlen > 16 {
                    for _ in 0..16 {
                        len += 1;
                        if input[r + len] != input[ip + len] {
                            break 'ext;
                        }
                    }
                }
                loop {
                    len += 1;
                    if !(len < maxlen && input[r + len] == input[ip + len]) {
                        break;
                    }
                }
            }
            len -= 2; // now octets - 1
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
            if ip + 2 >= in_end {
                break;
            }
            ip -= 2;
            hval = (u32::from(input[ip]) << 8) | u32::from(input[ip + 1]);
            hval = (hval << 8) | u32::from(input[ip + 2]);
            htab[idx(hval)] = ip + 1;
            ip += 1;
            hval = (hval << 8) | u32::from(input[ip + 2]);
            htab[idx(hval)] = ip + 1;
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
                out[op - lit - 1] = (lit - 1) as u8;
                lit = 0;
                op += 1;
            }
        }
    }
    if op + 3 > out_end {
        return None;
    }
    while ip < in_end {
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
