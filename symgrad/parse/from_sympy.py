"""Formulas given as SymPy expressions: a whitelist walk that rebuilds them.

A SymPy expression is not a string, but it is still untrusted input to the same
pipeline: it could hold anything SymPy can represent (undefined functions, integrals,
matrices, complex numbers, a constant SymPy would need hours to evaluate). So it is
walked against a whitelist, like a syntax tree, and rebuilt node by node with the same
guards as a parsed string:

* **symbols**: ``sympy.Symbol`` (not ``Dummy`` or ``Wild``), whose name passes the name
  rule of formula strings. Every symbol becomes ``Symbol(name, real=True)`` whatever its
  assumptions (``Symbol("x")``, ``Symbol("x", positive=True)``: both are the real symbol
  ``x``), so the rebuilt expression is simplified as for real inputs (``sqrt(x**2)``
  becomes ``Abs(x)``).
* **numbers**: ``Integer``, ``Rational``, ``Float``, ``pi`` and ``E``.
* **operations**: ``Add``, ``Mul``, ``Pow``, every function class of the registry
  (``symgrad.functions.entry_for``; SymPy's own ``floor``/``ceiling`` become symgrad's,
  whose derivative is 0), and ``Piecewise`` whose conditions are built from ``Lt Le Gt
  Ge Eq Ne``, ``And Or Not``, ``true``/``false`` and ``ITE`` (which SymPy itself
  builds from nested conditions).

Anything else is an :class:`~symgrad.errors.InputError` that names the class and the
expression it occurs in. The limits of strings apply: at most
:data:`~symgrad.parse.MAX_NODES` nodes (counted as a tree, so shared sub-expressions
count once per use), at most :data:`~symgrad.parse.MAX_NESTING` levels, the power and
constant guards (``x**(10**10000)``, ``pi**pi**pi**pi`` are ParseErrors).
"""

from __future__ import annotations

import unicodedata

import sympy

from .. import functions as _fn
from .. import sympy_functions as _sf
from ..errors import InputError, ParseError
from .convert import _Converter
from .guards import _check_final, _is_big, _rational_bits, _tame_coefficients, approx
from .names import CONSTANTS, _check_name, _symbol
from .scanner import (
    MAX_CONDITION_TERMS,
    MAX_EXACT_BITS,
    MAX_MINMAX_ARGS,
    MAX_NESTING,
    MAX_NODES,
)

_RELATIONS = (sympy.StrictLessThan, sympy.LessThan, sympy.StrictGreaterThan,
              sympy.GreaterThan, sympy.Equality, sympy.Unequality)
# SymPy's own step functions: symgrad's subclasses differ only in their derivative (0).
_SUBSTITUTES = {sympy.floor: _sf.floor, sympy.ceiling: _sf.ceiling}
_CONSTANT_VALUES = frozenset(CONSTANTS.values())


def source_text(expr: sympy.Basic) -> str:
    """``str(expr)``, or a placeholder when it holds integers too long to print."""
    try:
        return str(expr)
    except ValueError:  # Python's limit on int -> str conversion (4300 digits)
        return f"<SymPy {type(expr).__name__} with integers too long to print>"


def _short(node: object, limit: int = 60) -> str:
    text = source_text(node) if isinstance(node, sympy.Basic) else repr(node)
    return text if len(text) <= limit else text[:limit - 3] + "..."


