"""Which BDD100K lane labels become lane-line targets, and how (pure numpy, no torch).

BDD100K lane files (2020 ``lane/polygons``) label every painted line on its own: a double
line is two polylines, crosswalks and stop lines are ``laneDirection: vertical``, and road
curbs share the lane categories. Slot targets want one line per marking, so
:func:`apply_lane_rules` drops what is not a lane marking, merges the two paint lines of a
double marking into their centre line and orients every polyline near to far.
:func:`clip_to_canvas` keeps augmented polylines on the image.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from itertools import combinations
from typing import Any

import numpy as np

from mtl_edge.data.labels import LANE_TYPES, LaneLabel

#: Lane categories that are two paint lines side by side.
DOUBLE_TYPES: tuple[str, ...] = ("double white", "double yellow", "double other")

#: Default lane markings: the painted lines. Road curbs are the road's edge, not paint, and
#: crosswalks run across the road; peers that train on BDD100K lanes (YOLOP, HybridNets) use
#: the painted lines only. Add "road curb" to ``markings`` to also learn curbs.
DEFAULT_MARKINGS: tuple[str, ...] = tuple(t for t in LANE_TYPES if t not in ("road curb", "crosswalk"))

#: Largest horizontal gap, in pixels of a 1280x720 BDD100K frame, between the two paint lines
#: of one double marking. The two lines are about 10-30 px apart near the camera and converge
#: with distance; 40 px leaves room for a few pixels of click noise on each line, while two
#: separate markings are at least a lane width apart near the camera (hundreds of pixels).
DEFAULT_DOUBLE_GAP = 40.0

#: Least share of the shorter line's height that the two lines of a double must both cover.
MIN_DOUBLE_OVERLAP = 0.5

_KEYS = ("markings", "merge_doubles", "double_gap")


@dataclass(frozen=True)
class LaneRules:
    """How lane labels become lane-line targets (a recipe's ``lanes:`` section)."""

    #: Lane categories kept as lane markings (see DEFAULT_MARKINGS for why curbs are left out).
    markings: tuple[str, ...] = DEFAULT_MARKINGS
    #: Merge the two paint lines of a double marking into one centre line.
    merge_doubles: bool = True
    #: Largest gap in pixels between the two lines of a double (see DEFAULT_DOUBLE_GAP).
    double_gap: float = DEFAULT_DOUBLE_GAP

    def __post_init__(self) -> None:
        if isinstance(self.markings, str) or not isinstance(self.markings, (tuple, list)):
            raise ValueError(f"lanes.markings: expected a list of lane categories, got {self.markings!r}")
        unknown = [m for m in self.markings if m not in LANE_TYPES]
        if unknown:
            raise ValueError(f"lanes.markings: unknown lane categories {unknown}; allowed: {list(LANE_TYPES)}")
        if not isinstance(self.merge_doubles, bool):
            raise ValueError(f"lanes.merge_doubles: expected true or false, got {self.merge_doubles!r}")
        gap = self.double_gap
        if isinstance(gap, bool) or not isinstance(gap, (int, float)) or not math.isfinite(gap) or gap <= 0:
            raise ValueError(f"lanes.double_gap: expected a positive number of pixels, got {gap!r}")
        object.__setattr__(self, "markings", tuple(self.markings))
        object.__setattr__(self, "double_gap", float(gap))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> LaneRules:
        """Rules from a recipe's ``lanes:`` mapping (absent keys keep their defaults)."""
        if d is None:
            return cls()
        if not isinstance(d, Mapping):
            raise ValueError(f"lanes: expected a mapping with keys {list(_KEYS)}, got {d!r}")
        extra = [k for k in d if k not in _KEYS]
        if extra:
            raise ValueError(f"lanes: unknown keys {extra}; allowed keys: {list(_KEYS)}")
        return cls(**dict(d))


def orient_near_to_far(points: np.ndarray) -> np.ndarray:
    """The polyline starting at its nearer end (larger y), as a new float32 array."""
    p = np.asarray(points, dtype=np.float32)
    return p[::-1].copy() if len(p) >= 2 and p[0, 1] < p[-1, 1] else p.copy()


def _x_of_y(points: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(y increasing, x) when the polyline is strictly monotonic in y, else None."""
    p = np.asarray(points, dtype=np.float64)
    dy = np.diff(p[:, 1])
    if len(p) < 2 or not ((dy > 0).all() or (dy < 0).all()):
        return None
    p = p if dy[0] > 0 else p[::-1]
    return p[:, 1], p[:, 0]


def _double_pair(a: np.ndarray, b: np.ndarray, max_gap: float) -> tuple[float, np.ndarray] | None:
    """(mean horizontal gap, centre line) of two polylines that can be one double marking, else None."""
    fa, fb = _x_of_y(a), _x_of_y(b)
    if fa is None or fb is None:
        return None
    lo, hi = max(fa[0][0], fb[0][0]), min(fa[0][-1], fb[0][-1])
    shorter = min(fa[0][-1] - fa[0][0], fb[0][-1] - fb[0][0])
    if hi <= lo or hi - lo < MIN_DOUBLE_OVERLAP * shorter:
        return None
    ys = np.concatenate([[lo, hi], fa[0], fb[0]])
    ys = np.unique(ys[(ys >= lo) & (ys <= hi)])  # both lines are straight between these rows
    xa, xb = np.interp(ys, *fa), np.interp(ys, *fb)
    gap = np.abs(xa - xb)
    if gap.max() > max_gap:
        return None
    return float(gap.mean()), orient_near_to_far(np.stack([(xa + xb) / 2, ys], axis=1))


def centre_line(a: np.ndarray, b: np.ndarray, max_gap: float) -> np.ndarray | None:
    """Centre line of two nearby polylines over their common y range, near to far.

    Both are resampled at every vertex row of either inside the common range (they are straight in
    between, so the average is exact). None when either is not monotonic in y, when they overlap on
    less than MIN_DOUBLE_OVERLAP of the shorter one's height, or when their horizontal gap exceeds
    ``max_gap`` anywhere there.
    """
    pair = _double_pair(a, b, max_gap)
    return None if pair is None else pair[1]


def _merge_pair(a: LaneLabel, b: LaneLabel, centre: np.ndarray) -> LaneLabel:
    """One label for the two lines of a double; solid wins over dashed (it cannot be crossed)."""
    style = "solid" if "solid" in (a.style, b.style) else a.style
    return replace(a, points=centre, style=style, id=f"{a.id}+{b.id}")


def merge_doubles(lanes: list[LaneLabel], max_gap: float) -> list[LaneLabel]:
    """Each close pair of same-category double lines replaced by its centre line, closest pairs first.

    A double line without a partner within ``max_gap`` stays as it is. A merged line takes the
    place of the pair's first line in the list.
    """
    candidates = []
    for i, j in combinations(range(len(lanes)), 2):
        a, b = lanes[i], lanes[j]
        if a.lane_type != b.lane_type or a.lane_type not in DOUBLE_TYPES:
            continue
        pair = _double_pair(a.points, b.points, max_gap)
        if pair is not None:
            candidates.append((pair[0], i, j, pair[1]))
    out: dict[int, LaneLabel] = dict(enumerate(lanes))
    used: set[int] = set()
    for _, i, j, centre in sorted(candidates, key=lambda c: c[:3]):
        if i in used or j in used:
            continue
        used.update((i, j))
        out[i] = _merge_pair(lanes[i], lanes[j], centre)
        del out[j]
    return [out[k] for k in sorted(out)]


def apply_lane_rules(lanes: list[LaneLabel], rules: LaneRules) -> list[LaneLabel]:
    """Lane-marking polylines as the rules say, near to far; the input labels are not changed.

    Drops vertical lanes (crosswalks and stop lines) and categories outside ``rules.markings``,
    then merges the two lines of each double marking when ``rules.merge_doubles``.
    """
    kept = [
        replace(lane, points=orient_near_to_far(lane.points))
        for lane in lanes
        if lane.direction != "vertical" and lane.lane_type in rules.markings
    ]
    return merge_doubles(kept, rules.double_gap) if rules.merge_doubles else kept


def _clip_segment(p: np.ndarray, q: np.ndarray, box: tuple[float, float, float, float]) -> tuple[float, float] | None:
    """Liang-Barsky: the parameter range [t0, t1] of segment p->q inside ``box`` (x0, y0, x1, y1)."""
    d = q - p
    t0, t1 = 0.0, 1.0
    for delta, start, lo, hi in ((d[0], p[0], box[0], box[2]), (d[1], p[1], box[1], box[3])):
        if delta == 0:
            if start < lo or start > hi:
                return None
            continue
        a, b = (lo - start) / delta, (hi - start) / delta
        t0, t1 = max(t0, min(a, b)), min(t1, max(a, b))
        if t0 > t1:
            return None
    return t0, t1


def _pieces_inside(p: np.ndarray, box: tuple[float, float, float, float]) -> list[np.ndarray]:
    """The runs of the polyline inside ``box``, segments cut at the border."""
    pieces: list[list[np.ndarray]] = []
    joined = False  # the last kept segment reached its end vertex, so the next one may continue it
    for k in range(len(p) - 1):
        span = _clip_segment(p[k], p[k + 1], box)
        if span is None:
            joined = False
            continue
        t0, t1 = span
        a, b = p[k] + t0 * (p[k + 1] - p[k]), p[k] + t1 * (p[k + 1] - p[k])
        if joined and t0 == 0.0:
            pieces[-1].append(b)
        else:
            pieces.append([a, b])
        joined = t1 == 1.0
    return [np.array(piece) for piece in pieces]


def _length(p: np.ndarray) -> float:
    return float(np.linalg.norm(np.diff(p, axis=0), axis=1).sum())


def resample(points: np.ndarray, step: float) -> np.ndarray:
    """Points evenly spaced along the polyline, at most ``step`` apart, both ends kept."""
    seg = np.linalg.norm(np.diff(points, axis=0), axis=1)
    keep = np.concatenate([[True], seg > 0])
    p, dist = points[keep], np.concatenate([[0.0], np.cumsum(seg[seg > 0])])
    n = max(1, math.ceil(dist[-1] / step))
    at = np.linspace(0.0, dist[-1], n + 1)
    return np.stack([np.interp(at, dist, p[:, 0]), np.interp(at, dist, p[:, 1])], axis=1)


#: How far inside the right and bottom borders a cut lands: the canvas is [0, W) x [0, H).
_EDGE = 1e-3


def clip_to_canvas(points: np.ndarray, width: float, height: float, step: float = 8.0) -> np.ndarray | None:
    """The longest piece of an open polyline inside [0, width) x [0, height), resampled every ``step`` px.

    Segments crossing the border are cut at the border. Returns float32 [M, 2] points at most
    ``step`` apart with both ends kept, or None when no piece of non-zero length is inside.
    """
    if not (width > 0 and height > 0 and step > 0):
        raise ValueError(f"clip_to_canvas: width, height and step must be positive, got {width}, {height}, {step}")
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(p) < 2:
        return None
    pieces = _pieces_inside(p, (0.0, 0.0, width - _EDGE, height - _EDGE))
    lengths = [_length(piece) for piece in pieces]
    if not lengths or max(lengths) <= 0:
        return None
    return resample(pieces[int(np.argmax(lengths))], step).astype(np.float32)
