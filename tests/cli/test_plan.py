"""`headroom plan`: the cheapest fleet that meets the SLOs, checked independently by simulating the chosen
fleet (it must meet every SLO) and the same fleet with one replica fewer (it must not)."""

import json

import pytest

from test_cli import ROOT, expect_bad_input, run

SLO = "ttft_p95=2s,tpot_p95=50ms"


def simulate_fleet(c, qps, replicas):
    sets = [f"model=meta-llama/Llama-3.1-8B-Instruct", f"gpu={c['gpu']}", f"tp={c['tp']}",
            f"weights_dtype={c['weights_dtype']}", f"kv_dtype={c['kv_dtype']}",
            f"scheduler.max_num_batched_tokens={c['max_num_batched_tokens']}", "workload.shape=single",
            "workload.arrival.process=poisson", f"workload.arrival.rate={qps}", "workload.duration_s=60",
            f"replicas={replicas}", "router=least_outstanding", "slo.ttft_p95_s=2", "slo.tpot_p95_s=0.05"]
    r = run("simulate", "--json", "--set", *sets)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_plan_finds_the_smallest_fleet_that_meets_the_slos():
    r = run("plan", "--model", "llama-3.1-8b", "--qps", "90", "--slo", SLO, "--gpus", "h100-sxm", "--json")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert j["schema"] == "headroom.plan/1"
    configs = j["configurations"]
    meeting = [c for c in configs if c["meets"]]
    assert meeting and configs[0]["meets"]
    assert [c["usd_per_hour"] for c in meeting] == sorted(c["usd_per_hour"] for c in meeting)
    best = configs[0]
    assert best["replicas"] >= 2, "90 req/s should need more than one H100"
    assert best["usd_per_hour"] == pytest.approx(best["gpus"] * 3.00)
    assert best["headroom_rate"] >= 90
    assert simulate_fleet(best, 90, best["replicas"])["slos_met"]
    assert not simulate_fleet(best, 90, best["replicas"] - 1)["slos_met"]


def test_plan_table_and_three_gpu_types():
    r = run("plan", "--model", "llama-3.1-8b", "--qps", "20", "--slo", SLO, "--duration", "30", "--top", "3")
    assert r.returncode == 0, r.stderr
    assert "Cheapest:" in r.stdout and "J/token" in r.stdout
    assert r.stdout.count(" x ") >= 3


def test_plan_rows_are_distinct_and_a_quantised_checkpoint_keeps_its_format():
    # DeepSeek-V3 ships block-scaled fp8: vLLM runs it in that format (it quantises only 16-bit checkpoints to
    # fp8), so the plan tries it as shipped only, and no two rows share a configuration. Its 690 GB of weights
    # fit no TP up to 8 on H100 (80 GB each), so H100 takes TP 8 with two pipeline stages (16 GPUs, vLLM's
    # multi-node layout); H200 (141 GB) fits TP 8, and its next layout is TP 8 x PP 2.
    r = run("plan", "--model", "deepseek-ai/DeepSeek-V3", "--qps", "2", "--slo", "ttft_p95=2s,tpot_p95=100ms",
            "--gpus", "h100-sxm,h200", "--duration", "20", "--json", "--top", "20")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    configs = j["configurations"]
    assert configs
    keys = [(c["gpu"], c["tp"], c["pp"], c["replicas"], c["weights_dtype"], c["kv_dtype"], c["speculative"],
             c["max_num_batched_tokens"], c["prefill_replicas"]) for c in configs]
    assert len(keys) == len(set(keys)), keys
    assert {c["weights_dtype"] for c in configs} == {"fp8"}
    h100 = [c for c in configs if c["gpu"] == "h100-sxm"]
    assert h100 and {(c["tp"], c["pp"]) for c in h100} <= {(8, 2), (8, 4)} and (8, 2) in {(c["tp"], c["pp"]) for c in h100}
    for c in h100:
        assert c["gpus"] == c["replicas"] * 8 * c["pp"]
        assert c["usd_per_hour"] == pytest.approx(c["gpus"] * 3.00)
    assert {(c["tp"], c["pp"]) for c in configs if c["gpu"] == "h200"} == {(8, 1), (8, 2)}
    assert not [s for s in j["skipped"] if "does not fit" in s]
    # the row is a scenario: TP 8 x PP 2 on H100 simulated alone gives the plan's numbers
    best = next(c for c in h100 if c["pp"] == 2 and c["kv_dtype"] == "bf16")
    sim = run("simulate", "--json", "--set", "model=deepseek-ai/DeepSeek-V3", "--set", "gpu=h100-sxm", "--set", "tp=8",
              "--set", "pp=2", "--set", f"replicas={best['replicas']}", "--set", "kv_dtype=bf16",
              "--set", f"scheduler.max_num_batched_tokens={best['max_num_batched_tokens']}", "--set", "workload.shape=single",
              "--set", "workload.arrival.process=poisson", "--set", "workload.arrival.rate=2", "--set", "workload.duration_s=20",
              "--set", "router=least_outstanding", "--set", "slo.ttft_p95_s=2", "--set", "slo.tpot_p95_s=0.1")
    assert sim.returncode == 0, sim.stderr
    p = json.loads(sim.stdout)
    assert (p["ttft_s"]["p95"], p["tpot_s"]["p95"]) == (best["ttft_s_p95"], best["tpot_s_p95"])


