"""Render a Scene into an RGB image, its BDD100K labels and its drivable-area mask."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..labels import DRIVABLE_ALTERNATIVE, DRIVABLE_DIRECT, Box2D, FrameLabels, LaneLabel, ObjectLabel
from .camera import NEAR_CLIP
from .canvas import SHIFT, Canvas, to_fixed
from .geometry import bbox_of, clip_box, clip_polyline
from .objects import draw_pole, draw_prop, draw_sign_face, draw_vehicle, sign_quad
from .road import MarkingLine, RoadFrame
from .scene import Scene

#: Objects whose clipped box is lower than this at 720 rows are marked ignore.
MIN_BOX_HEIGHT_720 = 12.0
#: Objects hidden by more than this fraction are marked ignore.
MAX_HIDDEN = 0.8
#: Hidden fraction from which the BDD100K ``occluded`` flag is set.
OCCLUDED_FROM = 0.05
#: Lanes are labelled up to this distance (m), less in fog and at night.
LANE_LABEL_RANGE = 100.0


@dataclass
class Rendered:
    """One rendered frame: RGB uint8 image [H, W, 3], labels and drivable mask uint8 [H, W]."""

    image: np.ndarray
    frame: FrameLabels
    drivable: np.ndarray


def _near_s(rf: RoadFrame, cam, offsets: list[float]) -> float:
    """The smallest arc at which every given lateral offset lies in front of the camera."""
    ok = np.ones(len(rf.s), bool)
    for o in offsets:
        ok &= cam.project(rf.ground(rf.s, o, 0.0, cam.mount_height))[1] > 2 * NEAR_CLIP
    idx = np.nonzero(ok)[0]
    return float(rf.s[idx[0]]) if len(idx) else float(rf.s[-1])


def _strip(rf: RoadFrame, cam, s0: float, s1: float, o0: float, o1: float) -> np.ndarray | None:
    """Projected polygon of the road band between offsets o0 < o1 over arcs [s0, s1]."""
    s = np.union1d(np.arange(s0, s1, 0.5), [s0, s1])
    if len(s) < 2:
        return None
    left, dl = cam.project(rf.ground(s, o0, 0.0, cam.mount_height))
    right, dr = cam.project(rf.ground(s, o1, 0.0, cam.mount_height))
    keep = (dl > 2 * NEAR_CLIP) & (dr > 2 * NEAR_CLIP)
    if keep.sum() < 2:
        return None
    return np.concatenate([left[keep], right[keep][::-1]])


def _sky_and_ground(canvas: Canvas, scene: Scene, rng: np.random.Generator) -> None:
    cam, pal = canvas.camera, scene.palette
    step = 8
    rays = cam.rays(step)
    elevation = -rays[..., 1] / np.linalg.norm(rays, axis=-1)
    t = np.clip(elevation / 0.35, 0, 1)[..., None] ** 0.7
    sky = (1 - t) * np.array(pal.sky_horizon, np.float32) + t * np.array(pal.sky_top, np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        dist = np.where(rays[..., 1] > 1e-6, cam.mount_height / rays[..., 1] * rays[..., 2], np.inf)
    haze = (1 - np.exp(-np.nan_to_num(dist, posinf=1e6) / 180.0))[..., None]
    texture = cv2.resize(
        rng.normal(1.0, 0.08, (cam.height // 16 + 1, cam.width // 16 + 1)).astype(np.float32),
        (sky.shape[1], sky.shape[0]),
    )[..., None]
    ground = np.array(pal.grass, np.float32) * texture * (1 - haze) + np.array(pal.sky_horizon, np.float32) * haze
    small = np.where(np.isfinite(dist)[..., None], ground, sky).astype(np.float32)
    full = cv2.resize(small, (cam.width, cam.height), interpolation=cv2.INTER_LINEAR)
    canvas.image[:] = np.clip(full, 0, 255).astype(np.uint8)


def _road(canvas: Canvas, scene: Scene, rf: RoadFrame, drivable: np.ndarray) -> None:
    cam, road = canvas.camera, scene.road
    s0, s1 = _near_s(rf, cam, [road.left_edge, road.right_edge]), float(rf.s[-1])
    surface = _strip(rf, cam, s0, s1, road.left_edge, road.right_edge)
    if surface is None:
        return
    canvas.fill(surface, scene.palette.asphalt)
    darker = tuple(int(c * 0.95) for c in scene.palette.asphalt)
    for lane in range(road.n_lanes):  # worn tyre tracks in each lane
        c = road.lane_centre(lane)
        for side in (-0.9, 0.9):
            band = _strip(rf, cam, s0, s1, c + side - 0.3, c + side + 0.3)
            if band is not None:
                canvas.fill(band, darker)
    lanes_band = _strip(rf, cam, s0, s1, road.lines[0].offset, road.lines[-1].offset)
    if lanes_band is not None:
        cv2.fillPoly(drivable, [to_fixed(lanes_band)], DRIVABLE_ALTERNATIVE, cv2.LINE_8, SHIFT)
    ego = next(
        (i for i in range(road.n_lanes) if road.lines[i].offset <= scene.ego_offset <= road.lines[i + 1].offset), None
    )
    if ego is not None:
        band = _strip(rf, cam, s0, s1, road.lines[ego].offset, road.lines[ego + 1].offset)
        if band is not None:
            cv2.fillPoly(drivable, [to_fixed(band)], DRIVABLE_DIRECT, cv2.LINE_8, SHIFT)


def _paint_offsets(line: MarkingLine) -> list[tuple[float, float]]:
    """Lateral (start, end) of each painted stripe of a line; double lines have two."""
    if line.is_double:
        w = line.width * 0.7
        return [(line.offset - 0.09 - w, line.offset - 0.09), (line.offset + 0.09, line.offset + 0.09 + w)]
    return [(line.offset - line.width / 2, line.offset + line.width / 2)]


def _markings(canvas: Canvas, scene: Scene, rf: RoadFrame) -> None:
    cam, pal = canvas.camera, scene.palette
    s0, s1 = _near_s(rf, cam, [ln.offset for ln in scene.road.lines]), float(rf.s[-1])
    for line in scene.road.lines:
        colour = tuple(int(p * pal.paint_wear + a * (1 - pal.paint_wear)) for p, a in zip(line.color, pal.asphalt))
        if line.style == "solid":
            spans = [(s0, s1)]
        else:
            period = line.dash + line.gap
            k0 = np.floor((s0 - line.phase) / period)
            starts = line.phase + period * np.arange(k0, np.ceil((s1 - line.phase) / period) + 1)
            spans = [(max(a, s0), min(a + line.dash, s1)) for a in starts if a + line.dash > s0 and a < s1]
        for a, b in spans:
            for o0, o1 in _paint_offsets(line):
                poly = _strip(rf, cam, a, b, o0, o1)
                if poly is not None:
                    canvas.fill(poly, colour)


def _lane_labels(scene: Scene, rf: RoadFrame) -> list[LaneLabel]:
    cam, cond = scene.camera, scene.conditions
    far = LANE_LABEL_RANGE
    if cond.fog_visibility:
        far = min(far, 1.6 * cond.fog_visibility)
    if cond.time == "night":
        far = min(far, 70.0)
    labels = []
    for i, line in enumerate(scene.road.lines):
        s = scene.ego_s + 1.0 + (far - 1.0) * np.linspace(0, 1, 64) ** 1.6
        s = s[s <= rf.s[-1]]
        uv, depth = cam.project(rf.ground(s, line.offset, 0.0, cam.mount_height))
        uv = uv[depth > 2 * NEAR_CLIP]
        if len(uv) < 2:
            continue
        clipped = clip_polyline(uv, cam.width, cam.height)
        if clipped is None or np.linalg.norm(np.diff(clipped, axis=0), axis=1).sum() < 10:
            continue
        labels.append(LaneLabel(points=clipped, lane_type=line.lane_type, style=line.style, id=f"lane{i}"))
    return labels


def _post(canvas: Canvas, scene: Scene, rng: np.random.Generator) -> np.ndarray:
    """Lighting, lights, fog, rain, blur and sensor noise; returns the final uint8 image."""
    cam, cond = canvas.camera, scene.conditions
    img = canvas.image.astype(np.float32)  # 0..255 scale throughout
    depth = canvas.depth
    sky = ~np.isfinite(depth)
    finite_depth = np.where(sky, np.float32(1e4), depth)
    ambient, head_gain, tint = {
        "day": (1.0, 0.0, (1.0, 1.0, 1.0)),
        "dusk": (0.6, 0.35, (1.0, 0.9, 0.82)),
        "night": (0.13, 1.3, (0.9, 0.95, 1.08)),
    }[cond.time]
    gain: np.ndarray | None = None  # per-pixel light; None means uniform
    if head_gain > 0:
        u = np.arange(cam.width, dtype=np.float32) - cam.width / 2
        spread = np.exp(-((np.arctan2(u, cam.focal) / 0.4) ** 2))[None, :]
        head = head_gain * np.exp(-finite_depth / 28.0) * spread
        gain = np.where(sky, 1.0, (ambient + head * (1 + 2.0 * canvas.retro)) * cond.exposure).astype(np.float32)
    trans = None
    if cond.fog_visibility:
        trans = np.exp(-finite_depth / cond.fog_visibility).astype(np.float32)
        gain = trans * (cond.exposure if gain is None else gain)
    if gain is None:
        img *= np.array(tint, np.float32) * cond.exposure
    else:
        img *= gain[..., None]
        img *= np.array(tint, np.float32)
    if trans is not None:
        fog = np.array((0.78, 0.8, 0.82), np.float32) * 255 * {"day": 1.0, "dusk": 0.62, "night": 0.1}[cond.time]
        img += (1 - trans)[..., None] * fog
    if canvas.emissive:
        glow = np.zeros_like(img)
        for poly, rgb in canvas.emissive:
            cv2.fillPoly(glow, [poly], tuple(255 * c for c in rgb), cv2.LINE_AA, SHIFT)
        if trans is not None:
            glow *= trans[..., None]
        img += glow + _halo(glow, 3.0 * cam.width / 1280)
    if cond.rain > 0:
        img = _rain(img, cond.rain, rng, ambient)
    img += _noise_field(img.shape, rng) * cond.noise_sigma
    np.clip(img, 0, 255, out=img)
    img += 0.5
    out = img.astype(np.uint8)
    if cond.blur_sigma > 0:
        out = cv2.GaussianBlur(out, (0, 0), cond.blur_sigma * cam.width / 1280)
    return out


_NOISE_CACHE: dict[tuple[int, ...], np.ndarray] = {}


def _noise_field(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Unit Gaussian sensor noise: a seeded-offset window into a fixed field cached per process.

    Drawing 2.7M normals per frame costs more than the rest of the post pass; the fixed
    field (the same in every process) keeps frames deterministic by seed.
    """
    h, w, c = shape
    field = _NOISE_CACHE.get(shape)
    if field is None:
        field = np.random.default_rng(12345).standard_normal((h + 97, w + 131, c), dtype=np.float32)
        _NOISE_CACHE[shape] = field
    dy, dx = int(rng.integers(97)), int(rng.integers(131))
    return field[dy : dy + h, dx : dx + w]


