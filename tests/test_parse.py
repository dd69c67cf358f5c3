"""Tests for symgrad.parse: the safe, eval-free formula parser."""

from __future__ import annotations

import math
import threading

import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st
from sympy.codegen.cfunctions import expm1, hypot, log1p, log2, log10

from symgrad import functions as fn
from symgrad.errors import InputError, ParseError
from symgrad.parse import (
    CONSTANTS,
    FUNCTIONS,
    MAX_CHAIN,
    MAX_LENGTH,
    MAX_NESTING,
    MAX_POWER_TOWER,
    Formula,
    natural_key,
    parse,
    parse_names,
)

# Hang guard, not a benchmark: bad input must be refused promptly instead of sending
# SymPy into an effectively endless computation. The bound is generous (the real cost
# is milliseconds) so a loaded CI machine cannot make these tests flaky.
HANG_GUARD_S = 10.0


def finishes(work, seconds: float = HANG_GUARD_S):
    """Run ``work()`` in a worker thread; return its result, or fail if it hangs."""
    box: dict = {}

    def run():
        try:
            box["value"] = work()
        except BaseException as exc:  # noqa: BLE001 (re-raised in the caller)
            box["error"] = exc

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        pytest.fail(f"did not finish within {seconds} s (a hang)")
    if "error" in box:
        raise box["error"]
    return box["value"]


x, y, z = sympy.symbols("x y z", real=True)


def expr(text: str, **kwargs) -> sympy.Expr:
    """The single expression of a parsed scalar formula."""
    return parse(text, **kwargs).exprs[0]


def sym(name: str) -> sympy.Symbol:
    return sympy.Symbol(name, real=True)


# ------------------------------------------------------------------ function table

FUNCTION_CASES = [
    ("sqrt(x)", sympy.sqrt(x)),
    ("cbrt(x)", fn.cbrt(x)),
    ("exp(x)", sympy.exp(x)),
    ("expm1(x)", expm1(x)),
    ("log(x)", sympy.log(x)),
    ("log(x, y)", sympy.log(x) / sympy.log(y)),
    ("ln(x)", sympy.log(x)),
    ("log1p(x)", log1p(x)),
    ("log10(x)", log10(x)),
    ("log2(x)", log2(x)),
    ("sin(x)", sympy.sin(x)),
    ("cos(x)", sympy.cos(x)),
    ("tan(x)", sympy.tan(x)),
    ("sec(x)", sympy.sec(x)),
    ("csc(x)", sympy.csc(x)),
    ("cot(x)", sympy.cot(x)),
    ("asin(x)", sympy.asin(x)),
    ("arcsin(x)", sympy.asin(x)),
    ("acos(x)", sympy.acos(x)),
    ("arccos(x)", sympy.acos(x)),
    ("atan(x)", sympy.atan(x)),
    ("arctan(x)", sympy.atan(x)),
    ("atan2(y, x)", sympy.atan2(y, x)),
    ("arctan2(y, x)", sympy.atan2(y, x)),
    ("sinh(x)", sympy.sinh(x)),
    ("cosh(x)", sympy.cosh(x)),
    ("tanh(x)", sympy.tanh(x)),
    ("asinh(x)", sympy.asinh(x)),
    ("arcsinh(x)", sympy.asinh(x)),
    ("acosh(x)", sympy.acosh(x)),
    ("arccosh(x)", sympy.acosh(x)),
    ("atanh(x)", sympy.atanh(x)),
    ("arctanh(x)", sympy.atanh(x)),
    ("hypot(x, y)", hypot(x, y)),
    ("Abs(x)", sympy.Abs(x)),
    ("abs(x)", sympy.Abs(x)),
    ("sign(x)", sympy.sign(x)),
    ("Min(x, y)", sympy.Min(x, y)),
    ("min(x, y, z)", sympy.Min(x, y, z)),
    ("Max(x, y)", sympy.Max(x, y)),
    ("max(x, y, z)", sympy.Max(x, y, z)),
    ("Heaviside(x)", sympy.Heaviside(x)),
    ("heaviside(x)", sympy.Heaviside(x)),
    ("where(x > 0, x, y)", sympy.Piecewise((x, x > 0), (y, True))),
    ("erf(x)", sympy.erf(x)),
    ("erfc(x)", sympy.erfc(x)),
    ("gamma(x)", sympy.gamma(x)),
    ("loggamma(x)", sympy.loggamma(x)),
    ("lgamma(x)", sympy.loggamma(x)),
    ("floor(x)", fn.floor(x)),
    ("ceiling(x)", fn.ceiling(x)),
    ("ceil(x)", fn.ceiling(x)),
    ("pow(x, y)", x**y),
    # added with the function registry (symgrad.functions)
    ("exp2(x)", fn.exp2(x)),
    ("sinc(x)", fn.sinc(x)),
    ("logistic(x)", fn.logistic(x)),
    ("sigmoid(x)", fn.logistic(x)),
    ("expit(x)", fn.logistic(x)),
    ("softplus(x)", fn.softplus(x)),
    ("logaddexp(x, y)", fn.logaddexp(x, y)),
    ("xlogy(x, y)", fn.xlogy(x, y)),
    ("clip(x, y, z)", sympy.Min(sympy.Max(x, y), z)),
    ("sech(x)", sympy.sech(x)),
    ("csch(x)", sympy.csch(x)),
    ("coth(x)", fn.coth(x)),
    ("acot(x)", sympy.acot(x)),
    ("arccot(x)", sympy.acot(x)),
    ("asec(x)", fn.asec(x)),
    ("arcsec(x)", fn.asec(x)),
    ("acsc(x)", fn.acsc(x)),
    ("arccsc(x)", fn.acsc(x)),
    ("acoth(x)", sympy.acoth(x)),
    ("arccoth(x)", sympy.acoth(x)),
    ("asech(x)", fn.asech(x)),
    ("arcsech(x)", fn.asech(x)),
    ("acsch(x)", fn.acsch(x)),
    ("arccsch(x)", fn.acsch(x)),
]


