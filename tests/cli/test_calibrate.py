"""`headroom calibrate`, `cost --predictor/--calibration` and a scenario's `calibration:` as a user runs them."""

import json

import pytest

from test_cli import DATA, ROOT, expect_bad_input, run

CAL = DATA / "calibrations"


def test_calibrate_prints_a_yaml_fitted_on_the_gpus_own_tables():
    r = run("calibrate", "-g", "h100")
    assert r.returncode == 0, r.stderr
    assert "gpu: h100-sxm" in r.stdout and "kernel tables h100_sxm" in r.stdout
    j = json.loads(run("calibrate", "-g", "h100", "--json").stdout)
    assert j["command"] == "calibrate"
    assert 0.5 < j["gemm"]["compute_efficiency"] < 1.0 and 0.5 < j["gemm"]["memory_efficiency"] < 1.0
    # every bf16 GEMM measured on the H100, those timed with their weights in its L2 left out of the fit
    assert j["gemm"]["fit"]["points"] + j["gemm"]["fit"]["l2_warm_left_out"] == 35742
    assert 0 < j["gemm"]["fit"]["l2_warm_left_out"] < 35742 / 2
    assert set(j["allreduce"]) == {"2", "4", "8"}
    # and a second fit on its 35,742 fp8 GEMMs, with the per-element quantisation terms; A100 has no fp8 table
    assert j["gemm_fp8"]["fit"]["points"] + j["gemm_fp8"]["fit"]["l2_warm_left_out"] == 35742
    assert j["gemm_fp8"]["activation_bytes_per_element"] > 0 and j["gemm_fp8"]["row_s"] > 0
    assert json.loads(run("calibrate", "-g", "a100-80gb", "--json").stdout)["gemm_fp8"] is None


def test_fp8_weights_on_a_calibrated_gpu_pay_the_quantisation(tmp_path):
    # H100 PCIe's calibration is derived from H100 SXM's fits, the fp8 one included: an fp8 qkv_proj of 2,048
    # rows then costs more than the fp8 fit's roofline without its per-element terms (the same YAML, terms removed)
    base = json.loads(run("calibrate", "-g", "h100-pcie", "--from", "h100-sxm", "--json").stdout)
    assert base["gemm_fp8"]["output_bytes_per_element"] > 0
    full = (tmp_path / "full.yaml")
    assert run("calibrate", "-g", "h100-pcie", "--from", "h100-sxm", "-o", full).returncode == 0
    text = full.read_text()
    bare = tmp_path / "bare.yaml"
    bare.write_text("\n".join(l for l in text.splitlines() if "_bytes_per_element" not in l) + "\n")
    def qkv(cal):
        c = json.loads(run("cost", "-m", "llama-3.1-8b", "-g", "h100-pcie", "--weights-dtype", "fp8", "--tokens", "2048",
                           "--predictor", "calibrated", "--calibration", cal, "--json").stdout)
        return {o["name"]: o["time_s"] for o in c["ops"]}["qkv_proj"]
    g = base["gemm_fp8"]
    # 32 layers x 2,048 rows x (a x 4,096 + o x 6,144) bytes at H100 PCIe's 2.0 TB/s x the fitted memory efficiency
    extra = 32 * 2048 * (g["activation_bytes_per_element"] * 4096 + g["output_bytes_per_element"] * 6144) / (
        2.0e12 * g["memory_efficiency"])
    assert qkv(full) - qkv(bare) == pytest.approx(extra, rel=1e-3)


