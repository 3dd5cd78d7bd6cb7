"""Fault-injection helpers: ``mtl-edge run`` in a real subprocess on a small looped clip."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mtl_edge.deploy.video import write_h264

from ..runtime.conftest import numbered_frames

FPS = 30.0
#: every subprocess is bounded by this (seconds)
TIMEOUT = 60.0


@pytest.fixture(scope="session")
def loop_clip(tmp_path_factory) -> Path:
    """A 1-second H.264 clip of 30 numbered 180x320 frames (the runs replay it with --loop)."""
    path = tmp_path_factory.mktemp("faults-clip") / "clip.mp4"
    write_h264(path, numbered_frames(30), fps=FPS)
    return path


def start_run(model: Path, source: Path, sinks: list[Path], *extra: str) -> subprocess.Popen:
    """``python -m mtl_edge run MODEL --source SOURCE --loop --sink ...`` on one thread, output piped."""
    argv = [sys.executable, "-m", "mtl_edge", "run", str(model), "--source", str(source), "--threads", "1", *extra]
    for sink in sinks:
        argv += ["--sink", str(sink)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def wait_for(paths: list[Path], proc: subprocess.Popen, timeout: float = TIMEOUT) -> None:
    """Wait until every path exists (the sinks are published); fail, killing ``proc``, if it exits or times out."""
    deadline = time.monotonic() + timeout
    while not all(p.exists() for p in paths):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            out, err = proc.communicate(timeout=TIMEOUT)
            pytest.fail(f"sinks {paths} never appeared (rc {proc.returncode}):\n{out}\n{err}")
        time.sleep(0.05)


def finish(proc: subprocess.Popen) -> tuple[str, str]:
    """Wait (bounded) for ``proc``; returns its (stdout, stderr)."""
    try:
        return proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate(timeout=TIMEOUT)
        pytest.fail(f"the run did not end within {TIMEOUT} s:\n{out}\n{err}")


def jsonl_indices(path: Path) -> list[int]:
    """The frame indices of a JSONL sink; a last line cut short by a kill (no newline) is ignored,
    and so is the run's final ``{"summary": ...}`` record."""
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    complete = lines[:-1]  # after the last newline: empty, or a line being written when killed
    records = [json.loads(line) for line in complete]
    return [r["index"] for r in records if "summary" not in r]


def decoded_frames(path: Path) -> int:
    """How many frames of an mp4 PyAV decodes, up to the end or the first damaged packet."""
    import av

    count = 0
    with av.open(str(path)) as container:
        try:
            for packet in container.demux(container.streams.video[0]):
                count += len(packet.decode())
        except av.FFmpegError:  # a fragment cut by the kill: what came before it stands
            pass
    return count


def temp_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob(".*") if ".tmp" in p.name]