@pytest.mark.parametrize(("text", "expected"), FUNCTION_CASES)
def test_function_table(text, expected):
    assert expr(text) == expected


def test_every_table_name_is_tested():
    tested = {text.split("(")[0] for text, _ in FUNCTION_CASES}
    assert tested == set(FUNCTIONS)


def test_floor_and_ceiling_are_symgrad_versions():
    assert type(expr("floor(x)")) is fn.floor
    assert type(expr("ceil(x)")) is fn.ceiling
    assert sympy.diff(expr("floor(x)"), x) == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sin(x, y)", "sin() takes 1 argument (2 given)"),
        ("atan2(x)", "atan2() takes 2 arguments (1 given)"),
        ("log(x, y, z)", "log() takes 1 or 2 arguments (3 given)"),
        ("Min(x)", "Min() takes at least 2 arguments (1 given)"),
        ("where(x > 0, x)", "where() takes 3 arguments (2 given)"),
        ("sin()", "sin() takes 1 argument (0 given)"),
    ],
)
def test_wrong_argument_count(text, message):
    with pytest.raises(ParseError, match=r"takes") as info:
        parse(text)
    assert info.value.reason == message
    assert info.value.position == 0


@pytest.mark.parametrize(
    ("text", "suggestion"),
    [("sine(x)", "'sin'"), ("arcsine(x)", "'arcsin'"), ("SIN(x)", "'sin'"), ("Gamma(x)", "'gamma'")],
)
def test_unknown_function_suggests(text, suggestion):
    with pytest.raises(ParseError) as info:
        parse(text)
    assert f"unknown function {text.split('(')[0]!r}; did you mean {suggestion}?" == info.value.reason
    assert info.value.position == 0


# ------------------------------------------------------------------------ names rule


@pytest.mark.parametrize("name", ["I", "N", "S", "Q", "O", "beta", "zeta", "gamma", "lambda",
                                  "E1", "pi2", "sin", "where", "_x", "α", "x_1"])
def test_special_names_are_plain_real_symbols(name):
    f = parse(f"{name}*x")
    assert f.exprs[0] == sym(name) * x
    assert f.variable_names == tuple(sorted([name, "x"], key=natural_key))
    assert all(s.is_real for s in f.exprs[0].free_symbols)


def test_gamma_symbol_versus_function():
    assert expr("gamma*x + gamma(x)") == sym("gamma") * x + sympy.gamma(x)


@pytest.mark.parametrize(("text", "expected"), [("pi*x", sympy.pi * x), ("E**x", sympy.exp(x)),
                                                ("x + E", x + sympy.E)])
def test_constants(text, expected):
    assert expr(text) == expected
    assert set(CONSTANTS) == {"pi", "E"}


def test_lambda_is_a_symbol_and_lambda_expressions_are_not():
    lam = sym("lambda")
    assert expr("lambda*x + lambda**2") == lam * x + lam**2
    assert expr("exp(-lambda * x)") == sympy.exp(-lam * x)
    # The internal alias for lambda cannot collide with a user's own names.
    f = parse("lambda + _00000 + _00001")
    assert f.exprs[0] == lam + sym("_00000") + sym("_00001")
    with pytest.raises(ParseError, match="lambda expressions are not allowed") as info:
        parse("x + lambda t: t")
    assert info.value.position == 4
    with pytest.raises(ParseError, match="unknown function 'lambda'"):
        parse("lambda(x)")


