"""Drawing a runtime FrameResult: mask overlays and captioned boxes over a copy of the frame."""

from __future__ import annotations

import numpy as np

from mtl_edge.deploy.draw import DRIVABLE_COLOURS, VEHICLE_COLOURS, draw_result, overlay_mask
from mtl_edge.deploy.results import Detection, FrameResult, HeadResult, Lane
from mtl_edge.deploy.tasks import TASKS


def test_overlay_mask_blends_each_coloured_value_and_leaves_the_rest():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (90, 160, 3), dtype=np.uint8)
    mask = np.zeros((90, 160), np.uint8)
    mask[40:70, 10:100] = 1
    mask[60:85, 90:150] = 2
    mask[45:50, 120:130] = 7  # a value without a colour
    colours = {1: (60, 220, 60), 2: (60, 120, 255)}
    out = overlay_mask(image.copy(), mask, colours, alpha=0.35)
    assert (overlay_mask(image.copy(), mask.astype(np.int64), colours, alpha=0.35) == out).all()  # any int type
    expected = image.astype(float)
    for value, colour in colours.items():
        expected[mask == value] = expected[mask == value] * 0.65 + np.array(colour) * 0.35
    assert np.abs(out.astype(float) - expected).max() <= 1.0  # rounding only
    assert (out[~np.isin(mask, [1, 2])] == image[~np.isin(mask, [1, 2])]).all()


def test_draw_result_draws_every_task_on_a_copy():
    image = np.full((120, 200, 3), 128, np.uint8)
    drivable = np.zeros((120, 200), np.uint8)
    drivable[90:, :] = 1
    result = FrameResult(
        index=3,
        timestamp=0.1,
        heads={
            "lanes": HeadResult(TASKS["lanes"], [Lane(0, 0.9, np.array([[20.0, 110.0], [60.0, 40.0]], np.float32))]),
            "vehicles": HeadResult(TASKS["detection"], [Detection("car", 0.8, (100.0, 40.0, 160.0, 80.0))]),
            "drivable": HeadResult(TASKS["segmentation"], drivable),
        },
    )
    out = draw_result(image, result, hud="12.0 FPS")
    assert (image == 128).all() and out.shape == image.shape  # the frame itself is left alone
    assert (out[41, 101] == VEHICLE_COLOURS["car"]).all() or (out[40, 100] == VEHICLE_COLOURS["car"]).all()
    tint = out[110, 190].astype(int) - 128
    assert (np.sign(tint) == np.sign(np.array(DRIVABLE_COLOURS[1]) - 128)).all()
    assert (out[5, 100] < 128).all() or (out[5, 100] == 255).all()  # the HUD bar is black with white text
