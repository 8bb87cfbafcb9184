#!/usr/bin/env bash
# The executor's GPU run (issue 15), in one script: every result goes into the folder given as the first
# argument, and each step stops at its own time limit, so a failure in one step still leaves its log and the
# steps after it still run.
#
#   1. build with CUDA for the device's architecture (or check the carried build's), then the CUDA tests
#      (every kernel and the whole forward pass against the CPU reference);
#   2. bench/executor_targets.sh: batch-1 decode >= 85% of HBM bandwidth, 4096-token prefill >= 60% of bf16 peak;
#   3. bench/executor_vs_torch.py: PyTorch eager on the same shapes (where the device has PyTorch);
#   4. `headroom measure step --json`: decode batch 1, 8 and 64 at a 1,024-token context, a 4,096-token prefill;
#   5. `headroom validate examples/trace-conv.yaml` (30 s of the trace), then `validate --sweep` of chat over
#      four concurrencies.
#
# Usage: bench/gpu_validation.sh OUTDIR [STEP...]      (steps 1-5; all by default)
# Environment:
#   HEADROOM_GPU       GPU profile for predictions and peaks (default: from nvidia-smi, h200 or h100)
#   HEADROOM_PREBUILT  1: use build/ as it is (built elsewhere with CUDA and carried: scripts/gpu_bundle.sh)
#   CUDA_ARCH          architecture to build for (default 90: H100 and H200)
#   HEADROOM_GRID      0: only the issue's four measured steps (default 1: a wider grid too)
#   SWEEP              the sweep's concurrencies (default 1,16,64,128)
# Files written (at most eight, so that a device tool can return them all): summary.txt, 1_cuda_tests.log,
# 2_targets.log, 3_torch.log, 4_measure_step.jsonl, 4_measure_step.log, 5_validate.log, 5_validate.jsonl.
set -uo pipefail
if [[ $# -lt 1 || "$1" == "-h" || "$1" == "--help" ]]; then
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
    exit 2
fi
OUTDIR="$1"
shift
STEPS="${*:-1 2 3 4 5}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT" || exit 2
mkdir -p "$OUTDIR" || { echo "error: cannot create $OUTDIR" >&2; exit 2; }
OUTDIR="$(cd "$OUTDIR" && pwd)"
SUMMARY="$OUTDIR/summary.txt"
HEADROOM="$ROOT/build/cli/headroom"
MODEL=meta-llama/Llama-3.1-8B-Instruct

say() { echo "$*" | tee -a "$SUMMARY"; }

# run NAME LIMIT_S LOG CMD...: the command under `timeout`, its output appended to LOG, its status and time
# in the summary.
run() {
    local name="$1" limit="$2" log="$3"
    shift 3
    local t0=$SECONDS
    echo "\$ $*" >>"$log"
    timeout -k 5 "$limit" "$@" >>"$log" 2>&1
    local rc=$?
    local verdict="rc $rc"
    [[ $rc -eq 124 || $rc -eq 137 ]] && verdict="TIMED OUT after ${limit} s"
    say "  $name: $verdict, $((SECONDS - t0)) s"
    return $rc
}

has_step() { [[ " $STEPS " == *" $1 "* ]]; }

# --- the machine ---------------------------------------------------------------------------------------
{
    echo "date (UTC): $(date -u '+%Y-%m-%d %H:%M:%S')"
    echo "steps: $STEPS"
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv 2>&1
    nvcc --version 2>/dev/null | tail -2 || echo "nvcc: not on PATH"
    python3 -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda)' 2>&1 | tail -1
    uname -srm
    grep -m1 PRETTY_NAME /etc/os-release 2>/dev/null
} >>"$SUMMARY" 2>&1

# The shared libraries a carried build needs and the device's CUDA libraries.
if [[ -d "$ROOT/build/lib" ]]; then
    export LD_LIBRARY_PATH="$ROOT/build/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    if ! ldconfig -p | grep -q 'libstdc++.so.6 ' && [[ -d "$ROOT/build/libfb" ]]; then
        export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$ROOT/build/libfb"
    fi
fi
for lib in libcudart.so.13 libcublasLt.so.13 libcublas.so.13; do
    if ! ldconfig -p | grep -q "$lib"; then
        found=$(find /usr/local/cuda/lib64 /usr/local/cuda/targets /usr/local /opt -name "$lib" 2>/dev/null | head -1)
        [[ -n "$found" ]] && export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$(dirname "$found")"
    fi
done
echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}" >>"$SUMMARY"

GPU="${HEADROOM_GPU:-}"
if [[ -z "$GPU" ]]; then
    case "$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)" in
        *H200*) GPU=h200 ;;
        *H100*PCIe*) GPU=h100-pcie ;;
        *) GPU=h100 ;;
    esac
fi
say "GPU profile: $GPU"

