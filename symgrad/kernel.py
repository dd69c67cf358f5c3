"""Kernel source -> compiled numba kernel, persisted in an on-disk cache.

How it works
------------
numba's ``cache=True`` cannot cache functions created with ``exec`` (they have no file
to key the cache on). So the generated source is written to
``<cache dir>/symgrad_<hash>.py``, where the hash covers the source and the versions of
symgrad, numba, NumPy and Python. The module is executed from the verified source text
under that unique name and registered in ``sys.modules`` (numba's parallel backend
looks the module up by name when it loads a cached kernel). numba then keeps its
compiled machine code beside it in ``<cache dir>/__pycache__``, and a second process
that builds the same kernel loads it instead of compiling.

Safety of the cache
-------------------
* Writes are atomic: a temporary file in the same directory, then ``os.replace``.
  Processes racing to write the same entry write identical bytes.
* An entry whose content does not match its hash (truncated, edited, corrupted) is
  rewritten with a warning, and numba's files for it are dropped.
* If numba fails to load its own cached code for an entry, those files are dropped,
  a warning is issued and the kernel is compiled afresh.
* Nothing is written outside the cache directory.

The cache directory is ``$SYMGRAD_CACHE_DIR`` if set, else the platform's user cache
directory (``$XDG_CACHE_HOME/symgrad`` or ``~/.cache/symgrad`` on Linux,
``~/Library/Caches/symgrad`` on macOS, ``%LOCALAPPDATA%\\symgrad\\Cache`` on Windows).
"""

from __future__ import annotations

import hashlib
import os
import platform
import sys
import tempfile
import threading
import types
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any

from .errors import CompilationError, SymgradWarning

__all__ = [
    "Kernel",
    "compile_kernel",
    "cache_dir",
    "clear_cache",
    "default_threads",
    "NUMBA_OPTIONS",
]

#: Options every kernel is compiled with. ``error_model="numpy"``: division by zero
#: gives inf/NaN as IEEE says, with no per-operation exception check in the loop.
#: No fastmath: results must match the plain-Python reference to the last bit where
#: the operations are the same, and NaN/inf must propagate.
NUMBA_OPTIONS: dict[str, Any] = {
    "cache": True,
    "error_model": "numpy",
    "nogil": True,
    "boundscheck": False,
}

_PREFIX = "symgrad_"
_TMP_PREFIX = ".symgrad-tmp-"
_lock = threading.Lock()
_kernels: dict[str, Kernel] = {}


def cache_dir() -> Path:
    """The directory holding cached kernels (created on first use).

    ``$SYMGRAD_CACHE_DIR`` wins; otherwise the platform's per-user cache directory.
    """
    env = os.environ.get("SYMGRAD_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
        return base / "symgrad" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "symgrad"
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "symgrad"


def _versions() -> str:
    def v(pkg: str) -> str:
        try:
            return metadata.version(pkg)
        except metadata.PackageNotFoundError:
            return "?"

    from ._version import __version__

    return "|".join(
        [__version__, v("numba"), v("llvmlite"), v("numpy"), platform.python_version(),
         platform.machine()]
    )


def kernel_key(source: str) -> str:
    """Content hash naming a kernel's cache entry."""
    digest = hashlib.sha256((_versions() + "\n" + source).encode()).hexdigest()
    return digest[:32]


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_TMP_PREFIX, suffix=".py")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _numba_files(directory: Path, module_name: str) -> list[Path]:
    pycache = directory / "__pycache__"
    if not pycache.is_dir():
        return []
    return [p for p in pycache.iterdir() if p.name.startswith(module_name + ".")]


def _drop_numba_files(directory: Path, module_name: str) -> None:
    for p in _numba_files(directory, module_name):
        try:
            p.unlink()
        except OSError:
            pass


