"""The public entry points: ``compile`` and the one-liners built on it."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .errors import InputError
from .evaluator import Evaluator
from .parse import parse

__all__ = ["compile", "gradient", "hessian", "jacobian"]

# Recently compiled evaluators, most recent last; bounded so a long-running process
# that compiles many formulas does not keep them all (and their kernels) alive.
_cache: OrderedDict[tuple, Evaluator] = OrderedDict()
_cache_lock = threading.Lock()
_CACHE_SIZE = 256

Names = str | Sequence[str] | None


def _key(formula, variables, params, options) -> tuple:
    def norm(x):
        if x is None or isinstance(x, str):
            return x
        return tuple(x)

    return (norm(formula), norm(variables), norm(params), tuple(sorted(options.items())))


def compile(  # noqa: A001 (the natural name; shadows the builtin only inside symgrad)
    formula: str | Sequence[str],
    variables: Names = None,
    params: Names = None,
    *,
    dtype: Any = np.float64,
    cse: bool = True,
    simplify: bool = False,
    parallel: bool | str = "auto",
    tiered: bool = False,
) -> Evaluator:
    """Compile a formula (or a list of formulas) into a fast evaluator.

    Parameters
    ----------
    formula : str or sequence of str
        E.g. ``"sin(x)*cos(y) + exp(-(x**2 + y**2)/2)"``. A list gives a vector-valued
        function (use ``jacobian``). Syntax: see ``symgrad.parse``.
    variables : str or sequence of str, optional
        Names to differentiate by, in argument order (``"x y"`` or ``["x", "y"]``).
        Default: every name in the formula that is not a parameter, in natural order
        (``x2`` before ``x10``).
    params : str or sequence of str, optional
        Names passed by keyword and not differentiated (``"a b"``).
    dtype : {"float64", "float32"}
        Input and output dtype.
    cse : bool
        Share common subexpressions across all outputs of a kernel (default True).
    simplify : bool
        Run ``sympy.simplify`` on every derivative (slow; off by default).
    parallel : {"auto", True, False}
        Split large inputs over threads (``$SYMGRAD_NUM_THREADS``, default: the
        usable cores): always, never, or when the estimated work of a call exceeds
        ``symgrad.evaluator.PARALLEL_WORK_NS`` (default).
    tiered : bool
        Fast first results: until the numba kernel for a request has compiled (in a
        background thread), calls on arrays are answered by NumPy evaluating the same
        program. Results then agree with the kernel's to a few ulps, not bitwise.
        Formulas using gamma, erf or polygamma always wait for the kernel.

    Returns
    -------
    Evaluator
        Call it for values; ``.gradient``, ``.hessian``, ``.jacobian``, ... for
        derivatives. Equal arguments return the same Evaluator (its kernels are
        compiled once per process, and cached on disk across processes).

    Examples
    --------
    >>> f = symgrad.compile("x**2*y")
    >>> f.gradient(3.0, 2.0)
    array([12.,  9.])
    """
    try:
        dtype_name = np.dtype(dtype).name
    except TypeError:
        raise InputError(f"dtype must be float64 or float32, not {dtype!r}.") from None
    options = dict(
        dtype=dtype_name, cse=cse, simplify=simplify, parallel=parallel, tiered=tiered
    )
    key = _key(formula, variables, params, options)
    try:
        hash(key)
    except TypeError:
        key = None
    if key is not None:
        with _cache_lock:
            hit = _cache.get(key)
            if hit is not None:
                _cache.move_to_end(key)
                return hit
    evaluator = Evaluator(
        parse(formula, variables=variables, params=params),
        dtype=dtype,
        cse=cse,
        simplify=simplify,
        parallel=parallel,
        tiered=tiered,
    )
    if key is not None:
        with _cache_lock:
            evaluator = _cache.setdefault(key, evaluator)
            while len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)
    return evaluator


def gradient(
    formula: str, variables: Names = None, params: Names = None, **options: Any
) -> Callable[..., np.ndarray]:
    """A fast gradient function of a formula: ``symgrad.gradient("x**2*y")(x, y)``.

    Same arguments as :func:`compile`; returns ``compile(...).gradient``.
    """
    return compile(formula, variables, params, **options).gradient


def hessian(
    formula: str, variables: Names = None, params: Names = None, **options: Any
) -> Callable[..., np.ndarray]:
    """A fast Hessian function of a formula; returns ``compile(...).hessian``."""
    return compile(formula, variables, params, **options).hessian


def jacobian(
    formulas: str | Sequence[str], variables: Names = None, params: Names = None, **options: Any
) -> Callable[..., np.ndarray]:
    """A fast Jacobian function of a list of formulas; ``compile(...).jacobian``."""
    return compile(formulas, variables, params, **options).jacobian
