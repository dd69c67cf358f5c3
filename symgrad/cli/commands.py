"""The ``symgrad`` command's parser, option handling and commands.

One printing command per output kind that makes sense at a terminal (``CLI_KINDS``,
read from the registry ``symgrad.outputs``): ``value``, ``grad``/``gradient``,
``jacobian``, ``hessian``, ``laplacian``, ``divergence``, ``curl``; plus ``check`` and
``source``.

Exit status (see ``main``): 0 success; 1 a ``check`` failed; 2 an error the user can
fix (bad formula, bad options, output that cannot be written), printed as one
``symgrad: error: ...`` message; 3 an internal error (a symgrad bug), printed as
``symgrad: internal error: ...`` (the traceback only with ``SYMGRAD_DEBUG=1``);
130 interrupted; 141 (128 + SIGPIPE) when the reader of the output went away
(``symgrad ... | head``), silently, as other Unix tools do.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys

from ..errors import InputError
from ..outputs import OUTPUTS, OutputKind
from .terminal import use_unicode

__all__ = ["main", "build_parser", "CLI_KINDS"]

FORMATS = ("pretty", "plain", "latex", "python")

#: command -> (output kind, aliases). Kinds that need an extra argument (hvp's direction,
#: derivative's order) or are a storage layout (sparse_hessian) are for the Python API.
CLI_KINDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "value": ("value", ()),
    "grad": ("gradient", ("gradient",)),
    "jacobian": ("jacobian", ()),
    "hessian": ("hessian", ()),
    "laplacian": ("laplacian", ()),
    "divergence": ("divergence", ()),
    "curl": ("curl", ()),
}

EXIT_OK, EXIT_FAILED, EXIT_ERROR, EXIT_INTERNAL = 0, 1, 2, 3
EXIT_INTERRUPTED, EXIT_PIPE = 130, 141

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
    "laplacian": """examples:
  symgrad laplacian "x**2*sin(y)"
  symgrad laplacian "exp(-(x**2+y**2))" --format latex
  symgrad laplacian "x**2*y**2" --at x=1,y=2""",
    "divergence": """examples:
  symgrad divergence "x*y" "y**2" --vars x,y
  symgrad divergence "x" "y" "z" --at x=1,y=2,z=3""",
    "curl": """examples:
  symgrad curl --vars x,y -- -y x                  (2-D: the scalar curl)
  symgrad curl "y*z" "x*z" "x*y" --vars x,y,z
  symgrad curl "y*z" "x*z" "x*y" --at x=1,y=2,z=0""",
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
        if any(re.match(r"-[^-]", arg) and arg not in self._option_string_actions
                   for arg in _ARGV):
            message += (" (a formula that starts with '-' goes after '--', e.g. "
                        "symgrad grad --vars x -- -x**2)")
        if sys.stderr is not None:
            self.print_usage(sys.stderr)
        self.exit(EXIT_ERROR, f"symgrad: error: {message}\n")

    def _print_message(self, message, file=None):
        # argparse would drop write errors silently (help to a full disk: exit 0).
        if message:
            _Output(file if file is not None else sys.stdout).write(message)


#: The arguments being parsed (for the hint about formulas that start with '-').
_ARGV: list[str] = []


def _takes_vectors(kind: OutputKind) -> bool:
    """Whether the kind applies to several formulas (then the command takes several)."""
    return kind.check(2, 2, True, None) is None


# ------------------------------------------------------------------------ the parser


def build_parser() -> argparse.ArgumentParser:
    from .._version import __version__

    parser = _Parser(
        prog="symgrad",
        description="Exact derivatives of formula strings: print them, evaluate them "
        "(compiled with numba), check them against numpy.gradient, show the kernel.",
        epilog="examples:\n  symgrad grad \"x**2*sin(y)\"\n"
        "  symgrad check \"sin(x)*cos(y)\" --domain x=-3:3,y=-3:3\n"
        "run 'symgrad COMMAND --help' for each command's options.\n"
        "exit status: 0 ok, 1 failed check, 2 error, 3 internal error (a bug).",
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
        # Every command takes FORMULA...: the kind itself says when it needs one formula.
        p.add_argument("formulas", nargs="+", metavar="FORMULA",
                       help="formula(s), e.g. \"x**2*sin(y)\"" if multi else
                       "the formula, e.g. \"x**2*sin(y)\"")
        names(p)
        p.add_argument("--format", "-f", choices=FORMATS, default="pretty",
                       help="output format (default: pretty; ASCII where the terminal "
                       "cannot show Unicode); python: a NumPy function to paste")
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

    for command, (kind_name, aliases) in CLI_KINDS.items():
        kind = OUTPUTS[kind_name]
        multi = _takes_vectors(kind)
        help_ = f"print the {kind_name}: {kind.summary}"
        if kind_name == "hessian":
            help_ += "; the upper triangle is shown"
        if kind_name == "value":
            help_ = "print the parsed formula, or its value with --at"
        printing(add(command, help_, aliases), multi=multi)

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
    for kind_name, _ in CLI_KINDS.values():
        s.add_argument(f"--{kind_name}", action="append_const", const=kind_name,
                       dest="outputs",
                       help=f"include the {kind_name} (default: value and gradient, or value "
                       "and Jacobian for several formulas)" if kind_name == "value" else
                       f"include the {kind_name}")
    s.add_argument("--no-cse", action="store_true",
                   help="no common-subexpression elimination")
    return parser


# ------------------------------------------------------------------ option parsing


def _input_error(message: str):
    from ..errors import InputError

    return InputError(message)


def _number(text: str, what: str) -> float:
    """A number, or a constant expression (``pi/2``) read by symgrad's safe parser."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    from ..errors import ParseError, SymgradError
    from ..parse import parse

    try:
        expr = parse(text, variables="_symgrad_dummy").exprs[0]
    except ParseError as exc:
        raise _input_error(f"{what}: {text!r} is not a number ({exc.reason})") from None
    except SymgradError:
        raise _input_error(f"{what}: {text!r} is not a number (it has names in it).") \
            from None
    if expr.free_symbols:
        raise _input_error(f"{what}: {text!r} is not a number (it has names in it).")
    try:
        value = _constant_value(expr)
    except (OverflowError, ZeroDivisionError):
        raise _input_error(f"{what}: {text!r} is too large (it overflows float64).") from None
    except (TypeError, ValueError, ArithmeticError):
        raise _input_error(f"{what}: {text!r} is not a real number.") from None
    if not math.isfinite(value):
        raise _input_error(f"{what}: {text!r} is too large (it overflows float64).")
    return value


