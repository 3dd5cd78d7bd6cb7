"""Writing frames as 2020-style BDD100K JSON, atomically."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mtl_edge.data.formats.drivable import AREA_TYPES
from mtl_edge.data.formats.errors import Where, one_of, show
from mtl_edge.data.labels import (
    BOX_CATEGORIES,
    BOX_CATEGORY_ALIASES,
    LANE_DIRECTIONS,
    LANE_STYLES,
    LANE_TYPES,
    SIGN_CLASSES,
    FrameLabels,
)
from mtl_edge.fileio import atomic_write


def _check(ok: bool, w: Where, field: str, problem: str, fix: str) -> None:
    if not ok:
        raise w.error(field, problem, fix)


def _points_out(points: Any, w: Where, field: str, min_count: int) -> list[list[float]]:
    arr = np.asarray(points, dtype=np.float64)
    ok = arr.ndim == 2 and arr.shape[1:] == (2,) and len(arr) >= min_count and bool(np.isfinite(arr).all())
    _check(ok, w, field, f"expected at least {min_count} finite (x, y) points, got shape {arr.shape}", "Fix the label.")
    return [[round(float(x), 2), round(float(y), 2)] for x, y in arr]


def _frame_to_dict(frame: FrameLabels, w: Where) -> dict[str, Any]:
    _check(
        isinstance(frame.name, str) and bool(frame.name),
        w,
        "name",
        f"expected the image file name, got {show(frame.name)}",
        "Set FrameLabels.name.",
    )
    out: dict[str, Any] = {"name": frame.name, "attributes": dict(frame.attributes)}
    if frame.video_name is not None:
        out["videoName"] = frame.video_name
    if frame.frame_index is not None:
        out["frameIndex"] = int(frame.frame_index)
    labels: list[dict[str, Any]] = []
    for i, obj in enumerate(frame.objects):
        field = f"objects[{i}]"
        category = BOX_CATEGORY_ALIASES.get(obj.category, obj.category)
        _check(
            category in BOX_CATEGORIES,
            w,
            f"{field}.category",
            f"unknown box category {show(obj.category)}",
            f"Use one of {one_of(BOX_CATEGORIES)}.",
        )
        attrs: dict[str, Any] = {"occluded": bool(obj.occluded), "truncated": bool(obj.truncated)}
        if obj.ignore:
            attrs["ignore"] = True
        if obj.sign_type is not None:
            _check(
                category == "traffic sign" and obj.sign_type in SIGN_CLASSES,
                w,
                f"{field}.sign_type",
                f'{show(obj.sign_type)} on a "{category}" label',
                f'Only "traffic sign" labels take a sign type, one of {one_of(SIGN_CLASSES)}.',
            )
            attrs["signType"] = obj.sign_type
        (x1, y1), (x2, y2) = _points_out([[obj.box.x1, obj.box.y1], [obj.box.x2, obj.box.y2]], w, f"{field}.box", 2)
        _check(
            x1 <= x2 and y1 <= y2, w, f"{field}.box", f"corners out of order: {obj.box}", "Make x1 <= x2 and y1 <= y2."
        )
        labels.append(
            {
                "id": obj.id or str(len(labels)),
                "category": category,
                "attributes": attrs,
                "box2d": {"x1": x1, "y1": y1, "x2": x2, "y2": y2},
            }
        )
    for i, lane in enumerate(frame.lanes):
        field = f"lanes[{i}]"
        for value, choices, name in (
            (lane.lane_type, LANE_TYPES, "lane_type"),
            (lane.style, LANE_STYLES, "style"),
            (lane.direction, LANE_DIRECTIONS, "direction"),
        ):
            _check(
                value in choices,
                w,
                f"{field}.{name}",
                f"unknown value {show(value)}",
                f"Use one of {one_of(choices)}.",
            )
        vertices = _points_out(lane.points, w, f"{field}.points", 2)
        labels.append(
            {
                "id": lane.id or str(len(labels)),
                "category": lane.lane_type,
                "attributes": {"laneDirection": lane.direction, "laneStyle": lane.style, "laneTypes": lane.lane_type},
                "poly2d": [{"vertices": vertices, "types": "L" * len(vertices), "closed": False}],
            }
        )
    for i, (points, area) in enumerate(frame.drivable_polygons):
        field = f"drivable_polygons[{i}]"
        _check(area in AREA_TYPES, w, field, f"unknown area type {show(area)}", f"Use one of {one_of(AREA_TYPES)}.")
        vertices = _points_out(points, w, f"{field}.points", 3)
        labels.append(
            {
                "id": str(len(labels)),
                "category": "drivable area",
                "attributes": {"areaType": area},
                "poly2d": [{"vertices": vertices, "types": "L" * len(vertices), "closed": True}],
            }
        )
    out["labels"] = labels
    return out


def frame_to_dict(frame: FrameLabels) -> dict[str, Any]:
    """BDD100K frame object for ``frame``; raises LabelFormatError for values the format cannot hold.

    Labels without an id get their position in the frame's label list as id.
    """
    return _frame_to_dict(frame, Where("<frame_to_dict>", None, frame.name))


def _write_json(data: Any, path: Path, indent: int | None) -> None:
    atomic_write(path, lambda f: json.dump(data, f, indent=indent, ensure_ascii=False, allow_nan=False), text=True)


def write_frames(frames: Sequence[FrameLabels], path: str | Path, *, indent: int | None = None) -> None:
    """Write ``frames`` as one BDD100K JSON list, atomically (no partial file on failure)."""
    path = Path(path)
    data = [_frame_to_dict(f, Where(str(path), i, f.name)) for i, f in enumerate(frames)]
    _write_json(data, path, indent)


def write_frame(frame: FrameLabels, path: str | Path, *, indent: int | None = 2) -> None:
    """Write one frame object to its own JSON file, atomically."""
    path = Path(path)
    _write_json(_frame_to_dict(frame, Where(str(path), None, frame.name)), path, indent)
