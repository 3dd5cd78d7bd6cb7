"""Small 2D helpers: clipping polylines and boxes to the image."""

from __future__ import annotations

import numpy as np


def clip_segment(p0: np.ndarray, p1: np.ndarray, width: float, height: float) -> tuple[float, float] | None:
    """Liang-Barsky: the parameter range [t0, t1] of p0->p1 inside [0,width]x[0,height], or None."""
    d = p1 - p0
    t0, t1 = 0.0, 1.0
    for p, q in ((-d[0], p0[0]), (d[0], width - p0[0]), (-d[1], p0[1]), (d[1], height - p0[1])):
        if abs(p) < 1e-12:
            if q < 0:
                return None
            continue
        t = q / p
        if p < 0:
            t0 = max(t0, t)
        else:
            t1 = min(t1, t)
        if t0 > t1:
            return None
    return t0, t1


def clip_polyline(points: np.ndarray, width: float, height: float) -> np.ndarray | None:
    """The longest connected piece of ``points`` [N, 2] inside the image, or None if nothing is."""
    runs: list[list[np.ndarray]] = []
    current: list[np.ndarray] = []
    for p0, p1 in zip(points[:-1], points[1:]):
        span = clip_segment(p0, p1, width, height)
        if span is None:
            if current:
                runs.append(current)
                current = []
            continue
        a, b = p0 + span[0] * (p1 - p0), p0 + span[1] * (p1 - p0)
        if not current:
            current = [a]
        elif np.abs(current[-1] - a).max() > 1e-6:  # re-entered the image: a new run
            runs.append(current)
            current = [a]
        current.append(b)
        if span[1] < 1.0:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    if not runs:
        return None

    def length(run: list[np.ndarray]) -> float:
        arr = np.asarray(run)
        return float(np.linalg.norm(np.diff(arr, axis=0), axis=1).sum()) if len(arr) > 1 else 0.0

    best = np.asarray(max(runs, key=length), dtype=np.float32)
    best[:, 0] = np.clip(best[:, 0], 0, width)
    best[:, 1] = np.clip(best[:, 1], 0, height)
    return best if len(best) >= 2 else None


def bbox_of(uv: np.ndarray) -> np.ndarray:
    """[x1, y1, x2, y2] around points [..., 2]."""
    pts = uv.reshape(-1, 2)
    return np.array([pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max()], dtype=np.float64)


def clip_box(box: np.ndarray, width: float, height: float) -> np.ndarray:
    return np.array(
        [np.clip(box[0], 0, width), np.clip(box[1], 0, height), np.clip(box[2], 0, width), np.clip(box[3], 0, height)]
    )
