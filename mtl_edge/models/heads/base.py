"""What every head provides, and the pieces heads share."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from mtl_edge.models.blocks import ConvBNAct
from mtl_edge.models.registry import HEADS


class Head(nn.Module):
    """A task head.

    ``forward(features)`` returns raw tensors for the loss; ``forward(features, decode=True)``
    returns the final decoded outputs named by ``output_names`` (the engine contract). Its
    ``loss(raw, targets, supervised)`` returns ``{"loss": scalar, ...parts}`` and must
    give zero loss and zero gradient for samples whose ``supervised`` flag is False.

    Two hooks let a head own the rest of its life cycle: :meth:`float_scopes` tells the
    precision rewrites which of its modules stay float, and :meth:`post_fit` is a stage the
    trainer runs after the main schedule (e.g. fitting a second-stage classifier).
    """

    #: The dataclass of this head's recipe settings.
    Config: ClassVar[type]
    #: Field names of the decoded outputs, e.g. ("boxes", "scores", "classes").
    output_names: ClassVar[tuple[str, ...]]
    #: Keys of the raw (pre-decode) outputs that exist in eval mode.
    raw_names: ClassVar[tuple[str, ...]]
    #: Pyramid maps the head reads (the neck computes no level beyond the deepest one asked for).
    reads: tuple[str, ...] = ("p3",)

    def forward(self, feats: dict[str, Tensor], decode: bool = False) -> dict[str, Tensor]:
        raise NotImplementedError

    def float_scopes(self) -> dict[str, str]:
        """Which of this head's modules stay float in FP16 and INT8 graphs, by module path.

        Keys are module paths relative to the head (``""``: the head's own ops, outside any
        submodule; ``"glimpse"``: everything under ``self.glimpse``). Values say why:

        - ``"decode"``: float32 in every graph (comparisons, TopK, exp, softmax);
        - ``"logits"``: the output convs; FP16 allowed, not INT8 (256 levels would tie
          neighbouring cells); INT8 calibrates their inputs at full range;
        - ``"float"``: FP16 allowed, not INT8 (e.g. a classifier that reads pixel crops).

        The exporter writes these into the model metadata and the precision rewrites read
        them there, so a decode in a submodule stays float when the head says so.
        """
        return {"": "decode"}

    def post_fit_modules(self) -> tuple[str, ...]:
        """Attribute names of submodules fitted by :meth:`post_fit`, not by the main schedule.

        The schedule freezes them and scores the head with them set to None (so the head must
        work without them), and ``--post-fit-from`` accepts a checkpoint that lacks them.
        """
        return ()

    def post_fit(self, net: nn.Module, loader: Any, seed: int = 0, progress: bool = True) -> dict[str, Any]:
        """A stage after the main schedule, on the frozen trained ``net`` (which holds this head).

        ``loader`` yields un-augmented training batches. The head's own config says how long
        the stage runs. Returns stats to print; the default has nothing to do.
        """
        return {}

    def decode(self, raw: dict[str, Tensor]) -> dict[str, Tensor]:
        raise NotImplementedError

    @property
    def registered_name(self) -> str:
        """The name this head's class is registered under in ``HEADS`` ("" if none): the key of its
        entries in a batch (``supervises`` column, ``box_heads``) and the prefix of its outputs."""
        return HEADS.name_of(type(self)) or ""

    def box_head_id(self, targets: dict[str, Any]) -> int:
        """For a head whose targets are boxes: its value of the batch's per-box ``head`` field."""
        name, box_heads = self.registered_name, tuple(targets.get("box_heads", ()))
        if name not in box_heads:
            raise ValueError(
                f"the batch holds no boxes of head {name!r} (box_heads {box_heads}): build the head through "
                "HEADS and the batch with a DrivingDataset whose heads include it"
            )
        return box_heads.index(name)

    def loss(self, raw: dict[str, Tensor], targets: dict[str, Any], supervised: Tensor) -> dict[str, Tensor]:
        raise NotImplementedError

    def metadata(self, input_hw: tuple[int, int]) -> dict[str, Any]:
        """What a deployed model must know to read this head's outputs (class names, rows...)."""
        return {}


class FuseUp(nn.Module):
    """Bring a coarse pyramid level up to a finer backbone level: 1x1 both, nearest x2^k, add."""

    def __init__(self, fine_channels: int, coarse_channels: int, channels: int, factor: int) -> None:
        super().__init__()
        self.fine = ConvBNAct(fine_channels, channels, k=1)
        self.coarse = ConvBNAct(coarse_channels, channels, k=1)
        self.factor = factor

    def forward(self, fine: Tensor, coarse: Tensor) -> Tensor:
        up = nn.functional.interpolate(self.coarse(coarse), scale_factor=self.factor, mode="nearest")
        return self.fine(fine) + up


def uint8_output(x: Tensor) -> Tensor:
    """A uint8 graph output, cast from float32.

    TensorRT's ONNX parser takes a UINT8 tensor only as a network output made by a Cast
    (onnx-tensorrt docs/operators.md, release 10.x); NVIDIA's docs disagree on whether
    that Cast may read BOOL or INT64, so it always reads float32.
    """
    return x.to(torch.float32).to(torch.uint8)


def masked_mean(per_sample: Tensor, supervised: Tensor) -> Tensor:
    """Mean over supervised samples; exactly zero (and zero gradient) when none is supervised."""
    weight = supervised.to(per_sample.dtype)
    return (per_sample * weight).sum() / weight.sum().clamp(min=1.0)


def level_for_stride(stride: int) -> str:
    names = {4: "c2", 8: "p3", 16: "p4", 32: "p5"}
    if stride not in names:
        raise ValueError(f"stride {stride} is not one of {sorted(names)}; pick a pyramid stride")
    return names[stride]
