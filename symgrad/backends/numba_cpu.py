"""The numba CPU backend: a compiled loop over points, cached on disk.

With ``options.math == "vector"`` (the default) the loop computes functions with the
branch-free math of ``symgrad.vecmath`` and LLVM vectorizes it; with ``"libm"`` it
calls libm per point. One-point calls run the same loop on one point (one compilation,
the same bits as arrays); ``kernel_point`` (libm) stays in the source as a reference.

``symgrad.codegen.generate_source`` prints the program as a module with a loop kernel
and a one-point kernel; ``symgrad.kernel`` writes it to the cache directory and
builds numba dispatchers for it (compiled on the first call, or loaded from disk).
"""

from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np

from .._version import __version__

__all__ = ["NumbaCPU", "NumbaKernel"]


class NumbaKernel:
    """A program compiled with numba (lazily: on the first ``run``)."""

    releases_gil = True  # compiled with nogil=True

    def __init__(self, source: str):
        self.source = source
        self._kernel = None

    @property
    def kernel(self):
        """The ``symgrad.kernel.Kernel`` (module loaded, numba not yet compiled)."""
        if self._kernel is None:
            from ..kernel import compile_kernel

            self._kernel = compile_kernel(self.source)
        return self._kernel

    def run(self, args: tuple, out: Any, start: int, stop: int) -> None:
        self.kernel._checked_call("kernel", (*args, out, start, stop))

    # One point runs the ARRAY kernel on 1-element arrays (symgrad issue "first result
    # fast"): one compilation serves array and single-point calls, so a first
    # one-point call after an array call compiles nothing (and vice versa for
    # contiguous inputs). The inputs are laid out like an existing overload's
    # (contiguous, or zero-stride for broadcast scalars; read-only or not), so no new
    # variant is compiled either. ``kernel_point`` stays in the source (plain Python
    # reference) but is no longer compiled.
    def _point_args(self, n: int, dtype) -> tuple:
        kinds = [("C", True)] * n
        d = self.kernel.dispatcher("kernel")
        for sig in list(getattr(d, "overloads", {})):
            if len(sig) == n + 3 and str(getattr(sig[n], "dtype", "")) == np.dtype(dtype).name:
                kinds = [(t.layout, t.mutable) for t in sig[:n]]
                break
        args = []
        for layout, mutable in kinds:
            base = np.zeros(1, dtype=dtype)
            a = base if layout == "C" else np.ndarray((2,), base.dtype, buffer=base, strides=(0,))
            if not mutable:
                a = a.view()
                a.flags.writeable = False
            args.append((base, a))
        return tuple(args)

    def run_point(self, values: tuple[float, ...], out: Any) -> None:
        args = self._point_args(len(values), out.dtype)
        for (base, _), v in zip(args, values):
            base[0] = v
        self.kernel._checked_call("kernel", (*(a for _, a in args), out, 0, 1))

    def point_function(self):
        """``point(values, out)``: one point of floats into ``out[:, 0]`` (the array
        kernel on per-thread 1-element arrays; call after a ``run_point``)."""
        d = self.kernel.dispatcher("kernel")
        local = threading.local()
        make = self._point_args

        def point(values, out):
            try:
                args = local.args
            except AttributeError:
                args = local.args = make(len(values), out.dtype)
                local.inputs = tuple(a for _, a in args)
            for (base, _), v in zip(args, values):
                base[0] = v
            d(*local.inputs, out, 0, 1)

        return point

    def run_python(self, args: tuple, out: Any, start: int, stop: int) -> None:
        self.kernel.python(*args, out, start, stop)

    def is_compiled(self) -> bool:
        if self._kernel is None:  # numba not needed to tell (see kernel.code_state)
            from ..kernel import code_state

            return code_state(self.source) == "compiled"
        return bool(self._kernel.dispatcher("kernel").overloads)

    def is_cached(self) -> bool:
        """Whether numba's disk cache holds code for the array kernel (any signature)."""
        if self._kernel is None:
            from ..kernel import code_state

            return code_state(self.source) == "cached"
        path = self.kernel.path
        if path is None:
            return False
        try:
            prefix = path.stem + ".kernel-"
            return any(name.startswith(prefix) and name.endswith(".nbi")
                       for name in os.listdir(path.parent / "__pycache__"))
        except OSError:
            return False

    def cache_stats(self) -> dict[str, int]:
        if self._kernel is None:
            return {"hits": 0, "misses": 0}
        return self._kernel.cache_stats()


class NumbaCPU:
    """Backend ``"numba"``."""

    name = "numba"

    def compile(self, program, input_names: tuple[str, ...], options=None) -> NumbaKernel:
        from ..codegen import generate_source  # SymPy: only when generating

        math = "vector" if options is None else options.math  # Options.math's default
        return NumbaKernel(generate_source(program, input_names, __version__, math=math))

    def from_source(self, source: str) -> NumbaKernel:
        """The kernel of an already generated source (the request cache's)."""
        return NumbaKernel(source)
