//! [`H1Connection`]: one HTTP/1.1 connection's codec, with requests pipelined and responses matched FIFO.
//!
//! The caller tags each request (`T`, e.g. a request id), writes what [`H1Connection::send`] encodes, feeds
//! what it reads to [`H1Connection::handle_data`] / [`H1Connection::handle_eof`], and drains
//! [`H1Connection::poll_event`] until `None`. Every request ends in exactly one `Done` or appears in exactly
//! one `Failed` (as `responding` or among `unanswered`) — the split the retry rules need: a request that got
//! no byte of a response and was queued behind a close, or cut off by the close, may be replayed.

use core::time::Duration;
use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};
use http::Method;

use super::decode::{Decoded, ResponseDecoder};
use super::head;
use super::{encode_request, keep_alive, Limits};
use crate::error::{ErrorKind, NetError, Violation};
use crate::request::Request;
use crate::response::ResponseHead;

/// What happened on a connection, per request tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnEvent<T> {
    /// The final head of the response to `T`.
    Head(T, ResponseHead),
    /// Body bytes of the response to `T`, as soon as they were decoded.
    Body(T, Bytes),
    /// The response to `T` is complete.
    Done(T),
    /// The connection failed; nothing more will come from it. Emitted once (plus once per later
    /// [`send`](H1Connection::send) refused on a dead connection).
    Failed {
        /// Why: the decoder's error, or [`ErrorKind::ConnectionFailed`] with [`NetError::Closed`] when the
        /// connection ended (or was known to be closing) before any byte of a response.
        error: ErrorKind,
        /// The request whose response was in progress (some bytes of it, interim 1xx included, were received).
        responding: Option<T>,
        /// Requests that got no byte of a response, in the order they were sent.
        unanswered: Vec<T>,
    },
}

/// Where the connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// More requests may be sent.
    Open,
    /// A close was decided (a response or one of our requests said so, or a body runs to the close): the
    /// requests in flight finish, nothing new is sent, leftover bytes afterwards are ignored.
    Closing,
    /// The peer closed the connection, or it failed; nothing more happens.
    Closed,
}

#[derive(Debug, Clone, Copy)]
struct InFlight<T> {
    tag: T,
    head_request: bool,
}

/// The codec of one pipelined HTTP/1.1 connection. It owns the read buffer, reused across responses.
///
/// ```
/// use bytes::BytesMut;
/// use plue_http_core::h1::{ConnEvent, H1Connection, Limits};
/// use plue_http_core::Request;
///
/// let mut conn = H1Connection::new(Limits::default());
/// let mut wire = BytesMut::new();
/// conn.send(1u32, &Request::get("http://127.0.0.1:4096/global/health").unwrap(), "Plue/1.0", &mut wire);
/// assert!(wire.starts_with(b"GET /global/health HTTP/1.1\r\n"));
///
/// // The response may arrive in any pieces.
/// conn.handle_data(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n");
/// conn.handle_data(b"ok");
/// assert!(matches!(conn.poll_event(), Some(ConnEvent::Head(1, head)) if head.status == 200));
/// assert!(matches!(conn.poll_event(), Some(ConnEvent::Body(1, body)) if &body[..] == b"ok"));
/// assert_eq!(conn.poll_event(), Some(ConnEvent::Done(1)));
/// assert!(conn.is_reusable());
/// ```
#[derive(Debug)]
pub struct H1Connection<T> {
    limits: Limits,
    state: State,
    read_buf: BytesMut,
    /// Requests sent and not yet answered; the front one owns `decoder`.
    in_flight: VecDeque<InFlight<T>>,
    decoder: Option<ResponseDecoder>,
    events: VecDeque<ConnEvent<T>>,
    keep_alive_timeout: Option<Duration>,
}

impl<T: Copy> H1Connection<T> {
    /// A fresh connection with the given response limits.
    pub fn new(limits: Limits) -> Self {
        H1Connection {
            limits,
            state: State::Open,
            read_buf: BytesMut::new(),
            in_flight: VecDeque::new(),
            decoder: None,
            events: VecDeque::new(),
            keep_alive_timeout: None,
        }
    }

    /// Encode `req` onto `out` and queue `tag` for the next response in line.
    ///
    /// Called when [`can_send`](Self::can_send) is `false`, nothing is written and a
    /// `Failed { unanswered: [tag], .. }` is queued instead: the request never left, so it may be replayed
    /// elsewhere. A request carrying `Connection: close` is the last one this connection sends.
    pub fn send(&mut self, tag: T, req: &Request, user_agent: &str, out: &mut BytesMut) {
        if !self.can_send() {
            self.events.push_back(ConnEvent::Failed {
                error: closed(),
                responding: None,
                unanswered: vec![tag],
            });
            return;
        }
        encode_request(req, user_agent, out);
        self.in_flight.push_back(InFlight {
            tag,
            head_request: *req.method() == Method::HEAD,
        });
        if keep_alive::request_closes(req.headers()) {
            self.state = State::Closing;
        }
    }

