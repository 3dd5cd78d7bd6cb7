"""Evaluation metrics for every head, computed in source-image pixels.

Each metric is a streaming accumulator: call ``update(...)`` once per image and
``compute()`` at the end for a dict of plain Python numbers. Nothing here needs torch.

* :class:`DetectionMetric` — COCO-style AP (mAP@0.5, mAP@0.5:0.95) plus precision and
  recall at one operating point.
* :class:`LaneMetric` — CULane F1 (30-px-wide lanes, IoU, Hungarian matching) and
  TuSimple point accuracy with its FP / FN rates.
* :class:`SegmentationMetric` — confusion-matrix IoU / mIoU, with the binary
  (background vs drivable) view that YOLOP and HybridNets report.
* :func:`format_table` — plain-text tables for the CLIs (from :mod:`mtl_edge.deploy.table`).

The modules: :mod:`~mtl_edge.metrics.detection`, :mod:`~mtl_edge.metrics.lanes`,
:mod:`~mtl_edge.metrics.segmentation` and :mod:`~mtl_edge.metrics.common` (shared helpers).
"""

from __future__ import annotations

from mtl_edge.deploy.table import format_table
from mtl_edge.metrics.detection import DetectionMetric, box_iou
from mtl_edge.metrics.lanes import LaneMetric, lane_iou_matrix
from mtl_edge.metrics.segmentation import SegmentationMetric, drivable_metric

__all__ = [
    "DetectionMetric",
    "LaneMetric",
    "SegmentationMetric",
    "box_iou",
    "drivable_metric",
    "format_table",
    "lane_iou_matrix",
]
