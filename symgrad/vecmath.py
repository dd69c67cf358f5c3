"""Branch-free, loop-vectorizable float64 math for the kernels (``math="vector"``).

Every function here is plain arithmetic on one float: range reduction (Cody-Waite),
polynomials (fdlibm's minimax coefficients where fdlibm has them, Taylor otherwise),
and the exponent handled by integer operations on the bits of the double. There are
no calls to libm, no table lookups and no branches that LLVM cannot turn into vector
selects: ``a if c else b`` between two already-computed values compiles to a
``select``. Inlined into a kernel's point loop, LLVM vectorizes the loop (packed
``vmulpd``/``vaddpd``/``vblendvpd`` or AVX-512 masked moves on ymm/zmm registers).

The same functions run as plain Python on floats (the bit casts go through
``struct``), so a vector kernel run as plain Python computes the same formulas as its
compiled loop. No FMA is used (numba does not contract ``a*b + c`` without fastmath,
and Python has no ``fma`` before 3.13), so both agree to the last bit except where
LLVM's or Python's int/float conversions round differently (they do not here).

Special values follow C99 Annex F: ``exp(-inf) = 0``, ``exp(nan) = nan``,
``log(0) = -inf``, ``log(-1) = nan``, signs of zero are kept (``sin(-0) = -0``,
``expm1(-0) = -0``, ...), NaN in gives NaN out.

Range limits
------------
sin, cos and tan reduce by pi/2 with a four-part Cody-Waite constant (152 bits), exact for
``|x| <= TRIG_LIMIT``. Beyond it (and for inf and NaN) they return NaN here; the
vector kernel (``symgrad.codegen.generate_source`` with ``math="vector"``) flags such
points with :func:`vm_trig_ok` and recomputes just those points with libm in a second
pass, so the point loop itself stays call-free.

Accuracy (measured by ``python -m benchmarks.accuracy`` over 10**6 arguments per
range, see ``benchmarks/results/accuracy.md``): below 1 ulp for exp, log, pow, sin,
cos, tan, atan (and exp2, log2, log10, log1p, cbrt, asin, acos, erf); at most 2 ulp for
expm1, atan2, sinh, cosh, tanh, asinh, acosh, atanh, erfc.
float32 kernels call the same float64 code (their arguments are widened), so the
float32 results are the correctly rounded float64 results rounded once more.
"""

from __future__ import annotations

import math
import struct

import numpy as np
from numba.core import types
from numba.extending import intrinsic, lower_builtin, overload, type_callable

__all__ = [
    "TRIG_LIMIT",
    "vm_exp", "vm_expm1", "vm_exp2", "vm_log", "vm_log1p", "vm_log2", "vm_log10",
    "vm_pow", "vm_sin", "vm_cos", "vm_tan", "vm_trig_ok", "vm_atan", "vm_atan2",
    "vm_asin", "vm_acos", "vm_sinh", "vm_cosh", "vm_tanh", "vm_asinh", "vm_acosh",
    "vm_atanh", "vm_cbrt", "vm_erf", "vm_erfc", "vm_logistic", "vm_softplus",
    "vm_logaddexp", "vm_xlogy", "vm_sinc", "vm_select",
]

#: sin/cos/tan are computed here for ``|x| <= TRIG_LIMIT`` (k = round(2x/pi) < 2**20:
#: the products k*PIO2_1 and k*PIO2_2 are exact); beyond, libm (see the module doc).
TRIG_LIMIT = 1.0e6

_SIGN = -0x8000000000000000  # the sign bit, as a signed int64
_ABS = 0x7FFFFFFFFFFFFFFF
_LOW32 = 0xFFFFFFFF
_HIGH32 = -0x100000000  # 0xFFFFFFFF00000000 as a signed int64


# -- bit casts: struct in Python, an LLVM bitcast under numba --------------------------
def f2i(x):
    """The bits of the float64 ``x`` as a signed int64."""
    return struct.unpack("<q", struct.pack("<d", x))[0]


def i2f(i):
    """The float64 whose bits are the int64 ``i`` (taken modulo 2**64).

    In Python a NumPy float64, so that arithmetic on it follows IEEE (inf and NaN, no
    ``ZeroDivisionError``), as compiled code does."""
    return np.float64(struct.unpack("<d", struct.pack("<Q", i & 0xFFFFFFFFFFFFFFFF))[0])


