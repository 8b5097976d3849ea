//! Ziplist: the pre-7.0 compact encoding, found in RDB files written by
//! older Redis versions (lists, hashes and sorted sets). Read only.
//!
//! ```text
//! <zlbytes u32 LE> <zltail u32 LE> <zllen u16 LE> <entry>... <0xFF>
//! entry = <prevlen: 1 byte, or 0xFE + u32 LE> <encoding> <data>
//!   00pppppp                      string, 6-bit length
//!   01pppppp qqqqqqqq             string, 14-bit length (big endian)
//!   10000000 <u32 BE>             string, 32-bit length
//!   11000000 i16 | 11010000 i32 | 11100000 i64 | 11110000 i24 | 11111110 i8
//!   1111xxxx                      immediate 0..12 (xxxx - 1)
//! ```

use super::listpack::Item;
use bytes::Bytes;

/// Parses and validates a ziplist; `None` on any inconsistency.
pub fn decode(z: &[u8]) -> Option<Vec<Item>> {
    if z.len() < 11 {
        return None;
    }
    let total = u32::from_le_bytes(z[0..4].try_into().ok()?) as usize;
    let tail = u32::from_le_bytes(z[4..8].try_into().ok()?) as usize;
    let declared = u16::from_le_bytes(z[8..10].try_into().ok()?);
    if total != z.len() || *z.last()? != 0xff || tail >= z.len() {
        return None;
    }
    let end = z.len() - 1;
    let mut p = 10;
    let mut prev_len = 0usize;
    let mut last_start = 10;
    let mut items = Vec::new();
    while p < end {
        let start = p;
        // prevlen
        let pl = if z[p] < 0xfe {
            p += 1;
            usize::from(z[start])
        } else if z[p] == 0xfe {
            let v = u32::from_le_bytes(z.get(p + 1..p + 5)?.try_into().ok()?) as usize;
            p += 5;
            v
        } else {
            return None;
        };
        if pl != prev_len {
            return None;
        }
        let enc = *z.get(p)?;
        let item = match enc >> 6 {
            0 => {
                let n = usize::from(enc & 0x3f);
                let s = z.get(p + 1..p + 1 + n)?;
                p += 1 + n;
                Item::Str(Bytes::copy_from_slice(s))
            }
            1 => {
                let n = (usize::from(enc & 0x3f) << 8) | usize::from(*z.get(p + 1)?);
                let s = z.get(p + 2..p + 2 + n)?;
                p += 2 + n;
                Item::Str(Bytes::copy_from_slice(s))
            }
            2 => {
                if enc != 0x80 {
                    return None;
                }
                let n = u32::from_be_bytes(z.get(p + 1..p + 5)?.try_into().ok()?) as usize;
                let s = z.get(p + 5..(p + 5).checked_add(n)?)?;
                p += 5 + n;
                Item::Str(Bytes::copy_from_slice(s))
            }
            _ => match enc {
                0xc0 => {
                    let v = i16::from_le_bytes(z.get(p + 1..p + 3)?.try_into().ok()?);
                    p += 3;
                    Item::Int(i64::from(v))
                }
                0xd0 => {
                    let v = i32::from_le_bytes(z.get(p + 1..p + 5)?.try_into().ok()?);
                    p += 5;
                    Item::Int(i64::from(v))
                }
                0xe0 => {
                    let v = i64::from_le_bytes(z.get(p + 1..p + 9)?.try_into().ok()?);
                    p += 9;
                    Item::Int(v)
                }
                0xf0 => {
                    let s = z.get(p + 1..p + 4)?;
                    let v = i64::from(i32::from_le_bytes([0, s[0], s[1], s[2]]) >> 8);
                    p += 4;
                    Item::Int(v)
                }
                0xfe => {
                    let v = *z.get(p + 1)? as i8;
                    p += 2;
                    Item::Int(i64::from(v))
                }
                0xf1..=0xfd => {
                    p += 1;
                    Item::Int(i64::from(enc & 0x0f) - 1)
                }
                _ => return None,
            },
        };
        if p > end {
            return None;
        }
        prev_len = p - start;
        last_start = start;
        items.push(item);
    }
    if p != end || (!items.is_empty() && tail != last_start) {
        return None;
    }
    if declared != u16::MAX && usize::from(declared) != items.len() {
        return None;
    }
    Some(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ziplist with "a", 5 and 300 as an older Redis would write it.
    fn sample() -> Vec<u8> {
        let mut entries = Vec::new();
        // entry 1: prevlen 0, 6-bit string "a"
        entries.extend_from_slice(&[0x00, 0x01, b'a']);
        // entry 2: prevlen 3, immediate 5 (0xf6)
        entries.extend_from_slice(&[0x03, 0xf6]);
        // entry 3: prevlen 2, int16 300
        entries.extend_from_slice(&[0x02, 0xc0]);
        entries.extend_from_slice(&300i16.to_le_bytes());
        let tail = 10 + 3 + 2;
        let total = 10 + entries.len() + 1;
        let mut z = Vec::new();
        z.extend_from_slice(&(total as u32).to_le_bytes());
        z.extend_from_slice(&(tail as u32).to_le_bytes());
        z.extend_from_slice(&3u16.to_le_bytes());
        z.extend_from_slice(&entries);
        z.push(0xff);
        z
    }

    #[test]
    fn decodes_and_validates() {
        let z = sample();
        let items = decode(&z).expect("valid");
        assert_eq!(
            items,
            vec![
                Item::Str(Bytes::from_static(b"a")),
                Item::Int(5),
                Item::Int(300)
            ]
        );
        let mut bad = z.clone();
        bad[13] = 0x07; // wrong prevlen
        assert!(decode(&bad).is_none());
        assert!(decode(&z[..z.len() - 2]).is_none());
    }
}
