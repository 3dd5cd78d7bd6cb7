"""Q/DQ graph rewrites give exactly the outputs of what they replace."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from mtl_edge.export.qdq_rewrites import nhwc_upsamples


def _resize_graph(quantized: bool, mode: str = "nearest", transform: str = "asymmetric") -> onnx.ModelProto:
    """x [1,5,3,4] -> Resize x2 -> Add a [1,5,6,8]; with ``quantized``, uint8 in Q/DQ around the Resize."""
    scale = numpy_helper.from_array(np.array(0.05, np.float32), "s")
    zero = numpy_helper.from_array(np.array(7, np.uint8), "z")
    scales = numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")
    resize = helper.make_node(
        "Resize", ["xf", "", "scales"], ["up"], name="neck/Resize", mode=mode,
        coordinate_transformation_mode=transform, nearest_mode="floor",
    )  # fmt: skip
    if quantized:
        nodes = [
            helper.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"], name="neck/q_in"),
            helper.make_node("DequantizeLinear", ["xq", "s", "z"], ["xf"], name="neck/dq_in"),
            resize,
            helper.make_node("QuantizeLinear", ["up", "s", "z"], ["upq"], name="neck/q_up"),
            helper.make_node("DequantizeLinear", ["upq", "s", "z"], ["upf"], name="neck/dq_up"),
            helper.make_node("Add", ["upf", "a"], ["y"], name="neck/Add"),
        ]
    else:
        nodes = [helper.make_node("Identity", ["x"], ["xf"], name="neck/Identity"), resize]
        nodes.append(helper.make_node("Add", ["up", "a"], ["y"], name="neck/Add"))
    graph = helper.make_graph(
        nodes,
        "g",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 5, 3, 4]),
            helper.make_tensor_value_info("a", TensorProto.FLOAT, [1, 5, 6, 8]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5, 6, 8])],
        [scale, zero, scales],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


@pytest.mark.parametrize("quantized", [False, True])
def test_nearest_upsamples_become_nhwc_copies_with_the_same_outputs(quantized):
    model = _resize_graph(quantized)
    rewritten = onnx.ModelProto()
    rewritten.CopyFrom(model)
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
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    run = [ort.InferenceSession(m.SerializeToString(), options).run(None, feed)[0] for m in (model, rewritten)]
    np.testing.assert_array_equal(run[0], run[1])


@pytest.mark.parametrize(("mode", "transform"), [("linear", "asymmetric"), ("nearest", "half_pixel")])
def test_other_resizes_are_left_alone(mode, transform):
    model = _resize_graph(False, mode, transform)
    assert nhwc_upsamples(model) == []
    assert [n.op_type for n in model.graph.node].count("Resize") == 1
