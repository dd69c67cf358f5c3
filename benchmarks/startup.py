"""Start-up suite: time to the FIRST result in a fresh process, symgrad vs JAX.

``python -m benchmarks.startup [--repeats 5] [--out benchmarks/results/startup.md]``

Every measurement is a new Python process; the time is from just before the parent
starts it to the moment the child has its first result (interpreter start, imports,
parsing/tracing, compiling and the evaluation included; the child then exits at once,
without waiting for background compiles). Default options throughout.

* cold: an empty cache directory (symgrad: ``SYMGRAD_CACHE_DIR``; JAX: an empty
  persistent compilation cache);
* warm: the cache filled by an earlier process of the same row.

Rows
----
* P1 gradient+Hessian at 1e6 points (benchmarks/problems.py's P1);
* P3 Hessian at 1e5 points (six variables);
* F30 Hessian at one point: ``log(1 + x0**2 + ... + x29**2) + sin(x0*x1) + ... +
  sin(x28*x29)`` (a dense 30x30 Hessian: the log couples every pair);
* CLI: ``symgrad grad "x*y"`` printing its derivatives; the JAX column is the nearest
  JAX equivalent, a fresh process computing ``jax.grad`` of ``x*y`` at one point.

Rows run interleaved (repeat r of every row and tool before repeat r+1), so load
changes on a shared machine hit every column alike. Results: min/median/max.
symgrad's bytecode is written first (``_byte_compile``), as an installed package has it.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .run import _cpu_model

P1 = "sin(x)*cos(y) + exp(-(x**2 + y**2)/2)"
P3 = ("exp(-a*x**2)*cos(b*y+c*z) + log(1+x**2+y**2+z**2)*atan(a*b) "
      "+ sqrt(1+(a*x-b*y)**2)*tanh(c*z)")
F30 = ("log(1 + " + " + ".join(f"x{i}**2" for i in range(30)) + ") + "
       + " + ".join(f"sin(x{i}*x{i + 1})" for i in range(29)))

_DONE = "import os, sys, time; print(repr(time.time())); sys.stdout.flush(); os._exit(0)"

SYMGRAD = {
    "P1 grad+Hessian, 1e6 points": f"""
import numpy as np, symgrad
x = np.linspace(-3, 3, 10**6); y = x[::-1].copy()
g, h = symgrad.compile({P1!r}).evaluate(x, y, outputs=("gradient", "hessian"))
""",
    "P3 Hessian, 1e5 points": f"""
import numpy as np, symgrad
P = [np.linspace(0.1, 1 + k, 10**5) for k in range(6)]
h = symgrad.compile({P3!r}, "a b c x y z").hessian(*P)
""",
    "F30 Hessian, 1 point": f"""
import symgrad
f = symgrad.compile({F30!r})
h = f.hessian(*[0.1 * (k + 1) for k in range(30)])
""",
}

JAX_HEAD = """
import os, jax
jax.config.update("jax_enable_x64", True)
jax.config.update("jax_compilation_cache_dir", os.environ["JAX_CACHE"])
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
import jax.numpy as jnp, numpy as np
"""

JAX = {
    "P1 grad+Hessian, 1e6 points": JAX_HEAD + """
f = lambda x, y: jnp.sin(x)*jnp.cos(y) + jnp.exp(-(x**2 + y**2)/2)
fv = lambda p: f(p[0], p[1])
both = jax.jit(jax.vmap(lambda p: (jax.grad(fv)(p), jax.hessian(fv)(p)), in_axes=1))
x = np.linspace(-3, 3, 10**6); y = x[::-1].copy()
g, h = both(jnp.stack([x, y])); h.block_until_ready()
""",
    "P3 Hessian, 1e5 points": JAX_HEAD + """
def f(p):
    a, b, c, x, y, z = p
    return (jnp.exp(-a*x**2)*jnp.cos(b*y+c*z) + jnp.log(1+x**2+y**2+z**2)*jnp.arctan(a*b)
            + jnp.sqrt(1+(a*x-b*y)**2)*jnp.tanh(c*z))
P = np.stack([np.linspace(0.1, 1 + k, 10**5) for k in range(6)])
h = jax.jit(jax.vmap(jax.hessian(f), in_axes=1))(P); h.block_until_ready()
""",
    "F30 Hessian, 1 point": JAX_HEAD + """
def f(p):
    return jnp.log(1 + jnp.sum(p**2)) + jnp.sum(jnp.sin(p[:-1]*p[1:]))
h = jax.jit(jax.hessian(f))(jnp.arange(1.0, 31.0) * 0.1); h.block_until_ready()
""",
    'CLI grad "x*y"': JAX_HEAD + """
