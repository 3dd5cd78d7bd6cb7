"""The engine-vs-ONNX Runtime deviation, per output and per head."""

from __future__ import annotations

import numpy as np

from mtl_edge.doctor.compare import output_deviation


def test_output_deviation_per_head():
    ref = {"lanes.x": np.zeros((1, 2), np.float32), "lanes.valid": np.ones((1, 2), np.uint8)}
    got = {"lanes.x": np.array([[0.0, 0.5]], np.float32), "lanes.valid": np.array([[1, 0]], np.uint8)}
    dev = output_deviation(ref, got)
    assert dev["heads_max_abs"] == {"lanes": 1.0}
    assert dev["outputs"]["lanes.x"] == {"max_abs": 0.5, "differ_fraction": 0.5}
