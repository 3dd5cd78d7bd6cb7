"""A split given as an image folder plus label files (a recipe's ``images:`` + ``labels:``).

Any label files in the BDD100K frame format, merged by image name. Nothing but their content
says which task a file was annotated for, so coverage is read per frame: a frame with a box
covers boxes, one with a lane covers lanes (a frame with lanes only does not teach the box
heads that it has no vehicles). A frame the file lists with no labels at all covers what the
file's other frames cover: it was annotated and found empty (BDD100K lists such frames), so
it is a true negative. A named layout (``bdd100k``) says outright what each file labels.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from mtl_edge.data.formats import merge_frames, read_frames
from mtl_edge.data.layouts.base import LayoutData, MaskFiles
from mtl_edge.data.layouts.common import add_cover, content_kinds

PathLike = str | os.PathLike


def load_files(
    images: PathLike,
    labels: PathLike | Sequence[PathLike],
    drivable: PathLike | None = None,
    coding: str = "2018",
) -> LayoutData:
    """Frames of ``labels`` (files or folders of per-frame JSON), images under ``images``,
    drivable masks ``drivable/<name>.png`` in ``coding``."""
    images = Path(images)
    if coding not in ("2018", "2020"):
        raise ValueError(
            f'drivable_coding must be "2018" (generated masks) or "2020" (BDD100K drivable/masks), got {coding!r}'
        )
    if not images.is_dir():
        raise FileNotFoundError(f"{images}: images directory not found. Pass images=<folder with the image files>.")
    masks = Path(drivable) if drivable is not None else None
    if masks is not None and not masks.is_dir():
        raise FileNotFoundError(f"{masks}: drivable mask directory not found. Fix the path or pass drivable=None.")
    paths = [Path(labels)] if isinstance(labels, (str, os.PathLike)) else [Path(p) for p in labels]
    if not paths:
        raise ValueError("labels is empty; pass at least one label file or folder")
    covers: dict[str, set[str]] = {}
    sources: dict[str, list[Path]] = {}
    lists = []
    for path in paths:
        frames = read_frames(path)
        file_kinds = set().union(*(content_kinds(f) for f in frames)) if frames else set()
        for frame in frames:
            add_cover(covers, sources, [frame], content_kinds(frame) or file_kinds, path)
        lists.append(frames)
    frames = merge_frames(*lists)
    if not frames:
        raise ValueError(f"no frames in {', '.join(map(str, paths))}; check that the label files are not empty")
    return LayoutData(
        layout="files",
        images=images,
        frames=frames,
        covers={name: frozenset(kinds) for name, kinds in covers.items()},
        masks=MaskFiles(masks, keep_dirs=True) if masks is not None else None,
        coding=coding,
        sources=sources,
    )
