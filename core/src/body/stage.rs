//! One decoding step per coding, all with the same push shape: feed compressed bytes, get decoded bytes in a
//! caller-owned buffer, `(consumed, produced)` back. None of them reads or writes anything but memory.

use brotli_decompressor::{BrotliDecompressStream, BrotliResult, BrotliState, StandardAlloc};
use flate2::{Crc, Decompress, FlushDecompress, Status};
use zstd::stream::raw::{DParameter, Decoder as ZstdDecoder, InBuffer, Operation, OutBuffer};

use super::coding::Coding;
use crate::error::DecodeProblem;

/// What one call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Step {
    /// Input bytes used.
    pub consumed: usize,
    /// Output bytes written at the start of the output buffer.
    pub produced: usize,
}

/// A push decoder for one coding.
pub(crate) trait Stage {
    /// Decode what it can of `input` into `out`. Decoded bytes held back because `out` was full come out of
    /// the next call, even with empty input.
    fn step(&mut self, input: &[u8], out: &mut [u8]) -> Result<Step, DecodeProblem>;
    /// `true` when the input so far is a complete stream (no member or frame half-way).
    fn at_end(&self) -> bool;
}

/// The zstd window this client accepts: 8 MiB, the most RFC 9659 lets an HTTP sender require. A frame asking for
/// more is refused instead of allocating its window (up to 2 GiB).
const ZSTD_WINDOW_LOG_MAX: u32 = 23;

/// A new decoder for `coding`.
pub(crate) fn for_coding(coding: Coding) -> Box<dyn Stage + Send> {
    match coding {
        Coding::Gzip => Box::new(Gzip::new()),
        Coding::Deflate => Box::new(Deflate::new()),
        Coding::Brotli => Box::new(Brotli::new()),
        Coding::Zstd => Box::new(Zstd::new()),
    }
}

/// Run raw deflate; `Ok(true)` at the end of the deflate stream.
fn inflate(
    z: &mut Decompress,
    input: &[u8],
    out: &mut [u8],
) -> Result<(Step, bool), DecodeProblem> {
    let (in0, out0) = (z.total_in(), z.total_out());
    let status = z
        .decompress(input, out, FlushDecompress::None)
        .map_err(|_| DecodeProblem::Corrupt)?;
    let step = Step {
        consumed: (z.total_in() - in0) as usize,
        produced: (z.total_out() - out0) as usize,
    };
    Ok((step, status == Status::StreamEnd))
}

/// The longest gzip header accepted (file name and comment included).
const MAX_GZIP_HEADER: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Member {
    Header,
    Body,
    Trailer,
    /// Between members (or after the last one).
    End,
}

/// gzip (RFC 1952): header, raw deflate, CRC-32 and length checked; members may follow each other.
struct Gzip {
    member: Member,
    header: Vec<u8>,
    z: Decompress,
    crc: Crc,
    trailer: [u8; 8],
    trailer_len: usize,
}

impl Gzip {
    fn new() -> Gzip {
        Gzip {
            member: Member::Header,
            header: Vec::new(),
            z: Decompress::new(false),
            crc: Crc::new(),
            trailer: [0; 8],
            trailer_len: 0,
        }
    }
}

/// The length of the complete gzip header at the start of `h`, `Ok(None)` when more bytes are needed.
fn gzip_header_len(h: &[u8]) -> Result<Option<usize>, DecodeProblem> {
    const FHCRC: u8 = 2;
    const FEXTRA: u8 = 4;
    const FNAME: u8 = 8;
    const FCOMMENT: u8 = 16;
    if h.len() >= 2 && h[..2] != [0x1f, 0x8b] || h.len() >= 3 && h[2] != 8 {
        return Err(DecodeProblem::Corrupt);
    }
    if h.len() < 10 {
        return Ok(None);
    }
    let flags = h[3];
    if flags & 0xe0 != 0 {
        return Err(DecodeProblem::Corrupt);
    }
    let mut at = 10;
    if flags & FEXTRA != 0 {
        let Some(len) = h.get(at..at + 2) else {
            return Ok(None);
        };
        at += 2 + usize::from(u16::from_le_bytes([len[0], len[1]]));
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            let Some(rest) = h.get(at..) else {
                return Ok(None);
            };
            match memchr::memchr(0, rest) {
                Some(nul) => at += nul + 1,
                None => return Ok(None),
            }
        }
    }
    if flags & FHCRC != 0 {
        at += 2;
    }
    Ok((h.len() >= at).then_some(at))
}

