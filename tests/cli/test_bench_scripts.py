"""The analysis scripts in bench/ (step_check.py, gemm_table_check.py, step_consistency.py) on inputs whose
answers are worked out here: they run on any machine, so they are tested where CI runs."""

import json
import statistics
import subprocess
import sys

from test_cli import BIN, ROOT, run

sys.path.insert(0, str(ROOT / "bench"))
import gemm_table_check  # noqa: E402
import step_consistency  # noqa: E402

MODEL = "meta-llama/Llama-3.1-8B-Instruct"


def cost_ops(predictor, *shape):
    r = run("cost", "-m", MODEL, "-g", "h200", "--predictor", predictor, "--json", *shape)
    assert r.returncode == 0, r.stderr
    ops = {}
    for o in json.loads(r.stdout)["ops"]:
        ops[o["name"]] = ops.get(o["name"], 0.0) + o["time_s"]
    return ops


def test_step_check_scores_each_predictor_against_the_measured_ops(tmp_path):
    # A "measured" decode step whose op times are exactly the kernel tables' prediction: the tables score 0 on
    # every family, and the calibrated roofline scores its own ratio to the tables, computed here from `cost`.
    shape = ("--decode-batch", "8", "--context", "1024")
    tables = cost_ops("tables", *shape)
    calibrated = cost_ops("calibrated", *shape)
    step = {"schema": "headroom.measure-step/1", "model": MODEL, "gpu": "h200", "device": {"name": "test"},
            "kind": "decode", "tokens": 8, "sequences": 8, "context": 1024, "cuda_graphs": True,
            "step_s": {"p50": sum(tables.values())}, "predicted_s": sum(tables.values()),
            "profiled_total_s": sum(tables.values()),
            "ops": [{"name": n, "measured_s": t, "predicted_s": t} for n, t in tables.items()]}
    f = tmp_path / "steps.jsonl"
    f.write_text(json.dumps(step) + "\n")
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "step_check.py"), str(f), "--headroom", BIN, "--json"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)["predictors"]
    gemms = ("qkv_proj", "o_proj", "gate_up_proj", "down_proj", "lm_head")
    assert out["tables"]["GEMMs"]["n"] == 5
    assert out["tables"]["GEMMs"]["max"] == 0.0
    assert out["tables"]["whole step (profiled)"]["max"] == 0.0
    want = statistics.median(sorted(abs(calibrated[g] / tables[g] - 1) for g in gemms))
    assert abs(out["calibrated"]["GEMMs"]["median"] - want) < 1e-12


def test_bench_scripts_refuse_bad_input_in_one_line_with_exit_2(tmp_path):
    bad_json, other_schema = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    bad_json.write_text("not json\n")
    other_schema.write_text('{"schema": "headroom.validate/1"}\n')
    step_check = [sys.executable, str(ROOT / "bench" / "step_check.py"), "--headroom", BIN]
    table_check = [sys.executable, str(ROOT / "bench" / "gemm_table_check.py"), "--report"]
    for argv, needle in [(step_check + [str(bad_json)], "a.jsonl"),
                         (step_check + [str(other_schema)], "line 1: schema: expected headroom.measure-step/1"),
                         (step_check + [str(tmp_path / "missing.jsonl")], "missing.jsonl"),
                         (table_check + [str(other_schema)], "line 1: schema: expected headroom.gemm-table-check/1"),
                         (table_check + [str(bad_json)], "a.jsonl")]:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        assert r.returncode == 2, (argv, r.stderr)
        assert r.stderr.count("\n") == 1 and r.stderr.startswith("error: ") and needle in r.stderr, r.stderr


def test_gemm_table_check_reads_the_bf16_table_only(tmp_path):
    hkt = tmp_path / "t.hkt"
    hkt.write_text("\n".join([
        "# headroom kernel tables v1",
        "table gemm framework=x dtype=fp8 kernel=y",
        "axis m 1 2", "axis n 32 64", "axis k 32 64 128", "data",
        "9 9 9", "9 9 9", "9 9 9", "9 9 9", "end",
        "table gemm framework=x dtype=bf16 kernel=z",
        "axis m 1 2", "axis n 32 64", "axis k 32 64 128", "data",
        "0.1 0.2 0.3",   # m 1, n 32
        "0.4 - 0.6",     # m 1, n 64 (k 64 not measured)
        "1 2 3",         # m 2, n 32
        "4 5 nan",       # m 2, n 64
        "end", ""]))
    t = gemm_table_check.bf16_gemm_table(hkt)
    assert t == {(1, 32, 32): 0.1, (1, 32, 64): 0.2, (1, 32, 128): 0.3, (1, 64, 32): 0.4, (1, 64, 128): 0.6,
                 (2, 32, 32): 1.0, (2, 32, 64): 2.0, (2, 32, 128): 3.0, (2, 64, 32): 4.0, (2, 64, 64): 5.0}


