"""Where a Q/DQ graph runs in INT8 on TensorRT: which weighted ops, which stay float and why, and the reformats.

The rules are NVIDIA's for explicit quantization, read in the TensorRT 10.11 developer
guide, "Working with Quantized Types" (Explicit Quantization: "TensorRT Processing of
Q/DQ Networks", "Q/DQ Layer-Placement Recommendations"; the TensorRT 11.x page keeps
them):

- a weighted op (Convolution, Deconvolution, GEMM / MatMul) runs in INT8 when its data
  input is dequantized from int8 (a DequantizeLinear, per-tensor scale) and its weights
  are a DequantizeLinear of constant int8 weights, per output channel (axis 0 for Conv,
  1 for ConvTranspose) or per tensor;
- its output is int8 when a QuantizeLinear follows it, after the pointwise ops TensorRT
  fuses into it (ReLU and friends, and an Add whose other input is dequantized: the
  residual of a skip connection); otherwise it writes float;
- DQ propagates forward and Q backward across ops that commute with quantization (max
  pooling, nearest resize, concatenation, reshapes and slices): such an op between a DQ
  and a Q moves int8 values, and so does a quantizable op (Add, average pooling) with
  every input dequantized and its output quantized;
- anything else is an int8 <-> float transition: a Quantize that no INT8 producer
  absorbs, or a Dequantize read by an op that computes in float, is a reformat layer of
  its own in the engine.

This is a reading of the graph, not of a built engine: TensorRT may still fuse a Q into
a float producer, and the engine inspector (``profile --backend trt``) has the final say.
Graphs with uint8 zero points (the "cpu" INT8 flavour) are reported as ONNX Runtime only.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from mtl_edge.export.naming import node_owner

#: Ops whose weights TensorRT quantizes, and the per-channel axis of their weights.
WEIGHTED = {"Conv": 0, "ConvTranspose": 1, "Gemm": None, "MatMul": None}
#: Pointwise ops TensorRT fuses into the weighted op before them (an Add only as a quantized residual).
FUSED_POINTWISE = ("Relu", "Clip", "LeakyRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Add")
#: Ops that commute with quantization: int8 in, int8 out, when DQ before and Q after.
COMMUTING = (
    "MaxPool",
    "Concat",
    "Reshape",
    "Transpose",
    "Slice",
    "Squeeze",
    "Unsqueeze",
    "Flatten",
    "Gather",
    "Pad",
    "Identity",
)
#: Quantizable ops: fused with their DQ inputs and Q output into an INT8 kernel.
QUANTIZABLE = ("Add", "AveragePool", "GlobalAveragePool")
#: Decode ops: a conv feeding one of these directly is a head's logits conv.
DECODE_OPS = ("Sigmoid", "Softmax", "TopK", "ArgMax", "ArgMin", "ReduceMax", "Exp", "Clip", "MaxPool", "Resize")

CPU_NOTE = "CPU INT8 graph (uint8 activations with zero points): ONNX Runtime only; TensorRT rejects it"
FLOAT_NOTE = "no Q/DQ: every op runs in the graph's float precision"


@dataclass
class OpPlacement:
    """One weighted op: INT8 or float (with the reason), and the type of what it writes."""

    name: str
    op: str
    owner: str
    int8: bool
    output: str  # "int8" or "float"
    reason: str = ""  # why it stays float
    note: str = ""  # a caveat on an INT8 op (e.g. one input scale shared with constant channels)


@dataclass
class Reformat:
    """An int8 <-> float transition at ``tensor`` that TensorRT runs as a layer of its own."""

    tensor: str
    direction: str  # "float->int8" or "int8->float"
    producer: str
    consumers: list[str]
    reason: str


@dataclass
class PlacementReport:
    """INT8 placement of one graph under TensorRT's explicit-quantization rules."""

    flavour: str  # "tensorrt", "cpu" or "float"
    ops: list[OpPlacement] = field(default_factory=list)
    reformats: list[Reformat] = field(default_factory=list)
    note: str = ""

    @property
    def int8_ops(self) -> list[OpPlacement]:
        return [o for o in self.ops if o.int8]

    @property
    def float_ops(self) -> list[OpPlacement]:
        return [o for o in self.ops if not o.int8]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form: flavour, note, counts, ops and reformats."""
        return {
            "flavour": self.flavour,
            "note": self.note,
            "counts": {
                "weighted": len(self.ops),
                "int8": len(self.int8_ops),
                "float": len(self.float_ops),
                "reformats": len(self.reformats),
            },
            "ops": [asdict(o) for o in self.ops],
            "reformats": [asdict(r) for r in self.reformats],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def summary(self) -> str:
        """A compact table: counts, then per owner the INT8 ops, the float ones with reasons, and the reformats."""
        if self.flavour != "tensorrt":
            return f"INT8 placement: {self.note}"
        lines = [
            f"INT8 placement (TensorRT explicit quantization): {len(self.int8_ops)} of {len(self.ops)} weighted ops "
            f"run INT8, {len(self.float_ops)} stay float; {len(self.reformats)} tensors force a reformat",
            f"{'owner':<16}{'int8':>6}{'int8 out':>10}{'float':>7}",
        ]
        owners = sorted(dict.fromkeys(o.owner for o in self.ops), key=_owner_rank)
        for owner in owners:
            ops = [o for o in self.ops if o.owner == owner]
            int8 = [o for o in ops if o.int8]
            out8 = [o for o in int8 if o.output == "int8"]
            lines.append(f"{owner:<16}{len(int8):>6}{len(out8):>10}{len(ops) - len(int8):>7}")
        lines.append("(* runs INT8 but writes float)")
        for owner in owners:
            ops = [o for o in self.ops if o.owner == owner]
            lines.append(f"{owner}:")
            int8 = [_short(o) + ("" if o.output == "int8" else "*") for o in ops if o.int8]
            if int8:
                lines.append(f"  INT8 ({len(int8)}): {', '.join(int8)}")
            lines += [f"  note: {_short(o)}: {o.note}" for o in ops if o.note]
            reasons = dict.fromkeys(o.reason for o in ops if not o.int8)
            for reason in reasons:
                names = [_short(o) for o in ops if not o.int8 and o.reason == reason]
                lines.append(f"  float ({len(names)}): {', '.join(names)} -- {reason}")
        if self.reformats:
            lines.append("reformats (int8 <-> float transitions TensorRT runs as layers of their own):")
            for r in self.reformats:
                lines.append(f"  {r.direction}  {r.tensor} (from {r.producer}): {r.reason}")
        else:
            lines.append("reformats: none")
        return "\n".join(lines)


def _owner_rank(owner: str) -> tuple[int, str]:
    order = {"preprocess": 0, "backbone": 1, "neck": 2}
    return (order.get(owner, 3 if owner.startswith("heads.") else 4), owner)


def _short(o: OpPlacement) -> str:
    """``backbone/stages/1/0/reparam/Conv`` -> ``stages/1/0/reparam``."""
    rest = o.name.split("/", 1)[1] if "/" in o.name else o.name
    head, _, last = rest.rpartition("/")
    return head if head and last == o.op else rest


class _Graph:
    """Producer / consumer / constant look-ups over one ONNX graph."""

    def __init__(self, model: onnx.ModelProto) -> None:
        self.nodes = list(model.graph.node)
        self.consts = {t.name: t for t in model.graph.initializer}
        for n in self.nodes:
            if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value":
                self.consts[n.output[0]] = n.attribute[0].t
        self.producer = {o: n for n in self.nodes for o in n.output}
        self.consumers: dict[str, list[onnx.NodeProto]] = {}
        for n in self.nodes:
            for i in n.input:
                if i:
                    self.consumers.setdefault(i, []).append(n)
        self.outputs = {o.name for o in model.graph.output}

    def const(self, name: str) -> np.ndarray | None:
        t = self.consts.get(name)
        return numpy_helper.to_array(t) if t is not None else None

    def made_by(self, name: str, op: str) -> onnx.NodeProto | None:
        n = self.producer.get(name)
        return n if n is not None and n.op_type == op else None

    def zero_point_dtypes(self) -> set[np.dtype]:
        out = set()
        for n in self.nodes:
            if n.op_type in ("QuantizeLinear", "DequantizeLinear") and len(n.input) > 2 and n.input[2]:
                z = self.const(n.input[2])
                if z is not None:
                    out.add(z.dtype)
            elif n.op_type in ("QuantizeLinear", "DequantizeLinear"):
                out.add(np.dtype(np.uint8))  # no zero point: uint8 by the ONNX default
        return out


def _is_constant(g: _Graph, name: str) -> bool:
    """A constant, or a DequantizeLinear of one (quantized weights)."""
    dq = g.made_by(name, "DequantizeLinear")
    return name in g.consts or (dq is not None and dq.input[0] in g.consts)


def _axis(node: onnx.NodeProto) -> int:
    return next((a.i for a in node.attribute if a.name == "axis"), 1)


def _is_activation_dq(g: _Graph, name: str) -> bool:
    """``name`` is dequantized from int8 activations with one (per-tensor) scale."""
    dq = g.made_by(name, "DequantizeLinear")
    if dq is None or dq.input[0] in g.consts:
        return False
    scale = g.const(dq.input[1])
    return scale is not None and scale.size == 1


def _weight_check(g: _Graph, node: onnx.NodeProto, k: int) -> str:
    """Empty when input ``k`` of ``node`` is a DQ of constant int8 weights with a TensorRT-ready axis; else why not."""
    name = node.input[k]
    dq = g.made_by(name, "DequantizeLinear")
    if dq is None:
        return "weights not quantized (float constant)" if name in g.consts else "weights not constant"
    w, scale = g.const(dq.input[0]), g.const(dq.input[1])
    if w is None or scale is None:
        return "weights not a constant DequantizeLinear"
    if w.dtype != np.int8:
        return f"weights stored as {w.dtype} (TensorRT takes int8)"
    if scale.size == 1:
        return ""
    want = WEIGHTED.get(node.op_type)
    if want is None:  # Gemm / MatMul: the output-channel axis of the weight matrix
        trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0)
        want = 0 if (node.op_type == "Gemm" and trans_b) else w.ndim - 1
    axis = _axis(dq) % w.ndim
    return "" if axis == want else f"weight scales along axis {axis}; TensorRT needs axis {want}"


def _float_reason(
    g: _Graph, node: onnx.NodeProto, data: str, decode_convs: set[str], first: str | None, keep: set[str]
) -> str:
    """Why a weighted op with an unquantized data input stays float."""
    owner = node_owner(node.name)
    if "/glimpse/" in node.name:
        return "glimpse classifier: kept float on purpose (reads full-range crops; its outputs are the scores)"
    if node.name in decode_convs:
        return "logits conv: decode precision (kept float on purpose)"
    if owner.startswith("heads.") and owner.split(".", 1)[1] in keep:
        return "head kept at higher precision (--keep)"
    if node.name == first:
        return "input not quantized: kept float on purpose (first conv reads the frame)"
    src = g.producer.get(data)
    if src is None:
        return "input not quantized: a graph input or constant"
    if src.op_type == "DequantizeLinear":
        return "input dequantized from a constant or with per-channel scales"
    if src.op_type in ("Resize", "MaxPool", "Concat"):
        return f"input from {src.op_type} without Q/DQ ({src.name})"
    weights = (
        "" if g.made_by(node.input[1 if node.input[0] == data else 0], "DequantizeLinear") else " (nor its weights)"
    )
    return f"input not quantized{weights}: from {src.op_type} {src.name}"


def _fused_chain_end(g: _Graph, out: str) -> tuple[str, list[onnx.NodeProto]]:
    """Follow ``out`` through the single-reader pointwise ops TensorRT fuses; the last tensor and the ops passed."""
    passed = []
    while True:
        readers = g.consumers.get(out, [])
        if len(readers) != 1 or out in g.outputs:
            return out, passed
        r = readers[0]
        if r.op_type not in FUSED_POINTWISE:
            return out, passed
        if r.op_type == "Add":
            other = [i for i in r.input if i != out]
            if not other or not (_is_activation_dq(g, other[0]) or other[0] in g.consts):
                return out, passed
        passed.append(r)
        out = r.output[0]


def _float_origin(g: _Graph, node: onnx.NodeProto | None) -> str:
    """What writes the float tensor a standalone Quantize reads, seen through fused pointwise ops."""
    if node is None:
        return "a float graph input"
    seen = [node]
    while seen[-1].op_type in FUSED_POINTWISE and seen[-1].input[0] in g.producer:
        seen.append(g.producer[seen[-1].input[0]])
    last = seen[-1]
    tail = "".join(f" + {n.op_type}" for n in reversed(seen[:-1]))
    return f"what float {last.op_type}{tail} {last.name} writes"


def _all_quantized(g: _Graph, tensor: str) -> bool:
    readers = g.consumers.get(tensor, [])
    return bool(readers) and tensor not in g.outputs and all(r.op_type == "QuantizeLinear" for r in readers)


def _int8_passthrough(g: _Graph, node: onnx.NodeProto) -> bool:
    """A commuting or quantizable op with every data input dequantized and its output quantized: it moves int8."""
    if node.op_type not in COMMUTING + QUANTIZABLE and not _is_nearest_resize(node):
        return False
    data = [i for i in node.input[:1]] if node.op_type not in ("Concat", "Add") else list(node.input)
    data = [i for i in data if i and i not in g.consts]
    return bool(data) and all(_is_activation_dq(g, i) for i in data) and _all_quantized(g, node.output[0])


def _is_nearest_resize(node: onnx.NodeProto) -> bool:
    mode = next((a.s for a in node.attribute if a.name == "mode"), b"nearest")
    return node.op_type == "Resize" and mode == b"nearest"


def _shared_scale_note(g: _Graph, data: str) -> str:
    """A caveat when ``data`` is a quantized Concat of features and constants: one scale covers both."""
    dq = g.made_by(data, "DequantizeLinear")
    q = g.made_by(dq.input[0], "QuantizeLinear") if dq is not None else None
    cat = g.made_by(q.input[0], "Concat") if q is not None else None
    if cat is None:
        return ""
    constant = [
        i for i in cat.input if i in g.consts or (g.made_by(i, "Expand") and g.producer[i].input[0] in g.consts)
    ]
    if not constant or len(constant) == len(cat.input):
        return ""
    return f"one int8 scale covers features and constant channels ({', '.join(constant)}) of {cat.name}"


def _decode_convs(g: _Graph) -> set[str]:
    """Weighted ops whose output feeds a head's decode op directly (the logits convs)."""
    out = set()
    for n in g.nodes:
        if n.op_type not in WEIGHTED or not node_owner(n.name).startswith("heads."):
            continue
        for r in g.consumers.get(n.output[0], []):
            if r.op_type in DECODE_OPS and r.name.count("/") == 1:
                out.add(n.name)
    return out


