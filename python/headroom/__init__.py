"""headroom: predict how an LLM serving deployment behaves under load.

Everything the `headroom` command does, from Python, returning pandas DataFrames and matplotlib figures:

    import headroom
    model = headroom.load_model("meta-llama/Llama-3.1-8B-Instruct")   # or a config.json path, dir, or dict
    gpu = headroom.load_gpu("h100", price__usd_per_gpu_hour=2.5)      # a.b fields as a__b keyword overrides
    headroom.kv_plan(model, gpu, context=8192, concurrency=64).max_concurrency_at_context
    headroom.cost(model, gpu, tokens=4096)                            # one row per op
    result = headroom.simulate("examples/chat.yaml")                  # .summary, .requests, .timeseries
    points = headroom.sweep(qps=[1, 2, 4, 8])                         # one row per point; .knee, .explanations
    headroom.plan("llama-3.1-8b", qps=20, slo="ttft_p95=2s,tpot_p95=50ms")

The computation is in C++ (headroom._headroom); this module converts types. Every simulation runs in its own
child process, so repeated calls in one kernel give the same results as fresh processes. Bad input raises
headroom.InputError (a ValueError) with the same one-line message as the command line.
"""

from __future__ import annotations

import difflib
import html
import json
import os
import warnings
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import pandas as pd

from . import _headroom as _h
from . import plot
from ._headroom import GpuProfile, InputError, KvPlan, ModelCard, Scenario

__version__ = _h.version()
__all__ = ["InputError", "ModelCard", "GpuProfile", "KvPlan", "Scenario", "Result", "SweepFrame", "load_model",
           "load_gpu", "load_scenario", "kv_plan", "cost", "simulate", "sweep", "plan", "models", "gpus", "plot",
           "examples", "validate_against", "read_results", "report"]

ScenarioLike = "str | os.PathLike | Mapping[str, Any] | Scenario | None"


class _Examples(Mapping[str, Path]):
    """The example scenarios shipped with the package, by name: headroom.examples["chat"] is the path of
    chat.yaml (its trace files beside it). list(headroom.examples) names them."""

    @staticmethod
    def _dir() -> Path:
        here = Path(__file__).resolve().parent
        for d in (here / "examples", here.parent.parent / "examples"):  # the wheel's copy, else the source tree
            if d.is_dir():
                return d
        return here / "examples"

    def _files(self) -> dict[str, Path]:
        return {p.stem: p for p in sorted(self._dir().glob("*.yaml"))}

    def __getitem__(self, name: str) -> Path:
        files = self._files()
        key = name[:-5] if name.endswith(".yaml") else name
        if key not in files:
            raise KeyError(f"{name}: no such example (examples: {', '.join(files)})")
        return files[key]

    def __iter__(self):
        return iter(self._files())

    def __len__(self) -> int:
        return len(self._files())

    def __repr__(self) -> str:
        return f"<headroom examples in {self._dir()}: {', '.join(self._files())}>"


examples = _Examples()


def models() -> list[str]:
    """Hugging Face ids of the model configs shipped with headroom."""
    return _h.shipped_models()


def gpus() -> list[str]:
    """Names of the shipped GPU profiles."""
    return _h.gpu_names()


def load_model(model: "str | os.PathLike | Mapping[str, Any] | ModelCard") -> ModelCard:
    """A model card from a config.json path, a directory holding one, a shipped model name, or a dict with
    the fields of a config.json."""
    if isinstance(model, ModelCard):
        return model
    if isinstance(model, Mapping):
        name = str(model.get("_name_or_path", "model"))
        card = _h.parse_model_config(json.dumps(dict(model)), "<dict>", name)
    else:
        card = _h.load_model(os.fspath(model))
    if card.guessed:  # as the CLI's warning: an architecture headroom does not know, filled by assumption
        warnings.warn(f"{card.source}: guessed: {'; '.join(card.guessed)}", stacklevel=2)
    return card


