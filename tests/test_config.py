"""Recipes: valid ones round-trip; malformed ones fail naming the key and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mtl_edge.config import RecipeError, dump_recipe, load_recipe, recipe_from_dict, recipe_to_dict

REPO = Path(__file__).resolve().parents[1]
BASE = {
    "name": "t",
    "data": {"train": {"synth": {"n": 4, "seed": 1}}, "val": {"synth": {"n": 2, "seed": 2}}},
    "model": {"heads": {"vehicles": {}, "lanes": {"rows": 16}}},
}


def _write(tmp_path: Path, data) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def _with(change: dict) -> dict:
    import copy

    d = copy.deepcopy(BASE)
    for dotted, value in change.items():
        node = d
        *parents, leaf = dotted.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return d


@pytest.mark.parametrize("name", ["synth-edge.yaml", "synth-tiny.yaml"])
def test_shipped_recipes_load_and_round_trip(name, tmp_path):
    recipe = load_recipe(REPO / "recipes" / name)
    again = recipe_from_dict(recipe_to_dict(recipe))
    assert recipe_to_dict(again) == recipe_to_dict(recipe)
    dump_recipe(recipe, tmp_path / "copy.yaml")
    assert recipe_to_dict(load_recipe(tmp_path / "copy.yaml")) == recipe_to_dict(recipe)


def test_head_settings_become_the_heads_config(tmp_path):
    r = load_recipe(_write(tmp_path, BASE))
    assert r.model.heads["lanes"].rows == 16 and r.model.heads["vehicles"].stride == 8
    assert r.data.imgsz == (384, 640) and r.train.epochs == 30


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"train.epoch": 3}, r"train\.epoch: unknown key\. Did you mean 'epochs'\?"),
        ({"train.lr": "fast"}, r"train\.lr: expected a number, got 'fast'"),
        ({"train.amp": 1}, r"train\.amp: expected true or false"),
        ({"train.batch": 2.5}, r"train\.batch: expected a whole number"),
        ({"data.imgsz": [380, 640]}, r"data\.imgsz: \[380, 640\] must be positive multiples of 32"),
        ({"data.train": {"root": "x", "synth": {"n": 1, "seed": 1}}}, r"data\.train: give exactly one data source"),
        ({"data.train": {}}, r"data\.train: give exactly one data source.*got none"),
        (
            {"data.val.root": "does/not/exist", "data.val.synth": None},
            r"data\.val\.root: does/not/exist does not "
            r"exist\. Generate it with `mtl-edge data synth",
        ),
        ({"data.train.drivable_coding": "2019"}, r"'2019' is not allowed; use one of '2018', '2020'"),
        ({"model.heads.wheels": {}}, r"model\.heads\.wheels: unknown head; known heads: .*lanes"),
        ({"model.heads.lanes": {"slot": 4}}, r"model\.heads\.lanes\.slot: unknown key\. Did you mean 'slots'"),
        ({"loss.weights": {"signs": 2.0}}, r"loss\.weights\.signs: no such head in model\.heads"),
        ({"train.epochs": 0}, r"train\.epochs: must be at least 1"),
    ],
)
def test_malformed_recipes_name_the_key_and_the_fix(change, message, tmp_path):
    path = _write(tmp_path, _with(change))
    with pytest.raises(RecipeError, match=message) as e:
        load_recipe(path)
    assert str(path) in str(e.value)


def test_missing_required_key(tmp_path):
    data = {k: v for k, v in BASE.items() if k != "data"}
    with pytest.raises(RecipeError, match=r"data: missing required key; add it \(see recipes/synth-edge\.yaml"):
        load_recipe(_write(tmp_path, data))


def test_broken_yaml_gives_the_line(tmp_path):
    path = _write(tmp_path, "name: t\ndata:\n  train: [\n  val: 3\n")
    with pytest.raises(RecipeError, match=r"not valid YAML at line \d+, column \d+"):
        load_recipe(path)


def test_unreadable_or_non_mapping_files(tmp_path):
    with pytest.raises(RecipeError, match="cannot read the recipe"):
        load_recipe(tmp_path / "nope.yaml")
    with pytest.raises(RecipeError, match="a recipe is a mapping"):
        load_recipe(_write(tmp_path, "- just\n- a list\n"))
