"""SymPy function classes that symgrad adds or adjusts so that every derivative compiles.

The registry that says how each function is parsed, printed and guarded is
``symgrad.functions``; this module only defines the SymPy classes it refers to.

SymPy's own definitions are used wherever they are right for real arguments. The few
here fix what is not:

* ``cbrt``: SymPy writes ``cbrt(x)`` as ``x**(1/3)``, the principal *complex* root, so
  ``cbrt(-8)`` would be NaN in real arithmetic and its derivative ``x**(-2/3)/3`` too.
  Ours is the real cube root, with derivative ``1/(3*cbrt(x)**2)``.
* ``floor`` and ``ceiling``: SymPy leaves their derivative unevaluated. They are
  piecewise constant, so the derivative is 0 wherever it exists (the convention symgrad
  uses for every step function, see ``symgrad.derive``).
* ``sinc``: SymPy's derivative ``cos(x)/x - sin(x)/x**2`` cancels catastrophically near
  0; ours is ``sinc_deriv(1, x)``, a family (``d/dx sinc_deriv(n, x) = sinc_deriv(n+1,
  x)``) whose kernel is accurate at every x.
* ``asec``, ``acsc``, ``asech``, ``acsch``, ``coth``: the same derivative as SymPy's,
  written so that it neither cancels near ``|x| = 1`` nor overflows (see each class).
* ``logistic``, ``softplus``, ``logaddexp``, ``xlogy``: not in SymPy; derivatives in
  terms of registry functions (``sech``, ``logistic``, ``log``) that stay stable.
"""

from __future__ import annotations

import sympy
from sympy.codegen.cfunctions import exp2, expm1, hypot, log1p, log2, log10
from sympy.core.function import ArgumentIndexError

__all__ = [
    "cbrt",
    "floor",
    "ceiling",
    "sinc",
    "sinc_deriv",
    "MAX_SINC_ORDER",
    "logistic",
    "softplus",
    "logaddexp",
    "xlogy",
    "exp2",
    "asec",
    "acsc",
    "asech",
    "acsch",
    "coth",
    "expm1",
    "hypot",
    "log1p",
    "log2",
    "log10",
]


class cbrt(sympy.Function):  # noqa: N801 (SymPy functions are lower case)
    """Real cube root: ``cbrt(-8) == -2``."""

    nargs = 1
    is_real = True

    @classmethod
    def eval(cls, arg):
        if arg.is_Number:
            if arg.is_zero:
                return sympy.S.Zero
            if arg.is_Rational and arg.is_negative:
                return -cls(-arg)
            root = sympy.root(arg, 3)
            if root.is_Rational:
                return root
        return None

    def fdiff(self, argindex=1):
        return 1 / (3 * cbrt(self.args[0]) ** 2)

    def _eval_evalf(self, prec):
        arg = self.args[0].evalf(prec)
        if arg.is_Number:
            value = sympy.Abs(arg) ** sympy.Rational(1, 3)
            return (sympy.sign(arg) * value).evalf(prec)
        return None

    def _latex(self, printer):
        return r"\sqrt[3]{" + printer._print(self.args[0]) + "}"


class floor(sympy.floor):  # noqa: N801
    """``sympy.floor`` with derivative 0 (it is piecewise constant)."""

    def fdiff(self, argindex=1):
        return sympy.S.Zero


class ceiling(sympy.ceiling):  # noqa: N801
    """``sympy.ceiling`` with derivative 0 (it is piecewise constant)."""

    def fdiff(self, argindex=1):
        return sympy.S.Zero


# ---------------------------------------------------------------------------- sinc
#: Highest derivative order of ``sinc`` the kernels implement (``sinc_deriv(n, x)``,
#: ``symgrad._runtime.sg_sinc_deriv``).
from ._limits import MAX_SINC_ORDER  # noqa: E402 (defined without SymPy for _runtime)


class sinc(sympy.sinc):  # noqa: N801
    """Unnormalized ``sinc(x) = sin(x)/x`` (1 at 0), as SymPy and most math texts.

    NOT NumPy's normalized ``numpy.sinc(x) = sin(pi x)/(pi x)``. SymPy's derivative
    ``cos(x)/x - sin(x)/x**2`` loses every digit for ``|x| < 1e-5`` (and is 0/0 at
    0); ours is :class:`sinc_deriv`, evaluated by a series near 0.
    """

    def fdiff(self, argindex=1):
        if argindex != 1:
            raise ArgumentIndexError(self, argindex)
        return sinc_deriv(1, self.args[0])


