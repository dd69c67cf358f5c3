"""Where the kernel cache lives, which directories it trusts, and which files it may delete.

Kept apart from ``kernel.py`` so that the rules are in one place:

* :func:`cache_dir` resolves the directory from the environment (absolute paths only).
* :func:`make_private_dir` creates directories ``0o700`` and :func:`distrust` says why a
  directory must not be used (a directory another user can write is a place to plant
  pickles numba would load).
* :func:`remove_own_files` deletes only regular files whose names symgrad or numba
  generate for symgrad kernels, and never follows a symbolic link.
"""

from __future__ import annotations

import os
import re
import stat
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = [
    "cache_dir",
    "make_private_dir",
    "distrust",
    "remove_own_files",
    "is_entry_name",
    "is_tmp_name",
    "is_request_name",
    "is_numba_name",
]

ENTRY_RE = re.compile(r"symgrad_[0-9a-f]{32}\.py\Z")
# The request cache's entries (symgrad.request_cache).
REQUEST_RE = re.compile(r"symgrad_req_[0-9a-f]{32}\.json\Z")
TMP_RE = re.compile(r"\.symgrad-tmp-[A-Za-z0-9_]+\.py\Z")
# numba's index and data files (and its temporary files while writing them):
# ``<module>.<function>-<line>.py<major><minor><abiflags>.nbi`` / ``.<n>.nbc`` /
# ``... .tmp.<hex>``.
NUMBA_RE = re.compile(
    r"symgrad_[0-9a-f]{32}\.[A-Za-z_][A-Za-z0-9_]*-[0-9]+\.py[0-9]+[a-z]*"
    r"(?:\.nbi|\.[0-9]+\.nbc)(?:\.tmp\.[0-9a-f]+)?\Z"
)


def is_entry_name(name: str) -> bool:
    return ENTRY_RE.match(name) is not None


def is_request_name(name: str) -> bool:
    return REQUEST_RE.match(name) is not None


def is_tmp_name(name: str) -> bool:
    return TMP_RE.match(name) is not None


def is_numba_name(name: str) -> bool:
    return NUMBA_RE.match(name) is not None


# -- where ---------------------------------------------------------------------------------

# Relative $SYMGRAD_CACHE_DIR values, made absolute against the working directory the
# first time they are seen, so a later os.chdir() does not move the cache.
_resolved: dict[str, Path] = {}


def _absolute_env(name: str) -> Path | None:
    """``$name`` as an absolute path, or None when unset, empty or relative (XDG rule)."""
    value = os.environ.get(name)
    if not value:
        return None
    path = Path(value).expanduser()
    return path if path.is_absolute() else None


def _home() -> Path | None:
    try:
        home = Path.home()
    except (RuntimeError, KeyError):
        home = None
    if home is not None and home.is_absolute():
        return home
    try:  # $HOME empty or relative: ask the password database
        import pwd

        home = Path(pwd.getpwuid(os.getuid()).pw_dir)
    except (ImportError, KeyError, AttributeError):
        return None
    return home if home.is_absolute() else None


def cache_dir() -> Path:
    """The directory holding cached kernels (always an absolute path).

    * ``$SYMGRAD_CACHE_DIR`` when set and non-empty. A relative value is resolved
      against the working directory the first time this process uses it.
    * else the platform's per-user cache directory: ``$XDG_CACHE_HOME/symgrad`` or
      ``~/.cache/symgrad`` on Linux, ``~/Library/Caches/symgrad`` on macOS,
      ``%LOCALAPPDATA%\\symgrad\\Cache`` on Windows. Empty or relative
      ``XDG_CACHE_HOME`` / ``LOCALAPPDATA`` values are ignored, as the XDG spec says.
    * with no usable home directory at all: ``<tempdir>/symgrad-<uid>`` (subject to the
      same ownership and permission checks as any cache directory).
    """
    env = os.environ.get("SYMGRAD_CACHE_DIR")
    if env:
        path = _resolved.get(env)
        if path is None:
            path = Path(os.path.abspath(Path(env).expanduser()))
            _resolved[env] = path
        return path
    home = _home()
    if sys.platform == "win32":
        base = _absolute_env("LOCALAPPDATA")
        if base is None and home is not None:
            base = home / "AppData" / "Local"
        if base is not None:
            return base / "symgrad" / "Cache"
    elif sys.platform == "darwin":
        if home is not None:
            return home / "Library" / "Caches" / "symgrad"
    else:
        base = _absolute_env("XDG_CACHE_HOME")
        if base is None and home is not None:
            base = home / ".cache"
        if base is not None:
            return base / "symgrad"
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    return Path(tempfile.gettempdir()) / f"symgrad-{uid}"


# -- trust ---------------------------------------------------------------------------------

