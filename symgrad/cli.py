"""The ``symgrad`` command: derivatives at a terminal.

Examples::

    symgrad grad "x**2*sin(y)"                  # each partial, pretty-printed
    symgrad hessian "x**2*sin(y)" --format latex
    symgrad jacobian "x*y" "sin(x)+y" --vars x,y
    symgrad grad "a*x**2" --vars x --params a --format python
    symgrad grad "x**2*sin(y)" --at x=1,y=2     # evaluate (compiled) and print numbers
    symgrad grad "x**2*sin(y)" --cse            # shared subexpressions
    symgrad check "sin(x)*cos(y)" --domain x=-3:3,y=-3:3
    symgrad source "sin(x)*cos(y)" --hessian    # the generated kernel source

Exit status: 0 on success, 1 when a ``check`` fails, 2 for a bad formula or bad
options (the message starts with ``symgrad: error:``; no traceback).

Only evaluation (``--at``, ``check``) compiles kernels and imports numba; printing
derivatives and ``source`` need SymPy only.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any

__all__ = ["main", "build_parser"]

FORMATS = ("pretty", "plain", "latex", "python")

_EXAMPLES = {
    "grad": """examples:
  symgrad grad "x**2*sin(y)"
  symgrad grad "x**2*sin(y)" --at x=1,y=2
  symgrad grad "a*x**2" --vars x --params a --format python
  symgrad grad "exp(-(x**2+y**2))*cos(x*y)" --cse
  symgrad grad "x**2*sin(y)" --json""",
    "hessian": """examples:
  symgrad hessian "x**2*sin(y)"
  symgrad hessian "x**2*sin(y)" --format latex
  symgrad hessian "a*x**2*y" --params a --at x=1,y=2,a=3""",
    "jacobian": """examples:
  symgrad jacobian "x*y" "sin(x)+y" --vars x,y
  symgrad jacobian "x*y" "sin(x)+y" --at x=0,y=1 --json""",
    "value": """examples:
  symgrad value "x**2*sin(y)"
  symgrad value "x**2*sin(y)" --at x=1,y=pi/2""",
    "check": """examples:
  symgrad check "sin(x)*cos(y)" --domain x=-3:3,y=-3:3
  symgrad check "sin(x)*cos(y)" --domain=-3:3 --points 101 --indexing xy
  symgrad check "a*exp(x)*y" --params a --param a=2 --domain x=-1:1,y=-1:1
  symgrad check "x*y" "sin(x)+y" --domain x=-2:2,y=-2:2       (a Jacobian)
  symgrad check "log(x)*y" --at x=0.5,y=2 --at x=2,y=3        (pointwise)
