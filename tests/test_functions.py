"""Every function in the table, and its first and second derivatives, at several points.

References come from mpmath at 40 digits: the value from the formula itself and the
derivatives by mpmath's numerical differentiation of the *original* function, so
nothing depends on SymPy's symbolic derivatives or on symgrad's printer. Points where
the real function is undefined (the reference is complex) must come out NaN.
"""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
import sympy
from helpers import assert_close, assert_same_computation, mp_derivative, mp_value

import symgrad

POINTS = np.array([-2.5, -0.7, -0.3, 0.2, 0.5, 0.9, 1.7, 3.3])

# formula in x -> mpmath reference function (None: lambdify the formula itself)
ONE_ARG = {
    "sqrt(x)": mpmath.sqrt,
    "cbrt(x)": lambda x: mpmath.sign(x) * mpmath.cbrt(abs(x)),
    "exp(x)": mpmath.exp,
    "expm1(x)": mpmath.expm1,
    "log(x)": mpmath.log,
    "ln(x)": mpmath.log,
    "log(x, 3)": lambda x: mpmath.log(x) / mpmath.log(3),
    "log1p(x)": mpmath.log1p,
    "log10(x)": mpmath.log10,
    "log2(x)": lambda x: mpmath.log(x, 2),
    "sin(x)": mpmath.sin,
    "cos(x)": mpmath.cos,
    "tan(x)": mpmath.tan,
    "sec(x)": mpmath.sec,
    "csc(x)": mpmath.csc,
    "cot(x)": mpmath.cot,
    "asin(x)": mpmath.asin,
    "acos(x)": mpmath.acos,
    "atan(x)": mpmath.atan,
    "sinh(x)": mpmath.sinh,
    "cosh(x)": mpmath.cosh,
    "tanh(x)": mpmath.tanh,
    "asinh(x)": mpmath.asinh,
    "acosh(x)": mpmath.acosh,
    "atanh(x)": mpmath.atanh,
    "erf(x)": mpmath.erf,
    "erfc(x)": mpmath.erfc,
    "gamma(x)": mpmath.gamma,
    "loggamma(x)": lambda x: mpmath.log(abs(mpmath.gamma(x))),
    "Abs(x)": abs,
    "sign(x)": mpmath.sign,
    "Heaviside(x)": lambda x: mpmath.mpf(1) if x > 0 else mpmath.mpf(0),
    "floor(x)": mpmath.floor,
    "ceiling(x)": mpmath.ceil,
    "x**2.5": lambda x: x**2.5,
    "x**(-3)": lambda x: x**-3,
    "2**x": lambda x: 2**x,
    "x**x": lambda x: x**x,
    "where(x > 0.6, x**3, sin(x))": lambda x: x**3 if x > 0.6 else mpmath.sin(x),
    "x**3 if x < 1 else exp(-x)": lambda x: x**3 if x < 1 else mpmath.exp(-x),
    "sqrt(1 + x**2)*exp(-x/3)": lambda x: mpmath.sqrt(1 + x**2) * mpmath.exp(-x / 3),
}

TWO_ARG = {
    "atan2(y, x)": lambda x, y: mpmath.atan2(y, x),
    "hypot(x, y)": mpmath.hypot,
    "Min(x, y)": lambda x, y: min(x, y),
    "Max(x, y, 0.1)": lambda x, y: max(x, y, mpmath.mpf("0.1")),
    "log(x, y)": lambda x, y: mpmath.log(x) / mpmath.log(y),
    "x**y": lambda x, y: x**y,
}


def _reference(fn, point, orders):
    value = mp_value(fn, *point)
    if sum(orders) == 0 or np.isnan(value):
        # Where the real function is undefined (complex), so are its derivatives, even
        # if mpmath's derivative of the complex branch happens to be real.
        return value
    return mp_derivative(fn, point, orders)


@pytest.fixture(scope="module")
def one_arg():
    return symgrad.compile(list(ONE_ARG), variables="x", parallel=False)


@pytest.fixture(scope="module")
def two_arg():
    return symgrad.compile(list(TWO_ARG), variables="x y", parallel=False)


def test_one_argument_functions_and_two_derivatives(one_arg):
    value = one_arg(POINTS)  # (P, m)
    jac = one_arg.jacobian(POINTS)  # (P, m, 1)
    hess = one_arg.hessian(POINTS)  # (P, m, 1, 1)
    gold_value, gold_jac, gold_hess = one_arg.evaluate_python(
        ["value", "jacobian", "hessian"], POINTS
    )
    assert_same_computation(value, gold_value)
    assert_same_computation(jac, gold_jac)
    assert_same_computation(hess, gold_hess)
    for k, (formula, fn) in enumerate(ONE_ARG.items()):
        for order, got in ((0, value[:, k]), (1, jac[:, k, 0]), (2, hess[:, k, 0, 0])):
            expected = [_reference(fn, (p,), (order,)) for p in POINTS]
            try:
                assert_close(got, expected, rtol=1e-12, atol=1e-13)
            except AssertionError as exc:
                raise AssertionError(f"{formula}, derivative order {order}: {exc}") from None


