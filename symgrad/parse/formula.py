"""The :class:`Formula` result and :func:`parse`, the entry point of the parser."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sympy

from ..errors import InputError, ParseError
from .convert import _parse_one
from .from_sympy import convert_sympy, source_text
from .names import _symbol, natural_key, parse_names

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
    formula: str | sympy.Basic | Sequence[str | sympy.Basic],
    variables: str | sympy.Symbol | Sequence[str | sympy.Symbol] | None = None,
    params: str | sympy.Symbol | Sequence[str | sympy.Symbol] | None = None,
) -> Formula:
    """Parse a formula string (or a sequence of them) into a :class:`Formula`.

    Parameters
    ----------
    formula : str, sympy expression, or a sequence of them
        The formula, in the grammar of this package's docstring, or a SymPy expression
        made of the whitelisted classes (see ``symgrad.parse.from_sympy``). A sequence
        (list, tuple) makes a vector-valued formula.
    variables : str, sympy.Symbol or sequence of them, optional
        The differentiated inputs, in order (``"x y"``, ``"x, y"``, ``["x", "y"]`` or
        SymPy symbols, which stand for their names). Default: every symbol that is not
        a parameter, in natural order.
    params : str, sympy.Symbol or sequence of them, optional
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
    texts: list[str] = []  # the strings, for carets ("" for a SymPy expression)
    for index, source in enumerate(sources):
        try:
            if isinstance(source, str):
                expr, seen = _parse_one(source)
            else:
                expr, seen = convert_sympy(source)
        except ParseError as err:
            if not is_vector:
                raise
            raise _prefixed(err, index, len(sources)) from None
        except InputError as err:
            if not is_vector:
                raise
            raise InputError(f"formula {index + 1} of {len(sources)}: {err}") from None
        exprs.append(expr)
        first_seen.append(seen)
        texts.append(source if isinstance(source, str) else "")

    param_set = set(param_names)
    if var_names is None:
        found = {name for seen in first_seen for name in seen} - param_set
        var_names = tuple(sorted(found, key=natural_key))
    else:
        _check_known(texts, first_seen, set(var_names) | param_set, is_vector)
    if not var_names:
        raise InputError("formula has no variables; pass variables='x' to evaluate it over points")

    return Formula(
        sources=tuple(s if isinstance(s, str) else source_text(s) for s in sources),
        exprs=tuple(exprs),
        variables=tuple(_symbol(n) for n in var_names),
        params=tuple(_symbol(n) for n in param_names),
        is_vector=is_vector,
    )


# ------------------------------------------------------------- argument validation


def _check_formula_arg(formula: object) -> tuple[list, bool]:
    """Return the formulas (str or SymPy) and whether a sequence was given."""
    if isinstance(formula, (str, sympy.Basic)):
        return [formula], False
    if isinstance(formula, Sequence) and not isinstance(formula, (bytes, bytearray)):
        items = list(formula)
        if not items:
            raise InputError("formula is an empty sequence; pass at least one formula string")
        for i, item in enumerate(items, 1):
            if not isinstance(item, (str, sympy.Basic)):
                raise InputError(f"formula {i} of {len(items)} must be a string such as "
                                 f"'x**2 + y' or a SymPy expression, not {type(item).__name__}")
        return items, True
    raise InputError("formula must be a string such as 'x**2 + y' (or a list of them, or a "
                     f"SymPy expression), not {type(formula).__name__}")


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


