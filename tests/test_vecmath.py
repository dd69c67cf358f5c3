"""symgrad.vecmath: accuracy bounds, special values, Python == compiled, vectorization."""

from __future__ import annotations

import math
import platform
import re

import numpy as np
import pytest

import symgrad
from benchmarks import accuracy
from symgrad import vecmath as vm
from symgrad.errors import InputError

pytestmark = pytest.mark.slow  # left out of -m "not slow" (the fast core)

#: The documented float64 bounds (benchmarks/results/accuracy.md), in ulps.
BOUND = {name: (1.0 if name in accuracy.TARGET_1ULP else 2.0) for name in accuracy.FUNCTIONS}


@pytest.mark.slow
def test_accuracy_within_the_documented_bounds():
    rows = accuracy.measure(n=10**4, mp=100, dtypes=("float64", "float32"), log=lambda s: None)
    over = [r for r in rows
            if r[3] > (BOUND[r[0]] if r[1] == "float64" else 1.0) or r[4]]
    assert not over, over


@pytest.mark.parametrize("name", accuracy.FUNCTIONS)
def test_special_values_follow_c99(name):
    assert accuracy.special_mismatches(name) == []


def _jit_loop(fn, nargs):
    import numba

    from symgrad.kernel import NUMBA_OPTIONS

    options = {k: v for k, v in NUMBA_OPTIONS.items() if k != "cache"}
    if nargs == 1:
        def loop(x, out):
            for i in range(x.shape[0]):
                out[i] = fn(x[i])
    else:
        def loop(x, y, out):
            for i in range(x.shape[0]):
                out[i] = fn(x[i], y[i])
    return numba.njit(**options)(loop)


NAMES = [n for n in vm.__all__ if n.startswith("vm_") and n not in ("vm_select",)]


@pytest.mark.parametrize("name", NAMES)
def test_python_and_compiled_agree_bitwise(name):
    fn = getattr(vm, name)
    nargs = 2 if name in ("vm_pow", "vm_atan2", "vm_logaddexp", "vm_xlogy") else 1
    rng = np.random.default_rng(1)
    x = np.concatenate([accuracy.SPECIAL, rng.uniform(-3, 3, 40), rng.uniform(-800, 800, 20),
                        np.exp(rng.uniform(-700, 700, 20))])
    args = (x,) if nargs == 1 else (x, rng.permutation(x))
    out = np.empty_like(x)
    _jit_loop(fn, nargs)(*args, out)
    with np.errstate(all="ignore"):
        py = np.array([fn(*(a[i] for a in args)) for i in range(len(x))], dtype=np.float64)
    if name == "vm_trig_ok":
        py = py.astype(bool).astype(np.float64)
    np.testing.assert_array_equal(py, out)
    assert np.array_equal(np.signbit(py), np.signbit(out))


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"),
                    reason="checks x86-64 assembly")
@pytest.mark.parametrize("name", ["vm_exp", "vm_sin", "vm_log", "vm_cos", "vm_expm1", "vm_pow"])
def test_the_loop_vectorizes(name):
    nargs = 2 if name == "vm_pow" else 1
    loop = _jit_loop(getattr(vm, name), nargs)
    x = np.linspace(0.5, 2.0, 64)
    loop(*([x] * nargs), np.empty_like(x))
    asm = "\n".join(loop.inspect_asm().values())
    packed = re.findall(r"\bv(?:mul|add|sub|fmadd\w*|div)pd\s+[^\n]*%[yz]mm", asm)
    if not packed:
        if "ymm" not in asm and "zmm" not in asm and "avx" not in _cpu_flags():
            pytest.skip("no AVX on this machine")
    assert packed, "no packed double-precision arithmetic on ymm/zmm registers"
    # No libm call left: the function is inlined (vecmath's always-inline calls).
    calls = re.findall(r"\bcall\w*\s+\*?([^\n]+)", asm)
    assert not [c for c in calls if re.search(r"\b(exp|log|sin|cos|pow)\b", c)], calls


def _cpu_flags() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            return fh.read()
    except OSError:
        return ""


_X86 = platform.machine().lower() in ("x86_64", "amd64")
_PACKED = r"\bv(?:mul|add|sub|fmadd\w*|div|blendv|cmp\w*)pd\s+[^\n]*%{reg}mm"


