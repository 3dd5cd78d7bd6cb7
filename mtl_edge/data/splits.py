"""A recipe's data splits as datasets: one notion of a split for every command that reads data.

A split is one dataset, or a mixture of several (``datasets:``), each a folder in a supported
layout (:mod:`mtl_edge.data.layouts`), a generated split (made on first use) or an image folder
plus label files. Training, its validation, ``mtl-edge eval``, ``data show``, INT8 calibration
and the export accuracy check all open data through :func:`open_split` / :func:`open_folder`.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch

from mtl_edge.data.categories import BDD100K_CATEGORIES, CategoryTable
from mtl_edge.data.dataset import DrivingDataset
from mtl_edge.data.formats import LabelFormatError, read_drivable_mask
from mtl_edge.data.lane_rules import LaneRules
from mtl_edge.data.layouts import LayoutData, get_layout, load_split
from mtl_edge.data.layouts.files import load_files
from mtl_edge.data.tasks import SPECS, category_table


def synth_root(spec: Any, role: str) -> Path:
    """Where a recipe's generated split lives (shared by recipes that ask for the same data)."""
    w, h = spec.size
    return Path("data") / "synth" / f"{role}-seed{spec.seed}-n{spec.n}-{w}x{h}"


def split_parts(split: Any) -> list[Any]:
    """The datasets of a recipe split: its ``datasets:`` list, or the split itself."""
    return list(split.datasets) if split.datasets else [split]


def _generate(spec: Any, role: str, progress: bool) -> Path:
    from mtl_edge.data.synth.writer import SynthOptions, generate

    root = synth_root(spec, role)
    w, h = spec.size
    generate(root, spec.n, SynthOptions(seed=spec.seed, width=w, height=h), progress=progress)
    return root


def read_part(part: Any, role: str, progress: bool = False) -> LayoutData:
    """One dataset of a split, read from its layout (generated first if the recipe asks for that)."""
    if part.synth is not None:
        return load_split(_generate(part.synth, role, progress), "generated", role)
    if part.root is not None:
        data = load_split(part.root, part.layout, part.split or role, hint="layout: in the recipe's dataset entry")
    else:
        data = load_files(part.images, part.labels, part.drivable, part.drivable_coding or "2018")
    if part.drivable_coding is not None:
        data.coding = part.drivable_coding
    return data


def part_names(parts: Sequence[Any], layouts: Sequence[str]) -> list[str]:
    """Each dataset's name in reports: its own, else its layout's (numbered where a mixture repeats one)."""
    unnamed = Counter(layout for part, layout in zip(parts, layouts) if not part.name)
    return [
        part.name or (f"{layout}#{i + 1}" if unnamed[layout] > 1 else layout)
        for i, (part, layout) in enumerate(zip(parts, layouts))
    ]


