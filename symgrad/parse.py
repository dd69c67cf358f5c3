"""Turn formula strings into SymPy expressions, safely.

This module is a security boundary: a formula string is never passed to ``eval``,
``sympify``, ``parse_expr`` or anything else that executes or interprets it. It is
parsed with :func:`ast.parse` (which only builds a syntax tree) and the tree is walked
against a whitelist; every SymPy object is built by this module.

Grammar
-------
A formula is one expression in Python syntax, restricted to:

* **numbers**: integer and float literals (``3``, ``2.5``, ``1e-3``, ``1_000``,
  ``0x1F``). No complex literals (``1j``), strings, bytes or ``None``.
* **arithmetic**: ``+ - * / **`` and unary ``+ -``. ``x^2`` is an error: ``^`` is
  bitwise XOR in Python, not a power; write ``x**2``. ``// % @ & | << >> ~`` are errors.
* **function calls** ``name(arg, ...)`` with ``name`` in :data:`FUNCTIONS`,
  positional arguments only, with the documented number of arguments.
* **conditionals**: ``where(cond, a, b)`` or ``a if cond else b``, both meaning "a
  where cond holds, else b" (a ``sympy.Piecewise``). A condition is built from
  comparisons ``< <= > >= == !=`` (chains such as ``0 < x < 1`` work), ``and``,
  ``or``, ``not``, ``True`` and ``False``. Comparisons and booleans are allowed *only*
  as such a condition.
* **names**, by the name rule below, and newlines and ``#`` comments anywhere
  (a formula may span several lines, e.g. a triple-quoted string).

Anything else (attribute access, subscripts, lambdas, comprehensions, strings,
containers, keyword arguments, ``*`` unpacking, ``:=``, implicit multiplication such
as ``2x``) is rejected with a :class:`~symgrad.errors.ParseError` whose ``position``
is the 0-based character index of the offending spot, shown with a caret.

The name rule
-------------
A name followed by ``(`` is a function from :data:`FUNCTIONS`. Every other name is a
real-valued symbol (a variable or a parameter), except the two constants ``pi`` and
``E`` (Euler's number), see :data:`CONSTANTS`. SymPy's special names (``I``, ``N``,
``S``, ``Q``, ``O``, ``beta``, ``gamma``, ``zeta``, ...) have no special meaning:
``gamma*x`` is a symbol named ``gamma`` times ``x``; ``gamma(x)`` is the Gamma
function. ``lambda`` (a Python keyword) is allowed as a symbol name; other Python
keywords are not. Names are at most :data:`MAX_NAME_LENGTH` characters and are
NFKC-normalized (as Python does), so ``ﬁ`` and ``fi`` are the same name. Every symbol
is ``sympy.Symbol(name, real=True)``.

Variables and parameters
------------------------
Variables are differentiated; parameters are not. When ``variables`` is not given,
every symbol that is not a parameter is a variable, in *natural* order: names are
compared as runs of digits (by numeric value) and non-digits (as text), so ``x2``
comes before ``x10`` and ``x0 ... x99`` come out in numeric order; ties (``x01`` vs
``x1``) fall back to plain string order. When ``variables`` is given, that order is
kept exactly, and listed variables need not occur in the formula (their derivative is
0). Likewise for ``params``. A symbol that is neither a variable nor a parameter is an
:class:`~symgrad.errors.InputError`. Names may be given as ``"x y"``, ``"x, y"`` or
``["x", "y"]``.

Limits
------
Bad input fails fast with a clear message instead of hanging or crashing:

* :data:`MAX_LENGTH` characters per formula.
* :data:`MAX_NESTING` levels of nesting, counting parentheses (including those of
  function calls), unary signs, powers (``x**y**z`` is 2 levels) and conditionals.
  Long flat sums and products (``x0 + x1 + ... + x999``) are *not* nesting.
* :data:`MAX_CHAIN` binary operators in one sum/product chain (Python's own parser
  builds a tree as deep as the chain); group longer ones with parentheses.
* Integer literals of at most :data:`MAX_INT_DIGITS` digits; float literals must be
  finite in float64.
* At most :data:`MAX_MINMAX_ARGS` values in one ``Min``/``Max`` and
  :data:`MAX_CONDITION_TERMS` comparisons in one condition (SymPy's simplification
  of these is quadratic or worse).

Conventions
-----------
* Numbers are exact: ``0.1`` becomes ``sympy.Float(0.1)`` (the exact float64 value),
  integers and their quotients stay exact rationals.
* Constant sub-expressions are folded by SymPy as usual, but a constant whose exact
  value would exceed :data:`MAX_EXACT_BITS` bits (``9**9**9``), and a function of a
  large constant argument (``|arg| > 1e4``, e.g. ``gamma(10**8)``), are evaluated in
  float64 precision instead. A constant outside float64's range, a constant that is
  not real (``sqrt(-1)``) or infinite/undefined (``1/0``) is a ParseError.
* ``log(x, b)`` is ``log(x)/log(b)``; ``atan2(y, x)`` has ``math.atan2``'s argument
  order; ``Heaviside(0) == 1/2``; ``floor``/``ceiling`` have derivative 0.
* ``sinc(x)`` is the UNNORMALIZED ``sin(x)/x`` (1 at 0), as in SymPy and most math
  texts, NOT ``numpy.sinc`` (which is ``sin(pi*x)/(pi*x)``: write ``sinc(pi*x)``).
* ``logistic(x)`` (aliases ``sigmoid``, ``expit``) is ``1/(1 + exp(-x))``;
  ``softplus(x) = log(1 + exp(x))``; ``logaddexp(a, b) = log(exp(a) + exp(b))``; all
  three are evaluated without overflow. ``xlogy(x, y) = x*log(y)`` is 0 wherever
  ``x == 0`` and ``y`` is not NaN (``scipy.special.xlogy``), its derivatives are NaN
  for ``y < 0``. ``exp2(x) = 2**x``. ``clip(x, lo, hi) = Min(Max(x, lo), hi)`` (its
  derivative is 1/2 at ``x == lo`` or ``x == hi``).
* ``sech``, ``csch``, ``coth``, ``acot``, ``asec``, ``acsc``, ``acoth``, ``asech``,
  ``acsch`` (aliases ``arc...``) are SymPy's real functions: ``acot(x) = atan(1/x)``
  (odd, in ``(-pi/2, pi/2]``), ``asec``/``acsc``/``acoth`` need ``|x| >= 1``,
  ``asech`` needs ``0 <= x <= 1``. The full table: ``symgrad.functions.REGISTRY``.
"""

