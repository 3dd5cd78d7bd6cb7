"""H.264 mp4 writing through PyAV, atomically."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import numpy as np


def write_h264(path: str | Path, frames: Iterable[np.ndarray], fps: float, crf: int = 20) -> int:
    """Encode RGB uint8 frames to an H.264 mp4 at ``path``; returns the frame count.

    Writes to a temp file and renames it, so a killed run leaves no truncated video.
    """
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.mp4")
    count = 0
    try:
        with av.open(str(tmp), mode="w") as container:
            stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": str(crf), "preset": "veryfast"}
            for rgb in frames:
                if count == 0:
                    stream.height, stream.width = rgb.shape[:2]
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
                container.mux(stream.encode(frame))
                count += 1
            container.mux(stream.encode(None))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    return count