def _metadata_keep(model: onnx.ModelProto) -> set[str]:
    for p in model.metadata_props:
        if p.key == "mtl_edge":
            try:
                return set(json.loads(p.value).get("keep") or {})
            except (ValueError, AttributeError):
                return set()
    return set()


def placement_report(model: onnx.ModelProto) -> PlacementReport:
    """Which weighted ops of ``model`` run INT8 on TensorRT, which stay float and why, and which tensors reformat."""
    g = _Graph(model)
    if not any(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in g.nodes):
        return PlacementReport("float", note=FLOAT_NOTE)
    if np.dtype(np.uint8) in g.zero_point_dtypes() or any(n.op_type == "ConvInteger" for n in g.nodes):
        return PlacementReport("cpu", note=CPU_NOTE)
    decode_convs = _decode_convs(g)
    keep = _metadata_keep(model)
    first = next(
        (n.name for n in g.nodes if n.op_type in ("Conv", "ConvTranspose") and node_owner(n.name) != "preprocess"),
        None,
    )
    report = PlacementReport("tensorrt")
    int8_writers: dict[str, str] = {}  # tensor a Q reads -> the INT8 op whose fused output it is
    int8_readers: set[tuple[str, str]] = set()  # (DQ output, reader) pairs fused into INT8 ops
    for n in g.nodes:
        if n.op_type not in WEIGHTED:
            continue
        data_k, weight_k = (1, 0) if n.op_type == "MatMul" and _is_constant(g, n.input[0]) else (0, 1)
        data = n.input[data_k]
        weight_problem = _weight_check(g, n, weight_k)
        reason = ""
        if not _is_activation_dq(g, data):
            reason = _float_reason(g, n, data, decode_convs, first, keep)
        elif weight_problem:
            reason = weight_problem
        int8 = not reason
        output = "float"
        if int8:
            end, passed = _fused_chain_end(g, n.output[0])
            if _all_quantized(g, end):
                output = "int8"
                int8_writers[end] = n.name
            int8_readers.add((data, n.name))
            for p in passed:  # a fused residual Add reads its other input as int8
                for i in p.input:
                    if _is_activation_dq(g, i):
                        int8_readers.add((i, p.name))
        note = _shared_scale_note(g, data) if int8 else ""
        report.ops.append(OpPlacement(n.name, n.op_type, node_owner(n.name), int8, output, reason, note))

    for n in g.nodes:
        if _int8_passthrough(g, n):
            for i in n.input:
                if _is_activation_dq(g, i):
                    int8_readers.add((i, n.name))
            int8_writers.setdefault(n.output[0], n.name)
    for n in g.nodes:
        if n.op_type == "QuantizeLinear" and n.input[0] not in g.consts and n.input[0] not in int8_writers:
            src = g.producer.get(n.input[0])
            if src is not None and src.op_type == "DequantizeLinear":
                continue  # a requantization between two int8 tensors: TensorRT folds it into a rescale
            where = src.name if src is not None else "graph input"
            report.reformats.append(
                Reformat(n.input[0], "float->int8", where, [n.name], f"Quantize of {_float_origin(g, src)}")
            )
    for n in g.nodes:
        if n.op_type != "DequantizeLinear" or n.input[0] in g.consts:
            continue
        floats = [
            r.name
            for r in g.consumers.get(n.output[0], [])
            if (n.output[0], r.name) not in int8_readers and r.op_type != "QuantizeLinear"  # DQ -> Q: a rescale
        ]
        if floats:
            src = g.producer.get(n.input[0])
            report.reformats.append(
                Reformat(
                    n.output[0],
                    "int8->float",
                    src.name if src is not None else n.input[0],
                    floats,
                    f"Dequantize read in float by {', '.join(floats)}",
                )
            )
    return report


__all__ = ["PlacementReport", "OpPlacement", "Reformat", "placement_report"]
