"""Regenerate the tutorial notebooks 01-03, 05 and 06 from the cell text below.

    python notebooks/_build.py            # writes notebooks/0[1-356]-*.ipynb

The notebooks are stored without outputs (small, reviewable diffs); cell ids are
deterministic so regenerating an unchanged notebook changes nothing. Edit the cells
here, or edit a notebook in Jupyter and clear its outputs before committing
(``jupyter nbconvert --clear-output --inplace notebooks/*.ipynb``).
"""

from __future__ import annotations

from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent

SETUP = """\
%matplotlib inline
import numpy as np
import matplotlib.pyplot as plt
import symgrad"""

# ---------------------------------------------------------------------------------------
QUICKSTART = [
    ("md", """\
# symgrad quickstart

symgrad turns a formula string into exact derivatives, compiled with numba. This
notebook goes from a string to values, gradients and Hessians, draws the gradient
field, shows the derivatives as formulas, and prints the code symgrad generates."""),
    ("code", SETUP),
    ("md", """\
## Compile a formula

`symgrad.compile` parses the string (safely, without `eval`) and returns an
`Evaluator`. The variables are found in the formula (`x`, `y`), in natural order;
nothing is compiled until the first evaluation."""),
    ("code", """\
f = symgrad.compile("sin(x)*cos(y) + exp(-(x**2 + y**2)/2)")
f, f.variables"""),
    ("md", """\
## Values and derivatives at a point

Variables are passed positionally, in `f.variables` order. The gradient has one entry
per variable, the Hessian is the symmetric matrix of second derivatives."""),
    ("code", """\
print("f        =", f(0.5, 1.0))
print("gradient =", f.gradient(0.5, 1.0))
print("hessian  =\\n", f.hessian(0.5, 1.0))"""),
    ("md", """\
## On a grid

Inputs broadcast like NumPy arrays. For inputs of shape `S`, the value has shape `S`,
the gradient `S + (2,)` and the Hessian `S + (2, 2)`. symgrad evaluates point by
point, so the `meshgrid` indexing does not matter here (it does for `np.gradient`,
see notebook 02)."""),
    ("code", """\
x = np.linspace(-3, 3, 200)
y = np.linspace(-3, 3, 200)
X, Y = np.meshgrid(x, y)
Z = f(X, Y)
G = f.gradient(X, Y)
H = f.hessian(X, Y)
Z.shape, G.shape, H.shape"""),
    ("md", """\
## The gradient field

The gradient points uphill, perpendicular to the contour lines. Every 10th arrow is
drawn."""),
    ("code", """\
fig, ax = plt.subplots(figsize=(6, 5))
cs = ax.contourf(X, Y, Z, levels=30, cmap="viridis")
ax.contour(X, Y, Z, levels=15, colors="k", linewidths=0.4)
s = (slice(None, None, 10), slice(None, None, 10))
ax.quiver(X[s], Y[s], G[..., 0][s], G[..., 1][s], color="white")
fig.colorbar(cs, ax=ax, label="f(x, y)")
ax.set(xlabel="x", ylabel="y", title="f and its gradient field", aspect="equal")
plt.show()"""),
    ("md", """\
The Hessian tells the curvature: where its determinant is negative the surface is a
saddle."""),
    ("code", """\
det = np.linalg.det(H)
fig, ax = plt.subplots(figsize=(6, 5))
m = ax.pcolormesh(X, Y, np.sign(det) * np.log1p(np.abs(det)), cmap="RdBu", shading="auto")
ax.contour(X, Y, det, levels=[0], colors="k", linewidths=1)
fig.colorbar(m, ax=ax, label="sign(det H) log(1 + |det H|)")
ax.set(xlabel="x", ylabel="y", title="Curvature: det of the Hessian", aspect="equal")
plt.show()"""),
    ("md", """\
## The derivatives as formulas

The exact derivatives are SymPy expressions; `sympy.latex` renders them."""),
    ("code", """\
import sympy
from IPython.display import Math, display

display(Math(r"f = " + sympy.latex(f.expr)))
display(Math(r"\\nabla f = " + sympy.latex(sympy.Matrix(f.gradient_exprs))))
display(Math(r"\\nabla^2 f = " + sympy.latex(f.hessian_exprs)))"""),
    ("md", """\
## The generated code

`f.source` is the kernel behind `value_and_gradient`: straight-line code in which
common subexpressions (like the exponential) are computed once, inside a loop over
the points. numba compiles it; the compiled kernel is cached on disk."""),
    ("code", "print(f.source)"),
    ("md", """\
## More ways in

- parameters are passed by keyword and not differentiated;
- one array of points with the variables on the last axis (the layout optimizers use);
- one-liners such as `symgrad.gradient(formula)`."""),
    ("code", """\
g = symgrad.compile("a*x**2 + b*x*y", params="a b")
print(g.gradient(1.0, 2.0, a=3.0, b=0.5))

points = np.array([[0.5, 1.0], [1.0, 2.0], [-1.0, 0.0]])  # shape (3, 2)
print(f.gradient(points))"""),
]

