//! What the manager's handles ([`ServerManager`](super::ServerManager), [`HealthWatch`](super::HealthWatch)),
//! its loop and its process tasks share: the loop's messages and the status the handles read.

use std::sync::{Arc, Mutex};

use async_channel::{Receiver, Sender};
use plue_http_core::error::{Error, ErrorKind};
use plue_http_core::sse::StreamEvent;

use super::report::{Report, StartError};
use crate::client::OpenCode;

/// A message to the loop: from a process task, a subscription, a version probe or a handle.
pub(super) enum Msg {
    Line(u64, String),
    Exited(u64, Option<i32>),
    Stream(u64, Result<StreamEvent, Error>),
    Version(u64, Result<String, ErrorKind>),
    PortFree(bool),
    Stop,
}

/// What the handles share with the loop.
#[derive(Default)]
pub(super) struct Status {
    pub(super) ready: Option<Result<OpenCode, StartError>>,
    pub(super) opencode: Option<OpenCode>,
    pub(super) pid: Option<u32>,
    pub(super) finished: bool,
}

pub(super) struct Common {
    pub(super) tx: Sender<Msg>,
    pub(super) reports: Receiver<Report>,
    pub(super) status: Arc<Mutex<Status>>,
    /// Closed (never written) when `ready` is set, and `done` when the loop ends: a broadcast to every waiter.
    pub(super) ready: Receiver<()>,
    pub(super) done: Receiver<()>,
}

impl Common {
    pub(super) fn status(&self) -> std::sync::MutexGuard<'_, Status> {
        self.status.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) async fn stop(&self) {
        let _ = self.tx.send(Msg::Stop).await;
        let _ = self.done.recv().await;
    }
}