exit status: 0 passed, 1 failed, 2 bad input.""",
    "source": """examples:
  symgrad source "sin(x)*cos(y)"             (value and gradient)
  symgrad source "sin(x)*cos(y)" --hessian
  symgrad source "x*y" "sin(x)+y" --value --jacobian""",
}


class _Parser(argparse.ArgumentParser):
    """argparse with ``symgrad: error:`` messages (exit status 2)."""

    def error(self, message: str):  # noqa: D102
        self.print_usage(sys.stderr)
        self.exit(2, f"symgrad: error: {message}\n")


# ------------------------------------------------------------------------ the parser


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = _Parser(
        prog="symgrad",
        description="Exact derivatives of formula strings: print them, evaluate them "
        "(compiled with numba), check them against numpy.gradient, show the kernel.",
        epilog="examples:\n  symgrad grad \"x**2*sin(y)\"\n"
        "  symgrad check \"sin(x)*cos(y)\" --domain x=-3:3,y=-3:3\n"
        "run 'symgrad COMMAND --help' for each command's options.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"symgrad {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def add(name, help_, aliases=()):
        p = sub.add_parser(
            name,
            aliases=list(aliases),
            help=help_,
            description=help_,
            epilog=_EXAMPLES[name],
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.set_defaults(command=name)
        return p

    def names(p):
        p.add_argument("--vars", metavar="NAMES",
                       help="variables, in order, e.g. x,y (default: every name that is not "
                       "a parameter, in natural order)")
        p.add_argument("--params", metavar="NAMES",
                       help="parameters: not differentiated, given values with --at/--param")

    def printing(p, multi: bool):
        p.add_argument("formulas" if multi else "formula", nargs="+" if multi else None,
                       metavar="FORMULA", help="formula(s), e.g. \"x**2*sin(y)\"")
        names(p)
        p.add_argument("--format", "-f", choices=FORMATS, default="pretty",
                       help="output format (default: pretty; ASCII where the terminal "
                       "cannot show Unicode)")
        p.add_argument("--json", action="store_true",
                       help="machine-readable JSON (expressions as strings, numbers as floats)")
        p.add_argument("--cse", action="store_true",
                       help="show the shared subexpressions, then the outputs in terms of them")
        p.add_argument("--simplify", action="store_true",
                       help="simplify each derivative with sympy.simplify (slow)")
        p.add_argument("--at", action="append", metavar="NAME=VALUE,...",
                       help="evaluate (compiled) at this point instead of printing formulas; "
                       "repeat for more points; values may be expressions like pi/2; "
                       "parameters too (a=2)")
        p.add_argument("--param", action="append", metavar="NAME=VALUE,...",
                       help="parameter values for --at (also accepted inside --at)")

    printing(add("grad", "print the gradient (each first partial derivative)",
                 aliases=("gradient",)), multi=False)
    printing(add("hessian", "print the Hessian (second partial derivatives; symmetric, "
                 "upper triangle shown)"), multi=False)
    printing(add("jacobian", "print the Jacobian of one or more formulas"), multi=True)
    printing(add("value", "print the parsed formula, or its value with --at"), multi=True)

    c = add("check", "check the compiled derivatives against numpy.gradient on a grid "
            "(--domain), or against high-order finite differences at points (--at)")
    c.add_argument("formulas", nargs="+", metavar="FORMULA")
    names(c)
    c.add_argument("--domain", metavar="NAME=LO:HI,...",
                   help="range of each variable, e.g. x=-3:3,y=0:1; or LO:HI for all "
                   "(write --domain=-3:3 when it starts with a minus)")
    c.add_argument("--points", type=int, metavar="N",
                   help="grid points per axis (default: 201 in 2-D, 401 in 1-D, 51 in 3-D, "
                   "21 in 4-D)")
    c.add_argument("--indexing", choices=("ij", "xy"), default="ij",
                   help="numpy.meshgrid indexing (both give the same verdict)")
    c.add_argument("--edge-order", type=int, choices=(1, 2), default=2,
                   help="numpy.gradient edge_order (used with --edges)")
    c.add_argument("--edges", action="store_true",
                   help="also compare at the grid edges (one-sided differences)")
    c.add_argument("--derivatives", default="gradient,hessian", metavar="KINDS",
                   help="comma-separated: gradient, hessian, jacobian (default: "
                   "gradient,hessian)")
    c.add_argument("--slices", choices=("full", "planes", "lines"),
                   help="grid layout (default: full grid up to 4 variables)")
    c.add_argument("--seed", type=int, default=0, help="seed of the slices' base point")
    c.add_argument("--at", action="append", metavar="NAME=VALUE,...",
                   help="pointwise check at this point (repeatable) instead of a grid")
    c.add_argument("--param", action="append", metavar="NAME=VALUE,...",
                   help="parameter values, e.g. a=2")
    c.add_argument("--json", action="store_true", help="the report as JSON")

    s = add("source", "print the generated kernel source (no numba needed)")
    s.add_argument("formulas", nargs="+", metavar="FORMULA")
    names(s)
    for out in ("value", "gradient", "hessian", "jacobian"):
        s.add_argument(f"--{out}", action="append_const", const=out, dest="outputs",
                       help=f"include the {out} (default: value and gradient, or value "
                       "and Jacobian for several formulas)" if out == "value" else
                       f"include the {out}")
    s.add_argument("--no-cse", action="store_true",
                   help="no common-subexpression elimination")
    return parser


# ------------------------------------------------------------------ option parsing


def _input_error(message: str):
    from .errors import InputError

    return InputError(message)


def _number(text: str, what: str) -> float:
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    # A constant expression such as pi/2 or -sqrt(2): parsed by symgrad's safe parser.
    import sympy

    from .errors import ParseError, SymgradError
    from .parse import parse

    try:
        expr = parse(text, variables="_symgrad_dummy").exprs[0]
    except ParseError as exc:
        raise _input_error(f"{what}: {text!r} is not a number ({exc.reason})") from None
    except SymgradError:
        raise _input_error(f"{what}: {text!r} is not a number (it has names in it).") \
            from None
    if expr.free_symbols:
        raise _input_error(f"{what}: {text!r} is not a number (it has names in it).")
    value = complex(sympy.N(expr))
    if value.imag != 0:
        raise _input_error(f"{what}: {text!r} is not a real number.")
    return value.real


def _pairs(specs: list[str] | None, option: str) -> dict[str, str]:
    """``["x=1,y=2"]`` -> {"x": "1", "y": "2"} (ValueError-free: InputError)."""
    out: dict[str, str] = {}
    for spec in specs or []:
        for item in spec.split(","):
            item = item.strip()
            if not item:
                continue
            name, sep, value = item.partition("=")
            name = name.strip()
            if not sep or not name or not value.strip():
                raise _input_error(
                    f"{option}: expected NAME=VALUE pairs separated by commas "
                    f"(e.g. {option} x=1,y=2), got {item!r}."
                )
            if name in out:
                raise _input_error(f"{option}: {name!r} is given twice.")
            out[name] = value
    return out


def _point(ev, spec: str, params: dict[str, float], option: str = "--at"):
    """Parse one --at spec into (variable values, parameter values)."""
    raw = _pairs([spec], option)
    values: dict[str, float] = {}
    pvals = dict(params)
    for name, text in raw.items():
        if name in ev.variables:
            values[name] = _number(text, f"{option} {name}")
        elif name in ev.params:
            pvals[name] = _number(text, f"{option} {name}")
        else:
            raise _input_error(
                f"{option}: {name!r} is not a variable or parameter of the formula; "
                f"variables are {', '.join(ev.variables)}"
                + (f"; parameters are {', '.join(ev.params)}" if ev.params else "")
                + ("" if ev.params else " (declare parameters with --params)")
                + "."
            )
    missing = [v for v in ev.variables if v not in values]
    if missing:
        raise _input_error(f"{option} {spec!r}: no value for variable {missing[0]!r}.")
    missing = [p for p in ev.params if p not in pvals]
    if missing:
        raise _input_error(
            f"no value for parameter {missing[0]!r}: pass --param {missing[0]}=VALUE "
            f"(or {missing[0]}=VALUE inside --at)."
        )
    return values, pvals


def _param_values(ev, specs) -> dict[str, float]:
    out = {}
    for name, text in _pairs(specs, "--param").items():
        if name not in ev.params:
            hint = " (it is a variable)" if name in ev.variables else ""
            raise _input_error(
                f"--param: {name!r} is not a parameter{hint}; parameters are "
                f"{', '.join(ev.params) or '(none: declare them with --params)'}."
            )
        out[name] = _number(text, f"--param {name}")
    return out


def _domain(spec: str) -> dict[str, tuple[float, float]] | tuple[float, float]:
    def rng(text, where):
        lo, sep, hi = text.partition(":")
        if not sep:
            raise _input_error(
                f"--domain: expected LO:HI for {where}, got {text!r} (e.g. x=-3:3)."
            )
        return (_number(lo, f"--domain {where}"), _number(hi, f"--domain {where}"))

    spec = spec.strip()
    if "=" not in spec:
        return rng(spec, "all variables")
    return {name: rng(text, name) for name, text in _pairs([spec], "--domain").items()}


# ---------------------------------------------------------------------------- output


def _use_unicode(stream) -> bool:
    encoding = getattr(stream, "encoding", None) or "ascii"
    try:
        "∂²√⋅₀─".encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


class _Labels:
    """Component labels in each output style."""

    def __init__(self, style: str, variables: tuple[str, ...], unicode: bool):
        self.style = style
        self.vars = variables
        self.unicode = unicode

    def _latex_var(self, k):
        import sympy

        return sympy.latex(sympy.Symbol(self.vars[k]))

    def first(self, k: int, f: str = "f") -> str:
        v = self.vars[k]
        if self.style == "latex":
            fl = f if f == "f" else f"{f[0]}_{{{f[1:]}}}"
            return rf"\frac{{\partial {fl}}}{{\partial {self._latex_var(k)}}}"
        if self.style == "pretty" and self.unicode:
            return f"∂{f}/∂{v}"
        return f"d{f}/d{v}"

    def second(self, i: int, j: int, f: str = "f") -> str:
        vi, vj = self.vars[i], self.vars[j]
        if self.style == "latex":
            fl = f if f == "f" else f"{f[0]}_{{{f[1:]}}}"
            if i == j:
                return (rf"\frac{{\partial^{{2}} {fl}}}{{\partial {self._latex_var(i)}^{{2}}}}")
            return (rf"\frac{{\partial^{{2}} {fl}}}{{\partial {self._latex_var(i)} "
                    rf"\partial {self._latex_var(j)}}}")
        if self.style == "pretty" and self.unicode:
            return f"∂²{f}/∂{vi}²" if i == j else f"∂²{f}/∂{vi}∂{vj}"
        return f"d2{f}/d{vi}2" if i == j else f"d2{f}/d{vi}d{vj}"


def _render(expr, style: str, unicode: bool) -> str:
    import sympy

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


def _cse_symbols(exprs):
    """A generator of fresh temporaries (t0, t1, ... unless a user name clashes)."""
    import sympy

    taken = {s.name for e in exprs for s in e.free_symbols}
    for prefix in ("t", "c", "w", "tmp", "_t"):
        if not any(re.fullmatch(re.escape(prefix) + r"\d+", name) for name in taken):
            return sympy.numbered_symbols(prefix, real=True)
    return sympy.numbered_symbols("_cse_", real=True)


def _outputs(ev, kind: str):
    """[(label-maker args, expr), ...] and the array shape for the kind."""
    n = ev.n_variables
    if kind == "gradient":
        return [(("first", (k,)), e) for k, e in enumerate(ev.gradient_exprs)], (n,)
    if kind == "hessian":
        H = ev.hessian_exprs
        return [(("second", (i, j)), H[i, j]) for i in range(n) for j in range(i, n)], (n, n)
    if kind == "jacobian":
        J = ev.jacobian_exprs
        m = J.shape[0]
        items = []
        for r in range(m):
            for k in range(n):
                items.append((("first", (k,), f"f{r}" if m > 1 else "f"), J[r, k]))
        return items, (m, n)
    # value
    exprs = ev.exprs
    if len(exprs) == 1:
        return [(("value", ()), exprs[0])], ()
    return [(("value", (r,)), e) for r, e in enumerate(exprs)], (len(exprs),)


def _label(labels: _Labels, spec) -> str:
    how, idx = spec[0], spec[1]
    f = spec[2] if len(spec) > 2 else "f"
    if how == "first":
        return labels.first(idx[0], f)
    if how == "second":
        return labels.second(idx[0], idx[1], f)
    return "f" if not idx else f"f{idx[0]}"


def _print_symbolic(ev, kind: str, args, out) -> None:
    import sympy

    unicode = _use_unicode(out)
    style = args.format
    items, shape = _outputs(ev, kind)
    exprs = [e for _, e in items]
    if args.cse:
        replacements, reduced = sympy.cse(exprs, symbols=_cse_symbols(exprs), order="none")
    else:
        replacements, reduced = [], exprs
    if args.json:
        _print_symbolic_json(ev, kind, items, shape, replacements, reduced, style, out)
        return
    if style == "python":
        out.write(_python_code(ev, kind, items, shape, replacements, reduced))
        return
    labels = _Labels(style, ev.variables, unicode)
    lines = []
    for sym, expr in replacements:
        lines.append(_equation(_render(sym, style, unicode), expr, style, unicode))
    if replacements:
        lines.append("")
    if kind == "hessian" and ev.n_variables > 1:
        lines.append("(symmetric: the upper triangle is shown)" if style != "latex"
                     else "% symmetric: the upper triangle is shown")
    for (spec, _), expr in zip(items, reduced):
        lines.append(_equation(_label(labels, spec), expr, style, unicode))
    out.write("\n".join(lines) + "\n")


def _nested(flat: list, shape: tuple) -> Any:
    if not shape:
        return flat[0]
    if len(shape) == 1:
        return list(flat)
    step = len(flat) // shape[0]
    return [_nested(flat[i * step:(i + 1) * step], shape[1:]) for i in range(shape[0])]


def _print_symbolic_json(ev, kind, items, shape, replacements, reduced, style, out):
    st = "plain" if style in ("pretty", "python") else style
    text = [_render(e, st, False) for e in reduced]
    if kind == "hessian":
        n = ev.n_variables
        full = [[None] * n for _ in range(n)]
        for (spec, _), t in zip(items, text):
            i, j = spec[1]
            full[i][j] = full[j][i] = t
        payload = full
    else:
        payload = _nested(text, shape)
    doc = {
        "formula": list(ev.formula.sources) if ev.is_vector else ev.formula.sources[0],
        "variables": list(ev.variables),
        "params": list(ev.params),
        "format": st,
        kind: payload,
    }
    if replacements:
        doc["cse"] = [[_render(s, st, False), _render(e, st, False)] for s, e in replacements]
    out.write(json.dumps(doc, indent=2) + "\n")


def _python_code(ev, kind, items, shape, replacements, reduced) -> str:
    from sympy.printing.numpy import SciPyPrinter

    class Printer(SciPyPrinter):
        def _print_cbrt(self, expr):
            return f"{self._module_format('numpy.cbrt')}({self._print(expr.args[0])})"

        def _print_DiracDelta(self, expr):  # symgrad's convention: 0 (see derive.py)
            return "0.0"

    printer = Printer({"fully_qualified_modules": True, "strict": True})
    try:
        temps = [(printer.doprint(s), printer.doprint(e)) for s, e in replacements]
        codes = [printer.doprint(e) for e in reduced]
    except Exception as exc:  # a function NumPy/SciPy cannot express
        raise _input_error(f"cannot write this {kind} as NumPy code: {exc}") from None
    # Names through the printer too: it renames what Python cannot take (lambda_).
    args = [printer.doprint(sym) for sym in ev.formula.variables + ev.formula.params]
    arglist = ", ".join(args)
    imports = {"numpy"} | set(printer.module_imports)
    source = "; ".join(s.replace("\n", " ") for s in ev.formula.sources)
    lines = [*(f"import {m}" for m in sorted(imports)), "", ""]
    lines.append(f"def {kind}({arglist}):")
    shape_text = {"gradient": f"+ ({shape[0]},)", "hessian": f"+ {shape}",
                  "jacobian": f"+ {shape}", "value": f"+ {shape}" if shape else ""}[kind]
    lines.append(f'    """{kind.capitalize()} of {source!r} (symgrad); shape: inputs '
                 f'broadcast together {shape_text}."""')
    for name, code in temps:
        lines.append(f"    {name} = {code}")
    bshape = f"numpy.broadcast({arglist}).shape"
    if kind == "value" and not shape:
        lines.append(f"    return numpy.zeros({bshape}) + ({codes[0]})")
    else:
        lines.append(f"    out = numpy.empty({bshape} + {tuple(shape)!r})")
        for (spec, _), code in zip(items, codes):
            if kind == "hessian":
                i, j = spec[1]
                target = f"out[..., {i}, {j}]" if i == j else \
                    f"out[..., {i}, {j}] = out[..., {j}, {i}]"
            elif kind == "jacobian":
                f = spec[2] if len(spec) > 2 else "f"
                r = int(f[1:]) if f != "f" else 0
                target = f"out[..., {r}, {spec[1][0]}]"
            elif kind == "gradient":
                target = f"out[..., {spec[1][0]}]"
            else:
                target = f"out[..., {spec[1][0]}]"
            lines.append(f"    {target} = {code}")
        lines.append("    return out")
    return "\n".join(lines) + "\n"


