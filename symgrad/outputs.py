"""The output-kind registry: everything symgrad knows about each kind of output.

An output kind (value, gradient, Hessian, Laplacian, ...) is one :class:`OutputKind`
entry. It says which formulas it applies to, its per-point shape, how its entries are
derived (for ``symgrad.program.build_program``), how ``symgrad.validate`` checks it
with finite differences, and how the CLI labels it. The evaluator, validation and the
CLI read this table; none of them lists kinds of its own.

Adding a kind is one entry here and one public method on ``Evaluator`` (a one-line
call of ``Evaluator.evaluate``).

Shapes (per point; a call on inputs of broadcast shape ``S`` returns ``S + shape``),
``n`` variables, ``m`` formulas:

================  ===================  =====================================
kind              formulas             shape
================  ===================  =====================================
value             any                  ``()`` scalar, ``(m,)`` vector
gradient          scalar               ``(n,)``
jacobian          any                  ``(m, n)``
hessian           any                  ``(n, n)`` scalar, ``(m, n, n)`` vector
sparse_hessian    scalar               ``(nnz,)`` (upper triangle)
hvp               scalar               ``(n,)`` (needs ``direction``)
derivative        scalar               ``(n,) * order`` (needs ``order``)
laplacian         scalar               ``()``: sum of d2f/dxk2
divergence        vector, m == n       ``()``: sum of dF_k/dx_k
curl              vector, m == n == 3  ``(3,)``; m == n == 2: ``()``, dF1/dx - dF0/dy
================  ===================  =====================================
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from .errors import InputError

__all__ = [
    "OutputKind",
    "OUTPUTS",
    "kind",
    "Request",
    "normalize_request",
    "MAX_ORDER",
]

#: Highest derivative order ``derivative`` accepts (symbolic size grows fast beyond).
MAX_ORDER = 12
#: Most distinct partial derivatives one ``derivative`` request may derive.
MAX_DISTINCT_PARTIALS = 20_000
#: Most entries per point of a ``derivative`` tensor (``n**order``).
MAX_TENSOR_ENTRIES = 1_000_000

# One finite-difference term: (sign, flat index into the base output, variable index).
Term = tuple[int, int, int]
# A request item: (kind name, argument) -- the argument is the order for "derivative".
Item = tuple[str, Any]
Request = tuple[Item, ...]


@dataclass(frozen=True)
class OutputKind:
    """One kind of output.

    Attributes
    ----------
    name : str
        Also the ``Evaluator`` method name and the CLI command.
    summary : str
        One line for help texts.
    check : callable
        ``check(n, m, is_vector, arg)`` returns None if the kind applies to a formula
        with n variables and m formulas, else the reason it does not (a sentence).
    shape : callable
        ``shape(d, arg)`` per-point shape, ``d`` a ``symgrad.derive.Derivatives``.
    entries : callable
        ``entries(d, arg)`` -> list of ``(flat positions, sympy.Expr)``: each distinct
        entry once, with every position (C order within ``shape``) it is stored in.
        The first position is the canonical one (the upper triangle for symmetric
        kinds), which the CLI prints.
    extra_inputs : callable or None
        ``extra_inputs(d)`` -> symbols the kernel takes after the variables and
        parameters (the HVP's direction).
    fd_base : str or None
        The kind whose compiled values are differenced to check this one (None: not
        checked by differences, e.g. the value itself).
    fd_terms : callable or None
        ``fd_terms(n, m)`` -> for each flat component of this kind, the list of
        terms ``(sign, base component, variable)`` whose differences sum to it:
        gradient component k is ``+ d value / d x_k``.
    label : callable
        ``label(index, variables, style, m)`` the name of the component at ``index``
        (a tuple into ``shape``) for printing; ``style`` is "plain", "unicode" or
        "latex", ``m`` the number of formulas.
    """

    name: str
    summary: str
    check: Callable[[int, int, bool, Any], str | None]
    shape: Callable[[Any, Any], tuple[int, ...]]
    entries: Callable[[Any, Any], list[tuple[Sequence[int], Any]]]
    label: Callable[..., str]
    extra_inputs: Callable[[Any], tuple] | None = None
    fd_base: str | None = None
    fd_terms: Callable[[int, int], list[list[Term]]] | None = None
    needs_order: bool = False


# ----------------------------------------------------------------------- applicability


def _any(n, m, is_vector, arg):
    return None


def _scalar(instead: str | None = None):
    def check(n, m, is_vector, arg):
        if is_vector:
            hint = f" Use {instead} instead." if instead else ""
            return f"is defined for scalar formulas only.{hint}"
        return None

    return check


def _field(n, m, is_vector, arg):
    if not is_vector or m != n:
        return (f"needs a vector field: as many formulas as variables (this formula has "
                f"{m} formula{'s' if m != 1 else ''} and {n} variable{'s' if n != 1 else ''}).")
    return None


def _curl_check(n, m, is_vector, arg):
    reason = _field(n, m, is_vector, arg)
    if reason is None and n not in (2, 3):
        return f"is defined for vector fields of 2 or 3 components (this one has {n})."
    return reason


# ----------------------------------------------------------------------------- labels

_SUBSCRIPTS = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def _var(names: Sequence[str], k: int, style: str) -> str:
    name = names[k]
    if style == "latex":
        head, _, digits = name.rpartition("_") if "_" in name else (name, "", "")
        return f"{head}_{{{digits}}}" if head and digits else name
    return name


def _d(style: str) -> str:
    return {"unicode": "∂", "latex": r"\partial "}.get(style, "d")


def _f(index: int | None, style: str) -> str:
    if index is None:
        return "f"
    if style == "unicode":
        return "f" + str(index).translate(_SUBSCRIPTS)
    if style == "latex":
        return f"f_{{{index}}}"
    return f"f{index}"


def _first(f: str, var: str, style: str) -> str:
    d = _d(style)
    if style == "latex":
        return rf"\frac{{{d}{f}}}{{{d}{var}}}"
    return f"{d}{f}/{d}{var}"


def _partial(f: str, vars_: Sequence[str], style: str) -> str:
    d = _d(style)
    k = len(vars_)
    if k == 0:
        return f
    if k == 1:
        return _first(f, vars_[0], style)
    power = {"unicode": "²³⁴⁵⁶⁷⁸⁹"[k - 2] if k <= 9 else f"^{k}", "latex": f"^{{{k}}}"}.get(
        style, f"^{k}"
    )
    # group repeated variables: d2f/dx2, d2f/dxdy
    groups: list[tuple[str, int]] = []
    for v in vars_:
        if groups and groups[-1][0] == v:
            groups[-1] = (v, groups[-1][1] + 1)
        else:
            groups.append((v, 1))

    def pw(c: int) -> str:
        if c == 1:
            return ""
        if style == "unicode":
            return "²³⁴⁵⁶⁷⁸⁹"[c - 2] if c <= 9 else f"^{c}"
        return f"^{{{c}}}" if style == "latex" else f"^{c}"

    sep = " " if style == "latex" else ""
    denom = sep.join(f"{d}{v}{pw(c)}" for v, c in groups)
    if style == "latex":
        return rf"\frac{{{d}{power} {f}}}{{{denom}}}"
    return f"{d}{power}{f}/{denom}"


def _label_value(index, names, style, m=1):
    return _f(index[0] if index else None, style)


def _label_gradient(index, names, style, m=1):
    return _first("f", _var(names, index[0], style), style)


def _label_jacobian(index, names, style, m=1):
    r, k = index
    return _first(_f(r if m > 1 else None, style), _var(names, k, style), style)


def _label_hessian(index, names, style, m=1):
    f = _f(index[0], style) if len(index) == 3 and m > 1 else "f"
    i, j = index[-2:]
    return _partial(f, [_var(names, i, style), _var(names, j, style)], style)


def _label_tensor(index, names, style, m=1):
    return _partial("f", [_var(names, k, style) for k in sorted(index)], style)


def _label_laplacian(index, names, style, m=1):
    return {"unicode": "∇²f", "latex": r"\nabla^{2} f"}.get(style, "laplacian(f)")


def _label_divergence(index, names, style, m=1):
    return {"unicode": "∇·F", "latex": r"\nabla \cdot F"}.get(style, "div(F)")


def _label_curl(index, names, style, m=1):
    if not index:  # 2-D: the scalar curl
        return {"unicode": "(∇×F)_z", "latex": r"(\nabla \times F)_{z}"}.get(style, "curl(F)")
    axis = names[index[0]]
    return {"unicode": f"(∇×F)_{axis}", "latex": rf"(\nabla \times F)_{{{axis}}}"}.get(
        style, f"curl(F)_{axis}"
    )


def _label_hvp(index, names, style, m=1):
    return f"(H·v)_{names[index[0]]}" if style == "unicode" else f"(H v)_{names[index[0]]}"


def _label_sparse(index, names, style, m=1):
    return f"H[{index[0]}]"


# --------------------------------------------------------------------------- entries


def _symmetric_positions(index: tuple[int, ...], n: int) -> list[int]:
    from .derive import symmetric_positions

    return symmetric_positions(index, n)


def _value_shape(d, arg):
    return (d.m,) if d.is_vector else ()


def _value_entries(d, arg):
    return [((k,), e) for k, e in enumerate(d.exprs)]


def _gradient_entries(d, arg):
    return [((k,), d.guarded(e)) for k, e in enumerate(d.jacobian()[0])]


def _jacobian_entries(d, arg):
    n = d.n
    return [
        ((i * n + k,), d.guarded(e, i))
        for i, row in enumerate(d.jacobian())
        for k, e in enumerate(row)
    ]


def _hessian_shape(d, arg):
    return (d.m, d.n, d.n) if d.is_vector else (d.n, d.n)


def _hessian_entries(d, arg):
    n = d.n
    entries = []
    for f in range(d.m):
        for ij, e in d.hessian_upper(f).items():
            positions = _symmetric_positions(ij, n)
            entries.append(([f * n * n + p for p in positions], d.guarded(e, f)))
    return entries


def _sparse_entries(d, arg):
    upper = d.hessian_upper(0)
    return [((k,), d.guarded(upper[ij])) for k, ij in enumerate(sorted(upper))]


def _hvp_entries(d, arg):
    return [((k,), d.guarded(e)) for k, e in enumerate(d.hvp())]


def _tensor_check(n, m, is_vector, order):
    import math

    if is_vector:
        return "is defined for scalar formulas only."
    distinct = math.comb(n + order - 1, order)
    if distinct > MAX_DISTINCT_PARTIALS or n**order > MAX_TENSOR_ENTRIES:
        return (
            f"of order {order} in {n} variables is too large: {distinct} distinct partial "
            f"derivatives and {n}**{order} = {n**order} entries per point (the limits are "
            f"{MAX_DISTINCT_PARTIALS} and {MAX_TENSOR_ENTRIES}). Ask for fewer variables "
            "(f.partial(...) for single entries) or a lower order."
        )
    return None


def _tensor_entries(d, order):
    return [
        (_symmetric_positions(idx, d.n), d.guarded(e) if order else e)
        for idx, e in d.tensor(order).items()
    ]


def _laplacian_entries(d, arg):
    import sympy

    upper = d.hessian_upper(0)
    total = sympy.Add(*(upper.get((k, k), sympy.S.Zero) for k in range(d.n)))
    return [((0,), d.guarded(total))]


def _divergence_entries(d, arg):
    import sympy

    jac = d.jacobian()
    total = sympy.Add(*(jac[k][k] for k in range(d.n)))
    guard = sympy.Add(*(d.guard(k) for k in range(d.m)))
    return [((0,), total + guard if total != 0 else total)]


def _curl_pairs(n: int) -> list[tuple[int, int]]:
    """Component c of the curl is dF[a]/dx[b] - dF[b]/dx[a] for (a, b) = pairs[c]."""
    return [(1, 0)] if n == 2 else [(2, 1), (0, 2), (1, 0)]


def _curl_shape(d, arg):
    return () if d.n == 2 else (3,)


def _curl_entries(d, arg):
    jac = d.jacobian()
    entries = []
    for c, (a, b) in enumerate(_curl_pairs(d.n)):
        e = jac[a][b] - jac[b][a]
        entries.append(((c,), d.guarded(e, a) + d.guard(b) if e != 0 else e))
    return entries


# ------------------------------------------------------------------- finite differences


def _fd_gradient(n, m):
    return [[(1, 0, k)] for k in range(n)]


def _fd_jacobian(n, m):
    return [[(1, r, k)] for r in range(m) for k in range(n)]


def _fd_hessian(n, m):
    # H[f, i, j] = d/dx_i of the compiled gradient (Jacobian row f) component j
    return [[(1, f * n + j, i)] for f in range(m) for i in range(n) for j in range(n)]


def _fd_laplacian(n, m):
    return [[(1, k, k) for k in range(n)]]


def _fd_divergence(n, m):
    return [[(1, k, k) for k in range(n)]]


def _fd_curl(n, m):
    return [[(1, a, b), (-1, b, a)] for a, b in _curl_pairs(n)]


# -------------------------------------------------------------------------- registry

_KINDS = [
    OutputKind("value", "the formula's value", _any, _value_shape, _value_entries,
               _label_value),
    OutputKind("gradient", "first derivatives by each variable", _scalar("jacobian"),
               lambda d, a: (d.n,), _gradient_entries, _label_gradient,
               fd_base="value", fd_terms=_fd_gradient),
    OutputKind("jacobian", "first derivatives of each formula by each variable", _any,
               lambda d, a: (d.m, d.n), _jacobian_entries,
               _label_jacobian,
               fd_base="value", fd_terms=_fd_jacobian),
    OutputKind("hessian", "second derivatives (symmetric)", _any, _hessian_shape,
               _hessian_entries, _label_hessian, fd_base="jacobian", fd_terms=_fd_hessian),
    OutputKind("sparse_hessian", "the Hessian's structurally nonzero upper triangle",
               _scalar(), lambda d, a: (len(d.hessian_upper(0)),), _sparse_entries,
               _label_sparse),
    OutputKind("hvp", "Hessian-vector product H @ direction", _scalar(),
               lambda d, a: (d.n,), _hvp_entries, _label_hvp,
               extra_inputs=lambda d: d.direction()),
    OutputKind("derivative", "every partial derivative of one order", _tensor_check,
               lambda d, order: (d.n,) * order, _tensor_entries, _label_tensor,
               needs_order=True),
    OutputKind("laplacian", "sum of the second derivatives by each variable", _scalar(),
               lambda d, a: (), _laplacian_entries, _label_laplacian,
               fd_base="gradient", fd_terms=_fd_laplacian),
    OutputKind("divergence", "sum of dF_k/dx_k of a vector field", _field,
               lambda d, a: (), _divergence_entries, _label_divergence,
               fd_base="value", fd_terms=_fd_divergence),
    OutputKind("curl", "curl of a 3-D vector field (scalar curl in 2-D)", _curl_check,
               _curl_shape, _curl_entries, _label_curl,
               fd_base="value", fd_terms=_fd_curl),
]

#: name -> OutputKind, in documentation order.
OUTPUTS: Mapping[str, OutputKind] = MappingProxyType({k.name: k for k in _KINDS})


def kind(name: str) -> OutputKind:
    """The kind called ``name``, or InputError listing the kinds."""
    entry = OUTPUTS.get(name) if isinstance(name, str) else None
    if entry is None:
        raise InputError(
            f"unknown output {name!r}; choose from {', '.join(map(repr, OUTPUTS))}."
        )
    return entry


def normalize_request(
    outputs: str | Sequence[str | Item], n: int, m: int, is_vector: bool, order: Any = None
) -> Request:
    """Validate requested outputs; return them as a hashable tuple of (name, arg) items.

    ``order`` is the argument of every "derivative" item given by name alone.
    Raises InputError for an unknown kind, one that does not apply to the formula, a
    repeated kind, or a bad order.
    """
    if isinstance(outputs, str):
        outputs = (outputs,)
    items: list[Item] = []
    for item in outputs:
        name, arg = (item if isinstance(item, tuple) else (item, None))
        entry = kind(name)
        if entry.needs_order:
            arg = order if arg is None else arg
            arg = _check_order(arg)
        reason = entry.check(n, m, is_vector, arg)
        if reason is not None:
            raise InputError(f"{name} {reason}")
        if (name, arg) in items:
            raise InputError(f"output {name!r} is requested twice.")
        items.append((name, arg))
    if not items:
        raise InputError("outputs is empty; name at least one, e.g. outputs=('value',).")
    return tuple(items)


def _check_order(order: Any) -> int:
    import numbers

    if order is None:
        raise InputError("derivative needs order=k (a non-negative integer).")
    if not isinstance(order, numbers.Integral) or isinstance(order, bool) or order < 0:
        raise InputError(f"order must be a non-negative integer, not {order!r}.")
    if order > MAX_ORDER:
        raise InputError(f"order={order} is too high (at most {MAX_ORDER} is supported).")
    return int(order)
