"""The checks a parsed recipe must pass: one data source per split, sizes, ranges, known heads, paths."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .convert import from_dict
from .errors import fail
from .schema import DataSplit, ModelConfig, Recipe


def default_heads() -> Any:
    import mtl_edge.models.heads  # noqa: F401  (registers the heads)
    from mtl_edge.models.registry import HEADS

    return HEADS


def _require(ok: bool, where: str, key: str, problem: str) -> None:
    if not ok:
        raise fail(where, key, problem)


def _check_split(split: DataSplit, where: str, key: str, check_paths: bool, nested: bool = False) -> None:
    if split.datasets:
        _require(not nested, where, f"{key}.datasets", "a dataset of a mixture cannot be a mixture itself.")
        own = [n for n in ("root", "images", "synth") if getattr(split, n) is not None]
        _require(
            not own,
            where,
            key,
            f"has datasets: and {' and '.join(own)}; put every source in the datasets: list (one entry each).",
        )
        own_settings = [
            n
            for n in ("heads", "categories", "lanes", "drivable_coding", "name", "layout", "split")
            if getattr(split, n) not in (None, {}, [])
        ] + (["weight"] if split.weight != 1.0 else [])
        _require(
            not own_settings,
            where,
            f"{key}.{own_settings[0] if own_settings else ''}",
            "is a setting of one dataset; move it into each entry of datasets: that it applies to.",
        )
        for i, part in enumerate(split.datasets):
            _check_split(part, where, f"{key}.datasets[{i}]", check_paths, nested=True)
        return
    paths = [("root", split.root), ("images", split.images), ("drivable", split.drivable)]
    paths += [(f"labels[{i}]", p) for i, p in enumerate(split.labels)]
    for name, value in paths:
        _require(value is None or bool(value.strip()), where, f"{key}.{name}", "is empty; give a path or remove it.")
    given = [n for n in ("root", "images", "synth") if getattr(split, n) is not None]
    _require(
        len(given) == 1,
        where,
        key,
        "give exactly one data source: root (a dataset folder in a supported layout, e.g. BDD100K as released "
        "or one made by `mtl-edge data synth`), images + labels (an image folder and BDD100K-format label files), "
        "synth (generated: {n, seed}), or datasets (a list of such entries, mixed); "
        f"got {' and '.join(given) or 'none'}.",
    )
    if split.images is None:
        for name in ("labels", "drivable"):
            _require(
                not getattr(split, name),
                where,
                f"{key}.{name}",
                f"only goes with images (label files); {given[0]} does not use it, so remove it.",
            )
    else:
        _require(bool(split.labels), where, f"{key}.labels", "images needs at least one label file; add labels: [...].")
    for name in ("layout", "split"):
        _require(
            split.root is not None or getattr(split, name) is None,
            where,
            f"{key}.{name}",
            "only goes with root (a dataset folder); remove it.",
        )
    if split.layout is not None:
        from mtl_edge.data.layouts import layouts

        known = layouts()
        _require(split.layout in known, where, f"{key}.layout", f"unknown layout; use one of {', '.join(known)}.")
    _require(split.weight > 0, where, f"{key}.weight", f"must be positive, got {split.weight}.")
    if split.categories:
        from mtl_edge.data.tasks import category_table

        try:
            category_table({}, split.categories, where=f"{where}: {key}")
        except ValueError as e:
            raise fail(where, f"{key}.categories", str(e).split(": ", 2)[-1]) from e
    if split.lanes:
        from mtl_edge.data.lane_rules import LaneRules

        try:
            LaneRules.from_dict(split.lanes)
        except ValueError as e:
            raise fail(where, f"{key}.lanes", str(e)) from e
    if split.synth is not None:
        n, (w, h) = split.synth.n, split.synth.size
        _require(n >= 1, where, f"{key}.synth.n", f"must be at least 1, got {n}.")
        _require(w > 0 and h > 0, where, f"{key}.synth.size", f"width and height must be positive, got {[w, h]}.")
    if not check_paths:
        return
    if split.root is not None and not Path(split.root).is_dir():
        raise fail(
            where,
            f"{key}.root",
            f"{split.root} is not a folder. Generate one with `mtl-edge data synth --out {split.root} --n N "
            "[--layout bdd100k]`, or fix the path (relative paths start at the current directory).",
        )
    for name, value in paths[1:]:
        if value is not None and not Path(value).exists():
            raise fail(
                where,
                f"{key}.{name}",
                f"{value} does not exist. Download the dataset (see recipes/bdd100k.yaml for the layout) "
                "or fix the path (relative paths start at the current directory).",
            )


def _check_split_heads(split: DataSplit | None, heads: dict[str, Any], where: str, key: str) -> None:
    """A dataset's ``heads:`` must name heads of the model."""
    if split is None:
        return
    for i, part in enumerate(split.datasets or [split]):
        part_key = f"{key}.datasets[{i}]" if split.datasets else key
        for name in part.heads or []:
            _require(
                name in heads,
                where,
                f"{part_key}.heads",
                f"{name!r} is not a head of model.heads ({', '.join(heads)}); remove it or add the head.",
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


def validate(recipe: Recipe, where: str, heads_registry: Any, check_paths: bool) -> Recipe:
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
    _check_split(data.train, where, "data.train", check_paths)
    if data.val is not None:
        _check_split(data.val, where, "data.val", check_paths)

    model = recipe.model
    for name in ("width", "depth"):
        value = getattr(model.backbone, name)
        _require(value > 0, where, f"model.backbone.{name}", f"must be positive, got {value}.")
    for name in ("channels", "depth"):
        value = getattr(model.neck, name)
        _require(value >= 1, where, f"model.neck.{name}", f"must be at least 1, got {value}.")
    model.heads = _check_heads(model, where, heads_registry)
    for role in ("train", "val"):
        _check_split_heads(getattr(data, role), model.heads, where, f"data.{role}")

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
