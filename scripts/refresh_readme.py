#!/usr/bin/env python3
"""Re-runs every README example (fenced blocks starting with `$ `, and the Python block) and writes their real
output back into README.md, so that tests/cli/test_readme.py passes after a change to the numbers. Review the
diff and the prose around it afterwards: this only replaces command output.

Usage: ./scripts/setup.sh && .venv/bin/python scripts/refresh_readme.py   (the Python block runs the installed
package: setup.sh reinstalls it after a change)"""

import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = str(ROOT / "build" / "cli" / "headroom")


def run_block(block: str) -> str:
    cmd = block.split("\n", 1)[0][2:]
    args = shlex.split(cmd)
    if args[0] == "./scripts/run.sh":
        main_args = re.search(r'exec "\$BIN" (sweep .*)$', (ROOT / "scripts/run.sh").read_text(), re.M).group(1)
        argv = [BIN, *shlex.split(main_args)]
    else:
        argv = [BIN, *args[1:]]
    r = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=600)
    return f"$ {cmd}\n" + (r.stdout + r.stderr).rstrip("\n") + "\n"


def main() -> int:
    path = ROOT / "README.md"
    text = path.read_text()
    text = re.sub(r"```\n(\$ .*?)```", lambda m: "```\n" + run_block(m.group(1)) + "```", text, flags=re.S)

    def python_block(m):
        code = m.group(1)
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=600)
        if r.returncode != 0:
            raise SystemExit(r.stderr)
        return f"```python\n{code}```\n\n```text\n{r.stdout.rstrip()}\n```"

    text = re.sub(r"```python\n(.*?)```\n\n```text\n(.*?)```", python_block, text, count=1, flags=re.S)
    path.write_text(text)
    print("README.md refreshed; review `git diff README.md`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
