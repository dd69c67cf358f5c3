"""Stage 2 of parsing a formula string: ``ast.parse`` and the whitelisted conversion.

:func:`_parse_one` scans the text, parses it with :func:`ast.parse` (which only builds a
syntax tree) and walks the tree with :class:`_Converter`, which accepts only the
constructs of the grammar and builds every SymPy object itself.
"""

from __future__ import annotations

import ast
import difflib
import math
import warnings
from bisect import bisect_left
from collections.abc import Callable

import mpmath
import sympy

from .. import functions as _fn
from ..errors import ParseError
from .guards import (
    ConstantError,
    _beyond_float64,
    _check_final,
    _exact_power_bits,
    _is_big,
    _is_negative,
    _rational_bits,
    _tame_coefficients,
    _to_mpf,
    approx,
    constant_message,
    power_mpf,
)
from .names import CONSTANTS, FUNCTIONS, FunctionSpec, _symbol
from .scanner import (
    _FLOAT_MAX,
    _LAMBDA_MESSAGE,
    _MAX_INT_BITS,
    _NESTING_MESSAGE,
    MAX_CONDITION_TERMS,
    MAX_EXACT_BITS,
    MAX_INT_DIGITS,
    MAX_LENGTH,
    MAX_MINMAX_ARGS,
    MAX_NAME_LENGTH,
    MAX_NESTING,
    MAX_POWER_TOWER,
    _lambda_alias,
    _Positions,
    _rewrite,
    _scan,
    _syntax_error,
    _Token,
)

_where = _fn._where



def _syntax_tree(text: str) -> tuple[ast.Expression, list[_Token], _Positions, str]:
    """Scan ``text`` against the limits and parse it with :func:`ast.parse` only.

    Returns the tree, the tokens, the position map and the alias of ``lambda`` (the
    scalar and the indexed converters both start here).
    """
    if len(text) > MAX_LENGTH:
        err = ParseError(f"formula is {len(text)} characters long; the limit is {MAX_LENGTH}")
        err.formula = text
        raise err
    tokens, lambda_names = _scan(text)
    if not tokens:
        raise ParseError("empty formula", text, None)
    alias = _lambda_alias(tokens) if lambda_names else ""
    source = _rewrite(text, tokens, lambda_names, alias)
    # Wrapping in parentheses lets the formula span lines and start with spaces; the
    # scan has checked that the brackets balance, so the wrapper closes exactly at the end.
    wrapped = "(" + source + "\n)"
    positions = _Positions(wrapped, len(text))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "'int' object is not callable"
            tree = ast.parse(wrapped, mode="eval")
    except SyntaxError as exc:
        raise _syntax_error(exc, text, tokens, positions) from None
    except (MemoryError, RecursionError):
        # Backstop: the scan's limits should make this unreachable.
        raise ParseError("formula is too complex for Python's parser (too deeply nested)",
                         text, None) from None
    return tree, tokens, positions, alias


def _parse_one(text: str) -> tuple[sympy.Expr, dict[str, int]]:
    """Parse one formula string; return its expression and each symbol's first position."""
    tree, tokens, positions, alias = _syntax_tree(text)
    converter = _Converter(text, tokens, positions, alias)
    expr = converter.value(tree.body, 0)
    _check_final(expr, text, converter.memo)
    return expr, converter.first_seen


# ------------------------------------------------------------------------ conversion

_COMPARISONS: dict[type, tuple[str, Callable[..., sympy.Basic]]] = {
    ast.Lt: ("<", sympy.Lt),
    ast.LtE: ("<=", sympy.Le),
    ast.Gt: (">", sympy.Gt),
    ast.GtE: (">=", sympy.Ge),
    ast.Eq: ("==", sympy.Eq),
    ast.NotEq: ("!=", sympy.Ne),
}
_BAD_OPERATORS: dict[type, str] = {
    ast.FloorDiv: "//", ast.Mod: "%", ast.MatMult: "@", ast.BitAnd: "&",
    ast.BitOr: "|", ast.LShift: "<<", ast.RShift: ">>", ast.BitXor: "^",
}
_BAD_COMPARISONS: dict[type, str] = {ast.Is: "is", ast.IsNot: "is", ast.In: "in",
                                     ast.NotIn: "in"}