def _constant_value(expr) -> float:
    """A constant expression's value in float64 arithmetic, bottom-up.

    Never ``sympy.N`` of the whole tree: exact evaluation of a tower such as
    ``pi**pi**pi**pi**pi`` does not finish, while each float64 step here is bounded
    (an overflow raises OverflowError, a complex result ValueError).
    """
    import sympy

    if expr.is_Number or isinstance(expr, sympy.NumberSymbol):
        return float(expr)
    if expr.is_Add or expr.is_Mul or expr.is_Pow:
        args = [_constant_value(a) for a in expr.args]
        if expr.is_Add:
            return math.fsum(args)
        if expr.is_Mul:
            return math.prod(args)
        result = math.pow(*args)  # OverflowError, or ValueError for a complex result
        return result
    if isinstance(expr, sympy.Function):
        args = [sympy.Float(_constant_value(a), 17) for a in expr.args]
        value = complex(expr.func(*args).evalf(17))
    else:  # e.g. a Piecewise of constants: small by the parser's limits
        value = complex(expr.evalf(17))
    if value.imag != 0:
        raise ValueError("not real")
    return value.real


def _pairs(specs: list[str] | None, option: str) -> dict[str, str]:
    """``["x=1,y=2"]`` -> {"x": "1", "y": "2"} (InputError for anything else)."""
    out: dict[str, str] = {}
    for spec in specs or []:
        for item in _split_commas(spec):
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


def _split_commas(text: str) -> list[str]:
    """Split at the commas outside brackets: ``x=atan2(1,1),y=2`` is two items."""
    items, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(depth - 1, 0)
        elif ch == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    items.append(text[start:])
    return items


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
            from .._bind import Binder

            err = Binder(ev.variables, ev.params).unknown(name, "name")
            raise _input_error(f"{option}: {err}")
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
    pairs = _pairs(specs, "--param")
    try:
        from .._bind import Binder

        Binder(ev.variables, ev.params).param_values(
            pairs, variable_fix="give its value in --at", complete=False
        )
    except InputError as err:
        raise _input_error(f"--param: {err}") from None
    return {name: _number(text, f"--param {name}") for name, text in pairs.items()}


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


