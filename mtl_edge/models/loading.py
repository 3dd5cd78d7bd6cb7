"""Build the network a recipe describes, and load a checkpoint into it.

Export, the runtime's torch backend, evaluation, ``info`` and training all need this; it
lives apart from the trainer so none of them imports training code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mtl_edge.checkpoint import CheckpointError, load_checkpoint
from mtl_edge.config import recipe_from_dict
from mtl_edge.models.network import MultiTaskNet, build_model


def model_from_recipe(model_cfg: Any) -> MultiTaskNet:
    """The network of a recipe's ``model`` section (untrained)."""
    bb = model_cfg.backbone
    kwargs = {"width": bb.width, "depth": bb.depth} if bb.name == "edgenet" else {}
    return build_model(bb.name, kwargs, model_cfg.neck.channels, model_cfg.neck.depth, dict(model_cfg.heads))


def load_model(path: str | Path) -> tuple[MultiTaskNet, dict[str, Any]]:
    """Rebuild the network a checkpoint's recipe describes and load its weights (eval mode)."""
    ckpt = load_checkpoint(path)
    recipe = recipe_from_dict(ckpt["recipe"], where=f"{path} (recipe)")
    net = model_from_recipe(recipe.model)
    try:
        net.load_state_dict(ckpt["model"])
    except RuntimeError as e:
        raise CheckpointError(
            f"{path}: its weights do not fit the model its recipe describes ({str(e)[:300]}). "
            "The checkpoint is damaged or was edited; retrain it."
        ) from e
    return net.eval(), ckpt
