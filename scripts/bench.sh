#!/usr/bin/env bash
# The full benchmark run: server process up (nginx, or the bundled server), the client harness (interleaved
# rounds, client CPU time per request), the SSE decoder benches, then the report in benches/README.md.
#
#   scripts/bench.sh              # PLUE_BENCH_ROUNDS (5), PLUE_BENCH_SCALE (1), PLUE_BENCH_RSS_FULL=1 (1M requests)
#   PLUE_BENCH_CLIENTS=raw,plue-tokio,hyper scripts/bench.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
dir=$root/target/plue-bench/server
trap 'scripts/bench-server.sh stop "$dir"' EXIT
eval "$(scripts/bench-server.sh start "$dir")"
export PLUE_BENCH_ADDR PLUE_BENCH_SERVER PLUE_BENCH_DOCROOT
echo "server: $PLUE_BENCH_SERVER at $PLUE_BENCH_ADDR" >&2
cargo bench -p plue-http-benches --bench clients
if [[ ${PLUE_BENCH_SKIP_CRITERION:-} != 1 ]]; then
    cargo bench -p plue-http-benches --bench sse -- --noplot 2>&1 | tail -n 40 || true
    [[ -f benches/benches/codec.rs ]] && { cargo bench -p plue-http-benches --bench codec -- --noplot 2>&1 | tail -n 40 || true; }
fi
scripts/bench-report.sh
# The numbers behind the page, committed beside it.
cp target/plue-bench/results.json benches/results.json
