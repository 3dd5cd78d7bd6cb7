"""The doctor's run: the steps this machine allows, in order, and the report they write."""

from __future__ import annotations

import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from mtl_edge.doctor.common import Progress, error_text
from mtl_edge.doctor.engine import engine_steps
from mtl_edge.doctor.env import environment, first_sentence, tensorrt_ready
from mtl_edge.doctor.onnx_steps import export_and_check, generated_frames
from mtl_edge.fileio import atomic_write_bytes
from mtl_edge.version import __version__

#: Precisions the doctor exports (int8 is the TensorRT flavour: symmetric Q/DQ).
PRECISIONS = ("fp32", "fp16", "int8")
#: Generated frames for int8 calibration when no --calib folder is given.
CALIB_FRAMES = 32
REPORT_NAME = "doctor.json"
REPORT_SCHEMA = 1

TRT_STEPS = (
    "build engines with a timing cache",
    "compare every head with ONNX Runtime",
    "profile per head",
    "read per-layer precisions (engine inspector)",
)


def run_doctor(
    checkpoint: Path,
    out_dir: Path,
    calib: Path | None = None,
    trt_major: int | None = None,
    progress: Progress = print,
    *,
    calib_images: int = CALIB_FRAMES,
) -> dict[str, Any]:
    """Run every check this machine allows; write ``out_dir/doctor.json`` and return the report.

    ``calib`` is a folder of frames for int8 calibration (default: ``calib_images`` generated
    scenes). ``trt_major`` picks the TensorRT rules the ONNX check applies (default: the
    installed TensorRT's major, else 10, JetPack 6's).
    """
    checkpoint, out_dir = Path(checkpoint), Path(out_dir)
    if trt_major is not None and trt_major not in (10, 11):
        raise ValueError(f"--trt {trt_major}: mtl-edge targets TensorRT 10 (JetPack 6) or 11; choose 10 or 11")
    if not checkpoint.is_file():
        raise FileNotFoundError(f"checkpoint {checkpoint} does not exist; leave it out to use the shipped one")
    if calib is not None and not Path(calib).is_dir():
        raise ValueError(f"--calib {calib}: no such folder; give a folder of frames, or leave it out")
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    report: dict[str, Any] = {
        "schema": REPORT_SCHEMA,
        "mtl_edge_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": " ".join(sys.argv),
        "checkpoint": str(checkpoint),
        "out_dir": str(out_dir),
        "skipped": [],
        "notes": [],
    }
    try:
        _run(report, checkpoint, out_dir, calib, trt_major, calib_images, progress)
    except Exception as e:  # noqa: BLE001  (an unexpected failure still leaves a report saying where it stopped)
        report["aborted"] = {"error": error_text(e), "traceback": traceback.format_exc(limit=8)}
        progress(f"doctor stopped: {error_text(e)}")
    report["seconds"] = round(time.perf_counter() - start, 1)
    report["ok"] = _overall_ok(report)
    path = out_dir / REPORT_NAME
    atomic_write_bytes(path, (json.dumps(report, indent=2, default=str) + "\n").encode("utf-8"))
    if not report["ok"]:
        verdict = "some checks failed; see above"
    elif report.get("tensorrt_steps") == "ran":
        verdict = "all checks passed"
    else:
        verdict = "the ONNX-only checks passed; the TensorRT steps were skipped"
    progress(f"report: {path} ({verdict})")
    return report


def _run(
    report: dict[str, Any],
    checkpoint: Path,
    out_dir: Path,
    calib: Path | None,
    trt_major: int | None,
    calib_images: int,
    progress: Progress,
) -> None:
    from mtl_edge.backends.trt.cuda import tensorrt_major

    progress("checking the environment")
    env = report["environment"] = environment()
    for key, item in env.items():
        shown = item["value"] if item["status"] == "ok" else f"missing ({first_sentence(item['reason'])})"
        progress(f"  {key}: {shown}")
    ready, why_not = tensorrt_ready(env)
    installed = tensorrt_major(env["tensorrt"]["value"]) if env["tensorrt"]["status"] == "ok" else None
    rules = trt_major or installed or 10
    report["trt_rules_major"] = rules
    if installed is not None and rules != installed:
        report["notes"].append(
            f"ONNX checked against TensorRT {rules} rules, but this machine has TensorRT {installed}; "
            f"engines are built with TensorRT {installed}."
        )
    calib_dir = Path(calib) if calib is not None else generated_frames(out_dir / "calib-frames", calib_images, progress)
    report["calibration_frames"] = str(calib_dir)
    exports = report["exports"] = {}
    for precision in PRECISIONS:
        exports[precision] = export_and_check(checkpoint, out_dir, precision, calib_dir, calib_images, rules, progress)
    report["tensorrt_steps"] = "ran" if ready else f"skipped: {why_not}"
    if not ready:
        for step in TRT_STEPS:
            report["skipped"].append({"step": step, "reason": why_not})
        progress(f"stopped after the ONNX-only steps; not done: {', '.join(TRT_STEPS)}. Why: {why_not}")
        return
    engines = report["engines"] = {}
    cache = out_dir / "timing.cache"
    for precision, entry in exports.items():
        if entry["status"] != "ok":
            report["skipped"].append(
                {"step": f"{precision} engine", "reason": f"the {precision} export failed its checks"}
            )
            continue
        engine = out_dir / f"{checkpoint.stem}.{precision}.engine"
        engines[precision] = engine_steps(Path(entry["onnx"]), engine, precision, cache, progress)


def _overall_ok(report: dict[str, Any]) -> bool:
    """No export, check or engine step failed (skipped TensorRT steps do not count as failures)."""
    if "aborted" in report:
        return False
    if any(e.get("status") != "ok" for e in report.get("exports", {}).values()):
        return False
    for engine in report.get("engines", {}).values():
        steps = [v for v in engine.values() if isinstance(v, dict) and "status" in v]
        if any(step["status"] != "ok" for step in steps):
            return False
    return True
