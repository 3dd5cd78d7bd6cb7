"""Frame sources: real encoded video, image folders and globs, corrupt input, bad URIs."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from mtl_edge.runtime.sources import SourceError, open_source

from .conftest import index_of, numbered_frames


def test_video_file_yields_every_frame_in_order(clip):
    src = open_source(clip)
    frames = list(src.frames())
    src.close()
    assert not src.live and [f.index for f in frames] == list(range(24))
    assert [index_of(f.image) for f in frames] == list(range(24))  # decoded content, in order
    assert frames[0].image.shape == (180, 320, 3) and frames[1].timestamp > frames[0].timestamp


def test_image_folder_and_glob_skip_corrupt_files(tmp_path):
    for i, img in enumerate(numbered_frames(5)):
        cv2.imwrite(str(tmp_path / f"{i:03d}.png"), img)
    (tmp_path / "002.png").write_bytes(b"not a png")
    src = open_source(tmp_path)
    got = [index_of(f.image) for f in src.frames()]
    assert got == [0, 1, 3, 4] and src.corrupt == 1
    assert len(list(open_source(str(tmp_path / "00[01].png")).frames())) == 2


def test_truncated_video_gives_what_it_has(clip, tmp_path):
    cut = tmp_path / "cut.mp4"
    data = clip.read_bytes()
    cut.write_bytes(data[: len(data) * 2 // 3])
    try:
        src = open_source(cut)
    except SourceError as e:  # the moov atom may be lost with the tail: then it cannot open at all
        assert "re-encode" in str(e)
        return
    assert len(list(src.frames())) < 24


def test_a_missing_source_says_what_a_source_can_be():
    with pytest.raises(SourceError, match="no such file or folder.*rtsp://"):
        open_source("nowhere/clip.mp4")


def test_a_file_that_is_not_a_video(tmp_path):
    bad = tmp_path / "notes.mp4"
    bad.write_text("hello")
    with pytest.raises(SourceError, match="not a readable video"):
        open_source(bad)


def test_sources_report_their_frame_rate(clip, tmp_path):
    from mtl_edge.deploy.video import write_h264

    assert open_source(clip).fps == pytest.approx(24.0)
    fast = tmp_path / "fast.mp4"
    write_h264(fast, numbered_frames(6), fps=60.0)
    assert open_source(fast).fps == pytest.approx(60.0)
    assert open_source(fast, loop=True).fps == pytest.approx(60.0)
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((8, 8, 3), np.uint8))
    assert open_source(tmp_path / "a.png").fps is None


def test_every_uri_scheme_comes_from_one_table():
    from mtl_edge.runtime.network import NetworkSource
    from mtl_edge.runtime.sources import SCHEMES

    assert set(SCHEMES) == {"rtsp://", "rtsps://", "http://", "https://", "v4l2://", "csi://", "gst://"}
    assert isinstance(open_source("rtsp://127.0.0.1:1/x"), NetworkSource)  # opened lazily: no connection yet


def test_a_whole_video_knows_its_frame_count_and_did_not_end_early(clip):
    src = open_source(clip)
    assert src.expected == 24
    assert len(list(src.frames())) == 24 and not src.ended_early
    src.close()


def test_truncated_jpeg_and_png_are_named_and_counted_corrupt(tmp_path):
    from mtl_edge.runtime.sources import image_damage

    for i, img in enumerate(numbered_frames(4)):
        cv2.imwrite(str(tmp_path / f"{i:03d}{'.jpg' if i < 2 else '.png'}"), img)
    assert all(image_damage(p) is None for p in tmp_path.iterdir())
    for name in ("000.jpg", "002.png"):
        data = (tmp_path / name).read_bytes()
        (tmp_path / name).write_bytes(data[: len(data) // 3])
    assert "truncated JPEG" in image_damage(tmp_path / "000.jpg")
    assert "truncated PNG" in image_damage(tmp_path / "002.png")
    src = open_source(tmp_path)
    assert [index_of(f.image) for f in src.frames()] == [1, 3]
    assert (src.expected, src.corrupt, src.ended_early) == (4, 2, False)
