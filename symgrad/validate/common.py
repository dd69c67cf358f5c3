"""What the checks share: constants, argument handling, the checked components of
each output kind (read from ``symgrad.outputs.OUTPUTS``), one entry point that
evaluates several kinds in one fused pass, and the rounding magnitude of a formula.

Imports flow one way: this package uses ``errors``, ``outputs``, ``derive``,
``functions``, ``evaluator`` and ``api`` (compile), never the package root.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np

from .._bind import Binder
from ..errors import InputError
from ..outputs import OUTPUTS

EPS = float(np.finfo(np.float64).eps)
#: Factor on the ``h**2/6 * |F'''|`` truncation estimate in the grid tolerance.
TRUNCATION_SAFETY = 2.0
#: Factor on the ``eps * (|F|/h + |D|)`` rounding estimate in every tolerance.
ROUNDING_SAFETY = 8.0
#: Smallest observed convergence order accepted for central differences (ideal: 2).
MIN_ORDER = 1.5

#: The kinds that can be checked by finite differences (those with ``fd_base``).
CHECKABLE = tuple(name for name, k in OUTPUTS.items() if k.fd_base is not None)

# One finite-difference term: (sign, flat index into the base output, variable index).
Term = tuple[int, int, int]


# ------------------------------------------------------------------ argument handling


def _not_indexed(f) -> None:
    if getattr(f, "is_indexed", False):
        raise InputError(
            "symgrad.check validates scalar formulas over grids; an indexed formula "
            "(sums over arrays) is checked by directional differences instead: compare "
            "f.gradient(x, flat=True) @ v with (f(x + h*v) - f(x - h*v)) / (2*h).")


def _evaluator(f, variables, params):
    from ..evaluator import Evaluator

    _not_indexed(f)
    if isinstance(f, Evaluator):
        if variables is not None or params is not None:
            raise InputError(
                "variables= and params= apply when f is a formula string; this Evaluator "
                f"already has variables {list(f.variables)} and params {list(f.params)}."
            )
        return f
    if isinstance(f, str) or (
        isinstance(f, Sequence) and not isinstance(f, (bytes, bytearray))
        and all(isinstance(s, str) for s in f)
    ):
        from ..api import compile as sg_compile

        # One thread is fast enough for the few grids of a check, and avoids compiling
        # the parallel kernel.
        ev = sg_compile(f, variables, params, parallel=False)
        _not_indexed(ev)
        return ev
    raise InputError(
        f"f must be a symgrad Evaluator or a formula string (or list of strings), "
        f"not {type(f).__name__}."
    )


def _formula_text(ev) -> str:
    return "; ".join(ev.formula.sources)


def _param_values(ev, param_values, kwargs) -> dict[str, Any]:
    values = dict(param_values or {})
    for k, v in kwargs.items():
        if k in values:
            raise InputError(f"parameter {k!r} is given twice (param_values and keyword).")
        values[k] = v
    return Binder(ev.variables, ev.params).param_values(
        values,
        variable_fix="give its range in domain",
        param_fix="pass {name}=... (or param_values={{'{name}': ...}})",
    )


def _derivative_kinds(ev, derivatives) -> tuple[str, ...]:
    """The requested kinds, validated against the registry, in request order.

    'gradient' and 'jacobian' mean the same check (the Jacobian of a vector formula,
    the gradient of a scalar one).
    """
    if isinstance(derivatives, str):
        derivatives = (derivatives,)
    n, m, is_vector = ev.n_variables, ev.n_outputs, ev.is_vector
    kinds: list[str] = []
    for d in derivatives:
        entry = OUTPUTS.get(d) if isinstance(d, str) else None
        if entry is None or entry.fd_base is None:
            what = ("cannot be checked by finite differences" if entry is not None
                    else "is not an output kind")
            raise InputError(
                f"unknown derivative {d!r} ({what}); choose from "
                f"{', '.join(map(repr, CHECKABLE))}."
            )
        if d in ("gradient", "jacobian"):
            d = "jacobian" if is_vector else "gradient"
            entry = OUTPUTS[d]
        reason = entry.check(n, m, is_vector, None)
        if reason is not None:
            raise InputError(f"{d} {reason}")
        if d not in kinds:
            kinds.append(d)
    if not kinds:
        raise InputError("derivatives is empty; pass e.g. ('gradient', 'hessian').")
    return tuple(kinds)


def _unique(names) -> tuple[str, ...]:
    out: list[str] = []
    for k in names:
        if k not in out:
            out.append(k)
    return tuple(out)


# -------------------------------------------------------------------- components


@dataclass(frozen=True)
class Component:
    """One checked component of a kind.

    ``alternatives`` are equivalent lists of finite-difference terms (the Hessian's
    entry (i, j) is d/dx_i of gradient j or d/dx_j of gradient i); a check uses the
    first one whose variables it can difference (all of them on a full grid).
    """

    label: str
    kind: str
    index: tuple[int, ...]
    flat: int
    alternatives: tuple[tuple[Term, ...], ...]


# Kinds stored symmetrically: only the upper triangle is checked (once).
_SYMMETRIC = {"hessian"}


def base_kind(ev, kind: str) -> str:
    """The kind differenced to check ``kind`` (the registry's ``fd_base``).

    A scalar formula's Jacobian is its gradient (same entries): 'gradient' is used,
    so that value, gradient and Hessian share one fused kernel.
    """
    base = OUTPUTS[kind].fd_base
    if base == "jacobian" and not ev.is_vector:
        return "gradient"
    return base


def _legacy_label(kind, index, names, m, is_vector):
    if kind == "gradient":
        return f"d/d{names[index[0]]}"
    if kind == "jacobian":
        return f"J[{index[0]}, {index[1]}]"
    if kind == "hessian":
        if is_vector:
            r, p, q = index
            return f"H[{r}][{p}, {q}]"
        p, q = index
        return f"d2/d{names[p]}2" if p == q else f"d2/d{names[p]}d{names[q]}"
    return OUTPUTS[kind].label(index, names, "plain", m)


def components(ev, kind: str) -> list[Component]:
    """Every checked component of ``kind`` for this evaluator, in storage order."""
    entry = OUTPUTS[kind]
    n, m, is_vector = ev.n_variables, ev.n_outputs, ev.is_vector
    dims = SimpleNamespace(n=n, m=m, is_vector=is_vector)
    shape = tuple(entry.shape(dims, None))
    terms = entry.fd_terms(n, m)
    size = math.prod(shape)
    if len(terms) != size:  # pragma: no cover - a registry inconsistency
        raise AssertionError(f"{kind}: fd_terms has {len(terms)} entries for shape {shape}")
    out = []
    for flat in range(size):
        index = tuple(int(i) for i in np.unravel_index(flat, shape)) if shape else ()
        alts = [tuple(terms[flat])]
        if kind in _SYMMETRIC:
            i, j = index[-2:]
            if i > j:
                continue
            mirrored = (*index[:-2], j, i)
            alts.insert(0, tuple(terms[int(np.ravel_multi_index(mirrored, shape))]))
        out.append(Component(_legacy_label(kind, index, ev.variables, m, is_vector), kind,
                             index, flat, tuple(_unique_alts(alts))))
    return out


def _unique_alts(alts):
    seen = []
    for a in alts:
        if a not in seen:
            seen.append(a)
    return seen


# -------------------------------------------------------------------- evaluation


def evaluate_outputs(ev, outputs: Sequence[str], args: Sequence, pvals: Mapping[str, Any]):
    """Evaluate several kinds in one fused pass: a tuple of arrays, in ``outputs`` order
    (``Evaluator.evaluate(*args, outputs=..., **params)``, the one call the checks
    make, so a test can patch it to make an evaluator deliberately wrong)."""
    # By keyword: the arrays are in the evaluator's variable order by construction.
    if len(args) == 1 and ev.n_variables > 1:  # one array of points (..., n)
        A = np.asarray(args[0])
        args = [A[..., k] for k in range(ev.n_variables)]
    inputs = dict(zip(ev.variables, args))
    inputs.update(pvals)
    return tuple(ev.evaluate(outputs=tuple(outputs), **inputs))


# ------------------------------------------------------------ rounding magnitude


def magnitude_expr(expr, memo: dict | None = None):
    """A first-order bound on the magnitude that rounding errors in ``expr`` scale with.

    ``mag(c) = |c|``, ``mag(x) = |x|``, ``mag(a + b) = mag(a) + mag(b)``,
    ``mag(a * b) = mag(a) * mag(b)``, ``mag(u**k) = mag(u)**k`` (integer k > 0), and for
    any other function ``mag(g(u, ...)) = |g| + sum |dg/du_i| mag(u_i)`` (the error of
    an argument propagated by the function's slope). The computed value of ``expr``
    has an error of a few ``eps * mag(expr)``; ``|expr|`` itself is much smaller when
    large terms cancel (a gradient near a stationary point, a sum of many terms), which
    is exactly when ``eps * |expr|`` underestimates the rounding error.
    """
    import sympy

    memo = {} if memo is None else memo

    def mag(e):
        hit = memo.get(e)
        if hit is not None:
            return hit
        if e.is_Number or e.is_NumberSymbol:
            r = sympy.Abs(e)
        elif e.is_Symbol:
            r = sympy.Abs(e)
        elif e.is_Add:
            r = sympy.Add(*(mag(a) for a in e.args))
        elif e.is_Mul:
            r = sympy.Mul(*(mag(a) for a in e.args))
        elif e.is_Pow and e.exp.is_Integer and e.exp > 0:
            r = mag(e.base) ** e.exp
        elif e.args and not isinstance(e, sympy.Piecewise):
            r = sympy.Abs(e)
            dummies = [sympy.Dummy(real=True) for _ in e.args]
            try:
                g = e.func(*dummies)
                for d, a in zip(dummies, e.args):
                    slope = sympy.diff(g, d)
                    if slope != 0:
                        r = r + sympy.Abs(slope.subs(dict(zip(dummies, e.args)))) * mag(a)
            except Exception:  # not differentiable by SymPy: assume slope 1
                r = r + sympy.Add(*(mag(a) for a in e.args))
        else:
            r = sympy.Abs(e)
        memo[e] = r
        return r

    return mag(sympy.sympify(expr))


_MAGNITUDES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def magnitude_function(ev, kind: str):
    """A function ``(X (P, n), pvals) -> (P, size)`` of the rounding magnitude of every
    flat entry of ``kind`` (see :func:`magnitude_expr`), or None where SymPy cannot
    build one (then the checks use ``|value|``)."""
    try:
        cache = _MAGNITUDES.setdefault(ev, {})
    except TypeError:  # not weak-referenceable
        cache = {}
    if kind in cache:
        return cache[kind]
    fn = None
    try:
        fn = _build_magnitude(ev, kind)
    except Exception:  # a printer or derivation gap: fall back to |value|
        fn = None
    cache[kind] = fn
    return fn


def _build_magnitude(ev, kind):
    import sympy

    from ..derive import Derivatives

    d = _derivatives(ev, Derivatives)
    entry = OUTPUTS[kind]
    shape = tuple(entry.shape(d, None))
    size = math.prod(shape)
    exprs = [sympy.S.Zero] * size
    memo: dict = {}  # shared subexpressions are bounded once
    for positions, e in entry.entries(d, None):
        m = magnitude_expr(e, memo)
        for p in positions:
            exprs[p] = m
    symbols = tuple(ev.formula.variables) + tuple(ev.formula.params)
    fn = sympy.lambdify(symbols, exprs, modules="numpy")

    def evaluate(X, pvals):
        P = X.shape[0]
        with np.errstate(all="ignore"):
            cols = fn(*(X[:, k] for k in range(X.shape[1])),
                      *(np.asarray(pvals[p], dtype=float) for p in ev.params))
        out = np.stack([np.broadcast_to(np.asarray(c, dtype=float), (P,)) for c in cols],
                       axis=-1) if cols else np.zeros((P, 0))
        return np.where(np.isfinite(out), out, 0.0)

    return evaluate


def _derivatives(ev, Derivatives):
    for attr in ("derivatives", "_derivatives", "_d"):
        d = getattr(ev, attr, None)
        if isinstance(d, Derivatives):
            return d
    f = ev.formula
    return Derivatives(f.exprs, f.variables, getattr(ev, "simplify", False), ev.is_vector)
