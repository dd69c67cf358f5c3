"""Evaluator: the compiled formula a user holds, with its argument rules and layouts.

Arguments
---------
Variables come positionally in variable order, ``f(x, y)``, or by name, ``f(x=..., y=...)``,
or as one array of points whose last axis runs over the variables, ``f(points)`` with
``points.shape == (..., n)`` (the layout optimizers use; only when n > 1).
Parameters always come by name: ``f(x, y, a=2.0)``. All inputs broadcast together
(NumPy rules) to one shape ``S``; scalars are broadcast without being copied.

Outputs (one rule for every method; ``n`` variables, ``m`` formulas)
------------------------------------------------------------------
=====================  ======================  =========================
method                 scalar formula          vector of m formulas
=====================  ======================  =========================
``f(...)``             ``S``                   ``S + (m,)``
``f.gradient``         ``S + (n,)``            (use ``jacobian``)
``f.jacobian``         ``S + (1, n)``          ``S + (m, n)``
``f.hessian``          ``S + (n, n)``          ``S + (m, n, n)``
``f.hvp``              ``S + (n,)``            --
``f.derivative(k)``    ``S + (n,)*k``          --
=====================  ======================  =========================

Every output component is stored contiguously (``g[..., 0]`` is a C-contiguous array),
because the kernel writes one component per row of a ``(rows, N)`` buffer and the
result is a view of it. Use ``np.ascontiguousarray`` for point-major memory.

dtype: float64 by default. ``compile(..., dtype="float32")`` makes inputs and outputs
float32 (literal constants are float64, so arithmetic is at least float32-accurate).
Integer and boolean inputs are converted; complex, object and string inputs are
rejected with ``InputError``.
"""

from __future__ import annotations

import difflib
import math
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import sympy

from . import derive
from .codegen import generate_source
from .errors import InputError
from .parse import Formula
from .program import Program, build_program

__all__ = ["Evaluator", "SparseHessian", "PARALLEL_WORK_NS"]

#: With ``parallel="auto"``, a call runs on several threads when its estimated work
#: (points x estimated nanoseconds per point, see ``_cost_per_point``) is at least
#: this many nanoseconds; below it, waking threads costs more than it saves.
PARALLEL_WORK_NS = 2_000_000

#: Highest derivative order ``derivative`` accepts (symbolic size grows fast beyond).
MAX_ORDER = 12

_RESERVED = frozenset({"out", "direction", "order", "parallel", "self"})


@dataclass
class _Compiled:
    program: Program
    source: str
    kernel: Any = None  # symgrad.kernel.Kernel, built on first evaluation
    # (offset, size, shape) per block, set once the serial kernel has run on floats:
    # enables Evaluator._scalar_call, the low-overhead path for one point.
    scalar_layout: tuple | None = None
    point: Any = None  # numba dispatcher of kernel_point, once compiled for floats
    # tiered=True: the NumPy version of the program (None: not vectorizable) and the
    # background compilation of the kernel.
    array_fn: Any = False
    compiling: Any = None
    cost: float = 0.0  # estimated nanoseconds per point (for parallel="auto")


class SparseHessian(NamedTuple):
    """The structurally nonzero upper triangle of a Hessian (``rows[k] <= cols[k]``).

    Attributes
    ----------
    rows, cols : ndarray of int, shape (nnz,)
        Entry ``k`` is ``H[rows[k], cols[k]]`` (and, by symmetry, ``H[cols[k], rows[k]]``).
    values : ndarray, shape ``S + (nnz,)``
    n : int
        Number of variables.
    """

    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray
    n: int

    def to_dense(self) -> np.ndarray:
        """The full symmetric Hessian, shape ``S + (n, n)``."""
        dense = np.zeros(self.values.shape[:-1] + (self.n, self.n), dtype=self.values.dtype)
        dense[..., self.rows, self.cols] = self.values
        dense[..., self.cols, self.rows] = self.values
        return dense


# Points per NumPy evaluation in the array tier: bounds the temporaries' memory.
_ARRAY_CHUNK = 1 << 16


