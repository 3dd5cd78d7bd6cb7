"""Recipes: valid ones round-trip; malformed ones fail naming the file, the key and the fix.

Most tests use dummy heads in a fresh ``Registry`` so they check the loader alone, not
the shipped heads' settings; only the shipped-recipe test uses the real registry.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml

from mtl_edge.config import (
    DataSplit,
    Recipe,
    RecipeError,
    SynthSpec,
    dump_recipe,
    from_dict,
    load_recipe,
    recipe_from_dict,
    recipe_to_dict,
    to_dict,
)
from mtl_edge.models.registry import Registry

REPO = Path(__file__).resolve().parents[1]


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


@pytest.fixture
def heads() -> Registry:
    registry = Registry("head")
    registry.register("boxes")(BoxesHead)
    registry.register("paint")(PaintHead)
    return registry


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


def _write(tmp_path: Path, data: Any, name: str = "r.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path


def _with(change: dict[str, Any], base: dict[str, Any] = BASE) -> dict[str, Any]:
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


# ----------------------------------------------------------------------------- valid recipes


def test_full_recipe_parses_to_typed_values(tmp_path, heads):
    r = load_recipe(_write(tmp_path, FULL), heads_registry=heads)
    assert isinstance(r, Recipe) and r.name == "full"
    assert r.data.train.synth == SynthSpec(n=96, seed=11, size=(640, 360))
    assert r.data.val.synth == SynthSpec(n=24, seed=900011, size=(1280, 720))  # default size
    assert r.data.imgsz == (192, 320) and r.data.cache is False and r.data.workers == 2
    assert r.model.backbone.depth == 1.0 and isinstance(r.model.backbone.depth, float)
    assert (r.model.neck.channels, r.model.neck.depth) == (32, 2)
    assert r.model.heads["boxes"] == BoxesConfig(classes=("truck",), stride=4, gain=2.0, mode="nms")
    assert r.model.heads["paint"] == PaintConfig()  # null means the head's defaults
    assert r.loss.weights == {"boxes": 2.0} and r.loss.uncertainty is True
    t = r.train
    assert (t.epochs, t.batch, t.lr, t.amp, t.ema_decay, t.score_threshold) == (3, 8, 3e-3, False, 0.99, 0.25)
    assert (t.weight_decay, t.warmup_epochs, t.grad_clip, t.eval_every, t.eval_images) == (5e-4, 1.0, 10.0, 1, 200)


def test_defaults_fill_omitted_sections(tmp_path, heads):
    r = load_recipe(_write(tmp_path, BASE), heads_registry=heads)
    assert r.data.imgsz == (384, 640) and r.data.cache is True and r.data.workers == 0
    assert (r.model.backbone.name, r.model.backbone.width, r.model.neck.channels) == ("edgenet", 1.0, 64)
    assert r.model.heads == {"boxes": BoxesConfig(), "paint": PaintConfig(channels=8)}
    assert r.loss.weights == {} and r.loss.uncertainty is False
    assert r.train.epochs == 30 and r.train.amp is True and r.train.lr == 2e-3


def test_round_trip_through_plain_data_and_yaml(tmp_path, heads):
    recipe = load_recipe(_write(tmp_path, FULL), heads_registry=heads)
    plain = recipe_to_dict(recipe)
    assert json.loads(json.dumps(plain)) == plain  # JSON-safe: what a checkpoint stores
    assert plain["data"]["imgsz"] == [192, 320] and plain["model"]["heads"]["boxes"]["classes"] == ["truck"]
    again = recipe_from_dict(plain, heads_registry=heads)
    assert again == recipe
    dump_recipe(recipe, tmp_path / "out" / "copy.yaml")
    assert load_recipe(tmp_path / "out" / "copy.yaml", heads_registry=heads) == recipe
    assert not [p for p in (tmp_path / "out").iterdir() if p.name != "copy.yaml"]  # no temp files left


def test_recipe_from_dict_accepts_ready_head_configs(heads):
    recipe = recipe_from_dict(BASE, heads_registry=heads)
    assert recipe_from_dict(recipe_to_dict(recipe), heads_registry=heads) == recipe


@pytest.mark.parametrize("name", ["synth-edge.yaml", "synth-tiny.yaml", "bdd100k.yaml"])
def test_shipped_recipes_load_and_round_trip(name, tmp_path):
    """The real recipes against the real heads (BDD100K is not downloaded, so paths go unchecked)."""
    recipe = load_recipe(REPO / "recipes" / name, check_paths=False)
    assert recipe_from_dict(recipe_to_dict(recipe)) == recipe
    dump_recipe(recipe, tmp_path / "copy.yaml")
    assert load_recipe(tmp_path / "copy.yaml", check_paths=False) == recipe


# ----------------------------------------------------------------------------- malformed recipes

ERRORS = [
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
    ({"data.val": ...}, r"data\.val: missing required key; add it \(see recipes/synth-edge\.yaml"),
    ({"data.val.synth": {"n": 3}}, r"data\.val\.synth\.seed: missing required key"),
    # literals
    ({"model.heads.boxes": {"mode": "fastest"}}, r"boxes\.mode: 'fastest' is not allowed; use one of 'peak', 'nms'\."),
    ({"data.train.drivable_coding": 2020}, r"drivable_coding: 2020 is not allowed \(quote it.*'2018', '2020'"),
    # data sources
    (
        {"data.train": {"root": "x", "synth": {"n": 1, "seed": 1}}},
        r"data\.train: give exactly one data source: root .*, images \+ labels .* or synth .*; got root and synth\.",
    ),
    ({"data.train": {}}, r"data\.train: give exactly one data source.*got none\."),
    ({"data.val": None}, r"data\.val: give exactly one data source.*got none\."),
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


@pytest.mark.parametrize(("change", "message"), ERRORS, ids=[m[:40] for _, m in ERRORS])
def test_malformed_recipes_name_the_file_key_and_fix(change, message, tmp_path, heads):
    path = _write(tmp_path, _with(change))
    with pytest.raises(RecipeError, match=message) as e:
        load_recipe(path, heads_registry=heads)
    assert str(e.value).startswith(f"{path}: ")
    assert isinstance(e.value, ValueError)


def test_recipe_from_dict_errors_name_the_checkpoint(heads):
    with pytest.raises(RecipeError, match=r"^<checkpoint>: train\.epoch: unknown key"):
        recipe_from_dict(_with({"train.epoch": 3}), heads_registry=heads)
    with pytest.raises(RecipeError, match=r"^run/best\.pt \(recipe\): model\.heads\.wheels: unknown head"):
        recipe_from_dict(_with({"model.heads.wheels": {}}), where="run/best.pt (recipe)", heads_registry=heads)


def test_head_without_config_is_a_programming_error(heads):
    heads.register("bare")(type("BareHead", (), {}))
    with pytest.raises(TypeError, match="head 'bare' has no Config dataclass"):
        recipe_from_dict(_with({"model.heads.bare": {}}), heads_registry=heads)


# ----------------------------------------------------------------------------- data paths


def test_missing_root_says_how_to_generate_it(tmp_path, heads, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = _write(tmp_path, _with({"data.val": {"root": "data/synth-val"}}))
    with pytest.raises(RecipeError) as e:
        load_recipe(path, heads_registry=heads)
    assert "data.val.root: data/synth-val is not a folder" in str(e.value)
    assert "`mtl-edge data synth --out data/synth-val --n N`" in str(e.value)
    assert load_recipe(path, heads_registry=heads, check_paths=False).data.val.root == "data/synth-val"
    (tmp_path / "data" / "synth-val").mkdir(parents=True)  # relative paths start at the current directory
    assert load_recipe(path, heads_registry=heads).data.val.root == "data/synth-val"


def test_missing_bdd100k_files_are_named(tmp_path, heads, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "imgs").mkdir()
    (tmp_path / "det.json").write_text("[]")
    split = {"images": "imgs", "labels": ["det.json", "lane.json"], "drivable": "masks"}
    path = _write(tmp_path, _with({"data.train": split}))
    with pytest.raises(RecipeError, match=r"data\.train\.drivable: masks does not exist\. Download BDD100K"):
        load_recipe(path, heads_registry=heads)
    (tmp_path / "masks").mkdir()
    with pytest.raises(RecipeError, match=r"data\.train\.labels\[1\]: lane\.json does not exist.*or fix the path"):
        load_recipe(path, heads_registry=heads)
    (tmp_path / "lane.json").write_text("[]")
    split_cfg = load_recipe(path, heads_registry=heads).data.train
    assert split_cfg == DataSplit(images="imgs", labels=["det.json", "lane.json"], drivable="masks")


# ----------------------------------------------------------------------------- the file itself


def test_malformed_yaml_gives_line_and_column(tmp_path, heads):
    path = _write(tmp_path, "name: t\ndata:\n  imgsz: [384, 640\nmodel: {}\n")
    with pytest.raises(RecipeError, match=r"not valid YAML at line 4, column 6: .*Fix the indentation or quoting"):
        load_recipe(path, heads_registry=heads)


def test_duplicate_yaml_keys_are_refused(tmp_path, heads):
    path = _write(tmp_path, "name: t\ntrain:\n  lr: 0.001\n  lr: 0.002\n")
    with pytest.raises(RecipeError, match=r"at line 4, column 3: found the key 'lr' twice\. Keep only one"):
        load_recipe(path, heads_registry=heads)


def test_unreadable_empty_or_non_mapping_files(tmp_path, heads):
    with pytest.raises(RecipeError, match="nope.yaml: cannot read the recipe"):
        load_recipe(tmp_path / "nope.yaml", heads_registry=heads)
    with pytest.raises(RecipeError, match="a recipe is a mapping .* got list"):
        load_recipe(_write(tmp_path, "- just\n- a list\n"), heads_registry=heads)
    with pytest.raises(RecipeError, match="got an empty file"):
        load_recipe(_write(tmp_path, ""), heads_registry=heads)


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


def test_a_value_a_head_config_rejects_is_reported_at_its_section(tmp_path):
    """Checks a head's config dataclass runs on its own values (``__post_init__``) reach the
    user as a RecipeError naming the file and the section, before any data is prepared."""
    data = yaml.safe_load((Path(__file__).parents[1] / "recipes" / "synth-edge.yaml").read_text())
    data["model"]["heads"]["vehicles"]["glimpse"]["refined_nms_iou"] = 1.5
    path = _write(tmp_path, data)
    message = r"model\.heads\.vehicles\.glimpse: glimpse\.refined_nms_iou must be in \[0, 1\).*got 1\.5"
    with pytest.raises(RecipeError, match=message) as e:
        load_recipe(path, check_paths=False)
    assert str(e.value).startswith(f"{path}: ")


# ----------------------------------------------------------------------------- replaced settings


def _edge_with_old_glimpse_setting(epochs: int) -> dict:
    """synth-edge.yaml as recipes gave it before each glimpse's fit_epochs was the one setting."""
    data = yaml.safe_load((REPO / "recipes" / "synth-edge.yaml").read_text())
    del data["model"]["heads"]["signs"]["glimpse"]["fit_epochs"]
    data["train"]["glimpse_epochs"] = epochs
    return data


