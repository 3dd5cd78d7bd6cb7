"""INT8 placement report: which weighted ops TensorRT runs in INT8, why others stay float, and the reformats."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from mtl_edge.assets import SHIPPED_CHECKPOINT
from mtl_edge.export.int8_placement import CPU_NOTE, placement_report


class _Builder:
    """A small NCHW graph, 4 channels, built node by node with int8 Q/DQ helpers."""

    def __init__(self, zero_type: type = np.int8) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.zero_type = zero_type
        self.rng = np.random.default_rng(0)
        self.count = 0

    def const(self, name: str, value: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(value, name))
        return name

    def qdq(self, x: str, owner: str, scale: float = 0.05) -> str:
        """Quantize and dequantize activation ``x`` per tensor."""
        self.count += 1
        k = self.count
        s = self.const(f"s{k}", np.array(scale, np.float32))
        z = self.const(f"z{k}", np.array(0, self.zero_type))
        self.nodes.append(helper.make_node("QuantizeLinear", [x, s, z], [f"q{k}"], name=f"{owner}/QuantizeLinear_{k}"))
        self.nodes.append(helper.make_node("DequantizeLinear", [f"q{k}", s, z], [f"dq{k}"], name=f"{owner}/Dq_{k}"))
        return f"dq{k}"

    def weight(self, name: str, shape: tuple[int, ...], quantized: bool = True, axis: int = 0) -> str:
        """Conv weights: int8 with one scale per channel along ``axis`` behind a DQ, or float32."""
        w = self.rng.normal(size=shape).astype(np.float32)
        if not quantized:
            return self.const(name, w)
        q = self.const(f"{name}_q", np.clip(np.round(w * 40), -127, 127).astype(np.int8))
        s = self.const(f"{name}_s", np.full(shape[axis], 0.025, np.float32))
        z = self.const(f"{name}_z", np.zeros(shape[axis], np.int8))
        self.nodes.append(helper.make_node("DequantizeLinear", [q, s, z], [name], name=f"{name}/Dq", axis=axis))
        return name

    def op(self, op: str, name: str, inputs: list[str], **attrs) -> str:
        out = name.replace("/", "_") + "_out"
        self.nodes.append(helper.make_node(op, inputs, [out], name=name, **attrs))
        return out

    def conv(self, name: str, x: str, quantized_weight: bool = True, axis: int = 0) -> str:
        w = self.weight(f"{name}_w", (4, 4, 3, 3), quantized_weight, axis)
        return self.op("Conv", f"{name}/Conv", [x, w], pads=[1, 1, 1, 1])

    def model(self, outputs: list[str]) -> onnx.ModelProto:
        graph = helper.make_graph(
            self.nodes,
            "g",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8])],
            [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs],
            self.inits,
        )
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def _inside(report) -> list:
    """The reformats other than the quantization of the graph's float input."""
    return [r for r in report.reformats if r.producer != "graph input"]


def _op(report, name: str):
    return next(o for o in report.ops if o.name == name)


def test_conv_runs_int8_and_writes_int8_when_a_quantize_follows_its_relu():
    b = _Builder()
    a = b.op("Relu", "backbone/a/act/Relu", [b.conv("backbone/a/conv", b.qdq("x", "backbone"))])
    y = b.conv("backbone/b/conv", b.qdq(a, "backbone"))
    report = placement_report(b.model([y]))
    first, second = _op(report, "backbone/a/conv/Conv"), _op(report, "backbone/b/conv/Conv")
    assert report.flavour == "tensorrt" and first.int8 and first.output == "int8" and not first.reason
    assert second.int8 and second.output == "float"  # nothing quantizes what it writes
    (r,) = report.reformats  # quantizing the graph's float input is the only int8 <-> float transition
    assert (r.direction, r.tensor, r.producer) == ("float->int8", "x", "graph input")
    json.dumps(report.to_dict())
    assert "2 of 2 weighted ops run INT8" in report.summary()


