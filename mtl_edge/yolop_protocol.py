"""The BDD100K-val numbers the multi-task peers publish (YOLOP, HybridNets, YOLOPv2), for our model.

:class:`YolopProtocol` turns a model's deploy results (``FrameResult``) and BDD100K-style labels
into the five numbers of the peers' tables, computed the way ``hustvl/YOLOP`` computes them
(its ``validate``; HybridNets and YOLOPv2 copy the table). No torch; OpenCV draws the lanes.

Sources read (the conventions below cite them by these short names):

* ``bdd.py``: hustvl/YOLOP ``lib/dataset/bdd.py`` @ 726f588b1e0b; the class table it imports,
  ``lib/dataset/convert.py``, as vendored in datvuthanh/HybridNets ``yolop/lib/dataset/convert.py``
  @ c1d204da5297.
* ``function.py``: hustvl/YOLOP ``lib/core/function.py`` (``validate``) @ bff896e34d1c.
* ``evaluate.py``: hustvl/YOLOP ``lib/core/evaluate.py`` (``ap_per_class``, ``compute_ap``,
  ``SegmentationMetric``) @ bff896e34d1c.
* ``AutoDriveDataset.py``: hustvl/YOLOP ``lib/dataset/AutoDriveDataset.py`` @ bff896e34d1c;
  ``default.py``: hustvl/YOLOP ``lib/config/default.py`` @ 2f09e615b698.
* ``val.py`` / ``dataset.py``: datvuthanh/HybridNets ``val.py`` @ 00b0d2eba659 and
  ``hybridnets/dataset.py`` @ 00b0d2eba659; its README's ``obj_combine``.

**Vehicle recall and mAP@0.5** (``vehicle_recall``, ``vehicle_map50``).

* One merged class. Ground truth: every labelled box whose category is car, bus, truck or train
  (``id_dict_single`` of ``convert.py``, used by ``bdd.py`` with ``single_cls = True``; HybridNets'
  ``obj_combine`` is the same four). BDD100K's older spellings are mapped first. Every such box
  counts: the peers have no ignore flag, so our ``ignore`` attribute is not read (an ignored
  vehicle missed is a miss, as it is for them). Pedestrians, riders, bikes, motorcycles,
  trailers and "other vehicle" are not vehicles here.
* Predictions: the vehicle head's detections whose class is one of ``pred_labels`` (default the
  same four names), every score the evaluation unpacks (the peers keep NMS output down to
  conf 0.001, ``default.py`` ``NMS_CONF_THRESHOLD``). Other classes (our motorcycle) are left
  out, as a one-class peer model never outputs them. No extra class-agnostic NMS: a car box and
  a truck box on one object are one TP and one FP, as the model output them.
* Matching per image (``function.py``): detections in score order; each takes its highest-IoU
  ground-truth box; it is a TP when that IoU is **> 0.5** (strict) and the box was not taken by
  an earlier detection, else a FP. Unlike COCO, a detection whose best box is already taken does
  not fall back to its second-best box.
* AP (``evaluate.py`` ``compute_ap``): over all images, detections sorted by score (stable sort
  here; the peers' sort leaves ties in any order); recall = cum TP / GT, precision = cum TP /
  cum detections; the curve gets the sentinels (recall 0, precision 1) in front and (last
  recall + 0.01, precision 0) behind, precision is replaced by its envelope (max to the right),
  the envelope is linearly interpolated (``np.interp``) at the 101 recalls 0, 0.01, ..., 1 and
  integrated with the trapezoid rule. This is *not* COCO's AP (which averages the envelope's
  step values at those recalls): ``mtl-edge eval``'s own vehicles mAP50 is COCO's and differs
  slightly. No TP at all gives AP 0, as in ``function.py``.
* Recall (``evaluate.py`` ``ap_per_class``): the peers report the recall at the index that
  maximises the mean recall curve, which is the lowest score, so their R is TP / GT over every
  detection kept (conf >= 0.001), not at a deploy threshold. So is ours.

**Drivable-area mIoU** (``drivable_miou``). Two classes (``default.py`` ``num_seg_class = 2``):
background and drivable, where drivable merges BDD100K's direct and alternative areas, both in
the labels and in our 3-class prediction. mIoU is the mean of the two IoUs (``evaluate.py``
``meanIntersectionOverUnion``; an IoU with an empty union counts 0). The peers score it at the
network's input: the 1280x720 frame resized to 640x360 (long side 640, ``int()`` of the scaled
sides, letterbox padding cropped off, ``AutoDriveDataset.py`` and ``function.py``). We do the
same at ``long_side`` (640): the label mask is shrunk like theirs (``cv2.INTER_AREA`` on a 0/255
mask, then ``> 1``: a low-resolution pixel is drivable when any source pixel under it is); our
source-resolution prediction is shrunk the same way but kept by majority (``> 127``), which
gives back what a network predicting at that size would. Pixels are pooled over the whole
dataset: ``function.py`` averages per-batch values (batches of 24 per GPU), HybridNets
(``val.py``) averages per-image IoUs and keeps its 12-pixel letterbox bands in; with many images
these differ little. BDD100K drivable maps have no ignore label, nor has this metric.

**Lane-line accuracy and IoU** (``lane_accuracy``, ``lane_iou``). Two classes, background and
lane line. The peers' lane ground truth is pre-drawn masks (``bdd_lane_gt``) that are not in
their code: lines drawn 8 px wide on the 1280x720 frame (HybridNets' ``dataset.py``: "we increase
lane-line from 2 to 8 pixels"; the ENet-SAD preparation they derive from pairs BDD100K's two
edge polylines of a marking into one centre line). Here both the label polylines and the
predicted polylines are drawn the same way: straight segments between the vertices (vertices
rounded to whole pixels), ``lane_width`` px wide (default 8 px at 1280 px source width, scaled
with it), ``cv2.polylines`` with 8-connected lines, on the source-size canvas; the mask is then
shrunk to the evaluation size like the peers' masks (``INTER_AREA``, then ``> 1``). The label
polylines are the dataset's after its lane rules (``mtl_edge.data.lane_rules``): a double line's
two polylines are merged into one centre line as the peers do, but curbs and crosswalks are not
drawn (the peers keep every lane category), so lane numbers on real BDD100K labels are close
to, not equal to, theirs; set ``lanes: {markings: [...]}`` to match them. Only frames that
label a head (``Labels.supervised``) score it. ``lane_iou`` is the lane class's IoU (``evaluate.py``
``IntersectionOverUnion``). ``lane_accuracy`` is YOLOP's ``lineAccuracy``: TP / (TP + FN) of
lane pixels, the lane class's pixel recall, not an overall pixel accuracy. HybridNets' "Acc" is
the balanced accuracy (mean of the lane and background recalls, ``val.py``), reported as
``lane_balanced_accuracy``. Pixels are pooled over the dataset as for drivable area.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from mtl_edge.data.labels import BOX_CATEGORY_ALIASES, FrameLabels
from mtl_edge.metrics.common import ratio
from mtl_edge.metrics.detection import box_iou
from mtl_edge.metrics.segmentation import SegmentationMetric

if TYPE_CHECKING:  # annotations only: the metrics stay free of torch
    from mtl_edge.data.tasks import Labels
    from mtl_edge.deploy.results import FrameResult

#: Box categories merged into the one "vehicle" class (YOLOP ``id_dict_single``, HybridNets ``obj_combine``).
VEHICLE_CATEGORIES: tuple[str, ...] = ("car", "bus", "truck", "train")

#: Numbers the peers publish on BDD100K val, as fractions (papers' tables; paperswithcode's copies).
PUBLISHED: dict[str, dict[str, float]] = {
    "YOLOP": {
        "vehicle_recall": 0.892,
        "vehicle_map50": 0.765,
        "drivable_miou": 0.915,
        "lane_accuracy": 0.705,
        "lane_iou": 0.262,
    },
    "HybridNets": {
        "vehicle_recall": 0.928,
        "vehicle_map50": 0.773,
        "drivable_miou": 0.905,
        "lane_accuracy": 0.854,
        "lane_iou": 0.316,
    },
}

#: The peers' evaluation size: the long side of the frame after their resize (640x360 from 1280x720).
LONG_SIDE = 640
#: The peers' lane-mask line width, in pixels of a 1280-px-wide frame.
LANE_WIDTH_AT_1280 = 8.0
#: IoU a detection must exceed to match (strictly), YOLOP's ``iouv[0]``.
IOU_THRESHOLD = 0.5
#: The 101 recall points AP samples the interpolated envelope at.
RECALL_POINTS: np.ndarray = np.linspace(0.0, 1.0, 101)


def yolop_match(pred_boxes: np.ndarray, gt_boxes: np.ndarray, iou_threshold: float = IOU_THRESHOLD) -> np.ndarray:
    """TP flags [N] of score-sorted predictions: each takes its best-IoU GT if IoU > threshold and the GT is free."""
    pb = np.asarray(pred_boxes, np.float64).reshape(-1, 4)
    gb = np.asarray(gt_boxes, np.float64).reshape(-1, 4)
    tp = np.zeros(len(pb), dtype=bool)
    if len(pb) == 0 or len(gb) == 0:
        return tp
    ious = box_iou(pb, gb)
    best = ious.argmax(axis=1)
    best_iou = ious[np.arange(len(pb)), best]
    taken = np.zeros(len(gb), dtype=bool)
    for i in np.flatnonzero(best_iou > iou_threshold):
        if not taken[best[i]]:
            taken[best[i]] = True
            tp[i] = True
    return tp


def yolop_ap(recall: np.ndarray, precision: np.ndarray) -> float:
    """AP from a score-ordered recall / precision curve: envelope, 101-point linear interpolation, trapezoid rule."""
    r = np.asarray(recall, np.float64)
    p = np.asarray(precision, np.float64)
    if r.size == 0:
        return 0.0
    mrec = np.concatenate(([0.0], r, [r[-1] + 0.01]))
    mpre = np.concatenate(([1.0], p, [0.0]))
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    y = np.interp(RECALL_POINTS, mrec, mpre)
    return float(np.sum((y[1:] + y[:-1]) * np.diff(RECALL_POINTS)) / 2.0)


def eval_hw(source_hw: tuple[int, int], long_side: int | None = LONG_SIDE) -> tuple[int, int]:
    """The evaluation size: ``source_hw`` scaled so its long side is ``long_side`` (sides truncated, as YOLOP)."""
    h, w = int(source_hw[0]), int(source_hw[1])
    if long_side is None:
        return h, w
    s = long_side / max(h, w)
    return max(1, int(h * s)), max(1, int(w * s))


def resize_binary(mask: np.ndarray, hw: tuple[int, int], *, any_pixel: bool) -> np.ndarray:
    """A bool mask resized to ``hw``: area average (linear when enlarging) of 0/255, then ``> 1`` or ``> 127``.

    ``any_pixel=True`` is the peers' label rule (a pixel is set when any source pixel under it is);
    ``False`` keeps the majority, for predictions.
    """
    m = np.asarray(mask, dtype=bool)
    if m.shape == tuple(hw):
        return m
    h, w = hw
    interp = cv2.INTER_LINEAR if w > m.shape[1] else cv2.INTER_AREA
    out = cv2.resize(m.astype(np.uint8) * 255, (w, h), interpolation=interp)
    return out > (1 if any_pixel else 127)


def draw_lines(lines: Iterable[Any], hw: tuple[int, int], width: int) -> np.ndarray:
    """Polylines ([K, 2] x, y arrays or objects with ``.points``) drawn ``width`` px wide, as a bool [H, W] mask."""
    canvas = np.zeros(hw, dtype=np.uint8)
    for line in lines:
        pts = np.asarray(getattr(line, "points", line), dtype=np.float64).reshape(-1, 2)
        pts = pts[np.isfinite(pts).all(axis=1)]
        if len(pts) == 0:
            continue
        if len(pts) == 1:  # polylines skips a lone vertex; a zero-length line is a dot
            pts = np.repeat(pts, 2, axis=0)
        ipts = np.rint(pts).astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(canvas, [ipts], isClosed=False, color=255, thickness=int(width), lineType=cv2.LINE_8)
    return canvas > 0


def _canonical(category: str) -> str:
    return BOX_CATEGORY_ALIASES.get(category, category)


def _head_value(result: Any, name: str) -> Any:
    head = getattr(result, "heads", {}).get(name)
    return None if head is None else head.value


class YolopProtocol:
    """Accumulates the peers' BDD100K numbers over frames; see the module docstring for every convention.

    ``update(result, labels, source_hw)`` once per frame (``result`` a ``FrameResult`` in source
    pixels, ``labels`` a ``tasks.Labels``), then ``compute()``. A part whose head the results lack
    (or, for drivable area, a frame without a drivable label) is skipped; a part never scored is NaN.
    """

    def __init__(
        self,
        *,
        long_side: int | None = LONG_SIDE,
        lane_width: float | None = None,
        categories: Sequence[str] = VEHICLE_CATEGORIES,
        pred_labels: Sequence[str] | None = None,
        iou_threshold: float = IOU_THRESHOLD,
        vehicle_head: str = "vehicles",
        drivable_head: str = "drivable",
        lane_head: str = "lanes",
    ) -> None:
        """``lane_width``: line width in source pixels (None: 8 px at 1280 px width, scaled); ``long_side``
        None scores at source size; ``pred_labels``: predicted classes counted as vehicles (None: ``categories``)."""
        self.long_side = long_side
        self.lane_width = lane_width
        self.categories = frozenset(_canonical(c) for c in categories)
        self.pred_labels = frozenset(categories if pred_labels is None else pred_labels)
        self.iou_threshold = float(iou_threshold)
        self.vehicle_head, self.drivable_head, self.lane_head = vehicle_head, drivable_head, lane_head
        self.reset()

    def reset(self) -> None:
        """Forget every frame seen so far."""
        self.num_images = 0
        self.vehicle_images = 0
        self._scores: list[np.ndarray] = []
        self._tp: list[np.ndarray] = []
        self.vehicle_num_gt = 0
        self.drivable = SegmentationMetric(2, ("background", "drivable"))
        self.drivable_images = 0
        self.lanes = SegmentationMetric(2, ("background", "lane"))
        self.lane_images = 0

    def line_width(self, source_hw: tuple[int, int]) -> int:
        """The lane line width in source pixels for a frame of ``source_hw``."""
        if self.lane_width is not None:
            return max(1, int(round(self.lane_width)))
        return max(1, int(round(LANE_WIDTH_AT_1280 * source_hw[1] / 1280)))

    def update(self, result: FrameResult, labels: Labels, source_hw: tuple[int, int]) -> None:
        """Add one frame: its deploy result against its labels (``.frame`` and ``.read_mask()``)."""
        hw = (int(source_hw[0]), int(source_hw[1]))
        frame: FrameLabels = labels.frame
        self.num_images += 1
        heads = getattr(result, "heads", {})

        def scored(head: str) -> bool:  # a frame that does not label a head does not score it
            return head in heads and (labels.supervised is None or head in labels.supervised)

        if scored(self.vehicle_head):
            self._update_vehicles(_head_value(result, self.vehicle_head) or [], frame)
        mask = _head_value(result, self.drivable_head)
        if mask is not None and scored(self.drivable_head):
            truth = self._drivable_truth(labels, hw)
            if truth is not None:
                self._update_drivable(np.asarray(mask), truth, hw)
        if scored(self.lane_head):
            self._update_lanes(_head_value(result, self.lane_head) or [], frame, hw)

    def _update_vehicles(self, dets: Sequence[Any], frame: FrameLabels) -> None:
        gt = [
            [o.box.x1, o.box.y1, o.box.x2, o.box.y2] for o in frame.objects if _canonical(o.category) in self.categories
        ]
        kept = [d for d in dets if d.label in self.pred_labels]
        scores = np.asarray([float(d.score) for d in kept], np.float64)
        boxes = np.asarray([d.box for d in kept], np.float64).reshape(-1, 4)
        order = np.argsort(-scores, kind="mergesort")
        self._scores.append(scores[order])
        self._tp.append(yolop_match(boxes[order], np.asarray(gt, np.float64).reshape(-1, 4), self.iou_threshold))
        self.vehicle_num_gt += len(gt)
        self.vehicle_images += 1

    @staticmethod
    def _drivable_truth(labels: Labels, hw: tuple[int, int]) -> np.ndarray | None:
        mask = labels.read_mask()
        if mask is None and labels.frame.drivable_polygons:
            from mtl_edge.data.formats.drivable import rasterize_drivable

            mask = rasterize_drivable(labels.frame.drivable_polygons, hw[0], hw[1])
        return mask

    def _update_drivable(self, pred: np.ndarray, truth: np.ndarray, hw: tuple[int, int]) -> None:
        if pred.shape != hw or truth.shape != hw:
            raise ValueError(
                f"drivable prediction {pred.shape} and label {truth.shape} must both be the source size {hw}"
            )
        size = eval_hw(hw, self.long_side)
        gt = resize_binary(truth >= 1, size, any_pixel=True)
        pr = resize_binary(pred >= 1, size, any_pixel=False)
        self.drivable.update(pr.astype(np.uint8), gt.astype(np.uint8))
        self.drivable_images += 1

    def _update_lanes(self, lanes: Sequence[Any], frame: FrameLabels, hw: tuple[int, int]) -> None:
        width, size = self.line_width(hw), eval_hw(hw, self.long_side)
        gt = resize_binary(draw_lines(frame.lanes, hw, width), size, any_pixel=True)
        pr = resize_binary(draw_lines(lanes, hw, width), size, any_pixel=True)
        self.lanes.update(pr.astype(np.uint8), gt.astype(np.uint8))
        self.lane_images += 1

    def compute(self) -> dict[str, Any]:
        """The five published numbers (fractions; NaN where nothing was scored) and the counts behind them."""
        scores = np.concatenate(self._scores) if self._scores else np.zeros(0)
        tp = np.concatenate(self._tp) if self._tp else np.zeros(0, dtype=bool)
        tp = tp[np.argsort(-scores, kind="mergesort")]
        n_tp, n_gt = int(tp.sum()), self.vehicle_num_gt
        if n_gt == 0:
            ap = math.nan
        elif n_tp == 0:
            ap = 0.0
        else:
            tpc = np.cumsum(tp, dtype=np.float64)
            ap = yolop_ap(tpc / n_gt, tpc / np.arange(1, len(tp) + 1))

        dcm = self.drivable.confusion
        diou = SegmentationMetric._iou(dcm)
        drivable_miou = float(np.nan_to_num(diou, nan=0.0).mean()) if dcm.sum() else math.nan

        lcm = self.lanes.confusion
        l_tn, l_fp, l_fn, l_tp = (int(v) for v in lcm.reshape(-1))
        lane_recall, bg_recall = ratio(l_tp, l_tp + l_fn), ratio(l_tn, l_tn + l_fp)
        return {
            "vehicle_recall": ratio(n_tp, n_gt),
            "vehicle_map50": ap,
            "drivable_miou": drivable_miou,
            "lane_accuracy": lane_recall,
            "lane_iou": ratio(l_tp, l_tp + l_fp + l_fn),
            "lane_balanced_accuracy": (lane_recall + bg_recall) / 2,
            "drivable_iou": float(diou[1]),
            "num_images": self.num_images,
            "vehicle_images": self.vehicle_images,
            "vehicle_num_gt": n_gt,
            "vehicle_num_pred": int(len(tp)),
            "vehicle_tp": n_tp,
            "drivable_images": self.drivable_images,
            "drivable_pixels": int(dcm.sum()),
            "lane_images": self.lane_images,
            "lane_gt_pixels": l_tp + l_fn,
            "lane_pred_pixels": l_tp + l_fp,
            "lane_tp_pixels": l_tp,
        }
