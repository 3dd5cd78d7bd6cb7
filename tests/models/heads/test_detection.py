"""Detection head: in-graph decode, targets, and ignore handling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mtl_edge.models.heads.detection import DetectionConfig, DetectionHead, build_targets, suppress_overlaps


def _head(stride: int = 8, top_k: int = 5, nms_iou: float = 0.45) -> DetectionHead:
    cfg = DetectionConfig(classes=("a", "b"), stride=stride, channels=8, top_k=top_k, nms_iou=nms_iou)
    return DetectionHead(cfg, {"c2": 8, "p3": 16, "p4": 16, "p5": 16})


def test_decode_returns_peaks_as_boxes_in_input_pixels():
    head = _head(nms_iou=0.0)
    heat = torch.full((1, 2, 6, 10), -9.0)
    heat[0, 1, 2, 3] = 3.0  # class b at row 2, col 3
    heat[0, 1, 2, 4] = 1.0  # a weaker neighbour: not a peak, must be suppressed
    heat[0, 0, 5, 9] = 2.0  # class a at the bottom-right cell
    sides = torch.zeros((1, 4, 6, 10))
    sides[0, :, 2, 3] = torch.log(torch.tensor([1.0, 2.0, 3.0, 0.5]))  # l,t,r,b in strides
    out = head.decode({"heat": heat, "sides": sides})
    assert out["boxes"].shape == (1, 5, 4) and out["classes"].dtype == torch.int32
    scores, classes, boxes = out["scores"][0], out["classes"][0], out["boxes"][0]
    assert classes[0] == 1 and abs(float(scores[0]) - float(torch.sigmoid(torch.tensor(3.0)))) < 1e-6
    cx, cy = (3 + 0.5) * 8, (2 + 0.5) * 8
    assert torch.allclose(boxes[0], torch.tensor([cx - 8, cy - 16, cx + 24, cy + 4]), atol=1e-4)
    assert classes[1] == 0 and float(scores[2]) < 1e-3  # the neighbour at (2,4) was suppressed
    assert (boxes[:, 2] <= 80).all() and (boxes[:, 3] <= 48).all()  # clipped to the input


def _two_neighbours(second_class: int) -> dict[str, torch.Tensor]:
    """Two small objects one cell apart (a 3x3 peak window keeps one) and a duplicate of the first."""
    heat = torch.full((1, 2, 6, 10), -9.0)
    heat[0, 0, 2, 3] = 3.0
    heat[0, second_class, 2, 4] = 2.0
    heat[0, 0, 3, 3] = 2.5  # a duplicate: its box is the first one's, seen from the cell below
    sides = torch.full((1, 4, 6, 10), float(np.log(0.5)))  # 8x8 boxes around each cell centre
    sides[0, 1, 3, 3], sides[0, 3, 3, 3] = float(np.log(1.5)), float(np.log(1e-3))  # [24,16,32,28]: IoU 0.67
    return {"heat": heat, "sides": sides}


def test_box_suppression_keeps_neighbours_one_cell_apart_and_drops_duplicates():
    raw = _two_neighbours(second_class=0)
    kept = _head(nms_iou=0.45).decode(raw)
    assert kept["scores"][0, :2].tolist() == pytest.approx(torch.sigmoid(torch.tensor([3.0, 2.0])).tolist())
    assert float(kept["scores"][0, 2]) < 1e-3  # the duplicate (IoU ~1 with the first) is gone
    assert torch.allclose(kept["boxes"][0, 1], torch.tensor([32.0, 16.0, 40.0, 24.0]))  # the neighbour's own box
    peaks = _head(nms_iou=0.0).decode(raw)
    assert float(peaks["scores"][0, 1]) < 1e-3  # the 3x3 window loses the neighbour and the duplicate


def test_box_suppression_in_decode_is_per_class_and_in_candidates_class_agnostic():
    raw = _two_neighbours(second_class=1)
    raw["heat"][0, 1, 2, 3] = 2.8  # the first object's box again, scored for the other class
    out = _head(nms_iou=0.45).decode(raw)
    assert sorted(out["classes"][0, :3].tolist()) == [0, 1, 1] and float(out["scores"][0, 3]) < 1e-3
    head = _head(nms_iou=0.45)
    head.cfg.glimpse.candidates = 4
    scores, boxes = head.candidates(raw)
    assert scores.shape == (1, 4) and boxes.shape == (1, 4, 4)
    assert (scores[0] > 0.5).sum() == 2  # one candidate per object, whatever the class


def test_candidate_nms_iou_loosens_suppression_among_candidates_only():
    raw = _two_neighbours(second_class=0)  # the duplicate overlaps the first object's box by IoU 0.67
    head = _head(nms_iou=0.45)
    head.cfg.glimpse.candidates = 4
    head.cfg.glimpse.candidate_nms_iou = 0.7
    scores, _ = head.candidates(raw)
    assert (scores[0] > 0.5).sum() == 3  # the duplicate stays a candidate: IoU 0.67 < 0.7
    assert float(head.decode(raw)["scores"][0, 2]) < 1e-3  # the heat-map decode still drops it at 0.45


def test_suppress_overlaps_is_fast_nms():
    boxes = torch.tensor([[[0.0, 0, 10, 10], [1, 0, 11, 10], [2, 0, 12, 10], [20, 20, 30, 30], [0, 0, 0, 0]]])
    scores = torch.tensor([[0.9, 0.8, 0.7, 0.6, 0.5]])
    out = suppress_overlaps(boxes, scores, 0.7)
    # box 2 overlaps box 0 by 0.67 (kept by that) but box 1 by 0.82: dropped even though box 1 itself is dropped
    assert out[0].tolist() == pytest.approx([0.9, 0.0, 0.0, 0.6, 0.5])
    per_class = suppress_overlaps(boxes, scores, 0.7, torch.tensor([[0, 1, 1, 0, 0]]))
    assert per_class[0].tolist() == pytest.approx([0.9, 0.8, 0.0, 0.6, 0.5])


def test_targets_put_a_unit_peak_at_each_centre_and_mask_ignored_objects():
    targets = {
        "boxes": [torch.tensor([[16.0, 8.0, 48.0, 40.0], [60.0, 0.0, 80.0, 16.0], [0.0, 30.0, 10.0, 48.0]])],
        "labels": [torch.tensor([1, 0, 0])],
        "head": [torch.tensor([0, 0, 1])],  # the third box belongs to the other head
        "ignore": [torch.tensor([False, True, False])],
    }
    t = build_targets(targets, head_id=0, n_classes=2, h=6, w=10, stride=8, gaussian=0.54, min_sigma=0.3)
    assert t["heat"][0, 1].max() == 1.0 and t["heat"][0, 1, 3, 4] == 1.0  # centre (32, 24) -> cell (4, 3)
    assert t["heat"][0, 0].max() == 0.0  # the ignored object draws no peak...
    assert t["valid"][0, 0, 0:2, 7:10].eq(0).all()  # ...and no prediction there is punished
    assert t["valid"][0, 0, 4:6, 0:2].eq(1).all()  # the other head's box is not this head's concern
    w = t["box_weight"][0]
    assert w[3, 4] > 0 and torch.allclose(t["boxes"][0, :, 3, 4], torch.tensor([16.0, 8.0, 48.0, 40.0]))
    assert abs(float(w.sum()) - np.log(32 * 32)) < 1e-3  # weights sum to log(area) per object


def test_tiny_objects_still_get_a_target_cell():
    targets = {
        "boxes": [torch.tensor([[30.0, 20.0, 33.0, 23.0]])],
        "labels": [torch.tensor([0])],
        "head": [torch.tensor([0])],
        "ignore": [torch.tensor([False])],
    }
    t = build_targets(targets, 0, 1, 6, 10, 8, 0.54, 0.3)
    assert t["heat"][0, 0, 2, 3] == 1.0 and t["box_weight"][0, 2, 3] > 0


def test_min_sigma_spreads_a_small_objects_box_regression_over_its_neighbour_cells():
    targets = {
        "boxes": [torch.tensor([[26.0, 16.0, 38.0, 28.0]])],  # 12 px at stride 8: sigma 0.14 cells
        "labels": [torch.tensor([0])],
        "head": [torch.tensor([0])],
        "ignore": [torch.tensor([False])],
    }
    centre_only = build_targets(targets, 0, 1, 6, 10, 8, 0.54, 0.3)["box_weight"][0]
    spread = build_targets(targets, 0, 1, 6, 10, 8, 0.54, min_sigma=0.5)["box_weight"][0]
    assert (centre_only > 0).nonzero().tolist() == [[2, 4]]
    assert sorted((spread > 0).nonzero().tolist()) == [[1, 4], [2, 3], [2, 4], [2, 5], [3, 4]]
    assert abs(float(spread.sum()) - float(centre_only.sum())) < 1e-4  # still log(area) per object
    assert spread[2, 4] > spread[1, 4]


def test_context_blocks_are_depthwise_and_fold_exactly_for_deploy():
    """``context`` adds depthwise 3x3 + pointwise blocks that widen the view and fold into plain convs."""
    import copy

    from mtl_edge.models.blocks import reparameterize_model

    cfg = DetectionConfig(classes=("a", "b"), stride=8, channels=8, top_k=5, context=2)
    head = DetectionHead(cfg, {"c2": 8, "p3": 16, "p4": 16, "p5": 16})
    depthwise = [m for m in head.context.modules() if isinstance(m, torch.nn.Conv2d) and m.groups == 8]
    assert len(depthwise) == 2 and all(m.kernel_size == (3, 3) for m in depthwise)
    head.train()
    for _ in range(3):  # move the BatchNorm statistics away from their defaults
        head({"p3": torch.randn(2, 16, 6, 10)})
    head.eval()
    x = {"p3": torch.randn(1, 16, 6, 10)}
    deploy = reparameterize_model(copy.deepcopy(head))
    with torch.no_grad():
        a, b = head(x), deploy(x)
    assert torch.allclose(a["heat"], b["heat"], atol=1e-5) and torch.allclose(a["sides"], b["sides"], atol=1e-5)


def test_late_fuse_runs_the_tower_at_stride_8_and_outputs_at_stride_4():
    """``late_fuse`` keeps the 3x3 tower on p3 and fuses its output with c2: stride-4 maps, stride-8 tower cost."""
    cfg = DetectionConfig(classes=("a", "b"), stride=4, channels=16, top_k=5, late_fuse=8, context=1)
    head = DetectionHead(cfg, {"c2": 4, "p3": 12, "p4": 12, "p5": 12}).eval()
    assert head.fuse is None and head.late is not None and head.reads == ("c2", "p3")
    seen = []
    head.tower.register_forward_hook(lambda m, i, o: seen.append(tuple(o.shape)))
    with torch.no_grad():
        raw = head({"c2": torch.randn(1, 4, 12, 20), "p3": torch.randn(1, 12, 6, 10)})
    assert seen == [(1, 16, 6, 10)]  # the tower ran on the stride-8 grid
    assert raw["heat"].shape == (1, 2, 12, 20) and raw["sides"].shape == (1, 4, 12, 20)
    with pytest.raises(ValueError, match="late_fuse needs stride 4"):
        DetectionHead(DetectionConfig(stride=8, late_fuse=8), {"c2": 4, "p3": 12})
