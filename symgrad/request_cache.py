"""The persistent request cache: from a formula string to its kernel without SymPy.

Two kinds of entries live beside the kernels in the cache directory
(``symgrad._cachedir.cache_dir``), as ``symgrad_req_<hash>.json``:

* a *formula* entry, keyed by the formula strings, the variables and params as given
  and the versions of symgrad, SymPy, numba, llvmlite, NumPy and Python: the record that a
  full parse accepted this request, with the variable and parameter names it found;
* a *request* entry, keyed by a formula key, the compile ``Options`` and the requested
  outputs: the generated kernel source and what the evaluator needs to run it without
  SymPy (input names, block layout, ``n_rows``, ``zero_rows``, the cost estimate).

A process that finds both for a request validates the string without SymPy
(``symgrad.parse.check``), checks that the names agree, and loads the kernel (numba's
own cache, ``symgrad.kernel``) directly: SymPy is not imported at all.

The rules are the kernel cache's: atomic writes (a temporary file, then
``os.replace``), private directories vetted by ``symgrad.kernel._prepare``, nothing
written when the directory is refused or unwritable. Every entry is JSON holding its
own key and a SHA-256 checksum of its payload; an entry that is missing, truncated,
corrupted, written by another version or concurrently replaced is ignored (treated as
absent) and rewritten after the request is rebuilt the slow way. Reading an entry
never fails a call.
"""

from __future__ import annotations

import hashlib
import json
import platform
import re
import sys
from pathlib import Path
from typing import Any

from . import _cachedir

__all__ = ["formula_key", "request_key", "text_key", "load", "store", "stats", "FORMAT"]

#: Bumped when the payloads change shape, or the generated kernel source changes form
#: (2: the point loop is its own noalias function, ``kernel_loop``), so that an entry
#: of an older code generator is never served.
FORMAT = 2

_versions_text: str | None = None
_sympy_version_text: str | None = None
#: Reads/writes of this process: hits, misses (absent or unusable), stores.
_stats = {"hits": 0, "misses": 0, "stores": 0}


def stats() -> dict[str, int]:
    """This process's request-cache hits, misses and stores (a copy)."""
    return dict(_stats)


def sympy_version() -> str:
    """SymPy's version without importing SymPy (a warm process must not).

    The derivatives, and so every entry, depend on SymPy: its version is in every key.
    Read from ``sympy/release.py`` (what ``sympy.__version__`` is), else from the
    installed distribution's metadata.
    """
    global _sympy_version_text
    if _sympy_version_text is not None:
        return _sympy_version_text
    module = sys.modules.get("sympy")
    version = getattr(module, "__version__", None)
    if not isinstance(version, str):
        try:
            import importlib.util

            spec = importlib.util.find_spec("sympy")
            origin = spec.origin if spec is not None else None
            text = (Path(origin).with_name("release.py").read_text(encoding="utf-8")
                    if origin else "")
            found = re.search(r"""^__version__\s*=\s*["']([^"']+)["']""", text, re.M)
            version = found.group(1) if found else None
        except (OSError, ValueError, ImportError):
            version = None
    if version is None:
        from importlib import metadata

        try:
            version = metadata.version("sympy")
        except metadata.PackageNotFoundError:
            version = "?"
    _sympy_version_text = version
    return version


def _versions() -> str:
    global _versions_text
    if _versions_text is None:
        from .kernel import _versions as kernel_versions

        _versions_text = f"{FORMAT}|{kernel_versions()}|sympy {sympy_version()}"
    return _versions_text


