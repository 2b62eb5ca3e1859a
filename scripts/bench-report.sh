#!/usr/bin/env bash
# Turn the harness's JSON (target/plue-bench/results.json) and criterion's estimates (target/criterion) into
# benches/README.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cargo run --release -q -p plue-http-benches --bin bench-report -- \
    "${1:-target/plue-bench/results.json}" target/criterion benches/README.md
echo "wrote benches/README.md" >&2
