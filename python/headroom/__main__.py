"""The `headroom` command of the installed package (and `python -m headroom`): runs the C++ CLI that the wheel
carries in headroom/bin, with the same arguments, output and exit codes. Figures are drawn by this Python."""
from __future__ import annotations

import os
import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent


def cli_path() -> Path | None:
    """The `headroom` binary: the wheel's copy, else a source tree's build (build/cli/headroom)."""
    for candidate in (_HERE / "bin" / "headroom", _HERE.parent.parent / "build" / "cli" / "headroom"):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    exe = cli_path()
    if exe is None:
        print("headroom: the command-line binary is missing from this installation "
              f"(looked in {_HERE / 'bin'}); reinstall with `pip install .`", file=sys.stderr)
        return 2
    env = dict(os.environ)
    env.setdefault("HEADROOM_PYTHON", sys.executable)
    env.setdefault("HEADROOM_PLOT_SCRIPT", str(_HERE / "plot.py"))
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(str(exe), [str(exe), *args], env)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
