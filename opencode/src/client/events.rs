//! Typed OpenCode event streams: the core's reconnecting [`EventStream`] with each event parsed, that follows
//! the server across restarts and to a new URL.

use core::pin::Pin;
use core::task::{Context, Poll};

use async_channel::Receiver;
use futures_lite::Stream;

use super::opencode::OpenCode;
use crate::{Api, Event, GlobalEvent};
use plue_http_core::client::StreamOptions;
use plue_http_core::error::{Error, ErrorKind};
use plue_http_core::request::Request;
use plue_http_core::sse::StreamEvent;
use plue_http_driver::EventStream;

/// One item of a typed event stream.
#[derive(Debug, Clone, PartialEq)]
pub enum EventItem<T> {
    /// A parsed OpenCode event.
    Event(T),
    /// Everything else the stream reports: `Connected`, `Reconnecting` (with the attempt), `Resumed` (a gap:
    /// OpenCode has no replay, so resync), comments, skipped oversized events, and events whose data is not an
    /// OpenCode event (as their raw `StreamEvent::Event`).
    Stream(StreamEvent),
    /// The stream was dropped and opened anew at `url`, because the server was restarted (maybe at a new URL):
    /// events sent in between are lost (a gap marker, like `Resumed`; resync).
    Resubscribed {
        /// The server URL now.
        url: String,
    },
}

/// A typed, reconnecting OpenCode event stream. An `Err` ends it; dropping it unsubscribes.
pub struct Events<T> {
    opencode: OpenCode,
    request: RequestFn,
    parse: fn(&str) -> Result<T, ErrorKind>,
    inner: Option<EventStream>,
    /// An error to yield once (the subscription request could not be built).
    failed: Option<Error>,
    moves: Pin<Box<Receiver<String>>>,
    /// The API (URL and credentials) the current subscription was made with: a 401 after the credentials were
    /// replaced (a restarted server's new password) means "subscribe again", not "unauthorized".
    subscribed: Option<Api>,
}

impl<T> core::fmt::Debug for Events<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Events")
            .field("url", &self.opencode.url())
            .finish_non_exhaustive()
    }
}

/// Builds a stream's subscription request from the current API (a closure: a stream may carry parameters).
pub(crate) type RequestFn =
    std::sync::Arc<dyn Fn(&Api) -> Result<Request, ErrorKind> + Send + Sync>;

impl<T> Events<T> {
    pub(crate) fn new(
        opencode: OpenCode,
        request: fn(&Api) -> Result<Request, ErrorKind>,
        parse: fn(&str) -> Result<T, ErrorKind>,
    ) -> Self {
        Self::with_request(opencode, std::sync::Arc::new(request), parse)
    }

    /// A stream whose subscription request is built by `request` (each time it subscribes).
    pub(crate) fn with_request(
        opencode: OpenCode,
        request: RequestFn,
        parse: fn(&str) -> Result<T, ErrorKind>,
    ) -> Self {
        let moves = Box::pin(opencode.watch_moves());
        let mut events = Events {
            opencode,
            request,
            parse,
            inner: None,
            failed: None,
            moves,
            subscribed: None,
        };
        events.subscribe();
        events
    }

    /// (Re)subscribe at the current URL; the previous subscription (if any) is dropped, which aborts it.
    fn subscribe(&mut self) {
        self.inner = None;
        let api = self.opencode.api();
        match (*self.request)(&api) {
            Ok(req) => {
                self.subscribed = Some(api);
                self.inner = Some(
                    self.opencode
                        .front()
                        .subscribe(req, StreamOptions::default()),
                )
            }
            Err(e) => self.failed = Some(Error::new(e)),
        }
    }

    /// A 401 to a subscription made with credentials that have been replaced since.
    fn refused_with_stale_credentials(&self, e: &Error) -> bool {
        matches!(e.kind(), ErrorKind::Status(api) if api.status == 401)
            && self.subscribed.as_ref() != Some(&self.opencode.api())
    }

    /// Abort the stream now; it ends with [`ErrorKind::Aborted`].
    pub fn abort(&self) {
        if let Some(s) = &self.inner {
            s.abort();
        }
    }
}

impl<T> Stream for Events<T> {
    type Item = Result<EventItem<T>, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(e) = self.failed.take() {
            self.inner = None;
            return Poll::Ready(Some(Err(e)));
        }
        let Some(_) = &self.inner else {
            return Poll::Ready(None);
        };
        // A resubscription wins over the old stream's items: they are stale.
        let mut moved = None;
        while let Poll::Ready(Some(url)) = self.moves.as_mut().poll_next(cx) {
            moved = Some(url);
        }
        if let Some(url) = moved {
            self.subscribe();
            return Poll::Ready(Some(Ok(EventItem::Resubscribed { url })));
        }
        let parse = self.parse;
        let inner = self.inner.as_mut().expect("checked above");
        match Pin::new(inner).poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => {
                self.inner = None;
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) if self.refused_with_stale_credentials(&e) => {
                self.subscribe();
                let url = self.opencode.url();
                Poll::Ready(Some(Ok(EventItem::Resubscribed { url })))
            }
            Poll::Ready(Some(Err(e))) => {
                self.inner = None;
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(Some(Ok(StreamEvent::Event(sse)))) => {
                Poll::Ready(Some(Ok(match parse(&sse.data) {
                    Ok(ev) => EventItem::Event(ev),
                    Err(_) => EventItem::Stream(StreamEvent::Event(sse)),
                })))
            }
            Poll::Ready(Some(Ok(other))) => Poll::Ready(Some(Ok(EventItem::Stream(other)))),
        }
    }
}

impl OpenCode {
    /// `/event`: this directory's bus events, typed, reconnecting by itself (and following a moved server).
    pub fn events(&self) -> Events<Event> {
        Events::new(self.clone(), Api::event_request, Event::parse)
    }

    /// `/global/event`: every directory's events, typed, reconnecting by itself.
    pub fn global_events(&self) -> Events<GlobalEvent> {
        Events::new(self.clone(), Api::global_event_request, GlobalEvent::parse)
    }

    /// `/event` with each payload as sent (the SSE `data`), reconnecting by itself.
    pub fn raw_events(&self) -> Events<String> {
        Events::new(self.clone(), Api::event_request, raw)
    }

    /// `/global/event` with each payload as sent, reconnecting by itself.
    pub fn raw_global_events(&self) -> Events<String> {
        Events::new(self.clone(), Api::global_event_request, raw)
    }
}

fn raw(data: &str) -> Result<String, ErrorKind> {
    Ok(data.to_string())
}
