//! The items an event stream yields.

use core::time::Duration;

use crate::error::{Error, NetError};

/// One dispatched server-sent event (owned, UTF-8).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// The event type: the last `event:` field, or `message` when none (or an empty one) was given.
    pub event: String,
    /// The `data:` lines joined with LF.
    pub data: String,
    /// The last event id as of this event (persists across events; empty when none was ever set or it was reset).
    pub id: String,
}

/// Why an event stream is reconnecting.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReconnectCause {
    /// The server ended the response cleanly.
    Eof,
    /// The network failed (connect refused, reset, …).
    Network(NetError),
    /// The server answered a status the stream retries (5xx, 408, 429).
    Status(u16),
    /// Nothing at all arrived for `event_idle_timeout`.
    IdleTimeout,
    /// The response broke HTTP framing.
    InvalidResponse,
}

/// What an event stream reports to its owner, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamEvent {
    /// The stream is open: a 200 `text/event-stream` head arrived.
    Connected,
    /// An event.
    Event(SseEvent),
    /// A comment line (`: text`), e.g. a heartbeat. The text has the colon and one leading space removed.
    Comment(String),
    /// The stream broke and will reconnect after `delay`.
    Reconnecting {
        /// 1 for the first reconnect after a working stream.
        attempt: u32,
        /// The limit on attempts, when there is one.
        max: Option<u32>,
        /// How long until the next connect.
        delay: Duration,
        /// Why.
        cause: ReconnectCause,
    },
    /// The stream reopened after a reconnect. Events sent while it was down may be lost (OpenCode has no replay),
    /// so an app should resync its state.
    Resumed {
        /// The `Last-Event-ID` sent on reconnect, if any.
        last_event_id: Option<String>,
    },
    /// An event larger than `max_event_size` was skipped; the stream goes on.
    Skipped(Error),
}

impl StreamEvent {
    /// The bytes this item holds for its consumer: data + type + id of an event, the text of a comment, 0 for
    /// the rest. The one measure of backpressure for event streams: the core counts it as undelivered when it
    /// hands the item out, and the owner reports it back (`ClientMachine::consumed`) once taken.
    pub fn wire_size(&self) -> usize {
        match self {
            StreamEvent::Event(e) => e.data.len() + e.event.len() + e.id.len(),
            StreamEvent::Comment(c) => c.len(),
            _ => 0,
        }
    }
}
