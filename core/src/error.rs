//! The one error type.
//!
//! [`ErrorKind`] is flat, `#[non_exhaustive]` and `PartialEq`, so tests compare outcomes directly.
//! [`Error`] wraps a kind with the context a person needs to act on it: method, URL (credentials removed),
//! attempt number, and the last operation that worked. `Display` reads as one sentence.

use core::fmt;
use core::time::Duration;

use http::{Method, StatusCode};

/// Which deadline expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Phase {
    /// Opening the TCP connection (`connect_timeout`, per attempt).
    Connect,
    /// Waiting for the response head after the request was sent (`read_timeout`, per attempt).
    ResponseHead,
    /// Silence between body bytes (`read_timeout`, per attempt).
    BodyIdle,
    /// The whole request: every attempt, redirect and backoff wait together (`timeout`).
    Request,
    /// An event stream heard nothing at all, not even a comment (`event_idle_timeout`).
    EventIdle,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Connect => "while connecting (connect_timeout)",
            Phase::ResponseHead => "waiting for the response head (read_timeout)",
            Phase::BodyIdle => "waiting for more of the response body (read_timeout)",
            Phase::Request => "before the whole request finished (timeout)",
            Phase::EventIdle => {
                "waiting for the event stream to send anything (event_idle_timeout)"
            }
        })
    }
}

/// Why a network operation failed, as a driver reports it to the core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NetError {
    /// The peer refused the connection (nothing listening).
    Refused,
    /// The connection was reset by the peer.
    Reset,
    /// The peer closed the connection before the response was complete.
    Closed,
    /// No route to the host, or the network is down.
    Unreachable,
    /// The name did not resolve to any address.
    Resolve,
    /// Any other I/O failure.
    Other,
}

impl fmt::Display for NetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NetError::Refused => "connection refused",
            NetError::Reset => "connection reset by the server",
            NetError::Closed => "connection closed by the server",
            NetError::Unreachable => "host unreachable",
            NetError::Resolve => "host name did not resolve",
            NetError::Other => "network error",
        })
    }
}

/// Which HTTP/1.1 framing rule a response broke (RFC 9112). Each one means the connection is closed, never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Violation {
    /// The status line or a header line could not be parsed.
    MalformedHead,
    /// The status code is outside 100..=999.
    InvalidStatus,
    /// A header name or value held a forbidden byte.
    InvalidHeader,
    /// `Content-Length` was not a plain decimal number, overflowed, listed unequal values, or was folded.
    InvalidContentLength,
    /// Both `Transfer-Encoding` and `Content-Length` were sent (request smuggling vector).
    ContentLengthWithTransferEncoding,
    /// A `Transfer-Encoding` value this client does not implement.
    UnsupportedTransferEncoding,
    /// A `Transfer-Encoding` list that is malformed: an empty element (`chunked,`, `, chunked`) or a folded
    /// (obs-fold) line. Peers disagree on where such a response ends.
    InvalidTransferEncoding,
    /// A chunk-size line was malformed (not hex, too many digits, bad extension).
    InvalidChunkSize,
    /// A chunk's data was not followed by CRLF.
    MissingChunkCrlf,
    /// A trailer section was malformed.
    InvalidTrailer,
    /// The server switched protocols (101) although nobody asked it to.
    UnexpectedSwitchingProtocols,
    /// Bytes arrived while no request was waiting for a response.
    UnsolicitedResponse,
    /// The connection ended inside a response whose length was known.
    IncompleteBody,
    /// The connection ended inside a response head.
    IncompleteHead,
    /// The response was not an HTTP/1.x response.
    InvalidVersion,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Violation::MalformedHead => "the response head could not be parsed",
            Violation::InvalidStatus => "the status code is invalid",
            Violation::InvalidHeader => "a response header is malformed",
            Violation::InvalidContentLength => "Content-Length is invalid",
            Violation::ContentLengthWithTransferEncoding => {
                "Transfer-Encoding and Content-Length were both sent"
            }
            Violation::UnsupportedTransferEncoding => "the Transfer-Encoding is not supported",
            Violation::InvalidTransferEncoding => "the Transfer-Encoding list is malformed",
            Violation::InvalidChunkSize => "a chunk size line is invalid",
            Violation::MissingChunkCrlf => "a chunk was not terminated by CRLF",
            Violation::InvalidTrailer => "the chunked trailer section is malformed",
            Violation::UnexpectedSwitchingProtocols => {
                "the server switched protocols unasked (101)"
            }
            Violation::UnsolicitedResponse => "the server sent bytes nobody asked for",
            Violation::IncompleteBody => "the connection closed before the body was complete",
            Violation::IncompleteHead => "the connection closed inside the response head",
            Violation::InvalidVersion => "the response is not HTTP/1.x",
        })
    }
}

