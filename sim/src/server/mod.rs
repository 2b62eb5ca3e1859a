//! A sans-IO scripted HTTP/1.1 server.
//!
//! The same shape as the client machine: bytes and time in (`handle_data`, `handle_eof`, `now`), actions out
//! (`poll_output` until [`SrvOutput::Wait`]). The simulation drives it through the virtual network; the runtime
//! tests serve it over real loopback sockets. It parses requests (Content-Length and chunked bodies), keeps
//! connections alive, answers pipelined requests one at a time in order (a request is executed only when the
//! replies before it are finished, like a real server), and records every request it received so a test can
//! assert what reached the server and how often work was executed.

mod parse;
mod plan;
mod script;

use core::time::Duration;
use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;
use http::{HeaderMap, Method};

pub use parse::{ParseError, ParsedRequest, RequestParser};
pub use script::{
    Ctx, Framing, Handler, Reply, ReplyBody, Route, Script, SseEnd, SseItem, SseScript,
};

use plan::Step;
use plue_http_core::time::Instant;

/// The header carrying a request's unique tag; the server echoes it on the reply.
pub const TAG_HEADER: &str = "x-sim-tag";

/// A server-side connection handle. Never reused within one server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SrvConn(pub u64);

/// What the server asks its transport to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SrvOutput {
    /// Write these bytes to the connection.
    Transmit(SrvConn, Bytes),
    /// Close the connection gracefully (FIN) after the bytes before.
    Close(SrvConn),
    /// Abort the connection (RST). Over real sockets: set `SO_LINGER` to zero and close.
    Reset(SrvConn),
    /// Nothing to do until data arrives or the deadline passes.
    Wait(Option<Instant>),
}

/// A request as the server received it.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedRequest {
    /// The connection it arrived on.
    pub conn: SrvConn,
    /// 0 for the first request on its connection; more means the connection was reused.
    pub index_on_conn: u32,
    /// When its last byte arrived.
    pub at: Instant,
    /// The method.
    pub method: Method,
    /// The request target (path and query).
    pub target: String,
    /// The header fields.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
    /// The status the server answered, once it did (`None`: the connection died first).
    pub status: Option<u16>,
    /// `true` when the server executed the request's work (a 2xx reply was chosen).
    pub executed: bool,
    /// When the server finished its reply (last byte sent, or the connection closed or reset by the reply);
    /// `None` while unanswered or when the connection died first.
    pub answered_at: Option<Instant>,
}

impl ReceivedRequest {
    /// The path without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// `true` when it arrived on a connection that had carried an earlier request.
    pub fn reused(&self) -> bool {
        self.index_on_conn > 0
    }

    /// A header value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The value of [`TAG_HEADER`].
    pub fn tag(&self) -> Option<&str> {
        self.header(TAG_HEADER)
    }
}

/// Server settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServerConfig {
    /// Close a keep-alive connection idle this long (`None`: never).
    pub idle_timeout: Option<Duration>,
}

#[derive(Debug)]
struct Active {
    /// The request being answered (index into the log), `None` for a 400 to unparseable bytes.
    log: Option<usize>,
    steps: VecDeque<Step>,
    /// When the next step may run (the virtual schedule, independent of how late `poll_output` is called).
    ready_at: Instant,
    /// When the last byte so far was sent: a reply whose plan ends in a pause was complete at its last byte.
    last_sent: Instant,
}

/// A request waiting its turn on a connection.
#[derive(Debug, Clone, Copy)]
enum Waiting {
    /// Index into the request log.
    Request(usize),
    /// The bytes did not parse: answer 400 and close.
    Malformed(Instant),
}

#[derive(Debug)]
struct Conn {
    parser: RequestParser,
    received: u32,
    waiting: VecDeque<Waiting>,
    active: Option<Active>,
    /// The client sent EOF: finish the replies, then close.
    peer_eof: bool,
    /// When the previous reply finished (the next one cannot start earlier) or the connection opened.
    free_at: Instant,
    /// The connection is subscribed to this channel (an SSE stream hanging open).
    channel: Option<String>,
}

impl Conn {
    fn idle(&self) -> bool {
        self.active.is_none() && self.waiting.is_empty() && !self.parser.is_mid_request()
    }
}

/// The scripted server. See the module docs.
pub struct ScriptedServer {
    handler: Box<dyn Handler>,
    config: ServerConfig,
    conns: BTreeMap<SrvConn, Conn>,
    next_conn: u64,
    log: Vec<ReceivedRequest>,
    out: VecDeque<SrvOutput>,
    /// Scheduled publishes (channel, cancellation tag, item), ordered by time then sequence.
    publishes: BTreeMap<(Instant, u64), (String, Option<String>, SseItem)>,
    next_publish: u64,
}

