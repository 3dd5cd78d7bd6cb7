"""Parameter and FLOP counters: analytic values, restored modes, the backbone+neck budget."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import Tensor, nn

from mtl_edge.models.backbones import EdgeNet
from mtl_edge.models.blocks import RepConv, reparameterize_model
from mtl_edge.models.complexity import count_gflops, count_params
from mtl_edge.models.neck import PANNeck


@pytest.mark.parametrize(
    ("conv", "shape", "out_hw"),
    [
        (nn.Conv2d(3, 16, 3, stride=2, padding=1), (1, 3, 32, 48), (16, 24)),
        (nn.Conv2d(8, 12, 1, bias=False), (2, 8, 10, 14), (10, 14)),
        (nn.Conv2d(8, 16, 3, padding=1, groups=4), (1, 8, 12, 20), (12, 20)),
    ],
)
def test_conv_flops_are_two_per_mac(conv: nn.Conv2d, shape: tuple[int, ...], out_hw: tuple[int, int]) -> None:
    k_h, k_w = conv.kernel_size
    macs = shape[0] * conv.out_channels * out_hw[0] * out_hw[1] * (conv.in_channels // conv.groups) * k_h * k_w
    assert count_gflops(conv, shape) * 1e9 == pytest.approx(2 * macs, rel=1e-12)


def test_linear_flops() -> None:
    assert count_gflops(nn.Linear(64, 10), (4, 64)) * 1e9 == pytest.approx(2 * 4 * 64 * 10, rel=1e-12)


def test_count_params() -> None:
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.Linear(8, 2))
    assert count_params(model) == (8 * 3 * 9 + 8) + (8 + 8) + (8 * 2 + 2)
    model[0].requires_grad_(False)
    assert count_params(model, trainable_only=True) == (8 + 8) + (8 * 2 + 2)
    shared = nn.Linear(4, 4)
    assert count_params(nn.Sequential(shared, shared)) == 20  # shared weights counted once


def test_training_flags_and_running_stats_are_restored() -> None:
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.Sequential(nn.Conv2d(8, 8, 3), nn.BatchNorm2d(8)))
    model.train()
    model[2].eval()  # mixed flags, e.g. a frozen sub-block
    before = {name: m.training for name, m in model.named_modules()}
    stats = copy.deepcopy(model[1].state_dict())
    count_gflops(model, (1, 3, 16, 16))
    assert {name: m.training for name, m in model.named_modules()} == before
    for key, value in model[1].state_dict().items():
        assert torch.equal(value, stats[key]), key  # ran in eval mode: BN statistics untouched


def test_train_form_repconv_counts_its_1x1_branch() -> None:
    block = RepConv(16, 16)
    train = count_gflops(block, (1, 16, 8, 8))
    deploy = count_gflops(reparameterize_model(copy.deepcopy(block)), (1, 16, 8, 8))
    assert deploy * 1e9 == pytest.approx(2 * 16 * 16 * 9 * 64)
    assert train * 1e9 == pytest.approx(2 * 16 * 16 * 10 * 64)


class _BackboneNeck(nn.Module):
    def __init__(self, width: float = 1.0) -> None:
        super().__init__()
        self.backbone = EdgeNet(width=width)
        self.neck = PANNeck([f["num_chs"] for f in self.backbone.feature_info[-3:]], channels=64)

    def forward(self, x: Tensor) -> list[Tensor]:
        return self.neck(self.backbone(x))


def test_default_backbone_and_neck_fit_the_budget() -> None:
    """Deploy-form edgenet + PANNeck(64) at 640x384 leaves room for the heads in 2.5 GFLOPs / 4M params."""
    model = reparameterize_model(_BackboneNeck().eval())
    gflops = count_gflops(model, (1, 3, 384, 640))
    params = count_params(model)
    assert 1.2 <= gflops <= 1.6, gflops
    assert params <= 2.5e6, params
