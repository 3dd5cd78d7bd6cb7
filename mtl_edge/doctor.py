"""``mtl-edge doctor``: one acceptance run on the machine that will deploy the model.

It checks the environment (TensorRT, CUDA, cuda-python, GPU, compute capability, DLA
cores), exports the checkpoint at fp32, fp16 and int8 (TensorRT flavour) and runs the
static TensorRT parser-rules check on each. Where TensorRT and a GPU are present it then
builds every engine with a shared timing cache, runs each against ONNX Runtime on the
same generated frames (per-head maximum deviation, judged against a tolerance per
precision by ``compare_heads``), profiles it per head and reads the engine inspector's
per-layer precisions. Where they are missing it stops after the
ONNX-only steps and the report says what it could not do and why. Everything lands in
one JSON report, ``<out_dir>/doctor.json``, written atomically.
"""

from __future__ import annotations

import json
import platform
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mtl_edge import __version__
from mtl_edge.fileio import atomic_write_bytes

#: Precisions the doctor exports (int8 is the TensorRT flavour: symmetric Q/DQ).
PRECISIONS = ("fp32", "fp16", "int8")
#: Generated frames for int8 calibration when no --calib folder is given, and for the TensorRT-vs-ORT comparison.
CALIB_FRAMES = 32
COMPARE_FRAMES = 4
REPORT_NAME = "doctor.json"
REPORT_SCHEMA = 1

Progress = Callable[[str], Any]


def _ok(value: Any) -> dict[str, Any]:
    return {"status": "ok", "value": value}


def _missing(reason: str) -> dict[str, Any]:
    return {"status": "missing", "reason": reason}


