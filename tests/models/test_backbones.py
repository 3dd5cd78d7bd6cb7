"""Backbones share one feature interface; blocks reparameterize exactly into their deploy form.

The block tests (ConvBNAct / RepConv / reparameterize_model) live here because the
backbones are what they are built for.
"""

from __future__ import annotations

import copy

import pytest
import torch
import torchvision.models._api
from torch import nn

from mtl_edge.models import BACKBONES
from mtl_edge.models.backbones import EdgeNet, make_divisible
from mtl_edge.models.blocks import ConvBNAct, RepConv, reparameterize_model

H, W = 384, 640


def randomize_bn(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BatchNorm non-trivial running statistics and affine parameters."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=g) * 0.5)
                m.running_var.copy_(torch.rand(n, generator=g) * 1.5 + 0.5)
                m.weight.copy_(torch.rand(n, generator=g) + 0.5)
                m.bias.copy_(torch.randn(n, generator=g) * 0.2)
    return model


@pytest.fixture(scope="module")
def image() -> torch.Tensor:
    return torch.randn(1, 3, H, W, generator=torch.Generator().manual_seed(1))


# --- feature interface ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["edgenet", "resnet18", "mobilenet_v3_large", "mobilenet_v3_small"])
def test_backbone_feature_interface(name: str, image: torch.Tensor) -> None:
    model = BACKBONES.build(name).eval()
    with torch.no_grad():
        features = model(image)
    assert isinstance(features, list) and len(features) == 4
    assert [f["reduction"] for f in model.feature_info] == [4, 8, 16, 32]
    for fmap, info in zip(features, model.feature_info, strict=True):
        r = info["reduction"]
        assert fmap.shape == (1, info["num_chs"], H // r, W // r)
        assert isinstance(model.get_submodule(info["module"]), nn.Module)


def test_known_channels() -> None:
    assert [f["num_chs"] for f in BACKBONES.build("resnet18").feature_info] == [64, 128, 256, 512]
    assert [f["num_chs"] for f in BACKBONES.build("mobilenet_v3_large").feature_info] == [24, 40, 112, 960]
    assert [f["num_chs"] for f in BACKBONES.build("mobilenet_v3_small").feature_info] == [16, 24, 48, 576]


def test_nothing_is_downloaded(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a backbone tried to download weights")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", refuse)
    for name in BACKBONES.names():
        BACKBONES.build(name)


def test_edgenet_width_and_depth_scaling() -> None:
    base = EdgeNet()
    for width in (0.5, 0.75, 1.25, 2.0):
        chs = [f["num_chs"] for f in EdgeNet(width=width).feature_info]
        assert all(c % 8 == 0 for c in chs)
        assert chs == [make_divisible(c * width) for c in EdgeNet.DEFAULT_CHANNELS[1:]]
    assert [len(s) for s in base.stages] == list(EdgeNet.DEFAULT_BLOCKS)
    assert [len(s) for s in EdgeNet(depth=2.0).stages] == [2 * n for n in EdgeNet.DEFAULT_BLOCKS]
    assert all(len(s) >= 1 for s in EdgeNet(depth=0.1).stages)
    custom = EdgeNet(channels=(8, 16, 24, 32, 40), blocks=(1, 1, 1, 3))
    assert [f["num_chs"] for f in custom.feature_info] == [16, 24, 32, 40]
    assert [len(s) for s in custom.stages] == [1, 1, 1, 3]


def test_make_divisible() -> None:
    assert [make_divisible(v) for v in (1, 12, 20, 28, 30, 96 * 1.25)] == [8, 16, 24, 32, 32, 120]
    assert make_divisible(13) == 16  # never loses more than 10%


def test_scaling_arguments_are_validated() -> None:
    with pytest.raises(ValueError, match="width=0.5"):
        BACKBONES.build("resnet18", width=0.5)
    with pytest.raises(ValueError, match="depth=2"):
        BACKBONES.build("mobilenet_v3_large", depth=2.0)
    with pytest.raises(ValueError, match="5 channel counts"):
        EdgeNet(channels=(16, 32, 64))
    with pytest.raises(ValueError, match="> 0"):
        EdgeNet(width=0)


# --- blocks and reparameterization ---------------------------------------------------------


@pytest.mark.parametrize(("c_in", "c_out", "s"), [(8, 8, 1), (8, 16, 1), (8, 16, 2), (16, 16, 2)])
def test_repconv_fuse_is_exact(c_in: int, c_out: int, s: int) -> None:
    torch.manual_seed(0)
    block = randomize_bn(RepConv(c_in, c_out, s=s)).eval()
    assert (block.identity is not None) == (c_in == c_out and s == 1)
    x = torch.randn(2, c_in, 17, 24)
    with torch.no_grad():
        ref = block(x)
        block.fuse()
        out = block(x)
    assert block.is_fused and block.dense is None and block.pointwise is None and block.identity is None
    assert not any(isinstance(m, nn.BatchNorm2d) for m in block.modules())
    assert block.reparam is not None and block.reparam.kernel_size == (3, 3) and block.reparam.stride == (s, s)
    assert out.shape == ref.shape == (2, c_out, -(-17 // s), -(-24 // s))
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-5)
    assert block.reparameterize() is block  # idempotent alias
    with torch.no_grad():
        torch.testing.assert_close(block(x), out, rtol=0, atol=0)


@pytest.mark.parametrize(
    "kwargs", [{"k": 3}, {"k": 1}, {"k": 3, "s": 2}, {"k": 3, "groups": 4}, {"k": 5, "act": False}]
)
def test_convbnact_fuse_is_exact(kwargs: dict) -> None:
    torch.manual_seed(0)
    block = randomize_bn(ConvBNAct(8, 16, **kwargs)).eval()
    x = torch.randn(2, 8, 15, 22)
    with torch.no_grad():
        ref = block(x)
        block.fuse()
        out = block(x)
    assert block.is_fused and isinstance(block.bn, nn.Identity) and block.conv.bias is not None
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-5)


def test_reparameterize_edgenet_is_exact() -> None:
    """Whole-backbone check in float64 (the algebra, to 1e-5) and float32 (relative to the output scale)."""
    torch.manual_seed(0)
    model = randomize_bn(EdgeNet(width=0.5)).eval()
    fused = reparameterize_model(copy.deepcopy(model))
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fused.modules())
    assert {type(m) for m in fused.modules() if not list(m.children())} <= {nn.Conv2d, nn.ReLU, nn.Identity}
    x = torch.randn(2, 3, 96, 160, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        for ref, out in zip(model.double()(x.double()), fused.double()(x.double()), strict=True):
            torch.testing.assert_close(out, ref, rtol=0, atol=1e-5)
        for ref, out in zip(model.float()(x), fused.float()(x), strict=True):
            assert (out - ref).abs().max() <= 1e-5 * ref.abs().max().clamp(min=1.0)


def test_reparameterize_model_handles_prefused_children() -> None:
    """Folding a RepConv whose branch ConvBNAct was already fused gives the same kernel."""
    torch.manual_seed(0)
    block = randomize_bn(RepConv(8, 8)).eval()
    x = torch.randn(1, 8, 10, 10)
    with torch.no_grad():
        ref = block(x)
        assert block.dense is not None
        block.dense.fuse()
        reparameterize_model(block)
        torch.testing.assert_close(block(x), ref, rtol=0, atol=1e-5)