def _print_numbers(ev, kind: str, args, out) -> None:
    import numpy as np

    params = _param_values(ev, args.param)
    points = [_point(ev, spec, params) for spec in args.at]
    unicode = _use_unicode(out)
    style = "plain" if args.format in ("python", "latex") else args.format
    labels = _Labels(style, ev.variables, unicode)
    items, shape = _outputs(ev, kind)
    results = []
    for values, pvals in points:
        with np.errstate(all="ignore"):
            if kind == "gradient":
                arr = ev.gradient(**values, **pvals)
            elif kind == "hessian":
                arr = ev.hessian(**values, **pvals)
            elif kind == "jacobian":
                arr = ev.jacobian(**values, **pvals)
            else:
                arr = ev(**values, **pvals)
        results.append((values, pvals, np.asarray(arr, dtype=float)))
    if args.json:
        doc = {
            "formula": list(ev.formula.sources) if ev.is_vector else ev.formula.sources[0],
            "variables": list(ev.variables),
            "params": list(ev.params),
            "at": [
                {"point": values, "params": pvals, kind: _json_numbers(arr.tolist())}
                for values, pvals, arr in results
            ],
        }
        out.write(json.dumps(doc, indent=2) + "\n")
        return
    lines = []
    for values, pvals, arr in results:
        where = ", ".join(f"{k}={v:.17g}" for k, v in {**values, **pvals}.items())
        lines.append(f"at {where}:")
        for spec, _ in items:
            idx = spec[1]
            if kind == "jacobian":
                f = spec[2] if len(spec) > 2 else "f"
                r = int(f[1:]) if f != "f" else 0
                v = arr[r, idx[0]]
            elif kind == "value":
                v = arr[idx] if idx else arr
            else:
                v = arr[idx]
            lines.append(f"  {_label(labels, spec)} = {float(v)!r}")
    out.write("\n".join(lines) + "\n")


