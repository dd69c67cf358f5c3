"""Constant guards: keep constant folding bounded and every constant within float64.

Every constant sub-expression the parser builds (and every one SymPy builds from them)
is evaluated by :func:`approx`, a small numeric evaluator on mpmath at a fixed, bounded
precision that checks the exponent range *before* each power, so ``pi**pi**pi**pi``
costs microseconds instead of sending SymPy's ``evalf`` (which raises its precision
to the size of the exponent) into an endless computation. A constant whose value, or
the value of any of its sub-expressions, lies outside float64's range, is infinite,
undefined or not real, is refused. SymPy's own exact evaluation and assumption queries
only ever see constants that passed, so they stay cheap as well.
"""

from __future__ import annotations

import math

import mpmath
import sympy

from ..errors import ParseError
from .scanner import _FLOAT_MAX, BIG_ARGUMENT, MAX_EXACT_BITS

#: Working precision of :func:`approx`, in bits (float64 has 53).
_PREC = 96
_DIGITS = 28  # the same precision in decimal digits, for evalf
#: log2 of the largest finite float64 (a value beyond 2**1024 overflows).
_LOG2_MAX = math.log2(_FLOAT_MAX)
#: Below 2**-_LOG2_TINY (far below float64's 2**-1074) approx treats a value as 0 instead
#: of computing an mpmath exponent of unbounded size.
_LOG2_TINY = 2.0**1000


class ConstantError(Exception):
    """A constant is ``large`` (beyond float64), ``undefined`` or ``complex``."""

    def __init__(self, kind: str):
        super().__init__(kind)
        self.kind = kind


def constant_message(kind: str, shown: str) -> str:
    """The ParseError reason for a ConstantError of ``kind`` about ``shown``."""
    if kind == "large":
        return f"constant {shown} is too large (overflows float64)"
    if kind == "undefined":
        return f"{shown} is infinite or undefined"
    if kind == "complex":
        return f"{shown} is not a real number"
    return f"{shown} cannot be evaluated as a real constant"


def approx(value: sympy.Expr, memo: dict | None = None) -> mpmath.mpf:
    """The value of constant ``value`` as an mpmath float, in bounded time.

    Raises ConstantError when ``value`` or one of its sub-expressions is beyond float64,
    infinite, undefined or not real. ``memo`` caches results across calls.
    """
    if memo is None:
        memo = {}
    hit = memo.get(value)
    if hit is not None:
        return hit
    with mpmath.workprec(_PREC):
        result = _approx(value, memo)
    if not mpmath.isfinite(result):
        raise ConstantError("undefined")
    if abs(result) > _FLOAT_MAX:
        raise ConstantError("large")
    memo[value] = result
    return result


