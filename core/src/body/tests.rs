//! Content decoding: every coding, stacks, limits, and broken streams.

use std::io::Write;

use bytes::Bytes;

use super::*;
use crate::error::{DecodeProblem, Limit};

pub(super) fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

pub(super) fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

pub(super) fn raw_deflate(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

pub(super) fn brotli(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut w = ::brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
        w.write_all(data).unwrap();
    }
    out
}

pub(super) fn zstd(data: &[u8]) -> Vec<u8> {
    ::zstd::stream::encode_all(data, 3).unwrap()
}

pub(super) const LIMITS: DecodeLimits = DecodeLimits {
    max_decoded_size: 64 * 1024 * 1024,
    max_ratio: 100,
};

/// Decode `wire` fed in `chunk`-byte pieces.
pub(super) fn decode(
    codings: &[Coding],
    wire: &[u8],
    chunk: usize,
    limits: DecodeLimits,
) -> Result<Vec<u8>, DecodeError> {
    let mut d = ContentDecoder::new(codings, limits)?;
    let mut pieces: Vec<Bytes> = Vec::new();
    for part in wire.chunks(chunk.max(1)) {
        d.feed(part, &mut pieces)?;
    }
    d.finish(&mut pieces)?;
    assert!(pieces.iter().all(|p| p.len() <= PIECE && !p.is_empty()));
    Ok(pieces.concat())
}

fn text(n: usize) -> Vec<u8> {
    let unit = b"{\"id\":\"provider\",\"models\":[1,2,3]} ";
    (0..n)
        .map(|i| unit[i % unit.len()] ^ ((i / 7919) as u8 & 1))
        .collect()
}

#[test]
fn every_coding_decodes_in_any_chunking() {
    let body = text(300_000);
    let cases: [(Coding, Vec<u8>); 5] = [
        (Coding::Gzip, gzip(&body)),
        (Coding::Deflate, zlib(&body)),
        (Coding::Deflate, raw_deflate(&body)),
        (Coding::Brotli, brotli(&body)),
        (Coding::Zstd, zstd(&body)),
    ];
    for (coding, wire) in &cases {
        for chunk in [1, 2, 7, 4096, usize::MAX] {
            let got = decode(&[*coding], wire, chunk, LIMITS).unwrap();
            assert!(got == body, "{coding:?} in {chunk}-byte chunks");
        }
    }
}

#[test]
fn stacked_codings_are_undone_in_reverse_order() {
    let body = text(50_000);
    // Content-Encoding: gzip, br — gzip was applied first.
    let wire = brotli(&gzip(&body));
    assert_eq!(
        decode(&[Coding::Gzip, Coding::Brotli], &wire, 1000, LIMITS).unwrap(),
        body
    );
    let wire = gzip(&zstd(&zlib(&body)));
    let stack = [Coding::Deflate, Coding::Zstd, Coding::Gzip];
    assert_eq!(decode(&stack, &wire, 3, LIMITS).unwrap(), body);
    let five = [Coding::Gzip; 5];
    assert_eq!(
        ContentDecoder::new(&five, LIMITS).unwrap_err(),
        DecodeError::Coding {
            coding: Coding::Gzip,
            problem: DecodeProblem::TooManyCodings
        }
    );
}

#[test]
fn gzip_members_concatenate_and_headers_with_names_parse() {
    let mut wire = gzip(b"hello ");
    wire.extend(gzip(b"world"));
    assert_eq!(
        decode(&[Coding::Gzip], &wire, 1, LIMITS).unwrap(),
        b"hello world"
    );
    let mut named = Vec::new();
    {
        let mut e = flate2::GzBuilder::new()
            .filename("provider.json")
            .comment("a comment")
            .extra(vec![1, 2, 3])
            .write(&mut named, flate2::Compression::fast());
        e.write_all(b"named").unwrap();
        e.finish().unwrap();
    }
    assert_eq!(
        decode(&[Coding::Gzip], &named, 1, LIMITS).unwrap(),
        b"named"
    );
}

#[test]
fn empty_body_with_a_coding_is_empty() {
    for c in [Coding::Gzip, Coding::Deflate, Coding::Brotli, Coding::Zstd] {
        assert_eq!(decode(&[c], b"", 1, LIMITS).unwrap(), b"");
    }
}

#[test]
fn truncated_streams_are_typed_errors() {
    let body = text(100_000);
    let cases = [
        (Coding::Gzip, gzip(&body)),
        (Coding::Deflate, zlib(&body)),
        (Coding::Brotli, brotli(&body)),
        (Coding::Zstd, zstd(&body)),
    ];
    for (coding, wire) in cases {
        // Cut inside the data, and (gzip) inside the 8-byte trailer.
        for cut in [wire.len() / 2, wire.len() - 3] {
            let err = decode(&[coding], &wire[..cut], 512, LIMITS).unwrap_err();
            assert_eq!(
                err,
                DecodeError::Coding {
                    coding,
                    problem: DecodeProblem::Truncated
                },
                "{coding:?} cut at {cut}"
            );
        }
    }
}

