#!/usr/bin/env bash
# Load-independent costs per sequential keep-alive GET, for each client: system calls (strace -f -c), context
# switches (perf stat, every thread of the client process), heap allocations (the benches' counting allocator)
# and, with PLUE_COUNTS_CALLGRIND=1, user-space instructions (valgrind --tool=callgrind).
#
#   scripts/bench-counts.sh [CLIENT…]        # default: plue-tokio plue-smol plue-mio hyper raw
#
# Each count is (count of an N2-request run − count of an N1-request run) ÷ (N2 − N1), so start-up and warm-up
# cancel out (PLUE_COUNTS_N1 / PLUE_COUNTS_N2, default 1000 / 3000). Needs the bench binary built
# (`cargo bench -p plue-http-benches --bench clients --no-run`) and starts its own nginx on PLUE_BENCH_PORT.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
n1=${PLUE_COUNTS_N1:-1000}
n2=${PLUE_COUNTS_N2:-3000}
clients=("$@")
[[ ${#clients[@]} -gt 0 ]] || clients=(plue-tokio plue-smol plue-mio hyper raw)
bin=$(ls -t target/release/deps/clients-* 2>/dev/null | grep -v '\.d$' | head -n1)
[[ -x $bin ]] || { echo "build first: cargo bench -p plue-http-benches --bench clients --no-run" >&2; exit 1; }
tmp=$(mktemp -d)
dir=$tmp/server
trap 'scripts/bench-server.sh stop "$dir"; rm -rf "$tmp"' EXIT
eval "$(scripts/bench-server.sh start "$dir")"
export PLUE_BENCH_ADDR PLUE_BENCH_DOCROOT

# Total system calls of one `--profile` run (every thread).
syscalls() {
    strace -f -c -o "$tmp/strace" "$bin" --profile "$1" seq_get "$2" >/dev/null 2>&1
    awk '$NF == "total" { print $(NF-2) }' "$tmp/strace"
}
# Context switches of one run (every thread), and the allocations per request it printed.
switches() {
    perf stat -x, -e context-switches -o "$tmp/perf" "$bin" --profile "$1" seq_get "$2" 2>"$tmp/err" >/dev/null
    awk -F, '/context-switches/ { print $1 }' "$tmp/perf"
}
allocs() {
    sed -n 's/.*allocs: \([0-9.]*\).*/\1/p' "$tmp/err" | tail -n1
}
instructions() {
    valgrind --tool=callgrind --callgrind-out-file="$tmp/cg" "$bin" --profile "$1" seq_get "$2" >/dev/null 2>&1
    awk '/^totals:/ { print $2 }' "$tmp/cg"
}
per() { awk -v a="$1" -v b="$2" -v n="$((n2 - n1))" 'BEGIN { printf "%.2f", (b - a) / n }'; }

printf '| client | syscalls/GET | context switches/GET | allocations/GET |%s\n' \
    "$([[ ${PLUE_COUNTS_CALLGRIND:-} == 1 ]] && echo ' instructions/GET |')"
printf '|---|--:|--:|--:|%s\n' "$([[ ${PLUE_COUNTS_CALLGRIND:-} == 1 ]] && echo '--:|')"
for c in "${clients[@]}"; do
    s=$(per "$(syscalls "$c" "$n1")" "$(syscalls "$c" "$n2")")
    w1=$(switches "$c" "$n1")
    w2=$(switches "$c" "$n2")
    a=$(allocs)
    w=$(per "$w1" "$w2")
    extra=
    if [[ ${PLUE_COUNTS_CALLGRIND:-} == 1 ]]; then
        extra=" $(per "$(instructions "$c" "$n1")" "$(instructions "$c" "$n2")" | cut -d. -f1) |"
    fi
    printf '| %s | %s | %s | %s |%s\n' "$c" "$s" "$w" "${a:-–}" "$extra"
done