# What to call each rejected construct in an error message.
_CONSTRUCTS: dict[type, str] = {
    ast.Attribute: "attribute access (.name) is not allowed",
    ast.Subscript: ("subscripts (x[...]) need x declared as an array with its size: "
                    "symgrad.compile(..., variables='x[n]') (see symgrad.indexed)"),
    ast.Lambda: _LAMBDA_MESSAGE,
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "generator expressions are not allowed",
    ast.JoinedStr: "f-strings are not allowed",
    ast.Dict: "dicts are not allowed",
    ast.List: "lists are not allowed",
    ast.Set: "sets are not allowed",
    ast.Tuple: "tuples are not allowed (is there a stray comma?)",
    ast.Starred: "unpacking with * is not allowed",
    ast.NamedExpr: "assignment expressions (:=) are not allowed",
    ast.Await: "await is not allowed",
    ast.Yield: "yield is not allowed",
    ast.YieldFrom: "yield is not allowed",
    ast.Slice: "slices are not allowed",
}
_CONDITION_ONLY = ("comparisons and True/False are only allowed as the condition of "
                   "where(cond, a, b) or 'a if cond else b'")


class _Converter:
    """Build SymPy objects from a whitelisted syntax tree.

    ``value`` converts real-valued expressions and ``condition`` the conditions of
    ``where``/if-else; each rejects what the other accepts. Sum and product chains are
    flattened iteratively (they are not nesting); everything else recurses with a depth
    that is checked against MAX_NESTING.
    """

    def __init__(self, text: str, tokens: list[_Token], positions: _Positions, alias: str):
        self.text = text
        self.tokens = tokens
        self.token_starts = [t.start for t in tokens]
        self.positions = positions
        self.alias = alias
        self.first_seen: dict[str, int] = {}
        self.condition_terms = 0  # comparisons in the condition being converted
        self.memo: dict = {}  # constant -> its value (see guards.approx)
        self.towers: dict = {}  # expression -> height of its tower of symbolic powers

    # -- helpers

    def error(self, reason: str, where: ast.AST | int | None) -> ParseError:
        pos = self.positions.start(where) if isinstance(where, ast.AST) else where
        return ParseError(reason, self.text, pos)

    def op_position(self, after: int, ops: tuple[str, ...], any_kind: bool = False) -> int:
        """Index of the first operator token in ``ops`` at or after ``after``.

        ``any_kind`` also matches names (the word operators ``is``, ``in``, ``not``).
        """
        i = bisect_left(self.token_starts, after)
        for tok in self.tokens[i:]:
            if (any_kind or tok.kind == "op") and tok.text in ops:
                return tok.start
        return after

    def open_position(self, after: int) -> int:
        """Index of the first '(' at or after ``after``."""
        i = bisect_left(self.token_starts, after)
        for tok in self.tokens[i:]:
            if tok.kind == "open" and tok.text == "(":
                return tok.start
        return after

    def segment(self, node: ast.AST) -> str:
        """The source text of ``node``, shortened for messages."""
        seg = self.text[self.positions.start(node):self.positions.end(node)]
        return seg if len(seg) <= 40 else seg[:37] + "..."

    def name_of(self, node: ast.Name) -> str:
        return "lambda" if node.id == self.alias else node.id

    # -- values

    def value(self, node: ast.AST, depth: int) -> sympy.Expr:
        """Convert a real-valued expression."""
        if depth > MAX_NESTING:
            raise self.error(_NESTING_MESSAGE, node)
        if isinstance(node, ast.BinOp):
            if isinstance(node.op, (ast.Add, ast.Sub)):
                return self.chain(node, depth, (ast.Add, ast.Sub))
            if isinstance(node.op, (ast.Mult, ast.Div)):
                return self.chain(node, depth, (ast.Mult, ast.Div))
            if isinstance(node.op, ast.Pow):
                base = self.value(node.left, depth + 1)
                exp = self.value(node.right, depth + 1)
                return self.power(base, exp, node)
            raise self.bad_operator(node)
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.Constant):
            return self.constant(node)
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub):
                return -self.value(node.operand, depth + 1)
            if isinstance(node.op, ast.UAdd):
                return self.value(node.operand, depth + 1)
            if isinstance(node.op, ast.Not):
                raise self.error(_CONDITION_ONLY, node)
            raise self.error("'~' (bitwise not) is not allowed", node)
        if isinstance(node, ast.Call):
            return self.call(node, depth)
        if isinstance(node, ast.IfExp):
            cond = self.top_condition(node.test, depth + 1)
            return _where(cond, self.value(node.body, depth + 1), self.value(node.orelse, depth + 1))
        if isinstance(node, ast.Compare):
            op_pos = self.op_position(self.positions.end(node.left),
                                      ("<", "<=", ">", ">=", "==", "!=", "is", "in", "not"),
                                      any_kind=True)
            raise self.error(_CONDITION_ONLY, op_pos)
        if isinstance(node, ast.BoolOp):
            raise self.error(_CONDITION_ONLY, node)
        raise self.rejected(node)

    def rejected(self, node: ast.AST) -> ParseError:
        reason = _CONSTRUCTS.get(type(node), f"{type(node).__name__} is not allowed in a formula")
        where: ast.AST | int = node
        if isinstance(node, ast.Attribute):
            # Point at the dot, the start of the offending part.
            where = self.op_position(self.positions.end(node.value), (".",))
        elif isinstance(node, ast.NamedExpr):
            where = self.op_position(self.positions.end(node.target), (":=",))
        return self.error(reason, where)

    def bad_operator(self, node: ast.BinOp) -> ParseError:
        symbol = _BAD_OPERATORS[type(node.op)]
        pos = self.op_position(self.positions.end(node.left), (symbol,))
        if symbol == "^":
            return self.error("'^' is bitwise XOR in Python, not a power; write x**2 for a power", pos)
        return self.error(f"operator {symbol!r} is not allowed (use + - * / ** and functions "
                          "such as floor)", pos)

    def chain(self, node: ast.BinOp, depth: int, ops: tuple[type, type]) -> sympy.Expr:
        """Flatten a left-deep chain of + and - (or * and /) into one Add (Mul)."""
        operands: list[tuple[ast.BinOp | None, ast.AST]] = []
        cur: ast.AST = node
        while isinstance(cur, ast.BinOp) and isinstance(cur.op, ops):
            operands.append((cur, cur.right))
            cur = cur.left
        operands.append((None, cur))
        operands.reverse()
        is_sum = ops[0] is ast.Add
        values = []
        for parent, operand in operands:
            v = self.value(operand, depth)
            if parent is not None and isinstance(parent.op, ast.Sub):
                v = -v
            elif parent is not None and isinstance(parent.op, ast.Div):
                if v.is_Number and v.is_zero:
                    pos = self.op_position(self.positions.end(parent.left), ("/",))
                    raise self.error("division by zero", pos)
                v = sympy.Pow(v, -1)
            values.append(v)
        if not is_sum:
            values = _exact_numeric_product(values)
        values = _tame_coefficients(values)
        result = sympy.Add(*values) if is_sum else sympy.Mul(*values)
        if not result.free_symbols:
            self.check_constant(result, node)
        return result

    def name(self, node: ast.Name) -> sympy.Expr:
        name = self.name_of(node)
        if name in CONSTANTS:
            return CONSTANTS[name]
        if len(name) > MAX_NAME_LENGTH:
            raise self.error(f"name is longer than {MAX_NAME_LENGTH} characters", node)
        pos = self.positions.start(node)
        if name not in self.first_seen or pos < self.first_seen[name]:
            self.first_seen[name] = pos
        return _symbol(name)

    def constant(self, node: ast.Constant) -> sympy.Expr:
        value = node.value
        if isinstance(value, bool):
            raise self.error(_CONDITION_ONLY, node)
        if isinstance(value, int):
            if value.bit_length() > _MAX_INT_BITS:
                raise self.error(f"integer literal is too long (the limit is {MAX_INT_DIGITS} "
                                 "digits)", node)
            number = sympy.Integer(value)
            if _beyond_float64(number):
                raise self.error("number overflows float64 (largest finite is 1.8e308)", node)
            return number
        if isinstance(value, float):
            if math.isinf(value):
                raise self.error("number overflows float64 (largest finite is 1.8e308)", node)
            return sympy.Float(value)
        if isinstance(value, complex):
            raise self.error("complex numbers are not supported (formulas are real-valued)", node)
        if isinstance(value, (str, bytes)):
            raise self.error("strings are not allowed in a formula", node)
        raise self.error(f"{value!r} is not allowed in a formula", node)

    # -- calls

    def call(self, node: ast.Call, depth: int) -> sympy.Expr:
        func = node.func
        if not isinstance(func, ast.Name):
            if isinstance(func, ast.Constant) and isinstance(func.value, (int, float)):
                raise self.error(f"a number cannot be called; write {self.segment(func)}*(...) "
                                 "for multiplication", self.positions.end(func))
            raise self.error("only functions from the function table can be called "
                             "(name(args)); for multiplication write (...)*(...)",
                             self.open_position(self.positions.end(func)))
        for kw in node.keywords:
            if kw.arg is None:
                raise self.error("unpacking with ** is not allowed", kw)
            raise self.error(f"keyword arguments are not allowed ({kw.arg}=...); pass "
                             "arguments by position", kw)
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise self.error("unpacking with * is not allowed", arg)
        name = self.name_of(func)
        spec = FUNCTIONS.get(name)
        if spec is None:
            raise self.error(_unknown_function(name), func)
        self.check_arity(name, spec, node)
        if name == "where":
            cond = self.top_condition(node.args[0], depth + 1)
            a, b = (self.value(arg, depth + 1) for arg in node.args[1:])
            return _where(cond, a, b)
        args = [self.value(arg, depth + 1) for arg in node.args]
        if name == "pow":
            return self.power(args[0], args[1], node)
        if spec.impl in (sympy.Min, sympy.Max):
            count = sum(len(a.args) if isinstance(a, spec.impl) else 1 for a in args)
            if count > MAX_MINMAX_ARGS:
                raise self.error(f"{name}() of more than {MAX_MINMAX_ARGS} values is not "
                                 "supported (SymPy becomes very slow)", node.func)
        if (spec.numeric and all(not a.free_symbols for a in args)
                and any(_is_big(a, self.memo) for a in args)):
            return self.numeric_call(name, spec, args, node)
        result = spec.impl(*args)
        if not result.free_symbols:
            self.check_constant(result, node)
        return result

    def check_arity(self, name: str, spec: FunctionSpec, node: ast.Call) -> None:
        given = len(node.args)
        lo, hi = spec.min_args, spec.max_args
        if lo <= given and (hi is None or given <= hi):
            return
        if hi is None:
            expected = f"at least {lo} arguments"
        elif lo == hi:
            expected = f"{lo} argument" + ("s" if lo != 1 else "")
        else:
            expected = f"{lo} or {hi} arguments" if hi == lo + 1 else f"{lo} to {hi} arguments"
        raise self.error(f"{name}() takes {expected} ({given} given)", node.func)

    def numeric_call(self, name: str, spec: FunctionSpec, args: list[sympy.Expr],
                     node: ast.Call) -> sympy.Expr:
        """Evaluate a function of large constant arguments in float64 precision."""
        floats = []
        for arg in args:
            value = _to_mpf(arg, self.memo)
            if value is None or not mpmath.isfinite(value) or abs(value) > _FLOAT_MAX:
                raise self.error(f"an argument of {name}() overflows float64", node)
            floats.append(sympy.Float(value, 15))
        result = spec.impl(*floats)
        if not result.is_Number:
            result = result.evalf(15)
        return self.check_constant(result, node)

    def check_constant(self, value: sympy.Expr, node: ast.AST) -> sympy.Expr:
        """Reject a constant that is infinite, undefined, not real, or beyond float64."""
        try:
            approx(value, self.memo)
        except ConstantError as exc:
            raise self.error(constant_message(exc.kind, self.segment(node)), node) from None
        return value

    # -- powers

    def power(self, base: sympy.Expr, exp: sympy.Expr, node: ast.AST) -> sympy.Expr:
        """``base**exp``, guarding against constants too large to compute exactly."""
        if not base.free_symbols and not exp.free_symbols:
            if exp.is_Rational and not exp.is_Integer and _is_negative(base, self.memo):
                raise self.error(f"{self.segment(node)} is not a real number (a negative "
                                 "number to a fractional power; use cbrt for cube roots)", node)
            if _exact_power_bits(base, exp, self.memo) > MAX_EXACT_BITS:
                return self.numeric_power(base, exp, node)
            return self.check_constant(sympy.Pow(base, exp), node)
        if exp.is_Rational and not exp.free_symbols:
            # (c*x)**n expands c**n exactly: keep that bounded too.
            coeff, rest = base.as_coeff_Mul()
            if (coeff.is_Rational and abs(coeff) != 1
                    and _rational_bits(coeff) * abs(exp) > MAX_EXACT_BITS):
                base = sympy.Float(_to_mpf(coeff, self.memo), 15) * rest
        result = sympy.Pow(base, exp)
        if exp.free_symbols and self.tower(result) > MAX_POWER_TOWER:
            raise self.error(f"powers are stacked more than {MAX_POWER_TOWER} deep with "
                             "variable exponents (x**x**...); their derivatives grow too "
                             "large to compile", node)
        return result

    def tower(self, expr: sympy.Basic) -> int:
        """Height of the tower of powers with non-constant exponents in ``expr``."""
        height = self.towers.get(expr)
        if height is None:
            height = max((self.tower(a) for a in expr.args), default=0)
            if expr.is_Pow and expr.args[1].free_symbols:
                height += 1
            self.towers[expr] = height
        return height

    def numeric_power(self, base: sympy.Expr, exp: sympy.Expr, node: ast.AST) -> sympy.Expr:
        try:
            with mpmath.workprec(64):
                value = power_mpf(approx(base, self.memo), approx(exp, self.memo), exp)
            if not mpmath.isfinite(value) or abs(value) > _FLOAT_MAX:
                raise ConstantError("large")
        except ConstantError as exc:
            raise self.error(constant_message(exc.kind, self.segment(node)), node) from None
        return sympy.Float(float(value))

    # -- conditions

    def top_condition(self, node: ast.AST, depth: int) -> sympy.Basic:
        """Convert a whole condition, counting its comparisons afresh."""
        outer, self.condition_terms = self.condition_terms, 0
        try:
            return self.condition(node, depth)
        finally:
            self.condition_terms = outer

    def condition(self, node: ast.AST, depth: int) -> sympy.Basic:
        """Convert the condition of where(...) or if-else."""
        if depth > MAX_NESTING:
            raise self.error(_NESTING_MESSAGE, node)
        if isinstance(node, ast.Compare):
            return self.compare(node, depth)
        if isinstance(node, ast.BoolOp):
            parts = [self.condition(v, depth) for v in node.values]
            return sympy.And(*parts) if isinstance(node.op, ast.And) else sympy.Or(*parts)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return sympy.Not(self.condition(node.operand, depth + 1))
        if isinstance(node, ast.Constant) and isinstance(node.value, bool):
            return sympy.true if node.value else sympy.false
        raise self.error("a condition must be a comparison such as x > 0 (combined with "
                         "and/or/not)", node)

    def compare(self, node: ast.Compare, depth: int) -> sympy.Basic:
        operands = [self.value(node.left, depth)]
        relations = []
        left_node: ast.AST = node.left
        self.condition_terms += len(node.ops)
        if self.condition_terms > MAX_CONDITION_TERMS:
            raise self.error(f"a condition may contain at most {MAX_CONDITION_TERMS} "
                             "comparisons", node)
        for op, right_node in zip(node.ops, node.comparators):
            if type(op) in _BAD_COMPARISONS:
                word = _BAD_COMPARISONS[type(op)]
                pos = self.op_position(self.positions.end(left_node), (word,), any_kind=True)
                raise self.error(f"'{word}' is not allowed in a condition; use == or !=", pos)
            right = self.value(right_node, depth)
            _, make = _COMPARISONS[type(op)]
            try:
                relations.append(make(operands[-1], right))
            except TypeError as exc:  # SymPy refuses to compare non-real numbers
                raise self.error(f"cannot compare: {exc}", node) from None
            operands.append(right)
            left_node = right_node
        return relations[0] if len(relations) == 1 else sympy.And(*relations)


