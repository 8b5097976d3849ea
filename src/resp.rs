//! Request parsing: RESP multibulk (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`) and
//! inline commands (`GET k\r\n` typed in telnet).
//!
//! The parser is incremental: it keeps the arguments parsed so far and
//! resumes where it stopped when more bytes arrive, so a huge multibulk
//! trickling in costs O(n) in total. It never reserves memory from a
//! declared length: a client announcing `*2147483647` or `$4294967296`
//! costs nothing until the bytes actually arrive, and every declared size
//! is checked against the limits first (stricter before AUTH, as Redis).

use bytes::{Buf, Bytes, BytesMut};

/// Longest inline request, and longest `*N`/`$N` header line (Redis's
/// PROTO_INLINE_MAX_SIZE).
pub const INLINE_MAX: usize = 64 * 1024;
/// Largest multibulk count accepted (Redis: INT_MAX).
pub const MAX_MULTIBULK: i64 = i32::MAX as i64;
/// Unauthenticated clients may send at most this many arguments...
pub const UNAUTH_MAX_MULTIBULK: i64 = 10;
/// ...each at most this long.
pub const UNAUTH_MAX_BULK: i64 = 16384;
/// Arguments at least this long are split off the read buffer without a
/// copy.
const ZERO_COPY_MIN: usize = 32 * 1024;
/// Arguments are reserved up front only up to this count.
const PREALLOC_ARGS: usize = 1024;

/// Limits applied while parsing.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// `proto-max-bulk-len`.
    pub max_bulk: i64,
    /// Whether the client has authenticated (or no password is set).
    pub authenticated: bool,
}

/// A broken request. The text follows `ERR ` in the reply; the connection
/// is closed after it is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError(pub String);

impl ProtocolError {
    fn new(msg: &str) -> Self {
        ProtocolError(format!("Protocol error: {msg}"))
    }
}

/// Incremental request parser for one connection.
#[derive(Default)]
pub struct Parser {
    /// Arguments of the multibulk being parsed.
    args: Vec<Bytes>,
    /// Arguments still expected (0 when between requests).
    pending: usize,
    /// Length of the bulk whose `$N` header was read, if its data has not
    /// arrived yet.
    bulk_len: Option<usize>,
}

/// Where a `*N` / `$N` header line ends, the way Redis finds it
/// (`strchr(p, '\r')` on a NUL-terminated buffer, so the search stops at
/// a NUL byte).
enum HeaderEnd {
    /// `\r` at this index, with at least one byte after it (the `\n`,
    /// which Redis skips without checking it).
    At(usize),
    /// `\r` found but nothing after it yet.
    Incomplete,
    /// No `\r` (before any NUL byte).
    Missing,
}

fn find_header_end(buf: &[u8]) -> HeaderEnd {
    match memchr::memchr2(b'\r', 0, buf) {
        Some(at) if buf[at] == b'\r' => {
            if at + 2 > buf.len() {
                HeaderEnd::Incomplete
            } else {
                HeaderEnd::At(at)
            }
        }
        _ => HeaderEnd::Missing,
    }
}

/// Where an inline request's line ends (`strchr(p, '\n')`, which stops
/// at a NUL byte too).
fn find_inline_end(buf: &[u8]) -> Option<usize> {
    let at = memchr::memchr2(b'\n', 0, buf)?;
    (buf[at] == b'\n').then_some(at)
}

/// Parses a decimal header number as Redis's `string2ll` would.
fn header_number(line: &[u8]) -> Option<i64> {
    strata_storage::num::parse_i64(line)
}

impl Parser {
    pub fn new() -> Self {
        Parser::default()
    }

    /// Bytes held by arguments parsed so far (for the query buffer limit).
    pub fn pending_bytes(&self) -> usize {
        self.args.iter().map(|a| a.len()).sum()
    }

