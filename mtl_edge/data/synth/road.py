"""Road geometry: a centre reference line given by curvature over arc length, and the
lane-marking lines laid at fixed lateral offsets from it.

Arc length ``s`` is absolute along the road, so a clip keeps dash phases, signs and
vehicles fixed in the world while the ego car drives forward.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Arc-length step (m) of the sampled road frame.
ROAD_STEP = 0.5
#: How far ahead (m) the road is built and drawn.
ROAD_AHEAD = 260.0
#: Heading (rad) past which the road is no longer drawn.
MAX_HEADING = 1.0


@dataclass(frozen=True)
class MarkingLine:
    """One painted lane line at a fixed lateral offset from the reference line."""

    offset: float
    lane_type: str  # a labels.LANE_TYPES value
    style: str  # "solid" | "dashed"
    color: tuple[int, int, int]  # RGB of the paint
    width: float = 0.15
    dash: float = 3.0
    gap: float = 9.0
    #: Dash phase (m), so neighbouring dashed lines don't line up perfectly.
    phase: float = 0.0

    @property
    def is_double(self) -> bool:
        return self.lane_type.startswith("double")


@dataclass
class Road:
    """Curvature profile plus lane layout. Offsets grow to the right; line 0 is leftmost."""

    knots_s: np.ndarray
    knots_curvature: np.ndarray
    lane_width: float
    lines: list[MarkingLine]
    shoulder: float = 1.0

    @property
    def n_lanes(self) -> int:
        return len(self.lines) - 1

    @property
    def left_edge(self) -> float:
        return self.lines[0].offset - self.shoulder

    @property
    def right_edge(self) -> float:
        return self.lines[-1].offset + self.shoulder

    def lane_centre(self, lane: int) -> float:
        return 0.5 * (self.lines[lane].offset + self.lines[lane + 1].offset)

    def curvature(self, s: np.ndarray) -> np.ndarray:
        return np.interp(s, self.knots_s, self.knots_curvature)

    def frame(self, ego_s: float, ego_offset: float, ego_yaw: float) -> RoadFrame:
        """The road as seen from an ego car at arc ``ego_s`` and lateral ``ego_offset``."""
        s = ego_s + np.arange(-4.0, ROAD_AHEAD, ROAD_STEP)
        k = self.curvature(s)
        # Heading relative to the ego car: integral of curvature from ego_s, minus its yaw.
        heading = np.concatenate([[0.0], np.cumsum(0.5 * (k[1:] + k[:-1]) * ROAD_STEP)])
        i0 = int(round(4.0 / ROAD_STEP))
        heading = heading - heading[i0] - ego_yaw
        dx = np.sin(heading) * ROAD_STEP
        dz = np.cos(heading) * ROAD_STEP
        x = np.concatenate([[0.0], np.cumsum(0.5 * (dx[1:] + dx[:-1]))])
        z = np.concatenate([[0.0], np.cumsum(0.5 * (dz[1:] + dz[:-1]))])
        x, z = x - x[i0] - ego_offset * np.cos(ego_yaw), z - z[i0] + ego_offset * np.sin(ego_yaw)
        # Stop where the road has turned sideways: beyond that it only folds over itself.
        turned = np.nonzero(np.abs(heading[i0:]) > MAX_HEADING)[0]
        end = i0 + int(turned[0]) if len(turned) else len(s)
        s, x, z, heading = s[:end], x[:end], z[:end], heading[:end]
        return RoadFrame(s=s, centre=np.stack([x, z], 1), normal=np.stack([np.cos(heading), -np.sin(heading)], 1))


@dataclass
class RoadFrame:
    """The reference line sampled in the ego frame (x right, z forward)."""

    s: np.ndarray
    centre: np.ndarray  # [N, 2] (x, z)
    normal: np.ndarray  # [N, 2] unit, pointing right
    _cache: dict = field(default_factory=dict, repr=False)

    def ground(
        self, s: np.ndarray, offset: np.ndarray | float, height: np.ndarray | float = 0.0, mount_height: float = 1.4
    ) -> np.ndarray:
        """Ego-frame 3D points [..., 3] at arc ``s``, lateral ``offset`` and ``height`` above the road."""
        s = np.asarray(s, dtype=np.float64)
        cx = np.interp(s, self.s, self.centre[:, 0])
        cz = np.interp(s, self.s, self.centre[:, 1])
        nx = np.interp(s, self.s, self.normal[:, 0])
        nz = np.interp(s, self.s, self.normal[:, 1])
        offset = np.broadcast_to(offset, s.shape)
        height = np.broadcast_to(height, s.shape)
        return np.stack([cx + offset * nx, mount_height - height, cz + offset * nz], axis=-1)
