"""Rebuilding a checkpoint's network from its recipe, and refusing weights that do not fit it."""

from __future__ import annotations

import pytest
import torch

from mtl_edge.assets import SHIPPED_CHECKPOINT
from mtl_edge.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from mtl_edge.models.loading import load_model, model_from_recipe


def test_the_shipped_checkpoint_rebuilds_in_eval_mode_with_its_weights():
    net, ckpt = load_model(SHIPPED_CHECKPOINT)
    assert not net.training and set(net.heads) == {"lanes", "vehicles", "signs", "drivable"}
    state = net.state_dict()
    assert all(torch.equal(state[k], v) for k, v in ckpt["model"].items())


def test_weights_that_do_not_fit_the_recipe_are_refused_with_the_fix(tmp_path):
    ckpt = load_checkpoint(SHIPPED_CHECKPOINT)
    model = dict(ckpt["model"])
    key = next(k for k in model if k.endswith("weight") and model[k].ndim == 4)
    model[key] = model[key][:1]
    save_checkpoint(tmp_path / "bad.pt", recipe=ckpt["recipe"], model=model)
    with pytest.raises(CheckpointError, match="retrain"):
        load_model(tmp_path / "bad.pt")


def test_model_from_recipe_is_untrained_but_the_same_shape():
    from mtl_edge.config import recipe_from_dict

    recipe = recipe_from_dict(load_checkpoint(SHIPPED_CHECKPOINT)["recipe"], where="shipped")
    fresh = model_from_recipe(recipe.model)
    trained, _ = load_model(SHIPPED_CHECKPOINT)
    assert {k: v.shape for k, v in fresh.state_dict().items()} == {k: v.shape for k, v in trained.state_dict().items()}
