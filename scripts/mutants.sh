#!/usr/bin/env bash
# Mutation testing of the core's protocol decisions with cargo-mutants (offline, not in CI: hours on 2 cores).
#
#   scripts/mutants.sh                     # every module, one shard after the other
#   scripts/mutants.sh h1 sse              # only these modules (h1 sse retry pool client)
#   SHARD=0/4 scripts/mutants.sh client    # one shard of a module (run k = 0..n-1, same n, to cover it)
#   LIST=1 scripts/mutants.sh retry        # list the mutants, build nothing
#
# Mutants are made in plue-http-core only; they are tested by the core's own unit tests and properties and by the
# suites that live in other packages: the deterministic simulation (`tests/tests/sim.rs`, 10,000 seeds) and the
# conformance suite (`tests/tests/conformance.rs`, on the simulated network and every runtime). cargo-nextest runs
# them with one filter expression, so a mutant counts as caught when any of those tests fails.
# Results go to target/mutants/<module>[-shard]/mutants.out/ (caught.txt, missed.txt, timeout.txt, unviable.txt);
# `scripts/mutants.sh` prints the caught share of viable mutants (caught / (caught + missed + timeout)) per module.
# docs/mutants.md records the last full run and explains every survivor.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-mutants >/dev/null || cargo install cargo-mutants --locked
command -v cargo-nextest >/dev/null || cargo install cargo-nextest --locked
modules=("$@")
[ ${#modules[@]} -eq 0 ] && modules=(h1 sse retry pool client)
filter='package(plue-http-core) | (package(plue-http-tests) & (binary(sim) | binary(conformance)))'
for module in "${modules[@]}"; do
    case $module in
        h1 | sse | client) files=(--file "core/src/$module/**") ;;
        retry) files=(--file core/src/retry.rs --file "core/src/retry/**") ;;
        pool) files=(--file core/src/pool.rs) ;;
        *) echo "mutants: unknown module $module (h1 sse retry pool client)" >&2; exit 2 ;;
    esac
    # Test code is not mutated: a mutant in a test proves nothing about the protocol.
    excludes=(--exclude "**/*tests.rs" --exclude "**/props.rs")
    out=target/mutants/$module${SHARD:+-${SHARD/\//of}}
    mkdir -p "$out"
    if [ -n "${LIST:-}" ]; then
        cargo mutants -p plue-http-core "${files[@]}" "${excludes[@]}" ${SHARD:+--shard "$SHARD"} --list
        continue
    fi
    cargo mutants -p plue-http-core "${files[@]}" "${excludes[@]}" ${SHARD:+--shard "$SHARD"} \
        --test-tool nextest --test-package plue-http-core --test-package plue-http-tests --output "$out" --timeout-multiplier 3 --no-shuffle \
        -- -E "$filter" >"$out/run.log" 2>&1 || true
    dir=$out/mutants.out
    count() { [ -f "$dir/$1.txt" ] && wc -l <"$dir/$1.txt" || echo 0; }
    caught=$(count caught) missed=$(count missed) timeout=$(count timeout) unviable=$(count unviable)
    viable=$((caught + missed + timeout))
    pct=$(python3 -c "print(f'{100*$caught/max($viable,1):.1f}')")
    echo "$module${SHARD:+ shard $SHARD}: caught $caught, missed $missed, timeout $timeout, unviable $unviable — $pct % of viable caught"
    [ "$missed" -gt 0 ] && sed 's/^/  missed: /' "$dir/missed.txt"
done