#[test]
fn corrupt_streams_and_trailing_garbage_are_typed_errors() {
    let body = text(20_000);
    let corrupt = |coding| DecodeError::Coding {
        coding,
        problem: DecodeProblem::Corrupt,
    };
    // Plain text labelled gzip (a wrong Content-Encoding).
    assert_eq!(
        decode(&[Coding::Gzip], b"{\"plain\":true}", 4, LIMITS),
        Err(corrupt(Coding::Gzip))
    );
    // A flipped byte in the CRC.
    let mut wire = gzip(&body);
    let n = wire.len();
    wire[n - 6] ^= 0xff;
    assert_eq!(
        decode(&[Coding::Gzip], &wire, 100, LIMITS),
        Err(corrupt(Coding::Gzip))
    );
    // Garbage after a complete deflate / br stream.
    for (c, mut wire) in [
        (Coding::Deflate, zlib(&body)),
        (Coding::Brotli, brotli(&body)),
    ] {
        wire.extend_from_slice(b"junk");
        assert_eq!(decode(&[c], &wire, 100, LIMITS), Err(corrupt(c)), "{c:?}");
    }
    // Garbage after a gzip member is not a member.
    let mut wire = gzip(&body);
    wire.extend_from_slice(b"junk");
    assert_eq!(
        decode(&[Coding::Gzip], &wire, 100, LIMITS),
        Err(corrupt(Coding::Gzip))
    );
    assert_eq!(
        decode(&[Coding::Zstd], b"not zstd at all", 3, LIMITS),
        Err(corrupt(Coding::Zstd))
    );
}

/// A gzip bomb: 64 MiB of zeros in about 64 KB; decoding stops at the limit and never holds more than a piece
/// beyond it.
#[test]
fn gzip_bomb_stops_at_the_size_limit_with_bounded_memory() {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1024 * 1024];
    for _ in 0..64 {
        e.write_all(&zeros).unwrap();
    }
    let bomb = e.finish().unwrap();
    assert!(bomb.len() < 100_000, "{}", bomb.len());
    // No ratio limit: the size limit stops it.
    let limits = DecodeLimits {
        max_decoded_size: 8 * 1024 * 1024,
        max_ratio: 0,
    };
    let mut d = ContentDecoder::new(&[Coding::Gzip], limits).unwrap();
    let mut held = 0usize;
    let mut err = None;
    for part in bomb.chunks(16 * 1024) {
        let mut pieces = Vec::new();
        let r = d.feed(part, &mut pieces);
        held += pieces.iter().map(Bytes::len).sum::<usize>();
        if let Err(e) = r {
            err = Some(e);
            break;
        }
    }
    assert_eq!(
        err,
        Some(DecodeError::TooLarge {
            limit: Limit::DecodedSize,
            max: 8 * 1024 * 1024
        })
    );
    assert!(held <= 8 * 1024 * 1024, "{held}");
    // The default ratio limit stops it right after the first MiB.
    let mut d = ContentDecoder::new(&[Coding::Gzip], LIMITS).unwrap();
    let mut pieces = Vec::new();
    let err = d.feed(&bomb, &mut pieces).unwrap_err();
    assert_eq!(
        err,
        DecodeError::TooLarge {
            limit: Limit::DecompressionRatio,
            max: 100
        }
    );
    assert!(d.decoded() <= RATIO_GRACE + PIECE as u64, "{}", d.decoded());
    // The error sticks.
    assert_eq!(d.feed(b"", &mut pieces), Err(err));
}

#[test]
fn ratio_is_not_checked_before_a_mebibyte() {
    // 512 KiB of zeros compresses ~1000:1 and is still accepted.
    let body = vec![0u8; 512 * 1024];
    assert_eq!(
        decode(&[Coding::Gzip], &gzip(&body), 4096, LIMITS).unwrap(),
        body
    );
}

#[test]
fn a_zstd_frame_asking_for_a_huge_window_is_refused() {
    let body = text(10_000);
    let mut enc = ::zstd::stream::Encoder::new(Vec::new(), 3).unwrap();
    enc.set_parameter(::zstd::stream::raw::CParameter::WindowLog(27))
        .unwrap();
    enc.include_contentsize(false).unwrap();
    enc.write_all(&body).unwrap();
    let wire = enc.finish().unwrap();
    assert_eq!(
        decode(&[Coding::Zstd], &wire, 100, LIMITS),
        Err(DecodeError::Coding {
            coding: Coding::Zstd,
            problem: DecodeProblem::Corrupt
        })
    );
}
