//! What callers hold: futures for responses, a streaming body reader, an event stream, abort handles.
//!
//! Every handle aborts its request when dropped before the end, so a cancelled future or a dropped stream
//! frees its connection slot in the core.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use std::any::Any;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures_lite::{Stream, StreamExt};

use super::chan::Receiver;
use super::router::{Commands, Msg};
use plue_http_core::client::Event;
use plue_http_core::error::{Error, ErrorKind, Violation};
use plue_http_core::response::{Response, ResponseHead};
use plue_http_core::sse::StreamEvent;

/// Aborts one request or event stream. Cheap to clone; aborting twice or after the end does nothing.
#[derive(Clone)]
pub struct AbortHandle {
    token: u64,
    cmds: Commands,
}

impl AbortHandle {
    pub(crate) fn new(token: u64, cmds: Commands) -> Self {
        AbortHandle { token, cmds }
    }

    pub(crate) fn token(&self) -> u64 {
        self.token
    }

    /// Ask the core to abort: the request ends with [`ErrorKind::Aborted`].
    pub fn abort(&self) {
        self.cmds.send(Msg::Abort(self.token));
    }

    /// Abort when `signal` fires (at once if it already has): one [`AbortController`] can cancel many
    /// requests and streams.
    ///
    /// [`AbortController`]: plue_http_core::abort::AbortController
    pub fn abort_on(&self, signal: &plue_http_core::abort::AbortSignal) {
        let handle = self.clone();
        signal.on_abort(move || handle.abort());
    }
}

impl core::fmt::Debug for AbortHandle {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AbortHandle")
            .field("token", &self.token)
            .finish()
    }
}

/// One submitted request's event channel. Aborts on drop unless it saw the terminal event.
pub(crate) struct Pending {
    pub(crate) abort: AbortHandle,
    events: Receiver<Event>,
    finished: bool,
    /// Body bytes handed out but not yet reported to the core (see [`Pending::poll_event`]).
    unacked: usize,
    /// Keeps the client (and so its driver task) alive while this handle exists.
    _client: Arc<dyn Any + Send + Sync>,
}

impl Pending {
    pub(crate) fn new(
        abort: AbortHandle,
        events: Receiver<Event>,
        client: Arc<dyn Any + Send + Sync>,
    ) -> Self {
        Pending {
            abort,
            events,
            finished: false,
            unacked: 0,
            _client: client,
        }
    }

