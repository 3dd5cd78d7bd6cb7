"""Drawing vehicles, signs and roadside props as lit cuboids and textured quads."""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from .camera import NEAR_CLIP, Camera
from .canvas import OCCLUDER, Canvas, to_fixed
from .road import RoadFrame
from .scene import Prop, Sign, Vehicle
from .signs import ASPECT, sprite

#: Corner order (a0b0, a1b0, a1b1, a0b1) of each face; a corner index is xi + 2*yi + 4*zi.
FACES: dict[str, tuple[int, int, int, int]] = {
    "rear": (0, 1, 3, 2),
    "left": (0, 4, 6, 2),
    "right": (1, 5, 7, 3),
    "top": (2, 3, 7, 6),
    "front": (4, 5, 7, 6),
}
SHADE = {"rear": 1.0, "left": 0.78, "right": 0.78, "top": 1.12, "front": 0.9}
GLASS = (34, 40, 52)
TYRE = (24, 24, 26)
TAIL = (150, 18, 22)
TAIL_GLOW = (1.0, 0.16, 0.1)
SIDES = ("left", "right")


@dataclass
class Decal:
    """A flat patch on a face, in face coordinates a (across) and b (up) from 0 to 1."""

    faces: tuple[str, ...]
    a0: float
    a1: float
    b0: float
    b1: float
    colour: tuple[int, int, int]
    emissive: bool = False


@dataclass
class Part:
    """A cuboid in object coordinates: x across (m, 0 = centre), y up from the road, z forward from the rear."""

    x0: float
    x1: float
    y0: float
    y1: float
    z0: float
    z1: float
    colour: tuple[int, int, int]
    decals: list[Decal] = field(default_factory=list)


def _wheels(w: float, length: float, r: float, zs: tuple[float, ...], inset: float = 0.0) -> list[Part]:
    return [
        Part(
            sx * (w / 2 - inset) - (0.28 if sx > 0 else 0),
            sx * (w / 2 - inset) + (0 if sx > 0 else 0.28),
            0.0,
            2 * r,
            z * length - r,
            z * length + r,
            TYRE,
        )
        for sx in (-1, 1)
        for z in zs
    ]


def vehicle_parts(v: Vehicle) -> list[Part]:
    """The cuboids a vehicle of class ``v.cls`` is built from, far parts first."""
    w, h, ln, col = v.width, v.height, v.length, v.colour
    if v.cls == "car":
        tails = [
            Decal(("rear",), 0.03, 0.22, 0.55, 0.85, TAIL, True),
            Decal(("rear",), 0.78, 0.97, 0.55, 0.85, TAIL, True),
            Decal(("rear",), 0.38, 0.62, 0.2, 0.42, (225, 222, 200)),
        ]
        glass = [Decal(("rear",), 0.08, 0.92, 0.1, 0.85, GLASS), Decal(SIDES, 0.08, 0.92, 0.12, 0.85, GLASS)]
        return _wheels(w, ln, 0.32, (0.18, 0.8)) + [
            Part(-w / 2, w / 2, 0.22, 0.6 * h, 0, ln, col, tails),
            Part(-0.42 * w, 0.42 * w, 0.6 * h, h, 0.2 * ln, 0.78 * ln, col, glass),
        ]
    if v.cls == "truck":
        return _wheels(w, ln, 0.5, (0.1, 0.22, 0.88), inset=0.05) + [
            Part(
                -0.46 * w,
                0.46 * w,
                0.45,
                0.9,
                0,
                ln,
                (40, 40, 44),
                [
                    Decal(("rear",), 0.0, 0.14, 0.25, 0.8, TAIL, True),
                    Decal(("rear",), 0.86, 1.0, 0.25, 0.8, TAIL, True),
                ],
            ),
            Part(
                -w / 2, w / 2, 0.6, 0.86 * h, 0.8 * ln, ln, (200, 200, 205), [Decal(SIDES, 0.3, 0.9, 0.5, 0.9, GLASS)]
            ),
            Part(
                -w / 2,
                w / 2,
                0.9,
                h,
                0.0,
                0.77 * ln,
                col,
                [
                    Decal(("rear",), 0.49, 0.51, 0.03, 0.97, (70, 70, 72)),
                    Decal(("rear",), 0.03, 0.97, 0.92, 0.96, (90, 90, 92)),
                ],
            ),
        ]
    if v.cls == "bus":
        return _wheels(w, ln, 0.5, (0.16, 0.8), inset=0.05) + [
            Part(
                -w / 2,
                w / 2,
                0.35,
                h,
                0,
                ln,
                col,
                [
                    Decal(("rear",), 0.1, 0.9, 0.66, 0.92, GLASS),
                    Decal(SIDES, 0.04, 0.96, 0.52, 0.86, GLASS),
                    Decal(("rear",), 0.02, 0.12, 0.08, 0.38, TAIL, True),
                    Decal(("rear",), 0.88, 0.98, 0.08, 0.38, TAIL, True),
                    Decal(("rear",), 0.25, 0.75, 0.12, 0.3, (60, 60, 62)),
                ],
            )
        ]
    if v.cls == "motorcycle":
        jacket = (int(v.colour[2] * 0.6), 40, int(v.colour[0] * 0.5))
        return [
            Part(-0.06, 0.06, 0.0, 0.62, 0.0, 0.32 * ln, TYRE),
            Part(-0.06, 0.06, 0.0, 0.62, 0.7 * ln, ln, TYRE),
            Part(-0.2, 0.2, 0.3, 0.85, 0.15 * ln, 0.8 * ln, col, [Decal(("rear",), 0.3, 0.7, 0.55, 0.8, TAIL, True)]),
            Part(-w / 2 + 0.1, w / 2 - 0.1, 0.8, h - 0.28, 0.3 * ln, 0.55 * ln, jacket),
            Part(-0.14, 0.14, h - 0.3, h, 0.33 * ln, 0.52 * ln, (min(255, col[0] + 60), col[1], col[2])),
        ]
    raise KeyError(f"unknown vehicle class {v.cls!r}")


