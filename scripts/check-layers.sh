#!/usr/bin/env bash
# The layer guard: the core stays sans-IO, crates depend only downwards, no file-level import cycles.
# The rules and the layer table are in scripts/check_layers.py.
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 scripts/check_layers.py
