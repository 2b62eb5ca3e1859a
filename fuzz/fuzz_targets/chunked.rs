#![no_main]
//! libFuzzer entry point; the target and its invariants live in `plue_http_fuzz::chunked`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| plue_http_fuzz::chunked(data));