def _corners(rf: RoadFrame, cam: Camera, s: float, offset: float, p: Part) -> np.ndarray:
    xi, yi, zi = np.meshgrid([p.x0, p.x1], [p.y0, p.y1], [p.z0, p.z1], indexing="ij")
    # corner index xi + 2*yi + 4*zi  <=>  transpose to (z, y, x) order before flattening
    xs, ys, zs = (a.transpose(2, 1, 0).ravel() for a in (xi, yi, zi))
    return rf.ground(s + zs, offset + xs, ys, cam.mount_height)


def _bilinear(quad: np.ndarray, a0: float, a1: float, b0: float, b1: float) -> np.ndarray:
    p00, p10, p11, p01 = quad

    def at(a: float, b: float) -> np.ndarray:
        return (1 - a) * (1 - b) * p00 + a * (1 - b) * p10 + a * b * p11 + (1 - a) * b * p01

    return np.stack([at(a0, b0), at(a1, b0), at(a1, b1), at(a0, b1)])


def draw_cuboids(
    canvas: Canvas, rf: RoadFrame, s: float, offset: float, parts: list[Part], night_lights: float
) -> tuple[np.ndarray, list[np.ndarray]] | None:
    """Draw the visible faces of ``parts``; return all projected corners and the face polygons.

    Returns None (and draws nothing) when any corner is behind the near clip plane.
    """
    cam = canvas.camera
    projected = []
    for p in parts:
        pts3 = _corners(rf, cam, s, offset, p)
        uv, depth = cam.project(pts3)
        if (depth <= NEAR_CLIP * 2).any():
            return None
        projected.append((p, pts3, uv))
    polygons = []
    for p, pts3, uv in projected:
        centre = pts3.mean(0)
        for name, idx in FACES.items():
            face3 = pts3[list(idx)]
            fc = face3.mean(0)
            if np.dot(fc, fc - centre) >= 0:  # facing away from the camera
                continue
            poly = uv[list(idx)]
            shade = SHADE[name]
            canvas.fill(poly, tuple(min(255, int(c * shade)) for c in p.colour))
            polygons.append(poly)
            for d in p.decals:
                if name not in d.faces:
                    continue
                quad, _ = cam.project(_bilinear(face3, d.a0, d.a1, d.b0, d.b1))
                canvas.fill(quad, tuple(min(255, int(c * shade)) for c in d.colour))
                if d.emissive and night_lights > 0:
                    canvas.emissive.append((to_fixed(quad), tuple(night_lights * c for c in TAIL_GLOW)))
    all_uv = np.concatenate([uv for _, _, uv in projected])
    return all_uv, polygons


def draw_vehicle(
    canvas: Canvas, rf: RoadFrame, v: Vehicle, night_lights: float
) -> tuple[np.ndarray, list[np.ndarray]] | None:
    """Draw a vehicle with its contact shadow; return (corners uv, silhouette polygons)."""
    cam = canvas.camera
    foot = rf.ground(
        np.array([v.s - 0.25, v.s - 0.25, v.s + v.length + 0.2, v.s + v.length + 0.2]),
        v.offset + np.array([-1, 1, 1, -1]) * (v.width / 2 + 0.12),
        0.0,
        cam.mount_height,
    )
    uv, depth = cam.project(foot)
    if (depth > NEAR_CLIP * 2).all():
        canvas.fill(uv, (20, 20, 22))
    return draw_cuboids(canvas, rf, v.s, v.offset, vehicle_parts(v), night_lights)


