"""The Python API (`import headroom`): every function, against the same hand-computed numbers as the C++
tests and against the CLI's output for the same inputs; bad input raises headroom.InputError with the
CLI's one-line message."""

import json
import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest

import headroom

ROOT = Path(__file__).resolve().parents[2]
BIN = os.environ.get("HEADROOM_BIN", str(ROOT / "build" / "cli" / "headroom"))
CHAT = ROOT / "examples" / "chat.yaml"
RAG = ROOT / "examples" / "rag.yaml"


def cli(*args):
    return subprocess.run([BIN, *map(str, args)], capture_output=True, text=True, timeout=300)


def test_load_model_by_name_path_dict():
    by_name = headroom.load_model("meta-llama/Llama-3.1-8B-Instruct")
    by_path = headroom.load_model(ROOT / "models/configs/meta-llama__Llama-3.1-8B-Instruct.json")
    as_dict = headroom.load_model(json.loads((ROOT / "models/configs/meta-llama__Llama-3.1-8B-Instruct.json").read_text()))
    for m in (by_name, by_path, as_dict):
        assert m.params()["total"] == 8_030_261_248  # hand count in tests/models/test_model_card.cpp
    # Llama-3.3-70B at bf16: 2 x 80 x 8 x 128 x 2 = 327,680 B per token
    assert headroom.load_model("llama-3.3-70b").kv_bytes_per_token("bf16") == 327_680
    assert headroom.load_model("DeepSeek-V2-Lite").is_mla
    assert "meta-llama/Llama-3.1-8B-Instruct" in headroom.models()


def test_load_gpu_with_overrides():
    g = headroom.load_gpu("h100", memory__bandwidth_gb_per_s=3000)
    assert g.name == "h100-sxm"
    value, source = g.fields()["memory.bandwidth_gb_per_s"]
    assert value == 3000 and "load_gpu()" in source
    assert g.peak_flops("bf16") == 989e12
    assert len(headroom.gpus()) == 9


def test_kv_plan_matches_the_hand_computation():
    # tests/core/test_kv_planner.cpp Llama8B_on_H100_by_hand: 27,879 blocks, 54 sequences at 8k, 6,960 tokens at 64
    p = headroom.kv_plan("llama-3.1-8b", "h100", reserve_bytes=2e9, context=8192, concurrency=64)
    assert (p.num_blocks, p.kv_tokens, p.max_concurrency_at_context, p.max_context_at_concurrency) == (
        27_879, 446_064, 54, 6_960)
    d = p.to_dict()
    assert d["fits"] and d["num_blocks"] == 27_879
    assert not headroom.kv_plan("llama-3.3-70b", "h100").fits


def test_kv_plan_without_cuda_graphs_keeps_no_pool_for_them():
    # vLLM's --enforce-eager captures no graphs: the planner's 0.8 GiB estimate of their pool goes to the KV cache
    graphed = headroom.kv_plan("llama-3.1-8b", "h100")
    eager = headroom.kv_plan("llama-3.1-8b", "h100", cuda_graphs=False)
    assert eager.reserve["cuda_graph_bytes"] == 0 and graphed.reserve["cuda_graph_bytes"] == 0.8 * 1024**3
    assert eager.kv_budget_bytes - graphed.kv_budget_bytes == pytest.approx(0.8 * 1024**3)
    cli_json = json.loads(cli("kv", "-m", "llama-3.1-8b", "-g", "h100", "--no-cuda-graphs", "--json").stdout)
    assert cli_json["per_gpu"]["reserve_estimate"]["cuda_graph_bytes"] == 0
    assert cli_json["per_gpu"]["num_blocks"] == eager.num_blocks


