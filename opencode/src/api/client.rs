//! The generated operations on the async client: [`OpenCode::send`] for any typed operation,
//! [`OpenCode::send_raw`] by `operationId`, the version check, and the typed event streams of the whole API.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use serde::de::DeserializeOwned;

use super::call::CallOptions;
use super::operation::{Operation, OperationInfo};
use super::wire::DOCUMENT_VERSION;
use crate::client::{Events, OpenCode};
use crate::generated::ops;
use crate::generated::types::{Event, GlobalEvent, SessionDurableEvent, V2Event};
use plue_http_core::error::{Error, ErrorKind, JsonOp};
use plue_http_core::response::excerpt;

/// The server's version against the document's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionCheck {
    /// The server runs the version the API was generated from.
    Same {
        /// That version.
        version: String,
    },
    /// It runs another: calls may meet routes or members this client does not know (they still decode).
    Differs {
        /// The server's version.
        server: String,
        /// The document's.
        client: String,
    },
}

/// Servers already warned about (one warning per server URL per process).
static WARNED: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

fn parse_event<T: DeserializeOwned>(data: &str) -> Result<T, ErrorKind> {
    serde_json::from_str(data).map_err(|e| ErrorKind::Json {
        op: JsonOp::Decode,
        message: e.to_string(),
        excerpt: excerpt(data.as_bytes(), 80),
    })
}

impl OpenCode {
    /// Send a typed operation with the client's routing (`OpenCodeOptions::directory`).
    pub async fn send<O: Operation>(&self, op: &O) -> Result<O::Output, Error> {
        self.send_with(op, &CallOptions::default()).await
    }

    /// Send a typed operation with per-call routing.
    pub async fn send_with<O: Operation>(
        &self,
        op: &O,
        options: &CallOptions,
    ) -> Result<O::Output, Error> {
        let call = self.api().op(op, options);
        match self.call(call).await {
            Err(e) => Err(self.name_versions(e, O::INFO).await),
            ok => ok,
        }
    }

    /// Send the operation named `id` with parameters by name and an optional JSON body; the answer is the
    /// server's JSON as it came. An unknown `id` is [`ErrorKind::InvalidRequest`].
    pub async fn send_raw(
        &self,
        id: &str,
        args: &[(String, String)],
        body: Option<&serde_json::Value>,
        options: &CallOptions,
    ) -> Result<serde_json::Value, Error> {
        let info = super::operation::find(id).ok_or_else(|| {
            Error::new(ErrorKind::InvalidRequest {
                field: "operation",
                reason: "no such operationId in the OpenCode 1.18.34 document",
            })
        })?;
        let call = self.api().op_raw(info, args, body, options);
        match self.call(call).await {
            Err(e) => Err(self.name_versions(e, info).await),
            ok => ok,
        }
    }

    /// Compare the server's version (`GET /global/health`) with the document's. When they differ, logs one
    /// warning per server (tracing, `warn`) and goes on: unknown members and values still decode.
    pub async fn check_version(&self) -> Result<VersionCheck, Error> {
        let health = self.send(&ops::GlobalHealth::default()).await?;
        if health.version == DOCUMENT_VERSION {
            return Ok(VersionCheck::Same {
                version: health.version,
            });
        }
        let first = WARNED
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(self.url());
        if first {
            tracing::warn!(
                server = %health.version,
                client = DOCUMENT_VERSION,
                "the OpenCode server runs {}, this client was generated from {}; going on",
                health.version,
                DOCUMENT_VERSION
            );
        }
        Ok(VersionCheck::Differs {
            server: health.version,
            client: DOCUMENT_VERSION.to_string(),
        })
    }

    /// An `UnsupportedByServer` error names the operation and the server's version (asked now: the error path
    /// is rare, and the server may have been replaced since any earlier check).
    async fn name_versions(&self, e: Error, info: &OperationInfo) -> Error {
        let ErrorKind::UnsupportedByServer { client_version, .. } = e.kind() else {
            return e;
        };
        let client_version = client_version.clone();
        let server_version = match self
            .call(
                self.api()
                    .op(&ops::GlobalHealth::default(), &CallOptions::default()),
            )
            .await
        {
            Ok(h) => Some(h.version),
            Err(_) => None,
        };
        Error::new(ErrorKind::UnsupportedByServer {
            operation: info.id.to_string(),
            server_version,
            client_version,
        })
    }

    /// `/event` with every member of the document's `Event` union (and `server.heartbeat`) typed; unknown ones
    /// are `Event::Unknown`. Reconnects by itself.
    pub fn typed_events(&self) -> Events<Event> {
        self.typed_events_with(CallOptions::default())
    }

    /// [`OpenCode::typed_events`] for another directory or workspace.
    pub fn typed_events_with(&self, options: CallOptions) -> Events<Event> {
        Events::with_request(
            self.clone(),
            Arc::new(move |api| api.op_stream(&ops::EventSubscribe::default(), &options)),
            parse_event::<Event>,
        )
    }

    /// `/global/event`: every directory's events, typed (`GlobalEvent { directory, payload, … }`).
    pub fn typed_global_events(&self) -> Events<GlobalEvent> {
        Events::with_request(
            self.clone(),
            Arc::new(|api| api.op_stream(&ops::GlobalEvent::default(), &CallOptions::default())),
            parse_event::<GlobalEvent>,
        )
    }

    /// `/api/event`: the v2 event stream (`V2Event`).
    pub fn v2_events(&self, options: CallOptions) -> Events<V2Event> {
        Events::with_request(
            self.clone(),
            Arc::new(move |api| api.op_stream(&ops::V2EventSubscribe::default(), &options)),
            parse_event::<V2Event>,
        )
    }

    /// `/api/session/{id}/event`: one session's durable events (`SessionDurableEvent`), from `after` (an event
    /// id) when given.
    pub fn v2_session_events(
        &self,
        session_id: &str,
        after: Option<&str>,
    ) -> Events<SessionDurableEvent> {
        let op = ops::V2SessionEvents {
            session_id: session_id.to_string(),
            after: after.map(str::to_string),
        };
        Events::with_request(
            self.clone(),
            Arc::new(move |api| api.op_stream(&op, &CallOptions::default())),
            parse_event::<SessionDurableEvent>,
        )
    }
}
