"""The SymPy-free half of the parser: validate a formula string and find its names.

:func:`light_request` runs the same pre-scan as :func:`symgrad.parse.parse`
(``scanner``: length, characters, brackets, nesting, literals, implicit
multiplication), parses the text with :func:`ast.parse` (which only builds a syntax
tree) and walks the tree against the same whitelist of constructs as the converter,
without building any SymPy object. It also infers the variables as ``parse`` does
(every name that is not a parameter, in natural order).

It never raises for a bad formula: it returns None, and the caller falls back to the
full parser, which raises the precise error. It is not a substitute for the full
parse: the constant guards (``exp(exp(exp(9)))``) need the converter. The evaluator
uses it only to recognise a request that a full parse accepted before, in this or an
earlier process, and recorded in the request cache (``symgrad.request_cache``): such
a request reaches its cached kernel without importing SymPy.
"""

from __future__ import annotations

import ast
import keyword
import re
import unicodedata
import warnings
from typing import NamedTuple

from ..errors import ParseError
from ._arity import ARITY
from .scanner import MAX_LENGTH, MAX_NAME_LENGTH, _lambda_alias, _rewrite, _scan

__all__ = ["LightRequest", "light_request", "check_formula", "light_names", "natural_key"]

_CONSTANT_NAMES = frozenset(("pi", "E"))
_VALUE_BINOPS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow)
_VALUE_UNARY = (ast.UAdd, ast.USub)
_COMPARE_OPS = (ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Eq, ast.NotEq)


class LightRequest(NamedTuple):
    """A request as ``compile`` received it, validated without SymPy."""

    sources: tuple[str, ...]
    is_vector: bool
    variables: tuple[str, ...]  # given, or inferred in natural order
    params: tuple[str, ...]
    inferred: bool  # variables were not given


def natural_key(name: str) -> tuple[list[str | int], str]:
    """Sort key for the natural order of names (``x2`` before ``x10``).

    Digit runs compare by numeric value, other runs as text; ties (``x01``, ``x1``) are
    broken by plain string order.
    """
    parts = re.split(r"(\d+)", name)
    # re.split with a group alternates text, digits, text, ...: odd indexes are digits,
    # so two keys always compare int with int and str with str.
    return [int(p) if i % 2 else p for i, p in enumerate(parts)], name


def check_formula(text: str) -> set[str] | None:
    """The symbol names of one formula string, or None if it is not clearly valid."""
    if not isinstance(text, str) or len(text) > MAX_LENGTH:
        return None
    try:
        tokens, lambda_names = _scan(text)
    except (ParseError, RecursionError, MemoryError):
        return None
    if not tokens:
        return None
    alias = _lambda_alias(tokens) if lambda_names else ""
    wrapped = "(" + _rewrite(text, tokens, lambda_names, alias) + "\n)"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(wrapped, mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None
    names: set[str] = set()
    # An explicit stack (no recursion): long sum chains make deep trees.
    stack: list[tuple[ast.AST, bool]] = [(tree.body, False)]  # (node, is a condition)
    while stack:
        node, cond = stack.pop()
        if cond:
            if isinstance(node, ast.Compare):
                if not all(isinstance(op, _COMPARE_OPS) for op in node.ops):
                    return None
                stack.extend((n, False) for n in (node.left, *node.comparators))
            elif isinstance(node, ast.BoolOp):
                stack.extend((n, True) for n in node.values)
            elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
                stack.append((node.operand, True))
            elif not (isinstance(node, ast.Constant) and isinstance(node.value, bool)):
                return None
            continue
        if isinstance(node, ast.BinOp):
            if not isinstance(node.op, _VALUE_BINOPS):
                return None
            stack.append((node.left, False))
            stack.append((node.right, False))
        elif isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, _VALUE_UNARY):
                return None
            stack.append((node.operand, False))
        elif isinstance(node, ast.Name):
            name = "lambda" if alias and node.id == alias else node.id
            if len(name) > MAX_NAME_LENGTH:
                return None
            if name not in _CONSTANT_NAMES:
                names.add(name)
        elif isinstance(node, ast.Constant):
            value = node.value
            if type(value) not in (int, float):
                return None
        elif isinstance(node, ast.Call):
            func = node.func
            if not isinstance(func, ast.Name) or node.keywords:
                return None
            arity = ARITY.get(func.id)
            if arity is None:
                return None
            lo, hi = arity
            given = len(node.args)
            if given < lo or (hi is not None and given > hi):
                return None
            if any(isinstance(a, ast.Starred) for a in node.args):
                return None
            for index, arg in enumerate(node.args):
                stack.append((arg, func.id == "where" and index == 0))
        elif isinstance(node, ast.IfExp):
            stack.append((node.test, True))
            stack.append((node.body, False))
            stack.append((node.orelse, False))
        else:
            return None
    return names


def light_names(spec) -> tuple[str, ...] | None:
    """``parse_names`` for plain strings: the names, or None (let the full parser judge)."""
    if spec is None:
        return ()
    if isinstance(spec, str):
        raw = [p for p in re.split(r"[\s,]+", spec) if p]
    elif isinstance(spec, (list, tuple)):
        raw = list(spec)
    else:
        return None
    names: list[str] = []
    for item in raw:
        if type(item) is not str:
            return None
        name = unicodedata.normalize("NFKC", item)
        if (not name or len(name) > MAX_NAME_LENGTH or not name.isidentifier()
                or (keyword.iskeyword(name) and name != "lambda")
                or name in _CONSTANT_NAMES or name in names):
            return None
        names.append(name)
    return tuple(names)


def light_request(formula, variables=None, params=None) -> LightRequest | None:
    """The request of ``compile(formula, variables, params)``, checked without SymPy.

    None when anything is not plain strings or not clearly valid (the full parser
    then decides, with its precise errors).
    """
    if isinstance(formula, str):
        sources, is_vector = (formula,), False
    elif isinstance(formula, (list, tuple)) and formula and all(
        type(f) is str for f in formula
    ):
        sources, is_vector = tuple(formula), True
    else:
        return None
    given = None if variables is None else light_names(variables)
    param_names = light_names(params)
    if (variables is not None and given is None) or param_names is None:
        return None
    if given is not None and set(given) & set(param_names):
        return None
    found: set[str] = set()
    for text in sources:
        names = check_formula(text)
        if names is None:
            return None
        found |= names
    if given is None:
        inferred = tuple(sorted(found - set(param_names), key=natural_key))
    else:
        if not found <= set(given) | set(param_names):
            return None
        inferred = given
    if not inferred:
        return None
    return LightRequest(sources, is_vector, inferred, param_names, given is None)

