"""The renderer: determinism, labels inside the image, lanes on paint, occlusion and ignore rules."""

from __future__ import annotations

import numpy as np
import pytest

from mtl_edge.data.formats import frame_to_dict
from mtl_edge.data.labels import DRIVABLE_ALTERNATIVE, DRIVABLE_BACKGROUND, DRIVABLE_DIRECT, SIGN_CLASSES
from mtl_edge.data.synth.render import MAX_HIDDEN, MIN_BOX_HEIGHT_720, render
from mtl_edge.data.synth.scene import Sign, sample_scene

from .conftest import clean, empty_road, vehicle


def test_same_seed_same_pixels_and_labels():
    a, b = render(sample_scene(11)), render(sample_scene(11))
    assert np.array_equal(a.image, b.image)
    assert np.array_equal(a.drivable, b.drivable)
    assert frame_to_dict(a.frame) == frame_to_dict(b.frame)
    c = render(sample_scene(12))
    assert not np.array_equal(a.image, c.image)


@pytest.mark.parametrize("size", [(1280, 720), (640, 360)])
def test_every_label_lies_inside_its_image(size):
    w, h = size
    n_objects = n_lanes = 0
    for seed in range(25):
        r = render(sample_scene(seed, w, h))
        assert r.image.shape == (h, w, 3) and r.drivable.shape == (h, w)
        assert set(np.unique(r.drivable)) <= {DRIVABLE_BACKGROUND, DRIVABLE_DIRECT, DRIVABLE_ALTERNATIVE}
        for obj in r.frame.objects:
            b = obj.box
            assert 0 <= b.x1 < b.x2 <= w and 0 <= b.y1 < b.y2 <= h, (seed, obj)
            n_objects += 1
        for lane in r.frame.lanes:
            p = lane.points
            assert p.ndim == 2 and p.shape[1] == 2 and len(p) >= 2
            assert (p[:, 0] >= 0).all() and (p[:, 0] <= w).all() and (p[:, 1] >= 0).all() and (p[:, 1] <= h).all()
            n_lanes += 1
    assert n_objects > 100 and n_lanes > 50  # the check above really ran over many labels


def _sample_along(points: np.ndarray, step: float = 1.0) -> np.ndarray:
    seg = np.diff(points, axis=0)
    out = []
    for p, d in zip(points[:-1], seg):
        n = max(1, int(np.hypot(*d) / step))
        out.append(p + np.outer(np.arange(n) / n, d))
    return np.concatenate(out)


def _paint_fraction(image: np.ndarray, pts: np.ndarray, asphalt: np.ndarray, weights: np.ndarray) -> float:
    """Share of the (weighted) samples whose pixel is clearly not asphalt."""
    xy = np.round(pts).astype(int)
    h, w = image.shape[:2]
    keep = (xy[:, 0] >= 0) & (xy[:, 0] < w) & (xy[:, 1] >= 0) & (xy[:, 1] < h)
    px = image[xy[keep, 1], xy[keep, 0]].astype(int)
    painted = np.abs(px - asphalt).sum(1) > 60
    return float((painted * weights[keep]).sum() / weights[keep].sum())


def test_lane_polylines_lie_on_the_rendered_paint():
    checked = {"solid": 0, "dashed": 0}
    for seed in range(12):
        scene = empty_road(seed)
        r = render(scene)
        asphalt = np.array(scene.palette.asphalt)
        cam = scene.camera
        horizon = cam.principal[1] - cam.focal * np.tan(cam.pitch)
        for lane in r.frame.lanes:
            if lane.lane_type.startswith("double"):  # labelled at the centre gap between two stripes
                continue
            # Ground within 12 m (solid) or 35 m (dashed: several dash periods), where paint is pixels wide.
            reach = 12.0 if lane.style == "solid" else 35.0
            pts = _sample_along(lane.points)
            pts = pts[pts[:, 1] >= horizon + cam.focal * cam.mount_height / reach]
            if len(pts) < 40:
                continue
            # Each 1-px step covers ground length proportional to distance squared.
            per_metre = 1.0 / (pts[:, 1] - horizon) ** 2
            on = _paint_fraction(r.image, pts, asphalt, per_metre)
            # 2.5 line widths (at most 0.2 m wide) to the side, in pixels at each row's ground distance.
            side = 4.0 + 2.5 * 0.2 * (pts[:, 1] - horizon) / cam.mount_height
            beside = _paint_fraction(r.image, pts + np.stack([side, 0 * side], 1), asphalt, per_metre)
            if lane.style == "solid":
                assert on > 0.9, (seed, lane.lane_type, on)
            else:
                assert on > 0.12, (seed, lane.lane_type, on)  # dashes cover about a quarter of the length
            assert beside < 0.1 or beside < on / 4, (seed, lane.lane_type, on, beside)
            checked[lane.style] += 1
    assert checked["solid"] >= 8 and checked["dashed"] >= 5


def _silhouette_px(scene_with, scene_without) -> np.ndarray:
    """Pixels changed by adding an object: its visible silhouette (plus its ground shadow)."""
    a, b = render(scene_with).image.astype(int), render(scene_without).image.astype(int)
    return np.abs(a - b).sum(-1) > 12


