"""`headroom cluster show` and `cluster list`: the shipped clusters' summaries, with numbers worked out by hand
from their YAMLs; --dot writes Graphviz; --bytes times a transfer by the closed form and on SimGrid; bad input
is one error line and exit code 2."""

import json

from test_cli import ROOT, expect_bad_input, run


def show(*args):
    r = run("cluster", "show", *args, "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_list_names_the_shipped_clusters():
    r = run("cluster", "list")
    assert r.returncode == 0, r.stderr
    assert [line.split()[0] for line in r.stdout.splitlines()] == ["dgx-h100", "gb200-nvl72", "h100-4node-ib"]


def test_four_dgx_nodes_on_a_rail_optimised_fabric():
    j = show("h100-4node-ib", "--route", "0,9", "--bytes", "2e9")
    assert (j["gpus"], j["nodes"]) == (32, 4)
    # 32 GPUs, 4 NVSwitches, 32 NICs, 8 rail leaves (4 NICs each on 64-port switches), one spine tier
    assert j["vertices"] == {"gpu": 32, "nvswitch": 4, "nic": 32, "leaf": 8, "spine": 1}
    # links: 32 NVLink + 32 PCIe + 32 NIC-leaf + 8 leaf-spine
    assert j["links"] == 104
    # half the nodes: 16 NICs of 400 Gb/s = 800 GB/s
    assert abs(j["bisection_bytes_per_s"] - 800e9) < 1e3
    # GPU 0 (rail 0) to GPU 9 (node 1, rail 1) crosses leaf, spine, leaf: 1 + 0.5 + 0.2 + 0.2 + 0.5 + 1 us
    assert j["route"]["path"] == ["dgx0.gpu0", "dgx0.nic0", "leaf.rail0.0", "spine", "leaf.rail1.0", "dgx1.nic1", "dgx1.gpu1"]
    assert abs(j["route"]["latency_s"] - 3.4e-6) < 1e-12
    # 2 GB at 50 GB/s: 40 ms + 3.4 us, and SimGrid agrees
    t = j["transfer"]
    assert abs(t["closed_form_s"] - (0.040 + 3.4e-6)) < 1e-12
    assert abs(t["simulated_s"] - t["closed_form_s"]) < 1e-9


def test_nvl72_is_one_nvlink_domain():
    j = show("gb200-nvl72")
    assert j["route"]["path"] == ["tray0.gpu0", "tray0-17.nvswitch", "tray17.gpu3"]
    assert j["route"]["bottleneck_bytes_per_s"] == 900e9
    # 36 GPUs a side, each sending on NVLink (900 GB/s) and through its own NIC (50 GB/s)
    assert abs(j["bisection_bytes_per_s"] - 36 * 950e9) < 1e4


def test_dot_writes_graphviz(tmp_path):
    out = tmp_path / "c.dot"
    r = run("cluster", "show", "dgx-h100", "--dot", out)
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    assert text.startswith("graph G {") and text.rstrip().endswith("}")
    assert text.count("--") == 16 and text.count('kind="gpu"') == 8
    assert f"Wrote {out}" in r.stdout


def test_bad_input_is_one_line(tmp_path):
    expect_bad_input(run("cluster", "show", "nope"), "nope", "no such file or shipped cluster")
    expect_bad_input(run("cluster", "show", "dgx-h100", "--route", "0,8"), "--route", "0 .. 7")
    expect_bad_input(run("cluster", "show", "dgx-h100", "--route", "3"), "--route")
    expect_bad_input(run("cluster", "show", "dgx-h100", "--bytes", "-1"), "--bytes")
    bad = tmp_path / "bad.yaml"
    text = (ROOT / "hardware" / "clusters" / "h100-4node-ib.yaml").read_text()
    bad.write_text(text.replace("count: 4", "count: 4\n    count: 5"))
    expect_bad_input(run("cluster", "show", bad), str(bad), "nodes[0].count", "duplicate key")
    bad.write_text(text.replace("gpu: h100-sxm", "gpu: h999"))
    expect_bad_input(run("cluster", "show", bad), "nodes[0].gpu")
    bad.write_text(text.replace("{value: 50, source: \"ConnectX-7: 400 Gb/s NDR = 50 GB/s per direction\"}", "{value: 50}"))
    expect_bad_input(run("cluster", "show", bad), "nodes[0].nics.bandwidth_gb_per_s.source", "missing")
    expect_bad_input(run("cluster"), "show, list")
