"""FP16 and INT8 versions of an exported FP32 graph: the precision lives in the graph.

Which nodes change precision follows the node names (see :mod:`mtl_edge.export.naming`) and
what each head declares about its modules (``Head.float_scopes``, written by the exporter into
the model metadata as ``float_scopes``: head -> {module path: role}):

- ``preprocess/...`` (uint8 -> float normalisation) stays float32;
- a head's ``"decode"`` scopes (by default ``""``, its own ops ``heads.<name>/<Op>`` outside any
  submodule: sigmoid, TopK, box suppression or peak max-pool, exp, softmax, argmax) stay
  float32, because an IoU or peak comparison, or a box ``exp``, is where reduced precision
  breaks results;
- its ``"logits"`` scopes (the output convs) and ``"float"`` scopes (e.g. the glimpse
  classifier) may run in FP16 but are left out of INT8;
- ``--keep HEAD`` keeps that head's whole sub-tree (tower and decode) at float32;
- everything else -- the convolution trunk, neck and head towers -- changes precision.

A graph without that metadata (hand-made) gets each head the default, ``{"": "decode"}``.

FP16 converts those nodes to float16 and puts a Cast on every edge that crosses the
region, so the graph's inputs and outputs keep their types. INT8 inserts Q/DQ pairs
(per-channel int8 weights) through ONNX Runtime's static quantizer, from activation
ranges measured here in one pass over the calibration frames (percentile or min/max)
and cached by the content of the graph and images. Two INT8 graphs: "tensorrt"
(symmetric, zero point 0, what TensorRT builds) and "cpu" (uint8 activations laid out
for ONNX Runtime's x86 kernels); see :func:`quantize_int8`.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from mtl_edge.export.calibration import (
    CALIBRATION_METHODS,
    DEFAULT_CALIBRATION_METHOD,
    CalibrationReader,
    cached_ranges,
    calibration_tensors,
)
from mtl_edge.export.naming import node_owner
from mtl_edge.export.qdq_placement import fold_constant_channels, quantize_upsample_inputs
from mtl_edge.export.qdq_rewrites import (
    adopt_unnamed,
    first_conv,
    first_convs,
    frame_normalisation,
    integer_logits,
    nhwc_upsamples,
    quantize_input_directly,
)

#: Ops converted to float16, and which of their inputs carry data (the rest keep their types).
FP16_INPUTS: dict[str, tuple[int, ...] | None] = {
    "Conv": None,  # None: every input
    "ConvTranspose": None,
    "Relu": None,
    "Add": None,
    "Mul": None,
    "Concat": None,
    "MaxPool": (0,),
    "AveragePool": (0,),
    "GlobalAveragePool": (0,),
    "Resize": (0,),
    "Clip": None,
}
#: Ops given Q/DQ in INT8 graphs (the rest of the trunk runs in float between them).
INT8_OPS = ("Conv", "ConvTranspose", "Add", "Concat", "Resize", "MaxPool")
FP32_OWNERS = ("preprocess", "graph")
#: What a head's modules may be declared as (``Head.float_scopes``), and the role of unlisted ones.
SCOPE_ROLES = ("decode", "logits", "float")
#: A head that declares nothing: its own ops are its decode.
DEFAULT_SCOPES: dict[str, str] = {"": "decode"}
#: head -> {module path relative to the head: role}
FloatScopes = Mapping[str, Mapping[str, str]]


def head_of(node_name: str) -> str | None:
    """``heads.signs/tower/0/conv/Conv`` -> ``signs``; None outside the heads."""
    owner = node_owner(node_name)
    return owner.split(".", 1)[1] if owner.startswith("heads.") else None


def float_scopes(model: onnx.ModelProto) -> dict[str, dict[str, str]]:
    """The heads' declared float scopes, from the model metadata (``{}`` when it has none)."""
    props = {p.key: p.value for p in model.metadata_props}
    scopes = json.loads(props["mtl_edge"]).get("float_scopes", {}) if "mtl_edge" in props else {}
    for head, declared in scopes.items():
        for scope, role in declared.items():
            if role not in SCOPE_ROLES:
                raise ValueError(f"head {head!r} declares scope {scope!r} as {role!r}; roles are {SCOPE_ROLES}")
    return scopes


