"""The report of a derivative check: one :class:`ComponentResult` per component,
collected in a :class:`ValidationReport` (table, verdict, JSON, exception)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ValidationError
from ..outputs import OUTPUTS

__all__ = ["ComponentResult", "ValidationReport"]

@dataclass(frozen=True)
class ComponentResult:
    """The check of one derivative component (e.g. ``d/dx`` or ``d2/dxdy``).

    Attributes
    ----------
    component : str
        Label: ``d/dx``, ``d2/dx2``, ``d2/dxdy``, ``J[1, 0]``, ``H[1][0, 1]``,
        ``laplacian(f)``, ``div(F)``, ``curl(F)_x``.
    kind : str
        The output kind checked (a name of ``symgrad.outputs.OUTPUTS`` with
        finite-difference rules: 'gradient', 'jacobian', 'hessian', 'laplacian',
        'divergence', 'curl').
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


@dataclass
class _Raw:
    """One component's figures on one grid or point set (rows merge these)."""

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


def _ratio(err: np.ndarray, tol: np.ndarray) -> np.ndarray:
    """err / tol, with 0/0 = 0 (an exact zero) and x/0 = inf."""
    with np.errstate(divide="ignore", invalid="ignore"):
        r = err / tol
    r = np.where(err == 0, 0.0, r)
    return np.where(np.isnan(r), np.inf, r)


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
        return (list(OUTPUTS).index(kind) if kind in OUTPUTS else len(OUTPUTS), index)

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


