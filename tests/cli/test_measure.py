"""`headroom measure step|serve` and `headroom validate` as a user runs them. Without a GPU each says so in
one line and exits 3 (CI has no GPU); with --device cpu the same pipeline runs on the plain C++ reference
(a tiny model) and prints the simulate schema plus the device; bad input exits 2 like every command."""

import json
import subprocess

import pytest

from test_cli import BIN, DATA, ROOT, expect_bad_input, run
from test_simulate import SCHEMA_FIELDS

TINY = DATA / "executor" / "tiny-llama.json"
TINY_SERVE = DATA / "executor" / "tiny-serve.yaml"


def has_gpu():
    try:
        return subprocess.run(["nvidia-smi", "-L"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


NO_GPU = pytest.mark.skipif(has_gpu(), reason="this machine has a GPU")


@NO_GPU
@pytest.mark.parametrize("args", [
    ["measure", "step", "-m", "meta-llama/Llama-3.1-8B-Instruct", "--decode-batch", "1", "--context", "512"],
    ["measure", "serve"],
    ["validate"],
    ["validate", "--sweep"],
])
def test_without_a_gpu_one_line_and_exit_3(args):
    r = run(*args)
    assert r.returncode == 3, r.stderr
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: no GPU to measure on:")


def test_serve_on_the_cpu_reference_prints_the_simulate_schema_and_the_device():
    r = run("measure", "serve", TINY_SERVE, "--device", "cpu", "--duration", "0.5", "--json")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert list(j)[:len(SCHEMA_FIELDS)] == SCHEMA_FIELDS
    assert j["source"] == "measured"
    assert j["device"]["name"].startswith("CPU reference")
    assert j["layers_run"] == j["layers_model"] == 2
    assert j["completed"] > 0 and j["completed"] + j["rejected"] == j["requests"]
    assert j["ttft_s"]["p50"] <= j["ttft_s"]["p95"] <= j["ttft_s"]["p99"]


def test_validate_on_the_cpu_reference_compares_every_metric():
    r = run("validate", TINY_SERVE, "--device", "cpu", "--duration", "0.5", "--json")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert j["schema"] == "headroom.validate/1"
    assert j["predicted"]["kv_blocks"] == j["measured"]["kv_blocks"]  # both ran with the executor's cache
    metrics = {c["metric"]: c for c in j["comparison"]}
    for m in ["TTFT p50", "TTFT p95", "TPOT p95", "ITL p95", "E2E p99", "output throughput"]:
        c = metrics[m]
        if c["measured"]:
            assert c["rel_error"] == pytest.approx((c["predicted"] - c["measured"]) / c["measured"])
    table = run("validate", TINY_SERVE, "--device", "cpu", "--duration", "0.3")
    assert table.returncode == 0 and "TTFT p95" in table.stdout and "error" in table.stdout


def test_duration_ends_follow_up_turns_too(tmp_path):
    # Open-loop sessions of 2-4 turns (think times 10-50 ms): with --duration 0.3 no request, first turn or
    # follow-up, starts at or after 0.3 s, so the run ends soon after; the scenario alone (duration_s 0.3 of
    # session arrivals) would let the sessions' later turns run on past it.
    import csv

    out = tmp_path / "requests.csv"
    r = run("measure", "serve", DATA / "executor" / "tiny-sessions.yaml", "--device", "cpu", "--duration", "0.3",
            "--requests", out, "--json")
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(out.open()))
    assert rows and max(float(x["arrival_s"]) for x in rows) < 0.3
    assert any(int(x["turn"]) > 0 for x in rows)
    j = json.loads(r.stdout)
    assert j["requests"] == len(rows)


def test_a_real_time_run_shows_its_progress_on_a_terminal():
    # stderr on a pseudo-terminal: a line rewritten about once a second, cleared before the results
    import os
    import pty

    master, slave = pty.openpty()
    p = subprocess.run([BIN, "measure", "serve", str(TINY_SERVE), "--device", "cpu", "--duration", "1.5", "--json"],
                       stdout=subprocess.PIPE, stderr=slave, text=True, timeout=120)
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    assert p.returncode == 0
    text = seen.decode()
    assert "\r  serving: 1 s, " in text and " requests done, " in text and " in flight" in text
    assert text.endswith("\r" + " " * 100 + "\r")  # cleared
    assert json.loads(p.stdout)["completed"] > 0


def test_measure_step_on_the_cpu_reference():
    r = run("measure", "step", "-m", TINY, "--device", "cpu", "--tokens", "64", "--iterations", "3", "--json")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert j["schema"] == "headroom.measure-step/1" and j["kind"] == "prefill" and j["tokens"] == 64
    assert j["step_s"]["n"] == 3 and j["step_s"]["p50"] > 0
    assert {"qkv_proj", "attention", "lm_head"} <= {o["name"] for o in j["ops"]}


@pytest.mark.parametrize("args,needle", [
    (["measure", "step", "-m", str(TINY), "--device", "cpu", "--tokens", "8", "--decode-batch", "2"], "either --tokens"),
    (["measure", "step", "-m", str(TINY), "--device", "cpu"], "either --tokens"),
    (["measure", "step", "-m", "mistralai/Mixtral-8x7B-v0.1", "--device", "cpu", "--tokens", "8"], "Llama family"),
    (["measure", "step", "-m", str(TINY), "--device", "tpu", "--tokens", "8"], "device must be"),
    (["measure", "serve", str(TINY_SERVE), "--device", "cpu", "--set", "tp=2"], "tp 1"),
    # the advice names the scenario's real keys (it used to say precision.weights / precision.kv_cache)
    (["measure", "serve", str(TINY_SERVE), "--device", "cpu", "--set", "weights_dtype=fp8"], "set weights_dtype and kv_dtype to bf16"),
    (["measure", "serve", str(DATA / "scenarios" / "unknown_field.yaml"), "--device", "cpu"], "unknown_field.yaml"),
])
def test_bad_input_exit_2(args, needle):
    r = run(*args)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert r.stdout == ""
    assert len(r.stderr.strip().splitlines()) == 1 and needle in r.stderr


TINY_TRACE = DATA / "executor" / "tiny-trace.yaml"


def test_validate_sweep_on_a_trace_draws_the_trace_lengths_like_sweep():
    # Regression: validate --sweep set closed_loop on the struct by hand, so a trace workload's users got
    # 1-token prompts (1,001 requests with 1,001 input tokens). Every prompt in tiny-trace.csv is 50-100
    # tokens and every answer 4-12, so each predicted and measured request must lie in those ranges.
    r = run("validate", TINY_TRACE, "--sweep", "--concurrency", "2", "--device", "cpu", "--duration", "0.4", "--json")
    assert r.returncode == 0, r.stderr
    point = json.loads(r.stdout.splitlines()[0])
    assert point["users"] == 2
    for side in ("predicted", "measured"):
        j = point[side]
        assert j["completed"] > 0
        assert 50 * j["completed"] <= j["input_tokens"] <= 100 * j["completed"], (side, j["input_tokens"], j["completed"])
    # the last line holds both knees; one sweep point has no knee, so both are null
    knee = json.loads(r.stdout.splitlines()[-1])
    assert knee == {"schema": "headroom.validate-knee/1", "predicted_knee_users": None, "measured_knee_users": None}
