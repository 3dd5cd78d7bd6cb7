"""What the recipe tests share: dummy heads with their own Config, base recipes, and writing them to files.

Most tests use dummy heads in a fresh ``Registry`` (the ``heads`` fixture, conftest.py) so
they check the loader alone, not the shipped heads' settings.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml

from mtl_edge.config import RecipeError, load_recipe
from mtl_edge.models.registry import Registry

REPO = Path(__file__).resolve().parents[2]


@dataclass
class BoxesConfig:
    classes: tuple[str, ...] = ("car", "bus")
    stride: int = 8
    gain: float = 1.0
    mode: Literal["peak", "nms"] = "peak"


@dataclass
class PaintConfig:
    channels: int = 16
    aux: bool = True


class BoxesHead:
    Config = BoxesConfig


class PaintHead:
    Config = PaintConfig


BASE: dict[str, Any] = {
    "name": "t",
    "data": {"train": {"synth": {"n": 4, "seed": 1}}, "val": {"synth": {"n": 2, "seed": 2}}},
    "model": {"heads": {"boxes": {}, "paint": {"channels": 8}}},
}

FULL: dict[str, Any] = {
    "name": "full",
    "data": {
        "train": {"synth": {"n": 96, "seed": 11, "size": [640, 360]}},
        "val": {"synth": {"n": 24, "seed": 900011}},
        "imgsz": [192, 320],
        "cache": False,
        "workers": 2,
    },
    "model": {
        "backbone": {"name": "edgenet", "width": 0.5, "depth": 1},  # an int where a float goes is fine
        "neck": {"channels": 32, "depth": 2},
        "heads": {"boxes": {"classes": ["truck"], "stride": 4, "gain": 2, "mode": "nms"}, "paint": None},
    },
    "loss": {"weights": {"boxes": 2.0}, "uncertainty": True},
    "train": {"epochs": 3, "batch": 8, "lr": "3e-3", "amp": False, "ema_decay": 0.99, "score_threshold": 0.25},
}


def write_recipe(tmp_path: Path, data: Any, name: str = "r.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path


def with_changes(change: dict[str, Any], base: dict[str, Any] = BASE) -> dict[str, Any]:
    """A deep copy of ``base`` with dotted keys set (a value of ``...`` deletes the key)."""
    d = copy.deepcopy(base)
    for dotted, value in change.items():
        node = d
        *parents, leaf = dotted.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        if value is ...:
            del node[leaf]
        else:
            node[leaf] = value
    return d


def assert_refused(change: dict[str, Any], message: str, tmp_path: Path, heads: Registry) -> None:
    """BASE with ``change`` written to a file fails to load with ``message``, naming the file first."""
    path = write_recipe(tmp_path, with_changes(change))
    with pytest.raises(RecipeError, match=message) as e:
        load_recipe(path, heads_registry=heads)
    assert str(e.value).startswith(f"{path}: ")
    assert isinstance(e.value, ValueError)
