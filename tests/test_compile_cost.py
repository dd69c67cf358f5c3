"""Cheaper compiles (issue "first result fast by default", item 4): the faster steps give
the same results as the slow ones they replace."""

from __future__ import annotations

import re

import pytest
import sympy

from symgrad.derive import Differ, gradient, hessian_upper
from symgrad.parse import parse

F30 = ("log(1 + " + " + ".join(f"x{i}**2" for i in range(30)) + ") + "
       + " + ".join(f"sin(x{i}*x{i + 1})" for i in range(29)))

FORMULAS = [
    "x*y",
    "sin(x)*cos(y) + exp(-(x**2 + y**2)/2)",
    "sin(x)**2*exp(-y/x) + 0.5*x*y**1.5 + 0.1*x + 0.2*x",
    "2*(x+y)*3.0*(x-y)",
    "x**y + y**x + sqrt(x)*cbrt(y)",
    "where(x > 0, x**2, sin(x)) + abs(x*y) + max(x, y) + min(x, y**2)",
    "log(1+x**2)*atan(x*y)/sqrt(x**2+y**2+1) + atan2(y, x)",
    "erf(x)*gamma(y) + tanh(x)**3 + lgamma(x*y) + sinc(x)",
    "logistic(x*y) + softplus(x - y) + logaddexp(x, y) + hypot(x, y)",
    "floor(x)*y + sign(x)*y**2 + heaviside(x - y)",
]


@pytest.mark.parametrize("formula", FORMULAS)
def test_differ_returns_exactly_what_sympy_diff_returns(formula):
    f = parse(formula)
    e, variables = f.exprs[0], f.variables
    d = Differ()
    for v in variables:
        first = sympy.diff(e, v)
        assert d(e, v) == first  # structurally equal, not just mathematically
        for w in variables:
            assert d(first, w) == sympy.diff(first, w)


def test_differ_hessian_of_a_dense_formula_equals_sympy():
    f = parse(F30)
    variables = f.variables
    d = Differ()
    grad = gradient(f.exprs[0], variables, differ=d)
    upper = hessian_upper(grad, variables, differ=d)
    assert len(upper) == 30 * 31 // 2  # dense: the log couples every pair
    for (i, j) in [(0, 0), (0, 1), (3, 17), (28, 29), (29, 29)]:
        assert upper[(i, j)] == sympy.diff(grad[i], variables[j])
    assert upper[(0, 1)].has(sympy.cos(variables[0] * variables[1]))


def test_differ_memoizes_and_skips_absent_variables():
    x, y, z = sympy.symbols("x y z", real=True)
    e = sympy.sin(x * y) / (1 + x**2 + y**2)
    d = Differ()
    first = d(e, x)
    assert d(e, x) is first  # memoized
    assert d(e, z) is sympy.S.Zero
    assert d(x, x) == 1 and d(y, x) == 0


def test_tier_decision_needs_no_numba_module():
    """The NumPy tier decides (compiled? cached?) without executing the kernel module,
    which would import numba before the first answer."""
    import numpy as np

    import symgrad
    from symgrad import kernel as kernel_module
    from symgrad.backends.numba_cpu import NumbaCPU

    f = symgrad.compile("x**2*sin(y) + 3.25*y", tiered=False)
    compiled = f._request(f._items(("gradient",), None))
    source = f._kernel(compiled).source
    fresh = NumbaCPU().from_source(source)
    assert kernel_module.code_state(source) is None
    assert not fresh.is_compiled() and not fresh.is_cached()
    assert fresh._kernel is None  # nothing executed, numba not needed
    g = f.gradient(np.array([1.0, 2.0]), np.array([0.5, 0.25]))
    assert g[0, 0] == 2 * np.sin(0.5)
    assert kernel_module.code_state(source) == "compiled"
    assert fresh.is_compiled() and fresh._kernel is None
    # numba saved the code on disk: another process would find it cached
    with kernel_module._lock:
        del kernel_module._kernels[kernel_module.kernel_key(source)]
    assert kernel_module.code_state(source) == "cached"
    assert fresh.is_cached() and fresh._kernel is None


def test_loop_and_point_bodies_share_one_printing():
    """generate_source prints each expression once for both functions: the one-point
    body is the loop body with column 0 instead of i."""
    import symgrad
    from symgrad.codegen import generate_source
    from symgrad.outputs import normalize_request

    f = symgrad.compile("log(1 + x**2 + y**2)*atan(x*y) + where(x > y, x, y**2)")
    items = normalize_request(("value", "gradient", "hessian"), 2, 1, False, None)
    compiled = f._request(items)
    source = generate_source(compiled.program, compiled.names)
    loop = source.split("def kernel_loop(")[1].split("def kernel(")[0]
    point = source.split("def kernel_point(")[1]
    body = loop.split("for i in range(")[1].splitlines()[1:]
    loop_lines = [re.sub(r"\bo(\d+)\[i\]", r"out[\1, 0]", ln.strip()) for ln in body
                  if ln.strip() and "sg_at(" not in ln and "return nbad" not in ln]
    point_lines = [ln.strip() for ln in point.splitlines()[1:] if ln.strip()][:-1]
    assert loop_lines == point_lines and len(point_lines) > 5


def test_build_program_one_walk_keeps_its_checks():
    """build_program walks all outputs once (shared subtrees once) for its checks:
    complex constants still become NaN, unknown symbols are still refused."""
    from symgrad.program import build_program

    x, y, z = sympy.symbols("x y z", real=True)
    shared = sympy.exp(x * y) / (1 + x**2)
    p = build_program([("gradient", (3,), [((0,), shared * y), ((1,), shared * x + sympy.I),
                                            ((2,), 0)])], (x, y))
    assert p.zero_rows == (2,)
    assert [rows for rows, _ in p.results] == [(0,), (1,)]
    assert p.results[1][1].has(sympy.nan) and not p.results[0][1].has(sympy.nan)
    with pytest.raises(ValueError, match="not in the inputs"):
        build_program([("value", (), [((0,), shared * z)])], (x, y))


def test_symmetric_positions_fast_path_matches_the_general_rule():
    from sympy.utilities.iterables import multiset_permutations

    from symgrad.derive import symmetric_positions

    n = 7
    for index in [(), (3,), (2, 2), (1, 5), (5, 1), (0, 6)]:
        expected = []
        for perm in multiset_permutations(list(index)):
            flat = 0
            for k in perm:
                flat = flat * n + k
            expected.append(flat)
        assert symmetric_positions(index, n) == expected, index
    assert symmetric_positions((1, 1, 2), 3) == [1 * 9 + 1 * 3 + 2, 1 * 9 + 2 * 3 + 1,
                                                 2 * 9 + 1 * 3 + 1]


def test_sympy_version_without_importing_sympy(monkeypatch):
    import sys

    from symgrad import request_cache

    assert request_cache.sympy_version() == sympy.__version__
    monkeypatch.setattr(request_cache, "_sympy_version_text", None)
    monkeypatch.delitem(sys.modules, "sympy")  # as in a warm process: read release.py
    assert request_cache.sympy_version() == sympy.__version__
    assert "sympy" not in sys.modules
    # every key depends on it: entries derived by another SymPy are not reused
    monkeypatch.setattr(request_cache, "_versions_text", None)
    assert f"sympy {sympy.__version__}" in request_cache._versions()
    key = request_cache.text_key("cli-text", "grad", ["x*y"])
    monkeypatch.setattr(request_cache, "_sympy_version_text", "0.0-other")
    assert request_cache.text_key("cli-text", "grad", ["x*y"]) != key
