#!/usr/bin/env bash
# The test command the README names: the whole workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace
