#!/usr/bin/env bash
# The memory soak (CI runs `scripts/soak.sh 180 60`; the 30-minute run is by hand): requests, an event stream
# and server kills against the real OpenCode server through the blocking (mio) client, sampling RSS, live heap
# (a counting allocator), descriptors, threads and sockets every 5 s. Checks the plateau (see
# tests/tests/soak_memory.rs) and draws the curve.
#
#   scripts/soak.sh [SECONDS=1800] [KILL_EVERY=60]
#
# Writes target/soak.csv, target/soak.log and target/soak.png (python3 + matplotlib; else an ASCII chart).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-1800}
kill_every=${2:-60}
bash .ci/install-opencode.sh
PLUE_SOAK_MEMORY=1 PLUE_SOAK_SECS="$secs" PLUE_SOAK_KILL_SECS="$kill_every" PLUE_SOAK_CSV="$PWD/target/soak.csv" \
  cargo test -p plue-http-tests --test soak_memory -- --nocapture 2>&1 | tee target/soak.log
python3 scripts/soak_plot.py target/soak.csv target/soak.png