def _error_text(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"


# --- environment ---------------------------------------------------------------------------------------------


def _package_version(*names: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    for name in names:
        try:
            return version(name)
        except PackageNotFoundError:
            continue
    return None


def _cuda_version(number: int) -> str:
    """CUDA's integer versions (12060) as text ("12.6")."""
    return f"{number // 1000}.{(number % 1000) // 10}"


def cuda_mismatch(runtime: str, driver: str) -> str | None:
    """Why cuda-python cannot work with this driver (its CUDA runtime is of a newer major), or None."""
    from mtl_edge.export.tensorrt import CUDA_PYTHON_PIN

    rt_major, drv_major = int(runtime.split(".")[0]), int(driver.split(".")[0])
    if rt_major <= drv_major:
        return None
    return (
        f"cuda-python links its own CUDA {runtime} runtime, but this driver supports CUDA {driver}: a CUDA "
        f"{rt_major} runtime needs a CUDA {rt_major} driver. Install the cuda-python of the driver's major "
        f"(`pip install 'cuda-python>={drv_major},<{drv_major + 1}'`; on JetPack 6, `pip install '{CUDA_PYTHON_PIN}'`)."
    )


def environment() -> dict[str, dict[str, Any]]:
    """Each component the TensorRT path needs: ``status`` "ok" with its ``value``, or "missing" with the ``reason``."""
    from mtl_edge.export.tensorrt import _cudart, _major, gpu_identity, tensorrt_available

    env: dict[str, dict[str, Any]] = {
        "python": _ok(platform.python_version()),
        "platform": _ok(f"{platform.system()} {platform.machine()}"),
        "mtl_edge": _ok(__version__),
    }
    ort_version = _package_version("onnxruntime", "onnxruntime-gpu")
    env["onnxruntime"] = _ok(ort_version) if ort_version else _missing("onnxruntime is not installed")
    have_trt, trt_status = tensorrt_available()
    env["tensorrt"] = _ok(trt_status.removeprefix("TensorRT ")) if have_trt else _missing(trt_status)
    if have_trt and _major(env["tensorrt"]["value"]) < 10:
        have_trt = False
        env["tensorrt"] = _missing(
            f"{trt_status} is too old: mtl-edge builds strongly typed networks, which need TensorRT 10 or 11. "
            "Upgrade TensorRT (JetPack 6 on Jetson; `pip install -U tensorrt` elsewhere)."
        )
    try:
        cudart = _cudart()
    except RuntimeError as e:
        for key in ("cuda_python", "cuda_runtime", "cuda_driver", "gpu", "compute_capability"):
            env[key] = _missing(str(e))
    else:
        env["cuda_python"] = _ok(_package_version("cuda-python", "cuda-bindings") or "installed")
        for key, call in (("cuda_runtime", "cudaRuntimeGetVersion"), ("cuda_driver", "cudaDriverGetVersion")):
            try:
                err, number = getattr(cudart, call)()
                if err != cudart.cudaError_t.cudaSuccess:
                    env[key] = _missing(f"{call} failed ({err})")
                elif not number:  # the call succeeds and reports 0 when no driver is loaded
                    env[key] = _missing("no NVIDIA driver is loaded (check `nvidia-smi`; on Jetson, JetPack)")
                else:
                    env[key] = _ok(_cuda_version(int(number)))
            except Exception as e:  # noqa: BLE001  (a broken CUDA install fails in many ways)
                env[key] = _missing(f"{call} failed: {_error_text(e)}")
        if env["cuda_runtime"]["status"] == env["cuda_driver"]["status"] == "ok":
            mismatch = cuda_mismatch(env["cuda_runtime"]["value"], env["cuda_driver"]["value"])
            if mismatch:
                env["cuda_python"] = _missing(mismatch)
        try:
            name, cc = gpu_identity()
            env["gpu"], env["compute_capability"] = _ok(name), _ok(cc)
        except RuntimeError as e:
            env["gpu"] = env["compute_capability"] = _missing(str(e))
    env["dla_cores"] = _dla_cores(have_trt, env["tensorrt"].get("reason", ""))
    return env


def _dla_cores(have_trt: bool, why_not: str) -> dict[str, Any]:
    if not have_trt:
        return _missing(f"needs TensorRT ({_first_sentence(why_not)})")
    try:
        import tensorrt as trt

        from mtl_edge.export.tensorrt import trt_logger

        return _ok(int(trt.Runtime(trt_logger()).num_DLA_cores))
    except Exception as e:  # noqa: BLE001
        return _missing(f"TensorRT could not report DLA cores: {_error_text(e)}")


def _first_sentence(text: str) -> str:
    return text.split(". ", 1)[0].rstrip(".")


def tensorrt_ready(env: dict[str, dict[str, Any]]) -> tuple[bool, str]:
    """Whether engines can be built here; if not, why (the first sentence of each missing component's reason)."""
    needed = ("tensorrt", "cuda_python", "gpu")
    reasons = [f"{key}: {_first_sentence(env[key]['reason'])}" for key in needed if env[key]["status"] != "ok"]
    if not reasons:
        return True, ""
    return False, "; ".join(reasons) + " (the report's environment section says how to fix each)"


# --- ONNX-only steps -----------------------------------------------------------------------------------------


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
        return {"status": "error", "reason": _error_text(e)}


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
        entry.update(status="error", error=_error_text(e))
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


# --- TensorRT steps ------------------------------------------------------------------------------------------


def compare_frames(input_hw: tuple[int, int], n: int = COMPARE_FRAMES) -> np.ndarray:
    """``n`` generated driving scenes, letterboxed to the model input: uint8 [n, H, W, 3]."""
    from mtl_edge.data.synth.render import render
    from mtl_edge.data.synth.scene import sample_scene
    from mtl_edge.data.transforms import letterbox_image

    return np.stack([letterbox_image(render(sample_scene(1000 + i)).image, input_hw)[0] for i in range(n)])


def output_deviation(reference: dict[str, np.ndarray], other: dict[str, np.ndarray]) -> dict[str, Any]:
    """Per output: max absolute difference (and the fraction of differing values); per head: the largest."""
    outputs: dict[str, dict[str, float]] = {}
    heads: dict[str, float] = {}
    for name, ref in reference.items():
        got = np.asarray(other[name])
        if got.shape != ref.shape:
            outputs[name] = {"max_abs": float("inf"), "differ_fraction": 1.0}
        else:
            diff = np.abs(ref.astype(np.float64) - got.astype(np.float64))
            outputs[name] = {"max_abs": float(diff.max(initial=0.0)), "differ_fraction": float((diff > 0).mean())}
        head = name.split(".", 1)[0]
        heads[head] = max(heads.get(head, 0.0), outputs[name]["max_abs"])
    return {"heads_max_abs": heads, "outputs": outputs}


#: Per precision, how far TensorRT may stray from ONNX Runtime on the same graph: lane x (input
#: pixels, 99th percentile) and score, detection box IoU and score, fraction of equal mask / valid
#: values, and the fraction of confident detections that must find their partner. The gaps come
#: from kernel choice (TF32 for fp32 convs, fp16 accumulation order, int8 rounding).
PARITY_TOLERANCE = {
    "fp32": {"px": 1.0, "score": 0.01, "iou": 0.9, "agree": 0.995, "matched": 1.0},
    "fp16": {"px": 2.0, "score": 0.02, "iou": 0.85, "agree": 0.99, "matched": 0.95},
    "int8": {"px": 6.0, "score": 0.08, "iou": 0.7, "agree": 0.97, "matched": 0.85},
}
DETECTION_SCORE = 0.3  # a detection "is there" above this; matching allows a margin either side
SCORE_MARGIN = 0.1


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    lo, hi = np.maximum(a[:2], b[:2]), np.minimum(a[2:], b[2:])
    inter = float(np.prod(np.clip(hi - lo, 0, None)))
    union = float(np.prod(a[2:] - a[:2]) + np.prod(b[2:] - b[:2]) - inter)
    return inter / union if union > 0 else 0.0


def _matched_fraction(ref: dict, got: dict, head: str, iou_min: float, score_tol: float) -> float:
    """Fraction of confident detections (score >= threshold + margin) on either side found on the other.

    A partner has the same class, IoU >= ``iou_min``, a score within ``score_tol`` and at least
    threshold - margin (so a box hovering at the threshold is not counted as missing).
    """
    hits = total = 0
    for a, b in ((ref, got), (got, ref)):
        for i in range(a[f"{head}.scores"].shape[0]):
            boxes_b, scores_b, classes_b = b[f"{head}.boxes"][i], b[f"{head}.scores"][i], b[f"{head}.classes"][i]
            for box, score, cls in zip(a[f"{head}.boxes"][i], a[f"{head}.scores"][i], a[f"{head}.classes"][i]):
                if score < DETECTION_SCORE + SCORE_MARGIN:
                    continue
                total += 1
                hits += any(
                    c == cls
                    and s >= DETECTION_SCORE - SCORE_MARGIN
                    and abs(s - score) <= score_tol
                    and _iou(box, bb) >= iou_min
                    for bb, s, c in zip(boxes_b, scores_b, classes_b)
                )
    return hits / total if total else 1.0


def compare_heads(ref: dict[str, np.ndarray], got: dict[str, np.ndarray], precision: str) -> dict[str, str]:
    """Failures by head or output where ``got`` strays from ``ref`` beyond ``PARITY_TOLERANCE[precision]``.

    Each head is compared in its own terms: detections box to box, lanes point by point, masks
    pixel by pixel. Empty when everything is within tolerance.
    """
    tol, failures, seen = PARITY_TOLERANCE[precision], {}, set()
    if set(ref) != set(got):
        raise ValueError(f"the two models have different outputs: {sorted(ref)} vs {sorted(got)}")
    for name in ref:
        if got[name].shape != ref[name].shape or got[name].dtype != ref[name].dtype:
            failures[name] = f"{got[name].dtype} {list(got[name].shape)} vs {ref[name].dtype} {list(ref[name].shape)}"
    if failures:
        return failures
    for head in sorted({n.split(".")[0] for n in ref}):
        if f"{head}.boxes" in ref:
            seen |= {f"{head}.boxes", f"{head}.scores", f"{head}.classes"}
            frac = _matched_fraction(ref, got, head, tol["iou"], tol["score"])
            if frac < tol["matched"]:
                failures[head] = f"only {frac:.2%} of confident detections matched (need {tol['matched']:.0%})"
        if f"{head}.x" in ref:
            seen |= {f"{head}.x", f"{head}.valid", f"{head}.score"}
            both = (ref[f"{head}.valid"] > 0) & (got[f"{head}.valid"] > 0)
            dx = np.abs(ref[f"{head}.x"] - got[f"{head}.x"])[both]
            agree = float((ref[f"{head}.valid"] == got[f"{head}.valid"]).mean())
            dscore = float(np.abs(ref[f"{head}.score"] - got[f"{head}.score"]).max())
            if dx.size and np.percentile(dx, 99) > tol["px"]:
                failures[f"{head}.x"] = f"99th percentile |dx| {np.percentile(dx, 99):.2f} px > {tol['px']} px"
            if agree < tol["agree"]:
                failures[f"{head}.valid"] = f"{agree:.3%} of valid flags agree (need {tol['agree']:.1%})"
            if dscore > tol["score"]:
                failures[f"{head}.score"] = f"max |dscore| {dscore:.3f} > {tol['score']}"
        if f"{head}.mask" in ref:
            seen.add(f"{head}.mask")
            agree = float((ref[f"{head}.mask"] == got[f"{head}.mask"]).mean())
            if agree < tol["agree"]:
                failures[f"{head}.mask"] = f"{agree:.3%} of mask pixels agree (need {tol['agree']:.1%})"
    for name in sorted(set(ref) - seen):
        failures[name] = "an output this comparison does not know; extend compare_heads"
    return failures


def _engine_steps(
    onnx_path: Path, engine_path: Path, precision: str, cache: Path, progress: Progress
) -> dict[str, Any]:
    """Build, compare with ONNX Runtime, profile and inspect one engine; each step records its own failure."""
    from mtl_edge.export.tensorrt import build_engine
    from mtl_edge.profile_trt import inspect_engine, profile_trt
    from mtl_edge.runtime.ort_backend import OrtBackend
    from mtl_edge.runtime.trt_backend import TrtBackend

    result: dict[str, Any] = {"engine": str(engine_path)}
    progress(f"building {engine_path} (timing cache {cache})")
    try:
        built = build_engine(onnx_path, engine_path, timing_cache=cache)
        result["build"] = {"status": "ok", "seconds": round(built.seconds, 1), "size_bytes": built.size_bytes}
        result["build"]["layers"] = built.layers
    except Exception as e:  # noqa: BLE001
        result["build"] = {"status": "error", "error": _error_text(e)}
        return result
    try:
        with OrtBackend(onnx_path) as ort_backend:
            frames = compare_frames(ort_backend.input_hw)
            step = ort_backend.batch if isinstance(ort_backend.batch, int) else 1
            reference = ort_backend.infer(frames)
        with TrtBackend(engine_path) as trt_backend:
            got = [trt_backend.infer(frames[i : i + step]) for i in range(0, len(frames), step)]
            graph = trt_backend.cuda_graph
        merged = {name: np.concatenate([g[name] for g in got]) for name in got[0]}
        failures = compare_heads(reference, merged, precision)
        result["vs_onnxruntime"] = {
            "status": "ok" if not failures else "error",
            "frames": len(frames),
            "cuda_graph": graph,
            "tolerance": PARITY_TOLERANCE[precision],
            "beyond_tolerance": failures,
            **output_deviation(reference, merged),
        }
        worst = ", ".join(f"{h} {v:.3g}" for h, v in result["vs_onnxruntime"]["heads_max_abs"].items())
        progress(f"  max deviation from ONNX Runtime per head: {worst}")
        for what, why in failures.items():
            progress(f"  beyond the {precision} tolerance: {what}: {why}")
    except Exception as e:  # noqa: BLE001
        result["vs_onnxruntime"] = {"status": "error", "error": _error_text(e)}
    try:
        prof = profile_trt(engine_path, frames=50)
        result["profile"] = {"status": "ok", **prof.as_dict()}
        progress(f"  profile: {prof.call_mean:.2f} ms per call; " + _parts(prof.parts))
    except Exception as e:  # noqa: BLE001
        result["profile"] = {"status": "error", "error": _error_text(e)}
    try:
        layers = inspect_engine(engine_path)
        result["layers"] = {"status": "ok", **layers}
        progress(f"  layers: {layers['int8_layers']} INT8 of {layers['layers']}, {layers['reformat_layers']} reformat")
    except Exception as e:  # noqa: BLE001
        result["layers"] = {"status": "error", "error": _error_text(e)}
    return result


def _parts(parts: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in parts.items())


# --- the run -------------------------------------------------------------------------------------------------

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
        report["aborted"] = {"error": _error_text(e), "traceback": traceback.format_exc(limit=8)}
        progress(f"doctor stopped: {_error_text(e)}")
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
    from mtl_edge.export.tensorrt import _major

    progress("checking the environment")
    env = report["environment"] = environment()
    for key, item in env.items():
        shown = item["value"] if item["status"] == "ok" else f"missing ({_first_sentence(item['reason'])})"
        progress(f"  {key}: {shown}")
    ready, why_not = tensorrt_ready(env)
    installed = _major(env["tensorrt"]["value"]) if env["tensorrt"]["status"] == "ok" else None
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
        engines[precision] = _engine_steps(Path(entry["onnx"]), engine, precision, cache, progress)


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


__all__ = [
    "run_doctor",
    "environment",
    "cuda_mismatch",
    "compare_heads",
    "tensorrt_ready",
    "output_deviation",
    "check_onnx",
    "finding_dict",
]
