"""Joint transforms keep boxes, lane points and masks aligned with the pixels."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from mtl_edge.data.transforms import Letterbox, SanitizeBoxes, build_transforms, clip_lanes, points_inside
from mtl_edge.deploy.letterbox import letterbox_params, unletterbox_boxes, unletterbox_points

RED, GREEN, BLUE = 0, 1, 2  # channel that marks the box, the lane and the drivable area
BOX = (150.0, 70.0, 270.0, 160.0)
LANE = np.array([[40.0, 330.0], [130.0, 260.0], [220.0, 200.0], [300.0, 150.0]], dtype=np.float32)
DRIVABLE = (320, 200, 470, 340)  # x1, y1, x2, y2 of the drivable rectangle


def make_sample(h: int = 360, w: int = 500) -> tuple[tv_tensors.Image, dict]:
    """Black image with a red box, a thick green lane and a blue drivable area, plus matching labels."""
    img = np.zeros((h, w, 3), dtype=np.uint8)
    x1, y1, x2, y2 = (int(v) for v in BOX)
    img[y1:y2, x1:x2, RED] = 255
    # Lane vertices are continuous coordinates; pixel (i, j) has its centre at (i + 0.5, j + 0.5).
    green = np.zeros((h, w), dtype=np.uint8)
    cv2.polylines(green, [np.round(LANE - 0.5).astype(np.int32).reshape(-1, 1, 2)], False, 255, thickness=9)
    img[..., GREEN] = np.maximum(img[..., GREEN], green)
    mask = np.zeros((h, w), dtype=np.uint8)
    dx1, dy1, dx2, dy2 = DRIVABLE
    mask[dy1:dy2, dx1:dx2] = 1
    img[mask == 1, BLUE] = 255
    target = {
        "boxes": tv_tensors.BoundingBoxes([BOX, (480.0, 10.0, 499.0, 30.0)], format="XYXY", canvas_size=(h, w)),
        "labels": torch.tensor([0, 3]),
        "head": torch.tensor([0, 1]),
        "ignore": torch.tensor([False, True]),
        "lanes": tv_tensors.KeyPoints(torch.from_numpy(LANE)[None], canvas_size=(h, w)),
        "lane_valid": torch.ones(1, len(LANE), dtype=torch.bool),
        "drivable": tv_tensors.Mask(torch.from_numpy(mask)),
        "name": "synthetic.jpg",
    }
    return tv_tensors.Image(torch.from_numpy(img).permute(2, 0, 1).contiguous()), target


def colour_region(image: torch.Tensor, channel: int) -> np.ndarray:
    """Pixels where ``channel`` clearly dominates (robust to colour jitter and blur)."""
    img = image.numpy().astype(np.int32)
    others = [c for c in range(3) if c != channel]
    return (img[channel] > 90) & (img[channel] > 2 * img[others[0]] + 20) & (img[channel] > 2 * img[others[1]] + 20)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    ax1, ay1, ax2, ay2 = a
    bx1, by1, bx2, by2 = b
    inter = max(0.0, min(ax2, bx2) - max(ax1, bx1)) * max(0.0, min(ay2, by2) - max(ay1, by1))
    return inter / ((ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter)


def region_box(region: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(region)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=np.float64)


def assert_aligned(image: torch.Tensor, target: dict) -> None:
    """The red box, green lane and blue drivable area are where the labels say."""
    h, w = image.shape[-2:]
    assert target["boxes"].canvas_size == (h, w) and target["lanes"].canvas_size == (h, w)
    assert target["drivable"].shape == (h, w)

    red = colour_region(image, RED)
    box = target["boxes"][target["labels"] == 0][0].numpy().astype(np.float64)
    assert iou(box, region_box(red)) > 0.9

    lane = target["lanes"][0].as_subclass(torch.Tensor)
    valid = target["lane_valid"][0]
    assert valid.sum() >= 2, "the test lane should stay mostly visible"
    green = colour_region(image, GREEN)
    # Sample the transformed polyline densely between consecutive valid vertices.
    hits = []
    for a, b, ok in zip(lane[:-1], lane[1:], valid[:-1] & valid[1:]):
        if not ok:
            continue
        for t in torch.linspace(0, 1, 20):
            x, y = (a + t * (b - a)).tolist()
            hits.append(green[min(int(y), h - 1), min(int(x), w - 1)])
    assert np.mean(hits) > 0.95

    blue = colour_region(image, BLUE)
    mask = target["drivable"].numpy() == 1
    assert (mask & blue).sum() / (mask | blue).sum() > 0.9


@pytest.mark.parametrize("src_hw", [(360, 500), (720, 1280), (100, 333), (500, 200), (384, 640)])
def test_letterbox_output_size_padding_and_inverse(src_hw: tuple[int, int]) -> None:
    h, w = src_hw
    image = tv_tensors.Image(torch.full((3, h, w), 200, dtype=torch.uint8))
    mask = tv_tensors.Mask(torch.ones(h, w, dtype=torch.uint8))
    g = torch.Generator().manual_seed(0)
    pts = torch.rand(50, 2, generator=g) * torch.tensor([w, h])
    kp = tv_tensors.KeyPoints(pts, canvas_size=(h, w))
    out_img, out_mask, out_kp = Letterbox((384, 640), fill=114)(image, mask, kp)

    assert out_img.shape == (3, 384, 640) and out_img.dtype == torch.uint8
    assert out_mask.shape == (384, 640) and out_kp.canvas_size == (384, 640)
    params = letterbox_params(src_hw, (384, 640))
    _, pad_x, pad_y = params
    content = out_mask == 1
    assert (out_img[:, ~content] == 114).all(), "image padding is the fill grey"
    assert (out_img[:, content] == 200).all()
    if pad_y:
        assert (out_mask[:pad_y] == 0).all() and (out_mask[-pad_y:] == 0).all()
    if pad_x:
        assert (out_mask[:, :pad_x] == 0).all() and (out_mask[:, -pad_x:] == 0).all()

    back = unletterbox_points(out_kp.as_subclass(torch.Tensor), params)
    assert (back - pts).abs().max() < 0.5
    back_np = unletterbox_points(out_kp.numpy(), params)
    assert np.abs(back_np - pts.numpy()).max() < 0.5


def test_unletterbox_boxes_inverts_letterbox() -> None:
    boxes = tv_tensors.BoundingBoxes(
        [[10, 20, 300, 200], [0, 0, 1280, 720]], format="XYXY", canvas_size=(720, 1280), dtype=torch.float32
    )
    image = tv_tensors.Image(torch.zeros(3, 720, 1280, dtype=torch.uint8))
    _, out = Letterbox((384, 640))(image, boxes)
    back = unletterbox_boxes(out.as_subclass(torch.Tensor), letterbox_params((720, 1280), (384, 640)))
    assert torch.allclose(back, boxes.as_subclass(torch.Tensor), atol=0.5)


def test_letterbox_keeps_labels_on_pixels() -> None:
    image, target = make_sample()
    out_image, out_target = build_transforms((384, 640), train=False)(image, target)
    assert out_image.shape == (3, 384, 640)
    assert_aligned(out_image, out_target)
    assert out_target["name"] == "synthetic.jpg"


@pytest.mark.parametrize("seed", range(8))
def test_train_transforms_keep_labels_on_pixels(seed: int) -> None:
    image, target = make_sample()
    torch.manual_seed(seed)
    out_image, out_target = build_transforms((384, 640), train=True)(image, target)
    assert out_image.shape == (3, 384, 640) and out_image.dtype == torch.uint8
    assert len(out_target["labels"]) == len(out_target["head"]) == len(out_target["ignore"]) == len(out_target["boxes"])
    assert_aligned(out_image, out_target)


def test_train_transforms_are_random_but_seeded() -> None:
    image, target = make_sample()
    torch.manual_seed(1)
    a, ta = build_transforms((384, 640), train=True)(image, target)
    torch.manual_seed(1)
    b, tb = build_transforms((384, 640), train=True)(image, target)
    torch.manual_seed(2)
    c, _ = build_transforms((384, 640), train=True)(image, target)
    assert torch.equal(a, b) and torch.equal(ta["boxes"], tb["boxes"])
    assert not torch.equal(a, c)


def test_no_flip_unless_asked() -> None:
    names = [type(t).__name__ for t in build_transforms((384, 640), train=True).transforms]
    assert "RandomHorizontalFlip" not in names
    flipping = build_transforms((384, 640), train=True, hflip=True)
    assert "RandomHorizontalFlip" in [type(t).__name__ for t in flipping.transforms]
    assert [type(t).__name__ for t in build_transforms((384, 640), train=False).transforms] == ["Letterbox"]


def test_flip_moves_labels_with_pixels() -> None:
    image, target = make_sample()
    torch.manual_seed(0)
    flip = v2.Compose([Letterbox((384, 640)), v2.RandomHorizontalFlip(p=1.0)])
    assert_aligned(*flip(image, target))


def test_lanes_leaving_the_image_are_clipped_at_the_border_not_dropped() -> None:
    h, w = 100, 200
    pts = torch.tensor([[[5.0, 50.0], [100.0, 50.0], [195.0, 95.0]]])
    target = {
        "lanes": tv_tensors.KeyPoints(pts, canvas_size=(h, w)),
        "lane_valid": torch.tensor([[True, True, True]]),
    }
    image = tv_tensors.Image(torch.zeros(3, h, w, dtype=torch.uint8))
    _, moved = v2.RandomAffine(degrees=0, scale=(2.0, 2.0))(image, target)
    out = dict(zip(("lanes", "lane_valid"), clip_lanes(moved["lanes"], moved["lane_valid"]), strict=True))
    # Zooming 2x about the centre (100, 50): x -> 2x - 100, y -> 2y - 50, so the sparse lane becomes
    # (-90, 50) (100, 50) (290, 140); its first and last vertices are off the canvas. Clipped, it runs
    # from the left border along y = 50 to (100, 50), then down the second segment to the right border,
    # which it crosses at y = 50 + (200 - 100) * 90 / 190 = 97.37.
    xy = out["lanes"].as_subclass(torch.Tensor)[0][out["lane_valid"][0]]
    assert len(xy) > 3 and out["lane_valid"][0].all()
    assert xy[:, 0].min() == pytest.approx(0.0, abs=0.01) and xy[:, 0].max() == pytest.approx(200.0, abs=0.01)
    assert xy[:, 1].max() == pytest.approx(50 + 100 * 90 / 190, abs=0.01)
    on_first = (xy[:, 0] <= 100) & (xy[:, 1] - 50).abs().lt(1e-3)
    second = xy[xy[:, 0] > 100]
    assert on_first.sum() >= 2
    # points past x = 100 lie on the segment (100, 50) -> (290, 140): y - 50 = (x - 100) * 90 / 190
    assert torch.allclose(second[:, 1] - 50, (second[:, 0] - 100) * 90 / 190, atol=1e-3)
    assert target["lane_valid"].all() and target["lanes"].shape == (1, 3, 2), "the input target is not modified"


def test_points_inside_includes_borders_and_rejects_nan() -> None:
    kp = tv_tensors.KeyPoints(
        torch.tensor([[0.0, 0.0], [200.0, 100.0], [200.1, 5.0], [float("nan"), 5.0]]), canvas_size=(100, 200)
    )
    assert points_inside(kp).tolist() == [True, True, False, False]


def test_sanitize_removes_boxes_pushed_outside_with_their_fields() -> None:
    h, w = 100, 200
    image = tv_tensors.Image(torch.zeros(3, h, w, dtype=torch.uint8))
    target = {
        "boxes": tv_tensors.BoundingBoxes(
            [[90, 40, 110, 60], [0, 0, 10, 10], [185, 85, 200, 100]],
            format="XYXY",
            canvas_size=(h, w),
            dtype=torch.float32,
        ),
        "labels": torch.tensor([1, 2, 3]),
        "head": torch.tensor([0, 1, 0]),
        "ignore": torch.tensor([False, True, False]),
        "drivable": tv_tensors.Mask(torch.ones(h, w, dtype=torch.uint8)),
    }
    # Zoom 3x about the centre: only the central box stays on the image.
    pipeline = v2.Compose([v2.RandomAffine(degrees=0, scale=(3.0, 3.0)), SanitizeBoxes()])
    _, out = pipeline(image, target)
    assert out["boxes"].shape == (1, 4)
    assert out["labels"].tolist() == [1] and out["head"].tolist() == [0] and out["ignore"].tolist() == [False]
    assert out["drivable"].shape == (h, w)


def test_sanitize_never_indexes_the_semantic_mask() -> None:
    # Stock SanitizeBoundingBoxes would index a [2, W] mask with the 2-box validity vector.
    image = tv_tensors.Image(torch.zeros(3, 2, 8, dtype=torch.uint8))
    target = {
        "boxes": tv_tensors.BoundingBoxes([[0, 0, 4, 2], [3, 1, 3, 1]], format="XYXY", canvas_size=(2, 8)),
        "labels": torch.tensor([0, 1]),
        "drivable": tv_tensors.Mask(torch.ones(2, 8, dtype=torch.uint8)),
    }
    _, out = SanitizeBoxes()(image, target)
    assert out["labels"].tolist() == [0]
    assert out["drivable"].shape == (2, 8)


def test_sanitize_passes_samples_without_boxes() -> None:
    image = tv_tensors.Image(torch.zeros(3, 4, 4, dtype=torch.uint8))
    out_image, out = SanitizeBoxes()(image, {"name": "x"})
    assert out == {"name": "x"} and out_image is image


def test_letterbox_rejects_bad_size() -> None:
    with pytest.raises(ValueError, match="height, width"):
        Letterbox((0, 640))
