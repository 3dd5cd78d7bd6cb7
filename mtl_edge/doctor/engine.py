"""The doctor's TensorRT steps for one engine: build, compare with ONNX Runtime, profile, inspect."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mtl_edge.doctor.common import Progress, error_text
from mtl_edge.doctor.compare import PARITY_TOLERANCE, compare_frames, compare_heads, output_deviation


def engine_steps(onnx_path: Path, engine_path: Path, precision: str, cache: Path, progress: Progress) -> dict[str, Any]:
    """Build, compare with ONNX Runtime, profile and inspect one engine; each step records its own failure."""
    from mtl_edge.backends.ort import OrtBackend
    from mtl_edge.backends.trt.build import build_engine
    from mtl_edge.backends.trt.inspect import inspect_engine
    from mtl_edge.backends.trt.runner import TrtBackend
    from mtl_edge.profile import profile_trt

    result: dict[str, Any] = {"engine": str(engine_path)}
    progress(f"building {engine_path} (timing cache {cache})")
    try:
        built = build_engine(onnx_path, engine_path, timing_cache=cache)
        result["build"] = {"status": "ok", "seconds": round(built.seconds, 1), "size_bytes": built.size_bytes}
        result["build"]["layers"] = built.layers
    except Exception as e:  # noqa: BLE001
        result["build"] = {"status": "error", "error": error_text(e)}
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
        result["vs_onnxruntime"] = {"status": "error", "error": error_text(e)}
    try:
        prof = profile_trt(engine_path, frames=50)
        result["profile"] = {"status": "ok", **prof.as_dict()}
        progress(f"  profile: {prof.call_mean:.2f} ms per call; " + _parts(prof.parts))
    except Exception as e:  # noqa: BLE001
        result["profile"] = {"status": "error", "error": error_text(e)}
    try:
        layers = inspect_engine(engine_path)
        result["layers"] = {"status": "ok", **layers}
        progress(f"  layers: {layers['int8_layers']} INT8 of {layers['layers']}, {layers['reformat_layers']} reformat")
    except Exception as e:  # noqa: BLE001
        result["layers"] = {"status": "error", "error": error_text(e)}
    return result


def _parts(parts: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in parts.items())
