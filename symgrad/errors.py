"""The exceptions symgrad raises.

Every error derives from :class:`SymgradError`, and each also derives from the builtin
exception a caller would naturally catch (``ValueError`` for bad formulas and bad
arguments), so ``except ValueError`` keeps working for code that does not know symgrad.
"""

from __future__ import annotations

__all__ = [
    "SymgradError",
    "ParseError",
    "UnsupportedFunctionError",
    "InputError",
    "CompilationError",
    "ValidationError",
    "SymgradWarning",
]


class SymgradError(Exception):
    """Root of every error symgrad raises on purpose."""


class ParseError(SymgradError, ValueError):
    """A formula string is not a valid symgrad formula.

    Attributes
    ----------
    formula : str
        The formula as given.
    position : int or None
        0-based index of the offending character in ``formula`` (None when the error
        concerns the whole formula, such as its length).
    reason : str
        What is wrong, as a sentence, without the caret diagram.
    """

    def __init__(self, reason: str, formula: str = "", position: int | None = None):
        self.reason = reason
        self.formula = formula
        self.position = position
        super().__init__(self._render())

    def _render(self) -> str:
        if not self.formula:
            return self.reason
        # One character per position keeps the caret aligned; characters that would
        # break the output (controls, lone surrogates, bidi overrides) are shown as '?'.
        shown = "".join(c if c.isprintable() or c == " " else " " if c in "\t\n\r\f" else "?"
                        for c in self.formula)
        lines = [self.reason, "", "    " + shown]
        if self.position is not None:
            pos = max(0, min(self.position, len(shown)))
            lines.append("    " + " " * pos + "^")
        return "\n".join(lines)


class UnsupportedFunctionError(SymgradError, ValueError):
    """A function (or a function a derivative needs) cannot be compiled."""

    def __init__(self, message: str, function: str = ""):
        self.function = function
        super().__init__(message)


class InputError(SymgradError, ValueError):
    """Arguments to an evaluator (or names given to ``compile``) are wrong."""


class CompilationError(SymgradError, RuntimeError):
    """numba failed to compile generated source; a symgrad bug, reported with the source.

    Attributes
    ----------
    source : str
        The generated kernel source that failed to compile.
    """

    def __init__(self, message: str, source: str = ""):
        self.source = source
        super().__init__(message)


class ValidationError(SymgradError, AssertionError):
    """A derivative check failed (see ``symgrad.check``)."""


class SymgradWarning(RuntimeWarning):
    """A warning from symgrad: a cache entry rebuilt, a cache directory refused, a
    request answered in a degraded mode (in memory, without threads). Filter them with
    ``warnings.filterwarnings("ignore", category=symgrad.SymgradWarning)``."""
