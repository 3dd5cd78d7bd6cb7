"""PAN neck: FPN top-down then PAN bottom-up over the stride 8/16/32 backbone levels.

Merges are element-wise sums (as in FPN and PANet) followed by RepConv smoothing: no
concatenations, and TensorRT can fuse each sum into the conv that produces one of its
inputs. Only export-friendly ops: 1x1 and 3x3 convs (ConvBNAct / RepConv, which
reparameterize into Conv+ReLU), nearest x2 upsampling (ONNX ``Resize`` mode nearest,
native in TensorRT and ONNX Runtime) and Add. Input H and W must be multiples of 32 so
the upsampled maps line up with the lateral ones.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from mtl_edge.models.blocks import ConvBNAct, RepConv

__all__ = ["PANNeck"]


def _smooth(channels: int, depth: int) -> nn.Sequential:
    """``depth`` RepConv blocks applied after a merge (empty when ``depth`` is 0)."""
    return nn.Sequential(*(RepConv(channels, channels) for _ in range(depth)))


def _up(x: Tensor) -> Tensor:
    return F.interpolate(x, scale_factor=2.0, mode="nearest")


class PANNeck(nn.Module):
    """Path-aggregation neck returning ``[P3, P4, P5]`` (strides 8, 16, 32), each ``channels`` wide.

    ``in_channels`` are the channels of the stride 8, 16 and 32 inputs, e.g.
    ``[f["num_chs"] for f in backbone.feature_info[-3:]]``. Each input gets a 1x1
    lateral projection; ``depth`` RepConv blocks smooth each of the four merges.
    """

    strides: tuple[int, int, int] = (8, 16, 32)

    def __init__(self, in_channels: Sequence[int], channels: int = 64, depth: int = 1) -> None:
        super().__init__()
        in_channels = [int(c) for c in in_channels]
        if len(in_channels) != 3:
            raise ValueError(
                f"PANNeck takes the channels of the stride 8, 16 and 32 levels (3 values), got {in_channels}; "
                "pass [f['num_chs'] for f in backbone.feature_info[-3:]]"
            )
        if channels < 1 or depth < 0:
            raise ValueError(f"PANNeck needs channels >= 1 and depth >= 0, got channels={channels}, depth={depth}")
        self.in_channels = in_channels
        self.out_channels = channels
        self.lateral = nn.ModuleList(ConvBNAct(c, channels, k=1) for c in in_channels)
        self.top_down = nn.ModuleList(_smooth(channels, depth) for _ in range(2))  # at stride 16, then 8
        self.down = nn.ModuleList(RepConv(channels, channels, s=2) for _ in range(2))  # 8 -> 16, 16 -> 32
        self.bottom_up = nn.ModuleList(_smooth(channels, depth) for _ in range(2))  # at stride 16, then 32
        self._register_load_state_dict_pre_hook(self._drop_unkept_levels)

    @property
    def levels(self) -> int:
        """Outputs computed, from P3 up (1-3): one more than the bottom-up steps kept."""
        return len(self.down) + 1

    def keep_levels(self, levels: int) -> None:
        """Compute only [P3 .. P(2+levels)] and drop the bottom-up modules beyond them.

        Called after construction, so a neck that keeps fewer levels draws the same random
        initial weights as a full one (seeded training stays reproducible across versions).
        """
        if not 1 <= levels <= 3:
            raise ValueError(f"PANNeck computes 1 to 3 levels, got {levels}")
        self.down = self.down[: levels - 1]
        self.bottom_up = self.bottom_up[: levels - 1]

    def _drop_unkept_levels(self, state_dict: dict[str, Tensor], prefix: str, *_: object) -> None:
        """Before loading: forget the weights of bottom-up steps this neck no longer keeps.
        Checkpoints written before the neck stopped at the deepest level a head reads hold
        them, and they never fed a head."""
        for name, kept in (("down", len(self.down)), ("bottom_up", len(self.bottom_up))):
            for key in [k for k in state_dict if k.startswith(f"{prefix}{name}.")]:
                if int(key[len(prefix) + len(name) + 1 :].split(".", 1)[0]) >= kept:
                    del state_dict[key]

    def forward(self, features: Sequence[Tensor]) -> list[Tensor]:
        """Neck outputs for the last three maps of ``features``: [P3, P4, P5] up to ``levels`` of them."""
        if len(features) < 3:
            raise ValueError(f"PANNeck needs the stride 8, 16 and 32 feature maps, got {len(features)}")
        l3, l4, l5 = (lateral(c) for lateral, c in zip(self.lateral, features[-3:], strict=True))
        # Top-down (FPN): coarse semantics flow to the fine levels.
        t4 = self.top_down[0](l4 + _up(l5))
        p3 = self.top_down[1](l3 + _up(t4))
        if self.levels == 1:
            return [p3]
        # Bottom-up (PAN): fine localisation flows back to the coarse levels.
        p4 = self.bottom_up[0](t4 + self.down[0](p3))
        if self.levels == 2:
            return [p3, p4]
        p5 = self.bottom_up[1](l5 + self.down[1](p4))
        return [p3, p4, p5]