def _approx(value: sympy.Basic, memo: dict) -> mpmath.mpf:
    if value.is_Rational:
        return mpmath.mpf(value.p) / value.q
    if value.is_Float:
        return mpmath.mpf(value._mpf_)
    if value in (sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
        raise ConstantError("undefined")
    if value is sympy.I:
        raise ConstantError("complex")
    if isinstance(value, sympy.NumberSymbol):
        return mpmath.mpf(value._as_mpf_val(_PREC))
    if not isinstance(value, sympy.Expr) or value.free_symbols:
        raise ConstantError("unknown")
    if value.is_Add:
        return mpmath.fsum(approx(a, memo) for a in value.args)
    if value.is_Mul:
        out = mpmath.mpf(1)
        for a in value.args:
            out *= approx(a, memo)
            if abs(out) > _FLOAT_MAX:  # an intermediate product: the next factor may be 0
                rest = [approx(b, memo) for b in value.args]
                if any(r == 0 for r in rest):
                    return mpmath.mpf(0)
                raise ConstantError("large")
        return out
    if value.is_Pow:
        base, exp = value.args
        return power_mpf(approx(base, memo), approx(exp, memo), exp)
    args = [approx(a, memo) for a in value.args]
    floats = [sympy.Float._new(a._mpf_, _PREC) for a in args]
    try:
        result = value.func(*floats).evalf(_DIGITS)
    except (TypeError, ValueError, ZeroDivisionError, ArithmeticError):
        raise ConstantError("undefined") from None
    if result.is_Float:
        return mpmath.mpf(result._mpf_)
    if result.is_Rational:
        return mpmath.mpf(result.p) / result.q
    if result.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
        raise ConstantError("undefined")
    if result.has(sympy.I) or result.is_real is False:
        raise ConstantError("complex")
    raise ConstantError("unknown")


def power_mpf(b: mpmath.mpf, e: mpmath.mpf, exp: sympy.Expr | None = None) -> mpmath.mpf:
    """``b**e`` for real b, e, checking the size of the result before computing it."""
    integral = (exp.is_integer if exp is not None else None) or mpmath.isint(e)
    if b == 0:
        if e < 0:
            raise ConstantError("undefined")
        return mpmath.mpf(1) if e == 0 else mpmath.mpf(0)
    if b < 0 and not integral:
        raise ConstantError("complex")
    log2 = e * mpmath.log(abs(b), 2)
    if log2 > _LOG2_MAX + 1:
        raise ConstantError("large")
    if log2 < -_LOG2_TINY:
        return mpmath.mpf(0)
    magnitude = mpmath.power(abs(b), e)
    return -magnitude if b < 0 and int(e) % 2 else magnitude


def _rational_bits(r: sympy.Rational) -> int:
    return max(abs(r.p).bit_length(), r.q.bit_length())


def _is_negative(value: sympy.Expr, memo: dict | None = None) -> bool:
    if value.is_Rational or value.is_Float:
        return bool(value < 0)
    try:
        return approx(value, memo) < 0
    except ConstantError:
        return False


def _to_mpf(value: sympy.Expr, memo: dict | None = None) -> mpmath.mpf | None:
    """``value`` as an mpmath float, or None when it is not a real number in range."""
    try:
        return approx(value, memo)
    except ConstantError:
        return None


def _exact_power_bits(base: sympy.Expr, exp: sympy.Expr, memo: dict | None = None) -> float:
    """Estimate the size in bits of the exact value SymPy would compute for base**exp."""
    if not exp.is_Rational or base.is_Float:
        return 0.0  # SymPy keeps irrational exponents symbolic; floats stay float
    if base.is_Rational:
        if base in (0, 1, -1):
            return 0.0
        size = _rational_bits(base)
    else:
        # E.g. sqrt(2)**n becomes 2**(n/2): about n*log2|base| bits.
        mag = _to_mpf(base, memo)
        if mag is None or mag == 0:
            return 0.0
        size = max(1.0, abs(float(mpmath.log(abs(mag), 2))))
    return float(abs(exp) * size) if abs(exp) < 10**300 else math.inf


def _is_big(arg: sympy.Expr, memo: dict | None = None) -> bool:
    """Whether a constant argument is large enough to evaluate a function numerically."""
    if arg.is_Rational:
        return (abs(arg.p) > BIG_ARGUMENT * arg.q or abs(arg.p).bit_length() > 64
                or arg.q.bit_length() > 64)
    value = _to_mpf(arg, memo)
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


def _check_final(expr: sympy.Expr, text: str, memo: dict | None = None) -> None:
    """Reject a formula with a constant that is infinite, undefined, not real or beyond
    float64, including constants SymPy formed while building it (``(pi*x)**1000``)."""
    for node in _maximal_constants(expr):
        try:
            approx(node, memo)
        except ConstantError as exc:
            if exc.kind == "large":
                reason = "formula contains a constant too large for float64 (largest finite is 1.8e308)"
            elif exc.kind == "complex":
                reason = "formula contains a constant that is not a real number"
            else:
                reason = "formula contains an infinite or undefined constant (division by zero?)"
            raise ParseError(reason, text, None) from None


def _maximal_constants(expr: sympy.Basic) -> list[sympy.Expr]:
    """The largest sub-expressions of ``expr`` without symbols (one pass, no recursion)."""
    constant: dict[sympy.Basic, bool] = {}
    stack: list[tuple[sympy.Basic, bool]] = [(expr, False)]
    while stack:  # post-order: children before parents
        node, done = stack.pop()
        if node in constant:
            continue
        if done or not node.args:
            constant[node] = not isinstance(node, sympy.Symbol) and all(
                constant[a] for a in node.args)
            continue
        stack.append((node, True))
        stack.extend((a, False) for a in node.args if a not in constant)
    found: list[sympy.Expr] = []
    seen: set[sympy.Basic] = set()
    stack2 = [expr]
    while stack2:
        node = stack2.pop()
        if node in seen:
            continue
        seen.add(node)
        if constant[node] and isinstance(node, sympy.Expr):
            found.append(node)
        elif not constant[node]:
            stack2.extend(node.args)
    return found
