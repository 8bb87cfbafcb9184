#!/usr/bin/env bash
# Every test: installs what is missing and builds (scripts/setup.sh; Chromium for the HTML report's test), then
# runs the C++ suites (ctest), the Python and CLI suites (pytest) and the sanitizer leg (scripts/sanitize.sh:
# ASan + UBSan, fuzzing; skip it with HEADROOM_SKIP_SANITIZE=1). Exits non-zero if any test fails.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${HEADROOM_BUILD_DIR:-$ROOT/build}"
"$ROOT/scripts/setup.sh"
# shellcheck source=setup.sh
source "$ROOT/scripts/setup.sh"
install_debian_packages chromium  # the HTML report's test renders it headless
echo "== C++ tests (ctest)"
ctest --test-dir "$BUILD_DIR" -j"$(nproc 2>/dev/null || echo 2)" --output-on-failure
echo "== Python and CLI tests (pytest)"
HEADROOM_BIN="$BUILD_DIR/cli/headroom" "$ROOT/.venv/bin/python" -m pytest -q "$ROOT/tests"
if [ "${HEADROOM_SKIP_SANITIZE:-0}" != "1" ]; then
    echo "== sanitizer leg (scripts/sanitize.sh)"
    "$ROOT/scripts/sanitize.sh"
fi
