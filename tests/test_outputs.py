"""The output-kind registry and the fused entry point: shapes, values, errors.

Laplacian, divergence and curl are checked against hand-derived formulas and, on
meshgrids, against ``np.gradient`` applied twice (or once per component) to the
compiled value, with the error shrinking at second order when the grid is refined.
"""

from __future__ import annotations

import numpy as np
import pytest

import symgrad
from symgrad import InputError
from symgrad.outputs import OUTPUTS

SCALAR = "sin(x)*cos(y) + exp(-(x**2 + y**2)/2)"
FIELD3 = ["y*z**2", "sin(x)*z", "x*y + exp(z)"]
FIELD2 = ["-y*x**2", "x*cos(y)"]


@pytest.fixture(scope="module")
def f():
    # tiered=False: first calls of different requests are compared bitwise
    return symgrad.compile(SCALAR, parallel=False, tiered=False)


@pytest.fixture(scope="module")
def F3():
    return symgrad.compile(FIELD3, variables="x y z", parallel=False)


@pytest.fixture(scope="module")
def F2():
    return symgrad.compile(FIELD2, variables="x y", parallel=False)


def laplacian_ref(x, y):
    e = np.exp(-(x**2 + y**2) / 2)
    return -2 * np.sin(x) * np.cos(y) + (x**2 + y**2 - 2) * e


def test_registry_lists_every_public_kind():
    assert set(OUTPUTS) >= {
        "value", "gradient", "jacobian", "hessian", "sparse_hessian", "hvp", "derivative",
        "laplacian", "divergence", "curl",
    }
    for name in OUTPUTS:  # one public method per kind
        assert callable(getattr(symgrad.Evaluator, name if name != "value" else "__call__"))