# ---------------------------------------------------------------------------------------
VALIDATION = [
    ("md", """\
# Validating derivatives against `numpy.gradient`

Exact derivatives should agree with finite differences up to the finite-difference
error. This notebook compares symgrad with `np.gradient` on meshgrids, shows the
axis-order trap of `meshgrid(indexing='xy')`, maps where the errors are, and checks
that the error shrinks at the rate theory predicts (second order)."""),
    ("code", SETUP),
    ("code", """\
f = symgrad.compile("sin(x)*cos(y) + exp(-(x**2 + y**2)/2)")
x = np.linspace(-3, 3, 241)  # 241 points in x
y = np.linspace(-2, 2, 161)  # 161 in y: a non-square grid keeps the axes apart"""),
    ("md", """\
## The safe way: `indexing='ij'`

With `indexing='ij'`, axis 0 of every grid array runs over `x` and axis 1 over `y`,
so `np.gradient(Z, x, y)` returns `(dZ/dx, dZ/dy)` in variable order. Compare in the
interior: at the edges `np.gradient` uses one-sided differences."""),
    ("code", """\
X, Y = np.meshgrid(x, y, indexing="ij")
Z = f(X, Y)
exact = f.gradient(X, Y)  # shape (241, 161, 2): d/dx, d/dy
dZdx, dZdy = np.gradient(Z, x, y)
inner = (slice(1, -1), slice(1, -1))
err_x = np.abs(dZdx - exact[..., 0])
err_y = np.abs(dZdy - exact[..., 1])
print(f"max interior error  d/dx: {err_x[inner].max():.2e}   d/dy: {err_y[inner].max():.2e}")
print(f"max error with edges d/dx: {err_x.max():.2e}   d/dy: {err_y.max():.2e}")"""),
    ("md", """\
## The trap: `meshgrid` defaults to `indexing='xy'`

`np.meshgrid(x, y)` returns arrays of shape `(len(y), len(x))`: **axis 0 is y**.
`np.gradient` differentiates along axes in axis order, so on an `'xy'` grid it returns
`(dZ/dy, dZ/dx)`, the reverse of variable order.

On our non-square grid, passing the coordinates in variable order fails loudly, which
is the lucky case:"""),
    ("code", """\
Xs, Ys = np.meshgrid(x, y)  # indexing='xy'
Zs = f(Xs, Ys)
print("grid shape:", Zs.shape, "= (len(y), len(x))")
try:
    np.gradient(Zs, x, y)
except ValueError as exc:
    print("ValueError:", exc)"""),
    ("md", """\
On a square grid with one spacing nothing fails: the result is silently swapped. The
first array `np.gradient` returns matches symgrad's `d/dy`, not `d/dx`:"""),
    ("code", """\
q = np.linspace(-3, 3, 201)
Xq, Yq = np.meshgrid(q, q)  # indexing='xy', square
Zq = f(Xq, Yq)
first, second = np.gradient(Zq, q[1] - q[0])
Gq = f.gradient(Xq, Yq)
inner = (slice(1, -1), slice(1, -1))
for name, fd in [("first", first), ("second", second)]:
    ex = np.abs(fd - Gq[..., 0])[inner].max()
    ey = np.abs(fd - Gq[..., 1])[inner].max()
    print(f"{name:6s} vs d/dx: {ex:8.2e}   vs d/dy: {ey:8.2e}")"""),
    ("md", """\
The fix is either `indexing='ij'`, or unpacking in axis order:
`dZdy, dZdx = np.gradient(Z, y, x)` on an `'xy'` grid. symgrad's own output never
depends on the indexing: `f.gradient(X, Y)[..., 0]` is always `d/dx` at each point."""),
    ("code", """\
dZdy_s, dZdx_s = np.gradient(Zs, y, x)  # 'xy' grid: axis 0 is y
Gs = f.gradient(Xs, Ys)
print(np.abs(dZdx_s - Gs[..., 0])[inner].max(), np.abs(dZdy_s - Gs[..., 1])[inner].max())"""),
    ("md", """\
## Where the errors are

The central-difference error is about `h**2/6` times a third derivative, so it is
largest where the function bends most. The heat maps show `log10 |np.gradient - exact|`
for both components."""),
    ("code", """\
fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
for ax, k, fd, name in zip(axes, [0, 1], [dZdx, dZdy], ["d/dx", "d/dy"]):
    err = np.log10(np.abs(fd - exact[..., k]) + 1e-16)
    m = ax.pcolormesh(X, Y, err, vmin=-8, vmax=-2, cmap="magma", shading="auto")
    ax.set(title=f"error of {name}", xlabel="x", aspect="equal")
axes[0].set_ylabel("y")
fig.colorbar(m, ax=axes, label="log10 |np.gradient - symgrad|")
plt.show()"""),
    ("md", """\
The edges are a thin strip in those maps, but they matter: there `np.gradient` uses
one-sided differences, first order by default (`edge_order=1`) and second order with
`edge_order=2`. Along the line `y = 0`:"""),
    ("code", """\
j = np.argmin(np.abs(y))  # the column of the ij grid closest to y = 0
fig, ax = plt.subplots(figsize=(7, 3.5))
for order in [1, 2]:
    fd_x = np.gradient(Z, x, y, edge_order=order)[0]
    ax.semilogy(x, np.abs(fd_x[:, j] - exact[:, j, 0]) + 1e-16, label=f"edge_order={order}")
ax.set(xlabel="x", ylabel="|error of d/dx|", title="Error along y = 0", ylim=(1e-9, 1e-1))
ax.legend()
plt.show()"""),
    ("md", """\
## Convergence order

If symgrad's derivatives are right, the finite-difference error must fall like `h**2`:
halve the spacing, quarter the error. A wrong derivative shows up as an error that
stops falling. The slope on a log-log plot is the observed order."""),
    ("code", """\
sizes = [11, 21, 41, 81, 161, 321]
hs, errors = [], []
for n in sizes:
    gx = np.linspace(-3, 3, n)
    gy = np.linspace(-2, 2, n)
    GX, GY = np.meshgrid(gx, gy, indexing="ij")
    fd = np.gradient(f(GX, GY), gx, gy)
    ex = f.gradient(GX, GY)
    inner = (slice(1, -1), slice(1, -1))
    err = max(np.abs(fd[k] - ex[..., k])[inner].max() for k in range(2))
    hs.append(gx[1] - gx[0])
    errors.append(err)
slope = np.polyfit(np.log(hs), np.log(errors), 1)[0]
print(f"observed order: {slope:.2f}")"""),
    ("code", """\
fig, ax = plt.subplots(figsize=(5, 4))
ax.loglog(hs, errors, "o-", label=f"np.gradient vs symgrad (slope {slope:.2f})")
ref = errors[0] * (np.array(hs) / hs[0]) ** 2
ax.loglog(hs, ref, "k--", label="slope 2")
ax.set(xlabel="grid spacing h", ylabel="max interior error", title="Second-order convergence")
ax.xaxis.set_minor_formatter(plt.NullFormatter())
ax.legend()
plt.show()
assert abs(slope - 2) < 0.2, slope"""),
]

