//! [`ResponseDecoder`]: one response, from the first byte of its head to the end of its body.
//!
//! Sans-IO in the h11 style: the caller appends what it read to a `BytesMut` and calls [`ResponseDecoder::decode`]
//! until it returns `Ok(None)`; the decoder consumes from the front. End of stream is explicit
//! ([`ResponseDecoder::decode_eof`]). Interim 1xx heads are consumed and skipped. Errors are sticky: once a
//! response broke a rule, every later call returns the same error.

use core::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{Method, StatusCode};

use super::chunked::{Chunk, ChunkedDecoder};
use super::framing::{framing, BodyKind};
use super::head::HeadScanner;
use super::{keep_alive, Limits};
use crate::error::{ErrorKind, Violation};
use crate::response::ResponseHead;

/// What the decoder produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// The final response head (interim 1xx heads are skipped inside the decoder).
    Head(ResponseHead),
    /// Body bytes, delivered as soon as they are decoded (never held back to fill a buffer), split off the
    /// read buffer without copying.
    Body(Bytes),
    /// The response is complete.
    End {
        /// The connection may carry another request: the `Connection` header allows it, the body was not
        /// delimited by the close, and the framing was not faulty.
        keep_alive: bool,
    },
}

#[derive(Debug, Clone)]
enum State {
    /// Waiting for a (final or interim) head.
    Head(HeadScanner),
    /// A `Content-Length` body with this many bytes left (never 0).
    Length(u64),
    /// A chunked body.
    Chunked(ChunkedDecoder),
    /// A body that ends when the connection does.
    Close,
    /// The body is complete (or absent); `End` is due.
    End,
    /// `End` was returned.
    Done,
    /// A rule was broken; this error is returned forever.
    Failed(ErrorKind),
}

/// Decodes one response to a request of a given method.
#[derive(Debug, Clone)]
pub struct ResponseDecoder {
    state: State,
    head_request: bool,
    limits: Limits,
    /// Whether any byte of this response (interim heads included) has been seen.
    started: bool,
    keep_alive: bool,
    keep_alive_timeout: Option<Duration>,
}

impl ResponseDecoder {
    /// A decoder for the response to a `method` request (`HEAD` responses have no body whatever they say).
    pub fn new(method: &Method, limits: &Limits) -> Self {
        ResponseDecoder {
            state: State::Head(HeadScanner::default()),
            head_request: *method == Method::HEAD,
            limits: *limits,
            started: false,
            keep_alive: false,
            keep_alive_timeout: None,
        }
    }

    /// Decode from the front of `buf`, consuming what was decoded. Call again until `Ok(None)` (more bytes
    /// needed, or the response is done). At most one response is consumed: bytes after it stay in `buf`.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Decoded>, ErrorKind> {
        if !buf.is_empty() {
            self.started = true;
        }
        let result = self.step(buf);
        if let Err(e) = &result {
            self.state = State::Failed(e.clone());
        }
        result
    }

    /// Like [`decode`](Self::decode), after the peer closed the connection: ends a close-delimited body with
    /// `End { keep_alive: false }`, and reports `IncompleteHead` / `IncompleteBody` when the stream stopped
    /// anywhere else short of the end.
    pub fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Decoded>, ErrorKind> {
        if let Some(d) = self.decode(buf)? {
            return Ok(Some(d));
        }
        let incomplete = |violation| ErrorKind::InvalidResponse { violation };
        let result = match self.state {
            State::Head(_) => Err(incomplete(Violation::IncompleteHead)),
            State::Length(_) | State::Chunked(_) => Err(incomplete(Violation::IncompleteBody)),
            State::Close => {
                self.state = State::Done;
                Ok(Some(Decoded::End { keep_alive: false }))
            }
            // `decode` already returned `End`, or the failure.
            State::End | State::Done | State::Failed(_) => Ok(None),
        };
        if let Err(e) = &result {
            self.state = State::Failed(e.clone());
        }
        result
    }

    /// `true` once any byte of this response has been seen, an interim 1xx head included.
    pub fn is_started(&self) -> bool {
        self.started
    }

    /// `true` once [`Decoded::End`] was returned.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// Whether the connection may be reused after this response, as far as the head (and framing) tell; known
    /// from the moment the head is decoded. `false` before that.
    pub fn keep_alive(&self) -> bool {
        self.keep_alive
    }

    /// `Keep-Alive: timeout=N` of the final head, if it had one.
    pub fn keep_alive_timeout(&self) -> Option<Duration> {
        self.keep_alive_timeout
    }

    fn step(&mut self, buf: &mut BytesMut) -> Result<Option<Decoded>, ErrorKind> {
        loop {
            match &mut self.state {
                State::Head(scanner) => {
                    let Some(head) = scanner.poll(buf, &self.limits)? else {
                        return Ok(None);
                    };
                    if head.status == StatusCode::SWITCHING_PROTOCOLS {
                        // This client never asks for an upgrade.
                        return Err(ErrorKind::InvalidResponse {
                            violation: Violation::UnexpectedSwitchingProtocols,
                        });
                    }
                    if head.status.is_informational() {
                        // 100 Continue, 103 Early Hints, …: skipped; the final head follows.
                        self.state = State::Head(HeadScanner::default());
                        continue;
                    }
                    let framing = framing(self.head_request, &head)?;
                    self.keep_alive = !framing.must_close
                        && keep_alive::response_allows_reuse(head.version, &head.headers);
                    self.keep_alive_timeout = keep_alive::keep_alive_timeout(&head.headers);
                    self.state = match framing.kind {
                        BodyKind::Empty | BodyKind::Length(0) => State::End,
                        BodyKind::Length(n) => State::Length(n),
                        BodyKind::Chunked => State::Chunked(ChunkedDecoder::new()),
                        BodyKind::CloseDelimited => State::Close,
                    };
                    return Ok(Some(Decoded::Head(head)));
                }
                State::Length(remaining) => {
                    if buf.is_empty() {
                        return Ok(None);
                    }
                    let n = usize::try_from(*remaining).map_or(buf.len(), |r| r.min(buf.len()));
                    *remaining -= n as u64;
                    if *remaining == 0 {
                        self.state = State::End;
                    }
                    return Ok(Some(Decoded::Body(buf.split_to(n).freeze())));
                }
                State::Chunked(chunked) => {
                    return Ok(match chunked.decode(buf, &self.limits)? {
                        None => None,
                        Some(Chunk::Data(data)) => Some(Decoded::Body(data)),
                        Some(Chunk::End) => {
                            self.state = State::Done;
                            Some(Decoded::End {
                                keep_alive: self.keep_alive,
                            })
                        }
                    });
                }
                State::Close => {
                    if buf.is_empty() {
                        return Ok(None);
                    }
                    // `split_to` (not `split`) leaves the spare capacity with the read buffer for the next read.
                    let n = buf.len();
                    return Ok(Some(Decoded::Body(buf.split_to(n).freeze())));
                }
                State::End => {
                    self.state = State::Done;
                    return Ok(Some(Decoded::End {
                        keep_alive: self.keep_alive,
                    }));
                }
                State::Done => return Ok(None),
                State::Failed(e) => return Err(e.clone()),
            }
        }
    }
}
