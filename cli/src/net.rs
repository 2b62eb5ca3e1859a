//! One blocking face over the three runtimes (`--runtime tokio|smol|mio`).
//!
//! The commands are sequential, so they block on each call: the tokio and smol clients run their driver task on
//! their runtime's threads while this thread waits on the future; the mio client is blocking already. An event
//! stream is pumped by a small thread into a std channel, so a caller can wait on it with a deadline, and is
//! aborted when its [`Subscription`] is dropped.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::Instant;

use clap::ValueEnum;
use futures_lite::StreamExt;
use plue_http::{Error, Request, Response};
use plue_http_core::client::{Options, StreamOptions};
use plue_http_core::sse::StreamEvent;

/// Which runtime adapter drives the core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum RuntimeKind {
    /// plue-http-tokio (async, the default).
    #[default]
    Tokio,
    /// plue-http-smol (async).
    Smol,
    /// plue-http-mio (a blocking client over a mio event loop).
    Mio,
}

impl RuntimeKind {
    /// The name shown to the user.
    pub fn name(self) -> &'static str {
        match self {
            RuntimeKind::Tokio => "tokio",
            RuntimeKind::Smol => "smol",
            RuntimeKind::Mio => "mio",
        }
    }
}

/// A client on one of the runtimes. Cheap to clone.
#[derive(Debug, Clone)]
pub enum Http {
    /// On tokio.
    Tokio(plue_http::tokio::Client),
    /// On smol.
    Smol(plue_http::smol::Client),
    /// On mio.
    Mio(plue_http::mio::Client),
}

/// An item of an event stream: an event, or the error that ended it.
pub type StreamItem = Result<StreamEvent, Error>;

impl Http {
    /// A client with `options` on `kind`.
    pub fn new(kind: RuntimeKind, options: Options) -> Result<Http, Error> {
        Ok(match kind {
            RuntimeKind::Tokio => Http::Tokio(plue_http::tokio::Client::new(options)?),
            RuntimeKind::Smol => Http::Smol(plue_http::smol::Client::new(options)?),
            RuntimeKind::Mio => Http::Mio(plue_http::mio::Client::new(options)?),
        })
    }

    /// Send `req` and wait for the whole response (any status is `Ok`).
    pub fn send(&self, req: Request) -> Result<Response, Error> {
        match self {
            Http::Tokio(c) => futures_lite::future::block_on(c.request(req)),
            Http::Smol(c) => futures_lite::future::block_on(c.request(req)),
            Http::Mio(c) => c.request(req),
        }
    }

    /// Subscribe to an event stream; every item goes to `tx` wrapped by `wrap`. The stream is aborted when the
    /// returned handle is dropped.
    pub fn subscribe_into<M: Send + 'static>(
        &self,
        req: Request,
        opts: StreamOptions,
        tx: Sender<M>,
        wrap: impl Fn(StreamItem) -> M + Send + 'static,
    ) -> StreamHandle {
        match self {
            Http::Tokio(c) => {
                let stream = c.subscribe(req, opts);
                let abort = stream.abort_handle();
                pump_async(stream, tx, wrap);
                StreamHandle(Abort::Driver(abort))
            }
            Http::Smol(c) => {
                let stream = c.subscribe(req, opts);
                let abort = stream.abort_handle();
                pump_async(stream, tx, wrap);
                StreamHandle(Abort::Driver(abort))
            }
            Http::Mio(c) => {
                let stream = c.subscribe(req, opts);
                let abort = stream.abort_handle();
                std::thread::spawn(move || {
                    for item in stream {
                        if tx.send(wrap(item)).is_err() {
                            break;
                        }
                    }
                });
                StreamHandle(Abort::Mio(abort))
            }
        }
    }

    /// Subscribe to an event stream read through [`Subscription::next_until`].
    pub fn subscribe(&self, req: Request, opts: StreamOptions) -> Subscription {
        let (tx, rx) = mpsc::channel();
        let handle = self.subscribe_into(req, opts, tx, |item| item);
        Subscription {
            rx,
            _handle: handle,
        }
    }
}

fn pump_async<M: Send + 'static>(
    mut stream: plue_http_core::driver::EventStream,
    tx: Sender<M>,
    wrap: impl Fn(StreamItem) -> M + Send + 'static,
) {
    std::thread::spawn(move || {
        futures_lite::future::block_on(async move {
            while let Some(item) = stream.next().await {
                if tx.send(wrap(item)).is_err() {
                    break;
                }
            }
        })
    });
}

#[derive(Debug)]
enum Abort {
    Driver(plue_http_core::driver::AbortHandle),
    Mio(plue_http::mio::AbortHandle),
}

/// Keeps an event stream alive; dropping it aborts the stream.
#[derive(Debug)]
pub struct StreamHandle(Abort);

impl Drop for StreamHandle {
    fn drop(&mut self) {
        match &self.0 {
            Abort::Driver(a) => a.abort(),
            Abort::Mio(a) => a.abort(),
        }
    }
}

/// An event stream read with deadlines.
#[derive(Debug)]
pub struct Subscription {
    rx: Receiver<StreamItem>,
    _handle: StreamHandle,
}

/// What [`Subscription::next_until`] found.
#[derive(Debug)]
pub enum Next {
    /// An event.
    Event(StreamEvent),
    /// The stream ended with this error.
    End(Error),
    /// The deadline passed.
    Timeout,
}

impl Subscription {
    /// The next item, waiting until `deadline` (forever when `None`).
    pub fn next_until(&self, deadline: Option<Instant>) -> Next {
        let item = match deadline {
            None => self.rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Some(d) => self
                .rx
                .recv_timeout(d.saturating_duration_since(Instant::now())),
        };
        match item {
            Ok(Ok(ev)) => Next::Event(ev),
            Ok(Err(e)) => Next::End(e),
            Err(RecvTimeoutError::Timeout) => Next::Timeout,
            Err(RecvTimeoutError::Disconnected) => {
                Next::End(Error::new(plue_http::ErrorKind::Shutdown))
            }
        }
    }
}
