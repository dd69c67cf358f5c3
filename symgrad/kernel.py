"""Kernel source -> compiled numba kernel, persisted in an on-disk cache.

How it works
------------
numba's ``cache=True`` cannot cache functions created with ``exec`` (they have no file
to key the cache on). So the generated source is written to
``<cache dir>/symgrad_<hash>.py``, where the hash covers the source and the versions of
symgrad, numba, NumPy and Python. The module is executed from the verified source text
under that unique name and registered in ``sys.modules`` while its Kernel is alive
(numba's parallel backend looks the module up by name when it loads a cached kernel).
numba then keeps its compiled machine code beside it in ``<cache dir>/__pycache__``,
and a second process that builds the same kernel loads it instead of compiling.

numba's cache is attached through :class:`_KernelCache`, a ``FunctionCache`` whose
locator is pinned to symgrad's directory (it never falls back to numba's user-wide
cache directory) and whose loading and saving cannot fail a call: a load failure
drops the entry's numba files and recompiles, a save failure leaves the kernel
compiled in memory.

Safety of the cache
-------------------
* Writes are atomic: a temporary file in the same directory, then ``os.replace``.
  Processes racing to write the same entry write identical bytes.
* Directories symgrad creates are ``0o700``. A cache directory (or its
  ``__pycache__``) owned by another user or writable by group/others is refused: one
  SymgradWarning, then kernels are compiled in memory and nothing is read or written.
* An entry whose content does not match its hash (truncated, edited, corrupted) is
  rewritten with a warning, and numba's files for it are dropped.
* If numba fails to load its own cached code for an entry, those files are dropped,
  a warning is issued and the kernel is compiled afresh (and saved again, so the next
  process is silent).
* A directory that vanishes (another process cleared or removed it) is recreated; a
  directory that cannot be written (disk full, read-only) degrades this process to
  in-memory compilation, with one warning per directory.
* Nothing is written outside the cache directory, and ``clear_cache`` deletes only
  regular files with names symgrad or numba generate, never following a link.

The cache directory is ``$SYMGRAD_CACHE_DIR`` if set, else the platform's user cache
directory (``$XDG_CACHE_HOME/symgrad`` or ``~/.cache/symgrad`` on Linux,
``~/Library/Caches/symgrad`` on macOS, ``%LOCALAPPDATA%\\symgrad\\Cache`` on Windows);
see :func:`symgrad._cachedir.cache_dir`.
"""

from __future__ import annotations

import errno
import hashlib
import os
import platform
import sys
import tempfile
import threading
import types
import warnings
import weakref
from pathlib import Path
from typing import Any

from . import _cachedir, _threads
from ._cachedir import cache_dir
from .errors import CompilationError, SymgradWarning

__all__ = [
    "Kernel",
    "compile_kernel",
    "cache_dir",
    "clear_cache",
    "default_threads",
    "code_state",
    "NUMBA_OPTIONS",
]

#: Options every kernel is compiled with. ``error_model="numpy"``: division by zero
#: gives inf/NaN as IEEE says, with no per-operation exception check in the loop.
#: No fastmath: results must match the plain-Python reference to the last bit where
#: the operations are the same, and NaN/inf must propagate. ``cache``: use the disk
#: cache (attached by symgrad, see ``_KernelCache``, not by numba's own ``cache=True``).
NUMBA_OPTIONS: dict[str, Any] = {
    "cache": True,
    "error_model": "numpy",
    "nogil": True,
    "boundscheck": False,
}

_PREFIX = "symgrad_"
_TMP_PREFIX = ".symgrad-tmp-"
# Reentrant: a Kernel's finalizer (run by the garbage collector, possibly while this
# thread is inside compile_kernel) takes it too.
_lock = threading.RLock()
# Kernels alive in this process, by key. Weak: a kernel lives as long as an Evaluator
# (or a caller) holds it; the evaluator cache (symgrad.evaluator) bounds how many do.
_kernels: weakref.WeakValueDictionary[str, Kernel] = weakref.WeakValueDictionary()

_state_lock = threading.Lock()


def _hold_locks() -> None:
    _lock.acquire()
    _state_lock.acquire()


def _release_locks() -> None:
    _state_lock.release()
    _lock.release()


def _fresh_locks() -> None:
    global _lock, _state_lock
    _lock, _state_lock = threading.RLock(), threading.Lock()


