"""Q/DQ graph rewrites of the ONNX Runtime CPU graph give exactly the outputs of what they replace."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from mtl_edge.export.qdq_rewrites import nhwc_upsamples
from tests.export.qdq_graphs import copy_model, resize_graph, run_plain


@pytest.mark.parametrize("quantized", [False, True])
def test_nearest_upsamples_become_nhwc_copies_with_the_same_outputs(quantized):
    model = resize_graph(quantized)
    rewritten = copy_model(model)
    assert nhwc_upsamples(rewritten) == ["neck/Resize"]
    onnx.checker.check_model(rewritten, full_check=True)
    ops = [n.op_type for n in rewritten.graph.node]
    assert "Resize" not in ops and "Expand" in ops
    if quantized:  # the copy moves the uint8 values: no Q/DQ pair around it any more
        assert ops.count("QuantizeLinear") == 1 and ops.count("DequantizeLinear") == 1
    rng = np.random.default_rng(3)
    feed = {
        "x": rng.normal(size=(1, 5, 3, 4)).astype(np.float32),
        "a": rng.normal(size=(1, 5, 6, 8)).astype(np.float32),
    }
    np.testing.assert_array_equal(run_plain(model, feed), run_plain(rewritten, feed))


@pytest.mark.parametrize(("mode", "transform"), [("linear", "asymmetric"), ("nearest", "half_pixel")])
def test_other_resizes_are_left_alone(mode, transform):
    model = resize_graph(False, mode, transform)
    assert nhwc_upsamples(model) == []
    assert [n.op_type for n in model.graph.node].count("Resize") == 1