def load_gpu(gpu: "str | os.PathLike | GpuProfile", **overrides: float) -> GpuProfile:
    """A GPU profile by shipped name or alias, or from a YAML file; keyword overrides name profile fields
    with `__` for `.`: load_gpu("h100", memory__bandwidth_gb_per_s=3000)."""
    profile = gpu if isinstance(gpu, GpuProfile) else _h.load_gpu(os.fspath(gpu))
    for key, value in overrides.items():
        profile = _h.apply_gpu_override(profile, f"{key.replace('__', '.')}={value}")
    return profile


def _assignments(values: "Mapping[str, Any] | Iterable[str] | None") -> list[str]:
    """Scenario overrides as "key=value" strings (dicts and lists become YAML flow values)."""
    if values is None:
        return []
    if isinstance(values, Mapping):
        return [f"{k}={json.dumps(v) if isinstance(v, (dict, list)) else v}" for k, v in values.items()]
    return [str(v) for v in values]


def load_scenario(scenario: ScenarioLike = None, set: "Mapping[str, Any] | Iterable[str] | None" = None) -> Scenario:
    """A scenario from a YAML path, a dict (the YAML's structure), or None for the built-in default chat
    scenario; `set` overrides fields as the CLI's --set does."""
    overrides = _assignments(set)
    if isinstance(scenario, Scenario):
        if overrides:
            raise InputError("set: overrides need a scenario path or dict, not a loaded Scenario")
        return scenario
    if isinstance(scenario, Mapping):
        return _h.parse_scenario(json.dumps(dict(scenario)), "<dict>", os.getcwd(), overrides)
    return _h.load_scenario("" if scenario is None else os.fspath(scenario), overrides)


_KV_PLAN_OPTIONS = ("tp", "weights_dtype", "kv_dtype", "gpu_memory_utilization", "block_size", "max_model_len",
                    "max_num_batched_tokens", "max_num_seqs", "reserve_bytes", "context", "concurrency", "pp", "dp",
                    "expert_parallel", "all2all_backend", "cuda_graphs", "pp_layer_partition")


def kv_plan(model, gpu, **options) -> KvPlan:
    """KV-cache memory and capacity per GPU as vLLM plans it (options as `headroom kv`: tp, weights_dtype,
    kv_dtype, gpu_memory_utilization, block_size, max_model_len, max_num_batched_tokens, max_num_seqs,
    reserve_bytes, context, concurrency, pp, pp_layer_partition, dp, expert_parallel, all2all_backend, cuda_graphs). A model that does not fit
    returns a plan with fits=False and why_not, and warns."""
    for key in options:
        if key not in _KV_PLAN_OPTIONS:
            close = difflib.get_close_matches(key, _KV_PLAN_OPTIONS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (options: {', '.join(_KV_PLAN_OPTIONS)})"
            raise TypeError(f"kv_plan() got an unexpected keyword argument {key!r}{hint}")
    card, profile = load_model(model), load_gpu(gpu)
    plan = _h.kv_plan(card, profile, **options)
    if not plan.fits:
        warnings.warn(f"{card.name} does not fit on {profile.name}: {plan.why_not}", stacklevel=2)
    return plan


def _kv_plan_to_dict(plan: KvPlan) -> dict:
    names = [n for n in dir(plan) if not n.startswith("_")]
    return {n: getattr(plan, n) for n in names if not callable(getattr(plan, n))}


def _kv_plan_repr(plan: KvPlan) -> str:
    if not plan.fits:
        return f"<KvPlan: does not fit: {plan.why_not}>"
    return (f"<KvPlan: {plan.num_blocks:,} KV blocks ({plan.kv_tokens:,} tokens) per GPU, "
            f"{plan.max_concurrency_at_context:,} sequences at {plan.context:,} tokens>")


def _kv_plan_html(plan: KvPlan) -> str:
    rows = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th><td style='text-align:left'>{html.escape(str(v))}</td></tr>"
                   for k, v in _kv_plan_to_dict(plan).items())
    return f"<b>{html.escape(_kv_plan_repr(plan))}</b><table>{rows}</table>"


KvPlan.to_dict = _kv_plan_to_dict  # type: ignore[attr-defined]
KvPlan.__repr__ = _kv_plan_repr  # type: ignore[method-assign]
KvPlan._repr_html_ = _kv_plan_html  # type: ignore[attr-defined]


