"""Import measured kernel tables into headroom's compact text format (hardware/kernels/<gpu>.hkt).

The input is the published layout of NVIDIA AIConfigurator's per-GPU kernel database, the one in
shared/reference/kernel-db: <gpu>/<op family>/<framework>-<version>/<table>.parquet, latency in milliseconds.
The output is one text file per GPU that the C++ side reads without Arrow:

    # headroom kernel tables v1
    gpu h100_sxm
    device NVIDIA H100 80GB HBM3
    source <provenance line>
    table gemm framework=vllm-0.24.0 dtype=bf16 kernel=torch.nn.functional.linear
    axis m 1 2 3 ...
    axis n 32 64 ...
    axis k 32 64 ...
    data
    <one line per combination of all axes but the last: the values along the last axis, in ms, '-' = not measured>
    end

Each table is a dense grid over its axes (row-major); its key=value attributes say which kernel and shape
family it holds. Usage:

    python -m headroom.kernels import DIR [--out hardware/kernels] [--gpu h100_sxm ...]

Needs pandas and pyarrow (PyPI). Every GPU directory found under DIR is imported unless --gpu names some.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from pathlib import Path

FORMAT_LINE = "# headroom kernel tables v1"

# headroom's dtype names for the tables' dtype strings
_DTYPES = {"bfloat16": "bf16", "float16": "fp16", "half": "fp16", "fp8": "fp8", "fp8_block": "fp8_block",
           "int8": "int8", "int4": "int4", "w4a16": "int4", "int4_wo": "int4", "nvfp4": "fp4", "w4afp8": "w4afp8",
           "w4a16_mxfp4": "mxfp4",
           "float32": "fp32"}


# The attention dimensions of the models whose MLA modules the database times (from each model's config.json);
# headroom matches a model to a table by these.
_MLA_MODELS = {
    "deepseek-ai/DeepSeek-V3": {"hidden": 7168, "q_lora": 1536, "kv_lora": 512, "nope": 128, "rope": 64, "v": 128},
}


# Fused-MoE shapes (hidden, inter, topk, experts) of models whose experts are not gated: NVIDIA's Nemotron-H
# family (config.json `mlp_hidden_act: relu2`; vLLM's `relu2_no_mul`: an expert is up and down projections, 2 x
# hidden x inter weights, not gate, up and down). The database times them with the model's own experts: Nemotron 3
# Nano (2688, 1856, top-6 of 128), Nemotron 3 Super (512 experts, top-22, inter 2688; at hidden 4096, and at its
# latent MoE width 1024: collection_meta.yaml's "Nemotron-3 Super FP8 rows (hidden=1024, inter=2688, 512 experts,
# topk=22)") and the larger Nemotron 3 (512 experts, top-22, inter 5120, latent 2048; AIConfigurator's
# collector/cases/models/NemotronHForCausalLM_cases.yaml). Read as gated, every GPU's rows of these shapes come
# out 27-44% slower on the fused-MoE fit than the other shapes' rows, as non-gated 1-5% (docs/fidelity.md). The
# tables of these shapes carry `activation=relu2_no_mul`, but for those of the older collector (A100's vLLM 0.14
# tables; kernel names below), which calls `fused_experts` on gate-up weights of 2 x inter rows whatever the model
# (collector/vllm/collect_moe.py of that version) and so timed gated experts of the shape.
_NON_GATED_MOE = {(2688, 1856, 6, 128), (4096, 2688, 22, 512), (1024, 2688, 22, 512), (2048, 5120, 22, 512)}
_GATED_ONLY_MOE_KERNELS = {"vllm_fused_moe", "vllm_marlin_int4_moe", "vllm_mxfp4_moe", "vllm_flashinfer_trtllm_moe_fp4"}


# The columns each table must have (beyond latency) for the importer to read it: the published layout's.
# kernel_source and device are read where present.
_COLUMNS = {
    "gemm_perf": ["gemm_dtype", "m", "n", "k"],
    "context_attention_perf": ["kv_cache_dtype", "num_heads", "num_key_value_heads", "head_dim", "batch_size", "isl"],
    "generation_attention_perf": ["kv_cache_dtype", "num_heads", "num_key_value_heads", "head_dim", "batch_size", "step"],
    "moe_perf": ["moe_dtype", "hidden_size", "inter_size", "topk", "num_experts", "moe_tp_size", "moe_ep_size",
                 "distribution", "num_tokens"],
    "mla_context_module_perf": ["model", "kv_cache_dtype", "gemm_type", "num_heads", "batch_size", "isl"],
    "mla_generation_module_perf": ["model", "kv_cache_dtype", "gemm_type", "num_heads", "batch_size", "step"],
    "context_mla_perf": ["kv_cache_dtype", "mla_dtype", "num_heads", "batch_size", "isl"],
    "generation_mla_perf": ["kv_cache_dtype", "mla_dtype", "num_heads", "batch_size", "step"],
    "encoder_attention_perf": ["attn_dtype", "num_heads", "head_dim", "batch_size", "isl"],
    "custom_allreduce_perf": ["num_gpus", "backend", "message_size"],
    "nccl_perf": ["op_name", "num_gpus", "nccl_dtype", "message_size"],
}
# The integer columns: grid axes and shape attributes, which must be positive (window_size may be 0: no window)
_INTEGER = {"m", "n", "k", "num_heads", "num_key_value_heads", "head_dim", "batch_size", "isl", "step", "hidden_size",
            "inter_size", "topk", "num_experts", "moe_tp_size", "moe_ep_size", "num_tokens", "num_gpus",
            "message_size"}


class BadTable(Exception):
    """A table the importer cannot read: the message names the file and the column."""


def _clean(df, path: Path, table: str):
    """`df` with its required columns checked and its unusable rows dropped (a warning says how many)."""
    import numpy as np
    import pandas as pd

    need = _COLUMNS.get(table, []) + ["latency"]
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise BadTable(f"{path}: missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)} (the "
                       f"published layout's {table} has {', '.join(need)})")
    if "kernel_source" not in df.columns:
        df = df.assign(kernel_source="unknown")
    lat = pd.to_numeric(df["latency"], errors="coerce")
    keep = (lat >= 1e-9) & (lat <= 1e9)  # what the .hkt reader takes (a float of ms); NaN fails both
    for c in need:
        if c in _INTEGER:
            v = pd.to_numeric(df[c], errors="coerce")
            keep &= (v >= 1) & (v <= 1e15) & (v == np.floor(v))
    if "window_size" in df.columns:
        w = pd.to_numeric(df["window_size"], errors="coerce")
        keep &= np.isfinite(w) & (w >= 0)
    dropped = int((~keep).sum())
    if dropped:
        print(f"warning: {path}: {dropped} of {len(df)} rows left out (a latency that is not a number of ms in "
              "[1e-9, 1e9], or a size that is not a positive integer)", file=sys.stderr)
    df = df[keep].assign(latency=lat[keep])
    for c in need:
        if c in _INTEGER:
            df[c] = pd.to_numeric(df[c]).astype("int64")
    if "window_size" in df.columns:
        df["window_size"] = pd.to_numeric(df["window_size"]).astype("int64")
    return df


def _dtype(name: str) -> str:
    return _DTYPES.get(str(name), re.sub(r"[^a-z0-9_]", "_", str(name).lower()))


def _fmt(v: float) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{v:.5g}"


def _newest(family_dir: Path, framework: str) -> Path | None:
    """The newest <framework>-<version> directory of an op family."""
    dirs = [d for d in family_dir.glob(f"{framework}-*") if d.is_dir()]
    if not dirs:
        return None

    def version(d: Path):
        return tuple(int(x) if x.isdigit() else 0 for x in re.split(r"[.-]", d.name.split("-", 1)[1]))

    return max(dirs, key=version)


def _grid_lines(df, axes: list[str], attrs: dict[str, str], family: str) -> list[str]:
    """One table block: a dense grid over `axes` of the median latency at each point."""
    import numpy as np

    values = {}
    for key, lat in df.groupby(axes)["latency"].median().items():
        values[key if isinstance(key, tuple) else (key,)] = float(lat)
    axis_values = [sorted({int(k[i]) for k in values}) for i in range(len(axes))]
    lines = ["table " + family + "".join(f" {k}={v}" for k, v in attrs.items())]
    for name, vals in zip(axes, axis_values):
        lines.append(f"axis {name} " + " ".join(str(v) for v in vals))
    lines.append("data")
    import itertools

    for prefix in itertools.product(*axis_values[:-1]):
        row = [_fmt(values.get(tuple(prefix) + (last,), float("nan"))) for last in axis_values[-1]]
        lines.append(" ".join(row))
    lines.append("end")
    del np
    return lines


def _main_kernel(df, by: list[str]) -> "object":
    """Per group of `by`, the rows of the kernel with the most measurements (the one vLLM runs by default)."""
    if not by:
        return df[df["kernel_source"] == df["kernel_source"].value_counts().idxmax()]
    counts = df.groupby(by + ["kernel_source"]).size().reset_index(name="n")
    best = counts.sort_values("n", ascending=False, kind="stable").drop_duplicates(by)
    return df.merge(best[by + ["kernel_source"]], on=by + ["kernel_source"])


def _collection_note(meta: Path, table: str, key: str) -> str:
    """`key: value` within `table:`'s block of a collection_meta.yaml (indented under `tables:`), or ""."""
    if not meta.exists():
        return ""
    inside, indent = False, 0
    for line in meta.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        depth = len(line) - len(line.lstrip())
        if stripped == f"{table}:":
            inside, indent = True, depth
        elif inside and depth <= indent:
            inside = False
        elif inside and stripped.startswith(f"{key}:"):
            return stripped.split(":", 1)[1].strip()
    return ""


