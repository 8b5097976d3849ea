//! Reply encoding for RESP2 and RESP3.
//!
//! Handlers write straight into a [`Reply`] buffer, as Redis's `addReply*`
//! functions do, so a pipelined batch of commands produces one contiguous
//! buffer and one `write` call. The buffer knows the client's protocol
//! version and picks the right shape: a map is `%n` in RESP3 and a flat
//! `*2n` array in RESP2, a null is `_` or `$-1`, a double is `,d` or a bulk
//! string formatted like Redis 7.0.

use strata_storage::num::format_double;

/// An output buffer for one client.
#[derive(Default, Debug)]
pub struct Reply {
    pub buf: Vec<u8>,
    pub resp3: bool,
    /// Error replies written since the last [`Reply::take_errors`]: the
    /// error code (first word, e.g. `ERR`, `WRONGTYPE`) of each, for
    /// `INFO errorstats` and the failed-calls counter.
    errors: Vec<String>,
}

impl Reply {
    pub fn new(resp3: bool) -> Reply {
        Reply {
            buf: Vec::with_capacity(1024),
            resp3,
            errors: Vec::new(),
        }
    }

    fn header(&mut self, prefix: u8, n: i64) {
        self.buf.push(prefix);
        self.buf
            .extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }

    /// `+OK`
    pub fn ok(&mut self) {
        self.buf.extend_from_slice(b"+OK\r\n");
    }