def scope_role(node_name: str, scopes: FloatScopes | None = None) -> str | None:
    """The role (``"decode"``, ``"logits"``, ``"float"``) of the head scope a node lies in; None elsewhere.

    A node ``heads.<name>/<module path>/<Op>`` lies in scope ``""`` when it has no module path
    (the head's own ops) and in scope ``"a.b"`` when its module path is ``a/b`` or below it.
    The most float role wins where scopes nest.
    """
    head = head_of(node_name)
    if head is None:
        return None
    path = "/".join(node_name.split("/")[1:-1])
    roles = set()
    for scope, role in (scopes or {}).get(head, DEFAULT_SCOPES).items():
        scope = scope.replace(".", "/")
        if path == scope or (scope and path.startswith(scope + "/")):
            roles.add(role)
    return next((r for r in SCOPE_ROLES if r in roles), None)


def is_decode(node_name: str, scopes: FloatScopes | None = None) -> bool:
    """Part of a head's in-graph decode (a ``"decode"`` scope: by default the head's own ops)."""
    return scope_role(node_name, scopes) == "decode"


def reduced_precision_nodes(
    model: onnx.ModelProto, ops: Iterable[str], keep: Sequence[str] = (), only_heads: Sequence[str] | None = None
) -> list[str]:
    """Names of the nodes that may run below float32: trunk and head towers, not decode or kept heads.

    ``only_heads`` limits the choice to those heads' towers (the trunk is left alone).
    """
    wanted = set(ops)
    scopes = float_scopes(model)
    return [
        n.name
        for n in model.graph.node
        if n.op_type in wanted
        and node_owner(n.name) not in FP32_OWNERS
        and not is_decode(n.name, scopes)
        and head_of(n.name) not in keep
        and (only_heads is None or head_of(n.name) in only_heads)
    ]


def logits_convs(model: onnx.ModelProto) -> set[str]:
    """The heads' output convs (their ``"logits"`` scopes).

    INT8 leaves them in float: logits rounded to 256 levels would tie neighbouring
    cells in the peak test and coarsen every score.
    """
    scopes = float_scopes(model)
    return {n.name for n in model.graph.node if n.op_type == "Conv" and scope_role(n.name, scopes) == "logits"}


def int8_float_nodes(model: onnx.ModelProto) -> set[str]:
    """Nodes of the heads' ``"float"`` scopes (e.g. the glimpse classifiers): FP16 at most, never INT8."""
    scopes = float_scopes(model)
    return {n.name for n in model.graph.node if scope_role(n.name, scopes) == "float"}


def check_keep(keep: Sequence[str], heads: Iterable[str]) -> list[str]:
    """Validate ``--keep`` head names against the model's heads."""
    known = list(heads)
    unknown = [h for h in keep if h not in known]
    if unknown:
        raise ValueError(f"--keep {', '.join(unknown)}: no such head in this model; its heads are {', '.join(known)}.")
    return list(keep)


def to_float16(
    model: onnx.ModelProto, keep: Sequence[str] = (), only_heads: Sequence[str] | None = None
) -> onnx.ModelProto:
    """A copy of ``model`` whose trunk and head towers compute in float16 (I/O and decode stay float32).

    ``keep`` heads stay float32; ``only_heads`` converts just those heads' towers.
    """
    src = model.graph
    half_nodes = set(reduced_precision_nodes(model, FP16_INPUTS, keep, only_heads))
    inits = {t.name: t for t in src.initializer}
    half_outputs = {o for n in src.node if n.name in half_nodes for o in n.output}
    graph_outputs = {o.name for o in src.output}
    fp32_consumed = {i for n in src.node if n.name not in half_nodes for i in n.input} | graph_outputs

    new_inits: dict[str, onnx.TensorProto] = {}
    casts_in: dict[str, str] = {}
    nodes: list[onnx.NodeProto] = []

    def half_name(tensor: str) -> str:
        return f"{tensor}__fp16"

    for node in src.node:
        if node.name not in half_nodes:
            nodes.append(node)
            continue
        data = FP16_INPUTS[node.op_type]
        new = onnx.NodeProto()
        new.CopyFrom(node)
        for k, name in enumerate(node.input):
            if not name or (data is not None and k not in data):
                continue
            if name in half_outputs:
                new.input[k] = half_name(name)
            elif name in inits:
                if half_name(name) not in new_inits:
                    arr = numpy_helper.to_array(inits[name])
                    if arr.dtype != np.float32:
                        continue
                    new_inits[half_name(name)] = numpy_helper.from_array(arr.astype(np.float16), half_name(name))
                new.input[k] = half_name(name)
            else:
                if name not in casts_in:
                    casts_in[name] = half_name(name)
                    nodes.append(
                        helper.make_node(
                            "Cast", [name], [half_name(name)], name=f"{node.name}/to_fp16_{k}", to=TensorProto.FLOAT16
                        )
                    )
                new.input[k] = half_name(name)
        for k, name in enumerate(node.output):
            new.output[k] = half_name(name)
        nodes.append(new)
        for name in node.output:
            if name in fp32_consumed:
                back = f"{node.name}/to_fp32"
                nodes.append(helper.make_node("Cast", [half_name(name)], [name], name=back, to=TensorProto.FLOAT))

    used = {i for n in nodes for i in n.input}
    initializers = [t for t in src.initializer if t.name in used] + [t for t in new_inits.values() if t.name in used]
    graph = helper.make_graph(nodes, src.name, list(src.input), list(src.output), initializers)
    out = helper.make_model(graph, opset_imports=list(model.opset_import), ir_version=model.ir_version)
    out.metadata_props.extend(model.metadata_props)
    return onnx.shape_inference.infer_shapes(out, strict_mode=True)


