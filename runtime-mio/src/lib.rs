//! plue-http as a blocking client: a mio event loop drives the core's client machine.
//!
//! Every call blocks the calling thread only; any number of threads may share one [`Client`] (it is cheap to
//! clone). The loop owns the machine, the sockets (epoll here, kqueue on macOS, both through mio) and the
//! timer. A caller that waits runs the loop itself, so a request costs no hand-off between threads; a
//! background thread runs it only while work is open that nobody waits on (an event stream between reads, a
//! started request). Handles are the core driver's [`Front`]: commands reach the loop over its channel (plus
//! a [`mio::Waker`] when a thread is blocked in the loop's poll), events come back through the same
//! [`Router`](plue_http_driver::Router) the async runtimes use, so requests, streams and aborts behave
//! identically everywhere.
//!
//! ```no_run
//! let client = plue_http_mio::Client::new(plue_http_mio::Options {
//!     base_url: Some("http://127.0.0.1:4096".into()),
//!     ..Default::default()
//! })?;
//! let health = client.get("/global/health")?;
//! println!("{} {}", health.status(), health.text());
//! # Ok::<(), plue_http_mio::Error>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod event_loop;

use std::{ops::ControlFlow, sync::Arc, time::Duration};

use event_loop::{Loop, WAKER};
use futures_lite::StreamExt;
use plue_http_core::{response::ResponseHead, url::Url, Bytes};
use plue_http_driver::{self as driver, Front, StreamingFuture};

type Shared = driver::SharedLoop<Loop>;
use serde::{de::DeserializeOwned, Serialize};

pub use plue_http_core::abort::{AbortController, AbortSignal};
pub use plue_http_core::client::{MemoryPressure, Options, StreamOptions};
pub use plue_http_core::sse::{SseEvent, StreamEvent};
pub use plue_http_core::{Error, ErrorKind, Method, Request, RequestBuilder, Response};
pub use plue_http_driver::AbortHandle;

/// A blocking HTTP/1.1 + SSE client. Clones share one pool and one event loop (and its background thread,
/// which stops when the last clone and the last handle are gone).
#[derive(Debug, Clone)]
pub struct Client {
    front: Front,
    shared: Arc<Shared>,
}