from __future__ import annotations

import ast
import difflib
import keyword
import math
import re
import sys
import unicodedata
import warnings
from bisect import bisect_left
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import NamedTuple

import mpmath
import sympy

from symgrad import functions as _fn
from symgrad.errors import InputError, ParseError

__all__ = [
    "Formula",
    "parse",
    "parse_names",
    "FunctionSpec",
    "FUNCTIONS",
    "CONSTANTS",
    "MAX_LENGTH",
    "MAX_NESTING",
    "MAX_CHAIN",
    "MAX_INT_DIGITS",
    "MAX_NAME_LENGTH",
    "MAX_EXACT_BITS",
    "MAX_MINMAX_ARGS",
    "MAX_CONDITION_TERMS",
    "BIG_ARGUMENT",
    "natural_key",
]

# ----------------------------------------------------------------------------- limits

#: Longest formula string accepted, in characters (checked before anything else).
MAX_LENGTH = 100_000
#: Deepest nesting of parentheses, calls, unary signs, powers and conditionals.
MAX_NESTING = 60
#: Most binary operators in one chain such as ``a + b - c + ...`` (CPython's parser
#: recurses once per operator when it builds the tree; ~3000 would crash it).
MAX_CHAIN = 2_000
#: Most arguments of Min/Max (after flattening nested Min/Max): SymPy compares the
#: arguments pairwise, which takes seconds beyond a few dozen.
MAX_MINMAX_ARGS = 16
#: Most comparisons in one condition (SymPy's And/Or simplify pairwise as well).
MAX_CONDITION_TERMS = 64
#: Most digits in an integer literal (CPython refuses more than 4300).
MAX_INT_DIGITS = 4_000
#: Longest variable, parameter or symbol name.
MAX_NAME_LENGTH = 64
#: Largest exact constant (in bits) that constant folding may build; beyond it the
#: constant is computed in float64 precision (SymPy would otherwise hang on ``9**9**9``).
MAX_EXACT_BITS = 10_000
#: A function of a constant argument larger than this (in absolute value) is evaluated
#: numerically (``gamma(10**8)`` would otherwise be computed exactly).
BIG_ARGUMENT = 1e4

_FLOAT_MAX = sys.float_info.max
# Largest integer whose bit length is allowed for non-decimal literals (0x...).
_MAX_INT_BITS = int(MAX_INT_DIGITS * math.log2(10)) + 1

# ------------------------------------------------------------------- function table

#: Kept for code that names the type of a function entry.
FunctionSpec = _fn.Function

#: The user-facing function names: name -> entry of the function registry
#: (``symgrad.functions``), aliases included.
FUNCTIONS: Mapping[str, _fn.Function] = _fn.BY_NAME
_where = _fn._where

