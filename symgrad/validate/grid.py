"""The grid check: compiled derivatives against ``numpy.gradient`` on meshgrids.

See the package docstring (``symgrad.validate``) for the tolerance, the observed
order, masking and slices. Every kind of ``symgrad.outputs.OUTPUTS`` with
finite-difference rules is checked the same way: the compiled ``fd_base`` kind is
evaluated on the grid, each term of ``fd_terms`` is ``numpy.gradient`` of one base
component along one variable's array axis, the signed terms are summed and compared
with the compiled kind. The tolerance of a sum is the sum of its terms' tolerances.
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import InputError
from .common import (
    EPS,
    MIN_ORDER,
    ROUNDING_SAFETY,
    TRUNCATION_SAFETY,
    _derivative_kinds,
    _evaluator,
    _formula_text,
    _param_values,
    _unique,
    base_kind,
    components,
    evaluate_outputs,
)
from .report import ValidationReport, _merge, _ratio, _Raw, _verdict

__all__ = ["check", "MAX_GRID_POINTS", "DEFAULT_POINTS"]

#: Largest grid :func:`check` builds (points over all axes of one grid).
MAX_GRID_POINTS = 4_000_000
#: Default points per axis by the number of grid axes (odd: the 2h grid keeps both ends).
DEFAULT_POINTS = {1: 401, 2: 201, 3: 51, 4: 21}
_MIN_POINTS = 9
_FULL_MAX_VARS = 4
_PLANES_MAX_VARS = 8


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




def _labelled_nodes(ev, domain) -> dict[str, np.ndarray] | None:
    """Each variable's grid nodes from xarray coordinates (None: ``domain`` has none).

    ``domain`` is an xarray DataArray or Dataset with a 1-D coordinate named like each
    variable (``temperature.coords["lat"]``), or a mapping from each variable to a 1-D
    DataArray of nodes (``{"x": da.x, "y": da.y}``). The nodes must be uniformly spaced
    (the tolerance is derived from the spacing); descending ones are checked ascending
    (the report does not depend on the direction of an axis).
    """
    from ..arrays import is_xarray

    names = ev.variables
    if is_xarray(domain):
        missing = [v for v in names if v not in domain.coords]
        if missing:
            raise InputError(
                f"the domain's coordinates ({', '.join(map(str, domain.coords)) or 'none'}) "
                f"have none named {missing[0]!r}; every variable needs a 1-D coordinate of "
                "its name (rename the coordinate, or pass {variable: DataArray of nodes})."
            )
        source = {v: domain.coords[v] for v in names}
    elif isinstance(domain, Mapping) and any(is_xarray(v) for v in domain.values()):
        source = dict(domain)
        unknown = [k for k in source if k not in names]
        if unknown:
            raise InputError(f"domain has nodes for {unknown[0]!r}, which is not a variable.")
        missing = [v for v in names if v not in source]
        if missing:
            raise InputError(f"domain has no nodes for variable {missing[0]!r}.")
    else:
        return None
    nodes = {}
    for v in names:
        c = np.asarray(source[v], dtype=np.float64)
        if c.ndim != 1 or len(c) < _MIN_POINTS:
            raise InputError(
                f"the nodes of {v!r} must be a 1-D coordinate of at least {_MIN_POINTS} "
                f"points; got shape {c.shape}."
            )
        step = np.diff(c)
        if not np.all(np.isfinite(c)) or not (np.all(step > 0) or np.all(step < 0)):
            raise InputError(f"the nodes of {v!r} must be finite and strictly monotonic.")
        if not np.allclose(step, step.mean(), rtol=1e-6, atol=0):
            raise InputError(
                f"the nodes of {v!r} are not uniformly spaced (steps from "
                f"{np.abs(step).min():g} to {np.abs(step).max():g}); check derives its "
                "tolerance from one spacing per axis. Interpolate onto a uniform grid, "
                "or use check_points."
            )
        nodes[v] = c if step[0] > 0 else c[::-1].copy()
    return nodes


# ------------------------------------------------------------------------ grid check


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


def _ij(a: np.ndarray, swap: bool) -> np.ndarray:
    return np.swapaxes(a, 0, 1) if swap else a




def _term_pieces(F, axis, h, interior):
    """One difference term's truncation tolerance, rounding scale and masks.

    Returns (truncation array, rounding scale ``max|F| / h`` without eps, mask of
    points whose stencil reaches a non-finite F, mask of the ends of the axis).
    """
    ends = np.zeros(F.shape, dtype=bool)
    first, last = [slice(None)] * F.ndim, [slice(None)] * F.ndim
    first[axis], last[axis] = 0, -1
    ends[tuple(first)] = True
    ends[tuple(last)] = True
    bad = _dilate(~np.isfinite(F), axis, 2)
    # Rounding scale: the largest |F| on the grid (not at the point: a value that is
    # small by cancellation of large terms has the rounding error of the terms).
    finF = np.abs(F[np.isfinite(F)])
    fmax = float(finF.max()) if finF.size else 0.0
    t3 = _neighbour_max(_third_difference(F, axis, h), axis)
    t3 = np.where(np.isnan(t3), 0.0, t3)
    factor = np.full(F.shape, TRUNCATION_SAFETY)
    if not interior:
        factor[ends] *= 2.0  # second-order one-sided ends: h**2/3 * F'''
    return factor * h * h / 6.0 * t3, fmax / h, bad, ends


def _compare(terms, D, interior):
    """Estimate, error, tolerance, rounding term, validity and masked points of one
    component; ``terms`` is a list of (sign, F, numpy.gradient of F, axis, h)."""
    est = np.zeros(D.shape)
    trunc = np.zeros(D.shape)
    scale = 0.0
    bad = ~np.isfinite(D)
    edge = np.zeros(D.shape, dtype=bool)
    for sign, F, e, axis, h in terms:
        t, s, b, ends = _term_pieces(F, axis, h, interior)
        est = est + sign * e
        trunc = trunc + t
        scale += s
        bad |= b
        edge |= ends
    bad |= ~np.isfinite(est)
    region = ~edge if interior else np.ones(D.shape, dtype=bool)
    valid = region & ~bad
    finD = np.abs(D[valid])
    absD = float(finD.max()) if finD.size else 0.0
    rounding = np.full(D.shape, ROUNDING_SAFETY * EPS * (scale + absD))
    tol = trunc + rounding
    err = np.where(valid, np.abs(est - D), 0.0)
    return est, err, tol, rounding, valid, region & bad



def _choose(comp, spanned):
    """The first term list of a component whose variables this grid spans."""
    for terms in comp.alternatives:
        if all(v in spanned for _, _, v in terms):
            return terms
    return None


def _spacing(x):
    return (x[-1] - x[0]) / (len(x) - 1)


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

    bases = {kind: base_kind(ev, kind) for kind in kinds}
    outputs = _unique(["value", *bases.values(), *kinds])
    with np.errstate(all="ignore"):
        results = evaluate_outputs(ev, outputs, args, pvals)
        arrays = {name: np.asarray(r, dtype=float).reshape(shape + (-1,))
                  for name, r in zip(outputs, results)}
        finite = np.ones(shape, dtype=bool)
        for a in arrays.values():
            finite &= np.isfinite(a).all(axis=-1)
        items = []  # (component, the terms differenced on this grid)
        for kind in kinds:
            for comp in components(ev, kind):
                terms = _choose(comp, spanned)
                if terms is not None:
                    items.append((comp, terms))

        # numpy.gradient once per differenced array, at h and at 2h (every other node).
        sub = tuple(slice(None, None, 2) for _ in range(d))
        coarse_coords = [c[::2] for c in axis_coords]
        fine_fd: dict[tuple, list] = {}
        coarse_fd: dict[tuple, list] = {}
        for comp, terms in items:
            for _, c, _ in terms:
                key = (bases[comp.kind], c)
                if key in fine_fd:
                    continue
                F = arrays[key[0]][..., c]
                g = np.gradient(F, *axis_coords, edge_order=edge_order)
                fine_fd[key] = [g] if d == 1 else list(g)
                gc = np.gradient(F[sub], *coarse_coords, edge_order=edge_order)
                coarse_fd[key] = [gc] if d == 1 else list(gc)

        raws = []
        for comp, terms in items:
            base = bases[comp.kind]
            D = arrays[comp.kind][..., comp.flat]
            fine, coarse = [], []
            for sign, c, v in terms:
                a = axis_of[v]
                F = arrays[base][..., c]
                fine.append((sign, F, fine_fd[(base, c)][a], a, _spacing(axis_coords[a])))
                coarse.append((sign, F[sub], coarse_fd[(base, c)][a], a,
                               _spacing(coarse_coords[a])))
            est, err, tol, rnd, valid, masked = _compare(fine, D, interior)
            _, err_c, _, _, valid_c, _ = _compare(coarse, D[sub], interior)
            # every spacing doubles from the fine grid to the coarse one
            h, hc = fine[0][4], coarse[0][4]
            common = valid_c & valid[sub]
            # Reductions in 'ij' layout, so that both indexings give identical reports.
            err_ij, tol_ij, valid_ij = _ij(err, swap), _ij(tol, swap), _ij(valid, swap)
            compared = int(valid.sum())
            if compared:
                ratio = np.where(valid_ij, _ratio(err_ij, tol_ij), -1.0)
                flat = int(np.argmax(ratio))
                pos = np.unravel_index(flat, ratio.shape)
                max_abs = float(err.max())
                D_ij = _ij(D, swap)
                rel = np.where(valid_ij,
                               err_ij / np.maximum(1.0, np.abs(np.where(valid_ij, D_ij, 0))), 0)
                max_rel = float(rel.max())
                worst_ratio = float(ratio[pos])
                worst_tol = float(tol_ij[pos])
                pos_arr = pos if not swap else (pos[1], pos[0], *pos[2:])
                worst = {names[k]: float(args[k][pos_arr]) for k in range(n)}
                compiled = float(D[pos_arr])
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
            raw = _Raw(comp.label, comp.kind, comp.index, max_abs, max_rel, worst_ratio,
                       worst_tol, order, status, compared, int(masked.sum()), worst, compiled,
                       estimate)
            _verdict(raw, at_rounding, min_order)
            raws.append(raw)

    nonfinite = int((~finite).sum())
    example = None
    if nonfinite:
        pos = np.unravel_index(int(np.argmax(~_ij(finite, swap))), _ij(finite, swap).shape)
        pos_arr = pos if not swap else (pos[1], pos[0], *pos[2:])
        example = {names[k]: float(args[k][pos_arr]) for k in range(n)}
    return raws, nonfinite, int(finite.size), example


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

    >>> import symgrad
    >>> report = symgrad.check("sin(x)*cos(y) + exp(-(x**2+y**2)/2)",
    ...                        domain={"x": (-3, 3), "y": (-3, 3)}, points=201)
    >>> report.ok
    True
    >>> print(report)  # doctest: +ELLIPSIS
    symgrad.check: sin(x)*cos(y) + exp(-(x**2+y**2)/2)
    ...
    PASSED: 5 of 5 components

    Parameters
    ----------
    f : Evaluator, str or list of str
        What to check. A formula is compiled with ``symgrad.compile(f, variables,
        params, parallel=False)``; a list of formulas checks the Jacobian.
    domain : dict or (lo, hi), or an xarray object
        ``{name: (lo, hi)}`` for every variable (a missing one is an InputError naming
        it), or one ``(lo, hi)`` for all. Or the grid itself: an xarray DataArray or
        Dataset whose 1-D coordinates named like the variables are the nodes (their
        spacing is the grid's; ``points`` does not apply), or ``{name: 1-D DataArray
        of nodes}``.
    points : int or dict, optional
        Grid points per axis, including both ends (at least 9; odd numbers keep both
        ends on the 2h grid). Default by the number of grid axes:
        :data:`DEFAULT_POINTS` (201 in 2-D).
    indexing : {'ij', 'xy'}
        ``np.meshgrid`` indexing used to build the grid; both give the same report.
    edge_order : {1, 2}
        Passed to ``np.gradient``; matters only with ``interior=False``.
    derivatives : str or sequence of str
        Any kind of ``symgrad.outputs.OUTPUTS`` with finite-difference rules:
        'gradient', 'jacobian' ('gradient' means the Jacobian for a vector formula and
        vice versa), 'hessian', 'laplacian' (scalar formulas), 'divergence' and 'curl'
        (vector fields). Each is compared with the signed sum of ``np.gradient`` of its
        ``fd_base`` kind: the value for the gradient, Jacobian, divergence and curl, the
        compiled gradient (Jacobian) for the Hessian and the Laplacian. A kind that
        sums derivatives along more variables than a slice spans (the Laplacian or
        divergence of 5 or more variables) needs ``slices='full'``.
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
    nodes = _labelled_nodes(ev, domain)
    if nodes is not None and points is not None:
        raise InputError("points= does not apply when the domain's coordinates give the nodes.")
    dom = _domain(ev, domain) if nodes is None else {
        v: (float(c[0]), float(c[-1])) for v, c in nodes.items()
    }
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
    for kind in kinds:
        width = max(min(len({v for _, _, v in terms}) for terms in comp.alternatives)
                    for comp in components(ev, kind))
        if width > naxes:
            raise InputError(
                f"{kind} sums derivatives along {width} variables, but a check on {mode} "
                f"differences along {naxes} at a time; pass slices='full' (with fewer "
                "points) or use check_points."
            )
    if nodes is None:
        pts = _points(names, points, naxes)
        coords = {v: np.linspace(dom[v][0], dom[v][1], pts[v]) for v in names}
    else:
        pts = {v: len(nodes[v]) for v in names}
        coords = nodes
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


