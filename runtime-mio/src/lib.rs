//! plue-http as a blocking client: a mio event loop on its own thread drives the core's client machine.
//!
//! Every call blocks the calling thread only; any number of threads may share one [`Client`] (it is cheap to
//! clone). The loop thread owns the machine, the sockets (epoll here, kqueue on macOS, both through mio) and
//! the timer; commands reach it over a channel plus a [`mio::Waker`].
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

use std::hash::{BuildHasher, Hasher};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use event_loop::{Cmd, Loop, WAKER};
use plue_http_core::client::{ClientMachine, Event, RequestId};
use plue_http_core::error::Violation;
use plue_http_core::response::ResponseHead;
use plue_http_core::url::Url;
use plue_http_core::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;

pub use plue_http_core::abort::{AbortController, AbortSignal};
pub use plue_http_core::client::{Options, StreamOptions};
pub use plue_http_core::sse::{SseEvent, StreamEvent};
pub use plue_http_core::{Error, ErrorKind, Method, Request, RequestBuilder, Response};

/// A blocking HTTP/1.1 + SSE client. Clones share one pool and one event-loop thread, which stops when the
/// last clone and the last handle are gone.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    tx: Sender<Cmd>,
    waker: Arc<mio::Waker>,
    options: Options,
    base: Option<Url>,
    next_token: AtomicU64,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Inner {
    fn send(&self, cmd: Cmd) {
        if self.tx.send(cmd).is_ok() {
            let _ = self.waker.wake();
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.send(Cmd::Shutdown);
        if let Some(t) = self.thread.lock().ok().and_then(|mut t| t.take()) {
            let _ = t.join();
        }
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.inner.base)
            .finish_non_exhaustive()
    }
}

fn entropy() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    h.finish()
}

fn io_error(e: std::io::Error) -> Error {
    Error::new(ErrorKind::ConnectionFailed {
        cause: event_loop::net_error(&e),
    })
}

impl Client {
    /// A client with `options`; starts its event-loop thread. Fails on an invalid `base_url`.
    pub fn new(options: Options) -> Result<Client, Error> {
        let machine = ClientMachine::new(options.clone(), entropy()).map_err(Error::new)?;
        let base = machine.base_url().cloned();
        let poll = mio::Poll::new().map_err(io_error)?;
        let waker = Arc::new(mio::Waker::new(poll.registry(), WAKER).map_err(io_error)?);
        let (tx, rx) = mpsc::channel();
        let event_loop = Loop::new(poll, machine, rx, tx.clone(), waker.clone());
        let thread = std::thread::Builder::new()
            .name("plue-http-mio".into())
            .spawn(move || event_loop.run())
            .map_err(io_error)?;
        Ok(Client {
            inner: Arc::new(Inner {
                tx,
                waker,
                options,
                base,
                next_token: AtomicU64::new(1),
                thread: Mutex::new(Some(thread)),
            }),
        })
    }

    /// The options this client was created with.
    pub fn options(&self) -> &Options {
        &self.inner.options
    }

    /// The parsed base URL, when one was configured.
    pub fn base_url(&self) -> Option<&Url> {
        self.inner.base.as_ref()
    }

    /// A request builder for `path` (joined to the base URL) or an absolute URL.
    pub fn builder(&self, method: Method, path: &str) -> RequestBuilder {
        RequestBuilder::new(method, path).base(self.base_url())
    }

    fn handle(&self) -> (AbortHandle, Sender<Event>, Pending) {
        let token = self.inner.next_token.fetch_add(1, Ordering::Relaxed);
        let abort = AbortHandle {
            token,
            client: Arc::downgrade(&self.inner),
        };
        let (tx, rx) = mpsc::channel();
        let pending = Pending {
            abort: abort.clone(),
            rx,
            finished: false,
            _client: self.inner.clone(),
        };
        (abort, tx, pending)
    }

    /// Submit a request without waiting: the handle waits, streams or aborts it.
    pub fn start(&self, req: Request) -> RequestHandle {
        let (abort, tx, pending) = self.handle();
        self.inner.send(Cmd::Request(abort.token, req, tx));
        RequestHandle { pending }
    }

    fn rejected(&self, error: ErrorKind) -> RequestHandle {
        let (_, tx, pending) = self.handle();
        let _ = tx.send(Event::Failed {
            id: RequestId(u64::MAX),
            error: Error::new(error),
        });
        RequestHandle { pending }
    }

    /// Build a request and submit it without waiting.
    pub fn start_builder(&self, builder: RequestBuilder) -> RequestHandle {
        match builder.build() {
            Ok(req) => self.start(req),
            Err(e) => self.rejected(e),
        }
    }

    /// Send a request and collect the body. Any final status is `Ok`.
    pub fn request(&self, req: Request) -> Result<Response, Error> {
        self.start(req).wait()
    }

    /// Build and send a request.
    pub fn send(&self, builder: RequestBuilder) -> Result<Response, Error> {
        self.start_builder(builder).wait()
    }

