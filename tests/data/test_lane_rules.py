"""Tests for mtl_edge.data.lane_rules: hand-written BDD100K 2020 lane labels to lane-slot targets."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from mtl_edge.data.formats import frame_from_dict
from mtl_edge.data.labels import LaneLabel
from mtl_edge.data.lane_rules import DEFAULT_MARKINGS, LaneRules, apply_lane_rules, clip_to_canvas
from mtl_edge.models.heads.lanes import LanesConfig, build_lane_targets, row_positions

W, H = 1280, 720
ROWS = row_positions(LanesConfig(), H)


def _label(label_id: str, category: str, polys: list[dict], direction: str = "parallel", style: str = "solid") -> dict:
    """One label of a published 2020 ``lane_{train,val}.json`` file."""
    return {
        "id": label_id,
        "category": category,
        "attributes": {"laneDirection": direction, "laneStyle": style, "laneTypes": category},
        "poly2d": polys,
    }


def _poly(vertices: list[list[float]], types: str | None = None) -> dict:
    return {"vertices": vertices, "types": types or "L" * len(vertices), "closed": False}


def _lanes(*labels: dict, rules: LaneRules | None = None) -> list[LaneLabel]:
    frame = frame_from_dict({"name": "b1c81faa-3df17267.jpg", "labels": list(labels)}, source="lane_val.json")
    return apply_lane_rules(frame.lanes, rules or LaneRules())


def _targets(lanes: list[LaneLabel], width: int = W, height: int = H) -> tuple[np.ndarray, np.ndarray]:
    """Slot targets (x [L, R], present [L, R]) of one image, through the lanes head's own builder."""
    count, longest = max(len(lanes), 1), max([len(lane.points) for lane in lanes] + [2])
    pts = torch.zeros(1, count, longest, 2)
    valid = torch.zeros(1, count, longest, dtype=torch.bool)
    for k, lane in enumerate(lanes):
        pts[0, k, : len(lane.points)] = torch.from_numpy(lane.points)
        valid[0, k, : len(lane.points)] = True
    t = build_lane_targets(pts, valid, LanesConfig(), width, height)
    return t["x"][0].numpy(), t["present"][0].numpy()


def _slots(present: np.ndarray) -> list[int]:
    return [int(s) for s in np.flatnonzero(present.any(axis=1))]


# Two paint lines of one double yellow marking, 15 px apart at the bottom, 12 px at the top.
_LEFT_LINE = [[500.0, 719.0], [600.0, 420.0]]
_RIGHT_LINE = [[515.0, 719.0], [612.0, 420.0]]


@pytest.mark.parametrize("one_label", [False, True], ids=["two labels", "one label, two poly2d"])
def test_double_line_gives_one_slot_at_the_centre(one_label: bool) -> None:
    if one_label:
        labels = [_label("3", "double yellow", [_poly(_LEFT_LINE), _poly(_RIGHT_LINE)])]
    else:
        labels = [_label("3", "double yellow", [_poly(_LEFT_LINE)]), _label("4", "double yellow", [_poly(_RIGHT_LINE)])]
    lanes = _lanes(*labels)
    assert len(lanes) == 1 and lanes[0].lane_type == "double yellow"
    x, present = _targets(lanes)
    assert _slots(present) == [3], "one slot: the ego lane's left line"
    rows = ROWS[present[3]]
    centre = (np.interp(rows, [420, 719], [600, 500]) + np.interp(rows, [420, 719], [612, 515])) / 2
    assert len(rows) >= 15 and rows.min() >= 420 and rows.max() <= 719
    np.testing.assert_allclose(x[3, present[3]], centre, atol=1e-3)


def test_unmerged_far_apart_and_partnerless_doubles_stay() -> None:
    labels = [_label("3", "double yellow", [_poly(_LEFT_LINE)]), _label("4", "double yellow", [_poly(_RIGHT_LINE)])]
    assert len(_lanes(*labels, rules=LaneRules(merge_doubles=False))) == 2
    far = _label("4", "double yellow", [_poly([[600.0, 719.0], [700.0, 420.0]])])
    assert len(_lanes(labels[0], far)) == 2, "100 px apart is two markings"
    white = _label("5", "double white", [_poly(_RIGHT_LINE)])
    assert len(_lanes(labels[0], white)) == 2, "only the same double category merges"
    (alone,) = _lanes(labels[0])
    np.testing.assert_allclose(alone.points, _LEFT_LINE)
    x, present = _targets([alone])
    assert _slots(present) == [3]
    np.testing.assert_allclose(x[3, present[3]], np.interp(ROWS[present[3]], [420, 719], [600, 500]), atol=1e-3)


