//! The reconnecting event-stream machine: Connecting → Open → Reconnecting → … → Closed.
//!
//! Sans-IO in the quinn-proto style: the owner reports what happened (`on_*`, [`EventStream::handle_timeout`],
//! [`EventStream::abort`]) with the current time, then drains [`EventStream::poll_output`] until `None` and
//! sleeps until [`EventStream::poll_timeout`]. The machine never holds two connections: it asks for one with
//! [`StreamOutput::Connect`] only when none is open, and after [`StreamOutput::CloseConnection`] (or an
//! `on_disconnect`) it considers the connection gone — the owner must not report on it again.
//!
//! Decisions (issue 3, DESIGN.md):
//! - Open needs 200 with `text/event-stream` (any case, any parameters).
//! - Reconnect on EOF, network errors, idle timeout, 5xx, 408 and 429; a `Retry-After` on those is honoured (up
//!   to the cap) as a lower bound on the wait.
//! - Redirects (301, 302, 303, 307, 308 with a `Location`) are followed as EventSource does: the stream does not
//!   close; it drops the connection, asks its owner to retarget ([`StreamOutput::Redirect`], the URL resolved
//!   against the current one) and connects again at once, keeping the last event id. The rules and the limit are
//!   the requests' (`client/redirect.rs`, `max_redirects`, counted until a stream opens); https → http is refused.
//!   Later reconnects go to the redirected URL.
//! - Terminal: 204 and every other status (as [`ErrorKind::Status`], built from the head alone: the machine never
//!   sees the body), a 200 of another type ([`ErrorKind::NotAnEventStream`]), an abort ([`ErrorKind::Aborted`]),
//!   and running out of `max_attempts` (the last cause as an error).
//! - Backoff: `base × 2^(n-1)` capped at `max_delay`, equal jitter (uniform in `[d/2, d]`), never below
//!   `retry_floor` — so even a clean EOF waits. A `retry:` field replaces the base (floored at `retry_floor`,
//!   clamped to `max_delay`, so a huge value cannot schedule a reconnect centuries away). The server's delay is
//!   never shortened by jitter: with a `retry:` base the jitter only lengthens, by at most half (uniform in
//!   `[d, 3d/2]`, still capped at `max_delay` but never below `d`).
//! - The attempt counter resets only when the connection that broke had stayed open for `reset_after`: a server
//!   that accepts and drops at once still backs off.

use std::collections::VecDeque;

use core::time::Duration;

use super::decoder::{SseDecoder, SseItem};
use super::event::{ReconnectCause, StreamEvent};
use crate::client::redirect;
use crate::client::Options;
use crate::error::{ApiError, Error, ErrorKind, Limit, NetError, Phase, Violation};
use crate::response::ResponseHead;
use crate::retry::{backoff, jitter, retry_after, Jitter};
use crate::rng::Rng;
use crate::time::Instant;
use crate::url::Url;

/// Settings of one event stream. `EventStreamConfig::default()` gives DESIGN.md's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventStreamConfig {
    /// Longest silence (not a byte, not even a comment) before the connection is dropped and reopened. Also
    /// bounds the wait for the connection and the head.
    pub idle_timeout: Duration,
    /// Backoff base: the first reconnect waits about this long. A `retry:` field replaces it.
    pub base_delay: Duration,
    /// Backoff cap.
    pub max_delay: Duration,
    /// Consecutive reconnect attempts allowed before the stream closes; `None` = unlimited.
    pub max_attempts: Option<u32>,
    /// Largest event in bytes; larger ones are skipped with [`StreamEvent::Skipped`].
    pub max_event_size: usize,
    /// How long a connection must stay open before the backoff starts again from the base.
    pub reset_after: Duration,
    /// The shortest wait before any reconnect, and the floor for a `retry:` value.
    pub retry_floor: Duration,
    /// Redirects followed before the stream opens; one more ends it with [`ErrorKind::TooManyRedirects`]. 0
    /// makes a redirect terminal like any other status.
    pub max_redirects: u32,
}

