"""Sinks never overwrite the source or each other: refused with exit 2 before any work."""

from __future__ import annotations

import shutil

from .conftest import finish, start_run


def test_a_sink_that_is_the_source_is_refused_and_the_source_untouched(tiny_onnx, loop_clip, tmp_path):
    source = tmp_path / "clip.mp4"
    shutil.copy(loop_clip, source)
    before = source.read_bytes()
    proc = start_run(tiny_onnx, source, [tmp_path / "." / "clip.mp4"])
    _, err = finish(proc)
    assert proc.returncode == 2 and "is the source" in err and "Traceback" not in err, err
    assert source.read_bytes() == before


def test_the_same_sink_twice_is_refused(tiny_onnx, loop_clip, tmp_path):
    out = tmp_path / "out.jsonl"
    proc = start_run(tiny_onnx, loop_clip, [out, tmp_path / "sub" / ".." / "out.jsonl"])
    _, err = finish(proc)
    assert proc.returncode == 2 and "the same file as --sink" in err and "Traceback" not in err, err
    assert not out.exists()


def test_an_image_sink_inside_a_source_folder_is_refused(tiny_onnx, tmp_path):
    import cv2
    import numpy as np

    folder = tmp_path / "images"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.jpg"), np.zeros((64, 64, 3), np.uint8))
    proc = start_run(tiny_onnx, folder, [folder / "annotated"])
    _, err = finish(proc)
    assert proc.returncode == 2 and "inside the source folder" in err, err
    assert sorted(p.name for p in folder.iterdir()) == ["a.jpg"]
