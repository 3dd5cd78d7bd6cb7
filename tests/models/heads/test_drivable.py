"""The drivable head's loss is scored on the grid of the mask it exports."""

from __future__ import annotations

import torch

from mtl_edge.models.heads.drivable import DrivableConfig, DrivableHead


def blocky_target(h: int = 64, w: int = 96) -> torch.Tensor:
    target = torch.zeros(2, h, w, dtype=torch.uint8)
    target[:, 32:, 16:80] = 1  # the ego lane in the lower half
    return target


def head_loss(mask_stride: int, logits: torch.Tensor, target: torch.Tensor) -> float:
    head = DrivableHead(DrivableConfig(mask_stride=mask_stride), {"p3": 8})
    supervised = torch.ones(target.shape[0], dtype=torch.bool)
    return float(head.loss({"logits": logits}, {"drivable": target}, supervised)["loss"])


def test_detail_finer_than_the_exported_mask_does_not_move_the_loss() -> None:
    logits = torch.randn(2, 3, 8, 12, generator=torch.Generator().manual_seed(0))
    target, speckled = blocky_target(), blocky_target()
    speckled[:, 1::2, 1::2] = 2  # odd pixels only: invisible on the stride-2 grid
    assert head_loss(2, logits, speckled) == head_loss(2, logits, target)
    assert head_loss(1, logits, speckled) != head_loss(1, logits, target)


def test_confident_right_logits_score_near_zero_and_wrong_ones_high() -> None:
    target = blocky_target()
    right = torch.nn.functional.one_hot(target[:, ::8, ::8].long(), 3).permute(0, 3, 1, 2).float() * 20
    wrong = right.roll(1, dims=1)
    for stride in (1, 2):
        # Bilinear upsampling smears the class edges over one stride-8 cell, so the loss is small, not zero.
        assert head_loss(stride, right, target) < 0.5 < 5 < head_loss(stride, wrong, target)