# A child forked while another thread writes an entry must not inherit these held.
_threads.at_fork(_hold_locks, _release_locks, _fresh_locks)
_warned_dirs: set[str] = set()  # cache directories this process has warned about
_failed_dirs: set[str] = set()  # ... where writing failed: in memory from then on


def _warn(message: str) -> None:
    """Issue a SymgradWarning attributed to the first caller outside symgrad and numba."""
    frame = sys._getframe(1)
    level = 2
    while frame is not None and frame.f_globals.get("__name__", "").split(".")[0] in (
        "symgrad", "numba"
    ):
        frame = frame.f_back
        level += 1
    warnings.warn(message, SymgradWarning, stacklevel=level)


def _degrade(directory: Path, why: str, *, failed: bool = False) -> None:
    """Stop using ``directory`` (for this call, or for the process when ``failed``);
    warn at most once per directory per process."""
    key = str(directory)
    with _state_lock:
        if failed:
            _failed_dirs.add(key)
        if key in _warned_dirs:
            return
        _warned_dirs.add(key)
    scope = "kernels in memory only from now on" if failed else "in memory only"
    _warn(
        f"symgrad: {why}; compiling {scope} (this is the only warning about {directory} "
        "in this process). Set SYMGRAD_CACHE_DIR to a private, writable directory to "
        "cache kernels on disk."
    )


def _prepare(directory: Path) -> bool:
    """Create (0o700) and vet the cache directory and its ``__pycache__``.

    False (after at most one warning per directory) when the kernel must be compiled in
    memory only.
    """
    if str(directory) in _failed_dirs:
        return False
    pycache = directory / "__pycache__"
    for attempt in range(2):
        try:
            _cachedir.make_private_dir(directory)
            where, why = directory, _cachedir.distrust(directory)
            if why is None:
                # Created by us, before numba would create it with the umask's mode.
                _cachedir.make_private_dir(pycache)
                where, why = pycache, _cachedir.distrust(pycache, follow_symlinks=False)
            break
        except OSError as exc:
            if exc.errno == errno.ENOENT and attempt == 0:
                continue  # removed meanwhile by another process: once more
            _degrade(directory,
                     f"cannot create the kernel cache directory {directory} ({exc})",
                     failed=exc.errno != errno.ENOENT)
            return False
    if why is not None:
        _degrade(directory, f"refusing to use {where} as the kernel cache: {why}")
        return False
    return True


_versions_text: str | None = None


def _versions() -> str:
    """symgrad's, numba's, llvmlite's, NumPy's and Python's versions (looked up once)."""
    global _versions_text
    if _versions_text is None:
        _versions_text = _look_up_versions()
    return _versions_text


def _look_up_versions() -> str:
    from importlib import metadata  # here: a CLI that prints text never needs it

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


def _drop_numba_files(directory: Path, module_name: str) -> int:
    """Delete numba's files for ``module_name`` in the real ``directory/__pycache__``."""
    prefix = module_name + "."
    return _cachedir.remove_own_files(
        directory,
        lambda name: False,
        pycache=lambda name: name.startswith(prefix) and _cachedir.is_numba_name(name),
    )


def _read_entry(path: Path) -> str | None:
    """The entry's text; None when missing; "" when unreadable (treated as corrupted)."""
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            return fh.read()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError):
        return ""


def _store(directory: Path, module_name: str, source: str) -> Path | None:
    """Make sure ``directory/module_name.py`` holds exactly ``source``.

    Returns the path, or None when the directory is refused or cannot be written (then
    the kernel is compiled in memory only, and nothing is written anywhere).
    """
    path = directory / f"{module_name}.py"
    attempts = 3
    for attempt in range(attempts):
        if not _prepare(directory):
            return None
        try:
            current = _read_entry(path)
            if current != source:
                if current is not None:
                    _warn(f"symgrad: cache entry {path} was corrupted or truncated; "
                          "rebuilding it.")
                    _drop_numba_files(directory, module_name)
                _atomic_write(path, source)
            return path
        except OSError as exc:
            if exc.errno == errno.ENOENT and attempt < attempts - 1:
                continue  # removed meanwhile (another process cleared it): again
            _degrade(directory, f"cannot write the kernel cache in {directory} ({exc})",
                     failed=exc.errno != errno.ENOENT)
            return None
    return None


