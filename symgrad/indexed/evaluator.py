"""``IndexedEvaluator``: calls of an indexed formula, from arrays to kernels and back.

Binding: variables come positionally in declaration order (or by name), parameters by
name. An array declared ``x[n]`` is passed with shape ``S + (n,)``: ``S`` is a batch
of points (``()`` for one point); every size is bound from the shapes, and the same
size must agree everywhere. Parameters may have the batch axes or not (then they are
shared by every point). Before any kernel runs, every subscript of the formula is
proven inside its array for the call's sizes (see :meth:`IndexedEvaluator._check_bounds`);
the result is remembered per sizes.

Gradients come as one array per variable, shaped like the variable (``S + dims``; a
single array when there is one variable; with only scalar variables, stacked on a
first axis of length ``n_variables`` as in the scalar API), or with ``flat=True`` as
one ``S + (n_flat,)`` array in declaration order (each array raveled in C order), the
layout of ``for_scipy``. Sparse Hessians and Jacobians are CSR matrices
(``scipy.sparse.csr_array`` when SciPy is installed, else :class:`CSR`); their
pattern, and the map from kernel entries to CSR slots, are computed once per sizes.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._bind import as_float, join_names
from .._version import __version__
from ..errors import InputError
from ..options import Options
from .declare import Decl

__all__ = ["IndexedEvaluator", "CSR"]

#: Largest dense Hessian ``hessian()`` forms (entries); use ``sparse_hessian`` beyond.
MAX_DENSE_ENTRIES = 25_000_000


@dataclass(frozen=True)
class CSR:
    """A CSR matrix when SciPy is not installed (``scipy.sparse.csr_array`` otherwise).

    Attributes
    ----------
    data : ndarray, shape (nnz,)
    indices : ndarray of int64, shape (nnz,)
    indptr : ndarray of int64, shape (rows + 1,)
    shape : tuple of int
    """

    data: np.ndarray
    indices: np.ndarray
    indptr: np.ndarray
    shape: tuple[int, int]

    def toarray(self) -> np.ndarray:
        dense = np.zeros(self.shape)
        rows = np.repeat(np.arange(self.shape[0]), np.diff(self.indptr))
        dense[rows, self.indices] = self.data
        return dense

    @property
    def nnz(self) -> int:
        return int(self.data.size)


def _csr(data, pattern: _Pattern):
    """A CSR matrix of ``data`` on ``pattern`` (with its own copies of the indices)."""
    try:
        import scipy.sparse as sp
    except ImportError:  # SciPy is optional
        return CSR(data, pattern.indices.astype(np.int64), pattern.indptr.astype(np.int64),
                   pattern.shape)
    # Indices already in the dtype SciPy would choose, so it neither scans nor converts.
    return sp.csr_array((data, pattern.indices.copy(), pattern.indptr.copy()),
                        shape=pattern.shape)


class _Pattern:
    """A sparse pattern for one set of sizes: CSR structure and entry -> slot map.

    ``indices``/``indptr`` are int32 when everything fits (SciPy's own choice), else
    int64. ``affine``: ``(base, step)`` when, for every term, the slot of entry ``e``
    of its ``q``-th iteration is ``base[e] + step[e]*q`` (then ``hess_values_affine``
    needs no ``perm``), else None.
    """

    def __init__(self, rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]):
        keys = rows.astype(np.int64) * shape[1] + cols
        unique, perm = np.unique(keys, return_inverse=True)
        self.perm = perm.astype(np.int64).reshape(-1)
        small = max(shape[0], shape[1], unique.size) < np.iinfo(np.int32).max
        itype = np.int32 if small else np.int64
        self.indices = (unique % shape[1]).astype(itype)
        row_of = unique // shape[1]
        self.indptr = np.zeros(shape[0] + 1, dtype=itype)
        np.cumsum(np.bincount(row_of, minlength=shape[0]), out=self.indptr[1:])
        self.shape = shape
        self.nnz = unique.size
        self.affine: tuple[np.ndarray, np.ndarray] | None = None

    def find_affine(self, points: list[int], entries: tuple[int, ...]) -> None:
        """Set ``affine`` if every term's slots are affine in its iteration count."""
        bases, steps = [], []
        at = 0
        for count, k in zip(points, entries):
            if k == 0:
                continue
            if count == 0:
                bases.append(np.zeros(k, dtype=np.int64))
                steps.append(np.zeros(k, dtype=np.int64))
                continue
            block = self.perm[at:at + count * k].reshape(count, k)
            at += count * k
            base = block[0].copy()
            step = block[1] - block[0] if count > 1 else np.zeros(k, dtype=np.int64)
            q = np.arange(count, dtype=np.int64)
            for e in range(k):
                if not np.array_equal(block[:, e], base[e] + step[e] * q):
                    return
            bases.append(base)
            steps.append(step)
        if at != self.perm.size:
            return
        cat = (np.concatenate(bases) if bases else np.zeros(0, dtype=np.int64),
               np.concatenate(steps) if steps else np.zeros(0, dtype=np.int64))
        self.affine = (np.ascontiguousarray(cat[0], dtype=np.int64),
                       np.ascontiguousarray(cat[1], dtype=np.int64))


class _Call:
    """One bound call: inputs as ``(B_k, *dims)`` arrays, sizes, the batch shape."""

    __slots__ = ("arrays", "sizes", "offs", "batch", "count", "size_map")

    def __init__(self, arrays, sizes, offs, batch, size_map):
        self.arrays = arrays
        self.sizes = sizes
        self.offs = offs
        self.batch = batch
        self.count = math.prod(batch)
        self.size_map = size_map


class IndexedEvaluator:
    """A compiled indexed formula (``symgrad.compile`` returns one for sums/subscripts).

    Use ``symgrad.compile``; see ``symgrad.indexed`` for the grammar.
    """

    is_indexed = True

    def __init__(self, formula, variables, params, options: Options):
        from .parse import parse_indexed  # SymPy

        if options.dtype != "float64":
            raise InputError("indexed formulas are compiled in float64 only for now; "
                             "drop dtype= (or pass dtype='float64')")
        if options.backend != "numba":
            raise InputError("indexed formulas run on the numba backend only; drop backend=")
        self._request = (formula, variables, params, options)
        self._options = options
        self._f = parse_indexed(formula, variables, params)
        self._model = self._f.model
        self._decls: tuple[Decl, ...] = self._f.variables + self._f.params
        self._nv = len(self._f.variables)
        self._size_names = list(self._f.sizes)
        self._names = [d.name for d in self._decls]
        self._kernels: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._checked: set[tuple] = set()
        self._patterns: dict[tuple, _Pattern] = {}

    # -- description ---------------------------------------------------------------------
    @property
    def variables(self) -> tuple[str, ...]:
        """Variable names, in declaration order."""
        return tuple(d.name for d in self._f.variables)

    @property
    def params(self) -> tuple[str, ...]:
        return tuple(d.name for d in self._f.params)

    @property
    def declarations(self) -> tuple[str, ...]:
        """The declarations as spelled (``("x[n]", "a")``)."""
        return tuple(d.spelled() for d in self._decls)

    @property
    def is_residual(self) -> bool:
        """Whether the formula is a vector of residuals (``[... for i in range(m)]``)."""
        return self._f.is_residual

    @property
    def is_vector(self) -> bool:
        return self.is_residual

    @property
    def n_variables(self) -> int:
        return self._nv

    @property
    def options(self) -> Options:
        return self._options

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.float64)

    def with_options(self, **changes: Any) -> IndexedEvaluator:
        """The same formula with some options changed (a new evaluator)."""
        formula, variables, params, options = self._request
        return IndexedEvaluator.for_request(formula, variables, params,
                                            options.replace(**changes))

    def source(self, group: str = "first") -> str:
        """The generated kernel source: ``"first"`` (value, gradient, Jacobian) or
        ``"second"`` (sparse Hessian, HVP)."""
        return self._kernel(group).source

    def __repr__(self) -> str:
        return (f"<symgrad.IndexedEvaluator {self._model.text!r} "
                f"variables={list(self.declarations[:self._nv])}"
                + (f", params={list(self.declarations[self._nv:])}" if self.params else "")
                + ">")

    def __reduce__(self):
        return (_rebuild, self._request)

    # -- kernels -------------------------------------------------------------------------
    def _kernel(self, group: str):
        k = self._kernels.get(group)
        if k is None:
            with self._lock:
                k = self._kernels.get(group)
                if k is None:
                    from ..kernel import compile_kernel
                    from .codegen import generate

                    k = compile_kernel(generate(self._f, group, __version__))
                    self._kernels[group] = k
        return k

    def _run(self, group: str, name: str, call: _Call, outputs: tuple, batch: bool = True):
        kern = self._kernel(group)
        head = (*call.arrays, call.sizes, call.offs, *outputs)
        if not batch:
            kern._checked_call(name, head)
            return None
        n = call.count
        threads = 1
        if n > 1 and self._options.parallel is not False:
            from .._threads import default_threads

            threads = default_threads()
        if threads == 1 or n < 2:
            kern._checked_call(name, (*head, 0, n))
            return None
        from .._threads import run_chunked

        # run_chunked runs the first chunk alone (it compiles the kernel), then the
        # rest on the pool; the kernel releases the GIL.
        run_chunked(lambda lo, hi: kern._checked_call(name, (*head, lo, hi)), n, threads)
        return None

    # -- binding -------------------------------------------------------------------------
    def _bind(self, args: tuple, kwargs: Mapping[str, Any], what: str = "call") -> _Call:
        names = self._names
        values: dict[str, Any] = {}
        if len(args) > self._nv:
            raise InputError(
                f"{len(args)} positional arguments given, but the formula has {self._nv} "
                f"variable{'s' if self._nv != 1 else ''} ({join_names(self.variables)}); "
                "pass parameters by name")
        for d, a in zip(self._f.variables, args):
            values[d.name] = a
        for key, v in kwargs.items():
            if key not in names:
                raise InputError(f"unknown argument {key!r}; the formula's names are "
                                 f"{join_names(names)}")
            if key in values:
                raise InputError(f"{key} is given twice (by position and by name)")
            values[key] = v
        missing = [n for n in names if n not in values]
        if missing:
            first = missing[0]
            how = ("pass the variables positionally in declaration order, or by name"
                   if first in self.variables else "pass parameters by name")
            more = f" (and {join_names(missing[1:])})" if len(missing) > 1 else ""
            kind = "variable" if first in self.variables else "parameter"
            raise InputError(f"missing {kind} {first!r}{more}; {how}, e.g. {first}=...")
        arrays = [as_float(values[d.name], d.name, np.dtype(np.float64)) for d in self._decls]
        sizes: dict[str, tuple[int, str]] = {}
        batches = []
        for d, arr in zip(self._decls, arrays):
            nd = len(d.dims)
            if arr.ndim < nd:
                raise InputError(f"{d.name} must have at least {nd} dimension"
                                 f"{'s' if nd > 1 else ''} ({d.spelled()}), got shape "
                                 f"{arr.shape}")
            core = arr.shape[arr.ndim - nd:]
            for axis, (dim, length) in enumerate(zip(d.dims, core)):
                if isinstance(dim, int):
                    if length != dim:
                        raise InputError(f"{d.name} is declared {d.spelled()}, so axis "
                                         f"{axis} must have length {dim}; got shape {arr.shape}")
                    continue
                seen = sizes.get(dim)
                if seen is None:
                    sizes[dim] = (int(length), f"{d.name}.shape[{arr.ndim - nd + axis}]")
                elif seen[0] != length:
                    raise InputError(
                        f"inconsistent sizes: {seen[1]} = {seen[0]} sets {dim} = {seen[0]}, "
                        f"but {d.name} ({d.spelled()}) has shape {arr.shape}, so {dim} = "
                        f"{length}")
            batches.append(arr.shape[:arr.ndim - nd])
        try:
            # (the common case, equal batch shapes, without NumPy's general rule)
            batch = batches[0] if len(set(batches)) == 1 else np.broadcast_shapes(*batches)
        except ValueError:
            detail = ", ".join(f"{d.name}: {b}" for d, b in zip(self._decls, batches))
            raise InputError(f"the batch shapes of the inputs do not broadcast ({detail}); "
                             "every array is S + its declared shape") from None
        count = math.prod(batch)
        prepared = []
        for k, (d, arr, b) in enumerate(zip(self._decls, arrays, batches)):
            nd = len(d.dims)
            core = arr.shape[arr.ndim - nd:]
            if k < self._nv and b != batch:
                arr = np.broadcast_to(arr, batch + core)
                b = batch
            lead = math.prod(b)
            if lead not in (1, count):
                arr = np.broadcast_to(arr, batch + core)
                lead = count
            prepared.append(np.ascontiguousarray(arr).reshape((lead,) + tuple(core)))
        size_values = np.array([sizes[s][0] if s in sizes else 0 for s in self._size_names],
                               dtype=np.int64)
        for s in self._size_names:
            if s not in sizes:  # only from fixed dims: cannot happen; kept for safety
                raise InputError(f"size {s} is not bound by any input's shape")
        offs = np.zeros(self._nv, dtype=np.int64)
        total = 0
        size_map = {s: int(v) for s, v in zip(self._size_names, size_values)}
        for k, d in enumerate(self._f.variables):
            offs[k] = total
            total += _numel(d, size_map)
        call = _Call(tuple(prepared), size_values, offs, batch, size_map)
        self._check_bounds(call)
        return call

    def _n_flat(self, call: _Call) -> int:
        return sum(_numel(d, call.size_map) for d in self._f.variables)

    # -- the subscript proof ---------------------------------------------------------------
    def _check_bounds(self, call: _Call) -> None:
        key = tuple(call.sizes.tolist())
        if key in self._checked:
            return
        from .bounds import check_bounds

        check_bounds(self._f, call.size_map)
        self._checked.add(key)

    # -- outputs -------------------------------------------------------------------------
    def __call__(self, *args: Any, **kwargs: Any):
        """The value: shape ``S`` for an objective, ``S + (m,)`` for residuals."""
        call = self._bind(args, kwargs)
        if self.is_residual:
            m = self._rows(call)
            out = np.zeros((call.count, m))
            self._run("first", "value", call, (out,))
            return out.reshape(call.batch + (m,))
        out = np.empty(call.count)
        self._run("first", "value", call, (out,))
        return out.reshape(call.batch)[()]

    def value_and_gradient(self, *args: Any, flat: bool = False, **kwargs: Any):
        """``(value, gradient)`` from one kernel pass (see :meth:`gradient`)."""
        self._require_objective("value_and_gradient")
        call = self._bind(args, kwargs)
        grads = self._grad_buffers(call, flat, "GRADIENT_ASSIGNED")
        val = np.empty(call.count)
        self._run("first", "gradient", call, (*grads.views, val))
        return val.reshape(call.batch)[()], grads.result(call, flat)

    def gradient(self, *args: Any, flat: bool = False, **kwargs: Any):
        """The gradient, shaped like the variables (see the module docstring).

        Parameters
        ----------
        *args, **kwargs
            Variables (positionally or by name) and parameters (by name).
        flat : bool
            One ``S + (n_flat,)`` array, the variables raveled in declaration order.
        """
        if not self._model.linear:  # the sums' values are needed for the chain rule
            return self.value_and_gradient(*args, flat=flat, **kwargs)[1]
        self._require_objective("gradient")
        call = self._bind(args, kwargs)
        grads = self._grad_buffers(call, flat, "GRAD_ASSIGNED")
        self._run("first", "grad", call, tuple(grads.views))
        return grads.result(call, flat)

    def hvp(self, *args: Any, direction: Any, flat: bool = False, **kwargs: Any):
        """Hessian times ``direction`` without forming the Hessian, shaped like
        :meth:`gradient`. ``direction`` is shaped like the variables (one array per
        variable, a tuple when there are several) or flat ``S + (n_flat,)``."""
        self._require_objective("hvp")
        call = self._bind(args, kwargs)
        dirs = self._directions(direction, call)
        out = self._grad_buffers(call, flat, "HVP_ASSIGNED", "second")
        self._run("second", "hvp", call, (*dirs, *out.views))
        return out.result(call, flat)

    def sparse_hessian(self, *args: Any, **kwargs: Any):
        """The Hessian at one point as a CSR matrix, ``(n_flat, n_flat)``, in the flat
        variable order; its pattern is computed once per sizes."""
        self._require_objective("sparse_hessian")
        self._require_linear("sparse_hessian")
        call = self._bind(args, kwargs)
        if call.count != 1:
            raise InputError(f"sparse_hessian takes one point; got a batch of shape "
                             f"{call.batch}. Loop over the points, or use hvp for batches.")
        n = self._n_flat(call)
        pattern = self._pattern("hess", call, (n, n))
        data = np.zeros(pattern.nnz)
        if pattern.affine is not None:
            self._run("second", "hess_values_affine", call, (*pattern.affine, data))
        else:
            self._run("second", "hess_values", call, (pattern.perm, data))
        return _csr(data, pattern)

    def hessian(self, *args: Any, **kwargs: Any) -> np.ndarray:
        """The dense Hessian at one point, ``(n_flat, n_flat)`` (from the sparse one)."""
        call_n = self._n_flat(self._bind(args, kwargs))
        if call_n * call_n > MAX_DENSE_ENTRIES:
            raise InputError(f"the dense Hessian would have {call_n}**2 entries; use "
                             "sparse_hessian() or hvp()")
        return _dense(self.sparse_hessian(*args, **kwargs))

    def jacobian(self, *args: Any, **kwargs: Any):
        """The Jacobian of residuals at one point, CSR ``(m, n_flat)``."""
        if not self.is_residual:
            raise InputError("jacobian is for residual formulas ([... for i in range(m)]); "
                             "use gradient for a scalar objective")
        call = self._bind(args, kwargs)
        if call.count != 1:
            raise InputError(f"jacobian takes one point; got a batch of shape {call.batch}")
        shape = (self._rows(call), self._n_flat(call))
        pattern = self._pattern("jac", call, shape)
        data = np.zeros(pattern.nnz)
        self._run("first", "jac_values", call, (pattern.perm, data))
        return _csr(data, pattern)

    def residuals(self, *args: Any, **kwargs: Any) -> np.ndarray:
        """The residual vector (same as calling a residual formula)."""
        if not self.is_residual:
            raise InputError("residuals is for formulas written [... for i in range(m)]")
        return self(*args, **kwargs)

    # -- helpers -------------------------------------------------------------------------
    def _require_objective(self, what: str) -> None:
        if self.is_residual:
            raise InputError(f"{what} is for a scalar objective; a residual formula has "
                             "jacobian() (or write sum((...)**2 for ...) to minimize)")

    def _require_linear(self, what: str) -> None:
        if not self._model.linear:
            raise InputError(
                f"{what} is not supported for a formula that applies a non-linear "
                "function to a whole sum (such as log(sum(...)) or sqrt(sum(...))): its "
                "Hessian is dense (an outer product of the sums' gradients). value, "
                "gradient and hvp work: use hvp (for_scipy(..., hessp=True)).")

    def _rows(self, call: _Call) -> int:
        from .bounds import count_points

        return count_points(self._model.rows, call.size_map)

    def _pattern(self, kind: str, call: _Call, shape: tuple[int, int]) -> _Pattern:
        key = (kind, tuple(call.sizes.tolist()))
        pattern = self._patterns.get(key)
        if pattern is None:
            from .bounds import count_points

            group = "second" if kind == "hess" else "first"
            per_term = getattr(self._kernel(group).module, f"{kind.upper()}_ENTRIES")
            points = [count_points(term.ranges, call.size_map)
                      for term in self._model.terms.values()]
            count = sum(p * k for p, k in zip(points, per_term))
            rows = np.empty(count, dtype=np.int64)
            cols = np.empty(count, dtype=np.int64)
            self._run(group, f"{kind}_pattern", call, (rows, cols), batch=False)
            pattern = _Pattern(rows, cols, shape)
            if kind == "hess":
                pattern.find_affine(points, per_term)
            if len(self._patterns) > 16:
                self._patterns.clear()
            self._patterns[key] = pattern
        return pattern

    def _grad_buffers(self, call: _Call, flat: bool, assigned: str = "",
                      group: str = "first") -> _Grads:
        flags = getattr(self._kernel(group).module, assigned, ()) if assigned else ()
        return _Grads(self._f.variables, call, flags)

    def _directions(self, direction: Any, call: _Call) -> tuple[np.ndarray, ...]:
        n = self._n_flat(call)
        shapes = [(call.count,) + _core(d, call.size_map) for d in self._f.variables]
        parts: list[Any]
        arr = None
        if not isinstance(direction, (tuple, list)) or self._nv == 1:
            arr = as_float(direction, "direction", np.dtype(np.float64))
        core = shapes[0][1:]
        if arr is not None and self._nv == 1 and (
                not core or (arr.ndim >= len(core) and arr.shape[arr.ndim - len(core):] == core)):
            parts = [arr]  # one variable: shaped like it (for a scalar, like the batch)
        elif arr is not None:
            if arr.shape[-1:] != (n,):
                raise InputError(f"direction must be shaped like the variables, or flat with "
                                 f"last axis {n}; got shape {arr.shape}")
            parts = []
            at = 0
            for shp in shapes:
                size = math.prod(shp[1:])
                parts.append(arr[..., at:at + size].reshape(arr.shape[:-1] + shp[1:]))
                at += size
        else:
            parts = list(direction)
            if len(parts) != self._nv:
                raise InputError(f"direction must have one array per variable "
                                 f"({join_names(self.variables)}); got {len(parts)}")
        out = []
        for d, p, shp in zip(self._f.variables, parts, shapes):
            p = as_float(p, f"direction for {d.name}", np.dtype(np.float64))
            try:
                p = np.broadcast_to(p, call.batch + shp[1:])
            except ValueError:
                raise InputError(f"direction for {d.name} must have shape "
                                 f"{call.batch + shp[1:]}; got {p.shape}") from None
            out.append(np.ascontiguousarray(p).reshape(shp))
        return tuple(out)

    # -- optimizers ----------------------------------------------------------------------
    def for_scipy(self, x0: Any = None, *, method: str | None = None, hessp: bool = False,
                  **params: Any) -> dict:
        """Keyword arguments for ``scipy.optimize.minimize`` over the flat variables.

        ``fun`` and ``jac`` share one kernel pass per point. What else is given
        depends on ``method``: ``newton-cg`` and ``trust-constr`` get ``hess``, the
        sparse Hessian (CSR), or ``hessp`` with ``hessp=True`` or when the formula is
        a non-linear function of a sum (its Hessian is dense); ``trust-ncg`` and
        ``trust-krylov`` get ``hessp`` (no matrix is ever formed); ``dogleg`` and
        ``trust-exact`` get the dense Hessian; other methods (and no method: SciPy's
        BFGS) get no second derivatives. ``x0`` is one point: the array of a single
        array variable, the values of scalar variables, or a tuple with one entry per
        variable. ``**params`` fix the parameters.
        """
        from .optimize import minimize_kwargs

        return minimize_kwargs(self, x0, method=method, hessp=hessp, **params)

    def for_least_squares(self, x0: Any = None, **params: Any) -> dict:
        """Keyword arguments for ``scipy.optimize.least_squares`` (residual formulas):
        ``fun`` the residuals and ``jac`` their sparse Jacobian (use ``method='trf'``)."""
        from .optimize import least_squares_kwargs

        return least_squares_kwargs(self, x0, **params)


