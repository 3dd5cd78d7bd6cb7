"""Parameter and FLOP counts for budget checks.

FLOPs come from :class:`torch.utils.flop_counter.FlopCounterMode`, which counts
``2 * multiply-accumulates`` for convolutions and matmuls (``conv_flop_count``
multiplies by 2; the test checks one Conv2d against the analytic value), i.e. the
project's "GFLOPs = 2 x MACs" convention. It counts only conv / matmul / attention
ops: bias adds, BatchNorm, activations, resize and concat are not counted (they are
a few percent of a conv net and fused away in the deploy graph). Count the deploy
form (after :func:`mtl_edge.models.blocks.reparameterize_model`, on a deep copy) for
the shipped budget; the train form of a RepConv also counts its 1x1 branch.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

__all__ = ["count_gflops", "count_params"]


def count_params(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameter elements (shared parameters counted once); buffers excluded."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def count_gflops(model: nn.Module, input_shape: Sequence[int] = (1, 3, 384, 640)) -> float:
    """GFLOPs (2 x MACs) of one forward pass on a zero tensor of ``input_shape``.

    Runs in eval mode under ``torch.no_grad`` on the model's device and dtype; every
    submodule's training flag is restored afterwards.
    """
    first = next(iter(model.parameters()), None)
    device = first.device if first is not None else torch.device("cpu")
    dtype = first.dtype if first is not None and first.is_floating_point() else torch.float32
    x = torch.zeros(tuple(input_shape), device=device, dtype=dtype)
    flags = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(x)
    finally:
        for module, training in flags:
            module.training = training
    return counter.get_total_flops() / 1e9
