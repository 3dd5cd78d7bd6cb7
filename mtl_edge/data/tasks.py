"""Per-head task specs on the training side: one object per head says everything the dataset,
the evaluation and the label drawing need from it.

A :class:`HeadSpec` gives a head's classes and its table from label categories to classes,
which frames supervise it, its training targets and how they batch, its ground truth for
evaluation, its metric and headline number, and how to draw its labels. The dataset,
``mtl_edge.evaluate`` and ``mtl_edge.data.draw`` loop over the registered specs and name no
head. The shipped heads' specs are registered at the bottom of this module (the data layer
sits below the models, so a dataset works without building a network); a new head registers
its own with :func:`register_spec`, next to its module. Its deploy side (how engine outputs
become results, JSON and drawings) is a task kind in :mod:`mtl_edge.deploy.tasks`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torchvision import tv_tensors

from mtl_edge.data.categories import BDD100K_CATEGORIES, CategoryTable
from mtl_edge.data.formats import rasterize_drivable, read_drivable_mask
from mtl_edge.data.labels import (
    LANE_DIRECTIONS,
    LANE_STYLES,
    LANE_TYPES,
    SIGN_CLASSES,
    VEHICLE_CLASSES,
    FrameLabels,
    ObjectLabel,
)
from mtl_edge.data.transforms import clip_lanes
from mtl_edge.deploy.draw import (
    DRIVABLE_COLOURS,
    LABEL_COLOURS,
    OTHER_COLOUR,
    SIGN_COLOUR,
    draw_polyline,
    overlay_mask,
)
from mtl_edge.metrics import DetectionMetric, LaneMetric, drivable_metric

#: Box style: (RGB colour, line width).
BoxStyle = tuple[tuple[int, int, int], int]


@dataclass
class Labels:
    """One frame's labels: its JSON labels and, where there is one, its label mask file.

    ``mask`` may also be given as an array (drawing); ``mask_file`` is read on first use.
    ``table`` maps its dataset's box categories onto the box heads (None: the BDD100K table);
    ``supervised`` names the heads the frame labels (None: every head whose truth it has).
    """

    frame: FrameLabels
    mask_file: Path | None = None
    coding: str = "2018"
    mask: np.ndarray | None = field(default=None, repr=False)
    table: CategoryTable | None = field(default=None, repr=False)
    supervised: frozenset[str] | None = None

    def box_target(self, obj: ObjectLabel) -> tuple[str, str | None] | None:
        """(head, class or None for an ignore region) of one of the frame's boxes; None: no head's."""
        table = self.table if self.table is not None else default_table()
        return table.resolve(obj, self.frame.name)

    def has_mask(self) -> bool:
        return self.mask is not None or (self.mask_file is not None and self.mask_file.is_file())

    def read_mask(self) -> np.ndarray | None:
        """The label mask (class ids), or None when the frame has none."""
        if self.mask is None and self.mask_file is not None and self.mask_file.is_file():
            self.mask = read_drivable_mask(self.mask_file, coding=self.coding)
        return self.mask


_DEFAULT_TABLE: list[CategoryTable] = []


def default_table() -> CategoryTable:
    """The BDD100K category table (also the generator's), over the registered box heads."""
    if not _DEFAULT_TABLE or set(_DEFAULT_TABLE[0].heads) != {n for n, s in SPECS.items() if s.boxes}:
        _DEFAULT_TABLE[:] = [category_table(BDD100K_CATEGORIES, where="the BDD100K category table")]
    return _DEFAULT_TABLE[0]


class HeadSpec:
    """What the training side needs from one head. Subclasses override what their head uses."""

    #: the head's name, set by :func:`register_spec`
    name: str = ""
    #: the kind of label it learns from (mtl_edge.data.layouts.LABEL_KINDS): a frame whose label
    #: files cover that kind supervises the head
    label_kind: str = ""
    #: class names, in the order of the head's class indices
    classes: tuple[str, ...] = ()
    #: the key of the headline number in :meth:`compute` (the README and export tables report it)
    metric: str = ""
    #: True: the head's targets are boxes in the sample's shared box set (``boxes``, ``labels``, ``head``)
    boxes: bool = False
    #: labels are drawn in increasing order: masks under lines under boxes
    draw_order: int = 0
    #: the score threshold evaluation unpacks results at (None: the deploy task's default)
    eval_threshold: float | None = None

    # --- supervision and targets
    def supervises(self, labels: Labels, covers: frozenset[str]) -> bool:
        """Whether this frame labels the head; ``covers``: the label kinds its files cover."""
        return bool(self.label_kind) and self.label_kind in covers

    def box_label(self, obj: ObjectLabel, labels: Labels) -> tuple[int, bool] | None:
        """Box heads: (class index, ignore) for an object of this head (class -1: an ignore region)."""
        return None

    def truth(self, labels: Labels, hw: tuple[int, int]) -> Any:
        """:meth:`ground_truth`, or None where the frame does not label this head (evaluation skips it)."""
        if labels.supervised is not None and self.name not in labels.supervised:
            return None
        return self.ground_truth(labels, hw)

    def targets(self, labels: Labels, hw: tuple[int, int], active: bool) -> dict[str, Any]:
        """The head's own target entries (beyond the shared boxes); empty ones when not ``active``."""
        return {}

    def after_transforms(self, target: dict[str, Any]) -> None:
        """Fix up the target after the transforms moved it (e.g. drop points pushed off the image)."""

    def collate(self, targets: Sequence[Mapping[str, Any]], **options: Any) -> dict[str, Any]:
        """Batch the entries :meth:`targets` made."""
        return {}

    # --- evaluation
    def ground_truth(self, labels: Labels, hw: tuple[int, int]) -> Any:
        """What :meth:`update` compares a result with; None: this frame cannot score the head."""
        return None

    def new_metric(self, classes: Sequence[str], source_hw: tuple[int, int], score_threshold: float) -> Any:
        """A fresh accumulator; ``classes``: the spec's own, else the model metadata's for the head."""
        raise NotImplementedError

    def update(self, metric: Any, value: Any, truth: Any) -> None:
        """Add one frame: the head's result (deploy form) against its ground truth."""
        raise NotImplementedError

    def compute(self, metric: Any) -> dict[str, Any]:
        """Every number, the headline one under ``metric``."""
        return metric.compute()

    def details(self, m: Mapping[str, Any]) -> str:
        """A few companions of the headline number, for the summary table."""
        return ""

    # --- drawing
    def box_style(self, obj: ObjectLabel) -> BoxStyle:
        """Box heads: the colour and line width of one of its objects."""
        return OTHER_COLOUR, 1

    def draw_labels(self, image: np.ndarray, labels: Labels) -> None:
        """Draw this head's non-box labels over ``image`` in place (boxes are drawn together, by size)."""


SPECS: dict[str, HeadSpec] = {}


def register_spec(name: str, spec: HeadSpec) -> HeadSpec:
    """Make head ``name``'s spec known to the dataset, evaluation and drawing; a name given twice is refused."""
    if not name or name in SPECS:
        raise ValueError(f"head spec {name!r} is empty or already registered; pick another name or unregister it")
    spec.name = name
    SPECS[name] = spec
    return spec


def unregister_spec(name: str) -> None:
    """Forget head ``name``'s spec (tests that register a head of their own)."""
    SPECS.pop(name, None)


def spec_for(name: str) -> HeadSpec:
    """The registered spec of head ``name``."""
    if name not in SPECS:
        raise ValueError(
            f"no head spec {name!r}; known heads are {', '.join(SPECS)}. Register the head's spec with "
            "mtl_edge.data.tasks.register_spec next to its module."
        )
    return SPECS[name]


def box_head_classes() -> dict[str, tuple[str, ...]]:
    """Each registered box head's classes (the heads a category table may name)."""
    return {name: tuple(spec.classes) for name, spec in SPECS.items() if spec.boxes}


def category_table(
    defaults: Mapping[str, str], overrides: Mapping[str, str] | None = None, where: str = "the dataset's table"
) -> CategoryTable:
    """A layout's default table with a recipe's entries on top (the recipe's entries win)."""
    return CategoryTable({**defaults, **(overrides or {})}, box_head_classes(), where)


# --- the shipped kinds -----------------------------------------------------------------------------------


class DetectionSpec(HeadSpec):
    """Boxes of some classes; which dataset categories they are is the dataset's category table."""

    metric, boxes, draw_order, label_kind = "mAP50", True, 2, "boxes"
    eval_threshold = 0.0  # AP needs every detection

    def __init__(self, classes: Sequence[str], colour: tuple[int, int, int] | None = None, width: int = 2) -> None:
        """``colour`` None: each class's colour (``LABEL_COLOURS``); ``width``: the drawn box's line width."""
        self.classes = tuple(classes)
        self.colour, self.width = colour, width

    def box_label(self, obj: ObjectLabel, labels: Labels) -> tuple[int, bool] | None:
        target = labels.box_target(obj)
        if target is None or target[0] != self.name:
            return None
        cls = target[1]
        return (-1, True) if cls is None else (self.classes.index(cls), obj.ignore)

    def ground_truth(self, labels: Labels, hw: tuple[int, int]) -> Any:
        boxes, classes, ignore = [], [], []
        for o in labels.frame.objects:
            got = self.box_label(o, labels)
            if got is not None:
                boxes.append([o.box.x1, o.box.y1, o.box.x2, o.box.y2])
                classes.append(max(got[0], 0))  # an untyped box is ignored; the metric still needs a class
                ignore.append(got[1])
        return np.asarray(boxes, np.float64).reshape(-1, 4), np.asarray(classes, np.int64), np.asarray(ignore, bool)

    def new_metric(self, classes: Sequence[str], source_hw: tuple[int, int], score_threshold: float) -> Any:
        return DetectionMetric(tuple(classes), score_threshold=score_threshold)

    def update(self, metric: Any, value: Any, truth: Any) -> None:
        names = list(metric.class_names)
        metric.update(
            np.asarray([d.box for d in value], np.float64).reshape(-1, 4),
            np.asarray([d.score for d in value], np.float64),
            np.asarray([names.index(d.label) for d in value], np.int64),
            *truth,
        )

    def details(self, m: Mapping[str, Any]) -> str:
        worst = min((v["AP50"] for v in m["per_class"].values() if v["AP50"] == v["AP50"]), default=float("nan"))
        pr = f"P {m['precision']:.3f}  R {m['recall']:.3f}"
        return f"mAP50-95 {m['mAP50_95']:.3f}  {pr}  worst-class AP50 {worst:.3f}"

    def box_style(self, obj: ObjectLabel) -> BoxStyle:
        return self.colour or LABEL_COLOURS.get(obj.category, OTHER_COLOUR), self.width


def _index(value: str, choices: Sequence[str], what: str, name: str) -> int:
    try:
        return choices.index(value)
    except ValueError:
        raise ValueError(f"frame {name!r}: unknown {what} {value!r}; use one of {', '.join(choices)}") from None


#: Lane attribute targets: key -> (attribute of LaneLabel, its choices, what it is).
LANE_ATTRS = {
    "lane_type": ("lane_type", LANE_TYPES, "lane type"),
    "lane_style": ("style", LANE_STYLES, "lane style"),
    "lane_direction": ("direction", LANE_DIRECTIONS, "lane direction"),
}
LANE_COLOURS = {"white": (0, 255, 255), "yellow": (255, 120, 0), "other": (255, 0, 255)}


def lane_colour(lane_type: str) -> tuple[int, int, int]:
    key = "white" if "white" in lane_type else "yellow" if "yellow" in lane_type else "other"
    return LANE_COLOURS[key]


class LaneSpec(HeadSpec):
    """Lane polylines (``lanes`` KeyPoints, ``lane_valid``, ``lane_type/style/direction``); CULane F1."""

    metric, draw_order, label_kind = "f1", 1, "lanes"

    def targets(self, labels: Labels, hw: tuple[int, int], active: bool) -> dict[str, Any]:
        lanes = labels.frame.lanes if active else []
        num_points = max((len(lane.points) for lane in lanes), default=0)
        points = torch.zeros(len(lanes), num_points, 2)
        valid = torch.zeros(len(lanes), num_points, dtype=torch.bool)
        for k, lane in enumerate(lanes):
            n = len(lane.points)
            points[k, :n] = torch.as_tensor(np.asarray(lane.points, dtype=np.float32))
            valid[k, :n] = True
        kp, valid = clip_lanes(tv_tensors.KeyPoints(points, canvas_size=hw), valid)
        out: dict[str, Any] = {"lanes": kp, "lane_valid": valid}
        for key, (attr, choices, what) in LANE_ATTRS.items():
            values = [_index(getattr(x, attr), choices, what, labels.frame.name) for x in lanes]
            out[key] = torch.tensor(values, dtype=torch.int64)
        return out

    def after_transforms(self, target: dict[str, Any]) -> None:
        # Whatever the transforms were, lanes end at the final canvas's border.
        target["lanes"], target["lane_valid"] = clip_lanes(target["lanes"], target["lane_valid"])

    def collate(
        self,
        targets: Sequence[Mapping[str, Any]],
        max_lanes: int | None = None,
        max_points: int | None = None,
        **options: Any,
    ) -> dict[str, Any]:
        n_lanes = max(t["lanes"].shape[0] for t in targets)
        n_points = max(t["lanes"].shape[1] for t in targets)
        for limit, have, what in ((max_lanes, n_lanes, "max_lanes"), (max_points, n_points, "max_points")):
            if limit is not None and have > limit:
                raise ValueError(
                    f"a sample has {have} lanes/points, more than {what}={limit}; raise {what} "
                    "or drop the extra lanes in the labels"
                )
        n_lanes = n_lanes if max_lanes is None else max_lanes
        n_points = n_points if max_points is None else max_points
        b = len(targets)
        lanes = torch.zeros(b, n_lanes, n_points, 2)
        lane_valid = torch.zeros(b, n_lanes, n_points, dtype=torch.bool)
        attrs = {k: torch.full((b, n_lanes), -1, dtype=torch.int64) for k in LANE_ATTRS}
        for i, t in enumerate(targets):
            nl, np_ = t["lanes"].shape[:2]
            lanes[i, :nl, :np_] = t["lanes"].as_subclass(torch.Tensor)
            lane_valid[i, :nl, :np_] = t["lane_valid"]
            for k, v in attrs.items():
                v[i, :nl] = t[k]
        return {**attrs, "lanes": lanes, "lane_valid": lane_valid}

    def ground_truth(self, labels: Labels, hw: tuple[int, int]) -> Any:
        return [ln.points for ln in labels.frame.lanes]

    def new_metric(self, classes: Sequence[str], source_hw: tuple[int, int], score_threshold: float) -> Any:
        return LaneMetric(width=source_hw[1], height=source_hw[0])

    def update(self, metric: Any, value: Any, truth: Any) -> None:
        metric.update([ln.points for ln in value], truth)

    def details(self, m: Mapping[str, Any]) -> str:
        return f"P {m['precision']:.3f}  R {m['recall']:.3f}  TuSimple acc {m['tusimple_accuracy']:.3f}"

    def draw_labels(self, image: np.ndarray, labels: Labels) -> None:
        for lane in labels.frame.lanes:
            thick = 3 if lane.lane_type.startswith("double") else 2
            draw_polyline(image, lane.points, lane_colour(lane.lane_type), thick, dashed=lane.style == "dashed")


class DrivableSpec(HeadSpec):
    """The drivable-area mask (``drivable``: 0 background, 1 direct, 2 alternative): a mask file or polygons."""

    classes, metric, draw_order, label_kind = ("background", "direct", "alternative"), "miou", 0, "drivable"

    def supervises(self, labels: Labels, covers: frozenset[str]) -> bool:
        return bool(labels.frame.drivable_polygons) or labels.has_mask()

    def _mask(self, labels: Labels, hw: tuple[int, int]) -> np.ndarray | None:
        mask = labels.read_mask()
        if mask is not None:
            if mask.shape != hw:
                raise ValueError(
                    f"{labels.mask_file}: drivable mask is {mask.shape[1]}x{mask.shape[0]} but image "
                    f"{labels.frame.name} is {hw[1]}x{hw[0]}; masks must match their image pixel for pixel."
                )
            return mask
        if labels.frame.drivable_polygons:
            return rasterize_drivable(labels.frame.drivable_polygons, hw[0], hw[1])
        return None

    def targets(self, labels: Labels, hw: tuple[int, int], active: bool) -> dict[str, Any]:
        mask = self._mask(labels, hw) if active else None
        return {"drivable": tv_tensors.Mask(torch.from_numpy(mask if mask is not None else np.zeros(hw, np.uint8)))}

    def collate(self, targets: Sequence[Mapping[str, Any]], **options: Any) -> dict[str, Any]:
        return {"drivable": torch.stack([t["drivable"].as_subclass(torch.Tensor) for t in targets])}

    def ground_truth(self, labels: Labels, hw: tuple[int, int]) -> Any:
        return self._mask(labels, hw)

    def new_metric(self, classes: Sequence[str], source_hw: tuple[int, int], score_threshold: float) -> Any:
        return drivable_metric()

    def update(self, metric: Any, value: Any, truth: Any) -> None:
        if value is not None:
            metric.update(value, truth)

    def compute(self, metric: Any) -> dict[str, Any]:
        m = metric.compute()  # headline: background vs drivable, as YOLOP reports it
        rest = {k: v for k, v in m.items() if k not in ("miou", "miou_binary")}
        return {"miou": m["miou_binary"], "miou_3class": m["miou"], **rest}

    def details(self, m: Mapping[str, Any]) -> str:
        return f"3-class mIoU {m['miou_3class']:.3f}"

    def draw_labels(self, image: np.ndarray, labels: Labels) -> None:
        mask = labels.read_mask()
        if mask is not None:
            overlay_mask(image, mask, DRIVABLE_COLOURS)


register_spec("lanes", LaneSpec())
register_spec("vehicles", DetectionSpec(VEHICLE_CLASSES))
register_spec("signs", DetectionSpec(SIGN_CLASSES, colour=SIGN_COLOUR, width=1))
register_spec("drivable", DrivableSpec())
