//! Listpack: the compact sequence Redis 7 uses inside RDB files (and in
//! memory) for small hashes, sorted sets and list nodes.
//!
//! ```text
//! <total-bytes u32 LE> <num-elements u16 LE (65535 = unknown)> <entry>... <0xFF>
//! entry = <encoding><data><backlen>
//!   0xxxxxxx                      7-bit unsigned int
//!   10xxxxxx <data>               string, 6-bit length
//!   110xxxxx yyyyyyyy             13-bit signed int
//!   1110xxxx yyyyyyyy <data>      string, 12-bit length
//!   11110000 <len u32 LE> <data>  string, 32-bit length
//!   11110001 <i16 LE>  11110010 <i24 LE>  11110011 <i32 LE>  11110100 <i64 LE>
//! backlen: size of <encoding><data>, 1-5 bytes, 7 bits each, stored so it
//! can be read backwards (high bit marks continuation).
//! ```

use bytes::Bytes;

/// One listpack element.
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    Int(i64),
    Str(Bytes),
}

impl Item {
    /// The element as bytes (integers formatted in decimal).
    pub fn to_bytes(&self) -> Bytes {
        match self {
            Item::Int(i) => Bytes::from(crate::num::format_i64(*i)),
            Item::Str(b) => b.clone(),
        }
    }
}

pub(crate) fn backlen_size(l: usize) -> usize {
    match l {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2097150 => 3,
        2097151..=268435454 => 4,
        _ => 5,
    }
}

pub(crate) fn push_backlen(out: &mut Vec<u8>, l: usize) {
    let n = backlen_size(l);
    // Written so that reading right-to-left yields 7-bit groups, least
    // significant first; every byte but the leftmost has the high bit set.
    let mut bytes = Vec::with_capacity(n);
    for i in 0..n {
        let mut b = ((l >> (7 * (n - 1 - i))) & 0x7f) as u8;
        if i != 0 {
            b |= 0x80;
        }
        bytes.push(b);
    }
    out.extend_from_slice(&bytes);
}

/// Encodes one element the way Redis does: strings that are canonical
/// integers are stored as integers.
pub(crate) fn encode_entry(out: &mut Vec<u8>, item: &[u8]) {
    let start = out.len();
    if let Some(v) = crate::num::parse_i64(item).filter(|_| item.len() <= 20) {
        if (0..=127).contains(&v) {
            out.push(v as u8);
        } else if (-4096..=4095).contains(&v) {
            let u = (v as u16) & 0x1fff;
            out.push(0xc0 | (u >> 8) as u8);
            out.push((u & 0xff) as u8);
        } else if (-32768..=32767).contains(&v) {
            out.push(0xf1);
            out.extend_from_slice(&(v as i16).to_le_bytes());
        } else if (-8_388_608..=8_388_607).contains(&v) {
            out.push(0xf2);
            out.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
        } else if (i64::from(i32::MIN)..=i64::from(i32::MAX)).contains(&v) {
            out.push(0xf3);
            out.extend_from_slice(&(v as i32).to_le_bytes());
        } else {
            out.push(0xf4);
            out.extend_from_slice(&v.to_le_bytes());
        }
    } else {
        let n = item.len();
        if n < 64 {
            out.push(0x80 | n as u8);
        } else if n < 4096 {
            out.push(0xe0 | (n >> 8) as u8);
            out.push((n & 0xff) as u8);
        } else {
            out.push(0xf0);
            out.extend_from_slice(&(n as u32).to_le_bytes());
        }
        out.extend_from_slice(item);
    }
    let l = out.len() - start;
    push_backlen(out, l);
}

/// Builds a listpack from elements.
pub fn encode<'a>(items: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = vec![0u8; 6];
    let mut count = 0usize;
    for it in items {
        encode_entry(&mut out, it);
        count += 1;
    }
    out.push(0xff);
    let total = out.len() as u32;
    out[0..4].copy_from_slice(&total.to_le_bytes());
    let n = if count < 65535 { count as u16 } else { 65535 };
    out[4..6].copy_from_slice(&n.to_le_bytes());
    out
}

