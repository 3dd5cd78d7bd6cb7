"""Reading label files and directories of them into frames, and merging frames of the same image."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from mtl_edge.data.formats.errors import LabelFormatError
from mtl_edge.data.formats.parse import frame_from_dict
from mtl_edge.data.labels import FrameLabels


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
