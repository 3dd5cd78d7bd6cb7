"""Rewrites that place INT8 where TensorRT can run it.

Each rewrite computes what it replaces (for folded constant channels, up to float
rounding) and returns what it changed. Before quantization, constant channels of a
``Concat -> Conv`` are folded into an Add (:func:`fold_constant_channels`); after it, Q/DQ
go on the inputs of nearest upsamples (:func:`quantize_upsample_inputs`). The rewrites for
ONNX Runtime's CPU INT8 graph are in :mod:`mtl_edge.export.qdq_rewrites`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from mtl_edge.export import graph_edit


def _constant_input(model: onnx.ModelProto, name: str, hw: tuple[int, int]) -> np.ndarray | None:
    """The value of ``name`` as a [1, C, H, W] array when it is a constant (or a batch Expand of one)."""
    value = graph_edit.const_value(model, name)
    if value is None:
        producer = next((n for n in model.graph.node if name in n.output), None)
        if producer is None or producer.op_type != "Expand":
            return None
        value = graph_edit.const_value(model, producer.input[0])
    if value is None or value.ndim != 4 or value.shape[0] != 1:
        return None
    try:
        return np.broadcast_to(value, (1, value.shape[1], *hw)).astype(np.float32)
    except ValueError:
        return None


def _conv_of_constant(conv: onnx.NodeProto, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``conv``'s attributes applied to the constant input ``x`` with weights ``w`` and no bias."""
    from onnx.reference import ReferenceEvaluator

    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], **graph_edit.attributes(conv))],
        "constant_term",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape)),
            helper.make_tensor_value_info("w", TensorProto.FLOAT, list(w.shape)),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    return ReferenceEvaluator(model).run(None, {"x": x, "w": w})[0].astype(np.float32)


def fold_constant_channels(model: onnx.ModelProto) -> list[str]:
    """Take constant channels out of a ``Concat -> Conv``: the conv reads the other channels only.

    ``Conv(Concat([x, c]), W) == Conv(x, W_x) + Conv(c, W_c)``, and with ``c`` constant
    (the lanes head's x/y coordinate channels) the second term is a constant tensor: it
    becomes an ``Add`` after the conv (the conv keeps its bias), computed here once. The
    conv then reads its features alone, so an INT8 graph quantizes them with their own
    per-tensor scale instead of one scale shared with the [-1, 1] coordinates. The result
    is the same function up to float rounding. Returns the names of the Adds made.
    """
    graph = model.graph
    shapes = graph_edit.static_shapes(model)
    producer = graph_edit.producers(model)
    readers = graph_edit.consumers(model)
    done = []
    for conv in [n for n in graph.node if n.op_type == "Conv"]:
        cat = producer.get(conv.input[0])
        weight = graph_edit.const_value(model, conv.input[1])
        if cat is None or cat.op_type != "Concat" or weight is None or graph_edit.attributes(conv).get("group", 1) != 1:
            continue
        axis = next((helper.get_attribute_value(a) for a in cat.attribute if a.name == "axis"), None)
        shape = shapes.get(cat.output[0], [])
        if axis not in (1, -3) or len(readers.get(cat.output[0], [])) != 1 or len(shape) != 4 or min(shape[2:]) <= 0:
            continue
        hw = (shape[2], shape[3])
        consts = [_constant_input(model, i, hw) for i in cat.input]
        if all(c is None for c in consts) or all(c is not None for c in consts):
            continue
        widths = [c.shape[1] if c is not None else shapes.get(i, [0, 0])[1] for i, c in zip(cat.input, consts)]
        if min(widths) <= 0 or sum(widths) != weight.shape[1]:
            continue
        starts = np.cumsum([0, *widths])
        keep = np.concatenate([np.arange(starts[k], starts[k + 1]) for k, c in enumerate(consts) if c is None])
        fixed = np.concatenate([np.arange(starts[k], starts[k + 1]) for k, c in enumerate(consts) if c is not None])
        constant = np.concatenate([c for c in consts if c is not None], axis=1)
        term = _conv_of_constant(conv, constant, weight[:, fixed].astype(np.float32))
        name = conv.name.rsplit("/", 1)[0]
        features = [i for i, c in zip(cat.input, consts) if c is None]
        graph.initializer.extend(
            [
                numpy_helper.from_array(weight[:, keep].astype(weight.dtype), f"{name}/feature_weight"),
                numpy_helper.from_array(term, f"{name}/constant_channels"),
            ]
        )
        out = conv.output[0]
        expands = [producer[i] for i, c in zip(cat.input, consts) if c is not None and i in producer]
        if len(features) == 1:
            conv.input[0] = features[0]
            graph.node.remove(cat)
        else:
            del cat.input[:]
            cat.input.extend(features)
        graph_edit.drop_unused(model, _with_ancestors(model, expands))  # the Expands and the shape ops that fed them
        conv.input[1] = f"{name}/feature_weight"
        conv.output[0] = f"{name}/features_only"
        add = helper.make_node(
            "Add", [conv.output[0], f"{name}/constant_channels"], [out], name=f"{name}/Add_constant_channels"
        )
        graph.node.insert(list(graph.node).index(conv) + 1, add)
        stale = [v for v in graph.value_info if v.name == cat.output[0]]
        for v in stale:
            graph.value_info.remove(v)
        done.append(add.name)
    graph_edit.drop_unused_initializers(model)
    return done


