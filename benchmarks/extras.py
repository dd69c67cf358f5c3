"""The extra measurements, each a small script run in a fresh subprocess.

* ``bandwidth``      copy bandwidth (NumPy single-threaded copy and a numba ``prange``
                     copy), for the P2 memory-bandwidth bound.
* ``first_result``   time to first result in a fresh process INCLUDING imports, for the
                     P1 gradient + Hessian: symgrad with an empty cache and with the kernel
                     on disk, JAX without and with its persistent compilation cache.
* ``one_point``      per-call overhead for one point of a 2-variable formula (P1): symgrad,
                     JAX (jit), a plain Python function (math module), a numba scalar njit.
* ``p2_build``       symgrad build time for Rosenbrock n = 10, 50, 100, 200, split into
                     parse / derive+CSE+codegen / numba compile + first call, and JAX's
                     trace+compile for the same function.

``python -m benchmarks.extras NAME JSON_ARGS RESULT.json`` runs one of them.
"""

from __future__ import annotations

import json
import os
import sys
import time

_T0 = time.perf_counter()


def _result(path: str, data: dict) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(data, fh)
    os.replace(tmp, path)


def bandwidth(size_mb: int = 256, repeats: int = 5) -> dict:
    import numpy as np
    from numba import njit, prange

    n = size_mb * 2**20 // 8
    a = np.random.default_rng(0).random(n)
    b = np.empty_like(a)

    @njit(parallel=True, cache=False)
    def pcopy(src, dst):
        for i in prange(src.shape[0]):
            dst[i] = src[i]

    pcopy(a, b)
    out = {}
    for name, fn in (("numpy_copy", lambda: np.copyto(b, a)), ("numba_prange_copy", lambda: pcopy(a, b))):
        fn()
        ts = []
        for _ in range(repeats):
            t = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t)
        # bytes moved = read + write (the same accounting as bytes_per_point)
        out[name] = 2 * a.nbytes / float(np.median(ts)) / 1e9
    out["GBps"] = max(out["numpy_copy"], out["numba_prange_copy"])
    return out


_P1 = "sin(x)*cos(y) + exp(-(x**2+y**2)/2)"


def first_result(tool: str, N: int) -> dict:
    """Called right after interpreter start: numpy + inputs first, then the clock starts."""
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.uniform(-3, 3, N)
    y = rng.uniform(-3, 3, N)
    t0 = time.perf_counter()
    if tool in ("symgrad", "symgrad[tiered]"):
        import symgrad

        t1 = time.perf_counter()
        # tiered: NumPy answers while numba compiles in the background (opt-in)
        f = symgrad.compile(_P1, variables="x y", tiered=tool == "symgrad[tiered]")
        g, h = f.gradient_and_hessian(x, y)
        t2 = time.perf_counter()
        extra = {"cache_stats": f.cache_stats()}
        checksum = float(g.sum() + h.sum())
    elif tool == "jax":
        from benchmarks.columns import configure_jax

        jax = configure_jax()
        import jax.numpy as jnp

        t1 = time.perf_counter()

        def f(v):
            return jnp.sin(v[0]) * jnp.cos(v[1]) + jnp.exp(-(v[0] ** 2 + v[1] ** 2) / 2)

        gh = jax.jit(jax.vmap(lambda v: (jax.grad(f)(v), jax.hessian(f)(v)), in_axes=1, out_axes=-1))
        g, h = gh(jnp.stack([x, y]))
        g.block_until_ready()
        h.block_until_ready()
        t2 = time.perf_counter()
        extra = {}
        checksum = float(g.sum() + h.sum())
    else:
        raise ValueError(tool)
    return {"tool": tool, "N": N, "import_s": t1 - t0, "build_first_s": t2 - t1,
            "total_s": t2 - t0, "since_interpreter_s": t2 - _T0, "checksum": checksum, **extra}


