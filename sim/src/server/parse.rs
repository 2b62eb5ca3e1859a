//! Incremental HTTP/1.1 request parser for the scripted server.
//!
//! Bytes arrive in arbitrary splits (down to one byte), so the parser keeps a buffer and yields each complete
//! request as soon as its head and body are in. Bodies are framed by `Content-Length` or `chunked`; anything
//! else (or a malformed head) is a typed [`ParseError`] and the server answers 400 and closes, as a real one would.

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, Method};

/// Largest request head the server accepts.
const MAX_HEAD: usize = 64 * 1024;
/// Most header fields the server accepts.
const MAX_HEADERS: usize = 64;
/// Largest request body the server accepts.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// Why a request could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// The head is not valid HTTP/1.x.
    MalformedHead,
    /// The head is larger than 64 KiB or has more than 64 fields.
    HeadTooLarge,
    /// `Content-Length` is not a number, or both it and `Transfer-Encoding` were sent.
    BadFraming,
    /// A chunk-size line or chunk terminator is malformed.
    BadChunk,
    /// The body is larger than 16 MiB.
    BodyTooLarge,
}

/// One parsed request, before the server adds connection facts to it.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedRequest {
    /// The method.
    pub method: Method,
    /// The request target as sent (path and query).
    pub target: String,
    /// `true` for HTTP/1.1, `false` for HTTP/1.0.
    pub http11: bool,
    /// The header fields.
    pub headers: HeaderMap,
    /// The de-chunked body.
    pub body: Bytes,
}

impl ParsedRequest {
    /// `true` when the client asked to close the connection after this request.
    pub fn wants_close(&self) -> bool {
        let conn = self
            .headers
            .get("connection")
            .and_then(|v| v.to_str().ok())
            .map(|s| s.to_ascii_lowercase());
        match conn {
            Some(c) if c.split(',').any(|t| t.trim() == "close") => true,
            Some(c) if c.split(',').any(|t| t.trim() == "keep-alive") => false,
            _ => !self.http11,
        }
    }
}

#[derive(Debug)]
enum State {
    Head,
    Fixed {
        req: ParsedRequest,
        remaining: usize,
    },
    ChunkSize {
        req: ParsedRequest,
        body: BytesMut,
    },
    ChunkData {
        req: ParsedRequest,
        body: BytesMut,
        remaining: usize,
    },
    ChunkCrlf {
        req: ParsedRequest,
        body: BytesMut,
    },
    Trailers {
        req: ParsedRequest,
        body: BytesMut,
    },
    Failed(ParseError),
}

/// Parses a byte stream into requests, in order.
#[derive(Debug)]
pub struct RequestParser {
    buf: BytesMut,
    state: State,
}

impl Default for RequestParser {
    fn default() -> Self {
        RequestParser {
            buf: BytesMut::new(),
            state: State::Head,
        }
    }
}