def _kernel_asm(f, *outputs):
    """The x86 assembly of the array kernel for ``outputs`` (compiled in this process)."""
    compiled = f._request(f._items(outputs, None))
    dispatcher = f._kernel(compiled).kernel.dispatcher("kernel")
    return "\n".join(dispatcher.inspect_asm().values())


# Formulas of their own (a term that changes every output kind, so no other test's
# kernel has the same source), compiled with a private cache: numba cannot show the
# assembly of code it loaded from the disk cache.
_P1 = "sin(x)*cos(y) + exp(-(x**2+y**2)/2) + x**3*y/8"
_P3 = ("exp(-a*x**2)*cos(b*y+c*z) + log(1+x**2+y**2+z**2)*atan(a*b) "
       "+ sqrt(1+(a*x-b*y)**2)*tanh(c*z) + a**3*z/8")


@pytest.mark.skipif(not _X86, reason="checks x86-64 assembly")
@pytest.mark.parametrize("formula, variables", [(_P1, "x y"), (_P3, "a b c x y z")])
@pytest.mark.parametrize("outputs", [("value",), ("gradient",), ("hessian",),
                                     ("value", "gradient", "hessian")])
def test_multi_row_kernels_vectorize(formula, variables, outputs, tmp_path, monkeypatch):
    """Gradient, Hessian and fused kernels (several output rows) vectorize like value
    kernels: the point loop is a noalias function over row views with an unsigned
    index (symgrad.codegen.generate_source)."""
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path))
    f = symgrad.compile(formula, variables=variables, math="vector", tiered=False,
                        parallel=False)
    n = f.n_variables
    rng = np.random.default_rng(3)
    args = [rng.uniform(0.1, 2.0, 64) for _ in range(n)]
    results = f.evaluate(*args, outputs=outputs)
    for got, gold in zip(results, f.evaluate_python(outputs, *args)):
        np.testing.assert_array_equal(got, gold)
    asm = _kernel_asm(f, *outputs)
    wide = "zmm" if "avx512f" in _cpu_flags() else "ymm"
    if "avx" not in _cpu_flags():
        pytest.skip("no AVX on this machine")
    packed = re.findall(_PACKED.format(reg="[yz]"), asm)
    assert len(packed) > 50, f"{len(packed)} packed double ops on ymm/zmm registers"
    assert re.search(_PACKED.format(reg=wide[0]), asm), f"nothing on {wide} registers"
    calls = re.findall(r"\bcall\w*\s+\*?([^\n]+)", asm)
    assert not [c for c in calls if re.search(r"\b(exp|log|sin|cos|atan|tanh|pow)\b", c)]


@pytest.mark.skipif(not _X86, reason="checks x86-64 assembly")
def test_a_scalar_parameter_keeps_the_loop_vectorized(tmp_path, monkeypatch):
    # A parameter given as one float reaches the kernel as a zero-stride view; the
    # point loop receives it as a float (sg_arg), not through a runtime stride.
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path))
    f = symgrad.compile("exp(-a*x**2)*sin(x) + a*x/8", params="a", math="vector",
                        tiered=False, parallel=False)
    x = np.linspace(-2, 2, 64)
    g = f.gradient(x, a=1.5)
    np.testing.assert_array_equal(g, f.gradient(x, a=np.full(64, 1.5)))
    np.testing.assert_array_equal(g, f.evaluate_python(["gradient"], x, a=1.5)[0])
    compiled = f._request(f._items(("gradient",), None))
    dispatcher = f._kernel(compiled).kernel.dispatcher("kernel")
    layouts = {sig: dispatcher.inspect_asm(sig) for sig in dispatcher.signatures}
    zero_stride = [a for sig, a in layouts.items() if any(t.layout == "A" for t in sig[:2])]
    assert zero_stride, list(layouts)
    if "avx" in _cpu_flags():
        assert len(re.findall(_PACKED.format(reg="[yz]"), zero_stride[0])) > 30


