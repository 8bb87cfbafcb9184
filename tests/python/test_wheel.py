"""The self-contained wheel (scripts/wheel.sh: pip wheel, then auditwheel repair): installed into a fresh venv,
its extension module and its CLI load every shared library beyond the C and C++ runtimes from the wheel itself
(headroom.libs/), not from the -dev packages this machine has, and `headroom simulate` runs from any folder with
the same answer as the development install."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# what a manylinux wheel may take from the system (the policy's libraries that headroom links)
SYSTEM = {"linux-vdso.so.1", "libc.so.6", "libm.so.6", "libstdc++.so.6", "libgcc_s.so.1", "libpthread.so.0",
          "libdl.so.2", "librt.so.1", "ld-linux-x86-64.so.2"}


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    if not (Path(sys.executable).parent / "auditwheel").exists():
        pytest.skip("auditwheel is not in this venv (scripts/setup.sh installs it)")
    tmp = tmp_path_factory.mktemp("wheel")
    built = subprocess.run([ROOT / "scripts" / "wheel.sh", tmp / "dist"], capture_output=True, text=True, timeout=1200)
    assert built.returncode == 0, built.stderr[-3000:]
    wheel = Path(built.stdout.strip().splitlines()[-1])
    assert re.match(r"headroom-.*-manylinux_\d+_\d+_x86_64\.whl$", wheel.name), wheel.name
    env_dir = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", env_dir], check=True, timeout=300)
    pip = subprocess.run([env_dir / "bin" / "pip", "install", "-q", "--disable-pip-version-check", wheel],
                         capture_output=True, text=True, timeout=1200)
    assert pip.returncode == 0, pip.stderr[-3000:]
    return env_dir


def resolved(path):
    """ldd's answer for one ELF file: {library name: the path it loads from}."""
    out = subprocess.run(["ldd", path], capture_output=True, text=True, check=True, env={"PATH": os.environ["PATH"]}).stdout
    libs = {}
    for line in out.splitlines():
        m = re.match(r"\s*(\S+)(?: => (\S+))?", line)
        if m:
            libs[m.group(1).rsplit("/", 1)[-1]] = m.group(2) or m.group(1)
    return libs


def test_the_wheel_brings_its_own_shared_libraries(venv):
    pkg = next((venv / "lib").glob("python3*/site-packages/headroom"))
    elves = list(pkg.glob("_headroom*.so")) + [pkg / "bin" / "headroom"]
    assert all(e.exists() for e in elves)
    bundled = pkg.parent / "headroom.libs"
    for elf in elves:
        libs = resolved(elf)
        assert "not found" not in libs.values(), libs
        foreign = {n: p for n, p in libs.items() if n not in SYSTEM and not Path(p).resolve().is_relative_to(bundled)}
        assert not foreign, f"{elf.name} loads these from the system: {foreign}"
        # SimGrid, yaml-cpp and fmt are among the bundled ones
        names = " ".join(n for n, p in libs.items() if Path(p).resolve().is_relative_to(bundled))
        assert "libsimgrid" in names and "libyaml-cpp" in names and "libfmt" in names, names


def test_the_installed_wheel_simulates_from_any_folder(venv, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("LD_LIBRARY_PATH", "PYTHONPATH", "VIRTUAL_ENV")}
    r = subprocess.run([venv / "bin" / "headroom", "simulate", "--json"], capture_output=True, text=True, cwd=tmp_path,
                       env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    here = subprocess.run([Path(sys.executable).parent / "headroom", "simulate", "--json"], capture_output=True, text=True,
                          cwd=tmp_path, timeout=300)
    got, want = json.loads(r.stdout), json.loads(here.stdout)
    for key in ("completed", "ttft_s", "tpot_s", "output_throughput", "usd_per_mtok"):
        assert got[key] == want[key], key
    code = "import headroom; print(headroom.kv_plan('llama-3.1-8b', 'h100').num_blocks)"
    py = subprocess.run([venv / "bin" / "python", "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env,
                        timeout=300)
    assert py.returncode == 0, py.stderr
    assert py.stdout.strip() == str(__import__("headroom").kv_plan("llama-3.1-8b", "h100").num_blocks)
