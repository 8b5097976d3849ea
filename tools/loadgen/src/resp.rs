//! Minimal RESP2/RESP3 reply parser and command encoder.
//!
//! Two entry points: [`skip`] walks one reply without copying anything and
//! tells its kind (the hot path: GET/SET replies), [`parse`] builds an owned
//! [`Reply`] (SCAN replies of the sweep). Both return `Ok(None)` while the
//! buffer holds only part of a reply and `Err` on malformed input; they never
//! panic on anything a server sends.

/// Largest bulk string or aggregate accepted (Redis's proto-max-bulk-len).
const MAX_LEN: i64 = 512 * 1024 * 1024;
/// Deepest aggregate nesting accepted.
const MAX_DEPTH: usize = 64;

/// What [`skip`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Bulk (or verbatim) string with its payload length.
    Bulk(usize),
    /// Null bulk, null array or RESP3 null.
    Null,
    /// Error reply (simple or blob); the text is at `start..end` of the
    /// buffer given to [`skip`].
    Error { start: usize, end: usize },
    /// Anything else (status, integer, double, aggregate...).
    Other,
}

/// An owned reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Simple(Vec<u8>),
    Error(Vec<u8>),
    Int(i64),
    Bulk(Vec<u8>),
    Null,
    Array(Vec<Reply>),
}

/// Position of the `\r\n` ending the line that starts at `from`, if present.
fn line_end(buf: &[u8], from: usize) -> Result<Option<usize>, String> {
    match memchr::memchr(b'\n', buf.get(from..).unwrap_or(&[])) {
        None => Ok(None),
        Some(i) => {
            let nl = from + i;
            if nl == from || buf[nl - 1] != b'\r' {
                return Err("protocol error: line not terminated by CRLF".into());
            }
            Ok(Some(nl - 1))
        }
    }
}

fn parse_int(s: &[u8]) -> Result<i64, String> {
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || digits.len() > 19 {
        return Err(format!(
            "protocol error: bad integer {:?}",
            String::from_utf8_lossy(s)
        ));
    }
    let mut v: i64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return Err(format!(
                "protocol error: bad integer {:?}",
                String::from_utf8_lossy(s)
            ));
        }
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(i64::from(c - b'0')))
            .ok_or_else(|| "protocol error: integer overflow".to_string())?;
    }
    Ok(if neg { -v } else { v })
}

/// Header of the reply at `pos`: (type byte, line content range, position
/// after the line), or None if the line is incomplete.
fn header(buf: &[u8], pos: usize) -> Result<Option<(u8, usize, usize, usize)>, String> {
    let Some(&t) = buf.get(pos) else {
        return Ok(None);
    };
    match line_end(buf, pos + 1)? {
        None => Ok(None),
        Some(cr) => Ok(Some((t, pos + 1, cr, cr + 2))),
    }
}

/// Length of a bulk-like payload whose header line is `line`; None for null.
fn bulk_len(line: &[u8]) -> Result<Option<usize>, String> {
    let n = parse_int(line)?;
    if n == -1 {
        return Ok(None);
    }
    if !(0..=MAX_LEN).contains(&n) {
        return Err(format!("protocol error: bad bulk length {n}"));
    }
    Ok(Some(n as usize))
}

/// Checks the payload of `len` bytes at `at` and its CRLF; returns the
/// position after it, or None if incomplete.
fn payload(buf: &[u8], at: usize, len: usize) -> Result<Option<usize>, String> {
    let end = at + len;
    if buf.len() < end + 2 {
        return Ok(None);
    }
    if &buf[end..end + 2] != b"\r\n" {
        return Err("protocol error: bulk payload not terminated by CRLF".into());
    }
    Ok(Some(end + 2))
}

/// Element count of an aggregate header (maps count pairs).
fn agg_len(t: u8, line: &[u8]) -> Result<Option<usize>, String> {
    let n = parse_int(line)?;
    if n == -1 {
        return Ok(None);
    }
    if !(0..=MAX_LEN).contains(&n) {
        return Err(format!("protocol error: bad aggregate length {n}"));
    }
    let n = n as usize;
    Ok(Some(if t == b'%' || t == b'|' { n * 2 } else { n }))
}

