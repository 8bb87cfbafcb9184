"""Figures for headroom results (matplotlib).

Command line, as `headroom sweep --plot` uses it:
    python -m headroom.plot saturation SWEEP.jsonl OUT.png   # from `headroom sweep --json` lines
    python -m headroom.plot --check                          # exit 0 when matplotlib imports

From Python: saturation(headroom.sweep(...)), latency_cdf(headroom.simulate(...)),
kv_timeline(headroom.simulate(..., keep_all_steps=True)).
"""

import json
import os
import sys

SLO_STYLE = dict(color="#c0392b", linestyle=":", linewidth=1.2)
KNEE_STYLE = dict(color="#555555", linestyle="--", linewidth=1.0)


def load_points(path):
    """The points of a sweep, one dict per `headroom sweep --json` line."""
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def _series(points):
    out = {}
    for p in points:
        out.setdefault(p["sweep"]["series"], []).append(p)
    for pts in out.values():
        pts.sort(key=lambda p: p["sweep"]["load"])
    return out


def _slo(points, metric):
    for p in points:
        for s in p.get("slos", []):
            if s["metric"] == metric:
                return s
    return None


def _pyplot():
    import matplotlib

    if not os.environ.get("MPLBACKEND") and "ipykernel" not in sys.modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _finish(fig, out):
    """Saves the figure when asked, and detaches it from pyplot: in Jupyter the returned Figure then displays once,
    as the cell's value, instead of once by the inline backend and again as the value."""
    if out:
        fig.savefig(out, dpi=120)
    _pyplot().close(fig)
    return fig


def _plain_ticks():
    """Tick labels as plain numbers (0.5, 1, 10, 100), thousands as 4k, 32k, 128k."""
    from matplotlib.ticker import FuncFormatter

    def fmt(v, _pos):
        if v >= 1000:
            return f"{v / 1000:g}k"
        return f"{v:g}"
    return FuncFormatter(fmt)


def saturation(points, out=None):
    """The saturation figure of a sweep: throughput, TTFT and TPOT percentiles (with SLO lines) and KV
    utilisation against load, with the knee, the capacity (bisected) and the passing zone up to it marked. `points` is what
    headroom.sweep() returns, or the dicts of `headroom sweep --json` lines. Returns the Figure."""
    points = getattr(points, "points", points)
    plt = _pyplot()

    fitting = [p for p in points if p["sweep"]["fits"]]
    if not fitting:
        raise ValueError("no point of the sweep fits on its GPU")
    kind = fitting[0]["sweep"]["load_kind"]
    xlabel = "concurrent users (closed loop)" if kind == "concurrency" else "arrival rate (per second)"
    fig, axes = plt.subplots(2, 2, figsize=(13, 8.5), sharex=True)
    (ax_tp, ax_ttft), (ax_kv, ax_tpot) = axes
    series = _series(fitting)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (name, pts) in enumerate(series.items()):
        c = colors[i % len(colors)]
        label = name or "sweep"
        x = [p["sweep"]["load"] for p in pts]
        ax_tp.plot(x, [p["output_throughput"] for p in pts], "o-", color=c, label=label)
        for q, style in (("p50", ":"), ("p95", "-"), ("p99", "--")):
            ax_ttft.plot(x, [p["ttft_s"][q] for p in pts], style, marker="o", ms=3, color=c,
                         label=f"{label} {q}" if len(series) > 1 else q)
            ax_tpot.plot(x, [p["tpot_s"][q] * 1e3 for p in pts], style, marker="o", ms=3, color=c,
                         label=f"{label} {q}" if len(series) > 1 else q)
        ax_kv.plot(x, [100 * p["kv_util_mean"] for p in pts], "o-", color=c, label=f"{label} mean")
        ax_kv.plot(x, [100 * p["kv_util_peak"] for p in pts], "^--", color=c, label=f"{label} peak")
        sw = pts[0]["sweep"]
        for ax in axes.flat:
            if sw["knee_found"]:
                ax.axvline(sw["knee_load"], **KNEE_STYLE)
            cap = sw.get("capacity") or {}
            top = cap.get("load") if cap.get("load") is not None else (sw["max_stable_load"] if sw["stable_found"] else None)
            if top is not None:  # the passing zone, up to the bisected capacity
                ax.axvspan(min(x), top, color="#2ecc71", alpha=0.08 if len(series) > 1 else 0.12)
        cap = sw.get("capacity") or {}
        if cap.get("kind") == "bracketed":  # the bisected capacity: a probe between two grid points
            ax_tp.plot([cap["load"]], [cap["output_throughput"]], "D", color="#1e8449", ms=7,
                       label=f"{label} capacity: {cap['load_text']}")
        if sw["knee_found"]:
            knee = next(p for p in pts if p["sweep"]["is_knee"])
            ax_tp.annotate(f"knee: {knee['sweep']['load_text']}", (sw["knee_load"], knee["output_throughput"]),
                           textcoords="offset points", xytext=(8, -16), fontsize=9)
    for metric, ax, scale, unit in (("ttft", ax_ttft, 1.0, "s"), ("tpot", ax_tpot, 1e3, "ms")):
        slo = _slo(fitting, metric)
        if slo:
            ax.axhline(slo["threshold_s"] * scale, **SLO_STYLE)
            ax.annotate(f"SLO p{slo['percentile']:g} {slo['threshold_s'] * scale:g} {unit}",
                        (0.01, slo["threshold_s"] * scale), xycoords=("axes fraction", "data"),
                        textcoords="offset points", xytext=(0, 3), fontsize=8, color=SLO_STYLE["color"])
    ax_tp.set_ylabel("output tokens/s")
    ax_tp.set_title("Throughput")
    ax_ttft.set_ylabel("TTFT (s)")
    ax_ttft.set_title("Time to first token")
    ax_ttft.set_yscale("log")
    ax_ttft.yaxis.set_major_formatter(_plain_ticks())
    ax_tpot.set_ylabel("TPOT (ms)")
    ax_tpot.set_title("Time per output token")
    ax_kv.set_ylabel("KV blocks in use (%)")
    ax_kv.set_title("KV-cache utilisation")
    ax_kv.set_ylim(0, 105)
    xs = [p["sweep"]["load"] for p in fitting]
    for ax in axes.flat:
        ax.grid(True, alpha=0.3)
        if max(xs) / max(min(xs), 1e-9) >= 20:
            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(_plain_ticks())  # 1, 10, 100, 4k: not 10^0, 10^1
        ax.legend(fontsize=8, loc="best")
    for ax in axes[1]:
        ax.set_xlabel(xlabel)
    first = fitting[0]
    fig.suptitle(f"{first['scenario']}: {first['model']} on {first['replicas']} x {first['gpu']} (TP {first['tp']})"
                 f"  --  dashed line: knee; green: every SLO met, up to the capacity (diamond)", fontsize=11)
    fig.tight_layout()
    return _finish(fig, out)


