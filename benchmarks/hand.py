"""Hand-written numba kernels: the derivatives written out by hand (the practical limit).

Every kernel loops over points with ``prange`` (``kernel_par``) or ``range``
(``kernel_ser``, used below ``SERIAL_BELOW`` points, the same threshold symgrad uses),
is compiled with ``error_model="numpy"``, shares subexpressions between the entries it
writes, and writes symgrad's layout: one contiguous row per component, ``(rows, N)``;
the Hessian dense ``(n*n, N)`` row-major with both symmetric entries written.

Rosenbrock (P2) is sparse-aware: only the 3n-2 nonzeros of its tridiagonal Hessian are
computed and written; the other rows come from ``np.zeros`` (calloc, untouched pages),
exactly what symgrad does. Layout compared: dense ``(n*n, N)`` with zeros present.

The input is one ``(n, N)`` C-contiguous array (row k = variable k), the same memory as
symgrad's n separate 1-D arrays. ``cache=True``: the second process loads the machine
code (the hand column's "warm start"); the benchmark points ``NUMBA_CACHE_DIR`` at a
per-run directory so a cold build is really cold.
"""

from __future__ import annotations

import math
import types

import numpy as np
from numba import njit, prange

SERIAL_BELOW = 4096
_OPTS = dict(cache=True, error_model="numpy", nogil=True, boundscheck=False)


def _pair(py):
    """A parallel and a serial compiled copy of ``py`` (the loop is ``prange``).

    The serial copy is a clone with its own ``__qualname__``: numba's disk cache is keyed
    by qualname and signature, not by the ``parallel`` flag, so one function compiled
    both ways would share (and clobber) one cache entry.
    """
    ser = types.FunctionType(py.__code__, py.__globals__, py.__name__ + "_serial")
    ser.__qualname__ = py.__qualname__ + "_serial"
    return njit(parallel=True, **_OPTS)(py), njit(parallel=False, **_OPTS)(ser)


# --------------------------------------------------------------------------- P1
# f = sin(x) cos(y) + e,  e = exp(-(x^2 + y^2)/2)


def _p1_value(X, out):
    for i in prange(X.shape[1]):
        x = X[0, i]
        y = X[1, i]
        out[0, i] = math.sin(x) * math.cos(y) + math.exp(-0.5 * (x * x + y * y))


def _p1_gradient(X, out):
    for i in prange(X.shape[1]):
        x = X[0, i]
        y = X[1, i]
        e = math.exp(-0.5 * (x * x + y * y))
        out[0, i] = math.cos(x) * math.cos(y) - x * e
        out[1, i] = -math.sin(x) * math.sin(y) - y * e


def _p1_hessian(X, out):
    for i in prange(X.shape[1]):
        x = X[0, i]
        y = X[1, i]
        e = math.exp(-0.5 * (x * x + y * y))
        sc = math.sin(x) * math.cos(y)
        xy = x * y * e - math.cos(x) * math.sin(y)
        out[0, i] = (x * x - 1.0) * e - sc
        out[1, i] = xy
        out[2, i] = xy
        out[3, i] = (y * y - 1.0) * e - sc


# --------------------------------------------------------------------------- P2
# f = sum_k 100 (x_{k+1} - x_k^2)^2 + (1 - x_k)^2


def _p2_value(X, out):
    n = X.shape[0]
    for i in prange(X.shape[1]):
        acc = 0.0
        xk = X[0, i]
        for k in range(n - 1):
            xk1 = X[k + 1, i]
            d = xk1 - xk * xk
            m = 1.0 - xk
            acc += 100.0 * d * d + m * m
            xk = xk1
        out[0, i] = acc


def _p2_gradient(X, out):
    n = X.shape[0]
    for i in prange(X.shape[1]):
        prev = 0.0  # 200 (x_k - x_{k-1}^2), the term from the previous summand
        xk = X[0, i]
        for k in range(n - 1):
            xk1 = X[k + 1, i]
            d = xk1 - xk * xk
            out[k, i] = prev - 400.0 * xk * d - 2.0 * (1.0 - xk)
            prev = 200.0 * d
            xk = xk1
        out[n - 1, i] = prev


def _p2_hessian(X, out):
    # Tridiagonal: only 3n-2 entries written; out comes zeroed.
    n = X.shape[0]
    for i in prange(X.shape[1]):
        dprev = 0.0
        xk = X[0, i]
        for k in range(n - 1):
            xk1 = X[k + 1, i]
            out[k * n + k, i] = dprev + 1200.0 * xk * xk - 400.0 * xk1 + 2.0
            off = -400.0 * xk
            out[k * n + k + 1, i] = off
            out[(k + 1) * n + k, i] = off
            dprev = 200.0
            xk = xk1
        out[n * n - 1, i] = 200.0


