"""Tests for symgrad.parse with SymPy expressions as input (symgrad.parse.from_sympy)."""

from __future__ import annotations

import pytest
import sympy
from hypothesis import given, settings
from test_parse import _FORMULAS, _NAMES, finishes

from symgrad import functions as fn
from symgrad.errors import InputError, ParseError
from symgrad.parse import MAX_NESTING, MAX_NODES, parse

x, y = sympy.symbols("x y", real=True)
plain_x, plain_y = sympy.symbols("x y")  # no assumptions


def test_sympy_expression_equals_string_parse():
    f = parse(sympy.sin(plain_x) * plain_y)
    g = parse("sin(x)*y")
    assert f.exprs == g.exprs and f.variables == g.variables
    assert f.sources == ("y*sin(x)",)
    assert not f.is_vector


def test_symbols_become_real_whatever_their_assumptions():
    pos = sympy.Symbol("x", positive=True)
    f = parse(sympy.sqrt(plain_x**2) + pos)
    assert f.exprs[0] == sympy.Abs(x) + x
    assert f.variables == (x,)
    assert all(s.is_real for s in f.exprs[0].free_symbols)


def test_vector_and_variables_as_symbols():
    f = parse([plain_x * plain_y, sympy.exp(plain_y)], variables=[plain_y, plain_x],
              params=None)
    assert f.is_vector and f.variable_names == ("y", "x")
    assert f.exprs == (x * y, sympy.exp(y))
    f = parse(plain_x + plain_y, variables=plain_x, params=[plain_y])
    assert f.variable_names == ("x",) and f.param_names == ("y",)
    # Strings and SymPy expressions can be mixed in one vector.
    assert parse(["x*y", sympy.cos(plain_x)]).exprs == (x * y, sympy.cos(x))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (sympy.Piecewise((plain_x, plain_x > 0), (-plain_x, True)),
         sympy.Piecewise((x, x > 0), (-x, True))),
        (sympy.Piecewise((1, sympy.And(plain_x > 0, sympy.Not(sympy.Eq(plain_y, 1)))),
                         (2, sympy.Or(plain_x < -1, sympy.Ne(plain_y, 0))), (3, True)),
         sympy.Piecewise((1, (x > 0) & sympy.Not(sympy.Eq(y, 1))),
                         (2, (x < -1) | sympy.Ne(y, 0)), (3, True))),
        (sympy.floor(plain_x) + sympy.ceiling(plain_y), fn.floor(x) + fn.ceiling(y)),
        (sympy.Min(plain_x, plain_y) * sympy.pi + sympy.E, sympy.Min(x, y) * sympy.pi + sympy.E),
        (sympy.loggamma(10**8, evaluate=False) * plain_x, parse("loggamma(10**8)*x").exprs[0]),
        (sympy.Rational(1, 3) * plain_x + sympy.Float(0.1), x / 3 + sympy.Float(0.1)),
        (sympy.polygamma(1, plain_x) + sympy.atan2(plain_y, plain_x),
         sympy.polygamma(1, x) + sympy.atan2(y, x)),
    ],
)
def test_whitelisted_classes(value, expected):
    assert parse(value, variables="x y").exprs[0] == expected


def test_floor_becomes_symgrads_floor():
    assert type(parse(sympy.floor(plain_x)).exprs[0]) is fn.floor


@pytest.mark.parametrize(
    ("value", "cls"),
    [
        (sympy.Function("f")(plain_x), "f"),
        (sympy.sin(sympy.Function("g")(plain_x)) + 1, "g"),
        (sympy.Lambda(plain_x, plain_x**2), "Lambda"),
        (sympy.Derivative(sympy.sin(plain_x * plain_y), plain_x), "Derivative"),
        (sympy.Integral(plain_x, plain_x), "Integral"),
        (sympy.ImmutableMatrix([[plain_x]]), "ImmutableDenseMatrix"),
        (plain_x + sympy.I, "ImaginaryUnit"),
        (plain_x + sympy.oo, "Infinity"),
        (plain_x * sympy.nan, "NaN"),
        (plain_x * sympy.EulerGamma, "EulerGamma"),
        (sympy.Dummy("x") + 1, "Dummy"),
        (plain_x > 1, "StrictGreaterThan"),
        (sympy.Piecewise((plain_x, sympy.Xor(plain_x > 0, plain_y > 0)), (0, True)), "Xor"),
        (sympy.Sum(plain_x, (plain_y, 1, 3)) + plain_y, "Sum"),
        (sympy.Tuple(plain_x, sympy.core.symbol.Str("name")), "Tuple"),
        (sympy.zeta(plain_x), "zeta"),
    ],
)
def test_refused_classes(value, cls):
    with pytest.raises(InputError) as info:
        parse(value, variables="x y")
    message = str(info.value)
    assert f"SymPy {cls} " in message or f" {cls} " in message


