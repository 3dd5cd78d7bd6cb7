"""Lanes: CULane F1 (30-px-wide lanes, IoU, Hungarian matching) and TuSimple point accuracy."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment

from mtl_edge.metrics.common import ratio


def _as_points(lane: Any) -> np.ndarray:
    pts = np.asarray(getattr(lane, "points", lane), dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) == 0:
        raise ValueError(f"a lane must be [K, 2] (x, y) points with K >= 1, got shape {pts.shape}")
    if not np.isfinite(pts).all():
        raise ValueError("lane points must be finite; drop invalid (NaN / inf) rows before update")
    return pts


class _LaneMask:
    """A lane drawn CULane-style, stored only inside its bounding box on the canvas."""

    __slots__ = ("area", "mask", "x0", "x1", "y0", "y1")

    def __init__(self, points: np.ndarray, width: int, height: int, line_width: int) -> None:
        pts = np.rint(points).astype(np.int64)
        pad = line_width // 2 + 4  # beyond the round caps' reach
        self.x0 = int(max(0, pts[:, 0].min() - pad))
        self.y0 = int(max(0, pts[:, 1].min() - pad))
        self.x1 = int(min(width, pts[:, 0].max() + pad + 1))
        self.y1 = int(min(height, pts[:, 1].max() + pad + 1))
        if self.x1 <= self.x0 or self.y1 <= self.y0:
            self.mask, self.area = np.zeros((0, 0), np.uint8), 0
            return
        self.mask = np.zeros((self.y1 - self.y0, self.x1 - self.x0), dtype=np.uint8)
        if len(pts) == 1:  # polylines skips a lone vertex; a zero-length line is a dot
            pts = np.repeat(pts, 2, axis=0)
        local = (pts - [self.x0, self.y0]).astype(np.int32).reshape(-1, 1, 2)
        # Drawing on a crop with integer offsets gives the same pixels as the full canvas.
        cv2.polylines(self.mask, [local], isClosed=False, color=1, thickness=line_width, lineType=cv2.LINE_8)
        self.area = int(cv2.countNonZero(self.mask))

    def iou(self, other: _LaneMask) -> float:
        union_area = self.area + other.area
        if union_area == 0:
            return 0.0
        x0, y0 = max(self.x0, other.x0), max(self.y0, other.y0)
        x1, y1 = min(self.x1, other.x1), min(self.y1, other.y1)
        if x1 <= x0 or y1 <= y0:
            return 0.0
        a = self.mask[y0 - self.y0 : y1 - self.y0, x0 - self.x0 : x1 - self.x0]
        b = other.mask[y0 - other.y0 : y1 - other.y0, x0 - other.x0 : x1 - other.x0]
        inter = int(cv2.countNonZero(cv2.bitwise_and(a, b)))
        return inter / (union_area - inter)


def _default_line_width(width: int) -> int:
    return max(1, round(30 * width / 1280))


def lane_iou_matrix(
    pred_lanes: Sequence[Any],
    gt_lanes: Sequence[Any],
    width: int = 1280,
    height: int = 720,
    line_width: int | None = None,
) -> np.ndarray:
    """CULane IoU [P, G] between lanes drawn ``line_width`` px wide on a width x height canvas."""
    lw = _default_line_width(width) if line_width is None else int(line_width)
    pm = [_LaneMask(_as_points(p), width, height, lw) for p in pred_lanes]
    gm = [_LaneMask(_as_points(g), width, height, lw) for g in gt_lanes]
    out = np.zeros((len(pm), len(gm)))
    for i, p in enumerate(pm):
        for j, g in enumerate(gm):
            out[i, j] = p.iou(g)
    return out


def _x_at_rows(points: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """x of the polyline at each row y (linear along segments, NaN where not covered).

    Where a polyline crosses a row more than once, the crossing on the segment nearest
    its first vertex (near end) wins. A single point covers only its own row.
    """
    out = np.full(len(rows), np.nan)
    if len(points) == 1:
        out[rows == points[0, 1]] = points[0, 0]
        return out
    p0, p1 = points[:-1], points[1:]
    lo, hi = np.minimum(p0[:, 1], p1[:, 1]), np.maximum(p0[:, 1], p1[:, 1])
    cover = (rows[None, :] >= lo[:, None]) & (rows[None, :] <= hi[:, None])  # [S, R]
    has = cover.any(axis=0)
    seg = np.argmax(cover[:, has], axis=0)
    y = rows[has]
    xa, ya, xb, yb = p0[seg, 0], p0[seg, 1], p1[seg, 0], p1[seg, 1]
    dy = yb - ya
    flat = dy == 0
    t = np.where(flat, 0.0, (y - ya) / np.where(flat, 1.0, dy))
    out[has] = xa + t * (xb - xa)
    return out


def _safe_div_zero(num: int, den: int) -> float:
    return num / den if den > 0 else 0.0


class LaneMetric:
    """CULane F1 and TuSimple accuracy over lane polylines, in source-image pixels.

    **CULane.** Each GT and predicted lane is drawn as a ``line_width``-px polyline
    (straight segments between the given vertices, no spline smoothing) on a
    ``width`` x ``height`` canvas; IoU is taken for every pred/GT pair and pairs are
    matched one-to-one by the Hungarian algorithm maximising total IoU; a matched pair
    with IoU >= ``iou_threshold`` is a TP (the reference Python scripts use ``>``;
    identical in practice). Precision, recall and F1 are micro-averaged over the
    dataset and follow the CULane tools' convention of 0 when there is no TP.
    ``line_width`` defaults to 30 px at 1280 px width, scaled with ``width``.
    Lanes must be in the canvas' pixels: scale lanes from other image sizes to
    ``width`` x ``height`` before ``update`` (or build the metric with that size).

    **TuSimple.** Each GT lane is sampled at rows y = k * ``row_step`` within its
    vertical extent and inside the canvas (10 px at 720 px height, like TuSimple's
    ``h_samples``), with x linearly interpolated along the polyline; predictions are
    interpolated at the same rows (no extrapolation: a row the prediction does not
    reach is a miss). A point is correct if ``|dx| < pixel_threshold``, 20 px at 1280
    px width; with ``angle_adjust`` (TuSimple's official script) the threshold is
    divided by cos(angle) of the GT lane's least-squares slope. Matching is one-to-one
    Hungarian on lane accuracy (TuSimple's best-accuracy criterion, but without its
    many-to-one reuse of a prediction). ``tusimple_accuracy`` = correct points / GT
    points over the dataset (micro; the official script averages per image and drops
    the worst lane of images with more than four); a predicted lane is a FP unless it
    is matched with accuracy >= 0.85, a GT lane is a FN unless it is so matched;
    ``tusimple_fp_rate`` = FP / predicted lanes, ``tusimple_fn_rate`` = FN / GT lanes.
    GT lanes that cross no sample row are left out of the TuSimple numbers.
    """

    def __init__(
        self,
        width: int = 1280,
        height: int = 720,
        line_width: int | None = None,
        iou_threshold: float = 0.5,
        *,
        pixel_threshold: float | None = None,
        row_step: float | None = None,
        angle_adjust: bool = True,
        accuracy_threshold: float = 0.85,
    ) -> None:
        self.width, self.height = int(width), int(height)
        self.line_width = _default_line_width(self.width) if line_width is None else int(line_width)
        self.iou_threshold = float(iou_threshold)
        self.pixel_threshold = 20.0 * self.width / 1280 if pixel_threshold is None else float(pixel_threshold)
        self.row_step = 10.0 * self.height / 720 if row_step is None else float(row_step)
        self.angle_adjust = bool(angle_adjust)
        self.accuracy_threshold = float(accuracy_threshold)
        self.reset()

    def reset(self) -> None:
        """Forget every image seen so far."""
        self.tp = self.fp = self.fn = 0
        self.num_images = 0
        self.ts_correct = self.ts_points = 0
        self.ts_fp = self.ts_fn = self.ts_pred = self.ts_gt = 0

    def update(self, pred_lanes: Sequence[Any], gt_lanes: Sequence[Any]) -> dict[str, int]:
        """Add one image's lanes ([K, 2] point arrays or objects with ``.points``); returns its counts."""
        preds = [_as_points(p) for p in pred_lanes]
        gts = [_as_points(g) for g in gt_lanes]
        self.num_images += 1
        ious = lane_iou_matrix(preds, gts, self.width, self.height, self.line_width)
        tp = 0
        if ious.size:
            r, c = linear_sum_assignment(-ious)
            tp = int((ious[r, c] >= self.iou_threshold).sum())
        self.tp += tp
        self.fp += len(preds) - tp
        self.fn += len(gts) - tp
        ts = self._tusimple(preds, gts)
        return {"tp": tp, "fp": len(preds) - tp, "fn": len(gts) - tp, **ts}

    def _tusimple(self, preds: list[np.ndarray], gts: list[np.ndarray]) -> dict[str, int]:
        # Every lane sampled once on the global row grid y = k * row_step inside the canvas.
        grid = np.arange(0, math.floor((self.height - 1) / self.row_step + 1e-9) + 1) * self.row_step
        gx = np.array([_x_at_rows(g, grid) for g in gts]).reshape(-1, len(grid))
        gx = gx[np.isfinite(gx).any(axis=1)]  # GT lanes crossing no sample row are left out
        px = np.array([_x_at_rows(p, grid) for p in preds]).reshape(-1, len(grid))
        gvalid = np.isfinite(gx)
        npts = gvalid.sum(axis=1)
        thr = np.full(len(gx), self.pixel_threshold)
        if self.angle_adjust:
            for j in range(len(gx)):
                if npts[j] > 1:
                    y, x = grid[gvalid[j]], gx[j, gvalid[j]]
                    yc = y - y.mean()  # TuSimple: least-squares slope dx/dy of the GT samples
                    slope = float((yc * (x - x.mean())).sum() / (yc * yc).sum())
                    thr[j] /= math.cos(math.atan(slope))
        with np.errstate(invalid="ignore"):
            hit = np.abs(px[:, None, :] - gx[None, :, :]) < thr[None, :, None]  # NaN -> miss
        correct = hit.sum(axis=2)  # [P, G]
        matched = n_correct = 0
        if correct.size:
            acc = correct / npts[None, :]
            r, c = linear_sum_assignment(-acc)
            n_correct = int(correct[r, c].sum())
            matched = int((acc[r, c] >= self.accuracy_threshold).sum())
        out = {
            "ts_correct": n_correct,
            "ts_points": int(npts.sum()),
            "ts_fp": len(preds) - matched,
            "ts_fn": len(gx) - matched,
        }
        self.ts_correct += out["ts_correct"]
        self.ts_points += out["ts_points"]
        self.ts_fp += out["ts_fp"]
        self.ts_fn += out["ts_fn"]
        self.ts_pred += len(preds)
        self.ts_gt += len(gx)
        return out

    def compute(self) -> dict[str, float | int]:
        """CULane precision / recall / F1 and counts, plus the TuSimple numbers."""
        if self.tp + self.fp + self.fn == 0:
            precision = recall = f1 = math.nan
        else:
            precision = _safe_div_zero(self.tp, self.tp + self.fp)
            recall = _safe_div_zero(self.tp, self.tp + self.fn)
            f1 = _safe_div_zero(2 * precision * recall, precision + recall) if self.tp else 0.0
        return {
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "num_images": self.num_images,
            "tusimple_accuracy": ratio(self.ts_correct, self.ts_points),
            "tusimple_fp_rate": ratio(self.ts_fp, self.ts_pred),
            "tusimple_fn_rate": ratio(self.ts_fn, self.ts_gt),
            "tusimple_points": self.ts_points,
            "tusimple_correct": self.ts_correct,
        }
