"""Small upsample graphs shared by the Q/DQ rewrite tests, and a plain ONNX Runtime run of a graph."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper


def upsample_model(nodes: list[onnx.NodeProto], initializers: list[onnx.TensorProto]) -> onnx.ModelProto:
    """``nodes`` as an opset-18 model: inputs x [1,5,3,4] and a [1,5,6,8], output y [1,5,6,8]."""
    graph = helper.make_graph(
        nodes,
        "g",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 5, 3, 4]),
            helper.make_tensor_value_info("a", TensorProto.FLOAT, [1, 5, 6, 8]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5, 6, 8])],
        initializers,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def resize_graph(quantized: bool, mode: str = "nearest", transform: str = "asymmetric") -> onnx.ModelProto:
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
    return upsample_model(nodes, [scale, zero, scales])


def run_plain(model: onnx.ModelProto, feed: dict[str, np.ndarray]) -> np.ndarray:
    """The first output of ``model`` on ``feed`` under ONNX Runtime with no graph optimizations."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(model.SerializeToString(), options).run(None, feed)[0]


def copy_model(model: onnx.ModelProto) -> onnx.ModelProto:
    """A deep copy of ``model`` (the rewrites edit a graph in place)."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    return out