impl Default for EventStreamConfig {
    fn default() -> Self {
        EventStreamConfig {
            idle_timeout: Duration::from_secs(30),
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
            max_attempts: None,
            max_event_size: 32 * 1024 * 1024,
            reset_after: Duration::from_secs(30),
            retry_floor: Duration::from_millis(100),
            max_redirects: 10,
        }
    }
}

impl EventStreamConfig {
    /// The stream settings a client's [`Options`] describe (`event_idle_timeout`, `retry_delay`,
    /// `max_retry_delay`, `max_event_size`, `max_redirects`); unlimited attempts.
    pub fn from_options(options: &Options) -> Self {
        EventStreamConfig {
            idle_timeout: options.event_idle_timeout,
            base_delay: options.retry_delay,
            max_delay: options.max_retry_delay,
            max_event_size: options.max_event_size,
            max_redirects: options.max_redirects,
            ..EventStreamConfig::default()
        }
    }
}

/// What the machine asks of its owner, or tells it, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamOutput {
    /// Open a connection and send the request now; add `Last-Event-ID` when
    /// [`EventStream::last_event_id`] is `Some`.
    Connect,
    /// Drop the current connection (idle timeout, an unusable head, abort). Do not report on it afterwards.
    CloseConnection,
    /// The server redirected the stream: send this and every later request to this URL (drop credentials when
    /// the origin changes, as for requests). Comes after the `CloseConnection` and before the `Connect`.
    Redirect(Url),
    /// Something for the application.
    Event(StreamEvent),
    /// The stream is over; nothing follows.
    Closed(ErrorKind),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// A connection is requested or being opened; waiting for the head.
    Connecting,
    /// A 200 `text/event-stream` head arrived at `since`.
    Open { since: Instant },
    /// Waiting until `at` before connecting again.
    Reconnecting { at: Instant },
    /// Finished for good.
    Closed,
}

/// The reconnecting event-stream machine (see the module docs).
///
/// ```
/// use std::time::Duration;
/// use plue_http_core::sse::{EventStream, EventStreamConfig, ReconnectCause, StreamEvent, StreamOutput};
/// use plue_http_core::time::Instant;
/// use plue_http_core::{ResponseHead, StatusCode};
///
/// let mut es = EventStream::new(EventStreamConfig::default(), 1);
/// let t0 = Instant::ZERO;
/// assert_eq!(es.poll_output(t0), Some(StreamOutput::Connect));
/// es.on_connected(t0);
/// let mut headers = plue_http_core::HeaderMap::new();
/// headers.insert("content-type", "text/event-stream".parse().unwrap());
/// es.on_head(t0, &ResponseHead { status: StatusCode::OK, version: http::Version::HTTP_11, headers });
/// es.on_body(t0, b"data: hello\n\n");
/// assert_eq!(es.poll_output(t0), Some(StreamOutput::Event(StreamEvent::Connected)));
/// assert!(matches!(es.poll_output(t0), Some(StreamOutput::Event(StreamEvent::Event(e))) if e.data == "hello"));
///
/// // The connection drops: the machine schedules a reconnect with backoff and says when.
/// es.on_disconnect(t0, ReconnectCause::Eof);
/// assert!(matches!(es.poll_output(t0), Some(StreamOutput::Event(StreamEvent::Reconnecting { attempt: 1, .. }))));
/// let at = es.poll_timeout().unwrap();
/// assert!(at > t0 && at <= t0 + Duration::from_secs(1));
/// es.handle_timeout(at);
/// assert_eq!(es.poll_output(at), Some(StreamOutput::Connect));
/// ```
#[derive(Debug, Clone)]
pub struct EventStream {
    cfg: EventStreamConfig,
    rng: Rng,
    decoder: SseDecoder,
    state: State,
    out: VecDeque<StreamOutput>,
    /// The owner holds a connection for us: a `Connect` was handed out and has not been closed or reported gone.
    live: bool,
    /// When silence becomes an idle timeout (only while `live`).
    idle_deadline: Option<Instant>,
    /// Consecutive failed connections since a connection last stayed open for `reset_after`.
    attempt: u32,
    /// The base delay set by the server's last valid `retry:` field, already floored.
    retry_base: Option<Duration>,
    /// The stream was open at least once: the next open is a resumption (events may have been missed).
    was_open: bool,
    /// The owner paused reading (its consumer is behind): silence is ours, not the server's, so the idle
    /// clock does not run.
    paused: bool,
    /// The URL being streamed (see [`EventStream::with_url`]): what a relative `Location` resolves against.
    url: Option<Url>,
    /// Redirects followed since the stream last opened.
    redirects: u32,
}

