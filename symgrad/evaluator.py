"""Evaluator: the compiled formula a user holds, with its argument rules and layouts.

Arguments
---------
Variables come positionally in variable order, ``f(x, y)``, or by name, ``f(x=..., y=...)``,
or as one array of points whose last axis runs over the variables, ``f(points)`` with
``points.shape == (..., n)`` (the layout optimizers use; only when n > 1).
Parameters come by name, ``f(x, y, a=2.0)``, or positionally after all the variables
(see ``symgrad._bind``). All inputs broadcast together (NumPy rules) to one shape
``S``; scalars are broadcast without being copied.

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
``f.laplacian``        ``S``                   --
``f.divergence``       --                      ``S`` (m == n)
``f.curl``             --                      ``S + (3,)``; 2-D: ``S``
=====================  ======================  =========================

``f.evaluate(..., outputs=("value", "gradient", "hessian"))`` computes any set of
outputs in one fused pass and returns a tuple in the order asked; the output kinds
are listed in ``symgrad.outputs``.

Every output component is stored contiguously (``g[..., 0]`` is a C-contiguous array),
because the kernel writes one component per row of a ``(rows, N)`` buffer and the
result is a view of it. Use ``np.ascontiguousarray`` for point-major memory.

dtype: float64 by default. ``compile(..., dtype="float32")`` makes inputs and outputs
float32 (literal constants are float64, so arithmetic is at least float32-accurate).
Integer and boolean inputs are converted; complex, object and string inputs are
rejected with ``InputError``.

``out=`` may overlap an input (``f.gradient(P, out=P)``): the result is computed into a
temporary first, as NumPy's ufuncs guarantee.

Evaluators pickle by their request (formula, names, options): unpickling in another
process rebuilds the evaluator there, loading its kernels from the disk cache.
"""

from __future__ import annotations

import math
import re
import threading
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from . import _threads
from . import arrays as _arrays
from . import outputs as kinds
from . import request_cache as _disk
from ._bind import Binder, as_float, join_names
from .backends import get_backend
from .errors import InputError, SymgradError, SymgradWarning
from .options import Options, make_options
from .outputs import MAX_ORDER, Request, normalize_request

# SymPy (and the modules that need it: parse.formula, derive, program) loads lazily:
# a request found in the request cache (symgrad.request_cache) runs without it.
if TYPE_CHECKING:  # pragma: no cover
    import sympy

    from .derive import Derivatives
    from .parse import Formula
    from .program import Program

__all__ = ["Evaluator", "SparseHessian", "PARALLEL_WORK_NS", "MAX_ORDER"]

#: See ``symgrad._threads.PARALLEL_WORK_NS`` (kept here for existing imports).
PARALLEL_WORK_NS = _threads.PARALLEL_WORK_NS

# NumPy broadcasts at most this many dimensions (np.broadcast_shapes raises beyond).
_MAX_DIMS = 32

#: Most variables in a ``partial(...)`` request (its order).
MAX_PARTIAL_ORDER = MAX_ORDER


@dataclass
class _Compiled:
    """One request's program and its kernels (built lazily)."""

    program: Program
    names: tuple[str, ...]
    cost: float  # estimated nanoseconds per point (for parallel="auto")
    kernel: Any = None  # the backend's CompiledKernel
    # (offset, size, shape) per block once the one-point kernel has run on floats:
    # enables Evaluator._scalar_call, the low-overhead path for one point.
    scalar_layout: tuple | None = None
    point: Any = None  # the compiled one-point function
    # tiered=True: the NumPy kernel (None: the program has no NumPy form) and the
    # background compilation of the numba kernel.
    array: Any = False
    compiling: Any = None
    # The request cache (symgrad.request_cache): this request's entry key, and whether
    # it came from there (its program is then a request_cache.CachedProgram).
    disk_key: str | None = None
    from_disk: bool = False
    auto_done: bool = False  # tiered="auto" has answered this request's first call
    has_results: bool = True


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


# Names whose natural order is also the order people write them in.
_COORDINATE_SETS = (("x", "y", "z"), ("u", "v", "w"))


def _conventional_order(names: tuple[str, ...]) -> bool:
    if len(names) <= 1:
        return True
    if any(set(names) <= set(c) for c in _COORDINATE_SETS):
        return True
    # x0, x1, ..., x10: one prefix, numbered (natural order is numeric order)
    prefixes = {re.fullmatch(r"(\D+?)_?\d+", n).group(1) if re.fullmatch(r"\D+?_?\d+", n)
                else None for n in names}
    return len(prefixes) == 1 and None not in prefixes