/// Walks the reply at the start of `buf`: its kind and encoded length, or
/// None if incomplete.
pub fn skip(buf: &[u8]) -> Result<Option<(Kind, usize)>, String> {
    skip_at(buf, 0, 0)
}

fn skip_at(buf: &[u8], pos: usize, depth: usize) -> Result<Option<(Kind, usize)>, String> {
    if depth > MAX_DEPTH {
        return Err("protocol error: nesting too deep".into());
    }
    let Some((t, ls, le, next)) = header(buf, pos)? else {
        return Ok(None);
    };
    let line = &buf[ls..le];
    match t {
        b'+' | b':' | b',' | b'#' | b'(' => Ok(Some((Kind::Other, next - pos))),
        b'-' => Ok(Some((Kind::Error { start: ls, end: le }, next - pos))),
        b'_' => Ok(Some((Kind::Null, next - pos))),
        b'$' | b'=' | b'!' => match bulk_len(line)? {
            None => Ok(Some((Kind::Null, next - pos))),
            Some(n) => match payload(buf, next, n)? {
                None => Ok(None),
                Some(end) => {
                    let kind = if t == b'!' {
                        Kind::Error {
                            start: next,
                            end: next + n,
                        }
                    } else {
                        Kind::Bulk(n)
                    };
                    Ok(Some((kind, end - pos)))
                }
            },
        },
        b'*' | b'%' | b'~' | b'>' | b'|' => {
            let Some(n) = agg_len(t, line)? else {
                return Ok(Some((Kind::Null, next - pos)));
            };
            let mut at = next;
            for _ in 0..n {
                match skip_at(buf, at, depth + 1)? {
                    None => return Ok(None),
                    Some((_, len)) => at += len,
                }
            }
            if t == b'|' {
                // An attribute precedes the real reply.
                return match skip_at(buf, at, depth + 1)? {
                    None => Ok(None),
                    Some((kind, len)) => Ok(Some((kind, at + len - pos))),
                };
            }
            Ok(Some((Kind::Other, at - pos)))
        }
        other => Err(format!("protocol error: unexpected type byte {other:#04x}")),
    }
}

/// Parses the reply at the start of `buf` into an owned value: the reply
/// and its encoded length, or None if incomplete.
pub fn parse(buf: &[u8]) -> Result<Option<(Reply, usize)>, String> {
    parse_at(buf, 0, 0)
}

fn parse_at(buf: &[u8], pos: usize, depth: usize) -> Result<Option<(Reply, usize)>, String> {
    if depth > MAX_DEPTH {
        return Err("protocol error: nesting too deep".into());
    }
    let Some((t, ls, le, next)) = header(buf, pos)? else {
        return Ok(None);
    };
    let line = &buf[ls..le];
    let done = |r: Reply| Ok(Some((r, next - pos)));
    match t {
        b'+' | b',' | b'#' | b'(' => done(Reply::Simple(line.to_vec())),
        b':' => done(Reply::Int(parse_int(line)?)),
        b'-' => done(Reply::Error(line.to_vec())),
        b'_' => done(Reply::Null),
        b'$' | b'=' | b'!' => match bulk_len(line)? {
            None => done(Reply::Null),
            Some(n) => match payload(buf, next, n)? {
                None => Ok(None),
                Some(end) => {
                    let data = buf[next..next + n].to_vec();
                    let r = if t == b'!' {
                        Reply::Error(data)
                    } else {
                        Reply::Bulk(data)
                    };
                    Ok(Some((r, end - pos)))
                }
            },
        },
        b'*' | b'%' | b'~' | b'>' | b'|' => {
            let Some(n) = agg_len(t, line)? else {
                return done(Reply::Null);
            };
            let mut at = next;
            let mut items = Vec::with_capacity(n.min(1024));
            for _ in 0..n {
                match parse_at(buf, at, depth + 1)? {
                    None => return Ok(None),
                    Some((r, len)) => {
                        items.push(r);
                        at += len;
                    }
                }
            }
            if t == b'|' {
                return match parse_at(buf, at, depth + 1)? {
                    None => Ok(None),
                    Some((r, len)) => Ok(Some((r, at + len - pos))),
                };
            }
            Ok(Some((Reply::Array(items), at - pos)))
        }
        other => Err(format!("protocol error: unexpected type byte {other:#04x}")),
    }
}

