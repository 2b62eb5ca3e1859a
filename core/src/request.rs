//! Requests and the fluent [`RequestBuilder`].
//!
//! Everything a server could be confused by is refused here, before a byte is sent: CR, LF or NUL in a header
//! name or value (response splitting), a header name that is not an RFC 9110 token, an invalid method, two
//! conflicting body setters, and an invalid URL.

use core::time::Duration;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderMap, Method};
use serde::Serialize;

use crate::error::{ErrorKind, JsonOp};
use crate::url::{percent_encode_into, Url};

/// A request body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Body {
    /// No body (no `Content-Length` for GET/HEAD/DELETE/OPTIONS, `Content-Length: 0` otherwise).
    #[default]
    Empty,
    /// A complete body, sent with `Content-Length`. Replayable on retry and on 307/308.
    Full(Bytes),
}

impl Body {
    /// The bytes, empty for [`Body::Empty`].
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Body::Empty => &[],
            Body::Full(b) => b,
        }
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// `true` when there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Per-request overrides of the client's options. `None` means "use the client's setting".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestOptions {
    /// Whole-request deadline; `Some(None)` means unlimited.
    pub timeout: Option<Option<Duration>>,
    /// Per-attempt connect deadline.
    pub connect_timeout: Option<Duration>,
    /// Per-attempt silence limit while waiting for the head or between body bytes; `Some(None)` = unlimited.
    pub read_timeout: Option<Option<Duration>>,
    /// Retries after the first attempt.
    pub max_retries: Option<u32>,
    /// Replay this request even when it may have reached the server and is not idempotent (caller's opt-in).
    pub retry_non_idempotent: bool,
    /// Redirects to follow; `Some(0)` returns 3xx responses as they are.
    pub max_redirects: Option<u32>,
    /// The caller collects the whole body into memory (set by the runtimes' collecting calls, not by streaming
    /// ones): a response declaring a `Content-Length` above `max_body_size` is then refused from its head, before a
    /// byte of the body is buffered.
    pub collect_body: bool,
}

/// A validated request, ready for the client machine.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub(crate) method: Method,
    pub(crate) url: Url,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Body,
    pub(crate) options: RequestOptions,
}

impl Request {
    /// Start building a request. `url` may be relative when a base is given with [`RequestBuilder::base`].
    pub fn builder(method: Method, url: impl Into<String>) -> RequestBuilder {
        RequestBuilder::new(method, url)
    }

    /// A GET request to an absolute URL.
    pub fn get(url: &str) -> Result<Request, ErrorKind> {
        RequestBuilder::new(Method::GET, url).build()
    }

    /// The method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The URL.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The headers set by the caller (Host, User-Agent and framing headers are added by the encoder).
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// Mutable headers (already validated values only: `HeaderValue` cannot hold CR, LF or NUL).
    pub fn headers_mut(&mut self) -> &mut HeaderMap {
        &mut self.headers
    }

    /// The body.
    pub fn body(&self) -> &Body {
        &self.body
    }

    /// Per-request option overrides.
    pub fn options(&self) -> &RequestOptions {
        &self.options
    }

    /// Mutable per-request option overrides.
    pub fn options_mut(&mut self) -> &mut RequestOptions {
        &mut self.options
    }

    /// Replace the URL (redirects).
    pub fn set_url(&mut self, url: Url) {
        self.url = url;
    }

    /// Replace the method and body (a redirect turning into GET).
    pub fn set_method_and_body(&mut self, method: Method, body: Body) {
        self.method = method;
        self.body = body;
    }

    /// `true` for methods RFC 9110 calls idempotent (GET, HEAD, OPTIONS, TRACE, PUT, DELETE).
    pub fn is_idempotent_method(&self) -> bool {
        is_idempotent(&self.method)
    }

    /// `true` when the request may be replayed after it may have reached the server: an idempotent method,
    /// an `Idempotency-Key` header, or the caller's explicit opt-in.
    pub fn is_replay_safe(&self) -> bool {
        self.is_idempotent_method()
            || self.headers.contains_key("idempotency-key")
            || self.options.retry_non_idempotent
    }
}

