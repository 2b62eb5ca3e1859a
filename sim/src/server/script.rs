//! Scripted replies and the route table: scenarios written as data.
//!
//! A [`Script`] maps `(method, path)` to a list of [`Reply`]s used in order (the last one repeats), so "first
//! attempt resets mid-head, second succeeds" is one line of data. A [`Handler`] is the general form: the
//! fake OpenCode server is a stateful handler; a `Script` is the stateless one.

use core::time::Duration;

use bytes::Bytes;
use http::Method;

use super::ReceivedRequest;
use plue_http_core::time::Instant;

/// How a reply body is delimited on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `Content-Length`.
    Length,
    /// `Transfer-Encoding: chunked`; each body piece becomes one chunk.
    Chunked,
    /// No length: the body ends when the server closes the connection.
    CloseDelimited,
}

/// One piece of an SSE body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SseItem {
    /// An event: optional `event:` type, `data:` (split into lines), optional `id:`.
    Event {
        /// The `event:` field, if any.
        event: Option<String>,
        /// The data; each line becomes one `data:` field.
        data: String,
        /// The `id:` field, if any.
        id: Option<String>,
    },
    /// A comment line (`: text`), e.g. a heartbeat.
    Comment(String),
    /// A `retry:` field (milliseconds).
    Retry(u64),
    /// Raw bytes, sent as they are (for malformed-input scenarios).
    Raw(Bytes),
}

impl SseItem {
    /// An event with a type and data.
    pub fn event(event: &str, data: &str) -> SseItem {
        SseItem::Event {
            event: Some(event.to_string()),
            data: data.to_string(),
            id: None,
        }
    }

    /// The wire form of this item, terminated by the blank line that dispatches it.
    pub fn encode(&self) -> Bytes {
        let mut s = String::new();
        match self {
            SseItem::Event { event, data, id } => {
                if let Some(e) = event {
                    s.push_str("event: ");
                    s.push_str(e);
                    s.push('\n');
                }
                for line in data.split('\n') {
                    s.push_str("data: ");
                    s.push_str(line);
                    s.push('\n');
                }
                if let Some(id) = id {
                    s.push_str("id: ");
                    s.push_str(id);
                    s.push('\n');
                }
                s.push('\n');
            }
            SseItem::Comment(c) => {
                s.push_str(": ");
                s.push_str(c);
                s.push_str("\n\n");
            }
            SseItem::Retry(ms) => s.push_str(&format!("retry: {ms}\n\n")),
            SseItem::Raw(b) => return b.clone(),
        }
        Bytes::from(s)
    }
}

/// What an SSE stream does after its scripted items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SseEnd {
    /// End the response cleanly (final chunk or close).
    End,
    /// Keep the connection open and silent (apart from heartbeats) forever.
    Hang,
    /// Reset the connection.
    Reset,
}

/// A scripted event stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseScript {
    /// Items, each sent after its delay (measured from the previous item).
    pub items: Vec<(Duration, SseItem)>,
    /// A heartbeat item repeated at this period once the items are sent, while the stream hangs.
    pub heartbeat: Option<(Duration, SseItem)>,
    /// What happens after the items.
    pub end: SseEnd,
    /// Join this broadcast channel: items published to it with [`Ctx::publish_at`] are sent on the stream.
    pub channel: Option<String>,
}

/// The body of a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyBody {
    /// Fixed bytes, sent in `pieces` parts (chunked framing: one chunk per piece).
    Bytes(Bytes),
    /// An event stream (`Content-Type: text/event-stream` is added).
    Sse(SseScript),
}

/// One scripted response, with its timing and faults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Extra header fields (framing headers are added from `framing`).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: ReplyBody,
    /// How the body is delimited.
    pub framing: Framing,
    /// Wait this long before sending the head.
    pub head_delay: Duration,
    /// Wait this long between the head and the first body byte (a stalled body).
    pub body_delay: Duration,
    /// Send the body in pieces of this many bytes with this pause between them (a drip).
    pub drip: Option<(usize, Duration)>,
    /// Close the connection after this reply (adds `Connection: close`).
    pub close_after: bool,
    /// Reset the connection after this many bytes of the response (0 = before the head).
    pub reset_after: Option<usize>,
    /// Close the connection without a reply at all after `head_delay` (the server crashed after the work).
    pub drop_request: bool,
}