def one_point(tool: str, budget_s: float = 0.3) -> dict:
    import math

    import numpy as np

    x, y = 0.5, 0.3
    if tool == "symgrad":
        import symgrad

        f = symgrad.compile(_P1, variables="x y")
        calls = {"value": lambda: f(x, y), "gradient": lambda: f.gradient(x, y)}
    elif tool == "jax":
        import jax

        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp

        def fj(a, b):
            return jnp.sin(a) * jnp.cos(b) + jnp.exp(-(a**2 + b**2) / 2)

        v = jax.jit(fj)
        g = jax.jit(jax.grad(fj, argnums=(0, 1)))
        calls = {"value": lambda: v(x, y).block_until_ready(),
                 "gradient": lambda: jax.block_until_ready(g(x, y))}
    elif tool == "python":

        def fp(a, b):
            return math.sin(a) * math.cos(b) + math.exp(-(a * a + b * b) / 2)

        def gp(a, b):
            e = math.exp(-(a * a + b * b) / 2)
            return (math.cos(a) * math.cos(b) - a * e, -math.sin(a) * math.sin(b) - b * e)

        calls = {"value": lambda: fp(x, y), "gradient": lambda: gp(x, y)}
    elif tool == "numba_scalar":
        from numba import njit

        @njit(cache=False, error_model="numpy")
        def fn(a, b):
            return math.sin(a) * math.cos(b) + math.exp(-(a * a + b * b) / 2)

        @njit(cache=False, error_model="numpy")
        def gn(a, b):
            e = math.exp(-(a * a + b * b) / 2)
            return (math.cos(a) * math.cos(b) - a * e, -math.sin(a) * math.sin(b) - b * e)

        calls = {"value": lambda: fn(x, y), "gradient": lambda: gn(x, y)}
    else:
        raise ValueError(tool)
    out = {"tool": tool}
    for name, call in calls.items():
        for _ in range(3):
            call()
        t = time.perf_counter()
        call()
        one = max(time.perf_counter() - t, 1e-7)
        loops = int(min(max(budget_s / 5 / one, 1), 200000))
        batches = []
        for _ in range(5):
            t = time.perf_counter()
            for _ in range(loops):
                call()
            batches.append((time.perf_counter() - t) / loops)
        out[f"{name}_us"] = float(np.median(batches) * 1e6)
    return out


def p2_build(n: int, op: str, tool: str = "symgrad", N: int = 256) -> dict:
    """Build time of the Rosenbrock ``op`` kernel in a fresh process (after imports)."""
    import numpy as np

    from . import problems as P

    p = P.problem("P2", n)
    X = p.inputs(N)
    out = {"n": n, "op": op, "tool": tool, "N": N}
    if tool == "symgrad":
        import symgrad
        import symgrad.api  # noqa: F401
        import symgrad.kernel  # noqa: F401

        t0 = time.perf_counter()
        # parallel=True: compile the same multithreaded kernel that N >= 4096 points use
        f = symgrad.compile(p.formula, variables=list(p.variables), parallel=True)
        t1 = time.perf_counter()
        outputs = {"gradient": ("gradient",), "hessian": ("hessian",)}[op]
        f.kernel_source(*outputs)
        t2 = time.perf_counter()
        getattr(f, op)(*X)
        t3 = time.perf_counter()
        out.update(parse_s=t1 - t0, derive_cse_codegen_s=t2 - t1, compile_first_call_s=t3 - t2,
                   total_s=t3 - t0, cache_stats=f.cache_stats())
    elif tool == "jax":
        import jax

        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp

        from .columns import _jax_fn

        f = _jax_fn(p, jnp)
        g = {"gradient": jax.grad(f), "hessian": jax.hessian(f)}[op]
        Xj = jax.device_put(X)
        t0 = time.perf_counter()
        jax.jit(jax.vmap(g, in_axes=1, out_axes=-1))(Xj).block_until_ready()
        out["total_s"] = time.perf_counter() - t0
    else:
        raise ValueError(tool)
    del np
    return out


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    name, args, result_path = argv[0], json.loads(argv[1]), argv[2]
    fn = {"bandwidth": bandwidth, "first_result": first_result, "one_point": one_point,
          "p2_build": p2_build}[name]
    try:
        data = fn(**args)
    except Exception as exc:
        data = {"error": f"{type(exc).__name__}: {exc}"[:500], **args}
    _result(result_path, data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
