"""``mtl-edge check``: TensorRT's ONNX-parser rules applied to a graph, without TensorRT.

No machine this project is built on can run TensorRT, so this check stands in for its
parser. It runs ONNX shape and type inference, then checks every node against the rules
table in ``trt_rules.json`` (transcribed from onnx-tensorrt's ``docs/operators.md`` and
importer; versions in the table's ``sources``): the op exists for that TensorRT major;
every input and output dtype is one the op accepts; UINT8 appears only as a network input
read by Casts or a network output made by a Cast from float; inputs the importer needs as
constants are constants; Resize, pooling, GridSample and TopK attributes; Q/DQ
(int8, zero point 0, per-tensor activations, per-channel weights on the right axis,
constant scales); bindable I/O dtypes and static shapes (except a requested dynamic batch).

Each finding names the node, the rule, the rule's source and the fix. ``--target ort``
checks the graph against ONNX Runtime instead (onnx.checker and a session load).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper

from mtl_edge.export.trt_rules import TRT_MAJORS, OpRule, Rules, load_rules

TARGETS = ("tensorrt", "ort")
FLOATS = frozenset({"FLOAT", "FLOAT16", "BFLOAT16"})
INDEX_TYPES = frozenset({"INT32", "INT64"})
#: TensorRT's largest TopK K (onnx-tensorrt importer, release 10.x; TensorRT's ITopKLayer limit).
MAX_TOPK = 3840


@dataclass(frozen=True)
class Finding:
    """One reason the graph would not build (error) or might not behave as intended (warning)."""

    node: str
    rule: str
    problem: str
    fix: str
    source: str
    severity: str = "error"

    def __str__(self) -> str:
        return f"{self.severity}: {self.node}: [{self.rule}] {self.problem} Fix: {self.fix} (rule from {self.source})"

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


class CompatibilityError(ValueError):
    """The exported graph would not build on TensorRT."""

    def __init__(self, findings: list[Finding]):
        self.findings = findings
        lines = "\n  ".join(str(v) for v in findings[:20])
        more = f"\n  (+{len(findings) - 20} more)" if len(findings) > 20 else ""
        super().__init__(f"the graph would not build on TensorRT:\n  {lines}{more}")


def dtype_name(elem_type: int) -> str:
    return TensorProto.DataType.Name(elem_type)


class _Graph:
    """A graph after inference: each tensor's dtype and shape, its producer, readers and constant value."""

    def __init__(self, model: onnx.ModelProto) -> None:
        self.model = model
        g = model.graph
        self.types: dict[str, str] = {}
        self.shapes: dict[str, list[int | str]] = {}
        for v in [*g.input, *g.value_info, *g.output]:
            t = v.type.tensor_type
            if t.elem_type:
                self.types[v.name] = dtype_name(t.elem_type)
            if t.HasField("shape"):
                self.shapes[v.name] = [d.dim_value if d.HasField("dim_value") else d.dim_param for d in t.shape.dim]
        self.consts: dict[str, np.ndarray] = {}
        for t in g.initializer:
            self.consts[t.name] = numpy_helper.to_array(t)
            self.types[t.name] = dtype_name(t.data_type)
        self.producer: dict[str, onnx.NodeProto] = {}
        self.readers: dict[str, list[onnx.NodeProto]] = {}
        for node in g.node:
            for o in node.output:
                self.producer[o] = node
            for i in node.input:
                self.readers.setdefault(i, []).append(node)
            if node.op_type == "Constant":
                value = next((a.t for a in node.attribute if a.name == "value"), None)
                if value is not None:
                    self.consts[node.output[0]] = numpy_helper.to_array(value)
                    self.types[node.output[0]] = dtype_name(value.data_type)
        self.inputs = {v.name for v in g.input if v.name not in self.consts}
        self.outputs = {v.name for v in g.output}

    def is_const(self, name: str) -> bool:
        """A constant as TensorRT's importer sees it: an initializer, a Constant, or a DQ of one (Q/DQ weights)."""
        if name in self.consts:
            return True
        node = self.producer.get(name)
        return node is not None and node.op_type == "DequantizeLinear" and node.input[0] in self.consts


def _attr(node: onnx.NodeProto, name: str, default: object = None) -> object:
    for a in node.attribute:
        if a.name == name:
            value = onnx.helper.get_attribute_value(a)
            return value.decode() if isinstance(value, bytes) else value
    return default


def _name(node: onnx.NodeProto) -> str:
    return node.name or f"{node.op_type}({node.output[0]})"


