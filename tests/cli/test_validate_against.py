"""`headroom validate --against`: a `vllm bench serve --save-result` JSON read field by field (the files in
tests/data/bench_results are written from vllm/benchmarks/serve.py's schema; they are test inputs, not
measurements), the load it describes rebuilt, simulated and compared; every broken file an input error."""

import json
import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest

import headroom

ROOT = Path(__file__).resolve().parents[2]
BIN = os.environ.get("HEADROOM_BIN", str(ROOT / "build" / "cli" / "headroom"))
DATA = ROOT / "tests" / "data" / "bench_results"


def run(*args):
    return subprocess.run([BIN, *map(str, args)], capture_output=True, text=True, timeout=300)


def against(name, *extra):
    r = run("validate", "--against", DATA / name, "--json", *extra)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def rows(j):
    return {c["metric"]: c for c in j["comparison"]}


def test_a_rate_run_becomes_poisson_arrivals_with_the_files_numbers_as_measured():
    src = json.loads((DATA / "vllm_rate4.json").read_text())
    j = against("vllm_rate4.json", "--gpu", "h100")
    assert (j["model"], j["gpu"], j["arrival"], j["rate"], j["requests"]) == \
        ("meta-llama/Llama-3.1-8B-Instruct", "h100-sxm", "poisson", 4.0, 200)
    r = rows(j)
    # the measured column is the file's, ms -> s
    assert r["TTFT mean"]["measured"] == pytest.approx(src["mean_ttft_ms"] / 1e3, rel=1e-12)
    assert r["TPOT median"]["measured"] == pytest.approx(src["median_tpot_ms"] / 1e3, rel=1e-12)
    assert r["ITL p99"]["measured"] == pytest.approx(src["p99_itl_ms"] / 1e3, rel=1e-12)
    assert r["output throughput"]["measured"] == src["output_throughput"]
    # std is not compared; ITL p99.9 cannot be (the simulation keeps p50-p99 of the gaps), and says so
    assert not any(m.startswith("TTFT std") for m in r)
    assert any("ITL p99.9" in n for n in j["notes"])
    # no per-request lengths: 102,400 / 200 = 512 prompt and 25,600 / 200 = 128 output tokens, said in a note
    assert any("512 prompt and 128 output tokens" in n for n in j["notes"])
    # every request completes, and a stable open loop serves what arrives: 200 requests at 4/s
    # (the span of 200 Poisson gaps is 50 s +- 3.5 s, so the throughput is 4 req/s within about 10%)
    assert r["completed"]["predicted"] == 200 and r["completed"]["rel_error"] == 0
    assert r["request throughput"]["predicted"] == pytest.approx(4.0, rel=0.2)
    for c in j["comparison"]:
        assert c["rel_error"] == pytest.approx((c["predicted"] - c["measured"]) / c["measured"], rel=1e-9)


def test_burstiness_becomes_gamma_gaps_with_cv_one_over_sqrt_burstiness():
    j = against("vllm_bursty.json", "--gpu", "h100")
    assert j["arrival"] == "gamma" and j["cv"] == pytest.approx(0.5)  # burstiness 4: CV 1 / sqrt(4)


def test_a_concurrency_run_with_detailed_lengths_becomes_closed_loop_users():
    j = against("vllm_detailed_concurrency.json", "--gpu", "h100")
    assert j["arrival"] == "closed_loop" and j["users"] == 2 and j["requests"] == 8
    # per-request lengths are in the file: no note about the means
    assert not any("the run's means" in n for n in j["notes"])
    assert rows(j)["completed"]["measured"] == 7  # one request failed in the measurement


def test_the_table_and_the_same_from_python():
    r = run("validate", "--against", DATA / "vllm_rate4.json", "--gpu", "h100")
    assert r.returncode == 0, r.stderr
    assert "TTFT p99" in r.stdout and "output throughput" in r.stdout and "note:" in r.stdout
    df = headroom.validate_against(DATA / "vllm_rate4.json", gpu="h100")
    assert isinstance(df, pd.DataFrame) and list(df.columns) == ["predicted", "measured", "rel_error", "unit"]
    cli = rows(against("vllm_rate4.json", "--gpu", "h100"))
    assert df.loc["TTFT p99", "predicted"] == cli["TTFT p99"]["predicted"]  # same seed, same simulation
    assert df.attrs["arrival"] == "poisson"
    with pytest.raises(headroom.InputError, match="gpu: missing"):
        headroom.validate_against(DATA / "vllm_rate4.json")


def expect_bad(result, *needles):
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for n in needles:
        assert n in lines[0], lines[0]


