"""Validated reading of single JSON fields: numbers, flags, choices and poly2d vertex lists.

poly2d ``types`` follow Scalabel (read at scalabel/scalabel commit 0ced2c2, doc/src/format.rst
and app/src/drawable/2d/polygon2d.ts; scalabel/label/transforms.py ``poly_to_patch`` at
01834bf, which bdd100k/bdd100k ``label/to_mask.py`` at 01b615e uses to draw the published
lane masks): one character per vertex, "L" a vertex and "C" a cubic Bezier control point.
Both renderers treat a "C" at index i as the start of a cubic with control points i, i+1 and
end point i+2, whatever the end point's type: the Scalabel editor writes "LCCL", and
BDD100K lane_train.json entries are quoted with "LCCC" (matplotlib ``CURVE4`` triples); both
are accepted. A closed polygon's last curve may end on vertex 0 (types ending in "CC").
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from mtl_edge.data.formats.errors import MISSING, Where, one_of, show


def number(value: Any, w: Where, field: str) -> float:
    """A finite JSON number (not a boolean) as float."""
    out = math.nan
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        with contextlib.suppress(OverflowError):
            out = float(value)
    if not math.isfinite(out):
        raise w.error(field, f"expected a number, got {show(value)}", "Fix the value or remove the label.")
    return out


def flag(attrs: dict[str, Any], key: str, w: Where, field: str) -> bool:
    """The boolean attribute ``key`` (false when absent)."""
    value = attrs.get(key, False)
    if not isinstance(value, bool):
        raise w.error(f"{field}.attributes.{key}", f"expected true or false, got {show(value)}", "Use a JSON boolean.")
    return value


def choice(value: Any, choices: Sequence[str], w: Where, field: str, what: str) -> str:
    """``value``, which must be one of ``choices`` (``what`` names it in the error)."""
    if value not in choices:
        raise w.error(field, f"unknown {what} {show(value)}", f"Use one of {one_of(choices)}.")
    return value


def vertices(value: Any, w: Where, field: str, min_count: int) -> np.ndarray:
    """Validate ``[[x, y], ...]`` and return it as float32 [N, 2]."""
    fix = f"Give at least {min_count} vertices as [[x, y], ...] pixel coordinates, or remove the label."
    if not isinstance(value, list):
        raise w.error(field, f"expected a list of [x, y] pairs, got {show(value)}", fix)
    for j, vertex in enumerate(value):
        if not isinstance(vertex, (list, tuple)) or len(vertex) != 2:
            raise w.error(f"{field}[{j}]", f"expected an [x, y] pair, got {show(vertex)}", fix)
        for k in (0, 1):
            number(vertex[k], w, f"{field}[{j}][{k}]")
    if len(value) < min_count:
        raise w.error(
            field, f"only {len(value)} {'vertex' if len(value) == 1 else 'vertices'}, need at least {min_count}", fix
        )
    return np.asarray(value, dtype=np.float32).reshape(-1, 2)


#: Largest distance, in pixels, between a sampled Bezier polyline and the true curve.
CURVE_TOLERANCE = 0.5
#: Cap on the segments per curve, so that absurd coordinates cannot exhaust memory.
MAX_CURVE_STEPS = 1024
_TYPES_FIX = (
    'Give one character per vertex: "L" for a vertex, and "CC" (two control points) before the end vertex of '
    'each cubic Bezier curve, e.g. "LCCL"; or remove "types" if every vertex is an "L".'
)


def _types_problem(types: str, count: int, closed: bool) -> str | None:
    """Why ``types`` is not a valid Scalabel types string for ``count`` vertices (None when valid)."""
    if len(types) != count:
        return f"{len(types)} characters for {count} vertices"
    bad = next((i for i, t in enumerate(types) if t not in "LC"), None)
    if bad is not None:
        return f'character {bad} is {show(types[bad])}, only "L" and "C" are allowed'
    if types and types[0] != "L":
        return 'starts with a control point; the first vertex must be an "L"'
    i = 1
    while i < count:
        if types[i] == "L":
            i += 1
            continue
        if i + 1 >= count or types[i + 1] != "C":
            return f"control point {i} has no partner: control points come in pairs"
        if i + 2 == count and not closed:
            return f"the curve with control points {i} and {i + 1} has no end vertex"
        i += 3
    return None


def poly_types(value: Any, count: int, closed: bool, w: Where, field: str) -> str:
    """The validated ``types`` string of a poly2d with ``count`` vertices; absent or null means all "L"."""
    if value is MISSING or value is None:
        return "L" * count
    if not isinstance(value, str):
        raise w.error(field, f"expected a string, got {show(value)}", _TYPES_FIX)
    problem = _types_problem(value, count, closed)
    if problem is not None:
        raise w.error(field, f"{show(value)}: {problem}", _TYPES_FIX)
    return value


def cubic_steps(p0: np.ndarray, p1: np.ndarray, p2: np.ndarray, p3: np.ndarray, tolerance: float) -> int:
    """Uniform segments that keep a cubic's polyline within ``tolerance`` px of the curve.

    The chord error over a parameter step h is at most h^2/8 * max|B''|, and B'' is linear in t,
    so max|B''| = 6 * max(|p0 - 2p1 + p2|, |p1 - 2p2 + p3|).
    """
    bend = max(float(np.linalg.norm(p0 - 2 * p1 + p2)), float(np.linalg.norm(p1 - 2 * p2 + p3)))
    steps = math.ceil(math.sqrt(0.75 * bend / tolerance)) if bend > 0 else 1
    return int(min(max(steps, 1), MAX_CURVE_STEPS))


def cubic_bezier(p0: np.ndarray, p1: np.ndarray, p2: np.ndarray, p3: np.ndarray, steps: int) -> np.ndarray:
    """The cubic from ``p0`` to ``p3`` (controls ``p1``, ``p2``) at ``steps + 1`` uniform t, both ends included."""
    t = np.linspace(0.0, 1.0, steps + 1)[:, None]
    s = 1.0 - t
    return s**3 * p0 + 3 * s**2 * t * p1 + 3 * s * t**2 * p2 + t**3 * p3


def trace_path(points: np.ndarray, types: str, closed: bool, tolerance: float = CURVE_TOLERANCE) -> np.ndarray:
    """Vertices with every "C C end" run replaced by its sampled cubic Bezier, as float32 [M, 2].

    ``types`` must be valid (see :func:`poly_types`); "L" vertices are kept as they are. A closed
    path's final curve ends on vertex 0, which is not repeated at the end.
    """
    p = np.asarray(points, dtype=np.float64)
    n = len(p)
    out = [p[:1]]
    i = 1
    while i < n:
        if types[i] == "L":
            out.append(p[i : i + 1])
            i += 1
            continue
        start, c1, c2, end = out[-1][-1], p[i], p[i + 1], p[(i + 2) % n]
        curve = cubic_bezier(start, c1, c2, end, cubic_steps(start, c1, c2, end, tolerance))
        wraps = i + 2 == n
        out.append(curve[1:-1] if wraps else curve[1:])
        i += 3
    return np.concatenate(out).astype(np.float32)


def polylines(raw: dict[str, Any], w: Where, field: str, min_count: int) -> list[np.ndarray]:
    """Every polyline of the label's ``poly2d`` list, each as float32 [N, 2] points.

    Bezier runs in ``types`` are evaluated (see :func:`trace_path`); ``min_count`` applies to the
    vertices as written.
    """
    polys = raw.get("poly2d", MISSING)
    if not isinstance(polys, list) or not polys:
        raise w.error(
            f"{field}.poly2d",
            f'expected a non-empty list of {{"vertices": ...}} objects, got {show(polys)}',
            "Add the polyline vertices or remove the label.",
        )
    out = []
    for k, poly in enumerate(polys):
        if not isinstance(poly, dict):
            raise w.error(
                f"{field}.poly2d[{k}]", f"expected an object, got {show(poly)}", 'Use {"vertices": [[x, y], ...]}.'
            )
        points = vertices(poly.get("vertices", MISSING), w, f"{field}.poly2d[{k}].vertices", min_count)
        closed = poly.get("closed", False)
        if closed is not None and not isinstance(closed, bool):
            raise w.error(
                f"{field}.poly2d[{k}].closed",
                f"expected true or false, got {show(closed)}",
                "Use true for a polygon, false for a path.",
            )
        types = poly_types(poly.get("types", MISSING), len(points), bool(closed), w, f"{field}.poly2d[{k}].types")
        out.append(points if "C" not in types else trace_path(points, types, bool(closed)))
    return out


def optional(d: dict[str, Any], key: str, kind: type, w: Where, fix: str) -> Any:
    """``d[key]`` if it is a ``kind`` (booleans are not ints), None when absent or null."""
    value = d.get(key)
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
        raise w.error(key, f"expected {kind.__name__}, got {show(value)}", fix)
    return value
