#!/usr/bin/env python3
"""The shipped bf16 GEMM table of a GPU against the same GEMMs timed on that GPU now.

The tables' bf16 GEMMs were timed by AIConfigurator through torch.nn.functional.linear (vLLM 0.24.0's
unquantised linear layer), so PyTorch on the same GPU runs the same kernel family (cuBLAS/cuBLASLt), with
today's library and driver. This samples grid points of the table at random, times each GEMM two ways, and
writes one JSON line per point:

- warm: 20 back-to-back calls on the same operands, captured in one CUDA graph (no launch gaps; operands that
  fit in L2 stay there);
- cold: the same, rotating over enough copies of the operands to exceed the L2 (at most 64 copies), so every
  call reads its operands from HBM.

Each is the median over 5 replays of the graph, divided by 20. Run it on the GPU whose table it reads; the
analysis (`--report FILE`) runs anywhere.

Usage: bench/gemm_table_check.py [--hkt hardware/kernels/h200_sxm.hkt] [--samples 500] [--seed 0] --out FILE
       bench/gemm_table_check.py --report FILE
"""
import argparse
import json
import pathlib
import random
import statistics
import sys
import time

from torch_gpu import torch_on_gpu

ROOT = pathlib.Path(__file__).resolve().parents[1]
CALLS = 20
REPLAYS = 5