/// Appends a RESP array command made of `args`.
pub fn encode(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.push(b'*');
    push_usize(out, args.len());
    out.extend_from_slice(b"\r\n");
    for a in args {
        bulk_header(out, a.len());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// Appends `$<len>\r\n`.
pub fn bulk_header(out: &mut Vec<u8>, len: usize) {
    out.push(b'$');
    push_usize(out, len);
    out.extend_from_slice(b"\r\n");
}

/// Appends the decimal form of `n`.
pub fn push_usize(out: &mut Vec<u8>, n: usize) {
    push_u64(out, n as u64);
}

/// Appends the decimal form of `n`.
pub fn push_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&tmp[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skip_kinds() {
        assert_eq!(skip(b"+OK\r\n"), Ok(Some((Kind::Other, 5))));
        assert_eq!(skip(b"$3\r\nabc\r\n+OK"), Ok(Some((Kind::Bulk(3), 9))));
        assert_eq!(skip(b"$-1\r\n"), Ok(Some((Kind::Null, 5))));
        assert_eq!(skip(b"_\r\n"), Ok(Some((Kind::Null, 3))));
        assert_eq!(
            skip(b"-ERR x\r\n"),
            Ok(Some((Kind::Error { start: 1, end: 6 }, 8)))
        );
        assert_eq!(
            skip(b"*2\r\n:1\r\n$1\r\na\r\n"),
            Ok(Some((Kind::Other, 15)))
        );
        assert_eq!(skip(b"*-1\r\n"), Ok(Some((Kind::Null, 5))));
    }

    #[test]
    fn incomplete_and_malformed() {
        for partial in [
            &b""[..],
            b"+O",
            b"+OK\r",
            b"$3\r\nab",
            b"$3\r\nabc\r",
            b"*2\r\n:1\r\n",
        ] {
            assert_eq!(skip(partial), Ok(None), "{partial:?}");
            assert_eq!(parse(partial), Ok(None), "{partial:?}");
        }
        for bad in [
            &b"?x\r\n"[..],
            b"$x\r\n",
            b"$3\r\nabcde",
            b"+OK\n",
            b"$-5\r\n",
        ] {
            assert!(skip(bad).is_err(), "{bad:?}");
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        // skip does not look inside integers; parse does.
        assert!(parse(b":99999999999999999999\r\n").is_err());
        assert!(parse(b":12a\r\n").is_err());
    }

    #[test]
    fn parse_scan_reply() {
        let r = b"*2\r\n$2\r\n17\r\n*2\r\n$1\r\na\r\n$2\r\nbc\r\n";
        assert_eq!(
            parse(r),
            Ok(Some((
                Reply::Array(vec![
                    Reply::Bulk(b"17".to_vec()),
                    Reply::Array(vec![
                        Reply::Bulk(b"a".to_vec()),
                        Reply::Bulk(b"bc".to_vec())
                    ])
                ]),
                r.len()
            )))
        );
    }

    #[test]
    fn encode_cmd() {
        let mut out = Vec::new();
        encode(&mut out, &[b"GET", b"key:1"]);
        assert_eq!(out, b"*2\r\n$3\r\nGET\r\n$5\r\nkey:1\r\n");
        let mut n = Vec::new();
        push_u64(&mut n, 0);
        push_u64(&mut n, 1234567890);
        assert_eq!(n, b"01234567890");
    }
}