def test_an_old_recipe_with_train_glimpse_epochs_loads_with_a_deprecation_message(tmp_path):
    path = _write(tmp_path, _edge_with_old_glimpse_setting(5))
    with pytest.warns(FutureWarning, match=r"train\.glimpse_epochs is deprecated.*signs\.glimpse\.fit_epochs: 5"):
        recipe = load_recipe(path, check_paths=False)
    heads = recipe.model.heads
    assert heads["vehicles"].glimpse.fit_epochs == 16 and heads["signs"].glimpse.fit_epochs == 5  # its own wins
    assert not hasattr(recipe.train, "glimpse_epochs")


def test_old_glimpse_settings_that_disagree_are_refused():
    with pytest.raises(RecipeError, match=r"vehicles\.glimpse\.fit_epochs: is 16.*glimpse_epochs: 0.*disagree"):
        recipe_from_dict(_edge_with_old_glimpse_setting(0))


def test_the_shipped_checkpoint_and_its_old_recipe_still_load(recwarn):
    from mtl_edge.assets import SHIPPED_CHECKPOINT
    from mtl_edge.checkpoint import load_checkpoint
    from mtl_edge.models.loading import load_model

    stored = load_checkpoint(SHIPPED_CHECKPOINT)["recipe"]
    assert stored["train"]["glimpse_epochs"] == 8  # written before the setting moved
    net, _ = load_model(SHIPPED_CHECKPOINT)
    assert net.heads["vehicles"].cfg.glimpse.fit_epochs == 16 and net.heads["signs"].cfg.glimpse.fit_epochs == 8
    assert not [w for w in recwarn if issubclass(w.category, FutureWarning)]  # a stored recipe loads quietly
