"""`headroom simulate` as a user runs it: every example scenario runs; --json is one line in the documented
schema and bit-identical for the same seed; --requests and --trace write what they promise; every broken
scenario is one line on stderr naming the file and the field, exit code 2."""

import csv
import json

import pytest

from test_cli import DATA, ROOT, expect_bad_input, run

EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))

# Fields of schema headroom.simulate/1 (docs/simulate-json.md).
SCHEMA_FIELDS = ["schema", "scenario", "file", "model", "gpu", "tp", "replicas", "weights_dtype", "kv_dtype", "predictor", "predictor_note",
                 "moe_routing", "seed", "headroom_version", "git_commit", "requests", "completed", "rejected", "failed", "duration_s", "ttft_s",
                 "tpot_s", "itl_s", "e2e_s", "queue_s", "api_server_s_mean", "request_throughput", "output_throughput",
                 "input_throughput", "output_tokens_per_s_per_gpu", "input_tokens", "output_tokens", "goodput_rps",
                 "goodput_fraction", "slos", "slos_met", "gpus", "gpu_hours", "cost_usd", "usd_per_mtok",
                 "kv_util_mean", "kv_util_peak", "running_mean", "running_peak", "busy_fraction", "preemptions",
                 "prefix_hit_tokens", "steps", "vllm", "speculative", "disaggregation", "network", "parallelism", "kv_blocks",
                 "simulated_s"]


def test_there_is_an_example_per_shape():
    shapes = {line.split(":")[1].strip() for p in EXAMPLES for line in p.read_text().splitlines()
              if line.strip().startswith("shape:")}
    assert {"chat", "agent", "batch", "embedding", "rag", "single"} <= shapes


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(example):
    r = run("simulate", example, "--json")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1
    j = json.loads(lines[0])
    assert list(j) == SCHEMA_FIELDS
    assert j["schema"] == "headroom.simulate/1"
    assert j["completed"] > 0 and j["completed"] + j["rejected"] == j["requests"]
    assert j["ttft_s"]["p50"] <= j["ttft_s"]["p95"] <= j["ttft_s"]["p99"] <= j["ttft_s"]["max"]
    table = run("simulate", example)
    assert table.returncode == 0 and "TTFT" in table.stdout and table.stderr == ""


def test_same_seed_gives_bit_identical_json():
    a = run("simulate", ROOT / "examples/chat.yaml", "--json").stdout
    b = run("simulate", ROOT / "examples/chat.yaml", "--json").stdout
    c = run("simulate", ROOT / "examples/chat.yaml", "--json", "--seed", "43").stdout
    assert a == b
    assert json.loads(a)["seed"] == 42 and json.loads(c)["seed"] == 43
    assert a != c


def test_requests_csv_and_trace(tmp_path):
    rows, trace = tmp_path / "requests.csv", tmp_path / "trace.json"
    r = run("simulate", ROOT / "examples/rag.yaml", "--json", "--requests", rows, "--trace", trace)
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    with open(rows) as f:
        records = list(csv.DictReader(f))
    assert len(records) == j["requests"]
    # written row by row as requests are done, in id order (the child streams them; none is held)
    assert [int(x["id"]) for x in records] == list(range(len(records)))
    completed = [x for x in records if x["rejected"] == "0"]
    # the CSV's TTFTs reproduce the summary's mean
    mean_ttft = sum(float(x["ttft_s"]) for x in completed) / len(completed)
    assert abs(mean_ttft - j["ttft_s"]["mean"]) < 1e-5
    events = json.loads(trace.read_text())["traceEvents"]
    steps = [e for e in events if e.get("name") == "step"]
    assert len(steps) == j["steps"]
    assert sum(1 for e in events if e.get("ph") == "b") == j["completed"]


def test_set_overrides_a_field():
    base = json.loads(run("simulate", ROOT / "examples/rag.yaml", "--json").stdout)
    fp8 = json.loads(run("simulate", ROOT / "examples/rag.yaml", "--json", "--set", "kv_dtype=fp8").stdout)
    assert fp8["kv_dtype"] == "fp8" and fp8["kv_blocks"] > base["kv_blocks"]
    expect_bad_input(run("simulate", ROOT / "examples/rag.yaml", "--set", "scheduler.max_num_seqs=abc"),
                     "scheduler.max_num_seqs")
    expect_bad_input(run("simulate", ROOT / "examples/rag.yaml", "--set", "scheduler.colour=blue"),
                     "scheduler.colour")


