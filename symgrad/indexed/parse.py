"""Parse an indexed formula string into a :class:`~symgrad.indexed.model.Model`.

The grammar is the scalar grammar of ``symgrad.parse`` plus:

* ``sum(expr for i in range(stop))`` and ``range(start, stop)``, with several ``for``
  clauses (``for i in range(m) for j in range(i+1, n)``) and nested sums; bounds are
  affine with integer coefficients in sizes and outer indices.
* subscripts ``x[i+1]``, ``u[i, j-1]`` on declared arrays only, affine in loop indices
  and sizes; constant subscripts (``x[0]``, ``x[n-1]``) also outside sums.
* a loop index or a size used as a number (``sum(i*x[i] ...)``, ``1/n``).
* the whole formula a list comprehension ``[expr for i in range(m)]``: a vector of
  residuals (one per iteration, row-major over the ``for`` clauses).

A sum nested in another sum's summand must appear linearly in it (``a[i]*sum(...)``);
the parser folds it into one sum over both ranges. The same safety rules as the scalar
grammar hold: the text is parsed with :func:`ast.parse` only, walked against a
whitelist and every SymPy object is built here.
"""

from __future__ import annotations

import ast

import sympy

from ..errors import InputError, ParseError
from ..parse.convert import _Converter, _syntax_tree
from ..parse.guards import _check_final
from ..parse.names import CONSTANTS, FUNCTIONS, _symbol, natural_key
from ..parse.scanner import (
    _NESTING_MESSAGE,
    MAX_NESTING,
)
from .declare import Decl, parse_declarations
from .model import Access, Model, Range, Term, extremes, index_symbol, size_symbol

__all__ = ["IndexedFormula", "parse_indexed", "MAX_LOOP_DEPTH", "MAX_TERMS"]

#: Deepest nest of ``for`` clauses in one sum (after folding nested sums).
MAX_LOOP_DEPTH = 6
#: Most sums in one formula (after folding).
MAX_TERMS = 64
# Largest integer in a subscript or bound (products with sizes stay within int64).
_MAX_INDEX = 2**40

_NOT_AFFINE = ("must be affine in loop indices and sizes with integer coefficients "
               "(such as i+1, 2*i, n-1-i)")


class IndexedFormula:
    """A parsed indexed formula with its declarations.

    Attributes
    ----------
    model : Model
    variables, params : tuple of Decl
        In declaration order (scalars have ``dims == ()``).
    sizes : dict
        Size name -> its symbol.
    symbols : dict
        Scalar name -> its SymPy symbol.
    """

    def __init__(self, model: Model, variables: tuple[Decl, ...], params: tuple[Decl, ...],
                 sizes: dict[str, sympy.Symbol]):
        self.model = model
        self.variables = variables
        self.params = params
        self.sizes = sizes
        self.symbols = {d.name: _symbol(d.name) for d in variables + params if not d.dims}

    @property
    def is_residual(self) -> bool:
        return self.model.rows is not None


