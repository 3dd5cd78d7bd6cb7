"""FP16 and INT8 versions of an exported FP32 graph: the precision lives in the graph.

Which nodes change precision follows the node names (see :mod:`mtl_edge.export.naming`):

- ``preprocess/...`` (uint8 -> float normalisation) stays float32;
- a head's own ops, ``heads.<name>/<Op>`` with no sub-module in the name, are its decode
  (sigmoid, peak max-pool, TopK, exp, softmax, argmax): they stay float32, because a
  peak test ``max_pool(x) == x`` or a box ``exp`` is where reduced precision breaks results;
- ``--keep HEAD`` keeps that head's whole sub-tree (tower and decode) at float32;
- everything else -- the convolution trunk, neck and head towers -- changes precision.

FP16 converts those nodes to float16 and puts a Cast on every edge that crosses the
region, so the graph's inputs and outputs keep their types. INT8 inserts Q/DQ pairs
(per-channel int8 weights) through ONNX Runtime's static quantizer, from activation
ranges measured here in one pass over the calibration frames (percentile or min/max)
and cached by the content of the graph and images. Two INT8 graphs: "tensorrt"
(symmetric, zero point 0, what TensorRT builds) and "cpu" (uint8 activations laid out
for ONNX Runtime's x86 kernels); see :func:`quantize_int8`.
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


#: Calibration methods: ``minmax`` (the extremes seen) or ``percentile`` (clip the rare outliers).
CALIBRATION_METHODS = ("minmax", "percentile")
#: Magnitude percentile kept by ``percentile`` calibration (the top 0.001% of values are clipped).
PERCENTILE = 99.999
_HIST_BINS = 4096
#: The histogram reads every 4th value of a tensor (min/max read all): an activation map is
#: smooth enough that this leaves the percentile unchanged, at a quarter of the cost.
_HIST_STRIDE = 4


def calibration_tensors(model: onnx.ModelProto, nodes: Iterable[str]) -> list[str]:
    """Activations (not weights) that enter or leave the given nodes: what calibration measures."""
    wanted, inits = set(nodes), {t.name for t in model.graph.initializer}
    names: dict[str, None] = {}
    for n in model.graph.node:
        if n.name in wanted:
            for t in [*n.input, *n.output]:
                if t and t not in inits:
                    names[t] = None
    return list(names)


class _RangeCollector:
    """Streaming min/max and a histogram of |x| per tensor, for minmax or percentile ranges."""

    def __init__(self, names: Sequence[str]) -> None:
        self.lo = {n: np.inf for n in names}
        self.hi = {n: -np.inf for n in names}
        self.top = {n: 0.0 for n in names}  # upper edge of the histogram; doubles as values grow
        self.hist = {n: np.zeros(_HIST_BINS, np.int64) for n in names}

    def update(self, name: str, x: np.ndarray) -> None:
        lo, hi = float(x.min(initial=np.inf)), float(x.max(initial=-np.inf))
        self.lo[name], self.hi[name] = min(self.lo[name], lo), max(self.hi[name], hi)
        a = np.abs(x.ravel()[:: _HIST_STRIDE if x.size >= 4096 * _HIST_STRIDE else 1])
        peak = max(-lo, hi, 0.0)
        if peak <= 0.0:
            self.hist[name][0] += a.size
            return
        top = self.top[name] or peak
        while top < peak:  # widen: merge bin pairs, so earlier counts stay exact
            h = self.hist[name]
            self.hist[name] = np.concatenate([h.reshape(-1, 2).sum(1), np.zeros(_HIST_BINS // 2, np.int64)])
            top *= 2
        self.top[name] = top
        idx = np.minimum((a * (_HIST_BINS / top)).astype(np.int32), _HIST_BINS - 1)
        self.hist[name] += np.bincount(idx, minlength=_HIST_BINS)

    def ranges(self, percentile: float | None) -> dict[str, tuple[float, float]]:
        """(lowest, highest) per tensor; ``percentile`` clips both ends to that magnitude percentile."""
        out = {}
        for n in self.lo:
            lo, hi = self.lo[n], self.hi[n]
            if percentile is not None and self.top[n] > 0:
                cdf = np.cumsum(self.hist[n]) / max(int(self.hist[n].sum()), 1)
                k = int(np.searchsorted(cdf, percentile / 100.0))
                clip = (k + 1) * self.top[n] / _HIST_BINS
                lo, hi = max(lo, -clip), min(hi, clip)
            out[n] = (min(lo, 0.0), max(hi, 0.0))
        return out


def collect_ranges(model: onnx.ModelProto, tensors: Sequence[str], reader: _Reader) -> _RangeCollector:
    """Run the float graph over the calibration frames once, recording each tensor's value distribution."""
    import onnxruntime as ort

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    known = {o.name for o in probe.graph.output}
    probe.graph.output.extend(helper.make_empty_tensor_value_info(t) for t in tensors if t not in known)
    session = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    collector = _RangeCollector(tensors)
    reader.rewind()
    while (feed := reader.get_next()) is not None:
        for name, value in zip(tensors, session.run(list(tensors), feed)):
            collector.update(name, value)
    return collector


