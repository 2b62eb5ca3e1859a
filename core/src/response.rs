//! Responses: the decoded head, the collected response, and the JSON helpers.

use bytes::Bytes;
use http::{HeaderMap, StatusCode, Version};
use serde::de::DeserializeOwned;

use crate::error::{ApiError, ErrorKind, JsonOp};

/// A final response head as decoded from the wire.
///
/// ```
/// use plue_http_core::{ResponseHead, StatusCode};
///
/// let mut headers = plue_http_core::HeaderMap::new();
/// headers.insert("content-type", "Text/Event-Stream; charset=utf-8".parse().unwrap());
/// let head = ResponseHead { status: StatusCode::OK, version: http::Version::HTTP_11, headers };
/// assert_eq!(head.header("Content-Type"), Some("Text/Event-Stream; charset=utf-8"));
/// assert_eq!(head.media_type().as_deref(), Some("text/event-stream"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// The status code.
    pub status: StatusCode,
    /// HTTP/1.0 or HTTP/1.1.
    pub version: Version,
    /// The header fields in order received (names are case-insensitive).
    pub headers: HeaderMap,
}

impl ResponseHead {
    /// The `Content-Encoding` codings applied to the body as it stands, in order (`identity` and empty items
    /// left out), or `None` when the body is not encoded. A layer that decodes the body removes the header, so
    /// what remains here was not decoded.
    pub(crate) fn content_coding(&self) -> Option<String> {
        let mut codings = Vec::new();
        for v in self.headers.get_all(http::header::CONTENT_ENCODING) {
            for c in String::from_utf8_lossy(v.as_bytes()).split(',') {
                let c = c.trim();
                if !c.is_empty() && !c.eq_ignore_ascii_case("identity") {
                    codings.push(c.to_string());
                }
            }
        }
        (!codings.is_empty()).then(|| codings.join(", "))
    }

    /// A header value as text, looked up case-insensitively; `None` when absent or not visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `Content-Type` without parameters, lowercased (`text/event-stream; charset=utf-8` → `text/event-stream`).
    pub fn media_type(&self) -> Option<String> {
        self.header("content-type").map(|ct| {
            ct.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
    }
}

/// A complete response: head and collected body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    head: ResponseHead,
    body: Bytes,
}

impl Response {
    /// Assemble a response.
    pub fn new(head: ResponseHead, body: Bytes) -> Self {
        Response { head, body }
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.head.status
    }

    /// The HTTP version.
    pub fn version(&self) -> Version {
        self.head.version
    }

    /// `true` for 2xx.
    pub fn is_success(&self) -> bool {
        self.head.status.is_success()
    }

    /// All headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.head.headers
    }

    /// A header value looked up case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.header(name)
    }

    /// The head.
    pub fn head(&self) -> &ResponseHead {
        &self.head
    }

    /// The body bytes.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// Consume into head and body.
    pub fn into_parts(self) -> (ResponseHead, Bytes) {
        (self.head, self.body)
    }

    /// The body as text, invalid UTF-8 replaced with U+FFFD.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Decode the body as JSON, whatever the status. Unknown fields are ignored (unless `T` says otherwise);
    /// nesting is limited to serde_json's recursion limit (128). A body still carrying a `Content-Encoding`
    /// (other than `identity`) is [`ErrorKind::UnsupportedContentEncoding`] naming the coding, not a JSON error
    /// quoting compressed bytes.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ErrorKind> {
        if let Some(coding) = self.head.content_coding() {
            return Err(ErrorKind::UnsupportedContentEncoding { coding });
        }
        decode_json(&self.body)
    }

    /// Decode a 2xx body as JSON; a non-2xx status becomes [`ErrorKind::Status`] with the parsed error body.
    pub fn success_json<T: DeserializeOwned>(&self) -> Result<T, ErrorKind> {
        self.error_for_status()?;
        self.json()
    }

    /// `Ok(())` for 2xx, else [`ErrorKind::Status`] carrying the server's error body.
    pub fn error_for_status(&self) -> Result<(), ErrorKind> {
        if self.is_success() {
            Ok(())
        } else {
            Err(ErrorKind::Status(ApiError::from_body(
                self.status().as_u16(),
                &self.body,
            )))
        }
    }
}

/// Decode JSON bytes into `T`, with a short excerpt of the body in the error.
pub fn decode_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ErrorKind> {
    serde_json::from_slice(body).map_err(|e| ErrorKind::Json {
        op: JsonOp::Decode,
        message: e.to_string(),
        excerpt: excerpt(body, 80),
    })
}

/// The first `max` characters of a body, lossily decoded, with `…` when cut.
pub fn excerpt(body: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(max * 4)]);
    let mut out: String = text.chars().take(max).collect();
    if out.len() < body.len() {
        out.push('…');
    }
    out
}

