"""Check compiled derivatives against finite differences, correctly.

Two checks, one report type:

* :func:`check` evaluates the formula on a grid and compares each compiled kind
  (gradient, Jacobian, Hessian, Laplacian, divergence, curl: every kind of
  ``symgrad.outputs.OUTPUTS`` with finite-difference rules) with the signed sum of
  ``numpy.gradient`` of its ``fd_base`` kind (the compiled value, or for the Hessian
  and the Laplacian the compiled gradient), at two resolutions.
* :func:`check_points` compares at arbitrary points with a 6th-order central
  difference (or a complex step, where the formula allows it).

A third function, :func:`diagnose_gradient`, checks the *user's own* numerical
gradient (``numpy.gradient`` arrays on a meshgrid) against the exact derivatives and
names the classic mistakes (components in axis order, missing spacing, first-order
edges, one-sided differences, transposed arrays) with their fix.

Layout: ``report`` (the report types), ``common`` (arguments, components of each
kind, evaluation, rounding magnitudes), ``grid`` (:func:`check`), ``points``
(:func:`check_points`), ``numerical`` (:func:`diagnose_gradient`).

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

A component that is a sum of differences (the Laplacian, the divergence, a curl
component) has the sum of its terms' tolerances: the truncation terms of each
differenced array and axis, and ``ROUNDING_SAFETY * eps * (sum of Fmax / h + Dmax)``.
Its compared points are the interior along every differenced axis.

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

from .common import (
    CHECKABLE,
    EPS,
    MIN_ORDER,
    ROUNDING_SAFETY,
    TRUNCATION_SAFETY,
    _derivative_kinds,
    _evaluator,
    _formula_text,
    _param_values,
)
from .grid import DEFAULT_POINTS, MAX_GRID_POINTS, _domain, _points, check
from .numerical import GradientDiagnosis, diagnose_gradient
from .points import CENTRAL_STEP, COMPLEX_STEP, check_points
from .report import ComponentResult, ValidationReport

__all__ = [
    "check",
    "check_points",
    "diagnose_gradient",
    "ValidationReport",
    "ComponentResult",
    "GradientDiagnosis",
    "TRUNCATION_SAFETY",
    "ROUNDING_SAFETY",
    "MIN_ORDER",
    "MAX_GRID_POINTS",
    "DEFAULT_POINTS",
    "CENTRAL_STEP",
    "COMPLEX_STEP",
    "CHECKABLE",
    "EPS",
]

# Private names other modules use (cli binds parameters with _param_values).
_PRIVATE = (_derivative_kinds, _domain, _evaluator, _formula_text, _param_values, _points)
