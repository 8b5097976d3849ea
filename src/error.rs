//! What clients see when a command fails: every error text Strata sends,
//! in one place, byte for byte as Redis 7.0 sends it.
//!
//! Handlers return `Err(Error::...)`; the dispatcher writes the text. Texts
//! that carry a value (`wrong number of arguments for 'get' command`) are
//! built by the constructors below, never ad hoc in handlers.

use std::borrow::Cow;

/// Shorthand for a command handler's result.
pub type CmdResult = Result<(), Error>;

#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    WrongType,
    Syntax,
    NotInteger,
    NotFloat,
    Overflow,
    NoSuchKey,
    IndexOutOfRange,
    OffsetOutOfRange,
    DbIndexOutOfRange,
    StringTooLong,
    NanOrInfinity,
    NoAuth,
    MinMaxNotFloat,
    /// A full error line, code included (`ERR ...`, `BUSY ...`).
    Custom(Cow<'static, str>),
}

impl Error {
    /// The exact text after the leading `-`.
    pub fn text(&self) -> Cow<'static, str> {
        Cow::Borrowed(match self {
            Error::WrongType => "WRONGTYPE Operation against a key holding the wrong kind of value",
            Error::Syntax => "ERR syntax error",
            Error::NotInteger => "ERR value is not an integer or out of range",
            Error::NotFloat => "ERR value is not a valid float",
            Error::Overflow => "ERR increment or decrement would overflow",
            Error::NoSuchKey => "ERR no such key",
            Error::IndexOutOfRange => "ERR index out of range",
            Error::OffsetOutOfRange => "ERR offset is out of range",
            Error::DbIndexOutOfRange => "ERR DB index is out of range",
            Error::StringTooLong => "ERR string exceeds maximum allowed size (proto-max-bulk-len)",
            Error::NanOrInfinity => "ERR increment would produce NaN or Infinity",
            Error::NoAuth => "NOAUTH Authentication required.",
            Error::MinMaxNotFloat => "ERR min or max is not a float",
            Error::Custom(s) => return s.clone(),
        })
    }

    /// `ERR <msg>` built at run time.
    pub fn err(msg: impl Into<String>) -> Error {
        Error::Custom(Cow::Owned(format!("ERR {}", msg.into())))
    }

    /// A full error line with its own code (`BUSYKEY ...`).
    pub fn custom(line: impl Into<Cow<'static, str>>) -> Error {
        Error::Custom(line.into())
    }

    pub fn wrong_arity(cmd: &str) -> Error {
        Error::err(format!(
            "wrong number of arguments for '{}' command",
            cmd.to_ascii_lowercase()
        ))
    }

    /// `ERR unknown command 'x', with args beginning with: 'a' 'b' `
    pub fn unknown_command(name: &[u8], args: &[bytes::Bytes]) -> Error {
        let mut msg = format!(
            "unknown command '{}', with args beginning with: ",
            sanitize(name, 128)
        );
        let mut budget = 128usize;
        for a in args {
            if budget == 0 {
                break;
            }
            let shown = sanitize(a, budget);
            budget = budget.saturating_sub(shown.len());
            msg.push_str(&format!("'{shown}' "));
        }
        Error::err(msg)
    }

    /// `ERR unknown subcommand 'x'. Try CLIENT HELP.`
    pub fn unknown_subcommand(cmd: &str, sub: &[u8]) -> Error {
        Error::err(format!(
            "unknown subcommand '{}'. Try {} HELP.",
            sanitize(sub, 128),
            cmd.to_ascii_uppercase()
        ))
    }

    /// `WRONGPASS ...`: AUTH / HELLO AUTH with a bad user or password.
    pub fn wrong_pass() -> Error {
        Error::custom("WRONGPASS invalid username-password pair or user is disabled.")
    }

    /// AUTH with only a password while no password is configured.
    pub fn auth_without_password() -> Error {
        Error::err(
            "AUTH <password> called without any password configured for the default user. \
             Are you sure your configuration is correct?",
        )
    }

    /// HELLO without AUTH on a connection that must authenticate first.
    pub fn hello_noauth() -> Error {
        Error::custom(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the \
             HELLO AUTH <user> <pass> option can be used to authenticate the client and select \
             the RESP protocol version at the same time",
        )
    }

    /// HELLO with a protocol version other than 2 or 3.
    pub fn no_proto() -> Error {
        Error::custom("NOPROTO unsupported protocol version")
    }

    /// CLIENT SETNAME / HELLO SETNAME with a byte outside `!`..`~`.
    pub fn bad_client_name() -> Error {
        Error::err("Client names cannot contain spaces, newlines or special characters.")
    }

    /// `ERR invalid expire time in 'set' command`
    pub fn invalid_expire(cmd: &str) -> Error {
        Error::err(format!(
            "invalid expire time in '{}' command",
            cmd.to_ascii_lowercase()
        ))
    }
}

/// Makes client bytes printable in an error line, cut to `max` characters
/// (Redis's `sdscatrepr`-like sanitising: no CR/LF in replies).
pub fn sanitize(b: &[u8], max: usize) -> String {
    let s = String::from_utf8_lossy(&b[..b.len().min(max)]);
    s.chars()
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_texts() {
        assert_eq!(
            Error::wrong_arity("GET").text(),
            "ERR wrong number of arguments for 'get' command"
        );
        assert_eq!(
            Error::unknown_command(b"foo", &[bytes::Bytes::from("a"), bytes::Bytes::from("b")])
                .text(),
            "ERR unknown command 'foo', with args beginning with: 'a' 'b' "
        );
        assert_eq!(
            Error::unknown_subcommand("client", b"x").text(),
            "ERR unknown subcommand 'x'. Try CLIENT HELP."
        );
        assert_eq!(
            Error::auth_without_password().text(),
            "ERR AUTH <password> called without any password configured for the default user. \
             Are you sure your configuration is correct?"
        );
        assert!(Error::hello_noauth()
            .text()
            .contains("authenticated, otherwise the HELLO AUTH <user> <pass> option can"));
    }
}