impl EventStream {
    /// A stream that will ask to connect on the first [`poll_output`](EventStream::poll_output). `seed` decides
    /// the jitter, so a simulation replays identically.
    pub fn new(cfg: EventStreamConfig, seed: u64) -> Self {
        let decoder = SseDecoder::new(cfg.max_event_size);
        EventStream {
            cfg,
            rng: Rng::new(seed),
            decoder,
            state: State::Connecting,
            out: VecDeque::from([StreamOutput::Connect]),
            live: false,
            idle_deadline: None,
            attempt: 0,
            retry_base: None,
            was_open: false,
            paused: false,
            url: None,
            redirects: 0,
        }
    }

    /// The URL the stream connects to. Needed to follow redirects: without it, a redirect is terminal like any
    /// other status.
    pub fn with_url(mut self, url: Url) -> Self {
        self.url = Some(url);
        self
    }

    /// The URL the stream connects to now (after any redirect), when one was given.
    pub fn url(&self) -> Option<&Url> {
        self.url.as_ref()
    }

    /// The next output, or `None` when there is nothing to do until an input or [`poll_timeout`](Self::poll_timeout).
    pub fn poll_output(&mut self, now: Instant) -> Option<StreamOutput> {
        let out = self.out.pop_front()?;
        if out == StreamOutput::Connect {
            debug_assert!(!self.live, "a second connection while one is live");
            self.live = true;
            self.idle_deadline = Some(now + self.cfg.idle_timeout);
        }
        Some(out)
    }