class _SympyConverter(_Converter):
    """Rebuild a whitelisted SymPy expression with the guards of :class:`_Converter`.

    The inherited guards (``power``, ``check_constant``, ``numeric_call``) receive a
    SymPy node where the string converter passes a syntax-tree node.
    """

    def __init__(self) -> None:
        super().__init__("", [], None, "")
        self.nodes = 0

    def error(self, reason: str, where: object) -> ParseError:
        return ParseError(reason)

    def segment(self, node: object) -> str:
        return _short(node, 40)

    def refuse(self, node: sympy.Basic, parent: sympy.Basic | None, what: str = "") -> InputError:
        cls = type(node).__name__
        kind = what or "is not supported in a formula"
        inside = f", in {_short(parent)}" if parent is not None else ""
        return InputError(f"SymPy {cls} {kind}: {_short(node)}{inside}")

    def visit(self, node: sympy.Basic, depth: int) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise ParseError(f"SymPy expression has more than {MAX_NODES} nodes (counting "
                             "shared sub-expressions once per use)")
        if depth > MAX_NESTING:
            raise ParseError(f"SymPy expression is nested more than {MAX_NESTING} levels deep")

    # -- values

    def expr(self, node: object, parent: sympy.Basic | None, depth: int) -> sympy.Expr:
        if not isinstance(node, sympy.Basic):
            raise InputError(f"{type(node).__name__} {node!r} is not a SymPy expression"
                             + (f", in {_short(parent)}" if parent is not None else ""))
        self.visit(node, depth)
        if isinstance(node, sympy.Symbol):
            return self.symbol(node, parent)
        if isinstance(node, sympy.Number):
            return self.number(node, parent)
        if node in _CONSTANT_VALUES:
            return node
        if isinstance(node, (sympy.Add, sympy.Mul)):
            args = [self.expr(a, node, depth + 1) for a in node.args]
            args = _tame_coefficients(args)
            result = sympy.Add(*args) if node.is_Add else sympy.Mul(*args)
            return self.check_constant(result, node) if not result.free_symbols else result
        if isinstance(node, sympy.Pow):
            base, exp = (self.expr(a, node, depth + 1) for a in node.args)
            return self.power(base, exp, node)
        if isinstance(node, sympy.Piecewise):
            return self.piecewise(node, depth)
        if isinstance(node, sympy.Expr) and not isinstance(node, sympy.core.function.AppliedUndef):
            cls = _SUBSTITUTES.get(type(node), type(node))
            entry = _fn.entry_for(cls)
            if entry is not None:
                return self.function(node, cls, entry, depth)
        if isinstance(node, (sympy.core.relational.Relational, sympy.logic.boolalg.Boolean)):
            raise self.refuse(node, parent, "(a condition) is only allowed as a condition "
                                            "of a Piecewise")
        if isinstance(node, sympy.core.function.AppliedUndef):
            raise self.refuse(node, parent, "(an undefined function) is not supported")
        if isinstance(node, sympy.NumberSymbol):
            raise self.refuse(node, parent, "is not supported (the constants are pi and E)")
        raise self.refuse(node, parent)

    def symbol(self, node: sympy.Symbol, parent: sympy.Basic | None) -> sympy.Symbol:
        if isinstance(node, (sympy.Dummy, sympy.Wild)):
            raise self.refuse(node, parent, "is not supported (use a Symbol with a unique name)")
        name = unicodedata.normalize("NFKC", node.name)
        _check_name(name, "symbol")
        if name not in self.first_seen:
            self.first_seen[name] = len(self.first_seen)
        return _symbol(name)

    def number(self, node: sympy.Number, parent: sympy.Basic | None) -> sympy.Expr:
        if not (node.is_Rational or node.is_Float):  # oo, -oo, zoo, nan
            raise self.refuse(node, parent, "(not a finite real number) is not supported")
        if node.is_Rational and _rational_bits(node) > MAX_EXACT_BITS:
            # Past the size of exact constants the parser builds: its float64 value.
            try:
                node = sympy.Float(approx(node, self.memo), 15)
            except Exception:
                raise ParseError(f"constant {self.segment(node)} is too large (overflows "
                                 "float64)") from None
        return self.check_constant(node, node)

    def function(self, node: sympy.Expr, cls: type, entry: _fn.Function,
                 depth: int) -> sympy.Expr:
        args = [self.expr(a, node, depth + 1) for a in node.args]
        if entry.impl in (sympy.Min, sympy.Max) and len(args) > MAX_MINMAX_ARGS:
            raise ParseError(f"{entry.name}() of more than {MAX_MINMAX_ARGS} values is not "
                             "supported (SymPy becomes very slow)")
        if entry.numeric and entry.names and all(not a.free_symbols for a in args):
            if any(_is_big(a, self.memo) for a in args):
                return self.numeric_call(entry.name, entry, args, node)
        result = cls(*args)
        if not result.free_symbols:
            self.check_constant(result, node)
        return result

    # -- conditions

    def piecewise(self, node: sympy.Piecewise, depth: int) -> sympy.Expr:
        pairs = []
        for pair in node.args:
            self.visit(pair, depth + 1)
            value, cond = pair.args
            value = self.expr(value, node, depth + 2)
            outer, self.condition_terms = self.condition_terms, 0
            try:
                cond = self.sympy_condition(cond, node, depth + 2)
            finally:
                self.condition_terms = outer
            pairs.append((value, cond))
        return sympy.Piecewise(*pairs)

    def sympy_condition(self, node: object, parent: sympy.Basic, depth: int) -> sympy.Basic:
        if not isinstance(node, sympy.Basic):
            raise InputError(f"{type(node).__name__} {node!r} is not a SymPy condition, in "
                             f"{_short(parent)}")
        self.visit(node, depth)
        if node is sympy.true or node is sympy.false:
            return node
        if isinstance(node, _RELATIONS):
            self.condition_terms += 1
            if self.condition_terms > MAX_CONDITION_TERMS:
                raise ParseError(f"a condition may contain at most {MAX_CONDITION_TERMS} "
                                 "comparisons")
            lhs, rhs = (self.expr(a, node, depth + 1) for a in node.args)
            try:
                return type(node)(lhs, rhs)
            except TypeError as exc:
                raise ParseError(f"cannot compare: {exc}") from None
        if isinstance(node, (sympy.And, sympy.Or)):
            parts = [self.sympy_condition(a, node, depth + 1) for a in node.args]
            return sympy.And(*parts) if isinstance(node, sympy.And) else sympy.Or(*parts)
        if isinstance(node, sympy.Not):
            return sympy.Not(self.sympy_condition(node.args[0], node, depth + 1))
        if isinstance(node, sympy.ITE):  # SymPy's own rewriting of nested conditions
            return sympy.ITE(*(self.sympy_condition(a, node, depth + 1) for a in node.args))
        raise self.refuse(node, parent, "is not supported in a condition (use Lt, Le, Gt, Ge, "
                                        "Eq, Ne, And, Or, Not)")


def convert_sympy(expr: sympy.Basic) -> tuple[sympy.Expr, dict[str, int]]:
    """Rebuild one SymPy expression; return it and each symbol's order of appearance."""
    converter = _SympyConverter()
    result = converter.expr(expr, None, 0)
    _check_final(result, "", converter.memo)
    return result, converter.first_seen