    /// Send a request and return once the head arrives; read the body from the returned reader.
    pub fn request_streaming(&self, req: Request) -> Result<StreamingResponse, Error> {
        self.start(req).streaming()
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> Result<Response, Error> {
        self.send(self.builder(Method::GET, path))
    }

    /// `POST path` without a body (use [`Client::builder`] or [`Client::json`] for one).
    pub fn post(&self, path: &str) -> Result<Response, Error> {
        self.send(self.builder(Method::POST, path))
    }

    /// `PUT path` without a body.
    pub fn put(&self, path: &str) -> Result<Response, Error> {
        self.send(self.builder(Method::PUT, path))
    }

    /// `PATCH path` without a body.
    pub fn patch(&self, path: &str) -> Result<Response, Error> {
        self.send(self.builder(Method::PATCH, path))
    }

    /// `DELETE path`.
    pub fn delete(&self, path: &str) -> Result<Response, Error> {
        self.send(self.builder(Method::DELETE, path))
    }

    /// `HEAD path`.
    pub fn head(&self, path: &str) -> Result<Response, Error> {
        self.send(self.builder(Method::HEAD, path))
    }

    /// Send a request and decode a 2xx JSON body; a non-2xx status is [`ErrorKind::Status`].
    pub fn request_json<T: DeserializeOwned>(&self, builder: RequestBuilder) -> Result<T, Error> {
        self.send(builder)?.success_json().map_err(Error::new)
    }

    /// `method path` with `payload` as a JSON body; decodes a 2xx JSON answer.
    pub fn json<T: DeserializeOwned, P: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        payload: &P,
    ) -> Result<T, Error> {
        self.request_json(self.builder(method, path).json(payload))
    }

    /// Send several requests pipelined on one connection; results come back in order.
    pub fn batch(&self, reqs: Vec<Request>) -> Vec<Result<Response, Error>> {
        let mut items = Vec::with_capacity(reqs.len());
        let mut handles = Vec::with_capacity(reqs.len());
        for req in reqs {
            let (abort, tx, pending) = self.handle();
            items.push((abort.token, req, tx));
            handles.push(RequestHandle { pending });
        }
        self.inner.send(Cmd::Batch(items));
        handles.into_iter().map(RequestHandle::wait).collect()
    }

    /// Subscribe to a server-sent event stream at `url` (a path joined to the base URL, or absolute).
    pub fn events(&self, url: &str) -> EventStream {
        // The core adds `Accept: text/event-stream` and `Cache-Control: no-cache`.
        match self.builder(Method::GET, url).build() {
            Ok(req) => self.subscribe(req, StreamOptions::default()),
            Err(e) => EventStream::new(self.rejected(e).pending),
        }
    }

    /// Subscribe with a custom request (headers, auth) and stream options.
    pub fn subscribe(&self, req: Request, opts: StreamOptions) -> EventStream {
        let (abort, tx, pending) = self.handle();
        self.inner.send(Cmd::Subscribe(abort.token, req, opts, tx));
        EventStream::new(pending)
    }

    /// Callback form of [`Client::events`]: blocks, calling `callback(&mut ctx, event)` for each stream
    /// event until it returns `Break` (then `Ok(ctx)`) or the stream ends (then its error).
    pub fn stream_sse<C, F>(&self, url: &str, mut callback: F, mut ctx: C) -> Result<C, Error>
    where
        F: FnMut(&mut C, StreamEvent) -> ControlFlow<()>,
    {
        for item in self.events(url) {
            if callback(&mut ctx, item?).is_break() {
                return Ok(ctx);
            }
        }
        Err(Error::new(ErrorKind::Shutdown))
    }

    /// Drop every idle pooled connection (memory pressure).
    pub fn release_idle(&self) {
        self.inner.send(Cmd::ReleaseIdle);
    }
}

/// Aborts one request or event stream from any thread. Aborting twice or after the end does nothing.
#[derive(Debug, Clone)]
pub struct AbortHandle {
    token: u64,
    client: std::sync::Weak<Inner>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Client")
    }
}

impl AbortHandle {
    /// Ask the core to abort: the request ends with [`ErrorKind::Aborted`].
    pub fn abort(&self) {
        if let Some(inner) = self.client.upgrade() {
            inner.send(Cmd::Abort(self.token));
        }
    }

    /// Abort when `signal` fires (at once if it already has): one `AbortController` can cancel many
    /// requests and streams.
    pub fn abort_on(&self, signal: &plue_http_core::abort::AbortSignal) {
        let handle = self.clone();
        signal.on_abort(move || handle.abort());
    }
}

/// One request's event channel; aborts on drop unless it saw the terminal event.
struct Pending {
    abort: AbortHandle,
    rx: Receiver<Event>,
    finished: bool,
    _client: Arc<Inner>,
}

