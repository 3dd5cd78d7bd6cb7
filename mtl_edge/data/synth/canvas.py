"""Per-frame drawing buffers shared by the road, object and lighting passes."""

from __future__ import annotations

import cv2
import numpy as np

from .camera import Camera

#: Sub-pixel bits for OpenCV drawing (coordinates are multiplied by 2**SHIFT).
SHIFT = 4
#: Id of unlabelled occluders (poles, trees, buildings) in the id buffer.
OCCLUDER = np.iinfo(np.uint16).max


def to_fixed(uv: np.ndarray) -> np.ndarray:
    """Pixel coordinates as OpenCV fixed-point int32 points."""
    return np.round(np.asarray(uv, np.float64) * (1 << SHIFT)).astype(np.int32).reshape(-1, 1, 2)


class Canvas:
    """The colour image plus the id, depth and light buffers a frame is drawn into."""

    def __init__(self, camera: Camera):
        self.camera = camera
        h, w = camera.height, camera.width
        self.image = np.zeros((h, w, 3), np.uint8)  # RGB albedo, lit later
        self.ids = np.zeros((h, w), np.uint16)  # 0 = road/sky, 1.. labelled objects, OCCLUDER
        self.depth = camera.ground_depth(step=4)  # metres; inf for sky
        self.emissive: list[tuple[np.ndarray, tuple[float, float, float]]] = []  # (fixed polygon, rgb 0..1)
        self.retro = np.zeros((h, w), bool)  # retro-reflective faces (signs)

    def fill(self, uv: np.ndarray, colour: tuple[int, ...]) -> None:
        """Anti-aliased fill of one polygon given in pixels."""
        cv2.fillPoly(self.image, [to_fixed(uv)], tuple(int(c) for c in colour), cv2.LINE_AA, SHIFT)

    def stamp(
        self, polygons: list[np.ndarray], object_id: int, depth: float
    ) -> tuple[tuple[int, int, int, int], np.ndarray] | None:
        """Mark the union of ``polygons`` as ``object_id`` at ``depth``.

        Returns the region (x0, y0, x1, y1) and the object's full silhouette mask in it,
        drawn before any nearer object can cover it, or None when it is off-image.
        """
        pts = np.concatenate([p.reshape(-1, 2) for p in polygons])
        h, w = self.ids.shape
        x0, y0 = max(int(np.floor(pts[:, 0].min())), 0), max(int(np.floor(pts[:, 1].min())), 0)
        x1, y1 = min(int(np.ceil(pts[:, 0].max())) + 1, w), min(int(np.ceil(pts[:, 1].max())) + 1, h)
        if x1 <= x0 or y1 <= y0:
            return None
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        for p in polygons:  # one call each: a single fillPoly call fills overlaps even-odd, leaving holes
            cv2.fillPoly(mask, [to_fixed(p.reshape(-1, 2) - [x0, y0])], 1, cv2.LINE_8, SHIFT)
        region = mask.astype(bool)
        self.ids[y0:y1, x0:x1][region] = object_id
        self.depth[y0:y1, x0:x1][region] = depth
        return (x0, y0, x1, y1), region
