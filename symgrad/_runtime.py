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
    "sg_sinc",
    "sg_sinc_deriv",
    "sg_logistic",
    "sg_softplus",
    "sg_logaddexp",
    "sg_xlogy",
    "sg_point_loop",
    "sg_arg",
    "sg_at",
    "MAX_POLYGAMMA_ORDER",
    "MAX_SINC_ORDER",
]

from ._limits import MAX_POLYGAMMA_ORDER, MAX_SINC_ORDER  # noqa: E402 (no SymPy here)


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


def _compiled_as(fn):
    """An overload implementation calling ``fn`` (numba compiles math.* to libm)."""

    def typer(x):
        def impl(x):
            return fn(x)

        return impl

    return typer


# Under numba the IEEE-safe wrappers are not needed: numba's math functions already
# return inf/NaN instead of raising.
for _helper, _libm in (
    (sg_gamma, math.gamma), (sg_lgamma, math.lgamma), (sg_erf, math.erf), (sg_erfc, math.erfc)
):
    overload(_helper)(_compiled_as(_libm))


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


# ------------------------------------------------------------------------------ sinc
# The helpers below use only arithmetic and math functions on finite arguments, so the
# same code runs under numba and as plain Python (where math.sin(inf) or math.log(0)
# would raise): non-finite inputs are handled first.


@register_jitable
def sg_sinc(x):
    """Unnormalized sinc, sin(x)/x, 1 at 0 and 0 at +-inf (the limits)."""
    if x != x:
        return x
    if x == 0.0:
        return 1.0
    if x - x != 0.0:  # +-inf
        return 0.0
    return math.sin(x) / x


@register_jitable
def _sinc_series(n, x):
    """sum over k >= n/2 of (-1)^k x^(2k-n) / ((2k+1) (2k-n)!): the n-th derivative."""
    k0 = (n + 1) // 2
    j = 2 * k0 - n  # the power of x in the first term: 0 or 1
    p = x if j == 1 else 1.0
    if k0 % 2 == 1:
        p = -p
    total = 0.0
    for _ in range(60):
        term = p / (j + n + 1)
        total += term
        if abs(term) <= 1e-17 * abs(total):
            break
        p *= -x * x / ((j + 1) * (j + 2))
        j += 2
    return total


@register_jitable
def sg_sinc_deriv(order, x):
    """The ``order``-th derivative of sin(x)/x (1 <= order <= MAX_SINC_ORDER).

    Near 0 (``|x| < (order + 1)/2``, at least 1) the Taylor series, where it loses at
    most a few ulps; elsewhere Leibniz' rule
    ``sum_k n!/(n-k)! (-1)^k sin^(n-k)(x) / x^(k+1)``, whose terms then decrease.
    Measured against mpmath: within ~12 ulps of ``min(1/(n+1), 1/|x|)`` (the size of
    the derivative) for every order up to 10. 0 at +-inf (the limit).
    """
    n = int(order)
    if x != x:
        return x
    if x - x != 0.0:
        return 0.0
    if abs(x) < max(1.0, 0.5 * (n + 1)):
        return _sinc_series(n, x)
    s = math.sin(x)
    c = math.cos(x)
    coef = 1.0 / x
    total = 0.0
    for k in range(n + 1):
        m = (n - k) % 4  # sin^(m)(x): sin, cos, -sin, -cos
        trig = s if m == 0 else (c if m == 1 else (-s if m == 2 else -c))
        total += coef * trig
        coef *= -(n - k) / x
    return total


# ---------------------------------------------------- logistic, softplus, logaddexp


@register_jitable
def sg_logistic(x):
    """1/(1 + exp(-x)) without overflow: e^x/(1 + e^x) for x < 0."""
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)  # also NaN for NaN
    return e / (1.0 + e)


@register_jitable
def sg_softplus(x):
    """log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)), without overflow."""
    if x != x:
        return x
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


_LN2 = math.log(2.0)