impl RequestParser {
    /// A parser expecting the first request head.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add bytes received from the client.
    pub fn feed(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// `true` when buffered bytes belong to a request that is not complete yet.
    pub fn is_mid_request(&self) -> bool {
        !matches!(self.state, State::Head) || !self.buf.is_empty()
    }

    /// The next complete request, `Ok(None)` when more bytes are needed. After an error every call repeats it.
    pub fn next_request(&mut self) -> Result<Option<ParsedRequest>, ParseError> {
        loop {
            let state = core::mem::replace(&mut self.state, State::Head);
            match self.step(state) {
                Ok(Step::Continue(next)) => self.state = next,
                Ok(Step::NeedMore(same)) => {
                    self.state = same;
                    return Ok(None);
                }
                Ok(Step::Done(req)) => return Ok(Some(req)),
                Err(e) => {
                    self.state = State::Failed(e);
                    return Err(e);
                }
            }
        }
    }

    fn step(&mut self, state: State) -> Result<Step, ParseError> {
        match state {
            State::Failed(e) => Err(e),
            State::Head => self.parse_head(),
            State::Fixed { mut req, remaining } => {
                if self.buf.len() < remaining {
                    return Ok(Step::NeedMore(State::Fixed { req, remaining }));
                }
                req.body = self.buf.split_to(remaining).freeze();
                Ok(Step::Done(req))
            }
            State::ChunkSize { req, body } => {
                let Some(line_end) = find_crlf(&self.buf) else {
                    if self.buf.len() > 4096 {
                        return Err(ParseError::BadChunk);
                    }
                    return Ok(Step::NeedMore(State::ChunkSize { req, body }));
                };
                let line = self.buf.split_to(line_end + 2);
                let size = parse_chunk_size(&line[..line_end])?;
                if body.len() + size > MAX_BODY {
                    return Err(ParseError::BodyTooLarge);
                }
                Ok(Step::Continue(if size == 0 {
                    State::Trailers { req, body }
                } else {
                    State::ChunkData {
                        req,
                        body,
                        remaining: size,
                    }
                }))
            }
            State::ChunkData {
                req,
                mut body,
                remaining,
            } => {
                let n = remaining.min(self.buf.len());
                body.extend_from_slice(&self.buf[..n]);
                self.buf.advance(n);
                if n < remaining {
                    return Ok(Step::NeedMore(State::ChunkData {
                        req,
                        body,
                        remaining: remaining - n,
                    }));
                }
                Ok(Step::Continue(State::ChunkCrlf { req, body }))
            }
            State::ChunkCrlf { req, body } => {
                if self.buf.len() < 2 {
                    return Ok(Step::NeedMore(State::ChunkCrlf { req, body }));
                }
                if &self.buf[..2] != b"\r\n" {
                    return Err(ParseError::BadChunk);
                }
                self.buf.advance(2);
                Ok(Step::Continue(State::ChunkSize { req, body }))
            }
            State::Trailers { mut req, body } => {
                // Trailer fields are read and ignored; an empty line ends the message.
                let Some(line_end) = find_crlf(&self.buf) else {
                    if self.buf.len() > 16 * 1024 {
                        return Err(ParseError::BadChunk);
                    }
                    return Ok(Step::NeedMore(State::Trailers { req, body }));
                };
                self.buf.advance(line_end + 2);
                if line_end == 0 {
                    req.body = body.freeze();
                    return Ok(Step::Done(req));
                }
                Ok(Step::Continue(State::Trailers { req, body }))
            }
        }
    }

    fn parse_head(&mut self) -> Result<Step, ParseError> {
        let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Request::new(&mut fields);
        let len = match parsed.parse(&self.buf) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => {
                if self.buf.len() > MAX_HEAD {
                    return Err(ParseError::HeadTooLarge);
                }
                return Ok(Step::NeedMore(State::Head));
            }
            Err(httparse::Error::TooManyHeaders) => return Err(ParseError::HeadTooLarge),
            Err(_) => return Err(ParseError::MalformedHead),
        };
        if len > MAX_HEAD {
            return Err(ParseError::HeadTooLarge);
        }
        let method = Method::from_bytes(parsed.method.unwrap_or("").as_bytes())
            .map_err(|_| ParseError::MalformedHead)?;
        let target = parsed.path.unwrap_or("").to_string();
        let http11 = parsed.version == Some(1);
        let mut headers = HeaderMap::with_capacity(parsed.headers.len());
        for h in parsed.headers.iter() {
            let name =
                HeaderName::from_bytes(h.name.as_bytes()).map_err(|_| ParseError::MalformedHead)?;
            let value = HeaderValue::from_bytes(h.value).map_err(|_| ParseError::MalformedHead)?;
            headers.append(name, value);
        }
        self.buf.advance(len);
        let req = ParsedRequest {
            method,
            target,
            http11,
            headers,
            body: Bytes::new(),
        };
        let chunked = req.headers.get_all("transfer-encoding").iter().any(|v| {
            v.to_str()
                .is_ok_and(|s| s.to_ascii_lowercase().contains("chunked"))
        });
        let lengths: Vec<&HeaderValue> = req.headers.get_all("content-length").iter().collect();
        if chunked {
            if !lengths.is_empty() {
                return Err(ParseError::BadFraming);
            }
            return Ok(Step::Continue(State::ChunkSize {
                req,
                body: BytesMut::new(),
            }));
        }
        let mut length: Option<usize> = None;
        for v in lengths {
            let s = v.to_str().map_err(|_| ParseError::BadFraming)?;
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ParseError::BadFraming);
            }
            let n: usize = s.parse().map_err(|_| ParseError::BadFraming)?;
            if length.is_some_and(|l| l != n) {
                return Err(ParseError::BadFraming);
            }
            length = Some(n);
        }
        match length {
            None | Some(0) => Ok(Step::Done(req)),
            Some(n) if n > MAX_BODY => Err(ParseError::BodyTooLarge),
            Some(n) => Ok(Step::Continue(State::Fixed { req, remaining: n })),
        }
    }
}

