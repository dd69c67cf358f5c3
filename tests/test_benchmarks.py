"""Smoke test of the benchmark suite (issue 4): structure and cross-column agreement.

Runs ``python -m benchmarks.run --smoke`` (tiny N, 2 repeats, in one subprocess, every
installed column; missing competitors are reported as skipped) into ``tmp_path``. No
timing is ever asserted: timings belong to ``benchmarks/results``, not to pass/fail.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # subprocesses / notebooks: left out of -m "not slow"

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.pop("NUMBA_CACHE_DIR", None)
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--smoke", "--N", "100", "--repeats", "2",
         "--out", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out, json.loads((out / "results.json").read_text())


def test_outputs_written(smoke):
    out, _ = smoke
    assert (out / "results.md").read_text().startswith("# symgrad benchmark results")
    pytest.importorskip("matplotlib")
    assert (out / "results.png").stat().st_size > 1000
    assert not list(out.glob(".bench-*")), "the per-run cache directory was not removed"


def test_structure(smoke):
    _, res = smoke
    assert {"meta", "columns", "cases", "extras"} <= set(res)
    names = [c["name"] for c in res["columns"]]
    assert "hand" in names and "symgrad" in names
    active = [c["name"] for c in res["columns"] if not c["skipped"]]
    assert "hand" in active and "symgrad" in active
    for c in res["columns"]:
        assert c["skipped"] is None or isinstance(c["skipped"], str)
    labels = {(c["label"], c["op"]) for c in res["cases"]}
    assert {("P1", "value"), ("P1", "hessian")} <= labels
    for case in res["cases"]:
        assert case["N"] == 100
        assert set(case["columns"]) == set(active)
        for name, c in case["columns"].items():
            if c.get("error") and "NotImplementedError" in c["error"]:
                continue  # a tool that cannot compute this op (e.g. torch.compile Hessian)
            assert c["error"] is None, (case["label"], case["op"], name, c["error"])
            assert c["eval_s"]["n"] == 2
            assert c["eval_s"]["min"] <= c["eval_s"]["median"] <= c["eval_s"]["max"]
            assert c["ns_per_point"] > 0
            assert c["call1_us"] and c["call100_us"]


def test_every_column_agrees(smoke):
    _, res = smoke
    for case in res["cases"]:
        for name, c in case["columns"].items():
            if c.get("error"):
                continue
            assert c["checked"], (case["label"], case["op"], name)
            for ref in ("max_rel_err_vs_hand", "max_rel_err_vs_symgrad"):
                assert c[ref] is not None and c[ref] < 1e-9, (case["label"], case["op"], name, ref, c[ref])


def test_skipped_competitor_is_not_an_error(tmp_path):
    # A column whose package is missing is reported as skipped, never raised.
    sys.path.insert(0, str(ROOT))
    try:
        from benchmarks import columns, worker
    finally:
        sys.path.remove(str(ROOT))

    class Missing(columns.Column):
        name = "missing-tool"
        module = "surely_not_an_installed_module_xyz"

    orig = columns.all_columns
    columns.all_columns = lambda: [*orig(), Missing()]
    try:
        r = worker.measure("missing-tool", "P1", None, ["value"], 10, repeats=1)
    finally:
        columns.all_columns = orig
    assert "not installed" in r["skipped"] and r["ops"] == {}


def test_quick_runs_never_overwrite_the_committed_results():
    from benchmarks import run

    results = Path(run.__file__).parent / "results"
    before = {p.name: p.stat().st_mtime_ns for p in results.glob("results.*")}
    with pytest.raises(SystemExit) as exc:
        run.main(["--quick", "--out", str(results)])
    assert exc.value.code == 2
    assert {p.name: p.stat().st_mtime_ns for p in results.glob("results.*")} == before


def test_skip_hints_name_what_installs_the_tool(monkeypatch):
    import importlib.util

    from benchmarks import columns

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert '".[bench,torch]"' in columns.Torch().skip_reason()
    assert "symjit" in columns.Symjit().skip_reason()
    assert '".[bench]"' in columns.Jax().skip_reason()


def test_indexed_benchmark_smoke(tmp_path):
    """``python -m benchmarks.indexed --smoke``: every table present and every column
    agreeing with symgrad; timings are never asserted."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    proc = subprocess.run([sys.executable, "-m", "benchmarks.indexed", "--smoke", "--out",
                           str(tmp_path)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    res = json.loads((tmp_path / "indexed.json").read_text())
    md = (tmp_path / "indexed.md").read_text()
    assert md.startswith("# Indexed formulas")
    for title in ("## Targets", "## a. Per call", "## b. Sparse Hessian", "## c. Cold build",
                  "## d. Gradient cost"):
        assert title in md
    assert res["meta"]["cpu"] and res["meta"]["load_before"] and res["meta"]["load_after"]
    ops = [r["op"] for r in res["per_call"]["rows"]]
    assert ops == ["value", "gradient", "value_and_gradient", "hvp"]
    for row in res["per_call"]["rows"]:
        assert {"symgrad", "hand"} <= set(row["columns"])
        for name, c in row["columns"].items():
            assert c["n"] == 3 and c["min"] <= c["median"] <= c["max"], (row["op"], name)
            assert c["err_vs_symgrad"] < 1e-12, (row["op"], name, c["err_vs_symgrad"])
    h = res["hessian"]
    assert h["nnz"] == 3 * h["n"] - 2 and h["affine_slots"]
    assert all(c["err_vs_symgrad"] < 1e-12 for c in h["columns"].values())
    kinds = {(r["kind"], r["n"]) for r in res["builds"]["rows"]}
    assert {("indexed", 100), ("straight", 5)} <= kinds
    for r in res["builds"]["rows"]:
        assert not r["errors"] and r["ok"], r
    assert [r["n"] for r in res["scaling"]] == [1_000, 4_000]
    assert res["targets"] and all(isinstance(t["met"], bool) for t in res["targets"])


def test_indexed_quick_never_overwrites_the_committed_results():
    from benchmarks import indexed

    results = Path(indexed.__file__).parent / "results"
    before = {p.name: p.stat().st_mtime_ns for p in results.glob("indexed.*")}
    for flag in ("--quick", "--smoke"):
        with pytest.raises(SystemExit) as exc:
            indexed.main([flag, "--out", str(results)])
        assert exc.value.code == 2
    assert {p.name: p.stat().st_mtime_ns for p in results.glob("indexed.*")} == before
