#!/usr/bin/env bash
# The full benchmark run, one command: server process up (nginx, or the bundled server), `cargo bench -p
# plue-http-benches` (the client harness in interleaved rounds, then the criterion benches), then the report
# binary writes benches/README.md.
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
if [[ ${PLUE_BENCH_SKIP_CRITERION:-} == 1 ]]; then
    cargo bench -p plue-http-benches --bench clients
else
    # Every bench of the crate: the client harness (CPU, allocations, context switches, system calls, memory)
    # and the criterion benches (SSE decoders, codec, machine).
    cargo bench -p plue-http-benches
fi
scripts/bench-report.sh
# The numbers behind the page, committed beside it.
cp target/plue-bench/results.json benches/results.json
