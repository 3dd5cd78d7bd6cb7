"""A tiny real batch (generated scenes through the real dataset) shared by head tests."""

from __future__ import annotations

import pytest
import torch

from mtl_edge.data.dataset import collate
from mtl_edge.data.splits import open_folder
from mtl_edge.data.synth.writer import SynthOptions, generate
from mtl_edge.data.transforms import build_transforms
from mtl_edge.models.network import build_model

ALL_HEADS = {"lanes": None, "vehicles": None, "signs": None, "drivable": None}


@pytest.fixture(scope="session")
def tiny_batch(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    generate(root, 4, SynthOptions(seed=21, width=640, height=360), workers=1, progress=False)
    ds = open_folder(root, transforms=build_transforms((192, 320), train=False))
    images, targets = collate([ds[i] for i in range(len(ds))])
    targets["input_hw"] = tuple(images.shape[-2:])
    return images, targets


@pytest.fixture
def small_net():
    torch.manual_seed(0)
    return build_model("edgenet", {"width": 0.5, "depth": 0.5}, 32, 1, dict(ALL_HEADS))