_POSIX = os.name == "posix"


def make_private_dir(path: Path) -> None:
    """Create ``path`` and any missing parents with mode 0o700 (no error if it exists).

    Directories that already exist are left as they are (see :func:`distrust`).
    """
    missing = []
    p = path
    while not os.path.lexists(p):
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    for p in reversed(missing):
        try:
            os.mkdir(p, 0o700)
        except FileExistsError:
            continue  # created by a racing process; judged by distrust()
        if _POSIX:
            os.chmod(p, 0o700)  # mkdir's mode is masked by the umask; make it exact


def distrust(path: Path, *, follow_symlinks: bool = True) -> str | None:
    """Why ``path`` must not hold the cache, or None when it may.

    Refused: not a directory; (with ``follow_symlinks=False``) a symbolic link; owned by
    a user other than this one (or root); writable by group or others. On Windows only
    the first check applies.
    """
    try:
        st = os.stat(path) if follow_symlinks else os.lstat(path)
    except OSError as exc:
        return f"cannot inspect it ({exc.strerror or exc})"
    if stat.S_ISLNK(st.st_mode):
        return "it is a symbolic link"
    if not stat.S_ISDIR(st.st_mode):
        return "it is not a directory"
    if not _POSIX:
        return None
    uid = os.getuid()
    if st.st_uid not in (uid, 0):
        return f"it is owned by another user (uid {st.st_uid}, you are uid {uid})"
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"it is writable by other users (mode {stat.S_IMODE(st.st_mode):o})"
    return None


# -- deleting ------------------------------------------------------------------------------

_DIR_FD = (
    _POSIX
    and os.unlink in os.supports_dir_fd
    and os.open in os.supports_dir_fd
    and os.scandir in os.supports_fd
)
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def remove_own_files(
    directory: Path, keep: Callable[[str], bool], *, pycache: Callable[[str], bool] | None = None,
    follow_top: bool = True,
) -> int:
    """Delete the regular files in ``directory`` whose names ``keep(name)`` accepts.

    With ``pycache``, also those in the real (not symlinked) ``directory/__pycache__``
    accepted by ``pycache(name)``. Symbolic links are never followed: a link is not a
    regular file and is never deleted, and a symlinked ``__pycache__`` is not entered.
    ``follow_top=False`` refuses ``directory`` itself when it is a link. Returns the
    number of files deleted; errors are ignored (another process may be clearing too).
    """
    if _DIR_FD:
        return _remove_fd(directory, keep, pycache, follow_top)
    return _remove_paths(directory, keep, pycache, follow_top)


def _remove_fd(directory, keep, pycache, follow_top) -> int:
    try:
        top = os.open(directory, _DIR_FLAGS | (0 if follow_top else _NOFOLLOW))
    except OSError:
        return 0
    try:
        removed = _unlink_matching(top, keep)
        if pycache is not None:
            try:
                sub = os.open("__pycache__", _DIR_FLAGS | _NOFOLLOW, dir_fd=top)
            except OSError:  # missing, or a symbolic link (ELOOP), or not a directory
                return removed
            try:
                removed += _unlink_matching(sub, pycache)
            finally:
                os.close(sub)
        return removed
    finally:
        os.close(top)


def _unlink_matching(where: int | Path, keep) -> int:
    """Delete the regular files in a directory (an open fd, or a path) that ``keep`` names."""
    at = {"dir_fd": where} if isinstance(where, int) else {}

    def target(name: str):
        return name if at else os.path.join(where, name)

    try:
        with os.scandir(where) as it:
            names = [e.name for e in it if keep(e.name) and e.is_file(follow_symlinks=False)]
    except OSError:
        return 0
    removed = 0
    for name in names:
        # unlink() on a name that was swapped for a link removes the link, not its target.
        try:
            st = os.stat(target(name), follow_symlinks=False, **at)
            if stat.S_ISREG(st.st_mode) and not _is_reparse_point(st):
                os.unlink(target(name), **at)
                removed += 1
        except OSError:
            pass
    return removed


def _remove_paths(directory: Path, keep, pycache, follow_top) -> int:
    if not follow_top and os.path.islink(directory):
        return 0
    removed = _unlink_matching(directory, keep)
    if pycache is not None:
        sub = Path(directory) / "__pycache__"
        try:
            st = os.lstat(sub)
        except OSError:
            return removed
        if stat.S_ISDIR(st.st_mode) and not _is_reparse_point(st):
            removed += _unlink_matching(sub, pycache)
    return removed


def _is_reparse_point(st: os.stat_result) -> bool:
    attrs = getattr(st, "st_file_attributes", 0)
    return bool(attrs & getattr(stat, "FILE_ATTRIBUTE_REPARSE_POINT", 0))


