"""Tests for mtl_edge.data.formats.write: frames to BDD100K JSON, round trips and atomic writes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mtl_edge import fileio
from mtl_edge.data.formats.errors import LabelFormatError
from mtl_edge.data.formats.read import read_frames
from mtl_edge.data.formats.write import write_frames
from mtl_edge.data.labels import Box2D, FrameLabels, LaneLabel, ObjectLabel
from tests.data.formats.samples import FIXTURES, assert_frames_equal, sample_frames


def test_fixtures_survive_rewrite(tmp_path: Path) -> None:
    for name in ("det_20_sample.json", "lane_sample.json", "bdd2018_sample.json", "extensions_sample.json"):
        frames = read_frames(FIXTURES / name)
        write_frames(frames, tmp_path / name)
        again = read_frames(tmp_path / name)
        assert_frames_equal(again, frames)


def test_round_trip(tmp_path: Path) -> None:
    frames = sample_frames()
    out = tmp_path / "sub" / "labels.json"
    write_frames(frames, out)
    assert_frames_equal(read_frames(out), frames)
    assert sorted(p.name for p in out.parent.iterdir()) == ["labels.json"], "no temp file left behind"


def test_written_json_is_bdd100k_2020_style(tmp_path: Path) -> None:
    write_frames(sample_frames(), tmp_path / "labels.json")
    data = json.loads((tmp_path / "labels.json").read_text())
    assert isinstance(data, list) and len(data) == 2
    labels = {lb["id"]: lb for lb in data[0]["labels"]}
    assert labels["c1"]["box2d"] == {"x1": 10.12, "y1": 20.46, "x2": 110.79, "y2": 90.0}
    assert labels["c1"]["attributes"] == {"occluded": True, "truncated": False}, "no extension keys when unset"
    assert labels["s1"]["attributes"] == {"occluded": False, "truncated": False, "ignore": True, "signType": "yield"}
    assert "signType" not in labels["s2"]["attributes"]
    lane = labels["l1"]
    assert lane["category"] == "double white"
    assert lane["attributes"] == {"laneDirection": "parallel", "laneStyle": "dashed", "laneTypes": "double white"}
    assert lane["poly2d"] == [{"vertices": [[100.5, 700.25], [300.33, 400.78]], "types": "LL", "closed": False}]
    (area,) = [lb for lb in data[0]["labels"] if lb["category"] == "drivable area"]
    assert area["attributes"] == {"areaType": "direct"} and area["poly2d"][0]["closed"] is True
    assert data[0]["videoName"] == "clip-a" and data[0]["frameIndex"] == 1
    assert "videoName" not in data[1] and "frameIndex" not in data[1]


def test_failed_write_leaves_no_file(tmp_path: Path) -> None:
    target = tmp_path / "labels.json"
    bad = FrameLabels(name="x.jpg", attributes={"weather": object()})  # json.dump fails mid-write
    with pytest.raises(TypeError):
        write_frames([*sample_frames(), bad], target)
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_previous_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "labels.json"
    write_frames(sample_frames(), target)
    before = target.read_bytes()

    def boom(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(fileio.os, "fsync", boom)
    with pytest.raises(OSError, match="disk full"):
        write_frames(sample_frames()[:1], target)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.json"]


def test_write_rejects_values_the_format_cannot_hold(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    bad_sign = FrameLabels(name="x.jpg", objects=[ObjectLabel("car", Box2D(0, 0, 1, 1), sign_type="stop")])
    with pytest.raises(LabelFormatError, match=r'out\.json: frame 0 \("x\.jpg"\) objects\[0\]\.sign_type'):
        write_frames([bad_sign], target)
    bad_lane = FrameLabels(name="y.jpg", lanes=[LaneLabel(np.zeros((1, 2), np.float32))])
    with pytest.raises(LabelFormatError, match=r"lanes\[0\]\.points"):
        write_frames([bad_lane], target)
    assert not target.exists()