def _background(work):
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

    global _COMPILER
    if _COMPILER is None:
        _COMPILER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="symgrad-compile")
    return _COMPILER.submit(work)


_COMPILER = None


def _cost_per_point(source: str) -> float:
    """Rough nanoseconds per point of a kernel: ~20 per math call, ~1 per operation.

    Only used to decide when threads pay off; it need not be accurate.
    """
    body = source.split("def kernel(", 1)[-1].split("def kernel_point", 1)[0]
    calls = body.count("np.") + body.count("sg_")
    ops = sum(body.count(op) for op in ("+", "-", "*", "/", "out["))
    return 20.0 * calls + 1.0 * ops


def _threads() -> int:
    from .kernel import default_threads  # noqa: PLC0415 (kernel machinery loads lazily)

    return default_threads()


def _block_view(buffer: np.ndarray, block, shape: tuple[int, ...]):
    """A block of the ``(rows, N)`` buffer as an array of shape ``shape + block.shape``."""
    rows = buffer[block.offset : block.offset + block.size]
    if not block.shape:
        view = rows.reshape(shape)
        return view[()] if shape == () else view  # one point: a NumPy scalar
    view = rows.reshape(block.shape + shape)
    if shape == ():
        return view
    k, s = len(block.shape), len(shape)
    return view.transpose(tuple(range(k, k + s)) + tuple(range(k)))


def _natural_join(names: Sequence[str]) -> str:
    return ", ".join(names) if names else "(none)"


