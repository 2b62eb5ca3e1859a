//! One event stream's state inside the client machine (the glue that drives it is in `stream.rs`).

use super::io::{ConnId, RequestId};
use super::options::{Options, StreamOptions};
use crate::pool::PoolKey;
use crate::request::Request;
use crate::sse::{EventStream, EventStreamConfig};
use crate::time::Instant;

/// One event stream.
#[derive(Debug)]
pub(crate) struct StreamFlow {
    pub(crate) req: Request,
    pub(crate) key: PoolKey,
    pub(crate) es: EventStream,
    pub(crate) conn: Option<ConnId>,
    /// A connect was asked for but waits for DNS.
    pub(crate) want_connect: bool,
    /// Connections opened so far (the attempt number in error context).
    pub(crate) connects: u32,
    pub(crate) max_attempts: Option<u32>,
    /// Bytes of events handed out ([`StreamEvent::wire_size`]) and not yet reported consumed. Above
    /// [`MAX_UNDELIVERED`] the stream's connection stops reading, like a request body's.
    pub(crate) undelivered: usize,
}

impl StreamFlow {
    pub fn new(
        _id: RequestId,
        req: Request,
        options: &Options,
        opts: StreamOptions,
        seed: u64,
    ) -> StreamFlow {
        let mut cfg = EventStreamConfig::from_options(options);
        cfg.max_attempts = opts.max_attempts;
        if let Some(idle) = opts.idle_timeout {
            cfg.idle_timeout = idle;
        }
        if let Some(n) = req.options().max_redirects {
            cfg.max_redirects = n;
        }
        StreamFlow {
            key: PoolKey::of(req.url()),
            es: EventStream::new(cfg, seed).with_url(req.url().clone()),
            req,
            conn: None,
            want_connect: false,
            connects: 0,
            max_attempts: opts.max_attempts,
            undelivered: 0,
        }
    }

    /// The stream machine's next deadline.
    pub fn timeout(&self) -> Option<Instant> {
        self.es.poll_timeout()
    }
}
