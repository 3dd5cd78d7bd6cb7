"""What one frame's inference returns, in source-frame pixels, and how raw engine
outputs become it (threshold, un-letterbox, pack: the host's only work after the call).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from mtl_edge.deploy.letterbox import LetterboxParams, unletterbox_boxes, unletterbox_points


@dataclass
class Detection:
    """One box: class name, score, corners in source pixels."""

    label: str
    score: float
    box: tuple[float, float, float, float]


@dataclass
class Lane:
    """One lane line: its slot (left to right around the ego car), score and polyline (near to far)."""

    slot: int
    score: float
    points: np.ndarray  # float32 [N, 2], source pixels


@dataclass
class FrameResult:
    """Every task's output for one frame."""

    index: int
    timestamp: float
    lanes: list[Lane] = field(default_factory=list)
    vehicles: list[Detection] = field(default_factory=list)
    signs: list[Detection] = field(default_factory=list)
    drivable: np.ndarray | None = None  # uint8 [H, W] source size: 0 background, 1 direct, 2 alternative
    timings: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> str:
        """One JSON line (the JSONL sink's format); the mask is summarised, not dumped."""
        d: dict[str, Any] = {
            "index": self.index,
            "timestamp": round(self.timestamp, 6),
            "lanes": [
                {"slot": ln.slot, "score": round(ln.score, 4), "points": np.round(ln.points, 1).tolist()}
                for ln in self.lanes
            ],
            "vehicles": [_det_json(d) for d in self.vehicles],
            "signs": [_det_json(d) for d in self.signs],
            "timings_ms": {k: round(v, 3) for k, v in self.timings.items()},
        }
        if self.drivable is not None:
            d["drivable_fraction"] = {
                "direct": round(float((self.drivable == 1).mean()), 4),
                "alternative": round(float((self.drivable == 2).mean()), 4),
            }
        return json.dumps(d)


def _det_json(d: Detection) -> dict[str, Any]:
    return {"label": d.label, "score": round(d.score, 4), "box": [round(v, 1) for v in d.box]}


@dataclass
class Thresholds:
    """Host-side score thresholds."""

    vehicles: float = 0.3
    signs: float = 0.3
    lanes: float = 0.5


def detections(
    boxes: np.ndarray,
    scores: np.ndarray,
    classes: np.ndarray,
    names: list[str],
    threshold: float,
    params: LetterboxParams,
    source_hw: tuple[int, int],
) -> list[Detection]:
    keep = scores >= threshold
    src = unletterbox_boxes(boxes[keep].astype(np.float64), params)
    h, w = source_hw
    src[:, [0, 2]] = src[:, [0, 2]].clip(0, w)
    src[:, [1, 3]] = src[:, [1, 3]].clip(0, h)
    return [
        Detection(names[int(c)], float(s), tuple(float(v) for v in b))
        for b, s, c in zip(src, scores[keep], classes[keep])
        if b[2] > b[0] and b[3] > b[1]
    ]


def lanes_from(
    x: np.ndarray,
    valid: np.ndarray,
    score: np.ndarray,
    rows: np.ndarray,
    threshold: float,
    params: LetterboxParams,
    source_hw: tuple[int, int],
) -> list[Lane]:
    """Slots scoring at least ``threshold`` with two or more valid rows, as source-pixel polylines."""
    out = []
    h, w = source_hw
    for slot in range(x.shape[0]):
        ok = valid[slot].astype(bool)
        if score[slot] < threshold or ok.sum() < 2:
            continue
        pts = np.stack([x[slot][ok], rows[ok]], 1)[::-1]  # bottom row first: near to far
        src = unletterbox_points(pts.astype(np.float64), params)
        inside = (src[:, 0] >= 0) & (src[:, 0] <= w) & (src[:, 1] >= 0) & (src[:, 1] <= h)
        if inside.sum() >= 2:
            out.append(Lane(slot, float(score[slot]), src[inside].astype(np.float32)))
    return out


def drivable_from(
    mask: np.ndarray, input_hw: tuple[int, int], params: LetterboxParams, source_hw: tuple[int, int]
) -> np.ndarray:
    """The engine's strided mask -> source-size mask (nearest), padding cut away."""
    full = cv2.resize(mask, (input_hw[1], input_hw[0]), interpolation=cv2.INTER_NEAREST)
    scale, pad_x, pad_y = params
    h, w = source_hw
    inner = full[pad_y : pad_y + round(h * scale), pad_x : pad_x + round(w * scale)]
    return cv2.resize(inner, (w, h), interpolation=cv2.INTER_NEAREST)


def to_frame_result(
    outputs: Mapping[str, np.ndarray],
    meta: Mapping[str, Any],
    params: LetterboxParams,
    source_hw: tuple[int, int],
    input_hw: tuple[int, int],
    index: int = 0,
    timestamp: float = 0.0,
    thresholds: Thresholds | None = None,
    batch_index: int = 0,
) -> FrameResult:
    """Pack one image of a batch of engine outputs (``<head>.<field>`` arrays) into a FrameResult.

    ``meta`` is the model metadata's ``heads`` section (class names, lane row anchors).
    """
    th = thresholds or Thresholds()
    i = batch_index
    result = FrameResult(index=index, timestamp=timestamp)
    for name in ("vehicles", "signs"):
        if f"{name}.boxes" in outputs:
            setattr(
                result,
                name,
                detections(
                    outputs[f"{name}.boxes"][i],
                    outputs[f"{name}.scores"][i],
                    outputs[f"{name}.classes"][i],
                    meta[name]["classes"],
                    getattr(th, name),
                    params,
                    source_hw,
                ),
            )
    if "lanes.x" in outputs:
        rows = np.asarray(meta["lanes"]["row_y"], np.float32)
        result.lanes = lanes_from(
            outputs["lanes.x"][i],
            outputs["lanes.valid"][i],
            outputs["lanes.score"][i],
            rows,
            th.lanes,
            params,
            source_hw,
        )
    if "drivable.mask" in outputs:
        result.drivable = drivable_from(outputs["drivable.mask"][i], input_hw, params, source_hw)
    return result
