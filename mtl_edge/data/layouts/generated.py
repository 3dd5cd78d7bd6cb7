"""The scene generator's own layout (``mtl-edge data synth`` without ``--layout``).

``labels.json`` (every frame, BDD100K frame objects with our ``signType`` attribute),
``images/`` and ``drivable/<stem>.png`` (2018 coding). The generator labels every task in
every scene, so each frame covers boxes and lanes: a scene without a lane is a true negative.
"""

from __future__ import annotations

from pathlib import Path

from mtl_edge.data.categories import BDD100K_CATEGORIES
from mtl_edge.data.formats import read_frames
from mtl_edge.data.layouts import register_layout
from mtl_edge.data.layouts.base import Layout, LayoutData, MaskFiles
from mtl_edge.data.layouts.common import require_dir

EXPECTS = (
    "labels.json (BDD100K frame list)",
    "images/<name>.jpg",
    "drivable/<stem>.png (optional; 0 background, 1 direct, 2 alternative)",
)


def _detect(root: Path) -> bool:
    return (root / "labels.json").is_file() and (root / "images").is_dir()


def _load(root: Path, role: str) -> LayoutData:
    labels = root / "labels.json"
    if not labels.is_file():
        raise FileNotFoundError(
            f"{labels}: not found. A generated dataset has labels.json (an unfinished `mtl-edge data synth` "
            "run writes it when run again with the same options)."
        )
    images = require_dir(root / "images", "images", "generated", EXPECTS)
    frames = read_frames(labels)
    drivable = root / "drivable"
    return LayoutData(
        layout="generated",
        images=images,
        frames=frames,
        covers={f.name: frozenset({"boxes", "lanes"}) for f in frames},
        masks=MaskFiles(drivable, keep_dirs=True) if drivable.is_dir() else None,
        coding="2018",
        sources={f.name: [labels] for f in frames},
    )


LAYOUT = Layout(
    name="generated",
    expects=EXPECTS,
    heads=None,
    categories=BDD100K_CATEGORIES,
    detect=_detect,
    load=_load,
    roles=("",),
)

register_layout(LAYOUT)
