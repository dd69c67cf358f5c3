"""The functions added with the registry (sinc, logistic, softplus, logaddexp, xlogy,
exp2, the reciprocal hyperbolic/trigonometric family, clip): value, first and second
derivatives against mpmath at 40 digits, at points that are hard for naive formulas
(near 0, large |x|, negative, outside the real domain), through the numba kernel, the
same kernel run as plain Python, and the NumPy tier.

References are mpmath's numerical differentiation of the function itself (see
tests/helpers.py), never SymPy's symbolic derivative.
"""

from __future__ import annotations

import math
import warnings

import mpmath
import numpy as np
import pytest
from helpers import assert_close, assert_same_computation, mp_derivative, mp_value

import symgrad
from symgrad.codegen import generate_array_source

HARD = np.array([-800.0, -40.0, -3.3, -1.7, -0.7, -1e-3, -1e-7, 0.0, 1e-9, 1e-5, 0.3,
                 0.9, 1.7, 3.3, 12.5, 40.0, 800.0])
NONZERO = HARD[HARD != 0.0]
# acot jumps at 0: mpmath's differencing must not straddle it.
AWAY_FROM_ZERO = HARD[np.abs(HARD) > 1e-4]

ONE = mpmath.mpf(1)


def _logistic(x):
    return ONE / (1 + mpmath.exp(-x))


def _sinc(x):
    return mpmath.sinc(x)  # unnormalized: sin(x)/x


# formula in x -> (mpmath reference, points)
ONE_ARG = {
    "sinc(x)": (_sinc, HARD),
    "sinc(3*x - 2)": (lambda x: _sinc(3 * x - 2), HARD),
    "logistic(x)": (_logistic, HARD),
    "sigmoid(2*x)": (lambda x: _logistic(2 * x), HARD),
    "expit(-x)": (lambda x: _logistic(-x), HARD),
    "softplus(x)": (lambda x: mpmath.log1p(mpmath.exp(x)), HARD),
    "exp2(x)": (lambda x: mpmath.mpf(2) ** x, HARD),
    "sech(x)": (mpmath.sech, HARD),
    "csch(x)": (mpmath.csch, NONZERO),
    "coth(x)": (mpmath.coth, NONZERO),
    "acot(x)": (mpmath.acot, AWAY_FROM_ZERO),
    "asec(x)": (mpmath.asec, NONZERO),
    "acsc(x)": (mpmath.acsc, NONZERO),
    "acoth(x)": (mpmath.acoth, NONZERO),
    "asech(x)": (mpmath.asech, NONZERO),
    "acsch(x)": (mpmath.acsch, NONZERO),
    "clip(x, -0.5, 0.8)": (lambda x: min(max(x, mpmath.mpf(-0.5)), mpmath.mpf(0.8)), HARD),
}

# (x, y) grid for the two-argument functions: large, tiny and negative arguments.
_A = np.array([-800.0, -30.0, -1.3, -1e-8, 0.4, 2.2, 35.0, 700.0])
_B = np.array([-750.0, -2.0, 1e-9, 0.4, 3.0, 710.0])
# formula -> (reference, xs, ys, digits mpmath needs at (x, y)): a partial derivative
# far below the value (logistic(-730) next to 700; x/y = 1e-200 next to x*log(y))
# is lost by differencing at 40 digits.
TWO_ARG = {
    "logaddexp(x, y)": (lambda x, y: mpmath.log(mpmath.exp(x) + mpmath.exp(y)), _A, _B,
                        lambda x, y: 45 + int(abs(x - y) / 2.3)),
    # y < 0 is outside the domain: value and derivatives NaN (x != 0 in this grid).
    "xlogy(x, y)": (lambda x, y: x * mpmath.log(y),
                    np.array([-2.5, -1e-8, 0.3, 4.0]),
                    np.array([-1.5, 1e-9, 0.4, 3.0, 1e200]),
                    lambda x, y: 45 + 3 * int(abs(math.log10(abs(y))))),
}

#: Measured worst relative error per formula and order (reported by the tests on failure).
RTOL = 2e-13
ATOL = 1e-300


def _reference(fn, point, orders):
    value = mp_value(fn, *point)
    if sum(orders) == 0 or np.isnan(value):
        return value
    d = mp_derivative(fn, point, orders)
    if 0.0 in point and abs(d) < 1e-30:
        d = 0.0  # a zero derivative (sinc', logistic'' at 0): mpmath's differencing noise
    return d


