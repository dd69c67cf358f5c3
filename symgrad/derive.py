"""Exact symbolic derivatives of a parsed formula.

Every function here is pure: SymPy expressions in, SymPy expressions out. Derivatives
are taken once and reused: the Hessian is built from the gradient, only its upper
triangle (``i <= j``) is derived, and an entry whose variable does not occur in the
gradient component is known to be zero without calling SymPy.

Conventions at non-differentiable points (one rule for every step-like function)
---------------------------------------------------------------------------------
symgrad returns the derivative SymPy defines for real arguments, and treats the
distributional parts of step functions as zero:

* ``d|x|/dx = sign(x)``, so it is 0 at ``x = 0`` (the average of the one-sided slopes).
* ``Heaviside(0) = 1/2``; ``Min``/``Max`` differentiate through ``Heaviside``, so at a
  tie each argument gets half the derivative.
* ``DiracDelta`` (the derivative of ``Heaviside`` and ``sign``), and the derivative of
  ``floor``/``ceiling`` are 0: the derivative almost everywhere.
* ``where``/``Piecewise`` differentiate branch by branch; the branch the condition
  selects is used, including on the boundary.

Outside the real domain
-----------------------
Where the formula itself is undefined on the reals (``log(x)`` or ``sqrt(x)`` at
``x < 0``, ``asin(x)`` at ``|x| > 1``, ...), its value is NaN, and so is every
derivative entry that depends on the inputs, although the derivative formula alone
(``1/x`` for ``log(x)``) would give a finite number there. ``domain_guard`` builds the
term (0 inside the domain, NaN outside) that the evaluator adds to each derivative.
Operations whose domain SymPy can prove always holds (``log(1 + x**2)``) add nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Sequence

import sympy
from sympy.core.function import AppliedUndef, ArgumentIndexError
from sympy.ntheory.multinomial import multinomial_coefficients_iterator
from sympy.utilities.iterables import multiset_permutations

from .functions import domain_condition

__all__ = [
    "Derivatives",
    "Differ",
    "gradient",
    "jacobian",
    "hessian_upper",
    "partial",
    "derivative_tensor",
    "hessian_vector_product",
    "maybe_simplify",
    "domain_guard",
]

Entries = dict[tuple[int, ...], sympy.Expr]


class Differ:
    """``sympy.diff(expr, var)`` for one variable, memoized, with SymPy's own rules.

    ``sympy.diff`` re-enters ``Derivative.__new__`` at every node of the tree, and each
    entry recomputes the node's free symbols (SymPy does not cache them), sympifies,
    sorts the variables and asks whether the result is zero. For a Hessian, whose
    second derivatives differentiate the same subexpressions (``1/(1 + x0**2 + ...)``)
    again and again, that overhead is most of the time. This class applies the rules
    SymPy applies (``Add``, ``Mul`` (Leibniz), ``Pow`` and the chain rule of plain
    functions, in SymPy's own order and with SymPy's constructors), recursing
    directly, memoizing each ``(node, variable)`` result and each node's free symbols;
    every other node (Piecewise, Abs, Min/Max, Derivative, ...) goes to ``sympy.diff``.
    The results are the expressions ``sympy.diff`` returns (tests check they are
    equal, structurally), only sooner: 2-5x for dense Hessians.

    Not thread-safe: one per thread, or under a lock (``Derivatives`` holds one).
    """

    def __init__(self):
        self._memo: dict[tuple[sympy.Basic, sympy.Symbol], sympy.Expr] = {}
        self._free: dict[sympy.Basic, frozenset] = {}

    def free_symbols(self, expr: sympy.Basic):
        free = self._free.get(expr)
        if free is None:
            if expr.is_Atom:
                free = expr.free_symbols
            elif type(expr) in _UNION_FREE or _plain_function(expr):
                free = set().union(*(self.free_symbols(a) for a in expr.args))
            else:
                free = expr.free_symbols
            self._free[expr] = free
        return free

    def __call__(self, expr: sympy.Expr, var: sympy.Symbol) -> sympy.Expr:
        # Checking free symbols first is much cheaper than letting SymPy walk the tree:
        # it makes a sparse Hessian (Rosenbrock: 3n of n*n entries nonzero) cost O(n).
        if var not in self.free_symbols(expr):
            return sympy.S.Zero
        key = (expr, var)
        done = self._memo.get(key)
        if done is None:
            done = self._memo[key] = self._rule(expr, var)
        return done

    def _rule(self, expr: sympy.Expr, var: sympy.Symbol) -> sympy.Expr:
        d = self
        if expr == var:
            return sympy.S.One
        cls = type(expr)
        if cls is sympy.Add:
            # Add._eval_derivative
            return expr.func(*[d(a, var) for a in expr.args])
        if cls is sympy.Mul:
            # Mul._eval_derivative_n_times(var, 1): Leibniz, in SymPy's term order
            args = expr.args
            terms = []
            for kvals, c in multinomial_coefficients_iterator(len(args), 1):
                p = sympy.Mul(*[d(a, var) if k else a for k, a in zip(kvals, args)])
                terms.append(c * p)
            return sympy.Add(*terms)
        if cls is sympy.Pow:
            # Pow._eval_derivative
            dbase = d(expr.base, var)
            dexp = d(expr.exp, var)
            return expr * (dexp * sympy.log(expr.base) + dbase * expr.exp / expr.base)
        if _plain_function(expr):
            # Function._eval_derivative: the chain rule through fdiff
            terms = []
            for i, a in enumerate(expr.args, 1):
                da = d(a, var)
                if da.is_zero:
                    continue
                try:
                    df = expr.fdiff(i)
                except ArgumentIndexError:
                    df = sympy.Function.fdiff(expr, i)
                terms.append(df * da)
            return sympy.Add(*terms)
        return sympy.diff(expr, var)


_UNION_FREE = (sympy.Add, sympy.Mul, sympy.Pow)


def _plain_function(expr) -> bool:
    """An applied SymPy function differentiated by ``Function._eval_derivative``."""
    cls = type(expr)
    return (
        isinstance(expr, sympy.Function)
        and not isinstance(expr, AppliedUndef)
        and cls._eval_derivative is sympy.Function._eval_derivative
        and cls._eval_derivative_n_times is sympy.Basic._eval_derivative_n_times
    )




def maybe_simplify(expr: sympy.Expr, simplify: bool) -> sympy.Expr:
    """Return ``sympy.simplify(expr)`` when asked (slow: opt-in only), else ``expr``."""
    return sympy.simplify(expr) if simplify and expr != 0 else expr


def gradient(
    expr: sympy.Expr,
    variables: Sequence[sympy.Symbol],
    simplify: bool = False,
    differ: Differ | None = None,
) -> tuple[sympy.Expr, ...]:
    """First partial derivatives of ``expr``, one per variable, in variable order.

    Returns
    -------
    tuple of sympy.Expr, length n
    """
    # A sum is differentiated term by term, each variable only through the terms that
    # contain it: O(size) instead of O(n * size) for sums of many small terms (the
    # typical objective, e.g. Rosenbrock with 100 variables).
    terms = expr.args if expr.is_Add else (expr,)
    d = differ or Differ()
    wanted = set(variables)
    by_variable: dict[sympy.Symbol, list[sympy.Expr]] = {v: [] for v in variables}
    for term in terms:
        for v in term.free_symbols & wanted:
            by_variable[v].append(term)
    return tuple(
        maybe_simplify(sympy.Add(*(d(t, v) for t in by_variable[v])), simplify)
        for v in variables
    )


def jacobian(
    exprs: Sequence[sympy.Expr],
    variables: Sequence[sympy.Symbol],
    simplify: bool = False,
    differ: Differ | None = None,
) -> tuple[tuple[sympy.Expr, ...], ...]:
    """Jacobian of a vector of expressions: row ``i`` is the gradient of ``exprs[i]``.

    Returns
    -------
    tuple of m tuples of n sympy.Expr
    """
    d = differ or Differ()
    return tuple(gradient(e, variables, simplify, d) for e in exprs)


def hessian_upper(
    grad: Sequence[sympy.Expr],
    variables: Sequence[sympy.Symbol],
    simplify: bool = False,
    differ: Differ | None = None,
) -> Entries:
    """Nonzero Hessian entries ``(i, j)`` with ``i <= j``, derived from the gradient.

    Parameters
    ----------
    grad : sequence of n sympy.Expr
        The gradient (``gradient(expr, variables)``), so first derivatives are not
        taken twice.
    variables : sequence of n sympy.Symbol

    Returns
    -------
    dict mapping (i, j) to sympy.Expr
        Only structurally nonzero entries; the lower triangle is the mirror image.
    """
    diff = differ or Differ()
    entries: Entries = {}
    for i, g in enumerate(grad):
        for j in range(i, len(variables)):
            d = maybe_simplify(diff(g, variables[j]), simplify)
            if d != 0:
                entries[(i, j)] = d
    return entries


def partial(
    expr: sympy.Expr,
    wrt: Sequence[sympy.Symbol],
    simplify: bool = False,
    differ: Differ | None = None,
) -> sympy.Expr:
    """Mixed partial derivative: differentiate by each symbol of ``wrt`` in turn."""
    diff = differ or Differ()
    for v in wrt:
        expr = diff(expr, v)
    return maybe_simplify(expr, simplify)


def derivative_tensor(
    expr: sympy.Expr,
    variables: Sequence[sympy.Symbol],
    order: int,
    simplify: bool = False,
    differ: Differ | None = None,
) -> Entries:
    """All distinct partial derivatives of the given order, by sorted index tuples.

    By symmetry of mixed partials (the formulas are smooth wherever they are
    differentiable), the entry for any permutation of an index tuple equals the entry
    for the sorted tuple, so only ``C(n + k - 1, k)`` of the ``n**k`` entries are
    derived. Each is obtained from its parent of order ``k - 1`` by one more ``diff``.

    Returns
    -------
    dict mapping sorted index tuples (length ``order``) to nonzero sympy.Expr
    """
    if order < 0:
        raise ValueError("order must be >= 0")
    diff = differ or Differ()
    level: Entries = {(): expr} if expr != 0 else {}
    for _ in range(order):
        nxt: Entries = {}
        for idx, e in level.items():
            start = idx[-1] if idx else 0
            for j in range(start, len(variables)):
                d = diff(e, variables[j])
                if d != 0:
                    nxt[idx + (j,)] = d
        level = nxt
    return {k: maybe_simplify(v, simplify) for k, v in level.items()}


def hessian_vector_product(
    grad: Sequence[sympy.Expr],
    variables: Sequence[sympy.Symbol],
    direction: Sequence[sympy.Symbol],
    simplify: bool = False,
    differ: Differ | None = None,
) -> tuple[sympy.Expr, ...]:
    """``H @ v`` as expressions, without forming the Hessian as an output.

    Computed as the gradient of the directional derivative ``grad(f) . v`` with the
    direction ``v`` held as symbols, so the kernel evaluates n sums, never n*n entries.

    Returns
    -------
    tuple of n sympy.Expr
    """
    directional = sympy.Add(*(g * d for g, d in zip(grad, direction)))
    return gradient(directional, variables, simplify, differ)


def domain_guard(expr: sympy.Expr) -> sympy.Expr:
    """0 where every operation in ``expr`` is within its real domain, NaN elsewhere.

    Returns ``sympy.S.Zero`` when SymPy can prove every domain condition (for example
    ``sqrt(1 + x**2)``), so guarded kernels cost nothing extra for such formulas.
    ``Piecewise`` branches are guarded only where their condition selects them.
    """
    memo: dict[sympy.Basic, sympy.Expr] = {}

    def guard(e: sympy.Basic) -> sympy.Expr:
        if e.is_Atom or not isinstance(e, sympy.Expr):
            return sympy.S.Zero
        if e in memo:
            return memo[e]
        if isinstance(e, sympy.Piecewise):
            parts = [(guard(value), cond) for value, cond in e.args]
            result = (
                sympy.S.Zero
                if all(g == 0 for g, _ in parts)
                else sympy.Piecewise(*parts)
            )
        else:
            result = sympy.Add(*(guard(a) for a in e.args))
            cond = domain_condition(e)
            if cond is not sympy.true:
                result += sympy.Piecewise((0, cond), (sympy.nan, True))
        memo[e] = result
        return result

    return guard(expr)


def symmetric_positions(index: tuple[int, ...], n: int) -> list[int]:
    """Flat C-order positions in an ``(n,)*k`` tensor of every permutation of ``index``."""
    if len(index) <= 2:  # the Hessian's case, often: what the general loop gives
        if len(index) < 2 or index[0] == index[1]:
            flat = 0
            for k in index:
                flat = flat * n + k
            return [flat]
        i, j = sorted(index)
        return [i * n + j, j * n + i]
    # Distinct permutations only: a multiset of k equal indices has one, not k!.
    positions = []
    for perm in multiset_permutations(list(index)):
        flat = 0
        for k in perm:
            flat = flat * n + k
        positions.append(flat)
    return positions


class Derivatives:
    """The symbolic derivatives of one formula, each derived once, on first use.

    The output kinds (``symgrad.outputs``) ask for what they need; every derivative is
    memoized, so a request for value, gradient and Hessian derives the gradient once.
    Thread-safe. Every method returns SymPy expressions (pure, no numerics).

    Parameters
    ----------
    exprs : tuple of sympy.Expr
        The formula's expressions (one for a scalar formula).
    variables : tuple of sympy.Symbol
    simplify : bool
        Run ``sympy.simplify`` on each derivative.
    is_vector : bool
        Whether the formula is a vector of formulas (even of one).
    """

    def __init__(
        self,
        exprs: Sequence[sympy.Expr],
        variables: Sequence[sympy.Symbol],
        simplify: bool = False,
        is_vector: bool = False,
    ):
        self.is_vector = is_vector
        self.exprs = tuple(exprs)
        self.variables = tuple(variables)
        self.simplify = simplify
        self._memo: dict[Hashable, object] = {}
        self._lock = threading.RLock()
        # One memo of first derivatives for every request (used under self._lock)
        self._differ = Differ()

    @property
    def n(self) -> int:
        return len(self.variables)

    @property
    def m(self) -> int:
        return len(self.exprs)

    def _memoize(self, key: Hashable, make: Callable[[], object]):
        with self._lock:
            if key not in self._memo:
                self._memo[key] = make()
            return self._memo[key]

    def jacobian(self) -> tuple[tuple[sympy.Expr, ...], ...]:
        """Row ``i``: the gradient of formula ``i``."""
        return self._memoize("jacobian", lambda: jacobian(self.exprs, self.variables, self.simplify, self._differ))

    def hessian_upper(self, k: int = 0) -> Entries:
        """Nonzero upper-triangle Hessian entries of formula ``k``."""
        return self._memoize(
            ("hessian", k),
            lambda: hessian_upper(
                self.jacobian()[k], self.variables, self.simplify, self._differ
            ),
        )

    def direction(self) -> tuple[sympy.Dummy, ...]:
        """The symbols of an HVP's direction vector (extra kernel inputs)."""
        return self._memoize(
            "direction", lambda: tuple(sympy.Dummy(f"d{k}", real=True) for k in range(self.n))
        )

    def hvp(self) -> tuple[sympy.Expr, ...]:
        """``H @ direction`` of formula 0 (see :func:`hessian_vector_product`)."""
        return self._memoize(
            "hvp",
            lambda: hessian_vector_product(
                self.jacobian()[0], self.variables, self.direction(), self.simplify,
                self._differ,
            ),
        )

    def tensor(self, order: int) -> Entries:
        """Distinct partials of formula 0 of the given order (see :func:`derivative_tensor`)."""
        return self._memoize(
            ("tensor", order),
            lambda: derivative_tensor(
                self.exprs[0], self.variables, order, self.simplify, self._differ
            ),
        )

    def guard(self, k: int = 0) -> sympy.Expr:
        """0 inside formula ``k``'s real domain, NaN outside (see :func:`domain_guard`)."""
        return self._memoize(("guard", k), lambda: domain_guard(self.exprs[k]))

    def guarded(self, expr: sympy.Expr, k: int = 0) -> sympy.Expr:
        """``expr`` made NaN wherever formula ``k`` is undefined; structural zeros stay 0."""
        guard = self.guard(k)
        # (adding S.Zero returns expr itself: skip the Add)
        return expr + guard if guard is not sympy.S.Zero and expr != 0 else expr
