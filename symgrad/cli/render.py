"""Symbolic output of the ``symgrad`` command: pretty, plain, LaTeX, JSON and Python.

What is printed comes from the same pipeline as the kernels: the output kind's entries
(``symgrad.outputs``), laid out and CSE'd by ``symgrad.program.build_program`` (the one
CSE pass), and printed by a subclass of the kernels' printer
(``symgrad.codegen.ArrayPrinter``) for ``--format python``.

Two differences from a kernel, both deliberate:

* The text formats (pretty, plain, LaTeX, JSON) show each derivative without its
  domain guard (the term that makes it NaN where the formula is undefined on the
  reals, see ``symgrad.derive``): that is the mathematics the user asked for.
  ``--format python`` keeps the guards, so the pasted function computes exactly what
  a kernel computes.
* CSE runs only with ``--cse`` (the kernels always use it).

Generated Python contains no text from the formula: only the user's names (validated
identifiers, renamed when they are Python keywords), numbers, and symgrad's own
names, which are kept apart from every user name (``_np``, ``_t0``, ``_out``; more
underscores if a user name starts with ``_``). Nothing here imports numba.
"""

from __future__ import annotations

import itertools
import json
import keyword
import re
from collections.abc import Sequence

import sympy

from ..codegen import ArrayPrinter
from ..derive import Derivatives
from ..errors import UnsupportedFunctionError
from ..outputs import OutputKind
from ..program import Program, build_program
from .terminal import use_unicode  # noqa: F401 (kept importable from here)

__all__ = [
    "use_unicode",
    "label_style",
    "shown_indices",
    "Symbolic",
    "symbolic",
    "render_text",
    "render_json",
    "python_source",
    "PythonPrinter",
]


# ------------------------------------------------------------------------ styles


def label_style(fmt: str, unicode: bool) -> str:
    """The ``OutputKind.label`` style for a CLI format: "unicode", "plain" or "latex"."""
    if fmt == "latex":
        return "latex"
    if fmt == "pretty" and unicode:
        return "unicode"
    return "plain"


