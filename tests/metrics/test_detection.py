"""Tests for mtl_edge.metrics.detection: box AP against COCO's reference, and by hand."""

from __future__ import annotations

import contextlib
import io
import math

import numpy as np
import pytest

from mtl_edge.metrics.detection import DetectionMetric, box_iou

# --------------------------------------------------------------------------- detection vs COCO


def _random_detection_set(seed: int, num_images: int = 20, num_classes: int = 3):
    """Random GT boxes and noisy predictions (jitter, class flips, duplicates, false positives)."""
    rng = np.random.default_rng(seed)
    images = []
    for i in range(num_images):
        m = int(rng.integers(0, 12))
        xy = rng.uniform(0, 1100, (m, 2))
        wh = rng.uniform(8, 180, (m, 2))
        gt_boxes = np.concatenate([xy, xy + wh], 1)
        gt_classes = rng.integers(0, num_classes, m)
        keep = rng.random(m) < 0.85  # some GT are missed
        scale = np.concatenate([wh[keep], wh[keep]], 1)
        boxes = gt_boxes[keep] + rng.normal(0, 0.07, (int(keep.sum()), 4)) * scale
        classes = gt_classes[keep].copy()
        flip = rng.random(len(classes)) < 0.1
        classes[flip] = rng.integers(0, num_classes, int(flip.sum()))
        dup = rng.random(len(boxes)) < 0.2  # duplicates -> FPs at every threshold
        boxes = np.concatenate([boxes, boxes[dup] + rng.normal(0, 4, (int(dup.sum()), 4))])
        classes = np.concatenate([classes, classes[dup]])
        # Background false positives; image 5 gets > 100 of one class to exercise maxDets.
        f = int(rng.integers(0, 6)) + (120 if i == 5 else 0)
        fxy = rng.uniform(0, 1100, (f, 2))
        boxes = np.concatenate([boxes, np.concatenate([fxy, fxy + rng.uniform(8, 180, (f, 2))], 1)])
        fcls = np.full(f, 1) if i == 5 else rng.integers(0, num_classes, f)
        classes = np.concatenate([classes, fcls]).astype(np.int64)
        scores = rng.random(len(boxes))
        if i == 5:
            scores[-120:] = rng.uniform(0.5, 1.0, 120)  # high-scoring junk pushes real dets past 100
        images.append((boxes, scores, classes, gt_boxes, gt_classes))
    return images


