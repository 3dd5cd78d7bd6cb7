"""A recipe's data splits on disk: generated on demand, or a dataset folder, as a DrivingDataset."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mtl_edge.data.dataset import DrivingDataset

#: The dataset layouts the commands read, for error messages.
LAYOUTS = (
    "supported layouts: (1) a folder made by `mtl-edge data synth`: labels.json, images/ and optionally "
    "drivable/ (BDD100K frame format); (2) BDD100K itself: name its images:, labels: and drivable: in the "
    "recipe's data split instead of passing a folder"
)


def check_dataset_dir(root: str | Path, clip: bool = False) -> Path:
    """``root`` as a Path if it is a dataset folder; else a ValueError that lists the supported layouts."""
    root = Path(root)
    also = "; (3) for `data show`, a clip .mp4 from `mtl-edge data synth --clip` beside its .json" if clip else ""
    if not root.is_dir():
        problem = "no such folder" if not root.exists() else "not a folder"
    elif not (root / "labels.json").is_file():
        problem = "not a dataset folder (no labels.json; an unfinished `data synth` run writes it when rerun)"
    elif not (root / "images").is_dir():
        problem = "not a dataset folder (no images/ folder)"
    else:
        return root
    raise ValueError(f"{root}: {problem}. {LAYOUTS[0].upper()}{LAYOUTS[1:]}{also}.")


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


def split_dataset(split: Any, role: str, progress: bool) -> DrivingDataset:
    """A recipe split as an untransformed dataset, whatever its layout: a folder (generated or
    given) or BDD100K images plus label files. Evaluation and training validation read this."""
    root = prepare_split(split, role, progress)
    if root is not None:
        check_dataset_dir(root)
    return make_dataset(split, root, transforms=None)