def shown_indices(kind: OutputKind, shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    """The components the CLI prints, in C order: all, but one triangle of a Hessian."""
    indices = list(itertools.product(*(range(s) for s in shape)))
    if kind.name == "hessian":
        indices = [ix for ix in indices if ix[-2] <= ix[-1]]
    return indices


def _flat(index: tuple[int, ...], shape: tuple[int, ...]) -> int:
    flat = 0
    for i, s in zip(index, shape):
        flat = flat * s + i
    return flat


# ---------------------------------------------------------------------- symbolic


class _Unguarded(Derivatives):
    """Derivatives without domain guards: what the text formats show."""

    def guard(self, k: int = 0) -> sympy.Expr:
        return sympy.S.Zero


class Symbolic:
    """One output kind of one formula, as a Program (a single block at offset 0).

    Attributes
    ----------
    kind : OutputKind
    shape : tuple of int
    program : Program
    variables, params : tuple of str
        The user's names (validated identifiers).
    m : int
        Number of formulas.
    """

    def __init__(self, kind: OutputKind, shape, program: Program, variables, params, m):
        self.kind = kind
        self.shape = tuple(shape)
        self.program = program
        self.variables = tuple(variables)
        self.params = tuple(params)
        self.m = m

    def by_row(self) -> dict[int, sympy.Expr]:
        """Flat position -> (reduced) expression; positions not listed are zero."""
        rows: dict[int, sympy.Expr] = {}
        for positions, expr in self.program.results:
            for p in positions:
                rows[p] = expr
        return rows


def symbolic(formula, kind: OutputKind, *, cse: bool, simplify: bool, guards: bool) -> Symbolic:
    """Derive ``kind`` of a parsed ``formula`` and run the one CSE pass over it."""
    cls = Derivatives if guards else _Unguarded
    d = cls(formula.exprs, formula.variables, simplify=simplify, is_vector=formula.is_vector)
    shape = tuple(kind.shape(d, None))
    entries = kind.entries(d, None)
    program = build_program([(kind.name, shape, entries)],
                            tuple(formula.variables) + tuple(formula.params), cse=cse)
    return Symbolic(kind, shape, program, formula.variable_names, formula.param_names,
                    len(formula.exprs))


def _display_temporaries(sym: Symbolic):
    """Display names (t0, t1, ... unless a user name clashes) for the CSE temporaries."""
    taken = set(sym.variables) | set(sym.params)
    for prefix in ("t", "c", "w", "tmp", "_t"):
        if not any(re.fullmatch(re.escape(prefix) + r"\d+", name) for name in taken):
            break
    else:
        prefix = "_cse_"
    return {
        s: sympy.Symbol(f"{prefix}{k}", real=True)
        for k, (s, _) in enumerate(sym.program.assignments)
    }


def _render(expr, style: str, unicode: bool) -> str:
    if style == "latex":
        return sympy.latex(expr)
    if style == "pretty":
        return sympy.pretty(expr, use_unicode=unicode, wrap_line=False)
    return sympy.sstr(expr)


def _equation(label: str, expr, style: str, unicode: bool) -> str:
    """``label = expr``, with multi-line pretty output aligned on its baseline."""
    if style != "pretty":
        return f"{label} = {_render(expr, style, unicode)}"
    from sympy.printing.pretty.pretty import PrettyPrinter

    printer = PrettyPrinter({"use_unicode": unicode, "wrap_line": False})
    form = printer._print(expr)
    lines = form.render(wrap_line=False).split("\n")
    base = min(max(form.baseline, 0), len(lines) - 1)
    prefix = f"{label} = "
    pad = " " * len(prefix)
    return "\n".join(
        (prefix if i == base else pad) + line for i, line in enumerate(lines)
    ).rstrip()


def render_text(sym: Symbolic, fmt: str, unicode: bool) -> str:
    """The temporaries (with --cse), then one ``label = expression`` per component."""
    names = _display_temporaries(sym)
    style = label_style(fmt, unicode)
    lines = []
    for s, expr in sym.program.assignments:
        lines.append(_equation(_render(names[s], fmt, unicode), expr.xreplace(names),
                               fmt, unicode))
    if lines:
        lines.append("")
    if sym.kind.name == "hessian" and len(sym.variables) > 1:
        note = "symmetric: the upper triangle is shown"
        lines.append(f"% {note}" if fmt == "latex" else f"({note})")
    rows = sym.by_row()
    for index in shown_indices(sym.kind, sym.shape):
        expr = rows.get(_flat(index, sym.shape), sympy.S.Zero).xreplace(names)
        label = sym.kind.label(index, sym.variables, style, sym.m)
        lines.append(_equation(label, expr, fmt, unicode))
    return "\n".join(lines) + "\n"


def _nested(flat: list, shape: tuple) -> object:
    if not shape:
        return flat[0]
    step = len(flat) // shape[0]
    if len(shape) == 1:
        return list(flat)
    return [_nested(flat[i * step:(i + 1) * step], shape[1:]) for i in range(shape[0])]


def render_json(sym: Symbolic, fmt: str, sources: Sequence[str], is_vector: bool) -> str:
    """Every component (the full array, both triangles of a Hessian) as strings."""
    style = "latex" if fmt == "latex" else "plain"
    names = _display_temporaries(sym)
    rows = sym.by_row()
    size = 1
    for s in sym.shape:
        size *= s
    text = [_render(rows.get(p, sympy.S.Zero).xreplace(names), style, False)
            for p in range(size)]
    doc = {
        "formula": list(sources) if is_vector else sources[0],
        "variables": list(sym.variables),
        "params": list(sym.params),
        "format": style,
        sym.kind.name: _nested(text, sym.shape),
    }
    if sym.program.assignments:
        doc["cse"] = [[_render(names[s], style, False), _render(e.xreplace(names), style, False)]
                      for s, e in sym.program.assignments]
    return json.dumps(doc, indent=2) + "\n"


# ------------------------------------------------------------------------ Python


class PythonPrinter(ArrayPrinter):
    """The NumPy tier's printer, for a pasteable function.

    Functions NumPy lacks (gamma, erf, ...) come from ``scipy.special``, printed with the
    module name ``sp``; like ``np`` it is renamed apart from the user's names later.
    """

    #: SymPy class name -> scipy.special function.
    SCIPY = {"erf": "erf", "erfc": "erfc", "gamma": "gamma", "loggamma": "gammaln",
             "polygamma": "polygamma"}

    def __init__(self, symbol_names):
        super().__init__(symbol_names)
        self.uses_scipy = False

    def _no_code(self, expr):
        name = type(expr).__name__
        special = self.SCIPY.get(name)
        if special is None:
            raise UnsupportedFunctionError(
                f"symgrad cannot write the function '{name}' as NumPy code.", function=name
            )
        self.uses_scipy = True
        return f"sp.{special}({', '.join(self._print(a) for a in expr.args)})"


# Names the printers emit besides the placeholders: left as they are.
_PYTHON_WORDS = frozenset({"if", "else", "and", "or", "not", "True", "False"})
_NAME = re.compile(r"(?<![\w.])[A-Za-z_][A-Za-z0-9_]*")


def _internal_prefix(user_names: Sequence[str]) -> str:
    """``_``, or more underscores: no user name starts with it."""
    prefix = "_"
    while any(name.startswith(prefix) for name in user_names):
        prefix += "_"
    return prefix


def python_names(user_names: Sequence[str]) -> list[str]:
    """The user's names as parameter names: keywords (``lambda``) get a ``_`` suffix."""
    taken = set(user_names)
    out = []
    for name in user_names:
        if keyword.iskeyword(name):
            new = name + "_"
            while new in taken:
                new += "_"
            taken.add(new)
            name = new
        if not name.isidentifier() or keyword.iskeyword(name):  # pragma: no cover
            raise ValueError(f"internal: {name!r} is not a Python name")
        out.append(name)
    return out


def _renamer(mapping: dict[str, str]):
    def rename(code: str) -> str:
        def sub(match: re.Match) -> str:
            word = match.group(0)
            if word in mapping:
                return mapping[word]
            if word in _PYTHON_WORDS:
                return word
            raise ValueError(f"internal: unexpected name {word!r} in generated code")

        return _NAME.sub(sub, code)

    return rename


def python_source(sym: Symbolic, version: str = "") -> str:
    """A NumPy function computing ``sym`` on broadcast arrays (see the module notes)."""
    program = sym.program
    user = list(sym.variables) + list(sym.params)
    params = python_names(user)
    prefix = _internal_prefix(user + params)
    np_name, sp_name, out_name = f"{prefix}np", f"{prefix}sp", f"{prefix}out"

    # Print with placeholders (v0.. inputs, t0.. temporaries), then rename every name
    # at once: a user's "np" or "t0" can never meet the printer's.
    placeholders = {s: f"v{k}" for k, s in enumerate(program.inputs)}
    mapping = {f"v{k}": name for k, name in enumerate(params)}
    mapping.update(np=np_name, sp=sp_name)
    for k, (s, _) in enumerate(program.assignments):
        placeholders[s] = f"t{k}"
        mapping[f"t{k}"] = f"{prefix}t{k}"
    printer = PythonPrinter(placeholders)
    rename = _renamer(mapping)
    temps = [(mapping[placeholders[s]], rename(printer.doprint(e)))
             for s, e in program.assignments]
    results = [(rows, rename(printer.doprint(e))) for rows, e in program.results]

    kind = sym.kind.name
    shape = sym.shape
    nv = len(sym.variables)
    described = ", ".join(params[:nv])
    if sym.params:
        described += f"; parameters {', '.join(params[nv:])}"
    renamed = [f"{a} -> {b}" for a, b in zip(user, params) if a != b]
    version = version if re.fullmatch(r"[\w.+-]*", version) else ""
    bshape = f"{np_name}.broadcast_shapes({', '.join(f'{p}.shape' for p in params)})"

    lines = [f"import numpy as {np_name}"]
    if printer.uses_scipy:
        lines.append(f"import scipy.special as {sp_name}")
    lines += ["", ""]
    lines.append(f"def {kind}({', '.join(params)}):")
    lines.append(f'    """The {kind} of a formula in {described} (generated by symgrad'
                 f'{" " + version if version else ""}).')
    lines.append("")
    if renamed:
        lines.append(f"    Python keywords renamed: {', '.join(renamed)}.")
    lines.append(f"    Inputs broadcast together to a shape S; returns an array of shape "
                 f"S + {shape!r}.")
    lines.append('    """')
    lines += [f"    {p} = {np_name}.asarray({p}, dtype={np_name}.float64)" for p in params]
    lines += [f"    {name} = {code}" for name, code in temps]
    written = {p for rows, _ in results for p in rows}
    size = 1
    for s in shape:
        size *= s
    alloc = "zeros" if len(written) < size else "empty"
    lines.append(f"    {out_name} = {np_name}.{alloc}({bshape} + {shape!r})")

    def target(p: int) -> str:
        if not shape:
            return f"{out_name}[...]"
        index = []
        for s in reversed(shape):
            index.append(p % s)
            p //= s
        return f"{out_name}[..., {', '.join(map(str, reversed(index)))}]"

    for rows, code in results:
        lines.append("    " + " = ".join(target(p) for p in rows) + f" = {code}")
    lines.append(f"    return {out_name}[()]" if not shape else f"    return {out_name}")
    return "\n".join(lines) + "\n"