def test_gemm_table_check_report(tmp_path, capsys):
    # table 10% slower than warm on every point, 20% faster than cold: (1.1 - 1) and (0.8 - 1)
    lines = [{"schema": "headroom.gemm-table-check/1", "device": "test", "torch": "0", "cuda": "0", "hkt": "t.hkt"}]
    for i, ms in enumerate([0.005, 0.05, 0.5, 2.0]):
        lines.append({"m": i + 1, "n": 32, "k": 32, "table_ms": ms, "warm": ms / 1.1, "cold": ms / 0.8})
    f = tmp_path / "check.jsonl"
    f.write_text("".join(json.dumps(x) + "\n" for x in lines))
    assert gemm_table_check.report(str(f)) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.strip().startswith("all"))
    assert row.split()[1:] == ["4", "10.0%", "10.0%", "+10.0%", "20.0%", "20.0%", "-20.0%"]


def test_gpu_bundle_runs_without_the_build_machines_libraries(tmp_path):
    # The bundle holds the CLI and the libraries it links; unpacked elsewhere, the CLI runs with only the
    # bundle's build/lib on the library path (and the system's glibc / libstdc++).
    import os
    import pytest
    import tarfile

    if not (ROOT / "build" / "cli" / "libheadroom_cuda.so").exists():
        pytest.skip("this build has no CUDA module (nvcc was not found)")
    out = tmp_path / "b.tar.xz"
    r = subprocess.run([str(ROOT / "scripts" / "gpu_bundle.sh"), str(out)], capture_output=True, text=True,
                       timeout=600, env={**os.environ, "XZ_LEVEL": "0"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(out)
    with tarfile.open(out) as t:
        t.extractall(tmp_path / "x")
    build = tmp_path / "x" / "build"
    for f in ("cli/headroom", "cli/libheadroom_cuda.so", "tests/headroom_tests", "lib/libsimgrid.so.3.32",
              "lib/libyaml-cpp.so.0.7"):
        assert (build / f).is_file(), f
    v = subprocess.run([str(build / "cli" / "headroom"), "--version"], capture_output=True, text=True,
                       env={"PATH": "/usr/bin:/bin", "LD_LIBRARY_PATH": str(build / "lib")}, timeout=60)
    assert v.returncode == 0 and v.stdout.startswith("headroom "), v.stderr
    ldd = subprocess.run(["ldd", str(build / "cli" / "headroom")], capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin", "LD_LIBRARY_PATH": str(build / "lib")}, timeout=60)
    simgrid = next(line for line in ldd.stdout.splitlines() if "libsimgrid" in line)
    assert str(build / "lib") in simgrid


def test_gpu_bundle_refuses_without_a_cuda_build(tmp_path):
    # a copy of the script in a tree with no build/: one line naming the missing file, exit 2
    import shutil

    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "gpu_bundle.sh", tmp_path / "scripts")
    r = subprocess.run([str(tmp_path / "scripts" / "gpu_bundle.sh"), str(tmp_path / "b.tar.xz")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "build/cli/headroom is missing" in r.stderr


def test_step_consistency_lists_a_step_that_takes_longer_than_the_next_larger():
    # 1 -> 10 ms, 8 -> 9.8 (10 / 9.8 = 1.020: within the 3% slack), 64 -> 8.0 (9.8 / 8.0 = 1.225: listed), a step
    # the model cannot take (None) passed over, so 256 is compared with 64
    got = step_consistency.inversions([(1, 10.0), (8, 9.8), (64, 8.0), (128, None), (256, 20.0)])
    assert got == [(8, 64, 9.8 / 8.0)]
    assert step_consistency.inversions([(1, 5.0), (2, None), (4, 4.0)]) == [(1, 4, 1.25)]


def test_step_consistency_prices_every_step_of_a_model():
    # Llama-3.2-1B (32 heads, 8 KV heads: TP 1, 2, 4 and 8, all fitting on an H100 and on an A100): per GPU, TP
    # and predictor, 8 prompts + 2 contexts x 5 decode batches + 2 batches x 5 contexts = 28 steps, so
    # 2 x 4 x 2 x 28 = 448; and 2 x 4 x 5 reference steps priced by both predictors. The only GPU pair the two
    # make is H100 against A100.
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "step_consistency.py"), "--models",
                        "meta-llama/Llama-3.2-1B-Instruct", "--gpus", "h100-sxm,a100-80gb", "--json"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["steps"] == 448
    assert len(out["ratios"]) == 40
    assert all(x["calibrated_over_tables"] > 0 for x in out["ratios"])
    assert all(f["ratio"] > step_consistency.SLACK for f in out["inversions"])
    assert all(o["ratio"] > step_consistency.GPU_SLACK and (o["newer"], o["older"]) == ("h100-sxm", "a100-80gb")
               for o in out["gpu_order"])


def test_step_consistency_refuses_a_name_that_is_not_there():
    for flag, name in (("--models", "nosuch/model"), ("--gpus", "nosuch-gpu")):
        r = subprocess.run([sys.executable, str(ROOT / "bench" / "step_consistency.py"), flag, name],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 2
        assert r.stdout == ""
        assert len(r.stderr.strip().splitlines()) == 1 and name in r.stderr
