"""Rewrites of the ONNX Runtime CPU INT8 graph (Q/DQ graphs), and node naming.

Each rewrite computes exactly what it replaces (or, for the frame input, within half a
grey level) and returns what it changed. For ONNX Runtime's x86 kernels: the uint8 frame
fed straight to the first conv, float logits convs run as ``ConvInteger`` on their uint8
features, and 2x nearest upsamples done as NHWC pixel copies. TensorRT's placement
rewrites are in :mod:`mtl_edge.export.qdq_placement`. :func:`adopt_unnamed` names the
nodes the quantizer added after the module they belong to.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from mtl_edge.export import graph_edit
from mtl_edge.export.naming import node_owner


def first_convs(model: onnx.ModelProto, n: int = 1) -> list[str]:
    """The first ``n`` Convs outside the preprocess, in graph order: the first one reads the frame."""
    convs = [x.name for x in model.graph.node if x.op_type == "Conv" and node_owner(x.name) != "preprocess"]
    return convs[:n]


def first_conv(model: onnx.ModelProto) -> str | None:
    """The Conv that reads the (normalised) frame."""
    return next(iter(first_convs(model)), None)


def frame_normalisation(model: onnx.ModelProto) -> tuple[str, float, int] | None:
    """The preprocess ``Cast -> Transpose -> Mul(s) -> Add(b)`` as (its output, ``s``, zero point ``round(-b/s)``).

    None unless one ``s`` and one ``b`` serve every channel (a per-channel mean/std
    cannot be read as one uint8 quantization of the frame).
    """
    nodes = graph_edit.producers(model)
    consts = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    for add in model.graph.node:
        mul = nodes.get(add.input[0]) if add.op_type == "Add" else None
        layout = nodes.get(mul.input[0]) if mul is not None and mul.op_type == "Mul" else None
        cast = nodes.get(layout.input[0]) if layout is not None and layout.op_type == "Transpose" else None
        if cast is None or cast.op_type != "Cast" or node_owner(add.name) != "preprocess":
            continue
        scale, shift = consts.get(mul.input[1]), consts.get(add.input[1])
        if scale is None or shift is None or np.ptp(scale) or np.ptp(shift) or float(scale.ravel()[0]) <= 0:
            return None
        s, b = float(scale.ravel()[0]), float(shift.ravel()[0])
        zero = int(round(-b / s))
        return (add.output[0], s, zero) if 0 <= zero <= 255 else None
    return None


def quantize_input_directly(model: onnx.ModelProto, normalised: str) -> bool:
    """Feed the uint8 frame itself to the Q/DQ that quantized its normalisation ``normalised``.

    With the range set to ``[-zero * s, (255 - zero) * s]`` that QuantizeLinear maps each
    pixel back to its own value, so the Cast, Mul, Add and QuantizeLinear go and the
    Transpose moves onto the uint8 frame: the first conv reads the frame as uint8 (scale
    ``s``, zero point ``zero``). The zero point's rounding shifts the input by under half a
    grey level, well inside int8 noise. (TensorRT rejects a Transpose of a uint8 tensor;
    this rewrite is for the ONNX Runtime CPU graph only.)
    """
    nodes = graph_edit.producers(model)
    q = next((n for n in model.graph.node if n.op_type == "QuantizeLinear" and n.input[0] == normalised), None)
    if q is None or normalised not in nodes:
        return False
    add = nodes[normalised]
    mul = nodes[add.input[0]]
    layout = nodes[mul.input[0]]
    cast = nodes[layout.input[0]]
    layout.input[0] = cast.input[0]
    stale = [v for v in model.graph.value_info if v.name == layout.output[0]]  # it was float, now uint8
    for v in stale:
        model.graph.value_info.remove(v)
    for n in model.graph.node:
        if n.op_type == "DequantizeLinear" and n.input[0] == q.output[0]:
            n.input[0] = layout.output[0]
    graph_edit.drop_unused(model, [q, add, mul, cast])
    graph_edit.drop_unused_initializers(model)
    return True


def integer_logits(model: onnx.ModelProto, convs: Iterable[str]) -> list[str]:
    """Run the float logits convs ``convs`` on the uint8 features they read, with nothing rounded after.

    ``DequantizeLinear -> Conv`` becomes ``ConvInteger`` (uint8 features x uint8 weights,
    symmetric per output channel around 128, exact int32 sums: the u8u8 kernel does
    not saturate) ``-> Cast -> Mul(feature scale x weight scale) -> Add(bias)``. The
    logits stay float32 as before; the float copy of the features, the largest tensors
    in the heads, is never made. Returns the convs rewritten.
    """
    graph = model.graph
    consts = {t.name: t for t in graph.initializer}
    producer = graph_edit.producers(model)
    done = []
    for conv in [n for n in graph.node if n.name in set(convs) and n.op_type == "Conv"]:
        dq = producer.get(conv.input[0])
        if dq is None or dq.op_type != "DequantizeLinear" or conv.input[1] not in consts or len(dq.input) < 3:
            continue
        x_scale, x_zero = numpy_helper.to_array(consts[dq.input[1]]), numpy_helper.to_array(consts[dq.input[2]])
        if x_scale.size != 1 or x_zero.dtype != np.uint8:
            continue
        w = numpy_helper.to_array(consts[conv.input[1]]).astype(np.float32)
        bias = numpy_helper.to_array(consts[conv.input[2]]) if len(conv.input) > 2 and conv.input[2] else 0.0
        w_scale = np.abs(w).reshape(len(w), -1).max(1) / 127.0
        w_scale[w_scale == 0] = 1.0
        w_q = (np.round(w / w_scale[:, None, None, None]) + 128).astype(np.uint8)
        shape = (1, len(w), 1, 1)
        scale = (float(x_scale) * w_scale).astype(np.float32).reshape(shape)
        bias = np.broadcast_to(np.float32(bias), len(w)).reshape(shape).copy()
        name = conv.name
        graph.initializer.extend(
            [
                numpy_helper.from_array(w_q, f"{name}/weight_u8"),
                numpy_helper.from_array(np.array(128, np.uint8), f"{name}/weight_zero_point"),
                numpy_helper.from_array(scale, f"{name}/scale"),
                numpy_helper.from_array(bias, f"{name}/bias"),
            ]
        )
        attrs = graph_edit.attributes(conv)
        at = list(graph.node).index(conv)
        replacement = [
            helper.make_node(
                "ConvInteger",
                [dq.input[0], f"{name}/weight_u8", dq.input[2], f"{name}/weight_zero_point"],
                [f"{name}/int32"],
                name=f"{name}/ConvInteger",
                **attrs,
            ),
            helper.make_node("Cast", [f"{name}/int32"], [f"{name}/sum"], name=f"{name}/Cast", to=TensorProto.FLOAT),
            helper.make_node("Mul", [f"{name}/sum", f"{name}/scale"], [f"{name}/scaled"], name=f"{name}/Mul"),
            helper.make_node("Add", [f"{name}/scaled", f"{name}/bias"], list(conv.output), name=f"{name}/Add"),
        ]
        graph.node.remove(conv)
        for k, node in enumerate(replacement):
            graph.node.insert(at + k, node)
        graph_edit.drop_unused(model, [dq])
        done.append(name)
    graph_edit.drop_unused_initializers(model)
    return done


def _is_2x_nearest(model: onnx.ModelProto, node: onnx.NodeProto) -> bool:
    """A Resize that repeats each pixel 2x2: nearest, scales [1, 1, 2, 2], input index ``floor(i / 2)``."""
    attrs = graph_edit.attributes(node)
    scales = graph_edit.const_value(model, node.input[2]) if len(node.input) > 2 and node.input[2] else None
    return (
        node.op_type == "Resize"
        and attrs.get("mode", b"nearest") == b"nearest"
        and attrs.get("coordinate_transformation_mode", b"half_pixel") == b"asymmetric"
        and attrs.get("nearest_mode", b"round_prefer_floor") in (b"floor", b"round_prefer_floor")
        and scales is not None
        and scales.tolist() == [1.0, 1.0, 2.0, 2.0]
    )


def nhwc_upsamples(model: onnx.ModelProto) -> list[str]:
    """Replace each 2x nearest Resize by the same pixel copy done in NHWC; returns the Resizes replaced.

    ``Transpose(NHWC) -> Reshape [N,H,1,W,1,C] -> Expand [N,H,2,W,2,C] -> Reshape
    [N,2H,2W,C] -> Transpose(NCHW)`` gives exactly the Resize's output. ONNX Runtime's
    uint8 nearest Resize is slow in the NHWC layout its quantized convs run in (about
    25x its NCHW time); the two Transposes cancel against the ones that layout adds, so
    what is left is one copy. A ``DequantizeLinear -> Resize -> QuantizeLinear`` with one
    scale and zero point is replaced whole, so the copy moves uint8 values.
    """
    graph = model.graph
    shapes = graph_edit.static_shapes(model)
    producer = graph_edit.producers(model)
    readers = graph_edit.consumers(model)
    done = []
    for resize in [n for n in graph.node if _is_2x_nearest(model, n)]:
        shape = shapes.get(resize.input[0], [])
        if len(shape) != 4 or min(shape[1:]) <= 0:
            continue
        _, c, h, w = shape
        src, dst, drop = resize.input[0], resize.output[0], [resize]
        dq, after = producer.get(src), readers.get(dst, [])
        if (
            dq is not None
            and dq.op_type == "DequantizeLinear"
            and len(after) == 1
            and after[0].op_type == "QuantizeLinear"
            and graph_edit.same_quantization(model, dq, after[0])
        ):
            src, dst, drop = dq.input[0], after[0].output[0], [after[0], resize]
        name = resize.name
        graph.initializer.extend(
            [
                numpy_helper.from_array(np.array([-1, h, 1, w, 1, c], np.int64), f"{name}/split_shape"),
                numpy_helper.from_array(np.array([1, 1, 2, 1, 2, 1], np.int64), f"{name}/repeat"),
                numpy_helper.from_array(np.array([-1, 2 * h, 2 * w, c], np.int64), f"{name}/merged_shape"),
            ]
        )
        at = list(graph.node).index(resize)
        chain = [
            helper.make_node("Transpose", [src], [f"{name}/nhwc"], name=f"{name}/to_nhwc", perm=[0, 2, 3, 1]),
            helper.make_node(
                "Reshape", [f"{name}/nhwc", f"{name}/split_shape"], [f"{name}/split"], name=f"{name}/split"
            ),
            helper.make_node(
                "Expand", [f"{name}/split", f"{name}/repeat"], [f"{name}/repeated"], name=f"{name}/repeat"
            ),
            helper.make_node(
                "Reshape", [f"{name}/repeated", f"{name}/merged_shape"], [f"{name}/merged"], name=f"{name}/merge"
            ),
            helper.make_node("Transpose", [f"{name}/merged"], [dst], name=f"{name}/to_nchw", perm=[0, 3, 1, 2]),
        ]
        for node in drop:
            graph.node.remove(node)
        for k, node in enumerate(chain):
            graph.node.insert(at + k, node)
        if len(drop) == 2:
            graph_edit.drop_unused(model, [dq])
        done.append(name)
    graph_edit.drop_unused_initializers(model)
    return done


def adopt_unnamed(model: onnx.ModelProto) -> None:
    """Give nodes the quantizer added (``..._QuantizeLinear``) the owner of the node they feed or follow."""
    known = {n.name for n in model.graph.node if "/" in n.name}
    producer = {o: n.name for o, n in graph_edit.producers(model).items()}
    reader = {i: readers[0].name for i, readers in graph_edit.consumers(model).items()}  # each tensor's first reader
    counts: dict[str, int] = {}
    for _ in range(3):  # Q -> DQ chains: owners propagate a step per pass
        for n in model.graph.node:
            if n.name in known:
                continue
            near = [producer.get(i, "") for i in n.input] + [reader.get(o, "") for o in n.output]
            owner = next((node_owner(x) for x in near if x in known), None)
            if owner is None:
                continue
            key = f"{owner}/{n.op_type}"
            counts[key] = counts.get(key, 0) + 1
            old, n.name = n.name, f"{key}_q{counts[key]}"
            known.add(n.name)
            for o in n.output:
                producer[o] = n.name
            for k, v in list(reader.items()):
                if v == old:
                    reader[k] = n.name