def _json_numbers(obj):
    if isinstance(obj, list):
        return [_json_numbers(v) for v in obj]
    v = float(obj)
    if v != v:
        return None
    if v in (float("inf"), float("-inf")):
        return "inf" if v > 0 else "-inf"
    return v


# -------------------------------------------------------------------------- commands


def _compile(args, formula):
    from .api import compile as sg_compile

    return sg_compile(formula, args.vars, args.params, parallel=False,
                      simplify=getattr(args, "simplify", False))


def _cmd_print(args, out) -> int:
    kind = {"grad": "gradient", "hessian": "hessian", "jacobian": "jacobian",
            "value": "value"}[args.command]
    if kind in ("gradient", "hessian"):
        formula = args.formula
    else:
        formula = args.formulas if len(args.formulas) > 1 else args.formulas[0]
    ev = _compile(args, formula)
    if kind == "hessian" and ev.is_vector:  # pragma: no cover - single formula only
        raise _input_error("hessian takes one formula.")
    if args.param and not args.at:
        _param_values(ev, args.param)  # validate, even if unused
    if args.at:
        _print_numbers(ev, kind, args, out)
    else:
        _print_symbolic(ev, kind, args, out)
    return 0


def _cmd_check(args, out) -> int:
    from .validate import check, check_points

    formula = args.formulas if len(args.formulas) > 1 else args.formulas[0]
    ev = _compile(args, formula)
    params = _param_values(ev, args.param)
    kinds = tuple(k.strip() for k in args.derivatives.split(",") if k.strip())
    if args.at:
        if args.domain:
            raise _input_error("give either --domain (grid check) or --at (pointwise), not both.")
        pts = []
        for spec in args.at:
            values, pvals = _point(ev, spec, params)
            if pvals != params:
                raise _input_error("check: give parameter values with --param, not in --at.")
            pts.append([values[v] for v in ev.variables])
        report = check_points(ev, pts, derivatives=kinds, param_values=params)
    else:
        if not args.domain:
            raise _input_error(
                "check needs --domain NAME=LO:HI,... (a grid check) or --at NAME=VALUE,... "
                "(a pointwise check); e.g. --domain "
                + ",".join(f"{v}=-1:1" for v in ev.variables)
            )
        report = check(
            ev, _domain(args.domain), args.points, indexing=args.indexing,
            edge_order=args.edge_order, derivatives=kinds, param_values=params,
            slices=args.slices, seed=args.seed, interior=not args.edges,
        )
    if args.json:
        out.write(json.dumps(report.to_dict(), indent=2) + "\n")
    else:
        out.write(str(report) + "\n")
    return 0 if report.ok else 1


