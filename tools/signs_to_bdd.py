"""Convert one split of a traffic-sign dataset (MTSD or GTSDB) into one BDD100K-style box JSON list.

The split is read with the layout's own reader (:mod:`mtl_edge.data.layouts.mtsd` or
:mod:`~mtl_edge.data.layouts.gtsdb`), and every sign is mapped through that layout's default
category table onto our sign classes. Each sign becomes a ``traffic sign`` box label with its
``signType`` attribute set; a sign that maps to no class (the table's ``signs/ignore`` entries,
or a box the dataset marks ambiguous) is written with ``ignore: true``, and ``skip`` entries
are dropped. Every image of the split is written, signs or not, so images without signs stay
true negatives. Frame names are relative to the split's image folder, which is printed.

Run from a checkout with the package installed (``pip install -e .``)::

    python tools/signs_to_bdd.py --layout mtsd /data/mtsd_v2_fully_annotated --split val --out mtsd_val.json
    python tools/signs_to_bdd.py --layout gtsdb /data/FullIJCNN2013 --split train --out gtsdb_train.json
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from mtl_edge.data import layouts
from mtl_edge.data.categories import CategoryTable
from mtl_edge.data.formats import LabelFormatError, write_frames
from mtl_edge.data.labels import SIGN_CLASSES, FrameLabels, ObjectLabel
from mtl_edge.data.layouts.base import Layout, LayoutData

#: The layouts this tool converts (modules of mtl_edge.data.layouts).
LAYOUTS: tuple[str, ...] = ("mtsd", "gtsdb")
#: The BDD100K category every sign is written as.
SIGN_CATEGORY = "traffic sign"


def get_layout(name: str) -> Layout:
    """The registered layout ``name`` (one of LAYOUTS)."""
    if name not in LAYOUTS:
        raise ValueError(f"unknown layout {name!r}; this tool converts {', '.join(LAYOUTS)}.")
    return layouts.get_layout(name)


def map_frame(frame: FrameLabels, table: CategoryTable, source: str) -> tuple[FrameLabels, int, int]:
    """``frame`` with its signs as typed ``traffic sign`` boxes; also (typed, ignore) counts."""
    objects: list[ObjectLabel] = []
    typed = ignored = 0
    for obj in frame.objects:
        target = table.resolve(obj, source)
        if target is None:  # "skip": no head predicts it
            continue
        _, cls = target
        ignore = cls is None or obj.ignore  # unmapped, or flagged ambiguous/dummy by the dataset
        typed += not ignore
        ignored += ignore
        objects.append(replace(obj, category=SIGN_CATEGORY, sign_type=cls, ignore=ignore))
    return replace(frame, objects=objects), typed, ignored


def convert(root: Path, layout: str, split: str, out: Path) -> tuple[LayoutData, int, int]:
    """Convert split ``split`` of ``root`` into ``out``; returns (the data read, typed signs, ignore regions)."""
    spec = get_layout(layout)
    data = layouts.load_split(root, layout, split)
    table = CategoryTable(spec.categories, {"signs": SIGN_CLASSES}, f"the {layout} default category table")
    frames = []
    typed = ignored = 0
    for frame in data.frames:
        source = ", ".join(str(p) for p in data.sources.get(frame.name, [])) or str(root)
        mapped, n_typed, n_ignored = map_frame(frame, table, source)
        frames.append(mapped)
        typed, ignored = typed + n_typed, ignored + n_ignored
    write_frames(frames, out)
    return data, typed, ignored


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="signs_to_bdd.py",
        description=(
            "Convert one split of a traffic-sign dataset (mtsd: mtsd_v2_fully_annotated; gtsdb: FullIJCNN2013) "
            f'into one BDD100K-style JSON list of "{SIGN_CATEGORY}" boxes with signType set from the layout\'s '
            "default category table. Signs of other classes and boxes the dataset marks unreliable are written "
            "as ignore regions (ignore: true); every image of the split is written, with or without signs."
        ),
    )
    parser.add_argument("root", type=Path, metavar="ROOT", help="the dataset folder")
    parser.add_argument("--layout", required=True, choices=LAYOUTS, help="the dataset's layout")
    parser.add_argument("--split", default="val", help="the split to convert: train or val (default: val)")
    parser.add_argument("--out", required=True, type=Path, help="output BDD100K-style JSON file (written atomically)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        data, typed, ignored = convert(args.root, args.layout, args.split, args.out)
    except (LabelFormatError, OSError, ValueError) as e:
        print(f"signs_to_bdd: error: {e}", file=sys.stderr)
        return 1
    print(
        f"wrote {len(data.frames)} frames with {typed} typed signs and {ignored} ignore regions to {args.out} "
        f"(images in {data.images})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