def cost(model, gpu, tokens: int = 0, decode_batch: int = 0, context: int = 0, prefill_context: int = 0,
         tp: int = 1, weights_dtype: str = "auto", kv_dtype: str = "bf16", cuda_graphs: bool = True,
         step_overhead_s: float = 1e-3, predictor: str = "auto", async_scheduling: bool = True,
         moe_routing: str = "", calibration: str = "", kernel_tables: str = "") -> pd.DataFrame:
    """The cost of one engine step, one row per op (as `headroom cost`): a prefill of `tokens` (on
    `prefill_context` cached tokens) and/or `decode_batch` decodes at `context`. `predictor` is "auto"
    (measured kernel tables where the GPU has them, the roofline elsewhere), "tables" or "roofline"; each row
    says its `source` and carries the roofline's time beside. df.attrs['time_s'] is the step time. With
    `async_scheduling` (vLLM's default) the host time hides behind the GPU's work: df.attrs['host_hidden_s'] is
    the part hidden, which a step after an idle spell adds. df.attrs['graph_tokens'] is the count the token-wise
    ops ran over: with CUDA graphs vLLM pads a step to its next captured size (257 tokens run as 272).
    `moe_routing` (an MoE model): "independent" (the default), "balanced", "power_law_1.01" or "power_law_1.2",
    how the tokens spread over the experts (as `headroom cost --moe-routing`). `calibration` (a YAML from
    `headroom calibrate`) and `kernel_tables` (a .hkt from `python -m headroom.kernels import`) are the GPU's own,
    as `headroom cost --calibration / --kernel-tables` take them."""
    batch = ([(tokens, prefill_context)] if tokens else []) + [(1, context)] * decode_batch
    ops, hidden, graph_tokens = _h.cost(load_model(model), load_gpu(gpu), batch, tp, weights_dtype, kv_dtype, cuda_graphs,
                          step_overhead_s, predictor, async_scheduling, moe_routing, str(calibration),
                          str(kernel_tables), decode_batch > 0, prefill_context > 0)
    df = pd.DataFrame(ops).set_index("op")
    df.attrs["time_s"] = float(df["time_s"].sum())
    df.attrs["host_hidden_s"] = float(hidden)
    df.attrs["graph_tokens"] = int(graph_tokens)
    return df


class Result:
    """One simulation: `summary` (the headroom.simulate/1 fields as a dict), `requests` (one row per
    request), `timeseries` (engine steps) and `to_json()` (the CLI's --json line)."""

    def __init__(self, line: str, requests: dict, steps: dict):
        self._line = line
        self.summary: dict = json.loads(line)
        self.requests: pd.DataFrame = pd.DataFrame(requests)
        self.timeseries: pd.DataFrame = pd.DataFrame(steps)

    def to_json(self) -> str:
        return self._line

    def __repr__(self) -> str:
        s = self.summary
        return (f"<Result {s['scenario']}: {s['completed']} requests, TTFT p95 {s['ttft_s']['p95']:.3g} s, "
                f"TPOT p95 {s['tpot_s']['p95'] * 1e3:.3g} ms, {s['output_throughput']:.0f} output tok/s>")

    def _repr_html_(self) -> str:
        s = self.summary
        rows = [("requests", f"{s['completed']:,} completed, {s['rejected']:,} rejected of {s['requests']:,}")]
        for name, unit, scale in (("ttft_s", "s", 1.0), ("tpot_s", "ms", 1e3), ("itl_s", "ms", 1e3), ("e2e_s", "s", 1.0)):
            p = s[name]
            rows.append((name[:-2].upper(), f"mean {p['mean'] * scale:.3g}, p50 {p['p50'] * scale:.3g}, "
                                            f"p95 {p['p95'] * scale:.3g}, p99 {p['p99'] * scale:.3g} {unit}"))
        rows += [("output throughput", f"{s['output_throughput']:,.0f} tok/s ({s['output_tokens_per_s_per_gpu']:,.0f} per GPU)"),
                 ("cost", f"${s['usd_per_mtok']:.3f} per million tokens")]
        body = "".join(f"<tr><th style='text-align:left'>{k}</th><td style='text-align:left'>{v}</td></tr>" for k, v in rows)
        return f"<b>{html.escape(s['scenario'])}</b> ({html.escape(s['gpu'])}, tp {s['tp']}, {s['replicas']} replica(s))<table>{body}</table>"


