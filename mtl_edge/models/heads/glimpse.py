"""A second look at small detections: classify each candidate from the input pixels.

A speed-limit sign is 10-20 px tall in the 640x384 input, and its digits 4-7 px; the
stride-4 heat map finds the sign but cannot tell 30 from 80. The glimpse cuts a square
crop around each candidate box out of the normalised input frame (bilinear, GridSample,
which ONNX Runtime and TensorRT both run natively), and a small CNN classifies it into
the head's classes plus background. It runs inside the graph on a fixed number of
candidates, so the engine contract (boxes, scores, classes) is unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mtl_edge.models.blocks import ConvBNAct


@dataclass
class GlimpseConfig:
    """Settings of the glimpse classifier (size 0 switches it off)."""

    size: int = 0  # crop side in pixels fed to the CNN
    candidates: int = 16  # class-agnostic candidates per image that get a glimpse
    # Box-suppression IoU among the candidates (0: the head's ``nms_iou``). With refine, two
    # candidates on one object converge and ``refined_nms_iou`` drops the copy afterwards, so
    # the candidates may overlap more than detections: a small vehicle beside a larger one then
    # survives to be refined. The shipped recipe uses 0.7 (measured in docs/experiments.md).
    candidate_nms_iou: float = 0.0
    context: float = 1.3  # crop side / longer box side: a margin of background around the object
    channels: tuple[int, ...] = (16, 32, 48, 64)  # CNN widths; every conv after the first halves the crop
    refine: bool = False  # also regress the candidate's box from the crop (a two-stage detector's box head)
    # With refine: crop, re-box and crop again this many times (class probabilities are averaged
    # over the crops). Each pass starts from a better-centred box; the shipped vehicles glimpse uses 3.
    refine_steps: int = 1
    # With refine: after the last pass, drop a candidate whose refined box overlaps a better-scored
    # candidate's by IoU > this (0: off). Two candidates on one object converge to one box, and the
    # copy is a false positive; the shipped recipe uses 0.5, which mainly raises precision.
    refined_nms_iou: float = 0.0
    # With refine: a candidate whose heat-map box has a longer side over this many input pixels
    # keeps that box (0: every candidate takes its refined box). A 24x24 crop of a large vehicle is
    # too coarse to improve its box, so refinement would move it away. Class probabilities still
    # come from every pass. The shipped recipe uses 48.
    refine_max_side: float = 0.0
    positive_iou: float = 0.5  # fitting: IoU with a labelled object from which a candidate takes its class
    # Fitting (the head's post-fit stage, after the main schedule): epochs for this glimpse, the one
    # setting for its length (0: not fitted). Each glimpse has its own: the shipped recipe fits the
    # vehicles glimpse 16 epochs and the signs glimpse the default 8, what each measured best at.
    # Replaces ``train.glimpse_epochs``, which old recipes still give (config.py maps it here).
    fit_epochs: int = 8

    def __post_init__(self) -> None:  # a recipe reports these with the key's path (config.from_dict)
        if self.refine_steps < 1:
            raise ValueError(
                f"glimpse.refine_steps must be at least 1 (one crop per candidate), got {self.refine_steps}"
            )
        if self.fit_epochs < 0:
            raise ValueError(
                f"glimpse.fit_epochs must be 0 or more, got {self.fit_epochs}; 0 leaves the glimpse unfitted"
            )
        if not 0.0 <= self.candidate_nms_iou < 1.0:
            raise ValueError(
                f"glimpse.candidate_nms_iou must be in [0, 1), got {self.candidate_nms_iou}; 0 uses the head's nms_iou"
            )
        refine_only = (  # settings that act on refined boxes: name, value in range, the range, what 0 means
            ("refined_nms_iou", 0.0 <= self.refined_nms_iou < 1.0, "in [0, 1)", "0 switches it off"),
            ("refine_max_side", self.refine_max_side >= 0, "0 or more", "0 refines every candidate's box"),
        )
        for name, in_range, rule, zero in refine_only:
            value = getattr(self, name)
            if not in_range or (value > 0 and not self.refine):
                raise ValueError(
                    f"glimpse.{name} must be {rule} and needs glimpse.refine: true, got {value} "
                    f"with refine: {self.refine}; {zero}"
                )


def migrate_glimpse_epochs(recipe: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Move an old recipe's ``train.glimpse_epochs: N`` into its glimpses' ``fit_epochs`` (in place).

    A glimpse that gave no ``fit_epochs`` (or 0, which meant "the train setting") takes N; one
    that gave its own keeps it. N = 0 skipped every glimpse fit, so a glimpse asking for epochs
    of its own disagrees: ValueError("<key>: <problem>"). Returns the recipe and what was set.
    """
    epochs = recipe["train"].pop("glimpse_epochs")
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 0:
        raise ValueError(f"train.glimpse_epochs: expected a whole number, 0 or more, got {epochs!r}.")
    model = recipe.get("model")
    heads = model.get("heads") if isinstance(model, dict) else None
    moved = []
    for name, settings in (heads if isinstance(heads, dict) else {}).items():
        glimpse = settings.get("glimpse") if isinstance(settings, dict) else None
        if not isinstance(glimpse, dict):
            continue
        own = glimpse.get("fit_epochs") or 0
        if epochs == 0 and own:
            raise ValueError(
                f"model.heads.{name}.glimpse.fit_epochs: is {own}, but train.glimpse_epochs: 0 says no glimpse "
                "is fitted; they disagree. train.glimpse_epochs is replaced by each glimpse's fit_epochs: "
                "remove it and set fit_epochs (0 leaves that glimpse unfitted)."
            )
        glimpse["fit_epochs"] = own or epochs
        moved.append(f"model.heads.{name}.glimpse.fit_epochs: {glimpse['fit_epochs']}")
    return recipe, moved


