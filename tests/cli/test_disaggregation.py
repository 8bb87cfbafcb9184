"""Disaggregated prefill and decode in `headroom simulate` and `sweep`: the KV moves over the cluster's SimGrid
links in the time the closed form gives when transfers rarely overlap; every request is prefilled on the prefill
pool and decoded on the decode pool; an instant link adds nothing; bad disaggregation blocks are one error line."""

import json

from test_cli import ROOT, expect_bad_input, run

EXAMPLE = ROOT / "examples" / "disagg-llama70b.yaml"
# Llama-3.3-70B: 80 layers x 8 KV heads x 128 x (K and V) x 2 bytes = 327,680 bytes of KV per token
KV_BYTES_PER_TOKEN = 80 * 8 * 128 * 2 * 2


def simulate(path, *sets):
    r = run("simulate", path, "--json", *[x for s in sets for x in ("--set", s)])
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_kv_moves_over_the_cluster_in_the_closed_form_time():
    j = simulate(EXAMPLE)
    d = j["disaggregation"]
    assert d["prefill"] == {"gpu": "h100-sxm", "tp": 4, "replicas": 2} and d["cluster"] == "h100-4node-ib"
    # every request prefilled on the prefill pool, its whole prompt's KV moved
    assert d["requests_disaggregated"] == j["completed"] > 500
    assert d["kv_transfer_bytes"] == j["input_tokens"] * KV_BYTES_PER_TOKEN
    # TP 4 to TP 4 on the same rails: 4 flows, each on its own 400G NIC (50 GB/s), GPU -> NIC -> leaf -> NIC -> GPU
    # (3 us); at 2.5 req/s transfers of ~5 ms rarely overlap, so the mean is close to bytes / 200 GB/s + 3 us
    closed = d["kv_transfer_bytes"] / d["requests_disaggregated"] / 200e9 + 3e-6
    assert abs(d["kv_transfer_s"]["mean"] - closed) / closed < 0.05, (d["kv_transfer_s"]["mean"], closed)
    assert d["kv_transfer_s"]["p50"] > 0
    # 16 GPUs in all; the pools' busy shares are shares
    assert j["gpus"] == 16
    assert 0 < d["prefill_busy_fraction"] < 1 and 0 < d["decode_busy_fraction"] <= 1
    # the busiest link carries one TP rank's flows of one prefill replica: between an even split over the 8
    # prefill GPUs (1/8 of the bytes) and every request on one replica (1/4); its utilisation is its bytes over
    # 2 directions x 50 GB/s x the run
    link = d["busiest_link"]
    assert d["kv_transfer_bytes"] / 8 <= link["bytes"] <= d["kv_transfer_bytes"] / 4
    assert abs(link["utilisation"] - link["bytes"] / (2 * 50e9 * j["duration_s"])) < 1e-12
    # every link that carried KV, busiest first (at most 64): the first is the busiest; a TP 4 to TP 4 transfer
    # crosses 4 rails, each over a NIC link at both ends, so at least 8 links carry KV
    links = d["links"]
    assert links[0] == link and 8 <= len(links) <= 64
    assert all(a["bytes"] >= b["bytes"] for a, b in zip(links, links[1:]))


def test_an_instant_link_adds_nothing_and_short_prompts_stay_on_the_decode_pool(tmp_path):
    text = EXAMPLE.read_text().replace("  cluster: h100-4node-ib", "  link: {}").replace("decision: always", "decision: prompt_length\n  min_prompt_tokens: 3000")
    path = tmp_path / "d.yaml"
    path.write_text(text)
    j = simulate(path)
    d = j["disaggregation"]
    assert d["cluster"] is None and d["busiest_link"] is None and d["links"] is None
    assert d["kv_transfer_s"]["max"] == 0.0
    # the prompt lengths are lognormal with median 3,000: about half go through the prefill pool
    assert 0.3 * j["completed"] < d["requests_disaggregated"] < 0.7 * j["completed"]


def test_a_sweep_names_the_prefill_pool_and_tries_one_more_prefill_replica():
    r = run("sweep", EXAMPLE, "--qps", "12", "--set", "workload.duration_s=60")
    assert r.returncode == 0, r.stderr
    assert "for the prefill pool (2 replicas)" in r.stdout
    assert "one more prefill replica" in r.stdout and "one more decode replica" in r.stdout


def test_bad_disaggregation_blocks(tmp_path):
    text = EXAMPLE.read_text()
    path = tmp_path / "bad.yaml"

    def bad(old, new, *needles):
        assert old in text, old
        path.write_text(text.replace(old, new))
        expect_bad_input(run("simulate", path), str(path), *needles)

    bad("decision: always", "decision: sometimes", "disaggregation.decision", "unknown decision")
    bad("decode_router: least_kv", "decode_router: random", "disaggregation.decode_router")
    # prefix caching is on by default (as in vLLM V1); the decision needs it
    text = text.replace("  max_model_len: 16384\n", "  max_model_len: 16384\n  prefix_caching: false\n")
    bad("decision: always", "decision: prefix_cache", "disaggregation.decision", "prefix_caching on")
    bad("decision: always", "decision: prefix_cache\n  min_cache_hit_share: 1.5", "disaggregation.min_cache_hit_share")
    bad("  cluster: h100-4node-ib", "  cluster: dgx-h100", "disaggregation.cluster", "has 8 GPUs; the pools need 16")
    bad("  cluster: h100-4node-ib", "  cluster: gb200-nvl72", "disaggregation.cluster", "GPU 0 of gb200-nvl72 is gb200")
    bad("  cluster: h100-4node-ib", "  cluster: h100-4node-ib\n  link: {bandwidth_gb_per_s: 10}", "disaggregation.link", "not both")
    bad("  prefill: {gpu: h100, tp: 4, replicas: 2}", "  prefill: {gpu: h100, tp: 3, replicas: 2}", "disaggregation.prefill.tp")
    bad("  prefill: {gpu: h100, tp: 4, replicas: 2}", "  prefill: {gpu: h100, tp: 1, replicas: 2}", "disaggregation.prefill")
    bad("  prefill: {gpu: h100, tp: 4, replicas: 2}\n", "", "disaggregation.prefill", "missing")


def test_one_sweep_compares_colocated_and_disaggregated_on_the_same_gpus():
    # disaggregation.prefill.replicas=0 turns the block off, so two axes give 4 colocated replicas and 2 prefill +
    # 2 decode replicas (16 GPUs each) side by side; under a 25 ms TPOT SLO the split holds the higher rate
    r = run("sweep", EXAMPLE, "--qps", "2,4,6,8", "--set", "disaggregation.prefill.replicas=0,2", "--set", "replicas=4,2",
            "--set", "slo.tpot_p95_s=0.025", "--no-counterfactuals", "--json")
    assert r.returncode == 0, r.stderr
    points = [json.loads(line) for line in r.stdout.splitlines()]
    by = {}
    for p in points:
        axes = p["sweep"]["axes"]
        by.setdefault((axes["disaggregation.prefill.replicas"], axes["replicas"]), []).append(p)
    assert all(p["disaggregation"] is None for p in by[("0", "4")])
    assert all(p["disaggregation"]["prefill"]["replicas"] == 2 for p in by[("2", "2")])
    assert by[("0", "4")][0]["gpus"] == by[("2", "2")][0]["gpus"] == 16
    colocated = by[("0", "4")][0]["sweep"]["capacity"]["load"]
    split = by[("2", "2")][0]["sweep"]["capacity"]["load"]
    assert split > colocated, (colocated, split)
