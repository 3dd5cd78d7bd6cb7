"""Live sources that survive losing their stream: timeouts, backoff, events, giving up.

A subclass opens one connection (:meth:`LiveSource._open`) and reads its images
(:meth:`LiveSource._images`); this base reconnects when the stream is lost (a
:class:`StreamFailure`, or the other side ending it), first at once, then with
exponential backoff up to a cap. Every step is recorded as a :class:`StreamEvent` and
logged. With no frame for ``give_up_after`` seconds it stops with a :class:`SourceError`
that says what to check. A new resolution after a reconnect is recorded and goes on: the
pipeline letterboxes each frame on its own. Nothing is replayed: after a reconnect the
source yields only what arrives from then on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from mtl_edge.runtime.frame import Frame, SourceError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReconnectPolicy:
    """Timeouts and backoff of a live source, in seconds."""

    open_timeout: float = 5.0  # connecting and reading the stream header
    read_timeout: float = 5.0  # waiting for the next packet
    first_delay: float = 0.5  # wait before the second reconnect attempt; doubled after each failure
    max_delay: float = 8.0  # cap of the backoff
    give_up_after: float | None = 60.0  # with no frame for this long, stop with an error; None: never

    def delay(self, failures: int) -> float:
        """Backoff after ``failures`` (>= 1) consecutive failed attempts."""
        return min(self.max_delay, self.first_delay * 2.0 ** (failures - 1))


@dataclass(frozen=True)
class StreamEvent:
    """One step of a stream's life: connected, lost, retry, failed, reconnected, resolution, ended, gave_up."""

    time: float  # time.time()
    kind: str
    detail: str


class StreamFailure(Exception):
    """The stream could not be opened or was lost; worth another attempt."""


class PermanentFailure(StreamFailure):
    """An error another attempt will not fix (wrong URL, no such device): fatal on the first connection."""


class LiveSource:
    """Base of the sources that reconnect; subclasses implement ``_open``, ``_images`` and ``_close``."""

    live = True

    def __init__(self, what: str, policy: ReconnectPolicy | None = None) -> None:
        self.what, self.policy = what, policy or ReconnectPolicy()
        self.corrupt = 0  # frames that could not be decoded, skipped
        self.reconnects = 0  # successful connections after the first
        self.finished = False  # a finite stream (a file) reached its end: no reconnect
        self.fps: float | None = None  # the frame rate the connection reports, once connected
        self.events: list[StreamEvent] = []
        self._stop = threading.Event()
        self._pending: tuple[Any, str] | None = None

    def open_now(self) -> None:
        """Make the first connection now, so that a wrong device or URL fails at once (SourceError)."""
        try:
            self._pending = self._open()
        except StreamFailure as e:
            raise SourceError(f"{self.what}: {e}") from e

    # -- for subclasses ------------------------------------------------------------------
    def _open(self) -> tuple[Any, str]:
        """One connection and a description of it; raises StreamFailure or PermanentFailure."""
        raise NotImplementedError

    def _images(self, connection: Any) -> Iterator[Any]:
        """Frames' pixels (RGB arrays or PyAV frames, see :class:`Frame`) until the stream ends
        (return) or is lost (StreamFailure)."""
        raise NotImplementedError

    def _close(self, connection: Any) -> None:
        raise NotImplementedError

    # -- the loop ------------------------------------------------------------------------
    def _event(self, kind: str, detail: str, level: int = logging.WARNING) -> None:
        self.events.append(StreamEvent(time.time(), kind, detail))
        log.log(level, "%s: %s: %s", self.what, kind, detail)

    def _connect(self, connected_before: bool, last_frame_at: float) -> Any | None:
        """Open the stream, retrying with backoff; None once stopped. Raises SourceError on giving up."""
        failures, last_error = 0, ""
        if connected_before:  # the first attempt after a loss goes at once
            self._event("retry", "attempt 1 in 0.00 s", logging.INFO)
        while not self._stop.is_set():
            try:
                connection, description = self._pending or self._open()
                self._pending = None
            except PermanentFailure as e:
                if not connected_before:
                    raise SourceError(f"{self.what}: {e}") from e
                last_error = str(e)
                self._event("failed", last_error)
            except StreamFailure as e:
                last_error = str(e)
                self._event("failed", last_error)
            else:
                self._event("reconnected" if connected_before else "connected", description, logging.INFO)
                return connection
            failures += 1
            silent = time.monotonic() - last_frame_at
            limit = self.policy.give_up_after
            if limit is not None and silent >= limit:
                self._event("gave_up", f"no frame for {silent:.0f} s after {failures} failed attempts")
                raise SourceError(
                    f"{self.what}: no frame for {silent:.0f} s ({failures} reconnect attempts failed; last: "
                    f"{last_error}). Check that the camera or server is up and reachable from here."
                )
            delay = self.policy.delay(failures)
            self._event("retry", f"attempt {failures + 1} in {delay:.2f} s", logging.INFO)
            self._stop.wait(delay)
        return None

    def frames(self) -> Iterator[Frame]:
        index, size = 0, None
        last_frame_at = time.monotonic()
        connected_before = False
        while not self._stop.is_set():
            connection = self._connect(connected_before, last_frame_at)
            if connection is None:
                return
            self.reconnects += connected_before
            connected_before = True
            try:
                for pixels in self._images(connection):
                    if self._stop.is_set():
                        return
                    frame = Frame(index, time.time(), pixels)
                    if size is not None and frame.hw != size:
                        self._event("resolution", f"{size[1]}x{size[0]} -> {frame.hw[1]}x{frame.hw[0]}")
                    size, last_frame_at = frame.hw, time.monotonic()
                    yield frame
                    index += 1
                if self.finished:
                    self._event("ended", "end of the stream", logging.INFO)
                    return
                self._event("lost", "the stream ended on the other side")
            except StreamFailure as e:
                if self._stop.is_set():
                    return
                self._event("lost", str(e))
            finally:
                self._close(connection)

    def stop(self) -> None:
        """Ask :meth:`frames` to end (from any thread): a backoff wait ends at once, a read within
        ``read_timeout``."""
        self._stop.set()

    def close(self) -> None:
        self._stop.set()
        if self._pending is not None:
            self._close(self._pending[0])
            self._pending = None
