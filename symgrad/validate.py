"""Check compiled derivatives against finite differences, correctly.

Two checks, one report type:

* :func:`check` evaluates the formula on a grid and compares the compiled gradient,
  Hessian or Jacobian with ``numpy.gradient`` of the compiled value (or, for the
  Hessian, of the compiled gradient), at two resolutions.
* :func:`check_points` compares at arbitrary points with a 6th-order central
  difference (or a complex step, where the formula allows it).

Both return a :class:`ValidationReport`: ``print(report)`` shows a table,
``report.ok`` the verdict, ``report.raise_if_failed()`` raises
:class:`~symgrad.errors.ValidationError` naming the worst component and where it is.

The numpy.gradient pitfalls this module gets right
--------------------------------------------------
* ``np.meshgrid(x, y)`` defaults to ``indexing='xy'``: array axis 0 runs over *y*, so
  ``np.gradient(Z)`` returns ``(dZ/dy, dZ/dx)``. :func:`check` accepts either
  ``indexing`` and maps the axes back to variables (array axis 0 is the second
  variable and axis 1 the first for ``'xy'`` grids of 2 or more variables).
  Both give identical reports.
* Spacing is passed as the coordinate arrays, one per array axis, in array-axis order.
* ``np.gradient`` uses one-sided differences at the two ends of each axis (first order
  unless ``edge_order=2``). By default (``interior=True``) a derivative along an axis
  is compared only at the points that are not at the ends of that axis, where the
  central difference ``(F[i+1] - F[i-1]) / 2h`` is used.

The tolerance (derived from the grid, no magic constant)
--------------------------------------------------------
The central difference of ``F`` along an axis with spacing ``h`` has truncation error
``h**2/6 * F'''(xi)`` for some ``xi`` within one cell, plus a rounding error of about
``eps * |F| / h``. At each compared point::

    tol = TRUNCATION_SAFETY * h**2 / 6 * T3  +  ROUNDING_SAFETY * eps * (Fmax / h + Dmax)

* ``T3``: the largest ``|F'''|`` estimated by the third difference
  ``(F[i+2] - 2 F[i+1] + 2 F[i-1] - F[i-2]) / (2 h**3)`` centred on the point and its
  two neighbours along the axis (at the ends of the axis, linearly extrapolated). It
  uses only ``F`` (the value for the gradient and Jacobian, the compiled gradient for
  the Hessian), never the derivative under test.
* ``Fmax``, ``Dmax``: the largest finite ``|F|`` and compiled ``|D|`` on the grid
  (global, because a value that is small by cancellation of large terms carries the
  rounding error of the terms); ``eps`` the float64 machine epsilon.
* ``TRUNCATION_SAFETY = 2`` covers the difference between the continuous and the
  discrete third derivative and the ``O(h**4)`` terms; ``ROUNDING_SAFETY = 8`` covers
  a few ulps of error in each evaluated value. At the ends of an axis
  (``interior=False``) the truncation term is doubled: the second-order one-sided
  formula has error ``h**2/3 * F'''``.

The table's ``err/tol`` column is the largest ratio over the compared points; the
``worst`` location of a component is where that ratio is largest.

Observed convergence order
--------------------------
The grid at the requested resolution (spacing ``h``) is also subsampled to every
other node (spacing ``2h``, nodes shared with the fine grid). On the nodes that both
grids compare (interior and unmasked in both), with ``e_h`` and ``e_2h`` the largest
errors there::

    order = log2(e_2h / e_h)

Central differences give about 2; a wrong derivative gives about 0 (its error does
not shrink with ``h``). When ``e_h`` is at rounding level (every error within the
rounding term above, e.g. a quadratic, whose central differences are exact) the order
is not measurable: it is reported as NaN ("exact" in the table).

Verdict: a component passes when every error is within its tolerance **and** the
observed order is at least ``min_order`` (default 1.5), or the errors are at rounding
level. An under-resolved grid (a few points per oscillation) also fails the order
test: add points. A check only detects errors larger than its tolerance.

Points that are not finite
--------------------------
Where the value, the differenced array ``F`` or the compiled derivative is not finite
(``1/x`` at 0, the derivative of ``sqrt(x**2)`` at 0), the point is masked, and so are
the points whose stencils reach it (two cells each way along the differentiated
axis: the central difference and the tolerance estimate). The report counts the grid
points with a non-finite value or derivative, shows one, and counts the masked points
per component. A component with no point left to compare fails.

Non-smooth formulas (``abs``, ``Min``/``Max``, ``where``, ``floor``) have derivatives
that finite differences do not approximate near a kink or jump; expect failures there
(the report names the location), or choose a domain without them.

More than four variables
------------------------
A full grid would be too large, so (``slices=None``) 5 to 8 variables are checked on
2-D *planes*, one for each pair of variables, through one random base point of the
domain (``seed``, or give ``base_point``); more variables on 1-D *lines* along each
variable through that point. On a plane over variables ``i, j`` the checked
derivatives are those along ``i`` and ``j``: ``d/dx_i``, ``d/dx_j`` and every Hessian
entry ``(k, i)``, ``(k, j)``, so the union of the slices covers every component. Each
component's row reports its worst slice. ``slices='planes'``/``'lines'`` forces a
mode for any number of variables, ``slices='full'`` a full grid.
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import InputError, ValidationError

__all__ = [
    "check",
    "check_points",
    "ValidationReport",
    "ComponentResult",
    "TRUNCATION_SAFETY",
    "ROUNDING_SAFETY",
    "MIN_ORDER",
    "MAX_GRID_POINTS",
    "DEFAULT_POINTS",
]

EPS = float(np.finfo(np.float64).eps)
#: Factor on the ``h**2/6 * |F'''|`` truncation estimate in the grid tolerance.
TRUNCATION_SAFETY = 2.0
#: Factor on the ``eps * (|F|/h + |D|)`` rounding estimate in every tolerance.
ROUNDING_SAFETY = 8.0
#: Smallest observed convergence order accepted for central differences (ideal: 2).
MIN_ORDER = 1.5
#: Largest grid :func:`check` builds (points over all axes of one grid).
MAX_GRID_POINTS = 4_000_000
#: Default points per axis by the number of grid axes (odd: the 2h grid keeps both ends).
DEFAULT_POINTS = {1: 401, 2: 201, 3: 51, 4: 21}
_MIN_POINTS = 9
_FULL_MAX_VARS = 4
_PLANES_MAX_VARS = 8
_KINDS = ("gradient", "hessian", "jacobian")

# ----------------------------------------------------------------------------- report


@dataclass(frozen=True)
class ComponentResult:
    """The check of one derivative component (e.g. ``d/dx`` or ``d2/dxdy``).

    Attributes
    ----------
    component : str
        Label: ``d/dx``, ``d2/dx2``, ``d2/dxdy``, ``J[1, 0]``, ``H[1][0, 1]``.
    kind : str
        'gradient', 'hessian' or 'jacobian'.
    index : tuple of int
        Position in the evaluator's output (``(k,)``, ``(i, j)``, ``(r, k)``, ...).
    max_abs_err : float
        Largest ``|compiled - finite difference|`` over the compared points.
    max_rel_err : float
        Largest ``|compiled - finite difference| / max(1, |compiled|)`` (absolute for
        small entries, relative for large ones, as scipy's ``check_derivative``).
    err_to_tol : float
        Largest ratio of error to tolerance (at most 1 to pass).
    tolerance : float
        The tolerance at the worst point (see the module docstring).
    order : float
        Observed convergence order (NaN when not measurable: errors at rounding level,
        nothing to compare, or a pointwise check).
    ok : bool
    worst : dict
        Variable values where ``err/tol`` is largest.
    compiled, estimate : float
        The compiled derivative and its finite-difference estimate there.
    compared, masked : int
        How many points were compared, and how many were skipped as not finite.
    reason : str
        Why it failed ('' when ok).
    """

    component: str
    kind: str
    index: tuple[int, ...]
    max_abs_err: float
    max_rel_err: float
    err_to_tol: float
    tolerance: float
    order: float
    ok: bool
    worst: dict[str, float]
    compiled: float
    estimate: float
    compared: int
    masked: int
    reason: str = ""
    order_status: str = "none"

    def to_dict(self) -> dict[str, Any]:
        return {
            "component": self.component,
            "kind": self.kind,
            "index": list(self.index),
            "max_abs_err": _json_float(self.max_abs_err),
            "max_rel_err": _json_float(self.max_rel_err),
            "err_to_tol": _json_float(self.err_to_tol),
            "tolerance": _json_float(self.tolerance),
            "order": _json_float(self.order),
            "ok": bool(self.ok),
            "worst": {k: _json_float(v) for k, v in self.worst.items()},
            "compiled": _json_float(self.compiled),
            "estimate": _json_float(self.estimate),
            "compared": int(self.compared),
            "masked": int(self.masked),
            "reason": self.reason,
            "order_status": self.order_status,
        }


@dataclass(frozen=True)
class ValidationReport:
    """Result of :func:`check` or :func:`check_points`.

    ``print(report)`` renders a table; ``report.ok`` is the verdict;
    ``report.raise_if_failed()`` raises :class:`~symgrad.errors.ValidationError`;
    ``report.to_dict()`` is JSON-ready.

    Attributes
    ----------
    formula : str
        The formula (formulas joined by ``; `` for a vector).
    variables : tuple of str
    method : str
        'grid', 'planes', 'lines' (numpy.gradient) or 'points' (pointwise).
    rows : tuple of ComponentResult
    nonfinite : int
        Evaluated points where the value or a compared derivative is not finite.
    total : int
        Evaluated points (all grids or points together).
    nonfinite_example : dict or None
        One such point (variable values).
    settings : dict
        How the check was done (domain, points, spacing, indexing, ...).
    """

    formula: str
    variables: tuple[str, ...]
    method: str
    rows: tuple[ComponentResult, ...]
    nonfinite: int = 0
    total: int = 0
    nonfinite_example: dict[str, float] | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when every component passed."""
        return bool(self.rows) and all(r.ok for r in self.rows)

    def __bool__(self) -> bool:
        return self.ok

    @property
    def failures(self) -> tuple[ComponentResult, ...]:
        """The components that failed, worst first."""
        bad = [r for r in self.rows if not r.ok]
        return tuple(sorted(bad, key=lambda r: -_sort_ratio(r)))

    @property
    def worst(self) -> ComponentResult | None:
        """The component with the largest ``err/tol`` (failed ones first)."""
        if not self.rows:
            return None
        return max(self.rows, key=lambda r: (not r.ok, _sort_ratio(r)))

    def raise_if_failed(self) -> ValidationReport:
        """Raise ValidationError naming the worst failed component; return self if ok."""
        if self.ok:
            return self
        if not self.rows:
            raise ValidationError(f"nothing was checked for {self.formula!r}.")
        r = self.failures[0]
        where = _format_point(r.worst) if r.worst else "(no point)"
        n_bad = len(self.failures)
        msg = (
            f"derivative check failed for {r.component} of {self.formula!r} at {where}: "
            f"{r.reason}. compiled {r.compiled:.10g}, finite difference {r.estimate:.10g}. "
            f"{n_bad} of {len(self.rows)} components failed."
        )
        raise ValidationError(msg)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable dict (NaN and infinities become None / strings)."""
        return {
            "ok": self.ok,
            "formula": self.formula,
            "variables": list(self.variables),
            "method": self.method,
            "components": [r.to_dict() for r in self.rows],
            "nonfinite": int(self.nonfinite),
            "total": int(self.total),
            "nonfinite_example": None
            if self.nonfinite_example is None
            else {k: _json_float(v) for k, v in self.nonfinite_example.items()},
            "settings": _jsonable(self.settings),
        }

    def __str__(self) -> str:
        lines = [f"symgrad.check: {self.formula}"]
        lines.extend(self._describe())
        header = ("component", "max abs err", "max rel err", "err/tol", "order", "ok")
        table = [header]
        for r in self.rows:
            if r.order_status == "measured":
                order = f"{r.order:.2f}"
            else:
                order = "exact" if r.order_status == "rounding" else "-"
            table.append((
                r.component,
                _g(r.max_abs_err),
                _g(r.max_rel_err),
                f"{r.err_to_tol:.3g}" if math.isfinite(r.err_to_tol) else str(r.err_to_tol),
                order,
                "yes" if r.ok else "NO",
            ))
        widths = [max(len(row[c]) for row in table) for c in range(len(header))]
        for k, row in enumerate(table):
            cells = [row[0].ljust(widths[0])] + [
                cell.rjust(w) for cell, w in zip(row[1:], widths[1:])
            ]
            lines.append("  ".join(cells).rstrip())
            if k == 0:
                lines.append("  ".join("-" * w for w in widths))
        if self.nonfinite:
            where = _format_point(self.nonfinite_example) if self.nonfinite_example else "?"
            how = ("not compared" if self.method == "points"
                   else "masked with their stencil neighbours, not compared")
            lines.append(
                f"not finite: {self.nonfinite} of {self.total} points (e.g. at {where}); {how}"
            )
        masked = sum(r.masked for r in self.rows)
        if masked and not self.nonfinite:
            lines.append(f"masked: {masked} comparisons")
        if self.ok:
            lines.append(f"PASSED: {len(self.rows)} of {len(self.rows)} components")
        elif not self.rows:
            lines.append("FAILED: nothing was compared")
        else:
            bad = self.failures
            r = bad[0]
            lines.append(
                f"FAILED: {len(bad)} of {len(self.rows)} components; worst {r.component} at "
                f"{_format_point(r.worst)}: {r.reason}"
            )
        return "\n".join(lines)

    def _describe(self) -> list[str]:
        s = self.settings
        if self.method == "points":
            return [
                f"{s.get('npoints', '?')} points; reference: {s.get('reference', '')}; "
                f"tol = {s.get('tolerance_rule', '')}"
            ]
        dom = s.get("domain", {})
        pts = s.get("points", {})
        sp = s.get("spacing", {})
        ranges = ", ".join(
            f"{v} in [{_g(dom[v][0])}, {_g(dom[v][1])}] ({pts.get(v)} pts, h={_g(sp.get(v))})"
            for v in self.variables
            if v in dom
        )
        out = []
        if self.method == "grid":
            out.append(f"grid: {ranges}")
        else:
            base = _format_point(s.get("base_point") or {})
            out.append(f"{self.method} through {base}: {ranges}")
        out.append(
            f"numpy.gradient(..., edge_order={s.get('edge_order')}) on "
            f"meshgrid(indexing={s.get('indexing')!r}); "
            + ("interior points" if s.get("interior", True) else "all points incl. edges")
            + "; order from h and 2h"
        )
        return out


def _sort_ratio(r: ComponentResult) -> float:
    v = r.err_to_tol
    return math.inf if math.isnan(v) else v


def _g(v) -> str:
    if v is None:
        return "?"
    v = float(v)
    if math.isnan(v):
        return "nan"
    if v == 0:
        return "0"
    return f"{v:.3g}" if 1e-3 <= abs(v) < 1e4 else f"{v:.2e}"


def _format_point(point: Mapping[str, float] | None) -> str:
    if not point:
        return "(none)"
    return ", ".join(f"{k}={float(v):.6g}" for k, v in point.items())


def _json_float(v):
    v = float(v)
    if math.isnan(v):
        return None
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return v


def _jsonable(obj):
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, numbers.Integral):
        return int(obj)
    if isinstance(obj, numbers.Real):
        return _json_float(obj)
    return obj if obj is None or isinstance(obj, str) else str(obj)


# ------------------------------------------------------------------ argument handling


def _evaluator(f, variables, params):
    from .evaluator import Evaluator

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
        from .api import compile as sg_compile

        # One thread is fast enough for the few grids of a check, and avoids compiling
        # the parallel kernel.
        return sg_compile(f, variables, params, parallel=False)
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
    for k in values:
        if k not in ev.params:
            if k in ev.variables:
                raise InputError(
                    f"{k!r} is a variable, not a parameter: give its range in domain."
                )
            raise InputError(
                f"unknown parameter {k!r}; the parameters are "
                f"{', '.join(ev.params) or '(none)'}."
            )
    missing = [p for p in ev.params if p not in values]
    if missing:
        raise InputError(
            f"missing value for parameter {missing[0]!r}: pass {missing[0]}=... "
            f"(or param_values={{{missing[0]!r}: ...}})."
        )
    return values


def _derivative_kinds(ev, derivatives) -> tuple[str, ...]:
    if isinstance(derivatives, str):
        derivatives = (derivatives,)
    kinds = []
    for d in derivatives:
        if d not in _KINDS:
            raise InputError(
                f"unknown derivative {d!r}; choose from 'gradient', 'hessian', 'jacobian'."
            )
        if d in ("gradient", "jacobian"):
            d = "jacobian" if ev.is_vector else "gradient"
        if d not in kinds:
            kinds.append(d)
    if not kinds:
        raise InputError("derivatives is empty; pass e.g. ('gradient', 'hessian').")
    return tuple(kinds)


def _domain(ev, domain) -> dict[str, tuple[float, float]]:
    names = ev.variables
    if isinstance(domain, Mapping):
        spec = dict(domain)
    elif isinstance(domain, Sequence) and len(domain) == 2 and not isinstance(domain, str):
        spec = {v: domain for v in names}
    else:
        raise InputError(
            "domain must map each variable to (lo, hi), e.g. "
            "{'x': (-3, 3), 'y': (-3, 3)}, or be one (lo, hi) for every variable."
        )
    for k in spec:
        if k not in names:
            what = "a parameter (pass its value instead)" if k in ev.params else "not a variable"
            raise InputError(
                f"domain has a range for {k!r}, which is {what}; variables are "
                f"{', '.join(names)}."
            )
    out = {}
    for v in names:
        if v not in spec:
            raise InputError(
                f"domain has no range for variable {v!r}; pass domain={{..., {v!r}: (lo, hi)}}."
            )
        rng = spec[v]
        try:
            lo, hi = (float(t) for t in rng)
        except (TypeError, ValueError):
            raise InputError(f"domain[{v!r}] must be a pair (lo, hi) of numbers, not {rng!r}.") \
                from None
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise InputError(f"domain[{v!r}] = {rng!r}: need finite lo < hi.")
        out[v] = (lo, hi)
    return out


def _points(names, points, naxes) -> dict[str, int]:
    if points is None:
        default = DEFAULT_POINTS.get(naxes, DEFAULT_POINTS[4])
        return {v: default for v in names}
    if isinstance(points, Mapping):
        unknown = set(points) - set(names)
        if unknown:
            raise InputError(f"points has an entry for {sorted(unknown)[0]!r}, not a variable.")
        default = DEFAULT_POINTS.get(naxes, DEFAULT_POINTS[4])
        spec = {v: points.get(v, default) for v in names}
    else:
        spec = {v: points for v in names}
    out = {}
    for v, p in spec.items():
        if isinstance(p, bool) or not isinstance(p, (numbers.Integral,)) or p < _MIN_POINTS:
            raise InputError(
                f"points must be an integer >= {_MIN_POINTS} per axis (got {p!r} for {v!r}): "
                "the check also uses every other point, and needs an interior."
            )
        out[v] = int(p)
    return out


# ------------------------------------------------------------------------ grid check


@dataclass
class _Item:
    """One comparison on one grid: derivative of F along variable ``var`` vs D."""

    label: str
    kind: str
    index: tuple[int, ...]
    fkey: tuple
    var: int
    D: np.ndarray


@dataclass
class _Raw:
    label: str
    kind: str
    index: tuple[int, ...]
    max_abs: float
    max_rel: float
    ratio: float
    tol: float
    order: float
    order_status: str  # "measured", "rounding", "none"
    compared: int
    masked: int
    worst: dict[str, float]
    compiled: float
    estimate: float
    ok: bool = False
    reason: str = ""


def _shift(a: np.ndarray, axis: int, s: int) -> tuple:
    """Index tuples (lead, lag) selecting a[i+s] and a[i] along axis."""
    lead = [slice(None)] * a.ndim
    lag = [slice(None)] * a.ndim
    lead[axis] = slice(s, None)
    lag[axis] = slice(None, -s)
    return tuple(lead), tuple(lag)


def _dilate(bad: np.ndarray, axis: int, width: int) -> np.ndarray:
    out = bad.copy()
    for s in range(1, width + 1):
        if s >= bad.shape[axis]:
            break
        lead, lag = _shift(bad, axis, s)
        out[lead] |= bad[lag]
        out[lag] |= bad[lead]
    return out


def _neighbour_max(a: np.ndarray, axis: int) -> np.ndarray:
    """max(a[i-1], a[i], a[i+1]) along axis, NaN-ignoring."""
    out = a.copy()
    lead, lag = _shift(a, axis, 1)
    out[lead] = np.fmax(out[lead], a[lag])
    out[lag] = np.fmax(out[lag], a[lead])
    return out


def _third_difference(F: np.ndarray, axis: int, h: float) -> np.ndarray:
    """|F'''| estimated at every node, NaN where not finite.

    Central third differences at nodes 2 .. N-3; the two nodes at each end get the
    linear extrapolation of the signed estimates (so a sign change of F''' near an end
    is not mistaken for a small F''').
    """
    m = np.moveaxis(F, axis, 0)
    t = (m[4:] - 2.0 * m[3:-1] + 2.0 * m[1:-3] - m[:-4]) / (2.0 * h**3)
    if t.shape[0] >= 2:
        lo1, lo0 = 2.0 * t[0] - t[1], 3.0 * t[0] - 2.0 * t[1]
        hi1, hi0 = 2.0 * t[-1] - t[-2], 3.0 * t[-1] - 2.0 * t[-2]
    else:
        lo1 = lo0 = hi1 = hi0 = t[0]
    t = np.concatenate([lo0[None], lo1[None], t, hi1[None], hi0[None]], axis=0)
    t = np.abs(t)
    t = np.where(np.isfinite(t), t, np.nan)
    return np.moveaxis(t, 0, axis)


def _errors(F, est, D, axis, h, interior, edge_order):
    """Pointwise error, tolerance, rounding term and validity of one comparison."""
    bad = ~np.isfinite(D) | ~np.isfinite(est) | _dilate(~np.isfinite(F), axis, 2)
    region = np.ones(F.shape, dtype=bool)
    if interior:
        first, last = [slice(None)] * F.ndim, [slice(None)] * F.ndim
        first[axis], last[axis] = 0, -1
        region[tuple(first)] = False
        region[tuple(last)] = False
    valid = region & ~bad
    # Rounding scale: the largest |F| and |D| on the grid (not at the point: a value
    # that is small by cancellation of large terms has the rounding error of the terms).
    finF = np.abs(F[np.isfinite(F)])
    fmax = float(finF.max()) if finF.size else 0.0
    finD = np.abs(D[valid])
    absD = float(finD.max()) if finD.size else 0.0
    t3 = _neighbour_max(_third_difference(F, axis, h), axis)
    t3 = np.where(np.isnan(t3), 0.0, t3)
    trunc_factor = np.full(F.shape, TRUNCATION_SAFETY)
    if not interior:
        first, last = [slice(None)] * F.ndim, [slice(None)] * F.ndim
        first[axis], last[axis] = 0, -1
        trunc_factor[tuple(first)] *= 2.0
        trunc_factor[tuple(last)] *= 2.0
    rounding = np.full(F.shape, ROUNDING_SAFETY * EPS * (fmax / h + absD))
    tol = trunc_factor * h * h / 6.0 * t3 + rounding
    err = np.abs(est - D)
    err = np.where(valid, err, 0.0)
    return err, tol, rounding, valid, region & bad


def _ratio(err: np.ndarray, tol: np.ndarray) -> np.ndarray:
    """err / tol, with 0/0 = 0 (an exact zero) and x/0 = inf."""
    with np.errstate(divide="ignore", invalid="ignore"):
        r = err / tol
    r = np.where(err == 0, 0.0, r)
    return np.where(np.isnan(r), np.inf, r)


def _ij(a: np.ndarray, swap: bool) -> np.ndarray:
    return np.swapaxes(a, 0, 1) if swap else a


def _run_grid(ev, kinds, coords, spanned, fixed, indexing, edge_order, interior, pvals,
              min_order):
    """Check one grid spanning the variables ``spanned`` (others fixed)."""
    n = ev.n_variables
    names = ev.variables
    d = len(spanned)
    mesh = np.meshgrid(*coords, indexing=indexing)
    # The trap: with 'xy' (and 2+ axes) array axis 0 runs over the SECOND variable.
    swap = indexing == "xy" and d >= 2
    axis_vars = [spanned[1], spanned[0], *spanned[2:]] if swap else list(spanned)
    axis_of = {v: a for a, v in enumerate(axis_vars)}
    axis_coords = [coords[spanned.index(v)] for v in axis_vars]
    shape = mesh[0].shape
    args = []
    for k in range(n):
        if k in spanned:
            args.append(mesh[spanned.index(k)])
        else:
            args.append(np.full(shape, fixed[k]))

    with np.errstate(all="ignore"):
        arrays: dict[tuple, np.ndarray] = {}
        items: list[_Item] = []
        finite = np.ones(shape, dtype=bool)
        if not ev.is_vector:
            if "hessian" in kinds:
                Z, G, H = ev.value_gradient_hessian(*args, **pvals)
                finite &= np.isfinite(H).all(axis=(-2, -1))
            else:
                Z, G = ev.value_and_gradient(*args, **pvals)
                H = None
            finite &= np.isfinite(Z) & np.isfinite(G).all(axis=-1)
            arrays[("Z",)] = Z
            if "gradient" in kinds:
                for k in spanned:
                    items.append(_Item(f"d/d{names[k]}", "gradient", (k,), ("Z",), k, G[..., k]))
            if H is not None:
                for p in range(n):
                    arrays[("G", p)] = G[..., p]
                for p, q in itertools.combinations_with_replacement(range(n), 2):
                    if q in spanned:
                        fk, var = ("G", p), q
                    elif p in spanned:
                        fk, var = ("G", q), p
                    else:
                        continue
                    label = f"d2/d{names[p]}2" if p == q else f"d2/d{names[p]}d{names[q]}"
                    items.append(_Item(label, "hessian", (p, q), fk, var, H[..., p, q]))
        else:
            V, J = ev.value_and_jacobian(*args, **pvals)
            finite &= np.isfinite(V).all(axis=-1) & np.isfinite(J).all(axis=(-2, -1))
            for r in range(ev.n_outputs):
                arrays[("F", r)] = V[..., r]
            if "jacobian" in kinds:
                for r in range(ev.n_outputs):
                    for k in spanned:
                        items.append(_Item(f"J[{r}, {k}]", "jacobian", (r, k), ("F", r), k,
                                           J[..., r, k]))
            if "hessian" in kinds:
                H = ev.hessian(*args, **pvals)
                finite &= np.isfinite(H).all(axis=(-3, -2, -1))
                for r in range(ev.n_outputs):
                    for p in range(n):
                        arrays[("J", r, p)] = J[..., r, p]
                    for p, q in itertools.combinations_with_replacement(range(n), 2):
                        if q in spanned:
                            fk, var = ("J", r, p), q
                        elif p in spanned:
                            fk, var = ("J", r, q), p
                        else:
                            continue
                        items.append(_Item(f"H[{r}][{p}, {q}]", "hessian", (r, p, q), fk, var,
                                           H[..., r, p, q]))

        # numpy.gradient once per differenced array, at h and at 2h (every other node).
        sub = tuple(slice(None, None, 2) for _ in range(d))
        coarse_coords = [c[::2] for c in axis_coords]
        fine_fd: dict[tuple, list] = {}
        coarse_fd: dict[tuple, list] = {}
        for key in {it.fkey for it in items}:
            F = arrays[key]
            g = np.gradient(F, *axis_coords, edge_order=edge_order)
            fine_fd[key] = [g] if d == 1 else list(g)
            gc = np.gradient(F[sub], *coarse_coords, edge_order=edge_order)
            coarse_fd[key] = [gc] if d == 1 else list(gc)

        raws = []
        for it in items:
            a = axis_of[it.var]
            F = arrays[it.fkey]
            x = axis_coords[a]
            h = (x[-1] - x[0]) / (len(x) - 1)
            est = fine_fd[it.fkey][a]
            err, tol, rnd, valid, masked = _errors(F, est, it.D, a, h, interior, edge_order)
            xc = coarse_coords[a]
            hc = (xc[-1] - xc[0]) / (len(xc) - 1)
            err_c, _, _, valid_c, _ = _errors(F[sub], coarse_fd[it.fkey][a], it.D[sub], a, hc,
                                              interior, edge_order)
            common = valid_c & valid[sub]
            # Reductions in 'ij' layout, so that both indexings give identical reports.
            err_ij, tol_ij, valid_ij = _ij(err, swap), _ij(tol, swap), _ij(valid, swap)
            compared = int(valid.sum())
            if compared:
                ratio = np.where(valid_ij, _ratio(err_ij, tol_ij), -1.0)
                flat = int(np.argmax(ratio))
                pos = np.unravel_index(flat, ratio.shape)
                max_abs = float(err.max())
                D_ij = _ij(it.D, swap)
                rel = np.where(valid_ij, err_ij / np.maximum(1.0, np.abs(np.where(valid_ij, D_ij, 0))), 0)
                max_rel = float(rel.max())
                worst_ratio = float(ratio[pos])
                worst_tol = float(tol_ij[pos])
                pos_arr = pos if not swap else (pos[1], pos[0], *pos[2:])
                worst = {}
                for k in range(n):
                    worst[names[k]] = float(args[k][pos_arr])
                compiled = float(it.D[pos_arr])
                estimate = float(est[pos_arr])
                at_rounding = bool(np.all(err[valid] <= rnd[valid]))
            else:
                max_abs = max_rel = worst_ratio = worst_tol = math.nan
                worst, compiled, estimate, at_rounding = {}, math.nan, math.nan, False
            if common.any():
                e_f = float(err[sub][common].max())
                e_c = float(err_c[common].max())
                if np.all(err[sub][common] <= rnd[sub][common]):
                    order, status = math.nan, "rounding"
                elif e_c == 0.0:
                    order, status = -math.inf, "measured"
                else:
                    order, status = math.log(e_c / e_f) / math.log(hc / h), "measured"
            else:
                order, status = math.nan, "none"
            raw = _Raw(it.label, it.kind, it.index, max_abs, max_rel, worst_ratio, worst_tol,
                       order, status, compared, int(masked.sum()), worst, compiled, estimate)
            _verdict(raw, at_rounding, min_order)
            raws.append(raw)

    nonfinite = int((~finite).sum())
    example = None
    if nonfinite:
        pos = np.unravel_index(int(np.argmax(~_ij(finite, swap))), _ij(finite, swap).shape)
        pos_arr = pos if not swap else (pos[1], pos[0], *pos[2:])
        example = {names[k]: float(args[k][pos_arr]) for k in range(n)}
    return raws, nonfinite, int(finite.size), example


def _verdict(raw: _Raw, at_rounding: bool, min_order: float) -> None:
    if raw.compared == 0:
        raw.ok, raw.reason = False, "no finite points to compare"
        return
    if at_rounding:
        raw.ok = True
        return
    reasons = []
    if not raw.ratio <= 1.0:
        reasons.append(f"error {raw.max_abs:.3g} exceeds tolerance ({raw.ratio:.3g} x tol "
                       f"= {raw.tol:.3g} at the worst point)")
    if raw.order_status == "measured" and not raw.order >= min_order:
        reasons.append(f"observed order {raw.order:.2f} < {min_order:g} (central differences "
                       "give ~2; a wrong derivative ~0; an under-resolved grid in between)")
    raw.ok = not reasons
    raw.reason = "; ".join(reasons)


def _merge(raws: list[_Raw]) -> list[ComponentResult]:
    """One row per component: the worst slice's figures, ok only if all slices are."""
    groups: dict[tuple, list[_Raw]] = {}
    for r in raws:
        groups.setdefault((r.kind, r.index), []).append(r)

    def sort_key(key):
        kind, index = key
        return (_KINDS.index(kind) if kind != "hessian" else 9, index)

    rows = []
    for key in sorted(groups, key=sort_key):
        rs = groups[key]
        worst = max(rs, key=lambda r: (not r.ok, -1 if math.isnan(r.ratio) else r.ratio))
        rows.append(ComponentResult(
            component=worst.label,
            kind=worst.kind,
            index=worst.index,
            max_abs_err=max((r.max_abs for r in rs if not math.isnan(r.max_abs)),
                            default=math.nan),
            max_rel_err=max((r.max_rel for r in rs if not math.isnan(r.max_rel)),
                            default=math.nan),
            err_to_tol=worst.ratio,
            tolerance=worst.tol,
            order=worst.order,
            ok=all(r.ok for r in rs),
            worst=worst.worst,
            compiled=worst.compiled,
            estimate=worst.estimate,
            compared=sum(r.compared for r in rs),
            masked=sum(r.masked for r in rs),
            reason=worst.reason,
            order_status=worst.order_status,
        ))
    return rows


def check(
    f,
    domain,
    points: int | Mapping[str, int] | None = None,
    *,
    indexing: str = "ij",
    edge_order: int = 2,
    derivatives: str | Sequence[str] = ("gradient", "hessian"),
    variables=None,
    params=None,
    param_values: Mapping[str, Any] | None = None,
    slices: str | None = None,
    base_point: Mapping[str, float] | None = None,
    seed: int = 0,
    interior: bool = True,
    min_order: float = MIN_ORDER,
    **param_kwargs: Any,
) -> ValidationReport:
    """Check compiled derivatives against ``numpy.gradient`` on a grid.

    >>> report = symgrad.check("sin(x)*cos(y) + exp(-(x**2+y**2)/2)",
    ...                        domain={"x": (-3, 3), "y": (-3, 3)}, points=201)
    >>> print(report)
    >>> report.raise_if_failed()

    Parameters
    ----------
    f : Evaluator, str or list of str
        What to check. A formula is compiled with ``symgrad.compile(f, variables,
        params, parallel=False)``; a list of formulas checks the Jacobian.
    domain : dict or (lo, hi)
        ``{name: (lo, hi)}`` for every variable (a missing one is an InputError naming
        it), or one ``(lo, hi)`` for all.
    points : int or dict, optional
        Grid points per axis, including both ends (at least 9; odd numbers keep both
        ends on the 2h grid). Default by the number of grid axes:
        :data:`DEFAULT_POINTS` (201 in 2-D).
    indexing : {'ij', 'xy'}
        ``np.meshgrid`` indexing used to build the grid; both give the same report.
    edge_order : {1, 2}
        Passed to ``np.gradient``; matters only with ``interior=False``.
    derivatives : str or sequence of str
        Any of 'gradient', 'hessian', 'jacobian' ('gradient' means the Jacobian for a
        vector formula). The Hessian is checked against ``np.gradient`` of the compiled
        gradient.
    variables, params : optional
        Names for ``symgrad.compile`` when ``f`` is a formula.
    param_values : dict, optional
        Values of the formula's parameters (also accepted as keyword arguments).
    slices : {None, 'full', 'planes', 'lines'}
        Grid layout; None: a full grid up to 4 variables, planes for 5 to 8, lines
        beyond (see the module docstring).
    base_point : dict, optional
        Where planes and lines cross (default: a random point of the domain, ``seed``).
    interior : bool
        Compare only where ``np.gradient`` uses central differences (default). With
        False, the one-sided ends are compared too (then ``edge_order=1`` fails the
        order test: its ends are first order).
    min_order : float
        Smallest observed order accepted (default 1.5).

    Returns
    -------
    ValidationReport
        See the module docstring for the tolerance, the order, and masking.
    """
    ev = _evaluator(f, variables, params)
    if indexing not in ("ij", "xy"):
        raise InputError(f"indexing must be 'ij' or 'xy', not {indexing!r}.")
    if edge_order not in (1, 2) or isinstance(edge_order, bool):
        raise InputError(f"edge_order must be 1 or 2 (numpy.gradient), not {edge_order!r}.")
    kinds = _derivative_kinds(ev, derivatives)
    pvals = _param_values(ev, param_values, param_kwargs)
    dom = _domain(ev, domain)
    names = ev.variables
    n = len(names)
    if slices is None:
        mode = "full" if n <= _FULL_MAX_VARS else ("planes" if n <= _PLANES_MAX_VARS else "lines")
    elif slices in ("full", "planes", "lines"):
        mode = slices
    else:
        raise InputError(f"slices must be None, 'full', 'planes' or 'lines', not {slices!r}.")
    if mode == "planes" and n < 2:
        mode = "lines"
    naxes = {"full": n, "planes": 2, "lines": 1}[mode]
    pts = _points(names, points, naxes)
    coords = {v: np.linspace(dom[v][0], dom[v][1], pts[v]) for v in names}
    spacing = {v: (dom[v][1] - dom[v][0]) / (pts[v] - 1) for v in names}

    if mode == "full":
        size = math.prod(pts.values())
        if size > MAX_GRID_POINTS:
            raise InputError(
                f"a full grid of {' x '.join(str(pts[v]) for v in names)} = {size} points is "
                f"too large (limit {MAX_GRID_POINTS}); pass fewer points or slices='planes'."
            )
        grids = [list(range(n))]
        base = None
    else:
        if base_point is not None:
            unknown = set(base_point) - set(names)
            if unknown:
                raise InputError(f"base_point has {sorted(unknown)[0]!r}, not a variable.")
            rng = np.random.default_rng(seed)
            base = {v: float(base_point[v]) if v in base_point
                    else float(rng.uniform(*dom[v])) for v in names}
        else:
            rng = np.random.default_rng(seed)
            base = {v: float(rng.uniform(*dom[v])) for v in names}
        if mode == "planes":
            grids = [list(p) for p in itertools.combinations(range(n), 2)]
        else:
            grids = [[k] for k in range(n)]

    raws: list[_Raw] = []
    nonfinite = total = 0
    example = None
    fixed = {k: base[names[k]] for k in range(n)} if base else {}
    for spanned in grids:
        r, nf, tot, ex = _run_grid(
            ev, kinds, [coords[names[k]] for k in spanned], spanned, fixed, indexing,
            edge_order, interior, pvals, min_order,
        )
        raws.extend(r)
        nonfinite += nf
        total += tot
        if example is None and ex is not None:
            example = ex

    settings = {
        "domain": {v: list(dom[v]) for v in names},
        "points": pts,
        "spacing": spacing,
        "indexing": indexing,
        "edge_order": edge_order,
        "interior": interior,
        "derivatives": list(kinds),
        "slices": mode,
        "base_point": base,
        "params": dict(pvals),
        "min_order": min_order,
        "tolerance_rule": f"{TRUNCATION_SAFETY:g}*h^2/6*|F'''| + "
                          f"{ROUNDING_SAFETY:g}*eps*(|F|/h + |D|)",
    }
    return ValidationReport(
        formula=_formula_text(ev),
        variables=tuple(names),
        method="grid" if mode == "full" else mode,
        rows=tuple(_merge(raws)),
        nonfinite=nonfinite,
        total=total,
        nonfinite_example=example,
        settings=settings,
    )


