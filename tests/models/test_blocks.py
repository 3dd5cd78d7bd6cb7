"""ConvBNAct's strided 1x1 path: the same numbers as a strided conv, without oneDNN's crashing kernel."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import torch
import torch.nn.functional as F

from mtl_edge.models.blocks import ConvBNAct


def test_strided_pointwise_matches_a_strided_conv() -> None:
    torch.manual_seed(0)
    block = ConvBNAct(8, 16, k=1, s=2, act=False).eval()
    x = torch.randn(2, 8, 33, 47, requires_grad=True)  # odd sizes: sampling must keep the last row and column
    got = block(x)
    x_ref = x.detach().clone().requires_grad_(True)
    want = block.bn(F.conv2d(x_ref, block.conv.weight, stride=2))
    assert got.shape == want.shape == (2, 16, 17, 24)
    assert torch.equal(got, want)
    got.sum().backward()
    grad_w = block.conv.weight.grad.clone()
    block.conv.weight.grad = None
    want.sum().backward()
    assert torch.equal(x.grad, x_ref.grad)
    # the weight gradient sums ~800 terms of size ~1 per element, possibly in another order
    torch.testing.assert_close(grad_w, block.conv.weight.grad, rtol=1e-5, atol=1e-4)


def test_strided_pointwise_backward_on_channels_last_does_not_crash() -> None:
    # Run apart: on AVX-512 CPUs oneDNN's kernel for this case aborted the whole process.
    script = textwrap.dedent(
        """
        import torch
        from mtl_edge.models.blocks import ConvBNAct
        block = ConvBNAct(8, 16, k=1, s=2).to(memory_format=torch.channels_last)
        x = torch.randn(4, 8, 64, 112).contiguous(memory_format=torch.channels_last).requires_grad_(True)
        for _ in range(5):
            block(x).sum().backward()
        print(tuple(x.grad.shape))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "(4, 8, 64, 112)"
