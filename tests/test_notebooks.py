"""Every notebook in notebooks/ runs top to bottom in a fresh kernel.

The kernel is this interpreter (``sys.executable``), whatever kernel specs the user has
installed, so the notebooks test the symgrad under test. A cell that raises fails the
test. Notebooks run with cwd = notebooks/, the non-interactive matplotlib backend, and
the per-run kernel cache that conftest.py puts in the environment.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # subprocesses / notebooks: left out of -m "not slow"

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
CELL_TIMEOUT = 300  # seconds per cell: generous for cold numba compiles on slow CI


def test_notebooks_exist():
    stems = {path.stem for path in NOTEBOOKS}
    assert {"01-quickstart", "02-validation", "03-optimization"} <= stems


@pytest.fixture(scope="module")
def kernel_dirs(tmp_path_factory):
    """A kernel spec named python3 that starts *this* interpreter."""
    from ipykernel.kernelspec import write_kernel_spec

    root = tmp_path_factory.mktemp("kernels")
    write_kernel_spec(root / "python3")  # argv: [sys.executable, -m, ipykernel_launcher, ...]
    return [str(root)]


def _client(nb, kernel_dirs):
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    ksm = KernelSpecManager(kernel_dirs=kernel_dirs)
    assert ksm.get_kernel_spec("python3").argv[0] == sys.executable
    km = KernelManager(kernel_name="python3", kernel_spec_manager=ksm)
    client = nbclient.NotebookClient(
        nb,
        km=km,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
    )
    return client, km


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, kernel_dirs, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")  # inherited by the kernel
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    client, km = _client(nb, kernel_dirs)
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as exc:
        pytest.fail(f"{path.name}: a cell failed:\n{exc}", pytrace=False)
    finally:
        if km.has_kernel:  # we own the kernel manager, so nbclient leaves it to us
            km.shutdown_kernel(now=True)
    elapsed = time.perf_counter() - start
    print(f"{path.name}: executed in {elapsed:.1f} s")
    errors = [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]
    assert not errors


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_stored_without_outputs(path):
    """Outputs make diffs unreadable; clear them before committing
    (``jupyter nbconvert --clear-output --inplace notebooks/*.ipynb``)."""
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [
        i
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]
    assert not dirty, f"{path.name}: cells {dirty} have outputs or execution counts"
