"""Start-up: the request cache, the SymPy-free warm path, one compile for points and arrays,
the tiered="auto" default and the light CLI (issue "first result fast by default")."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import symgrad
from symgrad import request_cache
from symgrad.parse.check import check_formula, light_request

pytestmark = pytest.mark.slow  # left out of -m "not slow" (the fast core)

FORMULA = "sin(x)*cos(y) + exp(-(x**2 + y**2)/2)"


def _run(code: str, cache: str, timeout: int = 240) -> dict:
    env = {**os.environ, "SYMGRAD_CACHE_DIR": cache}
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


_WARM = """
    import json, sys
    import numpy as np
    import symgrad
    from symgrad import request_cache
    f = symgrad.compile({formula!r})
    x = np.linspace(-1, 1, 101); y = x[::-1].copy()
    g, h = f.evaluate(x, y, outputs=("gradient", "hessian"))
    g1 = f.gradient(x, y)          # an array call of another request
    p = f.gradient(0.5, 0.25)       # then one point of it
    p2 = f.gradient(0.5, 0.25)
    kernels = [c.kernel.kernel for c in f._requests.values()]
    compiled = sum(len(d.overloads) for k in kernels for d in k._dispatchers.values())
    misses = sum(k.cache_stats()["misses"] for k in kernels)
    print(json.dumps({{"sympy": "sympy" in sys.modules, "stats": request_cache.stats(),
                      "misses": misses, "compiled": compiled,
                      "points": sorted({{n for k in kernels for n in k._dispatchers}}), "g": p.tolist(),
                      "same": bool((p == p2).all()), "h": float(h.sum())}}))
