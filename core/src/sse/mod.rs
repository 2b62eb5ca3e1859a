//! Server-sent events: the WHATWG decoder and the reconnecting event-stream machine.

mod decoder;
mod event;
mod stream;

pub use decoder::{SseDecoder, SseItem};
pub use event::{ReconnectCause, SseEvent, StreamEvent};
pub use stream::{EventStream, EventStreamConfig, StreamOutput};