#: The only names that are not symbols (when not followed by ``(``).
CONSTANTS: Mapping[str, sympy.Expr] = MappingProxyType({"pi": sympy.pi, "E": sympy.E})

# ---------------------------------------------------------------------------- Formula


@dataclass(frozen=True)
class Formula:
    """A parsed formula (or vector of formulas).

    Attributes
    ----------
    sources : tuple of str
        The formula strings as given (one for a scalar formula).
    exprs : tuple of sympy.Expr
        One SymPy expression per formula.
    variables : tuple of sympy.Symbol
        The differentiated inputs, in order (see the module docstring).
    params : tuple of sympy.Symbol
        The inputs that are not differentiated, in the order given.
    is_vector : bool
        True when a sequence of formulas was parsed.
    """

    sources: tuple[str, ...]
    exprs: tuple[sympy.Expr, ...]
    variables: tuple[sympy.Symbol, ...]
    params: tuple[sympy.Symbol, ...]
    is_vector: bool = False

    @property
    def variable_names(self) -> tuple[str, ...]:
        """Names of :attr:`variables`, in order."""
        return tuple(v.name for v in self.variables)

    @property
    def param_names(self) -> tuple[str, ...]:
        """Names of :attr:`params`, in order."""
        return tuple(p.name for p in self.params)


# ------------------------------------------------------------------------ public API


def parse(
    formula: str | Sequence[str],
    variables: str | Sequence[str] | None = None,
    params: str | Sequence[str] | None = None,
) -> Formula:
    """Parse a formula string (or a sequence of them) into a :class:`Formula`.

    Parameters
    ----------
    formula : str or sequence of str
        The formula, in the grammar of this module's docstring. A sequence (list,
        tuple) makes a vector-valued formula.
    variables : str or sequence of str, optional
        The differentiated inputs, in order (``"x y"``, ``"x, y"`` or ``["x", "y"]``).
        Default: every symbol that is not a parameter, in natural order.
    params : str or sequence of str, optional
        Inputs that are not differentiated, in order.

    Returns
    -------
    Formula

    Raises
    ------
    ParseError
        The formula is not in the grammar or exceeds a limit.
    InputError
        Bad argument types or names, or a symbol that is neither a variable nor a
        parameter, or no variables at all.
    """
    sources, is_vector = _check_formula_arg(formula)
    var_names = None if variables is None else parse_names(variables, "variables")
    param_names = parse_names(params, "params")
    _check_disjoint(var_names, param_names)

    exprs = []
    first_seen: list[dict[str, int]] = []
    for index, source in enumerate(sources):
        try:
            expr, seen = _parse_one(source)
        except ParseError as err:
            if not is_vector:
                raise
            raise _prefixed(err, index, len(sources)) from None
        exprs.append(expr)
        first_seen.append(seen)

    param_set = set(param_names)
    if var_names is None:
        found = {name for seen in first_seen for name in seen} - param_set
        var_names = tuple(sorted(found, key=natural_key))
    else:
        _check_known(sources, first_seen, set(var_names) | param_set, is_vector)
    if not var_names:
        raise InputError("formula has no variables; pass variables='x' to evaluate it over points")

    return Formula(
        sources=tuple(sources),
        exprs=tuple(exprs),
        variables=tuple(_symbol(n) for n in var_names),
        params=tuple(_symbol(n) for n in param_names),
        is_vector=is_vector,
    )


def parse_names(spec: str | Sequence[str] | None, what: str = "variables") -> tuple[str, ...]:
    """Split and validate a list of names.

    Parameters
    ----------
    spec : str, sequence of str or None
        ``"x y"``, ``"x, y"``, ``"x,y"`` or ``["x", "y"]``; None means no names.
    what : str
        What the names are, for error messages (``"variables"`` or ``"params"``).

    Returns
    -------
    tuple of str
        The NFKC-normalized names, in the order given.

    Raises
    ------
    InputError
        A name is not a valid identifier, is a Python keyword (other than ``lambda``),
        is ``pi`` or ``E``, is longer than ``MAX_NAME_LENGTH``, or is repeated.
    """
    if spec is None:
        return ()
    if isinstance(spec, str):
        raw = [p for p in re.split(r"[\s,]+", spec) if p]
    elif isinstance(spec, Sequence) and not isinstance(spec, (bytes, bytearray)):
        raw = list(spec)
    else:
        raise InputError(f"{what} must be a string such as 'x y' or a list of names, "
                         f"not {type(spec).__name__}")
    names: list[str] = []
    for item in raw:
        if not isinstance(item, str):
            raise InputError(f"{what} must contain names (str), not {type(item).__name__}: {item!r}")
        name = unicodedata.normalize("NFKC", item)
        _check_name(name, what)
        if name in names:
            raise InputError(f"{what}: {name!r} is listed twice")
        names.append(name)
    return tuple(names)


