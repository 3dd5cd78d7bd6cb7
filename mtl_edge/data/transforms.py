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
from torch.utils._pytree import tree_flatten, tree_unflatten
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from mtl_edge.data.cv2_kernels import GaussianBlurCV2, RandomAffineCV2

#: (scale, pad_x, pad_y): source pixel p maps to ``p * scale + (pad_x, pad_y)``.
LetterboxParams = tuple[float, int, int]

#: Target keys that hold one entry per box and must be filtered along with the boxes.
BOX_FIELDS: tuple[str, ...] = ("labels", "head", "ignore")

#: Grey the runtime pads letterboxed frames with (the YOLO convention).
PAD_VALUE = 114


def letterbox_params(src_hw: Sequence[int], dst_hw: Sequence[int]) -> LetterboxParams:
    """Scale and centred padding that fit an image of ``src_hw`` into ``dst_hw`` keeping aspect ratio.

    The scale is ``min(H / h, W / w)``; the resized image is ``round(h * scale) x
    round(w * scale)`` and the left/top padding is half the remaining space (the odd pixel
    goes right/bottom). Labels are mapped with exactly this scale and offset, so
    :func:`unletterbox_points` inverts the mapping exactly.
    """
    (h, w), (dst_h, dst_w) = (int(v) for v in src_hw), (int(v) for v in dst_hw)
    if min(h, w, dst_h, dst_w) <= 0:
        raise ValueError(f"letterbox sizes must be positive, got source {tuple(src_hw)} and target {tuple(dst_hw)}")
    scale = min(dst_h / h, dst_w / w)
    new_h, new_w = _resized_hw((h, w), scale, (dst_h, dst_w))
    return scale, (dst_w - new_w) // 2, (dst_h - new_h) // 2


def letterbox_image(
    image: np.ndarray, dst_hw: Sequence[int], fill: int = PAD_VALUE
) -> tuple[np.ndarray, LetterboxParams]:
    """Letterbox a uint8 HWC frame with OpenCV (the runtime's path); same geometry as :class:`Letterbox`."""
    import cv2

    params = letterbox_params(image.shape[:2], dst_hw)
    scale = params[0]
    new_h, new_w = _resized_hw(image.shape[:2], scale, tuple(int(v) for v in dst_hw))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return _padded(cv2.resize(image, (new_w, new_h), interpolation=interp), dst_hw, params, fill), params


def _padded(resized: np.ndarray, dst_hw: Sequence[int], params: LetterboxParams, fill: int) -> np.ndarray:
    """``resized`` placed at the letterbox offset on a ``dst_hw`` canvas of ``fill``."""
    _, pad_x, pad_y = params
    out = np.full((int(dst_hw[0]), int(dst_hw[1]), resized.shape[2]), fill, np.uint8)
    out[pad_y : pad_y + resized.shape[0], pad_x : pad_x + resized.shape[1]] = resized
    return out


#: FFmpeg colour tags (AVColorSpace, AVColorRange) that mean BT.601 limited range, the
#: conversion OpenCV's I420 path applies: unspecified, BT470BG or SMPTE170M; unspecified or MPEG.
_BT601_SPACES, _LIMITED_RANGES = (2, 5, 6), (0, 1)