Ranges = dict[str, tuple[float, float]]


def _cached_ranges(
    model: onnx.ModelProto, tensors: Sequence[str], reader: _Reader, cache_dir: Path
) -> tuple[dict[str, Ranges], bool]:
    """Every method's ranges of ``tensors`` (method -> tensor -> (lowest, highest)), and whether cached.

    One pass measures all methods, so the cache (keyed by the graph's and the frames'
    bytes) serves a change of method too.
    """
    import json

    cache = cache_dir / f"ranges-{calibration_key(model, reader.images, 'histogram')}.json"
    if cache.is_file():
        saved = json.loads(cache.read_text())
        if all(t in saved.get(m, {}) for m in CALIBRATION_METHODS for t in tensors):
            return {m: {t: tuple(saved[m][t]) for t in tensors} for m in CALIBRATION_METHODS}, True
    collector = collect_ranges(model, tensors, reader)
    saved = {m: collector.ranges(PERCENTILE if m == "percentile" else None) for m in CALIBRATION_METHODS}
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp")
    tmp.write_text(json.dumps(saved))
    tmp.replace(cache)
    return saved, False


def quantize_int8(
    model: onnx.ModelProto,
    images: Sequence[Path],
    input_hw: tuple[int, int],
    batch: int,
    cache_dir: Path,
    keep: Sequence[str] = (),
    target: str = "tensorrt",
    method: str = "percentile",
    float_nodes: Sequence[str] | None = None,
) -> tuple[onnx.ModelProto, bool]:
    """Insert Q/DQ into ``model``; returns the quantized model and whether cached ranges were reused.

    ``target="tensorrt"``: int8 activations with zero point 0 (symmetric), as TensorRT
    requires; Q/DQ sit on the inputs of convs, adds, concats and resizes only, so a conv's
    output is not rounded before its ReLU (TensorRT fuses the two and quantizes after).
    ``target="cpu"``: uint8 activations with a zero
    point, which ONNX Runtime's x86 kernels run fastest; each ReLU is folded into the
    quantization of its conv's output (a uint8 range that starts at 0), so one conv
    feeds the next in uint8 with no float step between, the input frame itself is
    the first conv's uint8 input, and the logits convs read their uint8 features
    through ``ConvInteger`` (:func:`integer_logits`); its 2x nearest upsamples become NHWC
    pixel copies (:func:`nhwc_upsamples`). TensorRT rejects that graph. Weights are int8,
    symmetric and per output channel in both. ``float_nodes`` are left in float as well
    as the heads' logits convs and the ``keep`` heads; None means the default below.

    ``method="percentile"`` clips each activation's range to the 99.999th percentile of
    its magnitudes, except the features the logits convs read, which keep their full
    range: a small sign's peak is exactly such a rare large value (on the shipped model's
    CPU graph, clipping those too cost signs mAP50 1.3 points instead of 0.2).

    The first conv, the one that reads the frame, is the sensitive one: its input spans
    all 256 levels, and x86 int8 kernels without VNNI add pairs of u8 x s8 products in
    int16, which saturates there (measured on the shipped model: keeping only that conv
    out of int8 cut the heads' logit error ~13x; any other single conv, under 10%). So the
    CPU graph stores that conv's weights as uint8 (ONNX Runtime's u8u8 kernel does not
    saturate), and the TensorRT graph, whose int8 activations cannot hold the frame's
    256 levels anyway, keeps that one conv in float by default (a 3-channel conv: on a
    GPU it costs little either way).
    """
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.calibrate import TensorData, TensorsData, save_tensors_data

    if target not in ("tensorrt", "cpu"):
        raise ValueError(f"INT8 target must be 'tensorrt' or 'cpu', got {target!r}")
    if method not in CALIBRATION_METHODS:
        raise ValueError(f"calibration method must be one of {', '.join(CALIBRATION_METHODS)}, got {method!r}")
    first = first_conv(model)
    if float_nodes is None:
        float_nodes = first_convs(model, 1) if target == "tensorrt" else []
    convs = {n.name for n in model.graph.node if n.op_type == "Conv"}
    logits = decode_inputs(model) & convs  # a ReLU feeding a decode op still folds into its conv
    skip = logits | set(float_nodes)
    ops = INT8_OPS + (("Relu",) if target == "cpu" else ())
    nodes = [n for n in reduced_precision_nodes(model, ops, keep) if n not in skip]
    if target == "cpu":  # a ReLU is folded only into a quantized conv; alone it would gain a Q/DQ pair
        producer = {o: n.name for n in model.graph.node for o in n.output}
        relu_inputs = {n.name: n.input[0] for n in model.graph.node if n.op_type == "Relu"}
        nodes = [n for n in nodes if n not in relu_inputs or producer.get(relu_inputs[n]) in nodes]
    reader = _Reader(images, input_hw, batch, model.graph.input[0].name)
    measured, reused = _cached_ranges(model, calibration_tensors(model, nodes), reader, cache_dir)
    ranges = dict(measured[method])
    for t in {i for n in model.graph.node if n.name in logits for i in n.input} & set(ranges):
        ranges[t] = measured["minmax"][t]  # what the logits convs read keeps its full range
    frame = frame_normalisation(model) if target == "cpu" else None
    if frame is not None and frame[0] in ranges:
        name, s, zero = frame
        ranges[name] = (-zero * s, (255 - zero) * s)
    else:
        frame = None
    overrides = {}
    if target == "cpu" and first in nodes:
        weight = next(n.input[1] for n in model.graph.node if n.name == first)
        overrides[weight] = [{"quant_type": QuantType.QUInt8, "axis": 0}]
    with tempfile.TemporaryDirectory(prefix="mtl-edge-int8-") as tmp:
        src, dst, table = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx", Path(tmp) / "ranges.json"
        onnx.save(model, src)
        data = {t: TensorData(lowest=np.float32(lo), highest=np.float32(hi)) for t, (lo, hi) in ranges.items()}
        save_tensors_data(TensorsData(CalibrationMethod.MinMax, data), table)
        quantize_static(
            str(src),
            str(dst),
            None,
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QInt8 if target == "tensorrt" else QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            nodes_to_quantize=nodes,
            op_types_to_quantize=list(ops),
            calibrate_method=CalibrationMethod.MinMax,
            # TensorRT's explicit quantization is int8 only: biases stay float (it folds them into the conv).
            extra_options={
                "ActivationSymmetric": target == "tensorrt",
                "WeightSymmetric": True,
                "QuantizeBias": target == "cpu",
                "TensorQuantOverrides": overrides,
                # TensorRT: Q/DQ on conv inputs only; it fuses conv + ReLU and quantizes after the ReLU.
                "OpTypesToExcludeOutputQuantization": ["Conv"] if target == "tensorrt" else [],
            },
            calibration_cache_path=str(table),
        )
        out = onnx.load(str(dst))
    if frame is not None:
        quantize_input_directly(out, frame[0])
    if target == "cpu":
        integer_logits(out, logits - set(float_nodes))
        nhwc_upsamples(out)
    adopt_unnamed(out)
    return out, reused


