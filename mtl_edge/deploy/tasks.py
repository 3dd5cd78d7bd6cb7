"""Task kinds on the deploy side: how a head's engine outputs become results, JSON and drawings.

A head's kind is named in its metadata (``"task"``) or, for files exported before that
key existed, recognised from its output fields. The three kinds the shipped heads use are
here; a new kind registers its own :class:`Task` with :func:`register_task`, and from
then on results, the JSONL sink and drawing handle every head of that kind without
naming it. Nothing here imports torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from mtl_edge.deploy.draw import (
    HEAD_BOX_STYLES,
    LABEL_COLOURS,
    MASK_COLOURS,
    OTHER_COLOUR,
    draw_box,
    draw_polyline,
    overlay_mask,
)
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


@dataclass(frozen=True)
class Placement:
    """Where one image sits: its letterbox, and the source and model sizes."""

    params: LetterboxParams
    source_hw: tuple[int, int]
    input_hw: tuple[int, int]


class Task:
    """One kind of head output. Subclasses set ``kind``, ``fields`` and ``draw_order`` and implement the rest."""

    kind: str = ""
    #: the output fields (``<head>.<field>``) a head of this kind returns
    fields: tuple[str, ...] = ()
    #: score threshold when the caller sets none for the head (None: the kind has no scores)
    default_threshold: float | None = None
    #: drawn in increasing order: masks under lines under boxes
    draw_order: int = 0

    def unpack(
        self, outputs: Mapping[str, np.ndarray], meta: Mapping[str, Any], at: Placement, threshold: float
    ) -> Any:
        """This head's outputs for one image (``field -> array``, batch axis removed) as its result."""
        raise NotImplementedError

    def to_json(self, name: str, value: Any, meta: Mapping[str, Any]) -> dict[str, Any]:
        """The JSONL entries for this head's result."""
        raise NotImplementedError

    def draw(self, image: np.ndarray, name: str, value: Any) -> None:
        """Draw this head's result over ``image`` in place."""
        raise NotImplementedError

    def empty(self) -> Any:
        """The result of a head that found nothing."""
        return []


TASKS: dict[str, Task] = {}


def register_task(cls: type[Task]) -> type[Task]:
    """Class decorator: make a task kind known; a kind registered twice is refused."""
    if not cls.kind or cls.kind in TASKS:
        raise ValueError(f"task kind {cls.kind!r} is empty or already registered")
    TASKS[cls.kind] = cls()
    return cls


def unregister_task(kind: str) -> None:
    """Forget a task kind (tests that register one of their own); unknown kinds are ignored."""
    TASKS.pop(kind, None)


def task_for(head_meta: Mapping[str, Any]) -> Task:
    """The task of a head from its metadata: its ``task`` key, else the kind whose fields it outputs."""
    kind = head_meta.get("task")
    if kind is None:
        outputs = tuple(head_meta.get("outputs", ()))
        kind = next((k for k, t in TASKS.items() if t.fields == outputs), None)
    if kind not in TASKS:
        raise ValueError(
            f"no task kind {kind!r} for a head with outputs {list(head_meta.get('outputs', ()))}: known kinds are "
            f"{', '.join(TASKS)}. Register the head's task with mtl_edge.deploy.tasks.register_task."
        )
    return TASKS[kind]


def _detection_colour(name: str, label: str) -> tuple[tuple[int, int, int], int]:
    """A box's colour and line width: its class's colour, else one colour for the head."""
    if label in LABEL_COLOURS:
        return LABEL_COLOURS[label], 2
    return HEAD_BOX_STYLES.get(name, (OTHER_COLOUR, 2))


@register_task
class DetectionTask(Task):
    """Boxes after in-graph suppression: ``boxes`` xyxy input pixels, ``scores``, ``classes``."""

    kind, fields, default_threshold, draw_order = "detection", ("boxes", "scores", "classes"), 0.3, 2

    def unpack(
        self, outputs: Mapping[str, np.ndarray], meta: Mapping[str, Any], at: Placement, threshold: float
    ) -> Any:
        boxes, scores, classes = outputs["boxes"], outputs["scores"], outputs["classes"]
        keep = scores >= threshold
        src = unletterbox_boxes(boxes[keep].astype(np.float64), at.params)
        h, w = at.source_hw
        src[:, [0, 2]] = src[:, [0, 2]].clip(0, w)
        src[:, [1, 3]] = src[:, [1, 3]].clip(0, h)
        names = meta["classes"]
        return [
            Detection(names[int(c)], float(s), tuple(float(v) for v in b))
            for b, s, c in zip(src, scores[keep], classes[keep])
            if b[2] > b[0] and b[3] > b[1]
        ]

    def to_json(self, name: str, value: Any, meta: Mapping[str, Any]) -> dict[str, Any]:
        return {
            name: [{"label": d.label, "score": round(d.score, 4), "box": [round(v, 1) for v in d.box]} for d in value]
        }

    def draw(self, image: np.ndarray, name: str, value: Any) -> None:
        for det in value:
            colour, thickness = _detection_colour(name, det.label)
            draw_box(image, det.box, f"{det.label} {det.score:.2f}", colour, thickness=thickness)


