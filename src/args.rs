//! Argument parsing helpers shared by all command families.

use bytes::Bytes;
use strata_storage::num::{parse_f64, parse_i64};

use crate::error::Error;

/// Parses an integer argument (`ERR value is not an integer or out of range`).
pub fn int(b: &[u8]) -> Result<i64, Error> {
    parse_i64(b).ok_or(Error::NotInteger)
}

/// Parses a float argument (`ERR value is not a valid float`).
pub fn float(b: &[u8]) -> Result<f64, Error> {
    parse_f64(b).ok_or(Error::NotFloat)
}

/// Case-insensitive keyword comparison.
pub fn is(b: &[u8], word: &str) -> bool {
    b.eq_ignore_ascii_case(word.as_bytes())
}

/// A cursor over a command's optional arguments (Kvrocks's parser idea):
/// `while let Some(a) = c.next() { if is(a, "NX") {...} }`.
pub struct Cursor<'a> {
    args: &'a [Bytes],
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// Starts at argument index `pos`.
    pub fn new(args: &'a [Bytes], pos: usize) -> Cursor<'a> {
        Cursor { args, pos }
    }

    pub fn next(&mut self) -> Option<&'a Bytes> {
        let a = self.args.get(self.pos)?;
        self.pos += 1;
        Some(a)
    }

    /// The next argument, or a syntax error if there is none.
    pub fn value(&mut self) -> Result<&'a Bytes, Error> {
        self.next().ok_or(Error::Syntax)
    }

    /// The next argument as an integer.
    pub fn int(&mut self) -> Result<i64, Error> {
        int(self.value()?)
    }

    /// Consumes the next argument if it equals `word`.
    pub fn eat(&mut self, word: &str) -> bool {
        match self.args.get(self.pos) {
            Some(a) if is(a, word) => {
                self.pos += 1;
                true
            }
            _ => false,
        }
    }

    pub fn remaining(&self) -> usize {
        self.args.len().saturating_sub(self.pos)
    }

    pub fn done(&self) -> bool {
        self.remaining() == 0
    }
}
