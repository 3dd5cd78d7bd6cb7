"""FP16 and INT8 graphs: what changes precision, what stays float32, and the calibration cache."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, numpy_helper

from mtl_edge.export.compat import CompatibilityError, require_compatible
from mtl_edge.export.onnx import export_graph, finalize, model_metadata, simplify
from mtl_edge.export.precision import (
    float_scopes,
    head_of,
    is_decode,
    logits_convs,
    quantize_int8,
    scope_role,
    to_float16,
)
from mtl_edge.export.qdq_rewrites import first_conv, frame_normalisation
from mtl_edge.models.loading import load_model

HW = (128, 224)


@pytest.fixture(scope="module")
def fp32(tiny_run):
    net, _ = load_model(tiny_run / "best.pt")
    graph, _ = simplify(export_graph(net, HW))
    return finalize(graph, model_metadata(net, HW, "fp32", "ab" * 32, 1))


@pytest.fixture(scope="module")
def calib(tiny_data):
    return sorted((tiny_data[0] / "images").glob("*.jpg"))[:4]


def _run(model: onnx.ModelProto, images: np.ndarray) -> dict[str, np.ndarray]:
    s = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in s.get_outputs()], s.run(None, {"images": images})))


def _types(model: onnx.ModelProto) -> dict[str, int]:
    inferred = onnx.shape_inference.infer_shapes(model)
    vis = list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output)
    return {v.name: v.type.tensor_type.elem_type for v in vis}


def test_names_tell_decode_from_towers():
    assert is_decode("heads.vehicles/TopK") and head_of("heads.vehicles/TopK") == "vehicles"
    assert not is_decode("heads.signs/tower/0/conv/Conv") and head_of("backbone/stem/Conv") is None


def test_the_exported_metadata_carries_each_heads_float_scopes(fp32):
    scopes = float_scopes(fp32)
    assert scopes["drivable"] == {"": "decode", "classify": "logits"}
    assert scopes["signs"]["glimpse"] == "float" and scopes["signs"][""] == "decode"
    assert scope_role("heads.signs/glimpse/features/0/conv/Conv", scopes) == "float"
    assert scope_role("heads.signs/heat/Conv", scopes) == "logits"
    assert scope_role("heads.signs/tower/0/conv/Conv", scopes) is None and scope_role("neck/Add", scopes) is None


def _toy_head_graph(scopes: dict | None) -> onnx.ModelProto:
    """heads.toy: a tower conv, then a decode that lives in the submodule ``decoder`` (a Mul)."""
    from onnx import helper

    w = numpy_helper.from_array(np.ones((2, 2, 1, 1), np.float32), "w")
    k = numpy_helper.from_array(np.full((1,), 0.5, np.float32), "k")
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["t"], name="heads.toy/tower/Conv"),
        helper.make_node("Mul", ["t", "k"], ["y"], name="heads.toy/decoder/Mul"),
    ]
    vi = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 2, 4, 4]) for n in ("x", "y")]
    graph = helper.make_graph(nodes, "toy", [vi[0]], [vi[1]], [w, k])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    if scopes is not None:
        finalize(model, {"float_scopes": {"toy": scopes}})
    return model


def test_a_heads_declared_decode_scope_stays_float32_even_in_a_submodule():
    def weight_and_mul_types(model):
        half = to_float16(model)
        inits = {t.name: t.data_type for t in half.graph.initializer}
        conv = next(n for n in half.graph.node if n.name == "heads.toy/tower/Conv")
        mul = next(n for n in half.graph.node if n.name == "heads.toy/decoder/Mul")
        return inits[conv.input[1]], inits[mul.input[1]]

    declared = _toy_head_graph({"": "decode", "decoder": "decode"})
    assert is_decode("heads.toy/decoder/Mul", float_scopes(declared))
    assert weight_and_mul_types(declared) == (TensorProto.FLOAT16, TensorProto.FLOAT)  # tower half, decode float32
    # Undeclared, a decode in a submodule looks like tower: it would be converted, which is why heads declare it.
    assert weight_and_mul_types(_toy_head_graph(None)) == (TensorProto.FLOAT16, TensorProto.FLOAT16)


def test_fp16_converts_towers_and_keeps_io_decode_and_kept_heads_float32(fp32):
    half = to_float16(fp32, keep=["lanes"])
    onnx.checker.check_model(half, full_check=True)
    require_compatible(half)
    types = _types(half)
    assert [types[o.name] for o in half.graph.output] == [types[o.name] for o in fp32.graph.output]
    convs = [n for n in half.graph.node if n.op_type == "Conv"]
    inits = {t.name: t.data_type for t in half.graph.initializer}
    for n in convs:
        want = TensorProto.FLOAT if head_of(n.name) == "lanes" else TensorProto.FLOAT16
        assert inits[n.input[1]] == want, n.name
    for n in half.graph.node:
        if is_decode(n.name) or n.name.startswith(("preprocess/", "heads.lanes/")):
            floats = [types.get(t) for t in n.input if types.get(t) in (TensorProto.FLOAT, TensorProto.FLOAT16)]
            assert TensorProto.FLOAT16 not in floats, n.name  # decode and kept heads compute in float32


def test_fp16_outputs_track_fp32(fp32, tiny_data):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (1, *HW, 3), dtype=np.uint8)
    a, b = _run(fp32, images), _run(to_float16(fp32), images)
    assert np.abs(a["lanes.score"] - b["lanes.score"]).max() < 2e-2
    assert np.abs(np.sort(a["vehicles.scores"]) - np.sort(b["vehicles.scores"])).max() < 2e-2
    assert (a["drivable.mask"] != b["drivable.mask"]).mean() < 0.02


def _zero_points(model: onnx.ModelProto) -> list[np.ndarray]:
    consts = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    return [consts[n.input[2]] for n in model.graph.node if n.op_type == "QuantizeLinear" and len(n.input) > 2]


def test_int8_for_tensorrt_is_symmetric_per_channel_and_leaves_decode_alone(fp32, calib, tmp_path):
    q, reused = quantize_int8(fp32, calib, HW, 1, tmp_path, keep=["signs"])
    assert not reused and len(list(tmp_path.glob("ranges-*.json"))) == 1
    require_compatible(finalize(q, {"precision": "int8"}))  # zero points 0, ops TensorRT parses
    zps = _zero_points(q)
    assert zps and all(z.dtype == np.int8 and not z.any() for z in zps)
    consts = {t.name: numpy_helper.to_array(t) for t in q.graph.initializer}
    weight_dq = [n for n in q.graph.node if n.op_type == "DequantizeLinear" and consts.get(n.input[0]) is not None]
    per_channel = [n for n in weight_dq if consts[n.input[1]].size > 1 and consts[n.input[0]].dtype == np.int8]
    assert per_channel  # conv weights stored as int8, one scale per output channel
    dq_outputs = {n.output[0] for n in q.graph.node if n.op_type == "DequantizeLinear"}
    for n in q.graph.node:
        if is_decode(n.name) and n.op_type in ("Sigmoid", "Exp", "Softmax", "MaxPool", "ArgMax", "TopK"):
            assert not dq_outputs.intersection(n.input), n.name  # logits reach the decode in float32
        if n.op_type == "Conv" and head_of(n.name) == "signs":  # the kept head's weights stay float32
            assert consts[n.input[1]].dtype == np.float32, n.name
    assert all("/" in n.name for n in q.graph.node)  # quantizer's nodes adopted by an owner (profiling)
    _, reused = quantize_int8(fp32, calib, HW, 1, tmp_path, keep=["signs"])
    assert reused  # same graph and images: ranges from the cache


def test_int8_for_cpu_uses_uint8_activations_that_tensorrt_rejects(fp32, calib, tmp_path):
    q, _ = quantize_int8(fp32, calib, HW, 1, tmp_path, target="cpu")
    assert any(z.dtype == np.uint8 for z in _zero_points(q))
    with pytest.raises(CompatibilityError, match="zero point"):
        require_compatible(finalize(q, {"precision": "int8"}))
    images = np.random.default_rng(1).integers(0, 255, (1, *HW, 3), dtype=np.uint8)
    assert set(_run(q, images)) == {o.name for o in fp32.graph.output}


def _weight_dtype(model: onnx.ModelProto, conv: str) -> np.dtype:
    """Storage type of a conv's weights: float32, or the integer type behind its DequantizeLinear."""
    consts = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    producer = {o: n for n in model.graph.node for o in n.output}
    weight = next(n.input[1] for n in model.graph.node if n.name == conv)
    dq = producer.get(weight)
    return consts[dq.input[0]].dtype if dq is not None else consts[weight].dtype


