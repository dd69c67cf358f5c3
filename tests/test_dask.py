"""dask arrays in, dask arrays out: lazy, chunked, bit for bit the NumPy results.

The LocalCluster test (slow) runs real worker processes: results equal the NumPy
ones bit for bit, no task holds more than its block, and each worker compiles (or
loads) each kernel once, not once per task.
"""

from __future__ import annotations

import pickle
import subprocess
import sys

import numpy as np
import pytest

import symgrad
from symgrad.arrays import dask as sg_dask

pytestmark = pytest.mark.slow  # left out of -m "not slow" (the fast core)

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")

FORMULA = "x**2*y + sin(x*y)*z"
FIELD = ["y*z", "x*z**2", "x*y + sin(z)"]


def _refuse(*args, **kwargs):
    raise AssertionError("a task was computed while building the graph")


@pytest.fixture
def no_compute():
    """Any compute while the graph is built fails the test."""
    with dask.config.set(scheduler=_refuse):
        yield


@pytest.fixture(scope="module")
def f():
    return symgrad.compile(FORMULA)


@pytest.fixture(scope="module")
def field():
    return symgrad.compile(FIELD, variables="x y z")


@pytest.fixture(scope="module")
def grid():
    """A chunked 3-D grid (dask) and the same numbers as NumPy arrays."""
    xs = [np.linspace(-1.0, 1.0, k) for k in (6, 5, 4)]
    lazy = da.meshgrid(*(da.from_array(c, chunks=3) for c in xs), indexing="ij")
    eager = [a.compute() for a in lazy]
    return lazy, eager


CASES = [
    # (evaluator fixture, output, keyword arguments, per-point shape)
    ("f", "value", {}, ()),
    ("f", "gradient", {}, (3,)),
    ("f", "hessian", {}, (3, 3)),
    ("f", "sparse_hessian", {}, None),
    ("f", "hvp", {"direction": np.array([1.0, -2.0, 0.5])}, (3,)),
    ("f", "derivative", {"order": 3}, (3, 3, 3)),
    ("f", "laplacian", {}, ()),
    ("field", "value", {}, (3,)),
    ("field", "jacobian", {}, (3, 3)),
    ("field", "hessian", {}, (3, 3, 3)),
    ("field", "divergence", {}, ()),
    ("field", "curl", {}, (3,)),
]


@pytest.mark.parametrize("which, kind, extra, point", CASES,
                         ids=[f"{w}-{k}" for w, k, _, _ in CASES])
def test_every_output_kind_is_lazy_and_bit_for_bit(request, grid, which, kind, extra, point):
    ev = request.getfixturevalue(which)
    lazy, eager = grid
    with dask.config.set(scheduler=_refuse):
        got = ev.evaluate(*lazy, outputs=(kind,), **extra)[0]
    expected = ev.evaluate(*eager, outputs=(kind,), **extra)[0]
    if kind == "sparse_hessian":
        np.testing.assert_array_equal(got.rows, expected.rows)  # known without computing
        np.testing.assert_array_equal(got.cols, expected.cols)
        got, expected = got.values, expected.values
        point = expected.shape[3:]
    assert isinstance(got, da.Array)
    assert got.shape == (6, 5, 4) + point and got.dtype == np.float64
    assert type(got._meta) is np.ndarray and got._meta.dtype == np.float64
    assert got.chunks[:3] == lazy[0].chunks  # the inputs' chunks
    assert all(len(c) == 1 for c in got.chunks[3:])  # derivative axes: one chunk each
    np.testing.assert_array_equal(got.compute(scheduler="sync"), expected)


def test_public_methods_return_dask_arrays(f, field, grid, no_compute):
    lazy, _ = grid
    for result in (f(*lazy), f.gradient(*lazy), f.hessian(*lazy), f.laplacian(*lazy),
                   f.hvp(*lazy, direction=[1.0, 0.0, 0.0]), f.derivative(*lazy, order=2),
                   f.sparse_hessian(*lazy).values, field.jacobian(*lazy),
                   field.divergence(*lazy), field.curl(*lazy),
                   *f.value_and_gradient(*lazy), *f.value_gradient_hessian(*lazy)):
        assert isinstance(result, da.Array)


def test_fused_request_runs_the_kernel_once_per_block(f, grid, monkeypatch):
    lazy, eager = grid
    calls = []
    original = sg_dask._Block.__call__

    def counting(self, *blocks):
        calls.append(blocks[0].shape)
        return original(self, *blocks)

    monkeypatch.setattr(sg_dask._Block, "__call__", counting)
    with dask.config.set(scheduler=_refuse):
        v, g, h = f.evaluate(*lazy, outputs=("value", "gradient", "hessian"))
    # one symgrad layer (the kernel's tasks) feeds all three outputs
    shared = set(v.dask.layers) & set(g.dask.layers) & set(h.dask.layers)
    assert len([name for name in shared if name.startswith("symgrad[")]) == 1
    v, g, h = dask.compute(v, g, h, scheduler="sync")
    assert len(calls) == lazy[0].npartitions  # 8 blocks: 8 kernel runs for 3 outputs
    for got, expected in zip((v, g, h), f.evaluate(*eager, outputs=("value", "gradient",
                                                                    "hessian"))):
        np.testing.assert_array_equal(got, expected)


