"""Replaced settings: old recipes load with a deprecation message, and checkpoints' stored recipes quietly."""

from __future__ import annotations

import pytest
import yaml

from mtl_edge.config import RecipeError, load_recipe, recipe_from_dict
from tests.config.recipes import REPO, write_recipe


def _edge_with_old_glimpse_setting(epochs: int) -> dict:
    """synth-edge.yaml as recipes gave it before each glimpse's fit_epochs was the one setting."""
    data = yaml.safe_load((REPO / "recipes" / "synth-edge.yaml").read_text())
    del data["model"]["heads"]["signs"]["glimpse"]["fit_epochs"]
    data["train"]["glimpse_epochs"] = epochs
    return data


def test_an_old_recipe_with_train_glimpse_epochs_loads_with_a_deprecation_message(tmp_path):
    path = write_recipe(tmp_path, _edge_with_old_glimpse_setting(5))
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
