"""dask arrays in, dask arrays out: one ``apply_gufunc`` layer per call.

The fused kernel runs once per block (the task returns the tuple of a fused request's
outputs and each output array takes its item), on NumPy blocks, through the
evaluator's ordinary NumPy path, so the numbers are bit for bit those of a NumPy call.

* Inputs (variables, parameters and an HVP direction) that are dask arrays or NumPy
  arrays broadcast together with ``dask.array.broadcast_arrays``, which also unifies
  their chunks (a NumPy array becomes a dask array chunked like the others); single
  values (0-d) stay scalars inside the task.
* The derivative axes are new, single-chunk trailing axes.
* ``meta`` and the dtype are given, so building the graph computes nothing and calls
  no kernel.
* The task function (:class:`_Block`) holds the evaluator, which pickles by its
  request: a dask.distributed worker rebuilds it through ``Evaluator.for_request``,
  once per process (later tasks find it in the process's cache), and loads its kernel
  from that host's disk cache or compiles it once.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._bind import as_float
from ..errors import InputError
from . import is_dask

__all__ = ["evaluate", "as_dask_float"]


def as_dask_float(a: Any, name: str, dtype: np.dtype):
    """A dask array as ``dtype`` (lazily), or InputError, as ``_bind.as_float`` says."""
    kind = a.dtype.kind
    if kind in "fiub":
        return a if a.dtype == dtype else a.astype(dtype)
    if kind == "c":
        raise InputError(
            f"{name} is complex; symgrad evaluates real formulas. Pass the real part "
            f"({name}.real) if that is what you mean."
        )
    raise InputError(f"{name} has dtype {a.dtype}; expected real numbers.")


def _convert(value: Any, name: str, dtype: np.dtype):
    if is_dask(value):
        return as_dask_float(value, name, dtype)
    return as_float(value, name, dtype)


class _Block:
    """The task function: the evaluator's fused request on one block of each input."""

    def __init__(self, ev, items, n_named: int, lazy: tuple[int, ...], scalars: dict):
        self.ev = ev
        self.items = items
        self.n_named = n_named  # variables + parameters; the rest is the direction
        self.lazy = lazy  # input positions that arrive as blocks
        self.scalars = scalars  # position -> 0-d ndarray

    def __call__(self, *blocks):
        inputs = dict(self.scalars)
        inputs.update(zip(self.lazy, blocks))
        values = [inputs[k] for k in range(len(inputs))]
        names = self.ev._binder.names
        kwargs = dict(zip(names, values[: self.n_named]))
        results = self.ev._evaluate(self.items, (), kwargs, None, tuple(values[self.n_named:]))
        return results[0] if len(results) == 1 else tuple(results)

    def __dask_tokenize__(self):
        from dask.base import tokenize

        return ("symgrad", tokenize(self.ev), self.items, self.lazy,
                tuple((k, float(v)) for k, v in sorted(self.scalars.items())))

    def __repr__(self) -> str:  # shown in dask's dashboard and errors
        return f"symgrad[{', '.join(name for name, _ in self.items)}]"


def evaluate(ev, items, args: tuple, kwargs: dict, extra: tuple) -> list:
    """The outputs of ``items`` as dask arrays (``Evaluator._evaluate``'s contract)."""
    import dask.array as da

    dtype = ev.dtype
    binder = ev._binder
    inputs = binder.bind(args, kwargs, dtype, convert=_convert)
    inputs += [_convert(e, f"direction[{k}]", dtype) for k, e in enumerate(extra)]
    labels = binder.names + tuple(f"direction[{k}]" for k in range(len(extra)))
    lazy = tuple(k for k, a in enumerate(inputs) if is_dask(a) or a.ndim > 0)
    scalars = {k: a for k, a in enumerate(inputs) if k not in lazy}
    try:
        arrays = da.broadcast_arrays(*(da.asarray(inputs[k]) for k in lazy))
    except ValueError:
        detail = ", ".join(f"{labels[k]}: {inputs[k].shape}" for k in lazy)
        raise InputError(f"input shapes do not broadcast together ({detail}).") from None
    ndim = arrays[0].ndim
    blocks = ev._request(items).program.blocks  # symbolic work only: no kernel compiled
    cores = [tuple(f"o{j}_{i}" for i in range(len(b.shape))) for j, b in enumerate(blocks)]
    signature = ",".join("()" for _ in arrays) + "->" + ",".join(
        f"({','.join(c)})" for c in cores
    )
    sizes = {d: s for c, b in zip(cores, blocks) for d, s in zip(c, b.shape)}
    metas = tuple(np.empty((0,) * (ndim + len(b.shape)), dtype=dtype) for b in blocks)
    func = _Block(ev, items, len(binder.names), lazy, scalars)
    result = da.apply_gufunc(
        func, signature, *arrays, output_sizes=sizes, vectorize=False,
        meta=metas[0] if len(blocks) == 1 else metas,
    )
    return [result] if len(blocks) == 1 else list(result)
