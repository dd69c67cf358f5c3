"""The public entry points: compile's inputs (strings, SymPy), options, the cache."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import sympy

import symgrad
from symgrad import InputError

X, Y = sympy.symbols("x y")


def test_compile_takes_sympy_expressions_and_symbols():
    f = symgrad.compile(sympy.sin(X) * Y)
    g = symgrad.compile("sin(x)*y")
    assert f.variables == g.variables == ("x", "y")
    np.testing.assert_array_equal(f.gradient(0.3, 2.0), g.gradient(0.3, 2.0))
    vec = symgrad.compile([sympy.exp(X) * Y, X**2], variables=[Y, X])
    assert vec.variables == ("y", "x")
    np.testing.assert_allclose(vec.jacobian(2.0, 0.5), [[np.exp(0.5), 2 * np.exp(0.5)],
                                                        [0.0, 1.0]])
    again = pickle.loads(pickle.dumps(f))
    assert again is f


@pytest.mark.parametrize("bad, name", [
    (sympy.Function("f")(X), "undefined function"),
    (sympy.Lambda(X, X**2), "Lambda"),
    (sympy.Derivative(sympy.sin(X), X), "Derivative"),
    (sympy.Integral(X, X), "Integral"),
])
def test_sympy_objects_outside_the_whitelist_are_refused(bad, name):
    with pytest.raises(InputError, match=name):
        symgrad.compile(bad)


def test_options_are_read_only_and_shared_evaluators_stay_unchanged():
    a = symgrad.compile("x**2 + y", parallel=False)
    with pytest.raises(AttributeError):
        a.dtype = "float32"
    b = a.with_options(dtype="float32")
    assert b is not a and a.dtype == np.float64 and b.dtype == np.float32
    assert symgrad.compile("x**2 + y", parallel=False).dtype == np.float64
    assert b.gradient(np.float32(1.5), np.float32(1.0)).dtype == np.float32
    assert a.options == symgrad.Options(parallel=False)
    with pytest.raises(InputError, match="unknown option 'dtpye'"):
        a.with_options(dtpye="float32")


def test_compile_rejects_what_is_not_a_formula():
    with pytest.raises(InputError, match="formula must be a string such as"):
        symgrad.compile(3.0)
    with pytest.raises(InputError, match="unknown backend 'cuda'"):
        symgrad.compile("x", backend="cuda")
    with pytest.raises(InputError, match="parallel must be True, False or 'auto'"):
        symgrad.compile("x", parallel="yes")
