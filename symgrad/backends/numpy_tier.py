"""The NumPy backend: the program as NumPy ufunc calls on chunks of points.

No compilation at all, so it answers at once; it allocates one temporary array per
subexpression, so it runs on chunks of :data:`CHUNK` points to bound memory. Used
alone (``compile(..., backend="numpy")``) or as the first answer while numba compiles
(``tiered=True``). Programs using functions without a NumPy array form (gamma, erf,
polygamma) cannot be compiled by it: ``compile`` raises :class:`NotVectorizable`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..codegen import generate_array_source
from ..errors import UnsupportedFunctionError

__all__ = ["NumPyTier", "NumPyKernel", "NotVectorizable", "CHUNK"]

#: Points per NumPy evaluation: bounds the temporaries' memory.
CHUNK = 1 << 16


class NotVectorizable(UnsupportedFunctionError):
    """The program uses a function with no NumPy array form."""


class NumPyKernel:
    """A program as a NumPy function of whole arrays."""

    releases_gil = False  # many small ufunc calls: threads do not pay

    def __init__(self, source: str):
        self.source = source
        namespace: dict = {}
        exec(compile(source, "<symgrad numpy tier>", "exec"), namespace)  # noqa: S102 (generated)
        self._evaluate = namespace["evaluate"]

    def run(self, args: tuple, out: Any, start: int, stop: int) -> None:
        with np.errstate(all="ignore"):
            for lo in range(start, stop, CHUNK):
                hi = min(stop, lo + CHUNK)
                self._evaluate(*(a[lo:hi] for a in args), out[:, lo:hi])

    def run_point(self, values: tuple[float, ...], out: Any) -> None:
        self.run(tuple(np.array([v], dtype=out.dtype) for v in values), out, 0, 1)

    run_python = run

    def cache_stats(self) -> dict[str, int]:
        return {"hits": 0, "misses": 0}


class NumPyTier:
    """Backend ``"numpy"``."""

    name = "numpy"

    def compile(self, program, input_names: tuple[str, ...] = (), options=None) -> NumPyKernel:
        source = generate_array_source(program)
        if source is None:
            raise NotVectorizable(
                "this formula uses a function with no NumPy array form (gamma, erf, "
                "polygamma, ...); use backend='numba'.",
            )
        return NumPyKernel(source)
