"""Per-task evaluation of a backend on a dataset, in source-image pixels, with the metrics the field uses.

Each head's ground truth, metric and headline number come from its spec
(:mod:`mtl_edge.data.tasks`). The shipped heads: lanes, CULane F1 (30 px wide lanes at
1280x720, IoU 0.5) and TuSimple accuracy; vehicles and signs, mAP@0.5, mAP@0.5:0.95, AP per
class, precision/recall at the deploy score threshold; drivable, mIoU (background vs drivable,
as YOLOP reports it) and the 3-class mIoU. Ignore-flagged objects are neither matches nor misses.

``protocol="bdd100k-yolop"`` also scores the frames the way the multi-task peers (YOLOP,
HybridNets, YOLOPv2) publish on BDD100K val (:mod:`mtl_edge.yolop_protocol`): its numbers come
back under the key ``"bdd100k-yolop"`` of the results, and :func:`protocol_table` prints them
beside the peers' published ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from mtl_edge.backends.base import Backend
from mtl_edge.data.dataset import DrivingDataset
from mtl_edge.data.splits import open_folder
from mtl_edge.data.tasks import SPECS, HeadSpec, Labels, spec_for
from mtl_edge.deploy.letterbox import letterbox_image
from mtl_edge.deploy.results import FrameResult, Thresholds, to_frame_result
from mtl_edge.metrics import format_table
from mtl_edge.yolop_protocol import PUBLISHED, YolopProtocol

#: Comparison protocols ``evaluate`` can add to the per-head results (each under its own key).
PROTOCOLS: tuple[str, ...] = ("bdd100k-yolop",)


class _MainMetrics(Mapping[str, str]):
    """Head -> the key of its headline metric, read from the registered head specs."""

    def __getitem__(self, head: str) -> str:
        return spec_for(head).metric

    def __iter__(self) -> Iterator[str]:
        return iter(SPECS)

    def __len__(self) -> int:
        return len(SPECS)


#: Each head's headline metric, the one the README and the export table report (from its spec).
MAIN_METRIC: Mapping[str, str] = _MainMetrics()


class Evaluator:
    """Accumulates every head's metric over frames: results (deploy form) against ground truth, by head spec."""

    def __init__(
        self, heads: Mapping[str, Mapping[str, Any]], source_hw: tuple[int, int], score_threshold: float = 0.3
    ) -> None:
        """``heads``: the model metadata's head section (class names where the head's spec has none)."""
        self.heads = list(heads)
        self.score_threshold = score_threshold
        self.specs: dict[str, HeadSpec] = {name: spec_for(name) for name in heads}
        self.metrics: dict[str, Any] = {
            name: spec.new_metric(spec.classes or heads[name].get("classes", ()), source_hw, score_threshold)
            for name, spec in self.specs.items()
        }

    def update(self, result: FrameResult, labels: Labels, source_hw: tuple[int, int]) -> None:
        """Add one frame's result against its labels (a head whose truth the frame lacks is skipped)."""
        for name, spec in self.specs.items():
            truth = spec.truth(labels, source_hw)
            if truth is not None:
                spec.update(self.metrics[name], result.heads[name].value, truth)

    def compute(self) -> dict[str, dict[str, Any]]:
        return {name: self.specs[name].compute(metric) for name, metric in self.metrics.items()}


def _new_protocol(protocol: str | None) -> YolopProtocol | None:
    """The accumulator of a comparison protocol (None: none asked for)."""
    if protocol is None:
        return None
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown evaluation protocol {protocol!r}; use one of {', '.join(PROTOCOLS)}")
    return YolopProtocol()


