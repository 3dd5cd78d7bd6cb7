"""Draw a runtime FrameResult over its frame: mask overlays, polylines and captioned boxes (OpenCV).

The primitives are shared with :mod:`mtl_edge.data.draw`, which draws labelled frames.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

#: RGB colours. Vehicle classes have their own; every sign type shares one, so its name carries the class.
VEHICLE_COLOURS = {"car": (0, 200, 255), "truck": (255, 170, 0), "bus": (255, 80, 200), "motorcycle": (120, 255, 60)}
#: Box colours by class name, for any detection head whose classes have one.
LABEL_COLOURS = VEHICLE_COLOURS
SIGN_COLOUR = (255, 40, 40)
OTHER_COLOUR = (200, 200, 200)
#: (colour, line width) of the boxes of a head whose classes have no colour of their own.
HEAD_BOX_STYLES = {"signs": (SIGN_COLOUR, 1)}
#: Drivable-mask values (1 direct, 2 alternative: the BDD100K ``drivable_maps`` convention) -> RGB.
DRIVABLE_COLOURS = {1: (60, 220, 60), 2: (60, 120, 255)}
#: Mask colours by class id, for any segmentation head.
MASK_COLOURS = DRIVABLE_COLOURS


def overlay_mask(
    image: np.ndarray, mask: np.ndarray, colours: dict[int, tuple[int, int, int]], alpha: float = 0.35
) -> np.ndarray:
    """Tint the pixels of each mask value with its colour, in place; returns ``image``.

    One blend of the whole frame with a colour lookup of the mask, copied back where the
    mask has a colour: a few ms at 1280x720 (per-value boolean indexing took 40).
    """
    mask = np.ascontiguousarray(mask, np.uint8)  # class ids (< 256) of any integer type
    if mask.shape[:2] != image.shape[:2]:
        mask = cv2.resize(mask, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_NEAREST)
    lut = np.zeros((256, 1, 3), np.uint8)  # mask value -> colour
    tinted = np.zeros(256, np.uint8)  # mask value -> 255 where it has a colour
    for value, colour in colours.items():
        lut[value, 0], tinted[value] = colour, 255
    where = cv2.LUT(mask, tinted)
    rows = np.flatnonzero(where.max(1))
    if not len(rows):
        return image
    band = slice(rows[0], rows[-1] + 1)  # only the rows with a tinted pixel (the road: the lower half)
    part, part_mask = image[band], mask[band]
    colour_image = cv2.LUT(cv2.merge([part_mask, part_mask, part_mask]), lut)
    cv2.copyTo(cv2.addWeighted(part, 1 - alpha, colour_image, alpha, 0.0), where[band], part)
    return image


def draw_polyline(
    image: np.ndarray, points: np.ndarray, colour: tuple[int, int, int], thickness: int = 2, dashed: bool = False
) -> None:
    pts = np.round(np.asarray(points, np.float64) * 16).astype(np.int32)
    if len(pts) < 2:
        return
    if not dashed:
        cv2.polylines(image, [pts.reshape(-1, 1, 2)], False, colour, thickness, cv2.LINE_AA, 4)
        return
    for i, (a, b) in enumerate(zip(pts[:-1], pts[1:])):
        if i % 2 == 0:
            cv2.line(image, tuple(map(int, a)), tuple(map(int, b)), colour, thickness, cv2.LINE_AA, 4)
    for p in pts:
        cv2.circle(image, tuple(map(int, p)), thickness * 16, colour, -1, cv2.LINE_AA, 4)


def draw_box(
    image: np.ndarray,
    box: tuple[float, float, float, float],
    text: str,
    colour: tuple[int, int, int],
    dashed: bool = False,
    thickness: int = 2,
) -> None:
    """A box with a filled caption tab above it (below, when at the top edge)."""
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    if dashed:
        for (ax, ay), (bx, by) in [
            ((x1, y1), (x2, y1)),
            ((x2, y1), (x2, y2)),
            ((x2, y2), (x1, y2)),
            ((x1, y2), (x1, y1)),
        ]:
            n = max(1, int(np.hypot(bx - ax, by - ay) // 6))
            for k in range(0, n, 2):
                p = (int(ax + (bx - ax) * k / n), int(ay + (by - ay) * k / n))
                q = (int(ax + (bx - ax) * min(k + 1, n) / n), int(ay + (by - ay) * min(k + 1, n) / n))
                cv2.line(image, p, q, colour, 1, cv2.LINE_AA)
    else:
        cv2.rectangle(image, (x1, y1), (x2, y2), colour, thickness, cv2.LINE_AA)
    if not text:
        return
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, 0.42
    (tw, th), base = cv2.getTextSize(text, font, scale, 1)
    ty = y1 - 3 if y1 - th - base - 3 >= 0 else y2 + th + 3
    cv2.rectangle(image, (x1, ty - th - 2), (x1 + tw + 4, ty + base - 1), colour, -1)
    dark = sum(colour) > 380
    cv2.putText(image, text, (x1 + 2, ty - 1), font, scale, (0, 0, 0) if dark else (255, 255, 255), 1, cv2.LINE_AA)


def draw_result(image: np.ndarray, result: Any, hud: str | None = None) -> np.ndarray:
    """A copy of the RGB ``image`` with a runtime FrameResult drawn on it, and an optional HUD line.

    Each head is drawn by its task: masks first, then lines, then boxes.
    """
    out = image.copy()
    for name, head in sorted(result.heads.items(), key=lambda item: item[1].task.draw_order):
        if head.value is not None:
            head.task.draw(out, name, head.value)
    if hud:
        cv2.rectangle(out, (0, 0), (out.shape[1], 22), (0, 0, 0), -1)
        cv2.putText(out, hud, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return out