def parse_indexed(text: str, variables=None, params=None) -> IndexedFormula:
    """Parse ``text`` with its declarations.

    Parameters
    ----------
    text : str
        The formula.
    variables, params : str or sequence of str, optional
        Declarations such as ``"x[n] a"`` (see ``symgrad.indexed.declare``). Without
        ``variables``, every scalar name that is not a parameter is a variable, in
        natural order; arrays must then be declared as parameters.

    Raises
    ------
    ParseError
        The formula is not in the grammar (with the position of the offending part).
    InputError
        A bad declaration, or a name that is neither declared nor a variable.
    """
    if not isinstance(text, str):
        raise InputError("an indexed formula must be a string such as "
                         "'sum(x[i]**2 for i in range(n))'")
    var_decls = parse_declarations(variables, "variables") if variables is not None else None
    par_decls = parse_declarations(params, "params")
    declared = list(var_decls or ()) + list(par_decls)
    names = [d.name for d in declared]
    for d in declared:
        if names.count(d.name) > 1:
            raise InputError(f"{d.name!r} is in both variables and params; it must be one "
                             "or the other")
    size_names: dict[str, sympy.Symbol] = {}
    for d in declared:
        for dim in d.dims:
            if isinstance(dim, str):
                if dim in names:
                    raise InputError(f"{dim!r} is a size (in {d.spelled()}) and also a "
                                     "variable or parameter; use another name")
                size_names.setdefault(dim, size_symbol(dim))
    arrays = {d.name: d for d in declared if d.dims}

    converter, top = _convert(text, arrays, size_names)
    model = converter.model(top)

    seen = converter.first_seen
    par_names = {d.name for d in par_decls}
    if var_decls is None:
        scalars = sorted((n for n in seen if n not in par_names), key=natural_key)
        var_decls = tuple(Decl(n, ()) for n in scalars)
        if not var_decls:
            raise InputError("formula has no scalar variables and variables= is not given; "
                             "declare the arrays to differentiate by, e.g. variables='x[n]'")
    else:
        known = {d.name for d in var_decls} | par_names
        unknown = [n for n in seen if n not in known]
        if unknown:
            name = min(unknown, key=seen.__getitem__)
            raise InputError(str(ParseError(
                f"formula uses {name!r}, which is neither a variable nor a parameter; "
                f"add {name!r} to variables= or params=", text, seen[name])))
    if not var_decls:
        raise InputError("formula has no variables; pass variables='x[n]' (or scalar names)")
    formula = IndexedFormula(model, tuple(var_decls), tuple(par_decls), size_names)
    _check_provable_bounds(formula)
    return formula


# ------------------------------------------------------------------------- conversion


def _convert(text: str, arrays: dict[str, Decl], sizes: dict[str, sympy.Symbol]):
    tree, tokens, positions, alias = _syntax_tree(text)
    converter = _IndexedConverter(text, tokens, positions, alias, arrays, sizes)
    body = tree.body
    if isinstance(body, ast.ListComp):
        top = converter.residuals(body)
    else:
        top = converter.value(body, 0)
    return converter, top