@register_jitable
def sg_logaddexp(a, b):
    """log(exp(a) + exp(b)) without overflow (numpy.logaddexp)."""
    if a != a or b != b:
        return a + b
    if a == b:  # also both +inf or both -inf
        return a + _LN2
    return max(a, b) + math.log1p(math.exp(-abs(a - b)))


@register_jitable
def sg_xlogy(x, y):
    """x*log(y), 0 where x == 0 and y is not NaN (scipy.special.xlogy)."""
    if x == 0.0 and y == y:
        return 0.0
    if y != y or x != x:
        return x + y
    if y < 0.0:
        return math.nan
    if y == 0.0:
        return -x * math.inf
    if y - y != 0.0:  # +inf
        return x * math.inf
    return x * math.log(y)


def sg_point_loop(pyfunc):
    """Mark a generated kernel's point loop ``kernel_loop(a0, ..., o0, ..., start, stop)``.

    Returns ``pyfunc`` itself (plain Python runs it unchanged). Called from numba code,
    the loop is compiled as a subroutine whose pointer arguments are ``noalias`` (as
    numba does for the bodies of ``prange`` loops) and returns an int64 (the count of
    points left for the libm pass). That is what lets LLVM vectorize a loop writing
    several output rows: without it every pair of rows, and every row against every
    input, needs a runtime overlap check, and past a handful of them (or with
    wrapped-around signed indices) LLVM gives up and keeps the loop scalar.

    The promise behind ``noalias``: during the call no memory that the loop writes is
    reached through another argument. Output rows are distinct rows of one buffer, and
    the evaluator never passes a buffer that overlaps an input (``out=`` overlapping
    an input is computed into a temporary first, see ``Evaluator._output_buffer``).
    Inputs may share memory with each other: they are only read.
    """
    import inspect

    from numba.core import compiler, types
    from numba.extending import lower_builtin, type_callable

    params = list(inspect.signature(pyfunc).parameters)
    namespace = {"types": types}
    # A typer with the loop's own parameters (numba matches typers by signature).
    exec(f"def typer({', '.join(params)}):\n    return types.int64\n", namespace)  # noqa: S102

    @type_callable(pyfunc)
    def _typer(context):
        return namespace["typer"]

    @lower_builtin(pyfunc, *([types.Any] * len(params)))
    def _lower(context, builder, sig, args):
        flags = compiler.Flags()
        flags.nrt = True
        flags.error_model = "numpy"  # as the kernel: IEEE division, no checks
        flags.boundscheck = False
        flags.noalias = True
        cres = context.compile_subroutine(builder, pyfunc, sig, flags=flags)
        return context.call_internal(builder, cres.fndesc, sig, args)

    return pyfunc


def sg_arg(a):
    """A kernel input as its point loop takes it: the array itself, or, for a
    zero-stride broadcast view of one value (a scalar argument), that value.

    Under numba the choice is made by type: C-contiguous arrays pass through; any other
    layout must be a zero-stride view (the only other kind the evaluator passes, see
    ``symgrad.evaluator._flatten``) and becomes its one float, which the loop keeps in
    a register. (Read through a runtime stride, LLVM would vectorize the loop only for
    stride 1 and run the scalar fallback for stride 0.) A strided view is refused.
    """
    return a


def sg_at(a, i):
    """Point ``i`` of a loop input made by :func:`sg_arg`."""
    return a[i]


@overload(sg_arg, inline="always")
def _sg_arg_numba(a):
    from numba.core import types

    if not isinstance(a, types.Array):
        return None
    if a.layout == "C":
        return lambda a: a

    def impl(a):
        if a.shape[0] > 1 and a.strides[0] != 0:
            raise ValueError("symgrad kernel inputs are contiguous or zero-stride")
        return a[0]

    return impl


@overload(sg_at, inline="always")
def _sg_at_numba(a, i):
    from numba.core import types

    if isinstance(a, types.Array):
        return lambda a, i: a[i]
    if isinstance(a, (types.Float, types.Integer, types.Boolean)):
        return lambda a, i: a
    return None
