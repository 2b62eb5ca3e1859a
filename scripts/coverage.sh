#!/usr/bin/env bash
# Line coverage of the core (plue-http-core, its unit tests and quickcheck properties) with cargo-tarpaulin,
# which works on the stable toolchain here (the LLVM tools of this rustc cannot be installed; the system's
# llvm-14 cannot read its profiles). Prints a per-module table; the raw report goes to target/coverage/.
#
#   scripts/coverage.sh            # core, default features
#   FEATURES=sim scripts/coverage.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-tarpaulin >/dev/null || cargo install cargo-tarpaulin --locked
out=target/coverage
mkdir -p "$out"
cargo tarpaulin -p plue-http-core --lib --tests ${FEATURES:+--features "$FEATURES"} \
  --skip-clean --target-dir target/tarpaulin --timeout 900 \
  --exclude-files 'sim/src/*' --exclude-files 'driver/src/*' \
  --exclude-files '*tests.rs' --exclude-files '*props.rs' --exclude-files 'tests/*' --exclude-files 'runtime-*' \
  --exclude-files 'cli/*' --exclude-files 'benches/*' --exclude-files 'fuzz/*' --exclude-files 'src/*' \
  --out Json --output-dir "$out" "$@" >"$out/tarpaulin.log" 2>&1 || { tail -40 "$out/tarpaulin.log"; exit 1; }
python3 - "$out/tarpaulin-report.json" <<'PY'
import json, sys, collections
rep = json.load(open(sys.argv[1]))
mods = collections.OrderedDict()
for f in sorted(rep["files"], key=lambda f: "/".join(f["path"])):
    path = "/".join(f["path"])
    i = path.find("core/src/")
    if i < 0:
        continue
    rel = path[i + len("core/src/"):]
    mod = rel.split("/")[0].removesuffix(".rs")
    c, t = f["covered"], f["coverable"]
    m = mods.setdefault(mod, [0, 0])
    m[0] += c; m[1] += t
tc = sum(c for c, _ in mods.values()); tt = sum(t for _, t in mods.values())
print("| module | lines covered | coverable | % |")
print("|---|---:|---:|---:|")
for mod, (c, t) in mods.items():
    if t == 0:
        continue
    print(f"| {mod} | {c} | {t} | {100*c/max(t,1):.1f} |")
print(f"| **total** | {tc} | {tt} | **{100*tc/max(tt,1):.1f}** |")
PY