impl Stage for Gzip {
    fn step(&mut self, input: &[u8], out: &mut [u8]) -> Result<Step, DecodeProblem> {
        let none = Step {
            consumed: 0,
            produced: 0,
        };
        match self.member {
            Member::End if input.is_empty() => Ok(none),
            Member::End => {
                // Another member follows (concatenated gzip, RFC 1952 §2.2).
                self.member = Member::Header;
                self.header.clear();
                Ok(none)
            }
            Member::Header => {
                let before = self.header.len();
                let take = input.len().min(MAX_GZIP_HEADER - before);
                self.header.extend_from_slice(&input[..take]);
                match gzip_header_len(&self.header)? {
                    Some(len) => {
                        self.member = Member::Body;
                        self.z.reset(false);
                        self.crc.reset();
                        self.header.clear();
                        Ok(Step {
                            consumed: len - before,
                            produced: 0,
                        })
                    }
                    None if self.header.len() >= MAX_GZIP_HEADER => Err(DecodeProblem::Corrupt),
                    None => Ok(Step {
                        consumed: take,
                        produced: 0,
                    }),
                }
            }
            Member::Body => {
                let (step, end) = inflate(&mut self.z, input, out)?;
                self.crc.update(&out[..step.produced]);
                if end {
                    self.member = Member::Trailer;
                    self.trailer_len = 0;
                }
                Ok(step)
            }
            Member::Trailer => {
                let take = input.len().min(8 - self.trailer_len);
                self.trailer[self.trailer_len..self.trailer_len + take]
                    .copy_from_slice(&input[..take]);
                self.trailer_len += take;
                if self.trailer_len == 8 {
                    let t = self.trailer;
                    let crc = u32::from_le_bytes([t[0], t[1], t[2], t[3]]);
                    let size = u32::from_le_bytes([t[4], t[5], t[6], t[7]]);
                    if crc != self.crc.sum() || size != self.crc.amount() {
                        return Err(DecodeProblem::Corrupt);
                    }
                    self.member = Member::End;
                }
                Ok(Step {
                    consumed: take,
                    produced: 0,
                })
            }
        }
    }

    fn at_end(&self) -> bool {
        self.member == Member::End
    }
}

/// `deflate`: zlib-wrapped (RFC 1950, as the RFC says) or raw (as some servers send it); the first two bytes
/// tell which, as browsers and curl decide.
struct Deflate {
    /// The first byte, held until the second arrives.
    first: Option<u8>,
    z: Option<Decompress>,
    done: bool,
}

impl Deflate {
    fn new() -> Deflate {
        Deflate {
            first: None,
            z: None,
            done: false,
        }
    }
}

/// A zlib header: compression method 8, window ≤ 32 KiB, and the check bits (RFC 1950 §2.2).
fn is_zlib_header(cmf: u8, flg: u8) -> bool {
    cmf & 0x0f == 8 && cmf >> 4 <= 7 && (u16::from(cmf) << 8 | u16::from(flg)) % 31 == 0
}

