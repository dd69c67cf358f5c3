"""Evaluator behaviour: shapes, layouts, broadcasting, dtypes, out=, IEEE semantics."""

from __future__ import annotations

import numpy as np
import pytest

import symgrad
from symgrad import InputError

FORMULA = "sin(x)*cos(y) + exp(-(x**2 + y**2)/2)"


def grad_ref(x, y):
    e = np.exp(-(x**2 + y**2) / 2)
    return np.stack([np.cos(x) * np.cos(y) - x * e, -np.sin(x) * np.sin(y) - y * e], axis=-1)


def hess_ref(x, y):
    e = np.exp(-(x**2 + y**2) / 2)
    s, c = np.sin, np.cos
    hxx = -s(x) * c(y) + (x**2 - 1) * e
    hyy = -s(x) * c(y) + (y**2 - 1) * e
    hxy = -c(x) * s(y) + x * y * e
    return np.stack([np.stack([hxx, hxy], -1), np.stack([hxy, hyy], -1)], -2)


@pytest.fixture(scope="module")
def f():
    # tiered=False: these tests compare first calls of different requests bitwise
    # (with the default tiered="auto" a first call may be NumPy's, a few ulps off).
    return symgrad.compile(FORMULA, parallel=False, tiered=False)


@pytest.fixture(scope="module")
def grid():
    return np.meshgrid(np.linspace(-3, 3, 50), np.linspace(-3, 3, 40))


def test_variables_found_and_ordered(f):
    assert f.variables == ("x", "y")
    assert f.params == ()


