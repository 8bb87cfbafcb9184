#!/usr/bin/env python3
"""What headroom's KV planner keeps out of the KV cache, against what vLLM logged when it started.

vLLM 0.19.0 on H100 SXM 80GB (gpu_memory_utilization 0.95, vLLM's defaults of 8,192 batched tokens and 1,024
sequences) logs, per GPU, the weights it loaded, the peak activation of its profile run, the non-torch memory that
run added, its estimate of the CUDA graphs' pool and the KV cache it then allocated ("Free memory on device ...
Actual usage is X GiB for weight, Y GiB for peak activation, Z GiB for non-torch memory ...", "CUDA graph pool
memory: ... (estimated)", "Available KV cache memory"). The runs below are the llm-d capacity planner's accuracy
sweep (github.com/llm-d-incubation/llm-d-planner, accuracy/results/v0.19.0: the logs, and accuracy_report.md for
the runs whose logs are not published, where the activation is the planner's per-architecture constant divided
by one plus its reported error). headroom's planner is run on the same model, GPU, TP and utilisation, and each
part is printed beside the logged one.

vLLM 0.19 sized the KV cache as budget - weights - peak activation - non-torch; since 0.21 it also subtracts the
CUDA graphs' estimated pool (VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS, on by default), as headroom does. The KV
column compares like with like: headroom's KV budget plus its CUDA-graph term against the logged KV cache.

Three constants of the planner were fitted to these logs (core/src/kv_planner.cpp): the sampler's fp32 copies and
the profile run's other buffers (on the nine dense models; --loo prints each model's peak predicted from a fit
without it) and the non-torch memory of one GPU and of a TP group. The MoE runs are not in that fit: their fused
MoE workspace is computed from vLLM's workspace shapes, so their peaks are a held-out check.

Usage: .venv/bin/python bench/kv_memory_check.py [--json] [--loo]   (./scripts/setup.sh installs the package)"""
import json
import statistics
import sys

import headroom

GIB = 1024.0**3
LOGS = "llm-d-incubation/llm-d-planner accuracy/results/v0.19.0/logs/"
REPORT = "llm-d-incubation/llm-d-planner accuracy/results/v0.19.0/accuracy_report.md"

