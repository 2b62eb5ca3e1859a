//! What every generated operation is: its table entry ([`OperationInfo`]) and the [`Operation`] trait that builds
//! its request pieces and parses its answer. [`Api::op`](crate::Api::op) turns one into a [`Call`](crate::Call).

use bytes::Bytes;
use plue_http_core::error::ErrorKind;
use plue_http_core::response::Response;

/// Where a parameter goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamIn {
    /// A `{name}` segment of the path.
    Path,
    /// A query parameter.
    Query,
}

/// One parameter of an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParamInfo {
    /// The name in the document (`sessionID`, `location`, …).
    pub name: &'static str,
    /// Path or query.
    pub location: ParamIn,
    /// Whether the operation needs it.
    pub required: bool,
}

/// What a successful answer carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseKind {
    /// JSON, decoded into the operation's output type.
    Json,
    /// Nothing (204).
    Empty,
    /// Text (a diff).
    Text,
    /// Bytes (a file).
    Bytes,
    /// An event stream: open it with the typed stream constructors ([`OpenCode::events`](crate::OpenCode::events),
    /// …); a plain call answers [`ErrorKind::Unsupported`].
    EventStream,
    /// A WebSocket upgrade: listed and typed, but a call answers [`ErrorKind::Unsupported`] (not spoken yet).
    WebSocket,
}

/// Re-decodes a JSON body through the operation's output type and back to JSON (tolerant decoding keeps every
/// member, so the result equals the input for any body of the documented shape).
pub type Redecode = fn(&[u8]) -> Result<serde_json::Value, serde_json::Error>;

/// One operation of the document, as data (the CLI's `plue api` and the tests walk [`OPERATIONS`](crate::generated::OPERATIONS)).
#[derive(Debug, Clone, Copy)]
pub struct OperationInfo {
    /// The `operationId` (`session.list`).
    pub id: &'static str,
    /// `GET`, `POST`, …
    pub method: &'static str,
    /// The path template (`/session/{sessionID}`).
    pub path: &'static str,
    /// The document's one-line summary.
    pub summary: &'static str,
    /// Path and query parameters, without the routing ones.
    pub params: &'static [ParamInfo],
    /// The routing parameters it takes (`directory`, `workspace`): filled from [`CallOptions`](crate::api::CallOptions).
    pub routing: &'static [&'static str],
    /// Whether it takes a v2 `location` (`location[directory]`, `location[workspace]`) query object.
    pub location: bool,
    /// Whether it takes a JSON body.
    pub body: bool,
    /// What a success carries.
    pub response: ResponseKind,
    /// For JSON answers: decode through the typed output and back.
    pub decode: Option<Redecode>,
}

/// A typed operation: a struct of its parameters and body.
pub trait Operation {
    /// The typed answer.
    type Output;
    /// Its table entry.
    const INFO: &'static OperationInfo;
    /// The path with its parameters filled in (each one percent-encoded as one segment).
    fn path(&self) -> Result<String, ErrorKind>;
    /// Appends its query parameters (unset ones are left out).
    fn query(&self, q: &mut Vec<(String, String)>);
    /// The JSON body, if it has one.
    fn body(&self) -> Result<Option<Bytes>, ErrorKind>;
    /// Parses the answer.
    fn parse(r: &Response) -> Result<Self::Output, ErrorKind>;
}

/// The operation named `id`.
pub fn find(id: &str) -> Option<&'static OperationInfo> {
    crate::generated::OPERATIONS
        .iter()
        .copied()
        .find(|o| o.id == id)
}
