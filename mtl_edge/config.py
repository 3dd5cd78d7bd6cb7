"""Recipes: YAML files parsed into typed dataclasses, with errors that name the key and the fix.

A recipe has four sections: ``data`` (splits and input size), ``model`` (backbone, neck,
heads), ``loss`` and ``train``. Each head's settings are the ``Config`` dataclass of the
registered head class, so a head documents its own options. Data paths are kept as
written; relative ones are resolved against the current working directory (run
``mtl-edge`` from the repository root, as the README's commands do), not against the
recipe file's folder.

``from_dict`` is the one generic piece: it builds any (nested) dataclass from plain YAML
data, so a new setting is a new annotated field with a commented default, nothing more.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import math
import re
import types
import typing
import warnings
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import yaml

#: The recipe that error messages point to as a worked example.
EXAMPLE = "recipes/synth-edge.yaml"


class RecipeError(ValueError):
    """A recipe that cannot be used as written; the message names the file, the key and the fix."""


# ----------------------------------------------------------------------------- schema


@dataclass
class SynthSpec:
    """A split generated on demand by the scene generator (deterministic by seed)."""

    n: int  # number of scenes
    seed: int  # base seed; use a different one for every split
    size: tuple[int, int] = (1280, 720)  # source frame width, height (a dashcam's 720p)


@dataclass
class DataSplit:
    """Exactly one of: ``root`` (synth/BDD100K folder layout), ``images`` + ``labels``, or ``synth``."""

    root: str | None = None  # folder with images/, labels.json and drivable/
    images: str | None = None  # BDD100K image folder ...
    labels: list[str] = field(default_factory=list)  # ... and its label files (det, lane), merged by name
    drivable: str | None = None  # optional drivable-mask folder beside images (PNG per image stem)
    drivable_coding: Literal["2018", "2020"] = "2018"  # BDD100K 2020 masks use 0 direct, 1 alt, 2 background
    synth: SynthSpec | None = None


@dataclass
class DataConfig:
    train: DataSplit
    val: DataSplit
    imgsz: tuple[int, int] = (384, 640)  # model input height, width; multiples of 32 (the largest stride)
    cache: bool = True  # keep letterboxed training samples in memory (decode once)
    workers: int = 0  # DataLoader worker processes; 0 loads in the training process


@dataclass
class BackboneConfig:
    name: str = "edgenet"  # a registered backbone: edgenet, resnet18, mobilenet_v3_large/small
    width: float = 1.0  # channel multiplier (edgenet, mobilenet)
    depth: float = 1.0  # block-count multiplier (edgenet)


@dataclass
class NeckConfig:
    channels: int = 64  # width of every pyramid level
    depth: int = 1  # RepConv blocks per merge


@dataclass
class ModelConfig:
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    neck: NeckConfig = field(default_factory=NeckConfig)
    heads: dict[str, Any] = field(default_factory=dict)  # head name -> that head's Config ({} = its defaults)


@dataclass
class LossConfig:
    weights: dict[str, float] = field(default_factory=dict)  # per head; heads not named weigh 1.0
    uncertainty: bool = False  # learn the task weighting (Kendall et al. 2018) instead


@dataclass
class TrainConfig:
    epochs: int = 30
    batch: int = 16  # images per step (per process under DDP)
    lr: float = 2e-3  # AdamW peak learning rate
    weight_decay: float = 5e-4
    warmup_epochs: float = 1.0  # linear warm-up, then cosine decay to 1% of lr
    ema_decay: float = 0.999  # EMA of the weights; the EMA is what is evaluated and saved
    amp: bool = True  # mixed precision: CUDA, and bfloat16 on CPUs with AMX or AVX512-BF16 (float32 elsewhere)
    grad_clip: float = 10.0  # max gradient norm
    seed: int = 0
    eval_every: int = 1  # epochs between validation runs
    eval_images: int = 200  # validation images per run (the final eval uses mtl-edge eval)
    score_threshold: float = 0.3  # deploy threshold for detection precision/recall
    # The heads' post-fit stages (after the main schedule) take their length from the head's own
    # settings, e.g. ``glimpse.fit_epochs``; ``train.glimpse_epochs`` is read as that (_migrate).


@dataclass
class Recipe:
    name: str  # names the run and the exported model's metadata
    data: DataConfig
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


# ----------------------------------------------------------------------------- generic parsing

# PyYAML follows YAML 1.1, where ``2e-3`` (no dot) is a string; a float field accepts it.
_FLOAT_TEXT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def _fail(where: str, key: str, problem: str) -> RecipeError:
    return RecipeError(f"{where}: {key}: {problem}" if key else f"{where}: {problem}")


def _got(value: Any) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def _join(key: str, name: object) -> str:
    return f"{key}.{name}" if key else str(name)


def _describe(tp: Any) -> str:
    """How an error message names the expected type."""
    origin, args = get_origin(tp), get_args(tp)
    if tp is bool:
        return "true or false"
    if tp is int:
        return "a whole number"
    if tp is float:
        return "a number"
    if tp in (str, Path):
        return "a string"
    if dataclasses.is_dataclass(tp):
        return "a mapping of settings"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list (each {_describe(args[0])})"
        return f"a list of {len(args)} values"
    if origin is list:
        return "a list"
    if origin is dict:
        return "a mapping"
    if origin in (Union, types.UnionType):
        return " or ".join("null" if a is type(None) else _describe(a) for a in args)
    return str(tp)


def _convert(tp: Any, value: Any, where: str, key: str) -> Any:
    """``value`` checked against (and converted to) the annotation ``tp``."""
    origin, args = get_origin(tp), get_args(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            return _convert(inner[0], value, where, key)
        for option in inner:
            try:
                return _convert(option, value, where, key)
            except RecipeError:
                continue
        raise _fail(where, key, f"expected {_describe(tp)}, got {_got(value)}.")
    if origin is Literal:
        if any(type(value) is type(a) and value == a for a in args):
            return value
        allowed = ", ".join(repr(a) for a in args)
        quote = " (quote it, YAML read it as a number)" if str(value) in {str(a) for a in args} else ""
        raise _fail(where, key, f"{value!r} is not allowed{quote}; use one of {allowed}.")
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where, key)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise _fail(where, key, f"expected {_describe(tp)}, got {_got(value)}.")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v, where, f"{key}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise _fail(where, key, f"expected {len(args)} values, got {len(value)}: {list(value)!r}.")
        return tuple(_convert(a, v, where, f"{key}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
    if origin is list:
        if not isinstance(value, (list, tuple)):
            hint = f" (write [{value!r}] for one item)" if isinstance(value, str) else ""
            raise _fail(where, key, f"expected a list, got {_got(value)}{hint}.")
        return [_convert(args[0], v, where, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise _fail(where, key, f"expected a mapping (key: value lines), got {_got(value)}.")
        out = {}
        for k, v in value.items():
            if args[0] is str and not isinstance(k, str):
                raise _fail(where, _join(key, k), f"keys must be strings, got {_got(k)}; quote it.")
            out[k] = _convert(args[1], v, where, _join(key, k))
        return out
    if tp is bool:
        if not isinstance(value, bool):
            raise _fail(where, key, f"expected true or false, got {_got(value)}.")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(where, key, f"expected a whole number, got {_got(value)}.")
        return value
    if tp is float:
        if isinstance(value, str) and _FLOAT_TEXT.fullmatch(value.strip()):
            value = float(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _fail(where, key, f"expected a number, got {_got(value)}.")
        if not math.isfinite(value):
            raise _fail(where, key, f"expected a finite number, got {value!r}.")
        return float(value)
    if tp in (str, Path):
        if not isinstance(value, str):
            quote = f" (quote it: '{value}')" if isinstance(value, (int, float)) else ""
            raise _fail(where, key, f"expected a string, got {_got(value)}{quote}.")
        return Path(value) if tp is Path else value
    raise TypeError(f"{where}: {key}: unsupported recipe field type {tp!r}; add it to mtl_edge.config._convert")


def from_dict(cls: type, data: Any, where: str, key: str = "") -> Any:
    """Build dataclass ``cls`` from YAML data; unknown, missing or mistyped keys raise RecipeError.

    ``where`` names the source (a file) and ``key`` the dotted path of ``data`` within it,
    both only for error messages. ``None`` (an empty YAML section) means all defaults.
    """
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise _fail(where, key, f"expected a mapping of settings (key: value lines), got {_got(data)}.")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for k in data:
        if k not in fields:
            close = difflib.get_close_matches(str(k), fields, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise _fail(where, _join(key, k), f"unknown key.{hint} Known keys: {', '.join(fields)}.")
    kwargs = {}
    for name, f in fields.items():
        path = _join(key, name)
        if name in data:
            kwargs[name] = _convert(hints[name], data[name], where, path)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise _fail(where, path, f"missing required key; add it (see {EXAMPLE} for an example).")
    try:
        return cls(**kwargs)
    except ValueError as err:  # a dataclass's own check of its values (__post_init__)
        raise _fail(where, key, str(err)) from err


def to_dict(obj: Any) -> Any:
    """Plain YAML/JSON data of a (nested) dataclass: tuples become lists, paths strings."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    if isinstance(obj, Path):
        return str(obj)
    return obj


