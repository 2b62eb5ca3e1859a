//! `plue api`: any operation of the OpenCode 1.18.34 document by its `operationId`.
//!
//! `plue api --list` prints every operationId, one per line, from the generated table (no server is contacted
//! or started). `plue api session.get sessionID=ses_… [--body JSON]` fills path and query parameters by name
//! and prints the server's JSON. `--directory` routes the call (query on GET/HEAD, header otherwise).

use plue_opencode::api::operation::{find, OperationInfo, ParamIn};
use plue_opencode::api::{CallOptions, VersionCheck};
use plue_opencode::generated::OPERATIONS;

use crate::fail::Fail;
use crate::oc::Oc;
use crate::ui::Ui;

/// Every operationId, one per line.
pub fn list(ui: &Ui) {
    for op in OPERATIONS {
        if ui.json() {
            ui.emit(&serde_json::json!({"id": op.id, "method": op.method, "path": op.path, "summary": op.summary}));
        } else {
            ui.out(op.id);
        }
    }
}

/// The operation and its arguments, checked before any server is contacted.
#[derive(Debug)]
pub struct Request {
    info: &'static OperationInfo,
    args: Vec<(String, String)>,
    body: Option<serde_json::Value>,
}

/// Check `operation`, `name=value` parameters and the body (bad ones are usage errors, exit 2).
pub fn parse(operation: &str, params: &[String], body: Option<&str>) -> Result<Request, Fail> {
    let info = find(operation).ok_or_else(|| {
        Fail::usage(format!(
            "Unknown operation {operation:?}: `plue api --list` prints the {} operations.",
            OPERATIONS.len()
        ))
    })?;
    let mut args = Vec::new();
    for p in params {
        let Some((name, value)) = p.split_once('=') else {
            return Err(Fail::usage(format!("Expected name=value, got {p:?}.")));
        };
        let known = info.params.iter().any(|q| q.name == name)
            || (info.location && name.starts_with("location["));
        if !known {
            let names: Vec<&str> = info.params.iter().map(|q| q.name).collect();
            return Err(Fail::usage(format!(
                "{} takes no parameter {name:?} (it takes: {}).",
                info.id,
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            )));
        }
        args.push((name.to_string(), value.to_string()));
    }
    for q in info.params.iter().filter(|q| q.required) {
        if !args.iter().any(|(n, _)| n == q.name) {
            let place = if q.location == ParamIn::Path {
                "path"
            } else {
                "query"
            };
            return Err(Fail::usage(format!(
                "{} needs the {place} parameter {}=….",
                info.id, q.name
            )));
        }
    }
    let body = match body {
        Some(text) => Some(
            serde_json::from_str(text)
                .map_err(|e| Fail::usage(format!("--body is not JSON: {e}.")))?,
        ),
        None => None,
    };
    if body.is_some() && !info.body {
        return Err(Fail::usage(format!("{} takes no body.", info.id)));
    }
    Ok(Request { info, args, body })
}

/// Call it and print the JSON (pretty; one line with `--json`).
pub fn run(oc: &Oc, request: &Request) -> Result<(), Fail> {
    // The version check warns once on stderr and goes on; a server that cannot answer it fails the call below.
    if let Ok(VersionCheck::Differs { server, client }) =
        futures_lite::future::block_on(oc.check_version())
    {
        oc.ui.info(&format!(
            "Warning: the server runs OpenCode {server}; plue's API was generated from {client}. Going on."
        ));
    }
    let id = request.info.id;
    let value = oc.call(
        &format!("call {id}"),
        &format!("{id} answered"),
        oc.send_raw(
            id,
            &request.args,
            request.body.as_ref(),
            &CallOptions::default(),
        ),
    )?;
    if oc.ui.json() {
        oc.ui.emit(&value);
    } else {
        oc.ui
            .out(&serde_json::to_string_pretty(&value).unwrap_or_else(|_| value.to_string()));
    }
    Ok(())
}