def test_symbols_are_real():
    assert expr("sqrt(x**2)") == sympy.Abs(x)
    assert expr("Abs(x)**2") == x**2
    assert sympy.diff(expr("Abs(x)"), x) == sympy.sign(x)


def test_nfkc_names():
    # Python normalizes identifiers; so do the variables= names.
    f = parse("ﬁ + x", variables=["ﬁ", "x"])
    assert f.variable_names == ("fi", "x")


# ------------------------------------------------------------------- variable order


@pytest.mark.parametrize(
    ("text", "order"),
    [
        ("x10 + x2 + x1", ("x1", "x2", "x10")),
        (" + ".join(f"x{i}" for i in reversed(range(100))), tuple(f"x{i}" for i in range(100))),
        ("b + a + c", ("a", "b", "c")),
        ("x01 + x1 + x001", ("x001", "x01", "x1")),
        ("y + x2y + x10y + x2", ("x2", "x2y", "x10y", "y")),
    ],
)
def test_natural_variable_order(text, order):
    assert parse(text).variable_names == order


def test_explicit_variable_order_and_params():
    f = parse("a*x + b*y", variables="y x", params="b, a")
    assert f.variable_names == ("y", "x")
    assert f.param_names == ("b", "a")
    assert f.variables == (y, x)
    assert isinstance(f, Formula) and not f.is_vector
    assert f.sources == ("a*x + b*y",)


def test_absent_variables_and_params_are_fine():
    f = parse("x**2", variables=["x", "y"], params=["k"])
    assert f.variable_names == ("x", "y")
    assert f.param_names == ("k",)


def test_params_are_excluded_from_default_variables():
    assert parse("k*x + m*y", params="m k").variable_names == ("x", "y")


def test_unknown_name_is_input_error_with_caret():
    with pytest.raises(InputError) as info:
        parse("x + sin(z) + z", variables="x")
    message = str(info.value)
    assert "'z'" in message and "add 'z' to variables= or params=" in message
    assert message.endswith("    x + sin(z) + z\n" + " " * 12 + "^")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"variables": "x", "params": "x"}, "both variables and params"),
        ({"variables": "x x"}, "listed twice"),
        ({"params": ["a", "a"]}, "listed twice"),
        ({"variables": ["x", "1a"]}, "'1a' is not a valid name"),
        ({"variables": ["x", "pi"]}, "'pi' is a constant"),
        ({"params": "E"}, "'E' is a constant"),
        ({"variables": ["x", "class"]}, "'class' is a Python keyword"),
        ({"variables": ["x", ""]}, "empty name"),
        ({"variables": ["x", "a" * 65]}, "longer than 64"),
        ({"variables": ["x", 3]}, "not int"),
        ({"variables": 3}, "must be a string"),
    ],
)
def test_bad_names(kwargs, match):
    with pytest.raises(InputError, match=match):
        parse("x", **kwargs)


@pytest.mark.parametrize("spec", ["x y", "x, y", "x,y", " x ,  y ", ["x", "y"], ("x", "y")])
def test_parse_names_forms(spec):
    assert parse_names(spec) == ("x", "y")


def test_parse_names_allows_lambda_and_none():
    assert parse_names(["lambda"], "params") == ("lambda",)
    assert parse_names(None) == ()


@pytest.mark.parametrize("text", ["2 + 3", "pi*E", "sin(1)"])
def test_no_variables(text):
    with pytest.raises(InputError, match="formula has no variables; pass variables='x'"):
        parse(text)


def test_all_params_means_no_variables():
    with pytest.raises(InputError, match="no variables"):
        parse("a*2", params="a")


# --------------------------------------------------------------- vector formulas


def test_vector_formula():
    f = parse(["x*y", "sin(z)", "x10 + x2"])
    assert f.is_vector
    assert f.exprs == (x * y, sympy.sin(z), sym("x10") + sym("x2"))
    assert f.variable_names == ("x", "x2", "x10", "y", "z")
    assert f.sources == ("x*y", "sin(z)", "x10 + x2")


def test_vector_parse_error_names_the_formula():
    with pytest.raises(ParseError) as info:
        parse(["x", "y^2", "z"])
    assert info.value.reason.startswith("formula 2 of 3: '^' is bitwise XOR")
    assert info.value.formula == "y^2"
    assert info.value.position == 1


def test_vector_unknown_name():
    with pytest.raises(InputError, match="formula 2 of 2 uses 'q'"):
        parse(["x", "x*q"], variables="x")


@pytest.mark.parametrize("bad", [[], (), 3, None, b"x", ["x", 2], {"x": 1}, 3.0])
def test_bad_formula_types(bad):
    with pytest.raises(InputError):
        parse(bad)


