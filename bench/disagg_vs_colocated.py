"""Where disaggregated prefill/decode beats colocated serving on the same 16 H100 GPUs (Llama-3.3-70B, TP 4
everywhere, 3,000-token median prompts, 250-token median answers, Poisson arrivals): sweeps
examples/colocated-llama70b.yaml (4 colocated replicas) and examples/disagg-llama70b.yaml with 2 prefill : 2 decode
and 3 : 1 replicas (KV over 400G InfiniBand on SimGrid), under a TPOT p95 SLO of 50 ms and of 25 ms (TTFT p95
2 s both times). Prints each one's capacity (the highest rate meeting both SLOs, bisected) and p95 TTFT and TPOT
per rate, and draws docs/disaggregation.png (the 25 ms case).

Usage: .venv/bin/python bench/disagg_vs_colocated.py [RATES]   (default 1,2,...,12)"""
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

import headroom  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = [
    ("colocated 4 x TP4", "colocated-llama70b.yaml", {}),
    ("disaggregated 2P:2D", "disagg-llama70b.yaml", {}),
    ("disaggregated 3P:1D", "disagg-llama70b.yaml", {"disaggregation.prefill.replicas": 3, "replicas": 1}),
]


def capacity_text(frame):
    c = frame.capacity.iloc[0]
    if c["kind"] == "above_range":
        return f">= {c['load']:.1f} req/s (every swept rate passes)"
    if c["kind"] == "below_range":
        return f"< {c['fail_load']:.1f} req/s (the lowest swept rate fails)"
    return f"{c['load']:.2f} req/s (${c['usd_per_mtok']:.2f}/MTok there)"


def main(argv):
    rates = [float(x) for x in (argv[0] if argv else "1,2,3,4,5,6,7,8,9,10,11,12").split(",")]
    figure = {}
    for tpot_ms in (50, 25):
        print(f"== SLOs: TTFT p95 2 s, TPOT p95 {tpot_ms} ms")
        runs = {}
        for label, name, sets in CONFIGS:
            runs[label] = headroom.sweep(ROOT / "examples" / name, qps=rates, counterfactuals=False, progress=False,
                                         set={**sets, "slo.tpot_p95_s": tpot_ms / 1e3})
            print(f"  {label:<22} capacity {capacity_text(runs[label])}")
        print(f"  {'req/s':>6} | " + " | ".join(f"{k:^24}" for k in runs))
        for i, r in enumerate(rates):
            cells = []
            for frame in runs.values():
                row = frame.iloc[i]
                cells.append(f"{row['ttft_s_p95']:>7.2f} s {row['tpot_s_p95'] * 1e3:>6.1f} ms {'ok' if row['slos_met'] else '--':>3}")
            print(f"  {r:>6g} | " + " | ".join(cells))
        figure = runs
    fig, (a, b) = plt.subplots(1, 2, figsize=(10.5, 3.9))
    for label, frame in figure.items():
        a.plot(frame["load"], frame["ttft_s_p95"], marker="o", ms=3, label=label)
        b.plot(frame["load"], frame["tpot_s_p95"] * 1e3, marker="o", ms=3, label=label)
    a.axhline(2.0, color="grey", ls="--", lw=1, label="SLO 2 s")
    b.axhline(25, color="grey", ls="--", lw=1, label="SLO 25 ms")
    a.set_yscale("log")
    a.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    a.set(xlabel="arrival rate (req/s)", ylabel="p95 TTFT (s)", title="TTFT: a small prefill pool saturates first")
    b.set(xlabel="arrival rate (req/s)", ylabel="p95 TPOT (ms)", title="TPOT: decodes without prefills stay flat")
    for ax in (a, b):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Llama-3.3-70B on 16 x H100 (TP 4): colocated vs disaggregated, KV over 400G InfiniBand", fontsize=10)
    fig.tight_layout()
    out = ROOT / "docs" / "disaggregation.png"
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
