//! The chunked transfer coding (RFC 9112 §7.1), decoded incrementally.
//!
//! ```text
//!            ┌──────────────────────────────────────────────┐
//!            ▼                                              │
//!   SizeLine ──size>0──▶ Data(n) ──n bytes──▶ DataCrlf ──CRLF─┘
//!      │
//!      └──size=0──▶ Trailers ──empty line──▶ Done
//! ```
//!
//! Strict framing: every line ends in CRLF (a bare LF is an error), the size has 1 to 16 hex digits, extensions
//! must follow the grammar (they are then ignored), and trailer fields are validated and discarded. Buffering
//! is bounded: a size line may not exceed `max_chunk_line` bytes, the trailer section `max_trailer_size` bytes.
//! Chunk data is handed out as soon as any of it is buffered, split off the read buffer without copying.

use bytes::{Buf, Bytes, BytesMut};

use super::Limits;
use crate::error::{ErrorKind, Limit, Violation};

/// Most hex digits accepted in a chunk size (16 fill a `u64`).
const MAX_SIZE_DIGITS: usize = 16;

fn violation(v: Violation) -> ErrorKind {
    ErrorKind::InvalidResponse { violation: v }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    SizeLine,
    Data(u64),
    DataCrlf,
    Trailers,
    Done,
}

/// What one step of the chunked decoder produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Chunk {
    Data(Bytes),
    End,
}

/// Incremental chunked-body decoder.
#[derive(Debug, Clone)]
pub(crate) struct ChunkedDecoder {
    state: State,
    /// Bytes of the current line already searched for its LF.
    scanned: usize,
    /// Bytes of the trailer section consumed so far.
    trailer_bytes: usize,
}

impl ChunkedDecoder {
    pub(crate) fn new() -> Self {
        ChunkedDecoder {
            state: State::SizeLine,
            scanned: 0,
            trailer_bytes: 0,
        }
    }

    /// Decode from the front of `buf` until some data or the end is produced. `Ok(None)`: need more bytes.
    pub(crate) fn decode(
        &mut self,
        buf: &mut BytesMut,
        limits: &Limits,
    ) -> Result<Option<Chunk>, ErrorKind> {
        loop {
            match self.state {
                State::SizeLine => {
                    let Some(line_len) =
                        self.find_line(buf, limits.max_chunk_line, || ErrorKind::TooLarge {
                            limit: Limit::ChunkLine,
                            max: limits.max_chunk_line as u64,
                        })?
                    else {
                        return Ok(None);
                    };
                    let line = &buf[..line_len];
                    let content = line
                        .strip_suffix(b"\r\n")
                        .ok_or(violation(Violation::InvalidChunkSize))?;
                    let size = parse_size_line(content)?;
                    buf.advance(line_len);
                    self.state = if size == 0 {
                        State::Trailers
                    } else {
                        State::Data(size)
                    };
                }
                State::Data(remaining) => {
                    if buf.is_empty() {
                        return Ok(None);
                    }
                    let n = usize::try_from(remaining).map_or(buf.len(), |r| r.min(buf.len()));
                    let data = buf.split_to(n).freeze();
                    let left = remaining - n as u64;
                    self.state = if left == 0 {
                        State::DataCrlf
                    } else {
                        State::Data(left)
                    };
                    return Ok(Some(Chunk::Data(data)));
                }
                State::DataCrlf => {
                    match (buf.first(), buf.get(1)) {
                        (None, _) | (Some(b'\r'), None) => return Ok(None),
                        (Some(b'\r'), Some(b'\n')) => buf.advance(2),
                        _ => return Err(violation(Violation::MissingChunkCrlf)),
                    }
                    self.state = State::SizeLine;
                }
                State::Trailers => {
                    let room = limits.max_trailer_size.saturating_sub(self.trailer_bytes);
                    let Some(line_len) = self.find_line(buf, room, || ErrorKind::TooLarge {
                        limit: Limit::TrailerSize,
                        max: limits.max_trailer_size as u64,
                    })?
                    else {
                        return Ok(None);
                    };
                    let content = buf[..line_len]
                        .strip_suffix(b"\r\n")
                        .ok_or(violation(Violation::InvalidTrailer))?;
                    let last = content.is_empty();
                    if !last {
                        validate_trailer_field(content)?;
                    }
                    self.trailer_bytes += line_len;
                    buf.advance(line_len);
                    if last {
                        self.state = State::Done;
                        return Ok(Some(Chunk::End));
                    }
                }
                State::Done => return Ok(None),
            }
        }
    }