# ---------------------------------------------------- messages in the CLI's words

#: Library wording (Python keyword arguments) -> the CLI's options. Applied to every
#: error message the library raises, at the CLI boundary (``_cli_message``).
_WORDING: tuple[tuple[re.Pattern, str], ...] = tuple(
    (re.compile(pattern, re.M), replacement)
    for pattern, replacement in (
        (r"\bvariables= or params=", "--vars or --params"),
        (r"\bpass variables='([^']*)'", r"pass --vars \1"),
        (r"^variables: ", "--vars: "),
        (r"^params: ", "--params: "),
        (r"\bin both variables and params\b", "in both --vars and --params"),
        (r"\bpass (\w+)=\.\.\. \(or param_values=\{[^}]*\}\)", r"pass --param \1=VALUE"),
        (r"\bunknown parameter\b", "--param: unknown parameter"),
        (r"give its range in domain\b", "give its range with --domain"),
        (r"; pass domain=\{\.\.\., '(\w+)': \(lo, hi\)\}", r"; pass --domain ...,\1=LO:HI"),
        (r"\bdomain\['(\w+)'\]", r"--domain \1"),
        (r"^domain has\b", "--domain has"),
        (r"is reserved for a keyword argument of evaluators; rename that variable or "
         r"parameter", "is reserved by symgrad's evaluators, so --at and check cannot take "
         "it; rename that variable or parameter"),
        (r"^derivatives is empty; pass e\.g\. \('gradient', 'hessian'\)",
         "--derivatives is empty; pass e.g. --derivatives gradient,hessian"),
        (r"^unknown derivative\b", "--derivatives: unknown derivative"),
        (r"^points must be\b", "--points must be"),
    )
)


def _cli_message(message: str) -> str:
    for pattern, replacement in _WORDING:
        message = pattern.sub(replacement, message)
    return message


# ---------------------------------------------------------------------------- output


def _parse_formula(args):
    from ..parse import parse

    formula = args.formulas if len(args.formulas) > 1 else args.formulas[0]
    if _kind_name(args) in ("divergence", "curl"):
        formula = list(args.formulas)  # a vector field, even of one component
    return parse(formula, variables=args.vars, params=args.params)


def _kind_name(args) -> str:
    return CLI_KINDS[args.command][0]


def _applies(kind: OutputKind, formula) -> None:
    n, m = len(formula.variables), len(formula.exprs)
    reason = kind.check(n, m, formula.is_vector, None)
    if reason is not None:
        raise _input_error(f"{kind.name} {reason}")


def _print_symbolic(kind: OutputKind, formula, args, out) -> None:
    from .._version import __version__
    from . import render

    fmt = args.format
    python = fmt == "python" and not args.json
    sym = render.symbolic(formula, kind, cse=args.cse, simplify=args.simplify,
                          guards=python)
    if args.json:
        text = render.render_json(sym, "plain" if fmt in ("pretty", "python") else fmt,
                                  formula.sources, formula.is_vector)
    elif python:
        text = render.python_source(sym, __version__)
    else:
        text = render.render_text(sym, fmt, use_unicode(out))
    out.write(text)


def _evaluate(ev, kind: str, values: dict, pvals: dict):
    """One point of one kind: the evaluator's fused ``evaluate`` over the registry.

    Inputs go positionally (variables, then parameters, in order), so a formula's own
    names never meet the evaluator's keywords (a variable called ``out``).
    """
    args = [values[v] for v in ev.variables] + [pvals[p] for p in ev.params]
    return ev.evaluate(*args, outputs=(kind,))[0]


