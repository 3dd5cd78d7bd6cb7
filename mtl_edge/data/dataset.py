"""Multi-task driving dataset over BDD100K-style labels, for generated and real data alike.

Each head's part of a sample (its classes, targets, which frames supervise it) comes from its
spec in :mod:`mtl_edge.data.tasks`; the entries below are the shipped heads'.

A sample is ``(image, target)``: a ``tv_tensors.Image`` uint8 [3, H, W] (RGB) and a dict

==================  =====================================================================
``boxes``           ``BoundingBoxes`` [N, 4] float32 XYXY, vehicles and signs together
                    (torchvision v2 expects one box set per sample)
``labels``          int64 [N]: class index within the box's head (its spec's ``classes``);
                    -1 for an object of the head whose class is unknown (an untyped sign)
``head``            int64 [N]: the box's head, as an index into ``box_heads``
``ignore``          bool [N]: neither reward nor punish predictions here (crowd, tiny,
                    untyped signs)
``heads``           the dataset's heads; ``box_heads``: those of them whose targets are boxes
``lanes``           ``KeyPoints`` [L, P, 2] float32 polyline vertices, near to far,
                    padded to the frame's longest lane
``lane_valid``      bool [L, P]: real vertex that lies on the image (padding and
                    points a transform pushed off the image are False)
``lane_type``       int64 [L] index in ``LANE_TYPES``; ``lane_style`` / ``lane_direction``
                    likewise in ``LANE_STYLES`` / ``LANE_DIRECTIONS``
``drivable``        ``Mask`` uint8 [H, W]: 0 background, 1 direct, 2 alternative (all 0
                    when the frame has no drivable label)
``supervises``      bool [len(heads)], in the order of the dataset's ``heads``
(more)              entries of heads registered beyond the shipped ones, from their specs
``name``            image file name from the labels
``orig_size``       (h, w) of the image file
``letterbox``       (scale, pad_x, pad_y) from ``letterbox_params(orig_size, output
                    size)``: maps predictions back when the transforms' only geometric
                    step is a Letterbox (evaluation)
==================  =====================================================================
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torchvision import tv_tensors

from mtl_edge.data.categories import CategoryTable
from mtl_edge.data.labels import FrameLabels
from mtl_edge.data.lane_rules import LaneRules, apply_lane_rules
from mtl_edge.data.layouts.base import LayoutData
from mtl_edge.data.layouts.files import load_files
from mtl_edge.data.tasks import SPECS, Labels, default_table
from mtl_edge.data.transforms import letterbox_params

#: The shipped heads, in the default order (a dataset's default is every registered head's spec).
HEADS: tuple[str, ...] = tuple(SPECS)

PathLike = str | os.PathLike


class ImageReadError(OSError):
    """An image file exists but cannot be decoded."""


def read_image(path: PathLike) -> tv_tensors.Image:
    """Decode an image file to RGB uint8 [3, H, W]."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: image file not found. Check the images directory.")
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ImageReadError(
            f"{path}: OpenCV cannot decode this image (corrupt, truncated or not an image). "
            "Replace the file, or remove its frame from the label file."
        )
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    return tv_tensors.Image(torch.from_numpy(rgb).permute(2, 0, 1).contiguous())


def after_transforms(target: dict[str, Any]) -> dict[str, Any]:
    """Every head's fix-up once the transforms have moved a sample (lanes end at the canvas border)."""
    for spec in SPECS.values():
        spec.after_transforms(target)
    return target


