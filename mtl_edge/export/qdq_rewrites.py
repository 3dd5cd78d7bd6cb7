"""Rewrites around quantization (Q/DQ graphs), and node naming.

Each rewrite computes exactly what it replaces (or, for the frame input, within half a
grey level; for folded constant channels, up to float rounding) and returns what it
changed. For ONNX Runtime's x86 kernels: the uint8 frame fed straight to the first conv,
float logits convs run as ``ConvInteger`` on their uint8 features, and 2x nearest
upsamples done as NHWC pixel copies. For TensorRT's placement rules: Q/DQ on the inputs
of nearest upsamples, and constant channels of a ``Concat -> Conv`` folded into an Add
(before quantization). :func:`adopt_unnamed` names the nodes the quantizer added after
the module they belong to.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

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
    nodes = {o: n for n in model.graph.node for o in n.output}
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
    nodes = {o: n for n in model.graph.node for o in n.output}
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
    _drop_unused(model, [q, add, mul, cast])
    _drop_unused_initializers(model)
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
    producer = {o: n for n in graph.node for o in n.output}
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
        attrs = {a.name: helper.get_attribute_value(a) for a in conv.attribute}
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
        _drop_unused(model, [dq])
        done.append(name)
    _drop_unused_initializers(model)
    return done


def _const(model: onnx.ModelProto, name: str) -> np.ndarray | None:
    return next((numpy_helper.to_array(t) for t in model.graph.initializer if t.name == name), None)


def _shapes(model: onnx.ModelProto) -> dict[str, list[int]]:
    """Static shapes of the graph's tensors (dims unknown to shape inference are -1)."""
    inferred = onnx.shape_inference.infer_shapes(model)
    infos = [*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output]
    return {
        v.name: [d.dim_value if d.HasField("dim_value") else -1 for d in v.type.tensor_type.shape.dim]
        for v in infos
        if v.type.tensor_type.HasField("shape")
    }


def _same_quantization(model: onnx.ModelProto, a: onnx.NodeProto, b: onnx.NodeProto) -> bool:
    """Whether two Q/DQ nodes use one per-tensor scale and zero point."""
    if len(a.input) < 3 or len(b.input) < 3:
        return False
    pairs = [(_const(model, a.input[k]), _const(model, b.input[k])) for k in (1, 2)]
    return all(x is not None and y is not None and x.size == 1 and x.dtype == y.dtype and x == y for x, y in pairs)


def _is_2x_nearest(model: onnx.ModelProto, node: onnx.NodeProto) -> bool:
    """A Resize that repeats each pixel 2x2: nearest, scales [1, 1, 2, 2], input index ``floor(i / 2)``."""
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    scales = _const(model, node.input[2]) if len(node.input) > 2 and node.input[2] else None
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
    shapes = _shapes(model)
    producer = {o: n for n in graph.node for o in n.output}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for n in graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    done = []
    for resize in [n for n in graph.node if _is_2x_nearest(model, n)]:
        shape = shapes.get(resize.input[0], [])
        if len(shape) != 4 or min(shape[1:]) <= 0:
            continue
        _, c, h, w = shape
        src, dst, drop = resize.input[0], resize.output[0], [resize]
        dq, after = producer.get(src), consumers.get(dst, [])
        if (
            dq is not None
            and dq.op_type == "DequantizeLinear"
            and len(after) == 1
            and after[0].op_type == "QuantizeLinear"
            and _same_quantization(model, dq, after[0])
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
            _drop_unused(model, [dq])
        done.append(name)
    _drop_unused_initializers(model)
    return done


def _drop_unused_initializers(model: onnx.ModelProto) -> None:
    live = {i for n in model.graph.node for i in n.input}
    kept = [t for t in model.graph.initializer if t.name in live]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)


def _drop_unused(model: onnx.ModelProto, candidates: Sequence[onnx.NodeProto]) -> None:
    """Remove those of ``candidates`` (in order) whose outputs nothing reads any more."""
    outputs = {o.name for o in model.graph.output}
    for node in candidates:
        read = {i for n in model.graph.node for i in n.input} | outputs
        if not read.intersection(node.output):
            model.graph.node.remove(node)


