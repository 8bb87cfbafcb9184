"""`headroom sweep` as a user runs it: the table, one JSON line per point with knee, explanations and
counterfactuals, a grid over two fields, the figure, and one-line errors for bad input."""

import json

import pytest

from test_cli import ROOT, expect_bad_input, run

RAG = ROOT / "examples/rag.yaml"


def sweep_json(*args):
    r = run("sweep", *args, "--json")
    assert r.returncode == 0, r.stderr
    return [json.loads(line) for line in r.stdout.splitlines()]


def test_qps_sweep_finds_the_knee_and_explains_every_point():
    # rag on 2 x H100 from 2 to 64 questions/s: one JSON line per point, every point explained
    loads = [2, 4, 8, 16, 24, 32, 48, 64]
    points = sweep_json(RAG, "--qps", ",".join(map(str, loads)), "--set", "workload.duration_s=120")
    assert [p["sweep"]["load"] for p in points] == loads
    for p in points:
        assert p["schema"] == "headroom.simulate/1"
        assert p["sweep"]["explanation"].startswith(f"At {p['sweep']['load_text']}, p95 TTFT is")
        assert p["sweep"]["cause"]
    # Throughput follows the arrival rate until the deployment saturates, then flattens.
    tput = [p["request_throughput"] for p in points]
    assert abs(tput[0] - 2) < 0.5
    assert tput[-1] < 0.9 * 64
    assert points[0]["sweep"]["knee_found"]
    knee = [p for p in points if p["sweep"]["is_knee"]]
    assert len(knee) == 1 and 8 <= knee[0]["sweep"]["load"] <= 48
    # The first point missing an SLO carries the counterfactuals; each one was re-simulated.
    failing = [p for p in points if not p["slos_met"]]
    assert failing, "the sweep should go past the SLOs"
    cf = failing[0]["sweep"]["counterfactuals"]
    labels = [c["change"] for c in cf]
    assert "one more replica" in labels and "fp8 KV cache" in labels and "h200 instead of h100-sxm" in labels
    replica = next(c for c in cf if c["change"] == "one more replica")
    assert abs(replica["cost_factor"] - 1.5) < 1e-9  # 2 -> 3 replicas
    assert all("slos" in c for c in cf if c["fits"])
    assert points[0]["sweep"]["max_stable_load"] < failing[0]["sweep"]["load"]


def test_capacity_is_bisected_between_the_last_passing_and_first_failing_load():
    # The default chat scenario passes at 200 users and misses at 300 (README). With --refine 4 the bracket
    # [200, 300] must end at most 100 / 2^4 = 6.25 users wide, its lower end passing and its upper end failing,
    # and each end re-simulated alone as a one-point sweep must give the same verdict (same seed, same load).
    points = sweep_json("--concurrency", "200,300", "--no-counterfactuals")
    cap = points[0]["sweep"]["capacity"]
    assert cap["kind"] == "bracketed" and cap["grid_load"] == 200 and cap["grid_fail_load"] == 300
    assert 200 <= cap["load"] < cap["fail_load"] <= 300
    assert cap["fail_load"] - cap["load"] <= 6.25 and cap["simulations"] >= 4
    assert all(p["sweep"]["capacity"] == cap for p in points)  # a series-level answer on every row
    at = sweep_json("--concurrency", f"{cap['load']:g},{cap['fail_load']:g}", "--no-counterfactuals", "--refine", "0")
    assert at[0]["slos_met"] and not at[1]["slos_met"]
    assert at[0]["request_throughput"] == cap["request_throughput"]
    # --refine 0 is the grid alone: the answer stays on the grid point
    grid = sweep_json("--concurrency", "200,300", "--no-counterfactuals", "--refine", "0")[0]["sweep"]["capacity"]
    assert (grid["load"], grid["fail_load"], grid["simulations"]) == (200, 300, 0)
    # every swept load passing, or none: said as such
    assert sweep_json("--concurrency", "1,2", "--no-counterfactuals")[0]["sweep"]["capacity"]["kind"] == "above_range"
    below = sweep_json("--concurrency", "400", "--no-counterfactuals")[0]["sweep"]["capacity"]
    assert below["kind"] == "below_range" and below["load"] is None and below["fail_load"] == 400
    expect_bad_input(run("sweep", "--refine", "21"), "--refine")


def test_concurrency_sweep_table():
    r = run("sweep", RAG, "--concurrency", "1,4,16,64", "--set", "workload.duration_s=60", "--no-counterfactuals")
    assert r.returncode == 0, r.stderr
    assert "Knee:" in r.stdout and "Why, point by point:" in r.stdout
    for load in ("1 user", "4 users", "16 users", "64 users"):
        assert load in r.stdout
    assert r.stderr == ""  # no progress bar when stderr is not a terminal