/// Which configured limit a response exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Limit {
    /// Bytes in the response head (default 64 KiB).
    HeadSize,
    /// Number of header fields (default 100).
    HeaderCount,
    /// Bytes in one chunk-size line, extensions included.
    ChunkLine,
    /// Bytes in the chunked trailer section.
    TrailerSize,
    /// Bytes in a whole response body (`max_body_size`).
    BodySize,
    /// Bytes in one server-sent event (`max_event_size`).
    EventSize,
    /// Requests waiting in the queue while a host is unreachable.
    QueueLength,
    /// Bytes in a request body.
    RequestBodySize,
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Limit::HeadSize => "response head size",
            Limit::HeaderCount => "response header count",
            Limit::ChunkLine => "chunk size line length",
            Limit::TrailerSize => "trailer size",
            Limit::BodySize => "response body size",
            Limit::EventSize => "event size (max_event_size)",
            Limit::QueueLength => "request queue length",
            Limit::RequestBodySize => "request body size",
        })
    }
}

/// Whether a JSON error happened turning a value into a body or a body into a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JsonOp {
    /// Serializing a request body.
    Encode,
    /// Deserializing a response body.
    Decode,
}

/// A server's error body, parsed as far as it goes.
///
/// OpenCode answers `{"name":…, "data":{"message":…}}` (400/404/500), `{"_tag":"BadRequest"}` for a malformed body,
/// sometimes plain text, and an empty body for 401. Every shape lands here with the raw body kept.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ApiError {
    /// The HTTP status.
    pub status: u16,
    /// The error's name (`name` or `_tag`), when the body carried one.
    pub name: Option<String>,
    /// A human-readable message (`data.message`, `message`, or the text body), when there is one.
    pub message: Option<String>,
    /// The raw body, lossily decoded as UTF-8 and cut at 4 KiB.
    pub body: String,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reason = StatusCode::from_u16(self.status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("");
        write!(f, "{} {}", self.status, reason)?;
        match (&self.name, &self.message) {
            (Some(n), Some(m)) => write!(f, " ({n}: {m})"),
            (Some(n), None) => write!(f, " ({n})"),
            (None, Some(m)) => write!(f, " ({m})"),
            (None, None) => Ok(()),
        }
    }
}

