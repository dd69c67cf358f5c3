"""The function registry: everything symgrad knows about each function, in one entry.

Every stage reads this table and nothing else about functions:

* ``parse`` takes the user-facing names, the arity and the builder
  (:data:`BY_NAME`, re-exported as ``symgrad.parse.FUNCTIONS``);
* ``codegen`` prints each SymPy class through its entry's ``libm`` (kernel) or
  ``numpy`` (NumPy tier) code (:func:`entry_for`);
* ``derive`` guards derivatives outside the real domain (:func:`domain_condition`);
* ``validate`` uses the complex step only for formulas whose functions are all
  ``analytic`` (:func:`is_analytic`);
* the CLI and the docs list :data:`REGISTRY`.

Adding a function is one :class:`Function` entry below (plus, when neither NumPy nor
libm has it, a helper in ``symgrad._runtime`` and a SymPy class in
``symgrad.sympy_functions`` if SymPy's own is not right for real arguments).

Printing
--------
``libm`` and ``numpy`` are either the name of a callable (``"np.sin"``: printed as
``np.sin(a, b)``) or a function of the printed argument strings returning code.
``numpy=None`` means the NumPy tier cannot evaluate the function on arrays (the
program then waits for the compiled kernel). ``vector`` names the branch-free vector
math implementation a vectorizing backend uses (None: that backend calls ``libm``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import sympy

from . import sympy_functions as sf

# The SymPy classes symgrad defines, importable from here as before the registry.
from .errors import UnsupportedFunctionError
from .sympy_functions import (  # noqa: F401
    MAX_SINC_ORDER,
    acsc,
    acsch,
    asec,
    asech,
    cbrt,
    ceiling,
    coth,
    exp2,
    expm1,
    floor,
    hypot,
    log1p,
    log2,
    log10,
    logaddexp,
    logistic,
    sinc,
    sinc_deriv,
    softplus,
    xlogy,
)

__all__ = [
    "Function",
    "REGISTRY",
    "BY_NAME",
    "VECTOR_NAMES",
    "entry_for",
    "domain_condition",
    "is_analytic",
    "MAX_POLYGAMMA_ORDER",
    "MAX_SINC_ORDER",
]

#: Highest polygamma order the kernels implement (``symgrad._runtime.sg_polygamma``):
#: derivatives of gamma/loggamma up to order 11 (defined in ``symgrad._limits``).
from ._limits import MAX_POLYGAMMA_ORDER  # noqa: E402

Code = str | Callable[[list[str]], str] | None
Domain = Callable[..., sympy.Basic] | None


@dataclass(frozen=True)
class Function:
    """One function symgrad can parse, differentiate, print and check.

    Attributes
    ----------
    names : tuple of str
        User-facing names, canonical first (``("asin", "arcsin")``). Empty for
        functions that only appear in derivatives (``polygamma``, ``DiracDelta``).
    impl : callable
        Builds the SymPy expression from SymPy arguments (usually the SymPy class).
    sympy_class : type or None
        The SymPy class the printers dispatch on; None for builders whose result is
        made of other entries' classes (``where``, ``pow``, ``clip``).
    min_args, max_args : int, int or None
        Accepted argument count; ``max_args`` None: no upper bound.
    libm : str or callable or None
        Kernel code (scalar, compiled by numba or run as plain Python).
    numpy : str or callable or None
        NumPy-tier code on whole arrays; None: no array form.
    vector : str or None
        Name of the branch-free implementation in ``symgrad.vecmath`` that kernels
        compiled with ``math="vector"`` call (None: they call ``libm``; entries whose
        ``libm`` is a template of libm calls get the vector names of those calls).
    domain : callable or None
        ``domain(*args)`` is the SymPy condition under which the function is defined
        on the reals; None: everywhere.
    analytic : bool
        Holomorphic near the real axis, so a complex step differentiates it.
    numeric : bool
        Whether constant arguments beyond ``symgrad.parse.BIG_ARGUMENT`` are evaluated
        in float64 instead of exactly (False for cheap exact functions like ``Min``).
    doc : str
        One line for listings.
    """

    names: tuple[str, ...]
    impl: Callable[..., sympy.Expr]
    sympy_class: type | None = None
    min_args: int = 1
    max_args: int | None = 1
    libm: Code = None
    numpy: Code = None
    vector: str | None = None
    domain: Domain = None
    analytic: bool = False
    numeric: bool = True
    doc: str = ""

    @property
    def name(self) -> str:
        """The canonical name (or the SymPy class name for derivative-only entries)."""
        return self.names[0] if self.names else self.sympy_class.__name__


def _same(name: str) -> dict:
    """The same NumPy name for the kernel and the NumPy tier (numba maps it to libm)."""
    return {"libm": name, "numpy": name}


def _nested(name: str) -> Callable[[list[str]], str]:
    # Min/Max take any number of arguments; np.minimum/np.maximum take two and, unlike
    # Python's min/max, propagate NaN.
    def fmt(a: list[str]) -> str:
        out = a[0]
        for b in a[1:]:
            out = f"{name}({out}, {b})"
        return out

    return fmt


def _log(x: sympy.Expr, base: sympy.Expr | None = None) -> sympy.Expr:
    """``log(x)`` or ``log(x, base) = log(x)/log(base)``."""
    if base is None:
        return sympy.log(x)
    return sympy.log(x) / sympy.log(base)


def _where(cond: sympy.Basic, a: sympy.Expr, b: sympy.Expr) -> sympy.Expr:
    """``a`` where ``cond`` holds, else ``b``."""
    return sympy.Piecewise((a, cond), (b, True))


def _nonneg(u):
    return sympy.Ge(u, 0)


def _unit_interval(u):
    return sympy.And(sympy.Ge(u, -1), sympy.Le(u, 1))


def _outside_unit_interval(u):
    return sympy.Or(sympy.Le(u, -1), sympy.Ge(u, 1))


def _clip(x: sympy.Expr, lo: sympy.Expr, hi: sympy.Expr) -> sympy.Expr:
    """``Min(Max(x, lo), hi)``: ``hi`` everywhere when ``lo > hi``, as ``numpy.clip``."""
    return sympy.Min(sympy.Max(x, lo), hi)


def _reciprocal(numpy_name: str) -> dict:
    """``numpy_name(1/x)`` in both tiers (acot = atan(1/x), asec = acos(1/x), ...)."""
    def fmt(a: list[str]) -> str:
        return f"{numpy_name}(1.0 / {a[0]})"

    return {"libm": fmt, "numpy": fmt}


def _inverse(numpy_name: str) -> dict:
    """``1/numpy_name(x)`` in both tiers (sech = 1/cosh, ...)."""
    def fmt(a: list[str]) -> str:
        return f"(1.0 / {numpy_name}({a[0]}))"

    return {"libm": fmt, "numpy": fmt}


def _sinc_deriv_code(a: list[str]) -> str:
    try:
        order = float(a[0])
    except ValueError:
        order = math.nan
    if not (order.is_integer() and 1 <= order <= MAX_SINC_ORDER):
        raise UnsupportedFunctionError(
            f"symgrad cannot compile sinc_deriv({a[0]}, ...): kernels implement "
            f"derivatives of sinc up to order {MAX_SINC_ORDER}.",
            function="sinc_deriv",
        )
    return f"sg_sinc_deriv({a[0]}, {a[1]})"


_S = sympy
_REGISTRY: list[Function] = [
    # powers, exponentials and logarithms
    Function(("sqrt",), sympy.sqrt, doc="square root (a power: guarded like x**0.5)"),
    Function(("cbrt",), sf.cbrt, sf.cbrt, **_same("np.cbrt"), vector="vm_cbrt", doc="real cube root"),
    Function(("exp",), _S.exp, _S.exp, **_same("np.exp"), vector="vm_exp", analytic=True),
    Function(("expm1",), sf.expm1, sf.expm1, **_same("np.expm1"), vector="vm_expm1", analytic=True,
             doc="exp(x) - 1, accurate near 0"),
    Function(("exp2",), sf.exp2, sf.exp2, **_same("np.exp2"), vector="vm_exp2", analytic=True, doc="2**x"),
    Function(("log", "ln"), _log, _S.log, 1, 2, **_same("np.log"), vector="vm_log", domain=_nonneg,
             analytic=True, doc="natural logarithm; log(x, b) = log(x)/log(b)"),
    Function(("log1p",), sf.log1p, sf.log1p, **_same("np.log1p"), vector="vm_log1p",
             domain=lambda u: sympy.Ge(u, -1), analytic=True, doc="log(1 + x)"),
    Function(("log10",), sf.log10, sf.log10, **_same("np.log10"), vector="vm_log10", domain=_nonneg,
             analytic=True),
    Function(("log2",), sf.log2, sf.log2, **_same("np.log2"), vector="vm_log2", domain=_nonneg,
             analytic=True),
    # trigonometric
    Function(("sin",), _S.sin, _S.sin, **_same("np.sin"), vector="vm_sin", analytic=True),
    Function(("cos",), _S.cos, _S.cos, **_same("np.cos"), vector="vm_cos", analytic=True),
    Function(("tan",), _S.tan, _S.tan, **_same("np.tan"), vector="vm_tan", analytic=True),
    Function(("sec",), _S.sec, _S.sec, libm=lambda a: f"(1.0 / np.cos({a[0]}))",
             numpy=lambda a: f"(1.0 / np.cos({a[0]}))"),
    Function(("csc",), _S.csc, _S.csc, libm=lambda a: f"(1.0 / np.sin({a[0]}))",
             numpy=lambda a: f"(1.0 / np.sin({a[0]}))"),
    Function(("cot",), _S.cot, _S.cot, libm=lambda a: f"(1.0 / np.tan({a[0]}))",
             numpy=lambda a: f"(1.0 / np.tan({a[0]}))"),
    Function(("asin", "arcsin"), _S.asin, _S.asin, **_same("np.arcsin"), vector="vm_asin",
             domain=_unit_interval, analytic=True),
    Function(("acos", "arccos"), _S.acos, _S.acos, **_same("np.arccos"), vector="vm_acos",
             domain=_unit_interval, analytic=True),
    Function(("atan", "arctan"), _S.atan, _S.atan, **_same("np.arctan"), vector="vm_atan", analytic=True),
    Function(("atan2", "arctan2"), _S.atan2, _S.atan2, 2, 2, **_same("np.arctan2"), vector="vm_atan2",
             doc="atan2(y, x), math.atan2's argument order"),
    Function(("hypot",), sf.hypot, sf.hypot, 2, 2, **_same("np.hypot"),
             doc="sqrt(x**2 + y**2) without overflow"),
    Function(("acot", "arccot"), _S.acot, _S.acot, **_reciprocal("np.arctan"),
             doc="atan(1/x), in (-pi/2, pi/2]: odd, jumps at 0 (SymPy's real convention)"),
    Function(("asec", "arcsec"), sf.asec, _S.asec, **_reciprocal("np.arccos"),
             domain=_outside_unit_interval, doc="acos(1/x), for |x| >= 1"),
    Function(("acsc", "arccsc"), sf.acsc, _S.acsc, **_reciprocal("np.arcsin"),
             domain=_outside_unit_interval, doc="asin(1/x), for |x| >= 1"),
    Function(("sinc",), sf.sinc, _S.sinc, libm="sg_sinc", vector="vm_sinc",
             numpy=lambda a: (f"np.where(np.isinf({a[0]}), 0.0, np.where({a[0]} == 0.0, 1.0, "
                              f"np.sin({a[0]}) / {a[0]}))"),
             doc="UNNORMALIZED sinc: sin(x)/x, 1 at 0 (SymPy's; NOT numpy.sinc, "
                 "which is sin(pi x)/(pi x): write sinc(pi*x) for that)"),
    # hyperbolic
    Function(("sinh",), _S.sinh, _S.sinh, **_same("np.sinh"), vector="vm_sinh", analytic=True),
    Function(("cosh",), _S.cosh, _S.cosh, **_same("np.cosh"), vector="vm_cosh", analytic=True),
    Function(("tanh",), _S.tanh, _S.tanh, **_same("np.tanh"), vector="vm_tanh", analytic=True),
    Function(("asinh", "arcsinh"), _S.asinh, _S.asinh, **_same("np.arcsinh"), vector="vm_asinh", analytic=True),
    Function(("acosh", "arccosh"), _S.acosh, _S.acosh, **_same("np.arccosh"), vector="vm_acosh",
             domain=lambda u: sympy.Ge(u, 1), analytic=True),
    Function(("atanh", "arctanh"), _S.atanh, _S.atanh, **_same("np.arctanh"), vector="vm_atanh",
             domain=_unit_interval, analytic=True),
    Function(("sech",), _S.sech, _S.sech, **_inverse("np.cosh"), analytic=True,
             doc="1/cosh(x)"),
    Function(("csch",), _S.csch, _S.csch, **_inverse("np.sinh"), analytic=True,
             doc="1/sinh(x) (+-inf at +-0)"),
    Function(("coth",), sf.coth, _S.coth, **_inverse("np.tanh"), analytic=True,
             doc="1/tanh(x) (+-inf at +-0)"),
    Function(("acoth", "arccoth"), _S.acoth, _S.acoth, **_reciprocal("np.arctanh"),
             domain=_outside_unit_interval, analytic=True, doc="atanh(1/x), for |x| >= 1"),
    Function(("asech", "arcsech"), sf.asech, _S.asech, **_reciprocal("np.arccosh"),
             domain=lambda u: sympy.And(sympy.Ge(u, 0), sympy.Le(u, 1)), analytic=True,
             doc="acosh(1/x), for 0 <= x <= 1 (inf at 0)"),
    Function(("acsch", "arccsch"), sf.acsch, _S.acsch, **_reciprocal("np.arcsinh"),
             analytic=True, doc="asinh(1/x) (+-inf at +-0)"),
    # machine learning and statistics (numerically stable forms)
    Function(("logistic", "sigmoid", "expit"), sf.logistic, sf.logistic, libm="sg_logistic", vector="vm_logistic",
             numpy=lambda a: f"(np.exp(np.minimum({a[0]}, 0.0)) / (1.0 + np.exp(-np.abs({a[0]}))))",
             doc="1/(1 + exp(-x)), no overflow; derivative sech(x/2)**2/4 = "
                 "logistic(x)*logistic(-x)"),
    Function(("softplus",), sf.softplus, sf.softplus, libm="sg_softplus", vector="vm_softplus",
             numpy=lambda a: f"(np.maximum({a[0]}, 0.0) + np.log1p(np.exp(-np.abs({a[0]}))))",
             doc="log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)); derivative logistic(x)"),
    Function(("logaddexp",), sf.logaddexp, sf.logaddexp, 2, 2, libm="sg_logaddexp", vector="vm_logaddexp",
             numpy="np.logaddexp",
             doc="log(exp(a) + exp(b)) without overflow; derivatives logistic(a - b), "
                 "logistic(b - a)"),
    Function(("xlogy",), sf.xlogy, sf.xlogy, 2, 2, libm="sg_xlogy", vector="vm_xlogy",
             numpy=lambda a: (f"np.where(({a[0]} == 0.0) & ({a[1]} == {a[1]}), 0.0, "
                              f"{a[0]} * np.log({a[1]}))"),
             domain=lambda x, y: sympy.Ge(y, 0),
             doc="x*log(y), 0 where x == 0 and y is not NaN (scipy.special.xlogy, even "
                 "for y < 0); derivatives (NaN for y < 0) log(y) and x/y"),
    # piecewise and non-smooth
    Function(("abs", "Abs"), _S.Abs, _S.Abs, **_same("np.abs"), numeric=False),
    Function(("sign",), _S.sign, _S.sign, **_same("np.sign"), numeric=False),
    Function(("min", "Min"), _S.Min, _S.Min, 2, None, libm=_nested("np.minimum"),
             numpy=_nested("np.minimum"), numeric=False, doc="smallest argument (NaN wins)"),
    Function(("max", "Max"), _S.Max, _S.Max, 2, None, libm=_nested("np.maximum"),
             numpy=_nested("np.maximum"), numeric=False, doc="largest argument (NaN wins)"),
    Function(("heaviside", "Heaviside"), _S.Heaviside, _S.Heaviside,
             libm=lambda a: f"sg_heaviside({a[0]}, {a[1] if len(a) > 1 else '0.5'})",
             numpy=lambda a: f"np.heaviside({a[0]}, {a[1] if len(a) > 1 else '0.5'})",
             numeric=False, doc="step: 0 below 0, 1/2 at 0, 1 above"),
    Function(("floor",), sf.floor, sf.floor, **_same("np.floor"), numeric=False),
    Function(("ceil", "ceiling"), sf.ceiling, sf.ceiling, **_same("np.ceil"), numeric=False),
    Function(("where",), _where, None, 3, 3, numeric=False,
             doc="where(cond, a, b): a where cond holds, else b"),
    Function(("pow",), sympy.Pow, None, 2, 2, numeric=False, doc="pow(x, y) = x**y"),
    Function(("clip",), _clip, None, 3, 3, numeric=False,
             doc="clip(x, lo, hi) = Min(Max(x, lo), hi); derivative 1 inside, 0 outside, "
                 "1/2 at x == lo or x == hi (Min/Max's tie rule)"),
    # special functions (kernel helpers in symgrad._runtime; no NumPy array form)
    Function(("erf",), _S.erf, _S.erf, libm="sg_erf", vector="vm_erf"),
    Function(("erfc",), _S.erfc, _S.erfc, libm="sg_erfc", vector="vm_erfc"),
    Function(("gamma",), _S.gamma, _S.gamma, libm="sg_gamma"),
    Function(("lgamma", "loggamma"), _S.loggamma, _S.loggamma, libm="sg_lgamma",
             doc="log|gamma(x)|"),
    # appear only in derivatives
    Function((), _S.polygamma, _S.polygamma, 2, 2,
             libm=lambda a: f"sg_polygamma({a[0]}, {a[1]})",
             doc="polygamma(m, x) for 0 <= m <= MAX_POLYGAMMA_ORDER (derivatives of gamma)"),
    Function((), sf.sinc_deriv, sf.sinc_deriv, 2, 2, libm=_sinc_deriv_code,
             doc="sinc_deriv(n, x): n-th derivative of sinc, 1 <= n <= MAX_SINC_ORDER"),
    Function((), _S.DiracDelta, _S.DiracDelta, 1, 2, libm=lambda a: "0.0",
             numpy=lambda a: f"np.zeros_like({a[0]})",
             doc="derivative of a step: 0 almost everywhere (see symgrad.derive)"),
]

#: Every entry, in the order listed in the docs.
REGISTRY: tuple[Function, ...] = tuple(_REGISTRY)

#: Kernel (libm) name -> vector-math name, for code written as a template of libm calls
#: (``sec`` is ``1/np.cos(x)``: the vector printer writes ``1/vm_cos(x)``).
VECTOR_NAMES: Mapping[str, str] = MappingProxyType(
    {e.libm: e.vector for e in REGISTRY if isinstance(e.libm, str) and e.vector}
)

#: User-facing name -> entry (aliases included).
BY_NAME: Mapping[str, Function] = MappingProxyType(
    {name: entry for entry in REGISTRY for name in entry.names}
)

_BY_CLASS: dict[type, Function] = {
    e.sympy_class: e for e in REGISTRY if e.sympy_class is not None
}


def entry_for(cls: type) -> Function | None:
    """The entry that prints SymPy class ``cls`` (or a base class of it), or None."""
    entry = _BY_CLASS.get(cls)
    if entry is None:
        for known, candidate in _BY_CLASS.items():
            if issubclass(cls, known):
                return candidate
    return entry


def domain_condition(expr: sympy.Basic) -> sympy.Basic:
    """The condition under which ``expr``'s top operation is defined on the reals.

    Powers are the one operation that is not a function: ``x**2`` (an integer
    exponent, also ``x**2.0``) is defined everywhere, any other exponent needs
    ``base >= 0``.
    """
    if isinstance(expr, sympy.Pow):
        base, exponent = expr.args
        if exponent.is_integer or (exponent.is_Float and float(exponent).is_integer()):
            return sympy.true
        return sympy.Ge(base, 0)
    entry = entry_for(type(expr)) if isinstance(expr, sympy.Function) else None
    if entry is None or entry.domain is None:
        return sympy.true
    return entry.domain(*expr.args)


def is_analytic(expr: sympy.Basic) -> bool:
    """Whether every operation in ``expr`` is analytic (a complex step differentiates it)."""
    for node in sympy.preorder_traversal(expr):
        if isinstance(node, (sympy.Symbol, sympy.Number, sympy.NumberSymbol,
                             sympy.Add, sympy.Mul, sympy.Pow)):
            continue
        entry = entry_for(type(node)) if isinstance(node, sympy.Function) else None
        if entry is None or not entry.analytic:
            return False
    return True