/// Blocking twins of the front's calls: the calling thread runs the loop while it waits.
macro_rules! blocking {
    ($( $(#[$doc:meta])* fn $name:ident($($arg:ident: $ty:ty),*) -> $out:ty; )*) => {$(
        $(#[$doc])*
        pub fn $name(&self, $($arg: $ty),*) -> Result<$out, Error> {
            self.shared.wait(|| self.front.$name($($arg),*))
        }
    )*};
}

impl Client {
    /// A client with `options`; starts its (parked) background thread. Fails on an invalid `base_url`.
    pub fn new(options: Options) -> Result<Client, Error> {
        let poll = mio::Poll::new().map_err(driver::connect_error)?;
        let waker =
            Arc::new(mio::Waker::new(poll.registry(), WAKER).map_err(driver::connect_error)?);
        let w = waker.clone();
        let shared = Shared::new(Arc::new(move || {
            let _ = w.wake();
        }));
        let s = shared.clone();
        let wake: driver::Wake = Arc::new(move || s.command_sent());
        let (front, machine, router) = Front::new(options, driver::os_entropy(), Some(wake))?;
        let mut event_loop = Loop::new(poll, machine, router, waker);
        event_loop.drain();
        shared.install(event_loop);
        let background = shared.clone();
        // Detached: it ends by itself once the front and every handle are gone.
        std::thread::Builder::new()
            .name("plue-http-mio".into())
            .spawn(move || background.background())
            .map_err(driver::connect_error)?;
        Ok(Client { front, shared })
    }

    /// The options this client was created with.
    pub fn options(&self) -> &Options {
        self.front.options()
    }

    /// The parsed base URL, when one was configured.
    pub fn base_url(&self) -> Option<&Url> {
        self.front.base_url()
    }

    /// A request builder for `path` (joined to the base URL) or an absolute URL.
    pub fn builder(&self, method: Method, path: &str) -> RequestBuilder {
        self.front.builder(method, path)
    }

    /// Submit a request without waiting: the handle waits, streams or aborts it.
    pub fn start(&self, req: Request) -> RequestHandle {
        RequestHandle(self.front.request_streaming(req), self.shared.clone())
    }

    /// Build a request and submit it without waiting.
    pub fn start_builder(&self, builder: RequestBuilder) -> RequestHandle {
        RequestHandle(self.front.send_streaming(builder), self.shared.clone())
    }

    blocking! {
        /// Send a request and collect the body. Any final status is `Ok`.
        fn request(req: Request) -> Response;
        /// Build and send a request.
        fn send(builder: RequestBuilder) -> Response;
        /// `GET path`.
        fn get(path: &str) -> Response;
        /// `POST path` without a body (use [`Client::builder`] or [`Client::json`] for one).
        fn post(path: &str) -> Response;
        /// `PUT path` without a body.
        fn put(path: &str) -> Response;
        /// `PATCH path` without a body.
        fn patch(path: &str) -> Response;
        /// `DELETE path`.
        fn delete(path: &str) -> Response;
        /// `HEAD path`.
        fn head(path: &str) -> Response;
    }

    /// Send a request and return once the head arrives; read the body from the returned reader.
    pub fn request_streaming(&self, req: Request) -> Result<StreamingResponse, Error> {
        self.start(req).streaming()
    }

    /// Send a request and decode a 2xx JSON body; a non-2xx status is [`ErrorKind::Status`].
    pub fn request_json<T: DeserializeOwned>(&self, builder: RequestBuilder) -> Result<T, Error> {
        self.shared.wait(|| self.front.request_json(builder))
    }

    /// `method path` with `payload` as a JSON body; decodes a 2xx JSON answer.
    pub fn json<T: DeserializeOwned, P: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        payload: &P,
    ) -> Result<T, Error> {
        self.shared.wait(|| self.front.json(method, path, payload))
    }

    /// Send several requests pipelined on one connection; results come back in order.
    pub fn batch(&self, reqs: Vec<Request>) -> Vec<Result<Response, Error>> {
        self.shared.wait(|| self.front.batch(reqs))
    }

    /// Subscribe to a server-sent event stream at `url` (a path joined to the base URL, or absolute).
    pub fn events(&self, url: &str) -> EventStream {
        EventStream::new(self.front.events(url), self.shared.clone())
    }

    /// Subscribe with a custom request (headers, auth) and stream options.
    pub fn subscribe(&self, req: Request, opts: StreamOptions) -> EventStream {
        EventStream::new(self.front.subscribe(req, opts), self.shared.clone())
    }

    /// Callback form of [`Client::events`]: blocks, calling `callback(&mut ctx, event)` for each stream
    /// event until it returns `Break` (then `Ok(ctx)`) or the stream ends (then its error).
    pub fn stream_sse<C, F>(&self, url: &str, callback: F, ctx: C) -> Result<C, Error>
    where
        F: FnMut(&mut C, StreamEvent) -> ControlFlow<()>,
    {
        self.shared
            .wait(|| self.front.stream_sse(url, callback, ctx))
    }

    /// Drop every idle pooled connection (memory pressure).
    pub fn release_idle(&self) {
        self.front.release_idle();
    }

    /// The application's network-change notification (see [`Front::network_changed`]).
    pub fn network_changed(&self) {
        self.front.network_changed();
    }

    /// The application's wake-from-sleep notification (see [`Front::resumed_from_sleep`]).
    pub fn resumed_from_sleep(&self) {
        self.front.resumed_from_sleep();
    }

    /// The application's memory-pressure notification (see [`Front::memory_pressure`]).
    pub fn memory_pressure(&self, level: MemoryPressure) {
        self.front.memory_pressure(level);
    }
}

/// A submitted request. Dropping it before the end aborts the request.
#[derive(Debug)]
pub struct RequestHandle(StreamingFuture, Arc<Shared>);

impl RequestHandle {
    /// A handle that aborts this request from any thread.
    pub fn abort_handle(&self) -> AbortHandle {
        self.0.abort_handle()
    }

    /// Block until the head arrives.
    pub fn streaming(self) -> Result<StreamingResponse, Error> {
        let RequestHandle(fut, shared) = self;
        let (head, body) = shared.wait(|| fut)?.into_parts();
        Ok(StreamingResponse {
            head,
            body: BodyReader(body, shared),
        })
    }

    /// Block until the whole response has arrived.
    pub fn wait(self) -> Result<Response, Error> {
        let (head, mut body) = self.streaming()?.into_parts();
        Ok(Response::new(head, body.bytes()?))
    }
}

/// A response head with a body still arriving.
#[derive(Debug)]
pub struct StreamingResponse {
    head: ResponseHead,
    body: BodyReader,
}

impl StreamingResponse {
    /// The head.
    pub fn head(&self) -> &ResponseHead {
        &self.head
    }

    /// Split into head and body reader.
    pub fn into_parts(self) -> (ResponseHead, BodyReader) {
        (self.head, self.body)
    }
}

/// A response body read chunk by chunk as it arrives; each chunk taken lets the core read more
/// (backpressure). Dropping it before the end aborts the request.
#[derive(Debug)]
pub struct BodyReader(driver::BodyReader, Arc<Shared>);

impl BodyReader {
    /// The next chunk, `Ok(None)` at the end of the body.
    pub fn chunk(&mut self) -> Result<Option<Bytes>, Error> {
        self.1.wait(|| self.0.chunk())
    }

    /// Read the rest of the body into one `Bytes`.
    pub fn bytes(&mut self) -> Result<Bytes, Error> {
        self.1.wait(|| self.0.bytes())
    }

    /// Decode the array at `pointer` element by element as it arrives, then the rest of the document as `R`
    /// (see `plue_http_driver::BodyReader::json_elements`).
    pub fn json_elements<T, R, F>(
        &mut self,
        pointer: &str,
        limits: driver::JsonStreamLimits,
        each: F,
    ) -> Result<R, Error>
    where
        T: serde::de::DeserializeOwned,
        R: serde::de::DeserializeOwned,
        F: FnMut(T),
    {
        self.1.wait(|| self.0.json_elements(pointer, limits, each))
    }

    /// A handle that aborts this request from any thread.
    pub fn abort_handle(&self) -> AbortHandle {
        self.0.abort_handle()
    }
}

impl Iterator for BodyReader {
    type Item = Result<Bytes, Error>;
    fn next(&mut self) -> Option<Self::Item> {
        self.chunk().transpose()
    }
}

/// A server-sent event stream that reconnects by itself (the core decides when and how). An `Err` is the
/// end: the stream gave up, was aborted, or the client shut down. Dropping it aborts the subscription.
#[derive(Debug)]
pub struct EventStream {
    inner: driver::EventStream,
    end: Option<Error>,
    shared: Arc<Shared>,
}

impl EventStream {
    fn new(inner: driver::EventStream, shared: Arc<Shared>) -> Self {
        EventStream {
            inner,
            end: None,
            shared,
        }
    }

    /// The next stream event, waiting at most `timeout`: `Ok(None)` when nothing arrived in time, `Err` once
    /// the stream has ended (the same error on every later call).
    pub fn next_timeout(&mut self, timeout: Duration) -> Result<Option<StreamEvent>, Error> {
        if let Some(e) = &self.end {
            return Err(e.clone());
        }
        let deadline = std::time::Instant::now() + timeout;
        match self.shared.drive(|| self.inner.next(), Some(deadline)) {
            None => Ok(None),
            Some(Some(Ok(event))) => Ok(Some(event)),
            Some(Some(Err(e))) => {
                self.end = Some(e.clone());
                Err(e)
            }
            Some(None) => {
                let e = Error::new(ErrorKind::Shutdown);
                self.end = Some(e.clone());
                Err(e)
            }
        }
    }

    /// A handle that aborts this stream from any thread.
    pub fn abort_handle(&self) -> AbortHandle {
        self.inner.abort_handle()
    }

    /// Abort the stream now; it ends with [`ErrorKind::Aborted`].
    pub fn abort(&self) {
        self.inner.abort();
    }
}

impl Iterator for EventStream {
    type Item = Result<StreamEvent, Error>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.end.is_some() {
            return None;
        }
        let item = self.shared.wait(|| self.inner.next());
        if let Some(Err(e)) = &item {
            self.end = Some(e.clone());
        }
        item
    }
}

/// OpenCode, blocking: the typed client, typed event iterators, the health monitor and the server manager
/// (`plue_opencode::blocking` on this runtime's [`Client`]).
pub mod opencode {
    pub use plue_opencode::blocking::{Events, HealthWatch, Reports, ThreadHost};
    pub use plue_opencode::*;

    /// A blocking OpenCode client on the mio runtime. Cheap to clone.
    pub type OpenCodeClient = plue_opencode::blocking::OpenCodeClient<Mio>;
    /// A supervised `opencode serve`, blocking API, with clients on the mio runtime.
    pub type ServerManager = plue_opencode::blocking::ServerManager<Mio>;

    /// The mio runtime as the blocking OpenCode façade's HTTP seam.
    #[derive(Debug, Clone, Copy)]
    pub struct Mio;

    impl plue_opencode::blocking::BlockingHttp for Mio {
        type Client = super::Client;
        fn client(options: super::Options) -> Result<super::Client, super::Error> {
            super::Client::new(options)
        }
        fn front(client: &super::Client) -> &plue_http_driver::Front {
            &client.front
        }
    }
}