# ----------------------------------------------------------------------------- recipe checks


def _default_heads() -> Any:
    import mtl_edge.models.heads  # noqa: F401  (registers the heads)
    from mtl_edge.models.registry import HEADS

    return HEADS


def _require(ok: bool, where: str, key: str, problem: str) -> None:
    if not ok:
        raise _fail(where, key, problem)


def _check_split(split: DataSplit, where: str, key: str, check_paths: bool) -> None:
    paths = [("root", split.root), ("images", split.images), ("drivable", split.drivable)]
    paths += [(f"labels[{i}]", p) for i, p in enumerate(split.labels)]
    for name, value in paths:
        _require(value is None or bool(value.strip()), where, f"{key}.{name}", "is empty; give a path or remove it.")
    given = [n for n in ("root", "images", "synth") if getattr(split, n) is not None]
    _require(
        len(given) == 1,
        where,
        key,
        "give exactly one data source: root (a dataset folder with images/, labels.json, drivable/), "
        "images + labels (BDD100K image folder and label files) or synth (generated: {n, seed}); "
        f"got {' and '.join(given) or 'none'}.",
    )
    if split.images is None:
        for name in ("labels", "drivable"):
            _require(
                not getattr(split, name),
                where,
                f"{key}.{name}",
                f"only goes with images (BDD100K files); {given[0]} does not use it, so remove it.",
            )
    else:
        _require(bool(split.labels), where, f"{key}.labels", "images needs at least one label file; add labels: [...].")
    if split.synth is not None:
        n, (w, h) = split.synth.n, split.synth.size
        _require(n >= 1, where, f"{key}.synth.n", f"must be at least 1, got {n}.")
        _require(w > 0 and h > 0, where, f"{key}.synth.size", f"width and height must be positive, got {[w, h]}.")
    if not check_paths:
        return
    if split.root is not None and not Path(split.root).is_dir():
        raise _fail(
            where,
            f"{key}.root",
            f"{split.root} is not a folder. Generate it with `mtl-edge data synth --out {split.root} --n N`, "
            "or fix the path (relative paths start at the current directory).",
        )
    for name, value in paths[1:]:
        if value is not None and not Path(value).exists():
            raise _fail(
                where,
                f"{key}.{name}",
                f"{value} does not exist. Download BDD100K (see recipes/bdd100k.yaml for the layout) "
                "or fix the path (relative paths start at the current directory).",
            )


