"""Numeric limits shared by the function registry and the kernels' runtime (no SymPy).

Kept apart so that ``symgrad._runtime`` (imported by every generated kernel) loads
without the registry, which imports SymPy.
"""

from __future__ import annotations

__all__ = ["MAX_POLYGAMMA_ORDER", "MAX_SINC_ORDER"]

#: Highest polygamma order the kernels implement (``symgrad._runtime.sg_polygamma``):
#: derivatives of gamma/loggamma up to order 11.
MAX_POLYGAMMA_ORDER = 10

#: Highest derivative order of ``sinc`` the kernels implement (``sinc_deriv(n, x)``,
#: ``symgrad._runtime.sg_sinc_deriv``).
MAX_SINC_ORDER = 10
