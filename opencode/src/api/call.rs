//! Typed calls for every generated operation, and untyped ones by `operationId` (the CLI's `plue api`).
//!
//! Routing follows the TypeScript SDK: `directory` and `workspace` go in the query on GET/HEAD and in the
//! `x-opencode-directory` / `x-opencode-workspace` headers otherwise; v2 (`/api/*`) operations take them as their
//! `location[directory]` / `location[workspace]` query object. A call sends none unless the caller set one (per
//! call in [`CallOptions`], or per client in `OpenCodeOptions::directory`): by default the server's own directory
//! applies.

use http::Method;

use super::operation::{Operation, OperationInfo, ParamIn, ResponseKind};
use super::wire;
use crate::calls::{header_safe, Api, Call};
use plue_http_core::error::ErrorKind;
use plue_http_core::request::{Request, RequestBuilder};
use plue_http_core::response::Response;

/// Per-call routing: which project directory and workspace the server should act in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallOptions {
    /// The project directory (overrides the client's).
    pub directory: Option<String>,
    /// The workspace (`wrk_…`).
    pub workspace: Option<String>,
}

impl CallOptions {
    /// Set the directory.
    pub fn directory(mut self, dir: impl Into<String>) -> Self {
        self.directory = Some(dir.into());
        self
    }

    /// Set the workspace.
    pub fn workspace(mut self, ws: impl Into<String>) -> Self {
        self.workspace = Some(ws.into());
        self
    }
}

/// Operations that block until the agent has answered: no read or whole-request timeout, and never retried.
const LONG: &[&str] = &[
    "session.prompt",
    "session.command",
    "session.shell",
    "session.summarize",
    "session.init",
    "v2.session.wait",
];

impl Api {
    /// The typed call for operation `op` (e.g. `api.op(&ops::SessionList::default(), &CallOptions::default())`).
    /// A WebSocket or event-stream operation answers [`ErrorKind::Unsupported`].
    pub fn op<O: Operation>(
        &self,
        op: &O,
        options: &CallOptions,
    ) -> Result<Call<O::Output>, ErrorKind> {
        let info = O::INFO;
        if matches!(
            info.response,
            ResponseKind::WebSocket | ResponseKind::EventStream
        ) {
            return Err(wire::unsupported(info));
        }
        let mut query = Vec::new();
        op.query(&mut query);
        let request = self.request_for(info, &op.path()?, query, op.body()?, options)?;
        Ok(Call {
            request,
            parse: O::parse,
        })
    }

    /// The request for the event-stream operation `op` (`/event`, `/global/event`, `/api/event`,
    /// `/api/session/{id}/event`), with `accept: text/event-stream`.
    pub fn op_stream<O: Operation>(
        &self,
        op: &O,
        options: &CallOptions,
    ) -> Result<Request, ErrorKind> {
        let mut query = Vec::new();
        op.query(&mut query);
        let mut r = self.request_for(O::INFO, &op.path()?, query, None, options)?;
        r.headers_mut().insert(
            http::header::ACCEPT,
            http::HeaderValue::from_static("text/event-stream"),
        );
        Ok(r)
    }

    /// An untyped call by `operationId`: `args` name path and query parameters (`sessionID=ses_…`,
    /// `location[directory]=…`), `body` is the JSON body. The answer is the server's JSON as it came (`null` for
    /// an empty answer, a string for text).
    pub fn op_raw(
        &self,
        info: &'static OperationInfo,
        args: &[(String, String)],
        body: Option<&serde_json::Value>,
        options: &CallOptions,
    ) -> Result<Call<serde_json::Value>, ErrorKind> {
        if matches!(
            info.response,
            ResponseKind::WebSocket | ResponseKind::EventStream
        ) {
            return Err(wire::unsupported(info));
        }
        let mut path = String::new();
        let mut rest = info.path;
        while let Some(open) = rest.find('{') {
            path.push_str(&rest[..open]);
            let close = rest[open..].find('}').map_or(rest.len(), |c| c + open);
            let name = &rest[open + 1..close];
            let value = args.iter().find(|(k, _)| k == name).map(|(_, v)| v).ok_or(
                ErrorKind::InvalidRequest {
                    field: "path",
                    reason: "a path parameter is missing",
                },
            )?;
            path.push_str(&wire::segment(value)?);
            rest = rest.get(close + 1..).unwrap_or("");
        }
        path.push_str(rest);
        let query = args
            .iter()
            .filter(|(k, _)| {
                !info
                    .params
                    .iter()
                    .any(|p| p.location == ParamIn::Path && p.name == k)
            })
            .cloned()
            .collect();
        let body = body.map(wire::json_body).transpose()?;
        let request = self.request_for(info, &path, query, body, options)?;
        let parse: fn(&Response) -> Result<serde_json::Value, ErrorKind> = match info.response {
            ResponseKind::Json => |r| {
                r.error_for_status()?;
                html_check(r)?;
                if r.body().is_empty() {
                    Ok(serde_json::Value::Null)
                } else {
                    r.json()
                }
            },
            _ => |r| {
                r.error_for_status()?;
                html_check(r)?;
                Ok(if r.body().is_empty() {
                    serde_json::Value::Null
                } else {
                    serde_json::Value::String(r.text())
                })
            },
        };
        Ok(Call { request, parse })
    }

    fn request_for(
        &self,
        info: &OperationInfo,
        path: &str,
        mut query: Vec<(String, String)>,
        body: Option<bytes::Bytes>,
        options: &CallOptions,
    ) -> Result<Request, ErrorKind> {
        let method =
            Method::from_bytes(info.method.as_bytes()).map_err(|_| ErrorKind::InvalidRequest {
                field: "method",
                reason: "not a method",
            })?;
        let directory = options.directory.as_deref().or(self.directory());
        let workspace = options.workspace.as_deref();
        let mut b: RequestBuilder = self.bare_builder(method.clone(), path);
        let in_query = method == Method::GET || method == Method::HEAD;
        for (name, value) in [("directory", directory), ("workspace", workspace)] {
            let Some(value) = value else { continue };
            if info.routing.contains(&name) {
                if in_query {
                    query.push((name.to_string(), value.to_string()));
                } else {
                    b = b.header(format!("x-opencode-{name}"), header_safe(value));
                }
            } else if info.location {
                let key = format!("location[{name}]");
                if !query.iter().any(|(k, _)| *k == key) {
                    query.push((key, value.to_string()));
                }
            }
        }
        for (k, v) in query {
            b = b.query(k, v);
        }
        if let Some(body) = body {
            b = b.header("content-type", "application/json").body(body);
        }
        if LONG.contains(&info.id) {
            b = b.max_retries(0).timeout(None).read_timeout(None);
        }
        b.build()
    }
}

fn html_check(r: &Response) -> Result<(), ErrorKind> {
    let ct = r.header("content-type").unwrap_or("");
    if ct
        .trim_start()
        .to_ascii_lowercase()
        .starts_with("text/html")
    {
        return Err(ErrorKind::UnsupportedByServer {
            operation: String::new(),
            server_version: None,
            client_version: wire::DOCUMENT_VERSION.to_string(),
        });
    }
    Ok(())
}
