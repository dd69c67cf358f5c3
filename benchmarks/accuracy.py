"""Accuracy of symgrad's vector math (``math="vector"``, symgrad.vecmath), in ulps.

    python -m benchmarks.accuracy            # 10**6 arguments per range (a few minutes)
    python -m benchmarks.accuracy --n 10000  # quick

For every function and dtype, each range's arguments go through a real symgrad kernel
(``symgrad.compile("sin(x)", math="vector")``, so out-of-range trigonometric points
take the kernel's libm pass, as users get them) and are compared with a reference:

* NumPy's ``longdouble`` ufuncs (x87 80-bit extended, 64-bit significand: about
  2**-63 relative, far below a double's half ulp), evaluated on whole arrays;
* for erf and erfc, which NumPy lacks, mpmath on a subsample (``--mp`` points);
* every longdouble reference is checked against mpmath (50 digits) on a subsample of
  each range (the "ref check" column: the largest difference, in double ulps);
* every point that the longdouble reference puts more than half an ulp off is measured
  again against mpmath (:func:`recheck`): 80-bit ``tanl`` is itself wrong by more than
  a double ulp right next to the poles of tan, where a correctly rounded result looked
  2 ulp off.

The error of a finite result is ``|y - ref| / ulp(ref)`` with ``ulp`` the spacing of
the dtype at the reference rounded to the dtype (2**-1074 for subnormal float64).
Non-finite references and zeros must match exactly (NaN where NaN, the same infinity,
the sign of zero); the "special" column counts mismatches. Writes the table to
``benchmarks/results/accuracy.md`` (``--out``).
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import time
import zlib
from pathlib import Path

import numpy as np

LD = np.longdouble

#: Targets (float64 ulps): 1 for these, 2 for every other function.
TARGET_1ULP = {"exp", "log", "sin", "cos", "tan", "atan", "pow"}


def _rng(seed=0):
    return np.random.default_rng(seed)


def _loguniform(rng, n, lo, hi, signed=True):
    x = np.exp(rng.uniform(np.log(lo), np.log(hi), n))
    if signed:
        x *= rng.choice([-1.0, 1.0], n)
    return x


def _all_doubles(rng, n, signed=True):
    """Uniform over the bit patterns of finite doubles (subnormals included)."""
    bits = rng.integers(1, 0x7FEFFFFFFFFFFFFF, n, dtype=np.int64)
    x = bits.view(np.float64)
    if signed:
        x = x * rng.choice([-1.0, 1.0], n)
    return x


def _near_pio2(rng, n, kmax):
    """Doubles nearest to k*pi/2 and their neighbours (the hardest reductions)."""
    k = rng.integers(1, kmax, n)
    pio2 = LD(1.5707963267948966) + LD(6.123233995736766e-17)  # pi/2 to ~2**-64
    x = (k.astype(LD) * pio2).astype(np.float64) * rng.choice([-1.0, 1.0], n)
    return x + rng.integers(-3, 4, n) * np.spacing(x)


SPECIAL = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 5e-324, -5e-324, 2.0])
_ODD = {"erf", "sin", "tan", "atan", "asin", "sinh", "tanh", "asinh", "atanh", "cbrt",
        "expm1", "log1p"}


def ranges(name: str, n: int, rng):
    """(label, args) per range; args a tuple of arrays (one per argument)."""
    u = rng.uniform
    if name == "exp":
        return [("uniform [-745, 710]", (u(-745.2, 709.8, n),)),
                ("log-uniform |x| in [1e-300, 709]", (_loguniform(rng, n, 1e-300, 709.0),)),
                ("near overflow [700, 709.78]", (u(700.0, 709.782, n),)),
                ("subnormal results [-745.13, -708]", (u(-745.13, -708.0, n),))]
    if name == "expm1":
        return [("uniform [-40, 709]", (u(-40.0, 709.0, n),)),
                ("log-uniform |x| in [1e-300, 1]", (_loguniform(rng, n, 1e-300, 1.0),)),
                ("uniform [-1, 1]", (u(-1.0, 1.0, n),))]
    if name == "exp2":
        return [("uniform [-1075, 1024]", (u(-1074.9, 1023.99, n),)),
                ("uniform [-2, 2]", (u(-2.0, 2.0, n),)),
                ("log-uniform |x| in [1e-300, 1]", (_loguniform(rng, n, 1e-300, 1.0),))]
    if name in ("log", "log2", "log10"):
        return [("all positive doubles (bits uniform)", (_all_doubles(rng, n, signed=False),)),
                ("near 1: 1 + u(-0.3, 0.3)", (1.0 + u(-0.3, 0.3, n),)),
                ("1 +- log-uniform [1e-16, 1e-3]", (1.0 + _loguniform(rng, n, 1e-16, 1e-3),))]
    if name == "log1p":
        return [("uniform [-1, 1]", (u(-1.0, 1.0, n),)),
                ("log-uniform |x| in [1e-300, 1]", (_loguniform(rng, n, 1e-300, 1.0),)),
                ("log-uniform x in [1, 1e300]", (_loguniform(rng, n, 1.0, 1e300, False),)),
                ("near -1: -1 + log-uniform", (-1.0 + _loguniform(rng, n, 1e-16, 0.5, False),))]
    if name in ("sin", "cos", "tan"):
        return [("uniform [-10, 10]", (u(-10.0, 10.0, n),)),
                ("uniform [-1e6, 1e6] (vector range)", (u(-1e6, 1e6, n),)),
                ("near k*pi/2, k < 6e5 (hard reductions)", (_near_pio2(rng, n, 600000),)),
                ("log-uniform |x| in [1e-300, 1e300] (libm beyond 1e6)",
                 (_loguniform(rng, n, 1e-300, 1e300),))]
    if name == "atan":
        return [("uniform [-4, 4]", (u(-4.0, 4.0, n),)),
                ("log-uniform |x| in [1e-300, 1e300]", (_loguniform(rng, n, 1e-300, 1e300),))]
    if name == "atan2":
        return [("uniform [-1, 1]^2", (u(-1, 1, n), u(-1, 1, n))),
                ("log-uniform |y|, |x| in [1e-150, 1e150]",
                 (_loguniform(rng, n, 1e-150, 1e150), _loguniform(rng, n, 1e-150, 1e150)))]
    if name in ("asin", "acos"):
        return [("uniform [-1, 1]", (u(-1.0, 1.0, n),)),
                ("near +-1: +-(1 - log-uniform [1e-16, 0.5])",
                 ((1.0 - _loguniform(rng, n, 1e-16, 0.5, False)) * rng.choice([-1.0, 1.0], n),)),
                ("log-uniform |x| in [1e-300, 0.5]", (_loguniform(rng, n, 1e-300, 0.5),))]
    if name in ("sinh", "cosh"):
        return [("uniform [-710, 710]", (u(-710.4, 710.4, n),)),
                ("uniform [-2, 2]", (u(-2.0, 2.0, n),)),
                ("log-uniform |x| in [1e-300, 1]", (_loguniform(rng, n, 1e-300, 1.0),)),
                ("near overflow |x| in [709, 710.47]", (u(709.0, 710.47, n),))]
    if name == "tanh":
        return [("uniform [-20, 20]", (u(-20.0, 20.0, n),)),
                ("log-uniform |x| in [1e-300, 1]", (_loguniform(rng, n, 1e-300, 1.0),))]
    if name == "asinh":
        return [("log-uniform |x| in [1e-300, 1e300]", (_loguniform(rng, n, 1e-300, 1e300),)),
                ("uniform [-4, 4]", (u(-4.0, 4.0, n),))]
    if name == "acosh":
        return [("1 + log-uniform [1e-16, 1e300]", (1.0 + _loguniform(rng, n, 1e-16, 1e300, False),)),
                ("uniform [1, 4]", (u(1.0, 4.0, n),))]
    if name == "atanh":
        return [("uniform [-1, 1]", (u(-1.0, 1.0, n),)),
                ("near +-1", ((1.0 - _loguniform(rng, n, 1e-16, 0.5, False)) * rng.choice([-1.0, 1.0], n),)),
                ("log-uniform |x| in [1e-300, 0.5]", (_loguniform(rng, n, 1e-300, 0.5),))]
    if name == "cbrt":
        return [("all doubles (bits uniform, both signs)", (_all_doubles(rng, n),)),
                ("uniform [-10, 10]", (u(-10.0, 10.0, n),))]
    if name == "erf":
        return [("uniform [-6, 6]", (u(-6.0, 6.0, n),)),
                ("log-uniform |x| in [1e-300, 1]", (_loguniform(rng, n, 1e-300, 1.0),))]
    if name == "erfc":
        return [("uniform [-6, 27]", (u(-6.0, 27.0, n),)),
                ("uniform [-1, 1]", (u(-1.0, 1.0, n),))]
    if name == "pow":
        x1 = _loguniform(rng, n, 1e-3, 1e3, False)
        y1 = u(-100.0, 100.0, n)
        x2 = 1.0 + _loguniform(rng, n, 1e-15, 1e-2)
        y2 = u(-700.0, 700.0, n) / np.log(x2)
        x3 = -_loguniform(rng, n, 1e-2, 1e2, False)
        y3 = rng.integers(-100, 100, n).astype(np.float64)
        x4 = _loguniform(rng, n, 1e-300, 1e300, False)
        y4 = u(-700.0, 700.0, n) / np.log(x4)
        return [("x log-uniform [1e-3, 1e3], y u(-100, 100)", (x1, y1)),
                ("x = 1 +- [1e-15, 1e-2], |y log x| < 700 (hard)", (x2, y2)),
                ("x < 0, integer y in [-100, 100]", (x3, y3)),
                ("x log-uniform [1e-300, 1e300], |y log x| < 700", (x4, y4))]
    raise KeyError(name)


FUNCTIONS = ["exp", "expm1", "exp2", "log", "log1p", "log2", "log10", "pow", "sin", "cos",
             "tan", "atan", "atan2", "asin", "acos", "sinh", "cosh", "tanh", "asinh",
             "acosh", "atanh", "cbrt", "erf", "erfc"]

_NP = {"asin": "arcsin", "acos": "arccos", "atan": "arctan", "atan2": "arctan2",
       "asinh": "arcsinh", "acosh": "arccosh", "atanh": "arctanh", "pow": "power"}


def formula(name: str) -> str:
    if name == "pow":
        return "x**y"
    if name == "atan2":
        return "atan2(x, y)"
    return f"{name}(x)"


def reference_ld(name: str, args):
    """Reference in longdouble (None for erf/erfc: mpmath)."""
    if name in ("erf", "erfc"):
        return None
    fn = getattr(np, _NP.get(name, name))
    with np.errstate(all="ignore"):
        return fn(*(a.astype(LD) for a in args))


def reference_mp(name: str, args):
    import mpmath

    mpmath.mp.dps = 50
    fn = {"exp2": lambda x: mpmath.power(2, x), "log2": lambda x: mpmath.log(x, 2),
          "log10": mpmath.log10, "pow": mpmath.power, "atan2": mpmath.atan2,
          "cbrt": mpmath.cbrt}.get(name) or getattr(mpmath, name)
    out = np.empty(len(args[0]), dtype=LD)
    for i in range(len(args[0])):
        vals = [mpmath.mpf(float(a[i])) for a in args]
        if name == "cbrt" and vals[0] < 0:
            r = -mpmath.cbrt(-vals[0])
        else:
            r = fn(*vals)
        if isinstance(r, mpmath.mpc):
            r = mpmath.nan
        out[i] = LD(mpmath.nstr(r, 25)) if mpmath.isfinite(r) else LD(float(r))
        if out[i] == 0 and name in _ODD:  # mpmath has no signed zero
            out[i] = np.copysign(out[i], LD(float(args[0][i])))
    return out


#: Points whose error against the longdouble reference exceeds half an ulp are
#: measured again against mpmath (at most this many per range and dtype, the worst).
RECHECK = 4000


def recheck(name: str, args, y, ref, dtype):
    """``ref`` with mpmath values where the longdouble one says "over half an ulp".

    Near the poles of tan (x within 1e-10 of an odd multiple of pi/2, |x| up to 1e6),
    80-bit ``tanl`` itself is off by more than a float64 ulp, so a correctly rounded
    result looked 2 ulp wrong. A correct float64 result can be at most 0.5 ulp from the
    true value, so the points above 0.5 are the only ones whose reference matters;
    mpmath decides them. Returns (reference, number of points rechecked).
    """
    with np.errstate(over="ignore"):
        ref_d = ref.astype(dtype)
    finite = np.isfinite(ref_d) & (ref_d != 0)
    err = np.zeros(len(y), dtype=np.float64)
    spacing = np.spacing(np.abs(ref_d[finite])).astype(LD)
    err[finite] = (np.abs(y[finite].astype(LD) - ref[finite]) / spacing).astype(np.float64)
    idx = np.flatnonzero(err > 0.5)
    if not idx.size:
        return ref, 0
    idx = idx[np.argsort(err[idx])[-RECHECK:]]
    ref = ref.copy()
    ref[idx] = reference_mp(name, tuple(a[idx] for a in args))
    return ref, int(idx.size)


def ulp_errors(y, ref, dtype):
    """(max ulp error over finite references, special mismatches, count)."""
    with np.errstate(over="ignore"):  # references beyond float32's range become inf
        ref_d = ref.astype(dtype)
    finite = np.isfinite(ref_d) & (ref_d != 0)
    spacing = np.spacing(np.abs(ref_d[finite])).astype(LD)
    err = np.abs(y[finite].astype(LD) - ref[finite]) / spacing
    special = ~finite
    ys, rs = y[special], ref_d[special]
    same = (np.isnan(ys) & np.isnan(rs)) | ((ys == rs) & (np.signbit(ys) == np.signbit(rs)))
    return (float(err.max()) if err.size else 0.0), int((~same).sum()), int(finite.sum())


def evaluate(name: str, args, dtype: str):
    import symgrad

    f = symgrad.compile(formula(name), variables="x y" if len(args) == 2 else "x",
                        dtype=dtype, math="vector", parallel=False, tiered=False)
    return np.asarray(f(*(a.astype(dtype) for a in args)))


def special_mismatches(name: str) -> list[str]:
    """C99 Annex F special values: the kernel against NumPy's (libm's) float64."""
    import symgrad

    bad = []
    if name in ("pow", "atan2"):
        a, b = np.meshgrid(SPECIAL, SPECIAL)
        args = (a.ravel(), b.ravel())
    else:
        args = (SPECIAL,)
    y = evaluate(name, args, "float64")
    if name in ("erf", "erfc"):
        import math

        fn = np.vectorize(getattr(math, name))
        ref = fn(*args)
    else:
        with np.errstate(all="ignore"):
            ref = getattr(np, _NP.get(name, name))(*args)
    for i in range(len(y)):
        if np.isfinite(ref[i]) and ref[i] != 0 and np.isfinite(y[i]):
            # an ordinary value (erf(2), pow(2, 1), ...): within 2 ulp of libm
            same = abs(y[i] - ref[i]) <= 2 * np.spacing(abs(ref[i]))
        else:
            same = (np.isnan(y[i]) and np.isnan(ref[i])) or (
                y[i] == ref[i] and np.signbit(y[i]) == np.signbit(ref[i]))
        if not same:
            bad.append(f"{name}{tuple(float(a[i]) for a in args)} = {y[i]!r}, libm {ref[i]!r}")
    del symgrad
    return bad


def measure(n: int = 10**6, mp: int = 2000, dtypes=("float64", "float32"), functions=None,
            log=print):
    """Rows (function, dtype, range, max ulp, special mismatches, points, ref check)."""
    rows = []
    for name in functions or FUNCTIONS:
        for r_index, (label, args64) in enumerate(ranges(name, n, _rng(zlib.crc32(name.encode()) % 1000))):
            ld = reference_ld(name, args64)
            sub = slice(0, min(mp, n))
            sub_args = tuple(a[sub] for a in args64)
            mpref = reference_mp(name, sub_args) if (ld is None or mp) else None
            check = ""
            if ld is not None and mpref is not None:
                fin = np.isfinite(mpref) & (mpref != 0)
                d = np.abs(ld[sub][fin] - mpref[fin]) / np.spacing(
                    np.abs(mpref[fin].astype(np.float64))).astype(LD)
                check = f"{float(d.max()) if d.size else 0.0:.3f}"
            for dtype in dtypes:
                with np.errstate(over="ignore"):  # float64 arguments beyond float32
                    args = tuple(a.astype(dtype).astype(np.float64) for a in args64)
                if dtype == "float32" and name in ("exp", "sinh", "cosh", "exp2", "pow") and r_index:
                    continue  # float64-only ranges (beyond float32's exponent range)
                if ld is None:
                    ref, used = reference_mp(name, tuple(a[sub] for a in args)), sub
                else:
                    ref, used = (reference_ld(name, args) if dtype == "float32" else ld), slice(None)
                y = evaluate(name, tuple(a[used] for a in args), dtype)
                if dtype == "float32":
                    ref = ref.astype(LD)
                if ld is not None:
                    ref, _ = recheck(name, tuple(a[used] for a in args), y, ref, np.dtype(dtype))
                err, spec, count = ulp_errors(y, ref, np.dtype(dtype))
                rows.append((name, dtype, label, err, spec, count,
                             check if dtype == "float64" else ""))
                log(f"{name:6s} {dtype} {label:55s} {err:8.3f} ulp  special-mismatch {spec}"
                    f"  n={count}  ref-check {check}")
    return rows


def _cpu() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        model = next((ln.split(":", 1)[1].strip() for ln in out.splitlines()
                      if ln.lower().startswith("model name")), platform.processor())
        flags = next((ln for ln in out.splitlines() if ln.lower().startswith("flags")), "")
        simd = [f for f in ("avx2", "avx512f", "fma") if f" {f}" in flags]
        return f"{model} ({', '.join(simd)})"
    except OSError:
        return platform.processor()


def write_table(rows, path: Path, n: int, mp: int, seconds: float, specials: list[str]):
    lines = [
        "# Accuracy of symgrad's vector math (`math=\"vector\"`)",
        "",
        f"Generated by `python -m benchmarks.accuracy --n {n}` in {seconds:.0f} s on "
        f"{_cpu()}. Errors in ulps of the dtype, the largest over each range; every "
        "argument goes through a compiled symgrad kernel (trigonometric arguments beyond "
        "1e6 take its libm pass). Reference: NumPy longdouble (80-bit) ufuncs on all "
        f"points, and mpmath (50 digits) for every point (up to the {RECHECK} worst per "
        "range) that the longdouble reference puts more than 0.5 ulp off; erf/erfc: "
        f"mpmath on {mp} points per range. 'ref check': largest "
        f"difference between the longdouble reference and mpmath (50 digits) on {mp} "
        "points of the range, in float64 ulps. 'special': results that should be "
        "exactly NaN/inf/0 (with the sign of zero) but are not. Targets (float64): "
        "<= 1 ulp for exp, log, sin, cos, tan, atan, pow; <= 2 ulp for the others. "
        "float32 kernels compute in float64 and round.",
        "",
        "| function | dtype | range | max ulp | target | special | points | ref check |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for name, dtype, label, err, spec, count, check in rows:
        target = (1.0 if name in TARGET_1ULP else 2.0) if dtype == "float64" else 1.0
        flag = "" if err <= target else " **(over)**"
        lines.append(f"| {name} | {dtype} | {label} | {err:.3f}{flag} | {target:g} | {spec} | "
                     f"{count} | {check} |")
    lines += ["", "## Special values (C99 Annex F) against libm (NumPy float64)", ""]
    lines += [f"- {s}" for s in specials] or ["- all match (0, -0, +-inf, NaN, +-1, +-5e-324, 2 "
                                              "and every pair of them for pow/atan2)"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=10**6, help="arguments per range")
    ap.add_argument("--mp", type=int, default=2000, help="mpmath points per range")
    ap.add_argument("--functions", nargs="*", default=None)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "accuracy.md"))
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    rows = measure(a.n, a.mp, functions=a.functions)
    specials = [s for name in (a.functions or FUNCTIONS) for s in special_mismatches(name)]
    for s in specials:
        print("special:", s)
    write_table(rows, Path(a.out), a.n, a.mp, time.perf_counter() - t0, specials)
    print(f"wrote {a.out} ({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
