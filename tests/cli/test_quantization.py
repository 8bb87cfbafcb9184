"""Checkpoints as they ship: `kv`, `card`, `cost` and `simulate` read quantization_config, and
--weights-dtype still overrides it."""

import json

from test_cli import ROOT, run

GPT_OSS_120B = str(ROOT / "models" / "configs" / "openai__gpt-oss-120b.json")


def test_gpt_oss_120b_fits_one_80gb_gpu_as_shipped():
    # Regression: headroom read gpt-oss as bf16 ("weights 233.7 GB per GPU") and refused it; its MXFP4
    # experts make it 60.8 GiB = 65.3 GB (OpenAI's model card), and vLLM serves it on one H100.
    r = run("kv", "--model", GPT_OSS_120B, "--gpu", "h100", "--json")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert j["request"]["weights_dtype"] == "mxfp4 experts, bf16 attention"
    assert j["fits"]
    assert abs(j["per_gpu"]["weight_bytes"] / 65.28e9 - 1) < 0.02, j["per_gpu"]["weight_bytes"]


def test_weights_dtype_still_overrides_the_checkpoint():
    r = run("kv", "--model", GPT_OSS_120B, "--gpu", "h100", "--weights-dtype", "bf16")
    assert r.returncode == 2
    assert "does not fit" in r.stderr and "weights bf16" in r.stderr


def test_card_says_how_the_checkpoint_ships():
    r = run("card", "--model", "openai/gpt-oss-20b")
    assert r.returncode == 0, r.stderr
    line = next(l for l in r.stdout.splitlines() if "as shipped" in l)
    assert "mxfp4 experts, bf16 attention" in line and "13.76 GB" in line
    j = json.loads(run("card", "--model", "openai/gpt-oss-20b", "--json").stdout)
    assert j["weights_as_shipped"]["experts"] == {"dtype": "mxfp4", "bytes_per_weight": 0.53125}


def test_cost_reads_mxfp4_experts_at_their_stored_size():
    # a decode step's routed-expert reads: the same experts at 0.53125 B instead of 2 B per weight
    def moe_mb(*extra):
        r = run("cost", "--model", "openai/gpt-oss-20b", "--gpu", "h100", "--decode-batch", "8", "--context", "1024",
                "--json", *extra)
        assert r.returncode == 0, r.stderr
        ops = {o["name"]: o for o in json.loads(r.stdout)["ops"]}
        return ops["moe_gate_up_proj"]["bytes"] + ops["moe_down_proj"]["bytes"]
    shipped, bf16 = moe_mb(), moe_mb("--weights-dtype", "bf16")
    # weights dominate these bytes (activations of 8 tokens are a few MB), so the ratio is near 2 / 0.53125
    assert 3.0 < bf16 / shipped < 2 / 0.53125 + 0.01
