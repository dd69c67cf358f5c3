"""Measure one column on one problem (one or more ops) in *this* process.

``python -m benchmarks.worker SPEC.json RESULT.json`` is what the orchestrator runs in a
fresh subprocess; :func:`measure` is the same thing as a function (the notebook and the
smoke test call it directly).

Figures, per op:
  import_s     importing the tool (once per process, reported apart from the build)
  build_s      formula -> first result at N (parse/derive/codegen/compile or load from
               the disk cache, plus the first evaluation), after the imports
  eval_s       ``repeats`` timed calls after one warm-up call (min/median/max derived)
  call1_us     per-call time at N = 1 (median of 5 batches), after warm-up
  call100_us   per-call time at N = 100
  peak_rss_mb  peak resident memory of the process so far (``ru_maxrss``)
  check        canonical (rows, k) outputs at ``problems.sample_indices(N)`` for the
               cross-column comparison (returned as lists when asked, else saved .npy)
"""

from __future__ import annotations

import gc
import json
import os
import sys
import time
import traceback

import numpy as np

from . import columns as C
from . import problems as P


def _rss_mb() -> float:
    try:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux
    except Exception:  # pragma: no cover (Windows)
        return float("nan")


def _per_call_us(fn, args, finish, budget_s: float) -> float:
    """Median per-call time (µs) over 5 batches; batch size calibrated to ``budget_s/5``."""
    finish(fn(args))
    finish(fn(args))
    t = time.perf_counter()
    finish(fn(args))
    one = max(time.perf_counter() - t, 1e-7)
    loops = int(min(max(budget_s / 5 / one, 1), 20000))
    batches = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(loops):
            finish(fn(args))
        batches.append((time.perf_counter() - t) / loops)
    return float(np.median(batches) * 1e6)


def measure(
    column: str,
    problem: str,
    size: int | None,
    ops,
    N: int,
    repeats: int = 5,
    overhead: bool = True,
    overhead_budget_s: float = 0.1,
    keep_check: bool = True,
    check_dir: str | None = None,
    tag: str = "",
) -> dict:
    """Measure ``column`` on ``problem`` for each op in ``ops`` (see module docstring)."""
    col = C.get(column)
    p = P.problem(problem, size)
    out = {"column": column, "problem": problem, "size": p.size, "label": p.label, "N": N,
           "pid": os.getpid(), "ops": {}}
    reason = col.skip_reason()
    if reason:
        out["skipped"] = reason
        return out
    t = time.perf_counter()
    col.import_modules()
    out["import_s"] = time.perf_counter() - t
    out["version"] = col.version()
    out["threads"] = col.threads()
    X = p.inputs(N)
    args = col.prepare(X)
    idx = P.sample_indices(N)
    small = {k: col.prepare(p.inputs(k, seed=7)) for k in (1, 100)} if overhead else {}
    for op in ops:
        rec: dict = {}
        out["ops"][op] = rec
        try:
            gc.collect()
            t = time.perf_counter()
            fn = col.build(p, op)
            res = col.finish(fn(args))
            rec["build_s"] = time.perf_counter() - t
            ev = getattr(col, "evaluator", None)
            if ev is not None and hasattr(ev, "cache_stats"):
                rec["cache_stats"] = ev.cache_stats()
            canon = col.canonical(res, N, p.rows(op))
            check = np.ascontiguousarray(canon[:, idx])
            del canon, res
            if check_dir:
                path = os.path.join(check_dir, f"{tag}{column}__{op}.npy".replace("/", "_"))
                np.save(path, check)
                rec["check_file"] = path
            if keep_check:
                rec["check"] = check
            res = col.finish(fn(args))  # warm-up
            del res
            gc.collect()
            samples = []
            for _ in range(repeats):
                t = time.perf_counter()
                res = col.finish(fn(args))
                samples.append(time.perf_counter() - t)
                del res
            rec["eval_s"] = samples
            if overhead:
                for k, a in small.items():
                    rec[f"call{k}_us"] = _per_call_us(fn, a, col.finish, overhead_budget_s)
            rec["peak_rss_mb"] = _rss_mb()
        except Exception as exc:  # a column failing on one case is reported, not fatal
            rec["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]
            rec["traceback"] = traceback.format_exc()[-2000:]
    return out


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    spec_path, result_path = argv
    with open(spec_path) as fh:
        spec = json.load(fh)
    spec["keep_check"] = False
    try:
        result = measure(**spec)
    except Exception as exc:
        result = {"column": spec.get("column"), "fatal": f"{type(exc).__name__}: {exc}",
                  "traceback": traceback.format_exc()[-3000:]}
    tmp = result_path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(result, fh)
    os.replace(tmp, result_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
