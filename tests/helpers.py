"""Shared references for the tests: high-precision values and finite differences."""

from __future__ import annotations

import mpmath
import numpy as np
import sympy

mpmath.mp.dps = 40


def mp_function(expr: sympy.Expr, symbols):
    """``expr`` as an mpmath function of ``symbols`` (independent of symgrad's code)."""
    return sympy.lambdify(symbols, expr, modules="mpmath")


def mp_value(fn, *args):
    """``fn(*args)`` at 40 digits as a float, or NaN where it is complex/undefined."""
    try:
        v = fn(*[mpmath.mpf(float(a)) for a in args])
    except (ZeroDivisionError, ValueError):
        return np.nan
    v = mpmath.mpmathify(v)
    if isinstance(v, mpmath.mpc):
        if abs(v.imag) > 1e-30 * max(1, abs(v.real)):
            return np.nan
        v = v.real
    return float(v)


def mp_derivative(fn, point, orders):
    """Partial derivative of ``fn`` at ``point`` by mpmath's high-precision differencing.

    ``orders`` is a tuple with the derivative order per argument, e.g. (1, 0) or (1, 1).
    This uses only the function itself, never SymPy's symbolic derivative.
    """
    try:
        v = mpmath.diff(fn, [mpmath.mpf(float(p)) for p in point], orders)
    except (ZeroDivisionError, ValueError):
        return np.nan
    if isinstance(v, mpmath.mpc):
        if abs(v.imag) > 1e-20 * max(1, abs(v.real)):
            return np.nan
        v = v.real
    return float(v)


def assert_close(actual, expected, rtol=1e-12, atol=1e-300):
    """Relative agreement, NaN where expected is NaN, inf where expected is inf."""
    actual = np.asarray(actual, dtype=float)
    expected = np.asarray(expected, dtype=float)
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected))
    finite = np.isfinite(expected)
    np.testing.assert_array_equal(actual[~finite & ~np.isnan(expected)],
                                  expected[~finite & ~np.isnan(expected)])
    np.testing.assert_allclose(actual[finite], expected[finite], rtol=rtol, atol=atol)


def assert_same_computation(compiled, python):
    """Compiled kernel vs the same source run as plain Python.

    The operations are identical, but numba calls the platform libm where plain Python
    calls NumPy's scalar functions; those may differ in the last bits (cbrt, expm1,
    lgamma), so agreement is to a few ulps, with identical NaN/inf positions.
    """
    compiled = np.asarray(compiled)
    python = np.asarray(python)
    np.testing.assert_array_equal(np.isnan(compiled), np.isnan(python))
    np.testing.assert_array_equal(np.isinf(compiled), np.isinf(python))
    finite = np.isfinite(python)
    np.testing.assert_allclose(compiled[finite], python[finite], rtol=1e-13, atol=1e-15)


def spoil(monkeypatch, ev, kind, change):
    """Make ``ev`` return a deliberately wrong ``kind`` (for the checks to catch).

    Patches the instance's fused ``evaluate`` (what the checks call), so the compiled
    kernels of the shared fixture are reused; monkeypatch undoes it after the test.
    """
    real = ev.evaluate

    def evaluate(*args, outputs, **kwargs):
        results = list(real(*args, outputs=outputs, **kwargs))
        for i, name in enumerate(outputs):
            if name == kind:
                results[i] = change(np.array(results[i], dtype=float))
        return tuple(results)

    monkeypatch.setattr(ev, "evaluate", evaluate, raising=False)
