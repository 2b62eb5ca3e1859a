//! The keep-alive decision (RFC 9112 §9.3) and the `Keep-Alive: timeout=N` hint.
//!
//! HTTP/1.1 connections persist unless either side says `Connection: close`; HTTP/1.0 ones only when the
//! response says `Connection: keep-alive` (and not also `close`). A body delimited by the close of the
//! connection obviously ends it too; that part is decided with the framing in `decode.rs`.

use core::time::Duration;

use http::header::CONNECTION;
use http::{HeaderMap, Version};

use super::list;

/// What the `Connection` header of a response allows, given the response's version.
pub(crate) fn response_allows_reuse(version: Version, headers: &HeaderMap) -> bool {
    let mut close = false;
    let mut keep_alive = false;
    for token in list::items(headers, CONNECTION) {
        if token.eq_ignore_ascii_case(b"close") {
            close = true;
        } else if token.eq_ignore_ascii_case(b"keep-alive") {
            keep_alive = true;
        }
    }
    if close {
        false
    } else if version == Version::HTTP_10 {
        keep_alive
    } else {
        true
    }
}

/// `true` when a request asked for the connection to close after its response.
pub(crate) fn request_closes(headers: &HeaderMap) -> bool {
    list::has_token(headers, CONNECTION, "close")
}

/// `timeout=N` (seconds) from the `Keep-Alive` header: how long the server keeps an idle connection open.
/// Unparseable parameters are ignored; the value may be quoted.
pub(crate) fn keep_alive_timeout(headers: &HeaderMap) -> Option<Duration> {
    list::items(headers, "keep-alive").find_map(|param| {
        let eq = memchr::memchr(b'=', param)?;
        let name = list::trim_ows(&param[..eq]);
        if !name.eq_ignore_ascii_case(b"timeout") {
            return None;
        }
        let mut value = list::trim_ows(&param[eq + 1..]);
        if let [b'"', inner @ .., b'"'] = value {
            value = inner;
        }
        parse_decimal(value).map(Duration::from_secs)
    })
}

/// A non-empty run of ASCII digits as a `u64`; `None` for anything else or on overflow.
pub(crate) fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &b| {
        if b.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn h1_keep_alive_http11_persists_unless_close_anywhere_in_the_list() {
        assert!(response_allows_reuse(Version::HTTP_11, &headers(&[])));
        assert!(!response_allows_reuse(
            Version::HTTP_11,
            &headers(&[("connection", "Upgrade, Close")])
        ));
        assert!(!response_allows_reuse(
            Version::HTTP_11,
            &headers(&[("connection", "keep-alive"), ("connection", "x, close")])
        ));
    }

    #[test]
    fn h1_keep_alive_http10_needs_the_keep_alive_token() {
        assert!(!response_allows_reuse(Version::HTTP_10, &headers(&[])));
        assert!(response_allows_reuse(
            Version::HTTP_10,
            &headers(&[("connection", "Keep-Alive")])
        ));
        assert!(!response_allows_reuse(
            Version::HTTP_10,
            &headers(&[("connection", "keep-alive, close")])
        ));
    }

    #[test]
    fn h1_keep_alive_timeout_parses_seconds() {
        let t = |v: &str| keep_alive_timeout(&headers(&[("keep-alive", v)]));
        assert_eq!(t("timeout=5, max=1000"), Some(Duration::from_secs(5)));
        assert_eq!(t("max=3, Timeout = \"7\""), Some(Duration::from_secs(7)));
        assert_eq!(t("timeout=-1"), None);
        assert_eq!(t("timeout=99999999999999999999999"), None);
        assert_eq!(t("max=3"), None);
        assert_eq!(keep_alive_timeout(&headers(&[])), None);
        assert!(request_closes(&headers(&[("connection", "close")])));
    }

    #[test]
    fn h1_parse_decimal_is_digits_only_and_checked() {
        assert_eq!(parse_decimal(b"0"), Some(0));
        assert_eq!(parse_decimal(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_decimal(b"18446744073709551616"), None);
        assert_eq!(parse_decimal(b"+1"), None);
        assert_eq!(parse_decimal(b""), None);
        assert_eq!(parse_decimal(b"0x10"), None);
    }
}
