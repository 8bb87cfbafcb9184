"""Pipeline, data and expert parallelism and multi-node TP in `headroom simulate`: the GPUs a replica takes, the
links its placement on a cluster gives it, the pipeline bubble and the expert load it reports, and one error line
per impossible layout."""

import json

from test_cli import ROOT, expect_bad_input, run

COLOCATED = ROOT / "examples" / "colocated-llama70b.yaml"
WIDE_EP = ROOT / "examples" / "gb200-nvl72-deepseek-ep.yaml"


def simulate(path, *sets):
    r = run("simulate", path, "--json", *[x for s in sets for x in ("--set", s)])
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_pipeline_stages_across_nodes():
    j = simulate(COLOCATED, "cluster=h100-4node-ib", "tp=8", "pp=2", "replicas=2", "workload.duration_s=60")
    p = j["parallelism"]
    assert p["pp"] == 2 and p["gpus_per_replica"] == 16 and j["gpus"] == 32
    # two DGX nodes per replica: stage 0 on one node, stage 1 on the next, over each GPU's 400G rail (50 GB/s)
    assert "2 stages across NVLink domains (50 GB/s" in p["placement"]
    # at a few requests per second the pipeline is often short of micro-batches: a real bubble, below one stage idle
    # out of two
    assert 0.0 < p["bubble_share"] < 0.5
    assert p["expert_imbalance"] is None


def test_a_pipeline_split_of_ones_own():
    # Llama-3.3-70B at TP 4 x PP 2: vLLM splits its 80 layers 40 / 40; given 44 / 36 (VLLM_PP_LAYER_PARTITION), the
    # first stage holds 44 layers of KV and weights and binds, and its blocks fall by more than the 10% its 4 more
    # layers of KV alone cost
    even = simulate(COLOCATED, "tp=4", "pp=2", "workload.duration_s=30")
    mine = simulate(COLOCATED, "tp=4", "pp=2", "pp_layer_partition=[44,36]", "workload.duration_s=30")
    assert mine["kv_blocks"] < even["kv_blocks"] * 40 / 44


def test_tensor_parallel_across_two_nodes_is_slower_than_within_one():
    one = simulate(COLOCATED, "cluster=h100-4node-ib", "tp=8", "replicas=2", "workload.duration_s=60")
    two = simulate(COLOCATED, "cluster=h100-4node-ib", "tp=16", "replicas=1", "workload.duration_s=60",
                   "workload.arrival.rate=0.5")
    assert "TP 16 over 2 NVLink domains (50 GB/s" in two["parallelism"]["placement"]
    assert "TP 8 in one NVLink domain" in one["parallelism"]["placement"]
    # same model, twice the GPUs per replica and a light load: a TPOT no better than half of TP 8's would mean the
    # fabric all-reduce were free; it is not, and it is not catastrophic either
    assert 0.5 * one["tpot_s"]["p50"] < two["tpot_s"]["p50"] < 1.5 * one["tpot_s"]["p50"]


def test_wide_expert_parallelism_on_an_nvl72():
    j = simulate(WIDE_EP, "workload.duration_s=30")
    p = j["parallelism"]
    assert p["data_parallel"] == 40 and p["expert_parallel"] and p["ep"] == 40 and p["gpus_per_replica"] == 40
    assert j["gpus"] == 72  # 4 x TP 8 prefill + 40 decode
    # 256 experts over 40 ranks: 16 ranks hold 7, the rest 6; the busiest carries at least 7 / (256 / 40) = 1.09375x
    assert 1.09375 <= p["expert_imbalance"] < 1.6
    assert "EP 40 all-to-all (900 GB/s" in p["placement"]
    assert j["slos_met"]
    # the same rack as nine TP 8 islands that prefill and decode each misses the TPOT SLO at this load
    islands = simulate(WIDE_EP, "workload.duration_s=30", "disaggregation.prefill.replicas=0", "data_parallel=1",
                       "expert_parallel=false", "tp=8", "replicas=9")
    assert islands["gpus"] == 72 and islands["parallelism"]["ep"] == 1
    assert islands["tpot_s"]["p95"] > j["tpot_s"]["p95"]


