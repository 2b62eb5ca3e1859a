//! The client machine's inputs, outputs and events: the whole contract between the core and a driver.
//!
//! A driver feeds [`Input`]s and drains [`Output`]s until [`Output::Wait`] (the single-mutation rule: after any
//! `&mut` call, drain until `Wait`). It never makes an HTTP decision of its own.

use core::net::SocketAddr;

use bytes::Bytes;

use crate::error::{Error, NetError};
use crate::response::ResponseHead;
use crate::sse::StreamEvent;
use crate::time::Instant;

/// A connection handle chosen by the core. Never reused within one machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// A request or event-stream handle chosen by the core. Never reused within one machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// Something that happened in the world, reported by the driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input<'a> {
    /// The connection asked for by [`Output::Connect`] is open.
    Connected(ConnId),
    /// The connection asked for by [`Output::Connect`] could not be opened.
    ConnectFailed(ConnId, NetError),
    /// Bytes read from the connection.
    Data(ConnId, &'a [u8]),
    /// `n` more bytes of the pending transmit were written.
    Written(ConnId, usize),
    /// The peer closed its side (read returned 0).
    Eof(ConnId),
    /// A read or write failed; the connection is unusable.
    Failed(ConnId, NetError),
    /// The answer to [`Output::Resolve`].
    Resolved {
        /// The host as asked.
        host: String,
        /// The port as asked.
        port: u16,
        /// Addresses, or why resolution failed.
        result: Result<Vec<SocketAddr>, NetError>,
    },
    /// The deadline from [`Output::Wait`] passed (a driver may also just call with a later `now`).
    Timeout,
}

/// An [`Input`] that owns its bytes: what socket and resolver tasks (the async driver) or the simulated network
/// queue for the machine's owner, who hands each one in with [`NetInput::as_input`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetInput {
    /// See [`Input::Connected`].
    Connected(ConnId),
    /// See [`Input::ConnectFailed`].
    ConnectFailed(ConnId, NetError),
    /// See [`Input::Data`].
    Data(ConnId, Bytes),
    /// See [`Input::Written`].
    Written(ConnId, usize),
    /// See [`Input::Eof`].
    Eof(ConnId),
    /// See [`Input::Failed`].
    Failed(ConnId, NetError),
    /// See [`Input::Resolved`].
    Resolved {
        /// The host as asked.
        host: String,
        /// The port as asked.
        port: u16,
        /// Addresses, or why resolution failed.
        result: Result<Vec<SocketAddr>, NetError>,
    },
}

impl NetInput {
    /// Borrow as the machine's [`Input`].
    pub fn as_input(&self) -> Input<'_> {
        match self {
            NetInput::Connected(c) => Input::Connected(*c),
            NetInput::ConnectFailed(c, e) => Input::ConnectFailed(*c, *e),
            NetInput::Data(c, b) => Input::Data(*c, b),
            NetInput::Written(c, n) => Input::Written(*c, *n),
            NetInput::Eof(c) => Input::Eof(*c),
            NetInput::Failed(c, e) => Input::Failed(*c, *e),
            NetInput::Resolved { host, port, result } => Input::Resolved {
                host: host.clone(),
                port: *port,
                result: result.clone(),
            },
        }
    }

    /// The connection it reports on (`None` for a resolution).
    pub fn conn(&self) -> Option<ConnId> {
        match self {
            NetInput::Connected(c)
            | NetInput::ConnectFailed(c, _)
            | NetInput::Data(c, _)
            | NetInput::Written(c, _)
            | NetInput::Eof(c)
            | NetInput::Failed(c, _) => Some(*c),
            NetInput::Resolved { .. } => None,
        }
    }
}

/// Something the core asks the driver to do, or tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Resolve `host:port` and answer with [`Input::Resolved`].
    Resolve {
        /// Host name.
        host: String,
        /// Port.
        port: u16,
    },
    /// Open a TCP connection (TCP_NODELAY) to `addr`; answer [`Input::Connected`] or [`Input::ConnectFailed`].
    Connect {
        /// The handle for the new connection.
        conn: ConnId,
        /// Where to connect.
        addr: SocketAddr,
    },
    /// Write these bytes in order; acknowledge progress with [`Input::Written`].
    Transmit {
        /// The connection.
        conn: ConnId,
        /// The bytes.
        data: Bytes,
    },
    /// Start (or keep) reading from the connection.
    Read(ConnId),
    /// Stop reading from the connection until the next [`Output::Read`] (backpressure).
    PauseRead(ConnId),
    /// Close the connection and forget it. No input for it will be accepted afterwards.
    Close(ConnId),
    /// Hand this to the user.
    Event(Event),
    /// Nothing more to do until input arrives or the deadline passes (`None`: no deadline).
    Wait(Option<Instant>),
}

/// What a request or event stream produced, for its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The final response head.
    Head {
        /// The request.
        id: RequestId,
        /// The head.
        head: ResponseHead,
    },
    /// Part of the response body, delivered as soon as it is decoded. Report consumption with
    /// `ClientMachine::consumed` so more is read (at most 1 MiB undelivered per request).
    Body {
        /// The request.
        id: RequestId,
        /// The bytes.
        data: Bytes,
    },
    /// The response is complete.
    Done {
        /// The request.
        id: RequestId,
    },
    /// The request (or event stream) ended with an error. Nothing more will come for `id`.
    Failed {
        /// The request.
        id: RequestId,
        /// Why, with method, URL (credentials removed), attempt and last success.
        error: Error,
    },
    /// An event stream produced something.
    Stream {
        /// The stream.
        id: RequestId,
        /// What.
        event: StreamEvent,
    },
}

impl Event {
    /// The request or stream this event belongs to.
    pub fn id(&self) -> RequestId {
        match self {
            Event::Head { id, .. }
            | Event::Body { id, .. }
            | Event::Done { id }
            | Event::Failed { id, .. }
            | Event::Stream { id, .. } => *id,
        }
    }
}
