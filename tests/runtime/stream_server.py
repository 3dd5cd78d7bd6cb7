"""A live MJPEG-over-HTTP camera on 127.0.0.1 for the network-source tests.

Connection k serves ``segments[k]`` (a list of RGB frames) as multipart JPEG, then ends
it the way the segment says: ``drop`` sends only the start of the segment's last frame
and cuts the socket (the frame in flight is lost),
``stall`` keeps the socket open and silent, ``close`` ends cleanly. Connections after
the last segment are answered 503, as a camera that is rebooting would; other paths 404.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np

BOUNDARY = b"frame"


@dataclass
class Segment:
    frames: list[np.ndarray]
    end: str = "drop"  # drop | stall | close


def jpeg(rgb: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".jpg", np.ascontiguousarray(rgb[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    return data.tobytes()


def part(data: bytes) -> bytes:
    return b"--%s\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n%s\r\n" % (BOUNDARY, len(data), data)


class _QuietHandler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


class LocalServer:
    """A server on 127.0.0.1 whose ``_thread`` serves for the length of a ``with`` block."""

    _thread: threading.Thread

    def __enter__(self) -> LocalServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._shut_down()

    def _shut_down(self) -> None:
        raise NotImplementedError


class _HttpServer(LocalServer):
    """An HTTP server on 127.0.0.1, served on a daemon thread."""

    def _listen(self, handler: type[BaseHTTPRequestHandler], path: str) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def _shut_down(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class MjpegCamera(_HttpServer):
    """Serve scripted segments; ``url`` to connect, ``connections`` counts the requests."""

    def __init__(self, segments: list[Segment], fps: float = 100.0) -> None:
        self.segments, self.period, self.connections = segments, 1.0 / fps, 0
        self._release = threading.Event()  # ends stalled connections when the test is over
        camera = self

        class Handler(_QuietHandler):
            def do_GET(self) -> None:  # noqa: N802  (the http.server hook name)
                if self.path != "/video.mjpg":
                    self.send_error(404, "no such stream")
                    return
                k, camera.connections = camera.connections, camera.connections + 1
                if k >= len(camera.segments):
                    self.send_error(503, "camera restarting")
                    return
                camera.serve(self, camera.segments[k])

        self._listen(Handler, "/video.mjpg")

    def serve(self, handler: BaseHTTPRequestHandler, segment: Segment) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY.decode()}")
        handler.end_headers()
        whole = segment.frames[:-1] if segment.end == "drop" else segment.frames
        for frame in whole:
            handler.wfile.write(part(jpeg(frame)))
            handler.wfile.flush()
            time.sleep(self.period)
        if segment.end == "drop":  # the start of one more frame, then the socket goes away
            handler.wfile.write(part(jpeg(segment.frames[-1]))[:300])
            handler.wfile.flush()
            with contextlib.suppress(OSError):
                handler.connection.shutdown(socket.SHUT_RDWR)
        elif segment.end == "stall":
            self._release.wait(30)
        handler.close_connection = True

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        super().__exit__(*exc)


class FileServer(_HttpServer):
    """Serve one file over HTTP with byte ranges; the first connection is cut halfway through."""

    def __init__(self, data: bytes) -> None:
        self.connections = 0
        server = self

        class Handler(_QuietHandler):
            def do_GET(self) -> None:  # noqa: N802
                k, server.connections = server.connections, server.connections + 1
                ranged = self.headers.get("Range", "")
                start = int(ranged.split("=")[1].split("-")[0]) if ranged.startswith("bytes=") else 0
                self.send_response(206 if ranged else 200)
                self.send_header("Content-Type", "video/mp4")
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Length", str(len(data) - start))
                if ranged:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.end_headers()
                body = data[start:]
                self.wfile.write(body[: len(body) // 2] if k == 0 else body)
                if k == 0:
                    self.wfile.flush()
                    with contextlib.suppress(OSError):
                        self.connection.shutdown(socket.SHUT_RDWR)

        self._listen(Handler, "/clip.mp4")
