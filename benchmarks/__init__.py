"""symgrad's benchmark suite (issue 4).

Run everything (every case in fresh subprocesses; writes ``benchmarks/results/``)::

    python -m benchmarks.run            # full suite (tens of minutes)
    python -m benchmarks.run --quick    # a few cases, under 2 minutes
    python -m benchmarks.run --help

Modules
-------
problems   the three problems P1, P2 (Rosenbrock, n variables), P3; inputs; SymPy forms
hand       hand-written numba ``prange`` kernels (the practical limit), one per problem/op
columns    one adapter per tool ("column"): symgrad, hand, sympy.lambdify, numba(lambdify),
           SymEngine LLVM, symjit, JAX, torch.compile; missing tools are skipped
worker     measures one case of one column in the current process (build, warm start,
           evaluation, per-call overhead, peak memory) -- ``python -m benchmarks.worker``
extras     time to first result incl. imports, one-point call overhead, P2 build times,
           copy bandwidth
run        the orchestrator: subprocesses, interleaving, checks, ``results.md/.json/.png``
report     markdown tables and the bar chart

Everything here is importable (``from benchmarks import columns, worker``), which is
how ``notebooks/04-performance.ipynb`` and ``tests/test_benchmarks.py`` use it.
"""

__all__ = ["problems", "hand", "columns", "worker", "extras", "run", "report"]
