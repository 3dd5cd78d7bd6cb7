"""``mtl-edge export`` / ``mtl_edge.export.export``: checkpoint -> checked ONNX file.

This release exports FP32 graphs. FP16, INT8 (explicit Q/DQ) and the TensorRT engine
build are tracked in the export issue and are not available yet; the options are
refused with that message rather than silently ignored.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from mtl_edge.export.compat import require_compatible
from mtl_edge.export.onnx import export_graph, file_sha256, finalize, model_metadata, save, simplify


@dataclass
class ExportReport:
    """What an export produced."""

    onnx: Path
    precision: str
    input_hw: tuple[int, int]
    batch: int
    outputs: list[str]
    simplifier: str
    nodes: int
    size_bytes: int
    seconds: float
    checks: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.onnx}: {self.precision}, input uint8 [{self.batch},{self.input_hw[0]},{self.input_hw[1]},3], "
            f"{len(self.outputs)} outputs, {self.nodes} nodes, {self.size_bytes / 1e6:.2f} MB, simplified with "
            f"{self.simplifier}, {self.seconds:.1f} s; checks: {', '.join(self.checks)}"
        )


def parse_batch(value: int | str) -> int:
    if value == "dynamic":
        raise ValueError(
            "--batch dynamic is not available yet (torch.export specialises the batch in this model); "
            "export one file per batch size, e.g. --batch 1."
        )
    try:
        batch = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"batch must be a positive whole number or 'dynamic', got {value!r}") from None
    if batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch}")
    return batch


def check_imgsz(imgsz: tuple[int, int]) -> tuple[int, int]:
    h, w = (int(v) for v in imgsz)
    if h <= 0 or w <= 0 or h % 32 or w % 32:
        raise ValueError(
            f"--imgsz {h}x{w}: height and width must be positive multiples of 32 (the network's "
            f"largest stride); try {max(32, round(h / 32) * 32)}x{max(32, round(w / 32) * 32)}."
        )
    return h, w


def export(
    checkpoint: str | Path,
    out: str | Path,
    precision: str = "fp32",
    imgsz: tuple[int, int] | None = None,
    batch: int | str = 1,
) -> ExportReport:
    """Export a checkpoint to a checked, simplified ONNX file with metadata; returns a report."""
    from mtl_edge.config import recipe_from_dict
    from mtl_edge.train import load_model

    if precision != "fp32":
        raise ValueError(
            f"precision {precision!r} is not available in this release (FP32 only); FP16 and INT8 "
            "export are tracked in the export issue."
        )
    start = time.perf_counter()
    batch = parse_batch(batch)
    net, ckpt = load_model(checkpoint)
    recipe = recipe_from_dict(ckpt["recipe"], where=f"{checkpoint} (recipe)")
    input_hw = check_imgsz(imgsz or tuple(recipe.data.imgsz))
    graph = export_graph(net, input_hw, batch)
    graph, tool = simplify(graph)
    meta = model_metadata(
        net,
        input_hw,
        precision,
        file_sha256(checkpoint),
        batch,
        {"recipe": recipe.name, "classes": ckpt.get("classes", {})},
    )
    graph = finalize(graph, meta)
    require_compatible(graph)
    save(graph, out)
    return ExportReport(
        onnx=Path(out),
        precision=precision,
        input_hw=input_hw,
        batch=batch,
        outputs=[o.name for o in graph.graph.output],
        simplifier=tool,
        nodes=len(graph.graph.node),
        size_bytes=Path(out).stat().st_size,
        seconds=time.perf_counter() - start,
        checks=["onnx.checker full_check", "TensorRT 10/11 compatibility"],
    )