def test_refusal_says_where():
    with pytest.raises(InputError, match=r"undefined function.*: f\(x\), in sin\(f\(x\)\)"):
        parse(sympy.sin(sympy.Function("f")(plain_x)))
    with pytest.raises(InputError, match="formula 2 of 2: SymPy Integral"):
        parse([plain_x, sympy.Integral(plain_x, plain_x)])


def test_non_sympy_items_are_refused():
    with pytest.raises(InputError, match="formula 2 of 2 must be a string"):
        parse([plain_x, 2.5])
    with pytest.raises(InputError, match="must contain names"):
        parse(plain_x, variables=[2])


@pytest.mark.parametrize("name", ["pi", "E", "class", "1x", "x y"])
def test_symbol_names_follow_the_name_rule(name):
    with pytest.raises(InputError):
        parse(sympy.Symbol(name) + plain_x)


def test_lambda_symbol_is_fine():
    assert parse(sympy.Symbol("lambda") * plain_x).variable_names == ("lambda", "x")


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: plain_x ** sympy.Integer(10) ** 10000, "too large"),
        (lambda: plain_x * sympy.Pow(sympy.pi, sympy.Pow(sympy.pi, sympy.Pow(sympy.pi, sympy.pi)),
                                     evaluate=False) ** sympy.pi, "too large"),
        (lambda: sympy.Mul(plain_x, sympy.Pow(9, sympy.Integer(9) ** 9, evaluate=False),
                           evaluate=False), "too large"),
        (lambda: plain_x * sympy.exp(sympy.exp(sympy.exp(9))), "too large"),
        (lambda: plain_x * sympy.Integer(10) ** 400, "too large"),
        (lambda: plain_x * sympy.Max(*sympy.symbols("a:20")), "more than 16 values"),
    ],
)
def test_constant_guards_apply(make, match):
    value = make()
    with pytest.raises(ParseError, match=match):
        finishes(lambda: parse(value, variables="x"))


@pytest.mark.slow
def test_size_and_depth_limits():
    wide = sympy.Add(*sympy.symbols(f"x0:{MAX_NODES}"))
    with pytest.raises(ParseError, match=f"more than {MAX_NODES} nodes"):
        finishes(lambda: parse(wide))
    deep = plain_x
    for _ in range(MAX_NESTING + 1):
        deep = sympy.sin(deep)
    with pytest.raises(ParseError, match="nested more than"):
        finishes(lambda: parse(deep))
    # Shared sub-expressions count once per use: a DAG of 2**60 tree nodes stops early.
    shared = plain_x
    for _ in range(60):
        shared = sympy.Add(shared, sympy.sin(shared), evaluate=False)
    with pytest.raises(ParseError):
        finishes(lambda: parse(shared))


def test_constant_sympy_expression_with_variables_given():
    f = parse(sympy.pi * 2, variables="x")
    assert f.exprs == (2 * sympy.pi,)


@settings(max_examples=100, deadline=None)
@given(_FORMULAS)
def test_round_trip_through_exprs(pair):
    text, _ = pair
    try:
        f = parse(text, variables=_NAMES)
    except ParseError:
        return
    g = parse(f.exprs[0], variables=f.variables, params=f.params)
    assert (g.exprs, g.variables, g.params, g.is_vector) == (f.exprs, f.variables, f.params,
                                                             f.is_vector)
    h = parse(list(f.exprs) * 2, variables=f.variable_names)
    assert h.exprs == f.exprs * 2 and h.is_vector
