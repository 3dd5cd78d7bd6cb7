"""What every dataset layout gives the dataset: frames of labels, where their images and masks are,
and which kinds of label each frame's files cover.

A layout is one published way of laying a dataset out on disk (the BDD100K 2020 release, CULane,
the Mapillary Traffic Sign Dataset, ...). Its reader turns a folder in that layout into a
:class:`LayoutData`; :mod:`mtl_edge.data.layouts` keeps the table of layouts and detects them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mtl_edge.data.labels import FrameLabels

#: The kinds of label a file can cover. A head's spec names the kind it learns from
#: (``HeadSpec.label_kind``): every box head learns from "boxes".
LABEL_KINDS: tuple[str, ...] = ("boxes", "lanes", "drivable")


@dataclass(frozen=True)
class MaskFiles:
    """Where a layout keeps each frame's drivable mask: ``folder/<stem><suffix>``.

    ``keep_dirs`` keeps the frame name's sub-folders (``a/b.jpg`` -> ``folder/a/b.png``).
    A class rather than a lambda, so that datasets pickle into worker processes.
    """

    folder: Path
    suffix: str = ".png"
    keep_dirs: bool = False

    def __call__(self, name: str) -> Path:
        stem = Path(name).with_suffix("") if self.keep_dirs else Path(Path(name).stem)
        return self.folder / f"{stem}{self.suffix}"


@dataclass
class LayoutData:
    """One split of a dataset, as read from its layout.

    ``covers`` is the per-frame supervision rule: the kinds of label the frame's label files
    cover. A frame listed in a box file covers "boxes" even when it has no box (BDD100K lists
    every image it annotated, so such a frame is a true negative); a frame that no lane file
    lists does not cover "lanes", whatever else it has. "drivable" is covered where the frame
    has a mask file or drivable polygons.
    """

    layout: str
    images: Path  # frame names are relative to this folder
    frames: list[FrameLabels]
    covers: dict[str, frozenset[str]]  # frame name -> label kinds its files cover
    masks: MaskFiles | None = None  # frame name -> its drivable mask file (it may not exist)
    coding: str = "2018"  # drivable mask coding: "2018" (0 bg, 1 direct, 2 alt) or "2020" (0 direct, 1 alt, 2 bg)
    sources: dict[str, list[Path]] = field(default_factory=dict)  # frame name -> its label files, for messages


@dataclass(frozen=True)
class Layout:
    """A dataset layout: how to recognise a folder in it, and how to read one of its splits."""

    name: str
    #: the files it expects under the root, one line each (for ``--help`` and error messages)
    expects: tuple[str, ...]
    #: the heads it labels, by default (a recipe's dataset ``heads:`` overrides it); None: every
    #: head whose label kind its files cover (a dataset of all tasks, like BDD100K)
    heads: tuple[str, ...] | None
    #: default category table: the dataset's box categories -> ``head/class``, ``head/ignore``,
    #: ``head`` (class from the label's own type attribute) or ``skip``; see mtl_edge.data.categories
    categories: Mapping[str, str]
    #: whether ``root`` looks like this layout (cheap: a few stats)
    detect: Callable[[Path], bool]
    #: read split ``role`` ("train", "val", ...) under ``root``; raise LabelFormatError / FileNotFoundError
    #: naming the file, the field and the fix
    load: Callable[[Path, str], LayoutData]
    #: the split names it has (a folder without splits, like the generator's, has ("",))
    roles: tuple[str, ...] = ("train", "val")