def latency_cdf(result, out=None):
    """Cumulative distributions of TTFT, TPOT and E2E over the requests of one headroom.simulate() result,
    with the scenario's SLO thresholds. Returns the Figure."""
    import numpy as np

    plt = _pyplot()
    df = result.requests[~result.requests["rejected"]]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for ax, (col, title, scale, unit) in zip(axes, (("ttft_s", "TTFT", 1, "s"), ("tpot_s", "TPOT", 1e3, "ms"),
                                                    ("e2e_s", "E2E", 1, "s"))):
        v = np.sort(df[col].dropna().to_numpy()) * scale
        if len(v):
            ax.plot(v, np.arange(1, len(v) + 1) / len(v))
        for slo in result.summary.get("slos", []):
            if slo["metric"] == col.split("_")[0]:
                q = slo["percentile"]
                ax.axvline(slo["threshold_s"] * scale, **SLO_STYLE,
                           label=f"SLO: p{q:g} <= {slo['threshold_s'] * scale:g} {unit}")
                ax.axhline(q / 100, color="#999999", linewidth=0.6, label=f"p{q:g} of requests")
                ax.legend(fontsize=8, loc="lower right")
        ax.set_xlabel(f"{title} ({unit})")
        ax.set_ylabel("share of requests")
        ax.grid(True, alpha=0.3)
    m = result.summary  # the deployment that ran, overrides included (a scenario's name may say otherwise)
    fig.suptitle(f"{m['scenario']}: {m['model']} on {m['replicas']} x {m['gpu']} (TP {m['tp']}), latency "
                 f"distributions of {len(df):,} requests", fontsize=11)
    fig.tight_layout()
    return _finish(fig, out)


def kv_timeline(result, out=None):
    """KV-cache use, running and waiting sequences over simulated time for one headroom.simulate() result
    (all steps with keep_all_steps=True, else an even sample). Returns the Figure."""
    plt = _pyplot()
    ts = result.timeseries
    fig, (ax_kv, ax_q) = plt.subplots(2, 1, figsize=(12, 6), sharex=True)
    for replica, part in ts.groupby("replica"):
        ax_kv.plot(part["t_s"], 100 * part["kv_used"], linewidth=0.8, label=f"replica {replica}")
        ax_q.plot(part["t_s"], part["running"], linewidth=0.8, label=f"running (replica {replica})")
        ax_q.plot(part["t_s"], part["waiting"], linewidth=0.8, linestyle="--", label=f"waiting (replica {replica})")
    ax_kv.set_ylabel("KV blocks in use (%)")
    ax_kv.set_ylim(0, 105)
    ax_q.set_ylabel("sequences")
    ax_q.set_xlabel("simulated time (s)")
    for ax in (ax_kv, ax_q):
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8, loc="upper right")
    fig.suptitle(f"{result.summary['scenario']}: KV cache and queues over time", fontsize=11)
    fig.tight_layout()
    return _finish(fig, out)


def main(argv):
    if argv[:1] == ["--check"]:
        import matplotlib  # noqa: F401

        return 0
    if len(argv) != 3 or argv[0] != "saturation":
        print(__doc__, file=sys.stderr)
        return 2
    saturation(load_points(argv[1]), argv[2])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