class DrivingDataset(torch.utils.data.Dataset):
    """Frames of one dataset split, with per-sample flags of the heads they supervise.

    Args:
        data: the split as a layout reads it (:func:`mtl_edge.data.layouts.load_split`); or
            give ``images``, ``labels`` and ``drivable`` (``drivable_coding``) for label files
            (:func:`mtl_edge.data.layouts.files.load_files`).
        transforms: called as ``transforms(image, target)``, e.g. ``build_transforms``.
        heads: heads to produce targets for (default: every registered spec); boxes of
            other heads are dropped.
        supervise: per-head override: False turns a head off for every sample (a dataset
            that does not label it), True declares it labelled even in frames without such labels.
        categories: the dataset's category table (default: the BDD100K one).
        lane_rules: which lane labels become lane targets, and how (default: ``LaneRules()``).
        name: the dataset's name in reports (default: its layout's).

    Which frames supervise a head is decided per frame by its spec: a box head where the
    frame's label files cover boxes, lanes where they cover lanes, drivable where the frame
    has a mask file or drivable polygons (see :class:`mtl_edge.data.layouts.LayoutData`).
    """

    def __init__(
        self,
        data: LayoutData | None = None,
        *,
        images: PathLike | None = None,
        labels: PathLike | Sequence[PathLike] | None = None,
        drivable: PathLike | None = None,
        transforms: Callable[..., Any] | None = None,
        heads: Sequence[str] | None = None,
        supervise: Mapping[str, bool] | None = None,
        drivable_coding: str = "2018",
        categories: CategoryTable | None = None,
        lane_rules: LaneRules | None = None,
        name: str | None = None,
    ) -> None:
        if data is None:
            if images is None or labels is None:
                raise ValueError("pass a layout's split (data=) or images= and labels=")
            data = load_files(images, labels, drivable, drivable_coding)
        self.data = data
        self.name = name or data.layout
        self.images = data.images
        self.transforms = transforms
        self.heads = tuple(SPECS) if heads is None else tuple(heads)
        unknown = [h for h in (*self.heads, *(supervise or {})) if h not in SPECS]
        if unknown or len(set(self.heads)) != len(self.heads):
            raise ValueError(
                f"heads and supervise keys must be distinct names from {tuple(SPECS)} (a new head registers its "
                f"spec with mtl_edge.data.tasks.register_spec); got heads={self.heads}, "
                f"supervise={dict(supervise or {})}"
            )
        #: the heads whose targets are boxes, in the order of a box's ``head`` index
        self.box_heads = tuple(h for h in self.heads if SPECS[h].boxes)
        self.table = categories if categories is not None else default_table()
        rules = lane_rules if lane_rules is not None else LaneRules()
        self.frames: list[FrameLabels] = [replace(f, lanes=apply_lane_rules(f.lanes, rules)) for f in data.frames]
        if not self.frames:
            raise ValueError(f"{data.images}: the {data.layout} split has no frames; check its label files")
        self._sources = data.sources
        self._missing_images_check()

        overrides = dict(supervise or {})
        rows = []
        for frame in self.frames:
            covers = data.covers.get(frame.name, frozenset())
            labels_of = self._labels(frame)
            rows.append([overrides.get(h, SPECS[h].supervises(labels_of, covers)) for h in self.heads])
        #: bool [len(self), len(heads)]: which heads each sample supervises.
        self.supervises = torch.tensor(rows, dtype=torch.bool).reshape(len(self.frames), len(self.heads))
        for frame in self.frames:  # an unmapped category fails here, before any training
            files = ", ".join(map(str, self._sources.get(frame.name, []))) or str(data.images)
            for obj in frame.objects:
                self.table.resolve(obj, f"{files}: frame {frame.name!r} labels[].category")

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: int) -> tuple[Any, dict[str, Any]]:
        frame = self.frames[index]
        path = self.images / frame.name
        try:
            image = read_image(path)
        except FileNotFoundError:
            raise FileNotFoundError(self._missing_message([frame.name])) from None
        h, w = image.shape[-2:]
        target = self._target(frame, (h, w), self.supervises[index])
        if self.transforms is not None:
            image, target = self.transforms(image, target)
        after_transforms(target)
        target["letterbox"] = letterbox_params((h, w), tuple(image.shape[-2:]))
        return image, target

    def source(self, index: int) -> tuple[np.ndarray, Labels]:
        """Frame ``index`` as evaluation reads it: the image file untransformed (RGB uint8 [H, W, 3]), its labels."""
        frame = self.frames[index]
        labels = self.labels(index)
        return read_image(self.images / frame.name).permute(1, 2, 0).numpy(), labels

    def labelled_heads(self, n: int | None = None) -> set[str]:
        """The heads that at least one of the first ``n`` frames (None: all) supervises."""
        rows = self.supervises if n is None else self.supervises[:n]
        return {h for h, on in zip(self.heads, rows.any(0).tolist()) if on}

    def first(self, n: int) -> DrivingDataset:
        """A shallow copy holding only the first ``n`` frames (light to send to another process)."""
        out = copy.copy(self)
        out.frames, out.supervises = self.frames[:n], self.supervises[:n]
        out.data = replace(self.data, frames=self.data.frames[:0])  # the frames above are what is read
        return out

    def labels(self, index: int) -> Labels:
        """Frame ``index``'s labels, with the heads it supervises (what evaluation scores)."""
        supervised = frozenset(h for h, on in zip(self.heads, self.supervises[index].tolist()) if on)
        return self._labels(self.frames[index], supervised)

    # ------------------------------------------------------------------ helpers

    def _missing_message(self, names: Sequence[str]) -> str:
        shown = "; ".join(
            f"{self.images / n} (labelled in {', '.join(map(str, self._sources.get(n, [])))})" for n in names[:3]
        )
        more = f" and {len(names) - 3} more" if len(names) > 3 else ""
        return (
            f"{len(names)} labelled image(s) missing: {shown}{more}. Check images= points at the folder the "
            "label names are relative to, or remove those frames from the labels."
        )

    def _missing_images_check(self) -> None:
        missing = [f.name for f in self.frames if not (self.images / f.name).is_file()]
        if missing:
            raise FileNotFoundError(self._missing_message(missing))

    def _labels(self, frame: FrameLabels, supervised: frozenset[str] | None = None) -> Labels:
        mask = self.data.masks(frame.name) if self.data.masks is not None else None
        return Labels(frame, mask, self.data.coding, table=self.table, supervised=supervised)

    def _target(self, frame: FrameLabels, hw: tuple[int, int], supervises: torch.Tensor) -> dict[str, Any]:
        boxes, labels, heads, ignore = [], [], [], []
        source = self._labels(frame)
        for obj in frame.objects:
            target = source.box_target(obj)
            if target is None or target[0] not in self.box_heads:
                continue  # pedestrians, lights, ...: no head of this dataset predicts them
            cls, ignored = SPECS[target[0]].box_label(obj, source)
            boxes.append((obj.box.x1, obj.box.y1, obj.box.x2, obj.box.y2))
            labels.append(cls)
            heads.append(self.box_heads.index(target[0]))
            ignore.append(ignored)
        target: dict[str, Any] = {
            "boxes": tv_tensors.BoundingBoxes(
                torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4), format="XYXY", canvas_size=hw
            ),
            "labels": torch.tensor(labels, dtype=torch.int64),
            "head": torch.tensor(heads, dtype=torch.int64),
            "ignore": torch.tensor(ignore, dtype=torch.bool),
        }
        for name, spec in SPECS.items():  # every spec, so that samples of any dataset batch alike
            target.update(spec.targets(source, hw, active=name in self.heads))
        target.update(
            {
                "supervises": supervises.clone(),
                "heads": self.heads,
                "box_heads": self.box_heads,
                "name": frame.name,
                "orig_size": hw,
            }
        )
        return target


