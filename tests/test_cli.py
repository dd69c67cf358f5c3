"""The symgrad command, run as a real subprocess: output, formats and exit codes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

pytestmark = pytest.mark.slow  # subprocesses / notebooks: left out of -m "not slow"


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
    assert "d^2f/dxdy = " in out and out.isascii()  # labels: symgrad.outputs
    assert "/ x" in out  # SymPy's ASCII square root


def test_hessian_latex():
    rc, out, err = run("hessian", "x**2*sin(y)", "--format", "latex")
    assert rc == 0, err
    assert r"\frac{\partial ^{2} f}{\partial x \partial y} = 2 x \cos{\left(y \right)}" in out
    assert r"\frac{\partial ^{2} f}{\partial x^{2}} = 2 \sin{\left(y \right)}" in out


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
        # (symgrad.kernel may load: the request cache vets its directory with it)
        "print('numba' in sys.modules, 'numba' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONIOENCODING": "utf-8"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("False False")


def test_printing_imports_neither_numpy_nor_package_metadata(tmp_path):
    """A cold ``symgrad grad`` (empty cache) imports SymPy and nothing it does not need:
    not NumPy, not numba, not ``importlib.metadata`` (the text cache's key has symgrad's
    and SymPy's versions only); a warm one not even SymPy."""
    code = (
        "import sys\nfrom symgrad.cli import main\n"
        "main(['grad', 'x*y'])\n"
        "print(sorted(m for m in ('numpy', 'numba', 'importlib.metadata', 'sympy')"
        " if m in sys.modules))\n"
    )
    env = {**os.environ, "PYTHONIOENCODING": "utf-8", "SYMGRAD_CACHE_DIR": str(tmp_path)}
    seen = []
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=120, env=env)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("∂f/∂x = y\n∂f/∂y = x\n")
        seen.append(done.stdout.strip().splitlines()[-1])
    assert seen == ["['sympy']", "[]"]


# ----------------------------------------------------------------------- user errors


def test_user_errors_exit_2_without_traceback():
    rc, out, err = run("grad", "x*y", "--at", "z=1")
    assert rc == 2
    assert err.startswith("symgrad: error: --at: unknown name 'z': this formula's variables "
                          "are x and y")
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
        (("grad", "a*x", "--params", "a", "--param", "b=1"), "--param: unknown parameter 'b'"),
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
    "command", ["grad", "gradient", "hessian", "jacobian", "value", "laplacian", "divergence",
                "curl", "check", "source"]
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


# ------------------------------------------------- commands from the output registry


