#!/usr/bin/env python3
"""Re-run every notebook top to bottom in a fresh kernel and store it with its outputs (what GitHub renders and
tests/python/test_notebooks.py checks). Run after changing a notebook or anything it shows.

Usage: .venv/bin/python scripts/run_notebooks.py [NOTEBOOK ...]   (default: notebooks/*.ipynb)"""

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]

for path in [Path(p) for p in sys.argv[1:]] or sorted((ROOT / "notebooks").glob("*.ipynb")):
    nb = nbformat.read(path, as_version=4)
    start = time.monotonic()
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    nb.metadata.pop("widgets", None)
    nbformat.write(nb, path)
    print(f"{path.name}: {time.monotonic() - start:.1f} s")