class _Grads:
    """Gradient buffers: one flat block, a view per variable.

    A variable's view is zeroed unless ``assigned`` says the kernel writes every one
    of its elements itself (``GRAD_ASSIGNED`` in the generated module): zeroing a
    million-element buffer costs as much as a third of Rosenbrock's gradient.
    """

    def __init__(self, variables: tuple[Decl, ...], call: _Call, assigned=()):
        sizes = [_numel(d, call.size_map) for d in variables]
        assigned = tuple(assigned) or (False,) * len(variables)
        alloc = np.empty if any(assigned) else np.zeros
        self.flat = alloc((call.count, sum(sizes)))
        self.views = []
        self.variables = variables
        at = 0
        for d, size, mine in zip(variables, sizes, assigned):
            block = self.flat[:, at:at + size]
            shape = (call.count,) + _core(d, call.size_map)
            # A (B, size) column block is C-contiguous only for B == 1 or one variable.
            if block.flags.c_contiguous:
                view = block.reshape(shape)
                if alloc is np.empty and not mine:
                    view[...] = 0.0
            else:
                view = np.empty(shape) if mine else np.zeros(shape)
            self.views.append(view)
            at += size
        self.copies = [not np.shares_memory(v, self.flat) for v in self.views]

    def result(self, call: _Call, flat: bool):
        if any(self.copies):
            at = 0
            for v in self.views:
                size = int(np.prod(v.shape[1:], dtype=np.int64))
                self.flat[:, at:at + size] = v.reshape(call.count, size)
                at += size
        if flat:
            return self.flat.reshape(call.batch + (self.flat.shape[1],))
        if all(not d.dims for d in self.variables):
            return np.moveaxis(self.flat, 1, 0).reshape((len(self.variables),) + call.batch)
        arrays = []
        at = 0
        for d in self.variables:
            core = _core(d, call.size_map)
            size = math.prod(core)
            arrays.append(self.flat[:, at:at + size].reshape(call.batch + core))
            at += size
        return arrays[0] if len(arrays) == 1 else tuple(arrays)