"""


@pytest.mark.slow
def test_warm_process_imports_no_sympy_and_compiles_nothing(tmp_path):
    cache = str(tmp_path / "cache")
    cold = _run(_WARM.format(formula=FORMULA), cache)
    assert cold["sympy"] and cold["stats"]["stores"] >= 3  # formula + 2 requests
    warm = _run(_WARM.format(formula=FORMULA), cache)
    assert not warm["sympy"], "a warm process imported SymPy"
    assert warm["stats"]["misses"] == 0 and warm["stats"]["stores"] == 0
    assert warm["misses"] == 0  # numba: every kernel loaded from disk, none compiled
    assert warm["points"] == ["kernel"]  # the one-point call used the array kernel
    # The cold process's first call may have come from the NumPy tier (tiered="auto"):
    # the same numbers to a few ulps; the warm one runs the kernel from the first call.
    np.testing.assert_allclose(warm["g"], cold["g"], rtol=1e-14)
    np.testing.assert_allclose(warm["h"], cold["h"], rtol=1e-14)
    assert warm["same"]


def test_one_point_after_array_call_compiles_nothing():
    f = symgrad.compile("x**3*y + cos(x*y)", tiered=False)
    x = np.linspace(0, 1, 7)
    f.gradient(x, x + 1)
    kernel = f._requests[f._items(("gradient",), None)].kernel.kernel
    before = {name: len(d.overloads) for name, d in kernel._dispatchers.items()}
    for _ in range(2):
        p = f.gradient(0.5, 1.5)
    after = {name: len(d.overloads) for name, d in kernel._dispatchers.items()}
    assert after == before == {"kernel": 1}
    np.testing.assert_array_equal(p, f.gradient(np.array([0.5]), np.array([1.5]))[0])
    # a broadcast scalar (a zero-stride variant): the point call reuses that variant
    g = symgrad.compile("a*x**2 + x", params="a", tiered=False)
    g.gradient(x, a=2.0)
    k2 = g._requests[g._items(("gradient",), None)].kernel.kernel
    n = len(k2.dispatcher("kernel").overloads)
    assert g.gradient(0.5, a=2.0)[0] == 2 * 2.0 * 0.5 + 1
    assert len(k2.dispatcher("kernel").overloads) == n


def test_point_path_is_thread_safe():
    f = symgrad.compile("x**2*y", tiered=False)
    f.gradient(1.0, 2.0)
    f.gradient(1.0, 2.0)
    errors = []

    def work(k):
        for i in range(300):
            g = f.gradient(float(k), float(i))
            if g[0] != 2.0 * k * i or g[1] != k * k:
                errors.append((k, i, g))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(1, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_light_check_agrees_with_the_parser():
    assert light_request(FORMULA).variables == ("x", "y")
    assert light_request("x10 + x2 + a", params="a").variables == ("x2", "x10")
    assert light_request("lambda*x + where(x > 0 and y < 1, x, -y)").variables == (
        "lambda", "x", "y")
    assert light_request(["x*y", "y"], "y x").variables == ("y", "x")
    for bad in ("x.y", "x^2", "__import__('os')", "x[0]", "f(x)", "sin(x, y)",
                "(lambda: 1)()", "x if y else z", "'a'", "2x", "x < 1", "sin(x=1)", ""):
        assert light_request(bad) is None, bad
    assert check_formula("x + y") == {"x", "y"}
    # a request the light check accepts but the parser refuses: compile still refuses
    with pytest.raises(symgrad.ParseError):
        symgrad.compile("exp(exp(exp(9)))*x")


def test_arity_table_matches_the_registry():
    from symgrad.functions import BY_NAME
    from symgrad.parse._arity import ARITY

    assert ARITY == {n: (f.min_args, f.max_args) for n, f in BY_NAME.items()}


def _entries(cache) -> list:
    return sorted(p for p in cache.iterdir() if p.name.startswith("symgrad_req_"))


_ENTRY_CHECK = """
    import json, sys
    import symgrad
    from symgrad import request_cache
    f = symgrad.compile("x**2*y + sin(x)", tiered=False)
    g = f.gradient(1.5, 2.0)
    print(json.dumps({"g": g.tolist(), "sympy": "sympy" in sys.modules,
                      "stats": request_cache.stats()}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["truncate", "garbage", "checksum", "empty", "wrong-key"])
def test_damaged_request_entries_are_rebuilt(tmp_path, damage):
    cache = tmp_path / "cache"
    first = _run(_ENTRY_CHECK, str(cache))
    entries = _entries(cache)
    assert len(entries) == 2
    for path in entries:
        text = path.read_text()
        if damage == "truncate":
            path.write_text(text[: len(text) // 2])
        elif damage == "garbage":
            path.write_bytes(b"\xff\x00not json")
        elif damage == "checksum":
            entry = json.loads(text)
            entry["payload"]["n_rows"] = 7
            path.write_text(json.dumps(entry))
        elif damage == "empty":
            path.write_text("")
        else:
            entry = json.loads(text)
            entry["payload"]["key"] = "0" * 32
            entry["checksum"] = request_cache._checksum(entry["payload"])
            path.write_text(json.dumps(entry))
    again = _run(_ENTRY_CHECK, str(cache))
    assert again["g"] == first["g"]
    assert again["stats"]["stores"] >= 1  # rebuilt and rewritten
    healed = _run(_ENTRY_CHECK, str(cache))
    assert healed["g"] == first["g"] and not healed["sympy"]


def test_request_cache_load_and_store_roundtrip(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path / "c"))
    key = request_cache.formula_key(("x",), False, None, ())
    assert request_cache.load(key) is None
    assert request_cache.store(key, {"variables": ["x"], "params": []})
    assert request_cache.load(key)["variables"] == ["x"]
    path = next((tmp_path / "c").iterdir())
    assert oct(path.parent.stat().st_mode & 0o777) == "0o700"
    # concurrent writers of one entry: every reader sees a whole entry or nothing
    stop = threading.Event()
    bad = []

    def writer(i):
        while not stop.is_set():
            request_cache.store(key, {"variables": ["x"], "params": [], "n": i})

    def reader():
        for _ in range(300):
            got = request_cache.load(key)
            if got is None or got["variables"] != ["x"]:
                bad.append(got)

    ws = [threading.Thread(target=writer, args=(i,)) for i in range(3)]
    for w in ws:
        w.start()
    reader()
    stop.set()
    for w in ws:
        w.join()
    assert not bad
    assert symgrad.clear_cache() >= 1
    assert not list((tmp_path / "c").glob("symgrad_req_*"))


def test_request_cache_refused_directory_is_not_fatal(tmp_path, monkeypatch):
    d = tmp_path / "shared"
    d.mkdir(mode=0o777)
    os.chmod(d, 0o777)
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(d))
    with pytest.warns(symgrad.SymgradWarning):
        assert not request_cache.store("0" * 32, {"variables": ["x"]})
    assert request_cache.load("0" * 32) is None


def test_tiered_auto_first_call_then_bitwise_kernel():
    f = symgrad.compile("tanh(x)*cosh(y) + x*y**3 + 0.5*atan(x*y)", parallel=False)
    assert f.tiered == "auto"
    x = np.linspace(-1, 1, 20001)
    y = np.cos(x)
    first = f.gradient(x, y)
    compiled = f._requests[f._items(("gradient",), None)]
    second = f.gradient(x, y)
    third = f.gradient(x, y)
    np.testing.assert_array_equal(second, third)
    np.testing.assert_allclose(first, second, rtol=1e-13, atol=1e-15)
    if compiled.compiling is not None:  # the first call was answered by NumPy
        assert compiled.compiling.done()
    # tiered=False: the kernel from the first call on
    g = f.with_options(tiered=False)
    np.testing.assert_array_equal(g.gradient(x, y), second)


def test_tiered_option_values():
    with pytest.raises(symgrad.InputError):
        symgrad.compile("x", tiered="sometimes")
    assert symgrad.compile("x*y", tiered=True).tiered is True
