//! What the wait queue keeps per origin and per batch (the queue's logic is in `queue.rs`).

use std::collections::{BTreeMap, VecDeque};

use super::flow::{Flow, State};
use super::io::{ConnId, RequestId};
use crate::error::NetError;
use crate::time::Instant;

/// Reachability of one origin.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Health {
    pub down: bool,
    pub failures: u32,
    pub last_error: NetError,
    /// No probe before this.
    pub retry_at: Instant,
    /// Held after a network change (see `lifecycle.rs`): until a connect succeeds, a failed probe does not
    /// spend the attempts of the request it was made for; requests wait under their own deadlines.
    pub held: bool,
}

/// A batch: its members not yet sent, in order, and the connection serving it.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    pub pending: VecDeque<RequestId>,
    pub conn: Option<ConnId>,
}

impl Batch {
    /// Drop members at the front that are no longer waiting to be sent as part of batch `b` (finished,
    /// aborted, or already sent).
    pub(crate) fn skip_gone(&mut self, flows: &BTreeMap<RequestId, Flow>, b: u64) {
        while let Some(m) = self.pending.front() {
            let live = flows.get(m).is_some_and(|f| {
                f.batch == Some(b) && matches!(f.state, State::Held | State::Waiting)
            });
            if live {
                break;
            }
            self.pending.pop_front();
        }
    }
}
