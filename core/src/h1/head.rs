//! Response heads: find where a head ends, then parse it with `httparse` into a [`ResponseHead`].
//!
//! Bounded buffering: the scanner remembers how far it has looked for the blank line, so bytes arriving one at a
//! time cost O(n) in total, and it refuses a head as soon as the buffer holds `max_head_size` bytes without one.
//! Garbage is refused early: the first bytes must read `HTTP/`, and the status line is checked as soon as it is
//! complete, without waiting for the rest of the head.
//!
//! Tolerance (RFC 9112): up to [`MAX_EMPTY_LINES`] empty lines (CRLF or bare LF) before a status line are skipped
//! (§2.2, as hyper and llhttp do), which also absorbs a stray empty line between pipelined responses; an obs-fold
//! continuation line is replaced with spaces (§5.2), except in `Content-Length` and `Transfer-Encoding`, where it
//! is a framing error (peers disagree on such framing).
//!
//! The head is split off the read buffer and frozen, and header values are slices of it (no copy per value, except
//! a folded one).

use core::mem::MaybeUninit;

use bytes::{Bytes, BytesMut};
use http::header::{HeaderName, HeaderValue, CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{HeaderMap, StatusCode, Version};

use super::Limits;
use crate::error::{ErrorKind, Limit, Violation};
use crate::response::ResponseHead;

/// Header slots kept on the stack; larger `max_headers` use the heap.
const STACK_HEADERS: usize = 128;

/// Empty lines skipped before a status line (RFC 9112 §2.2 lets a client skip "at least one"); one more is
/// [`Violation::MalformedHead`], so a peer cannot keep a connection busy with an endless run of them.
pub(crate) const MAX_EMPTY_LINES: u32 = 8;

fn violation(v: Violation) -> ErrorKind {
    ErrorKind::InvalidResponse { violation: v }
}

/// `true` when `buf` holds nothing but empty lines (CRLF or bare LF, the last possibly a lone CR still waiting for
/// its LF), no more than [`MAX_EMPTY_LINES`] of them: bytes the next head's scanner skips.
pub(crate) fn only_empty_lines(buf: &[u8]) -> bool {
    let mut lines = 0;
    let mut rest = buf;
    loop {
        rest = match rest {
            [] | [b'\r'] => return true,
            [b'\n', tail @ ..] | [b'\r', b'\n', tail @ ..] => tail,
            _ => return false,
        };
        lines += 1;
        if lines > MAX_EMPTY_LINES {
            return false;
        }
    }
}

/// Incremental search for the end of one head.
#[derive(Debug, Clone, Default)]
pub(crate) struct HeadScanner {
    /// Bytes already searched for the blank line (restarts at the last `\n` seen, which may begin it).
    scanned: usize,
    /// A line end has been seen: the status line is whole.
    saw_line_end: bool,
    /// The status line has been checked.
    status_line_checked: bool,
    /// Empty lines skipped before the status line.
    empty_lines: u32,
}

impl HeadScanner {
    /// Try to take one complete head off the front of `buf`. `Ok(None)`: need more bytes.
    pub(crate) fn poll(
        &mut self,
        buf: &mut BytesMut,
        limits: &Limits,
    ) -> Result<Option<ResponseHead>, ErrorKind> {
        const PREFIX: &[u8] = b"HTTP/";
        if !self.skip_empty_lines(buf)? {
            return Ok(None);
        }
        let n = buf.len().min(PREFIX.len());
        if buf[..n] != PREFIX[..n] {
            return Err(violation(Violation::InvalidVersion));
        }
        let end = self.find_end(buf)?;
        if !self.status_line_checked && self.saw_line_end {
            // The status line is whole: reject a bad version or status now, not after 64 KiB. Only the status
            // line, and only within the limit, is checked here, so the error does not depend on how the bytes
            // were split into reads (a bad header is reported once the head is whole, or `TooLarge` first).
            let window = &buf[..buf.len().min(limits.max_head_size)];
            if let Some(lf) = memchr::memchr(b'\n', window) {
                self.status_line_checked = true;
                parse_raw(&buf[..=lf], limits)?;
            }
        }
        let Some(end) = end else {
            if buf.len() >= limits.max_head_size {
                return Err(too_large_head(limits));
            }
            return Ok(None);
        };
        if end > limits.max_head_size {
            return Err(too_large_head(limits));
        }
        *self = HeadScanner::default();
        let raw = buf.split_to(end).freeze();
        build_head(raw, limits).map(Some)
    }

    /// Drop empty lines (CRLF or bare LF) from the front of `buf`, at most [`MAX_EMPTY_LINES`] per head. `false`
    /// when the buffer ends inside one (a lone CR): wait for more. Only the front is looked at, so once the status
    /// line has begun nothing is skipped.
    fn skip_empty_lines(&mut self, buf: &mut BytesMut) -> Result<bool, ErrorKind> {
        loop {
            let len = match (buf.first(), buf.get(1)) {
                (Some(b'\n'), _) => 1,
                (Some(b'\r'), Some(b'\n')) => 2,
                (Some(b'\r'), None) => return Ok(false),
                _ => return Ok(true),
            };
            self.empty_lines += 1;
            if self.empty_lines > MAX_EMPTY_LINES {
                return Err(violation(Violation::MalformedHead));
            }
            let _ = buf.split_to(len);
        }
    }

    /// The length of the head (through its blank line) when the buffer holds all of it.
    fn find_end(&mut self, buf: &[u8]) -> Result<Option<usize>, ErrorKind> {
        let mut from = self.scanned;
        while let Some(i) = memchr::memchr(b'\n', &buf[from..]).map(|i| from + i) {
            self.saw_line_end = true;
            match (buf.get(i + 1), buf.get(i + 2)) {
                (Some(b'\n'), _) => return Ok(Some(i + 2)),
                (Some(b'\r'), Some(b'\n')) => return Ok(Some(i + 3)),
                (None, _) | (Some(b'\r'), None) => {
                    // The blank line may start here; look again when more bytes come.
                    self.scanned = i;
                    return Ok(None);
                }
                _ => from = i + 1,
            }
        }
        self.scanned = buf.len();
        Ok(None)
    }
}

fn too_large_head(limits: &Limits) -> ErrorKind {
    ErrorKind::TooLarge {
        limit: Limit::HeadSize,
        max: limits.max_head_size as u64,
    }
}

fn map_httparse(e: httparse::Error, limits: &Limits) -> ErrorKind {
    match e {
        httparse::Error::HeaderName | httparse::Error::HeaderValue => {
            violation(Violation::InvalidHeader)
        }
        httparse::Error::Status => violation(Violation::InvalidStatus),
        httparse::Error::Version => violation(Violation::InvalidVersion),
        httparse::Error::TooManyHeaders => ErrorKind::TooLarge {
            limit: Limit::HeaderCount,
            max: limits.max_headers as u64,
        },
        httparse::Error::NewLine | httparse::Error::Token => violation(Violation::MalformedHead),
    }
}

/// Run `httparse` on `buf` (complete or not) and hand the result to `f`. httparse refuses spaces before the colon
/// and invalid bytes in names and values; obs-fold is let through (the value keeps its line breaks) for
/// [`header_value`] to judge.
fn with_parsed<R>(
    buf: &[u8],
    limits: &Limits,
    f: impl FnOnce(httparse::Status<usize>, &httparse::Response<'_, '_>) -> Result<R, ErrorKind>,
) -> Result<R, ErrorKind> {
    // Uninitialised slots: nothing to fill per parse (a 128-slot array of empty headers costs a 4 KiB memset).
    let mut stack = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; STACK_HEADERS];
    let mut heap = Vec::new();
    let slots: &mut [MaybeUninit<httparse::Header<'_>>] = if limits.max_headers <= STACK_HEADERS {
        &mut stack[..limits.max_headers]
    } else {
        heap.resize_with(limits.max_headers, MaybeUninit::uninit);
        &mut heap
    };
    let mut resp = httparse::Response::new(&mut []);
    let status = httparse::ParserConfig::default()
        .allow_obsolete_multiline_headers_in_responses(true)
        .parse_response_with_uninit_headers(&mut resp, buf, slots)
        .map_err(|e| map_httparse(e, limits))?;
    f(status, &resp)
}