_AVX2_SCRIPT = """
import re, numpy as np, symgrad
f = symgrad.compile({formula!r}, variables={variables!r}, math="vector", tiered=False,
                    parallel=False)
rng = np.random.default_rng(5)
args = [rng.uniform(-2.0, 2.0, 1000) for _ in range(f.n_variables)]
args[0][:4] = [np.nan, np.inf, 3e7, -0.0]  # NaN, inf, the libm pass, a signed zero
outs = ("value", "gradient", "hessian")
with np.errstate(all="ignore"):
    got = f.evaluate(*args, outputs=outs)
    gold = f.evaluate_python(outs, *args)
for a, b in zip(got, gold):
    np.testing.assert_array_equal(a, b)
c = f._request(f._items(outs, None))
asm = "\\n".join(f._kernel(c).kernel.dispatcher("kernel").inspect_asm().values())
assert "zmm" not in asm
print("ymm", len(re.findall(r"\\bv\\w+pd\\s+[^\\n]*%ymm", asm)))
"""


@pytest.mark.skipif(not _X86, reason="checks x86-64 code generation")
@pytest.mark.parametrize("formula, variables", [(_P1, "x y"), (_P3, "a b c x y z")])
def test_avx2_code_agrees_with_python(formula, variables, tmp_path):
    """On this (possibly AVX-512) machine, compile for an AVX2 CPU (NUMBA_CPU_NAME=
    haswell, NUMBA_CPU_FEATURES=-avx512f: without it numba keeps the host's features)
    in a fresh process: same bits as the plain-Python run, special values included,
    and the loop uses 256-bit registers."""
    import os
    import subprocess
    import sys

    if "avx2" not in _cpu_flags():
        pytest.skip("no AVX2 on this machine")
    env = {**os.environ, "NUMBA_CPU_NAME": "haswell", "NUMBA_CPU_FEATURES": "-avx512f",
           "SYMGRAD_CACHE_DIR": str(tmp_path)}
    script = _AVX2_SCRIPT.format(formula=formula, variables=variables)
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert int(run.stdout.split()[-1]) > 50, run.stdout


def test_math_option_is_validated_and_changes_the_source():
    with pytest.raises(InputError, match="math must be"):
        symgrad.compile("sin(x)", math="svml")
    vec = symgrad.compile("sin(x) + exp(x)", math="vector", tiered=False)
    lib = symgrad.compile("sin(x) + exp(x)", math="libm")
    assert vec.options.math == "vector" and lib.options.math == "libm"
    assert symgrad.compile("sin(x) + exp(x)").options.math == "vector"  # the default
    x = np.linspace(-5, 5, 101)
    np.testing.assert_allclose(vec(x), lib(x), rtol=4.5e-16, atol=0)
    from symgrad.backends import get_backend
    from symgrad.kernel import kernel_key

    program = vec._request(vec._items(("value",), None)).program
    src_vec = get_backend("numba").compile(program, ("x",), vec.options).source
    src_lib = get_backend("numba").compile(program, ("x",), lib.options).source
    assert "vm_sin(" in src_vec and "vm_sin(" not in src_lib
    assert kernel_key(src_vec) != kernel_key(src_lib)
    # one math for every request of an evaluator: fused and separate calls agree
    assert "vm_sin(" in vec.kernel_source("value", "gradient")
    np.testing.assert_array_equal(vec.value_and_gradient(x)[0], vec(x))


def test_trig_beyond_the_vector_range_takes_the_libm_pass():
    f = symgrad.compile("sin(x)*cos(y) + tan(x)", parallel=False, math="vector")
    x = np.array([0.3, 1e7, -3e15, np.inf, np.nan, 1e300, 2.0, -0.0])
    y = np.array([1e20, 0.2, 0.1, 0.0, 1.0, 5.0, 1e6 + 0.5, -0.0])
    with np.errstate(all="ignore"):
        expected = np.sin(x) * np.cos(y) + np.tan(x)
    got = f(x, y)
    np.testing.assert_allclose(got, expected, rtol=1e-15, atol=0)
    assert np.array_equal(np.isnan(got), np.isnan(expected))
    gold = f.evaluate_python(["value"], x, y)[0]
    np.testing.assert_array_equal(gold, got)


def test_vector_math_runs_as_plain_python_on_floats():
    assert vm.vm_exp(1.0) == pytest.approx(math.e, rel=2.3e-16)
    assert vm.vm_log(0.0) == -math.inf and math.isnan(vm.vm_log(-1.0))
    assert math.copysign(1.0, vm.vm_sin(-0.0)) == -1.0
    assert vm.vm_exp(-math.inf) == 0.0 and math.isnan(vm.vm_exp(math.nan))
    assert math.isnan(vm.vm_sin(math.inf))
