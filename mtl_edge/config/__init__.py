"""Recipes: YAML files parsed into typed dataclasses, with errors that name the key and the fix.

A recipe has four sections: ``data`` (splits and input size), ``model`` (backbone, neck,
heads), ``loss`` and ``train``. Each head's settings are the ``Config`` dataclass of the
registered head class, so a head documents its own options. Data paths are kept as
written; relative ones are resolved against the current working directory (run
``mtl-edge`` from the repository root, as the README's commands do), not against the
recipe file's folder.

``from_dict`` is the one generic piece: it builds any (nested) dataclass from plain YAML
data, so a new setting is a new annotated field with a commented default, nothing more.

The parts: ``schema`` (the dataclasses), ``convert`` (plain data <-> dataclasses),
``validate`` (the checks a recipe must pass), ``migrate`` (replaced settings), ``load``
(files and plain data in and out) and ``errors`` (``RecipeError``).
"""

from .convert import from_dict, to_dict
from .errors import EXAMPLE, RecipeError
from .load import dump_recipe, load_recipe, recipe_from_dict, recipe_to_dict
from .schema import (
    BackboneConfig,
    DataConfig,
    DataSplit,
    LossConfig,
    ModelConfig,
    NeckConfig,
    Recipe,
    SynthSpec,
    TrainConfig,
)

__all__ = [
    "EXAMPLE",
    "BackboneConfig",
    "DataConfig",
    "DataSplit",
    "LossConfig",
    "ModelConfig",
    "NeckConfig",
    "Recipe",
    "RecipeError",
    "SynthSpec",
    "TrainConfig",
    "dump_recipe",
    "from_dict",
    "load_recipe",
    "recipe_from_dict",
    "recipe_to_dict",
    "to_dict",
]