impl Stage for Deflate {
    fn step(&mut self, input: &[u8], out: &mut [u8]) -> Result<Step, DecodeProblem> {
        if self.done {
            return match input.is_empty() {
                true => Ok(Step {
                    consumed: 0,
                    produced: 0,
                }),
                false => Err(DecodeProblem::Corrupt),
            };
        }
        if self.z.is_none() {
            let Some(&b) = input.first() else {
                return Ok(Step {
                    consumed: 0,
                    produced: 0,
                });
            };
            let Some(cmf) = self.first else {
                self.first = Some(b);
                return Ok(Step {
                    consumed: 1,
                    produced: 0,
                });
            };
            let mut z = Decompress::new(is_zlib_header(cmf, b));
            // One byte of a zlib header or of a deflate block cannot yield output: the decoder always takes it.
            let (held, _) = inflate(&mut z, &[cmf], out)?;
            if held.consumed != 1 {
                return Err(DecodeProblem::Corrupt);
            }
            self.z = Some(z);
        }
        let Some(z) = self.z.as_mut() else {
            return Err(DecodeProblem::Corrupt);
        };
        let (step, end) = inflate(z, input, out)?;
        self.done = end;
        Ok(step)
    }

    fn at_end(&self) -> bool {
        self.done
    }
}

/// `br` (RFC 7932).
struct Brotli {
    state: Box<BrotliState<StandardAlloc, StandardAlloc, StandardAlloc>>,
    done: bool,
}

impl Brotli {
    fn new() -> Brotli {
        Brotli {
            state: Box::new(BrotliState::new(
                StandardAlloc::default(),
                StandardAlloc::default(),
                StandardAlloc::default(),
            )),
            done: false,
        }
    }
}

impl Stage for Brotli {
    fn step(&mut self, input: &[u8], out: &mut [u8]) -> Result<Step, DecodeProblem> {
        if self.done {
            return match input.is_empty() {
                true => Ok(Step {
                    consumed: 0,
                    produced: 0,
                }),
                false => Err(DecodeProblem::Corrupt),
            };
        }
        let (mut avail_in, mut in_at) = (input.len(), 0);
        let (mut avail_out, mut out_at, mut total) = (out.len(), 0, 0);
        let result = BrotliDecompressStream(
            &mut avail_in,
            &mut in_at,
            input,
            &mut avail_out,
            &mut out_at,
            out,
            &mut total,
            &mut self.state,
        );
        match result {
            BrotliResult::ResultFailure => return Err(DecodeProblem::Corrupt),
            BrotliResult::ResultSuccess => self.done = true,
            BrotliResult::NeedsMoreInput | BrotliResult::NeedsMoreOutput => {}
        }
        Ok(Step {
            consumed: in_at,
            produced: out_at,
        })
    }

    fn at_end(&self) -> bool {
        self.done
    }
}

/// `zstd` (RFC 8878): one or more frames, window at most 8 MiB.
struct Zstd {
    z: Option<ZstdDecoder<'static>>,
    /// zstd's hint after the last call: 0 when a frame is complete and flushed.
    hint: usize,
    started: bool,
}

impl Zstd {
    fn new() -> Zstd {
        let z = ZstdDecoder::new().ok().and_then(|mut d| {
            d.set_parameter(DParameter::WindowLogMax(ZSTD_WINDOW_LOG_MAX))
                .ok()?;
            Some(d)
        });
        Zstd {
            z,
            hint: 0,
            started: false,
        }
    }
}

impl Stage for Zstd {
    fn step(&mut self, input: &[u8], out: &mut [u8]) -> Result<Step, DecodeProblem> {
        // The decoder context could not be allocated: nothing can be decoded.
        let z = self.z.as_mut().ok_or(DecodeProblem::Corrupt)?;
        if input.is_empty() && (!self.started || self.hint == 0) {
            return Ok(Step {
                consumed: 0,
                produced: 0,
            });
        }
        let mut inb = InBuffer::around(input);
        let mut outb = OutBuffer::around(out);
        self.hint = z
            .run(&mut inb, &mut outb)
            .map_err(|_| DecodeProblem::Corrupt)?;
        self.started = true;
        Ok(Step {
            consumed: inb.pos(),
            produced: outb.pos(),
        })
    }

    fn at_end(&self) -> bool {
        self.started && self.hint == 0
    }
}
