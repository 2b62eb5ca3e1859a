//! The content-decoding stage of one response: the codings of its `Content-Encoding` undone in reverse order,
//! fed de-chunked body bytes as they arrive, bounded in decoded size and in compression ratio.

use bytes::Bytes;

use super::coding::{Coding, MAX_STACKED};
use super::stage::{for_coding, Stage};
use crate::error::{DecodeProblem, ErrorKind, Limit};

/// Decoded bytes come out in pieces of at most this many bytes; the limits are checked between pieces, so a
/// bomb never gets further than one piece past them.
pub const PIECE: usize = 32 * 1024;

/// The ratio limit applies once this many bytes are decoded (small bodies compress far better than 100:1).
pub const RATIO_GRACE: u64 = 1024 * 1024;

/// The bounds on one decoded body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Most decoded bytes (`max_decoded_size`).
    pub max_decoded_size: u64,
    /// Most decoded bytes per encoded byte once [`RATIO_GRACE`] is decoded (`max_decompression_ratio`); 0 = off.
    pub max_ratio: u32,
}

/// Why decoding stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// A limit was exceeded ([`Limit::DecodedSize`] or [`Limit::DecompressionRatio`]).
    TooLarge {
        /// Which limit.
        limit: Limit,
        /// Its configured value.
        max: u64,
    },
    /// A coding's stream was broken.
    Coding {
        /// The coding.
        coding: Coding,
        /// What was wrong.
        problem: DecodeProblem,
    },
}

impl From<DecodeError> for ErrorKind {
    fn from(e: DecodeError) -> ErrorKind {
        match e {
            DecodeError::TooLarge { limit, max } => ErrorKind::TooLarge { limit, max },
            DecodeError::Coding { coding, problem } => ErrorKind::ContentDecoding {
                coding: coding.token().to_string(),
                problem,
            },
        }
    }
}

/// Undoes a response's content codings, incrementally and with bounded memory.
pub struct ContentDecoder {
    /// Innermost last: `stages[0]` undoes the coding applied last.
    stages: Vec<Box<dyn Stage + Send>>,
    codings: Vec<Coding>,
    /// One output buffer per stage.
    bufs: Vec<Vec<u8>>,
    limits: DecodeLimits,
    /// Encoded bytes taken by the outermost stage.
    wire_in: u64,
    /// Bytes produced by each stage (intermediate ones are bounded too).
    produced: Vec<u64>,
    failed: Option<DecodeError>,
}

impl core::fmt::Debug for ContentDecoder {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ContentDecoder")
            .field("codings", &self.codings)
            .field("wire_in", &self.wire_in)
            .field("produced", &self.produced)
            .finish()
    }
}

impl ContentDecoder {
    /// A decoder for `codings` in the order they were applied (as listed in `Content-Encoding`).
    pub fn new(codings: &[Coding], limits: DecodeLimits) -> Result<ContentDecoder, DecodeError> {
        if codings.len() > MAX_STACKED {
            return Err(DecodeError::Coding {
                coding: codings[0],
                problem: DecodeProblem::TooManyCodings,
            });
        }
        let order: Vec<Coding> = codings.iter().rev().copied().collect();
        Ok(ContentDecoder {
            stages: order.iter().map(|c| for_coding(*c)).collect(),
            bufs: order.iter().map(|_| vec![0; PIECE]).collect(),
            produced: vec![0; order.len()],
            codings: order,
            limits,
            wire_in: 0,
            failed: None,
        })
    }

    /// Decoded bytes so far.
    pub fn decoded(&self) -> u64 {
        self.produced.last().copied().unwrap_or(self.wire_in)
    }

    /// Encoded bytes taken so far.
    pub fn encoded(&self) -> u64 {
        self.wire_in
    }

    /// Feed encoded bytes; decoded pieces are appended to `out`. After an error, every call returns it again.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<Bytes>) -> Result<(), DecodeError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let r = self.push(0, input, out);
        if let Err(e) = &r {
            self.failed = Some(e.clone());
        }
        r
    }

    /// The body ended: every coding's stream must be complete (an empty body is accepted as empty).
    pub fn finish(&mut self, out: &mut Vec<Bytes>) -> Result<(), DecodeError> {
        self.feed(&[], out)?;
        if self.wire_in == 0 {
            return Ok(());
        }
        for (i, stage) in self.stages.iter().enumerate() {
            if !stage.at_end() {
                let e = DecodeError::Coding {
                    coding: self.codings[i],
                    problem: DecodeProblem::Truncated,
                };
                self.failed = Some(e.clone());
                return Err(e);
            }
        }
        Ok(())
    }

    /// Run stage `level` over `input`, handing each piece of its output to the next stage (or to `out`).
    fn push(
        &mut self,
        level: usize,
        input: &[u8],
        out: &mut Vec<Bytes>,
    ) -> Result<(), DecodeError> {
        let mut rest = input;
        // A call that neither takes nor gives may be a state change (the end of a gzip member); two in a row
        // on non-empty input mean the stage is stuck.
        let mut stalled = false;
        loop {
            let mut buf = core::mem::take(&mut self.bufs[level]);
            let step = self.stages[level].step(rest, &mut buf);
            let r = match step {
                Ok(step) => {
                    rest = &rest[step.consumed..];
                    if level == 0 {
                        self.wire_in += step.consumed as u64;
                    }
                    if step.produced > 0 {
                        self.account(level, step.produced as u64)
                            .and_then(|()| self.emit(level, &buf[..step.produced], out))
                            .map(|()| step)
                    } else {
                        Ok(step)
                    }
                }
                Err(problem) => Err(DecodeError::Coding {
                    coding: self.codings[level],
                    problem,
                }),
            };
            self.bufs[level] = buf;
            let step = r?;
            if step.consumed == 0 && step.produced == 0 {
                if rest.is_empty() {
                    return Ok(());
                }
                if stalled {
                    return Err(DecodeError::Coding {
                        coding: self.codings[level],
                        problem: DecodeProblem::Corrupt,
                    });
                }
                stalled = true;
                continue;
            }
            stalled = false;
            if rest.is_empty() && step.produced < PIECE {
                return Ok(());
            }
        }
    }

    fn emit(
        &mut self,
        level: usize,
        piece: &[u8],
        out: &mut Vec<Bytes>,
    ) -> Result<(), DecodeError> {
        if level + 1 < self.stages.len() {
            self.push(level + 1, piece, out)
        } else {
            out.push(Bytes::copy_from_slice(piece));
            Ok(())
        }
    }

    /// Count `n` more bytes out of stage `level` and check the limits.
    fn account(&mut self, level: usize, n: u64) -> Result<(), DecodeError> {
        self.produced[level] += n;
        let total = self.produced[level];
        let max = self.limits.max_decoded_size;
        if total > max {
            return Err(DecodeError::TooLarge {
                limit: Limit::DecodedSize,
                max,
            });
        }
        let ratio = u64::from(self.limits.max_ratio);
        if ratio > 0 && total >= RATIO_GRACE && total > ratio.saturating_mul(self.wire_in.max(1)) {
            return Err(DecodeError::TooLarge {
                limit: Limit::DecompressionRatio,
                max: ratio,
            });
        }
        Ok(())
    }
}
