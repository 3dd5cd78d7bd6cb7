"""Packing engine outputs: thresholds, un-letterboxing to source pixels, JSON lines."""

from __future__ import annotations

import json

import numpy as np

from mtl_edge.deploy.letterbox import letterbox_params
from mtl_edge.deploy.results import Thresholds, to_frame_result

META = {"vehicles": {"classes": ["car", "truck"]}, "lanes": {"row_y": [100.0, 200.0, 300.0]}}


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
        outputs, META, params, source_hw, input_hw, index=7, timestamp=1.5, thresholds=Thresholds(vehicles=0.5)
    )
    assert [d.label for d in r.vehicles] == ["truck"]  # the 0.1 detection is below threshold
    assert np.allclose(r.vehicles[0].box, (200.0, 200.0, 400.0, 400.0))  # (x - 0, y - 12) / 0.5
    assert len(r.lanes) == 1 and r.lanes[0].slot == 0  # slot 1 scores 0.2 < 0.5
    assert np.allclose(r.lanes[0].points, [[620.0, 376.0], [600.0, 176.0]])  # near to far, source pixels
    assert r.drivable.shape == source_hw and (r.drivable == 1).all()
    line = json.loads(r.to_json())
    assert line["index"] == 7 and line["vehicles"][0]["label"] == "truck"
    assert line["drivable_fraction"]["direct"] == 1.0 and line["lanes"][0]["points"][0] == [620.0, 376.0]
