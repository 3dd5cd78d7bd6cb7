"""INT8 calibration: activation ranges measured in one pass over calibration frames.

One streaming pass of the float graph over the frames records, per activation tensor,
its extremes and a histogram of magnitudes, so that both methods (``minmax``, and
``percentile``, which clips the rare outliers) come from the same pass. The ranges are
cached as JSON keyed by the bytes of the graph and of the frames, so the next export
with the same inputs skips calibration.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import helper


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


class CalibrationReader:
    """ONNX Runtime calibration reader: letterboxed uint8 frames, one per call."""

    def __init__(self, images: Sequence[Path], input_hw: tuple[int, int], batch: int, input_name: str) -> None:
        self.images, self.input_hw, self.batch, self.input_name = list(images), input_hw, batch, input_name
        self._it: Iterator[dict[str, np.ndarray]] | None = None

    def _frames(self) -> Iterator[dict[str, np.ndarray]]:
        from tqdm import tqdm

        from mtl_edge.data.dataset import read_image
        from mtl_edge.deploy.letterbox import letterbox_image

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
#: The default: percentile ranges clipped the rare large activations of small signs, over the 1.0-point
#: accuracy target on the shipped model (docs/experiments.md has the figures).
DEFAULT_CALIBRATION_METHOD = "minmax"
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


class RangeCollector:
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


def collect_ranges(model: onnx.ModelProto, tensors: Sequence[str], reader: CalibrationReader) -> RangeCollector:
    """Run the float graph over the calibration frames once, recording each tensor's value distribution."""
    import onnxruntime as ort

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    known = {o.name for o in probe.graph.output}
    probe.graph.output.extend(helper.make_empty_tensor_value_info(t) for t in tensors if t not in known)
    session = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    collector = RangeCollector(tensors)
    reader.rewind()
    while (feed := reader.get_next()) is not None:
        for name, value in zip(tensors, session.run(list(tensors), feed)):
            collector.update(name, value)
    return collector


Ranges = dict[str, tuple[float, float]]


def cached_ranges(
    model: onnx.ModelProto, tensors: Sequence[str], reader: CalibrationReader, cache_dir: Path
) -> tuple[dict[str, Ranges], bool]:
    """Every method's ranges of ``tensors`` (method -> tensor -> (lowest, highest)), and whether cached.

    One pass measures all methods, so the cache (keyed by the graph's and the frames'
    bytes) serves a change of method too.
    """
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
