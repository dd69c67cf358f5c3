"""The on-disk kernel cache: across processes, under concurrency, and when corrupted."""

from __future__ import annotations

import errno
import gc
import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap
import time
import types
import warnings
from pathlib import Path

import numpy as np
import pytest

import symgrad
from symgrad import _cachedir
from symgrad import kernel as kernel_module
from symgrad.evaluator import Evaluator
from symgrad.parse import parse

pytestmark = pytest.mark.slow  # subprocesses / notebooks: left out of -m "not slow"

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import symgrad
    f = symgrad.compile("x**3*sin(y) + cosh(x - y)", parallel=False)
    g = f.gradient(1.25, -0.5)
    print(json.dumps({"stats": f.cache_stats(), "grad": g.tolist()}))
    """
)


def run_script(cache: str) -> dict:
    env = dict(os.environ, SYMGRAD_CACHE_DIR=cache)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_second_process_loads_from_disk(tmp_path):
    first = run_script(str(tmp_path))
    second = run_script(str(tmp_path))
    assert first["stats"] == {"hits": 0, "misses": 1}
    assert second["stats"] == {"hits": 1, "misses": 0}
    assert first["grad"] == second["grad"]
    expected = [3 * 1.25**2 * np.sin(-0.5) + np.sinh(1.75), 1.25**3 * np.cos(-0.5) - np.sinh(1.75)]
    np.testing.assert_allclose(first["grad"], expected, rtol=1e-14)
    written = {p.name for p in tmp_path.rglob("*") if p.is_file()}
    assert written and all(name.startswith("symgrad_") for name in written)


def test_concurrent_processes_do_not_break_each_other(tmp_path):
    env = dict(os.environ, SYMGRAD_CACHE_DIR=str(tmp_path))
    procs = [
        subprocess.Popen([sys.executable, "-c", SCRIPT], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        results.append(json.loads(out))
    assert len({json.dumps(r["grad"]) for r in results}) == 1
    assert run_script(str(tmp_path))["stats"] == {"hits": 1, "misses": 0}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".symgrad-tmp-")]


@pytest.fixture
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path))
    yield tmp_path
    kernel_module._kernels.clear()


def fresh_gradient(formula="exp(x)*y**2"):
    # A new Evaluator and an empty in-memory kernel table: only the disk cache remains.
    kernel_module._kernels.clear()
    return Evaluator(parse(formula), parallel=False).gradient(0.5, 3.0)


EXPECTED = [np.exp(0.5) * 9.0, np.exp(0.5) * 6.0]


def test_truncated_source_entry_is_rebuilt_with_a_warning(private_cache):
    np.testing.assert_allclose(fresh_gradient(), EXPECTED, rtol=1e-15)
    (entry,) = private_cache.glob("symgrad_*.py")
    entry.write_text(entry.read_text()[:40])
    with pytest.warns(symgrad.SymgradWarning, match="corrupted or truncated"):
        np.testing.assert_allclose(fresh_gradient(), EXPECTED, rtol=1e-15)
    assert "def kernel_point" in entry.read_text()


def test_corrupted_numba_data_is_rebuilt_with_a_warning(private_cache):
    fresh_gradient()
    data = list((private_cache / "__pycache__").glob("*.nbc"))
    assert data
    for path in data:
        path.write_bytes(path.read_bytes()[:30])
    with pytest.warns(symgrad.SymgradWarning, match="could not be loaded"):
        np.testing.assert_allclose(fresh_gradient(), EXPECTED, rtol=1e-15)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(fresh_gradient(), EXPECTED, rtol=1e-15)  # healthy again


def test_garbage_index_is_survived(private_cache):
    fresh_gradient()
    for path in (private_cache / "__pycache__").glob("*.nbi"):
        path.write_bytes(b"\x00garbage")
    with pytest.warns(symgrad.SymgradWarning, match="could not be loaded"):
        np.testing.assert_allclose(fresh_gradient(), EXPECTED, rtol=1e-15)


def test_clear_cache_removes_only_symgrad_files(private_cache):
    fresh_gradient()
    keep = private_cache / "notes.txt"
    keep.write_text("mine")
    assert symgrad.clear_cache() >= 2
    assert keep.exists()
    assert not list(private_cache.glob("symgrad_*"))


def test_unwritable_cache_dir_compiles_in_memory(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(blocker / "sub"))  # cannot be created
    try:
        with pytest.warns(symgrad.SymgradWarning, match="in memory only"):
            np.testing.assert_allclose(fresh_gradient("exp(x)*y**2 + 0*x"), EXPECTED, rtol=1e-15)
    finally:
        kernel_module._kernels.clear()


# -- 1. clear_cache never follows links ------------------------------------------------------

HEX = "0123456789abcdef" * 2
NUMBA_LIKE = [
    f"symgrad_{HEX}.kernel-8.py311.nbi",
    f"symgrad_{HEX}.kernel-8.py311.1.nbc",
    f"symgrad_{HEX}.kernel_point-16.py311.nbi.tmp.0123abcd",
]


def test_clear_cache_never_follows_symlinks(tmp_path, monkeypatch):
    cache, victims = tmp_path / "cache", tmp_path / "victims"
    cache.mkdir(mode=0o700)
    victims.mkdir()
    for name in [*NUMBA_LIKE, f"symgrad_{HEX}.py", "important.txt"]:
        (victims / name).write_text("victim")
    (cache / "__pycache__").symlink_to(victims, target_is_directory=True)
    (cache / f"symgrad_{'f' * 32}.py").symlink_to(victims / f"symgrad_{HEX}.py")
    (cache / f"symgrad_{'e' * 32}.py").mkdir()  # a directory with an entry's name
    (cache / "symgrad_notes.txt").write_text("mine")  # symgrad_ prefix, not our name
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(cache))
    before = sorted(p.name for p in victims.iterdir())

    assert symgrad.clear_cache() == 0
    kernel_module._drop_numba_files(cache, f"symgrad_{HEX}")
    assert sorted(p.name for p in victims.iterdir()) == before
    assert (cache / "symgrad_notes.txt").exists()
    assert (cache / f"symgrad_{'f' * 32}.py").is_symlink()
    # And numba is never handed the symlinked __pycache__: the kernel stays in memory.
    with pytest.warns(symgrad.SymgradWarning, match="symbolic link"):
        k = kernel_module.compile_kernel("def kernel():\n    return 11\n")
    assert k.path is None and k.python() == 11
    assert sorted(p.name for p in victims.iterdir()) == before


def test_clear_cache_removes_symgrad_temp_and_numba_files(private_cache):
    (private_cache / "__pycache__").mkdir(exist_ok=True)
    ours = [private_cache / f"symgrad_{HEX}.py", private_cache / ".symgrad-tmp-abc_12.py"]
    ours += [private_cache / "__pycache__" / name for name in NUMBA_LIKE]
    for p in ours:
        p.write_text("x")
    other = private_cache / "__pycache__" / "mymodule.cpython-311.pyc"
    other.write_text("x")
    assert symgrad.clear_cache() == len(ours)
    assert not any(p.exists() for p in ours) and other.exists()


# -- 2. private directories only -------------------------------------------------------------

TRIVIAL = "def kernel():\n    return {}\n"


def test_cache_directories_are_created_private(tmp_path, monkeypatch):
    cache = tmp_path / "a" / "b" / "cache"
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(cache))
    old = os.umask(0o002)
    try:
        k = kernel_module.compile_kernel(TRIVIAL.format(21))
    finally:
        os.umask(old)
    assert k.path is not None and k.path.parent == cache
    for d in (tmp_path / "a", tmp_path / "a" / "b", cache, cache / "__pycache__"):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700, d


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
@pytest.mark.parametrize("mode, where", [(0o777, "."), (0o775, "."), (0o777, "__pycache__")])
def test_writable_by_others_cache_dir_is_refused(tmp_path, monkeypatch, mode, where):
    cache = tmp_path / "shared"
    (cache / "__pycache__").mkdir(parents=True)
    os.chmod(cache, 0o700)
    os.chmod(cache / "__pycache__", 0o700)
    os.chmod(cache / where, mode)
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(cache))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if mode == 0o775:  # one real kernel: it must still work
            np.testing.assert_allclose(fresh_gradient("x*y + 3"), [3.0, 0.5], rtol=1e-15)
        kernels = [kernel_module.compile_kernel(TRIVIAL.format(k)) for k in range(3)]
    assert [k.python() for k in kernels] == [0, 1, 2]
    assert all(k.path is None for k in kernels)
    messages = [str(w.message) for w in caught if issubclass(w.category, symgrad.SymgradWarning)]
    assert len(messages) == 1 and "writable by other users" in messages[0], messages
    assert sorted(p.name for p in cache.rglob("*")) == ["__pycache__"]  # nothing written
    kernel_module._kernels.clear()


@pytest.mark.skipif(os.name != "posix", reason="POSIX ownership")
def test_cache_dir_owned_by_another_user_is_refused(tmp_path, monkeypatch):
    cache = tmp_path / "theirs"
    cache.mkdir(mode=0o700)
    if os.getuid() == 0:
        os.chown(cache, 4242, -1)
    else:  # pretend to be someone else: the directory is then "another user's"
        real = os.getuid()
        monkeypatch.setattr(os, "getuid", lambda: real + 1)
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(cache))
    with pytest.warns(symgrad.SymgradWarning, match="owned by another user"):
        k = kernel_module.compile_kernel(TRIVIAL.format(31))
    assert k.path is None and k.python() == 31
    assert not list(cache.iterdir())


# -- 3. where the cache is -------------------------------------------------------------------


@pytest.fixture
def clean_env(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in ("SYMGRAD_CACHE_DIR", "XDG_CACHE_HOME", "LOCALAPPDATA"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(_cachedir, "_resolved", {})
    monkeypatch.chdir(tmp_path)
    return home


@pytest.mark.parametrize("value", ["", "rel", "./rel/x"])
def test_empty_or_relative_xdg_cache_home_is_ignored(clean_env, monkeypatch, value):
    monkeypatch.setattr(_cachedir, "sys", types.SimpleNamespace(platform="linux"))
    monkeypatch.setenv("XDG_CACHE_HOME", value)
    assert symgrad.cache_dir() == clean_env / ".cache" / "symgrad"
    monkeypatch.setenv("XDG_CACHE_HOME", str(clean_env / "xdg"))
    assert symgrad.cache_dir() == clean_env / "xdg" / "symgrad"


@pytest.mark.parametrize("value", ["", "rel"])
def test_empty_or_relative_localappdata_is_ignored(clean_env, monkeypatch, value):
    monkeypatch.setattr(_cachedir, "sys", types.SimpleNamespace(platform="win32"))
    monkeypatch.setenv("LOCALAPPDATA", value)
    assert symgrad.cache_dir() == clean_env / "AppData" / "Local" / "symgrad" / "Cache"


def test_symgrad_cache_dir_empty_is_unset_and_relative_is_pinned(clean_env, monkeypatch, tmp_path):
    monkeypatch.setattr(_cachedir, "sys", types.SimpleNamespace(platform="linux"))
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", "")
    assert symgrad.cache_dir() == clean_env / ".cache" / "symgrad"
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", "relcache")
    assert symgrad.cache_dir() == tmp_path / "relcache"
    monkeypatch.chdir(clean_env)  # resolved once: a later chdir does not move the cache
    assert symgrad.cache_dir() == tmp_path / "relcache"
    assert symgrad.cache_dir().is_absolute()


# -- 4. the cache vanishing under a running process ------------------------------------------


def test_cache_dir_removed_before_first_call(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(cache))
    real = kernel_module.compile_kernel

    def compile_then_remove(source):
        k = real(source)
        shutil.rmtree(cache)
        return k

    monkeypatch.setattr(kernel_module, "compile_kernel", compile_then_remove)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(fresh_gradient("x*y + 4"), [3.0, 0.5], rtol=1e-15)
    # Recreated (privately) and cached after all.
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    assert list(cache.glob("symgrad_*.py")) and list(cache.glob("__pycache__/*.nbi"))
    kernel_module._kernels.clear()


CLEARER = textwrap.dedent(
    """
    import os, sys, time
    import symgrad
    stop = sys.argv[1]
    open(stop + ".ready", "w").close()
    end = time.monotonic() + 120
    while time.monotonic() < end and not os.path.exists(stop):
        symgrad.clear_cache()
    """
)


def test_compiling_while_another_process_clears_the_cache(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(cache))
    stop = tmp_path / "stop"
    clearer = subprocess.Popen([sys.executable, "-c", CLEARER, str(stop)],
                               env=dict(os.environ))
    try:
        deadline = time.monotonic() + 120
        while not Path(str(stop) + ".ready").exists() and clearer.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", symgrad.SymgradWarning)  # allowed, not required
            for k in range(10):
                f = Evaluator(parse(f"x*y + {k + 10}"), parallel=False)
                np.testing.assert_allclose(f.gradient(0.5, 3.0), [3.0, 0.5], rtol=1e-15)
                assert f(np.full(300, 2.0), np.full(300, 3.0))[0] == 6.0 + k + 10
    finally:
        stop.touch()
        clearer.wait(timeout=60)
        kernel_module._kernels.clear()
    assert clearer.returncode == 0


# -- 5. a full or failing disk ---------------------------------------------------------------


def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_full_disk_for_numba_files_warns_once_and_compiles_in_memory(private_cache, monkeypatch):
    from numba.core import caching

    monkeypatch.setattr(caching.IndexDataCacheFile, "save", _enospc)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        np.testing.assert_allclose(fresh_gradient("x*y + 6"), [3.0, 0.5], rtol=1e-15)
        np.testing.assert_allclose(fresh_gradient("x*y + 7"), [3.0, 0.5], rtol=1e-15)
    messages = [str(w.message) for w in caught if issubclass(w.category, symgrad.SymgradWarning)]
    assert len(messages) == 1 and "No space left" in messages[0], messages
    assert not list(private_cache.rglob("*.nbi"))


def test_full_disk_for_entries_warns_once(private_cache, monkeypatch):
    monkeypatch.setattr(kernel_module, "_atomic_write", _enospc)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        kernels = [kernel_module.compile_kernel(TRIVIAL.format(40 + k)) for k in range(3)]
    assert [k.python() for k in kernels] == [40, 41, 42]
    assert all(k.path is None for k in kernels)
    assert len([w for w in caught if issubclass(w.category, symgrad.SymgradWarning)]) == 1


REPAIR = textwrap.dedent(
    """
    import warnings
    import numpy as np
    warnings.simplefilter("always")
    import symgrad
    f = symgrad.compile("exp(x)*y**2", parallel=False)
    f.gradient(0.5, 3.0)
    f.gradient(np.full(300, 0.5), np.full(300, 3.0))
    """
)


@pytest.mark.parametrize("damage", ["index", "data"])
def test_repaired_entry_is_silent_in_the_next_process(private_cache, damage):
    fresh_gradient()  # the kernel of one entry (one compile serves points too), cached here
    Evaluator(parse("exp(x)*y**2"), parallel=False).gradient(np.full(300, 0.5), np.full(300, 3.0))
    pycache = private_cache / "__pycache__"
    indexes = sorted(pycache.glob("*.nbi"))
    assert len(indexes) == 1
    if damage == "index":
        indexes[0].write_bytes(b"\x00garbage")
    else:
        for data in pycache.glob("*.nbc"):
            data.write_bytes(data.read_bytes()[:30])
    env = dict(os.environ, SYMGRAD_CACHE_DIR=str(private_cache))

    def run() -> str:
        done = subprocess.run([sys.executable, "-c", REPAIR], env=env, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return done.stderr

    assert run().count("could not be loaded") == 1
    assert "SymgradWarning" not in run()


# -- 6. kernels are released with their evaluators -------------------------------------------


def test_kernels_and_modules_are_released(private_cache, monkeypatch):
    import symgrad.api

    monkeypatch.setattr(symgrad.evaluator, "CACHE_SIZE", 3)
    monkeypatch.setattr(symgrad.evaluator, "_cache", type(symgrad.evaluator._cache)())
    gc.collect()
    kernels_before = len(kernel_module._kernels)
    modules_before = sum(1 for name in sys.modules if name.startswith("symgrad_"))
    for k in range(24):
        # tiered=False: a background compile would keep its kernel alive meanwhile
        f = symgrad.compile(f"x*y + {k + 100}", parallel=False, tiered=False)
        assert f(np.array([2.0]), np.array([3.0]))[0] == 6.0 + k + 100
    del f
    gc.collect()
    modules = sum(1 for name in sys.modules if name.startswith("symgrad_"))
    assert len(kernel_module._kernels) - kernels_before <= 6
    assert modules - modules_before <= 6
    g = symgrad.compile("x*y + 100", parallel=False, tiered=False)  # rebuilt from disk
    assert g(np.array([2.0]), np.array([3.0]))[0] == 106.0
    assert g.gradient(2.0, 3.0).tolist() == [3.0, 2.0]


def test_libm_and_vector_kernels_never_share_an_entry(private_cache):
    """math="vector" (the default) and math="libm" kernels of one request have their
    own sources, kernel keys, cache files and request-cache entries."""
    from symgrad import request_cache

    x = np.linspace(0.1, 1.0, 16)
    vec = symgrad.compile("exp(x)*sin(x) + 7", tiered=False, parallel=False)
    lib = symgrad.compile("exp(x)*sin(x) + 7", tiered=False, parallel=False, math="libm")
    assert vec.options.math == "vector" and lib.options.math == "libm"
    np.testing.assert_allclose(vec.gradient(x), lib.gradient(x), rtol=1e-15)
    sources = {f.kernel_source("gradient") for f in (vec, lib)}
    assert len(sources) == 2
    keys = {kernel_module.kernel_key(s) for s in sources}
    assert len(keys) == 2
    assert {p.stem for p in private_cache.glob("symgrad_*.py")} >= {f"symgrad_{k}" for k in keys}
    items = vec._items(("gradient",), None)
    assert (request_cache.request_key("f", vec.options, items)
            != request_cache.request_key("f", lib.options, items))
