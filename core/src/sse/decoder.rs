//! The WHATWG `text/event-stream` decoder.
//!
//! Follows the EventSource parsing rules of the HTML standard (§9.2.6 "Interpreting an event stream") exactly:
//! CR, LF and CRLF line endings (a CRLF may be split across reads), one leading BOM, comments, field parsing,
//! `data` joined with LF, `id`/`retry` rules, dispatch on a blank line, discard at EOF.
//!
//! Speed: bytes are appended to one buffer and lines are found with `memchr2`, resuming where the previous search
//! stopped, so no byte is scanned twice however the input is chunked. Lines are sliced, never copied, except for
//! the one copy that makes an event's data an owned `String`, which is validated as UTF-8 once per event
//! (std's validator has an ASCII fast path; invalid sequences become U+FFFD, which gives the same result as
//! decoding the whole stream first because CR, LF and `:` are never part of a multi-byte sequence).
//!
//! Bounded memory: an event (the lines between two blank lines, terminators excluded) larger than
//! `max_event_size` yields [`SseItem::TooLarge`]; its bytes are dropped as they arrive up to the next blank line
//! and the stream goes on.

use core::time::Duration;

use memchr::{memchr, memchr2};

use super::event::SseEvent;

const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

/// What the decoder yields, in stream order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SseItem {
    /// A dispatched event.
    Event(SseEvent),
    /// A comment line (`:text`), with the colon and one leading space removed. Heartbeats show up here.
    Comment(String),
    /// A valid `retry:` field (all ASCII digits): the server's reconnection time.
    Retry(Duration),
    /// An event exceeded `max_event_size` and was skipped up to the next blank line; the stream goes on.
    TooLarge {
        /// The configured limit, in bytes.
        max: usize,
    },
}

/// Whether the bytes ahead are being dropped because the current event is too large.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Skip {
    /// Decoding normally.
    No,
    /// Dropping the rest of a line whose start was already dropped; its terminator is not a blank line.
    RestOfLine,
    /// Dropping whole lines until a blank one.
    ToBlankLine,
}

/// The per-event buffers of the spec, kept apart from the byte buffer so a line can be borrowed from one while
/// the other is mutated.
#[derive(Debug, Clone, Default)]
struct Fields {
    /// The spec's data buffer: every `data` value followed by LF (the final LF is removed at dispatch).
    data: Vec<u8>,
    /// The spec's event type buffer.
    event_type: Vec<u8>,
    /// The spec's last event ID buffer (set by `id` fields, committed at dispatch).
    id_buffer: String,
    /// The last event ID string: committed at each dispatch, sent as `Last-Event-ID`.
    last_id: String,
    /// Bytes of the current event's lines so far (terminators excluded).
    event_size: usize,
    /// An `id` field was seen since the last dispatch (so `last_id` may need updating; saves a compare per event).
    id_seen: bool,
}

impl Fields {
    /// Forget the event being built (not the ids).
    fn discard_event(&mut self) {
        // A skipped oversized event may have grown the buffer to `max_event_size`: give that memory back.
        if self.data.capacity() > (1 << 16) {
            self.data = Vec::new();
        }
        self.data.clear();
        self.event_type.clear();
        self.event_size = 0;
    }

    /// A blank line: commit the id, then dispatch if the data buffer is non-empty.
    fn dispatch(&mut self) -> Option<SseItem> {
        self.event_size = 0;
        if self.id_seen {
            self.id_seen = false;
            self.last_id.clone_from(&self.id_buffer);
        }
        if self.data.is_empty() {
            self.event_type.clear();
            return None;
        }
        self.data.pop(); // the LF after the last data line
        let data = match String::from_utf8(std::mem::take(&mut self.data)) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        };
        let event = if self.event_type.is_empty() {
            String::from("message")
        } else {
            let t = String::from_utf8_lossy(&self.event_type).into_owned();
            self.event_type.clear();
            t
        };
        Some(SseItem::Event(SseEvent {
            event,
            data,
            id: self.last_id.clone(),
        }))
    }

    /// One non-blank line.
    fn field(&mut self, line: &[u8]) -> Option<SseItem> {
        if line[0] == b':' {
            return Some(SseItem::Comment(lossy(strip_space(&line[1..]))));
        }
        let (name, value) = match memchr(b':', line) {
            Some(i) => (&line[..i], strip_space(&line[i + 1..])),
            None => (line, &[][..]),
        };
        match name {
            b"data" => {
                // Reserve first: from empty this allocates exactly once, at the event's final size when it has
                // one data line (the usual case).
                self.data.reserve(value.len() + 1);
                self.data.extend_from_slice(value);
                self.data.push(b'\n');
            }
            b"event" => {
                self.event_type.clear();
                self.event_type.extend_from_slice(value);
            }
            // An id containing NUL is ignored: it could not be sent back as a header.
            b"id" if memchr(0, value).is_none() => {
                self.id_seen = true;
                self.id_buffer.clear();
                self.id_buffer.push_str(&String::from_utf8_lossy(value));
            }
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                let ms = value.iter().fold(0u64, |acc, &d| {
                    acc.saturating_mul(10).saturating_add(u64::from(d - b'0'))
                });
                return Some(SseItem::Retry(Duration::from_millis(ms)));
            }
            // Unknown fields, and `id`/`retry` values the spec rejects, are ignored.
            _ => {}
        }
        None
    }
}