def natural_key(name: str) -> tuple[list[str | int], str]:
    """Sort key for the natural order of names (``x2`` before ``x10``).

    Digit runs compare by numeric value, other runs as text; ties (``x01``, ``x1``) are
    broken by plain string order.
    """
    parts = re.split(r"(\d+)", name)
    # re.split with a group alternates text, digits, text, ...: odd indexes are digits,
    # so two keys always compare int with int and str with str.
    return [int(p) if i % 2 else p for i, p in enumerate(parts)], name


# ------------------------------------------------------------- argument validation


def _check_formula_arg(formula: object) -> tuple[list[str], bool]:
    """Return the formula strings and whether a sequence was given."""
    if isinstance(formula, str):
        return [formula], False
    if isinstance(formula, Sequence) and not isinstance(formula, (bytes, bytearray)):
        items = list(formula)
        if not items:
            raise InputError("formula is an empty sequence; pass at least one formula string")
        for i, item in enumerate(items, 1):
            if not isinstance(item, str):
                raise InputError(f"formula {i} of {len(items)} must be a str, "
                                 f"not {type(item).__name__}")
        return items, True
    raise InputError(f"formula must be a str or a sequence of str, not {type(formula).__name__}")


def _check_name(name: str, what: str) -> None:
    """Raise InputError unless ``name`` may be a symbol name."""
    if not name:
        raise InputError(f"{what}: empty name")
    if len(name) > MAX_NAME_LENGTH:
        raise InputError(f"{what}: name {name[:20]!r}... is longer than {MAX_NAME_LENGTH} characters")
    if not name.isidentifier():
        raise InputError(f"{what}: {name!r} is not a valid name (letters, digits and _, "
                         "not starting with a digit)")
    if keyword.iskeyword(name) and name != "lambda":
        raise InputError(f"{what}: {name!r} is a Python keyword and cannot be a name")
    if name in CONSTANTS:
        raise InputError(f"{what}: {name!r} is a constant ({CONSTANTS[name]}), not a name")


def _check_disjoint(var_names: tuple[str, ...] | None, param_names: tuple[str, ...]) -> None:
    both = [n for n in (var_names or ()) if n in param_names]
    if both:
        raise InputError(f"{both[0]!r} is in both variables and params; it must be one or the other")


def _check_known(sources: list[str], first_seen: list[dict[str, int]],
                 known: set[str], is_vector: bool) -> None:
    """Raise InputError for the first symbol that is neither a variable nor a param."""
    for index, (source, seen) in enumerate(zip(sources, first_seen)):
        unknown = [n for n in seen if n not in known]
        if unknown:
            name = min(unknown, key=seen.__getitem__)
            where = f"formula {index + 1} of {len(sources)} " if is_vector else "formula "
            reason = (f"{where}uses {name!r}, which is neither a variable nor a parameter; "
                      f"add {name!r} to variables= or params=")
            raise InputError(str(ParseError(reason, source, seen[name])))


def _prefixed(err: ParseError, index: int, count: int) -> ParseError:
    return ParseError(f"formula {index + 1} of {count}: {err.reason}", err.formula, err.position)


def _symbol(name: str) -> sympy.Symbol:
    return sympy.Symbol(name, real=True)


# ------------------------------------------------------------------- parsing one string


def _parse_one(text: str) -> tuple[sympy.Expr, dict[str, int]]:
    """Parse one formula string; return its expression and each symbol's first position."""
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
    converter = _Converter(text, tokens, positions, alias)
    expr = converter.value(tree.body, 0)
    _check_final(expr, text)
    return expr, converter.first_seen


# --------------------------------------------------------------------------- scanning


class _Token(NamedTuple):
    kind: str  # "name", "number", "op", "open", "close"
    text: str
    start: int
    end: int