def _coco_reference(module: str, images, num_classes: int):
    """Run the COCO reference implementation (pycocotools or faster-coco-eval) on the same data."""
    if module == "pycocotools":
        pytest.importorskip("pycocotools", reason="pycocotools not installed (pip install pycocotools)")
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    else:
        pytest.importorskip("faster_coco_eval", reason="faster-coco-eval not installed (pip install faster-coco-eval)")
        from faster_coco_eval import COCO
        from faster_coco_eval import COCOeval_faster as COCOeval

    ann, det, ann_id = [], [], 1
    for i, (boxes, scores, classes, gt_boxes, gt_classes) in enumerate(images):
        for b, c in zip(gt_boxes, gt_classes):
            w, h = float(b[2] - b[0]), float(b[3] - b[1])
            ann.append(
                {
                    "id": ann_id,
                    "image_id": i + 1,
                    "category_id": int(c) + 1,
                    "bbox": [float(b[0]), float(b[1]), w, h],
                    "area": w * h,
                    "iscrowd": 0,
                }
            )
            ann_id += 1
        for b, s, c in zip(boxes, scores, classes):
            det.append(
                {
                    "image_id": i + 1,
                    "category_id": int(c) + 1,
                    "score": float(s),
                    "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])],
                }
            )
    gt = COCO()
    gt.dataset = {
        "images": [{"id": i + 1, "width": 1280, "height": 720} for i in range(len(images))],
        "annotations": ann,
        "categories": [{"id": k + 1, "name": f"c{k}"} for k in range(num_classes)],
    }
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        ev = COCOeval(gt, gt.loadRes(det), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    # precision: [T, R, K, A, M]; area "all" = 0, maxDets 100 = last.
    prec = np.asarray(ev.eval["precision"])[:, :, :, 0, -1]
    per_class_50 = [float(prec[0, :, k].mean()) if (prec[0, :, k] > -1).all() else math.nan for k in range(num_classes)]
    return float(ev.stats[0]), float(ev.stats[1]), per_class_50


@pytest.mark.parametrize("module", ["pycocotools", "faster_coco_eval"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_detection_map_matches_coco_reference(module: str, seed: int) -> None:
    images = _random_detection_set(seed)
    ref_5095, ref_50, ref_per_class = _coco_reference(module, images, 3)
    metric = DetectionMetric(["a", "b", "c"])
    for boxes, scores, classes, gt_boxes, gt_classes in images:
        metric.update(boxes, scores, classes, gt_boxes, gt_classes, np.zeros(len(gt_boxes), bool))
    out = metric.compute()
    assert 0.05 < ref_50 < 0.99  # the data set is neither trivial nor hopeless
    assert out["mAP50"] == pytest.approx(ref_50, abs=1e-3)
    assert out["mAP50_95"] == pytest.approx(ref_5095, abs=1e-3)
    for name, ref in zip("abc", ref_per_class):
        assert out["per_class"][name]["AP50"] == pytest.approx(ref, abs=1e-3)


def test_detection_max_dets_is_per_image_and_class() -> None:
    images = _random_detection_set(0)
    results = []
    for max_dets in (100, 1000):
        metric = DetectionMetric(["a", "b", "c"], max_dets=max_dets)
        for im in images:
            metric.update(*im)
        results.append(metric.compute()["per_class"]["b"]["AP50"])
    assert results[0] != pytest.approx(results[1], abs=1e-4)  # image 5's junk pushes real boxes past 100


# --------------------------------------------------------------------------- detection by hand

GT = np.array([[10, 10, 110, 110], [200, 200, 260, 300], [400, 50, 500, 90], [600, 300, 700, 420]], float)


def test_detection_perfect_predictions() -> None:
    m = DetectionMetric(["car", "bus"])
    classes = np.array([0, 1, 0, 1])
    m.update(GT, np.array([0.9, 0.8, 0.7, 0.6]), classes, GT, classes, np.zeros(4, bool))
    out = m.compute()
    assert out["mAP50"] == pytest.approx(1.0)
    assert out["mAP50_95"] == pytest.approx(1.0)
    assert out["precision"] == 1.0 and out["recall"] == 1.0
    assert (out["tp"], out["fp"], out["fn"], out["num_gt"]) == (4, 0, 0, 4)


def test_detection_prediction_on_ignored_gt_is_not_fp_and_ignored_gt_not_a_miss() -> None:
    m = DetectionMetric(["car"])
    ignore = np.array([False, True, True, False])
    classes = np.zeros(4, int)
    # Predict GT 0 and 3 plus the ignored GT 1 (twice); ignored GT 2 is not predicted.
    preds = GT[[0, 1, 1, 3]] + np.array([0, 0, 0, 0, 0, 0, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0], float).reshape(4, 4)
    m.update(preds, np.array([0.5, 0.95, 0.9, 0.6]), classes, GT, classes, ignore)
    out = m.compute()
    assert (out["tp"], out["fp"], out["fn"]) == (2, 0, 0)
    assert out["num_gt"] == 2 and out["num_ignored"] == 2
    assert out["precision"] == 1.0 and out["recall"] == 1.0
    assert out["mAP50"] == pytest.approx(1.0)
    # The jittered box overlaps its ignored GT with IoU 0.925 (IoU, not COCO's IoA): at the
    # 0.95 threshold it is a FP ranked first, so AP@0.95 = 2/3 and the rest are 1.
    assert box_iou(preds[1:2], GT[1:2])[0, 0] == pytest.approx(6000 / (63 * 103))
    assert out["mAP50_95"] == pytest.approx((9 + 2 / 3) / 10)


def test_detection_ignored_gt_does_not_shadow_a_real_match() -> None:
    # The detection overlaps an ignored GT better, but a non-ignored GT still wins (COCO rule).
    gt = np.array([[0, 0, 100, 100], [0, 0, 100, 90]], float)
    m = DetectionMetric(["car"])
    m.update(np.array([[0, 0, 100, 88]], float), [0.9], [0], gt, [0, 0], [False, True])
    out = m.compute()
    assert (out["tp"], out["fp"], out["fn"]) == (1, 0, 0)


def test_detection_duplicate_is_fp() -> None:
    m = DetectionMetric(["car"])
    preds = np.stack([GT[0], GT[0] + 2])
    m.update(preds, [0.9, 0.8], [0, 0], GT[:1], [0], [False])
    out = m.compute()
    assert (out["tp"], out["fp"], out["fn"]) == (1, 1, 0)
    assert out["precision"] == pytest.approx(0.5)
    assert out["mAP50"] == pytest.approx(1.0)  # the duplicate ranks below the true positive

    m = DetectionMetric(["car"])
    m.update(preds, [0.8, 0.9], [0, 0], GT[:1], [0], [False])  # the jittered copy now ranks first
    assert m.compute()["per_class"]["car"]["fp"] == 1


def test_detection_precision_recall_at_threshold_and_hand_ap() -> None:
    m = DetectionMetric(["car"], score_threshold=0.3)
    far = np.array([[900, 600, 950, 650]], float)
    preds = np.concatenate([GT[:3], far])
    # sorted: 0.9 TP, 0.5 TP, 0.4 FP, 0.2 TP; GT[3] never found
    m.update(preds, [0.9, 0.5, 0.2, 0.4], [0, 0, 0, 0], GT, [0, 0, 0, 0], None)
    out = m.compute()
    assert (out["tp"], out["fp"], out["fn"]) == (2, 1, 2)
    assert out["precision"] == pytest.approx(2 / 3)
    assert out["recall"] == pytest.approx(0.5)
    # Envelope precision 1 up to recall 0.5, 0.75 up to 0.75, then 0 (101 points).
    assert out["mAP50"] == pytest.approx((26 + 25 + 25 * 0.75) / 101)


def test_detection_recall_by_height_counts_a_gt_found_above_the_threshold() -> None:
    m = DetectionMetric(["car", "bus"], score_threshold=0.3)
    gt = np.array([[0, 0, 10, 10], [100, 0, 120, 20], [200, 0, 240, 40], [300, 0, 400, 100], [500, 0, 510, 12]], float)
    # 10 px: found at 0.9; 20 px: only at 0.2 (below the threshold); 40 px: wrong class; 100 px: found; 12 px: ignored
    preds = np.array([gt[0], gt[1], gt[2], gt[3] + [2, 2, 2, 2]], float)
    m.update(preds, [0.9, 0.2, 0.8, 0.6], [0, 0, 1, 0], gt, [0, 0, 0, 0, 0], [False, False, False, False, True])
    bins = {r["height"]: (r["num_gt"], r["recall"]) for r in m.compute()["recall_by_height"]}
    assert bins["<16"] == (1, 1.0) and bins["16-32"] == (1, 0.0) and bins["32-64"] == (1, 0.0)
    assert bins[">=64"] == (1, 1.0)
    assert m.compute()["recall"] == pytest.approx(0.5)  # the bins split the headline recall


def test_detection_iou_thresholds() -> None:
    gt = np.array([[0, 0, 100, 100]], float)
    pred = np.array([[0, 0, 100, 62]], float)  # IoU 0.62: a match at 0.50, 0.55, 0.60 only
    assert box_iou(pred, gt)[0, 0] == pytest.approx(0.62)
    m = DetectionMetric(["car"])
    m.update(pred, [0.9], [0], gt, [0])
    out = m.compute()
    assert out["mAP50"] == pytest.approx(1.0)
    assert out["mAP50_95"] == pytest.approx(0.3)


def test_detection_classes_without_gt_excluded_and_empty_inputs() -> None:
    m = DetectionMetric(["car", "bus", "truck"])
    m.compute()  # nothing seen: no crash
    m.update(np.zeros((0, 4)), [], [], np.zeros((0, 4)), [], [])  # empty image
    m.update(GT[:1], [0.9], [0], GT[:1], [0], [False])
    m.update(GT[1:2], [0.9], [1], np.zeros((0, 4)), [], [])  # bus FP, no bus GT anywhere
    m.update(np.zeros((0, 4)), [], [], GT[2:3], [2], [False])  # truck GT, never predicted
    out = m.compute()
    pc = out["per_class"]
    assert pc["car"]["AP50"] == pytest.approx(1.0)
    assert math.isnan(pc["bus"]["AP50"]) and math.isnan(pc["bus"]["recall"])
    assert pc["bus"]["fp"] == 1 and pc["bus"]["precision"] == 0.0
    assert pc["truck"]["AP50"] == 0.0 and math.isnan(pc["truck"]["precision"]) and pc["truck"]["fn"] == 1
    assert out["mAP50"] == pytest.approx(0.5)  # mean of car and truck only
    assert out["num_images"] == 4

    empty = DetectionMetric(["car"])
    empty.update(np.zeros((0, 4)), [], [], np.zeros((0, 4)), [], [])
    res = empty.compute()
    assert math.isnan(res["mAP50"]) and math.isnan(res["precision"]) and res["tp"] == 0


def test_detection_bad_class_index_raises() -> None:
    m = DetectionMetric(["car"])
    with pytest.raises(ValueError, match="class index"):
        m.update(GT[:1], [0.9], [3], GT[:1], [0])
