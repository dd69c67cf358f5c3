"""Constant guards: keep constant folding bounded and every constant within float64."""

from __future__ import annotations

import math

import mpmath
import sympy

from ..errors import ParseError
from .scanner import _FLOAT_MAX, BIG_ARGUMENT, MAX_EXACT_BITS


def _rational_bits(r: sympy.Rational) -> int:
    return max(abs(r.p).bit_length(), r.q.bit_length())


def _is_negative(value: sympy.Expr) -> bool:
    if value.is_Rational or value.is_Float:
        return bool(value < 0)
    return value.is_negative is True


def _to_mpf(value: sympy.Expr) -> mpmath.mpf | None:
    """``value`` as an mpmath float (53 bits), or None when it is not a real number."""
    if value.is_Rational:
        with mpmath.workprec(53):
            return mpmath.mpf(value.p) / value.q
    number = value if value.is_Float else value.evalf(15)
    if not number.is_Float:
        return None
    return mpmath.mpf(number._mpf_)


def _exact_power_bits(base: sympy.Expr, exp: sympy.Expr) -> float:
    """Estimate the size in bits of the exact value SymPy would compute for base**exp."""
    if not exp.is_Rational or base.is_Float:
        return 0.0  # SymPy keeps irrational exponents symbolic; floats stay float
    if base.is_Rational:
        if base in (0, 1, -1):
            return 0.0
        size = _rational_bits(base)
    else:
        # E.g. sqrt(2)**n becomes 2**(n/2): about n*log2|base| bits.
        mag = _to_mpf(base)
        if mag is None or mag == 0:
            return 0.0
        size = max(1.0, abs(float(mpmath.log(abs(mag), 2))))
    return float(abs(exp) * size) if abs(exp) < 10**300 else math.inf


def _is_big(arg: sympy.Expr) -> bool:
    """Whether a constant argument is large enough to evaluate a function numerically."""
    if arg.is_Rational:
        return (abs(arg.p) > BIG_ARGUMENT * arg.q or abs(arg.p).bit_length() > 64
                or arg.q.bit_length() > 64)
    value = _to_mpf(arg)
    return value is not None and abs(value) > BIG_ARGUMENT


def _tame_coefficients(values: list[sympy.Expr]) -> list[sympy.Expr]:
    """Turn exact coefficients into floats when SymPy would combine huge rationals.

    ``2**9999*x * 2**9999*x * ...`` multiplies (and sums of such terms add) exact
    coefficients; past a size that is pointless for float64 evaluation and slow.
    """
    total = 0
    for v in values:
        coeff = v.as_coeff_Mul()[0]
        if coeff.is_Rational:
            total += _rational_bits(coeff)
    if total <= 4 * MAX_EXACT_BITS:
        return values
    tamed = []
    for v in values:
        coeff, rest = v.as_coeff_Mul()
        if coeff.is_Rational and _rational_bits(coeff) > 64:
            v = sympy.Float(_to_mpf(coeff), 15) * rest
        tamed.append(v)
    return tamed


def _beyond_float64(number: sympy.Number) -> bool:
    """Whether a number's magnitude exceeds the largest finite float64."""
    if number.is_Rational:
        if abs(number.p).bit_length() - number.q.bit_length() < 1020:
            return False  # cheap test first: the quotient is below 2**1021
    mag = _to_mpf(number)
    return mag is None or not mpmath.isfinite(mag) or abs(mag) > _FLOAT_MAX


def _check_final(expr: sympy.Expr, text: str) -> None:
    """Reject a formula whose constants are infinite, undefined or beyond float64."""
    if expr.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
        raise ParseError("formula contains an infinite or undefined constant (division by "
                         "zero?)", text, None)
    for number in expr.atoms(sympy.Number):
        if _beyond_float64(number):
            raise ParseError("formula contains a constant too large for float64 (largest "
                             "finite is 1.8e308)", text, None)