# --------------------------------------------------------------- grammar: accepted


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("x - y - z", x - y - z),
        ("x / y / z", x / y / z),
        ("x / y * z", x * z / y),
        ("-x**2", -(x**2)),
        ("(-x)**2", x**2),
        ("x**y**z", x ** (y**z)),
        ("+x - -y", x + y),
        ("2**-1 * x", x / 2),
        ("x*2**3", 8 * x),
        ("x**(10**10)", x ** (10**10)),
        ("1_000*x", 1000 * x),
        ("0x10*x", 16 * x),
        ("0.1*x", sympy.Float(0.1) * x),
        ("x/4", x / 4),
        ("1/3*x", sympy.Rational(1, 3) * x),
        ("x if x > 0 else -x", sympy.Piecewise((x, x > 0), (-x, True))),
        ("where(0 < x < 1, x, 0)", sympy.Piecewise((x, (x > 0) & (x < 1)), (0, True))),
        ("where(x > 0 and not y > 0 or x == y, 1, x)",
         sympy.Piecewise((1, ((x > 0) & sympy.Not(y > 0)) | sympy.Eq(x, y)), (x, True))),
        ("where(x != 1, x, 2)", sympy.Piecewise((x, sympy.Ne(x, 1)), (2, True))),
        ("where(True, x, y)", x),
        ("where(False, x, y)", y),
        ("where(x >= 1, x, y) + where(x <= 1, y, x)",
         sympy.Piecewise((x, x >= 1), (y, True)) + sympy.Piecewise((y, x <= 1), (x, True))),
        ("sqrt(2)*x", sympy.sqrt(2) * x),
        ("gamma(5)*x", 24 * x),
        ("sin(1)*x", sympy.sin(1) * x),
        ("x*(\n  y  # a comment (with a bracket\n  + 1)", x * (y + 1)),
        ("\n   x + y\n", x + y),
        ("sin (x)", sympy.sin(x)),
        ("α + β**2", sym("α") + sym("β") ** 2),
    ],
)
def test_accepted(text, expected):
    assert expr(text) == expected


def test_floats_are_exact_float64_values():
    value = expr("0.1*x").as_coeff_Mul()[0]
    assert isinstance(value, sympy.Float)
    assert float(value) == 0.1 and value == sympy.Float(0.1)


def test_rosenbrock_200_is_fast():
    n = 200
    text = " + ".join(f"100*(x{i + 1} - x{i}**2)**2 + (1 - x{i})**2" for i in range(n))
    f = finishes(lambda: parse(text))
    assert f.variable_names == tuple(f"x{i}" for i in range(n + 1))
    xs = f.variables
    expected = sympy.Add(*[100 * (xs[i + 1] - xs[i] ** 2) ** 2 + (1 - xs[i]) ** 2 for i in range(n)])
    assert f.exprs[0] == expected


def test_long_sum_is_not_nesting():
    f = parse(" + ".join(f"x{i}" for i in range(1000)))
    assert len(f.exprs[0].args) == 1000
    assert len(parse(" * ".join(f"y{i}" for i in range(300))).exprs[0].args) == 300


# --------------------------------------------------------------- grammar: rejected

