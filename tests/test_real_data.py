"""The real-data path end to end, on generated scenes written in the published layouts.

``mtl-edge data synth --layout bdd100k|mtsd|culane`` writes scenes exactly as those datasets are
published (sparse lane vertices, double lines as two polylines, crosswalks, curbs, unused
categories, frames without labels); the readers themselves are tested on hand-written files in
tests/data/layouts. Here the shipped recipes run on them: training with validation, eval
without --data, data show, an INT8 export whose accuracy check runs, and a mixed recipe.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from mtl_edge.checkpoint import load_checkpoint
from mtl_edge.cli import main
from mtl_edge.config import recipe_from_dict
from mtl_edge.data.dataset import collate
from mtl_edge.data.splits import MixedDataset, open_split
from mtl_edge.data.synth.published_run import generate_published, options_for
from mtl_edge.data.transforms import build_transforms
from mtl_edge.losses import MultiTaskLoss
from mtl_edge.models.loading import model_from_recipe
from mtl_edge.models.network import normalize
from mtl_edge.train import train

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
SIZE = (320, 180)


def _write(root: Path, layout: str, n: dict[str, int], size: tuple[int, int] = SIZE) -> Path:
    for split, count in n.items():
        generate_published(root, count, options_for(layout, 5, size), split=split, workers=1, progress=False)
    return root


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("published")
    return {
        "bdd100k": _write(base / "bdd100k", "bdd100k", {"train": 8, "val": 4}),
        "mtsd": _write(base / "mtsd", "mtsd", {"train": 6, "val": 3}),
        "culane": _write(base / "culane", "culane", {"train": 6, "val": 3}, size=(328, 118)),
    }


def _small(recipe: dict[str, Any]) -> dict[str, Any]:
    """A shipped recipe cut to CPU-test size: tiny input, narrow network, 2 short epochs, every epoch scored."""
    recipe["data"].update(imgsz=[96, 160], cache=True, workers=0)
    recipe["model"]["backbone"] = {"name": "edgenet", "width": 0.25, "depth": 0.5}
    recipe["model"]["neck"] = {"channels": 16, "depth": 1}
    for head in recipe["model"]["heads"].values():
        if isinstance(head, dict) and "glimpse" in head:
            head["glimpse"]["fit_epochs"] = 1
    recipe["train"] = {"epochs": 2, "batch": 4, "eval_every": 1, "eval_images": 4, "amp": False, "warmup_epochs": 0.5}
    return recipe


def _recipe(name: str, roots: dict[str, Path]) -> dict[str, Any]:
    data = yaml.safe_load((RECIPES / name).read_text())
    for role in ("train", "val"):
        for part in data["data"][role].get("datasets") or [data["data"][role]]:
            part["root"] = str(roots[part["layout"]])
    return _small(data)


@pytest.fixture(scope="module")
def bdd_run(published: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    recipe = recipe_from_dict(_recipe("bdd100k.yaml", published), "recipes/bdd100k.yaml (paths overridden)")
    return train(recipe, tmp_path_factory.mktemp("bdd-run"), progress=False)


def test_the_bdd100k_recipe_validates_every_epoch_and_keeps_the_best(bdd_run: Path) -> None:
    history = load_checkpoint(bdd_run.parent / "last.pt")["train_state"]["history"]
    scores = [h["score"] for h in history]
    assert len(scores) == 2 and all(s == s for s in scores), "both epochs were scored on the val split"
    best = load_checkpoint(bdd_run)
    assert best["epoch"] + 1 == history[scores.index(max(scores))]["epoch"]
    assert set(best["metrics"]) == {"lanes", "vehicles", "drivable"}
    assert all(
        0.0 <= best["metrics"][h][k] <= 1.0 for h, k in (("lanes", "f1"), ("vehicles", "mAP50"), ("drivable", "miou"))
    )


def test_eval_scores_the_recipes_val_split_without_data(bdd_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(bdd_run), "--protocol", "bdd100k-yolop"]) == 0
    out = capsys.readouterr().out
    for word in ("lanes", "vehicles", "drivable", "f1", "mAP50", "miou", "YOLOP", "HybridNets"):
        assert word in out


def test_data_show_draws_the_published_layout(published: dict[str, Path], tmp_path: Path) -> None:
    for layout in ("bdd100k", "mtsd", "culane"):
        out = tmp_path / layout
        assert main(["data", "show", str(published[layout]), "--out", str(out), "--n", "2"]) == 0
        assert len(list(out.glob("*.png"))) == 2


def test_int8_export_calibrates_on_the_real_images_and_measures_accuracy(
    bdd_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["export", str(bdd_run), "--out", str(tmp_path / "m.onnx"), "--precision", "int8"]
    assert main([*args, "--calib-images", "6", "--val-images", "4"]) == 0
    out = capsys.readouterr().out
    assert "accuracy not measured" not in out and "fp32" in out and "int8" in out and "change (pts)" in out


def test_a_mixed_recipe_trains_and_reports_each_dataset(published: dict[str, Path], tmp_path: Path) -> None:
    recipe = recipe_from_dict(_recipe("bdd100k+mtsd.yaml", published), "recipes/bdd100k+mtsd.yaml (paths overridden)")
    best = load_checkpoint(train(recipe, tmp_path, progress=False))
    by_dataset = best["val_datasets"]
    assert set(by_dataset) == {"bdd100k", "mtsd"}
    assert set(by_dataset["mtsd"]) == {"signs"}, "a sign dataset is scored on signs only"
    assert {"lanes", "vehicles", "drivable"} <= set(by_dataset["bdd100k"])
    # BDD100K labels signs but only as ignore regions (no typed sign): signs are scored on MTSD.
    assert by_dataset["bdd100k"]["signs"]["mAP50"] != by_dataset["bdd100k"]["signs"]["mAP50"]
    on_mtsd = by_dataset["mtsd"]["signs"]["mAP50"]
    assert on_mtsd == on_mtsd and best["metrics"]["signs"]["mAP50"] == on_mtsd  # a number (not NaN), MTSD's


def test_each_heads_gradient_comes_only_from_the_datasets_that_label_it(published: dict[str, Path]) -> None:
    recipe = recipe_from_dict(_recipe("bdd100k+mtsd.yaml", published), "mixed")
    mixed = open_split(recipe.data.train, "train", build_transforms((96, 160)))
    assert isinstance(mixed, MixedDataset)
    torch.manual_seed(0)
    net = model_from_recipe(recipe.model)
    criterion = MultiTaskLoss(list(net.heads), mixed.heads)
    labelled = {"bdd100k": {"lanes", "vehicles", "signs", "drivable"}, "mtsd": {"signs"}, "culane": {"lanes"}}
    for part in mixed.parts:
        images, targets = collate([part[i] for i in range(3)])
        targets["input_hw"] = tuple(images.shape[-2:])
        net.zero_grad(set_to_none=False)
        criterion(net, net(normalize(images)), targets)["loss"].backward()
        for head, module in net.heads.items():
            grads = [p.grad for p in module.parameters() if p.requires_grad and p.grad is not None]
            learns = any(bool(g.abs().sum() > 0) for g in grads)
            assert learns == (head in labelled[part.name]), f"{head} on {part.name}"