impl ApiError {
    /// Parse an error body: `{"name":…,"data":{"message":…}}`, `{"_tag":…}`, `{"message":…}`,
    /// `{"error":…}`, plain text, or nothing. The raw body is kept (cut at 4 KiB).
    pub fn from_body(status: u16, body: &[u8]) -> ApiError {
        let raw = String::from_utf8_lossy(&body[..body.len().min(4096)]).into_owned();
        let mut e = ApiError {
            status,
            name: None,
            message: None,
            body: raw,
        };
        match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(serde_json::Value::Object(map)) => {
                let s =
                    |v: Option<&serde_json::Value>| v.and_then(|v| v.as_str()).map(str::to_string);
                e.name = s(map.get("name")).or_else(|| s(map.get("_tag")));
                e.message = map
                    .get("data")
                    .and_then(|d| s(d.get("message")))
                    .or_else(|| s(map.get("message")))
                    .or_else(|| s(map.get("error")))
                    .or_else(|| map.get("error").and_then(|err| s(err.get("message"))));
            }
            Ok(serde_json::Value::String(text)) => e.message = Some(text),
            Ok(_) => {}
            Err(_) => {
                let text = e.body.trim();
                if !text.is_empty() {
                    e.message = Some(excerpt(text.as_bytes(), 200));
                }
            }
        }
        e
    }
}

/// A head for unit tests: `status`, HTTP/1.1, these fields in order.
#[cfg(test)]
pub(crate) fn test_head(status: u16, headers: &[(&str, &str)]) -> ResponseHead {
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        map.append(
            http::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    ResponseHead {
        status: StatusCode::from_u16(status).unwrap(),
        version: Version::HTTP_11,
        headers: map,
    }
}

/// A whole response for unit tests (see [`test_head`]).
#[cfg(test)]
pub(crate) fn test_response(status: u16, headers: &[(&str, &str)], body: &'static str) -> Response {
    Response::new(
        test_head(status, headers),
        Bytes::from_static(body.as_bytes()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16, ct: &str, body: &'static str) -> Response {
        test_response(status, &[("Content-Type", ct)], body)
    }

    #[test]
    fn header_lookup_is_case_insensitive() {
        let r = resp(200, "Text/Event-Stream; charset=utf-8", "");
        assert_eq!(
            r.header("CONTENT-TYPE"),
            Some("Text/Event-Stream; charset=utf-8")
        );
        assert_eq!(r.head().media_type().as_deref(), Some("text/event-stream"));
        assert!(r.is_success());
    }

    #[test]
    fn json_ignores_unknown_fields_and_errors_carry_excerpt() {
        #[derive(Debug, serde::Deserialize)]
        struct H {
            healthy: bool,
        }
        let r = resp(
            200,
            "application/json",
            r#"{"healthy":true,"version":"1.18.34"}"#,
        );
        assert!(r.success_json::<H>().unwrap().healthy);
        let bad = resp(200, "application/json", "<html>oops</html>");
        match bad.json::<H>().unwrap_err() {
            ErrorKind::Json {
                op: JsonOp::Decode,
                excerpt,
                ..
            } => assert_eq!(excerpt, "<html>oops</html>"),
            e => panic!("{e:?}"),
        }
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert!(decode_json::<serde_json::Value>(deep.as_bytes()).is_err());
    }

    /// Issue 20 item 11: an unrequested `Content-Encoding` on a body read as JSON is an error naming the coding
    /// (never a JSON error quoting binary); `identity` is no encoding.
    #[test]
    fn json_with_an_undecoded_content_encoding_names_the_coding() {
        let gz = test_response(
            200,
            &[
                ("Content-Type", "application/json"),
                ("Content-Encoding", "gzip"),
            ],
            "\u{1f}\u{8b}\u{8}\0\0\0\0\0",
        );
        let e = gz.json::<serde_json::Value>().unwrap_err();
        assert_eq!(
            e,
            ErrorKind::UnsupportedContentEncoding {
                coding: "gzip".into()
            }
        );
        assert_eq!(
            e.to_string(),
            "the response body is encoded with \"gzip\" (Content-Encoding), which was not asked for and is not \
             decoded"
        );
        assert_eq!(gz.success_json::<serde_json::Value>().unwrap_err(), e);
        let two = test_response(
            200,
            &[
                ("Content-Encoding", "gzip, identity"),
                ("Content-Encoding", "br"),
            ],
            "x",
        );
        assert_eq!(
            two.json::<serde_json::Value>().unwrap_err(),
            ErrorKind::UnsupportedContentEncoding {
                coding: "gzip, br".into()
            }
        );
        let plain = test_response(200, &[("Content-Encoding", "Identity")], "[1]");
        assert_eq!(plain.json::<Vec<u8>>().unwrap(), vec![1]);
    }

    #[test]
    fn api_error_shapes() {
        let e = ApiError::from_body(
            404,
            br#"{"name":"NotFoundError","data":{"message":"Session not found: ses_1"}}"#,
        );
        assert_eq!(e.name.as_deref(), Some("NotFoundError"));
        assert_eq!(e.message.as_deref(), Some("Session not found: ses_1"));
        let e = ApiError::from_body(400, br#"{"_tag":"BadRequest"}"#);
        assert_eq!(e.name.as_deref(), Some("BadRequest"));
        let e = ApiError::from_body(500, b"Internal Server Error");
        assert_eq!(e.message.as_deref(), Some("Internal Server Error"));
        let e = ApiError::from_body(401, b"");
        assert_eq!((e.name, e.message, e.body.as_str()), (None, None, ""));
        let r = resp(
            404,
            "application/json",
            r#"{"name":"NotFoundError","data":{"message":"gone"}}"#,
        );
        assert!(matches!(
            r.success_json::<serde_json::Value>(),
            Err(ErrorKind::Status(ApiError { status: 404, .. }))
        ));
    }
}