    /// A status reply (`+text`). `text` must not contain CR or LF.
    pub fn simple(&mut self, text: &str) {
        self.buf.push(b'+');
        self.buf.extend_from_slice(text.as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }

    /// An error reply. `text` starts with the error code (`ERR ...`,
    /// `WRONGTYPE ...`); newlines are replaced by spaces as Redis does.
    pub fn error(&mut self, text: &str) {
        let code = text.split(' ').next().unwrap_or("ERR");
        self.errors.push(code.to_string());
        self.buf.push(b'-');
        for &b in text.as_bytes() {
            self.buf
                .push(if b == b'\r' || b == b'\n' { b' ' } else { b });
        }
        self.buf.extend_from_slice(b"\r\n");
    }

    /// Error codes written since the last call.
    pub fn take_errors(&mut self) -> Vec<String> {
        std::mem::take(&mut self.errors)
    }

    pub fn error_count(&self) -> usize {
        self.errors.len()
    }

    pub fn int(&mut self, n: i64) {
        self.header(b':', n);
    }

    pub fn bulk(&mut self, data: &[u8]) {
        self.header(b'$', data.len() as i64);
        self.buf.extend_from_slice(data);
        self.buf.extend_from_slice(b"\r\n");
    }

    /// A bulk string holding a decimal integer.
    pub fn bulk_int(&mut self, n: i64) {
        let mut b = itoa::Buffer::new();
        self.bulk(b.format(n).as_bytes());
    }

    /// A null bulk string (`$-1`, RESP3 `_`).
    pub fn null(&mut self) {
        if self.resp3 {
            self.buf.extend_from_slice(b"_\r\n");
        } else {
            self.buf.extend_from_slice(b"$-1\r\n");
        }
    }

    /// A null array (`*-1`, RESP3 `_`).
    pub fn null_array(&mut self) {
        if self.resp3 {
            self.buf.extend_from_slice(b"_\r\n");
        } else {
            self.buf.extend_from_slice(b"*-1\r\n");
        }
    }

    pub fn array(&mut self, n: usize) {
        self.header(b'*', n as i64);
    }

    /// A map of `n` pairs (RESP2: an array of `2n` items).
    pub fn map(&mut self, n: usize) {
        if self.resp3 {
            self.header(b'%', n as i64);
        } else {
            self.header(b'*', 2 * n as i64);
        }
    }

    /// A set of `n` items (RESP2: an array).
    pub fn set(&mut self, n: usize) {
        if self.resp3 {
            self.header(b'~', n as i64);
        } else {
            self.header(b'*', n as i64);
        }
    }

    /// An out-of-band push of `n` items (RESP2: an array).
    pub fn push(&mut self, n: usize) {
        if self.resp3 {
            self.header(b'>', n as i64);
        } else {
            self.header(b'*', n as i64);
        }
    }

    /// A double (RESP3 `,`; RESP2 a bulk string as Redis 7.0 formats it).
    pub fn double(&mut self, d: f64) {
        if self.resp3 {
            self.buf.push(b',');
            let text = if d.is_infinite() {
                if d > 0.0 {
                    "inf".to_string()
                } else {
                    "-inf".to_string()
                }
            } else {
                strata_storage::num::format_g17(d)
            };
            self.buf.extend_from_slice(text.as_bytes());
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(format_double(d).as_bytes());
        }
    }

    /// A boolean (RESP3 `#t`/`#f`; RESP2 `:1`/`:0`).
    pub fn boolean(&mut self, b: bool) {
        if self.resp3 {
            self.buf
                .extend_from_slice(if b { b"#t\r\n" } else { b"#f\r\n" });
        } else {
            self.int(i64::from(b));
        }
    }

    /// A verbatim string (RESP3 `=`, with a 3-letter format such as
    /// `txt`; RESP2 a bulk string).
    pub fn verbatim(&mut self, format: &str, text: &[u8]) {
        if self.resp3 {
            self.header(b'=', (text.len() + 4) as i64);
            self.buf.extend_from_slice(format.as_bytes());
            self.buf.push(b':');
            self.buf.extend_from_slice(text);
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(text);
        }
    }

    /// Marks a place whose aggregate length is not known yet; finish with
    /// [`Reply::finish_array`] (Redis's deferred length).
    pub fn defer(&self) -> usize {
        self.buf.len()
    }

    /// Inserts an array header of `n` items at a place from [`Reply::defer`].
    pub fn finish_array(&mut self, at: usize, n: usize) {
        self.insert_header(at, b'*', n as i64);
    }

    /// Inserts a map header of `n` pairs at a place from [`Reply::defer`].
    pub fn finish_map(&mut self, at: usize, n: usize) {
        if self.resp3 {
            self.insert_header(at, b'%', n as i64);
        } else {
            self.insert_header(at, b'*', 2 * n as i64);
        }
    }

    /// Inserts a set header of `n` items at a place from [`Reply::defer`].
    pub fn finish_set(&mut self, at: usize, n: usize) {
        let prefix = if self.resp3 { b'~' } else { b'*' };
        self.insert_header(at, prefix, n as i64);
    }

    fn insert_header(&mut self, at: usize, prefix: u8, n: i64) {
        let mut h = Vec::with_capacity(16);
        h.push(prefix);
        h.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
        h.extend_from_slice(b"\r\n");
        self.buf.splice(at..at, h);
    }

    /// Appends raw, already encoded RESP.
    pub fn raw(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Drops everything written after `at` (CLIENT REPLY OFF/SKIP).
    pub fn truncate(&mut self, at: usize) {
        self.buf.truncate(at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_per_protocol() {
        let mut r2 = Reply::new(false);
        r2.map(1);
        r2.bulk(b"a");
        r2.double(1.5);
        r2.null();
        assert_eq!(r2.buf, b"*2\r\n$1\r\na\r\n$3\r\n1.5\r\n$-1\r\n");
        let mut r3 = Reply::new(true);
        r3.map(1);
        r3.bulk(b"a");
        r3.double(1.5);
        r3.null();
        assert_eq!(r3.buf, b"%1\r\n$1\r\na\r\n,1.5\r\n_\r\n");
    }

    #[test]
    fn deferred_and_errors() {
        let mut r = Reply::new(false);
        let at = r.defer();
        r.int(1);
        r.int(2);
        r.finish_array(at, 2);
        assert_eq!(r.buf, b"*2\r\n:1\r\n:2\r\n");
        r.error("ERR bad\r\nthing");
        assert!(r.buf.ends_with(b"-ERR bad  thing\r\n"));
        assert_eq!(r.take_errors(), vec!["ERR".to_string()]);
    }
}
