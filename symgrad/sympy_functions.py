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
"""

from __future__ import annotations

import sympy
from sympy.codegen.cfunctions import expm1, hypot, log1p, log2, log10

__all__ = [
    "cbrt",
    "floor",
    "ceiling",
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
