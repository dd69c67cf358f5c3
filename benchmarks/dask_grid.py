"""Gradient of sin(x)*cos(y)*exp(-z**2) on a grid of n**3 points on dask.distributed.

    python -m benchmarks.dask_grid                 # n = 1000: 10**9 points (minutes)
    python -m benchmarks.dask_grid --n 200 --chunk 50 --out /tmp/dask.md   # a quick run

Three ways, the same evaluator (``parallel=False``: one thread per kernel call, the
parallelism is the cluster's), the same chunks, each reducing the gradient with
``(g**2).sum(axis=(0, 1, 2))`` so that nothing of the grid's size is ever kept:

* ``numpy loop``: one process, a Python loop over the chunks (the meshgrid block is
  built with NumPy, then ``f.gradient`` and the sum of squares);
* ``dask, 1 worker`` and ``dask, 2 workers``: ``LocalCluster(processes=True,
  threads_per_worker=1)``, the grid built by ``da.meshgrid`` (lazy, chunked), the
  gradient by ``f.gradient`` on the dask arrays.

Kernels are compiled (or loaded from the disk cache) on every worker before timing.
Reports points per second, the scaling efficiency from 1 to 2 workers
(``rate_2 / (2 * rate_1)``), the CPU model and the load average before and after,
and writes a Markdown table (default ``benchmarks/results/dask.md``).
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from pathlib import Path

import numpy as np

from .run import _cpu_model

FORMULA = "sin(x)*cos(y)*exp(-z**2)"
HERE = Path(__file__).resolve().parent


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def _evaluator():
    import symgrad

    return symgrad.compile(FORMULA, parallel=False)


def numpy_loop(n: int, chunk: int) -> tuple[float, np.ndarray]:
    f = _evaluator()
    axis = np.linspace(-3.0, 3.0, n)
    f.gradient(axis[:2], axis[:2], axis[:2])  # compile (or load) first
    total = np.zeros(3)
    start = time.perf_counter()
    for i in range(0, n, chunk):
        for j in range(0, n, chunk):
            for k in range(0, n, chunk):
                x, y, z = np.meshgrid(axis[i:i + chunk], axis[j:j + chunk],
                                      axis[k:k + chunk], indexing="ij")
                g = f.gradient(x, y, z)
                total += (g**2).sum(axis=(0, 1, 2))
    return time.perf_counter() - start, total


def _warm(formula: str) -> float:
    import time

    import numpy as np

    import symgrad

    start = time.perf_counter()
    symgrad.compile(formula, parallel=False).gradient(np.ones(2), np.ones(2), np.ones(2))
    return time.perf_counter() - start


def dask_run(n: int, chunk: int, workers: int) -> tuple[float, np.ndarray, float]:
    import dask.array as da
    import distributed

    f = _evaluator()
    with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=logging.ERROR) as cluster, \
            distributed.Client(cluster) as client:
        warm = max(client.run(_warm, FORMULA).values())
        axis = da.linspace(-3.0, 3.0, n, chunks=chunk)
        x, y, z = da.meshgrid(axis, axis, axis, indexing="ij")
        g = f.gradient(x, y, z)
        reduced = (g**2).sum(axis=(0, 1, 2))
        start = time.perf_counter()
        total = reduced.compute()
        return time.perf_counter() - start, total, warm


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="points per axis (n**3 in all)")
    parser.add_argument("--chunk", type=int, default=100, help="chunk length per axis")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "dask.md")
    args = parser.parse_args(argv)
    n, chunk = args.n, args.chunk
    points = n**3
    load_before = _load()
    rows = []
    t, ref = numpy_loop(n, chunk)
    rows.append(("numpy loop, 1 process", t, ""))
    results = {}
    for workers in (1, 2):
        t, total, warm = dask_run(n, chunk, workers)
        np.testing.assert_allclose(total, ref, rtol=1e-12)  # the same numbers
        results[workers] = t
        rows.append((f"dask, {workers} worker{'s' if workers > 1 else ''}", t,
                     f"kernel ready on workers in {warm:.2f} s"))
    load_after = _load()
    efficiency = results[1] / (2 * results[2])
    lines = [
        "# dask.distributed benchmark",
        "",
        f"`python -m benchmarks.dask_grid --n {n} --chunk {chunk}`: gradient of "
        f"`{FORMULA}` on {n}^3 = {points:.3g} points, chunks of {chunk}^3, reduced with "
        "`(g**2).sum(axis=(0, 1, 2))`; `LocalCluster(processes=True, threads_per_worker=1)`; "
        "evaluator `parallel=False`.",
        "",
        f"CPU: {_cpu_model()}, {os.cpu_count()} logical cores; load average (1, 5, 15 min) "
        f"before: {load_before}, after: {load_after}.",
        "",
        "| run | seconds | points per second | note |",
        "|---|---|---|---|",
    ]
    for name, t, note in rows:
        lines.append(f"| {name} | {t:.1f} | {points / t:.3g} | {note} |")
    lines += [
        "",
        f"Scaling efficiency 1 -> 2 workers: {efficiency:.0%} "
        "(rate with 2 workers / twice the rate with 1).",
        f"dask, 2 workers vs the NumPy loop: {rows[0][1] / results[2]:.2f}x.",
        "",
    ]
    text = "\n".join(lines)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
