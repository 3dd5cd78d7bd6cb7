"""Network streams (``rtsp://``, ``http(s)://``) that survive a dropped connection.

Every read has a timeout, so a silent server never hangs the process. When the stream
is lost (error, timeout or the server closing it) the source reconnects with
exponential backoff up to a cap, and records every step as a :class:`StreamEvent`
(also logged). It gives up, with an error saying what to check, once no frame has
arrived for ``give_up_after`` seconds. A reconnect at a new resolution is recorded and
simply goes on: the pipeline letterboxes each frame on its own.

A live stream is never replayed: after a reconnect the source yields what the server
sends from then on. A finite file served over HTTP (its container has a duration)
resumes instead: frames at or before the last presentation time already yielded are
skipped, and its end is the end of the stream.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from mtl_edge.runtime.sources import Frame, SourceError, decoded_frames

log = logging.getLogger(__name__)

STREAM_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://")


@dataclass(frozen=True)
class ReconnectPolicy:
    """Timeouts and backoff of a network source, in seconds."""

    open_timeout: float = 5.0  # connecting and reading the stream header
    read_timeout: float = 5.0  # waiting for the next packet
    first_delay: float = 0.5  # wait before the first reconnect; doubled after each failure
    max_delay: float = 8.0  # cap of the backoff
    give_up_after: float | None = 60.0  # with no frame for this long, stop with an error; None: never

    def delay(self, failures: int) -> float:
        """Backoff before attempt ``failures + 1`` (``failures`` >= 1 consecutive failures so far)."""
        return min(self.max_delay, self.first_delay * 2.0 ** (failures - 1))


@dataclass(frozen=True)
class StreamEvent:
    """One step of a stream's life: connected, lost, retry, failed, resolution, ended, gave_up."""

    time: float  # time.time()
    kind: str
    detail: str


@dataclass
class NetworkSource:
    """Frames of a network stream, decoded with PyAV (FFmpeg), reconnecting as needed."""

    url: str
    policy: ReconnectPolicy = field(default_factory=ReconnectPolicy)
    live = True

    def __post_init__(self) -> None:
        self.corrupt = 0
        self.reconnects = 0  # successful connections after the first
        self.events: list[StreamEvent] = []
        self._stop = threading.Event()

    # -- events --------------------------------------------------------------------------
    def _event(self, kind: str, detail: str, level: int = logging.WARNING) -> None:
        self.events.append(StreamEvent(time.time(), kind, detail))
        log.log(level, "%s: %s: %s", self.url, kind, detail)

    # -- connection ----------------------------------------------------------------------
    def _open(self) -> Any:
        import av

        options = {"rtsp_transport": "tcp"} if self.url.startswith(("rtsp://", "rtsps://")) else {}
        return av.open(self.url, options=options, timeout=(self.policy.open_timeout, self.policy.read_timeout))

    def _connect(self, connected_before: bool, last_frame_at: float) -> Any | None:
        """Open the stream, retrying with backoff; None once stopped. Raises SourceError on giving up."""
        import av

        failures, last_error = 0, ""
        if connected_before:  # the first attempt after a loss goes at once
            self._event("retry", "attempt 1 in 0.00 s", logging.INFO)
        while not self._stop.is_set():
            try:
                container = self._open()
                if not container.streams.video:
                    container.close()
                    raise SourceError(f"{self.url}: the stream has no video track.")
            except (av.HTTPNotFoundError, av.HTTPUnauthorizedError, av.HTTPForbiddenError) as e:
                if not connected_before:  # a wrong URL or credentials: retrying will not help
                    raise SourceError(f"{self.url}: {e}. Check the URL, path and credentials.") from e
                last_error = str(e)
                self._event("failed", last_error)
            except (av.FFmpegError, OSError) as e:
                last_error = str(e)
                self._event("failed", last_error)
            else:
                stream = container.streams.video[0]
                kind = "reconnected" if connected_before else "connected"
                self._event(kind, f"{stream.codec_context.name} via {container.format.name}", logging.INFO)
                return container
            failures += 1
            silent = time.monotonic() - last_frame_at
            limit = self.policy.give_up_after
            if limit is not None and silent >= limit:
                self._event("gave_up", f"no frame for {silent:.0f} s after {failures} failed attempts")
                raise SourceError(
                    f"{self.url}: no frame for {silent:.0f} s ({failures} reconnect attempts failed; last: "
                    f"{last_error}). Check that the camera or server is up and reachable from here."
                )
            delay = self.policy.delay(failures)
            self._event("retry", f"attempt {failures + 1} in {delay:.2f} s", logging.INFO)
            self._stop.wait(delay)
        return None

    # -- frames --------------------------------------------------------------------------
    def frames(self) -> Iterator[Frame]:
        import av

        index, size, last_pts = 0, None, None
        last_frame_at = time.monotonic()
        connected_before = False
        while not self._stop.is_set():
            container = self._connect(connected_before, last_frame_at)
            if container is None:
                return
            self.reconnects += connected_before
            connected_before = True
            stream = container.streams.video[0]
            finite = container.duration is not None
            try:
                for frame in decoded_frames(container.demux(stream), self):
                    if self._stop.is_set():
                        return
                    if finite and frame.pts is not None and last_pts is not None and frame.pts <= last_pts:
                        continue  # a resumed file: already yielded before the connection dropped
                    image = frame.to_ndarray(format="rgb24")
                    if size is not None and image.shape[:2] != size:
                        self._event("resolution", f"{size[1]}x{size[0]} -> {image.shape[1]}x{image.shape[0]}")
                    size, last_pts = image.shape[:2], frame.pts
                    last_frame_at = time.monotonic()
                    yield Frame(index, time.time(), image)
                    index += 1
                if finite:
                    self._event("ended", "end of the file", logging.INFO)
                    return
                self._event("lost", "the server closed the stream")
            except (av.FFmpegError, OSError) as e:  # a timeout arrives as av.ExitError
                if self._stop.is_set():
                    return
                self._event("lost", str(e) or type(e).__name__)
            finally:
                container.close()

    def stop(self) -> None:
        """Ask :meth:`frames` to end (from any thread): a backoff wait ends at once, a read within
        ``read_timeout``."""
        self._stop.set()

    def close(self) -> None:
        self._stop.set()


def is_stream_url(text: str) -> bool:
    return text.startswith(STREAM_SCHEMES)
