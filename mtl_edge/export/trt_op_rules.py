"""The op-specific TensorRT parser rules that a dtype/attribute table cannot express.

Each function takes the checker (``compat._Checker``: ``add`` a finding, ``g`` the inferred
graph) and one node. Sources: onnx-tensorrt ``onnxOpCheckers.cpp`` / ``onnxOpImporters.cpp``
@ dd0a3a9 (10.14-10.15), ``docs/operators.md`` @ fa5aa9f (10.15), NVIDIA "Working with
Quantized Types" (10.x); each rule's source is cited in ``trt_rules.json``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import onnx

if TYPE_CHECKING:
    from mtl_edge.export.compat import _Checker as Checker

#: TensorRT's TopK limit: K must be below it (onnx-tensorrt docs/operators.md, TensorRT 10.15).
MAX_TOPK = 3840


def attr(node: onnx.NodeProto, name: str, default: object = None) -> object:
    for a in node.attribute:
        if a.name == name:
            value = onnx.helper.get_attribute_value(a)
            return value.decode() if isinstance(value, bytes) else value
    return default


def node_name(node: onnx.NodeProto) -> str:
    return node.name or f"{node.op_type}({node.output[0]})"


def _resize(c: Checker, node: onnx.NodeProto) -> None:
    """Attributes are judged by the table; here: no ``axes``, and scales/sizes fixed at build time."""
    if attr(node, "axes") is not None:
        c.add(node_name(node), "resize-limits", "Resize with an axes attribute is not supported.", "resize all axes")
    for k in (2, 3):
        if len(node.input) > k and node.input[k] and not c.g.is_const(node.input[k]):
            c.add(
                node_name(node),
                "resize-limits",
                f"Resize {'scales' if k == 2 else 'sizes'} are computed at run time.",
                "use a fixed scale_factor or output size",
            )


def _pool(c: Checker, node: onnx.NodeProto) -> None:
    name = node_name(node)
    rank = len(c.g.shapes.get(node.input[0], [])) or None
    if rank is not None and rank not in (3, 4, 5):
        c.add(
            name,
            "pooling-limits",
            f"{node.op_type} on a rank-{rank} tensor; TensorRT pools 1-D (as 2-D), 2-D and 3-D only.",
            "pool NCHW features",
        )
    dilations = attr(node, "dilations")
    if dilations and any(d != 1 for d in dilations):
        c.add(
            name,
            "pooling-limits",
            f"{node.op_type} dilations {list(dilations)}; TensorRT pools undilated.",
            "use dilation 1",
        )
    if node.op_type == "MaxPool" and (len(node.output) > 1 and node.output[1] or attr(node, "storage_order", 0)):
        c.add(name, "pooling-limits", "MaxPool's Indices output is not supported.", "do not use return_indices")


def _grid_sample(c: Checker, node: onnx.NodeProto) -> None:
    rank = len(c.g.shapes.get(node.input[0], []))
    if rank != 4:
        c.add(
            node_name(node),
            "gridsample-rank4",
            f"GridSample on a rank-{rank or '?'} input; TensorRT's IGridSampleLayer is 4-D only.",
            "sample 4-D NCHW features",
        )


def _topk(c: Checker, node: onnx.NodeProto) -> None:
    name = node_name(node)
    k = c.g.consts.get(node.input[1]) if len(node.input) > 1 else None
    if k is None:
        c.add(
            name,
            "topk-limits",
            f"TopK's K is computed at run time, so its limit ({MAX_TOPK}) cannot be verified before the build.",
            "use a fixed top_k",
            severity="warning",
        )
    elif int(np.asarray(k).reshape(-1)[0]) >= MAX_TOPK:
        c.add(
            name,
            "topk-limits",
            f"TopK K={int(np.asarray(k).reshape(-1)[0])} is not below TensorRT's limit of {MAX_TOPK}.",
            f"set the head's top_k below {MAX_TOPK}",
        )


def _qdq(c: Checker, node: onnx.NodeProto) -> None:
    name = node_name(node)
    data, scale = node.input[0], node.input[1]
    zp = node.input[2] if len(node.input) > 2 and node.input[2] else ""
    quantized = node.output[0] if node.op_type == "QuantizeLinear" else data
    qtype = c.g.types.get(zp) or c.g.types.get(quantized)
    if qtype != "INT8":
        c.add(name, "qdq-int8", f"Q/DQ is {qtype}; TensorRT's explicit quantization is int8.", "quantize to int8")
    if not zp:
        c.add(name, "qdq-zero-point", "Q/DQ has no zero point.", "give an int8 zero point of 0 (symmetric)")
    elif not c.g.is_const(zp) or np.any(c.g.consts.get(zp, np.zeros(1)) != 0):
        c.add(name, "qdq-zero-point", "Q/DQ zero point is not a constant 0.", "quantize symmetrically (zero point 0)")
    if not c.g.is_const(scale):
        c.add(name, "qdq-scale-constant", "Q/DQ scale is computed at run time.", "store the scale as an initializer")
        return
    per_channel = np.asarray(c.g.consts[scale]).size > 1
    is_weight = data in c.g.consts
    if per_channel and not is_weight:
        c.add(
            name,
            "qdq-activation-per-tensor",
            "an activation is quantized per channel; TensorRT takes one scale per activation tensor.",
            "quantize activations per tensor",
        )
    if per_channel and is_weight:
        axis = int(attr(node, "axis", 1))
        for reader in c.g.readers.get(node.output[0], []):
            want = {"Conv": 0, "ConvTranspose": 1}.get(reader.op_type)
            if want is not None and axis != want:
                c.add(
                    name,
                    "qdq-weight-axis",
                    f"per-channel weight scales on axis {axis} feed {reader.op_type}; TensorRT needs axis {want}.",
                    f"quantize {reader.op_type} weights per output channel (axis {want})",
                )


OP_CHECKS: dict[str, Callable[[Checker, onnx.NodeProto], None]] = {
    "Resize": _resize,
    "MaxPool": _pool,
    "AveragePool": _pool,
    "LpPool": _pool,
    "GridSample": _grid_sample,
    "TopK": _topk,
    "QuantizeLinear": _qdq,
    "DequantizeLinear": _qdq,
}