REJECTED = [
    # (formula, position, fragment of the message)
    ("__import__('os').system('ls')", 11, "strings are not allowed"),
    ("__import__(x)", 0, "unknown function '__import__'"),
    ("x.real", 1, "attribute access"),
    ("sin(x).real", 6, "attribute access"),
    ("x[0]", 0, "subscripts"),
    ("lambda: 1", 0, "lambda expressions are not allowed"),
    ('"a"', 0, "strings are not allowed"),
    ("x + b'a'", 4, "bytes are not allowed"),
    ("f'{x}'", 0, "f-strings are not allowed"),
    ("[x]", 0, "lists are not allowed"),
    ("{x}", 0, "sets are not allowed"),
    ("{x: 1}", 0, "dicts are not allowed"),
    ("x, y", 0, "tuples are not allowed"),
    ("[x for x in y]", 0, "comprehensions are not allowed"),
    ("f(x=1)", 2, "keyword arguments are not allowed"),
    ("sin(x=1)", 4, "keyword arguments are not allowed"),
    ("sin(**x)", 4, "unpacking with ** is not allowed"),
    ("sin(*x)", 4, "unpacking with * is not allowed"),
    ("x^2", 1, "'^' is bitwise XOR in Python, not a power; write x**2 for a power"),
    ("2x", 1, "implicit multiplication is not supported; write 2*x"),
    ("2 x", 2, "write 2*x"),
    ("x y", 2, "write x*y"),
    ("(x + 1)y", 7, "write (...)*y"),
    ("2(x)", 1, "a number cannot be called; write 2*(...)"),
    ("x // 2", 2, "operator '//' is not allowed"),
    ("x % 2", 2, "operator '%' is not allowed"),
    ("x @ y", 2, "operator '@' is not allowed"),
    ("x & y", 2, "operator '&' is not allowed"),
    ("x | y", 2, "operator '|' is not allowed"),
    ("x << y", 2, "operator '<<' is not allowed"),
    ("x >> y", 2, "operator '>>' is not allowed"),
    ("~x", 0, "'~' (bitwise not) is not allowed"),
    ("1j", 0, "complex numbers are not supported"),
    ("x > 0", 2, "only allowed as the condition of where"),
    ("sin(x > 1)", 6, "only allowed as the condition of where"),
    ("(x > 0)*2", 3, "only allowed as the condition of where"),
    ("x and y", 0, "only allowed as the condition of where"),
    ("not x", 0, "only allowed as the condition of where"),
    ("True", 0, "only allowed as the condition of where"),
    ("where(x, 1, 2)", 6, "a condition must be a comparison"),
    ("where(x is y, 1, 2)", 8, "'is' is not allowed"),
    ("(x)(2)", 1, "unknown function 'x'"),
    ("f()()", 3, "only functions from the function table can be called"),
    ("(x + 1)(x - 1)", 7, "for multiplication write (...)*(...)"),
    ("x := 1", 2, "assignment expressions (:=) are not allowed"),
    ("x = 1", 2, "'=' is assignment"),
    ("None", 0, "None is not allowed"),
    ("...", 0, "Ellipsis is not allowed"),
    ("await x", 0, "await is not allowed"),
    ("(yield x)", 1, "yield is not allowed"),
    ("x + class", 4, "'class' is a Python keyword"),
    ("for + 1", 0, "'for' is a Python keyword"),
    ("x $ y", 2, "character '$' is not allowed"),
    ("x +", 3, "formula ends unexpectedly"),
    ("sin(x", 3, "'(' is never closed"),
    ("x)", 1, "unmatched ')'"),
    ("(x]", 2, "']' does not match '('"),
    ("1/0", 1, "division by zero"),
    ("x/(1 - 1)", 1, "division by zero"),
    ("sqrt(-1)", 0, "is not a real number"),
    ("log(0)*x", 0, "is infinite or undefined"),
    ("(-8)**(1/3)*x", 0, "use cbrt"),
    ("x*" + "a" * 70, 2, "longer than 64 characters"),
    # Positions count characters, not UTF-8 bytes, across lines.
    ("α +\n β ^ 2", 7, "'^' is bitwise XOR"),
    ("αβ + ^ 2", 5, "invalid syntax"),
    ("sin(α) + \n  foo(y)", 12, "unknown function 'foo'"),
    ("λ + μ.real", 5, "attribute access"),
]


@pytest.mark.parametrize(("text", "position", "message"), REJECTED)
def test_rejected(text, position, message):
    with pytest.raises(ParseError) as info:
        parse(text)
    assert info.value.position == position
    assert message in info.value.reason
    assert info.value.formula == text
    # The rendered message carries the caret diagram.
    assert str(info.value).splitlines()[-1] == "    " + " " * position + "^"


@pytest.mark.parametrize("text", ["", "   ", "\n\t ", "# just a comment"])
def test_empty(text):
    with pytest.raises(ParseError, match="empty formula") as info:
        parse(text)
    assert info.value.position is None


def test_parse_error_is_a_value_error():
    with pytest.raises(ValueError):
        parse("x^2")


# --------------------------------------------------------------------------- limits


def _raises_fast(text: str, match: str, limit: float = HANG_GUARD_S) -> ParseError:
    with pytest.raises(ParseError, match=match) as info:
        finishes(lambda: parse(text), limit)
    return info.value


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("x" * (MAX_LENGTH + 1), "characters long; the limit is 100000"),
        ("(" * 10000 + "x" + ")" * 10000, "nested too deeply"),
        ("-" * 10000 + "x", "nested too deeply"),
        ("x**" * 10000 + "x", "nested too deeply"),
        ("not " * 10000 + "x", "nested too deeply"),
        ("x if y else " * 1000 + "x", "nested too deeply"),
        ("where(" * (MAX_NESTING + 1) + "x" + ")" * (MAX_NESTING + 1), "nested too deeply"),
        ("sin(" * (MAX_NESTING + 1) + "x" + ")" * (MAX_NESTING + 1), "nested too deeply"),
        ("sin(" * 10000 + "x" + ")" * 10000, "nested too deeply"),
        ("+".join(["x"] * (MAX_CHAIN + 500)), f"more than {MAX_CHAIN} operators"),
        ("9**9**9**9", "constant 9\\*\\*9\\*\\*9 is too large \\(overflows float64\\)"),
        ("x*9**9**9**9", "too large"),
        ("1e999999", "overflows float64 \\(largest finite is 1.8e308\\)"),
        ("x*1" + "0" * 400, "overflows float64"),
        ("gamma(10**8)", "overflows float64"),
        ("gamma(1e300)*x", "overflows float64"),
        ("exp(10**6)*x", "overflows float64"),
        ("2**1024*x", "overflows float64"),
        ("1" * 5000, "integer literal with 5000 digits is too long"),
        ("0x" + "f" * 5000, "integer literal is too long"),
        ("max(" + ",".join(f"y{i}" for i in range(17)) + ")", "more than 16 values"),
        ("where(" + "<".join(f"y{i}" for i in range(66)) + ", 1, 2)", "at most 64 comparisons"),
        ("where(" + " or ".join(f"y{i} < 1" for i in range(70)) + ", 1, 2)", "at most 64 comparisons"),
    ],
)
def test_limits_fail_fast(text, match):
    _raises_fast(text, match)


