"""Callables for ``scipy.optimize``, built from one Evaluator.

>>> import numpy as np, scipy.optimize, symgrad
>>> f = symgrad.compile("(1 - x)**2 + 100*(y - x**2)**2")
>>> res = scipy.optimize.minimize(**f.for_scipy(x0=[-1.2, 1.0], method="trust-exact"))
>>> np.round(res.x, 6)
array([1., 1.])

>>> model = symgrad.compile("A*exp(-sigma*t)*sin(omega*t)", variables="A sigma omega",
...                         params="t")
>>> t = np.linspace(0, 10, 200)
>>> y = model(2.0, 0.3, 1.7, t=t)
>>> fit = scipy.optimize.least_squares(
...     **model.for_least_squares({"t": t}, x0=[1, 0.1, 2], observed=y), method="lm")
>>> np.round(fit.x, 6)
array([2. , 0.3, 1.7])

Signatures
----------
``for_scipy(x0=None, **params)`` and ``for_least_squares(data, x0=None, *,
observed=None, **params)`` differ on purpose: a minimization objective is one number
per point, so its parameters are fixed numbers (``**params``); a least-squares model
is evaluated over samples, so the sample arrays come first (``data``, mapping the
model's parameters such as ``t`` to arrays) and the measured values are ``observed``.
Both bind and check names through ``symgrad._bind`` with the same wording, and both
return the keyword arguments of the SciPy function they are named after.

How it works
------------
This module does not import SciPy: it only builds plain Python callables in the
signatures SciPy documents (``fun(x)``, ``jac(x)``, ``hess(x)``, ``hessp(x, p)``; a
1-D vector ``x`` in variable order), so SciPy stays an optional dependency.

Optimizers call these one point at a time, so the per-call overhead matters more than
the kernel: ``fun``, ``jac`` and ``hess`` share one fused kernel (value, gradient and
Hessian in one pass, one compile) and remember the last point, so a Newton step that
asks for all three at the same ``x`` runs the kernel once. The variables are passed to
the evaluator as separate Python floats (its fastest path for single points).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ._bind import Binder, vector
from .errors import InputError

__all__ = ["minimize_kwargs", "least_squares_kwargs"]

# What each scipy.optimize.minimize method uses (mirrors the checks in
# scipy/optimize/_minimize.py that warn about unused jac / hess / hessp).
_NO_GRADIENT = frozenset({"nelder-mead", "powell", "cobyla", "cobyqa"})
_USES_HESS = frozenset(
    {"newton-cg", "dogleg", "trust-ncg", "trust-constr", "trust-krylov", "trust-exact"}
)
_USES_HESSP = frozenset({"newton-cg", "trust-ncg", "trust-constr", "trust-krylov"})


def _require_scalar(evaluator, what: str, hint: str) -> None:
    if evaluator.is_vector:
        raise InputError(
            f"{what} needs a scalar formula; this evaluator has {evaluator.n_outputs} "
            f"formulas. {hint}"
        )


def _x0(evaluator, x0, what: str = "x0") -> np.ndarray:
    return vector(x0, evaluator.n_variables, evaluator.variables, what)


def _fixed_params(evaluator, params: Mapping[str, Any], *, scalar: bool, param_fix: str):
    """Check parameter names and that none is missing (and, for minimize, one number each)."""
    binder = Binder(evaluator.variables, evaluator.params)
    out = binder.param_values(
        params, variable_fix="it is optimized, so pass its start value in x0",
        param_fix=param_fix,
    )
    if scalar:
        for name, value in out.items():
            arr = np.asarray(value)
            if arr.size != 1 or arr.dtype.kind not in "fiub":
                raise InputError(
                    f"parameter {name!r} must be one real number for minimize (the objective "
                    f"must be a scalar), got {type(value).__name__} of shape {arr.shape}. "
                    "To fit a model to data, use for_least_squares."
                )
            out[name] = float(arr.reshape(()))
    return out


class _Point:
    """``x`` -> list of Python floats, with a length check naming the variables."""

    __slots__ = ("n", "names")

    def __init__(self, evaluator):
        self.n = evaluator.n_variables
        self.names = evaluator.variables

    def __call__(self, x, what: str = "x") -> list[float]:
        if type(x) is np.ndarray and x.ndim == 1 and x.dtype == np.float64 and x.size == self.n:
            return x.tolist()  # the optimizer's own vector: the cheap path
        return vector(x, self.n, self.names, what).tolist()


def minimize_kwargs(evaluator, x0=None, **params) -> dict:
    """Keyword arguments for ``scipy.optimize.minimize``.

    Parameters
    ----------
    evaluator : Evaluator
        A scalar formula; its variables are the optimization vector, in order.
    x0 : array_like, optional
        Start point (one entry per variable); returned as ``'x0'`` (float array).
    method : str, optional
        Given by keyword (unless the formula has a parameter named ``method``): the
        ``minimize`` method. The result then includes ``'method'`` and only the
        callables that method uses, so SciPy warns about nothing unused. (A callable
        custom method is passed through and gets the default callables.)
    hessp : bool, optional
        By keyword (unless the formula has such a parameter): ``hessp=True`` gives a
        Hessian-vector product ``'hessp'`` instead of the full ``'hess'`` (for
        Newton-CG, trust-ncg, trust-krylov, trust-constr).
    **params
        Values of the formula's parameters, each one number, fixed during the run.

    Returns
    -------
    dict
        ``{'fun': fun, 'jac': jac, 'hess': hess}`` (``'hessp'`` instead of ``'hess'``
        with ``hessp=True``; plus ``'x0'``, ``'method'`` when given). ``fun(x)`` returns
        a Python float, ``jac(x)`` an ``(n,)`` float array, ``hess(x)`` ``(n, n)``,
        ``hessp(x, p)`` ``(n,)``.

    Notes
    -----
    Without ``method``, ``'hessp'`` is left out on purpose: SciPy ignores ``hessp``
    whenever ``hess`` is given, and warns that it is unused for trust-exact and dogleg.
    Ask for it with ``hessp=True``.

    ``fun``, ``jac`` and ``hess`` share one fused kernel and remember the last point:
    asking for all three at one ``x`` evaluates the formula once.
    """
    _require_scalar(
        evaluator, "minimize", "Minimize a scalar objective, e.g. a sum of squares, or fit "
        "with for_least_squares."
    )
    params = dict(params)
    method = params.pop("method", None) if "method" not in evaluator.params else None
    want_hessp = params.pop("hessp", False) if "hessp" not in evaluator.params else False
    if evaluator.n_variables == 0:
        raise InputError("minimize needs at least one variable to optimize; the formula has none.")
    fixed = _fixed_params(
        evaluator, params, scalar=True,
        param_fix="pass {name}=<number> to fix it during the optimization",
    )
    if method is not None and not isinstance(method, str) and not callable(method):
        raise InputError(
            f"method must be the name of a scipy.optimize.minimize method (or a callable "
            f"custom method), not {method!r}."
        )
    # A custom (callable) method may use anything: it gets the default callables.
    meth = method.lower() if isinstance(method, str) else None

    use_jac = meth not in _NO_GRADIENT
    if want_hessp:
        if meth is not None and meth not in _USES_HESSP:
            raise InputError(
                f"method {method!r} does not use a Hessian-vector product; drop hessp=True "
                f"(methods that do: {', '.join(sorted(_USES_HESSP))})."
            )
        use_hess, use_hessp = False, True
    else:
        use_hess, use_hessp = meth is None or meth in _USES_HESS, False

    # One fused kernel for everything fun/jac/hess need, remembered for the last point.
    if use_hess:
        fused = evaluator.value_gradient_hessian
    elif use_jac:
        fused = evaluator.value_and_gradient
    else:
        fused = None
    point = _Point(evaluator)
    last = [None]  # (point, results); replaced whole, so a reader never sees half of it

    def compute(vals: list[float]):
        memo = last[0]
        if memo is not None and memo[0] == vals:
            return memo[1]
        results = fused(*vals, **fixed)
        last[0] = (vals, results)
        return results

    if fused is None:

        def fun(x) -> float:
            """The objective at ``x`` (a Python float)."""
            return float(evaluator(*point(x), **fixed))

    else:

        def fun(x) -> float:
            """The objective at ``x`` (a Python float)."""
            return float(compute(point(x))[0])

    def jac(x) -> np.ndarray:
        """The gradient at ``x``, shape ``(n,)`` (a fresh array)."""
        return np.array(compute(point(x))[1], dtype=np.float64)

    def hess(x) -> np.ndarray:
        """The Hessian at ``x``, shape ``(n, n)`` (a fresh array)."""
        return np.array(compute(point(x))[2], dtype=np.float64)

    def hessp(x, p) -> np.ndarray:
        """The Hessian at ``x`` times the vector ``p``, shape ``(n,)``."""
        return np.asarray(
            evaluator.hvp(*point(x), direction=point(p, "p"), **fixed), dtype=np.float64
        )

    for func in (fun, jac, hess, hessp):
        func.__qualname__ = f"{func.__name__}[{evaluator!r}]"

    kwargs: dict[str, Any] = {"fun": fun}
    if use_jac:
        kwargs["jac"] = jac
    if use_hess:
        kwargs["hess"] = hess
    if use_hessp:
        kwargs["hessp"] = hessp
    if x0 is not None:
        kwargs["x0"] = _x0(evaluator, x0)
    if method is not None:
        kwargs["method"] = method
    return kwargs


def least_squares_kwargs(evaluator, data, x0=None, *, observed=None, **params) -> dict:
    """Keyword arguments for ``scipy.optimize.least_squares``: residuals and Jacobian.

    Parameters
    ----------
    evaluator : Evaluator
        A scalar model ``f(theta; data)``: its variables are the fitted parameters
        ``theta`` (in order), its params the independent data (e.g. ``t``).
    data : mapping
        ``{param_name: sample array}``, e.g. ``{"t": t}``. Arrays broadcast together to
        the sample shape ``S`` (flattened to ``n_samples`` entries).
    x0 : array_like, optional
        Start values of ``theta``; returned as ``'x0'`` (float array).
    observed : array_like, optional
        Measured values, broadcastable to ``S``. Residuals are ``f - observed``; without
        it, ``f`` itself.
    **params
        Other parameters of the model, held fixed (numbers or arrays broadcasting to ``S``).

    Returns
    -------
    dict
        ``{'fun': residuals, 'jac': jac}`` (plus ``'x0'``): ``residuals(theta)`` has
        shape ``(n_samples,)``, ``jac(theta)`` ``(n_samples, n_theta)``.
    """
    _require_scalar(
        evaluator, "least_squares", "Residuals of vector formulas are not supported yet; "
        "compile one scalar model and pass its data."
    )
    if not isinstance(data, Mapping):
        raise InputError(
            "data must be a mapping of parameter names to sample arrays, e.g. {'t': t}; "
            f"got {type(data).__name__}."
        )
    overlap = sorted(set(data) & set(params))
    if overlap:
        raise InputError(f"parameter {overlap[0]!r} was given both in data and by keyword.")
    inputs = _fixed_params(
        evaluator, {**data, **params}, scalar=False,
        param_fix="put its samples in data (data={{'{name}': array}}) or pass {name}=<value>",
    )
    dtype = evaluator.dtype
    arrays = {}
    for name, value in inputs.items():
        arr = np.asarray(value)
        if arr.dtype.kind not in "fiub":
            raise InputError(f"{name!r} has dtype {arr.dtype}; expected real numbers.")
        arrays[name] = arr.astype(dtype, copy=False)
    obs = None
    if observed is not None:
        obs = np.asarray(observed)
        if obs.dtype.kind not in "fiub":
            raise InputError(f"observed has dtype {obs.dtype}; expected real numbers.")
        obs = obs.astype(np.float64, copy=False)
    shapes = {k: a.shape for k, a in arrays.items()}
    if obs is not None:
        shapes["observed"] = obs.shape
    try:
        shape = np.broadcast_shapes(*shapes.values())
    except ValueError:
        detail = ", ".join(f"{k}: {v}" for k, v in shapes.items())
        raise InputError(f"data shapes do not broadcast together ({detail}).") from None
    n_samples = int(np.prod(shape, dtype=np.int64))
    if n_samples == 0:
        raise InputError("data has no samples; least_squares needs at least one residual.")
    # Broadcast and flatten once: each call then hands the kernel 1-D contiguous arrays
    # of n_samples entries, and every result has n_samples rows.
    fixed = {
        k: np.ascontiguousarray(np.broadcast_to(a, shape)).reshape(n_samples)
        for k, a in arrays.items()
    }
    if obs is not None:
        obs = np.ascontiguousarray(np.broadcast_to(obs, shape)).reshape(n_samples)
    point = _Point(evaluator)
    n_theta = evaluator.n_variables

    def residuals(theta) -> np.ndarray:
        """Model minus observed at every sample, shape ``(n_samples,)``."""
        value = np.asarray(evaluator(*point(theta, "theta"), **fixed), dtype=np.float64)
        if value.shape != (n_samples,):  # a model without data parameters
            value = np.broadcast_to(value, (n_samples,)).copy()
        return value - obs if obs is not None else value

    def jac(theta) -> np.ndarray:
        """d residual_i / d theta_k, shape ``(n_samples, n_theta)``."""
        g = np.asarray(evaluator.gradient(*point(theta, "theta"), **fixed), dtype=np.float64)
        if g.shape != (n_samples, n_theta):  # a model without data parameters
            g = np.broadcast_to(g, (n_samples, n_theta)).copy()
        return g

    for func in (residuals, jac):
        func.__qualname__ = f"{func.__name__}[{evaluator!r}]"
    kwargs: dict[str, Any] = {"fun": residuals, "jac": jac}
    if x0 is not None:
        kwargs["x0"] = _x0(evaluator, x0)
    return kwargs
