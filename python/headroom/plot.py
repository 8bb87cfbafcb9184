"""Figures for headroom results (matplotlib).

Command line, as `headroom sweep --plot` and `--html` use it:
    python -m headroom.plot saturation SWEEP.jsonl OUT.png   # from `headroom sweep --json` lines
    python -m headroom.plot report SWEEP.jsonl OUT.html      # the self-contained HTML report
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


def against(frame, out=None):
    """Prediction against measurement along a load sweep, from headroom.validate_against([file, ...]): output
    throughput and the TTFT tail, predicted and measured, against load, with both knees. Returns the Figure."""
    plt = _pyplot()
    loads = sorted({load for load, _ in frame.index})
    tail = frame.attrs.get("tail")
    panels = [("output throughput", "output tokens/s", 1.0)] + ([(tail, f"{tail} (s)", 1.0)] if tail else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 4.2), squeeze=False)
    for ax, (metric, ylabel, scale) in zip(axes[0], panels):
        rows = [frame.loc[(load, metric)] for load in loads]
        ax.plot(loads, [r["measured"] * scale for r in rows], "o-", color="#222222", label="measured")
        ax.plot(loads, [r["predicted"] * scale for r in rows], "s--", color="#1f77b4", label="predicted (headroom)")
        for key, color, name in (("measured_knee", "#222222", "measured knee"), ("predicted_knee", "#1f77b4", "predicted knee")):
            if frame.attrs.get(key) is not None:
                ax.axvline(frame.attrs[key], color=color, linestyle=":", linewidth=1.2, label=f"{name}: {frame.attrs[key]:g}")
        ax.set_xlabel("concurrent users" if frame.attrs.get("load_kind") == "concurrency" else "request rate (per second)")
        ax.set_ylabel(ylabel)
        ax.set_title(metric)
        ax.grid(True, alpha=0.3)
        if max(loads) / max(min(loads), 1e-9) >= 20:
            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(_plain_ticks())
        ax.legend(fontsize=8)
    fig.suptitle(f"{frame.attrs.get('model', '')} on {frame.attrs.get('gpu', '')}: predicted against measured "
                 f"({len(loads)} result files)", fontsize=11)
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


_REPORT_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1250px;
       color: #222; line-height: 1.45; padding: 0 1em; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
.meta { color: #666; font-size: 0.9em; }
.headline { background: #eef8f1; border-left: 4px solid #1e8449; padding: 0.7em 1em; margin: 1em 0; }
.knee { background: #f4f4f4; border-left: 4px solid #777; padding: 0.5em 1em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { padding: 0.25em 0.6em; border-bottom: 1px solid #ddd; text-align: right; }
th { background: #f7f7f7; } td.l, th.l { text-align: left; }
tr.miss td { color: #a93226; } tr.knee td { font-weight: bold; }
.fig svg { max-width: 100%; height: auto; }
li { margin: 0.25em 0; }
"""


