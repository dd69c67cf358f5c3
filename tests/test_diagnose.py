"""symgrad.validate.diagnose_gradient: the user's own numpy.gradient arrays against the
exact gradient, with the classic mistakes named and their fix."""

from __future__ import annotations

import json

import numpy as np
import pytest

import symgrad
from symgrad.validate import diagnose_gradient

X1 = np.linspace(-3, 3, 61)  # h = 0.1
Y1 = np.linspace(-2, 2, 51)  # h = 0.08: different spacings, different lengths


@pytest.fixture(scope="module")
def ev():
    return symgrad.compile("sin(x)*cos(y)", parallel=False)


@pytest.fixture(scope="module")
def xy():
    X, Y = np.meshgrid(X1, Y1)  # numpy's default indexing='xy': axis 0 is y
    return X, Y, np.sin(X) * np.cos(Y)


@pytest.fixture(scope="module")
def ij():
    X, Y = np.meshgrid(X1, Y1, indexing="ij")
    return X, Y, np.sin(X) * np.cos(Y)


@pytest.mark.slow
def test_correct_gradient_is_reported_correct(ev, xy, ij):
    X, Y, Z = xy
    gy, gx = np.gradient(Z, Y1, X1, edge_order=2)
    d = diagnose_gradient(ev, (X, Y), (gx, gy))
    assert d.ok and bool(d) and d.mistakes == () and d.raise_if_failed() is d
    assert d.indexing == "xy" and d.axis_variables == ("y", "x")
    assert d.spacing == {"x": pytest.approx(0.1), "y": pytest.approx(0.08)}
    assert all(c.ok and c.match["edge_order"] == 2 for c in d.components)
    assert "CORRECT" in str(d)
    # the same in 'ij' layout, with dicts
    X, Y, Z = ij
    gx, gy = np.gradient(Z, X1, Y1, edge_order=2)
    d = diagnose_gradient("sin(x)*cos(y)", {"x": X, "y": Y}, {"x": gx, "y": gy})
    assert d.ok and d.indexing == "ij"
    json.dumps(d.to_dict(), allow_nan=False)


def test_components_in_axis_order(ev, xy):
    X, Y, Z = xy
    gx, gy = np.gradient(Z, Y1, X1, edge_order=2)  # really (d/dy, d/dx)
    d = diagnose_gradient(ev, (X, Y), (gx, gy))
    assert not d.ok and d.mistakes == ("axis_order",)
    assert d.components[0].match["axis"] == 0  # d/dx was differenced along y
    assert "components are in axis order (y, x)" in d.advice[0]
    assert "gy, gx = np.gradient(Z, y, x" in d.advice[0] and "indexing='ij'" in d.advice[0]
    with pytest.raises(symgrad.ValidationError, match="axis_order"):
        d.raise_if_failed()


def test_swapped_on_ij_grid_is_a_wrong_axis(ev, ij):
    X, Y, Z = ij
    gy, gx = np.gradient(Z, X1, Y1, edge_order=2)  # really (d/dx, d/dy)
    d = diagnose_gradient(ev, (X, Y), (gx, gy))
    assert d.mistakes == ("wrong_axis",)
    assert "gx, gy = np.gradient(Z, x, y" in d.advice[0]


def test_missing_spacing(ev, xy):
    X, Y, Z = xy
    gy, gx = np.gradient(Z, edge_order=2)  # unit spacing
    d = diagnose_gradient(ev, (X, Y), (gx, gy))
    assert d.mistakes == ("spacing_missing",)
    # off by the factor h: compiled * h reproduces it
    G = ev.gradient(X, Y)
    assert np.allclose(gx[5:-5, 5:-5], 0.1 * G[5:-5, 5:-5, 0], atol=5e-4)
    assert "unit spacing" in d.advice[0] and "np.gradient(Z, y, x" in d.advice[0]


def test_classic_unpack_without_spacing_has_three_mistakes(ev, xy):
    X, Y, Z = xy
    gx, gy = np.gradient(Z)  # the most common line of all
    d = diagnose_gradient(ev, (X, Y), (gx, gy))
    assert d.mistakes == ("axis_order", "spacing_missing", "edge_order")
    text = str(d)
    assert "MISTAKES" in text and text.count("fix:") == 3