    /// `true` while another request may be sent: not failed, not closed by the peer, no close decided.
    pub fn can_send(&self) -> bool {
        self.state == State::Open
    }

    /// Requests sent whose response has not completed.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// `true` when idle and keep-alive: the connection may go back to a pool.
    pub fn is_reusable(&self) -> bool {
        self.can_send() && self.in_flight.is_empty()
    }

    /// Bytes buffered but not yet decoded (never more than the largest limit once events are drained).
    pub fn buffered(&self) -> usize {
        self.read_buf.len()
    }

    /// Bytes read from the connection.
    pub fn handle_data(&mut self, data: &[u8]) {
        if self.state == State::Closed || data.is_empty() {
            return;
        }
        if self.state == State::Closing && self.in_flight.is_empty() {
            // The server said close (or we did) and the last response is complete: what follows is not an
            // answer to anything and the connection is about to be closed. Ignored.
            return;
        }
        self.read_buf.extend_from_slice(data);
        self.process(false);
    }

    /// The peer closed the connection (read returned 0).
    pub fn handle_eof(&mut self) {
        if self.state == State::Closed {
            return;
        }
        self.process(true);
        self.state = State::Closed;
    }

    /// The peer closed the connection without the end its transport layer promises (TLS without
    /// `close_notify`). A body delimited by the close is then not complete: it fails with `error`. Anything
    /// else ends as [`handle_eof`](Self::handle_eof) would end it (a `Content-Length` or chunked body that is
    /// complete is complete; one that is not is `IncompleteBody`).
    pub fn handle_eof_unclean(&mut self, error: ErrorKind) {
        if self.state == State::Closed {
            return;
        }
        if self.decoder.as_ref().is_some_and(|d| d.reads_until_close()) {
            self.fail(error, true);
            return;
        }
        self.handle_eof();
    }

    /// The next event, in order. Drain until `None` after every `send` / `handle_*` call.
    pub fn poll_event(&mut self) -> Option<ConnEvent<T>> {
        self.events.pop_front()
    }

    /// How long the server keeps this connection open when idle, from the last completed keep-alive
    /// response's `Keep-Alive: timeout=N` (`None` when it did not say).
    pub fn keep_alive_timeout(&self) -> Option<Duration> {
        self.keep_alive_timeout
    }

    /// Decode everything decodable into events.
    fn process(&mut self, eof: bool) {
        while self.state != State::Closed {
            let Some(front) = self.in_flight.front().copied() else {
                if self.state == State::Open && head::only_empty_lines(&self.read_buf) {
                    // A stray empty line after a response (RFC 9112 §2.2): kept for the next response's
                    // scanner, which skips it within its bound.
                    return;
                }
                if !self.read_buf.is_empty() && self.state == State::Open {
                    self.fail(
                        ErrorKind::InvalidResponse {
                            violation: Violation::UnsolicitedResponse,
                        },
                        false,
                    );
                }
                // Leftovers after a close decision are ignored (see `handle_data`).
                self.read_buf.clear();
                return;
            };
            let limits = self.limits;
            let decoder = self.decoder.get_or_insert_with(|| {
                let method = if front.head_request {
                    Method::HEAD
                } else {
                    Method::GET
                };
                ResponseDecoder::new(&method, &limits)
            });
            let result = if eof {
                decoder.decode_eof(&mut self.read_buf)
            } else {
                decoder.decode(&mut self.read_buf)
            };
            match result {
                Ok(Some(Decoded::Head(head))) => {
                    if !decoder.keep_alive() {
                        self.state = State::Closing;
                    }
                    self.events.push_back(ConnEvent::Head(front.tag, head));
                }
                Ok(Some(Decoded::Body(data))) => {
                    self.events.push_back(ConnEvent::Body(front.tag, data));
                }
                Ok(Some(Decoded::End { keep_alive })) => {
                    let timeout = decoder.keep_alive_timeout();
                    self.decoder = None;
                    self.in_flight.pop_front();
                    self.events.push_back(ConnEvent::Done(front.tag));
                    if keep_alive {
                        self.keep_alive_timeout = timeout;
                    } else {
                        self.state = State::Closing;
                    }
                    if self.state == State::Closing && !self.in_flight.is_empty() {
                        // Queued behind a response that closes the connection: never answered.
                        self.fail(closed(), false);
                        return;
                    }
                }
                Ok(None) => return,
                Err(error) => {
                    let started = decoder.is_started();
                    if started {
                        self.fail(error, true);
                    } else {
                        // The connection ended before any byte of a response.
                        self.fail(closed(), false);
                    }
                    return;
                }
            }
        }
    }