_TOKEN_RE = re.compile(
    r"""
    (?P<ws>(?:[ \t\f\r\n]|\\\r?\n)+)
    |(?P<comment>\#[^\r\n]*)
    |(?P<string>[rRbBuUfF]{0,2}['"])
    |(?P<number>
        0[xX](?:_?[0-9a-fA-F])+ | 0[bB](?:_?[01])+ | 0[oO](?:_?[0-7])+
        | (?:[0-9](?:_?[0-9])*(?:\.(?:[0-9](?:_?[0-9])*)?)? | \.[0-9](?:_?[0-9])*)
          (?:[eE][+-]?[0-9](?:_?[0-9])*)?[jJ]?
      )
    |(?P<name>[^\W\d]\w*)
    |(?P<op>\*\*|//|<<|>>|<=|>=|==|!=|:=|->|[-+*/%@&|^~<>=.,:;!])
    |(?P<open>[(\[{])
    |(?P<close>[)\]}])
    |(?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)
_CLOSING = {"(": ")", "[": "]", "{": "}"}
# Keywords that the grammar uses, or that belong to constructs rejected with a specific
# message once parsed (comprehensions, await, yield); other keywords are never names.
_SYNTAX_KEYWORDS = {"if", "else", "and", "or", "not", "is", "in", "for", "async", "await",
                    "yield", "from", "lambda", "True", "False", "None"}
_OPERAND_KEYWORDS = {"True", "False", "None"}
_WORD_RE = re.compile(r"\w*")
_NESTING_MESSAGE = (f"formula is nested too deeply: more than {MAX_NESTING} levels of "
                    "parentheses, function calls, unary signs, powers and conditionals")


class _Level:
    """Scanner state for one bracket level."""

    __slots__ = ("opener", "start", "unary", "ifexp", "chain", "lambdas")

    def __init__(self, opener: str, start: int):
        self.opener = opener
        self.start = start
        self.unary = 0  # unary signs and ** since the last lower-precedence operator
        self.ifexp = 0  # conditionals nest through every binary operator
        self.chain = 0  # binary operators in the current chain
        self.lambdas: list[int] = []  # indexes of pending 'lambda' tokens


def _scan(text: str) -> tuple[list[_Token], set[int]]:
    """Tokenize ``text`` just enough to enforce the limits before CPython's parser runs.

    Returns the tokens (without whitespace and comments) and the indexes of the
    ``lambda`` tokens that are names rather than lambda expressions.
    """
    tokens: list[_Token] = []
    stack = [_Level("", 0)]
    lambda_names: set[int] = set()
    prev_operand = False
    pos, n = 0, len(text)
    while pos < n:
        m = _TOKEN_RE.match(text, pos)
        kind = m.lastgroup
        start, pos = m.start(), m.end()
        if kind in ("ws", "comment"):
            continue
        if kind == "name":
            pos = _extend_name(text, pos)
        tok = _Token(kind, text[start:pos], start, pos)
        level = stack[-1]
        if kind == "string":
            prefix = tok.text[:-1].lower()
            what = "f-strings are" if "f" in prefix else "bytes are" if "b" in prefix else "strings are"
            raise ParseError(f"{what} not allowed in a formula", text, start)
        if kind == "other":
            if tok.text.isidentifier() or ("a" + tok.text).isidentifier():
                pos = _extend_name(text, pos)
                tok = _Token("name", text[start:pos], start, pos)
                kind = "name"
            else:
                raise ParseError(f"character {tok.text!r} is not allowed in a formula", text, start)
        if kind == "number":
            _check_int_literal(tok, text)
        if kind == "open":
            stack.append(_Level(tok.text, start))
            prev_operand = False
        elif kind == "close":
            if len(stack) == 1:
                raise ParseError(f"unmatched {tok.text!r}: there is no opening bracket for it",
                                 text, start)
            closed = stack.pop()
            if _CLOSING[closed.opener] != tok.text:
                raise ParseError(f"{tok.text!r} does not match {closed.opener!r} (opened at "
                                 f"position {closed.start})", text, start)
            lambda_names.update(closed.lambdas)
            prev_operand = True
        elif kind == "op":
            op = tok.text
            _check_operator(tok, prev_operand, len(stack) == 1, text)
            if op in ("+", "-", "~") and not prev_operand:
                level.unary += 1  # a unary sign nests its operand
            elif op == "**":
                level.unary += 1
                level.chain += 1
            else:
                level.unary = 0
                if op in (",", ":", ";", ":="):
                    level.ifexp = level.chain = 0
                    if op == ":":  # the pending lambdas of this level are expressions
                        level.lambdas.clear()
                else:
                    level.chain += 1
            prev_operand = False
        elif kind == "name":
            word = tok.text
            if word == "lambda":
                level.lambdas.append(len(tokens))
                prev_operand = True
            elif word == "not":
                level.unary += 1
                prev_operand = False
            elif word == "if":
                level.ifexp += 1
                level.unary = 0
                prev_operand = False
            elif keyword.iskeyword(word) and word not in _OPERAND_KEYWORDS:
                level.unary = 0
                prev_operand = False
            else:
                prev_operand = True
        else:  # number
            prev_operand = True
        tokens.append(tok)
        depth = len(stack) - 1 + sum(lv.unary + lv.ifexp for lv in stack)
        if depth > MAX_NESTING:
            raise ParseError(_NESTING_MESSAGE, text, start)
        if sum(lv.chain for lv in stack) > MAX_CHAIN:
            raise ParseError(f"more than {MAX_CHAIN} operators in one chain (such as a sum); "
                             "group the terms with parentheses", text, start)
    if len(stack) > 1:
        opened = stack[-1]
        raise ParseError(f"{opened.opener!r} is never closed", text, opened.start)
    lambda_names.update(stack[0].lambdas)
    _check_adjacent(tokens, lambda_names, text)
    return tokens, lambda_names


def _check_operator(tok: _Token, prev_operand: bool, top_level: bool, text: str) -> None:
    """Explain operators that are never valid where they stand, before CPython does."""
    if tok.text == "~" and prev_operand:
        raise ParseError("'~' (bitwise not) is not allowed", text, tok.start)
    if tok.text == "=" and top_level:
        raise ParseError("'=' is assignment, which a formula cannot contain (write == to "
                         "compare, inside a condition)", text, tok.start)
    if tok.text == "!":
        raise ParseError("'!' is not allowed (write != for 'not equal', or 'not')",
                         text, tok.start)
    if tok.text in (";", "->"):
        raise ParseError(f"{tok.text!r} is not allowed in a formula", text, tok.start)


def _extend_name(text: str, pos: int) -> int:
    r"""Extend a name past characters that ``\w`` misses but identifiers allow."""
    while pos < len(text) and ("a" + text[pos]).isidentifier():
        pos = _WORD_RE.match(text, pos + 1).end()
    return pos


def _check_int_literal(tok: _Token, text: str) -> None:
    """Reject decimal integer literals with more than MAX_INT_DIGITS digits."""
    literal = tok.text
    if literal[:2].lower() in ("0x", "0o", "0b") or any(c in literal for c in ".eEjJ"):
        return
    digits = len(literal) - literal.count("_")
    if digits > MAX_INT_DIGITS:
        raise ParseError(f"integer literal with {digits} digits is too long (the limit is "
                         f"{MAX_INT_DIGITS}); write a float such as 1e300 instead", text, tok.start)


def _is_operand(tok: _Token, index: int, lambda_names: set[int]) -> bool:
    if tok.kind == "number":
        return True
    if tok.kind == "name":
        if tok.text == "lambda":
            return index in lambda_names
        return not keyword.iskeyword(tok.text) or tok.text in _OPERAND_KEYWORDS
    return False


def _check_adjacent(tokens: list[_Token], lambda_names: set[int], text: str) -> None:
    """Reject implicit multiplication (``2x``, ``x y``, ``(a)b``) and keywords as names."""
    for i, tok in enumerate(tokens):
        if tok.kind == "name" and keyword.iskeyword(tok.text) and tok.text not in _SYNTAX_KEYWORDS:
            raise ParseError(f"{tok.text!r} is a Python keyword and cannot be used as a name",
                             text, tok.start)
        if i == 0 or not _is_operand(tok, i, lambda_names):
            continue
        prev = tokens[i - 1]
        if prev.kind == "close" or _is_operand(prev, i - 1, lambda_names):
            left = "(...)" if prev.kind == "close" else prev.text
            raise ParseError(
                f"missing operator before {tok.text!r}: implicit multiplication is not "
                f"supported; write {left}*{tok.text}", text, tok.start)


def _lambda_alias(tokens: list[_Token]) -> str:
    """An identifier as long as 'lambda' that no name in the formula normalizes to."""
    used = {unicodedata.normalize("NFKC", t.text) for t in tokens if t.kind == "name"}
    i = 0
    while True:
        alias = "_" + _base36(i).rjust(5, "0")
        if alias not in used:
            return alias
        i += 1


def _base36(i: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        i, r = divmod(i, 36)
        out = digits[r] + out
        if not i:
            return out


def _rewrite(text: str, tokens: list[_Token], lambda_names: set[int], alias: str) -> str:
    """Replace the ``lambda`` names by ``alias`` (same length, so positions are kept)."""
    if not lambda_names:
        return text
    pieces, last = [], 0
    for index in sorted(lambda_names):
        tok = tokens[index]
        pieces += [text[last:tok.start], alias]
        last = tok.end
    pieces.append(text[last:])
    return "".join(pieces)


# ------------------------------------------------------------------------ positions


class _Positions:
    """Map positions in the wrapped source (lines, UTF-8 byte columns) to indexes."""

    def __init__(self, wrapped: str, length: int):
        self.length = length
        self.line_starts = [0] + [m.end() for m in re.finditer(r"\r\n|\r|\n", wrapped)]
        self.wrapped = wrapped
        self._byte_to_char: dict[int, list[int] | None] = {}

    def _columns(self, lineno: int) -> list[int] | None:
        """Byte column -> character column for a non-ASCII line (None when ASCII)."""
        if lineno not in self._byte_to_char:
            start = self.line_starts[lineno - 1]
            end = (self.line_starts[lineno] if lineno < len(self.line_starts)
                   else len(self.wrapped))
            line = self.wrapped[start:end]
            table = None
            if not line.isascii():
                table = []
                for i, ch in enumerate(line):
                    table += [i] * len(ch.encode("utf-8"))
                table.append(len(line))
            self._byte_to_char[lineno] = table
        return self._byte_to_char[lineno]

    def index(self, lineno: int, col: int, byte_col: bool = True) -> int:
        """Character index in the original text of (1-based line, column).

        ast columns count UTF-8 bytes; SyntaxError offsets count characters.
        """
        line_start = self.line_starts[lineno - 1]
        if byte_col:
            table = self._columns(lineno)
            if table is not None:
                col = table[min(col, len(table) - 1)]
        # -1 for the wrapping "(".
        return max(0, min(line_start + col - 1, self.length))

    def start(self, node: ast.AST) -> int:
        return self.index(node.lineno, node.col_offset)

    def end(self, node: ast.AST) -> int:
        return self.index(node.end_lineno, node.end_col_offset)


def _syntax_error(exc: SyntaxError, text: str, tokens: list[_Token],
                  positions: _Positions) -> ParseError:
    """Translate CPython's SyntaxError into a ParseError pointing into ``text``."""
    if exc.lineno is None:
        position = None
    else:
        # SyntaxError.offset is 1-based and counts characters, not bytes.
        position = positions.index(exc.lineno, (exc.offset or 1) - 1, byte_col=False)
    message = (exc.msg or "invalid syntax").split(". Perhaps")[0]
    content_end = tokens[-1].end if tokens else 0
    for tok in tokens:
        if tok.kind == "name" and tok.start == position and tok.text == "lambda":
            return ParseError(_CONSTRUCTS[ast.Lambda], text, position)
        if tok.kind == "name" and tok.start == position and keyword.iskeyword(tok.text):
            return ParseError(f"{message}: {tok.text!r} is a Python keyword and cannot be used "
                              "here (nor as a name)", text, position)
    if position is not None and position >= content_end:
        return ParseError("formula ends unexpectedly (is an operand missing?)", text, content_end)
    return ParseError(f"{message}", text, position)


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
    ast.Subscript: "subscripts (x[...]) are not allowed",
    ast.Lambda: "lambda expressions are not allowed (lambda alone is fine as a symbol name)",
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
        values = _tame_coefficients(values)
        return sympy.Add(*values) if is_sum else sympy.Mul(*values)

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
                             "(name(args))", func)
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
        if spec.numeric and all(not a.free_symbols for a in args) and any(map(_is_big, args)):
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
            value = _to_mpf(arg)
            if value is None or not mpmath.isfinite(value) or abs(value) > _FLOAT_MAX:
                raise self.error(f"an argument of {name}() overflows float64", node)
            floats.append(sympy.Float(value, 15))
        result = spec.impl(*floats)
        if not result.is_Number:
            result = result.evalf(15)
        return self.check_constant(result, node)

    def check_constant(self, value: sympy.Expr, node: ast.AST) -> sympy.Expr:
        """Reject a constant that is infinite, undefined, not real, or beyond float64."""
        if value.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
            raise self.error(f"{self.segment(node)} is infinite or undefined", node)
        if value.is_real is False or value.has(sympy.I):
            raise self.error(f"{self.segment(node)} is not a real number", node)
        if value.is_Float or value.is_Rational:
            if _beyond_float64(value):
                raise self.error(f"constant {self.segment(node)} is too large (overflows "
                                 "float64)", node)
        return value

    # -- powers

    def power(self, base: sympy.Expr, exp: sympy.Expr, node: ast.AST) -> sympy.Expr:
        """``base**exp``, guarding against constants too large to compute exactly."""
        if not base.free_symbols and not exp.free_symbols:
            if exp.is_Rational and not exp.is_Integer and _is_negative(base):
                raise self.error(f"{self.segment(node)} is not a real number (a negative "
                                 "number to a fractional power; use cbrt for cube roots)", node)
            if _exact_power_bits(base, exp) > MAX_EXACT_BITS:
                return self.numeric_power(base, exp, node)
            return self.check_constant(sympy.Pow(base, exp), node)
        if exp.is_Rational and not exp.free_symbols:
            # (c*x)**n expands c**n exactly: keep that bounded too.
            coeff, rest = base.as_coeff_Mul()
            if (coeff.is_Rational and abs(coeff) != 1
                    and _rational_bits(coeff) * abs(exp) > MAX_EXACT_BITS):
                base = sympy.Float(_to_mpf(coeff), 15) * rest
        return sympy.Pow(base, exp)

    def numeric_power(self, base: sympy.Expr, exp: sympy.Expr, node: ast.AST) -> sympy.Expr:
        b, e = _to_mpf(base), _to_mpf(exp)
        with mpmath.workprec(53):
            value = mpmath.power(b, e)
        if isinstance(value, mpmath.mpc):
            raise self.error(f"{self.segment(node)} is not a real number", node)
        if not mpmath.isfinite(value) or abs(value) > _FLOAT_MAX:
            raise self.error(f"constant {self.segment(node)} is too large (overflows float64)",
                             node)
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


