"""Proof, before any kernel runs, that every subscript stays inside its array.

For the sizes of a call, each access ``x[s(i, j, ...)]`` of each term is bounded over
the term's range nest with :func:`symgrad.indexed.model.extremes`, which is exact for
nests whose ranges are never empty and a safe outer bound otherwise. When that bound
leaves the array, the nest is enumerated exactly (vectorized with NumPy, up to
:data:`MAX_ENUMERATED` points) to tell a real out-of-range read from a point of an
empty range; beyond that limit the bound stands and the call is refused.
"""

from __future__ import annotations

import numpy as np
import sympy

from ..errors import InputError, ParseError
from .model import Range, Term, extremes

__all__ = ["check_bounds", "count_points", "MAX_ENUMERATED", "MAX_ITERATIONS"]

#: Most iteration points enumerated to check a subscript exactly.
MAX_ENUMERATED = 20_000_000
#: Most iterations of one sum in one call (2**40, about 10**12: hours of work). A
#: larger nest is refused instead of running for days.
MAX_ITERATIONS = 2**40


def _check_iterations(model, term, sizes: dict[str, int]) -> None:
    """Refuse a nest whose iteration count (bounded by its extents) is beyond reach."""
    if not term.ranges:
        return
    bound = 1
    for q, r in enumerate(term.ranges):
        lo = int(_num(extremes(r.start, term.ranges[:q])[0], sizes))
        hi = int(_num(extremes(r.stop, term.ranges[:q])[1], sizes))
        bound *= max(0, hi - lo)
        if bound == 0:
            return
    if bound > MAX_ITERATIONS:
        raise InputError(str(ParseError(
            f"a sum over up to {bound:.3g} iterations for these sizes "
            f"({', '.join(f'{k} = {v}' for k, v in sizes.items())}) is beyond "
            f"{MAX_ITERATIONS:.3g} (symgrad.indexed.bounds.MAX_ITERATIONS)",
            model.text, term.position)))


def count_points(ranges: tuple[Range, ...], sizes: dict[str, int]) -> int:
    """Number of integer points of a range nest for the given sizes."""
    if not ranges:
        return 1
    if _rectangular(ranges):
        total = 1
        for r in ranges:
            total *= max(0, int(_num(r.stop, sizes)) - int(_num(r.start, sizes)))
        return total
    return _count_nested(ranges, sizes)


def check_bounds(formula, sizes: dict[str, int]) -> None:
    """Raise InputError naming the first subscript that leaves its array."""
    model = formula.model
    dims = {d.name: d.dims for d in formula.variables + formula.params}
    # The reads of F itself (a non-linear function of sums keeps x[0], x[n-1] there)
    # are a term without ranges.
    terms = [*model.terms.values(), Term((), model.top)]
    for term in terms:
        ranges = term.ranges
        _check_iterations(model, term, sizes)
        syms = sorted(term.summand.free_symbols & set(model.accesses), key=str)
        if not syms:
            continue
        if _rectangular(ranges) and count_points(ranges, sizes) == 0:
            continue  # no iterations, no reads
        table = None
        for sym in syms:
            access = model.accesses[sym]
            for axis, sub in enumerate(access.subscripts):
                dim = dims[access.name][axis]
                length = dim if isinstance(dim, int) else sizes[dim]
                lo, hi = extremes(sub, ranges)
                lo, hi = int(_num(lo, sizes)), int(_num(hi, sizes))
                if lo >= 0 and hi <= length - 1:
                    continue
                if not _rectangular(ranges):
                    if table is None:
                        table = _enumerate(ranges, sizes)
                    if table is not None:
                        if table[1] == 0:
                            break  # the nest is empty
                        values = _affine_values(sub, ranges, table[0], sizes)
                        lo, hi = int(values.min()), int(values.max())
                        if lo >= 0 and hi <= length - 1:
                            continue
                _raise(model, sym, access, axis, lo, hi, dim, length, sizes)


def _raise(model, sym, access, axis, lo, hi, dim, length, sizes) -> None:
    where = f" (axis {axis})" if len(access.subscripts) > 1 else ""
    bad = lo if lo < 0 else hi
    bound = ", ".join(f"{k} = {v}" for k, v in sizes.items())
    msg = (f"subscript {access.spelled()}{where} reaches {bad}, outside 0..{length - 1} "
           f"({access.name} has length {length} on that axis; sizes: {bound})")
    if lo < 0:
        msg += ". Negative subscripts are not wrap-around here: start the range later."
    else:
        msg += ". Shorten the range, or pass a longer array."
    raise InputError(str(ParseError(msg, model.text, model.positions.get(sym))))


def _num(expr, sizes: dict[str, int]):
    if isinstance(expr, (int, np.integer)):
        return int(expr)
    value = sympy.sympify(expr).subs({sympy.Symbol(k, integer=True, positive=True): v
                                      for k, v in sizes.items()})
    if not value.is_Integer:
        raise InputError(f"internal: a bound {expr} is not a number for sizes {sizes}")
    return int(value)


def _rectangular(ranges: tuple[Range, ...]) -> bool:
    indices = {r.index for r in ranges}
    return all(not ((r.start.free_symbols | r.stop.free_symbols) & indices) for r in ranges)


def _coeffs(expr, ranges, sizes):
    """``expr`` as (constant, {index position: integer coefficient})."""
    expr = sympy.expand(sympy.sympify(expr))
    coeffs = {}
    for q, r in enumerate(ranges):
        c = expr.coeff(r.index)
        if c != 0:
            coeffs[q] = int(c)
    rest = expr.subs({r.index: 0 for r in ranges})
    return int(_num(rest, sizes)), coeffs


def _affine_values(expr, ranges, points: np.ndarray, sizes) -> np.ndarray:
    const, coeffs = _coeffs(expr, ranges, sizes)
    values = np.full(points.shape[0], const, dtype=np.int64)
    for q, c in coeffs.items():
        values += c * points[:, q]
    return values


def _enumerate(ranges, sizes, limit: int | None = MAX_ENUMERATED):
    """All points of the nest as an ``(count, depth)`` int64 table, or None past limit."""
    points = np.zeros((1, 0), dtype=np.int64)
    for _q, r in enumerate(ranges):
        lo = _affine_values(r.start, ranges, points, sizes) if points.shape[1] else \
            np.array([_coeffs(r.start, ranges, sizes)[0]], dtype=np.int64)
        hi = _affine_values(r.stop, ranges, points, sizes) if points.shape[1] else \
            np.array([_coeffs(r.stop, ranges, sizes)[0]], dtype=np.int64)
        lengths = np.maximum(hi - lo, 0)
        total = int(lengths.sum())
        if limit is not None and total > limit:
            return None
        rep = np.repeat(np.arange(points.shape[0]), lengths)
        starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
        new = np.repeat(lo, lengths) + (np.arange(total) - starts)
        points = np.concatenate([points[rep], new[:, None]], axis=1)
    return points, points.shape[0]


def _count_nested(ranges, sizes) -> int:
    """Points of a non-rectangular nest, by enumerating all but the innermost range."""
    if len(ranges) == 1:
        return max(0, _coeffs(ranges[0].stop, ranges, sizes)[0]
                   - _coeffs(ranges[0].start, ranges, sizes)[0])
    outer = _enumerate(ranges[:-1], sizes, limit=None)
    points = outer[0]
    last = ranges[-1]
    lo = _affine_values(last.start, ranges, np.pad(points, ((0, 0), (0, 1))), sizes)
    hi = _affine_values(last.stop, ranges, np.pad(points, ((0, 0), (0, 1))), sizes)
    return int(np.maximum(hi - lo, 0).sum())