    /// `true` once the last chunk and the trailer section are through.
    #[cfg(test)]
    pub(crate) fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Length of the line at the front of `buf` (LF included) if it is complete within `max` bytes.
    fn find_line(
        &mut self,
        buf: &[u8],
        max: usize,
        too_large: impl FnOnce() -> ErrorKind,
    ) -> Result<Option<usize>, ErrorKind> {
        let window = &buf[..buf.len().min(max)];
        match memchr::memchr(b'\n', &window[self.scanned.min(window.len())..]) {
            Some(i) => {
                let len = self.scanned + i + 1;
                self.scanned = 0;
                Ok(Some(len))
            }
            None if buf.len() >= max => Err(too_large()),
            None => {
                self.scanned = buf.len();
                Ok(None)
            }
        }
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn skip_bws(s: &[u8], mut i: usize) -> usize {
    while matches!(s.get(i), Some(b' ' | b'\t')) {
        i += 1;
    }
    i
}

fn skip_token(s: &[u8], mut i: usize) -> usize {
    while s.get(i).is_some_and(|&b| is_tchar(b)) {
        i += 1;
    }
    i
}

/// `chunk-size [ chunk-ext ]` (CRLF already removed): 1–16 hex digits, then
/// `*( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] )`, optional trailing whitespace.
fn parse_size_line(line: &[u8]) -> Result<u64, ErrorKind> {
    let bad = || violation(Violation::InvalidChunkSize);
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 || digits > MAX_SIZE_DIGITS {
        return Err(bad());
    }
    let size = line[..digits].iter().fold(0u64, |acc, &b| {
        // Cannot overflow: at most 16 hex digits.
        (acc << 4) | u64::from((b as char).to_digit(16).unwrap_or(0))
    });
    let mut i = digits;
    loop {
        i = skip_bws(line, i);
        match line.get(i) {
            None => return Ok(size),
            Some(b';') => {}
            Some(_) => return Err(bad()),
        }
        i = skip_bws(line, i + 1);
        let name_end = skip_token(line, i);
        if name_end == i {
            return Err(bad());
        }
        i = skip_bws(line, name_end);
        if line.get(i) == Some(&b'=') {
            i = skip_bws(line, i + 1);
            i = if line.get(i) == Some(&b'"') {
                skip_quoted(line, i + 1).ok_or_else(bad)?
            } else {
                let end = skip_token(line, i);
                if end == i {
                    return Err(bad());
                }
                end
            };
        }
    }
}

/// Past a quoted-string whose opening quote is just before `i`; `None` when it is unterminated or malformed.
fn skip_quoted(s: &[u8], mut i: usize) -> Option<usize> {
    loop {
        match *s.get(i)? {
            b'"' => return Some(i + 1),
            b'\\' => {
                let escaped = *s.get(i + 1)?;
                if escaped != b'\t' && !(0x20..=0x7e).contains(&escaped) && escaped < 0x80 {
                    return None;
                }
                i += 2;
            }
            b'\t' | b' ' | 0x21..=0x7e | 0x80..=0xff => i += 1,
            _ => return None,
        }
    }
}

/// A trailer line must be `token ":" field-value` — no obs-fold, no control bytes. Trailers are discarded.
fn validate_trailer_field(line: &[u8]) -> Result<(), ErrorKind> {
    let bad = || violation(Violation::InvalidTrailer);
    let name_end = skip_token(line, 0);
    if name_end == 0 || line.get(name_end) != Some(&b':') {
        return Err(bad());
    }
    if line[name_end + 1..]
        .iter()
        .any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f)
    {
        return Err(bad());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decode all of `input` in one go: data concatenated, and whether the end was reached.
    fn run(input: &[u8], limits: &Limits) -> Result<(Vec<u8>, bool), ErrorKind> {
        let mut dec = ChunkedDecoder::new();
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        while let Some(c) = dec.decode(&mut buf, limits)? {
            match c {
                Chunk::Data(d) => out.extend_from_slice(&d),
                Chunk::End => return Ok((out, true)),
            }
        }
        Ok((out, false))
    }

    fn ok(input: &[u8]) -> Vec<u8> {
        let (data, end) = run(input, &Limits::default()).unwrap();
        assert!(end, "no end in {input:?}");
        data
    }

    fn err(input: &[u8]) -> ErrorKind {
        run(input, &Limits::default()).unwrap_err()
    }

    const SIZE: ErrorKind = ErrorKind::InvalidResponse {
        violation: Violation::InvalidChunkSize,
    };

    #[test]
    fn h1_chunked_basic_and_hex_sizes() {
        assert_eq!(
            ok(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
            b"hello world"
        );
        assert_eq!(
            ok(b"A\r\n0123456789\r\na\r\nabcdefghij\r\n0\r\n\r\n").len(),
            20
        );
        assert_eq!(ok(b"0000000000000003\r\nabc\r\n0\r\n\r\n"), b"abc");
        assert_eq!(ok(b"0\r\n\r\n"), b"");
    }

    #[test]
    fn h1_chunked_extensions_are_parsed_and_ignored() {
        assert_eq!(ok(b"3;a=b\r\nabc\r\n0\r\n\r\n"), b"abc");
        assert_eq!(
            ok(b"3 ; a = \"q;\\\"x\" ;flag\r\nabc\r\n0;last\r\n\r\n"),
            b"abc"
        );
        assert_eq!(ok(b"3 \t\r\nabc\r\n0\r\n\r\n"), b"abc");
        assert_eq!(err(b"3;\r\nabc\r\n0\r\n\r\n"), SIZE);
        assert_eq!(err(b"3;a=\r\nabc\r\n"), SIZE);
        assert_eq!(err(b"3;a=\"open\r\nabc\r\n"), SIZE);
        assert_eq!(err(b"3 x\r\nabc\r\n"), SIZE);
        assert_eq!(err(b"3;a b\r\nabc\r\n"), SIZE);
    }

    #[test]
    fn h1_chunked_size_digits_are_capped() {
        assert_eq!(err(b"00000000000000003\r\nabc\r\n"), SIZE);
        assert_eq!(err(b"\r\n"), SIZE);
        assert_eq!(err(b"-1\r\n"), SIZE);
        assert_eq!(err(b"0x3\r\nabc\r\n"), SIZE);
        // 16 digits is a u64 and fine to start (the body is just not there).
        assert_eq!(
            run(b"ffffffffffffffff\r\nab", &Limits::default()).unwrap(),
            (b"ab".to_vec(), false)
        );
    }

    #[test]
    fn h1_chunked_needs_strict_crlf() {
        assert_eq!(err(b"3\nabc\r\n0\r\n\r\n"), SIZE);
        assert_eq!(
            err(b"3\r\nabcX\r\n0\r\n\r\n"),
            ErrorKind::InvalidResponse {
                violation: Violation::MissingChunkCrlf
            }
        );
        assert_eq!(
            err(b"3\r\nabc\n0\r\n\r\n"),
            ErrorKind::InvalidResponse {
                violation: Violation::MissingChunkCrlf
            }
        );
        assert_eq!(
            err(b"3\r\nabc\r\n0\r\n\n"),
            ErrorKind::InvalidResponse {
                violation: Violation::InvalidTrailer
            }
        );
    }

    #[test]
    fn h1_chunked_trailers_are_validated_and_discarded() {
        assert_eq!(ok(b"1\r\nx\r\n0\r\nX-Sum: abc\r\nY:\r\n\r\n"), b"x");
        let trailer = ErrorKind::InvalidResponse {
            violation: Violation::InvalidTrailer,
        };
        assert_eq!(err(b"0\r\nNoColon\r\n\r\n"), trailer);
        assert_eq!(err(b"0\r\nX: a\r\n folded\r\n\r\n"), trailer);
        assert_eq!(err(b"0\r\nBad Name: a\r\n\r\n"), trailer);
        assert_eq!(err(b"0\r\nX: a\x00\r\n\r\n"), trailer);
    }

    #[test]
    fn h1_chunked_line_and_trailer_limits() {
        let limits = Limits {
            max_chunk_line: 8,
            max_trailer_size: 12,
            ..Limits::default()
        };
        assert_eq!(
            run(b"3;a=bc\r\nabc\r\n0\r\n\r\n", &limits).unwrap(),
            (b"abc".to_vec(), true)
        );
        let line = Err(ErrorKind::TooLarge {
            limit: Limit::ChunkLine,
            max: 8,
        });
        assert_eq!(run(b"3;a=bcd\r\nabc\r\n", &limits), line);
        // Incomplete but already at the limit: refused without buffering more.
        assert_eq!(run(b"3;a=bcde", &limits), line);
        assert_eq!(run(b"3;a=bcd", &limits).unwrap(), (vec![], false));
        // Trailer section: "A: 1234\r\n" (9) + "\r\n" (2) = 11 ≤ 12.
        assert_eq!(
            run(b"0\r\nA: 1234\r\n\r\n", &limits).unwrap(),
            (vec![], true)
        );
        let trailer = Err(ErrorKind::TooLarge {
            limit: Limit::TrailerSize,
            max: 12,
        });
        assert_eq!(run(b"0\r\nA: 123456\r\n\r\n", &limits), trailer);
        assert_eq!(run(b"0\r\nA: 1\r\nB: 2\r\n\r\n", &limits), trailer);
    }

    #[test]
    fn h1_chunked_data_is_delivered_as_soon_as_it_arrives() {
        let mut dec = ChunkedDecoder::new();
        let limits = Limits::default();
        let mut buf = BytesMut::from(&b"a\r\nhel"[..]);
        assert_eq!(
            dec.decode(&mut buf, &limits).unwrap(),
            Some(Chunk::Data(Bytes::from_static(b"hel")))
        );
        assert_eq!(dec.decode(&mut buf, &limits).unwrap(), None);
        buf.extend_from_slice(b"lo");
        assert_eq!(
            dec.decode(&mut buf, &limits).unwrap(),
            Some(Chunk::Data(Bytes::from_static(b"lo")))
        );
        assert!(!dec.is_done());
        buf.extend_from_slice(b"world\r\n0\r\n\r\nHTTP");
        assert_eq!(
            dec.decode(&mut buf, &limits).unwrap(),
            Some(Chunk::Data(Bytes::from_static(b"world")))
        );
        assert_eq!(dec.decode(&mut buf, &limits).unwrap(), Some(Chunk::End));
        assert!(dec.is_done());
        assert_eq!(
            &buf[..],
            b"HTTP",
            "bytes after the body stay for the next response"
        );
    }
}
