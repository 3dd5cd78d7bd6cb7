"""TensorRT per-layer profiling for ``mtl-edge profile --backend trt``.

Follows NVIDIA's documented API (``trt.IProfiler.report_layer_time`` and the engine
inspector's JSON layer information); it cannot run on the machines this project is
built on (no TensorRT, no GPU), so it is untested here. With DETAILED profiling
verbosity (set by ``mtl-edge export --engine``) each layer's name lists the ONNX nodes
it fused; a layer whose nodes have several owners is reported under "a+b".
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from mtl_edge.export.naming import node_owner
from mtl_edge.profile import Profile, _frame, _host_times, group_of


def layer_group(layer_name: str, known_nodes: set[str]) -> str:
    """The owner group(s) of a fused layer, from the ONNX node names inside its name."""
    owners = sorted({group_of(node_owner(n)) for n in known_nodes if n in layer_name})
    return "+".join(owners) if owners else "unattributed"


def profile_trt(path: Path, frames: int = 50, warmup: int = 5) -> Profile:
    from mtl_edge.export.tensorrt import _import_tensorrt
    from mtl_edge.runtime.trt_backend import TrtBackend

    trt = _import_tensorrt()
    backend = TrtBackend(path, cuda_graph=False)  # per-layer reports need plain enqueues
    image, batch = _frame(backend.input_hw)
    host = _host_times(backend, image, min(frames, 20))
    inspector = backend.engine.create_engine_inspector()
    info = json.loads(inspector.get_engine_information(trt.LayerInformationFormat.JSON))
    layers = [layer if isinstance(layer, str) else layer.get("Name", "") for layer in info.get("Layers", [])]
    nodes = {part for layer in layers for part in layer.replace("+", " ").replace("||", " ").split() if "/" in part}
    spent: dict[str, float] = defaultdict(float)

    class _Profiler(trt.IProfiler):
        def __init__(self) -> None:
            trt.IProfiler.__init__(self)

        def report_layer_time(self, layer_name: str, ms: float) -> None:
            spent[layer_group(layer_name, nodes)] += ms

    for _ in range(warmup):
        backend.infer(batch)
    backend.context.profiler = _Profiler()
    calls = []
    for _ in range(frames):
        t = time.perf_counter()
        backend.infer(batch)
        calls.append(1e3 * (time.perf_counter() - t))
    parts = {k: v / frames for k, v in spent.items()}
    parts["unattributed"] = parts.get("unattributed", 0.0) + max(float(np.mean(calls)) - sum(parts.values()), 0.0)
    backend.close()
    return Profile(str(path), "trt", frames, parts, host, calls)