@pytest.mark.parametrize("name,needles", [
    ("bad_duplicate.json", ["bad_duplicate.json", "num_prompts: duplicate key"]),
    ("bad_missing_prompts.json", ["bad_missing_prompts.json", "num_prompts: missing"]),
    ("bad_rate.json", ["bad_rate.json", "request_rate: expected a number or \"inf\""]),
    ("bad_none_completed.json", ["bad_none_completed.json", "completed: 0"]),
    ("bad_truncated.json", ["bad_truncated.json", "not valid JSON"]),
    ("bad_model_path.json", ["bad_model_path.json", "model_id: /root/models/my-private-model", "--model"]),
    ("does_not_exist.json", ["does_not_exist.json", "cannot open file"]),
])
def test_broken_result_files(name, needles):
    expect_bad(run("validate", "--against", DATA / name, "--gpu", "h100"), *needles)


def test_usage_errors():
    expect_bad(run("validate", "--against", DATA / "vllm_rate4.json"), "gpu: missing")
    expect_bad(run("validate", "--against", DATA / "vllm_rate4.json", "--gpu", "h100", "--sweep"), "--sweep")
    expect_bad(run("validate", "--gpu", "h100"), "--against")
    # --model names what the file's model_id cannot
    ok = run("validate", "--against", DATA / "bad_model_path.json", "--gpu", "h100", "--model", "llama-3.1-8b", "--json")
    assert ok.returncode == 0, ok.stderr


# GuideLLM's benchmarks.json and AIPerf's profile_export_aiperf.json (tests/data/bench_results: written from their
# documented schemas, test inputs, not measurements): the load each describes, and their numbers as measured.

def test_a_guidellm_report_names_its_benchmarks_and_each_becomes_its_load():
    expect_bad(run("validate", "--against", DATA / "guidellm_benchmarks.json", "--gpu", "h100", "--model", "llama-3.1-8b"),
               "holds 2 benchmarks (0: poisson@4/s, 1: concurrent@8)", "--benchmark")
    src = json.loads((DATA / "guidellm_benchmarks.json").read_text())["benchmarks"]
    j = against("guidellm_benchmarks.json", "--gpu", "h100", "--model", "llama-3.1-8b", "--benchmark", "0")
    assert (j["tool"], j["arrival"], j["rate"], j["requests"]) == ("GuideLLM", "poisson", 4.0, 200)
    assert j["benchmark"] == "benchmark 0 of 2: poisson@4/s"
    r, m = rows(j), src[0]["metrics"]
    # GuideLLM's milliseconds -> s; its inter-token latency ((last - first token) / (tokens - 1)) is vLLM's TPOT;
    # its request latency is already in seconds; p999 is p99.9
    assert r["TTFT mean"]["measured"] == pytest.approx(m["time_to_first_token_ms"]["successful"]["mean"] / 1e3, rel=1e-12)
    assert r["TPOT p95"]["measured"] == pytest.approx(m["inter_token_latency_ms"]["successful"]["percentiles"]["p95"] / 1e3,
                                                      rel=1e-12)
    assert r["E2E p99.9"]["measured"] == m["request_latency"]["successful"]["percentiles"]["p999"]
    assert r["output throughput"]["measured"] == m["output_tokens_per_second"]["successful"]["mean"]
    assert r["completed"]["predicted"] == 200
    j1 = against("guidellm_benchmarks.json", "--gpu", "h100", "--model", "llama-3.1-8b", "--benchmark", "1")
    assert (j1["arrival"], j1["users"], j1["requests"]) == ("closed_loop", 8, 160)
    expect_bad(run("validate", "--against", DATA / "guidellm_benchmarks.json", "--gpu", "h100", "--model", "llama-3.1-8b",
                   "--benchmark", "2"), "has 2 benchmarks, no benchmark 2")
    expect_bad(run("validate", "--against", DATA / "guidellm_benchmarks.json", "--gpu", "h100", "--benchmark", "0"),
               "model: missing", "--model")  # a GuideLLM report does not name its model


def test_an_aiperf_export_becomes_its_load():
    j = against("aiperf_profile_export.json", "--gpu", "h100")
    assert (j["tool"], j["model"], j["arrival"], j["users"], j["requests"]) == \
        ("AIPerf", "meta-llama/Llama-3.1-8B-Instruct", "closed_loop", 8, 160)
    r = rows(j)
    assert r["TTFT p99"]["measured"] == pytest.approx(0.061, rel=1e-12)   # 61.0 ms
    assert r["TPOT mean"]["measured"] == pytest.approx(0.0102, rel=1e-12)  # its per-request inter_token_latency
    assert r["E2E median"]["measured"] == pytest.approx(1.32, rel=1e-12)   # request_latency p50, 1320 ms
    assert r["duration"]["measured"] == 27.1
    df = headroom.validate_against(DATA / "aiperf_profile_export.json", gpu="h100")
    assert df.attrs["tool"] == "AIPerf" and df.loc["TTFT p99", "measured"] == pytest.approx(0.061)
    g = headroom.validate_against(DATA / "guidellm_benchmarks.json", gpu="h100", model="llama-3.1-8b", benchmark=1)
    assert g.attrs["benchmark"] == "benchmark 1 of 2: concurrent@8"
    with pytest.raises(headroom.InputError, match="benchmark"):
        headroom.validate_against(DATA / "guidellm_benchmarks.json", gpu="h100", benchmark=-1)