BROKEN_SCENARIOS = {
    "unknown_field.yaml": "workload.arival",
    "missing_model.yaml": "model",
    "negative_rate.yaml": "workload.arrival.rate",
    "no_stop.yaml": "requests or duration_s",
    "unknown_shape.yaml": "workload.shape",
    "unknown_distribution.yaml": "workload.prompt_tokens.dist",
    "bad_slo.yaml": "slo.ttft_p100_s",
    "does_not_fit.yaml": "does not fit",
    "missing_trace.yaml": "workload.arrival.file",
    "unknown_policy.yaml": "scheduler.policy",
    "truncated.yaml": "not valid YAML",
    "unknown_dtype.yaml": "kv_dtype",
    "encoder_with_chat.yaml": "workload.shape",
    "string_for_number.yaml": "workload.requests",
    "max_model_len_too_long.yaml": "scheduler.max_model_len",
    "prefix_groups_missing_length.yaml": "workload.prefix_groups.system_prompt_tokens",
    "prefix_groups_zero_groups.yaml": "workload.prefix_groups.groups",
    "negative_timeout.yaml": "workload.timeout_s",
    "api_server_unknown_field.yaml": "api_server.tokenise_rate",
    "api_server_nan.yaml": "api_server.fixed_ms",
    "unknown_predictor.yaml": "predictor",
    "duplicate_key.yaml": "gpu: duplicate key",
    "non_scalar_key.yaml": "workload: keys must be plain names",
    # the arrival registry's names, in the registry's order
    "unknown_arrival.yaml": 'unknown arrival process "possion" (poisson, gamma, constant, closed_loop, trace, batch)',
    "gamma_without_rate.yaml": "workload.arrival.rate: missing (needed by gamma arrivals)",
    "spec_unknown_method.yaml": 'speculative.method: unknown method "medusa" (ngram, draft_model, eagle, eagle3, mtp)',
    "spec_no_acceptance.yaml": "speculative.acceptance_rate: missing",
    "spec_lengths_not_one.yaml": "speculative.acceptance_lengths: must sum to 1",
    "spec_mtp_without_layers.yaml": "speculative.method: meta-llama/Llama-3.1-8B-Instruct ships no MTP layers",
    "spec_draft_other_tokenizer.yaml": "speculative.model: the draft's vocabulary (151936)",
    "spec_rate_one.yaml": "speculative.acceptance_rate",
}


def test_every_broken_scenario_is_listed():
    assert sorted(p.name for p in (DATA / "scenarios").glob("*.yaml")) == sorted(BROKEN_SCENARIOS)


@pytest.mark.parametrize("name,field", sorted(BROKEN_SCENARIOS.items()))
def test_broken_scenario(name, field):
    path = DATA / "scenarios" / name
    expect_bad_input(run("simulate", path), str(path), field)
    expect_bad_input(run("simulate", path, "--json"), str(path), field)


def test_missing_scenario_file():
    expect_bad_input(run("simulate", "no/such/scenario.yaml"), "no/such/scenario.yaml", "cannot open")


def test_a_run_whose_last_request_is_rejected_ends_cleanly():
    # Regression: the simulation child died with SIGABRT ("internal error ... (signal 6)") when the last
    # arrival was rejected, and took a whole sweep or plan with it.
    r = run("simulate", DATA / "good" / "last_rejected.yaml", "--json")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert (j["requests"], j["completed"], j["rejected"]) == (2, 1, 1)
    s = run("sweep", DATA / "good" / "last_rejected.yaml", "--qps", "1,2", "--json", "--no-counterfactuals")
    assert s.returncode == 0, s.stderr


def test_speculative_example_reports_its_acceptance_and_drafter_share():
    # examples/spec-decode.yaml: EAGLE-3, k = 3, acceptance 0.7 per position; a verify yields
    # (1 - 0.7^4) / (1 - 0.7) = 2.533 tokens on average, and the run's mean lands within Monte Carlo error of it
    # (tokens near an answer's end get fewer drafts, so the run's mean can only be a little below).
    r = run("simulate", ROOT / "examples/spec-decode.yaml", "--json", "--set", "workload.duration_s=120")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)["speculative"]
    assert s["method"] == "eagle3" and s["num_speculative_tokens"] == 3 and s["acceptance_rate"] == 0.7
    assert s["expected_tokens_per_verify"] == pytest.approx(2.533, abs=1e-9)
    assert s["mean_tokens_per_verify"] == pytest.approx(2.533, abs=0.05)
    assert s["mean_tokens_per_verify"] == pytest.approx((s["verifies"] + s["accepted"]) / s["verifies"])
    assert 0 < s["draft_time_share"] < 0.5
    text = run("simulate", ROOT / "examples/spec-decode.yaml", "--set", "workload.duration_s=60").stdout
    assert "speculative        EAGLE-3, k=3, acceptance 0.70: " in text
    # off (k = 0): no speculative object, and the plain decode is slower per token
    off = json.loads(run("simulate", ROOT / "examples/spec-decode.yaml", "--json", "--set", "workload.duration_s=120",
                         "--set", "speculative.num_speculative_tokens=0").stdout)
    assert off["speculative"] is None
    assert off["tpot_s"]["p50"] > 1.5 * json.loads(r.stdout)["tpot_s"]["p50"]