def test_first_conv_reading_the_frame_stays_float_and_its_quantized_output_is_a_reformat():
    b = _Builder()
    stem = b.op("Relu", "backbone/stem/act/Relu", [b.conv("backbone/stem/conv", "x", quantized_weight=False)])
    y = b.conv("backbone/stage/conv", b.qdq(stem, "backbone"))
    report = placement_report(b.model([y]))
    stem_op = _op(report, "backbone/stem/conv/Conv")
    assert not stem_op.int8 and "first conv reads the frame" in stem_op.reason
    assert _op(report, "backbone/stage/conv/Conv").int8
    (r,) = report.reformats
    assert r.direction == "float->int8" and r.tensor == stem and r.producer == "backbone/stem/act/Relu"


def test_conv_after_an_unquantized_resize_stays_float_and_the_resize_output_reformats():
    b = _Builder()
    a = b.op("Relu", "neck/a/act/Relu", [b.conv("neck/a/conv", b.qdq("x", "neck"))])
    scales = b.const("scales", np.array([1, 1, 2, 2], np.float32))
    up = b.op("Resize", "neck/Resize", [a, "", scales], mode="nearest")
    y = b.conv("neck/b/conv", up)  # no Q/DQ on either side of the Resize
    y2 = b.conv("neck/c/conv", b.qdq(up, "neck"))
    report = placement_report(b.model([y, y2]))
    assert _op(report, "neck/a/conv/Conv").output == "float"
    reason = _op(report, "neck/b/conv/Conv").reason
    assert not _op(report, "neck/b/conv/Conv").int8 and reason.startswith("input from Resize without Q/DQ")
    assert [(r.direction, r.producer) for r in _inside(report)] == [("float->int8", "neck/Resize")]


def test_resize_between_dq_and_q_moves_int8_and_forces_no_reformat():
    b = _Builder()
    a = b.op("Relu", "neck/a/act/Relu", [b.conv("neck/a/conv", b.qdq("x", "neck"))])
    scales = b.const("scales", np.array([1, 1, 2, 2], np.float32))
    up = b.op("Resize", "neck/Resize", [b.qdq(a, "neck"), "", scales], mode="nearest")
    y = b.conv("neck/b/conv", b.qdq(up, "neck"))
    report = placement_report(b.model([y]))
    assert _op(report, "neck/a/conv/Conv").output == "int8"
    assert _op(report, "neck/b/conv/Conv").int8 and not _inside(report)


def test_logits_conv_and_glimpse_stay_float_on_purpose():
    b = _Builder()
    tower = b.op("Relu", "heads.signs/tower/act/Relu", [b.conv("heads.signs/tower/conv", b.qdq("x", "heads.signs"))])
    heat = b.conv("heads.signs/heat", tower, quantized_weight=False)
    score = b.op("Sigmoid", "heads.signs/Sigmoid", [heat])
    glimpse = b.conv("heads.signs/glimpse/features/0/conv", "x", quantized_weight=False)
    report = placement_report(b.model([score, glimpse]))
    assert _op(report, "heads.signs/tower/conv/Conv").int8
    assert _op(report, "heads.signs/heat/Conv").reason.startswith("logits conv")
    assert _op(report, "heads.signs/glimpse/features/0/conv/Conv").reason.startswith("glimpse classifier")
    assert "heads.signs" in report.summary()


def test_weights_must_be_int8_per_channel_on_the_output_axis():
    b = _Builder()
    x = b.qdq("x", "neck")
    float_weights = b.conv("neck/a/conv", x, quantized_weight=False)
    wrong_axis = b.conv("neck/b/conv", x, axis=1)
    report = placement_report(b.model([float_weights, wrong_axis]))
    assert _op(report, "neck/a/conv/Conv").reason == "weights not quantized (float constant)"
    assert "axis 1; TensorRT needs axis 0" in _op(report, "neck/b/conv/Conv").reason


def test_conv_transpose_weights_take_axis_1():
    b = _Builder()
    w = b.weight("neck/up_w", (4, 4, 2, 2), axis=1)
    y = b.op("ConvTranspose", "neck/up/ConvTranspose", [b.qdq("x", "neck"), w], strides=[2, 2])
    report = placement_report(b.model([y]))
    assert _op(report, "neck/up/ConvTranspose").int8


