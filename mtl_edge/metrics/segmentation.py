"""Segmentation: confusion-matrix IoU / mIoU, with the binary (background vs drivable) view."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from mtl_edge.metrics.common import ratio


class SegmentationMetric:
    """Confusion-matrix IoU per class and mIoU; target pixels equal to ``ignore_index`` are skipped.

    With ``binary=True`` (drivable area) ``compute`` also reports the background vs
    foreground view, every class >= 1 merged (direct + alternative = drivable; names
    from ``binary_names``, default background and the joined foreground names):
    ``miou_binary`` is the mean of the two IoUs and is the headline "drivable mIoU"
    of YOLOP / HybridNets; ``miou`` stays the mean over all classes (3-class).
    Predictions must already be at the target's (source-image) resolution.
    """

    def __init__(
        self,
        num_classes: int,
        class_names: Sequence[str] | None = None,
        ignore_index: int = 255,
        binary: bool = False,
        binary_names: tuple[str, str] | None = None,
    ) -> None:
        if num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {num_classes}")
        if class_names is not None and len(class_names) != num_classes:
            raise ValueError(f"{len(class_names)} class names for {num_classes} classes")
        self.num_classes = int(num_classes)
        self.class_names = tuple(class_names) if class_names is not None else tuple(map(str, range(num_classes)))
        self.ignore_index = int(ignore_index)
        self.binary = bool(binary)
        self.binary_names = binary_names or (self.class_names[0], "+".join(self.class_names[1:]))
        self.reset()

    def reset(self) -> None:
        """Zero the confusion matrix."""
        self.confusion = np.zeros((self.num_classes, self.num_classes), dtype=np.int64)

    def update(self, pred: np.ndarray, target: np.ndarray) -> None:
        """Add one image: integer class maps of the same shape."""
        pred = np.asarray(pred)
        target = np.asarray(target)
        if pred.shape != target.shape:
            raise ValueError(
                f"prediction {pred.shape} and target {target.shape} differ; resize the prediction to the "
                "source image (nearest neighbour) before update"
            )
        t = target.reshape(-1).astype(np.int64)
        p = pred.reshape(-1).astype(np.int64)
        valid = t != self.ignore_index
        t, p = t[valid], p[valid]
        n = self.num_classes
        if t.size and (t.min() < 0 or t.max() >= n):
            raise ValueError(f"target values must be 0..{n - 1} or {self.ignore_index}, got {t.min()}..{t.max()}")
        if p.size and (p.min() < 0 or p.max() >= n):
            raise ValueError(f"prediction values must be 0..{n - 1}, got {p.min()}..{p.max()}")
        self.confusion += np.bincount(t * n + p, minlength=n * n).reshape(n, n)

    @staticmethod
    def _iou(cm: np.ndarray) -> np.ndarray:
        inter = np.diag(cm).astype(np.float64)
        union = cm.sum(0) + cm.sum(1) - np.diag(cm)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(union > 0, inter / union, np.nan)

    def compute(self) -> dict[str, Any]:
        """IoU per class (NaN for a class absent from both), mIoU and pixel accuracy."""
        cm = self.confusion
        iou = self._iou(cm)
        total = cm.sum()
        out: dict[str, Any] = {
            "miou": float(np.nanmean(iou)) if np.isfinite(iou).any() else math.nan,
            "iou": {name: float(v) for name, v in zip(self.class_names, iou)},
            "pixel_accuracy": ratio(np.trace(cm), total),
            "num_pixels": int(total),
        }
        if self.binary:
            b = np.array([[cm[0, 0], cm[0, 1:].sum()], [cm[1:, 0].sum(), cm[1:, 1:].sum()]])
            biou = self._iou(b)
            out["miou_binary"] = float(np.nanmean(biou)) if np.isfinite(biou).any() else math.nan
            out["iou_binary"] = dict(zip(self.binary_names, map(float, biou)))
            out["pixel_accuracy_binary"] = ratio(np.trace(b), total)
        return out


def drivable_metric() -> SegmentationMetric:
    """The drivable-area metric: background / direct / alternative, plus the binary view."""
    return SegmentationMetric(
        3, ("background", "direct", "alternative"), binary=True, binary_names=("background", "drivable")
    )
