"""Network streams (``rtsp://``, ``http(s)://``) decoded with PyAV, reconnecting when lost.

Reads time out after ``read_timeout`` (FFmpeg's interrupt callback), so a silent server
never hangs the process; the reconnection itself is :class:`~mtl_edge.runtime.live.LiveSource`'s.
RTSP goes over TCP. A live stream is never replayed. A finite file served over HTTP (its
container has a duration) resumes instead: frames at or before the last presentation
time already yielded are skipped, and its end is the end of the stream.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mtl_edge.runtime.decoding import decoded_frames, stream_fps
from mtl_edge.runtime.live import LiveSource, PermanentFailure, ReconnectPolicy, StreamFailure

STREAM_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://")


class NetworkSource(LiveSource):
    """Frames of a network stream, as they arrive."""

    def __init__(self, url: str, policy: ReconnectPolicy | None = None) -> None:
        super().__init__(url, policy)
        self._last_pts: int | None = None

    @property
    def url(self) -> str:
        return self.what

    def _open(self) -> tuple[Any, str]:
        import av

        options = {"rtsp_transport": "tcp"} if self.url.startswith(("rtsp://", "rtsps://")) else {}
        try:
            container = av.open(self.url, options=options, timeout=(self.policy.open_timeout, self.policy.read_timeout))
        except (av.HTTPNotFoundError, av.HTTPUnauthorizedError, av.HTTPForbiddenError) as e:
            raise PermanentFailure(f"{e}. Check the URL, path and credentials.") from e
        except (av.FFmpegError, OSError) as e:  # a timeout arrives as av.ExitError
            raise StreamFailure(str(e)) from e
        if not container.streams.video:
            container.close()
            raise PermanentFailure("the stream has no video track. Check the URL.")
        self.fps = stream_fps(container.streams.video[0])
        return container, f"{container.streams.video[0].codec_context.name} via {container.format.name}"

    def _images(self, container: Any) -> Iterator[Any]:
        import av

        finite = container.duration is not None
        try:
            for frame in decoded_frames(container.demux(container.streams.video[0]), self):
                if finite and frame.pts is not None and self._last_pts is not None and frame.pts <= self._last_pts:
                    continue  # a resumed file: already yielded before the connection dropped
                self._last_pts = frame.pts
                yield frame  # a PyAV VideoFrame: Frame converts it only where needed
        except (av.FFmpegError, OSError) as e:
            raise StreamFailure(str(e) or type(e).__name__) from e
        self.finished = finite

    def _close(self, container: Any) -> None:
        container.close()
