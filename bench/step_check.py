#!/usr/bin/env python3
"""Measured steps against the cost model's predictors, op family by op family.

Reads `headroom measure step --json` lines (schema headroom.measure-step/1, one step per line: the profiled
time of every op, summed over the layers) and prices each step again with `headroom cost --json` under each
predictor (kernel tables, calibrated roofline, plain roofline, and optionally a calibration file of your own).
Prints, per op family, the median and largest |error| of the prediction against the measurement, and the
per-op table of one step.

Usage: bench/step_check.py STEPS.jsonl [--headroom PATH] [--calibration FILE] [--json]
"""
import argparse
import json
import pathlib
import statistics
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
FAMILIES = {
    "GEMMs": ("qkv_proj", "o_proj", "gate_up_proj", "down_proj", "lm_head"),
    "attention": ("attention",),
    "norms, RoPE, residual, activation": ("input_norm", "post_attention_norm", "rope", "residual_add", "activation"),
}


def fail(message):
    """Bad input: one line on stderr, exit code 2."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def cost(headroom, step, predictor, calibration=None):
    args = [headroom, "cost", "-m", step["model"], "-g", step["gpu"], "--json", "--predictor", predictor]
    if step["kind"] == "prefill":
        args += ["--tokens", str(step["tokens"]), "--prefill-context", str(step["context"])]
    else:
        args += ["--decode-batch", str(step["sequences"]), "--context", str(step["context"])]
    if not step["cuda_graphs"]:
        args.append("--no-cuda-graphs")
    if calibration:
        args += ["--calibration", calibration]
    r = subprocess.run(args, capture_output=True, text=True)
    if r.returncode != 0:
        fail(f"{' '.join(args)}: {r.stderr.strip()}")
    j = json.loads(r.stdout)
    ops = {}
    for o in j["ops"]:
        ops[o["name"]] = ops.get(o["name"], 0.0) + o["time_s"]
    return ops


def label(step):
    if step["kind"] == "prefill":
        return f"prefill {step['tokens']}" + (f" after {step['context']}" if step["context"] else "")
    return f"decode {step['sequences']} x ctx {step['context']}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("steps", help="headroom measure step --json lines")
    ap.add_argument("--headroom", default=str(ROOT / "build" / "cli" / "headroom"))
    ap.add_argument("--calibration", help="a calibration YAML to add as a fourth predictor")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the tables")
    args = ap.parse_args()
    try:
        steps = [json.loads(line) for line in open(args.steps) if line.strip()]
        for i, s in enumerate(steps, 1):
            if not isinstance(s, dict) or s.get("schema") != "headroom.measure-step/1":
                fail(f"{args.steps}: line {i}: schema: expected headroom.measure-step/1 (headroom measure step --json)")
    except (OSError, json.JSONDecodeError) as e:
        fail(f"{args.steps}: {e}")
    if not steps:
        fail(f"{args.steps}: no measured steps")
    predictors = [("tables", "tables", None), ("calibrated", "calibrated", None), ("roofline", "roofline", None)]
    if args.calibration:
        predictors.append(("own calibration", "calibrated", args.calibration))

    # errors[predictor][family] = [(pred - meas) / meas, ...]
    errors = {p[0]: {f: [] for f in FAMILIES} for p in predictors}
    step_errors = {p[0]: [] for p in predictors}
    first = None
    for s in steps:
        measured = {o["name"]: o["measured_s"] for o in s["ops"]}
        priced = {name: cost(args.headroom, s, pred, cal) for name, pred, cal in predictors}
        for name, ops in priced.items():
            for fam, members in FAMILIES.items():
                for op in members:
                    if op in measured and op in ops and measured[op] > 0:
                        errors[name][fam].append(ops[op] / measured[op] - 1)
            total = sum(ops.get(op, 0.0) for op in measured)
            step_errors[name].append(total / s["profiled_total_s"] - 1)
        if first is None:
            first = (s, measured, priced)

    def stats(v):
        a = sorted(abs(x) for x in v)
        return {"n": len(a), "median": statistics.median(a) if a else None, "max": a[-1] if a else None,
                "mean_signed": statistics.fmean(v) if v else None}

    out = {name: {fam: stats(v) for fam, v in fams.items()} for name, fams in errors.items()}
    for name in out:
        out[name]["whole step (profiled)"] = stats(step_errors[name])
    if args.json:
        print(json.dumps({"steps": len(steps), "predictors": out}))
        return 0
    print(f"{len(steps)} measured steps ({steps[0]['model']}, {steps[0]['device']['name']}); |error| of each predictor "
          f"against the profiled op times, median / largest (mean signed)")
    fams = list(FAMILIES) + ["whole step (profiled)"]
    print(f"{'family':<36}" + "".join(f"{name:>30}" for name, _, _ in predictors))
    for fam in fams:
        cells = []
        for name, _, _ in predictors:
            st = out[name][fam]
            cells.append(f"{st['median'] * 100:6.1f}% / {st['max'] * 100:6.1f}% ({st['mean_signed'] * 100:+6.1f}%)"
                         if st["n"] else "—")
        print(f"{fam:<36}" + "".join(f"{c:>30}" for c in cells))
    s, measured, priced = first
    print(f"\n{label(s)}, per op (ms): measured, then each predictor")
    print(f"  {'op':<22}{'measured':>10}" + "".join(f"{name:>17}" for name, _, _ in predictors))
    for op, m in measured.items():
        print(f"  {op:<22}{m * 1e3:10.3f}" + "".join(f"{priced[name].get(op, 0.0) * 1e3:17.3f}" for name, _, _ in predictors))
    return 0


if __name__ == "__main__":
    sys.exit(main())
