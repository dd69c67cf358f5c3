"""The on-disk kernel cache: across processes, under concurrency, and when corrupted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

import symgrad
from symgrad import kernel as kernel_module
from symgrad.evaluator import Evaluator
from symgrad.parse import parse

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import symgrad
    f = symgrad.compile("x**3*sin(y) + cosh(x - y)", parallel=False)
    g = f.gradient(1.25, -0.5)
    print(json.dumps({"stats": f.cache_stats(), "grad": g.tolist()}))
    """
)


def run_script(cache: str) -> dict:
    env = dict(os.environ, SYMGRAD_CACHE_DIR=cache)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_second_process_loads_from_disk(tmp_path):
    first = run_script(str(tmp_path))
    second = run_script(str(tmp_path))
    assert first["stats"] == {"hits": 0, "misses": 1}
    assert second["stats"] == {"hits": 1, "misses": 0}
    assert first["grad"] == second["grad"]
    expected = [3 * 1.25**2 * np.sin(-0.5) + np.sinh(1.75), 1.25**3 * np.cos(-0.5) - np.sinh(1.75)]
    np.testing.assert_allclose(first["grad"], expected, rtol=1e-14)
    written = {p.name for p in tmp_path.rglob("*") if p.is_file()}
    assert written and all(name.startswith("symgrad_") for name in written)


def test_concurrent_processes_do_not_break_each_other(tmp_path):
    env = dict(os.environ, SYMGRAD_CACHE_DIR=str(tmp_path))
    procs = [
        subprocess.Popen([sys.executable, "-c", SCRIPT], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        results.append(json.loads(out))
    assert len({json.dumps(r["grad"]) for r in results}) == 1
    assert run_script(str(tmp_path))["stats"] == {"hits": 1, "misses": 0}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".symgrad-tmp-")]


@pytest.fixture
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path))
    yield tmp_path
    kernel_module._kernels.clear()


def fresh_gradient(formula="exp(x)*y**2"):
    # A new Evaluator and an empty in-memory kernel table: only the disk cache remains.
    kernel_module._kernels.clear()
    return Evaluator(parse(formula), parallel=False).gradient(0.5, 3.0)


EXPECTED = [np.exp(0.5) * 9.0, np.exp(0.5) * 6.0]


def test_truncated_source_entry_is_rebuilt_with_a_warning(private_cache):
    np.testing.assert_allclose(fresh_gradient(), EXPECTED, rtol=1e-15)
    (entry,) = private_cache.glob("symgrad_*.py")
    entry.write_text(entry.read_text()[:40])
    with pytest.warns(symgrad.SymgradWarning, match="corrupted or truncated"):
        np.testing.assert_allclose(fresh_gradient(), EXPECTED, rtol=1e-15)
    assert "def kernel_point" in entry.read_text()


def test_corrupted_numba_data_is_rebuilt_with_a_warning(private_cache):
    fresh_gradient()
    data = list((private_cache / "__pycache__").glob("*.nbc"))
    assert data
    for path in data:
        path.write_bytes(path.read_bytes()[:30])
    with pytest.warns(symgrad.SymgradWarning, match="could not be loaded"):
        np.testing.assert_allclose(fresh_gradient(), EXPECTED, rtol=1e-15)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(fresh_gradient(), EXPECTED, rtol=1e-15)  # healthy again


def test_garbage_index_is_survived(private_cache):
    fresh_gradient()
    for path in (private_cache / "__pycache__").glob("*.nbi"):
        path.write_bytes(b"\x00garbage")
    with pytest.warns(symgrad.SymgradWarning, match="could not be loaded"):
        np.testing.assert_allclose(fresh_gradient(), EXPECTED, rtol=1e-15)


def test_clear_cache_removes_only_symgrad_files(private_cache):
    fresh_gradient()
    keep = private_cache / "notes.txt"
    keep.write_text("mine")
    assert symgrad.clear_cache() >= 2
    assert keep.exists()
    assert not list(private_cache.glob("symgrad_*"))


def test_unwritable_cache_dir_compiles_in_memory(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(blocker / "sub"))  # cannot be created
    try:
        with pytest.warns(symgrad.SymgradWarning, match="in memory only"):
            np.testing.assert_allclose(fresh_gradient("exp(x)*y**2 + 0*x"), EXPECTED, rtol=1e-15)
    finally:
        kernel_module._kernels.clear()
