#!/usr/bin/env python3
"""What headroom predicts for the serving runs that issue 11 opens with: real vLLM on H100 SXM with 575-token
prompts and 248-token answers sustained 20 req/s for Llama-2-7B (TP 1), CodeLlama-34B (TP 2) and Llama-2-70B
(TP 4); Mixtral-8x7B ran at TP 2. Each deployment of bench/serving_h100.yaml is swept over Poisson rates with one
SLO, p95 TTFT <= 2 s (the queue stays bounded); its capacity is the highest rate meeting it, bisected. Prints the
latency floor at 1 req/s, the point at 20 req/s and the capacity; with --json, one JSON line per deployment.

Usage: .venv/bin/python bench/serving_check.py [--json]   (./scripts/setup.sh installs the package)"""
import json
import sys
from pathlib import Path

import headroom

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "bench" / "serving_h100.yaml"
RATES = [1, 4, 8, 12, 16, 20, 24, 28, 32, 40, 48, 64]
DEPLOYMENTS = [
    ("meta-llama/Llama-2-7b-hf", 1),
    ("codellama/CodeLlama-34b-hf", 2),
    ("meta-llama/Llama-2-70b-hf", 4),
    ("mistralai/Mixtral-8x7B-v0.1", 2),
]


def main(argv: list[str]) -> int:
    as_json = "--json" in argv
    if not as_json:
        print("575-token prompts, 248-token answers, Poisson, H100 SXM, vLLM defaults (bench/serving_h100.yaml)")
        print(f"{'model':<28} {'TP':>2} | {'1 req/s: TTFT':>13} {'TPOT':>7} {'E2E':>6} | {'20 req/s: done':>14} "
              f"{'TTFT p95':>8} {'TPOT':>7} {'E2E':>6} | capacity (TTFT p95 <= 2 s)")
    for model, tp in DEPLOYMENTS:
        f = headroom.sweep(SCENARIO, qps=RATES, counterfactuals=False, progress=False,
                           set={"model": model, "tp": tp, "slo.ttft_p95_s": 2, "slo.tpot_p95_s": 10})
        low, mid = f[f["load"] == 1].iloc[0], f[f["load"] == 20].iloc[0]
        cap = f.capacity.iloc[0]
        row = {"model": model, "tp": tp,
               "at_1": {"ttft_mean_s": low["ttft_s_mean"], "tpot_mean_s": low["tpot_s_mean"], "e2e_mean_s": low["e2e_s_mean"]},
               "at_20": {"request_throughput": mid["request_throughput"], "ttft_p95_s": mid["ttft_s_p95"],
                         "tpot_mean_s": mid["tpot_s_mean"], "e2e_mean_s": mid["e2e_s_mean"]},
               "capacity_rps": cap["load"] if cap["kind"] == "bracketed" else None,
               "capacity_throughput_rps": cap["request_throughput"], "capacity_kind": cap["kind"],
               "git_commit": low["git_commit"]}
        if as_json:
            print(json.dumps(row))
            continue
        lo, m = row["at_1"], row["at_20"]
        c = (f"{cap['load']:.1f} req/s offered, {cap['request_throughput']:.2f} done" if cap["kind"] == "bracketed"
             else cap["kind"])
        print(f"{model:<28} {tp:>2} | {lo['ttft_mean_s'] * 1e3:>10.0f} ms {lo['tpot_mean_s'] * 1e3:>4.1f} ms "
              f"{lo['e2e_mean_s']:>4.2f} s | {m['request_throughput']:>8.2f} req/s {m['ttft_p95_s']:>6.2f} s "
              f"{m['tpot_mean_s'] * 1e3:>4.1f} ms {m['e2e_mean_s']:>5.2f} s | {c}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