class Evaluator:
    """A formula compiled for fast evaluation of its value and derivatives.

    Create with :func:`symgrad.compile`. Kernels are generated on first use of each
    method and compiled by numba (then cached on disk, see ``symgrad.kernel``).

    Attributes
    ----------
    formula : Formula
        The parsed formula.
    variables : tuple of str
        Differentiated inputs, in argument order.
    params : tuple of str
        Parameters (keyword arguments, not differentiated).
    dtype : numpy.dtype
    """

    def __init__(
        self,
        formula: Formula,
        *,
        dtype: Any = np.float64,
        cse: bool = True,
        simplify: bool = False,
        parallel: bool | str = "auto",
        tiered: bool = False,
    ):
        dtype = np.dtype(dtype)
        if dtype not in (np.dtype(np.float64), np.dtype(np.float32)):
            raise InputError(f"dtype must be float64 or float32, not {dtype}.")
        if parallel not in (True, False, "auto"):
            raise InputError(f"parallel must be True, False or 'auto', not {parallel!r}.")
        clash = _RESERVED.intersection(formula.param_names + formula.variable_names)
        if clash:
            raise InputError(
                f"the name {sorted(clash)[0]!r} is reserved for a keyword argument of "
                "evaluators; rename that variable or parameter."
            )
        self.formula = formula
        self.dtype = dtype
        self.cse = cse
        self.simplify = simplify
        self.parallel = parallel
        self.tiered = tiered
        self._vars = formula.variables
        self._params = formula.params
        # Names are read on every call: computed once here.
        self._var_names: tuple[str, ...] = formula.variable_names
        self._param_names: tuple[str, ...] = formula.param_names
        self._input_names = self._var_names + self._param_names
        self._requests: dict[tuple, _Compiled] = {}
        self._memo: dict[Any, Any] = {}
        self._lock = threading.RLock()

    # -- description ------------------------------------------------------------------
    @property
    def variables(self) -> tuple[str, ...]:
        return self._var_names

    @property
    def params(self) -> tuple[str, ...]:
        return self._param_names

    @property
    def n_variables(self) -> int:
        return len(self._vars)

    @property
    def is_vector(self) -> bool:
        return self.formula.is_vector

    @property
    def n_outputs(self) -> int:
        return len(self.formula.exprs)

    def __repr__(self) -> str:
        text = self.formula.sources[0] if not self.is_vector else list(self.formula.sources)
        extra = f", params={list(self.params)}" if self.params else ""
        return f"<symgrad.Evaluator {text!r} variables={list(self.variables)}{extra}>"

    # -- symbolic results ---------------------------------------------------------------
    @property
    def expr(self) -> sympy.Expr:
        """The SymPy expression (scalar formulas)."""
        self._require_scalar("expr", "exprs")
        return self.formula.exprs[0]

    @property
    def exprs(self) -> tuple[sympy.Expr, ...]:
        return self.formula.exprs

    def _jac(self) -> tuple[tuple[sympy.Expr, ...], ...]:
        return self._memoize(
            "jacobian", lambda: derive.jacobian(self.formula.exprs, self._vars, self.simplify)
        )

    def _hess_upper(self, k: int = 0) -> dict:
        return self._memoize(
            ("hessian", k),
            lambda: derive.hessian_upper(self._jac()[k], self._vars, self.simplify),
        )

    @property
    def gradient_exprs(self) -> tuple[sympy.Expr, ...]:
        """The gradient as SymPy expressions, one per variable (scalar formulas)."""
        self._require_scalar("gradient_exprs", "jacobian_exprs")
        return self._jac()[0]

    @property
    def jacobian_exprs(self) -> sympy.ImmutableMatrix:
        """The Jacobian, an m x n SymPy matrix."""
        return sympy.ImmutableMatrix(self._jac())

    @property
    def hessian_exprs(self) -> sympy.ImmutableMatrix:
        """The Hessian, an n x n symmetric SymPy matrix (scalar formulas)."""
        self._require_scalar("hessian_exprs")
        n = self.n_variables
        upper = self._hess_upper(0)
        return sympy.ImmutableMatrix(
            n, n, lambda i, j: upper.get((min(i, j), max(i, j)), sympy.S.Zero)
        )

    def partial(self, *names: str) -> Evaluator:
        """An evaluator of one mixed partial derivative, e.g. ``f.partial("x", "x", "y")``.

        It takes the same arguments as this evaluator and returns shape ``S``.
        """
        self._require_scalar("partial")
        if not names:
            raise InputError("partial() needs at least one variable name, e.g. partial('x').")
        wrt = [self._symbol(name) for name in names]
        expr = self._guarded(derive.partial(self.formula.exprs[0], wrt, self.simplify))
        label = "d" + "".join(names)
        sub = Formula(
            sources=(f"{label}[{self.formula.sources[0]}]",),
            exprs=(expr,),
            variables=self._vars,
            params=self._params,
            is_vector=False,
        )
        return Evaluator(
            sub, dtype=self.dtype, cse=self.cse, simplify=False, parallel=self.parallel
        )

    def _symbol(self, name: str) -> sympy.Symbol:
        for s in self._vars:
            if s.name == name:
                return s
        raise InputError(
            f"{name!r} is not a variable of this formula; variables are "
            f"{_natural_join(self.variables)}."
        )

    # -- code -----------------------------------------------------------------------------
    @property
    def source(self) -> str:
        """Generated kernel source for ``value_and_gradient`` (``jacobian`` for vectors)."""
        return self.kernel_source("value", "jacobian" if self.is_vector else "gradient")

    def kernel_source(self, *outputs: str) -> str:
        """Generated source of the fused kernel for the named outputs.

        Parameters
        ----------
        *outputs : str
            Any of 'value', 'gradient', 'jacobian', 'hessian'.
        """
        return self._request(tuple(outputs)).source

    @property
    def program(self) -> Program:
        """The Program (CSE'd straight-line code) behind ``source``."""
        return self._request(("value", "jacobian" if self.is_vector else "gradient")).program

    # -- evaluation -------------------------------------------------------------------------
    def __call__(self, *args, out: np.ndarray | None = None, **kwargs) -> np.ndarray:
        """Value: shape ``S`` (scalar formula) or ``S + (m,)`` (vector formula)."""
        return self._evaluate(("value",), args, kwargs, out)[0]

    def gradient(self, *args, out: np.ndarray | None = None, **kwargs) -> np.ndarray:
        """Gradient, shape ``S + (n,)``, component k = derivative by variable k."""
        self._require_scalar("gradient", "jacobian")
        return self._evaluate(("gradient",), args, kwargs, out)[0]

    def jacobian(self, *args, out: np.ndarray | None = None, **kwargs) -> np.ndarray:
        """Jacobian, shape ``S + (m, n)``: entry (i, k) = d formula_i / d variable_k."""
        return self._evaluate(("jacobian",), args, kwargs, out)[0]

    def hessian(self, *args, out: np.ndarray | None = None, **kwargs) -> np.ndarray:
        """Hessian, shape ``S + (n, n)`` (``S + (m, n, n)`` for vectors), symmetric."""
        return self._evaluate(("hessian",), args, kwargs, out)[0]

    @property
    def hessian_structure(self) -> tuple[np.ndarray, np.ndarray]:
        """``(rows, cols)`` of the Hessian's structurally nonzero upper-triangle entries."""
        self._require_scalar("hessian_structure")
        keys = sorted(self._hess_upper(0))
        rows = np.array([i for i, _ in keys], dtype=np.intp)
        cols = np.array([j for _, j in keys], dtype=np.intp)
        return rows, cols

    def sparse_hessian(self, *args, out: np.ndarray | None = None, **kwargs) -> SparseHessian:
        """Only the structurally nonzero Hessian entries (upper triangle), ``S + (nnz,)``.

        For large sparse Hessians (Rosenbrock's is tridiagonal: 2n - 1 distinct entries
        of n*n) this computes and stores nnz numbers per point instead of n*n.
        ``result.to_dense()`` gives the full ``S + (n, n)`` array.
        """
        rows, cols = self.hessian_structure
        values = self._evaluate(("sparse_hessian",), args, kwargs, out)[0]
        return SparseHessian(rows, cols, values, self.n_variables)

    def value_and_gradient(self, *args, **kwargs) -> tuple[np.ndarray, np.ndarray]:
        """Value and gradient from one fused pass (shared subexpressions)."""
        self._require_scalar("value_and_gradient", "value_and_jacobian")
        return self._evaluate(("value", "gradient"), args, kwargs, None)

    def value_and_jacobian(self, *args, **kwargs) -> tuple[np.ndarray, np.ndarray]:
        """Value and Jacobian from one fused pass."""
        return self._evaluate(("value", "jacobian"), args, kwargs, None)

    def value_gradient_hessian(
        self, *args, **kwargs
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Value, gradient and Hessian from one fused pass."""
        self._require_scalar("value_gradient_hessian")
        return self._evaluate(("value", "gradient", "hessian"), args, kwargs, None)

    def gradient_and_hessian(self, *args, **kwargs) -> tuple[np.ndarray, np.ndarray]:
        """Gradient and Hessian from one fused pass."""
        self._require_scalar("gradient_and_hessian")
        return self._evaluate(("gradient", "hessian"), args, kwargs, None)

    def hvp(self, *args, direction, out: np.ndarray | None = None, **kwargs) -> np.ndarray:
        """Hessian-vector product ``H @ direction``, shape ``S + (n,)``.

        Computed without forming the Hessian: the kernel evaluates the gradient of the
        directional derivative. ``direction`` has shape ``(n,)`` or broadcasts to
        ``S + (n,)``.
        """
        self._require_scalar("hvp")
        d = _as_float(direction, "direction", self.dtype)
        n = self.n_variables
        if d.ndim == 0 or d.shape[-1] != n:
            raise InputError(
                f"direction must have shape (..., {n}) (one entry per variable "
                f"{_natural_join(self.variables)}), got shape {d.shape}."
            )
        extra = tuple(d[..., k] for k in range(n))
        return self._evaluate(("hvp",), args, kwargs, out, extra=extra)[0]

    def derivative(self, *args, order: int, out: np.ndarray | None = None, **kwargs):
        """All partial derivatives of the given order, shape ``S + (n,)*order``.

        ``order=1`` is the gradient, ``order=2`` the Hessian; each distinct mixed
        partial is derived and computed once and stored in every symmetric position.
        """
        self._require_scalar("derivative")
        if not isinstance(order, (int, np.integer)) or isinstance(order, bool) or order < 0:
            raise InputError(f"order must be a non-negative integer, not {order!r}.")
        if order > MAX_ORDER:
            raise InputError(f"order={order} is too high (at most {MAX_ORDER} is supported).")
        return self._evaluate((("derivative", int(order)),), args, kwargs, out)[0]

    def _require_scalar(self, what: str, instead: str | None = None) -> None:
        if self.is_vector:
            hint = f" Use {instead} instead." if instead else ""
            raise InputError(f"{what} is defined for scalar formulas only.{hint}")

    # -- requests: outputs -> Program -> Kernel ---------------------------------------------
    def _memoize(self, key, make):
        with self._lock:
            if key not in self._memo:
                self._memo[key] = make()
            return self._memo[key]

    def _guard(self, k: int = 0) -> sympy.Expr:
        """0 inside formula k's real domain, NaN outside (see ``derive.domain_guard``)."""
        return self._memoize(("guard", k), lambda: derive.domain_guard(self.formula.exprs[k]))

    def _guarded(self, expr: sympy.Expr, k: int = 0) -> sympy.Expr:
        # Structural zeros stay zero (not computed at all); every other derivative is
        # NaN wherever formula k is undefined on the reals.
        return expr + self._guard(k) if expr != 0 else expr

    def _output_spec(self, name) -> tuple:
        n, m = self.n_variables, self.n_outputs
        exprs = self.formula.exprs
        g = self._guarded
        if name == "value":
            shape = (m,) if self.is_vector else ()
            return ("value", shape, [((k,), e) for k, e in enumerate(exprs)])
        if name == "gradient":
            return ("gradient", (n,), [((k,), g(e)) for k, e in enumerate(self._jac()[0])])
        if name == "jacobian":
            shape = (m, n)
            entries = [
                ((i * n + k,), g(e, i))
                for i, row in enumerate(self._jac())
                for k, e in enumerate(row)
            ]
            return ("jacobian", shape, entries)
        if name == "hessian":
            entries = []
            for f in range(m):
                for ij, e in self._hess_upper(f).items():
                    positions = derive.symmetric_positions(ij, n)
                    entries.append(([f * n * n + p for p in positions], g(e, f)))
            shape = (m, n, n) if self.is_vector else (n, n)
            return ("hessian", shape, entries)
        if name == "sparse_hessian":
            upper = self._hess_upper(0)
            entries = [((k,), g(upper[ij])) for k, ij in enumerate(sorted(upper))]
            return ("sparse_hessian", (len(upper),), entries)
        if name == "hvp":
            hv = self._memoize(
                "hvp",
                lambda: derive.hessian_vector_product(
                    self._jac()[0], self._vars, self._direction_symbols(), self.simplify
                ),
            )
            return ("hvp", (n,), [((k,), g(e)) for k, e in enumerate(hv)])
        if isinstance(name, tuple) and name[0] == "derivative":
            order = name[1]
            tensor = self._memoize(
                name,
                lambda: derive.derivative_tensor(exprs[0], self._vars, order, self.simplify),
            )
            entries = [
                (derive.symmetric_positions(idx, n), g(e) if order else e)
                for idx, e in tensor.items()
            ]
            return ("derivative", (n,) * order, entries)
        raise InputError(
            f"unknown output {name!r}; choose from 'value', 'gradient', 'jacobian', 'hessian'."
        )

    def _direction_symbols(self) -> tuple[sympy.Dummy, ...]:
        return self._memoize(
            "direction", lambda: tuple(sympy.Dummy(f"d{k}", real=True) for k in range(self.n_variables))
        )

    def _request(self, outputs: tuple) -> _Compiled:
        with self._lock:
            compiled = self._requests.get(outputs)
            if compiled is None:
                specs = [self._output_spec(name) for name in outputs]
                inputs = self._vars + self._params
                if "hvp" in outputs:
                    inputs = inputs + self._direction_symbols()
                program = build_program(specs, inputs, cse=self.cse)
                from . import __version__

                names = self.variables + self.params + tuple(
                    f"direction[{k}]" for k in range(self.n_variables) if "hvp" in outputs
                )
                source = generate_source(program, names, __version__)
                compiled = _Compiled(program, source, cost=_cost_per_point(source))
                self._requests[outputs] = compiled
            return compiled

    def _kernel(self, compiled: _Compiled):
        if compiled.kernel is None:
            from .kernel import compile_kernel  # noqa: PLC0415 (kept next to its use)

            compiled.kernel = compile_kernel(compiled.source)
        return compiled.kernel

    # -- argument handling ---------------------------------------------------------------------
    def _bind(self, args: tuple, kwargs: dict) -> list[np.ndarray]:
        """Map positional/keyword arguments to one float array per input, in order."""
        names = self.variables
        n = len(names)
        values: dict[str, Any] = {}
        if len(args) == n:
            values.update(zip(names, args))
        elif len(args) == 1 and n > 1:
            points = _as_float(args[0], "points", self.dtype)
            if points.ndim == 0 or points.shape[-1] != n:
                raise InputError(
                    f"expected {n} arrays ({_natural_join(names)}) or one array of points "
                    f"with shape (..., {n}); got one argument of shape {points.shape}."
                )
            values.update((name, points[..., k]) for k, name in enumerate(names))
        elif args:
            raise InputError(
                f"expected {n} positional arguments ({_natural_join(names)}) or one array "
                f"of points with shape (..., {n}); got {len(args)}."
            )
        for key, value in kwargs.items():
            if key in values:
                raise InputError(f"{key!r} was given both positionally and by keyword.")
            if key not in names and key not in self.params:
                known = names + self.params
                close = [k for k in known if k.lower() == key.lower()]
                close = close or difflib.get_close_matches(key, known, n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise InputError(
                    f"unknown argument {key!r}: variables are {_natural_join(names)}; "
                    f"parameters are {_natural_join(self.params)}.{hint}"
                )
            values[key] = value
        missing = [k for k in names + self.params if k not in values]
        if missing:
            kind = "parameter" if missing[0] in self.params else "variable"
            raise InputError(
                f"missing {kind} {missing[0]!r}: pass {missing[0]}=... (a number or an "
                "array that broadcasts with the other inputs)."
            )
        return [_as_float(values[k], k, self.dtype) for k in names + self.params]

    def _scalar_call(self, outputs: tuple, args: tuple, kwargs: dict, extra: tuple = ()):
        """One point given as Python/NumPy floats: skip the array machinery.

        Returns None when this call does not qualify (then the general path runs);
        results are identical to the general path's (the same serial kernel).
        """
        compiled = self._requests.get(outputs)
        if compiled is None or compiled.scalar_layout is None or self.dtype != np.float64:
            return None
        if len(args) != len(self._var_names) or len(kwargs) != len(self._param_names):
            return None
        values = []
        for a in args:
            if type(a) is not float and not isinstance(a, (float, np.floating)):
                return None
            values.append(float(a))
        for name in self._param_names:
            a = kwargs.get(name)
            if a is None or (type(a) is not float and not isinstance(a, (float, np.floating))):
                return None
            values.append(float(a))
        for a in extra:  # hvp's direction components
            if a.ndim:
                return None
            values.append(float(a))
        program = compiled.program
        buffer = (np.zeros if program.zero_rows else np.empty)((program.n_rows, 1))
        compiled.point(*values, buffer)
        return [
            buffer[offset, 0] if shape == () else buffer[offset : offset + size, 0].reshape(shape)
            for offset, size, shape in compiled.scalar_layout
        ]

    def _evaluate(self, outputs: tuple, args, kwargs, out, extra: tuple = ()):
        if out is None:
            fast = self._scalar_call(outputs, args, kwargs, extra)
            if fast is not None:
                return fast
        inputs = self._bind(args, kwargs) + list(extra)
        labels = self.variables + self.params + tuple(f"direction[{k}]" for k in range(len(extra)))
        shape = inputs[0].shape if inputs else ()
        try:
            if any(a.shape != shape for a in inputs):
                shape = np.broadcast_shapes(*(a.shape for a in inputs))
        except ValueError:
            detail = ", ".join(f"{name}: {a.shape}" for name, a in zip(labels, inputs))
            raise InputError(f"input shapes do not broadcast together ({detail}).") from None
        npoints = math.prod(shape)
        flat = [_flatten(a, shape, npoints) for a in inputs]
        compiled = self._request(outputs)
        program = compiled.program
        buffer, finish = self._output_buffer(program, outputs, shape, npoints, out)
        if npoints > 0 and program.results:
            kernel = self._kernel(compiled)
            if shape == ():
                kernel.point(tuple(a[0] for a in flat), buffer)
                if self.dtype == np.float64:
                    # kernel_point is now compiled for floats: later single-point
                    # calls can take the short path (_scalar_call).
                    compiled.point = kernel.dispatcher("kernel_point")
                    compiled.scalar_layout = tuple(
                        (b.offset, b.size, b.shape) for b in program.blocks
                    )
            elif not (self.tiered and self._array_tier(compiled, kernel, flat, buffer)):
                parallel = (
                    self.parallel
                    if self.parallel != "auto"
                    else npoints * compiled.cost >= PARALLEL_WORK_NS
                )
                kernel(tuple(flat), buffer, _threads() if parallel else 1)
        if finish is not None:
            return [finish(_block_view(buffer, program.blocks[0], shape))]
        return [_block_view(buffer, block, shape) for block in program.blocks]

    def _array_tier(self, compiled: _Compiled, kernel, flat: list, buffer) -> bool:
        """Answer with NumPy while the kernel compiles in the background (tiered=True).

        Returns False once the kernel is ready (or when the program has no NumPy
        form), and the caller runs the kernel.
        """
        job = compiled.compiling
        if job is not None and job.done():
            job.result()  # re-raises a compilation error, if any
            return False
        if compiled.array_fn is False:
            from .codegen import generate_array_source  # noqa: PLC0415

            source = generate_array_source(compiled.program)
            namespace: dict = {}
            if source is not None:
                exec(compile(source, "<symgrad array tier>", "exec"), namespace)  # noqa: S102
            compiled.array_fn = namespace.get("evaluate")
        if compiled.array_fn is None:
            return False
        with np.errstate(all="ignore"):
            n = buffer.shape[1]
            for lo in range(0, n, _ARRAY_CHUNK):
                hi = min(n, lo + _ARRAY_CHUNK)
                compiled.array_fn(*(a[lo:hi] for a in flat), buffer[:, lo:hi])
        if job is None:
            # Only now (the answer is ready, nothing competes for the GIL) start
            # compiling for exactly these argument kinds (contiguous or zero-stride
            # arrays of this dtype), on one point, in a background thread.
            # (A zero-stride input keeps length 2, or NumPy would call it contiguous
            # and numba would compile the wrong variant.)
            probe = tuple(a[:1] if a.strides[0] else a[:2] for a in flat)
            scratch = np.zeros((buffer.shape[0], 1), dtype=buffer.dtype)
            compiled.compiling = _background(lambda: kernel(probe, scratch, 1))
        return True

    def _output_buffer(self, program: Program, outputs, shape, npoints, out):
        rows = program.n_rows
        if out is None:
            alloc = np.zeros if program.zero_rows else np.empty
            return alloc((rows, npoints), dtype=self.dtype), None
        if len(outputs) != 1:
            raise InputError("out= is supported for single-output methods only.")
        block = program.blocks[0]
        expected = shape + block.shape
        if not isinstance(out, np.ndarray) or out.shape != expected or out.dtype != self.dtype:
            got = (out.shape, out.dtype) if isinstance(out, np.ndarray) else type(out).__name__
            raise InputError(
                f"out must be a {self.dtype} array of shape {expected}; got {got}."
            )
        if not out.flags.writeable:
            raise InputError("out is read-only.")
        k = len(block.shape)
        moved = np.moveaxis(out, tuple(range(-k, 0)), tuple(range(k))) if k else out
        if moved.flags.c_contiguous:
            buffer = moved.reshape(rows, npoints)  # a view: the kernel writes into out
            if program.zero_rows:
                buffer[list(program.zero_rows)] = 0
            return buffer, lambda _: out
        # out has another memory order: compute, then copy into it.
        alloc = np.zeros if program.zero_rows else np.empty

        def finish(result):
            np.copyto(out, result)
            return out

        return alloc((rows, npoints), dtype=self.dtype), finish

    # -- adapters ----------------------------------------------------------------------------
    def for_scipy(self, x0=None, **params) -> dict:
        """Keyword arguments for ``scipy.optimize.minimize``: fun, jac, hess (, x0).

        ``scipy.optimize.minimize(**f.for_scipy(x0=[-1.2, 1.0], method="trust-exact"))``.
        Each callable takes a 1-D vector in variable order; ``params`` are fixed numbers.
        ``method=...`` is passed through and only the callables that method uses are
        included; ``hessp=True`` gives ``hessp(x, p)`` instead of ``hess``.
        fun/jac/hess share one fused kernel call per point.
        See ``symgrad.optimize.minimize_kwargs``.
        """
        from .optimize import minimize_kwargs

        return minimize_kwargs(self, x0=x0, **params)

    def for_least_squares(self, data, x0=None, *, observed=None, **params) -> dict:
        """Keyword arguments for ``scipy.optimize.least_squares``: fun (residuals), jac (, x0).

        The formula's variables are the fitted parameters; ``data`` maps the
        evaluator's params (e.g. ``t``) to the sample arrays; residual
        ``= f(theta; data) - observed``. See ``symgrad.optimize.least_squares_kwargs``.
        """
        from .optimize import least_squares_kwargs

        return least_squares_kwargs(self, data, x0=x0, observed=observed, **params)

    # -- test support ---------------------------------------------------------------------------
    def evaluate_python(self, outputs: Sequence[str], *args, **kwargs) -> list[np.ndarray]:
        """Run the generated source as plain Python (no numba): the reference in tests.

        Slow (interpreted, one point at a time); for small inputs only.
        """
        compiled = self._request(tuple(outputs))
        inputs = self._bind(args, kwargs)
        shape = np.broadcast_shapes(*(a.shape for a in inputs))
        npoints = math.prod(shape)
        flat = [_flatten(a, shape, npoints) for a in inputs]
        buffer = np.zeros((compiled.program.n_rows, npoints), dtype=self.dtype)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._kernel(compiled).python(*flat, buffer, 0, npoints)
        return [_block_view(buffer, block, shape) for block in compiled.program.blocks]

    def cache_stats(self) -> dict[str, int]:
        """numba disk-cache hits/misses of this evaluator's kernels in this process."""
        total = {"hits": 0, "misses": 0}
        for compiled in self._requests.values():
            if compiled.kernel is not None:
                for key, value in compiled.kernel.cache_stats().items():
                    total[key] += value
        return total


def _as_float(value: Any, name: str, dtype: np.dtype) -> np.ndarray:
    """``value`` as an array of ``dtype``, or InputError saying what is wrong with it."""
    if type(value) is np.ndarray and value.dtype == dtype:
        return value  # the common case, kept cheap: it runs for every input of a call
    try:
        arr = np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise InputError(f"{name} cannot be converted to an array: {exc}") from None
    kind = arr.dtype.kind
    if kind in "fiub":
        return arr.astype(dtype, copy=False)
    if kind == "c":
        raise InputError(
            f"{name} is complex; symgrad evaluates real formulas. Pass the real part "
            f"({name}.real) if that is what you mean."
        )
    raise InputError(f"{name} has dtype {arr.dtype}; expected real numbers.")


def _flatten(a: np.ndarray, shape: tuple[int, ...], n: int) -> np.ndarray:
    """A kernel argument: a 1-D array of the ``n`` points of ``shape``.

    An input of the full shape becomes a contiguous array (a view when it already is);
    a single value a zero-stride view of it (no copy: one compiled kernel serves every
    N > 1); anything else is broadcast and copied.
    """
    if a.shape == shape:
        return a.reshape(-1) if a.flags.c_contiguous else np.ascontiguousarray(a).reshape(-1)
    if a.size == 1:
        one = np.ascontiguousarray(a.reshape(1))
        return np.ndarray((n,), one.dtype, buffer=one, strides=(0,))
    return np.ascontiguousarray(np.broadcast_to(a, shape)).reshape(-1)