def test_crosswalk_gives_no_slot() -> None:
    crosswalk = _label(
        "2", "crosswalk", [_poly([[200.0, 500.0], [900.0, 505.0]]), _poly([[210.0, 540.0], [880.0, 545.0]])], "vertical"
    )
    stop_line = _label("6", "single white", [_poly([[300.0, 600.0], [700.0, 590.0]])], "vertical")
    every = LaneRules(markings=("single white", "crosswalk", "road curb"))
    for rules in (LaneRules(), every):
        lanes = _lanes(crosswalk, stop_line, rules=rules)
        assert lanes == [], "vertical lanes never become lane lines"
        assert not _targets(lanes)[1].any()


def test_road_curb_only_when_asked() -> None:
    curb = _label("1", "road curb", [_poly([[1100.0, 719.0], [760.0, 430.0]])])
    assert _lanes(curb) == [] and "road curb" not in DEFAULT_MARKINGS
    lanes = _lanes(curb, rules=LaneRules(markings=(*DEFAULT_MARKINGS, "road curb")))
    x, present = _targets(lanes)
    assert _slots(present) == [4], "one slot: the ego lane's right line"


def _cubic(p: list[list[float]], t: np.ndarray) -> np.ndarray:
    """The cubic Bezier with control points p at t, from the Bernstein form written out by hand."""
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = p
    s = 1 - t
    bx = s**3 * x0 + 3 * s**2 * t * x1 + 3 * s * t**2 * x2 + t**3 * x3
    by = s**3 * y0 + 3 * s**2 * t * y1 + 3 * s * t**2 * y2 + t**3 * y3
    return np.stack([bx, by], axis=-1)


def _cubic_x_at_y(p: list[list[float]], y: float) -> float:
    """x of the curve where it crosses row y (its y falls monotonically from p0 to p3): bisection on t."""
    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _cubic(p, np.array(mid))[1] > y else (lo, mid)
    return float(_cubic(p, np.array(lo))[0])


_CURVE = [[300.0, 719.0], [300.0, 560.0], [560.0, 480.0], [640.0, 400.0]]


def test_bezier_lane_targets_lie_on_the_cubic() -> None:
    lanes = _lanes(_label("7", "single white", [_poly(_CURVE, "LCCL")], style="dashed"))
    x, present = _targets(lanes)
    assert _slots(present) == [3]
    rows = ROWS[present[3]]
    assert rows.min() < 410 and rows.max() > 715, "the whole curve is a target"
    expected = np.array([_cubic_x_at_y(_CURVE, y) for y in rows])
    np.testing.assert_allclose(x[3, present[3]], expected, atol=2.0)
    through_controls = np.interp(rows, [400, 480, 560, 719], [640, 560, 300, 300])
    assert np.abs(through_controls - expected).max() > 20, "control points as vertices would be far off"


@pytest.mark.parametrize(
    ("vertices", "types"),
    [([[420.0, 719.0], [520.0, 560.0], [600.0, 430.0]], "LLL"), (_CURVE, "LCCL")],
    ids=["polyline", "bezier"],
)
def test_reversed_vertex_order_gives_identical_targets(vertices: list[list[float]], types: str) -> None:
    forward = _lanes(_label("0", "single yellow", [_poly(vertices, types)]))
    backward = _lanes(_label("0", "single yellow", [_poly(vertices[::-1], types[::-1])]))
    assert forward[0].points[0, 1] == backward[0].points[0, 1] == 719.0, "near to far"
    for a, b in zip(_targets(forward), _targets(backward)):
        np.testing.assert_allclose(a, b, atol=1e-3)


def test_rules_do_not_mutate_their_input() -> None:
    frame = frame_from_dict(
        {
            "name": "a.jpg",
            "labels": [
                _label("3", "double yellow", [_poly(_LEFT_LINE[::-1])]),
                _label("4", "double yellow", [_poly(_RIGHT_LINE)]),
            ],
        }
    )
    before = copy.deepcopy(frame.lanes)
    out = apply_lane_rules(frame.lanes, LaneRules())
    assert len(out) == 1 and len(frame.lanes) == 2
    for lane, old in zip(frame.lanes, before):
        np.testing.assert_array_equal(lane.points, old.points)
        assert (lane.id, lane.lane_type) == (old.id, old.lane_type)
    assert out[0].id == "3+4"


