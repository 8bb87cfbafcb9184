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
        got = normalise((r.stdout + r.stderr).rstrip("\n"))
        assert got == normalise(expected) or same_but_last_digits(got, normalise(expected)), cmd


NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?")


def same_but_last_digits(got, expected):
    """The same text, but that a number printed to six significant digits (calibrate's fitted terms) may differ
    in its last digit: the fits iterate through libm's exp, log and pow, whose last bit glibc picks by the CPU's
    instruction set (its FMA and AVX2 variants), so two machines' builds of the same code can part at 1e-6. Every
    other character, every count, and every decimal number but for one unit of its last printed digit must
    agree."""
    if NUMBER.split(got) != NUMBER.split(expected):
        return False
    a, b = NUMBER.findall(got), NUMBER.findall(expected)
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if x == y:
            continue
        if "." not in x or "." not in y or "e" in x + y:
            return False  # counts and exponents: exact
        unit = 10.0 ** -max(len(x.split(".")[1]), len(y.split(".")[1]))  # 0.9844 against 0.984399: 1e-6
        if abs(float(x) - float(y)) > unit * 1.0000001:
            return False
    return True


def test_same_but_last_digits_takes_a_last_digit_and_nothing_more():
    assert same_but_last_digits("token_ns: 22.1492\nscale: 0.9844", "token_ns: 22.1493\nscale: 0.984399")
    assert not same_but_last_digits("token_ns: 22.1482", "token_ns: 22.1493")  # 11 units
    assert not same_but_last_digits("points: 3254", "points: 3253x")
    assert not same_but_last_digits("tpot 14.5 ms", "ttft 14.5 ms")
    assert not same_but_last_digits("12,136 completed", "12,137 completed")  # integers: exact


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
