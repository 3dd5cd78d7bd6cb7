"""Honest inputs: truncated videos and images, and inputs with no good frame, are never a silent rc 0.

Each case runs ``mtl-edge run`` in a real subprocess (bounded by TIMEOUT) and checks what a
user sees: the exit code (3, partial input), the message, and the counts in the summary and
in the JSONL's last line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mtl_edge.deploy.video import write_h264

from ..runtime.conftest import numbered_frames
from .conftest import TIMEOUT

EXIT_OK, EXIT_USAGE, EXIT_PARTIAL = 0, 2, 3
N = 150


def run(model: Path, source: Path, *sinks: Path) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "mtl_edge", "run", str(model), "--source", str(source), "--threads", "1"]
    for sink in sinks:
        argv += ["--sink", str(sink)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=TIMEOUT)


def summary_record(jsonl: Path) -> dict:
    """The JSONL's last line: {"summary": {...}}."""
    return json.loads(jsonl.read_text(encoding="utf-8").splitlines()[-1])["summary"]


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    """A 150-frame clip with its index at the end (as written) and at the front (faststart)."""
    import av

    folder = tmp_path_factory.mktemp("input-clips")
    rng = np.random.default_rng(0)  # noise, so that the frames fill the file and a cut falls mid-stream
    frames = [f + rng.integers(0, 20, f.shape, dtype=np.uint8) for f in numbered_frames(N, (64, 128))]
    plain, fast = folder / "plain.mp4", folder / "faststart.mp4"
    write_h264(plain, frames, fps=30.0)
    with av.open(str(plain)) as src, av.open(str(fast), "w", options={"movflags": "faststart"}) as dst:
        stream = dst.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                dst.mux(packet)
    return {"plain": plain, "faststart": fast}


def cut(path: Path, out: Path, fraction: float) -> Path:
    data = path.read_bytes()
    out.write_bytes(data[: int(len(data) * fraction)])
    return out


def test_a_whole_clip_is_a_success_with_its_counts(tiny_onnx, clips, tmp_path):
    jsonl = tmp_path / "out.jsonl"
    proc = run(tiny_onnx, clips["faststart"], jsonl)
    assert proc.returncode == EXIT_OK, proc.stderr
    assert f"{N} frames of {N} expected" in proc.stdout
    lines = jsonl.read_text().splitlines()
    assert len(lines) == N + 1
    assert summary_record(jsonl) | {"seconds": 0} == {
        "expected": N,
        "processed": N,
        "dropped": 0,
        "corrupt": 0,
        "not_rendered": 0,
        "reconnects": 0,
        "ended_early": False,
        "seconds": 0,
    }


def test_a_faststart_clip_cut_in_half_ends_early_with_exit_3(tiny_onnx, clips, tmp_path):
    source = cut(clips["faststart"], tmp_path / "half.mp4", 0.5)
    jsonl = tmp_path / "out.jsonl"
    proc = run(tiny_onnx, source, jsonl)
    assert proc.returncode == EXIT_PARTIAL, proc.stderr
    record = summary_record(jsonl)
    n = record["processed"]
    assert 0 < n < N and record["expected"] == N and record["ended_early"] is True
    assert f"ended early: {n} of {N} frames" in proc.stdout
    assert f"ended early: {n} of {N} frames" in proc.stderr and "Traceback" not in proc.stderr
    indices = [json.loads(line)["index"] for line in jsonl.read_text().splitlines()[:-1]]
    assert indices == list(range(n))


def test_a_plain_clip_cut_in_half_has_no_index_and_is_refused(tiny_onnx, clips, tmp_path):
    """Without faststart the index (moov) is at the end: a cut file cannot be opened at all."""
    source = cut(clips["plain"], tmp_path / "half.mp4", 0.5)
    jsonl = tmp_path / "out.jsonl"
    proc = run(tiny_onnx, source, jsonl)
    assert proc.returncode == EXIT_USAGE, proc.stderr
    assert "not a readable video" in proc.stderr and "Traceback" not in proc.stderr
    assert not jsonl.exists()


def _images(folder: Path, n: int = 3) -> list[Path]:
    import cv2

    folder.mkdir()
    paths = []
    for i, rgb in enumerate(numbered_frames(n)):
        path = folder / f"{i:03d}{'.jpg' if i % 2 == 0 else '.png'}"
        cv2.imwrite(str(path), rgb)
        paths.append(path)
    return paths


def test_a_jpeg_cut_to_a_third_is_counted_corrupt(tiny_onnx, tmp_path):
    paths = _images(tmp_path / "images")
    cut(paths[0], paths[0], 1 / 3)
    jsonl = tmp_path / "out.jsonl"
    proc = run(tiny_onnx, tmp_path / "images", jsonl)
    assert proc.returncode == EXIT_PARTIAL, proc.stderr
    assert "truncated JPEG" in proc.stderr and "000.jpg" in proc.stderr
    record = summary_record(jsonl)
    assert (record["expected"], record["processed"], record["corrupt"]) == (3, 2, 1)
    assert "2 frames of 3 expected" in proc.stdout and "1 corrupt" in proc.stdout


def test_a_cut_png_is_counted_corrupt(tiny_onnx, tmp_path):
    paths = _images(tmp_path / "images")
    cut(paths[1], paths[1], 0.9)
    jsonl = tmp_path / "out.jsonl"
    proc = run(tiny_onnx, tmp_path / "images", jsonl)
    assert proc.returncode == EXIT_PARTIAL, proc.stderr
    assert "truncated PNG" in proc.stderr
    record = summary_record(jsonl)
    assert (record["expected"], record["processed"], record["corrupt"]) == (3, 2, 1)


def test_a_folder_of_only_corrupt_images_is_not_a_success(tiny_onnx, tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (folder / "b.png").write_bytes(b"")
    (folder / "c.jpg").write_bytes(b"garbage\xff\xd9")
    jsonl = tmp_path / "out.jsonl"
    proc = run(tiny_onnx, folder, jsonl)
    assert proc.returncode == EXIT_PARTIAL, proc.stderr
    assert "no frame processed (all 3 frames were corrupt)" in proc.stderr and "Traceback" not in proc.stderr
    record = summary_record(jsonl)
    assert (record["expected"], record["processed"], record["corrupt"]) == (3, 0, 3)
