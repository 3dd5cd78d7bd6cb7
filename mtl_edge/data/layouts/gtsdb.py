"""The German Traffic Sign Detection Benchmark (GTSDB), as the ``FullIJCNN2013`` download.

Read against the ReadMe.txt shipped in FullIJCNN2013.zip (IJCNN 2013; Houben et al., "Detection of
Traffic Signs in Real-World Images: The German Traffic Sign Detection Benchmark"). The layout::

    ROOT/
      00000.ppm ... 00899.ppm    1360x800 scenes
      gt.txt                     one line per sign: 00000.ppm;774;411;815;443;11
      00/ ... 42/                single-sign crops (not read)

A ``gt.txt`` line is ``image;leftCol;topRow;rightCol;bottomRow;ClassID`` with the ROI in
inclusive pixel columns and rows and a GTSRB class id (0-42). The box is stored with its far
edges, as every box here: ``Box2D(leftCol, topRow, rightCol + 1, bottomRow + 1)``. The category
is the class id as a string (``"14"``); the category table maps it to our classes.

Splits: the benchmark published 600 training images and 300 test images; the full download
numbers them 00000-00599 (train) and 00600-00899 (the benchmark's test images). GTSDB has no
validation split of its own, so role ``val`` is the test images. Every image of a split is a
frame that covers "boxes", with or without ``gt.txt`` lines: the benchmark labels every sign of
its classes in every image, so an image without lines is a true negative.
"""

from __future__ import annotations

import re
from pathlib import Path

from mtl_edge.data.formats.errors import LabelFormatError, show
from mtl_edge.data.labels import Box2D, FrameLabels, ObjectLabel
from mtl_edge.data.layouts import register_layout
from mtl_edge.data.layouts.base import Layout, LayoutData
from mtl_edge.data.layouts.common import one_kind

NAME = "gtsdb"
ROLES: tuple[str, ...] = ("train", "val")
#: Image numbers of each role: the published 600 training and 300 test images.
SPLITS: dict[str, range] = {"train": range(0, 600), "val": range(600, 900)}
#: GTSRB class ids run 0-42.
NUM_CLASSES = 43

#: Default category table: GTSRB class ids -> our sign classes (ids from the GTSDB ReadMe.txt).
#: 27 "pedestrian crossing (danger)" is the red-bordered warning triangle, not our blue
#: pedestrian_crossing sign, so it stays an ignore region like every other class ("*"),
#: including 6 "restriction ends 80" and the other speed limits (20, 60, 70, 120).
CATEGORIES: dict[str, str] = {
    "1": "signs/speed_limit_30",
    "2": "signs/speed_limit_50",
    "5": "signs/speed_limit_80",
    "7": "signs/speed_limit_100",
    "13": "signs/yield",  # give way
    "14": "signs/stop",
    "17": "signs/no_entry",
    "*": "signs/ignore",
}

_IMAGE = re.compile(r"\d{5}\.ppm")
_LINE_FORMAT = "Each line must read image;leftCol;topRow;rightCol;bottomRow;ClassID, like 00000.ppm;774;411;815;443;11."


def _line_error(path: Path, lineno: int, problem: str) -> LabelFormatError:
    return LabelFormatError(f"{path}:{lineno}: {problem}. {_LINE_FORMAT}")


def parse_line(line: str, path: Path, lineno: int) -> tuple[str, ObjectLabel]:
    """(image name, sign) of one ``gt.txt`` line; ``path:lineno`` prefixes errors."""
    fields = line.split(";")
    if len(fields) != 6:
        raise _line_error(path, lineno, f"{len(fields)} fields in {show(line)}, expected 6")
    name = fields[0].strip()
    if not _IMAGE.fullmatch(name) or int(name[:5]) >= SPLITS["val"].stop:
        raise _line_error(path, lineno, f"image: expected a name from 00000.ppm to 00899.ppm, got {show(name)}")
    numbers: list[int] = []
    for field, text in zip(("leftCol", "topRow", "rightCol", "bottomRow", "ClassID"), fields[1:]):
        try:
            value = int(text.strip())
        except ValueError:
            raise _line_error(path, lineno, f"{field}: expected a whole number, got {show(text)}") from None
        if value < 0:
            raise _line_error(path, lineno, f"{field}: {value} is negative")
        numbers.append(value)
    left, top, right, bottom, class_id = numbers
    if left > right or top > bottom:
        raise _line_error(path, lineno, f"the ROI {left},{top},{right},{bottom} has its corners out of order")
    if class_id >= NUM_CLASSES:
        raise _line_error(path, lineno, f"ClassID: {class_id} is no GTSRB class (0-{NUM_CLASSES - 1})")
    box = Box2D(float(left), float(top), float(right + 1), float(bottom + 1))
    return name, ObjectLabel(str(class_id), box, id=str(lineno))


def read_gt(path: Path) -> dict[str, list[ObjectLabel]]:
    """Every sign of ``gt.txt``, by image name (blank lines are skipped)."""
    signs: dict[str, list[ObjectLabel]] = {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            name, sign = parse_line(line.strip(), path, lineno)
            signs.setdefault(name, []).append(sign)
    return signs


def detect(root: Path) -> bool:
    """A GTSDB folder has ``gt.txt`` beside ``.ppm`` scenes."""
    return (root / "gt.txt").is_file() and next(root.glob("*.ppm"), None) is not None


def load(root: Path, role: str) -> LayoutData:
    """Split ``role`` ("train": 00000-00599, "val": the test images 00600-00899) of the GTSDB folder ``root``."""
    root = Path(root)
    if role not in SPLITS:
        raise ValueError(f"{root}: the gtsdb layout has splits {', '.join(ROLES)}, not {role!r}.")
    gt = root / "gt.txt"
    if not gt.is_file():
        raise FileNotFoundError(
            f"{gt}: no such file. Extract FullIJCNN2013.zip so that gt.txt sits beside the .ppm files."
        )
    signs = read_gt(gt)
    frames: list[FrameLabels] = []
    for number in SPLITS[role]:
        name = f"{number:05d}.ppm"
        if not (root / name).is_file():
            first, last = SPLITS[role][0], SPLITS[role][-1]
            raise FileNotFoundError(
                f"{root / name}: no such image; the GTSDB {role} split is {first:05d}.ppm-{last:05d}.ppm. "
                "Extract the full download (FullIJCNN2013.zip, all 900 images) into this folder."
            )
        frames.append(FrameLabels(name=name, objects=signs.get(name, [])))
    return one_kind(NAME, root, frames, "boxes", {frame.name: [gt] for frame in frames})


LAYOUT = register_layout(
    Layout(
        name=NAME,
        expects=(
            "gt.txt (lines image.ppm;leftCol;topRow;rightCol;bottomRow;ClassID)",
            "00000.ppm ... 00899.ppm (FullIJCNN2013: 00000-00599 train, 00600-00899 val = the test images)",
        ),
        heads=("signs",),
        categories=CATEGORIES,
        detect=detect,
        load=load,
        roles=ROLES,
    )
)