class _Checker:
    def __init__(self, model: onnx.ModelProto, rules: Rules, trt_major: int, dynamic_batch: bool) -> None:
        self.rules, self.trt, self.dynamic_batch = rules, trt_major, dynamic_batch
        self.g = _Graph(model)
        self.findings: list[Finding] = []

    def add(self, node: str, rule: str, problem: str, fix: str, source: str | None = None, severity: str = "error"):
        src = self.rules.source(source) if source else self.rules.rule_source(rule)
        self.findings.append(Finding(node, rule, problem, fix, src, severity))

    # --- whole graph ---------------------------------------------------------------------------------------

    def opset(self) -> None:
        opset = next((o.version for o in self.g.model.opset_import if o.domain in ("", "ai.onnx")), None)
        low, high = self.rules.opset[self.trt]
        if opset is None or not low <= opset <= high:
            self.add(
                "model",
                "opset-range",
                f"opset {opset} is outside TensorRT {self.trt}'s {low}-{high}.",
                f"export with an opset in {low}-{high} (mtl-edge exports opset 18)",
            )

    def io(self) -> None:
        bindable = self.rules.bindable[self.trt]
        for kind, names in (("input", self.g.inputs), ("output", self.g.outputs)):
            for name in sorted(names):
                dtype = self.g.types.get(name, "UNDEFINED")
                if dtype not in bindable:
                    self.add(
                        f"{kind} {name}",
                        "bindable-io",
                        f"dtype {dtype} cannot be bound as a network {kind} (trt.nptype maps {sorted(bindable)}).",
                        "cast it in the graph to float32, float16, int32, or to uint8 from float",
                    )
                for i, dim in enumerate(self.g.shapes.get(name, [])):
                    if isinstance(dim, int) and dim > 0 or (i == 0 and self.dynamic_batch):
                        continue
                    self.add(
                        f"{kind} {name}",
                        "static-shapes",
                        f"dimension {i} is not static ({dim or '?'}).",
                        "export with a fixed --imgsz and --batch (or --batch dynamic for the batch only)",
                    )

    def uint8(self) -> None:
        """UINT8 only as a network input read by Casts, or a Cast from float that is a network output."""
        for name, dtype in sorted(self.g.types.items()):
            if dtype != "UINT8" or name in self.g.consts:
                continue  # Q/DQ zero points are judged by the Q/DQ rule
            if name in self.g.inputs:
                for reader in self.g.readers.get(name, []):
                    if reader.op_type == "Cast" and _attr(reader, "to") not in (TensorProto.FLOAT, TensorProto.FLOAT16):
                        self.add(
                            _name(reader),
                            "uint8-io-only",
                            f"the uint8 input {name!r} is cast to {dtype_name(int(_attr(reader, 'to', 0)))}; "
                            "TensorRT converts UINT8 only to and from FLOAT and FLOAT16.",
                            f"cast {name!r} to float32 first",
                        )
                    elif reader.op_type != "Cast":
                        self.add(
                            _name(reader),
                            "uint8-io-only",
                            f"{reader.op_type} reads the uint8 input {name!r}; TensorRT lets only Cast read a uint8 "
                            "tensor (not even Transpose or Reshape).",
                            f"cast {name!r} to float first and apply {reader.op_type} to the float tensor",
                        )
                continue
            node = self.g.producer.get(name)
            if name in self.g.outputs and node is not None and node.op_type == "Cast":
                src = self.g.types.get(node.input[0], "UNDEFINED")
                if src not in FLOATS:
                    self.add(
                        _name(node),
                        "uint8-cast-from-float",
                        f"the uint8 output {name!r} is cast from {src}; NVIDIA's docs disagree on casts from "
                        "BOOL/INT64 to UINT8, so only a Cast from float is known to build.",
                        f"cast {name!r}'s source to float32 first, then to uint8",
                    )
                continue
            where = _name(node) if node is not None else name
            self.add(
                where,
                "uint8-io-only",
                f"tensor {name!r} is an intermediate uint8 tensor; TensorRT does not support UINT8 types for "
                "intermediate tensors.",
                "keep uint8 only on the graph input (read by a Cast) and on outputs made by a Cast from float",
            )

    # --- per node ------------------------------------------------------------------------------------------

    def node(self, node: onnx.NodeProto) -> None:
        name, op = _name(node), node.op_type
        if node.domain not in ("", "ai.onnx"):
            self.add(
                name,
                "custom-domain",
                f"custom-domain op {node.domain}::{op} needs a TensorRT plugin.",
                "express it with standard ONNX ops",
            )
            return
        rule = self.rules.ops.get(op)
        if rule is None or self.trt not in rule.trt:
            self.add(
                name,
                "unsupported-op",
                f"op {op} is not parsed by TensorRT {self.trt}'s ONNX importer.",
                "rewrite that part of the model with supported ops (see docs/tensorrt-rules.md)",
                source=rule.source if rule else "operators",
            )
            return
        self.dtypes(node, rule)
        self.attrs(node, rule)
        special = _SPECIAL.get(op)
        if special is not None:
            special(self, node)

    def dtypes(self, node: onnx.NodeProto, rule: OpRule) -> None:
        name = _name(node)
        checks = [(f"input {k}", t, rule.input_role(k)) for k, t in enumerate(node.input) if t]
        checks += [(f"output {k}", t, rule.output_role(k)) for k, t in enumerate(node.output) if t]
        for where, tensor, role in checks:
            dtype = self.g.types.get(tensor)
            if role == "initializer" and where.startswith("input") and not self.g.is_const(tensor):
                self.add(
                    name,
                    "initializer-input",
                    f"{node.op_type} {where} ({tensor!r}) is computed at run time; TensorRT's importer needs it "
                    "as a constant initializer.",
                    "make it a constant (fixed sizes, axes and limits in the model; simplify the graph)",
                )
                continue
            if dtype is None or role in ("any", "initializer") or dtype == "UINT8":
                continue  # UINT8 is judged by its own rule
            allowed = {"data": rule.types, "index": INDEX_TYPES, "shape": INDEX_TYPES, "bool": {"BOOL"}}[role]
            if node.op_type == "Cast" and where.startswith("output"):
                allowed = rule.types | {"UINT8"}
            if dtype not in allowed:
                self.add(
                    name,
                    "op-dtype",
                    f"{node.op_type} {where} ({tensor!r}) is {dtype}; TensorRT {self.trt} takes "
                    f"{', '.join(sorted(allowed))} there.",
                    f"cast it to one of {', '.join(sorted(allowed))} before {node.op_type}",
                    source=rule.source,
                )

    def attrs(self, node: onnx.NodeProto, rule: OpRule) -> None:
        for attr, allowed in rule.attrs.items():
            value = _attr(node, attr)
            if value is not None and value not in allowed:
                self.add(
                    _name(node),
                    "attr-value",
                    f"{node.op_type} {attr}={value!r} is not supported; TensorRT takes {list(allowed)}.",
                    f"use {attr} in {list(allowed)} (e.g. align_corners=False, nearest or bilinear upsampling)",
                    source=rule.source,
                )


