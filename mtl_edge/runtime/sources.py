"""Frame sources: video files, image folders or globs, cameras and GStreamer pipelines, and
:func:`open_source`, which opens any of them from a URI through one table of schemes
(network streams live in :mod:`mtl_edge.runtime.network`).

Every source yields :class:`Frame` objects (pixels, an index and a timestamp). A
frame that cannot be decoded is counted in ``corrupt`` and skipped; the stream goes on.
``live`` sources (cameras, pipelines, streams) reconnect when lost and are read with the
latest-frame policy by default.
"""

from __future__ import annotations

import glob
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from mtl_edge.runtime.decoding import decoded_frames, stream_fps
from mtl_edge.runtime.frame import Frame, SourceError
from mtl_edge.runtime.live import LiveSource, PermanentFailure, ReconnectPolicy, StreamFailure
from mtl_edge.runtime.network import STREAM_SCHEMES, NetworkSource

__all__ = ["Frame", "Source", "SourceError", "open_source", "SCHEMES"]

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".mkv", ".avi", ".mov", ".webm", ".h264", ".ts")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


class Source(Protocol):
    """What the pipeline reads from a source."""

    #: cameras and streams: reconnect when lost, read with the latest-frame policy by default
    live: bool
    #: frames that could not be decoded, skipped
    corrupt: int
    #: successful connections after the first (0 for files)
    reconnects: int
    #: frames per second the source delivers, None when unknown (sinks then write 30)
    fps: float | None

    def frames(self) -> Iterator[Frame]: ...

    def stop(self) -> None:
        """Make a blocked ``frames()`` return soon (a stream waiting to reconnect)."""

    def close(self) -> None: ...


class FileSource:
    """Defaults of a finite, local source: not live, never reconnects, nothing to interrupt."""

    live = False
    reconnects = 0
    fps: float | None = None

    def stop(self) -> None:
        pass


class VideoFileSource(FileSource):
    """Decode a video file with PyAV (FFmpeg); every frame, in order."""

    def __init__(self, path: Path) -> None:
        import av

        self.path, self.corrupt = path, 0
        try:
            self._container = av.open(str(path))
            self._stream = self._container.streams.video[0]
        except (av.FFmpegError, IndexError) as e:
            raise SourceError(f"{path}: not a readable video ({e}). Check the file or re-encode it (H.264 mp4).") from e
        self._stream.thread_type = "AUTO"
        self.fps = stream_fps(self._stream)
        self.expected = expected_frames(self._stream, self.fps)
        self.ended_early = False

    def frames(self) -> Iterator[Frame]:
        import av

        index = 0
        try:
            for frame in decoded_frames(self._container.demux(self._stream), self):
                t = float(frame.time) if frame.time is not None else index / float(self._stream.average_rate or 30)
                yield Frame(index, t, frame)  # converted to RGB only where needed
                index += 1
        except av.FFmpegError as e:  # a damaged container: what was decoded so far stands
            log.warning("%s: demuxing stopped at frame %d (%s)", self.path, index, e)
            self.corrupt += 1
        # reached only when the stream ran out (not on a stop or --max-frames)
        self.ended_early = self.expected is not None and index < self.expected - 1

    def close(self) -> None:
        self._container.close()


class ImageFolderSource(FileSource):
    """Images of a folder (sorted) or of a glob pattern."""

    def __init__(self, paths: list[Path], where: str) -> None:
        if not paths:
            raise SourceError(f"{where}: no images ({', '.join(IMAGE_SUFFIXES)}) found.")
        self.paths, self.corrupt = paths, 0

        self.expected, self.ended_early = len(paths), False

    def frames(self) -> Iterator[Frame]:
        import cv2

        for index, path in enumerate(self.paths):
            why = image_damage(path)
            bgr = None
            if why is None:
                data = np.fromfile(path, dtype=np.uint8)
                bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
            if bgr is None:
                log.warning("%s: %s, skipped (counted as corrupt)", path, why or "unreadable image")
                self.corrupt += 1
                continue
            yield Frame(index, float(index), cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))

    def close(self) -> None:
        pass


def expected_frames(stream: Any, fps: float | None) -> int | None:
    """How many frames a PyAV video stream says it holds: its frame count, else its duration
    times its rate; None when the container says neither (a raw .h264 or .ts)."""
    if stream.frames and stream.frames > 0:
        return int(stream.frames)
    if stream.duration and stream.time_base and fps:
        return round(float(stream.duration * stream.time_base) * fps)
    return None


def image_damage(path: Path) -> str | None:
    """Why an image file is truncated (a JPEG without its FFD9 end marker, a PNG without its IEND
    chunk), or None. Decoders show such files with a grey or black bottom and only a warning."""
    suffix = path.suffix.lower()
    if suffix not in (".jpg", ".jpeg", ".png"):
        return None
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - 64))
            tail = f.read()
    except OSError as e:
        return f"unreadable ({e.strerror})"
    if size == 0:
        return "empty file"
    if suffix == ".png":
        return None if b"IEND" in tail else "truncated PNG (no IEND chunk)"
    return None if b"\xff\xd9" in tail else "truncated JPEG (no FFD9 end marker)"


