"""symgrad.check / check_points for every kind of the output registry with
finite-difference rules: Laplacian, divergence, curl (sums of differences)."""

from __future__ import annotations

import pytest
from helpers import spoil

import symgrad
from symgrad.outputs import OUTPUTS
from symgrad.validate import CHECKABLE


@pytest.fixture(scope="module")
def lap2():
    return symgrad.compile("sin(x)*cos(2*y) + x**3*y", parallel=False, tiered=False)


@pytest.fixture(scope="module")
def lap3():
    return symgrad.compile("exp(-x**2/2)*sin(y)*z + x*y*z**2", parallel=False, tiered=False)


@pytest.fixture(scope="module")
def field3():
    return symgrad.compile(["x*y*z", "sin(y)*x + z**2", "exp(z/2)*y - x**2"], parallel=False)


@pytest.fixture(scope="module")
def field2():
    return symgrad.compile(["-y*x**2", "x*sin(y)"], parallel=False)


def test_every_registry_kind_with_fd_rules_is_checkable():
    assert set(CHECKABLE) == {k for k, e in OUTPUTS.items() if e.fd_base is not None}
    assert {"gradient", "jacobian", "hessian", "laplacian", "divergence", "curl"} <= set(
        CHECKABLE)


@pytest.mark.parametrize("indexing", ["xy", "ij"])
def test_laplacian_2d(lap2, indexing):
    report = symgrad.check(lap2, {"x": (-2, 2), "y": (-1, 1.5)}, points={"x": 41, "y": 31},
                           derivatives=("gradient", "laplacian"), indexing=indexing)
    assert report.ok, report
    assert [r.component for r in report.rows] == ["d/dx", "d/dy", "laplacian(f)"]
    lap = report.rows[-1]
    assert lap.kind == "laplacian" and abs(lap.order - 2) < 0.15
    # interior along both axes: (41 - 2) * (31 - 2) points
    assert lap.compared == 39 * 29


def test_laplacian_xy_and_ij_identical(lap2, lap3):
    dom = {"x": (-2, 2), "y": (-1, 1.5), "z": (0, 1)}
    for ev, points in ((lap2, {"x": 41, "y": 31}), (lap3, {"x": 21, "y": 17, "z": 13})):
        d = {v: dom[v] for v in ev.variables}
        a = symgrad.check(ev, d, points=points, derivatives="laplacian", indexing="ij")
        b = symgrad.check(ev, d, points=points, derivatives="laplacian", indexing="xy")
        assert a.ok and b.ok
        assert a.rows == b.rows


@pytest.mark.parametrize("indexing", ["xy", "ij"])
def test_laplacian_3d(lap3, indexing):
    report = symgrad.check(lap3, (-1.5, 1.5), points=25, derivatives="laplacian",
                           indexing=indexing)
    assert report.ok, report
    (row,) = report.rows
    assert row.component == "laplacian(f)" and abs(row.order - 2) < 0.2
    pts = symgrad.check_points(lap3, [[0.1, 0.2, 0.3], [-1.0, 0.5, 2.0]],
                               derivatives="laplacian")
    assert pts.ok and pts.rows[0].max_abs_err < 1e-8


def test_wrong_laplacian_is_caught_with_order_zero(lap2, monkeypatch):
    def change(v):
        return v * 1.1

    spoil(monkeypatch, lap2, "laplacian", change)
    report = symgrad.check(lap2, {"x": (-2, 2), "y": (-1, 1.5)}, points=41,
                           derivatives=("gradient", "laplacian"))
    assert [r.component for r in report.failures] == ["laplacian(f)"]
    row = report.failures[0]
    assert abs(row.order) < 0.3 and row.err_to_tol > 1
    with pytest.raises(symgrad.ValidationError, match="laplacian"):
        report.raise_if_failed()
    pts = symgrad.check_points(lap2, [[0.3, 0.4], [1.0, -0.5]], derivatives="laplacian")
    assert not pts.ok


def test_divergence_and_curl_of_3d_field(field3):
    report = symgrad.check(field3, (-1, 1), points=21, derivatives=("divergence", "curl"))
    assert report.ok, report
    assert [r.component for r in report.rows] == [
        "div(F)", "curl(F)_x", "curl(F)_y", "curl(F)_z"]
    for row in report.rows:
        assert row.order_status == "rounding" or abs(row.order - 2) < 0.2
    ij = symgrad.check(field3, (-1, 1), points=21, derivatives=("divergence", "curl"),
                       indexing="ij")
    xy = symgrad.check(field3, (-1, 1), points=21, derivatives=("divergence", "curl"),
                       indexing="xy")
    assert ij.rows == xy.rows
    pts = symgrad.check_points(field3, [[0.1, 0.2, 0.3], [0.9, -0.4, 0.5]],
                               derivatives=("divergence", "curl", "jacobian"))
    assert pts.ok, pts


def test_wrong_curl_and_divergence_are_caught(field3, monkeypatch):
    def flip_y(c):
        c[..., 1] *= -1.0
        return c

    def offset(d):
        return d + 0.1

    with monkeypatch.context() as mp:
        spoil(mp, field3, "curl", flip_y)
        report = symgrad.check(field3, (-1, 1), points=21, derivatives=("divergence", "curl"))
        assert [r.component for r in report.failures] == ["curl(F)_y"]
        assert abs(report.failures[0].order) < 0.3
        pts = symgrad.check_points(field3, [[0.1, 0.2, 0.3]], derivatives="curl")
        assert [r.component for r in pts.failures] == ["curl(F)_y"]
    spoil(monkeypatch, field3, "divergence", offset)
    report = symgrad.check(field3, (-1, 1), points=21, derivatives=("divergence", "curl"))
    assert [r.component for r in report.failures] == ["div(F)"]
    assert abs(report.failures[0].order) < 0.3


def test_scalar_curl_of_2d_field(field2):
    report = symgrad.check(field2, (-2, 2), points=41, derivatives=("curl", "divergence"),
                           indexing="xy")
    assert report.ok, report
    assert [r.component for r in report.rows] == ["div(F)", "curl(F)"]


def test_kind_errors(lap2, field2):
    with pytest.raises(symgrad.InputError, match="laplacian is defined for scalar"):
        symgrad.check(field2, (-1, 1), derivatives="laplacian")
    with pytest.raises(symgrad.InputError, match="curl needs a vector field"):
        symgrad.check_points(lap2, [[0.0, 1.0]], derivatives="curl")
    five = symgrad.compile("a*b + c*d + e**2", parallel=False)  # no kernel is built
    with pytest.raises(symgrad.InputError, match="laplacian sums derivatives along 5"):
        symgrad.check(five, (-1, 1), derivatives="laplacian")