def test_mla_fit_adds_its_block_terms_to_the_attention(tmp_path):
    # H100 PCIe carries H100 SXM's MLA fits (from its MLA module tables). DeepSeek-V3 at TP 8 (16 heads a GPU), one
    # decode at context 999: its attention costs the attention fits' time x the decode scale, plus a block's fixed
    # time, a token's and 16 (token, head)s' a layer, each with what its block-fp8 projections add, 61 layers; the
    # same YAML without the MLA sections prices the attention fits' time alone.
    full = tmp_path / "full.yaml"
    assert run("calibrate", "-g", "h100-pcie", "--from", "h100-sxm", "-o", full).returncode == 0
    text = full.read_text()
    assert "mla_decode:" in text
    bare = tmp_path / "bare.yaml"
    bare.write_text(text[:text.index("mla_prefill:")])
    d = json.loads(run("calibrate", "-g", "h100-pcie", "--from", "h100-sxm", "--json").stdout)["mla_decode"]
    assert d["fit"]["points"] > 1000 and 0.5 < d["attention_scale"] < 2 and d["block_s"] > 0

    def attention(cal):
        c = json.loads(run("cost", "-m", "deepseek-ai/DeepSeek-V3", "-g", "h100-pcie", "--tp", "8", "--decode-batch",
                           "1", "--context", "999", "--predictor", "calibrated", "--calibration", cal, "--json").stdout)
        return {o["name"]: o["time_s"] for o in c["ops"]}["attention"]
    extra = 61 * (d["block_s"] + d["token_s"] + 16 * d["token_head_s"] + d["block_fp8_block_s"] +
                  d["block_fp8_token_s"] + 16 * d["block_fp8_token_head_s"])
    assert attention(full) == pytest.approx(d["attention_scale"] * attention(bare) + extra, rel=1e-5)
    # (H100's FlashMLA-era tables fit none of Triton's decode terms)
    assert d["head_block_reread"] == 0 and d["longest_s_per_byte"] == 0


def test_a100_mla_fit_comes_from_its_attention_implementation_tables(tmp_path):
    # A100's tables time vLLM's MLA attention implementation alone (Triton MLA, without a CUDA graph): its MLA fit
    # is made on the points the kernels set, without a block term (the host's dispatch hides it), with Triton's
    # two decode terms. DeepSeek-V3 at TP 8 (16 heads a GPU: one head block, no re-read), one decode at context
    # 999 reads 1,000 x (512 + 64) x 2 B of latent: its attention is the attention fits' time x the decode scale
    # plus a token's and 16 (token, head)s' time and that latent at the longest-sequence rate, 61 layers.
    out = tmp_path / "a100.yaml"
    r = run("calibrate", "-g", "a100-80gb", "-o", out)
    assert r.returncode == 0 and "Triton decode: x" in r.stdout
    j = json.loads(run("calibrate", "-g", "a100-80gb", "--json").stdout)
    assert "MLA from its attention-implementation tables" in j["fitted_on"]
    d = j["mla_decode"]
    assert d["block_s"] == 0 and j["mla_prefill"]["block_s"] == 0
    assert d["head_block_reread"] > 0 and d["longest_s_per_byte"] > 0 and d["fit"]["points"] > 200
    text = out.read_text()
    bare = tmp_path / "bare.yaml"
    bare.write_text(text[:text.index("mla_prefill:")] + text[text.index("moe:"):])

    def attention(cal):
        c = json.loads(run("cost", "-m", "deepseek-ai/DeepSeek-V3", "-g", "a100-80gb", "--tp", "8", "--decode-batch",
                           "1", "--context", "999", "--predictor", "calibrated", "--calibration", cal, "--json").stdout)
        return {o["name"]: o["time_s"] for o in c["ops"]}["attention"]
    extra = 61 * (d["token_s"] + 16 * d["token_head_s"] + d["longest_s_per_byte"] * 1000 * 576 * 2)
    assert attention(out) == pytest.approx(d["attention_scale"] * attention(bare) + extra, rel=1e-5)
    # `cost` names the fit on the attention op (the shipped A100 calibration is this one)
    c = json.loads(run("cost", "-m", "deepseek-ai/DeepSeek-V2-Lite", "-g", "a100-80gb", "--decode-batch", "4",
                       "--context", "999", "--json").stdout)
    src = {o["name"]: o["source"] for o in c["ops"]}
    assert src["attention"] == "roofline (calibrated), its MLA fit with Triton MLA's decode terms"
    assert src["rope"].startswith("roofline (calibrated)") and "MLA" not in src["rope"]


