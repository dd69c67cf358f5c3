"""Declarations of indexed inputs: ``variables="x[n] a"``, ``params="f[m,n] lam"``.

A declaration is a name, optionally followed by its dimensions in brackets. Each
dimension is a *size name* (bound at call time from the shape of the array passed)
or a positive integer literal (a fixed length). Names follow the parser's name rule
(``symgrad.parse.names``); sizes share the name space of variables and parameters.

>>> parse_declarations("x[n] a, f[m, 3]", "variables")
(Decl(name='x', dims=('n',)), Decl(name='a', dims=()), Decl(name='f', dims=('m', 3)))
"""

from __future__ import annotations

import keyword
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import InputError
from ..parse.scanner import MAX_NAME_LENGTH

__all__ = ["Decl", "parse_declarations", "has_brackets", "MAX_DIMS"]

#: Most dimensions of one declared array.
MAX_DIMS = 8

_ITEM = re.compile(r"\s*([^\s\[\],]+)\s*(?:\[([^\[\]]*)\])?\s*")


@dataclass(frozen=True)
class Decl:
    """One declared input.

    Attributes
    ----------
    name : str
    dims : tuple of (str or int)
        Size names or fixed lengths; ``()`` for a scalar.
    """

    name: str
    dims: tuple[str | int, ...]

    @property
    def is_vector(self) -> bool:
        return bool(self.dims)

    def spelled(self) -> str:
        """The declaration as the user writes it (``"x[n]"``)."""
        if not self.dims:
            return self.name
        return f"{self.name}[{', '.join(str(d) for d in self.dims)}]"


def has_brackets(spec: object) -> bool:
    """Whether a ``variables=``/``params=`` argument declares an array (``x[n]``)."""
    if isinstance(spec, str):
        return "[" in spec
    if isinstance(spec, Sequence):
        return any(isinstance(s, str) and "[" in s for s in spec)
    return False


def parse_declarations(spec: str | Sequence[str] | None, what: str) -> tuple[Decl, ...]:
    """Split ``"x[n] a, f[m, 3]"`` (or ``["x[n]", "a"]``) into declarations.

    Raises
    ------
    InputError
        A malformed declaration, a bad name or size, a repeated name, or more than
        ``MAX_DIMS`` dimensions.
    """
    if spec is None:
        return ()
    if isinstance(spec, str):
        text = spec
    elif isinstance(spec, Sequence) and all(isinstance(s, str) for s in spec):
        text = " ".join(spec)
    else:
        names = getattr(spec, "name", None)
        if isinstance(names, str):  # a SymPy symbol
            text = names
        else:
            raise InputError(f"{what} must be a string such as 'x[n] a' or a list of such "
                             f"strings, not {type(spec).__name__}")
    decls: list[Decl] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _ITEM.match(text, pos)
        if m is None or m.end() == pos:
            raise InputError(f"{what}: cannot read the declaration at {text[pos:pos + 20]!r}; "
                             "write names such as 'x[n] y[n] a'")
        name = unicodedata.normalize("NFKC", m.group(1))
        _check_name(name, what)
        dims: tuple[str | int, ...] = ()
        if m.group(2) is not None:
            dims = tuple(_dimension(d, name, what) for d in m.group(2).split(","))
            if len(dims) > MAX_DIMS:
                raise InputError(f"{what}: {name} has {len(dims)} dimensions; at most "
                                 f"{MAX_DIMS} are supported")
        decls.append(Decl(name, dims))
        pos = m.end()
        if pos < len(text) and text[pos] == ",":
            pos += 1
    seen: set[str] = set()
    for d in decls:
        if d.name in seen:
            raise InputError(f"{what}: {d.name!r} is declared twice")
        seen.add(d.name)
    return tuple(decls)


def _check_name(name: str, what: str) -> None:
    """The name rule of ``symgrad.parse.names`` (kept here SymPy-free: this module is
    imported on every ``symgrad.compile`` to route the request)."""
    if not name:
        raise InputError(f"{what}: empty name")
    if len(name) > MAX_NAME_LENGTH:
        raise InputError(f"{what}: name {name[:20]!r}... is longer than {MAX_NAME_LENGTH} "
                         "characters")
    if not name.isidentifier():
        raise InputError(f"{what}: {name!r} is not a valid name (letters, digits and _, "
                         "not starting with a digit)")
    if keyword.iskeyword(name) and name != "lambda":
        raise InputError(f"{what}: {name!r} is a Python keyword and cannot be a name")
    if name in ("pi", "E"):
        raise InputError(f"{what}: {name!r} is a constant, not a name")


def _dimension(text: str, name: str, what: str) -> str | int:
    text = text.strip()
    if not text:
        raise InputError(f"{what}: {name}[...] has an empty dimension; write a size name "
                         f"such as {name}[n] or a length such as {name}[3]")
    if text.isdigit():
        value = int(text)
        if value < 1 or value > 2**40:
            raise InputError(f"{what}: {name}[{text}]: a fixed length must be between 1 "
                             "and 2**40")
        return value
    size = unicodedata.normalize("NFKC", text)
    try:
        _check_name(size, what)
    except InputError:
        raise InputError(f"{what}: {name}[{text}]: a dimension must be a size name such as "
                         "n (bound from the array's shape) or a positive integer") from None
    return size
