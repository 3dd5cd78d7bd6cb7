"""What a backend's ``profile()`` returns, and the host-side timings every profiler shares.

Node and module names carry their owner (``backbone``/``neck`` = the shared trunk,
``heads.<name>`` = one head including its decode, ``preprocess`` = the in-graph
normalisation), so each backend's timings group by that prefix.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from mtl_edge.deploy.letterbox import letterbox_image
from mtl_edge.deploy.results import to_frame_result


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


def host_times(backend: Any, image: np.ndarray, frames: int) -> dict[str, float]:
    """Mean milliseconds of the host's letterbox and result packing around ``backend.infer``."""
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


def timed_calls(backend: Any, batch: np.ndarray, frames: int) -> list[float]:
    """Milliseconds of each of ``frames`` ``backend.infer(batch)`` calls."""
    calls = []
    for _ in range(frames):
        t = time.perf_counter()
        backend.infer(batch)
        calls.append(1e3 * (time.perf_counter() - t))
    return calls