def _sinc_deriv_at(n: int, x: sympy.Expr) -> sympy.Expr:
    """The exact ``n``-th derivative of ``sin(t)/t`` at the number ``x``."""
    if x.is_zero:
        return sympy.S.Zero if n % 2 else sympy.S.NegativeOne ** (n // 2) / (n + 1)
    t = sympy.Dummy("t")
    return sympy.diff(sympy.sin(t) / t, t, n).subs(t, x)


class sinc_deriv(sympy.Function):  # noqa: N801
    """``sinc_deriv(n, x)``: the ``n``-th derivative of :class:`sinc` (n >= 1).

    Appears only in derivatives. Its kernel (``sg_sinc_deriv``) sums the Taylor series
    near 0 and ``sum_k n!/(n-k)! (-1)^k sin^(n-k)(x) / x^(k+1)`` elsewhere, so it is
    accurate to a few ulps of its size at every ``x``, including near 0 where the
    closed forms cancel catastrophically.
    """

    nargs = 2

    @classmethod
    def eval(cls, n, x):
        if not (n.is_Integer and n >= 0):
            raise ValueError(f"sinc_deriv order must be a nonnegative integer, not {n}")
        if n == 0:
            return sinc(x)
        if x.is_Number:
            if x in (sympy.oo, -sympy.oo):
                return sympy.S.Zero
            if x is sympy.nan:
                return sympy.nan
            return _sinc_deriv_at(int(n), x)
        if x.could_extract_minus_sign():
            return sympy.S.NegativeOne ** n * cls(n, -x)
        return None

    def fdiff(self, argindex=2):
        if argindex != 2:
            raise ArgumentIndexError(self, argindex)
        n, x = self.args
        return sinc_deriv(n + 1, x)

    def _eval_is_real(self):
        return self.args[1].is_extended_real or None

    def _eval_evalf(self, prec):
        n, x = self.args
        x = x.evalf(prec)
        if x.is_Number:
            return _sinc_deriv_at(int(n), x).evalf(prec)
        return None

    def _latex(self, printer):
        n, x = self.args
        return (r"\operatorname{sinc}^{(" + printer._print(n) + r")}\left("
                + printer._print(x) + r"\right)")


# ------------------------------------------------------- logistic and its relatives
class logistic(sympy.Function):  # noqa: N801
    """The logistic sigmoid ``1/(1 + exp(-x))`` (SciPy's ``expit``).

    Its derivative is written ``sech(x/2)**2/4`` (equal to ``logistic(x)*logistic(-x)``
    and to ``logistic*(1 - logistic)``): every derivative of that is a product of
    ``sech`` and ``tanh``, so no order cancels near 0 (``logistic*(1 - logistic)``
    differentiates into ``1 - 2*logistic``, all digits lost for tiny x) or loses the
    tail at large |x| (``1 - logistic(40)`` is 0).
    """

    nargs = 1

    @classmethod
    def eval(cls, x):
        if x.is_Number:
            if x is sympy.oo:
                return sympy.S.One
            if x is -sympy.oo:
                return sympy.S.Zero
            return 1 / (1 + sympy.exp(-x))
        return None

    def fdiff(self, argindex=1):
        if argindex != 1:
            raise ArgumentIndexError(self, argindex)
        return sympy.sech(self.args[0] / 2) ** 2 / 4

    def _eval_is_real(self):
        return self.args[0].is_extended_real or None

    def _eval_rewrite_as_exp(self, x, **kwargs):
        return 1 / (1 + sympy.exp(-x))

    def _numpycode(self, printer):
        x = printer._print(self.args[0])
        exp, minimum, absolute = (printer._module_format(f"numpy.{f}")
                                  for f in ("exp", "minimum", "abs"))
        return f"({exp}({minimum}({x}, 0.0)) / (1.0 + {exp}(-{absolute}({x}))))"


class softplus(sympy.Function):  # noqa: N801
    """``log(1 + exp(x))``, computed as ``max(x, 0) + log1p(exp(-|x|))``; derivative
    ``logistic(x)``."""

    nargs = 1

    @classmethod
    def eval(cls, x):
        if x.is_Number:
            if x is sympy.oo:
                return sympy.oo
            if x is -sympy.oo:
                return sympy.S.Zero
            return sympy.log(1 + sympy.exp(x))
        return None

    def fdiff(self, argindex=1):
        if argindex != 1:
            raise ArgumentIndexError(self, argindex)
        return logistic(self.args[0])

    def _eval_is_real(self):
        return self.args[0].is_extended_real or None

    def _eval_rewrite_as_log(self, x, **kwargs):
        return sympy.log(1 + sympy.exp(x))

    def _numpycode(self, printer):
        x = printer._print(self.args[0])
        f = {k: printer._module_format(f"numpy.{k}")
             for k in ("maximum", "log1p", "exp", "abs")}
        return (f"({f['maximum']}({x}, 0.0) + "
                f"{f['log1p']}({f['exp']}(-{f['abs']}({x}))))")


class logaddexp(sympy.Function):  # noqa: N801
    """``log(exp(a) + exp(b))`` without overflow; partial derivatives
    ``logistic(a - b)`` and ``logistic(b - a)``."""

    nargs = 2

    @classmethod
    def eval(cls, a, b):
        if a.is_Number and b.is_Number:
            if sympy.nan in (a, b):
                return sympy.nan
            if sympy.oo in (a, b):
                return sympy.oo
            if a is -sympy.oo:
                return b
            if b is -sympy.oo:
                return a
            return sympy.log(sympy.exp(a) + sympy.exp(b))
        return None

    def fdiff(self, argindex=1):
        a, b = self.args
        if argindex == 1:
            return logistic(a - b)
        if argindex == 2:
            return logistic(b - a)
        raise ArgumentIndexError(self, argindex)

    def _eval_is_real(self):
        return (self.args[0].is_extended_real and self.args[1].is_extended_real) or None

    def _eval_rewrite_as_log(self, a, b, **kwargs):
        return sympy.log(sympy.exp(a) + sympy.exp(b))

    def _numpycode(self, printer):
        a, b = (printer._print(arg) for arg in self.args)
        return f"{printer._module_format('numpy.logaddexp')}({a}, {b})"


class xlogy(sympy.Function):  # noqa: N801
    """``x*log(y)``, and 0 wherever ``x == 0`` (unless y is NaN), as
    ``scipy.special.xlogy``: ``xlogy(0, 0) == xlogy(0, -1) == 0``. Partial
    derivatives ``log(y)`` and ``x/y``."""

    nargs = 2

    @classmethod
    def eval(cls, x, y):
        if x.is_zero and y is not sympy.nan:
            return sympy.S.Zero
        if x.is_Number and y.is_Number:
            return x * sympy.log(y)
        return None

    def fdiff(self, argindex=1):
        x, y = self.args
        if argindex == 1:
            return sympy.log(y)
        if argindex == 2:
            return x / y
        raise ArgumentIndexError(self, argindex)

    def _eval_rewrite_as_log(self, x, y, **kwargs):
        return x * sympy.log(y)

    def _numpycode(self, printer):
        x, y = (printer._print(arg) for arg in self.args)
        where, log = (printer._module_format(f"numpy.{k}") for k in ("where", "log"))
        return f"{where}(({x} == 0) & ({y} == {y}), 0.0, {x} * {log}({y}))"


# ------------------------------------------ inverse reciprocal functions (real forms)
# SymPy's derivatives of these go through 1/x**2 (``1/(x**2*sqrt(1 - 1/x**2))``): that
# cancels near |x| = 1, overflows for tiny x (acsch) and differentiates into x**(-5).
# These classes only replace ``fdiff`` with the same derivative written in factored
# form, ``(x - 1)*(x + 1)`` instead of ``x**2 - 1``.


class asec(sympy.asec):  # noqa: N801
    """``acos(1/x)`` for ``|x| >= 1``; derivative ``1/(|x| sqrt((x - 1)(x + 1)))``."""

    def fdiff(self, argindex=1):
        if argindex != 1:
            raise ArgumentIndexError(self, argindex)
        x = self.args[0]
        return 1 / (sympy.Abs(x) * sympy.sqrt((x - 1) * (x + 1)))


class acsc(sympy.acsc):  # noqa: N801
    """``asin(1/x)`` for ``|x| >= 1``; derivative ``-1/(|x| sqrt((x - 1)(x + 1)))``."""

    def fdiff(self, argindex=1):
        if argindex != 1:
            raise ArgumentIndexError(self, argindex)
        x = self.args[0]
        return -1 / (sympy.Abs(x) * sympy.sqrt((x - 1) * (x + 1)))


class asech(sympy.asech):  # noqa: N801
    """``acosh(1/x)`` for ``0 < x <= 1``; derivative ``-1/(x sqrt((1 - x)(1 + x)))``."""

    def fdiff(self, argindex=1):
        if argindex != 1:
            raise ArgumentIndexError(self, argindex)
        x = self.args[0]
        return -1 / (x * sympy.sqrt((1 - x) * (1 + x)))


class acsch(sympy.acsch):  # noqa: N801
    """``asinh(1/x)``; derivative ``-1/(|x| sqrt(x**2 + 1))`` (no 1/x**2 overflow)."""

    def fdiff(self, argindex=1):
        if argindex != 1:
            raise ArgumentIndexError(self, argindex)
        x = self.args[0]
        return -1 / (sympy.Abs(x) * sympy.sqrt(x**2 + 1))


class coth(sympy.coth):  # noqa: N801
    """``1/tanh(x)``; derivative ``-csch(x)**2`` (SymPy's ``-1/sinh(x)**2``
    differentiates into ``cosh/sinh**3``, inf/inf = NaN for |x| > 710)."""

    def fdiff(self, argindex=1):
        if argindex != 1:
            raise ArgumentIndexError(self, argindex)
        return -sympy.csch(self.args[0]) ** 2