class Evaluator:
    """A formula compiled for fast evaluation of its value and derivatives.

    Create with :func:`symgrad.compile`. Kernels are generated on first use of each
    set of outputs and compiled by the backend (numba by default, then cached on disk,
    see ``symgrad.kernel``).

    Attributes
    ----------
    formula : Formula
        The parsed formula.
    variables : tuple of str
        Differentiated inputs, in argument order.
    params : tuple of str
        Parameters (keyword arguments, or positional after the variables).
    options : Options
        The compile options (immutable; see :meth:`with_options`).
    """

    def __init__(
        self,
        formula: Formula,
        options: Options | None = None,
        *,
        inferred_order: bool = False,
        request: tuple | None = None,
        **legacy_options: Any,
    ):
        if options is None:
            options = make_options(**legacy_options)
        elif legacy_options:
            options = options.replace(**legacy_options)
        self._formula_value = formula
        self._setup(options, formula.variable_names, formula.param_names, formula.sources,
                    formula.is_vector, len(formula.exprs), inferred_order, request)

    def _setup(self, options, variable_names, param_names, sources, is_vector, n_outputs,
               inferred_order, request) -> None:
        self._options = options
        self._dtype = np.dtype(options.dtype)
        self._backend = get_backend(options.backend)
        self._binder = Binder(variable_names, param_names)
        self._derivatives_value = None
        self._sources, self._is_vector, self._n_outputs = sources, is_vector, n_outputs
        self._disk_key: str | None = None  # the request cache's formula key, if any
        # How to rebuild this evaluator elsewhere (pickling): the request as given to
        # compile, or None for evaluators built from a Formula directly.
        self._request_args = request
        self._order_warning = (
            None
            if not inferred_order or _conventional_order(variable_names)
            else (
                "symgrad: the variables of this formula were not given, so they are in "
                f"natural name order ({', '.join(variable_names)}), and this "
                "positional call binds its arguments in that order. Pass variables= "
                "to compile (or call by keyword) if that is not the order you mean."
            )
        )
        self._requests: dict[Request, _Compiled] = {}
        self._item_memo: dict[tuple, Request] = {}
        self._lock = threading.RLock()

    @classmethod
    def _from_cache(cls, light, options: Options, request: tuple, key: str) -> Evaluator:
        """An evaluator of a request the request cache knows (Formula parsed lazily)."""
        self = cls.__new__(cls)
        self._formula_value = None
        self._setup(options, light.variables, light.params, light.sources, light.is_vector,
                    len(light.sources), light.inferred, request)
        self._disk_key = key
        return self

    # The Formula and the Derivatives are built on first use (SymPy loads then).
    @property
    def _formula(self):
        if self._formula_value is None:
            from .parse import parse

            with self._lock:
                if self._formula_value is None:
                    formula = parse(*self._request_args)
                    if (formula.variable_names != self.variables
                            or formula.param_names != self.params):
                        raise SymgradError("internal: the request cache's names differ "
                                           "from the parsed formula's")
                    self._formula_value = formula
        return self._formula_value

    @property
    def _derivatives(self):
        if self._derivatives_value is None:
            from .derive import Derivatives

            f = self._formula
            with self._lock:
                if self._derivatives_value is None:
                    self._derivatives_value = Derivatives(
                        f.exprs, f.variables, self._options.simplify, f.is_vector
                    )
        return self._derivatives_value

    # -- description ------------------------------------------------------------------
    formula = property(lambda self: self._formula, doc="The parsed Formula.")
    options = property(lambda self: self._options, doc="The compile Options (immutable).")
    dtype = property(lambda self: self._dtype, doc="Input and output dtype.")
    cse = property(lambda self: self._options.cse)
    simplify = property(lambda self: self._options.simplify)
    parallel = property(lambda self: self._options.parallel)
    tiered = property(lambda self: self._options.tiered)
    backend = property(lambda self: self._options.backend)

    @property
    def variables(self) -> tuple[str, ...]:
        return self._binder.variables

    @property
    def params(self) -> tuple[str, ...]:
        return self._binder.params

    @property
    def n_variables(self) -> int:
        return len(self._binder.variables)

    @property
    def is_vector(self) -> bool:
        return self._is_vector

    @property
    def n_outputs(self) -> int:
        return self._n_outputs

    def __repr__(self) -> str:
        text = self._sources[0] if not self.is_vector else list(self._sources)
        extra = f", params={list(self.params)}" if self.params else ""
        return f"<symgrad.Evaluator {text!r} variables={list(self.variables)}{extra}>"

    def with_options(self, **changes: Any) -> Evaluator:
        """A new evaluator of the same formula with some options changed.

        ``f.with_options(dtype="float32")``; this evaluator is unchanged.
        """
        options = self._options.replace(**changes)
        if self._request_args is not None:
            return Evaluator.for_request(*self._request_args, options)
        return Evaluator(self._formula, options)

    # -- construction through the in-memory cache ------------------------------------------
    @classmethod
    def for_request(cls, formula, variables, params, options: Options) -> Evaluator:
        """The evaluator of a request, from this process's cache or newly parsed.

        ``formula``/``variables``/``params`` as given to ``symgrad.compile``; equal
        requests return the same evaluator (and so share compiled kernels).
        """
        key = _request_key(formula, variables, params, options)
        if key is not None:
            with _cache_lock:
                hit = _cache.get(key)
                if hit is not None:
                    _cache.move_to_end(key)
                    return hit
        evaluator, disk_key = (
            _warm_evaluator(cls, formula, variables, params, options)
            if key is not None else (None, None)
        )
        if evaluator is None:
            from .parse import parse

            evaluator = cls(
                parse(formula, variables=variables, params=params),
                options,
                inferred_order=variables is None,
                request=(formula, variables, params) if key is not None else None,
            )
            if disk_key is not None:
                _record_formula(evaluator, disk_key)
        if key is not None:
            with _cache_lock:
                evaluator = _cache.setdefault(key, evaluator)
                while len(_cache) > CACHE_SIZE:
                    _cache.popitem(last=False)
        return evaluator

    def __reduce__(self):
        if self._request_args is not None:
            return (_rebuild_request, (*self._request_args, self._options))
        return (Evaluator, (self._formula, self._options))

    # -- symbolic results ---------------------------------------------------------------
    @property
    def expr(self) -> sympy.Expr:
        """The SymPy expression (scalar formulas)."""
        self._require_scalar("expr", "exprs")
        return self._formula.exprs[0]

    @property
    def exprs(self) -> tuple[sympy.Expr, ...]:
        return self._formula.exprs

    @property
    def derivatives(self) -> Derivatives:
        """The symbolic derivatives (``symgrad.derive.Derivatives``), derived on demand."""
        return self._derivatives

    @property
    def gradient_exprs(self) -> tuple[sympy.Expr, ...]:
        """The gradient as SymPy expressions, one per variable (scalar formulas)."""
        self._require_scalar("gradient_exprs", "jacobian_exprs")
        return self._derivatives.jacobian()[0]

    @property
    def jacobian_exprs(self) -> sympy.ImmutableMatrix:
        """The Jacobian, an m x n SymPy matrix."""
        import sympy

        return sympy.ImmutableMatrix(self._derivatives.jacobian())

    @property
    def hessian_exprs(self) -> sympy.ImmutableMatrix:
        """The Hessian, an n x n symmetric SymPy matrix (scalar formulas)."""
        import sympy

        self._require_scalar("hessian_exprs")
        n = self.n_variables
        upper = self._derivatives.hessian_upper(0)
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
        if len(names) > MAX_PARTIAL_ORDER:
            raise InputError(
                f"partial() of order {len(names)} is too high (at most "
                f"{MAX_PARTIAL_ORDER} variables)."
            )
        from .derive import partial as derive_partial
        from .parse import Formula

        wrt = [self._symbol(name) for name in names]
        d = self._derivatives
        expr = d.guarded(derive_partial(self._formula.exprs[0], wrt, self.simplify))
        f = self._formula
        sub = Formula(
            sources=(f"d{''.join(names)}[{f.sources[0]}]",),
            exprs=(expr,),
            variables=f.variables,
            params=f.params,
            is_vector=False,
        )
        return Evaluator(sub, self._options.replace(simplify=False))

    def _symbol(self, name: str) -> sympy.Symbol:
        for s in self._formula.variables:
            if s.name == name:
                return s
        raise InputError(
            f"{name!r} is not a variable of this formula; variables are "
            f"{join_names(self.variables)}."
        )

    # -- code -----------------------------------------------------------------------------
    @property
    def source(self) -> str:
        """Generated kernel source for value and gradient (Jacobian for vectors)."""
        return self.kernel_source("value", "jacobian" if self.is_vector else "gradient")

    def kernel_source(self, *outputs: str, order: int | None = None) -> str:
        """Generated source of the fused kernel for the named outputs.

        Parameters
        ----------
        *outputs : str
            Output kinds (``symgrad.outputs.OUTPUTS``), e.g. 'value', 'gradient'.
        """
        return self._kernel(self._request(self._items(outputs, order))).source

    @property
    def program(self) -> Program:
        """The Program (CSE'd straight-line code) behind ``source``."""
        items = self._items(("value", "jacobian" if self.is_vector else "gradient"), None)
        return self._request(items).program

    # -- evaluation -------------------------------------------------------------------------
    def evaluate(
        self,
        /,
        *args,
        outputs: str | Sequence[str] = ("value",),
        out: np.ndarray | None = None,
        direction: Any = None,
        order: int | None = None,
        **kwargs,
    ) -> tuple:
        """Several outputs from one fused pass, as a tuple in the order asked.

        Parameters
        ----------
        *args, **kwargs
            The variables and parameters (see the module docstring).
        outputs : sequence of str
            Output kinds, e.g. ``("value", "gradient", "hessian")``; see
            ``symgrad.outputs.OUTPUTS``.
        out : ndarray or tuple of (ndarray or None), optional
            Where to write the results: one array per output, in order (None: that
            output is allocated); a single array for a single output.
        direction : array_like, shape (n,) or broadcasting to ``S + (n,)``
            The vector of ``"hvp"``.
        order : int
            The order of ``"derivative"``.

        Returns
        -------
        tuple of ndarray
            One array per requested output (``"sparse_hessian"``: a SparseHessian).
        """
        items = self._items(outputs, order)
        wants = {name for name, _ in items}
        if direction is not None and "hvp" not in wants:
            self._binder.check_keywords("direction")
        if order is not None and "derivative" not in wants:
            self._binder.check_keywords("order")
        extra = self._direction(direction) if "hvp" in wants else ()
        results = self._evaluate(items, args, kwargs, out, extra)
        return tuple(
            self._sparse(r) if name == "sparse_hessian" else r
            for (name, _), r in zip(items, results)
        )

    def __call__(self, /, *args, out: np.ndarray | None = None, **kwargs) -> np.ndarray:
        """Value: shape ``S`` (scalar formula) or ``S + (m,)`` (vector formula)."""
        return self._one("value", args, kwargs, out)

    def gradient(self, /, *args, out: np.ndarray | None = None, **kwargs) -> np.ndarray:
        """Gradient, shape ``S + (n,)``, component k = derivative by variable k."""
        return self._one("gradient", args, kwargs, out)

    def jacobian(self, /, *args, out: np.ndarray | None = None, **kwargs) -> np.ndarray:
        """Jacobian, shape ``S + (m, n)``: entry (i, k) = d formula_i / d variable_k."""
        return self._one("jacobian", args, kwargs, out)

    def hessian(self, /, *args, out: np.ndarray | None = None, **kwargs) -> np.ndarray:
        """Hessian, shape ``S + (n, n)`` (``S + (m, n, n)`` for vectors), symmetric."""
        return self._one("hessian", args, kwargs, out)

    def laplacian(self, /, *args, out: np.ndarray | None = None, **kwargs) -> np.ndarray:
        """Laplacian, the sum of the second derivatives by each variable; shape ``S``."""
        return self._one("laplacian", args, kwargs, out)

    def divergence(self, /, *args, out: np.ndarray | None = None, **kwargs) -> np.ndarray:
        """Divergence of a vector field (m formulas of n = m variables); shape ``S``."""
        return self._one("divergence", args, kwargs, out)

    def curl(self, /, *args, out: np.ndarray | None = None, **kwargs) -> np.ndarray:
        """Curl of a 3-D vector field, shape ``S + (3,)``; in 2-D the scalar curl, ``S``.

        For ``F = (F0, F1, F2)`` of ``(x, y, z)``: ``(dF2/dy - dF1/dz, dF0/dz - dF2/dx,
        dF1/dx - dF0/dy)``; in 2-D ``dF1/dx - dF0/dy``.
        """
        return self._one("curl", args, kwargs, out)

    @property
    def hessian_structure(self) -> tuple[np.ndarray, np.ndarray]:
        """``(rows, cols)`` of the Hessian's structurally nonzero upper-triangle entries."""
        self._require_scalar("hessian_structure")
        keys = sorted(self._derivatives.hessian_upper(0))
        rows = np.array([i for i, _ in keys], dtype=np.intp)
        cols = np.array([j for _, j in keys], dtype=np.intp)
        return rows, cols

    def sparse_hessian(self, /, *args, out: np.ndarray | None = None, **kwargs) -> SparseHessian:
        """Only the structurally nonzero Hessian entries (upper triangle), ``S + (nnz,)``.

        For large sparse Hessians (Rosenbrock's is tridiagonal: 2n - 1 distinct entries
        of n*n) this computes and stores nnz numbers per point instead of n*n.
        ``result.to_dense()`` gives the full ``S + (n, n)`` array.
        """
        return self._sparse(self._one("sparse_hessian", args, kwargs, out))

    def _sparse(self, values: np.ndarray) -> SparseHessian:
        rows, cols = self.hessian_structure
        return SparseHessian(rows, cols, values, self.n_variables)

    def value_and_gradient(self, /, *args, **kwargs) -> tuple[np.ndarray, np.ndarray]:
        """Value and gradient from one fused pass (shared subexpressions).

        The fused methods take ``out=(value_out, gradient_out)`` like ``evaluate``.
        """
        return self.evaluate(*args, outputs=("value", "gradient"), **kwargs)

    def value_and_jacobian(self, /, *args, **kwargs) -> tuple[np.ndarray, np.ndarray]:
        """Value and Jacobian from one fused pass."""
        return self.evaluate(*args, outputs=("value", "jacobian"), **kwargs)

    def value_gradient_hessian(
        self, /, *args, **kwargs
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Value, gradient and Hessian from one fused pass."""
        return self.evaluate(*args, outputs=("value", "gradient", "hessian"), **kwargs)

    def gradient_and_hessian(self, /, *args, **kwargs) -> tuple[np.ndarray, np.ndarray]:
        """Gradient and Hessian from one fused pass."""
        return self.evaluate(*args, outputs=("gradient", "hessian"), **kwargs)

    def hvp(self, /, *args, direction, out: np.ndarray | None = None, **kwargs) -> np.ndarray:
        """Hessian-vector product ``H @ direction``, shape ``S + (n,)``.

        Computed without forming the Hessian: the kernel evaluates the gradient of the
        directional derivative. ``direction`` has shape ``(n,)`` or broadcasts to
        ``S + (n,)``.
        """
        return self.evaluate(*args, outputs=("hvp",), direction=direction, out=out, **kwargs)[0]

    def derivative(self, /, *args, order: int, out: np.ndarray | None = None, **kwargs):
        """All partial derivatives of the given order, shape ``S + (n,)*order``.

        ``order=1`` is the gradient, ``order=2`` the Hessian; each distinct mixed
        partial is derived and computed once and stored in every symmetric position.
        """
        return self.evaluate(*args, outputs=("derivative",), order=order, out=out, **kwargs)[0]

    def _one(self, name: str, args, kwargs, out):
        return self._evaluate(self._items((name,), None), args, kwargs, out)[0]

    def _items(self, outputs, order) -> Request:
        # Memoized: this runs on every call (normalize_request validates and builds).
        key = (outputs, order)
        try:
            return self._item_memo[key]
        except (KeyError, TypeError):  # TypeError: an unhashable list of outputs
            pass
        items = normalize_request(
            outputs, self.n_variables, self.n_outputs, self.is_vector, order
        )
        try:
            self._item_memo[key] = items
        except TypeError:
            pass
        return items

    def _require_scalar(self, what: str, instead: str | None = None) -> None:
        if self.is_vector:
            hint = f" Use {instead} instead." if instead else ""
            raise InputError(f"{what} is defined for scalar formulas only.{hint}")

    def _direction(self, direction) -> tuple[np.ndarray, ...]:
        if direction is None:
            raise InputError("hvp needs direction=v, one entry per variable.")
        if _arrays.wants((direction,), {}):  # symgrad.arrays: a dask/xarray direction
            d = _arrays.direction(direction, self.variables, self._dtype)
        else:
            d = as_float(direction, "direction", self._dtype)
        n = self.n_variables
        if d.ndim == 0 or d.shape[-1] != n:
            raise InputError(
                f"direction must have shape (..., {n}) (one entry per variable "
                f"{join_names(self.variables)}), got shape {d.shape}."
            )
        return tuple(d[..., k] for k in range(n))

    # -- requests: outputs -> Program -> kernel ---------------------------------------------
    def _request(self, items: Request) -> _Compiled:
        if items and not isinstance(items[0], tuple):  # plain names, e.g. ("value",)
            items = self._items(items, None)
        with self._lock:
            compiled = self._requests.get(items)
            if compiled is None and self._disk_key is not None:
                compiled = self._cached_request(items)
                if compiled is not None:
                    self._requests[items] = compiled
            if compiled is None:
                from .program import build_program

                d = self._derivatives
                specs = []
                inputs = self._formula.variables + self._formula.params
                names = self.variables + self.params
                for name, arg in items:
                    kind = kinds.OUTPUTS[name]
                    specs.append((name, kind.shape(d, arg), kind.entries(d, arg)))
                    if kind.extra_inputs is not None:
                        extra = kind.extra_inputs(d)
                        inputs += extra
                        names += tuple(f"direction[{k}]" for k in range(len(extra)))
                program = build_program(specs, inputs, cse=self.cse)
                compiled = _Compiled(program, names, _threads.cost_per_point(program),
                                     has_results=bool(program.results))
                if self._disk_key is not None:
                    compiled.disk_key = _disk.request_key(self._disk_key, self._options, items)
                self._requests[items] = compiled
            return compiled

    def _cached_request(self, items: Request) -> _Compiled | None:
        """The request from the request cache (no SymPy), or None."""
        if not hasattr(self._backend, "from_source"):
            return None
        key = _disk.request_key(self._disk_key, self._options, items)
        payload = _disk.load(key)
        program = _disk.CachedProgram.from_payload(payload, lambda: self._full_program(items))
        if program is None:
            return None
        return _Compiled(program, tuple(payload["names"]), float(payload["cost"]),
                         kernel=self._backend.from_source(payload["source"]),
                         disk_key=key, from_disk=True, has_results=payload["has_results"])

    def _full_program(self, items: Request):
        """The Program of a request loaded from the request cache, built with SymPy."""
        with self._lock:
            compiled = self._requests.pop(items)
            try:
                disk_key, self._disk_key = self._disk_key, None
                program = self._request(items).program
            finally:
                self._disk_key = disk_key
                self._requests[items] = compiled
        return program

    def _kernel(self, compiled: _Compiled):
        if compiled.kernel is None:
            with self._lock:
                if compiled.kernel is None:
                    # options: the kernel's math (vector or libm)
                    kernel = self._backend.compile(
                        compiled.program, compiled.names, self._options
                    )
                    if compiled.disk_key is not None and hasattr(self._backend, "from_source"):
                        _disk.store(compiled.disk_key,
                                    _disk.request_payload(compiled, kernel.source))
                    compiled.kernel = kernel
        return compiled.kernel

    # -- calls --------------------------------------------------------------------------------
    def _scalar_call(self, items: Request, args: tuple, kwargs: dict, extra: tuple):
        """One point given as Python/NumPy floats: skip the array machinery.

        Returns None when this call does not qualify (then the general path runs);
        results are identical to the general path's (the same one-point kernel).
        """
        compiled = self._requests.get(items)
        if compiled is None or compiled.scalar_layout is None:
            return None
        if len(args) != len(self._binder.variables) or len(kwargs) != len(self._binder.params):
            return None
        values = []
        for a in args:
            if type(a) is not float and not isinstance(a, (float, np.floating)):
                return None
            values.append(float(a))
        for name in self._binder.params:
            a = kwargs.get(name)
            if a is None or (type(a) is not float and not isinstance(a, (float, np.floating))):
                return None
            values.append(float(a))
        for a in extra:  # hvp's direction components
            if a.ndim:
                return None
            values.append(float(a))
        if self._order_warning is not None:
            self._warn_order()
        program = compiled.program
        buffer = (np.zeros if program.zero_rows else np.empty)((program.n_rows, 1))
        compiled.point(values, buffer)
        return [
            buffer[offset, 0] if shape == () else buffer[offset : offset + size, 0].reshape(shape)
            for offset, size, shape in compiled.scalar_layout
        ]

    def _warn_order(self) -> None:
        message, self._order_warning = self._order_warning, None
        warnings.warn(message, SymgradWarning, stacklevel=4)

    def _evaluate(self, items: Request, args, kwargs, out, extra: tuple = ()):
        if out is None:
            fast = self._scalar_call(items, args, kwargs, extra)
            if fast is not None:
                return fast
        if out is not None and "out" in self._binder._known:
            self._binder.check_keywords("out")
        if args and self._order_warning is not None and self.n_variables > 1:
            self._warn_order()
        # -- symgrad.arrays: dask / xarray inputs get lazy, labelled results ---------
        if _arrays.wants(args, kwargs, extra):
            return _arrays.evaluate(self, items, args, kwargs, out, extra)
        # -- end symgrad.arrays ------------------------------------------------------
        originals = self._binder.bind(args, kwargs, self._dtype) + list(extra)
        inputs = originals
        labels = self._binder.names + tuple(f"direction[{k}]" for k in range(len(extra)))
        shape = inputs[0].shape if inputs else ()
        deepest = max((a.ndim for a in inputs), default=0)
        if deepest > _MAX_DIMS:
            raise InputError(
                f"an input has {deepest} dimensions; symgrad broadcasts inputs of at most "
                f"{_MAX_DIMS} dimensions (NumPy's broadcasting limit). Reshape it first."
            )
        try:
            if any(a.shape != shape for a in inputs):
                shape = np.broadcast_shapes(*(a.shape for a in inputs))
        except ValueError:
            detail = ", ".join(f"{name}: {a.shape}" for name, a in zip(labels, inputs))
            raise InputError(f"input shapes do not broadcast together ({detail}).") from None
        npoints = math.prod(shape)
        flat = [_flatten(a, shape, npoints) for a in inputs]
        compiled = self._request(items)
        program = compiled.program
        buffer, finish = self._output_buffer(program, shape, npoints, out, originals)
        if npoints > 0 and compiled.has_results:
            self._run(compiled, flat, buffer, npoints, shape == ())
        views = [_block_view(buffer, block, shape) for block in program.blocks]
        return views if finish is None else finish(views)

    def _run(self, compiled: _Compiled, flat: list, buffer, npoints: int, one_point: bool):
        kernel = self._kernel(compiled)
        if one_point:
            if self.tiered == "auto" and self._array_tier(compiled, kernel, flat, buffer, True):
                return
            kernel.run_point(tuple(a[0] for a in flat), buffer)
            if self._dtype == np.float64 and hasattr(kernel, "point_function"):
                # The one-point kernel is now compiled for floats: later single-point
                # calls can take the short path (_scalar_call).
                compiled.point = kernel.point_function()
                compiled.scalar_layout = tuple(
                    (b.offset, b.size, b.shape) for b in compiled.program.blocks
                )
            return
        if self.tiered and self._array_tier(compiled, kernel, flat, buffer):
            return
        threads = (
            _threads.use_threads(self.parallel, npoints, compiled.cost)
            if kernel.releases_gil else 1
        )
        if threads == 1:
            kernel.run(flat, buffer, 0, npoints)  # the common case, kept short
        else:
            _threads.run_chunked(
                lambda lo, hi: kernel.run(flat, buffer, lo, hi), npoints, threads
            )

    def _array_tier(self, compiled: _Compiled, kernel, flat: list, buffer,
                    one_point: bool = False) -> bool:
        """Answer with NumPy while the kernel compiles in the background (tiered=True).

        Returns False once the kernel is ready (or when the program has no NumPy
        form), and the caller runs the kernel.
        """
        job = compiled.compiling
        if self.tiered == "auto":
            # Only the first call of a request may be answered by NumPy; every later
            # call waits for the kernel (bitwise reproducible from the second call on).
            if job is not None:
                job.result()
                return False
            if compiled.auto_done:
                return False
            compiled.auto_done = True
            if not self._tier_pays(compiled, kernel, buffer.shape[1], one_point):
                return False
        elif job is not None and job.done():
            job.result()  # re-raises a compilation error, if any
            return False
        if compiled.array is False:
            try:
                compiled.array = get_backend("numpy").compile(compiled.program, compiled.names)
            except SymgradError:
                compiled.array = None
        if compiled.array is None or kernel is compiled.array:
            return False
        compiled.array.run(flat, buffer, 0, buffer.shape[1])
        if job is None:
            # Only now (the answer is ready, nothing competes for the GIL) start
            # compiling for exactly these argument kinds (contiguous or zero-stride
            # arrays of this dtype), on one point, in a background thread.
            # (A zero-stride input keeps length 2, or NumPy would call it contiguous
            # and numba would compile the wrong variant.)
            probe = tuple(a[:1] if a.strides[0] else a[:2] for a in flat)
            scratch = np.zeros((buffer.shape[0], 1), dtype=buffer.dtype)
            compiled.compiling = _threads.background(lambda: kernel.run(probe, scratch, 0, 1))
        return True

    @staticmethod
    def _tier_pays(compiled: _Compiled, kernel, npoints: int, one_point: bool = False) -> bool:
        """tiered="auto": is compiling predicted to take longer than NumPy's answer?

        Never for a request from the request cache or a kernel numba has compiled in
        this process or cached on disk (it loads in milliseconds). The predictions are
        rough (measured on a 2-core x86 machine, see benchmarks/results/startup.md):
        numba compiles in about 0.2 s + 0.1 ms per character of kernel source (+0.3 s
        to import numba the first time); NumPy evaluates about 4 ns per unit of
        ``_threads.cost_per_point`` per point. A single point is tiered only when the
        compile is predicted to take over a second (big formulas): small formulas give
        the kernel's bits from their first one-point call.
        """
        if compiled.from_disk or not hasattr(kernel, "is_cached"):
            return False
        if kernel.is_compiled() or kernel.is_cached():
            return False
        import sys

        compile_ns = 2e8 + 1e5 * len(kernel.source) + (3e8 if "numba" not in sys.modules else 0)
        numpy_ns = 1e6 + 4.0 * compiled.cost * npoints
        return compile_ns > (max(numpy_ns, 1e9) if one_point else numpy_ns)

    def _output_buffer(self, program: Program, shape, npoints, out, inputs):
        """The ``(rows, N)`` buffer the kernel writes, and how results reach ``out``.

        Returns ``(buffer, finish)``; ``finish`` is None (results are views of the
        buffer) or maps the list of block views to the list of results.
        """
        rows = program.n_rows
        alloc = np.zeros if program.zero_rows else np.empty
        if out is None:
            return alloc((rows, npoints), dtype=self._dtype), None
        blocks = program.blocks
        targets = tuple(out) if isinstance(out, (tuple, list)) else (out,)
        if len(targets) != len(blocks):
            raise InputError(
                f"out must hold one array per output ({len(blocks)}: "
                f"{', '.join(b.name for b in blocks)}), or None for an output to allocate; "
                f"got {len(targets)}."
            )
        for target, block in zip(targets, blocks):
            if target is not None:
                self._check_out(target, shape + block.shape, block.name)

        def finish(views):
            results = []
            for target, view in zip(targets, views):
                if target is None:
                    results.append(view)
                else:
                    np.copyto(target, view)
                    results.append(target)
            return results

        if len(blocks) > 1 or targets[0] is None or any(
            np.may_share_memory(targets[0], a) for a in inputs
        ):
            # Several outputs, or out overlaps an input: compute into a buffer of our
            # own, then copy (NumPy's ufuncs give the same guarantee for overlaps).
            return alloc((rows, npoints), dtype=self._dtype), finish
        target, block = targets[0], blocks[0]
        k = len(block.shape)
        moved = np.moveaxis(target, tuple(range(-k, 0)), tuple(range(k))) if k else target
        if moved.flags.c_contiguous:
            buffer = moved.reshape(rows, npoints)  # a view: the kernel writes into out
            if program.zero_rows:
                buffer[list(program.zero_rows)] = 0
            return buffer, lambda views: [target]
        # out has another memory order: compute, then copy into it.
        return alloc((rows, npoints), dtype=self._dtype), finish

    def _check_out(self, out, expected: tuple[int, ...], what: str) -> None:
        if not isinstance(out, np.ndarray) or out.shape != expected or out.dtype != self._dtype:
            got = (out.shape, out.dtype) if isinstance(out, np.ndarray) else type(out).__name__
            raise InputError(
                f"out for {what} must be a {self._dtype} array of shape {expected}; got {got}."
            )
        if not out.flags.writeable:
            raise InputError(f"out for {what} is read-only.")

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
        compiled = self._request(self._items(tuple(outputs), kwargs.pop("order", None)))
        inputs = self._binder.bind(args, kwargs, self._dtype)
        shape = np.broadcast_shapes(*(a.shape for a in inputs))
        npoints = math.prod(shape)
        flat = [_flatten(a, shape, npoints) for a in inputs]
        buffer = np.zeros((compiled.program.n_rows, npoints), dtype=self._dtype)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._kernel(compiled).run_python(flat, buffer, 0, npoints)
        return [_block_view(buffer, block, shape) for block in compiled.program.blocks]

    def cache_stats(self) -> dict[str, int]:
        """Disk-cache hits/misses of this evaluator's kernels in this process."""
        total = {"hits": 0, "misses": 0}
        for compiled in list(self._requests.values()):
            if compiled.kernel is not None:
                for key, value in compiled.kernel.cache_stats().items():
                    total[key] += value
        return total


# ---------------------------------------------------------------- the evaluator cache

#: Most evaluators kept by the in-memory cache; a long-running process that compiles
#: many formulas does not keep them all (and their kernels) alive.
CACHE_SIZE = 256
_cache: OrderedDict[tuple, Evaluator] = OrderedDict()
_cache_lock = threading.Lock()


def _request_key(formula, variables, params, options: Options) -> tuple | None:
    def norm(x):
        if x is None or isinstance(x, str):
            return x
        try:
            return tuple(x)
        except TypeError:  # a SymPy expression
            return x

    key = (norm(formula), norm(variables), norm(params), options)
    try:
        hash(key)
    except TypeError:
        return None
    return key


def _warm_evaluator(cls, formula, variables, params, options: Options):
    """``(evaluator, formula key)`` from the request cache without SymPy.

    The string is validated first (``symgrad.parse.check``: the pre-scan and the
    syntax-tree whitelist); the evaluator comes only from a formula entry that a full
    parse recorded with the same names. ``(None, key)``: parse fully, then record it
    under ``key``; ``(None, None)``: not a plain-string request.
    """
    from .parse.check import light_request

    light = light_request(formula, variables, params)
    if light is None:
        return None, None
    key = _disk.formula_key(light.sources, light.is_vector,
                            None if light.inferred else light.variables, light.params)
    entry = _disk.load(key)
    if (entry is None or entry.get("variables") != list(light.variables)
            or entry.get("params") != list(light.params)):
        return None, key
    return cls._from_cache(light, options, (formula, variables, params), key), key


def _record_formula(evaluator: Evaluator, key: str) -> None:
    """A full parse accepted this request: record it (and use the request cache)."""
    _disk.store(key, {"variables": list(evaluator.variables),
                      "params": list(evaluator.params)})
    evaluator._disk_key = key


def _rebuild_request(formula, variables, params, options: Options) -> Evaluator:
    """Unpickle an evaluator: the same request, from this process's cache or parsed."""
    return Evaluator.for_request(formula, variables, params, options)


def _reset_after_fork() -> None:
    global _cache_lock
    _cache_lock = threading.Lock()


_threads.at_fork_child(_reset_after_fork)