def test_cpu_graph_reads_the_frame_as_uint8_and_folds_relus_into_its_convs(fp32, calib, tmp_path):
    assert frame_normalisation(fp32) is not None  # one scale and shift for all channels
    q, _ = quantize_int8(fp32, calib, HW, 1, tmp_path, target="cpu")
    owners = {n.name.split("/", 1)[0] for n in q.graph.node if n.op_type in ("Cast", "Mul", "Add")}
    assert "preprocess" not in owners  # no float normalisation left
    first = next(n for n in q.graph.node if n.name == first_conv(fp32))
    producer = {o: n for n in q.graph.node for o in n.output}
    dq = producer[first.input[0]]
    assert dq.op_type == "DequantizeLinear" and producer[dq.input[0]].input[0] == "images"
    assert _weight_dtype(q, first.name) == np.uint8  # u8u8 kernel: no int16 saturation on the frame
    assert _weight_dtype(q, "backbone/stages/1/0/reparam/Conv") == np.int8
    backbone_relus = [n.name for n in q.graph.node if n.op_type == "Relu" and n.name.startswith("backbone/")]
    assert not backbone_relus  # each ReLU became its conv's uint8 output range
    images = np.random.default_rng(2).integers(0, 255, (1, *HW, 3), dtype=np.uint8)
    a, b = _run(fp32, images), _run(q, images)
    assert (a["drivable.mask"] != b["drivable.mask"]).mean() < 0.1


