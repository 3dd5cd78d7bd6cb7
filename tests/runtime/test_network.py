"""Live sources (network streams, OpenCV captures) on a local MJPEG camera: drops, stalls, sizes, dead hosts."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest

from mtl_edge.backends import open_backend
from mtl_edge.runtime.live import ReconnectPolicy
from mtl_edge.runtime.network import NetworkSource
from mtl_edge.runtime.pipeline import Pipeline
from mtl_edge.runtime.sinks import open_sink
from mtl_edge.runtime.sources import CaptureSource, Frame, SourceError, open_source

from .conftest import index_of, numbered_frames
from .rtsp_server import RtspCamera
from .stream_server import FileServer, MjpegCamera, Segment

FAST = ReconnectPolicy(open_timeout=2.0, read_timeout=0.5, first_delay=0.05, max_delay=0.2, give_up_after=5.0)


class _Recorded:
    """Wraps a source and remembers which numbered frame each arrival index carried."""

    def __init__(self, inner: NetworkSource) -> None:
        self.inner, self.live, self.content = inner, inner.live, {}

    def frames(self) -> Iterator[Frame]:
        for frame in self.inner.frames():
            self.content[frame.index] = index_of(frame.image)
            yield frame

    def __getattr__(self, name: str):
        return getattr(self.inner, name)


def _kinds(source: NetworkSource) -> list[str]:
    return [e.kind for e in source.events]


@pytest.mark.parametrize("kind", ["mjpeg over http", "h264 over rtsp"])
def test_a_dropped_stream_reconnects_and_no_frame_is_processed_twice(tiny_onnx, kind):
    frames = numbered_frames(30)
    # frames 0-8 arrive (9 may be cut off mid-frame), 10-11 pass while we are away, 12-29 after the reconnect
    if kind == "mjpeg over http":
        camera = MjpegCamera([Segment(frames[:10], "drop"), Segment(frames[12:], "close")])
    else:  # RTP over the RTSP connection, which drops after frame 9
        camera = RtspCamera([frames[:10], frames[12:]])
    with camera:
        source = _Recorded(NetworkSource(camera.url, FAST))
        pipe = Pipeline(open_backend(tiny_onnx), source, policy="all")
        processed = []
        results = pipe.results()
        for result in results:
            processed.append(source.content[result.index])
            if processed[-1] == 29:
                break
        results.close()
    assert processed == sorted(set(processed)), "a frame was processed twice or out of order"
    assert set(range(9)) | set(range(12, 30)) <= set(processed) <= set(range(30)) - {10, 11}
    assert pipe.stats.reconnects == 1 and pipe.stats.corrupt <= 1  # at most the frame cut in half
    assert camera.connections >= 2  # a third may start after frame 29
    kinds = _kinds(source.inner)
    assert kinds[:4] == ["connected", "lost", "retry", "reconnected"], kinds


def test_a_silent_stream_times_out_and_comes_back_at_a_new_size(tiny_onnx, tmp_path):
    small, large = numbered_frames(10, (180, 320)), numbered_frames(10, (240, 400))
    camera = MjpegCamera([Segment(small[:5], "stall"), Segment(large[5:], "close")])
    video = tmp_path / "out.mp4"
    with camera:
        source = _Recorded(NetworkSource(camera.url, FAST))
        pipe = Pipeline(open_backend(tiny_onnx), source, [open_sink(video, 30.0)], policy="all")
        shapes, processed = [], []
        results = pipe.results()
        start = time.monotonic()
        for result in results:
            processed.append(source.content[result.index])
            shapes.append(result.drivable.shape)
            if processed[-1] == 9:
                break
        results.close()
    assert processed == list(range(10)) and time.monotonic() - start >= FAST.read_timeout
    assert shapes[:5] == [(180, 320)] * 5 and shapes[5:] == [(240, 400)] * 5  # results in each frame's pixels
    events = {e.kind: e.detail for e in source.inner.events}
    assert "lost" in events and events["resolution"] == "320x180 -> 400x240"
    written = list(open_source(video).frames())
    assert len(written) == 10 and {f.image.shape for f in written} == {(180, 320, 3)}  # scaled to the first size


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_dead_host_is_retried_with_capped_backoff_then_given_up():
    policy = ReconnectPolicy(open_timeout=0.5, read_timeout=0.5, first_delay=0.05, max_delay=0.2, give_up_after=1.0)
    source = NetworkSource(f"http://127.0.0.1:{_free_port()}/video.mjpg", policy)
    start = time.monotonic()
    with pytest.raises(SourceError, match="no frame for .* Check that the camera or server is up"):
        next(source.frames())
    assert time.monotonic() - start < 3.0  # bounded by give_up_after plus one backoff step
    delays = [float(re.search(r"in ([\d.]+) s", e.detail).group(1)) for e in source.events if e.kind == "retry"]
    assert delays[:3] == [0.05, 0.1, 0.2] and max(delays) == 0.2 and len(delays) >= 4
    assert _kinds(source)[-1] == "gave_up"


def test_a_wrong_path_fails_at_once_and_stop_ends_a_backoff_wait():
    with MjpegCamera([]) as camera:
        with pytest.raises(SourceError, match="Check the URL"):
            next(NetworkSource(camera.url.replace("video", "nothing"), FAST).frames())
        source = NetworkSource(camera.url, ReconnectPolicy(first_delay=30.0, give_up_after=None))
        frames = source.frames()
        threading.Timer(0.3, source.stop).start()  # the camera answers 503: the source waits 30 s to retry
        start = time.monotonic()
        assert next(frames, None) is None
        assert time.monotonic() - start < 5.0 and _kinds(source)[:2] == ["failed", "retry"]


def test_a_file_over_http_resumes_after_a_cut_without_repeating_frames(tmp_path):
    import av

    path = tmp_path / "faststart.mp4"  # index first, as files meant for streaming are written
    with av.open(str(path), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream("libx264", rate=24)
        stream.pix_fmt, stream.width, stream.height = "yuv420p", 320, 180
        for img in numbered_frames(24):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        out.mux(stream.encode(None))
    with FileServer(path.read_bytes()) as server:
        source = NetworkSource(server.url, FAST)
        got = [index_of(f.image) for f in source.frames()]
    assert got == list(range(24)) and server.connections >= 2
    assert _kinds(source) == ["connected", "lost", "retry", "reconnected", "ended"]


def test_an_opencv_capture_reopens_after_its_stream_is_lost():
    import cv2

    frames = numbered_frames(12)
    with MjpegCamera([Segment(frames[:6], "drop"), Segment(frames[7:], "close")]) as camera:
        source = CaptureSource(camera.url, cv2.CAP_FFMPEG, "test camera", FAST)  # opens at once
        got = []
        for frame in source.frames():
            got.append(index_of(frame.image))
            if got[-1] == 11:
                break
        source.close()
    assert got == sorted(set(got)) and set(range(5)) | set(range(7, 12)) <= set(got)
    assert source.reconnects == 1 and _kinds(source)[:4] == ["connected", "lost", "retry", "reconnected"]


def test_a_missing_camera_fails_when_opened():
    with pytest.raises(SourceError, match="could not open it"):
        open_source("v4l2:///dev/video-none")


def test_stream_urls_open_as_network_sources():
    source = open_source("rtsp://127.0.0.1:8554/cam", reconnect=FAST)
    assert isinstance(source, NetworkSource) and source.live and source.policy is FAST


def test_loop_replays_a_file_with_rising_indices_and_timestamps(clip):
    source = open_source(clip, loop=True)
    frames = []
    for frame in source.frames():
        frames.append(frame)
        if len(frames) == 60:
            break
    source.close()
    assert [f.index for f in frames] == list(range(60))
    assert [index_of(f.image) for f in frames] == [i % 24 for i in range(60)]
    assert np.all(np.diff([f.timestamp for f in frames]) > 0)


def test_run_command_on_a_dead_stream_exits_2_with_what_to_check(tiny_onnx, capsys):
    from mtl_edge.cli import main

    url = f"http://127.0.0.1:{_free_port()}/video.mjpg"
    code = main(["run", str(tiny_onnx), "--source", url, "--read-timeout", "0.5", "--give-up-after", "1"])
    err = capsys.readouterr().err
    assert code == 2 and "no frame for" in err and "until the error: 0 frames" in err
    assert "retry: attempt 2 in 0.50 s" in err  # the events are printed as they happen
