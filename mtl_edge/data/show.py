"""``mtl-edge data show``: labels drawn over dataset images or clip frames, as PNG files."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from ..fileio import atomic_write_bytes
from .draw import draw_frame
from .formats import read_drivable_mask, read_frames
from .labels import FrameLabels


def _write_png(rgb: np.ndarray, path: Path) -> None:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError(f"{path}: OpenCV could not encode the PNG")
    atomic_write_bytes(path, buf.tobytes(), durable=False)


def _pick(frames: list[FrameLabels], n: int, names: Sequence[str] | None, source: Path) -> list[FrameLabels]:
    if not names:
        return frames[:n]
    by_name = {f.name: f for f in frames}
    missing = [name for name in names if name not in by_name]
    if missing:
        raise ValueError(f"{source}: no labels for {', '.join(missing)}; names look like {frames[0].name!r}")
    return [by_name[name] for name in names]


def show_dataset(root: Path, out: Path, n: int, names: Sequence[str] | None = None) -> list[Path]:
    """Draw the first ``n`` frames (or ``names``) of a dataset folder in the synth/BDD100K layout."""
    from .dataset import read_image
    from .splits import check_dataset_dir

    labels = check_dataset_dir(root, clip=True) / "labels.json"
    frames = read_frames(labels)
    if not frames:
        raise ValueError(f"{labels}: holds no frames")
    written = []
    for frame in _pick(frames, n, names, labels):
        image = read_image(root / "images" / frame.name).permute(1, 2, 0).numpy()
        mask_path = root / "drivable" / f"{Path(frame.name).stem}.png"
        mask = read_drivable_mask(mask_path) if mask_path.exists() else None
        target = out / f"{Path(frame.name).stem}.png"
        _write_png(draw_frame(image, frame, mask), target)
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
    path: str | Path, out: str | Path | None = None, n: int = 8, names: Sequence[str] | None = None, every: int = 30
) -> list[Path]:
    """Draw labels for a dataset folder or a clip; returns the PNG paths written."""
    path = Path(path)
    if path.suffix.lower() == ".mp4":
        return show_clip(path, Path(out) if out else path.parent / "show", every, n)
    return show_dataset(path, Path(out) if out else path / "show", n, names)