def test_cpu_graph_computes_logits_from_uint8_features_without_rounding_them(fp32, calib, tmp_path):
    q, _ = quantize_int8(fp32, calib, HW, 1, tmp_path, target="cpu")
    integer = {n.name.rsplit("/", 1)[0] for n in q.graph.node if n.op_type == "ConvInteger"}
    logits = logits_convs(fp32)
    assert logits and integer == logits  # every logits conv, nothing else
    producer = {o: n.name for n in fp32.graph.node for o in n.output}
    feeding_decode = {producer[i] for n in fp32.graph.node if is_decode(n.name) for i in n.input if i in producer}
    assert logits == {n.name for n in fp32.graph.node if n.op_type == "Conv"} & feeding_decode  # as declared
    producer = {o: n for n in q.graph.node for o in n.output}
    for name in integer:
        out = next(n for n in fp32.graph.node if n.name == name).output[0]
        assert producer[out].op_type == "Add"  # float32 logits: scale and bias after the int32 sums
        assert not [n for n in q.graph.node if n.op_type == "QuantizeLinear" and n.input[0] == out]


def test_a_per_channel_normalisation_keeps_the_float_preprocess(fp32):
    model = onnx.ModelProto()
    model.CopyFrom(fp32)
    scale = next(t for t in model.graph.initializer if t.name == "preprocess.scale")
    scale.CopyFrom(numpy_helper.from_array(np.array([0.017, 0.0175, 0.0174], np.float32), scale.name))
    assert frame_normalisation(model) is None


