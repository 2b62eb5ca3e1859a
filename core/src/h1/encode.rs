//! Request encoder: request line, headers, framing and body, appended to a caller-owned (reusable) buffer.
//!
//! The encoder owns the framing. `Content-Length` and `Transfer-Encoding` set by the caller are **not**
//! copied: the body decides them (`Content-Length: n` for [`Body::Full`], `Content-Length: 0` for a
//! POST/PUT/PATCH without a body, nothing for other bodiless requests). `Host` comes from the URL's
//! authority and `User-Agent` from the given default, each unless the caller set it. Header names go out
//! lowercase (as `http::HeaderMap` keeps them; field names are case-insensitive).
//!
//! Through an HTTP proxy that forwards (no tunnel: an `http://` target), the request line carries the
//! absolute-form target (`GET http://host:port/path HTTP/1.1`, RFC 9112 §3.2.2) and the proxy's credentials go
//! in `Proxy-Authorization` ([`Via::Proxy`]); `Host` is still sent. Inside a tunnel, or direct, the origin-form
//! is used and no proxy credentials are ever written.

use bytes::{BufMut, BytesMut};
use http::header::{CONTENT_LENGTH, HOST, PROXY_AUTHORIZATION, TRANSFER_ENCODING, USER_AGENT};
use http::Method;

use crate::request::{Body, Request};

/// How a request reaches its server. `Debug` never shows the credentials.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub enum Via<'a> {
    /// Directly, or inside a tunnel: origin-form target (`GET /path`).
    #[default]
    Direct,
    /// Forwarded by an HTTP proxy: absolute-form target (`GET http://host/path`).
    Proxy {
        /// The `Proxy-Authorization` value (`Basic …`), unless the request sets its own.
        authorization: Option<&'a str>,
    },
}

impl core::fmt::Debug for Via<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Via::Direct => "Direct",
            Via::Proxy {
                authorization: None,
            } => "Proxy",
            Via::Proxy {
                authorization: Some(_),
            } => "Proxy(with credentials)",
        })
    }
}

/// Encode `req` — head and whole body — onto the end of `out`.
///
/// `user_agent` is sent unless the request has its own `User-Agent`; an empty one, or one holding a byte a
/// header value may not hold (CR, LF, NUL, other controls), is left out rather than sent.
pub fn encode_request(req: &Request, user_agent: &str, out: &mut BytesMut) {
    encode_request_via(req, user_agent, Via::Direct, out);
}

/// [`encode_request`] for a request sent `via` a forwarding proxy (or directly).
pub fn encode_request_via(req: &Request, user_agent: &str, via: Via<'_>, out: &mut BytesMut) {
    let body = req.body().as_bytes();
    let framing = match req.body() {
        Body::Full(b) => Some(b.len()),
        Body::Empty if needs_zero_length(req.method()) => Some(0),
        Body::Empty => None,
    };
    encode_head(
        req,
        user_agent,
        via,
        framing.map_or(Framing::None, Framing::Length),
        out,
    );
    out.extend_from_slice(body);
}

/// Encode `req`'s head with `Transfer-Encoding: chunked`, for a body streamed afterwards with
/// [`encode_chunk`] and [`encode_last_chunk`]. The request's own [`Body`] is not written.
pub fn encode_chunked_request_head(req: &Request, user_agent: &str, out: &mut BytesMut) {
    encode_head(req, user_agent, Via::Direct, Framing::Chunked, out);
}

/// [`encode_chunked_request_head`] for a request sent `via` a forwarding proxy (or directly).
pub fn encode_chunked_request_head_via(
    req: &Request,
    user_agent: &str,
    via: Via<'_>,
    out: &mut BytesMut,
) {
    encode_head(req, user_agent, via, Framing::Chunked, out);
}

/// Encode one chunk of a chunked request body. An empty `data` writes nothing (an empty chunk would end the
/// body; use [`encode_last_chunk`] for that).
pub fn encode_chunk(data: &[u8], out: &mut BytesMut) {
    if data.is_empty() {
        return;
    }
    out.reserve(data.len() + 20);
    put_hex(data.len(), out);
    out.put_slice(b"\r\n");
    out.put_slice(data);
    out.put_slice(b"\r\n");
}

/// Encode the last chunk (`0\r\n\r\n`, no trailers) that ends a chunked request body.
pub fn encode_last_chunk(out: &mut BytesMut) {
    out.extend_from_slice(b"0\r\n\r\n");
}

/// Methods whose semantics anticipate content: an empty body is announced with `Content-Length: 0`
/// (RFC 9110 §8.6), otherwise some servers wait for a body or answer 411.
fn needs_zero_length(method: &Method) -> bool {
    matches!(*method, Method::POST | Method::PUT | Method::PATCH)
}

enum Framing {
    None,
    Length(usize),
    Chunked,
}

