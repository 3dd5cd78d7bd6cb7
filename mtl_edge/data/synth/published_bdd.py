"""Generated scenes in the BDD100K 2020 release layout.

Sources read (their conventions are followed here, nothing is copied):

* bdd100k/bdd100k ``doc/source/download.rst`` @ 01b615ef (docs of the 2020 release): folders
  ``images/100k/{train,val}``, ``labels/det_20/det_{train,val}.json``,
  ``labels/lane/polygons/lane_{train,val}.json``, ``labels/drivable/masks/{train,val}/*.png``.
* bdd100k/bdd100k ``doc/source/format.rst`` @ 01a5b800 and ``bdd100k/label/to_mask.py`` @ 01b615ef: drivable mask
  ids 0 direct, 1 alternative, 2 background; lane categories (crosswalk, double/single
  white/yellow/other, road curb), laneDirection parallel|vertical, laneStyle solid|dashed.
* scalabel/scalabel ``doc/src/format.rst`` @ 07945bd8 (the Scalabel format of scalabel 0.3): frames of ``name``,
  ``attributes``, ``timestamp``, ``labels`` of ``id`` (string), ``category``, ``attributes``,
  ``box2d`` {x1, y1, x2, y2} or ``poly2d`` [{vertices, types ("L" per vertex), closed}].

Conventions of the published files written here: image names are two 8-digit hex groups
(``0a0a0b1a-7c39d841.jpg``, from seed, split and index); box labels carry ``occluded``,
``truncated``, ``crowd`` and ``trafficLightColor`` ("NA" except on lights); traffic signs are
category "traffic sign" with no type (the published schema has none); frames whose images
hold nothing labelled have no ``labels`` key; lanes are sparse polylines (3 to 6 clicks), some
written far to near, double lines as two parallel polylines (one per painted stripe), road
curbs along both asphalt edges, and zebra crossings as two ``vertical`` crosswalk lines.

To exercise a reader's category table as real files do, some frames also hold categories no
head predicts: a pedestrian or a traffic light drawn into the frame, and some trucks labelled
"trailer" or "other vehicle". Every label marks something drawn in its image.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ...fileio import atomic_write_bytes
from ..labels import DRIVABLE_BACKGROUND
from .camera import NEAR_CLIP
from .canvas import SHIFT, to_fixed
from .published import (
    PublishedOptions,
    across_road,
    along_road,
    encode_jpeg,
    encode_png,
    in_image,
    item_rng,
    part_path,
    read_part,
    scene_seed,
    sparse_vertices,
    write_json,
    write_part,
)
from .render import MIN_BOX_HEIGHT_720, render
from .road import RoadFrame
from .scene import Scene, sample_scene

#: Every 100k image is the frame at the 10th second of its video.
TIMESTAMP_MS = 10000
#: 2018 mask ids (0 background, 1 direct, 2 alternative) -> 2020 ids (0 direct, 1 alternative, 2 background).
TO_2020 = np.array([2, 0, 1], np.uint8)
#: Items with index % EMPTY_EVERY == EMPTY_AT hold no labelled objects (so no ``labels`` key).
EMPTY_EVERY, EMPTY_AT = 5, 2
#: Items with index % CROSSWALK_EVERY == CROSSWALK_AT get a zebra crossing painted ahead.
CROSSWALK_EVERY, CROSSWALK_AT = 3, 1
_NAME, _EDIT = 1, 2  # item_rng purposes


def image_name(seed: int, split: str, index: int) -> str:
    """A BDD100K-style image name such as ``0a0a0b1a-7c39d841.jpg``, fixed by seed, split and index."""
    a, b = item_rng(seed, split, index, _NAME).integers(0, 2**32, size=2)
    return f"{int(a):08x}-{int(b):08x}.jpg"


def det_json(out: Path, split: str) -> Path:
    return out / "labels" / "det_20" / f"det_{split}.json"


def lane_json(out: Path, split: str) -> Path:
    return out / "labels" / "lane" / "polygons" / f"lane_{split}.json"


def item_files(out: Path, options: PublishedOptions, split: str, index: int) -> list[Path]:
    name = image_name(options.seed, split, index)
    return [
        out / "images" / "100k" / split / name,
        out / "labels" / "drivable" / "masks" / split / name.replace(".jpg", ".png"),
        part_path(out, split, index),
    ]


def write_item(out: Path, options: PublishedOptions, split: str, index: int) -> None:
    """Render item ``index`` and write its image, its 2020 drivable mask and (last) its labels."""
    name = image_name(options.seed, split, index)
    rng = item_rng(options.seed, split, index, _EDIT)
    scene = sample_scene(scene_seed(options.seed, split, index), options.width, options.height)
    empty = index % EMPTY_EVERY == EMPTY_AT
    if empty:
        scene = replace(scene, vehicles=[], signs=[])
    result = render(scene, name)
    image, drivable = result.image.copy(), result.drivable.copy()
    rf = scene.road.frame(scene.ego_s, scene.ego_offset, scene.ego_yaw)

    boxes = _box_labels(result.frame.objects, options.height, rng)
    if not empty:
        taken = [np.array([b["x1"], b["y1"], b["x2"], b["y2"]]) for b in (lb["box2d"] for lb in boxes)]
        kind = "traffic light" if index % 2 == 0 else "pedestrian"
        extra = _draw_roadside(kind, image, drivable, scene, rf, rng, taken)
        if extra is not None:
            boxes.append(extra)
    for i, label in enumerate(boxes):
        label["id"] = str(i)
    crossing = _paint_crosswalk(image, drivable, scene, rf, rng) if index % CROSSWALK_EVERY == CROSSWALK_AT else None

    det: dict[str, Any] = {"name": name, "attributes": dict(result.frame.attributes), "timestamp": TIMESTAMP_MS}
    if boxes:
        det["labels"] = [{k: lb[k] for k in ("id", "attributes", "category", "box2d")} for lb in boxes]
    lanes = _lane_labels(scene, rf, crossing, rng)
    lane: dict[str, Any] = {"name": name}
    if lanes:
        lane["labels"] = lanes

    files = item_files(out, options, split, index)
    atomic_write_bytes(files[0], encode_jpeg(image))
    atomic_write_bytes(files[1], encode_png(TO_2020[drivable]))
    write_part(out, split, index, {"det": det, "lane": lane})


def finish(out: Path, options: PublishedOptions, split: str, n: int) -> None:
    """Write ``det_<split>.json`` and ``lane_<split>.json`` listing items 0..n-1."""
    parts = [read_part(out, split, i) for i in range(n)]
    write_json(det_json(out, split), [p["det"] for p in parts])
    write_json(lane_json(out, split), [p["lane"] for p in parts])


def _box(x1: float, y1: float, x2: float, y2: float) -> dict[str, float]:
    return {"x1": round(float(x1), 6), "y1": round(float(y1), 6), "x2": round(float(x2), 6), "y2": round(float(y2), 6)}


def _attributes(occluded: bool = False, truncated: bool = False, light: str = "NA") -> dict[str, Any]:
    return {"occluded": bool(occluded), "truncated": bool(truncated), "trafficLightColor": light, "crowd": False}


def _box_labels(objects: list, height: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    """Scalabel box labels of the rendered objects (ids are set later).

    Objects the renderer marks ignore although tall enough are mostly hidden: an annotator
    would not see them, so they are left out. Small ones are labelled, as in BDD100K.
    """
    min_h = MIN_BOX_HEIGHT_720 * height / 720.0
    labels = []
    for obj in objects:
        if obj.ignore and obj.box.height >= min_h:
            continue
        category = obj.category
        if category == "truck":  # some trucks as categories no head predicts
            roll = rng.random()
            category = "trailer" if roll < 0.2 else "other vehicle" if roll < 0.35 else "truck"
        labels.append(
            {
                "attributes": _attributes(obj.occluded, obj.truncated),
                "category": category,
                "box2d": _box(obj.box.x1, obj.box.y1, obj.box.x2, obj.box.y2),
            }
        )
    return labels


# ---------------------------------------------------------------------------------------------
# Extra objects drawn into the finished frame: a pedestrian or a traffic light by the road.


def _project(scene: Scene, rf: RoadFrame, s: float, offsets: np.ndarray, heights: np.ndarray) -> np.ndarray | None:
    cam = scene.camera
    uv, depth = cam.project(rf.ground(np.full(len(offsets), s), offsets, heights, cam.mount_height))
    return uv if bool(np.all(depth > 2 * NEAR_CLIP)) else None


def _rect(o0: float, o1: float, h0: float, h1: float) -> tuple[np.ndarray, np.ndarray]:
    return np.array([o0, o1, o1, o0]), np.array([h0, h0, h1, h1])


def _disc(o: float, h: float, r: float, k: int = 12) -> tuple[np.ndarray, np.ndarray]:
    a = 2 * np.pi * np.arange(k) / k
    return o + r * np.cos(a), h + r * np.sin(a)


#: A roadside object's painted parts: ((offsets, heights), RGB, lit), as ``_place`` draws them.
Parts = list[tuple[tuple[np.ndarray, np.ndarray], tuple[int, int, int], bool]]


def _place(
    image: np.ndarray,
    drivable: np.ndarray,
    scene: Scene,
    rf: RoadFrame,
    parts: Parts,
    labelled: int,
    s: float,
    taken: list[np.ndarray],
) -> np.ndarray | None:
    """Draw ``parts`` ((offsets, heights), RGB, lit) at arc ``s``; returns the box of the first
    ``labelled`` parts, or None (nothing drawn) when off-image, too small or overlapping a label."""
    h, w = drivable.shape
    polys = []
    for (offsets, heights), _, _ in parts:
        uv = _project(scene, rf, s, offsets, heights)
        if uv is None:
            return None
        polys.append(uv)
    allpts, boxpts = np.concatenate(polys), np.concatenate(polys[:labelled])
    whole = np.array([allpts[:, 0].min(), allpts[:, 1].min(), allpts[:, 0].max(), allpts[:, 1].max()])
    box = np.array([boxpts[:, 0].min(), boxpts[:, 1].min(), boxpts[:, 0].max(), boxpts[:, 1].max()])
    if box[0] < 1 or box[1] < 1 or box[2] > w - 1 or box[3] > h - 1 or box[3] - box[1] < 8 * h / 720:
        return None
    for other in taken:  # never in front of (or behind) a labelled object
        if whole[0] < other[2] + 2 and other[0] < whole[2] + 2 and whole[1] < other[3] + 2 and other[1] < whole[3] + 2:
            return None
    x0, y0 = max(int(whole[0]) - 2, 0), max(int(whole[1]) - 2, 0)
    x1, y1 = min(int(whole[2]) + 3, w), min(int(whole[3]) + 3, h)
    light = float(np.clip(image[y0:y1, x0:x1].mean() / 150.0, 0.1, 1.1))  # match the frame's lighting
    silhouette = np.zeros((h, w), np.uint8)
    for uv, (_, rgb, lit) in zip(polys, parts):
        colour = tuple(int(c) for c in (rgb if lit else np.array(rgb) * light))
        cv2.fillPoly(image, [to_fixed(uv)], colour, cv2.LINE_AA, SHIFT)
        cv2.fillPoly(silhouette, [to_fixed(uv)], 1, cv2.LINE_8, SHIFT)
    drivable[silhouette > 0] = DRIVABLE_BACKGROUND  # like vehicles: what stands there is not drivable
    return box


def _roadside(scene: Scene, rng: np.random.Generator, near: float, far: float) -> tuple[float, float]:
    """An arc and a lateral offset just off the asphalt, more often on the right."""
    road, s = scene.road, float(rng.uniform(near, far))
    if rng.random() < 0.7:
        return s, road.right_edge + float(rng.uniform(0.5, 2.0))
    return s, road.left_edge - float(rng.uniform(0.5, 2.0))


def _pedestrian(o: float, rng: np.random.Generator) -> tuple[Parts, int, dict[str, Any]]:
    """A pedestrian at lateral offset ``o``: its parts, how many the box covers, its label."""
    shirt = tuple(int(c) for c in rng.integers(30, 230, 3))
    parts: Parts = [
        (_rect(o - 0.13, o - 0.02, 0.0, 0.88), (40, 42, 60), False),
        (_rect(o + 0.02, o + 0.13, 0.0, 0.88), (40, 42, 60), False),
        (_rect(o - 0.21, o + 0.21, 0.86, 1.48), shirt, False),
        (_disc(o, 1.61, 0.11), (205, 160, 130), False),
    ]
    return parts, len(parts), {"attributes": _attributes(), "category": "pedestrian"}


def _traffic_light(o: float, rng: np.random.Generator) -> tuple[Parts, int, dict[str, Any]]:
    """A traffic light on a pole at lateral offset ``o``, one lamp lit; the box covers the housing."""
    colours = {"R": (255, 40, 30), "Y": (255, 190, 20), "G": (40, 255, 120)}
    state = str(rng.choice(list(colours)))
    lamps = []
    for key, height in (("R", 3.95), ("Y", 3.65), ("G", 3.35)):
        rgb = colours[key] if key == state else tuple(c // 5 for c in colours[key])
        lamps.append((_disc(o, height, 0.1), rgb, key == state))
    parts: Parts = [(_rect(o - 0.18, o + 0.18, 3.2, 4.1), (28, 30, 32), False), *lamps]
    parts.append((_rect(o - 0.06, o + 0.06, 0.0, 3.2), (120, 122, 126), False))  # the pole, not labelled
    return parts, 4, {"attributes": _attributes(light=state), "category": "traffic light"}


#: What the writer adds by the road (categories no head predicts): its shape, and the arcs it stands at (m).
ROADSIDE = {"traffic light": (_traffic_light, 15.0, 50.0), "pedestrian": (_pedestrian, 8.0, 35.0)}


def _draw_roadside(
    kind: str,
    image: np.ndarray,
    drivable: np.ndarray,
    scene: Scene,
    rf: RoadFrame,
    rng: np.random.Generator,
    taken: list[np.ndarray],
) -> dict[str, Any] | None:
    """Draw a ``kind`` (a ROADSIDE key) just off the road, clear of every labelled object; its box label or None."""
    make, near, far = ROADSIDE[kind]
    for _ in range(8):
        s, o = _roadside(scene, rng, near, far)
        parts, labelled, label = make(o, rng)
        box = _place(image, drivable, scene, rf, parts, labelled, s, taken)
        if box is not None:
            return {**label, "box2d": _box(*box)}
    return None


# ---------------------------------------------------------------------------------------------
# Lane markings.


def _paint_crosswalk(
    image: np.ndarray, drivable: np.ndarray, scene: Scene, rf: RoadFrame, rng: np.random.Generator
) -> tuple[float, float] | None:
    """Paint zebra stripes across the lanes a little ahead; returns the crossing's (near, far) arcs.

    Only road pixels that are still drivable are painted, so vehicles and poles stay in front.
    """
    road, cam = scene.road, scene.camera
    near = float(rng.uniform(9.0, 25.0))
    far = near + 3.0
    o0, o1 = road.lines[0].offset, road.lines[-1].offset
    if far + 1.0 > rf.s[-1] or across_road(scene, rf, near, o0, o1) is None:
        return None
    stripes = np.zeros(drivable.shape, np.uint8)
    for a in np.arange(o0 + 0.25, o1 - 0.5, 1.0):
        quad = [(near, a), (near, a + 0.5), (far, a + 0.5), (far, a)]
        s = np.array([q[0] for q in quad])
        uv, depth = cam.project(rf.ground(s, np.array([q[1] for q in quad]), 0.0, cam.mount_height))
        if np.all(depth > 2 * NEAR_CLIP):
            cv2.fillPoly(stripes, [to_fixed(uv)], 1, cv2.LINE_8, SHIFT)
    paint = (stripes > 0) & (drivable != DRIVABLE_BACKGROUND)
    image[paint] = np.clip(image[paint].astype(np.float32) * 2.1, 0, 255).astype(np.uint8)
    return near, far


def _lane_labels(
    scene: Scene, rf: RoadFrame, crossing: tuple[float, float] | None, rng: np.random.Generator
) -> list[dict[str, Any]]:
    cam, road = scene.camera, scene.road
    tolerance = max(0.75, 1.5 * cam.width / 1280)
    labels: list[dict[str, Any]] = []

    def add(uv: np.ndarray | None, category: str, style: str, direction: str = "parallel") -> None:
        points = in_image(uv, cam.width, cam.height)
        if points is None:
            return
        verts = sparse_vertices(points, tolerance)
        if rng.random() < 0.4:  # annotators click in either direction
            verts = verts[::-1]
        labels.append(
            {
                "id": str(len(labels)),
                "attributes": {"laneDirection": direction, "laneStyle": style, "laneTypes": category},
                "category": category,
                "poly2d": [
                    {
                        "vertices": [[round(float(x), 6), round(float(y), 6)] for x, y in verts],
                        "types": "L" * len(verts),
                        "closed": False,
                    }
                ],
            }
        )

    for line in road.lines:
        if line.is_double:  # the stripe centres of render.py's two painted stripes
            half = 0.09 + line.width * 0.7 / 2
            for offset in (line.offset - half, line.offset + half):
                add(along_road(scene, rf, offset), line.lane_type, line.style)
        else:
            add(along_road(scene, rf, line.offset), line.lane_type, line.style)
    for edge in (road.left_edge, road.right_edge):
        add(along_road(scene, rf, edge), "road curb", "solid")
    if crossing is not None:
        for s in crossing:
            add(
                across_road(scene, rf, s, road.lines[0].offset, road.lines[-1].offset), "crosswalk", "solid", "vertical"
            )
    return labels
