"""The per-layer precisions of a TensorRT engine: ``IEngineInspector``'s JSON summarised per
precision and per head, with the reformat layers TensorRT inserted.

``layer_precisions`` is pure Python (tested on the documented JSON of TensorRT 10.x and 11.x);
``inspect_engine`` opens an engine file through :class:`~mtl_edge.backends.trt.runner.TrtBackend`
and needs TensorRT.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from mtl_edge.backends.trt.cuda import import_tensorrt
from mtl_edge.backends.trt.profiler import fused_nodes, layer_group
from mtl_edge.backends.trt.runner import TrtBackend

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
            "Rebuild it with `mtl-edge export CHECKPOINT --out MODEL.onnx --engine MODEL.engine`, which sets it."
        )
    names = [str(layer.get("Name", "")) for layer in raw]
    nodes = fused_nodes(names)
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
    trt = import_tensorrt()
    with TrtBackend(path, cuda_graph=False) as backend:
        inspector = backend.engine.create_engine_inspector()
        return layer_precisions(json.loads(inspector.get_engine_information(trt.LayerInformationFormat.JSON)))


__all__ = ["inspect_engine", "layer_precisions"]
