"""Run the benchmark suite: ``python -m benchmarks.run [--quick] [--out DIR]``.

Every (case, column) is measured in a fresh subprocess (``benchmarks.worker``): a *cold*
process with an empty per-run cache (symgrad's ``SYMGRAD_CACHE_DIR``, numba's
``NUMBA_CACHE_DIR`` for the hand kernels, JAX's persistent compilation cache, torch
inductor's cache, all inside one temporary directory, removed at the end, so the
user's caches are never touched), then, for the tools that have a disk cache, a *warm*
process that finds the compiled kernel on disk. Columns are interleaved (their order rotates from one
case to the next) and the evaluation samples of both processes are pooled; tables report
min/median/max and ratios to the hand-written kernel.

Outputs in ``--out`` (default ``benchmarks/results`` for the full suite, which is
committed, and ``benchmarks/results/quick`` for ``--quick``, which is not: a quick run
never overwrites the full results): ``results.md`` (tables), ``results.json`` (raw
numbers, every sample), ``results.png`` (bar chart).

Modes
-----
(default)   the full suite of issue 4: P1 at N = 1e6 and 1e7, P2 n = 2, 10, 50, 100
            (N = 1e5, 1e5, 1e4, 1e4), P3 at N = 1e6 and 1e7; one process per case and op;
            >= 5 repeats; every extra measurement. Tens of minutes.
--quick     P1 and P3 at N = 1e5, P2 n = 10 at N = 1e4; one process per (problem,
            column) for all three ops; 3 repeats; a warm process for symgrad only; short
            extras (P2 build for n = 10, 20); torch.compile left out (it needs ~20 s per
            case). Under 2 minutes on 2 cores.
--smoke     tiny N (default 100), 2 repeats, every case in *this* process, no extras:
            for the test suite (checks the structure and that the columns agree).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from . import problems as P

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

FULL_CASES = [
    ("P1", None, 1_000_000),
    ("P1", None, 10_000_000),
    ("P2", 2, 100_000),
    ("P2", 10, 100_000),
    ("P2", 50, 10_000),
    ("P2", 100, 10_000),
    ("P3", None, 1_000_000),
    ("P3", None, 10_000_000),  # issue 9 asks for P1 and P3 at 1e6 and 1e7
]
QUICK_CASES = [("P1", None, 100_000), ("P2", 10, 10_000), ("P3", None, 100_000)]
#: --smoke: (problem, size, N placeholder, ops) -- small on purpose (the test must take < 30 s)
SMOKE_CASES = [("P1", None, 0, ("value", "hessian")), ("P2", 3, 0, ("hessian",)), ("P3", None, 0, ("gradient",))]

#: Columns left out of --quick unless named with --columns (slow to compile).
QUICK_EXCLUDE = {"torch.compile": "not in --quick (torch.compile needs ~20 s per case); run the full suite"}


def _slug(s: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in s)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def _mem_gb() -> float:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        return float("nan")


def _loadavg() -> list[float] | None:
    try:
        return list(os.getloadavg())
    except OSError:
        return None


def _versions() -> dict:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for dist in ("symgrad", "numpy", "numba", "llvmlite", "sympy", "symengine", "symjit", "jax",
                 "jaxlib", "torch", "matplotlib"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


# -- running one thing in a fresh process ------------------------------------------------


def _run_subprocess(args: list[str], env: dict, timeout: float) -> tuple[str, float]:
    """Run ``python args...`` in its own session; kill the whole group on timeout.

    Returns (status, wall seconds) with status "ok", "timeout" or "exit <code>: <stderr tail>".
    """
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, *args], cwd=str(ROOT), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            proc.kill()
        proc.communicate()
        return "timeout", time.perf_counter() - t
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        tail = " | ".join((err or "").strip().splitlines()[-3:])
        return f"exit {proc.returncode}: {tail}"[:400], wall
    return "ok", wall


def _env(cache_root: Path, column: str | None = None) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["SYMGRAD_CACHE_DIR"] = str(cache_root / "symgrad")
    env["BENCH_JAX_CACHE_DIR"] = str(cache_root / "jax")
    env["TORCHINDUCTOR_CACHE_DIR"] = str(cache_root / "torchinductor")
    env["TORCHINDUCTOR_COMPILE_THREADS"] = "1"  # no compile-worker pool left behind
    env["PYTHONWARNINGS"] = "ignore"
    if column in ("hand", "hand (vector)"):  # the same kernels, the same threading
        env["NUMBA_CACHE_DIR"] = str(cache_root / "numba")
        # numba's OpenMP layer (libgomp) stalls ~5-8 ms per parallel call when another
        # process keeps a core busy (measured on a shared 2-core VM); workqueue does not.
        # Override with BENCH_HAND_THREADING_LAYER=omp|tbb|workqueue|default.
        layer = os.environ.get("BENCH_HAND_THREADING_LAYER", "workqueue")
        if layer != "default":
            env["NUMBA_THREADING_LAYER"] = layer
    else:
        env.pop("NUMBA_CACHE_DIR", None)  # symgrad's default: numba files beside the kernel
    return env


# -- the suite ------------------------------------------------------------------------------


def _columns(selected: list[str] | None, exclude_slow: bool):
    from . import columns as C

    cols = C.all_columns()
    if selected:
        names = {c.name for c in cols}
        unknown = [s for s in selected if s not in names]
        if unknown:
            raise SystemExit(f"unknown column(s) {unknown}; known: {sorted(names)}")
        cols = [c for c in cols if c.name in selected]
    info, active = [], []
    for c in cols:
        reason = c.skip_reason()
        if not reason and exclude_slow and not selected and c.name in QUICK_EXCLUDE:
            reason = QUICK_EXCLUDE[c.name]
        info.append({"name": c.name, "note": c.note, "disk_cache": c.disk_cache,
                     "native": c.native, "skipped": reason})
        if not reason:
            active.append(c)
    return active, info


def run_suite(
    cases,
    *,
    out_dir: Path,
    columns: list[str] | None = None,
    quick: bool = False,
    exclude_slow: bool | None = None,
    repeats: int = 5,
    group_ops: bool = False,
    inprocess: bool = False,
    timeout: float = 600.0,
    ops=P.OPS,
    extras: bool = True,
    log=print,
) -> dict:
    """Measure every case x column; return the results dict (also written to out_dir)."""
    if exclude_slow is None:
        exclude_slow = quick or inprocess
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="symgrad-bench-"))  # caches, specs, checks; removed at the end
    started = time.perf_counter()
    meta = {
        "date": _dt.datetime.now().isoformat(timespec="seconds"),
        "command": "python -m benchmarks.run " + " ".join(sys.argv[1:]) if not inprocess else "in-process",
        "mode": "quick" if quick else ("in-process" if inprocess else "full"),
        "machine": {"platform": platform.platform(), "cpu": _cpu_model(),
                    "cpu_count": os.cpu_count(), "memory_gb": round(_mem_gb(), 1)},
        "loadavg_start": _loadavg(),
        "versions": _versions(),
        "repeats": repeats,
        "env": {k: os.environ.get(k) for k in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS",
                                                "NUMBA_THREADING_LAYER", "XLA_FLAGS")},
    }
    if inprocess:
        os.environ["SYMGRAD_CACHE_DIR"] = str(work / "inprocess" / "symgrad")
        os.environ.setdefault("NUMBA_CACHE_DIR", str(work / "inprocess" / "numba"))
    cols, col_info = _columns(columns, exclude_slow)
    results = {"meta": meta, "columns": col_info, "cases": [], "extras": {}}
    try:
        if extras and not inprocess:
            log("copy bandwidth ...")
            results["extras"]["bandwidth"] = [_extra(work, "bandwidth", {"size_mb": 64 if quick else 256}, timeout)]
        records = _measure_all(cases, cols, work, repeats=repeats, group_ops=group_ops,
                               inprocess=inprocess, timeout=timeout, ops=ops, log=log,
                               warm_only=("symgrad",) if quick else None, quick=quick)
        for c in results["columns"]:
            for rec in records:
                if rec["column"] == c["name"] and rec.get("version"):
                    c["version"], c["threads"] = rec["version"], rec.get("threads", "")
                    break
        results["cases"] = _aggregate(records, cols)
        if extras and not inprocess:
            if not quick:
                results["extras"]["bandwidth"].append(
                    _extra(work, "bandwidth", {"size_mb": 256}, timeout))
            _run_extras(results["extras"], work, quick, cols, timeout, log)
        _bandwidth_bounds(results)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    meta["loadavg_end"] = _loadavg()
    meta["wall_s"] = time.perf_counter() - started
    from . import report

    report.write_all(results, out_dir)
    return results


def _measure_all(cases, cols, work, *, repeats, group_ops, inprocess, timeout, ops, log,
                 warm_only=None, quick=False):
    from . import worker

    records = []
    rotation = 0
    for case in cases:
        problem, size, N = case[:3]
        case_ops = case[3] if len(case) > 3 and case[3] else ops
        p = P.problem(problem, size)
        units = [list(case_ops)] if group_ops else [[op] for op in case_ops]
        for unit in units:
            rotation += 1
            order = cols[rotation % len(cols):] + cols[: rotation % len(cols)] if cols else []
            unit_id = f"{_slug(p.label)}-N{N}-{'+'.join(unit)}"
            phases = ("cold",) if inprocess else ("cold", "warm")
            for phase in phases:
                for col in order:
                    if phase == "warm" and not col.disk_cache:
                        continue
                    if phase == "warm" and warm_only and col.name not in warm_only:
                        continue
                    cache_root = work / "cache" / unit_id / _slug(col.name)
                    check_dir = work / "check" / unit_id / phase
                    check_dir.mkdir(parents=True, exist_ok=True)
                    spec = dict(column=col.name, problem=problem, size=size, ops=unit, N=N,
                                repeats=repeats, overhead=True,
                                overhead_budget_s=0.01 if inprocess else (0.02 if quick else 0.2),
                                check_dir=str(check_dir), tag="")
                    t = time.perf_counter()
                    if inprocess:
                        data = worker.measure(keep_check=False, **spec)
                        status, wall = "ok", time.perf_counter() - t
                    else:
                        spec_path = work / f"spec-{os.getpid()}.json"
                        res_path = work / f"res-{len(records)}.json"
                        spec_path.write_text(json.dumps(spec))
                        status, wall = _run_subprocess(
                            ["-m", "benchmarks.worker", str(spec_path), str(res_path)],
                            _env(cache_root, col.name), timeout)
                        data = json.loads(res_path.read_text()) if res_path.exists() else {}
                    data.setdefault("column", col.name)
                    for op in unit:
                        rec_op = (data.get("ops") or {}).get(op, {})
                        if rec_op.get("check_file"):
                            rec_op["check"] = np.load(rec_op.pop("check_file"))
                    records.append({"problem": problem, "size": p.size, "label": p.label, "N": N,
                                    "unit": unit, "phase": phase, "column": col.name,
                                    "status": status, "process_wall_s": wall, **{
                                        k: v for k, v in data.items()
                                        if k not in ("problem", "size", "label", "N", "column")}})
                    log(f"{p.label:9s} N={N:<9d} {'+'.join(unit):24s} {phase:4s} {col.name:18s} "
                        f"{status if status != 'ok' else ''}{data.get('skipped', '')}"
                        f"{data.get('fatal', '')} ({wall:.1f} s)")
    return records


def _stats(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return None
    return {"min": float(np.min(xs)), "median": float(np.median(xs)), "max": float(np.max(xs)), "n": len(xs)}


def _aggregate(records, cols) -> list[dict]:
    cases = {}
    for r in records:
        for op in r["unit"]:
            key = (r["label"], r["N"], op)
            case = cases.setdefault(key, {"problem": r["problem"], "size": r["size"], "label": r["label"],
                                          "N": r["N"], "op": op, "columns": {}})
            c = case["columns"].setdefault(r["column"], {"samples_s": [], "processes": []})
            o = (r.get("ops") or {}).get(op, {})
            proc = {"phase": r["phase"], "status": r["status"], "process_wall_s": r["process_wall_s"],
                    "import_s": r.get("import_s"), "build_s": o.get("build_s"),
                    "call1_us": o.get("call1_us"), "call100_us": o.get("call100_us"),
                    "peak_rss_mb": o.get("peak_rss_mb"), "cache_stats": o.get("cache_stats"),
                    "error": o.get("error") or r.get("fatal") or (None if r["status"] == "ok" else r["status"]),
                    "skipped": r.get("skipped"), "grouped_ops": len(r["unit"]) > 1,
                    "first_op_in_process": r["unit"][0] == op}
            c["processes"].append(proc)
            c["samples_s"] += o.get("eval_s") or []
            if "check" in o and r["phase"] == "cold":
                c["_check"] = o["check"]
            if r.get("version"):
                c["version"] = r["version"]
    out = []
    for case in cases.values():
        N = case["N"]
        for _name, c in case["columns"].items():
            procs = c["processes"]
            cold = next((p for p in procs if p["phase"] == "cold"), {})
            warm = next((p for p in procs if p["phase"] == "warm"), {})
            c["eval_s"] = _stats(c["samples_s"])
            c["ns_per_point"] = c["eval_s"]["median"] / N * 1e9 if c["eval_s"] else None
            c["import_s"] = cold.get("import_s")
            c["cold_build_s"] = cold.get("build_s")
            c["warm_build_s"] = warm.get("build_s")
            c["warm_cache_stats"] = warm.get("cache_stats")
            c["call1_us"] = _stats([p["call1_us"] for p in procs])
            c["call100_us"] = _stats([p["call100_us"] for p in procs])
            c["peak_rss_mb"] = max([p["peak_rss_mb"] for p in procs if p["peak_rss_mb"]] or [None],
                                   key=lambda v: -1 if v is None else v)
            c["skipped"] = cold.get("skipped")
            c["error"] = next((p["error"] for p in procs if p["error"]), None)
            c["grouped_ops"] = cold.get("grouped_ops", False)
            c["first_op_in_process"] = cold.get("first_op_in_process", True)
        hand = case["columns"].get("hand", {})
        sg = case["columns"].get("symgrad", {})
        for _name, c in case["columns"].items():
            chk = c.get("_check")
            c["max_rel_err_vs_hand"] = (P.max_rel_err(chk, hand["_check"])
                                        if chk is not None and hand.get("_check") is not None else None)
            c["max_rel_err_vs_symgrad"] = (P.max_rel_err(chk, sg["_check"])
                                           if chk is not None and sg.get("_check") is not None else None)
            c["checked"] = chk is not None
            if hand.get("ns_per_point") and c.get("ns_per_point"):
                c["ratio_to_hand"] = c["ns_per_point"] / hand["ns_per_point"]
            else:
                c["ratio_to_hand"] = None
        for c in case["columns"].values():
            c.pop("_check", None)
        out.append(case)
    order = {op: i for i, op in enumerate(P.OPS)}
    out.sort(key=lambda c: (c["problem"], c["size"], c["N"], order[c["op"]]))
    return out


def _bandwidth_bounds(results) -> None:
    bw = [b.get("GBps") for b in results["extras"].get("bandwidth", []) if b.get("GBps")]
    results["extras"]["copy_GBps"] = float(np.median(bw)) if bw else None
    for case in results["cases"]:
        if case["problem"] != "P2":
            continue
        p = P.problem("P2", case["size"])
        bpp = P.bytes_per_point(p, case["op"])
        case["bytes_per_point"] = bpp
        if not bw:
            continue
        gbps = results["extras"]["copy_GBps"]
        case["bound_ns_per_point"] = {k: v / gbps for k, v in bpp.items()}  # bytes / (GB/s) = ns
        for c in case["columns"].values():
            if c.get("ns_per_point"):
                c["x_bound"] = c["ns_per_point"] / case["bound_ns_per_point"]["min"]


def _extra(work: Path, name: str, args: dict, timeout: float, env_cache: Path | None = None) -> dict:
    res = work / f"extra-{name}-{time.monotonic_ns()}.json"
    env = _env(env_cache or (work / "cache" / "extras"))
    status, wall = _run_subprocess(["-m", "benchmarks.extras", name, json.dumps(args), str(res)], env, timeout)
    data = json.loads(res.read_text()) if res.exists() else {"error": status, **args}
    data["process_wall_s"] = wall
    if status != "ok":
        data.setdefault("error", status)
    return data


def _run_extras(extras: dict, work: Path, quick: bool, cols, timeout: float, log) -> None:
    names = {c.name for c in cols}
    have_jax = "jax" in names
    # time to first result (P1 gradient + Hessian) incl. imports
    N = 100_000 if quick else 1_000_000
    rounds = 1 if quick else 3
    rows = []
    for r in range(rounds):
        for tool in ["symgrad", "symgrad[tiered]"] + (["jax"] if have_jax else []):
            cache = work / "cache" / f"first-{tool}-{r}"
            cold = _extra(work, "first_result", {"tool": tool, "N": N}, timeout, cache)
            cold["cache"] = "empty"
            warm = _extra(work, "first_result", {"tool": tool, "N": N}, timeout, cache)
            warm["cache"] = "on disk"
            rows += [cold, warm]
            log(f"first result {tool:15s} round {r}: empty {cold.get('process_wall_s', 0):.1f} s, "
                f"on disk {warm.get('process_wall_s', 0):.1f} s")
    extras["first_result"] = rows
    # one-point overhead
    rows = []
    for tool in ["symgrad", "python", "numba_scalar"] + (["jax"] if have_jax else []):
        rows.append(_extra(work, "one_point", {"tool": tool, "budget_s": 0.1 if quick else 0.5}, timeout))
    extras["one_point"] = rows
    log("one-point overhead done")
    # P2 build times
    rows = []
    ns = (10, 20) if quick else (10, 50, 100, 200)
    for n in ns:
        for op in ("hessian",) if quick else ("gradient", "hessian"):
            for tool in ["symgrad"] + (["jax"] if have_jax else []):
                cache = work / "cache" / f"p2build-{n}-{op}-{tool}"
                rows.append(_extra(work, "p2_build", {"n": n, "op": op, "tool": tool}, timeout, cache))
                log(f"P2 build n={n} {op} {tool}: {rows[-1].get('total_s', rows[-1].get('error'))}")
    extras["p2_build"] = rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a few cases, under 2 minutes")
    ap.add_argument("--smoke", action="store_true", help="tiny N, in this process, no extras (tests)")
    ap.add_argument("--N", type=int, default=100, help="points per case in --smoke (default 100)")
    ap.add_argument("--out", help="output directory (default: benchmarks/results for the full "
                    "suite, benchmarks/results/quick for --quick: a quick run never "
                    "overwrites the committed full results)")
    ap.add_argument("--columns", nargs="+", help="only these columns (default: every installed one)")
    ap.add_argument("--problems", nargs="+", help="only these problems, e.g. P1 'P2 n=10'")
    ap.add_argument("--repeats", type=int, help="timed evaluations per process (default 5, quick 3, smoke 2)")
    ap.add_argument("--timeout", type=float, help="seconds per subprocess (default 300, quick 60)")
    ap.add_argument("--no-extras", action="store_true", help="skip first-result/overhead/build tables")
    ap.add_argument("--inprocess", action="store_true", help="no subprocesses (no cold/warm split)")
    args = ap.parse_args(argv)

    if args.smoke:
        cases = [(p, s, args.N, o) for p, s, _, o in SMOKE_CASES]
        repeats, inprocess, group_ops, extras, timeout = args.repeats or 2, True, True, False, args.timeout or 120
    elif args.quick:
        cases, repeats, inprocess, group_ops = QUICK_CASES, args.repeats or 3, args.inprocess, True
        extras, timeout = not args.no_extras, args.timeout or 60
    else:
        cases, repeats, inprocess, group_ops = FULL_CASES, args.repeats or 5, args.inprocess, False
        extras, timeout = not args.no_extras, args.timeout or 300
    if args.out is None:
        if args.smoke:
            ap.error("--smoke needs --out (it is for tests)")
        args.out = str(HERE / "results" / "quick") if args.quick else str(HERE / "results")
    elif not args.quick and not args.smoke and Path(args.out).resolve() == (HERE / "results" / "quick").resolve():
        ap.error("benchmarks/results/quick is for --quick runs")
    if args.quick and Path(args.out).resolve() == (HERE / "results").resolve():
        ap.error("--quick must not overwrite the committed full results in benchmarks/results; "
                 "leave --out unset (benchmarks/results/quick) or choose another directory")
    if args.problems:
        cases = [c for c in cases if P.problem(c[0], c[1]).label in args.problems or c[0] in args.problems]
    t = time.perf_counter()
    results = run_suite(cases, out_dir=Path(args.out), columns=args.columns, quick=args.quick,
                        repeats=repeats, group_ops=group_ops, inprocess=inprocess,
                        timeout=timeout, extras=extras)
    print(f"wrote {Path(args.out) / 'results.md'} ({time.perf_counter() - t:.0f} s)")
    del results
    return 0


if __name__ == "__main__":
    sys.exit(main())