def _cmd_source(args, out) -> int:
    from .api import compile as sg_compile

    formula = args.formulas if len(args.formulas) > 1 else args.formulas[0]
    ev = sg_compile(formula, args.vars, args.params, cse=not args.no_cse, parallel=False)
    outputs = tuple(dict.fromkeys(args.outputs or ()))
    if not outputs:
        text = ev.source
    else:
        if "gradient" in outputs and ev.is_vector:
            raise _input_error("--gradient is for one formula; use --jacobian for several.")
        text = ev.kernel_source(*outputs)
    out.write(text if text.endswith("\n") else text + "\n")
    return 0


_COMMANDS = {
    "grad": _cmd_print,
    "hessian": _cmd_print,
    "jacobian": _cmd_print,
    "value": _cmd_print,
    "check": _cmd_check,
    "source": _cmd_source,
}


def _safe_stdout() -> None:
    """Never crash on an encoding the terminal cannot show (last resort)."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(errors="replace")
            except (ValueError, OSError):  # pragma: no cover - detached streams
                pass


def main(argv: list[str] | None = None) -> int:
    """Run the ``symgrad`` command; returns the exit status (0, 1 failed check, 2 error)."""
    _safe_stdout()
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return int(exc.code or 0) if not isinstance(exc.code, str) else 2
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return 2
    from .errors import SymgradError

    try:
        return _COMMANDS[args.command](args, sys.stdout)
    except (SymgradError, ValueError) as exc:
        sys.stderr.write(f"symgrad: error: {exc}\n")
        return 2
    except KeyboardInterrupt:  # pragma: no cover
        return 130
    except BrokenPipeError:  # pragma: no cover - e.g. `symgrad ... | head`
        return 0