def test_grid_over_two_fields():
    points = sweep_json(RAG, "--qps", "4,16", "--set", "workload.duration_s=60", "--set", "kv_dtype=bf16,fp8",
                        "--set", "gpu=h100,h200", "--no-counterfactuals")
    assert len(points) == 8
    assert {p["sweep"]["series"] for p in points} == {
        "kv_dtype=bf16, gpu=h100", "kv_dtype=bf16, gpu=h200", "kv_dtype=fp8, gpu=h100", "kv_dtype=fp8, gpu=h200"}
    table = run("sweep", RAG, "--qps", "4,16", "--set", "workload.duration_s=60", "--set", "kv_dtype=bf16,fp8",
                "--set", "gpu=h100,h200", "--no-counterfactuals").stdout
    assert "Capacity, the highest load meeting every SLO (kv_dtype down, gpu across)" in table
    # the grid shows each series' bisected capacity, the same number as its JSON rows
    caps = {p["sweep"]["series"]: p["sweep"]["capacity"] for p in points}
    row = next(line for line in table.splitlines() if line.strip().startswith("bf16"))
    cells = [c.strip() for c in row.split("  ") if c.strip()][1:]
    expected = []
    for series in ("kv_dtype=bf16, gpu=h100", "kv_dtype=bf16, gpu=h200"):
        c = caps[series]
        expected.append(f"< {c['fail_load']:g}" if c["kind"] == "below_range" else
                        f">= {c['load']:g}" if c["kind"] == "above_range" else f"{c['load']:g}")
    assert cells == expected


def test_points_that_do_not_fit_are_reported_not_simulated():
    points = sweep_json(RAG, "--qps", "2,4", "--set", "workload.duration_s=30", "--set", "gpu=h100,jetson-orin-nano-8gb",
                        "--no-counterfactuals")
    nano = [p for p in points if "jetson" in p["sweep"]["series"]]
    assert len(nano) == 2 and not any(p["sweep"]["fits"] for p in nano)
    assert "does not fit" in nano[0]["sweep"]["why_not"] or "weights" in nano[0]["sweep"]["why_not"]


def test_plot_writes_a_png(tmp_path):
    out = tmp_path / "saturation.png"
    r = run("sweep", RAG, "--qps", "2,8,32", "--set", "workload.duration_s=30", "--no-counterfactuals", "--plot", out)
    assert r.returncode == 0, r.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 20_000


def test_builtin_default_scenario():
    r = run("simulate", "--json", "--set", "workload.duration_s=20")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert j["scenario"] == "default-chat" and j["model"] == "meta-llama/Llama-3.1-8B-Instruct"
    assert [s["metric"] for s in j["slos"]] == ["ttft", "tpot"]


@pytest.mark.parametrize(
    "args,needles",
    [
        (["--qps", "1,2", "--concurrency", "3"], ["--qps"]),
        (["--qps", "0,2"], ["--qps"]),
        (["--concurrency", "-4"], ["--concurrency"]),
        (["--set", "gpu=h100,h200", "--set", "tp=1,2", "--set", "kv_dtype=bf16,fp8"], ["--set", "at most two"]),
        (["--set", "scheduler.max_num_seqs=1,x"], ["scheduler.max_num_seqs"]),
        (["--set", "nonsense"], ["--set"]),
        (["--jobs", "-1"], ["--jobs"]),
    ],
)
def test_bad_sweeps(args, needles):
    expect_bad_input(run("sweep", RAG, *args), *needles)


@pytest.mark.parametrize("example", sorted((ROOT / "examples").glob("*.yaml")), ids=lambda p: p.name)
def test_sweep_runs_on_every_example(example):
    # a short rate sweep (300 arrivals per point) on each example: every point explained, knee analysed
    points = sweep_json(example, "--qps", "1,4,16,64", "--set", "workload.requests=300")
    assert len(points) == 4
    for p in points:
        assert p["sweep"]["fits"] and p["completed"] > 0
        assert p["sweep"]["explanation"].startswith("At ")
    assert all("knee_found" in p["sweep"] for p in points)


def test_trace_sweeps_scale_the_trace_or_use_its_lengths():
    trace = ROOT / "examples/trace-conv.yaml"
    fast = sweep_json(trace, "--qps", "2,20", "--set", "workload.requests=2000", "--no-counterfactuals")
    # the trace replayed at 2 and at 20 requests/s (its own rate is 5.53/s)
    assert fast[0]["request_throughput"] == pytest.approx(2, rel=0.15)
    assert fast[1]["request_throughput"] > 3 * fast[0]["request_throughput"]
    users = sweep_json(trace, "--concurrency", "4,32", "--set", "workload.duration_s=60", "--no-counterfactuals")
    assert users[1]["request_throughput"] > users[0]["request_throughput"]


def test_plan_with_a_trace_workload():
    r = run("plan", "--model", "llama-3.1-8b", "--qps", "10", "--slo", "ttft_p95=2s,tpot_p95=50ms", "--workload",
            ROOT / "examples/trace-conv.yaml", "--gpus", "h100", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["configurations"][0]["meets"]
