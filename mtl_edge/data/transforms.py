"""Joint image/label transforms built on torchvision.transforms.v2.

Every transform here moves the pixels and the labels together: the image is a
``tv_tensors.Image``, boxes a ``tv_tensors.BoundingBoxes``, lane polylines a
``tv_tensors.KeyPoints`` of shape [L, P, 2] and the drivable map a ``tv_tensors.Mask``,
so torchvision dispatches the matching kernel to each. Samples are ``(image, target)``
pairs where ``target`` is the dict built by :class:`mtl_edge.data.dataset.DrivingDataset`.

Coordinates are continuous pixels: pixel column ``i`` covers ``[i, i + 1)``, which is
the convention torchvision's resize/pad/affine kernels use for boxes and keypoints.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils._pytree import tree_flatten
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from mtl_edge.data.cv2_kernels import GaussianBlurCV2, RandomAffineCV2
from mtl_edge.data.lane_rules import clip_to_canvas
from mtl_edge.deploy.letterbox import PAD_VALUE, letterbox_params, letterbox_points, resized_hw

#: Target keys that hold one entry per box and must be filtered along with the boxes.
BOX_FIELDS: tuple[str, ...] = ("labels", "head", "ignore")


class Letterbox(v2.Transform):
    """Resize keeping aspect ratio, then pad centred to exactly ``size`` (H, W).

    Images are padded with ``fill``, masks with 0 (background); boxes and keypoints are
    scaled and shifted with :func:`letterbox_params`, whose result callers keep to map
    predictions back with :func:`~mtl_edge.deploy.letterbox.unletterbox_points`. The image itself is resized to
    whole pixels, so image and labels may differ by under half a letterboxed pixel.
    """

    def __init__(self, size: Sequence[int] = (384, 640), fill: int = PAD_VALUE) -> None:
        super().__init__()
        if len(size) != 2 or min(size) <= 0:
            raise ValueError(f"Letterbox size must be (height, width) with positive values, got {size!r}")
        self.size = (int(size[0]), int(size[1]))
        self.fill = fill

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        src_hw = v2.query_size(flat_inputs)
        scale, pad_x, pad_y = letterbox_params(src_hw, self.size)
        new_h, new_w = resized_hw(src_hw, scale, self.size)
        padding = [pad_x, pad_y, self.size[1] - new_w - pad_x, self.size[0] - new_h - pad_y]
        return dict(src_hw=src_hw, scale=scale, pad=(pad_x, pad_y), resized=[new_h, new_w], padding=padding)

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        if tuple(params["src_hw"]) == self.size:
            return inpt
        if isinstance(inpt, tv_tensors.BoundingBoxes):
            return self._boxes(inpt, params)
        if isinstance(inpt, tv_tensors.KeyPoints):
            xy = letterbox_points(inpt.as_subclass(torch.Tensor), (params["scale"], *params["pad"]))
            return tv_tensors.wrap(xy, like=inpt, canvas_size=self.size)
        if isinstance(inpt, tv_tensors.Mask):
            out = F.resize(inpt, params["resized"], interpolation=v2.InterpolationMode.NEAREST)
            return F.pad(out, params["padding"], fill=0)
        out = self._call_kernel(F.resize, inpt, params["resized"], antialias=True)
        return self._call_kernel(F.pad, out, params["padding"], fill=self.fill)

    def _boxes(self, boxes: tv_tensors.BoundingBoxes, params: dict[str, Any]) -> tv_tensors.BoundingBoxes:
        if tv_tensors.is_rotated_bounding_format(boxes.format):
            raise NotImplementedError("Letterbox handles axis-aligned boxes only; convert rotated boxes to XYXY first")
        xyxy = F.convert_bounding_box_format(
            boxes.as_subclass(torch.Tensor), old_format=boxes.format, new_format=tv_tensors.BoundingBoxFormat.XYXY
        )
        dtype = xyxy.dtype
        xyxy = letterbox_points(xyxy.float().reshape(-1, 2, 2), (params["scale"], *params["pad"])).reshape(-1, 4)
        out = F.convert_bounding_box_format(
            xyxy.to(dtype), old_format=tv_tensors.BoundingBoxFormat.XYXY, new_format=boxes.format
        )
        return tv_tensors.wrap(out, like=boxes, canvas_size=self.size)


def _box_fields(inputs: Any, keys: Sequence[str]) -> tuple[torch.Tensor, ...]:
    target = _find_target(inputs, "boxes")
    return tuple(target[k] for k in keys if k in target) if target is not None else ()


def _find_target(inputs: Any, key: str) -> dict[str, Any] | None:
    """The first dict in ``inputs`` (a dict or a tuple/list of items) holding ``key``."""
    candidates = inputs if isinstance(inputs, (tuple, list)) else (inputs,)
    for item in candidates:
        if isinstance(item, dict) and key in item:
            return item
    return None


class SanitizeBoxes(v2.SanitizeBoundingBoxes):
    """``SanitizeBoundingBoxes`` that filters every per-box target field and never touches masks.

    The stock transform also indexes any ``Mask`` whose first dimension happens to equal
    the number of boxes; our drivable map is one semantic [H, W] mask, not one per box.
    """

    def __init__(self, min_size: float = 1.0, min_area: float = 1.0, fields: Sequence[str] = BOX_FIELDS) -> None:
        getter = functools.partial(_box_fields, keys=tuple(fields))
        super().__init__(min_size=min_size, min_area=min_area, labels_getter=getter)
        self.fields = tuple(fields)

    def forward(self, *inputs: Any) -> Any:
        if not v2.has_any(tree_flatten(inputs)[0], tv_tensors.BoundingBoxes):
            return inputs if len(inputs) > 1 else inputs[0]
        return super().forward(*inputs)

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        if isinstance(inpt, tv_tensors.Mask):
            return inpt
        return super().transform(inpt, params)


def points_inside(points: tv_tensors.KeyPoints) -> torch.Tensor:
    """Bool [...] mask of the points on the image canvas, borders included (NaN counts as off).

    The canvas is closed (``0 <= x <= W``) because labelled polylines often end exactly
    on the image border.
    """
    h, w = points.canvas_size
    xy = points.as_subclass(torch.Tensor)
    x, y = xy[..., 0], xy[..., 1]
    return (x >= 0) & (x <= w) & (y >= 0) & (y <= h)


#: Spacing, in pixels, of the vertices of a lane clipped at the canvas border.
LANE_STEP = 8.0


def clip_lanes(
    points: tv_tensors.KeyPoints, valid: torch.Tensor, step: float = LANE_STEP
) -> tuple[tv_tensors.KeyPoints, torch.Tensor]:
    """Each lane's polyline (its ``valid`` vertices) clipped at the canvas border and resampled.

    A sparse lane (BDD100K labels have 2-6 vertices) whose vertex a transform pushed off the
    image keeps its part on the image, cut where it crosses the border, instead of losing
    the segment (or, with under two vertices left, the whole lane). A lane with nothing left
    on the canvas gets no valid point. Returns new (points [L, P', 2], valid [L, P']).
    """
    h, w = points.canvas_size
    xy = points.as_subclass(torch.Tensor).detach().cpu().numpy()
    ok = valid.cpu().numpy()
    lanes = []
    for k in range(xy.shape[0]):
        real = xy[k][ok[k]]
        clipped = clip_to_canvas(real, w, h, step) if len(real) >= 2 else None
        lanes.append(clipped if clipped is not None else np.zeros((0, 2), np.float32))
    n = max((len(p) for p in lanes), default=0)
    out = torch.zeros(len(lanes), n, 2)
    out_valid = torch.zeros(len(lanes), n, dtype=torch.bool)
    for k, lane in enumerate(lanes):
        out[k, : len(lane)] = torch.as_tensor(lane, dtype=torch.float32)
        out_valid[k, : len(lane)] = True
    return tv_tensors.KeyPoints(out, canvas_size=(h, w)), out_valid


def build_transforms(
    size: Sequence[int] = (384, 640),
    train: bool = False,
    *,
    hflip: bool = False,
    blur: bool = True,
    fill: int = PAD_VALUE,
) -> v2.Compose:
    """Training augmentation or evaluation preprocessing for ``(image, target)`` samples.

    Eval is a plain :class:`Letterbox`. Train letterboxes first (the later steps then
    work on the small model-size image, ~4x cheaper than on a 720p frame), then applies
    a small random affine (rotation +-3 deg, translation 5 %, scale 0.8-1.2), mild colour
    jitter and an occasional Gaussian blur, drops boxes pushed off the image; the dataset then clips lanes
    at its border (``mtl_edge.data.dataset.after_transforms``).

    ``hflip`` adds a random horizontal flip. It mirrors text and arrow glyphs on signs
    (and left/right driving conventions), so use it only for data without such glyphs.
    Colour jitter deliberately leaves hue alone and never permutes channels
    (RandomPhotometricDistort does): the lane type "single yellow" vs "single white" is a
    colour. Hue jitter would also cost ~7x the rest of the jitter on a CPU.
    """
    letterbox = Letterbox(size, fill=fill)
    if not train:
        return v2.Compose([letterbox])
    return v2.Compose([letterbox, *build_augment(hflip=hflip, blur=blur, fill=fill).transforms])


def build_augment(*, hflip: bool = False, blur: bool = True, fill: int = PAD_VALUE) -> v2.Compose:
    """The training steps that follow the letterbox (see :func:`build_transforms`).

    Separate so that training can cache letterboxed samples once and augment the small
    images every epoch.
    """
    steps: list[v2.Transform] = [
        RandomAffineCV2(
            degrees=3.0,
            translate=(0.05, 0.05),
            scale=(0.8, 1.2),
            interpolation=v2.InterpolationMode.BILINEAR,
            fill={tv_tensors.Image: fill, tv_tensors.Mask: 0},
        ),
    ]
    if hflip:
        steps.append(v2.RandomHorizontalFlip(p=0.5))
    steps.append(v2.ColorJitter(brightness=0.25, contrast=0.25, saturation=0.25))
    if blur:
        steps.append(v2.RandomApply([GaussianBlurCV2(kernel_size=5, sigma=(0.1, 1.5))], p=0.2))
    steps.append(SanitizeBoxes())  # lanes are clipped after the transforms (dataset.after_transforms)
    return v2.Compose(steps)