    /// Emit the one `Failed` event and stop: the front request is `responding` when it got response bytes.
    fn fail(&mut self, error: ErrorKind, front_responding: bool) {
        let responding = if front_responding {
            self.in_flight.pop_front().map(|f| f.tag)
        } else {
            None
        };
        let unanswered = self.in_flight.drain(..).map(|f| f.tag).collect();
        self.events.push_back(ConnEvent::Failed {
            error,
            responding,
            unanswered,
        });
        self.state = State::Closed;
        self.decoder = None;
        // Free the memory now; the connection is dead.
        self.read_buf = BytesMut::new();
    }
}

fn closed() -> ErrorKind {
    ErrorKind::ConnectionFailed {
        cause: NetError::Closed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::RequestBuilder;

    type Conn = H1Connection<u32>;

    fn req(method: Method) -> Request {
        RequestBuilder::new(method, "http://h/").build().unwrap()
    }

    fn send(c: &mut Conn, tag: u32, method: Method) -> BytesMut {
        let mut out = BytesMut::new();
        c.send(tag, &req(method), "ua", &mut out);
        out
    }

    fn drain(c: &mut Conn) -> Vec<ConnEvent<u32>> {
        std::iter::from_fn(|| c.poll_event()).collect()
    }

    /// Events with heads reduced to their status and bodies concatenated per tag, for comparisons.
    #[derive(Debug, PartialEq, Eq)]
    enum Ev {
        Head(u32, u16),
        Body(u32, Vec<u8>),
        Done(u32),
        Failed(ErrorKind, Option<u32>, Vec<u32>),
    }

    fn simplify(events: Vec<ConnEvent<u32>>) -> Vec<Ev> {
        let mut out: Vec<Ev> = Vec::new();
        for e in events {
            match e {
                ConnEvent::Head(t, h) => out.push(Ev::Head(t, h.status.as_u16())),
                ConnEvent::Body(t, b) => match out.last_mut() {
                    Some(Ev::Body(lt, acc)) if *lt == t => acc.extend_from_slice(&b),
                    _ => out.push(Ev::Body(t, b.to_vec())),
                },
                ConnEvent::Done(t) => out.push(Ev::Done(t)),
                ConnEvent::Failed {
                    error,
                    responding,
                    unanswered,
                } => out.push(Ev::Failed(error, responding, unanswered)),
            }
        }
        out
    }

    fn violation(v: Violation) -> ErrorKind {
        ErrorKind::InvalidResponse { violation: v }
    }

    #[test]
    fn h1_conn_pipelined_responses_match_fifo_and_head_aware() {
        let mut c = Conn::new(Limits::default());
        send(&mut c, 1, Method::GET);
        send(&mut c, 2, Method::HEAD);
        send(&mut c, 3, Method::GET);
        assert_eq!(c.in_flight(), 3);
        assert!(c.can_send() && !c.is_reusable());
        c.handle_data(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello\
              HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n\
              HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n4\r\ngone\r\n0\r\n\r\n",
        );
        assert_eq!(
            simplify(drain(&mut c)),
            vec![
                Ev::Head(1, 200),
                Ev::Body(1, b"hello".to_vec()),
                Ev::Done(1),
                Ev::Head(2, 200),
                Ev::Done(2),
                Ev::Head(3, 404),
                Ev::Body(3, b"gone".to_vec()),
                Ev::Done(3),
            ]
        );
        assert!(c.is_reusable());
        assert_eq!(c.buffered(), 0);
    }

    #[test]
    fn h1_conn_eof_mid_response_names_responding_and_unanswered() {
        let mut c = Conn::new(Limits::default());
        for t in 1..=3 {
            send(&mut c, t, Method::GET);
        }
        c.handle_data(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\npart");
        c.handle_eof();
        assert_eq!(
            simplify(drain(&mut c)),
            vec![
                Ev::Head(1, 200),
                Ev::Done(1),
                Ev::Head(2, 200),
                Ev::Body(2, b"part".to_vec()),
                Ev::Failed(violation(Violation::IncompleteBody), Some(2), vec![3]),
            ]
        );
        assert!(!c.can_send() && c.in_flight() == 0);
    }

    #[test]
    fn h1_conn_eof_before_any_byte_leaves_everything_unanswered() {
        let mut c = Conn::new(Limits::default());
        send(&mut c, 7, Method::POST);
        send(&mut c, 8, Method::GET);
        c.handle_eof();
        assert_eq!(
            simplify(drain(&mut c)),
            vec![Ev::Failed(
                ErrorKind::ConnectionFailed {
                    cause: NetError::Closed
                },
                None,
                vec![7, 8]
            )]
        );
        // Later input is ignored; the one Failed was the last word.
        c.handle_data(b"HTTP/1.1 200 OK\r\n\r\n");
        c.handle_eof();
        assert!(drain(&mut c).is_empty());
    }

    #[test]
    fn h1_conn_interim_response_counts_as_responding() {
        let mut c = Conn::new(Limits::default());
        send(&mut c, 1, Method::POST);
        c.handle_data(b"HTTP/1.1 100 Continue\r\n\r\n");
        assert!(drain(&mut c).is_empty());
        c.handle_eof();
        assert_eq!(
            simplify(drain(&mut c)),
            vec![Ev::Failed(
                violation(Violation::IncompleteHead),
                Some(1),
                vec![]
            )]
        );
    }

    /// Issue 20 item 3: a stray empty line between pipelined responses (or after the last one, while idle) is
    /// skipped, within the bound; the connection stays reusable. Past the bound it is an error.
    #[test]
    fn h1_conn_stray_empty_line_between_pipelined_responses_is_skipped() {
        let mut c = Conn::new(Limits::default());
        send(&mut c, 1, Method::GET);
        send(&mut c, 2, Method::GET);
        c.handle_data(
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na\r\n\
              HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb\n",
        );
        assert_eq!(
            simplify(drain(&mut c)),
            vec![
                Ev::Head(1, 200),
                Ev::Body(1, b"a".to_vec()),
                Ev::Done(1),
                Ev::Head(2, 200),
                Ev::Body(2, b"b".to_vec()),
                Ev::Done(2),
            ]
        );
        // The trailing LF arrived while idle: kept for the next response, not an unsolicited response.
        assert!(c.is_reusable());
        send(&mut c, 3, Method::GET);
        c.handle_data(b"\r\nHTTP/1.1 204 No Content\r\n\r\n");
        assert_eq!(simplify(drain(&mut c)), vec![Ev::Head(3, 204), Ev::Done(3)]);
        assert!(c.is_reusable() && c.buffered() == 0);
        // Too many empty lines while idle: unsolicited.
        let mut c = Conn::new(Limits::default());
        c.handle_data(&b"\r\n".repeat(super::head::MAX_EMPTY_LINES as usize + 1));
        assert_eq!(
            simplify(drain(&mut c)),
            vec![Ev::Failed(
                violation(Violation::UnsolicitedResponse),
                None,
                vec![]
            )]
        );
    }

    #[test]
    fn h1_conn_bytes_with_nothing_in_flight_are_unsolicited() {
        let mut c = Conn::new(Limits::default());
        c.handle_data(b"HTTP/1.1 408 Request Timeout\r\n\r\n");
        assert_eq!(
            simplify(drain(&mut c)),
            vec![Ev::Failed(
                violation(Violation::UnsolicitedResponse),
                None,
                vec![]
            )]
        );
        assert!(!c.can_send());
        // Extra bytes after a complete response, too.
        let mut c = Conn::new(Limits::default());
        send(&mut c, 1, Method::GET);
        c.handle_data(b"HTTP/1.1 204 No Content\r\n\r\nX");
        assert_eq!(
            simplify(drain(&mut c)),
            vec![
                Ev::Head(1, 204),
                Ev::Done(1),
                Ev::Failed(violation(Violation::UnsolicitedResponse), None, vec![])
            ]
        );
    }

    #[test]
    fn h1_conn_close_response_stops_sending_and_leaves_the_rest_unanswered() {
        let mut c = Conn::new(Limits::default());
        for t in 1..=3 {
            send(&mut c, t, Method::GET);
        }
        c.handle_data(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n");
        assert_eq!(simplify(drain(&mut c)), vec![Ev::Head(1, 200)]);
        assert!(!c.can_send(), "the close is known from the head");
        c.handle_data(b"ok");
        assert_eq!(
            simplify(drain(&mut c)),
            vec![
                Ev::Body(1, b"ok".to_vec()),
                Ev::Done(1),
                Ev::Failed(
                    ErrorKind::ConnectionFailed {
                        cause: NetError::Closed
                    },
                    None,
                    vec![2, 3]
                )
            ]
        );
    }

    #[test]
    fn h1_conn_close_response_alone_ends_quietly() {
        let mut c = Conn::new(Limits::default());
        send(&mut c, 1, Method::GET);
        c.handle_data(
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\ntrailing junk",
        );
        c.handle_eof();
        assert_eq!(simplify(drain(&mut c)), vec![Ev::Head(1, 200), Ev::Done(1)]);
        assert!(!c.is_reusable());
    }

    #[test]
    fn h1_conn_close_delimited_body_ends_at_eof() {
        let mut c = Conn::new(Limits::default());
        send(&mut c, 1, Method::GET);
        c.handle_data(b"HTTP/1.0 200 OK\r\n\r\nstream");
        assert!(!c.can_send());
        c.handle_data(b"ing");
        c.handle_eof();
        assert_eq!(
            simplify(drain(&mut c)),
            vec![
                Ev::Head(1, 200),
                Ev::Body(1, b"streaming".to_vec()),
                Ev::Done(1)
            ]
        );
    }

    #[test]
    fn h1_conn_request_with_connection_close_is_the_last_and_later_sends_are_refused() {
        let mut c = Conn::new(Limits::default());
        let mut out = BytesMut::new();
        let r = RequestBuilder::new(Method::GET, "http://h/")
            .header("Connection", "close")
            .build()
            .unwrap();
        c.send(1, &r, "ua", &mut out);
        assert!(!out.is_empty() && !c.can_send());
        let mut out2 = BytesMut::new();
        c.send(2, &req(Method::GET), "ua", &mut out2);
        assert!(out2.is_empty(), "nothing written for a refused send");
        assert_eq!(
            simplify(drain(&mut c)),
            vec![Ev::Failed(
                ErrorKind::ConnectionFailed {
                    cause: NetError::Closed
                },
                None,
                vec![2]
            )]
        );
        c.handle_data(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(simplify(drain(&mut c)), vec![Ev::Head(1, 200), Ev::Done(1)]);
        assert!(!c.is_reusable());
    }

    #[test]
    fn h1_conn_decoder_error_fails_the_front_as_responding() {
        let mut c = Conn::new(Limits::default());
        send(&mut c, 1, Method::GET);
        send(&mut c, 2, Method::GET);
        c.handle_data(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n");
        assert_eq!(
            simplify(drain(&mut c)),
            vec![Ev::Failed(
                violation(Violation::InvalidContentLength),
                Some(1),
                vec![2]
            )]
        );
        assert_eq!(c.buffered(), 0);
        assert!(!c.can_send());
    }

    #[test]
    fn h1_conn_keep_alive_timeout_and_idle_eof() {
        let mut c = Conn::new(Limits::default());
        assert_eq!(c.keep_alive_timeout(), None);
        send(&mut c, 1, Method::GET);
        c.handle_data(
            b"HTTP/1.1 200 OK\r\nKeep-Alive: timeout=4, max=10\r\nContent-Length: 0\r\n\r\n",
        );
        drain(&mut c);
        assert_eq!(c.keep_alive_timeout(), Some(Duration::from_secs(4)));
        assert!(c.is_reusable());
        send(&mut c, 2, Method::GET);
        c.handle_data(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        drain(&mut c);
        assert_eq!(
            c.keep_alive_timeout(),
            None,
            "the last response did not say"
        );
        c.handle_eof();
        assert!(
            drain(&mut c).is_empty(),
            "an idle connection closing is not a failure"
        );
        assert!(!c.is_reusable() && !c.can_send());
    }

    #[test]
    fn h1_conn_byte_by_byte_equals_one_read() {
        let input: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
            2;x=y\r\nab\r\n3\r\ncde\r\n0\r\nT: v\r\n\r\nHTTP/1.1 304 Not Modified\r\nETag: x\r\n\r\n";
        let run = |split: bool| {
            let mut c = Conn::new(Limits::default());
            send(&mut c, 1, Method::GET);
            send(&mut c, 2, Method::GET);
            let mut events = Vec::new();
            if split {
                for b in input {
                    c.handle_data(std::slice::from_ref(b));
                    events.extend(drain(&mut c));
                }
            } else {
                c.handle_data(input);
                events.extend(drain(&mut c));
            }
            simplify(events)
        };
        assert_eq!(run(true), run(false));
        assert_eq!(
            run(false),
            vec![
                Ev::Head(1, 200),
                Ev::Body(1, b"abcde".to_vec()),
                Ev::Done(1),
                Ev::Head(2, 304),
                Ev::Done(2)
            ]
        );
    }
}
