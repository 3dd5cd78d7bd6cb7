"""``mtl-edge data show``: labels drawn over dataset images or clip frames, as PNG files."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from ..fileio import atomic_write_bytes
from .draw import draw_frame
from .formats import read_frames
from .labels import FrameLabels


def _write_png(rgb: np.ndarray, path: Path) -> None:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError(f"{path}: OpenCV could not encode the PNG")
    atomic_write_bytes(path, buf.tobytes(), durable=False)


def _pick(frames: list[FrameLabels], n: int, names: Sequence[str] | None, source: Path) -> list[int]:
    if not names:
        return list(range(min(n, len(frames))))
    index = {f.name: i for i, f in enumerate(frames)}
    missing = [name for name in names if name not in index]
    if missing:
        raise ValueError(f"{source}: no labels for {', '.join(missing)}; names look like {frames[0].name!r}")
    return [index[name] for name in names]


def show_dataset(
    root: Path, out: Path, n: int, names: Sequence[str] | None = None, layout: str | None = None, role: str = "val"
) -> list[Path]:
    """Draw the first ``n`` frames (or ``names``) of split ``role`` of a dataset folder in any supported
    layout (``layout`` None: detected), as training reads them (lane rules and category table applied)."""
    from .splits import open_folder

    dataset = open_folder(root, layout, role)
    written = []
    for i in _pick(dataset.frames, n, names, root):
        image, labels = dataset.source(i)
        target = out / f"{Path(dataset.frames[i].name).stem}.png"
        _write_png(draw_frame(image, labels.frame, labels=labels), target)
        written.append(target)
    return written


def show_clip(video: Path, out: Path, every: int, n: int) -> list[Path]:
    """Draw every ``every``-th frame of a generated clip (mp4 + same-named .json), at most ``n``."""
    import av

    labels = video.with_suffix(".json")
    if not video.is_file():
        raise ValueError(f"{video}: no such clip file")
    if not labels.exists():
        raise FileNotFoundError(f"{labels}: the clip's label file is missing; regenerate the clip")
    frames = read_frames(labels)
    written = []
    with av.open(str(video)) as container:
        for i, decoded in enumerate(container.decode(video=0)):
            if len(written) >= n:
                break
            if i % every or i >= len(frames):
                continue
            target = out / f"{video.stem}-{i:06d}.png"
            _write_png(draw_frame(decoded.to_ndarray(format="rgb24"), frames[i]), target)
            written.append(target)
    return written


def show(
    path: str | Path,
    out: str | Path | None = None,
    n: int = 8,
    names: Sequence[str] | None = None,
    every: int = 30,
    layout: str | None = None,
    role: str = "val",
) -> list[Path]:
    """Draw labels for a dataset folder (any supported layout) or a generated clip; returns the PNGs written."""
    path = Path(path)
    if path.suffix.lower() == ".mp4":
        return show_clip(path, Path(out) if out else path.parent / "show", every, n)
    return show_dataset(path, Path(out) if out else path / "show", n, names, layout, role)
