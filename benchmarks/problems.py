"""The benchmark problems, their inputs and their symbolic forms.

A *case* is (problem, size, op, N): e.g. ``("P2", 50, "hessian", 10_000)``.

* P1  ``sin(x)*cos(y) + exp(-(x**2+y**2)/2)``, 2 variables.
* P2  Rosenbrock ``sum_i 100*(x{i+1}-x{i}**2)**2 + (1-x{i})**2`` written out over named
  variables ``x0 .. x{n-1}`` (size = n).
* P3  ``exp(-a*x**2)*cos(b*y+c*z) + log(1+x**2+y**2+z**2)*atan(a*b)
  + sqrt(1+(a*x-b*y)**2)*tanh(c*z)`` over a, b, c, x, y, z (all variables).

Canonical output layout (used to compare every column with every other): one row per
component, ``(rows, N)``: value ``(1, N)``, gradient ``(n, N)``, Hessian ``(n*n, N)``
dense row-major (entry (i, j) in row ``i*n + j``) -- symgrad's own memory layout.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

OPS = ("value", "gradient", "hessian")

P1_FORMULA = "sin(x)*cos(y) + exp(-(x**2+y**2)/2)"
P3_FORMULA = (
    "exp(-a*x**2)*cos(b*y+c*z) + log(1+x**2+y**2+z**2)*atan(a*b) "
    "+ sqrt(1+(a*x-b*y)**2)*tanh(c*z)"
)


def rosenbrock_formula(n: int) -> str:
    """Rosenbrock over named variables x0..x{n-1}, written out term by term."""
    if n < 2:
        raise ValueError("Rosenbrock needs n >= 2")
    return " + ".join(f"100*(x{i + 1}-x{i}**2)**2 + (1-x{i})**2" for i in range(n - 1))


@dataclass(frozen=True)
class Problem:
    name: str  # "P1", "P2", "P3"
    size: int  # number of variables
    formula: str
    variables: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"P2 n={self.size}" if self.name == "P2" else self.name

    @property
    def n(self) -> int:
        return len(self.variables)

    def rows(self, op: str) -> int:
        return {"value": 1, "gradient": self.n, "hessian": self.n * self.n}[op]

    def inputs(self, N: int, seed: int = 0) -> np.ndarray:
        """Deterministic inputs, shape ``(n, N)`` (row k = variable k, contiguous)."""
        rng = np.random.default_rng(seed + 1000 * self.size + ord(self.name[-1]))
        if self.name == "P1":
            return rng.uniform(-3.0, 3.0, size=(2, N))
        if self.name == "P2":
            return rng.uniform(-2.0, 2.0, size=(self.size, N))
        if self.name == "P3":
            abc = rng.uniform(0.1, 2.0, size=(3, N))
            xyz = rng.uniform(-2.0, 2.0, size=(3, N))
            return np.concatenate([abc, xyz])
        raise ValueError(self.name)

    # -- symbolic forms (for the SymPy-based competitors) -----------------------------
    def sympy_symbols(self):
        import sympy

        return [sympy.Symbol(v, real=True) for v in self.variables]

    def sympy_expr(self):
        """The formula as a SymPy expression over real symbols (our own trusted strings)."""
        import sympy
        from sympy.parsing.sympy_parser import parse_expr

        syms = self.sympy_symbols()
        local = {s.name: s for s in syms}
        local.update(sin=sympy.sin, cos=sympy.cos, exp=sympy.exp, log=sympy.log,
                     atan=sympy.atan, sqrt=sympy.sqrt, tanh=sympy.tanh)
        return parse_expr(self.formula, local_dict=local, evaluate=True), syms

    def sympy_outputs(self, op: str):
        """(symbols, list of expressions in canonical row order) -- what a SymPy user writes:
        ``diff`` for the gradient, ``sympy.hessian`` (full n x n) for the Hessian."""
        import sympy

        expr, syms = self.sympy_expr()
        if op == "value":
            return syms, [expr]
        if op == "gradient":
            return syms, [sympy.diff(expr, s) for s in syms]
        if op == "hessian":
            return syms, list(sympy.hessian(expr, syms))
        raise ValueError(op)


def problem(name: str, size: int | None = None) -> Problem:
    if name == "P1":
        return Problem("P1", 2, P1_FORMULA, ("x", "y"))
    if name == "P2":
        n = int(size)
        return Problem("P2", n, rosenbrock_formula(n), tuple(f"x{i}" for i in range(n)))
    if name == "P3":
        return Problem("P3", 6, P3_FORMULA, ("a", "b", "c", "x", "y", "z"))
    raise ValueError(f"unknown problem {name!r}")


def canonical(native_layout: str, result, N: int, rows: int) -> np.ndarray:
    """Convert a column's output into the canonical ``(rows, N)`` layout (not timed).

    native_layout: "rows" (already (rows, N) or (N,) for one row), "points"
    ((N, ...) point-major), "symgrad" (S + block shape, i.e. (N,), (N,n), (N,n,n)).
    """
    if native_layout == "rows":
        if isinstance(result, (list, tuple)):
            arr = np.empty((rows, N))
            for k, r in enumerate(result):
                arr[k] = np.asarray(r)
            return arr
        return np.asarray(result, dtype=float).reshape(rows, N)
    if native_layout in ("points", "symgrad"):
        a = np.asarray(result, dtype=float).reshape(N, rows)
        return np.ascontiguousarray(a.T)
    raise ValueError(native_layout)


def max_rel_err(a: np.ndarray, ref: np.ndarray) -> float:
    """max |a - ref| / max(|ref|, 1): relative for large entries, absolute for small ones.

    Entries that are NaN in both count as equal; NaN or inf in one only gives inf.
    """
    a = np.asarray(a, dtype=float)
    ref = np.asarray(ref, dtype=float)
    if a.shape != ref.shape:
        return float("inf")
    both_nan = np.isnan(a) & np.isnan(ref)
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.abs(a - ref) / np.maximum(np.abs(ref), 1.0)
    err = np.where(both_nan, 0.0, err)
    err = np.where(np.isfinite(err), err, np.inf)
    return float(err.max()) if err.size else 0.0


def sample_indices(N: int, k: int = 512) -> np.ndarray:
    """Points whose outputs are kept for the cross-column check (first, last, spread)."""
    if N <= k:
        return np.arange(N)
    return np.unique(np.linspace(0, N - 1, k).astype(np.int64))


def bytes_per_point(p: Problem, op: str) -> dict[str, int]:
    """Memory traffic per point (float64): inputs read + outputs written.

    For the Hessian ``min`` counts only the nonzero entries actually written (for P2,
    the 3n-2 tridiagonal entries; the zero rows of a calloc'ed (n*n, N) buffer are never
    touched), ``dense`` all n*n entries.
    """
    n = p.n
    read = 8 * n
    if op == "value":
        return {"min": read + 8, "dense": read + 8}
    if op == "gradient":
        return {"min": read + 8 * n, "dense": read + 8 * n}
    nnz = 3 * n - 2 if p.name == "P2" else n * n
    return {"min": read + 8 * nnz, "dense": read + 8 * n * n}