fn encode_head(
    req: &Request,
    user_agent: &str,
    via: Via<'_>,
    framing: Framing,
    out: &mut BytesMut,
) {
    let url = req.url();
    let headers = req.headers();
    out.reserve(
        64 + url.path().len()
            + url.query().map_or(0, str::len)
            + url.host().len()
            + user_agent.len()
            + headers
                .iter()
                .map(|(n, v)| n.as_str().len() + v.len() + 4)
                .sum::<usize>()
            + req.body().len(),
    );
    out.put_slice(req.method().as_str().as_bytes());
    out.put_u8(b' ');
    if let Via::Proxy { .. } = via {
        // Absolute-form: scheme and authority before the path; never the userinfo.
        out.put_slice(url.scheme().as_str().as_bytes());
        out.put_slice(b"://");
        put_authority(url, out);
    }
    out.put_slice(url.path().as_bytes());
    if let Some(q) = url.query() {
        out.put_u8(b'?');
        out.put_slice(q.as_bytes());
    }
    out.put_slice(b" HTTP/1.1\r\n");
    if !headers.contains_key(HOST) {
        out.put_slice(b"host: ");
        put_authority(url, out);
        out.put_slice(b"\r\n");
    }
    if let Via::Proxy {
        authorization: Some(auth),
    } = via
    {
        if !headers.contains_key(PROXY_AUTHORIZATION) && is_valid_value(auth.as_bytes()) {
            out.put_slice(b"proxy-authorization: ");
            out.put_slice(auth.as_bytes());
            out.put_slice(b"\r\n");
        }
    }
    if !headers.contains_key(USER_AGENT) && is_valid_value(user_agent.as_bytes()) {
        out.put_slice(b"user-agent: ");
        out.put_slice(user_agent.as_bytes());
        out.put_slice(b"\r\n");
    }
    for (name, value) in headers {
        if name == CONTENT_LENGTH || name == TRANSFER_ENCODING {
            continue;
        }
        out.put_slice(name.as_str().as_bytes());
        out.put_slice(b": ");
        out.put_slice(value.as_bytes());
        out.put_slice(b"\r\n");
    }
    match framing {
        Framing::None => {}
        Framing::Length(n) => {
            out.put_slice(b"content-length: ");
            put_decimal(n, out);
            out.put_slice(b"\r\n");
        }
        Framing::Chunked => out.put_slice(b"transfer-encoding: chunked\r\n"),
    }
    out.put_slice(b"\r\n");
}

/// `host` or `host:port` when the port is not the scheme's default (IPv6 literals keep their brackets).
fn put_authority(url: &crate::url::Url, out: &mut BytesMut) {
    out.put_slice(url.host().as_bytes());
    if url.port() != url.scheme().default_port() {
        out.put_u8(b':');
        put_decimal(usize::from(url.port()), out);
    }
}

/// A non-empty field value without CTLs other than HTAB (what `HeaderValue` would accept, minus obs-text
/// handling which `&str` cannot break).
fn is_valid_value(v: &[u8]) -> bool {
    !v.is_empty() && v.iter().all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

fn put_decimal(mut n: usize, out: &mut BytesMut) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.put_slice(&digits[i..]);
}