class CaptureSource(LiveSource):
    """A camera (index or V4L2 device) or a GStreamer pipeline, through OpenCV; frames as they arrive.

    A camera that stops delivering (unplugged, its driver or the Argus daemon restarted) is
    reopened with the backoff of :class:`~mtl_edge.runtime.live.LiveSource`. Read timeouts
    come from the policy on OpenCV's FFmpeg backend; V4L2 gives up a read after its own
    select timeout (10 s by default). A finite pipeline (a file) ends at its last frame.
    """

    def __init__(
        self, target: int | str, backend: int | None = None, what: str = "", policy: ReconnectPolicy | None = None
    ) -> None:
        super().__init__(what or str(target), policy)
        self._target, self._backend = target, backend
        self.open_now()

    def _open(self) -> tuple[Any, str]:
        import cv2

        if self._backend == cv2.CAP_FFMPEG:
            timeouts = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(self.policy.open_timeout * 1e3)]
            timeouts += [cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(self.policy.read_timeout * 1e3)]
            cap = cv2.VideoCapture(self._target, self._backend, timeouts)
        elif self._backend is not None:
            cap = cv2.VideoCapture(self._target, self._backend)
        else:
            cap = cv2.VideoCapture(self._target)
        if not cap.isOpened():
            cap.release()
            raise PermanentFailure(
                "could not open it. Check that the device exists and is free (`v4l2-ctl --list-devices`), "
                "or that OpenCV was built with GStreamer for csi:// and pipelines."
            )
        size = f"{int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))}x{int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))}"
        self.fps = float(cap.get(cv2.CAP_PROP_FPS)) or None
        return cap, f"{size} via OpenCV {cap.getBackendName()}"

    def _images(self, cap: Any) -> Iterator[np.ndarray]:
        import cv2

        finite = cap.get(cv2.CAP_PROP_FRAME_COUNT) > 0
        while True:
            ok, bgr = cap.read()
            if not ok:
                if finite:
                    self.finished = True
                    return
                raise StreamFailure("no frame from the device (the read failed or timed out)")
            if bgr is None or bgr.ndim != 3:
                self.corrupt += 1
                continue
            yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def _close(self, cap: Any) -> None:
        cap.release()


def csi_pipeline(sensor: int, width: int = 1280, height: int = 720, fps: int = 30) -> str:
    """Jetson CSI camera through nvarguscamerasrc, converted to BGR for OpenCV."""
    return (
        f"nvarguscamerasrc sensor-id={sensor} ! video/x-raw(memory:NVMM),width={width},height={height},"
        f"framerate={fps}/1 ! nvvidconv ! video/x-raw,format=BGRx ! videoconvert ! video/x-raw,format=BGR ! appsink"
    )


class LoopedSource(FileSource):
    """A file source played over and over (``--loop``); indices and timestamps keep rising."""

    def __init__(self, open_once: Callable[[], VideoFileSource | ImageFolderSource]) -> None:
        self._open_once, self._done_corrupt = open_once, 0
        self._current = open_once()  # opened now, so a bad path fails here and not in the capture thread
        self.fps = self._current.fps

    @property
    def corrupt(self) -> int:
        return self._done_corrupt + self._current.corrupt

    def frames(self) -> Iterator[Frame]:
        index, offset = 0, 0.0
        while True:
            last_t, step, produced = 0.0, 1.0 / 30, False
            for frame in self._current.frames():
                step = frame.timestamp - last_t if produced and frame.timestamp > last_t else step
                last_t, produced = frame.timestamp, True
                yield frame.renumbered(index, offset + frame.timestamp)
                index += 1
            if not produced:  # nothing decodable: looping would spin forever
                return
            offset += last_t + step
            self._current.close()
            self._done_corrupt += self._current.corrupt
            self._current = self._open_once()

    def close(self) -> None:
        self._current.close()


def _capture(target: str, backend: str, what: str, policy: ReconnectPolicy | None) -> CaptureSource:
    import cv2

    return CaptureSource(target, getattr(cv2, backend), what, policy)


#: URI prefix -> how to open the rest of the URI (the whole URI, the rest, the reconnect policy).
SCHEMES: dict[str, Callable[[str, str, ReconnectPolicy | None], Source]] = {
    **{prefix: (lambda uri, rest, policy: NetworkSource(uri, policy)) for prefix in STREAM_SCHEMES},
    "v4l2://": lambda uri, rest, policy: _capture(rest, "CAP_V4L2", uri, policy),
    "csi://": lambda uri, rest, policy: _capture(csi_pipeline(int(rest or 0)), "CAP_GSTREAMER", uri, policy),
    "gst://": lambda uri, rest, policy: _capture(rest, "CAP_GSTREAMER", "GStreamer pipeline", policy),
}


def open_source(uri: str | Path, loop: bool = False, reconnect: ReconnectPolicy | None = None) -> Source:
    """Open a source from a URI: a file, folder or glob, a camera index, or one of :data:`SCHEMES`
    (v4l2://, csi://N, gst://PIPELINE, rtsp://, http(s)://).

    ``loop`` replays a file or folder without end; ``reconnect`` sets a live source's
    timeouts and backoff.
    """
    text = str(uri)
    for prefix, opener in SCHEMES.items():
        if text.startswith(prefix):
            return opener(text, text[len(prefix) :], reconnect)
    if text.isdigit():
        return CaptureSource(int(text), what=f"camera {text}", policy=reconnect)
    if loop:
        return LoopedSource(lambda: open_file_source(text))
    return open_file_source(text)


def open_file_source(text: str) -> VideoFileSource | ImageFolderSource:
    """A video file, an image, an image folder or a glob."""
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
        "v4l2:///dev/videoN, csi://N, gst://PIPELINE, rtsp://... or http(s)://..."
    )