def _unknown_function(name: str) -> str:
    """The message for a call of a name that is not in FUNCTIONS."""
    lowered = {k.lower(): k for k in FUNCTIONS}
    match = [lowered[name.lower()]] if name.lower() in lowered else \
        difflib.get_close_matches(name, list(FUNCTIONS), n=1, cutoff=0.6)
    if match:
        return f"unknown function {name!r}; did you mean {match[0]!r}?"
    return (f"unknown function {name!r} (see symgrad.parse.FUNCTIONS); for multiplication "
            f"write {name}*(...)")


# ------------------------------------------------------------------- constant guards


def _rational_bits(r: sympy.Rational) -> int:
    return max(abs(r.p).bit_length(), r.q.bit_length())


def _is_negative(value: sympy.Expr) -> bool:
    if value.is_Rational or value.is_Float:
        return bool(value < 0)
    return value.is_negative is True


def _to_mpf(value: sympy.Expr) -> mpmath.mpf | None:
    """``value`` as an mpmath float (53 bits), or None when it is not a real number."""
    if value.is_Rational:
        with mpmath.workprec(53):
            return mpmath.mpf(value.p) / value.q
    number = value if value.is_Float else value.evalf(15)
    if not number.is_Float:
        return None
    return mpmath.mpf(number._mpf_)


