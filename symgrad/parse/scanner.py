"""Stage 1 of parsing a formula string: the limits, the pre-scan and error positions.

The scan tokenizes the text just enough to enforce the limits (length, nesting, chain
length, integer literal size, characters) *before* CPython's parser sees it, so that a
hostile formula cannot make :func:`ast.parse` recurse deeply or allocate without bound.
It also explains common mistakes (implicit multiplication, ``=``, ``!``) with a caret.
:class:`_Positions` maps ``ast`` node positions back to character indexes.
"""

from __future__ import annotations

import ast
import keyword
import math
import re
import sys
import unicodedata
from typing import NamedTuple

from ..errors import ParseError
from ._arity import ARITY as _FUNCTION_NAMES

# ----------------------------------------------------------------------------- limits

#: Longest formula string accepted, in characters (checked before anything else).
MAX_LENGTH = 100_000
#: Most nodes of a formula given as a SymPy expression (a string of MAX_LENGTH
#: characters has at most about this many).
MAX_NODES = MAX_LENGTH // 2
#: Deepest nesting of parentheses, calls, unary signs, powers and conditionals.
MAX_NESTING = 120
#: Tallest tower of powers with variable exponents (``x**x**...``, also through
#: parentheses): each level multiplies the size of the derivatives.
MAX_POWER_TOWER = 32
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
_LAMBDA_MESSAGE = ("lambda expressions are not allowed (lambda alone is fine as a symbol "
                   "name)")
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
    _check_characters(text)
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


# Characters refused anywhere, comments included: control characters other than the
# whitespace the grammar allows (NUL, ESC, ...), format characters (the bidirectional
# overrides of "Trojan Source", zero-width joiners, BOM), lone surrogates (which cannot
# even be encoded to UTF-8 for the parser), private-use and unassigned code points.
_BAD_CATEGORIES = {"Cc": "a control character", "Cf": "an invisible formatting character",
                   "Cs": "a lone surrogate", "Co": "a private-use character",
                   "Cn": "an unassigned code point", "Zl": "a line separator",
                   "Zp": "a paragraph separator"}
_ALLOWED_CONTROLS = frozenset(" \t\n\r\f")
_SUSPECT_RE = re.compile(r"[^\x20-\x7e\t\n\r\f]")


def _check_characters(text: str) -> None:
    """Refuse characters that cannot be shown, encoded or trusted, with a caret."""
    for m in _SUSPECT_RE.finditer(text):
        ch = m.group()
        category = unicodedata.category(ch)
        if category in _BAD_CATEGORIES and ch not in _ALLOWED_CONTROLS:
            raise ParseError(f"character {ch!r} (U+{ord(ch):04X}, {_BAD_CATEGORIES[category]}) "
                             "is not allowed in a formula", text, m.start())


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
            if prev.kind == "name" and tok.kind in ("name", "number") and prev.text in _FUNCTION_NAMES:
                # 'sin x': a call without parentheses, not a product with a symbol 'sin'.
                raise ParseError(
                    f"missing parentheses: {prev.text} is a function; write "
                    f"{prev.text}({tok.text})", text, tok.start)
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
            return ParseError(_LAMBDA_MESSAGE, text, position)
        if tok.kind == "name" and tok.start == position and keyword.iskeyword(tok.text):
            return ParseError(f"{message}: {tok.text!r} is a Python keyword and cannot be used "
                              "here (nor as a name)", text, position)
    if position is not None and position >= content_end:
        return ParseError("formula ends unexpectedly (is an operand missing?)", text, content_end)
    return ParseError(f"{message}", text, position)

