"""One adapter per tool ("column"). Each builds ``fn(prepared_inputs)`` for a problem and
an op, says how its output maps to the canonical ``(rows, N)`` layout, and reports
itself skipped (with the reason) when its package is missing -- never an error.

Timed: the call ``fn(prepared)`` and whatever it needs to return a finished NumPy-usable
result (JAX: ``block_until_ready``; sympy.lambdify: assembling its list of rows into one
array, since constants come back as Python scalars). Not timed: ``prepare`` (converting
the ``(n, N)`` NumPy input into the tool's preferred input type/layout, done once) and
``canonical`` (layout conversion for the cross-check).

Layouts of the outputs compared (stated in the results):
  hand, symgrad, lambdify, numba(lambdify), symengine (order='F'), symjit, JAX, torch:
  component-major, one contiguous row of N per component; the Hessian dense (n*n rows,
  zeros present). symgrad returns S + (n,) / S + (n, n) *views* of that buffer; JAX and
  torch use ``vmap(..., in_axes=1, out_axes=-1)`` so they read and write the same
  component-major layout.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
from importlib import metadata

import numpy as np

from . import problems as P


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "?"


def _assemble(res, rows: int, N: int) -> np.ndarray:
    """Rows from a list/tuple of arrays or scalars -> one (rows, N) array."""
    if rows == 1 and not isinstance(res, (list, tuple)):
        return np.broadcast_to(res, (N,)) if np.ndim(res) == 0 else res
    out = np.empty((rows, N))
    for k, r in enumerate(res):
        out[k] = r
    return out


def configure_jax():
    """Import JAX with float64 on and its compilation cache in the run's directory."""
    import jax

    jax.config.update("jax_enable_x64", True)
    cache = os.environ.get("BENCH_JAX_CACHE_DIR")
    if cache:
        jax.config.update("jax_compilation_cache_dir", cache)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    import jax.numpy  # noqa: F401

    return jax


class Column:
    name = "?"
    dist = None  # distribution name for the version and for the skip check
    module = None  # import name
    install = 'pip install -e ".[bench]"'  # what installs the tool, for the skip hint
    native = "rows"  # output layout: "rows" | "symgrad" | "points"
    disk_cache = False  # has a persistent compiled-code cache (a meaningful warm start)
    note = ""

    def skip_reason(self) -> str | None:
        if self.module and importlib.util.find_spec(self.module) is None:
            return f"{self.dist or self.module} not installed ({self.install})"
        return None

    def version(self) -> str:
        return _version(self.dist) if self.dist else ""

    def threads(self) -> str:
        return ""

    def import_modules(self) -> None:
        """Import what the tool needs (timed as 'import', apart from the build)."""

    def prepare(self, X: np.ndarray):
        """The (n, N) float64 input converted for the tool (not timed)."""
        return X

    def build(self, p: P.Problem, op: str):
        """Return fn(prepared) -> result. Timed as part of 'build' (with the first call)."""
        raise NotImplementedError

    def finish(self, result):
        """Block until the result exists (async tools)."""
        return result

    def canonical(self, result, N: int, rows: int) -> np.ndarray:
        return P.canonical(self.native, result, N, rows)


def _numba_threads() -> str:
    try:
        import numba

        return f"numba {numba.get_num_threads()} threads ({numba.config.THREADING_LAYER})"
    except Exception:  # pragma: no cover
        return ""


class Hand(Column):
    name = "hand"
    dist = "numba"
    module = "numba"
    disk_cache = True
    note = ("hand-written numba prange kernels (benchmarks/hand.py); threading layer "
            "workqueue unless BENCH_HAND_THREADING_LAYER says otherwise")

    def version(self):
        return f"numba {_version('numba')}"

    def threads(self):
        return _numba_threads()

    def import_modules(self):
        importlib.import_module("benchmarks.hand")

    def build(self, p, op):
        from . import hand

        return hand.make(p.name, p.n, op)


class HandVector(Hand):
    name = "hand (vector)"
    note = ("the hand-written kernels with symgrad.vecmath's branch-free exp/log/sin/... "
            "in place of libm (benchmarks/hand.py, vector=True)")

    def build(self, p, op):
        from . import hand

        return hand.make(p.name, p.n, op, vector=True)


