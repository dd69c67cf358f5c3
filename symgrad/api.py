"""The public entry points: ``compile`` and the one-liners built on it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .evaluator import Evaluator
from .options import make_options

__all__ = ["compile", "gradient", "hessian", "jacobian"]

Names = str | Sequence[str] | None


def compile(  # noqa: A001 (the natural name; shadows the builtin only inside symgrad)
    formula: Any,
    variables: Names = None,
    params: Names = None,
    *,
    dtype: Any = np.float64,
    cse: bool = True,
    simplify: bool = False,
    parallel: bool | str = "auto",
    tiered: bool | str = "auto",
    backend: str = "numba",
    math: str = "vector",
    where: str | Any = None,
) -> Evaluator:
    """Compile a formula (or a list of formulas) into a fast evaluator.

    Parameters
    ----------
    formula : str, sequence of str, or SymPy expression(s)
        E.g. ``"sin(x)*cos(y) + exp(-(x**2 + y**2)/2)"``. A list gives a vector-valued
        function (use ``jacobian``). Syntax: see ``symgrad.parse``. A SymPy expression
        (or a list of them) is accepted if it is built only from what the string
        syntax allows (``symgrad.parse.from_sympy``).
    variables : str or sequence of str or sympy.Symbol, optional
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
    tiered : {"auto", True, False}
        Fast first results. ``"auto"`` (default): when a request's kernel is neither
        compiled in this process nor cached on disk and compiling it is predicted to
        take longer than evaluating the call with NumPy, the FIRST call of that
        request is answered by NumPy evaluating the same program while numba
        compiles in a background thread; every later call runs the kernel (waiting
        for it), so results are bitwise reproducible from the second call on, and
        the first agrees with them to a few ulps (NumPy's ufuncs vs libm).
        ``True``: NumPy answers every call until the kernel is ready. ``False``:
        every call runs the kernel (bitwise reproducible from the first call).
        Formulas using gamma, erf or polygamma always wait for the kernel.
    backend : {"numba", "numpy"}
        What runs the program: compiled numba kernels (default), or NumPy ufuncs on
        chunks of points (no compilation; slower per point; see ``symgrad.backends``).
    math : {"vector", "libm"}
        How numba kernels compute exp, log, sin, ...: branch-free vector math that
        LLVM vectorizes (default; ``symgrad.vecmath``: value, gradient and Hessian
        kernels several times faster), or ``"libm"``: scalar libm calls, bit-identical
        to libm. Within 1-2 ulp of each other; see ``symgrad.Options``.
    where : str or mapping, optional
        Local definitions inlined into the formula before parsing:
        ``where="r2 = x**2 + y**2"`` (several separated by newlines or ``;``, a later
        one may use earlier ones; or ``{"r2": "x**2 + y**2"}``). In an indexed
        formula a definition may use loop indices: ``where="r2 = (x[i]-x[j])**2"``
        means them where ``r2`` is used (see ``symgrad.parse.define``).

    Indexed formulas (``variables="x[n]"``, ``sum(... for i in range(n))``) return a
    ``symgrad.IndexedEvaluator``; see ``symgrad.indexed``.

    Returns
    -------
    Evaluator
        Call it for values; ``.gradient``, ``.hessian``, ``.jacobian``, ... for
        derivatives. Equal arguments return the same Evaluator (its kernels are
        compiled once per process, and cached on disk across processes). Its options
        are read-only; ``f.with_options(dtype="float32")`` gives a new evaluator.

    Examples
    --------
    >>> import symgrad
    >>> f = symgrad.compile("x**2*y")
    >>> f.gradient(3.0, 2.0)
    array([12.,  9.])
    """
    options = make_options(
        dtype=dtype, cse=cse, simplify=simplify, parallel=parallel, tiered=tiered,
        backend=backend, math=math,
    )
    if where is not None:
        from .parse.define import inline_definitions

        formula = inline_definitions(formula, where)
    return _for_request(formula, variables, params, options)


def _for_request(formula, variables, params, options):
    """The evaluator of a request: indexed formulas (sums, arrays) or scalar ones."""
    from .indexed import is_indexed

    if is_indexed(formula, variables, params):
        from .indexed.evaluator import IndexedEvaluator

        return IndexedEvaluator.for_request(formula, variables, params, options)
    return Evaluator.for_request(formula, variables, params, options)


def gradient(
    formula: str, variables: Names = None, params: Names = None, **options: Any
) -> Callable[..., np.ndarray]:
    """A fast gradient function of a formula: ``symgrad.gradient("x**2*y")(x, y)``.

    Same arguments as :func:`compile`; returns ``compile(...).gradient``.
    """
    return _compile_checked(formula, variables, params, options).gradient


def hessian(
    formula: str, variables: Names = None, params: Names = None, **options: Any
) -> Callable[..., np.ndarray]:
    """A fast Hessian function of a formula; returns ``compile(...).hessian``."""
    return _compile_checked(formula, variables, params, options).hessian


def jacobian(
    formulas: str | Sequence[str], variables: Names = None, params: Names = None, **options: Any
) -> Callable[..., np.ndarray]:
    """A fast Jacobian function of a list of formulas; ``compile(...).jacobian``."""
    return _compile_checked(formulas, variables, params, options).jacobian


def _compile_checked(formula, variables, params, options: dict) -> Evaluator:
    # make_options names a mistyped option ("unknown option 'dtpye'") instead of
    # Python's "unexpected keyword argument".
    return _for_request(formula, variables, params, make_options(**options))
