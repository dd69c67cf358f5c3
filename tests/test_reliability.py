"""Regression tests for classes of silent wrong numbers, crashes and unbounded work.

Each class is tested as a class (several members), not by its one reported example.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import symgrad
from symgrad import InputError, SymgradWarning

# ---------------------------------------------------------- conditionals anywhere compile

# (formula, NumPy reference of the value); derivatives are checked against central
# differences of the reference away from the branch boundaries.
CONDITIONALS = [
    ("log(where(x > 1, x, 2)) + y", lambda x, y: np.log(np.where(x > 1, x, 2)) + y),
    ("log(x if x > 1 else 2) * y", lambda x, y: np.log(np.where(x > 1, x, 2)) * y),
    ("sqrt(where(x > 0, x, -x) + 1) * where(y < 0, y**2, y)",
     lambda x, y: np.sqrt(np.abs(x) + 1) * np.where(y < 0, y**2, y)),
    ("asin(where(x*y > 0.5, 0.5, x*y/2))",
     lambda x, y: np.arcsin(np.where(x * y > 0.5, 0.5, x * y / 2))),
    ("where(where(x > 0, x, y) > 0.5, exp(x), cos(y))",
     lambda x, y: np.where(np.where(x > 0, x, y) > 0.5, np.exp(x), np.cos(y))),
    ("where(log(where(y > 0, y, 1)) > 0 and x < 2, x*y, -x)",
     lambda x, y: np.where((np.log(np.where(y > 0, y, 1)) > 0) & (x < 2), x * y, -x)),
    ("log(1 + where(not (x > 0 or y > 0), x**2, x*y + 2))",
     lambda x, y: np.log(1 + np.where(~((x > 0) | (y > 0)), x**2, x * y + 2))),
    ("(x if x > 0 else -x)**1.5 + log(y if y > 0.1 else 0.1)",
     lambda x, y: np.abs(x) ** 1.5 + np.log(np.where(y > 0.1, y, 0.1))),
]


@pytest.mark.slow
@pytest.mark.parametrize("formula, ref", CONDITIONALS, ids=[c[0] for c in CONDITIONALS])
def test_conditionals_anywhere_compile_and_are_right(formula, ref):
    f = symgrad.compile(formula, variables="x y", parallel=False)
    rng = np.random.default_rng(1)
    x, y = rng.uniform(-2.5, 2.5, (2, 64))
    with np.errstate(all="ignore"):
        expected = ref(x, y)
    v, g, h = f.value_gradient_hessian(x, y)
    np.testing.assert_allclose(v, expected, rtol=1e-13, atol=1e-14)
    assert g.shape == (64, 2) and h.shape == (64, 2, 2)
    # gradient vs central differences where the reference is smooth nearby
    step = 1e-6
    for k in range(2):
        dx = np.eye(2)[k] * step
        with np.errstate(all="ignore"):
            fd = (ref(x + dx[0], y + dx[1]) - ref(x - dx[0], y - dx[1])) / (2 * step)
            far = (ref(x + 1e-3 * (k == 0), y + 1e-3 * (k == 1)) - ref(x, y)) / 1e-3
        smooth = np.isfinite(fd) & np.isfinite(g[:, k]) & (np.abs(far - fd) < 1e-2 * (1 + abs(fd)))
        np.testing.assert_allclose(g[smooth, k], fd[smooth], rtol=1e-6, atol=1e-7)
    # the plain-Python run of the same kernel and the NumPy tier agree
    python = f.evaluate_python(["value", "gradient"], x, y)
    np.testing.assert_allclose(python[1], g, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(f.with_options(backend="numpy").gradient(x, y), g,
                               rtol=1e-13, atol=1e-14)


# --------------------------------------------------------------- out= overlapping inputs

def test_out_overlapping_an_input_gives_the_right_numbers():
    f = symgrad.compile("x**2*y + sin(x)", parallel=False, tiered=False)
    rng = np.random.default_rng(2)
    P = rng.uniform(-1, 1, (50, 2))
    expected = f.gradient(P.copy())
    assert f.gradient(P, out=P) is P  # the same array as the points
    np.testing.assert_array_equal(P, expected)
    q = rng.uniform(-1, 1, 51)
    expected = f(q[:-1].copy(), q[1:].copy())
    f(q[:-1], q[1:], out=q[1:])  # a shifted view of an input
    np.testing.assert_array_equal(q[1:], expected)
    q = rng.uniform(-1, 1, 51)
    expected = f(q[:-1].copy(), q[1:].copy())
    f(q[:-1], q[1:], out=q[:-1])
    np.testing.assert_array_equal(q[:-1], expected)
    z = rng.uniform(-1, 1, (2, 10))
    lap = symgrad.compile("x**2*y**2", parallel=False)
    expected = lap.laplacian(z[0].copy(), z[1].copy())
    lap.laplacian(z[0], z[1], out=z[1])
    np.testing.assert_array_equal(z[1], expected)


# ------------------------------------------------------------ inferred variable order

def test_unconventional_inferred_order_warns_once_on_positional_calls():
    f = symgrad.compile("S*exp(-r*T) - K + sigma*0", parallel=False)
    assert f.variables == ("K", "S", "T", "r", "sigma")  # natural name order
    with pytest.warns(SymgradWarning, match=r"natural name order \(K, S, T, r, sigma\)"):
        f(1.0, 2.0, 3.0, 0.5, 0.2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f(1.0, 2.0, 3.0, 0.5, 0.2)  # once only
        f.gradient(K=1.0, S=2.0, T=3.0, r=0.5, sigma=0.2)


@pytest.mark.parametrize("formula, variables", [
    ("x*y + z", None), ("x1*x2 + x10", None), ("u*v + w", None), ("t*x", "x t"),
    ("S*exp(-r*T)", "S r T"),
])
def test_conventional_or_given_orders_do_not_warn(formula, variables):
    f = symgrad.compile(formula, variables=variables, parallel=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f(*[1.0] * f.n_variables)
        f(np.ones((3, f.n_variables))) if f.n_variables > 1 else f(1.0)


def test_keyword_calls_never_warn():
    f = symgrad.compile("b*a - c", parallel=False)  # (a, b, c) is natural; t-first is not
    g = symgrad.compile("x*t", parallel=False)
    assert g.variables == ("t", "x")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        g(t=1.0, x=2.0)
        f(a=1.0, b=2.0, c=3.0)
    with pytest.warns(SymgradWarning, match=r"\(t, x\)"):
        g(1.0, 2.0)


# ---------------------------------------------------------------- inputs and requests

def test_more_than_32_dimensions_is_an_input_error():
    f = symgrad.compile("x*y", parallel=False)
    with pytest.raises(InputError, match="33 dimensions"):
        f(np.ones((1,) * 33), 1.0)
    with pytest.raises(InputError, match="33 dimensions"):
        f.gradient(np.ones((1,) * 33), np.ones((1,) * 33))


def test_unbounded_symbolic_requests_are_refused_up_front():
    f = symgrad.compile("exp(sin(x)*y)", parallel=False)
    with pytest.raises(InputError, match="partial\\(\\) of order 60 is too high"):
        f.partial(*["x"] * 60)
    with pytest.raises(InputError, match="order=13 is too high"):
        f.derivative(0.1, 0.2, order=13)
    g = symgrad.compile(" + ".join(f"x{i}*x{i + 1}" for i in range(39)), parallel=False)
    with pytest.raises(InputError, match="too large: 123410 distinct partial derivatives"):
        g.derivative(*[1.0] * 40, order=4)


def test_argument_errors_say_what_to_do():
    f = symgrad.compile("a*x + b*y", variables="x y", params="a b", parallel=False)
    with pytest.raises(InputError, match="missing parameter 'a'"):
        f.gradient(1.0, y=2.0)
    assert f.gradient(1.0, y=2.0, a=3.0, b=4.0).tolist() == [3.0, 4.0]
    with pytest.raises(InputError, match="unknown argument 'z'.*variables are x and y; "
                       "parameters are a and b"):
        f(1.0, 2.0, a=1, b=2, z=3)
    with pytest.raises(InputError, match="unknown option 'pointz'"):
        symgrad.gradient("x*y", pointz=3)
    with pytest.raises(InputError, match="Did you mean 'dtype'"):
        symgrad.hessian("x*y", dtpye="float32")


def test_negative_integer_powers_at_zero_are_ieee_infinities():
    f = symgrad.compile("x**(-5) + y**(-8)", parallel=False)
    x = np.array([0.0, -0.0, 2.0])
    np.testing.assert_array_equal(f(x, 1.0), [np.inf, -np.inf, 2.0**-5 + 1])
    np.testing.assert_array_equal(f.gradient(0.0, -0.0), [-np.inf, np.inf])
    assert float(f(0.0, 0.0)) == np.inf
