"""Threads: how many, when they pay off, the shared pool, and fork safety.

A backend's kernel runs over ``[start, stop)`` and releases the GIL, so an array call
is split into chunks that the calling thread and the pool's threads take from one
shared iterator (a thread slowed by another process on its core does not hold up the
others for long).

Policy (``parallel="auto"``): a call uses threads when its estimated work, points x
:func:`cost_per_point` of the program, is at least :data:`PARALLEL_WORK_NS`; waking
threads costs tens of microseconds, more than small calls take.

Fork safety: a child forked while the pool exists would inherit a pool whose threads
do not exist in it, and locks that another thread held. ``os.register_at_fork`` resets
the pool, the background-compile executor and their locks in the child; before the
fork, numba's compiler lock is taken (and released on both sides after), so a child
never inherits it locked by a compile running in another thread of the parent.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

__all__ = [
    "PARALLEL_WORK_NS",
    "default_threads",
    "cost_per_point",
    "use_threads",
    "run_chunked",
    "background",
]

#: With ``parallel="auto"``, a call runs on several threads when its estimated work
#: (points x estimated nanoseconds per point) is at least this many nanoseconds.
PARALLEL_WORK_NS = 2_000_000

# The first chunk runs alone in the calling thread: it compiles (or loads) the kernel
# for these argument types before any other thread calls it.
FIRST_CHUNK = 256
# Smallest chunk handed to a thread: waking a thread costs tens of microseconds.
MIN_CHUNK = 16384

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_compiler: ThreadPoolExecutor | None = None


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


def cost_per_point(program) -> float:
    """Rough nanoseconds per point of a program: ~20 per function call, ~1 per operation.

    Counted on the ``Program`` (its CSE'd expressions), not on generated text. Only
    used to decide when threads pay off; it need not be accurate.
    """
    import sympy

    calls = ops = 0
    exprs = [e for _, e in program.assignments] + [e for _, e in program.results]
    for expr in exprs:
        for node in sympy.preorder_traversal(expr):
            if isinstance(node, sympy.Function):
                calls += 1
            elif isinstance(node, (sympy.Add, sympy.Mul)):
                ops += len(node.args) - 1
            elif isinstance(node, sympy.Pow):
                ops += 2
    stores = sum(len(rows) for rows, _ in program.results)
    return 20.0 * calls + 1.0 * (ops + stores)


def use_threads(parallel: bool | str, npoints: int, cost: float) -> int:
    """How many threads a call of ``npoints`` points at ``cost`` ns each should use."""
    if parallel is True or (parallel == "auto" and npoints * cost >= PARALLEL_WORK_NS):
        return default_threads()
    return 1


def _chunks(start: int, stop: int, count: int) -> list[tuple[int, int]]:
    count = max(1, min(count, (stop - start) // MIN_CHUNK or 1))
    edges = [start + (stop - start) * k // count for k in range(count + 1)]
    return [(edges[k], edges[k + 1]) for k in range(count)]


def _get_pool(workers: int) -> ThreadPoolExecutor:
    # One pool for the process, grown when more threads are asked for (a pool per
    # thread count would leave every old pool's threads alive).
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size < workers:
            old = _pool
            _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="symgrad")
            _pool_size = workers
            if old is not None:
                old.shutdown(wait=False)
        return _pool


def run_chunked(run: Callable[[int, int], Any], n: int, threads: int) -> None:
    """Call ``run(start, stop)`` over ``[0, n)``: the first chunk alone, then in parallel.

    Parameters
    ----------
    run : callable
        Runs the kernel over one chunk; must release the GIL to gain from threads.
    n : int
        Number of points.
    threads : int
        Threads to use, the calling one included (1: all in the calling thread).
    """
    first = min(n, FIRST_CHUNK)
    run(0, first)
    if n <= first:
        return
    if threads <= 1:
        run(first, n)
        return
    # More chunks than threads, taken from one shared iterator; next() on a list
    # iterator is atomic under the GIL.
    pending = iter(_chunks(first, n, threads * 2))

    def work() -> None:
        for lo, hi in pending:
            run(lo, hi)

    pool = _get_pool(threads - 1)
    futures: Sequence[Future] = [pool.submit(work) for _ in range(threads - 1)]
    work()
    for fut in futures:
        fut.result()


def background(work: Callable[[], Any]) -> Future:
    """Run ``work`` on the one background-compile thread (tiered evaluation)."""
    global _compiler
    with _lock:
        if _compiler is None:
            _compiler = ThreadPoolExecutor(max_workers=1, thread_name_prefix="symgrad-compile")
        return _compiler.submit(work)


# ------------------------------------------------------------------------ fork safety

_numba_lock = None


def _before_fork() -> None:
    global _numba_lock
    import sys

    # Only if numba is loaded: never import it here.
    compiler_lock = sys.modules.get("numba.core.compiler_lock")
    _numba_lock = getattr(compiler_lock, "global_compiler_lock", None)
    if _numba_lock is not None:
        _numba_lock.acquire()
    _lock.acquire()


def _after_fork_parent() -> None:
    _lock.release()
    if _numba_lock is not None:
        _numba_lock.release()


def _after_fork_child() -> None:
    global _lock, _pool, _pool_size, _compiler
    # The parent's threads do not exist here: forget their executors (never join
    # them) and start with fresh locks.
    _lock = threading.Lock()
    _pool, _pool_size, _compiler = None, 0, None
    if _numba_lock is not None:
        _numba_lock.release()
    for hook in list(_child_hooks):
        hook()


_child_hooks: list[Callable[[], None]] = []


def at_fork_child(hook: Callable[[], None]) -> None:
    """Register ``hook`` to run in a forked child (to reset another module's locks)."""
    _child_hooks.append(hook)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_before_fork, after_in_parent=_after_fork_parent, after_in_child=_after_fork_child
    )
