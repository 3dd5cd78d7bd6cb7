"""Sinks publish crash-safely: an existing output is replaced only by a new file with content."""

from __future__ import annotations

import json
import os

import av
import pytest

from mtl_edge.deploy.results import FrameResult
from mtl_edge.deploy.video import H264Writer
from mtl_edge.fileio import remove_stale_temps, temp_beside
from mtl_edge.runtime.sinks import JsonlSink, check_sinks

from .conftest import numbered_frames


def test_jsonl_replaces_an_old_file_only_at_its_first_line_and_appends_there(tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_text("old\n")
    sink = JsonlSink(out)
    assert out.read_text() == "old\n", "nothing is replaced before a line is written"
    sink.write(None, FrameResult(index=0, timestamp=0.0), None)
    assert json.loads(out.read_text())["index"] == 0, "published, and flushed, at the first line"
    sink.write(None, FrameResult(index=1, timestamp=0.1), None)
    assert [json.loads(x)["index"] for x in out.read_text().splitlines()] == [0, 1]
    sink.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]


def test_fragmented_video_replaces_an_old_file_at_its_first_fragment(tmp_path):
    out = tmp_path / "out.mp4"
    out.write_bytes(b"old")
    writer = H264Writer(out, fps=10.0, fragmented=True, keyframe_s=1.0)
    frames = numbered_frames(30)
    for rgb in frames[:5]:
        writer.write(rgb)
    assert out.read_bytes() == b"old"
    for rgb in frames[5:]:
        writer.write(rgb)
    assert writer.published and out.stat().st_size > 3, "a keyframe every 10 frames: published by now"
    with av.open(str(out)) as c:  # readable while still being written
        assert sum(len(p.decode()) for p in c.demux(c.streams.video[0])) >= 10
    writer.close()
    with av.open(str(out)) as c:
        assert sum(len(p.decode()) for p in c.demux(c.streams.video[0])) == 30
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]


def test_stale_temps_of_dead_processes_go_and_live_ones_stay(tmp_path):
    import subprocess

    dead = subprocess.Popen(["true"])
    dead.wait(timeout=10)
    mine = temp_beside(tmp_path / "out.jsonl")
    stale = tmp_path / f".out.jsonl.{dead.pid}.tmp"
    stale_atomic = tmp_path / f".000001.jpg.{dead.pid}.0a1b2c3d.tmp"
    other = tmp_path / f".notes.{dead.pid}.txt"
    for p in (mine, stale, stale_atomic, other):
        p.write_text("x")
    assert sorted(remove_stale_temps(tmp_path)) == sorted([stale, stale_atomic])
    assert mine.exists() and other.exists()
    os.unlink(mine)


@pytest.mark.parametrize(
    ("sinks", "message"),
    [
        (["{src}"], "is the source"),
        (["out.jsonl", "./out.jsonl"], "the same file as"),
        (["display://", "display://x", "out.mp4", "out.jsonl"], None),
    ],
)
def test_check_sinks(tmp_path, monkeypatch, sinks, message):
    monkeypatch.chdir(tmp_path)
    src = tmp_path / "clip.mp4"
    sinks = [s.format(src=src) for s in sinks]
    if message is None:
        check_sinks(str(src), sinks)
    else:
        with pytest.raises(ValueError, match=message):
            check_sinks(str(src), sinks)
