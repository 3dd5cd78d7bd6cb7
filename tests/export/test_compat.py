"""Each TensorRT parser rule, shown on the smallest graph that breaks it, and the real exports that pass them all."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from mtl_edge.export.compat import CompatibilityError, check, errors, require_compatible
from mtl_edge.export.trt_rules import load_rules

F, U8 = TensorProto.FLOAT, TensorProto.UINT8


def _model(nodes, inputs, outputs, inits=(), opset=18, metadata=None):
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    if metadata is not None:
        entry = model.metadata_props.add()
        entry.key, entry.value = "mtl_edge", json.dumps(metadata)
    return model


def _vi(name, dtype=F, shape=(1, 4)):
    return helper.make_tensor_value_info(name, dtype, list(shape))


def _const(name, value):
    return numpy_helper.from_array(np.asarray(value), name)


def _rules_of(model, **kw) -> dict[str, list]:
    found: dict[str, list] = {}
    for f in errors(check(model, **kw)):
        found.setdefault(f.rule, []).append(f)
    return found


def test_a_clean_graph_passes_and_findings_cite_their_source():
    m = _model(
        [
            helper.make_node("Cast", ["x"], ["xf"], to=F, name="preprocess/Cast"),
            helper.make_node("Transpose", ["xf"], ["t"], perm=[0, 3, 1, 2], name="preprocess/Transpose"),
            helper.make_node("Relu", ["t"], ["y"], name="backbone/Relu"),
            helper.make_node("Cast", ["y"], ["m"], to=U8, name="heads.drivable/Cast"),
        ],
        [_vi("x", U8, (1, 8, 8, 3))],
        [_vi("y", F, (1, 3, 8, 8)), _vi("m", U8, (1, 3, 8, 8))],
    )
    assert errors(check(m)) == [] and errors(check(m, trt_major=11)) == []
    double = TensorProto.DOUBLE
    bad = _model([helper.make_node("Relu", ["x"], ["y"], name="n")], [_vi("x", double)], [_vi("y", double)])
    (finding,) = _rules_of(bad)["op-dtype"][:1]
    assert finding.node == "n" and finding.fix and "onnx-tensorrt" in finding.source


def test_uint8_input_read_by_anything_but_cast():
    m = _model(
        [
            helper.make_node("Transpose", ["x"], ["t"], perm=[0, 3, 1, 2], name="preprocess/Transpose"),
            helper.make_node("Cast", ["t"], ["y"], to=F, name="preprocess/Cast"),
        ],
        [_vi("x", U8, (1, 8, 8, 3))],
        [_vi("y", F, (1, 3, 8, 8))],
    )
    found = _rules_of(m)["uint8-io-only"]  # the Transpose reads the uint8 input and makes an intermediate one
    f = next(f for f in found if "input 'x'" in f.problem)
    assert f.node == "preprocess/Transpose" and "cast" in f.fix


def test_uint8_intermediate_tensor():
    m = _model(
        [
            helper.make_node("Cast", ["x"], ["u"], to=U8, name="a/Cast"),
            helper.make_node("Cast", ["u"], ["y"], to=F, name="a/Cast_2"),
        ],
        [_vi("x")],
        [_vi("y")],
    )
    assert [f.node for f in _rules_of(m)["uint8-io-only"]] == ["a/Cast"]


def test_uint8_output_cast_from_bool_or_int64():
    m = _model(
        [
            helper.make_node("Greater", ["x", "x"], ["b"], name="heads.lanes/Greater"),
            helper.make_node("Cast", ["b"], ["v"], to=U8, name="heads.lanes/Cast"),
            helper.make_node("ArgMax", ["x"], ["i"], axis=1, keepdims=0, name="heads.drivable/ArgMax"),
            helper.make_node("Cast", ["i"], ["m"], to=U8, name="heads.drivable/Cast"),
        ],
        [_vi("x")],
        [_vi("v", U8), _vi("m", U8, (1,))],
    )
    found = _rules_of(m)["uint8-cast-from-float"]
    assert {f.node for f in found} == {"heads.lanes/Cast", "heads.drivable/Cast"}
    assert "BOOL" in found[0].problem or "INT64" in found[0].problem


def test_opset_custom_domain_and_unsupported_op():
    m = _model(
        [
            helper.make_node("Foo", ["x"], ["y"], name="heads.signs/Foo", domain="my.ops"),
            helper.make_node("Unique", ["x"], ["z"], name="heads.signs/Unique"),
        ],
        [_vi("x", shape=(4,))],
        [_vi("y", shape=(4,)), _vi("z", shape=(4,))],
        opset=7,
    )
    m.opset_import.append(helper.make_opsetid("my.ops", 1))
    found = _rules_of(m)
    assert found["custom-domain"][0].node == "heads.signs/Foo" and "plugin" in found["custom-domain"][0].problem
    assert found["unsupported-op"][0].node == "heads.signs/Unique"
    assert "opset 7 is outside" in found["opset-range"][0].problem


def test_every_dtype_is_one_the_op_takes():
    m = _model(
        [helper.make_node("Add", ["x", "x"], ["y"], name="neck/Add")],
        [_vi("x", TensorProto.DOUBLE)],
        [_vi("y", TensorProto.DOUBLE)],
    )
    found = _rules_of(m)["op-dtype"]
    assert found[0].node == "neck/Add" and "DOUBLE" in found[0].problem and "FLOAT" in found[0].fix


def test_inputs_the_importer_needs_as_initializers():
    m = _model(
        [
            helper.make_node("ReduceMean", ["x", "axes"], ["y"], keepdims=1, name="heads.signs/ReduceMean"),
            helper.make_node("Clip", ["x", "lo", "hi"], ["z"], name="heads.signs/Clip"),
        ],
        [_vi("x"), _vi("axes", TensorProto.INT64, (1,)), _vi("lo", F, ()), _vi("hi", F, ())],
        [_vi("y", shape=(1, 1)), _vi("z")],
    )
    found = _rules_of(m)["initializer-input"]
    assert {f.node for f in found} >= {"heads.signs/ReduceMean", "heads.signs/Clip"}
    assert all("constant" in f.fix for f in found)


def _resize(**attrs):
    roi, scales = _const("roi", np.array([], np.float32)), _const("sc", np.array([1, 1, 2, 2], np.float32))
    node = helper.make_node("Resize", ["x", "roi", "sc"], ["y"], name="neck/Resize", **attrs)
    return _model([node], [_vi("x", shape=(1, 1, 2, 2))], [_vi("y", shape=(1, 1, 4, 4))], [roi, scales])


def test_resize_modes_and_nearest_mode():
    assert errors(check(_resize(mode="nearest", nearest_mode="floor"))) == []
    assert _rules_of(_resize(coordinate_transformation_mode="tf_crop_and_resize"))["attr-value"]
    assert _rules_of(_resize(antialias=1, mode="linear"))["attr-value"]
    scales_at_runtime = _model(
        [helper.make_node("Resize", ["x", "", "sc"], ["y"], name="neck/Resize")],
        [_vi("x", shape=(1, 1, 2, 2)), _vi("sc", F, (4,))],
        [_vi("y", shape=(1, 1, 4, 4))],
    )
    assert "run time" in _rules_of(scales_at_runtime)["resize-limits"][0].problem


def test_pooling_dilations_and_indices():
    dilated = _model(
        [helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[3, 3], dilations=[2, 2], name="heads.v/MaxPool")],
        [_vi("x", shape=(1, 1, 8, 8))],
        [_vi("y", shape=(1, 1, 4, 4))],
    )
    assert "dilations" in _rules_of(dilated)["pooling-limits"][0].problem
    indices = _model(
        [helper.make_node("MaxPool", ["x"], ["y", "i"], kernel_shape=[2, 2], name="heads.v/MaxPool")],
        [_vi("x", shape=(1, 1, 8, 8))],
        [_vi("y", shape=(1, 1, 7, 7)), _vi("i", TensorProto.INT64, (1, 1, 7, 7))],
    )
    assert "Indices" in _rules_of(indices)["pooling-limits"][0].problem


def test_pooling_rank():
    m = _model(
        [helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2, 2, 2], name="p")],
        [_vi("x", shape=(1, 1, 4, 4, 4, 4))],
        [_vi("y", shape=(1, 1, 3, 3, 3, 3))],
    )
    assert "rank-6" in _rules_of(m)["pooling-limits"][0].problem


def test_grid_sample_is_4d_only():
    m = _model(
        [helper.make_node("GridSample", ["x", "g"], ["y"], name="heads.v/glimpse/GridSample")],
        [_vi("x", shape=(1, 1, 4, 4, 4)), _vi("g", shape=(1, 2, 2, 2, 3))],
        [_vi("y", shape=(1, 1, 2, 2, 2))],
        opset=20,
    )
    assert _rules_of(m)["gridsample-rank4"][0].node == "heads.v/glimpse/GridSample"


def test_topk_constant_k_below_the_limit():
    big = _model(
        [helper.make_node("TopK", ["x", "k"], ["v", "i"], name="heads.vehicles/TopK")],
        [_vi("x", shape=(1, 6000))],
        [_vi("v", shape=(1, 5000)), _vi("i", TensorProto.INT64, (1, 5000))],
        [_const("k", np.array([5000], np.int64))],
    )
    (f,) = _rules_of(big)["topk-limits"]
    assert "limit of 3840" in f.problem and "top_k" in f.fix
    runtime_k = _model(
        [helper.make_node("TopK", ["x", "kk"], ["v", "i"], name="t")],
        [_vi("x", shape=(1, 10)), _vi("kk", TensorProto.INT64, (1,))],
        [_vi("v", shape=(1, 3)), _vi("i", TensorProto.INT64, (1, 3))],
    )
    (w,) = [f for f in check(runtime_k) if f.rule == "topk-limits"]
    assert w.severity == "warning" and "run time" in w.problem
    unsorted = _model(
        [helper.make_node("TopK", ["x", "k"], ["v", "i"], sorted=0, name="t")],
        [_vi("x", shape=(1, 10))],
        [_vi("v", shape=(1, 2)), _vi("i", TensorProto.INT64, (1, 2))],
        [_const("k", np.array([2], np.int64))],
    )
    assert "sorted=0" in _rules_of(unsorted)["attr-value"][0].problem


def _qdq(scale, zp, weight=None, axis=None):
    """x -> Q -> DQ -> Conv(per-channel DQ weights) -> y; ``weight`` adds graph inputs (e.g. a run-time scale)."""
    inits = [_const("s", np.float32(0.1)), _const("z", np.int8(0)), _const("w8", np.ones((2, 1, 1, 1), np.int8))]
    inits += [_const("ws", np.full(2, 0.1, np.float32)), _const("wz", np.zeros(2, np.int8))]
    nodes = [
        helper.make_node("QuantizeLinear", ["x", *scale], ["q"], name="neck/Q"),
        helper.make_node("DequantizeLinear", ["q", *scale], ["xd"], name="neck/DQ"),
        helper.make_node("DequantizeLinear", ["w8", "ws", "wz"], ["w"], name="neck/DQw", **(axis or {"axis": 0})),
        helper.make_node("Conv", ["xd", "w"], ["y"], name="neck/Conv"),
    ]
    if zp is not None:
        nodes[0].input[2:] = [zp]
        nodes[1].input[2:] = [zp]
    return _model(nodes, [_vi("x", shape=(1, 1, 4, 4)), *(weight or [])], [_vi("y", shape=(1, 2, 4, 4))], inits)


def test_qdq_int8_zero_point_zero_and_constant_scales():
    assert errors(check(_qdq(["s"], "z"))) == []
    assert _rules_of(_qdq(["s"], None))["qdq-zero-point"]
    m = _qdq(["s"], "z3")
    m.graph.initializer.append(_const("z3", np.int8(3)))
    assert "not a constant 0" in _rules_of(m)["qdq-zero-point"][0].problem
    u8 = _qdq(["s"], "zu")
    u8.graph.initializer.append(_const("zu", np.uint8(0)))
    assert _rules_of(u8)["qdq-int8"][0].node == "neck/Q"
    runtime_scale = _qdq(["sx"], "z", weight=[_vi("sx", F, ())])
    assert _rules_of(runtime_scale)["qdq-scale-constant"][0].node == "neck/Q"


def test_qdq_weights_per_output_channel():
    one_element = _qdq(["sw"], "zw")
    one_element.graph.initializer.extend(
        [_const("sw", np.full(1, 0.1, np.float32)), _const("zw", np.zeros(1, np.int8))]
    )
    assert errors(check(one_element)) == []  # a one-element scale is per tensor
    found = _rules_of(_qdq(["s"], "z", axis={"axis": 1}))
    assert found["qdq-weight-axis"][0].node == "neck/DQw" and "axis 0" in found["qdq-weight-axis"][0].fix


def test_activation_scales_are_per_tensor():
    inits = [_const("s", np.full(3, 0.1, np.float32)), _const("z", np.zeros(3, np.int8))]
    m = _model(
        [
            helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], axis=1, name="neck/Q"),
            helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], axis=1, name="neck/DQ"),
        ],
        [_vi("x", shape=(1, 3, 4, 4))],
        [_vi("y", shape=(1, 3, 4, 4))],
        inits,
    )
    assert {f.node for f in _rules_of(m)["qdq-activation-per-tensor"]} == {"neck/Q", "neck/DQ"}


def test_bindable_io_dtypes_and_static_shapes():
    m = _model(
        [helper.make_node("Cast", ["x"], ["y"], to=TensorProto.INT16, name="c")],
        [helper.make_tensor_value_info("x", F, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.INT16, ["batch", 4])],
    )
    found = _rules_of(m)
    assert "INT16 cannot be bound" in found["bindable-io"][0].problem
    assert any(f.node == "input x" and "dimension 0" in f.problem for f in found["static-shapes"])
    assert "static-shapes" not in _rules_of(m, dynamic_batch=True)


def test_inconsistent_graph_fails_shape_inference():
    m = _model(
        [helper.make_node("Add", ["x", "y"], ["z"], name="a")],
        [_vi("x", shape=(1, 4)), _vi("y", shape=(1, 5))],
        [_vi("z", shape=(1, 4))],
    )
    assert _rules_of(m)["shape-inference"]


def test_cpu_int8_flavour_is_reported_not_crashed():
    m = _model(
        [helper.make_node("Relu", ["x"], ["y"], name="r")], [_vi("x")], [_vi("y")], metadata={"int8_target": "cpu"}
    )
    (f,) = _rules_of(m)["cpu-int8-flavour"]
    assert "ONNX Runtime only, TensorRT rejects it" in f.problem


def test_require_compatible_checks_both_majors_and_raises_with_every_node():
    m = _model(
        [helper.make_node("Unique", ["x"], ["y"], name="heads.signs/Unique")],
        [_vi("x", shape=(4,))],
        [_vi("y", shape=(4,))],
    )
    with pytest.raises(CompatibilityError, match="heads.signs/Unique"):
        require_compatible(m)


def test_the_rules_table_names_its_sources_and_covers_every_checked_rule():
    rules = load_rules()
    assert "onnx-tensorrt" in rules.sources["operators"]
    checked = {
        "opset-range", "custom-domain", "unsupported-op", "op-dtype", "uint8-io-only", "uint8-cast-from-float",
        "initializer-input", "attr-value", "resize-limits", "pooling-limits", "gridsample-rank4", "topk-limits",
        "qdq-int8", "qdq-zero-point", "qdq-scale-constant", "qdq-activation-per-tensor", "qdq-weight-axis",
        "bindable-io", "static-shapes", "shape-inference", "cpu-int8-flavour",
    }  # fmt: skip
    assert checked <= set(rules.rules)
    assert all(rules.rules[r]["source"] in rules.sources for r in checked)


@pytest.mark.parametrize("trt_major", [10, 11])
@pytest.mark.parametrize("name", ["fp32", "fp16", "int8", "fp32-dynamic", "int8-dynamic"])
def test_the_real_exports_of_the_shipped_checkpoint_pass(shipped_exports, name, trt_major):
    model = onnx.load(str(shipped_exports[name]))
    assert errors(check(model, dynamic_batch=name.endswith("dynamic"), trt_major=trt_major)) == []


def test_the_real_cpu_int8_export_is_reported_as_onnx_runtime_only(shipped_exports):
    found = _rules_of(onnx.load(str(shipped_exports["int8-cpu"])))
    assert "cpu-int8-flavour" in found and "qdq-int8" in found


def test_a_dynamic_batch_export_checked_as_static_fails(shipped_exports):
    found = _rules_of(onnx.load(str(shipped_exports["fp32-dynamic"])), dynamic_batch=False)
    assert any(f.node == "input images" for f in found["static-shapes"])


def test_uint8_constants_are_checked_as_the_int32_the_parser_makes_them():
    m = _model(
        [helper.make_node("Add", ["c", "c"], ["y"], name="a/Add"), helper.make_node("Relu", ["f"], ["z"], name="r")],
        [_vi("f")],
        [_vi("y", U8, (2,)), _vi("z")],
        [_const("c", np.array([1, 2], np.uint8))],
    )
    found = check(m)
    assert not any(f.rule == "op-dtype" for f in found)  # Add takes INT32
    pool = _model(
        [helper.make_node("MaxPool", ["c"], ["y"], kernel_shape=[1, 1], name="a/MaxPool")],
        [],
        [_vi("y", U8, (1, 1, 2, 2))],
        [_const("c", np.ones((1, 1, 2, 2), np.uint8))],
    )
    assert "INT32" in _rules_of(pool)["op-dtype"][0].problem  # MaxPool takes float types only


def test_an_op_with_no_published_types_gets_a_warning_not_a_pass():
    from importlib import resources

    from mtl_edge.export.compat import check_tensorrt
    from mtl_edge.export.trt_rules import parse_rules

    raw = json.loads(resources.files("mtl_edge.export").joinpath("trt_rules.json").read_text())
    raw["ops"]["Relu"] = {"trt": [10, 11], "types": []}
    m = _model([helper.make_node("Relu", ["x"], ["y"], name="r")], [_vi("x")], [_vi("y")])
    (w,) = [f for f in check_tensorrt(m, rules=parse_rules(raw)) if f.rule == "types-unpublished"]
    assert w.severity == "warning" and w.node == "r"
