#!/usr/bin/env python3
"""Steps that cost more than a larger step of the same kind, and where the two predictors part.

Prices one engine step (headroom.cost, the Python package) for every shipped model, every GPU with tables or a
calibration, and every TP degree the model splits over and fits at (headroom.kv_plan):
- prompts of 1 to 8,192 tokens, and 1 to 512 decodes at a context of 128 and 4,096: a step that takes more than
  3% longer than the next smaller one of the same kind is listed ("inversions"), with the ratio;
- one and 64 decodes at contexts of 0 to 32,768: the same along the context;
- five reference steps on the kernel tables and on the calibrated roofline: the ratio calibrated / tables;
- the same reference steps (the default predictor) on a newer GPU against an older one of the same TP (B200 and
  GB200 against H200, H200 against H100 SXM, H100 SXM against A100): a newer GPU that takes over 5% longer is
  listed ("GPU order"), as the thirty-fourth session found GB200's 8-GPU all-reduces and A100's op-by-op MXFP4
  experts this way.
An inversion is not an error by itself (a table may time a kernel pick that is slower at fewer rows, and that
is what vLLM runs there), but each one is a place to look: the thirty-fourth session found block-fp8 GEMMs on
Blackwell priced at 2x for one decode this way (docs/fidelity.md). Prints counts, the largest inversions and
the widest disagreements; --json prints one object instead. Takes about two minutes on two cores.

Usage: bench/step_consistency.py [--models M,M] [--gpus G,G] [--top N] [--json]
"""
import argparse
import json
import math
import sys
import warnings

import headroom

GPUS = ["h100-sxm", "h200", "b200", "gb200", "a100-80gb", "l40s", "h100-pcie"]
PROMPTS = [1, 16, 128, 512, 1024, 2048, 4096, 8192]
DECODES = [1, 8, 64, 256, 512]
CONTEXTS = [0, 512, 2048, 8192, 32768]
REFERENCE = [dict(tokens=512), dict(tokens=4096), dict(decode_batch=1, context=1000),
             dict(decode_batch=64, context=2000), dict(tokens=256, prefill_context=4000)]
SLACK = 1.03  # a smaller step may take up to 3% longer before it is listed
NEWER = [("b200", "h200"), ("gb200", "h200"), ("h200", "h100-sxm"), ("h100-sxm", "a100-80gb")]
GPU_SLACK = 1.05  # a newer GPU may take up to 5% longer before it is listed


def step_s(model, gpu, tp, predictor, **step):
    """The step's time, or None where the model cannot take it (a context past its positions, a TP its heads do
    not split over)."""
    try:
        return headroom.cost(model, gpu, tp=tp, predictor=predictor, **step).attrs["time_s"]
    except headroom.InputError:
        return None


def fits(model, gpu, tp):
    """The weights fit on the GPUs with room for KV (the deployments a plan would consider)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return headroom.kv_plan(model, gpu, tp=tp).fits


def inversions(series):
    """(smaller, larger, ratio) for each consecutive pair whose smaller step takes over SLACK x the larger."""
    out = []
    points = [(x, t) for x, t in series if t is not None]
    for (x0, t0), (x1, t1) in zip(points, points[1:]):
        if t0 > SLACK * t1:
            out.append((x0, x1, t0 / t1))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", help="comma-separated model names (default: every shipped decoder)")
    parser.add_argument("--gpus", help="comma-separated GPU names (default: " + ",".join(GPUS) + ")")
    parser.add_argument("--top", type=int, default=15, help="rows of each list to print (default 15)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    models = args.models.split(",") if args.models else [m for m in headroom.models() if "MiniLM" not in m]
    gpus = args.gpus.split(",") if args.gpus else GPUS
    try:  # a name that is not there: one line, exit code 2
        for m in models:
            headroom.load_model(m)
        for g in gpus:
            headroom.load_gpu(g)
    except headroom.InputError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    found, ratios, order, steps = [], [], [], 0
    for model in models:
        reference = {}  # (gpu, tp, step index) -> the default predictor's time
        for gpu in gpus:
            for tp in (1, 2, 4, 8):
                if step_s(model, gpu, tp, "auto", tokens=16) is None or not fits(model, gpu, tp):
                    continue
                for predictor in ("auto", "calibrated"):
                    runs = {"prompt tokens": [(n, step_s(model, gpu, tp, predictor, tokens=n)) for n in PROMPTS]}
                    for context in (128, 4096):
                        runs[f"decodes at {context}"] = [
                            (b, step_s(model, gpu, tp, predictor, decode_batch=b, context=context)) for b in DECODES]
                    for batch in (1, 64):
                        runs[f"context of {batch} decodes"] = [
                            (c, step_s(model, gpu, tp, predictor, decode_batch=batch, context=c)) for c in CONTEXTS]
                    for axis, series in runs.items():
                        steps += sum(t is not None for _, t in series)
                        for t in (t for _, t in series):
                            if t is not None and not (t > 0 and math.isfinite(t)):
                                sys.exit(f"error: {model} on {gpu} TP {tp} ({predictor}): a step took {t} s")
                        for x0, x1, r in inversions(series):
                            found.append(dict(model=model, gpu=gpu, tp=tp, predictor=predictor, axis=axis,
                                              smaller=x0, larger=x1, ratio=r))
                for i, step in enumerate(REFERENCE):
                    a = step_s(model, gpu, tp, "auto", **step)
                    c = step_s(model, gpu, tp, "calibrated", **step)
                    if a:
                        reference[(gpu, tp, i)] = a
                    if a and c:
                        ratios.append(dict(model=model, gpu=gpu, tp=tp, step=step, calibrated_over_tables=c / a))
        for (gpu, tp, i), t in reference.items():
            for newer, older in NEWER:
                other = reference.get((older, tp, i))
                if gpu == newer and other and t > GPU_SLACK * other:
                    order.append(dict(model=model, tp=tp, step=REFERENCE[i], newer=newer, older=older,
                                      ratio=t / other))
        print(f"{model}: {steps} steps, {len(found)} inversions so far", file=sys.stderr, flush=True)
    found.sort(key=lambda f: -f["ratio"])
    order.sort(key=lambda o: -o["ratio"])
    ratios.sort(key=lambda r: abs(math.log(r["calibrated_over_tables"])), reverse=True)
    within = sum(0.8 <= r["calibrated_over_tables"] <= 1.25 for r in ratios)
    if args.json:
        print(json.dumps(dict(steps=steps, inversions=found, ratios=ratios, gpu_order=order), indent=1))
        return
    print(f"{steps} steps priced; {len(found)} inversions over {SLACK - 1:.0%} "
          f"({sum(f['ratio'] > 1.2 for f in found)} over 20%)")
    for f in found[: args.top]:
        print(f"  {f['ratio']:.2f}x  {f['model']} on {f['gpu']} TP {f['tp']} ({f['predictor']}): {f['axis']} "
              f"{f['smaller']} takes longer than {f['larger']}")
    print(f"calibrated / tables on {len(ratios)} reference steps: {within} within 0.8-1.25x; widest:")
    for r in ratios[: args.top]:
        print(f"  {r['calibrated_over_tables']:.2f}x  {r['model']} on {r['gpu']} TP {r['tp']}: {r['step']}")
    print(f"GPU order: {len(order)} reference steps where a newer GPU takes over {GPU_SLACK - 1:.0%} longer "
          f"than an older one at the same TP")
    for o in order[: args.top]:
        print(f"  {o['ratio']:.2f}x  {o['model']} TP {o['tp']}: {o['newer']} against {o['older']}, {o['step']}")


if __name__ == "__main__":
    main()