def _halo(glow: np.ndarray, sigma: float) -> np.ndarray:
    """Bloom around lights, computed at quarter resolution (it is smooth anyway)."""
    h, w = glow.shape[:2]
    small = cv2.resize(glow, (w // 4, h // 4), interpolation=cv2.INTER_AREA)
    bloom = 1.2 * cv2.GaussianBlur(small, (0, 0), sigma / 4) + 0.6 * cv2.GaussianBlur(small, (0, 0), sigma)
    return cv2.resize(bloom, (w, h), interpolation=cv2.INTER_LINEAR)


def _rain(img: np.ndarray, amount: float, rng: np.random.Generator, ambient: float) -> np.ndarray:
    h, w = img.shape[:2]
    n = int(amount * 700 * w / 1280)
    slant = rng.uniform(-0.35, 0.35)
    streaks = np.zeros((h, w), np.uint8)
    x, y = rng.uniform(0, w, n), rng.uniform(0, h, n)
    length = rng.uniform(12, 40, n) * h / 720
    for xi, yi, li in zip(x, y, length):
        p0 = (int(xi), int(yi))
        p1 = (int(xi + np.sin(slant) * li), int(yi + np.cos(slant) * li))
        cv2.line(streaks, p0, p1, 255, 1, cv2.LINE_AA)
    a = (streaks.astype(np.float32) / 255.0 * 0.35)[..., None]
    img = img * 0.9 + img.mean() * 0.1  # rain washes out contrast
    return img * (1 - a) + 255 * (0.55 + 0.35 * ambient) * a


def render(scene: Scene, name: str = "frame.jpg") -> Rendered:
    """Render ``scene``; pixels and labels depend only on the scene (and so on its seed)."""
    cam = scene.camera
    rng = np.random.default_rng(scene.render_seed)
    canvas = Canvas(cam)
    rf = scene.road.frame(scene.ego_s, scene.ego_offset, scene.ego_yaw)
    drivable = np.zeros((cam.height, cam.width), np.uint8)
    _sky_and_ground(canvas, scene, rng)
    _road(canvas, scene, rf, drivable)
    _markings(canvas, scene, rf)
    lights = {"day": 0.0, "dusk": 0.8, "night": 1.6}[scene.conditions.time]

    # Painter's order over every object, far to near; labelled ones get ids 1..N.
    items: list[tuple[float, str, object]] = []
    for v in scene.vehicles:
        items.append(
            (float(cam.project(rf.ground(np.array([v.s]), v.offset, 0.0, cam.mount_height))[1][0]), "vehicle", v)
        )
    for sgn in scene.signs:
        items.append(
            (float(cam.project(rf.ground(np.array([sgn.s]), sgn.offset, 0.0, cam.mount_height))[1][0]), "sign", sgn)
        )
    for p in scene.props:
        items.append((float(cam.project(rf.ground(np.array([p.s]), p.offset, 0.0, cam.mount_height))[1][0]), "prop", p))
    items.sort(key=lambda t: -t[0])

    drawn: list[tuple[str, str | None, np.ndarray, int, tuple, np.ndarray]] = []
    for depth, kind, obj in items:
        if depth <= 2 * NEAR_CLIP:
            continue
        if kind == "prop":
            draw_prop(canvas, rf, obj)  # type: ignore[arg-type]
            continue
        if kind == "vehicle":
            got = draw_vehicle(canvas, rf, obj, lights)  # type: ignore[arg-type]
            if got is None:
                continue
            corners, polygons = got
            category, sign_type = obj.cls, None  # type: ignore[union-attr]
        else:
            sq = sign_quad(rf, cam, obj)  # type: ignore[arg-type]
            if sq is None:
                continue
            draw_pole(canvas, rf, obj.s, obj.offset, obj.height - obj.size * 0.45, 0.08, (125, 125, 130))  # type: ignore[union-attr]
            if draw_sign_face(canvas, sq[0], obj.cls) is None:  # type: ignore[union-attr]
                continue
            corners, polygons = sq[0], [sq[0]]
            category, sign_type = "traffic sign", obj.cls  # type: ignore[union-attr]
        object_id = len(drawn) + 1
        stamped = canvas.stamp(polygons, object_id, depth)
        if stamped is None:
            continue
        region, full = stamped
        drawn.append((category, sign_type, bbox_of(corners), object_id, region, full))

    vehicles_px = (canvas.ids > 0) & (canvas.ids < np.iinfo(np.uint16).max)
    drivable[vehicles_px] = 0
    objects = _object_labels(canvas, drawn)
    image = _post(canvas, scene, rng)
    frame = FrameLabels(
        name=name, objects=objects, lanes=_lane_labels(scene, rf), attributes=scene.conditions.attributes()
    )
    return Rendered(image=image, frame=frame, drivable=drivable)


def _object_labels(canvas: Canvas, drawn: list) -> list[ObjectLabel]:
    cam = canvas.camera
    min_h = MIN_BOX_HEIGHT_720 * cam.height / 720.0
    labels = []
    for category, sign_type, box, object_id, (x0, y0, x1, y1), full in drawn:
        clipped = clip_box(box, cam.width, cam.height)
        if clipped[2] - clipped[0] < 1 or clipped[3] - clipped[1] < 1:
            continue
        visible = (canvas.ids[y0:y1, x0:x1] == object_id) & full
        full_px, visible_px = int(full.sum()), int(visible.sum())
        hidden = 1.0 - visible_px / full_px if full_px else 1.0
        truncated = bool(np.abs(clipped - box).max() > 0.5)
        modal = _visible_box(clipped, visible, x0, y0) if visible_px else clipped
        ignore = bool(modal[3] - modal[1] < min_h or hidden > MAX_HIDDEN)
        labels.append(
            ObjectLabel(
                category=category,
                box=Box2D(*map(float, modal)),
                sign_type=sign_type,
                occluded=hidden >= OCCLUDED_FROM,
                truncated=truncated,
                ignore=ignore,
                id=str(object_id),
            )
        )
    return labels


def _visible_box(clipped: np.ndarray, visible: np.ndarray, x0: int, y0: int) -> np.ndarray:
    """The box of what can be seen: the clipped full box cut down to the visible pixels' extent.

    Labels are modal, as in BDD100K: a car half behind a truck is boxed around its visible
    half. Unoccluded sides keep the sub-pixel extent of the projected geometry.
    """
    ys, xs = np.nonzero(visible)
    extent = np.array([x0 + xs.min(), y0 + ys.min(), x0 + xs.max() + 1, y0 + ys.max() + 1], np.float64)
    box = np.where(np.abs(extent - clipped) <= 1.0, clipped, extent)  # a side within a pixel is unoccluded
    return box if box[2] > box[0] and box[3] > box[1] else extent  # sliver objects: the pixels decide