VALIDATION_CHECK = [
    ("md", """\
## All of this in one call: `symgrad.check`

`symgrad.check` runs these comparisons (interior error and observed order for every
derivative) over a domain and returns a report."""),
    ("code", """\
report = symgrad.check(f, domain={"x": (-3, 3), "y": (-2, 2)})
print(report)"""),
]

# ---------------------------------------------------------------------------------------
OPTIMIZATION = [
    ("md", """\
# Optimization with exact derivatives

Rosenbrock's banana function has its minimum at `(1, 1)` at the bottom of a long,
curved valley. We minimize it with gradient descent and with Newton's method, once
with symgrad's exact derivatives and once with hand-written finite differences,
and then fit a model to noisy data with Levenberg-Marquardt."""),
    ("code", SETUP + """
import time
import scipy.optimize"""),
    ("md", """\
## The objective, two ways

`f.for_scipy()` gives `fun`, `jac` and `hess` in the signatures SciPy expects: each
takes a 1-D vector in variable order. The finite-difference versions are what one
writes by hand: forward differences, step `1e-7` for the gradient and differences of
those gradients for the Hessian."""),
    ("code", """\
f = symgrad.compile("(1 - x)**2 + 100*(y - x**2)**2")
exact = f.for_scipy()  # {'fun': ..., 'jac': ..., 'hess': ...}


def rosen(v):
    x, y = v
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def fd_grad(v, h=1e-7):
    v = np.asarray(v, dtype=float)
    f0 = rosen(v)
    return np.array([(rosen(v + h * e) - f0) / h for e in np.eye(len(v))])


def fd_hess(v, h=1e-5):
    v = np.asarray(v, dtype=float)
    g0 = fd_grad(v)
    H = np.array([(fd_grad(v + h * e) - g0) / h for e in np.eye(len(v))])
    return (H + H.T) / 2


x0 = np.array([-1.2, 1.0])
print("exact:", exact["jac"](x0), "\\nFD:   ", fd_grad(x0))"""),
    ("md", """\
## Two small optimizers

Plain textbook methods, so that only the derivatives differ: gradient descent with a
backtracking (Armijo) line search, and Newton's method with the same line search
(falling back to the gradient where the Newton step is not a descent direction)."""),
    ("code", """\
def gradient_descent(fun, jac, x0, tol=1e-6, max_iter=20_000):
    x, t = np.array(x0, dtype=float), 1.0
    path = [x]
    for _ in range(max_iter):
        fx, g = fun(x), jac(x)
        if np.linalg.norm(g) < tol:
            return x, np.array(path), True
        t = min(1.0, 2 * t)
        while fun(x - t * g) > fx - 0.5 * t * (g @ g) and t > 1e-20:
            t /= 2
        x = x - t * g
        path.append(x)
    return x, np.array(path), False  # iteration limit


def newton(fun, jac, hess, x0, tol=1e-10, max_iter=100):
    x = np.array(x0, dtype=float)
    path = [x]
    for _ in range(max_iter):
        g = jac(x)
        if np.linalg.norm(g) < tol:
            return x, np.array(path), True
        step = -np.linalg.solve(hess(x), g)
        if g @ step >= 0:  # not a descent direction: use the gradient
            step = -g
        t, fx = 1.0, fun(x)
        while fun(x + t * step) > fx + 1e-4 * t * (g @ step) and t > 1e-12:
            t /= 2
        x = x + t * step
        path.append(x)
    return x, np.array(path), False"""),
    ("md", """\
## Run all four

Accuracy is the distance to the true minimum `(1, 1)`."""),
    ("code", """\
runs = {
    "GD, exact": (gradient_descent, (exact["fun"], exact["jac"])),
    "GD, finite differences": (gradient_descent, (rosen, fd_grad)),
    "Newton, exact": (newton, (exact["fun"], exact["jac"], exact["hess"])),
    "Newton, finite differences": (newton, (rosen, fd_grad, fd_hess)),
}
paths = {}
print(f"{'method':28s} {'iterations':>10s} {'|x - x*|':>10s} {'time':>9s}  stopped by")
for label, (method, funcs) in runs.items():
    start = time.perf_counter()
    x, paths[label], converged = method(*funcs, x0)
    elapsed = time.perf_counter() - start
    error = np.linalg.norm(x - 1.0)
    stop = "tolerance" if converged else "iteration limit"
    steps = len(paths[label]) - 1
    print(f"{label:28s} {steps:10d} {error:10.1e} {elapsed * 1e3:7.1f} ms  {stop}")"""),
    ("md", """\
What the table says:

- **Newton beats gradient descent by orders of magnitude** in iterations: the Hessian
  bends the step along the curved valley; gradient descent zig-zags down it.
- **Exact derivatives reach the minimum to machine precision.** The forward-difference
  gradient has an error of about `h * f''` (here ~1e-4), so the finite-difference
  runs converge to a point where *their* gradient vanishes, not the true one, and
  gradient descent with it runs into the iteration limit.
- **Time:** each symgrad call costs tens of microseconds of Python-level overhead
  (argument checks, dispatch to the compiled kernel), while this formula is only a
  few additions and multiplications; a plain Python function is faster per call for
  so cheap a formula. Finite differences pay `n + 1` evaluations per gradient and about
  `n**2` per Hessian, so the balance turns with more variables or a costlier formula."""),
    ("md", "## The paths on the contour plot"),
    ("code", """\
gx = np.linspace(-2, 2, 200)
gy = np.linspace(-1, 3, 200)
GX, GY = np.meshgrid(gx, gy)
GZ = rosen((GX, GY))
fig, axes = plt.subplots(1, 2, figsize=(12, 5), sharey=True)
for ax, kind in zip(axes, ["exact", "finite differences"]):
    ax.contour(GX, GY, np.log10(GZ + 1e-3), levels=25, cmap="viridis", linewidths=0.7)
    for label, style in [("GD", "-"), ("Newton", "o-")]:
        p = paths[f"{label}, {kind}"]
        ax.plot(p[:, 0], p[:, 1], style, ms=3, lw=1.2, label=f"{label} ({len(p) - 1} steps)")
    ax.plot(1, 1, "r*", ms=14, label="minimum (1, 1)")
    ax.set(title=kind, xlabel="x")
    ax.legend(loc="lower right")
axes[0].set_ylabel("y")
plt.show()"""),
    ("md", """\
## The same with `scipy.optimize.minimize`

`for_scipy(x0=..., method=...)` returns everything `minimize` needs, and only what the
method uses (so SciPy does not warn about unused derivatives). Trust-region methods
with the exact Hessian need a few dozen evaluations."""),
    ("code", """\
for method in ["trust-exact", "Newton-CG", "BFGS"]:
    res = scipy.optimize.minimize(**f.for_scipy(x0=[-1.2, 1.0], method=method))
    print(f"{method:12s} x = {res.x}, nfev = {res.nfev}, njev = {res.njev}, "
          f"nhev = {res.get('nhev', '-')}")"""),
    ("md", """\
## Fitting a model: a damped sine with Levenberg-Marquardt

The model `A*exp(-sigma*t)*sin(omega*t)` has three parameters to fit (the formula's
*variables*) and the sample times `t` (a *parameter*, passed as data).
`for_least_squares` gives the residuals `model(theta; t) - observed` and their exact
Jacobian, shape `(n_samples, 3)`."""),
    ("code", """\
model = symgrad.compile(
    "A*exp(-sigma*t)*sin(omega*t)", variables="A sigma omega", params="t"
)
rng = np.random.default_rng(42)
t = np.linspace(0, 10, 200)
true = np.array([2.0, 0.3, 1.7])
observed = model(*true, t=t) + 0.1 * rng.standard_normal(t.size)

kw = model.for_least_squares({"t": t}, x0=[1.0, 0.1, 1.5], observed=observed)
fit = scipy.optimize.least_squares(**kw, method="lm")
print(fit.message, "| residual evaluations:", fit.nfev, "| Jacobian evaluations:", fit.njev)"""),
    ("md", """\
Standard errors from the Jacobian at the solution, `cov = s**2 (J^T J)^-1`:"""),
    ("code", """\
J = fit.jac
s2 = 2 * fit.cost / (t.size - len(fit.x))
stderr = np.sqrt(np.diag(s2 * np.linalg.inv(J.T @ J)))
for name, value, err, truth in zip(model.variables, fit.x, stderr, true):
    print(f"{name:6s} = {value:6.3f} +/- {err:.3f}   (true {truth})")
assert np.all(np.abs(fit.x - true) < 4 * stderr)"""),
    ("code", """\
fig, ax = plt.subplots(figsize=(8, 4))
ax.plot(t, observed, ".", ms=4, color="0.6", label="noisy data")
ax.plot(t, model(*true, t=t), "k--", label="true model")
ax.plot(t, model(*fit.x, t=t), "C1", lw=2, label="Levenberg-Marquardt fit")
ax.set(xlabel="t", ylabel="signal", title="Damped sine fit")
ax.legend()
plt.show()"""),
]