def _with_ancestors(model: onnx.ModelProto, nodes: Sequence[onnx.NodeProto]) -> list[onnx.NodeProto]:
    """``nodes`` and every node they depend on, consumers before producers (the order ``drop_unused`` needs)."""
    producer = graph_edit.producers(model)
    seen: dict[str, onnx.NodeProto] = {}
    todo = list(nodes)
    while todo:
        n = todo.pop()
        if n.name not in seen:
            seen[n.name] = n
            todo += [producer[i] for i in n.input if i in producer]
    order = {n.name: k for k, n in enumerate(model.graph.node)}
    return sorted(seen.values(), key=lambda n: -order.get(n.name, -1))


def _is_nearest(node: onnx.NodeProto) -> bool:
    return node.op_type == "Resize" and graph_edit.attributes(node).get("mode", b"nearest") == b"nearest"


def quantize_upsample_inputs(model: onnx.ModelProto) -> list[str]:
    """Put a Q/DQ pair on the input of each nearest Resize whose output is quantized; returns those Resizes.

    ONNX Runtime's quantizer quantizes a Resize only when its input already is, and in
    the TensorRT graph the ReLU before it is not (Q/DQ sit on conv inputs), so the conv
    before each upsample wrote float and a standalone Quantize followed the Resize. With
    ``Q -> DQ`` of the output's own scale before the Resize, the conv's output is quantized
    (TensorRT fuses conv + ReLU + Q) and the Resize moves int8 (a nearest copy commutes
    with quantization, so TensorRT propagates the DQ across it). The outputs are exactly
    those of before: a nearest copy of quantized values is the quantized nearest copy.
    """
    graph = model.graph
    producer = graph_edit.producers(model)
    readers = graph_edit.consumers(model)
    done = []
    for resize in [n for n in graph.node if _is_nearest(n)]:
        src = producer.get(resize.input[0])
        after = readers.get(resize.output[0], [])
        if src is not None and src.op_type == "DequantizeLinear":
            continue
        if not after or any(c.op_type != "QuantizeLinear" or len(c.input) < 3 for c in after):
            continue
        if not all(graph_edit.same_quantization(model, after[0], c) for c in after[1:]):
            continue
        q = after[0]
        if graph_edit.const_value(model, q.input[1]) is None or graph_edit.const_value(model, q.input[1]).size != 1:
            continue
        x = resize.input[0]
        nodes = [
            helper.make_node(
                "QuantizeLinear", [x, q.input[1], q.input[2]], [f"{x}/quantized"], name=f"{resize.name}/QuantizeLinear"
            ),
            helper.make_node(
                "DequantizeLinear",
                [f"{x}/quantized", q.input[1], q.input[2]],
                [f"{x}/dequantized"],
                name=f"{resize.name}/DequantizeLinear",
            ),
        ]
        at = list(graph.node).index(resize)
        for k, node in enumerate(nodes):
            graph.node.insert(at + k, node)
        resize.input[0] = f"{x}/dequantized"
        done.append(resize.name)
    return done
