"""Evaluators across processes: pickling (spawn and fork pools) and fork safety.

Forked children must never hang: after threaded calls in the parent, after small
compiled calls, during a background (tiered) compile, and for formulas new to the
child. Every wait here has a timeout, so a regression fails instead of hanging.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import threading
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

import symgrad

FORMULA = "sin(x)*cos(y) + exp(-(x**2 + y**2)/2)"
CHILD_TIMEOUT = 120


def _gradient(f, x, y):
    return f.gradient(x, y)


def _work_in_child(formula: str, n: int) -> list:
    """Small call, large threaded call and a formula never compiled in the parent."""
    f = symgrad.compile(formula, parallel=True)
    x = np.linspace(-1, 1, n)
    big = f.gradient(x, 0.5)
    small = f.gradient(0.25, 0.5)
    new = symgrad.compile("x**3*y - cos(x*y)", parallel=True).gradient(x, 0.5)
    return [big.sum(), small.tolist(), new.sum(), threading.active_count()]


@pytest.fixture(scope="module")
def f():
    return symgrad.compile(FORMULA, parallel=False)


def test_pickle_round_trip_in_process(f):
    again = pickle.loads(pickle.dumps(f))
    assert again is f  # the same request: the cached evaluator
    derived = f.partial("x", "y")
    copy = pickle.loads(pickle.dumps(derived))
    assert float(copy(0.3, 0.4)) == float(derived(0.3, 0.4))
    float32 = pickle.loads(pickle.dumps(f.with_options(dtype="float32")))
    assert float32.dtype == np.float32 and float32.options == f.options.replace(dtype="float32")


def test_evaluator_in_a_spawn_process_pool_returns_the_same_numbers(f):
    x, y = np.linspace(-2, 2, 101), np.linspace(-1, 1, 101)
    expected = f.gradient(x, y)
    with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn")) as pool:
        got = pool.submit(_gradient, f, x, y).result(timeout=CHILD_TIMEOUT)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_fork_after_threaded_and_small_calls_does_not_hang(f):
    g = symgrad.compile(FORMULA, parallel=True)
    x = np.linspace(-1, 1, 400_000)
    expected_big = g.gradient(x, 0.5).sum()  # the thread pool is now running
    g.gradient(0.25, 0.5)  # and the one-point kernel is compiled
    ctx = mp.get_context("fork")
    with ctx.Pool(1) as pool:
        big, small, new, threads = pool.apply_async(
            _work_in_child, (FORMULA, 400_000)
        ).get(timeout=CHILD_TIMEOUT)
    assert big == pytest.approx(expected_big, rel=1e-12)
    assert small == g.gradient(0.25, 0.5).tolist()
    np.testing.assert_allclose(new, symgrad.compile("x**3*y - cos(x*y)").gradient(x, 0.5).sum())


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_fork_during_a_background_compile_does_not_hang():
    tiered = symgrad.compile("tanh(x)*y**3 + sinh(x*y)", tiered=True, parallel=False)
    x = np.linspace(-1, 1, 1000)
    tiered.gradient(x, 0.5)  # NumPy answers; numba compiles in the background now
    ctx = mp.get_context("fork")
    with ctx.Pool(1) as pool:
        result = pool.apply_async(_work_in_child, (FORMULA, 1000)).get(timeout=CHILD_TIMEOUT)
    assert len(result[1]) == 2
    tiered._request(("gradient",)).compiling.result(timeout=CHILD_TIMEOUT)


def test_thread_pools_do_not_pile_up(monkeypatch, f):
    g = symgrad.compile(FORMULA, parallel=True)
    x = np.linspace(-1, 1, 200_000)
    before = threading.active_count()
    for threads in range(2, 9):
        monkeypatch.setenv("SYMGRAD_NUM_THREADS", str(threads))
        g.gradient(x, 0.5)
    # one pool, grown to the largest size asked: at most 7 workers, not 2+3+...+8
    assert threading.active_count() - before <= 8
