"""Backbones with one feature interface (timm ``feature_info`` style).

Every backbone takes a normalized float ``[B, 3, H, W]`` tensor (H, W multiples of 32)
and returns a list of 4 feature maps at strides 4, 8, 16 and 32, in that order. Its
``feature_info`` lists, for each map, ``num_chs`` (channels), ``reduction`` (stride)
and ``module`` (the submodule that produces it), so any neck or head can attach to
any backbone. Torchvision backbones are built with ``weights=None``: nothing is ever
downloaded; load a local checkpoint with ``load_state_dict`` when needed.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from mtl_edge.models.blocks import ConvBNAct, RepConv
from mtl_edge.models.registry import BACKBONES

__all__ = ["EdgeNet", "MobileNetV3Features", "ResNetFeatures", "make_divisible"]

STRIDES = (4, 8, 16, 32)


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round to the nearest multiple of ``divisor`` without losing more than 10% (MobileNet rule)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


@BACKBONES.register("edgenet")
class EdgeNet(nn.Module):
    """Plain RepVGG-style edge backbone: a stride-2 stem, then four stages of RepConv blocks.

    Each stage starts with a stride-2 RepConv, so the stages end at strides 4, 8, 16
    and 32. After :func:`~mtl_edge.models.blocks.reparameterize_model` the network is a
    chain of dense 3x3 Conv+ReLU layers, the form that runs fastest on the CPU (ONNX
    Runtime) and fuses and quantizes best in TensorRT.

    ``width`` scales every channel count (rounded to multiples of 8) and ``depth`` the
    number of blocks per stage (at least 1). ``channels`` (stem, then the four stages)
    and ``blocks`` (per stage) override the defaults; None means default.
    """

    # Sized for the product budget at 640x384 (deploy form, GFLOPs = 2 x MACs): about
    # 0.95 GFLOPs / 0.81M params here, 1.52 GFLOPs / 1.05M with PANNeck(channels=64),
    # leaving ~1 GFLOP of the 2.5 for the heads. Stride-4/8 stages stay narrow (a channel
    # there costs 16x / 4x what it costs at stride 16); most parameters sit at stride 32.
    DEFAULT_CHANNELS: tuple[int, ...] = (16, 24, 48, 96, 224)  # stem (stride 2), then strides 4, 8, 16, 32
    DEFAULT_BLOCKS: tuple[int, ...] = (1, 2, 2, 2)  # RepConv blocks per stage, the first one with stride 2

    def __init__(
        self,
        width: float = 1.0,
        depth: float = 1.0,
        channels: Sequence[int] | None = None,
        blocks: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        channels = tuple(self.DEFAULT_CHANNELS if channels is None else channels)
        blocks = tuple(self.DEFAULT_BLOCKS if blocks is None else blocks)
        if len(channels) != 5 or len(blocks) != 4:
            raise ValueError(
                f"EdgeNet needs 5 channel counts (stem + 4 stages) and 4 block counts, got {channels} and {blocks}"
            )
        if width <= 0 or depth <= 0:
            raise ValueError(f"EdgeNet width and depth must be > 0, got width={width}, depth={depth}")
        chs = [make_divisible(c * width) for c in channels]
        nums = [max(1, round(n * depth)) for n in blocks]
        self.stem = ConvBNAct(3, chs[0], k=3, s=2)
        stages = []
        for c_in, c_out, n in zip(chs[:-1], chs[1:], nums, strict=True):
            stages.append(nn.Sequential(RepConv(c_in, c_out, s=2), *(RepConv(c_out, c_out) for _ in range(n - 1))))
        self.stages = nn.ModuleList(stages)
        self.feature_info = [
            {"num_chs": c, "reduction": r, "module": f"stages.{i}"}
            for i, (c, r) in enumerate(zip(chs[1:], STRIDES, strict=True))
        ]

    def forward(self, x: Tensor) -> list[Tensor]:
        x = self.stem(x)
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features


class ResNetFeatures(nn.Module):
    """Torchvision ResNet trunk (``layer1``..``layer4``) as a 4-level feature extractor."""

    def __init__(self, arch: str = "resnet18") -> None:
        super().__init__()
        from torchvision import models  # deferred: torchvision is only needed for these baselines

        net = getattr(models, arch)(weights=None)
        self.stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4
        layers = (self.layer1, self.layer2, self.layer3, self.layer4)
        self.feature_info = [
            {"num_chs": _last_conv(layer).out_channels, "reduction": r, "module": f"layer{i + 1}"}
            for i, (layer, r) in enumerate(zip(layers, STRIDES, strict=True))
        ]

    def forward(self, x: Tensor) -> list[Tensor]:
        x = self.stem(x)
        c2 = self.layer1(x)
        c3 = self.layer2(c2)
        c4 = self.layer3(c3)
        c5 = self.layer4(c4)
        return [c2, c3, c4, c5]


class MobileNetV3Features(nn.Module):
    """Torchvision MobileNetV3 ``features`` tapped at the last block of each stride 4/8/16/32.

    The stride-32 tap is the final 1x1 conv (960 / 576 channels), as in torchvision's
    detection backbones and timm. ``width`` is torchvision's ``width_mult``.
    """

    # Index of the last block of ``features`` at strides 4, 8, 16, 32.
    TAPS = {"mobilenet_v3_large": (3, 6, 12, 16), "mobilenet_v3_small": (1, 3, 8, 12)}

    def __init__(self, arch: str = "mobilenet_v3_large", width: float = 1.0) -> None:
        super().__init__()
        if arch not in self.TAPS:
            raise ValueError(f"unknown MobileNetV3 arch {arch!r}; choose one of {sorted(self.TAPS)}")
        from torchvision import models  # deferred: torchvision is only needed for these baselines

        taps = self.TAPS[arch]
        features = getattr(models, arch)(weights=None, width_mult=width).features
        bounds = (0, *(t + 1 for t in taps))
        self.stages = nn.ModuleList(features[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True))
        self.feature_info = [
            {"num_chs": features[t].out_channels, "reduction": r, "module": f"stages.{i}"}
            for i, (t, r) in enumerate(zip(taps, STRIDES, strict=True))
        ]

    def forward(self, x: Tensor) -> list[Tensor]:
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features


def _last_conv(module: nn.Module) -> nn.Conv2d:
    return [m for m in module.modules() if isinstance(m, nn.Conv2d)][-1]


def _require_unscaled(name: str, **scales: float) -> None:
    for key, value in scales.items():
        if value != 1.0:
            raise ValueError(
                f"backbone {name!r} does not support {key}={value}; leave {key} at 1.0 "
                "or use 'edgenet', which scales width and depth"
            )


@BACKBONES.register("resnet18")
def resnet18(width: float = 1.0, depth: float = 1.0) -> ResNetFeatures:
    """Torchvision ResNet-18 trunk, randomly initialised (reference baseline)."""
    _require_unscaled("resnet18", width=width, depth=depth)
    return ResNetFeatures("resnet18")


@BACKBONES.register("mobilenet_v3_large")
def mobilenet_v3_large(width: float = 1.0, depth: float = 1.0) -> MobileNetV3Features:
    """Torchvision MobileNetV3-Large features, randomly initialised (reference baseline)."""
    _require_unscaled("mobilenet_v3_large", depth=depth)
    return MobileNetV3Features("mobilenet_v3_large", width=width)


@BACKBONES.register("mobilenet_v3_small")
def mobilenet_v3_small(width: float = 1.0, depth: float = 1.0) -> MobileNetV3Features:
    """Torchvision MobileNetV3-Small features, randomly initialised (reference baseline)."""
    _require_unscaled("mobilenet_v3_small", depth=depth)
    return MobileNetV3Features("mobilenet_v3_small", width=width)