g = jax.grad(lambda x, y: x*y, argnums=(0, 1))(1.0, 2.0); float(g[0])
""",
}


def _first_result(code: str, env: dict, argv: list[str] | None = None) -> float:
    """Seconds from process start to first result."""
    start = time.time()
    if argv is None:
        done = subprocess.run([sys.executable, "-c", code + "\n" + _DONE], env=env,
                              capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            raise RuntimeError(done.stderr[-2000:])
        return float(done.stdout.strip().splitlines()[-1]) - start
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return time.time() - start


def _byte_compile() -> None:
    """Write symgrad's bytecode (``__pycache__``) before measuring, as ``pip install``
    does for an installed package: with ``PYTHONDONTWRITEBYTECODE`` set (some CI and
    container setups) an editable checkout would otherwise compile every symgrad
    module from source in every fresh process (~0.06 s for the CLI alone), while
    SymPy, NumPy and JAX load their installed bytecode."""
    import compileall

    import symgrad

    compileall.compile_dir(str(Path(symgrad.__file__).parent), quiet=1, force=False)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default="benchmarks/results/startup.md")
    ap.add_argument("--rows", default="", help="substring filter on row names")
    args = ap.parse_args(argv)
    try:
        import jax  # noqa: F401

        have_jax = True
    except ImportError:
        have_jax = False
    rows = [r for r in [*SYMGRAD, 'CLI grad "x*y"'] if args.rows in r]
    _byte_compile()
    base = Path(tempfile.mkdtemp(prefix="symgrad-startup-"))
    times: dict[tuple[str, str, str], list[float]] = {}
    load_before = os.getloadavg()
    cli = [sys.executable, "-m", "symgrad", "grad", "x*y"]
    try:
        warm_dirs = {}
        for row in rows:  # fill the warm caches: one process each (and wait for compiles)
            d = base / f"warm-{len(warm_dirs)}"
            warm_dirs[row] = d
            env = {**os.environ, "SYMGRAD_CACHE_DIR": str(d / "sg"), "JAX_CACHE": str(d / "jax")}
            if row in SYMGRAD:
                # twice: the second call waits for the kernel, which lands on disk
                _first_result(SYMGRAD[row] + SYMGRAD[row], env)
            else:
                _first_result("", env, cli)
            if have_jax:
                _first_result(JAX[row], env)
        for r in range(args.repeats):
            for row in rows:
                for state in ("cold", "warm"):
                    d = warm_dirs[row] if state == "warm" else base / f"cold-{r}-{row[:3]}"
                    if state == "cold":
                        shutil.rmtree(d, ignore_errors=True)
                    env = {**os.environ, "SYMGRAD_CACHE_DIR": str(d / "sg"),
                           "JAX_CACHE": str(d / "jax")}
                    if row in SYMGRAD:
                        t = _first_result(SYMGRAD[row], env)
                    else:
                        t = _first_result("", env, cli)
                    times.setdefault((row, state, "symgrad"), []).append(t)
                    if have_jax:
                        times.setdefault((row, state, "jax"), []).append(
                            _first_result(JAX[row], env))
                    print(f"{r} {row} {state}: " + ", ".join(
                        f"{tool} {times[(row, state, tool)][-1]:.3f}"
                        for tool in ("symgrad", "jax") if (row, state, tool) in times),
                        flush=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    load_after = os.getloadavg()

    def cell(key) -> str:
        v = times.get(key)
        if not v:
            return "n/a"
        return f"{min(v):.3f} / {statistics.median(v):.3f} / {max(v):.3f}"

    lines = [
        "# Start-up: time to the first result in a fresh process",
        "",
        "`python -m benchmarks.startup` (see its docstring). Seconds, min / median / max of "
        f"{args.repeats} fresh processes each, interleaved; default options.",
        "",
        f"- CPU: {_cpu_model()} ({os.cpu_count()} logical cores)",
        f"- load average before: {load_before[0]:.2f} {load_before[1]:.2f} "
        f"{load_before[2]:.2f}; after: {load_after[0]:.2f} {load_after[1]:.2f} "
        f"{load_after[2]:.2f}",
        f"- Python {platform.python_version()}"
        + ("" if have_jax else "; **jax not installed: JAX columns skipped** "
           "(`pip install \"jax[cpu]\"`)"),
        "",
        "| row | cache | symgrad | JAX | symgrad faster? |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        for state in ("cold", "warm"):
            s, j = times.get((row, state, "symgrad")), times.get((row, state, "jax"))
            verdict = ("yes" if statistics.median(s) < statistics.median(j) else "**no**") \
                if s and j else "n/a"
            lines.append(f"| {row} | {state} | {cell((row, state, 'symgrad'))} | "
                         f"{cell((row, state, 'jax'))} | {verdict} |")
    text = "\n".join(lines) + "\n"
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