# --------------------------------------------------------------------------- P3
# f = E C + L A + R H with
#   E = exp(-a x^2), C = cos(u), u = b y + c z          (E on a,x; C on b,c,y,z)
#   L = log(q), q = 1 + x^2 + y^2 + z^2, A = atan(a b)   (A on a,b; L on x,y,z)
#   R = sqrt(1 + w^2), w = a x - b y, H = tanh(c z)      (R on a,b,x,y; H on c,z)
# Variables in order a b c x y z (rows 0..5).


def _p3_value(X, out):
    for i in prange(X.shape[1]):
        a = X[0, i]
        b = X[1, i]
        c = X[2, i]
        x = X[3, i]
        y = X[4, i]
        z = X[5, i]
        w = a * x - b * y
        out[0, i] = (
            math.exp(-a * x * x) * math.cos(b * y + c * z)
            + math.log(1.0 + x * x + y * y + z * z) * math.atan(a * b)
            + math.sqrt(1.0 + w * w) * math.tanh(c * z)
        )


def _p3_gradient(X, out):
    for i in prange(X.shape[1]):
        a = X[0, i]
        b = X[1, i]
        c = X[2, i]
        x = X[3, i]
        y = X[4, i]
        z = X[5, i]
        E = math.exp(-a * x * x)
        u = b * y + c * z
        C = math.cos(u)
        ES = -E * math.sin(u)  # E * dC/du
        iq = 1.0 / (1.0 + x * x + y * y + z * z)
        L = -math.log(iq)
        p = a * b
        A = math.atan(p)
        iD = L / (1.0 + p * p)  # L * dA/dp
        w = a * x - b * y
        R = math.sqrt(1.0 + w * w)
        v = c * z
        H = math.tanh(v)
        RwH = w / R * H  # H * dR/dw
        RH1 = R * (1.0 - H * H)  # R * dH/dv
        A2iq = 2.0 * A * iq
        EC = E * C
        out[0, i] = -x * x * EC + b * iD + x * RwH
        out[1, i] = y * ES + a * iD - y * RwH
        out[2, i] = z * ES + z * RH1
        out[3, i] = -2.0 * a * x * EC + x * A2iq + a * RwH
        out[4, i] = b * ES + y * A2iq - b * RwH
        out[5, i] = c * ES + z * A2iq + c * RH1


def _p3_hessian(X, out):
    for i in prange(X.shape[1]):
        a = X[0, i]
        b = X[1, i]
        c = X[2, i]
        x = X[3, i]
        y = X[4, i]
        z = X[5, i]
        # E(a, x)
        x2 = x * x
        E = math.exp(-a * x2)
        Ea = -x2 * E
        Ex = -2.0 * a * x * E
        Eaa = x2 * x2 * E
        Eax = (2.0 * a * x2 - 2.0) * x * E
        Exx = (4.0 * a * a * x2 - 2.0 * a) * E
        # C(b, c, y, z) = cos(u), u_b = y, u_c = z, u_y = b, u_z = c
        u = b * y + c * z
        C = math.cos(u)
        S = math.sin(u)
        Cb = -y * S
        Cc = -z * S
        Cy = -b * S
        Cz = -c * S
        # L(x, y, z) = log q
        iq = 1.0 / (1.0 + x2 + y * y + z * z)
        L = -math.log(iq)
        Lx = 2.0 * x * iq
        Ly = 2.0 * y * iq
        Lz = 2.0 * z * iq
        iq2 = 2.0 * iq
        # A(a, b) = atan(a b)
        p = a * b
        iD = 1.0 / (1.0 + p * p)
        A = math.atan(p)
        Aa = b * iD
        Ab = a * iD
        p2 = 2.0 * p * iD * iD
        Aaa = -b * b * p2
        Abb = -a * a * p2
        Aab = iD - p * p2
        # R(a, b, x, y) = sqrt(1 + w^2), w_a = x, w_b = -y, w_x = a, w_y = -b
        w = a * x - b * y
        R = math.sqrt(1.0 + w * w)
        iR = 1.0 / R
        Rw = w * iR
        Rww = iR * iR * iR
        Ra = Rw * x
        Rb = -Rw * y
        Rx = Rw * a
        Ry = -Rw * b
        # H(c, z) = tanh(c z)
        v = c * z
        H = math.tanh(v)
        H1 = 1.0 - H * H
        H2 = -2.0 * H * H1
        Hc = H1 * z
        Hz = H1 * c
        RwwH = Rww * H
        EC = E * C
        ES = E * S
        # rows: a=0 b=1 c=2 x=3 y=4 z=5; entry (i, j) in row 6 i + j
        h = Eaa * C + Aaa * L + RwwH * x2
        out[0, i] = h
        h = Ea * Cb + Aab * L - RwwH * x * y
        out[1, i] = h
        out[6, i] = h
        h = Ea * Cc + Ra * Hc
        out[2, i] = h
        out[12, i] = h
        h = Eax * C + Aa * Lx + (Rww * x * a + Rw) * H
        out[3, i] = h
        out[18, i] = h
        h = Ea * Cy + Aa * Ly - RwwH * x * b
        out[4, i] = h
        out[24, i] = h
        h = Ea * Cz + Aa * Lz + Ra * Hz
        out[5, i] = h
        out[30, i] = h
        out[7, i] = -y * y * EC + Abb * L + RwwH * y * y
        h = -y * z * EC + Rb * Hc
        out[8, i] = h
        out[13, i] = h
        h = Ex * Cb + Ab * Lx - RwwH * y * a
        out[9, i] = h
        out[19, i] = h
        h = -(y * b * EC + ES) + Ab * Ly + (Rww * y * b - Rw) * H
        out[10, i] = h
        out[25, i] = h
        h = -y * c * EC + Ab * Lz + Rb * Hz
        out[11, i] = h
        out[31, i] = h
        out[14, i] = -z * z * EC + R * H2 * z * z
        h = Ex * Cc + Rx * Hc
        out[15, i] = h
        out[20, i] = h
        h = -z * b * EC + Ry * Hc
        out[16, i] = h
        out[26, i] = h
        h = -(z * c * EC + ES) + R * (H2 * z * c + H1)
        out[17, i] = h
        out[32, i] = h
        out[21, i] = Exx * C + A * (iq2 - Lx * Lx) + RwwH * a * a
        h = Ex * Cy - A * Lx * Ly - RwwH * a * b
        out[22, i] = h
        out[27, i] = h
        h = Ex * Cz - A * Lx * Lz + Rx * Hz
        out[23, i] = h
        out[33, i] = h
        out[28, i] = -b * b * EC + A * (iq2 - Ly * Ly) + RwwH * b * b
        h = -b * c * EC - A * Ly * Lz + Ry * Hz
        out[29, i] = h
        out[34, i] = h
        out[35, i] = -c * c * EC + A * (iq2 - Lz * Lz) + R * H2 * c * c