def test_limit_positions():
    assert _raises_fast("9**9**9**9", "too large").position == 3
    assert _raises_fast("1e999999", "overflows").position == 0
    deep = MAX_NESTING + 1
    assert _raises_fast("x + " + "(" * deep + "x" + ")" * deep, "nested").position == 4 + MAX_NESTING
    assert _raises_fast("x" * (MAX_LENGTH + 1), "long").position is None


def test_nesting_at_the_limit_is_fine():
    assert expr("(" * MAX_NESTING + "x" + ")" * MAX_NESTING) == x
    assert expr("sin(" * 30 + "x" + ")" * 30) is not None


@pytest.mark.parametrize(
    ("text", "check"),
    [
        ("loggamma(10**8)*x", lambda v: abs(float(v.as_coeff_Mul()[0]) / 1.742068066e9 - 1) < 1e-9),
        ("x*2**3", lambda v: v == 8 * x),
        ("x**(10**10)", lambda v: v == x ** (10**10)),
        ("sin(10**8)*x", lambda v: abs(float(v.as_coeff_Mul()[0]) - 0.931639027109064) < 1e-12),
        ("x*2**1023", lambda v: v == 2**1023 * x),
        ("x*(3/2)**(10**5/10**5)", lambda v: v == sympy.Rational(3, 2) * x),
        ("x*10**-400", lambda v: v == x / sympy.Integer(10) ** 400),
    ],
)
def test_constant_folding_is_bounded(text, check):
    value = finishes(lambda: expr(text))
    assert check(value)


def test_loggamma_alone_is_constant():
    value = parse("loggamma(10**8)", variables="x").exprs[0]
    assert isinstance(value, sympy.Float)
    assert abs(float(value) - 1742068066.10383) < 1e-3


def test_non_ascii_positions_on_a_long_line_are_fast():
    text = " + ".join(f"α{i}" for i in range(1500)) + " + β.real"
    err = _raises_fast(text, "attribute access")
    assert err.position == len(text) - 5
    assert text[err.position] == "."


def test_max_length_formula_parses():
    # A long but legal formula (many short terms, grouped) parses without hanging.
    group = "(" + " + ".join(f"x{i}" for i in range(1000)) + ")"
    text = " + ".join([group] * 10)
    formula = finishes(lambda: parse(text))
    assert len(formula.variables) == 1000


# -------------------------------------------------------- round trip (Hypothesis)

_NAMES = ["x", "y", "gamma", "lambda", "I", "x10"]
_LEAVES = st.one_of(
    st.sampled_from(_NAMES).map(lambda n: (n, sym(n))),
    st.integers(1, 9).map(lambda i: (str(i), sympy.Integer(i))),
    st.sampled_from([0.5, 2.25, 1e-3, 3.0]).map(lambda v: (repr(v), sympy.Float(v))),
    st.sampled_from(["pi", "E"]).map(lambda n: (n, CONSTANTS[n])),
)
_SEPARATORS = st.sampled_from(["", " ", "\n  "])


def _binary(children):
    ops = {"+": lambda a, b: a + b, "-": lambda a, b: a - b,
           "*": lambda a, b: a * b, "/": lambda a, b: a / b}
    return st.tuples(children, st.sampled_from(sorted(ops)), children, _SEPARATORS).map(
        lambda t: (f"({t[0][0]}){t[3]}{t[1]}{t[3]}({t[2][0]})", ops[t[1]](t[0][1], t[2][1])))


