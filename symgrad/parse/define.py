"""Local definitions (``where="r2 = x**2 + y**2"``), inlined into a formula's text.

Each definition is ``name = expression``; several are separated by newlines or ``;``
(or given as a mapping ``{"r2": "x**2 + y**2"}``). A later definition may use an
earlier one. Every use of a defined name in the formula (a name token not followed by
``(``) is replaced by the parenthesized expression, so the result is an ordinary
formula: it goes through the same parser and limits, and a definition that uses loop
indices (``(x[i]-x[j])**2``) means them where it is used, inside the sum.

This module works on tokens only: it never evaluates or parses the text (the parser
does that afterwards, on the expanded formula).
"""

from __future__ import annotations

import ast
import keyword
import re
import unicodedata
import warnings
from collections.abc import Mapping

from ..errors import InputError, ParseError
from ._arity import ARITY
from .scanner import MAX_LENGTH, _Positions, _scan, _syntax_error

__all__ = ["inline_definitions", "MAX_DEFINITIONS"]

#: Most local definitions in one ``where=``.
MAX_DEFINITIONS = 64

_CONSTANT_NAMES = ("pi", "E")


def _split(where: str | Mapping[str, str]) -> list[tuple[str, str]]:
    if isinstance(where, Mapping):
        items = list(where.items())
        for name, text in items:
            if not isinstance(name, str) or not isinstance(text, str):
                raise InputError("where= as a mapping must map names to expression strings, "
                                 "e.g. {'r2': 'x**2 + y**2'}")
        return items
    if not isinstance(where, str):
        raise InputError("where= must be a string such as 'r2 = x**2 + y**2' (definitions "
                         "separated by newlines or ';') or a mapping of names to strings")
    items = []
    for part in re.split(r"[;\n]", where):
        if not part.strip():
            continue
        name, eq, text = part.partition("=")
        if not eq or text.startswith("="):
            raise InputError(f"where=: {part.strip()!r} is not a definition; write "
                             "'name = expression'")
        items.append((name.strip(), text.strip()))
    return items


def _check_name(name: str, seen: set[str]) -> str:
    name = unicodedata.normalize("NFKC", name)
    if not name.isidentifier() or keyword.iskeyword(name):
        raise InputError(f"where=: {name!r} is not a valid name for a definition")
    if name in ARITY or name in _CONSTANT_NAMES or name in ("sum", "range", "where"):
        raise InputError(f"where=: {name!r} is a function or constant name; choose another")
    if name in seen:
        raise InputError(f"where=: {name!r} is defined twice")
    return name


def _check_syntax(text: str) -> None:
    """The scanner's limits and Python's syntax, for one definition on its own."""
    tokens, lambda_names = _scan(text)
    if lambda_names:  # 'lambda' as a symbol: the parser's own rewrite handles it later
        return
    wrapped = "(" + text + "\n)"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ast.parse(wrapped, mode="eval")  # a syntax tree only; nothing runs
    except SyntaxError as exc:
        raise _syntax_error(exc, text, tokens, _Positions(wrapped, len(text))) from None


def _substitute(text: str, defs: dict[str, str]) -> str:
    tokens, _ = _scan(text)
    out = []
    at = 0
    for k, tok in enumerate(tokens):
        if tok.kind != "name" or unicodedata.normalize("NFKC", tok.text) not in defs:
            continue
        following = tokens[k + 1] if k + 1 < len(tokens) else None
        if following is not None and following.kind == "open" and following.text == "(":
            continue  # a call: the definitions are values, not functions
        out.append(text[at:tok.start])
        out.append("(" + defs[unicodedata.normalize("NFKC", tok.text)] + ")")
        at = tok.end
        if sum(len(p) for p in out) > MAX_LENGTH:
            raise ParseError(f"the formula with its where= definitions inlined is longer than "
                             f"{MAX_LENGTH} characters", text, tok.start)
    out.append(text[at:])
    return "".join(out)


def inline_definitions(formula: str, where: str | Mapping[str, str] | None) -> str:
    """``formula`` with every defined name replaced by its parenthesized definition.

    Raises
    ------
    InputError
        A malformed definition, a bad or repeated name, or too many definitions.
    ParseError
        A definition's text breaks the scanner's rules (with a caret in the
        definition), or the expansion exceeds ``MAX_LENGTH``.
    """
    if where is None:
        return formula
    items = _split(where)
    if len(items) > MAX_DEFINITIONS:
        raise InputError(f"where=: at most {MAX_DEFINITIONS} definitions")
    defs: dict[str, str] = {}
    for name, text in items:
        name = _check_name(name, set(defs))
        if not text:
            raise InputError(f"where=: the definition of {name!r} is empty")
        _check_syntax(text)  # errors get a caret in the definition itself
        defs[name] = _substitute(text, defs)
    if not isinstance(formula, str):
        raise InputError("where= applies to formula strings")
    return _substitute(formula, defs)