/// RFC 9110 §9.2.2 idempotent methods.
pub fn is_idempotent(m: &Method) -> bool {
    matches!(
        *m,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}

/// Fluent builder for [`Request`]. The first problem found is kept and returned by [`RequestBuilder::build`].
///
/// ```
/// use plue_http_core::{ErrorKind, Method, Request};
///
/// let req = Request::builder(Method::POST, "http://127.0.0.1:4096/session")
///     .header("x-opencode-directory", "/tmp/project")
///     .json(&serde_json::json!({"title": "plue"}))
///     .build()
///     .unwrap();
/// assert_eq!(req.method(), Method::POST);
/// assert_eq!(req.headers()["content-type"], "application/json");
///
/// // Bad input is refused before a byte is sent, and the error names the field.
/// let bad = Request::builder(Method::GET, "http://127.0.0.1:4096/").header("x-a", "1\r\nInjected: yes").build();
/// assert!(matches!(bad, Err(ErrorKind::InvalidHeader { .. })));
/// ```
#[derive(Debug)]
#[must_use = "a builder does nothing until built"]
pub struct RequestBuilder {
    method: Method,
    base: Option<Url>,
    url: String,
    query: Vec<(String, String)>,
    headers: HeaderMap,
    body: Option<(Body, Option<&'static str>)>,
    options: RequestOptions,
    error: Option<ErrorKind>,
}

impl RequestBuilder {
    /// A builder for `method` and `url` (absolute, or relative to [`RequestBuilder::base`]).
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        RequestBuilder {
            method,
            base: None,
            url: url.into(),
            query: Vec::new(),
            headers: HeaderMap::new(),
            body: None,
            options: RequestOptions::default(),
            error: None,
        }
    }

    fn fail(&mut self, e: ErrorKind) {
        if self.error.is_none() {
            self.error = Some(e);
        }
    }

    /// The base URL a relative `url` is joined to, with exactly one `/` between them.
    pub fn base(mut self, base: Option<&Url>) -> Self {
        self.base = base.cloned();
        self
    }

    /// Replace the URL.
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = url.into();
        self
    }

    /// Replace the method from a string (validated as an RFC 9110 token).
    pub fn method_str(mut self, method: &str) -> Self {
        match Method::from_bytes(method.as_bytes()) {
            Ok(m) => self.method = m,
            Err(_) => self.fail(ErrorKind::InvalidRequest {
                field: "method",
                reason: "not a valid method token",
            }),
        }
        self
    }

    /// Add a header. CR, LF and NUL are refused in names and values; names must be tokens.
    pub fn header(mut self, name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Self {
        match validate_header(name.as_ref(), value.as_ref()) {
            Ok((n, v)) => {
                self.headers.append(n, v);
            }
            Err(e) => self.fail(e),
        }
        self
    }

    /// Add a query parameter; both parts are percent-encoded.
    pub fn query(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.query.push((key.into(), value.into()));
        self
    }

    fn set_body(&mut self, body: Body, content_type: Option<&'static str>) {
        if self.body.is_some() {
            self.fail(ErrorKind::InvalidRequest {
                field: "body",
                reason: "set twice (body, json and form conflict)",
            });
            return;
        }
        self.body = Some((body, content_type));
    }

    /// A raw body, sent with `Content-Length`.
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.set_body(Body::Full(body.into()), None);
        self
    }

    /// A JSON body from any `Serialize`; sets `Content-Type: application/json`.
    pub fn json<T: Serialize + ?Sized>(mut self, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(v) => self.set_body(Body::Full(v.into()), Some("application/json")),
            Err(e) => self.fail(ErrorKind::Json {
                op: JsonOp::Encode,
                message: e.to_string(),
                excerpt: String::new(),
            }),
        }
        self
    }

    /// A `application/x-www-form-urlencoded` body from a `Serialize` struct or map of scalar values.
    pub fn form<T: Serialize + ?Sized>(mut self, value: &T) -> Self {
        match encode_form(value) {
            Ok(v) => self.set_body(
                Body::Full(v.into()),
                Some("application/x-www-form-urlencoded"),
            ),
            Err(e) => self.fail(e),
        }
        self
    }

    /// Whole-request deadline for this request (`None` = unlimited).
    pub fn timeout(mut self, timeout: Option<Duration>) -> Self {
        self.options.timeout = Some(timeout);
        self
    }

    /// Per-attempt read deadline for this request (`None` = unlimited).
    pub fn read_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.options.read_timeout = Some(timeout);
        self
    }

    /// Per-attempt connect deadline for this request.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.options.connect_timeout = Some(timeout);
        self
    }

    /// Retries after the first attempt, for this request.
    pub fn max_retries(mut self, n: u32) -> Self {
        self.options.max_retries = Some(n);
        self
    }

    /// Opt in to replaying this request even if it may have reached the server and is not idempotent.
    pub fn retry_non_idempotent(mut self, yes: bool) -> Self {
        self.options.retry_non_idempotent = yes;
        self
    }

    /// Redirects to follow for this request (0 returns 3xx responses as they are).
    pub fn max_redirects(mut self, n: u32) -> Self {
        self.options.max_redirects = Some(n);
        self
    }

    /// Say the body will be collected into memory (see [`RequestOptions::collect_body`]).
    pub fn collect_body(mut self, yes: bool) -> Self {
        self.options.collect_body = yes;
        self
    }

    /// Validate and build.
    pub fn build(self) -> Result<Request, ErrorKind> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let mut url = match &self.base {
            Some(base) => base.join(&self.url)?,
            None => Url::parse(&self.url)?,
        };
        for (k, v) in &self.query {
            url.append_query(k, v);
        }
        let mut headers = self.headers;
        if let Some((user, pass)) = url.credentials() {
            if !headers.contains_key(AUTHORIZATION) {
                let token = base64_encode(format!("{user}:{pass}").as_bytes());
                let mut v = HeaderValue::from_str(&format!("Basic {token}")).map_err(|_| {
                    ErrorKind::InvalidUrl {
                        url: url.redacted(),
                        reason: "credentials cannot be encoded",
                    }
                })?;
                v.set_sensitive(true);
                headers.insert(AUTHORIZATION, v);
            }
            url = url.without_credentials();
        }
        let body = match self.body {
            None => Body::Empty,
            Some((body, ct)) => {
                if let Some(ct) = ct {
                    if !headers.contains_key(CONTENT_TYPE) {
                        headers.insert(CONTENT_TYPE, HeaderValue::from_static(ct));
                    }
                }
                body
            }
        };
        Ok(Request {
            method: self.method,
            url,
            headers,
            body,
            options: self.options,
        })
    }
}