_cache_classes: tuple | None = None


def _numba_cache_classes() -> tuple:
    """(_KernelCache, _Locator), built on first use (numba is imported lazily)."""
    global _cache_classes
    if _cache_classes is not None:
        return _cache_classes
    from numba.core import caching

    class _Locator(caching.InTreeCacheLocator):
        """numba's in-tree locator (``<dir>/__pycache__``), always chosen for symgrad's
        entries: no fallback to numba's user-wide cache directory, ``__pycache__``
        created 0o700 and vetted like the cache directory."""

        @classmethod
        def from_function(cls, py_func, py_file):
            return cls(py_func, py_file)

        def ensure_cache_path(self):
            path = Path(self.get_cache_path())
            _cachedir.make_private_dir(path)
            why = _cachedir.distrust(path, follow_symlinks=False)
            if why is not None:
                raise PermissionError(errno.EPERM, f"refusing {path}: {why}")

    class _Impl(caching.CompileResultCacheImpl):
        # $NUMBA_CACHE_DIR, when set, still wins (numba's documented override).
        _locator_classes = [caching.UserProvidedCacheLocator, _Locator]

    class _KernelCache(caching.FunctionCache):
        """numba's function cache for a symgrad kernel, whose disk problems never
        reach the caller: see the module docstring."""

        _impl_class = _Impl

        def __init__(self, py_func, directory: Path):
            self._directory = directory
            super().__init__(py_func)

        def _ours(self) -> bool:
            return isinstance(self._impl.locator, _Locator)

        def _drop(self) -> None:
            prefix = self._impl.filename_base + "."
            _cachedir.remove_own_files(
                Path(self._cache_path),
                lambda name: name.startswith(prefix) and _cachedir.is_numba_name(name),
                follow_top=False,
            )

        def load_overload(self, sig, target_context):
            if str(self._directory) in _failed_dirs:
                return None
            if self._ours() and os.path.lexists(self._cache_path):
                why = _cachedir.distrust(Path(self._cache_path), follow_symlinks=False)
                if why is not None:
                    _degrade(self._directory,
                             f"refusing to use {self._cache_path} as the kernel cache: {why}")
                    return None
            try:
                return super().load_overload(sig, target_context)
            except Exception as exc:
                _warn(
                    f"symgrad: numba's cached code for {Path(self._py_func.__code__.co_filename).name} "
                    f"could not be loaded ({type(exc).__name__}: {exc}); recompiling it."
                )
                self._drop()
                return None

        def save_overload(self, sig, data):
            for attempt in range(2):
                if str(self._directory) in _failed_dirs:
                    return
                try:
                    super().save_overload(sig, data)
                    return
                except OSError as exc:
                    if exc.errno == errno.ENOENT:
                        if attempt == 0:
                            continue  # removed meanwhile: ensure_cache_path recreates it
                        return  # still racing with a clear: this kernel stays in memory
                    _degrade(self._directory,
                             f"cannot write the kernel cache in {self._directory} ({exc})",
                             failed=True)
                    return
                except Exception as exc:
                    _degrade(self._directory,
                             f"numba could not save a kernel in {self._directory} "
                             f"({type(exc).__name__}: {exc})")
                    return

    _cache_classes = (_KernelCache, _Locator)
    return _cache_classes


def _attach_cache(dispatcher, py_func, path: Path, source: str) -> bool:
    """Give ``dispatcher`` symgrad's disk cache for the entry at ``path``.

    False (the dispatcher stays in memory only) when the directory is refused or
    unwritable, or numba cannot set up its cache for it.
    """
    if not hasattr(dispatcher, "enable_caching"):  # NUMBA_DISABLE_JIT: a plain function
        return False
    kernel_cache, _ = _numba_cache_classes()
    directory = path.parent
    for attempt in range(2):
        # The entry may have vanished since compile_kernel (another process cleared
        # the cache or removed the directory): numba needs the file to key its cache.
        if _store(directory, path.stem, source) is None:
            return False
        try:
            dispatcher._cache = kernel_cache(py_func, directory)
            return True
        except FileNotFoundError:
            if attempt == 0:
                continue
            return False
        except Exception as exc:
            _degrade(directory, f"numba cannot cache kernels in {directory} "
                                f"({type(exc).__name__}: {exc})")
            return False
    return False


