//! SSE decoder throughput: plue's `SseDecoder` against `eventsource-stream` and `sse-stream` on the same OpenCode-shaped corpus
//! (issue 3), fed in 16 KiB chunks. Decoder only: no sockets, no HTTP. Both sides produce owned, UTF-8-validated
//! events; before measuring, their event counts and a checksum over every event's type, data and id must agree.
//!
//! Run: `cargo bench -p plue-http-benches --bench sse`

use std::convert::Infallible;
use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use eventsource_stream::Eventsource;
use futures::executor::block_on;
use futures::StreamExt;
use plue_http_benches::corpus::{chunked, opencode_sse_corpus, EventChecksum, OPENCODE_EVENTS};
use plue_http_core::sse::{SseDecoder, SseItem};

const CHUNK: usize = 16 * 1024;
const MAX_EVENT_SIZE: usize = 32 * 1024 * 1024;

/// Decode every chunk with plue, handing each owned event to `sink`.
fn plue(chunks: &[Bytes], mut sink: impl FnMut(&str, &str, &str)) {
    let mut d = SseDecoder::new(MAX_EVENT_SIZE);
    let mut take = |d: &mut SseDecoder| {
        while let Some(item) = d.poll() {
            if let SseItem::Event(e) = item {
                sink(&e.event, &e.data, &e.id);
            }
        }
    };
    for c in chunks {
        d.feed(c);
        take(&mut d);
    }
    d.finish();
    take(&mut d);
}

/// Decode every chunk with eventsource-stream, handing each owned event to `sink`.
fn eventsource_stream(chunks: &[Bytes], mut sink: impl FnMut(&str, &str, &str)) {
    block_on(async {
        let mut events = futures::stream::iter(chunks.iter().cloned().map(Ok::<Bytes, Infallible>))
            .eventsource();
        while let Some(e) = events.next().await {
            let e = e.expect("eventsource-stream failed on the corpus");
            sink(&e.event, &e.data, &e.id);
        }
    });
}

/// Decode every chunk with the `sse-stream` crate, handing each owned event to `sink`. Its events carry
/// optional fields: a missing type is the spec's `message`, and a block without data is not an event (as the
/// other two decoders treat it).
fn sse_stream_crate(chunks: &[Bytes], mut sink: impl FnMut(&str, &str, &str)) {
    block_on(async {
        let mut events = sse_stream::SseStream::from_bytes_stream(futures::stream::iter(
            chunks.iter().cloned().map(Ok::<Bytes, std::io::Error>),
        ));
        while let Some(e) = events.next().await {
            let e = e.expect("sse-stream failed on the corpus");
            if let Some(data) = &e.data {
                sink(
                    e.event.as_deref().unwrap_or("message"),
                    data,
                    e.id.as_deref().unwrap_or(""),
                );
            }
        }
    });
}

/// A decoder under test: decodes the chunks and hands every event's type, data and id to the sink.
type Decoder = fn(&[Bytes], &mut dyn FnMut(&str, &str, &str));

/// Count and checksum of every event `decode` produces.
fn checksum(decode: Decoder, chunks: &[Bytes]) -> EventChecksum {
    let mut sum = EventChecksum::default();
    decode(chunks, &mut |t, d, i| sum.add(t, d, i));
    sum
}

/// CPU time this thread has used (user + system). Client and peers share two cores with other work, so wall
/// time hides how much CPU a decoder really takes (DESIGN.md: CPU time is the primary metric).
fn thread_cpu_time() -> Duration {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable rusage; RUSAGE_THREAD only reads the calling thread's counters.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
    assert_eq!(rc, 0, "getrusage failed");
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Interleaved rounds of both decoders, CPU time each; prints median MB per CPU-second and the ratio.
fn cpu_time_rounds(chunks: &[Bytes], bytes: usize, rounds: usize) {
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for _ in 0..rounds {
        let t = thread_cpu_time();
        plue(chunks, |a, b, c| {
            black_box((a, b, c));
        });
        ours.push(thread_cpu_time() - t);
        let t = thread_cpu_time();
        eventsource_stream(chunks, |a, b, c| {
            black_box((a, b, c));
        });
        theirs.push(thread_cpu_time() - t);
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (o, t) = (median(&mut ours), median(&mut theirs));
    let mbps = |d: Duration| bytes as f64 / 1e6 / d.as_secs_f64();
    eprintln!(
        "cpu time, median of {rounds} interleaved rounds: plue {:.0} MB/s ({:.1} ms), eventsource-stream {:.0} MB/s \
         ({:.1} ms), ratio {:.2}x",
        mbps(o),
        o.as_secs_f64() * 1e3,
        mbps(t),
        t.as_secs_f64() * 1e3,
        t.as_secs_f64() / o.as_secs_f64()
    );
}

fn bench_sse(c: &mut Criterion) {
    let corpus = opencode_sse_corpus(OPENCODE_EVENTS, 0x5EED);
    let chunks = chunked(&corpus, CHUNK);

    let ours = checksum(|c, s| plue(c, s), &chunks);
    let theirs = checksum(|c, s| eventsource_stream(c, s), &chunks);
    assert_eq!(
        ours.count, OPENCODE_EVENTS,
        "plue decoded the wrong number of events"
    );
    assert_eq!(
        ours, theirs,
        "plue and eventsource-stream disagree on the corpus"
    );
    eprintln!(
        "corpus: {} events, {:.1} MB, {} chunks of {} KiB; checksums agree ({:#018x})",
        ours.count,
        corpus.len() as f64 / 1e6,
        chunks.len(),
        CHUNK / 1024,
        ours.hash
    );

    cpu_time_rounds(&chunks, corpus.len(), 7);
    let sse_stream = checksum(|c, s| sse_stream_crate(c, s), &chunks);
    eprintln!(
        "sse-stream: {} events; {}",
        sse_stream.count,
        if sse_stream == ours {
            "checksum agrees with plue's"
        } else {
            "checksum differs from plue's (its `id` does not persist across events as the spec's last event ID does)"
        }
    );

    let mut g = c.benchmark_group("sse_decode_opencode");
    g.throughput(Throughput::Bytes(corpus.len() as u64));
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(5));
    g.bench_function("plue", |b| {
        b.iter(|| {
            let mut n = 0usize;
            plue(black_box(&chunks), |t, d, i| {
                black_box((t, d, i));
                n += 1;
            });
            n
        })
    });
    g.bench_function("eventsource-stream", |b| {
        b.iter(|| {
            let mut n = 0usize;
            eventsource_stream(black_box(&chunks), |t, d, i| {
                black_box((t, d, i));
                n += 1;
            });
            n
        })
    });
    g.bench_function("sse-stream", |b| {
        b.iter(|| {
            let mut n = 0usize;
            sse_stream_crate(black_box(&chunks), |t, d, i| {
                black_box((t, d, i));
                n += 1;
            });
            n
        })
    });
    g.finish();
}

criterion_group!(benches, bench_sse);
criterion_main!(benches);
