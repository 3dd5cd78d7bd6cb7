"""The CULane lane dataset layout.

Format read from the dataset's published release and devkit: the CULane page
(xingangpan.github.io/projects/CULane.html), the ``XingangPan/SCNN`` README (commit
0384e46f19b7406e863e1af1c4b6b246feae4682: ``driver_xx_xxframe`` folders, ``laneseg_label_w16``
and ``list/`` under the root) and its evaluator ``tools/lane_evaluation/src/evaluate.cpp``
(``read_lane_file``: one lane per line of whitespace-separated ``x y`` pairs; the annotation of
``<frame>.jpg`` is ``<frame>.lines.txt``; a file that cannot be opened counts as no lanes):

* ``list/train_gt.txt`` and ``list/val_gt.txt`` list one image per line as
  ``/driver_23_30frame/05151649_0422.MP4/00000.jpg /laneseg_label_w16/.../00000.png 1 1 1 1``:
  the image, its segmentation label and whether each of the four lane positions has a lane;
  ``list/train.txt``, ``list/val.txt`` and ``list/test.txt`` list the images alone;
* each image ``<frame>.jpg`` has ``<frame>.lines.txt`` beside it, one lane per line as
  ``x1 y1 x2 y2 ...`` listed bottom to top (x may fall outside the 1640x590 image);
  an image with no lanes has an empty file.

Choices made here:

* splits: "train" reads ``list/train_gt.txt`` (else ``list/train.txt``), "val" reads
  ``list/val_gt.txt`` (else ``list/val.txt``); frame names drop the leading "/";
* a listed image without its ``.lines.txt`` has no lanes (as the official evaluator reads it)
  when nothing says otherwise; but when its ``*_gt.txt`` flags say it has a lane, or when no
  image of the split has a ``.lines.txt`` (the annotations were not unpacked), that is an error;
* lanes are ordered near to far (bottom first); a lane with fewer than two points is left out;
* CULane does not type its lanes, so every lane is "single other" (solid, parallel);
* every listed frame covers "lanes"; a clip's frames share ``video_name`` (``driver_xx/<clip>.MP4``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from mtl_edge.data.formats.errors import LabelFormatError, show
from mtl_edge.data.labels import FrameLabels, LaneLabel
from mtl_edge.data.layouts import register_layout
from mtl_edge.data.layouts.base import Layout, LayoutData
from mtl_edge.data.layouts.common import one_kind

#: The list files of each split, in order of preference (``*_gt.txt`` carries the lane flags).
SPLIT_LISTS: dict[str, tuple[str, ...]] = {
    "train": ("list/train_gt.txt", "list/train.txt"),
    "val": ("list/val_gt.txt", "list/val.txt"),
}
#: The lane type given to every CULane lane (the dataset has no lane types).
LANE_TYPE = "single other"
#: The suffix of an image's lane annotation file, which replaces the image's own suffix.
LINES_SUFFIX = ".lines.txt"

_IMAGE = "/driver_xx/<clip>.MP4/<frame>.jpg"
_GT_LINE = "/driver_xx/<clip>.MP4/<frame>.jpg /laneseg_label_w16/driver_xx/<clip>.MP4/<frame>.png 1 1 1 1"
_LANE_LINE = "one lane per line as x1 y1 x2 y2 ... in pixels, bottom to top"


@dataclass(frozen=True)
class _Entry:
    """One line of a list file."""

    name: str  # the image, relative to the root
    line: int
    flags: tuple[int, ...] | None  # the lane-position flags of a *_gt.txt line


def _error(path: Path, line: int, problem: str, fix: str) -> LabelFormatError:
    """A format error pointing at line ``line`` of ``path``."""
    return LabelFormatError(f"{path}: line {line}: {problem}. {fix}")


def lines_file(image: Path) -> Path:
    """The lane annotation file of ``image`` (``00000.jpg`` -> ``00000.lines.txt``)."""
    return image.with_suffix(LINES_SUFFIX)


def read_list(path: Path) -> list[_Entry]:
    """The entries of a CULane list file; ``*_gt.txt`` lines carry four 0/1 lane flags."""
    gt = path.name.endswith("_gt.txt")
    fix = f"Write each line as {_GT_LINE!r}." if gt else f"Write each line as one image path, like {_IMAGE!r}."
    entries = []
    with open(path, encoding="utf-8") as f:
        for line, text in enumerate(f, start=1):
            tokens = text.split()
            if not tokens:
                continue
            want = 6 if gt else 1
            if len(tokens) != want:
                raise _error(path, line, f"expected {want} field{'s' if want > 1 else ''}, got {len(tokens)}", fix)
            name = PurePosixPath(tokens[0].replace("\\", "/").lstrip("/"))
            if not name.parts or ".." in name.parts:
                raise _error(path, line, f"image path {show(tokens[0])} is not inside the dataset folder", fix)
            flags = None
            if gt:
                if any(t not in ("0", "1") for t in tokens[2:]):
                    raise _error(path, line, f"lane flags {' '.join(tokens[2:])} are not four 0/1 values", fix)
                flags = tuple(int(t) for t in tokens[2:])
            entries.append(_Entry(name.as_posix(), line, flags))
    return entries


def read_lines_file(path: Path) -> list[LaneLabel]:
    """The lanes of one ``.lines.txt`` file, near to far; lanes with fewer than two points are left out.

    A lane's id is its place among the file's lanes ("0" for the first line with numbers).
    """
    fix = f"Write {_LANE_LINE}, or leave the file empty for an image with no lanes."
    with open(path, encoding="utf-8") as f:
        rows = [(line, text.split()) for line, text in enumerate(f, start=1) if text.strip()]
    lanes = []
    for index, (line, tokens) in enumerate(rows):
        try:
            values = [float(t) for t in tokens]
        except ValueError:
            bad = next(t for t in tokens if not _is_float(t))
            raise _error(path, line, f"{show(bad)} is not a number", fix) from None
        if not all(math.isfinite(v) for v in values):
            raise _error(path, line, "has a value that is not a finite number", fix)
        if len(values) % 2:
            raise _error(path, line, f"{len(values)} numbers do not make x y pairs", fix)
        points = np.asarray(values, dtype=np.float32).reshape(-1, 2)
        if len(points) < 2:
            continue
        if points[0, 1] < points[-1, 1]:  # listed top to bottom: make it near to far
            points = points[::-1].copy()
        lanes.append(LaneLabel(points=points, lane_type=LANE_TYPE, id=str(index)))
    return lanes


def _is_float(token: str) -> bool:
    """Whether ``token`` parses as a float."""
    try:
        float(token)
    except ValueError:
        return False
    return True


def _frame(name: str) -> FrameLabels:
    """An empty frame for image ``name``, with its clip and frame number."""
    image = PurePosixPath(name)
    clip = image.parent.as_posix()
    return FrameLabels(
        name=name,
        video_name=clip if clip != "." else None,
        frame_index=int(image.stem) if image.stem.isdigit() else None,
    )


def detect(root: Path) -> bool:
    """Whether ``root`` has CULane's ``list/`` folder with a train or val list."""
    return any((root / name).is_file() for names in SPLIT_LISTS.values() for name in names)