/// What went wrong, without the request context. Flat and comparable.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The URL cannot be used; `url` has credentials removed.
    InvalidUrl {
        /// The offending URL, credentials removed.
        url: String,
        /// Which rule it broke.
        reason: &'static str,
    },
    /// The scheme is not supported (only `http` today; `https` waits for TLS).
    UnsupportedScheme {
        /// The scheme as given.
        scheme: String,
    },
    /// A request header name or value is not allowed.
    InvalidHeader {
        /// The header name as given (lossy UTF-8).
        name: String,
        /// Which rule it broke.
        reason: &'static str,
    },
    /// A part of the request other than a header is not allowed (method, path, query, body).
    InvalidRequest {
        /// The field: `"method"`, `"path"`, `"query"`, `"body"`, …
        field: &'static str,
        /// Which rule it broke.
        reason: &'static str,
    },
    /// The connection could not be opened or broke before a response arrived.
    ConnectionFailed {
        /// What the network said.
        cause: NetError,
    },
    /// The connection broke after the request may have reached the server, and it could not be safely replayed.
    /// The server may or may not have processed it.
    MaybeProcessed {
        /// What the network said.
        cause: NetError,
    },
    /// The connection broke while the response body was being read: the connection, the request and the response
    /// head had all succeeded (e.g. the server reset the connection mid-body).
    BodyInterrupted {
        /// What the network said.
        cause: NetError,
    },
    /// A deadline expired.
    Timeout {
        /// Which one.
        phase: Phase,
    },
    /// The response broke an HTTP/1.1 framing rule.
    InvalidResponse {
        /// Which rule.
        violation: Violation,
    },
    /// The response exceeded a configured limit.
    TooLarge {
        /// Which limit.
        limit: Limit,
        /// Its configured value.
        max: u64,
    },
    /// More redirects than `max_redirects`.
    TooManyRedirects {
        /// The configured maximum.
        max: u32,
    },
    /// A 307/308 redirect needs the body again, but the body was streamed and cannot be replayed.
    RedirectBodyNotReplayable,
    /// The caller aborted.
    Aborted,
    /// A non-2xx status where a success was required (JSON helpers, OpenCode calls, event streams).
    Status(ApiError),
    /// JSON encoding or decoding failed.
    Json {
        /// Encoding a request or decoding a response.
        op: JsonOp,
        /// serde_json's message.
        message: String,
        /// A short excerpt of the body (decode only).
        excerpt: String,
    },
    /// A body read as JSON still carries a `Content-Encoding` (e.g. `gzip`) this client neither asked for nor
    /// decoded.
    UnsupportedContentEncoding {
        /// The coding(s), as the server named them (`gzip`, or `gzip, br`).
        coding: String,
    },
    /// An event stream answered with something other than `text/event-stream`.
    NotAnEventStream {
        /// The Content-Type received (empty when missing).
        content_type: String,
    },
    /// The client was shut down while the request was pending.
    Shutdown,
    /// TLS failed: the handshake, the certificate, a pin, or the encrypted stream. Never retried during the
    /// handshake (a certificate does not get better by asking again).
    Tls {
        /// The host the connection was for (as in the URL, lowercased).
        host: String,
        /// Why.
        reason: TlsReason,
    },
    /// A redirect from `https` to `http` was refused (what was asked for over TLS must not continue in the
    /// clear).
    InsecureRedirect {
        /// The redirect target, credentials removed.
        to: String,
    },
    /// Credentials (a URL's userinfo, or an `Authorization` header) would go over plain `http://` to a host that
    /// is not loopback. Refused before a byte is sent unless `allow_insecure_credentials` is set.
    InsecureCredentials {
        /// The host.
        host: String,
    },
}

/// Why TLS failed (see [`ErrorKind::Tls`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsReason {
    /// The certificate chain does not lead to a trusted root (self-signed, or a private CA not given).
    UnknownIssuer,
    /// The certificate (or one in its chain) has expired.
    Expired,
    /// The certificate is not valid yet.
    NotYetValid,
    /// The certificate is not valid for the host name (or IP address) asked for.
    NameMismatch,
    /// The certificate was revoked.
    Revoked,
    /// The certificate is otherwise unacceptable (bad signature, bad encoding, wrong usage); rustls' words.
    BadCertificate {
        /// What rustls said.
        detail: String,
    },
    /// The certificate is trusted but its key matches none of the pins configured for the host.
    PinMismatch {
        /// `sha256//BASE64` of the key the server presented.
        presented: String,
    },
    /// The peer sent a fatal alert (during the handshake or mid-stream).
    Alert {
        /// The alert's name (`handshake_failure`, `protocol_version`, …).
        description: String,
    },
    /// No TLS protocol version both sides accept (this client speaks TLS 1.2 and 1.3).
    ProtocolVersion,
    /// The peer sent something that is not valid TLS (a plaintext HTTP answer to the hello, a corrupted record).
    InvalidMessage {
        /// What rustls said.
        detail: String,
    },
    /// The connection ended without TLS `close_notify` in the middle of a body delimited by the close: the body
    /// may have been cut short by an attacker or a broken network, so it is not taken as whole.
    Truncated,
    /// `https` was asked for but the client has no TLS configuration (`Options::tls`).
    NotConfigured,
    /// Another TLS failure; rustls' words.
    Other {
        /// What rustls said.
        detail: String,
    },
}