def test_fused_moe_fit_prices_a_model_the_tables_do_not_hold(tmp_path):
    # H100 PCIe carries H100 SXM's fused-MoE fits. DeepSeek-V2-Lite's experts (hidden 2,048, inter 1,408, top-6 of
    # 64, bf16) are in no table. A 64-token prompt under balanced routing sends 384 pairs to all 64 experts in each
    # of its 26 MoE layers; the routed call's time is linear in the fit's terms, so doubling them adds one more
    # call's time: fixed + compute x 2 x 3 x 2,048 x 1,408 x 384 / 756 TFLOP/s + weights x 64 x 3 x 2,048 x 1,408
    # x 2 bytes / 2.0 TB/s + (local_pairs + pairs) x 384 x (3 x 2,048 + 6 x 1,408) x 2 bytes / 2.0 TB/s
    # + expert_us x 64 + waves x the tile waves' stream: each expert's 6 rows take one 128-row tile, so the
    # gate-up GEMM runs 64 x ceil(2,816 / 64) = 2,816 tiles in ceil(2,816 / 114 SMs) = 25 waves, each a tile of
    # 2,048 x 64 weights, and the down GEMM 64 x 2,048 / 64 = 2,048 tiles in 18 waves of 1,408 x 64, each
    # wave at 2.0 TB/s / 114.
    full = tmp_path / "full.yaml"
    assert run("calibrate", "-g", "h100-pcie", "--from", "h100-sxm", "-o", full).returncode == 0
    j = json.loads(run("calibrate", "-g", "h100-pcie", "--from", "h100-sxm", "--json").stdout)["moe"]
    assert {"bf16", "fp8", "fp8_block", "mxfp4", "int4"} <= set(j)
    f = j["bf16"]
    assert f["fit"]["points"] > 1000 and f["fixed_s"] > 0 and f["weights"] > 0
    text = full.read_text()
    doubled = tmp_path / "doubled.yaml"
    start = text.index("moe:\n  bf16:\n")
    block = text[start:text.index("  fp8:\n", start)]
    twice = block
    for key in ("fixed_us", "compute", "weights", "local_pairs", "pairs", "expert_us", "waves"):
        line = next(l for l in block.splitlines() if l.strip().startswith(key + ":"))
        twice = twice.replace(line, f"    {key}: {2 * float(line.split(':')[1])!r}")
    doubled.write_text(text.replace(block, twice))

    def moe(cal):
        c = json.loads(run("cost", "-m", "deepseek-ai/DeepSeek-V2-Lite", "-g", "h100-pcie", "--tokens", "64",
                           "--moe-routing", "balanced", "--predictor", "calibrated", "--calibration", cal,
                           "--json").stdout)
        return sum(o["time_s"] for o in c["ops"] if o["name"] in ("moe_gate_up_proj", "activation_moe", "moe_down_proj"))
    flops = 2 * 3 * 2048 * 1408 * 384
    weights = 64 * 3 * 2048 * 1408 * 2
    pair_bytes = 384 * (3 * 2048 + 6 * 1408) * 2
    waves = (25 * 2048 + 18 * 1408) * 64 * 2 / (2.0e12 / 114)
    call = (f["fixed_s"] + f["compute"] * flops / 756e12 + f["weights"] * weights / 2.0e12 +
            (f["local_pairs"] + f["pairs"]) * pair_bytes / 2.0e12 + f["expert_s"] * 64 + f["waves"] * waves)
    assert moe(doubled) - moe(full) == pytest.approx(26 * call, rel=1e-4)
    # A100's tables time the fused MoE with power-law routing only: its fit is made on those rows and says so
    a100 = json.loads(run("calibrate", "-g", "a100-80gb", "--json").stdout)
    assert list(a100["moe"]) == ["bf16"]
    assert "fused MoE from its power-law rows" in a100["fitted_on"]


def test_a_gpu_without_tables_is_told_how_to_calibrate():
    expect_bad_input(run("calibrate", "-g", "h100-pcie"), "--from h100-sxm")
    derived = run("calibrate", "-g", "h100-pcie", "--from", "h100-sxm")
    assert derived.returncode == 0 and "derived_from: h100-sxm" in derived.stdout


