"""Glimpse: exact bilinear crops, and the decode that scores candidates by objectness x class probability."""

from __future__ import annotations

import math

import pytest
import torch

from mtl_edge.models.heads.detection import DetectionConfig, DetectionHead
from mtl_edge.models.heads.glimpse import GlimpseClassifier, GlimpseConfig, crop_boxes


def test_crops_sample_the_box_bilinearly_at_cell_centres():
    ramp = torch.arange(64, dtype=torch.float32).expand(1, 2, 48, 64).clone()  # value == column index
    ramp[:, 1] = torch.arange(48, dtype=torch.float32).view(48, 1)  # channel 1: value == row index
    box = torch.tensor([[[10.0, 20.0, 30.0, 30.0]]])  # 20 wide, 10 tall: the crop is 20 x 20, centred
    crop = crop_boxes(ramp, box, size=4, context=1.0)
    assert crop.shape == (1, 2, 4, 4)
    columns = torch.tensor([12.5, 17.5, 22.5, 27.5])  # cell centres of the 20 px side around x = 20, cut in 4
    rows = columns + 5.0  # ... and around y = 25
    # A pixel's value sits at its centre (i + 0.5), so the ramp reads position - 0.5.
    assert torch.allclose(crop[0, 0, 0], columns - 0.5, atol=1e-4)
    assert torch.allclose(crop[0, 1, :, 0], rows - 0.5, atol=1e-4)


def test_crops_outside_the_frame_read_zero_and_keep_their_order():
    image = torch.ones(2, 3, 32, 32)
    image[1] *= 2.0
    boxes = torch.tensor([[[100.0, 100.0, 110.0, 110.0], [8.0, 8.0, 16.0, 16.0]], [[4.0, 4.0, 12.0, 12.0]] * 2])
    crops = crop_boxes(image, boxes, size=6, context=1.0)
    assert crops.shape == (4, 3, 6, 6)
    assert crops[0].abs().max() == 0 and torch.allclose(crops[1], torch.ones(3, 6, 6))
    assert torch.allclose(crops[2:], torch.full((2, 3, 6, 6), 2.0))  # image 1's boxes read image 1


def test_classifier_gives_one_logit_per_class_plus_background():
    glimpse = GlimpseClassifier(GlimpseConfig(size=12, channels=(4, 8)), n_classes=5)
    assert glimpse(torch.zeros(2, 3, 40, 60), torch.tensor([[[1.0, 1.0, 9.0, 9.0]] * 3] * 2)).shape == (2, 3, 6)


def _glimpse_head() -> DetectionHead:
    cfg = DetectionConfig(classes=("a", "b", "c"), stride=8, channels=8, top_k=4)
    cfg.glimpse = GlimpseConfig(size=8, candidates=2, channels=(4,))
    return DetectionHead(cfg, {"c2": 8, "p3": 16, "p4": 16, "p5": 16})


def test_decode_with_glimpse_classifies_each_candidate_from_its_crop():
    head = _glimpse_head()
    heat = torch.full((1, 3, 6, 10), -9.0)
    heat[0, 0, 1, 1] = 2.0  # a candidate the heat map calls "a" ...
    heat[0, 2, 4, 7] = 0.0  # ... and a weaker one it calls "c"
    sides = torch.zeros((1, 4, 6, 10))
    # The glimpse says: first candidate is "b" (p=0.7), second is background (p=0.9 of it).
    logits = torch.log(torch.tensor([[[0.1, 0.7, 0.1, 0.1], [0.05, 0.0, 0.05, 0.9]]]).clamp(min=1e-9))
    head.glimpse.classify = lambda crops: (logits.reshape(-1, 4), None)  # type: ignore[union-attr,method-assign]
    out = head.decode_with_glimpse({"heat": heat, "sides": sides}, torch.zeros(1, 3, 48, 80))
    assert out["boxes"].shape == (1, 4, 4) and out["classes"].dtype == torch.int32
    obj = torch.sigmoid(torch.tensor(2.0))
    assert out["classes"][0, 0] == 1 and math.isclose(float(out["scores"][0, 0]), float(obj) * 0.7, rel_tol=1e-5)
    cx, cy = 1.5 * 8, 1.5 * 8  # exp(0) * stride = 8 px to every side
    assert torch.allclose(out["boxes"][0, 0], torch.tensor([cx - 8, cy - 8, cx + 8, cy + 8]))
    # Then the first candidate's other classes, then the second's best class: its background mass is gone.
    expected = torch.tensor([float(obj) * 0.7, float(obj) * 0.1, float(obj) * 0.1, 0.5 * 0.05])
    assert torch.allclose(out["scores"][0], expected, atol=1e-5)