impl fmt::Display for TlsReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsReason::UnknownIssuer => f.write_str("unknown issuer"),
            TlsReason::Expired => f.write_str("certificate expired"),
            TlsReason::NotYetValid => f.write_str("certificate not valid yet"),
            TlsReason::NameMismatch => f.write_str("name mismatch"),
            TlsReason::Revoked => f.write_str("certificate revoked"),
            TlsReason::BadCertificate { detail } => write!(f, "bad certificate: {detail}"),
            TlsReason::PinMismatch { presented } => {
                write!(f, "pin mismatch, the server's key is {presented}")
            }
            TlsReason::Alert { description } => {
                write!(f, "the server sent the alert {description}")
            }
            TlsReason::ProtocolVersion => {
                f.write_str("no common protocol version (TLS 1.2 or 1.3 needed)")
            }
            TlsReason::InvalidMessage { detail } => write!(f, "not valid TLS: {detail}"),
            TlsReason::Truncated => {
                f.write_str("the connection ended without close_notify: the body was truncated")
            }
            TlsReason::NotConfigured => f.write_str("no TLS configuration"),
            TlsReason::Other { detail } => f.write_str(detail),
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::InvalidUrl { url, reason } => write!(f, "invalid URL {url:?}: {reason}"),
            ErrorKind::UnsupportedScheme { scheme } => {
                write!(f, "the URL scheme {scheme:?} is not supported (only http and https are)")
            }
            ErrorKind::InvalidHeader { name, reason } => write!(f, "invalid header {name:?}: {reason}"),
            ErrorKind::InvalidRequest { field, reason } => write!(f, "invalid request {field}: {reason}"),
            ErrorKind::ConnectionFailed { cause } => write!(f, "could not connect: {cause}"),
            ErrorKind::MaybeProcessed { cause } => write!(
                f,
                "{cause} after the request was sent; it was not retried because the server may or may not have processed it"
            ),
            ErrorKind::BodyInterrupted { cause } => {
                write!(f, "{cause} while reading the response body")
            }
            ErrorKind::Timeout { phase } => write!(f, "timed out {phase}"),
            ErrorKind::InvalidResponse { violation } => write!(f, "invalid response: {violation}"),
            ErrorKind::TooLarge { limit, max } => write!(f, "the {limit} exceeded its limit of {max}"),
            ErrorKind::TooManyRedirects { max } => write!(f, "more than {max} redirects"),
            ErrorKind::RedirectBodyNotReplayable => {
                write!(f, "a 307/308 redirect needs the request body again, but it was streamed")
            }
            ErrorKind::Aborted => write!(f, "aborted"),
            ErrorKind::Status(e) => write!(f, "the server answered {e}"),
            ErrorKind::Json { op: JsonOp::Encode, message, .. } => {
                write!(f, "could not encode the JSON body: {message}")
            }
            ErrorKind::Json { op: JsonOp::Decode, message, excerpt } => {
                write!(f, "could not decode the JSON response: {message} (body starts {excerpt:?})")
            }
            ErrorKind::UnsupportedContentEncoding { coding } => write!(
                f,
                "the response body is encoded with {coding:?} (Content-Encoding), which was not asked for and is \
                 not decoded"
            ),
            ErrorKind::NotAnEventStream { content_type } => write!(
                f,
                "expected an event stream (text/event-stream) but got {:?}",
                content_type
            ),
            ErrorKind::Shutdown => write!(f, "the client shut down"),
            ErrorKind::Tls { host, reason } => match reason {
                TlsReason::UnknownIssuer => {
                    write!(f, "TLS: the certificate of {host} is not trusted (unknown issuer)")
                }
                TlsReason::PinMismatch { presented } => {
                    write!(f, "TLS: pin mismatch for {host}: the server's key is {presented}")
                }
                TlsReason::NameMismatch => {
                    write!(f, "TLS: the certificate of {host} is not valid for that name (name mismatch)")
                }
                TlsReason::Expired => write!(f, "TLS: the certificate of {host} has expired"),
                TlsReason::Truncated => write!(f, "TLS: the response from {host} was truncated (no close_notify)"),
                other => write!(f, "TLS with {host}: {other}"),
            },
            ErrorKind::InsecureRedirect { to } => {
                write!(f, "refused a redirect from https to plain http ({to})")
            }
            ErrorKind::InsecureCredentials { host } => write!(
                f,
                "refusing to send credentials over plain http to {host}: use https, or set allow_insecure_credentials to send them anyway"
            ),
        }
    }
}

