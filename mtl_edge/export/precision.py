"""FP16 and INT8 versions of an exported FP32 graph: the precision lives in the graph.

Which nodes change precision follows the node names (see :mod:`mtl_edge.export.naming`):

- ``preprocess/...`` (uint8 -> float normalisation) stays float32;
- a head's own ops, ``heads.<name>/<Op>`` with no sub-module in the name, are its decode
  (sigmoid, peak max-pool, TopK, exp, softmax, argmax): they stay float32, because a
  peak test ``max_pool(x) == x`` or a box ``exp`` is where reduced precision breaks results;
- ``--keep HEAD`` keeps that head's whole sub-tree (tower and decode) at float32;
- everything else -- the convolution trunk, neck and head towers -- changes precision.

FP16 converts those nodes to float16 and puts a Cast on every edge that crosses the
region, so the graph's inputs and outputs keep their types. INT8 inserts symmetric
Q/DQ pairs (zero point 0, per-channel weights) through ONNX Runtime's static
quantizer; its calibration ranges are cached by the content of the graph and images.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from mtl_edge.export.naming import node_owner

#: Ops converted to float16, and which of their inputs carry data (the rest keep their types).
FP16_INPUTS: dict[str, tuple[int, ...] | None] = {
    "Conv": None,  # None: every input
    "ConvTranspose": None,
    "Relu": None,
    "Add": None,
    "Mul": None,
    "Concat": None,
    "MaxPool": (0,),
    "AveragePool": (0,),
    "GlobalAveragePool": (0,),
    "Resize": (0,),
    "Clip": None,
}
#: Ops given Q/DQ in INT8 graphs (the rest of the trunk runs in float between them).
INT8_OPS = ("Conv", "ConvTranspose", "Add", "Concat", "Resize", "MaxPool")
FP32_OWNERS = ("preprocess", "graph")


def head_of(node_name: str) -> str | None:
    """``heads.signs/tower/0/conv/Conv`` -> ``signs``; None outside the heads."""
    owner = node_owner(node_name)
    return owner.split(".", 1)[1] if owner.startswith("heads.") else None


def is_decode(node_name: str) -> bool:
    """A head's own op (``heads.<name>/<Op>``), i.e. part of its in-graph decode."""
    return head_of(node_name) is not None and node_name.count("/") == 1


def reduced_precision_nodes(
    model: onnx.ModelProto, ops: Iterable[str], keep: Sequence[str] = (), only_heads: Sequence[str] | None = None
) -> list[str]:
    """Names of the nodes that may run below float32: trunk and head towers, not decode or kept heads.

    ``only_heads`` limits the choice to those heads' towers (the trunk is left alone).
    """
    wanted = set(ops)
    return [
        n.name
        for n in model.graph.node
        if n.op_type in wanted
        and node_owner(n.name) not in FP32_OWNERS
        and not is_decode(n.name)
        and head_of(n.name) not in keep
        and (only_heads is None or head_of(n.name) in only_heads)
    ]


def decode_inputs(model: onnx.ModelProto) -> set[str]:
    """Nodes whose outputs feed a decode op directly: the heads' output convs (their logits).

    INT8 leaves them in float: logits rounded to 256 levels would tie neighbouring
    cells in the peak test and coarsen every score.
    """
    producer = {o: n.name for n in model.graph.node for o in n.output}
    return {producer[i] for n in model.graph.node if is_decode(n.name) for i in n.input if i in producer}


def check_keep(keep: Sequence[str], heads: Iterable[str]) -> list[str]:
    """Validate ``--keep`` head names against the model's heads."""
    known = list(heads)
    unknown = [h for h in keep if h not in known]
    if unknown:
        raise ValueError(f"--keep {', '.join(unknown)}: no such head in this model; its heads are {', '.join(known)}.")
    return list(keep)


def to_float16(
    model: onnx.ModelProto, keep: Sequence[str] = (), only_heads: Sequence[str] | None = None
) -> onnx.ModelProto:
    """A copy of ``model`` whose trunk and head towers compute in float16 (I/O and decode stay float32).

    ``keep`` heads stay float32; ``only_heads`` converts just those heads' towers.
    """
    src = model.graph
    half_nodes = set(reduced_precision_nodes(model, FP16_INPUTS, keep, only_heads))
    inits = {t.name: t for t in src.initializer}
    half_outputs = {o for n in src.node if n.name in half_nodes for o in n.output}
    graph_outputs = {o.name for o in src.output}
    fp32_consumed = {i for n in src.node if n.name not in half_nodes for i in n.input} | graph_outputs

    new_inits: dict[str, onnx.TensorProto] = {}
    casts_in: dict[str, str] = {}
    nodes: list[onnx.NodeProto] = []

    def half_name(tensor: str) -> str:
        return f"{tensor}__fp16"

    for node in src.node:
        if node.name not in half_nodes:
            nodes.append(node)
            continue
        data = FP16_INPUTS[node.op_type]
        new = onnx.NodeProto()
        new.CopyFrom(node)
        for k, name in enumerate(node.input):
            if not name or (data is not None and k not in data):
                continue
            if name in half_outputs:
                new.input[k] = half_name(name)
            elif name in inits:
                if half_name(name) not in new_inits:
                    arr = numpy_helper.to_array(inits[name])
                    if arr.dtype != np.float32:
                        continue
                    new_inits[half_name(name)] = numpy_helper.from_array(arr.astype(np.float16), half_name(name))
                new.input[k] = half_name(name)
            else:
                if name not in casts_in:
                    casts_in[name] = half_name(name)
                    nodes.append(
                        helper.make_node(
                            "Cast", [name], [half_name(name)], name=f"{node.name}/to_fp16", to=TensorProto.FLOAT16
                        )
                    )
                new.input[k] = half_name(name)
        for k, name in enumerate(node.output):
            new.output[k] = half_name(name)
        nodes.append(new)
        for name in node.output:
            if name in fp32_consumed:
                back = f"{node.name}/to_fp32"
                nodes.append(helper.make_node("Cast", [half_name(name)], [name], name=back, to=TensorProto.FLOAT))

    used = {i for n in nodes for i in n.input}
    initializers = [t for t in src.initializer if t.name in used] + [t for t in new_inits.values() if t.name in used]
    graph = helper.make_graph(nodes, src.name, list(src.input), list(src.output), initializers)
    out = helper.make_model(graph, opset_imports=list(model.opset_import), ir_version=model.ir_version)
    out.metadata_props.extend(model.metadata_props)
    return onnx.shape_inference.infer_shapes(out, strict_mode=True)