def text_key(*parts: Any) -> str:
    """The key of an entry that holds printed text (the CLI's): it depends on symgrad,
    SymPy and Python only, so computing it imports neither numba's versions nor
    ``importlib.metadata`` (a cold ``symgrad grad`` pays for every import)."""
    from ._version import __version__

    light = f"{FORMAT}|text|{__version__}|sympy {sympy_version()}|{platform.python_version()}"
    text = json.dumps([light, *parts], sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _digest(*parts: Any) -> str:
    text = json.dumps([_versions(), *parts], sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def formula_key(sources, is_vector: bool, variables, params) -> str:
    """The key of a formula entry (``variables`` None: inferred)."""
    return _digest("formula", list(sources), is_vector,
                   None if variables is None else list(variables), list(params))


def request_key(formula: str, options: Any, items: Any) -> str:
    """The key of a request entry: a formula key, the Options and the outputs asked."""
    return _digest("request", formula, repr(options), repr(items))


def _path(key: str) -> Path:
    return _cachedir.cache_dir() / f"symgrad_req_{key}.json"


def _checksum(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def load(key: str) -> dict | None:
    """The payload stored under ``key``, or None (absent, unreadable or not intact)."""
    try:
        with open(_path(key), encoding="utf-8") as fh:
            entry = json.load(fh)
        payload = entry["payload"]
        if (not isinstance(payload, dict) or payload.get("key") != key
                or entry.get("checksum") != _checksum(payload)):
            raise ValueError("not intact")
    except Exception:  # noqa: BLE001 - any unusable entry is a miss, never an error
        _stats["misses"] += 1
        return None
    _stats["hits"] += 1
    return payload


def store(key: str, payload: dict) -> bool:
    """Write ``payload`` under ``key`` atomically; False when the cache is not usable."""
    from .kernel import _atomic_write, _prepare

    payload = {**payload, "key": key}
    try:
        text = json.dumps({"checksum": _checksum(payload), "payload": payload},
                          sort_keys=True)
        path = _path(key)
        if not _prepare(path.parent):
            return False
        _atomic_write(path, text)
    except (OSError, TypeError, ValueError):
        return False  # a full disk or a racing clear: the next process rebuilds it
    _stats["stores"] += 1
    return True


# -------------------------------------------------------------- request entries' payload


class CachedBlock:
    """A ``symgrad.program.Block`` read from a request entry (no SymPy)."""

    __slots__ = ("name", "shape", "offset", "size")

    def __init__(self, name: str, shape: tuple[int, ...], offset: int):
        self.name, self.shape, self.offset = name, shape, offset
        size = 1
        for s in shape:
            size *= s
        self.size = size

    def __repr__(self) -> str:
        return f"CachedBlock({self.name!r}, {self.shape}, {self.offset})"


class CachedProgram:
    """The layout of a request's Program, read from its entry.

    ``blocks``, ``n_rows`` and ``zero_rows`` are what running the kernel needs; any
    other attribute (``inputs``, ``assignments``, ``results``: the symbolic program)
    builds the real Program with SymPy on first use and is read from it.
    """

    def __init__(self, blocks, n_rows: int, zero_rows: tuple[int, ...], build):
        self.blocks = blocks
        self.n_rows = n_rows
        self.zero_rows = zero_rows
        self._build = build
        self._real = None

    def __getattr__(self, name: str):
        if name.startswith("__") or name in ("_build", "_real"):
            raise AttributeError(name)
        if self._real is None:
            self._real = self._build()
        return getattr(self._real, name)

    @classmethod
    def from_payload(cls, payload: dict | None, build) -> CachedProgram | None:
        """None when ``payload`` is absent or not a well-formed request entry."""
        if payload is None:
            return None
        try:
            blocks = tuple(CachedBlock(str(name), tuple(int(s) for s in shape), int(offset))
                           for name, shape, offset in payload["blocks"])
            n_rows = int(payload["n_rows"])
            zero_rows = tuple(int(r) for r in payload["zero_rows"])
            if (not isinstance(payload["source"], str)
                    or not all(isinstance(n, str) for n in payload["names"])
                    or not isinstance(payload["has_results"], bool)):
                raise TypeError
            float(payload["cost"])
            if sum(b.size for b in blocks) != n_rows or any(
                not 0 <= r < n_rows for r in zero_rows
            ):
                raise ValueError
        except (KeyError, TypeError, ValueError):
            _stats["misses"] += 1
            return None
        return cls(blocks, n_rows, zero_rows, build)


def request_payload(compiled: Any, source: str) -> dict:
    """What a request entry stores about an evaluator's compiled request."""
    program = compiled.program
    return {
        "source": source,
        "names": list(compiled.names),
        "blocks": [[b.name, list(b.shape), b.offset] for b in program.blocks],
        "n_rows": program.n_rows,
        "zero_rows": list(program.zero_rows),
        "cost": compiled.cost,
        "has_results": bool(compiled.has_results),
    }
