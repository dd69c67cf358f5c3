"""Write ``results.json``, ``results.md`` and ``results.png`` from a results dict."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

#: A column whose outputs differ from hand's or symgrad's by more than this is flagged.
ERR_FLAG = 1e-8


def _json_default(o):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(type(o).__name__)


def write_all(results: dict, out_dir: Path) -> None:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps(results, indent=1, default=_json_default))
    (out_dir / "results.md").write_text(markdown(results))
    try:
        chart(results, out_dir / "results.png")
    except ImportError as exc:  # matplotlib missing: the tables still exist
        results["meta"]["chart"] = f"skipped: {exc}"


# -- formatting helpers --------------------------------------------------------------------


def _f(x, digits=3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    if x == 0:
        return "0"
    if abs(x) >= 100:
        return f"{x:.0f}"
    return f"{x:.{digits}g}"


def _err(x) -> str:
    if x is None:
        return "—"
    flag = " ⚠" if not x <= ERR_FLAG else ""
    return ("0" if x == 0 else f"{x:.0e}") + flag


def _time(s) -> str:
    if s is None:
        return "—"
    if s < 1e-3:
        return f"{s * 1e6:.0f} µs"
    if s < 1:
        return f"{s * 1e3:.1f} ms"
    return f"{s:.2f} s"


def _status(c: dict) -> str | None:
    if c.get("skipped"):
        return "skipped"
    if c.get("error"):
        e = c["error"]
        if "NotImplementedError" in e:
            return "n/a"
        return "timeout" if "timeout" in e else "error"
    return None


def _case_name(case) -> str:
    return f"{case['label']} {case['op']} N={case['N']:.0e}".replace("e+0", "e")


def _column_order(results) -> list[str]:
    return [c["name"] for c in results["columns"] if not c.get("skipped")]


# -- markdown ------------------------------------------------------------------------------------


def markdown(results: dict) -> str:
    m = results["meta"]
    v = m["versions"]
    lines = ["# symgrad benchmark results", ""]
    lines.append(f"Generated {m['date']} by `{m['command']}` (mode: {m['mode']}, "
                 f"{m['repeats']} timed calls per process, {m.get('wall_s', 0):.0f} s in all).")
    lines.append("")
    mc = m["machine"]
    lines.append(f"**Machine:** {mc['cpu']}, {mc['cpu_count']} logical CPUs, "
                 f"{mc['memory_gb']} GiB RAM, {mc['platform']}. Load average at start "
                 f"{_loads(m.get('loadavg_start'))}, at end {_loads(m.get('loadavg_end'))} "
                 "(a load above the CPU count means the timings are noisy: compare ratios).")
    lines.append("")
    lines.append("**Versions:** " + ", ".join(f"{k} {val}" for k, val in v.items() if val) + ".")
    bw = results["extras"].get("copy_GBps")
    if bw:
        lines.append("")
        lines.append(f"**Copy bandwidth** (same run, read+write bytes / time, best of NumPy copy "
                     f"and a numba prange copy, median of start and end): {bw:.1f} GB/s.")
    lines.append("")
    lines += ["## Columns", "", "| column | version | threads | what is timed | status |",
              "|---|---|---|---|---|"]
    for c in results["columns"]:
        status = f"skipped: {c['skipped']}" if c.get("skipped") else "ok"
        lines.append(f"| {c['name']} | {c.get('version', '')} | {c.get('threads', '')} | "
                     f"{c['note']} | {status} |")
    lines.append("")
    lines.append("Output layout compared everywhere: one contiguous row of N per component "
                 "(value (1, N), gradient (n, N), Hessian (n·n, N) dense, zeros present). "
                 "symgrad returns S+(n,) / S+(n,n) views of that buffer; the hand kernels write "
                 "it directly (P2's Hessian: only the 3n−2 tridiagonal nonzeros are written into "
                 "a zeroed buffer, as symgrad does); JAX/torch map over axis 1 and write axis −1.")
    lines += ["", *_summary(results), "", *_detail(results), "", *_bandwidth(results),
              "", *_extras(results), "", *_notes(results)]
    return "\n".join(lines) + "\n"


def _loads(la) -> str:
    return "/".join(f"{x:.1f}" for x in la) if la else "?"


def _summary(results) -> list[str]:
    cols = _column_order(results)
    out = ["## Summary: evaluation, ns per point (median) and ratio to hand", "",
           "| case | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for case in results["cases"]:
        cells = []
        for name in cols:
            c = case["columns"].get(name)
            if c is None:
                cells.append("")
                continue
            st = _status(c)
            if st:
                cells.append(st)
                continue
            r = c.get("ratio_to_hand")
            err = max([e for e in (c.get("max_rel_err_vs_hand"), c.get("max_rel_err_vs_symgrad"))
                       if e is not None] or [0.0])
            flag = " ⚠" if err > ERR_FLAG else ""
            cells.append(f"{_f(c['ns_per_point'])} ({_f(r, 2)}×){flag}" if r else _f(c["ns_per_point"]))
        out.append(f"| {_case_name(case)} | " + " | ".join(cells) + " |")
    out.append("")
    out.append("⚠ = outputs differ from hand or symgrad by more than "
               f"{ERR_FLAG:g} (max |a−b|/max(|b|,1) over {512} sampled points).")
    return out


def _detail(results) -> list[str]:
    out = ["## Per case", "",
           "eval = time per call at N (min / median / max over all timed calls of the cold and "
           "warm processes); cold build = formula → first result at N in a fresh process after "
           "the imports (import time apart); warm start = the same with the compiled kernel on "
           "disk (— for tools without a disk cache); 1 pt / 100 pt = per-call time at N = 1 / 100; "
           "peak = process peak RSS; err = max relative error vs hand / vs symgrad.", ""]
    hdr = ("| case | column | ns/pt | × hand | eval min / med / max | import | cold build | "
           "warm start | 1 pt | 100 pt | peak MB | err vs hand | err vs symgrad |")
    out += [hdr, "|" + "---|" * 13]
    for case in results["cases"]:
        for name in _column_order(results):
            c = case["columns"].get(name)
            if c is None:
                continue
            st = _status(c)
            if st:
                msg = c.get("error") or c.get("skipped") or ""
                out.append(f"| {_case_name(case)} | {name} | {st}: {msg[:120]} |" + " |" * 10)
                continue
            e = c["eval_s"] or {}
            warm = _time(c.get("warm_build_s"))
            cs = c.get("warm_cache_stats")
            if cs and not cs.get("hits"):
                warm += " (no cache hit!)"
            cold = _time(c.get("cold_build_s"))
            if c.get("grouped_ops") and not c.get("first_op_in_process"):
                cold += "†"
            out.append(
                f"| {_case_name(case)} | {name} | {_f(c['ns_per_point'])} | {_f(c.get('ratio_to_hand'), 2)} | "
                f"{_time(e.get('min'))} / {_time(e.get('median'))} / {_time(e.get('max'))} | "
                f"{_time(c.get('import_s'))} | {cold} | {warm} | "
                f"{_us(c.get('call1_us'))} | {_us(c.get('call100_us'))} | {_f(c.get('peak_rss_mb'))} | "
                f"{_err(c.get('max_rel_err_vs_hand'))} | {_err(c.get('max_rel_err_vs_symgrad'))} |")
    if any(c.get("grouped_ops") for case in results["cases"] for c in case["columns"].values()):
        out += ["", "† --quick measures the three ops of a problem in one process: the builds "
                "after the first op share that process's warmed-up compiler."]
    return out


def _us(s) -> str:
    return "—" if not s else f"{s['median']:.1f} µs"


def _bandwidth(results) -> list[str]:
    bw = results["extras"].get("copy_GBps")
    cases = [c for c in results["cases"] if c["problem"] == "P2"]
    if not cases:
        return []
    out = ["## P2 (Rosenbrock) against the memory-bandwidth bound", ""]
    if not bw:
        return out + ["(no bandwidth measured in this mode)"]
    out += [f"bound = bytes moved per point / copy bandwidth ({bw:.1f} GB/s). Bytes: 8n read + "
            "outputs written (Hessian: the 3n−2 nonzeros; the dense n² figure in brackets). "
            "K = ns per point / bound: \"within K× of the bandwidth bound\".", "",
            "| case | bytes/pt | bound ns/pt | " + " | ".join(f"{n} K" for n in _column_order(results)) + " |",
            "|---|---|---|" + "---|" * len(_column_order(results))]
    for case in cases:
        bpp = case.get("bytes_per_point", {})
        bound = case.get("bound_ns_per_point", {})
        b = f"{bpp.get('min')}" + (f" [{bpp['dense']}]" if bpp.get("dense") != bpp.get("min") else "")
        bn = _f(bound.get("min")) + (f" [{_f(bound['dense'])}]" if bpp.get("dense") != bpp.get("min") else "")
        cells = []
        for name in _column_order(results):
            c = case["columns"].get(name, {})
            cells.append(_f(c.get("x_bound"), 2) if c.get("x_bound") and not _status(c) else "—")
        out.append(f"| {_case_name(case)} | {b} | {bn} | " + " | ".join(cells) + " |")
    return out


def _extras(results) -> list[str]:
    ex = results["extras"]
    out = []
    fr = ex.get("first_result")
    if fr:
        out += ["## Time to first result in a fresh process, imports included (P1 gradient + Hessian)", "",
                "In-process clock from before `import symgrad`/`import jax` (NumPy and the inputs "
                "come first) to the finished arrays; \"process\" = the whole subprocess "
                "including interpreter start-up and exit.", "",
                "| tool | cache | N | imports | build + first call | total | process | disk hits |",
                "|---|---|---|---|---|---|---|---|"]
        for r in fr:
            if r.get("error"):
                out.append(f"| {r.get('tool')} | {r.get('cache')} | {r.get('N')} | error: {r['error'][:100]} | | | | |")
                continue
            hits = (r.get("cache_stats") or {}).get("hits", "—")
            out.append(f"| {r['tool']} | {r['cache']} | {r['N']:.0e} | {_time(r['import_s'])} | "
                       f"{_time(r['build_first_s'])} | {_time(r['total_s'])} | "
                       f"{_time(r.get('process_wall_s'))} | {hits} |")
        out += ["", "(symgrad imports lazily: its SymPy/numba imports fall in 'build + first call'.)", ""]
    op = ex.get("one_point")
    if op:
        out += ["## Per-call overhead, one point, 2-variable formula (P1), Python floats in", "",
                "| tool | value | gradient |", "|---|---|---|"]
        for r in op:
            if r.get("error"):
                out.append(f"| {r.get('tool')} | error: {r['error'][:100]} | |")
                continue
            out.append(f"| {r['tool']} | {r['value_us']:.2f} µs | {r['gradient_us']:.2f} µs |")
        out += ["", "python = a plain Python function with `math` (derivatives by hand); "
                "numba_scalar = `@njit` on scalars returning a tuple.", ""]
    pb = ex.get("p2_build")
    if pb:
        out += ["## P2 build time (fresh process, empty cache, after imports)", "",
                "symgrad: parse (`compile`) / derive + CSE + codegen (`kernel_source`) / numba "
                "compile + first call (N = 256, `parallel=True`: the multithreaded kernel that "
                "N ≥ 4096 uses). JAX: trace + XLA compile + first call of jit(vmap(grad|hessian)).", "",
                "| n | op | tool | parse | derive+CSE+codegen | compile+first call | total |",
                "|---|---|---|---|---|---|---|"]
        for r in pb:
            if r.get("error"):
                out.append(f"| {r.get('n')} | {r.get('op')} | {r.get('tool')} | error: {r['error'][:100]} | | | |")
                continue
            out.append(f"| {r['n']} | {r['op']} | {r['tool']} | {_time(r.get('parse_s'))} | "
                       f"{_time(r.get('derive_cse_codegen_s'))} | {_time(r.get('compile_first_call_s'))} | "
                       f"{_time(r.get('total_s'))} |")
    return out


def _notes(results) -> list[str]:
    return ["## How to read this", "",
            "- Every number comes from a fresh subprocess per (case, column); tools with a disk "
            "cache get a second (warm) process; evaluation samples are pooled over both.",
            "- Cached state lives in a per-run temporary directory: the user's symgrad, numba, "
            "JAX and torch caches are untouched.",
            "- Ratios are more trustworthy than absolute times on a shared or loaded machine.",
            "- Reproduce: `python -m benchmarks.run` (full) or `python -m benchmarks.run --quick`."]


# -- chart ------------------------------------------------------------------------------------


def chart(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = _column_order(results)
    cases = results["cases"]
    ops = [op for op in ("value", "gradient", "hessian") if any(c["op"] == op for c in cases)]
    fig, axes = plt.subplots(len(ops), 1, figsize=(max(8, 1.2 * len(cases) / max(len(ops), 1) * len(cols) / 3), 3.6 * len(ops)),
                             squeeze=False)
    cmap = plt.get_cmap("tab10")
    for ax, op in zip(axes[:, 0], ops):
        sub = [c for c in cases if c["op"] == op]
        x = np.arange(len(sub))
        width = 0.8 / max(len(cols), 1)
        for k, name in enumerate(cols):
            vals = []
            for case in sub:
                c = case["columns"].get(name)
                ok = c and not _status(c) and c.get("ns_per_point")
                vals.append(c["ns_per_point"] if ok else np.nan)
            ax.bar(x + (k - (len(cols) - 1) / 2) * width, vals, width, label=name, color=cmap(k % 10))
        ax.set_yscale("log")
        ax.set_xticks(x)
        ax.set_xticklabels([f"{c['label']}\nN={c['N']:.0e}".replace("e+0", "e") for c in sub], fontsize=8)
        ax.set_ylabel("ns per point (log)")
        ax.set_title(f"{op}: evaluation time per point (median; lower is better)")
        ax.grid(axis="y", which="both", alpha=0.3)
    axes[0, 0].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.suptitle(f"symgrad benchmarks ({results['meta']['mode']}, {results['meta']['machine']['cpu_count']} CPUs)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
