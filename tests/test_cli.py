"""The symgrad command, run as a real subprocess: output, formats and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest


def run(*args: str, encoding: str = "utf-8", env_extra: dict | None = None):
    env = dict(os.environ)  # inherits SYMGRAD_CACHE_DIR from conftest
    env["PYTHONIOENCODING"] = encoding
    env.update(env_extra or {})
    done = subprocess.run(
        [sys.executable, "-m", "symgrad", *args],
        capture_output=True,
        timeout=180,
        env=env,
    )
    out = done.stdout.decode(encoding.split(":")[0], errors="strict")
    err = done.stderr.decode("utf-8", errors="replace")
    return done.returncode, out, err


# --------------------------------------------------------------------------- printing


def test_grad_pretty_unicode():
    rc, out, err = run("grad", "x**2*sin(y)")
    assert rc == 0, err
    assert "∂f/∂x = 2⋅x⋅sin(y)" in out
    assert "∂f/∂y = x" in out and "cos(y)" in out


def test_ascii_fallback_instead_of_crash():
    rc, out, err = run("hessian", "sqrt(x)/y", env_extra={"LANG": "C", "LC_ALL": "C"},
                       encoding="ascii")
    assert rc == 0, err
    assert "d2f/dxdy = " in out and out.isascii()
    assert "/ x" in out  # SymPy's ASCII square root


def test_hessian_latex():
    rc, out, err = run("hessian", "x**2*sin(y)", "--format", "latex")
    assert rc == 0, err
    assert r"\frac{\partial^{2} f}{\partial x \partial y} = 2 x \cos{\left(y \right)}" in out
    assert r"\frac{\partial^{2} f}{\partial x^{2}} = 2 \sin{\left(y \right)}" in out


def test_jacobian_plain_with_vars():
    rc, out, err = run("jacobian", "x*y", "sin(x)+y", "--vars", "x,y", "--format", "plain")
    assert rc == 0, err
    assert out.splitlines() == [
        "df0/dx = y",
        "df0/dy = x",
        "df1/dx = cos(x)",
        "df1/dy = 1",
    ]


def test_python_format_is_pasteable():
    rc, out, err = run("grad", "a*x**2", "--vars", "x", "--params", "a", "--format", "python")
    assert rc == 0, err
    assert "def gradient(x, a):" in out and "import numpy" in out
    namespace: dict = {}
    exec(out, namespace)  # noqa: S102 (our own generated code)
    g = namespace["gradient"](np.array([1.0, 2.0]), 3.0)
    np.testing.assert_allclose(g, [[6.0], [12.0]])

    rc, out, err = run("hessian", "x**3*y + cbrt(x)*y**2", "--format", "python", "--cse")
    assert rc == 0, err
    namespace = {}
    exec(out, namespace)  # noqa: S102
    h = namespace["hessian"](1.0, 2.0)
    assert h.shape == (2, 2)
    expected = np.array([[6 * 2 - 2 / 9 * 4, 3 + 2 * 2 / 3], [3 + 2 * 2 / 3, 2]])
    np.testing.assert_allclose(h, expected)


def test_cse_shows_shared_subexpressions():
    rc, out, err = run("grad", "exp(-(x**2+y**2))*cos(x*y)", "--cse", "--format", "plain")
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("t0 = ")
    assert any(line.startswith("df/dx = ") for line in lines)
    assert "" in lines  # a blank line between temporaries and outputs


def test_json_symbolic():
    rc, out, err = run("hessian", "x**2*sin(y)", "--json")
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["variables"] == ["x", "y"]
    assert doc["hessian"] == [["2*sin(y)", "2*x*cos(y)"], ["2*x*cos(y)", "-x**2*sin(y)"]]


def test_value_command():
    rc, out, err = run("value", "x**2*sin(y)", "--format", "plain")
    assert rc == 0, err
    assert out.strip() == "f = x**2*sin(y)"


# ------------------------------------------------------------------------- evaluating


def test_grad_at_point_compiled():
    rc, out, err = run("grad", "a*x**2*sin(y)", "--params", "a", "--at", "x=1,y=2",
                       "--param", "a=1", "--format", "plain")
    assert rc == 0, err
    assert out.splitlines() == [
        "at x=1, y=2, a=1:",
        f"  df/dx = {float(2 * np.sin(2.0))!r}",
        f"  df/dy = {float(np.cos(2.0))!r}",
    ]
    # the same kernel again: a disk-cache hit in the child process
    rc, out, err = run("grad", "a*x**2*sin(y)", "--params", "a", "--at", "x=1,y=pi/2",
                       "--param", "a=3", "--at", "x=2,y=0", "--json")
    assert rc == 0, err
    doc = json.loads(out)
    assert [p["point"] for p in doc["at"]] == [{"x": 1.0, "y": np.pi / 2}, {"x": 2.0, "y": 0.0}]
    np.testing.assert_allclose(doc["at"][0]["gradient"], [6.0, 0.0], atol=1e-15)
    np.testing.assert_allclose(doc["at"][1]["gradient"], [0.0, 12.0])


# --------------------------------------------------------------------------- checking


def test_check_passes_exit_0():
    rc, out, err = run("check", "sin(x)*cos(y)", "--domain", "x=-3:3,y=-3:3", "--points", "41",
                       "--derivatives", "gradient")
    assert rc == 0, err
    assert "PASSED" in out and "d/dy" in out and "2.00" in out
    # pointwise, same kernel (value and gradient)
    rc, out, err = run("check", "sin(x)*cos(y)", "--at", "x=0.5,y=1", "--at", "x=1,y=2",
                       "--derivatives", "gradient")
    assert rc == 0, err
    assert "2 points" in out and "PASSED" in out


def test_check_fails_exit_1():
    # |x| has a kink: the Hessian (0) is not the derivative of sign(x) at x = 0.
    rc, out, err = run("check", "abs(x) + y", "--domain=-1:1", "--points", "21", "--json")
    assert rc == 1, err
    doc = json.loads(out)
    assert doc["ok"] is False
    bad = [c for c in doc["components"] if not c["ok"]]
    assert bad[0]["component"] == "d2/dx2" and bad[0]["worst"]["x"] == 0.0


# ----------------------------------------------------------------------------- source


def test_source_and_no_numba_on_printing_paths():
    rc, out, err = run("source", "sin(x)*cos(y)", "--hessian")
    assert rc == 0, err
    assert "def kernel(" in out and "hessian[2, 2]" in out
    code = (
        "import sys\nfrom symgrad.cli import main\n"
        "main(['grad', 'x*y']); main(['hessian', 'x*y', '--format', 'python'])\n"
        "main(['source', 'x*y', '--hessian']); main(['grad', 'x*y', '--cse', '--json'])\n"
        "print('numba' in sys.modules, 'symgrad.kernel' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONIOENCODING": "utf-8"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("False False")


# ----------------------------------------------------------------------- user errors


def test_user_errors_exit_2_without_traceback():
    rc, out, err = run("grad", "x*y", "--at", "z=1")
    assert rc == 2
    assert err.startswith("symgrad: error: --at: 'z' is not a variable or parameter")
    assert "Traceback" not in err


def test_parse_error_shows_caret():
    rc, out, err = run("grad", "sin(x) + ^y")
    assert rc == 2
    lines = err.splitlines()
    assert lines[0].startswith("symgrad: error:")
    assert any(line.strip() == "^" for line in lines)
    assert "sin(x) + ^y" in err
    assert "Traceback" not in err


def test_version_and_help():
    from symgrad import __version__

    rc, out, err = run("--version")
    assert rc == 0 and out.strip() == f"symgrad {__version__}"
    rc, out, err = run("check", "--help")
    assert rc == 0 and "examples:" in out and "--domain" in out


# ------------------------------------------------- in-process (same main, faster)


@pytest.mark.parametrize(
    "args, message",
    [
        (("grad", "x**2 +* y"), "invalid syntax"),
        (("grad", "x*y", "--at", "x1"), "expected NAME=VALUE"),
        (("grad", "x*y", "--at", "x=1"), "no value for variable 'y'"),
        (("grad", "x*y", "--at", "x=1,y=foo"), "is not a number"),
        (("grad", "x*y", "--at", "x=1,y=2,x=3"), "given twice"),
        (("grad", "a*x", "--params", "a", "--at", "x=1"), "no value for parameter 'a'"),
        (("grad", "a*x", "--params", "a", "--param", "b=1"), "'b' is not a parameter"),
        (("check", "x*y", "--domain", "x=1,y=0:1"), "expected LO:HI"),
        (("check", "x*y", "--domain", "x=1:0,y=0:1"), "lo < hi"),
        (("check", "x*y", "--domain", "x=0:1"), "no range for variable 'y'"),
        (("check", "x*y"), "check needs --domain"),
        (("check", "x*y", "--domain=0:1", "--points", "3"), "points must be"),
        (("check", "x*y", "--domain=0:1", "--derivatives", "bogus"), "unknown derivative"),
        (("grad", "x*y", "--vars", "x,1y"), "1y"),
        (("source", "x*y", "sin(x)", "--gradient"), "--jacobian"),
        (("frobnicate", "x"), "invalid choice"),
        (("grad",), "the following arguments are required"),
    ],
)
def test_user_errors_in_process(capsys, args, message):
    from symgrad.cli import main

    assert main(list(args)) == 2
    err = capsys.readouterr().err
    assert "symgrad: error:" in err
    assert message in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "command", ["grad", "gradient", "hessian", "jacobian", "value", "check", "source"]
)
def test_every_command_has_help_with_example(capsys, command):
    from symgrad.cli import main

    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert "examples:" in out and "symgrad " in out


def test_no_command_prints_help(capsys):
    from symgrad.cli import main

    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().err


def test_python_format_renames_keywords():
    rc, out, err = run("grad", "lambda*x**2", "--format", "python")
    assert rc == 0, err
    namespace: dict = {}
    exec(out, namespace)  # noqa: S102 (our own generated code)
    np.testing.assert_allclose(namespace["gradient"](2.0, 3.0), [9.0, 12.0])