def first_convs(model: onnx.ModelProto, n: int = 1) -> list[str]:
    """The first ``n`` Convs outside the preprocess, in graph order: the first one reads the frame."""
    convs = [x.name for x in model.graph.node if x.op_type == "Conv" and node_owner(x.name) != "preprocess"]
    return convs[:n]


def first_conv(model: onnx.ModelProto) -> str | None:
    """The Conv that reads the (normalised) frame."""
    return next(iter(first_convs(model)), None)


def frame_normalisation(model: onnx.ModelProto) -> tuple[str, float, int] | None:
    """The preprocess ``Cast -> Mul(s) -> Add(b)`` as (its output, ``s``, uint8 zero point ``round(-b/s)``).

    None unless one ``s`` and one ``b`` serve every channel (a per-channel mean/std
    cannot be read as one uint8 quantization of the frame).
    """
    nodes = {o: n for n in model.graph.node for o in n.output}
    consts = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    for add in model.graph.node:
        mul = nodes.get(add.input[0]) if add.op_type == "Add" else None
        cast = nodes.get(mul.input[0]) if mul is not None and mul.op_type == "Mul" else None
        if cast is None or cast.op_type != "Cast" or node_owner(add.name) != "preprocess":
            continue
        scale, shift = consts.get(mul.input[1]), consts.get(add.input[1])
        if scale is None or shift is None or np.ptp(scale) or np.ptp(shift) or float(scale.ravel()[0]) <= 0:
            return None
        s, b = float(scale.ravel()[0]), float(shift.ravel()[0])
        zero = int(round(-b / s))
        return (add.output[0], s, zero) if 0 <= zero <= 255 else None
    return None


