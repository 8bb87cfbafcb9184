"""`headroom sweep --dask ADDRESS`: the command line's remote runner. Reads a batch of sweep point recipes (one
JSON object per line) from IN, simulates them on the workers of the Dask scheduler at ADDRESS (each in its own
process there, headroom._headroom.simulate_recipe), and writes each result to OUT in order, as an 8-byte
little-endian length and the result's bytes. Exit code 2 with one line on stderr when it cannot.

Usage: python -m headroom.dask_runner ADDRESS IN OUT   (HEADROOM_DASK_TIMEOUT: seconds to reach the scheduler, 30)"""
from __future__ import annotations

import os
import struct
import sys


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: python -m headroom.dask_runner ADDRESS IN OUT", file=sys.stderr)
        return 2
    address, src, dst = argv
    try:
        from distributed import Client
    except ImportError:
        print("error: --dask: dask.distributed is not installed for this Python (pip install 'headroom[dask]')",
              file=sys.stderr)
        return 2
    from headroom import _headroom

    with open(src) as f:
        recipes = [line for line in f.read().splitlines() if line]
    try:
        with Client(address, timeout=float(os.environ.get("HEADROOM_DASK_TIMEOUT", "30"))) as client:
            results = client.gather(client.map(_headroom.simulate_recipe, recipes, pure=False))
    except OSError as e:
        print(f"error: --dask: cannot reach the scheduler at {address} ({e})", file=sys.stderr)
        return 2
    except Exception as e:  # a worker's error, e.g. a scenario file missing on it
        print(f"error: --dask: {e}", file=sys.stderr)
        return 2
    with open(dst, "wb") as f:
        for r in results:
            f.write(struct.pack("<Q", len(r)))
            f.write(r)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
