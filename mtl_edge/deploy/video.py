"""H.264 mp4 writing through PyAV: atomic (published on close) or fragmented (crash-safe)."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import numpy as np

from mtl_edge.fileio import fsync_folder, remove_stale_temps, temp_beside

#: fragmented mp4: a header with no samples, then one self-contained fragment per keyframe
FRAGMENTED_MOVFLAGS = "frag_keyframe+empty_moov+default_base_moof"


class H264Writer:
    """Push RGB uint8 frames into an H.264 mp4 written to a temp file beside ``path``.

    Default: the file is renamed into place on close; a writer closed after an error
    (``close(ok=False)``), or never closed, leaves no truncated video behind.

    ``fragmented``: a fragmented mp4 with a keyframe every ``keyframe_s`` seconds, each
    fragment flushed to the file and fsynced when written. The temp file is renamed over
    ``path`` as soon as its first fragment is on disk, and written on at ``path``: a killed
    recording plays up to its last fragment (at most ~``keyframe_s`` plus the encoder's
    look-ahead is lost), and an existing ``path`` is only replaced once the new video has
    a fragment. The video has the first frame's size; later frames of another size are
    scaled to it.
    """

    def __init__(
        self, path: str | Path, fps: float, crf: int = 20, fragmented: bool = False, keyframe_s: float = 1.0
    ) -> None:
        import av

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(self.path.parent, self.path.name)
        remove_stale_temps(self.path.parent, self.path.stem)  # the name of older versions' temp files
        self._tmp = temp_beside(self.path, ".tmp" + (self.path.suffix or ".mp4"))
        self.fragmented, self.published = fragmented, False
        options = {"movflags": FRAGMENTED_MOVFLAGS, "flush_packets": "1"} if fragmented else {}
        self._container = av.open(str(self._tmp), mode="w", format="mp4", options=options)
        rate = Fraction(fps).limit_denominator(1000)
        self._stream = self._container.add_stream("libx264", rate=rate)
        self._stream.pix_fmt = "yuv420p"
        self._stream.options = {"crf": str(crf), "preset": "veryfast"}
        if fragmented:
            self._stream.codec_context.gop_size = max(1, round(float(rate) * keyframe_s))
        self._keyframes, self._fd, self._synced = 0, -1, 0.0
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
        self._mux(self._stream.encode(frame))
        self.count += 1

    def _mux(self, packets: list) -> None:
        for packet in packets:
            self._container.mux(packet)
            if self.fragmented and packet.is_keyframe:
                self._keyframes += 1
                if self._keyframes >= 2:  # a new keyframe closed the previous fragment: it is in the file
                    self._fragment_written()

    def _fragment_written(self) -> None:
        """Publish the file at its first fragment; fsync a fragment at most once a second."""
        if not self.published:
            self._fd = os.open(self._tmp, os.O_RDONLY)  # follows the file through the rename
            os.fsync(self._fd)
            os.replace(self._tmp, self.path)
            fsync_folder(self.path.parent)
            self.published, self._synced = True, time.monotonic()
        elif time.monotonic() - self._synced >= 1.0:
            os.fsync(self._fd)
            self._synced = time.monotonic()

    def close(self, ok: bool = True) -> None:
        """Flush and publish the file (``ok``), or discard it (kept when already published: it plays)."""
        try:
            if ok or self.published:
                self._mux(self._stream.encode(None))
            self._container.close()
            if self.published:
                os.fsync(self._fd)
            elif ok:
                with open(self._tmp, "rb") as f:
                    os.fsync(f.fileno())
                os.replace(self._tmp, self.path)
                fsync_folder(self.path.parent)
                self.published = True
        finally:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
            if not self.published:
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
