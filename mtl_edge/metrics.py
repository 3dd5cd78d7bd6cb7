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
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment

from mtl_edge.deploy.table import format_table

__all__ = [
    "DetectionMetric",
    "LaneMetric",
    "SegmentationMetric",
    "box_iou",
    "drivable_metric",
    "format_table",
    "lane_iou_matrix",
]

#: COCO's IoU thresholds 0.50:0.05:0.95 and its 101 recall points (same construction).
COCO_IOU_THRESHOLDS: np.ndarray = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1)
COCO_RECALL_POINTS: np.ndarray = np.linspace(0.0, 1.0, int(np.round(1.0 / 0.01)) + 1)


# --------------------------------------------------------------------------- detection


def box_iou(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of xyxy boxes, [N, M] float64 (continuous coordinates, no +1)."""
    a = np.asarray(boxes_a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(boxes_b, dtype=np.float64).reshape(-1, 4)
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    iw = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    ih = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0)


#: Box-height bin edges (source pixels) for recall by size: 16 px is 8 px at a 640x384 input from 720p.
HEIGHT_BINS = (16.0, 32.0, 64.0)


def _match_detections(
    ious: np.ndarray, gt_ignore: np.ndarray, thresholds: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Greedy COCO matching of score-sorted detections to GT at every IoU threshold.

    Returns ``(tp, dropped, owner)``: ``tp`` and ``dropped`` bool [T, D], ``tp`` matched a
    non-ignored GT, ``dropped`` had no such match but overlaps an ignored GT at the
    threshold; ``owner`` int [T, G] is the detection that took each GT (-1: none).
    """
    num_t, (num_d, num_g) = len(thresholds), ious.shape
    tp = np.zeros((num_t, num_d), dtype=bool)
    dropped = np.zeros((num_t, num_d), dtype=bool)
    owner = np.full((num_t, num_g), -1, dtype=np.int64)
    if num_d == 0 or num_g == 0:
        return tp, dropped, owner
    keep = ~gt_ignore
    ign = gt_ignore
    taken = np.zeros((num_t, num_g), dtype=bool)
    thr = thresholds[:, None]
    rows = np.arange(num_t)
    for d in range(num_d):
        row = ious[d]
        ok = row[None, :] >= thr  # [T, G]
        cand = ok & keep & ~taken
        hit = cand.any(axis=1)
        if hit.any():
            # Best IoU among candidates; COCO keeps the last of equal maxima.
            val = np.where(cand, row[None, :], -1.0)
            best = num_g - 1 - np.argmax(val[:, ::-1], axis=1)
            taken[rows[hit], best[hit]] = True
            owner[rows[hit], best[hit]] = d
            tp[hit, d] = True
        if ign.any():
            dropped[:, d] = ~hit & (ok & ign).any(axis=1)
    return tp, dropped, owner


def _interpolated_ap(tp: np.ndarray, dropped: np.ndarray, npos: int) -> np.ndarray:
    """101-point interpolated AP per threshold from score-sorted [T, D] flags."""
    num_t, num_d = tp.shape
    if num_d == 0:
        return np.zeros(num_t)
    fp = ~tp & ~dropped
    tp_sum = np.cumsum(tp, axis=1, dtype=np.float64)
    fp_sum = np.cumsum(fp, axis=1, dtype=np.float64)
    recall = tp_sum / npos
    precision = tp_sum / (tp_sum + fp_sum + np.spacing(1))
    # Precision envelope: best precision at any recall >= this one.
    precision = np.maximum.accumulate(precision[:, ::-1], axis=1)[:, ::-1]
    ap = np.zeros(num_t)
    for t in range(num_t):
        idx = np.searchsorted(recall[t], COCO_RECALL_POINTS, side="left")
        q = np.zeros(len(COCO_RECALL_POINTS))
        valid = idx < num_d
        q[valid] = precision[t, idx[valid]]
        ap[t] = q.mean()
    return ap


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den > 0 else math.nan


class DetectionMetric:
    """COCO-style box AP plus precision / recall at one score threshold.

    Per class, detections are sorted by score (stable sort) and matched greedily per
    image to the unmatched GT of highest IoU, preferring non-ignored GT; AP is the
    101-point interpolated precision envelope, averaged over IoU 0.50:0.05:0.95 for
    mAP@0.5:0.95. Like pycocotools' defaults, at most ``max_dets`` detections per image
    *and class* (the highest scores) enter AP; classes without non-ignored GT are
    NaN and excluded from the means.

    Ignored GT (``gt_ignore``) are neither matches nor misses: a detection whose best
    match is an ignored GT is dropped (neither TP nor FP). Differences from COCO's
    ``iscrowd`` handling: we overlap ignored GT with IoU (COCO uses IoA, intersection
    over the detection's area, for crowd regions), and, like crowd regions, an ignored
    GT may absorb any number of detections. With no ignore flags, results equal
    pycocotools' ``bbox`` evaluation with area range "all" and maxDets 100.

    Precision / recall at ``score_threshold`` use IoU 0.5 and every detection with
    ``score >= score_threshold`` (no ``max_dets`` cap: it is the deployed operating
    point). ``recall_by_height`` splits that recall by the GT box height (source pixels,
    bins ``HEIGHT_BINS``): a GT counts as found when the detection that took it in the
    IoU-0.5 matching scores at least ``score_threshold``.
    """

    def __init__(self, class_names: Sequence[str], score_threshold: float = 0.3, max_dets: int = 100) -> None:
        if len(class_names) == 0:
            raise ValueError("DetectionMetric needs at least one class name")
        self.class_names = tuple(class_names)
        self.score_threshold = float(score_threshold)
        self.max_dets = int(max_dets)
        self.iou_thresholds = COCO_IOU_THRESHOLDS.copy()
        self.reset()

    def reset(self) -> None:
        """Forget every image seen so far."""
        nc = len(self.class_names)
        self._scores: list[list[np.ndarray]] = [[] for _ in range(nc)]
        self._tp: list[list[np.ndarray]] = [[] for _ in range(nc)]
        self._dropped: list[list[np.ndarray]] = [[] for _ in range(nc)]
        self._in_top: list[list[np.ndarray]] = [[] for _ in range(nc)]
        self._npos = np.zeros(nc, dtype=np.int64)
        self._nignored = np.zeros(nc, dtype=np.int64)
        self._gt_height: list[np.ndarray] = []  # non-ignored GT, every class
        self._gt_found_score: list[np.ndarray] = []  # score of the detection that took it at IoU 0.5, or -inf
        self.num_images = 0

    def _check_classes(self, classes: np.ndarray, what: str) -> None:
        nc = len(self.class_names)
        if classes.size and (classes.min() < 0 or classes.max() >= nc):
            raise ValueError(
                f"{what} holds class index {int(classes.min())}..{int(classes.max())} but the metric "
                f"has {nc} classes {self.class_names}; map labels to indices 0..{nc - 1} first"
            )

    def update(
        self,
        pred_boxes: np.ndarray,
        pred_scores: np.ndarray,
        pred_classes: np.ndarray,
        gt_boxes: np.ndarray,
        gt_classes: np.ndarray,
        gt_ignore: np.ndarray | None = None,
    ) -> None:
        """Add one image: predictions [N, 4] xyxy with scores and class indices, GT [M, 4]."""
        pb = np.asarray(pred_boxes, dtype=np.float64).reshape(-1, 4)
        ps = np.asarray(pred_scores, dtype=np.float64).reshape(-1)
        pc = np.asarray(pred_classes).reshape(-1).astype(np.int64)
        gb = np.asarray(gt_boxes, dtype=np.float64).reshape(-1, 4)
        gc = np.asarray(gt_classes).reshape(-1).astype(np.int64)
        gi = np.zeros(len(gb), dtype=bool) if gt_ignore is None else np.asarray(gt_ignore, dtype=bool).reshape(-1)
        if not (len(pb) == len(ps) == len(pc)):
            raise ValueError(f"pred_boxes/scores/classes lengths differ: {len(pb)}, {len(ps)}, {len(pc)}")
        if not (len(gb) == len(gc) == len(gi)):
            raise ValueError(f"gt_boxes/classes/ignore lengths differ: {len(gb)}, {len(gc)}, {len(gi)}")
        self._check_classes(pc, "pred_classes")
        self._check_classes(gc, "gt_classes")
        self.num_images += 1
        for c in np.union1d(np.unique(pc), np.unique(gc)):
            g_sel = gc == c
            g_ign = gi[g_sel]
            self._npos[c] += int((~g_ign).sum())
            self._nignored[c] += int(g_ign.sum())
            # Non-ignored GT first (stable), as COCO orders them before matching.
            g_order = np.argsort(g_ign, kind="mergesort")
            g_boxes = gb[g_sel][g_order]
            counted = ~g_ign[g_order]
            self._gt_height.append((g_boxes[:, 3] - g_boxes[:, 1])[counted])
            d_idx = np.flatnonzero(pc == c)
            if len(d_idx) == 0:
                self._gt_found_score.append(np.full(int(counted.sum()), -np.inf))
                continue
            order = np.argsort(-ps[d_idx], kind="mergesort")
            d_idx = d_idx[order]
            ious = box_iou(pb[d_idx], g_boxes)
            tp, dropped, owner = _match_detections(ious, g_ign[g_order], self.iou_thresholds)
            found = np.where(owner[0] >= 0, ps[d_idx][owner[0]], -np.inf)
            self._gt_found_score.append(found[counted])
            self._scores[c].append(ps[d_idx])
            self._tp[c].append(tp)
            self._dropped[c].append(dropped)
            self._in_top[c].append(np.arange(len(d_idx)) < self.max_dets)

    def compute(self) -> dict[str, Any]:
        """Headline numbers plus ``per_class`` {name: {...}} with the same fields."""
        nt = len(self.iou_thresholds)
        per_class: dict[str, dict[str, float]] = {}
        ap_all = np.full((len(self.class_names), nt), np.nan)
        tot = {"tp": 0, "fp": 0, "num_pred": 0}
        for c, name in enumerate(self.class_names):
            npos = int(self._npos[c])
            if self._scores[c]:
                scores = np.concatenate(self._scores[c])
                tp = np.concatenate(self._tp[c], axis=1)
                dropped = np.concatenate(self._dropped[c], axis=1)
                top = np.concatenate(self._in_top[c])
            else:
                scores, top = np.zeros(0), np.zeros(0, dtype=bool)
                tp = dropped = np.zeros((nt, 0), dtype=bool)
            if npos > 0:
                s = scores[top]
                order = np.argsort(-s, kind="mergesort")
                ap_all[c] = _interpolated_ap(tp[:, top][:, order], dropped[:, top][:, order], npos)
            at = scores >= self.score_threshold
            n_tp = int(tp[0, at].sum())
            n_fp = int((~tp[0, at] & ~dropped[0, at]).sum())
            tot["tp"] += n_tp
            tot["fp"] += n_fp
            tot["num_pred"] += len(scores)
            per_class[name] = {
                "AP50": float(ap_all[c, 0]),
                "AP50_95": float(ap_all[c].mean()),
                "precision": _ratio(n_tp, n_tp + n_fp),
                "recall": _ratio(n_tp, npos),
                "num_gt": npos,
                "num_ignored": int(self._nignored[c]),
                "num_pred": len(scores),
                "tp": n_tp,
                "fp": n_fp,
                "fn": npos - n_tp,
            }
        valid = self._npos > 0
        npos_all = int(self._npos.sum())
        return {
            "mAP50": float(ap_all[valid, 0].mean()) if valid.any() else math.nan,
            "mAP50_95": float(ap_all[valid].mean()) if valid.any() else math.nan,
            "precision": _ratio(tot["tp"], tot["tp"] + tot["fp"]),
            "recall": _ratio(tot["tp"], npos_all),
            "score_threshold": self.score_threshold,
            "num_images": self.num_images,
            "num_gt": npos_all,
            "num_ignored": int(self._nignored.sum()),
            "num_pred": tot["num_pred"],
            "tp": tot["tp"],
            "fp": tot["fp"],
            "fn": npos_all - tot["tp"],
            "recall_by_height": self._recall_by_height(),
            "per_class": per_class,
        }

    def _recall_by_height(self) -> list[dict[str, Any]]:
        """Recall at the score threshold per GT box-height bin: [{"height", "num_gt", "recall"}]."""
        heights = np.concatenate(self._gt_height) if self._gt_height else np.zeros(0)
        found = np.concatenate(self._gt_found_score) if self._gt_found_score else np.zeros(0)
        edges = (0.0, *HEIGHT_BINS, math.inf)
        rows = []
        for lo, hi in zip(edges[:-1], edges[1:]):
            sel = (heights >= lo) & (heights < hi)
            name = f"<{hi:g}" if lo == 0 else (f">={lo:g}" if hi == math.inf else f"{lo:g}-{hi:g}")
            n = int(sel.sum())
            rows.append(
                {"height": name, "num_gt": n, "recall": _ratio(int((found[sel] >= self.score_threshold).sum()), n)}
            )
        return rows


# --------------------------------------------------------------------------- lanes


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
            "tusimple_accuracy": _ratio(self.ts_correct, self.ts_points),
            "tusimple_fp_rate": _ratio(self.ts_fp, self.ts_pred),
            "tusimple_fn_rate": _ratio(self.ts_fn, self.ts_gt),
            "tusimple_points": self.ts_points,
            "tusimple_correct": self.ts_correct,
        }


# --------------------------------------------------------------------------- segmentation


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
            "pixel_accuracy": _ratio(np.trace(cm), total),
            "num_pixels": int(total),
        }
        if self.binary:
            b = np.array([[cm[0, 0], cm[0, 1:].sum()], [cm[1:, 0].sum(), cm[1:, 1:].sum()]])
            biou = self._iou(b)
            out["miou_binary"] = float(np.nanmean(biou)) if np.isfinite(biou).any() else math.nan
            out["iou_binary"] = dict(zip(self.binary_names, map(float, biou)))
            out["pixel_accuracy_binary"] = _ratio(np.trace(b), total)
        return out


def drivable_metric() -> SegmentationMetric:
    """The drivable-area metric: background / direct / alternative, plus the binary view."""
    return SegmentationMetric(
        3, ("background", "direct", "alternative"), binary=True, binary_names=("background", "drivable")
    )
