//! HTTP/1.1 wire format (RFC 9112): request encoder, response decoder, chunked coding, pipelined connection codec.
//!
//! Sans-IO throughout: bytes in, events out, no clocks. The pieces, one job per file:
//!
//! - `limits.rs` — [`Limits`]: what a response may make the decoder buffer;
//! - `encode.rs` — [`encode_request`] (+ chunked request bodies): request line, Host, User-Agent, framing;
//! - `head.rs` — finds the end of a head incrementally and parses it with `httparse`;
//! - `framing.rs` — `Content-Length` / `Transfer-Encoding` / no-body rules (RFC 9112 §6.3);
//! - `chunked.rs` — the chunked body state machine;
//! - `keep_alive.rs` — the reuse decision and `Keep-Alive: timeout=N`;
//! - `decode.rs` — [`ResponseDecoder`], one response;
//! - `conn.rs` — [`H1Connection`], a pipelined connection: FIFO of requests, one decoder at a time.
//!
//! ## Response decoder states
//!
//! ```text
//!                 1xx (100, 103, …): skipped
//!                 ┌────────┐
//!                 ▼        │        101 ─────────────────────────────▶ Failed(UnexpectedSwitchingProtocols)
//!   new ──────▶ Head ──────┴── final head ──┬─ HEAD / 204 / 304 / CL 0 ──▶ End ──▶ Done
//!                 │                         ├─ Content-Length n ──▶ Length(n) ── n bytes ──▶ End
//!                 │ bad bytes / limit       ├─ chunked last ─────▶ Chunked ── 0-chunk + trailers ──▶ Done
//!                 ▼                         └─ neither / chunked not last ──▶ Close ── EOF ──▶ Done
//!               Failed(err)                                       (keep_alive = false)
//!    (sticky; EOF in Head ⇒ IncompleteHead, EOF in Length/Chunked ⇒ IncompleteBody)
//! ```
//!
//! `Head` is emitted on the final head, `Body` for every slice of body as soon as it is decoded, `End
//! { keep_alive }` once. `keep_alive` = the `Connection` header allows it (HTTP/1.0 needs `keep-alive`, a
//! `close` token anywhere refuses) ∧ the body is not close-delimited ∧ the framing is not faulty (HTTP/1.0
//! with `Transfer-Encoding`).
//!
//! ## Connection states
//!
//! ```text
//!            send (no `Connection: close`)          data for the front request ⇒ Head/Body/Done(front)
//!              ┌───┐                                    ┌───┐
//!              ▼   │                                    ▼   │
//!   new ───▶ Open ─┴── response or request says close ─▶ Closing ── last Done ──▶ (ignores bytes) ──┐
//!              │       (or close-delimited body)            │                                        │
//!              │ decoder error / EOF in flight / bytes      │ Done with requests still queued         │
//!              │ with nothing in flight                     │ ⇒ Failed { unanswered: rest }          │
//!              ▼                                            ▼                                        ▼
//!           Closed ◀────────────────────────────────────────┴────────────── EOF ───────────────────────┘
//!     (one Failed { error, responding: front if it got bytes, unanswered: the rest }; sends refused)
//! ```
//!
//! `can_send()` is true only in `Open`; `is_reusable()` = `Open` with nothing in flight.

mod chunked;
mod conn;
mod decode;
mod encode;
mod framing;
mod head;
mod keep_alive;
mod limits;
mod list;
#[cfg(test)]
mod props;

pub use conn::{ConnEvent, H1Connection};
pub use decode::{Decoded, ResponseDecoder};
pub use encode::{encode_chunk, encode_chunked_request_head, encode_last_chunk, encode_request};
pub(crate) use framing::declared_length;
pub use limits::Limits;
