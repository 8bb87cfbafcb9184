"""A user's own kernel tables (`cost --kernel-tables`, a scenario's `kernel_tables:`, `headroom.cost(kernel_tables=)`):
the tables predictor reads them instead of the GPU's shipped ones; a GPU's calibration and tables must be its own."""

import json

import pytest

from test_cli import DATA, ROOT, expect_bad_input, run

CAL = DATA / "calibrations"
C = 1e-8  # ms per (m n k) of the made-up table below


def tiny_table(path):
    """A bf16 GEMM table of a GPU headroom ships no tables for: latency C x m x n k ms on m {1, 8192}, n {1024,
    16384}, k {1024, 8192}. C m n k is a power law in m (log-log interpolation is exact for it) and bilinear in n and
    k (so is the interpolation there): every GEMM inside the grid reads exactly C m n k."""
    lines = ["# headroom kernel tables v1", "gpu my_orin", "device My Orin", "source made up for a test",
             "table gemm framework=vllm-9.9.9 dtype=bf16 kernel=test", "axis m 1 8192", "axis n 1024 16384",
             "axis k 1024 8192", "data"]
    for m in (1, 8192):
        for n in (1024, 16384):
            lines.append(" ".join(repr(C * m * n * k) for k in (1024, 8192)))
    path.write_text("\n".join(lines + ["end"]) + "\n")
    return path


def doubled(path):
    """H100 SXM's shipped tables with every latency twice as long (a re-measurement of the same GPU)."""
    out, data = [], False
    for line in (ROOT / "hardware" / "kernels" / "h100_sxm.hkt").read_text().splitlines():
        if line in ("data", "end"):
            data = line == "data"
            out.append(line)
        elif data:
            out.append(" ".join(t if t == "-" else repr(float(t) * 2) for t in line.split()))
        else:
            out.append("source doubled for a test" if line.startswith("source ") else line)
    path.write_text("\n".join(out) + "\n")
    return path


def op_times(args):
    r = run("cost", *args, "--json")
    assert r.returncode == 0, r.stderr
    return {o["name"]: o for o in json.loads(r.stdout)["ops"]}


def test_a_gpu_without_tables_takes_a_users_tables(tmp_path):
    # Llama-3.2-1B (16 layers, hidden 2,048, 8 KV heads of 64, MLP 8,192) on a Jetson AGX Orin, 8 prompt tokens (a
    # CUDA graph size: no padding): each layer's qkv_proj is 8 x 3,072 x 2,048, o_proj 8 x 2,048 x 2,048,
    # gate_up 8 x 16,384 x 2,048, down 8 x 2,048 x 8,192
    ops = op_times(["-m", "llama-3.2-1b", "-g", "jetson-agx-orin-64gb", "--tokens", "8", "--predictor", "tables",
                    "--kernel-tables", tiny_table(tmp_path / "mine.hkt")])
    for name, (n, k) in {"qkv_proj": (3072, 2048), "o_proj": (2048, 2048), "gate_up_proj": (16384, 2048),
                         "down_proj": (2048, 8192)}.items():
        assert ops[name]["time_s"] == pytest.approx(16 * C * 8 * n * k * 1e-3, rel=1e-6), name
        assert ops[name]["source"] == "table (vLLM 9.9.9, My Orin, interpolated)"
    # attention: no table in the file, the GPU's calibrated roofline
    assert ops["attention"]["source"].startswith("roofline (calibrated")
    # H100 PCIe borrows H100 SXM's tables, scaled; measurements of its own (a name no shipped tables have) are read
    # as they are
    pcie = op_times(["-m", "llama-3.2-1b", "-g", "h100-pcie", "--tokens", "8", "--kernel-tables", tmp_path / "mine.hkt"])
    assert pcie["qkv_proj"]["time_s"] == pytest.approx(16 * C * 8 * 3072 * 2048 * 1e-3, rel=1e-6)
    # without the file a Jetson has no tables to read
    expect_bad_input(run("cost", "-m", "llama-3.2-1b", "-g", "jetson-agx-orin-64gb", "--tokens", "8", "--predictor",
                         "tables"), "no kernel tables ship")


def test_re_measured_tables_of_a_shipped_gpu_replace_its_own(tmp_path):
    # every latency doubled: each GEMM of a 4,096-token prompt (far above any floor) takes exactly twice as long
    args = ["-m", "llama-2-7b", "-g", "h100", "--tokens", "4096"]
    base = op_times(args)
    mine = op_times(args + ["--kernel-tables", doubled(tmp_path / "h100_x2.hkt")])
    for name in ("qkv_proj", "o_proj", "gate_up_proj", "down_proj"):
        assert mine[name]["time_s"] == pytest.approx(2 * base[name]["time_s"], rel=1e-6), name
    assert mine["rope"]["time_s"] == base["rope"]["time_s"]  # no table: the calibrated roofline, unchanged
    text = run("cost", *args, "--kernel-tables", tmp_path / "h100_x2.hkt").stdout
    assert f"measured kernel tables (from {tmp_path / 'h100_x2.hkt'}: h100_sxm, doubled for a test)" in text