def _percentile_overrides(percentiles) -> list[str]:
    if percentiles is None:
        return []
    values = list(percentiles) if isinstance(percentiles, (list, tuple)) else [percentiles]
    if not values or not all(isinstance(p, (int, float)) and not isinstance(p, bool) for p in values):
        raise InputError(f"percentiles: a list of numbers between 0 and 100, got {percentiles!r}")
    return ["metric_percentiles=[" + ",".join(f"{float(p):g}" for p in values) + "]"]


def simulate(scenario: ScenarioLike = None, *, set=None, seed: int | None = None,
             keep_all_steps: bool = False, keep_requests: bool = True, percentiles=None) -> Result:
    """Simulate a scenario (a YAML path, a dict, a Scenario, or None for the built-in default) in a fresh
    child process. `set` overrides fields; `keep_all_steps` keeps every engine step in `timeseries` (else an
    even sample of 2,000-4,000 steps per replica); `keep_requests=False` leaves `requests` empty, for runs of
    millions of requests whose summary is all that is wanted. `percentiles` (e.g. [50, 90, 99, 99.9]) are
    reported under vLLM's names in summary["vllm"] (p99_ttft_ms, ...), as `vllm bench serve
    --metric-percentiles`; vLLM's default is 99."""
    overrides = _assignments(set) + ([f"seed={seed}"] if seed is not None else []) + _percentile_overrides(percentiles)
    sc = load_scenario(scenario, overrides) if overrides or not isinstance(scenario, Scenario) else scenario
    return Result(*_h.simulate(sc, keep_all_steps, keep_requests))


class SweepFrame(pd.DataFrame):
    """One row per sweep point, tidy: a column per swept field (besides the load), the point's metrics, its
    `cause` and `explanation`, its series' capacity (`capacity_load`, bisected between grid points, and
    `capacity_kind`, `capacity_fail_load`, `capacity_output_throughput`, ...), knee (`knee_found`, `knee_load`,
    `is_knee`) and highest swept load meeting every SLO (`max_stable_load`), and its raw JSON in `point`.
    Everything follows row filters and pd.concat: `.capacity` and `.knee` (DataFrames, one row per scenario and
    series), `.explanations`, `.counterfactuals` and `.points` are read from the rows that are there."""

    @property
    def _constructor(self):
        return SweepFrame

    @property
    def points(self) -> list[dict]:
        return list(self["point"]) if "point" in self.columns else []

    @property
    def knee(self) -> pd.DataFrame:
        keys = [k for k in ("scenario", "series") if k in self.columns]
        cols = ["knee_found", "knee_load", "max_stable_load"]
        if not keys or not set(cols) <= set(self.columns):
            return pd.DataFrame(columns=cols)
        first = pd.DataFrame(self[keys + cols]).groupby(keys, sort=False, dropna=False).first()
        return first.rename(columns={"knee_found": "found", "knee_load": "load"})

    @property
    def capacity(self) -> pd.DataFrame:
        """The capacity answer, one row per scenario and series: `kind` (bracketed, above_range, below_range,
        none), `load` (the highest load found to meet every SLO), `fail_load` (the lowest found to miss one above
        it), and the throughput and $/MTok at `load`."""
        keys = [k for k in ("scenario", "series") if k in self.columns]
        cols = [c for c in self.columns if c.startswith("capacity_")]
        if not keys or not cols:
            return pd.DataFrame()
        first = pd.DataFrame(self[keys + cols]).groupby(keys, sort=False, dropna=False).first()
        return first.rename(columns={c: c[len("capacity_"):] for c in cols})

    @property
    def explanations(self) -> list[str]:
        return list(self["explanation"]) if "explanation" in self.columns else []

    @property
    def counterfactuals(self) -> list[dict]:
        return [c for p in self.points for c in p["sweep"].get("counterfactuals", [])]

    def _shown(self) -> pd.DataFrame:
        return pd.DataFrame(self.drop(columns=["point"], errors="ignore"))

    def __repr__(self) -> str:
        return repr(self._shown())

    def _repr_html_(self) -> str:
        return self._shown()._repr_html_()


