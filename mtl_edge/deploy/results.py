"""What one frame's inference returns, in source-frame pixels, and how raw engine
outputs become it (threshold, un-letterbox, pack: the host's only work after the call).

Each head is unpacked by its task kind (:mod:`mtl_edge.deploy.tasks`); nothing here names a head.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mtl_edge.deploy.letterbox import LetterboxParams
from mtl_edge.deploy.tasks import Detection, Lane, Placement, Task, task_for, unpack_head

__all__ = ["Detection", "FrameResult", "HeadResult", "Lane", "Thresholds", "to_frame_result"]


@dataclass
class HeadResult:
    """One head's result for a frame, with the task that made it and the head's metadata."""

    task: Task
    value: Any  # list[Detection], list[Lane], a source-size mask, or what a registered task returns
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class FrameResult:
    """Every head's output for one frame, in source-frame pixels.

    ``result.heads[name].value`` is a head's result; ``result.<name>`` reads the same
    (``result.vehicles``, ``result.lanes``, ``result.drivable`` for the shipped heads).
    """

    index: int
    timestamp: float
    heads: dict[str, HeadResult] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        heads = self.__dict__.get("heads", {})
        if name in heads:
            return heads[name].value
        raise AttributeError(f"this result has no head {name!r}; it has {', '.join(heads) or 'none'}")

    def to_json(self) -> str:
        """One JSON line (the JSONL sink's format)."""
        d: dict[str, Any] = {"index": self.index, "timestamp": round(self.timestamp, 6)}
        for name, head in self.heads.items():
            if head.value is not None:
                d.update(head.task.to_json(name, head.value, head.meta))
        d["timings_ms"] = {k: round(v, 3) for k, v in self.timings.items()}
        return json.dumps(d)


@dataclass
class Thresholds:
    """Host-side score thresholds: per head, else per task kind, else the kind's own default.

    ``Thresholds(by_kind={"detection": 0.25})`` sets every detection head;
    ``Thresholds(by_head={"signs": 0.5})`` one head.
    """

    by_head: dict[str, float] = field(default_factory=dict)
    by_kind: dict[str, float] = field(default_factory=dict)

    def of(self, head: str, task: Task) -> float:
        chosen = self.by_head.get(head, self.by_kind.get(task.kind, task.default_threshold))
        return 0.0 if chosen is None else chosen


def to_frame_result(
    outputs: Mapping[str, np.ndarray],
    meta: Mapping[str, Any],
    params: LetterboxParams,
    source_hw: tuple[int, int],
    input_hw: tuple[int, int],
    index: int = 0,
    timestamp: float = 0.0,
    thresholds: Thresholds | None = None,
    batch_index: int = 0,
) -> FrameResult:
    """Pack one image of a batch of engine outputs (``<head>.<field>`` arrays) into a FrameResult.

    ``meta`` is the model metadata's ``heads`` section; each head's task kind comes from it.
    """
    th = thresholds or Thresholds()
    at = Placement(params, source_hw, input_hw)
    result = FrameResult(index=index, timestamp=timestamp)
    for name, head_meta in meta.items():
        task = task_for(head_meta)
        value = unpack_head(name, outputs, task, head_meta, at, th.of(name, task), batch_index)
        result.heads[name] = HeadResult(task, value, head_meta)
    return result
