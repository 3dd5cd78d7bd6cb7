"""The recipe's sections as typed dataclasses: each field's annotation is its type, its comment its doc.

A recipe has four sections: ``data`` (splits and input size), ``model`` (backbone, neck,
heads), ``loss`` and ``train``. Each head's settings are the ``Config`` dataclass of the
registered head class (kept as ``Any`` here and typed by :mod:`mtl_edge.config.validate`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass
class SynthSpec:
    """A split generated on demand by the scene generator (deterministic by seed)."""

    n: int  # number of scenes
    seed: int  # base seed; use a different one for every split
    size: tuple[int, int] = (1280, 720)  # source frame width, height (a dashcam's 720p)


@dataclass
class DataSplit:
    """One dataset: exactly one of ``root`` (a folder in a supported layout), ``images`` + ``labels``, or
    ``synth``. Or a mixture: ``datasets``, a list of such entries sampled together."""

    root: str | None = None  # a dataset folder in any supported layout (`mtl-edge data layouts` lists them)
    layout: str | None = None  # root's layout: generated, bdd100k, bdd100k-2018, tusimple, culane, mtsd, gtsdb
    split: str | None = None  # which of root's splits (train, val); default: this split's role
    images: str | None = None  # an image folder ...
    labels: list[str] = field(default_factory=list)  # ... and its BDD100K-format label files, merged by name
    drivable: str | None = None  # optional drivable-mask folder beside images (PNG per image stem)
    drivable_coding: Literal["2018", "2020"] | None = None  # masks' coding; default: the layout's (2020 for bdd100k)
    synth: SynthSpec | None = None
    name: str | None = None  # the dataset's name in reports (default: its layout)
    heads: list[str] | None = None  # heads it labels (default: the layout's); others learn nothing from it
    weight: float = 1.0  # share of each batch drawn from it, relative to the other datasets of a mixture
    categories: dict[str, str] = field(default_factory=dict)  # its box categories -> head/class (on the layout's)
    lanes: dict[str, Any] = field(default_factory=dict)  # lane rules: markings (lane types kept), merge_doubles
    datasets: list[DataSplit] = field(default_factory=list)  # a mixture: several datasets, each as above


@dataclass
class DataConfig:
    train: DataSplit
    val: DataSplit | None = None  # without one, training keeps the last epoch as best
    imgsz: tuple[int, int] = (384, 640)  # model input height, width; multiples of 32 (the largest stride)
    cache: bool = True  # keep letterboxed training samples in memory (decode once)
    workers: int = 0  # DataLoader worker processes; 0 loads in the training process


@dataclass
class BackboneConfig:
    name: str = "edgenet"  # a registered backbone: edgenet, resnet18, mobilenet_v3_large/small
    width: float = 1.0  # channel multiplier (edgenet, mobilenet)
    depth: float = 1.0  # block-count multiplier (edgenet)


@dataclass
class NeckConfig:
    channels: int = 64  # width of every pyramid level
    depth: int = 1  # RepConv blocks per merge


@dataclass
class ModelConfig:
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    neck: NeckConfig = field(default_factory=NeckConfig)
    heads: dict[str, Any] = field(default_factory=dict)  # head name -> that head's Config ({} = its defaults)


@dataclass
class LossConfig:
    weights: dict[str, float] = field(default_factory=dict)  # per head; heads not named weigh 1.0
    uncertainty: bool = False  # learn the task weighting (Kendall et al. 2018) instead


@dataclass
class TrainConfig:
    epochs: int = 30
    batch: int = 16  # images per step (per process under DDP)
    lr: float = 2e-3  # AdamW peak learning rate
    weight_decay: float = 5e-4
    warmup_epochs: float = 1.0  # linear warm-up, then cosine decay to 1% of lr
    ema_decay: float = 0.999  # EMA of the weights; the EMA is what is evaluated and saved
    amp: bool = True  # mixed precision: CUDA, and bfloat16 on CPUs with AMX or AVX512-BF16 (float32 elsewhere)
    grad_clip: float = 10.0  # max gradient norm
    seed: int = 0
    eval_every: int = 1  # epochs between validation runs
    eval_images: int = 200  # validation images per run (the final eval uses mtl-edge eval)
    score_threshold: float = 0.3  # deploy threshold for detection precision/recall
    # The heads' post-fit stages (after the main schedule) take their length from the head's own
    # settings, e.g. ``glimpse.fit_epochs``; ``train.glimpse_epochs`` is read as that (config/migrate.py).


@dataclass
class Recipe:
    name: str  # names the run and the exported model's metadata
    data: DataConfig
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
