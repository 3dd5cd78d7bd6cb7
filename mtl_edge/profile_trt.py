"""TensorRT per-layer profiling for ``mtl-edge profile --backend trt``, and per-layer precisions.

Follows NVIDIA's documented API (``trt.IProfiler.report_layer_time`` and the engine
inspector's JSON layer information); it cannot run on the machines this project is
built on (no TensorRT, no GPU), so ``profile_trt`` is untested here. With DETAILED
profiling verbosity (set by ``mtl-edge export --engine``) each layer's name lists the
ONNX nodes it fused; a layer whose nodes have several owners is reported under "a+b".
``layer_precisions`` only reads the inspector's JSON (pure Python, tested here on the
documented layout).
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

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


#: Data-type words in the inspector's tensor descriptions, most specific first ("UInt8" before "Int8").
_PRECISION_WORDS = (
    ("uint8", "UINT8"),
    ("int8", "INT8"),
    ("bfloat16", "BF16"),
    ("bf16", "BF16"),
    ("fp16", "FP16"),
    ("half", "FP16"),
    ("fp8", "FP8"),
    ("fp32", "FP32"),
    ("float", "FP32"),
    ("int32", "INT32"),
    ("int64", "INT64"),
    ("bool", "BOOL"),
)


def _tensor_precision(tensor: dict[str, Any]) -> str:
    """The data type of one layer input/output in the inspector JSON.

    TensorRT 10.x writes one ``"Format/Datatype"`` string (e.g. "Thirty-two wide channel vectorized
    row major Int8 format"); 11.x splits it into ``"DataType"`` and ``"Format"`` (TensorRT 11
    migration guide, "IEngineInspector JSON Output"). Both are read.
    """
    text = " ".join(str(tensor.get(k, "")) for k in ("DataType", "Format/Datatype", "Format")).lower()
    return next((name for word, name in _PRECISION_WORDS if word in text), "unknown")


def _is_reformat(layer: dict[str, Any]) -> bool:
    kinds = {str(layer.get("LayerType", "")), str(layer.get("ParameterType", ""))}
    return "Reformat" in kinds or str(layer.get("Name", "")).startswith("Reformatting CopyNode")


def layer_precisions(info: dict[str, Any]) -> dict[str, Any]:
    """Summarise ``IEngineInspector.get_engine_information(JSON)``: layers per precision and head, reformats.

    A layer's precision is that of its first input, as NVIDIA's trt-engine-explorer (``trex``,
    TensorRT repo ``tools/experimental/trt-engine-explorer``) counts it. Reformat layers are
    the copies TensorRT inserts where neighbouring layers want different types or layouts.
    Needs an engine built with DETAILED profiling verbosity (``mtl-edge export --engine`` sets it).
    """
    raw = info.get("Layers", [])
    if raw and not isinstance(raw[0], dict):
        raise ValueError(
            "the engine's layer information has names only: it was built without DETAILED profiling verbosity. "
            "Rebuild it with `mtl-edge export ... --engine`, which sets it."
        )
    names = [str(layer.get("Name", "")) for layer in raw]
    nodes = {part for name in names for part in name.replace("+", " ").replace("||", " ").split() if "/" in part}
    by_precision: Counter[str] = Counter()
    by_head: dict[str, Counter[str]] = defaultdict(Counter)
    reformats = []
    for layer, name in zip(raw, names):
        if _is_reformat(layer):
            reformats.append(name)
            continue
        inputs = layer.get("Inputs") or layer.get("Outputs") or [{}]
        precision = _tensor_precision(inputs[0])
        by_precision[precision] += 1
        by_head[layer_group(name, nodes)][precision] += 1
    return {
        "layers": len(raw),
        "int8_layers": by_precision.get("INT8", 0),
        "by_precision": dict(by_precision),
        "by_head": {head: dict(counts) for head, counts in sorted(by_head.items())},
        "reformat_layers": len(reformats),
        "reformats": reformats,
    }


def inspect_engine(path: Path) -> dict[str, Any]:
    """``layer_precisions`` of an mtl-edge engine file, read through TensorRT's engine inspector."""
    from mtl_edge.export.tensorrt import _import_tensorrt
    from mtl_edge.runtime.trt_backend import TrtBackend

    trt = _import_tensorrt()
    backend = TrtBackend(path, cuda_graph=False)
    try:
        inspector = backend.engine.create_engine_inspector()
        return layer_precisions(json.loads(inspector.get_engine_information(trt.LayerInformationFormat.JSON)))
    finally:
        backend.close()
