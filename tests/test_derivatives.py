"""Derivatives checked against independent references.

* compiled kernel == the same source run as plain Python == ``sympy.lambdify``;
* CSE on == CSE off;
* the Hessian is symmetric and equals the Jacobian of the gradient;
* directional central differences agree, for Hypothesis-generated formulas;
* scipy's ``rosen_der``/``rosen_hess`` agree on Rosenbrock.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy
from helpers import assert_same_computation
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symgrad
from symgrad.evaluator import Evaluator
from symgrad.parse import parse

FORMULAS = [
    "sin(x)*cos(y) + exp(-(x**2 + y**2)/2)",
    "log(1 + x**2 + y**2)*atan(x*y) + sqrt(1 + (x - 2*y)**2)*tanh(y)",
    "x**3*y - 3*x*y**2 + hypot(x, y)*erf(x - y)",
]

rng = np.random.default_rng(0)
XS, YS = rng.uniform(-2, 2, 25), rng.uniform(-2, 2, 25)


@pytest.fixture(scope="module", params=FORMULAS)
def evaluator(request):
    return symgrad.compile(request.param, parallel=False)


def test_compiled_equals_python_equals_lambdify(evaluator):
    outputs = ["value", "gradient", "hessian"]
    compiled = evaluator.value_gradient_hessian(XS, YS)
    python = evaluator.evaluate_python(outputs, XS, YS)
    x, y = evaluator.formula.variables
    exprs = [evaluator.expr, list(evaluator.gradient_exprs), evaluator.hessian_exprs.tolist()]
    for got, gold, expr in zip(compiled, python, exprs):
        assert_same_computation(got, gold)
        ref = np.asarray(sympy.lambdify((x, y), expr, ["scipy", "numpy"])(XS, YS), dtype=float)
        ref = np.moveaxis(np.broadcast_to(ref, ref.shape[:-1] + (len(XS),)), -1, 0)
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-14)


def test_cse_on_equals_cse_off(evaluator):
    plain = Evaluator(evaluator.formula, cse=False, parallel=False)
    assert len(plain.program.assignments) == 0
    assert len(evaluator.program.assignments) > 0
    with_cse = evaluator.evaluate_python(["value", "gradient", "hessian"], XS, YS)
    without = plain.evaluate_python(["value", "gradient", "hessian"], XS, YS)
    for a, b in zip(with_cse, without):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)


def test_hessian_is_the_jacobian_of_the_gradient(evaluator):
    H = evaluator.hessian(XS, YS)
    np.testing.assert_array_equal(H, np.swapaxes(H, -1, -2))
    # An independent build: the gradient printed back to formula strings, differentiated.
    grad_formulas = [str(g) for g in evaluator.gradient_exprs]
    J = symgrad.compile(grad_formulas, variables="x y", parallel=False).jacobian(XS, YS)
    np.testing.assert_allclose(H, J, rtol=1e-11, atol=1e-13)


def test_one_cse_over_all_outputs():
    f = symgrad.compile(FORMULAS[0], parallel=False)
    fused = f._request(("value", "gradient", "hessian")).program
    # exp(-(x**2+y**2)/2) is computed once for value, gradient and Hessian together.
    source = f.kernel_source("value", "gradient", "hessian")
    body = source.split("def kernel_loop(")[1].split("def kernel(")[0]
    assert body.count("np.exp(") + body.count("vm_exp(") == 1
    assert fused.n_rows == 1 + 2 + 4
    assert len(fused.results) == 1 + 2 + 3  # Hessian upper triangle computed once


def test_sparse_hessian_structure_is_not_paid_for():
    n = 30
    f = symgrad.compile(rosenbrock(n), parallel=False)
    program = f._request(("hessian",)).program
    assert program.n_rows == n * n
    assert len(program.results) == 2 * n - 1  # tridiagonal: diagonal + one off-diagonal
    assert len(program.zero_rows) == n * n - (3 * n - 2)


def test_sparse_hessian_matches_dense():
    n = 12
    f = symgrad.compile(rosenbrock(n), parallel=False)
    points = np.random.default_rng(1).uniform(-2, 2, (7, n))
    sparse = f.sparse_hessian(points)
    assert sparse.values.shape == (7, 2 * n - 1)
    assert np.all(sparse.rows <= sparse.cols)
    assert set(zip(sparse.rows.tolist(), sparse.cols.tolist())) == (
        {(i, i) for i in range(n)} | {(i, i + 1) for i in range(n - 1)}
    )
    np.testing.assert_array_equal(sparse.to_dense(), f.hessian(points))
    program = f._request(("sparse_hessian",)).program
    assert program.n_rows == 2 * n - 1 and not program.zero_rows


# -- Rosenbrock against SciPy ------------------------------------------------------------
def rosenbrock(n: int) -> str:
    return " + ".join(
        f"100*(x{i + 1} - x{i}**2)**2 + (1 - x{i})**2" for i in range(n - 1)
    )


@pytest.mark.parametrize("n", [2, 5, 20])
def test_rosenbrock_matches_scipy(n):
    optimize = pytest.importorskip("scipy.optimize")
    f = symgrad.compile(rosenbrock(n), parallel=False)
    assert f.variables == tuple(f"x{i}" for i in range(n))  # natural order: x2 < x10
    points = np.random.default_rng(n).uniform(-2, 2, (6, n))
    value, grad, hess = f.value_gradient_hessian(points)
    for p, v, g, h in zip(points, value, grad, hess):
        np.testing.assert_allclose(v, optimize.rosen(p), rtol=1e-13)
        np.testing.assert_allclose(g, optimize.rosen_der(p), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(h, optimize.rosen_hess(p), rtol=1e-12, atol=1e-12)


# -- Hypothesis: random formulas, directional central differences ---------------------------
UNARY = ["sin({})", "cos({})", "tanh({})", "atan({})", "exp(-({})**2)", "sqrt(1 + ({})**2)",
         "log(1 + ({})**2)", "erf({})"]
BINARY = ["({}) + ({})", "({}) - ({})", "({})*({})", "({})/(2 + ({})**2)", "hypot({}, {})"]


def formulas(depth: int = 3):
    leaves = st.sampled_from(["x", "y", "z", "0.5", "2", "x*y", "y*z"])

    def extend(children):
        return st.one_of(
            st.builds(lambda t, a: t.format(a), st.sampled_from(UNARY), children),
            st.builds(lambda t, a, b: t.format(a, b), st.sampled_from(BINARY), children, children),
        )

    return st.recursive(leaves, extend, max_leaves=8)


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(formula=formulas(), seed=st.integers(0, 2**32 - 1))
def test_random_formulas_match_directional_differences(formula, seed):
    f = Evaluator(parse(formula, variables="x y z"), parallel=False)
    rng = np.random.default_rng(seed)
    p = rng.uniform(-1.5, 1.5, 3)
    v = rng.normal(size=3)
    v /= np.linalg.norm(v)

    def value(q):
        return f.evaluate_python(["value"], q)[0][()]

    grad, hess = f.evaluate_python(["gradient", "hessian"], p)
    # Central differences with two steps: the error must shrink ~4x (second order)
    # or already be at rounding level.
    for h in (1e-3, 5e-4):
        fd = (value(p + h * v) - value(p - h * v)) / (2 * h)
        fd2 = (value(p + h * v) - 2 * value(p) + value(p - h * v)) / h**2
        assert abs(fd - grad @ v) <= 1e-5 * (1 + abs(grad @ v)), (formula, h)
        hv = f.evaluate_python(["gradient"], p + h * v)[0] - f.evaluate_python(["gradient"], p - h * v)[0]
        np.testing.assert_allclose(hv / (2 * h), hess @ v, rtol=1e-4, atol=1e-5)
        assert abs(fd2 - v @ hess @ v) <= 1e-3 * (1 + abs(v @ hess @ v)), (formula, h)
