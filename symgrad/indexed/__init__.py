"""Indexed formulas: array variables, sums over index ranges, loops in the kernel.

>>> import numpy as np, symgrad
>>> rosen = symgrad.compile(
...     "sum(100*(x[i+1] - x[i]**2)**2 + (1 - x[i])**2 for i in range(n - 1))",
...     variables="x[n]")
>>> x = np.array([1.2, 1.0, 0.8])
>>> round(float(rosen(x)), 12)
23.4
>>> rosen.gradient(x)
array([211.6,  -8. , -40. ])

Grammar (on top of the scalar grammar of ``symgrad.parse``):

* declarations ``variables="x[n] y[n] a"``, ``params="f[m, n] lam"``: a name and its
  dimensions, each a size name (bound from the array's shape at call time) or a
  fixed length; the same size must agree across all inputs of a call.
* ``sum(expr for i in range(stop))``, ``range(start, stop)``, several ``for`` clauses
  and nested sums; bounds affine in sizes and outer indices (``range(i+1, N)``).
* subscripts on declared arrays, affine with integer coefficients (``x[i+1]``,
  ``x[2*i]``, ``u[i, j-1]``, ``x[n-1-i]``); loop indices and sizes are also numbers
  (``sum(i*x[i] ...)/n``).
* the whole formula ``[expr for i in range(m)]``: a vector of residuals with a sparse
  Jacobian (``for_least_squares``).

``compile(..., where="r2 = (x[i]-x[j])**2 + (y[i]-y[j])**2")`` names a subexpression;
it is inlined where it is used, so its indices are those of the enclosing sum.

Out-of-range subscripts are a ``ParseError`` at compile time when they are out of
range for every size (``x[i+1] for i in range(n)`` with ``x[n]``), and an
``InputError`` before any read at call time otherwise; a kernel never reads out of
bounds. ``prod`` and ``if`` clauses are refused with the way to write them.

Derivatives are taken once on each summand template, per subscript occurrence, and
the kernels loop with runtime bounds, so one compiled kernel serves every size and
nothing is expanded into scalar terms. Outputs: value, gradient, ``hvp``,
``sparse_hessian`` (CSR), ``hessian`` (dense, small), ``jacobian`` (residuals, CSR);
``for_scipy`` and ``for_least_squares`` adapt them to ``scipy.optimize``.
"""

from __future__ import annotations

from .declare import has_brackets

__all__ = ["IndexedEvaluator", "is_indexed"]


def is_indexed(formula: object, variables: object, params: object) -> bool:
    """Whether a request is an indexed formula: a declared array, or a formula with a
    ``for`` clause or a subscript."""
    if has_brackets(variables) or has_brackets(params):
        return True
    if not isinstance(formula, str):
        return False
    from ..errors import ParseError
    from ..parse.scanner import _scan

    try:
        tokens, _ = _scan(formula)
    except ParseError:
        return False  # the scalar parser reports it
    return any((t.kind == "name" and t.text == "for") or t.text == "[" for t in tokens)


def __getattr__(name: str):
    if name == "IndexedEvaluator":
        from .evaluator import IndexedEvaluator

        return IndexedEvaluator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