def import_gpu(gpu_dir: Path) -> list[str]:
    """The .hkt text of one GPU directory of the published layout."""
    import pandas as pd

    out = [FORMAT_LINE, f"gpu {gpu_dir.name}"]
    device = None
    blocks: list[str] = []

    def read(family: str, framework: str, table: str):
        nonlocal device
        d = _newest(gpu_dir / family, framework)
        if d is None or not (d / f"{table}.parquet").exists():
            return None, None
        path = d / f"{table}.parquet"
        try:
            df = pd.read_parquet(path)
        except Exception as e:  # pyarrow's errors differ by version: one line names the file
            raise BadTable(f"{path}: not a readable parquet table ({type(e).__name__}: {str(e).splitlines()[0]})")
        df = _clean(df, path, table)
        if df.empty:
            return None, None
        if device is None and "device" in df.columns and len(df):
            device = str(df["device"].iloc[0])
        return df, d.name

    # GEMM: m x n x k per dtype, the default kernel of each dtype.
    df, ver = read("gemm", "vllm", "gemm_perf")
    if df is not None:
        df = _main_kernel(df, ["gemm_dtype"])
        for dt, g in df.groupby("gemm_dtype"):
            attrs = {"framework": ver, "dtype": _dtype(dt), "kernel": g["kernel_source"].iloc[0]}
            blocks += _grid_lines(g, ["m", "n", "k"], attrs, "gemm")

    # Attention: one grid per (KV dtype, window, heads, KV heads, head_dim); prefill over batch x isl,
    # decode over batch x context (step).
    for table, family, axes in (("context_attention_perf", "prefill_attention", ["batch_size", "isl"]),
                                ("generation_attention_perf", "decode_attention", ["batch_size", "step"])):
        df, ver = read("attention", "vllm", table)
        if df is None:
            continue
        df = _main_kernel(df, [])
        if "window_size" not in df.columns:  # older tables: full attention only
            df = df.assign(window_size=0)
        key = ["kv_cache_dtype", "window_size", "num_heads", "num_key_value_heads", "head_dim"]
        for k, g in df.groupby(key):
            attrs = {"framework": ver, "kernel": g["kernel_source"].iloc[0], "kv_dtype": _dtype(k[0]),
                     "window": int(k[1]), "heads": int(k[2]), "kv_heads": int(k[3]), "head_dim": int(k[4])}
            blocks += _grid_lines(g, axes, attrs, family)

    # Fused MoE: one grid over tokens per (dtype, shape, parallelism, routing distribution), from the kernel
    # measured most for that group (vLLM picks the MoE kernel per quantisation, GPU and parallelism: on H200
    # block-fp8 experts were timed with Triton under TP and with FlashInfer CUTLASS under EP).
    df, ver = read("moe", "vllm", "moe_perf")
    if df is not None:
        key = ["moe_dtype", "hidden_size", "inter_size", "topk", "num_experts", "moe_tp_size", "moe_ep_size",
               "distribution"]
        df = _main_kernel(df, key)
        for k, g in df.groupby(key):
            attrs = {"framework": ver, "kernel": g["kernel_source"].iloc[0], "dtype": _dtype(k[0]),
                     "hidden": int(k[1]), "inter": int(k[2]), "topk": int(k[3]), "experts": int(k[4]),
                     "tp": int(k[5]), "ep": int(k[6]), "distribution": str(k[7])}
            if ((int(k[1]), int(k[2]), int(k[3]), int(k[4])) in _NON_GATED_MOE
                    and attrs["kernel"] not in _GATED_ONLY_MOE_KERNELS):
                attrs["activation"] = "relu2_no_mul"
            blocks += _grid_lines(g, ["num_tokens"], attrs, "moe")

    # MLA attention modules (DeepSeek-V3's whole attention block: q/kv down- and up-projections, RoPE,
    # attention, o_proj), per (KV dtype, GEMM dtype, heads per GPU); prefill over batch x isl (no cached
    # prefix), decode over batch x context (step). vLLM picks the backend per shape, so every kernel is kept.
    # A collection note in the version directory's collection_meta.yaml (`norm_dispatch: ...` under the table's
    # name: B200's tables were re-collected with vLLM's fused RMSNorm kernels, where the others ran the unfused
    # chain) is kept as the tables' `norm_dispatch` attribute.
    for table, family, axes in (("mla_context_module_perf", "mla_prefill", ["batch_size", "isl"]),
                                ("mla_generation_module_perf", "mla_decode", ["batch_size", "step"])):
        df, ver = read("mla", "vllm", table)
        if df is None:
            continue
        norms = _collection_note(gpu_dir / "mla" / ver / "collection_meta.yaml", table, "norm_dispatch")
        for k, g in df.groupby(["model", "kv_cache_dtype", "gemm_type", "num_heads"]):
            dims = _MLA_MODELS.get(str(k[0]))
            if dims is None:
                print(f"warning: {gpu_dir.name}: MLA tables of {k[0]} skipped (its attention dimensions are not "
                      "known to the importer)", file=sys.stderr)
                continue
            attrs = {"framework": ver, "kernel": "+".join(sorted(g["kernel_source"].unique())), "model": str(k[0]),
                     **dims, "kv_dtype": _dtype(k[1]), "dtype": _dtype(k[2]), "heads": int(k[3])}
            if norms:
                attrs["norm_dispatch"] = norms
            blocks += _grid_lines(g, axes, attrs, family)

    # MLA attention implementations alone (an older collection, A100's: vLLM 0.14's MLACommonImpl.forward with the
    # backend vLLM picks, Triton MLA there): the latent's cache write, then for a prefill the kv_b up-projection
    # and FlashAttention over the new tokens, for a decode the absorbed W_UK and W_UV products around the
    # latent attention; no q/KV down-projections, norms, RoPE or o_proj. DeepSeek-V3's dimensions (the collector's
    # only model), per (KV dtype, dtype, heads per GPU); prefill over batch x isl, decode over batch x context
    # (step: the keys each decode attends to). The collector timed the forward without a CUDA graph, so where
    # the kernels are short the host's dispatch (about 0.3 ms on A100) sets the time: `timing=eager` says so.
    for table, family, axes in (("context_mla_perf", "mla_attention_prefill", ["batch_size", "isl"]),
                                ("generation_mla_perf", "mla_attention_decode", ["batch_size", "step"])):
        df, ver = read("mla", "vllm", table)
        if df is None:
            continue
        dims = _MLA_MODELS["deepseek-ai/DeepSeek-V3"]
        for k, g in df.groupby(["kv_cache_dtype", "mla_dtype", "num_heads"]):
            attrs = {"framework": ver, "kernel": "+".join(sorted(g["kernel_source"].unique())),
                     "model": "deepseek-ai/DeepSeek-V3", **dims, "kv_dtype": _dtype(k[0]), "dtype": _dtype(k[1]),
                     "heads": int(k[2]), "timing": "eager"}
            blocks += _grid_lines(g, axes, attrs, family)

    # Encoder attention (bidirectional, vLLM's ViT FlashAttention path): one grid per (dtype, heads, head_dim)
    # over batch x sequence length.
    df, ver = read("encoder_attention", "vllm", "encoder_attention_perf")
    if df is not None:
        df = _main_kernel(df, [])
        for k, g in df.groupby(["attn_dtype", "num_heads", "head_dim"]):
            attrs = {"framework": ver, "kernel": g["kernel_source"].iloc[0], "dtype": _dtype(k[0]), "heads": int(k[1]),
                     "head_dim": int(k[2])}
            blocks += _grid_lines(g, ["batch_size", "isl"], attrs, "encoder_attention")

    # vLLM's all-reduce call (graph and eager; whichever path vLLM takes at each size: its custom all-reduce, torch
    # symmetric memory or NCCL) and NCCL collectives: a grid over the message size in elements
    # (GridTable::message_bytes_per_unit).
    df, ver = read("comm", "vllm", "custom_allreduce_perf")
    if df is not None:
        for k, g in df.groupby(["num_gpus", "backend"]):
            attrs = {"framework": ver, "op": "all_reduce", "gpus": int(k[0]),
                     "mode": "graph" if "graph" in str(k[1]) else "eager"}
            blocks += _grid_lines(g, ["message_size"], attrs, "vllm_allreduce")
    df, ver = read("comm", "nccl", "nccl_perf")
    if df is not None:
        for k, g in df.groupby(["op_name", "num_gpus", "nccl_dtype"]):
            attrs = {"framework": ver, "op": str(k[0]), "gpus": int(k[1]), "dtype": _dtype(k[2])}
            blocks += _grid_lines(g, ["message_size"], attrs, "nccl")

    out.append(f"device {device or gpu_dir.name}")
    return out + blocks


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m headroom.kernels",
                                description="Import measured kernel tables (AIConfigurator's published layout) "
                                            "into headroom's .hkt format.")
    sub = p.add_subparsers(dest="cmd", required=True)
    imp = sub.add_parser("import", help="import every GPU directory of DIR")
    imp.add_argument("dir", type=Path, help="directory holding <gpu>/<op family>/<framework>-<version>/*.parquet")
    imp.add_argument("--out", type=Path, default=Path("hardware/kernels"), help="output directory (default: %(default)s)")
    imp.add_argument("--gpu", action="append", help="import only this GPU directory (repeatable)")
    imp.add_argument("--source", default=None, help="provenance line written into each file (default: SOURCES.md's first line)")
    a = p.parse_args(argv)
    if not a.dir.is_dir():
        print(f"error: {a.dir}: not a directory", file=sys.stderr)
        return 2
    gpus = [d for d in sorted(a.dir.iterdir()) if d.is_dir() and (not a.gpu or d.name in a.gpu)]
    if not gpus:
        print(f"error: {a.dir}: no GPU directory to import", file=sys.stderr)
        return 2
    source = a.source
    if source is None:
        src = a.dir / "SOURCES.md"
        source = "measured kernel latencies"
        if src.exists():
            text = src.read_text()
            m = re.search(r"NVIDIA's AIConfigurator project \(repository ([^,]+), commit\s+([0-9a-f]+)", text.replace("\n", " "))
            if m:
                source = f"NVIDIA AIConfigurator kernel database ({m.group(1)}, commit {m.group(2)[:12]}, Apache-2.0)"
    # every GPU read before any file is written: a bad table leaves no output behind
    imported = []
    for d in gpus:
        try:
            lines = import_gpu(d)
        except BadTable as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        lines.insert(3, f"source {source}")
        imported.append((d.name, lines))
    a.out.mkdir(parents=True, exist_ok=True)
    for name, lines in imported:
        path = a.out / f"{name}.hkt"
        path.write_text("\n".join(lines) + "\n")
        tables = sum(1 for line in lines if line.startswith("table "))
        print(f"{path}: {tables} tables, {path.stat().st_size / 1e6:.1f} MB")
    return 0

if __name__ == "__main__":
    sys.exit(main())