@pytest.mark.parametrize(
    "args,needles",
    [
        (["--model", "llama-3.1-8b", "--qps", "5", "--slo", "ttft<2s"], ["--slo", "ttft<2s"]),
        (["--model", "llama-3.1-8b", "--qps", "5", "--slo", "ttft_p95=2h"], ["--slo"]),
        (["--model", "llama-3.1-8b", "--qps", "0", "--slo", SLO], ["--qps"]),
        (["--model", "llama-3.1-8b", "--qps", "5", "--slo", SLO, "--gpus", "h900"], ["h900"]),
        (["--model", "no-such-model", "--qps", "5", "--slo", SLO], ["no-such-model"]),
        (["--model", "llama-3.3-70b", "--qps", "5", "--slo", SLO, "--gpus", "jetson-orin-nano-8gb"],
         ["no configuration", "does not fit"]),
    ],
)
def test_bad_plans(args, needles):
    expect_bad_input(run("plan", *args), *needles)


@pytest.mark.parametrize("example", sorted((ROOT / "examples").glob("*.yaml")), ids=lambda p: p.name)
def test_plan_on_every_example_workload(example):
    model = {"embedding.yaml": "all-MiniLM-L6-v2", "agent.yaml": "Qwen2.5-7B"}.get(example.name, "llama-3.1-8b")
    r = run("plan", "--model", model, "--qps", "5", "--slo", SLO, "--workload", example, "--gpus", "h100,l40s",
            "--duration", "30", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["configurations"][0]["meets"]


def test_plan_keeps_the_workloads_token_budget():
    # a token budget set on the workload must reach every candidate (it used to be forced to 8192)
    r = run("plan", "--model", "llama-3.1-8b", "--qps", "5", "--slo", SLO, "--gpus", "h100", "--duration", "30",
            "--set", "scheduler.max_num_batched_tokens=2048", "--json")
    assert r.returncode == 0, r.stderr
    assert {c["max_num_batched_tokens"] for c in json.loads(r.stdout)["configurations"]} == {2048}


def test_plan_tries_speculative_decoding_beside_each_configuration():
    # A tight TPOT SLO at low load: speculation (EAGLE-3, k = 3, the assumed acceptance) is what meets it on one
    # H100, so the cheapest plan is a speculative one, and the table says so; both variants of each
    # configuration were searched.
    r = run("plan", "--model", "llama-3.1-8b", "--qps", "2", "--slo", "ttft_p95=2s,tpot_p95=4.5ms", "--gpus", "h100-sxm",
            "--duration", "30", "--speculative", "--json", "--top", "20")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert j["speculative"]["method"] == "eagle3" and j["speculative"]["acceptance_assumed"]
    configs = j["configurations"]
    assert {c["speculative"] for c in configs} == {True, False}
    assert configs[0]["meets"] and configs[0]["speculative"]
    # without speculation no single-GPU configuration meets 4.5 ms (a plain decode step of the 8B model on one H100
    # is over 4.5 ms: about 5 ms with fp8 weights, 6 with bf16): they are left out or need more GPUs
    assert not [c for c in configs if not c["speculative"] and c["meets"] and c["gpus"] <= configs[0]["gpus"]]
    t = run("plan", "--model", "llama-3.1-8b", "--qps", "2", "--slo", "ttft_p95=2s,tpot_p95=4.5ms", "--gpus", "h100-sxm",
            "--duration", "30", "--speculative", "--top", "3")
    assert "also tried with speculative decoding" in t.stdout and ", spec" in t.stdout
    assert "TP1 w:bf16 kv:bf16: misses the SLOs" in t.stdout  # the plain variant, left out


def test_a_trace_plan_replays_the_whole_trace_at_each_rate():
    # The conversation trace runs at 5.0/s for its first 1,200 s and 6.9/s from 1,200 to 1,800 s, so a probe of its
    # first minute would not see its busiest part. Without --duration the plan replays all of it: its numbers at
    # the target equal a one-point sweep of the chosen fleet at that rate, which completes every one of the
    # trace's requests (19,366 rows in examples/traces/splitwise_conv.csv).
    trace = ROOT / "examples/trace-conv.yaml"
    r = run("plan", "--model", "llama-3.1-8b", "--qps", "12", "--slo", SLO, "--gpus", "h100", "--workload", trace,
            "--top", "1", "--json")
    assert r.returncode == 0, r.stderr
    c = json.loads(r.stdout)["configurations"][0]
    rows = sum(1 for _ in open(ROOT / "examples/traces/splitwise_conv.csv")) - 1
    assert rows == 19366
    s = run("sweep", trace, "--qps", "12", "--set", f"gpu={c['gpu']}", "--set", f"tp={c['tp']}",
            "--set", f"replicas={c['replicas']}", "--set", f"weights_dtype={c['weights_dtype']}",
            "--set", f"kv_dtype={c['kv_dtype']}", "--set", f"scheduler.max_num_batched_tokens={c['max_num_batched_tokens']}",
            "--set", "router=least_outstanding", "--no-counterfactuals", "--json")
    assert s.returncode == 0, s.stderr
    p = json.loads(s.stdout.splitlines()[0])
    assert p["completed"] == rows
    assert (p["ttft_s"]["p95"], p["tpot_s"]["p95"]) == (c["ttft_s_p95"], c["tpot_s_p95"])
    # one vocabulary: the plan's fields are simulate's, flattened (ttft_s.p95 -> ttft_s_p95), plus vLLM's names
    assert c["output_tokens_per_s_per_gpu"] == p["output_tokens_per_s_per_gpu"]
    assert c["vllm"]["mean_ttft_ms"] == p["vllm"]["mean_ttft_ms"] and c["vllm"]["p99_ttft_ms"] == p["vllm"]["p99_ttft_ms"]
    # an explicit --duration still caps each probe
    expect_bad_input(run("plan", "--model", "llama-3.1-8b", "--qps", "12", "--slo", SLO, "--duration", "0"), "--duration")


def rebuilt_split(tmp_path, c, tpot_s, rate):
    """A plan's split configuration as a scenario of its own: the colocated 70B workload with its pools and the
    assumed link (50 GB/s per TP rank on the side with fewer ranks, 5 us), simulated as the plan probed it."""
    workload = ROOT / "examples/colocated-llama70b.yaml"
    text = workload.read_text().replace("replicas: 4", f"replicas: {c['replicas']}").replace("tp: 4", f"tp: {c['tp']}")
    text = text.replace("gpu: h100\n", f"gpu: {c['gpu']}\n")
    text += (f"disaggregation:\n  prefill: {{gpu: {c['prefill_gpu']}, tp: {c['prefill_tp']}, replicas: {c['prefill_replicas']}}}\n"
             f"  link: {{bandwidth_gb_per_s: {50 * min(c['tp'], c['prefill_tp'])}, latency_us: 5}}\n")
    path = tmp_path / f"split-{c['prefill_gpu']}.yaml"
    path.write_text(text)
    s = run("simulate", path, "--json", "--set", f"weights_dtype={c['weights_dtype']}", "--set", f"kv_dtype={c['kv_dtype']}",
            "--set", f"scheduler.max_num_batched_tokens={c['max_num_batched_tokens']}", "--set", f"workload.arrival.rate={rate}",
            "--set", "workload.duration_s=60", "--set", f"slo.tpot_p95_s={tpot_s}")
    assert s.returncode == 0, s.stderr
    return json.loads(s.stdout)


def test_plan_disaggregate_tries_prefill_decode_splits_and_its_numbers_hold(tmp_path):
    # Llama-3.3-70B with a tight TPOT SLO (25 ms): colocated fleets pay for prefill chunks in their decode steps,
    # so --disaggregate also tries the best fleets as prefill + decode pools, and the best one's pools with the
    # prefill pool on the plan's other GPU type. The cheapest splits, rebuilt as scenarios, simulate to the plan's
    # numbers and meet both SLOs. (At 5.5 req/s the cheapest split, one H200 TP 2 decode replica and two prefill
    # replicas, meets TTFT p95 with half its 2 s to spare; at 6 req/s the cheapest split had been one TP 4 prefill
    # replica on H100 at 1.98 s, which the all-reduce paths of the forty-third session pushed past 2 s.)
    workload = ROOT / "examples/colocated-llama70b.yaml"
    r = run("plan", "--model", "llama-3.3-70b", "--qps", "5.5", "--slo", "ttft_p95=2s,tpot_p95=25ms", "--gpus", "h100,h200",
            "--workload", workload, "--disaggregate", "--top", "60", "--json")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert j["disaggregated_link"].startswith("an ideal link of 50 GB/s per TP rank, 5 us")
    splits = [c for c in j["configurations"] if c["prefill_replicas"] > 0 and c["meets"]]
    assert splits, "no split meets the SLOs"
    same = min((c for c in splits if c["prefill_gpu"] == c["gpu"]), key=lambda x: (x["usd_per_hour"], x["usd_per_mtok"]))
    # the best fleet's pools with the prefill pool on the other GPU type are tried (whether they meet the SLOs
    # depends on the GPUs: here a small h200 TP 1 prefill pool misses TTFT)
    mixed = [c for c in j["configurations"] if c["prefill_replicas"] > 0 and c["prefill_gpu"] != c["gpu"]]
    assert mixed, "no split with its prefill pool on the other GPU type was tried"
    for c in (same, min(mixed, key=lambda x: (x["usd_per_hour"], x["usd_per_mtok"]))):
        assert c["gpus"] == c["prefill_replicas"] * c["prefill_tp"] + c["replicas"] * c["tp"]
        assert c["headroom_rate"] is None and c["sustained_rate_per_replica"] is None
        p = rebuilt_split(tmp_path, c, 0.025, rate=5.5)
        assert (p["ttft_s"]["p95"], p["tpot_s"]["p95"]) == (c["ttft_s_p95"], c["tpot_s_p95"])
        assert p["slos_met"] == c["meets"] and p["disaggregation"]["requests_disaggregated"] == p["completed"]
        assert abs(p["cost_usd"] / p["duration_s"] * 3600 - c["usd_per_hour"]) < 1e-9  # both pools at their prices
    # the cheapest split undercuts every colocated fleet that meets the SLOs
    colocated = [x for x in j["configurations"] if x["prefill_replicas"] == 0 and x["meets"]]
    assert min(c["usd_per_hour"] for c in splits) < min(x["usd_per_hour"] for x in colocated)
