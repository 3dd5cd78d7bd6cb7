"""The OpenCV kernels give torchvision's pixels for torchvision's random parameters."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from mtl_edge.data.cv2_kernels import GaussianBlurCV2, RandomAffineCV2

AFFINE = dict(
    degrees=10.0,
    translate=(0.1, 0.1),
    scale=(0.7, 1.3),
    shear=(-5.0, 5.0, -5.0, 5.0),
    interpolation=v2.InterpolationMode.BILINEAR,
    fill={tv_tensors.Image: 114, tv_tensors.Mask: 0},
)


def seeded(transform: v2.Transform, *inputs: Any, seed: int = 0) -> Any:
    """Run ``transform`` from a fixed global seed, so both libraries draw the same random parameters."""
    torch.manual_seed(seed)
    return transform(*inputs)


def smooth_image(h: int = 96, w: int = 160, channels: int = 3) -> tv_tensors.Image:
    """Random but smooth pixels, so bilinear rounding differences stay at one grey level."""
    noise = torch.rand(1, channels, h, w, generator=torch.Generator().manual_seed(0)) * 255
    return tv_tensors.Image(torch.nn.functional.avg_pool2d(noise, 7, 1, 3)[0].round().to(torch.uint8))


def blocky_mask(h: int = 96, w: int = 160) -> tv_tensors.Mask:
    mask = torch.zeros(h, w, dtype=torch.uint8)
    mask[20:60, 30:90], mask[50:90, 100:150] = 1, 2
    return tv_tensors.Mask(mask)


@pytest.mark.parametrize("seed", range(4))
def test_affine_matches_torchvision(seed: int) -> None:
    image, mask = smooth_image(), blocky_mask()
    coverage = tv_tensors.Mask(torch.ones_like(mask))
    want_image, want_mask, want_coverage = seeded(v2.RandomAffine(**AFFINE), image, mask, coverage, seed=seed)
    got_image, got_mask = seeded(RandomAffineCV2(**AFFINE), image, mask, seed=seed)
    assert type(got_image) is tv_tensors.Image and type(got_mask) is tv_tensors.Mask
    assert got_image.shape == want_image.shape and got_image.dtype == torch.uint8
    diff = (got_image.int() - want_image.int()).abs()
    # The libraries blend the fill into the warped image's edge differently; 2 px inside it only rounding differs.
    padded = torch.nn.functional.pad(want_coverage[None].float(), (2, 2, 2, 2))  # the canvas edge is an edge too
    inside = -torch.nn.functional.max_pool2d(-padded, 5, 1)[0]
    assert inside.sum() > 0.4 * inside.numel()
    assert (diff * inside.int()).max() <= 1
    assert diff.float().mean() < 0.5
    mismatch = (got_mask != want_mask).float().mean()
    assert mismatch < 0.002, f"{mismatch:.4f} of mask pixels differ"


def test_affine_moves_boxes_with_torchvision() -> None:
    image = tv_tensors.Image(torch.zeros(3, 96, 160, dtype=torch.uint8))
    boxes = tv_tensors.BoundingBoxes([[30, 20, 90, 60]], format="XYXY", canvas_size=(96, 160))
    _, want = seeded(v2.RandomAffine(**AFFINE), image, boxes, seed=1)
    _, got = seeded(RandomAffineCV2(**AFFINE), image, boxes, seed=1)
    assert torch.equal(got, want)


@pytest.mark.parametrize("channels", [1, 3])
def test_blur_matches_torchvision(channels: int) -> None:
    image = smooth_image(channels=channels)
    image[:, 40:50, 60:80] = 255  # an edge, so the blur has something to do
    want = seeded(v2.GaussianBlur(5, sigma=(0.5, 1.5)), image)
    got = seeded(GaussianBlurCV2(5, sigma=(0.5, 1.5)), image)
    assert type(got) is tv_tensors.Image and got.shape == want.shape
    assert (got.int() - want.int()).abs().max() <= 1
    assert not torch.equal(got, image)


def test_blur_leaves_masks_alone() -> None:
    mask = blocky_mask()
    _, out = GaussianBlurCV2(5, sigma=1.0)(smooth_image(), mask)
    assert torch.equal(out, mask)


def test_affine_refuses_what_it_does_not_implement() -> None:
    with pytest.raises(ValueError, match="centre"):
        RandomAffineCV2(degrees=5.0, center=[10.0, 10.0])
    with pytest.raises(ValueError, match="bilinear"):
        RandomAffineCV2(degrees=5.0, interpolation=v2.InterpolationMode.NEAREST)


def test_affine_fills_per_channel() -> None:
    image = tv_tensors.Image(torch.zeros(3, 40, 60, dtype=torch.uint8))
    shrink = dict(degrees=0.0, scale=(0.5, 0.5), fill=[10, 20, 30], interpolation=v2.InterpolationMode.BILINEAR)
    want = seeded(v2.RandomAffine(**shrink), image)
    got = seeded(RandomAffineCV2(**shrink), image)
    assert got[:, 0, 0].tolist() == [10, 20, 30] == want[:, 0, 0].tolist()