def quantize_input_directly(model: onnx.ModelProto, normalised: str) -> bool:
    """Feed the uint8 frame itself to the Q/DQ that quantized its normalisation ``normalised``.

    With the range set to ``[-zero * s, (255 - zero) * s]`` that QuantizeLinear maps each
    pixel back to its own value, so the Cast, Mul, Add and QuantizeLinear go: the first
    conv reads the frame as uint8 (scale ``s``, zero point ``zero``). The zero point's
    rounding shifts the input by under half a grey level, well inside int8 noise.
    """
    nodes = {o: n for n in model.graph.node for o in n.output}
    q = next((n for n in model.graph.node if n.op_type == "QuantizeLinear" and n.input[0] == normalised), None)
    if q is None or normalised not in nodes:
        return False
    add = nodes[normalised]
    mul = nodes[add.input[0]]
    cast = nodes[mul.input[0]]
    for n in model.graph.node:
        if n.op_type == "DequantizeLinear" and n.input[0] == q.output[0]:
            n.input[0] = cast.input[0]
    _drop_unused(model, [q, add, mul, cast])
    _drop_unused_initializers(model)
    return True


def integer_logits(model: onnx.ModelProto, convs: Iterable[str]) -> list[str]:
    """Run the float logits convs ``convs`` on the uint8 features they read, with nothing rounded after.

    ``DequantizeLinear -> Conv`` becomes ``ConvInteger`` (uint8 features x uint8 weights,
    symmetric per output channel around 128, exact int32 sums: the u8u8 kernel does
    not saturate) ``-> Cast -> Mul(feature scale x weight scale) -> Add(bias)``. The
    logits stay float32 as before; the float copy of the features, the largest tensors
    in the heads, is never made. Returns the convs rewritten.
    """
    graph = model.graph
    consts = {t.name: t for t in graph.initializer}
    producer = {o: n for n in graph.node for o in n.output}
    done = []
    for conv in [n for n in graph.node if n.name in set(convs) and n.op_type == "Conv"]:
        dq = producer.get(conv.input[0])
        if dq is None or dq.op_type != "DequantizeLinear" or conv.input[1] not in consts or len(dq.input) < 3:
            continue
        x_scale, x_zero = numpy_helper.to_array(consts[dq.input[1]]), numpy_helper.to_array(consts[dq.input[2]])
        if x_scale.size != 1 or x_zero.dtype != np.uint8:
            continue
        w = numpy_helper.to_array(consts[conv.input[1]]).astype(np.float32)
        bias = numpy_helper.to_array(consts[conv.input[2]]) if len(conv.input) > 2 and conv.input[2] else 0.0
        w_scale = np.abs(w).reshape(len(w), -1).max(1) / 127.0
        w_scale[w_scale == 0] = 1.0
        w_q = (np.round(w / w_scale[:, None, None, None]) + 128).astype(np.uint8)
        shape = (1, len(w), 1, 1)
        scale = (float(x_scale) * w_scale).astype(np.float32).reshape(shape)
        bias = np.broadcast_to(np.float32(bias), len(w)).reshape(shape).copy()
        name = conv.name
        graph.initializer.extend(
            [
                numpy_helper.from_array(w_q, f"{name}/weight_u8"),
                numpy_helper.from_array(np.array(128, np.uint8), f"{name}/weight_zero_point"),
                numpy_helper.from_array(scale, f"{name}/scale"),
                numpy_helper.from_array(bias, f"{name}/bias"),
            ]
        )
        attrs = {a.name: helper.get_attribute_value(a) for a in conv.attribute}
        at = list(graph.node).index(conv)
        replacement = [
            helper.make_node(
                "ConvInteger",
                [dq.input[0], f"{name}/weight_u8", dq.input[2], f"{name}/weight_zero_point"],
                [f"{name}/int32"],
                name=f"{name}/ConvInteger",
                **attrs,
            ),
            helper.make_node("Cast", [f"{name}/int32"], [f"{name}/sum"], name=f"{name}/Cast", to=TensorProto.FLOAT),
            helper.make_node("Mul", [f"{name}/sum", f"{name}/scale"], [f"{name}/scaled"], name=f"{name}/Mul"),
            helper.make_node("Add", [f"{name}/scaled", f"{name}/bias"], list(conv.output), name=f"{name}/Add"),
        ]
        graph.node.remove(conv)
        for k, node in enumerate(replacement):
            graph.node.insert(at + k, node)
        _drop_unused(model, [dq])
        done.append(name)
    _drop_unused_initializers(model)
    return done


