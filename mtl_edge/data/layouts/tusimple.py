"""The TuSimple lane detection benchmark layout.

Format read from the benchmark's own documentation, ``TuSimple/tusimple-benchmark``
``doc/lane_detection/readme.md`` at commit 0aed5b5577260fd19f0dc76aee34d364f75a887d, with its
``example/label_data.json`` (commit 5035e4405e3c5bfd98345d8bb9bc28e36a3cfa1d) and ``evaluate/lane.py``:

* a label file holds one JSON object per line, for the last (20th) frame of a clip:
  ``{"raw_file": "clips/0313-1/6040/20.jpg", "lanes": [[x, ...], ...], "h_samples": [y, ...]}``;
* ``lanes[i][j]`` is the x of lane ``i`` at image row ``h_samples[j]``, and ``-2`` means the lane
  has no point on that row, so every lane has exactly ``len(h_samples)`` values;
* images lie under the dataset folder at ``raw_file``.

Choices made here:

* splits: "train" reads ``label_data_0313.json``, ``label_data_0531.json`` and
  ``label_data_0601.json`` (those present); "val" reads ``test_label.json``, the published labels
  of the benchmark's test set. TuSimple publishes no separate validation set, and scoring on the
  test labels is how results on it are reported;
* a lane's points are its (x, y) pairs where x is not -2, ordered near to far (bottom row first);
  a lane with fewer than two points carries no polyline and is left out (the published files have
  lanes that are all -2);
* TuSimple does not type its lanes, so every lane is "single other" (solid, parallel);
* every listed frame covers "lanes", so a frame whose lanes are all empty is a true negative;
* a clip's frames share ``video_name`` (the clip folder, like ``clips/0313-1/6040``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from mtl_edge.data.formats.errors import LabelFormatError, show
from mtl_edge.data.labels import FrameLabels, LaneLabel
from mtl_edge.data.layouts import register_layout
from mtl_edge.data.layouts.base import Layout, LayoutData
from mtl_edge.data.layouts.common import one_kind

#: The label files of each split, in reading order.
SPLIT_FILES: dict[str, tuple[str, ...]] = {
    "train": ("label_data_0313.json", "label_data_0531.json", "label_data_0601.json"),
    "val": ("test_label.json",),
}
#: The x value that marks "no lane point on this row".
NO_POINT = -2
#: The lane type given to every TuSimple lane (the benchmark has no lane types).
LANE_TYPE = "single other"

_FORMAT = 'one JSON object per line: {"raw_file": "clips/.../20.jpg", "lanes": [[x, ...], ...], "h_samples": [y, ...]}'


def _error(path: Path, line: int, field: str, problem: str, fix: str) -> LabelFormatError:
    """A format error pointing at ``field`` on line ``line`` of ``path``."""
    where = f"{path}: line {line}" + (f": {field}" if field else "")
    return LabelFormatError(f"{where}: {problem}. {fix}")


def _number(value: Any) -> bool:
    """Whether ``value`` is a finite JSON number (booleans are not)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _image_name(value: Any, path: Path, line: int) -> str:
    """``raw_file`` checked to be a relative image path; returned in POSIX form."""
    fix = 'Give the image path relative to the dataset folder, like "clips/0313-1/6040/20.jpg".'
    if not isinstance(value, str) or not value.strip():
        raise _error(path, line, "raw_file", f"expected an image path, got {show(value)}", fix)
    name = PurePosixPath(value.replace("\\", "/"))
    if name.is_absolute() or ".." in name.parts:
        raise _error(path, line, "raw_file", f"{show(value)} is not inside the dataset folder", fix)
    return name.as_posix()


def _rows(value: Any, path: Path, line: int) -> np.ndarray:
    """``h_samples`` checked to be a list of row numbers."""
    fix = "Give h_samples as the list of image rows (y in pixels) the lanes are sampled at."
    if not isinstance(value, list) or not value:
        raise _error(path, line, "h_samples", f"expected a non-empty list of rows, got {show(value)}", fix)
    for j, y in enumerate(value):
        if not _number(y):
            raise _error(path, line, f"h_samples[{j}]", f"expected a number, got {show(y)}", fix)
    return np.asarray(value, dtype=np.float32)