def test_kv_plan_stages_as_vllm_splits_the_layers():
    # Llama-3.1-8B at PP 3: vLLM's get_pp_indices gives 11, 11, 10 layers (32 // 3 = 10, the remainder of 2 to
    # the two stages before the last). The first stage's 11 layers of KV and the embedding hold the fewest
    # blocks; every stage keeps that many.
    p = headroom.kv_plan("llama-3.1-8b", "h100", pp=3, max_model_len=4096)
    assert [s["layers"] for s in p.stages] == [11, 11, 10]
    assert [s["first_layer"] for s in p.stages] == [0, 11, 22]
    assert p.binding_stage == 0 and p.num_blocks == min(s["blocks"] for s in p.stages) == p.stages[0]["blocks"]
    assert p.kv_bytes_per_token == 11 * 2 * 8 * 128 * 2
    cli_json = json.loads(cli("kv", "-m", "llama-3.1-8b", "-g", "h100", "--pp", "3", "--max-model-len", "4096",
                              "--json").stdout)
    assert cli_json["binding_stage"] == 0
    assert [s["blocks"] for s in cli_json["stages"]] == [s["blocks"] for s in p.stages]
    # a split of one's own (vLLM's VLLM_PP_LAYER_PARTITION): 10, 11, 11 puts the 11 layers beside lm_head and the
    # sampler, and the last stage binds with fewer blocks than vLLM's own split gives
    own = headroom.kv_plan("llama-3.1-8b", "h100", pp=3, pp_layer_partition=[10, 11, 11], max_model_len=4096)
    assert [s["layers"] for s in own.stages] == [10, 11, 11] and own.binding_stage == 2
    assert own.num_blocks < p.num_blocks
    with pytest.raises(ValueError, match="pp.layer.partition"):
        headroom.kv_plan("llama-3.1-8b", "h100", pp=3, pp_layer_partition=[10, 11])


@pytest.mark.parametrize(
    "model, tp, weights, peak, non_torch, kv",
    [
        # vLLM 0.19.0's startup log on H100 80GB at gpu_memory_utilization 0.95 (llm-d-incubation/llm-d-planner,
        # accuracy/results/v0.19.0/logs): "Actual usage is 14.99 GiB for weight, 1.89 GiB for peak activation,
        # 0.25 GiB for non-torch memory, and 0.91 GiB for CUDAGraph memory ... kv cache memory in use is 58.11 GiB"
        ("llama-3.1-8b", 1, 14.99, 1.89, 0.25, 58.11),
        ("google/gemma-2-9b", 1, 17.22, 3.65, 0.25, 54.12),  # its 256,000-token vocabulary: the sampler's peak
        ("Qwen/Qwen1.5-MoE-A2.7B", 1, 26.67, 2.47, 0.25, 45.83),  # the fused MoE's workspace, not fitted
        # accuracy_report.md: 7.51 GiB of weights, 1.89 peak, 2.07 non-torch at TP 2 (NCCL's NVLink SHARP buffers);
        # the KV cache is the rest of 0.95 x 79.19 GiB
        ("llama-3.1-8b", 2, 7.51, 1.89, 2.07, 0.95 * 79.19 - 7.51 - 1.89 - 2.07),
    ],
)
def test_kv_plan_keeps_out_what_vllm_logged(model, tp, weights, peak, non_torch, kv):
    gib = 1024**3
    p = headroom.kv_plan(model, "h100", tp=tp, gpu_memory_utilization=0.95, max_model_len=4096)
    assert p.usable_bytes / gib == pytest.approx(79.19, abs=0.01)
    assert p.weight_bytes / gib == pytest.approx(weights, rel=0.01)
    assert p.reserve["peak_activation_bytes"] / gib == pytest.approx(peak, abs=0.08)
    assert p.reserve["non_torch_bytes"] / gib == pytest.approx(non_torch, abs=0.08)
    # vLLM 0.19 did not take the CUDA graphs' estimated pool out of the KV cache; vLLM 0.21 on (and headroom) do
    assert (p.kv_budget_bytes + p.reserve["cuda_graph_bytes"]) / gib == pytest.approx(kv, rel=0.005)


