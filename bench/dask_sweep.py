#!/usr/bin/env python3
"""Benchmark (prints numbers; not a test): a 1,000-point sweep run locally (forked children on this machine's
cores), then on a dask.distributed LocalCluster (the same simulations mapped over worker processes by recipe).
Both must give the same points; the times say what the Dask path costs on one machine. On a real cluster the
second number falls with the workers' cores.

Usage: .venv/bin/python bench/dask_sweep.py [POINTS] [WORKERS]   (defaults 1000, 2)"""

import json
import os
import sys
import time

import headroom


def main():
    points = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    from distributed import Client, LocalCluster

    # 1,000 open-loop rates from 0.5 to 20 req/s on the built-in chat scenario, 20 s of arrivals each; no
    # counterfactuals and no capacity probes, so every simulation is a grid point
    loads = [0.5 + 19.5 * i / (points - 1) for i in range(points)]
    kw = dict(qps=loads, set={"workload.duration_s": 20}, counterfactuals=False, refine=0, progress=False)
    t0 = time.monotonic()
    local = headroom.sweep(None, **kw)
    t_local = time.monotonic() - t0
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        t0 = time.monotonic()
        remote = headroom.sweep(None, client=client, **kw)
        t_dask = time.monotonic() - t0
    same = [json.dumps(p, sort_keys=True) for p in local.points] == [json.dumps(p, sort_keys=True) for p in remote.points]
    print(f"{points} points, {os.cpu_count()} cores: local {t_local:.1f} s ({points / t_local:.1f} points/s), "
          f"LocalCluster of {workers} workers {t_dask:.1f} s ({points / t_dask:.1f} points/s); identical: {same}")


if __name__ == "__main__":
    main()