def test_a_dequantized_tensor_read_by_a_float_op_is_a_reformat():
    b = _Builder()
    x = b.qdq("x", "neck")
    y = b.conv("neck/a/conv", x)
    z = b.op("Sigmoid", "neck/gate/Sigmoid", [x])  # reads the int8 tensor in float
    report = placement_report(b.model([y, z]))
    (r,) = _inside(report)
    assert r.direction == "int8->float" and r.consumers == ["neck/gate/Sigmoid"]


def test_a_concat_that_shares_one_scale_with_constant_channels_is_noted():
    b = _Builder()
    coords = b.const("coords", np.zeros((1, 2, 8, 8), np.float32))
    cat = b.op("Concat", "heads.lanes/Concat", [b.qdq("x", "heads.lanes"), coords], axis=1)
    w = b.weight("heads.lanes/project_w", (4, 6, 1, 1))
    y = b.op("Conv", "heads.lanes/project/conv/Conv", [b.qdq(cat, "heads.lanes"), w])
    report = placement_report(b.model([y]))
    assert "constant channels (coords)" in _op(report, "heads.lanes/project/conv/Conv").note


def test_cpu_flavour_is_reported_as_onnx_runtime_only():
    b = _Builder(zero_type=np.uint8)
    y = b.conv("backbone/a/conv", b.qdq("x", "backbone"))
    report = placement_report(b.model([y]))
    assert report.flavour == "cpu" and not report.ops
    assert "ONNX Runtime only; TensorRT rejects it" in report.summary() == f"INT8 placement: {CPU_NOTE}"
    json.dumps(report.to_dict())


def test_float_graph_has_nothing_to_place():
    b = _Builder()
    y = b.conv("backbone/a/conv", "x", quantized_weight=False)
    report = placement_report(b.model([y]))
    assert report.flavour == "float" and not report.ops and "no Q/DQ" in report.summary()


@pytest.fixture(scope="module")
def shipped_int8(tmp_path_factory) -> onnx.ModelProto:
    """The shipped checkpoint's TensorRT INT8 export, calibrated on 8 generated frames."""
    from mtl_edge.data.synth.writer import SynthOptions, generate
    from mtl_edge.export.exporter import export

    root = tmp_path_factory.mktemp("int8-placement")
    generate(root / "frames", 8, SynthOptions(seed=77, width=640, height=384), workers=1, progress=False)
    out = root / "int8.onnx"
    export(
        SHIPPED_CHECKPOINT, out, precision="int8", calib=root / "frames" / "images", calib_images=8,
        val_images=0, cache_dir=root / "cache",
    )  # fmt: skip
    return onnx.load(str(out))


def test_shipped_int8_upsamples_move_int8_and_lanes_features_keep_their_own_scale(shipped_int8):
    model = shipped_int8
    producer = {o: n for n in model.graph.node for o in n.output}
    upsamples = [
        n for n in model.graph.node if n.op_type == "Resize" and not n.name.startswith("heads.drivable/Resize")
    ]
    assert len(upsamples) == 4
    for n in upsamples:  # DQ before, Q after: TensorRT runs the nearest copy on int8 values
        assert producer[n.input[0]].op_type == "DequantizeLinear", n.name
    report = placement_report(model)
    assert report.flavour == "tensorrt"
    assert not [r for r in report.reformats if "Resize" in r.producer]
    assert all(o.output == "int8" for o in report.ops if o.owner == "neck")  # the convs before the upsamples too
    # the lanes coordinate channels are constants: their projection is a constant Add after the conv
    project = _op(report, "heads.lanes/project/conv/Conv")
    assert project.int8 and not project.note
    assert not [n for n in model.graph.node if n.op_type == "Concat" and n.name.startswith("heads.lanes/")]
    add = next(n for n in model.graph.node if n.name == "heads.lanes/project/conv/Add_constant_channels")
    conv = next(n for n in model.graph.node if n.name == "heads.lanes/project/conv/Conv")
    assert add.input[0] == conv.output[0]
    assert producer[conv.input[0]].op_type == "DequantizeLinear"  # the features alone, at their own scale
    summary = report.summary()
    assert "first conv reads the frame" in summary and "logits conv" in summary