def _store(directory: Path, module_name: str, source: str) -> Path | None:
    """Make sure ``directory/module_name.py`` holds exactly ``source``.

    Returns the path, or None when the directory cannot be written (then the kernel
    is compiled in memory only, and nothing is written anywhere).
    """
    path = directory / f"{module_name}.py"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        try:
            current = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            current = None
        except (OSError, UnicodeDecodeError):
            current = ""
        if current != source:
            if current is not None:
                warnings.warn(
                    f"symgrad: cache entry {path} was corrupted or truncated; rebuilding it.",
                    SymgradWarning,
                    stacklevel=4,
                )
                _drop_numba_files(directory, module_name)
            _atomic_write(path, source)
        return path
    except OSError as exc:
        warnings.warn(
            f"symgrad: cannot write the kernel cache in {directory} ({exc}); compiling "
            "in memory only. Set SYMGRAD_CACHE_DIR to a writable directory.",
            SymgradWarning,
            stacklevel=4,
        )
        return None


class Kernel:
    """A generated kernel: its source, the plain-Python functions and numba dispatchers.

    Attributes
    ----------
    source : str
    key : str
        Content hash (names the cache entry).
    module : types.ModuleType
        The executed source; ``module.kernel`` runs as plain Python.
    path : pathlib.Path or None
        The cache file, or None when compiled in memory only.
    """

    def __init__(self, source: str, key: str, module: types.ModuleType, path: Path | None):
        self.source = source
        self.key = key
        self.module = module
        self.path = path
        self._dispatchers: dict[str, Any] = {}
        self._lock = threading.Lock()

    @property
    def python(self):
        """The loop kernel as plain Python (slow; the reference in tests)."""
        return self.module.kernel

    def dispatcher(self, name: str = "kernel"):
        """The numba dispatcher of ``kernel`` or ``kernel_point`` (created lazily)."""
        d = self._dispatchers.get(name)
        if d is None:
            with self._lock:
                d = self._dispatchers.get(name)
                if d is None:
                    import numba

                    options = dict(NUMBA_OPTIONS)
                    if self.path is None:
                        options["cache"] = False
                    d = numba.njit(**options)(getattr(self.module, name))
                    self._dispatchers[name] = d
        return d

    def __call__(self, args: tuple, out, threads: int = 1) -> None:
        """Run the compiled loop kernel over all ``N = out.shape[1]`` points.

        Parameters
        ----------
        args : tuple of 1-D arrays of length N
        out : ndarray, shape (n_rows, N)
        threads : int
            Split the points into chunks run on this many threads (the kernel releases
            the GIL). 1 runs in the calling thread.
        """
        n = out.shape[1]
        d = self._checked_call("kernel", (*args, out, 0, min(n, _FIRST_CHUNK)))
        if n <= _FIRST_CHUNK:
            return
        if threads <= 1:
            d(*args, out, _FIRST_CHUNK, n)
            return
        # More chunks than threads, taken dynamically from one shared iterator by the
        # calling thread and the pool's threads alike: a thread slowed by another
        # process on its core does not hold up the others for long. (next() on a list
        # iterator is atomic under the GIL; the kernel itself releases the GIL.)
        pending = iter(_chunks(_FIRST_CHUNK, n, threads * 2))

        def work() -> None:
            for lo, hi in pending:
                d(*args, out, lo, hi)

        pool = _pool(threads)
        futures = [pool.submit(work) for _ in range(threads - 1)]
        work()
        for fut in futures:
            fut.result()

    def point(self, values: tuple, out) -> None:
        """Evaluate one point given as floats into column 0 of ``out``."""
        self._checked_call("kernel_point", (*values, out))

    def _checked_call(self, name: str, call_args: tuple):
        d = self.dispatcher(name)
        try:
            d(*call_args)
        except Exception as exc:  # only a first call per signature gets here
            if _is_compiled(d, call_args):
                raise
            self._recover(name, exc)
            d = self.dispatcher(name)
            d(*call_args)
        return d

    def _recover(self, name: str, exc: Exception) -> None:
        import numba.core.errors as nerr

        if isinstance(exc, (nerr.TypingError, nerr.LoweringError, nerr.UnsupportedError)):
            raise CompilationError(
                "numba could not compile the generated kernel. This is a symgrad bug; "
                "please report it with the source (Evaluator.source). numba said: "
                + " | ".join(line.strip() for line in str(exc).splitlines()[:4] if line.strip()),
                source=self.source,
            ) from None
        if self.path is None:
            raise exc
        # Anything else on a first call is numba failing to load its own cache files
        # (truncated or corrupted index/data): drop them and compile afresh.
        warnings.warn(
            f"symgrad: numba's cached code for {self.path.name} could not be loaded "
            f"({type(exc).__name__}: {exc}); recompiling it.",
            SymgradWarning,
            stacklevel=4,
        )
        _drop_numba_files(self.path.parent, self.module.__name__)
        with self._lock:
            self._dispatchers.pop(name, None)

    def cache_stats(self) -> dict[str, int]:
        """numba's disk-cache hits and misses for this kernel in this process."""
        hits = misses = 0
        for d in self._dispatchers.values():
            hits += sum(d.stats.cache_hits.values())
            misses += sum(d.stats.cache_misses.values())
        return {"hits": hits, "misses": misses}