class _IndexedConverter(_Converter):
    """The scalar converter plus sums, subscripts, loop indices and sizes."""

    def __init__(self, text, tokens, positions, alias, arrays: dict[str, Decl],
                 sizes: dict[str, sympy.Symbol]):
        super().__init__(text, tokens, positions, alias)
        self.arrays = arrays
        self.sizes = sizes
        self.scope: list[Range] = []
        self.pending: dict[sympy.Symbol, Term] = {}
        self.accesses: dict[sympy.Symbol, Access] = {}
        self.access_ids: dict[tuple, sympy.Symbol] = {}
        self.access_pos: dict[sympy.Symbol, int] = {}
        self.rows: tuple[Range, ...] | None = None
        self.index_names: set[str] = set()
        self.term_count = 0  # names the sums _T1, _T2, ... (deterministic: cache keys)

    # -- names, subscripts

    def value(self, node: ast.AST, depth: int) -> sympy.Expr:
        if depth > MAX_NESTING:
            raise self.error(_NESTING_MESSAGE, node)
        if isinstance(node, ast.Subscript):
            return self.subscript(node, depth)
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and self.name_of(node.func) in ("sum", "prod")
                and self.name_of(node.func) not in FUNCTIONS):
            return self.reduction(node, depth)
        if isinstance(node, ast.Name):
            name = self.name_of(node)
            for r in reversed(self.scope):
                if r.index.name == name:
                    return r.index
            if name in self.sizes:
                return self.sizes[name]
            if name in self.arrays:
                decl = self.arrays[name]
                raise self.error(f"{name} is an array ({decl.spelled()}); read one element "
                                 f"such as {name}[{', '.join('i' * 1 for _ in decl.dims)}] "
                                 "inside sum(... for i in range(...))", node)
            if name in ("range",):
                raise self.error("range(...) is only allowed in 'for i in range(...)'", node)
        if isinstance(node, (ast.GeneratorExp, ast.ListComp)):
            raise self.error("a comprehension is only allowed inside sum(...), or as the "
                             "whole formula ([... for i in range(m)]: a vector of residuals)",
                             node)
        return super().value(node, depth)

    def subscript(self, node: ast.Subscript, depth: int) -> sympy.Expr:
        base = node.value
        if not isinstance(base, ast.Name):
            raise self.error("only declared arrays can be subscripted (x[i])", node)
        name = self.name_of(base)
        decl = self.arrays.get(name)
        if decl is None:
            raise self.error(f"{name} is not declared as an array; declare it with its size, "
                             f"e.g. variables='{name}[n]' or params='{name}[n]'", node)
        sl = node.slice
        items = list(sl.elts) if isinstance(sl, ast.Tuple) else [sl]
        for item in items:
            if isinstance(item, ast.Slice):
                raise self.error("slices are not allowed; read one element such as x[i]", item)
        if len(items) != len(decl.dims):
            raise self.error(f"{name} has {len(decl.dims)} dimension"
                             f"{'s' if len(decl.dims) != 1 else ''} ({decl.spelled()}) but "
                             f"{len(items)} subscript{'s' if len(items) != 1 else ''} "
                             "are given", node)
        subs = tuple(self.affine(item, depth + 1, "a subscript") for item in items)
        key = (name, subs)
        sym = self.access_ids.get(key)
        if sym is None:
            sym = sympy.Symbol(f"_a{len(self.access_ids)}", real=True)
            self.access_ids[key] = sym
            self.accesses[sym] = Access(name, subs)
            self.access_pos[sym] = self.positions.start(node)
        return sym

    def affine(self, node: ast.AST, depth: int, what: str) -> sympy.Expr:
        """An integer affine expression of loop indices and sizes."""
        expr = sympy.expand(self.value(node, depth))
        allowed = {r.index for r in self.scope} | set(self.sizes.values())
        bad = [s for s in expr.free_symbols if s not in allowed]
        if bad:
            sym = sorted(bad, key=str)[0]
            if sym in self.accesses:
                reason = f"{what} cannot read an array (indirect indexing is not supported)"
            else:
                reason = (f"{what} may only use loop indices and sizes; {sym} is neither "
                          "(sizes come from declarations such as x[n])")
            raise self.error(reason, node)
        for part in sympy.Add.make_args(expr):
            coeff, rest = part.as_coeff_Mul()
            if not coeff.is_Integer or not (rest == 1 or rest in allowed):
                raise self.error(f"{what} {_NOT_AFFINE}", node)
            if abs(int(coeff)) >= _MAX_INDEX:
                raise self.error(f"{what} has a number beyond 2**40: index arithmetic is "
                                 "64-bit", node)
        return expr

    # -- sums

    def generators(self, comp_node: ast.GeneratorExp | ast.ListComp) -> list[Range]:
        ranges: list[Range] = []
        for comp in comp_node.generators:
            if comp.is_async:
                raise self.error("async comprehensions are not allowed", comp_node)
            if comp.ifs:
                raise self.error("'if' clauses are not supported in a sum; adjust the range, "
                                 "or multiply by where(condition, 1, 0)", comp.ifs[0])
            target = comp.target
            if not isinstance(target, ast.Name):
                raise self.error("a loop variable must be one name (for i in range(n))",
                                 target)
            name = self.name_of(target)
            if any(r.index.name == name for r in self.scope):
                raise self.error(f"index {name!r} is already used by an enclosing sum; use "
                                 "another name", target)
            if (name in self.sizes or name in self.arrays or name in CONSTANTS
                    or name in FUNCTIONS):
                raise self.error(f"{name!r} cannot be a loop index: it is already a size, "
                                 "array, constant or function name", target)
            it = comp.iter
            if not (isinstance(it, ast.Call) and isinstance(it.func, ast.Name)
                    and self.name_of(it.func) == "range"):
                raise self.error("a sum's loop must be 'for i in range(stop)' or "
                                 "'for i in range(start, stop)'", it)
            if it.keywords or not 1 <= len(it.args) <= 3:
                raise self.error("range() takes 1 or 2 arguments here: range(stop) or "
                                 "range(start, stop)", it)
            if len(it.args) == 3:
                raise self.error("range() with a step is not supported; use a stride in "
                                 "the subscript instead (x[2*i] for i in range(m))",
                                 it.args[2])
            start = self.affine(it.args[0], 1, "a range bound") if len(it.args) == 2 \
                else sympy.Integer(0)
            stop = self.affine(it.args[-1], 1, "a range bound")
            r = Range(index_symbol(name), start, stop)
            self.scope.append(r)
            self.index_names.add(name)
            ranges.append(r)
            if len(self.scope) > MAX_LOOP_DEPTH:
                raise self.error(f"sums are nested more than {MAX_LOOP_DEPTH} loops deep",
                                 target)
        return ranges

    def reduction(self, node: ast.Call, depth: int) -> sympy.Expr:
        fname = self.name_of(node.func)
        if fname == "prod":
            raise self.error("prod(...) is not supported; for a product of positive "
                             "factors write exp(sum(log(...) for ...))", node.func)
        if node.keywords:
            raise self.error("sum() takes no keyword arguments", node.keywords[0])
        if len(node.args) != 1 or not isinstance(node.args[0], (ast.GeneratorExp,
                                                                ast.ListComp)):
            raise self.error("sum() takes one generator: sum(f(x[i]) for i in range(n))",
                             node.func)
        gen = node.args[0]
        ranges = self.generators(gen)
        try:
            summand = self.value(gen.elt, depth + 1)
        finally:
            del self.scope[len(self.scope) - len(ranges):]
        return self.fold(tuple(ranges), summand, node)

    def new_term(self, ranges: tuple[Range, ...], summand: sympy.Expr,
                 position: int | None) -> sympy.Symbol:
        if len(self.pending) >= MAX_TERMS:
            raise ParseError(f"more than {MAX_TERMS} sums in one formula", self.text,
                             position)
        self.term_count += 1
        sym = sympy.Symbol(f"_T{self.term_count}", real=True)
        self.pending[sym] = Term(ranges, summand, position)
        return sym

    def split_linear(self, expr: sympy.Expr, node: ast.AST, context: str):
        """``expr = rest + sum(c_p * p)`` over the pending sums ``p`` it contains."""
        inner = [p for p in self.pending if p in expr.free_symbols]
        coeffs = {}
        for p in inner:
            c = sympy.diff(expr, p)
            if any(q in c.free_symbols for q in inner) or c.has(sympy.Derivative):
                raise ParseError(
                    f"a sum inside {context} must appear linearly (added, or multiplied "
                    "by factors without sums), e.g. a[i]*sum(x[j] for j in range(n))",
                    self.text, self.pending[p].position)
            coeffs[p] = c
        rest = expr.subs({p: 0 for p in inner}) if inner else expr
        return rest, coeffs

    def fold(self, ranges: tuple[Range, ...], summand: sympy.Expr, node: ast.AST):
        pos = self.positions.start(node)
        rest, coeffs = self.split_linear(summand, node, "another sum's summand")
        if not coeffs:
            return self.new_term(ranges, summand, pos)
        total = sympy.Integer(0)
        for p, c in coeffs.items():
            inner = self.pending.pop(p)
            total += self.new_term(ranges + inner.ranges, c * inner.summand, inner.position)
        if rest != 0:
            total += self.new_term(ranges, rest, pos)
        return total

    def residuals(self, node: ast.ListComp) -> sympy.Expr:
        rows = self.generators(node)
        try:
            element = self.value(node.elt, 1)
        finally:
            del self.scope[len(self.scope) - len(rows):]
        rest, coeffs = self.split_linear(element, node, "a residual")
        terms: dict[sympy.Symbol, Term] = {}
        pos = self.positions.start(node)
        for p, c in coeffs.items():
            inner = self.pending.pop(p)
            terms[p] = Term(tuple(rows) + inner.ranges, c * inner.summand, inner.position)
        if rest != 0 or not terms:
            terms[sympy.Symbol("_Trest", real=True)] = Term(tuple(rows), rest, pos)
        self.pending = terms
        self.rows = tuple(rows)
        return sympy.Integer(0)

    # -- the result

    def model(self, top: sympy.Expr) -> Model:
        _check_final(top, self.text, self.memo)
        for term in self.pending.values():
            _check_final(term.summand, self.text, self.memo)
        if self.rows is None:
            top = self.fold_top(top)
        model = Model(self.text, top, dict(self.pending), dict(self.accesses), self.rows,
                      dict(self.access_pos))
        return model

    def fold_top(self, top: sympy.Expr) -> sympy.Expr:
        """Fold ``F``'s coefficients into the sums when ``F`` is linear in them."""
        inner = [p for p in self.pending if p in top.free_symbols]
        for p in list(self.pending):
            if p not in inner:  # a sum that cancelled (sum(...) - sum(...))
                del self.pending[p]
        coeffs = {}
        for p in inner:
            c = sympy.diff(top, p)
            if any(q in c.free_symbols for q in inner) or c.has(sympy.Derivative):
                return top  # non-linear in its sums: F stays
            coeffs[p] = c
        rest = top.subs({p: 0 for p in inner})
        folded: dict[sympy.Symbol, Term] = {}
        for p, c in coeffs.items():
            term = self.pending[p]
            folded[p] = Term(term.ranges, c * term.summand, term.position)
        if rest != 0 or not folded:
            folded[sympy.Symbol("_Trest", real=True)] = Term((), rest, None)
        self.pending = folded
        return sympy.Add(*folded)