@pytest.mark.parametrize("name,extra,needles", [
    ("bad_aiperf_unit.json", [], ["time_to_first_token.unit", "unknown time unit \"fortnights\""]),
    ("bad_guidellm_strategy.json", ["--model", "llama-3.1-8b", "--benchmark", "0"],
     ["benchmarks[0].config.strategy.type_", "unknown strategy \"sweep\""]),
    ("vllm_rate4.json", ["--benchmark", "0"], ["benchmarks: missing", "GuideLLM"]),
])
def test_broken_guidellm_and_aiperf_files(name, extra, needles):
    expect_bad(run("validate", "--against", DATA / name, "--gpu", "h100", *extra), *needles)


def knee_reference(x, y):
    """detect_knee's method written again in numpy: the continuous two-segment line a + b x + c max(0, x - k) with
    the least squared error over the interior loads k; a knee when the slope after (b + c) is under half of b."""
    import numpy as np
    x, y = np.asarray(x, float), np.asarray(y, float)
    best = None
    for k in x[1:-1]:
        A = np.column_stack([np.ones_like(x), x, np.maximum(0, x - k)])
        coef, *_ = np.linalg.lstsq(A, y, rcond=None)
        sse = float(np.sum((A @ coef - y) ** 2))
        if best is None or sse < best[0]:
            best = (sse, k, coef)
    _, k, (a, b, c) = best
    return k if b > 0 and (b + c) < 0.5 * b else None


def test_several_files_give_both_curves_and_both_knees(tmp_path):
    # a rate sweep run with vllm bench serve, written from one file: throughput follows the rate up to 8/s, then
    # flattens (synthetic measurements)
    src = json.loads((DATA / "vllm_rate4.json").read_text())
    rates, tput = [2, 4, 8, 16, 32], [250.0, 500.0, 1000.0, 1300.0, 1350.0]
    files = []
    for rate, t in zip(rates, tput):
        f = dict(src, request_rate=float(rate), output_throughput=t, request_throughput=t / 128, num_prompts=200,
                 completed=200, total_input_tokens=102400, total_output_tokens=25600,
                 mean_ttft_ms=40.0 * rate, median_ttft_ms=38.0 * rate, p99_ttft_ms=90.0 * rate)
        path = tmp_path / f"rate{rate}.json"
        path.write_text(json.dumps(f))
        files.append(path)
    r = run("validate", "--against", *reversed(files), "--gpu", "h100", "--json")
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert [x["rate"] for x in lines[:-1]] == rates  # by increasing load, whatever the order given
    k = lines[-1]
    assert k["schema"] == "headroom.validate-against-knee/1" and k["loads"] == rates and k["tail"] == "TTFT p99"
    assert k["measured_knee"] == knee_reference(rates, tput) == 8
    predicted = [next(c["predicted"] for c in x["comparison"] if c["metric"] == "output throughput") for x in lines[:-1]]
    assert k["predicted_knee"] == knee_reference(rates, predicted)
    table = run("validate", "--against", *files, "--gpu", "h100")
    assert table.returncode == 0 and "Saturation, predicted against measured (5 files, by request rate)" in table.stdout
    assert "Knee, predicted:" in table.stdout and "measured: 8/s" in table.stdout
    # a rate file and a concurrency file are not one sweep; nor are two files at the same rate
    expect_bad(run("validate", "--against", files[0], DATA / "vllm_detailed_concurrency.json", "--gpu", "h100"),
               "every file at a request rate, or every file at a concurrency")
    expect_bad(run("validate", "--against", files[0], files[0], "--gpu", "h100"), "the same load")


def test_several_files_from_python_and_on_one_figure(tmp_path):
    src = json.loads((DATA / "vllm_rate4.json").read_text())
    files = []
    for rate, t in zip([2, 4, 8, 16, 32], [250.0, 500.0, 1000.0, 1300.0, 1350.0]):
        path = tmp_path / f"rate{rate}.json"
        path.write_text(json.dumps(dict(src, request_rate=float(rate), output_throughput=t, p99_ttft_ms=90.0 * rate)))
        files.append(path)
    df = headroom.validate_against(files, gpu="h100")
    assert list(df.index.get_level_values("load").unique()) == [2, 4, 8, 16, 32]
    assert df.loc[(8, "output throughput"), "measured"] == 1000.0
    assert df.attrs["measured_knee"] == 8 and df.attrs["load_kind"] == "qps" and df.attrs["tail"] == "TTFT p99"
    fig = headroom.plot.against(df, tmp_path / "against.png")
    assert (tmp_path / "against.png").stat().st_size > 10_000 and len(fig.axes) == 2
