"""Per-task evaluation in source-image pixels with the metrics the field uses.

lanes: CULane F1 (30 px wide lanes at 1280x720, IoU 0.5) and TuSimple accuracy;
vehicles and signs: mAP@0.5, mAP@0.5:0.95, AP per class, precision/recall at the deploy
score threshold; drivable: mIoU (background vs drivable, as YOLOP reports it) and the
3-class mIoU. Ignore-flagged objects are neither matches nor misses.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mtl_edge.data.formats import read_drivable_mask, read_frames
from mtl_edge.data.labels import SIGN_CLASSES, VEHICLE_CLASSES, FrameLabels
from mtl_edge.deploy.letterbox import letterbox_image
from mtl_edge.deploy.results import Thresholds, to_frame_result
from mtl_edge.metrics import DetectionMetric, LaneMetric, drivable_metric, format_table
from mtl_edge.models.network import DeployModel, MultiTaskNet, head_metadata

#: Each head's headline metric, the one the README and the export table report.
MAIN_METRIC = {"lanes": "f1", "vehicles": "mAP50", "signs": "mAP50", "drivable": "miou"}


def _gt_boxes(frame: FrameLabels, head: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    boxes, classes, ignore = [], [], []
    for o in frame.objects:
        if head == "vehicles" and o.category in VEHICLE_CLASSES:
            cls, ign = VEHICLE_CLASSES.index(o.category), o.ignore
        elif head == "signs" and o.category == "traffic sign":
            known = o.sign_type in SIGN_CLASSES
            cls, ign = (SIGN_CLASSES.index(o.sign_type) if known else 0), o.ignore or not known
        else:
            continue
        boxes.append([o.box.x1, o.box.y1, o.box.x2, o.box.y2])
        classes.append(cls)
        ignore.append(ign)
    return (np.asarray(boxes, np.float64).reshape(-1, 4), np.asarray(classes, np.int64), np.asarray(ignore, bool))


class Evaluator:
    """Streams (source image, labels, mask) through a model and accumulates every head's metrics."""

    def __init__(self, heads: Sequence[str], source_hw: tuple[int, int], score_threshold: float = 0.3) -> None:
        self.heads = list(heads)
        self.score_threshold = score_threshold
        self.metrics: dict[str, Any] = {}
        if "vehicles" in heads:
            self.metrics["vehicles"] = DetectionMetric(VEHICLE_CLASSES, score_threshold=score_threshold)
        if "signs" in heads:
            self.metrics["signs"] = DetectionMetric(SIGN_CLASSES, score_threshold=score_threshold)
        if "lanes" in heads:
            self.metrics["lanes"] = LaneMetric(width=source_hw[1], height=source_hw[0])
        if "drivable" in heads:
            self.metrics["drivable"] = drivable_metric()

    def update(self, result, frame: FrameLabels, drivable_gt: np.ndarray | None) -> None:
        for head in ("vehicles", "signs"):
            if head in self.metrics:
                dets = getattr(result, head)
                names = VEHICLE_CLASSES if head == "vehicles" else SIGN_CLASSES
                gt_boxes, gt_cls, gt_ign = _gt_boxes(frame, head)
                self.metrics[head].update(
                    np.asarray([d.box for d in dets], np.float64).reshape(-1, 4),
                    np.asarray([d.score for d in dets], np.float64),
                    np.asarray([names.index(d.label) for d in dets], np.int64),
                    gt_boxes,
                    gt_cls,
                    gt_ign,
                )
        if "lanes" in self.metrics:
            self.metrics["lanes"].update([ln.points for ln in result.lanes], [ln.points for ln in frame.lanes])
        if "drivable" in self.metrics and drivable_gt is not None and result.drivable is not None:
            self.metrics["drivable"].update(result.drivable, drivable_gt)

    def compute(self) -> dict[str, dict[str, Any]]:
        out = {}
        for head, metric in self.metrics.items():
            m = metric.compute()
            if head == "drivable":
                m = {
                    "miou": m["miou_binary"],
                    "miou_3class": m["miou"],
                    **{k: v for k, v in m.items() if k not in ("miou", "miou_binary")},
                }
            out[head] = m
        return out


