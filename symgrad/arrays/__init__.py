"""dask and xarray inputs: lazy, chunked and labelled results from the same kernels.

``Evaluator._evaluate`` asks :func:`wants` on every call that is not a one-point call
of Python floats; it answers False at the cost of one dictionary lookup while neither
dask nor xarray is imported (no input can be one of their arrays then), and otherwise
looks at the type's module of each input. Neither library is ever imported here:
``symgrad.arrays.dask`` and ``symgrad.arrays.xarray`` load only when an input is one
of their arrays, so ``import symgrad`` does not need them (extras ``symgrad[dask]``,
``symgrad[xarray]``).

* dask arrays (``symgrad.arrays.dask``): every output is a dask array built by one
  ``dask.array.apply_gufunc`` layer: the fused kernel runs once per block and each
  output is a slice of its tuple of results. Inputs broadcast and their chunks are
  unified; derivative axes are single chunks; dtype and meta are given, so building
  the graph computes nothing.
* xarray DataArrays (``symgrad.arrays.xarray``): ``xarray.apply_ufunc`` broadcasts and
  aligns by dimension name; derivative axes become named dimensions (``variable``,
  ``variable_2``, ..., ``formula``, ``entry``) with coordinates. dask-backed
  DataArrays stay lazy.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["wants", "evaluate", "is_dask", "is_xarray", "direction"]

_MODULES = sys.modules


# type -> whether it is a dask or xarray type (types are few: the cache stays small)
_KINDS: dict[type, bool] = {}


def _foreign(a: Any) -> bool:
    t = type(a)
    hit = _KINDS.get(t)
    if hit is None:
        module = getattr(t, "__module__", "") or ""
        hit = module.startswith(("dask.", "xarray."))
        if len(_KINDS) < 1024:
            _KINDS[t] = hit
    return hit


def is_dask(a: Any) -> bool:
    """Whether ``a`` is a dask array (without importing dask)."""
    return type(a).__module__.startswith("dask.") and hasattr(a, "chunks")


def is_xarray(a: Any) -> bool:
    """Whether ``a`` is an xarray object (DataArray, Dataset, Variable)."""
    return type(a).__module__.startswith("xarray.")


def wants(args: tuple, kwargs: dict, extra: tuple = ()) -> bool:
    """Whether a call has a dask or xarray input (then :func:`evaluate` answers it)."""
    if "dask" not in _MODULES and "xarray" not in _MODULES:
        return False
    get = _KINDS.get
    for a in args:
        if get(type(a)) is not False and _foreign(a):
            return True
    if kwargs:
        for a in kwargs.values():
            if get(type(a)) is not False and _foreign(a):
                return True
    for a in extra:
        if get(type(a)) is not False and _foreign(a):
            return True
    return False


def evaluate(ev, items, args: tuple, kwargs: dict, out, extra: tuple) -> list:
    """``Evaluator._evaluate`` for calls with dask or xarray inputs: lazy results."""
    from ..errors import InputError

    if out is not None:
        raise InputError(
            "out= cannot be used with dask or xarray inputs: their results are new lazy "
            "(or labelled) arrays. Drop out=, or pass NumPy arrays."
        )
    values = list(args) + list(kwargs.values()) + list(extra)
    if any(is_xarray(a) for a in values):
        from . import xarray as _xr

        return _xr.evaluate(ev, items, args, kwargs, extra)
    from . import dask as _dask

    return _dask.evaluate(ev, items, args, kwargs, extra)


def direction(d: Any, variables: tuple[str, ...], dtype) -> Any:
    """An HVP direction that is a dask array or DataArray, kept lazy (last axis: n)."""
    from ..errors import InputError

    if is_xarray(d):
        from . import xarray as _xr

        return _xr.direction(d, variables, dtype)
    if not is_dask(d):
        raise InputError(f"direction of type {type(d).__name__} is not supported.")
    from . import dask as _dask

    return _dask.as_dask_float(d, "direction", dtype)
