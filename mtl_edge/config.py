"""Recipes: YAML files parsed into typed dataclasses, with errors that name the key and the fix.

A recipe has four sections: ``data`` (splits and input size), ``model`` (backbone, neck,
heads), ``loss`` and ``train``. Each head's settings are the ``Config`` dataclass of the
registered head class, so a head documents its own options. Relative paths are resolved
against the current working directory.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import yaml

EXAMPLE = "recipes/synth-edge.yaml"


class RecipeError(ValueError):
    """A recipe that cannot be used as written."""


@dataclass
class SynthSpec:
    """A split generated on demand by the scene generator (deterministic by seed)."""

    n: int
    seed: int
    size: tuple[int, int] = (1280, 720)  # source frame width, height


@dataclass
class DataSplit:
    """Exactly one of: ``root`` (synth/BDD100K folder layout), ``images`` + ``labels``, or ``synth``."""

    root: str | None = None  # folder with images/, labels.json and drivable/
    images: str | None = None  # BDD100K image folder ...
    labels: list[str] = field(default_factory=list)  # ... and its label files (det, lane), merged by name
    drivable: str | None = None  # optional drivable-mask folder (PNG per image stem)
    drivable_coding: Literal["2018", "2020"] = "2018"  # BDD100K 2020 masks use 0 direct, 1 alt, 2 background
    synth: SynthSpec | None = None


@dataclass
class DataConfig:
    train: DataSplit
    val: DataSplit
    imgsz: tuple[int, int] = (384, 640)  # model input height, width; multiples of 32
    cache: bool = True  # keep letterboxed training samples in memory (decode once)
    workers: int = 0  # DataLoader worker processes


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
    heads: dict[str, Any] = field(default_factory=dict)  # head name -> that head's Config


@dataclass
class LossConfig:
    weights: dict[str, float] = field(default_factory=dict)  # per head; heads not named weigh 1.0
    uncertainty: bool = False  # learn the task weighting (Kendall et al. 2018) instead


@dataclass
class TrainConfig:
    epochs: int = 30
    batch: int = 16
    lr: float = 2e-3  # AdamW peak learning rate
    weight_decay: float = 5e-4
    warmup_epochs: float = 1.0  # linear warm-up, then cosine decay to 1% of lr
    ema_decay: float = 0.999  # EMA of the weights; the EMA is what is evaluated and saved
    amp: bool = True  # mixed precision, CUDA only
    grad_clip: float = 10.0
    seed: int = 0
    eval_every: int = 1  # epochs between validation runs
    eval_images: int = 200  # validation images per run (the final eval uses mtl-edge eval)
    score_threshold: float = 0.3  # deploy threshold for detection precision/recall


@dataclass
class Recipe:
    name: str
    data: DataConfig
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


# ----------------------------------------------------------------------------- generic parsing

_TYPE_WORDS = {int: "a whole number", float: "a number", bool: "true or false", str: "a string"}


def _fail(where: str, key: str, problem: str) -> RecipeError:
    return RecipeError(f"{where}: {key}: {problem}" if key else f"{where}: {problem}")


def _convert(tp: Any, value: Any, where: str, key: str) -> Any:
    origin, args = get_origin(tp), get_args(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _convert(inner[0], value, where, key)
    if origin is Literal:
        if value not in args:
            raise _fail(where, key, f"{value!r} is not allowed; use one of {', '.join(repr(a) for a in args)}.")
        return value
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where, key)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise _fail(where, key, f"expected a list like [{', '.join('…' for _ in args)}], got {value!r}.")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v, where, f"{key}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise _fail(where, key, f"expected {len(args)} values, got {len(value)}: {value!r}.")
        return tuple(_convert(a, v, where, f"{key}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
    if origin is list:
        if not isinstance(value, list):
            raise _fail(where, key, f"expected a list, got {value!r}.")
        return [_convert(args[0], v, where, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise _fail(where, key, f"expected a mapping (key: value lines), got {value!r}.")
        return {str(k): _convert(args[1], v, where, f"{key}.{k}") for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise _fail(where, key, f"expected true or false, got {value!r}.")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(where, key, f"expected a whole number, got {value!r} ({type(value).__name__}).")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _fail(where, key, f"expected a number, got {value!r} ({type(value).__name__}).")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise _fail(where, key, f"expected a string, got {value!r} ({type(value).__name__}).")
        return value
    raise TypeError(f"unsupported recipe field type {tp!r}")


def from_dict(cls: type, data: Any, where: str, key: str = "") -> Any:
    """Build dataclass ``cls`` from YAML data; unknown, missing or mistyped keys raise RecipeError."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise _fail(where, key, f"expected a mapping of settings, got {data!r}.")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for k in data:
        if k not in fields:
            close = difflib.get_close_matches(str(k), fields, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise _fail(where, f"{key}.{k}" if key else str(k), f"unknown key.{hint} Known keys: {', '.join(fields)}.")
    kwargs = {}
    for name, f in fields.items():
        path = f"{key}.{name}" if key else name
        if name in data:
            kwargs[name] = _convert(hints[name], data[name], where, path)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise _fail(where, path, f"missing required key; add it (see {EXAMPLE} for an example).")
    return cls(**kwargs)


def to_dict(obj: Any) -> Any:
    """Plain YAML/JSON data of a (nested) dataclass: tuples become lists."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


# ----------------------------------------------------------------------------- recipes


def _heads_registry(registry: Any) -> Any:
    if registry is not None:
        return registry
    import mtl_edge.models.heads  # noqa: F401  (registers the heads)
    from mtl_edge.models.registry import HEADS

    return HEADS


def _validate(recipe: Recipe, where: str, heads_registry: Any, check_paths: bool) -> Recipe:
    h, w = recipe.data.imgsz
    if h % 32 or w % 32 or h <= 0 or w <= 0:
        raise _fail(
            where,
            "data.imgsz",
            f"{[h, w]} must be positive multiples of 32 (the network's largest stride), e.g. [384, 640].",
        )
    for role in ("train", "val"):
        split: DataSplit = getattr(recipe.data, role)
        given = [n for n, v in (("root", split.root), ("images", split.images), ("synth", split.synth)) if v]
        if len(given) != 1:
            raise _fail(
                where,
                f"data.{role}",
                "give exactly one data source: root (a dataset folder), images + labels "
                f"(BDD100K files) or synth (generated); got {', '.join(given) or 'none'}.",
            )
        if split.images and not split.labels:
            raise _fail(where, f"data.{role}.labels", "images needs at least one label file.")
        if check_paths:
            for name in ("root", "images", "drivable"):
                value = getattr(split, name)
                if value and not Path(value).exists():
                    raise _fail(
                        where,
                        f"data.{role}.{name}",
                        f"{value} does not exist. Generate it with `mtl-edge data "
                        f"synth --out {value} --n N`, download it, or fix the path.",
                    )
            for i, label in enumerate(split.labels):
                if not Path(label).exists():
                    raise _fail(where, f"data.{role}.labels[{i}]", f"{label} does not exist; fix the path.")
    heads = {}
    for name, settings in recipe.model.heads.items():
        if name not in heads_registry:
            raise _fail(
                where, f"model.heads.{name}", f"unknown head; known heads: {', '.join(heads_registry.names())}."
            )
        cfg_cls = heads_registry.get(name).Config
        heads[name] = (
            settings if isinstance(settings, cfg_cls) else from_dict(cfg_cls, settings, where, f"model.heads.{name}")
        )
    if not heads:
        raise _fail(where, "model.heads", f"no heads; add at least one of {', '.join(heads_registry.names())}.")
    recipe.model.heads = heads
    for name in recipe.loss.weights:
        if name not in heads:
            raise _fail(where, f"loss.weights.{name}", f"no such head in model.heads ({', '.join(heads)}).")
    t = recipe.train
    for name in ("epochs", "batch", "eval_every", "eval_images"):
        if getattr(t, name) < 1:
            raise _fail(where, f"train.{name}", f"must be at least 1, got {getattr(t, name)}.")
    if t.lr <= 0 or not 0 <= t.ema_decay < 1:
        raise _fail(where, "train", "lr must be positive and ema_decay in [0, 1).")
    return recipe


def recipe_from_dict(
    data: Any, where: str = "<recipe>", heads_registry: Any = None, check_paths: bool = False
) -> Recipe:
    """A Recipe from plain data (a checkpoint stores its recipe this way)."""
    recipe = from_dict(Recipe, data, where)
    return _validate(recipe, where, _heads_registry(heads_registry), check_paths)


def load_recipe(path: str | Path, heads_registry: Any = None, check_paths: bool = True) -> Recipe:
    """Read and check a recipe YAML file."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise RecipeError(f"{path}: cannot read the recipe ({e.strerror}); check the path, e.g. {EXAMPLE}.") from e
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise RecipeError(
            f"{path}: not valid YAML{at}: {getattr(e, 'problem', e)}. Fix the indentation or quoting there."
        ) from e
    if not isinstance(data, dict):
        raise RecipeError(f"{path}: a recipe is a mapping with name, data, model, loss and train sections.")
    return recipe_from_dict(data, str(path), heads_registry, check_paths)


def recipe_to_dict(recipe: Recipe) -> dict[str, Any]:
    return to_dict(recipe)


def dump_recipe(recipe: Recipe, path: str | Path) -> None:
    from mtl_edge.fileio import atomic_write

    atomic_write(path, lambda f: yaml.safe_dump(recipe_to_dict(recipe), f, sort_keys=False), text=True)