def load(root: Path, role: str) -> LayoutData:
    """Split ``role`` ("train" or "val") of the CULane dataset under ``root``."""
    if role not in SPLIT_LISTS:
        raise ValueError(f"{root}: the culane layout has splits {', '.join(SPLIT_LISTS)}, not {role!r}.")
    found = [root / name for name in SPLIT_LISTS[role] if (root / name).is_file()]
    if not found:
        raise FileNotFoundError(
            f"{root}: no {role} list; expected {' or '.join(SPLIT_LISTS[role])} (lines like {_GT_LINE!r}). "
            "Unpack CULane's list.tar.gz into the dataset folder."
        )
    path = found[0]
    entries = read_list(path)
    if not entries:
        raise LabelFormatError(f"{path}: lists no images. Write one image per line, like {_GT_LINE!r}.")
    seen: dict[str, int] = {}
    for entry in entries:
        if entry.name in seen:
            again = f"{show(entry.name)} is already listed on line {seen[entry.name]}"
            raise _error(path, entry.line, again, "List each image once.")
        seen[entry.name] = entry.line

    missing = [e for e in entries if not (root / e.name).is_file()]
    if missing:
        shown = "; ".join(f"{root / e.name} (line {e.line})" for e in missing[:3])
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise FileNotFoundError(
            f"{path}: {len(missing)} listed image(s) missing: {shown}{more}. Unpack the driver_* image archives "
            f"into {root}, or remove those lines."
        )
    frames: list[FrameLabels] = []
    sources: dict[str, list[Path]] = {}
    unannotated: list[tuple[_Entry, Path]] = []  # listed images without their lines file
    for entry in entries:
        frame = _frame(entry.name)
        lines = lines_file(root / entry.name)
        try:
            frame.lanes = read_lines_file(lines)
            sources[entry.name] = [path, lines]
        except FileNotFoundError:  # no annotation: a frame without lanes, unless checked otherwise below
            unannotated.append((entry, lines))
            sources[entry.name] = [path]
        frames.append(frame)
    if len(unannotated) == len(entries):
        raise FileNotFoundError(
            f"{path}: none of the {len(entries)} listed images has its {LINES_SUFFIX} file (first expected: "
            f"{unannotated[0][1]}). Unpack CULane's annotation archive (annotations_new.tar.gz) into {root}; "
            f"it puts <frame>{LINES_SUFFIX} beside each <frame>.jpg."
        )
    for entry, lines in unannotated:
        if entry.flags is not None and any(entry.flags):
            raise FileNotFoundError(
                f"{path}: line {entry.line}: {lines} is missing, but the line's flags "
                f"{' '.join(map(str, entry.flags))} say the image has lanes. Restore the file ({_LANE_LINE}) "
                "or remove the line."
            )
    return one_kind("culane", root, frames, "lanes", sources)


LAYOUT = register_layout(
    Layout(
        name="culane",
        expects=(
            f"list/train_gt.txt (or list/train.txt): the train images, lines like {_GT_LINE!r}",
            "list/val_gt.txt (or list/val.txt): the val images, same format",
            f"driver_*/<clip>.MP4/<frame>.jpg with <frame>{LINES_SUFFIX} beside it: {_LANE_LINE}",
        ),
        heads=("lanes",),
        categories={},
        detect=detect,
        load=load,
        roles=("train", "val"),
    )
)
