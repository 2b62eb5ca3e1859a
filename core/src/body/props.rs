//! Properties of the content decoders: decode(encode(x)) = x for every coding and any chunking of the wire
//! bytes; arbitrary input never panics.

use quickcheck::{QuickCheck, TestResult};

use super::tests::{brotli, decode, gzip, raw_deflate, zlib, zstd, LIMITS};
use super::*;

fn chunked_round_trip(data: Vec<u8>, cuts: Vec<u16>) -> TestResult {
    let cases: [(&[Coding], Vec<u8>); 6] = [
        (&[Coding::Gzip], gzip(&data)),
        (&[Coding::Deflate], zlib(&data)),
        (&[Coding::Deflate], raw_deflate(&data)),
        (&[Coding::Brotli], brotli(&data)),
        (&[Coding::Zstd], zstd(&data)),
        (&[Coding::Zstd, Coding::Gzip], gzip(&zstd(&data))),
    ];
    for (codings, wire) in cases {
        let mut d = ContentDecoder::new(codings, LIMITS).unwrap();
        let mut pieces = Vec::new();
        let mut at = 0;
        for c in &cuts {
            let end = (at + usize::from(*c) % 64).min(wire.len());
            d.feed(&wire[at..end], &mut pieces).unwrap();
            at = end;
        }
        d.feed(&wire[at..], &mut pieces).unwrap();
        d.finish(&mut pieces).unwrap();
        if pieces.concat() != data {
            return TestResult::error(format!("{codings:?} differs"));
        }
    }
    TestResult::passed()
}

#[test]
fn prop_round_trip_over_random_chunkings() {
    QuickCheck::new()
        .tests(200)
        .quickcheck(chunked_round_trip as fn(Vec<u8>, Vec<u16>) -> TestResult);
}

fn arbitrary_input_never_panics(wire: Vec<u8>, chunk: u8) -> bool {
    for c in [Coding::Gzip, Coding::Deflate, Coding::Brotli, Coding::Zstd] {
        let _ = decode(&[c], &wire, usize::from(chunk), LIMITS);
    }
    true
}

#[test]
fn prop_arbitrary_input_never_panics() {
    QuickCheck::new()
        .tests(500)
        .quickcheck(arbitrary_input_never_panics as fn(Vec<u8>, u8) -> bool);
}