def test_new_commands_print_from_the_registry(capsys):
    from symgrad.cli import main

    assert main(["laplacian", "x**2*y + y**3", "--format", "plain"]) == 0
    assert capsys.readouterr().out == "laplacian(f) = 8*y\n"
    assert main(["divergence", "x*y", "y**2", "--format", "plain"]) == 0
    assert capsys.readouterr().out == "div(F) = 3*y\n"
    assert main(["curl", "y*z", "x*y", "x**2", "--format", "plain"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "curl(F)_x = 0", "curl(F)_y = -2*x + y", "curl(F)_z = y - z"]
    assert main(["curl", "--vars", "x,y", "--", "-y", "x"]) == 0  # 2-D: the scalar curl
    assert capsys.readouterr().out == "(∇×F)_z = 2\n"


def _exec_function(code: str, name: str):
    namespace: dict = {}
    exec(code, namespace)  # noqa: S102 (our own generated code)
    return namespace[name]


# command, formulas, function name, point, expected per-point result
MATRIX = [
    ("value", ["x**2*y"], "value", (2.0, 3.0), 12.0),
    ("value", ["x*y", "x+y"], "value", (2.0, 3.0), [6.0, 5.0]),
    ("grad", ["x**2*y"], "gradient", (2.0, 3.0), [12.0, 4.0]),
    ("jacobian", ["x*y", "sin(x)+y"], "jacobian", (0.0, 3.0), [[3.0, 0.0], [1.0, 1.0]]),
    ("hessian", ["x**2*y"], "hessian", (2.0, 3.0), [[6.0, 4.0], [4.0, 0.0]]),
    ("hessian", ["x*y", "x**2"], "hessian", (2.0, 3.0),
     [[[0.0, 1.0], [1.0, 0.0]], [[2.0, 0.0], [0.0, 0.0]]]),
    ("laplacian", ["x**2*y + y**3"], "laplacian", (2.0, 3.0), 6.0 + 18.0),
    ("divergence", ["x*y", "y**2"], "divergence", (2.0, 3.0), 9.0),
    ("curl", ["x*y", "x**2"], "curl", (2.0, 3.0), 2.0),
    ("curl", ["y*z", "x*y", "x**2"], "curl", (2.0, 3.0, 5.0), [0.0, -1.0, -2.0]),
]


@pytest.mark.parametrize("command, formulas, name, point, expected", MATRIX)
def test_every_command_in_every_format(capsys, command, formulas, name, point, expected):
    from symgrad.cli import main

    for fmt in ("pretty", "plain", "latex"):
        for extra in ([], ["--cse"], ["--json"]):
            assert main([command, *formulas, "--format", fmt, *extra]) == 0, (fmt, extra)
            out = capsys.readouterr().out
            assert out.strip()
            if "--json" in extra:
                assert name in json.loads(out)
    for extra in ([], ["--cse"]):
        assert main([command, *formulas, "--format", "python", *extra]) == 0
        fn = _exec_function(capsys.readouterr().out, name)
        np.testing.assert_allclose(fn(*point), expected, atol=1e-14)
        # broadcasting: a column of points against a scalar
        column = np.array([point[0], point[0] + 1.0])
        result = fn(column, *point[1:])
        assert result.shape == (2, *np.shape(expected))
        np.testing.assert_allclose(result[0], expected, atol=1e-14)


@pytest.mark.parametrize(
    "args, message",
    [
        (("grad", "x*y", "x"), "gradient is defined for scalar formulas only. Use jacobian"),
        (("curl", "x*y"), "curl needs a vector field"),
        (("curl", "x", "y", "z", "w"), "curl is defined for vector fields of 2 or 3"),
        (("divergence", "x*y", "x", "y"), "divergence needs a vector field"),
        (("laplacian", "x*y", "x"), "laplacian is defined for scalar formulas only"),
        (("grad", "-x**2"), "goes after '--'"),
        (("grad", "x*polygamma(20, x)", "--format", "python"), "symgrad: error:"),
    ],
)
def test_kind_errors_are_one_line(capsys, args, message):
    from symgrad.cli import main

    assert main(list(args)) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


# ------------------------------------------------- generated Python: no user text


HOSTILE = [
    "x # \n + y",
    'x # """; import os; x = """\n + y',
    "x # '''; import os #\n*y",
    "x # \u2028import os",
    "x # \u0085import os\n + y",
    "x # \u2029\r\nimport os",
    'x"""; import os; """',
    "x\\\nimport os",
]


@pytest.mark.parametrize("formula", HOSTILE)
def test_python_format_contains_no_formula_text(capsys, formula):
    import ast

    from symgrad.cli import main

    for command in ("grad", "value", "hessian"):
        for extra in ([], ["--cse"]):
            rc = main([command, formula, "--format", "python", *extra])
            captured = capsys.readouterr()
            if rc == 2:  # rejected by the parser: one message, no code
                assert captured.out == "" and "symgrad: error:" in captured.err
                continue
            assert rc == 0, captured.err
            code = captured.out
            assert not re.search(r"\bos\b|\bimport os", code)
            assert "#" not in code and "\u2028" not in code and "\u0085" not in code
            tree = ast.parse(code)
            *imports, func = tree.body
            assert all(isinstance(node, ast.Import) for node in imports)
            assert [alias.name for node in imports for alias in node.names] == ["numpy"]
            assert isinstance(func, ast.FunctionDef)
            doc, *body = func.body
            assert isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant)
            assert "import" not in doc.value.value
            assert all(isinstance(s, ast.Assign) for s in body[:-1])
            assert isinstance(body[-1], ast.Return)
            strings = [n for n in ast.walk(func) if isinstance(n, ast.Constant)
                       and isinstance(n.value, str)]
            assert strings == [doc.value]
            # the only names: the user's (validated identifiers) and symgrad's own
            params = {a.arg for a in func.args.args}
            names = {n.id for n in ast.walk(func) if isinstance(n, ast.Name)}
            assert names <= params | {"_np", "_out"} | {f"_t{k}" for k in range(50)}
            fn = _exec_function(code, func.name)
            assert np.all(np.isfinite(fn(*([1.5] * len(params)))))


