"""A recipe's data splits on disk: generated on demand, or a dataset folder, as a DrivingDataset."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mtl_edge.data.dataset import DrivingDataset


def synth_root(spec: Any, role: str) -> Path:
    """Where a recipe's generated split lives (shared by recipes that ask for the same data)."""
    w, h = spec.size
    return Path("data") / "synth" / f"{role}-seed{spec.seed}-n{spec.n}-{w}x{h}"


def prepare_split(split: Any, role: str, progress: bool) -> Path | None:
    """Generate a synth split if the recipe asks for one and it is not complete; return its root."""
    if split.synth is None:
        return Path(split.root) if split.root else None
    from mtl_edge.data.synth.writer import SynthOptions, generate

    root = synth_root(split.synth, role)
    w, h = split.synth.size
    generate(root, split.synth.n, SynthOptions(seed=split.synth.seed, width=w, height=h), progress=progress)
    return root


def make_dataset(split: Any, root: Path | None, transforms: Any) -> DrivingDataset:
    """The split's dataset: the folder ``root`` when there is one, else the recipe's images and label files."""
    if root is not None:
        return DrivingDataset.from_dir(root, transforms=transforms)
    return DrivingDataset(
        images=Path(split.images),
        labels=[Path(p) for p in split.labels],
        drivable=Path(split.drivable) if split.drivable else None,
        transforms=transforms,
        drivable_coding=split.drivable_coding,
    )