def fail(message):
    """Bad input: one line on stderr, exit code 2."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def bf16_gemm_table(path):
    """(m, n, k) -> ms from the `table gemm ... dtype=bf16` block of a .hkt file."""
    axes, rows, inside = {}, [], False
    try:
        text = open(path).read().splitlines()
    except OSError as e:
        fail(f"{path}: {e.strerror}")
    for line in text:
        w = line.split()
        if not w:
            continue
        if w[0] == "table":
            inside = w[1] == "gemm" and "dtype=bf16" in w[2:]
            continue
        if not inside:
            continue
        if w[0] == "axis":
            axes[w[1]] = [int(v) for v in w[2:]]
        elif w[0] == "end":
            break
        elif w[0] != "data":
            rows.append(w)
    if not all(a in axes for a in ("m", "n", "k")):
        fail(f"{path}: no bf16 GEMM table (table gemm ... dtype=bf16 with axes m, n, k)")
    ms, ns, ks = axes["m"], axes["n"], axes["k"]
    if len(rows) != len(ms) * len(ns):
        fail(f"{path}: the bf16 GEMM table has {len(rows)} rows, expected {len(ms) * len(ns)}")
    out = {}
    for i, m in enumerate(ms):
        for j, n in enumerate(ns):
            for kk, k in enumerate(ks):
                v = rows[i * len(ns) + j][kk]
                if v not in ("-", "nan"):
                    out[(m, n, k)] = float(v)
    return out


def time_point(torch, m, n, k, l2_bytes):
    dev, bf = "cuda", torch.bfloat16
    size = 2 * (m * k + n * k + m * n)
    copies = {"warm": 1, "cold": max(1, min(64, -(-4 * l2_bytes // size)))}
    result = {}
    for mode, c in copies.items():
        xs = [torch.randn(m, k, device=dev, dtype=bf) for _ in range(c)]
        ws = [torch.randn(n, k, device=dev, dtype=bf) for _ in range(c)]
        stream = torch.cuda.Stream()  # warm-up on a side stream (cuBLAS picks its kernel), as graph capture wants
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for i in range(3):
                torch.nn.functional.linear(xs[i % c], ws[i % c])
        torch.cuda.current_stream().wait_stream(stream)
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            for i in range(CALLS):
                torch.nn.functional.linear(xs[i % c], ws[i % c])
        times = []
        for _ in range(REPLAYS + 1):
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            g.replay()
            b.record()
            torch.cuda.synchronize()
            times.append(a.elapsed_time(b) / CALLS)
        result[mode] = statistics.median(times[1:])
        result[f"{mode}_copies"] = c
        del g, xs, ws
    torch.cuda.empty_cache()
    return result


def measure(args):
    torch = torch_on_gpu()
    if torch is None:
        return 3
    table = bf16_gemm_table(args.hkt)
    # points the time budget allows: up to 3 ms a call in the table and 3 GB of operands
    points = sorted(p for p, ms in table.items() if ms <= 3.0 and 2 * (p[0] * p[2] + p[1] * p[2] + p[0] * p[1]) <= 3e9)
    random.Random(args.seed).shuffle(points)
    points = points[: args.samples]
    props = torch.cuda.get_device_properties(0)
    l2 = getattr(props, "L2_cache_size", 50 * 2**20)
    head = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "cuda": torch.version.cuda,
            "hkt": str(args.hkt), "l2_bytes": l2, "calls_per_graph": CALLS, "replays": REPLAYS}
    start, done = time.monotonic(), 0
    with open(args.out, "w") as f:
        f.write(json.dumps({"schema": "headroom.gemm-table-check/1", **head}) + "\n")
        for m, n, k in points:
            if time.monotonic() - start > args.budget_s:
                print(f"stopped at the {args.budget_s:.0f} s budget after {done} points", file=sys.stderr)
                break
            r = time_point(torch, m, n, k, l2)
            f.write(json.dumps({"m": m, "n": n, "k": k, "table_ms": table[(m, n, k)], **r}) + "\n")
            f.flush()
            done += 1
    print(f"{head['device']}: {done} points in {time.monotonic() - start:.0f} s -> {args.out}")
    return 0


def report(path):
    try:
        lines = [json.loads(x) for x in open(path) if x.strip()]
    except (OSError, json.JSONDecodeError) as e:
        fail(f"{path}: {e}")
    if not lines or lines[0].get("schema") != "headroom.gemm-table-check/1":
        fail(f"{path}: line 1: schema: expected headroom.gemm-table-check/1 (written by --out)")
    head, pts = lines[0], [x for x in lines[1:] if "warm" in x]
    print(f"{len(pts)} GEMMs of {head['hkt']} timed on {head['device']} (torch {head['torch']}, CUDA {head['cuda']})")
    print("error of the table against the measurement, (table - measured) / measured: median |error|, p90 |error|, "
          "median signed")

    def stats(v):
        a = sorted(abs(x) for x in v)
        return (f"{statistics.median(a) * 100:5.1f}% {a[int(0.9 * (len(a) - 1))] * 100:6.1f}% "
                f"{statistics.median(v) * 100:+6.1f}%") if v else "   —"

    classes = [("all", lambda p: True), ("table < 10 us", lambda p: p["table_ms"] < 0.01),
               ("10-100 us", lambda p: 0.01 <= p["table_ms"] < 0.1), ("0.1-1 ms", lambda p: 0.1 <= p["table_ms"] < 1),
               (">= 1 ms", lambda p: p["table_ms"] >= 1)]
    print(f"  {'points':<16}{'n':>5}   {'against warm':<24}{'against cold':<24}")
    for name, sel in classes:
        s = [p for p in pts if sel(p)]
        print(f"  {name:<16}{len(s):>5}   {stats([p['table_ms'] / p['warm'] - 1 for p in s]):<24}"
              f"{stats([p['table_ms'] / p['cold'] - 1 for p in s]):<24}")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hkt", default=str(ROOT / "hardware" / "kernels" / "h200_sxm.hkt"))
    ap.add_argument("--samples", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--budget-s", type=float, default=150.0, help="stop sampling after this many seconds")
    ap.add_argument("--out", help="write the JSON lines here")
    ap.add_argument("--report", help="summarise a file this script wrote (no GPU needed)")
    args = ap.parse_args()
    if args.report:
        return report(args.report)
    if not args.out:
        ap.error("--out is required to measure")
    return measure(args)


if __name__ == "__main__":
    sys.exit(main())
