//! The async [`Client`]: cheap to clone, `Send + Sync`, one driver task per client.

use core::ops::ControlFlow;
use core::sync::atomic::{AtomicU64, Ordering};
use std::any::Any;
use std::sync::Arc;

use futures_lite::StreamExt;
use http::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::chan::{self, Sender};
use super::handles::{self, AbortHandle, EventStream, Pending, ResponseFuture, StreamingFuture};
use super::router::{Commands, Msg, Router, Wake};
use super::runtime::Runtime;
use super::task;
use plue_http_core::client::{ClientMachine, Event, Options, RequestId, StreamOptions};
use plue_http_core::error::{Error, ErrorKind};
use plue_http_core::request::{Request, RequestBuilder};
use plue_http_core::response::Response;
use plue_http_core::sse::StreamEvent;
use plue_http_core::url::Url;

/// An HTTP/1.1 + SSE client on runtime `R`. Clones share one connection pool and one driver task; the task
/// stops when the last clone and the last request handle are gone. The request methods are [`Front`]'s
/// (reached through `Deref`).
pub struct Client<R: Runtime> {
    front: Front,
    rt: R,
}

impl<R: Runtime> Clone for Client<R> {
    fn clone(&self) -> Self {
        Client {
            front: self.front.clone(),
            rt: self.rt.clone(),
        }
    }
}

impl<R: Runtime> core::fmt::Debug for Client<R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.front.inner.base)
            .finish_non_exhaustive()
    }
}

impl<R: Runtime + Default> Client<R> {
    /// A client with `options` on the runtime's default instance. Fails on an invalid `base_url`.
    pub fn new(options: Options) -> Result<Self, Error> {
        Self::with_runtime(R::default(), options)
    }
}

impl<R: Runtime> Client<R> {
    /// A client with `options` on the given runtime. Fails on an invalid `base_url`.
    pub fn with_runtime(rt: R, options: Options) -> Result<Self, Error> {
        let (front, machine, router) = Front::new(options, rt.entropy(), None)?;
        let tx = front.inner.cmds.tx.clone();
        rt.spawn(task::run(rt.clone(), machine, router, tx, rt.now()));
        Ok(Client { front, rt })
    }

    /// The runtime this client runs on.
    pub fn runtime(&self) -> &R {
        &self.rt
    }
}

impl<R: Runtime> core::ops::Deref for Client<R> {
    type Target = Front;
    fn deref(&self) -> &Front {
        &self.front
    }
}

/// The handle side of a client, without a runtime: builds and submits requests, hands out futures, streams
/// and abort handles. [`Client`] is a `Front` whose machine runs in a driver task; a driver that owns the
/// machine itself (the mio event loop) creates one with [`Front::new`] and serves its [`Router`].
#[derive(Clone)]
pub struct Front {
    inner: Arc<Inner>,
}

struct Inner {
    cmds: Commands,
    options: Options,
    base: Option<Url>,
    next_token: AtomicU64,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.cmds.send(Msg::Shutdown);
    }
}

impl core::fmt::Debug for Front {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Front")
            .field("base_url", &self.inner.base)
            .finish_non_exhaustive()
    }
}