def _print_numbers(ev, kind: OutputKind, args, out) -> None:
    import numpy as np

    from . import render

    params = _param_values(ev, args.param)
    points = [_point(ev, spec, params) for spec in args.at]
    unicode = use_unicode(out)
    style = render.label_style("plain" if args.format in ("python", "latex") else args.format,
                               unicode)
    results = []
    for values, pvals in points:
        with np.errstate(all="ignore"):
            arr = _evaluate(ev, kind.name, values, pvals)
        results.append((values, pvals, np.asarray(arr, dtype=float)))
    if args.json:
        doc = {
            "formula": list(ev.formula.sources) if ev.is_vector else ev.formula.sources[0],
            "variables": list(ev.variables),
            "params": list(ev.params),
            "at": [
                {"point": values, "params": pvals, kind.name: _json_numbers(arr.tolist())}
                for values, pvals, arr in results
            ],
        }
        out.write(json.dumps(doc, indent=2) + "\n")
        return
    lines = []
    m = ev.n_outputs
    for values, pvals, arr in results:
        where = ", ".join(f"{k}={v:.17g}" for k, v in {**values, **pvals}.items())
        lines.append(f"at {where}:")
        for index in render.shown_indices(kind, arr.shape):
            label = kind.label(index, ev.variables, style, m)
            lines.append(f"  {label} = {float(arr[index])!r}")
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


def _compile(args, formula, variables=None, params=None):
    from ..api import compile as sg_compile

    return sg_compile(formula, variables or args.vars, params or args.params,
                      parallel=False, simplify=getattr(args, "simplify", False))


class _Capture:
    """Collects what a command writes (with the encoding of the real output)."""

    def __init__(self, encoding):
        self.encoding = encoding
        self.parts: list[str] = []

    def write(self, text: str) -> None:
        self.parts.append(text)


def _text_cache_key(args, out) -> str | None:
    """The request cache's key for the printed text of this command, or None.

    Only plain printing (no ``--at``, no ``--param``) of formulas that pass the
    SymPy-free check (``symgrad.parse.check``) is cached; the text is stored after a
    full parse and render, so a hit prints exactly what the slow path printed.
    """
    if args.at or args.param:
        return None
    from ..parse.check import light_request
    from ..request_cache import text_key

    formulas = list(args.formulas)
    if light_request(formulas if len(formulas) > 1 else formulas[0], args.vars,
                     args.params) is None:
        return None
    return text_key("cli-text", args.command, formulas, args.vars, args.params, args.format,
                    bool(args.cse), bool(args.simplify), bool(args.json), use_unicode(out))


def _cmd_print(args, out) -> int:
    # A warm start: the same printing command ran before, its text is in the cache.
    try:
        from .. import request_cache

        text_key = _text_cache_key(args, out)
    except Exception:  # noqa: BLE001 - the cache is an optimisation only
        text_key = None
    if text_key is not None:
        hit = request_cache.load(text_key)
        if hit is not None and isinstance(hit.get("text"), str):
            out.write(hit["text"])
            return EXIT_OK
    kind = OUTPUTS[_kind_name(args)]
    formula = _parse_formula(args)  # printing needs the parser only, never a kernel
    _applies(kind, formula)
    if args.at:
        sources = list(formula.sources) if formula.is_vector else formula.sources[0]
        # the parsed order, explicitly: the evaluator is called positionally
        ev = _compile(args, sources, formula.variable_names, formula.param_names or None)
        _print_numbers(ev, kind, args, out)
        return EXIT_OK
    if args.param:
        from types import SimpleNamespace

        # validate, even if unused
        _param_values(SimpleNamespace(params=formula.param_names,
                                      variables=formula.variable_names), args.param)
    if text_key is None:
        _print_symbolic(kind, formula, args, out)
        return EXIT_OK
    buffer = _Capture(out.encoding)  # render.use_unicode looks at the encoding
    _print_symbolic(kind, formula, args, buffer)
    text = "".join(buffer.parts)
    out.write(text)
    request_cache.store(text_key, {"text": text})
    return EXIT_OK


def _cmd_check(args, out) -> int:
    from ..validate import check, check_points

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
    return EXIT_OK if report.ok else EXIT_FAILED


def _cmd_source(args, out) -> int:
    from ..api import compile as sg_compile

    formula = args.formulas if len(args.formulas) > 1 else args.formulas[0]
    ev = sg_compile(formula, args.vars, args.params, cse=not args.no_cse, parallel=False)
    outputs = tuple(dict.fromkeys(args.outputs or ()))
    if not outputs:
        text = ev.source
    else:
        if "gradient" in outputs and ev.is_vector:
            raise _input_error("--gradient is for one formula; use --jacobian for several.")
        for name in outputs:
            _applies(OUTPUTS[name], ev.formula)
        text = ev.kernel_source(*outputs)
    out.write(text if text.endswith("\n") else text + "\n")
    return EXIT_OK


