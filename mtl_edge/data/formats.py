"""Read and write BDD100K-style label JSON (Scalabel frames) and drivable-area masks.

Accepted input, all loaded into :mod:`mtl_edge.data.labels` objects:

* 2020 files: ``det_20`` box labels and ``lane/polygons/lane_*.json`` lane labels (the
  category is the lane type), and drivable polygons with categories ``direct`` /
  ``alternative`` (``background`` polygons are skipped).
* 2018 all-in-one files (``bdd100k_labels_images_*.json``): category ``lane`` with a
  ``laneType`` attribute, ``drivable area`` with ``areaType``, and the old box names
  ``person`` / ``bike`` / ``motor``.
* Our extensions in box attributes: ``ignore`` (evaluation skips the object) and
  ``signType`` (one of ``SIGN_CLASSES``, traffic signs only). A ``crowd`` box loads with
  ``ignore=True``, which is how crowd regions are evaluated.

A ``poly2d`` entry may hold several polylines; each becomes its own ``LaneLabel`` with
the label id suffixed ``_0``, ``_1``, ... Vertices typed ``C`` (bezier control points)
are kept as ordinary polyline vertices. Frame ``timestamp``, box ``manualShape`` /
``manualAttributes`` / ``score`` and ``trafficLightColor`` are read past and not kept.

Output is 2020 style: lanes carry their type as category and as ``laneTypes``,
coordinates are rounded to 2 decimals, extension attributes appear only when set, and
drivable polygons are written as 2018 ``drivable area`` labels. Writes are atomic.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

from mtl_edge.data.labels import (
    BOX_CATEGORIES,
    BOX_CATEGORY_ALIASES,
    DRIVABLE_ALTERNATIVE,
    DRIVABLE_BACKGROUND,
    DRIVABLE_DIRECT,
    LANE_DIRECTIONS,
    LANE_STYLES,
    LANE_TYPES,
    SIGN_CLASSES,
    Box2D,
    FrameLabels,
    LaneLabel,
    ObjectLabel,
)
from mtl_edge.fileio import atomic_write

__all__ = [
    "LabelFormatError",
    "read_frames",
    "write_frames",
    "write_frame",
    "frame_from_dict",
    "frame_to_dict",
    "merge_frames",
    "read_drivable_mask",
    "write_drivable_mask",
    "rasterize_drivable",
]

AREA_TYPES: tuple[str, ...] = ("direct", "alternative")
_AREA_VALUES = {"direct": DRIVABLE_DIRECT, "alternative": DRIVABLE_ALTERNATIVE}
_DRIVABLE_CATEGORIES = ("drivable area", *AREA_TYPES)
_SKIPPED_CATEGORIES = ("background",)
_KNOWN_CATEGORIES = (*BOX_CATEGORIES, *BOX_CATEGORY_ALIASES, "lane", *LANE_TYPES, *_DRIVABLE_CATEGORIES)
_MISSING = object()


class LabelFormatError(ValueError):
    """A label file or mask does not follow the expected format; the message says where and how to fix it."""


def _show(value: Any) -> str:
    """Short JSON-ish rendering of a bad value for error messages."""
    if value is _MISSING:
        return "nothing"
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _one_of(choices: Sequence[str]) -> str:
    return ", ".join(f'"{c}"' for c in choices)


@dataclass(frozen=True)
class _Where:
    """Where a frame came from, so that every error can point at it."""

    source: str
    index: int | None = None
    name: str | None = None

    def error(self, field: str, problem: str, fix: str) -> LabelFormatError:
        frame = "frame" if self.index is None else f"frame {self.index}"
        if self.name is not None:
            frame += f" ({_show(self.name)})"
        return LabelFormatError(f"{self.source}: {frame} {field}: {problem}. {fix}")


# --------------------------------------------------------------------------- reading


def _number(value: Any, w: _Where, field: str) -> float:
    number = math.nan
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        with contextlib.suppress(OverflowError):
            number = float(value)
    if not math.isfinite(number):
        raise w.error(field, f"expected a number, got {_show(value)}", "Fix the value or remove the label.")
    return number


def _flag(attrs: dict[str, Any], key: str, w: _Where, field: str) -> bool:
    value = attrs.get(key, False)
    if not isinstance(value, bool):
        raise w.error(f"{field}.attributes.{key}", f"expected true or false, got {_show(value)}", "Use a JSON boolean.")
    return value


def _choice(value: Any, choices: Sequence[str], w: _Where, field: str, what: str) -> str:
    if value not in choices:
        raise w.error(field, f"unknown {what} {_show(value)}", f"Use one of {_one_of(choices)}.")
    return value


def _vertices(value: Any, w: _Where, field: str, min_count: int) -> np.ndarray:
    """Validate ``[[x, y], ...]`` and return it as float32 [N, 2]."""
    fix = f"Give at least {min_count} vertices as [[x, y], ...] pixel coordinates, or remove the label."
    if not isinstance(value, list):
        raise w.error(field, f"expected a list of [x, y] pairs, got {_show(value)}", fix)
    for j, vertex in enumerate(value):
        if not isinstance(vertex, (list, tuple)) or len(vertex) != 2:
            raise w.error(f"{field}[{j}]", f"expected an [x, y] pair, got {_show(vertex)}", fix)
        for k in (0, 1):
            _number(vertex[k], w, f"{field}[{j}][{k}]")
    if len(value) < min_count:
        raise w.error(
            field, f"only {len(value)} {'vertex' if len(value) == 1 else 'vertices'}, need at least {min_count}", fix
        )
    return np.asarray(value, dtype=np.float32).reshape(-1, 2)


def _polylines(raw: dict[str, Any], w: _Where, field: str, min_count: int) -> list[np.ndarray]:
    polys = raw.get("poly2d", _MISSING)
    if not isinstance(polys, list) or not polys:
        raise w.error(
            f"{field}.poly2d",
            f'expected a non-empty list of {{"vertices": ...}} objects, got {_show(polys)}',
            "Add the polyline vertices or remove the label.",
        )
    out = []
    for k, poly in enumerate(polys):
        if not isinstance(poly, dict):
            raise w.error(
                f"{field}.poly2d[{k}]", f"expected an object, got {_show(poly)}", 'Use {"vertices": [[x, y], ...]}.'
            )
        out.append(_vertices(poly.get("vertices", _MISSING), w, f"{field}.poly2d[{k}].vertices", min_count))
    return out


def _box(
    raw: dict[str, Any], category: str, attrs: dict[str, Any], label_id: str, w: _Where, field: str
) -> ObjectLabel:
    box = raw.get("box2d", _MISSING)
    if not isinstance(box, dict):
        raise w.error(
            f"{field}.box2d",
            f'expected {{"x1", "y1", "x2", "y2"}} for category "{category}", got {_show(box)}',
            "Add the box corners in pixels or remove the label.",
        )
    coords = {}
    for key in ("x1", "y1", "x2", "y2"):
        if key not in box:
            raise w.error(f"{field}.box2d.{key}", "missing", "Give all four corners x1, y1, x2, y2 in pixels.")
        coords[key] = _number(box[key], w, f"{field}.box2d.{key}")
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
        _choice(sign_type, SIGN_CLASSES, w, f"{field}.attributes.signType", "signType")
    crowd = _flag(attrs, "crowd", w, field)
    return ObjectLabel(
        category=category,
        box=Box2D(**coords),
        sign_type=sign_type,
        occluded=_flag(attrs, "occluded", w, field),
        truncated=_flag(attrs, "truncated", w, field),
        ignore=_flag(attrs, "ignore", w, field) or crowd,
        id=label_id,
    )


def _lanes(
    raw: dict[str, Any], category: str, attrs: dict[str, Any], base_id: str, w: _Where, field: str
) -> list[LaneLabel]:
    if category == "lane":  # 2018 style: the type is an attribute
        key = "laneType" if "laneType" in attrs else "laneTypes"
        lane_type = _choice(attrs.get(key, _MISSING), LANE_TYPES, w, f"{field}.attributes.{key}", "lane type")
    else:  # 2020 style: the category is the type (a laneTypes attribute only repeats it)
        lane_type = category
    style = _choice(attrs.get("laneStyle", "solid"), LANE_STYLES, w, f"{field}.attributes.laneStyle", "laneStyle")
    direction = _choice(
        attrs.get("laneDirection", "parallel"), LANE_DIRECTIONS, w, f"{field}.attributes.laneDirection", "laneDirection"
    )
    polys = _polylines(raw, w, field, min_count=2)
    ids = [base_id] if len(polys) == 1 else [f"{base_id}_{k}" for k in range(len(polys))]
    return [
        LaneLabel(points=p, lane_type=lane_type, style=style, direction=direction, id=i)
        for p, i in zip(polys, ids, strict=True)
    ]


def _drivable(
    raw: dict[str, Any], category: str, attrs: dict[str, Any], w: _Where, field: str
) -> list[tuple[np.ndarray, str]]:
    if category == "drivable area":  # 2018 style
        area = _choice(attrs.get("areaType", _MISSING), AREA_TYPES, w, f"{field}.attributes.areaType", "areaType")
    else:  # 2020 drivable polygons: the category is the area type
        area = category
    return [(p, area) for p in _polylines(raw, w, field, min_count=3)]


def _optional(d: dict[str, Any], key: str, kind: type, w: _Where, fix: str) -> Any:
    value = d.get(key)
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
        raise w.error(key, f"expected {kind.__name__}, got {_show(value)}", fix)
    return value


def frame_from_dict(d: Any, source: str = "<dict>", *, index: int | None = None) -> FrameLabels:
    """Convert one BDD100K frame object; ``source`` and ``index`` only label error messages."""
    w = _Where(source, index)
    if not isinstance(d, dict):
        raise w.error(
            "(frame)", f"expected a JSON object, got {_show(d)}", 'Each frame is {"name": ..., "labels": [...]}.'
        )
    name = d.get("name", _MISSING)
    if not isinstance(name, str) or not name:
        raise w.error("name", f"expected the image file name, got {_show(name)}", 'Add "name": "<image file name>".')
    w = _Where(source, index, name)
    attributes = d.get("attributes") or {}
    if not isinstance(attributes, dict):
        raise w.error("attributes", f"expected an object, got {_show(attributes)}", 'Use e.g. {"weather": "clear"}.')
    frame = FrameLabels(
        name=name,
        attributes=dict(attributes),
        video_name=_optional(d, "videoName", str, w, "Give the clip name as a string or remove it."),
        frame_index=_optional(d, "frameIndex", int, w, "Give the frame index as an integer or remove it."),
    )
    labels = d.get("labels") or []
    if not isinstance(labels, list):
        raise w.error("labels", f"expected a list, got {_show(labels)}", "Put the frame's labels in a JSON list.")
    for i, raw in enumerate(labels):
        field = f"labels[{i}]"
        if not isinstance(raw, dict):
            raise w.error(field, f"expected an object, got {_show(raw)}", "Each label is a JSON object.")
        category = raw.get("category", _MISSING)
        if category not in _KNOWN_CATEGORIES and category not in _SKIPPED_CATEGORIES:
            raise w.error(
                f"{field}.category", f"unknown category {_show(category)}", f"Use one of {_one_of(_KNOWN_CATEGORIES)}."
            )
        attrs = raw.get("attributes") or {}
        if not isinstance(attrs, dict):
            raise w.error(f"{field}.attributes", f"expected an object, got {_show(attrs)}", "Use a JSON object.")
        label_id = raw.get("id", "")
        if isinstance(label_id, bool) or not isinstance(label_id, (str, int)):
            raise w.error(
                f"{field}.id", f"expected a string or integer, got {_show(label_id)}", "Fix or remove the id."
            )
        label_id = str(label_id)
        if category in BOX_CATEGORIES or category in BOX_CATEGORY_ALIASES:
            frame.objects.append(_box(raw, category, attrs, label_id, w, field))
        elif category == "lane" or category in LANE_TYPES:
            frame.lanes.extend(_lanes(raw, category, attrs, label_id or str(i), w, field))
        elif category in _DRIVABLE_CATEGORIES:
            frame.drivable_polygons.extend(_drivable(raw, category, attrs, w, field))
    return frame


def _read_file(path: Path) -> list[FrameLabels]:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as e:
        raise LabelFormatError(
            f"{path}: invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}. "
            "Fix the file there (often a truncated download or a hand edit)."
        ) from None
    except UnicodeDecodeError as e:
        raise LabelFormatError(f"{path}: not UTF-8 text ({e.reason}). Label files are UTF-8 JSON.") from None
    if isinstance(data, dict) and "name" not in data and isinstance(data.get("frames"), list):
        data = data["frames"]  # Scalabel dataset object: {"frames": [...], "config": ...}
    if isinstance(data, dict):
        return [frame_from_dict(data, str(path))]
    if not isinstance(data, list):
        raise LabelFormatError(
            f"{path}: top level is {type(data).__name__}; expected a list of frames or one frame object. "
            'Use [{"name": ..., "labels": [...]}, ...].'
        )
    return [frame_from_dict(d, str(path), index=i) for i, d in enumerate(data)]


def read_frames(path: str | Path) -> list[FrameLabels]:
    """Load a JSON list of frames, a single frame object, or a directory of per-frame ``*.json`` files."""
    path = Path(path)
    if not path.is_dir():
        return _read_file(path)
    files = sorted(p for p in path.glob("*.json") if p.is_file())
    if not files:
        raise LabelFormatError(
            f"{path}: no *.json label files in this directory. "
            "Point at a label JSON file or at a directory with one JSON file per frame."
        )
    return [frame for file in files for frame in _read_file(file)]


def merge_frames(*frame_lists: Sequence[FrameLabels]) -> list[FrameLabels]:
    """Join frames of the same name (e.g. from det and lane files), in first-seen order.

    Labels are concatenated; for frame attributes, videoName and frameIndex the first
    value seen wins. Inputs are not modified (label objects are shared, not copied).
    """
    merged: dict[str, FrameLabels] = {}
    for frames in frame_lists:
        for f in frames:
            m = merged.get(f.name)
            if m is None:
                merged[f.name] = FrameLabels(
                    name=f.name,
                    objects=list(f.objects),
                    lanes=list(f.lanes),
                    attributes=dict(f.attributes),
                    video_name=f.video_name,
                    frame_index=f.frame_index,
                    drivable_polygons=list(f.drivable_polygons),
                )
                continue
            m.objects.extend(f.objects)
            m.lanes.extend(f.lanes)
            m.drivable_polygons.extend(f.drivable_polygons)
            for key, value in f.attributes.items():
                m.attributes.setdefault(key, value)
            m.video_name = f.video_name if m.video_name is None else m.video_name
            m.frame_index = f.frame_index if m.frame_index is None else m.frame_index
    return list(merged.values())


# --------------------------------------------------------------------------- writing


def _check(ok: bool, w: _Where, field: str, problem: str, fix: str) -> None:
    if not ok:
        raise w.error(field, problem, fix)


def _points_out(points: Any, w: _Where, field: str, min_count: int) -> list[list[float]]:
    arr = np.asarray(points, dtype=np.float64)
    ok = arr.ndim == 2 and arr.shape[1:] == (2,) and len(arr) >= min_count and bool(np.isfinite(arr).all())
    _check(ok, w, field, f"expected at least {min_count} finite (x, y) points, got shape {arr.shape}", "Fix the label.")
    return [[round(float(x), 2), round(float(y), 2)] for x, y in arr]


def _frame_to_dict(frame: FrameLabels, w: _Where) -> dict[str, Any]:
    _check(
        isinstance(frame.name, str) and bool(frame.name),
        w,
        "name",
        f"expected the image file name, got {_show(frame.name)}",
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
            f"unknown box category {_show(obj.category)}",
            f"Use one of {_one_of(BOX_CATEGORIES)}.",
        )
        attrs: dict[str, Any] = {"occluded": bool(obj.occluded), "truncated": bool(obj.truncated)}
        if obj.ignore:
            attrs["ignore"] = True
        if obj.sign_type is not None:
            _check(
                category == "traffic sign" and obj.sign_type in SIGN_CLASSES,
                w,
                f"{field}.sign_type",
                f'{_show(obj.sign_type)} on a "{category}" label',
                f'Only "traffic sign" labels take a sign type, one of {_one_of(SIGN_CLASSES)}.',
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
                f"unknown value {_show(value)}",
                f"Use one of {_one_of(choices)}.",
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
        _check(area in AREA_TYPES, w, field, f"unknown area type {_show(area)}", f"Use one of {_one_of(AREA_TYPES)}.")
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
    return _frame_to_dict(frame, _Where("<frame_to_dict>", None, frame.name))


def _write_json(data: Any, path: Path, indent: int | None) -> None:
    atomic_write(path, lambda f: json.dump(data, f, indent=indent, ensure_ascii=False, allow_nan=False), text=True)


def write_frames(frames: Sequence[FrameLabels], path: str | Path, *, indent: int | None = None) -> None:
    """Write ``frames`` as one BDD100K JSON list, atomically (no partial file on failure)."""
    path = Path(path)
    data = [_frame_to_dict(f, _Where(str(path), i, f.name)) for i, f in enumerate(frames)]
    _write_json(data, path, indent)


def write_frame(frame: FrameLabels, path: str | Path, *, indent: int | None = 2) -> None:
    """Write one frame object to its own JSON file, atomically."""
    path = Path(path)
    _write_json(_frame_to_dict(frame, _Where(str(path), None, frame.name)), path, indent)


# --------------------------------------------------------------------------- drivable masks


def read_drivable_mask(path: str | Path, *, coding: Literal["2018", "2020"] = "2018") -> np.ndarray:
    """Load a single-channel drivable-area PNG as uint8 [H, W]: 0 background, 1 direct, 2 alternative.

    ``coding="2020"`` reads the 2020 ``drivable/masks`` PNGs (0 direct, 1 alternative,
    2 background) and remaps them; the default is the 2018 ``drivable_maps/labels`` one.
    """
    if coding not in ("2018", "2020"):
        raise ValueError(f'coding must be "2018" or "2020", got {coding!r}')
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise LabelFormatError(
            f"{path}: cannot read this drivable-area mask (missing, unreadable or not an image). "
            "Check the path; masks are single-channel PNG files."
        )
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim != 2:
        raise LabelFormatError(
            f"{path}: drivable-area mask has {image.shape[2]} channels; expected one channel of class ids "
            "(0 background, 1 direct, 2 alternative). Use the label-id masks, not the colour renderings."
        )
    bad = np.unique(image[image > 2]) if np.issubdtype(image.dtype, np.integer) else np.unique(image)
    if bad.size:
        raise LabelFormatError(
            f"{path}: drivable-area mask holds values {bad[:8].tolist()} ({image.dtype}); expected only 0 background, "
            "1 direct and 2 alternative. Remap the mask or regenerate it."
        )
    mask = image.astype(np.uint8)
    if coding == "2020":
        lut = np.array([DRIVABLE_DIRECT, DRIVABLE_ALTERNATIVE, DRIVABLE_BACKGROUND], dtype=np.uint8)
        mask = lut[mask]
    return mask


def write_drivable_mask(mask: np.ndarray, path: str | Path) -> None:
    """Write a uint8 [H, W] mask of values 0/1/2 as a PNG, atomically."""
    path = Path(path)
    mask = np.asarray(mask)
    if mask.ndim != 2 or mask.dtype != np.uint8 or (mask.size and mask.max() > DRIVABLE_ALTERNATIVE):
        raise ValueError(
            f"{path}: expected a uint8 [H, W] mask with values 0, 1, 2; got {mask.dtype} {mask.shape}. "
            "Build it with rasterize_drivable() or cast a valid mask with .astype(np.uint8)."
        )
    if path.suffix.lower() != ".png":
        raise ValueError(f"{path}: drivable masks are written as PNG; give the file a .png suffix.")
    ok, encoded = cv2.imencode(".png", mask)
    if not ok:
        raise OSError(f"{path}: OpenCV could not encode the mask as PNG.")
    atomic_write(path, lambda f: f.write(encoded.tobytes()), text=False)


def rasterize_drivable(polygons: Sequence[tuple[np.ndarray, str]], height: int, width: int) -> np.ndarray:
    """Fill (vertices, areaType) polygons into a uint8 [H, W] mask; direct areas are drawn over alternative ones."""
    mask = np.zeros((height, width), dtype=np.uint8)
    for area in ("alternative", "direct"):
        for points, kind in polygons:
            if kind not in AREA_TYPES:
                raise ValueError(f"unknown drivable area type {kind!r}; use one of {_one_of(AREA_TYPES)}.")
            if kind == area:
                pts = np.round(np.asarray(points, dtype=np.float64)).astype(np.int32).reshape(-1, 1, 2)
                # One call per polygon: fillPoly with several contours leaves their overlap empty.
                cv2.fillPoly(mask, [pts], _AREA_VALUES[area])
    return mask
