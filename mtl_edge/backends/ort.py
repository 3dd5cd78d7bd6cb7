"""ONNX Runtime backend: one ``infer`` call runs the whole exported graph; ``profile`` times each head.

CPU by default. With onnxruntime-gpu installed, ``providers="auto"`` prefers the
TensorRT and CUDA execution providers.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from mtl_edge.backends.base import Backend, ModelFileError
from mtl_edge.backends.profiling import Profile, group_of, host_times
from mtl_edge.deploy.letterbox import letterbox_image
from mtl_edge.deploy.metadata import node_owner, read_metadata


def _providers(choice: str | list[str]) -> list[str]:
    import onnxruntime as ort

    if isinstance(choice, list):
        return choice
    available = ort.get_available_providers()
    if choice == "cpu":
        return ["CPUExecutionProvider"]
    preferred = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    return [p for p in preferred if p in available]


#: ONNX Runtime graph optimisation levels by name.
LEVELS = ("all", "extended", "basic", "disabled")


def optimization_level(metadata: dict[str, Any]) -> str:
    """The fastest ONNX Runtime optimisation level for a graph, measured per precision on x86.

    ALL adds two layout passes: NCHWc blocks for float convs and NHWC for uint8 QLinearConv;
    both speed up FP32, FP16 and the CPU INT8 graph. The TensorRT INT8 graph (int8
    activations) gains from neither and pays for layout changes around each conv that
    stays a float Conv between DequantizeLinear and QuantizeLinear, so it runs at EXTENDED
    (``benchmarks/bench_precision.py`` measures both levels for every graph).
    """
    if metadata.get("precision") == "int8" and metadata.get("int8_target", "tensorrt") == "tensorrt":
        return "extended"
    return "all"


def session_options(threads: int | None = None, level: str = "all", spin: bool = True) -> Any:
    """CPU session options: ``threads`` intra-op threads (None: ONNX Runtime's default), one inter-op.

    ``spin=False`` makes idle intra-op threads sleep instead of busy-waiting for the next op.
    """
    import onnxruntime as ort

    if level not in LEVELS:
        raise ValueError(f"optimisation level {level!r}: choose one of {', '.join(LEVELS)}")
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    if not spin:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.graph_optimization_level = {
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    }[level]
    return options


class OrtBackend(Backend):
    """Run an mtl-edge ONNX file: ``uint8 [B,H,W,3]`` frames in, ``{"<head>.<field>": array}`` out.

    Idle intra-op threads sleep rather than spin (``spin=False``): in the streaming loop they
    share the cores with the video decoder and the other stages, and a spinning thread takes
    the core the decoder needs. On the 2-core machine with 2 ONNX Runtime threads the loop's
    overhead over network-only fell from +20% and +32% to +18% and +15% (two runs; see
    benchmarks/bench_runtime.py).
    """

    name = "ort"

    def __init__(
        self, path: str | Path, threads: int | None = None, providers: str | list[str] = "cpu", spin: bool = False
    ) -> None:
        super().__init__(path)
        self.threads, self.providers, self.spin = threads, providers, spin
        self.load()

    def load(self) -> None:
        import onnxruntime as ort

        if not self.path.is_file():
            raise ModelFileError(f"{self.path}: no such model file. Export one with `mtl-edge export CKPT --out FILE`.")
        try:
            self.metadata = read_metadata(self.path)
        except Exception as e:  # noqa: BLE001  (any unreadable file, whatever the error)
            raise ModelFileError(
                f"{self.path}: not a readable mtl-edge ONNX file ({str(e)[:200]}). "
                "Re-export it with `mtl-edge export CKPT --out FILE`."
            ) from e
        options = session_options(self.threads, optimization_level(self.metadata), self.spin)
        self.session = ort.InferenceSession(str(self.path), options, providers=_providers(self.providers))
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [o.name for o in self.session.get_outputs()]
        inp = self.metadata["input"]
        self.input_hw = (int(inp["height"]), int(inp["width"]))
        self.batch = inp["batch"]  # an int, or "dynamic"

    def infer(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """One call for a batch of letterboxed frames; a static-batch graph is fed in its own batch size."""
        if images.dtype != np.uint8 or images.ndim != 4 or tuple(images.shape[1:3]) != self.input_hw:
            raise ValueError(
                f"expected uint8 [B,{self.input_hw[0]},{self.input_hw[1]},3] letterboxed frames, "
                f"got {images.dtype} {list(images.shape)}"
            )
        step = images.shape[0] if self.batch == "dynamic" else int(self.batch)
        if images.shape[0] % step:
            raise ValueError(f"this graph takes batches of {step} frames; got {images.shape[0]}")
        parts = [
            self.session.run(self.output_names, {self.input_name: images[i : i + step]})
            for i in range(0, images.shape[0], step)
        ]
        return {name: np.concatenate([p[k] for p in parts]) for k, name in enumerate(self.output_names)}

    def close(self) -> None:
        self.session = None  # type: ignore[assignment]

    def profile(self, image: np.ndarray, frames: int = 50, warmup: int = 5) -> Profile:
        """Per-node kernel times from ONNX Runtime's session profiler, grouped by owner."""
        import onnxruntime as ort

        batch = letterbox_image(image, self.input_hw)[0][None]
        host = host_times(self, image, min(frames, 20))
        # The NCHWc layout pass (level ALL) replaces nodes with renamed ones; EXTENDED still fuses
        # Conv+activation but keeps the node names that carry each node's owner.
        options = session_options(self.threads, "extended")
        options.enable_profiling = True
        with tempfile.TemporaryDirectory(prefix="mtl-edge-prof-") as tmp:
            options.profile_file_prefix = str(Path(tmp) / "ort")
            session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
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
        return Profile(str(self.path), "ort", frames, dict(parts), host, calls)
