"""TensorRT's INT8 placement rewrites give the outputs of what they replace."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from mtl_edge.export.qdq_placement import fold_constant_channels, quantize_upsample_inputs
from tests.export.qdq_graphs import copy_model, resize_graph, run_plain, upsample_model


def _float_upsample_graph() -> onnx.ModelProto:
    """The TensorRT graph's pattern: x -> Relu -> Resize x2 -> Q -> DQ -> Add (the Resize input is float)."""
    scale = numpy_helper.from_array(np.array(0.02, np.float32), "s")
    zero = numpy_helper.from_array(np.array(0, np.int8), "z")
    scales = numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")
    nodes = [
        helper.make_node("Relu", ["x"], ["r"], name="neck/lateral/act/Relu"),
        helper.make_node(
            "Resize", ["r", "", "scales"], ["up"], name="neck/Resize", mode="nearest",
            coordinate_transformation_mode="asymmetric", nearest_mode="floor",
        ),
        helper.make_node("QuantizeLinear", ["up", "s", "z"], ["upq"], name="neck/QuantizeLinear_q1"),
        helper.make_node("DequantizeLinear", ["upq", "s", "z"], ["upf"], name="neck/DequantizeLinear_q1"),
        helper.make_node("Add", ["upf", "a"], ["y"], name="neck/Add"),
    ]  # fmt: skip
    return upsample_model(nodes, [scale, zero, scales])


def test_upsample_inputs_get_the_outputs_quantization_and_the_same_results():
    model = _float_upsample_graph()
    rewritten = copy_model(model)
    assert quantize_upsample_inputs(rewritten) == ["neck/Resize"]
    onnx.checker.check_model(rewritten, full_check=True)
    producer = {o: n for n in rewritten.graph.node for o in n.output}
    resize = next(n for n in rewritten.graph.node if n.op_type == "Resize")
    dq = producer[resize.input[0]]
    assert dq.op_type == "DequantizeLinear" and list(dq.input[1:]) == ["s", "z"]  # the output's own scale
    assert producer[dq.input[0]].input[0] == "r"  # the ReLU's output is quantized: the conv can write int8
    rng = np.random.default_rng(5)
    feed = {
        "x": rng.normal(size=(1, 5, 3, 4)).astype(np.float32) * 3,
        "a": rng.normal(size=(1, 5, 6, 8)).astype(np.float32),
    }
    np.testing.assert_array_equal(run_plain(model, feed), run_plain(rewritten, feed))
    assert quantize_upsample_inputs(rewritten) == []  # already quantized: left alone


def test_upsample_read_in_float_is_left_alone():
    model = resize_graph(False)  # the Resize output feeds an Add directly: nothing says which scale
    assert quantize_upsample_inputs(model) == []


def _coords_graph(kernel: int, expand: bool) -> onnx.ModelProto:
    """p [1,3,4,5] -> Concat with two constant coordinate channels -> Conv(k) -> Relu: the lanes head's pattern."""
    rng = np.random.default_rng(kernel)
    xs = np.linspace(-1, 1, 5, dtype=np.float32).reshape(1, 1, 1, 5)
    ys = np.broadcast_to(np.linspace(-1, 1, 4, dtype=np.float32).reshape(1, 1, 4, 1), (1, 1, 4, 5)).copy()
    inits = [
        numpy_helper.from_array(rng.normal(size=(6, 5, kernel, kernel)).astype(np.float32), "w"),
        numpy_helper.from_array(rng.normal(size=6).astype(np.float32), "b"),
        numpy_helper.from_array(ys, "ys"),
    ]
    nodes = []
    if expand:  # a dynamic-batch export expands the coordinates to the batch read off the features' shape
        inits += [
            numpy_helper.from_array(xs, "xs_row"),
            numpy_helper.from_array(np.array([1, 4, 5]), "chw"),
            numpy_helper.from_array(np.array([0]), "start"),
            numpy_helper.from_array(np.array([1]), "stop"),
        ]
        nodes += [
            helper.make_node("Shape", ["p"], ["p_shape"], name="heads.lanes/Shape"),
            helper.make_node("Slice", ["p_shape", "start", "stop"], ["batch"], name="heads.lanes/Slice"),
            helper.make_node("Concat", ["batch", "chw"], ["bchw"], name="heads.lanes/Concat_shape", axis=0),
            helper.make_node("Expand", ["xs_row", "bchw"], ["xs"], name="heads.lanes/Expand"),
        ]
    else:
        inits.append(numpy_helper.from_array(np.broadcast_to(xs, (1, 1, 4, 5)).copy(), "xs"))
    pad = kernel // 2
    nodes += [
        helper.make_node("Concat", ["p", "xs", "ys"], ["cat"], name="heads.lanes/Concat", axis=1),
        helper.make_node("Conv", ["cat", "w", "b"], ["f"], name="heads.lanes/project/conv/Conv", pads=[pad] * 4),
        helper.make_node("Relu", ["f"], ["y"], name="heads.lanes/project/act/Relu"),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("p", TensorProto.FLOAT, [1, 3, 4, 5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 6, 4, 5])],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


@pytest.mark.parametrize(("kernel", "expand"), [(1, False), (3, False), (1, True)])
def test_constant_channels_fold_into_an_add_after_the_conv(kernel, expand):
    model = _coords_graph(kernel, expand)
    folded = copy_model(model)
    assert fold_constant_channels(folded) == ["heads.lanes/project/conv/Add_constant_channels"]
    onnx.checker.check_model(folded, full_check=True)
    ops = [n.op_type for n in folded.graph.node]
    assert ops == ["Conv", "Add", "Relu"]  # no Concat, and no Expand or shape ops left behind
    conv = next(n for n in folded.graph.node if n.op_type == "Conv")
    assert conv.input[0] == "p"  # the conv reads the features alone: an INT8 graph gives them their own scale
    weight = next(numpy_helper.to_array(t) for t in folded.graph.initializer if t.name == conv.input[1])
    assert weight.shape[1] == 3
    feed = {"p": np.random.default_rng(1).normal(size=(1, 3, 4, 5)).astype(np.float32)}
    np.testing.assert_allclose(run_plain(folded, feed), run_plain(model, feed), rtol=1e-5, atol=1e-5)


def test_a_concat_of_features_only_is_left_alone():
    model = _coords_graph(1, False)
    for t in model.graph.initializer:  # make the "coordinates" graph inputs: nothing is constant
        if t.name in ("xs", "ys"):
            t.name = f"{t.name}_unused"
    model.graph.input.extend([helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 1, 4, 5]) for n in ("xs", "ys")])
    assert fold_constant_channels(model) == []