def _functions(children):
    # Arguments always involve x, so no constant argument is big enough to be evaluated
    # numerically (that path is tested above).
    one = {"sin": sympy.sin, "exp": sympy.exp, "atan": sympy.atan, "Abs": sympy.Abs,
           "erf": sympy.erf, "cbrt": fn.cbrt}
    unary = st.tuples(st.sampled_from(sorted(one)), children).map(
        lambda t: (f"{t[0]}(x + ({t[1][0]}))", one[t[0]](x + t[1][1])))
    two = st.tuples(st.sampled_from(["atan2", "Max", "hypot"]), children, children).map(
        lambda t: (f"{t[0]}(x*({t[1][0]}), {t[2][0]})",
                   {"atan2": sympy.atan2, "Max": sympy.Max, "hypot": hypot}[t[0]](x * t[1][1], t[2][1])))
    where = st.tuples(children, children, st.sampled_from(["<", ">=", "!="])).map(
        lambda t: (f"where(x {t[2]} ({t[0][0]}), {t[0][0]}, {t[1][0]})",
                   sympy.Piecewise((t[0][1], {"<": sympy.Lt, ">=": sympy.Ge, "!=": sympy.Ne}[t[2]](x, t[0][1])),
                                   (t[1][1], True))))
    power = st.tuples(children, st.integers(1, 3)).map(
        lambda t: (f"({t[0][0]})**{t[1]}", t[0][1] ** t[1]))
    negate = children.map(lambda c: (f"-({c[0]})", -c[1]))
    return st.one_of(unary, two, where, power, negate)


_FORMULAS = st.recursive(_LEAVES, lambda c: st.one_of(_binary(c), _functions(c)), max_leaves=10)


@pytest.mark.slow
@settings(max_examples=100, deadline=None)
@given(_FORMULAS)
def test_round_trip(pair):
    text, expected = pair
    bad = expected.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo, sympy.I)
    if bad:
        with pytest.raises(ParseError):
            parse(text, variables=_NAMES)
        return
    assert parse(text, variables=_NAMES).exprs[0] == expected


# ------------------------------------------- constants of any leaves stay bounded

CONSTANT_TOWERS = [
    # (formula, position of the refused sub-expression)
    ("x*pi**pi**pi**pi**pi", 6),
    ("x*E**E**E**E**E", 5),
    ("2**E**E**E**E", 3),
    ("pi**pi**pi**pi", 0),
    ("2.5**pi**E**3", 0),
    ("sqrt(2)**pi**pi**pi", 0),
    ("exp(exp(exp(9)))*x", 4),
    ("x**pi**pi**pi**pi", 3),
    ("x*pi**1000", 2),
    ("sin(x) + 1/(pi**-(pi**pi**pi))", 9),
]


@pytest.mark.parametrize(("text", "position"), CONSTANT_TOWERS)
def test_constant_towers_are_refused_fast(text, position):
    err = _raises_fast(text, "too large \\(overflows float64\\)")
    assert err.position == position


@pytest.mark.parametrize("text", ["pi**pi**pi**pi**pi", "E**E**E**E**E", "2**E**E**E**E"])
def test_constant_towers_as_cli_numbers(text):
    # The CLI parses --at values this way; a tower must not hang it either.
    with pytest.raises(ParseError, match="too large"):
        finishes(lambda: parse(text, variables="_symgrad_dummy"))


def test_constants_formed_by_sympy_are_checked():
    # SymPy expands (pi*x)**1000 into pi**1000*x**1000: a constant nobody wrote.
    _raises_fast("(pi*x)**1000", "constant too large for float64")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("x*pi**pi**pi", float(sympy.pi ** (sympy.pi**sympy.pi))),
        ("x*pi**-(pi**pi**pi)", 0.0),       # far below float64: fine, it is 0.0
        ("x*exp(-pi**pi**pi)", 0.0),
        ("x*exp(exp(exp(1)))", 3814279.1047602),
        ("x*gamma(pi**pi)", float(sympy.gamma(sympy.pi**sympy.pi))),
    ],
)
def test_large_but_finite_constants(text, value):
    result = finishes(lambda: expr(text))
    coeff = float(sympy.N(result.subs(x, 1)))
    assert coeff == pytest.approx(value, rel=1e-12, abs=1e-300)


def test_log_of_a_tiny_constant_is_finite():
    value = finishes(lambda: expr("x + log(pi**-(pi**pi**pi))")) - x
    assert float(value) == pytest.approx(-float(sympy.pi**sympy.pi**sympy.pi * sympy.log(sympy.pi)))


@pytest.mark.parametrize(("text", "match"), [("x*(-2)**pi", "not a real number"),
                                             ("x*asin(2)", "not a real number"),
                                             ("x*log(0)", "infinite or undefined")])
def test_constant_kinds(text, match):
    _raises_fast(text, match)


# ------------------------------------------ accepted formulas compile end to end


def _composition(depth: int) -> tuple[str, float]:
    """cos(sin(cos(...x...))) and its derivative at 0.3 by the chain rule."""
    text, value, slope = "x", 0.3, 1.0
    for i in range(depth):
        text = ("sin(" if i % 2 else "cos(") + text + ")"
    for i in range(depth):
        if i % 2:
            slope *= math.cos(value)
            value = math.sin(value)
        else:
            slope *= -math.sin(value)
            value = math.cos(value)
    return text, slope


