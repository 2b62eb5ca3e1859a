//! How long a response body is (RFC 9112 §6.3), decided from the request method, the status and the
//! `Content-Length` / `Transfer-Encoding` fields.

use http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{HeaderMap, StatusCode, Version};

use super::keep_alive::parse_decimal;
use super::list;
use crate::error::{ErrorKind, Violation};
use crate::response::ResponseHead;

/// The body framing of one response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyKind {
    /// No body at all (HEAD, 1xx, 204, 304).
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// The chunked transfer coding.
    Chunked,
    /// Everything until the server closes the connection.
    CloseDelimited,
}

/// The framing decision plus whether it forbids reusing the connection whatever `Connection` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Framing {
    pub kind: BodyKind,
    /// A close-delimited body, or an HTTP/1.0 response carrying `Transfer-Encoding` (RFC 9112 §6.1: treat the
    /// framing as faulty and close after it).
    pub must_close: bool,
}

/// Transfer codings a server may legitimately apply beneath `chunked`. They are passed through undecoded
/// (this client never sends `TE`, so a conforming server never uses them); anything else is refused.
const KNOWN_CODINGS: &[&[u8]] = &[b"gzip", b"x-gzip", b"deflate", b"compress", b"x-compress"];

fn violation(v: Violation) -> ErrorKind {
    ErrorKind::InvalidResponse { violation: v }
}

/// Decide the framing of a final (non-1xx) response to a request that was `HEAD` when `head_request`.
pub(crate) fn framing(head_request: bool, head: &ResponseHead) -> Result<Framing, ErrorKind> {
    let headers = &head.headers;
    let has_te = headers.contains_key(TRANSFER_ENCODING);
    // Both at once is the classic request-smuggling vector; refused even where there is no body.
    if has_te && headers.contains_key(CONTENT_LENGTH) {
        return Err(violation(Violation::ContentLengthWithTransferEncoding));
    }
    let no_body = head_request
        || head.status.is_informational()
        || head.status == StatusCode::NO_CONTENT
        || head.status == StatusCode::NOT_MODIFIED;
    if no_body {
        // Content-Length of a HEAD/304 response describes the representation, not this message.
        return Ok(Framing {
            kind: BodyKind::Empty,
            must_close: has_te && head.version == Version::HTTP_10,
        });
    }
    if has_te {
        let kind = transfer_coding(headers)?;
        return Ok(Framing {
            kind,
            must_close: kind == BodyKind::CloseDelimited || head.version == Version::HTTP_10,
        });
    }
    if headers.contains_key(CONTENT_LENGTH) {
        return Ok(Framing {
            kind: BodyKind::Length(content_length(headers)?),
            must_close: false,
        });
    }
    Ok(Framing {
        kind: BodyKind::CloseDelimited,
        must_close: true,
    })
}

/// The body length a final response declares (`Content-Length` framing), when it has one: `None` for chunked,
/// close-delimited and bodiless responses (HEAD, 204, 304, 1xx), and for framing the decoder refuses anyway.
pub(crate) fn declared_length(head_request: bool, head: &ResponseHead) -> Option<u64> {
    match framing(head_request, head) {
        Ok(Framing {
            kind: BodyKind::Length(n),
            ..
        }) => Some(n),
        _ => None,
    }
}

/// `Content-Length`: digits only, a checked `u64`; several values (comma lists or repeated fields) only when
/// they are all equal.
pub(crate) fn content_length(headers: &HeaderMap) -> Result<u64, ErrorKind> {
    let bad = || violation(Violation::InvalidContentLength);
    let mut found: Option<u64> = None;
    for value in headers.get_all(CONTENT_LENGTH) {
        for item in value.as_bytes().split(|&b| b == b',') {
            let n = parse_decimal(list::trim_ows(item)).ok_or_else(bad)?;
            match found {
                Some(prev) if prev != n => return Err(bad()),
                _ => found = Some(n),
            }
        }
    }
    found.ok_or_else(bad)
}