/// Parses and fully validates a listpack (Redis's deep sanitization):
/// header size, every entry's encoding, lengths and back-lengths, the
/// terminator and the element count. `None` if anything is off.
pub fn decode(lp: &[u8]) -> Option<Vec<Item>> {
    if lp.len() < 7 {
        return None;
    }
    let total = u32::from_le_bytes(lp[0..4].try_into().ok()?) as usize;
    if total != lp.len() || *lp.last()? != 0xff {
        return None;
    }
    let declared = u16::from_le_bytes(lp[4..6].try_into().ok()?);
    let mut items = Vec::new();
    let mut p = 6;
    let end = lp.len() - 1;
    while p < end {
        let start = p;
        let b = lp[p];
        let item = if b & 0x80 == 0 {
            p += 1;
            Item::Int(i64::from(b))
        } else if b & 0xc0 == 0x80 {
            let n = usize::from(b & 0x3f);
            let s = lp.get(p + 1..p + 1 + n)?;
            p += 1 + n;
            Item::Str(Bytes::copy_from_slice(s))
        } else if b & 0xe0 == 0xc0 {
            let lo = *lp.get(p + 1)?;
            let u = (u16::from(b & 0x1f) << 8) | u16::from(lo);
            // Sign-extend 13 bits.
            let v = ((u << 3) as i16 >> 3) as i64;
            p += 2;
            Item::Int(v)
        } else if b & 0xf0 == 0xe0 {
            let lo = *lp.get(p + 1)?;
            let n = (usize::from(b & 0x0f) << 8) | usize::from(lo);
            let s = lp.get(p + 2..p + 2 + n)?;
            p += 2 + n;
            Item::Str(Bytes::copy_from_slice(s))
        } else {
            match b {
                0xf0 => {
                    let n = u32::from_le_bytes(lp.get(p + 1..p + 5)?.try_into().ok()?) as usize;
                    let s = lp.get(p + 5..(p + 5).checked_add(n)?)?;
                    p += 5 + n;
                    Item::Str(Bytes::copy_from_slice(s))
                }
                0xf1 => {
                    let v = i16::from_le_bytes(lp.get(p + 1..p + 3)?.try_into().ok()?);
                    p += 3;
                    Item::Int(i64::from(v))
                }
                0xf2 => {
                    let s = lp.get(p + 1..p + 4)?;
                    let v = (i32::from_le_bytes([0, s[0], s[1], s[2]]) >> 8) as i64;
                    p += 4;
                    Item::Int(v)
                }
                0xf3 => {
                    let v = i32::from_le_bytes(lp.get(p + 1..p + 5)?.try_into().ok()?);
                    p += 5;
                    Item::Int(i64::from(v))
                }
                0xf4 => {
                    let v = i64::from_le_bytes(lp.get(p + 1..p + 9)?.try_into().ok()?);
                    p += 9;
                    Item::Int(v)
                }
                _ => return None,
            }
        };
        let l = p - start;
        let n = backlen_size(l);
        let mut expect = Vec::with_capacity(5);
        push_backlen(&mut expect, l);
        if lp.get(p..p + n)? != expect.as_slice() {
            return None;
        }
        p += n;
        if p > end {
            return None;
        }
        items.push(item);
    }
    if p != end {
        return None;
    }
    if declared != 65535 && usize::from(declared) != items.len() {
        return None;
    }
    Some(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_all_encodings() {
        let long = vec![b'x'; 5000];
        let mid = vec![b'y'; 100];
        let vals: Vec<Vec<u8>> = vec![
            b"0".to_vec(),
            b"127".to_vec(),
            b"-1".to_vec(),
            b"4095".to_vec(),
            b"-4096".to_vec(),
            b"30000".to_vec(),
            b"8000000".to_vec(),
            b"-2000000000".to_vec(),
            b"9223372036854775807".to_vec(),
            b"hello".to_vec(),
            b"007".to_vec(),
            mid.clone(),
            long.clone(),
            Vec::new(),
        ];
        let lp = encode(vals.iter().map(|v| v.as_slice()));
        let items = decode(&lp).expect("valid");
        let back: Vec<Vec<u8>> = items.iter().map(|i| i.to_bytes().to_vec()).collect();
        assert_eq!(back, vals);
        // Every truncation is rejected.
        for cut in 0..lp.len() {
            assert!(decode(&lp[..cut]).is_none());
        }
    }
}
