"""Lanes head: slot order around the ego car, row targets, decode."""

from __future__ import annotations

import numpy as np
import torch

from mtl_edge.models.heads.lanes import LanesConfig, LanesHead, assign_slots, build_lane_targets, row_positions


def test_slots_are_ordered_outward_from_the_ego_car():
    bottom = np.array([500.0, 100.0, 350.0, 250.0, -400.0, 900.0])
    slots = assign_slots(bottom, centre_x=320.0, slots=4)
    # left of centre: 250 is the ego lane's left line (slot 1), 100 the next (slot 0), -400 dropped
    # right of centre: 350 -> slot 2, 500 -> slot 3, 900 dropped
    assert slots.tolist() == [3, 0, 2, 1, -1, -1]


def test_row_targets_interpolate_the_polyline():
    cfg = LanesConfig(slots=4, rows=5, row_top=0.5)
    lanes = torch.zeros(1, 1, 3, 2)
    lanes[0, 0] = torch.tensor([[200.0, 100.0], [250.0, 150.0], [300.0, 200.0]])  # bottom reaches y=200
    valid = torch.tensor([[[True, True, True]]])
    t = build_lane_targets(lanes, valid, cfg, width=640, height=200)
    rows = row_positions(cfg, 200)  # 100, 124.75, ..., 199
    slot = 1  # bottom x ~299 < 320: the ego lane's left line
    assert t["present"][0, slot].all() and not t["present"][0, [0, 2, 3]].any()
    assert np.allclose(t["x"][0, slot].numpy(), 200 + (rows - 100), atol=1e-3)


def test_decode_gives_cell_centres_and_validity():
    head = LanesHead(LanesConfig(slots=2, rows=3), {"p3": 8})
    loc = torch.full((1, 2, 3, 10), -20.0)
    loc[0, 0, :, 4] = 20.0  # slot 0 sits in cell 4 on every row
    exist = torch.tensor([[[3.0, 3.0, -3.0], [-3.0, -3.0, -3.0]]])
    out = head.decode({"location": loc, "exist": exist})
    assert torch.allclose(out["x"][0, 0], torch.full((3,), 4.5 * 8), atol=1e-3)
    assert out["valid"].dtype == torch.uint8 and out["valid"][0].tolist() == [[1, 1, 0], [0, 0, 0]]
    assert out["score"][0, 0] > 0.9 and out["score"][0, 1] < 0.1
