"""Packing engine outputs: thresholds, un-letterboxing to source pixels, JSON lines."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mtl_edge.deploy.letterbox import letterbox_params
from mtl_edge.deploy.results import Thresholds, to_frame_result
from mtl_edge.deploy.tasks import TASKS, Task, register_task

#: The ``heads`` section of a model's metadata, as an export writes it (each head's kind is known by its outputs).
META = {
    "vehicles": {"outputs": ["boxes", "scores", "classes"], "classes": ["car", "truck"]},
    "lanes": {"outputs": ["x", "valid", "score"], "row_y": [100.0, 200.0, 300.0]},
    "drivable": {"outputs": ["mask"], "classes": ["background", "direct", "alternative"], "mask_stride": 2},
}


def test_boxes_and_lanes_come_back_in_source_pixels():
    source_hw, input_hw = (720, 1280), (384, 640)
    params = letterbox_params(source_hw, input_hw)  # scale 0.5, pad_y 12
    outputs = {
        "vehicles.boxes": np.array([[[100.0, 112.0, 200.0, 212.0], [0.0, 0.0, 5.0, 5.0]]], np.float32),
        "vehicles.scores": np.array([[0.9, 0.1]], np.float32),
        "vehicles.classes": np.array([[1, 0]], np.int32),
        "lanes.x": np.array([[[300.0, 310.0, 320.0], [0.0, 0.0, 0.0]]], np.float32),
        "lanes.valid": np.array([[[1, 1, 0], [1, 1, 1]]], np.uint8),
        "lanes.score": np.array([[0.8, 0.2]], np.float32),
        "drivable.mask": np.full((1, 192, 320), 1, np.uint8),
    }
    r = to_frame_result(
        outputs,
        META,
        params,
        source_hw,
        input_hw,
        index=7,
        timestamp=1.5,
        thresholds=Thresholds(by_head={"vehicles": 0.5}),
    )
    assert [d.label for d in r.vehicles] == ["truck"]  # the 0.1 detection is below threshold
    assert np.allclose(r.vehicles[0].box, (200.0, 200.0, 400.0, 400.0))  # (x - 0, y - 12) / 0.5
    assert len(r.lanes) == 1 and r.lanes[0].slot == 0  # slot 1 scores 0.2 < 0.5
    assert np.allclose(r.lanes[0].points, [[620.0, 376.0], [600.0, 176.0]])  # near to far, source pixels
    assert r.drivable.shape == source_hw and (r.drivable == 1).all()
    line = json.loads(r.to_json())
    assert line["index"] == 7 and line["vehicles"][0]["label"] == "truck"
    assert line["drivable_fraction"]["direct"] == 1.0 and line["lanes"][0]["points"][0] == [620.0, 376.0]


class _Counter(Task):
    """A head kind defined here only: it counts things, with no score and nothing to draw."""

    kind, fields = "test-counter", ("count",)

    def unpack(self, outputs, meta, at, threshold):
        return int(outputs["count"])

    def to_json(self, name, value, meta):
        return {name: value}

    def draw(self, image, name, value):
        pass


def test_a_new_task_kind_flows_through_results_and_json_without_package_changes():
    register_task(_Counter)
    try:
        meta = {"people": {"task": "test-counter", "outputs": ["count"]}}
        outputs = {"people.count": np.array([3, 5])}
        params = letterbox_params((384, 640), (384, 640))
        r = to_frame_result(outputs, meta, params, (384, 640), (384, 640), batch_index=1)
        assert r.people == 5 and json.loads(r.to_json())["people"] == 5
        assert to_frame_result(outputs, {"people": {"outputs": ["count"]}}, params, (384, 640), (384, 640)).people == 3
    finally:
        del TASKS["test-counter"]
    with pytest.raises(ValueError, match="register_task"):  # an unknown kind says how to make it known
        to_frame_result(outputs, meta, params, (384, 640), (384, 640))
    with pytest.raises(AttributeError, match="no head 'people'"):
        _ = to_frame_result({}, {}, params, (384, 640), (384, 640)).people
