"""Layer contracts, read from every module's import statements (``ast``, lazy imports included).

- The layer order (:data:`LAYERS`, mirrored in docs/architecture.md's "Layers" table): a module
  imports modules of its own layer and of the layers below it, never one above, not even
  inside a function. The exceptions are listed in :data:`EXCEPTIONS`, each with its reason.
- The deploy path (``mtl_edge.deploy``, ``mtl_edge.runtime``, the backends table and its
  ONNX Runtime and TensorRT backends) imports nothing of the [train] extra (torch,
  torchvision, onnx, ...), nor training, models, datasets or the scene generator, not even
  inside a function. The deploy layer imports only itself and the file helpers.
- No import cycles between modules, neither at import time (module-level imports) nor
  through the imports functions make when they run, and none between the parts the layer
  table names (e.g. ``runtime`` and ``export``, which share a layer). Imports under
  ``if TYPE_CHECKING:`` never run and do not count as edges.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from mtl_edge.extras import TRAIN_MODULES

ROOT = Path(__file__).resolve().parents[1] / "mtl_edge"
ARCHITECTURE = ROOT.parent / "docs" / "architecture.md"

#: The layers, top to bottom, and the modules (dotted prefixes) in each. A module belongs to the
#: layer of its longest matching prefix (``mtl_edge.models.loading`` is in "recipes", the rest of
#: ``mtl_edge.models`` in "models"); the package root ``mtl_edge`` matches only itself.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    # The package root re-exports the public API (``mtl_edge.Runtime``, ``mtl_edge.export``, lazily), so it
    # sits on top; ``__version__`` lives in ``mtl_edge.version`` for the layers below.
    ("cli", ("mtl_edge", "mtl_edge.cli", "mtl_edge.__main__")),
    ("commands", ("mtl_edge.doctor", "mtl_edge.profile", "mtl_edge.demo", "mtl_edge.info")),
    ("jobs", ("mtl_edge.runtime", "mtl_edge.export", "mtl_edge.train")),
    ("evaluation", ("mtl_edge.evaluate", "mtl_edge.losses", "mtl_edge.yolop_protocol")),
    ("backends", ("mtl_edge.backends",)),
    # A recipe is made of the settings each backbone and head declares in its own file, so it
    # sits above the models; building a checkpoint's network from its recipe sits above both.
    ("recipes", ("mtl_edge.config", "mtl_edge.models.loading")),
    ("models", ("mtl_edge.models",)),
    ("data", ("mtl_edge.data", "mtl_edge.metrics")),
    (
        "utility",
        (
            "mtl_edge.version",
            "mtl_edge.checkpoint",
            "mtl_edge.extras",
            "mtl_edge.assets",
            "mtl_edge.progress",
        ),
    ),
    ("deploy", ("mtl_edge.deploy",)),
    # Crash-safe file writing imports nothing of mtl_edge; the deploy layer's video writer uses it.
    ("files", ("mtl_edge.fileio",)),
)
#: Upward imports allowed anyway: (importer, imported) -> why. A stale entry fails the tests.
EXCEPTIONS: dict[tuple[str, str], str] = {
    # None today: the package root, whose lazy ``mtl_edge.Runtime`` re-export was one, is in the top
    # layer since ``__version__`` moved to ``mtl_edge.version`` (issue 31).
}

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
    "mtl_edge.losses",
    "mtl_edge.export.onnx",
)
#: mtl_edge modules each deploy-path layer may import (besides the standard library and the base install).
ALLOWED_INTERNAL = {
    "mtl_edge.deploy": ("mtl_edge.deploy", "mtl_edge.fileio"),
    "mtl_edge.backends": ("mtl_edge.deploy", "mtl_edge.backends", "mtl_edge.fileio"),
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
    assert {"mtl_edge.backends.trt.runner", "mtl_edge.backends.trt.build", "mtl_edge.backends.trt.cuda"} <= set(
        DEPLOY_MODULES
    )


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


# --- the layer order -----------------------------------------------------------------------------------------

PACKAGE = "mtl_edge"


def _part(module: str) -> tuple[int, str] | None:
    """(layer index, the LAYERS prefix ``module`` falls under), by longest prefix; None when it has no layer."""
    found = [
        (len(prefix), i, prefix)
        for i, (_, prefixes) in enumerate(LAYERS)
        for prefix in prefixes
        if module == prefix or (prefix != PACKAGE and module.startswith(prefix + "."))
    ]
    return max(found)[1:] if found else None


def _upward(module: str) -> list[str]:
    """The imports of ``module`` (run-time ones: eager or lazy) that reach a layer above its own."""
    here = _part(module)
    assert here is not None
    return sorted(
        {
            target
            for target, when in _imports(module)
            if when != TYPING
            and (target == PACKAGE or target.startswith(PACKAGE + "."))
            and (there := _part(target)) is not None
            and there[0] < here[0]
        }
    )


def test_every_module_has_a_layer_and_every_layer_entry_names_modules():
    assert not [m for m in MODULES if _part(m) is None], "add these modules to LAYERS (and docs/architecture.md)"
    prefixes = [p for _, ps in LAYERS for p in ps]
    assert len(prefixes) == len(set(prefixes))
    assert not [p for p in prefixes if not any(m == p or m.startswith(p + ".") for m in MODULES)]


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_imports_from_a_layer_above_its_own(module):
    layer = LAYERS[_part(module)[0]][0]
    above = [t for t in _upward(module) if (module, t) not in EXCEPTIONS]
    assert not above, f"{module} ({layer} layer) imports {above}, from layers above it: " + ", ".join(
        f"{t} is in {LAYERS[_part(t)[0]][0]}" for t in above
    )


def test_every_exception_is_still_needed():
    assert not [(m, t) for m, t in EXCEPTIONS if t not in _upward(m)], "remove the stale EXCEPTIONS entries"


def test_no_cycles_between_the_parts_of_the_layer_table():
    """E.g. runtime and export share a layer, so either may import the other, but not both."""
    graph: dict[str, set[str]] = {p: set() for _, ps in LAYERS for p in ps}
    for module in MODULES:
        for target, when in _imports(module):
            if when == TYPING or (module, target) in EXCEPTIONS or _part(target) is None:
                continue
            if not (target == PACKAGE or target.startswith(PACKAGE + ".")):
                continue
            a, b = _part(module)[1], _part(target)[1]
            if a != b:
                graph[a].add(b)
    assert not _cycles(graph)


def test_the_architecture_doc_mirrors_the_layer_table():
    """docs/architecture.md's "Layers" table: the same layers in the same order, each naming its modules."""
    text = ARCHITECTURE.read_text(encoding="utf-8").split("## Layers", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|") for line in text.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert [row[1].strip() for row in rows] == [name for name, _ in LAYERS]
    for row, (name, prefixes) in zip(rows, LAYERS):
        paths = set(re.findall(r"`([^`]+)`", row[2]))
        for prefix in prefixes:
            path = prefix.replace(".", "/")
            assert {f"{path}/", f"{path}.py", f"{path}/__init__.py"} & paths, f"{name}: {prefix} missing in {row[2]}"