impl Reply {
    /// A `status` reply with a `Content-Length` body.
    pub fn new(status: u16, body: impl Into<Bytes>) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: ReplyBody::Bytes(body.into()),
            framing: Framing::Length,
            head_delay: Duration::ZERO,
            body_delay: Duration::ZERO,
            drip: None,
            close_after: false,
            reset_after: None,
            drop_request: false,
        }
    }

    /// `200 OK` with this body.
    pub fn ok(body: impl Into<Bytes>) -> Reply {
        Reply::new(200, body)
    }

    /// A JSON reply (`Content-Type: application/json`).
    pub fn json(status: u16, value: &serde_json::Value) -> Reply {
        Reply::new(status, value.to_string()).header("content-type", "application/json")
    }

    /// A redirect to `location`.
    pub fn redirect(status: u16, location: &str) -> Reply {
        Reply::new(status, Bytes::new()).header("location", location)
    }

    /// A `200` event stream (chunked, like most servers send it).
    pub fn sse(script: SseScript) -> Reply {
        let mut r = Reply::new(200, Bytes::new());
        r.body = ReplyBody::Sse(script);
        r.framing = Framing::Chunked;
        r.header("content-type", "text/event-stream")
            .header("cache-control", "no-cache")
    }

    /// Add a header field.
    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Use this framing.
    pub fn framing(mut self, framing: Framing) -> Reply {
        self.framing = framing;
        self
    }

    /// Delay the head.
    pub fn delay_head(mut self, d: Duration) -> Reply {
        self.head_delay = d;
        self
    }

    /// Stall between head and body.
    pub fn stall_body(mut self, d: Duration) -> Reply {
        self.body_delay = d;
        self
    }

    /// Drip the body in `piece`-byte pieces, `every` apart.
    pub fn drip(mut self, piece: usize, every: Duration) -> Reply {
        self.drip = Some((piece.max(1), every));
        self
    }

    /// Close the connection after this reply.
    pub fn close_after(mut self) -> Reply {
        self.close_after = true;
        self
    }

    /// Reset the connection after `n` response bytes.
    pub fn reset_after(mut self, n: usize) -> Reply {
        self.reset_after = Some(n);
        self
    }

    /// Close the connection instead of answering (after `head_delay`).
    pub fn drop_request(mut self) -> Reply {
        self.drop_request = true;
        self
    }

    /// `true` when the server did the request's work: a 2xx reply, even one that is then reset or dropped
    /// (the server crashed after doing the work). Redirects and error statuses (503, 429, …) are answered
    /// without executing anything, so a client may repeat them without duplicating work.
    pub fn executes(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// One scheduled publish: when, to which channel, its cancellation tag, and the item.
pub(crate) type Publish = (Instant, String, Option<String>, SseItem);

/// What a handler may do besides answering: publish to event-stream channels, and take back publishes that
/// have not been sent yet (an aborted reply stops streaming).
#[derive(Debug, Default)]
pub struct Ctx {
    pub(crate) publishes: Vec<Publish>,
    pub(crate) cancels: Vec<String>,
}

impl Ctx {
    /// Send `item` at `at` on every stream that has joined `channel` by then.
    pub fn publish_at(&mut self, at: Instant, channel: &str, item: SseItem) {
        self.publishes.push((at, channel.to_string(), None, item));
    }

    /// [`Ctx::publish_at`], with a tag [`Ctx::cancel`] can name later.
    pub fn publish_tagged(&mut self, at: Instant, channel: &str, tag: &str, item: SseItem) {
        self.publishes
            .push((at, channel.to_string(), Some(tag.to_string()), item));
    }

    /// Drop every publish tagged `tag` that has not been sent yet (applied before this call's own publishes).
    pub fn cancel(&mut self, tag: &str) {
        self.cancels.push(tag.to_string());
    }
}

/// Answers requests. Implementations must be deterministic: the same requests at the same times give the same
/// replies.
pub trait Handler: Send {
    /// Choose the reply for a complete request.
    fn handle(&mut self, now: Instant, req: &ReceivedRequest, ctx: &mut Ctx) -> Reply;
}

/// A route: requests matching `method` (any when `None`) and `path` get `replies` in order, the last repeating.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The method to match, or any.
    pub method: Option<Method>,
    /// The path to match exactly (the query is ignored).
    pub path: String,
    /// Replies in order of the matching requests; the last one repeats.
    pub replies: Vec<Reply>,
    used: usize,
}

impl Route {
    /// A route answering `path` (any method) with `replies`.
    pub fn new(path: &str, replies: Vec<Reply>) -> Route {
        Route {
            method: None,
            path: path.to_string(),
            replies,
            used: 0,
        }
    }

    /// Only match this method.
    pub fn method(mut self, m: Method) -> Route {
        self.method = Some(m);
        self
    }

    /// How many requests this route has answered.
    pub fn used(&self) -> usize {
        self.used
    }
}

/// A route table; unmatched requests get 404.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Script {
    routes: Vec<Route>,
}

impl Script {
    /// An empty table.
    pub fn new() -> Script {
        Script::default()
    }

    /// Add a route (earlier routes win).
    pub fn route(mut self, route: Route) -> Script {
        self.routes.push(route);
        self
    }

    /// Add a route in place.
    pub fn push(&mut self, route: Route) {
        self.routes.push(route);
    }

    /// The routes.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }
}

impl Handler for Script {
    fn handle(&mut self, _now: Instant, req: &ReceivedRequest, _ctx: &mut Ctx) -> Reply {
        let path = req.path();
        let found = self
            .routes
            .iter_mut()
            .find(|r| r.path == path && r.method.as_ref().is_none_or(|m| *m == req.method));
        match found {
            Some(route) if !route.replies.is_empty() => {
                let i = route.used.min(route.replies.len() - 1);
                route.used += 1;
                route.replies[i].clone()
            }
            _ => Reply::new(404, "no route\n"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sim_sse_items_encode_as_whatwg_fields() {
        let e = SseItem::Event {
            event: Some("x".into()),
            data: "a\nb".into(),
            id: Some("7".into()),
        };
        assert_eq!(&e.encode()[..], b"event: x\ndata: a\ndata: b\nid: 7\n\n");
        assert_eq!(&SseItem::Comment("hb".into()).encode()[..], b": hb\n\n");
        assert_eq!(&SseItem::Retry(250).encode()[..], b"retry: 250\n\n");
        assert!(!Reply::redirect(303, "/x").executes());
        assert!(Reply::ok("x").executes());
    }
}
