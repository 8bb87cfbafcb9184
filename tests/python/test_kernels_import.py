"""`python -m headroom.kernels import DIR`: AIConfigurator's published layout (parquet) to headroom's .hkt, which
the C++ side reads back (here through `headroom calibrate --tables FILE.hkt`)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pd = pytest.importorskip("pandas")
pytest.importorskip("pyarrow")

ROOT = Path(__file__).resolve().parents[2]
BIN = os.environ.get("HEADROOM_BIN", str(ROOT / "build" / "cli" / "headroom"))


def write_gemm_table(d: Path):
    """A bf16 GEMM table on a 4 x 3 x 3 grid whose latency is 0.002 ms + 2 m n k / 500 TFLOP/s, one point missing."""
    rows = []
    for m in (1, 16, 256, 4096):
        for n in (1024, 4096, 14336):
            for k in (1024, 4096, 8192):
                if (m, n, k) == (16, 4096, 4096):
                    continue
                rows.append(dict(framework="VLLM", version="0.99.0", device="Test GPU", op_name="gemm",
                                 kernel_source="torch.nn.functional.linear", gemm_dtype="bfloat16", m=m, n=n, k=k,
                                 latency=0.002 + 2 * m * n * k / 500e12 * 1e3))
    out = d / "test_gpu" / "gemm" / "vllm-0.99.0"
    out.mkdir(parents=True)
    pd.DataFrame(rows).to_parquet(out / "gemm_perf.parquet")
    (d / "SOURCES.md").write_text("test data\n")


def test_import_writes_a_table_the_cpp_side_reads(tmp_path):
    write_gemm_table(tmp_path / "db")
    r = subprocess.run([sys.executable, "-m", "headroom.kernels", "import", str(tmp_path / "db"), "--out", str(tmp_path / "out"),
                        "--source", "unit test"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    text = (tmp_path / "out" / "test_gpu.hkt").read_text().splitlines()
    assert text[0] == "# headroom kernel tables v1"
    assert "gpu test_gpu" in text and "device Test GPU" in text and "source unit test" in text
    assert "table gemm framework=vllm-0.99.0 dtype=bf16 kernel=torch.nn.functional.linear" in text
    assert "axis m 1 16 256 4096" in text and "axis n 1024 4096 14336" in text
    data = text[text.index("data") + 1:text.index("end")]
    assert len(data) == 4 * 3  # one line per (m, n), k along the line
    assert data[1 * 3 + 1].split()[1] == "-"  # (16, 4096, 4096) was not measured
    # the C++ reader takes it: calibrate fits 35 points
    c = subprocess.run([BIN, "calibrate", "-g", "h100", "--tables", str(tmp_path / "out" / "test_gpu.hkt"), "--json"],
                       capture_output=True, text=True)
    assert c.returncode == 0, c.stderr
    # 35 points, of which those whose working set, 6 x (n k + m n) x 2 B + m k x 2 B, fits in the H100's 50 MiB L2
    # are left out as L2-warm: (1024, 1024) at m = 1, 16, 256 and (1024, 4096), (4096, 1024) at m = 1, 16
    fit = json.loads(c.stdout)["gemm"]["fit"]
    warm = sum(1 for m in (1, 16, 256, 4096) for n in (1024, 4096, 14336) for k in (1024, 4096, 8192)
               if (m, n, k) != (16, 4096, 4096) and 6 * (n * k + m * n) * 2 + m * k * 2 <= 50 * 2**20)
    assert warm == 7 and fit["l2_warm_left_out"] == warm and fit["points"] == 35 - warm


def test_import_of_a_missing_directory_is_one_line_and_exit_2(tmp_path):
    r = subprocess.run([sys.executable, "-m", "headroom.kernels", "import", str(tmp_path / "nope")],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.strip().splitlines() == [f"error: {tmp_path / 'nope'}: not a directory"]


def test_import_keeps_every_mla_backend_and_names_the_model_dimensions(tmp_path):
    """MLA module tables: one grid per (KV dtype, GEMM dtype, heads) with DeepSeek-V3's dimensions as attributes;
    vLLM picks the backend per shape, so rows of two kernels fill one grid; a model the importer does not know is
    skipped with a warning."""
    rows = []
    for model in ("deepseek-ai/DeepSeek-V3", "someone/Unknown-MLA"):
        for b in (1, 2):
            for isl in (1, 1024):
                rows.append(dict(framework="VLLM", version="0.99.0", device="Test GPU", op_name="mla_context_module",
                                 kernel_source="FLASHMLA" if isl == 1 else "FLASH_ATTN", model=model,
                                 architecture="DeepseekV3ForCausalLM", mla_dtype="bfloat16", kv_cache_dtype="bfloat16",
                                 gemm_type="fp8_block", num_heads=16, batch_size=b, isl=isl, tp_size=1, step=0,
                                 latency=0.1 * b + isl / 1000))
    out = tmp_path / "db" / "test_gpu" / "mla" / "vllm-0.99.0"
    out.mkdir(parents=True)
    pd.DataFrame(rows).to_parquet(out / "mla_context_module_perf.parquet")
    r = subprocess.run([sys.executable, str(ROOT / "python" / "headroom" / "kernels.py"), "import", str(tmp_path / "db"),
                        "--out", str(tmp_path / "out"), "--source", "unit test"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "Unknown-MLA skipped" in r.stderr
    text = (tmp_path / "out" / "test_gpu.hkt").read_text().splitlines()
    heads = [line for line in text if line.startswith("table ")]
    assert heads == ["table mla_prefill framework=vllm-0.99.0 kernel=FLASHMLA+FLASH_ATTN model=deepseek-ai/DeepSeek-V3 "
                     "hidden=7168 q_lora=1536 kv_lora=512 nope=128 rope=64 v=128 kv_dtype=bf16 dtype=fp8_block heads=16"]
    i = text.index("data")
    # batch 1: 0.1 + 0.001 and 0.1 + 1.024; batch 2: 0.2 + 0.001 and 0.2 + 1.024
    assert text[i + 1:i + 3] == ["0.101 1.124", "0.201 1.224"]


def test_import_keeps_the_mla_tables_collection_note(tmp_path):
    """kernel-db's collection_meta.yaml says how a table was collected (B200's MLA modules: `norm_dispatch:
    vllm_c_eager_surrogate`, re-collected with vLLM's fused norms); the importer keeps that note on the table's
    grids as `norm_dispatch`, and only for the table it sits under."""
    out = tmp_path / "db" / "test_gpu" / "mla" / "vllm-0.99.0"
    out.mkdir(parents=True)
    for table, op, axis in (("mla_context_module_perf", "mla_context_module", "isl"),
                            ("mla_generation_module_perf", "mla_generation_module", "step")):
        rows = [dict(framework="VLLM", version="0.99.0", device="Test GPU", op_name=op, kernel_source="FLASHINFER_MLA",
                     model="deepseek-ai/DeepSeek-V3", architecture="DeepseekV3ForCausalLM", mla_dtype="bfloat16",
                     kv_cache_dtype="bfloat16", gemm_type="bfloat16", num_heads=16, batch_size=b, isl=1 if axis == "step" else x,
                     tp_size=1, step=x if axis == "step" else 0, latency=0.05 * b + x / 1e4)
                for b in (1, 2) for x in (16, 1024)]
        pd.DataFrame(rows).to_parquet(out / f"{table}.parquet")
    (out / "collection_meta.yaml").write_text(
        "schema_version: 1\ntables:\n  mla_context_module_perf:\n    status: complete\n"
        "    # a comment line: skipped\n    norm_dispatch: vllm_c_eager_surrogate\n"
        "  mla_generation_module_perf:\n    status: complete\n")
    r = subprocess.run([sys.executable, str(ROOT / "python" / "headroom" / "kernels.py"), "import", str(tmp_path / "db"),
                        "--out", str(tmp_path / "out"), "--source", "unit test"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    heads = [line for line in (tmp_path / "out" / "test_gpu.hkt").read_text().splitlines() if line.startswith("table ")]
    assert [h.split()[1] for h in heads] == ["mla_prefill", "mla_decode"]
    assert heads[0].endswith(" heads=16 norm_dispatch=vllm_c_eager_surrogate")
    assert heads[1].endswith(" heads=16")


def test_import_reads_the_older_mla_attention_implementation_tables(tmp_path):
    """A100's MLA tables (vLLM 0.14) time the attention implementation alone, one row per (heads per GPU, tp):
    context_mla_perf over batch x isl, generation_mla_perf over batch x step, DeepSeek-V3's dimensions; the
    importer keeps them as mla_attention_prefill / mla_attention_decode grids, one per heads, marked eager."""
    out = tmp_path / "db" / "test_gpu" / "mla" / "vllm-0.14.0"
    out.mkdir(parents=True)
    for table, op, axis in (("context_mla_perf", "context_mla", "isl"), ("generation_mla_perf", "generation_mla", "step")):
        rows = [dict(framework="VLLM", version="0.14.0", device="Test GPU", op_name=op, kernel_source="vllm_triton_mla",
                     mla_dtype="bfloat16", kv_cache_dtype="bfloat16", num_heads=128 // tp, batch_size=b,
                     isl=1 if axis == "step" else x, tp_size=tp, step=x if axis == "step" else 0, latency=0.3 + b * x / 1e4)
                for tp in (1, 8) for b in (1, 4) for x in (16, 1024, 4096)]
        pd.DataFrame(rows).to_parquet(out / f"{table}.parquet")
    r = subprocess.run([sys.executable, str(ROOT / "python" / "headroom" / "kernels.py"), "import", str(tmp_path / "db"),
                        "--out", str(tmp_path / "out"), "--source", "unit test"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    text = (tmp_path / "out" / "test_gpu.hkt").read_text().splitlines()
    heads = [line for line in text if line.startswith("table ")]
    dims = "model=deepseek-ai/DeepSeek-V3 hidden=7168 q_lora=1536 kv_lora=512 nope=128 rope=64 v=128"
    assert heads == [f"table mla_attention_{p} framework=vllm-0.14.0 kernel=vllm_triton_mla {dims} kv_dtype=bf16 "
                     f"dtype=bf16 heads={h} timing=eager" for p in ("prefill", "decode") for h in (16, 128)]
    i = text.index(heads[2])  # decode, 16 heads: batch 1 and 4 over steps 16, 1024, 4096
    assert text[i + 1:i + 6] == ["axis batch_size 1 4", "axis step 16 1024 4096", "data",
                                 "0.3016 0.4024 0.7096", "0.3064 0.7096 1.9384"]


def test_import_marks_nemotron_h_experts_non_gated(tmp_path):
    """Nemotron-H's experts are relu2 MLPs (up and down only): the fused-MoE grids of its shapes get
    `activation=relu2_no_mul`, other shapes none, and the older collector's grids (`vllm_fused_moe`, which ran
    gated experts for every shape) none (the C++ side's reading of it: KernelTables.NonGatedExpertsHoldTwoMatrices)."""
    rows = []
    for kernel, version in (("vllm_unquantizedfusedmoe_triton_tritonexperts", "0.99.0"), ("vllm_fused_moe", "0.14.0")):
        for hidden, inter, topk, experts in ((2688, 1856, 6, 128), (4096, 14336, 2, 8)):
            for t in (1, 64, 4096):
                rows.append(dict(framework="VLLM", version=version, device="Test GPU", op_name="moe", kernel_source=kernel,
                                 moe_dtype="bfloat16", num_tokens=t, hidden_size=hidden, inter_size=inter, topk=topk,
                                 num_experts=experts, moe_tp_size=1, moe_ep_size=1, distribution="balanced",
                                 latency=0.05 + t / 1e3))
    for kernel, version in (("vllm_unquantizedfusedmoe_triton_tritonexperts", "0.99.0"), ("vllm_fused_moe", "0.14.0")):
        out = tmp_path / f"db{version}" / "test_gpu" / "moe" / f"vllm-{version}"
        out.mkdir(parents=True)
        pd.DataFrame([r for r in rows if r["kernel_source"] == kernel]).to_parquet(out / "moe_perf.parquet")
        r = subprocess.run([sys.executable, str(ROOT / "python" / "headroom" / "kernels.py"), "import",
                            str(tmp_path / f"db{version}"), "--out", str(tmp_path / f"out{version}"), "--source", "unit test"],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    new = [l for l in (tmp_path / "out0.99.0" / "test_gpu.hkt").read_text().splitlines() if l.startswith("table moe")]
    old = [l for l in (tmp_path / "out0.14.0" / "test_gpu.hkt").read_text().splitlines() if l.startswith("table moe")]
    assert len(new) == 2 and len(old) == 2
    assert [l.endswith(" activation=relu2_no_mul") for l in new] == ["hidden=2688" in l for l in new] == [True, False]
    assert not any("activation=" in l for l in old)


def run_import(db: Path, out: Path, *extra: str):
    return subprocess.run([sys.executable, "-m", "headroom.kernels", "import", str(db), "--out", str(out), *extra],
                          capture_output=True, text=True, cwd=ROOT)


def test_a_table_without_a_column_it_needs_is_one_line_exit_2_and_no_output(tmp_path):
    """Two GPUs, the second's GEMM table without its n column: one error line naming the file and the column, and
    no .hkt written, not even the first GPU's."""
    write_gemm_table(tmp_path / "db")
    other = tmp_path / "db" / "z_gpu" / "gemm" / "vllm-0.99.0"
    other.mkdir(parents=True)
    df = pd.read_parquet(tmp_path / "db" / "test_gpu" / "gemm" / "vllm-0.99.0" / "gemm_perf.parquet")
    df.drop(columns=["n"]).to_parquet(other / "gemm_perf.parquet")
    r = run_import(tmp_path / "db", tmp_path / "out")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.strip().splitlines() == [
        f"error: {other / 'gemm_perf.parquet'}: missing column n (the published layout's gemm_perf has gemm_dtype, "
        "m, n, k, latency)"]
    assert not (tmp_path / "out").exists()
    # a file that is not parquet at all: one line too
    (other / "gemm_perf.parquet").write_text("not parquet\n")
    r = run_import(tmp_path / "db", tmp_path / "out", "--gpu", "z_gpu")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert r.stderr.startswith(f"error: {other / 'gemm_perf.parquet'}: not a readable parquet table")


def test_rows_that_cannot_be_latencies_are_left_out_with_a_warning(tmp_path):
    """A failed measurement (NaN or 0 ms) and a row at m = 0 are left out and counted; kernel_source, absent, is not
    needed. The grid is the 35 good points of write_gemm_table."""
    write_gemm_table(tmp_path / "db")
    path = tmp_path / "db" / "test_gpu" / "gemm" / "vllm-0.99.0" / "gemm_perf.parquet"
    df = pd.read_parquet(path).drop(columns=["kernel_source"])
    bad = pd.DataFrame([dict(df.iloc[0]) | {"latency": float("nan"), "m": 2},
                        dict(df.iloc[0]) | {"latency": 0.0, "m": 3},
                        dict(df.iloc[0]) | {"m": 0}])
    pd.concat([df, bad]).to_parquet(path)
    r = run_import(tmp_path / "db", tmp_path / "out")
    assert r.returncode == 0, r.stderr
    assert f"warning: {path}: 3 of 38 rows left out" in r.stderr
    text = (tmp_path / "out" / "test_gpu.hkt").read_text().splitlines()
    assert "axis m 1 16 256 4096" in text
    assert "table gemm framework=vllm-0.99.0 dtype=bf16 kernel=unknown" in text