/// Validate a (possibly partial) head.
fn parse_raw(buf: &[u8], limits: &Limits) -> Result<(), ErrorKind> {
    with_parsed(buf, limits, |_, _| Ok(()))
}

/// Parse a complete head into a [`ResponseHead`] whose header values share `raw`'s memory.
fn build_head(raw: Bytes, limits: &Limits) -> Result<ResponseHead, ErrorKind> {
    with_parsed(&raw, limits, |status, resp| {
        // The scanner found the blank line; httparse must agree on where the head ends (it would not if, say,
        // the head began with empty lines).
        match status {
            httparse::Status::Complete(len) if len == raw.len() => {}
            _ => return Err(violation(Violation::MalformedHead)),
        }
        let version = match resp.version {
            Some(0) => Version::HTTP_10,
            Some(1) => Version::HTTP_11,
            _ => return Err(violation(Violation::InvalidVersion)),
        };
        let status = resp
            .code
            .and_then(|c| StatusCode::from_u16(c).ok())
            .ok_or(violation(Violation::InvalidStatus))?;
        let mut headers = HeaderMap::with_capacity(resp.headers.len());
        for h in resp.headers.iter() {
            let name = HeaderName::from_bytes(h.name.as_bytes())
                .map_err(|_| violation(Violation::InvalidHeader))?;
            // The field line from the end of its name to the end of its value: httparse drops a fold that comes
            // before the first byte of the value, so the value alone cannot tell.
            let offset = |s: &[u8]| s.as_ptr() as usize - raw.as_ptr() as usize;
            let line =
                &raw[offset(h.name.as_bytes()) + h.name.len()..offset(h.value) + h.value.len()];
            let folded = memchr::memchr(b'\n', line).is_some();
            headers.append(name.clone(), header_value(&raw, &name, h.value, folded)?);
        }
        Ok(ResponseHead {
            status,
            version,
            headers,
        })
    })
}

