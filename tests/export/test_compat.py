"""The TensorRT compatibility check finds what would not build, and names the node and the fix."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from mtl_edge.export.compat import check


def _model(nodes, inputs, outputs, inits=(), opset=18):
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _vi(name, dtype=TensorProto.FLOAT, shape=(1, 4)):
    return helper.make_tensor_value_info(name, dtype, list(shape))


def test_a_clean_graph_passes():
    m = _model([helper.make_node("Relu", ["x"], ["y"], name="backbone/Relu")], [_vi("x")], [_vi("y")])
    assert check(m) == []


def test_unsupported_op_custom_domain_and_opset():
    m = _model(
        [
            helper.make_node("Mod", ["x", "x"], ["y"], name="heads.signs/Mod"),
            helper.make_node("Foo", ["y"], ["z"], name="heads.signs/Foo", domain="my.ops"),
        ],
        [_vi("x", TensorProto.INT32)],
        [_vi("z", TensorProto.INT32)],
        opset=21,
    )
    problems = {v.node: v for v in check(m)}
    assert "Mod is not in TensorRT's native ONNX operator set" in problems["heads.signs/Mod"].problem
    assert "plugin" in problems["heads.signs/Foo"].problem
    assert "opset 21 is outside" in problems["model"].problem


def test_topk_needs_a_constant_k_within_the_limit():
    k = numpy_helper.from_array(np.array([5000], np.int64), "k")
    m = _model(
        [helper.make_node("TopK", ["x", "k"], ["v", "i"], name="heads.vehicles/TopK")],
        [_vi("x", shape=(1, 6000))],
        [_vi("v", shape=(1, 5000)), _vi("i", TensorProto.INT64, (1, 5000))],
        [k],
    )
    (v,) = check(m)
    assert "exceeds TensorRT's 3840" in v.problem and "top_k" in v.fix
    runtime_k = _model(
        [helper.make_node("TopK", ["x", "kk"], ["v", "i"], name="t")],
        [_vi("x", shape=(1, 10)), _vi("kk", TensorProto.INT64, (1,))],
        [_vi("v", shape=(1, 3)), _vi("i", TensorProto.INT64, (1, 3))],
    )
    assert any("computed at run time" in v.problem for v in check(runtime_k))


def test_qdq_zero_points_must_be_zero_int8():
    s = numpy_helper.from_array(np.array(0.1, np.float32), "s")
    zp_bad = numpy_helper.from_array(np.array(3, np.int8), "zb")
    zp_u8 = numpy_helper.from_array(np.array(0, np.uint8), "zu")
    m = _model(
        [
            helper.make_node("QuantizeLinear", ["x", "s", "zb"], ["q"], name="neck/Q"),
            helper.make_node("DequantizeLinear", ["q", "s", "zb"], ["y"], name="neck/DQ"),
            helper.make_node("QuantizeLinear", ["y", "s", "zu"], ["q2"], name="neck/Q2"),
            helper.make_node("DequantizeLinear", ["q2", "s", "zu"], ["z"], name="neck/DQ2"),
        ],
        [_vi("x")],
        [_vi("z")],
        [s, zp_bad, zp_u8],
    )
    problems = [str(v) for v in check(m)]
    assert any("neck/Q: Q/DQ zero point is not 0" in p for p in problems)
    assert any("neck/Q2: Q/DQ is uint8" in p for p in problems)


def test_io_dtypes_and_static_shapes():
    m = _model(
        [helper.make_node("Cast", ["x"], ["y"], to=TensorProto.DOUBLE, name="c")],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.DOUBLE, ["batch", 4])],
    )
    problems = [str(v) for v in check(m)]
    assert any("output y: dtype DOUBLE cannot be bound" in p for p in problems)
    assert any("input x: dimension 0 is not static" in p for p in problems)
    assert not any("dimension 0" in str(v) for v in check(m, dynamic_batch=True))


def test_resize_modes():
    roi = numpy_helper.from_array(np.array([], np.float32), "roi")
    scales = numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "sc")
    m = _model(
        [helper.make_node("Resize", ["x", "roi", "sc"], ["y"], mode="cubic", name="r")],
        [_vi("x", shape=(1, 1, 2, 2))],
        [_vi("y", shape=(1, 1, 4, 4))],
        [roi, scales],
    )
    assert any("Resize mode 'cubic'" in v.problem for v in check(m))
    assert isinstance(onnx.checker.check_model(m) or True, bool)
