"""Draw labels over an image, for people to check them.

The primitives (boxes, polylines, mask overlays) live in :mod:`mtl_edge.deploy.draw`,
which also draws the runtime's results; ``draw_frame`` composes them for one labelled frame.
"""

from __future__ import annotations

import numpy as np

from mtl_edge.deploy.draw import (
    DRIVABLE_COLOURS,
    OTHER_COLOUR,
    SIGN_COLOUR,
    VEHICLE_COLOURS,
    draw_box,
    draw_polyline,
    overlay_mask,
)

from .labels import VEHICLE_CLASSES, FrameLabels

IGNORE_COLOUR = (150, 150, 150)
LANE_COLOURS = {"white": (0, 255, 255), "yellow": (255, 120, 0), "other": (255, 0, 255)}

__all__ = ["DRIVABLE_COLOURS", "SIGN_COLOUR", "VEHICLE_COLOURS", "draw_frame", "lane_colour", "overlay_mask"]


def lane_colour(lane_type: str) -> tuple[int, int, int]:
    key = "white" if "white" in lane_type else "yellow" if "yellow" in lane_type else "other"
    return LANE_COLOURS[key]


def draw_frame(image: np.ndarray, frame: FrameLabels, drivable: np.ndarray | None = None) -> np.ndarray:
    """A copy of the RGB ``image`` with the frame's drivable area, lanes and boxes drawn on it."""
    out = image.copy()
    if drivable is not None:
        overlay_mask(out, drivable, DRIVABLE_COLOURS)
    for lane in frame.lanes:
        thick = 3 if lane.lane_type.startswith("double") else 2
        draw_polyline(out, lane.points, lane_colour(lane.lane_type), thick, dashed=lane.style == "dashed")
    for obj in sorted(frame.objects, key=lambda o: -o.box.height * o.box.width):  # small ones on top
        b = obj.box
        name = obj.sign_type or obj.category
        colour = SIGN_COLOUR if obj.category == "traffic sign" else VEHICLE_COLOURS.get(obj.category, OTHER_COLOUR)
        flags = "".join(f for f, on in (("o", obj.occluded), ("t", obj.truncated)) if on)
        text = f"{name}{' ' + flags if flags else ''}"
        if obj.ignore:
            draw_box(out, (b.x1, b.y1, b.x2, b.y2), "", IGNORE_COLOUR, dashed=True)
        else:
            draw_box(
                out, (b.x1, b.y1, b.x2, b.y2), text, colour, thickness=1 if obj.category not in VEHICLE_CLASSES else 2
            )
    return out