def test_mixed_dask_numpy_and_scalars(no_compute):
    ev = symgrad.compile("a*x**2 + b*y", variables="x y", params="a b")
    x = da.from_array(np.linspace(-1, 1, 12).reshape(3, 4), chunks=(2, 2))
    y = np.linspace(0, 1, 4)  # NumPy, broadcasts along the last axis
    b = da.from_array(np.arange(12.0).reshape(3, 4), chunks=(3, 1))  # a dask parameter
    got = ev.gradient(x, y, a=2.0, b=b)
    assert isinstance(got, da.Array) and got.shape == (3, 4, 2)
    with dask.config.set(scheduler="sync"):
        expected = ev.gradient(x.compute(), y, a=2.0, b=b.compute())
        np.testing.assert_array_equal(got.compute(), expected)
        # a dask direction and a float32 evaluator
        d = da.from_array(np.array([1.0, 2.0]))
        hv = ev.hvp(x, y, a=2.0, b=b, direction=d)
        np.testing.assert_array_equal(
            hv.compute(), ev.hvp(x.compute(), y, a=2.0, b=b.compute(), direction=[1.0, 2.0])
        )
    f32 = ev.with_options(dtype="float32").gradient(x, y, a=2.0, b=b)
    assert f32.dtype == np.float32 and f32._meta.dtype == np.float32


def test_points_layout_and_integer_inputs(f, no_compute):
    points = da.from_array(np.arange(30).reshape(10, 3) / 7.0, chunks=(4, 3))
    got = f.gradient(points)
    assert got.shape == (10, 3) and got.chunks == ((4, 4, 2), (3,))
    ints = f.gradient(da.arange(6, chunks=2), 1, 2)
    assert ints.dtype == np.float64
    with dask.config.set(scheduler="sync"):
        np.testing.assert_array_equal(got.compute(), f.gradient(points.compute()))
        np.testing.assert_array_equal(ints.compute(), f.gradient(np.arange(6), 1, 2))


def test_errors(f):
    x = da.ones((4,), chunks=2)
    with pytest.raises(symgrad.InputError, match="out= cannot be used with dask"):
        f.gradient(x, x, x, out=np.empty((4, 3)))
    with pytest.raises(symgrad.InputError, match="out= cannot be used"):
        f.evaluate(x, x, x, outputs=("value", "gradient"), out=(None, None))
    with pytest.raises(symgrad.InputError, match="complex"):
        f.gradient(x + 1j, x, x)
    with pytest.raises(symgrad.InputError, match="do not broadcast"):
        f.gradient(x, da.ones((3,), chunks=3), 1.0)
    with pytest.raises(symgrad.InputError, match="direction must have shape"):
        f.hvp(x, x, x, direction=da.ones((2,)))


def test_evaluator_in_the_graph_pickles_by_request(f, grid):
    lazy, _ = grid
    g = f.gradient(*lazy)
    layer = next(name for name in g.dask.layers if name.startswith("symgrad["))
    assert "gradient" in layer
    func = sg_dask._Block(f, f._items(("gradient",), None), 3, (0, 1, 2), {})
    again = pickle.loads(pickle.dumps(func))
    assert again.ev is f  # this process's cached evaluator, with its compiled kernel


def test_import_symgrad_never_imports_dask_or_xarray():
    code = (
        "import sys, numpy as np, symgrad\n"
        "f = symgrad.compile('x**2*y', backend='numpy')\n"
        "f.gradient(np.ones(3), 2.0); f.evaluate(np.ones(2), 1.0, outputs=('value',))\n"
        "bad = [m for m in ('dask', 'xarray', 'distributed') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# --------------------------------------------------------------- dask.distributed


def _worker_state(formula: str) -> dict:
    import os
    import pickle

    import symgrad

    ev = symgrad.compile(formula)
    per_request = {
        ",".join(name for name, _ in items): compiled.kernel.cache_stats()
        for items, compiled in ev._requests.items() if compiled.kernel is not None
    }
    return {
        "pid": os.getpid(),
        "requests": per_request,
        "same": pickle.loads(pickle.dumps(ev)) is ev,
    }


@pytest.mark.slow
def test_local_cluster_bit_for_bit_bounded_tasks_one_compile_per_worker(f):
    distributed = pytest.importorskip("distributed")
    import logging

    x, y, z = da.meshgrid(*(da.linspace(-2.0, 2.0, 40, chunks=10) for _ in range(3)),
                          indexing="ij")
    xs, ys, zs = (a.compute(scheduler="sync") for a in (x, y, z))
    grad, hess = f.gradient(x, y, z), f.hessian(x, y, z)
    # no task materializes the grid: every block is one input chunk (10^3 points)
    assert max(map(max, grad.chunks[:3])) == 10 and grad.chunks[3] == (3,)
    assert hess.npartitions == x.npartitions == 64
    for arr in (grad, hess):
        for name, layer in arr.dask.layers.items():
            if name.startswith("symgrad["):
                assert len(layer) == x.npartitions  # one task per block
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=None, silence_logs=logging.ERROR) as cluster, \
            distributed.Client(cluster) as client:
        g, h = client.compute([grad, hess], sync=True)
        states = list(client.run(_worker_state, FORMULA).values())
    np.testing.assert_array_equal(g, f.gradient(xs, ys, zs))
    np.testing.assert_array_equal(h, f.hessian(xs, ys, zs))
    assert len({s["pid"] for s in states}) == 2
    assert all(s["same"] for s in states)  # unpickling returns the worker's evaluator
    used = 0
    for s in states:
        for stats in s["requests"].values():
            # a worker ran many tasks of each request but compiled or loaded it once
            assert stats["hits"] + stats["misses"] <= 1, s
            used += stats["hits"] + stats["misses"]
    assert used >= 2  # the evaluators inspected are the ones that ran the tasks
