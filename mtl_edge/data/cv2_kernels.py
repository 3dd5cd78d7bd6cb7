"""OpenCV pixel kernels behind torchvision's random affine and Gaussian blur.

Training augments every sample on the CPU each epoch. On a 2-core machine
torchvision's tensor kernels for these two steps (``grid_sample`` over a float copy of
the image, a grouped ``conv2d``) made most of the data work; with OpenCV's
``warpAffine`` and ``GaussianBlur`` on uint8 the same augmentation takes well under
two thirds of the time (docs/experiments.md).

Only the pixels change hands. The random parameters still come from torchvision (so
seeding is unchanged) and boxes and keypoints still go through torchvision's kernels,
which share the geometry used here: pixel column ``i`` covers ``[i, i + 1)`` and the
affine centre is the image centre. The two torchvision helpers imported below are
private (``_get_inverse_affine_matrix``, ``_get_fill``); the tests compare these
kernels' pixels with torchvision's, so a change there shows up as a failure.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.functional import _get_inverse_affine_matrix
from torchvision.transforms.v2._utils import _get_fill


def inverse_affine_matrix(
    hw: tuple[int, int], angle: float, translate: list[float], scale: float, shear: list[float]
) -> np.ndarray:
    """The 2x3 matrix that maps output pixel indices to input pixel indices.

    torchvision's own matrix for ``affine`` about the image centre, moved from centred
    coordinates (what its sampling grid uses) to the pixel indices OpenCV takes.
    """
    h, w = hw
    inverse = np.array(_get_inverse_affine_matrix([0.0, 0.0], angle, list(translate), scale, list(shear)))
    a, t = inverse.reshape(2, 3)[:, :2], inverse.reshape(2, 3)[:, 2]
    centre = np.array([(w - 1) * 0.5, (h - 1) * 0.5])
    return np.concatenate([a, (t + centre - a @ centre)[:, None]], axis=1)


def _hwc(image: torch.Tensor) -> np.ndarray:
    """A [C, H, W] tensor as the contiguous [H, W, C] array OpenCV takes."""
    return np.ascontiguousarray(image.permute(1, 2, 0).numpy())


def _chw(pixels: np.ndarray) -> torch.Tensor:
    """OpenCV's [H, W, C] result (or [H, W], where it dropped a single channel) as [C, H, W]."""
    return torch.from_numpy(pixels if pixels.ndim == 3 else pixels[:, :, None]).permute(2, 0, 1).contiguous()


def warp_affine(image: torch.Tensor, matrix: np.ndarray, fill: float | Sequence[float], nearest: bool) -> torch.Tensor:
    """Warp a uint8 [C, H, W] or [H, W] tensor with an inverse matrix from :func:`inverse_affine_matrix`."""
    if image.dtype != torch.uint8:
        raise TypeError(f"warp_affine takes uint8 pixels, got {image.dtype}")
    chw = image.ndim == 3
    pixels = _hwc(image) if chw else image.numpy()
    h, w = pixels.shape[:2]
    flags = (cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR) | cv2.WARP_INVERSE_MAP
    border = (*fill, 0, 0, 0)[:4] if isinstance(fill, Sequence) else (fill,) * 4  # one value, or one per channel
    out = cv2.warpAffine(pixels, matrix, (w, h), flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=border)
    return _chw(out) if chw else torch.from_numpy(out)


class RandomAffineCV2(v2.RandomAffine):
    """``v2.RandomAffine`` whose image and mask pixels are warped by OpenCV.

    Boxes, keypoints and anything else go through torchvision as before. Only the
    default centre (the image centre) and the bilinear image interpolation are supported.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.center is not None:
            raise ValueError("RandomAffineCV2 rotates about the image centre only: leave center unset")
        if self.interpolation != v2.InterpolationMode.BILINEAR:
            raise ValueError("RandomAffineCV2 interpolates images bilinearly only")

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        if not isinstance(inpt, (tv_tensors.Image, tv_tensors.Mask)) or inpt.dtype != torch.uint8:
            return super().transform(inpt, params)
        fill = _get_fill(self._fill, type(inpt))
        matrix = inverse_affine_matrix(
            tuple(inpt.shape[-2:]), params["angle"], params["translate"], params["scale"], params["shear"]
        )
        nearest = isinstance(inpt, tv_tensors.Mask)
        return tv_tensors.wrap(warp_affine(inpt.as_subclass(torch.Tensor), matrix, fill or 0, nearest), like=inpt)


class GaussianBlurCV2(v2.GaussianBlur):
    """``v2.GaussianBlur`` whose uint8 images are blurred by OpenCV (the same kernel, reflect-101 edges)."""

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        if not isinstance(inpt, tv_tensors.Image) or inpt.dtype != torch.uint8 or inpt.ndim != 3:
            return super().transform(inpt, params)
        pixels = _hwc(inpt.as_subclass(torch.Tensor))
        kx, ky = self.kernel_size
        sx, sy = params["sigma"]
        out = cv2.GaussianBlur(pixels, (kx, ky), sigmaX=sx, sigmaY=sy, borderType=cv2.BORDER_REFLECT_101)
        return tv_tensors.wrap(_chw(out), like=inpt)
