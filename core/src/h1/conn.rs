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