def test_written_calibration_is_what_cost_uses(tmp_path):
    out = tmp_path / "cal.yaml"
    r = run("calibrate", "-g", "h100", "-o", out)
    assert r.returncode == 0 and out.exists() and "Wrote" in r.stdout
    c = json.loads(run("cost", "-m", "llama-3.1-8b", "-g", "h100", "--tokens", "512", "--predictor", "calibrated",
                       "--calibration", out, "--json").stdout)
    assert c["predictor"] == "roofline (calibrated)"
    assert {o["source"] for o in c["ops"] if o["name"] != "step_overhead"} == {"roofline (calibrated)"}
    # the made-up calibration at 0.4 efficiency is slower than the fitted one (~0.8): larger GEMM times
    slow = json.loads(run("cost", "-m", "llama-3.1-8b", "-g", "h100", "--tokens", "512", "--predictor", "calibrated",
                          "--calibration", CAL / "slow_h100.yaml", "--json").stdout)
    gate = {o["name"]: o["time_s"] for o in slow["ops"]}["gate_up_proj"]
    assert gate > 1.5 * {o["name"]: o["time_s"] for o in c["ops"]}["gate_up_proj"]


def test_cost_names_each_ops_source_by_predictor():
    t = json.loads(run("cost", "-m", "llama-3.1-8b", "-g", "h100", "--decode-batch", "8", "--context", "1000", "--json").stdout)
    assert t["predictor"] == "kernel tables"
    src = {o["name"]: o["source"] for o in t["ops"]}
    assert src["gate_up_proj"].startswith("table (vLLM 0.24.0, NVIDIA H100 80GB HBM3")
    # no table times a norm: the calibrated roofline, held at 8 tokens to the fastest tabled kernel per call
    assert src["input_norm"] == "roofline (calibrated), held to the tables' fastest kernel (2.45 us a call)"
    assert src["residual_add"] == "roofline (calibrated)"
    p = json.loads(run("cost", "-m", "llama-3.1-8b", "-g", "h100", "--decode-batch", "8", "--context", "1000",
                       "--predictor", "roofline", "--json").stdout)
    assert p["predictor"] == "roofline"
    assert all(o["time_s"] == o["roofline_s"] for o in p["ops"])


def test_scenario_names_its_calibration(tmp_path):
    sc = tmp_path / "s.yaml"
    sc.write_text((ROOT / "examples" / "chat.yaml").read_text().replace("seed: 42", "seed: 42\npredictor: calibrated\n"
                  f"calibration: {CAL / 'slow_h100.yaml'}"))
    j = json.loads(run("simulate", sc, "--set", "workload.duration_s=20", "--json").stdout)
    assert j["predictor"] == "roofline (calibrated)"


@pytest.mark.parametrize("args,needles", [
    (["calibrate", "-g", "h100", "--csv", CAL / "bad_header.csv"], ["bad_header.csv: line 1", "op,m,n,k"]),
    (["calibrate", "-g", "h100", "--tables", "nosuch"], ["--tables", "nosuch"]),
    (["calibrate", "-g", "h100", "--dtype", "int4"], ["--dtype"]),
    (["cost", "-m", "llama-3.1-8b", "-g", "h100", "--tokens", "8", "--predictor", "magic"], ["--predictor", "magic"]),
    (["cost", "-m", "llama-3.1-8b", "-g", "jetson-agx-orin-64gb", "--tokens", "8", "--predictor", "tables"],
     ["no kernel tables ship for jetson-agx-orin-64gb"]),
    (["cost", "-m", "llama-3.1-8b", "-g", "h100", "--tokens", "8", "--calibration", CAL / "efficiency_over_range.yaml"],
     ["efficiency_over_range.yaml", "gemm.compute_efficiency"]),
    (["simulate", "examples/chat.yaml", "--set", "predictor=tables", "gpu=jetson-agx-orin-64gb"], ["predictor", "jetson-agx-orin-64gb"]),
    (["simulate", "examples/chat.yaml", "--set", f"calibration={CAL / 'efficiency_over_range.yaml'}"], ["calibration", "gemm.compute_efficiency"]),
])
def test_bad_input_exit_2(args, needles):
    expect_bad_input(run(*args), *needles)


