"""The installed package behaves like a Python tool: the `headroom` console script (and `python -m headroom`)
is the CLI with its exit codes, from any folder; the examples ship as package data; long calls report
progress and stop at Ctrl-C, leaving no simulation behind."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import headroom
from headroom import _headroom as _h

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(sys.executable).parent / "headroom"


def test_console_script_is_the_cli_from_any_folder(tmp_path):
    assert SCRIPT.exists(), "pip install . installs a `headroom` console script"
    v = subprocess.run([SCRIPT, "--version"], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert v.returncode == 0 and v.stdout.startswith("headroom ")
    # the built-in default scenario, from a folder that holds nothing of the project
    r = subprocess.run([SCRIPT, "simulate", "--json"], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["schema"] == "headroom.simulate/1"
    # the CLI's exit code 2 and one error line for bad input, through `python -m headroom` too
    bad = subprocess.run([sys.executable, "-m", "headroom", "simulate", "missing.yaml"], capture_output=True, text=True,
                         cwd=tmp_path, timeout=60)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.strip().splitlines() == ["error: missing.yaml: cannot open file"]


def test_examples_ship_with_the_package(tmp_path, monkeypatch):
    names = list(headroom.examples)
    assert {"chat", "trace-conv", "rag", "embedding"} <= set(names)
    trace = headroom.examples["trace-conv"]
    assert trace.is_file() and trace.suffix == ".yaml"
    # its trace file travels with it: the example loads from any working directory
    monkeypatch.chdir(tmp_path)
    assert headroom.load_scenario(trace).name == "trace-conv-llama8b-h100"
    assert headroom.examples["chat.yaml"] == headroom.examples["chat"]
    with pytest.raises(KeyError, match="no such example"):
        headroom.examples["nope"]


def test_progress_reports_every_simulation():
    calls = []
    _h.sweep(str(ROOT / "examples" / "rag.yaml"), ["workload.requests=40"], "qps", [1.0, 2.0, 4.0], [], False, 2,
             lambda done, total: calls.append((done, total)))
    assert [d for d, _ in calls] == [1, 2, 3]  # one call per finished simulation, in order
    assert all(t == 3 for _, t in calls)


def test_an_exception_in_the_progress_callback_stops_the_run():
    def boom(done, total):
        raise RuntimeError("stop here")
    with pytest.raises(RuntimeError, match="stop here"):
        _h.sweep(str(ROOT / "examples" / "rag.yaml"), ["workload.requests=40"], "qps", [1.0, 2.0, 4.0], [], False, 1,
                 boom)


def _children_of(pid):
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def test_ctrl_c_stops_a_sweep_within_a_second(tmp_path):
    # A sweep of long simulations (each minutes of chat traffic); SIGINT once they run: KeyboardInterrupt within a
    # second, and the simulations' processes are gone.
    script = tmp_path / "long_sweep.py"
    script.write_text(textwrap.dedent(f"""
        import headroom, sys
        try:
            headroom.sweep({str(ROOT / 'examples' / 'chat.yaml')!r}, qps=[2, 3, 4, 5], set={{"workload.duration_s": 100000}},
                           counterfactuals=False, progress=False, jobs=2)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.exit(7)
    """))
    p = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not _children_of(p.pid) and time.time() < deadline:  # the simulations have started
        time.sleep(0.1)
    children = _children_of(p.pid)
    assert children, "the sweep started its simulations"
    time.sleep(1.0)
    t0 = time.time()
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=30)
    elapsed = time.time() - t0
    assert p.returncode == 7, err
    assert out.strip() == "interrupted"
    assert elapsed < 3.0, elapsed  # the check runs every 100 ms; slack for a loaded machine
    for c in children:  # killed and reaped, not left running
        assert not Path(f"/proc/{c}").exists()


def test_results_and_plans_render_in_jupyter():
    r = headroom.simulate(ROOT / "examples" / "rag.yaml", keep_requests=False)
    page = r._repr_html_()
    assert "rag-llama8b-2xh100" in page and f"{r.summary['completed']:,} completed" in page
    assert r.requests.empty  # keep_requests=False: the summary only
    plan = headroom.kv_plan("meta-llama/Llama-3.1-8B-Instruct", "h100")
    assert plan._repr_html_().startswith("<b>&lt;KvPlan: ") and "num_blocks" in plan._repr_html_()


def test_python_says_what_the_cli_says():
    # an unknown architecture warns, as the CLI's "warning: ... guessed"
    odd = {"model_type": "frobnicator", "hidden_size": 2048, "num_hidden_layers": 4, "num_attention_heads": 16,
           "intermediate_size": 8192, "vocab_size": 1000, "max_position_embeddings": 2048}
    with pytest.warns(UserWarning, match="guessed: .*frobnicator"):
        headroom.load_model(odd)
    # a model that does not fit is a plan with fits=False, and a warning
    with pytest.warns(UserWarning, match="does not fit"):
        plan = headroom.kv_plan("meta-llama/Llama-3.3-70B-Instruct", "h100")
    assert not plan.fits and plan.why_not
    # a keyword typo: one short TypeError with the suggestion, not pybind11's overload listing
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'contxt' \(did you mean 'context'\?\)") as e:
        headroom.kv_plan("meta-llama/Llama-3.1-8B-Instruct", "h100", contxt=8192)
    assert len(str(e.value)) < 120


def test_a_figure_is_shown_once():
    # the plot functions detach their figure from pyplot: Jupyter shows the returned Figure once, as the value
    import matplotlib.pyplot as plt
    plt.close("all")
    r = headroom.simulate(ROOT / "examples" / "rag.yaml", set={"workload.duration_s": 20})
    fig = headroom.plot.latency_cdf(r)
    assert fig is not None and plt.get_fignums() == []
