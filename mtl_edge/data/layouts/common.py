"""Helpers the layout readers share: coverage of label files, and the checks every reader makes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from mtl_edge.data.labels import FrameLabels
from mtl_edge.data.layouts.base import LayoutData


def content_kinds(frame: FrameLabels) -> set[str]:
    """The label kinds a frame's own labels show it was annotated for (boxes, lanes)."""
    kinds = set()
    if frame.objects:
        kinds.add("boxes")
    if frame.lanes:
        kinds.add("lanes")
    return kinds


def add_cover(
    covers: dict[str, set[str]],
    sources: dict[str, list[Path]],
    frames: Iterable[FrameLabels],
    kinds: Iterable[str],
    path: Path,
) -> None:
    """Record that ``path`` lists ``frames`` and covers ``kinds`` for each of them."""
    kinds = set(kinds)
    for f in frames:
        covers.setdefault(f.name, set()).update(kinds)
        sources.setdefault(f.name, []).append(path)


def require_dir(path: Path, what: str, layout: str, expects: Sequence[str]) -> Path:
    """``path`` when it is a folder, else FileNotFoundError naming it and the layout's files."""
    if not path.is_dir():
        raise FileNotFoundError(
            f"{path}: {what} folder not found. The {layout} layout expects:\n  " + "\n  ".join(expects)
        )
    return path


def frozen(covers: dict[str, set[str]]) -> dict[str, frozenset[str]]:
    return {name: frozenset(kinds) for name, kinds in covers.items()}


def one_kind(
    layout: str, images: Path, frames: list[FrameLabels], kind: str, sources: dict[str, list[Path]]
) -> LayoutData:
    """A split of a dataset that labels one kind in every frame it lists (a lane or sign dataset):
    each frame covers that kind, even with no label of it (the dataset annotated it and found none)."""
    return LayoutData(
        layout=layout,
        images=images,
        frames=frames,
        covers={f.name: frozenset({kind}) for f in frames},
        sources=sources,
    )
