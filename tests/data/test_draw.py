"""Label drawing puts the right colours where the labels are."""

from __future__ import annotations

import numpy as np

from mtl_edge.data.draw import DRIVABLE_COLOURS, SIGN_COLOUR, VEHICLE_COLOURS, draw_frame
from mtl_edge.data.labels import DRIVABLE_DIRECT, Box2D, FrameLabels, LaneLabel, ObjectLabel


def test_draw_frame_marks_boxes_lanes_and_mask():
    image = np.full((200, 300, 3), 128, np.uint8)
    mask = np.zeros((200, 300), np.uint8)
    mask[150:, :] = DRIVABLE_DIRECT
    frame = FrameLabels(
        name="x.jpg",
        objects=[
            ObjectLabel("car", Box2D(20, 40, 120, 120)),
            ObjectLabel("traffic sign", Box2D(200, 30, 240, 70), sign_type="stop"),
        ],
        lanes=[LaneLabel(np.array([[250, 199], [260, 100]], np.float32))],
    )
    out = draw_frame(image, frame, mask)
    assert (image == 128).all(), "the input is not modified"

    def near(px, colour):  # lines are anti-aliased
        return np.abs(px.astype(int) - colour).max() < 30

    assert near(out[80, 20], VEHICLE_COLOURS["car"])  # left edge of the car box
    assert near(out[50, 240], SIGN_COLOUR)
    assert near(out[80, 70], (128, 128, 128))  # inside the box stays clear
    tint = out[190, 10].astype(int)
    assert (np.sign(tint - 128) == np.sign(np.array(DRIVABLE_COLOURS[DRIVABLE_DIRECT]) - 128)).all()
    assert not (out[150, 254] == out[150, 220]).all()  # the lane polyline passes (254, 150)