def test_rules_from_a_recipe_mapping() -> None:
    rules = LaneRules.from_dict({"markings": ["single white", "road curb"], "merge_doubles": False})
    assert rules.markings == ("single white", "road curb") and not rules.merge_doubles
    assert LaneRules.from_dict(None) == LaneRules()
    with pytest.raises(ValueError, match=r"unknown keys \['merge_double'\].*'merge_doubles'"):
        LaneRules.from_dict({"merge_double": True})
    with pytest.raises(ValueError, match=r"lanes.markings: unknown lane categories \['curb'\].*'road curb'"):
        LaneRules.from_dict({"markings": ["curb"]})
    with pytest.raises(ValueError, match="lanes.markings: expected a list"):
        LaneRules.from_dict({"markings": "single white"})
    with pytest.raises(ValueError, match="lanes.merge_doubles: expected true or false"):
        LaneRules.from_dict({"merge_doubles": "yes"})
    with pytest.raises(ValueError, match="lanes.double_gap: expected a positive number"):
        LaneRules.from_dict({"double_gap": -5})


# --------------------------------------------------------------------------- clip_to_canvas


def _on_polyline(points: np.ndarray, line: np.ndarray) -> np.ndarray:
    """Distance of each point to the polyline ``line``."""
    a, b = line[:-1], line[1:]
    d = b - a
    t = np.clip(((points[:, None] - a) * d).sum(-1) / (d * d).sum(-1), 0, 1)
    return np.linalg.norm(points[:, None] - (a + t[..., None] * d), axis=-1).min(axis=1)


def test_clip_keeps_a_sparse_lane_whose_far_vertex_left_the_canvas() -> None:
    lane = _lanes(_label("0", "single white", [_poly([[100.0, 359.0], [250.0, 250.0], [400.0, 150.0]])]))[0]
    shifted = lane.points + np.array([300.0, 0.0], dtype=np.float32)  # far vertex now at x = 700 > 640
    clipped = clip_to_canvas(shifted, 640, 360)
    assert clipped is not None and clipped.dtype == np.float32
    np.testing.assert_allclose(clipped[0], [400, 359])
    np.testing.assert_allclose(clipped[-1], [640, 190], atol=0.01, err_msg="cut at the border, not dropped")
    assert (clipped[:, 0] < 640).all() and (clipped[:, 1] < 360).all()
    assert _on_polyline(clipped.astype(np.float64), shifted.astype(np.float64)).max() < 1e-3
    gaps = np.linalg.norm(np.diff(clipped, axis=0), axis=1)
    assert gaps.max() <= 8.0 + 1e-4 and len(clipped) > 3
    x, present = _targets([LaneLabel(points=clipped)], 640, 360)
    rows = row_positions(LanesConfig(), 360)
    assert rows[present.any(axis=0)].min() < 200, "targets reach up to the border"


def test_clip_keeps_the_longest_piece_and_drops_lanes_outside() -> None:
    # inside: (0,300)-(100,300)-(100,360), 160 px long, then (300,360)-(300,100), 260 px long
    zigzag = np.array([[-50.0, 300.0], [100.0, 300.0], [100.0, 400.0], [300.0, 400.0], [300.0, 100.0]])
    clipped = clip_to_canvas(zigzag, 640, 360)
    assert clipped is not None
    np.testing.assert_allclose(clipped[0], [300, 360 - 1e-3], atol=1e-3)
    np.testing.assert_allclose(clipped[-1], [300, 100])
    short = clip_to_canvas(zigzag[:2], 640, 360, step=1000)
    np.testing.assert_allclose(short, [[0, 300], [100, 300]])
    assert clip_to_canvas(np.array([[700.0, 100.0], [800.0, 300.0], [900.0, 50.0]]), 640, 360) is None
    assert clip_to_canvas(np.array([[10.0, 10.0]]), 640, 360) is None
    assert clip_to_canvas(np.array([[10.0, 10.0], [10.0, 10.0]]), 640, 360) is None
    with pytest.raises(ValueError, match="positive"):
        clip_to_canvas(zigzag, 640, 360, step=0)
