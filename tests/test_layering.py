"""Imports flow one way: each module imports only earlier stages, never the package root.

The stages, earliest first (a package counts as one stage; its modules may import
each other). ``symgrad/__init__.py`` is the public facade and may name anything, lazily.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "symgrad"

STAGES = [
    "errors",
    "_version",
    "_limits",  # numeric limits of the kernels (no SymPy)
    "_threads",  # the thread pool and fork safety: imports no other stage
    "sympy_functions",
    "functions",  # the function registry
    "parse",
    "derive",
    "outputs",  # the output-kind registry
    "program",
    "codegen",
    "_runtime",
    "vecmath",  # branch-free vector math for kernels (math="vector"): imports no stage
    "_cachedir",
    "kernel",
    "request_cache",  # the persistent request cache (formula string -> kernel source)
    "backends",
    "options",
    "_bind",
    "optimize",
    "arrays",  # dask and xarray inputs (imports neither library until one is passed)
    "evaluator",
    "indexed",  # indexed formulas: sums, arrays, loop kernels (its own evaluator)
    "api",
    "validate",
    "cli",
    "__main__",
]


def _stage_of(module: str) -> str:
    """'symgrad.parse.scanner' -> 'parse'."""
    return module.split(".")[1]


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def symgrad_imports(source: str, module: str, is_package: bool) -> list[tuple[str, int]]:
    """Every symgrad module that ``source`` imports (at any depth), with line numbers.

    ``from . import name`` resolves to the submodule ``name`` when it exists, else to
    the package root (an import of the facade, which is what we forbid).
    """
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names if a.name.split(".")[0] == "symgrad"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "symgrad":
                continue
            if node.module is None or target == "symgrad":
                for alias in node.names:
                    candidate = f"{target}.{alias.name}"
                    sub = PACKAGE.parent / Path(*candidate.split("."))
                    exists = sub.with_suffix(".py").exists() or (sub / "__init__.py").exists()
                    found.append((candidate if exists else target, node.lineno))
            else:
                found.append((target, node.lineno))
    return found


def violations(source: str, module: str, is_package: bool = False) -> list[str]:
    """Upward imports and imports of the package root in one module's source."""
    own = _stage_of(module)
    rank = STAGES.index(own)
    bad = []
    for target, line in symgrad_imports(source, module, is_package):
        if target == "symgrad":
            bad.append(f"{module}:{line} imports the package root")
            continue
        stage = _stage_of(target)
        if stage not in STAGES:
            bad.append(f"{module}:{line} imports {target}, which has no stage in STAGES")
        elif STAGES.index(stage) > rank:
            bad.append(f"{module}:{line} imports {target}, a later stage than {own}")
    return bad


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == PACKAGE / "__init__.py":
            continue
        yield path


@pytest.mark.parametrize("path", list(_modules()), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_flow_one_way(path):
    module = _module_name(path)
    assert _stage_of(module) in STAGES, f"add {module} to STAGES in the right place"
    assert violations(path.read_text(), module, path.name == "__init__.py") == []


def test_every_stage_exists():
    for stage in STAGES:
        assert (PACKAGE / f"{stage}.py").exists() or (PACKAGE / stage / "__init__.py").exists()


def test_the_check_catches_upward_and_root_imports():
    # What the test above would report if codegen imported the evaluator, or the
    # kernel cache read the version from the package root.
    assert violations("from .evaluator import Evaluator\n", "symgrad.codegen") == [
        "symgrad.codegen:1 imports symgrad.evaluator, a later stage than codegen"
    ]
    assert violations("def f():\n    from . import __version__\n", "symgrad.kernel") == [
        "symgrad.kernel:2 imports the package root"
    ]
    assert violations("import symgrad.api\n", "symgrad.derive") == [
        "symgrad.derive:1 imports symgrad.api, a later stage than derive"
    ]
    assert violations("from ..errors import InputError\n", "symgrad.parse.scanner") == []
    assert violations("from .. import api\n", "symgrad.backends.numba_cpu") == [
        "symgrad.backends.numba_cpu:1 imports symgrad.api, a later stage than backends"
    ]
