"""A live H.264 RTSP camera on 127.0.0.1 for the network-source tests.

Just enough RTSP (RFC 2326) for FFmpeg's client over TCP: OPTIONS, DESCRIBE (an SDP with
one H.264 track), SETUP (interleaved channels 0-1), PLAY, then RTP packets (RFC 3550)
framed as ``$ channel length`` on the same socket, H.264 packed per RFC 6184 (single
NAL units, FU-A fragments for large ones). Connection k streams ``segments[k]``, encoded
on its own so that it starts with SPS, PPS and an IDR frame, then cuts the socket, as
a camera whose link drops. Connections after the last segment are refused with 503.
"""

from __future__ import annotations

import contextlib
import re
import socket
import struct
import threading
import time
from fractions import Fraction

import av
import numpy as np

from .stream_server import LocalServer

MAX_PAYLOAD = 1200
CLOCK = 90000  # the RTP clock of video


def h264_access_units(frames: list[np.ndarray], fps: float) -> list[list[bytes]]:
    """Each frame encoded (no B-frames) as its list of NAL units, without start codes."""
    codec = av.CodecContext.create("libx264", "w")
    codec.width, codec.height, codec.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
    codec.time_base = Fraction(1, int(fps))
    codec.options = {"preset": "ultrafast", "tune": "zerolatency", "crf": "12"}
    packets = []
    for i, rgb in enumerate(frames):
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts = i
        packets += codec.encode(frame)
    packets += codec.encode(None)
    return [[nal for nal in re.split(b"\x00\x00\x00\x01|\x00\x00\x01", bytes(p)) if nal] for p in packets]


def rtp_packets(units: list[bytes], seq: int, timestamp: int) -> list[bytes]:
    """RTP packets of one access unit; the marker bit is set on its last packet."""
    payloads = []
    for nal in units:
        if len(nal) <= MAX_PAYLOAD:
            payloads.append(nal)
            continue
        head, body = nal[0], nal[1:]
        chunks = [body[i : i + MAX_PAYLOAD] for i in range(0, len(body), MAX_PAYLOAD)]
        for k, chunk in enumerate(chunks):
            fu_header = (0x80 if k == 0 else 0) | (0x40 if k == len(chunks) - 1 else 0) | (head & 0x1F)
            payloads.append(bytes([(head & 0xE0) | 28, fu_header]) + chunk)
    out = []
    for k, payload in enumerate(payloads):
        marker = 0x80 if k == len(payloads) - 1 else 0
        header = struct.pack("!BBHII", 0x80, marker | 96, (seq + k) & 0xFFFF, timestamp & 0xFFFFFFFF, 0x6D746C65)
        out.append(header + payload)
    return out


class RtspCamera(LocalServer):
    """Serve scripted segments of frames over RTSP/TCP; ``url`` to connect, ``connections`` counts them."""

    def __init__(self, segments: list[list[np.ndarray]], fps: float = 100.0) -> None:
        self.fps, self.connections = fps, 0
        self._units = [h264_access_units(frames, 30.0) for frames in segments]
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"rtsp://127.0.0.1:{self._listener.getsockname()[1]}/live"
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _shut_down(self) -> None:
        self._closed.set()
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            k, self.connections = self.connections, self.connections + 1
            threading.Thread(target=self._serve, args=(conn, k), daemon=True).start()

    def _serve(self, conn: socket.socket, k: int) -> None:
        with contextlib.closing(conn), contextlib.suppress(OSError):
            reader = conn.makefile("rb")
            while True:
                request = self._read_request(reader)
                if request is None:
                    return
                method, cseq = request
                if k >= len(self._units):
                    conn.sendall(self._reply(cseq, "503 Service Unavailable"))
                    return
                if method == "OPTIONS":
                    conn.sendall(self._reply(cseq, extra="Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN\r\n"))
                elif method == "DESCRIBE":
                    sdp = (
                        b"v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=mtl-edge test camera\r\nc=IN IP4 127.0.0.1\r\n"
                        b"t=0 0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
                        b"a=fmtp:96 packetization-mode=1\r\na=control:track0\r\n"
                    )
                    extra = f"Content-Base: {self.url}/\r\nContent-Type: application/sdp\r\n"
                    conn.sendall(self._reply(cseq, extra=extra, body=sdp))
                elif method == "SETUP":
                    extra = "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\nSession: 12345678\r\n"
                    conn.sendall(self._reply(cseq, extra=extra))
                elif method == "PLAY":
                    conn.sendall(self._reply(cseq, extra="Session: 12345678\r\n"))
                    self._stream(conn, self._units[k])
                    conn.shutdown(socket.SHUT_RDWR)  # the link drops after the segment
                    return
                else:
                    conn.sendall(self._reply(cseq))

    def _stream(self, conn: socket.socket, units: list[list[bytes]]) -> None:
        seq = 0
        for i, unit in enumerate(units):
            for packet in rtp_packets(unit, seq, i * CLOCK // 30):
                conn.sendall(b"$\x00" + struct.pack("!H", len(packet)) + packet)
                seq += 1
            time.sleep(1.0 / self.fps)

    @staticmethod
    def _read_request(reader) -> tuple[str, str] | None:
        lines = []
        while True:
            line = reader.readline()
            if not line:
                return None
            if line in (b"\r\n", b"\n"):
                break
            lines.append(line.decode("latin-1").strip())
        headers = dict(line.split(":", 1) for line in lines[1:] if ":" in line)
        headers = {k.strip().lower(): v.strip() for k, v in headers.items()}
        if int(headers.get("content-length", 0)):
            reader.read(int(headers["content-length"]))
        return lines[0].split()[0], headers.get("cseq", "0")

    @staticmethod
    def _reply(cseq: str, status: str = "200 OK", extra: str = "", body: bytes = b"") -> bytes:
        head = f"RTSP/1.0 {status}\r\nCSeq: {cseq}\r\n{extra}Content-Length: {len(body)}\r\n\r\n"
        return head.encode() + body
