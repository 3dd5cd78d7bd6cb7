"""Letterbox and un-letterbox with numpy and OpenCV: the geometry training and the runtime share."""

from __future__ import annotations

import numpy as np
import pytest

from mtl_edge.deploy.letterbox import (
    PAD_VALUE,
    letterbox_image,
    letterbox_params,
    letterbox_points,
    unletterbox_boxes,
    unletterbox_points,
)


@pytest.mark.parametrize("src_hw", [(360, 500), (720, 1280), (384, 640), (100, 333), (500, 200)])
def test_letterbox_params_fit_and_centre(src_hw: tuple[int, int]) -> None:
    scale, pad_x, pad_y = letterbox_params(src_hw, (384, 640))
    assert scale == pytest.approx(min(384 / src_hw[0], 640 / src_hw[1]))
    new_w, new_h = 640 - 2 * pad_x, 384 - 2 * pad_y
    assert abs(new_w - src_hw[1] * scale) <= 1.5 and abs(new_h - src_hw[0] * scale) <= 1.5
    assert min(pad_x, pad_y) == 0 or (pad_x, pad_y) == (0, 0)


def test_letterbox_rejects_bad_size() -> None:
    with pytest.raises(ValueError, match="positive"):
        letterbox_params((0, 10), (384, 640))


@pytest.mark.parametrize("src_hw", [(720, 1280), (360, 500), (500, 200), (384, 640)])
def test_image_lands_at_the_offset_on_a_grey_canvas(src_hw: tuple[int, int]) -> None:
    image = np.full((*src_hw, 3), 200, np.uint8)
    out, params = letterbox_image(image, (384, 640))
    assert out.shape == (384, 640, 3) and out.dtype == np.uint8 and params == letterbox_params(src_hw, (384, 640))
    scale, pad_x, pad_y = params
    inner = out[pad_y : pad_y + round(src_hw[0] * scale), pad_x : pad_x + round(src_hw[1] * scale)]
    assert (inner == 200).all() and (out == 200).sum() == inner.size
    assert (out[out != 200] == PAD_VALUE).all()


def test_points_and_boxes_map_there_and_back() -> None:
    params = letterbox_params((720, 1280), (384, 640))  # scale 0.5, pad_y 12
    pts = np.random.default_rng(0).uniform(0, 720, (30, 2))
    assert np.allclose(unletterbox_points(letterbox_points(pts, params), params), pts)
    boxes = np.array([[10.0, 20.0, 300.0, 200.0], [0.0, 0.0, 1280.0, 720.0]])
    boxed = letterbox_points(boxes.reshape(-1, 2, 2), params).reshape(-1, 4)
    assert np.allclose(boxed[1], [0.0, 12.0, 640.0, 372.0])
    assert np.allclose(unletterbox_boxes(boxed, params), boxes)