def _resize(c: _Checker, node: onnx.NodeProto) -> None:
    """Attributes are judged by the table; here: no ``axes``, and scales/sizes fixed at build time."""
    if _attr(node, "axes") is not None:
        c.add(_name(node), "resize-limits", "Resize with an axes attribute is not supported.", "resize all axes")
    for k in (2, 3):
        if len(node.input) > k and node.input[k] and not c.g.is_const(node.input[k]):
            c.add(
                _name(node),
                "resize-limits",
                f"Resize {'scales' if k == 2 else 'sizes'} are computed at run time.",
                "use a fixed scale_factor or output size",
            )


def _pool(c: _Checker, node: onnx.NodeProto) -> None:
    name = _name(node)
    rank = len(c.g.shapes.get(node.input[0], [])) or None
    if rank is not None and rank not in (3, 4, 5):
        c.add(
            name,
            "pooling-limits",
            f"{node.op_type} on a rank-{rank} tensor; TensorRT pools 1-D (as 2-D), 2-D and 3-D only.",
            "pool NCHW features",
        )
    dilations = _attr(node, "dilations")
    if dilations and any(d != 1 for d in dilations):
        c.add(
            name,
            "pooling-limits",
            f"{node.op_type} dilations {list(dilations)}; TensorRT pools undilated.",
            "use dilation 1",
        )
    if node.op_type == "MaxPool" and (len(node.output) > 1 and node.output[1] or _attr(node, "storage_order", 0)):
        c.add(name, "pooling-limits", "MaxPool's Indices output is not supported.", "do not use return_indices")


def _grid_sample(c: _Checker, node: onnx.NodeProto) -> None:
    rank = len(c.g.shapes.get(node.input[0], []))
    if rank != 4:
        c.add(
            _name(node),
            "gridsample-rank4",
            f"GridSample on a rank-{rank or '?'} input; TensorRT's IGridSampleLayer is 4-D only.",
            "sample 4-D NCHW features",
        )


