"""Draw labels over an image, for people to check them.

The primitives (boxes, polylines, mask overlays) live in :mod:`mtl_edge.deploy.draw`,
which also draws the runtime's results; ``draw_frame`` composes them for one labelled frame,
asking each head's spec (:mod:`mtl_edge.data.tasks`) how its labels look.
"""

from __future__ import annotations

import numpy as np

from mtl_edge.deploy.draw import DRIVABLE_COLOURS, OTHER_COLOUR, SIGN_COLOUR, VEHICLE_COLOURS, draw_box, overlay_mask

from .labels import FrameLabels
from .tasks import SPECS, BoxStyle, Labels, lane_colour

IGNORE_COLOUR = (150, 150, 150)

__all__ = ["DRIVABLE_COLOURS", "SIGN_COLOUR", "VEHICLE_COLOURS", "draw_frame", "lane_colour", "overlay_mask"]


def draw_frame(
    image: np.ndarray, frame: FrameLabels, mask: np.ndarray | None = None, labels: Labels | None = None
) -> np.ndarray:
    """A copy of the RGB ``image`` with the frame's labels drawn on it: each head's, masks under lines under boxes.

    ``mask`` is the frame's label mask (e.g. drivable area), if it has one; ``labels`` the frame
    as its dataset reads it (mask file, category table), instead of ``frame`` and ``mask``.
    Ignore regions are dashed grey; boxes of no head are thin grey.
    """
    out = image.copy()
    labels = labels if labels is not None else Labels(frame, mask=mask)
    specs = sorted(SPECS.values(), key=lambda spec: spec.draw_order)
    for spec in specs:
        spec.draw_labels(out, labels)
    box_specs = [spec for spec in specs if spec.boxes]
    for obj in sorted(labels.frame.objects, key=lambda o: -o.box.height * o.box.width):  # small ones on top
        b = obj.box
        owner, got = None, None
        for spec in box_specs:
            got = spec.box_label(obj, labels)
            if got is not None:
                owner = spec
                break
        style: BoxStyle = owner.box_style(obj) if owner is not None else (OTHER_COLOUR, 1)
        flags = "".join(f for f, on in (("o", obj.occluded), ("t", obj.truncated)) if on)
        name = owner.classes[got[0]] if owner is not None and got is not None and got[0] >= 0 else obj.category
        text = f"{name}{' ' + flags if flags else ''}"
        if got is not None and got[1]:
            draw_box(out, (b.x1, b.y1, b.x2, b.y2), "", IGNORE_COLOUR, dashed=True)
        else:
            draw_box(out, (b.x1, b.y1, b.x2, b.y2), text, style[0], thickness=style[1])
    return out