def _check_heads(model: ModelConfig, where: str, registry: Any) -> dict[str, Any]:
    names = registry.names()
    known = ", ".join(names) or "(none registered)"
    example = f" (e.g. {names[0]}: {{}})" if names else ""
    _require(bool(model.heads), where, "model.heads", f"no heads; add at least one of {known}{example}.")
    heads = {}
    for name, settings in model.heads.items():
        key = f"model.heads.{name}"
        _require(name in registry, where, key, f"unknown head; known heads: {known}.")
        cfg_cls = getattr(registry.get(name), "Config", None)
        if not dataclasses.is_dataclass(cfg_cls):
            raise TypeError(f"head {name!r} has no Config dataclass attribute; give its class one (see heads/lanes.py)")
        heads[name] = settings if isinstance(settings, cfg_cls) else from_dict(cfg_cls, settings, where, key)
    return heads


def _validate(recipe: Recipe, where: str, heads_registry: Any, check_paths: bool) -> Recipe:
    _require(bool(recipe.name.strip()), where, "name", "must not be empty; name the recipe, e.g. name: synth-edge.")
    data = recipe.data
    h, w = data.imgsz
    _require(
        h > 0 and w > 0 and h % 32 == 0 and w % 32 == 0,
        where,
        "data.imgsz",
        f"{[h, w]} must be positive multiples of 32 (the network's largest stride), e.g. [384, 640].",
    )
    _require(data.workers >= 0, where, "data.workers", f"must be 0 or more, got {data.workers}.")
    for role in ("train", "val"):
        _check_split(getattr(data, role), where, f"data.{role}", check_paths)

    model = recipe.model
    for name in ("width", "depth"):
        value = getattr(model.backbone, name)
        _require(value > 0, where, f"model.backbone.{name}", f"must be positive, got {value}.")
    for name in ("channels", "depth"):
        value = getattr(model.neck, name)
        _require(value >= 1, where, f"model.neck.{name}", f"must be at least 1, got {value}.")
    model.heads = _check_heads(model, where, heads_registry)

    for name, weight in recipe.loss.weights.items():
        _require(
            name in model.heads,
            where,
            f"loss.weights.{name}",
            f"no such head in model.heads ({', '.join(model.heads)}); remove it or add the head.",
        )
        _require(weight >= 0, where, f"loss.weights.{name}", f"must be 0 or more, got {weight}.")

    t = recipe.train
    checks: list[tuple[str, Callable[[Any], bool], str]] = [
        ("epochs", lambda v: v >= 1, "must be at least 1"),
        ("batch", lambda v: v >= 1, "must be at least 1"),
        ("eval_every", lambda v: v >= 1, "must be at least 1"),
        ("eval_images", lambda v: v >= 1, "must be at least 1"),
        ("lr", lambda v: v > 0, "must be positive"),
        ("weight_decay", lambda v: v >= 0, "must be 0 or more"),
        ("warmup_epochs", lambda v: v >= 0, "must be 0 or more"),
        ("grad_clip", lambda v: v > 0, "must be positive"),
        ("ema_decay", lambda v: 0 <= v < 1, "must be in [0, 1)"),
        ("score_threshold", lambda v: 0 <= v <= 1, "must be in [0, 1]"),
    ]
    for name, ok, problem in checks:
        value = getattr(t, name)
        _require(ok(value), where, f"train.{name}", f"{problem}, got {value}.")
    return recipe


