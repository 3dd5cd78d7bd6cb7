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

from mtl_edge.export.trt_op_rules import OP_CHECKS
from mtl_edge.export.trt_op_rules import attr as _attr
from mtl_edge.export.trt_op_rules import node_name as _name
from mtl_edge.export.trt_rules import TRT_MAJORS, OpRule, Rules, load_rules

TARGETS = ("tensorrt", "ort")
FLOATS = frozenset({"FLOAT", "FLOAT16", "BFLOAT16"})
INDEX_TYPES = frozenset({"INT32", "INT64"})
_QDQ = ("QuantizeLinear", "DequantizeLinear")


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
        special = OP_CHECKS.get(op)
        if special is not None:
            special(self, node)

    def dtypes(self, node: onnx.NodeProto, rule: OpRule) -> None:
        name = _name(node)
        if not rule.types:
            self.add(
                name,
                "types-unpublished",
                f"{node.op_type} has no published type list for TensorRT {self.trt}; its dtypes are not checked.",
                "confirm the build with `mtl-edge doctor` on the device",
                severity="warning",
            )
            return
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
            if dtype == "UINT8" and tensor in self.g.consts and node.op_type not in _QDQ:
                dtype = "INT32"  # the parser turns uint8 constants into int32 weights (uint8-constants-become-int32)
            if dtype is None or role in ("any", "initializer") or dtype == "UINT8":
                continue  # UINT8 tensors are judged by their own rule
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


def _infer(model: onnx.ModelProto) -> tuple[onnx.ModelProto | None, str]:
    try:
        return onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True), ""
    except Exception as e:  # noqa: BLE001  (onnx raises several types; each means the same to the user)
        return None, f"{type(e).__name__}: {e}"


def _cpu_int8_flavour(model: onnx.ModelProto) -> bool:
    from mtl_edge.deploy.metadata import read_metadata

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