def _release(name: str, module: types.ModuleType) -> None:
    """A Kernel died: forget its module (and, for in-memory kernels, its source lines)."""
    with _lock:
        if sys.modules.get(name) is module:
            del sys.modules[name]
    filename = getattr(module, "__file__", "")
    if filename.startswith("<symgrad kernel"):
        import linecache

        linecache.cache.pop(filename, None)


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
        self._in_memory: set[str] = set()  # functions recompiled without the disk cache
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
                    d = self._make_dispatcher(name)
                    self._dispatchers[name] = d
        return d

    def _make_dispatcher(self, name: str):
        import numba

        options = {k: v for k, v in NUMBA_OPTIONS.items() if k != "cache"}
        py_func = getattr(self.module, name)
        d = numba.njit(**options)(py_func)
        if NUMBA_OPTIONS.get("cache") and self.path is not None and name not in self._in_memory:
            # Not numba's own cache=True: its locator is chosen here, and it raises
            # ("no locator available") when the entry has vanished meanwhile.
            _attach_cache(d, py_func, self.path, self.source)
        return d

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
        if self.path is None or name in self._in_memory:
            raise exc
        # Disk-cache problems are handled inside _KernelCache; anything else failing a
        # first call is retried once without the disk cache, after dropping numba's
        # files for the entry (they may be what failed).
        _warn(
            f"symgrad: the first call of {name} in {self.path.name} failed "
            f"({type(exc).__name__}: {exc}); dropping its cached code and compiling it "
            "in memory."
        )
        _drop_numba_files(self.path.parent, self.module.__name__)
        with self._lock:
            self._in_memory.add(name)
            self._dispatchers.pop(name, None)

    def cache_stats(self) -> dict[str, int]:
        """numba's disk-cache hits and misses for this kernel in this process."""
        hits = misses = 0
        for d in self._dispatchers.values():
            hits += sum(d.stats.cache_hits.values())
            misses += sum(d.stats.cache_misses.values())
        return {"hits": hits, "misses": misses}


def default_threads() -> int:
    """Kept for existing imports; see ``symgrad._threads.default_threads``."""
    from ._threads import default_threads as threads

    return threads()


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
    the cache entry and executes the module (cheap, no numba compilation). The module
    stays in ``sys.modules`` as long as the returned Kernel is alive.
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
        weakref.finalize(k, _release, name, module)
        _kernels[key] = k
        return k


def code_state(source: str) -> str | None:
    """Whether ``source``'s array kernel is ready without a compile, cheaply.

    ``"compiled"``: a Kernel of this source in this process has machine code;
    ``"cached"``: numba's disk cache holds code for it (any signature); None: neither
    (or unknown). Neither executes the module nor imports numba, so the NumPy tier can
    answer a first call before numba is even imported.
    """
    key = kernel_key(source)
    with _lock:
        k = _kernels.get(key)
    if k is not None and "numba" in sys.modules:
        d = k._dispatchers.get("kernel")
        if d is not None and getattr(d, "overloads", None):
            return "compiled"
    if str(cache_dir()) in _failed_dirs:
        return None
    prefix = f"{_PREFIX}{key}.kernel-"
    try:
        names = os.listdir(cache_dir() / "__pycache__")
    except OSError:
        return None
    if any(name.startswith(prefix) and name.endswith(".nbi") for name in names):
        return "cached"
    return None


def clear_cache(memory: bool = True) -> int:
    """Delete symgrad's kernel files from the cache directory.

    Parameters
    ----------
    memory : bool
        Also forget kernels loaded in this process (they are rebuilt on next use).

    Returns
    -------
    int
        Number of files removed. Only regular files with names symgrad generates are
        touched: ``symgrad_<hash>.py`` entries, request-cache entries
        (``symgrad_req_<hash>.json``) and symgrad's temporary files in the
        cache directory, and numba's ``symgrad_<hash>.*`` index and data files in its
        real ``__pycache__``. Symbolic links are never followed (nor deleted).
    """
    removed = _cachedir.remove_own_files(
        cache_dir(),
        lambda name: (_cachedir.is_entry_name(name) or _cachedir.is_tmp_name(name)
                      or _cachedir.is_request_name(name)),
        pycache=_cachedir.is_numba_name,
    )
    if memory:
        with _lock:
            _kernels.clear()
    return removed