def test_gather_backend_runs_every_rank_tokens_on_every_gpu():
    # The example sends each token to its experts' GPUs (DeepEP); vLLM's default backend gathers all 40 ranks'
    # tokens onto every GPU, whose fused-MoE call then sorts 40x the pairs and whose collectives carry 40x the
    # hidden states: at the example's 100 req/s (some 170 sequences a decode step, 4 a rank) the decode steps are
    # slower, and more so as the load grows
    short = ("workload.duration_s=30",)
    deepep = simulate(WIDE_EP, *short)
    gather = simulate(WIDE_EP, *short, "all2all_backend=allgather_reducescatter")
    assert deepep["parallelism"]["all2all_backend"] == "deepep_low_latency"
    assert gather["parallelism"]["all2all_backend"] == "allgather_reducescatter"
    assert gather["tpot_s"]["mean"] > 1.2 * deepep["tpot_s"]["mean"]
    light = simulate(WIDE_EP, *short, "workload.arrival.rate=20", "all2all_backend=allgather_reducescatter")
    assert gather["tpot_s"]["mean"] / deepep["tpot_s"]["mean"] > 1.05 * light["tpot_s"]["mean"] / simulate(
        WIDE_EP, *short, "workload.arrival.rate=20")["tpot_s"]["mean"]
    # the backend is a DP + EP setting: without DP it is not reported
    assert simulate(WIDE_EP, *short, "data_parallel=1", "tp=8")["parallelism"]["all2all_backend"] is None


def test_prefill_pool_expert_parallelism_of_its_own():
    # The example's prefill replicas slice their experts over TP 8; with expert parallelism they hold 32 whole
    # experts each, which GB200's fused-MoE tables time at 1.7-3.3x the TP 8 time for 1,024-8,192-token prompts
    # (tp 1 / ep 8 rows against tp 8 / ep 1), so at a light load the time to first token grows
    light = ("workload.duration_s=30", "workload.arrival.rate=5")
    tp = simulate(WIDE_EP, *light)
    ep = simulate(WIDE_EP, *light, "disaggregation.prefill.expert_parallel=true")
    assert ep["ttft_s"]["mean"] > 1.3 * tp["ttft_s"]["mean"]
    # the decode pool's layout is its own
    assert ep["parallelism"]["ep"] == tp["parallelism"]["ep"] == 40


def test_no_parallelism_block_off_a_cluster():
    j = simulate(COLOCATED, "workload.duration_s=20")
    assert j["parallelism"] is None


def test_bad_layouts(tmp_path):
    text = COLOCATED.read_text()
    path = tmp_path / "bad.yaml"

    def bad(extra, *needles, base=text):
        path.write_text(base.replace("replicas: 4\n", "replicas: 4\n" + extra))
        expect_bad_input(run("simulate", path), str(path), *needles)

    bad("pp: 81\n", "pp", "81 stages for 80 layers")
    bad("pp: 0\n", "pp")
    bad("data_parallel: 2\n", "data_parallel", "expert_parallel")
    bad("expert_parallel: true\n", "expert_parallel", "has no experts")
    bad("expert_imbalance: 1.2\n", "expert_imbalance", "expert_parallel")
    bad("cluster: dgx-h100\n", "cluster", "has 8 GPUs; 4 replicas of 4 GPUs")
    bad("cluster: gb200-nvl72\n", "cluster", "is gb200, but the deployment runs on h100-sxm")
    bad("cluster: nowhere\n", "cluster")
    # vLLM's VLLM_PP_LAYER_PARTITION as pp_layer_partition: a count a stage, each at least 1, the model's 80 in all
    bad("pp: 2\npp_layer_partition: [40, 41]\n", "pp_layer_partition", "81 layers", "has 80")
    bad("pp: 2\npp_layer_partition: [80]\n", "pp_layer_partition", "1 stages' layers for pp 2")
    bad("pp: 2\npp_layer_partition: [0, 80]\n", "pp_layer_partition")
    bad("pp: 2\npp_layer_partition: 40\n", "pp_layer_partition", "a list of layer counts")
    ep = WIDE_EP.read_text()
    path.write_text(ep.replace("expert_parallel: true", "expert_parallel: true\nexpert_imbalance: 0.5"))
    expect_bad_input(run("simulate", path), str(path), "expert_imbalance", "below 1")
    path.write_text(ep.replace("data_parallel: 40", "data_parallel: 40\npp: 2"))
    expect_bad_input(run("simulate", path), str(path), "data_parallel", "not modelled")
    path.write_text(ep.replace("  prefill: {gpu: gb200, tp: 8, replicas: 4, expert_parallel: false}",
                               "  prefill: {gpu: gb200, tp: 8, replicas: 4, expert_parallel: false}\n  cluster: gb200-nvl72"))
    expect_bad_input(run("simulate", path), str(path), "disaggregation.cluster", "give it once")
    path.write_text(ep.replace("all2all_backend: deepep_low_latency", "all2all_backend: nvshmem"))
    expect_bad_input(run("simulate", path), str(path), "all2all_backend", "'nvshmem' is not one of")
    path.write_text(ep.replace("expert_parallel: false}", "expert_parallel: maybe}"))
    expect_bad_input(run("simulate", path), str(path), "disaggregation.prefill.expert_parallel")
    bad("disaggregation:\n  prefill: {tp: 4, replicas: 1, expert_parallel: true}\n",
        "disaggregation.prefill.expert_parallel", "has no experts")
