"""Write generated scenes to disk in the BDD100K layout, in parallel and resumably.

Layout of a dataset folder::

    meta.json              generator options; a resume must match them
    images/000123.jpg      1280x720 (or --size) RGB frames
    drivable/000123.png    drivable-area mask (0 background, 1 direct, 2 alternative)
    labels/000123.json     one BDD100K frame per image; written last, so it marks completion
    labels.json            every frame in one BDD100K list (rewritten at the end of each run)

Clips (``--clip F``) write ``videos/clip_0003.mp4`` (H.264) and
``videos/clip_0003.json`` (one BDD100K frame per video frame) instead.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ...fileio import atomic_write, atomic_write_bytes
from ...version import __version__
from ..formats import LabelFormatError, read_frames, write_drivable_mask, write_frame, write_frames
from .render import render
from .scene import sample_scene

#: Bumped when the same seed would render a different scene.
GENERATOR_VERSION = 2
JPEG_QUALITY = 92


@dataclass(frozen=True)
class SynthOptions:
    """What ``mtl-edge data synth`` was asked for; a folder holds data of one set of options."""

    seed: int
    width: int = 1280
    height: int = 720
    clip_frames: int | None = None  # frames per clip; None writes still images
    fps: float = 30.0
    generator_version: int = GENERATOR_VERSION


def item_seed(seed: int, index: int) -> int:
    """Seed of item ``index``: independent of worker count and of which items were already done."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def image_name(index: int) -> str:
    return f"{index:06d}.jpg"


def _encode_jpeg(rgb: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise OSError("OpenCV could not encode a JPEG")
    return buf.tobytes()


def write_image_item(out: Path, options: SynthOptions, index: int) -> None:
    """Render item ``index`` and write its image, mask and (last) its label file."""
    cv2.setNumThreads(1)
    name = image_name(index)
    result = render(sample_scene(item_seed(options.seed, index), options.width, options.height), name)
    atomic_write_bytes(out / "images" / name, _encode_jpeg(result.image))
    write_drivable_mask(result.drivable, out / "drivable" / f"{index:06d}.png")
    write_frame(result.frame, out / "labels" / f"{index:06d}.json")


def write_clip_item(out: Path, options: SynthOptions, index: int) -> None:
    """Render clip ``index`` to an H.264 mp4 plus its per-frame labels."""
    from mtl_edge.deploy.video import write_h264

    from .clip import ClipSimulator

    cv2.setNumThreads(1)
    stem = f"clip_{index:04d}"
    sim = ClipSimulator(
        item_seed(options.seed, index), options.clip_frames or 1, options.fps, options.width, options.height
    )
    frames = []

    def images() -> Iterable[np.ndarray]:
        for i, scene in sim.frames():
            result = render(scene, f"{stem}-{i:06d}.jpg")
            result.frame.video_name, result.frame.frame_index = stem, i
            frames.append(result.frame)
            yield result.image

    write_h264(out / "videos" / f"{stem}.mp4", images(), options.fps)
    write_frames(frames, out / "videos" / f"{stem}.json")


def non_empty(path: Path) -> bool:
    """Whether ``path`` is a file with something in it."""
    try:
        return path.stat().st_size > 0
    except OSError:
        return False


def is_done(out: Path, options: SynthOptions, index: int) -> bool:
    """Whether item ``index`` is complete: every file it writes is there and not empty.

    An empty file (a copy, a full disk or a power cut at the wrong moment) means the item is redone.
    """
    if options.clip_frames:
        stem = out / "videos" / f"clip_{index:04d}"
        paths = [stem.with_suffix(".json"), stem.with_suffix(".mp4")]
    else:
        name = f"{index:06d}"
        paths = [out / "labels" / f"{name}.json", out / "images" / image_name(index), out / "drivable" / f"{name}.png"]
    return all(non_empty(p) for p in paths)


def check_meta(out: Path, options: SynthOptions) -> None:
    """Refuse to mix datasets: a folder resumes only with the options it was made with."""
    check_options(out, out / "meta.json", options, "resume or add to it")


def check_options(out: Path, meta_path: Path, options: Any, action: str) -> None:
    """Refuse options other than those ``meta_path`` records for ``out``; record them when new.

    ``options`` is a dataclass; ``action`` says what the same options allow (for the message).
    """
    if meta_path.exists():
        try:
            old = json.loads(meta_path.read_text())["options"]
        except (ValueError, KeyError) as e:
            raise LabelFormatError(f"{meta_path}: unreadable ({e}). Delete the folder or choose another --out.") from e
        if old != asdict(options):
            diff = ", ".join(f"{k}: {old.get(k)!r} -> {v!r}" for k, v in asdict(options).items() if old.get(k) != v)
            raise ValueError(
                f"{out} holds a dataset made with other options ({diff}). Use the same options to "
                f"{action}, or choose a new --out folder."
            )
    meta = {"generator": "mtl-edge synth", "package_version": __version__, "options": asdict(options)}
    atomic_write(meta_path, lambda f: json.dump(meta, f, indent=2), text=True)


def generate(
    out: str | Path, n: int, options: SynthOptions, workers: int | None = None, progress: bool = True
) -> tuple[int, int]:
    """Make items 0..n-1 that are not done yet; returns (made, skipped).

    Safe to interrupt: every file is written atomically and an item counts as done only
    once its label file exists, so the next run redoes at most the items in flight.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    check_meta(out, options)
    todo = [i for i in range(n) if not is_done(out, options, i)]
    work = write_clip_item if options.clip_frames else write_image_item
    workers = max(1, min(workers or os.cpu_count() or 1, len(todo) or 1))
    bar = _progress(len(todo), "clips" if options.clip_frames else "scenes", progress)
    if workers == 1:
        for i in todo:
            work(out, options, i)
            bar.update()
    else:
        # spawn, not fork: a parent that already ran OpenCV (or torch) threads can deadlock forked children.
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            for _ in pool.map(work, [out] * len(todo), [options] * len(todo), todo, chunksize=4):
                bar.update()
    bar.close()
    if not options.clip_frames:
        frames = [f for i in range(n) for f in read_frames(out / "labels" / f"{i:06d}.json")]
        write_frames(frames, out / "labels.json")
    return len(todo), n - len(todo)


def _progress(total: int, unit: str, enabled: bool):
    from mtl_edge.progress import progress

    return progress(total=total, enabled=enabled, unit=f" {unit}")