def _const(model: onnx.ModelProto, name: str) -> np.ndarray | None:
    return next((numpy_helper.to_array(t) for t in model.graph.initializer if t.name == name), None)


def _shapes(model: onnx.ModelProto) -> dict[str, list[int]]:
    """Static shapes of the graph's tensors (dims unknown to shape inference are -1)."""
    inferred = onnx.shape_inference.infer_shapes(model)
    infos = [*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output]
    return {
        v.name: [d.dim_value if d.HasField("dim_value") else -1 for d in v.type.tensor_type.shape.dim]
        for v in infos
        if v.type.tensor_type.HasField("shape")
    }


def _same_quantization(model: onnx.ModelProto, a: onnx.NodeProto, b: onnx.NodeProto) -> bool:
    """Whether two Q/DQ nodes use one per-tensor scale and zero point."""
    if len(a.input) < 3 or len(b.input) < 3:
        return False
    pairs = [(_const(model, a.input[k]), _const(model, b.input[k])) for k in (1, 2)]
    return all(x is not None and y is not None and x.size == 1 and x.dtype == y.dtype and x == y for x, y in pairs)


def _is_2x_nearest(model: onnx.ModelProto, node: onnx.NodeProto) -> bool:
    """A Resize that repeats each pixel 2x2: nearest, scales [1, 1, 2, 2], input index ``floor(i / 2)``."""
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    scales = _const(model, node.input[2]) if len(node.input) > 2 and node.input[2] else None
    return (
        node.op_type == "Resize"
        and attrs.get("mode", b"nearest") == b"nearest"
        and attrs.get("coordinate_transformation_mode", b"half_pixel") == b"asymmetric"
        and attrs.get("nearest_mode", b"round_prefer_floor") in (b"floor", b"round_prefer_floor")
        and scales is not None
        and scales.tolist() == [1.0, 1.0, 2.0, 2.0]
    )