    /// When [`handle_timeout`](Self::handle_timeout) should be called next, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Connecting | State::Open { .. } if self.paused => None,
            State::Connecting | State::Open { .. } => self.idle_deadline,
            State::Reconnecting { at } => Some(at),
            State::Closed => None,
        }
    }

    /// Time passed: fire the idle timeout or end the backoff wait when due. Calling early is harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.state {
            State::Connecting | State::Open { .. } => {
                if self.live && !self.paused && self.idle_deadline.is_some_and(|d| now >= d) {
                    self.close_connection();
                    self.reconnect(now, ReconnectCause::IdleTimeout, None);
                }
            }
            State::Reconnecting { at } if now >= at => {
                self.state = State::Connecting;
                self.out.push_back(StreamOutput::Connect);
            }
            State::Reconnecting { .. } | State::Closed => {}
        }
    }

    /// The owner stopped reading the connection because its consumer is behind (backpressure). The idle
    /// timeout stops until [`on_resumed`](Self::on_resumed): the server is not silent, we are not listening.
    pub fn on_paused(&mut self, _now: Instant) {
        self.paused = true;
    }

    /// The owner reads again: the idle clock restarts from `now` (a full `idle_timeout` of silence is needed).
    pub fn on_resumed(&mut self, now: Instant) {
        if !self.paused {
            return;
        }
        self.paused = false;
        if self.live && matches!(self.state, State::Connecting | State::Open { .. }) {
            self.idle_deadline = Some(now + self.cfg.idle_timeout);
        }
    }

    /// `true` while the owner has reading paused (see [`on_paused`](Self::on_paused)).
    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// The connection asked for is open (the request is on its way). Restarts the idle clock.
    pub fn on_connected(&mut self, now: Instant) {
        if self.live && self.state == State::Connecting {
            self.idle_deadline = Some(now + self.cfg.idle_timeout);
        }
    }

    /// The response head arrived: open the stream, schedule a reconnect, or close for good.
    pub fn on_head(&mut self, now: Instant, head: &ResponseHead) {
        if !(self.live && self.state == State::Connecting) {
            return;
        }
        let status = head.status.as_u16();
        match status {
            200 if head.media_type().as_deref() == Some("text/event-stream") => {
                self.state = State::Open { since: now };
                self.redirects = 0;
                self.idle_deadline = Some(now + self.cfg.idle_timeout);
                self.decoder.restart();
                self.out
                    .push_back(StreamOutput::Event(StreamEvent::Connected));
                if self.was_open {
                    let last_event_id = self.last_event_id().map(str::to_string);
                    self.out
                        .push_back(StreamOutput::Event(StreamEvent::Resumed { last_event_id }));
                }
                self.was_open = true;
            }
            200 => {
                let content_type = head.header("content-type").unwrap_or("").to_string();
                self.fail(ErrorKind::NotAnEventStream { content_type });
            }
            _ if redirect::is_redirect(status) && self.cfg.max_redirects > 0 => {
                match (self.url.as_ref(), head.header("location")) {
                    (Some(url), Some(location)) => {
                        let target = redirect_target(url, location);
                        self.follow(target);
                    }
                    _ => self.fail(ErrorKind::Status(ApiError::from_body(status, b""))),
                }
            }
            408 | 429 | 500..=599 => {
                self.close_connection();
                let cap = self.cap();
                self.reconnect(now, ReconnectCause::Status(status), retry_after(head, cap));
            }
            _ => self.fail(ErrorKind::Status(ApiError::from_body(status, b""))),
        }
    }

    /// Body bytes of the open stream (already de-chunked). Any byte restarts the idle clock.
    pub fn on_body(&mut self, now: Instant, data: &[u8]) {
        if !(self.live && matches!(self.state, State::Open { .. })) || data.is_empty() {
            return;
        }
        self.idle_deadline = Some(now + self.cfg.idle_timeout);
        self.decoder.feed(data);
        while let Some(item) = self.decoder.poll() {
            let event = match item {
                SseItem::Event(e) => StreamEvent::Event(e),
                SseItem::Comment(c) => StreamEvent::Comment(c),
                SseItem::Retry(d) => {
                    // Clamped: a huge value must not schedule a reconnect centuries away.
                    self.retry_base = Some(d.min(self.cfg.max_delay).max(self.cfg.retry_floor));
                    continue;
                }
                SseItem::TooLarge { max } => {
                    StreamEvent::Skipped(Error::new(ErrorKind::TooLarge {
                        limit: Limit::EventSize,
                        max: max as u64,
                    }))
                }
            };
            self.out.push_back(StreamOutput::Event(event));
        }
    }

    /// The connection ended (EOF, network error, broken framing) or could not be opened. Ignored when no
    /// connection is live (e.g. one the machine already asked to close).
    pub fn on_disconnect(&mut self, now: Instant, cause: ReconnectCause) {
        if !self.live || !matches!(self.state, State::Connecting | State::Open { .. }) {
            return;
        }
        self.live = false;
        self.idle_deadline = None;
        // An event without its blank line is not dispatched (WHATWG: discard at end of file).
        self.decoder.finish();
        self.reconnect(now, cause, None);
    }

    /// The owner aborted: close any connection and end with [`ErrorKind::Aborted`] at once. Outputs not yet
    /// drained are dropped (except a pending `CloseConnection`), so no `Connect` can follow. Idempotent.
    pub fn abort(&mut self, _now: Instant) {
        if self.state == State::Closed {
            return;
        }
        self.out.retain(|o| *o == StreamOutput::CloseConnection);
        self.fail(ErrorKind::Aborted);
    }

    /// The last event ID, when non-empty: send it as `Last-Event-ID` on (re)connect.
    pub fn last_event_id(&self) -> Option<&str> {
        Some(self.decoder.last_event_id()).filter(|id| !id.is_empty())
    }

    /// `true` once the stream has ended for good (its `Closed` output may still be waiting to be drained).
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// `true` while a 200 `text/event-stream` response is being read.
    pub fn is_open(&self) -> bool {
        matches!(self.state, State::Open { .. })
    }

    /// Follow a redirect to `target` (or end with why it cannot be followed): close the connection, tell the owner
    /// where to go, connect again at once. Not a failure: the attempt counter and backoff are untouched.
    fn follow(&mut self, target: Result<Url, ErrorKind>) {
        let url = match target {
            Ok(_) if self.redirects >= self.cfg.max_redirects => {
                let max = self.cfg.max_redirects;
                return self.fail(ErrorKind::TooManyRedirects { max });
            }
            Ok(url) => url,
            Err(kind) => return self.fail(kind),
        };
        self.redirects += 1;
        self.close_connection();
        self.url = Some(url.clone());
        self.out.push_back(StreamOutput::Redirect(url));
        self.state = State::Connecting;
        self.out.push_back(StreamOutput::Connect);
    }

    /// End for good with `kind`, closing a live connection first.
    fn fail(&mut self, kind: ErrorKind) {
        self.close_connection();
        self.state = State::Closed;
        self.out.push_back(StreamOutput::Closed(kind));
    }

    fn close_connection(&mut self) {
        if self.live {
            self.live = false;
            self.out.push_back(StreamOutput::CloseConnection);
        }
        self.idle_deadline = None;
    }

    /// The backoff cap: `max_delay`, or the server's `retry:` base when that is larger.
    fn cap(&self) -> Duration {
        self.cfg
            .max_delay
            .max(self.retry_base.unwrap_or(self.cfg.base_delay))
    }

    /// The connection is gone (already closed): wait and connect again, or close when out of attempts.
    fn reconnect(&mut self, now: Instant, cause: ReconnectCause, at_least: Option<Duration>) {
        if let State::Open { since } = self.state {
            if now.saturating_duration_since(since) >= self.cfg.reset_after {
                self.attempt = 0;
            }
        }
        self.attempt = self.attempt.saturating_add(1);
        if self.cfg.max_attempts.is_some_and(|max| self.attempt > max) {
            self.state = State::Closed;
            self.out
                .push_back(StreamOutput::Closed(cause_error(&cause)));
            return;
        }
        let base = self.retry_base.unwrap_or(self.cfg.base_delay);
        let cap = self.cap();
        let nominal = backoff(base, 2.0, self.attempt - 1, cap);
        let mut delay = match self.retry_base {
            // The server asked for this wait: jitter may lengthen it (by at most half), never shorten it.
            Some(asked) => {
                // `max(asked)`: the float backoff may round the server's value down by a nanosecond.
                let nominal = nominal.max(asked);
                let extra = jitter(Jitter::Full, nominal / 2, &mut self.rng);
                (nominal + extra).min(cap).max(nominal)
            }
            None => jitter(Jitter::Equal, nominal, &mut self.rng),
        }
        .max(self.cfg.retry_floor);
        if let Some(after) = at_least {
            delay = delay.max(after.min(cap));
        }
        self.state = State::Reconnecting { at: now + delay };
        self.out
            .push_back(StreamOutput::Event(StreamEvent::Reconnecting {
                attempt: self.attempt,
                max: self.cfg.max_attempts,
                delay,
                cause,
            }));
    }
}

/// Where a redirect of the stream at `current` goes: the requests' rules (never from https down to http: the
/// events would travel in the clear).
fn redirect_target(current: &Url, location: &str) -> Result<Url, ErrorKind> {
    redirect::target(current, location)
}

/// The error a stream ends with when it runs out of attempts after `cause`.
fn cause_error(cause: &ReconnectCause) -> ErrorKind {
    match cause {
        ReconnectCause::Eof => ErrorKind::ConnectionFailed {
            cause: NetError::Closed,
        },
        ReconnectCause::Network(e) => ErrorKind::ConnectionFailed { cause: *e },
        ReconnectCause::Status(status) => ErrorKind::Status(ApiError::from_body(*status, b"")),
        ReconnectCause::IdleTimeout => ErrorKind::Timeout {
            phase: Phase::EventIdle,
        },
        // The cause does not say which framing rule broke; the head rule is the closest general one.
        ReconnectCause::InvalidResponse => ErrorKind::InvalidResponse {
            violation: Violation::MalformedHead,
        },
    }
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