/// One leading U+0020 removed, as the spec says (only one, and only a space).
fn strip_space(v: &[u8]) -> &[u8] {
    match v.first() {
        Some(b' ') => &v[1..],
        _ => v,
    }
}

fn lossy(v: &[u8]) -> String {
    String::from_utf8_lossy(v).into_owned()
}

/// Incremental `text/event-stream` decoder: [`feed`](SseDecoder::feed) bytes, then
/// [`poll`](SseDecoder::poll) until `None`.
///
/// ```
/// use plue_http_core::sse::{SseDecoder, SseItem};
///
/// let mut decoder = SseDecoder::new(32 * 1024 * 1024);
/// decoder.feed(b": heartbeat\ndata: {\"type\":\"server.connected\"}\n");
/// decoder.feed(b"\nid: 7\ndata: a\ndata: b\n\n");
/// assert_eq!(decoder.poll(), Some(SseItem::Comment("heartbeat".into())));
/// let Some(SseItem::Event(first)) = decoder.poll() else { panic!() };
/// assert_eq!((first.event.as_str(), first.data.as_str()), ("message", r#"{"type":"server.connected"}"#));
/// let Some(SseItem::Event(second)) = decoder.poll() else { panic!() };
/// assert_eq!((second.data.as_str(), second.id.as_str()), ("a\nb", "7"));
/// assert_eq!(decoder.poll(), None);
/// ```
#[derive(Debug, Clone)]
pub struct SseDecoder {
    /// Bytes received and not yet consumed; `buf[pos..]` is unparsed.
    buf: Vec<u8>,
    /// Start of the first unparsed line.
    pos: usize,
    /// `buf[pos..scan]` holds no CR or LF: the next search for a line end resumes at `scan`.
    scan: usize,
    /// The previous line ended with a CR at the very end of the input: a LF arriving next belongs to it.
    skip_lf: bool,
    /// A BOM may still be stripped (start of stream, fewer than 3 bytes seen).
    bom_pending: bool,
    /// [`finish`](SseDecoder::finish) was called: the bytes after the last line end are an incomplete line.
    eof: bool,
    skip: Skip,
    max_event_size: usize,
    fields: Fields,
}

impl SseDecoder {
    /// A decoder for a new stream; events larger than `max_event_size` bytes become [`SseItem::TooLarge`].
    pub fn new(max_event_size: usize) -> Self {
        SseDecoder {
            buf: Vec::new(),
            pos: 0,
            scan: 0,
            skip_lf: false,
            bom_pending: true,
            eof: false,
            skip: Skip::No,
            max_event_size,
            fields: Fields::default(),
        }
    }