    /// The next event; `None` once the channel closed (the terminal event was already returned, or shutdown).
    ///
    /// Taken body bytes are reported to the core only when the owner is about to wait for more: a body that
    /// ends in the same read as it arrived (the common small response) then costs no `Consumed` command and
    /// no wake-up of the driver, while a reader that keeps polling still returns credit before every wait.
    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        if self.finished {
            return Poll::Ready(None);
        }
        match self.events.poll_recv(cx) {
            Poll::Ready(Some(ev)) => {
                self.finished = matches!(ev, Event::Done { .. } | Event::Failed { .. });
                Poll::Ready(Some(ev))
            }
            Poll::Ready(None) => {
                self.finished = true;
                Poll::Ready(Some(Event::Failed {
                    id: plue_http_core::client::RequestId(u64::MAX),
                    error: Error::new(ErrorKind::Shutdown),
                }))
            }
            Poll::Pending => {
                self.flush_consumed();
                Poll::Pending
            }
        }
    }

    /// The owner took `n` body bytes; the core hears of it before the owner next waits.
    fn consumed(&mut self, n: usize) {
        self.unacked += n;
    }

    fn flush_consumed(&mut self) {
        let n = core::mem::take(&mut self.unacked);
        if n > 0 && !self.finished {
            self.abort.cmds.send(Msg::Consumed(self.abort.token, n));
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

fn incomplete() -> Error {
    Error::new(ErrorKind::InvalidResponse {
        violation: Violation::IncompleteHead,
    })
}

/// Wait for the head, then collect the body.
pub(crate) async fn collect(p: Pending) -> Result<Response, Error> {
    RequestFuture::<Response>::new(p).await
}

/// A submitted request: a future for its outcome plus an [`AbortHandle`]. The request is already on its way
/// when this is created; dropping it before completion aborts the request.
///
/// A hand-written state machine rather than a boxed `async` block: no allocation per request.
#[must_use = "dropping the future aborts the request"]
pub struct RequestFuture<T> {
    abort: AbortHandle,
    phase: Phase,
    _out: core::marker::PhantomData<fn() -> T>,
}

enum Phase {
    /// Waiting for the head.
    Head(Pending),
    /// Collecting the body (the first chunk is kept as it is; later ones are appended to `rest`).
    Body {
        head: ResponseHead,
        reader: BodyReader,
        first: Option<Bytes>,
        rest: BytesMut,
    },
    /// The outcome was returned.
    Done,
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for plue_http_core::response::Response {}
    impl Sealed for super::StreamingResponse {}
}

/// What a [`RequestFuture`] resolves to: a collected [`Response`] or a [`StreamingResponse`]. Sealed.
pub trait RequestOutcome: sealed::Sealed + Sized {
    #[doc(hidden)]
    const COLLECT: bool;
    #[doc(hidden)]
    fn finish(head: ResponseHead, reader: BodyReader, body: Bytes) -> Self;
}

impl RequestOutcome for Response {
    const COLLECT: bool = true;
    fn finish(head: ResponseHead, _reader: BodyReader, body: Bytes) -> Self {
        Response::new(head, body)
    }
}

impl RequestOutcome for StreamingResponse {
    const COLLECT: bool = false;
    fn finish(head: ResponseHead, reader: BodyReader, _body: Bytes) -> Self {
        StreamingResponse { head, body: reader }
    }
}

/// A request whose body is collected into memory.
pub type ResponseFuture = RequestFuture<Response>;
/// A request whose body is read as it arrives.
pub type StreamingFuture = RequestFuture<StreamingResponse>;

impl<T: RequestOutcome> RequestFuture<T> {
    pub(crate) fn new(p: Pending) -> Self {
        RequestFuture {
            abort: p.abort.clone(),
            phase: Phase::Head(p),
            _out: core::marker::PhantomData,
        }
    }
}

impl<T> RequestFuture<T> {
    /// A handle that aborts this request from anywhere.
    pub fn abort_handle(&self) -> AbortHandle {
        self.abort.clone()
    }
}

impl<T: RequestOutcome> Future for RequestFuture<T> {
    type Output = Result<T, Error>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            // Taken out and put back unless finished: an early return leaves `Done` behind.
            match core::mem::replace(&mut this.phase, Phase::Done) {
                Phase::Head(mut pending) => match pending.poll_event(cx) {
                    Poll::Pending => {
                        this.phase = Phase::Head(pending);
                        return Poll::Pending;
                    }
                    // Body events before the head cannot happen (the core sends the head first).
                    Poll::Ready(Some(Event::Body { .. } | Event::Stream { .. })) => {
                        this.phase = Phase::Head(pending);
                    }
                    Poll::Ready(Some(Event::Head { head, .. })) => {
                        let reader = BodyReader { pending };
                        if !T::COLLECT {
                            return Poll::Ready(Ok(T::finish(head, reader, Bytes::new())));
                        }
                        this.phase = Phase::Body {
                            head,
                            reader,
                            first: None,
                            rest: BytesMut::new(),
                        };
                    }
                    Poll::Ready(Some(Event::Failed { error, .. })) => {
                        return Poll::Ready(Err(error))
                    }
                    Poll::Ready(Some(Event::Done { .. }) | None) => {
                        return Poll::Ready(Err(incomplete()))
                    }
                },
                Phase::Body {
                    head,
                    mut reader,
                    mut first,
                    mut rest,
                } => match Pin::new(&mut reader).poll_next(cx) {
                    Poll::Ready(None) => {
                        let body = if rest.is_empty() {
                            first.unwrap_or_default()
                        } else {
                            rest.freeze()
                        };
                        return Poll::Ready(Ok(T::finish(head, reader, body)));
                    }
                    Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(e)),
                    polled => {
                        let pending = polled.is_pending();
                        if let Poll::Ready(Some(Ok(chunk))) = polled {
                            match &first {
                                None => first = Some(chunk),
                                Some(f) => {
                                    if rest.is_empty() {
                                        rest.extend_from_slice(f);
                                    }
                                    rest.extend_from_slice(&chunk);
                                }
                            }
                        }
                        this.phase = Phase::Body {
                            head,
                            reader,
                            first,
                            rest,
                        };
                        if pending {
                            return Poll::Pending;
                        }
                    }
                },
                Phase::Done => return Poll::Ready(Err(Error::new(ErrorKind::Shutdown))),
            }
        }
    }
}

