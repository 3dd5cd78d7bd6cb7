"""Where results go: an annotated video, JSON lines, an image folder, or a window.

Sinks run on the pipeline's render thread. They are crash-safe: after a SIGKILL or a
power cut, what was written up to the last second or so is readable at the final path.

- JSONL: written to a temp name beside the path until its first line is on disk, then
  renamed into place and appended there, flushed after every line and fsynced at most
  every :data:`FSYNC_S` seconds (and on close).
- mp4: fragmented, a keyframe (and so a fragment) every second; published at its first
  fragment the same way (see :class:`~mtl_edge.deploy.video.H264Writer`).
- Image folders: each file written atomically.

An existing output is replaced only once the new one has its first line or fragment.
Temp files carry the PID; those of a process that is gone are removed when a sink opens.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from mtl_edge.deploy.draw import draw_result
from mtl_edge.deploy.results import FrameResult
from mtl_edge.deploy.video import H264Writer
from mtl_edge.fileio import atomic_write_bytes, fsync_folder, remove_stale_temps, temp_beside

log = logging.getLogger(__name__)

#: JSONL sinks fsync at most this often (seconds): a power cut loses at most about this much
FSYNC_S = 1.0


class Sink(Protocol):
    needs_image: bool  # False: ``write`` gets None for the image, which is then never converted to RGB

    def write(self, image: np.ndarray | None, result: FrameResult, hud: str | None) -> None: ...

    def close(self, ok: bool = True) -> None: ...


class VideoSink:
    """Annotated H.264 mp4, fragmented: a killed run's file plays up to its last fragment."""

    needs_image = True

    def __init__(self, path: Path, fps: float = 30.0) -> None:
        self._writer = H264Writer(path, fps, fragmented=True)

    def write(self, image: np.ndarray, result: FrameResult, hud: str | None) -> None:
        self._writer.write(draw_result(image, result, hud))

    def close(self, ok: bool = True) -> None:
        self._writer.close(ok)


class JsonlSink:
    """One FrameResult per line, appended at ``path`` once the first line is on disk."""

    needs_image = False

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(path.parent, path.name)
        self._tmp = temp_beside(path)
        self._file = open(self._tmp, "w", encoding="utf-8")  # noqa: SIM115  (closed in close())
        self.published, self._synced = False, 0.0

    def write(self, image: np.ndarray | None, result: FrameResult, hud: str | None) -> None:
        self._file.write(result.to_json() + "\n")
        self._file.flush()  # a SIGKILL loses at most the line being written
        if not self.published:
            self._publish()
        elif time.monotonic() - self._synced >= FSYNC_S:
            os.fsync(self._file.fileno())
            self._synced = time.monotonic()

    def write_summary(self, counts: dict) -> None:
        """The last line: ``{"summary": {"expected": ..., "processed": ..., "dropped": ..., "corrupt": ...}}``."""
        self._file.write(json.dumps({"summary": counts}) + "\n")

    def _publish(self) -> None:
        os.fsync(self._file.fileno())
        os.replace(self._tmp, self.path)  # the open file follows: later lines append at the final path
        fsync_folder(self.path.parent)
        self.published, self._synced = True, time.monotonic()

    def close(self, ok: bool = True) -> None:
        """Fsync and publish (a run with no line publishes an empty file); partial results are still results."""
        try:
            self._file.flush()
            if not self.published:
                self._publish()
            else:
                os.fsync(self._file.fileno())
        finally:
            self._file.close()


class ImageFolderSink:
    """Annotated frames as numbered JPEGs."""

    needs_image = True

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(folder)

    def write(self, image: np.ndarray, result: FrameResult, hud: str | None) -> None:
        import cv2

        ok, data = cv2.imencode(".jpg", cv2.cvtColor(draw_result(image, result, hud), cv2.COLOR_RGB2BGR))
        if ok:
            atomic_write_bytes(self.folder / f"{result.index:06d}.jpg", data.tobytes(), durable=False)

    def close(self, ok: bool = True) -> None:
        pass


class DisplaySink:
    """An OpenCV window; needs a display (DISPLAY or WAYLAND_DISPLAY)."""

    needs_image = True

    def __init__(self) -> None:
        if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            raise ValueError("display://: no display here (DISPLAY is not set); write a video with --sink out.mp4.")

    def write(self, image: np.ndarray, result: FrameResult, hud: str | None) -> None:
        import cv2

        cv2.imshow("mtl-edge", cv2.cvtColor(draw_result(image, result, hud), cv2.COLOR_RGB2BGR))
        cv2.waitKey(1)

    def close(self, ok: bool = True) -> None:
        import cv2

        cv2.destroyAllWindows()