# ------------------------------------------------------------------ pointwise check

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

    from .functions import is_analytic

    if not all(is_analytic(e) for e in ev.formula.exprs):
        return None
    symbols = tuple(ev.formula.variables) + tuple(ev.formula.params)
    try:
        fn = sympy.lambdify(symbols, list(ev.formula.exprs), modules="numpy")
    except Exception:  # a printer gap: fall back to central differences
        return None
    return fn


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
        'gradient' (the Jacobian for vectors), 'hessian', 'jacobian'.
    method : {'auto', 'central', 'complex'}
        Reference for first derivatives. 'central': a 6th-order central difference
        of the compiled value, with relative step ``eps**(1/7) * max(1, |x|)``;
        ``tol = |D6(h) - D6(2h)| + ROUNDING_SAFETY * eps * (max|F| / h + |D|)``, the
        first term being ~63x the truncation error of ``D6(h)`` by Richardson's
        argument. 'complex': the complex step ``Im f(x + i t) / t``, ``t = 1e-20 *
        max(1, |x|)``, evaluated with ``sympy.lambdify`` (only formulas built from
        analytic functions; points where its real part disagrees with the compiled
        value, e.g. on a branch cut, fall back to 'central'), with tolerance the
        rounding term of the central rule. 'auto': 'complex' where possible.
        The Hessian is always checked by central differences of the compiled gradient.
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

    with np.errstate(all="ignore"):
        h = rel * np.maximum(1.0, np.abs(X))  # (P, n)
        h = (X + h) - X  # exactly representable steps
        offs = np.array(_OFFSETS, dtype=float)
        # stencil points: (P, n_dir, n_off, 2, n)
        S = np.broadcast_to(X[:, None, None, None, :], (P, n, len(offs), 2, n)).copy()
        for k in range(n):
            S[:, k, :, 0, k] = X[:, None, k] + offs[None, :] * h[:, None, k]
            S[:, k, :, 1, k] = X[:, None, k] - offs[None, :] * h[:, None, k]
        if ev.is_vector:
            V, J = ev.value_and_jacobian(X, **pvals) if n > 1 else ev.value_and_jacobian(X[:, 0], **pvals)
            Vs, Js = ev.value_and_jacobian(S, **pvals) if n > 1 else ev.value_and_jacobian(S[..., 0], **pvals)
            first, first_s = J, Vs  # J (P, m, n); Vs (P, n, o, 2, m)
            Hs_src = Js
            H = ev.hessian(X, **pvals) if ("hessian" in kinds and n > 1) else (
                ev.hessian(X[:, 0], **pvals) if "hessian" in kinds else None)
        else:
            call = (lambda A: A) if n > 1 else (lambda A: A[..., 0])
            if "hessian" in kinds:
                V, G, H = ev.value_gradient_hessian(call(X), **pvals)
            else:
                V, G = ev.value_and_gradient(call(X), **pvals)
                H = None
            Vs, Gs = ev.value_and_gradient(call(S), **pvals)
            first, first_s, Hs_src = G, Vs, Gs

        # First derivatives: central (and complex where possible).
        d1_h, d1_2h, fmax1 = _central(first_s, h)  # (P, n) or (P, n, m)
        if ev.is_vector:
            d1_h, d1_2h, fmax1 = (np.moveaxis(a, 1, 2) for a in (d1_h, d1_2h, fmax1))
            D1 = first  # (P, m, n)
            hh1 = h[:, None, :]
        else:
            D1 = first
            hh1 = h
        absD1 = np.abs(D1)
        rounding1 = ROUNDING_SAFETY * EPS * (fmax1 / hh1 + absD1)
        est1 = d1_h
        tol1 = np.abs(d1_h - d1_2h) + rounding1
        used_complex = np.zeros(est1.shape, dtype=bool)
        cfun = _complex_function(ev) if method in ("auto", "complex") else None
        if method == "complex" and cfun is None:
            raise InputError(
                "method='complex' needs a formula built from analytic functions only "
                "(no abs, sign, Min/Max, where, floor, erf, gamma, ...); use 'central'."
            )
        if cfun is not None:
            pv = [np.asarray(pvals[p], dtype=complex) for p in ev.params]
            real = np.atleast_1d(V).reshape(P, -1)  # (P, m)
            for k in range(n):
                t = COMPLEX_STEP * np.maximum(1.0, np.abs(X[:, k]))
                Z = X.astype(complex)
                Z[:, k] = Z[:, k] + 1j * t
                try:
                    out = cfun(*[Z[:, j] for j in range(n)], *pv)
                except Exception:
                    break
                out = np.stack([np.broadcast_to(np.asarray(o, dtype=complex), (P,))
                                for o in out], axis=-1)  # (P, m)
                good = np.isfinite(out) & (
                    np.abs(out.real - real) <= 1e-8 * np.maximum(1.0, np.abs(real)))
                cs = out.imag / t[:, None]
                if ev.is_vector:
                    sel = good
                    est1[:, :, k] = np.where(sel, cs, est1[:, :, k])
                    tol1[:, :, k] = np.where(sel, rounding1[:, :, k], tol1[:, :, k])
                    used_complex[:, :, k] = sel
                else:
                    sel = good[:, 0]
                    est1[:, k] = np.where(sel, cs[:, 0], est1[:, k])
                    tol1[:, k] = np.where(sel, rounding1[:, k], tol1[:, k])
                    used_complex[:, k] = sel

        comparisons = []  # (label, kind, index, D, est, tol)
        if "gradient" in kinds:
            for k in range(n):
                comparisons.append((f"d/d{names[k]}", "gradient", (k,), D1[:, k], est1[:, k],
                                    tol1[:, k]))
        if "jacobian" in kinds:
            for r in range(ev.n_outputs):
                for k in range(n):
                    comparisons.append((f"J[{r}, {k}]", "jacobian", (r, k), D1[:, r, k],
                                        est1[:, r, k], tol1[:, r, k]))
        if H is not None:
            d2_h, d2_2h, fmax2 = _central(Hs_src, h)  # (P, n_dir, ..., n_grad)
            # scalar: Gs (P, n_dir, o, 2, n) -> (P, n_dir, n); vector: Js -> (P, n_dir, m, n)
            tol2_all = np.abs(d2_h - d2_2h)
            for idx in _hessian_indices(ev, n):
                if ev.is_vector:
                    r, p, q = idx
                    est = d2_h[:, q, r, p]
                    tol = tol2_all[:, q, r, p] + ROUNDING_SAFETY * EPS * (
                        fmax2[:, q, r, p] / h[:, q] + np.abs(H[:, r, p, q]))
                    comparisons.append((f"H[{r}][{p}, {q}]", "hessian", idx, H[:, r, p, q],
                                        est, tol))
                else:
                    p, q = idx
                    est = d2_h[:, q, p]
                    tol = tol2_all[:, q, p] + ROUNDING_SAFETY * EPS * (
                        fmax2[:, q, p] / h[:, q] + np.abs(H[:, p, q]))
                    label = f"d2/d{names[p]}2" if p == q else f"d2/d{names[p]}d{names[q]}"
                    comparisons.append((label, "hessian", idx, H[:, p, q], est, tol))

        finite_pts = np.isfinite(np.atleast_1d(V).reshape(P, -1)).all(axis=1)
        rows = []
        for label, kind, index, D, est, tol in comparisons:
            valid = np.isfinite(D) & np.isfinite(est) & np.isfinite(tol)
            finite_pts &= np.isfinite(D)
            err = np.where(valid, np.abs(est - D), 0.0)
            compared = int(valid.sum())
            if compared:
                ratio = np.where(valid, _ratio(err, tol), -1.0)
                w = int(np.argmax(ratio))
                rr = float(ratio[w])
                raw = _Raw(label, kind, index, float(err.max()),
                           float((err / np.maximum(1.0, np.abs(np.where(valid, D, 0)))).max()),
                           rr, float(tol[w]), math.nan, "none", compared,
                           int((~valid).sum()), {names[k]: float(X[w, k]) for k in range(n)},
                           float(D[w]), float(est[w]))
                raw.ok = rr <= 1.0
                if not raw.ok:
                    raw.reason = (f"error {raw.max_abs:.3g} exceeds tolerance ({rr:.3g} x tol "
                                  f"= {raw.tol:.3g} at the worst point)")
            else:
                raw = _Raw(label, kind, index, math.nan, math.nan, math.nan, math.nan,
                           math.nan, "none", 0, int((~valid).sum()), {}, math.nan, math.nan,
                           False, "no finite points to compare")
            rows.append(raw)

    nonfinite = int((~finite_pts).sum())
    example = None
    if nonfinite:
        w = int(np.argmax(~finite_pts))
        example = {names[k]: float(X[w, k]) for k in range(n)}
    reference = "6th-order central differences (h and 2h)"
    if used_complex.any():
        reference = "complex step (first derivatives) and " + reference
    settings = {
        "npoints": P,
        "method": method,
        "reference": reference,
        "step": rel,
        "derivatives": list(kinds),
        "params": dict(pvals),
        "tolerance_rule": f"|D6(h) - D6(2h)| + {ROUNDING_SAFETY:g}*eps*(max|F|/h + |D|)",
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


def _hessian_indices(ev, n):
    pairs = list(itertools.combinations_with_replacement(range(n), 2))
    if ev.is_vector:
        return [(r, p, q) for r in range(ev.n_outputs) for p, q in pairs]
    return pairs
