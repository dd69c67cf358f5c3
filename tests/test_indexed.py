"""Indexed formulas against the same formulas expanded by hand into scalar terms.

Each case gives the indexed formula and a function that writes it out term by term
for given sizes; the expanded formula goes through the existing straight-line path
(NumPy backend here: the same Program, no numba compile; a slow test repeats one case
with numba). Value, flat gradient and dense Hessian must agree to 1e-13 relative for
n in {2, 3, 7}.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import symgrad
from symgrad.errors import InputError, ParseError

ROSEN = "sum(100*(x[i+1] - x[i]**2)**2 + (1 - x[i])**2 for i in range(n - 1))"


def _rosen_expanded(s):
    n = s["n"]
    text = " + ".join(f"100*(x{i+1} - x{i}**2)**2 + (1 - x{i})**2" for i in range(n - 1))
    return text, [f"x{i}" for i in range(n)], []


def _tv_expanded(s):
    m, n = s["m"], s["n"]
    parts = [f"sqrt((u{i+1}_{j}-u{i}_{j})**2 + (u{i}_{j+1}-u{i}_{j})**2 + eps)"
             for i in range(m - 1) for j in range(n - 1)]
    fit = " + ".join(f"(u{i}_{j} - f{i}_{j})**2" for i in range(m) for j in range(n))
    text = " + ".join(parts + [f"lam/2*({fit})"])
    return (text, [f"u{i}_{j}" for i in range(m) for j in range(n)],
            [f"f{i}_{j}" for i in range(m) for j in range(n)] + ["lam", "eps"])


def _lj_expanded(s):
    N = s["N"]
    terms = []
    for i in range(N):
        for j in range(i + 1, N):
            r2 = f"((x{i}-x{j})**2 + (y{i}-y{j})**2 + (z{i}-z{j})**2)"
            terms.append(f"4*((1/{r2})**6 - (1/{r2})**3)")
    names = [f"{c}{i}" for c in "xyz" for i in range(N)]
    return " + ".join(terms), names, []


def _nll_expanded(s):
    m = s["m"]
    text = " + ".join(f"log(sigma) + (obs{k} - mu)**2/(2*sigma**2)" for k in range(m))
    return text, ["mu", "sigma"], [f"obs{k}" for k in range(m)]


def _mixed_expanded(s):
    n = s["n"]
    inner = " + ".join(f"exp(-a*x{i})*x{n-1-i}" for i in range(n))
    return f"a*({inner}) + x0**3", [f"x{i}" for i in range(n)] + ["a"], []


def _nested_expanded(s):
    n = s["n"]
    text = " + ".join(f"x{i}*(" + " + ".join(f"x{j}**2" for j in range(i + 1)) + ")"
                      for i in range(n))
    return text, [f"x{i}" for i in range(n)], []


def _stride_expanded(s):
    m = s["m"]
    text = " + ".join(f"w{i}*sin(x{2*i})*cos(x{2*i+1})" for i in range(m))
    return text, [f"x{i}" for i in range(2 * m)], [f"w{i}" for i in range(m)]


def _weighted_expanded(s):
    n = s["n"]
    text = "(" + " + ".join(f"{i+1}*x{i}**2*atan(x{i})" for i in range(n)) + f")/{n}"
    return text, [f"x{i}" for i in range(n)], []


def _where_expanded(s):
    n = s["n"]
    return (" + ".join(f"where(x{i} > 0, x{i}**3, -x{i}*y)" for i in range(n)),
            [f"x{i}" for i in range(n)] + ["y"], [])


# name: (formula, variables, params, expand, sizes(n), inputs(rng, sizes))
CASES = {
    "rosenbrock": (ROSEN, "x[n]", None, _rosen_expanded, lambda n: {"n": n},
                   lambda r, s: ((r.uniform(-1.5, 1.5, s["n"]),), {})),
    "tv": ("sum(sqrt((u[i+1,j]-u[i,j])**2 + (u[i,j+1]-u[i,j])**2 + eps) "
           "for i in range(m-1) for j in range(n-1))"
           " + lam/2*sum((u[i,j] - f[i,j])**2 for i in range(m) for j in range(n))",
           "u[m,n]", "f[m,n] lam eps", _tv_expanded, lambda n: {"m": n, "n": n + 1},
           lambda r, s: ((r.normal(size=(s["m"], s["n"])),),
                         {"f": r.normal(size=(s["m"], s["n"])), "lam": 0.7, "eps": 0.1})),
    "lennard_jones": (
        "sum(4*((1/r2)**6 - (1/r2)**3) for i in range(N) for j in range(i+1, N))"
        .replace("r2", "((x[i]-x[j])**2 + (y[i]-y[j])**2 + (z[i]-z[j])**2)"),
        "x[N] y[N] z[N]", None, _lj_expanded, lambda n: {"N": n},
        lambda r, s: (tuple(np.arange(s["N"]) * 1.1 + r.uniform(-0.2, 0.2, s["N"])
                            for _ in range(3)), {})),
    "nll": ("sum(log(sigma) + (obs[k] - mu)**2/(2*sigma**2) for k in range(m))",
            "mu sigma", "obs[m]", _nll_expanded, lambda n: {"m": n},
            lambda r, s: ((0.3, 1.7), {"obs": r.normal(size=s["m"])})),
    "mixed": ("a*sum(exp(-a*x[i])*x[n-1-i] for i in range(n)) + x[0]**3", "x[n] a", None,
              _mixed_expanded, lambda n: {"n": n},
              lambda r, s: ((r.uniform(-1, 1, s["n"]), 0.8), {})),
    "nested": ("sum(x[i]*sum(x[j]**2 for j in range(i+1)) for i in range(n))", "x[n]", None,
               _nested_expanded, lambda n: {"n": n},
               lambda r, s: ((r.uniform(-1, 1, s["n"]),), {})),
    "stride": ("sum(w[i]*sin(x[2*i])*cos(x[2*i+1]) for i in range(m))", "x[n]", "w[m]",
               _stride_expanded, lambda n: {"m": n, "n": 2 * n},
               lambda r, s: ((r.uniform(-2, 2, s["n"]),), {"w": r.uniform(0.5, 2, s["m"])})),
    "weighted": ("sum((i+1)*x[i]**2*atan(x[i]) for i in range(n))/n", "x[n]", None,
                 _weighted_expanded, lambda n: {"n": n},
                 lambda r, s: ((r.uniform(-2, 2, s["n"]),), {})),
    "where": ("sum(where(x[i] > 0, x[i]**3, -x[i]*y) for i in range(n))", "x[n] y", None,
              _where_expanded, lambda n: {"n": n},
              lambda r, s: ((r.uniform(-1, 1, s["n"]), 1.3), {})),
}


def _flat_values(args, kwargs, expanded_params):
    flat = np.concatenate([np.ravel(a) for a in args])
    pvals = {}
    names = iter(expanded_params)
    for value in kwargs.values():
        for v in np.ravel(value):
            pvals[next(names)] = float(v)
    return flat, pvals


def _close(actual, expected, what):
    scale = max(1.0, float(np.max(np.abs(expected)))) if np.size(expected) else 1.0
    np.testing.assert_allclose(actual, expected, rtol=1e-13, atol=1e-13 * scale, err_msg=what)


# The expanded Lennard-Jones and TV references take SymPy seconds to derive, and each
# case compiles five kernels: the fast core keeps three cases that cover scalar and
# array variables, constant subscripts, reversed indices and nested (triangular) sums.
_HEAVY = {"lennard_jones", "tv", "stride", "weighted", "where", "nll"}


@pytest.mark.parametrize("case", [pytest.param(c, marks=pytest.mark.slow) if c in _HEAVY
                                  else c for c in sorted(CASES)])
@pytest.mark.parametrize("n", [2, 3, 7])
def test_matches_the_expanded_formula(case, n):
    text, variables, params, expand, sizes_of, inputs = CASES[case]
    f = symgrad.compile(text, variables, params)
    sizes = sizes_of(n)
    rng = np.random.default_rng(n)
    args, kwargs = inputs(rng, sizes)
    etext, evars, eparams = expand(sizes)
    ref = symgrad.compile(etext, evars, eparams or None, backend="numpy")
    flat, pvals = _flat_values(args, kwargs, eparams)
    _close(f(*args, **kwargs), ref(*flat, **pvals), "value")
    _close(f.gradient(*args, flat=True, **kwargs), ref.gradient(*flat, **pvals), "gradient")
    _close(f.hessian(*args, **kwargs), ref.hessian(*flat, **pvals), "hessian")
    direction = rng.normal(size=flat.size)
    _close(f.hvp(*args, direction=direction, flat=True, **kwargs),
           ref.hessian(*flat, **pvals) @ direction, "hvp")


@pytest.mark.slow
def test_matches_the_expanded_formula_compiled_with_numba():
    text, variables, params, expand, sizes_of, inputs = CASES["tv"]
    f = symgrad.compile(text, variables, params)
    sizes = sizes_of(3)
    args, kwargs = inputs(np.random.default_rng(0), sizes)
    etext, evars, eparams = expand(sizes)
    ref = symgrad.compile(etext, evars, eparams, tiered=False)
    flat, pvals = _flat_values(args, kwargs, eparams)
    _close(f(*args, **kwargs), ref(*flat, **pvals), "value")
    _close(f.gradient(*args, flat=True, **kwargs), ref.gradient(*flat, **pvals), "gradient")
    _close(f.hessian(*args, **kwargs), ref.hessian(*flat, **pvals), "hessian")


# ------------------------------------------------------------------- SciPy references


@pytest.fixture(scope="module")
def rosen():
    return symgrad.compile(ROSEN, variables="x[n]")


@pytest.mark.parametrize("n", [10, 1000, 100_000])
def test_rosenbrock_matches_scipy(rosen, n):
    so = pytest.importorskip("scipy.optimize")
    rng = np.random.default_rng(n)
    x = rng.uniform(-2, 2, n)
    p = rng.normal(size=n)
    assert rosen(x) == pytest.approx(so.rosen(x), rel=1e-13)
    np.testing.assert_allclose(rosen.gradient(x), so.rosen_der(x), rtol=1e-13, atol=1e-10)
    np.testing.assert_allclose(rosen.hvp(x, direction=p), so.rosen_hess_prod(x, p),
                               rtol=1e-12, atol=1e-9)
    H = rosen.sparse_hessian(x)
    assert H.shape == (n, n) and H.nnz == 3 * n - 2  # tridiagonal
    np.testing.assert_allclose(H @ p, so.rosen_hess_prod(x, p), rtol=1e-12, atol=1e-9)
    if n <= 1000:
        np.testing.assert_allclose(H.toarray(), so.rosen_hess(x), rtol=1e-13, atol=1e-10)


def test_newton_cg_on_rosenbrock_1e4_converges_to_ones(rosen):
    so = pytest.importorskip("scipy.optimize")
    res = so.minimize(**rosen.for_scipy(np.full(10_000, 1.2), method="Newton-CG"),
                      options={"xtol": 1e-10})
    assert res.success
    np.testing.assert_allclose(res.x, 1.0, atol=1e-8)


def test_trust_constr_takes_the_sparse_hessian(rosen):
    so = pytest.importorskip("scipy.optimize")
    kwargs = rosen.for_scipy(np.full(200, 0.5), method="trust-constr")
    H = kwargs["hess"](kwargs["x0"])
    assert H.format == "csr" and H.nnz == 3 * 200 - 2
    res = so.minimize(**kwargs, options={"gtol": 1e-10})
    np.testing.assert_allclose(res.x, 1.0, atol=1e-7)


def test_batches_of_points(rosen):
    so = pytest.importorskip("scipy.optimize")
    X = np.random.default_rng(1).uniform(-1, 1, (2, 3, 50))
    np.testing.assert_allclose(rosen(X), np.apply_along_axis(so.rosen, -1, X), rtol=1e-13)
    np.testing.assert_allclose(rosen.gradient(X), np.apply_along_axis(so.rosen_der, -1, X),
                               rtol=1e-13, atol=1e-11)
    assert rosen(X).shape == (2, 3) and rosen.gradient(X).shape == (2, 3, 50)
    P = np.ones_like(X)
    ref = np.array([[so.rosen_hess_prod(x, p) for x, p in zip(xs, ps)] for xs, ps in zip(X, P)])
    np.testing.assert_allclose(rosen.hvp(X, direction=P), ref, rtol=1e-12, atol=1e-10)


# --------------------------------------------------------------------- real problems


def _icosahedron():
    phi = (1 + 5 ** 0.5) / 2
    v = []
    for a in (-1, 1):
        for b in (-phi, phi):
            v += [(0, a, b), (a, b, 0), (b, 0, a)]
    v = np.array(v, dtype=float)
    return np.vstack([np.zeros(3), v / np.linalg.norm(v[0])])


@pytest.mark.slow
def test_lennard_jones_13_icosahedron():
    so = pytest.importorskip("scipy.optimize")
    lj = symgrad.compile(CASES["lennard_jones"][0], "x[N] y[N] z[N]")
    unit = _icosahedron()  # the Mackay icosahedron: a center and 12 vertices at radius 1

    def radial_force(r):  # dE/dr along the breathing mode, from symgrad's gradient
        g = np.stack(lj.gradient(*(r * unit).T))
        return float(np.sum(g.T * unit))

    r = so.brentq(radial_force, 1.0, 1.2, xtol=1e-15)
    x, y, z = (r * unit).T
    assert lj(x, y, z) == pytest.approx(-44.326801, abs=5e-7)
    # By symmetry the optimal radius zeroes every component, not just the radial one.
    assert np.abs(lj.gradient(x, y, z, flat=True)).max() < 1e-6
    # and it is a minimum: BFGS from a perturbed start comes back to the same energy
    start = (r * unit + np.random.default_rng(3).normal(scale=0.02, size=unit.shape)).T
    res = so.minimize(**lj.for_scipy(tuple(start), method="BFGS"))
    assert res.fun == pytest.approx(-44.326801, abs=1e-5)


@pytest.mark.slow
def test_total_variation_denoising_lowers_the_error():
    so = pytest.importorskip("scipy.optimize")
    tv = symgrad.compile(CASES["tv"][0], "u[m,n]", "f[m,n] lam eps")
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:64, 0:64]
    clean = ((xx - 32) ** 2 + (yy - 32) ** 2 < 400).astype(float) + (xx > 48)
    noisy = clean + rng.normal(scale=0.3, size=clean.shape)
    kwargs = tv.for_scipy(noisy, method="L-BFGS-B", f=noisy, lam=4.0, eps=1e-3)
    res = so.minimize(**kwargs, options={"maxiter": 300})
    denoised = res.x.reshape(clean.shape)
    assert np.linalg.norm(denoised - clean) < 0.6 * np.linalg.norm(noisy - clean)


def test_least_squares_with_indexed_residuals():
    so = pytest.importorskip("scipy.optimize")
    # Chained residuals r_i = 10*(x[i+1] - x[i]**2), r_{n-1+i} = 1 - x[i]: Rosenbrock.
    res = symgrad.compile("[10*(x[i+1] - x[i]**2) + (1 - x[i+1]) for i in range(n-1)]",
                          "x[n]")
    x = np.random.default_rng(2).normal(size=6)
    J = res.jacobian(x)
    expected = np.zeros((5, 6))
    for i in range(5):
        expected[i, i] = -20 * x[i]
        expected[i, i + 1] = 10 - 1
    np.testing.assert_allclose(J.toarray(), expected, rtol=1e-15)
    np.testing.assert_allclose(res(x), 10 * (x[1:] - x[:-1] ** 2) + 1 - x[1:], rtol=1e-15)
    fit = so.least_squares(**res.for_least_squares(np.full(6, 0.5)))
    np.testing.assert_allclose(res(fit.x), 0, atol=1e-9)


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize("text, variables, params, message, caret", [
    ("sum(x[i+1] for i in range(n))", "x[n]", None, "reaches n", "x[i+1]"),
    ("sum(x[i-1] for i in range(n))", "x[n]", None, "reaches -1", "x[i-1]"),
    ("sum(x[i*i] for i in range(n))", "x[n]", None, "affine", "i*i"),
    ("sum(x[i] for i in range(0, n, 2))", "x[n]", None, "step", "2"),
    ("sum(x[i] for i in range(n) if i > 2)", "x[n]", None, "'if' clauses", "i > 2"),
    ("prod(x[i] for i in range(n))", "x[n]", None, "prod", "prod"),
    ("sum(x[i] for i in range(n)) + y[0]", "x[n]", None, "not declared", "y[0]"),
    ("sum(x[i, 0] for i in range(n))", "x[n]", None, "1 dimension", "x[i, 0]"),
    ("sum(log(sum(x[j] for j in range(n))) for i in range(n))", "x[n]", None,
     "linearly", "sum(x[j]"),
    ("sum(x[i] for i in range(n)) + x", "x[n]", None, "is an array", "x"),
    ("sum(x[i] for i in range(k))", "x[n]", None, "neither", "k"),
    ("sum(x[i] for i in range(n) for i in range(n))", "x[n]", None, "already used", "i"),
])
def test_bad_formulas_name_the_spot(text, variables, params, message, caret):
    with pytest.raises(ParseError) as info:
        symgrad.compile(text, variables, params)
    err = info.value
    assert message in str(err)
    assert err.position is not None and text[err.position:].startswith(caret)


def test_call_time_bounds_are_checked_before_any_read():
    f = symgrad.compile("sum(w[i]*x[i] for i in range(m))", "x[n]", "w[m]")
    assert f(np.ones(5), w=np.ones(3)) == 3.0
    with pytest.raises(InputError, match=r"x\[i\] reaches 5, outside 0..4"):
        f(np.ones(5), w=np.ones(6))
    tri = symgrad.compile("sum(x[j-i-1] for i in range(n) for j in range(i+1, n))", "x[n]")
    # extremes over the triangle: j-i-1 in 0..n-2; exact enumeration clears the bound
    assert tri(np.arange(4.0)) == pytest.approx(sum(j - i - 1 for i in range(4)
                                                    for j in range(i + 1, 4)))


def test_inconsistent_sizes_are_an_input_error():
    lj = symgrad.compile("sum((x[i] - y[i])**2 for i in range(n))", "x[n] y[n]")
    with pytest.raises(InputError, match="inconsistent sizes"):
        lj(np.ones(3), np.ones(4))
    with pytest.raises(InputError, match="at least 1 dimension"):
        lj(1.0, np.ones(4))


def test_nonlinear_function_of_a_sum_has_value_gradient_and_hvp():
    f = symgrad.compile("log(sum(exp(x[i]) for i in range(n)))", "x[n]")
    x = np.array([0.5, -1.0, 2.0, 0.1])
    assert f(x) == pytest.approx(np.log(np.exp(x).sum()), rel=1e-15)
    softmax = np.exp(x) / np.exp(x).sum()
    np.testing.assert_allclose(f.gradient(x), softmax, rtol=1e-15)
    v = np.array([1.0, -2.0, 0.5, 3.0])
    hess = np.diag(softmax) - np.outer(softmax, softmax)
    np.testing.assert_allclose(f.hvp(x, direction=v), hess @ v, rtol=1e-13, atol=1e-15)
    with pytest.raises(InputError, match="non-linear function to a whole sum"):
        f.sparse_hessian(x)
    # F with its own variables and constant subscripts, against central differences
    g = symgrad.compile("a*sqrt(sum(x[i]**2 for i in range(n)) + 1) + a**2*x[0]"
                        " + sin(sum(a*x[i] for i in range(n - 1)))", "x[n] a")
    a = 0.7
    u = np.concatenate([v, [0.3]])
    h = 1e-5
    fd = (g.gradient(x + h * v, a + h * 0.3, flat=True)
          - g.gradient(x - h * v, a - h * 0.3, flat=True)) / (2 * h)
    np.testing.assert_allclose(g.hvp(x, a, direction=u, flat=True), fd, rtol=1e-7, atol=1e-8)
    fdv = (g(x + h * v, a + h * 0.3) - g(x - h * v, a - h * 0.3)) / (2 * h)
    assert g.gradient(x, a, flat=True) @ u == pytest.approx(fdv, rel=1e-8)


def test_pickle_round_trip(rosen):
    clone = pickle.loads(pickle.dumps(rosen))
    x = np.linspace(-1, 1, 9)
    assert clone(x) == rosen(x)
    np.testing.assert_array_equal(clone.gradient(x), rosen.gradient(x))


def test_one_kernel_serves_every_size(rosen):
    rosen.gradient(np.ones(3))
    rosen.value_and_gradient(np.ones(3))
    kern = rosen._kernel("first")
    compiled = {name: len(kern.dispatcher(name).overloads) for name in ("value", "gradient", "grad")}
    for n in (2, 17, 1000):
        rosen.gradient(np.ones(n))
        rosen.value_and_gradient(np.ones(n))
    assert {name: len(kern.dispatcher(name).overloads)
            for name in ("value", "gradient", "grad")} == compiled


# ------------------------------------------------------------------ random stencils

hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies


@st.composite
def _stencils(draw):
    """A random summand over reads x[i+c] (c in -1..2) and y[i], in range(1, n-2)."""
    def leaf():
        return draw(st.sampled_from(["x[i-1]", "x[i]", "x[i+1]", "x[i+2]", "y[i]", "a"]))

    def expr(depth):
        if depth == 0:
            return leaf()
        kind = draw(st.sampled_from(["add", "mul", "fn", "leaf"]))
        if kind == "leaf":
            return leaf()
        if kind == "fn":
            fn = draw(st.sampled_from(["sin", "tanh", "exp", "atan"]))
            inner = expr(depth - 1)
            return f"{fn}({inner}/2)" if fn == "exp" else f"{fn}({inner})"
        op = "+" if kind == "add" else "*"
        return f"({expr(depth - 1)} {op} {expr(depth - 1)})"

    return expr(3)


@pytest.mark.slow
@hypothesis.settings(max_examples=12, deadline=None,
                     suppress_health_check=[hypothesis.HealthCheck.too_slow])
@hypothesis.given(summand=_stencils(), seed=st.integers(0, 2**16))
def test_random_stencils_against_central_differences(summand, seed):
    f = symgrad.compile(f"sum({summand} for i in range(1, n-2)) + a**2", "x[n] a",
                        "y[n]")
    rng = np.random.default_rng(seed)
    n = 9
    x, y, a = rng.uniform(-1, 1, n), rng.uniform(-1, 1, n), 0.4
    v = rng.normal(size=n + 1)
    h = 1e-5

    def at(t):
        return (x + t * v[:n], a + t * v[n])

    g = f.gradient(x, a, y=y, flat=True)
    fd = (f(*at(h), y=y) - f(*at(-h), y=y)) / (2 * h)
    assert g @ v == pytest.approx(fd, rel=1e-6, abs=1e-8)
    hv = f.hvp(x, a, y=y, direction=v, flat=True)
    fd2 = (f.gradient(*at(h), y=y, flat=True) - f.gradient(*at(-h), y=y, flat=True)) / (2 * h)
    np.testing.assert_allclose(hv, fd2, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(f.sparse_hessian(x, a, y=y) @ v, hv, rtol=1e-12, atol=1e-12)


def test_scalar_entry_points_point_to_indexed_formulas(rosen):
    from symgrad.parse import parse

    with pytest.raises(ParseError, match="belongs to indexed formulas"):
        parse("sum(x[i] for i in range(n))")
    with pytest.raises(ParseError, match="declared as an array"):
        parse("x[0] + y")
    with pytest.raises(InputError, match="directional differences"):
        symgrad.check(rosen, domain={"x": (0, 1)})
    with pytest.raises(ParseError, match="not declared as an array") as info:
        symgrad.compile("x[0]*y")  # routed to the indexed parser by the subscript
    assert info.value.position == 0


def test_gradients_written_in_place_leave_no_stale_memory():
    # One carry group over part of x: the kernel zeroes the rest itself (the buffer is
    # np.empty); a second term then scatters into it (x[2*i]) and fills y.
    f = symgrad.compile("sum(x[i+1]**2 - x[i+2] for i in range(1, n - 3))"
                        " + sum(x[2*i]*y[i] for i in range(m))", "x[n] y[m]")
    assert f._kernel("first").module.GRAD_ASSIGNED == (True, True)
    rng = np.random.default_rng(5)
    for _ in range(3):  # freed buffers are reused: garbage would show
        np.full(10_000, 1e300).sum()
        x, y = rng.normal(size=9), rng.normal(size=4)
        gx, gy = f.gradient(x, y)
        ex = np.zeros(9)
        ex[2:7] += 2 * x[2:7]
        ex[3:8] -= 1
        ex[0:8:2] += y
        np.testing.assert_allclose(gx, ex, rtol=1e-15)
        np.testing.assert_allclose(gy, x[0:8:2], rtol=1e-15)
    empty = symgrad.compile("sum(x[i]**2 for i in range(n - 5))", "x[n]")
    np.testing.assert_array_equal(empty.gradient(np.ones(4)), 0.0)  # no iterations
    np.testing.assert_array_equal(empty.gradient(np.ones(7)), [2, 2, 0, 0, 0, 0, 0])


def test_where_definitions_are_inlined_where_used():
    lj = symgrad.compile(
        "sum(4*((1/r2)**6 - (1/r2)**3) for i in range(N) for j in range(i+1, N))",
        "x[N] y[N] z[N]",
        where="r2 = (x[i]-x[j])**2 + (y[i]-y[j])**2 + (z[i]-z[j])**2")
    assert lj is symgrad.compile(CASES["lennard_jones"][0], "x[N] y[N] z[N]")
    f = symgrad.compile("exp(-r2/2)*s", where="r2 = x**2 + y**2; s = r2 + 1")
    assert f(1.0, 2.0) == pytest.approx(np.exp(-2.5) * 6, rel=1e-15)
    g = symgrad.compile("exp(-r2/2)*s", where={"r2": "x**2 + y**2", "s": "r2 + 1"})
    assert g is f
    with pytest.raises(InputError, match="not a definition"):
        symgrad.compile("r2*x", where="r2 == 3")
    with pytest.raises(InputError, match="function or constant name"):
        symgrad.compile("sin*x", where="sin = x")
    with pytest.raises(ParseError) as info:
        symgrad.compile("r2*x", where="r2 = x +* 2")
    assert info.value.formula == "x +* 2" and info.value.position == 3


# ------------------------------------------- regressions from the adversarial review


def test_reads_of_a_nonlinear_top_level_are_bounds_checked():
    with pytest.raises(ParseError, match=r"x\[n\] reaches n"):
        symgrad.compile("x[n]*log(sum(x[i]**2 for i in range(n)))", "x[n]")
    g = symgrad.compile("log(sum(x[i]**2 for i in range(n))) + x[5]", "x[n]")
    with pytest.raises(InputError, match=r"x\[5\] reaches 5"):
        g.gradient(np.ones(2))
    expected = 2 * np.ones(7) / 7
    expected[5] += 1
    np.testing.assert_allclose(g.gradient(np.ones(7)), expected, rtol=1e-15)


def test_a_multi_range_term_before_a_single_range_term_is_kept():
    f = symgrad.compile("sum(x[i]*x[j] for i in range(n) for j in range(n))"
                        " + sum(x[i]**2 for i in range(n))", "x[n]")
    x = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(f.gradient(x), 2 * x.sum() + 2 * x, rtol=1e-15)
    np.testing.assert_allclose(f.hvp(x, direction=np.ones(3)), [8.0, 8.0, 8.0], rtol=1e-15)


def test_indices_used_as_numbers_are_floats():
    f = symgrad.compile("sum(x[i]*i**10 for i in range(n))", "x[n]")
    x = np.zeros(100)
    x[99] = 1.0
    assert f(x) == pytest.approx(99.0 ** 10, rel=1e-15)  # int64 would overflow


def test_for_scipy_picks_what_each_method_can_use():
    so = pytest.importorskip("scipy.optimize")
    h = symgrad.compile("sum((a-c[i])**2 + (b-c[i])**4 for i in range(n))", "a b", "c[n]")
    res = so.minimize(**h.for_scipy((0.0, 0.0), c=np.arange(3.0), method="trust-exact"))
    np.testing.assert_allclose(res.x, [1.0, 1.0], atol=1e-6)
    nonlinear = symgrad.compile("log(1 + sum(x[i]**2 for i in range(n)))", "x[n]")
    assert "hessp" in nonlinear.for_scipy(np.ones(3), method="Newton-CG")
    with pytest.raises(InputError, match="dense"):
        nonlinear.for_scipy(np.ones(3), method="dogleg")
    plain = symgrad.compile("sum(x[i]**2 for i in range(n))", "x[n]")
    assert set(plain.for_scipy(np.ones(3), method="trust-krylov")) >= {"hessp"}
    assert "hess" not in plain.for_scipy(np.ones(3), method="trust-krylov")
    assert not {"hess", "hessp"} & set(plain.for_scipy(np.ones(3)))  # BFGS


def test_huge_literals_and_iteration_counts_are_refused():
    with pytest.raises(ParseError, match="beyond 2\\*\\*40"):
        symgrad.compile("sum(x[2**70*i] for i in range(n))", "x[n]")
    f = symgrad.compile("sum(x[0] for i in range(n) for j in range(n) for k in range(n))",
                        "x[n]")
    with pytest.raises(InputError, match="MAX_ITERATIONS"):
        f(np.ones(100_000))
