//! Helpers the generated code calls: tolerant decoding, query values, bodies and answer parsers.

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::{Deserializer, Serialize};
use serde_json::Value;

use super::operation::OperationInfo;
use plue_http_core::error::{ErrorKind, JsonOp};
use plue_http_core::response::Response;
use plue_http_core::url::percent_encode_into;

/// The OpenCode version the generated API was written from.
pub const DOCUMENT_VERSION: &str = "1.18.34";

/// A string enum: any string decodes (unknown values are kept by `from_wire`).
pub fn string_enum<'de, D: Deserializer<'de>, T>(
    d: D,
    from_wire: fn(&str) -> T,
) -> Result<T, D::Error> {
    let s: std::borrow::Cow<'de, str> = serde::Deserialize::deserialize(d)?;
    Ok(from_wire(&s))
}

/// A union member from an already-parsed value.
pub fn member<T: DeserializeOwned>(v: &Value) -> Result<T, serde_json::Error> {
    T::deserialize(v)
}

/// Appends a query parameter: strings as they are, numbers and booleans as JSON text, objects as
/// `name[key]=value` (OpenAPI `deepObject`), arrays as repeated names; `None`/`null` is left out.
pub fn push_query<T: Serialize + ?Sized>(q: &mut Vec<(String, String)>, name: &str, value: &T) {
    match serde_json::to_value(value) {
        Ok(Value::Object(m)) => {
            for (k, v) in m {
                push_value(q, format!("{name}[{k}]"), v);
            }
        }
        Ok(Value::Array(a)) => {
            for v in a {
                push_value(q, name.to_string(), v);
            }
        }
        Ok(v) => push_value(q, name.to_string(), v),
        Err(_) => {}
    }
}

fn push_value(q: &mut Vec<(String, String)>, name: String, v: Value) {
    match v {
        Value::Null => {}
        Value::String(s) => q.push((name, s)),
        other => q.push((name, other.to_string())),
    }
}

/// A JSON request body.
pub fn json_body<T: Serialize + ?Sized>(body: &T) -> Result<Bytes, ErrorKind> {
    serde_json::to_vec(body)
        .map(Bytes::from)
        .map_err(|e| ErrorKind::Json {
            op: JsonOp::Encode,
            message: e.to_string(),
            excerpt: String::new(),
        })
}

/// An optional JSON body: `None` is `{}` (OpenCode answers 400 to a POST without a body, even an optional one).
pub fn optional_body<T: Serialize>(body: &Option<T>) -> Result<Bytes, ErrorKind> {
    match body {
        Some(b) => json_body(b),
        None => Ok(Bytes::from_static(b"{}")),
    }
}

/// One path segment from a parameter: percent-encoded, never empty or a dot-segment (which would change the path).
pub fn segment(id: &str) -> Result<String, ErrorKind> {
    if id.is_empty() || id == "." || id == ".." {
        return Err(ErrorKind::InvalidRequest {
            field: "path",
            reason: "a path parameter is empty or a dot-segment",
        });
    }
    let mut out = String::with_capacity(id.len());
    percent_encode_into(id, &mut out);
    Ok(out)
}

/// A 2xx answer that is a web page: the server lacks the route and served its web UI.
pub fn check_not_html(r: &Response, info: &OperationInfo) -> Result<(), ErrorKind> {
    r.error_for_status()?;
    let ct = r.header("content-type").unwrap_or("");
    if ct
        .trim_start()
        .to_ascii_lowercase()
        .starts_with("text/html")
    {
        return Err(ErrorKind::UnsupportedByServer {
            operation: info.id.to_string(),
            server_version: None,
            client_version: DOCUMENT_VERSION.to_string(),
        });
    }
    Ok(())
}

/// A JSON answer.
pub fn json<T: DeserializeOwned>(r: &Response, info: &OperationInfo) -> Result<T, ErrorKind> {
    check_not_html(r, info)?;
    r.json()
}

/// An answer without a body.
pub fn empty(r: &Response, info: &OperationInfo) -> Result<(), ErrorKind> {
    check_not_html(r, info)
}

/// A text answer.
pub fn text(r: &Response, info: &OperationInfo) -> Result<String, ErrorKind> {
    check_not_html(r, info)?;
    Ok(r.text())
}

/// A binary answer.
pub fn bytes(r: &Response, info: &OperationInfo) -> Result<Bytes, ErrorKind> {
    check_not_html(r, info)?;
    Ok(r.body().clone())
}

/// An event stream is opened as a stream, not called.
pub fn event_stream<T>(_r: &Response, info: &OperationInfo) -> Result<T, ErrorKind> {
    Err(unsupported(info))
}

/// A WebSocket operation.
pub fn websocket(_r: &Response, info: &OperationInfo) -> Result<(), ErrorKind> {
    Err(unsupported(info))
}

/// Why `info` cannot be a plain call.
pub fn unsupported(info: &OperationInfo) -> ErrorKind {
    ErrorKind::Unsupported {
        operation: info.id,
        reason: match info.response {
            super::operation::ResponseKind::WebSocket => {
                "it upgrades to a WebSocket, which plue-http does not speak yet"
            }
            _ => "it is an event stream: open it with the typed stream constructors",
        },
    }
}

/// Decode through `T` and back to JSON.
pub fn redecode<T: DeserializeOwned + Serialize>(body: &[u8]) -> Result<Value, serde_json::Error> {
    let t: T = serde_json::from_slice(body)?;
    serde_json::to_value(&t)
}