def crop_boxes(images: Tensor, boxes: Tensor, size: int, context: float) -> Tensor:
    """Square bilinear crops [B*K,C,size,size] centred on ``boxes`` [B,K,4] (xyxy pixels of ``images``).

    The crop side is ``context`` x the longer box side; pixels outside the frame read 0.
    """
    b, k, _ = boxes.shape
    h, w = images.shape[-2:]
    cx = (boxes[..., 0] + boxes[..., 2]) * 0.5
    cy = (boxes[..., 1] + boxes[..., 3]) * 0.5
    half = torch.maximum(boxes[..., 2] - boxes[..., 0], boxes[..., 3] - boxes[..., 1]).clamp(min=2.0) * (0.5 * context)
    steps = (torch.arange(size, dtype=boxes.dtype, device=boxes.device) + 0.5) * (2.0 / size) - 1.0  # cell centres
    xs = cx.unsqueeze(-1) + half.unsqueeze(-1) * steps  # [B,K,S]
    ys = cy.unsqueeze(-1) + half.unsqueeze(-1) * steps
    gx = (xs * (2.0 / w) - 1.0).unsqueeze(2).expand(b, k, size, size)  # [B,K,Sy,Sx], align_corners=False
    gy = (ys * (2.0 / h) - 1.0).unsqueeze(3).expand(b, k, size, size)
    grid = torch.stack([gx, gy], -1).reshape(b, k * size, size, 2)
    crops = F.grid_sample(images, grid.to(images.dtype), mode="bilinear", padding_mode="zeros", align_corners=False)
    return crops.reshape(b, -1, k, size, size).transpose(1, 2).reshape(b * k, -1, size, size)


class GlimpseClassifier(nn.Module):
    """Crop -> small CNN -> logits over ``n_classes`` + 1 (the last is background)."""

    def __init__(self, cfg: GlimpseConfig, n_classes: int, in_channels: int = 3) -> None:
        super().__init__()
        self.cfg = cfg
        layers, c = [], in_channels
        for i, width in enumerate(cfg.channels):
            layers.append(ConvBNAct(c, width, k=3, s=1 if i == 0 else 2))
            c = width
        self.features = nn.Sequential(*layers)
        self.logits = nn.Linear(c, n_classes + 1)
        final = cfg.size
        for _ in cfg.channels[1:]:
            final = (final + 1) // 2
        # Deltas read the final map flattened: global pooling would throw away where the object is.
        self.deltas = nn.Linear(c * final * final, 4) if cfg.refine else None
        if self.deltas is not None:  # start from the candidate's own box
            nn.init.zeros_(self.deltas.weight)
            nn.init.zeros_(self.deltas.bias)

    def forward(self, images: Tensor, boxes: Tensor) -> Tensor:
        """Logits [B,K,n_classes+1] for boxes [B,K,4] on normalised images [B,3,H,W]."""
        b, k, _ = boxes.shape
        return self.classify(crop_boxes(images, boxes, self.cfg.size, self.cfg.context))[0].reshape(b, k, -1)

    def classify(self, crops: Tensor) -> tuple[Tensor, Tensor | None]:
        """Logits [N,n_classes+1] and, with ``refine``, box deltas [N,4] for crops [N,3,S,S]."""
        x = self.features(crops)
        return self.logits(x.mean((2, 3))), (self.deltas(x.flatten(1)) if self.deltas is not None else None)


#: Box deltas are scaled by these (centre x, y as a fraction of the side; log width, height).
DELTA_SCALE = (0.1, 0.1, 0.2, 0.2)
#: Largest log-size change a delta may apply (e^2: 7.4x), so a wild delta stays finite.
MAX_LOG_RESIZE = 2.0


def encode_deltas(boxes: Tensor, targets: Tensor) -> Tensor:
    """Deltas [...,4] that turn ``boxes`` into ``targets`` (both xyxy [...,4], positive sizes)."""
    w, h = boxes[..., 2] - boxes[..., 0], boxes[..., 3] - boxes[..., 1]
    tw, th = targets[..., 2] - targets[..., 0], targets[..., 3] - targets[..., 1]
    dx = (targets[..., 0] + targets[..., 2] - boxes[..., 0] - boxes[..., 2]) * 0.5 / w
    dy = (targets[..., 1] + targets[..., 3] - boxes[..., 1] - boxes[..., 3]) * 0.5 / h
    d = torch.stack([dx, dy, torch.log(tw / w), torch.log(th / h)], -1)
    return d / torch.tensor(DELTA_SCALE, dtype=d.dtype, device=d.device)


def apply_deltas(boxes: Tensor, deltas: Tensor) -> Tensor:
    """Inverse of :func:`encode_deltas`: boxes [...,4] moved and resized by deltas [...,4]."""
    d = deltas * torch.tensor(DELTA_SCALE, dtype=deltas.dtype, device=deltas.device)
    w, h = boxes[..., 2] - boxes[..., 0], boxes[..., 3] - boxes[..., 1]
    cx = (boxes[..., 0] + boxes[..., 2]) * 0.5 + d[..., 0] * w
    cy = (boxes[..., 1] + boxes[..., 3]) * 0.5 + d[..., 1] * h
    half_w = w * torch.exp(d[..., 2].clamp(max=MAX_LOG_RESIZE)) * 0.5
    half_h = h * torch.exp(d[..., 3].clamp(max=MAX_LOG_RESIZE)) * 0.5
    return torch.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], -1)
