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

    /// `true` while reading a body that ends when the connection does.
    pub fn reads_until_close(&self) -> bool {
        matches!(self.state, State::Close)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Limit;

    /// Everything one decoder yields for `input` (then EOF when `eof`), bodies concatenated.
    #[derive(Debug, PartialEq, Eq)]
    struct Out {
        status: Option<u16>,
        body: Vec<u8>,
        end: Option<bool>,
        error: Option<ErrorKind>,
        rest: Vec<u8>,
    }

    fn run(method: Method, input: &[u8], eof: bool) -> Out {
        let mut dec = ResponseDecoder::new(&method, &Limits::default());
        let mut buf = BytesMut::from(input);
        let mut out = Out {
            status: None,
            body: vec![],
            end: None,
            error: None,
            rest: vec![],
        };
        loop {
            let r = if eof {
                dec.decode_eof(&mut buf)
            } else {
                dec.decode(&mut buf)
            };
            match r {
                Ok(Some(Decoded::Head(h))) => out.status = Some(h.status.as_u16()),
                Ok(Some(Decoded::Body(b))) => out.body.extend_from_slice(&b),
                Ok(Some(Decoded::End { keep_alive })) => out.end = Some(keep_alive),
                Ok(None) => break,
                Err(e) => {
                    out.error = Some(e);
                    break;
                }
            }
        }
        out.rest = buf.to_vec();
        out
    }

    fn get(input: &[u8]) -> Out {
        run(Method::GET, input, false)
    }

    fn violation(v: Violation) -> Option<ErrorKind> {
        Some(ErrorKind::InvalidResponse { violation: v })
    }

    #[test]
    fn h1_decode_content_length_body_keep_alive_and_leftover() {
        let o = get(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1");
        assert_eq!(
            o,
            Out {
                status: Some(200),
                body: b"hello".to_vec(),
                end: Some(true),
                error: None,
                rest: b"HTTP/1.1".to_vec()
            }
        );
    }

    #[test]
    fn h1_decode_chunked_body() {
        let o = get(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nT: 1\r\n\r\n",
        );
        assert_eq!((o.body.as_slice(), o.end), (&b"abc"[..], Some(true)));
    }

    #[test]
    fn h1_decode_skips_interim_1xx() {
        let o = get(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n\
              HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok",
        );
        assert_eq!(
            (o.status, o.body.as_slice(), o.end),
            (Some(201), &b"ok"[..], Some(true))
        );
    }

    #[test]
    fn h1_decode_unsolicited_101_is_an_error_and_sticky() {
        let mut dec = ResponseDecoder::new(&Method::GET, &Limits::default());
        let mut buf =
            BytesMut::from(&b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"[..]);
        let e = Err(ErrorKind::InvalidResponse {
            violation: Violation::UnexpectedSwitchingProtocols,
        });
        assert_eq!(dec.decode(&mut buf), e);
        assert_eq!(dec.decode(&mut buf), e);
        assert_eq!(dec.decode_eof(&mut buf), e);
    }

    #[test]
    fn h1_decode_no_body_for_head_204_304() {
        let o = run(
            Method::HEAD,
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nHTTP",
            false,
        );
        assert_eq!(
            (o.body.len(), o.end, o.rest.as_slice()),
            (0, Some(true), &b"HTTP"[..])
        );
        let o = run(
            Method::HEAD,
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            false,
        );
        assert_eq!((o.body.len(), o.end), (0, Some(true)));
        for status in ["204 No Content", "304 Not Modified"] {
            let o = get(format!("HTTP/1.1 {status}\r\nContent-Length: 10\r\n\r\nX").as_bytes());
            assert_eq!(
                (o.body.len(), o.end, o.rest.as_slice()),
                (0, Some(true), &b"X"[..])
            );
        }
    }

    #[test]
    fn h1_decode_close_delimited_ends_at_eof_without_keep_alive() {
        let input = b"HTTP/1.1 200 OK\r\n\r\nall of it";
        let o = get(input);
        assert_eq!((o.body.as_slice(), o.end), (&b"all of it"[..], None));
        let o = run(Method::GET, input, true);
        assert_eq!(
            (o.body.as_slice(), o.end, o.error),
            (&b"all of it"[..], Some(false), None)
        );
        let o = run(
            Method::GET,
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\nzz",
            true,
        );
        assert_eq!((o.body.as_slice(), o.end), (&b"zz"[..], Some(false)));
    }

    #[test]
    fn h1_decode_eof_short_of_the_end_is_incomplete() {
        let head = violation(Violation::IncompleteHead);
        let body = violation(Violation::IncompleteBody);
        assert_eq!(run(Method::GET, b"", true).error, head);
        assert_eq!(
            run(Method::GET, b"HTTP/1.1 200 OK\r\nA: b", true).error,
            head
        );
        assert_eq!(
            run(Method::GET, b"HTTP/1.1 100 Continue\r\n\r\n", true).error,
            head
        );
        let o = run(
            Method::GET,
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel",
            true,
        );
        assert_eq!((o.body.as_slice(), o.error), (&b"hel"[..], body.clone()));
        let o = run(
            Method::GET,
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n",
            true,
        );
        assert_eq!((o.body.as_slice(), o.error), (&b"abc"[..], body));
    }

    #[test]
    fn h1_decode_framing_errors_surface() {
        assert_eq!(
            get(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n")
                .error,
            violation(Violation::ContentLengthWithTransferEncoding)
        );
        assert_eq!(
            get(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: br\r\n\r\n").error,
            violation(Violation::UnsupportedTransferEncoding)
        );
        assert_eq!(
            get(b"HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n").error,
            violation(Violation::InvalidContentLength)
        );
        assert_eq!(
            get(b"HTTP/1.1 200 OK\r\nX: a\x01b\r\nContent-Length: 0\r\n\r\n").error,
            violation(Violation::InvalidHeader)
        );
        // Issue 20 item 4: folded framing headers are framing errors.
        assert_eq!(
            get(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n 1\r\n\r\nx").error,
            violation(Violation::InvalidContentLength)
        );
        assert_eq!(
            get(b"HTTP/1.1 200 OK\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n").error,
            violation(Violation::InvalidTransferEncoding)
        );
    }

    /// Issue 20 item 1: a `Transfer-Encoding` list with an empty element is a framing error, never read as
    /// chunked (and the error is sticky: the connection is never reused).
    #[test]
    fn h1_decode_transfer_encoding_with_an_empty_element_is_a_framing_error() {
        for te in ["chunked,", ", chunked", "chunked, ,", "gzip,,chunked", ""] {
            let input = format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: {te}\r\n\r\n0\r\n\r\n");
            let o = get(input.as_bytes());
            assert_eq!(
                (o.status, o.end, o.error),
                (None, None, violation(Violation::InvalidTransferEncoding)),
                "{te:?}"
            );
        }
    }

    /// Issue 20 item 3: an obs-fold in a plain header is unfolded, and the response decodes normally.
    #[test]
    fn h1_decode_obs_fold_in_a_plain_header_is_unfolded() {
        let mut dec = ResponseDecoder::new(&Method::GET, &Limits::default());
        let mut buf =
            BytesMut::from(&b"HTTP/1.1 200 OK\r\nX: a\r\n\tb\r\nContent-Length: 2\r\n\r\nok"[..]);
        match dec.decode(&mut buf) {
            Ok(Some(Decoded::Head(h))) => assert_eq!(h.header("x"), Some("a  \tb")),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            dec.decode(&mut buf),
            Ok(Some(Decoded::Body(Bytes::from_static(b"ok"))))
        );
        assert_eq!(
            dec.decode(&mut buf),
            Ok(Some(Decoded::End { keep_alive: true }))
        );
    }

    #[test]
    fn h1_decode_keep_alive_decision() {
        let ka = |input: &[u8]| run(Method::GET, input, true).end;
        assert_eq!(
            ka(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
            Some(true)
        );
        assert_eq!(
            ka(b"HTTP/1.1 200 OK\r\nConnection: foo, close\r\nContent-Length: 0\r\n\r\n"),
            Some(false)
        );
        assert_eq!(
            ka(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"),
            Some(false)
        );
        assert_eq!(
            ka(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n"),
            Some(true)
        );
        assert_eq!(ka(b"HTTP/1.1 200 OK\r\n\r\n"), Some(false));
        assert_eq!(
            ka(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
            Some(false)
        );
        let mut dec = ResponseDecoder::new(&Method::GET, &Limits::default());
        let mut buf = BytesMut::from(
            &b"HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5\r\nContent-Length: 0\r\n\r\n"[..],
        );
        assert!(!dec.keep_alive());
        assert!(matches!(dec.decode(&mut buf), Ok(Some(Decoded::Head(_)))));
        assert!(dec.keep_alive());
        assert_eq!(dec.keep_alive_timeout(), Some(Duration::from_secs(5)));
    }

    #[test]
    fn h1_decode_body_is_delivered_at_once_and_without_copying() {
        let mut dec = ResponseDecoder::new(&Method::GET, &Limits::default());
        let head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";
        let mut buf = BytesMut::with_capacity(4096);
        buf.extend_from_slice(head);
        buf.extend_from_slice(b"40\r\ndata: 1\n\n");
        let data_at = buf[head.len() + 4..].as_ptr();
        assert!(matches!(dec.decode(&mut buf), Ok(Some(Decoded::Head(_)))));
        // 10 of 64 announced bytes: handed out now, not when the chunk is complete.
        match dec.decode(&mut buf) {
            Ok(Some(Decoded::Body(b))) => {
                assert_eq!(&b[..], b"data: 1\n\n");
                assert_eq!(b.as_ptr(), data_at, "body is a slice of the read buffer");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(dec.decode(&mut buf), Ok(None));
        assert!(!dec.is_done() && dec.is_started());
    }

    #[test]
    fn h1_decode_limits_reach_the_caller() {
        let mut dec = ResponseDecoder::new(
            &Method::GET,
            &Limits {
                max_head_size: 20,
                ..Limits::default()
            },
        );
        let mut buf = BytesMut::from(&b"HTTP/1.1 200 OK\r\nX-Long: aaaa"[..]);
        assert_eq!(
            dec.decode(&mut buf),
            Err(ErrorKind::TooLarge {
                limit: Limit::HeadSize,
                max: 20
            })
        );
    }
}