def nhwc_upsamples(model: onnx.ModelProto) -> list[str]:
    """Replace each 2x nearest Resize by the same pixel copy done in NHWC; returns the Resizes replaced.

    ``Transpose(NHWC) -> Reshape [N,H,1,W,1,C] -> Expand [N,H,2,W,2,C] -> Reshape
    [N,2H,2W,C] -> Transpose(NCHW)`` gives exactly the Resize's output. ONNX Runtime's
    uint8 nearest Resize is slow in the NHWC layout its quantized convs run in (about
    25x its NCHW time); the two Transposes cancel against the ones that layout adds, so
    what is left is one copy. A ``DequantizeLinear -> Resize -> QuantizeLinear`` with one
    scale and zero point is replaced whole, so the copy moves uint8 values.
    """
    graph = model.graph
    shapes = _shapes(model)
    producer = {o: n for n in graph.node for o in n.output}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for n in graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    done = []
    for resize in [n for n in graph.node if _is_2x_nearest(model, n)]:
        shape = shapes.get(resize.input[0], [])
        if len(shape) != 4 or min(shape[1:]) <= 0:
            continue
        _, c, h, w = shape
        src, dst, drop = resize.input[0], resize.output[0], [resize]
        dq, after = producer.get(src), consumers.get(dst, [])
        if (
            dq is not None
            and dq.op_type == "DequantizeLinear"
            and len(after) == 1
            and after[0].op_type == "QuantizeLinear"
            and _same_quantization(model, dq, after[0])
        ):
            src, dst, drop = dq.input[0], after[0].output[0], [after[0], resize]
        name = resize.name
        graph.initializer.extend(
            [
                numpy_helper.from_array(np.array([-1, h, 1, w, 1, c], np.int64), f"{name}/split_shape"),
                numpy_helper.from_array(np.array([1, 1, 2, 1, 2, 1], np.int64), f"{name}/repeat"),
                numpy_helper.from_array(np.array([-1, 2 * h, 2 * w, c], np.int64), f"{name}/merged_shape"),
            ]
        )
        at = list(graph.node).index(resize)
        chain = [
            helper.make_node("Transpose", [src], [f"{name}/nhwc"], name=f"{name}/to_nhwc", perm=[0, 2, 3, 1]),
            helper.make_node(
                "Reshape", [f"{name}/nhwc", f"{name}/split_shape"], [f"{name}/split"], name=f"{name}/split"
            ),
            helper.make_node(
                "Expand", [f"{name}/split", f"{name}/repeat"], [f"{name}/repeated"], name=f"{name}/repeat"
            ),
            helper.make_node(
                "Reshape", [f"{name}/repeated", f"{name}/merged_shape"], [f"{name}/merged"], name=f"{name}/merge"
            ),
            helper.make_node("Transpose", [f"{name}/merged"], [dst], name=f"{name}/to_nchw", perm=[0, 3, 1, 2]),
        ]
        for node in drop:
            graph.node.remove(node)
        for k, node in enumerate(chain):
            graph.node.insert(at + k, node)
        if len(drop) == 2:
            _drop_unused(model, [dq])
        done.append(name)
    _drop_unused_initializers(model)
    return done


def _drop_unused_initializers(model: onnx.ModelProto) -> None:
    live = {i for n in model.graph.node for i in n.input}
    kept = [t for t in model.graph.initializer if t.name in live]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)


def _drop_unused(model: onnx.ModelProto, candidates: Sequence[onnx.NodeProto]) -> None:
    """Remove those of ``candidates`` (in order) whose outputs nothing reads any more."""
    outputs = {o.name for o in model.graph.output}
    for node in candidates:
        read = {i for n in model.graph.node for i in n.input} | outputs
        if not read.intersection(node.output):
            model.graph.node.remove(node)


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
