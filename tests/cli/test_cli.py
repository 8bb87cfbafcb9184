"""The `headroom` command as a user runs it: every broken input is one line on stderr naming the file and
the field, exit code 2 and nothing on stdout; good inputs print tables and parseable JSON."""

import csv
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
BIN = os.environ.get("HEADROOM_BIN", str(ROOT / "build" / "cli" / "headroom"))


def run(*args):
    return subprocess.run([BIN, *map(str, args)], capture_output=True, text=True, timeout=60)


def expect_bad_input(result, *needles):
    assert result.returncode == 2, result.stderr
    assert result.stdout == "", "no partial output on a bad input"
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for n in needles:
        assert n in lines[0], f"{n!r} not in {lines[0]!r}"


# Each broken config.json and the field its error must name.
BROKEN_CONFIGS = {
    "truncated.json": "not valid JSON",
    "empty.json": "not valid JSON",
    "not_an_object.json": "top level",
    "missing_fields.json": "hidden_size, vocab_size",
    "zero_heads.json": "num_attention_heads",
    "heads_do_not_divide.json": "num_key_value_heads: must divide num_attention_heads (64 / 6)",
    "kv_heads_exceed_heads.json": "num_key_value_heads",
    "negative_hidden_size.json": "hidden_size",
    "string_layers.json": "num_hidden_layers",
    "fractional_vocab.json": "vocab_size",
    "absurd_layers.json": "num_hidden_layers",
    "absurd_hidden_size.json": "hidden_size",
    "unknown_torch_dtype.json": "torch_dtype",
    "bool_as_string.json": "tie_word_embeddings",
    "rope_scaling_string.json": "rope_scaling",
    "head_dim_indivisible.json": "num_attention_heads",
    "layer_types_wrong_length.json": "layer_types",
    "layer_types_unknown.json": "layer_types[3]",
    "sliding_without_window.json": "sliding_window",
    "topk_exceeds_experts.json": "num_experts_per_tok",
    "mla_missing_kv_lora_rank.json": "kv_lora_rank",
    "moe_missing_intermediate.json": "moe_intermediate_size",
    "negative_window.json": "sliding_window",
    "number_beyond_double.json": "out of range",
    "duplicate_key.json": "hidden_size: duplicate key",
    "text_config_missing_hidden.json": "text_config.hidden_size: missing required field",
    "llama4_bad_no_rope_layers.json": "text_config.no_rope_layers[2]: expected 0 (NoPE, global) or 1",
    "starcoder2_bias_string.json": "use_bias: expected true or false",
    "glm4_moe_negative_shared_experts.json": "n_shared_experts: must be >= 0",
    "cohere_qk_norm_string.json": "use_qk_norm: expected true or false",
    "hybrid_qwen3_next.json": "model_type: \"qwen3_next\" has linear-attention or state-space layers",
    "layer_types_linear_attention.json": "layer_types[0]: \"linear_attention\" layers",
    "minimax_m2_lightning_layer.json": "attn_type_list: has a linear-attention layer (0)",
    "minimax_m2_rotary_too_wide.json": "rotary_dim",
    "ernie_moe_k_exceeds_experts.json": "moe_k: 80 is more than the 8 experts",
    "deepseek_v32_missing_index_topk.json": "index_topk: missing required field",
}

# Each broken GPU profile and the field its error must name.
BROKEN_PROFILES = {
    "truncated.yaml": "not valid YAML",
    "not_a_mapping.yaml": "mapping",
    "missing_bandwidth.yaml": "memory.bandwidth_gb_per_s",
    "zero_memory.yaml": "memory.capacity_gib",
    "negative_tflops.yaml": "compute_tflops.bf16",
    "unknown_field.yaml": "memory.speed_gb_per_s",
    "missing_source.yaml": "compute_tflops.fp16.source",
    "fraction_over_one.yaml": "memory.usable_fraction",
    "string_number.yaml": "power.tdp_w.value",
    "bad_price_date.yaml": "read_on",
    "impossible_price_date.yaml": "2026-13-45 is not a calendar date",
    "duplicate_key.yaml": "memory.bandwidth_gb_per_s: duplicate key",
    "nvlink_without_latency.yaml": "interconnect.nvlink_latency_us",
    "unknown_section.yaml": "cooling",
    "absurd_bandwidth.yaml": "memory.bandwidth_gb_per_s",
    "unknown_base.yaml": "base",
}


