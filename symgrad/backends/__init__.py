"""Backends: what turns a ``Program`` into something that runs.

A backend is one module with a class following :class:`Backend`; its ``compile``
returns a :class:`CompiledKernel` that

* runs over points ``[start, stop)`` of 1-D input arrays into a ``(n_rows, N)``
  buffer (``run``), the unit the thread pool (``symgrad._threads``) splits;
* runs one point given as floats (``run_point``);
* runs as plain Python (``run_python``), the reference the tests compare with.

Backends today: ``numba`` (:mod:`symgrad.backends.numba_cpu`, a compiled loop, cached
on disk, with vector math (the default) or libm calls, ``options.math``) and ``numpy`` (:mod:`symgrad.backends.numpy_tier`,
NumPy ufuncs on chunks of points, no compilation: the tiered first answer). A new
backend (vector math, loops over indexed formulas, numba.cuda, C) is one new module
and one line in :data:`BACKENDS`.
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol

from ..errors import InputError

__all__ = ["Backend", "CompiledKernel", "BACKENDS", "get_backend"]


class CompiledKernel(Protocol):
    """A program compiled by a backend."""

    source: str
    #: Whether ``run`` releases the GIL (only then do threads pay off).
    releases_gil: bool

    def run(self, args: tuple, out: Any, start: int, stop: int) -> None:
        """Evaluate points ``start <= i < stop`` of ``args`` into ``out[:, i]``."""

    def run_point(self, values: tuple[float, ...], out: Any) -> None:
        """Evaluate one point given as floats into ``out[:, 0]``."""

    def run_python(self, args: tuple, out: Any, start: int, stop: int) -> None:
        """``run`` as plain Python (slow; the reference in tests)."""

    def cache_stats(self) -> dict[str, int]:
        """Disk-cache hits and misses of this kernel in this process."""


class Backend(Protocol):
    """Compiles programs; one instance per backend, shared."""

    name: str

    def compile(
        self, program: Any, input_names: tuple[str, ...], options: Any = None
    ) -> CompiledKernel:
        """A kernel for ``program`` (``input_names``: the user's names, for comments;
        ``options``: the ``symgrad.options.Options``, None for the defaults)."""


#: backend name -> "module:class" (imported on first use: numba loads only if needed).
BACKENDS: dict[str, str] = {
    "numba": "numba_cpu:NumbaCPU",
    "numpy": "numpy_tier:NumPyTier",
}

_instances: dict[str, Backend] = {}


def get_backend(name: str) -> Backend:
    """The backend called ``name`` (InputError listing the backends otherwise)."""
    backend = _instances.get(name)
    if backend is None:
        target = BACKENDS.get(name)
        if target is None:
            raise InputError(
                f"unknown backend {name!r}; choose from {', '.join(map(repr, BACKENDS))}."
            )
        module, cls = target.split(":")
        backend = getattr(importlib.import_module(f"{__name__}.{module}"), cls)()
        _instances[name] = backend
    return backend