fn put_hex(mut n: usize, out: &mut BytesMut) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut digits = [0u8; 16];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = HEX[n & 15];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    out.put_slice(&digits[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::RequestBuilder;

    fn enc(req: &Request, ua: &str) -> String {
        let mut out = BytesMut::new();
        encode_request(req, ua, &mut out);
        String::from_utf8(out.to_vec()).unwrap()
    }

    #[test]
    fn h1_encode_get_writes_target_host_and_user_agent() {
        let req = Request::get("http://example.com:8080/a/b?x=1&y=%20").unwrap();
        assert_eq!(
            enc(&req, "Plue/1.0"),
            "GET /a/b?x=1&y=%20 HTTP/1.1\r\nhost: example.com:8080\r\nuser-agent: Plue/1.0\r\n\r\n"
        );
        let req = Request::get("http://example.com/").unwrap();
        assert_eq!(
            enc(&req, "Plue/1.0"),
            "GET / HTTP/1.1\r\nhost: example.com\r\nuser-agent: Plue/1.0\r\n\r\n"
        );
    }

    #[test]
    fn h1_encode_caller_host_and_user_agent_win() {
        let req = RequestBuilder::new(Method::GET, "http://127.0.0.1:4096/x")
            .header("Host", "virtual.test")
            .header("User-Agent", "mine/2")
            .header("X-Two", "a")
            .header("X-Two", "b")
            .build()
            .unwrap();
        assert_eq!(
            enc(&req, "Plue/1.0"),
            "GET /x HTTP/1.1\r\nhost: virtual.test\r\nuser-agent: mine/2\r\nx-two: a\r\nx-two: b\r\n\r\n"
        );
    }

    #[test]
    fn h1_encode_owns_framing_headers() {
        let req = RequestBuilder::new(Method::POST, "http://h/s")
            .header("Content-Length", "999")
            .header("Transfer-Encoding", "chunked")
            .body("hello")
            .build()
            .unwrap();
        assert_eq!(
            enc(&req, "ua"),
            "POST /s HTTP/1.1\r\nhost: h\r\nuser-agent: ua\r\ncontent-length: 5\r\n\r\nhello"
        );
    }

    #[test]
    fn h1_encode_empty_body_length_depends_on_method() {
        for (m, cl) in [
            (Method::POST, true),
            (Method::PUT, true),
            (Method::PATCH, true),
            (Method::GET, false),
            (Method::DELETE, false),
            (Method::HEAD, false),
            (Method::OPTIONS, false),
        ] {
            let req = RequestBuilder::new(m.clone(), "http://h/").build().unwrap();
            assert_eq!(enc(&req, "ua").contains("content-length: 0\r\n"), cl, "{m}");
        }
        let req = RequestBuilder::new(Method::GET, "http://h/")
            .body("")
            .build()
            .unwrap();
        assert!(enc(&req, "ua").ends_with("content-length: 0\r\n\r\n"));
    }

    #[test]
    fn h1_encode_leaves_out_an_unusable_user_agent() {
        let req = Request::get("http://h/").unwrap();
        assert_eq!(enc(&req, ""), "GET / HTTP/1.1\r\nhost: h\r\n\r\n");
        assert_eq!(
            enc(&req, "a\r\nX: injected"),
            "GET / HTTP/1.1\r\nhost: h\r\n\r\n"
        );
    }

    #[test]
    fn h1_encode_appends_to_a_reused_buffer() {
        let req = Request::get("http://h/").unwrap();
        let mut out = BytesMut::from(&b"previous"[..]);
        encode_request(&req, "ua", &mut out);
        assert!(out.starts_with(b"previousGET / HTTP/1.1\r\n"));
    }

    #[test]
    fn h1_encode_chunked_request_body() {
        let req = RequestBuilder::new(Method::POST, "http://h/up")
            .header("Content-Length", "3")
            .build()
            .unwrap();
        let mut out = BytesMut::new();
        encode_chunked_request_head(&req, "ua", &mut out);
        encode_chunk(b"hello", &mut out);
        encode_chunk(b"", &mut out);
        encode_chunk(&[b'x'; 26], &mut out);
        encode_last_chunk(&mut out);
        let text = String::from_utf8(out.to_vec()).unwrap();
        assert_eq!(
            text,
            format!(
                "POST /up HTTP/1.1\r\nhost: h\r\nuser-agent: ua\r\ntransfer-encoding: chunked\r\n\r\n\
                 5\r\nhello\r\n1a\r\n{}\r\n0\r\n\r\n",
                "x".repeat(26)
            )
        );
        let mut d = BytesMut::new();
        put_decimal(0, &mut d);
        put_decimal(usize::MAX, &mut d);
        put_hex(usize::MAX, &mut d);
        assert_eq!(
            &d[..],
            format!("0{}{:x}", usize::MAX, usize::MAX).as_bytes()
        );
    }

    #[test]
    fn h1_encode_absolute_form_through_a_forwarding_proxy() {
        let req = Request::get("http://al:pw@[::1]:8080/a?b=1").unwrap();
        let mut out = BytesMut::new();
        let via = Via::Proxy {
            authorization: Some("Basic cDpx"),
        };
        encode_request_via(&req, "ua", via, &mut out);
        let text = String::from_utf8(out.to_vec()).unwrap();
        assert!(
            text.starts_with("GET http://[::1]:8080/a?b=1 HTTP/1.1\r\nhost: [::1]:8080\r\n"),
            "{text}"
        );
        assert!(
            text.contains("proxy-authorization: Basic cDpx\r\n"),
            "{text}"
        );
        // The origin's userinfo never enters the request line (it became Authorization, for the origin).
        assert!(!text.contains("al:pw@"), "{text}");
        assert!(!format!("{via:?}").contains("cDpx"));

        // Default port: no port in the target; no credentials: no header.
        let req = Request::get("http://example.com/").unwrap();
        let mut out = BytesMut::new();
        encode_request_via(
            &req,
            "ua",
            Via::Proxy {
                authorization: None,
            },
            &mut out,
        );
        assert_eq!(
            String::from_utf8(out.to_vec()).unwrap(),
            "GET http://example.com/ HTTP/1.1\r\nhost: example.com\r\nuser-agent: ua\r\n\r\n"
        );

        // The caller's own Proxy-Authorization wins; direct requests never get ours.
        let req = RequestBuilder::new(Method::POST, "http://h/up")
            .header("Proxy-Authorization", "Bearer mine")
            .build()
            .unwrap();
        let mut out = BytesMut::new();
        encode_chunked_request_head_via(&req, "ua", via, &mut out);
        let text = String::from_utf8(out.to_vec()).unwrap();
        assert!(text.starts_with("POST http://h/up HTTP/1.1\r\n"), "{text}");
        assert!(
            text.contains("proxy-authorization: Bearer mine\r\n"),
            "{text}"
        );
        assert!(!text.contains("cDpx"), "{text}");
        let req = Request::get("http://h/").unwrap();
        assert!(!enc(&req, "ua").contains("proxy-authorization"));
    }
}
