"""Detection: COCO-style box AP (mAP@0.5, mAP@0.5:0.95) plus precision and recall at one operating point."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from mtl_edge.metrics.common import ratio

#: COCO's IoU thresholds 0.50:0.05:0.95 and its 101 recall points (same construction).
COCO_IOU_THRESHOLDS: np.ndarray = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1)
COCO_RECALL_POINTS: np.ndarray = np.linspace(0.0, 1.0, int(np.round(1.0 / 0.01)) + 1)


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
                "precision": ratio(n_tp, n_tp + n_fp),
                "recall": ratio(n_tp, npos),
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
            "precision": ratio(tot["tp"], tot["tp"] + tot["fp"]),
            "recall": ratio(tot["tp"], npos_all),
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
                {"height": name, "num_gt": n, "recall": ratio(int((found[sel] >= self.score_threshold).sum()), n)}
            )
        return rows