def _flatten(point: dict) -> dict:
    sw = point["sweep"]
    row = dict(sw.get("axes", {}))  # one column per swept field
    row.update({"series": sw["series"], "load": sw["load"], "load_text": sw["load_text"], "fits": sw["fits"]})
    for key, value in point.items():
        if key in ("sweep", "vllm") or key in row:
            continue
        if isinstance(value, dict):
            row.update({f"{key}_{k}": v for k, v in value.items() if k != "n"})
        elif not isinstance(value, list):
            row[key] = value
    for key, value in (point.get("vllm") or {}).items():  # vLLM's names as they are: mean_ttft_ms, p99_ttft_ms, ...
        row.setdefault(key, value)  # where both name a field (completed, failed), headroom's
    for key in ("cause", "explanation", "knee_found", "knee_load", "is_knee", "max_stable_load"):
        row[key] = sw.get(key)
    cap = sw.get("capacity") or {}
    for key in ("kind", "load", "fail_load", "request_throughput", "output_throughput", "usd_per_mtok"):
        row[f"capacity_{key}"] = cap.get(key)
    row["point"] = point
    return row


class _Progress:
    """A tqdm bar fed by the C++ progress callback (done, total): simulations finished, with an ETA."""

    def __init__(self, enabled: bool, desc: str):
        self.enabled, self.desc, self.bar = enabled, desc, None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            from tqdm.auto import tqdm
            self.bar = tqdm(total=total, desc=self.desc, unit="sim", leave=False)
        self.bar.total = total
        self.bar.update(done - self.bar.n)

    def __enter__(self):
        return self if self.enabled else None

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.close()


def sweep(scenario: "str | os.PathLike | None" = None, *, concurrency: Sequence[float] | None = None,
          qps: Sequence[float] | None = None, set: Mapping[str, Any] | None = None, counterfactuals: bool = True,
          jobs: int = 0, progress: bool = True, refine: int = 4, percentiles=None, client=None) -> SweepFrame:
    """Sweep a scenario (YAML path, or None for the built-in default) across load, as `headroom sweep`:
    `concurrency` (closed-loop users; default 1..200) or `qps` (Poisson rates). `set` maps fields to one
    value (applied to every point) or a list of values (swept too, at most two). Each series' capacity, the
    highest load meeting every SLO, is bisected between the last passing and the first failing load until
    that bracket is 2^refine times narrower (`capacity_load`, `.capacity`; refine=0: the grid). Uses all cores; shows a tqdm
    bar of simulations done (progress=False: none). Ctrl-C (or interrupting the kernel) stops it at once: the
    simulations still running are killed and KeyboardInterrupt is raised.

    `client` (a dask.distributed Client) runs the simulations on its cluster instead of this machine's cores:
    each batch (the grid, then the counterfactuals and capacity probes) is mapped over the workers, every
    simulation still in its own process on its worker. The workers need headroom installed and the scenario's
    files at the same paths (the built-in scenario needs none). The results are bit-identical to a local run."""
    if concurrency is not None and qps is not None:
        raise InputError("qps: give concurrency or qps, not both")
    overrides, axes = [], []
    for key, value in (set or {}).items():
        if isinstance(value, (list, tuple)) and len(value) > 1:
            axes.append((key, [str(v) for v in value]))
        else:
            overrides += _assignments({key: value[0] if isinstance(value, (list, tuple)) else value})
    if len(axes) > 2:
        raise InputError("set: at most two fields can take several values in one sweep")
    kind, loads = ("qps", list(qps)) if qps is not None else ("concurrency", list(concurrency or []))
    if any(not (x > 0) for x in loads):
        raise InputError(f"{kind}: loads must be > 0")
    if not (isinstance(refine, int) and 0 <= refine <= 20):
        raise InputError(f"refine: a whole number from 0 to 20, got {refine!r}")
    overrides += _percentile_overrides(percentiles)
    remote = _remote(client)
    path = "" if scenario is None else os.fspath(scenario)
    with _Progress(progress, "sweep") as bar:
        lines = _h.sweep(path, overrides, kind, loads, axes, counterfactuals, jobs, bar, refine, remote)
    points = [json.loads(line) for line in lines.splitlines() if line]
    frame = SweepFrame([_flatten(p) for p in points])
    return frame