class Symgrad(Column):
    name = "symgrad"
    dist = "symgrad"
    module = "symgrad"
    native = "symgrad"
    disk_cache = True
    options: dict = {}

    def __init__(self, name: str | None = None, **options):
        if name:
            self.name = name
        self.options = options
        self.note = "symgrad.compile(" + ", ".join(f"{k}={v!r}" for k, v in options.items()) + ")"

    def skip_reason(self):
        r = super().skip_reason()
        if r or not self.options:
            return r
        import symgrad

        params = inspect.signature(symgrad.compile).parameters
        missing = [k for k in self.options if k not in params]
        if missing:
            return f"symgrad.compile has no option {missing[0]!r} (yet)"
        return None

    def threads(self):
        try:  # symgrad may run its kernels on its own thread pool rather than numba's
            from symgrad import kernel

            if hasattr(kernel, "default_threads"):
                return f"symgrad {kernel.default_threads()} threads; {_numba_threads()}"
        except Exception:  # pragma: no cover
            pass
        return _numba_threads()

    def import_modules(self):
        import symgrad
        import symgrad.api  # noqa: F401  (sympy)
        import symgrad.kernel  # noqa: F401

    def build(self, p, op):
        import symgrad

        f = symgrad.compile(p.formula, variables=list(p.variables), **self.options)
        method = {"value": f, "gradient": f.gradient, "hessian": f.hessian}[op]
        self.evaluator = f
        return lambda X: method(*X)

    def prepare(self, X):
        return list(X)  # n contiguous 1-D arrays (views of the rows)


class Lambdify(Column):
    name = "lambdify"
    dist = "sympy"
    module = "sympy"
    note = 'sympy.lambdify(vars, exprs, "numpy", cse=True); rows assembled into one array'

    def import_modules(self):
        import sympy  # noqa: F401

    def build(self, p, op):
        import sympy

        syms, exprs = p.sympy_outputs(op)
        rows = len(exprs)
        f = sympy.lambdify(syms, exprs if rows > 1 else exprs[0], "numpy", cse=True)

        def fn(X):
            return _assemble(f(*X), rows, X[0].shape[0])

        return fn

    def prepare(self, X):
        return list(X)


class NumbaLambdify(Column):
    name = "numba(lambdify)"
    dist = "numba"
    module = "numba"
    note = 'numba.njit(sympy.lambdify(vars, tuple(exprs), "numpy", cse=True)); rows assembled'
    max_rows = 2500  # Rosenbrock n = 100's Hessian (10000 entries) is not attempted

    def version(self):
        return f"numba {_version('numba')}, sympy {_version('sympy')}"

    def threads(self):
        return "1 (numba.njit, not parallel)"

    def import_modules(self):
        import numba  # noqa: F401
        import sympy  # noqa: F401

    def build(self, p, op):
        import numba
        import sympy

        syms, exprs = p.sympy_outputs(op)
        rows = len(exprs)
        if rows > self.max_rows:
            raise NotImplementedError(
                f"not attempted: numba compile time grows steeply with the returned tuple "
                f"({rows} entries; 2500 took 78 s on 2 cores); raise NumbaLambdify.max_rows to try"
            )
        f = numba.njit(sympy.lambdify(syms, tuple(exprs) if rows > 1 else exprs[0], "numpy", cse=True))

        def fn(X):
            return _assemble(f(*X), rows, X[0].shape[0])

        return fn

    def prepare(self, X):
        return list(X)


class SymEngine(Column):
    name = "symengine"
    dist = "symengine"
    module = "symengine"
    note = 'symengine.Lambdify(vars, exprs, backend="llvm", cse=True, order="F") on the (n, N) array'

    def skip_reason(self):
        r = super().skip_reason()
        if r:
            return r
        import symengine

        if "llvm" not in getattr(symengine, "lambdify_backends", ("llvm",)):
            return "symengine built without the LLVM backend"
        return None

    def threads(self):
        return "1"

    def import_modules(self):
        import symengine  # noqa: F401
        import sympy  # noqa: F401

    def build(self, p, op):
        import symengine

        syms, exprs = p.sympy_outputs(op)
        f = symengine.Lambdify(syms, exprs, backend="llvm", cse=True, order="F")
        return f


class Symjit(Column):
    name = "symjit"
    dist = "symjit"
    module = "symjit"
    # the bench extra lists it only where its wheels exist
    install = 'pip install -e ".[bench]" on Python >= 3.12, or pip install symjit'

    note = "symjit.compile_func(vars, exprs) defaults (fastmath=True, SIMD, threads)"

    def import_modules(self):
        import symjit  # noqa: F401
        import sympy  # noqa: F401

    def build(self, p, op):
        import symjit

        syms, exprs = p.sympy_outputs(op)
        f = symjit.compile_func(syms, exprs)
        rows = len(exprs)

        def fn(X):
            res = f(*X)
            return res if rows > 1 else res[0]

        return fn

    def prepare(self, X):
        return list(X)


# -- JAX / torch: the formula written in the framework, derivatives by autodiff ---------


def _jax_fn(p: P.Problem, jnp):
    if p.name == "P1":
        return lambda v: jnp.sin(v[0]) * jnp.cos(v[1]) + jnp.exp(-(v[0] ** 2 + v[1] ** 2) / 2)
    if p.name == "P2":
        return lambda v: jnp.sum(100.0 * (v[1:] - v[:-1] ** 2) ** 2 + (1.0 - v[:-1]) ** 2)
    if p.name == "P3":

        def f(v):
            a, b, c, x, y, z = v[0], v[1], v[2], v[3], v[4], v[5]
            return (
                jnp.exp(-a * x**2) * jnp.cos(b * y + c * z)
                + jnp.log(1 + x**2 + y**2 + z**2) * jnp.arctan(a * b)
                + jnp.sqrt(1 + (a * x - b * y) ** 2) * jnp.tanh(c * z)
            )

        return f
    raise ValueError(p.name)