# ---------------------------------------------------------------------------------------
XARRAY = [
    ("md", """\
# Gradients on labelled grids: xarray (and dask)

A synthetic surface temperature on a latitude/longitude grid: symgrad evaluates the
formula and its exact gradient on `xarray.DataArray` coordinates, keeps the dimensions
and coordinates, and names the new axis of the gradient `variable`. With dask-backed
DataArrays the same calls build a lazy, chunked computation."""),
    ("code", """\
%matplotlib inline
import numpy as np
import matplotlib.pyplot as plt
import xarray as xr
import symgrad"""),
    ("md", """\
## The field and the grid

Temperature in kelvin: colder towards the poles, with a wave of wavenumber 3 in
longitude. The grid's coordinates are DataArrays named like the formula's variables."""),
    ("code", """\
T = symgrad.compile(
    "288 - 40*sin(lat*pi/180)**2 + 6*cos(3*lon*pi/180)*cos(lat*pi/180)**2",
    variables="lat lon",
)
lat = xr.DataArray(np.linspace(-80, 80, 161), dims="lat", attrs={"units": "degrees_north"})
lon = xr.DataArray(np.linspace(-180, 180, 361), dims="lon", attrs={"units": "degrees_east"})
lat, lon = lat.assign_coords(lat=lat), lon.assign_coords(lon=lon)
temperature = T(lat, lon)        # dims (lat, lon): broadcast by name
temperature.dims, temperature.shape"""),
    ("md", """\
## The exact gradient

`T.gradient` returns a DataArray with dims `(lat, lon, variable)`; the `variable`
coordinate holds the variable names, so components are selected by name. The
derivatives are in kelvin per degree; one degree of latitude is about 111.2 km, one
degree of longitude `111.2 * cos(lat)` km."""),
    ("code", """\
grad = T.gradient(lat, lon)
print(grad.dims, list(grad.coords["variable"].values))
km_per_degree = 111.2
dT_dnorth = grad.sel(variable="lat") / km_per_degree
dT_deast = grad.sel(variable="lon") / (km_per_degree * np.cos(np.deg2rad(lat)))
magnitude = np.hypot(dT_dnorth, dT_deast).rename("|grad T| (K/km)")
magnitude.dims"""),
    ("code", """\
fig, ax = plt.subplots(figsize=(10, 4.5))
magnitude.plot(ax=ax, x="lon", cmap="magma")
temperature.plot.contour(ax=ax, x="lon", levels=12, colors="white", linewidths=0.6)
ax.set(title="Temperature (contours) and the magnitude of its gradient")
plt.show()"""),
    ("md", """\
## Check it against `numpy.gradient` on the same grid

`symgrad.check` takes the DataArray as the domain: its coordinates give the nodes and
the spacing."""),
    ("code", """\
report = symgrad.check(T, domain=temperature)
print(report)
assert report.ok"""),
    ("md", """\
## Lazy, with dask

A dask-backed DataArray (`.chunk(...)`) gives a dask-backed result: nothing runs
until `.compute()`, and then each chunk is one kernel call (on a dask.distributed
cluster, on its workers)."""),
    ("code", """\
lazy = T.gradient(lat.chunk(40), lon.chunk(90))
print(type(lazy.data).__name__, lazy.data.chunksize)
np.testing.assert_allclose(lazy.compute().values, grad.values, rtol=1e-13)  # the first call may come from the NumPy tier (tiered="auto")"""),
]

