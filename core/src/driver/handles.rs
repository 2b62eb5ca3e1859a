//! What callers hold: futures for responses, a streaming body reader, an event stream, abort handles.
//!
//! Every handle aborts its request when dropped before the end, so a cancelled future or a dropped stream
//! frees its connection slot in the core.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use std::any::Any;
use std::sync::Arc;

use async_channel::Receiver;
use bytes::{Bytes, BytesMut};
use futures_lite::{Stream, StreamExt};

use super::router::{Commands, Msg};
use crate::client::Event;
use crate::error::{Error, ErrorKind, Violation};
use crate::response::{Response, ResponseHead};
use crate::sse::StreamEvent;

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
    /// [`AbortController`]: crate::abort::AbortController
    pub fn abort_on(&self, signal: &crate::abort::AbortSignal) {
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
    /// Boxed: the receiver keeps a listener and is not `Unpin`.
    events: Pin<Box<Receiver<Event>>>,
    finished: bool,
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
            events: Box::pin(events),
            finished: false,
            _client: client,
        }
    }

    /// The next event; `None` once the channel closed (the terminal event was already returned, or shutdown).
    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        if self.finished {
            return Poll::Ready(None);
        }
        match self.events.as_mut().poll_next(cx) {
            Poll::Ready(Some(ev)) => {
                self.finished = matches!(ev, Event::Done { .. } | Event::Failed { .. });
                Poll::Ready(Some(ev))
            }
            Poll::Ready(None) => {
                self.finished = true;
                Poll::Ready(Some(Event::Failed {
                    id: crate::client::RequestId(u64::MAX),
                    error: Error::new(ErrorKind::Shutdown),
                }))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    async fn next(&mut self) -> Option<Event> {
        futures_lite::future::poll_fn(|cx| self.poll_event(cx)).await
    }

    fn consumed(&self, n: usize) {
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

/// Wait for the head; body events before it cannot happen (the core sends the head first).
async fn head(p: &mut Pending) -> Result<ResponseHead, Error> {
    loop {
        match p.next().await {
            Some(Event::Head { head, .. }) => return Ok(head),
            Some(Event::Failed { error, .. }) => return Err(error),
            Some(Event::Done { .. }) | None => return Err(incomplete()),
            Some(Event::Body { .. } | Event::Stream { .. }) => {}
        }
    }
}

pub(crate) async fn collect(mut p: Pending) -> Result<Response, Error> {
    let head = head(&mut p).await?;
    let mut reader = BodyReader { pending: p };
    let body = reader.bytes().await?;
    Ok(Response::new(head, body))
}

pub(crate) async fn streaming(mut p: Pending) -> Result<StreamingResponse, Error> {
    let head = head(&mut p).await?;
    Ok(StreamingResponse {
        head,
        body: BodyReader { pending: p },
    })
}

/// A submitted request: a future for its outcome plus an [`AbortHandle`]. The request is already on its way
/// when this is created; dropping it before completion aborts the request.
#[must_use = "dropping the future aborts the request"]
pub struct RequestFuture<T> {
    abort: AbortHandle,
    fut: Pin<Box<dyn Future<Output = Result<T, Error>> + Send>>,
}

/// A request whose body is collected into memory.
pub type ResponseFuture = RequestFuture<Response>;
/// A request whose body is read as it arrives.
pub type StreamingFuture = RequestFuture<StreamingResponse>;

impl<T> RequestFuture<T> {
    pub(crate) fn new(
        abort: AbortHandle,
        fut: impl Future<Output = Result<T, Error>> + Send + 'static,
    ) -> Self {
        RequestFuture {
            abort,
            fut: Box::pin(fut),
        }
    }

    /// A handle that aborts this request from anywhere.
    pub fn abort_handle(&self) -> AbortHandle {
        self.abort.clone()
    }
}

impl<T> Future for RequestFuture<T> {
    type Output = Result<T, Error>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.fut.as_mut().poll(cx)
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
/// which it yields `None`. Dropping it aborts the subscription.
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
                Poll::Ready(Some(Event::Stream { event, .. })) => Poll::Ready(Some(Ok(event))),
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
