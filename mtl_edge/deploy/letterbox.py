"""Letterbox and un-letterbox, both directions in one place, with numpy and OpenCV only.

A source frame is resized keeping its aspect ratio and padded centred to the model size;
``LetterboxParams`` records the mapping so that predictions map back exactly. Training's
torchvision ``Letterbox`` transform (:mod:`mtl_edge.data.transforms`) uses the same geometry.

Coordinates are continuous pixels: pixel column ``i`` covers ``[i, i + 1)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

#: (scale, pad_x, pad_y): source pixel p maps to ``p * scale + (pad_x, pad_y)``.
LetterboxParams = tuple[float, int, int]

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
    new_h, new_w = resized_hw((h, w), scale, (dst_h, dst_w))
    return scale, (dst_w - new_w) // 2, (dst_h - new_h) // 2


def letterbox_image(
    image: np.ndarray, dst_hw: Sequence[int], fill: int = PAD_VALUE
) -> tuple[np.ndarray, LetterboxParams]:
    """Letterbox a uint8 HWC frame with OpenCV (the runtime's path); same geometry as training's ``Letterbox``."""
    import cv2

    params = letterbox_params(image.shape[:2], dst_hw)
    scale = params[0]
    new_h, new_w = resized_hw(image.shape[:2], scale, tuple(int(v) for v in dst_hw))
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
    new_h, new_w = resized_hw((frame.height, frame.width), scale, tuple(int(v) for v in dst_hw))
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


def resized_hw(src_hw: tuple[int, int], scale: float, dst_hw: tuple[int, int]) -> tuple[int, int]:
    """The size of the image inside the letterbox: ``src_hw`` times ``scale``, within ``dst_hw``."""
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
    """The padding as an array of ``xy``'s kind: a torch tensor (same dtype and device) or numpy."""
    if hasattr(xy, "new_tensor"):  # a torch.Tensor, recognised without importing torch
        return xy.new_tensor([pad_x, pad_y])
    return np.asarray([pad_x, pad_y], dtype=np.float64)
