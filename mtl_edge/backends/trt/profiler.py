"""The TensorRT profiler: per-layer engine times, attributed to the model parts (trunk, each head,
preprocess) whose ONNX nodes TensorRT fused into each layer.

Follows NVIDIA's documented TensorRT 10.x/11.x Python API (``IProfiler.report_layer_time``,
``IExecutionContext.profiler``, ``IEngineInspector.get_engine_information``); not run here
(no TensorRT). Fused layer names list the ONNX nodes they contain ("a/Conv + a/Relu"), and
node names carry their owner (:func:`mtl_edge.deploy.metadata.node_owner`).
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import TYPE_CHECKING

import numpy as np

from mtl_edge.backends.profiling import Profile, group_of, host_times, timed_calls
from mtl_edge.backends.trt.cuda import import_tensorrt
from mtl_edge.deploy.letterbox import letterbox_image
from mtl_edge.deploy.metadata import node_owner

if TYPE_CHECKING:
    from mtl_edge.backends.trt.runner import TrtBackend


def fused_nodes(layer_names: list[str]) -> set[str]:
    """The ONNX node names inside TensorRT's fused layer names ("a/Conv + a/Relu", "x || y")."""
    return {part for name in layer_names for part in name.replace("+", " ").replace("||", " ").split() if "/" in part}


def layer_group(layer_name: str, known_nodes: set[str]) -> str:
    """The owner group(s) of a fused layer, from the ONNX node names inside its name."""
    owners = sorted({group_of(node_owner(n)) for n in known_nodes if n in layer_name})
    return "+".join(owners) if owners else "unattributed"


def profile_layers(backend: TrtBackend, image: np.ndarray, frames: int, warmup: int) -> Profile:
    """Per-layer times of ``backend`` from a TensorRT ``IProfiler``, grouped by the parts each layer fused.

    Called by ``TrtBackend.profile``, which checks first that the backend runs plain enqueues.
    """
    trt = import_tensorrt()
    batch = letterbox_image(image, backend.input_hw)[0][None]
    host = host_times(backend, image, min(frames, 20))
    info = json.loads(backend.engine.create_engine_inspector().get_engine_information(trt.LayerInformationFormat.JSON))
    nodes = fused_nodes(
        [layer if isinstance(layer, str) else layer.get("Name", "") for layer in info.get("Layers", [])]
    )
    spent: dict[str, float] = defaultdict(float)

    class _Profiler(trt.IProfiler):
        def __init__(self) -> None:
            trt.IProfiler.__init__(self)

        def report_layer_time(self, layer_name: str, ms: float) -> None:
            spent[layer_group(layer_name, nodes)] += ms

    for _ in range(warmup):
        backend.infer(batch)
    backend.context.profiler = _Profiler()
    calls = timed_calls(backend, batch, frames)
    parts = {k: v / frames for k, v in spent.items()}
    parts["unattributed"] = parts.get("unattributed", 0.0) + max(float(np.mean(calls)) - sum(parts.values()), 0.0)
    return Profile(str(backend.path), "trt", frames, parts, host, calls)


__all__ = ["fused_nodes", "layer_group", "profile_layers"]