def test_python_format_keeps_its_names_apart_from_the_users(capsys):
    import sympy

    from symgrad import compile as sg_compile
    from symgrad.cli import main
    from symgrad.derive import Derivatives
    from symgrad.parse import parse

    # names of modules and helpers; the evaluator takes these: compare with it
    formula = "numpy*sin(x) + np*cos(math)**2 + sp*exp(t0 / 4)"
    ev = sg_compile(formula)
    point = dict(zip(ev.variables, [0.3, 0.7, -1.2, 0.4, 2.0, 0.9]))
    for command, kind in (("grad", "gradient"), ("hessian", "hessian"), ("value", "value")):
        for extra in ([], ["--cse"]):
            assert main([command, formula, "--format", "python", *extra]) == 0
            fn = _exec_function(capsys.readouterr().out, kind)
            expected = ev.evaluate_python([kind], **point)[0]
            np.testing.assert_allclose(fn(**point), expected, rtol=1e-14)
    # names the evaluator reserves (out), the printer's own (_np, _t0), keywords
    formula = "out*_np + lambda*lambda_*_t0 + _out**2 + sin(_t1)"
    assert main(["grad", formula, "--format", "python", "--cse"]) == 0
    fn = _exec_function(capsys.readouterr().out, "gradient")
    parsed = parse(formula)
    values = [0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5]
    d = Derivatives(parsed.exprs, parsed.variables)
    subs = dict(zip(parsed.variables, values))
    expected = [float(g.subs(subs)) for g in d.jacobian()[0]]
    np.testing.assert_allclose(fn(*values), expected, rtol=1e-14)
    assert sympy  # noqa: B018


# ---------------------------------------------------------- messages in CLI words


@pytest.mark.parametrize(
    "args, message",
    [
        (("grad", "a*x", "--vars", "x"), "add 'a' to --vars or --params"),
        (("grad", "2"), "pass --vars x"),
        (("grad", "x", "--vars", "x,x"), "--vars: 'x' is listed twice"),
        (("grad", "x", "--params", "a,a"), "--params: 'a' is listed twice"),
        (("grad", "x*a", "--vars", "x", "--params", "x"), "in both --vars and --params"),
        (("check", "a*x", "--params", "a", "--domain", "x=0:1"), "pass --param a=VALUE"),
        (("check", "x*y", "--domain", "x=0:1"), "--domain has no range for variable 'y'"),
        (("check", "x*y", "--domain", "x=1:0,y=0:1"), "--domain x = (1.0, 0.0)"),
        (("check", "x", "--domain=0:1", "--derivatives", ","), "--derivatives gradient"),
    ],
)
def test_messages_name_cli_options(capsys, args, message):
    from symgrad.cli import main

    assert main(list(args)) == 2
    err = capsys.readouterr().err
    assert message in err, err
    for python_word in ("variables=", "params=", "param_values", "domain[", "domain={"):
        assert python_word not in err


# ------------------------------------------------------------ constants in options


@pytest.mark.parametrize(
    "args, message",
    [
        (("grad", "x", "--at", "x=pi**pi**pi**pi**pi"), "too large"),
        (("grad", "x", "--at", "x=10**10**10"), "too large"),
        (("grad", "x", "--at", "x=exp(1000)"), "too large"),
        (("grad", "x", "--at", "x=(-8)**(1/3)"), "not a real number"),
        (("grad", "x", "--at", "x=__import__('os')"), "is not a number"),
        (("check", "x", "--domain=0:exp(exp(10))"), "too large"),
        (("check", "x", "--domain=y:1"), "it has names in it"),
    ],
)
def test_constants_are_bounded_one_line_errors(capsys, args, message):
    from symgrad.cli import main

    assert main(list(args)) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err


