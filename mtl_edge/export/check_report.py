"""``mtl-edge check MODEL.onnx``: load a file, run the parser-rules check, add the INT8 placement report."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnx

from mtl_edge.export.compat import Finding, check, errors


@dataclass
class CheckReport:
    """The findings for one file and target, and (for a TensorRT INT8 graph) where INT8 runs."""

    path: Path
    target: str
    trt_major: int | None
    dynamic_batch: bool
    findings: list[Finding]
    placement: Any = None  # an int8_placement.PlacementReport for INT8 graphs

    @property
    def ok(self) -> bool:
        return not errors(self.findings)

    def summary(self) -> str:
        what = f"TensorRT {self.trt_major} parser rules" if self.target == "tensorrt" else "ONNX Runtime"
        n_err = len(errors(self.findings))
        n_warn = len(self.findings) - n_err
        verdict = "passes" if self.ok else "FAILS"
        lines = [f"{self.path}: {verdict} {what} ({n_err} errors, {n_warn} warnings)"]
        lines += [f"  {f}" for f in self.findings]
        if self.placement is not None:
            lines.append(self.placement.summary())
        return "\n".join(lines)

    def to_json(self) -> str:
        return json.dumps(
            {
                "path": str(self.path),
                "target": self.target,
                "trt_major": self.trt_major,
                "dynamic_batch": self.dynamic_batch,
                "ok": self.ok,
                "findings": [f.to_dict() for f in self.findings],
                "int8_placement": self.placement.to_dict() if self.placement is not None else None,
            },
            indent=2,
        )


def load_onnx(path: Path) -> onnx.ModelProto:
    """An ONNX file, or a ValueError that says what is wrong with it and what to do."""
    if not path.is_file():
        raise ValueError(f"{path}: no such file. Give the .onnx written by `mtl-edge export`.")
    try:
        return onnx.load(str(path))
    except Exception as e:  # noqa: BLE001  (protobuf decode errors of a truncated or foreign file)
        raise ValueError(
            f"{path}: not a readable ONNX file ({type(e).__name__}); it may be truncated. Re-export it with "
            "`mtl-edge export CHECKPOINT --out MODEL.onnx`."
        ) from None


def int8_placement(model: onnx.ModelProto) -> Any:
    """The INT8 placement report of a Q/DQ graph, None for a float one."""
    if not any(n.op_type == "QuantizeLinear" for n in model.graph.node):
        return None
    from mtl_edge.export.int8_placement import placement_report

    return placement_report(model)


def check_file(
    path: str | Path, target: str = "tensorrt", trt_major: int = 10, dynamic_batch: bool | None = None
) -> CheckReport:
    """Check one ONNX file; ``dynamic_batch=None`` allows a symbolic batch only where the metadata asks for it."""
    from mtl_edge.deploy.metadata import read_metadata

    path = Path(path)
    model = load_onnx(path)
    try:
        metadata = read_metadata(model)
    except ValueError:
        metadata = {}
    if dynamic_batch is None:
        dynamic_batch = metadata.get("input", {}).get("batch") == "dynamic"
    findings = check(model, dynamic_batch=dynamic_batch, target=target, trt_major=trt_major)
    placement = int8_placement(model) if target == "tensorrt" else None
    return CheckReport(path, target, trt_major if target == "tensorrt" else None, dynamic_batch, findings, placement)
