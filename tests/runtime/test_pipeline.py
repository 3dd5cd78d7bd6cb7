"""The streaming loop on real files: every frame once, sinks, latest-policy drops, errors, backends agree."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import numpy as np
import pytest

from mtl_edge.backends import ModelFileError, open_backend
from mtl_edge.backends.torch import TorchBackend
from mtl_edge.runtime.api import Runtime
from mtl_edge.runtime.pipeline import Pipeline
from mtl_edge.runtime.sources import FileSource, Frame, open_source

from .conftest import HW, numbered_frames


def test_file_source_processes_every_frame_once_into_sinks(tiny_onnx, clip, tmp_path):
    video, jsonl = tmp_path / "out.mp4", tmp_path / "out.jsonl"
    with Runtime(tiny_onnx) as rt:
        results = list(rt.stream(clip, sinks=[video, jsonl], hud=True))
        stats = rt.last_stats
    assert [r.index for r in results] == list(range(24))
    assert stats.frames == 24 and stats.dropped == 0 and stats.corrupt == 0
    lines = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [d["index"] for d in lines] == list(range(24)) and "infer" in lines[0]["timings_ms"]
    annotated = open_source(video)
    assert len(list(annotated.frames())) == 24  # the annotated video decodes, frame for frame
    assert annotated.fps == pytest.approx(24.0)  # written at the source's rate, not a fixed 30
    assert all(0 <= p[0] <= 320 for r in results for ln in r.lanes for p in ln.points)  # source pixels
    assert stats.ms["infer"] and np.percentile(stats.ms["infer"], 99) > 0


def test_max_frames_and_image_folder_sink(tiny_onnx, clip, tmp_path):
    with Runtime(tiny_onnx) as rt:
        stats = rt.pipeline(clip, sinks=[tmp_path / "frames"], max_frames=5).run()
    assert stats.frames == 5 and len(list((tmp_path / "frames").glob("*.jpg"))) == 5


class _LiveSource(FileSource):
    """A camera stand-in: frames arrive every 2 ms whether or not anyone keeps up."""

    live, corrupt = True, 0

    def __init__(self, n: int = 40) -> None:
        self.n = n

    def frames(self) -> Iterator[Frame]:
        for i, img in enumerate(numbered_frames(self.n)):
            time.sleep(0.002)
            yield Frame(i, time.time(), img)

    def close(self) -> None:
        pass


class _SlowBackend:
    """A real backend made deliberately slow (30 ms per call)."""

    def __init__(self, inner) -> None:
        self.inner, self.name, self.input_hw, self.heads = inner, "slow", inner.input_hw, inner.heads

    def infer(self, images):
        time.sleep(0.03)
        return self.inner.infer(images)

    def close(self) -> None:
        self.inner.close()


def test_latest_policy_drops_stale_frames_under_a_slow_backend(tiny_onnx):
    backend = _SlowBackend(open_backend(tiny_onnx))
    pipe = Pipeline(backend, _LiveSource())
    indices = [r.index for r in pipe.results()]
    assert pipe.policy == "latest" and pipe.stats.dropped > 10
    assert indices == sorted(set(indices)) and len(indices) + pipe.stats.dropped == 40  # none twice, none lost
    assert indices[-1] == 39  # the end of the stream is never dropped behind a stale frame


def test_all_policy_keeps_every_frame_under_a_slow_backend(tiny_onnx):
    pipe = Pipeline(_SlowBackend(open_backend(tiny_onnx)), _LiveSource(), policy="all")
    assert [r.index for r in pipe.results()] == list(range(40)) and pipe.stats.dropped == 0


class _SlowSink:
    """A sink that takes 40 ms a frame and keeps the HUD lines it was given."""

    def __init__(self) -> None:
        self.huds: list[str] = []

    def write(self, image, result, hud) -> None:
        time.sleep(0.04)
        self.huds.append(hud)

    def close(self, ok: bool) -> None:
        pass


def test_hud_shows_the_rate_frames_come_out_at_a_slow_sink_included(tiny_onnx):
    sink = _SlowSink()
    Pipeline(open_backend(tiny_onnx), _LiveSource(80), [sink], policy="all", hud=True).run()
    fps = float(sink.huds[-1].split()[0])  # the last 30 frames came out at the sink's pace (its queue was full)
    assert len(sink.huds) == 80 and 8 < fps <= 26, sink.huds[-1]  # 40 ms a frame: 25 FPS at best


class _DecodedSource(FileSource):
    """Frames as a video decoder hands them over (yuv420p PyAV frames), kept for inspection."""

    corrupt = 0

    def __init__(self) -> None:
        import av

        self.made = [
            Frame(i, i / 30, av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p"))
            for i, img in enumerate(numbered_frames(6))
        ]

    def frames(self) -> Iterator[Frame]:
        yield from self.made

    def close(self) -> None:
        pass


@pytest.mark.parametrize(("sink_name", "converted"), [("out.jsonl", False), ("out.mp4", True)])
def test_frames_become_full_size_rgb_only_for_a_sink_that_draws(tiny_onnx, tmp_path, sink_name, converted):
    from mtl_edge.runtime.sinks import open_sink

    source = _DecodedSource()
    sink = open_sink(tmp_path / sink_name, 30.0)
    assert Pipeline(open_backend(tiny_onnx), source, [sink]).run().frames == 6
    assert [isinstance(f._pixels, np.ndarray) for f in source.made] == [converted] * 6
    assert (tmp_path / sink_name).stat().st_size > 0


def test_wrong_model_files_are_refused_clearly(tmp_path):
    garbage = tmp_path / "model.onnx"
    garbage.write_bytes(b"\x00" * 100)
    with pytest.raises(ModelFileError, match="Re-export it"):
        open_backend(garbage)
    with pytest.raises(ModelFileError, match="no such model file"):
        open_backend(tmp_path / "missing.onnx")
    with pytest.raises(ModelFileError, match="unknown model type"):
        open_backend(__file__)
    engine = tmp_path / "model.engine"
    engine.write_bytes(b"raw trtexec engine bytes")
    from mtl_edge.backends.trt.engine_file import EngineFileError

    with pytest.raises(EngineFileError, match="--engine"):  # read before TensorRT is even imported
        open_backend(engine)


def test_onnx_runtime_and_torch_agree_on_generated_scenes(tiny_run, tiny_onnx, tiny_data):
    from mtl_edge.deploy.results import Thresholds

    ort_rt = Runtime(tiny_onnx, thresholds=Thresholds(by_kind={"detection": 0.05}))
    torch_rt = Runtime(tiny_run / "best.pt", thresholds=Thresholds(by_kind={"detection": 0.05}))
    torch_rt.backend = TorchBackend(tiny_run / "best.pt", imgsz=HW)
    images = str(tiny_data[1] / "images")
    a, b = list(ort_rt.stream(images)), list(torch_rt.stream(images))
    assert len(a) == len(b) == 6
    for ra, rb in zip(a, b, strict=True):
        for head in ("vehicles", "signs"):
            da, db = getattr(ra, head), getattr(rb, head)
            assert [d.label for d in da] == [d.label for d in db]
            assert all(np.abs(np.subtract(x.box, y.box)).max() <= 1.0 for x, y in zip(da, db, strict=True))
        assert [ln.slot for ln in ra.lanes] == [ln.slot for ln in rb.lanes]
        for la, lb in zip(ra.lanes, rb.lanes, strict=True):
            assert np.abs(la.points - lb.points).max() <= 1.0
        assert (ra.drivable != rb.drivable).mean() < 0.001


def test_run_command_loops_a_file_into_jsonl(tiny_onnx, clip, tmp_path, capsys):
    from mtl_edge.cli import main

    out = tmp_path / "out.jsonl"
    argv = ["run", str(tiny_onnx), "--source", str(clip), "--loop", "--max-frames", "30", "--sink", str(out)]
    assert main(argv) == 0
    *lines, last = [json.loads(line) for line in out.read_text().splitlines()]
    assert [d["index"] for d in lines] == list(range(30))
    assert last["summary"]["processed"] == 30  # the last line is the run's summary record
    assert "30 frames in" in capsys.readouterr().out


def test_timing_samples_are_bounded_for_runs_of_hours():
    from mtl_edge.runtime.pipeline import TIMING_WINDOW, RunStats

    stats = RunStats()
    for i in range(TIMING_WINDOW + 500):
        stats.ms["infer"].append(float(i))
    assert len(stats.ms["infer"]) == TIMING_WINDOW and stats.ms["infer"][0] == 500.0  # the oldest samples go
    assert "infer" in stats.table()
