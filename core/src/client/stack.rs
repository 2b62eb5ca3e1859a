//! The stages of one connection between the socket and the HTTP codec (see [`crate::stage`] for the shape and
//! the drive rules). A plain `http://` connection has no `Stack` at all.

use bytes::BytesMut;

use crate::error::ErrorKind;
use crate::stage::{Stage, StageEvent};
use crate::time::{earliest, Instant};

/// What one call into the stack brought about.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct StackNews {
    /// Every stage is established now, and was not before this call.
    pub established: bool,
    /// The top stage reported the end of the stream; `true` when it ended cleanly.
    pub eof: Option<bool>,
}

/// Stages lowest (socket side) first.
#[derive(Debug)]
pub(crate) struct Stack {
    stages: Vec<Box<dyn Stage>>,
    /// How many stages reported `Established`.
    ready: usize,
    /// ALPN the top stage negotiated.
    pub alpn: Option<Vec<u8>>,
    scratch: BytesMut,
}

impl Stack {
    pub fn new(stages: Vec<Box<dyn Stage>>) -> Stack {
        Stack {
            stages,
            ready: 0,
            alpn: None,
            scratch: BytesMut::new(),
        }
    }

    /// Every stage completed its handshake: HTTP bytes may flow.
    pub fn is_established(&self) -> bool {
        self.ready >= self.stages.len()
    }

    /// Bytes read from the socket. Plaintext for the codec is appended to `up`, bytes for the socket to `down`.
    pub fn input(
        &mut self,
        now: Instant,
        data: &[u8],
        up: &mut BytesMut,
        down: &mut BytesMut,
    ) -> Result<StackNews, ErrorKind> {
        self.stages[0].handle_input(now, data)?;
        self.pump(now, up, down)
    }

    /// The socket reached end-of-stream.
    pub fn eof(
        &mut self,
        now: Instant,
        up: &mut BytesMut,
        down: &mut BytesMut,
    ) -> Result<StackNews, ErrorKind> {
        self.stages[0].handle_eof(now)?;
        self.pump(now, up, down)
    }

    /// Bytes from the codec, for the top stage; socket bytes appended to `down`.
    pub fn write(
        &mut self,
        now: Instant,
        data: &[u8],
        up: &mut BytesMut,
        down: &mut BytesMut,
    ) -> Result<(), ErrorKind> {
        if let Some(top) = self.stages.last_mut() {
            top.write(data)?;
        }
        self.pump(now, up, down).map(|_| ())
    }

    /// Drain what the stages have (socket bytes after connecting, the handshake's first flight).
    pub fn flush(
        &mut self,
        now: Instant,
        up: &mut BytesMut,
        down: &mut BytesMut,
    ) -> Result<StackNews, ErrorKind> {
        self.pump(now, up, down)
    }

    /// The earliest deadline of any stage.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.stages
            .iter()
            .fold(None, |t, s| earliest(t, s.poll_timeout()))
    }

    /// A stage deadline passed.
    pub fn handle_timeout(
        &mut self,
        now: Instant,
        up: &mut BytesMut,
        down: &mut BytesMut,
    ) -> Result<StackNews, ErrorKind> {
        for s in &mut self.stages {
            if s.poll_timeout().is_some_and(|t| t <= now) {
                s.handle_timeout(now)?;
            }
        }
        self.pump(now, up, down)
    }

    /// Move bytes and events between neighbours until nothing moves (the drain rule of [`crate::stage`]).
    fn pump(
        &mut self,
        now: Instant,
        up: &mut BytesMut,
        down: &mut BytesMut,
    ) -> Result<StackNews, ErrorKind> {
        let mut news = StackNews::default();
        let n = self.stages.len();
        loop {
            let mut moved = false;
            // Upward: each stage's plaintext to the one above (or the codec), its events handled.
            for i in 0..n {
                if i + 1 == n {
                    // The top stage's plaintext goes straight to the codec's buffer.
                    moved |= self.stages[i].poll_read(up) > 0;
                } else {
                    self.scratch.clear();
                    if self.stages[i].poll_read(&mut self.scratch) > 0 {
                        moved = true;
                        self.stages[i + 1].handle_input(now, &self.scratch)?;
                    }
                }
                while let Some(ev) = self.stages[i].poll_event() {
                    moved = true;
                    match ev {
                        StageEvent::Established { alpn } => {
                            self.ready += 1;
                            // Stages report once each: reaching the count is the moment the stack opens.
                            news.established |= self.ready == n;
                            if i + 1 == n {
                                self.alpn = alpn;
                            }
                        }
                        StageEvent::Eof { clean } => {
                            if i + 1 < n {
                                self.stages[i + 1].handle_eof(now)?;
                            } else {
                                news.eof = Some(clean);
                            }
                        }
                    }
                }
            }
            // Downward: each stage's output to the one below (or the socket).
            for i in (0..n).rev() {
                self.scratch.clear();
                if self.stages[i].poll_transmit(&mut self.scratch) > 0 {
                    moved = true;
                    if i > 0 {
                        self.stages[i - 1].write(&self.scratch)?;
                    } else {
                        down.extend_from_slice(&self.scratch);
                    }
                }
            }
            if !moved {
                return Ok(news);
            }
        }
    }
}
