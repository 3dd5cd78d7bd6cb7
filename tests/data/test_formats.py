"""Tests for BDD100K-style label reading/writing and drivable-area masks."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from mtl_edge import fileio
from mtl_edge.data.formats import (
    LabelFormatError,
    frame_from_dict,
    frame_to_dict,
    merge_frames,
    rasterize_drivable,
    read_drivable_mask,
    read_frames,
    write_drivable_mask,
    write_frame,
    write_frames,
)
from mtl_edge.data.labels import (
    DRIVABLE_ALTERNATIVE,
    DRIVABLE_BACKGROUND,
    DRIVABLE_DIRECT,
    Box2D,
    FrameLabels,
    LaneLabel,
    ObjectLabel,
)

FIXTURES = Path(__file__).parent / "fixtures"


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
    assert lanes[1].points.shape == (4, 2), "bezier control points stay as polyline vertices"
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


def test_fixtures_survive_rewrite(tmp_path: Path) -> None:
    for name in ("det_20_sample.json", "lane_sample.json", "bdd2018_sample.json", "extensions_sample.json"):
        frames = read_frames(FIXTURES / name)
        write_frames(frames, tmp_path / name)
        again = read_frames(tmp_path / name)
        _assert_frames_equal(again, frames)


# --------------------------------------------------------------------------- round trip


def _sample_frames() -> list[FrameLabels]:
    return [
        FrameLabels(
            name="a/0001.jpg",
            objects=[
                ObjectLabel("car", Box2D(10.123, 20.456, 110.789, 90.0), occluded=True, id="c1"),
                ObjectLabel("traffic sign", Box2D(5, 5, 25, 25), sign_type="yield", ignore=True, id="s1"),
                ObjectLabel("traffic sign", Box2D(30, 5, 50, 25), truncated=True, id="s2"),
            ],
            lanes=[
                LaneLabel(
                    np.array([[100.5, 700.25], [300.333, 400.777]], np.float32), "double white", "dashed", id="l1"
                ),
                LaneLabel(
                    np.array([[0, 600], [50, 500], [90, 420]], np.float32), "road curb", direction="vertical", id="l2"
                ),
            ],
            attributes={"weather": "snowy", "scene": "tunnel", "timeofday": "night"},
            video_name="clip-a",
            frame_index=1,
            drivable_polygons=[(np.array([[0, 719], [640, 300], [1279, 719]], np.float32), "direct")],
        ),
        FrameLabels(name="a/0002.jpg", objects=[ObjectLabel("bus", Box2D(1, 2, 3, 4), id="b")]),
    ]


def _assert_frames_equal(got: list[FrameLabels], want: list[FrameLabels]) -> None:
    assert [f.name for f in got] == [f.name for f in want]
    for g, w in zip(got, want, strict=True):
        assert (g.attributes, g.video_name, g.frame_index) == (w.attributes, w.video_name, w.frame_index)
        assert len(g.objects) == len(w.objects) and len(g.lanes) == len(w.lanes)
        for go, wo in zip(g.objects, w.objects, strict=True):
            assert (go.category, go.sign_type, go.occluded, go.truncated, go.ignore, go.id) == (
                wo.category,
                wo.sign_type,
                wo.occluded,
                wo.truncated,
                wo.ignore,
                wo.id,
            )
            for key in ("x1", "y1", "x2", "y2"):
                assert getattr(go.box, key) == pytest.approx(getattr(wo.box, key), abs=0.01)
        for gl, wl in zip(g.lanes, w.lanes, strict=True):
            assert (gl.lane_type, gl.style, gl.direction, gl.id) == (wl.lane_type, wl.style, wl.direction, wl.id)
            assert gl.points.dtype == np.float32
            np.testing.assert_allclose(gl.points, wl.points, atol=0.01)
        assert [a for _, a in g.drivable_polygons] == [a for _, a in w.drivable_polygons]
        for (gp, _), (wp, _) in zip(g.drivable_polygons, w.drivable_polygons, strict=True):
            np.testing.assert_allclose(gp, wp, atol=0.01)


def test_round_trip(tmp_path: Path) -> None:
    frames = _sample_frames()
    out = tmp_path / "sub" / "labels.json"
    write_frames(frames, out)
    _assert_frames_equal(read_frames(out), frames)
    assert sorted(p.name for p in out.parent.iterdir()) == ["labels.json"], "no temp file left behind"


def test_written_json_is_bdd100k_2020_style(tmp_path: Path) -> None:
    write_frames(_sample_frames(), tmp_path / "labels.json")
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


def test_frame_dict_round_trip_and_default_ids() -> None:
    frame = FrameLabels(name="x.jpg", objects=[ObjectLabel("person", Box2D(0, 0, 1, 1))])
    d = frame_to_dict(frame)
    assert d["labels"][0]["category"] == "pedestrian", "2018 aliases are written with the 2020 name"
    assert d["labels"][0]["id"] == "0"
    back = frame_from_dict(d, source="mem")
    assert back.objects[0].category == "pedestrian" and back.objects[0].box == Box2D(0, 0, 1, 1)


def test_directory_of_per_frame_files(tmp_path: Path) -> None:
    frames = _sample_frames()
    write_frame(frames[1], tmp_path / "0002.json")
    write_frame(frames[0], tmp_path / "0001.json")
    (tmp_path / "notes.txt").write_text("not a label file")
    assert isinstance(json.loads((tmp_path / "0001.json").read_text()), dict), "one frame object per file"
    _assert_frames_equal(read_frames(tmp_path), frames)


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

_CAR = {"id": "1", "category": "car", "attributes": {}, "box2d": {"x1": 1, "y1": 2, "x2": 3, "y2": 4}}
_LANE = {
    "id": "2",
    "category": "single white",
    "attributes": {},
    "poly2d": [{"vertices": [[0, 0], [1, 1]], "types": "LL"}],
}


def _frame(*labels: dict) -> dict:
    return {"name": "b1c6.jpg", "labels": list(labels)}


def _with(base: dict, **changes: object) -> dict:
    out = json.loads(json.dumps(base))
    out.update(changes)
    return out


ERROR_CASES = [
    ("top_not_list", 42, ["top level is int"]),
    ("frame_not_object", ["just a string"], ["frame 0", "(frame)"]),
    ("missing_name", [{"labels": []}], ["frame 0", "name"]),
    (
        "unknown_category",
        [_frame(_CAR, _with(_CAR, category="spaceship"))],
        ['"b1c6.jpg"', "labels[1].category", '"traffic sign"'],
    ),
    (
        "unknown_sign_type",
        [_frame(_with(_CAR, category="traffic sign", attributes={"signType": "moose"}))],
        ["labels[0].attributes.signType", "speed_limit_30"],
    ),
    ("sign_type_on_car", [_frame(_with(_CAR, attributes={"signType": "stop"}))], ["labels[0].attributes.signType"]),
    ("bad_occluded", [_frame(_with(_CAR, attributes={"occluded": "yes"}))], ["labels[0].attributes.occluded"]),
    ("missing_box2d", [_frame({"id": "1", "category": "car"})], ["labels[0].box2d"]),
    ("box_missing_key", [_frame(_with(_CAR, box2d={"x1": 1, "y1": 2, "x2": 3}))], ["labels[0].box2d.y2", "missing"]),
    (
        "box_not_number",
        [_frame(_CAR, _CAR, _with(_CAR, box2d={"x1": 1, "y1": 2, "x2": "abc", "y2": 4}))],
        ["labels[2].box2d.x2", 'got "abc"'],
    ),
    ("box_x2_lt_x1", [_frame(_with(_CAR, box2d={"x1": 10, "y1": 2, "x2": 3, "y2": 4}))], ["labels[0].box2d.x2", "x1"]),
    (
        "unknown_lane_style",
        [_frame(_with(_LANE, attributes={"laneStyle": "zigzag"}))],
        ["labels[0].attributes.laneStyle", "dashed"],
    ),
    (
        "unknown_lane_direction",
        [_frame(_with(_LANE, attributes={"laneDirection": "up"}))],
        ["labels[0].attributes.laneDirection"],
    ),
    (
        "unknown_lane_type_2018",
        [_frame(_with(_LANE, category="lane", attributes={"laneType": "purple"}))],
        ["labels[0].attributes.laneType", "single yellow"],
    ),
    ("missing_lane_type_2018", [_frame(_with(_LANE, category="lane"))], ["labels[0].attributes.laneTypes"]),
    (
        "vertices_not_pairs",
        [_frame(_with(_LANE, poly2d=[{"vertices": [[0, 0], [1, 2, 3]]}]))],
        ["labels[0].poly2d[0].vertices[1]"],
    ),
    (
        "vertices_not_numbers",
        [_frame(_with(_LANE, poly2d=[{"vertices": [[0, 0], [1, "y"]]}]))],
        ["labels[0].poly2d[0].vertices[1][1]"],
    ),
    (
        "too_few_vertices",
        [_frame(_with(_LANE, poly2d=[{"vertices": [[0, 0]]}]))],
        ["labels[0].poly2d[0].vertices", "at least 2"],
    ),
    ("missing_poly2d", [_frame({"id": "3", "category": "road curb"})], ["labels[0].poly2d"]),
    (
        "bad_area_type",
        [
            _frame(
                {
                    "category": "drivable area",
                    "attributes": {"areaType": "maybe"},
                    "poly2d": [{"vertices": [[0, 0], [1, 0], [1, 1]]}],
                }
            )
        ],
        ["labels[0].attributes.areaType"],
    ),
    ("labels_not_list", [{"name": "b1c6.jpg", "labels": {"a": 1}}], ["frame 0", "labels"]),
    ("frame_index_not_int", [{"name": "b1c6.jpg", "frameIndex": "3"}], ["frameIndex"]),
]


@pytest.mark.parametrize("case, content, fragments", ERROR_CASES, ids=[c[0] for c in ERROR_CASES])
def test_errors_name_file_and_field(tmp_path: Path, case: str, content: object, fragments: list[str]) -> None:
    path = tmp_path / f"{case}.json"
    path.write_text(json.dumps(content))
    with pytest.raises(LabelFormatError) as info:
        read_frames(path)
    message = str(info.value)
    assert f"{case}.json" in message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def test_error_message_shape(tmp_path: Path) -> None:
    path = tmp_path / "labels.json"
    frames = [_frame(_CAR)] * 3 + [_frame(_CAR, _CAR, _with(_CAR, box2d={"x1": 1, "y1": 2, "x2": "abc", "y2": 4}))]
    path.write_text(json.dumps(frames))
    with pytest.raises(
        LabelFormatError,
        match=r'labels\.json: frame 3 \("b1c6\.jpg"\) labels\[2\]\.box2d\.x2: '
        r'expected a number, got "abc"\. Fix the value or remove the label\.',
    ):
        read_frames(path)


def test_invalid_json_reports_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('[\n  {"name": "a.jpg",\n   "labels": [}\n]')
    with pytest.raises(LabelFormatError, match=r"broken\.json: invalid JSON at line 3, column 15"):
        read_frames(path)


def test_empty_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(LabelFormatError, match="no \\*.json label files"):
        read_frames(tmp_path)


def test_failed_write_leaves_no_file(tmp_path: Path) -> None:
    target = tmp_path / "labels.json"
    bad = FrameLabels(name="x.jpg", attributes={"weather": object()})  # json.dump fails mid-write
    with pytest.raises(TypeError):
        write_frames([*_sample_frames(), bad], target)
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_previous_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "labels.json"
    write_frames(_sample_frames(), target)
    before = target.read_bytes()

    def boom(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(fileio.os, "fsync", boom)
    with pytest.raises(OSError, match="disk full"):
        write_frames(_sample_frames()[:1], target)
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


# --------------------------------------------------------------------------- drivable masks


def test_drivable_mask_round_trip(tmp_path: Path) -> None:
    mask = np.zeros((36, 64), np.uint8)
    mask[20:, :] = DRIVABLE_DIRECT
    mask[20:, :10] = DRIVABLE_ALTERNATIVE
    path = tmp_path / "masks" / "a.png"
    write_drivable_mask(mask, path)
    got = read_drivable_mask(path)
    assert got.dtype == np.uint8 and got.shape == (36, 64)
    np.testing.assert_array_equal(got, mask)
    assert sorted(p.name for p in path.parent.iterdir()) == ["a.png"]


def test_drivable_mask_2020_coding(tmp_path: Path) -> None:
    path = tmp_path / "m.png"
    cv2.imwrite(str(path), np.array([[0, 1, 2]], np.uint8))  # 2020: 0 direct, 1 alternative, 2 background
    np.testing.assert_array_equal(
        read_drivable_mask(path, coding="2020"), [[DRIVABLE_DIRECT, DRIVABLE_ALTERNATIVE, DRIVABLE_BACKGROUND]]
    )


def test_drivable_mask_rejects_bad_files(tmp_path: Path) -> None:
    colour = tmp_path / "colour.png"
    cv2.imwrite(str(colour), np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(LabelFormatError, match=r"colour\.png: .*3 channels"):
        read_drivable_mask(colour)
    values = tmp_path / "values.png"
    cv2.imwrite(str(values), np.array([[0, 1, 2, 7, 255]], np.uint8))
    with pytest.raises(LabelFormatError, match=r"values\.png: .*\[7, 255\]"):
        read_drivable_mask(values)
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"not a png at all")
    with pytest.raises(LabelFormatError, match=r"garbage\.png: cannot read"):
        read_drivable_mask(garbage)
    with pytest.raises(LabelFormatError, match=r"missing\.png: cannot read"):
        read_drivable_mask(tmp_path / "missing.png")
    with pytest.raises(ValueError, match="values 0, 1, 2"):
        write_drivable_mask(np.full((2, 2), 3, np.uint8), tmp_path / "w.png")
    assert not (tmp_path / "w.png").exists()


def test_rasterize_drivable_direct_over_alternative() -> None:
    square = np.array([[10, 10], [20, 10], [20, 20], [10, 20]], np.float32)
    polygons = [
        (square, "direct"),
        (square + 5, "alternative"),
        (square + 30, "alternative"),
        (square + 35, "alternative"),
    ]
    mask = rasterize_drivable(polygons, 60, 70)
    assert mask.dtype == np.uint8 and mask.shape == (60, 70)
    assert mask[15, 15] == DRIVABLE_DIRECT
    assert mask[20, 20] == DRIVABLE_DIRECT, "direct is drawn on top"
    assert mask[24, 24] == DRIVABLE_ALTERNATIVE
    assert mask[45, 45] == DRIVABLE_ALTERNATIVE, "overlapping polygons of one type both fill"
    assert mask[5, 5] == DRIVABLE_BACKGROUND
    assert (mask == DRIVABLE_DIRECT).sum() == 11 * 11
    with pytest.raises(ValueError, match="unknown drivable area type"):
        rasterize_drivable([(square, "sideways")], 30, 30)


def test_rasterize_2018_fixture_matches_areas() -> None:
    (frame,) = read_frames(FIXTURES / "bdd2018_sample.json")
    mask = rasterize_drivable(frame.drivable_polygons, 720, 1280)
    assert mask[700, 650] == DRIVABLE_DIRECT
    assert mask[700, 100] == DRIVABLE_ALTERNATIVE
    assert mask[100, 650] == DRIVABLE_BACKGROUND
