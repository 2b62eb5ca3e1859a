//! Turning a [`Reply`] into a timed plan of wire actions.
//!
//! A plan is a flat list of steps (`Wait`, `Send`, `Close`, `Reset`, `Hang`), so every fault is a small edit of
//! the list: a reset after n bytes cuts the sends at byte n, a stalled body is a `Wait` between head and body.

use core::time::Duration;
use std::collections::VecDeque;

use bytes::{BufMut, Bytes, BytesMut};

use super::script::{Framing, Reply, ReplyBody, SseEnd, SseItem};

/// One wire action of a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// Pause before the next step.
    Wait(Duration),
    /// Send these bytes.
    Send(Bytes),
    /// Close the connection (FIN) after everything before.
    Close,
    /// Reset the connection.
    Reset,
    /// Stay open: send a heartbeat every period and whatever is published to the channel.
    Hang {
        heartbeat: Option<(Duration, Bytes)>,
        channel: Option<String>,
        chunked: bool,
    },
}

/// The reply's plan. `head_only` is for HEAD requests (no body bytes, framing headers kept).
pub(crate) fn plan(reply: &Reply, head_only: bool, tag: Option<&str>) -> VecDeque<Step> {
    let mut steps = VecDeque::new();
    if !reply.head_delay.is_zero() {
        steps.push_back(Step::Wait(reply.head_delay));
    }
    if reply.drop_request {
        steps.push_back(Step::Close);
        return steps;
    }
    let chunked = reply.framing == Framing::Chunked;
    let (pieces, sse_tail) = body_pieces(reply);
    let body_len: usize = pieces.iter().map(|(_, b)| b.len()).sum();
    steps.push_back(Step::Send(head(reply, body_len, tag)));
    if !head_only {
        if !reply.body_delay.is_zero() {
            steps.push_back(Step::Wait(reply.body_delay));
        }
        for (delay, piece) in pieces {
            if !delay.is_zero() {
                steps.push_back(Step::Wait(delay));
            }
            if piece.is_empty() {
                continue;
            }
            steps.push_back(Step::Send(if chunked { chunk(&piece) } else { piece }));
        }
        match sse_tail {
            Some((SseEnd::Hang, heartbeat, channel)) => {
                let heartbeat = heartbeat.map(|(d, item)| (d, item.encode()));
                steps.push_back(Step::Hang {
                    heartbeat,
                    channel,
                    chunked,
                });
            }
            Some((SseEnd::Reset, _, _)) => steps.push_back(Step::Reset),
            _ => {
                if chunked {
                    steps.push_back(Step::Send(Bytes::from_static(b"0\r\n\r\n")));
                }
            }
        }
    }
    if reply.close_after || (reply.framing == Framing::CloseDelimited && !head_only) {
        steps.push_back(Step::Close);
    }
    if let Some(n) = reply.reset_after {
        cut_at(&mut steps, n);
    }
    steps
}

type SseTail = (SseEnd, Option<(Duration, SseItem)>, Option<String>);

fn body_pieces(reply: &Reply) -> (Vec<(Duration, Bytes)>, Option<SseTail>) {
    match &reply.body {
        ReplyBody::Bytes(b) => {
            let pieces = match reply.drip {
                Some((size, every)) => b
                    .chunks(size)
                    .enumerate()
                    .map(|(i, c)| {
                        let d = if i == 0 { Duration::ZERO } else { every };
                        (d, Bytes::copy_from_slice(c))
                    })
                    .collect(),
                None => vec![(Duration::ZERO, b.clone())],
            };
            (pieces, None)
        }
        ReplyBody::Sse(s) => {
            let pieces = s
                .items
                .iter()
                .map(|(d, item)| (*d, item.encode()))
                .collect();
            (
                pieces,
                Some((s.end, s.heartbeat.clone(), s.channel.clone())),
            )
        }
    }
}

