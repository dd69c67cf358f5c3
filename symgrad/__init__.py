"""symgrad: formula strings to exact, fast, compiled derivatives.

>>> import numpy as np, symgrad
>>> f = symgrad.compile("sin(x)*cos(y) + exp(-(x**2 + y**2)/2)")
>>> x, y = np.meshgrid(np.linspace(-1, 1, 5), np.linspace(-1, 1, 4))
>>> f.gradient(x, y).shape    # x.shape + (2,)
(4, 5, 2)

The public API is re-exported here. Submodules load lazily, so ``import symgrad``
costs almost nothing: SymPy loads on the first ``compile``, numba on the first
evaluation.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

# name -> submodule that defines it
_EXPORTS = {
    "compile": "api",
    "gradient": "api",
    "hessian": "api",
    "jacobian": "api",
    "Evaluator": "evaluator",
    "SparseHessian": "evaluator",
    "IndexedEvaluator": "indexed.evaluator",
    "check": "validate",
    "check_points": "validate",
    "ValidationReport": "validate",
    "diagnose_gradient": "validate",
    "GradientDiagnosis": "validate",
    "Formula": "parse",
    "cache_dir": "kernel",
    "clear_cache": "kernel",
    "SymgradError": "errors",
    "ParseError": "errors",
    "UnsupportedFunctionError": "errors",
    "InputError": "errors",
    "CompilationError": "errors",
    "ValidationError": "errors",
    "SymgradWarning": "errors",
    "Options": "options",
    "OUTPUTS": "outputs",
}

__all__ = ["__version__", *_EXPORTS]  # noqa: PLE0604 (the keys are str)

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from .api import compile as compile
    from .api import gradient as gradient
    from .api import hessian as hessian
    from .api import jacobian as jacobian
    from .errors import CompilationError as CompilationError
    from .errors import InputError as InputError
    from .errors import ParseError as ParseError
    from .errors import SymgradError as SymgradError
    from .errors import SymgradWarning as SymgradWarning
    from .errors import UnsupportedFunctionError as UnsupportedFunctionError
    from .errors import ValidationError as ValidationError
    from .evaluator import Evaluator as Evaluator
    from .evaluator import SparseHessian as SparseHessian
    from .indexed.evaluator import IndexedEvaluator as IndexedEvaluator
    from .kernel import cache_dir as cache_dir
    from .kernel import clear_cache as clear_cache
    from .options import Options as Options
    from .outputs import OUTPUTS as OUTPUTS
    from .parse import Formula as Formula
    from .validate import GradientDiagnosis as GradientDiagnosis
    from .validate import ValidationReport as ValidationReport
    from .validate import check as check
    from .validate import check_points as check_points
    from .validate import diagnose_gradient as diagnose_gradient


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'symgrad' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
