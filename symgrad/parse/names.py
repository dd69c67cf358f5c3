"""The name rule: functions, constants and symbols, and lists of names."""

from __future__ import annotations

import keyword
import re
import unicodedata
from collections.abc import Mapping, Sequence
from types import MappingProxyType

import sympy

from .. import functions as _fn
from ..errors import InputError
from .check import natural_key  # noqa: F401 (re-exported)
from .scanner import MAX_NAME_LENGTH

# ------------------------------------------------------------------- function table

#: Kept for code that names the type of a function entry.
FunctionSpec = _fn.Function

#: The user-facing function names: name -> entry of the function registry
#: (``symgrad.functions``), aliases included.
FUNCTIONS: Mapping[str, _fn.Function] = _fn.BY_NAME
_where = _fn._where

#: The only names that are not symbols (when not followed by ``(``).
CONSTANTS: Mapping[str, sympy.Expr] = MappingProxyType({"pi": sympy.pi, "E": sympy.E})


def parse_names(spec: str | Sequence[str] | None, what: str = "variables") -> tuple[str, ...]:
    """Split and validate a list of names.

    Parameters
    ----------
    spec : str, sympy.Symbol, sequence of str or sympy.Symbol, or None
        ``"x y"``, ``"x, y"``, ``"x,y"`` or ``["x", "y"]``; SymPy symbols stand for
        their names. None means no names.
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
    elif isinstance(spec, sympy.Symbol):
        raw = [spec]
    elif (isinstance(spec, (Sequence, sympy.Tuple))
          and not isinstance(spec, (bytes, bytearray))):
        raw = list(spec)
    else:
        raise InputError(f"{what} must be a string such as 'x y' or a list of names, "
                         f"not {type(spec).__name__}")
    names: list[str] = []
    for item in raw:
        if isinstance(item, sympy.Symbol):
            item = item.name
        if not isinstance(item, str):
            raise InputError(f"{what} must contain names (str or sympy.Symbol), not "
                             f"{type(item).__name__}: {item!r}")
        name = unicodedata.normalize("NFKC", item)
        _check_name(name, what)
        if name in names:
            raise InputError(f"{what}: {name!r} is listed twice")
        names.append(name)
    return tuple(names)


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



def _symbol(name: str) -> sympy.Symbol:
    return sympy.Symbol(name, real=True)