# ---------------------------------------------------------------------- bounds checks


def _check_provable_bounds(formula: IndexedFormula) -> None:
    """A subscript that is out of range for every size is an error now (with a caret)."""
    model = formula.model
    dims = {d.name: d.dims for d in formula.variables + formula.params}
    for term in [*model.terms.values(), Term((), model.top)]:
        rectangular = all(
            not (r.start.free_symbols | r.stop.free_symbols) & {q.index for q in term.ranges}
            for r in term.ranges)
        if not rectangular:
            continue  # bounds may include points of empty ranges: checked at call time
        for sym in sorted(term.summand.free_symbols & set(model.accesses), key=str):
            access = model.accesses[sym]
            for axis, sub in enumerate(access.subscripts):
                lo, hi = extremes(sub, term.ranges)
                dim = dims[access.name][axis]
                length = sympy.Integer(dim) if isinstance(dim, int) else formula.sizes[dim]
                over = sympy.expand(hi - (length - 1))
                if lo.is_Number and lo < 0:
                    _bounds_error(model, sym, access, axis, f"reaches {lo}", dim, True)
                if over.is_Number and over > 0:
                    _bounds_error(model, sym, access, axis, f"reaches {hi}", dim, False)


def _bounds_error(model: Model, sym, access: Access, axis: int, what: str, dim,
                  below: bool) -> None:
    where = f" (axis {axis})" if len(access.subscripts) > 1 else ""
    hint = (" Python's negative indexing is not supported: write x[n-1] for the last "
            "element." if below else " Shorten the range.")
    raise ParseError(f"subscript {access.spelled()}{where} {what}, outside 0..{dim}-1 for "
                     f"every size.{hint}", model.text, model.positions.get(sym))