def test_laplacian_hand_derived(f):
    x, y = np.meshgrid(np.linspace(-2, 2, 7), np.linspace(-1, 3, 5))
    lap = f.laplacian(x, y)
    assert lap.shape == x.shape
    np.testing.assert_allclose(lap, laplacian_ref(x, y), rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(lap, np.trace(f.hessian(x, y), axis1=-2, axis2=-1), rtol=1e-13)
    assert float(f.laplacian(0.3, -0.7)) == pytest.approx(float(laplacian_ref(0.3, -0.7)), rel=1e-14)


def _np_gradient_twice_error(f, n):
    xs = np.linspace(-1.5, 1.5, n)
    X, Y = np.meshgrid(xs, xs, indexing="ij")
    V = f(X, Y)
    h = xs[1] - xs[0]
    dxx = np.gradient(np.gradient(V, h, axis=0), h, axis=0)
    dyy = np.gradient(np.gradient(V, h, axis=1), h, axis=1)
    inner = (slice(2, -2), slice(2, -2))
    return np.max(np.abs((dxx + dyy)[inner] - f.laplacian(X, Y)[inner]))


def test_laplacian_matches_np_gradient_twice_at_second_order(f):
    coarse, fine = _np_gradient_twice_error(f, 61), _np_gradient_twice_error(f, 121)
    assert fine < 2e-3
    assert 3.5 < coarse / fine < 4.5  # O(h**2)


def test_divergence_and_curl_3d_hand_derived(F3):
    rng = np.random.default_rng(0)
    x, y, z = rng.uniform(-1, 1, (3, 50))
    np.testing.assert_allclose(F3.divergence(x, y, z), 0 + 0 + np.exp(z), rtol=1e-14)
    curl = F3.curl(x, y, z)
    assert curl.shape == (50, 3)
    expected = np.stack([x - np.sin(x), 2 * y * z - y, z * np.cos(x) - z**2], axis=-1)
    np.testing.assert_allclose(curl, expected, rtol=1e-13, atol=1e-15)
    # the curl of a gradient field vanishes, the divergence of a curl too
    # (the gradient of x*y*z + y*sin(x))
    g = symgrad.compile(["y*z + y*cos(x)", "x*z + sin(x)", "x*y"], variables="x y z")
    np.testing.assert_allclose(g.curl(x, y, z), 0 * expected, atol=1e-15)


def test_curl_2d_is_the_scalar_curl(F2):
    x, y = np.array([0.5, -1.0]), np.array([2.0, 0.25])
    np.testing.assert_allclose(F2.curl(x, y), np.cos(y) + x**2, rtol=1e-15)
    np.testing.assert_allclose(F2.divergence(x, y), -2 * x * y - x * np.sin(y), rtol=1e-15)


@pytest.mark.slow
def test_divergence_and_curl_match_np_gradient_on_a_meshgrid(F3):
    xs = np.linspace(-1, 1, 41)
    h = xs[1] - xs[0]
    X, Y, Z = np.meshgrid(xs, xs, xs, indexing="ij")
    F = F3(X, Y, Z)  # (..., 3)
    d = [[np.gradient(F[..., c], h, axis=a) for a in range(3)] for c in range(3)]
    inner = (slice(1, -1),) * 3
    div = d[0][0] + d[1][1] + d[2][2]
    np.testing.assert_allclose(div[inner], F3.divergence(X, Y, Z)[inner], atol=2e-3)
    curl = np.stack([d[2][1] - d[1][2], d[0][2] - d[2][0], d[1][0] - d[0][1]], axis=-1)
    np.testing.assert_allclose(curl[inner], F3.curl(X, Y, Z)[inner], atol=2e-3)


@pytest.mark.slow
def test_evaluate_returns_a_tuple_in_the_order_asked(f):
    x, y = np.linspace(-1, 1, 9), 0.5
    out = f.evaluate(x, y, outputs=("hessian", "value", "laplacian", "gradient"))
    assert isinstance(out, tuple) and len(out) == 4
    np.testing.assert_array_equal(out[1], f(x, y))
    np.testing.assert_array_equal(out[3], f.gradient(x, y))
    np.testing.assert_allclose(out[0], f.hessian(x, y), rtol=1e-15)
    np.testing.assert_allclose(out[2], f.laplacian(x, y), rtol=1e-14)
    # the fused aliases return tuples too
    assert isinstance(f.value_and_gradient(x, y), tuple)
    assert isinstance(f.value_gradient_hessian(x, y), tuple)
    (h3,) = f.evaluate(x, y, outputs=("derivative",), order=3)
    assert h3.shape == (9, 2, 2, 2)
    (hv,) = f.evaluate(x, y, outputs="hvp", direction=[1.0, 0.0])
    np.testing.assert_allclose(hv, f.hessian(x, y)[..., 0], rtol=1e-14)
    (sp,) = f.evaluate(0.1, 0.2, outputs=("sparse_hessian",))
    np.testing.assert_allclose(sp.to_dense(), f.hessian(0.1, 0.2), rtol=1e-15)


def test_kinds_refuse_formulas_they_do_not_apply_to(f, F2):
    with pytest.raises(InputError, match="divergence needs a vector field"):
        f.divergence(1.0, 2.0)
    with pytest.raises(InputError, match="curl needs a vector field"):
        symgrad.compile(["x*y", "y"], variables="x y z").curl(1.0, 2.0, 3.0)
    with pytest.raises(InputError, match="curl is defined for vector fields of 2 or 3"):
        symgrad.compile(["x", "y", "z", "w"], variables="x y z w").curl(1, 2, 3, 4)
    with pytest.raises(InputError, match="laplacian is defined for scalar formulas only"):
        F2.laplacian(1.0, 2.0)
    with pytest.raises(InputError, match="unknown output 'lapalcian'; choose from"):
        f.evaluate(1.0, 2.0, outputs=("lapalcian",))
    with pytest.raises(InputError, match="requested twice"):
        f.evaluate(1.0, 2.0, outputs=("value", "value"))
    with pytest.raises(InputError, match="derivative needs order"):
        f.evaluate(1.0, 2.0, outputs=("derivative",))
    with pytest.raises(InputError, match="hvp needs direction"):
        f.evaluate(1.0, 2.0, outputs=("hvp",))


def test_laplacian_is_nan_outside_the_domain():
    g = symgrad.compile("log(x) + y**2", parallel=False)
    np.testing.assert_allclose(g.laplacian(np.array([2.0, -1.0]), 1.0), [-0.25 + 2, np.nan])


def test_numpy_backend_gives_the_same_numbers(f):
    x, y = np.linspace(-2, 2, 11), np.linspace(0, 1, 11)
    g = f.with_options(backend="numpy")
    assert g.backend == "numpy" and f.backend == "numba"
    for kind in ("value", "gradient", "hessian", "laplacian"):
        (a,) = f.evaluate(x, y, outputs=(kind,))
        (b,) = g.evaluate(x, y, outputs=(kind,))
        np.testing.assert_allclose(a, b, rtol=1e-14, atol=1e-15)
    with pytest.raises(symgrad.UnsupportedFunctionError, match="no NumPy array form"):
        symgrad.compile("gamma(x)", backend="numpy")(1.5)


def test_fused_outputs_write_into_a_tuple_of_out_arrays(f):
    x, y = np.linspace(-1, 1, 7), np.linspace(0, 2, 7)
    value, grad = np.empty(7), np.empty((7, 2))
    v, g = f.value_and_gradient(x, y, out=(value, grad))
    assert v is value and g is grad
    np.testing.assert_array_equal(value, f(x, y))
    np.testing.assert_array_equal(grad, f.gradient(x, y))
    _, h = f.evaluate(x, y, outputs=("value", "hessian"), out=(None, np.empty((7, 2, 2))))
    np.testing.assert_array_equal(h, f.hessian(x, y))
    with pytest.raises(InputError, match=r"one array per output \(2: value, gradient\)"):
        f.value_and_gradient(x, y, out=(value,))
    with pytest.raises(InputError, match=r"out for gradient must be a float64 array of "
                       r"shape \(7, 2\)"):
        f.value_and_gradient(x, y, out=(value, np.empty(7)))