    /// Parses the next complete request from `buf`, consuming its bytes.
    ///
    /// Returns `Ok(None)` when more bytes are needed. Empty requests
    /// (`*0`, `*-1`, blank inline lines) are skipped.
    pub fn next(
        &mut self,
        buf: &mut BytesMut,
        limits: Limits,
    ) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        loop {
            if self.pending == 0 {
                if buf.is_empty() {
                    return Ok(None);
                }
                if buf[0] != b'*' {
                    match self.inline(buf)? {
                        Some(args) if args.is_empty() => continue,
                        other => return Ok(other),
                    }
                }
                let end = match find_header_end(buf) {
                    HeaderEnd::At(end) => end,
                    HeaderEnd::Missing if buf.len() > INLINE_MAX => {
                        return Err(ProtocolError::new("too big mbulk count string"));
                    }
                    _ => return Ok(None),
                };
                let n = header_number(&buf[1..end]);
                let Some(n) = n.filter(|&n| n <= MAX_MULTIBULK) else {
                    return Err(ProtocolError::new("invalid multibulk length"));
                };
                if !limits.authenticated && n > UNAUTH_MAX_MULTIBULK {
                    return Err(ProtocolError::new("unauthenticated multibulk length"));
                }
                buf.advance(end + 2);
                if n <= 0 {
                    continue;
                }
                self.pending = n as usize;
                self.args = Vec::with_capacity(self.pending.min(PREALLOC_ARGS));
            }
            while self.pending > 0 {
                let len = match self.bulk_len {
                    Some(len) => len,
                    None => {
                        let end = match find_header_end(buf) {
                            HeaderEnd::At(end) => end,
                            HeaderEnd::Missing if buf.len() > INLINE_MAX => {
                                return Err(ProtocolError::new("too big bulk count string"));
                            }
                            _ => return Ok(None),
                        };
                        if buf[0] != b'$' {
                            return Err(ProtocolError(format!(
                                "Protocol error: expected '$', got '{}'",
                                char::from(buf[0])
                            )));
                        }
                        let n = header_number(&buf[1..end]);
                        let Some(n) = n.filter(|&n| n >= 0 && n <= limits.max_bulk) else {
                            return Err(ProtocolError::new("invalid bulk length"));
                        };
                        if !limits.authenticated && n > UNAUTH_MAX_BULK {
                            return Err(ProtocolError::new("unauthenticated bulk length"));
                        }
                        buf.advance(end + 2);
                        let n = n as usize;
                        self.bulk_len = Some(n);
                        n
                    }
                };
                // Data plus its trailing CRLF must be here.
                if buf.len() < len + 2 {
                    // Grow towards the announced size only as data arrives.
                    return Ok(None);
                }
                // Small arguments are copied out: a zero-copy slice would
                // keep the whole read buffer alive for as long as the
                // stored key or value lives. Large ones own most of their
                // buffer anyway and are split off without a copy.
                let arg = if len < ZERO_COPY_MIN {
                    let a = Bytes::copy_from_slice(&buf[..len]);
                    buf.advance(len);
                    a
                } else {
                    buf.split_to(len).freeze()
                };
                buf.advance(2);
                self.args.push(arg);
                self.bulk_len = None;
                self.pending -= 1;
            }
            return Ok(Some(std::mem::take(&mut self.args)));
        }
    }

    /// Parses one inline request (a line of space separated words).
    fn inline(&mut self, buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        let Some(nl) = find_inline_end(buf) else {
            if buf.len() > INLINE_MAX {
                return Err(ProtocolError::new("too big inline request"));
            }
            return Ok(None);
        };
        if nl > INLINE_MAX {
            return Err(ProtocolError::new("too big inline request"));
        }
        let line = buf.split_to(nl + 1);
        let mut text = &line[..nl];
        if text.last() == Some(&b'\r') {
            text = &text[..text.len() - 1];
        }
        match split_args(text) {
            Some(words) => Ok(Some(words.into_iter().map(Bytes::from).collect())),
            None => Err(ProtocolError::new("unbalanced quotes in request")),
        }
    }
}