def letterbox_video_frame(
    frame: Any, dst_hw: Sequence[int], fill: int = PAD_VALUE
) -> tuple[np.ndarray, LetterboxParams]:
    """Letterbox a decoder's frame (a PyAV ``VideoFrame``) to RGB uint8, as :func:`letterbox_image`
    does the RGB frame.

    A shrunk BT.601 yuv420p frame (what H.264 files and streams carry) is scaled in YUV
    (area averaging of the luma and chroma planes) and converted to RGB at the small size:
    full-resolution RGB is never made. Against the frame as rendered before encoding, that
    is closer than FFmpeg's default RGB conversion (which runs about one grey level dark)
    and it takes half the time. Other frames are converted to RGB first.
    """
    params = letterbox_params((frame.height, frame.width), dst_hw)
    scale = params[0]
    new_h, new_w = _resized_hw((frame.height, frame.width), scale, tuple(int(v) for v in dst_hw))
    plain_i420 = (
        frame.format.name == "yuv420p"
        and getattr(frame, "colorspace", None) in _BT601_SPACES  # a PyAV without colour tags: RGB path
        and getattr(frame, "color_range", None) in _LIMITED_RANGES
        and frame.height % 2 == frame.width % 2 == new_h % 2 == new_w % 2 == 0
    )
    if scale >= 1 or not plain_i420:
        return letterbox_image(frame.to_ndarray(format="rgb24"), dst_hw, fill)
    import cv2

    h, w = frame.height, frame.width
    planes = frame.to_ndarray(format="yuv420p").reshape(-1)  # Y [h, w], then U and V [h/2, w/2]
    y, u, v = planes[: h * w], planes[h * w : h * w * 5 // 4], planes[h * w * 5 // 4 :]
    scaled = [
        cv2.resize(plane.reshape(ph, pw), (nw, nh), interpolation=cv2.INTER_AREA).reshape(-1)
        for plane, (ph, pw), (nh, nw) in (
            (y, (h, w), (new_h, new_w)),
            (u, (h // 2, w // 2), (new_h // 2, new_w // 2)),
            (v, (h // 2, w // 2), (new_h // 2, new_w // 2)),
        )
    ]
    i420 = np.concatenate(scaled).reshape(new_h * 3 // 2, new_w)
    return _padded(cv2.cvtColor(i420, cv2.COLOR_YUV2RGB_I420), dst_hw, params, fill), params


def _resized_hw(src_hw: tuple[int, int], scale: float, dst_hw: tuple[int, int]) -> tuple[int, int]:
    return (
        max(1, min(dst_hw[0], round(src_hw[0] * scale))),
        max(1, min(dst_hw[1], round(src_hw[1] * scale))),
    )


def letterbox_points(xy: Any, params: LetterboxParams) -> Any:
    """Map source-image points [..., 2] (numpy or torch) into the letterboxed image."""
    scale, pad_x, pad_y = params
    return xy * scale + _offset(xy, pad_x, pad_y)


def unletterbox_points(xy: Any, params: LetterboxParams) -> Any:
    """Map letterboxed-image points [..., 2] (numpy or torch) back to source-image pixels."""
    scale, pad_x, pad_y = params
    return (xy - _offset(xy, pad_x, pad_y)) / scale


def unletterbox_boxes(xyxy: Any, params: LetterboxParams) -> Any:
    """Map letterboxed XYXY boxes [..., 4] back to source-image pixels."""
    shape = xyxy.shape
    return unletterbox_points(xyxy.reshape(*shape[:-1], 2, 2), params).reshape(shape)


def _offset(xy: Any, pad_x: int, pad_y: int) -> Any:
    if isinstance(xy, torch.Tensor):
        return torch.tensor([pad_x, pad_y], dtype=xy.dtype, device=xy.device)
    return np.asarray([pad_x, pad_y], dtype=np.float64)


class Letterbox(v2.Transform):
    """Resize keeping aspect ratio, then pad centred to exactly ``size`` (H, W).

    Images are padded with ``fill``, masks with 0 (background); boxes and keypoints are
    scaled and shifted with :func:`letterbox_params`, whose result callers keep to map
    predictions back with :func:`unletterbox_points`. The image itself is resized to
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
        new_h, new_w = _resized_hw(src_hw, scale, self.size)
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


class MarkOutsidePoints(v2.Transform):
    """Clear ``target[valid_key]`` for keypoints that a geometric transform pushed off the image.

    Points are kept where they are (never clamped), so a lane leaving the frame keeps
    its true direction; only its per-point validity changes.
    """

    def __init__(self, points_key: str = "lanes", valid_key: str = "lane_valid") -> None:
        super().__init__()
        self.points_key = points_key
        self.valid_key = valid_key

    def forward(self, *inputs: Any) -> Any:
        sample = inputs if len(inputs) > 1 else inputs[0]
        flat, spec = tree_flatten(sample)
        target = _find_target(sample, self.points_key)
        if target is None or self.valid_key not in target:
            return sample
        valid = target[self.valid_key] & points_inside(target[self.points_key])
        # Swap the leaf for the new validity tensor without mutating the caller's dict.
        flat = [valid if x is target[self.valid_key] else x for x in flat]
        return tree_unflatten(flat, spec)


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
    jitter and an occasional Gaussian blur, drops boxes pushed off the image and marks
    lane points pushed off it invalid.

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
    steps += [SanitizeBoxes(), MarkOutsidePoints()]
    return v2.Compose(steps)
