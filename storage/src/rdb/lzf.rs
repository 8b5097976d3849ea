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

const HASH_LOG: usize = 14;
const MAX_OFF: usize = 1 << 13;
/// Longest back reference: 7 + 255 + 2 bytes.
const MAX_REF: usize = 264;
const MAX_LIT: usize = 1 << 5;

fn hash3(b: &[u8]) -> usize {
    let v = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
    ((v.wrapping_mul(2_654_435_761)) >> (32 - HASH_LOG)) as usize
}

/// Compresses `input`. Returns `None` if the result would not be smaller
/// (Redis then stores the string uncompressed).
pub fn compress(input: &[u8]) -> Option<Vec<u8>> {
    if input.len() < 4 {
        return None;
    }
    let mut table = vec![usize::MAX; 1 << HASH_LOG];
    let mut out: Vec<u8> = Vec::with_capacity(input.len());
    let mut lit_start = 0usize;
    let mut i = 0usize;
    let flush_literals = |out: &mut Vec<u8>, from: usize, to: usize| {
        let mut s = from;
        while s < to {
            let n = (to - s).min(MAX_LIT);
            out.push((n - 1) as u8);
            out.extend_from_slice(&input[s..s + n]);
            s += n;
        }
    };
    while i + 2 < input.len() {
        let h = hash3(&input[i..]);
        let cand = table[h];
        table[h] = i;
        if cand != usize::MAX
            && i - cand <= MAX_OFF
            && cand < i
            && input[cand..cand + 3] == input[i..i + 3]
        {
            let mut len = 3;
            let max = (input.len() - i).min(MAX_REF);
            while len < max && input[cand + len] == input[i + len] {
                len += 1;
            }
            flush_literals(&mut out, lit_start, i);
            let off = i - cand - 1;
            let l = len - 2;
            if l < 7 {
                out.push(((l << 5) | (off >> 8)) as u8);
            } else {
                out.push(((7 << 5) | (off >> 8)) as u8);
                out.push((l - 7) as u8);
            }
            out.push((off & 0xff) as u8);
            i += len;
            lit_start = i;
            if out.len() >= input.len() {
                return None;
            }
        } else {
            i += 1;
        }
    }
    flush_literals(&mut out, lit_start, input.len());
    if out.len() < input.len() {
        Some(out)
    } else {
        None
    }
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
