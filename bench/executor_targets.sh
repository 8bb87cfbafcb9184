#!/usr/bin/env bash
# The executor's performance targets (issue 5), measured with `headroom measure step` on a lent GPU:
#   - batch-1 decode of Llama-3.1-8B at bf16 reaches >= 85% of the HBM bandwidth bound;
#   - a 4096-token prefill reaches >= 60% of the dense bf16 peak.
# Achieved = the cost model's bytes (or FLOPs) of the step / the measured p50 step time; the peaks come from
# the GPU profile (--gpu, default h100). Prints the numbers and a verdict; exits 3 without a GPU.
# Usage: bench/executor_targets.sh [--gpu h100|h200] [path/to/headroom]
set -euo pipefail
GPU=h100
if [[ "${1:-}" == "--gpu" ]]; then GPU="$2"; shift 2; fi
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
HEADROOM="${1:-$ROOT/build/cli/headroom}"
MODEL=meta-llama/Llama-3.1-8B-Instruct

decode=$("$HEADROOM" measure step -m "$MODEL" -g "$GPU" --decode-batch 1 --context 512 --iterations 50 --json)
prefill=$("$HEADROOM" measure step -m "$MODEL" -g "$GPU" --tokens 4096 --iterations 20 --json)

python3 - "$decode" "$prefill" <<'PY'
import json, sys
d, p = json.loads(sys.argv[1]), json.loads(sys.argv[2])
bw = d["achieved_gb_per_s"] / d["peak_gb_per_s"]
fl = p["achieved_tflops"] / p["peak_tflops"]
print(f"device: {d['device']['name']}, driver API {d['device']['driver_api']}, CUDA runtime {d['device']['cuda_runtime']}")
print(f"decode  batch 1, context 512: p50 {d['step_s']['p50']*1e3:.3f} ms, {d['achieved_gb_per_s']:.0f} GB/s = "
      f"{bw:.1%} of {d['peak_gb_per_s']:.0f} GB/s (target 85%: {'met' if bw >= 0.85 else 'NOT met'}); "
      f"CUDA graph {d['cuda_graphs']}; predicted {d['predicted_s']*1e3:.3f} ms")
print(f"prefill 4096 tokens: p50 {p['step_s']['p50']*1e3:.2f} ms, {p['achieved_tflops']:.0f} TFLOP/s = "
      f"{fl:.1%} of {p['peak_tflops']:.0f} TFLOP/s (target 60%: {'met' if fl >= 0.60 else 'NOT met'}); "
      f"predicted {p['predicted_s']*1e3:.2f} ms")
for name, j in (("decode", d), ("prefill", p)):
    print(f"\n{name} per op (profiled, ms):  measured  predicted")
    for o in j["ops"]:
        print(f"  {o['name']:<22} {o['measured_s']*1e3:9.3f} {o['predicted_s']*1e3:10.3f}")
PY
