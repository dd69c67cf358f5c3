"""The parsed form of an indexed formula: sums (terms) over affine index ranges.

An objective is ``F(T_1, ..., T_K, scalars)`` where each ``T_k`` is a *term*: a sum of
one summand template over a nest of ranges. The summand is an ordinary SymPy
expression in *occurrence* symbols (one per distinct subscripted read, such as
``x[i+1]``), scalar variables and parameters, loop indices and sizes. When ``F`` is
linear in the terms (the usual case: a sum of sums, times constants) the parser folds
the coefficients into the summands and ``F`` is ``1*T_1 + ... + 1*T_K`` (see
:attr:`Model.linear`); a part of the formula outside every sum is a term with no ranges.

A vector-valued formula ``[e(i) for i in range(m)]`` (residuals) has *row ranges*:
every term starts with them, and the row of an iteration is the position of its row
indices in the row nest.

Index arithmetic is affine with integer coefficients; :func:`extremes` bounds an affine
expression over a nest of ranges, which is how subscripts are checked before any read.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy

__all__ = ["Range", "Access", "Term", "Model", "extremes", "index_symbol", "size_symbol"]


def index_symbol(name: str) -> sympy.Symbol:
    """The symbol of a loop index (an integer)."""
    return sympy.Symbol(name, integer=True)


def size_symbol(name: str) -> sympy.Symbol:
    """The symbol of a size bound from an array's shape (a positive integer)."""
    return sympy.Symbol(name, integer=True, positive=True)


@dataclass(frozen=True)
class Range:
    """``for index in range(start, stop)``; bounds affine in sizes and outer indices."""

    index: sympy.Symbol
    start: sympy.Expr
    stop: sympy.Expr


@dataclass(frozen=True)
class Access:
    """A subscripted read ``name[s_1, ..., s_d]``; subscripts affine in indices and sizes."""

    name: str
    subscripts: tuple[sympy.Expr, ...]

    def spelled(self) -> str:
        return f"{self.name}[{', '.join(str(s) for s in self.subscripts)}]"


@dataclass(frozen=True)
class Term:
    """``sum(summand for ranges)``; ``ranges == ()`` is a single evaluation.

    Attributes
    ----------
    ranges : tuple of Range
        Outermost first.
    summand : sympy.Expr
    position : int or None
        Index in the formula text of the sum (for messages).
    """

    ranges: tuple[Range, ...]
    summand: sympy.Expr
    position: int | None = None


@dataclass
class Model:
    """A parsed indexed formula.

    Attributes
    ----------
    text : str
        The formula as given.
    top : sympy.Expr
        ``F`` in the term placeholders (objectives); ``0`` for residuals.
    terms : dict
        Placeholder symbol -> Term.
    accesses : dict
        Occurrence symbol -> Access.
    rows : tuple of Range or None
        The row ranges of a residual formula (``[... for i in range(m)]``), else None.
    index_names : dict
        Index symbol -> its name in the formula.
    """

    text: str
    top: sympy.Expr
    terms: dict[sympy.Symbol, Term]
    accesses: dict[sympy.Symbol, Access]
    rows: tuple[Range, ...] | None = None
    positions: dict[sympy.Symbol, int] = field(default_factory=dict)

    @property
    def linear(self) -> bool:
        """Whether ``top`` is the plain sum of the terms (coefficients folded in)."""
        cached = self.__dict__.get("_linear")
        if cached is None:  # a SymPy comparison: asked on every call, computed once
            cached = self.__dict__["_linear"] = bool(self.top == sympy.Add(*self.terms))
        return cached


def extremes(expr: sympy.Expr, ranges: tuple[Range, ...],
             sizes: dict[sympy.Symbol, int] | None = None) -> tuple[sympy.Expr, sympy.Expr]:
    """Lower and upper bound of an affine ``expr`` over the integer points of ``ranges``.

    Eliminates indices from the innermost range outwards: an affine function of an
    index with coefficient ``c`` is smallest at ``start`` when ``c >= 0`` and at
    ``stop - 1`` otherwise. The result is exact when every range is non-empty for
    every value of the outer indices; otherwise it may include points of empty
    ranges, so it is a safe (outer) bound either way. With ``sizes`` the bounds are
    numbers.
    """
    lo = hi = sympy.expand(expr)
    for r in reversed(ranges):
        lo = _eliminate(lo, r, lowest=True)
        hi = _eliminate(hi, r, lowest=False)
    if sizes:
        lo, hi = lo.subs(sizes), hi.subs(sizes)
    return lo, hi


def _eliminate(expr: sympy.Expr, r: Range, lowest: bool) -> sympy.Expr:
    c = expr.coeff(r.index)
    if c == 0:
        return expr
    at_start = (c >= 0) if lowest else (c < 0)
    bound = r.start if at_start else r.stop - 1
    # The bound itself is affine in outer indices: eliminate them again later.
    return sympy.expand(expr.subs(r.index, bound))
