"""Shared by the label-format tests: the fixture folder, sample frames and a frame comparison."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mtl_edge.data.labels import Box2D, FrameLabels, LaneLabel, ObjectLabel

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def sample_frames() -> list[FrameLabels]:
    return [
        FrameLabels(
            name="a/0001.jpg",
            objects=[
                ObjectLabel("car", Box2D(10.123, 20.456, 110.789, 90.0), occluded=True, id="c1"),
                ObjectLabel("traffic sign", Box2D(5, 5, 25, 25), sign_type="yield", ignore=True, id="s1"),
                ObjectLabel("traffic sign", Box2D(30, 5, 50, 25), truncated=True, id="s2"),
            ],
            lanes=[
                LaneLabel(
                    np.array([[100.5, 700.25], [300.333, 400.777]], np.float32), "double white", "dashed", id="l1"
                ),
                LaneLabel(
                    np.array([[0, 600], [50, 500], [90, 420]], np.float32), "road curb", direction="vertical", id="l2"
                ),
            ],
            attributes={"weather": "snowy", "scene": "tunnel", "timeofday": "night"},
            video_name="clip-a",
            frame_index=1,
            drivable_polygons=[(np.array([[0, 719], [640, 300], [1279, 719]], np.float32), "direct")],
        ),
        FrameLabels(name="a/0002.jpg", objects=[ObjectLabel("bus", Box2D(1, 2, 3, 4), id="b")]),
    ]


def assert_frames_equal(got: list[FrameLabels], want: list[FrameLabels]) -> None:
    assert [f.name for f in got] == [f.name for f in want]
    for g, w in zip(got, want, strict=True):
        assert (g.attributes, g.video_name, g.frame_index) == (w.attributes, w.video_name, w.frame_index)
        assert len(g.objects) == len(w.objects) and len(g.lanes) == len(w.lanes)
        for go, wo in zip(g.objects, w.objects, strict=True):
            assert (go.category, go.sign_type, go.occluded, go.truncated, go.ignore, go.id) == (
                wo.category,
                wo.sign_type,
                wo.occluded,
                wo.truncated,
                wo.ignore,
                wo.id,
            )
            for key in ("x1", "y1", "x2", "y2"):
                assert getattr(go.box, key) == pytest.approx(getattr(wo.box, key), abs=0.01)
        for gl, wl in zip(g.lanes, w.lanes, strict=True):
            assert (gl.lane_type, gl.style, gl.direction, gl.id) == (wl.lane_type, wl.style, wl.direction, wl.id)
            assert gl.points.dtype == np.float32
            np.testing.assert_allclose(gl.points, wl.points, atol=0.01)
        assert [a for _, a in g.drivable_polygons] == [a for _, a in w.drivable_polygons]
        for (gp, _), (wp, _) in zip(g.drivable_polygons, w.drivable_polygons, strict=True):
            np.testing.assert_allclose(gp, wp, atol=0.01)