impl Front {
    /// A front, the machine it commands (seeded with `seed`) and the router its owner serves. `wake` is
    /// called after every command so an owner blocked outside async code notices it. When the last front
    /// clone and handle are gone, the router reports [`Applied::Shutdown`](super::Applied::Shutdown).
    pub fn new(
        options: Options,
        seed: u64,
        wake: Option<Wake>,
    ) -> Result<(Front, ClientMachine, Router), Error> {
        // TLS inputs (crypto, trust, wall clock) are built here, never in the core.
        let options = crate::tls::with_default_tls(options).map_err(Error::new)?;
        let machine = ClientMachine::new(options.clone(), seed).map_err(Error::new)?;
        let base = machine.base_url().cloned();
        let (tx, rx) = chan::unbounded();
        let front = Front {
            inner: Arc::new(Inner {
                cmds: Commands::new(tx, wake),
                options,
                base,
                next_token: AtomicU64::new(1),
            }),
        };
        Ok((front, machine, Router::new(rx)))
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

    fn keep(&self) -> Arc<dyn Any + Send + Sync> {
        self.inner.clone()
    }

    fn token(&self) -> AbortHandle {
        let token = self.inner.next_token.fetch_add(1, Ordering::Relaxed);
        AbortHandle::new(token, self.inner.cmds.clone())
    }

    /// Hand `msg` (built around a fresh token and event channel) to the driver.
    fn submit(&self, msg: impl FnOnce(u64, Sender<Event>) -> Msg) -> Pending {
        let abort = self.token();
        let (ev_tx, ev_rx) = chan::unbounded();
        self.inner.cmds.send(msg(abort.token(), ev_tx));
        Pending::new(abort, ev_rx, self.keep())
    }

    /// A handle that ends at once with `error` (a request that could not be built).
    fn rejected(&self, error: Error) -> Pending {
        let (ev_tx, ev_rx) = chan::unbounded();
        let _ = ev_tx.try_send(Event::Failed {
            id: RequestId(u64::MAX),
            error,
        });
        Pending::new(self.token(), ev_rx, self.keep())
    }

    fn pending(&self, req: Request) -> Pending {
        self.submit(|token, events| Msg::Request { token, req, events })
    }

    /// Send a request; the body is collected into memory. Any final status is `Ok`.
    pub fn request(&self, mut req: Request) -> ResponseFuture {
        req.options_mut().collect_body = true;
        let p = self.pending(req);
        handles::RequestFuture::new(p)
    }

    /// Build and send a request.
    pub fn send(&self, builder: RequestBuilder) -> ResponseFuture {
        match builder.build() {
            Ok(req) => self.request(req),
            Err(e) => {
                let p = self.rejected(Error::new(e));
                handles::RequestFuture::new(p)
            }
        }
    }

    /// Send a request and resolve as soon as the head arrives; read the body from the returned reader.
    pub fn request_streaming(&self, req: Request) -> StreamingFuture {
        let p = self.pending(req);
        handles::RequestFuture::new(p)
    }

    /// Build a request and send it like [`Front::request_streaming`].
    pub fn send_streaming(&self, builder: RequestBuilder) -> StreamingFuture {
        let p = match builder.build() {
            Ok(req) => self.pending(req),
            Err(e) => self.rejected(Error::new(e)),
        };
        handles::RequestFuture::new(p)
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> ResponseFuture {
        self.send(self.builder(Method::GET, path))
    }

    /// `POST path` without a body (use [`Front::builder`] or [`Front::json`] for one).
    pub fn post(&self, path: &str) -> ResponseFuture {
        self.send(self.builder(Method::POST, path))
    }

    /// `PUT path` without a body.
    pub fn put(&self, path: &str) -> ResponseFuture {
        self.send(self.builder(Method::PUT, path))
    }

    /// `PATCH path` without a body.
    pub fn patch(&self, path: &str) -> ResponseFuture {
        self.send(self.builder(Method::PATCH, path))
    }

    /// `DELETE path`.
    pub fn delete(&self, path: &str) -> ResponseFuture {
        self.send(self.builder(Method::DELETE, path))
    }

    /// `HEAD path`.
    pub fn head(&self, path: &str) -> ResponseFuture {
        self.send(self.builder(Method::HEAD, path))
    }

    /// Send a request and decode a 2xx JSON body; a non-2xx status is [`ErrorKind::Status`].
    pub async fn request_json<T: DeserializeOwned>(
        &self,
        builder: RequestBuilder,
    ) -> Result<T, Error> {
        let resp = self.send(builder).await?;
        resp.success_json().map_err(Error::new)
    }

    /// `method path` with `payload` as a JSON body; decodes a 2xx JSON answer.
    pub async fn json<T: DeserializeOwned, P: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        payload: &P,
    ) -> Result<T, Error> {
        self.request_json(self.builder(method, path).json(payload))
            .await
    }

    /// Send several requests pipelined on one connection; results come back in order.
    pub async fn batch(&self, reqs: Vec<Request>) -> Vec<Result<Response, Error>> {
        let mut pendings = Vec::with_capacity(reqs.len());
        let mut items = Vec::with_capacity(reqs.len());
        for mut req in reqs {
            req.options_mut().collect_body = true;
            let abort = self.token();
            let (ev_tx, ev_rx) = chan::unbounded();
            items.push((abort.token(), req, ev_tx));
            pendings.push(Pending::new(abort, ev_rx, self.keep()));
        }
        self.inner.cmds.send(Msg::Batch(items));
        let mut out = Vec::with_capacity(pendings.len());
        for p in pendings {
            out.push(handles::collect(p).await);
        }
        out
    }

    /// Subscribe to a server-sent event stream at `url` (a path joined to the base URL, or absolute), with
    /// the client's reconnect settings.
    pub fn events(&self, url: &str) -> EventStream {
        // The core adds `Accept: text/event-stream` and `Cache-Control: no-cache`.
        match self.builder(Method::GET, url).build() {
            Ok(req) => self.subscribe(req, StreamOptions::default()),
            Err(e) => EventStream::new(self.rejected(Error::new(e))),
        }
    }

    /// Subscribe with a custom request (headers, auth) and stream options.
    pub fn subscribe(&self, req: Request, opts: StreamOptions) -> EventStream {
        EventStream::new(self.submit(|token, events| Msg::Subscribe {
            token,
            req,
            opts,
            events,
        }))
    }

    /// Callback form of [`Front::events`]: calls `callback(&mut ctx, event)` for each stream event until it
    /// returns `Break` (then `Ok(ctx)`), or the stream ends (then its error). Dropping the future aborts.
    pub async fn stream_sse<C, F>(&self, url: &str, mut callback: F, mut ctx: C) -> Result<C, Error>
    where
        F: FnMut(&mut C, StreamEvent) -> ControlFlow<()>,
    {
        let mut events = self.events(url);
        while let Some(item) = events.next().await {
            if callback(&mut ctx, item?).is_break() {
                return Ok(ctx);
            }
        }
        Err(Error::new(ErrorKind::Shutdown))
    }

    /// Drop every idle pooled connection (memory pressure).
    pub fn release_idle(&self) {
        self.inner.cmds.send(Msg::ReleaseIdle);
    }
}
