#!/usr/bin/env bash
# Line coverage of the core, the driver and the OpenCode crate, measured with cargo-llvm-cov over the workspace's
# tests (unit tests, the simulation, the conformance suite on tokio, smol and mio, the real-server tests). Offline,
# not in CI (it rebuilds everything instrumented: ~10 GB in target/llvm-cov-target and tens of minutes).
#
#   scripts/coverage.sh                 # the whole workspace's tests
#   scripts/coverage.sh -p plue-http-core   # only one package's tests (quicker, lower figures)
#
# The LLVM tools: rustup's llvm-tools component cannot be installed here (no network beyond the registries), but
# Debian's llvm-19 reads this rustc's (LLVM 22) profiles, so the script installs it and points cargo-llvm-cov at
# it. Test files (`tests.rs`, `*_tests.rs`, `props.rs`) are not counted; the generated OpenCode code
# (`opencode/src/generated/`) is reported on its own line and not counted in the total.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v llvm-cov-19 >/dev/null; then
    apt-get install -y --no-install-recommends llvm-19 >/dev/null 2>&1 ||
        { apt-get update >/dev/null && apt-get install -y --no-install-recommends llvm-19 >/dev/null; }
fi
command -v cargo-llvm-cov >/dev/null || cargo install cargo-llvm-cov --locked
export LLVM_COV=llvm-cov-19 LLVM_PROFDATA=llvm-profdata-19
out=target/coverage
mkdir -p "$out"
bash .ci/install-opencode.sh
bash scripts/install-deps.sh nginx tinyproxy microsocks
args=("$@")
[ ${#args[@]} -eq 0 ] && args=(--workspace --exclude plue-http-benches --exclude xtask)
# Tests that time real servers get more room under instrumentation; failures are reported but the figure is
# still printed (a coverage run is not the test run).
cargo llvm-cov clean --workspace >/dev/null 2>&1 || true
cargo llvm-cov --no-report "${args[@]}" --no-fail-fast >"$out/tests.log" 2>&1 ||
    echo "coverage: some tests failed under instrumentation (see $out/tests.log)" >&2
# The report needs the same package selection, or it ignores every workspace member but the root package.
cargo llvm-cov report "${args[@]}" --json --summary-only --output-path "$out/summary.json" >/dev/null
python3 - "$out/summary.json" <<'PY'
import json, sys, collections, re
data = json.load(open(sys.argv[1]))["data"][0]["files"]
test_file = re.compile(r"(^|/)(tests|props|[a-z_]+_tests)\.rs$")
groups = collections.OrderedDict((k, [0, 0]) for k in ("core", "driver", "opencode"))
mods = collections.OrderedDict()
generated = [0, 0]
for f in sorted(data, key=lambda f: f["filename"]):
    name = f["filename"]
    lines = f["summary"]["lines"]
    c, t = lines["covered"], lines["count"]
    for crate in groups:
        key = f"/{crate}/src/"
        i = name.find(key)
        if i < 0 or "/target/" in name:
            continue
        rel = name[i + len(key):]
        if test_file.search(rel):
            break
        if crate == "opencode" and rel.startswith("generated/"):
            generated[0] += c; generated[1] += t
            break
        groups[crate][0] += c; groups[crate][1] += t
        mod = f"{crate}/{rel.split('/')[0].removesuffix('.rs')}"
        m = mods.setdefault(mod, [0, 0]); m[0] += c; m[1] += t
        break
pct = lambda c, t: 100 * c / max(t, 1)
print("| module | lines covered | lines | % |")
print("|---|---:|---:|---:|")
for mod, (c, t) in mods.items():
    if t:
        print(f"| {mod} | {c} | {t} | {pct(c, t):.1f} |")
for crate, (c, t) in groups.items():
    print(f"| **{crate}** | {c} | {t} | **{pct(c, t):.1f}** |")
tc = sum(c for c, _ in groups.values()); tt = sum(t for _, t in groups.values())
print(f"| **total (core + driver + opencode)** | {tc} | {tt} | **{pct(tc, tt):.1f}** |")
print(f"| opencode/src/generated (not counted) | {generated[0]} | {generated[1]} | {pct(*generated):.1f} |")
PY
