#!/usr/bin/env bash
# The main job. With no arguments: a saturation sweep of the built-in default (multi-turn chat with
# Llama-3.1-8B-Instruct on one H100 SXM; SLOs TTFT p95 2 s, TPOT p95 50 ms) from 1 to 400 concurrent
# users. It prints the table, the knee, an explanation per point and the counterfactuals, and writes the
# figure to headroom-saturation.png. With arguments: runs `headroom ARGS...`.
# Installs what is missing and builds first (scripts/setup.sh).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/setup.sh"
BIN="${HEADROOM_BUILD_DIR:-$ROOT/build}/cli/headroom"
if [ $# -gt 0 ]; then
    exec "$BIN" "$@"
fi
exec "$BIN" sweep --concurrency 1,2,5,10,20,40,60,80,120,160,200,300,400 --plot headroom-saturation.png