def check_mask_coding(data: LayoutData, fix: str, samples: int = 8) -> None:
    """Refuse masks that read as mostly drivable: the signature of the other coding.

    In a dash-cam frame most pixels are not drivable (sky, buildings, other lanes: background
    is 60-80% of a BDD100K mask). Masks of the 2020 coding (2 = background) read as 2018 ones
    come out mostly "alternative", and 2018 masks read as 2020 ones mostly "direct".
    """
    if data.masks is None:
        return
    files = [
        f
        for frame in data.frames[:: max(1, len(data.frames) // samples)][:samples]
        if (f := data.masks(frame.name)).is_file()
    ]
    if not files:
        return
    background = float(np.mean([(read_drivable_mask(f, coding=data.coding) == 0).mean() for f in files]))
    if background < 0.2:
        other = "2018" if data.coding == "2020" else "2020"
        raise LabelFormatError(
            f"{files[0]}: read with drivable_coding {data.coding!r}, only {background:.0%} of the pixels of "
            f"{len(files)} masks come out as background; these look like {other!r}-coded masks (BDD100K 2020 "
            f"labels/drivable/masks: 0 direct, 1 alternative, 2 background). {fix.format(other=other)}"
        )


def box_heads_in(data: LayoutData, table: CategoryTable) -> set[str]:
    """The heads plain label files label: the box heads their boxes map to, and every other head.

    A file of sign boxes only (say, ``tools/signs_to_bdd.py``'s output) labels no vehicles:
    its frames must not teach the vehicles head that they have none.
    """
    boxes = set()
    for category in {o.category for f in data.frames for o in f.objects}:
        with contextlib.suppress(LabelFormatError):  # an unmapped category: the dataset reports it, naming the file
            target = table.lookup(category)
            if target is not None:
                boxes.add(target.head)
    return boxes | {h for h, spec in SPECS.items() if not spec.boxes}


def open_part(
    part: Any,
    data: LayoutData,
    name: str,
    transforms: Any,
    heads: Sequence[str] | None = None,
    coding_fix: str = 'Set drivable_coding: "{other}" in the recipe\'s dataset entry.',
) -> DrivingDataset:
    """A dataset of a split as a DrivingDataset, with its category table, lane rules and heads.

    ``part`` is the recipe's entry for it (its ``heads``, ``categories`` and ``lanes``).
    """
    files = data.layout == "files"
    table = category_table(
        BDD100K_CATEGORIES if files else get_layout(data.layout).categories,
        part.categories,
        where=f"the {name} dataset's categories",
    )
    if part.heads is not None:
        labelled: Any = part.heads
    else:
        labelled = box_heads_in(data, table) if files else get_layout(data.layout).heads
    all_heads = tuple(heads) if heads is not None else tuple(SPECS)
    supervise = {h: False for h in all_heads if labelled is not None and h not in labelled}
    check_mask_coding(data, coding_fix)
    return DrivingDataset(
        data,
        transforms=transforms,
        heads=heads,
        supervise=supervise,
        categories=table,
        lane_rules=LaneRules.from_dict(part.lanes or {}),
        name=name,
    )


class MixedDataset(torch.utils.data.ConcatDataset):
    """Several datasets of one split, sampled by weight; each head learns from the datasets that label it."""

    def __init__(self, parts: Sequence[DrivingDataset], weights: Sequence[float]) -> None:
        super().__init__(parts)
        self.parts = list(parts)
        self.part_weights = [float(w) for w in weights]
        self.heads = parts[0].heads
        self.supervises = torch.cat([p.supervises for p in parts])

    def sample_weights(self) -> torch.Tensor:
        """Per-sample sampling weight: each dataset's share of a batch is its weight over the weights' sum."""
        total = sum(self.part_weights)
        return torch.cat([torch.full((len(p),), w / total / len(p)) for p, w in zip(self.parts, self.part_weights)])


def open_split(
    split: Any, role: str, transforms: Any = None, progress: bool = False, heads: Sequence[str] | None = None
) -> DrivingDataset | MixedDataset:
    """A recipe split as one dataset, or a :class:`MixedDataset` of its ``datasets:``."""
    parts = split_parts(split)
    read = [read_part(part, role, progress) for part in parts]
    names = part_names(parts, [data.layout for data in read])
    opened = [open_part(part, data, name, transforms, heads) for part, data, name in zip(parts, read, names)]
    if len(opened) == 1 and not split.datasets:
        return opened[0]
    return MixedDataset(opened, [p.weight for p in parts])


def val_datasets(split: Any, progress: bool = False) -> list[DrivingDataset]:
    """A recipe's validation split as its datasets, untransformed (each is scored on its own)."""
    opened = open_split(split, "val", progress=progress)
    return opened.parts if isinstance(opened, MixedDataset) else [opened]


def open_folder(
    root: str | Path, layout: str | None = None, role: str = "val", transforms: Any = None, hint: str = "--layout"
) -> DrivingDataset:
    """Split ``role`` of a dataset folder in ``layout`` (None: detected), with the layout's defaults.

    ``hint`` is how the caller's user names a layout, for errors (``--layout``, ``--val-layout``).
    """
    data = load_split(root, layout, role, hint)
    defaults = SimpleNamespace(heads=None, categories={}, lanes={})
    fix = (
        f"The {data.layout} layout's masks are {data.coding}-coded as published; convert these, or train and "
        'evaluate from a recipe whose dataset entry sets drivable_coding: "{other}".'
    )
    return open_part(defaults, data, data.layout, transforms, coding_fix=fix)


def evenly(items: Sequence[Path], n: int) -> list[Path]:
    """``n`` of ``items`` spread evenly over their sorted order (deterministic)."""
    found = sorted(items)
    step = max(len(found) / max(n, 1), 1.0)
    return [found[int(i * step)] for i in range(min(n, len(found)))]


def split_images(split: Any, role: str, n: int, progress: bool = False) -> list[Path]:
    """``n`` image files of a recipe split for INT8 calibration: each dataset of a mixture gives its
    share by weight, spread evenly over its frames."""
    parts = split_parts(split)
    total = sum(p.weight for p in parts)
    chosen: list[Path] = []
    for part in parts:
        data = read_part(part, role, progress)
        files = [data.images / f.name for f in data.frames]
        chosen += evenly(files, max(1, round(n * part.weight / total)))
    return chosen