def test_tensorrt_graph_keeps_the_first_conv_float_unless_told(fp32, calib, tmp_path):
    q, _ = quantize_int8(fp32, calib, HW, 1, tmp_path)
    first = first_conv(fp32)
    assert first == "backbone/stem/conv/Conv" and _weight_dtype(q, first) == np.float32
    q, _ = quantize_int8(fp32, calib, HW, 1, tmp_path, float_nodes=[])
    assert _weight_dtype(q, first) == np.int8
    require_compatible(finalize(q, {"precision": "int8"}))


def test_one_calibration_pass_serves_both_methods(fp32, calib, tmp_path):
    _, reused = quantize_int8(fp32, calib, HW, 1, tmp_path, method="percentile")
    assert not reused
    _, reused = quantize_int8(fp32, calib, HW, 1, tmp_path, method="minmax")
    assert reused
    with pytest.raises(ValueError, match="percentile"):
        quantize_int8(fp32, calib, HW, 1, tmp_path, method="entropy")


def test_cpu_graph_has_no_float_relu_or_requantize_step_in_its_towers(fp32, calib, tmp_path):
    q, _ = quantize_int8(fp32, calib, HW, 1, tmp_path, target="cpu")
    relus = [n.name for n in q.graph.node if n.op_type == "Relu"]
    assert relus and all("/glimpse/" in r for r in relus)  # all folded but the float glimpse CNN's own
    producer = {o: n for n in q.graph.node for o in n.output}
    requantized = [
        n.name
        for n in q.graph.node
        if n.op_type == "QuantizeLinear" and producer.get(n.input[0], n).op_type == "DequantizeLinear"
    ]
    assert not requantized
    modes = [a.s for n in q.graph.node if n.op_type == "Resize" for a in n.attribute if a.name == "mode"]
    assert b"nearest" not in modes  # the 2x upsamples are NHWC copies; the drivable logits' linear Resize stays


@pytest.mark.parametrize("target", ["tensorrt", "cpu"])
def test_int8_leaves_the_glimpse_classifiers_float(fp32, calib, tmp_path, target):
    glimpse_convs = [n.name for n in fp32.graph.node if "/glimpse/" in n.name and n.op_type == "Conv"]
    assert glimpse_convs  # the tiny recipe's signs head has a glimpse
    q, _ = quantize_int8(fp32, calib, HW, 1, tmp_path, target=target)
    consts = {t.name: numpy_helper.to_array(t) for t in q.graph.initializer}
    dq_outputs = {n.output[0] for n in q.graph.node if n.op_type == "DequantizeLinear"}
    for n in q.graph.node:
        if n.name in glimpse_convs:
            assert n.op_type == "Conv" and consts[n.input[1]].dtype == np.float32, n.name
            assert not dq_outputs.intersection(n.input[:1]), n.name  # fed float, not a dequantized tensor


def test_tensorrt_graph_quantizes_upsample_inputs_and_folds_the_lanes_coordinates(fp32, calib, tmp_path):
    before = fp32.SerializeToString()
    q, _ = quantize_int8(fp32, calib, HW, 1, tmp_path)
    assert fp32.SerializeToString() == before  # the FP32 graph itself is left as it was
    producer = {o: n for n in q.graph.node for o in n.output}
    upsamples = [n for n in q.graph.node if n.op_type == "Resize" and not is_decode(n.name)]
    assert upsamples
    for n in upsamples:  # DQ before and Q after: TensorRT moves int8 across the nearest copy
        assert producer[n.input[0]].op_type == "DequantizeLinear", n.name
    project = next(n for n in q.graph.node if n.name == "heads.lanes/project/conv/Conv")
    assert producer[project.input[0]].op_type == "DequantizeLinear"  # features alone, not a Concat with coordinates
    assert not [n for n in q.graph.node if n.op_type == "Concat" and head_of(n.name) == "lanes"]
    images = np.random.default_rng(4).integers(0, 255, (1, *HW, 3), dtype=np.uint8)
    a, b = _run(fp32, images), _run(q, images)
    assert np.abs(a["lanes.score"] - b["lanes.score"]).max() < 0.1
