"""Tests for mtl_edge.data.formats.parse: frame objects to labels, and error messages that name the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mtl_edge.data.formats.errors import LabelFormatError
from mtl_edge.data.formats.parse import frame_from_dict
from mtl_edge.data.formats.read import read_frames
from mtl_edge.data.formats.write import frame_to_dict
from mtl_edge.data.labels import Box2D, FrameLabels, ObjectLabel


def test_frame_dict_round_trip_and_default_ids() -> None:
    frame = FrameLabels(name="x.jpg", objects=[ObjectLabel("person", Box2D(0, 0, 1, 1))])
    d = frame_to_dict(frame)
    assert d["labels"][0]["category"] == "pedestrian", "2018 aliases are written with the 2020 name"
    assert d["labels"][0]["id"] == "0"
    back = frame_from_dict(d, source="mem")
    assert back.objects[0].category == "pedestrian" and back.objects[0].box == Box2D(0, 0, 1, 1)


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