def _exact_power_bits(base: sympy.Expr, exp: sympy.Expr) -> float:
    """Estimate the size in bits of the exact value SymPy would compute for base**exp."""
    if not exp.is_Rational or base.is_Float:
        return 0.0  # SymPy keeps irrational exponents symbolic; floats stay float
    if base.is_Rational:
        if base in (0, 1, -1):
            return 0.0
        size = _rational_bits(base)
    else:
        # E.g. sqrt(2)**n becomes 2**(n/2): about n*log2|base| bits.
        mag = _to_mpf(base)
        if mag is None or mag == 0:
            return 0.0
        size = max(1.0, abs(float(mpmath.log(abs(mag), 2))))
    return float(abs(exp) * size) if abs(exp) < 10**300 else math.inf


def _is_big(arg: sympy.Expr) -> bool:
    """Whether a constant argument is large enough to evaluate a function numerically."""
    if arg.is_Rational:
        return (abs(arg.p) > BIG_ARGUMENT * arg.q or abs(arg.p).bit_length() > 64
                or arg.q.bit_length() > 64)
    value = _to_mpf(arg)
    return value is not None and abs(value) > BIG_ARGUMENT


def _tame_coefficients(values: list[sympy.Expr]) -> list[sympy.Expr]:
    """Turn exact coefficients into floats when SymPy would combine huge rationals.

    ``2**9999*x * 2**9999*x * ...`` multiplies (and sums of such terms add) exact
    coefficients; past a size that is pointless for float64 evaluation and slow.
    """
    total = 0
    for v in values:
        coeff = v.as_coeff_Mul()[0]
        if coeff.is_Rational:
            total += _rational_bits(coeff)
    if total <= 4 * MAX_EXACT_BITS:
        return values
    tamed = []
    for v in values:
        coeff, rest = v.as_coeff_Mul()
        if coeff.is_Rational and _rational_bits(coeff) > 64:
            v = sympy.Float(_to_mpf(coeff), 15) * rest
        tamed.append(v)
    return tamed


def _beyond_float64(number: sympy.Number) -> bool:
    """Whether a number's magnitude exceeds the largest finite float64."""
    if number.is_Rational:
        if abs(number.p).bit_length() - number.q.bit_length() < 1020:
            return False  # cheap test first: the quotient is below 2**1021
    mag = _to_mpf(number)
    return mag is None or not mpmath.isfinite(mag) or abs(mag) > _FLOAT_MAX


def _check_final(expr: sympy.Expr, text: str) -> None:
    """Reject a formula whose constants are infinite, undefined or beyond float64."""
    if expr.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
        raise ParseError("formula contains an infinite or undefined constant (division by "
                         "zero?)", text, None)
    for number in expr.atoms(sympy.Number):
        if _beyond_float64(number):
            raise ParseError("formula contains a constant too large for float64 (largest "
                             "finite is 1.8e308)", text, None)
