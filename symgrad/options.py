"""Compile options: one frozen value shared by ``compile``, the ``Evaluator`` and caches."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from .errors import InputError

__all__ = ["Options", "make_options"]

_DTYPES = ("float64", "float32")
_PARALLEL = (True, False, "auto")
_MATH = ("libm", "vector")


@dataclass(frozen=True)
class Options:
    """How a formula is compiled. Immutable: ``Evaluator.with_options`` makes a new one.

    Attributes
    ----------
    dtype : {"float64", "float32"}
        Input and output dtype.
    cse : bool
        Share common subexpressions across all outputs of a kernel.
    simplify : bool
        Run ``sympy.simplify`` on every derivative (slow).
    parallel : {"auto", True, False}
        Split large inputs over threads: when the estimated work pays (``"auto"``),
        always, or never.
    tiered : {"auto", True, False}
        ``"auto"`` (default): the FIRST array call of a request that must be compiled
        (not in this process, not on disk) is answered by NumPy while numba compiles
        in the background, when the compile is predicted to take longer than the
        NumPy evaluation; every later call waits for and runs the kernel. ``True``:
        NumPy answers until the kernel is ready. ``False``: always the kernel.
    backend : {"numba", "numpy"}
        What runs the program (see ``symgrad.backends``).
    math : {"vector", "libm"}
        How numba kernels compute exp, log, sin, ...: ``"vector"`` (the default) with
        the branch-free math of ``symgrad.vecmath``, which LLVM vectorizes (SIMD over
        points, AVX2/AVX-512; within 1-2 ulp of libm, see
        ``benchmarks/results/accuracy.md``), or ``"libm"`` with scalar calls to the C
        library (bit-identical to libm). Vector math makes value, gradient and Hessian
        kernels several times faster. One math for every request of an evaluator,
        single points included (they run the same kernel on one point), so fused and
        separate calls, and one point and arrays, agree bit for bit.
    """

    dtype: str = "float64"
    cse: bool = True
    simplify: bool = False
    parallel: bool | str = "auto"
    tiered: bool | str = "auto"
    backend: str = "numba"
    math: str = "vector"

    def replace(self, **changes: Any) -> Options:
        """A copy with some options changed (validated like ``make_options``)."""
        return make_options(**{**dataclasses.asdict(self), **changes})


_FIELDS = tuple(f.name for f in dataclasses.fields(Options))


def make_options(**options: Any) -> Options:
    """Validate keyword options into an :class:`Options` (InputError naming a bad one)."""
    unknown = [k for k in options if k not in _FIELDS]
    if unknown:
        import difflib

        close = difflib.get_close_matches(unknown[0], _FIELDS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise InputError(
            f"unknown option {unknown[0]!r}; options are {', '.join(_FIELDS)}.{hint}"
        )
    dtype = options.get("dtype", "float64")
    try:
        import numpy as np

        name = np.dtype(dtype).name
    except TypeError:
        name = None
    if name not in _DTYPES:
        raise InputError(f"dtype must be float64 or float32, not {dtype!r}.")
    options["dtype"] = name
    parallel = options.get("parallel", "auto")
    if not any(parallel is p or (isinstance(p, str) and parallel == p) for p in _PARALLEL):
        raise InputError(f"parallel must be True, False or 'auto', not {parallel!r}.")
    tiered = options.get("tiered", "auto")
    if not (isinstance(tiered, bool) or (isinstance(tiered, str) and tiered == "auto")):
        raise InputError(f"tiered must be 'auto', True or False, not {tiered!r}.")
    for flag in ("cse", "simplify"):
        value = options.get(flag, getattr(Options, flag))
        if not isinstance(value, bool):
            raise InputError(f"{flag} must be True or False, not {value!r}.")
    math = options.get("math", "vector")
    if not isinstance(math, str) or math not in _MATH:
        raise InputError(f"math must be 'libm' or 'vector', not {math!r}.")
    backend = options.get("backend", "numba")
    from .backends import BACKENDS

    if backend not in BACKENDS:
        raise InputError(
            f"unknown backend {backend!r}; choose from {', '.join(map(repr, BACKENDS))}."
        )
    return Options(**options)