def test_value_gradient_hessian_shapes_and_values(f, grid):
    x, y = grid
    v, g, h = f(x, y), f.gradient(x, y), f.hessian(x, y)
    assert v.shape == (40, 50) and g.shape == (40, 50, 2) and h.shape == (40, 50, 2, 2)
    np.testing.assert_allclose(v, np.sin(x) * np.cos(y) + np.exp(-(x**2 + y**2) / 2), rtol=1e-14)
    np.testing.assert_allclose(g, grad_ref(x, y), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(h, hess_ref(x, y), rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(h, np.swapaxes(h, -1, -2))


def test_fused_methods_match_separate_ones(f, grid):
    x, y = grid
    v, g = f.value_and_gradient(x, y)
    v2, g2, h2 = f.value_gradient_hessian(x, y)
    g3, h3 = f.gradient_and_hessian(x, y)
    np.testing.assert_array_equal(v, f(x, y))
    np.testing.assert_array_equal(g, f.gradient(x, y))
    np.testing.assert_array_equal(v2, v)
    np.testing.assert_array_equal(g2, g)
    np.testing.assert_array_equal(h2, f.hessian(x, y))
    np.testing.assert_array_equal(g3, g)
    np.testing.assert_array_equal(h3, h2)


def test_components_are_contiguous(f, grid):
    g = f.gradient(*grid)
    assert g[..., 0].flags.c_contiguous and g[..., 1].flags.c_contiguous


def test_points_layout_equals_separate_arrays(f, grid):
    x, y = grid
    points = np.stack([x, y], axis=-1)  # (40, 50, 2)
    np.testing.assert_array_equal(f.gradient(points), f.gradient(x, y))
    np.testing.assert_array_equal(f(points), f(x, y))
    single = f.gradient(np.array([0.5, -1.0]))
    assert single.shape == (2,)
    np.testing.assert_allclose(single, grad_ref(0.5, -1.0), rtol=1e-13)


def test_keyword_variables(f):
    np.testing.assert_array_equal(f.gradient(y=2.0, x=1.0), f.gradient(1.0, 2.0))


def test_scalars_return_zero_d_and_broadcasting(f):
    assert f(1.0, 2.0).shape == ()
    x = np.linspace(0, 1, 7)[:, None]
    y = np.linspace(0, 1, 5)[None, :]
    g = f.gradient(x, y)
    assert g.shape == (7, 5, 2)
    xx, yy = np.broadcast_arrays(x, y)
    np.testing.assert_allclose(g, grad_ref(xx, yy), rtol=1e-12, atol=1e-15)
    assert f.gradient(x, 0.5).shape == (7, 1, 2)


def test_empty_inputs(f):
    assert f.gradient(np.empty((0, 3)), np.empty((0, 3))).shape == (0, 3, 2)


def test_integer_and_noncontiguous_inputs(f):
    xi = np.arange(6).reshape(2, 3)
    yi = np.ones((2, 3), dtype=np.int32)
    np.testing.assert_allclose(f.gradient(xi, yi), grad_ref(xi * 1.0, yi * 1.0), rtol=1e-12)
    big = np.linspace(-2, 2, 40).reshape(5, 8)
    x_nc, y_nc = big[:, ::2], big.T[::2, :5].T  # strided views
    assert not x_nc.flags.c_contiguous
    np.testing.assert_allclose(f(x_nc, y_nc), f(x_nc.copy(), y_nc.copy()), rtol=0)


def test_float32(grid):
    f32 = symgrad.compile(FORMULA, dtype="float32", parallel=False)
    x, y = grid
    g = f32.gradient(x, y)
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, grad_ref(x, y), rtol=1e-5, atol=1e-6)


def test_out_argument(f, grid):
    x, y = grid
    out = np.empty(x.shape + (2,))
    result = f.gradient(x, y, out=out)
    assert result is out
    np.testing.assert_array_equal(out, f.gradient(x, y))
    # component-major memory (what the evaluator returns) is written in place too
    reuse = f.gradient(x, y)
    reuse[...] = 0
    assert f.gradient(x, y, out=reuse) is reuse
    np.testing.assert_array_equal(reuse, out)
    with pytest.raises(InputError, match="shape"):
        f.gradient(x, y, out=np.empty(x.shape))
    with pytest.raises(InputError, match="float64"):
        f.gradient(x, y, out=np.empty(x.shape + (2,), dtype=np.float32))


def test_out_zero_fills_structural_zeros():
    f = symgrad.compile("x**2 + y**2", parallel=False)
    out = np.full((3, 2, 2), 7.0)
    f.hessian(np.ones(3), np.ones(3), out=out)
    np.testing.assert_array_equal(out, np.broadcast_to([[2.0, 0.0], [0.0, 2.0]], (3, 2, 2)))


def test_parallel_and_serial_kernels_agree(grid):
    par = symgrad.compile(FORMULA, parallel=True)
    ser = symgrad.compile(FORMULA, parallel=False)
    x, y = grid
    np.testing.assert_array_equal(par.hessian(x, y), ser.hessian(x, y))


def test_params_broadcast_and_are_not_differentiated(grid):
    g = symgrad.compile("a*x**2 + b*y", variables="x y", params="a b", parallel=False)
    x, y = grid
    out = g.gradient(x, y, a=2.0, b=np.ones_like(y))
    np.testing.assert_allclose(out[..., 0], 4.0 * x, rtol=1e-15)
    np.testing.assert_allclose(out[..., 1], 1.0)
    per_point = g.gradient(x, y, a=x, b=3.0)
    np.testing.assert_allclose(per_point[..., 0], 2 * x * x, rtol=1e-15)


def test_vector_formula_jacobian(grid):
    x, y = grid
    F = symgrad.compile(["x*y", "sin(x) + y**2"], parallel=False)
    J = F.jacobian(x, y)
    assert J.shape == x.shape + (2, 2)
    np.testing.assert_allclose(J[..., 0, 0], y)
    np.testing.assert_allclose(J[..., 0, 1], x)
    np.testing.assert_allclose(J[..., 1, 0], np.cos(x), rtol=1e-15)
    np.testing.assert_allclose(J[..., 1, 1], 2 * y)
    assert F(x, y).shape == x.shape + (2,)
    with pytest.raises(InputError, match="jacobian"):
        F.gradient(x, y)


def test_ieee_semantics_at_domain_errors():
    f = symgrad.compile(["1/x", "log(x)", "sqrt(x)", "x + 1"], variables="x", parallel=False)
    x = np.array([0.0, -1.0, np.nan, np.inf, -np.inf])
    v = f(x)
    assert v[0, 0] == np.inf and np.isnan(v[1, 1]) and np.isnan(v[1, 2])
    assert v[0, 1] == -np.inf
    assert np.isnan(v[2]).all()  # NaN in, NaN out
    assert v[3, 3] == np.inf and v[4, 3] == -np.inf
    J = f.jacobian(x)
    assert J[0, 0, 0] == -np.inf  # d(1/x)/dx = -1/x**2 at 0
    assert np.isnan(J[2, :3]).all()
    # d(x + 1)/dx does not depend on x: it stays 1 (NaN propagates through what
    # depends on it, as in IEEE arithmetic).
    assert J[2, 3, 0] == 1.0


def test_nan_parameter_gives_nan():
    g = symgrad.compile("a*x", variables="x", params="a", parallel=False)
    assert np.isnan(g(1.0, a=np.nan))
    assert np.isnan(g.gradient(1.0, a=np.nan)).all()


def test_hvp_and_derivative_tensor(f):
    x, y = np.array([0.3, -1.2]), np.array([0.7, 2.0])
    H = f.hessian(x, y)
    v = np.array([0.25, -2.0])
    np.testing.assert_allclose(f.hvp(x, y, direction=v), H @ v, rtol=1e-13)
    per_point = np.array([[1.0, 0.0], [0.0, 1.0]])
    np.testing.assert_allclose(f.hvp(x, y, direction=per_point), np.einsum("pij,pj->pi", H, per_point), rtol=1e-13)
    np.testing.assert_array_equal(f.derivative(x, y, order=2), H)
    np.testing.assert_array_equal(f.derivative(x, y, order=1), f.gradient(x, y))
    d3 = f.derivative(x, y, order=3)
    assert d3.shape == (2, 2, 2, 2)
    for perm in [(0, 0, 1), (0, 1, 0), (1, 0, 0)]:
        np.testing.assert_array_equal(d3[(slice(None),) + perm], d3[:, 0, 0, 1])
    fxxy = f.partial("x", "x", "y")
    np.testing.assert_allclose(fxxy(x, y), d3[:, 0, 0, 1], rtol=1e-14)
    # hand-derived: d3/dx2dy of sin(x)cos(y) + exp(-(x^2+y^2)/2)
    e = np.exp(-(x**2 + y**2) / 2)
    np.testing.assert_allclose(d3[:, 0, 0, 1], np.sin(x) * np.sin(y) - y * (x**2 - 1) * e, rtol=1e-12)


class TestArgumentErrors:
    def test_wrong_count(self, f):
        with pytest.raises(InputError, match=r"got 3 positional arguments; expected 2 "
                           r"variables \(x and y\)"):
            f(1.0, 2.0, 3.0)
        with pytest.raises(InputError, match="missing variable 'x'"):
            f(y=2.0)

    def test_partly_positional_partly_keyword(self, f):
        np.testing.assert_array_equal(f.gradient(1.0, y=2.0), f.gradient(1.0, 2.0))

    def test_points_with_wrong_last_axis(self, f):
        with pytest.raises(InputError, match=r"shape \(\.\.\., 2\)"):
            f(np.ones((4, 3)))

    def test_shapes_that_do_not_broadcast(self, f):
        with pytest.raises(InputError, match=r"x: \(3,\), y: \(4,\)"):
            f(np.ones(3), np.ones(4))

    def test_missing_and_unknown_parameters(self):
        g = symgrad.compile("a*x", variables="x", params="a", parallel=False)
        with pytest.raises(InputError, match="missing parameter 'a'"):
            g(1.0)
        with pytest.raises(InputError, match="Did you mean 'a'"):
            g(1.0, A=1.0)

    def test_complex_and_string_inputs(self, f):
        with pytest.raises(InputError, match="complex"):
            f(1j, 1.0)
        with pytest.raises(InputError, match="dtype"):
            f("a", 1.0)

    def test_errors_are_value_errors(self, f):
        with pytest.raises(ValueError):
            f(1.0)

    def test_bad_dtype_and_reserved_names(self):
        with pytest.raises(InputError, match="float64 or float32"):
            symgrad.compile("x", dtype="int32")
        with pytest.raises(InputError, match="float64 or float32"):
            symgrad.compile("x", dtype="no such type")


class TestNamesLikeKeywords:
    """Every identifier is usable as a name; only a really ambiguous keyword is refused."""

    def test_parameter_named_out_goes_positionally(self):
        f = symgrad.compile("out*x**2", variables="x", params="out")
        assert float(f(2.0, 3.0)) == 12.0
        np.testing.assert_array_equal(f.gradient(np.array([1.0, 2.0]), 3.0), [[6.0], [12.0]])
        with pytest.raises(InputError, match="'out' is both a name in this formula"):
            f(2.0, out=3.0)

    def test_variables_named_like_keywords(self):
        f = symgrad.compile("direction*order + self", variables="direction order self")
        np.testing.assert_array_equal(f.gradient(2.0, 3.0, 5.0), [3.0, 2.0, 1.0])
        assert float(f(self=1.0, direction=2.0, order=3.0)) == 7.0
        np.testing.assert_array_equal(f.derivative(2.0, 3.0, 5.0, order=1), [3.0, 2.0, 1.0])
        with pytest.raises(InputError, match="'order' is both a name"):
            f.evaluate(2.0, 3.0, outputs=("gradient",), order=1)

    def test_parameters_positionally_after_the_variables(self):
        f = symgrad.compile("a*x + b*y", variables="x y", params="a b")
        assert float(f(1.0, 2.0, 3.0, 4.0)) == 11.0
        assert float(f(1.0, 2.0, 3.0, b=4.0)) == 11.0
        with pytest.raises(InputError, match=r"parameters \(a and b\) in that order; or "
                           r"pass a and b by keyword"):
            f(1.0, 2.0, 3.0, 4.0, 5.0)


def test_compile_returns_the_same_evaluator():
    assert symgrad.compile(FORMULA, parallel=False) is symgrad.compile(FORMULA, parallel=False)


def test_one_liners(grid):
    x, y = grid
    grad = symgrad.gradient("x**2*y + exp(x*y)", parallel=False)
    # the two terms cancel near x*y = -log(2)... atol scales with the terms' size
    terms = np.abs(2 * x * y) + np.abs(y * np.exp(x * y))
    np.testing.assert_allclose(
        grad(x, y)[..., 0], 2 * x * y + y * np.exp(x * y), rtol=1e-13, atol=1e-15 * terms.max()
    )
    hess = symgrad.hessian("x**2*y", parallel=False)
    np.testing.assert_allclose(hess(1.0, 2.0), [[4.0, 2.0], [2.0, 0.0]])


def test_tiered_answers_with_numpy_then_switches_to_the_kernel(grid):
    x, y = grid
    tiered = symgrad.compile(FORMULA + " + 0.25*where(x > 0, x, -x)", tiered=True, parallel=False)
    plain = symgrad.compile(FORMULA + " + 0.25*where(x > 0, x, -x)", parallel=False,
                            tiered=False)
    expected_v, expected_g, expected_h = plain.value_gradient_hessian(x, y)
    v, g, h = tiered.value_gradient_hessian(x, y)  # NumPy tier: agrees to a few ulps
    np.testing.assert_allclose(v, expected_v, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(g, expected_g, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(h, expected_h, rtol=1e-14, atol=1e-15)
    compiled = tiered._request(("value", "gradient", "hessian"))
    assert compiled.array is not None
    compiled.compiling.result(timeout=300)  # the background compilation finishes
    v2, g2, h2 = tiered.value_gradient_hessian(x, y)  # now the kernel: bitwise equal
    np.testing.assert_array_equal(h2, expected_h)
    np.testing.assert_array_equal(g2, expected_g)


def test_tiered_waits_for_the_kernel_when_numpy_cannot_evaluate():
    f = symgrad.compile("gamma(x) + y", tiered=True, parallel=False)
    out = f.gradient(np.array([0.5, 1.5]), np.array([1.0, 2.0]))
    # gamma(x) * digamma(x), from mpmath
    np.testing.assert_allclose(out[:, 0], [-3.48023090691326, 0.032338397448885], rtol=1e-13)
    assert f._request(("gradient",)).array is None


class TestReviewRegressions:
    def test_integral_float_exponent_is_defined_for_negative_x(self):
        f = symgrad.compile("x**2.0 + x**3.0*y", parallel=False)
        np.testing.assert_allclose(f.gradient(-2.0, 1.5), [-4.0 + 3 * 4.0 * 1.5, -8.0])
        np.testing.assert_allclose(f.hessian(-2.0, 1.5), [[2.0 + 6 * -2.0 * 1.5, 12.0], [12.0, 0.0]])

    def test_polygamma_at_extreme_negative_inputs_returns(self):
        f = symgrad.compile("loggamma(x)", parallel=False)
        x = np.array([-np.inf, -1e12 - 0.5, -3.0, -2.5])
        h = f.hessian(x)[:, 0, 0]  # trigamma: must not loop forever
        assert not np.isfinite(h[:3]).any()
        np.testing.assert_allclose(h[3], 9.53924664498912, rtol=1e-12)  # mpmath.psi(1, -2.5)

    def test_self_is_a_usable_name(self):
        f = symgrad.compile("self*x", variables="x", params="self")
        assert float(f(2.0, self=4.0)) == 8.0

    def test_huge_integer_exponents_generate_code(self):
        source = symgrad.compile("x**(10**200)").kernel_source("hessian")
        assert "np.inf" in source and "1e+200" in source
