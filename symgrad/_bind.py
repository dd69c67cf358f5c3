"""Binding arguments to a formula's names: one set of rules and one wording for all.

The evaluator (call arguments), validation (``param_values=``), the optimizer adapters
(fixed parameters, ``x0``) and the CLI (``--param``, ``--at``) all bind through here, so
a mistake reads the same everywhere: what is wrong, the names that are right, and the
fix.

Call rules (``Evaluator``)
--------------------------
* Variables come positionally in variable order, or by name.
* Parameters come by name, or positionally after *all* the variables in their
  declared order (so a formula's names are always usable, even one called ``out``).
* One array whose last axis has one entry per variable, ``f(points)`` with
  ``points.shape == (..., n)``, when there are 2 or more variables.
* A formula name spelled like a keyword argument of the method (``out``, and for
  ``evaluate`` also ``direction``, ``order``) goes positionally: the keyword means the
  method's argument, and giving it where it could mean the formula's name is an
  error that says so.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .errors import InputError

__all__ = ["as_float", "Binder", "vector", "join_names"]


def join_names(names: Sequence[str]) -> str:
    """``x, y and z`` (or ``(none)``)."""
    names = list(names)
    if not names:
        return "(none)"
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " and " + names[-1]


def as_float(value: Any, name: str, dtype: np.dtype) -> np.ndarray:
    """``value`` as an array of ``dtype``, or InputError saying what is wrong with it."""
    if type(value) is np.ndarray and value.dtype == dtype:
        return value  # the common case, kept cheap: it runs for every input of a call
    try:
        arr = np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise InputError(f"{name} cannot be converted to an array: {exc}") from None
    kind = arr.dtype.kind
    if kind in "fiub":
        return arr.astype(dtype, copy=False)
    if kind == "c":
        raise InputError(
            f"{name} is complex; symgrad evaluates real formulas. Pass the real part "
            f"({name}.real) if that is what you mean."
        )
    raise InputError(f"{name} has dtype {arr.dtype}; expected real numbers.")


def vector(x: Any, n: int, names: Sequence[str], what: str = "x") -> np.ndarray:
    """A 1-D float64 vector of ``n`` entries, one per variable (``x0``, optimizer ``x``)."""
    try:
        arr = np.asarray(x, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{what} must be {n} numbers ({join_names(names)}): {exc}") from None
    if arr.size != n:
        raise InputError(
            f"{what} must have {n} entries, one per variable ({join_names(names)}), "
            f"got {arr.size}."
        )
    return arr


class Binder:
    """The names of one formula and how to bind values to them.

    Parameters
    ----------
    variables, params : tuple of str
    """

    def __init__(self, variables: Sequence[str], params: Sequence[str]):
        self.variables = tuple(variables)
        self.params = tuple(params)
        self.names = self.variables + self.params
        self._known = frozenset(self.names)

    # -- errors (one wording) ----------------------------------------------------------
    def unknown(self, key: str, what: str = "argument") -> InputError:
        close = [k for k in self.names if k.lower() == key.lower()]
        close = close or difflib.get_close_matches(key, self.names, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        params = f"; parameters are {join_names(self.params)}" if self.params else \
            "; it has no parameters"
        return InputError(
            f"unknown {what} {key!r}: this formula's variables are "
            f"{join_names(self.variables)}{params}.{hint}"
        )

    def missing(self, name: str) -> InputError:
        kind = "parameter" if name in self.params else "variable"
        return InputError(
            f"missing {kind} {name!r}: pass {name}=... (a number or an array that "
            "broadcasts with the other inputs)."
        )

    # -- evaluator calls -----------------------------------------------------------------
    def bind(
        self, args: tuple, kwargs: Mapping[str, Any], dtype: np.dtype, convert=as_float
    ) -> list[np.ndarray]:
        """Map call arguments to one array per name (variables, then parameters).

        ``convert(value, name, dtype)`` makes each value an array (``as_float``; the
        dask and xarray paths of ``symgrad.arrays`` keep their arrays lazy).
        """
        n, p = len(self.variables), len(self.params)
        values: dict[str, Any] = {}
        if args:
            if len(args) == 1 and n > 1 and not kwargs.keys() & set(self.variables):
                points = convert(args[0], "points", dtype)
                if points.ndim == 0 or points.shape[-1] != n:
                    raise InputError(
                        f"one positional argument is taken as an array of points with "
                        f"shape (..., {n}) (one column per variable: "
                        f"{join_names(self.variables)}); got shape {points.shape}. Pass "
                        f"the {n} variables as separate arguments or by keyword."
                    )
                values.update((name, points[..., k]) for k, name in enumerate(self.variables))
            elif len(args) > n + p or (len(args) < n and not kwargs):
                raise InputError(self._count_message(len(args)))
            else:  # the rest come by keyword
                values.update(zip(self.names, args))
        for key, value in kwargs.items():
            if key not in self._known:
                raise self.unknown(key)
            if key in values:
                raise InputError(f"{key!r} was given both positionally and by keyword.")
            values[key] = value
        if len(values) != len(self.names):
            raise self.missing(next(k for k in self.names if k not in values))
        return [convert(values[k], k, dtype) for k in self.names]

    def _count_message(self, count: int) -> str:
        n = len(self.variables)
        expected = f"{n} variable{'s' if n != 1 else ''} ({join_names(self.variables)})"
        if self.params:
            expected += (
                f", optionally followed by the parameters ({join_names(self.params)}) "
                f"in that order; or pass {join_names(self.params)} by keyword"
            )
        points = f", or one array of points of shape (..., {n})" if n > 1 else ""
        return f"got {count} positional arguments; expected {expected}{points}."

    def check_keywords(self, key: str) -> None:
        """Refuse a method keyword (``out=``) given where it could be the formula's name."""
        if key in self._known:
            raise InputError(
                f"{key!r} is both a name in this formula and the {key}= argument of "
                f"evaluator methods, so {key}=... is ambiguous here; pass the "
                f"formula's {key!r} positionally (variables first, then parameters in "
                "order)."
            )
        raise InputError(f"{key}= does not apply to the outputs requested.")

    # -- parameter values (validation, optimizers, CLI) -------------------------------
    def param_values(
        self, given: Mapping[str, Any], *, variable_fix: str, param_fix: str = "",
        complete: bool = True,
    ) -> dict[str, Any]:
        """Check a mapping of parameter values: known names, no variables, none missing.

        Parameters
        ----------
        given : mapping
        variable_fix : str
            What to do instead when a variable is given (``"give its range in
            domain"``).
        param_fix : str
            How to give a missing parameter (``"pass a=..."``); ``{name}`` is
            replaced by the parameter's name.
        complete : bool
            Whether every parameter must be given (False: some come later).
        """
        for key in given:
            if key in self.variables:
                raise InputError(
                    f"{key!r} is a variable of this formula, not a parameter: {variable_fix}."
                )
            if key not in self._known:
                raise self.unknown(key, "parameter")
        missing = [k for k in self.params if k not in given]
        if missing and complete:
            raise InputError(
                f"missing parameter {missing[0]!r}: {param_fix.format(name=missing[0])}."
            )
        return dict(given)