# ----------------------------------------------------------------------------- old settings


def _migrate(data: Any, where: str, warn: bool) -> Any:
    """Recipe data with replaced settings rewritten as their replacements (``data`` is not changed).

    ``train.glimpse_epochs`` became each glimpse's ``fit_epochs``
    (:func:`mtl_edge.models.heads.glimpse.migrate_glimpse_epochs` says how).
    """
    if not isinstance(data, dict) or not isinstance(data.get("train"), dict) or "glimpse_epochs" not in data["train"]:
        return data
    from mtl_edge.models.heads.glimpse import migrate_glimpse_epochs

    try:
        data, moved = migrate_glimpse_epochs(copy.deepcopy(data))
    except ValueError as err:
        key, _, problem = str(err).partition(": ")
        raise _fail(where, key, problem) from err
    if warn:
        warnings.warn(
            f"{where}: train.glimpse_epochs is deprecated; each glimpse's fit_epochs sets its fit now. Read as "
            f"{', '.join(moved) or 'nothing (no head has a glimpse)'}; write that and remove train.glimpse_epochs.",
            FutureWarning,
            stacklevel=4,
        )
    return data


# ----------------------------------------------------------------------------- entry points


def recipe_from_dict(
    data: Any, where: str = "<checkpoint>", heads_registry: Any = None, check_paths: bool = False, warn: bool = False
) -> Recipe:
    """A checked Recipe from plain data (a checkpoint stores its recipe as ``recipe_to_dict``).

    ``heads_registry`` defaults to ``mtl_edge.models.registry.HEADS`` (with the shipped
    heads imported); ``check_paths`` also requires the data folders and files to exist.
    Old settings are read as their replacements (:func:`_migrate`); ``warn`` says so with a
    FutureWarning (recipe files; a checkpoint's stored recipe is read quietly).
    """
    recipe = from_dict(Recipe, _migrate(data, where, warn), where)
    return _validate(recipe, where, heads_registry if heads_registry is not None else _default_heads(), check_paths)


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
