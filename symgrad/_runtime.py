"""Helpers that generated kernels call, valid both under numba and as plain Python.

A generated kernel module does ``from symgrad._runtime import *``. Under numba each
helper compiles into the kernel (``register_jitable`` or an ``overload``); run as
plain Python (the "gold" reference in tests, and the NumPy fallback) the same names
are ordinary functions with IEEE semantics: a domain error gives NaN or inf, never a
``ValueError`` from ``math``.

This module imports numba, so only kernel code imports it.
"""

from __future__ import annotations

import math

import numpy as np
from numba.extending import overload, register_jitable

__all__ = [
    "np",
    "sg_heaviside",
    "sg_gamma",
    "sg_lgamma",
    "sg_erf",
    "sg_erfc",
    "sg_digamma",
    "sg_polygamma",
    "MAX_POLYGAMMA_ORDER",
]

from .functions import MAX_POLYGAMMA_ORDER  # noqa: E402 (kept with its users)


@register_jitable
def sg_heaviside(x, h0):
    """Heaviside step: 0 for x < 0, ``h0`` at 0, 1 for x > 0, NaN for NaN."""
    if x > 0.0:
        return 1.0
    if x < 0.0:
        return 0.0
    if x == 0.0:
        return h0
    return x  # NaN


def _ieee(fn, x):
    try:
        return fn(float(x))
    except (ValueError, OverflowError):
        return math.nan if math.isnan(x) or (x < 0 and x == np.floor(x)) else math.inf


def sg_gamma(x):
    """Gamma function; inf at 0, NaN at negative integers (as numba's ``math.gamma``)."""
    if x == 0.0:
        return math.copysign(math.inf, x)
    return _ieee(math.gamma, x)


def sg_lgamma(x):
    """``log|Gamma(x)|`` (SciPy's ``gammaln``); inf at the poles."""
    if x <= 0.0 and x == np.floor(x):
        return math.inf
    return _ieee(math.lgamma, x)


def sg_erf(x):
    return math.erf(x)


def sg_erfc(x):
    return math.erfc(x)


@overload(sg_gamma)
def _gamma_jit(x):
    return lambda x: math.gamma(x)


@overload(sg_lgamma)
def _lgamma_jit(x):
    return lambda x: math.lgamma(x)


@overload(sg_erf)
def _erf_jit(x):
    return lambda x: math.erf(x)


@overload(sg_erfc)
def _erfc_jit(x):
    return lambda x: math.erfc(x)


# Bernoulli numbers B_2, B_4, ..., B_24 for the asymptotic series of the polygammas.
_BERNOULLI = np.array(
    [
        1.0 / 6.0,
        -1.0 / 30.0,
        1.0 / 42.0,
        -1.0 / 30.0,
        5.0 / 66.0,
        -691.0 / 2730.0,
        7.0 / 6.0,
        -3617.0 / 510.0,
        43867.0 / 798.0,
        -174611.0 / 330.0,
        854513.0 / 138.0,
        -236364091.0 / 2730.0,
    ]
)
# Shift x to at least this before using the asymptotic series: the first omitted term
# is then far below one ulp for every supported order.
_SHIFT = 20.0


@register_jitable
def sg_digamma(x):
    """Digamma psi(x) = d/dx log Gamma(x); NaN at the poles 0, -1, -2, ..."""
    if x != x:
        return x
    reflection = 0.0
    if x <= 0.0:
        # np.floor, not math.floor: numba's math.floor returns int64, which is garbage
        # for -inf and below -2**63 (then the pole test would fail).
        if x == np.floor(x):
            return math.nan
        # Reflection: psi(x) = psi(1 - x) - pi / tan(pi x)
        reflection = -math.pi / math.tan(math.pi * x)
        x = 1.0 - x
    acc = 0.0
    while x < _SHIFT:
        acc -= 1.0 / x
        x += 1.0
    inv2 = 1.0 / (x * x)
    series = 0.0
    power = inv2
    for k in range(len(_BERNOULLI)):
        series += _BERNOULLI[k] / (2.0 * (k + 1)) * power
        power *= inv2
    return reflection + acc + math.log(x) - 0.5 / x - series


@register_jitable
def sg_polygamma(m, x):
    """Polygamma psi^(m)(x) for integer order 0 <= m <= MAX_POLYGAMMA_ORDER.

    Upward recurrence ``psi^(m)(x) = psi^(m)(x+1) + (-1)^(m+1) m! / x^(m+1)`` to
    ``x >= 20``, then the asymptotic expansion
    ``(-1)^(m+1) [ (m-1)!/x^m + m!/(2 x^(m+1)) + sum_k B_2k (2k+m-1)!/((2k)! x^(2k+m)) ]``.
    Poles (x = 0, -1, ...) give inf for odd m and NaN for even m (the sign of the
    two-sided limit is undefined there).
    """
    if m == 0:
        return sg_digamma(x)
    if x != x:
        return x
    if x <= 0.0 and x == np.floor(x):  # poles; every float below -2**52 is one
        return math.inf if m % 2 == 1 else math.nan
    if x < -1e6:
        # The upward recurrence below would take |x| steps; for |x| this large the
        # answer is dominated by the nearest pole and not meaningful in float64.
        return math.nan
    sign = 1.0 if m % 2 == 1 else -1.0
    m_fact = math.gamma(m + 1.0)
    acc = 0.0
    while x < _SHIFT:
        acc += m_fact / x ** (m + 1)
        x += 1.0
    series = math.gamma(float(m)) / x**m + m_fact / (2.0 * x ** (m + 1))
    inv2 = 1.0 / (x * x)
    power = 1.0 / x**m
    for k in range(1, len(_BERNOULLI) + 1):
        power *= inv2
        coef = math.gamma(2.0 * k + m) / math.gamma(2.0 * k + 1.0)
        series += _BERNOULLI[k - 1] * coef * power
    return sign * (acc + series)
