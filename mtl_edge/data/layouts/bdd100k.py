"""BDD100K as released: the 2020 layout (``bdd100k``) and the 2018 one (``bdd100k-2018``).

Read from the BDD100K documentation (bdd100k/bdd100k doc/source/download.rst and the Scalabel
format, doc.scalabel.ai/format.html, as of bdd100k @ 3de4af5):

2020 (``bdd100k``), under the root::

    images/100k/{train,val}/<name>.jpg
    labels/det_20/det_{train,val}.json             boxes; lists every annotated image
    labels/lane/polygons/lane_{train,val}.json     lane polylines (category = lane type)
    labels/drivable/masks/{train,val}/<stem>.png   0 direct, 1 alternative, 2 background

2018 (``bdd100k-2018``)::

    images/100k/{train,val}/<name>.jpg
    labels/bdd100k_labels_images_{train,val}.json  boxes, lanes and drivable polygons in one file
    drivable_maps/labels/{train,val}/<stem>_drivable_id.png   0 background, 1 direct, 2 alternative

Coverage: a frame listed in the box file covers boxes, one listed in the lane file covers
lanes, each even with no such label (BDD100K lists every image it annotated, so an empty
frame is a true negative); a frame that only one file lists covers only that file's kind.
The 2018 file annotated every task, so its frames cover boxes and lanes. Either layout may
lack a label file (say, no lanes downloaded): its kind is then covered by no frame.
"""

from __future__ import annotations

from pathlib import Path

from mtl_edge.data.categories import BDD100K_CATEGORIES
from mtl_edge.data.formats import merge_frames, read_frames
from mtl_edge.data.layouts import register_layout
from mtl_edge.data.layouts.base import Layout, LayoutData, MaskFiles
from mtl_edge.data.layouts.common import add_cover, frozen, require_dir

EXPECTS_2020 = (
    "images/100k/{train,val}/<name>.jpg",
    "labels/det_20/det_{train,val}.json (boxes)",
    "labels/lane/polygons/lane_{train,val}.json (lanes)",
    "labels/drivable/masks/{train,val}/<stem>.png (2020 coding: 0 direct, 1 alternative, 2 background)",
)
EXPECTS_2018 = (
    "images/100k/{train,val}/<name>.jpg",
    "labels/bdd100k_labels_images_{train,val}.json (boxes, lanes, drivable polygons)",
    "drivable_maps/labels/{train,val}/<stem>_drivable_id.png (0 background, 1 direct, 2 alternative)",
)


def _detect_2020(root: Path) -> bool:
    labels = root / "labels"
    return (root / "images" / "100k").is_dir() and ((labels / "det_20").is_dir() or (labels / "lane").is_dir())


def _load_2020(root: Path, role: str) -> LayoutData:
    images = require_dir(root / "images" / "100k" / role, "images", "bdd100k", EXPECTS_2020)
    files = {
        "boxes": root / "labels" / "det_20" / f"det_{role}.json",
        "lanes": root / "labels" / "lane" / "polygons" / f"lane_{role}.json",
    }
    present = {kind: path for kind, path in files.items() if path.is_file()}
    if not present:
        raise FileNotFoundError(
            f"{root}: no label file for the {role} split: expected {files['boxes']} and/or {files['lanes']}. "
            "Unpack the BDD100K 2020 detection and lane labels under labels/ as released."
        )
    covers: dict[str, set[str]] = {}
    sources: dict[str, list[Path]] = {}
    lists = []
    for kind, path in present.items():
        frames = read_frames(path)
        add_cover(covers, sources, frames, {kind}, path)
        lists.append(frames)
    masks = root / "labels" / "drivable" / "masks" / role
    return LayoutData(
        layout="bdd100k",
        images=images,
        frames=merge_frames(*lists),
        covers=frozen(covers),
        masks=MaskFiles(masks) if masks.is_dir() else None,
        coding="2020",
        sources=sources,
    )


def _detect_2018(root: Path) -> bool:
    labels = root / "labels"
    return (root / "images" / "100k").is_dir() and any(labels.glob("bdd100k_labels_images_*.json"))


def _load_2018(root: Path, role: str) -> LayoutData:
    images = require_dir(root / "images" / "100k" / role, "images", "bdd100k-2018", EXPECTS_2018)
    path = root / "labels" / f"bdd100k_labels_images_{role}.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: the {role} label file is missing. The bdd100k-2018 layout expects:\n  "
            + "\n  ".join(EXPECTS_2018)
        )
    frames = read_frames(path)
    covers: dict[str, set[str]] = {}
    sources: dict[str, list[Path]] = {}
    add_cover(covers, sources, frames, {"boxes", "lanes"}, path)
    masks = root / "drivable_maps" / "labels" / role
    return LayoutData(
        layout="bdd100k-2018",
        images=images,
        frames=frames,
        covers=frozen(covers),
        masks=MaskFiles(masks, "_drivable_id.png") if masks.is_dir() else None,
        coding="2018",
        sources=sources,
    )


register_layout(Layout("bdd100k", EXPECTS_2020, None, BDD100K_CATEGORIES, _detect_2020, _load_2020))
register_layout(Layout("bdd100k-2018", EXPECTS_2018, None, BDD100K_CATEGORIES, _detect_2018, _load_2018))
