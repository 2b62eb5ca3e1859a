//! Exit codes and the one-sentence error a user sees.
//!
//! Every failure becomes a [`Fail`]: an exit code and a sentence that says what plue was doing, what went wrong,
//! and the last operation that worked ("Could not list sessions: could not connect: connection refused; the last
//! successful operation was: Health checked (2 s ago).").

use std::fmt;
use std::process::ExitCode;

use plue_http::{Error, ErrorKind};

/// The documented exit codes (`plue --help`, cli/README.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: success.
    Ok = 0,
    /// 1: the server answered with an error, or its answer made no sense or was cut off mid-body (API error, bad
    /// JSON, session error, a reset or close while the body was read).
    Api = 1,
    /// 2: bad usage: unknown option, bad URL or model, missing binary for `--spawn`.
    Usage = 2,
    /// 3: cannot connect to the server, it is unhealthy, or the connection was lost before an answer began.
    Connect = 3,
    /// 4: a timeout.
    Timeout = 4,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e as u8)
    }
}

/// A failed command: the exit code and the sentence to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fail {
    /// How plue exits.
    pub exit: Exit,
    /// One sentence for the user.
    pub message: String,
}

impl fmt::Display for Fail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl Fail {
    /// A failure with a ready sentence.
    pub fn new(exit: Exit, message: impl Into<String>) -> Fail {
        Fail {
            exit,
            message: message.into(),
        }
    }

    /// Bad usage (exit 2).
    pub fn usage(message: impl Into<String>) -> Fail {
        Fail::new(Exit::Usage, message)
    }

    /// `doing` failed with `error`; `last_ok` names the last operation that worked.
    pub fn from_error(doing: &str, error: &Error, last_ok: Option<String>) -> Fail {
        if let ErrorKind::Tls { .. } = error.kind() {
            // The cause first, in the words of the TLS message ("TLS: the certificate of … is not trusted").
            let mut message = format!("{} (could not {doing}", error.kind());
            if let Some(c) = error.context() {
                message.push_str(&format!(": {} {}", c.method, c.url));
            }
            message.push(')');
            return Fail::new(exit_for(error.kind()), with_last_ok(message, last_ok));
        }
        let mut message = format!("Could not {doing}");
        if let Some(c) = error.context() {
            message.push_str(&format!(" ({} {})", c.method, c.url));
        }
        message.push_str(&format!(": {}", error.kind()));
        Fail::new(exit_for(error.kind()), with_last_ok(message, last_ok))
    }

    /// `doing` failed for a reason plue found itself (not an HTTP error).
    pub fn plain(exit: Exit, doing: &str, reason: &str, last_ok: Option<String>) -> Fail {
        Fail::new(
            exit,
            with_last_ok(format!("Could not {doing}: {reason}"), last_ok),
        )
    }
}

fn with_last_ok(mut message: String, last_ok: Option<String>) -> String {
    match last_ok {
        Some(op) => message.push_str(&format!("; the last successful operation was: {op}.")),
        None => message.push_str("; nothing had succeeded before."),
    }
    message
}

/// Which exit code an error kind means.
pub fn exit_for(kind: &ErrorKind) -> Exit {
    match kind {
        // The connection, the request and the head all worked: the answer was cut off, like an incomplete body
        // (issue 20 item 10), not a connection that could not be made.
        ErrorKind::BodyInterrupted { .. } => Exit::Api,
        ErrorKind::ConnectionFailed { .. }
        | ErrorKind::MaybeProcessed { .. }
        | ErrorKind::Tls { .. }
        | ErrorKind::InsecureRedirect { .. }
        | ErrorKind::Shutdown => Exit::Connect,
        ErrorKind::Timeout { .. } => Exit::Timeout,
        ErrorKind::InvalidUrl { .. }
        | ErrorKind::UnsupportedScheme { .. }
        | ErrorKind::InvalidHeader { .. }
        | ErrorKind::InsecureCredentials { .. }
        | ErrorKind::InvalidRequest { .. } => Exit::Usage,
        _ => Exit::Api,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plue_http_core::error::{NetError, Phase};

    #[test]
    fn cli_exit_codes_follow_the_error_kind() {
        let refused = ErrorKind::ConnectionFailed {
            cause: NetError::Refused,
        };
        assert_eq!(exit_for(&refused), Exit::Connect);
        assert_eq!(
            exit_for(&ErrorKind::Timeout {
                phase: Phase::Connect
            }),
            Exit::Timeout
        );
        assert_eq!(exit_for(&ErrorKind::Status(Default::default())), Exit::Api);
        let cut = ErrorKind::BodyInterrupted {
            cause: NetError::Reset,
        };
        assert_eq!(exit_for(&cut), Exit::Api);
        assert_eq!(
            exit_for(&ErrorKind::InvalidResponse {
                violation: plue_http_core::error::Violation::IncompleteBody
            }),
            exit_for(&cut),
            "a body cut by a reset or by a close: the same exit code"
        );
        let f = Fail::from_error(
            "list sessions",
            &Error::new(refused),
            Some("Health checked (2 s ago)".into()),
        );
        assert_eq!(f.exit, Exit::Connect);
        assert!(f
            .message
            .starts_with("Could not list sessions: could not connect"));
        assert!(f
            .message
            .ends_with("the last successful operation was: Health checked (2 s ago)."));
    }
}
