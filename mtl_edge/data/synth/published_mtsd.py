"""Generated scenes in the layout of the Mapillary Traffic Sign Dataset (MTSD v2, fully annotated).

Sources read (conventions followed, nothing copied): the ``mtsd_v2_fully_annotated`` package
(MTSD v2, 2020) as its users quote its README and files (an annotation JSON per image with the
nine object properties, ``splits/{train,val,test}.txt`` of image keys), and MTSD's class names
(``regulatory--stop--g1``, ``information--pedestrians-crossing--g1``,
``regulatory--maximum-speed-limit-30--g1``, ..., and ``other-sign`` for signs outside the classes).

* ``images/<key>.jpg``, key a 22-character URL-safe image key;
* ``annotations/<key>.json``: ``{"width", "height", "ispano": false, "objects": [{"key",
  "label", "bbox": {"xmin", "ymin", "xmax", "ymax"}, "properties": {"barrier", "occluded",
  "out-of-frame", "exterior", "ambiguous", "included", "direction-or-information", "highway",
  "dummy"}}]}``, only traffic signs (vehicles in the images are not labelled in MTSD);
* ``splits/<split>.txt``: one image key a line.

Our 8 sign types map to MTSD labels (:data:`MTSD_LABELS`); some signs are written with labels
no head maps (:data:`UNMAPPED_LABELS`) so that a reader's unmapped -> ignore rule is exercised.
Signs too small to recognise are ``ambiguous``, cut by the image border ``out-of-frame``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ...fileio import atomic_write, atomic_write_bytes
from .published import PublishedOptions, encode_jpeg, item_rng, scene_seed, write_json
from .render import MIN_BOX_HEIGHT_720, render
from .scene import sample_scene

#: Our sign types -> MTSD v2 labels.
MTSD_LABELS: dict[str, str] = {
    "stop": "regulatory--stop--g1",
    "yield": "regulatory--yield--g1",
    "no_entry": "regulatory--no-entry--g1",
    "pedestrian_crossing": "information--pedestrians-crossing--g1",  # the blue square sign we draw
    "speed_limit_30": "regulatory--maximum-speed-limit-30--g1",
    "speed_limit_50": "regulatory--maximum-speed-limit-50--g1",
    "speed_limit_80": "regulatory--maximum-speed-limit-80--g1",
    "speed_limit_100": "regulatory--maximum-speed-limit-100--g1",
}
#: Labels written for some signs that no head predicts.
UNMAPPED_LABELS: tuple[str, ...] = ("other-sign", "warning--curve-left--g1")
#: The boolean properties of every MTSD object, in the published order.
PROPERTIES: tuple[str, ...] = (
    "barrier",
    "occluded",
    "out-of-frame",
    "exterior",
    "ambiguous",
    "included",
    "direction-or-information",
    "highway",
    "dummy",
)
_IMAGE_KEY_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_OBJECT_KEY_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
_KEY, _EDIT = 4, 5  # item_rng purposes


def image_key(seed: int, split: str, index: int) -> str:
    """A 22-character MTSD-style image key, fixed by seed, split and index."""
    picks = item_rng(seed, split, index, _KEY).integers(0, len(_IMAGE_KEY_ALPHABET), 22)
    return "".join(_IMAGE_KEY_ALPHABET[i] for i in picks)


def item_files(out: Path, options: PublishedOptions, split: str, index: int) -> list[Path]:
    key = image_key(options.seed, split, index)
    return [out / "images" / f"{key}.jpg", out / "annotations" / f"{key}.json"]


def _label(sign_type: str | None, index: int, nth: int, rng: np.random.Generator) -> str:
    """The MTSD label of a sign: its mapped label, or (for the first sign of every third item and
    about one in ten others) a label outside our classes."""
    if sign_type is None or (nth == 0 and index % 3 == 2) or rng.random() < 0.1:
        return UNMAPPED_LABELS[(index // 3 + nth) % len(UNMAPPED_LABELS)]
    return MTSD_LABELS[sign_type]


def write_item(out: Path, options: PublishedOptions, split: str, index: int) -> None:
    """Render item ``index``; write its image and (last) its annotation."""
    key = image_key(options.seed, split, index)
    rng = item_rng(options.seed, split, index, _EDIT)
    scene = sample_scene(scene_seed(options.seed, split, index), options.width, options.height)
    result = render(scene, f"{key}.jpg")
    min_h = MIN_BOX_HEIGHT_720 * options.height / 720.0
    objects: list[dict[str, Any]] = []
    for obj in result.frame.objects:
        if obj.category != "traffic sign" or (obj.ignore and obj.box.height >= min_h):
            continue  # only signs are labelled; mostly hidden ones are not seen by an annotator
        props = dict.fromkeys(PROPERTIES, False)
        props.update(
            {"occluded": bool(obj.occluded), "out-of-frame": bool(obj.truncated), "ambiguous": bool(obj.ignore)}
        )
        objects.append(
            {
                "key": "".join(_OBJECT_KEY_ALPHABET[i] for i in rng.integers(0, len(_OBJECT_KEY_ALPHABET), 22)),
                "label": _label(obj.sign_type, index, len(objects), rng),
                "bbox": {
                    "xmin": round(float(obj.box.x1), 6),
                    "ymin": round(float(obj.box.y1), 6),
                    "xmax": round(float(obj.box.x2), 6),
                    "ymax": round(float(obj.box.y2), 6),
                },
                "properties": props,
            }
        )
    image_path, annotation_path = item_files(out, options, split, index)
    atomic_write_bytes(image_path, encode_jpeg(result.image))
    write_json(annotation_path, {"width": options.width, "height": options.height, "ispano": False, "objects": objects})


def finish(out: Path, options: PublishedOptions, split: str, n: int) -> None:
    """Write ``splits/<split>.txt`` listing the keys of items 0..n-1."""
    text = "".join(f"{image_key(options.seed, split, i)}\n" for i in range(n))
    atomic_write(out / "splits" / f"{split}.txt", lambda f: f.write(text), text=True)
