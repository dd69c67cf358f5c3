"""symgrad.check / check_points: numpy.gradient done right, convergence order, masking."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from helpers import spoil

import symgrad

SMOOTH = "sin(x)*cos(y) + exp(-(x**2+y**2)/2)"
DOMAIN = {"x": (-3, 3), "y": (-3, 3)}


@pytest.fixture(scope="module")
def smooth():
    return symgrad.compile(SMOOTH, parallel=False)


@pytest.fixture(scope="module")
def sinx():
    return symgrad.compile("sin(x)", variables="x y", parallel=False)


@pytest.fixture(scope="module")
def quad():
    return symgrad.compile("x**2 + y**2", parallel=False)


@pytest.fixture(scope="module")
def pole():
    return symgrad.compile("log(x)*y", parallel=False)


@pytest.fixture(scope="module")
def four():
    return symgrad.compile("x*y*z + sin(z)*w", parallel=False)


@pytest.fixture(scope="module")
def vector():
    return symgrad.compile(["x*y", "sin(x)+y"], parallel=False)


def scale_first(factor):
    def change(g):
        g[..., 0] *= factor
        return g

    return change


def flip_cross(h):
    h[..., 0, 1] *= -1.0
    h[..., 1, 0] *= -1.0
    return h


# ---------------------------------------------------------------- the issue's example


def test_issue_example_passes_with_order_two(smooth):
    report = symgrad.check(smooth, domain=DOMAIN, points=101)
    assert report.ok and bool(report)
    assert report.raise_if_failed() is report
    labels = [r.component for r in report.rows]
    assert labels == ["d/dx", "d/dy", "d2/dx2", "d2/dxdy", "d2/dy2"]
    for row in report.rows:
        assert abs(row.order - 2.0) < 0.1, row
        assert row.err_to_tol <= 1.0
        assert row.max_abs_err < 2e-3
        assert row.compared > 0 and row.masked == 0
    text = str(report)
    for word in ("component", "max abs err", "max rel err", "order", "ok", "PASSED", "d2/dxdy"):
        assert word in text
    assert text.isascii()


def test_formula_string_is_compiled(smooth):
    report = symgrad.check(SMOOTH, domain=DOMAIN, points=51, derivatives="gradient")
    assert report.ok
    assert [r.component for r in report.rows] == ["d/dx", "d/dy"]
    assert report.formula == SMOOTH


def test_xy_and_ij_give_identical_reports(smooth):
    a = symgrad.check(smooth, DOMAIN, points=41, indexing="ij")
    b = symgrad.check(smooth, DOMAIN, points=41, indexing="xy")
    assert a.rows == b.rows
    # different spacing per axis (and different point counts) is where a swap would show
    dom = {"x": (-1, 2), "y": (-3, 3)}
    a = symgrad.check(smooth, dom, points={"x": 31, "y": 51}, indexing="ij")
    b = symgrad.check(smooth, dom, points={"x": 31, "y": 51}, indexing="xy")
    assert a.ok and b.ok
    assert a.rows == b.rows
    assert a.settings["spacing"] == {"x": 0.1, "y": 0.12}


def test_edges_are_first_order_unless_edge_order_2(smooth):
    bad = symgrad.check(smooth, DOMAIN, points=41, interior=False, edge_order=1)
    assert not bad.ok
    assert all(0.8 < r.order < 1.4 for r in bad.rows)  # first order, not 2
    good = symgrad.check(smooth, DOMAIN, points=41, interior=False, edge_order=2)
    assert good.ok


# ------------------------------------------------------------- worked web examples


def test_web_example_sin_on_arange_meshgrid(sinx):
    # The circulating example: x = y = np.arange(-3, 3, .05); X, Y = np.meshgrid(x, y);
    # Z = np.sin(X); gy, gx = np.gradient(Z, .05, .05). With indexing='xy' axis 0 is y.
    x = np.arange(-3, 3, 0.05)
    y = np.arange(-3, 3, 0.05)
    X, Y = np.meshgrid(x, y)
    Z = np.sin(X)
    gy, gx = np.gradient(Z, 0.05, 0.05)
    assert X[20][30] == pytest.approx(-1.5)
    assert gx[20][30] == pytest.approx(0.0707077, abs=1e-7)  # finite difference
    assert np.all(gy == 0)
    G = sinx.gradient(X, Y)
    assert G[20, 30, 0] == np.cos(X[20, 30])  # compiled: exact
    assert G[20, 30, 0] == pytest.approx(0.0707372, abs=1e-7)
    assert np.all(G[..., 1] == 0)
    # the difference is the truncation error h**2/6 * |f'''| = h**2/6 * cos(-1.5)
    assert G[20, 30, 0] - gx[20][30] == pytest.approx(0.05**2 / 6 * np.cos(-1.5), rel=1e-3)
    # ... and symgrad.check does the same comparison, right, in one call
    report = symgrad.check(sinx, {"x": (x[0], x[-1]), "y": (y[0], y[-1])}, points=len(x),
                           indexing="xy", derivatives="gradient")
    assert report.ok
    dx, dy = report.rows
    assert dx.component == "d/dx" and abs(dx.order - 2) < 0.05
    assert dx.max_abs_err == pytest.approx(0.05**2 / 6, rel=0.02)
    assert dy.max_abs_err == 0 and dy.order_status == "rounding"


def test_web_example_quadratic_axis_order(quad):
    # z = x**2 + y**2 on linspace(0, 2, 3) grids: central differences are exact for a
    # quadratic, so any mismatch is an axis mix-up.
    x = np.linspace(0, 2, 3)
    y = np.linspace(0, 2, 3)
    X, Y = np.meshgrid(x, y)  # indexing='xy': Z[i, j] = x[j]**2 + y[i]**2
    Z = X**2 + Y**2
    first, second = np.gradient(Z, x, y)
    G = quad.gradient(X, Y)
    # np.gradient returns per ARRAY AXIS: the first output is dZ/dy, not dZ/dx.
    np.testing.assert_array_equal(first[1], G[1, :, 1])
    np.testing.assert_array_equal(second[:, 1], G[:, 1, 0])
    assert not np.array_equal(first[1], G[1, :, 0])
    # With different spacings, np.gradient(Z, x, y) on an 'xy' grid is also numerically
    # wrong: the spacings must be given in array-axis order, (y, x).
    y2 = np.linspace(0, 4, 3)
    X2, Y2 = np.meshgrid(x, y2)
    Z2 = X2**2 + Y2**2
    G2 = quad.gradient(X2, Y2)
    wrong_dy, wrong_dx = np.gradient(Z2, x, y2)
    right_dy, right_dx = np.gradient(Z2, y2, x)
    np.testing.assert_allclose(right_dy[1], G2[1, :, 1])
    np.testing.assert_allclose(right_dx[:, 1], G2[:, 1, 0])
    assert not np.allclose(wrong_dy[1], G2[1, :, 1])
    # With indexing='ij', (x, y) is the right order.
    Xi, Yi = np.meshgrid(x, y2, indexing="ij")
    dzdx, dzdy = np.gradient(Xi**2 + Yi**2, x, y2)
    Gi = quad.gradient(Xi, Yi)
    np.testing.assert_allclose(dzdx[1, :], Gi[1, :, 0])
    np.testing.assert_allclose(dzdy[:, 1], Gi[:, 1, 1])
    # symgrad.check: exact up to rounding, for both indexings
    for indexing in ("ij", "xy"):
        report = symgrad.check(quad, {"x": (0, 2), "y": (0, 4)}, points=9, indexing=indexing)
        assert report.ok
        assert all(r.order_status == "rounding" and math.isnan(r.order) for r in report.rows)
        assert all(r.max_abs_err < 1e-12 for r in report.rows)
        assert "exact" in str(report)


# ------------------------------------------------------------- wrong derivatives


def test_wrong_gradient_is_caught(smooth, monkeypatch):
    spoil(monkeypatch, smooth, "gradient", scale_first(1.1))
    report = symgrad.check(smooth, DOMAIN, points=41)
    assert not report.ok
    failed = {r.component for r in report.failures}
    assert "d/dx" in failed
    row = report.failures[0]
    assert row.component == "d/dx"
    assert abs(row.order) < 0.3  # the error does not shrink with h
    assert row.err_to_tol > 10
    assert {"x", "y"} == set(row.worst)
    with pytest.raises(symgrad.ValidationError, match=r"d/dx .* at x=.*, y="):
        report.raise_if_failed()
    with pytest.raises(AssertionError):  # ValidationError is an AssertionError too
        report.raise_if_failed()
    text = str(report)
    assert "FAILED" in text and "NO" in text


def test_small_wrong_gradient_is_caught(smooth, monkeypatch):
    spoil(monkeypatch, smooth, "gradient", scale_first(1 + 1e-4))
    report = symgrad.check(smooth, DOMAIN, points=101, derivatives="gradient")
    assert [r.component for r in report.failures] == ["d/dx"]


def test_wrong_hessian_is_caught(smooth, monkeypatch):
    spoil(monkeypatch, smooth, "hessian", flip_cross)
    report = symgrad.check(smooth, DOMAIN, points=41)
    assert [r.component for r in report.failures] == ["d2/dxdy"]
    assert report.rows[0].ok and report.rows[1].ok


def test_check_points_catches_wrong_derivative(smooth, monkeypatch):
    pts = np.array([[0.3, -0.4], [1.0, 2.0], [-2.5, 0.1]])
    assert symgrad.check_points(smooth, pts).ok
    with monkeypatch.context() as mp:
        spoil(mp, smooth, "gradient", scale_first(1 + 1e-6))
        report = symgrad.check_points(smooth, pts)
    assert report.failures[0].component == "d/dx"
    # the Hessian is checked against differences of the (wrong) gradient: inconsistent
    assert {r.component for r in report.failures} == {"d/dx", "d2/dx2", "d2/dxdy"}
    spoil(monkeypatch, smooth, "hessian", flip_cross)
    report = symgrad.check_points(smooth, pts)
    assert [r.component for r in report.failures] == ["d2/dxdy"]


# ------------------------------------------------------------------ non-finite points


def test_nonfinite_points_are_masked_and_reported(pole):
    report = symgrad.check(pole, (-1, 1), points=21)
    assert report.ok
    # x <= 0 gives nan/-inf: 11 of 21 columns
    assert report.nonfinite == 11 * 21
    assert report.nonfinite_example == {"x": -1.0, "y": -1.0}
    assert report.rows[0].masked > 0
    assert "not finite: 231 of 441 points" in str(report)
    assert abs(report.rows[0].order - 2) < 0.3


def test_all_nonfinite_fails_not_silently(pole):
    report = symgrad.check(pole, (-2, -1), points=11)
    assert not report.ok
    assert all(r.compared == 0 for r in report.rows)
    assert "no finite points" in report.failures[0].reason
    with pytest.raises(symgrad.ValidationError):
        report.raise_if_failed()


def test_check_points_nonfinite(pole):
    report = symgrad.check_points(pole, [[0.0, 1.0], [-1.0, 1.0], [0.5, 2.0]])
    assert report.ok
    assert report.nonfinite == 2
    assert report.rows[0].compared == 1


# ------------------------------------------------------------- shapes of problems


def test_jacobian_of_vector_formula(vector):
    report = symgrad.check(vector, (-2, 2), points=31)
    assert report.ok
    labels = [r.component for r in report.rows]
    assert labels[:4] == ["J[0, 0]", "J[0, 1]", "J[1, 0]", "J[1, 1]"]
    assert "H[1][0, 0]" in labels
    assert abs(report.rows[2].order - 2) < 0.1  # d(sin x)/dx
    pts = symgrad.check_points(vector, {"x": [0.1, 0.2], "y": 1.0}, derivatives="jacobian")
    assert pts.ok and [r.component for r in pts.rows][0] == "J[0, 0]"


def test_four_variables_full_grid_and_slices(four):
    full = symgrad.check(four, (-1, 1))
    assert full.ok and full.method == "grid"
    assert full.settings["points"] == {"w": 21, "x": 21, "y": 21, "z": 21}
    assert len(full.rows) == 4 + 10
    planes = symgrad.check(four, (-1, 1), slices="planes", points=21, seed=1)
    assert planes.ok and planes.method == "planes"
    assert {r.component for r in planes.rows} == {r.component for r in full.rows}
    lines = symgrad.check(four, (-1, 1), slices="lines", points=21,
                          base_point={"w": 0.5, "x": 0.1, "y": -0.2, "z": 0.3})
    assert lines.ok and lines.settings["base_point"]["w"] == 0.5
    assert "lines through w=0.5" in str(lines)


def test_one_variable(sinx):
    f = symgrad.compile("sin(x)", parallel=False)
    report = symgrad.check(f, {"x": (0, 6)}, points=101)
    assert report.ok and [r.component for r in report.rows] == ["d/dx", "d2/dx2"]


def test_check_points_methods(smooth):
    pts = [[0.3, 0.4], [1.0, 2.0]]
    auto = symgrad.check_points(smooth, pts)
    assert auto.ok and "complex step" in auto.settings["reference"]
    central = symgrad.check_points(smooth, pts, method="central")
    assert central.ok and "complex" not in central.settings["reference"]
    assert auto.rows[0].max_abs_err <= 1e-15
    assert central.rows[0].max_abs_err < 1e-11
    single = symgrad.check_points(smooth, [0.3, 0.4], derivatives="gradient")
    assert single.ok and single.total == 1


def test_params():
    f = symgrad.compile("a*x**2*y", params="a", parallel=False)
    assert symgrad.check(f, (-1, 1), points=11, a=2.0).ok
    assert symgrad.check(f, (-1, 1), points=11, param_values={"a": 3}).ok
    with pytest.raises(symgrad.InputError, match="missing parameter 'a': pass a=... "):
        symgrad.check(f, (-1, 1), points=11)
    with pytest.raises(symgrad.InputError, match="unknown parameter 'b'"):
        symgrad.check(f, (-1, 1), points=11, a=1, b=2)
    with pytest.raises(symgrad.InputError, match="'a'.*parameter"):
        symgrad.check(f, {"x": (0, 1), "y": (0, 1), "a": (0, 1)}, a=1)


def test_input_errors(smooth):
    with pytest.raises(symgrad.InputError, match="no range for variable 'y'"):
        symgrad.check(smooth, {"x": (-1, 1)})
    with pytest.raises(symgrad.InputError, match="'z'"):
        symgrad.check(smooth, {"x": (-1, 1), "y": (-1, 1), "z": (0, 1)})
    with pytest.raises(symgrad.InputError, match="lo < hi"):
        symgrad.check(smooth, {"x": (1, -1), "y": (-1, 1)})
    with pytest.raises(symgrad.InputError, match="indexing"):
        symgrad.check(smooth, DOMAIN, indexing="yx")
    with pytest.raises(symgrad.InputError, match="edge_order"):
        symgrad.check(smooth, DOMAIN, edge_order=3)
    with pytest.raises(symgrad.InputError, match="points must be an integer >= 9"):
        symgrad.check(smooth, DOMAIN, points=5)
    with pytest.raises(symgrad.InputError, match="too large"):
        symgrad.check(smooth, DOMAIN, points=5000)
    with pytest.raises(symgrad.InputError, match="unknown derivative 'hvp'.*laplacian"):
        symgrad.check(smooth, DOMAIN, derivatives="hvp")
    with pytest.raises(symgrad.InputError, match="unknown derivative 'bogus'"):
        symgrad.check(smooth, DOMAIN, derivatives="bogus")
    with pytest.raises(symgrad.InputError, match="divergence needs a vector field"):
        symgrad.check(smooth, DOMAIN, derivatives="divergence")
    with pytest.raises(symgrad.InputError, match="variables= and params="):
        symgrad.check(smooth, DOMAIN, variables="x y")
    with pytest.raises(symgrad.InputError, match="shape"):
        symgrad.check_points(smooth, [[1.0, 2.0, 3.0]])
    with pytest.raises(symgrad.InputError):
        symgrad.check(42, DOMAIN)
    with pytest.raises(symgrad.ParseError):
        symgrad.check("x**2 +* y", DOMAIN)


def test_report_to_dict_is_json(smooth, pole):
    for report in (symgrad.check(smooth, DOMAIN, points=21),
                   symgrad.check(pole, (-1, 1), points=11),
                   symgrad.check_points(smooth, [[0.1, 0.2]])):
        doc = json.loads(json.dumps(report.to_dict(), allow_nan=False))
        assert doc["ok"] is report.ok
        assert doc["variables"] == ["x", "y"]
        assert doc["components"][0]["component"] == "d/dx"
        assert set(doc["components"][0]) >= {"max_abs_err", "max_rel_err", "order", "ok",
                                             "worst", "tolerance", "masked"}