_PY = {
    ("P1", "value"): _p1_value,
    ("P1", "gradient"): _p1_gradient,
    ("P1", "hessian"): _p1_hessian,
    ("P2", "value"): _p2_value,
    ("P2", "gradient"): _p2_gradient,
    ("P2", "hessian"): _p2_hessian,
    ("P3", "value"): _p3_value,
    ("P3", "gradient"): _p3_gradient,
    ("P3", "hessian"): _p3_hessian,
}
_COMPILED: dict = {}


def _vector_math():
    """A stand-in for ``math`` whose exp/log/sin/... are symgrad.vecmath's branch-free
    functions (what ``math="vector"`` kernels call), sqrt stays the hardware one."""
    from symgrad import vecmath as vm

    mod = types.ModuleType("hand_vector_math")
    for name in ("exp", "log", "sin", "cos", "tan", "atan", "tanh", "sinh", "cosh"):
        setattr(mod, name, getattr(vm, f"vm_{name}"))
    mod.sqrt = math.sqrt
    return mod


def _vector_clone(py):
    """``py`` with ``math.*`` resolved to the vector math (own name: own cache entry)."""
    fn = types.FunctionType(py.__code__, {**py.__globals__, "math": _vector_math()},
                            py.__name__ + "_vec")
    fn.__qualname__ = py.__qualname__ + "_vec"
    return fn


def kernels(problem: str, op: str, vector: bool = False):
    """(parallel, serial) numba dispatchers for a problem name and op (lazily jitted).

    ``vector``: the same kernel with symgrad.vecmath in place of libm (the hand column
    with the vector math); P2 has no transcendental functions and is unchanged.
    """
    vector = vector and problem != "P2"
    key = (problem, op, vector)
    if key not in _COMPILED:
        py = _PY[(problem, op)]
        _COMPILED[key] = _pair(_vector_clone(py) if vector else py)
    return _COMPILED[key]


def zero_filled(problem: str, op: str) -> bool:
    """Whether the kernel leaves entries unwritten (its output must start zeroed)."""
    return problem == "P2" and op == "hessian"


def make(problem: str, n: int, op: str, vector: bool = False):
    """``fn(X) -> (rows, N)`` array: allocate, then run the parallel or serial kernel."""
    par, ser = kernels(problem, op, vector)
    rows = {"value": 1, "gradient": n, "hessian": n * n}[op]
    alloc = np.zeros if zero_filled(problem, op) else np.empty

    def fn(X):
        N = X.shape[1]
        out = alloc((rows, N))
        (par if N >= SERIAL_BELOW else ser)(X, out)
        return out

    return fn
