"""The checks a parsed recipe must pass: data sources, sizes, ranges, heads, loss weights and data paths."""

from __future__ import annotations

import pytest
import yaml

from mtl_edge.config import DataSplit, RecipeError, load_recipe, recipe_from_dict
from tests.config.recipes import REPO, assert_refused, with_changes, write_recipe

CHECK_ERRORS = [
    # data sources
    (
        {"data.train": {"root": "x", "synth": {"n": 1, "seed": 1}}},
        r"data\.train: give exactly one data source: root .*, images \+ labels .*, synth .* "
        r"or datasets .*; got root and synth\.",
    ),
    ({"data.train": {}}, r"data\.train: give exactly one data source.*got none\."),
    ({"data.val": {}}, r"data\.val: give exactly one data source.*got none\."),
    (
        {"data.train": {"datasets": [{"root": "x", "synth": {"n": 1, "seed": 1}}]}},
        r"data\.train\.datasets\[0\]: give exactly one",
    ),
    (
        {"data.train": {"root": "x", "datasets": [{"root": "y"}]}},
        r"data\.train: has datasets: and root; put every source",
    ),
    (
        {"data.train": {"root": "x", "layout": "kitti"}},
        r"data\.train\.layout: unknown layout; use one of generated, bdd100k",
    ),
    (
        {"data.train": {"root": "x", "categories": {"van": "vehicles/van"}}},
        r"data\.train\.categories: .*'van' is not a class of vehicles",
    ),
    (
        {"data.train": {"synth": {"n": 1, "seed": 1}, "heads": ["pedestrians"]}},
        r"data\.train\.heads: 'pedestrians' is not a head of model\.heads",
    ),
    ({"data.train": {"root": "x", "lanes": {"markings": ["zebra"]}}}, r"data\.train\.lanes: "),
    ({"data.train": {"root": "x", "weight": 0}}, r"data\.train\.weight: must be positive"),
    (
        {"data.train": {"heads": ["lanes"], "datasets": [{"root": "y"}]}},
        r"data\.train\.heads: is a setting of one dataset; move it into each entry of datasets:",
    ),
    ({"data.train.labels": ["a.json"]}, r"data\.train\.labels: only goes with images.*remove it"),
    ({"data.val": {"images": "imgs"}}, r"data\.val\.labels: images needs at least one label file"),
    ({"data.val": {"root": ""}}, r"data\.val\.root: is empty; give a path or remove it\."),
    ({"data.val.synth.n": 0}, r"data\.val\.synth\.n: must be at least 1, got 0"),
    # ranges
    ({"data.imgsz": [380, 640]}, r"data\.imgsz: \[380, 640\] must be positive multiples of 32 .* e\.g\. \[384, 640\]"),
    ({"data.imgsz": [0, 640]}, r"data\.imgsz: \[0, 640\] must be positive multiples of 32"),
    ({"data.workers": -1}, r"data\.workers: must be 0 or more, got -1"),
    ({"model.backbone.width": 0}, r"model\.backbone\.width: must be positive, got 0\.0"),
    ({"train.epochs": 0}, r"train\.epochs: must be at least 1, got 0"),
    ({"train.lr": -1e-3}, r"train\.lr: must be positive, got -0\.001"),
    ({"train.ema_decay": 1.0}, r"train\.ema_decay: must be in \[0, 1\), got 1\.0"),
    ({"train.score_threshold": 1.5}, r"train\.score_threshold: must be in \[0, 1\], got 1\.5"),
    ({"name": " "}, r"name: must not be empty"),
    # heads and loss weights
    ({"model.heads.wheels": {}}, r"model\.heads\.wheels: unknown head; known heads: boxes, paint\."),
    ({"model.heads": {}}, r"model\.heads: no heads; add at least one of boxes, paint \(e\.g\. boxes: \{\}\)\."),
    ({"model": ...}, r"model\.heads: no heads; add at least one of boxes, paint"),
    ({"loss.weights": {"lanes": 2.0}}, r"loss\.weights\.lanes: no such head in model\.heads \(boxes, paint\); remove"),
    ({"loss.weights": {"boxes": -1}}, r"loss\.weights\.boxes: must be 0 or more, got -1\.0"),
]


@pytest.mark.parametrize(("change", "message"), CHECK_ERRORS, ids=[m[:40] for _, m in CHECK_ERRORS])
def test_malformed_recipes_name_the_file_key_and_fix(change, message, tmp_path, heads):
    assert_refused(change, message, tmp_path, heads)


def test_head_without_config_is_a_programming_error(heads):
    heads.register("bare")(type("BareHead", (), {}))
    with pytest.raises(TypeError, match="head 'bare' has no Config dataclass"):
        recipe_from_dict(with_changes({"model.heads.bare": {}}), heads_registry=heads)


def test_a_value_a_head_config_rejects_is_reported_at_its_section(tmp_path):
    """Checks a head's config dataclass runs on its own values (``__post_init__``) reach the
    user as a RecipeError naming the file and the section, before any data is prepared."""
    data = yaml.safe_load((REPO / "recipes" / "synth-edge.yaml").read_text())
    data["model"]["heads"]["vehicles"]["glimpse"]["refined_nms_iou"] = 1.5
    path = write_recipe(tmp_path, data)
    message = r"model\.heads\.vehicles\.glimpse: glimpse\.refined_nms_iou must be in \[0, 1\).*got 1\.5"
    with pytest.raises(RecipeError, match=message) as e:
        load_recipe(path, check_paths=False)
    assert str(e.value).startswith(f"{path}: ")


# ----------------------------------------------------------------------------- data paths


def test_missing_root_says_how_to_generate_it(tmp_path, heads, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write_recipe(tmp_path, with_changes({"data.val": {"root": "data/synth-val"}}))
    with pytest.raises(RecipeError) as e:
        load_recipe(path, heads_registry=heads)
    assert "data.val.root: data/synth-val is not a folder" in str(e.value)
    assert "`mtl-edge data synth --out data/synth-val --n N [--layout bdd100k]`" in str(e.value)
    assert load_recipe(path, heads_registry=heads, check_paths=False).data.val.root == "data/synth-val"
    (tmp_path / "data" / "synth-val").mkdir(parents=True)  # relative paths start at the current directory
    assert load_recipe(path, heads_registry=heads).data.val.root == "data/synth-val"


def test_missing_bdd100k_files_are_named(tmp_path, heads, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "imgs").mkdir()
    (tmp_path / "det.json").write_text("[]")
    split = {"images": "imgs", "labels": ["det.json", "lane.json"], "drivable": "masks"}
    path = write_recipe(tmp_path, with_changes({"data.train": split}))
    with pytest.raises(RecipeError, match=r"data\.train\.drivable: masks does not exist\. Download the dataset"):
        load_recipe(path, heads_registry=heads)
    (tmp_path / "masks").mkdir()
    with pytest.raises(RecipeError, match=r"data\.train\.labels\[1\]: lane\.json does not exist.*or fix the path"):
        load_recipe(path, heads_registry=heads)
    (tmp_path / "lane.json").write_text("[]")
    split_cfg = load_recipe(path, heads_registry=heads).data.train
    assert split_cfg == DataSplit(images="imgs", labels=["det.json", "lane.json"], drivable="masks")
