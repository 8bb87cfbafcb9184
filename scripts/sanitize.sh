#!/usr/bin/env bash
# The sanitizer leg: builds the C++ suite, the CLI and the libFuzzer harnesses with clang, AddressSanitizer and
# UndefinedBehaviorSanitizer (build-san/), runs the C++ suite and every example under them, then runs each
# fuzz harness for HEADROOM_FUZZ_SECONDS (default 60) from seeds made of the shipped files and tests/data, with
# dictionaries of their field names. Any sanitizer report, any fuzz finding, fails the script.
# Called by scripts/test.sh; on its own: ./scripts/sanitize.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SAN_DIR="${HEADROOM_SAN_BUILD_DIR:-$ROOT/build-san}"
SECONDS_EACH="${HEADROOM_FUZZ_SECONDS:-60}"
# shellcheck source=setup.sh
source "$ROOT/scripts/setup.sh"
install_debian_packages clang libclang-rt-14-dev

jobs="$(nproc 2>/dev/null || echo 2)"
if [ ! -f "$SAN_DIR/CMakeCache.txt" ]; then
    CC=clang CXX=clang++ cmake -S "$ROOT" -B "$SAN_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHEADROOM_CUDA=OFF \
        -DHEADROOM_SANITIZE=ON -DHEADROOM_FUZZ=ON >/dev/null
fi
log "building the sanitizer leg in $SAN_DIR (clang, ASan + UBSan, libFuzzer)"
if ! cmake --build "$SAN_DIR" -j"$jobs" --target headroom_tests headroom fuzz_config fuzz_profile fuzz_scenario fuzz_trace fuzz_bench_result fuzz_cluster fuzz_kernel_tables \
        >"$SAN_DIR/build.log" 2>&1; then
    grep -Ev '^\[ *[0-9]+%\]|^-- ' "$SAN_DIR/build.log" >&2
    log "sanitizer build failed"
    exit 1
fi

# Leaks are checked too (LeakSanitizer, no suppressions); any UB report aborts (-fno-sanitize-recover); a report
# makes the exit code non-zero.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

echo "== C++ tests under ASan + UBSan"
# Left out: a wall-clock test whose 0.6 s of real serving cannot reach a second turn at ASan's speed.
"$SAN_DIR/tests/headroom_tests" --gtest_brief=1 --gtest_filter=-MeasureServe.MultiTurnSessionsCarryTheirHistory

echo "== examples under ASan + UBSan"
for f in "$ROOT"/examples/*.yaml; do
    "$SAN_DIR/cli/headroom" simulate "$f" --json >/dev/null
    echo "  $(basename "$f"): ok"
done
"$SAN_DIR/cli/headroom" sweep "$ROOT/examples/chat.yaml" --concurrency 1,50,300 --json >/dev/null
echo "  sweep chat.yaml (3 points, counterfactuals): ok"

echo "== fuzzing each loader for ${SECONDS_EACH} s"
FUZZ="$SAN_DIR/fuzz"
"$ROOT/tests/fuzz/seeds.sh" "$ROOT" "$FUZZ"
pids=()
run_one() {
    local t=$1
    mkdir -p "$FUZZ/corpus/$t" "$FUZZ/findings/$t"
    (cd "$FUZZ/findings/$t" && "$SAN_DIR/tests/fuzz/fuzz_$t" "$FUZZ/corpus/$t" "$FUZZ/seeds/$t" -dict="$FUZZ/$t.dict" \
        -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -timeout=20 -print_final_stats=1 \
        >"$FUZZ/$t.log" 2>&1) && echo "  fuzz_$t: $(grep -E '^stat::number_of_executed_units' "$FUZZ/$t.log" | awk '{print $2}') runs, no finding" \
        || { echo "  fuzz_$t: FINDING (log: $FUZZ/$t.log)"; tail -n 40 "$FUZZ/$t.log"; return 1; }
}
status=0
for pair in "config profile" "scenario trace" "bench_result cluster" "kernel_tables"; do  # two at a time: CI has two cores
    pids=()
    for t in $pair; do run_one "$t" & pids+=($!); done
    for p in "${pids[@]}"; do wait "$p" || status=1; done
done
exit $status