# model, headroom config, weights, TP, utilisation, logged: weights, peak activation, non-torch, CUDA-graph
# estimate, KV cache (GiB; None where not logged), source
RUNS = [
    ("Llama-3.1-8B-Instruct", "meta-llama/Llama-3.1-8B-Instruct", "auto", 1, 0.95, 14.99, 1.89, 0.25, 0.84, 58.11,
     LOGS + "meta-llama-llama-3-1-8b--h100-80gb--tp1pp1dp1--16384.log"),
    ("Llama-3.1-8B-Instruct", "meta-llama/Llama-3.1-8B-Instruct", "auto", 2, 0.95, 7.51, 1.89, 2.07, None, None,
     REPORT),
    ("Llama-3.1-8B-Instruct", "meta-llama/Llama-3.1-8B-Instruct", "auto", 4, 0.95, 3.77, 1.89, 2.13, None, None,
     REPORT),
    ("Qwen2.5-7B-Instruct", "Qwen/Qwen2.5-7B-Instruct", "auto", 1, 0.95, 14.25, 2.21, 0.24, None, 58.53, REPORT),
    ("Qwen2.5-7B-Instruct", "Qwen/Qwen2.5-7B-Instruct", "auto", 2, 0.95, 7.12, 2.21, 2.06, None, None, REPORT),
    ("Qwen2.5-7B-Instruct", "Qwen/Qwen2.5-7B-Instruct", "auto", 4, 0.95, 3.55, 2.21, 2.13, None, None, REPORT),
    # CodeLlama-7B is Llama-2-7B's shape with 32,016 tokens of vocabulary for 32,000 (0.05% of the sampler term)
    ("CodeLlama-7b-hf (as Llama-2-7b)", "meta-llama/Llama-2-7b-hf", "auto", 1, 0.95, 12.56, 0.77, 0.25, 0.84, 61.66,
     LOGS + "codellama-codellama-7b-h--h100-80gb--tp1pp1dp1--8192.log"),
    ("gemma-2-9b-it", "google/gemma-2-9b", "auto", 1, 0.95, 17.22, 3.65, 0.25, 0.84, 54.12,
     LOGS + "google-gemma-2-9b-it--h100-80gb--tp1pp1dp1--8192.log"),
    ("phi-2", "microsoft/phi-2", "auto", 1, 0.95, 5.19, 0.79, 0.24, 0.55, 69.0,
     LOGS + "microsoft-phi-2--h100-80gb--tp1pp1dp1--2048.log"),
    ("Qwen3-8B", "Qwen/Qwen3-8B", "auto", 1, 0.95, None, 5.6 / 2.5339, 0.15 / 0.6, None, None, REPORT),
    ("gemma-2-27b-it", "google/gemma-2-27b", "auto", 1, 0.95, None, 5.5 / 1.5027, 0.15 / 0.5769, None, None, REPORT),
    ("Llama-3.3-70B-Instruct-fp8-dynamic", "meta-llama/Llama-3.3-70B-Instruct", "fp8", 2, 0.95, None, 4.8 / 2.449,
     0.6 / 0.286, None, None, REPORT),
    ("Llama-3.3-70B-Instruct-fp8-dynamic", "meta-llama/Llama-3.3-70B-Instruct", "fp8", 4, 0.95, None, 4.8 / 2.437,
     0.6 / 0.271, None, None, REPORT),
    # MoE: held out of the fit
    ("Qwen1.5-MoE-A2.7B", "Qwen/Qwen1.5-MoE-A2.7B", "auto", 1, 0.95, 26.67, 2.47, 0.25, 0.82, 45.83,
     LOGS + "qwen-qwen1-5-moe-a2-7b--h100-80gb--tp1pp1dp1--8192.log"),
    ("Mixtral-8x7B-Instruct-v0.1", "mistralai/Mixtral-8x7B-v0.1", "auto", 2, 0.95, None, 8.0 / 6.6116, 0.6 / 0.29,
     None, None, REPORT),
    ("DeepSeek-V2-Lite-Chat", "deepseek-ai/DeepSeek-V2-Lite", "auto", 1, 0.95, None, 8.0 / 4.1451, 0.15 / 0.5769,
     None, None, REPORT),
    ("gpt-oss-20b", "openai/gpt-oss-20b", "auto", 2, 0.90, None, 8.0 / 2.7875, 0.6 / 0.29, None, None, REPORT),
]


def predict(config, weights, tp, util):
    m = headroom.load_model(config)
    plan = headroom.kv_plan(m, headroom.load_gpu("h100-sxm"), tp=tp, weights_dtype=weights,
                            gpu_memory_utilization=util, max_model_len=min(8192, m.max_position_embeddings))
    r = plan.reserve
    return {"moe": m.is_moe,
            "weights": plan.weight_bytes / GIB, "peak_activation": r["peak_activation_bytes"] / GIB,
            "forward": r["activation_bytes"] / GIB, "sampler": r["logits_bytes"] / GIB,
            # one fp32 copy of the sampler's logits: 1,024 sequences x the vocabulary x 4 B
            "logits_copy": 1024 * m.vocab_size * 4 / GIB,
            "moe_workspace": r["moe_workspace_bytes"] / GIB, "base": r["base_bytes"] / GIB,
            "non_torch": r["non_torch_bytes"] / GIB, "cuda_graphs": r["cuda_graph_bytes"] / GIB,
            # vLLM 0.19's KV cache: without the CUDA graphs' estimate
            "kv_vllm_0_19": (plan.kv_budget_bytes + r["cuda_graph_bytes"]) / GIB, "kv": plan.kv_budget_bytes / GIB}