def _all_outputs(ev, *args):
    # One fused kernel for value, Jacobian and Hessian (one numba compile).
    return ev._evaluate(("value", "jacobian", "hessian"), args, {}, None)


def _numpy_tier(ev, *args):
    """The NumPy-tier code of the same request, run on whole arrays."""
    compiled = ev._request(("value", "jacobian", "hessian"))
    source = generate_array_source(compiled.program)
    assert source is not None, "no NumPy form"
    namespace: dict = {}
    exec(compile(source, "<array tier>", "exec"), namespace)  # noqa: S102 (our code)
    flat = [np.ascontiguousarray(a, dtype=float) for a in args]
    buffer = np.zeros((compiled.program.n_rows, flat[0].size))
    with np.errstate(all="ignore"):
        namespace["evaluate"](*flat, buffer)
    shape = flat[0].shape
    return [buffer[b.offset:b.offset + b.size].T.reshape(shape + b.shape)
            for b in compiled.program.blocks]


def _check(formula, got, expected, where):
    try:
        assert_close(got, expected, rtol=RTOL, atol=ATOL)
    except AssertionError as exc:
        raise AssertionError(f"{formula}, {where}: {exc}") from None


@pytest.fixture(scope="module")
def one_arg():
    return symgrad.compile(list(ONE_ARG), variables="x", parallel=False)


@pytest.fixture(scope="module")
def two_arg():
    return symgrad.compile(list(TWO_ARG), variables="x y", parallel=False)


def test_one_argument_values_and_two_derivatives(one_arg):
    x = HARD
    value, jac, hess = _all_outputs(one_arg, x)
    gold = one_arg.evaluate_python(["value", "jacobian", "hessian"], x)
    for compiled, python in zip((value, jac, hess), gold):
        assert_same_computation(compiled, python)
    for k, (formula, (fn, points)) in enumerate(ONE_ARG.items()):
        rows = np.isin(x, points)
        for order, got in ((0, value[:, k]), (1, jac[:, k, 0]), (2, hess[:, k, 0, 0])):
            expected = [_reference(fn, (p,), (order,)) for p in x[rows]]
            _check(formula, got[rows], expected, f"derivative order {order}")


def test_one_argument_numpy_tier_matches_the_kernel(one_arg):
    # The derivatives of sinc (sinc_deriv) have no NumPy form: the tier waits for the
    # kernel there. Every other function's value and derivatives have one.
    x = HARD
    kernel = _all_outputs(one_arg, x)
    keep = [k for k, f in enumerate(ONE_ARG) if not f.startswith("sinc")]
    arrays = symgrad.compile([list(ONE_ARG)[k] for k in keep], variables="x")
    for name, tier, compiled in zip(("value", "jacobian", "hessian"),
                                    _numpy_tier(arrays, x), kernel):
        try:
            assert_same_computation(tier, compiled[:, keep])
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from None
    sinc = symgrad.compile("sinc(x)")
    assert generate_array_source(sinc._request(("value",)).program) is not None
    assert generate_array_source(sinc._request(("gradient",)).program) is None


@pytest.mark.slow
def test_two_argument_values_and_derivatives(two_arg):
    value, jac, hess = None, None, None
    for formula_index, (formula, (fn, xs, ys, digits)) in enumerate(TWO_ARG.items()):
        X, Y = (a.ravel() for a in np.meshgrid(xs, ys, indexing="ij"))
        value, jac, hess = _all_outputs(two_arg, X, Y)
        gold = two_arg.evaluate_python(["value", "jacobian", "hessian"], X, Y)
        for compiled, python in zip((value, jac, hess), gold):
            assert_same_computation(compiled, python)
        for compiled, tier in zip((value, jac, hess), _numpy_tier(two_arg, X, Y)):
            assert_same_computation(compiled, tier)
        k = formula_index
        cases = [((0, 0), value[:, k]), ((1, 0), jac[:, k, 0]), ((0, 1), jac[:, k, 1]),
                 ((2, 0), hess[:, k, 0, 0]), ((1, 1), hess[:, k, 0, 1]),
                 ((1, 1), hess[:, k, 1, 0]), ((0, 2), hess[:, k, 1, 1])]
        for orders, got in cases:
            if formula.startswith("xlogy") and orders == (2, 0):
                # Structurally zero (d/dx log(y)): a constant 0, not guarded to NaN.
                assert np.all(got == 0.0)
                continue
            expected = []
            for a, b in zip(X, Y):
                with mpmath.workdps(digits(a, b)):
                    expected.append(_reference(fn, (a, b), orders))
            _check(formula, got, expected, f"orders {orders}")


