"""Tests for mtl_edge.data.formats.read: label files and directories to frames, and merging."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mtl_edge.data.formats.errors import LabelFormatError
from mtl_edge.data.formats.read import merge_frames, read_frames
from mtl_edge.data.formats.write import write_frame
from mtl_edge.data.labels import Box2D, FrameLabels, ObjectLabel
from tests.data.formats.samples import FIXTURES, assert_frames_equal, sample_frames


def _by_id(frame: FrameLabels) -> dict[str, ObjectLabel]:
    return {o.id: o for o in frame.objects}


# --------------------------------------------------------------------------- fixtures load


def test_det20_fixture_loads() -> None:
    frames = read_frames(FIXTURES / "det_20_sample.json")
    assert [f.name for f in frames] == ["b1c66a42-6f7d68ca.jpg", "b1c81faa-3df17267.jpg", "b1d0091f-75824d0d.jpg"]
    first = frames[0]
    assert first.attributes == {"weather": "overcast", "scene": "city street", "timeofday": "daytime"}
    assert first.lanes == [] and first.drivable_polygons == []
    objs = _by_id(first)
    assert [o.category for o in first.objects] == [
        "car",
        "traffic sign",
        "traffic light",
        "pedestrian",
        "other vehicle",
    ]
    car = objs["7"]
    assert (car.occluded, car.truncated, car.ignore, car.sign_type) == (True, False, False, None)
    assert car.box.x1 == pytest.approx(555.647397) and car.box.y2 == pytest.approx(316.474669)
    sign = objs["8"]
    assert sign.sign_type is None and sign.truncated and not sign.occluded  # real BDD100K signs carry no type
    assert objs["9"].box == Box2D(890.0, 90.0, 902.0, 118.0)
    assert objs["10"].ignore, "crowd boxes load as ignore regions"
    assert objs["11"].occluded and objs["11"].truncated
    assert [o.category for o in frames[1].objects] == ["bus", "truck"]
    assert frames[2].objects == [] and frames[2].attributes["timeofday"] == "dawn/dusk"


def test_lane2020_fixture_loads() -> None:
    frames = read_frames(FIXTURES / "lane_sample.json")
    lanes = frames[0].lanes
    assert [(ln.id, ln.lane_type, ln.style, ln.direction) for ln in lanes] == [
        ("0", "single white", "dashed", "parallel"),
        ("1", "road curb", "solid", "parallel"),
        ("2_0", "crosswalk", "solid", "vertical"),
        ("2_1", "crosswalk", "solid", "vertical"),
    ]
    assert lanes[0].points.dtype == np.float32 and lanes[0].points.shape == (2, 2)
    np.testing.assert_allclose(lanes[0].points, [[503.67, 481.12], [610.57, 369.15]], atol=1e-4)
    assert len(lanes[1].points) > 4, "an LCCL bezier is evaluated as a curve, not kept as 4 vertices"
    assert lanes[3].points.shape == (3, 2)
    assert frames[0].objects == [] and frames[0].attributes == {}
    assert frames[1].lanes[0].lane_type == "double yellow"
    assert frames[2].lanes == []


def test_bdd2018_fixture_loads() -> None:
    (frame,) = read_frames(FIXTURES / "bdd2018_sample.json")
    assert [(o.id, o.category) for o in frame.objects] == [
        ("0", "pedestrian"),
        ("1", "motorcycle"),
        ("2", "bicycle"),
        ("3", "traffic light"),
    ]
    assert frame.objects[1].occluded and frame.objects[2].truncated
    assert [(ln.id, ln.lane_type, ln.style) for ln in frame.lanes] == [
        ("6", "road curb", "solid"),
        ("7", "single white", "dashed"),
    ]
    np.testing.assert_allclose(frame.lanes[1].points, [[760, 719], [700, 560], [650, 440]])
    assert [area for _, area in frame.drivable_polygons] == ["direct", "alternative"]
    assert frame.drivable_polygons[0][0].shape == (4, 2)


def test_extensions_fixture_loads() -> None:
    (frame,) = read_frames(FIXTURES / "extensions_sample.json")
    assert (frame.video_name, frame.frame_index) == ("synth-clip-3", 42)
    objs = _by_id(frame)
    assert (objs["s0"].sign_type, objs["s0"].ignore) == ("stop", False)
    assert (objs["s1"].sign_type, objs["s1"].ignore, objs["s1"].occluded) == ("speed_limit_50", True, True)
    assert (objs["v0"].sign_type, objs["v0"].ignore) == (None, False)


# --------------------------------------------------------------------------- directories and frame objects


def test_directory_of_per_frame_files(tmp_path: Path) -> None:
    frames = sample_frames()
    write_frame(frames[1], tmp_path / "0002.json")
    write_frame(frames[0], tmp_path / "0001.json")
    (tmp_path / "notes.txt").write_text("not a label file")
    assert isinstance(json.loads((tmp_path / "0001.json").read_text()), dict), "one frame object per file"
    assert_frames_equal(read_frames(tmp_path), frames)


def test_directory_is_read_in_name_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    names = [f"{i:04d}" for i in range(5)]
    for name in names:
        write_frame(FrameLabels(name=f"{name}.jpg"), tmp_path / f"{name}.json")
    real_glob = Path.glob
    monkeypatch.setattr(Path, "glob", lambda self, pattern: reversed(sorted(real_glob(self, pattern))))
    assert [f.name for f in read_frames(tmp_path)] == [f"{n}.jpg" for n in names]


def test_single_frame_object_and_scalabel_dataset(tmp_path: Path) -> None:
    frame = {
        "name": "one.jpg",
        "labels": [{"id": "1", "category": "car", "box2d": {"x1": 1, "y1": 2, "x2": 3, "y2": 4}}],
    }
    (tmp_path / "one.json").write_text(json.dumps(frame))
    (tmp_path / "ds.json").write_text(json.dumps({"frames": [frame], "config": {}}))
    for name in ("one.json", "ds.json"):
        (got,) = read_frames(tmp_path / name)
        assert got.name == "one.jpg" and got.objects[0].box == Box2D(1, 2, 3, 4)


# --------------------------------------------------------------------------- merge


def test_merge_det_and_lane_files() -> None:
    det = read_frames(FIXTURES / "det_20_sample.json")
    lanes = read_frames(FIXTURES / "lane_sample.json")
    merged = merge_frames(det, lanes)
    assert [f.name for f in merged] == [
        "b1c66a42-6f7d68ca.jpg",
        "b1c81faa-3df17267.jpg",
        "b1d0091f-75824d0d.jpg",
        "c0000000-lanes-only.jpg",
    ]
    assert (len(merged[0].objects), len(merged[0].lanes)) == (5, 4)
    assert (len(merged[1].objects), len(merged[1].lanes)) == (2, 1)
    assert merged[0].attributes["weather"] == "overcast"
    assert det[0].lanes == [] and lanes[0].objects == [], "inputs are not modified"
    merged_rev = merge_frames(lanes, det)
    assert merged_rev[0].attributes["weather"] == "overcast", "attributes fill in from later files"
    assert [f.name for f in merged_rev][-1] == "b1d0091f-75824d0d.jpg"


# --------------------------------------------------------------------------- errors


def test_invalid_json_reports_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('[\n  {"name": "a.jpg",\n   "labels": [}\n]')
    with pytest.raises(LabelFormatError, match=r"broken\.json: invalid JSON at line 3, column 15"):
        read_frames(path)


def test_empty_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(LabelFormatError, match="no \\*.json label files"):
        read_frames(tmp_path)