def loo_peaks(rows):
    """Each dense model's peak activation from the sampler copies and buffers fitted without that model: the
    same least-absolute-error fit the planner's constants came from (the copies on a 0.001 grid, the buffers
    the median residual)."""
    dense = [r for r in rows if not r["pred"]["moe"]]

    def fit(sel):
        best = None
        for i in range(2000, 5000):
            k = i / 1000
            pred = [max(r["pred"]["forward"], k * r["pred"]["logits_copy"]) for r in sel]
            c = statistics.median(r["logged"]["peak_activation"] - p for r, p in zip(sel, pred))
            err = sum(abs(p + c - r["logged"]["peak_activation"]) for r, p in zip(sel, pred))
            if best is None or err < best[0]:
                best = (err, k, c)
        return best[1], best[2]

    out = []
    for name in dict.fromkeys(r["model"] for r in dense):
        k, c = fit([r for r in dense if r["model"] != name])
        for r in dense:
            if r["model"] == name:
                p = r["pred"]
                peak = max(p["forward"], k * p["logits_copy"]) + c
                out.append((name, r["tp"], peak, r["logged"]["peak_activation"], k, c))
    return out


def main(argv):
    rows = []
    for name, config, weights, tp, util, w, a, nt, cg, kv, source in RUNS:
        rows.append({"model": name, "config": config, "tp": tp, "gpu_memory_utilization": util, "source": source,
                     "logged": {"weights": w, "peak_activation": a, "non_torch": nt, "cuda_graphs_estimate": cg,
                                "kv_cache": kv if kv is not None else (
                                    util * 79.19 - w - a - nt if w is not None else None)},
                     "kv_is_sum_of_logged_parts": kv is None and w is not None,
                     "pred": predict(config, weights, tp, util)})
    if "--json" in argv:
        for r in rows:
            print(json.dumps(r))
        return 0
    print("vLLM 0.19.0 on H100 SXM 80GB, 8,192 batched tokens, 1,024 sequences: logged / headroom, GiB per GPU")
    print(f"{'model':<36} {'TP':>2} | {'weights':>13} | {'peak activation':>15} | {'non-torch':>11} | "
          f"{'graphs est.':>11} | {'KV cache (0.19)':>15} {'error':>6}")
    fmt = lambda x: "   -" if x is None else f"{x:5.2f}"
    errs = {"weights": [], "peak_activation": [], "non_torch": [], "kv": []}
    for r in rows:
        lg, p = r["logged"], r["pred"]
        kv_err = None
        if lg["kv_cache"] is not None:
            kv_err = p["kv_vllm_0_19"] / lg["kv_cache"] - 1
            errs["kv"].append(kv_err)
        for k in ("weights", "peak_activation", "non_torch"):
            if lg[k] is not None:
                errs[k].append(p[k] - lg[k])
        star = "*" if r["kv_is_sum_of_logged_parts"] else " "
        model = r["model"] + (" (MoE)" if p["moe"] else "")
        print(f"{model:<36} {r['tp']:>2} | {fmt(lg['weights'])} / {p['weights']:5.2f} | "
              f"{lg['peak_activation']:5.2f} / {p['peak_activation']:5.2f}   | "
              f"{lg['non_torch']:4.2f} / {p['non_torch']:4.2f} | "
              f"{fmt(lg['cuda_graphs_estimate'])} / {p['cuda_graphs']:4.2f} | "
              f"{fmt(lg['kv_cache'])}{star}/ {p['kv_vllm_0_19']:5.2f}"
              f" {'' if kv_err is None else f'{kv_err * 100:+5.1f}%'}")
    print("(* the sum of the logged parts: 0.95 x 79.19 GiB less them; the report gives the KV cache only as an "
          "error)")
    print("\nheadroom - logged, GiB: median |error| / largest |error| (runs)")
    for k in ("weights", "peak_activation", "non_torch"):
        e = [abs(x) for x in errs[k]]
        print(f"  {k:<16} {statistics.median(e):.3f} / {max(e):.3f} ({len(e)})")
    e = [abs(x) for x in errs["kv"]]
    print(f"  {'KV cache':<16} {statistics.median(e) * 100:.2f}% / {max(e) * 100:.2f}% ({len(e)})")
    if "--loo" in argv:
        print("\nPeak activation of each dense model from the two constants fitted without it (GiB):")
        for name, tp, pred, logged, k, c in loo_peaks(rows):
            print(f"  {name:<36} TP {tp}: {pred:5.2f} against {logged:5.2f} ({pred - logged:+.2f}; copies {k:.3f}, "
                  f"buffers {c:.3f} GiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