@pytest.mark.slow
def test_deep_composition_compiles():
    import symgrad

    text, slope = _composition(MAX_NESTING)
    f = symgrad.compile(text)
    assert f.gradient(0.3)[0] == pytest.approx(slope, rel=1e-10)


def test_composition_beyond_the_limit_is_refused():
    text, _ = _composition(MAX_NESTING + 1)
    # The caret is at the first '(' too many.
    assert _raises_fast(text, "nested too deeply").position == 4 * MAX_NESTING + 3


@pytest.mark.slow
def test_power_tower_hessian_compiles():
    import mpmath

    import symgrad

    text = "x" + "**x" * 9  # ten levels
    f = symgrad.compile(text)
    expected = mpmath.diff(lambda t: mpmath.power(t, _tower(t, 9)), 0.3, 2)
    assert f.hessian(0.3).item() == pytest.approx(float(expected), rel=1e-8)


def _tower(t, levels):
    import mpmath

    return t if levels == 1 else mpmath.power(t, _tower(t, levels - 1))


_TOO_TALL = MAX_POWER_TOWER + 1


@pytest.mark.parametrize("text", ["x" + "**x" * _TOO_TALL,
                                  "x**(" * _TOO_TALL + "x" + ")" * _TOO_TALL,
                                  "pow(x, " * _TOO_TALL + "y" + ")" * _TOO_TALL])
def test_power_tower_limit(text):
    _raises_fast(text, f"more than {MAX_POWER_TOWER} deep with variable exponents")


def test_power_tower_at_the_limit_and_constant_exponents_are_fine():
    assert parse("x" + "**x" * MAX_POWER_TOWER).variable_names == ("x",)
    assert expr("x**2**2**2") == x**16  # constant exponents are no tower


@pytest.mark.slow
def test_long_sum_compiles():
    import symgrad

    f = symgrad.compile(" + ".join(f"{i % 7}*x{i}" for i in range(MAX_CHAIN // 2)))
    [value] = f.evaluate_python(["value"], *([1.0] * f.n_variables))
    assert float(value) == sum(i % 7 for i in range(MAX_CHAIN // 2))


# -------------------------------------------------------------- bad characters


@pytest.mark.parametrize(
    ("text", "position", "what"),
    [
        ("x + \ud800", 4, "lone surrogate"),
        ("x + y\udfff", 5, "lone surrogate"),
        ("x\x00 + y", 1, "control character"),
        ("x + \x1b[31my", 4, "control character"),
        ("x + y  # \u202e comment", 9, "invisible formatting"),
        ("x\u200d + y", 1, "invisible formatting"),
        ("\ufeffx", 0, "invisible formatting"),
        ("x\x0b+ y", 1, "control character"),
    ],
)
def test_bad_characters(text, position, what):
    with pytest.raises(ParseError) as info:
        parse(text)
    assert info.value.position == position
    assert what in info.value.reason and "is not allowed in a formula" in info.value.reason
    # The message can be printed and encoded, and the caret still lines up.
    message = str(info.value)
    message.encode("utf-8")
    assert message.isascii() or all(c.isprintable() or c == "\n" for c in message)
    assert message.splitlines()[-1] == "    " + " " * position + "^"


def test_tabs_newlines_and_unicode_names_are_still_fine():
    assert expr("x\t+\r\n y\f") == x + y
    assert expr("α + x  # ünïcödé comment") == sym("α") + x


# ------------------------------------------------------------------------ hints


@pytest.mark.parametrize(("text", "position", "hint"),
                         [("sin x", 4, "write sin(x)"), ("exp 2", 4, "write exp(2)"),
                          ("log x + 1", 4, "write log(x)"), ("2*cos y", 6, "write cos(y)")])
def test_function_without_parentheses_hint(text, position, hint):
    with pytest.raises(ParseError) as info:
        parse(text)
    assert info.value.position == position
    assert info.value.reason.endswith(hint)
    assert "sin*" not in info.value.reason


def test_formula_type_message():
    for bad in (3.0, None, {"x": 1}):
        with pytest.raises(InputError) as info:
            parse(bad)
        assert str(info.value) == ("formula must be a string such as 'x**2 + y' (or a list of "
                                   f"them, or a SymPy expression), not {type(bad).__name__}")


def test_number_literals_of_a_product_are_rounded_once():
    # SymPy alone rounds 1/5 first: Float(3.0)*Rational(1, 5) is 0.6000000000000001.
    assert float(parse("3.0/5", variables="x").exprs[0]) == 3.0 / 5
    assert float(parse("2.5*x/4", variables="x").exprs[0].as_coeff_Mul()[0]) == 0.625
    assert parse("(3.0)/(5)*x", variables="x").exprs[0] == sympy.Float(0.6) * sympy.Symbol(
        "x", real=True)
