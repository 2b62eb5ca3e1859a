//! Streaming JSON: elements at a pointer come out one by one, the rest decodes normally, any chunking gives the
//! same result, and hostile documents stop at a bound.

use bytes::Bytes;
use quickcheck::{QuickCheck, TestResult};
use serde::Deserialize;

use super::{JsonArraySplitter, JsonStreamError};

const MIB: usize = 1024 * 1024;

fn split(
    doc: &[u8],
    pointer: &str,
    chunk: usize,
) -> Result<(Vec<Bytes>, Vec<u8>), JsonStreamError> {
    let mut s = JsonArraySplitter::new(pointer, MIB, MIB);
    let mut out = Vec::new();
    for part in doc.chunks(chunk.max(1)) {
        s.feed(part, &mut out)?;
    }
    Ok((out, s.finish()?))
}

#[derive(Debug, Deserialize, PartialEq)]
struct Provider {
    id: String,
    models: serde_json::Value,
}

#[derive(Debug, Deserialize, PartialEq)]
struct Rest {
    all: Vec<Provider>,
    default: std::collections::BTreeMap<String, String>,
    connected: Vec<String>,
}

const PROVIDERS: &str = r#" {"all": [ {"id":"a]\"[","models":{"x":[1,{"y":"}"}]}} ,
  {"id":"b","models":[]} ], "default": {"a":"m1"}, "connected": ["a"], "nested": {"all": [9]} } "#;

#[test]
fn json_stream_elements_at_a_pointer_and_the_rest_decode() {
    for chunk in [1, 2, 5, 1000] {
        let (els, rest) = split(PROVIDERS.as_bytes(), "/all", chunk).unwrap();
        let ps: Vec<Provider> = els
            .iter()
            .map(|e| serde_json::from_slice(e).unwrap())
            .collect();
        assert_eq!(ps.len(), 2);
        assert_eq!(ps[0].id, "a]\"[");
        assert_eq!(ps[1].id, "b");
        let rest: Rest = serde_json::from_slice(&rest).unwrap();
        assert!(rest.all.is_empty());
        assert_eq!(rest.default["a"], "m1");
        assert_eq!(rest.connected, ["a"]);
    }
}

#[test]
fn json_stream_root_array_and_nested_pointers() {
    let (els, rest) = split(br#"[1, "two", {"3":[3]}, null]"#, "", 3).unwrap();
    let texts: Vec<&[u8]> = els.iter().map(|b| &b[..]).collect();
    assert_eq!(texts, [&b"1"[..], b"\"two\"", b"{\"3\":[3]}", b"null"]);
    assert_eq!(rest, b"[]");
    let (els, _) = split(br#"{"a":{"b~/c":[[1],[2]]}}"#, "/a/b~0~1c", 1).unwrap();
    assert_eq!(els.len(), 2);
    let (els, _) = split(br#"{"a":[{"x":[7,8]}]}"#, "/a/0/x", 1).unwrap();
    assert_eq!(els, [Bytes::from_static(b"7"), Bytes::from_static(b"8")]);
    let (els, rest) = split(b"[]", "", 1).unwrap();
    assert!(els.is_empty());
    assert_eq!(rest, b"[]");
}

#[test]
fn json_stream_hostile_documents_are_typed_errors() {
    // An array that never closes: elements so far came out, then the end is an error.
    let mut s = JsonArraySplitter::new("", MIB, MIB);
    let mut out = Vec::new();
    s.feed(b"[1,2,3", &mut out).unwrap();
    assert_eq!(out.len(), 2);
    assert_eq!(s.finish(), Err(JsonStreamError::Unterminated));
    // One element of 100 MB stops at the element limit, holding no more than it.
    let max = 4 * MIB;
    let mut s = JsonArraySplitter::new("/all", max, MIB);
    s.feed(br#"{"all":["#, &mut out).unwrap();
    let filler = vec![b'7'; 64 * 1024];
    let mut err = None;
    for _ in 0..(100 * MIB / filler.len()) {
        if let Err(e) = s.feed(&filler, &mut out) {
            err = Some(e);
            break;
        }
    }
    assert_eq!(err, Some(JsonStreamError::ElementTooLarge { max }));
    assert!(s.held() <= max);
    // Wrong brackets, a pointer to a non-array, trailing bytes.
    assert!(matches!(
        split(b"[1}", "", 1),
        Err(JsonStreamError::Malformed { .. })
    ));
    assert_eq!(
        split(br#"{"all":{"x":1}}"#, "/all", 1).unwrap_err(),
        JsonStreamError::NotAnArray {
            pointer: "/all".into()
        }
    );
    assert_eq!(
        split(br#"{"other":[1]}"#, "/all", 1).unwrap_err(),
        JsonStreamError::NotAnArray {
            pointer: "/all".into()
        }
    );
    assert!(matches!(
        split(b"[1] x", "", 1),
        Err(JsonStreamError::Malformed { .. })
    ));
}

fn any_chunking_is_the_same(cuts: Vec<u8>) -> TestResult {
    let doc = PROVIDERS.as_bytes();
    let whole = split(doc, "/all", usize::MAX).unwrap();
    let mut s = JsonArraySplitter::new("/all", MIB, MIB);
    let mut out = Vec::new();
    let mut at = 0;
    for c in cuts {
        let end = (at + usize::from(c) % 17).min(doc.len());
        s.feed(&doc[at..end], &mut out).unwrap();
        at = end;
    }
    s.feed(&doc[at..], &mut out).unwrap();
    let rest = s.finish().unwrap();
    TestResult::from_bool((out, rest) == whole)
}

#[test]
fn prop_json_stream_any_chunking_gives_the_same_elements() {
    QuickCheck::new()
        .tests(300)
        .quickcheck(any_chunking_is_the_same as fn(Vec<u8>) -> TestResult);
}

fn never_panics(doc: Vec<u8>, pointer: u8) -> bool {
    let p = ["", "/all", "/0", "/a/b"][usize::from(pointer) % 4];
    let _ = split(&doc, p, 7);
    true
}

#[test]
fn prop_json_stream_arbitrary_bytes_never_panic() {
    QuickCheck::new()
        .tests(500)
        .quickcheck(never_panics as fn(Vec<u8>, u8) -> bool);
}