_COMMANDS = {
    **{command: _cmd_print for command in CLI_KINDS},
    "check": _cmd_check,
    "source": _cmd_source,
}


# ------------------------------------------------------------------------------ main


def _safe_streams() -> None:
    """Never crash on an encoding the terminal cannot show (last resort)."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(errors="replace")
            except (ValueError, OSError):  # pragma: no cover - detached streams
                pass


def _say(message: str) -> None:
    """One message on stderr; nothing if stderr is closed or broken."""
    stream = sys.stderr
    if stream is None:
        return
    try:
        stream.write(message if message.endswith("\n") else message + "\n")
        stream.flush()
    except (OSError, ValueError):
        pass


def _silence_stdout() -> None:
    """Point fd 1 at /dev/null so the interpreter's final flush cannot fail again.

    The recipe of the Python docs for SIGPIPE (``signal`` module, "Note on SIGPIPE").
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # pragma: no cover - no fd 1 at all
        pass


def _run(argv) -> int:
    parser = build_parser()
    _ARGV[:] = sys.argv[1:] if argv is None else list(argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        code = exc.code
        return int(code or 0) if not isinstance(code, str) else EXIT_ERROR
    if not getattr(args, "command", None):
        if sys.stderr is not None:
            parser.print_help(sys.stderr)
        return EXIT_ERROR
    return _COMMANDS[args.command](args, _Output(sys.stdout))


class _OutputError(Exception):
    """stdout is closed or cannot be written (disk full, ...)."""


class _Output:
    """stdout for the commands: a write error becomes ``_OutputError`` (one message)
    except a closed pipe, which stays ``BrokenPipeError`` (a quiet exit)."""

    def __init__(self, stream):
        self.stream = stream
        self.encoding = getattr(stream, "encoding", None)

    def _do(self, method, *args):
        if self.stream is None:
            raise _OutputError("standard output is closed")
        try:
            return getattr(self.stream, method)(*args)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise _OutputError(exc.strerror or str(exc)) from None
        except ValueError as exc:  # "I/O operation on closed file"
            raise _OutputError(str(exc)) from None

    def write(self, text: str) -> None:
        self._do("write", text)

    def flush(self) -> None:
        if self.stream is not None:
            self._do("flush")


def main(argv: list[str] | None = None) -> int:
    """Run the ``symgrad`` command; returns the exit status.

    0 ok; 1 a check failed; 2 an error (bad input, or output that cannot be
    written); 3 an internal error; 130 interrupted; 141 the output pipe was closed.
    """
    from ..errors import SymgradError

    _safe_streams()
    try:
        status = _run(argv)
        _Output(sys.stdout).flush()  # write errors surface here, not at interpreter exit
        return status
    except BrokenPipeError:
        # The reader went away (symgrad ... | head): stop quietly, as Unix tools do.
        _silence_stdout()
        return EXIT_PIPE
    except KeyboardInterrupt:
        _say("symgrad: interrupted")
        return EXIT_INTERRUPTED
    except SymgradError as exc:
        _say(f"symgrad: error: {_cli_message(str(exc))}")
        return EXIT_ERROR
    except _OutputError as exc:
        _silence_stdout()
        _say(f"symgrad: error: cannot write the output: {exc}.")
        return EXIT_ERROR
    except Exception as exc:  # noqa: BLE001 - the last line of defence: no traceback
        return _internal(exc)


def _internal(exc: BaseException) -> int:
    if os.environ.get("SYMGRAD_DEBUG", "") not in ("", "0"):
        import traceback

        _say("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
    detail = str(exc).splitlines()[0] if str(exc) else ""
    _say(f"symgrad: internal error: {type(exc).__name__}"
         + (f": {detail}" if detail else "")
         + " (this is a bug in symgrad; please report it with the command line; "
         "set SYMGRAD_DEBUG=1 for the traceback)")
    return EXIT_INTERNAL