impl<T> core::fmt::Debug for RequestFuture<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RequestFuture")
            .field("abort", &self.abort)
            .finish()
    }
}

/// A response head with a body still arriving.
#[derive(Debug)]
pub struct StreamingResponse {
    head: ResponseHead,
    body: BodyReader,
}

impl StreamingResponse {
    /// The status code.
    pub fn status(&self) -> http::StatusCode {
        self.head.status
    }

    /// The head.
    pub fn head(&self) -> &ResponseHead {
        &self.head
    }

    /// Split into head and body reader.
    pub fn into_parts(self) -> (ResponseHead, BodyReader) {
        (self.head, self.body)
    }

    /// The body reader.
    pub fn into_body(self) -> BodyReader {
        self.body
    }
}

/// A response body read chunk by chunk as it arrives. Each chunk taken tells the core it may read more
/// (backpressure: at most 1 MiB waits undelivered). Dropping the reader before the end aborts the request
/// (and the core closes that connection rather than reuse it).
pub struct BodyReader {
    pending: Pending,
}

impl core::fmt::Debug for BodyReader {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BodyReader")
            .field("abort", &self.pending.abort)
            .finish()
    }
}

impl BodyReader {
    /// The next chunk, `Ok(None)` at the end of the body.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, Error> {
        self.next().await.transpose()
    }

    /// Read the rest of the body into one `Bytes`.
    pub async fn bytes(&mut self) -> Result<Bytes, Error> {
        let mut first: Option<Bytes> = None;
        let mut rest = BytesMut::new();
        while let Some(chunk) = self.chunk().await? {
            match &first {
                None => first = Some(chunk),
                Some(f) => {
                    if rest.is_empty() {
                        rest.extend_from_slice(f);
                    }
                    rest.extend_from_slice(&chunk);
                }
            }
        }
        Ok(if rest.is_empty() {
            first.unwrap_or_default()
        } else {
            rest.freeze()
        })
    }

    /// A handle that aborts this request from anywhere.
    pub fn abort_handle(&self) -> AbortHandle {
        self.pending.abort.clone()
    }
}

impl Stream for BodyReader {
    type Item = Result<Bytes, Error>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            return match self.pending.poll_event(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(None) | Poll::Ready(Some(Event::Done { .. })) => Poll::Ready(None),
                Poll::Ready(Some(Event::Body { data, .. })) => {
                    self.pending.consumed(data.len());
                    Poll::Ready(Some(Ok(data)))
                }
                Poll::Ready(Some(Event::Failed { error, .. })) => Poll::Ready(Some(Err(error))),
                Poll::Ready(Some(_)) => continue,
            };
        }
    }
}

/// A server-sent event stream that reconnects by itself (the core decides when and how). Yields
/// [`StreamEvent`]s; an `Err` is the end (the stream gave up, was aborted, or the client shut down), after
/// which it yields `None`. Dropping it aborts the subscription. Backpressure as for a body: at most 1 MiB of
/// events waits untaken, then the core stops reading the connection.
pub struct EventStream {
    pending: Pending,
    ended: bool,
}

impl core::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("EventStream")
            .field("abort", &self.pending.abort)
            .finish()
    }
}

impl EventStream {
    pub(crate) fn new(pending: Pending) -> Self {
        EventStream {
            pending,
            ended: false,
        }
    }

    /// A handle that aborts this stream from anywhere.
    pub fn abort_handle(&self) -> AbortHandle {
        self.pending.abort.clone()
    }

    /// Abort the stream now; it ends with [`ErrorKind::Aborted`].
    pub fn abort(&self) {
        self.pending.abort.abort();
    }
}

impl Stream for EventStream {
    type Item = Result<StreamEvent, Error>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if self.ended {
                return Poll::Ready(None);
            }
            return match self.pending.poll_event(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(Some(Event::Stream { event, .. })) => {
                    // The core counted this much undelivered; it hears back before the owner next waits.
                    self.pending.consumed(event.wire_size());
                    Poll::Ready(Some(Ok(event)))
                }
                Poll::Ready(Some(Event::Failed { error, .. })) => {
                    self.ended = true;
                    Poll::Ready(Some(Err(error)))
                }
                Poll::Ready(None) | Poll::Ready(Some(Event::Done { .. })) => {
                    self.ended = true;
                    Poll::Ready(None)
                }
                Poll::Ready(Some(_)) => continue,
            };
        }
    }
}