/// `Transfer-Encoding`: chunked last ⇒ chunked; chunked elsewhere or absent (only known codings) ⇒ read to close;
/// an unknown coding or chunked twice ⇒ unsupported; an empty element anywhere (`chunked,`, `, chunked`, an empty
/// field line) ⇒ malformed. The list grammar allows empty elements, but peers split on them differently (some
/// read `chunked,` as chunked, some as an unknown coding), so such a response has no agreed end.
fn transfer_coding(headers: &HeaderMap) -> Result<BodyKind, ErrorKind> {
    let unsupported = || violation(Violation::UnsupportedTransferEncoding);
    let mut last_is_chunked = false;
    let mut chunked_seen = false;
    let items = headers
        .get_all(TRANSFER_ENCODING)
        .into_iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .map(list::trim_ows);
    for item in items {
        // A coding may carry parameters (`;q=…`); the name decides.
        let name = list::trim_ows(item.split(|&b| b == b';').next().unwrap_or(item));
        if name.is_empty() {
            return Err(violation(Violation::InvalidTransferEncoding));
        }
        if name.eq_ignore_ascii_case(b"chunked") {
            if chunked_seen {
                return Err(unsupported());
            }
            chunked_seen = true;
            last_is_chunked = true;
        } else if KNOWN_CODINGS.iter().any(|k| name.eq_ignore_ascii_case(k)) {
            last_is_chunked = false;
        } else {
            return Err(unsupported());
        }
    }
    Ok(if last_is_chunked {
        BodyKind::Chunked
    } else {
        BodyKind::CloseDelimited
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(status: u16, version: Version, pairs: &[(&str, &str)]) -> ResponseHead {
        let mut headers = HeaderMap::new();
        for (k, v) in pairs {
            headers.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        ResponseHead {
            status: StatusCode::from_u16(status).unwrap(),
            version,
            headers,
        }
    }

    fn kind(status: u16, pairs: &[(&str, &str)]) -> Result<BodyKind, ErrorKind> {
        framing(false, &head(status, Version::HTTP_11, pairs)).map(|f| f.kind)
    }

    fn err(v: Violation) -> Result<BodyKind, ErrorKind> {
        Err(violation(v))
    }

    #[test]
    fn h1_framing_content_length_digits_only_checked_and_equal_lists() {
        assert_eq!(
            kind(200, &[("content-length", "42")]),
            Ok(BodyKind::Length(42))
        );
        assert_eq!(
            kind(200, &[("content-length", "7, 7 ,7")]),
            Ok(BodyKind::Length(7))
        );
        assert_eq!(
            kind(200, &[("content-length", "7"), ("content-length", "7")]),
            Ok(BodyKind::Length(7))
        );
        let invalid = err(Violation::InvalidContentLength);
        assert_eq!(kind(200, &[("content-length", "7, 8")]), invalid);
        assert_eq!(
            kind(200, &[("content-length", "7"), ("content-length", "8")]),
            invalid
        );
        assert_eq!(kind(200, &[("content-length", "+7")]), invalid);
        assert_eq!(kind(200, &[("content-length", "0x10")]), invalid);
        assert_eq!(kind(200, &[("content-length", "1 2")]), invalid);
        assert_eq!(kind(200, &[("content-length", "")]), invalid);
        assert_eq!(kind(200, &[("content-length", "5,")]), invalid);
        assert_eq!(
            kind(200, &[("content-length", "18446744073709551616")]),
            invalid
        );
        assert_eq!(
            kind(200, &[("content-length", "18446744073709551615")]),
            Ok(BodyKind::Length(u64::MAX))
        );
    }

    #[test]
    fn h1_framing_no_body_for_head_204_304_and_1xx() {
        let cl = [("content-length", "10")];
        assert_eq!(
            framing(true, &head(200, Version::HTTP_11, &cl)).map(|f| f.kind),
            Ok(BodyKind::Empty)
        );
        assert_eq!(kind(204, &cl), Ok(BodyKind::Empty));
        assert_eq!(kind(304, &cl), Ok(BodyKind::Empty));
        assert_eq!(kind(103, &[]), Ok(BodyKind::Empty));
        assert_eq!(kind(200, &cl), Ok(BodyKind::Length(10)));
    }

    #[test]
    fn h1_framing_transfer_encoding_with_content_length_is_refused_everywhere() {
        let both = [("transfer-encoding", "chunked"), ("content-length", "3")];
        assert_eq!(
            kind(200, &both),
            err(Violation::ContentLengthWithTransferEncoding)
        );
        assert_eq!(
            kind(304, &both),
            err(Violation::ContentLengthWithTransferEncoding)
        );
    }

    #[test]
    fn h1_framing_transfer_codings() {
        let te = |v: &str| kind(200, &[("transfer-encoding", v)]);
        assert_eq!(te("chunked"), Ok(BodyKind::Chunked));
        assert_eq!(te("Chunked"), Ok(BodyKind::Chunked));
        assert_eq!(te("gzip, chunked"), Ok(BodyKind::Chunked));
        assert_eq!(te("chunked, gzip"), Ok(BodyKind::CloseDelimited));
        assert_eq!(te("gzip"), Ok(BodyKind::CloseDelimited));
        assert_eq!(
            te("chunked, chunked"),
            err(Violation::UnsupportedTransferEncoding)
        );
        assert_eq!(
            te("foo, chunked"),
            err(Violation::UnsupportedTransferEncoding)
        );
        assert_eq!(te("identity"), err(Violation::UnsupportedTransferEncoding));
        assert_eq!(te(" , "), err(Violation::InvalidTransferEncoding));
        assert_eq!(
            kind(
                200,
                &[
                    ("transfer-encoding", "gzip"),
                    ("transfer-encoding", "chunked")
                ]
            ),
            Ok(BodyKind::Chunked)
        );
        let f = framing(
            false,
            &head(
                200,
                Version::HTTP_11,
                &[("transfer-encoding", "chunked, gzip")],
            ),
        )
        .unwrap();
        assert!(f.must_close);
    }

    /// Issue 20 item 1: an empty element anywhere in the `Transfer-Encoding` list (trailing, leading, doubled,
    /// an empty field line) is a framing error, whatever else the list says.
    #[test]
    fn h1_framing_transfer_encoding_empty_element_is_a_framing_error() {
        let malformed = err(Violation::InvalidTransferEncoding);
        for v in [
            "chunked,",
            ", chunked",
            "chunked ,\t",
            "gzip,,chunked",
            "",
            " ",
        ] {
            assert_eq!(kind(200, &[("transfer-encoding", v)]), malformed, "{v:?}");
        }
        assert_eq!(
            kind(
                200,
                &[
                    ("transfer-encoding", "gzip"),
                    ("transfer-encoding", "chunked,")
                ]
            ),
            malformed
        );
        assert_eq!(
            kind(
                200,
                &[("transfer-encoding", "chunked"), ("transfer-encoding", "")]
            ),
            malformed
        );
        // Parameters do not hide an empty coding name.
        assert_eq!(
            kind(200, &[("transfer-encoding", ";q=1, chunked")]),
            malformed
        );
    }

    #[test]
    fn h1_framing_http10_transfer_encoding_is_faulty_and_closes() {
        let f = framing(
            false,
            &head(200, Version::HTTP_10, &[("transfer-encoding", "chunked")]),
        )
        .unwrap();
        assert_eq!(
            f,
            Framing {
                kind: BodyKind::Chunked,
                must_close: true
            }
        );
    }

    #[test]
    fn h1_framing_without_length_reads_to_close() {
        let f = framing(false, &head(200, Version::HTTP_11, &[])).unwrap();
        assert_eq!(
            f,
            Framing {
                kind: BodyKind::CloseDelimited,
                must_close: true
            }
        );
        let f = framing(
            false,
            &head(200, Version::HTTP_11, &[("content-length", "0")]),
        )
        .unwrap();
        assert_eq!(
            f,
            Framing {
                kind: BodyKind::Length(0),
                must_close: false
            }
        );
    }
}
