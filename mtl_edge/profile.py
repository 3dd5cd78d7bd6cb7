"""``mtl-edge profile``: latency per head, next to the host's pre/post-processing and the whole call.

Each backend profiles itself (``Backend.profile``, :mod:`mtl_edge.backends`), grouping time
by the owner each node or module name carries:

- ONNX Runtime: session profiling gives each node's kernel time per run;
- torch: forward hooks time the trunk and each head (CUDA-synchronised on a GPU);
- TensorRT: an IProfiler gives per-layer times; layer names carry the ONNX node names
  (fused layers list several, and one spanning several owners is reported as such).

This module renders the generated scene they run on, and compares, tabulates and plots profiles.

Times are means over ``frames`` calls after a warm-up; whole-call p50/p99 too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mtl_edge.backends import backend_class, backend_for
from mtl_edge.backends.profiling import Profile
from mtl_edge.deploy.table import format_table


def scene_image() -> np.ndarray:
    """A generated 1280x720 scene: the frame every profile runs on."""
    from mtl_edge.data.synth.render import render
    from mtl_edge.data.synth.scene import sample_scene

    return render(sample_scene(0)).image


def _profile(model: Path, backend: str, frames: int, warmup: int = 5, **options: Any) -> Profile:
    with backend_class(backend)(model, **options) as opened:
        return opened.profile(scene_image(), frames, warmup)


def profile_ort(path: Path, frames: int = 50, warmup: int = 5, threads: int | None = None) -> Profile:
    """Per-node kernel times from ONNX Runtime's session profiler, grouped by owner."""
    return _profile(path, "ort", frames, warmup, threads=threads)


def profile_torch(checkpoint: Path, frames: int = 50, warmup: int = 5) -> Profile:
    """Trunk and per-head times from forward hooks on the deploy model (synchronised on CUDA)."""
    return _profile(checkpoint, "torch", frames, warmup)


def profile_trt(path: Path, frames: int = 50, warmup: int = 5) -> Profile:
    """Per-layer TensorRT times (plain enqueues: per-layer reports do not work inside a CUDA graph)."""
    return _profile(path, "trt", frames, warmup, cuda_graph=False)


def profile_model(model: Path, backend: str = "auto", frames: int = 50, threads: int | None = None) -> Profile:
    """Profile ``model`` on ``backend`` (auto: the backend its file type maps to)."""
    backend = backend_for(model) if backend == "auto" else backend
    if backend == "ort":
        return profile_ort(model, frames, threads=threads)
    if backend == "trt":
        return profile_trt(model, frames)
    return _profile(model, backend, frames)


def compare(checkpoint: Path, precisions: list[str], out: Path, frames: int, val_images: int) -> list[Profile]:
    """Export each precision (with its per-head accuracy vs FP32) and profile it on ONNX Runtime."""
    from mtl_edge.evaluate import MAIN_METRIC
    from mtl_edge.export.exporter import export

    if checkpoint.suffix not in (".pt", ".pth"):
        raise ValueError("--compare exports each precision, so MODEL must be a checkpoint (.pt)")
    profiles = []
    for p in precisions:
        path = out / f"{checkpoint.stem}.{p}.onnx"
        report = export(checkpoint, path, precision=p, val_images=val_images if p != "fp32" else 0)
        prof = profile_ort(path, frames)
        prof.model = p
        if p != "fp32" and report.accuracy:
            ref, got = report.accuracy["fp32"], report.accuracy[p]
            prof.metrics = {h: 100 * (got[h][MAIN_METRIC[h]] - ref[h][MAIN_METRIC[h]]) for h in got}
        profiles.append(prof)
    return profiles


def table(profiles: list[Profile]) -> str:
    """One row per profile: ms per part, host stages, the whole call, and metric changes."""
    parts = list(dict.fromkeys(k for p in profiles for k in p.parts))
    rows = []
    for p in profiles:
        row: dict[str, Any] = {"model": Path(p.model).name, "backend": p.backend}
        row |= {f"{k} ms": p.parts.get(k, 0.0) for k in parts}
        row |= {"call ms": p.call_mean, "call p99": float(np.percentile(p.call_ms, 99))}
        row |= {f"{k} ms": v for k, v in p.host.items()}
        row |= {f"{h} Δpts": f"{v:+.2f}" for h, v in p.metrics.items()}
        rows.append(row)
    return format_table(rows, floatfmt=".2f")


def plot(profiles: list[Profile], path: Path) -> None:
    """A stacked bar per profile (one segment per part), drawn with OpenCV, written as PNG."""
    import cv2

    from mtl_edge.fileio import atomic_write_bytes

    parts = list(dict.fromkeys(k for p in profiles for k in p.parts))
    palette = [(66, 135, 245), (245, 130, 48), (60, 180, 75), (230, 25, 75), (145, 30, 180), (128, 128, 128)]
    palette += [(0, 170, 170), (200, 170, 0), (120, 70, 20)]
    w, h, left, top, bar = 760, 420, 110, 50, 60
    img = np.full((h, w, 3), 255, np.uint8)
    peak = max(sum(p.parts.values()) for p in profiles) * 1.1
    scale = (h - top - 60) / peak
    cv2.putText(img, "ms per frame by part", (left, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    base = h - 50
    for i, p in enumerate(profiles):
        x = left + i * (bar + 40)
        y = base
        for k, name in enumerate(parts):
            dy = p.parts.get(name, 0.0) * scale
            cv2.rectangle(img, (x, int(y - dy)), (x + bar, int(y)), palette[k % len(palette)][::-1], -1)
            y -= dy
        label = Path(p.model).name[:12]
        cv2.putText(img, label, (x, base + 18), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
        total = f"{sum(p.parts.values()):.1f}"
        cv2.putText(img, total, (x, int(y) - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    for k, name in enumerate(parts):  # legend
        y = top + 10 + 22 * k
        cv2.rectangle(img, (w - 150, y - 10), (w - 136, y + 4), palette[k % len(palette)][::-1], -1)
        cv2.putText(img, name, (w - 130, y + 2), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.line(img, (left - 10, base), (w - 170, base), (0, 0, 0), 1)
    for tick in np.linspace(0, peak, 5):
        y = int(base - tick * scale)
        cv2.putText(img, f"{tick:.1f}", (20, y + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    ok, data = cv2.imencode(".png", img)
    if not ok:
        raise OSError(f"{path}: PNG encoding failed")
    atomic_write_bytes(path, data.tobytes())