def summary_rows(results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per head: its headline metric and a few companions, for format_table."""
    rows = []
    for head, m in results.items():
        if head in ("vehicles", "signs"):
            extra = f"mAP50-95 {m['mAP50_95']:.3f}  P {m['precision']:.3f}  R {m['recall']:.3f}"
            worst = min((v["AP50"] for v in m["per_class"].values() if v["AP50"] == v["AP50"]), default=float("nan"))
            extra += f"  worst-class AP50 {worst:.3f}"
        elif head == "lanes":
            extra = f"P {m['precision']:.3f}  R {m['recall']:.3f}  TuSimple acc {m['tusimple_accuracy']:.3f}"
        else:
            extra = f"3-class mIoU {m['miou_3class']:.3f}"
        rows.append({"head": head, "metric": MAIN_METRIC[head], "value": m[MAIN_METRIC[head]], "details": extra})
    return rows


@torch.no_grad()
def evaluate(
    net: MultiTaskNet,
    root: str | Path,
    input_hw: tuple[int, int],
    n_images: int | None = None,
    score_threshold: float = 0.3,
    batch: int = 8,
    progress: bool = False,
) -> dict[str, dict[str, Any]]:
    """Evaluate ``net`` (eager PyTorch) on the first ``n_images`` of a dataset folder."""
    deploy = DeployModel(copy.deepcopy(net)).eval()

    def infer(images: np.ndarray) -> dict[str, np.ndarray]:
        out = deploy.as_dict(deploy(torch.from_numpy(images)))
        return {k: v.numpy() for k, v in out.items()}

    heads = head_metadata(net, input_hw)
    return evaluate_outputs(infer, heads, root, input_hw, n_images, score_threshold, batch, progress)


def evaluate_outputs(
    infer: Callable[[np.ndarray], Mapping[str, np.ndarray]],
    heads: Mapping[str, Any],
    root: str | Path,
    input_hw: tuple[int, int],
    n_images: int | None = None,
    score_threshold: float = 0.3,
    batch: int = 8,
    progress: bool = False,
) -> dict[str, dict[str, Any]]:
    """Evaluate any backend: ``infer`` maps letterboxed uint8 [B,H,W,3] frames to engine outputs.

    ``heads`` is the model metadata's head section (class names, lane rows...).
    """
    from tqdm import tqdm

    from mtl_edge.data.dataset import read_image

    root = Path(root)
    frames = read_frames(root / "labels.json")[: n_images or None]
    evaluator: Evaluator | None = None
    thresholds = Thresholds(vehicles=0.0, signs=0.0, lanes=0.5)  # AP needs every detection
    for start in tqdm(range(0, len(frames), batch), disable=not progress, desc="eval", unit=" batches"):
        chunk = frames[start : start + batch]
        images, params, sizes = [], [], []
        for f in chunk:
            img = read_image(root / "images" / f.name).permute(1, 2, 0).numpy()
            boxed, p = letterbox_image(img, input_hw)
            images.append(boxed), params.append(p), sizes.append(img.shape[:2])
        if evaluator is None:
            evaluator = Evaluator(list(heads), sizes[0], score_threshold)
        out = infer(np.stack(images))
        for i, f in enumerate(chunk):
            result = to_frame_result(out, heads, params[i], sizes[i], input_hw, thresholds=thresholds, batch_index=i)
            mask_path = root / "drivable" / f"{Path(f.name).stem}.png"
            evaluator.update(result, f, read_drivable_mask(mask_path) if mask_path.exists() else None)
    if evaluator is None:
        raise ValueError(f"{root}: no frames to evaluate")
    return evaluator.compute()


def compare_table(results: Mapping[str, dict[str, dict[str, Any]]], reference: str = "fp32") -> str:
    """One row per head: each variant's headline metric and its change from ``reference``, in points."""
    ref = results[reference]
    rows = []
    for head, m in ref.items():
        key = MAIN_METRIC[head]
        row: dict[str, Any] = {"head": head, "metric": key, reference: m[key]}
        for name, res in results.items():
            if name != reference:
                row[name] = res[head][key]
                row[f"{name} change (pts)"] = f"{100 * (res[head][key] - m[key]):+.2f}"
        rows.append(row)
    first = ["head", "metric", reference]
    return format_table(rows, first + [c for c in (rows[0] if rows else {}) if c not in first])


def print_summary(results: dict[str, dict[str, Any]]) -> str:
    """The per-head table, then each detection head's recall by box height."""
    lines = [format_table(summary_rows(results), ["head", "metric", "value", "details"])]
    for head, m in results.items():
        if m.get("recall_by_height"):
            bins = "  ".join(f"{r['height']}: {r['recall']:.2f} ({r['num_gt']})" for r in m["recall_by_height"])
            lines.append(f"{head} recall at score {m['score_threshold']:g} by box height in px (GT count): {bins}")
    return "\n".join(lines)
