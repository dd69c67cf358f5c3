"""The pointwise check: compiled derivatives against high-order central differences
(or a complex step) at arbitrary points.

Every kind of ``symgrad.outputs.OUTPUTS`` with finite-difference rules is checked:
the compiled ``fd_base`` kind is evaluated on a stencil around each point, each term
of ``fd_terms`` is a 6th-order central difference of one base component along one
variable, and the signed terms are summed.

Tolerance
---------
For one term, at step ``h`` along its variable::

    tol_term = |D6(h) - D6(2h)| + ROUNDING_SAFETY * eps * M_F / h

``|D6(h) - D6(2h)|`` is ~63x the truncation error of ``D6(h)`` (Richardson). ``M_F``
is the rounding magnitude of the differenced component: the larger of its largest
``|F|`` on the stencil and its *term magnitude* ``mag(F)`` at the point (see
:func:`symgrad.validate.common.magnitude_expr`: ``|terms|`` summed through every sum,
multiplied through products, propagated through functions by their slope). A sum of
terms has the sum of the terms' tolerances, plus the rounding of the compiled
derivative itself, ``ROUNDING_SAFETY * eps * |D|`` (not divided by ``h``: small next to
the differences' rounding, so the derivative's own magnitude is not built).

Why magnitudes: the kernel computes ``F`` with an error of a few ``eps * mag(F)``,
and ``mag(F)`` is much larger than ``|F|`` where large terms cancel, which is the rule
for large formulas (a gradient component of a 30-variable objective is a sum of
dozens of terms; near a minimum it is almost zero). ``eps * |F|`` would then be
smaller than the rounding error actually present in the differences, and a correct
Hessian would fail. Where SymPy cannot build the magnitude (a function it cannot
print for NumPy), ``|F|`` and ``|D|`` are used.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import InputError
from .common import (
    EPS,
    ROUNDING_SAFETY,
    _derivative_kinds,
    _evaluator,
    _formula_text,
    _param_values,
    _unique,
    base_kind,
    components,
    evaluate_outputs,
    magnitude_function,
)
from .report import ValidationReport, _merge, _ratio, _Raw

__all__ = ["check_points", "CENTRAL_STEP", "COMPLEX_STEP"]

# 6th-order central difference: f'(x) ~ sum_j C_j (f(x + j h) - f(x - j h)) / h.
_C6 = {1: 3.0 / 4.0, 2: -3.0 / 20.0, 3: 1.0 / 60.0}
_OFFSETS = (1, 2, 3, 4, 6)  # h-stencil {1, 2, 3} and 2h-stencil {2, 4, 6}
#: Relative step of the central difference: eps**(1/7), optimal for a 6th-order rule.
CENTRAL_STEP = EPS ** (1.0 / 7.0)
#: Complex step (relative to max(1, |x|)).
COMPLEX_STEP = 1e-20


def _as_points(ev, points) -> np.ndarray:
    names = ev.variables
    n = len(names)
    if isinstance(points, Mapping):
        unknown = set(points) - set(names)
        if unknown:
            raise InputError(
                f"points has {sorted(unknown)[0]!r}, which is not a variable; variables are "
                f"{', '.join(names)}."
            )
        missing = [v for v in names if v not in points]
        if missing:
            raise InputError(f"points has no values for variable {missing[0]!r}.")
        try:
            arrays = np.broadcast_arrays(*(np.asarray(points[v], dtype=float) for v in names))
        except ValueError as exc:
            raise InputError(f"points do not broadcast together: {exc}") from None
        X = np.stack([a.reshape(-1) for a in arrays], axis=-1)
    else:
        try:
            X = np.asarray(points, dtype=float)
        except (TypeError, ValueError) as exc:
            raise InputError(f"points must be numbers: {exc}") from None
        if X.ndim == 0 and n == 1:
            X = X.reshape(1, 1)
        if X.ndim == 1:
            X = X.reshape(-1, 1) if n == 1 else X.reshape(1, -1)
        if X.shape[-1] != n:
            raise InputError(
                f"points must have shape (..., {n}) (one column per variable "
                f"{', '.join(names)}), got {X.shape}."
            )
        X = X.reshape(-1, n)
    if X.shape[0] == 0:
        raise InputError("points is empty.")
    return X


def _central(values: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """6th-order estimates at h and 2h, and the largest |value| of the stencil.

    ``values`` has shape (P, n, len(_OFFSETS), 2, ...) (last-but-one: +/-); ``h`` (P, n).
    """
    extra = values.ndim - 4
    hh = h.reshape(h.shape + (1,) * extra)
    idx = {o: i for i, o in enumerate(_OFFSETS)}

    def rule(scale):
        acc = 0.0
        for j, c in _C6.items():
            i = idx[j * scale]
            acc = acc + c * (values[:, :, i, 0] - values[:, :, i, 1])
        return acc / (scale * hh)

    fmax = np.max(np.abs(values), axis=(2, 3))
    return rule(1), rule(2), fmax


def _complex_function(ev):
    """A numpy function of complex inputs for the value, or None if not analytic."""
    import sympy

    from ..functions import is_analytic

    if not all(is_analytic(e) for e in ev.formula.exprs):
        return None
    symbols = tuple(ev.formula.variables) + tuple(ev.formula.params)
    try:
        fn = sympy.lambdify(symbols, list(ev.formula.exprs), modules="numpy")
    except Exception:  # a printer gap: fall back to central differences
        return None
    return fn



#: Largest number of floats one stencil evaluation may return before the stencil is
#: evaluated for the differenced kinds alone (a second kernel) instead of with the
#: checked kinds too (one kernel for both).
_SHARED_KERNEL_FLOATS = 10_000_000


def check_points(
    f,
    points,
    *,
    derivatives: str | Sequence[str] = ("gradient", "hessian"),
    method: str = "auto",
    step: float | None = None,
    variables=None,
    params=None,
    param_values: Mapping[str, Any] | None = None,
    **param_kwargs: Any,
) -> ValidationReport:
    """Check compiled derivatives at arbitrary points (no grid needed).

    Parameters
    ----------
    f : Evaluator, str or list of str
    points : array (..., n), one point (n,), or dict {name: array}
    derivatives : str or sequence of str
        Any kind with finite-difference rules: 'gradient' (the Jacobian for vectors),
        'jacobian', 'hessian', 'laplacian', 'divergence', 'curl'.
    method : {'auto', 'central', 'complex'}
        Reference for differences of the value (gradient, Jacobian, divergence,
        curl). 'central': a 6th-order central difference of the compiled value, with
        relative step ``eps**(1/7) * max(1, |x|)``; see the module docstring for the
        tolerance. 'complex': the complex step ``Im f(x + i t) / t``, ``t = 1e-20 *
        max(1, |x|)``, evaluated with ``sympy.lambdify`` (only formulas built from
        analytic functions; points where its real part disagrees with the compiled
        value, e.g. on a branch cut, fall back to 'central'), with tolerance the
        rounding term of the central rule. 'auto': 'complex' where possible.
        The Hessian and the Laplacian are always checked by central differences of
        the compiled gradient (Jacobian).
    step : float, optional
        Relative step for central differences instead of ``eps**(1/7)``.
    param_values, **param_kwargs
        Values of the formula's parameters.

    Returns
    -------
    ValidationReport
        With ``method='points'``; orders are NaN.
    """
    ev = _evaluator(f, variables, params)
    kinds = _derivative_kinds(ev, derivatives)
    if method not in ("auto", "central", "complex"):
        raise InputError(f"method must be 'auto', 'central' or 'complex', not {method!r}.")
    pvals = _param_values(ev, param_values, param_kwargs)
    X = _as_points(ev, points)
    names = ev.variables
    n = len(names)
    P = X.shape[0]
    rel = CENTRAL_STEP if step is None else float(step)
    if not (rel > 0 and math.isfinite(rel)):
        raise InputError(f"step must be a positive number, not {step!r}.")
    cfun = _complex_function(ev) if method in ("auto", "complex") else None
    if method == "complex" and cfun is None:
        raise InputError(
            "method='complex' needs a formula built from analytic functions only "
            "(no abs, sign, Min/Max, where, floor, erf, gamma, ...); use 'central'."
        )

    bases = {kind: base_kind(ev, kind) for kind in kinds}
    outputs = _unique(["value", *bases.values(), *kinds])

    def call(A, outs):
        return evaluate_outputs(ev, outs, [A] if n > 1 else [A[..., 0]], pvals)

    with np.errstate(all="ignore"):
        h = rel * np.maximum(1.0, np.abs(X))  # (P, n)
        h = (X + h) - X  # exactly representable steps
        offs = np.array(_OFFSETS, dtype=float)
        # stencil points: (P, n_dir, n_off, 2, n)
        S = np.broadcast_to(X[:, None, None, None, :], (P, n, len(offs), 2, n)).copy()
        for k in range(n):
            S[:, k, :, 0, k] = X[:, None, k] + offs[None, :] * h[:, None, k]
            S[:, k, :, 1, k] = X[:, None, k] - offs[None, :] * h[:, None, k]

        at_x = {name: np.asarray(r, dtype=float).reshape(P, -1)
                for name, r in zip(outputs, call(X, outputs))}
        # One kernel for the points and the stencil where the stencil's outputs fit.
        per_point = sum(a.shape[1] for a in at_x.values())
        stencil_outputs = (outputs if P * n * len(offs) * 2 * per_point <= _SHARED_KERNEL_FLOATS
                           else _unique(bases.values()))
        at_s = dict(zip(stencil_outputs, call(S, stencil_outputs)))

        # Differences of each base kind: est[base] (P, n_dir, size), truncation tol,
        # rounding magnitude / h (all before the sum over terms).
        est, trunc, round_scale = {}, {}, {}
        used_complex = False
        for base in _unique(bases.values()):
            Fs = np.asarray(at_s[base], dtype=float).reshape(P, n, len(offs), 2, -1)
            d_h, d_2h, fmax = _central(Fs, h)  # (P, n_dir, size)
            mag = fmax
            mfun = magnitude_function(ev, base)
            if mfun is not None:
                mag = np.maximum(fmax, mfun(X, pvals)[:, None, :])
            est[base] = d_h
            trunc[base] = np.abs(d_h - d_2h)
            round_scale[base] = mag / h[:, :, None]
            if base == "value" and cfun is not None:
                used_complex = _complex_step(ev, cfun, X, pvals, at_x["value"], est[base],
                                             trunc[base])

        rows = []
        finite_pts = np.isfinite(at_x["value"]).all(axis=1)
        for kind in kinds:
            base = bases[kind]
            D_all = at_x[kind]
            mag_D = np.abs(D_all)
            for comp in components(ev, kind):
                terms = comp.alternatives[0]
                D = D_all[:, comp.flat]
                e = np.zeros(P)
                tol = ROUNDING_SAFETY * EPS * mag_D[:, comp.flat]
                for sign, c, v in terms:
                    e = e + sign * est[base][:, v, c]
                    tol = tol + trunc[base][:, v, c] + (
                        ROUNDING_SAFETY * EPS * round_scale[base][:, v, c])
                finite_pts &= np.isfinite(D)
                rows.append(_row(comp, D, e, tol, X, names))

    nonfinite = int((~finite_pts).sum())
    example = None
    if nonfinite:
        w = int(np.argmax(~finite_pts))
        example = {names[k]: float(X[w, k]) for k in range(n)}
    reference = "6th-order central differences (h and 2h)"
    if used_complex:
        reference = "complex step (first derivatives) and " + reference
    settings = {
        "npoints": P,
        "method": method,
        "reference": reference,
        "step": rel,
        "derivatives": list(kinds),
        "params": dict(pvals),
        "tolerance_rule": f"|D6(h) - D6(2h)| + {ROUNDING_SAFETY:g}*eps*(mag(F)/h + |D|)",
    }
    return ValidationReport(
        formula=_formula_text(ev),
        variables=tuple(names),
        method="points",
        rows=tuple(_merge(rows)),
        nonfinite=nonfinite,
        total=P,
        nonfinite_example=example,
        settings=settings,
    )


def _complex_step(ev, cfun, X, pvals, real, est, trunc) -> bool:
    """Replace central differences of the value by complex steps where they are valid.

    ``est`` and ``trunc`` (P, n_dir, m) are updated in place: the complex step has no
    truncation error to speak of (only the rounding term remains). Returns whether any
    point used it.
    """
    P, n = X.shape
    pv = [np.asarray(pvals[p], dtype=complex) for p in ev.params]
    used = False
    for k in range(n):
        t = COMPLEX_STEP * np.maximum(1.0, np.abs(X[:, k]))
        Z = X.astype(complex)
        Z[:, k] = Z[:, k] + 1j * t
        try:
            out = cfun(*[Z[:, j] for j in range(n)], *pv)
        except Exception:
            return used
        out = np.stack([np.broadcast_to(np.asarray(o, dtype=complex), (P,)) for o in out],
                       axis=-1)  # (P, m)
        good = np.isfinite(out) & (
            np.abs(out.real - real) <= 1e-8 * np.maximum(1.0, np.abs(real)))
        cs = out.imag / t[:, None]
        est[:, k, :] = np.where(good, cs, est[:, k, :])
        trunc[:, k, :] = np.where(good, 0.0, trunc[:, k, :])
        used = used or bool(good.any())
    return used


def _row(comp, D, est, tol, X, names) -> _Raw:
    n = len(names)
    valid = np.isfinite(D) & np.isfinite(est) & np.isfinite(tol)
    err = np.where(valid, np.abs(est - D), 0.0)
    compared = int(valid.sum())
    if not compared:
        return _Raw(comp.label, comp.kind, comp.index, math.nan, math.nan, math.nan,
                    math.nan, math.nan, "none", 0, int((~valid).sum()), {}, math.nan,
                    math.nan, False, "no finite points to compare")
    ratio = np.where(valid, _ratio(err, tol), -1.0)
    w = int(np.argmax(ratio))
    rr = float(ratio[w])
    raw = _Raw(comp.label, comp.kind, comp.index, float(err.max()),
               float((err / np.maximum(1.0, np.abs(np.where(valid, D, 0)))).max()),
               rr, float(tol[w]), math.nan, "none", compared,
               int((~valid).sum()), {names[k]: float(X[w, k]) for k in range(n)},
               float(D[w]), float(est[w]))
    raw.ok = rr <= 1.0
    if not raw.ok:
        raw.reason = (f"error {raw.max_abs:.3g} exceeds tolerance ({rr:.3g} x tol "
                      f"= {raw.tol:.3g} at the worst point)")
    return raw