def sign_quad(rf: RoadFrame, cam: Camera, sign: Sign) -> tuple[np.ndarray, float] | None:
    """The projected face corners (TL, TR, BR, BL) and centre depth, or None if behind the camera."""
    centre = rf.ground(np.array([sign.s]), sign.offset, sign.height, cam.mount_height)[0]
    nx = np.interp(sign.s, rf.s, rf.normal[:, 0])
    nz = np.interp(sign.s, rf.s, rf.normal[:, 1])
    cy, sy = np.cos(sign.yaw), np.sin(sign.yaw)
    across = np.array([nx * cy - nz * sy, 0.0, nx * sy + nz * cy])
    half_w, half_h = sign.size / 2, sign.size * ASPECT[sign.cls] / 2
    up = np.array([0.0, -1.0, 0.0])
    pts3 = np.stack(
        [
            centre - across * half_w + up * half_h,
            centre + across * half_w + up * half_h,
            centre + across * half_w - up * half_h,
            centre - across * half_w - up * half_h,
        ]
    )
    uv, depth = cam.project(pts3)
    if (depth <= NEAR_CLIP * 2).any():
        return None
    return uv, float(depth.mean())


def draw_pole(
    canvas: Canvas, rf: RoadFrame, s: float, offset: float, top: float, width: float, colour: tuple[int, int, int]
) -> np.ndarray | None:
    cam = canvas.camera
    pts3 = rf.ground(
        np.full(4, s), offset + np.array([-1, 1, 1, -1]) * width / 2, np.array([0, 0, top, top]), cam.mount_height
    )
    uv, depth = cam.project(pts3)
    if (depth <= NEAR_CLIP * 2).any():
        return None
    canvas.fill(uv, colour)
    canvas.stamp([uv], OCCLUDER, float(depth.mean()))
    return uv


def draw_sign_face(canvas: Canvas, quad: np.ndarray, cls: str) -> np.ndarray | None:
    """Warp the sign sprite onto ``quad``; return its silhouette polygon (the quad) or None off-image."""
    img = canvas.image
    h, w = img.shape[:2]
    x0, y0 = max(int(np.floor(quad[:, 0].min())), 0), max(int(np.floor(quad[:, 1].min())), 0)
    x1, y1 = min(int(np.ceil(quad[:, 0].max())) + 1, w), min(int(np.ceil(quad[:, 1].max())) + 1, h)
    if x1 - x0 < 1 or y1 - y0 < 1:
        return None
    spr = sprite(cls)
    sh, sw = spr.shape[:2]
    src = np.float32([[0, 0], [sw, 0], [sw, sh], [0, sh]])
    m = cv2.getPerspectiveTransform(src, (quad - [x0, y0]).astype(np.float32))
    warped = cv2.warpPerspective(spr, m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    alpha = warped[..., 3:4].astype(np.float32) / 255.0
    roi = img[y0:y1, x0:x1]
    roi[:] = (warped[..., :3] * alpha + roi * (1 - alpha) + 0.5).astype(np.uint8)
    canvas.retro[y0:y1, x0:x1] |= alpha[..., 0] > 0.5
    return quad


def draw_prop(canvas: Canvas, rf: RoadFrame, prop: Prop) -> None:
    """Unlabelled clutter; it occludes labelled objects like anything else."""
    cam = canvas.camera
    if prop.kind == "pole":
        draw_pole(canvas, rf, prop.s, prop.offset, prop.size, 0.12, (120, 120, 124))
    elif prop.kind == "board":
        if draw_pole(canvas, rf, prop.s, prop.offset, 2.0, 0.08, (120, 120, 124)) is not None:
            back = Sign(cls="stop", s=prop.s, offset=prop.offset, height=2.0 + prop.size / 2, size=prop.size)
            got = sign_quad(rf, cam, back)
            if got is not None:
                canvas.fill(got[0], (150, 150, 154))
                canvas.stamp([got[0]], OCCLUDER, got[1])
    elif prop.kind == "tree":
        if draw_pole(canvas, rf, prop.s, prop.offset, prop.size * 0.5, 0.3, (90, 65, 40)) is None:
            return
        centre3 = rf.ground(np.array([prop.s]), prop.offset, prop.size * 0.95, cam.mount_height)
        uv, depth = cam.project(centre3)
        r = cam.focal * prop.size * 0.5 / depth[0]
        ang = np.linspace(0, 2 * np.pi, 24, endpoint=False)
        blob = uv[0] + np.stack([np.cos(ang) * r, np.sin(ang) * r * 1.1], 1)
        green = (40 + prop.colour[0] // 6, 80 + prop.colour[1] // 5, 35 + prop.colour[2] // 8)
        canvas.fill(blob, green)
        canvas.stamp([blob], OCCLUDER, float(depth[0]))
    elif prop.kind == "building":
        side = -1 if prop.offset < 0 else 1
        part = Part(0, side * prop.size * 0.8, 0, prop.size, 0, prop.size * 1.5, prop.colour)
        part.x0, part.x1 = sorted((part.x0, part.x1))
        got = draw_cuboids(canvas, rf, prop.s, prop.offset, [part], 0.0)
        if got is not None:
            canvas.stamp(
                got[1],
                OCCLUDER,
                float(cam.project(rf.ground(np.array([prop.s]), prop.offset, 0.0, cam.mount_height))[1][0]),
            )
    else:
        raise KeyError(f"unknown prop kind {prop.kind!r}")
