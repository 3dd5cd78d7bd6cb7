"""Tests for poly2d ``types``: cubic Bezier runs are evaluated as curves, and bad types strings are named."""

from __future__ import annotations

import numpy as np
import pytest

from mtl_edge.data.formats import LabelFormatError, frame_from_dict
from mtl_edge.data.formats.fields import cubic_steps, trace_path


def _bezier(p0: list[float], p1: list[float], p2: list[float], p3: list[float], t: np.ndarray) -> np.ndarray:
    """B(t) = (1-t)^3 p0 + 3(1-t)^2 t p1 + 3(1-t) t^2 p2 + t^3 p3, written out by hand."""
    t = t[:, None]
    return (
        (1 - t) ** 3 * np.array(p0)
        + 3 * (1 - t) ** 2 * t * np.array(p1)
        + 3 * (1 - t) * t**2 * np.array(p2)
        + t**3 * np.array(p3)
    )


def _distance_to_polyline(points: np.ndarray, line: np.ndarray) -> np.ndarray:
    """Distance from each point to the nearest segment of ``line``."""
    a, b = line[:-1].astype(np.float64), line[1:].astype(np.float64)
    d = b - a
    t = np.clip(((points[:, None] - a) * d).sum(-1) / np.maximum((d * d).sum(-1), 1e-12), 0, 1)
    nearest = a + t[..., None] * d
    return np.linalg.norm(points[:, None] - nearest, axis=-1).min(axis=1)


def _lane_frame(vertices: list[list[float]], types: object = None, **poly: object) -> dict:
    """One 2020 lane-file frame with a single "single white" lane."""
    entry: dict = {"vertices": vertices, "closed": False, **poly}
    if types is not None:
        entry["types"] = types
    return {
        "name": "b1c66a42-6f7d68ca.jpg",
        "labels": [
            {
                "id": "0",
                "category": "single white",
                "attributes": {"laneDirection": "parallel", "laneStyle": "solid", "laneTypes": "single white"},
                "poly2d": [entry],
            }
        ],
    }


_CTRL = [[300.0, 719.0], [360.0, 560.0], [560.0, 480.0], [640.0, 400.0]]


@pytest.mark.parametrize("types", ["LCCL", "LCCC"])
def test_lccl_and_lccc_are_the_same_cubic_within_half_a_pixel(types: str) -> None:
    (lane,) = frame_from_dict(_lane_frame(_CTRL, types)).lanes
    truth = _bezier(*_CTRL, np.linspace(0, 1, 2001))
    assert len(lane.points) > 4, "the curve is sampled, not drawn through its control points"
    np.testing.assert_allclose(lane.points[0], _CTRL[0])
    np.testing.assert_allclose(lane.points[-1], _CTRL[3])
    assert _distance_to_polyline(truth, lane.points).max() <= 0.5
    assert _distance_to_polyline(lane.points.astype(np.float64), truth).max() <= 0.05, "samples lie on the curve"


def test_straight_segments_and_chained_curves() -> None:
    vertices = [[0, 700], [50, 650], [80, 600], [120, 560], [150, 500], [300, 450], [340, 400], [350, 380]]
    (lane,) = frame_from_dict(_lane_frame(vertices, "LLCCLCCL")).lanes
    np.testing.assert_allclose(lane.points[:2], vertices[:2], err_msg="L vertices are kept as they are")
    for start, end in ((1, 4), (4, 7)):
        truth = _bezier(*vertices[start : end + 1], np.linspace(0, 1, 500))
        assert _distance_to_polyline(truth, lane.points).max() <= 0.5
    np.testing.assert_allclose(lane.points[-1], vertices[-1])


def test_absent_or_null_types_mean_all_vertices() -> None:
    vertices = [[0.0, 700.0], [50.0, 650.0], [80.0, 600.0]]
    np.testing.assert_allclose(frame_from_dict(_lane_frame(vertices)).lanes[0].points, vertices)
    null = _lane_frame(vertices)
    null["labels"][0]["poly2d"][0]["types"] = None
    np.testing.assert_allclose(frame_from_dict(null).lanes[0].points, vertices)


def test_closed_polygon_curve_wraps_to_the_first_vertex() -> None:
    vertices = [[100.0, 700.0], [500.0, 700.0], [500.0, 500.0], [100.0, 500.0]]
    frame = {
        "name": "a.jpg",
        "labels": [
            {
                "id": "0",
                "category": "direct",
                "poly2d": [{"vertices": vertices, "types": "LLCC", "closed": True}],
            }
        ],
    }
    ((poly, area),) = frame_from_dict(frame).drivable_polygons
    assert area == "direct"
    np.testing.assert_allclose(poly[:2], vertices[:2])
    truth = _bezier(vertices[1], vertices[2], vertices[3], vertices[0], np.linspace(0, 1, 500))
    assert _distance_to_polyline(truth, np.concatenate([poly[1:], poly[:1]])).max() <= 0.5
    assert not np.allclose(poly[-1], poly[0]), "vertex 0 is not repeated at the end"


def test_sampling_density_follows_the_bend() -> None:
    p = [np.array(v, dtype=np.float64) for v in _CTRL]
    straight = [np.array([0.0, 0]), np.array([1.0, 1]), np.array([2.0, 2]), np.array([3.0, 3])]
    assert cubic_steps(*straight, 0.5) == 1, "a straight cubic needs a single segment"
    assert cubic_steps(*p, 0.5) < cubic_steps(*p, 0.05)
    huge = [v * 1e12 for v in p]
    assert cubic_steps(*huge, 0.5) == 1024, "absurd coordinates are capped"
    line = trace_path(np.array(_CTRL), "LCCL", closed=False)
    assert line.dtype == np.float32


@pytest.mark.parametrize(
    ("types", "problem"),
    [
        ("LCL", "no partner"),
        ("LCC", "no end vertex"),
        ("LCCCC", "5 characters for 4 vertices"),
        ("LLXL", "only"),
        ("lccl", "only"),
        ("CCLL", "first vertex"),
        ("LL", "2 characters for 4 vertices"),
    ],
)
def test_bad_types_name_the_field(types: str, problem: str) -> None:
    vertices = _CTRL if len(types) != 3 else _CTRL[:3]
    with pytest.raises(LabelFormatError) as err:
        frame_from_dict(_lane_frame(vertices, types), source="lane_val.json")
    message = str(err.value)
    assert message.startswith("lane_val.json: frame")
    assert "labels[0].poly2d[0].types" in message and problem in message
    assert '"LCCL"' in message, "the message says how to fix it"


def test_types_must_be_a_string_and_closed_a_boolean() -> None:
    with pytest.raises(LabelFormatError, match=r"labels\[0\]\.poly2d\[0\]\.types: expected a string, got 4"):
        frame_from_dict(_lane_frame(_CTRL, types=4))
    with pytest.raises(LabelFormatError, match=r"labels\[0\]\.poly2d\[0\]\.closed: expected true or false"):
        frame_from_dict(_lane_frame(_CTRL, "LCCL", closed="no"))
