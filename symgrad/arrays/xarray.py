"""xarray DataArrays in, DataArrays out: named dimensions for the derivative axes.

``xarray.apply_ufunc`` aligns and broadcasts the inputs by dimension name (xarray's
rules: coordinates are aligned with an inner join) and hands their data, NumPy or
dask, to the evaluator, so dask-backed DataArrays stay lazy (``dask="allowed"``: the
dask path of ``symgrad.arrays.dask`` builds the graph). Each result has the inputs'
broadcast dimensions and coordinates, then its own trailing dimensions:

================  =====================================================
output            new dimensions (coordinates)
================  =====================================================
value             none; a vector formula: ``formula`` (0 .. m-1)
gradient, hvp     ``variable`` (the variable names)
jacobian          ``formula``, ``variable``
hessian           ``variable``, ``variable_2`` (a vector formula: ``formula`` first)
derivative        ``variable``, ``variable_2``, ..., ``variable_k``
curl (3-D)        ``variable`` (component c is along variable c)
sparse_hessian    ``entry``, with coordinates ``row`` and ``col`` (variable names)
laplacian, ...    none
================  =====================================================

Inputs that are not xarray objects are passed as they are: single values broadcast
everywhere; a plain array broadcasts by position against the result's dimensions
(NumPy's rule), so give it dimensions (a DataArray) unless it is a single value.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._bind import as_float
from ..errors import InputError
from . import is_dask, is_xarray
from .dask import as_dask_float

__all__ = ["evaluate", "core_dims", "direction"]


def _convert(value: Any, name: str, dtype: np.dtype):
    if is_xarray(value):
        import xarray as xr

        if not isinstance(value, xr.DataArray):
            raise InputError(
                f"{name} is an xarray {type(value).__name__}; pass a DataArray "
                f"(e.g. ds[{name!r}])."
            )
        kind = value.dtype.kind
        if kind in "fiub":
            return value if value.dtype == dtype else value.astype(dtype)
        as_float(np.empty(0, dtype=value.dtype), name, dtype)  # the error it raises
    if is_dask(value):
        return as_dask_float(value, name, dtype)
    return as_float(value, name, dtype)


def _variable_dim(i: int) -> str:
    return "variable" if i == 0 else f"variable_{i + 1}"


def core_dims(name: str, shape: tuple[int, ...]) -> tuple[str, ...]:
    """The names of the trailing dimensions of output kind ``name`` (per-point shape)."""
    if name == "value":
        return ("formula",) if shape else ()
    if name == "jacobian":
        return ("formula", "variable")
    if name == "hessian":
        return (("formula",) if len(shape) == 3 else ()) + ("variable", "variable_2")
    if name == "sparse_hessian":
        return ("entry",)
    # gradient, hvp, derivative, curl: every axis runs over the variables
    return tuple(_variable_dim(i) for i in range(len(shape)))


def _coords(ev, dims: tuple[str, ...]) -> dict:
    coords: dict[str, Any] = {}
    for dim in dims:
        if dim.startswith("variable"):
            coords[dim] = list(ev.variables)
        elif dim == "formula":
            coords[dim] = np.arange(ev.n_outputs)
        elif dim == "entry":
            rows, cols = ev.hessian_structure
            names = np.array(ev.variables, dtype=object)
            coords["row"] = ("entry", names[rows].tolist())
            coords["col"] = ("entry", names[cols].tolist())
    return coords


def direction(d: Any, variables: tuple[str, ...], dtype):
    """A DataArray direction with its ``variable`` dimension moved last."""
    import xarray as xr

    if not isinstance(d, xr.DataArray) or "variable" not in d.dims:
        raise InputError(
            "a DataArray direction needs a 'variable' dimension (one entry per variable "
            f"{', '.join(variables)}); or pass a NumPy array of shape (n,)."
        )
    if "variable" in d.coords:
        try:
            d = d.sel(variable=list(variables))
        except KeyError:
            raise InputError(
                f"direction's 'variable' coordinate must name the variables "
                f"{', '.join(variables)}; got {list(d.coords['variable'].values)}."
            ) from None
        d = d.drop_vars("variable")
    return _convert(d.transpose(..., "variable"), "direction", dtype)


def evaluate(ev, items, args: tuple, kwargs: dict, extra: tuple) -> list:
    """The outputs of ``items`` as DataArrays (``Evaluator._evaluate``'s contract)."""
    import xarray as xr

    dtype = ev.dtype
    binder = ev._binder
    inputs = binder.bind(args, kwargs, dtype, convert=_convert)
    inputs += [_convert(e, f"direction[{k}]", dtype) for k, e in enumerate(extra)]
    blocks = ev._request(items).program.blocks  # symbolic work only
    dims = [core_dims(name, b.shape) for (name, _), b in zip(items, blocks)]
    taken = {d for a in inputs if isinstance(a, xr.DataArray) for d in a.dims}
    clash = sorted(taken & {d for ds in dims for d in ds})
    if clash:
        raise InputError(
            f"an input already has a dimension named {clash[0]!r}, which symgrad uses for "
            "the derivative axes of the result; rename it first (DataArray.rename)."
        )
    n_named = len(binder.names)
    names = binder.names

    def kernel(*data):
        kw = dict(zip(names, data[:n_named]))
        results = ev._evaluate(items, (), kw, None, tuple(data[n_named:]))
        results = [r if is_dask(r) else np.asarray(r) for r in results]
        return results[0] if len(results) == 1 else tuple(results)

    try:
        result = xr.apply_ufunc(
            kernel, *inputs, output_core_dims=[list(d) for d in dims], dask="allowed",
        )
    except ValueError as exc:  # dimensions of different lengths, and the like
        raise InputError(f"inputs do not broadcast together: {exc}") from None
    results = [result] if len(blocks) == 1 else list(result)
    return [
        r.assign_coords(_coords(ev, d)).rename(name)
        for r, d, (name, _) in zip(results, dims, items)
    ]