# --- 1. build, CUDA tests ------------------------------------------------------------------------------
if has_step 1; then
    LOG="$OUTDIR/1_cuda_tests.log"
    say "step 1: build for sm_${CUDA_ARCH:-90}, CUDA tests"
    if [[ "${HEADROOM_PREBUILT:-0}" == 1 ]]; then
        say "  build: carried (HEADROOM_PREBUILT=1)"
    else
        run "configure" 120 "$LOG" cmake -S . -B build -DCMAKE_BUILD_TYPE=Release \
            -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCH:-90}" -DCMAKE_CUDA_COMPILER="$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)"
        run "build" 480 "$LOG" cmake --build build -j "$(nproc)" --target headroom headroom_tests
    fi
    if command -v cuobjdump >/dev/null; then
        echo "machine code in the CUDA module: $(cuobjdump --list-elf build/cli/libheadroom_cuda.so 2>&1 |
            grep -o 'sm_[0-9a-z]*' | sort -u | tr '\n' ' ')" | tee -a "$SUMMARY" >>"$LOG"
    fi
    ldd "$HEADROOM" build/cli/libheadroom_cuda.so build/tests/headroom_tests 2>&1 | grep 'not found' | tee -a "$SUMMARY"
    run "CUDA tests" 120 "$LOG" build/tests/headroom_tests --gtest_filter='Cuda*'
    grep -E '^\[  (PASSED|FAILED) |^\[  SKIPPED \] [0-9]' "$LOG" | tee -a "$SUMMARY" >/dev/null
fi

# --- 2. performance targets ----------------------------------------------------------------------------
if has_step 2; then
    say "step 2: executor targets"
    run "executor_targets.sh" 120 "$OUTDIR/2_targets.log" bench/executor_targets.sh --gpu "$GPU" "$HEADROOM"
    grep -E 'target' "$OUTDIR/2_targets.log" | tee -a "$SUMMARY" >/dev/null
fi

# --- 3. PyTorch eager ----------------------------------------------------------------------------------
if has_step 3; then
    say "step 3: against PyTorch eager"
    run "executor_vs_torch.py" 180 "$OUTDIR/3_torch.log" python3 bench/executor_vs_torch.py --gpu "$GPU" --headroom "$HEADROOM"
    grep -E 'target' "$OUTDIR/3_torch.log" | tee -a "$SUMMARY" >/dev/null
fi

# --- 4. measure step -----------------------------------------------------------------------------------
# The issue's four shapes, then (HEADROOM_GRID=1, the default) a wider grid for `headroom calibrate
# --measurements` and the kernel-table comparison: decode batch 16-256 at 1,024 tokens and 1-128 at 4,096
# (256 x 4,096 would not fit beside the weights), prefills of 512-8,192 tokens.
measure() {  # LABEL ARGS...
    local label="$1"
    shift
    run "$label" 60 "$OUTDIR/4_measure_step.log" \
        bash -c "'$HEADROOM' measure step -m $MODEL -g $GPU $* --json >>'$OUTDIR/4_measure_step.jsonl'"
}
if has_step 4; then
    say "step 4: measure step (--json)"
    for b in 1 8 64; do measure "decode batch $b, context 1024" --decode-batch $b --context 1024 --iterations 30; done
    measure "prefill 4096" --tokens 4096 --iterations 20
    if [[ "${HEADROOM_GRID:-1}" == 1 ]]; then
        for b in 16 128 256; do measure "decode batch $b, context 1024" --decode-batch $b --context 1024 --iterations 20; done
        for b in 1 8 32 128; do measure "decode batch $b, context 4096" --decode-batch $b --context 4096 --iterations 20; done
        for t in 512 1024 2048; do measure "prefill $t" --tokens $t --iterations 20; done
        measure "prefill 8192" --tokens 8192 --iterations 8
    fi
    python3 - "$OUTDIR/4_measure_step.jsonl" <<'PY' | tee -a "$SUMMARY"
import json, sys
for line in open(sys.argv[1]):
    j = json.loads(line)
    w = f"{j['kind']} {j['sequences']} seq x {j['tokens']} tokens, context {j['context']}"
    p50, pred = j["step_s"]["p50"], j["predicted_s"]
    print(f"  {w}: p50 {p50 * 1e3:.3f} ms, predicted {pred * 1e3:.3f} ms ({(pred / p50 - 1) * 100:+.1f}%)")
PY
fi

# --- 5. validate ---------------------------------------------------------------------------------------
# The single run replays the production conversation trace (single-turn requests, so it ends soon after its
# arrivals stop); chat's sessions run up to six turns with up to 20 s of thinking between them, so even a
# 30-second chat run takes minutes. The sweep is chat's, closed-loop.
if has_step 5; then
    say "step 5: validate"
    run "validate trace-conv (30 s of arrivals)" 120 "$OUTDIR/5_validate.log" \
        "$HEADROOM" validate examples/trace-conv.yaml --set gpu="$GPU" --duration 30
    run "validate --sweep 1,16,64,128 (20 s each)" 240 "$OUTDIR/5_validate.log" \
        bash -c "'$HEADROOM' validate examples/chat.yaml --set gpu=$GPU --sweep --concurrency ${SWEEP:-1,16,64,128} --duration 20 --json >>'$OUTDIR/5_validate.jsonl'"
fi
say "done at $(date -u '+%H:%M:%S') UTC"
