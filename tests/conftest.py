"""Fixtures shared across the test tree: a tiny generated dataset and a tiny trained run."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from mtl_edge.data.synth.writer import SynthOptions, generate

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "synth-tiny.yaml"


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> tuple[Path, Path]:
    """(train, val) folders of a few 640x360 generated scenes."""
    root = tmp_path_factory.mktemp("tiny-data")
    generate(root / "train", 12, SynthOptions(seed=31, width=640, height=360), workers=1, progress=False)
    generate(root / "val", 6, SynthOptions(seed=32, width=640, height=360), workers=1, progress=False)
    return root / "train", root / "val"


def tiny_recipe(train: Path, val: Path, epochs: int = 1):
    """synth-tiny.yaml pointed at the given folders, at 128x224, for seconds-long runs."""
    from mtl_edge.config import load_recipe

    r = load_recipe(RECIPE, check_paths=False)
    r.data.train = dataclasses.replace(r.data.train, synth=None, root=str(train))
    r.data.val = dataclasses.replace(r.data.val, synth=None, root=str(val))
    r.data.imgsz = (128, 224)
    r.train.epochs, r.train.batch, r.train.eval_images = epochs, 4, 6
    return r


@pytest.fixture(scope="session")
def tiny_run(tiny_data, tmp_path_factory) -> Path:
    """A 1-epoch run of the tiny recipe; returns its run folder (best.pt, last.pt)."""
    from mtl_edge.train import train

    out = tmp_path_factory.mktemp("tiny-run")
    train(tiny_recipe(*tiny_data), out, progress=False)
    return out


@pytest.fixture(scope="session")
def tiny_onnx(tiny_run, tmp_path_factory) -> Path:
    """The tiny run exported to fp32 ONNX at 128x224 (the runtime and backend tests' model)."""
    from mtl_edge.export.exporter import export

    path = tmp_path_factory.mktemp("rt-model") / "tiny.onnx"
    export(tiny_run / "best.pt", path, imgsz=(128, 224), val_images=0)
    return path