def validate_against(result: "str | os.PathLike", scenario: "str | os.PathLike | None" = None, *, model=None,
                     gpu: "str | None" = None, set=None, seed: int = 0, benchmark: "int | None" = None) -> pd.DataFrame:
    """Prediction next to a load generator's result: a `vllm bench serve --save-result` JSON, GuideLLM's
    benchmarks.json (`benchmark` picks one of several, 0-based) or AIPerf's profile_export_aiperf.json. The same
    load (rate or concurrency, request count, lengths: per request with vLLM's --save-detailed, else the run's
    means) simulated on `gpu` (or the scenario's deployment), one row per metric with `predicted`, `measured`
    (seconds, req/s, tok/s) and `rel_error`. df.attrs holds the notes (what the file did not say), the tool and
    the deployment. A list of files, one per load of a rate or concurrency sweep, gives one frame indexed by
    (load, metric) with both knees (detected the same way) in df.attrs["predicted_knee"] and ["measured_knee"]."""
    if benchmark is not None and not (isinstance(benchmark, int) and benchmark >= 0):
        raise InputError(f"benchmark: a benchmark index >= 0, got {benchmark!r}")
    spec = "" if model is None else (model.source if isinstance(model, ModelCard) else os.fspath(model))
    args = ("" if scenario is None else os.fspath(scenario), spec, gpu or "", _assignments(set), seed,
            -1 if benchmark is None else benchmark)

    def frame(out):
        df = pd.DataFrame(out["comparison"]).set_index("metric")[["predicted", "measured", "rel_error", "unit"]]
        for key in ("notes", "tool", "model", "gpu", "tp", "replicas", "arrival", "requests"):
            df.attrs[key] = out[key]
        df.attrs["benchmark"] = out.get("benchmark")
        return df

    if isinstance(result, (list, tuple)):
        # several files, one per load: a frame indexed by (load, metric), both knees in attrs
        lines = [json.loads(x) for x in _h.validate_against_sweep([os.fspath(r) for r in result], *args).splitlines()]
        knee, runs = lines[-1], lines[:-1]
        parts = []
        for load, out in zip(knee["loads"], runs):
            df = frame(out)
            df.insert(0, "load", load)
            df.insert(1, "file", out["against"])
            parts.append(df.reset_index().set_index(["load", "metric"]))
        df = pd.concat(parts)
        df.attrs.update({"load_kind": knee["load_kind"], "predicted_knee": knee["predicted_knee"],
                         "measured_knee": knee["measured_knee"], "tail": knee["tail"]})
        return df
    return frame(json.loads(_h.validate_against(os.fspath(result), *args)))


def _remote(client):
    """A Dask client as the C++ side's remote runner: each batch of recipes mapped over the cluster's workers
    (simulate_recipe, each simulation in its own process there), results in order; None without a client."""
    if client is None:
        return None

    def remote(recipes):
        return client.gather(client.map(_h.simulate_recipe, recipes, pure=False))
    return remote