# The first chunk runs alone in the calling thread: it compiles (or loads) the kernel
# for these argument types before any other thread calls it.
_FIRST_CHUNK = 256
# Smallest chunk handed to a thread: waking a thread costs tens of microseconds.
_MIN_CHUNK = 16384
_pool_lock = threading.Lock()
_pools: dict[int, Any] = {}


def default_threads() -> int:
    """Threads for large inputs: ``$SYMGRAD_NUM_THREADS``, else the usable cores."""
    env = os.environ.get("SYMGRAD_NUM_THREADS")
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            pass
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _pool(threads: int):
    with _pool_lock:
        pool = _pools.get(threads)
        if pool is None:
            from concurrent.futures import ThreadPoolExecutor

            pool = ThreadPoolExecutor(max_workers=threads - 1, thread_name_prefix="symgrad")
            _pools[threads] = pool
        return pool


def _chunks(start: int, stop: int, count: int) -> list[tuple[int, int]]:
    count = max(1, min(count, (stop - start) // _MIN_CHUNK or 1))
    edges = [start + (stop - start) * k // count for k in range(count + 1)]
    return [(edges[k], edges[k + 1]) for k in range(count)]


def _is_compiled(dispatcher, call_args) -> bool:
    # True once the dispatcher has machine code for these argument types, i.e. the
    # exception came from running the kernel, not from compiling or loading it.
    try:
        sig = tuple(dispatcher.typeof_pyval(a) for a in call_args)
    except Exception:
        return False
    return sig in dispatcher.overloads


def compile_kernel(source: str) -> Kernel:
    """The Kernel for ``source``: from this process's memory, the disk cache, or new.

    numba compiles lazily, on the first call per argument types; this function writes
    the cache entry and executes the module (cheap, no numba compilation).
    """
    key = kernel_key(source)
    with _lock:
        k = _kernels.get(key)
        if k is not None:
            return k
        name = _PREFIX + key
        path = _store(cache_dir(), name, source)
        module = types.ModuleType(name)
        module.__file__ = str(path) if path else f"<symgrad kernel {key}>"
        code = compile(source, module.__file__, "exec")
        exec(code, module.__dict__)  # noqa: S102 (our generated code, never user text)
        sys.modules[name] = module
        if path is None:
            import linecache

            linecache.cache[module.__file__] = (
                len(source), None, source.splitlines(True), module.__file__
            )
        k = Kernel(source, key, module, path)
        _kernels[key] = k
        return k


def clear_cache(memory: bool = True) -> int:
    """Delete symgrad's kernel files from the cache directory.

    Parameters
    ----------
    memory : bool
        Also forget kernels loaded in this process (they are rebuilt on next use).

    Returns
    -------
    int
        Number of files removed. Only files symgrad created are touched.
    """
    directory = cache_dir()
    removed = 0
    candidates = []
    if directory.is_dir():
        candidates += [p for p in directory.iterdir() if p.name.startswith((_PREFIX, _TMP_PREFIX))]
        pycache = directory / "__pycache__"
        if pycache.is_dir():
            candidates += [p for p in pycache.iterdir() if p.name.startswith(_PREFIX)]
    for p in candidates:
        try:
            p.unlink()
            removed += 1
        except OSError:
            pass
    if memory:
        with _lock:
            _kernels.clear()
    return removed
