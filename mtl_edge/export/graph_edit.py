"""Small helpers for reading and editing an ONNX graph in place.

Shared by the Q/DQ rewrites of both INT8 graphs (:mod:`mtl_edge.export.qdq_rewrites` for
ONNX Runtime's CPU kernels, :mod:`mtl_edge.export.qdq_placement` for TensorRT): lookups of
constants, static shapes, attributes and the edges between nodes, and the clean-up of nodes
and initializers a rewrite left unread.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx
from onnx import helper, numpy_helper


def const_value(model: onnx.ModelProto, name: str) -> np.ndarray | None:
    """The value of the initializer ``name``, or None when ``name`` is not an initializer."""
    return next((numpy_helper.to_array(t) for t in model.graph.initializer if t.name == name), None)


def static_shapes(model: onnx.ModelProto) -> dict[str, list[int]]:
    """Static shapes of the graph's tensors (dims unknown to shape inference are -1)."""
    inferred = onnx.shape_inference.infer_shapes(model)
    infos = [*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output]
    return {
        v.name: [d.dim_value if d.HasField("dim_value") else -1 for d in v.type.tensor_type.shape.dim]
        for v in infos
        if v.type.tensor_type.HasField("shape")
    }


def attributes(node: onnx.NodeProto) -> dict[str, object]:
    """``node``'s attributes by name, as Python values (strings stay bytes)."""
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def producers(model: onnx.ModelProto) -> dict[str, onnx.NodeProto]:
    """The node that writes each tensor, by tensor name (graph inputs and initializers have none)."""
    return {o: n for n in model.graph.node for o in n.output}


def consumers(model: onnx.ModelProto) -> dict[str, list[onnx.NodeProto]]:
    """The nodes that read each tensor, in graph order (a node reading a tensor twice is listed twice)."""
    readers: dict[str, list[onnx.NodeProto]] = {}
    for n in model.graph.node:
        for i in n.input:
            readers.setdefault(i, []).append(n)
    return readers


def same_quantization(model: onnx.ModelProto, a: onnx.NodeProto, b: onnx.NodeProto) -> bool:
    """Whether two Q/DQ nodes use one per-tensor scale and zero point."""
    if len(a.input) < 3 or len(b.input) < 3:
        return False
    pairs = [(const_value(model, a.input[k]), const_value(model, b.input[k])) for k in (1, 2)]
    return all(x is not None and y is not None and x.size == 1 and x.dtype == y.dtype and x == y for x, y in pairs)


def drop_unused(model: onnx.ModelProto, candidates: Sequence[onnx.NodeProto]) -> None:
    """Remove those of ``candidates`` (in order) whose outputs nothing reads any more."""
    outputs = {o.name for o in model.graph.output}
    for node in candidates:
        read = {i for n in model.graph.node for i in n.input} | outputs
        if not read.intersection(node.output):
            model.graph.node.remove(node)


def drop_unused_initializers(model: onnx.ModelProto) -> None:
    """Remove the initializers no node reads."""
    live = {i for n in model.graph.node for i in n.input}
    kept = [t for t in model.graph.initializer if t.name in live]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)
