"""The driver of ``mtl-edge data synth --layout bdd100k|culane|mtsd``: parallel, resumable writing
of one split in a published layout, item by item through each layout's writer module.

The generator keeps its bookkeeping in the hidden folder ``.mtl-edge-synth/`` at the dataset
root (``meta.json``: the options a resume must match; ``parts/<split>/<index>.json``: one item's
labels, written last, so it marks the item done). Each split's list files are rebuilt from the
parts at the end of a run, so running again with the other ``--split`` adds that split, and
running the same command again resumes an interrupted run or does nothing.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Protocol

import cv2

from .published import DEFAULT_SIZE, PUBLISHED_LAYOUTS, STATE_DIR, PublishedOptions, _check_split
from .writer import check_options, non_empty


class LayoutWriter(Protocol):
    """What each layout module provides."""

    def item_files(self, out: Path, options: PublishedOptions, split: str, index: int) -> list[Path]:
        """Every file item ``index`` writes; all present and non-empty means done."""
        ...

    def write_item(self, out: Path, options: PublishedOptions, split: str, index: int) -> None:
        """Render item ``index`` and write its files, its part file last."""
        ...

    def finish(self, out: Path, options: PublishedOptions, split: str, n: int) -> None:
        """Write the split's list files from the parts of items 0..n-1."""
        ...


def layout_writer(layout: str) -> LayoutWriter:
    """The writer module of ``layout``."""
    if layout == "bdd100k":
        from . import published_bdd as module
    elif layout == "culane":
        from . import published_culane as module  # type: ignore[no-redef]
    elif layout == "mtsd":
        from . import published_mtsd as module  # type: ignore[no-redef]
    else:
        raise ValueError(f"unknown published layout {layout!r}; choose one of {', '.join(PUBLISHED_LAYOUTS)}")
    return module  # type: ignore[return-value]


def _work(out: Path, options: PublishedOptions, split: str, index: int) -> None:
    cv2.setNumThreads(1)
    layout_writer(options.layout).write_item(out, options, split, index)


def is_done(out: Path, options: PublishedOptions, split: str, index: int) -> bool:
    """Whether item ``index`` of ``split`` is complete: every file it writes is there and not empty."""
    return all(non_empty(p) for p in layout_writer(options.layout).item_files(out, options, split, index))


def check_meta(out: Path, options: PublishedOptions) -> None:
    """Refuse to mix datasets: a folder takes more items or splits only with the options it was made with."""
    if (out / "meta.json").exists():
        raise ValueError(
            f"{out} holds a dataset in the generator's own layout (meta.json); write the "
            f"{options.layout} layout into another --out folder."
        )
    check_options(out, out / STATE_DIR / "meta.json", options, "resume or add a split to it")


def generate_published(
    out: str | Path,
    n: int,
    options: PublishedOptions,
    split: str = "train",
    workers: int | None = None,
    progress: bool = True,
) -> tuple[int, int]:
    """Make items 0..n-1 of ``split`` that are not done yet, then the split's list files; returns (made, skipped).

    Safe to interrupt: every file is written atomically and an item counts as done only once
    its last file exists, so the next run redoes at most the items in flight.
    """
    _check_split(split)
    writer = layout_writer(options.layout)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    check_meta(out, options)
    todo = [i for i in range(n) if not is_done(out, options, split, i)]
    workers = max(1, min(workers or os.cpu_count() or 1, len(todo) or 1))
    bar = _progress(len(todo), progress)
    if workers == 1:
        for i in todo:
            _work(out, options, split, i)
            bar.update()
    else:
        # spawn, not fork: a parent that already ran OpenCV (or torch) threads can deadlock forked children.
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            k = len(todo)
            for _ in pool.map(_work, [out] * k, [options] * k, [split] * k, todo, chunksize=4):
                bar.update()
    bar.close()
    writer.finish(out, options, split, n)
    return len(todo), n - len(todo)


def _progress(total: int, enabled: bool):
    from mtl_edge.progress import progress

    return progress(total=total, enabled=enabled, unit=" scenes")


def options_for(layout: str, seed: int, size: tuple[int, int] | None) -> PublishedOptions:
    """Options of ``layout`` at ``size`` (None: the layout's usual frame size)."""
    if layout not in PUBLISHED_LAYOUTS:
        raise ValueError(f"unknown published layout {layout!r}; choose one of {', '.join(PUBLISHED_LAYOUTS)}")
    width, height = size or DEFAULT_SIZE[layout]
    return PublishedOptions(layout=layout, seed=seed, width=width, height=height)
