"""The Mapillary Traffic Sign Dataset (MTSD), fully annotated set, as released in ``mtsd_v2_fully_annotated``.

Read against the v2 release's README ("Data Format", "Panorama handling") and the MTSD paper
(Ertler et al., "The Mapillary Traffic Sign Dataset for Detection and Classification on a Global
Scale", ECCV 2020, arXiv:1909.04422v2). The layout::

    ROOT/
      splits/train.txt, splits/val.txt    one image key a line
      annotations/<key>.json              one file per image of train and val
      images/<key>.jpg                    (or images/<split>/<key>.jpg, as the README's example)

An annotation file holds ``width``, ``height``, ``ispano`` and ``objects``; each object has
``key``, ``label`` (``"regulatory--stop--g1"``, ``"other-sign"``, ...), ``bbox`` ``{xmin, ymin,
xmax, ymax}`` in pixels and ``properties`` (boolean flags). How they are read:

* ``label`` is the object's category, unchanged; the category table maps it to our classes.
* ``occluded`` -> ``occluded``; ``out-of-frame`` (the sign is cut by the image border) ->
  ``truncated``: the box still outlines what is visible, so it stays a normal box.
* ``ambiguous`` (the sign cannot be classified: too small, blurred, ...) and ``dummy`` (it looks
  like a traffic sign but is none: a print, an advertisement, a reflection) -> ``ignore``: the
  dataset itself says neither "this class" nor "background" is right there.
* ``exterior``, ``included``, ``barrier``, ``highway`` and ``direction-or-information`` change
  nothing.
* Panoramas: a sign across the 360° seam has ``xmin > xmax`` (the README's ``cross_boundary``
  gives the two crops). It becomes two ignore regions, ``[xmin, width]`` and ``[0, xmax]``, ids
  ``<key>_0`` and ``<key>_1``: each is half a sign at an image border, which no dash camera
  produces. ``cross_boundary`` itself is not needed and not read.

Every image of a split covers "boxes": MTSD annotates every sign of a fully annotated image,
so an image without objects is a true negative. The test split's annotations are not public,
hence the roles are ``train`` and ``val``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from mtl_edge.data.formats.errors import LabelFormatError, show
from mtl_edge.data.labels import Box2D, FrameLabels, ObjectLabel
from mtl_edge.data.layouts import register_layout
from mtl_edge.data.layouts.base import Layout, LayoutData
from mtl_edge.data.layouts.common import one_kind

NAME = "mtsd"
ROLES: tuple[str, ...] = ("train", "val")

#: Default category table: MTSD labels -> our sign classes. The ``--g<N>`` suffix is the
#: graphical variant (national designs of the same sign), so every variant maps. LED speed
#: limits (``maximum-speed-limit-led-80``) mean the same limit and map too; ``end-of-...``,
#: ``warning--pedestrians-crossing--*`` (the triangular warning sign, not our blue crossing
#: sign) and every other label are ignore regions through ``"*"``.
CATEGORIES: dict[str, str] = {
    "regulatory--stop--*": "signs/stop",
    "regulatory--yield--*": "signs/yield",
    "regulatory--no-entry--*": "signs/no_entry",
    "information--pedestrians-crossing--*": "signs/pedestrian_crossing",
    "regulatory--maximum-speed-limit-30--*": "signs/speed_limit_30",
    "regulatory--maximum-speed-limit-50--*": "signs/speed_limit_50",
    "regulatory--maximum-speed-limit-80--*": "signs/speed_limit_80",
    "regulatory--maximum-speed-limit-100--*": "signs/speed_limit_100",
    "regulatory--maximum-speed-limit-led-30--*": "signs/speed_limit_30",
    "regulatory--maximum-speed-limit-led-50--*": "signs/speed_limit_50",
    "regulatory--maximum-speed-limit-led-80--*": "signs/speed_limit_80",
    "regulatory--maximum-speed-limit-led-100--*": "signs/speed_limit_100",
    "other-sign": "signs/ignore",
    "*": "signs/ignore",
}

#: Object properties that make a box an ignore region, and the one that marks it truncated.
IGNORE_PROPERTIES: tuple[str, ...] = ("ambiguous", "dummy")
TRUNCATED_PROPERTY = "out-of-frame"

_FIX = "Fix the file, or extract it again from the mtsd_v2_fully_annotated annotation archive."


def _error(path: Path, field: str, problem: str, fix: str = _FIX) -> LabelFormatError:
    return LabelFormatError(f"{path}: {field}: {problem}. {fix}")


def _number(value: Any, path: Path, field: str) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok:
        raise _error(path, field, f"expected a number, got {show(value)}")
    return float(value)


def _size(value: Any, path: Path, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise _error(path, field, f"expected the image {field} in pixels (a positive integer), got {show(value)}")
    return value


def _flags(value: Any, path: Path, field: str) -> dict[str, bool]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _error(path, field, f"expected an object of true/false flags, got {show(value)}")
    for name, flag in value.items():
        if not isinstance(flag, bool):
            raise _error(path, f"{field}.{name}", f"expected true or false, got {show(flag)}")
    return value


def _object(raw: Any, i: int, path: Path, width: int, pano: bool) -> list[ObjectLabel]:
    """One MTSD object as one ObjectLabel (two for a box across a panorama's seam)."""
    field = f"objects[{i}]"
    if not isinstance(raw, dict):
        raise _error(path, field, f"expected an object, got {show(raw)}")
    label = raw.get("label")
    if not isinstance(label, str) or not label:
        raise _error(
            path, f"{field}.label", f'expected the sign label (like "regulatory--stop--g1"), got {show(label)}'
        )
    key = raw.get("key", "")
    if not isinstance(key, str):
        raise _error(path, f"{field}.key", f"expected the object key (a string), got {show(key)}")
    bbox = raw.get("bbox")
    if not isinstance(bbox, dict):
        raise _error(path, f"{field}.bbox", f"expected {{xmin, ymin, xmax, ymax}}, got {show(bbox)}")
    x1, y1, x2, y2 = (_number(bbox.get(k), path, f"{field}.bbox.{k}") for k in ("xmin", "ymin", "xmax", "ymax"))
    if y1 > y2:
        raise _error(path, f"{field}.bbox", f"ymin {y1:g} is greater than ymax {y2:g}", "Swap them, or fix the box.")
    props = _flags(raw.get("properties"), path, f"{field}.properties")
    occluded = props.get("occluded", False)
    truncated = props.get(TRUNCATED_PROPERTY, False)
    ignore = any(props.get(p, False) for p in IGNORE_PROPERTIES)
    if x1 <= x2:
        return [ObjectLabel(label, Box2D(x1, y1, x2, y2), None, occluded, truncated, ignore, key)]
    if not (pano or "cross_boundary" in bbox):
        raise _error(
            path,
            f"{field}.bbox",
            f"xmin {x1:g} is right of xmax {x2:g} in an image that is no panorama (ispano is false)",
            "Only a panorama's box may wrap across the image border; swap xmin and xmax, or fix ispano.",
        )
    # Across the seam: the part from xmin to the right border, and the part from the left border to xmax.
    out = []
    for j, (a, b) in enumerate(((max(x1, 0.0), float(width)), (0.0, min(x2, float(width))))):
        if b > a:
            out.append(ObjectLabel(label, Box2D(a, y1, b, y2), None, occluded, True, True, f"{key}_{j}"))
    return out


def read_annotation(path: Path, name: str) -> FrameLabels:
    """One ``annotations/<key>.json`` file as the frame ``name``."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise _error(path, f"line {e.lineno} column {e.colno}", f"invalid JSON ({e.msg})") from None
    if not isinstance(raw, dict):
        raise _error(path, "top level", f"expected a JSON object with width, height and objects, got {show(raw)}")
    width = _size(raw.get("width"), path, "width")
    _size(raw.get("height"), path, "height")
    pano = raw.get("ispano", False)
    if not isinstance(pano, bool):
        raise _error(path, "ispano", f"expected true or false, got {show(pano)}")
    objects = raw.get("objects")
    if not isinstance(objects, list):
        raise _error(path, "objects", f"expected a list of signs (empty for an image without any), got {show(objects)}")
    labels = [obj for i, raw_obj in enumerate(objects) for obj in _object(raw_obj, i, path, width, pano)]
    return FrameLabels(name=name, objects=labels)


def read_split(path: Path) -> list[str]:
    """The image keys of one ``splits/<role>.txt`` file, in file order."""
    keys: list[str] = []
    first: dict[str, int] = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        key = line.strip()
        if not key:
            continue
        if any(c.isspace() for c in key) or "/" in key or "\\" in key or key.endswith(".jpg"):
            raise LabelFormatError(
                f"{path}:{lineno}: {show(key)} is not an image key. "
                "Each line must hold one bare image key (the annotation file name without .json)."
            )
        if key in first:
            raise LabelFormatError(
                f"{path}:{lineno}: image key {key!r} is listed again (first on line {first[key]}). "
                "Remove the duplicate line."
            )
        first[key] = lineno
        keys.append(key)
    return keys


def image_folder(root: Path, role: str) -> Path:
    """Where split ``role``'s images are: ``images/<role>/`` if that folder exists, else ``images/``."""
    split_dir = root / "images" / role
    return split_dir if split_dir.is_dir() else root / "images"


def detect(root: Path) -> bool:
    """An MTSD folder has ``annotations/`` and ``splits/`` with at least one split file."""
    splits = root / "splits"
    return (root / "annotations").is_dir() and any((splits / f"{r}.txt").is_file() for r in ROLES)


def load(root: Path, role: str) -> LayoutData:
    """Split ``role`` ("train" or "val") of the MTSD folder ``root``."""
    root = Path(root)
    split = root / "splits" / f"{role}.txt"
    if not split.is_file():
        raise FileNotFoundError(
            f"{split}: no such file. MTSD lists each split's image keys in splits/{role}.txt; "
            "extract the mtsd_v2_fully_annotated annotation archive into this folder."
        )
    images = image_folder(root, role)
    if not images.is_dir():
        raise FileNotFoundError(
            f"{images}: no such folder. Extract the MTSD {role} images so that they sit in "
            f"images/<key>.jpg or images/{role}/<key>.jpg under {root}."
        )
    frames: list[FrameLabels] = []
    sources: dict[str, list[Path]] = {}
    for key in read_split(split):
        name = f"{key}.jpg"
        annotation = root / "annotations" / f"{key}.json"
        if not annotation.is_file():
            raise FileNotFoundError(
                f"{annotation}: no such file, yet {split} lists image key {key!r}. "
                "Extract the whole mtsd_v2_fully_annotated annotation archive, or remove the key from the split."
            )
        if not (images / name).is_file():
            raise FileNotFoundError(
                f"{images / name}: no such image, yet {split} lists image key {key!r}. "
                f"Extract the MTSD {role} image archive into {images}, or remove the key from the split."
            )
        frames.append(read_annotation(annotation, name))
        sources[name] = [annotation]
    return one_kind(NAME, images, frames, "boxes", sources)


LAYOUT = register_layout(
    Layout(
        name=NAME,
        expects=(
            "splits/train.txt, splits/val.txt (image keys, one a line)",
            "annotations/<key>.json (mtsd_v2_fully_annotated: width, height, ispano, objects)",
            "images/<key>.jpg or images/<split>/<key>.jpg",
        ),
        heads=("signs",),
        categories=CATEGORIES,
        detect=detect,
        load=load,
        roles=ROLES,
    )
)
