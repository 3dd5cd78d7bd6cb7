"""Drivable-area masks: reading and writing the PNGs, and rasterizing drivable polygons."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from mtl_edge.data.formats.errors import LabelFormatError, one_of
from mtl_edge.data.labels import DRIVABLE_ALTERNATIVE, DRIVABLE_BACKGROUND, DRIVABLE_DIRECT
from mtl_edge.fileio import atomic_write

AREA_TYPES: tuple[str, ...] = ("direct", "alternative")
_AREA_VALUES = {"direct": DRIVABLE_DIRECT, "alternative": DRIVABLE_ALTERNATIVE}


def read_drivable_mask(path: str | Path, *, coding: Literal["2018", "2020"] = "2018") -> np.ndarray:
    """Load a single-channel drivable-area PNG as uint8 [H, W]: 0 background, 1 direct, 2 alternative.

    ``coding="2020"`` reads the 2020 ``drivable/masks`` PNGs (0 direct, 1 alternative,
    2 background) and remaps them; the default is the 2018 ``drivable_maps/labels`` one.
    """
    if coding not in ("2018", "2020"):
        raise ValueError(f'coding must be "2018" or "2020", got {coding!r}')
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise LabelFormatError(
            f"{path}: cannot read this drivable-area mask (missing, unreadable or not an image). "
            "Check the path; masks are single-channel PNG files."
        )
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim != 2:
        raise LabelFormatError(
            f"{path}: drivable-area mask has {image.shape[2]} channels; expected one channel of class ids "
            "(0 background, 1 direct, 2 alternative). Use the label-id masks, not the colour renderings."
        )
    bad = np.unique(image[image > 2]) if np.issubdtype(image.dtype, np.integer) else np.unique(image)
    if bad.size:
        raise LabelFormatError(
            f"{path}: drivable-area mask holds values {bad[:8].tolist()} ({image.dtype}); expected only 0 background, "
            "1 direct and 2 alternative. Remap the mask or regenerate it."
        )
    mask = image.astype(np.uint8)
    if coding == "2020":
        lut = np.array([DRIVABLE_DIRECT, DRIVABLE_ALTERNATIVE, DRIVABLE_BACKGROUND], dtype=np.uint8)
        mask = lut[mask]
    return mask


def write_drivable_mask(mask: np.ndarray, path: str | Path) -> None:
    """Write a uint8 [H, W] mask of values 0/1/2 as a PNG, atomically."""
    path = Path(path)
    mask = np.asarray(mask)
    if mask.ndim != 2 or mask.dtype != np.uint8 or (mask.size and mask.max() > DRIVABLE_ALTERNATIVE):
        raise ValueError(
            f"{path}: expected a uint8 [H, W] mask with values 0, 1, 2; got {mask.dtype} {mask.shape}. "
            "Build it with rasterize_drivable() or cast a valid mask with .astype(np.uint8)."
        )
    if path.suffix.lower() != ".png":
        raise ValueError(f"{path}: drivable masks are written as PNG; give the file a .png suffix.")
    ok, encoded = cv2.imencode(".png", mask)
    if not ok:
        raise OSError(f"{path}: OpenCV could not encode the mask as PNG.")
    atomic_write(path, lambda f: f.write(encoded.tobytes()), text=False)


def rasterize_drivable(polygons: Sequence[tuple[np.ndarray, str]], height: int, width: int) -> np.ndarray:
    """Fill (vertices, areaType) polygons into a uint8 [H, W] mask; direct areas are drawn over alternative ones."""
    mask = np.zeros((height, width), dtype=np.uint8)
    for area in ("alternative", "direct"):
        for points, kind in polygons:
            if kind not in AREA_TYPES:
                raise ValueError(f"unknown drivable area type {kind!r}; use one of {one_of(AREA_TYPES)}.")
            if kind == area:
                pts = np.round(np.asarray(points, dtype=np.float64)).astype(np.int32).reshape(-1, 1, 2)
                # One call per polygon: fillPoly with several contours leaves their overlap empty.
                cv2.fillPoly(mask, [pts], _AREA_VALUES[area])
    return mask
