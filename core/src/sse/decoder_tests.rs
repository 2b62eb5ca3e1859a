//! Decoder tests: one per WHATWG rule, then properties (chunking invariance, agreement with a naive model of the
//! spec).

use super::*;
use quickcheck::{Arbitrary, Gen, QuickCheck};

const BIG: usize = usize::MAX;

fn drain(d: &mut SseDecoder, out: &mut Vec<SseItem>) {
    while let Some(item) = d.poll() {
        out.push(item);
    }
}

/// Feed each chunk, polling after each, then finish.
fn decode_chunks_max(chunks: &[&[u8]], max: usize) -> (Vec<SseItem>, String) {
    let mut d = SseDecoder::new(max);
    let mut out = Vec::new();
    for c in chunks {
        d.feed(c);
        drain(&mut d, &mut out);
    }
    d.finish();
    drain(&mut d, &mut out);
    (out, d.last_event_id().to_string())
}

fn decode(input: &[u8]) -> Vec<SseItem> {
    decode_chunks_max(&[input], BIG).0
}

fn ev(event: &str, data: &str, id: &str) -> SseItem {
    SseItem::Event(SseEvent {
        event: event.into(),
        data: data.into(),
        id: id.into(),
    })
}

fn msg(data: &str) -> SseItem {
    ev("message", data, "")
}

// ---- line endings -------------------------------------------------------------------------------------------

#[test]
fn sse_lf_line_endings() {
    assert_eq!(decode(b"data: a\ndata: b\n\n"), vec![msg("a\nb")]);
}

#[test]
fn sse_crlf_line_endings() {
    assert_eq!(decode(b"data: a\r\ndata: b\r\n\r\n"), vec![msg("a\nb")]);
}

#[test]
fn sse_cr_line_endings() {
    assert_eq!(decode(b"data: a\rdata: b\r\r"), vec![msg("a\nb")]);
}

#[test]
fn sse_mixed_line_endings() {
    assert_eq!(
        decode(b"data: a\rdata: b\r\ndata: c\n\r\ndata: d\r\n\n"),
        vec![msg("a\nb\nc"), msg("d")]
    );
}

