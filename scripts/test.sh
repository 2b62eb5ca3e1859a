#!/usr/bin/env bash
# The project's test command (the README names it): every crate's tests, the 10,000-seed simulation, the proof
# that the simulation's checker catches a replayed POST, and one quick pass over every benchmark.
#
# The real-OpenCode tests install opencode-linux-x64@1.18.34 from npm into target/opencode on demand (under a
# lock); a missing npm is a test failure, never a skip.
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/install-opencode.sh
# nginx terminates TLS in front of the real OpenCode server (tests/src/nginx.rs).
bash scripts/install-deps.sh nginx
cargo test --workspace
cargo test -p plue-http-tests --features fault --test sim sim_checker_catches_replayed_post
cargo test -p plue-http-benches --benches