@intrinsic
def _bitcast_f2i(typingctx, x):
    from llvmlite import ir

    if x != types.float64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def _bitcast_i2f(typingctx, i):
    from llvmlite import ir

    if not isinstance(i, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@overload(f2i, inline="always")
def _f2i_numba(x):
    if isinstance(x, types.Float):
        def impl(x):
            return _bitcast_f2i(np.float64(x))
        return impl
    return None


@overload(i2f, inline="always")
def _i2f_numba(i):
    if isinstance(i, types.Integer):
        def impl(i):
            return _bitcast_i2f(i)
        return impl
    return None


def _inlined(pyfunc):
    """``pyfunc`` stays a plain Python function; a call to it in numba code compiles
    to a call with LLVM's ``alwaysinline`` attribute.

    numba compiles each jitted callee separately and LLVM's inliner then declines the
    larger ones (expm1, tan, ...), and a call left in the point loop stops it from
    vectorizing; numba's own ``inline="always"`` retypes the body at every call site
    (tens of seconds per kernel). Here the body is compiled once per argument types
    (a plain ``njit`` dispatcher, ``error_model="numpy"``: no division checks) and
    inlined by LLVM wherever it is called.
    """
    import inspect

    import numba

    nargs = len(inspect.signature(pyfunc).parameters)
    state = {}

    def compiled(argtys):
        d = state.get("d")
        if d is None:
            d = state["d"] = numba.njit(error_model="numpy", nogil=True)(pyfunc)
        argtys = tuple(argtys)
        if argtys not in d.overloads:
            d.compile(argtys)
        return d.overloads[argtys]

    @type_callable(pyfunc)
    def _typer(context):
        def typer1(x):
            return compiled((x,)).signature.return_type

        def typer2(x, y):
            return compiled((x, y)).signature.return_type

        def typer3(x, y, z):
            return compiled((x, y, z)).signature.return_type

        return (typer1, typer2, typer3)[nargs - 1]

    @lower_builtin(pyfunc, *([types.Any] * nargs))
    def _lower(context, builder, sig, args):
        cres = compiled(sig.args)
        fn = context.declare_function(builder.module, cres.fndesc)
        _, value = context.call_conv.call_function(
            builder, fn, cres.fndesc.restype, cres.fndesc.argtypes, args,
            attrs=("alwaysinline",),
        )
        context.add_linking_libs([cres.library])
        return value

    return pyfunc


@_inlined
def vm_select(c, a, b):
    """``a`` where ``c`` else ``b``, both already evaluated (a vector select)."""
    return a if c else b


@_inlined
def _copysign(mag, sign):
    return i2f((f2i(mag) & _ABS) | (f2i(sign) & _SIGN))


@_inlined
def _fabs(x):
    return i2f(f2i(x) & _ABS)


@_inlined
def _two_sum(a, b):
    s = a + b
    bp = s - a
    return s, (a - (s - bp)) + (b - bp)


@_inlined
def _trunc32(x):
    """``x`` with the low 32 bits of its significand cleared (exact split point)."""
    return i2f(f2i(x) & _HIGH32)


@_inlined
def _pow2(k):
    """2.0**k for an int64 ``-1022 <= k <= 1023``."""
    return i2f((k + 1023) << 52)


# -- exp family ----------------------------------------------------------------------
_INVLN2 = 1.44269504088896338700e00
_LN2HI = 6.93147180369123816490e-01  # 32 significant bits: k*_LN2HI exact
_LN2LO = 1.90821492927058770002e-10
_SHIFT = 6755399441055744.0  # 1.5 * 2**52: adding it rounds to an integer
_SHIFT_BITS = 0x4338000000000000


@_inlined
def _expm1_tail(r, rr):
    """``expm1(r + rr) - r`` for ``|r| <= 0.35``, ``|rr| <= ulp(r)``."""
    p = 1.0 / 479001600.0 + r * (1.0 / 6227020800.0)
    p = 1.0 / 39916800.0 + r * p
    p = 1.0 / 3628800.0 + r * p
    p = 1.0 / 362880.0 + r * p
    p = 1.0 / 40320.0 + r * p
    p = 1.0 / 5040.0 + r * p
    p = 1.0 / 720.0 + r * p
    p = 1.0 / 120.0 + r * p
    p = 1.0 / 24.0 + r * p
    p = 1.0 / 6.0 + r * p
    p = 0.5 + r * p
    return (r * r) * p + rr * (1.0 + r)


@_inlined
def _exp_reduce(x, invln2):
    """(k, r, rr): ``x*invln2*ln2 = k*ln2 + r + rr``, k an int64 (x already clamped)."""
    t = x * invln2 + _SHIFT
    k = f2i(t) - _SHIFT_BITS
    kd = t - _SHIFT
    hi = x - kd * _LN2HI
    lo = -kd * _LN2LO
    r, rr = _two_sum(hi, lo)
    return k, r, rr


@_inlined
def _scale(y, k):
    """``y * 2**k`` for ``|k| <= 2100`` with a single rounding (two exact steps)."""
    k1 = k >> 1
    return (y * _pow2(k1)) * _pow2(k - k1)


@_inlined
def _exp_k(x, extra):
    """``exp(x) * 2**extra`` (x finite or clamped by the caller)."""
    k, r, rr = _exp_reduce(x, _INVLN2)
    y = 1.0 + (r + _expm1_tail(r, rr))
    return _scale(y, k + extra)


@_inlined
def vm_exp(x):
    """exp(x), branch-free."""
    x = np.float64(x)
    xc = x if x > -760.0 else -760.0
    xc = xc if xc < 720.0 else 720.0
    y = _exp_k(xc, 0)
    return y if x == x else x


_LN2D = 0.6931471805599453  # double(ln 2)
_LN2D_1 = 134217729.0 * _LN2D - (134217729.0 * _LN2D - _LN2D)  # its top 26 bits
_LN2D_2 = _LN2D - _LN2D_1
_LN2D_TAIL = 2.3190468138462996e-17  # ln 2 - double(ln 2)


@_inlined
def vm_exp2(x):
    """2**x: k = round(x), r = x - k exact, 2**r = exp(r*ln2) with r*ln2 double-double."""
    x = np.float64(x)
    xc = x if x > -1100.0 else -1100.0
    xc = xc if xc < 1100.0 else 1100.0
    t = xc + _SHIFT
    k = f2i(t) - _SHIFT_BITS
    r = xc - (t - _SHIFT)
    # r * ln2 exactly as h + l (Veltkamp split of r; ln2 = L1 + L2 + L3)
    c = 134217729.0 * r
    r1 = c - (c - r)
    r2 = r - r1
    h = r * _LN2D
    lo = ((r1 * _LN2D_1 - h) + r1 * _LN2D_2 + r2 * _LN2D_1) + r2 * _LN2D_2 + r * _LN2D_TAIL
    h2, rr = _two_sum(h, lo)
    y = 1.0 + (h2 + _expm1_tail(h2, rr))
    y = _scale(y, k)
    return y if x == x else x


@_inlined
def vm_expm1(x):
    """exp(x) - 1, accurate near 0, branch-free."""
    x = np.float64(x)
    xc = x if x > -40.0 else -40.0
    xc = xc if xc < 720.0 else 720.0
    k, r, rr = _exp_reduce(xc, _INVLN2)
    tail = _expm1_tail(r, rr)
    kc = k if k < 1000 else 1000
    s = _pow2(kc)
    # expm1 = (s - 1) + s*r + s*tail, the first sum exact (TwoSum)
    hi, lo = _two_sum(s - 1.0, s * r)
    y = hi + (lo + s * tail)
    y = y * _pow2(k - kc)
    y = y if x != 0.0 else x  # expm1(-0) = -0
    return y if x == x else x


# -- log family ----------------------------------------------------------------------
_LG1 = 6.666666666666735130e-01
_LG2 = 3.999999999940941908e-01
_LG3 = 2.857142874366239149e-01
_LG4 = 2.222219843214978396e-01
_LG5 = 1.818357216161805012e-01
_LG6 = 1.531383769920937332e-01
_LG7 = 1.479819860511658591e-01


@_inlined
def _log_decompose(x):
    """(k, f) with ``x = 2**k * (1 + f)``, ``sqrt(2)/2 <= 1 + f < sqrt(2)`` (x > 0 finite)."""
    sub = x < 2.2250738585072014e-308
    xs = x * 18014398509481984.0 if sub else x  # 2**54
    ix = f2i(xs)
    hx = (ix >> 32) + (0x3FF00000 - 0x3FE6A09E)
    k = (hx >> 20) - 1023 - (54 if sub else 0)
    hx = (hx & 0x000FFFFF) + 0x3FE6A09E
    m = i2f((hx << 32) | (ix & _LOW32))
    return k, m - 1.0


@_inlined
def _k_log1p(f):
    """fdlibm's ``log(1+f) - f + f*f/2`` for ``sqrt(2)/2 <= 1+f < sqrt(2)``."""
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    t1 = w * (_LG2 + w * (_LG4 + w * _LG6))
    t2 = z * (_LG1 + w * (_LG3 + w * (_LG5 + w * _LG7)))
    hfsq = 0.5 * f * f
    return s * (hfsq + t1 + t2)


@_inlined
def _log_special(x, y):
    """``y`` for finite ``x > 0``; -inf at 0, NaN below 0, x for inf and NaN."""
    special = -math.inf if x == 0.0 else (math.nan if x < 0.0 else x)
    return y if (x > 0.0) & (x < math.inf) else special


@_inlined
def vm_log(x):
    """Natural logarithm (fdlibm's algorithm, branch-free)."""
    x = np.float64(x)
    xs = x if (x > 0.0) & (x < math.inf) else 1.0
    k, f = _log_decompose(xs)
    dk = float(k)
    hfsq = 0.5 * f * f
    r = _k_log1p(f)
    y = dk * _LN2HI - ((hfsq - (r + dk * _LN2LO)) - f)
    return _log_special(x, y)


@_inlined
def vm_log1p(x):
    """log(1 + x), accurate near 0: log of u = 1 + x plus the rounding error of u."""
    x = np.float64(x)
    ok = (x > -1.0) & (x < math.inf)
    xs = x if ok else 0.0
    u, c = _two_sum(1.0, xs)
    k, f = _log_decompose(u)
    dk = float(k)
    hfsq = 0.5 * f * f
    r = _k_log1p(f)
    c = c / u
    y = dk * _LN2HI - ((hfsq - (r + (dk * _LN2LO + c))) - f)
    y = y if x != 0.0 else x  # log1p(-0) = -0
    special = -math.inf if x == -1.0 else (math.nan if x < -1.0 else x)
    return y if ok else special


@_inlined
def _log_hilo(x):
    """(dk, hi, lo) with ``log(x) = dk*ln2 + hi + lo`` (FreeBSD's k_log split)."""
    k, f = _log_decompose(x)
    hfsq = 0.5 * f * f
    r = _k_log1p(f)
    hi = _trunc32(f - hfsq)
    lo = (f - hi) - hfsq + r
    return float(k), hi, lo


@_inlined
def vm_log2(x):
    """log2(x) (FreeBSD's e_log2.c, branch-free)."""
    x = np.float64(x)
    xs = x if (x > 0.0) & (x < math.inf) else 1.0
    dk, hi, lo = _log_hilo(xs)
    val_hi = hi * 1.44269504072144627571e00
    val_lo = (lo + hi) * 1.67517131648865118353e-10 + lo * 1.44269504072144627571e00
    w = dk + val_hi
    val_lo += (dk - w) + val_hi
    return _log_special(x, val_lo + w)


@_inlined
def vm_log10(x):
    """log10(x) (FreeBSD's e_log10.c, branch-free)."""
    x = np.float64(x)
    xs = x if (x > 0.0) & (x < math.inf) else 1.0
    dk, hi, lo = _log_hilo(xs)
    val_hi = hi * 4.34294481878168880939e-01
    y2 = dk * 3.01029995663611771306e-01
    val_lo = (dk * 3.69423907715893078616e-13 + (lo + hi) * 2.50829467116452752298e-11
              + lo * 4.34294481878168880939e-01)
    w = y2 + val_hi
    val_lo += (y2 - w) + val_hi
    return _log_special(x, val_lo + w)


# -- pow -----------------------------------------------------------------------------
@_inlined
def _mul12(a, b):
    """a*b = p + e exactly (Dekker, no FMA)."""
    p = a * b
    c = 134217729.0 * a
    a1 = c - (c - a)
    a2 = a - a1
    c = 134217729.0 * b
    b1 = c - (c - b)
    b2 = b - b1
    e = ((a1 * b1 - p) + a1 * b2 + a2 * b1) + a2 * b2
    return p, e


@_inlined
def _log_dd(x):
    """log(x) as a double-double (hi, lo), relative error about 2**-68, x > 0 finite.

    ``log(1+f) = 2 atanh(s)``, ``s = f/(2+f)``: s is formed as a double-double, the
    leading terms 2s + 2s**3/3 in double-double and the rest in double.
    """
    k, f = _log_decompose(x)
    d, dl = _two_sum(2.0, f)  # 2 + f is not always a double
    s = f / d
    # s_lo = (f - s*(d + dl))/d
    p, e = _mul12(s, d)
    s_lo = (((f - p) - e) - s * dl) / d
    z = s * s
    w = z * z
    # 2*atanh(s) = 2s + 2s^3/3 + 2s^5/5 + ... ; the series from s^5 in double
    p = 2.0 / 29.0 + z * (2.0 / 31.0)
    p = 2.0 / 27.0 + z * p
    p = 2.0 / 25.0 + z * p
    p = 2.0 / 23.0 + z * p
    p = 2.0 / 21.0 + z * p
    p = 2.0 / 19.0 + z * p
    p = 2.0 / 17.0 + z * p
    p = 2.0 / 15.0 + z * p
    p = 2.0 / 13.0 + z * p
    p = 2.0 / 11.0 + z * p
    p = 2.0 / 9.0 + z * p
    p = 2.0 / 7.0 + z * p
    p = 2.0 / 5.0 + z * p
    tail = (w * s) * p
    # 2s^3/3 as a double-double
    z_hi, z_lo = _mul12(s, s)
    z_lo += 2.0 * s * s_lo
    c_hi, c_lo = _mul12(z_hi, s)
    c_lo += z_lo * s + z_hi * s_lo
    t_hi = c_hi * (2.0 / 3.0)
    t_p, t_e = _mul12(c_hi, 0.6666666666666666)
    t_lo = (t_p - t_hi) + t_e + c_hi * 3.700743415417188e-17 + c_lo * (2.0 / 3.0)
    # sum 2s + t + tail
    a_hi, a_lo = _two_sum(2.0 * s, t_hi)
    a_lo += 2.0 * s_lo + t_lo + tail
    h, lo = _two_sum(a_hi, a_lo)
    # + k*ln2 (ln2 as three parts; k*L1 exact)
    dk = float(k)
    kh, kl = _two_sum(dk * 0.6931471805592082, h)  # ln2's first 40 bits: k*L1 exact
    kl += lo + dk * 7.371002565167799e-13
    return _two_sum(kh, kl)


@_inlined
def _exp_dd(h, lo):
    """exp(h + lo) for a double-double with |lo| <= ulp(h); h clamped by the caller."""
    k, r, rr = _exp_reduce(h, _INVLN2)
    r2, rr2 = _two_sum(r, rr + lo)
    y = 1.0 + (r2 + _expm1_tail(r2, rr2))
    return _scale(y, k)


@_inlined
def vm_pow(x, y):
    """x**y for real y (C99 pow's special cases), exp(y*log|x|) in double-double."""
    x = np.float64(x)
    y = np.float64(y)
    ax = _fabs(x)
    ay = _fabs(y)
    y_int = (np.floor(y) == y) & (ay < math.inf)
    y_odd = y_int & (_fabs(y * 0.5 - np.floor(y * 0.5)) == 0.5)
    finite = (ax > 0.0) & (ax < math.inf) & (ay < math.inf)
    lx = ax if finite else 1.0
    lh, ll = _log_dd(lx)
    yc = y if finite else 0.0
    p, e = _mul12(yc, lh)
    e += yc * ll
    zh, zl = _two_sum(p, e)
    inr = (p > -760.0) & (p < 720.0)
    zh2 = zh if inr else (720.0 if p > 0.0 else -760.0)
    zl = zl if inr else 0.0
    mag = _exp_dd(zh2, zl)
    # special cases (C99 F.9.4.4)
    inf = math.inf
    big = ax > 1.0
    at_inf_y = (inf if (big == (y > 0.0)) else 0.0) if ax != 1.0 else 1.0
    at_zero = inf if y < 0.0 else 0.0
    at_inf_x = inf if y > 0.0 else 0.0
    mag = at_inf_y if ay == inf else mag
    mag = at_zero if ax == 0.0 else mag
    mag = at_inf_x if (ax == inf) & (ay != inf) else mag
    neg = f2i(x) < 0
    res = -mag if (neg & y_odd) else mag
    res = math.nan if (x < 0.0) & (not y_int) & (ay != inf) & (ax != inf) else res
    res = math.nan if (x != x) | (y != y) else res
    res = 1.0 if (y == 0.0) | (x == 1.0) else res
    res = 1.0 if (x == -1.0) & (ay == inf) else res
    return res


# -- trigonometric -------------------------------------------------------------------
_INVPIO2 = 6.36619772367581382433e-01
_PIO2_1 = 1.57079632673412561417e00  # first 33 bits of pi/2
_PIO2_2 = 6.07710050630396597660e-11  # next 33 bits
_PIO2_3 = 2.02226624871116645580e-21  # next 33 bits
_PIO2_3T = 8.47842766036889956997e-32  # next 53 bits (rounded): pi/2 to 152 bits

_S1 = -1.66666666666666324348e-01
_S2 = 8.33333333332248946124e-03
_S3 = -1.98412698298579493134e-04
_S4 = 2.75573137070700676789e-06
_S5 = -2.50507602534068634195e-08
_S6 = 1.58969099521155010221e-10
_C1 = 4.16666666666666019037e-02
_C2 = -1.38888888888741095749e-03
_C3 = 2.48015872894767294178e-05
_C4 = -2.75573143513906633035e-07
_C5 = 2.08757232129817482790e-09
_C6 = -1.13596475577881948265e-11


@_inlined
def _rem_pio2(x):
    """(n, r, rr): ``x = n*pi/2 + r + rr``, ``|r| <= pi/4``, for ``|x| <= TRIG_LIMIT``.

    fdlibm's medium-range reduction, branch-free: pi/2 in four parts, the first three
    of 33 bits (their products with n < 2**20 are exact), 152 bits in all, the partial
    sums kept as double-doubles. Next to a multiple of pi/2 (|r| down to ~1e-16 for
    |x| <= 1e6) r then still has its full 53 bits; with 119 bits tan reached 1.2 ulp
    there. Larger ``x`` (and inf/NaN) are replaced by 0 (the callers return NaN).
    """
    xs = x if _fabs(x) <= TRIG_LIMIT else np.float64(0.0)  # NumPy's: IEEE in Python
    t = xs * _INVPIO2 + _SHIFT
    n = f2i(t) - _SHIFT_BITS
    fn = t - _SHIFT
    a = xs - fn * _PIO2_1  # exact
    r, rr = _two_sum(a, -(fn * _PIO2_2))  # the products are exact
    r, e = _two_sum(r, -(fn * _PIO2_3))
    rr = (rr + e) - fn * _PIO2_3T
    r2, rr2 = _two_sum(r, rr)
    return n, r2, rr2


@_inlined
def _k_sin(x, y):
    z = x * x
    w = z * z
    r = _S2 + z * (_S3 + z * _S4) + z * w * (_S5 + z * _S6)
    v = z * x
    return x - ((z * (0.5 * y - v * r) - y) - v * _S1)


@_inlined
def _k_cos(x, y):
    z = x * x
    w = z * z
    r = z * (_C1 + z * (_C2 + z * _C3)) + w * w * (_C4 + z * (_C5 + z * _C6))
    hz = 0.5 * z
    w = 1.0 - hz
    return w + (((1.0 - w) - hz) + (z * r - x * y))


@_inlined
def vm_trig_ok(x):
    """Whether sin/cos/tan of ``x`` is computed here (else: libm, see the module doc)."""
    return _fabs(np.float64(x)) <= TRIG_LIMIT


@_inlined
def vm_sin(x):
    """sin(x) for ``|x| <= TRIG_LIMIT`` (NaN beyond: see :func:`vm_trig_ok`)."""
    x = np.float64(x)
    n, r, rr = _rem_pio2(x)
    s = _k_sin(r, rr)
    c = _k_cos(r, rr)
    q = n & 3
    y = s if (q & 1) == 0 else c
    y = -y if q >= 2 else y
    y = y if x != 0.0 else x  # keep the sign of zero
    return y if _fabs(x) <= TRIG_LIMIT else math.nan


@_inlined
def vm_cos(x):
    """cos(x) for ``|x| <= TRIG_LIMIT`` (NaN beyond: see :func:`vm_trig_ok`)."""
    x = np.float64(x)
    n, r, rr = _rem_pio2(x)
    s = _k_sin(r, rr)
    c = _k_cos(r, rr)
    q = n & 3
    y = c if (q & 1) == 0 else s
    y = -y if (q == 1) | (q == 2) else y
    return y if _fabs(x) <= TRIG_LIMIT else math.nan


_T = (
    3.33333333333334091986e-01, 1.33333333333201242699e-01, 5.39682539762260521377e-02,
    2.18694882948595424599e-02, 8.86323982359930005737e-03, 3.59207910759131235356e-03,
    1.45620945432529025516e-03, 5.88041240820264096874e-04, 2.46463134818469906812e-04,
    7.81794442939557092300e-05, 7.14072491382608190305e-05, -1.85586374855275456654e-05,
    2.59073051863633712884e-05,
)
_T0, _T1, _T2, _T3, _T4, _T5, _T6, _T7, _T8, _T9, _T10, _T11, _T12 = _T
_PIO4 = 7.85398163397448278999e-01
_PIO4LO = 3.06161699786838301793e-17


@_inlined
def _k_tan(x, y, odd):
    """fdlibm's __kernel_tan, branch-free: tan(x+y), or -1/tan(x+y) when ``odd``."""
    big = _fabs(x) >= 0.6744
    neg = x < 0.0
    xa = -x if (big & neg) else x
    ya = -y if (big & neg) else y
    zb = _PIO4 - xa
    wb = _PIO4LO - ya
    xa = (zb + wb) if big else xa
    ya = 0.0 if big else ya
    z = xa * xa
    w = z * z
    r = _T1 + w * (_T3 + w * (_T5 + w * (_T7 + w * (_T9 + w * _T11))))
    v = z * (_T2 + w * (_T4 + w * (_T6 + w * (_T8 + w * (_T10 + w * _T12)))))
    s = z * xa
    r = ya + z * (s * (r + v) + ya)
    r += _T0 * s
    w = xa + r
    # big |x|: tan = (1 - 2*neg) * (v - 2*(x - (w*w/(w+v) - r))), v = +-1
    vv = -1.0 if odd else 1.0
    big_res = vv - 2.0 * (xa - (w * w / (w + vv) - r))
    big_res = -big_res if neg else big_res
    # small |x|, odd: -1/(x+r) accurately
    zt = _trunc32(w)
    vt = r - (zt - xa)
    a = -1.0 / w
    t = _trunc32(a)
    s2 = 1.0 + t * zt
    odd_res = t + a * (s2 + t * vt)
    small_res = odd_res if odd else w
    return big_res if big else small_res


@_inlined
def vm_tan(x):
    """tan(x) for ``|x| <= TRIG_LIMIT`` (NaN beyond: see :func:`vm_trig_ok`)."""
    x = np.float64(x)
    n, r, rr = _rem_pio2(x)
    y = _k_tan(r, rr, (n & 1) == 1)
    y = y if x != 0.0 else x
    return y if _fabs(x) <= TRIG_LIMIT else math.nan


# -- inverse trigonometric -----------------------------------------------------------
_AT = (
    3.33333333333329318027e-01, -1.99999999998764832476e-01, 1.42857142725034663711e-01,
    -1.11111104054623557880e-01, 9.09088713343650656196e-02, -7.69187620504482999495e-02,
    6.66107313738753120669e-02, -5.83357013379057348645e-02, 4.97687799461593236017e-02,
    -3.65315727442169155270e-02, 1.62858201153657823623e-02,
)
_AT0, _AT1, _AT2, _AT3, _AT4, _AT5, _AT6, _AT7, _AT8, _AT9, _AT10 = _AT


@_inlined
def _atan_pos(ax):
    """atan(ax) for ax >= 0 or NaN (fdlibm's five intervals, selected arithmetically)."""
    i1 = ax >= 0.4375
    i2 = ax >= 0.6875
    i3 = ax >= 1.1875
    i4 = ax >= 2.4375
    c = 1.5 if i3 else (1.0 if i2 else (0.5 if i1 else 0.0))
    num = -1.0 if i4 else ax - c
    den = ax if i4 else 1.0 + c * ax
    hi = (1.57079632679489655800e00 if i4 else 9.82793723247329054082e-01) if i3 else (
        7.85398163397448278999e-01 if i2 else (4.63647609000806093515e-01 if i1 else 0.0))
    lo = (6.12323399573676603587e-17 if i4 else 1.39033110312309984516e-17) if i3 else (
        3.06161699786838301793e-17 if i2 else (2.26987774529616870924e-17 if i1 else 0.0))
    t = num / den
    z = t * t
    w = z * z
    s1 = z * (_AT0 + w * (_AT2 + w * (_AT4 + w * (_AT6 + w * (_AT8 + w * _AT10)))))
    s2 = w * (_AT1 + w * (_AT3 + w * (_AT5 + w * (_AT7 + w * _AT9))))
    return hi - ((t * (s1 + s2) - lo) - t)


@_inlined
def vm_atan(x):
    """atan(x), branch-free (fdlibm's coefficients)."""
    x = np.float64(x)
    return _copysign(_atan_pos(_fabs(x)), x)


_PI = 3.1415926535897931160e00
_PI_LO = 1.2246467991473531772e-16
_PIO2_HI = 1.57079632679489655800e00
_PIO2_LO = 6.12323399573676603587e-17


@_inlined
def vm_atan2(y, x):
    """atan2(y, x) with C99's special cases, from atan(min/max) of |x|, |y|."""
    y = np.float64(y)
    x = np.float64(x)
    ax = _fabs(x)
    ay = _fabs(y)
    swap = ay > ax
    num = ax if swap else ay
    den = ay if swap else ax
    both_inf = (ax == math.inf) & (ay == math.inf)
    q = num / den
    q = 0.0 if den == 0.0 else q
    q = 1.0 if both_inf else q
    a = _atan_pos(q)
    neg_x = f2i(x) < 0
    # |y| > |x|: pi/2 -+ atan(|x|/|y|); else atan(|y|/|x|) or pi - that (x < 0)
    a_sw = (_PIO2_HI + (a + _PIO2_LO)) if neg_x else (_PIO2_HI - (a - _PIO2_LO))
    a_no = (_PI - (a - _PI_LO)) if neg_x else a
    a = a_sw if swap else a_no
    a = a if (x == x) & (y == y) else x + y
    return _copysign(a, y) if a == a else a


_PS0 = 1.66666666666666657415e-01
_PS1 = -3.25565818622400915405e-01
_PS2 = 2.01212532134862925881e-01
_PS3 = -4.00555345006794114027e-02
_PS4 = 7.91534994289814532176e-04
_PS5 = 3.47933107596021167570e-05
_QS1 = -2.40339491173441421878e00
_QS2 = 2.02094576023350569471e00
_QS3 = -6.88283971605453293030e-01
_QS4 = 7.70381505559019352791e-02


@_inlined
def _asin_r(z):
    p = z * (_PS0 + z * (_PS1 + z * (_PS2 + z * (_PS3 + z * (_PS4 + z * _PS5)))))
    q = 1.0 + z * (_QS1 + z * (_QS2 + z * (_QS3 + z * _QS4)))
    return p / q


@_inlined
def vm_asin(x):
    """asin(x) (fdlibm's two regimes, both computed and selected)."""
    x = np.float64(x)
    ax = _fabs(x)
    inside = ax <= 1.0
    ax = ax if inside else 0.0
    small = ax < 0.5
    # |x| < 0.5: x + x*R(x^2)
    r_small = ax + ax * _asin_r(ax * ax)
    # |x| >= 0.5: pi/2 - 2*(s + s*R(z)), z = (1-|x|)/2, s = sqrt(z) in two parts
    z = (1.0 - ax) * 0.5
    s = np.sqrt(z)
    rz = _asin_r(z)
    f = _trunc32(s)
    c = (z - f * f) / (s + f)
    p = 2.0 * s * rz - (_PIO2_LO - 2.0 * c)
    q = _PIO4 - 2.0 * f
    r_big = _PIO4 - (p - q)
    r_big = _PIO2_HI if ax == 1.0 else r_big
    # above 0.975 fdlibm uses a cheaper form: pi/2 - (2s + 2sR - pio2_lo)
    r_top = _PIO2_HI - (2.0 * (s + s * rz) - _PIO2_LO)
    r_big = r_top if ax >= 0.975 else r_big
    res = r_small if small else r_big
    res = _copysign(res, x)
    return res if inside else (x if x != x else math.nan)


@_inlined
def vm_acos(x):
    """acos(x) (fdlibm's three regimes, all computed and selected)."""
    x = np.float64(x)
    ax = _fabs(x)
    inside = ax <= 1.0
    xs = x if inside else 0.0
    # |x| < 0.5: pi/2 - (x - (pio2_lo - x*R(x^2)))
    r_mid = _PIO2_HI - (xs - (_PIO2_LO - xs * _asin_r(xs * xs)))
    # x <= -0.5: pi - 2*(s + (s*R(z) - pio2_lo)), z = (1+x)/2
    zn = (1.0 + xs) * 0.5
    sn = np.sqrt(zn)
    r_neg = _PI - 2.0 * (sn + (sn * _asin_r(zn) - _PIO2_LO))
    # x >= 0.5: 2*(df + (c + s*R(z))), z = (1-x)/2
    zp = (1.0 - xs) * 0.5
    sp = np.sqrt(zp)
    df = _trunc32(sp)
    c = (zp - df * df) / (sp + df)
    r_pos = 2.0 * (df + (sp * _asin_r(zp) + c))
    r_pos = 0.0 if xs == 1.0 else r_pos
    res = r_mid if _fabs(xs) < 0.5 else (r_neg if xs < 0.0 else r_pos)
    return res if inside else (x if x != x else math.nan)


# -- hyperbolic ----------------------------------------------------------------------
@_inlined
def vm_sinh(x):
    """sinh(x): from expm1 below 22, exp(|x|)/2 above (no overflow before sinh's)."""
    x = np.float64(x)
    ax = _fabs(x)
    t = vm_expm1(ax if ax < 22.0 else 0.0)
    dh, dl = _two_sum(t, 1.0)  # t/(t + 1) without the rounding of t + 1
    q = t / dh
    small = 0.5 * (t + (q - q * (dl / dh)))
    big = _exp_k(ax if ax < 720.0 else 720.0, -1)
    res = small if ax < 22.0 else big
    res = res if x == x else x
    return _copysign(res, x)


@_inlined
def vm_cosh(x):
    """cosh(x) = exp(|x|)/2 + 1/(4 exp(|x|)/2)."""
    x = np.float64(x)
    ax = _fabs(x)
    t = _exp_k(ax if ax < 720.0 else 720.0, -1)
    res = t + 0.25 / t
    return res if x == x else x


@_inlined
def vm_tanh(x):
    """tanh(x) with one expm1: -t/(t+2), t = expm1(-2|x|) below 1, 1 - 2/(expm1(2|x|)+2) above."""
    x = np.float64(x)
    ax = _fabs(x)
    small = ax < 1.0
    a = -2.0 * ax if small else 2.0 * (ax if ax < 40.0 else 40.0)
    t = vm_expm1(a)
    dh, dl = _two_sum(t, 2.0)  # t + 2 exactly as dh + dl
    num = -t if small else 2.0
    q = num / dh
    q = q - q * (dl / dh)
    res = q if small else 1.0 - q
    res = res if x == x else x
    return _copysign(res, x)


_LN2 = 6.93147180559945286227e-01


@_inlined
def vm_asinh(x):
    """asinh(x) via log1p of fdlibm's three forms (selected)."""
    x = np.float64(x)
    ax = _fabs(x)
    huge = ax > 268435456.0  # 2**28
    mid = ax > 2.0
    am = 2.0 if huge else ax  # keeps x*x finite where the forms are not used
    t = ax * ax
    a_small = ax + t / (1.0 + np.sqrt(1.0 + t))
    a_mid = (2.0 * am + 1.0 / (np.sqrt(am * am + 1.0) + am)) - 1.0
    arg = (ax - 1.0) if huge else (a_mid if mid else a_small)
    res = vm_log1p(arg) + (_LN2 if huge else 0.0)
    res = res if ax != math.inf else ax
    return _copysign(res, x) if x == x else x


@_inlined
def vm_acosh(x):
    """acosh(x) via log1p of fdlibm's three forms (selected); NaN below 1."""
    x = np.float64(x)
    huge = x > 268435456.0
    mid = x > 2.0
    xm = 2.0 if huge else (x if x >= 1.0 else 1.0)
    t = xm - 1.0
    a_small = t + np.sqrt(2.0 * t + t * t)
    a_mid = (2.0 * xm - 1.0 / (xm + np.sqrt(xm * xm - 1.0))) - 1.0
    arg = (x - 1.0) if huge else (a_mid if mid else a_small)
    res = vm_log1p(arg) + (_LN2 if huge else 0.0)
    res = res if x != math.inf else x
    return res if x >= 1.0 else (x if x != x else math.nan)


@_inlined
def vm_atanh(x):
    """atanh(x) = log1p(2|x|/(1-|x|))/2 (fdlibm's two forms); +-inf at +-1."""
    x = np.float64(x)
    ax = _fabs(x)
    t = ax + ax
    a_small = t + t * ax / (1.0 - ax)
    a_big = t / (1.0 - ax)
    res = 0.5 * vm_log1p(a_small if ax < 0.5 else a_big)
    res = res if ax <= 1.0 else math.nan
    res = res if x == x else x
    return _copysign(res, x) if res == res else res


# -- cube root -----------------------------------------------------------------------
@_inlined
def vm_cbrt(x):
    """Real cube root (fdlibm's s_cbrt.c: bit-level estimate, polynomial, Newton)."""
    x = np.float64(x)
    ax = _fabs(x)
    ok = (ax > 0.0) & (ax < math.inf)
    a = ax if ok else 1.0
    sub = a < 2.2250738585072014e-308
    b = a * 18014398509481984.0 if sub else a  # 2**54
    hx = f2i(b) >> 32
    q = (hx * 2863311531) >> 33  # hx // 3 for 0 <= hx < 2**31
    t = i2f((q + (696219795 if sub else 715094163)) << 32)
    r = (t * t) * (t / a)
    t = t * ((1.87595182427177009643 + r * (-1.88497979543377169875 + r * 1.621429720105354466140))
             + ((r * r) * r) * (-0.758397934778766047437 + r * 0.145996192886612446982))
    t = i2f((f2i(t) + 0x80000000) & -0x40000000)
    s = t * t
    r = a / s
    w = t + t
    r = (r - t) / (w + r)
    t = t + t * r
    res = t if ok else ax
    return _copysign(res, x) if x == x else x


# -- error function ------------------------------------------------------------------
# fdlibm's s_erf.c: five intervals with rational approximations. The coefficients of
# the interval a point lies in are selected (vector blends), then one rational
# function of degree (8, 8) is evaluated, so every point costs the same.
_ERX = 8.45062911510467529297e-01
_EFX = 1.28379167095512586316e-01
_PP = (1.28379167095512558561e-01, -3.25042107247001499370e-01, -2.84817495755985104766e-02,
       -5.77027029648944159157e-03, -2.37630166566501626084e-05)
_QQ = (3.97917223959155352819e-01, 6.50222499887672944485e-02, 5.08130628187576562776e-03,
       1.32494738004321644526e-04, -3.96022827877536812320e-06)
_PA = (-2.36211856075265944077e-03, 4.14856118683748331666e-01, -3.72207876035701323847e-01,
       3.18346619901161753674e-01, -1.10894694282396677476e-01, 3.54783043256182359371e-02,
       -2.16637559486879084300e-03)
_QA = (1.06420880400844228286e-01, 5.40397917702171048937e-01, 7.18286544141962662868e-02,
       1.26171219808761642112e-01, 1.36370839120290507362e-02, 1.19844998467991074170e-02)
_RA = (-9.86494403484714822705e-03, -6.93858572707181764372e-01, -1.05586262253232909814e01,
       -6.23753324503260060396e01, -1.62396669462573470355e02, -1.84605092906711035994e02,
       -8.12874355063065934246e01, -9.81432934416914548592e00)
_SA = (1.96512716674392571292e01, 1.37657754143519042600e02, 4.34565877475229228821e02,
       6.45387271733267880336e02, 4.29008140027567833386e02, 1.08635005541779435134e02,
       6.57024977031928170135e00, -6.04244152148580987438e-02)
_RB = (-9.86494292470009928597e-03, -7.99283237680523006574e-01, -1.77579549177547519889e01,
       -1.60636384855821916062e02, -6.37566443368389627722e02, -1.02509513161107724954e03,
       -4.83519191608651397019e02)
_SB = (3.03380607434824582924e01, 3.25792512996573918826e02, 1.53672958608443695994e03,
       3.19985821950859553908e03, 2.55305040643316442583e03, 4.74528541206955367215e02,
       -2.24409524465858183362e01)


@_inlined
def _erf_parts(x):
    """(kind, value) for erf/erfc: kind 0 small (value = erf), 1 near 1 (value =
    erf(|x|) - erx), 2 tail (value = erfc(|x|))."""
    ax = _fabs(x)
    r1 = ax < 0.84375
    r2 = ax < 1.25
    r3 = ax < 2.857142857142857  # 1/0.35
    s_small = ax * ax
    s_mid = ax - 1.0
    s_tail = 1.0 / (ax * ax) if ax < 28.0 else 1.0 / 784.0
    s = s_small if r1 else (s_mid if r2 else s_tail)
    # numerator and denominator coefficients of the interval, as polynomials in s
    n0 = _PP[0] if r1 else (_PA[0] if r2 else (_RA[0] if r3 else _RB[0]))
    n1 = _PP[1] if r1 else (_PA[1] if r2 else (_RA[1] if r3 else _RB[1]))
    n2 = _PP[2] if r1 else (_PA[2] if r2 else (_RA[2] if r3 else _RB[2]))
    n3 = _PP[3] if r1 else (_PA[3] if r2 else (_RA[3] if r3 else _RB[3]))
    n4 = _PP[4] if r1 else (_PA[4] if r2 else (_RA[4] if r3 else _RB[4]))
    n5 = 0.0 if r1 else (_PA[5] if r2 else (_RA[5] if r3 else _RB[5]))
    n6 = 0.0 if r1 else (_PA[6] if r2 else (_RA[6] if r3 else _RB[6]))
    n7 = 0.0 if r2 else (_RA[7] if r3 else 0.0)
    d1 = _QQ[0] if r1 else (_QA[0] if r2 else (_SA[0] if r3 else _SB[0]))
    d2 = _QQ[1] if r1 else (_QA[1] if r2 else (_SA[1] if r3 else _SB[1]))
    d3 = _QQ[2] if r1 else (_QA[2] if r2 else (_SA[2] if r3 else _SB[2]))
    d4 = _QQ[3] if r1 else (_QA[3] if r2 else (_SA[3] if r3 else _SB[3]))
    d5 = _QQ[4] if r1 else (_QA[4] if r2 else (_SA[4] if r3 else _SB[4]))
    d6 = 0.0 if r1 else (_QA[5] if r2 else (_SA[5] if r3 else _SB[5]))
    d7 = 0.0 if r2 else (_SA[6] if r3 else _SB[6])
    d8 = 0.0 if r2 else (_SA[7] if r3 else 0.0)
    p = n0 + s * (n1 + s * (n2 + s * (n3 + s * (n4 + s * (n5 + s * (n6 + s * n7))))))
    q = 1.0 + s * (d1 + s * (d2 + s * (d3 + s * (d4 + s * (d5 + s * (d6 + s * (d7 + s * d8)))))))
    pq = p / q
    v_small = ax + ax * pq
    v_mid = pq
    # tail: erfc(|x|) = exp(-z*z - 0.5625) * exp((z-x)(z+x) + R/S) / x
    axc = ax if ax < 28.0 else 28.0
    z = _trunc32(axc)
    # one exp of the double-double -z*z - 0.5625 + ((z-x)(z+x) + R/S) (z*z is exact)
    a_hi, a_lo = _two_sum(-z * z, -0.5625)
    h, lo = _two_sum(a_hi, a_lo + ((z - axc) * (z + axc) + pq))
    v_tail = _exp_dd(h, lo) / axc
    v_tail = v_tail if ax < 28.0 else 0.0
    kind = 0 if r1 else (1 if r2 else 2)
    return kind, (v_small if r1 else (v_mid if r2 else v_tail)), pq


@_inlined
def vm_erf(x):
    """erf(x) (fdlibm's approximations, branch-free)."""
    x = np.float64(x)
    kind, v, pq = _erf_parts(x)
    res = v if kind == 0 else (_ERX + v if kind == 1 else 1.0 - v)
    res = res if x == x else x
    return _copysign(res, x)


@_inlined
def vm_erfc(x):
    """erfc(x) (fdlibm's approximations, branch-free)."""
    x = np.float64(x)
    kind, v, pq = _erf_parts(x)
    neg = x < 0.0
    # small |x|: 1 - (x + x*y) below 1/4, 0.5 - (x*y + (x - 0.5)) above (fdlibm)
    small = 1.0 - (x + x * pq)
    small = (0.5 - (x * pq + (x - 0.5))) if _fabs(x) >= 0.25 else small
    mid = (1.0 + (_ERX + v)) if neg else ((1.0 - _ERX) - v)
    tail = (2.0 - v) if neg else v
    res = small if kind == 0 else (mid if kind == 1 else tail)
    return res if x == x else x


# -- numerically stable ML forms (as symgrad._runtime's sg_*, branch-free) -----------
@_inlined
def vm_logistic(x):
    """1/(1 + exp(-x)) without overflow."""
    x = np.float64(x)
    e = vm_exp(-_fabs(x))
    d = 1.0 + e
    return (1.0 / d) if x >= 0.0 else (e / d)


@_inlined
def vm_softplus(x):
    """log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|))."""
    x = np.float64(x)
    res = (x if x > 0.0 else 0.0) + vm_log1p(vm_exp(-_fabs(x)))
    return res if x == x else x


@_inlined
def vm_logaddexp(a, b):
    """log(exp(a) + exp(b)) without overflow (numpy.logaddexp)."""
    a = np.float64(a)
    b = np.float64(b)
    m = a if a > b else b
    d = a - b
    d = 0.0 if d != d else d  # a == b == +-inf
    res = m + vm_log1p(vm_exp(-_fabs(d)))
    res = (a + _LN2) if a == b else res
    return res if (a == a) & (b == b) else a + b


@_inlined
def vm_xlogy(x, y):
    """x*log(y), 0 where x == 0 and y is not NaN (scipy.special.xlogy)."""
    x = np.float64(x)
    y = np.float64(y)
    res = x * vm_log(y)
    return 0.0 if (x == 0.0) & (y == y) else res


@_inlined
def vm_sinc(x):
    """sin(x)/x, 1 at 0, 0 at +-inf (NaN beyond TRIG_LIMIT, as vm_sin: libm fixes it)."""
    x = np.float64(x)
    res = vm_sin(x) / x
    res = 1.0 if x == 0.0 else res
    return res if _fabs(x) != math.inf else 0.0