class SegmentedSink:
    """A video or JSONL sink rotated every ``seconds`` of run time: ``out.mp4`` becomes
    ``out_00000.mp4``, ``out_00001.mp4``, ... Numbering goes on after the segments of an
    earlier run (reported; a killed run's last segment is already readable)."""

    def __init__(self, path: Path, seconds: float, make: Callable[[Path], Any]) -> None:
        self.path, self.seconds, self._make = path, seconds, make
        pattern = re.compile(rf"^{re.escape(path.stem)}_(\d{{5,}}){re.escape(path.suffix)}$")
        earlier = sorted(int(m[1]) for p in _listing(path.parent) if (m := pattern.match(p)))
        self.number = earlier[-1] + 1 if earlier else 0
        if earlier:
            log.info(
                "%s: %d segments of an earlier run kept (last %s); continuing at %s",
                path,
                len(earlier),
                self.segment_path(earlier[-1]).name,
                self.segment_path(self.number).name,
            )
        self._sink = make(self.segment_path(self.number))
        self.needs_image = self._sink.needs_image
        self._started = time.monotonic()

    def segment_path(self, number: int) -> Path:
        return self.path.with_name(f"{self.path.stem}_{number:05d}{self.path.suffix}")

    def write(self, image: np.ndarray | None, result: FrameResult, hud: str | None) -> None:
        if time.monotonic() - self._started >= self.seconds:
            self._sink.close(ok=True)
            self.number += 1
            self._sink = self._make(self.segment_path(self.number))
            self._started = time.monotonic()
        self._sink.write(image, result, hud)

    def write_summary(self, counts: dict) -> None:
        """The run's summary record ends the last segment (JSONL only)."""
        if hasattr(self._sink, "write_summary"):
            self._sink.write_summary(counts)

    def close(self, ok: bool = True) -> None:
        self._sink.close(ok)


def _listing(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir()] if folder.is_dir() else []


def open_sink(uri: str | Path, fps: float = 30.0, segment: float | None = None) -> Any:
    """``out.mp4`` (video), ``out.jsonl`` (JSON lines), ``display://``, or a folder for annotated JPEGs.

    ``segment`` (seconds) rotates a video or JSONL sink (:class:`SegmentedSink`).
    """
    text = str(uri)
    if text.startswith("display://"):
        return DisplaySink()
    path = Path(text)
    kind = path.suffix.lower()
    make: Callable[[Path], Any] | None = None
    if kind in (".mp4", ".mkv", ".mov"):
        make = functools.partial(VideoSink, fps=fps)
    elif kind in (".jsonl", ".json"):
        make = JsonlSink
    if make is not None:
        return SegmentedSink(path, segment, make) if segment else make(path)
    if path.suffix:
        raise ValueError(f"--sink {text}: unknown kind; use out.mp4, out.jsonl, a folder name, or display://")
    return ImageFolderSink(path)


def check_sinks(source: str | Path | None, sinks: Sequence[str | Path]) -> None:
    """Refuse a sink that would overwrite the source (or write into a source folder) or another sink.

    Raises ValueError naming the sink and the fix; called before anything is opened.
    """
    src = _local_path(source) if source is not None else None
    seen: dict[Path, str] = {}
    for sink in sinks:
        path = _local_path(sink)
        if path is None:
            continue
        if src is not None and path == src:
            raise ValueError(
                f"--sink {sink}: that is the source {source}; writing there would overwrite it. "
                "Give the sink another path (e.g. out.mp4 beside it)."
            )
        if src is not None and src.is_dir() and src in path.parents:
            raise ValueError(
                f"--sink {sink}: inside the source folder {source}; its files would be read back as input. "
                "Give the sink a path outside it."
            )
        if path in seen:
            raise ValueError(
                f"--sink {sink}: the same file as --sink {seen[path]}; give each sink its own path "
                "(e.g. out.mp4 and out.jsonl)."
            )
        seen[path] = str(sink)


def _local_path(uri: str | Path) -> Path | None:
    """The resolved path of a file URI; None for a camera index, display:// or a stream."""
    text = str(uri)
    if "://" in text or text.isdigit():
        return None
    return Path(text).expanduser().resolve()