def _exact_numeric_product(values: list[sympy.Expr]) -> list[sympy.Expr]:
    """Multiply a product's number literals exactly, rounding to float64 once.

    SymPy multiplies ``Float(3.0)*Rational(1, 5)`` by rounding 1/5 first, so
    ``3.0/5`` would come out one ulp away from 0.6; the exact product of the literals'
    binary values, rounded once, is what ``3.0/5`` means.
    """
    numbers = [v for v in values if v.is_Number and v.is_finite]
    if len(numbers) < 2 or not any(v.is_Float for v in numbers):
        return values
    exact = sympy.Integer(1)
    for v in numbers:
        exact *= sympy.Rational(v)  # a Float's exact binary value
        if _rational_bits(exact) > MAX_EXACT_BITS:
            return values  # a huge exact product: leave it to the float guards
    rest = [v for v in values if not (v.is_Number and v.is_finite)]
    return [sympy.Float(exact, 15), *rest]


def _unknown_function(name: str) -> str:
    """The message for a call of a name that is not in FUNCTIONS."""
    if name in ("sum", "prod", "range"):
        return (f"{name}() belongs to indexed formulas: in Python, symgrad.compile("
                "'sum(x[i]**2 for i in range(n))', variables='x[n]') (see symgrad.indexed); "
                "the command line and SymPy input take scalar formulas only")
    lowered = {k.lower(): k for k in FUNCTIONS}
    match = [lowered[name.lower()]] if name.lower() in lowered else \
        difflib.get_close_matches(name, list(FUNCTIONS), n=1, cutoff=0.6)
    if match:
        return f"unknown function {name!r}; did you mean {match[0]!r}?"
    return (f"unknown function {name!r} (see symgrad.parse.FUNCTIONS); for multiplication "
            f"write {name}*(...)")