/// C `isspace` in the "C" locale.
fn c_isspace(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Redis's `sdssplitargs`: splits a line into words, honouring
/// `"double quotes"` (with `\n`, `\t`, `\xHH`... escapes) and
/// `'single quotes'`. Returns `None` on unbalanced quotes, or a closing
/// quote not followed by a space.
///
/// Byte for byte as the C code: the line ends at a NUL byte; blanks
/// between words are C `isspace` (space, `\t`, `\n`, `\v`, `\f`, `\r`)
/// but an unquoted word ends only at space, `\t`, `\n` or `\r`.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let line = &line[..memchr::memchr(0, line).unwrap_or(line.len())];
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        while i < line.len() && c_isspace(line[i]) {
            i += 1;
        }
        if i >= line.len() {
            return Some(out);
        }
        let mut word = Vec::new();
        let mut in_dq = false;
        let mut in_sq = false;
        loop {
            if in_dq {
                let c = *line.get(i)?;
                if c == b'\\' && i + 3 < line.len() && line[i + 1] == b'x' {
                    if let (Some(h), Some(l)) = (hex_value(line[i + 2]), hex_value(line[i + 3])) {
                        word.push(h * 16 + l);
                        i += 4;
                        continue;
                    }
                }
                if c == b'\\' && i + 1 < line.len() {
                    word.push(match line[i + 1] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        other => other,
                    });
                    i += 2;
                } else if c == b'"' {
                    // Closing quote must be followed by a space or the end.
                    if i + 1 < line.len() && !c_isspace(line[i + 1]) {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    word.push(c);
                    i += 1;
                }
            } else if in_sq {
                let c = *line.get(i)?;
                if c == b'\\' && i + 1 < line.len() && line[i + 1] == b'\'' {
                    word.push(b'\'');
                    i += 2;
                } else if c == b'\'' {
                    if i + 1 < line.len() && !c_isspace(line[i + 1]) {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    word.push(c);
                    i += 1;
                }
            } else {
                match line.get(i) {
                    None => break,
                    Some(b' ' | b'\n' | b'\r' | b'\t') => break,
                    Some(b'"') => {
                        in_dq = true;
                        i += 1;
                    }
                    Some(b'\'') => {
                        in_sq = true;
                        i += 1;
                    }
                    Some(&c) => {
                        word.push(c);
                        i += 1;
                    }
                }
            }
        }
        out.push(word);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPEN: Limits = Limits {
        max_bulk: 512 * 1024 * 1024,
        authenticated: true,
    };

    fn parse_all(input: &[u8]) -> Result<Vec<Vec<Bytes>>, ProtocolError> {
        let mut p = Parser::new();
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        while let Some(cmd) = p.next(&mut buf, OPEN)? {
            out.push(cmd);
        }
        Ok(out)
    }

    #[test]
    fn multibulk_and_inline() {
        let cmds =
            parse_all(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\n\r\nSET a \"b c\"\n").expect("valid");
        assert_eq!(cmds.len(), 3);
        assert_eq!(cmds[0], vec![Bytes::from("GET"), Bytes::from("k")]);
        assert_eq!(cmds[1], vec![Bytes::from("PING")]);
        assert_eq!(cmds[2][2], Bytes::from("b c"));
    }

    #[test]
    fn byte_by_byte_is_the_same() {
        let input = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n";
        let mut p = Parser::new();
        let mut buf = BytesMut::new();
        let mut got = None;
        for &b in input.iter() {
            buf.extend_from_slice(&[b]);
            if let Some(c) = p.next(&mut buf, OPEN).expect("valid") {
                got = Some(c);
            }
        }
        assert_eq!(got.expect("complete")[2], Bytes::from("hello"));
    }

    #[test]
    fn huge_declarations_reserve_nothing() {
        let mut p = Parser::new();
        let mut buf = BytesMut::from(&b"*2147483647\r\n$4294967296\r\n"[..]);
        assert_eq!(
            p.next(&mut buf, OPEN),
            Err(ProtocolError::new("invalid bulk length"))
        );
        let mut p = Parser::new();
        let mut buf = BytesMut::from(&b"*2147483647\r\n$3\r\nGET\r\n"[..]);
        assert_eq!(p.next(&mut buf, OPEN), Ok(None));
        assert!(p.args.capacity() <= PREALLOC_ARGS);
        assert_eq!(
            parse_all(b"*2147483648\r\n"),
            Err(ProtocolError::new("invalid multibulk length"))
        );
    }

    #[test]
    fn malformed() {
        assert_eq!(
            parse_all(b"*1\r\n+PING\r\n"),
            Err(ProtocolError(
                "Protocol error: expected '$', got '+'".into()
            ))
        );
        assert_eq!(parse_all(b"*-5\r\n"), Ok(vec![]));
        assert_eq!(
            parse_all(b"*1\r\n$-1\r\n"),
            Err(ProtocolError::new("invalid bulk length"))
        );
        assert_eq!(
            parse_all(b"*x\r\n"),
            Err(ProtocolError::new("invalid multibulk length"))
        );
        assert_eq!(
            parse_all(b"SET \"a\n"),
            Err(ProtocolError::new("unbalanced quotes in request"))
        );
        let long = vec![b'a'; INLINE_MAX + 10];
        assert_eq!(
            parse_all(&long),
            Err(ProtocolError::new("too big inline request"))
        );
        let unauth = Limits {
            max_bulk: 512 << 20,
            authenticated: false,
        };
        let mut buf = BytesMut::from(&b"*11\r\n"[..]);
        assert_eq!(
            Parser::new().next(&mut buf, unauth),
            Err(ProtocolError::new("unauthenticated multibulk length"))
        );
    }

    #[test]
    fn c_string_semantics() {
        // A header ends at the first `\r`; the next byte is skipped.
        assert_eq!(
            parse_all(b"*3\rabc\r\n"),
            Err(ProtocolError(
                "Protocol error: expected '$', got 'b'".into()
            ))
        );
        // A lone `\r` at the end waits for one more byte.
        let mut p = Parser::new();
        let mut buf = BytesMut::from(&b"*1\r"[..]);
        assert_eq!(p.next(&mut buf, OPEN), Ok(None));
        // NUL hides the line end (strchr), for headers and inline lines.
        assert_eq!(parse_all(b"*1\x00\r\n$4\r\nPING\r\n"), Ok(vec![]));
        assert_eq!(parse_all(b"PING\x00x\r\n"), Ok(vec![]));
        let mut nul_line = b"PING\x00".to_vec();
        nul_line.extend(std::iter::repeat_n(b'a', INLINE_MAX));
        nul_line.extend_from_slice(b"\r\n");
        assert_eq!(
            parse_all(&nul_line),
            Err(ProtocolError::new("too big inline request"))
        );
        // The CRLF after bulk data is skipped unchecked.
        assert_eq!(
            parse_all(b"*1\r\n$4\r\nPINGxx").expect("valid"),
            vec![vec![Bytes::from("PING")]]
        );
        // Numbers as string2ll: no sign, spaces or leading zeros.
        for bad in [&b"*+1\r\n"[..], b"*01\r\n", b"* 1\r\n", b"*\r\n"] {
            assert_eq!(
                parse_all(bad),
                Err(ProtocolError::new("invalid multibulk length"))
            );
        }
        for bad in [&b"*1\r\n$-0\r\n"[..], b"*1\r\n$01\r\n", b"*1\r\n$\r\n"] {
            assert_eq!(
                parse_all(bad),
                Err(ProtocolError::new("invalid bulk length"))
            );
        }
        let mut too_big = b"*1\r\n$".to_vec();
        too_big.extend(std::iter::repeat_n(b'1', INLINE_MAX + 1));
        assert_eq!(
            parse_all(&too_big),
            Err(ProtocolError::new("too big bulk count string"))
        );
    }

    #[test]
    fn split_args_blanks_like_c() {
        // Leading blanks are isspace (\v, \f too); words end only at
        // space, tab, CR, LF.
        assert_eq!(
            split_args(b"\x0b\x0cECHO a\x0bb"),
            Some(vec![b"ECHO".to_vec(), b"a\x0bb".to_vec()])
        );
        assert_eq!(
            split_args(b"\"a\"\x0bb"),
            Some(vec![b"a".to_vec(), b"b".to_vec()])
        );
        assert_eq!(split_args(b"a\"b c\"d"), None);
        assert_eq!(split_args(b"a\"b c\""), Some(vec![b"ab c".to_vec()]));
        // The line ends at NUL.
        assert_eq!(
            split_args(b"a b\x00c d"),
            Some(vec![b"a".to_vec(), b"b".to_vec()])
        );
        assert_eq!(split_args(b"\"a\x00\""), None);
    }

    #[test]
    fn split_args_escapes() {
        assert_eq!(
            split_args(b"a \"\\x41\\n\" 'it\\'s'"),
            Some(vec![b"a".to_vec(), b"A\n".to_vec(), b"it's".to_vec()])
        );
        assert_eq!(split_args(b"\"a\"b"), None);
        assert_eq!(split_args(b"'abc"), None);
        assert_eq!(split_args(b"   "), Some(vec![]));
    }
}