def plan(model, qps: float, slo: str, gpus: Sequence[str] = ("h100-sxm", "h200", "b200"),
         workload: "str | os.PathLike | None" = None, set=None, duration_s: float | None = None, top: int = 5,
         jobs: int = 0, progress: bool = True, client=None, disaggregate: bool = False) -> pd.DataFrame:
    """The cheapest deployments meeting every SLO at `qps`, as `headroom plan`: one row per configuration,
    cheapest first ($/hour, $/MTok, tokens/s/GPU, headroom, energy estimate). Each probe simulates
    `duration_s` of arrivals (default 60 s; a trace workload replays its whole trace at the probed rate, since
    its first minutes need not carry its mean rate). Shows a tqdm bar of the
    simulations run (progress=False: none); Ctrl-C stops it, killing the simulations in flight. `client` (a
    dask.distributed Client) runs each round of probes on its cluster; the plan is identical to a local one.
    The workload file, and a model given as a path, must be readable at the same paths on the workers.
    `disaggregate=True` also tries the best fleets split into prefill and decode pools (`plan --disaggregate`);
    their rows have prefill_replicas > 0."""
    spec = model.source if isinstance(model, ModelCard) else os.fspath(model)
    if duration_s is not None and not (0 < duration_s <= 1e7):
        raise InputError(f"duration_s: must be > 0 and at most 1e7 s, got {duration_s}")
    if isinstance(gpus, (str, os.PathLike)):  # plan(gpus="h100") means one GPU, not the letters h, 1, 0, 0
        gpus = [os.fspath(gpus)]
    with _Progress(progress, "plan") as bar:
        out = json.loads(_h.plan(spec, float(qps), slo, list(gpus), "" if workload is None else os.fspath(workload),
                                 _assignments(set), duration_s or 0.0, top, jobs, bar, _remote(client), disaggregate))
    df = pd.DataFrame([_flat(r) for r in out["configurations"]])
    df.attrs["skipped"] = out["skipped"]
    df.attrs["simulations"] = out["simulations"]
    return df


# The list a headroom JSON object keeps its rows in, by schema or command.
_ROWS = {"headroom.plan/1": "configurations", "headroom.validate-against/1": "comparison", "cost": "ops",
         "models": "models", "gpus": "gpus"}


def _flat(obj: Mapping[str, Any], prefix: str = "") -> dict:
    """Nested objects as prefix_key columns (ttft_s.p95 -> ttft_s_p95); lists are left out."""
    row = {}
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if key == "vllm" and not prefix and isinstance(value, Mapping):
            continue
        if isinstance(value, Mapping):
            row.update(_flat(value, f"{name}_"))
        elif not isinstance(value, list):
            row[name] = value
    if not prefix and isinstance(obj.get("vllm"), Mapping):
        for key, value in obj["vllm"].items():  # vLLM's names as they are; where both name a field, headroom's
            row.setdefault(key, value)
    return row


def read_results(path: "str | os.PathLike") -> pd.DataFrame:
    """Any headroom JSON or JSON-lines output as one flat DataFrame, one row per record: `sweep --json` lines
    (a SweepFrame, as headroom.sweep returns), `simulate --json` (one row), `plan --json` (a row per
    configuration), `cost --json` (a row per op), `validate --against --json` (a row per metric), `models` and
    `gpus` (a row per entry), and any other headroom JSON (one row). Nested fields become `name_sub` columns;
    an object's other top-level fields go to df.attrs. Raises InputError naming the file and line."""
    path = os.fspath(path)
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror})") from None
    records = []
    try:
        whole = json.loads(text)
        records = whole if isinstance(whole, list) else [whole]
    except json.JSONDecodeError:
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise InputError(f"{path}: line {n}: not valid JSON ({e.msg})") from None
    if not records or not all(isinstance(r, Mapping) for r in records):
        raise InputError(f"{path}: expected headroom JSON objects (one, or one per line)")
    if all("sweep" in r for r in records):
        return SweepFrame([_flatten(r) for r in records])
    if len(records) == 1:
        rec = records[0]
        key = _ROWS.get(rec.get("schema")) or _ROWS.get(rec.get("command"))
        if key and isinstance(rec.get(key), list):
            df = pd.DataFrame([_flat(r) for r in rec[key]])
            df.attrs.update({k: v for k, v in rec.items() if k != key})
            return df
    return pd.DataFrame([_flat(r) for r in records])


def report(sweep, out: "str | os.PathLike | None" = None) -> str:
    """A self-contained HTML report of a sweep (what headroom.sweep returns, or its JSON lines' dicts): the capacity
    and knee, the saturation figure as inline SVG, every point's row, the explanations and the counterfactuals, in
    one file that opens offline. Writes `out` when given; returns the HTML (`headroom sweep --html` writes the same)."""
    from . import plot as _plot
    return _plot.sweep_report(sweep, None if out is None else os.fspath(out))