/// Validate one header, naming it in the error.
pub fn validate_header(name: &[u8], value: &[u8]) -> Result<(HeaderName, HeaderValue), ErrorKind> {
    let shown = String::from_utf8_lossy(name).into_owned();
    let bad = |reason| ErrorKind::InvalidHeader {
        name: shown.clone(),
        reason,
    };
    if name.iter().any(|&b| b == b'\r' || b == b'\n') {
        return Err(bad("name contains CR or LF"));
    }
    if name.contains(&0) {
        return Err(bad("name contains NUL"));
    }
    let n = HeaderName::from_bytes(name).map_err(|_| bad("name is not a valid token"))?;
    if value.iter().any(|&b| b == b'\r' || b == b'\n') {
        return Err(bad("value contains CR or LF"));
    }
    if value.contains(&0) {
        return Err(bad("value contains NUL"));
    }
    let mut v =
        HeaderValue::from_bytes(value).map_err(|_| bad("value contains a control character"))?;
    if n == AUTHORIZATION || n.as_str() == "proxy-authorization" || n.as_str() == "cookie" {
        v.set_sensitive(true);
    }
    Ok((n, v))
}

fn encode_form<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, ErrorKind> {
    let enc = |message: String| ErrorKind::Json {
        op: JsonOp::Encode,
        message,
        excerpt: String::new(),
    };
    let v = serde_json::to_value(value).map_err(|e| enc(e.to_string()))?;
    let serde_json::Value::Object(map) = v else {
        return Err(enc("a form body must be a struct or a map".into()));
    };
    let mut out = String::new();
    for (k, v) in map {
        let s = match v {
            serde_json::Value::Null => continue,
            serde_json::Value::String(s) => s,
            serde_json::Value::Bool(b) => b.to_string(),
            serde_json::Value::Number(n) => n.to_string(),
            _ => return Err(enc(format!("form field {k:?} is not a scalar"))),
        };
        if !out.is_empty() {
            out.push('&');
        }
        percent_encode_into(&k, &mut out);
        out.push('=');
        percent_encode_into(&s, &mut out);
    }
    Ok(out.into_bytes())
}

