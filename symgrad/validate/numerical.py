"""Diagnose a user's own numerical gradient against the exact derivatives.

:func:`diagnose_gradient` takes the arrays a user computed (typically with
``numpy.gradient`` on a ``numpy.meshgrid``), the grids they were computed on, and the
formula, and says whether they are right, and if not, which classic mistake explains
them and how to fix it:

* ``axis_order``: components unpacked in variable order while ``numpy.gradient``
  returns them in array-axis order (``gx, gy = np.gradient(Z)`` on an
  ``indexing='xy'`` meshgrid gives ``(dZ/dy, dZ/dx)``);
* ``wrong_axis``: a component differenced along another variable's axis;
* ``spacing_missing``: ``np.gradient(Z)`` without spacing (unit spacing: the values
  are off by the factor ``h``);
* ``spacing_order``: spacings given in variable order instead of axis order;
* ``edge_order``: first-order one-sided differences at the boundary (numpy's default
  ``edge_order=1``): errors O(h) at the ends of the axis only;
* ``one_sided``: forward or backward differences (``np.diff``) used as central ones:
  first-order errors, O(h) instead of O(h**2);
* ``transposed``: the array's axes are reversed relative to the grids;
* ``indexing``: the ``indexing`` passed disagrees with the grids;
* ``inaccurate``: none of the above, and the error exceeds the central-difference
  truncation estimate.

How: the formula's compiled value ``Z`` on the grids is differenced by every
candidate (axis, spacing, scheme, orientation) the mistakes above produce, and each
candidate is compared with the user's array at rounding level (the user's ``Z`` and
the compiled one agree to a few ulps, so a match is exact up to ``eps * |Z| / h``,
while the candidates differ by truncation errors). The first match, simplest
explanation first, names the mistake. An array that matches none is compared with
the exact derivative with the grid check's tolerance (see ``symgrad.validate``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputError, ValidationError
from .common import (
    EPS,
    ROUNDING_SAFETY,
    TRUNCATION_SAFETY,
    _evaluator,
    _formula_text,
    _param_values,
    evaluate_outputs,
)
from .report import _format_point, _g, _json_float

__all__ = ["diagnose_gradient", "GradientDiagnosis", "ComponentDiagnosis", "MISTAKES"]

#: Factor on ``eps * (max|Z| / h + max|estimate|)`` when matching a candidate.
MATCH_SAFETY = 64.0

#: Mistake codes, in the order their advice is printed.
MISTAKES = ("indexing", "axis_order", "wrong_axis", "transposed", "spacing_missing",
            "spacing_order", "one_sided", "edge_order", "inaccurate")


@dataclass(frozen=True)
class ComponentDiagnosis:
    """The diagnosis of one user component (claimed to be d/d ``variable``).

    Attributes
    ----------
    component : str
        ``d/dx``: what the user says the array is.
    variable : str
    ok : bool
    mistakes : tuple of str
        Codes from :data:`MISTAKES` ('' for none).
    explanation : str
        What the array actually is, in words.
    max_abs_err : float
        Largest ``|user - exact|`` (over the points with the user's shape matching).
    interior_err, edge_err : float
        The same, away from and at the ends of the variable's axis.
    err_to_tol : float
        Interior error over the central-difference tolerance (at most 1: accurate).
    worst : dict
        Where ``|user - exact|`` is largest (variable values).
    match : dict or None
        The ``numpy.gradient``-style computation that reproduces the array: axis,
        spacing ('coordinates', 'unit', 'other:<name>'), scheme ('central',
        'forward', 'backward', 'diff'), edge_order (1, 2 or None), transposed.
    """

    component: str
    variable: str
    ok: bool
    mistakes: tuple[str, ...]
    explanation: str
    max_abs_err: float
    interior_err: float
    edge_err: float
    err_to_tol: float
    worst: dict[str, float]
    match: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "component": self.component,
            "variable": self.variable,
            "ok": bool(self.ok),
            "mistakes": list(self.mistakes),
            "explanation": self.explanation,
            "max_abs_err": _json_float(self.max_abs_err),
            "interior_err": _json_float(self.interior_err),
            "edge_err": _json_float(self.edge_err),
            "err_to_tol": _json_float(self.err_to_tol),
            "worst": {k: _json_float(v) for k, v in self.worst.items()},
            "match": self.match,
        }


@dataclass(frozen=True)
class GradientDiagnosis:
    """Result of :func:`diagnose_gradient`.

    ``print(diagnosis)`` explains it; ``diagnosis.ok`` is True when no mistake was
    found; ``diagnosis.mistakes`` the codes; ``diagnosis.advice`` one fix per mistake;
    ``raise_if_failed()`` raises :class:`~symgrad.errors.ValidationError` with them.
    """

    formula: str
    variables: tuple[str, ...]
    indexing: str
    shape: tuple[int, ...]
    axis_variables: tuple[str, ...]
    spacing: dict[str, float | None]
    components: tuple[ComponentDiagnosis, ...]
    mistakes: tuple[str, ...]
    advice: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.mistakes and all(c.ok for c in self.components)

    def __bool__(self) -> bool:
        return self.ok

    def raise_if_failed(self) -> GradientDiagnosis:
        if self.ok:
            return self
        raise ValidationError(
            f"numerical gradient of {self.formula!r}: {', '.join(self.mistakes)}. "
            + " ".join(self.advice)
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "formula": self.formula,
            "variables": list(self.variables),
            "indexing": self.indexing,
            "shape": list(self.shape),
            "axis_variables": list(self.axis_variables),
            "spacing": {k: None if v is None else float(v) for k, v in self.spacing.items()},
            "components": [c.to_dict() for c in self.components],
            "mistakes": list(self.mistakes),
            "advice": list(self.advice),
        }

    def __str__(self) -> str:
        axes = ", ".join(f"axis {a}: {v}" for a, v in enumerate(self.axis_variables))
        lines = [
            f"symgrad.diagnose_gradient: {self.formula}",
            f"grid {' x '.join(map(str, self.shape))} (indexing={self.indexing!r}; {axes}); "
            f"spacing " + ", ".join(f"{k}={_g(v)}" for k, v in self.spacing.items()),
        ]
        for c in self.components:
            status = "ok" if c.ok else "WRONG"
            lines.append(
                f"{c.component}: {status}: {c.explanation} (max abs err {_g(c.max_abs_err)}"
                + (f" at {_format_point(c.worst)}" if c.worst and not c.ok else "") + ")"
            )
        if self.ok:
            lines.append("CORRECT: every component matches the exact derivative to the "
                         "accuracy of central differences.")
        else:
            lines.append(f"MISTAKES: {', '.join(self.mistakes)}")
            lines.extend(f"fix: {a}" for a in self.advice)
        return "\n".join(lines)


# --------------------------------------------------------------------------- inputs


def _axis_of(G: np.ndarray, name: str) -> int:
    varying = [a for a in range(G.ndim) if G.shape[a] > 1 and np.any(np.diff(G, axis=a) != 0)]
    if len(varying) != 1:
        raise InputError(
            f"grids[{name!r}] must vary along exactly one array axis (a np.meshgrid "
            f"array); it varies along {len(varying)}."
        )
    return varying[0]


def _by_name(given: Mapping, names, what: str) -> list[np.ndarray]:
    """``given[name]`` as float arrays in variable order (InputError for a missing one)."""
    missing = [v for v in names if v not in given]
    if missing:
        raise InputError(f"{what} has no array for variable {missing[0]!r}.")
    return [np.asarray(given[v], dtype=float) for v in names]


def _grids(ev, grids, indexing):
    names = ev.variables
    n = len(names)
    if isinstance(grids, Mapping):
        arrays = _by_name(grids, names, "grids")
    elif isinstance(grids, np.ndarray) and n == 1:
        arrays = [np.asarray(grids, dtype=float)]
    else:
        arrays = [np.asarray(g, dtype=float) for g in grids]
    if len(arrays) != n:
        raise InputError(
            f"grids must have one array per variable ({', '.join(names)}), got {len(arrays)}."
        )
    if n > 1 and all(a.ndim == 1 for a in arrays):  # 1-D coordinates: build the meshgrid
        arrays = list(np.meshgrid(*arrays, indexing=indexing or "xy"))
    try:
        arrays = list(np.broadcast_arrays(*arrays))  # sparse meshgrids too
    except ValueError:
        raise InputError("grids do not broadcast together.") from None
    shape = arrays[0].shape
    if len(shape) != n:
        raise InputError(
            f"grids must be full meshgrid arrays with {n} axes (one per variable), got "
            f"shape {shape}."
        )
    axes = [_axis_of(a, v) for a, v in zip(arrays, names)]
    if len(set(axes)) != n:
        raise InputError("two grids vary along the same array axis: not a meshgrid.")
    if axes == list(range(n)):
        found = "ij"
    elif n >= 2 and axes[:2] == [1, 0] and axes[2:] == list(range(2, n)):
        found = "xy"
    else:
        found = "permuted"
    coords = []
    for a, arr in zip(axes, arrays):
        idx = [0] * n
        idx[a] = slice(None)
        coords.append(np.array(arr[tuple(idx)]))
    return arrays, axes, coords, found


def _numerical(numerical, names, shape):
    n = len(names)
    if isinstance(numerical, Mapping):
        arrays = _by_name(numerical, names, "numerical")
    elif isinstance(numerical, np.ndarray):
        a = np.asarray(numerical, dtype=float)
        if n == 1 and a.ndim == len(shape):
            arrays = [a]
        elif a.ndim == len(shape) + 1 and a.shape[0] == n:
            arrays = list(a)
        elif a.ndim == len(shape) + 1 and a.shape[-1] == n:
            arrays = [a[..., k] for k in range(n)]
        else:
            raise InputError(
                f"numerical must hold {n} arrays (one per variable); got shape {a.shape}."
            )
    else:
        arrays = [np.asarray(a, dtype=float) for a in numerical]
    if len(arrays) != n:
        raise InputError(
            f"numerical must have one array per variable ({', '.join(names)}), in the "
            f"order you believe they are, got {len(arrays)}."
        )
    return arrays


# ---------------------------------------------------------------------- candidates


def _one_sided(Z, axis, spacing, forward):
    """Forward (backward) differences along axis, the other one at the far end."""
    m = np.moveaxis(Z, axis, 0)
    if np.ndim(spacing):
        ds = np.diff(spacing).reshape((-1,) + (1,) * (m.ndim - 1))
    else:
        ds = spacing
    d = (m[1:] - m[:-1]) / ds
    out = np.concatenate([d, d[-1:]]) if forward else np.concatenate([d[:1], d])
    return np.moveaxis(out, 0, axis)


def _ends(shape, axis):
    ends = np.zeros(shape, dtype=bool)
    first, last = [slice(None)] * len(shape), [slice(None)] * len(shape)
    first[axis], last[axis] = 0, -1
    ends[tuple(first)] = True
    ends[tuple(last)] = True
    return ends


def _close(a, b, tol, where):
    if not where.any():
        return False
    d = np.abs(a - b)[where]
    return bool(np.all(np.isfinite(d)) and d.max() <= tol)


def diagnose_gradient(
    f,
    grids,
    numerical,
    *,
    spacing: float | Sequence[float] | Mapping[str, float] | None = None,
    indexing: str | None = None,
    variables=None,
    params=None,
    param_values: Mapping[str, Any] | None = None,
    **param_kwargs: Any,
) -> GradientDiagnosis:
    """Compare a user's numerical gradient with the exact one and name the mistake.

    >>> import numpy as np, symgrad
    >>> x = np.linspace(-3, 3, 61); y = np.linspace(-2, 2, 41)
    >>> X, Y = np.meshgrid(x, y)                 # indexing='xy': axis 0 is y
    >>> gx, gy = np.gradient(np.sin(X) * np.cos(Y))
    >>> diagnosis = symgrad.diagnose_gradient("sin(x)*cos(y)", (X, Y), (gx, gy))
    >>> diagnosis.mistakes
    ('axis_order', 'spacing_missing', 'edge_order')
    >>> print(diagnosis.advice[0])  # doctest: +ELLIPSIS
    components are in axis order (y, x): ... Write gy, gx = np.gradient(Z, y, x, edge_order=2), ...

    Parameters
    ----------
    f : Evaluator or str
        The scalar formula whose gradient the arrays approximate.
    grids : sequence or dict of arrays
        The ``np.meshgrid`` arrays (one per variable, in the evaluator's variable
        order, or ``{name: array}``) the user's values were computed on; sparse
        meshgrids and, with ``indexing``, 1-D coordinate vectors are accepted.
    numerical : sequence, dict or array
        The user's derivative arrays, in the order the user believes they are:
        ``numerical[k]`` is claimed to be the derivative by variable k (as unpacked
        from ``np.gradient``). An array ``(n, ...)`` or ``(..., n)`` is split.
    spacing : number, sequence or dict, optional
        The grid spacing per variable the user intended; checked against the grids
        (InputError if it disagrees).
    indexing : {'xy', 'ij'}, optional
        How the user built the meshgrid. Inferred from the grids; a disagreement is
        reported as the ``indexing`` mistake. Needed only for 1-D coordinates.
    param_values, **param_kwargs
        Values of the formula's parameters.

    Returns
    -------
    GradientDiagnosis
    """
    ev = _evaluator(f, variables, params)
    if ev.is_vector:
        raise InputError("diagnose_gradient takes a scalar formula (one gradient).")
    if indexing not in (None, "xy", "ij"):
        raise InputError(f"indexing must be 'xy' or 'ij', not {indexing!r}.")
    pvals = _param_values(ev, param_values, param_kwargs)
    names = ev.variables
    n = len(names)
    mesh, var_axis, coords, found = _grids(ev, grids, indexing)
    shape = mesh[0].shape
    if any(len(c) < 3 for c in coords):
        raise InputError("every axis needs at least 3 points.")
    axis_var = [var_axis.index(a) for a in range(n)]
    axcoords = [coords[axis_var[a]] for a in range(n)]
    steps = {}
    for k, c in enumerate(coords):
        d = np.diff(c)
        steps[names[k]] = float(d.mean()) if np.allclose(d, d[0], rtol=1e-9, atol=0) else None
    if spacing is not None:
        _check_spacing(spacing, names, steps)
    user = _numerical(numerical, names, shape)

    with np.errstate(all="ignore"):
        Z, G = evaluate_outputs(ev, ("value", "gradient"), mesh if n > 1 else mesh[:1], pvals)
        Z = np.asarray(Z, dtype=float)
        G = np.asarray(G, dtype=float).reshape(shape + (n,))
        zmax = float(np.nanmax(np.abs(Z))) if np.isfinite(Z).any() else 0.0
        cache: dict = {}

        def candidate(axis, sp_key, scheme, edge_order):
            key = (axis, sp_key, scheme, edge_order)
            if key not in cache:
                sp = _spacing_value(sp_key, axis, axcoords)
                if scheme == "central":
                    cache[key] = np.gradient(Z, sp, axis=axis, edge_order=edge_order)
                else:
                    cache[key] = _one_sided(Z, axis, sp, scheme == "forward")
            return cache[key]

        comps = []
        mistakes: list[str] = []
        context = {"names": names, "axis_var": axis_var, "found": found, "steps": steps}
        if indexing is not None and found in ("xy", "ij") and indexing != found and n >= 2:
            mistakes.append("indexing")
        for j in range(n):
            c = _diagnose_one(j, user[j], Z, G, mesh, var_axis, axcoords, axis_var, zmax,
                              candidate, context)
            comps.append(c)
            mistakes.extend(m for m in c.mistakes if m not in mistakes)

    mistakes.sort(key=MISTAKES.index)
    advice = tuple(_advice(m, context, comps, indexing) for m in mistakes)
    return GradientDiagnosis(
        formula=_formula_text(ev),
        variables=tuple(names),
        indexing=found,
        shape=tuple(shape),
        axis_variables=tuple(names[k] for k in axis_var),
        spacing=steps,
        components=tuple(comps),
        mistakes=tuple(mistakes),
        advice=advice,
    )


def _check_spacing(spacing, names, steps):
    if isinstance(spacing, Mapping):
        given = {k: spacing[k] for k in names if k in spacing}
    elif np.ndim(spacing) == 0:
        given = {k: spacing for k in names}
    else:
        given = dict(zip(names, spacing))
    for k, h in given.items():
        actual = steps[k]
        if actual is not None and not math.isclose(float(h), actual, rel_tol=1e-6):
            raise InputError(
                f"spacing for {k!r} is {h!r}, but the grids have spacing {actual:.6g}."
            )


def _spacing_value(sp_key, axis, axcoords):
    if sp_key == "coordinates":
        return axcoords[axis]
    if sp_key == "unit":
        return 1.0
    other = axcoords[int(sp_key.split(":")[1])]
    if len(other) == len(axcoords[axis]):
        return other
    d = np.diff(other)
    return float(d.mean())


def _diagnose_one(j, N, Z, G, mesh, var_axis, axcoords, axis_var, zmax, candidate, ctx):
    names = ctx["names"]
    n = len(names)
    label = f"d/d{names[j]}"
    shape = Z.shape
    a_j = var_axis[j]
    exact = G[..., j]
    orientations = []
    if N.shape == shape:
        orientations.append(False)
    if n >= 2 and N.ndim == len(shape) and N.T.shape == shape:
        orientations.append(True)
    diff_axes = [a for a in range(len(shape))
                 if N.shape == shape[:a] + (shape[a] - 1,) + shape[a + 1:]]
    if not orientations and not diff_axes:
        raise InputError(
            f"numerical[{j}] ({label}) has shape {N.shape}; the grids have shape {shape}."
        )

    # 1. A numpy.gradient-style computation that reproduces the array.
    axes = [a_j] + [a for a in range(len(shape)) if a != a_j]
    spacings = ["coordinates", "unit"] + [f"other:{b}" for b in range(len(shape))]
    match = None
    for transposed in orientations:
        M = N.T if transposed else N
        for axis in axes:
            core = ~_ends(shape, axis)
            for sp in spacings:
                if sp == f"other:{axis}":
                    continue
                h = _min_step(_spacing_value(sp, axis, axcoords))
                for scheme in ("central", "forward", "backward"):
                    P = candidate(axis, sp, scheme, 2)
                    pmax = float(np.nanmax(np.abs(P[core]))) if core.any() else 0.0
                    tol = MATCH_SAFETY * EPS * (zmax / h + pmax)
                    if _close(M, P, tol, core & np.isfinite(P)):
                        edge = None
                        if scheme == "central":
                            ends = _ends(shape, axis)
                            for e in (2, 1):
                                if _close(M, candidate(axis, sp, "central", e), tol,
                                          ends & np.isfinite(P)):
                                    edge = e
                                    break
                        match = {"axis": axis, "spacing": sp, "scheme": scheme,
                                 "edge_order": edge, "transposed": transposed}
                        break
                if match:
                    break
            if match:
                break
        if match:
            break
    if match is None:
        for axis in diff_axes:
            m = np.moveaxis(Z, axis, 0)
            c = axcoords[axis]
            P = np.moveaxis(np.diff(m, axis=0) / np.diff(c).reshape((-1,) + (1,) * (m.ndim - 1)),
                            0, axis)
            h = _min_step(c)
            tol = MATCH_SAFETY * EPS * (zmax / h + float(np.nanmax(np.abs(P))))
            if _close(N, P, tol, np.isfinite(P)):
                match = {"axis": axis, "spacing": "coordinates", "scheme": "diff",
                         "edge_order": None, "transposed": False}
                break

    # 2. Errors against the exact derivative (same orientation as the grids).
    M = N.T if (match and match["transposed"]) else N
    if M.shape == shape:
        err = np.abs(M - exact)
        ends = _ends(shape, a_j)
        h = _min_step(axcoords[a_j])
        from .grid import _neighbour_max, _third_difference

        t3 = _neighbour_max(_third_difference(Z, a_j, h), a_j)
        t3 = np.where(np.isfinite(t3), t3, 0.0)
        gmax = float(np.nanmax(np.abs(exact))) if np.isfinite(exact).any() else 0.0
        tol = TRUNCATION_SAFETY * h * h / 6.0 * t3 + ROUNDING_SAFETY * EPS * (zmax / h + gmax)
        tol = np.where(ends, 2.0 * tol, tol)
        ok_pts = np.isfinite(err)
        interior = ok_pts & ~ends
        interior_err = float(err[interior].max()) if interior.any() else math.nan
        edge_err = float(err[ok_pts & ends].max()) if (ok_pts & ends).any() else math.nan
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(interior, err / tol, 0.0)
        err_to_tol = float(np.nanmax(ratio)) if interior.any() else math.nan
        edge_ratio = float(np.nanmax(np.where(ok_pts & ends, err / tol, 0.0)))
        errs = np.where(ok_pts, err, -1.0)
        w = np.unravel_index(int(np.argmax(errs)), shape)
        max_abs = float(errs[w])
        worst = {names[k]: float(mesh[k][w]) for k in range(n)}
    else:  # np.diff arrays: compare at the midpoints the differences are centred on
        axis = match["axis"] if match else diff_axes[0]
        m = np.moveaxis(exact, axis, 0)
        mid = np.moveaxis(0.5 * (m[1:] + m[:-1]), 0, axis)
        err = np.abs(N - mid)
        max_abs = interior_err = float(np.nanmax(err))
        edge_err, err_to_tol, edge_ratio, worst = math.nan, math.nan, 0.0, {}

    mistakes: list[str] = []
    if match is not None:
        explanation = _explain(match, label, names, axis_var, a_j)
        if match["axis"] != a_j:
            swap_xy = (ctx["found"] == "xy" and j in (0, 1)
                       and axis_var[match["axis"]] == 1 - j)
            mistakes.append("axis_order" if swap_xy else "wrong_axis")
        if match["transposed"]:
            mistakes.append("transposed")
        if match["spacing"] == "unit":
            mistakes.append("spacing_missing")
        elif match["spacing"].startswith("other:"):
            mistakes.append("spacing_order")
        if match["scheme"] != "central":
            mistakes.append("one_sided")
        elif match["edge_order"] == 1:
            mistakes.append("edge_order")
        elif match["edge_order"] is None and not edge_ratio <= 1.0:
            mistakes.append("inaccurate")
            explanation += "; its values at the ends of the axis are not numpy.gradient's"
    elif M.shape == shape and err_to_tol <= 1.0 and edge_ratio <= 1.0:
        explanation = ("accurate: within the central-difference truncation estimate "
                       f"(err/tol {err_to_tol:.3g})")
    elif M.shape == shape and err_to_tol <= 1.0:
        mistakes.append("edge_order")
        explanation = (f"accurate in the interior, but {edge_ratio:.3g} x the tolerance at "
                       "the ends of the axis (first-order one-sided edges?)")
    else:
        mistakes.append("inaccurate")
        explanation = ("not reproduced by any numpy.gradient call on the formula's values, "
                       f"and {err_to_tol:.3g} x the central-difference tolerance")
    ok = not mistakes
    if ok and match is not None:
        explanation = "correct: " + explanation
    return ComponentDiagnosis(label, names[j], ok, tuple(mistakes), explanation, max_abs,
                              interior_err, edge_err, err_to_tol, worst, match)


def _min_step(sp) -> float:
    if np.ndim(sp) == 0:
        return float(sp)
    return float(np.min(np.abs(np.diff(sp))))


def _explain(match, label, names, axis_var, a_j) -> str:
    axis = match["axis"]
    var = names[axis_var[axis]]
    scheme = {"central": "central differences", "forward": "forward differences",
              "backward": "backward differences", "diff": "np.diff (forward differences)"}
    sp = match["spacing"]
    if sp == "coordinates":
        spacing = f"the {var} spacing"
    elif sp == "unit":
        spacing = "unit spacing (no spacing given)"
    else:
        spacing = f"the {names[axis_var[int(sp.split(':')[1])]]} spacing"
    text = f"{scheme[match['scheme']]} along array axis {axis} ({var}) with {spacing}"
    if match["transposed"]:
        text = "the transpose of " + text
    if match["scheme"] == "central":
        text += {1: ", first-order edges (edge_order=1)", 2: ", edge_order=2",
                 None: ""}[match["edge_order"]]
    if axis != a_j:
        text = f"d/d{var}, not {label}: " + text
    return text


def _advice(code, ctx, comps, indexing) -> str:
    names, axis_var, found, steps = ctx["names"], ctx["axis_var"], ctx["found"], ctx["steps"]
    axis_names = [names[k] for k in axis_var]
    unpack = ", ".join(f"g{v}" for v in axis_names)
    call = f"np.gradient(Z, {', '.join(axis_names)}, edge_order=2)"
    if code == "indexing":
        return (f"the grids were built with indexing={found!r} (array axis 0 runs over "
                f"{axis_names[0]}), not indexing={indexing!r} as passed.")
    if code == "axis_order":
        order = ", ".join(axis_names)
        return (f"components are in axis order ({order}): numpy.gradient returns one "
                f"derivative per array axis, and on an indexing='xy' meshgrid axis 0 runs "
                f"over {axis_names[0]}. Write {unpack} = {call}, or build the grid with "
                f"np.meshgrid({', '.join(names)}, indexing='ij').")
    if code == "wrong_axis":
        wrong = [c.component for c in comps if "wrong_axis" in c.mistakes]
        return (f"{', '.join(wrong)} differenced along another variable's axis; the array "
                f"axes run over ({', '.join(axis_names)}): write {unpack} = {call}.")
    if code == "transposed":
        return ("the array's axes are reversed relative to the grids (transposed): use its "
                ".T, or compute Z on the same meshgrid (same indexing) as the grids.")
    if code == "spacing_missing":
        hs = ", ".join(f"h_{k}={_g(v)}" for k, v in steps.items())
        return (f"np.gradient(Z) without spacing assumes unit spacing: the values are off "
                f"by the factor h ({hs}); pass the coordinates in array-axis order: {call}.")
    if code == "spacing_order":
        return (f"the spacings are in the wrong order: numpy.gradient takes one spacing per "
                f"array axis, in axis order ({', '.join(axis_names)}): {call}.")
    if code == "one_sided":
        return ("forward/backward differences are first order (error ~ h/2 * f'', O(h) "
                "instead of O(h**2)) and np.diff values belong at the midpoints: use "
                f"central differences, {call}.")
    if code == "edge_order":
        return ("numpy.gradient's default edge_order=1 uses first-order one-sided "
                "differences at the two ends of each axis (errors O(h) there only): pass "
                "edge_order=2, or compare interior points only.")
    return ("the array is not numpy.gradient of this formula on these grids and is less "
            "accurate than central differences: check that Z is this formula evaluated "
            "on these grids (same variable order and indexing).")