def _core(d: Decl, size_map: dict[str, int]) -> tuple[int, ...]:
    return tuple(dim if isinstance(dim, int) else size_map[dim] for dim in d.dims)


def _numel(d: Decl, size_map: dict[str, int]) -> int:
    return math.prod(_core(d, size_map))


def _dense(matrix) -> np.ndarray:
    return matrix.toarray()


def _rebuild(formula, variables, params, options):
    """Unpickle: the evaluator of the same request (kernels from the disk cache)."""
    return IndexedEvaluator.for_request(formula, variables, params, options)


_cache: dict = {}
_cache_lock = threading.Lock()


def _for_request(cls, formula, variables, params, options):
    key = (formula, _freeze(variables), _freeze(params), options)
    with _cache_lock:
        hit = _cache.get(key)
    if hit is not None:
        return hit
    ev = cls(formula, variables, params, options)
    with _cache_lock:
        if len(_cache) >= 128:
            _cache.pop(next(iter(_cache)))
        return _cache.setdefault(key, ev)


def _freeze(spec):
    if spec is None or isinstance(spec, str):
        return spec
    try:
        return tuple(str(s) for s in spec)
    except TypeError:
        return str(spec)


IndexedEvaluator.for_request = classmethod(_for_request)  # type: ignore[attr-defined]
