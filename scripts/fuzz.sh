#!/usr/bin/env bash
# Fuzz the core's parsers and validators (targets in fuzz/src/lib.rs: h1_stream, chunked, sse, request,
# error_body). Two engines run the same targets and invariants:
#   - the stable harness (fuzz/src/bin/harness.rs): structured generation + mutation + arbitrary bytes,
#     deterministic per seed, no C++ toolchain needed;
#   - libFuzzer through cargo-fuzz (`--sanitizer none` works on the stable toolchain), coverage-guided.
#
#   scripts/fuzz.sh                    # CI: short bounded harness run (200,000 cases per target)
#   scripts/fuzz.sh long [CASES] [SEED]  # long harness run (default 20,000,000 cases per target)
#   scripts/fuzz.sh libfuzzer [SECONDS]  # cargo fuzz run, each target for SECONDS (default 60)
#
# A crash leaves its input in fuzz/artifacts/<target>/ and the script exits non-zero. Replay with
#   (cd fuzz && cargo run --release --no-default-features --features stable --bin harness -- replay FILE TARGET)
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
mode=${1:-ci}
harness() {
  cargo build --release --no-default-features --features stable --bin harness
  RUST_BACKTRACE=0 ./target/release/harness all "$1" "$2"
}
case "$mode" in
  ci) harness 200000 "${2:-$(date +%s)}" ;;
  long) harness "${2:-20000000}" "${3:-42}" ;;
  libfuzzer)
    command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
    secs=${2:-60}
    for t in h1_stream chunked sse request error_body; do
      mkdir -p "corpus/$t"
      cargo fuzz run --sanitizer none -O "$t" "corpus/$t" -- -max_total_time="$secs" -max_len=4096 2>&1 \
        | grep -E '^(#[0-9]+ +DONE|Done|==|SUMMARY|.*panicked)' || true
      if ls "artifacts/$t"/crash-* >/dev/null 2>&1; then echo "crash in $t"; exit 1; fi
    done
    ;;
  *) echo "usage: $0 [ci | long [CASES] [SEED] | libfuzzer [SECONDS]]" >&2; exit 2 ;;
esac