def test_spacings_in_variable_order(ev, xy):
    X, Y, Z = xy
    gy, gx = np.gradient(Z, 0.1, 0.08, edge_order=2)  # (hx, hy) instead of (hy, hx)
    d = diagnose_gradient(ev, (X, Y), (gx, gy), spacing={"x": 0.1, "y": 0.08})
    assert d.mistakes == ("spacing_order",)
    assert "axis order (y, x)" in d.advice[0]


def test_first_order_edges(ev, xy):
    X, Y, Z = xy
    gy, gx = np.gradient(Z, Y1, X1)  # numpy's default edge_order=1
    d = diagnose_gradient(ev, (X, Y), (gx, gy))
    assert d.mistakes == ("edge_order",)
    c = d.components[0]
    assert c.match["edge_order"] == 1
    assert c.edge_err > 4 * c.interior_err  # first order at the boundary only
    assert "edge_order=2" in d.advice[0]


def test_forward_differences_called_central(ev, xy):
    X, Y, Z = xy
    gy, _ = np.gradient(Z, Y1, X1, edge_order=2)
    fwd = np.diff(Z, axis=1) / np.diff(X1)
    gx = np.concatenate([fwd, fwd[:, -1:]], axis=1)  # forward, padded to the grid
    d = diagnose_gradient(ev, (X, Y), (gx, gy))
    assert d.mistakes == ("one_sided",)
    assert d.components[0].match["scheme"] == "forward" and d.components[1].ok
    assert "first order" in d.advice[0]
    # first order: halving h halves the error (central differences would quarter it)
    err = d.components[0].interior_err
    X2, Y2 = np.meshgrid(X1[::2], Y1)
    Z2 = np.sin(X2) * np.cos(Y2)
    fwd2 = np.diff(Z2, axis=1) / np.diff(X1[::2])
    d2 = diagnose_gradient(ev, (X2, Y2), (np.concatenate([fwd2, fwd2[:, -1:]], axis=1),
                                          np.gradient(Z2, Y1, X1[::2], edge_order=2)[0]))
    assert d2.mistakes == ("one_sided",)
    assert 0.7 < np.log2(d2.components[0].interior_err / err) < 1.3
    # np.diff arrays (one shorter) are recognised too
    d3 = diagnose_gradient(ev, (X, Y), (fwd, gy))
    assert d3.components[0].match["scheme"] == "diff" and d3.mistakes == ("one_sided",)


def test_transposed_arrays(ev, xy):
    X, Y, Z = xy
    gy, gx = np.gradient(Z, Y1, X1, edge_order=2)
    d = diagnose_gradient(ev, (X, Y), (gx.T, gy.T))
    assert d.mistakes == ("transposed",)
    assert ".T" in d.advice[0]


def test_indexing_disagreement_and_inaccurate_values(ev, xy):
    X, Y, Z = xy
    gy, gx = np.gradient(Z, Y1, X1, edge_order=2)
    d = diagnose_gradient(ev, (X, Y), (gx, gy), indexing="ij")
    assert d.mistakes == ("indexing",) and "indexing='xy'" in d.advice[0]
    d = diagnose_gradient(ev, (X, Y), (gx * 1.01, gy))
    assert d.mistakes == ("inaccurate",) and not d.components[0].ok and d.components[1].ok


def test_input_errors(ev, xy):
    X, Y, Z = xy
    gy, gx = np.gradient(Z, Y1, X1, edge_order=2)
    with pytest.raises(symgrad.InputError, match="shape"):
        diagnose_gradient(ev, (X, Y), (gx[:5], gy))
    with pytest.raises(symgrad.InputError, match="one array per variable"):
        diagnose_gradient(ev, (X, Y), (gx,))
    with pytest.raises(symgrad.InputError, match="spacing for 'x'"):
        diagnose_gradient(ev, (X, Y), (gx, gy), spacing=0.5)
    with pytest.raises(symgrad.InputError, match="exactly one array axis"):
        diagnose_gradient(ev, (X + Y, Y), (gx, gy))
