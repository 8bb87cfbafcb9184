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
