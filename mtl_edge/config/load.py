"""Recipe files and plain data in, checked ``Recipe`` out (and back): the entry points.

Data paths are kept as written; relative ones are resolved against the current working
directory (run ``mtl-edge`` from the repository root, as the README's commands do), not
against the recipe file's folder.
"""

from __future__ import annotations

from collections.abc import Hashable
from pathlib import Path
from typing import Any

import yaml

from .convert import from_dict, to_dict
from .errors import EXAMPLE, RecipeError
from .migrate import migrate
from .schema import Recipe
from .validate import default_heads, validate


def recipe_from_dict(
    data: Any, where: str = "<checkpoint>", heads_registry: Any = None, check_paths: bool = False, warn: bool = False
) -> Recipe:
    """A checked Recipe from plain data (a checkpoint stores its recipe as ``recipe_to_dict``).

    ``heads_registry`` defaults to ``mtl_edge.models.registry.HEADS`` (with the shipped
    heads imported); ``check_paths`` also requires the data folders and files to exist.
    Old settings are read as their replacements (:func:`~mtl_edge.config.migrate.migrate`); ``warn`` says so with a
    FutureWarning (recipe files; a checkpoint's stored recipe is read quietly).
    """
    recipe = from_dict(Recipe, migrate(data, where, warn), where)
    return validate(recipe, where, heads_registry if heads_registry is not None else default_heads(), check_paths)


class _DuplicateKeyError(yaml.constructor.ConstructorError):
    """A mapping that names one key twice."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (YAML would keep the last silently)."""


def _unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, Any] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if isinstance(key, Hashable) and key in seen:
            raise _DuplicateKeyError(
                "while reading a mapping", node.start_mark, f"found the key {key!r} twice", key_node.start_mark
            )
        seen[key] = True
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def load_recipe(path: str | Path, heads_registry: Any = None, check_paths: bool = True) -> Recipe:
    """Read and check a recipe YAML file.

    Relative data paths in it are resolved against the current directory. With
    ``check_paths`` every ``root``, ``images``, ``labels`` and ``drivable`` path must exist
    (generated ``synth`` splits are made later, on first use). ``heads_registry`` is
    injectable for tests; it defaults to the shipped heads.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise RecipeError(f"{path}: cannot read the recipe ({e.strerror}); check the path, e.g. {EXAMPLE}.") from e
    except UnicodeDecodeError as e:
        raise RecipeError(f"{path}: not UTF-8 text ({e.reason}); save the recipe as UTF-8.") from e
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e)
        fix = "Keep only one of them." if isinstance(e, _DuplicateKeyError) else "Fix the indentation or quoting there."
        raise RecipeError(f"{path}: not valid YAML{at}: {problem}. {fix}") from e
    if not isinstance(data, dict):
        raise RecipeError(
            f"{path}: a recipe is a mapping with name, data, model, loss and train sections, got "
            f"{'an empty file' if data is None else type(data).__name__}; see {EXAMPLE}."
        )
    return recipe_from_dict(data, str(path), heads_registry, check_paths, warn=True)


def recipe_to_dict(recipe: Recipe) -> dict[str, Any]:
    """Plain YAML/JSON-safe data of a recipe (tuples as lists); ``recipe_from_dict`` reads it back."""
    return to_dict(recipe)


def dump_recipe(recipe: Recipe, path: str | Path) -> None:
    """Write ``recipe`` as YAML that ``load_recipe`` reads back; atomic, never half-written."""
    from mtl_edge.fileio import atomic_write

    atomic_write(path, lambda f: yaml.safe_dump(recipe_to_dict(recipe), f, sort_keys=False), text=True)
