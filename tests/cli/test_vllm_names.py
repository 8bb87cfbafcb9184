"""`simulate --json`'s `vllm` block: the run under `vllm bench serve`'s names (mean/median/std/pNN of TTFT,
TPOT, ITL and E2EL in ms) at the percentiles asked for (--metric-percentiles, vLLM's option), checked against a
reference implementation: numpy's percentile and std over the per-request CSV of the same run."""

import csv
import json

import numpy as np
import pandas as pd
import pytest

import headroom
from test_cli import ROOT, expect_bad_input, run

RAG = ROOT / "examples/rag.yaml"


def test_the_vllm_block_equals_numpy_over_the_requests(tmp_path):
    out = tmp_path / "requests.csv"
    r = run("simulate", RAG, "--set", "workload.duration_s=20", "--metric-percentiles", "50,90,99,99.9", "--json",
            "--requests", out)
    assert r.returncode == 0, r.stderr
    v = json.loads(r.stdout)["vllm"]
    rows = [row for row in csv.DictReader(open(out)) if row["rejected"] == "0" and row["ttft_s"]]
    ttft = np.array([float(x["ttft_s"]) for x in rows]) * 1e3
    e2e = np.array([float(x["e2e_s"]) for x in rows]) * 1e3
    tpot = np.array([float(x["tpot_s"]) for x in rows if int(x["generated"]) > 1]) * 1e3
    assert v["completed"] == len(rows)
    # the CSV holds seconds to the microsecond: agreement to 1 us
    close = dict(rel=1e-9, abs=1e-3)
    for name, x in (("ttft", ttft), ("e2el", e2e), ("tpot", tpot)):
        assert v[f"mean_{name}_ms"] == pytest.approx(x.mean(), **close)
        assert v[f"median_{name}_ms"] == pytest.approx(np.median(x), **close)
        assert v[f"std_{name}_ms"] == pytest.approx(x.std(), **close)  # np.std: population, as vLLM's
        for p, key in ((50, "p50"), (90, "p90"), (99, "p99"), (99.9, "p99.9")):
            assert v[f"{key}_{name}_ms"] == pytest.approx(np.percentile(x, p), **close), (name, p)
    # ITL is per gap (not in the CSV): its percentiles are ordered and its median is the summary's
    assert v["p50_itl_ms"] <= v["p90_itl_ms"] <= v["p99_itl_ms"] <= v["p99.9_itl_ms"]
    assert v["total_token_throughput"] == pytest.approx(v["request_throughput"] * 0 + (
        v["total_input_tokens"] + v["total_output_tokens"]) / v["duration"], rel=1e-9)


def test_default_is_vllms_p99_and_bad_percentiles_are_input_errors():
    v = json.loads(run("simulate", RAG, "--set", "workload.duration_s=10", "--json").stdout)["vllm"]
    assert "p99_ttft_ms" in v and "p90_ttft_ms" not in v
    expect_bad_input(run("simulate", RAG, "--metric-percentiles", "100"), "metric_percentiles", "below 100")
    expect_bad_input(run("simulate", RAG, "--metric-percentiles", "99,99"), "listed twice")
    expect_bad_input(run("simulate", RAG, "--metric-percentiles", "x"), "metric_percentiles")


def test_python_frames_carry_vllms_names():
    r = headroom.simulate(RAG, set={"workload.duration_s": 10}, percentiles=[90, 99.9])
    assert r.summary["vllm"]["p99.9_ttft_ms"] >= r.summary["vllm"]["p90_ttft_ms"]
    s = headroom.sweep(RAG, qps=[2, 4], set={"workload.duration_s": 10}, counterfactuals=False, progress=False,
                       percentiles=[50, 99])
    for col in ("mean_ttft_ms", "median_tpot_ms", "p99_itl_ms", "p50_e2el_ms", "request_goodput", "total_token_throughput"):
        assert col in s.columns, col
    assert list(s["mean_ttft_ms"]) == pytest.approx(list(s["ttft_s_mean"] * 1e3), rel=1e-12)
    with pytest.raises(headroom.InputError, match="percentiles"):
        headroom.simulate(RAG, percentiles=["p99"])
