//! Pipelined connection codec.

use core::time::Duration;
use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};
use http::Method;

use super::Limits;
use crate::error::ErrorKind;
use crate::request::Request;
use crate::response::ResponseHead;

/// What happened on a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnEvent<T> {
    /// The final head of the response to `T`.
    Head(T, ResponseHead),
    /// Body bytes of the response to `T`.
    Body(T, Bytes),
    /// The response to `T` is complete.
    Done(T),
    /// The connection failed.
    Failed {
        /// Why.
        error: ErrorKind,
        /// The request whose response was in progress.
        responding: Option<T>,
        /// Requests that got no byte of a response.
        unanswered: Vec<T>,
    },
}

/// Pipelined connection codec.
#[derive(Debug)]
pub struct H1Connection<T> {
    limits: Limits,
    in_flight: VecDeque<(T, Method)>,
    events: VecDeque<ConnEvent<T>>,
    buf: BytesMut,
}

impl<T: Copy> H1Connection<T> {
    /// A fresh connection.
    pub fn new(limits: Limits) -> Self {
        H1Connection {
            limits,
            in_flight: VecDeque::new(),
            events: VecDeque::new(),
            buf: BytesMut::new(),
        }
    }

    /// Encode and queue a request.
    pub fn send(&mut self, tag: T, req: &Request, user_agent: &str, out: &mut BytesMut) {
        super::encode_request(req, user_agent, out);
        self.in_flight.push_back((tag, req.method().clone()));
    }

    /// Whether another request may be sent.
    pub fn can_send(&self) -> bool {
        true
    }

    /// Requests in flight.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Idle and keep-alive.
    pub fn is_reusable(&self) -> bool {
        self.in_flight.is_empty()
    }

    /// Bytes read.
    pub fn handle_data(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
        let _ = self.limits;
    }

    /// End of stream.
    pub fn handle_eof(&mut self) {}

    /// Next event.
    pub fn poll_event(&mut self) -> Option<ConnEvent<T>> {
        self.events.pop_front()
    }

    /// From the last response's `Keep-Alive: timeout=N`.
    pub fn keep_alive_timeout(&self) -> Option<Duration> {
        None
    }
}
