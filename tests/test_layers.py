"""Layer contracts, read from every module's import statements (``ast``, lazy imports included).

- The deploy path (``mtl_edge.deploy``, ``mtl_edge.runtime``, the backends table and its
  ONNX Runtime and TensorRT backends) imports nothing of the [train] extra (torch,
  torchvision, onnx, ...), nor training, models, datasets or the scene generator, not even
  inside a function. The deploy layer imports only itself.
- No import cycles between modules, neither at import time (module-level imports) nor
  through the imports functions make when they run. Imports under ``if TYPE_CHECKING:``
  never run and do not count as edges.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from mtl_edge.extras import TRAIN_MODULES

ROOT = Path(__file__).resolve().parents[1] / "mtl_edge"

#: Modules of the deploy path: what `pip install mtl-edge` must be able to import and run.
DEPLOY_PATH = ("mtl_edge.deploy", "mtl_edge.runtime", "mtl_edge.backends")
#: Backends that are not on the deploy path (they need the [train] extra).
OFF_DEPLOY_PATH = ("mtl_edge.backends.torch",)
#: mtl_edge modules the deploy path must never import.
FORBIDDEN_INTERNAL = (
    "mtl_edge.train",
    "mtl_edge.models",
    "mtl_edge.data",
    "mtl_edge.evaluate",
    "mtl_edge.metrics",
    "mtl_edge.config",
    "mtl_edge.checkpoint",
    "mtl_edge.glimpse_fit",
    "mtl_edge.losses",
    "mtl_edge.export.onnx",
)
#: mtl_edge modules each deploy-path layer may import (besides the standard library and the base install).
ALLOWED_INTERNAL = {
    "mtl_edge.deploy": ("mtl_edge.deploy",),
    "mtl_edge.backends": (
        "mtl_edge.deploy",
        "mtl_edge.backends",
        "mtl_edge.export.engine_file",
        "mtl_edge.export.tensorrt",
        "mtl_edge.fileio",
    ),
    "mtl_edge.runtime": ("mtl_edge.deploy", "mtl_edge.backends", "mtl_edge.runtime", "mtl_edge.fileio"),
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The modules an import statement names (``from pkg import sub`` names ``pkg.sub`` when that is a module)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        package = module if MODULES[module].name == "__init__.py" else module.rsplit(".", 1)[0]
        base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
        base = f"{base}.{node.module}" if node.module else base
    else:
        base = node.module or ""
    subs = [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in MODULES]
    return subs or [base]


EAGER, LAZY, TYPING = "eager", "lazy", "typing"  # at import time; when a function runs; never


def _imports(module: str) -> list[tuple[str, str]]:
    """(imported module, EAGER / LAZY / TYPING) for every import statement of ``module``."""
    found: list[tuple[str, str]] = []

    def visit(node: ast.AST, when: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                found.extend((target, when) for target in _targets(module, child))
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                visit(child, LAZY if when == EAGER else when)
            elif isinstance(child, ast.If) and _is_type_checking(child.test):
                for part in child.body:
                    visit(ast.Module(body=[part], type_ignores=[]), TYPING)
                for part in child.orelse:
                    visit(ast.Module(body=[part], type_ignores=[]), when)
            else:
                visit(child, when)

    visit(ast.parse(MODULES[module].read_text(encoding="utf-8")), EAGER)
    return found


DEPLOY_MODULES = [m for m in MODULES if _within(m, DEPLOY_PATH) and not _within(m, OFF_DEPLOY_PATH)]


def test_the_deploy_path_is_found():
    assert {"mtl_edge.deploy.results", "mtl_edge.runtime.api", "mtl_edge.backends.ort"} <= set(DEPLOY_MODULES)
    assert {"mtl_edge.backends.trt", "mtl_edge.backends"} <= set(DEPLOY_MODULES)


@pytest.mark.parametrize("module", DEPLOY_MODULES)
def test_deploy_path_imports_no_training_side(module):
    bad = [
        target
        for target, _ in _imports(module)
        if target.split(".")[0] in TRAIN_MODULES or _within(target, FORBIDDEN_INTERNAL + OFF_DEPLOY_PATH)
    ]
    assert not bad, f"{module} imports {bad}: the deploy path must run from `pip install mtl-edge` (no torch)"


@pytest.mark.parametrize("module", DEPLOY_MODULES)
def test_deploy_path_imports_only_from_its_own_layer_or_below(module):
    layer = next(p for p in ALLOWED_INTERNAL if _within(module, (p,)))
    internal = [t for t, _ in _imports(module) if t.startswith("mtl_edge.")]
    above = [t for t in internal if not _within(t, ALLOWED_INTERNAL[layer])]
    assert not above, f"{module} ({layer} layer) imports {above}"


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            connect(v)
    return found


@pytest.mark.parametrize("kinds", [(EAGER,), (EAGER, LAZY)], ids=["import-time", "with-lazy-imports"])
def test_no_import_cycles(kinds):
    graph = {m: {t for t, when in _imports(m) if when in kinds and t in MODULES and t != m} for m in MODULES}
    assert not _cycles(graph)


def test_the_cycle_finder_finds_cycles():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