/// Standard base64 with padding (Basic auth only; not worth a dependency).
pub fn base64_encode(input: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for c in input.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if c.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if c.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_sets_json_and_refuses_conflicts() {
        let r = Request::builder(Method::POST, "http://h/session")
            .json(&serde_json::json!({"title": "t"}))
            .build()
            .unwrap();
        assert_eq!(r.headers().get(CONTENT_TYPE).unwrap(), "application/json");
        assert_eq!(r.body().as_bytes(), br#"{"title":"t"}"#);
        let e = Request::builder(Method::POST, "http://h/")
            .json(&1)
            .body("x")
            .build()
            .unwrap_err();
        assert!(matches!(e, ErrorKind::InvalidRequest { field: "body", .. }));
    }

    #[test]
    fn header_injection_is_refused_and_named() {
        let e = Request::builder(Method::GET, "http://h/")
            .header("X-A", "a\r\nInjected: 1")
            .build()
            .unwrap_err();
        assert_eq!(
            e,
            ErrorKind::InvalidHeader {
                name: "X-A".into(),
                reason: "value contains CR or LF"
            }
        );
        let e = Request::builder(Method::GET, "http://h/")
            .header("X\0B", "v")
            .build()
            .unwrap_err();
        assert_eq!(
            e,
            ErrorKind::InvalidHeader {
                name: "X\0B".into(),
                reason: "name contains NUL"
            }
        );
        let e = Request::builder(Method::GET, "http://h/")
            .header("Bad Name", "v")
            .build()
            .unwrap_err();
        assert!(matches!(
            e,
            ErrorKind::InvalidHeader {
                reason: "name is not a valid token",
                ..
            }
        ));
    }

    #[test]
    fn userinfo_becomes_basic_auth() {
        let r = Request::get("http://opencode:pw@127.0.0.1:4096/event").unwrap();
        assert_eq!(
            r.headers().get(AUTHORIZATION).unwrap(),
            "Basic b3BlbmNvZGU6cHc="
        );
        assert_eq!(r.url().redacted(), "http://127.0.0.1:4096/event");
        assert!(r.url().credentials().is_none());
    }

    #[test]
    fn https_builds_and_form_encodes() {
        let r = Request::get("https://h/").unwrap();
        assert_eq!(r.url().port(), 443);
        assert_eq!(
            Request::get("ftp://h/").unwrap_err(),
            ErrorKind::UnsupportedScheme {
                scheme: "ftp".into()
            }
        );
        let r = Request::builder(Method::POST, "/x")
            .base(Some(&Url::parse("http://h/api").unwrap()))
            .form(&serde_json::json!({"a": "b c", "n": 1}))
            .query("q", "ä")
            .build()
            .unwrap();
        assert_eq!(r.body().as_bytes(), b"a=b%20c&n=1");
        assert_eq!(r.url().path_and_query(), "/api/x?q=%C3%A4");
        assert!(!r.is_replay_safe());
        assert_eq!(base64_encode(b"ab"), "YWI=");
    }
}
