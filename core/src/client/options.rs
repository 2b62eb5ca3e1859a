//! Client options: names from the original plan, meanings and defaults from DESIGN.md.

use core::time::Duration;
use std::collections::BTreeMap;

use crate::tls::{ClientIdentity, TlsConfig};

/// Options of a client. `Options::default()` gives DESIGN.md's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Prefix joined to relative paths with exactly one `/`.
    pub base_url: Option<String>,
    /// Whole request: every attempt, redirect and backoff wait together; `None` = unlimited.
    pub timeout: Option<Duration>,
    /// Per attempt.
    pub connect_timeout: Duration,
    /// Per attempt: longest silence while waiting for the head or between body bytes; `None` = unlimited.
    pub read_timeout: Option<Duration>,
    /// Retries after the first attempt (3 ⇒ at most 4 attempts).
    pub max_retries: u32,
    /// Backoff base: delay n = `retry_delay × 2^(n-1)`, capped, with equal jitter.
    pub retry_delay: Duration,
    /// Backoff cap (also caps `Retry-After`).
    pub max_retry_delay: Duration,
    /// Default `User-Agent`.
    pub user_agent: String,
    /// Open connections per host (busy + idle); event streams not counted. More requests wait FIFO.
    pub pool_size: usize,
    /// Open connections across hosts.
    pub max_connections: usize,
    /// Idle connection lifetime (never longer than the server's `Keep-Alive: timeout=`).
    pub pool_idle_timeout: Duration,
    /// Redirects followed before `TooManyRedirects`.
    pub max_redirects: u32,
    /// Largest SSE event.
    pub max_event_size: usize,
    /// Event stream: longest silence before reconnecting.
    pub event_idle_timeout: Duration,
    /// Health monitor: consecutive failed (re)connects before it decides to restart the server.
    pub max_connection_failures: u32,
    /// Largest response body collected into memory; a larger request body is refused before a byte is sent.
    pub max_body_size: u64,
    /// Requests allowed to wait while a host is unreachable (graceful degradation); 0 fails them at once.
    pub max_queued_requests: usize,
    /// How long resolved addresses are cached.
    pub dns_ttl: Duration,
    /// Crypto, trust and wall clock for `https://`, built outside the core. The drivers fill it in from
    /// `root_certificates` / `tls_built_in_roots` when it is `None`; without it `https` fails with
    /// `ErrorKind::Tls { reason: NotConfigured }`.
    pub tls: Option<TlsConfig>,
    /// Extra trusted roots, PEM text (read by the caller; the core never reads files).
    pub root_certificates: Vec<String>,
    /// Whether the operating system's verifier is used as well as `root_certificates`; `false` trusts only the
    /// given roots (curl's `--cacert`).
    pub tls_built_in_roots: bool,
    /// Per host: accepted `sha256//BASE64` pins of the leaf certificate's SubjectPublicKeyInfo; several are
    /// alternatives. Checked after normal verification.
    pub pinned_public_keys: BTreeMap<String, Vec<String>>,
    /// A client certificate and key for mutual TLS.
    pub client_identity: Option<ClientIdentity>,
    /// Send credentials (userinfo, `Authorization`) over plain `http://` to a host that is not loopback.
    pub allow_insecure_credentials: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            base_url: None,
            timeout: Some(Duration::from_secs(30)),
            connect_timeout: Duration::from_secs(10),
            read_timeout: Some(Duration::from_secs(30)),
            max_retries: 3,
            retry_delay: Duration::from_secs(1),
            max_retry_delay: Duration::from_secs(30),
            user_agent: "Plue/1.0".to_string(),
            pool_size: 10,
            max_connections: 100,
            pool_idle_timeout: Duration::from_secs(15),
            max_redirects: 10,
            max_event_size: 32 * 1024 * 1024,
            event_idle_timeout: Duration::from_secs(30),
            max_connection_failures: 3,
            max_body_size: 64 * 1024 * 1024,
            max_queued_requests: 1024,
            dns_ttl: Duration::from_secs(60),
            tls: None,
            root_certificates: Vec::new(),
            tls_built_in_roots: true,
            pinned_public_keys: BTreeMap::new(),
            client_identity: None,
            allow_insecure_credentials: false,
        }
    }
}

/// At most this many body bytes per request are handed out and not yet reported consumed; then reading pauses.
pub const MAX_UNDELIVERED: usize = 1024 * 1024;

/// A stale response (a retried or redirected attempt) is drained to keep its connection, up to this many body
/// bytes; past it the connection is closed instead.
pub(crate) const MAX_DRAIN: usize = 64 * 1024;

/// Options of one event stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamOptions {
    /// Reconnect attempts before the stream gives up; `None` (the default) reconnects forever.
    pub max_attempts: Option<u32>,
    /// Longest silence before reconnecting; `None` uses the client's `event_idle_timeout`.
    pub idle_timeout: Option<Duration>,
}