def _file_digest(paths: Sequence[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.name.encode())
        h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


def calibration_key(model: onnx.ModelProto, images: Sequence[Path], method: str) -> str:
    """Cache key of calibration ranges: the graph's bytes, the images' bytes and the method."""
    h = hashlib.sha256(model.SerializeToString(deterministic=True))
    h.update(_file_digest(images).encode())
    h.update(method.encode())
    return h.hexdigest()[:32]


class _Reader:
    """ONNX Runtime calibration reader: letterboxed uint8 frames, one per call."""

    def __init__(self, images: Sequence[Path], input_hw: tuple[int, int], batch: int, input_name: str) -> None:
        self.images, self.input_hw, self.batch, self.input_name = list(images), input_hw, batch, input_name
        self._it: Iterator[dict[str, np.ndarray]] | None = None

    def _frames(self) -> Iterator[dict[str, np.ndarray]]:
        from tqdm import tqdm

        from mtl_edge.data.dataset import read_image
        from mtl_edge.data.transforms import letterbox_image

        for start in tqdm(range(0, len(self.images), self.batch), desc="calibrate", unit=" batches", leave=False):
            chunk = self.images[start : start + self.batch]
            if len(chunk) < self.batch:  # a static-batch graph needs full batches
                chunk = chunk + self.images[: self.batch - len(chunk)]
            frames = [letterbox_image(read_image(p).permute(1, 2, 0).numpy(), self.input_hw)[0] for p in chunk]
            yield {self.input_name: np.stack(frames)}

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._it is None:
            self._it = self._frames()
        return next(self._it, None)

    def rewind(self) -> None:
        self._it = None


def quantize_int8(
    model: onnx.ModelProto,
    images: Sequence[Path],
    input_hw: tuple[int, int],
    batch: int,
    cache_dir: Path,
    keep: Sequence[str] = (),
    target: str = "tensorrt",
) -> tuple[onnx.ModelProto, bool]:
    """Insert Q/DQ into ``model``; returns the quantized model and whether cached ranges were reused.

    ``target="tensorrt"``: int8 activations with zero point 0 (symmetric), as TensorRT
    requires. ``target="cpu"``: uint8 activations with a zero point, which ONNX
    Runtime's x86 kernels run fastest; TensorRT rejects it. Weights are int8,
    symmetric and per output channel in both.
    """
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    if target not in ("tensorrt", "cpu"):
        raise ValueError(f"INT8 target must be 'tensorrt' or 'cpu', got {target!r}")
    logits = decode_inputs(model)
    cache_dir.mkdir(parents=True, exist_ok=True)
    cache = cache_dir / f"ranges-{calibration_key(model, images, 'minmax')}.json"
    reused = cache.is_file()
    with tempfile.TemporaryDirectory(prefix="mtl-edge-int8-") as tmp:
        src, dst = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        onnx.save(model, src)
        quantize_static(
            str(src),
            str(dst),
            _Reader(images, input_hw, batch, model.graph.input[0].name),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QInt8 if target == "tensorrt" else QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            nodes_to_quantize=[n for n in reduced_precision_nodes(model, INT8_OPS, keep) if n not in logits],
            calibrate_method=CalibrationMethod.MinMax,
            # TensorRT's explicit quantization is int8 only: biases stay float (it folds them into the conv).
            extra_options={
                "ActivationSymmetric": target == "tensorrt",
                "WeightSymmetric": True,
                "QuantizeBias": target == "cpu",
            },
            calibration_cache_path=str(cache),
        )
        out = onnx.load(str(dst))
    adopt_unnamed(out)
    return out, reused


def adopt_unnamed(model: onnx.ModelProto) -> None:
    """Give nodes the quantizer added (``..._QuantizeLinear``) the owner of the node they feed or follow."""
    known = {n.name for n in model.graph.node if "/" in n.name}
    producer = {o: n.name for n in model.graph.node for o in n.output}
    consumers: dict[str, str] = {}
    for n in model.graph.node:
        for i in n.input:
            consumers.setdefault(i, n.name)
    counts: dict[str, int] = {}
    for _ in range(3):  # Q -> DQ chains: owners propagate a step per pass
        for n in model.graph.node:
            if n.name in known:
                continue
            near = [producer.get(i, "") for i in n.input] + [consumers.get(o, "") for o in n.output]
            owner = next((node_owner(x) for x in near if x in known), None)
            if owner is None:
                continue
            key = f"{owner}/{n.op_type}"
            counts[key] = counts.get(key, 0) + 1
            old, n.name = n.name, f"{key}_q{counts[key]}"
            known.add(n.name)
            for o in n.output:
                producer[o] = n.name
            for k, v in list(consumers.items()):
                if v == old:
                    consumers[k] = n.name


__all__ = ["to_float16", "quantize_int8", "check_keep", "reduced_precision_nodes", "is_decode", "head_of"]