def summary_rows(results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per head: its headline metric and a few companions, for format_table (protocol entries skipped)."""
    rows = []
    for head, m in results.items():
        if head in PROTOCOLS:
            continue
        spec = spec_for(head)
        rows.append({"head": head, "metric": spec.metric, "value": m[spec.metric], "details": spec.details(m)})
    return rows


def _as_backend(model: Any, input_hw: tuple[int, int] | None) -> Backend:
    """A backend as is; a network (eager PyTorch) through the torch backend, at ``input_hw``."""
    if isinstance(model, Backend):
        return model
    from mtl_edge.backends.torch import TorchBackend

    if input_hw is None:
        raise ValueError("evaluating a network needs input_hw (the recipe's data.imgsz)")
    return TorchBackend.from_net(model, input_hw)


def evaluate(
    model: Any,
    data: DrivingDataset | str | Path,
    input_hw: tuple[int, int] | None = None,
    n_images: int | None = None,
    score_threshold: float = 0.3,
    batch: int = 8,
    progress: bool = False,
    protocol: str | None = None,
) -> dict[str, dict[str, Any]]:
    """Every head's metrics of ``model`` on the first ``n_images`` frames of ``data``, in source-image pixels.

    ``model`` is a backend (:func:`mtl_edge.backends.open_backend`) or a network (run eagerly at
    ``input_hw``); ``data`` a dataset or a dataset folder in any supported layout (its val split).
    ``protocol`` (one of ``PROTOCOLS``) adds that protocol's numbers under its name.
    """
    backend = _as_backend(model, input_hw)
    return evaluate_outputs(
        backend.infer,
        backend.heads,
        data,
        tuple(backend.input_hw),
        n_images,
        score_threshold,
        batch,
        progress,
        protocol=protocol,
    )


def evaluate_outputs(
    infer: Callable[[np.ndarray], Mapping[str, np.ndarray]],
    heads: Mapping[str, Any],
    data: DrivingDataset | str | Path,
    input_hw: tuple[int, int],
    n_images: int | None = None,
    score_threshold: float = 0.3,
    batch: int = 8,
    progress: bool = False,
    protocol: str | None = None,
) -> dict[str, dict[str, Any]]:
    """Evaluate any inference call: ``infer`` maps letterboxed uint8 [B,H,W,3] frames to engine outputs.

    ``heads`` is the model metadata's head section (class names, lane rows...). ``protocol``
    (one of ``PROTOCOLS``) also feeds that protocol and adds its numbers under its name.
    """
    from mtl_edge.progress import progress as progress_bar

    extra = _new_protocol(protocol)

    dataset = data if isinstance(data, DrivingDataset) else open_folder(data)
    count = len(dataset) if n_images is None else min(n_images, len(dataset))
    if not count:
        raise ValueError(f"{dataset.images}: no frames to evaluate")
    # Scores as the metric needs them (AP needs every detection), else each head's deploy default.
    thresholds = Thresholds(by_head={h: t for h in heads if (t := spec_for(h).eval_threshold) is not None})
    evaluator: Evaluator | None = None
    for start in progress_bar(range(0, count, batch), "eval", enabled=progress, unit=" batches"):
        chunk = [dataset.source(i) for i in range(start, min(start + batch, count))]
        boxed = [letterbox_image(image, input_hw) for image, _ in chunk]
        if evaluator is None:
            evaluator = Evaluator(heads, chunk[0][0].shape[:2], score_threshold)
        out = infer(np.stack([b for b, _ in boxed]))
        for i, (image, labels) in enumerate(chunk):
            hw = image.shape[:2]
            result = to_frame_result(out, heads, boxed[i][1], hw, input_hw, thresholds=thresholds, batch_index=i)
            evaluator.update(result, labels, hw)
            if extra is not None:
                extra.update(result, labels, hw)
    assert evaluator is not None
    results = evaluator.compute()
    if extra is not None:
        results[str(protocol)] = extra.compute()
    return results


def scoring_datasets(by_dataset: Mapping[str, Mapping[str, dict[str, Any]]]) -> dict[str, str]:
    """Head -> the first dataset where its headline metric is a number.

    A dataset can label a head and hold none of its objects (BDD100K's signs are all ignore
    regions: signs mAP is NaN there); the head is then scored on a dataset that has some.
    """

    def scored(head: str, m: Mapping[str, Any]) -> bool:
        value = m.get(spec_for(head).metric, float("nan"))
        return value == value  # not NaN

    chosen: dict[str, str] = {}
    for name, results in by_dataset.items():
        for head, m in results.items():
            if head in SPECS and (
                head not in chosen or (not scored(head, by_dataset[chosen[head]][head]) and scored(head, m))
            ):
                chosen[head] = name
    return chosen


def merge_by_head(by_dataset: Mapping[str, Mapping[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Each head's numbers from the dataset :func:`scoring_datasets` picks for it."""
    return {head: dict(by_dataset[name][head]) for head, name in scoring_datasets(by_dataset).items()}


def compare_table(results: Mapping[str, dict[str, dict[str, Any]]], reference: str = "fp32") -> str:
    """One row per head: each variant's headline metric and its change from ``reference``, in points."""
    ref = results[reference]
    rows = []
    for head, m in ref.items():
        if head in PROTOCOLS:
            continue
        key = spec_for(head).metric
        row: dict[str, Any] = {"head": head, "metric": key, reference: m[key]}
        for name, res in results.items():
            if name != reference:
                row[name] = res[head][key]
                row[f"{name} change (pts)"] = f"{100 * (res[head][key] - m[key]):+.2f}"
        rows.append(row)
    first = ["head", "metric", reference]
    return format_table(rows, first + [c for c in (rows[0] if rows else {}) if c not in first])


def print_summary(results: dict[str, dict[str, Any]]) -> str:
    """The per-head table, then each detection head's recall by box height, then any protocol's table."""
    lines = [format_table(summary_rows(results), ["head", "metric", "value", "details"])]
    for head, m in results.items():
        if head not in PROTOCOLS and m.get("recall_by_height"):
            bins = "  ".join(f"{r['height']}: {r['recall']:.2f} ({r['num_gt']})" for r in m["recall_by_height"])
            lines.append(f"{head} recall at score {m['score_threshold']:g} by box height in px (GT count): {bins}")
    for name in PROTOCOLS:
        if name in results:
            lines += ["", protocol_table(results[name], name)]
    return "\n".join(lines)


#: The bdd100k-yolop table's columns: (header, key in the protocol's numbers).
PROTOCOL_COLUMNS: tuple[tuple[str, str], ...] = (
    ("vehicle R", "vehicle_recall"),
    ("vehicle mAP50", "vehicle_map50"),
    ("drivable mIoU", "drivable_miou"),
    ("lane acc", "lane_accuracy"),
    ("lane IoU", "lane_iou"),
)


def protocol_table(numbers: Mapping[str, Any], protocol: str = "bdd100k-yolop", peers: bool = True) -> str:
    """The protocol's numbers in percent as the peers print them, one row for this model then (``peers``) theirs.

    The peers' rows are their published BDD100K-val numbers, not rerun here.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown evaluation protocol {protocol!r}; use one of {', '.join(PROTOCOLS)}")
    sources = [("this model", numbers)] + (list(PUBLISHED.items()) if peers else [])
    rows = [{"model": name, **{h: 100 * float(m[k]) for h, k in PROTOCOL_COLUMNS}} for name, m in sources]
    title = (
        f"{protocol} ({numbers.get('num_images', 0)} images, %): vehicle = car+bus+truck+train, IoU > 0.5; "
        "lane acc = lane-pixel recall; peers' rows as published"
    )
    return title + "\n" + format_table(rows, ["model", *(h for h, _ in PROTOCOL_COLUMNS)], floatfmt=".1f")