def _sinc_derivative_reference(n, x):
    """d^n/dx^n sin(x)/x = integral_0^1 t^n cos(x t + n pi/2) dt, at 40 digits."""
    x = mpmath.mpf(x)
    return float(mpmath.quad(lambda t: t**n * mpmath.cos(x * t + n * mpmath.pi / 2), [0, 1]))


SINC_POINTS = np.array([-37.5, -6.0, -2.2, -0.9, -1e-6, 0.0, 1e-12, 1e-5, 3e-3, 0.6, 1.3,
                        2.75, 4.4, 5.6, 9.0, 50.0, 200.0])


@pytest.mark.slow
def test_sinc_derivatives_of_every_order_are_accurate():
    """sg_sinc_deriv for orders 1..MAX_SINC_ORDER, compiled and as plain Python.

    The error is measured against the derivative's size ``min(1/(n+1), 1/|x|)`` (a
    relative error is meaningless next to its zeros): at most ~12 ulps (order 10).
    """
    import numba

    from symgrad import _runtime

    @numba.njit
    def table(orders, xs):
        out = np.empty((orders.size, xs.size))
        for i in range(orders.size):
            for j in range(xs.size):
                out[i, j] = _runtime.sg_sinc_deriv(orders[i], xs[j])
        return out

    orders = np.arange(1, symgrad.functions.MAX_SINC_ORDER + 1).astype(float)
    compiled = table(orders, SINC_POINTS)
    for i, n in enumerate(orders.astype(int)):
        python = [_runtime.sg_sinc_deriv(float(n), x) for x in SINC_POINTS]
        np.testing.assert_allclose(compiled[i], python, rtol=1e-15, atol=0)
        expected = np.array([_sinc_derivative_reference(n, x) for x in SINC_POINTS])
        size = np.minimum(1.0 / (n + 1), 1.0 / np.maximum(np.abs(SINC_POINTS), 1e-300))
        err = np.abs(compiled[i] - expected) / size
        assert err.max() < 16 * 2.2e-16, (n, SINC_POINTS[err.argmax()], err.max())
        # and relatively, wherever the derivative is not next to one of its zeros
        big = np.abs(expected) > 0.05 * size
        np.testing.assert_allclose(compiled[i][big], expected[big], rtol=2e-13)
    assert _runtime.sg_sinc_deriv(3.0, math.inf) == 0.0
    assert math.isnan(_runtime.sg_sinc_deriv(3.0, math.nan))


def test_sinc_third_derivative_compiles_and_order_beyond_the_table_is_named():
    f = symgrad.compile("sinc(x)", parallel=False)
    x = np.array([0.0, 1e-7, 2.0, -30.0])
    third = f.derivative(x, order=3)[:, 0, 0, 0]
    np.testing.assert_allclose(third, [_sinc_derivative_reference(3, v) for v in x],
                               rtol=1e-13, atol=1e-17)
    assert str(f.gradient_exprs[0]) == "sinc_deriv(1, x)"
    limit = symgrad.functions.MAX_SINC_ORDER
    with pytest.raises(symgrad.UnsupportedFunctionError, match=rf"sinc_deriv\({limit + 1}"):
        f.kernel_source(("derivative", limit + 1))


