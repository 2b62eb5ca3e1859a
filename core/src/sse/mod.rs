//! Server-sent events: the WHATWG decoder and the reconnecting event-stream machine.

mod event;

pub use event::{ReconnectCause, SseEvent, StreamEvent};
