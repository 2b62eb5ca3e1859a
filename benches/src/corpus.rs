//! Synthetic corpora shaped like real traffic, generated deterministically from a seed.

use bytes::Bytes;
use plue_http_core::rng::Rng;

/// Events in the standard OpenCode-shaped SSE corpus (issue 3).
pub const OPENCODE_EVENTS: usize = 200_000;

/// Words for generated text: model output about code is mostly ASCII.
const WORDS: &[&str] = &[
    "the",
    "function",
    "returns",
    "a",
    "value",
    "when",
    "called",
    "with",
    "an",
    "argument",
    "let",
    "fn",
    "struct",
    "impl",
    "error",
    "handle",
    "request",
    "response",
    "stream",
    "event",
    "`code`",
    "{",
    "}",
    "(x)",
    "=>",
    "42",
    "src/main.rs",
    "is",
    "to",
    "of",
    "and",
    "in",
    "test",
    "file",
    "change",
];

/// One word in 16 is one of these: multi-byte characters and JSON escapes, as real model output has.
const RARE_WORDS: &[&str] = &[
    "é",
    "naïve",
    "→",
    "✓",
    "\\n",
    "\\\"quoted\\\"",
    "über",
    "日本語",
    "—",
];

fn words(rng: &mut Rng, target_len: usize, out: &mut String) {
    let start = out.len();
    while out.len() - start < target_len {
        if out.len() > start {
            out.push(' ');
        }
        let list = if rng.below(16) == 0 {
            RARE_WORDS
        } else {
            WORDS
        };
        out.push_str(list[rng.below(list.len() as u64) as usize]);
    }
}

fn id(rng: &mut Rng, prefix: &str, out: &mut String) {
    const ALNUM: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    out.push_str(prefix);
    for _ in 0..16 {
        out.push(char::from(ALNUM[rng.below(ALNUM.len() as u64) as usize]));
    }
}

/// An OpenCode-shaped `text/event-stream` body of `events` events, as OpenCode's `GET /event` sends them: each
/// event is one `data: {json}` line and a blank line, no `event:` or `id:` field (the type is inside the JSON).
///
/// 98% are `message.part.delta` events of about 150 bytes (a streamed text delta), 2% are `message.updated`
/// events of about 2 KB (a whole message's metadata and summary). The same `seed` gives the same bytes.
pub fn opencode_sse_corpus(events: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let mut session = String::new();
    id(&mut rng, "ses_", &mut session);
    let mut out = Vec::with_capacity(events * 200);
    let mut line = String::with_capacity(4096);
    for _ in 0..events {
        line.clear();
        line.push_str("data: ");
        if rng.below(100) < 98 {
            line.push_str(r#"{"type":"message.part.delta","properties":{"sessionID":""#);
            line.push_str(&session);
            line.push_str(r#"","messageID":""#);
            id(&mut rng, "msg_", &mut line);
            line.push_str(r#"","delta":""#);
            let target = 2 + rng.below(30) as usize;
            words(&mut rng, target, &mut line);
            line.push_str(r#""}}"#);
        } else {
            line.push_str(r#"{"type":"message.updated","properties":{"info":{"id":""#);
            id(&mut rng, "msg_", &mut line);
            line.push_str(r#"","sessionID":""#);
            line.push_str(&session);
            line.push_str(r#"","role":"assistant","time":{"created":1764000000000,"completed":1764000012345},"#);
            line.push_str(
                r#""modelID":"claude-sonnet-4-5","providerID":"anthropic","mode":"build","#,
            );
            line.push_str(r#""path":{"cwd":"/home/user/project","root":"/home/user/project"},"#);
            line.push_str(r#""cost":0.0123,"tokens":{"input":1234,"output":567,"reasoning":0,"cache":{"read":0,"write":0}},"#);
            line.push_str(r#""summary":""#);
            let target = 1500 + rng.below(200) as usize;
            words(&mut rng, target, &mut line);
            line.push_str(r#""}}}"#);
        }
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\n\n");
    }
    out
}

/// `data` cut into `chunk`-byte pieces (the last may be shorter), as a socket would deliver it.
pub fn chunked(data: &[u8], chunk: usize) -> Vec<Bytes> {
    let all = Bytes::copy_from_slice(data);
    (0..data.len())
        .step_by(chunk.max(1))
        .map(|at| all.slice(at..(at + chunk.max(1)).min(data.len())))
        .collect()
}

/// FNV-1a over every event's type, data and id (with separators), for checking that two decoders agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventChecksum {
    /// Events seen.
    pub count: usize,
    /// The running hash.
    pub hash: u64,
}

impl Default for EventChecksum {
    fn default() -> Self {
        EventChecksum {
            count: 0,
            hash: 0xcbf2_9ce4_8422_2325,
        }
    }
}

impl EventChecksum {
    /// Fold one event in.
    pub fn add(&mut self, event: &str, data: &str, id: &str) {
        self.count += 1;
        for (part, sep) in [(event, 0xFF), (data, 0xFE), (id, 0xFD)] {
            for &b in part.as_bytes().iter().chain(&[sep]) {
                self.hash ^= u64::from(b);
                self.hash = self.hash.wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corpus_has_the_issue_3_shape() {
        let corpus = opencode_sse_corpus(20_000, 1);
        assert_eq!(corpus, opencode_sse_corpus(20_000, 1), "deterministic");
        let text = std::str::from_utf8(&corpus).unwrap();
        let events: Vec<&str> = text.split_terminator("\n\n").collect();
        assert_eq!(events.len(), 20_000);
        let (deltas, updates): (Vec<&str>, Vec<&str>) = events
            .iter()
            .partition(|e| e.contains(r#""type":"message.part.delta""#));
        let avg = |v: &[&str]| v.iter().map(|e| e.len() + 2).sum::<usize>() / v.len();
        let share = deltas.len() as f64 / events.len() as f64;
        assert!((0.97..0.99).contains(&share), "delta share {share}");
        assert!(
            (130..=170).contains(&avg(&deltas)),
            "delta size {}",
            avg(&deltas)
        );
        assert!(
            (1800..=2300).contains(&avg(&updates)),
            "update size {}",
            avg(&updates)
        );
        assert!(events
            .iter()
            .all(|e| e.starts_with("data: {") && !e.contains('\n')));
    }

    #[test]
    fn chunked_covers_every_byte() {
        let data: Vec<u8> = (0..=255).collect();
        let chunks = chunked(&data, 100);
        assert_eq!(
            chunks.iter().map(|c| c.len()).collect::<Vec<_>>(),
            vec![100, 100, 56]
        );
        assert_eq!(chunks.concat(), data);
    }
}