def test_glimpse_weights_follow_the_recipe_switch():
    plain = DetectionHead(DetectionConfig(channels=8), {"c2": 8, "p3": 16, "p4": 16, "p5": 16})
    assert plain.glimpse is None and "glimpse" not in plain.metadata((48, 80))
    head = _glimpse_head()
    expected = {"size": 8, "candidates": 2, "refine": False, "refine_steps": 1}
    expected |= {"refined_nms_iou": 0.0, "refine_max_side": 0.0}
    assert head.metadata((48, 80))["glimpse"] == expected
    assert any(".glimpse." in f".{k}" for k in head.state_dict())


def test_refine_steps_crop_again_at_each_refined_box_and_average_the_class_probabilities():
    cfg = DetectionConfig(classes=("a", "b"), stride=8, channels=8, top_k=2)
    cfg.glimpse = GlimpseConfig(size=8, candidates=1, channels=(4,), refine=True, refine_steps=3)
    head = DetectionHead(cfg, {"c2": 8, "p3": 16, "p4": 16, "p5": 16})
    heat = torch.full((1, 2, 6, 10), -9.0)
    heat[0, 0, 2, 3] = 1.0  # one candidate, box [20, 12, 36, 28] (8 px to every side of the cell centre)
    image = torch.rand(1, 3, 48, 80, generator=torch.Generator().manual_seed(0))
    p_a = [0.9, 0.6, 0.3]  # p(a) the glimpse gives at each pass; p(b) = 0.05, background the rest
    seen: list[torch.Tensor] = []

    def classify(crops: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        seen.append(crops)
        probs = torch.tensor([[p_a[len(seen) - 1], 0.05, 0.95 - p_a[len(seen) - 1]]])
        return probs.log(), torch.tensor([[10.0, 0.0, 0.0, 0.0]])  # move right by 10 x 0.1 x width

    head.glimpse.classify = classify  # type: ignore[union-attr,method-assign]
    out = head.decode_with_glimpse({"heat": heat, "sides": torch.zeros(1, 4, 6, 10)}, image)
    assert len(seen) == 3
    box = torch.tensor([[[20.0, 12.0, 36.0, 28.0]]])
    for crops in seen:  # each pass crops around the box the previous pass refined
        assert torch.allclose(crops, crop_boxes(image, box, 8, cfg.glimpse.context))
        box = box + torch.tensor([16.0, 0.0, 16.0, 0.0])
    assert torch.allclose(out["boxes"][0, 0], box[0, 0].clamp(max=80.0), atol=1e-4)
    obj = float(torch.sigmoid(torch.tensor(1.0)))
    assert out["classes"][0, 0] == 0 and math.isclose(float(out["scores"][0, 0]), obj * 0.6, rel_tol=1e-5)
    assert out["classes"][0, 1] == 1 and math.isclose(float(out["scores"][0, 1]), obj * 0.05, rel_tol=1e-5)


def test_refine_steps_below_one_is_refused_with_the_key():
    with pytest.raises(ValueError, match=r"glimpse\.refine_steps must be at least 1.*got 0"):
        GlimpseConfig(size=8, refine=True, refine_steps=0)


@pytest.mark.parametrize("iou", [-0.1, 1.0])
def test_candidate_nms_iou_out_of_range_is_refused_with_the_key(iou: float):
    with pytest.raises(ValueError, match=r"glimpse\.candidate_nms_iou must be in \[0, 1\).*0 uses the head's nms_iou"):
        GlimpseConfig(size=8, candidate_nms_iou=iou)


def _two_candidates_refined_onto_one_box(refined_nms_iou: float) -> dict[str, torch.Tensor]:
    cfg = DetectionConfig(classes=("a", "b"), stride=8, channels=8, top_k=4)
    cfg.glimpse = GlimpseConfig(size=8, candidates=2, channels=(4,), refine=True, refined_nms_iou=refined_nms_iou)
    head = DetectionHead(cfg, {"c2": 8, "p3": 16, "p4": 16, "p5": 16})
    heat = torch.full((1, 2, 6, 10), -9.0)
    heat[0, 0, 2, 3] = 2.0  # box [20, 12, 36, 28]
    heat[0, 0, 2, 5] = 1.0  # box [36, 12, 52, 28]: no overlap, so both survive the heat-map suppression
    probs = torch.tensor([[0.8, 0.1, 0.1], [0.1, 0.7, 0.2]])
    deltas = torch.tensor([[0.0, 0.0, 0.0, 0.0], [-10.0, 0.0, 0.0, 0.0]])  # the second moves 16 px onto the first
    head.glimpse.classify = lambda crops: (probs.log(), deltas)  # type: ignore[union-attr,method-assign]
    return head.decode_with_glimpse({"heat": heat, "sides": torch.zeros(1, 4, 6, 10)}, torch.zeros(1, 3, 48, 80))


def test_refined_nms_drops_a_candidate_refined_onto_a_better_ones_box():
    obj = [float(torch.sigmoid(torch.tensor(v))) for v in (2.0, 1.0)]
    kept_both = _two_candidates_refined_onto_one_box(0.0)
    expected = sorted([obj[0] * 0.8, obj[0] * 0.1, obj[1] * 0.1, obj[1] * 0.7], reverse=True)
    assert torch.allclose(kept_both["scores"][0], torch.tensor(expected), atol=1e-6)
    assert torch.allclose(kept_both["boxes"][0, 1], torch.tensor([20.0, 12.0, 36.0, 28.0]), atol=1e-4)
    suppressed = _two_candidates_refined_onto_one_box(0.5)
    assert torch.allclose(suppressed["scores"][0], torch.tensor([obj[0] * 0.8, obj[0] * 0.1, 0.0, 0.0]), atol=1e-6)
    assert suppressed["classes"][0, :2].tolist() == [0, 1]
    assert torch.allclose(suppressed["boxes"][0, 0], torch.tensor([20.0, 12.0, 36.0, 28.0]), atol=1e-4)


@pytest.mark.parametrize("refine, iou", [(True, 1.0), (True, -0.1), (False, 0.5)])
def test_refined_nms_iou_out_of_range_or_without_refine_is_refused_with_the_key(refine: bool, iou: float):
    with pytest.raises(ValueError, match=r"glimpse\.refined_nms_iou must be in \[0, 1\) and needs glimpse\.refine"):
        GlimpseConfig(size=8, refine=refine, refined_nms_iou=iou)


def test_refine_max_side_keeps_the_heat_map_box_of_a_large_candidate_and_its_class_from_every_pass():
    cfg = DetectionConfig(classes=("a", "b"), stride=8, channels=8, top_k=4)
    cfg.glimpse = GlimpseConfig(size=8, candidates=2, channels=(4,), refine=True, refine_steps=2, refine_max_side=20.0)
    head = DetectionHead(cfg, {"c2": 8, "p3": 16, "p4": 16, "p5": 16})
    heat = torch.full((1, 2, 6, 10), -9.0)
    heat[0, 0, 2, 2] = 2.0  # small: box [12, 12, 28, 28], 16 px sides
    heat[0, 0, 2, 7] = 1.0  # large: 16 px to each side, box [44, 4, 76, 36], 32 px
    sides = torch.zeros(1, 4, 6, 10)
    sides[0, :, 2, 7] = math.log(2.0)
    p_a = iter([0.9, 0.3, 0.5, 0.1])  # p(a) per crop: small then large, pass 1 then 2
    calls = []

    def classify(crops: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        calls.append(crops)
        probs = torch.tensor([[(p := next(p_a)), 0.0, 1.0 - p] for _ in range(2)])
        return probs.clamp(min=1e-9).log(), torch.tensor([[0.0, 5.0, 0.0, 0.0]] * 2)  # both move down 0.1 x 5 x h

    head.glimpse.classify = classify  # type: ignore[union-attr,method-assign]
    out = head.decode_with_glimpse({"heat": heat, "sides": sides}, torch.zeros(1, 3, 48, 80))
    assert len(calls) == 2  # the large candidate is still cropped at its moved box on pass 2
    detections = zip(out["scores"][0], out["boxes"][0], out["classes"][0], strict=True)
    by_class_a = {round(float(s), 5): b for s, b, c in detections if c == 0}
    obj_small, obj_large = (float(torch.sigmoid(torch.tensor(v))) for v in (2.0, 1.0))
    small = by_class_a[round(obj_small * (0.9 + 0.5) / 2, 5)]
    large = by_class_a[round(obj_large * (0.3 + 0.1) / 2, 5)]
    assert torch.allclose(small, torch.tensor([12.0, 12.0 + 16.0, 28.0, 28.0 + 16.0]), atol=1e-4)  # moved twice
    assert torch.allclose(large, torch.tensor([44.0, 4.0, 76.0, 36.0]), atol=1e-4)  # its own box


@pytest.mark.parametrize("refine, side", [(True, -1.0), (False, 48.0)])
def test_refine_max_side_negative_or_without_refine_is_refused_with_the_key(refine: bool, side: float):
    with pytest.raises(ValueError, match=r"glimpse\.refine_max_side must be 0 or more and needs glimpse\.refine"):
        GlimpseConfig(size=8, refine=refine, refine_max_side=side)