impl core::fmt::Debug for ScriptedServer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ScriptedServer")
            .field("conns", &self.conns.len())
            .field("requests", &self.log.len())
            .finish()
    }
}

impl ScriptedServer {
    /// A server answering from a route table.
    pub fn new(script: Script) -> Self {
        Self::with_handler(Box::new(script), ServerConfig::default())
    }

    /// A server answering through any handler (e.g. the fake OpenCode).
    pub fn with_handler(handler: Box<dyn Handler>, config: ServerConfig) -> Self {
        ScriptedServer {
            handler,
            config,
            conns: BTreeMap::new(),
            next_conn: 1,
            log: Vec::new(),
            out: VecDeque::new(),
            publishes: BTreeMap::new(),
            next_publish: 0,
        }
    }

    /// A new client connection was accepted.
    pub fn accept(&mut self, now: Instant) -> SrvConn {
        let id = SrvConn(self.next_conn);
        self.next_conn += 1;
        self.conns.insert(
            id,
            Conn {
                parser: RequestParser::new(),
                received: 0,
                waiting: VecDeque::new(),
                active: None,
                peer_eof: false,
                free_at: now,
                channel: None,
            },
        );
        id
    }

    /// Bytes arrived from the client. Data for an unknown or closed connection is ignored.
    pub fn handle_data(&mut self, now: Instant, conn: SrvConn, data: &[u8]) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.peer_eof {
            return;
        }
        c.parser.feed(data);
        loop {
            match c.parser.next_request() {
                Ok(Some(req)) => {
                    c.waiting.push_back(Waiting::Request(self.log.len()));
                    self.log.push(ReceivedRequest {
                        conn,
                        index_on_conn: c.received,
                        at: now,
                        method: req.method,
                        target: req.target,
                        headers: req.headers,
                        body: req.body,
                        status: None,
                        executed: false,
                        answered_at: None,
                    });
                    c.received += 1;
                }
                Ok(None) => break,
                Err(_) => {
                    // The byte stream cannot be resynchronised: answer what came before, then 400 and close.
                    c.waiting.push_back(Waiting::Malformed(now));
                    c.parser = RequestParser::new();
                    c.peer_eof = true;
                    break;
                }
            }
        }
    }

    /// The client closed its side. The server finishes the replies it owes, then closes.
    pub fn handle_eof(&mut self, _now: Instant, conn: SrvConn) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.peer_eof = true;
        }
    }

    /// The transport is gone (reset, or the server process died): forget the connection without output.
    pub fn disconnect(&mut self, conn: SrvConn) {
        self.conns.remove(&conn);
    }

    /// The server process restarts: every connection is forgotten and scheduled publishes are lost.
    /// Routes, handler state and the request log survive (they are the test's record).
    pub fn restart(&mut self) {
        self.conns.clear();
        self.publishes.clear();
        self.out.clear();
    }

    /// `true` when the connection is open, has answered at least one request and has nothing pending:
    /// an idle keep-alive connection a client may reuse.
    pub fn is_idle_keep_alive(&self, conn: SrvConn) -> bool {
        self.conns
            .get(&conn)
            .is_some_and(|c| c.received > 0 && c.idle() && !c.peer_eof)
    }

    /// `true` while the connection is open on the server side.
    pub fn is_open(&self, conn: SrvConn) -> bool {
        self.conns.contains_key(&conn)
    }

    /// Open connections.
    pub fn open_connections(&self) -> usize {
        self.conns.len()
    }

    /// Every request received so far, in order of arrival.
    pub fn requests(&self) -> &[ReceivedRequest] {
        &self.log
    }

    /// The next action. Call until [`SrvOutput::Wait`].
    pub fn poll_output(&mut self, now: Instant) -> SrvOutput {
        if let Some(o) = self.out.pop_front() {
            return o;
        }
        let deadline = self.advance(now);
        self.out.pop_front().unwrap_or(SrvOutput::Wait(deadline))
    }

    /// Run everything due at `now`; return the next deadline.
    fn advance(&mut self, now: Instant) -> Option<Instant> {
        let mut deadline = self.deliver_publishes(now);
        let ids: Vec<SrvConn> = self.conns.keys().copied().collect();
        for id in ids {
            let d = self.advance_conn(now, id);
            deadline = plue_http_core::time::earliest(deadline, d);
        }
        deadline
    }

    fn deliver_publishes(&mut self, now: Instant) -> Option<Instant> {
        while let Some(entry) = self.publishes.first_entry() {
            if entry.key().0 > now {
                return Some(entry.key().0);
            }
            let (channel, _tag, item) = entry.remove();
            let frame = item.encode();
            for (id, c) in &self.conns {
                let hanging = c.active.as_ref().and_then(|a| match a.steps.front() {
                    Some(Step::Hang { chunked, .. }) => Some(*chunked),
                    _ => None,
                });
                if let (Some(chunked), Some(ch)) = (hanging, &c.channel) {
                    if *ch == channel {
                        let data = if chunked {
                            plan::chunk(&frame)
                        } else {
                            frame.clone()
                        };
                        self.out.push_back(SrvOutput::Transmit(*id, data));
                    }
                }
            }
        }
        None
    }

    fn advance_conn(&mut self, now: Instant, id: SrvConn) -> Option<Instant> {
        loop {
            let c = self.conns.get_mut(&id)?;
            if c.active.is_none() {
                match c.waiting.pop_front() {
                    Some(w) => {
                        let active = self.start(id, w);
                        if let Some(c) = self.conns.get_mut(&id) {
                            c.active = Some(active);
                        }
                        continue;
                    }
                    None => {
                        if c.peer_eof {
                            self.close(id, false);
                            return None;
                        }
                        let idle = self.config.idle_timeout?;
                        if !c.parser.is_mid_request() {
                            let at = c.free_at + idle;
                            if at <= now {
                                self.close(id, false);
                                return None;
                            }
                            return Some(at);
                        }
                        return None;
                    }
                }
            }
            let peer_eof = c.peer_eof;
            let a = c.active.as_mut()?;
            match a.steps.front() {
                None => {
                    c.free_at = a.ready_at;
                    if let Some(i) = a.log {
                        self.log[i].answered_at = Some(a.last_sent);
                    }
                    c.active = None;
                }
                Some(Step::Wait(d)) => {
                    a.ready_at += *d;
                    a.steps.pop_front();
                }
                Some(_) if a.ready_at > now => return Some(a.ready_at),
                Some(Step::Send(b)) => {
                    a.last_sent = a.ready_at;
                    self.out.push_back(SrvOutput::Transmit(id, b.clone()));
                    a.steps.pop_front();
                }
                Some(Step::Close) => {
                    if let Some(i) = a.log {
                        self.log[i].answered_at = Some(a.ready_at);
                    }
                    self.close(id, false);
                    return None;
                }
                Some(Step::Reset) => {
                    if let Some(i) = a.log {
                        self.log[i].answered_at = Some(a.ready_at);
                    }
                    self.close(id, true);
                    return None;
                }
                Some(Step::Hang {
                    heartbeat,
                    channel,
                    chunked,
                }) => {
                    if peer_eof {
                        self.close(id, false);
                        return None;
                    }
                    if c.channel.is_none() {
                        c.channel.clone_from(channel);
                    }
                    let Some((period, frame)) = heartbeat else {
                        return None;
                    };
                    let at = a.ready_at + *period;
                    if at > now {
                        return Some(at);
                    }
                    let data = if *chunked {
                        plan::chunk(frame)
                    } else {
                        frame.clone()
                    };
                    a.ready_at = at;
                    a.last_sent = at;
                    self.out.push_back(SrvOutput::Transmit(id, data));
                }
            }
        }
    }

    /// Execute the next waiting request: ask the handler, record the verdict, plan the reply.
    fn start(&mut self, id: SrvConn, w: Waiting) -> Active {
        let free_at = self.conns.get(&id).map_or(Instant::ZERO, |c| c.free_at);
        match w {
            Waiting::Malformed(at) => Active {
                log: None,
                steps: plan::plan(&Reply::new(400, "bad request\n").close_after(), false, None),
                ready_at: free_at.max(at),
                last_sent: free_at.max(at),
            },
            Waiting::Request(i) => {
                let start = free_at.max(self.log[i].at);
                let mut ctx = Ctx::default();
                let reply = self.handler.handle(start, &self.log[i], &mut ctx);
                for tag in &ctx.cancels {
                    self.publishes
                        .retain(|_, (_, t, _)| t.as_deref() != Some(tag.as_str()));
                }
                for (at, channel, tag, item) in ctx.publishes {
                    self.publishes
                        .insert((at, self.next_publish), (channel, tag, item));
                    self.next_publish += 1;
                }
                let req = &mut self.log[i];
                req.status = Some(reply.status);
                req.executed = reply.executes();
                let head_only = req.method == Method::HEAD;
                let steps = plan::plan(&reply, head_only, req.tag());
                Active {
                    log: Some(i),
                    steps,
                    ready_at: start,
                    last_sent: start,
                }
            }
        }
    }

    fn close(&mut self, id: SrvConn, reset: bool) {
        self.conns.remove(&id);
        self.out.push_back(if reset {
            SrvOutput::Reset(id)
        } else {
            SrvOutput::Close(id)
        });
    }
}

#[cfg(test)]
mod tests;
