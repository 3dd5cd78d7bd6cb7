"""Conv building blocks that reparameterize into plain ``Conv2d(bias) + ReLU`` for deployment.

Training uses BatchNorm and, in :class:`RepConv`, three parallel branches (RepVGG,
Ding et al. 2021). :func:`reparameterize_model` folds all of it into single dense 3x3
(or kxk) convolutions with bias, exactly equivalent to the eval-mode network. The
deploy graph is then a chain of Conv+ReLU, which TensorRT fuses into one kernel per
layer and which quantizes cleanly with per-channel symmetric INT8 weights. ReLU (not
SiLU/Hardswish) keeps activations non-negative and INT8-friendly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["ConvBNAct", "RepConv", "reparameterize_model"]


def _fold_bn(weight: Tensor, bias: Tensor | None, bn: nn.BatchNorm2d) -> tuple[Tensor, Tensor]:
    """Kernel and bias of ``bn(conv(x))`` as one conv, using the BN running statistics."""
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError("cannot fold a BatchNorm2d without running statistics (track_running_stats=False)")
    std = (bn.running_var + bn.eps).sqrt()
    gamma = bn.weight if bn.weight is not None else torch.ones_like(std)
    beta = bn.bias if bn.bias is not None else torch.zeros_like(std)
    scale = gamma / std
    b = bias if bias is not None else torch.zeros_like(bn.running_mean)
    return weight * scale.reshape(-1, 1, 1, 1), beta + (b - bn.running_mean) * scale


class ConvBNAct(nn.Module):
    """Conv (no bias) -> BatchNorm -> ReLU, with "same" padding for odd kernels.

    ``act=False`` leaves out the ReLU. :meth:`fuse` folds the BatchNorm into the conv.
    """

    def __init__(self, c_in: int, c_out: int, k: int = 3, s: int = 1, groups: int = 1, act: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, k, s, padding=k // 2, groups=groups, bias=False)
        self.bn: nn.Module = nn.BatchNorm2d(c_out)
        self.act: nn.Module = nn.ReLU(inplace=True) if act else nn.Identity()

    @property
    def is_fused(self) -> bool:
        return not isinstance(self.bn, nn.BatchNorm2d)

    def forward(self, x: Tensor) -> Tensor:
        conv = self.conv
        if conv.kernel_size == (1, 1) and conv.stride != (1, 1):
            # oneDNN in torch 2.14 on AVX-512 CPUs frees memory twice ("double free or corruption",
            # abort) in the backward of a strided 1x1 conv on channels-last input with fewer than 16
            # channels. Sampling every s-th pixel and convolving at stride 1 is the same operation (same
            # output and input gradient bit for bit; weight gradient up to summation order; the synth-edge
            # model's every gradient bit for bit) and avoids that kernel.
            sh, sw = conv.stride
            return self.act(self.bn(F.conv2d(x[:, :, ::sh, ::sw], conv.weight, conv.bias, groups=conv.groups)))
        return self.act(self.bn(conv(x)))

    def fused_kernel(self) -> tuple[Tensor, Tensor]:
        """Kernel and bias of conv+BN as one conv (works before and after :meth:`fuse`)."""
        if self.is_fused:
            assert self.conv.bias is not None
            return self.conv.weight, self.conv.bias
        assert isinstance(self.bn, nn.BatchNorm2d)
        return _fold_bn(self.conv.weight, self.conv.bias, self.bn)

    @torch.no_grad()
    def fuse(self) -> ConvBNAct:
        """Fold the BatchNorm into the conv in place (deploy form: ``Conv2d(bias) + act``)."""
        if self.is_fused:
            return self
        weight, bias = self.fused_kernel()
        c = self.conv
        fused = nn.Conv2d(
            c.in_channels,
            c.out_channels,
            c.kernel_size,
            c.stride,
            c.padding,
            dilation=c.dilation,
            groups=c.groups,
            bias=True,
            device=weight.device,
            dtype=weight.dtype,
        )
        fused.weight.copy_(weight)
        assert fused.bias is not None
        fused.bias.copy_(bias)
        self.conv = fused
        self.bn = nn.Identity()
        return self


class RepConv(nn.Module):
    """RepVGG block: ReLU(BN(conv3x3) + BN(conv1x1) + BN(x)), reparameterizable into one 3x3 conv.

    The identity branch exists only when ``c_in == c_out`` and ``s == 1``. After
    :meth:`fuse` the block holds a single ``reparam`` conv with bias and computes
    exactly what the eval-mode (running-statistics) block computed.
    """

    def __init__(self, c_in: int, c_out: int, s: int = 1) -> None:
        super().__init__()
        self.c_in, self.c_out, self.stride = c_in, c_out, s
        self.dense: ConvBNAct | None = ConvBNAct(c_in, c_out, 3, s, act=False)
        self.pointwise: ConvBNAct | None = ConvBNAct(c_in, c_out, 1, s, act=False)
        self.identity: nn.BatchNorm2d | None = nn.BatchNorm2d(c_in) if c_in == c_out and s == 1 else None
        self.reparam: nn.Conv2d | None = None
        self.act = nn.ReLU(inplace=True)

    @property
    def is_fused(self) -> bool:
        return self.reparam is not None

    def forward(self, x: Tensor) -> Tensor:
        if self.reparam is not None:
            return self.act(self.reparam(x))
        assert self.dense is not None and self.pointwise is not None
        y = self.dense(x) + self.pointwise(x)
        if self.identity is not None:
            y = y + self.identity(x)
        return self.act(y)

    def fused_kernel(self) -> tuple[Tensor, Tensor]:
        """3x3 kernel and bias equivalent to the sum of the three eval-mode branches."""
        if self.reparam is not None:
            assert self.reparam.bias is not None
            return self.reparam.weight, self.reparam.bias
        assert self.dense is not None and self.pointwise is not None
        weight, bias = self.dense.fused_kernel()
        w1, b1 = self.pointwise.fused_kernel()
        weight, bias = weight + F.pad(w1, [1, 1, 1, 1]), bias + b1
        if self.identity is not None:
            eye = torch.zeros_like(weight)
            idx = torch.arange(self.c_in, device=weight.device)
            eye[idx, idx, 1, 1] = 1.0
            wi, bi = _fold_bn(eye, None, self.identity)
            weight, bias = weight + wi, bias + bi
        return weight, bias

    @torch.no_grad()
    def fuse(self) -> RepConv:
        """Replace the three branches by one 3x3 conv with bias, in place."""
        if self.reparam is not None:
            return self
        weight, bias = self.fused_kernel()
        conv = nn.Conv2d(
            self.c_in, self.c_out, 3, self.stride, padding=1, bias=True, device=weight.device, dtype=weight.dtype
        )
        conv.weight.copy_(weight)
        assert conv.bias is not None
        conv.bias.copy_(bias)
        self.reparam = conv
        self.dense = self.pointwise = self.identity = None
        return self

    reparameterize = fuse


def reparameterize_model(model: nn.Module) -> nn.Module:
    """Fuse every :class:`RepConv` and fold BN into every :class:`ConvBNAct`, in place.

    The result matches the eval-mode model and no longer has BatchNorm in these blocks,
    so it is for inference and export only. Returns ``model`` for chaining; deep-copy
    first to keep the trainable form.
    """
    for module in list(model.modules()):
        if isinstance(module, RepConv):
            module.fuse()
    for module in list(model.modules()):
        if isinstance(module, ConvBNAct):
            module.fuse()
    return model
