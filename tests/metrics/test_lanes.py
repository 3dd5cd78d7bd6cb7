"""Tests for mtl_edge.metrics.lanes: CULane F1 and TuSimple accuracy."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from mtl_edge.metrics.lanes import LaneMetric, lane_iou_matrix


def _vertical(x: float, y0: float = 300, y1: float = 710) -> np.ndarray:
    return np.array([[x, y1], [x, (y0 + y1) / 2], [x, y0]], dtype=np.float32)


def test_lane_identical_and_shifted() -> None:
    gts = [_vertical(300), _vertical(600), _vertical(900)]
    m = LaneMetric()
    m.update(gts, gts)
    out = m.compute()
    assert out["f1"] == 1.0 and (out["tp"], out["fp"], out["fn"]) == (3, 0, 0)
    assert out["tusimple_accuracy"] == 1.0 and out["tusimple_fp_rate"] == 0.0 and out["tusimple_fn_rate"] == 0.0

    m = LaneMetric()
    assert m.update([_vertical(305)], [_vertical(300)])["tp"] == 1  # 5 px: IoU 25/35
    assert m.update([_vertical(340)], [_vertical(300)]) == {
        "tp": 0,
        "fp": 1,
        "fn": 1,
        "ts_correct": 0,
        "ts_points": 42,
        "ts_fp": 1,
        "ts_fn": 1,
    }
    out = m.compute()
    assert (out["tp"], out["fp"], out["fn"]) == (1, 1, 1)
    assert out["precision"] == 0.5 and out["recall"] == 0.5 and out["f1"] == 0.5


def test_lane_extra_prediction_is_fp() -> None:
    m = LaneMetric()
    m.update([_vertical(300), _vertical(600), _vertical(1000)], [_vertical(300), _vertical(600)])
    out = m.compute()
    assert (out["tp"], out["fp"], out["fn"]) == (2, 1, 0)
    assert out["precision"] == pytest.approx(2 / 3) and out["recall"] == 1.0
    assert out["f1"] == pytest.approx(0.8)
    assert out["tusimple_fp_rate"] == pytest.approx(1 / 3) and out["tusimple_fn_rate"] == 0.0


def _greedy_tp(ious: np.ndarray, thr: float) -> int:
    ious = ious.copy()
    tp = 0
    while ious.size and ious.max() > 0:
        i, j = np.unravel_index(np.argmax(ious), ious.shape)
        tp += ious[i, j] >= thr
        ious[i, :] = 0
        ious[:, j] = 0
    return int(tp)


def test_lane_hungarian_beats_greedy() -> None:
    gts = [_vertical(600), _vertical(615)]
    preds = [_vertical(606), _vertical(592)]  # P0 is best on G0 but is the only match for G1
    ious = lane_iou_matrix(preds, gts)
    assert ious[0, 0] > ious[1, 0] >= 0.5 and ious[0, 1] >= 0.5 and ious[1, 1] < 0.5
    assert _greedy_tp(ious, 0.5) == 1
    m = LaneMetric()
    m.update(preds, gts)
    assert m.compute()["tp"] == 2


def test_lane_iou_equals_full_canvas_drawing() -> None:
    rng = np.random.default_rng(0)

    def lane() -> np.ndarray:
        ys = np.sort(rng.uniform(-50, 780, 6))[::-1]
        xs = rng.uniform(-100, 1380) + np.cumsum(rng.normal(0, 60, 6))
        return np.stack([xs, ys], 1).astype(np.float32)

    def full(points: np.ndarray) -> np.ndarray:
        img = np.zeros((720, 1280), np.uint8)
        cv2.polylines(img, [np.rint(points).astype(np.int32).reshape(-1, 1, 2)], False, 1, thickness=30)
        return img.astype(bool)

    preds = [lane() for _ in range(8)]
    gts = [p + rng.normal(0, 12, p.shape).astype(np.float32) for p in preds[:5]] + [lane() for _ in range(3)]
    ours = lane_iou_matrix(preds, gts)
    ref = np.zeros_like(ours)
    for i, p in enumerate(map(full, preds)):
        for j, g in enumerate(map(full, gts)):
            union = (p | g).sum()
            ref[i, j] = (p & g).sum() / union if union else 0.0
    np.testing.assert_array_equal(ours, ref)
    assert (ours > 0.5).sum() >= 3  # the jittered copies overlap


def test_lane_scaling_and_empty() -> None:
    small = LaneMetric(width=640, height=360)
    assert small.line_width == 15 and small.pixel_threshold == 10.0 and small.row_step == 5.0
    assert LaneMetric().line_width == 30

    m = LaneMetric()
    assert math.isnan(m.compute()["f1"])
    m.update([], [])
    m.update([], [_vertical(300)])
    out = m.compute()
    assert (out["tp"], out["fp"], out["fn"], out["f1"]) == (0, 0, 1, 0.0)
    assert out["tusimple_accuracy"] == 0.0 and out["tusimple_fn_rate"] == 1.0 and math.isnan(out["tusimple_fp_rate"])
    with pytest.raises(ValueError, match=r"\[K, 2\]"):
        m.update([np.zeros((3, 3))], [])
    with pytest.raises(ValueError, match="finite"):
        m.update([np.array([[1.0, 2.0], [np.nan, 3.0]])], [])


def test_lane_accepts_label_objects() -> None:
    from mtl_edge.data.labels import LaneLabel

    m = LaneMetric()
    m.update([LaneLabel(points=_vertical(300))], [LaneLabel(points=_vertical(302))])
    assert m.compute()["tp"] == 1


def test_tusimple_accuracy_hand_cases() -> None:
    gt = _vertical(600, 300, 700)  # rows 300, 310, ..., 700: 41 points
    m = LaneMetric()
    assert m.update([_vertical(615, 300, 700)], [gt])["ts_correct"] == 41  # |dx| 15 < 20
    r = m.update([_vertical(625, 300, 700)], [gt])  # |dx| 25: all wrong
    assert (r["ts_correct"], r["ts_points"], r["ts_fp"], r["ts_fn"]) == (0, 41, 1, 1)
    r = m.update([_vertical(600, 500, 700)], [gt])  # covers rows 500..700 only: 21 / 41 < 0.85
    assert (r["ts_correct"], r["ts_fp"], r["ts_fn"]) == (21, 1, 1)
    r = m.update([_vertical(600, 330, 700)], [gt])  # 38 / 41 = 0.93 >= 0.85
    assert (r["ts_correct"], r["ts_fp"], r["ts_fn"]) == (38, 0, 0)
    out = m.compute()
    assert out["tusimple_accuracy"] == pytest.approx((41 + 0 + 21 + 38) / 164)
    assert out["tusimple_fp_rate"] == pytest.approx(2 / 4) and out["tusimple_fn_rate"] == pytest.approx(2 / 4)


def test_tusimple_interpolates_along_polyline() -> None:
    gt = np.array([[400, 700], [500, 500], [500, 305]], np.float32)  # bent; rows 310..700
    pred = np.array([[410, 700], [505, 510], [505, 300]], np.float32)
    m = LaneMetric(angle_adjust=False)
    r = m.update([pred], [gt])
    assert r["ts_points"] == 40 and r["ts_correct"] == 40


def test_tusimple_angle_adjusted_threshold_and_one_to_one() -> None:
    gt = np.array([[300, 700], [600, 400]], np.float32)  # 45 degrees: threshold 20 * sqrt(2)
    pred = gt + np.array([25, 0], np.float32)
    assert LaneMetric(angle_adjust=True).update([pred], [gt])["ts_fp"] == 0
    assert LaneMetric(angle_adjust=False).update([pred], [gt])["ts_correct"] == 0

    # One prediction near two GT lanes serves only one of them.
    r = LaneMetric().update([_vertical(605)], [_vertical(600), _vertical(610)])
    assert (r["ts_fp"], r["ts_fn"], r["ts_correct"]) == (0, 1, 42)