def test_cost_is_a_dataframe_matching_the_cli():
    df = headroom.cost("llama-3.3-70b", "h200", decode_batch=1, context=128)
    assert isinstance(df, pd.DataFrame) and "qkv_proj" in df.index and set(df["bound"]) >= {"memory", "overhead"}
    cli_json = json.loads(cli("cost", "-m", "llama-3.3-70b", "-g", "h200", "--decode-batch", "1", "--context", "128",
                              "--json").stdout)
    assert df.attrs["time_s"] == pytest.approx(cli_json["time_s"], rel=1e-12)
    assert 1 / df.attrs["time_s"] == pytest.approx(30, rel=0.15)  # vLLM measures ~30 tokens/s
    # CUDA graph padding, as the CLI's JSON says: 257 decodes run as 272 (multiples of 16 past 256), 1 as 1
    assert df.attrs["graph_tokens"] == cli_json["graph_tokens"] == 1
    assert headroom.cost("llama-3.1-8b", "h100", decode_batch=257, context=100).attrs["graph_tokens"] == 272


def test_cost_prices_an_encoders_prefill_and_refuses_its_decodes():
    df = headroom.cost("all-MiniLM-L6-v2", "l40s", tokens=300)
    cli_json = json.loads(cli("cost", "-m", "all-MiniLM-L6-v2", "-g", "l40s", "--tokens", "300", "--json").stdout)
    assert df.attrs["time_s"] == pytest.approx(cli_json["time_s"], rel=1e-12)
    assert "rope" not in df.index and "attention" in df.index  # BERT's positions are learned: no rotary
    with pytest.raises(ValueError, match="decode_batch: .* is an encoder"):
        headroom.cost("all-MiniLM-L6-v2", "l40s", decode_batch=2, context=10)
    with pytest.raises(ValueError, match="prefill_context: .* is an encoder"):
        headroom.cost("all-MiniLM-L6-v2", "l40s", tokens=100, prefill_context=10)


def test_cost_takes_the_moe_routing_as_the_cli_does():
    args = dict(tp=2, decode_batch=4, context=1000)
    cli_json = json.loads(cli("cost", "-m", "mistralai/Mixtral-8x7B-v0.1", "-g", "h100", "--tp", "2", "--decode-batch",
                              "4", "--context", "1000", "--moe-routing", "balanced", "--json").stdout)
    balanced = headroom.cost("mistralai/Mixtral-8x7B-v0.1", "h100", moe_routing="balanced", **args)
    assert balanced.attrs["time_s"] == pytest.approx(cli_json["time_s"], rel=1e-12)
    # balanced picks reach all 8 experts, independent ones 5.5 of them: a slower step
    assert balanced.attrs["time_s"] > headroom.cost("mistralai/Mixtral-8x7B-v0.1", "h100", **args).attrs["time_s"]


def test_simulate_matches_a_fresh_cli_process():
    r = headroom.simulate(CHAT)
    assert r.to_json() == cli("simulate", CHAT, "--json").stdout.strip()
    assert r.summary["completed"] == len(r.requests) and len(r.timeseries) > 0
    assert r.requests["ttft_s"].mean() == pytest.approx(r.summary["ttft_s"]["mean"], rel=1e-9)


def test_repeated_simulate_in_one_process_is_identical():
    a = headroom.simulate(RAG, set={"workload.duration_s": 60})
    b = headroom.simulate(RAG, set={"workload.duration_s": 60})
    assert a.to_json() == b.to_json()
    c = headroom.simulate(RAG, set={"workload.duration_s": 60}, seed=12)
    assert c.summary["seed"] == 12 and c.to_json() != a.to_json()


def test_simulate_a_dict_and_the_builtin_default():
    scenario = {"model": "llama-3.1-8b", "gpu": "h100",
                "workload": {"shape": "single", "arrival": {"process": "poisson", "rate": 2},
                             "prompt_tokens": 300, "output_tokens": 50, "requests": 100},
                "seed": 1}
    r = headroom.simulate(scenario)
    assert r.summary["completed"] == 100
    assert r.summary["file"] == "<dict>" and r.summary["model"] == "meta-llama/Llama-3.1-8B-Instruct"
    d = headroom.simulate(None, set={"workload.duration_s": 20})
    assert d.summary["scenario"] == "default-chat"