def test_every_broken_file_is_listed():
    assert sorted(p.name for p in (DATA / "configs").glob("*.json")) == sorted(BROKEN_CONFIGS)
    assert sorted(p.name for p in (DATA / "profiles").glob("*.yaml")) == sorted(
        [*BROKEN_PROFILES, "good_override.yaml"]
    )


@pytest.mark.parametrize("name,field", sorted(BROKEN_CONFIGS.items()))
def test_broken_config(name, field):
    path = DATA / "configs" / name
    expect_bad_input(run("card", "--model", path), str(path), field)
    expect_bad_input(run("kv", "--model", path, "--gpu", "h100"), str(path), field)


@pytest.mark.parametrize("name,field", sorted(BROKEN_PROFILES.items()))
def test_broken_profile(name, field):
    path = DATA / "profiles" / name
    expect_bad_input(run("kv", "--model", "llama-3.1-8b", "--gpu", path), str(path), field)
    expect_bad_input(run("gpu", "--gpu", path, "--json"), str(path), field)


@pytest.mark.parametrize(
    "args,needles",
    [
        (["kv", "-m", "llama-3.3-70b", "-g", "h100"], ["does not fit", "weights 141.1 GB", "--tp 4"]),
        (["kv", "-m", "llama-3.1-8b", "-g", "orin-nano"], ["does not fit", "weights 16.1 GB"]),
        (["kv", "-m", "llama-3.1-8b", "-g", "h100", "--kv-dtype", "fp7"], ["--kv-dtype", "fp7"]),
        (["kv", "-m", "llama-3.1-8b", "-g", "h100", "--kv-dtype", "int4"], ["--kv-dtype"]),
        (["kv", "-m", "llama-3.1-8b", "-g", "h100", "--weights-dtype", "q4"], ["--weights-dtype"]),
        (["kv", "-m", "llama-3.1-8b", "-g", "h100", "--tp", "3"], ["--tp", "32 attention heads"]),
        (["kv", "-m", "llama-3.1-8b", "-g", "h100", "--tp", "abc"], ["--tp"]),
        (["kv", "-m", "llama-3.1-8b", "-g", "h100", "--context", "999999"], ["--context"]),
        (["kv", "-m", "llama-3.1-8b", "-g", "h100", "--gpu-memory-utilization", "1.2"], ["--gpu-memory-utilization"]),
        (["kv", "-m", "llama-3.1-8b", "-g", "h100", "--gpu-set", "memory.bandwidth_gb_per_s=-5"],
         ["--gpu-set", "memory.bandwidth_gb_per_s"]),
        (["kv", "-m", "llama-3.1-8b", "-g", "h100", "--gpu-set", "memory.speed=5"], ["memory.speed"]),
        (["kv", "-m", "llama-3.1-8b", "-g", "h999"], ["h999", "shipped"]),
        (["kv", "-m", "all-MiniLM-L6-v2", "-g", "h100"], ["encoder"]),
        (["card", "-m", "/no/such/config.json"], ["/no/such/config.json", "no such file"]),
        (["card", "-m", "llama-3"], ["ambiguous"]),
        (["card"], ["--model"]),
        (["frobnicate"], []),
        ([], ["subcommand"]),
    ],
)
def test_bad_command_lines(args, needles):
    expect_bad_input(run(*args), *needles)