def adopt_unnamed(model: onnx.ModelProto) -> None:
    """Give nodes the quantizer added (``..._QuantizeLinear``) the owner of the node they feed or follow."""
    known = {n.name for n in model.graph.node if "/" in n.name}
    producer = {o: n.name for n in model.graph.node for o in n.output}
    consumers: dict[str, str] = {}
    for n in model.graph.node:
        for i in n.input:
            consumers.setdefault(i, n.name)
    counts: dict[str, int] = {}
    for _ in range(3):  # Q -> DQ chains: owners propagate a step per pass
        for n in model.graph.node:
            if n.name in known:
                continue
            near = [producer.get(i, "") for i in n.input] + [consumers.get(o, "") for o in n.output]
            owner = next((node_owner(x) for x in near if x in known), None)
            if owner is None:
                continue
            key = f"{owner}/{n.op_type}"
            counts[key] = counts.get(key, 0) + 1
            old, n.name = n.name, f"{key}_q{counts[key]}"
            known.add(n.name)
            for o in n.output:
                producer[o] = n.name
            for k, v in list(consumers.items()):
                if v == old:
                    consumers[k] = n.name


def _constant_input(model: onnx.ModelProto, name: str, hw: tuple[int, int]) -> np.ndarray | None:
    """The value of ``name`` as a [1, C, H, W] array when it is a constant (or a batch Expand of one)."""
    value = _const(model, name)
    if value is None:
        producer = next((n for n in model.graph.node if name in n.output), None)
        if producer is None or producer.op_type != "Expand":
            return None
        value = _const(model, producer.input[0])
    if value is None or value.ndim != 4 or value.shape[0] != 1:
        return None
    try:
        return np.broadcast_to(value, (1, value.shape[1], *hw)).astype(np.float32)
    except ValueError:
        return None


def _conv_of_constant(conv: onnx.NodeProto, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``conv``'s attributes applied to the constant input ``x`` with weights ``w`` and no bias."""
    from onnx.reference import ReferenceEvaluator

    attrs = {a.name: helper.get_attribute_value(a) for a in conv.attribute}
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], **attrs)],
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
    shapes = _shapes(model)
    producer = {o: n for n in graph.node for o in n.output}
    readers: dict[str, int] = {}
    for n in graph.node:
        for i in n.input:
            readers[i] = readers.get(i, 0) + 1
    done = []
    for conv in [n for n in graph.node if n.op_type == "Conv"]:
        cat = producer.get(conv.input[0])
        weight = _const(model, conv.input[1])
        attrs = {a.name: helper.get_attribute_value(a) for a in conv.attribute}
        if cat is None or cat.op_type != "Concat" or weight is None or attrs.get("group", 1) != 1:
            continue
        axis = next((helper.get_attribute_value(a) for a in cat.attribute if a.name == "axis"), None)
        shape = shapes.get(cat.output[0], [])
        if axis not in (1, -3) or readers.get(cat.output[0]) != 1 or len(shape) != 4 or min(shape[2:]) <= 0:
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
        _drop_unused(model, _with_ancestors(model, expands))  # the Expands and the shape ops that fed them
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
    _drop_unused_initializers(model)
    return done


def _with_ancestors(model: onnx.ModelProto, nodes: Sequence[onnx.NodeProto]) -> list[onnx.NodeProto]:
    """``nodes`` and every node they depend on, consumers before producers (the order :func:`_drop_unused` needs)."""
    producer = {o: n for n in model.graph.node for o in n.output}
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
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    return node.op_type == "Resize" and attrs.get("mode", b"nearest") == b"nearest"


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
    producer = {o: n for n in graph.node for o in n.output}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for n in graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    done = []
    for resize in [n for n in graph.node if _is_nearest(n)]:
        src = producer.get(resize.input[0])
        after = consumers.get(resize.output[0], [])
        if src is not None and src.op_type == "DequantizeLinear":
            continue
        if not after or any(c.op_type != "QuantizeLinear" or len(c.input) < 3 for c in after):
            continue
        if not all(_same_quantization(model, after[0], c) for c in after[1:]):
            continue
        q = after[0]
        if _const(model, q.input[1]) is None or _const(model, q.input[1]).size != 1:
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
