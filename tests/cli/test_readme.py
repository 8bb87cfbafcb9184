"""The README shows real output: re-run each `$ build/cli/headroom ...` example (and the main job) and compare."""

import re
import shlex
import subprocess
from pathlib import Path

from test_cli import BIN, ROOT

README = (ROOT / "README.md").read_text()


def examples():
    """(command line, expected output) for each fenced block that starts with a `$ ` line."""
    for block in re.findall(r"```\n(\$ .*?)```", README, flags=re.S):
        cmd, *out = block.rstrip("\n").split("\n")
        yield cmd[2:], "\n".join(out)


def test_readme_has_examples():
    assert len(list(examples())) >= 3


def test_readme_examples_are_real_output():
    main_args = re.search(r'exec "\$BIN" (sweep .*)$', (ROOT / "scripts/run.sh").read_text(), re.M).group(1)
    for cmd, expected in examples():
        args = shlex.split(cmd)
        argv = [BIN, *shlex.split(main_args)] if args[0] == "./scripts/run.sh" else [BIN, *args[1:]]
        r = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=300)
        assert normalise((r.stdout + r.stderr).rstrip("\n")) == normalise(expected), cmd


def normalise(text):
    """The two things that change between builds and runs: the git commit and the wall time."""
    text = re.sub(r"headroom (\d+\.\d+\.\d+) \([0-9a-f]+(-dirty)?\)", r"headroom \1 (COMMIT)", text)
    text = re.sub(r"in [0-9.]+ s of wall time \([0-9]+x real time\)", "in WALL s of wall time (Nx real time)", text)
    text = re.sub(r"simulations in [0-9.]+ s;", "simulations in WALL s;", text)
    return text


def test_readme_python_example_is_real_output():
    """The README's Python block, run from the repository root, prints the text block that follows it."""
    import sys

    code, expected = re.search(r"```python\n(.*?)```\n\n```text\n(.*?)```", README, flags=re.S).groups()
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.rstrip("\n") == expected.rstrip("\n")