def sweep_report(points, out=None):
    """A self-contained HTML report of a sweep: the capacity and knee per series, the saturation figure (inline
    SVG), the table of every point, the sentence on what limits each, and the counterfactuals. No external file,
    script or font: it opens offline. `points` is what headroom.sweep() returns, or the dicts of `headroom sweep
    --json` lines. Writes `out` when given; returns the HTML."""
    import html
    import io

    points = list(getattr(points, "points", points))
    fitting = [p for p in points if p["sweep"]["fits"]]
    if not fitting:
        raise ValueError("no point of the sweep fits on its GPU")
    first = fitting[0]
    esc = html.escape
    buf = io.StringIO()
    saturation(points).savefig(buf, format="svg")
    svg = buf.getvalue()
    svg = svg[svg.find("<svg"):]  # drop the XML prologue and doctype: inline in HTML
    ms = lambda x: f"{x * 1e3:.1f}"  # noqa: E731
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>headroom: {esc(first['scenario'])}"
             f"</title><style>{_REPORT_CSS}</style></head><body>",
             f"<h1>{esc(first['scenario'])}: {esc(first['model'])} on {first['replicas']} x {esc(first['gpu'])} "
             f"(TP {first['tp']})</h1>",
             f"<div class='meta'>weights {esc(first['weights_dtype'])}, KV {esc(first['kv_dtype'])}; step times: "
             f"{esc(first['predictor'])}; seed {first['seed']}; headroom {esc(str(first.get('headroom_version', '')))} "
             f"({esc(str(first.get('git_commit', '')))})</div>"]
    slos = ", ".join(f"{s['metric'].upper()} p{s['percentile']:g} &le; "
                     f"{s['threshold_s'] * (1e3 if s['metric'] in ('tpot', 'itl') else 1):g} "
                     f"{'ms' if s['metric'] in ('tpot', 'itl') else 's'}" for s in first.get("slos", []))
    if slos:
        parts.append(f"<div class='meta'>SLOs: {slos}</div>")
    series = _series(points)
    for name, pts in series.items():
        sw = pts[0]["sweep"]
        title = f" ({esc(name)})" if name else ""
        sentence = (sw.get("capacity") or {}).get("sentence") or "the scenario has no SLOs: no capacity to find."
        sentence = sentence[:1].upper() + sentence[1:]
        parts.append(f"<div class='headline'><b>Capacity{title}.</b> {esc(sentence)}</div>")
        if sw.get("knee_found"):
            knee = next((p for p in pts if p["sweep"]["is_knee"]), None)
            text = (f"Knee at {knee['sweep']['load_text']} ({knee['output_throughput']:.0f} output tok/s), where "
                    f"throughput stops growing in proportion to load. {sw.get('knee_relation', '')}") if knee else ""
            parts.append(f"<div class='knee'>{esc(text)}</div>")
    parts.append(f"<h2>Saturation</h2><div class='fig'>{svg}</div>")
    for name, pts in series.items():
        parts.append(f"<h2>Points{(': ' + esc(name)) if name else ''}</h2><table><tr><th class='l'>load</th>"
                     "<th>req/s</th><th>output tok/s</th><th>tok/s/GPU</th><th>TTFT p50 s</th><th>p95</th><th>p99</th>"
                     "<th>TPOT p50 ms</th><th>p95</th><th>p99</th><th>E2E p95 s</th><th>KV mean %</th><th>preempt</th>"
                     "<th>goodput req/s</th><th>$/MTok</th><th class='l'>SLOs</th></tr>")
        for p in pts:
            sw = p["sweep"]
            if not sw["fits"]:
                parts.append(f"<tr><td class='l'>{esc(sw['load_text'])}</td><td class='l' colspan='15'>does not fit: "
                             f"{esc(sw['why_not'])}</td></tr>")
                continue
            cls = "miss" if not p["slos_met"] else ("knee" if sw["is_knee"] else "")
            parts.append(
                f"<tr class='{cls}'><td class='l'>{esc(sw['load_text'])}{' (knee)' if sw['is_knee'] else ''}</td>"
                f"<td>{p['request_throughput']:.2f}</td><td>{p['output_throughput']:.0f}</td>"
                f"<td>{p['output_tokens_per_s_per_gpu']:.0f}</td><td>{p['ttft_s']['p50']:.2f}</td>"
                f"<td>{p['ttft_s']['p95']:.2f}</td><td>{p['ttft_s']['p99']:.2f}</td><td>{ms(p['tpot_s']['p50'])}</td>"
                f"<td>{ms(p['tpot_s']['p95'])}</td><td>{ms(p['tpot_s']['p99'])}</td><td>{p['e2e_s']['p95']:.2f}</td>"
                f"<td>{100 * p['kv_util_mean']:.0f}</td><td>{p['preemptions']:,}</td><td>{p['goodput_rps']:.2f}</td>"
                f"<td>{p['usd_per_mtok']:.3f}</td><td class='l'>{'met' if p['slos_met'] else 'missed'}</td></tr>")
        parts.append("</table>")
        parts.append("<h2>Why, point by point</h2><ul>")
        parts += [f"<li>{esc(p['sweep']['explanation'])}</li>" for p in pts if p["sweep"]["fits"]]
        parts.append("</ul>")
        cfs = [c for p in pts for c in p["sweep"].get("counterfactuals", [])]
        if cfs:
            failing = next(p for p in pts if p["sweep"].get("counterfactuals"))
            parts.append(f"<h2>What would bring {esc(failing['sweep']['load_text'])} back under its SLOs</h2><ul>")
            parts += [f"<li>{esc(c['sentence'])}</li>" for c in cfs]
            parts.append("</ul>")
    parts.append("<p class='meta'>Made by headroom from a simulation, not a measurement. Capacity: the highest load "
                 "meeting every SLO, bisected between the swept loads. Knee: where throughput stops growing in "
                 "proportion to load.</p></body></html>")
    text = "".join(parts)
    if out:
        with open(out, "w") as f:
            f.write(text)
    return text


def main(argv):
    if argv[:1] == ["--check"]:
        import matplotlib  # noqa: F401

        return 0
    if len(argv) != 3 or argv[0] not in ("saturation", "report"):
        print(__doc__, file=sys.stderr)
        return 2
    if argv[0] == "report":
        sweep_report(load_points(argv[1]), argv[2])
    else:
        saturation(load_points(argv[1]), argv[2])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
