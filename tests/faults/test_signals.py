"""SIGKILL and SIGTERM during ``mtl-edge run --loop``: what is at the final paths, and the exit code."""

from __future__ import annotations

import random
import re
import signal
import time

import pytest

from .conftest import FPS, decoded_frames, finish, jsonl_indices, start_run, temp_files, wait_for

#: a kill loses at most the fragment being written (1 s) and the encoder's look-ahead
MAX_VIDEO_LOSS_S = 2.0


@pytest.mark.parametrize("seed", range(10))  # ten random kill points
def test_sigkill_at_a_random_moment_leaves_readable_sinks(tiny_onnx, loop_clip, tmp_path, seed):
    jsonl, video = tmp_path / "out.jsonl", tmp_path / "out.mp4"
    proc = start_run(tiny_onnx, loop_clip, [jsonl, video], "--loop")
    wait_for([jsonl, video], proc)
    time.sleep(random.Random(seed).uniform(0.0, 2.5))
    proc.send_signal(signal.SIGKILL)
    finish(proc)
    assert proc.returncode == -signal.SIGKILL
    indices = jsonl_indices(jsonl)
    assert indices and indices == sorted(set(indices)), "frame indices must be unique and increasing"
    frames = decoded_frames(video)
    assert frames > 0, "the killed recording must play up to its last fragment"
    assert len(indices) - frames <= MAX_VIDEO_LOSS_S * FPS + 30, (len(indices), frames)
    print(f"seed {seed}: {len(indices)} JSONL lines, {frames} video frames ({len(indices) - frames} lost)")


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_stop_signal_publishes_every_sink_and_prints_the_summary(tiny_onnx, loop_clip, tmp_path, signum, code):
    jsonl, video, folder = tmp_path / "out.jsonl", tmp_path / "out.mp4", tmp_path / "frames"
    proc = start_run(tiny_onnx, loop_clip, [jsonl, video, folder], "--loop")
    wait_for([jsonl, video], proc)
    time.sleep(0.5)
    proc.send_signal(signum)
    out, err = finish(proc)
    assert proc.returncode == code, err
    assert f"stopped by {signal.Signals(signum).name}" in err
    match = re.search(r"(\d+) frames in", out)
    assert match, out
    n = int(match[1])
    assert jsonl_indices(jsonl) == list(range(n)), "every processed frame is in the JSONL, once"
    assert decoded_frames(video) == n, "the mp4 holds every processed frame"
    assert len(list(folder.glob("*.jpg"))) == n
    assert not temp_files(tmp_path), temp_files(tmp_path)


def test_second_signal_forces_the_exit(tiny_onnx, loop_clip, tmp_path):
    jsonl = tmp_path / "out.jsonl"
    proc = start_run(tiny_onnx, loop_clip, [jsonl], "--loop")
    wait_for([jsonl], proc)
    proc.send_signal(signal.SIGTERM)
    proc.send_signal(signal.SIGTERM)
    finish(proc)
    assert proc.returncode == 143
    assert jsonl_indices(jsonl) == sorted(set(jsonl_indices(jsonl)))


def test_stale_temp_files_of_a_dead_process_are_removed(tiny_onnx, loop_clip, tmp_path):
    import subprocess

    dead = subprocess.Popen(["true"])  # a PID that no longer runs
    dead.wait(timeout=10)
    stale = [tmp_path / f".out.jsonl.{dead.pid}.tmp", tmp_path / f".out.mp4.{dead.pid}.tmp.mp4"]
    for path in stale:
        path.write_bytes(b"left by a killed run")
    proc = start_run(tiny_onnx, loop_clip, [tmp_path / "out.jsonl", tmp_path / "out.mp4"], "--max-frames", "5")
    out, err = finish(proc)
    assert proc.returncode == 0, err
    assert not temp_files(tmp_path), temp_files(tmp_path)


def test_segments_rotate_and_a_later_run_numbers_on(tiny_onnx, loop_clip, tmp_path):
    jsonl, video = tmp_path / "out.jsonl", tmp_path / "out.mp4"
    first = [tmp_path / "out_00000.jsonl", tmp_path / "out_00000.mp4"]
    proc = start_run(tiny_onnx, loop_clip, [jsonl, video], "--loop", "--segment", "0.5")
    wait_for(first, proc)
    time.sleep(1.6)
    proc.send_signal(signal.SIGTERM)
    out, err = finish(proc)
    assert proc.returncode == 143, err
    n = int(re.search(r"(\d+) frames in", out)[1])
    lines = sorted(tmp_path.glob("out_*.jsonl"))
    videos = sorted(tmp_path.glob("out_*.mp4"))
    assert len(lines) >= 3 and len(videos) == len(lines), (lines, videos)
    indices = [i for path in lines for i in jsonl_indices(path)]
    assert indices == list(range(n)), "the segments hold every frame once, in order"
    assert sum(decoded_frames(v) for v in videos) == n
    assert not jsonl.exists() and not video.exists()

    proc = start_run(tiny_onnx, loop_clip, [jsonl], "--max-frames", "3", "--segment", "60")
    _, err = finish(proc)
    assert proc.returncode == 0, err
    assert f"out_{len(lines):05d}.jsonl" in err and "earlier run" in err
    assert len(jsonl_indices(tmp_path / f"out_{len(lines):05d}.jsonl")) == 3
    assert not temp_files(tmp_path)
