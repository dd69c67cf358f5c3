"""A Program: every output of one request, with one common-subexpression pass over all.

A request such as "value and gradient and Hessian" becomes a list of output *blocks*
(value, gradient, ...), each with a per-point shape. The kernel fills one buffer of
``n_rows`` rows, one row per output entry, ``N`` points per row (component-major, so
every output component is contiguous). Entries that are structurally zero are not
computed at all (they are listed in ``zero_rows`` and zero-filled by the evaluator);
entries that are equal by symmetry (Hessian ``(i, j)`` and ``(j, i)``) are computed
once and stored in several rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sympy
from sympy.core.sympify import _sympify

__all__ = ["Block", "Program", "build_program"]


@dataclass(frozen=True)
class Block:
    """One named output of a request.

    Attributes
    ----------
    name : str
        'value', 'gradient', 'hessian', 'jacobian', 'hvp', 'derivative', ...
    shape : tuple of int
        Per-point shape: ``()`` for a scalar value, ``(n,)`` for a gradient, ...
    offset : int
        First row of this block in the kernel's output buffer.
    """

    name: str
    shape: tuple[int, ...]
    offset: int

    @property
    def size(self) -> int:
        size = 1
        for s in self.shape:
            size *= s
        return size


@dataclass(frozen=True)
class Program:
    """Straight-line code for one point: temporaries, then results stored in rows.

    Attributes
    ----------
    inputs : tuple of sympy.Symbol
        Kernel inputs in argument order (variables, then parameters).
    blocks : tuple of Block
    n_rows : int
        Rows of the output buffer (sum of block sizes).
    assignments : tuple of (sympy.Symbol, sympy.Expr)
        Common subexpressions in evaluation order.
    results : tuple of (tuple of int, sympy.Expr)
        Each distinct nonzero result and the rows it is stored in.
    zero_rows : tuple of int
        Rows that are identically zero (never written by the kernel).
    """

    inputs: tuple[sympy.Symbol, ...]
    blocks: tuple[Block, ...]
    n_rows: int
    assignments: tuple[tuple[sympy.Symbol, sympy.Expr], ...]
    results: tuple[tuple[tuple[int, ...], sympy.Expr], ...]
    zero_rows: tuple[int, ...]


OutputSpec = tuple[str, tuple[int, ...], Sequence[tuple[Sequence[int], sympy.Expr]]]
"""(name, per-point shape, [(flat positions within the block, expression), ...])."""


def _real_constants(expr: sympy.Expr) -> sympy.Expr:
    # A real kernel cannot hold complex constants; IEEE arithmetic would give NaN for
    # what produced them (sqrt(-1), log(-2)), so that is what the kernel returns.
    if expr.has(sympy.I):
        expr = expr.xreplace({sympy.I: sympy.nan})
    return expr


def _atoms(exprs: Sequence[sympy.Basic]) -> set[sympy.Basic]:
    """Every atom of ``exprs``, each shared subtree walked once (derivatives share
    many: one walk over all instead of one per expression)."""
    seen: set[sympy.Basic] = set()
    atoms: set[sympy.Basic] = set()
    stack = list(exprs)
    while stack:
        e = stack.pop()
        if e in seen:
            continue
        seen.add(e)
        if e.args:
            stack.extend(e.args)
        else:
            atoms.add(e)
    return atoms


def build_program(
    outputs: Sequence[OutputSpec], inputs: Sequence[sympy.Symbol], cse: bool = True
) -> Program:
    """Lay out the outputs in one buffer and share common subexpressions across all.

    Parameters
    ----------
    outputs : sequence of (name, shape, entries)
        ``entries`` lists each distinct expression with the flat positions (C order
        within the block's shape) where it is stored; positions not listed are zero.
    inputs : sequence of sympy.Symbol
        Every free symbol of the outputs must be among these.
    cse : bool
        Run ``sympy.cse`` over all outputs together (True), or emit each output as is.

    Returns
    -------
    Program
    """
    blocks = []
    rows_exprs: list[tuple[tuple[int, ...], sympy.Expr]] = []
    offset = 0
    written: set[int] = set()
    for name, shape, entries in outputs:
        block = Block(name, tuple(shape), offset)
        blocks.append(block)
        for positions, expr in entries:
            # strict: numbers and SymPy objects only; a string is never evaluated
            expr = _sympify(expr)
            if expr == 0:
                continue
            rows = tuple(offset + p for p in positions)
            written.update(rows)
            rows_exprs.append((rows, expr))
        offset += block.size
    n_rows = offset
    known = set(inputs)
    atoms = _atoms([e for _, e in rows_exprs])
    if sympy.I in atoms:
        rows_exprs = [(rows, _real_constants(e)) for rows, e in rows_exprs]
    if any(a.is_Symbol and a not in known for a in atoms):  # (a bound symbol, maybe)
        for _, expr in rows_exprs:
            unknown = expr.free_symbols - known
            if unknown:
                raise ValueError(f"internal: outputs use symbols {unknown} not in the inputs")

    exprs = [e for _, e in rows_exprs]
    if cse and exprs:
        # order='none' keeps SymPy from sorting thousands of expressions canonically,
        # which is where most of cse's time goes for big Hessians.
        replacements, reduced = sympy.cse(
            exprs, symbols=sympy.numbered_symbols("t", cls=sympy.Dummy), order="none"
        )
    else:
        replacements, reduced = [], exprs
    results = tuple((rows, r) for (rows, _), r in zip(rows_exprs, reduced))
    zero_rows = tuple(r for r in range(n_rows) if r not in written)
    return Program(
        inputs=tuple(inputs),
        blocks=tuple(blocks),
        n_rows=n_rows,
        assignments=tuple(replacements),
        results=results,
        zero_rows=zero_rows,
    )