def test_a_scenario_names_its_kernel_tables(tmp_path):
    tables = doubled(tmp_path / "h100_x2.hkt")
    sc = tmp_path / "s.yaml"
    sc.write_text((ROOT / "examples" / "chat.yaml").read_text() + f"\nkernel_tables: {tables}\n")
    base = json.loads(run("simulate", ROOT / "examples" / "chat.yaml", "--set", "workload.duration_s=20", "--json").stdout)
    mine = json.loads(run("simulate", sc, "--set", "workload.duration_s=20", "--json").stdout)
    assert mine["predictor"] == "kernel tables"
    assert mine["predictor_note"] == f"the tables of NVIDIA H100 80GB HBM3 from {tables}"
    # a decode step of Llama-3.1-8B at this load is GEMMs and attention from the doubled tables, and small ops held
    # to the tables' fastest kernel (doubled too): the TPOT about doubles (a little more: slower steps batch more
    # sequences); the shipped tables' run would give 1
    ratio = mine["tpot_s"]["mean"] / base["tpot_s"]["mean"]
    assert 1.6 < ratio < 2.5
    text = run("simulate", sc, "--set", "workload.duration_s=20").stdout
    assert f"step times: measured kernel tables ({tables})" in text


def test_python_cost_takes_the_same_tables(tmp_path):
    headroom = pytest.importorskip("headroom")
    tables = tiny_table(tmp_path / "mine.hkt")
    df = headroom.cost("llama-3.2-1b", "jetson-agx-orin-64gb", tokens=8, predictor="tables", kernel_tables=tables)
    assert df.loc["qkv_proj", "time_s"] == pytest.approx(16 * C * 8 * 3072 * 2048 * 1e-3, rel=1e-6)
    with pytest.raises(ValueError, match="kernel_tables: .* holds the tables of my_orin"):
        headroom.cost("llama-3.2-1b", "h100", tokens=8, kernel_tables=tables)


@pytest.mark.parametrize("make_args,needles", [
    (lambda t: ["cost", "-m", "llama-3.1-8b", "-g", "b200", "--tokens", "8", "--kernel-tables", doubled(t / "x.hkt")],
     ["--kernel-tables", "holds the tables of h100_sxm", "runs b200"]),
    (lambda t: ["cost", "-m", "llama-3.2-1b", "-g", "jetson-agx-orin-64gb", "--tokens", "8", "--kernel-tables",
                doubled(t / "x.hkt")], ["--kernel-tables", "holds the tables of h100_sxm", "another GPU's"]),
    (lambda t: ["cost", "-m", "llama-3.1-8b", "-g", "h100", "--tokens", "8", "--kernel-tables", tiny_table(t / "x.hkt")],
     ["--kernel-tables", "holds the tables of my_orin", "whose tables are h100_sxm's"]),
    (lambda t: ["cost", "-m", "llama-3.1-8b", "-g", "b200", "--tokens", "8", "--calibration", CAL / "slow_h100.yaml"],
     ["--calibration", "slow_h100.yaml is fitted for h100-sxm", "runs b200"]),
    (lambda t: ["simulate", "examples/chat.yaml", "--set", f"kernel_tables={doubled(t / 'x.hkt')}", "gpu=b200"],
     ["kernel_tables", "holds the tables of h100_sxm"]),
    (lambda t: ["simulate", "examples/chat.yaml", "--set", f"calibration={CAL / 'slow_h100.yaml'}", "gpu=b200"],
     ["calibration", "fitted for h100-sxm"]),
    (lambda t: ["cost", "-m", "llama-3.1-8b", "-g", "h100", "--tokens", "8", "--kernel-tables", t / "nosuch.hkt"],
     ["--kernel-tables", "nosuch.hkt", "cannot open"]),
    (lambda t: ["simulate", "examples/chat.yaml", "--set", f"kernel_tables={bad_axes(t / 'bad.hkt')}"],
     ["kernel_tables", "bad.hkt: line 5", "axes m n k"]),
])
def test_bad_input_exit_2(tmp_path, make_args, needles):
    r = run(*make_args(tmp_path))
    expect_bad_input(r, *needles)


def bad_axes(path):
    tiny_table(path)
    path.write_text(path.read_text().replace("axis k ", "axis kk "))
    return path
