"""Fitting the glimpse classifiers (the detection heads' post-fit stage): candidate labels, jitter,
learning, and the --post-fit-from stage."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from mtl_edge.checkpoint import CheckpointError, load_checkpoint
from mtl_edge.data.splits import open_folder
from mtl_edge.models.heads import glimpse_fit
from mtl_edge.models.heads.glimpse import GlimpseClassifier, GlimpseConfig, apply_deltas, encode_deltas
from mtl_edge.models.heads.glimpse_fit import (
    GlimpseSamples,
    collect_samples,
    fit_classifier,
    jittered,
    label_candidates,
)
from mtl_edge.models.loading import load_model, model_from_recipe
from mtl_edge.train import train
from tests.conftest import tiny_recipe


def test_candidates_take_the_class_of_a_labelled_match_and_background_far_from_everything():
    gt = np.array([[0, 0, 10, 10], [20, 20, 30, 30]], np.float32)
    labels, ignore = np.array([2, 1]), np.array([False, True])
    cands = np.array(
        [[0, 0, 10, 10], [20, 20, 30, 30], [50, 50, 60, 60], [0, 0, 10, 16]], np.float32
    )  # exact, on the ignored one, far away, IoU 0.625 ... and
    out, which = label_candidates(cands, gt, labels, ignore, bg=4)
    assert out.tolist() == [2, -1, 4, 2] and which.tolist() == [0, -1, -1, 0]
    between = np.array([[0, 0, 10, 25]], np.float32)  # IoU 0.4: neither a match nor background ...
    assert label_candidates(between, gt, labels, ignore, bg=4)[0].tolist() == [-1]
    assert label_candidates(between, gt, labels, ignore, bg=4, positive_iou=0.4)[0].tolist() == [2]  # ... unless
    empty = label_candidates(cands, np.zeros((0, 4), np.float32), labels[:0], ignore[:0], bg=4)
    assert empty[0].tolist() == [4] * 4 and empty[1].tolist() == [-1] * 4


def test_jitter_shifts_and_scales_within_bounds():
    boxes = jittered(np.array([[100, 50, 120, 60]], np.float32), np.random.default_rng(0), copies=200)
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    assert boxes.shape == (200, 4) and np.allclose(w / h, 2.0, rtol=1e-4)
    assert w.min() >= 16 - 1e-3 and w.max() <= 25 + 1e-3 and w.std() > 1.0
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    assert np.abs(cx - 110).max() <= 3 + 1e-3 and np.abs(cy - 55).max() <= 1.5 + 1e-3


def test_classifier_learns_separable_crops():
    gen = torch.Generator().manual_seed(0)
    crops = torch.randn(300, 3, 8, 8, generator=gen) * 0.3
    labels = torch.arange(300) % 3  # 0: bright top half, 1: bright left half, 2 (background): noise only
    crops[labels == 0, :, :4] += 2.0
    crops[labels == 1, :, :, :4] += 2.0
    glimpse = GlimpseClassifier(GlimpseConfig(size=8, channels=(8, 16)), n_classes=2)
    boxes = torch.tensor([[0.0, 0.0, 8.0, 8.0]]).repeat(300, 1)
    stats = fit_classifier(glimpse, GlimpseSamples(crops.half(), labels, boxes, boxes), 6, batch=32, progress=False)
    assert stats["samples"] == 300 and stats["train_accuracy"] > 0.95, stats


def test_a_fit_does_not_depend_on_the_weights_the_glimpse_held_before():
    gen = torch.Generator().manual_seed(1)
    crops, labels = torch.randn(64, 3, 8, 8, generator=gen), torch.arange(64) % 3
    boxes = torch.tensor([[0.0, 0.0, 8.0, 8.0]]).repeat(64, 1)
    fitted = []
    for init_seed in (10, 20):  # as in a fresh process (--post-fit-from) vs at the end of a long run
        torch.manual_seed(init_seed)
        glimpse = GlimpseClassifier(GlimpseConfig(size=8, channels=(8, 16), refine=True), n_classes=2)
        fit_classifier(glimpse, GlimpseSamples(crops.half(), labels, boxes, boxes), 2, batch=16, seed=3, progress=False)
        fitted.append(glimpse.state_dict())
    assert all(torch.equal(fitted[0][k], fitted[1][k]) for k in fitted[0])


def test_refining_glimpse_learns_where_the_object_is():
    """A bright square sits left or right of the crop centre; the deltas must move the box onto it."""
    gen = torch.Generator().manual_seed(0)
    crops = torch.randn(400, 3, 12, 12, generator=gen) * 0.1
    right = torch.arange(400) % 2 == 1
    crops[right, :, 4:8, 6:10] += 2.0
    crops[~right, :, 4:8, 2:6] += 2.0
    boxes = torch.tensor([[0.0, 0.0, 12.0, 12.0]]).repeat(400, 1)
    targets = boxes.clone()
    targets[right, 0::2] += 2.0
    targets[~right, 0::2] -= 2.0
    glimpse = GlimpseClassifier(GlimpseConfig(size=12, channels=(8, 16), refine=True), n_classes=1)
    samples = GlimpseSamples(crops.half(), torch.zeros(400, dtype=torch.int64), boxes, targets)
    fit_classifier(glimpse, samples, 8, batch=32, progress=False)
    with torch.no_grad():
        _, deltas = glimpse.classify(crops[:4])
    moved = apply_deltas(boxes[:4], deltas)
    assert torch.allclose(moved, targets[:4], atol=0.7), (moved, targets[:4])


def test_deltas_round_trip():
    boxes = torch.tensor([[10.0, 20.0, 30.0, 60.0], [0.0, 0.0, 5.0, 5.0]])
    targets = torch.tensor([[12.0, 18.0, 40.0, 50.0], [1.0, -1.0, 4.0, 9.0]])
    assert torch.allclose(apply_deltas(boxes, encode_deltas(boxes, targets)), targets, atol=1e-5)
    assert torch.equal(apply_deltas(boxes, torch.zeros(2, 4)), boxes)


def _with_signs_fit_epochs(recipe, epochs):
    signs = recipe.model.heads["signs"]
    signs = dataclasses.replace(signs, glimpse=dataclasses.replace(signs.glimpse, fit_epochs=epochs))
    recipe.model.heads = {**recipe.model.heads, "signs": signs}
    return recipe


def _without_glimpse(recipe):
    signs = dataclasses.replace(recipe.model.heads["signs"], glimpse=GlimpseConfig(size=0))
    recipe.model.heads = {**recipe.model.heads, "signs": signs}
    return recipe


def test_post_fit_from_fits_only_the_glimpse_of_an_existing_checkpoint(tiny_data, tmp_path):
    plain = train(_without_glimpse(tiny_recipe(*tiny_data)), tmp_path / "plain", progress=False, max_steps=1)
    recipe = _with_signs_fit_epochs(tiny_recipe(*tiny_data), 1)
    best = train(recipe, tmp_path / "glimpse", progress=False, post_fit_from=plain)
    before, after = load_checkpoint(plain)["model"], load_checkpoint(best)["model"]
    added = [k for k in after if k not in before]
    assert added and all(".glimpse." in k for k in added)
    assert all(torch.equal(before[k], after[k]) for k in before)  # the trunk and heads stay frozen
    net, ckpt = load_model(best)
    assert net.heads["signs"].glimpse is not None and set(ckpt["metrics"]) == {"lanes", "vehicles", "signs", "drivable"}


def test_post_fit_from_a_checkpoint_of_another_model_says_so(tiny_data, tmp_path):
    plain = train(_without_glimpse(tiny_recipe(*tiny_data)), tmp_path / "plain", progress=False, max_steps=1)
    other = tiny_recipe(*tiny_data)
    other.model.neck.channels = 24
    with pytest.raises(CheckpointError, match="recipe"):
        train(other, tmp_path / "other", progress=False, post_fit_from=plain)


def _net_with_two_glimpses(tiny_data, **vehicles_glimpse):
    """The tiny model with a vehicles glimpse beside the signs one, and a loader over the tiny scenes."""
    from mtl_edge.data.dataset import collate
    from mtl_edge.data.transforms import build_transforms

    recipe = tiny_recipe(*tiny_data)
    glimpse = GlimpseConfig(size=16, candidates=8, channels=(8, 16), **vehicles_glimpse)
    recipe.model.heads = {
        **recipe.model.heads,
        "vehicles": dataclasses.replace(recipe.model.heads["vehicles"], glimpse=glimpse),
    }
    torch.manual_seed(0)
    net = model_from_recipe(recipe.model).eval()
    data = open_folder(tiny_data[0], transforms=build_transforms((128, 224)))
    return net, torch.utils.data.DataLoader(data, batch_size=4, collate_fn=collate)


def test_one_pass_collects_for_every_head_what_a_pass_per_head_would(tiny_data):
    net, loader = _net_with_two_glimpses(tiny_data)
    together = collect_samples(net, ["vehicles", "signs"], loader, seed=3, progress=False)
    for name in ("vehicles", "signs"):
        alone = collect_samples(net, [name], loader, seed=3, progress=False)[name]
        assert len(alone.labels) > 0
        for field in dataclasses.fields(GlimpseSamples):
            assert torch.equal(getattr(together[name], field.name), getattr(alone, field.name)), (name, field.name)


def test_each_glimpse_trains_for_its_own_fit_epochs(tiny_data, monkeypatch):
    net, loader = _net_with_two_glimpses(tiny_data, fit_epochs=3)
    net.heads["signs"].cfg.glimpse.fit_epochs = 1
    fitted = {}

    def record(glimpse, samples, epochs, **kwargs):
        fitted[next(n for n, h in net.heads.items() if getattr(h, "glimpse", None) is glimpse)] = epochs
        return {}

    monkeypatch.setattr(glimpse_fit, "fit_classifier", record)
    for head in net.heads.values():  # what the trainer does after the main schedule
        head.post_fit(net, loader, progress=False)
    assert fitted == {"vehicles": 3, "signs": 1}


def test_negative_fit_epochs_is_refused_with_the_key():
    with pytest.raises(ValueError, match="glimpse.fit_epochs"):
        GlimpseConfig(size=16, fit_epochs=-1)
