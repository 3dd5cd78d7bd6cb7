"""Multi-task driving dataset over BDD100K-style labels, for generated and real data alike.

A sample is ``(image, target)``: a ``tv_tensors.Image`` uint8 [3, H, W] (RGB) and a dict

==================  =====================================================================
``boxes``           ``BoundingBoxes`` [N, 4] float32 XYXY, vehicles and signs together
                    (torchvision v2 expects one box set per sample)
``labels``          int64 [N]: class index within the box's head (``VEHICLE_CLASSES`` /
                    ``SIGN_CLASSES``); -1 for a traffic sign of unknown type
``head``            int64 [N]: 0 vehicles, 1 signs (``BOX_HEADS``)
``ignore``          bool [N]: neither reward nor punish predictions here (crowd, tiny,
                    untyped signs)
``lanes``           ``KeyPoints`` [L, P, 2] float32 polyline vertices, near to far,
                    padded to the frame's longest lane
``lane_valid``      bool [L, P]: real vertex that lies on the image (padding and
                    points a transform pushed off the image are False)
``lane_type``       int64 [L] index in ``LANE_TYPES``; ``lane_style`` / ``lane_direction``
                    likewise in ``LANE_STYLES`` / ``LANE_DIRECTIONS``
``drivable``        ``Mask`` uint8 [H, W]: 0 background, 1 direct, 2 alternative (all 0
                    when the frame has no drivable label)
``supervises``      bool [len(heads)], in the order of the dataset's ``heads``
``name``            image file name from the labels
``orig_size``       (h, w) of the image file
``letterbox``       (scale, pad_x, pad_y) from ``letterbox_params(orig_size, output
                    size)``: maps predictions back when the transforms' only geometric
                    step is a Letterbox (evaluation)
==================  =====================================================================
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torchvision import tv_tensors

from mtl_edge.data.formats import merge_frames, rasterize_drivable, read_drivable_mask, read_frames
from mtl_edge.data.labels import (
    BOX_CATEGORY_ALIASES,
    LANE_DIRECTIONS,
    LANE_STYLES,
    LANE_TYPES,
    SIGN_CLASSES,
    VEHICLE_CLASSES,
    FrameLabels,
)
from mtl_edge.data.transforms import letterbox_params, points_inside

#: Every head a sample can supervise, in the default order.
HEADS: tuple[str, ...] = ("lanes", "vehicles", "signs", "drivable")
#: Box heads, in the order of the ``head`` index of a target's boxes.
BOX_HEADS: tuple[str, ...] = ("vehicles", "signs")

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


def _file_tasks(frames: Sequence[FrameLabels]) -> set[str]:
    """Heads a whole label file supervises: box heads if any frame has a box, lanes if any has a lane."""
    tasks: set[str] = set()
    if any(f.objects for f in frames):
        tasks.update(BOX_HEADS)
    if any(f.lanes for f in frames):
        tasks.add("lanes")
    return tasks


def _index(value: str, choices: Sequence[str], what: str, name: str) -> int:
    try:
        return choices.index(value)
    except ValueError:
        raise ValueError(f"frame {name!r}: unknown {what} {value!r}; use one of {', '.join(choices)}") from None


class DrivingDataset(torch.utils.data.Dataset):
    """Frames of BDD100K-style label files, with per-sample flags of the heads they supervise.

    Args:
        images: folder the frame names are relative to.
        labels: one label path, or several merged by frame name (e.g. a det file and a
            lane file). Each may be a JSON list, one frame, or a folder of per-frame JSON.
        drivable: folder of drivable-area PNG masks named like the image (``a/b.jpg`` ->
            ``a/b.png``); None means masks come only from drivable polygons in the labels.
        transforms: called as ``transforms(image, target)``, e.g. ``build_transforms``.
        heads: heads to produce targets for; boxes of other heads are dropped.
        supervise: per-head override: False turns a head off for every sample, True
            declares it fully labelled even in frames without such labels.
        drivable_coding: "2018" for 0 background / 1 direct / 2 alternative PNGs (what
            the generator writes), "2020" for BDD100K ``drivable/masks``.

    A label file in which any frame has a box supervises vehicles and signs for all of
    its frames (frames with no boxes are true negatives); one with any lane supervises
    lanes. Drivable is supervised where a mask file exists or the frame has polygons.
    """

    def __init__(
        self,
        *,
        images: PathLike,
        labels: PathLike | Sequence[PathLike],
        drivable: PathLike | None = None,
        transforms: Callable[..., Any] | None = None,
        heads: Sequence[str] = HEADS,
        supervise: Mapping[str, bool] | None = None,
        drivable_coding: str = "2018",
    ) -> None:
        self.images = Path(images)
        self.drivable = Path(drivable) if drivable is not None else None
        self.transforms = transforms
        self.heads = tuple(heads)
        self.drivable_coding = drivable_coding
        unknown = [h for h in (*self.heads, *(supervise or {})) if h not in HEADS]
        if unknown or len(set(self.heads)) != len(self.heads):
            raise ValueError(
                f"heads and supervise keys must be distinct names from {HEADS}; got heads={self.heads}, "
                f"supervise={dict(supervise or {})}"
            )
        if drivable_coding not in ("2018", "2020"):
            raise ValueError(
                f'drivable_coding must be "2018" (generated masks) or "2020" (BDD100K drivable/masks), '
                f"got {drivable_coding!r}"
            )
        if not self.images.is_dir():
            raise FileNotFoundError(
                f"{self.images}: images directory not found. Pass images=<folder with the image files>."
            )
        if self.drivable is not None and not self.drivable.is_dir():
            raise FileNotFoundError(
                f"{self.drivable}: drivable mask directory not found. Fix the path or pass drivable=None."
            )

        label_paths = [Path(labels)] if isinstance(labels, (str, os.PathLike)) else [Path(p) for p in labels]
        if not label_paths:
            raise ValueError("labels is empty; pass at least one label file or folder")
        lists = [read_frames(p) for p in label_paths]
        self.frames: list[FrameLabels] = merge_frames(*lists)
        if not self.frames:
            raise ValueError(
                f"no frames in {', '.join(map(str, label_paths))}; check that the label files are not empty"
            )

        tasks: dict[str, set[str]] = {}
        sources: dict[str, list[Path]] = {}
        for path, frames in zip(label_paths, lists):
            file_tasks = _file_tasks(frames)
            for f in frames:
                tasks.setdefault(f.name, set()).update(file_tasks)
                sources.setdefault(f.name, []).append(path)
        self._sources = sources
        self._missing_images_check()

        overrides = dict(supervise or {})
        rows = []
        for frame in self.frames:
            has = set(tasks[frame.name])
            if frame.drivable_polygons or (self.drivable is not None and self._mask_path(frame).is_file()):
                has.add("drivable")
            rows.append([overrides.get(head, head in has) for head in self.heads])
        #: bool [len(self), len(heads)]: which heads each sample supervises.
        self.supervises = torch.tensor(rows, dtype=torch.bool).reshape(len(self.frames), len(self.heads))

    @classmethod
    def from_dir(cls, root: PathLike, **kwargs: Any) -> DrivingDataset:
        """Dataset of the generator's layout: ``images/``, ``labels.json`` and optional ``drivable/``."""
        root = Path(root)
        if not (root / "labels.json").is_file():
            raise FileNotFoundError(
                f"{root}: no labels.json; expected the generated layout images/, labels.json, drivable/. "
                "For BDD100K pass images=, labels= and drivable= to DrivingDataset instead."
            )
        drivable = root / "drivable"
        kwargs.setdefault("drivable", drivable if drivable.is_dir() else None)
        return cls(images=root / "images", labels=root / "labels.json", **kwargs)

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
        # Whatever the transforms were, a vertex off the final canvas is not a label.
        target["lane_valid"] = target["lane_valid"] & points_inside(target["lanes"])
        target["letterbox"] = letterbox_params((h, w), tuple(image.shape[-2:]))
        return image, target

    # ------------------------------------------------------------------ helpers

    def _mask_path(self, frame: FrameLabels) -> Path:
        assert self.drivable is not None
        return self.drivable / Path(frame.name).with_suffix(".png")

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

    def _target(self, frame: FrameLabels, hw: tuple[int, int], supervises: torch.Tensor) -> dict[str, Any]:
        boxes, labels, heads, ignore = [], [], [], []
        for obj in frame.objects:
            category = BOX_CATEGORY_ALIASES.get(obj.category, obj.category)
            if category in VEHICLE_CLASSES and "vehicles" in self.heads:
                head, label, skip = 0, VEHICLE_CLASSES.index(category), obj.ignore
            elif category == "traffic sign" and "signs" in self.heads:
                known = obj.sign_type in SIGN_CLASSES
                head, label = 1, SIGN_CLASSES.index(obj.sign_type) if known else -1
                skip = obj.ignore or not known  # real BDD100K signs carry no type
            else:
                continue  # pedestrians, lights, ...: no head predicts them
            boxes.append((obj.box.x1, obj.box.y1, obj.box.x2, obj.box.y2))
            labels.append(label)
            heads.append(head)
            ignore.append(skip)

        lanes = frame.lanes if "lanes" in self.heads else []
        num_points = max((len(lane.points) for lane in lanes), default=0)
        points = torch.zeros(len(lanes), num_points, 2)
        lane_valid = torch.zeros(len(lanes), num_points, dtype=torch.bool)
        for k, lane in enumerate(lanes):
            n = len(lane.points)
            points[k, :n] = torch.as_tensor(np.asarray(lane.points, dtype=np.float32))
            lane_valid[k, :n] = True
        lanes_kp = tv_tensors.KeyPoints(points, canvas_size=hw)

        return {
            "boxes": tv_tensors.BoundingBoxes(
                torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4), format="XYXY", canvas_size=hw
            ),
            "labels": torch.tensor(labels, dtype=torch.int64),
            "head": torch.tensor(heads, dtype=torch.int64),
            "ignore": torch.tensor(ignore, dtype=torch.bool),
            "lanes": lanes_kp,
            "lane_valid": lane_valid & points_inside(lanes_kp),
            "lane_type": torch.tensor(
                [_index(x.lane_type, LANE_TYPES, "lane type", frame.name) for x in lanes], dtype=torch.int64
            ),
            "lane_style": torch.tensor(
                [_index(x.style, LANE_STYLES, "lane style", frame.name) for x in lanes], dtype=torch.int64
            ),
            "lane_direction": torch.tensor(
                [_index(x.direction, LANE_DIRECTIONS, "lane direction", frame.name) for x in lanes], dtype=torch.int64
            ),
            "drivable": tv_tensors.Mask(torch.from_numpy(self._drivable_mask(frame, hw))),
            "supervises": supervises.clone(),
            "name": frame.name,
            "orig_size": hw,
        }

    def _drivable_mask(self, frame: FrameLabels, hw: tuple[int, int]) -> np.ndarray:
        if "drivable" in self.heads and self.drivable is not None and self._mask_path(frame).is_file():
            path = self._mask_path(frame)
            mask = read_drivable_mask(path, coding=self.drivable_coding)
            if mask.shape != hw:
                raise ValueError(
                    f"{path}: drivable mask is {mask.shape[1]}x{mask.shape[0]} but image {self.images / frame.name} "
                    f"is {hw[1]}x{hw[0]}; masks must match their image pixel for pixel."
                )
            return mask
        if "drivable" in self.heads and frame.drivable_polygons:
            return rasterize_drivable(frame.drivable_polygons, hw[0], hw[1])
        return np.zeros(hw, dtype=np.uint8)


