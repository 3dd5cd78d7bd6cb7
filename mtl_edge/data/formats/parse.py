"""One BDD100K frame object (a parsed JSON dict) to :class:`~mtl_edge.data.labels.FrameLabels`."""

from __future__ import annotations

from typing import Any

import numpy as np

from mtl_edge.data.formats.drivable import AREA_TYPES
from mtl_edge.data.formats.errors import MISSING, Where, one_of, show
from mtl_edge.data.formats.fields import choice, flag, number, optional, polylines
from mtl_edge.data.labels import (
    BOX_CATEGORIES,
    BOX_CATEGORY_ALIASES,
    LANE_DIRECTIONS,
    LANE_STYLES,
    LANE_TYPES,
    SIGN_CLASSES,
    Box2D,
    FrameLabels,
    LaneLabel,
    ObjectLabel,
)

_DRIVABLE_CATEGORIES = ("drivable area", *AREA_TYPES)
_SKIPPED_CATEGORIES = ("background",)
_KNOWN_CATEGORIES = (*BOX_CATEGORIES, *BOX_CATEGORY_ALIASES, "lane", *LANE_TYPES, *_DRIVABLE_CATEGORIES)


def _box(raw: dict[str, Any], category: str, attrs: dict[str, Any], label_id: str, w: Where, field: str) -> ObjectLabel:
    box = raw.get("box2d", MISSING)
    if not isinstance(box, dict):
        raise w.error(
            f"{field}.box2d",
            f'expected {{"x1", "y1", "x2", "y2"}} for category "{category}", got {show(box)}',
            "Add the box corners in pixels or remove the label.",
        )
    coords = {}
    for key in ("x1", "y1", "x2", "y2"):
        if key not in box:
            raise w.error(f"{field}.box2d.{key}", "missing", "Give all four corners x1, y1, x2, y2 in pixels.")
        coords[key] = number(box[key], w, f"{field}.box2d.{key}")
    for lo, hi in (("x1", "x2"), ("y1", "y2")):
        if coords[hi] < coords[lo]:
            raise w.error(
                f"{field}.box2d.{hi}",
                f"{coords[hi]:g} is smaller than {lo} = {coords[lo]:g}",
                f"Swap the corners so that {lo} <= {hi}.",
            )
    category = BOX_CATEGORY_ALIASES.get(category, category)
    sign_type = attrs.get("signType")
    if sign_type is not None:
        if category != "traffic sign":
            raise w.error(
                f"{field}.attributes.signType",
                f'set on a "{category}" label; it only applies to "traffic sign"',
                "Remove signType or change the category.",
            )
        choice(sign_type, SIGN_CLASSES, w, f"{field}.attributes.signType", "signType")
    crowd = flag(attrs, "crowd", w, field)
    return ObjectLabel(
        category=category,
        box=Box2D(**coords),
        sign_type=sign_type,
        occluded=flag(attrs, "occluded", w, field),
        truncated=flag(attrs, "truncated", w, field),
        ignore=flag(attrs, "ignore", w, field) or crowd,
        id=label_id,
    )


def _lanes(
    raw: dict[str, Any], category: str, attrs: dict[str, Any], base_id: str, w: Where, field: str
) -> list[LaneLabel]:
    if category == "lane":  # 2018 style: the type is an attribute
        key = "laneType" if "laneType" in attrs else "laneTypes"
        lane_type = choice(attrs.get(key, MISSING), LANE_TYPES, w, f"{field}.attributes.{key}", "lane type")
    else:  # 2020 style: the category is the type (a laneTypes attribute only repeats it)
        lane_type = category
    style = choice(attrs.get("laneStyle", "solid"), LANE_STYLES, w, f"{field}.attributes.laneStyle", "laneStyle")
    direction = choice(
        attrs.get("laneDirection", "parallel"), LANE_DIRECTIONS, w, f"{field}.attributes.laneDirection", "laneDirection"
    )
    polys = polylines(raw, w, field, min_count=2)
    ids = [base_id] if len(polys) == 1 else [f"{base_id}_{k}" for k in range(len(polys))]
    return [
        LaneLabel(points=p, lane_type=lane_type, style=style, direction=direction, id=i)
        for p, i in zip(polys, ids, strict=True)
    ]


def _drivable(
    raw: dict[str, Any], category: str, attrs: dict[str, Any], w: Where, field: str
) -> list[tuple[np.ndarray, str]]:
    if category == "drivable area":  # 2018 style
        area = choice(attrs.get("areaType", MISSING), AREA_TYPES, w, f"{field}.attributes.areaType", "areaType")
    else:  # 2020 drivable polygons: the category is the area type
        area = category
    return [(p, area) for p in polylines(raw, w, field, min_count=3)]


def frame_from_dict(d: Any, source: str = "<dict>", *, index: int | None = None) -> FrameLabels:
    """Convert one BDD100K frame object; ``source`` and ``index`` only label error messages."""
    w = Where(source, index)
    if not isinstance(d, dict):
        raise w.error(
            "(frame)", f"expected a JSON object, got {show(d)}", 'Each frame is {"name": ..., "labels": [...]}.'
        )
    name = d.get("name", MISSING)
    if not isinstance(name, str) or not name:
        raise w.error("name", f"expected the image file name, got {show(name)}", 'Add "name": "<image file name>".')
    w = Where(source, index, name)
    attributes = d.get("attributes") or {}
    if not isinstance(attributes, dict):
        raise w.error("attributes", f"expected an object, got {show(attributes)}", 'Use e.g. {"weather": "clear"}.')
    frame = FrameLabels(
        name=name,
        attributes=dict(attributes),
        video_name=optional(d, "videoName", str, w, "Give the clip name as a string or remove it."),
        frame_index=optional(d, "frameIndex", int, w, "Give the frame index as an integer or remove it."),
    )
    labels = d.get("labels") or []
    if not isinstance(labels, list):
        raise w.error("labels", f"expected a list, got {show(labels)}", "Put the frame's labels in a JSON list.")
    for i, raw in enumerate(labels):
        field = f"labels[{i}]"
        if not isinstance(raw, dict):
            raise w.error(field, f"expected an object, got {show(raw)}", "Each label is a JSON object.")
        category = raw.get("category", MISSING)
        if category not in _KNOWN_CATEGORIES and category not in _SKIPPED_CATEGORIES:
            raise w.error(
                f"{field}.category", f"unknown category {show(category)}", f"Use one of {one_of(_KNOWN_CATEGORIES)}."
            )
        attrs = raw.get("attributes") or {}
        if not isinstance(attrs, dict):
            raise w.error(f"{field}.attributes", f"expected an object, got {show(attrs)}", "Use a JSON object.")
        label_id = raw.get("id", "")
        if isinstance(label_id, bool) or not isinstance(label_id, (str, int)):
            raise w.error(f"{field}.id", f"expected a string or integer, got {show(label_id)}", "Fix or remove the id.")
        label_id = str(label_id)
        if category in BOX_CATEGORIES or category in BOX_CATEGORY_ALIASES:
            frame.objects.append(_box(raw, category, attrs, label_id, w, field))
        elif category == "lane" or category in LANE_TYPES:
            frame.lanes.extend(_lanes(raw, category, attrs, label_id or str(i), w, field))
        elif category in _DRIVABLE_CATEGORIES:
            frame.drivable_polygons.extend(_drivable(raw, category, attrs, w, field))
    return frame
