"""symgrad.optimize: callables for scipy.optimize.minimize and least_squares."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest

import symgrad
from symgrad.errors import InputError
from symgrad.optimize import least_squares_kwargs, minimize_kwargs

so = pytest.importorskip("scipy.optimize")

PROBLEMS = {
    "rosenbrock": ("(1 - x)**2 + 100*(y - x**2)**2", [-1.2, 1.0], [(1.0, 1.0)]),
    "himmelblau": (
        "(x**2 + y - 11)**2 + (x + y**2 - 7)**2",
        [1.0, 1.0],
        [(3.0, 2.0), (-2.805118, 3.131312), (-3.779310, -3.283186), (3.584428, -1.848126)],
    ),
    "beale": (
        "(1.5 - x + x*y)**2 + (2.25 - x + x*y**2)**2 + (2.625 - x + x*y**3)**2",
        [1.0, 1.0],
        [(3.0, 0.5)],
    ),
}
OPTIONS = {"trust-exact": {"gtol": 1e-8}, "Newton-CG": {"xtol": 1e-10}}
DAMPED_SINE = "A*exp(-sigma*t)*sin(omega*t)"


def compile_(formula, **kw):
    return symgrad.compile(formula, parallel=False, **kw)


@pytest.fixture(scope="module")
def rosen():
    return compile_(PROBLEMS["rosenbrock"][0])


@pytest.fixture(scope="module")
def model():
    return compile_(DAMPED_SINE, variables="A sigma omega", params="t")


def counted(formula):
    """The formula as a plain Python function of a vector, counting its calls."""
    code = compile(f"lambda x, y: {formula}", "<objective>", "eval")
    f = eval(code)  # test-only: our own constant formula strings
    calls = [0]

    def fun(v):
        calls[0] += 1
        return f(*v)

    return fun, calls


def fd_gradient(fun, h=6e-6):
    def jac(x):
        e = np.eye(len(x)) * h
        return np.array([(fun(x + e[i]) - fun(x - e[i])) / (2 * h) for i in range(len(x))])

    return jac


def fd_hessian(fun, h=1e-4):
    def hess(x):
        n = len(x)
        e = np.eye(n) * h
        f0 = fun(x)
        H = np.empty((n, n))
        for i in range(n):
            H[i, i] = (fun(x + e[i]) - 2 * f0 + fun(x - e[i])) / h**2
            for j in range(i):
                H[i, j] = H[j, i] = (
                    fun(x + e[i] + e[j]) - fun(x + e[i] - e[j])
                    - fun(x - e[i] + e[j]) + fun(x - e[i] - e[j])
                ) / (4 * h * h)
        return H

    return hess


def distance_to_minima(x, minima):
    return min(np.linalg.norm(np.asarray(x) - np.asarray(m)) for m in minima)


# -- convergence -----------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["trust-exact", "Newton-CG"])
@pytest.mark.parametrize("name", list(PROBLEMS))
def test_converges_with_fewer_evaluations_than_finite_differences(name, method):
    formula, x0, minima = PROBLEMS[name]
    f = compile_(formula)
    res = so.minimize(**f.for_scipy(x0=x0, method=method), options=OPTIONS[method])
    assert res.success, res.message
    assert distance_to_minima(res.x, minima) < 1e-6
    symgrad_evaluations = res.nfev + res.njev + res.nhev

    fun, calls = counted(formula)
    fd = so.minimize(
        fun, x0, jac=fd_gradient(fun), hess=fd_hessian(fun), method=method,
        options=OPTIONS[method],
    )
    assert distance_to_minima(fd.x, minima) < 1e-4
    # Each finite-difference gradient and Hessian costs several objective calls.
    assert symgrad_evaluations < calls[0]


def test_headline_example_trust_exact(rosen):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "does not use hessp" warning from SciPy
        res = so.minimize(**rosen.for_scipy(x0=[-1.2, 1.0]), method="trust-exact")
    np.testing.assert_allclose(res.x, [1.0, 1.0], atol=1e-6)


def test_newton_cg_with_hessian_vector_product(rosen):
    kw = rosen.for_scipy(x0=[-1.2, 1.0], method="Newton-CG", hessp=True)
    assert set(kw) == {"fun", "jac", "hessp", "x0", "method"}
    res = so.minimize(**kw, options={"xtol": 1e-10})
    np.testing.assert_allclose(res.x, [1.0, 1.0], atol=1e-6)
    assert res.nhev > 0


@pytest.mark.parametrize(
    "method, keys",
    [
        ("BFGS", {"fun", "jac"}),
        ("L-BFGS-B", {"fun", "jac"}),
        ("Nelder-Mead", {"fun"}),
        ("trust-exact", {"fun", "jac", "hess"}),
        ("Newton-CG", {"fun", "jac", "hess"}),
        ("trust-krylov", {"fun", "jac", "hess"}),
    ],
)
def test_method_gets_only_what_it_uses(rosen, method, keys):
    kw = rosen.for_scipy(x0=[-1.2, 1.0], method=method)
    assert set(kw) == keys | {"x0", "method"}
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        res = so.minimize(**kw, options={"maxiter": 3})
    assert np.all(np.isfinite(res.x))


# -- the callables ------------------------------------------------------------------------------


def test_callables_types_and_values(rosen):
    kw = minimize_kwargs(rosen, x0=[-1, 1])
    assert set(kw) == {"fun", "jac", "hess", "x0"}
    assert kw["x0"].dtype == np.float64 and kw["x0"].shape == (2,)
    x = np.array([-1.2, 1.0])
    a, b = x
    value = kw["fun"](x)
    assert type(value) is float
    assert value == pytest.approx((1 - a) ** 2 + 100 * (b - a * a) ** 2)
    g = kw["jac"](x)
    assert g.shape == (2,) and g.dtype == np.float64
    np.testing.assert_allclose(g, [-2 * (1 - a) - 400 * a * (b - a * a), 200 * (b - a * a)])
    H = kw["hess"](x)
    assert H.shape == (2, 2) and H.dtype == np.float64
    h11 = 2 - 400 * (b - a * a) + 800 * a * a
    np.testing.assert_allclose(H, [[h11, -400 * a], [-400 * a, 200]])
    p = np.array([0.3, -0.7])
    hessp = rosen.for_scipy(hessp=True)["hessp"]
    hp = hessp(x, p)
    assert hp.shape == (2,)
    np.testing.assert_allclose(hp, H @ p)
    # Lists and tuples work too; other points are not served from the memo.
    assert kw["fun"]([1, 1]) == 0.0
    np.testing.assert_allclose(kw["jac"]((1.0, 1.0)), [0.0, 0.0])


def test_memo_returns_fresh_arrays(rosen):
    kw = rosen.for_scipy()
    x = np.array([0.5, 0.5])
    g = kw["jac"](x)
    expected = g.copy()
    g[:] = 99.0  # an optimizer scribbling on its gradient must not poison the memo
    np.testing.assert_array_equal(kw["jac"](x), expected)
    H = kw["hess"](x)
    H[0, 0] = 99.0
    assert kw["hess"](x)[0, 0] != 99.0
    x[0] = 0.25  # the point is mutated in place: a new point, not a memo hit
    assert kw["fun"](x) == pytest.approx(0.75**2 + 100 * (0.5 - 0.0625) ** 2)


def test_fixed_parameters():
    f = compile_("(x - a)**2 + 3*(y - b)**2 + x*y/10", params="a b")
    res = so.minimize(**f.for_scipy(x0=[0, 0], a=1.0, b=np.float32(-2.0)), method="trust-exact")
    grad = f.gradient(*res.x, a=1.0, b=-2.0)
    np.testing.assert_allclose(grad, 0.0, atol=1e-8)
    with pytest.raises(InputError, match="missing parameter 'b'"):
        f.for_scipy(a=1.0)
    with pytest.raises(InputError, match="unknown parameter 'c'"):
        f.for_scipy(a=1.0, b=1.0, c=2.0)
    with pytest.raises(InputError, match="one real number"):
        f.for_scipy(a=np.ones(3), b=1.0)
    with pytest.raises(InputError, match="'x' is a variable"):
        f.for_scipy(a=1.0, b=1.0, x=2.0)


def test_bad_points_name_the_variables(rosen):
    with pytest.raises(InputError, match=r"x0 must have 2 entries.*\(x and y\), got 3"):
        rosen.for_scipy(x0=[1, 2, 3])
    kw = rosen.for_scipy()
    with pytest.raises(InputError, match=r"x must have 2 entries.*got 1"):
        kw["fun"](np.array([1.0]))
    with pytest.raises(InputError, match="hessp=True"):
        rosen.for_scipy(method="BFGS", hessp=True)
    with pytest.raises(InputError, match="method must be"):
        rosen.for_scipy(method=3)


def test_custom_method_is_passed_through(rosen):
    def newton(fun, x0, args=(), jac=None, hess=None, **options):
        x = np.array(x0, dtype=float)
        for _ in range(50):
            x = x - np.linalg.solve(hess(x), jac(x))
        return so.OptimizeResult(x=x, fun=fun(x), success=True, nit=50)

    kw = rosen.for_scipy(x0=[-1.2, 1.0], method=newton)
    assert kw["method"] is newton and {"fun", "jac", "hess"} <= set(kw)
    res = so.minimize(**kw)
    np.testing.assert_allclose(res.x, [1.0, 1.0], atol=1e-10)


def test_vector_formulas_are_rejected():
    f = compile_(["x*y", "x + y"])
    with pytest.raises(InputError, match="scalar formula"):
        f.for_scipy(x0=[1, 2])
    with pytest.raises(InputError, match="scalar formula"):
        f.for_least_squares({}, x0=[1, 2])


# -- least squares ------------------------------------------------------------------------------


def damped_sine_data(model, n=200, seed=0):
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 10, n)
    true = np.array([2.0, 0.3, 1.7])
    y = model(*true, t=t) + 0.05 * rng.standard_normal(n)
    return t, y, true


@pytest.mark.parametrize("method", ["lm", "trf"])
def test_damped_sine_fit_recovers_parameters(model, method):
    t, y, true = damped_sine_data(model)
    kw = model.for_least_squares({"t": t}, x0=[1.0, 0.1, 1.5], observed=y)
    fit = so.least_squares(**kw, method=method)
    assert fit.success
    np.testing.assert_allclose(fit.x, true, rtol=0.03)
    # the residual standard deviation matches the noise we added
    assert np.std(fit.fun) == pytest.approx(0.05, rel=0.2)


def test_least_squares_jacobian_matches_finite_differences(model):
    t, y, _ = damped_sine_data(model, n=50)
    kw = least_squares_kwargs(model, {"t": t}, observed=y)
    theta = np.array([1.5, 0.2, 1.9])
    r = kw["fun"](theta)
    J = kw["jac"](theta)
    assert r.shape == (50,) and r.dtype == np.float64
    assert J.shape == (50, 3) and J.dtype == np.float64
    np.testing.assert_allclose(r, model(*theta, t=t) - y)
    h = 1e-6
    fd = np.column_stack(
        [(kw["fun"](theta + h * e) - kw["fun"](theta - h * e)) / (2 * h) for e in np.eye(3)]
    )
    np.testing.assert_allclose(J, fd, rtol=1e-6, atol=1e-8)


def test_least_squares_without_observed_and_gridded_data(model):
    t = np.linspace(0, 5, 24).reshape(4, 6)  # any sample shape; residuals are flattened
    kw = model.for_least_squares({"t": t}, x0=[1, 0.5, 2])
    theta = kw["x0"]
    np.testing.assert_allclose(kw["fun"](theta), model(*theta, t=t).reshape(-1))
    assert kw["jac"](theta).shape == (24, 3)
    # observed may broadcast against the data (one row per row of t here)
    obs = np.arange(4.0)[:, None]
    kw = model.for_least_squares({"t": t}, observed=obs)
    np.testing.assert_allclose(kw["fun"](theta), (model(*theta, t=t) - obs).reshape(-1))


def test_least_squares_errors(model):
    t = np.linspace(0, 1, 5)
    with pytest.raises(InputError, match="missing parameter 't'"):
        model.for_least_squares({})
    with pytest.raises(InputError, match="mapping"):
        model.for_least_squares(t)
    with pytest.raises(InputError, match="'A' is a variable"):
        model.for_least_squares({"t": t, "A": 1.0})
    with pytest.raises(InputError, match="unknown parameter 'tt'"):
        model.for_least_squares({"tt": t})
    with pytest.raises(InputError, match="do not broadcast"):
        model.for_least_squares({"t": t}, observed=np.zeros(4))
    with pytest.raises(InputError, match=r"x0 must have 3 entries.*\(A, sigma and omega\)"):
        model.for_least_squares({"t": t}, x0=[1, 2])
    kw = model.for_least_squares({"t": t})
    with pytest.raises(InputError, match=r"theta must have 3 entries"):
        kw["fun"]([1.0, 2.0])


def test_building_callables_does_not_import_scipy():
    code = (
        "import sys, numpy as np, symgrad\n"
        "f = symgrad.compile('(1 - x)**2 + 100*(y - x**2)**2')\n"
        "kw = f.for_scipy(x0=[0, 0])\n"
        "m = symgrad.compile('A*exp(-s*t)', variables='A s', params='t')\n"
        "kw = m.for_least_squares({'t': np.arange(3.0)}, x0=[1, 1], observed=np.ones(3))\n"
        "assert 'scipy' not in sys.modules, sorted(k for k in sys.modules if 'scipy' in k)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
