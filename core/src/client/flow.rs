//! One request's life: where it waits, which attempt it is on, and what its owner has already seen.

use super::conn::Tag;
use super::deadline::Limits;
use super::io::{ConnId, RequestId};
use crate::pool::PoolKey;
use crate::request::Request;
use crate::time::Instant;

/// Where a request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// In the wait queue: needs a connection (pool cap, DNS, or its host is unreachable).
    Waiting,
    /// A later member of a batch, waiting for the members before it to be sent.
    Held,
    /// A connection is being opened for it.
    Connecting(ConnId),
    /// Sent (or being sent) on a connection; `head` once the owner has the response head.
    OnConn { conn: ConnId, head: bool },
    /// Waiting before the next attempt.
    Backoff(Instant),
}

/// A request in progress.
#[derive(Debug)]
pub(crate) struct Flow {
    pub id: RequestId,
    /// The request as it will be sent next (after redirects).
    pub req: Request,
    pub key: PoolKey,
    pub limits: Limits,
    pub batch: Option<u64>,
    pub state: State,
    pub started: Instant,
    pub deadline: Option<Instant>,
    /// 1 for the first attempt; counts retries and free replays, not redirects.
    pub attempt: u32,
    /// Retries used (of `max_retries`).
    pub retries: u32,
    pub redirects: u32,
    /// Sequence number of the current attempt (see [`Tag`]).
    pub seq: u32,
    /// The next attempt must use a new connection (a pooled one turned out dead).
    pub fresh_only: bool,
    /// A free replay (a reused connection died before answering) has been used.
    pub replayed: bool,
    /// The current attempt runs on a reused connection.
    pub reused: bool,
    pub status: Option<u16>,
    /// Body bytes delivered to the owner and not yet reported consumed.
    pub undelivered: usize,
    pub body_len: u64,
    /// Undoes the response's `Content-Encoding`, when it has one and the request decodes.
    pub decoder: Option<Box<crate::body::ContentDecoder>>,
}

impl Flow {
    pub fn new(
        id: RequestId,
        req: Request,
        limits: Limits,
        batch: Option<u64>,
        now: Instant,
    ) -> Flow {
        Flow {
            id,
            key: crate::pool::PoolKey::of(req.url()),
            deadline: limits.deadline(now),
            req,
            limits,
            batch,
            state: State::Waiting,
            started: now,
            attempt: 1,
            retries: 0,
            redirects: 0,
            seq: 0,
            fresh_only: false,
            replayed: false,
            reused: false,
            status: None,
            undelivered: 0,
            body_len: 0,
            decoder: None,
        }
    }

    /// A new attempt's tag.
    pub fn next_tag(&mut self) -> Tag {
        self.seq += 1;
        Tag {
            id: self.id,
            seq: self.seq,
        }
    }

    /// `true` when `tag` is the current attempt's.
    pub fn is_current(&self, tag: Tag) -> bool {
        tag.seq == self.seq && matches!(self.state, State::OnConn { .. })
    }

    /// The connection it is on or being connected for.
    pub fn conn(&self) -> Option<ConnId> {
        match self.state {
            State::Connecting(c) | State::OnConn { conn: c, .. } => Some(c),
            _ => None,
        }
    }
}
