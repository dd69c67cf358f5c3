"""check_points on large formulas (30 variables): correct Hessians pass although their
differences carry the rounding of many cancelling terms; a wrong entry fails."""

from __future__ import annotations

import numpy as np
import pytest

import symgrad
import symgrad.validate.points as vpoints

pytestmark = pytest.mark.slow  # left out of -m "not slow" (the fast core)

N = 30
NAMES = [f"x{i}" for i in range(N)]
_rng = np.random.default_rng(2)
_A = np.round(_rng.uniform(0.5, 1.5, N) * _rng.choice([-1, 1], N), 3)

def _window(i):
    return " + ".join(f"{_A[k % N]}*x{k % N}" for k in range(i, i + 4))


#: exp/sin couplings of 30 variables in overlapping windows of 4 (banded Hessian)
COUPLED = " + ".join(f"exp(0.2*({_window(i)})) + sin({_window(i)})" for i in range(0, N, 2))
#: the extended Rosenbrock function
ROSENBROCK = " + ".join(f"100*(x{i + 1} - x{i}**2)**2 + (1 - x{i})**2" for i in range(N - 1))


@pytest.fixture(scope="module")
def coupled():
    return symgrad.compile(COUPLED, variables=NAMES, parallel=False)


@pytest.fixture(scope="module")
def rosenbrock():
    return symgrad.compile(ROSENBROCK, variables=NAMES, parallel=False)


@pytest.fixture(scope="module")
def points():
    return np.random.default_rng(3).uniform(-2, 2, size=(10, N))


def spoil_entry(monkeypatch, ev, i, j, rel):
    real = ev.evaluate

    def evaluate(*args, outputs, **kwargs):
        results = list(real(*args, outputs=outputs, **kwargs))
        for k, name in enumerate(outputs):
            if name == "hessian":
                H = np.array(results[k], dtype=float)
                H[..., i, j] *= 1 + rel
                H[..., j, i] = H[..., i, j]
                results[k] = H
        return tuple(results)

    monkeypatch.setattr(ev, "evaluate", evaluate, raising=False)


def test_correct_hessian_of_30_coupled_variables_passes(coupled, points, monkeypatch):
    report = symgrad.check_points(coupled, points)
    assert report.ok, report.failures[:3]
    assert len(report.rows) == N + N * (N + 1) // 2
    report.raise_if_failed()
    # The regression: with |F| as the rounding scale (no term magnitudes) the
    # differences' rounding, eps * (sum of |terms|) / h, is underestimated.
    monkeypatch.setattr(vpoints, "magnitude_function", lambda ev, kind: None)
    old = symgrad.check_points(coupled, points)
    assert max(r.err_to_tol for r in old.rows) > 5 * max(r.err_to_tol for r in report.rows)


def test_wrong_hessian_entry_of_30_variables_fails(coupled, points, monkeypatch):
    spoil_entry(monkeypatch, coupled, 3, 4, 1e-6)
    report = symgrad.check_points(coupled, points, derivatives="hessian")
    assert [r.component for r in report.failures] == ["d2/dx3dx4"]
    assert report.failures[0].err_to_tol > 10


def test_extended_rosenbrock_near_its_minimum(rosenbrock, monkeypatch):
    rng = np.random.default_rng(4)
    near = 1 + 1e-4 * rng.normal(size=(6, N))  # gradient ~ 0: terms cancel
    far = rng.uniform(-2, 2, size=(6, N))
    for pts in (near, far):
        report = symgrad.check_points(rosenbrock, pts)
        assert report.ok, report.failures[:3]
    spoil_entry(monkeypatch, rosenbrock, 10, 11, 1e-6)
    report = symgrad.check_points(rosenbrock, near, derivatives="hessian")
    assert [r.component for r in report.failures] == ["d2/dx10dx11"]
