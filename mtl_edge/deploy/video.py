"""H.264 mp4 writing through PyAV, atomically."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import numpy as np


class H264Writer:
    """Push RGB uint8 frames into an H.264 mp4; the file appears (renamed from a temp file) on close.

    A writer closed after an error (``close(ok=False)``), or never closed, leaves no
    truncated video behind. The video has the first frame's size; later frames of another
    size are scaled to it.
    """

    def __init__(self, path: str | Path, fps: float, crf: int = 20) -> None:
        import av

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self.path.with_name(f".{self.path.stem}.{os.getpid()}.tmp.mp4")
        self._container = av.open(str(self._tmp), mode="w")
        self._stream = self._container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
        self._stream.pix_fmt = "yuv420p"
        self._stream.options = {"crf": str(crf), "preset": "veryfast"}
        self.count = 0

    def write(self, rgb: np.ndarray) -> None:
        import av

        even = (rgb.shape[0] // 2 * 2, rgb.shape[1] // 2 * 2)
        if self.count == 0:
            self._stream.height, self._stream.width = even
        elif even != (self._stream.height, self._stream.width):  # e.g. a stream that came back at a new size
            import cv2

            rgb = cv2.resize(rgb, (self._stream.width, self._stream.height), interpolation=cv2.INTER_AREA)
        rgb = rgb[: self._stream.height, : self._stream.width]
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        self._container.mux(self._stream.encode(frame))
        self.count += 1

    def close(self, ok: bool = True) -> None:
        """Flush and publish the file (``ok``), or discard it."""
        try:
            if ok:
                self._container.mux(self._stream.encode(None))
            self._container.close()
            if ok:
                os.replace(self._tmp, self.path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                self._tmp.unlink()


def write_h264(path: str | Path, frames: Iterable[np.ndarray], fps: float, crf: int = 20) -> int:
    """Encode RGB uint8 frames to an H.264 mp4 at ``path``; returns the frame count.

    Writes to a temp file and renames it, so a killed run leaves no truncated video.
    """
    writer = H264Writer(path, fps, crf)
    try:
        for rgb in frames:
            writer.write(rgb)
    except BaseException:
        writer.close(ok=False)
        raise
    writer.close()
    return writer.count
