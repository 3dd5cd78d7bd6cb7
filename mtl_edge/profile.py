"""``mtl-edge profile``: latency per head, next to the host's pre/post-processing and the whole call.

Node and module names carry their owner (``backbone``/``neck`` = the shared trunk,
``heads.<name>`` = one head including its decode, ``preprocess`` = the in-graph
normalisation), so each backend's timings group by that prefix:

- ONNX Runtime: session profiling gives each node's kernel time per run;
- torch: forward hooks time the trunk and each head (CUDA-synchronised on a GPU);
- TensorRT: an IProfiler gives per-layer times; layer names carry the ONNX node names
  (fused layers list several, and one spanning several owners is reported as such).

Times are means over ``frames`` calls after a warm-up; whole-call p50/p99 too.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mtl_edge.export.naming import node_owner
from mtl_edge.metrics import format_table


def group_of(owner: str) -> str:
    """``backbone``/``neck`` -> ``trunk``; ``heads.signs`` -> ``signs``; others unchanged."""
    if owner in ("backbone", "neck"):
        return "trunk"
    return owner.split(".", 1)[1] if owner.startswith("heads.") else owner


@dataclass
class Profile:
    """Mean milliseconds per frame, by part, for one model on one backend."""

    model: str
    backend: str
    frames: int
    parts: dict[str, float]  # trunk, each head, preprocess (in graph), unattributed
    host: dict[str, float]  # letterbox, postprocess on the host
    call_ms: list[float] = field(default_factory=list)  # whole backend call per frame
    metrics: dict[str, float] = field(default_factory=dict)  # head -> change vs FP32 (points), with --compare

    @property
    def call_mean(self) -> float:
        return float(np.mean(self.call_ms))

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["call_p50"], d["call_p99"] = float(np.percentile(self.call_ms, 50)), float(np.percentile(self.call_ms, 99))
        d["call_mean"] = self.call_mean
        return d


def _frame(input_hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """A generated 1280x720 scene and its letterboxed model input."""
    from mtl_edge.data.synth.render import render
    from mtl_edge.data.synth.scene import sample_scene
    from mtl_edge.data.transforms import letterbox_image

    image = render(sample_scene(0)).image
    return image, letterbox_image(image, input_hw)[0][None]


def _host_times(backend: Any, image: np.ndarray, frames: int) -> dict[str, float]:
    from mtl_edge.data.transforms import letterbox_image
    from mtl_edge.runtime.results import to_frame_result

    pre, post = [], []
    for _ in range(frames):
        t = time.perf_counter()
        boxed, params = letterbox_image(image, backend.input_hw)
        t1 = time.perf_counter()
        out = backend.infer(boxed[None])
        t2 = time.perf_counter()
        to_frame_result(out, backend.heads, params, image.shape[:2], backend.input_hw)
        t3 = time.perf_counter()
        pre.append(t1 - t), post.append(t3 - t2)
    return {"letterbox": 1e3 * float(np.mean(pre)), "postprocess": 1e3 * float(np.mean(post))}


def profile_ort(path: Path, frames: int = 50, warmup: int = 5, threads: int | None = None) -> Profile:
    """Per-node kernel times from ONNX Runtime's session profiler, grouped by owner."""
    import onnxruntime as ort

    from mtl_edge.runtime.ort_backend import OrtBackend, session_options

    backend = OrtBackend(path, threads=threads)
    image, batch = _frame(backend.input_hw)
    host = _host_times(backend, image, min(frames, 20))
    # The NCHWc layout pass (level ALL) replaces nodes with renamed ones; EXTENDED still fuses
    # Conv+activation but keeps the node names that carry each node's owner.
    options = session_options(threads, "extended")
    options.enable_profiling = True
    with tempfile.TemporaryDirectory(prefix="mtl-edge-prof-") as tmp:
        options.profile_file_prefix = str(Path(tmp) / "ort")
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        feed = {session.get_inputs()[0].name: batch}
        for _ in range(warmup):
            session.run(None, feed)
        calls = []
        for _ in range(frames):
            t = time.perf_counter()
            session.run(None, feed)
            calls.append(1e3 * (time.perf_counter() - t))
        events = json.loads(Path(session.end_profiling()).read_text())
    runs = [e for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"][-frames:]
    start = runs[0]["ts"] if runs else 0
    parts: dict[str, float] = defaultdict(float)
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time") and e["ts"] >= start:
            owner = node_owner(e["name"][: -len("_kernel_time")])
            known = owner in ("preprocess", "backbone", "neck") or owner.startswith("heads.")
            parts[group_of(owner) if known else "unattributed"] += e["dur"] / 1e3 / frames
    parts["unattributed"] = parts.get("unattributed", 0.0) + max(float(np.mean(calls)) - sum(parts.values()), 0.0)
    return Profile(str(path), "ort", frames, dict(parts), host, calls)


def profile_torch(checkpoint: Path, frames: int = 50, warmup: int = 5) -> Profile:
    """Trunk and per-head times from forward hooks on the deploy model (synchronised on CUDA)."""
    import torch

    from mtl_edge.runtime.backends import TorchBackend

    backend = TorchBackend(checkpoint)
    image, batch = _frame(backend.input_hw)
    host = _host_times(backend, image, min(frames, 20))
    sync: Callable[[], None] = torch.cuda.synchronize if backend.device.type == "cuda" else (lambda: None)
    net = backend.model
    modules = {"preprocess": net.preprocess, "trunk/backbone": net.backbone, "trunk/neck": net.neck}
    modules |= {name: head for name, head in net.heads.items()}
    spent: dict[str, float] = defaultdict(float)
    starts: dict[str, float] = {}

    def timer(name: str) -> tuple[Callable[..., None], Callable[..., None]]:
        def before(*_: Any) -> None:  # hooks must return None, or they replace inputs/outputs
            sync()
            starts[name] = time.perf_counter()

        def after(*_: Any) -> None:
            sync()
            spent[name] += time.perf_counter() - starts[name]

        return before, after

    for name, module in modules.items():
        before, after = timer(name)
        module.register_forward_pre_hook(before)
        module.register_forward_hook(after)
    for _ in range(warmup):
        backend.infer(batch)
    spent.clear()
    calls = []
    for _ in range(frames):
        t = time.perf_counter()
        backend.infer(batch)
        calls.append(1e3 * (time.perf_counter() - t))
    parts: dict[str, float] = defaultdict(float)
    for name, s in spent.items():
        parts[name.split("/")[0]] += 1e3 * s / frames
    parts["unattributed"] = max(float(np.mean(calls)) - sum(parts.values()), 0.0)
    return Profile(str(checkpoint), "torch", frames, dict(parts), host, calls)


def profile_model(model: Path, backend: str = "auto", frames: int = 50, threads: int | None = None) -> Profile:
    kind = "torch" if model.suffix in (".pt", ".pth") else "trt" if model.suffix in (".engine", ".plan") else "ort"
    backend = kind if backend == "auto" else backend
    if backend == "ort":
        return profile_ort(model, frames, threads=threads)
    if backend == "torch":
        return profile_torch(model, frames)
    if backend == "trt":
        from mtl_edge.profile_trt import profile_trt

        return profile_trt(model, frames)
    raise ValueError(f"--backend {backend!r}: choose ort, trt or torch")


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