#[test]
fn sse_crlf_split_across_chunks_is_one_line_end() {
    // A CR at the end of one read and the LF at the start of the next: one line end, not a blank line.
    let (items, _) = decode_chunks_max(&[b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"], BIG);
    assert_eq!(items, vec![msg("a\nb")]);
}

#[test]
fn sse_cr_then_cr_across_chunks_is_a_blank_line() {
    let (items, _) = decode_chunks_max(&[b"data: a\r", b"\r"], BIG);
    assert_eq!(items, vec![msg("a")]);
}

#[test]
fn sse_trailing_cr_before_eof_ends_the_line() {
    // The final CR needs no LF to end its line: the event is dispatched before EOF.
    let mut d = SseDecoder::new(BIG);
    d.feed(b"data: x\r\r");
    assert_eq!(d.poll(), Some(msg("x")));
    // And one CR at EOF ends the data line, but no blank line follows: nothing is dispatched.
    assert_eq!(decode(b"data: x\r"), vec![]);
    assert_eq!(decode(b"data: x\n\r"), vec![msg("x")]);
}

#[test]
fn sse_lone_lf_after_cr_line_is_skipped_only_once() {
    // CR LF LF: the first LF completes the CRLF, the second is a blank line.
    assert_eq!(decode(b"data: a\r\n\n"), vec![msg("a")]);
    let (items, _) = decode_chunks_max(&[b"data: a\r", b"\n", b"\n"], BIG);
    assert_eq!(items, vec![msg("a")]);
}

// ---- BOM ----------------------------------------------------------------------------------------------------

#[test]
fn sse_bom_stripped_at_start() {
    assert_eq!(decode(b"\xEF\xBB\xBFdata: a\n\n"), vec![msg("a")]);
}

#[test]
fn sse_bom_split_across_chunks() {
    let (items, _) = decode_chunks_max(&[b"\xEF", b"\xBB", b"\xBFdata: a\n\n"], BIG);
    assert_eq!(items, vec![msg("a")]);
    let (items, _) = decode_chunks_max(&[b"\xEF\xBB", b"\xBF", b"data: b\n", b"\n"], BIG);
    assert_eq!(items, vec![msg("b")]);
}

#[test]
fn sse_bom_only_once() {
    // A second BOM is part of the field name `\u{FEFF}data`, an unknown field: ignored.
    assert_eq!(decode(b"\xEF\xBB\xBF\xEF\xBB\xBFdata: a\n\n"), vec![]);
    // Never later in the stream either.
    assert_eq!(
        decode(b"data: a\n\n\xEF\xBB\xBFdata: b\n\n"),
        vec![msg("a")]
    );
    // Inside a value it is just a character.
    assert_eq!(decode(b"data: \xEF\xBB\xBFx\n\n"), vec![msg("\u{feff}x")]);
}

#[test]
fn sse_bom_prefix_that_is_not_a_bom() {
    // EF BB then 'd': not a BOM; the two bytes are invalid UTF-8 in a field name → unknown field.
    assert_eq!(decode(b"\xEF\xBBdata: a\n\ndata: b\n\n"), vec![msg("b")]);
    // Stream shorter than a BOM: EOF decides, no panic.
    assert_eq!(decode(b"\xEF\xBB"), vec![]);
    assert_eq!(decode(b"\n"), vec![]);
}

#[test]
fn sse_bom_allowed_again_after_restart() {
    let mut d = SseDecoder::new(BIG);
    d.feed(b"\xEF\xBB\xBFdata: a\n\n");
    assert_eq!(d.poll(), Some(msg("a")));
    d.restart();
    d.feed(b"\xEF\xBB\xBFdata: b\n\n");
    assert_eq!(d.poll(), Some(msg("b")));
}

// ---- comments and fields ------------------------------------------------------------------------------------

#[test]
fn sse_comments_are_items() {
    assert_eq!(
        decode(b": heartbeat\n:\n:  two spaces\n:no space\n"),
        vec![
            SseItem::Comment("heartbeat".into()),
            SseItem::Comment(String::new()),
            SseItem::Comment(" two spaces".into()),
            SseItem::Comment("no space".into()),
        ]
    );
}

#[test]
fn sse_comment_does_not_interrupt_an_event() {
    assert_eq!(
        decode(b"data: a\n: ping\ndata: b\n\n"),
        vec![SseItem::Comment("ping".into()), msg("a\nb")]
    );
}

#[test]
fn sse_field_split_on_first_colon() {
    assert_eq!(decode(b"data: a:b: c\n\n"), vec![msg("a:b: c")]);
}

#[test]
fn sse_only_one_leading_space_stripped() {
    assert_eq!(decode(b"data:  a\n\n"), vec![msg(" a")]);
    assert_eq!(decode(b"data:a\n\n"), vec![msg("a")]);
    assert_eq!(decode(b"data:\ta\n\n"), vec![msg("\ta")]);
    assert_eq!(decode(b"data: a \n\n"), vec![msg("a ")]);
}

#[test]
fn sse_line_without_colon_is_field_with_empty_value() {
    // `data` alone appends an empty line: the data buffer is "\n", so an event with empty data is dispatched.
    assert_eq!(decode(b"data\n\n"), vec![msg("")]);
    assert_eq!(decode(b"data\ndata\n\n"), vec![msg("\n")]);
    assert_eq!(decode(b"data:\n\n"), vec![msg("")]);
}

#[test]
fn sse_unknown_fields_ignored() {
    assert_eq!(decode(b"foo: bar\ndata: a\nbaz\n\n"), vec![msg("a")]);
}

#[test]
fn sse_field_names_case_sensitive() {
    assert_eq!(decode(b"Data: a\nEVENT: x\nID: 1\nRetry: 5\n\n"), vec![]);
}

#[test]
fn sse_data_lines_joined_with_lf() {
    assert_eq!(decode(b"data: a\ndata:\ndata: b\n\n"), vec![msg("a\n\nb")]);
    assert_eq!(decode(b"data: a\ndata: \n\n"), vec![msg("a\n")]);
}

// ---- event type -----------------------------------------------------------------------------------------------

#[test]
fn sse_type_defaults_to_message() {
    assert_eq!(decode(b"data: a\n\n"), vec![msg("a")]);
}

#[test]
fn sse_event_type_applies_to_one_event() {
    assert_eq!(
        decode(b"event: update\ndata: a\n\ndata: b\n\n"),
        vec![ev("update", "a", ""), msg("b")]
    );
}

#[test]
fn sse_empty_event_field_means_message() {
    assert_eq!(decode(b"event:\ndata: a\n\n"), vec![msg("a")]);
    assert_eq!(decode(b"event: x\nevent:\ndata: a\n\n"), vec![msg("a")]);
    assert_eq!(
        decode(b"event: x\nevent: y\ndata: a\n\n"),
        vec![ev("y", "a", "")]
    );
}

#[test]
fn sse_event_type_without_data_is_reset() {
    assert_eq!(decode(b"event: x\n\ndata: a\n\n"), vec![msg("a")]);
}

// ---- id -------------------------------------------------------------------------------------------------------

#[test]
fn sse_id_persists_across_events() {
    let (items, last) = decode_chunks_max(&[b"id: 1\ndata: a\n\ndata: b\n\n"], BIG);
    assert_eq!(
        items,
        vec![ev("message", "a", "1"), ev("message", "b", "1")]
    );
    assert_eq!(last, "1");
}

#[test]
fn sse_empty_id_resets() {
    let (items, last) =
        decode_chunks_max(&[b"id: 1\ndata: a\n\nid\ndata: b\n\nid:\ndata: c\n\n"], BIG);
    assert_eq!(items, vec![ev("message", "a", "1"), msg("b"), msg("c")]);
    assert_eq!(last, "");
}

#[test]
fn sse_id_with_nul_ignored() {
    let (items, last) = decode_chunks_max(&[b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n"], BIG);
    assert_eq!(
        items,
        vec![ev("message", "a", "1"), ev("message", "b", "1")]
    );
    assert_eq!(last, "1");
}

#[test]
fn sse_id_committed_at_blank_line_even_without_data() {
    let (items, last) = decode_chunks_max(&[b"id: 7\n\n"], BIG);
    assert_eq!(items, vec![]);
    assert_eq!(last, "7");
}

#[test]
fn sse_id_of_incomplete_event_not_committed() {
    let (items, last) = decode_chunks_max(&[b"id: 1\ndata: a\n\nid: 2\ndata: b\n"], BIG);
    assert_eq!(items, vec![ev("message", "a", "1")]);
    assert_eq!(last, "1");
}

#[test]
fn sse_id_keeps_spaces_and_unicode() {
    let (items, _) = decode_chunks_max(&["id:  é 1 \ndata: a\n\n".as_bytes()], BIG);
    assert_eq!(items, vec![ev("message", "a", " é 1 ")]);
}

#[test]
fn sse_restart_keeps_last_id_and_resets_id_buffer() {
    let mut d = SseDecoder::new(BIG);
    d.feed(b"id: 1\ndata: a\n\nid: 2\ndata: partial");
    assert_eq!(d.poll(), Some(ev("message", "a", "1")));
    assert_eq!(d.poll(), None);
    d.restart();
    assert_eq!(d.last_event_id(), "1");
    // The uncommitted `id: 2` is gone with the connection; the partial event too.
    d.feed(b"data: b\n\n");
    assert_eq!(d.poll(), Some(ev("message", "b", "1")));
}

// ---- retry ----------------------------------------------------------------------------------------------------

#[test]
fn sse_retry_all_digits() {
    assert_eq!(
        decode(b"retry: 1500\n"),
        vec![SseItem::Retry(Duration::from_millis(1500))]
    );
    assert_eq!(decode(b"retry:0\n"), vec![SseItem::Retry(Duration::ZERO)]);
}

#[test]
fn sse_retry_rejects_anything_but_digits() {
    for bad in [
        &b"retry: 15a\n"[..],
        b"retry:\n",
        b"retry\n",
        b"retry: -1\n",
        b"retry: +1\n",
        b"retry: 1.5\n",
        b"retry:  100\n",
        b"retry: 100 \n",
        b"retry: \xD9\xA1\n", // Arabic-Indic digit one: not ASCII
    ] {
        assert_eq!(decode(bad), vec![], "{:?}", String::from_utf8_lossy(bad));
    }
}

#[test]
fn sse_retry_overflow_saturates() {
    assert_eq!(
        decode(b"retry: 99999999999999999999999999\n"),
        vec![SseItem::Retry(Duration::from_millis(u64::MAX))]
    );
}

#[test]
fn sse_retry_does_not_dispatch_or_need_blank_line() {
    assert_eq!(
        decode(b"data: a\nretry: 10\n\n"),
        vec![SseItem::Retry(Duration::from_millis(10)), msg("a")]
    );
}

// ---- dispatch and EOF -----------------------------------------------------------------------------------------

#[test]
fn sse_blank_line_without_data_dispatches_nothing() {
    assert_eq!(decode(b"\n\n\r\n\r\r"), vec![]);
    assert_eq!(decode(b"event: x\nid: 1\n\n"), vec![]);
}

#[test]
fn sse_incomplete_event_at_eof_discarded() {
    assert_eq!(decode(b"data: a\n"), vec![]);
    assert_eq!(decode(b"data: a"), vec![]);
    assert_eq!(decode(b"data: a\n\ndata: b"), vec![msg("a")]);
    assert_eq!(decode(b"data: a\n\ndata: b\n"), vec![msg("a")]);
    // An unterminated comment or retry at EOF is not a line either.
    assert_eq!(decode(b": hi"), vec![]);
    assert_eq!(decode(b"retry: 5"), vec![]);
}

#[test]
fn sse_complete_lines_before_finish_are_still_decoded() {
    let mut d = SseDecoder::new(BIG);
    d.feed(b"data: a\n\ndata: b\n\ndata: c");
    d.finish();
    let mut out = Vec::new();
    drain(&mut d, &mut out);
    assert_eq!(out, vec![msg("a"), msg("b")]);
}

#[test]
fn sse_feed_after_finish_ignored_until_restart() {
    let mut d = SseDecoder::new(BIG);
    d.finish();
    d.feed(b"data: a\n\n");
    assert_eq!(d.poll(), None);
    d.restart();
    d.feed(b"data: a\n\n");
    assert_eq!(d.poll(), Some(msg("a")));
}

// ---- UTF-8 ------------------------------------------------------------------------------------------------------

#[test]
fn sse_invalid_utf8_replaced_without_stalling() {
    assert_eq!(
        decode(b"data: a\xFFb\n\ndata: c\n\n"),
        vec![msg("a\u{FFFD}b"), msg("c")]
    );
    // A truncated multi-byte sequence before the line end.
    assert_eq!(decode(b"data: \xE2\x82\n\n"), vec![msg("\u{FFFD}")]);
    // Across data lines: each truncated sequence is its own replacement; the LF survives.
    assert_eq!(
        decode(b"data: \xE2\ndata: \x82\n\n"),
        vec![msg("\u{FFFD}\n\u{FFFD}")]
    );
    assert_eq!(
        decode(b"event: \xC0\ndata: x\n\n"),
        vec![ev("\u{FFFD}", "x", "")]
    );
    assert_eq!(
        decode(b": \xFF\n"),
        vec![SseItem::Comment("\u{FFFD}".into())]
    );
}

#[test]
fn sse_multibyte_char_split_across_chunks() {
    let s = "data: héllo €\n\n".as_bytes();
    for i in 0..s.len() {
        let (items, _) = decode_chunks_max(&[&s[..i], &s[i..]], BIG);
        assert_eq!(items, vec![msg("héllo €")], "split at {i}");
    }
}

// ---- size limit -------------------------------------------------------------------------------------------------

#[test]
fn sse_too_large_skips_to_next_blank_line() {
    let input = b"data: short\n\ndata: 0123456789abcdefghij\ndata: more\n\ndata: ok\n\n";
    let (items, _) = decode_chunks_max(&[input], 16);
    assert_eq!(
        items,
        vec![msg("short"), SseItem::TooLarge { max: 16 }, msg("ok")]
    );
}

#[test]
fn sse_too_large_counts_the_whole_event() {
    // Three lines of 8 bytes: the event is 24 bytes, over a 20-byte limit, though no line is.
    let (items, _) = decode_chunks_max(&[b"data: ab\ndata: cd\ndata: ef\n\ndata: g\n\n"], 20);
    assert_eq!(items, vec![SseItem::TooLarge { max: 20 }, msg("g")]);
    // Exactly at the limit is fine.
    let (items, _) = decode_chunks_max(&[b"data: ab\ndata: cd\n\n"], 16);
    assert_eq!(items, vec![msg("ab\ncd")]);
}

#[test]
fn sse_too_large_partial_line_keeps_memory_bounded() {
    let mut d = SseDecoder::new(1024);
    d.feed(b"data: ok\n\n");
    assert_eq!(d.poll(), Some(msg("ok")));
    d.feed(b"data: ");
    let chunk = [b'x'; 4096];
    let mut items = Vec::new();
    for _ in 0..256 {
        d.feed(&chunk);
        drain(&mut d, &mut items);
        assert!(d.buf.len() <= 4096 + 1024, "buffer grew to {}", d.buf.len());
    }
    // The huge line ends; its LF is not taken for a blank line.
    d.feed(b"\ndata: still skipped\n\ndata: next\n\n");
    drain(&mut d, &mut items);
    assert_eq!(items, vec![SseItem::TooLarge { max: 1024 }, msg("next")]);
}

#[test]
fn sse_too_large_then_eof_is_clean() {
    let (items, _) = decode_chunks_max(&[b"data: 0123456789"], 4);
    assert_eq!(items, vec![SseItem::TooLarge { max: 4 }]);
}

// ---- linear time ----------------------------------------------------------------------------------------------

#[test]
fn sse_pending_bytes_never_rescanned() {
    let mut d = SseDecoder::new(BIG);
    d.feed(b"data: abc");
    assert_eq!(d.poll(), None);
    assert_eq!(
        d.scan,
        d.buf.len(),
        "the search must resume at the end of what was scanned"
    );
    d.feed(b"def");
    assert_eq!(d.poll(), None);
    assert_eq!(d.scan, d.buf.len());
}

#[test]
fn sse_long_line_fed_byte_by_byte_is_linear() {
    // Quadratic re-scanning would take minutes here (256 Ki polls over a growing line).
    let n = 256 * 1024;
    let mut d = SseDecoder::new(BIG);
    d.feed(b"data: ");
    for _ in 0..n {
        d.feed(b"y");
        assert_eq!(d.poll(), None);
    }
    d.feed(b"\n\n");
    match d.poll() {
        Some(SseItem::Event(e)) => assert_eq!(e.data.len(), n),
        other => panic!("expected the event, got {other:?}"),
    }
}

// ---- properties -----------------------------------------------------------------------------------------------

/// A byte stream made of SSE-ish fragments, so random inputs hit the interesting cases often.
#[derive(Debug, Clone)]
struct SseInput(Vec<u8>);

impl Arbitrary for SseInput {
    fn arbitrary(g: &mut Gen) -> Self {
        const PIECES: &[&[u8]] = &[
            b"data",
            b"data:",
            b"data: ",
            b"event:",
            b"event: x",
            b"id:",
            b"id: 7",
            b"id: \0",
            b"retry:",
            b"retry: 25",
            b"retry: 2x",
            b":",
            b": hi",
            b" ",
            b"x",
            b"yz",
            b"\r",
            b"\n",
            b"\r\n",
            b"\n\n",
            b"\xEF\xBB\xBF",
            b"\xEF\xBB",
            b"\xFF",
            b"\xC3\xA9",
            b"\xE2\x82",
            b"\0",
            b"DATA",
        ];
        let n = usize::arbitrary(g) % 40;
        let mut v = Vec::new();
        for _ in 0..n {
            if u8::arbitrary(g) % 8 == 0 {
                v.push(u8::arbitrary(g));
            } else {
                v.extend_from_slice(g.choose(PIECES).unwrap());
            }
        }
        SseInput(v)
    }

    fn shrink(&self) -> Box<dyn Iterator<Item = Self>> {
        Box::new(self.0.shrink().map(SseInput))
    }
}

/// Split `input` at the given (unsorted, possibly out-of-range) points.
fn split<'a>(input: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut cuts: Vec<usize> = cuts
        .iter()
        .map(|c| {
            if input.is_empty() {
                0
            } else {
                c % (input.len() + 1)
            }
        })
        .collect();
    cuts.sort_unstable();
    let mut chunks = Vec::new();
    let mut at = 0;
    for c in cuts {
        chunks.push(&input[at..c]);
        at = c;
    }
    chunks.push(&input[at..]);
    chunks
}

#[test]
fn sse_any_chunking_gives_the_same_items() {
    fn prop(input: SseInput, cuts: Vec<usize>, max: u8) -> bool {
        // Small limits exercise the size rule; 255 stands for "no limit".
        let max = if max == 255 {
            BIG
        } else {
            usize::from(max % 48)
        };
        let whole = decode_chunks_max(&[&input.0], max);
        let chunked = decode_chunks_max(&split(&input.0, &cuts), max);
        whole == chunked
    }
    QuickCheck::new()
        .tests(3000)
        .quickcheck(prop as fn(SseInput, Vec<usize>, u8) -> bool);
}

#[test]
fn sse_byte_at_a_time_gives_the_same_items() {
    fn prop(input: SseInput) -> bool {
        let chunks: Vec<&[u8]> = input.0.chunks(1).collect();
        decode_chunks_max(&[&input.0], BIG) == decode_chunks_max(&chunks, BIG)
    }
    QuickCheck::new()
        .tests(1000)
        .quickcheck(prop as fn(SseInput) -> bool);
}

/// The spec's algorithm written as plainly as possible: decode the whole stream as UTF-8 first, strip one BOM,
/// split into lines, interpret each. Only complete lines count.
fn reference(input: &[u8]) -> (Vec<SseItem>, String) {
    let text = String::from_utf8_lossy(input);
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut lines = Vec::new();
    let mut line = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                lines.push(std::mem::take(&mut line));
            }
            '\n' => lines.push(std::mem::take(&mut line)),
            c => line.push(c),
        }
    }
    let (mut items, mut data, mut event, mut id_buf, mut last_id) = (
        Vec::new(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
    );
    for line in lines {
        if line.is_empty() {
            last_id = id_buf.clone();
            if data.is_empty() {
                event.clear();
                continue;
            }
            data.pop();
            items.push(SseItem::Event(SseEvent {
                event: if event.is_empty() {
                    "message".into()
                } else {
                    event.clone()
                },
                data: std::mem::take(&mut data),
                id: last_id.clone(),
            }));
            event.clear();
            continue;
        }
        if let Some(c) = line.strip_prefix(':') {
            items.push(SseItem::Comment(
                c.strip_prefix(' ').unwrap_or(c).to_string(),
            ));
            continue;
        }
        let (name, value) = match line.split_once(':') {
            Some((n, v)) => (n, v.strip_prefix(' ').unwrap_or(v)),
            None => (line.as_str(), ""),
        };
        match name {
            "event" => event = value.to_string(),
            "data" => {
                data.push_str(value);
                data.push('\n');
            }
            "id" if !value.contains('\0') => id_buf = value.to_string(),
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                items.push(SseItem::Retry(Duration::from_millis(
                    value.parse().unwrap_or(u64::MAX),
                )));
            }
            _ => {}
        }
    }
    (items, last_id)
}

#[test]
fn sse_agrees_with_a_naive_model_of_the_spec() {
    fn prop(input: SseInput, cuts: Vec<usize>) -> bool {
        let got = decode_chunks_max(&split(&input.0, &cuts), BIG);
        let want = reference(&input.0);
        if got != want {
            eprintln!(
                "input {:?}\n got {got:?}\nwant {want:?}",
                String::from_utf8_lossy(&input.0)
            );
        }
        got == want
    }
    QuickCheck::new()
        .tests(3000)
        .quickcheck(prop as fn(SseInput, Vec<usize>) -> bool);
}

#[test]
fn sse_arbitrary_bytes_never_panic() {
    fn prop(input: Vec<u8>, cuts: Vec<usize>, max: u8) -> bool {
        let _ = decode_chunks_max(&split(&input, &cuts), usize::from(max));
        true
    }
    QuickCheck::new()
        .tests(1000)
        .quickcheck(prop as fn(Vec<u8>, Vec<usize>, u8) -> bool);
}