def _lanes(value: Any, rows: np.ndarray, path: Path, line: int) -> list[LaneLabel]:
    """``lanes`` as lane labels, near to far; lanes with fewer than two points are left out."""
    fix = f"Give one x per h_sample for every lane, {NO_POINT} where the lane has no point on that row."
    if not isinstance(value, list):
        raise _error(path, line, "lanes", f"expected a list of lanes (lists of x), got {show(value)}", fix)
    out = []
    for i, lane in enumerate(value):
        if not isinstance(lane, list):
            raise _error(path, line, f"lanes[{i}]", f"expected a list of x values, got {show(lane)}", fix)
        if len(lane) != len(rows):
            raise _error(path, line, f"lanes[{i}]", f"has {len(lane)} x values but h_samples has {len(rows)} rows", fix)
        for j, x in enumerate(lane):
            if not _number(x):
                raise _error(path, line, f"lanes[{i}][{j}]", f"expected a number, got {show(x)}", fix)
        xs = np.asarray(lane, dtype=np.float32)
        keep = xs != NO_POINT
        if int(keep.sum()) < 2:
            continue
        points = np.stack([xs[keep], rows[keep]], axis=1)
        points = points[np.argsort(-points[:, 1], kind="stable")]  # bottom row (nearest) first
        out.append(LaneLabel(points=points.astype(np.float32), lane_type=LANE_TYPE, id=str(i)))
    return out


def _frame(text: str, path: Path, line: int) -> FrameLabels:
    """One label line as a frame."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as e:
        raise _error(path, line, "", f"not valid JSON ({e.msg} at column {e.colno})", f"Write {_FORMAT}.") from None
    if not isinstance(raw, dict):
        raise _error(path, line, "", f"expected a JSON object, got {show(raw)}", f"Write {_FORMAT}.")
    for key in ("raw_file", "lanes", "h_samples"):
        if key not in raw:
            raise _error(path, line, key, "missing", f"Write {_FORMAT}.")
    name = _image_name(raw["raw_file"], path, line)
    rows = _rows(raw["h_samples"], path, line)
    clip = PurePosixPath(name).parent.as_posix()
    stem = PurePosixPath(name).stem
    return FrameLabels(
        name=name,
        lanes=_lanes(raw["lanes"], rows, path, line),
        video_name=clip if clip != "." else None,
        frame_index=int(stem) if stem.isdigit() else None,
    )


def read_label_file(path: Path) -> list[tuple[int, FrameLabels]]:
    """Every frame of one TuSimple label file, with the line it is on."""
    frames = []
    with open(path, encoding="utf-8") as f:
        for line, text in enumerate(f, start=1):
            if text.strip():
                frames.append((line, _frame(text, path, line)))
    return frames


def detect(root: Path) -> bool:
    """Whether ``root`` holds a TuSimple label file (``label_data_*.json`` or ``test_label.json``)."""
    known = (*SPLIT_FILES["train"], *SPLIT_FILES["val"])
    if any((root / name).is_file() for name in known):
        return True
    return any(p.is_file() for p in root.glob("label_data_*.json"))


def load(root: Path, role: str) -> LayoutData:
    """Split ``role`` ("train" or "val") of the TuSimple dataset under ``root``."""
    if role not in SPLIT_FILES:
        raise ValueError(f"{root}: the tusimple layout has splits {', '.join(SPLIT_FILES)}, not {role!r}.")
    paths = [root / name for name in SPLIT_FILES[role] if (root / name).is_file()]
    if not paths:
        raise FileNotFoundError(
            f"{root}: no {role} label file; expected {' or '.join(SPLIT_FILES[role])} in the dataset folder "
            f"({_FORMAT}). Unpack the TuSimple lane detection download there."
        )
    frames: list[FrameLabels] = []
    sources: dict[str, list[Path]] = {}
    seen: dict[str, str] = {}
    for path in paths:
        for line, frame in read_label_file(path):
            if frame.name in seen:
                raise _error(
                    path,
                    line,
                    "raw_file",
                    f"{show(frame.name)} is already labelled at {seen[frame.name]}",
                    "Keep one line per image.",
                )
            seen[frame.name] = f"{path}: line {line}"
            frames.append(frame)
            sources[frame.name] = [path]
    if not frames:
        raise LabelFormatError(
            f"{', '.join(map(str, paths))}: no labelled frames. Write {_FORMAT}, or remove the empty file."
        )
    missing = [f.name for f in frames if not (root / f.name).is_file()]
    if missing:
        shown = "; ".join(f"{root / n} (raw_file at {seen[n]})" for n in missing[:3])
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise FileNotFoundError(
            f"{len(missing)} labelled image(s) missing: {shown}{more}. Unpack the clips/ folder into {root} "
            "so that each raw_file is a path under it, or remove those lines."
        )
    return one_kind("tusimple", root, frames, "lanes", sources)


LAYOUT = register_layout(
    Layout(
        name="tusimple",
        expects=(
            "label_data_0313.json, label_data_0531.json, label_data_0601.json: the train labels, " + _FORMAT,
            "test_label.json: the val labels (TuSimple's published test labels), same format",
            "clips/<scene>/<clip>/20.jpg: the labelled images, at each line's raw_file",
        ),
        heads=("lanes",),
        categories={},
        detect=detect,
        load=load,
        roles=("train", "val"),
    )
)
