"""The backend seam: registered backends, printer subclasses, the shared protocol."""

from __future__ import annotations

import numpy as np
import pytest
import sympy

import symgrad
from symgrad import InputError
from symgrad.backends import BACKENDS, get_backend
from symgrad.codegen import ArrayPrinter, KernelPrinter
from symgrad.program import build_program

x, y = sympy.symbols("x y", real=True)


def test_a_printer_subclass_overrides_a_function():
    class Marked(KernelPrinter):
        def _print_sin(self, expr):
            return f"my_sin({self._print(expr.args[0])})"

    names = {x: "v0", y: "v1"}
    assert Marked(names).doprint(sympy.sin(x) + sympy.cos(y)) == "my_sin(v0) + np.cos(v1)"
    # the registry still prints everything the subclass does not override
    assert KernelPrinter(names).doprint(sympy.sin(x)) == "np.sin(v0)"
    assert ArrayPrinter(names).doprint(sympy.Heaviside(x)) == "np.heaviside(v0, 0.5)"


def test_every_registered_backend_runs_the_same_program():
    program = build_program(
        [("value", (), [((0,), sympy.exp(x) * y)]), ("gradient", (2,),
          [((0,), sympy.exp(x) * y), ((1,), sympy.exp(x))])],
        (x, y),
    )
    a = np.linspace(-1, 1, 5)
    b = np.linspace(2, 3, 5)
    expected = np.array([np.exp(a) * b, np.exp(a) * b, np.exp(a)])
    assert set(BACKENDS) >= {"numba", "numpy"}
    for name in BACKENDS:
        kernel = get_backend(name).compile(program, ("x", "y"))
        for run in (kernel.run, kernel.run_python):
            out = np.zeros((3, 5))
            run((a, b), out, 0, 5)
            np.testing.assert_allclose(out, expected, rtol=1e-15)
        one = np.zeros((3, 1))
        kernel.run_point((0.5, 2.0), one)
        np.testing.assert_allclose(one[:, 0], [2 * np.exp(0.5), 2 * np.exp(0.5), np.exp(0.5)])
        assert set(kernel.cache_stats()) == {"hits", "misses"}


def test_unknown_backend():
    with pytest.raises(InputError, match="unknown backend 'gpu'; choose from 'numba', 'numpy'"):
        get_backend("gpu")


def test_thread_decision_reads_the_program():
    from symgrad import _threads

    f = symgrad.compile("sin(x)*cos(y) + exp(-(x**2 + y**2)/2)")
    cheap = symgrad.compile("x + y")
    cost = f._request(("value", "gradient")).cost
    assert cost > cheap._request(("value",)).cost > 0
    assert _threads.use_threads("auto", 10, cost) == 1
    assert _threads.use_threads(False, 10**8, cost) == 1
    assert _threads.use_threads("auto", 10**8, cost) == _threads.default_threads()