@register_task
class LanesTask(Task):
    """Lane slots: ``x`` at fixed row anchors (metadata ``row_y``), ``valid`` per row, ``score`` per slot."""

    kind, fields, default_threshold, draw_order = "lanes", ("x", "valid", "score"), 0.5, 1

    def unpack(
        self, outputs: Mapping[str, np.ndarray], meta: Mapping[str, Any], at: Placement, threshold: float
    ) -> Any:
        """Slots scoring at least ``threshold`` with two or more valid rows, as source-pixel polylines."""
        x, valid, score = outputs["x"], outputs["valid"], outputs["score"]
        rows = np.asarray(meta["row_y"], np.float32)
        h, w = at.source_hw
        out = []
        for slot in range(x.shape[0]):
            ok = valid[slot].astype(bool)
            if score[slot] < threshold or ok.sum() < 2:
                continue
            pts = np.stack([x[slot][ok], rows[ok]], 1)[::-1]  # bottom row first: near to far
            src = unletterbox_points(pts.astype(np.float64), at.params)
            inside = (src[:, 0] >= 0) & (src[:, 0] <= w) & (src[:, 1] >= 0) & (src[:, 1] <= h)
            if inside.sum() >= 2:
                out.append(Lane(slot, float(score[slot]), src[inside].astype(np.float32)))
        return out

    def to_json(self, name: str, value: Any, meta: Mapping[str, Any]) -> dict[str, Any]:
        return {
            name: [
                {"slot": ln.slot, "score": round(ln.score, 4), "points": np.round(ln.points, 1).tolist()}
                for ln in value
            ]
        }

    def draw(self, image: np.ndarray, name: str, value: Any) -> None:
        for lane in value:
            draw_polyline(image, lane.points, (255, 255, 255), 2)


@register_task
class SegmentationTask(Task):
    """A class-id ``mask`` at a stride of the input; results are source-size masks."""

    kind, fields, draw_order = "segmentation", ("mask",), 0

    def unpack(
        self, outputs: Mapping[str, np.ndarray], meta: Mapping[str, Any], at: Placement, threshold: float
    ) -> Any:
        """The engine's strided mask -> source-size mask (nearest), padding cut away."""
        mask = outputs["mask"]
        full = cv2.resize(mask, (at.input_hw[1], at.input_hw[0]), interpolation=cv2.INTER_NEAREST)
        scale, pad_x, pad_y = at.params
        h, w = at.source_hw
        inner = full[pad_y : pad_y + round(h * scale), pad_x : pad_x + round(w * scale)]
        return cv2.resize(inner, (w, h), interpolation=cv2.INTER_NEAREST)

    def to_json(self, name: str, value: Any, meta: Mapping[str, Any]) -> dict[str, Any]:
        """The fraction of the frame each foreground class (id 1, 2, ...) covers; the mask itself is not dumped."""
        classes = meta.get("classes") or [str(k) for k in range(int(value.max(initial=0)) + 1)]
        return {f"{name}_fraction": {c: round(float((value == k).mean()), 4) for k, c in enumerate(classes) if k}}

    def draw(self, image: np.ndarray, name: str, value: Any) -> None:
        overlay_mask(image, value, MASK_COLOURS)

    def empty(self) -> Any:
        return None


def unpack_head(
    name: str,
    outputs: Mapping[str, np.ndarray],
    task: Task,
    meta: Mapping[str, Any],
    at: Placement,
    threshold: float,
    batch_index: int = 0,
) -> Any:
    """Head ``name``'s result for image ``batch_index`` of a batch of ``<head>.<field>`` outputs."""
    return task.unpack({f: outputs[f"{name}.{f}"][batch_index] for f in task.fields}, meta, at, threshold)