def test_constant_values_and_commas_in_brackets():
    from symgrad.cli.commands import _number, _pairs

    assert _number("atan2(1, 1)*4", "--at x") == np.pi
    assert _number("-sqrt(2)", "--at x") == -np.sqrt(2.0)
    assert _number("2**-2000", "--at x") == 0.0
    assert _pairs(["x=atan2(1,1),y=max(1,2,3)", "z=4"], "--at") == {
        "x": "atan2(1,1)", "y": "max(1,2,3)", "z": "4"}


# ------------------------------------------------- the process: exit codes, streams


def test_closed_full_and_broken_stdout_exit_without_traceback():
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    cmd = [sys.executable, "-m", "symgrad", "grad", "x*y"]
    # stdout closed (>&-): one message, exit 2
    done = subprocess.run(["sh", "-c", '"$@" >&-', "sh", *cmd], capture_output=False,
                          stderr=subprocess.PIPE, timeout=120, env=env, text=True)
    assert done.returncode == 2, done.stderr
    assert done.stderr == "symgrad: error: cannot write the output: standard output is closed.\n"
    # a full disk: one message, exit 2
    if os.path.exists("/dev/full"):
        with open("/dev/full", "w") as full:
            done = subprocess.run(cmd + ["--format", "python"], stdout=full,
                                  stderr=subprocess.PIPE, timeout=120, env=env, text=True)
        assert done.returncode == 2, done.stderr
        assert done.stderr == ("symgrad: error: cannot write the output: "
                               "No space left on device.\n")
    # the reader is gone (symgrad ... | head): quiet, exit 141 (128 + SIGPIPE)
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run(cmd, stdout=write, stderr=subprocess.PIPE, timeout=120,
                              env=env, text=True)
    finally:
        os.close(write)
    assert done.returncode == 141 and done.stderr == ""


def test_internal_errors_exit_3_without_traceback(capsys, monkeypatch):
    from symgrad.cli import commands, main

    def broken(args, out):
        raise KeyError("boom")

    monkeypatch.setitem(commands._COMMANDS, "grad", broken)
    monkeypatch.delenv("SYMGRAD_DEBUG", raising=False)
    assert main(["grad", "x"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("symgrad: internal error: KeyError: 'boom'")
    assert "please report" in err and "Traceback" not in err and len(err.splitlines()) == 1
    monkeypatch.setenv("SYMGRAD_DEBUG", "1")
    assert main(["grad", "x"]) == 3
    err = capsys.readouterr().err
    assert "Traceback" in err and "symgrad: internal error: KeyError" in err


def test_new_commands_evaluate_at_points(capsys):
    from symgrad.cli import main

    cases = [
        (["laplacian", "x**2*y + y**3"], "laplacian", 2.0 * 3.0 + 6.0 * 3.0),
        (["divergence", "x*y", "y**2"], "divergence", 9.0),
        (["curl", "y*z", "x*y", "x**2"], "curl", [0.0, -1.0, -2.0]),
        # a variable named like the evaluator's keyword argument out=
        (["grad", "out*x**2"], "gradient", [9.0, 12.0]),
    ]
    for args, kind, expected in cases:
        names = ("out", "x") if "out" in args[1] else ("x", "y", "z")
        at = ",".join(f"{n}={v}" for n, v in zip(names, (2, 3, 5)) if n in " ".join(args))
        assert main([*args, "--at", at, "--json"]) == 0
        doc = json.loads(capsys.readouterr().out)
        np.testing.assert_allclose(doc["at"][0][kind], expected)
    assert main(["source", "x**2*y", "--laplacian"]) == 0
    assert "laplacian[]" in capsys.readouterr().out