def test_help_and_version():
    for args in (["--help"], ["kv", "--help"], ["card", "--help"]):
        r = run(*args)
        assert r.returncode == 0 and "Usage" in r.stdout
    r = run("--version")
    assert r.returncode == 0 and r.stdout.startswith("headroom ")


def test_card_json_kv_example():
    # Llama-3.3-70B at bf16: 2 x 80 x 8 x 128 x 2 = 327,680 B per token; x 131,072 = 42,949,672,960 B
    r = run("card", "--model", "llama-3.3-70b", "--json")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert j["kv_bytes_per_token"]["bf16"] == 327_680
    assert j["kv_bytes_per_sequence_bf16"]["131072"] == 42_949_672_960
    assert j["params"]["total"] == 70_553_706_496
    assert j["headroom_version"] and j["git_commit"]


def test_kv_json_matches_hand_computation():
    # Same case as tests/core/test_kv_planner.cpp Llama8B_on_H100_by_hand, through the CLI: 27,879 blocks
    r = run("kv", "-m", "llama-3.1-8b", "-g", "h100", "--reserve-gb", "2", "--context", "8192",
            "--concurrency", "64", "--json")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    g = j["per_gpu"]
    assert (g["num_blocks"], g["kv_tokens"]) == (27_879, 446_064)
    assert (g["max_concurrency_at_context"], g["max_context_at_concurrency"]) == (54, 6_960)
    assert j["fits"] is True


