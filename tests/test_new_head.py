"""Adding a head takes no package change: a toy head defined here alone, through the public
registries (the model's ``HEADS``, the training side's head specs, the deploy side's task kinds),
trains beside the real heads, exports to ONNX, runs through ``Runtime`` on ONNX Runtime into
JSONL, and is scored by ``mtl-edge eval``.

The toy "count" head regresses how many vehicle boxes a frame holds.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from mtl_edge.data.splits import open_folder
from mtl_edge.data.tasks import HeadSpec, Labels, register_spec, spec_for, unregister_spec
from mtl_edge.deploy.tasks import Placement, Task, register_task, unregister_task
from mtl_edge.models.heads.base import Head, masked_mean
from mtl_edge.models.heads.glimpse import GlimpseConfig
from mtl_edge.models.registry import HEADS

from .conftest import tiny_recipe

NAME = "count"


@dataclass
class CountConfig:
    """Settings of the toy head."""

    channels: int = 8  # width of the conv before the global pooling


class CountHead(Head):
    """How many vehicles the frame holds: a 1x1 conv on p3, averaged over the image, exp'd (positive)."""

    Config = CountConfig
    output_names = ("value",)
    raw_names = ("value",)
    reads = ("p3",)

    def __init__(self, cfg: CountConfig, channels: dict[str, int]) -> None:
        super().__init__()
        self.cfg = cfg
        self.conv = nn.Sequential(nn.Conv2d(channels["p3"], cfg.channels, 1), nn.ReLU(), nn.Conv2d(cfg.channels, 1, 1))

    def forward(self, feats: dict[str, Tensor], decode: bool = False) -> dict[str, Tensor]:
        raw = {"value": self.conv(feats["p3"]).float().mean(dim=(1, 2, 3))}
        return self.decode(raw) if decode else raw

    def decode(self, raw: dict[str, Tensor]) -> dict[str, Tensor]:
        return {"value": torch.exp(raw["value"].float().clamp(max=8.0))}

    def loss(self, raw: dict[str, Tensor], targets: dict[str, Any], supervised: Tensor) -> dict[str, Tensor]:
        target = targets[NAME].to(raw["value"].device)
        per_sample = (raw["value"].float() - torch.log1p(target)).abs()
        return {"loss": masked_mean(per_sample, supervised)}

    def metadata(self, input_hw: tuple[int, int]) -> dict[str, Any]:
        return {"task": NAME}


def vehicle_count(labels: Labels) -> int:
    """The frame's vehicles that are not ignored, by the vehicles head's own category table."""
    vehicles = spec_for("vehicles")
    return sum(1 for o in labels.frame.objects if (got := vehicles.box_label(o, labels)) is not None and not got[1])


class AbsoluteError:
    """Mean absolute error over frames."""

    def __init__(self) -> None:
        self.errors: list[float] = []

    def compute(self) -> dict[str, Any]:
        return {"mae": float(np.mean(self.errors)) if self.errors else float("nan"), "frames": len(self.errors)}


class CountSpec(HeadSpec):
    """The toy head's training side: targets, ground truth, metric, drawing."""

    metric, label_kind = "mae", "boxes"  # learns from frames whose label files cover boxes

    def targets(self, labels: Labels, hw: tuple[int, int], active: bool) -> dict[str, Any]:
        return {NAME: torch.tensor(float(vehicle_count(labels)) if active else 0.0)}

    def collate(self, targets: Sequence[Mapping[str, Any]], **options: Any) -> dict[str, Any]:
        return {NAME: torch.stack([t[NAME] for t in targets])}

    def ground_truth(self, labels: Labels, hw: tuple[int, int]) -> Any:
        return vehicle_count(labels)

    def new_metric(self, classes: Sequence[str], source_hw: tuple[int, int], score_threshold: float) -> Any:
        return AbsoluteError()

    def update(self, metric: Any, value: Any, truth: Any) -> None:
        metric.errors.append(abs(float(value) - truth))

    def details(self, m: Mapping[str, Any]) -> str:
        return f"{m['frames']} frames"


class CountTask(Task):
    """The toy head's deploy side: one number per frame."""

    kind, fields, draw_order = NAME, ("value",), 3

    def unpack(
        self, outputs: Mapping[str, np.ndarray], meta: Mapping[str, Any], at: Placement, threshold: float
    ) -> Any:
        return float(outputs["value"])

    def to_json(self, name: str, value: Any, meta: Mapping[str, Any]) -> dict[str, Any]:
        return {name: round(value, 3)}

    def draw(self, image: np.ndarray, name: str, value: Any) -> None:
        image[:4, : min(image.shape[1], int(4 * value))] = 255

    def empty(self) -> Any:
        return None


@pytest.fixture
def count_head() -> Iterator[None]:
    """The toy head registered on all three sides for one test, then forgotten."""
    HEADS.register(NAME)(CountHead)
    register_spec(NAME, CountSpec())
    register_task(CountTask)
    try:
        yield
    finally:
        HEADS.unregister(NAME)
        unregister_spec(NAME)
        unregister_task(NAME)


def test_a_head_defined_outside_the_package_trains_exports_runs_and_is_scored(count_head, tiny_data, tmp_path):
    from mtl_edge import Runtime
    from mtl_edge.backends import open_backend
    from mtl_edge.cli import main
    from mtl_edge.evaluate import evaluate
    from mtl_edge.export.exporter import export
    from mtl_edge.models.loading import load_model
    from mtl_edge.train import train

    recipe = tiny_recipe(*tiny_data)
    recipe.model.heads = {**recipe.model.heads, NAME: CountConfig()}
    recipe.model.heads["signs"] = dataclasses.replace(recipe.model.heads["signs"], glimpse=GlimpseConfig())
    best = train(recipe, tmp_path / "run", progress=False, max_steps=1)
    net, ckpt = load_model(best)
    assert list(net.heads) == ["lanes", "vehicles", "signs", "drivable", NAME]
    assert set(ckpt["metrics"]) == set(net.heads) and ckpt["metrics"][NAME]["frames"] == 6

    onnx = tmp_path / "count.onnx"
    export(best, onnx, imgsz=(128, 224), val_images=0)
    jsonl = tmp_path / "out.jsonl"
    with Runtime(onnx, backend="ort") as rt:
        results = list(rt.stream(tiny_data[1] / "images", sinks=[jsonl]))
    lines = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert len(lines) == len(results) == 6
    assert all(isinstance(line[NAME], float) and line[NAME] > 0 for line in lines)
    assert [line[NAME] for line in lines] == [round(r.count, 3) for r in results]
    assert all("vehicles" in line and "lanes" in line for line in lines), "the real heads still report"

    scores = tmp_path / "eval.json"
    assert main(["eval", str(best), "--data", str(tiny_data[1]), "--json", str(scores)]) == 0
    scored = json.loads(scores.read_text())
    assert set(scored) == set(net.heads) and scored[NAME]["frames"] == 6
    assert np.isfinite(scored[NAME]["mae"]) and scored[NAME]["mae"] >= 0

    # Evaluation takes a backend and a dataset: the exported file on ONNX Runtime scores like the checkpoint.
    with open_backend(onnx, "ort") as backend:
        on_ort = evaluate(backend, open_folder(tiny_data[1]))
    assert on_ort[NAME]["mae"] == pytest.approx(scored[NAME]["mae"], abs=1e-3)


def test_the_toy_head_is_gone_after_its_test():
    assert NAME not in HEADS
    from mtl_edge.data.tasks import SPECS
    from mtl_edge.deploy.tasks import TASKS

    assert NAME not in SPECS and NAME not in TASKS
