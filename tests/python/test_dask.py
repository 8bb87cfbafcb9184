"""headroom.sweep(..., client=...) on a dask.distributed LocalCluster with two worker processes: every point,
counterfactual and capacity probe runs on the workers from its recipe, and the sweep is bit-identical to the
same sweep run locally (same seeds)."""

import json
from pathlib import Path

import pytest

import headroom

distributed = pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parents[2]
RAG = ROOT / "examples" / "rag.yaml"


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with distributed.Client(cluster) as c:
            yield c


def lines(frame):
    return [json.dumps(p, sort_keys=True) for p in frame.points]


def test_a_sweep_on_a_local_cluster_equals_the_local_sweep(client):
    # rag on 2 x H100 from 2 to 64 questions/s: the grid, the counterfactuals at the first failing rate and the
    # capacity bisection all run remotely, by recipe
    kw = dict(qps=[2, 8, 32, 64], set={"workload.duration_s": 30}, progress=False)
    local = headroom.sweep(RAG, **kw)
    remote = headroom.sweep(RAG, client=client, **kw)
    assert lines(remote) == lines(local)
    cap = remote.capacity.iloc[0]
    assert cap["kind"] == "bracketed" and cap["load"] == local.capacity.iloc[0]["load"]
    assert remote.counterfactuals and remote.counterfactuals == local.counterfactuals
    # a swept field and the built-in scenario (no files to share) too
    kw2 = dict(concurrency=[10, 300], set={"workload.duration_s": 30, "kv_dtype": ["bf16", "fp8"]}, counterfactuals=False,
               progress=False)
    assert lines(headroom.sweep(None, client=client, **kw2)) == lines(headroom.sweep(None, **kw2))


def test_a_worker_error_reaches_the_caller(client):
    # a recipe a worker cannot build is its input error, raised here with headroom's message
    with pytest.raises(headroom.InputError, match="not a sweep point recipe"):
        client.submit(headroom._headroom.simulate_recipe, "{}", pure=False).result()
    recipe = json.dumps({"scenario_path": str(ROOT / "no-such.yaml"), "overrides": [], "load_kind": "qps", "load": 1.0,
                         "counterfactual": ""})
    with pytest.raises(headroom.InputError, match="no-such.yaml"):
        client.submit(headroom._headroom.simulate_recipe, recipe, pure=False).result()


def test_the_cli_sweep_with_dask_prints_what_the_local_sweep_prints(client):
    # `headroom sweep --dask ADDRESS`: the same JSON lines, the scenario named as the user gave it
    import os
    import subprocess
    bin_ = os.environ.get("HEADROOM_BIN", str(ROOT / "build" / "cli" / "headroom"))
    args = [bin_, "sweep", "examples/rag.yaml", "--qps", "2,32,64", "--set", "workload.duration_s=20", "--json"]
    local = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, timeout=300)
    remote = subprocess.run(args + ["--dask", client.scheduler.address], capture_output=True, text=True, cwd=ROOT,
                            timeout=300)
    assert local.returncode == 0 and remote.returncode == 0, remote.stderr
    assert remote.stdout == local.stdout and len(local.stdout.splitlines()) == 3
    # no scheduler there: one line naming the address, exit code 2
    bad = subprocess.run([bin_, "sweep", "--qps", "2", "--dask", "tcp://127.0.0.1:9", "--json"], capture_output=True,
                         text=True, cwd=ROOT, timeout=300, env={**os.environ, "HEADROOM_DASK_TIMEOUT": "2"})
    assert bad.returncode == 2 and bad.stdout == "", bad.stderr
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --dask: cannot reach the scheduler at tcp://127.0.0.1:9"), lines


def test_a_plan_on_a_local_cluster_equals_the_local_plan(client):
    # headroom.plan(client=...): every round of probes goes to the workers as plan-probe recipes; the ranked
    # configurations, their numbers and the simulation count are the local plan's
    kw = dict(gpus=["h100-sxm", "l40s"], duration_s=20, top=10, progress=False)
    local = headroom.plan("llama-3.1-8b", 4, "ttft_p95=2s,tpot_p95=50ms", **kw)
    remote = headroom.plan("llama-3.1-8b", 4, "ttft_p95=2s,tpot_p95=50ms", client=client, **kw)
    assert remote.to_dict("records") == local.to_dict("records") and len(local) >= 2
    assert remote.attrs == local.attrs
    # the CLI's --dask: the same JSON as the local plan
    import os
    import subprocess
    bin_ = os.environ.get("HEADROOM_BIN", str(ROOT / "build" / "cli" / "headroom"))
    args = [bin_, "plan", "--model", "llama-3.1-8b", "--qps", "4", "--slo", "ttft_p95=2s,tpot_p95=50ms", "--gpus",
            "h100-sxm", "--duration", "20", "--json"]
    here = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, timeout=300)
    there = subprocess.run(args + ["--dask", client.scheduler.address], capture_output=True, text=True, cwd=ROOT,
                           timeout=300)
    assert here.returncode == 0 and there.returncode == 0, there.stderr
    assert there.stdout == here.stdout and json.loads(here.stdout)["configurations"]