def test_two_argument_functions_and_two_derivatives(two_arg):
    xs, ys = np.meshgrid(POINTS[2:], np.array([-1.3, 0.4, 2.2]), indexing="ij")
    xs, ys = xs.ravel(), ys.ravel()
    value = two_arg(xs, ys)
    jac = two_arg.jacobian(xs, ys)
    hess = two_arg.hessian(xs, ys)
    for k, (formula, fn) in enumerate(TWO_ARG.items()):
        cases = [((0, 0), value[:, k])]
        cases += [((1, 0), jac[:, k, 0]), ((0, 1), jac[:, k, 1])]
        cases += [((2, 0), hess[:, k, 0, 0]), ((1, 1), hess[:, k, 0, 1]),
                  ((1, 1), hess[:, k, 1, 0]), ((0, 2), hess[:, k, 1, 1])]
        for orders, got in cases:
            expected = [_reference(fn, (x, y), orders) for x, y in zip(xs, ys)]
            try:
                assert_close(got, expected, rtol=1e-11, atol=1e-12)
            except AssertionError as exc:
                raise AssertionError(f"{formula}, orders {orders}: {exc}") from None


def test_every_table_function_is_exercised():
    from test_new_functions import ONE_ARG as NEW_ONE_ARG
    from test_new_functions import TWO_ARG as NEW_TWO_ARG

    from symgrad.parse import FUNCTIONS

    used = " ".join(list(ONE_ARG) + list(TWO_ARG) + list(NEW_ONE_ARG) + list(NEW_TWO_ARG))
    missing = [name for name in FUNCTIONS if f"{name}(" not in used]
    # Aliases (arcsin, abs, min, ...) map to the same SymPy functions as names above.
    aliases = {"arcsin", "arccos", "arctan", "arctan2", "arcsinh", "arccosh", "arctanh",
               "abs", "min", "max", "heaviside", "lgamma", "ceil", "pow", "arccot",
               "arcsec", "arccsc", "arccoth", "arcsech", "arccsch"}
    assert set(missing) <= aliases, f"functions without a value/derivative test: {missing}"


def test_higher_derivatives_of_gamma_use_polygamma():
    f = symgrad.compile("loggamma(x)", parallel=False)
    x = np.array([0.3, 1.5, 4.0, 25.0, -1.5])
    third = f.derivative(x, order=3)[:, 0, 0, 0]
    expected = [float(mpmath.polygamma(2, v)) for v in x]
    np.testing.assert_allclose(third, expected, rtol=1e-12)


def test_unsupported_derivative_order_is_named():
    f = symgrad.compile("loggamma(x)", parallel=False)
    with pytest.raises(symgrad.UnsupportedFunctionError, match=r"polygamma\(11"):
        f.derivative(1.0, order=12)  # polygamma(11, x)


class TestConventions:
    """Non-differentiable points follow one documented rule (symgrad.derive)."""

    @pytest.mark.slow
    def test_abs_and_sign_at_zero(self):
        f = symgrad.compile(["Abs(x)", "sign(x)"], variables="x", parallel=False)
        assert f.jacobian(0.0)[:, 0].tolist() == [0.0, 0.0]
        assert f(0.0).tolist() == [0.0, 0.0]

    def test_heaviside_half_at_zero_and_zero_derivative(self):
        f = symgrad.compile("Heaviside(x)", parallel=False)
        assert f(np.array([-1.0, 0.0, 2.0])).tolist() == [0.0, 0.5, 1.0]
        assert f.gradient(np.array([-1.0, 0.0, 2.0]))[:, 0].tolist() == [0.0, 0.0, 0.0]

    def test_min_max_split_the_derivative_at_a_tie(self):
        f = symgrad.compile(["Min(x, y)", "Max(x, y)"], parallel=False)
        np.testing.assert_array_equal(f.jacobian(1.0, 1.0), [[0.5, 0.5], [0.5, 0.5]])
        np.testing.assert_array_equal(f.jacobian(1.0, 2.0), [[1.0, 0.0], [0.0, 1.0]])

    def test_floor_derivative_is_zero(self):
        f = symgrad.compile("floor(x**2) + ceiling(x)", parallel=False)
        assert f.gradient(np.array([0.3, 1.7]))[:, 0].tolist() == [0.0, 0.0]
        assert f(np.array([0.3, 1.7])).tolist() == [1.0, 4.0]


def test_sympy_expressions_exposed():
    f = symgrad.compile("x**2*sin(y)", parallel=False)
    x, y = sympy.symbols("x y", real=True)
    assert f.gradient_exprs == (2 * x * sympy.sin(y), x**2 * sympy.cos(y))
    assert f.hessian_exprs == sympy.Matrix(
        [[2 * sympy.sin(y), 2 * x * sympy.cos(y)], [2 * x * sympy.cos(y), -x**2 * sympy.sin(y)]]
    )
