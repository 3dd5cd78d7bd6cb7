"""Plain data -> typed dataclasses: every field type, and mistyped, unknown or missing keys named with the fix."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from mtl_edge.config import RecipeError, from_dict, to_dict
from tests.config.recipes import assert_refused

# ----------------------------------------------------------------------------- in a recipe file

CONVERSION_ERRORS = [
    # unknown keys, with a suggestion and the known keys
    ({"train.epoch": 3}, r"train\.epoch: unknown key\. Did you mean 'epochs'\? Known keys: epochs, batch, lr"),
    ({"nmae": "x"}, r"nmae: unknown key\. Did you mean 'name'\?"),
    ({"model.heads.boxes": {"strid": 4}}, r"model\.heads\.boxes\.strid: unknown key\. Did you mean 'stride'"),
    ({"train.zzz": 1}, r"train\.zzz: unknown key\. Known keys: epochs"),
    # wrong types
    ({"train.lr": "fast"}, r"train\.lr: expected a number, got 'fast' \(str\)\."),
    ({"train.batch": 2.5}, r"train\.batch: expected a whole number, got 2\.5 \(float\)"),
    ({"train.batch": True}, r"train\.batch: expected a whole number, got True \(bool\)"),
    ({"train.amp": 1}, r"train\.amp: expected true or false, got 1 \(int\)"),
    ({"train.amp": 0}, r"train\.amp: expected true or false, got 0 \(int\)"),
    ({"train.amp": "yes please"}, r"train\.amp: expected true or false, got 'yes please' \(str\)"),
    ({"train.lr": True}, r"train\.lr: expected a number, got True \(bool\)"),
    ({"train.lr": float("nan")}, r"train\.lr: expected a finite number"),
    ({"name": 42}, r"name: expected a string, got 42 \(int\) \(quote it: '42'\)"),
    ({"train": 5}, r"train: expected a mapping of settings \(key: value lines\), got 5 \(int\)"),
    ({"data.imgsz": 384}, r"data\.imgsz: expected a list of 2 values, got 384 \(int\)\."),
    ({"data.imgsz": [384, 640, 3]}, r"data\.imgsz: expected 2 values, got 3"),
    ({"data.imgsz": [384, "wide"]}, r"data\.imgsz\[1\]: expected a whole number, got 'wide'"),
    ({"loss.weights": {"boxes": "heavy"}}, r"loss\.weights\.boxes: expected a number, got 'heavy'"),
    ({"loss.weights": ["boxes"]}, r"loss\.weights: expected a mapping \(key: value lines\), got \['boxes'\]"),
    (
        {"model.heads.boxes": {"classes": "car"}},
        r"boxes\.classes: expected a list \(each a string\), got 'car' \(str\)",
    ),
    # missing keys
    ({"data": ...}, r"data: missing required key; add it \(see recipes/synth-edge\.yaml for an example\)\."),
    ({"data.train": ...}, r"data\.train: missing required key; add it \(see recipes/synth-edge\.yaml"),
    ({"data.val.synth": {"n": 3}}, r"data\.val\.synth\.seed: missing required key"),
    # literals
    ({"model.heads.boxes": {"mode": "fastest"}}, r"boxes\.mode: 'fastest' is not allowed; use one of 'peak', 'nms'\."),
    ({"data.train.drivable_coding": 2020}, r"drivable_coding: 2020 is not allowed \(quote it.*'2018', '2020'"),
]


@pytest.mark.parametrize(("change", "message"), CONVERSION_ERRORS, ids=[m[:40] for _, m in CONVERSION_ERRORS])
def test_malformed_recipes_name_the_file_key_and_fix(change, message, tmp_path, heads):
    assert_refused(change, message, tmp_path, heads)


# ----------------------------------------------------------------------------- generic from_dict


@dataclass
class Inner:
    k: int


@dataclass
class Everything:
    req: str
    path: Path = Path("out")
    maybe: float | None = None
    either: int | str = 0
    pair: tuple[int, int] = (1, 2)
    scales: tuple[float, ...] = ()
    ids: list[int] = field(default_factory=list)
    table: dict[str, float] = field(default_factory=dict)
    inner: Inner | None = None
    inners: list[Inner] = field(default_factory=list)
    kind: Literal["a", "b"] = "a"


def test_from_dict_supports_the_field_types():
    data = {
        "req": "x",
        "path": "runs/a",
        "maybe": 3,
        "either": "word",
        "pair": [3, 4],
        "scales": [1, 0.5, "1e-2"],
        "ids": [1, 2],
        "table": {"a": 1},
        "inner": {"k": 5},
        "inners": [{"k": 1}, {"k": 2}],
        "kind": "b",
    }
    obj = from_dict(Everything, data, "f.yaml")
    assert obj == Everything(
        "x",
        Path("runs/a"),
        3.0,
        "word",
        (3, 4),
        (1.0, 0.5, 0.01),
        [1, 2],
        {"a": 1.0},
        Inner(5),
        [Inner(1), Inner(2)],
        "b",
    )
    assert isinstance(obj.maybe, float) and all(isinstance(s, float) for s in obj.scales)
    plain = to_dict(obj)
    assert plain["path"] == "runs/a" and plain["pair"] == [3, 4] and plain["inners"] == [{"k": 1}, {"k": 2}]
    assert from_dict(Everything, plain, "f.yaml") == obj
    assert from_dict(Everything, {"req": "x", "maybe": None, "inner": None}, "f.yaml") == Everything("x")
    assert from_dict(Everything, {"req": "x", "either": 7}, "f.yaml").either == 7


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, r"^f\.yaml: sec\.req: missing required key"),
        ({"req": "x", "either": 1.5}, r"sec\.either: expected a whole number or a string, got 1\.5 \(float\)"),
        ({"req": "x", "inners": [{"k": 1}, {"j": 2}]}, r"sec\.inners\[1\]\.j: unknown key"),
        ({"req": "x", "table": {1: 2.0}}, r"sec\.table\.1: keys must be strings, got 1 \(int\); quote it"),
        ({"req": "x", "ids": "1, 2"}, r"sec\.ids: expected a list, got '1, 2' \(str\) \(write \['1, 2'\]"),
        ({"req": "x", "kind": "c"}, r"sec\.kind: 'c' is not allowed; use one of 'a', 'b'\."),
        ({"req": "x", "path": 3}, r"sec\.path: expected a string"),
    ],
)
def test_from_dict_errors(data, message):
    with pytest.raises(RecipeError, match=message):
        from_dict(Everything, data, "f.yaml", "sec")