def test_sweep_frame_knee_and_explanations():
    s = headroom.sweep(RAG, qps=[2, 8, 16, 32, 64], set={"workload.duration_s": 60})
    assert isinstance(s, headroom.SweepFrame) and len(s) == 5
    assert list(s["load"]) == [2, 8, 16, 32, 64]
    knee = s.knee  # always a DataFrame: one row per scenario and series
    assert isinstance(knee, pd.DataFrame) and len(knee) == 1
    assert knee["found"].iloc[0] and 8 <= knee["load"].iloc[0] <= 32
    assert len(s.explanations) == 5 and s.explanations[0].startswith("At 2 req/s")
    assert s.counterfactuals and {"change", "restores", "cost_factor"} <= set(s.counterfactuals[0])
    # filters carry their rows' explanations and points, not the whole sweep's
    high = s[s["load"] >= 16]
    assert len(high) == 3 and len(high.explanations) == 3 and len(high.points) == 3
    assert high.explanations[0].startswith("At 16 req/s")
    assert "point" not in repr(high).splitlines()[0]  # the raw JSON column is not shown
    grid = headroom.sweep(RAG, qps=[4, 16], set={"workload.duration_s": 30, "kv_dtype": ["bf16", "fp8"]},
                          counterfactuals=False)
    assert set(grid["series"]) == {"kv_dtype=bf16", "kv_dtype=fp8"}
    assert sorted(grid["kv_dtype"]) == ["bf16", "bf16", "fp8", "fp8"]  # a column per swept field
    assert list(grid.knee.index.get_level_values("series")) == ["kv_dtype=bf16", "kv_dtype=fp8"]
    # two sweeps concatenated: one frame, every knee
    both = pd.concat([s, grid])
    assert isinstance(both, headroom.SweepFrame) and len(both) == 9 and len(both.knee) == 3
    assert len(both.points) == 9
    # the capacity answer: bisected inside the grid's bracket, one row per series, following concat too
    cap = s.capacity
    assert len(cap) == 1 and cap["kind"].iloc[0] == "bracketed"
    passing = s[s["slos_met"]]["load"].max()
    failing = s[~s["slos_met"]]["load"].min()
    assert passing <= cap["load"].iloc[0] < cap["fail_load"].iloc[0] <= failing
    assert list(s["capacity_load"].unique()) == [cap["load"].iloc[0]]
    assert len(both.capacity) == 3
    with pytest.raises(headroom.InputError, match="refine"):
        headroom.sweep(RAG, qps=[2], refine=-1)


def test_plan_dataframe():
    df = headroom.plan("llama-3.1-8b", qps=20, slo="ttft_p95=2s,tpot_p95=50ms", gpus=["h100"], duration_s=30)
    assert df.iloc[0]["meets"] and df.iloc[0]["gpu"] == "h100-sxm"
    assert list(df["usd_per_hour"]) == sorted(df["usd_per_hour"])


def test_plots_return_figures(tmp_path):
    r = headroom.simulate(RAG, set={"workload.duration_s": 30}, keep_all_steps=True)
    s = headroom.sweep(RAG, qps=[2, 8, 32], set={"workload.duration_s": 30}, counterfactuals=False)
    for fig, name in ((headroom.plot.saturation(s), "sat.png"), (headroom.plot.latency_cdf(r), "cdf.png"),
                      (headroom.plot.kv_timeline(r), "kv.png")):
        assert len(fig.axes) >= 2
        fig.savefig(tmp_path / name)
        assert (tmp_path / name).stat().st_size > 10_000