def test_attention_has_fits_of_its_own_that_cost_uses():
    # H100 PCIe carries H100 SXM's attention fits; one decode of Llama-3.1-8B at context 999 on its calibrated
    # roofline (by default it borrows H100 SXM's tables) then costs, a
    # layer: launch + smooth_max(smooth_max(KV bytes / (2.0 TB/s x memory efficiency), 8 KV heads x the item time; p),
    # FLOPs / (756 TFLOP/s x the prefill fit's compute efficiency); p), KV bytes = 1,000 keys x 4,096 B read + 4,096 B
    # written + 8,192 x 2 B of q and o; FLOPs = 4 x 32 heads x 128 x 1,000 keys; plus the split KV's combine (8
    # blocks of 4 query heads fill under 0.8 of the 114 SMs, and 1,000 keys pass one block of 128); one sequence
    # has no queries to repack
    j = json.loads(run("calibrate", "-g", "h100-pcie", "--from", "h100-sxm", "--json").stdout)
    d, p = j["decode_attention"], j["prefill_attention"]
    assert d["fit"]["points"] > 1000 and d["fit"]["l2_warm_left_out"] > 0 and p["fit"]["points"] > 1000
    c = json.loads(run("cost", "-m", "llama-3.1-8b", "-g", "h100-pcie", "--decode-batch", "1", "--context", "999",
                       "--predictor", "calibrated", "--json").stdout)
    attn = {o["name"]: o for o in c["ops"]}["attention"]
    assert attn["source"] == "roofline (calibrated, derived from h100-sxm)"

    def smax(a, b, e):
        return (a ** e + b ** e) ** (1 / e)

    memory = (1000 * 4096 + 4096 + 8192 * 2) / (2.0e12 * d["memory_efficiency"])
    compute = 4 * 32 * 128 * 1000 / (756e12 * p["compute_efficiency"])
    e = d["blend_exponent"]
    layer = d["launch_s"] + smax(smax(memory, 8 * d["item_s"], e), compute, e) + d["combine_s"]
    assert d["repack_s"] == 0 and d["combine_s"] > 0  # H100's kernel repacks nothing; its combine: about 2 us
    # (cost reads the shipped YAML, written to 6 significant digits; --json prints the fit in full)
    assert attn["time_s"] == pytest.approx(32 * layer, rel=1e-5)
    # a batch-1 decode's attention is mostly its fixed costs: about 15 us a layer (H100 SXM's table: 13.6 us at
    # 1,024 keys), where its 4 MB of KV take 2 us
    assert 11e-6 < layer < 17e-6
    # a calibration fitted on a CSV (here 12 bf16 GEMMs of the H100 table) holds no attention fits
    assert json.loads(run("calibrate", "-g", "h100", "--csv", CAL / "h100_gemms.csv", "--json").stdout)[
        "decode_attention"] is None


def test_h100_pcie_borrows_the_sxm_tables_and_says_so():
    j = json.loads(run("gpu", "--gpu", "h100-pcie", "--json").stdout)["gpu"]["step_times"]
    assert j == {"kernel_tables": "h100_sxm", "kernel_tables_borrowed_from": "h100-sxm",
                 "calibration": {"derived_from": "h100-sxm"}}
    assert json.loads(run("gpu", "--gpu", "h100", "--json").stdout)["gpu"]["step_times"]["kernel_tables_borrowed_from"] is None
    c = json.loads(run("cost", "-m", "llama-3.1-8b", "-g", "h100-pcie", "--tokens", "512", "--json").stdout)
    gate = {o["name"]: o for o in c["ops"]}["gate_up_proj"]
    assert gate["source"].endswith("scaled by the roofline from NVIDIA H100 SXM5 80GB")
    # a calibration for it still comes from the sibling, said so (it borrows the tables only for step times)
    expect_bad_input(run("calibrate", "-g", "h100-pcie"), "--from h100-sxm")