/// The request an error belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// The request method.
    pub method: Method,
    /// The URL with any credentials removed.
    pub url: String,
    /// Which attempt failed (1 = the first).
    pub attempt: u32,
    /// The last operation that worked, e.g. `GET /session 200 in 12 ms, 3 s ago`.
    pub last_success: Option<String>,
}

/// An error with the context of the request it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    context: Option<Box<Context>>,
}

impl Error {
    /// An error without request context.
    pub fn new(kind: ErrorKind) -> Self {
        Error {
            kind,
            context: None,
        }
    }

    /// Attach (or replace) the request context.
    pub fn with_context(mut self, context: Context) -> Self {
        self.context = Some(Box::new(context));
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// Consume into the kind.
    pub fn into_kind(self) -> ErrorKind {
        self.kind
    }

    /// The request this error belongs to, when known.
    pub fn context(&self) -> Option<&Context> {
        self.context.as_deref()
    }

    /// `true` for any timeout.
    pub fn is_timeout(&self) -> bool {
        matches!(self.kind, ErrorKind::Timeout { .. })
    }

    /// `true` when the caller aborted (a timeout is never an abort).
    pub fn is_aborted(&self) -> bool {
        matches!(self.kind, ErrorKind::Aborted)
    }

    /// The server's error body, for [`ErrorKind::Status`].
    pub fn api_error(&self) -> Option<&ApiError> {
        match &self.kind {
            ErrorKind::Status(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Self {
        Error::new(kind)
    }
}

impl PartialEq<ErrorKind> for Error {
    fn eq(&self, other: &ErrorKind) -> bool {
        &self.kind == other
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.context {
            None => write!(f, "{}", self.kind),
            Some(c) => {
                write!(f, "{} {} failed", c.method, c.url)?;
                if c.attempt > 1 {
                    write!(f, " on attempt {}", c.attempt)?;
                }
                write!(f, ": {}", self.kind)?;
                if let Some(last) = &c.last_success {
                    write!(f, " (last success: {last})")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for Error {}

/// Human-friendly duration for messages: `850 ms`, `3 s`, `2 min`.
pub fn human_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1_000 {
        format!("{ms} ms")
    } else if ms < 120_000 {
        format!("{} s", ms / 1_000)
    } else {
        format!("{} min", ms / 60_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_one_sentence_with_context() {
        let e = Error::new(ErrorKind::Timeout {
            phase: Phase::ResponseHead,
        })
        .with_context(Context {
            method: Method::GET,
            url: "http://127.0.0.1:4096/session".into(),
            attempt: 2,
            last_success: Some("GET /session 200 in 12 ms, 3 s ago".into()),
        });
        assert_eq!(
            e.to_string(),
            "GET http://127.0.0.1:4096/session failed on attempt 2: timed out waiting for the response head \
             (read_timeout) (last success: GET /session 200 in 12 ms, 3 s ago)"
        );
        assert!(e.is_timeout());
        assert!(!e.is_aborted());
        assert_eq!(
            e,
            ErrorKind::Timeout {
                phase: Phase::ResponseHead
            }
        );
    }

    /// Issue 20 item 10: a reset mid-body says what happened and when, not "could not connect".
    #[test]
    fn body_interrupted_display_says_what_and_when() {
        let e = ErrorKind::BodyInterrupted {
            cause: NetError::Reset,
        };
        assert_eq!(
            e.to_string(),
            "connection reset by the server while reading the response body"
        );
    }

    #[test]
    fn api_error_display() {
        let e = ApiError {
            status: 404,
            name: Some("NotFoundError".into()),
            message: Some("Session not found".into()),
            body: String::new(),
        };
        assert_eq!(
            e.to_string(),
            "404 Not Found (NotFoundError: Session not found)"
        );
        assert_eq!(human_duration(Duration::from_millis(124)), "124 ms");
    }
}
