"""How tokens spread over an MoE model's experts (`cost --moe-routing`, the scenario's `moe_routing:`): the count
of experts a step reaches under each routing, the time that follows, and one error line for a wrong value."""

import json

from test_cli import ROOT, expect_bad_input, run

SERVING = ROOT / "bench" / "serving_h100.yaml"
MIXTRAL = ["-m", "mistralai/Mixtral-8x7B-v0.1", "-g", "h100", "--tp", "2"]


def cost(*args):
    r = run("cost", *MIXTRAL, *args, "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def gate_up(j):
    return next(o for o in j["ops"] if o["name"] == "moe_gate_up_proj")


def test_the_roofline_streams_the_experts_each_routing_reaches():
    # Mixtral, top-2 of 8, 4 decodes: balanced picks reach min(4 x 2, 8) = 8 experts, independent ones
    # 8 (1 - 0.75^4) = 5.46875. Each expert's gate/up weights at TP 2: 2 x 14336 x 4096 x 2 B / 2 = 117,440,512 B a
    # layer, over 32 layers; the activations (8 rows in, 8 out: 4 x 2 x (4096 + 14336) x 2 B) are the same in both.
    by = {r: cost("--decode-batch", "4", "--context", "1000", "--predictor", "roofline", "--moe-routing", r)
          for r in ("balanced", "independent", "power_law_1.01")}
    assert by["balanced"]["config"]["moe_routing"] == "balanced"
    weights = 117_440_512 * 32
    diff = gate_up(by["balanced"])["bytes"] - gate_up(by["independent"])["bytes"]
    assert abs(diff - (8 - 5.46875) * weights) < 1e3
    # skewed routing reaches fewer still, so the step is faster at decode sizes
    assert gate_up(by["power_law_1.01"])["bytes"] < gate_up(by["independent"])["bytes"]
    assert by["balanced"]["time_s"] > by["independent"]["time_s"] > by["power_law_1.01"]["time_s"]


def test_under_the_tables_power_law_reads_the_rows_timed_with_it():
    j = cost("--decode-batch", "4", "--context", "1000", "--moe-routing", "power_law_1.01")
    assert "rows timed with power_law_1.01 routing" in gate_up(j)["source"]
    j = cost("--decode-batch", "4", "--context", "1000")
    assert "independent picks" in gate_up(j)["source"] and j["config"]["moe_routing"] == "independent"
    dense = json.loads(run("cost", "-m", "llama-3.1-8b", "-g", "h100", "--tokens", "10", "--json").stdout)
    assert dense["config"]["moe_routing"] is None


def test_a_scenario_names_its_routing_and_the_run_reports_it():
    def sim(*sets):
        r = run("simulate", SERVING, "--json", "--set", "model=mistralai/Mixtral-8x7B-v0.1", "--set", "tp=2",
                "--set", "workload.duration_s=20", *[x for s in sets for x in ("--set", s)])
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)
    independent, balanced = sim(), sim("moe_routing=balanced")
    assert independent["moe_routing"] == "independent" and balanced["moe_routing"] == "balanced"
    # at 1 req/s a step holds a few decodes: balanced routing streams more experts, so TPOT is longer
    low = ["workload.arrival.rate=1"]
    assert sim(*low, "moe_routing=balanced")["tpot_s"]["mean"] > sim(*low)["tpot_s"]["mean"]
    dense = json.loads(run("simulate", SERVING, "--json", "--set", "workload.duration_s=5").stdout)
    assert dense["moe_routing"] is None


def test_wrong_routings_are_refused(tmp_path):
    expect_bad_input(run("cost", *MIXTRAL, "--tokens", "10", "--moe-routing", "zipf"), "--moe-routing", "zipf",
                     "independent, balanced, power_law_1.01, power_law_1.2")
    expect_bad_input(run("cost", "-m", "llama-3.1-8b", "-g", "h100", "--tokens", "10", "--moe-routing", "balanced"),
                     "--moe-routing", "has no routed experts")
    path = tmp_path / "s.yaml"
    path.write_text(SERVING.read_text() + "moe_routing: balanced\n")
    expect_bad_input(run("simulate", path), str(path), "moe_routing", "has no routed experts")
    path.write_text(SERVING.read_text().replace("model: ", "moe_routing: power_law\nmodel: ", 1))
    expect_bad_input(run("simulate", path, "--set", "model=mistralai/Mixtral-8x7B-v0.1", "--set", "tp=2"), str(path),
                     "moe_routing", "unknown routing \"power_law\"")


def test_a_plan_keeps_the_workloads_routing_for_an_moe_model_and_drops_it_for_a_dense_one(tmp_path):
    # moe_routing describes the workload's MoE router: a plan with another MoE model runs it (the step times
    # follow it, so the predicted TPOT moves), and a plan with a dense model drops it instead of refusing.
    def plan(model, routing):
        path = tmp_path / f"{routing}.yaml"
        path.write_text(SERVING.read_text() + f"moe_routing: {routing}\n")
        r = run("plan", "--model", model, "--qps", "2", "--slo", "ttft_p95=2s,tpot_p95=50ms", "--workload", path,
                "--gpus", "h100", "--duration", "20", "--json")
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)["configurations"][0]
    tpot = {routing: plan("mistralai/Mixtral-8x7B-v0.1", routing)["tpot_s_p95"] for routing in ("balanced", "power_law_1.01")}
    assert tpot["balanced"] != tpot["power_law_1.01"]
    assert plan("llama-3.1-8b", "balanced")["meets"]


def test_a_null_routing_is_the_default():
    r = run("simulate", SERVING, "--json", "--set", "workload.duration_s=5", "--set", "moe_routing=~")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["moe_routing"] is None
