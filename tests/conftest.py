"""Test-wide setup: a private kernel cache per test run, shared compiled evaluators."""

from __future__ import annotations

import os
import shutil
import tempfile

# Point the kernel cache at a fresh directory before symgrad is imported anywhere, so
# tests never read or write the user's cache and each run starts cold. Subprocesses
# started by tests inherit it (that is how the cross-process cache test works).
_CACHE = tempfile.mkdtemp(prefix="symgrad-test-cache-")
os.environ["SYMGRAD_CACHE_DIR"] = _CACHE


def pytest_unconfigure(config):
    shutil.rmtree(_CACHE, ignore_errors=True)