def test_hidden_fraction_flags_match_an_independent_pixel_count(road_scene):
    """Occluded/ignore flags agree with hidden fractions measured by differencing clean renders."""
    lane = road_scene.road.lane_centre(
        int(
            np.argmin(
                [abs(road_scene.road.lane_centre(i) - road_scene.ego_offset) for i in range(road_scene.road.n_lanes)]
            )
        )
    )
    seen = set()
    for lateral in (0.0, 1.2, 2.4, 3.0, 3.6, 4.4, 5.5):
        front = vehicle("car", 15.0, lane, 1)
        back = vehicle("car", 40.0, lane + lateral, 2, colour=(30, 40, 200))
        both = clean(road_scene, vehicles=[front, back])
        r = render(both)
        label, nearer = sorted(r.frame.objects, key=lambda o: o.box.height)
        full = _silhouette_px(clean(road_scene, vehicles=[back]), road_scene).sum()
        visible = _silhouette_px(both, clean(road_scene, vehicles=[front])).sum()
        hidden = 1 - visible / full
        if abs(hidden - 0.05) > 0.02:  # the pixel count includes anti-aliased edges: skip borderline cases
            assert label.occluded == (hidden > 0.05), (lateral, hidden, label)
        if abs(hidden - MAX_HIDDEN) > 0.03:
            assert label.ignore == (hidden > MAX_HIDDEN), (lateral, hidden, label)
        seen.add("ignored" if hidden > MAX_HIDDEN else "occluded" if hidden > 0.05 else "clear")
        assert not nearer.occluded and not nearer.ignore
    assert seen == {"ignored", "occluded", "clear"}


def test_occluded_objects_are_boxed_around_what_is_visible(road_scene):
    """Modal boxes: a car partly behind another is boxed around its visible part, not its hidden part."""
    lane = road_scene.ego_offset
    front = vehicle("car", 15.0, lane, 1)
    back = vehicle("car", 40.0, lane + 3.0, 2, colour=(30, 40, 200))
    both = clean(road_scene, vehicles=[front, back])
    label = min(render(both).frame.objects, key=lambda o: o.box.height)
    alone = render(clean(road_scene, vehicles=[back])).frame.objects[0]
    assert label.occluded and not label.ignore
    # Independent check: the pixels the back car changes (its visible part, plus its ground shadow).
    ys, xs = np.nonzero(_silhouette_px(both, clean(road_scene, vehicles=[front])))
    assert xs.min() - 1 <= label.box.x1 and label.box.x2 <= xs.max() + 2
    assert ys.min() - 1 <= label.box.y1 and label.box.y2 <= ys.max() + 2
    assert label.box.width < alone.box.width - 5  # narrower than the full (amodal) box of the same car


def test_small_far_objects_are_ignored_not_dropped(road_scene):
    lane = road_scene.road.lane_centre(0)
    near, far = vehicle("car", 20.0, lane, 1), vehicle("car", 170.0, lane + 3.5 * 0, 2)
    scene = clean(road_scene, vehicles=[far, near])
    r = render(scene)
    cars = sorted(r.frame.objects, key=lambda o: -o.box.height)
    assert len(cars) == 2  # the far one is still labelled
    assert not cars[0].ignore
    assert cars[1].box.height < MIN_BOX_HEIGHT_720 and cars[1].ignore


def test_truncated_flag_for_objects_cut_by_the_image_edge(road_scene):
    right = road_scene.ego_offset + 4.5  # one lane to the right, so near it runs off the image
    scene = clean(road_scene, vehicles=[vehicle("bus", 8.0, right, 1), vehicle("car", 40.0, road_scene.ego_offset, 2)])
    objs = {o.category: o for o in render(scene).frame.objects}
    assert objs["bus"].truncated and objs["bus"].box.x2 == pytest.approx(1280.0)
    assert not objs["car"].truncated


def test_signs_are_labelled_with_their_type(road_scene):
    signs = [
        Sign(cls=c, s=12.0 + 7 * i, offset=road_scene.road.right_edge + 1.5, height=2.3, size=0.8, id=10 + i)
        for i, c in enumerate(SIGN_CLASSES)
    ]
    r = render(clean(road_scene, signs=signs))
    labelled = [o for o in r.frame.objects if o.category == "traffic sign"]
    assert {o.sign_type for o in labelled} <= set(SIGN_CLASSES)
    assert len(labelled) >= 6  # a few may leave the image on a bend
    for o in labelled:  # red, blue or white faces stand out from grass and sky
        b = o.box
        crop = r.image[int(b.y1) : int(b.y2), int(b.x1) : int(b.x2)].astype(int)
        assert crop.size and (crop.max(axis=(0, 1)) - crop.min(axis=(0, 1))).max() > 80


def test_drivable_mask_excludes_vehicles_and_marks_the_ego_lane_direct(road_scene):
    lane = road_scene.ego_offset
    scene = clean(road_scene, vehicles=[vehicle("truck", 15.0, lane, 1)])
    r = render(scene)
    truck = r.frame.objects[0].box
    cx, cy = int((truck.x1 + truck.x2) / 2), int(truck.y1 + 0.3 * truck.height)
    assert r.drivable[cy, cx] == DRIVABLE_BACKGROUND
    assert r.drivable[r.image.shape[0] - 5, r.image.shape[1] // 2] == DRIVABLE_DIRECT
    assert (r.drivable == DRIVABLE_ALTERNATIVE).any() == (scene.road.n_lanes > 1)