def collate(
    batch: Sequence[tuple[Any, dict[str, Any]]],
    *,
    max_lanes: int | None = None,
    max_points: int | None = None,
) -> tuple[torch.Tensor, dict[str, Any]]:
    """Batch samples: images stacked, boxes kept as per-sample lists, each head's entries batched by its spec.

    The lanes spec pads lanes to ``max_lanes`` x ``max_points`` (None: the batch's largest) with
    ``lane_valid`` False and type/style/direction -1. Bind the sizes with
    ``functools.partial(collate, max_lanes=...)`` for a fixed lane count.
    """
    if not batch:
        raise ValueError("collate got an empty batch")
    images = [img for img, _ in batch]
    targets = [t for _, t in batch]
    sizes = {tuple(img.shape) for img in images}
    if len(sizes) > 1:
        raise ValueError(
            f"images differ in size {sorted(sizes)}; pass transforms=build_transforms(size, train) so "
            "every sample is letterboxed to one size before batching"
        )
    out: dict[str, Any] = {k: [t[k] for t in targets] for k in ("boxes", "labels", "head", "ignore", "name")}
    for spec in SPECS.values():
        out.update(spec.collate(targets, max_lanes=max_lanes, max_points=max_points))
    out["supervises"] = torch.stack([t["supervises"] for t in targets])
    out["heads"], out["box_heads"] = targets[0]["heads"], targets[0]["box_heads"]
    out["orig_size"] = torch.tensor([t["orig_size"] for t in targets], dtype=torch.int64)
    out["letterbox"] = torch.tensor([t["letterbox"] for t in targets], dtype=torch.float64)
    return torch.stack([img.as_subclass(torch.Tensor) for img in images]), out
