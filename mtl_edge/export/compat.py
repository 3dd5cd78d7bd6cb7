"""Static TensorRT-compatibility check of an ONNX graph, run on every export.

The rules follow onnx-tensorrt's supported-operator matrix. They are the conservative
intersection that TensorRT 10 (JetPack 6) and TensorRT 11 both parse, so a graph that
passes here builds on either without plugins. It checks: the opset, each op and its
restricted attributes, Q/DQ zero points (TensorRT needs symmetric quantization), the
dtypes of graph inputs and outputs, and that shapes are static (except a requested
dynamic batch).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper

#: TensorRT 10 parses opsets 9 to 20.
OPSET_RANGE = (9, 20)
#: Ops both ONNX Runtime and TensorRT run natively (no plugins), from onnx-tensorrt's matrix
#: (GridSample: FP32/FP16, 4-D input only, TensorRT's IGridSampleLayer).
SUPPORTED_OPS = frozenset(
    "Abs Add And ArgMax ArgMin AveragePool BatchNormalization Cast Ceil Clip Concat Constant ConstantOfShape Conv "
    "ConvTranspose Cos DepthToSpace DequantizeLinear Div Elu Equal Erf Exp Expand Flatten Floor Gather "
    "GatherElements GatherND Gemm GlobalAveragePool GlobalMaxPool Greater GreaterOrEqual GridSample HardSigmoid "
    "HardSwish "
    "Identity LeakyRelu Less LessOrEqual Log LogSoftmax MatMul Max MaxPool Mean Min Mul Neg Not Or Pad Pow PRelu "
    "QuantizeLinear Range ReduceL2 ReduceMax ReduceMean ReduceMin ReduceProd ReduceSum Relu Reshape Resize Round "
    "Shape Sigmoid Sign Sin Slice Softmax Softplus SpaceToDepth Split Sqrt Squeeze Sub Sum Tanh Tile TopK Transpose "
    "Unsqueeze Where".split()
)
#: dtypes TensorRT can bind as network inputs and outputs.
BINDABLE = {
    TensorProto.FLOAT: "float32",
    TensorProto.FLOAT16: "float16",
    TensorProto.INT32: "int32",
    TensorProto.INT64: "int64",
    TensorProto.UINT8: "uint8",
    TensorProto.INT8: "int8",
    TensorProto.BOOL: "bool",
    TensorProto.BFLOAT16: "bfloat16",
}
#: TensorRT's largest TopK.
MAX_TOPK = 3840


@dataclass(frozen=True)
class Violation:
    """One reason the graph would not build on TensorRT."""

    node: str
    problem: str
    fix: str

    def __str__(self) -> str:
        return f"{self.node}: {self.problem} Fix: {self.fix}"


class CompatibilityError(ValueError):
    """The exported graph would not build on TensorRT 10/11."""

    def __init__(self, violations: list[Violation]):
        self.violations = violations
        lines = "\n  ".join(str(v) for v in violations[:20])
        more = f"\n  (+{len(violations) - 20} more)" if len(violations) > 20 else ""
        super().__init__(f"the graph would not build on TensorRT 10/11:\n  {lines}{more}")


def _constants(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    values = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    values[node.output[0]] = numpy_helper.to_array(attr.t)
        elif node.op_type == "DequantizeLinear" and node.input[0] in values:
            # Q/DQ weights: TensorRT folds DQ(constant) into the layer. The stored (quantized)
            # array stands in for the value: the rules only need to know it is constant.
            values[node.output[0]] = values[node.input[0]]
    return values


def _attr(node: onnx.NodeProto, name: str, default: object = None) -> object:
    for a in node.attribute:
        if a.name == name:
            value = onnx.helper.get_attribute_value(a)
            return value.decode() if isinstance(value, bytes) else value
    return default


def _check_node(node: onnx.NodeProto, consts: dict[str, np.ndarray]) -> list[Violation]:
    name, op = node.name or node.output[0], node.op_type
    out: list[Violation] = []
    if node.domain not in ("", "ai.onnx"):
        return [
            Violation(
                name,
                f"custom-domain op {node.domain}::{op} needs a TensorRT plugin.",
                "express it with standard ONNX ops",
            )
        ]
    if op not in SUPPORTED_OPS:
        return [
            Violation(
                name,
                f"op {op} is not in TensorRT's native ONNX operator set.",
                "rewrite that part of the model with supported ops (see onnx-tensorrt operators.md)",
            )
        ]
    if op == "TopK":
        k = consts.get(node.input[1]) if len(node.input) > 1 else None
        if k is None:
            out.append(
                Violation(
                    name,
                    "TopK's K is computed at run time; TensorRT needs a constant.",
                    "use a fixed top_k in the head config",
                )
            )
        elif int(np.asarray(k).reshape(-1)[0]) > MAX_TOPK:
            out.append(
                Violation(
                    name,
                    f"TopK K={int(k.reshape(-1)[0])} exceeds TensorRT's {MAX_TOPK}.",
                    f"set the head's top_k to at most {MAX_TOPK}",
                )
            )
    elif op == "Resize":
        mode = _attr(node, "mode", "nearest")
        ctm = _attr(node, "coordinate_transformation_mode", "half_pixel")
        if mode not in ("nearest", "linear"):
            out.append(Violation(name, f"Resize mode {mode!r} is not supported.", "use nearest or (bi)linear"))
        if ctm not in ("half_pixel", "pytorch_half_pixel", "tf_half_pixel_for_nn", "asymmetric", "align_corners"):
            out.append(
                Violation(
                    name,
                    f"Resize coordinate_transformation_mode {ctm!r} is not supported.",
                    "use align_corners=False (half_pixel) or nearest upsampling",
                )
            )
    elif op == "MaxPool" and len(node.output) > 1 and node.output[1]:
        out.append(Violation(name, "MaxPool's Indices output is not supported.", "do not use return_indices"))
    elif op in ("QuantizeLinear", "DequantizeLinear"):
        zp = consts.get(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        if zp is not None and np.any(zp != 0):
            out.append(
                Violation(
                    name,
                    "Q/DQ zero point is not 0; TensorRT takes symmetric quantization only.",
                    "quantize with symmetric activations and weights (zero point 0)",
                )
            )
        if zp is not None and zp.dtype not in (np.int8,) and zp.size:
            out.append(
                Violation(
                    name,
                    f"Q/DQ is {zp.dtype}; TensorRT's explicit quantization is int8.",
                    "quantize to int8 (QInt8), not uint8",
                )
            )
    elif op in ("Unsqueeze", "Squeeze", "Slice"):
        axes = (
            node.input[3]
            if op == "Slice" and len(node.input) > 3
            else node.input[1]
            if op != "Slice" and len(node.input) > 1
            else ""
        )
        if axes and axes not in consts:
            out.append(Violation(name, f"{op} axes are computed at run time.", "use constant axes"))
    elif op == "Conv" and node.input[1] not in consts:
        out.append(Violation(name, "Conv weights are not a constant initializer.", "keep weights as parameters"))
    return out


def _check_io(value: onnx.ValueInfoProto, kind: str, dynamic_batch: bool) -> list[Violation]:
    out = []
    t = value.type.tensor_type
    if t.elem_type not in BINDABLE:
        out.append(
            Violation(
                f"{kind} {value.name}",
                f"dtype {TensorProto.DataType.Name(t.elem_type)} cannot be bound.",
                "cast it to float32, float16, int32 or uint8 in the graph",
            )
        )
    for i, dim in enumerate(t.shape.dim):
        if dim.HasField("dim_value"):
            continue
        if i == 0 and dynamic_batch:
            continue
        out.append(
            Violation(
                f"{kind} {value.name}",
                f"dimension {i} is not static ({dim.dim_param or '?'}).",
                "export with a fixed --imgsz and --batch (or --batch dynamic for the batch only)",
            )
        )
    return out


def check(model: onnx.ModelProto, dynamic_batch: bool = False) -> list[Violation]:
    """Every TensorRT incompatibility in ``model`` (empty when it is fine)."""
    violations = []
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if opset is None or not OPSET_RANGE[0] <= opset <= OPSET_RANGE[1]:
        violations.append(
            Violation(
                "model",
                f"opset {opset} is outside TensorRT's {OPSET_RANGE[0]}-{OPSET_RANGE[1]}.",
                f"export with opset {OPSET_RANGE[1]} or lower",
            )
        )
    consts = _constants(model.graph)
    for node in model.graph.node:
        violations += _check_node(node, consts)
    initializers = {t.name for t in model.graph.initializer}
    for value in model.graph.input:
        if value.name not in initializers:
            violations += _check_io(value, "input", dynamic_batch)
    for value in model.graph.output:
        violations += _check_io(value, "output", dynamic_batch)
    return violations


def require_compatible(model: onnx.ModelProto, dynamic_batch: bool = False) -> None:
    """Raise CompatibilityError naming each offending node and its fix."""
    violations = check(model, dynamic_batch)
    if violations:
        raise CompatibilityError(violations)