# ---------------------------------------------------------------------------------------
INDEXED = [
    ("md", """\
# Indexed formulas: sums over a million variables

A formula can declare array variables (`x[n]`) and sum over index ranges with
`sum(... for i in range(...))`. symgrad differentiates the *summand* once, on its
template, and generates kernels that loop in numba with the sizes read from the
arrays' shapes at call time: one compiled kernel serves every `n`, nothing is expanded
into `n` scalar terms, and the Hessian comes out sparse, with its pattern known before
a single number is computed.

This notebook: Rosenbrock at `n = 10**6` (gradient, sparse Hessian, the generated
loops), Newton-CG at `n = 10**4`, total-variation denoising of a 512x512 image with
L-BFGS-B, and the 13-atom Lennard-Jones cluster."""),
    ("code", SETUP + """
import time
import scipy.optimize as so"""),
    ("md", """\
## Rosenbrock, written once

`variables="x[n]"` declares an array; `n` is bound from `x.shape` at every call. The
gradient has the shape of `x`; `sparse_hessian` returns a `scipy.sparse.csr_array`
(tridiagonal here: `3n - 2` entries)."""),
    ("code", """\
rosen = symgrad.compile(
    "sum(100*(x[i+1] - x[i]**2)**2 + (1 - x[i])**2 for i in range(n - 1))",
    variables="x[n]")
x = np.random.default_rng(0).uniform(-2, 2, 1_000_000)
print("value   ", rosen(x), " scipy:", so.rosen(x))
g = rosen.gradient(x)
print("gradient", g.shape, " max |symgrad - scipy.rosen_der| / max|g| =",
      np.abs(g - so.rosen_der(x)).max() / np.abs(g).max())
H = rosen.sparse_hessian(x)
print("Hessian ", type(H).__name__, H.shape, "nnz =", H.nnz)
p = np.random.default_rng(1).standard_normal(x.size)
print("H @ p vs hvp vs scipy.rosen_hess_prod:",
      np.abs(H @ p - rosen.hvp(x, direction=p)).max(),
      np.abs(rosen.hvp(x, direction=p) - so.rosen_hess_prod(x, p)).max())"""),
    ("md", """\
Once compiled, calls cost time linear in `n` (see `benchmarks/results/indexed.md` for
the comparison with hand-written numba loops and JAX):"""),
    ("code", """\
for n in (10**4, 10**5, 10**6):
    xs = x[:n]
    rosen.gradient(xs)
    t = time.perf_counter()
    for _ in range(20):
        rosen.gradient(xs)
    dt = (time.perf_counter() - t) / 20
    print(f"n = {n:>9,}: gradient {dt * 1e3:7.3f} ms  ({dt / n * 1e9:.2f} ns per element)")"""),
    ("md", """\
The generated kernels are plain loops over the index range, with the bounds read at
run time (every subscript is proven inside its array before the loop runs, so the loop
itself has no bounds checks). `grad` scatters each term's two partial derivatives into
`g[i]` and `g[i+1]`:"""),
    ("code", """\
print(rosen.source("first"))"""),
    ("md", """\
## Newton-CG at n = 10,000

`for_scipy` returns the keyword arguments of `scipy.optimize.minimize`: `fun` and `jac`
from one kernel pass, and for methods that take it the sparse Hessian (`hess`) or the
Hessian-vector product (`hessp`)."""),
    ("code", """\
x0 = np.full(10_000, 1.2)
t = time.perf_counter()
res = so.minimize(**rosen.for_scipy(x0, method="Newton-CG"), options={"xtol": 1e-10})
print(f"{res.message}  iterations: {res.nit}, function evaluations: {res.nfev}, "
      f"Hessians: {res.nhev}, {time.perf_counter() - t:.2f} s")
print("max |x - 1| =", np.abs(res.x - 1).max())
assert res.success and np.allclose(res.x, 1.0, atol=1e-8)"""),
    ("md", """\
## Total-variation denoising of a 512x512 image

Two-dimensional indices: the energy of an image `u` is its (smoothed) total variation
plus a data term tying it to the noisy image `f`,

$$E(u) = \\sum_{i,j} \\sqrt{(u_{i+1,j}-u_{i,j})^2 + (u_{i,j+1}-u_{i,j})^2 + \\varepsilon}
       + \\frac{\\lambda}{2} \\sum_{i,j} (u_{i,j} - f_{i,j})^2 .$$

`f`, `lam` and `eps` are parameters (not differentiated). The variables are the
262,144 pixels; L-BFGS-B needs only the value and the gradient."""),
    ("code", """\
tv = symgrad.compile(
    "sum(sqrt((u[i+1,j]-u[i,j])**2 + (u[i,j+1]-u[i,j])**2 + eps)"
    " for i in range(m-1) for j in range(n-1))"
    " + lam/2*sum((u[i,j] - f[i,j])**2 for i in range(m) for j in range(n))",
    variables="u[m,n]", params="f[m,n] lam eps")

yy, xx = np.mgrid[0:512, 0:512] / 512
clean = (((xx - 0.35)**2 + (yy - 0.4)**2 < 0.2**2) * 1.0           # a disk
         + ((np.abs(xx - 0.72) < 0.12) & (np.abs(yy - 0.68) < 0.2)) * 0.6   # a rectangle
         + ((np.abs(xx + yy - 1.1) < 0.04) & (yy > 0.75)) * 0.8)        # a bar
noisy = clean + np.random.default_rng(0).normal(scale=0.3, size=clean.shape)

errors = []  # RMS error against the clean image, per iteration
def track(xk):
    errors.append(np.sqrt(np.mean((xk.reshape(clean.shape) - clean) ** 2)))

kwargs = tv.for_scipy(noisy, method="L-BFGS-B", f=noisy, lam=4.0, eps=1e-3)
t = time.perf_counter()
res = so.minimize(**kwargs, callback=track, options={"maxiter": 150})
denoised = res.x.reshape(clean.shape)
rms = lambda u: np.sqrt(np.mean((u - clean) ** 2))
print(f"{res.nit} iterations, {res.nfev} value+gradient calls, {time.perf_counter() - t:.1f} s")
print(f"RMS error: noisy {rms(noisy):.4f} -> denoised {rms(denoised):.4f}")
assert rms(denoised) < 0.5 * rms(noisy)"""),
    ("code", """\
fig, axes = plt.subplots(1, 4, figsize=(16, 4.2))
for ax, img, title in zip(axes, (clean, noisy, denoised),
                          ("clean", f"noisy (RMS {rms(noisy):.3f})",
                           f"denoised (RMS {rms(denoised):.3f})")):
    ax.imshow(img, cmap="gray", vmin=-0.2, vmax=1.2)
    ax.set(title=title, xticks=[], yticks=[])
axes[3].plot(np.arange(1, len(errors) + 1), errors)
axes[3].axhline(rms(noisy), color="gray", ls="--", label="noisy")
axes[3].set(xlabel="L-BFGS-B iteration", ylabel="RMS error vs clean", yscale="log",
            title="error against the clean image")
axes[3].legend()
fig.tight_layout()
plt.show()"""),
    ("md", """\
## Lennard-Jones: 13 atoms in an icosahedron

Pairwise sums use a triangular range, `range(i+1, N)`. The Mackay icosahedron (a
center and 12 vertices) is the 13-atom minimum with energy -44.326801 (in units of the
pair well depth): find the radius where the radial force vanishes, then check the
energy and that every gradient component is zero."""),
    ("code", """\
lj = symgrad.compile(
    "sum(4*((1/r2)**6 - (1/r2)**3) for i in range(N) for j in range(i+1, N))"
    .replace("r2", "((x[i]-x[j])**2 + (y[i]-y[j])**2 + (z[i]-z[j])**2)"),
    variables="x[N] y[N] z[N]")

phi = (1 + 5 ** 0.5) / 2
vertices = np.array([v for a in (-1, 1) for b in (-phi, phi)
                     for v in ((0, a, b), (a, b, 0), (b, 0, a))], dtype=float)
unit = np.vstack([np.zeros(3), vertices / np.linalg.norm(vertices[0])])

def radial_force(r):  # dE/dr along the breathing mode
    return float(np.sum(np.stack(lj.gradient(*(r * unit).T)).T * unit))

r = so.brentq(radial_force, 1.0, 1.2, xtol=1e-15)
x13, y13, z13 = (r * unit).T
energy = lj(x13, y13, z13)
print(f"radius {r:.10f}, energy {energy:.6f}, "
      f"max |gradient| = {np.abs(lj.gradient(x13, y13, z13, flat=True)).max():.1e}")
assert abs(energy - (-44.326801)) < 5e-7
assert np.abs(lj.gradient(x13, y13, z13, flat=True)).max() < 1e-6"""),
]


def make(cells, stem: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    for i, (kind, text) in enumerate(cells):
        new = nbformat.v4.new_markdown_cell if kind == "md" else nbformat.v4.new_code_cell
        cell = new(text)
        cell.id = f"{stem}-{i:02d}"
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def notebooks() -> dict[str, list]:
    return {
        "01-quickstart": QUICKSTART,
        "02-validation": VALIDATION + VALIDATION_CHECK,
        "03-optimization": OPTIMIZATION,
        "05-xarray": XARRAY,
        "06-indexed": INDEXED,
    }


def main() -> None:
    for stem, cells in notebooks().items():
        path = HERE / f"{stem}.ipynb"
        nbformat.write(make(cells, stem), path)
        print("wrote", path.relative_to(HERE.parent))


if __name__ == "__main__":
    main()