def _topk(c: _Checker, node: onnx.NodeProto) -> None:
    name = _name(node)
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


def _qdq(c: _Checker, node: onnx.NodeProto) -> None:
    name = _name(node)
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
        axis = int(_attr(node, "axis", 1))
        for reader in c.g.readers.get(node.output[0], []):
            want = {"Conv": 0, "ConvTranspose": 1}.get(reader.op_type)
            if want is not None and axis != want:
                c.add(
                    name,
                    "qdq-weight-axis",
                    f"per-channel weight scales on axis {axis} feed {reader.op_type}; TensorRT needs axis {want}.",
                    f"quantize {reader.op_type} weights per output channel (axis {want})",
                )


_SPECIAL = {
    "Resize": _resize,
    "MaxPool": _pool,
    "AveragePool": _pool,
    "LpPool": _pool,
    "GridSample": _grid_sample,
    "TopK": _topk,
    "QuantizeLinear": _qdq,
    "DequantizeLinear": _qdq,
}


def _infer(model: onnx.ModelProto) -> tuple[onnx.ModelProto | None, str]:
    try:
        return onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True), ""
    except Exception as e:  # noqa: BLE001  (onnx raises several types; each means the same to the user)
        return None, f"{type(e).__name__}: {e}"


def _cpu_int8_flavour(model: onnx.ModelProto) -> bool:
    from mtl_edge.export.onnx import read_metadata

    try:
        return read_metadata(model).get("int8_target") == "cpu"
    except ValueError:
        return any(n.op_type in ("ConvInteger", "MatMulInteger") for n in model.graph.node)


def check_tensorrt(
    model: onnx.ModelProto, dynamic_batch: bool = False, trt_major: int = 10, rules: Rules | None = None
) -> list[Finding]:
    """Every TensorRT parser-rule finding in ``model`` (empty when it would parse)."""
    if trt_major not in TRT_MAJORS:
        raise ValueError(f"TensorRT {trt_major}: choose one of {', '.join(map(str, TRT_MAJORS))}")
    rules = rules or load_rules()
    inferred, error = _infer(model)
    if inferred is None:
        source = rules.source("onnx")
        fix = "re-export the model; the graph is inconsistent"
        return [Finding("model", "shape-inference", f"ONNX shape/type inference failed: {error}", fix, source)]
    c = _Checker(inferred, rules, trt_major, dynamic_batch)
    if _cpu_int8_flavour(model):
        c.add(
            "model",
            "cpu-int8-flavour",
            "this is the CPU INT8 graph (uint8 activations with zero points): ONNX Runtime only, TensorRT rejects it.",
            "for TensorRT export with --precision int8 --int8-target tensorrt",
        )
    c.opset()
    for node in inferred.graph.node:
        c.node(node)
    c.uint8()
    c.io()
    assumed = rules.sources.get(f"assumed_{trt_major}")
    if assumed:
        c.add("model", "rules-version", assumed, "run `mtl-edge doctor` on the device to confirm", severity="warning")
    return c.findings


def check_ort(model: onnx.ModelProto) -> list[Finding]:
    """Findings for ONNX Runtime: onnx.checker with full_check, then a CPU session load."""
    import onnxruntime as ort

    src = "onnx.checker and onnxruntime.InferenceSession"
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as e:  # noqa: BLE001
        return [Finding("model", "onnx-checker", str(e).splitlines()[0], "re-export the model", src)]
    try:
        ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    except Exception as e:  # noqa: BLE001
        return [Finding("model", "ort-session", str(e).splitlines()[0], "re-export the model", src)]
    return []


def check(
    model: onnx.ModelProto, dynamic_batch: bool = False, target: str = "tensorrt", trt_major: int = 10
) -> list[Finding]:
    """Every finding for ``target`` ("tensorrt" or "ort"); errors first."""
    if target not in TARGETS:
        raise ValueError(f"target {target!r}: choose one of {', '.join(TARGETS)}")
    found = check_tensorrt(model, dynamic_batch, trt_major) if target == "tensorrt" else check_ort(model)
    return sorted(found, key=lambda f: f.severity != "error")


def errors(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity == "error"]


def require_compatible(model: onnx.ModelProto, dynamic_batch: bool = False, trt_majors=TRT_MAJORS) -> None:
    """Raise CompatibilityError naming each node that TensorRT 10 or 11 would reject, and its fix."""
    found = [f for major in trt_majors for f in errors(check_tensorrt(model, dynamic_batch, major))]
    unique = list(dict.fromkeys(found))
    if unique:
        raise CompatibilityError(unique)