def collate(
    batch: Sequence[tuple[Any, dict[str, Any]]],
    *,
    max_lanes: int | None = None,
    max_points: int | None = None,
) -> tuple[torch.Tensor, dict[str, Any]]:
    """Batch samples: images and masks stacked, boxes kept as per-sample lists, lanes padded.

    Lanes are padded to ``max_lanes`` x ``max_points`` (None: the batch's largest) with
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

    b = len(batch)
    lanes = torch.zeros(b, n_lanes, n_points, 2)
    lane_valid = torch.zeros(b, n_lanes, n_points, dtype=torch.bool)
    lane_attrs = {
        k: torch.full((b, n_lanes), -1, dtype=torch.int64) for k in ("lane_type", "lane_style", "lane_direction")
    }
    for i, t in enumerate(targets):
        nl, np_ = t["lanes"].shape[:2]
        lanes[i, :nl, :np_] = t["lanes"].as_subclass(torch.Tensor)
        lane_valid[i, :nl, :np_] = t["lane_valid"]
        for k, v in lane_attrs.items():
            v[i, :nl] = t[k]

    out: dict[str, Any] = {k: [t[k] for t in targets] for k in ("boxes", "labels", "head", "ignore", "name")}
    out.update(lane_attrs)
    out["lanes"] = lanes
    out["lane_valid"] = lane_valid
    out["drivable"] = torch.stack([t["drivable"].as_subclass(torch.Tensor) for t in targets])
    out["supervises"] = torch.stack([t["supervises"] for t in targets])
    out["orig_size"] = torch.tensor([t["orig_size"] for t in targets], dtype=torch.int64)
    out["letterbox"] = torch.tensor([t["letterbox"] for t in targets], dtype=torch.float64)
    return torch.stack([img.as_subclass(torch.Tensor) for img in images]), out