@pytest.mark.parametrize(
    "call,cli_args,field",
    [
        (lambda: headroom.load_model(ROOT / "tests/data/configs/heads_do_not_divide.json"),
         ["card", "-m", ROOT / "tests/data/configs/heads_do_not_divide.json"], "num_key_value_heads"),
        (lambda: headroom.load_gpu(ROOT / "tests/data/profiles/missing_source.yaml"),
         ["gpu", "-g", ROOT / "tests/data/profiles/missing_source.yaml"], "compute_tflops.fp16.source"),
        (lambda: headroom.simulate(ROOT / "tests/data/scenarios/unknown_shape.yaml"),
         ["simulate", ROOT / "tests/data/scenarios/unknown_shape.yaml"], "workload.shape"),
        (lambda: headroom.simulate(ROOT / "tests/data/scenarios/does_not_fit.yaml"),
         ["simulate", ROOT / "tests/data/scenarios/does_not_fit.yaml"], "does not fit"),
    ],
)
def test_errors_carry_the_cli_message(call, cli_args, field):
    with pytest.raises(headroom.InputError) as e:
        call()
    assert field in str(e.value)
    assert str(e.value) == cli(*cli_args).stderr.strip().removeprefix("error: ")


@pytest.mark.parametrize(
    "call,needle",
    [
        (lambda: headroom.load_model("no-such-model"), "no-such-model"),
        (lambda: headroom.load_gpu("h100", memory__speed=3), "memory.speed"),
        # Python names keyword arguments, not the CLI's flags: "tp: 3 does not divide ...", not "--tp: ..."
        (lambda: headroom.kv_plan("llama-3.1-8b", "h100", tp=3), "tp: 3 does not divide"),
        (lambda: headroom.kv_plan("llama-3.1-8b", "h100", gpu_memory_utilization=2), "gpu_memory_utilization: must be"),
        (lambda: headroom.kv_plan("llama-3.1-8b", "h100", kv_dtype="fp7"), "kv_dtype"),
        (lambda: headroom.kv_plan("llama-3.1-8b", "h100", dp=2, expert_parallel=True), "expert_parallel: "),
        (lambda: headroom.kv_plan("deepseek-ai/DeepSeek-V3", "h200", dp=8, expert_parallel=True,
                                  all2all_backend="deepep"), "all2all_backend: 'deepep' is not one of"),
        (lambda: headroom.cost("llama-3.1-8b", "h100"), "tokens"),
        (lambda: headroom.cost("llama-3.1-8b", "h100", tokens=8, moe_routing="balanced"), "moe_routing: "),
        (lambda: headroom.cost("mistralai/Mixtral-8x7B-v0.1", "h100", tp=2, tokens=8, moe_routing="zipf"),
         'moe_routing: unknown routing "zipf"'),
        (lambda: headroom.simulate(CHAT, set={"scheduler.max_num_seqs": "many"}), "scheduler.max_num_seqs"),
        (lambda: headroom.sweep(RAG, qps=[1], concurrency=[2]), "qps"),
        (lambda: headroom.sweep(RAG, qps=[0, 1]), "qps"),
        (lambda: headroom.plan("llama-3.1-8b", qps=5, slo="fast"), "slo"),
    ],
)
def test_bad_input_raises_input_error(call, needle):
    with pytest.raises(headroom.InputError) as e:
        call()
    assert needle in str(e.value)
    assert not str(e.value).startswith("--")


def test_plan_takes_one_gpu_name_as_a_string():
    # Regression: plan(gpus="h100") iterated the string ("h: no such profile").
    df = headroom.plan("llama-3.1-8b", qps=2, slo="ttft_p95=2s,tpot_p95=50ms", gpus="h100", duration_s=20, top=2)
    assert len(df) > 0 and set(df["gpu"]) == {"h100-sxm"}


def test_kv_plan_prints_what_it_says():
    p = headroom.kv_plan("meta-llama/Llama-3.1-8B-Instruct", "h100", context=8192, concurrency=64)
    # the README's numbers: 27,328 blocks of 16 tokens = 437,248 tokens, 53 sequences at 8,192 (the sampler's
    # reserve is for vllm serve's 1,024 sequences on an H100)
    assert repr(p) == "<KvPlan: 27,328 KV blocks (437,248 tokens) per GPU, 53 sequences at 8,192 tokens>"
    big = headroom.kv_plan("llama-3.3-70b", "h100")
    assert repr(big).startswith("<KvPlan: does not fit: ")


