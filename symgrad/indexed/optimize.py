"""``scipy.optimize`` adapters for indexed formulas (no SciPy import here).

The optimization vector is the flat concatenation of the variables in declaration
order (each array raveled in C order); :func:`split` views it as the variables
without copying. ``fun``/``jac`` share one kernel pass per point; ``hess`` returns
the sparse Hessian (CSR), ``hessp`` the Hessian-vector product.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._bind import as_float
from ..errors import InputError

__all__ = ["minimize_kwargs", "least_squares_kwargs"]

# scipy.optimize.minimize methods and what they use (scipy/optimize/_minimize.py).
_NO_GRADIENT = frozenset({"nelder-mead", "powell", "cobyla", "cobyqa"})
# Methods given the sparse Hessian (CSR): they only multiply by it.
_SPARSE_HESS = frozenset({"newton-cg", "trust-constr"})
# Methods that factorize the Hessian: they need it dense (small problems).
_DENSE_HESS = frozenset({"dogleg", "trust-exact"})
# Methods that work from Hessian-vector products alone: given hessp, never a matrix.
_HESSP_ONLY = frozenset({"trust-ncg", "trust-krylov"})
_USES_HESSP = _SPARSE_HESS | _HESSP_ONLY


def split(evaluator, x: np.ndarray, shapes) -> list[np.ndarray]:
    """Views of the flat ``x`` as the variables (no copy)."""
    parts = []
    at = 0
    for shape in shapes:
        size = int(np.prod(shape, dtype=np.int64)) if shape else 1
        block = x[at:at + size]
        parts.append(block.reshape(shape) if shape else block.reshape(()))
        at += size
    if at != x.size:
        raise InputError(f"x must have {at} entries (the variables "
                         f"{', '.join(evaluator.declarations[:evaluator.n_variables])} "
                         f"raveled), got {x.size}")
    return parts


def _flatten_x0(evaluator, x0) -> tuple[np.ndarray, list[tuple[int, ...]]]:
    """``x0`` shaped like the variables (tuple for several) -> flat vector and shapes.

    With only scalar variables ``x0`` is their values in order (any sequence or 1-D
    array); with one array variable, that array.
    """
    nv = evaluator.n_variables
    decls = evaluator._f.variables
    if all(not d.dims for d in decls):
        flat = as_float(x0, "x0", np.dtype(np.float64)).reshape(-1)
        if flat.size != nv:
            raise InputError(f"x0 must have {nv} values, one per variable "
                             f"({', '.join(evaluator.variables)}); got {flat.size}")
        return flat.astype(np.float64), [()] * nv
    if nv == 1:
        parts = [as_float(x0, "x0", np.dtype(np.float64))]
    elif isinstance(x0, (tuple, list)) and len(x0) == nv:
        parts = [as_float(p, f"x0 for {name}", np.dtype(np.float64))
                 for p, name in zip(x0, evaluator.variables)]
    else:
        raise InputError("x0 must be a tuple with one array (or number) per variable "
                         f"({', '.join(evaluator.declarations[:nv])}), so that their "
                         "sizes are known")
    for d, p in zip(decls, parts):
        if len(d.dims) != p.ndim:
            raise InputError(f"x0 for {d.name} must be shaped like {d.spelled()} (one "
                             f"point); got shape {p.shape}")
    shapes = [p.shape for p in parts]
    return np.concatenate([p.reshape(-1) for p in parts]).astype(np.float64), shapes


def minimize_kwargs(evaluator, x0, *, method=None, hessp=False, **params) -> dict:
    if evaluator.is_residual:
        raise InputError("for_scipy minimizes a scalar objective; a residual formula "
                         "goes to for_least_squares")
    if x0 is None:
        raise InputError("for_scipy needs x0 for an indexed formula: it sets the sizes")
    flat0, shapes = _flatten_x0(evaluator, x0)
    meth = method.lower() if isinstance(method, str) else None
    last: list = [None]

    def compute(x):
        memo = last[0]
        if memo is not None and np.array_equal(memo[0], x):
            return memo[1]
        x = np.asarray(x, dtype=np.float64)
        value, grad = evaluator.value_and_gradient(*split(evaluator, x, shapes), flat=True,
                                                   **params)
        last[0] = (x.copy(), (float(value), grad))
        return last[0][1]

    def fun(x) -> float:
        """The objective at the flat ``x``."""
        return compute(x)[0]

    def jac(x) -> np.ndarray:
        """The flat gradient at ``x``, shape ``(n,)`` (a fresh array)."""
        return np.array(compute(x)[1])

    def hess(x):
        """The Hessian at ``x``: sparse CSR ``(n, n)`` (dense for dogleg/trust-exact)."""
        H = evaluator.sparse_hessian(*split(evaluator, np.asarray(x, float), shapes), **params)
        return H.toarray() if meth in _DENSE_HESS else H

    def hessp_(x, p) -> np.ndarray:
        """The Hessian at ``x`` times ``p``, shape ``(n,)``."""
        x = np.asarray(x, dtype=np.float64)
        return evaluator.hvp(*split(evaluator, x, shapes), direction=np.asarray(p, float),
                             flat=True, **params)

    linear = evaluator._model.linear
    if meth in _DENSE_HESS and not linear:
        raise InputError(f"method {method!r} needs the Hessian matrix, which is dense for a "
                         "non-linear function of a sum; use a method that takes hessp "
                         "(newton-cg, trust-ncg, trust-krylov, trust-constr)")
    kwargs: dict[str, Any] = {"fun": fun, "x0": flat0}
    if meth not in _NO_GRADIENT:
        kwargs["jac"] = jac
    if meth in _HESSP_ONLY or (meth in _USES_HESSP and (hessp or not linear)):
        kwargs["hessp"] = hessp_
    elif meth in _SPARSE_HESS or meth in _DENSE_HESS:
        kwargs["hess"] = hess
    elif hessp and meth is None:
        kwargs["hessp"] = hessp_
    if method is not None:
        kwargs["method"] = method
    return kwargs


def least_squares_kwargs(evaluator, x0, **params) -> dict:
    if not evaluator.is_residual:
        raise InputError("for_least_squares needs residuals written [... for i in range(m)]; "
                         "for a scalar objective use for_scipy")
    if x0 is None:
        raise InputError("for_least_squares needs x0 for an indexed formula: it sets the "
                         "sizes")
    flat0, shapes = _flatten_x0(evaluator, x0)

    def fun(x) -> np.ndarray:
        """The residuals at the flat ``x``, shape ``(m,)``."""
        return evaluator(*split(evaluator, np.asarray(x, float), shapes), **params)

    def jac(x):
        """The sparse Jacobian at ``x`` (CSR, ``(m, n)``)."""
        return evaluator.jacobian(*split(evaluator, np.asarray(x, float), shapes), **params)

    return {"fun": fun, "jac": jac, "x0": flat0, "method": "trf"}
