"""``import symgrad`` stays light: no numba until something is evaluated."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow  # subprocesses / notebooks: left out of -m "not slow"


def run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_import_does_not_load_numba_or_sympy():
    out = run("import sys, symgrad; print('numba' in sys.modules, 'sympy' in sys.modules)")
    assert out == "False False"


def test_symbolic_work_does_not_load_numba():
    out = run(
        "import sys, symgrad\n"
        "f = symgrad.compile('x**2*sin(y)')\n"
        "print(f.gradient_exprs, len(f.source) > 0, 'numba' in sys.modules)"
    )
    assert out.endswith("True False")
    assert "2*x*sin(y)" in out


def test_public_api_is_explicit():
    import symgrad

    for name in symgrad.__all__:
        assert getattr(symgrad, name) is not None
    assert isinstance(symgrad.__version__, str)