def test_kv_plan_takes_the_weights_as_shipped_and_the_kv_cache_groups():
    # gpt-oss-120b ships MXFP4 experts: 65.25 GB, which fits one H100 (as bf16 it would be 233.7 GB)
    p = headroom.kv_plan("openai/gpt-oss-120b", "h100")
    assert p.fits and abs(p.weight_bytes / 65.25e9 - 1) < 0.001
    assert not headroom.kv_plan("openai/gpt-oss-120b", "h100", weights_dtype="bf16").fits
    # 18 full + 18 sliding (128) layers: two groups of 18 layers (vLLM V1's hybrid allocator)
    assert (p.group_layers, p.group_windows) == (18, [0, 128])


def test_read_results_flattens_every_headroom_json(tmp_path):
    def save(name, *args):
        r = cli(*args, "--json")
        assert r.returncode == 0, r.stderr
        (tmp_path / name).write_text(r.stdout)
        return r.stdout
    # sweep lines: a SweepFrame, one row per line, nested percentiles as columns
    lines = save("sweep.jsonl", "sweep", RAG, "--qps", "2,8", "--set", "workload.duration_s=20", "--no-counterfactuals")
    raw = [json.loads(x) for x in lines.splitlines()]
    sw = headroom.read_results(tmp_path / "sweep.jsonl")
    assert isinstance(sw, headroom.SweepFrame) and len(sw) == len(raw) == 2
    assert list(sw["ttft_s_p95"]) == [p["ttft_s"]["p95"] for p in raw]
    assert len(sw.capacity) == 1
    # simulate: one row
    one = json.loads(save("sim.json", "simulate", RAG, "--set", "workload.duration_s=20"))
    sim = headroom.read_results(tmp_path / "sim.json")
    assert len(sim) == 1 and sim["e2e_s_p99"].iloc[0] == one["e2e_s"]["p99"]
    assert not any(isinstance(v, (dict, list)) for v in sim.iloc[0])  # flat: no dicts or lists in cells
    # cost: a row per op, the step's totals in attrs
    c = json.loads(save("cost.json", "cost", "-m", "llama-3.1-8b", "-g", "h100", "--tokens", "64"))
    ops = headroom.read_results(tmp_path / "cost.json")
    assert list(ops["name"]) == [o["name"] for o in c["ops"]] and ops.attrs["command"] == "cost"
    # bad files: one InputError naming the file and line
    (tmp_path / "bad.jsonl").write_text(lines.splitlines()[0] + "\n{oops\n")
    with pytest.raises(headroom.InputError, match=r"bad.jsonl: line 2: not valid JSON"):
        headroom.read_results(tmp_path / "bad.jsonl")
    with pytest.raises(headroom.InputError, match="cannot read"):
        headroom.read_results(tmp_path / "missing.json")


def test_kv_plan_takes_the_layout_as_headroom_kv_does():
    # DeepSeek-V3 on H200 as DP 8 x EP 8 with DeepEP's low-latency kernels: the same plan as `headroom kv --dp 8
    # --expert-parallel --all2all-backend deepep_low_latency`, whose buffers (4,890,562,944 B, worked by hand in
    # tests/core/test_kv_planner.cpp) come off the budget of vLLM's default backend's plan
    deepep = headroom.kv_plan("deepseek-ai/DeepSeek-V3", "h200", dp=8, expert_parallel=True,
                              all2all_backend="deepep_low_latency")
    default = headroom.kv_plan("deepseek-ai/DeepSeek-V3", "h200", dp=8, expert_parallel=True)
    assert deepep.reserve["all2all_bytes"] == 4_890_562_944 and default.reserve["all2all_bytes"] == 0
    assert deepep.kv_budget_bytes == pytest.approx(default.kv_budget_bytes - 4_890_562_944)
    cli = json.loads(subprocess.run([BIN, "kv", "-m", "deepseek-ai/DeepSeek-V3", "-g", "h200", "--dp", "8",
                                     "--expert-parallel", "--all2all-backend", "deepep_low_latency", "--json"],
                                    capture_output=True, text=True, check=True).stdout)
    assert deepep.num_blocks == cli["per_gpu"]["num_blocks"]
