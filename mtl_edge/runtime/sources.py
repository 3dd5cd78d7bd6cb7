"""Frame sources: video files, image folders or globs, cameras and GStreamer pipelines.

Every source yields :class:`Frame` objects (RGB uint8, an index and a timestamp). A
frame that cannot be decoded is counted in ``corrupt`` and skipped; the stream goes on.
``live`` sources (cameras, pipelines) are read with the latest-frame policy by default.
"""

from __future__ import annotations

import glob
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".mkv", ".avi", ".mov", ".webm", ".h264", ".ts")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


class SourceError(ValueError):
    """A source that cannot be opened, with how to fix it."""


@dataclass
class Frame:
    index: int  # position in the source (files) or arrival order (live)
    timestamp: float  # seconds: presentation time for files, arrival time for live sources
    image: np.ndarray  # RGB uint8 [H, W, 3]


class VideoFileSource:
    """Decode a video file with PyAV (FFmpeg); every frame, in order."""

    live = False

    def __init__(self, path: Path) -> None:
        import av

        self.path, self.corrupt = path, 0
        try:
            self._container = av.open(str(path))
            self._stream = self._container.streams.video[0]
        except (av.FFmpegError, IndexError) as e:
            raise SourceError(f"{path}: not a readable video ({e}). Check the file or re-encode it (H.264 mp4).") from e
        self._stream.thread_type = "AUTO"

    def frames(self) -> Iterator[Frame]:
        import av

        index = 0
        packets = self._container.demux(self._stream)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                return
            except av.FFmpegError as e:  # a damaged container: what was decoded so far stands
                log.warning("%s: demuxing stopped at frame %d (%s)", self.path, index, e)
                self.corrupt += 1
                return
            try:
                decoded = packet.decode()
            except av.FFmpegError:
                self.corrupt += 1
                continue
            for frame in decoded:
                t = float(frame.time) if frame.time is not None else index / float(self._stream.average_rate or 30)
                yield Frame(index, t, frame.to_ndarray(format="rgb24"))
                index += 1

    def close(self) -> None:
        self._container.close()


class ImageFolderSource:
    """Images of a folder (sorted) or of a glob pattern."""

    live = False

    def __init__(self, paths: list[Path], where: str) -> None:
        if not paths:
            raise SourceError(f"{where}: no images ({', '.join(IMAGE_SUFFIXES)}) found.")
        self.paths, self.corrupt = paths, 0

    def frames(self) -> Iterator[Frame]:
        import cv2

        for index, path in enumerate(self.paths):
            bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if bgr is None:
                log.warning("%s: unreadable image, skipped", path)
                self.corrupt += 1
                continue
            yield Frame(index, float(index), cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))

    def close(self) -> None:
        pass


class CaptureSource:
    """A camera (index or V4L2 device) or a GStreamer pipeline, through OpenCV; frames as they arrive."""

    live = True

    def __init__(self, target: int | str, backend: int | None = None, what: str = "") -> None:
        import cv2

        self.what, self.corrupt = what or str(target), 0
        self._cap = cv2.VideoCapture(target, backend) if backend is not None else cv2.VideoCapture(target)
        if not self._cap.isOpened():
            raise SourceError(
                f"{self.what}: could not open it. Check that the device exists and is free "
                "(`v4l2-ctl --list-devices`), or that OpenCV was built with GStreamer for csi:// and pipelines."
            )

    def frames(self) -> Iterator[Frame]:
        import cv2

        index = 0
        while True:
            ok, bgr = self._cap.read()
            if not ok:
                return
            if bgr is None or bgr.ndim != 3:
                self.corrupt += 1
                continue
            yield Frame(index, time.time(), cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            index += 1

    def close(self) -> None:
        self._cap.release()


def csi_pipeline(sensor: int, width: int = 1280, height: int = 720, fps: int = 30) -> str:
    """Jetson CSI camera through nvarguscamerasrc, converted to BGR for OpenCV."""
    return (
        f"nvarguscamerasrc sensor-id={sensor} ! video/x-raw(memory:NVMM),width={width},height={height},"
        f"framerate={fps}/1 ! nvvidconv ! video/x-raw,format=BGRx ! videoconvert ! video/x-raw,format=BGR ! appsink"
    )


def open_source(uri: str | Path) -> VideoFileSource | ImageFolderSource | CaptureSource:
    """Open a source from a URI: file, folder, glob, camera index, v4l2://, csi://N, gst://PIPELINE.

    ``rtsp://`` and ``http(s)://`` streams are not supported in this release (see the runtime issue).
    """
    import cv2

    text = str(uri)
    if text.isdigit():
        return CaptureSource(int(text), what=f"camera {text}")
    if text.startswith("v4l2://"):
        return CaptureSource(text[len("v4l2://") :], cv2.CAP_V4L2, what=text)
    if text.startswith("csi://"):
        return CaptureSource(csi_pipeline(int(text[len("csi://") :] or 0)), cv2.CAP_GSTREAMER, what=text)
    if text.startswith("gst://"):
        return CaptureSource(text[len("gst://") :], cv2.CAP_GSTREAMER, what="GStreamer pipeline")
    if text.startswith(("rtsp://", "http://", "https://")):
        raise SourceError(
            f"{text}: network streams are not supported in this release; decode the stream with GStreamer "
            "and pass the pipeline as gst://... (ending in appsink), or record it to a file."
        )
    if any(c in text for c in "*?["):
        paths = sorted(Path(p) for p in glob.glob(text) if Path(p).suffix.lower() in IMAGE_SUFFIXES)
        return ImageFolderSource(paths, text)
    path = Path(text)
    if path.is_dir():
        paths = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        return ImageFolderSource(paths, text)
    if path.is_file():
        if path.suffix.lower() in IMAGE_SUFFIXES:
            return ImageFolderSource([path], text)
        return VideoFileSource(path)
    raise SourceError(
        f"{text}: no such file or folder. A source is a video file, an image folder or glob, a camera index, "
        "v4l2:///dev/videoN, csi://N or gst://PIPELINE."
    )