    /// Append bytes received from the stream. Ignored after [`finish`](SseDecoder::finish) until
    /// [`restart`](SseDecoder::restart).
    pub fn feed(&mut self, data: &[u8]) {
        if self.eof || data.is_empty() {
            return;
        }
        if self.pos == self.buf.len() {
            self.buf.clear();
            // A huge event grew the buffer; give the memory back once it is consumed.
            if self.buf.capacity() > (1 << 20) && data.len() < (1 << 16) {
                self.buf.shrink_to(1 << 16);
            }
            self.scan = 0;
            self.pos = 0;
        } else if self.pos > 0 && self.pos >= self.buf.len() - self.pos {
            // Move the unparsed tail to the front. It is no longer than what was consumed since the last move, so
            // the copying stays linear overall.
            self.buf.copy_within(self.pos.., 0);
            self.buf.truncate(self.buf.len() - self.pos);
            self.scan -= self.pos;
            self.pos = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// End of stream: complete lines still buffered are decoded by the next polls, then the incomplete line and
    /// the incomplete event are discarded, as the spec says.
    pub fn finish(&mut self) {
        self.eof = true;
    }

    /// The last event ID string (committed at each dispatch; empty when none was set or it was reset).
    pub fn last_event_id(&self) -> &str {
        &self.fields.last_id
    }

    /// A new connection: drop buffered bytes and the event being built, allow a BOM again, keep the last event
    /// id (the spec's last event ID buffer restarts from it).
    pub fn restart(&mut self) {
        self.buf.clear();
        self.pos = 0;
        self.scan = 0;
        self.skip_lf = false;
        self.bom_pending = true;
        self.eof = false;
        self.skip = Skip::No;
        self.fields.discard_event();
        self.fields.id_seen = false;
        let Fields {
            id_buffer, last_id, ..
        } = &mut self.fields;
        id_buffer.clone_from(last_id);
    }

    /// The next item, or `None` when more bytes (or [`finish`](SseDecoder::finish)) are needed.
    pub fn poll(&mut self) -> Option<SseItem> {
        if self.bom_pending && !self.strip_bom() {
            return None;
        }
        loop {
            if self.skip_lf {
                match self.buf.get(self.pos) {
                    Some(&b) => {
                        self.skip_lf = false;
                        if b == b'\n' {
                            self.pos += 1;
                            self.scan = self.pos;
                        }
                    }
                    None => return self.at_end_of_input(),
                }
            }
            let Some(i) = memchr2(b'\n', b'\r', &self.buf[self.scan..]) else {
                self.scan = self.buf.len();
                return self.at_end_of_input();
            };
            let start = self.pos;
            let end = self.scan + i;
            let mut next = end + 1;
            if self.buf[end] == b'\r' {
                match self.buf.get(next) {
                    Some(b'\n') => next += 1,
                    Some(_) => {}
                    None => self.skip_lf = true,
                }
            }
            self.pos = next;
            self.scan = next;
            if let Some(item) = self.line(start, end) {
                return Some(item);
            }
        }
    }

    /// Handle the complete line `buf[start..end]`.
    fn line(&mut self, start: usize, end: usize) -> Option<SseItem> {
        match self.skip {
            Skip::RestOfLine => {
                self.skip = Skip::ToBlankLine;
                return None;
            }
            Skip::ToBlankLine => {
                if start == end {
                    self.skip = Skip::No;
                }
                return None;
            }
            Skip::No => {}
        }
        if start == end {
            return self.fields.dispatch();
        }
        self.fields.event_size = self.fields.event_size.saturating_add(end - start);
        if self.fields.event_size > self.max_event_size {
            self.fields.discard_event();
            self.skip = Skip::ToBlankLine;
            return Some(SseItem::TooLarge {
                max: self.max_event_size,
            });
        }
        self.fields.field(&self.buf[start..end])
    }

    /// No line end in the buffered bytes: enforce the size limit on the partial line, or discard it at EOF.
    fn at_end_of_input(&mut self) -> Option<SseItem> {
        let pending = self.buf.len() - self.pos;
        let mut item = None;
        if pending > 0 {
            match self.skip {
                Skip::No => {
                    // The whole line will be at least this long, so failing now is what a single read would do.
                    if self.fields.event_size.saturating_add(pending) > self.max_event_size {
                        self.fields.discard_event();
                        self.drop_pending();
                        self.skip = Skip::RestOfLine;
                        item = Some(SseItem::TooLarge {
                            max: self.max_event_size,
                        });
                    }
                }
                // Keep memory bounded while skipping: the dropped bytes start a line, so its end is not blank.
                Skip::ToBlankLine | Skip::RestOfLine => {
                    self.drop_pending();
                    self.skip = Skip::RestOfLine;
                }
            }
        }
        if self.eof && item.is_none() {
            // The spec: at end of file, pending data is discarded and an incomplete event is not dispatched.
            self.drop_pending();
            self.fields.discard_event();
            self.skip = Skip::No;
            self.skip_lf = false;
        }
        item
    }

    fn drop_pending(&mut self) {
        self.buf.truncate(self.pos);
        self.scan = self.pos;
    }

    /// Strip a leading BOM once. `false` while fewer than 3 bytes are known to match (wait for more).
    fn strip_bom(&mut self) -> bool {
        let avail = &self.buf[self.pos..];
        let n = avail.len().min(3);
        if avail[..n] != BOM[..n] {
            self.bom_pending = false;
        } else if n == 3 {
            self.pos += 3;
            self.scan = self.scan.max(self.pos);
            self.bom_pending = false;
        } else if self.eof {
            self.bom_pending = false;
        } else {
            return false;
        }
        true
    }
}

#[cfg(test)]
#[path = "decoder_tests.rs"]
mod tests;