def _copy(model: onnx.ModelProto) -> onnx.ModelProto:
    out = onnx.ModelProto()
    out.CopyFrom(model)
    return out


def quantize_int8(
    model: onnx.ModelProto,
    images: Sequence[Path],
    input_hw: tuple[int, int],
    batch: int,
    cache_dir: Path,
    keep: Sequence[str] = (),
    target: str = "tensorrt",
    method: str = DEFAULT_CALIBRATION_METHOD,
    float_nodes: Sequence[str] | None = None,
) -> tuple[onnx.ModelProto, bool]:
    """Insert Q/DQ into ``model``; returns the quantized model and whether cached ranges were reused.

    ``target="tensorrt"``: int8 activations with zero point 0 (symmetric), as TensorRT
    requires; Q/DQ sit on the inputs of convs, adds, concats and resizes only, so a conv's
    output is not rounded before its ReLU (TensorRT fuses the two and quantizes after).
    Two placement fixes follow NVIDIA's explicit-quantization rules (see
    :mod:`~mtl_edge.export.int8_placement`): each 2x nearest upsample gets a Q/DQ on its
    input too (:func:`quantize_upsample_inputs`), so the conv before it writes int8 and the
    copy moves int8; and constant channels concatenated before a conv (the lanes head's
    x/y coordinates) are folded into a constant Add after it (:func:`fold_constant_channels`),
    so the conv quantizes its features at their own scale instead of one scale shared with
    [-1, 1] coordinates. The CPU graph keeps that Concat: the fold would put a float conv
    and ReLU into its uint8 chain (docs/experiments.md has the measurement).
    ``target="cpu"``: uint8 activations with a zero
    point, which ONNX Runtime's x86 kernels run fastest; each ReLU is folded into the
    quantization of its conv's output (a uint8 range that starts at 0), so one conv
    feeds the next in uint8 with no float step between, the input frame itself is
    the first conv's uint8 input, and the logits convs read their uint8 features
    through ``ConvInteger`` (:func:`integer_logits`); its 2x nearest upsamples become NHWC
    pixel copies (:func:`nhwc_upsamples`). TensorRT rejects that graph. Weights are int8,
    symmetric and per output channel in both. ``float_nodes`` are left in float as well
    as the heads' logits convs and the ``keep`` heads; None means the default below.

    ``method="percentile"`` clips each activation's range to the 99.999th percentile of
    its magnitudes, except the features the logits convs read, which keep their full
    range: a small sign's peak is exactly such a rare large value.
    ``method="minmax"``, the default, keeps every range whole (see
    :data:`~mtl_edge.export.calibration.DEFAULT_CALIBRATION_METHOD` for why).

    The first conv, the one that reads the frame, is the sensitive one: its input spans
    all 256 levels, and x86 int8 kernels without VNNI add pairs of u8 x s8 products in
    int16, which saturates there (it was most of the INT8 error; docs/experiments.md). So the
    CPU graph stores that conv's weights as uint8 (ONNX Runtime's u8u8 kernel does not
    saturate), and the TensorRT graph, whose int8 activations cannot hold the frame's
    256 levels anyway, keeps that one conv in float by default (a 3-channel conv: on a
    GPU it costs little either way).

    The heads' ``"float"`` scopes stay float in both. The detection heads declare their
    glimpse classifiers so (``heads.<name>/glimpse/...``): they read full-range pixel crops
    (the first conv's problem again), their outputs are the detection scores and box
    corrections themselves, and they are 2% of the FLOPs (what int8 glimpses cost is in
    docs/experiments.md).
    """
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.calibrate import TensorData, TensorsData, save_tensors_data

    if target not in ("tensorrt", "cpu"):
        raise ValueError(f"INT8 target must be 'tensorrt' or 'cpu', got {target!r}")
    if method not in CALIBRATION_METHODS:
        raise ValueError(f"calibration method must be one of {', '.join(CALIBRATION_METHODS)}, got {method!r}")
    model = _copy(model)
    constant_terms = set(fold_constant_channels(model)) if target == "tensorrt" else set()
    first = first_conv(model)
    if float_nodes is None:
        float_nodes = first_convs(model, 1) if target == "tensorrt" else []
    convs = {n.name for n in model.graph.node if n.op_type == "Conv"}
    logits = logits_convs(model) & convs
    skip = logits | set(float_nodes) | int8_float_nodes(model) | constant_terms
    ops = INT8_OPS + (("Relu",) if target == "cpu" else ())
    nodes = [n for n in reduced_precision_nodes(model, ops, keep) if n not in skip]
    if target == "cpu":  # a ReLU is folded only into a quantized conv; alone it would gain a Q/DQ pair
        producer = {o: n.name for n in model.graph.node for o in n.output}
        relu_inputs = {n.name: n.input[0] for n in model.graph.node if n.op_type == "Relu"}
        nodes = [n for n in nodes if n not in relu_inputs or producer.get(relu_inputs[n]) in nodes]
    reader = CalibrationReader(images, input_hw, batch, model.graph.input[0].name)
    measured, reused = cached_ranges(model, calibration_tensors(model, nodes), reader, cache_dir)
    ranges = dict(measured[method])
    for t in {i for n in model.graph.node if n.name in logits for i in n.input} & set(ranges):
        ranges[t] = measured["minmax"][t]  # what the logits convs read keeps its full range
    frame = frame_normalisation(model) if target == "cpu" else None
    if frame is not None and frame[0] in ranges:
        name, s, zero = frame
        ranges[name] = (-zero * s, (255 - zero) * s)
    else:
        frame = None
    overrides = {}
    if target == "cpu" and first in nodes:
        weight = next(n.input[1] for n in model.graph.node if n.name == first)
        overrides[weight] = [{"quant_type": QuantType.QUInt8, "axis": 0}]
    with tempfile.TemporaryDirectory(prefix="mtl-edge-int8-") as tmp:
        src, dst, table = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx", Path(tmp) / "ranges.json"
        onnx.save(model, src)
        data = {t: TensorData(lowest=np.float32(lo), highest=np.float32(hi)) for t, (lo, hi) in ranges.items()}
        save_tensors_data(TensorsData(CalibrationMethod.MinMax, data), table)
        quantize_static(
            str(src),
            str(dst),
            None,
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QInt8 if target == "tensorrt" else QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            nodes_to_quantize=nodes,
            op_types_to_quantize=list(ops),
            calibrate_method=CalibrationMethod.MinMax,
            # TensorRT's explicit quantization is int8 only: biases stay float (it folds them into the conv).
            extra_options={
                "ActivationSymmetric": target == "tensorrt",
                "WeightSymmetric": True,
                "QuantizeBias": target == "cpu",
                "TensorQuantOverrides": overrides,
                # TensorRT: Q/DQ on conv inputs only; it fuses conv + ReLU and quantizes after the ReLU.
                "OpTypesToExcludeOutputQuantization": ["Conv"] if target == "tensorrt" else [],
            },
            calibration_cache_path=str(table),
        )
        out = onnx.load(str(dst))
    if frame is not None:
        quantize_input_directly(out, frame[0])
    if target == "cpu":
        integer_logits(out, logits - set(float_nodes))
        nhwc_upsamples(out)
    else:
        quantize_upsample_inputs(out)
    adopt_unnamed(out)
    return out, reused


__all__ = [
    "to_float16",
    "quantize_int8",
    "check_keep",
    "reduced_precision_nodes",
    "is_decode",
    "head_of",
    "scope_role",
    "float_scopes",
    "logits_convs",
]