fn head(reply: &Reply, body_len: usize, tag: Option<&str>) -> Bytes {
    let reason = http::StatusCode::from_u16(reply.status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Scripted");
    let mut h = format!("HTTP/1.1 {} {}\r\n", reply.status, reason);
    for (k, v) in &reply.headers {
        h.push_str(k);
        h.push_str(": ");
        h.push_str(v);
        h.push_str("\r\n");
    }
    if let Some(tag) = tag {
        h.push_str("x-sim-tag: ");
        h.push_str(tag);
        h.push_str("\r\n");
    }
    match reply.framing {
        Framing::Length => h.push_str(&format!("content-length: {body_len}\r\n")),
        Framing::Chunked => h.push_str("transfer-encoding: chunked\r\n"),
        Framing::CloseDelimited => {}
    }
    if reply.close_after || reply.framing == Framing::CloseDelimited {
        h.push_str("connection: close\r\n");
    }
    h.push_str("\r\n");
    Bytes::from(h)
}

/// One chunk of a chunked body.
pub(crate) fn chunk(data: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(data.len() + 12);
    b.put_slice(format!("{:x}\r\n", data.len()).as_bytes());
    b.put_slice(data);
    b.put_slice(b"\r\n");
    b.freeze()
}

/// Keep the first `n` bytes of the sends, then reset.
fn cut_at(steps: &mut VecDeque<Step>, n: usize) {
    let mut left = n;
    let mut out = VecDeque::new();
    while let Some(step) = steps.pop_front() {
        match step {
            Step::Send(b) if b.len() >= left => {
                if left > 0 {
                    out.push_back(Step::Send(b.slice(..left)));
                }
                out.push_back(Step::Reset);
                *steps = out;
                return;
            }
            Step::Send(b) => {
                left -= b.len();
                out.push_back(Step::Send(b));
            }
            Step::Close | Step::Hang { .. } => {
                // The reply ends before byte n: the reset happens where it would have closed or hung.
                out.push_back(Step::Reset);
                *steps = out;
                return;
            }
            other => out.push_back(other),
        }
    }
    out.push_back(Step::Reset);
    *steps = out;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::script::SseScript;

    fn sent(steps: &VecDeque<Step>) -> Vec<u8> {
        let mut v = Vec::new();
        for s in steps {
            if let Step::Send(b) = s {
                v.extend_from_slice(b);
            }
        }
        v
    }

    #[test]
    fn sim_plan_frames_bodies_and_cuts_resets() {
        let r = Reply::ok("hello")
            .framing(Framing::Chunked)
            .drip(2, Duration::from_millis(5));
        let p = plan(&r, false, Some("t1"));
        let wire = String::from_utf8(sent(&p)).unwrap();
        assert!(wire.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(wire.contains("x-sim-tag: t1\r\n"));
        assert!(wire.ends_with("\r\n\r\n2\r\nhe\r\n2\r\nll\r\n1\r\no\r\n0\r\n\r\n"));
        let cut = plan(&r.clone().reset_after(10), false, None);
        assert_eq!(sent(&cut).len(), 10);
        assert_eq!(cut.back(), Some(&Step::Reset));
        let head = plan(&Reply::ok("abc"), true, None);
        assert!(String::from_utf8(sent(&head))
            .unwrap()
            .contains("content-length: 3"));
        assert!(!String::from_utf8(sent(&head)).unwrap().ends_with("abc"));
    }

    #[test]
    fn sim_plan_sse_hangs_with_heartbeat() {
        let r = Reply::sse(SseScript {
            items: vec![(Duration::ZERO, SseItem::event("a", "1"))],
            heartbeat: Some((Duration::from_secs(10), SseItem::Comment("hb".into()))),
            end: SseEnd::Hang,
            channel: None,
        });
        let p = plan(&r, false, None);
        assert!(matches!(
            p.back(),
            Some(Step::Hang {
                heartbeat: Some(_),
                chunked: true,
                ..
            })
        ));
    }
}
