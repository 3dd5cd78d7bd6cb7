"""Recipe files and plain data: valid ones round-trip; a file that is no recipe says why, with line and column."""

from __future__ import annotations

import json

import pytest

from mtl_edge.config import Recipe, RecipeError, SynthSpec, dump_recipe, load_recipe, recipe_from_dict, recipe_to_dict
from tests.config.recipes import BASE, FULL, REPO, BoxesConfig, PaintConfig, with_changes, write_recipe

# ----------------------------------------------------------------------------- valid recipes


def test_full_recipe_parses_to_typed_values(tmp_path, heads):
    r = load_recipe(write_recipe(tmp_path, FULL), heads_registry=heads)
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
    r = load_recipe(write_recipe(tmp_path, BASE), heads_registry=heads)
    assert r.data.imgsz == (384, 640) and r.data.cache is True and r.data.workers == 0
    assert (r.model.backbone.name, r.model.backbone.width, r.model.neck.channels) == ("edgenet", 1.0, 64)
    assert r.model.heads == {"boxes": BoxesConfig(), "paint": PaintConfig(channels=8)}
    assert r.loss.weights == {} and r.loss.uncertainty is False
    assert r.train.epochs == 30 and r.train.amp is True and r.train.lr == 2e-3


def test_round_trip_through_plain_data_and_yaml(tmp_path, heads):
    recipe = load_recipe(write_recipe(tmp_path, FULL), heads_registry=heads)
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


@pytest.mark.parametrize("name", ["synth-edge.yaml", "synth-tiny.yaml", "bdd100k.yaml", "bdd100k+mtsd.yaml"])
def test_shipped_recipes_load_and_round_trip(name, tmp_path):
    """The real recipes against the real heads (BDD100K is not downloaded, so paths go unchecked)."""
    recipe = load_recipe(REPO / "recipes" / name, check_paths=False)
    assert recipe_from_dict(recipe_to_dict(recipe)) == recipe
    dump_recipe(recipe, tmp_path / "copy.yaml")
    assert load_recipe(tmp_path / "copy.yaml", check_paths=False) == recipe


def test_recipe_from_dict_errors_name_the_checkpoint(heads):
    with pytest.raises(RecipeError, match=r"^<checkpoint>: train\.epoch: unknown key"):
        recipe_from_dict(with_changes({"train.epoch": 3}), heads_registry=heads)
    with pytest.raises(RecipeError, match=r"^run/best\.pt \(recipe\): model\.heads\.wheels: unknown head"):
        recipe_from_dict(with_changes({"model.heads.wheels": {}}), where="run/best.pt (recipe)", heads_registry=heads)


# ----------------------------------------------------------------------------- the file itself


def test_malformed_yaml_gives_line_and_column(tmp_path, heads):
    path = write_recipe(tmp_path, "name: t\ndata:\n  imgsz: [384, 640\nmodel: {}\n")
    with pytest.raises(RecipeError, match=r"not valid YAML at line 4, column 6: .*Fix the indentation or quoting"):
        load_recipe(path, heads_registry=heads)


def test_duplicate_yaml_keys_are_refused(tmp_path, heads):
    path = write_recipe(tmp_path, "name: t\ntrain:\n  lr: 0.001\n  lr: 0.002\n")
    with pytest.raises(RecipeError, match=r"at line 4, column 3: found the key 'lr' twice\. Keep only one"):
        load_recipe(path, heads_registry=heads)


def test_unreadable_empty_or_non_mapping_files(tmp_path, heads):
    with pytest.raises(RecipeError, match="nope.yaml: cannot read the recipe"):
        load_recipe(tmp_path / "nope.yaml", heads_registry=heads)
    with pytest.raises(RecipeError, match="a recipe is a mapping .* got list"):
        load_recipe(write_recipe(tmp_path, "- just\n- a list\n"), heads_registry=heads)
    with pytest.raises(RecipeError, match="got an empty file"):
        load_recipe(write_recipe(tmp_path, ""), heads_registry=heads)
