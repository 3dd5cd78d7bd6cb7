"""Tests for mtl_edge.metrics.segmentation: IoU, mIoU and the binary drivable view."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mtl_edge.metrics.segmentation import SegmentationMetric, drivable_metric


def test_segmentation_hand_case_with_binary_and_ignore() -> None:
    target = np.array([[0, 1, 2], [0, 1, 255]], np.uint8)
    pred = np.array([[0, 1, 1], [1, 1, 2]], np.uint8)  # the last pixel is ignored
    m = drivable_metric()
    m.update(pred, target)
    out = m.compute()
    assert out["iou"] == pytest.approx({"background": 0.5, "direct": 0.5, "alternative": 0.0})
    assert out["miou"] == pytest.approx(1 / 3)
    assert out["pixel_accuracy"] == pytest.approx(3 / 5) and out["num_pixels"] == 5
    assert out["iou_binary"] == pytest.approx({"background": 0.5, "drivable": 0.75})
    assert out["miou_binary"] == pytest.approx(0.625)
    assert out["pixel_accuracy_binary"] == pytest.approx(4 / 5)


def test_segmentation_accumulates_and_absent_class_is_nan() -> None:
    rng = np.random.default_rng(0)
    a_t, a_p = rng.integers(0, 2, (20, 30)), rng.integers(0, 2, (20, 30))
    b_t, b_p = rng.integers(0, 2, (10, 30)), rng.integers(0, 2, (10, 30))
    streamed = SegmentationMetric(3, ("bg", "x", "y"))
    streamed.update(a_p, a_t)
    streamed.update(b_p, b_t)
    whole = SegmentationMetric(3, ("bg", "x", "y"))
    whole.update(np.concatenate([a_p, b_p]), np.concatenate([a_t, b_t]))
    np.testing.assert_array_equal(streamed.confusion, whole.confusion)
    out = streamed.compute()
    assert math.isnan(out["iou"]["y"])
    assert out["miou"] == pytest.approx((out["iou"]["bg"] + out["iou"]["x"]) / 2)
    assert "miou_binary" not in out

    merged = SegmentationMetric(3, ("bg", "x", "y"), binary=True)
    merged.update(a_p, a_t)
    assert list(merged.compute()["iou_binary"]) == ["bg", "x+y"]


def test_segmentation_perfect_and_errors() -> None:
    t = np.array([[0, 1], [2, 255]])
    m = drivable_metric()
    m.update(np.array([[0, 1], [2, 0]]), t)
    out = m.compute()
    assert out["miou"] == 1.0 and out["miou_binary"] == 1.0
    with pytest.raises(ValueError, match="resize"):
        m.update(np.zeros((2, 3)), t)
    with pytest.raises(ValueError, match="prediction values"):
        m.update(np.full((2, 2), 3), t)