def test_kv_makes_room_for_a_speculative_drafter():
    # The same plan with a Llama-3.2-1B draft model: its weights (1,235,814,400 parameters x 2 B, tied embeddings)
    # come off the budget, and its 16 layers x 2 x 8 KV heads x 64 x 2 B = 32,768 B per token join every block.
    base = json.loads(run("kv", "-m", "llama-3.1-8b", "-g", "h100", "--reserve-gb", "2", "--json").stdout)["per_gpu"]
    r = run("kv", "-m", "llama-3.1-8b", "-g", "h100", "--reserve-gb", "2", "--json", "--speculative", "draft_model",
            "--draft-model", "meta-llama/Llama-3.2-1B-Instruct")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    g = j["per_gpu"]
    assert j["request"]["speculative_drafter"] == "draft model meta-llama/Llama-3.2-1B-Instruct"
    assert g["drafter_weight_bytes"] == 1_235_814_400 * 2
    assert g["weight_bytes"] == pytest.approx(base["weight_bytes"] + 1_235_814_400 * 2)
    assert g["kv_bytes_per_token"] == base["kv_bytes_per_token"] + 32_768
    assert g["num_blocks"] == int(g["kv_budget_bytes"] // (16 * g["kv_bytes_per_token"]))
    # MTP needs MTP layers; DeepSeek-V3's card shows its one
    expect_bad_input(run("kv", "-m", "llama-3.1-8b", "-g", "h100", "--speculative", "mtp"), "--speculative",
                     "ships no MTP layers")
    expect_bad_input(run("kv", "-m", "llama-3.1-8b", "-g", "h100", "--speculative", "medusa"), "--speculative", "medusa")
    assert json.loads(run("card", "-m", "deepseek-ai/DeepSeek-V3", "--json").stdout)["model"]["mtp_layers"] == 1


def test_kv_plans_dp_and_ep_with_deepep_buffers():
    # DeepSeek-V3 on H200 as DP 8 x EP 8 (vLLM --data-parallel-size 8 --enable-expert-parallel): DeepEP's
    # low-latency buffers, 4,890,562,944 B a GPU (worked by hand in tests/core/test_kv_planner.cpp), come off the
    # KV budget of vLLM's default backend's plan; the blocks are the 8 ranks' together
    base = ["kv", "-m", "deepseek-ai/DeepSeek-V3", "-g", "h200", "--dp", "8", "--expert-parallel"]
    default = json.loads(run(*base, "--json").stdout)
    r = run(*base, "--all2all-backend", "deepep_low_latency", "--json")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert (j["request"]["dp"], j["request"]["ep"]) == (8, 8)
    g = j["per_gpu"]
    assert g["reserve_estimate"]["all2all_bytes"] == 4_890_562_944
    assert default["per_gpu"]["reserve_estimate"]["all2all_bytes"] == 0
    assert g["kv_budget_bytes"] == pytest.approx(default["per_gpu"]["kv_budget_bytes"] - 4_890_562_944)
    assert g["num_blocks"] % 8 == 0 and g["num_blocks"] < default["per_gpu"]["num_blocks"]
    text = run(*base, "--all2all-backend", "deepep_low_latency").stdout
    assert "TP=1, DP=8, EP=8" in text and "DeepEP buffers 4.89 GB" in text and "over the 8 DP ranks" in text
    expect_bad_input(run("kv", "-m", "llama-3.1-8b", "-g", "h100", "--dp", "2", "--expert-parallel"),
                     "--expert-parallel", "has no experts")
    expect_bad_input(run(*base, "--all2all-backend", "deepep"), "--all2all-backend", "deepep_low_latency")
    expect_bad_input(run("kv", "-m", "llama-3.1-8b", "-g", "h100", "--dp", "0"), "--dp")


def test_gpu_override_changes_plan():
    # 10% less usable memory on the same GPU means fewer blocks
    base = json.loads(run("kv", "-m", "llama-3.1-8b", "-g", "h100", "--json").stdout)
    less = json.loads(run("kv", "-m", "llama-3.1-8b", "-g", "h100", "--json",
                          "--gpu-set", "memory.usable_fraction=0.8956").stdout)
    assert less["per_gpu"]["num_blocks"] < base["per_gpu"]["num_blocks"]
    good = run("kv", "-m", "llama-3.1-8b", "-g", DATA / "profiles" / "good_override.yaml")
    assert good.returncode == 0, good.stderr


@pytest.mark.parametrize("model", [m["hf_id"] for m in json.loads(
    subprocess.run([BIN, "models", "--json"], capture_output=True, text=True).stdout or '{"models": []}')["models"]])
def test_every_shipped_model_has_a_card(model):
    r = run("card", "--model", model)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    j = json.loads(run("card", "--model", model, "--json").stdout)
    assert j["params"]["total"] > 0


def test_every_gpu_profile_has_sources():
    j = json.loads(run("gpus", "--json").stdout)
    assert len(j["gpus"]) == 9
    for g in j["gpus"]:
        for path, f in g["fields"].items():
            assert f["value"] > 0 and len(f["source"]) > 10, (g["name"], path)


def test_unknown_architecture_warns_with_guessed_fields():
    r = run("card", "--model", DATA / "unknown_arch_config.json")
    assert r.returncode == 0
    warning = r.stderr.strip().splitlines()
    assert len(warning) == 1 and warning[0].startswith("warning: ")
    for field in ("frobnicator", "head_dim", "num_key_value_heads", "tie_word_embeddings"):
        assert field in warning[0]


def test_snapshot_directory(tmp_path):
    snap = tmp_path / "models--acme--Tiny" / "snapshots" / "abc123"
    snap.mkdir(parents=True)
    (snap / "config.json").write_text((ROOT / "models/configs/mistralai__Mistral-7B-v0.1.json").read_text())
    r = run("card", "--model", snap, "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["params"]["total"] == 7_241_732_096


ISSUE_OP_NAMES = ["embedding", "input_norm", "qkv_proj", "rope", "attention", "o_proj", "residual_add",
                  "post_attention_norm", "gate_up_proj", "activation", "down_proj", "final_norm", "lm_head",
                  "sampling"]


def test_cost_json_lists_the_ops_by_name():
    r = run("cost", "-m", "llama-3.1-8b", "-g", "h100", "--tokens", "4096", "--json")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    names = [o["name"] for o in j["ops"]]
    assert names[:len(ISSUE_OP_NAMES) - 3] == [n for n in ISSUE_OP_NAMES if n not in ("final_norm", "lm_head", "sampling")]
    assert {"final_norm", "lm_head", "sampling", "step_overhead"} <= set(names)
    assert abs(sum(o["time_s"] for o in j["ops"]) - j["time_s"]) < 1e-12
    tp = json.loads(run("cost", "-m", "llama-3.3-70b", "-g", "h100", "--tp", "4", "--decode-batch", "8",
                        "--context", "1024", "--json").stdout)
    assert "tp_allreduce" in [o["name"] for o in tp["ops"]]


def test_cost_hides_the_host_time_behind_the_gpu_unless_told_not_to():
    # async scheduling (the default): a 4,096-token prefill's GPU work outlasts the 2 ms of host time, so all of
    # it hides, and the step is the synchronous one less 2 ms; a batch-1 decode of Llama-3.2-1B (about 1.3 ms
    # of GPU work) hides 1.3 ms of 2 and leaves 0.7 ms exposed: the step takes the host's 2 ms
    args = ["-m", "llama-3.1-8b", "-g", "h100", "--tokens", "4096", "--step-overhead-ms", "2", "--json"]
    on = json.loads(run("cost", *args).stdout)
    off = json.loads(run("cost", *args, "--no-async-scheduling").stdout)
    assert on["config"]["async_scheduling"] is True and off["config"]["async_scheduling"] is False
    assert on["host_hidden_s"] == pytest.approx(2e-3) and off["host_hidden_s"] == 0
    assert on["time_s"] == pytest.approx(off["time_s"] - 2e-3, abs=1e-12)
    small = json.loads(run("cost", "-m", "llama-3.2-1b", "-g", "h100", "--decode-batch", "1", "--context", "100",
                           "--step-overhead-ms", "2", "--json").stdout)
    gpu = sum(o["time_s"] for o in small["ops"] if o["name"] != "step_overhead")
    assert 0.5e-3 < gpu < 2e-3
    assert small["time_s"] == pytest.approx(2e-3, abs=1e-12)
    assert small["host_hidden_s"] == pytest.approx(gpu, abs=1e-12)
    text = run("cost", *args[:-1]).stdout
    assert "async scheduling on" in text and "host time" in text and "2.000 ms of it hidden" in text


def test_cost_prices_an_encoders_prefill_without_a_rotary_embedding():
    # all-MiniLM-L6-v2 (BERT, 6 layers) serves prefills only: `cost` prices one without the KV-cache checks of a
    # decoder, and with no rope op (its positions are learned and added to the embeddings), and refuses a decode
    r = run("cost", "-m", "all-MiniLM-L6-v2", "-g", "l40s", "--tokens", "300", "--json")
    assert r.returncode == 0, r.stderr
    ops = {o["name"]: o for o in json.loads(r.stdout)["ops"]}
    assert "rope" not in ops
    assert ops["qkv_proj"]["count"] == 6 and ops["attention"]["count"] == 6
    # q, k and v of 384 x 384 each on 300 tokens padded to CUDA graph size 304: 2 x 304 x 384 x 1152 FLOPs
    assert ops["qkv_proj"]["flops"] == pytest.approx(6 * 2 * 304 * 384 * 1152, rel=1e-3)
    llama = json.loads(run("cost", "-m", "llama-3.1-8b", "-g", "h100", "--tokens", "300", "--json").stdout)
    assert "rope" in [o["name"] for o in llama["ops"]]
    for extra, field in ((["--decode-batch", "4"], "--decode-batch"), (["--prefill-context", "100"], "--prefill-context")):
        expect_bad_input(run("cost", "-m", "all-MiniLM-L6-v2", "-g", "l40s", "--tokens", "300", *extra), field, "encoder")


@pytest.mark.parametrize(
    "args,needles",
    [
        (["cost", "-m", "llama-3.1-8b", "-g", "h100"], ["--tokens"]),
        (["cost", "-m", "llama-3.1-8b", "-g", "h100", "--tokens", "200000"], ["--tokens"]),
        (["cost", "-m", "llama-3.1-8b", "-g", "h100", "--decode-batch", "4", "--context", "-3"], ["--context"]),
        (["cost", "-m", "llama-3.1-8b", "-g", "h100", "--tokens", "8", "--tp", "5"], ["--tp"]),
        (["cost", "-m", "llama-3.1-8b", "-g", "h100", "--tokens", "8", "--step-overhead-ms", "-1"],
         ["--step-overhead-ms"]),
    ],
)
def test_cost_bad_input(args, needles):
    expect_bad_input(run(*args), *needles)


# Trace files whose rows are nonsense: each names the file, the line and the column.
BROKEN_TRACES = {
    "huge_tokens.csv": "line 3: num_prefill_tokens",
    "empty_prompt.csv": "no rows to replay: all 1 have 0 prompt tokens",
    "azure_bad_date.csv": "line 3: TIMESTAMP: expected a date and time like 2023-11-16 18:15:46.68",
    "no_header.csv": "line 1: expected a header naming the columns",
    "mooncake_too_many_hash_ids.jsonl": "line 1: hash_ids: 3 blocks of 512 tokens are more than the 600-token prompt fills (2)",
    "fractional_tokens.csv": "line 2: num_prefill_tokens: expected a whole number",
}


@pytest.mark.parametrize("name,needle", sorted(BROKEN_TRACES.items()))
def test_broken_trace(name, needle, tmp_path):
    sc = tmp_path / "trace.yaml"
    sc.write_text(f"model: meta-llama/Llama-3.1-8B-Instruct\ngpu: h100\nworkload:\n  shape: single\n"
                  f"  arrival: {{process: trace, file: {DATA / 'traces' / name}}}\n")
    expect_bad_input(run("simulate", sc), "workload.arrival.file", name, needle)


def test_azure_and_mooncake_traces_replay(tmp_path):
    # Azure's raw layout: the rows replay from the first one's time (4.314579 s and 73.31941 s, by subtraction);
    # the call without prompt tokens is skipped and said so. Mooncake's: with prefix caching on, the second
    # request reads its first 512-token block from cache and the third, a repeat, all but the last 16-token
    # block, (1,024 - 1) // 16 * 16 = 1,008 tokens.
    (tmp_path / "az.csv").write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6805900,374,44\n"
                                     "2023-11-16 18:15:50.9951690,396,109\n2023-11-16 18:16:46.6805900,0,7\n"
                                     "2023-11-16 18:17:00.0000000,2000,50\n")
    (tmp_path / "mc.jsonl").write_text("".join(
        f'{{"timestamp": {ms}, "input_length": 1024, "output_length": 10, "hash_ids": {ids}}}\n'
        for ms, ids in [(0, [1, 2]), (5000, [1, 3]), (10000, [1, 2])]))
    for name, extra in [("az", ""), ("mc", "scheduler: {prefix_caching: true}\n")]:
        (tmp_path / f"{name}.yaml").write_text(
            f"model: meta-llama/Llama-3.1-8B-Instruct\ngpu: h100\n{extra}workload:\n  shape: single\n"
            f"  arrival: {{process: trace, file: {name}.{'csv' if name == 'az' else 'jsonl'}}}\n")
    r = run("simulate", tmp_path / "az.yaml", "--requests", tmp_path / "az.out.csv")
    assert r.returncode == 0, r.stderr
    assert "CSV (TIMESTAMP, ContextTokens, GeneratedTokens), 3 rows; 1 without prompt tokens skipped" in r.stdout
    rows = list(csv.DictReader(open(tmp_path / "az.out.csv")))
    assert [float(x["arrival_s"]) for x in rows] == pytest.approx([0.0, 4.314579, 73.31941], abs=1e-6)
    r = run("simulate", tmp_path / "mc.yaml", "--requests", tmp_path / "mc.out.csv")
    assert r.returncode == 0, r.stderr
    assert "Mooncake JSONL (hash_ids, blocks of 512 tokens), 3 rows" in r.stdout
    rows = list(csv.DictReader(open(tmp_path / "mc.out.csv")))
    assert [int(x["prefix_hit_tokens"]) for x in rows] == [0, 512, 1008]


def test_closed_loop_users_take_a_traces_rows_in_order(tmp_path):
    # The Mooncake rows above taken by one closed-loop user (rows' times ignored, the run ends with the rows):
    # the same prefix hits, 0, 512 and (1,024 - 1) // 16 * 16 = 1,008 tokens, and each request sent when the
    # one before it finished. `sweep --concurrency` over the trace keeps the rows' blocks too: with one user
    # the same 1,520 tokens read from cache.
    (tmp_path / "mc.jsonl").write_text("".join(
        f'{{"timestamp": {ms}, "input_length": 1024, "output_length": 10, "hash_ids": {ids}}}\n'
        for ms, ids in [(0, [1, 2]), (5000, [1, 3]), (10000, [1, 2])]))
    (tmp_path / "cl.yaml").write_text(
        "model: meta-llama/Llama-3.1-8B-Instruct\ngpu: h100\nworkload:\n  shape: single\n"
        "  arrival: {process: closed_loop, users: 1, file: mc.jsonl}\n")
    r = run("simulate", tmp_path / "cl.yaml", "--requests", tmp_path / "cl.out.csv")
    assert r.returncode == 0, r.stderr
    assert "closed loop, 1 users taking the trace's rows in order (Mooncake JSONL" in r.stdout
    rows = list(csv.DictReader(open(tmp_path / "cl.out.csv")))
    assert [int(x["prefix_hit_tokens"]) for x in rows] == [0, 512, 1008]
    for before, after in zip(rows, rows[1:]):  # the CSV rounds times to microseconds
        finish = float(before["arrival_s"]) + float(before["e2e_s"])
        assert float(after["arrival_s"]) == pytest.approx(finish, abs=2e-6)
    (tmp_path / "tr.yaml").write_text(
        "model: meta-llama/Llama-3.1-8B-Instruct\ngpu: h100\nworkload:\n  shape: single\n"
        "  arrival: {process: trace, file: mc.jsonl}\n")
    r = run("sweep", tmp_path / "tr.yaml", "--concurrency", "1", "--json", "--no-counterfactuals")
    assert r.returncode == 0, r.stderr
    point = json.loads(r.stdout.splitlines()[0])
    assert point["prefix_hit_tokens"] == 1520, point


@pytest.mark.parametrize("arrival,extra,field,needle", [
    ("{process: poisson, rate: 1, file: mc.jsonl}", "  duration_s: 10\n  prompt_tokens: 5\n  output_tokens: 5\n",
     "workload.arrival.file", "read by trace and closed_loop arrivals only, not poisson"),
    ("{process: closed_loop, users: 2, file: mc.jsonl}", "  prompt_tokens: 5\n",
     "workload.prompt_tokens", "the trace's rows give every request's lengths"),
    ("{process: trace, file: mc.jsonl}", "  output_tokens: 5\n",
     "workload.output_tokens", "the trace's rows give every request's lengths"),
])
def test_trace_file_with_other_lengths_or_arrivals_is_refused(tmp_path, arrival, extra, field, needle):
    (tmp_path / "mc.jsonl").write_text('{"timestamp": 0, "input_length": 10, "output_length": 1}\n')
    (tmp_path / "s.yaml").write_text(
        f"model: meta-llama/Llama-3.1-8B-Instruct\ngpu: h100\nworkload:\n  shape: single\n  arrival: {arrival}\n{extra}")
    expect_bad_input(run("simulate", tmp_path / "s.yaml"), "s.yaml", field, needle)


@pytest.mark.parametrize("args,needle", [
    (["cost", "-m", "llama-3.1-8b", "-g", "h100", "--decode-batch", "10000000000", "--context", "10"], "--decode-batch"),
    (["cost", "-m", "llama-3.1-8b", "-g", "h100", "--tokens", "10", "--prefill-context=-100000"], "--prefill-context"),
    (["cost", "-m", "llama-3.1-8b", "-g", "h100", "--tokens", "10", "--step-overhead-ms", "nan"], "--step-overhead-ms"),
    (["sweep", "examples/chat.yaml", "--concurrency", "1.5"], "--concurrency: users are whole numbers"),
    # a Jetson module is one GPU with no link to another: TP 2 would move activations over nothing
    (["cost", "-m", "llama-3.2-1b", "-g", "jetson-agx-orin-64gb", "--tp", "2", "--tokens", "10"],
     "--tp: tp 2 needs GPUs linked to each other, and jetson-agx-orin-64gb has no link"),
    (["simulate", "examples/chat.yaml", "--set", "gpu=jetson-agx-orin-64gb", "--set", "model=llama-3.2-1b",
      "--set", "tp=2"], "tp: tp 2 needs GPUs linked to each other"),
    (["kv", "-m", "llama-3.2-1b", "-g", "jetson-orin-nano-8gb", "--tp", "2"], "--tp: tp 2 needs GPUs linked"),
    (["sweep", "examples/chat.yaml", "--qps", "1e300"], "--qps: rates go up to 1,000,000 per second"),
    (["simulate", "examples/chat.yaml", "--set", "scheduler.chunked_prefill=false"], "scheduler.max_num_batched_tokens"),
    # a KV format that does not exist is an input error, not a capacity result of the sweep
    (["sweep", "examples/chat.yaml", "--qps", "1", "--set", "kv_dtype=fp8,int4", "--no-counterfactuals"], "kv_dtype: int4 is not a KV-cache format"),
    # a scenario's tp is named as the scenario's field, not as --tp
    (["simulate", "examples/chat.yaml", "--set", "tp=3"], "tp: 3 does not divide the 32 attention heads"),
    # output paths are checked before any simulation runs
    (["simulate", "examples/chat.yaml", "--requests", "/nonexistent/dir/r.csv"], "--requests: cannot write"),
    (["simulate", "examples/chat.yaml", "--trace", "/nonexistent/dir/t.json"], "--trace: cannot write"),
    (["sweep", "examples/chat.yaml", "--qps", "1", "--plot", "/nonexistent/dir/s.png"], "--plot: cannot write"),
])
def test_nonsense_options_are_input_errors(args, needle):
    expect_bad_input(run(*args), needle)


def test_the_cli_loads_no_cuda_library_until_measure_asks_for_one():
    # The CUDA executor is a module loaded on demand (libheadroom_cuda.so): the binary itself links neither the
    # CUDA runtime nor cuBLASLt, so every other command starts small (issue 12: --version at 240 MB before).
    ldd = shutil.which("ldd")
    if not ldd:
        pytest.skip("no ldd")
    linked = subprocess.run([ldd, BIN], capture_output=True, text=True).stdout
    assert "libcudart" not in linked and "libcublas" not in linked, linked
    # and measure still reaches the GPU layer: exit 3 with the reason where there is no GPU, or runs
    r = run("measure", "step", "-m", "llama-3.1-8b", "--decode-batch", "1", "--context", "16", "--layers", "1",
            "--iterations", "1", "--warmup", "0")
    assert r.returncode in (0, 3), r.stderr
    if r.returncode == 3:
        assert r.stderr.startswith("error: no GPU to measure on: ")
