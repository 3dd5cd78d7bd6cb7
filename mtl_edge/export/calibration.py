"""INT8 calibration: activation ranges measured in one pass over calibration frames.

One streaming pass of the float graph over the frames records, per activation tensor,
its extremes and a histogram of magnitudes, so that both methods (``minmax``, and
``percentile``, which clips the rare outliers) come from the same pass. The ranges are
cached as JSON keyed by the bytes of the graph and of the frames, so the next export
with the same inputs skips calibration. The cache file is written atomically (fsynced, then
renamed) and carries a format version and a sha256 of its ranges; a file that fails either
check (truncated, edited, garbage) is reported with its path, discarded and recomputed.
"""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import helper

from mtl_edge.fileio import atomic_write_bytes, remove_stale_temps


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
        from mtl_edge.data.dataset import read_image
        from mtl_edge.deploy.letterbox import letterbox_image
        from mtl_edge.progress import progress

        for start in progress(range(0, len(self.images), self.batch), "calibrate", unit=" batches", leave=False):
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

#: What a calibration cache file says it is; a file without these is not trusted.
CACHE_FORMAT = "mtl-edge calibration ranges"
CACHE_VERSION = 2


class CorruptCacheError(ValueError):
    """A cache file that fails its checks; the message says which check."""


def _ranges_digest(ranges: dict[str, Ranges]) -> str:
    canonical = json.dumps(ranges, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def write_ranges_cache(path: Path, ranges: dict[str, Ranges]) -> None:
    """Write ``ranges`` (method -> tensor -> (lowest, highest)) to ``path``: versioned, checksummed, atomic."""
    plain = {m: {t: [float(lo), float(hi)] for t, (lo, hi) in r.items()} for m, r in ranges.items()}
    doc = {"format": CACHE_FORMAT, "version": CACHE_VERSION, "sha256": _ranges_digest(plain), "ranges": plain}
    atomic_write_bytes(path, json.dumps(doc, allow_nan=False).encode())


def read_ranges_cache(path: Path) -> dict[str, Ranges]:
    """The ranges of a cache file written by :func:`write_ranges_cache`; CorruptCacheError if any check fails."""
    try:
        doc = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as e:
        raise CorruptCacheError(f"not UTF-8 text ({e.reason} at byte {e.start})") from e
    except json.JSONDecodeError as e:
        raise CorruptCacheError(f"not valid JSON, truncated or damaged ({e})") from e
    if not isinstance(doc, dict) or doc.get("format") != CACHE_FORMAT:
        raise CorruptCacheError("not an mtl-edge calibration cache (no format tag; an older mtl-edge wrote it?)")
    if doc.get("version") != CACHE_VERSION:
        raise CorruptCacheError(f"cache format version {doc.get('version')!r}, this mtl-edge reads {CACHE_VERSION}")
    ranges = doc.get("ranges")
    if not isinstance(ranges, dict) or not all(isinstance(r, dict) for r in ranges.values()):
        raise CorruptCacheError("no ranges table")
    try:
        digest = _ranges_digest(ranges)
    except ValueError as e:  # NaN or infinity
        raise CorruptCacheError(f"ranges that are not finite numbers ({e})") from e
    if digest != doc.get("sha256"):
        raise CorruptCacheError("its sha256 does not match its ranges (damaged or edited)")
    out: dict[str, Ranges] = {}
    for method, table in ranges.items():
        out[method] = {}
        for tensor, pair in table.items():
            ok = isinstance(pair, list) and len(pair) == 2
            if not ok or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in pair) or pair[0] > pair[1]:
                raise CorruptCacheError(f"range of {tensor} ({method}) is {pair!r}, not [lowest, highest]")
            out[method][tensor] = (float(pair[0]), float(pair[1]))
    return out


def _load_cache(path: Path) -> dict[str, Ranges] | None:
    """The cached ranges at ``path``; None when there are none or the file fails its checks (then deleted)."""
    if not path.is_file():
        return None
    try:
        return read_ranges_cache(path)
    except (CorruptCacheError, OSError) as e:
        warnings.warn(
            f"calibration cache {path} is unusable: {e}. Discarded it; calibrating again "
            "(the new ranges replace it, nothing to do).",
            stacklevel=3,
        )
        try:
            path.unlink(missing_ok=True)
        except OSError as gone:  # e.g. a read-only cache folder: the rewrite below may fail too
            warnings.warn(f"could not delete {path} ({gone}); delete it by hand", stacklevel=3)
        return None


def cached_ranges(
    model: onnx.ModelProto, tensors: Sequence[str], reader: CalibrationReader, cache_dir: Path
) -> tuple[dict[str, Ranges], bool]:
    """Every method's ranges of ``tensors`` (method -> tensor -> (lowest, highest)), and whether cached.

    One pass measures all methods, so the cache (keyed by the graph's and the frames'
    bytes) serves a change of method too. A damaged cache file is reported (a warning
    naming it), discarded and recomputed; a cache that cannot be written is reported, and
    the export goes on with the fresh ranges.
    """
    cache = cache_dir / f"ranges-{calibration_key(model, reader.images, 'histogram')}.json"
    saved = _load_cache(cache)
    if saved is not None and all(t in saved.get(m, {}) for m in CALIBRATION_METHODS for t in tensors):
        return {m: {t: saved[m][t] for t in tensors} for m in CALIBRATION_METHODS}, True
    collector = collect_ranges(model, tensors, reader)
    fresh = {m: collector.ranges(PERCENTILE if m == "percentile" else None) for m in CALIBRATION_METHODS}
    try:
        remove_stale_temps(cache_dir)  # temp files of exports killed mid-write
        write_ranges_cache(cache, fresh)
    except (OSError, ValueError) as e:  # ValueError: a range that is not finite, which JSON cannot hold
        fix = " Make the folder writable, or set XDG_CACHE_HOME to a writable one." if isinstance(e, OSError) else ""
        warnings.warn(
            f"could not write the calibration cache {cache} ({e}); the next export calibrates again.{fix}",
            stacklevel=2,
        )
    return fresh, False
