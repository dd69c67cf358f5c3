"""The numba CPU backend: a compiled loop over points, cached on disk.

With ``options.math == "vector"`` (the default) the loop computes functions with the
branch-free math of ``symgrad.vecmath`` and LLVM vectorizes it; with ``"libm"`` it
calls libm per point. The one-point kernel calls libm either way.

``symgrad.codegen.generate_source`` prints the program as a module with a loop kernel
and a one-point kernel; ``symgrad.kernel`` writes it to the cache directory and
builds numba dispatchers for it (compiled on the first call, or loaded from disk).
"""

from __future__ import annotations

from typing import Any

from .._version import __version__
from ..codegen import generate_source

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

    def run_point(self, values: tuple[float, ...], out: Any) -> None:
        self.kernel._checked_call("kernel_point", (*values, out))

    def point_function(self):
        """The compiled one-point dispatcher (after a ``run_point`` on floats)."""
        return self.kernel.dispatcher("kernel_point")

    def run_python(self, args: tuple, out: Any, start: int, stop: int) -> None:
        self.kernel.python(*args, out, start, stop)

    def is_compiled(self) -> bool:
        return self._kernel is not None and bool(self._kernel.dispatcher("kernel").overloads)

    def cache_stats(self) -> dict[str, int]:
        if self._kernel is None:
            return {"hits": 0, "misses": 0}
        return self._kernel.cache_stats()


class NumbaCPU:
    """Backend ``"numba"``."""

    name = "numba"

    def compile(self, program, input_names: tuple[str, ...], options=None) -> NumbaKernel:
        math = "vector" if options is None else options.math
        return NumbaKernel(generate_source(program, input_names, __version__, math=math))
