"""The doctor's ONNX-only steps: export each precision and run TensorRT's parser-rules check on it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mtl_edge.doctor.common import Progress, error_text


def finding_dict(finding: Any) -> dict[str, Any]:
    """One compatibility finding as JSON (findings of older checks have no severity: they were all errors)."""
    return {
        "severity": getattr(finding, "severity", "error"),
        "node": getattr(finding, "node", None),
        "rule": getattr(finding, "rule", None),
        "problem": getattr(finding, "problem", None),
        "fix": getattr(finding, "fix", None),
        "source": getattr(finding, "source", None),
        "text": str(finding),
    }


def check_onnx(model: Any, trt_major: int) -> list[dict[str, Any]]:
    """The TensorRT parser-rules check of ``model`` (static batch) for TensorRT ``trt_major``, as JSON findings."""
    from mtl_edge.export.compat import check

    return [finding_dict(f) for f in check(model, dynamic_batch=False, target="tensorrt", trt_major=trt_major)]


def int8_placement(model: Any, placement: Any = None) -> dict[str, Any]:
    """The INT8 placement report of a TensorRT-flavour int8 graph (the export's own, else computed here)."""
    if placement is None:
        try:
            from mtl_edge.export.int8_placement import placement_report
        except ImportError as e:
            return {"status": "skipped", "reason": f"this mtl-edge has no INT8 placement report ({e})"}
    try:
        return {"status": "ok", "report": (placement or placement_report(model)).to_dict()}
    except Exception as e:  # noqa: BLE001  (a report failure must not stop the doctor)
        return {"status": "error", "reason": error_text(e)}


def generated_frames(out: Path, n: int, progress: Progress) -> Path:
    """A folder of ``n`` generated 640x360 scenes (the shipped model's domain) for int8 calibration."""
    from mtl_edge.data.synth.writer import SynthOptions, generate

    progress(f"generating {n} calibration frames in {out}")
    generate(out, n, SynthOptions(seed=2024, width=640, height=360), workers=1, progress=False)
    return out / "images"


def export_and_check(
    checkpoint: Path, out_dir: Path, precision: str, calib: Path, calib_images: int, trt_major: int, progress: Progress
) -> dict[str, Any]:
    """Export one precision and run the parser-rules check (and, for int8, the placement report)."""
    import onnx

    from mtl_edge.export.exporter import export

    path = out_dir / f"{checkpoint.stem}.{precision}.onnx"
    progress(f"exporting {precision} -> {path}")
    entry: dict[str, Any] = {"onnx": str(path)}
    try:
        report = export(
            checkpoint,
            path,
            precision=precision,
            val_images=0,
            calib=calib if precision == "int8" else None,
            calib_images=calib_images,
            cache_dir=out_dir / "calibration-cache",
        )
    except Exception as e:  # noqa: BLE001  (record it; the other precisions still run)
        entry.update(status="error", error=error_text(e))
        found = getattr(e, "findings", getattr(e, "violations", None))  # CompatibilityError: the export's check
        if found is not None:
            entry["findings"] = [finding_dict(f) for f in found]
        progress(f"  {precision}: export failed: {str(e).splitlines()[0]}")
        return entry
    model = onnx.load(str(path))
    findings = check_onnx(model, trt_major)
    errors = sum(f["severity"] == "error" for f in findings)
    entry.update(
        status="ok" if errors == 0 else "error",
        nodes=report.nodes,
        size_bytes=report.size_bytes,
        seconds=round(report.seconds, 1),
        checks=report.checks,
        findings=findings,
    )
    if precision == "int8":
        entry["calibration"] = report.calibration
        entry["int8_placement"] = int8_placement(model, getattr(report, "placement", None))
        counts = entry["int8_placement"].get("report", {}).get("counts", {})
        if "int8" in counts and "weighted" in counts:
            progress(f"  int8 placement: {counts['int8']} of {counts['weighted']} weighted ops in INT8")
    progress(f"  {precision}: {len(findings)} finding(s), {errors} error(s) under TensorRT {trt_major} rules")
    return entry