enum Step {
    Continue(State),
    NeedMore(State),
    Done(ParsedRequest),
}

fn find_crlf(buf: &[u8]) -> Option<usize> {
    memchr::memmem::find(buf, b"\r\n")
}

fn parse_chunk_size(line: &[u8]) -> Result<usize, ParseError> {
    // Extensions (`;name=value`) are allowed and ignored.
    let end = memchr::memchr(b';', line).unwrap_or(line.len());
    let hex = line[..end].trim_ascii();
    if hex.is_empty() || hex.len() > 8 {
        return Err(ParseError::BadChunk);
    }
    let s = core::str::from_utf8(hex).map_err(|_| ParseError::BadChunk)?;
    usize::from_str_radix(s, 16).map_err(|_| ParseError::BadChunk)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[u8], split: usize) -> Result<Vec<ParsedRequest>, ParseError> {
        let mut p = RequestParser::new();
        let mut out = Vec::new();
        for piece in input.chunks(split.max(1)) {
            p.feed(piece);
            while let Some(r) = p.next_request()? {
                out.push(r);
            }
        }
        Ok(out)
    }

    const PIPELINE: &[u8] = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n\
        POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello\
        PUT /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n";

    #[test]
    fn sim_parse_pipelined_requests_in_any_split() {
        for split in 1..PIPELINE.len() + 1 {
            let reqs = all(PIPELINE, split).unwrap();
            assert_eq!(reqs.len(), 3, "split {split}");
            assert_eq!(reqs[0].target, "/a");
            assert_eq!(reqs[1].method, Method::POST);
            assert_eq!(&reqs[1].body[..], b"hello");
            assert_eq!(&reqs[2].body[..], b"abcde");
            assert!(!reqs[2].wants_close());
        }
    }

    #[test]
    fn sim_parse_rejects_bad_framing() {
        let bad = b"POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(all(bad, 100).unwrap_err(), ParseError::BadFraming);
        let bad = b"POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\n";
        assert_eq!(all(bad, 100).unwrap_err(), ParseError::BadFraming);
        let bad = b"PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
        assert_eq!(all(bad, 100).unwrap_err(), ParseError::BadChunk);
        assert_eq!(
            all(b"\x01\x02 nonsense\r\n\r\n", 3).unwrap_err(),
            ParseError::MalformedHead
        );
        let ten = b"GET / HTTP/1.0\r\n\r\n";
        assert!(all(ten, 4).unwrap()[0].wants_close());
    }

    #[test]
    fn sim_parse_any_bytes_never_panic() {
        fn prop(data: Vec<u8>, split: u8) -> bool {
            let _ = all(&data, usize::from(split));
            true
        }
        quickcheck::quickcheck(prop as fn(Vec<u8>, u8) -> bool);
    }
}