/// A header value as a slice of `raw`; an obs-fold (a line break followed by SP / HTAB, which httparse leaves in
/// the value) is replaced with spaces (RFC 9112 §5.2), except in the framing headers, where a folded value is a
/// framing error: `Content-Length` → [`Violation::InvalidContentLength`], `Transfer-Encoding` →
/// [`Violation::InvalidTransferEncoding`].
fn header_value(
    raw: &Bytes,
    name: &HeaderName,
    value: &[u8],
    folded: bool,
) -> Result<HeaderValue, ErrorKind> {
    let bad = || violation(Violation::InvalidHeader);
    if !folded {
        return HeaderValue::from_maybe_shared(raw.slice_ref(value)).map_err(|_| bad());
    }
    if name == CONTENT_LENGTH {
        return Err(violation(Violation::InvalidContentLength));
    }
    if name == TRANSFER_ENCODING {
        return Err(violation(Violation::InvalidTransferEncoding));
    }
    let unfolded: Vec<u8> = value
        .iter()
        .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b })
        .collect();
    HeaderValue::from_bytes(super::list::trim_ows(&unfolded)).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poll_all(input: &[u8], limits: &Limits) -> Result<Option<ResponseHead>, ErrorKind> {
        let mut buf = BytesMut::from(input);
        HeadScanner::default().poll(&mut buf, limits)
    }

    fn err(v: Violation) -> Result<Option<ResponseHead>, ErrorKind> {
        Err(violation(v))
    }

    #[test]
    fn h1_head_parses_status_version_and_headers_in_order() {
        let mut buf = BytesMut::from(
            &b"HTTP/1.0 404 Not Found\r\nX-A: 1\r\nContent-Type:  text/plain \r\nx-a: 2\r\n\r\nbody"[..],
        );
        let head = HeadScanner::default()
            .poll(&mut buf, &Limits::default())
            .unwrap()
            .unwrap();
        assert_eq!(head.status, StatusCode::NOT_FOUND);
        assert_eq!(head.version, Version::HTTP_10);
        assert_eq!(head.header("content-type"), Some("text/plain"));
        let xa: Vec<_> = head.headers.get_all("x-a").iter().collect();
        assert_eq!(xa, vec!["1", "2"]);
        assert_eq!(&buf[..], b"body");
    }

    #[test]
    fn h1_head_accepts_bare_lf_and_empty_reason() {
        let head = poll_all(b"HTTP/1.1 200\nA: b\n\n", &Limits::default())
            .unwrap()
            .unwrap();
        assert_eq!(head.status, StatusCode::OK);
        assert_eq!(head.header("a"), Some("b"));
    }

    #[test]
    fn h1_head_byte_by_byte_scan_finds_the_end_exactly() {
        let input = b"HTTP/1.1 200 OK\r\nA: b\r\n\r\nrest";
        let mut scanner = HeadScanner::default();
        let mut buf = BytesMut::new();
        let mut got = None;
        for (i, b) in input.iter().enumerate() {
            buf.extend_from_slice(&[*b]);
            if let Some(h) = scanner.poll(&mut buf, &Limits::default()).unwrap() {
                assert_eq!(i, input.len() - 5, "head completes on its last byte");
                got = Some(h);
                break;
            }
        }
        assert_eq!(got.unwrap().header("a"), Some("b"));
    }

    /// Item 3 of issue 20 (RFC 9112 §5.2): a user agent replaces obs-fold with spaces.
    #[test]
    fn h1_head_obs_fold_in_a_plain_header_is_replaced_with_spaces() {
        let l = Limits::default();
        let head = poll_all(
            b"HTTP/1.1 200 OK\r\nX: a\r\n b\r\nY: c\n\t d\r\n \te\r\nZ: z\r\n\r\n",
            &l,
        )
        .unwrap()
        .unwrap();
        assert_eq!(head.header("x"), Some("a   b"));
        assert_eq!(head.header("y"), Some("c \t d   \te"));
        assert_eq!(head.header("z"), Some("z"));
        // A fold that is all the value has: trimmed to the continuation.
        let head = poll_all(b"HTTP/1.1 200 OK\r\nX:\r\n b\r\n\r\n", &l)
            .unwrap()
            .unwrap();
        assert_eq!(head.header("x"), Some("b"));
        // A bare CR is still no line break.
        assert!(poll_all(b"HTTP/1.1 200 OK\r\nX: a\rb: c\r\n\r\n", &l).is_err());
    }

    /// Items 3 and 4 of issue 20: a folded `Content-Length` / `Transfer-Encoding` is a framing error (never a
    /// header error, never unfolded): peers disagree on where such a response ends.
    #[test]
    fn h1_head_folded_framing_header_is_a_framing_error() {
        let l = Limits::default();
        for (input, v) in [
            (
                &b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n 3\r\n\r\n"[..],
                Violation::InvalidContentLength,
            ),
            (
                b"HTTP/1.1 200 OK\r\ncontent-length:\r\n\t2\r\n\r\n",
                Violation::InvalidContentLength,
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip,\r\n chunked\r\n\r\n",
                Violation::InvalidTransferEncoding,
            ),
            (
                b"HTTP/1.1 200 OK\nTransfer-Encoding:\n chunked\n\n",
                Violation::InvalidTransferEncoding,
            ),
        ] {
            assert_eq!(
                poll_all(input, &l),
                err(v),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    /// Item 2 of issue 20 (RFC 9112 §2.2): up to `MAX_EMPTY_LINES` empty lines (CRLF or bare LF) before the
    /// status line are skipped, however the bytes are split; one more is refused.
    #[test]
    fn h1_head_skips_bounded_empty_lines_before_the_status_line() {
        let l = Limits::default();
        let response = b"HTTP/1.1 204 No Content\r\n\r\nrest";
        for n in 0..=MAX_EMPTY_LINES as usize {
            for crlf in [true, false] {
                let mut input = Vec::new();
                for i in 0..n {
                    input.extend_from_slice(if crlf || i % 2 == 0 { b"\r\n" } else { b"\n" });
                }
                input.extend_from_slice(response);
                // One read.
                let mut buf = BytesMut::from(&input[..]);
                let head = HeadScanner::default().poll(&mut buf, &l).unwrap().unwrap();
                assert_eq!((head.status.as_u16(), &buf[..]), (204, &b"rest"[..]));
                // Byte by byte.
                let mut scanner = HeadScanner::default();
                let mut buf = BytesMut::new();
                let mut got = None;
                for b in &input {
                    buf.extend_from_slice(&[*b]);
                    if let Some(h) = scanner.poll(&mut buf, &l).unwrap() {
                        got = Some(h);
                        break;
                    }
                }
                assert_eq!(got.map(|h| h.status.as_u16()), Some(204), "{n} lines");
            }
        }
        let too_many = [
            b"\r\n".repeat(MAX_EMPTY_LINES as usize + 1),
            response.to_vec(),
        ]
        .concat();
        assert_eq!(poll_all(&too_many, &l), err(Violation::MalformedHead));
        let lf_too_many = [
            b"\n".repeat(MAX_EMPTY_LINES as usize + 1),
            response.to_vec(),
        ]
        .concat();
        assert_eq!(poll_all(&lf_too_many, &l), err(Violation::MalformedHead));
        // A lone CR waits for its LF; a CR followed by anything else is garbage.
        assert_eq!(poll_all(b"\r\n\r", &l), Ok(None));
        assert_eq!(
            poll_all(b"\rHTTP/1.1 200 OK\r\n\r\n", &l),
            err(Violation::InvalidVersion)
        );
        assert_eq!(
            poll_all(b"\r\n \r\nHTTP/1.1 200 OK\r\n\r\n", &l),
            err(Violation::InvalidVersion)
        );
        assert!(only_empty_lines(b"\r\n\n\r"));
        assert!(!only_empty_lines(b"\r\r"));
        assert!(!only_empty_lines(
            &b"\n".repeat(MAX_EMPTY_LINES as usize + 1)
        ));
    }

    #[test]
    fn h1_head_refuses_garbage_early() {
        let l = Limits::default();
        assert_eq!(
            poll_all(b"SSH-2.0-Open", &l),
            err(Violation::InvalidVersion)
        );
        assert_eq!(
            poll_all(b"HTTP/2 200\r\n", &l),
            err(Violation::InvalidVersion)
        );
        assert_eq!(
            poll_all(b"HTTP/1.1 2000 OK\r\n", &l),
            err(Violation::InvalidStatus)
        );
        assert_eq!(
            poll_all(b"HTTP/1.1 099 Low\r\n\r\n", &l),
            err(Violation::InvalidStatus)
        );
        assert_eq!(
            poll_all(b"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", &l),
            err(Violation::InvalidHeader)
        );
        assert_eq!(
            poll_all(b"HTTP/1.1 200 OK\r\nX: a\x01b\r\n\r\n", &l),
            err(Violation::InvalidHeader)
        );
        // Status line alone, no blank line yet: already checked.
        assert_eq!(
            poll_all(b"HTTP/1.1 2x0 OK\r\nA: b", &l),
            err(Violation::InvalidStatus)
        );
        assert_eq!(poll_all(b"HTTP/1.1 200 OK\r\nA: b", &l), Ok(None));
    }

    #[test]
    fn h1_head_size_limit_counts_the_whole_head() {
        let limits = Limits {
            max_head_size: 32,
            ..Limits::default()
        };
        let too_large = Err(ErrorKind::TooLarge {
            limit: Limit::HeadSize,
            max: 32,
        });
        // Exactly 32 bytes including the blank line: fine.
        let ok = b"HTTP/1.1 200 OK\r\nA: 12345678\r\n\r\n";
        assert_eq!(ok.len(), 32);
        assert!(poll_all(ok, &limits).unwrap().is_some());
        assert_eq!(
            poll_all(b"HTTP/1.1 200 OK\r\nA: 123456789\r\n\r\n", &limits),
            too_large
        );
        // Incomplete and already at the limit: refused without waiting for more.
        assert_eq!(
            poll_all(
                &[b"HTTP/1.1 200 OK\r\nA: ".as_slice(), &[b'x'; 12]].concat(),
                &limits
            ),
            too_large
        );
        assert_eq!(
            poll_all(
                &[b"HTTP/1.1 200 OK\r\nA: ".as_slice(), &[b'x'; 11]].concat(),
                &limits
            ),
            Ok(None)
        );
    }

    /// Regression (fuzz, h1_stream): the early status-line check parsed the whole partial head, so a bad header
    /// in a head over the limit gave `InvalidHeader` when the bytes came in pieces and `TooLarge` in one read.
    #[test]
    fn h1_head_error_does_not_depend_on_the_split() {
        let limits = Limits {
            max_head_size: 64,
            ..Limits::default()
        };
        let cases: [&[u8]; 3] = [
            b"HTTP/1.1 200\r\nBad Name: x\r\nX-Long: vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv\r\n\r\n",
            b"HTTP/1.1 2x0 OK\r\nX-Long: vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nA: 1\r\nB: \x01\r\n\r\n",
        ];
        for input in cases {
            let whole = poll_all(input, &limits);
            assert!(whole.is_err(), "{whole:?}");
            let mut scanner = HeadScanner::default();
            let mut buf = BytesMut::new();
            let mut bytewise = Ok(None);
            for b in input {
                buf.extend_from_slice(&[*b]);
                bytewise = scanner.poll(&mut buf, &limits);
                if !matches!(bytewise, Ok(None)) {
                    break;
                }
            }
            assert_eq!(bytewise, whole, "{:?}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn h1_head_header_count_limit() {
        let limits = Limits {
            max_headers: 2,
            ..Limits::default()
        };
        assert!(
            poll_all(b"HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\n\r\n", &limits)
                .unwrap()
                .is_some()
        );
        assert_eq!(
            poll_all(b"HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", &limits),
            Err(ErrorKind::TooLarge {
                limit: Limit::HeaderCount,
                max: 2
            })
        );
        let many = Limits {
            max_headers: 200,
            ..Limits::default()
        };
        let mut input = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..150 {
            input.extend_from_slice(format!("H{i}: v\r\n").as_bytes());
        }
        input.extend_from_slice(b"\r\n");
        assert_eq!(poll_all(&input, &many).unwrap().unwrap().headers.len(), 150);
    }
}