@pytest.mark.slow
class TestConventions:
    def test_sinc_is_unnormalized(self):
        f = symgrad.compile("sinc(x)", parallel=False)
        x = np.array([0.0, np.pi, 1.0, np.inf, -np.inf, np.nan])
        got = f(x)
        assert got[0] == 1.0 and abs(got[1]) < 1e-15 and got[2] == math.sin(1.0)
        assert got[3] == 0.0 and got[4] == 0.0 and np.isnan(got[5])

    def test_logistic_softplus_logaddexp_at_huge_arguments(self):
        f = symgrad.compile(["logistic(x)", "softplus(x)", "logaddexp(x, -x)"],
                            variables="x", parallel=False)
        x = np.array([-800.0, 800.0, -np.inf, np.inf, np.nan])
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no overflow warnings
            value = f(x)
            jac = f.jacobian(x)[..., 0]
        expected = [[0.0, 0.0, 800.0], [1.0, 800.0, 800.0], [0.0, 0.0, np.inf],
                    [1.0, np.inf, np.inf], [np.nan] * 3]
        np.testing.assert_array_equal(value, expected)
        np.testing.assert_array_equal(jac[:2], [[0.0, 0.0, -1.0], [0.0, 1.0, 1.0]])
        assert np.isnan(jac[4]).all()
        gold = f.evaluate_python(["value"], x)[0]
        np.testing.assert_array_equal(gold, expected)

    def test_xlogy_follows_scipy(self):
        f = symgrad.compile("xlogy(x, y)", parallel=False)
        x = np.array([0.0, 0.0, 0.0, 0.0, 2.0, 2.0, 0.0])
        y = np.array([0.0, -1.0, np.inf, 3.0, 0.0, -1.0, np.nan])
        expected = [0.0, 0.0, 0.0, 0.0, -np.inf, np.nan, np.nan]
        np.testing.assert_array_equal(f(x, y), expected)
        np.testing.assert_array_equal(f.evaluate_python(["value"], x, y)[0], expected)
        grad = f.gradient(np.array([0.0, 0.0, 2.0]), np.array([3.0, -1.0, 0.0]))
        # d/dx = log(3): vector math (the default) is within 1 ulp of libm's log
        assert grad[0, 0] == pytest.approx(math.log(3.0), rel=2.3e-16) and grad[0, 1] == 0.0
        assert np.isnan(grad[1]).all()  # y < 0: outside the domain, as for log
        assert grad[2, 0] == -np.inf and grad[2, 1] == np.inf

    def test_clip_derivative_is_one_inside_zero_outside_half_at_the_bounds(self):
        f = symgrad.compile("clip(x, lo, hi)", variables="x lo hi", parallel=False)
        x = np.array([-2.0, -1.0, 0.3, 1.0, 5.0])
        value = f(x, -1.0, 1.0)
        grad = f.gradient(x, -1.0, 1.0)
        np.testing.assert_array_equal(value, [-1.0, -1.0, 0.3, 1.0, 1.0])
        np.testing.assert_array_equal(grad[:, 0], [0.0, 0.5, 1.0, 0.5, 0.0])
        np.testing.assert_array_equal(grad[:, 1], [1.0, 0.5, 0.0, 0.0, 0.0])
        np.testing.assert_array_equal(grad[:, 2], [0.0, 0.0, 0.0, 0.5, 1.0])
        assert f(0.3, 2.0, 1.0) == 1.0  # lo > hi: hi, as numpy.clip

    def test_reciprocal_family_outside_the_real_domain_is_nan(self):
        f = symgrad.compile(["asec(x)", "acsc(x)", "acoth(x)", "asech(x)"],
                            variables="x", parallel=False)
        x = np.array([0.5, -0.5, 1.5, -1.5])
        value, jac = f.value_and_jacobian(x)
        inside = np.array([[0, 0, 0, 1], [0, 0, 0, 0], [1, 1, 1, 0], [1, 1, 1, 0]], bool)
        np.testing.assert_array_equal(np.isfinite(value), inside)
        np.testing.assert_array_equal(np.isfinite(jac[..., 0]), inside)
        assert f(1.0).tolist() == [0.0, math.pi / 2, math.inf, 0.0]

    def test_aliases(self):
        from symgrad.parse import FUNCTIONS, parse

        assert FUNCTIONS["sigmoid"] is FUNCTIONS["logistic"] is FUNCTIONS["expit"]
        assert parse("arcsech(x)").exprs == parse("asech(x)").exprs
        assert float(parse("logistic(0) + x").exprs[0] - parse("x").exprs[0]) == 0.5
        assert parse("sinc(0) + x").exprs[0] - parse("x").exprs[0] == 1


def test_every_new_function_is_exercised():
    from symgrad.parse import FUNCTIONS

    new = {"sinc", "logistic", "sigmoid", "expit", "softplus", "logaddexp", "xlogy",
           "exp2", "sech", "csch", "coth", "acot", "asec", "acsc", "acoth", "asech",
           "acsch", "clip"}
    assert new <= set(FUNCTIONS)
    used = " ".join(list(ONE_ARG) + list(TWO_ARG))
    assert {name for name in new if f"{name}(" not in used} == set()