impl Pending {
    /// The next event, waiting at most `timeout` (`None`: forever); `Ok(None)` when the time ran out.
    fn next(&mut self, timeout: Option<Duration>) -> Result<Option<Event>, Error> {
        if self.finished {
            return Err(Error::new(ErrorKind::Shutdown));
        }
        let got = match timeout {
            None => self.rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Some(t) => self.rx.recv_timeout(t),
        };
        match got {
            Ok(ev) => {
                self.finished = matches!(ev, Event::Done { .. } | Event::Failed { .. });
                Ok(Some(ev))
            }
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => {
                self.finished = true;
                Err(Error::new(ErrorKind::Shutdown))
            }
        }
    }

    fn consumed(&self, n: usize) {
        if n > 0 && !self.finished {
            if let Some(inner) = self.abort.client.upgrade() {
                inner.send(Cmd::Consumed(self.abort.token, n));
            }
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if !self.finished {
            self.abort.abort();
        }
    }
}

/// A submitted request. Dropping it before the end aborts the request.
pub struct RequestHandle {
    pending: Pending,
}

impl RequestHandle {
    /// A handle that aborts this request from any thread.
    pub fn abort_handle(&self) -> AbortHandle {
        self.pending.abort.clone()
    }

    /// Block until the head arrives.
    pub fn streaming(mut self) -> Result<StreamingResponse, Error> {
        loop {
            match self.pending.next(None)? {
                Some(Event::Head { head, .. }) => {
                    return Ok(StreamingResponse {
                        head,
                        body: BodyReader {
                            pending: self.pending,
                        },
                    })
                }
                Some(Event::Failed { error, .. }) => return Err(error),
                Some(Event::Done { .. }) => {
                    return Err(Error::new(ErrorKind::InvalidResponse {
                        violation: Violation::IncompleteHead,
                    }))
                }
                _ => {}
            }
        }
    }

    /// Block until the whole response has arrived.
    pub fn wait(self) -> Result<Response, Error> {
        let (head, mut body) = self.streaming()?.into_parts();
        Ok(Response::new(head, body.bytes()?))
    }
}

/// A response head with a body still arriving.
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
pub struct BodyReader {
    pending: Pending,
}

impl BodyReader {
    /// The next chunk, `Ok(None)` at the end of the body.
    pub fn chunk(&mut self) -> Result<Option<Bytes>, Error> {
        loop {
            if self.pending.finished {
                return Ok(None);
            }
            match self.pending.next(None)? {
                Some(Event::Body { data, .. }) => {
                    self.pending.consumed(data.len());
                    return Ok(Some(data));
                }
                Some(Event::Done { .. }) => return Ok(None),
                Some(Event::Failed { error, .. }) => return Err(error),
                _ => {}
            }
        }
    }

    /// Read the rest of the body into one `Bytes`.
    pub fn bytes(&mut self) -> Result<Bytes, Error> {
        let mut all = Vec::new();
        let mut only: Option<Bytes> = None;
        while let Some(chunk) = self.chunk()? {
            match only.take() {
                None if all.is_empty() => only = Some(chunk),
                prev => {
                    all.extend_from_slice(prev.as_deref().unwrap_or_default());
                    all.extend_from_slice(&chunk);
                }
            }
        }
        Ok(only.unwrap_or_else(|| all.into()))
    }

    /// A handle that aborts this request from any thread.
    pub fn abort_handle(&self) -> AbortHandle {
        self.pending.abort.clone()
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
pub struct EventStream {
    pending: Pending,
    end: Option<Error>,
}

impl EventStream {
    fn new(pending: Pending) -> Self {
        EventStream { pending, end: None }
    }

    /// The next stream event, waiting at most `timeout`: `Ok(None)` when nothing arrived in time, `Err` once
    /// the stream has ended (the same error on every later call).
    pub fn next_timeout(&mut self, timeout: Duration) -> Result<Option<StreamEvent>, Error> {
        if let Some(e) = &self.end {
            return Err(e.clone());
        }
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.pending.next(Some(left)) {
                Ok(None) => return Ok(None),
                Ok(Some(Event::Stream { event, .. })) => return Ok(Some(event)),
                Ok(Some(Event::Failed { error, .. })) | Err(error) => {
                    self.end = Some(error.clone());
                    return Err(error);
                }
                Ok(Some(_)) => {}
            }
        }
    }

    /// A handle that aborts this stream from any thread.
    pub fn abort_handle(&self) -> AbortHandle {
        self.pending.abort.clone()
    }

    /// Abort the stream now; it ends with [`ErrorKind::Aborted`].
    pub fn abort(&self) {
        self.pending.abort.abort();
    }
}

impl Iterator for EventStream {
    type Item = Result<StreamEvent, Error>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.end.is_some() {
            return None;
        }
        loop {
            match self.pending.next(None) {
                Ok(Some(Event::Stream { event, .. })) => return Some(Ok(event)),
                Ok(Some(Event::Failed { error, .. })) | Err(error) => {
                    self.end = Some(error.clone());
                    return Some(Err(error));
                }
                Ok(_) => {}
            }
        }
    }
}