class Jax(Column):
    name = "jax"
    dist = "jax"
    module = "jax"
    disk_cache = True
    note = "jax.jit(jax.vmap(f | grad(f) | hessian(f), in_axes=1, out_axes=-1)), x64, persistent compilation cache"

    def version(self):
        return f"jax {_version('jax')}, jaxlib {_version('jaxlib')}"

    def threads(self):
        return f"XLA CPU ({os.cpu_count()} cores visible)"

    def import_modules(self):
        configure_jax()

    def prepare(self, X):
        import jax

        return jax.device_put(X)

    def build(self, p, op):
        import jax
        import jax.numpy as jnp

        f = _jax_fn(p, jnp)
        g = {"value": f, "gradient": jax.grad(f), "hessian": jax.hessian(f)}[op]
        return jax.jit(jax.vmap(g, in_axes=1, out_axes=-1))

    def finish(self, result):
        return result.block_until_ready()

    def canonical(self, result, N, rows):
        return np.asarray(result, dtype=float).reshape(rows, N)


def _torch_fn(p: P.Problem, torch):
    """The formula on a batch: X of shape (n, N) -> values (N,)."""
    if p.name == "P1":
        return lambda X: torch.sin(X[0]) * torch.cos(X[1]) + torch.exp(-(X[0] ** 2 + X[1] ** 2) / 2)
    if p.name == "P2":
        return lambda X: torch.sum(100.0 * (X[1:] - X[:-1] ** 2) ** 2 + (1.0 - X[:-1]) ** 2, dim=0)
    if p.name == "P3":

        def f(X):
            a, b, c, x, y, z = X[0], X[1], X[2], X[3], X[4], X[5]
            return (
                torch.exp(-a * x**2) * torch.cos(b * y + c * z)
                + torch.log(1 + x**2 + y**2 + z**2) * torch.atan(a * b)
                + torch.sqrt(1 + (a * x - b * y) ** 2) * torch.tanh(c * z)
            )

        return f
    raise ValueError(p.name)


class Torch(Column):
    """torch.compile'd batched forward; the gradient by reverse mode through it.

    ``torch.func.vmap(grad/hessian)`` fails under torch.compile (2.13: fake-tensor errors
    on BatchedTensor), so the formula is written on the batch, ``X (n, N) -> (N,)``, and
    the per-point gradient is ``autograd.grad(f(X).sum(), X)`` (points are independent),
    with the backward compiled by AOTAutograd. The Hessian needs a double backward, which
    torch.compile's aot_autograd does not support: that cell is reported as an error.
    """

    name = "torch.compile"
    dist = "torch"
    module = "torch"
    install = 'pip install -e ".[bench,torch]"'
    note = ("torch.compile(f on the (n, N) batch), float64, inductor; gradient = "
            "autograd.grad(f(X).sum(), X) through the compiled graph")

    def version(self):
        return f"torch {_version('torch')}"

    def threads(self):
        try:
            import torch

            return f"{torch.get_num_threads()} intra-op threads"
        except Exception:  # pragma: no cover
            return ""

    def import_modules(self):
        import torch  # noqa: F401

    def prepare(self, X):
        import torch

        return torch.from_numpy(X)

    def build(self, p, op):
        import torch

        if op == "hessian":
            raise NotImplementedError(
                "torch.compile: vmap(hessian) fails under compile and aot_autograd has no "
                "double backward"
            )
        fc = torch.compile(_torch_fn(p, torch), dynamic=False)
        if op == "value":
            return lambda X: fc(X).detach()

        def grad(X):
            X = X.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(fc(X).sum(), X)
            return g

        return grad

    def canonical(self, result, N, rows):
        return result.detach().numpy().reshape(rows, N)


#: symgrad.compile options tried as extra columns when symgrad offers them (checked at
#: run time against ``inspect.signature(symgrad.compile)``). Name -> options.
SYMGRAD_OPT_INS: dict[str, dict] = {
    "symgrad (libm)": {"math": "libm"},  # the default is math="vector"
    # tiered=True only changes the first calls (see the time-to-first-result table),
    # so it is not an evaluation column.
}


def all_columns() -> list[Column]:
    cols: list[Column] = [Hand(), HandVector(), Symgrad()]
    cols += [Symgrad(name, **opts) for name, opts in SYMGRAD_OPT_INS.items()]
    cols += [Lambdify(), NumbaLambdify(), SymEngine(), Symjit(), Jax(), Torch()]
    return cols


def get(name: str) -> Column:
    for c in all_columns():
        if c.name == name:
            return c
    raise KeyError(f"unknown column {name!r}; known: {[c.name for c in all_columns()]}")


CORE = ("hand", "symgrad", "lambdify", "numba(lambdify)")
