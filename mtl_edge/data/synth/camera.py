"""Pinhole dash-cam model: ego-frame points to pixels, and the ground depth seen per pixel.

Ego frame: x to the right, y down, z forward, origin at the camera; the road surface
is the plane y = mount_height. The camera is pitched down by ``pitch`` and rolled by
``roll`` (radians) relative to that level frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Horizontal field of view of the default camera, about 65 degrees (a common dash cam).
FOCAL_PER_WIDTH = 0.785
#: Points nearer than this (metres, along the optical axis) are not projected.
NEAR_CLIP = 0.5


@dataclass(frozen=True)
class Camera:
    """Intrinsics and mounting of the forward camera."""

    width: int
    height: int
    focal: float
    mount_height: float = 1.4
    pitch: float = 0.03
    roll: float = 0.0
    #: Principal point offset from the image centre, pixels (a little off-centre, as in real cams).
    horizon_offset: float = 0.0

    @classmethod
    def for_size(cls, width: int, height: int, **kw: float) -> Camera:
        return cls(width=width, height=height, focal=FOCAL_PER_WIDTH * width, **kw)

    @property
    def principal(self) -> tuple[float, float]:
        return self.width / 2.0, self.height / 2.0 + self.horizon_offset

    def to_camera(self, pts: np.ndarray) -> np.ndarray:
        """Rotate ego-frame points [..., 3] into the pitched camera frame."""
        c, s = np.cos(self.pitch), np.sin(self.pitch)
        x, y, z = pts[..., 0], pts[..., 1], pts[..., 2]
        return np.stack([x, y * c - z * s, y * s + z * c], axis=-1)

    def project(self, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pixel coordinates [..., 2] and optical-axis depth [...] of ego-frame points.

        Points behind NEAR_CLIP get depth <= NEAR_CLIP and meaningless pixels: callers
        must mask them with ``depth > NEAR_CLIP``.
        """
        cam = self.to_camera(pts)
        depth = cam[..., 2]
        safe = np.where(depth > NEAR_CLIP, depth, NEAR_CLIP)
        u0 = self.focal * cam[..., 0] / safe
        v0 = self.focal * cam[..., 1] / safe
        cr, sr = np.cos(self.roll), np.sin(self.roll)
        cx, cy = self.principal
        uv = np.stack([cx + u0 * cr - v0 * sr, cy + u0 * sr + v0 * cr], axis=-1)
        return uv, depth

    def rays(self, step: int = 1) -> np.ndarray:
        """Level-frame ray directions [H/step, W/step, 3] through pixel centres."""
        cx, cy = self.principal
        u = (np.arange(0, self.width, step, dtype=np.float32) + step / 2.0) - cx
        v = (np.arange(0, self.height, step, dtype=np.float32) + step / 2.0) - cy
        uu, vv = np.meshgrid(u, v)
        cr, sr = np.cos(self.roll), np.sin(self.roll)
        u0, v0 = uu * cr + vv * sr, -uu * sr + vv * cr  # undo roll
        c, s = np.cos(self.pitch), np.sin(self.pitch)
        yc, zc = v0 / self.focal, np.ones_like(u0)
        # Inverse of the pitch rotation in to_camera.
        return np.stack([u0 / self.focal, yc * c + zc * s, -yc * s + zc * c], axis=-1)

    def ground_depth(self, step: int = 4) -> np.ndarray:
        """Forward distance (m) to the road plane seen at each pixel; inf at and above the horizon."""
        d = self.rays(step)
        dy = d[..., 1]
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(dy > 1e-6, self.mount_height / dy, np.inf)
        depth = (t * d[..., 2]).astype(np.float32)
        if step == 1:
            return depth
        import cv2  # local: keeps this module importable without OpenCV for geometry-only use

        finite = np.where(np.isfinite(depth), depth, 1e6).astype(np.float32)
        full = cv2.resize(finite, (self.width, self.height), interpolation=cv2.INTER_LINEAR)
        return np.where(full > 5e5, np.inf, full).astype(np.float32)
