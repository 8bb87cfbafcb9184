#!/usr/bin/env bash
# The main job. With no arguments: the KV-cache plan of the built-in default (Llama-3.1-8B-Instruct on one
# H100 SXM, bf16, 8k-token context, 64 concurrent sequences). With arguments: runs `headroom ARGS...`.
# Installs what is missing and builds first (scripts/setup.sh).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/setup.sh"
BIN="${HEADROOM_BUILD_DIR:-$ROOT/build}/cli/headroom"
if [ $# -gt 0 ]; then
    exec "$BIN" "$@"
fi
exec "$BIN" kv --model meta-llama/Llama-3.1-8B-Instruct --gpu h100-sxm --context 8192 --concurrency 64
