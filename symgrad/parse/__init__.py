"""Turn formula strings (or SymPy expressions) into SymPy expressions, safely.

This package is a security boundary: a formula string is never passed to ``eval``,
``sympify``, ``parse_expr`` or anything else that executes or interprets it. It is
parsed with :func:`ast.parse` (which only builds a syntax tree) and the tree is walked
against a whitelist; every SymPy object is built by this package. Its stages, each
importing only the earlier ones: ``scanner`` (limits, pre-scan, positions), ``names``
(the name rule), ``guards`` (bounded constant evaluation), ``convert`` (``ast`` to
SymPy), ``from_sympy`` (SymPy input, whitelisted and rebuilt) and ``formula``
(:func:`parse`, :class:`Formula`).

Grammar
-------
A formula is one expression in Python syntax, restricted to:

* **numbers**: integer and float literals (``3``, ``2.5``, ``1e-3``, ``1_000``,
  ``0x1F``). No complex literals (``1j``), strings, bytes or ``None``.
* **arithmetic**: ``+ - * / **`` and unary ``+ -``. ``x^2`` is an error: ``^`` is
  bitwise XOR in Python, not a power; write ``x**2``. ``// % @ & | << >> ~`` are errors.
* **function calls** ``name(arg, ...)`` with ``name`` in :data:`FUNCTIONS`,
  positional arguments only, with the documented number of arguments.
* **conditionals**: ``where(cond, a, b)`` or ``a if cond else b``, both meaning "a
  where cond holds, else b" (a ``sympy.Piecewise``). A condition is built from
  comparisons ``< <= > >= == !=`` (chains such as ``0 < x < 1`` work), ``and``,
  ``or``, ``not``, ``True`` and ``False``. Comparisons and booleans are allowed *only*
  as such a condition.
* **names**, by the name rule below, and newlines and ``#`` comments anywhere
  (a formula may span several lines, e.g. a triple-quoted string).

Anything else (attribute access, subscripts, lambdas, comprehensions, strings,
containers, keyword arguments, ``*`` unpacking, ``:=``, implicit multiplication such
as ``2x``) is rejected with a :class:`~symgrad.errors.ParseError` whose ``position``
is the 0-based character index of the offending spot, shown with a caret.

The name rule
-------------
A name followed by ``(`` is a function from :data:`FUNCTIONS`. Every other name is a
real-valued symbol (a variable or a parameter), except the two constants ``pi`` and
``E`` (Euler's number), see :data:`CONSTANTS`. SymPy's special names (``I``, ``N``,
``S``, ``Q``, ``O``, ``beta``, ``gamma``, ``zeta``, ...) have no special meaning:
``gamma*x`` is a symbol named ``gamma`` times ``x``; ``gamma(x)`` is the Gamma
function. ``lambda`` (a Python keyword) is allowed as a symbol name; other Python
keywords are not. Names are at most :data:`MAX_NAME_LENGTH` characters and are
NFKC-normalized (as Python does), so ``ﬁ`` and ``fi`` are the same name. Every symbol
is ``sympy.Symbol(name, real=True)``.

Variables and parameters
------------------------
Variables are differentiated; parameters are not. When ``variables`` is not given,
every symbol that is not a parameter is a variable, in *natural* order: names are
compared as runs of digits (by numeric value) and non-digits (as text), so ``x2``
comes before ``x10`` and ``x0 ... x99`` come out in numeric order; ties (``x01`` vs
``x1``) fall back to plain string order. When ``variables`` is given, that order is
kept exactly, and listed variables need not occur in the formula (their derivative is
0). Likewise for ``params``. A symbol that is neither a variable nor a parameter is an
:class:`~symgrad.errors.InputError`. Names may be given as ``"x y"``, ``"x, y"`` or
``["x", "y"]``.

Limits
------
Bad input fails fast with a clear message instead of hanging or crashing:

* :data:`MAX_LENGTH` characters per formula. Control characters other than tab,
  newline, carriage return and form feed (NUL, ESC), invisible formatting characters
  (bidirectional overrides such as U+202E, zero-width joiners), lone surrogates,
  private-use and unassigned code points are refused anywhere, comments included.
* :data:`MAX_NESTING` (120) levels of nesting, counting parentheses (including those
  of function calls), unary signs, powers (``x**y**z`` is 2 levels) and conditionals.
  Long flat sums and products (``x0 + x1 + ... + x999``) are *not* nesting. The bound
  is what the whole pipeline handles: SymPy differentiates a composition such as
  ``sin(cos(sin(...)))`` recursively, about six Python frames per level, and fails
  near 140 levels under Python's default recursion limit (Python's own parser stops
  at 200 parentheses).
* :data:`MAX_POWER_TOWER` (32) powers with variable exponents stacked on each other
  (``x**x**x``, also through parentheses or ``pow``): the derivatives of a tower grow
  with every level, and SymPy's Hessian of a 60-level tower exhausts the recursion
  limit (a 30-level one compiles in about 10 s).
* :data:`MAX_CHAIN` binary operators in one sum/product chain (Python's own parser
  builds a tree as deep as the chain); group longer ones with parentheses.
* Integer literals of at most :data:`MAX_INT_DIGITS` digits; float literals must be
  finite in float64.
* At most :data:`MAX_MINMAX_ARGS` values in one ``Min``/``Max`` and
  :data:`MAX_CONDITION_TERMS` comparisons in one condition (SymPy's simplification
  of these is quadratic or worse).
* Every constant sub-expression, whatever its leaves (integers, floats, ``pi``,
  ``E``, ``sqrt(2)``, functions of constants), is evaluated numerically at bounded
  precision with its exponent range checked before each power, so ``pi**pi**pi**pi``
  or ``exp(exp(exp(9)))`` is refused in microseconds ("too large (overflows
  float64)") instead of sending SymPy into an endless evaluation.
* A SymPy expression given instead of a string has at most :data:`MAX_NODES` nodes
  (counted as a tree) and :data:`MAX_NESTING` levels, and passes the same guards.

Conventions
-----------
* Numbers are exact: ``0.1`` becomes ``sympy.Float(0.1)`` (the exact float64 value),
  integers and their quotients stay exact rationals.
* Constant sub-expressions are folded by SymPy as usual, but a constant whose exact
  value would exceed :data:`MAX_EXACT_BITS` bits (``9**9**9``), and a function of a
  large constant argument (``|arg| > 1e4``, e.g. ``gamma(10**8)``), are evaluated in
  float64 precision instead. A constant outside float64's range, a constant that is
  not real (``sqrt(-1)``) or infinite/undefined (``1/0``) is a ParseError; so is a
  constant with such a sub-expression (``exp(-exp(1000))``), because SymPy would have
  to evaluate it. A constant far below float64's smallest value is fine (it is 0.0).
* A SymPy expression is accepted in place of a string (see
  :mod:`symgrad.parse.from_sympy`): its classes are whitelisted and it is rebuilt with
  the same guards; every symbol becomes ``Symbol(name, real=True)`` whatever its
  assumptions, and ``Formula.sources`` holds ``str(expr)``.
* ``log(x, b)`` is ``log(x)/log(b)``; ``atan2(y, x)`` has ``math.atan2``'s argument
  order; ``Heaviside(0) == 1/2``; ``floor``/``ceiling`` have derivative 0.
* ``sinc(x)`` is the UNNORMALIZED ``sin(x)/x`` (1 at 0), as in SymPy and most math
  texts, NOT ``numpy.sinc`` (which is ``sin(pi*x)/(pi*x)``: write ``sinc(pi*x)``).
* ``logistic(x)`` (aliases ``sigmoid``, ``expit``) is ``1/(1 + exp(-x))``;
  ``softplus(x) = log(1 + exp(x))``; ``logaddexp(a, b) = log(exp(a) + exp(b))``; all
  three are evaluated without overflow. ``xlogy(x, y) = x*log(y)`` is 0 wherever
  ``x == 0`` and ``y`` is not NaN (``scipy.special.xlogy``), its derivatives are NaN
  for ``y < 0``. ``exp2(x) = 2**x``. ``clip(x, lo, hi) = Min(Max(x, lo), hi)`` (its
  derivative is 1/2 at ``x == lo`` or ``x == hi``).
* ``sech``, ``csch``, ``coth``, ``acot``, ``asec``, ``acsc``, ``acoth``, ``asech``,
  ``acsch`` (aliases ``arc...``) are SymPy's real functions: ``acot(x) = atan(1/x)``
  (odd, in ``(-pi/2, pi/2]``), ``asec``/``acsc``/``acoth`` need ``|x| >= 1``,
  ``asech`` needs ``0 <= x <= 1``. The full table: ``symgrad.functions.REGISTRY``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .scanner import (
    BIG_ARGUMENT,
    MAX_CHAIN,
    MAX_CONDITION_TERMS,
    MAX_EXACT_BITS,
    MAX_INT_DIGITS,
    MAX_LENGTH,
    MAX_MINMAX_ARGS,
    MAX_NAME_LENGTH,
    MAX_NESTING,
    MAX_NODES,
    MAX_POWER_TOWER,
)

__all__ = [
    "Formula",
    "parse",
    "parse_names",
    "FunctionSpec",
    "FUNCTIONS",
    "CONSTANTS",
    "MAX_LENGTH",
    "MAX_NESTING",
    "MAX_POWER_TOWER",
    "MAX_NODES",
    "MAX_CHAIN",
    "MAX_INT_DIGITS",
    "MAX_NAME_LENGTH",
    "MAX_EXACT_BITS",
    "MAX_MINMAX_ARGS",
    "MAX_CONDITION_TERMS",
    "BIG_ARGUMENT",
    "natural_key",
]

# The parts that build SymPy objects load on first use, so that the SymPy-free check
# (``symgrad.parse.check``) can be imported without importing SymPy.
_LAZY = {
    "Formula": "formula",
    "parse": "formula",
    "parse_names": "names",
    "FunctionSpec": "names",
    "FUNCTIONS": "names",
    "CONSTANTS": "names",
    "natural_key": "names",
}

if TYPE_CHECKING:  # pragma: no cover
    from .formula import Formula as Formula
    from .formula import parse as parse
    from .names import CONSTANTS as CONSTANTS
    from .names import FUNCTIONS as FUNCTIONS
    from .names import FunctionSpec as FunctionSpec
    from .names import natural_key as natural_key
    from .names import parse_names as parse_names


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
